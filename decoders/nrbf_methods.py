"""[MS-NRBF] 2.2 method invocation records: BinaryMethodCall and BinaryMethodReturn, and their call array.

The record itself holds what is inline (method and type name, primitive arguments or return value, a
string call context); what is not inline sits in the call array, an object[] that is the stream's root
(2.2.3.2, 2.2.3.4), in a fixed order that the MessageFlags bits say which entries are present.
"""

from typing import TYPE_CHECKING

from .anomalies import DecodeError
from .nrbf_values import STRING, MessageFlags, read_primitive, read_string

if TYPE_CHECKING:
    from .nrbf_records import RecordReader

METHOD_CALL = 21
# (flag, field) in call-array order: 2.2.3.2 MethodCallArray and 2.2.3.4 MethodReturnCallArray.
CALL_ARRAY = (
    (MessageFlags.ARGS_IN_ARRAY, "args"),
    (MessageFlags.GENERIC_METHOD, "generic_args"),
    (MessageFlags.METHOD_SIGNATURE_IN_ARRAY, "signature"),
    (MessageFlags.CONTEXT_IN_ARRAY, "call_context"),
    (MessageFlags.PROPERTIES_IN_ARRAY, "properties"),
)
RETURN_ARRAY = (
    (MessageFlags.RETURN_VALUE_IN_ARRAY, "return"),
    (MessageFlags.ARGS_IN_ARRAY, "args"),
    (MessageFlags.EXCEPTION_IN_ARRAY, "exception"),
    (MessageFlags.CONTEXT_IN_ARRAY, "call_context"),
    (MessageFlags.PROPERTIES_IN_ARRAY, "properties"),
)


def _value_with_code(reader: "RecordReader") -> object:
    """2.2.2.1 ValueWithCode: a PrimitiveTypeEnumeration byte, then the value (Null has none)."""
    code = reader._byte()
    value, reader.pos = read_primitive(code, reader.data, reader.pos)
    return value


def _string_with_code(reader: "RecordReader", what: str) -> str:
    """2.2.2.2 StringValueWithCode: must be String (18)."""
    if reader._byte() != STRING:
        raise DecodeError("nrbf_bad_method", f"{what} is not a StringValueWithCode", reader.pos - 1)
    value, reader.pos = read_string(reader.data, reader.pos)
    return value


def read_method(reader: "RecordReader", rtype: int) -> dict[str, object]:
    """The inline fields of a BinaryMethodCall (2.2.3.1) or BinaryMethodReturn (2.2.3.3)."""
    fields: dict[str, object] = {"flags": reader._int()}
    flags: int = fields["flags"]  # type: ignore[assignment]
    if rtype == METHOD_CALL:
        fields["method"] = _string_with_code(reader, "MethodName")
        fields["type"] = _string_with_code(reader, "TypeName")
    elif flags & MessageFlags.RETURN_VALUE_INLINE:
        fields["return"] = _value_with_code(reader)
    if flags & MessageFlags.CONTEXT_INLINE:
        fields["call_context"] = _string_with_code(reader, "CallContext")
    if flags & MessageFlags.ARGS_INLINE:
        count = reader._count("argument count")
        fields["args"] = [_value_with_code(reader) for _ in range(count)]
    return fields


def from_call_array(rtype: int, fields: dict[str, object], root: object) -> dict[str, object]:
    """The record's fields completed from the resolved call array ``root`` (a list, or absent)."""
    flags: int = fields["flags"]  # type: ignore[assignment]
    out = dict(fields)
    if flags & MessageFlags.ARGS_IS_ARRAY:
        out["args"] = root
        return out
    if not isinstance(root, list):
        return out
    layout = CALL_ARRAY if rtype == METHOD_CALL else RETURN_ARRAY
    entries = iter(root)
    for flag, name in layout:
        if flags & flag:
            out[name] = next(entries, None)
    return out
