"""[MC-NBFX] .NET Binary Format: XML Data Structure, with [MC-NBFS] and [MC-NBFSE] dictionaries.

One call decodes one document (the payload of one NMF envelope) into a small element tree that keeps
each text value's type, and ``Document.to_xml`` renders it as WCF's own text writer would
(``XmlUTF8NodeWriter`` over ``XmlBaseWriter``). Specs and behaviour followed:

* [MC-NBFX] 2.1.2 (MB31), 2.2 (records: elements 0x40-0x77, attributes 0x04-0x3F, text 0x80-0xBD
  where an odd record type closes the element after the text, Array 0x03, Comment 0x02).
* [MC-NBFS]: the static dictionary, even wire ids (``STATIC_DICTIONARY[id // 2]``).
* [MC-NBFSE]: odd wire ids are session strings, defined by the string table that opens each
  ``application/soap+msbinsession1`` envelope; ``SessionStrings`` keeps them per connection and
  direction.
* Values as .NET's ``XmlConverter``/``XmlConvert`` print them, escaping as ``XmlUTF8NodeWriter``
  (see ``decoders.nbfx_values`` and ``escape_*`` below for the rules and their sources).

The record loop is the hot path: hand-written ``unpack_from`` and byte indexing, no construct.
Anything wrong in the input raises ``DecodeError`` with an ``nbfx_*`` name (``decoders.anomalies``).
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from operator import itemgetter

from ._buffer import read_mb31
from .anomalies import DecodeError
from .nbfx_records import WITH_END_ELEMENT, Record
from .nbfx_values import (
    F32,
    format_datetime,
    format_decimal,
    format_double,
    format_float,
    format_guid,
    format_timespan,
)

# --- limits (fuzz hardening): every one is a DecodeError with its own anomaly name ------------------
MAX_DEPTH = 100  # open elements; .NET's default XmlDictionaryReaderQuotas.MaxDepth is only 32
MAX_ATTRIBUTES = 512  # attributes (incl. xmlns) on one element
MAX_DOCUMENT_BYTES = 64 << 20  # one envelope payload
MAX_ARRAY_ITEMS = 1 << 20  # items in one Array record
MAX_LIST_ITEMS = 1 << 16  # items between StartListText and EndListText
MAX_SESSION_STRINGS = 1 << 16  # per direction; WCF's own MaxSessionSize defaults to 2048
MAX_SESSION_BYTES = 4 << 20  # string bytes per direction (the session_dictionary_size limit)
MAX_ELEMENTS = 1 << 20  # elements in one document, array items included (the elements limit)


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

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
R = Record
_new_tuple = tuple.__new__


# --- the tree ---------------------------------------------------------------------------------------


class Text(tuple):
    """A typed text value: ``text`` as .NET renders it, ``type`` and a JSON-able ``value``.

    Plain strings (Chars*, UnicodeChars*, Dictionary, Empty text) are stored as ``str`` children
    instead, the common case kept cheap. ``type`` is one of: int, bool, float, decimal, datetime,
    timespan, guid, uniqueid, bytes, qname, list. ``value`` is an int/bool for int/bool, a float for
    finite float values, a list of item values for list, and the rendered text otherwise (decimal stays
    a string so no precision is lost; datetime keeps its kind in the suffix: ``Z`` UTC, ``+00:00``
    local — see ``format_datetime`` — none for unspecified).
    """

    # A tuple subclass: built by tuple.__new__ (C) in the record loop, no Python __init__ per value.
    __slots__ = ()

    def __new__(cls, text: str, type_: str, value: object) -> Text:
        return _new_tuple(cls, (text, type_, value))

    text: str = property(itemgetter(0))  # type: ignore[assignment]
    type: str = property(itemgetter(1))  # type: ignore[assignment]
    value: object = property(itemgetter(2))

    def __repr__(self) -> str:
        return f"Text({self.text!r}, {self.type!r})"


class Comment:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Comment({self.text!r})"


Attribute = tuple[str, str, str]
"""(prefix, local name, value text). A namespace declaration is ("xmlns", p, uri) or ("", "xmlns", uri),
exactly as its qualified name reads, so attributes and declarations keep their wire order together."""


class Element(tuple):
    """An element: prefix, local name, attributes (in wire order) and children (Element, Text,
    Comment or str). A tuple subclass for the same reason as Text; ``children`` is a mutable list."""

    __slots__ = ()

    def __new__(
        cls, prefix: str, name: str, attributes: tuple[Attribute, ...] = (), children: list | None = None
    ) -> Element:
        return _new_tuple(cls, (prefix, name, attributes, [] if children is None else children))

    prefix: str = property(itemgetter(0))  # type: ignore[assignment]
    name: str = property(itemgetter(1))  # type: ignore[assignment]
    attributes: tuple[Attribute, ...] = property(itemgetter(2))  # type: ignore[assignment]
    children: list = property(itemgetter(3))  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Element({self.qname!r}, {len(self.attributes)} attrs, {len(self.children)} children)"

    @property
    def qname(self) -> str:
        return f"{self.prefix}:{self.name}" if self.prefix else self.name

    @property
    def text(self) -> str:
        """Concatenated text of the direct text children (as rendered)."""
        return "".join(c if isinstance(c, str) else c.text for c in self.children if isinstance(c, str | Text))

    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]

    def to_xml(self) -> str:
        out: list[str] = []
        _render(self, out)
        return "".join(out)


@dataclass(slots=True)
class Document:
    root: Element
    unresolved: int = 0  # session-string references that could not be resolved (rendered session:N)
    nodes: list = field(default_factory=list)  # top level in order: comments and the root

    def to_xml(self) -> str:
        """The XML text as WCF's XmlDictionaryWriter (text) writes it; no declaration."""
        out: list[str] = []
        for node in self.nodes or [self.root]:
            if isinstance(node, Element):
                _render(node, out)
            else:
                out.append(f"<!--{node.text}-->")
        return "".join(out)


