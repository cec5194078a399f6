"""[MC-NBFX] 2.1 primitives (MB31, String, DictionaryString) and the text records (2.2.3.9–2.2.3.30).

``TextReader`` holds one document's bytes and reads values; each text reader returns (node, position
after it) and is found by the record's even type in ``text_readers``, the dispatch table (an odd
type is the same record *WithEndElement*, handled by the structure loop in ``decoders.nbfx``).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from functools import partial

from ._buffer import read_mb31
from .anomalies import DecodeError
from .nbfx_records import Record
from .nbfx_strings import STATIC_DICTIONARY
from .nbfx_tree import Text, _new_tuple
from .nbfx_values import (
    F32,
    format_datetime,
    format_decimal,
    format_double,
    format_float,
    format_guid,
    format_timespan,
)

MAX_LIST_ITEMS = 1 << 16  # items between StartListText and EndListText
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
R = Record

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


class TextReader:
    """One document's bytes and session table, and the readers of its values."""

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
