"""[MS-NRTP] 2.2.3.3 TCP message frames of one direction: head, header list, content (sized or chunked).

A frame is ProtocolId ``.NET``, version 1.0, OperationType, ContentDistribution, a ContentLength when
sized (2.2.3.3.1), the headers up to EndHeaders (2.2.3.3.3), then the content: ``length`` bytes, or
chunks of Int32 size + data + ChunkDelimiter ``\\r\\n`` ending with a zero size and its delimiter
(2.2.3.3.2). The head and headers are parsed whole or not at all (they are small and capped); content
is collected in pieces and joined once. ``FrameReader.step`` says what the next step needs.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import ClassVar

from ._buffer import Buffer
from .anomalies import DecodeError

PREAMBLE = b".NET\x01\x00"
DELIMITER = b"\r\n"
MAX_HEAD = 64 << 10  # bytes of frame head and headers; past it without EndHeaders the frame is bad
_HEAD = struct.Struct("<HH")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")


class Operation(IntEnum):
    """2.2.3.3 OperationType."""

    REQUEST = 0
    ONE_WAY = 1
    REPLY = 2


class Distribution(IntEnum):
    """2.2.3.3 ContentDistribution."""

    SIZED = 0
    CHUNKED = 1


class HeaderToken(IntEnum):
    """2.2.3.3.3 HeaderToken; each but Custom is followed by a HeaderDataType byte and its value."""

    END_HEADERS = 0
    CUSTOM = 1
    STATUS_CODE = 2
    STATUS_PHRASE = 3
    REQUEST_URI = 4
    CLOSE_CONNECTION = 5
    CONTENT_TYPE = 6


_HEADER_NAMES = {
    HeaderToken.STATUS_CODE: "status",
    HeaderToken.STATUS_PHRASE: "status_phrase",
    HeaderToken.REQUEST_URI: "uri",
    HeaderToken.CLOSE_CONNECTION: "close_connection",
    HeaderToken.CONTENT_TYPE: "content_type",
}
_DATA_SIZES = {0: 0, 3: 2}  # 2.2.3.2.2 HeaderDataType sizes: Void, Uint16 (1: CountedString)
# 2.2.3.3.3.2-6: the one data type each known header has (CountedString 1, Uint16 3, Void 0)
_HEADER_TYPES = {
    HeaderToken.STATUS_CODE: 3,
    HeaderToken.STATUS_PHRASE: 1,
    HeaderToken.REQUEST_URI: 1,
    HeaderToken.CLOSE_CONNECTION: 0,
    HeaderToken.CONTENT_TYPE: 1,
}


class Step(Enum):
    """What the reader waits for; each state's reader is in ``FrameReader._steps``."""

    HEAD = "head"  # a frame head and its headers
    CONTENT = "content"  # ``pending`` bytes of sized content or of a chunk
    CHUNK_SIZE = "chunk_size"  # a chunk's Int32 size
    DELIMITER = "delimiter"  # the CR LF after a chunk's data
    LAST_DELIMITER = "last_delimiter"  # the CR LF after the zero size: the frame is done


@dataclass(slots=True)
class Frame:
    """A frame being read, then complete: its head fields, headers and content pieces."""

    offset: int
    operation: Operation
    distribution: Distribution
    headers: dict[str, object] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    pieces: list[bytes] = field(default_factory=list)
    size: int = 0  # content bytes
    wire: int = 0  # frame bytes consumed so far


def _counted_string(data: bytearray, pos: int) -> tuple[str, int] | None:
    """2.2.3.2.1 CountedString: StringEncoding (0 UTF-16LE, 1 UTF-8), Int32 length, bytes."""
    if pos + 5 > len(data):
        return None
    encoding = data[pos]
    (length,) = _I32.unpack_from(data, pos + 1)
    if encoding not in (0, 1) or length < 0 or length > MAX_HEAD:
        raise DecodeError("nrtp_bad_header", f"CountedString encoding {encoding}, length {length}", pos)
    end = pos + 5 + length
    if end > len(data):
        return None
    try:
        return bytes(data[pos + 5 : end]).decode("utf-8" if encoding else "utf-16-le"), end
    except UnicodeDecodeError:
        raise DecodeError("nrtp_bad_header", "CountedString does not decode", pos) from None


