"""[MS-NRBF] 2.1.2 enumerations and 2.1.1 primitive values: what a BinaryFormatter stream's bytes mean.

Values become JSON the way the WCF decoder writes the same .NET value (``decoders.nbfx_values``), so
that the iiko rules read an order the same whether it came over net.tcp or Remoting: Decimal stays the
text it is on the wire (2.1.1.7), DateTime is ISO-8601 with its kind's suffix (2.1.1.5: 62-bit ticks,
2-bit kind; Local is marked ``[local]``), TimeSpan an xsd:duration, Single and Double the shortest
text that reads back (.NET "R").
"""

import struct
from collections.abc import Callable
from enum import IntEnum

from .anomalies import DecodeError
from .nbfx_values import format_datetime, format_float, format_timespan

_TICKS = (1 << 62) - 1
MAX_STRING = 1 << 30  # a LengthPrefixedString's length is at most 2^31-1 (5-byte 7-bit varint)


class RecordType(IntEnum):
    """2.1.2.1 RecordTypeEnumeration."""

    SERIALIZED_STREAM_HEADER = 0
    CLASS_WITH_ID = 1
    SYSTEM_CLASS_WITH_MEMBERS = 2
    CLASS_WITH_MEMBERS = 3
    SYSTEM_CLASS_WITH_MEMBERS_AND_TYPES = 4
    CLASS_WITH_MEMBERS_AND_TYPES = 5
    BINARY_OBJECT_STRING = 6
    BINARY_ARRAY = 7
    MEMBER_PRIMITIVE_TYPED = 8
    MEMBER_REFERENCE = 9
    OBJECT_NULL = 10
    MESSAGE_END = 11
    BINARY_LIBRARY = 12
    OBJECT_NULL_MULTIPLE_256 = 13
    OBJECT_NULL_MULTIPLE = 14
    ARRAY_SINGLE_PRIMITIVE = 15
    ARRAY_SINGLE_OBJECT = 16
    ARRAY_SINGLE_STRING = 17
    METHOD_CALL = 21
    METHOD_RETURN = 22


class BinaryType(IntEnum):
    """2.1.2.2 BinaryTypeEnumeration: how a member's value is written."""

    PRIMITIVE = 0
    STRING = 1
    OBJECT = 2
    SYSTEM_CLASS = 3
    CLASS = 4
    OBJECT_ARRAY = 5
    STRING_ARRAY = 6
    PRIMITIVE_ARRAY = 7


class ArrayType(IntEnum):
    """2.4.1.1 BinaryArrayTypeEnumeration; the *Offset kinds carry lower bounds."""

    SINGLE = 0
    JAGGED = 1
    RECTANGULAR = 2
    SINGLE_OFFSET = 3
    JAGGED_OFFSET = 4
    RECTANGULAR_OFFSET = 5


class MessageFlags:
    """2.2.1.1 MessageFlags bits of BinaryMethodCall / BinaryMethodReturn."""

    NO_ARGS = 0x1
    ARGS_INLINE = 0x2
    ARGS_IS_ARRAY = 0x4
    ARGS_IN_ARRAY = 0x8
    NO_CONTEXT = 0x10
    CONTEXT_INLINE = 0x20
    CONTEXT_IN_ARRAY = 0x40
    METHOD_SIGNATURE_IN_ARRAY = 0x80
    PROPERTIES_IN_ARRAY = 0x100
    NO_RETURN_VALUE = 0x200
    RETURN_VALUE_VOID = 0x400
    RETURN_VALUE_INLINE = 0x800
    RETURN_VALUE_IN_ARRAY = 0x1000
    EXCEPTION_IN_ARRAY = 0x2000
    GENERIC_METHOD = 0x8000


PRIMITIVE_NAMES = {
    1: "Boolean", 2: "Byte", 3: "Char", 5: "Decimal", 6: "Double", 7: "Int16", 8: "Int32", 9: "Int64",
    10: "SByte", 11: "Single", 12: "TimeSpan", 13: "DateTime", 14: "UInt16", 15: "UInt32", 16: "UInt64",
    17: "Null", 18: "String",
}  # fmt: skip  # 2.1.2.3 PrimitiveTypeEnumeration
STRING = 18
NULL = 17
BYTE = 2

