"""A receive buffer for record-oriented stream decoders (after wsproto's ``Buffer``).

Reads move a cursor; a record is parsed whole or not at all: ``take`` returns None when too few bytes
are buffered, the caller then ``rollback``s to the last ``commit``. ``compact`` drops consumed bytes
once per ``feed`` instead of slicing per record. ``offset`` is the absolute stream offset of the
cursor, used in anomaly events.
"""

from .anomalies import DecodeError


class Buffer:
    __slots__ = ("_base", "_data", "_mark", "_pos")

    def __init__(self) -> None:
        self._data = bytearray()
        self._pos = 0  # read cursor into _data
        self._mark = 0  # position of the last commit
        self._base = 0  # stream offset of _data[0]

    def __len__(self) -> int:
        """Bytes after the cursor."""
        return len(self._data) - self._pos

    @property
    def offset(self) -> int:
        """Stream offset of the cursor."""
        return self._base + self._pos

    @property
    def data(self) -> bytearray:
        """The raw buffer, for ``unpack_from(buf.data, buf.pos)`` in hot loops."""
        return self._data

    @property
    def pos(self) -> int:
        return self._pos

    def append(self, data: bytes) -> None:
        self._data += data

    def skip_stream(self, length: int) -> None:
        """Account for ``length`` stream bytes that pass the buffer by (lost in a gap, skipped, or taken
        straight from a chunk): drop what is buffered; the offset moves past them."""
        self._base += len(self._data) + length
        self._data.clear()
        self._pos = self._mark = 0

    def take(self, n: int) -> bytes | None:
        """The next ``n`` bytes, or None (cursor unmoved) if fewer are buffered."""
        end = self._pos + n
        if end > len(self._data):
            return None
        out = bytes(self._data[self._pos : end])
        self._pos = end
        return out

    def advance(self, n: int) -> None:
        self._pos += n

    def byte(self) -> int | None:
        """The next byte, or None if the buffer is empty."""
        if self._pos >= len(self._data):
            return None
        b = self._data[self._pos]
        self._pos += 1
        return b

    def mb31(self) -> int | None:
        """A [MC-NMF] 2.2.2 / [MC-NBFX] 2.1.2 multi-byte int31, or None if not all of it is buffered."""
        value, pos = read_mb31(self._data, self._pos, len(self._data))
        if pos < 0:
            return None
        self._pos = pos
        return value

    def commit(self) -> None:
        self._mark = self._pos

    def rollback(self) -> None:
        self._pos = self._mark

    def compact(self) -> None:
        """Drop committed bytes; call once per ``feed``."""
        if self._mark:
            del self._data[: self._mark]
            self._base += self._mark
            self._pos -= self._mark
            self._mark = 0


def read_mb31(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode a MB31 at ``pos``: (value, next position), or (0, -1) if it runs past ``end``.

    At most five bytes; the fifth may use only its low three bits ([MC-NBFX] 2.1.2). Raises
    DecodeError("mb31_invalid") otherwise.
    """
    value = 0
    shift = 0
    for i in range(5):
        if pos + i >= end:
            return 0, -1
        b = data[pos + i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if i == 4 and b > 0x07:
                raise DecodeError("mb31_invalid", f"fifth byte 0x{b:02x} exceeds 31 bits", pos)
            return value, pos + i + 1
        shift += 7
    raise DecodeError("mb31_invalid", "more than five bytes", pos)
