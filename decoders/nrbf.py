"""[MS-NRBF] .NET BinaryFormatter: a whole stream → its method call or return, or its root object, as JSON.

Layers, one module each: ``nrbf_values`` (enumerations, primitive values), ``nrbf_records`` (records →
objects by id), ``nrbf_methods`` (BinaryMethodCall/Return and the call array), ``nrbf_graph``
(references resolved, library types shaped). Written here rather than taken from PyPI: README
"Remoting" gives the evaluation of ``nrbf`` and ``netfleece`` on the Mono peer's traffic.
"""

from dataclasses import dataclass

from .nrbf_graph import GraphWriter
from .nrbf_methods import from_call_array
from .nrbf_records import RecordReader


@dataclass(frozen=True, slots=True)
class NrbfMessage:
    """A decoded stream: ``call`` holds a method call's or return's fields, else ``root`` the object."""

    call: dict[str, object] | None
    root: object
    truncated: bool  # some object lay deeper than the depth limit and was left out


def decode(payload: bytes, max_depth: int, max_objects: int) -> NrbfMessage:
    """Decode one complete stream; a malformed one raises ``DecodeError`` (offset into ``payload``)."""
    stream = RecordReader(payload, max_objects).read()
    writer = GraphWriter(stream, max_depth, max_objects)
    root = writer.value(stream.objects[stream.root_id]) if stream.root_id in stream.objects else None
    call = None
    if stream.calls:
        rtype, fields = stream.calls[0]
        call = from_call_array(rtype, {k: writer.value(v) for k, v in fields.items()}, root)
        call["record"] = "call" if rtype == 21 else "return"
    return NrbfMessage(call, root, writer.truncated)