_FIXED = {
    1: struct.Struct("<?"), 2: struct.Struct("<B"), 6: struct.Struct("<d"), 7: struct.Struct("<h"),
    8: struct.Struct("<i"), 9: struct.Struct("<q"), 10: struct.Struct("<b"), 11: struct.Struct("<f"),
    12: struct.Struct("<q"), 13: struct.Struct("<Q"), 14: struct.Struct("<H"), 15: struct.Struct("<I"),
    16: struct.Struct("<Q"),
}  # fmt: skip
FIXED_SIZES = {code: s.size for code, s in _FIXED.items()}


def _double(value: float) -> float | str:
    if value != value or value in (float("inf"), float("-inf")):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def _single(value: float) -> float | str:
    special = _double(value)
    return special if isinstance(special, str) else float(format_float(value))


def _datetime(raw: int) -> str:
    """Kind Local holds the sender's wall-clock ticks (not UTC, unlike ToBinary) and not its offset,
    so it is written as that wall time marked ``[local]`` (RFC 9557's suffix syntax)."""
    try:
        if raw >> 62 == 2:
            return format_datetime(raw & _TICKS) + "[local]"
        return format_datetime(raw)
    except DecodeError as err:
        raise DecodeError("nrbf_bad_value", err.detail) from None


_CONVERT: dict[int, Callable[[object], object]] = {
    6: _double,  # type: ignore[dict-item]
    11: _single,  # type: ignore[dict-item]
    12: format_timespan,  # type: ignore[dict-item]
    13: _datetime,  # type: ignore[dict-item]
}


def fixed_run(codes: list[int]) -> tuple[struct.Struct, tuple[Callable[[object], object] | None, ...]]:
    """One Struct for consecutive fixed-size primitive members (a class's plan), and each one's conversion."""
    layout = "".join(_FIXED[code].format[1:] for code in codes)
    return struct.Struct("<" + layout), tuple(_CONVERT.get(code) for code in codes)


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    """2.1.1.6 LengthPrefixedString: a 7-bit varint length (at most 5 bytes), then UTF-8."""
    length = shift = 0
    for _ in range(5):
        if pos >= len(data):
            raise DecodeError("nrbf_truncated", "string length past the end", pos)
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    else:
        raise DecodeError("nrbf_bad_value", "string length longer than 5 bytes", pos)
    end = pos + length
    if length > MAX_STRING or end > len(data):
        raise DecodeError("nrbf_truncated", f"{length}-byte string past the end", pos)
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise DecodeError("nrbf_bad_value", "string is not UTF-8", pos) from None


def read_primitive(code: int, data: bytes, pos: int) -> tuple[object, int]:
    """One primitive value of ``code`` (2.1.2.3) at ``pos``: (JSON value, next position)."""
    fixed = _FIXED.get(code)
    if fixed is not None:
        if pos + fixed.size > len(data):
            raise DecodeError("nrbf_truncated", f"{PRIMITIVE_NAMES[code]} past the end", pos)
        (value,) = fixed.unpack_from(data, pos)
        convert = _CONVERT.get(code)
        return (value if convert is None else convert(value)), pos + fixed.size
    if code == STRING or code == 5:  # String, Decimal (2.1.1.7: its invariant-culture text)
        return read_string(data, pos)
    if code == 3:  # Char (2.1.1.1): one UTF-8 encoded character
        if pos >= len(data):
            raise DecodeError("nrbf_truncated", "Char past the end", pos)
        lead = data[pos]
        size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        try:
            return data[pos : pos + size].decode("utf-8"), pos + size
        except UnicodeDecodeError:
            raise DecodeError("nrbf_bad_value", "Char is not UTF-8", pos) from None
    if code == NULL:
        return None, pos
    raise DecodeError("nrbf_bad_primitive", f"primitive type {code}", pos)