def parse_head(data: bytearray, pos: int, base: int) -> tuple[Frame, int, int] | None:
    """(frame, content length or -1 if chunked, position after EndHeaders), or None if incomplete.

    ``base`` is the stream offset of ``data[0]``, for anomaly offsets.
    """
    if len(data) - pos < 10:
        if not PREAMBLE.startswith(bytes(data[pos : pos + 6])):
            raise DecodeError("nrtp_bad_preamble", "no .NET 1.0 frame here", base + pos)
        return None
    if data[pos : pos + 6] != PREAMBLE:
        raise DecodeError("nrtp_bad_preamble", f"frame starts {bytes(data[pos : pos + 6])!r}", base + pos)
    start = pos
    operation, distribution = _HEAD.unpack_from(data, pos + 6)
    if operation > Operation.REPLY or distribution > Distribution.CHUNKED:
        raise DecodeError("nrtp_bad_frame", f"operation {operation}, distribution {distribution}", base + pos)
    frame = Frame(base + start, Operation(operation), Distribution(distribution))
    pos += 10
    length = -1
    if distribution == Distribution.SIZED:
        if pos + 4 > len(data):
            return None
        (length,) = _I32.unpack_from(data, pos)
        if length < 0:
            raise DecodeError("nrtp_bad_frame", f"content length {length}", base + pos)
        pos += 4
    while True:
        if pos - start > MAX_HEAD:
            raise DecodeError("nrtp_bad_header", f"headers longer than {MAX_HEAD} bytes", base + start)
        if pos + 2 > len(data):
            return None
        (token,) = _U16.unpack_from(data, pos)
        pos += 2
        if token == HeaderToken.END_HEADERS:
            return frame, length, pos
        if token == HeaderToken.CUSTOM:
            name = _counted_string(data, pos)
            value = None if name is None else _counted_string(data, name[1])
            if name is None or value is None:
                return None
            frame.custom[name[0]] = value[0]
            pos = value[1]
            continue
        if token > HeaderToken.CONTENT_TYPE:
            raise DecodeError("nrtp_bad_header", f"header token {token}", base + pos - 2)
        if pos >= len(data):
            return None
        data_type = data[pos]
        if data_type != _HEADER_TYPES[HeaderToken(token)]:
            raise DecodeError("nrtp_bad_header", f"{HeaderToken(token).name} with data type {data_type}", base + pos)
        pos += 1
        if data_type == 1:
            text = _counted_string(data, pos)
            if text is None:
                return None
            value_out: object = text[0]
            pos = text[1]
        else:
            size = _DATA_SIZES[data_type]
            if pos + size > len(data):
                return None
            value_out = int.from_bytes(data[pos : pos + size], "little") if size else True
            pos += size
        frame.headers[_HEADER_NAMES[HeaderToken(token)]] = value_out


class FrameReader:
    """The frames of one direction, read from its ``Buffer``; ``read`` returns each completed frame."""

    def __init__(self, buf: Buffer, max_content: int) -> None:
        self.buf = buf
        self.max_content = max_content
        self.step = Step.HEAD
        self.frame: Frame | None = None
        self.pending = 0  # content bytes still to come in this step
        self.keep = True  # False once the content is over max_content: counted, not kept

    def read(self) -> Frame | None:
        """Advance over buffered bytes; a frame when one completes, else None (needs more bytes)."""
        while True:
            done = self._steps[self.step](self)
            if done is None:
                return None
            if done:
                frame, self.frame = self.frame, None
                self.step = Step.HEAD
                return frame

    def _head(self) -> bool | None:
        buf = self.buf
        parsed = parse_head(buf.data, buf.pos, buf.offset - buf.pos)
        if parsed is None:
            if len(buf) > MAX_HEAD:
                raise DecodeError("nrtp_bad_header", f"no EndHeaders in {MAX_HEAD} bytes", buf.offset)
            return None
        self.frame, length, end = parsed
        self.keep = True
        self.frame.wire = end - buf.pos
        buf.advance(end - buf.pos)
        buf.commit()
        if length >= 0:
            return self._content(length)
        self.step = Step.CHUNK_SIZE
        return False

    def _content(self, length: int) -> bool:
        assert self.frame is not None
        if self.frame.size + length > self.max_content:
            self.keep = False
        self.frame.size += length
        self.pending = length
        self.step = Step.CONTENT
        return False

    def _collect(self) -> bool | None:
        frame, buf = self.frame, self.buf
        assert frame is not None
        piece = buf.take(min(self.pending, len(buf)))
        if piece is None or (not piece and self.pending):
            return None
        buf.commit()
        if self.keep:
            frame.pieces.append(piece)
        frame.wire += len(piece)
        self.pending -= len(piece)
        if self.pending:
            return None
        if frame.distribution == Distribution.SIZED:
            return True
        self.step = Step.DELIMITER
        return False

    def _chunk_size(self) -> bool | None:
        raw = self.buf.take(4)
        if raw is None:
            return None
        (size,) = _I32.unpack(raw)
        if size < 0:
            raise DecodeError("nrtp_bad_chunk", f"chunk size {size}", self.buf.offset - 4)
        self.buf.commit()
        assert self.frame is not None
        self.frame.wire += 4
        if size == 0:
            self.step = Step.LAST_DELIMITER
            return False
        return self._content(size)

    def _delimiter(self) -> bool | None:
        raw = self.buf.take(2)
        if raw is None:
            return None
        if raw != DELIMITER:
            raise DecodeError("nrtp_bad_chunk", f"chunk delimiter {raw.hex()}", self.buf.offset - 2)
        self.buf.commit()
        assert self.frame is not None
        self.frame.wire += 2
        if self.step is Step.LAST_DELIMITER:
            return True
        self.step = Step.CHUNK_SIZE
        return False

    _steps: ClassVar[dict[Step, Callable[["FrameReader"], bool | None]]] = {
        Step.HEAD: _head,
        Step.CONTENT: _collect,
        Step.CHUNK_SIZE: _chunk_size,
        Step.DELIMITER: _delimiter,
        Step.LAST_DELIMITER: _delimiter,
    }