# --- XML rendering (XmlUTF8NodeWriter) --------------------------------------------------------------
# XmlUTF8NodeWriter (dotnet/runtime, System.Private.DataContractSerialization) escapes, in element
# text: U+0000-U+001F except TAB and LF, '&', '<', '>'; in attribute values: all of U+0000-U+001F,
# '"', '&', '<', '>'; in both U+FFFE and U+FFFF. '<' '>' '&' '"' become &lt; &gt; &amp; &quot;, the
# rest &#xHEX; with upper-case hex. An element with no content is written "<a/>", and an empty string
# writes no content (XmlBaseWriter.WriteString skips empty values).

_TEXT_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f&<>\ufffe\uffff]")
_ATTR_SPECIAL = re.compile('[\x00-\x1f"&<>\ufffe\uffff]')
_NAMED_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


def _entity(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_ENTITIES.get(char) or f"&#x{ord(char):X};"


def escape_text(s: str) -> str:
    return _TEXT_SPECIAL.sub(_entity, s) if _TEXT_SPECIAL.search(s) else s


def escape_attribute(s: str) -> str:
    return _ATTR_SPECIAL.sub(_entity, s) if _ATTR_SPECIAL.search(s) else s


def _render(element: Element, out: list[str]) -> None:
    prefix, name, attributes, children = element
    qname = f"{prefix}:{name}" if prefix else name
    start = "<" + qname
    if attributes:
        start += "".join(
            f' {a_prefix + ":" if a_prefix else ""}{a_name}="{escape_attribute(value)}"'
            for a_prefix, a_name, value in attributes
        )
    if len(children) == 1 and type(children[0]) is not Element:  # the common leaf: one text child
        child = children[0]
        if type(child) is Comment:
            out.append(f"{start}><!--{child.text}--></{qname}>")
            return
        text = child if type(child) is str else child[0]  # Text.text
        if text:
            out.append(f"{start}>{escape_text(text)}</{qname}>")
        else:
            out.append(start + "/>")
        return
    opened = False
    for child in children:
        kind = type(child)
        if kind is Element or kind is Comment:
            if not opened:
                out.append(start + ">")
                opened = True
            if kind is Element:
                _render(child, out)
            else:
                out.append(f"<!--{child.text}-->")
            continue
        text = child if kind is str else child[0]
        if text:
            if not opened:
                out.append(start + ">")
                opened = True
            out.append(escape_text(text))
    out.append(f"</{qname}>" if opened else start + "/>")


# --- [MC-NBFSE] session strings ---------------------------------------------------------------------


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


# --- the decoder ------------------------------------------------------------------------------------

_U8 = struct.Struct("<B")
_I16 = struct.Struct("<h")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")

_ZERO = Text("0", "int", 0)
_ONE = Text("1", "int", 1)
_FALSE = Text("false", "bool", False)
_TRUE = Text("true", "bool", True)
_INT8 = tuple(Text(str(v), "int", v) for v in (*range(128), *range(-128, 0)))  # by unsigned byte; shared
_CONSTANT_TEXT = (_ZERO, _ONE, _FALSE, _TRUE)  # records 0x80-0x87, by (record >> 1) & 3
_NO_ATTRIBUTES: tuple[Attribute, ...] = ()
# element records whose name is a dictionary string -> their prefix: ShortDictionaryElement (0x42) "",
# PrefixDictionaryElementA-Z (0x44-0x5D) "a"-"z"; None for the others.
_DICTIONARY_ELEMENT_PREFIX = tuple(
    "" if record == 0x42 else _LETTERS[record - 0x44] if 0x44 <= record <= 0x5D else None for record in range(256)
)
# element records whose name is inline: ShortElement (0x40) "", PrefixElementA-Z (0x5E-0x77) "a"-"z".
_INLINE_ELEMENT_PREFIX = tuple(
    "" if record == 0x40 else _LETTERS[record - 0x5E] if 0x5E <= record <= 0x77 else None for record in range(256)
)

# Array ([MC-NBFX] 2.2.3.31): allowed item record types and their fixed sizes.
_ARRAY_ITEM_SIZE = {
    record | WITH_END_ELEMENT: size
    for record, size in (
        (R.BOOL_TEXT, 1),
        (R.INT16_TEXT, 2),
        (R.INT32_TEXT, 4),
        (R.INT64_TEXT, 8),
        (R.FLOAT_TEXT, 4),
        (R.DOUBLE_TEXT, 8),
        (R.DECIMAL_TEXT, 16),
        (R.DATETIME_TEXT, 8),
        (R.TIMESPAN_TEXT, 8),
        (R.UUID_TEXT, 16),
    )
}


class _Decoder:
    """State of one document decode; methods share the buffer and the session table."""

    __slots__ = ("base_id", "data", "end", "repeated", "session", "text_readers", "unresolved")

    def __init__(self, data: bytes, session: list[str], base_id: int) -> None:
        self.data = data
        self.end = len(data)
        self.session = session
        self.base_id = base_id
        self.unresolved = 0
        self.repeated: dict[tuple[int, bytes], Text] = {}  # (record, raw) -> value: decimals, dates, Guids
        # text record type (even) -> reader(pos) -> (node, position after)
        self.text_readers: dict[int, Callable[[int], tuple[Text | str, int]]] = {
            R.ZERO_TEXT: self._zero,
            R.ONE_TEXT: self._one,
            R.FALSE_TEXT: self._false,
            R.TRUE_TEXT: self._true,
            R.INT8_TEXT: self._int8,
            R.INT16_TEXT: partial(self._integer, fmt=_I16),
            R.INT32_TEXT: partial(self._integer, fmt=_I32),
            R.INT64_TEXT: partial(self._integer, fmt=_I64),
            R.FLOAT_TEXT: self._float,
            R.DOUBLE_TEXT: self._double,
            R.DECIMAL_TEXT: self._decimal,
            R.DATETIME_TEXT: self._datetime,
            R.CHARS8_TEXT: partial(self._chars, fmt=_U8),
            R.CHARS16_TEXT: partial(self._chars, fmt=_U16),
            R.CHARS32_TEXT: partial(self._chars, fmt=_I32),
            R.BYTES8_TEXT: partial(self._bytes, fmt=_U8),
            R.BYTES16_TEXT: partial(self._bytes, fmt=_U16),
            R.BYTES32_TEXT: partial(self._bytes, fmt=_I32),
            R.START_LIST_TEXT: self._list,
            R.EMPTY_TEXT: self._empty,
            R.DICTIONARY_TEXT: self._dictionary_text,
            R.UNIQUE_ID_TEXT: self._unique_id,
            R.TIMESPAN_TEXT: self._timespan,
            R.UUID_TEXT: self._uuid,
            R.UINT64_TEXT: partial(self._integer, fmt=_U64),
            R.BOOL_TEXT: self._bool,
            R.UNICODE_CHARS8_TEXT: partial(self._unicode, fmt=_U8),
            R.UNICODE_CHARS16_TEXT: partial(self._unicode, fmt=_U16),
            R.UNICODE_CHARS32_TEXT: partial(self._unicode, fmt=_I32),
            R.QNAME_DICTIONARY_TEXT: self._qname,
        }

    # -- primitives --

    def _need(self, pos: int, size: int) -> int:
        end = pos + size
        if end > self.end:
            raise DecodeError("nbfx_truncated", f"record needs {size} bytes, {self.end - pos} left", pos)
        return end

    def _mb31(self, pos: int) -> tuple[int, int]:
        value, after = read_mb31(self.data, pos, self.end)
        if after < 0:
            raise DecodeError("nbfx_truncated", "document ends inside a length", pos)
        return value, after

    def _string(self, pos: int) -> tuple[str, int]:
        """[MC-NBFX] 2.1.3 String: MB31 byte count + UTF-8."""
        if pos >= self.end:
            raise DecodeError("nbfx_truncated", "document ends before a string", pos)
        n = self.data[pos]
        if n < 0x80:
            pos += 1
        else:
            n, pos = self._mb31(pos)
        end = pos + n
        if end > self.end:
            raise DecodeError("nbfx_truncated", f"string of {n} bytes runs past the end", pos)
        return self.data[pos:end].decode("utf-8"), end

    def _dictionary_string(self, pos: int) -> tuple[str, int]:
        """[MC-NBFX] 2.1.4 DictionaryString: MB31 id, even = static, odd = session."""
        if pos >= self.end:
            raise DecodeError("nbfx_truncated", "document ends before a dictionary string", pos)
        key = self.data[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = self._mb31(pos)
        if not key & 1:
            if key >> 1 >= len(STATIC_DICTIONARY):
                raise DecodeError("nbfx_bad_dictionary_id", f"static id {key} beyond [MC-NBFS]", pos)
            return STATIC_DICTIONARY[key >> 1], pos
        index = (key - self.base_id) >> 1
        if 0 <= index < len(self.session):
            return self.session[index], pos
        self.unresolved += 1
        return f"session:{key}", pos

    # -- text records: each returns (node, position after it) --

    def _zero(self, pos: int) -> tuple[Text, int]:
        return _ZERO, pos

    def _one(self, pos: int) -> tuple[Text, int]:
        return _ONE, pos

    def _false(self, pos: int) -> tuple[Text, int]:
        return _FALSE, pos

    def _true(self, pos: int) -> tuple[Text, int]:
        return _TRUE, pos

    def _bool(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 1)
        byte = self.data[pos]
        if byte > 1:
            raise DecodeError("nbfx_bad_value", f"BoolText byte 0x{byte:02x} is neither 0 nor 1", pos)
        return (_TRUE if byte else _FALSE), end

    def _int8(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 1)
        return _INT8[self.data[pos]], end

    def _integer(self, pos: int, fmt: struct.Struct) -> tuple[Text, int]:
        end = self._need(pos, fmt.size)
        value = fmt.unpack_from(self.data, pos)[0]
        return _new_tuple(Text, (str(value), "int", value)), end

    def _float(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 4)
        value = F32.unpack_from(self.data, pos)[0]
        text = format_float(value)
        # JSON gets the number .NET prints (0.1), not the single widened to double (0.10000000149…)
        return _new_tuple(Text, (text, "float", float(text) if text[-1].isdigit() else text)), end

    def _double(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 8)
        value = _F64.unpack_from(self.data, pos)[0]
        text = format_double(value)
        return _new_tuple(Text, (text, "float", value if text[-1].isdigit() else text)), end

    def _decimal(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 16)
        raw = self.data[pos:end]
        node = self.repeated.get((R.DECIMAL_TEXT, raw))
        if node is None:
            text = format_decimal(raw)
            node = self.repeated[R.DECIMAL_TEXT, raw] = _new_tuple(Text, (text, "decimal", text))
        return node, end

    def _datetime(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 8)
        raw = self.data[pos:end]
        node = self.repeated.get((R.DATETIME_TEXT, raw))
        if node is None:
            text = format_datetime(_U64.unpack_from(raw)[0])
            node = self.repeated[R.DATETIME_TEXT, raw] = _new_tuple(Text, (text, "datetime", text))
        return node, end

    def _timespan(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 8)
        text = format_timespan(_I64.unpack_from(self.data, pos)[0])
        return _new_tuple(Text, (text, "timespan", text)), end

    def _uuid(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 16)
        raw = self.data[pos:end]
        node = self.repeated.get((R.UUID_TEXT, raw))
        if node is None:  # ids of products, tables, users… repeat within a message
            text = format_guid(raw)
            node = self.repeated[R.UUID_TEXT, raw] = _new_tuple(Text, (text, "guid", text))
        return node, end

    def _unique_id(self, pos: int) -> tuple[Text, int]:
        end = self._need(pos, 16)
        text = "urn:uuid:" + format_guid(self.data[pos:end])
        return _new_tuple(Text, (text, "uniqueid", text)), end

    def _sized(self, pos: int, fmt: struct.Struct) -> tuple[int, int]:
        """(start, end) of a payload prefixed by a ``fmt`` length."""
        start = self._need(pos, fmt.size)
        length = fmt.unpack_from(self.data, pos)[0]
        if length < 0:
            raise DecodeError("nbfx_bad_value", f"negative length {length}", pos)
        return start, self._need(start, length)

    def _chars(self, pos: int, fmt: struct.Struct) -> tuple[str, int]:
        start, end = self._sized(pos, fmt)
        return self.data[start:end].decode("utf-8"), end

    def _unicode(self, pos: int, fmt: struct.Struct) -> tuple[str, int]:
        start, end = self._sized(pos, fmt)
        if (end - start) & 1:
            raise DecodeError("nbfx_bad_text", "UTF-16 text of odd byte length", pos)
        return self.data[start:end].decode("utf-16-le"), end

    def _bytes(self, pos: int, fmt: struct.Struct) -> tuple[Text, int]:
        start, end = self._sized(pos, fmt)
        text = base64.b64encode(self.data[start:end]).decode("ascii")
        return _new_tuple(Text, (text, "bytes", text)), end

    def _empty(self, pos: int) -> tuple[str, int]:
        return "", pos

    def _dictionary_text(self, pos: int) -> tuple[str, int]:
        return self._dictionary_string(pos)

    def _qname(self, pos: int) -> tuple[Text, int]:
        """QNameDictionaryText: prefix byte 0-25 (a-z) + dictionary string."""
        self._need(pos, 1)
        prefix = self.data[pos]
        if prefix > 25:
            raise DecodeError("nbfx_bad_value", f"QName prefix index {prefix} beyond 'z'", pos)
        name, pos = self._dictionary_string(pos + 1)
        text = f"{_LETTERS[prefix]}:{name}"
        return _new_tuple(Text, (text, "qname", text)), pos

    def _list(self, pos: int) -> tuple[Text, int]:
        """StartListText … EndListText: items rendered space-separated (XmlUTF8NodeWriter)."""
        texts: list[str] = []
        values: list[object] = []
        data = self.data
        while True:
            if pos >= self.end:
                raise DecodeError("nbfx_truncated", "document ends inside a list", pos)
            record = data[pos]
            if record == R.END_LIST_TEXT:
                text = " ".join(texts)
                return Text(text, "list", values), pos + 1
            reader = self.text_readers.get(record)
            if reader is None or record == R.START_LIST_TEXT:
                raise DecodeError("nbfx_unknown_record", f"record 0x{record:02x} inside a list", pos)
            if len(texts) >= MAX_LIST_ITEMS:
                raise DecodeError("nbfx_list_too_long", f"more than {MAX_LIST_ITEMS} list items", pos)
            node, pos = reader(pos + 1)
            if isinstance(node, str):
                texts.append(node)
                values.append(node)
            else:
                texts.append(node.text)
                values.append(node.value)

    # -- structure --

    def _element_name(self, record: int, pos: int) -> tuple[str, str, int]:
        """(prefix, local name, position) of an element record 0x40-0x77."""
        if record >= R.PREFIX_ELEMENT_A:
            name, pos = self._string(pos)
            return _LETTERS[record - R.PREFIX_ELEMENT_A], name, pos
        if record >= R.PREFIX_DICTIONARY_ELEMENT_A:
            name, pos = self._dictionary_string(pos)
            return _LETTERS[record - R.PREFIX_DICTIONARY_ELEMENT_A], name, pos
        if record == R.SHORT_ELEMENT:
            name, pos = self._string(pos)
            return "", name, pos
        if record == R.SHORT_DICTIONARY_ELEMENT:
            name, pos = self._dictionary_string(pos)
            return "", name, pos
        prefix, pos = self._string(pos)  # Element / DictionaryElement
        name, pos = self._string(pos) if record == R.ELEMENT else self._dictionary_string(pos)
        return prefix, name, pos

    def _attributes(self, pos: int) -> tuple[tuple[Attribute, ...], int]:
        """The attribute records (0x04-0x3F) following an element record."""
        attributes: list[Attribute] = []
        data = self.data
        end = self.end
        while pos < end:
            record = data[pos]
            if record < R.SHORT_ATTRIBUTE or record > R.PREFIX_ATTRIBUTE_Z:
                break
            if len(attributes) >= MAX_ATTRIBUTES:
                raise DecodeError("nbfx_too_many_attributes", f"more than {MAX_ATTRIBUTES}", pos)
            pos += 1
            if record >= R.PREFIX_ATTRIBUTE_A:
                prefix = _LETTERS[record - R.PREFIX_ATTRIBUTE_A]
                name, pos = self._string(pos)
            elif record >= R.PREFIX_DICTIONARY_ATTRIBUTE_A:
                prefix = _LETTERS[record - R.PREFIX_DICTIONARY_ATTRIBUTE_A]
                name, pos = self._dictionary_string(pos)
            elif record == R.SHORT_ATTRIBUTE:
                prefix = ""
                name, pos = self._string(pos)
            elif record == R.ATTRIBUTE:
                prefix, pos = self._string(pos)
                name, pos = self._string(pos)
            elif record == R.SHORT_DICTIONARY_ATTRIBUTE:
                prefix = ""
                name, pos = self._dictionary_string(pos)
            elif record == R.DICTIONARY_ATTRIBUTE:
                prefix, pos = self._string(pos)
                name, pos = self._dictionary_string(pos)
            else:  # the four xmlns records, namespace declarations: no text record follows
                if record & 1:  # XmlnsAttribute / DictionaryXmlnsAttribute
                    declared, pos = self._string(pos)
                    uri, pos = self._string(pos) if record == R.XMLNS_ATTRIBUTE else self._dictionary_string(pos)
                    attributes.append(("xmlns", declared, uri))
                else:  # ShortXmlnsAttribute / ShortDictionaryXmlnsAttribute
                    short = record == R.SHORT_XMLNS_ATTRIBUTE
                    uri, pos = self._string(pos) if short else self._dictionary_string(pos)
                    attributes.append(("", "xmlns", uri))
                continue
            value, pos = self._attribute_value(pos)
            attributes.append((prefix, name, value))
        return tuple(attributes), pos

    def _attribute_value(self, pos: int) -> tuple[str, int]:
        """An attribute's value: one text record without the end-element bit."""
        if pos >= self.end:
            raise DecodeError("nbfx_truncated", "document ends before an attribute value", pos)
        record = self.data[pos]
        reader = self.text_readers.get(record)
        if reader is None:
            raise DecodeError("nbfx_unknown_record", f"record 0x{record:02x} as attribute value", pos)
        node, pos = reader(pos + 1)
        return (node if isinstance(node, str) else node.text), pos

    def _array(self, children: list, pos: int, budget: int) -> tuple[int, int]:
        """Array record: one element record with its attributes, EndElement, item type, MB31 count,
        then the items; each item is rendered as a copy of the element holding that value.
        (position after it, items), refused before any is built if they are more than ``budget``."""
        if pos >= self.end:
            raise DecodeError("nbfx_truncated", "document ends inside an array", pos)
        record = self.data[pos]
        if not R.SHORT_ELEMENT <= record <= R.PREFIX_ELEMENT_Z:
            raise DecodeError("nbfx_unknown_record", f"array of record 0x{record:02x}, not an element", pos)
        prefix, name, pos = self._element_name(record, pos + 1)
        attributes, pos = self._attributes(pos)
        self._need(pos, 2)
        if self.data[pos] != R.END_ELEMENT:
            raise DecodeError("nbfx_unknown_record", "array element not closed by EndElement", pos)
        item_type = self.data[pos + 1]
        size = _ARRAY_ITEM_SIZE.get(item_type)
        if size is None:
            raise DecodeError("nbfx_unknown_record", f"array item type 0x{item_type:02x}", pos + 1)
        count, pos = self._mb31(pos + 2)
        if count == 0:  # XmlBinaryReader.ReadArray rejects it too
            raise DecodeError("nbfx_bad_value", "array of zero items", pos)
        if count > MAX_ARRAY_ITEMS:
            raise DecodeError("nbfx_array_too_long", f"{count} items, limit {MAX_ARRAY_ITEMS}", pos)
        if count > budget:
            raise DecodeError("nbfx_too_many_elements", f"an array of {count} items passes the elements limit", pos)
        self._need(pos, count * size)
        reader = self.text_readers[item_type & 0xFE]
        for _ in range(count):
            node, pos = reader(pos)
            children.append(_new_tuple(Element, (prefix, name, attributes, [node])))
        return pos, count

    def _small_ids(self) -> list[str | None]:
        """Names of the one-byte dictionary ids 0-127 (None: unknown, take the slow path to count it)."""
        small: list[str | None] = []
        for key in range(0x80):
            if key & 1:
                index = (key - self.base_id) >> 1
                small.append(self.session[index] if 0 <= index < len(self.session) else None)
            else:
                small.append(STATIC_DICTIONARY[key >> 1])
        return small

    def run(self, pos: int, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS) -> Document:
        """The record loop. Common records (dictionary elements, Chars8, small ints, booleans) are
        decoded inline; the rest through the methods above. ``stack`` holds the children lists of the
        open elements above the document level (``nodes``), except a leaf element (element record then
        a text *WithEndElement* record), which never enters it. Every byte read is bounds-checked first
        (a record cut short is nbfx_truncated); an IndexError here would be a bug, not bad input.
        This loop compares record types as literals, named in comments after ``Record``: an enum
        attribute costs six times a literal here, per record."""
        data = self.data
        end = self.end
        text_readers = self.text_readers
        small = self._small_ids()
        dictionary_prefix = _DICTIONARY_ELEMENT_PREFIX
        inline_prefix = _INLINE_ELEMENT_PREFIX
        int8 = _INT8
        constants = _CONSTANT_TEXT
        no_attributes = _NO_ATTRIBUTES
        new = _new_tuple
        max_stack = max_depth + 1
        budget = max_elements  # elements still allowed
        nodes: list = []
        stack: list[list] = [nodes]
        children = nodes  # of the innermost open element, or the document level
        leaf_parent: list | None = None  # set while reading the one text record of a leaf element
        root: Element | None = None
        while pos < end:
            record = data[pos]
            pos += 1
            if record >= 0x80:  # text
                if children is nodes:
                    raise DecodeError("nbfx_bad_structure", "text outside the root element", pos - 1)
                if record == 0x99 or record == 0x98:  # Chars8Text
                    if pos >= end:
                        raise DecodeError("nbfx_truncated", "document ends inside Chars8Text", pos)
                    start = pos + 1
                    pos = start + data[pos]
                    if pos > end:
                        raise DecodeError("nbfx_truncated", "Chars8Text runs past the end", start)
                    children.append(data[start:pos].decode("utf-8"))
                elif record < 0x88:  # Zero, One, False, True
                    children.append(constants[(record >> 1) & 3])
                elif record == 0x89 or record == 0x88:  # Int8Text
                    if pos >= end:
                        raise DecodeError("nbfx_truncated", "document ends inside Int8Text", pos)
                    children.append(int8[data[pos]])
                    pos += 1
                else:
                    reader = text_readers.get(record & 0xFE)
                    if reader is None or record == 0xA5:  # StartListText has no *WithEndElement
                        raise DecodeError("nbfx_unknown_record", f"record type 0x{record:02x}", pos - 1)
                    node, pos = reader(pos)
                    children.append(node)
                if record & 1:  # *WithEndElement
                    if leaf_parent is not None:
                        children = leaf_parent
                        leaf_parent = None
                    else:
                        stack.pop()
                        children = stack[-1]
            elif record >= 0x40:  # element
                budget -= 1
                if budget < 0:
                    raise DecodeError("nbfx_too_many_elements", f"more than {max_elements} (limit elements)", pos - 1)
                if pos >= end:
                    raise DecodeError("nbfx_truncated", "document ends inside an element record", pos)
                prefix = dictionary_prefix[record]
                key = data[pos]
                if prefix is not None and key < 0x80 and (name := small[key]) is not None:
                    pos += 1
                elif (prefix := inline_prefix[record]) is not None and key < 0x80:  # short inline name
                    start = pos + 1
                    pos = start + key
                    name = data[start:pos].decode("utf-8")  # cut short: caught just below
                else:
                    if record > 0x77:  # past PrefixElementZ
                        raise DecodeError("nbfx_unknown_record", f"record type 0x{record:02x}", pos - 1)
                    prefix, name, pos = self._element_name(record, pos)
                if pos >= end:  # an element must be followed by content or EndElement
                    raise DecodeError("nbfx_truncated", "document ends after an element name", min(pos, end))
                if 0x04 <= data[pos] <= 0x3F:  # ShortAttribute … PrefixAttributeZ
                    attributes, pos = self._attributes(pos)
                    if pos >= end:
                        raise DecodeError("nbfx_truncated", "document ends after an element's attributes", pos)
                else:
                    attributes = no_attributes
                if children is nodes:
                    if root is not None:
                        raise DecodeError("nbfx_bad_structure", "a second root element", pos)
                    root = new(Element, (prefix, name, attributes, []))
                    children.append(root)
                    children = root[3]
                else:
                    inner: list = []
                    children.append(new(Element, (prefix, name, attributes, inner)))
                    if data[pos] & 0x81 == 0x81 and len(stack) < max_stack:
                        # a leaf: the next record is text *WithEndElement*; skip the stack
                        leaf_parent = children
                        children = inner
                        continue
                    children = inner
                stack.append(children)
                if len(stack) > max_stack:
                    detail = f"more than {max_depth} nested elements (limit nesting_depth)"
                    raise DecodeError("nbfx_too_deep", detail, pos)
            elif record == 0x01:  # EndElement
                if children is nodes:
                    raise DecodeError("nbfx_bad_structure", "EndElement with no open element", pos - 1)
                stack.pop()
                children = stack[-1]
            elif record == 0x02:  # Comment
                comment, pos = self._string(pos)
                children.append(Comment(comment))
            elif record == 0x03:  # Array
                if children is nodes:
                    raise DecodeError("nbfx_bad_structure", "array outside the root element", pos - 1)
                pos, items = self._array(children, pos, budget)
                budget -= items
            else:
                raise DecodeError("nbfx_unknown_record", f"record type 0x{record:02x} here", pos - 1)
        if len(stack) > 1:
            raise DecodeError("nbfx_truncated", f"document ends with {len(stack) - 1} elements open", end)
        if root is None:
            raise DecodeError("nbfx_truncated", "no root element", end)
        return Document(root, self.unresolved, nodes)


def decode(
    payload: bytes | memoryview,
    pos: int = 0,
    session: SessionStrings | None = None,
    *,
    base_id: int = 1,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
) -> Document:
    """Decode one NBFX document from ``pos`` to the end of ``payload``.

    ``session`` resolves odd dictionary ids ([MC-NBFSE]); ``base_id`` is the wire id of its first
    string (1 in WCF). An id not known (no session, mid-session capture, missed table) is rendered
    as the placeholder ``session:<id>`` and counted in ``Document.unresolved``, never an error.
    ``max_depth`` and ``max_elements`` are the nesting_depth and elements limits.
    Raises DecodeError (nbfx_* or mb31_invalid).
    """
    data = payload if isinstance(payload, bytes) else bytes(payload)
    if len(data) - pos > MAX_DOCUMENT_BYTES:
        raise DecodeError("nbfx_too_large", f"{len(data) - pos} bytes, limit {MAX_DOCUMENT_BYTES}", pos)
    if not base_id & 1:
        raise ValueError("base_id must be odd: session strings have odd ids")
    decoder = _Decoder(data, session._known if session is not None else [], base_id)
    try:
        return decoder.run(pos, max_depth, max_elements)
    except UnicodeDecodeError as exc:
        raise DecodeError("nbfx_bad_text", f"invalid {exc.encoding} in a string: {exc.reason}") from None
