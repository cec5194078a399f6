"""The two string dictionaries of [MC-NBFX] DictionaryString references (2.1.4).

* [MC-NBFS]: the static dictionary, even wire ids (``STATIC_DICTIONARY[id // 2]``), from package data.
* [MC-NBFSE] 2: odd wire ids are session strings, defined by the string table that opens each
  ``application/soap+msbinsession1`` envelope; ``SessionStrings`` keeps them per connection and
  direction.
"""

from __future__ import annotations

from importlib import resources

from ._buffer import read_mb31
from .anomalies import DecodeError

MAX_SESSION_STRINGS = 1 << 16  # per direction; WCF's own MaxSessionSize defaults to 2048
MAX_SESSION_BYTES = 4 << 20  # string bytes per direction (the session_dictionary_size limit)


def _load_static_dictionary() -> tuple[str, ...]:
    """The [MC-NBFS] table from package data: ``<wire id>\\t<hex id>\\t<string>`` lines, ids 0, 2, 4…"""
    text = resources.files(__package__).joinpath("nbfs_dictionary.txt").read_text(encoding="utf-8")
    entries: list[str] = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        wire_id, _hex_id, string = line.split("\t", 2)
        if int(wire_id) != 2 * len(entries):
            raise RuntimeError(f"nbfs_dictionary.txt: id {wire_id} out of sequence")
        entries.append(string)
    return tuple(entries)


STATIC_DICTIONARY: tuple[str, ...] = _load_static_dictionary()
"""[MC-NBFS]: index i is wire id 2*i (487 entries; id 162 is "", id 424 starts with a space)."""


class SessionStrings:
    """The in-band dictionary of one connection direction ([MC-NBFSE] 2: StringTable).

    Each ``application/soap+msbinsession1`` envelope starts with a table of the strings first used in
    it; they get ids 1, 3, 5, … in order of arrival and keep them for the life of the session. So the
    id of a string depends on *every* table before it: miss one (capture started mid-session, a TCP
    gap, a malformed table) and the numbering of all later strings is unknown.

    Design: strings whose ids are known live in ``_known`` (index i <-> wire id 2*i + 1); once the
    count is lost (``known_start=False``, ``lost()``, or a bad table), later strings go to
    ``_unanchored`` — kept, in order, but never used for lookup, so ids that refer to them render as
    ``session:N`` and are counted in ``Document.unresolved``. Strings known before the loss keep
    resolving: their ids never change. No guessing re-anchors the numbering: a wrong string is worse
    than a placeholder.
    """

    __slots__ = ("_known", "_unanchored", "anchored", "size")

    def __init__(self, known_start: bool = True) -> None:
        self._known: list[str] = []
        self._unanchored: list[str] = []
        self.anchored = known_start  # False: the count of strings before the next table is unknown
        self.size = 0  # bytes of every string kept

    def __len__(self) -> int:
        """Strings with known ids (1, 3, … 2*len-1)."""
        return len(self._known)

    @property
    def unanchored(self) -> tuple[str, ...]:
        """Strings read after the numbering was lost, in order of arrival (for diagnostics)."""
        return tuple(self._unanchored)

    def lost(self) -> None:
        """The caller missed envelope bytes of this direction: later tables cannot be numbered."""
        self.anchored = False

    def read_table(self, payload: bytes | memoryview, pos: int = 0, max_bytes: int = MAX_SESSION_BYTES) -> int:
        """Read the MB31-size-prefixed string table at ``pos``, keep its strings, return the position
        of the NBFX document after it. All or nothing: a bad table adds no string and un-anchors.
        Past ``max_bytes`` of strings kept: nbfx_session_too_large, and no string of the table is kept."""
        data = bytes(payload) if not isinstance(payload, bytes) else payload
        end = len(data)
        try:
            size, pos = read_mb31(data, pos, end)
            if pos < 0:
                raise DecodeError("nbfx_bad_session_table", "envelope ends inside the table size")
            table_end = pos + size
            if table_end > end:
                raise DecodeError("nbfx_bad_session_table", f"table of {size} bytes exceeds the envelope", pos)
            strings: list[str] = []
            while pos < table_end:
                length, pos = read_mb31(data, pos, table_end)
                if pos < 0 or pos + length > table_end:
                    raise DecodeError("nbfx_bad_session_table", "string runs past the end of the table", pos)
                try:
                    strings.append(data[pos : pos + length].decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise DecodeError("nbfx_bad_text", f"session string is not UTF-8: {exc.reason}", pos) from None
                pos += length
            kept = len(self._known) + len(self._unanchored) + len(strings)
            if kept > MAX_SESSION_STRINGS:
                raise DecodeError("nbfx_bad_session_table", f"more than {MAX_SESSION_STRINGS} session strings", pos)
            if self.size + size > max_bytes:
                detail = f"{self.size} + {size} bytes of strings (limit session_dictionary_size {max_bytes})"
                raise DecodeError("nbfx_session_too_large", detail, pos)
        except DecodeError:
            self.anchored = False
            raise
        (self._known if self.anchored else self._unanchored).extend(strings)
        self.size += size
        return table_end
