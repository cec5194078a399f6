"""[MS-NRBF] object graph → JSON: references resolved, .NET library types shaped like the WCF decoder's.

The iiko rules must find an order in a Remoting message exactly as in a WCF body, so the graph is
written in the same vocabulary: an object is ``{"@type": "Ns.Class", member: value, ...}`` (member names
as declared, auto-property backing fields ``<Id>k__BackingField`` as ``Id``), a ``List<T>`` is a JSON
list, a Guid its "D" text, a byte[] base64, a dictionary or Hashtable a list of ``{"Key", "Value"}``.
A reference to an object that is being written (a cycle) becomes ``{"@ref": id}`` and is not followed;
a shared object is written at each place it is referenced. Depth and output size are capped.
"""

import base64
import struct
from collections.abc import Iterator

from .anomalies import DecodeError
from .nbfx_values import format_guid
from .nrbf_records import ArrayObject, ClassObject, Ref, Stream

_GUID = struct.Struct("<ihhBBBBBBBB")
_GUID_MEMBERS = ("_a", "_b", "_c", "_d", "_e", "_f", "_g", "_h", "_i", "_j", "_k")
_LIST = "System.Collections.Generic.List`1"
_DICTIONARY = "System.Collections.Generic.Dictionary`2"
_HASHTABLE = "System.Collections.Hashtable"


def member_name(name: str) -> str:
    """``<Id>k__BackingField`` → ``Id``; ``Base+field`` (an inherited field) → ``field``."""
    if name.startswith("<") and ">" in name:
        name = name[1 : name.index(">")]
    return name.rsplit("+", 1)[-1]


class GraphWriter:
    """Writes one stream's graph as JSON, within ``max_depth`` nesting and ``max_nodes`` values."""

    def __init__(self, stream: Stream, max_depth: int, max_nodes: int) -> None:
        self.objects = stream.objects
        self.max_depth = max_depth
        self.budget = max_nodes
        self.truncated = False  # something was deeper than max_depth
        self._open: set[int] = set()  # ids of the objects being written (a reference to one is a cycle)

    def value(self, value: object, depth: int = 0) -> object:
        if isinstance(value, Ref):
            if value.id in self._open:
                return {"@ref": value.id}
            target = self.objects.get(value.id)
            if target is None:
                raise DecodeError("nrbf_bad_reference", f"reference to object {value.id}, which the stream lacks")
            value = target
        if not isinstance(value, ClassObject | ArrayObject):
            return value
        self.budget -= 1
        if self.budget < 0:
            raise DecodeError("nrbf_too_many_objects", "the resolved graph exceeds the object count limit")
        if depth >= self.max_depth:
            self.truncated = True
            return {"@truncated": value.id}
        self._open.add(value.id)
        try:
            if isinstance(value, ArrayObject):
                return self._array(value, depth)
            return self._object(value, depth)
        finally:
            self._open.discard(value.id)

    def _array(self, array: ArrayObject, depth: int) -> object:
        if isinstance(array.items, bytes):
            return base64.b64encode(array.items).decode("ascii")
        items = [self.value(item, depth + 1) for item in array.items]
        for length in reversed(array.lengths[1:]):  # a rectangular array: nested lists, row-major
            items = [items[i : i + length] for i in range(0, len(items), length)] if length else []
        return items

    def _object(self, obj: ClassObject, depth: int) -> object:
        members = dict(zip(obj.names, obj.values, strict=True))
        if obj.type == "System.Guid" and obj.names == _GUID_MEMBERS:
            try:
                return format_guid(_GUID.pack(*obj.values))
            except struct.error:
                raise DecodeError("nrbf_bad_value", "System.Guid with members out of range") from None
        if obj.type.startswith(_LIST) and "_items" in members:
            items = self.value(members["_items"], depth)
            size = members.get("_size")
            return items[:size] if isinstance(items, list) and isinstance(size, int) else items
        if obj.type == _HASHTABLE and "Keys" in members:
            keys, values = self._list(members["Keys"], depth), self._list(members.get("Values"), depth)
            return self._pairs(zip(keys, values, strict=False))  # a short Values list: its keys are dropped
        if obj.type.startswith(_DICTIONARY):
            pairs = self._list(members.get("KeyValuePairs"), depth)
            return self._pairs((p.get("key"), p.get("value")) for p in pairs if isinstance(p, dict))
        out: dict[str, object] = {"@type": obj.type}
        for name, value in members.items():
            out[member_name(name)] = self.value(value, depth + 1)
        return out

    def _list(self, value: object, depth: int) -> list[object]:
        items = self.value(value, depth)
        return items if isinstance(items, list) else []

    @staticmethod
    def _pairs(pairs: Iterator[tuple[object, object]]) -> list[object]:
        return [{"Key": key, "Value": value} for key, value in pairs]
