"""[MS-NRBF] 2.3–2.7 records: one complete BinaryFormatter stream → its objects by id, before resolution.

A stream is a SerializedStreamHeader, records, MessageEnd. Class records carry their values inline
(primitives raw, anything else as a nested record); a value may instead be a MemberReference to an
object written elsewhere, which ``decoders.nrbf_graph`` resolves once the stream is read. Class
metadata is remembered per object id, so a later ClassWithId reuses it (2.3.2.5). Payloads arrive whole
(an [MS-NRTP] frame's content), so records are read from ``bytes`` at a position, not streamed.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from .anomalies import DecodeError
from .nrbf_methods import read_method
from .nrbf_values import BYTE, FIXED_SIZES, NULL, PRIMITIVE_NAMES, STRING, ArrayType, BinaryType, RecordType, fixed_run
from .nrbf_values import read_primitive as _primitive
from .nrbf_values import read_string as _string

_I32 = struct.Struct("<i")
_HEADER = struct.Struct("<iiii")
MAX_RANK = 32  # .NET arrays have at most 32 dimensions


class Ref:
    """A MemberReference (2.5.3): the object with this id, resolved after the whole stream is read."""

    __slots__ = ("id",)

    def __init__(self, object_id: int) -> None:
        self.id = object_id


class Nulls:
    """ObjectNullMultiple(256) (2.5.5, 2.5.6): ``count`` consecutive null values."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count


@dataclass(slots=True)
class ClassObject:
    """A class instance: its type, library and member values in declaration order."""

    id: int
    type: str
    library: str | None
    names: tuple[str, ...]
    values: list[object]


@dataclass(slots=True)
class ArrayObject:
    """Any array record: items in row-major order, with the lengths of a rectangular one."""

    id: int
    items: list[object] | bytes
    lengths: tuple[int, ...] = ()


# A class's member plan: a run of fixed-size primitives read by one Struct (with their conversions), or one
# member of another BinaryType (with its additional info).
_Step = tuple[struct.Struct, tuple[Callable[[object], object] | None, ...]] | tuple[int, object]


@dataclass(slots=True)
class _ClassInfo:
    type: str
    library: str | None
    names: tuple[str, ...]
    plan: tuple[_Step, ...] | None  # how its member values are read; None: untyped (each one a record)


def _plan(types: tuple[tuple[int, object], ...]) -> tuple[_Step, ...]:
    """Steps for typed members: consecutive fixed-size primitives are read together (the hot path)."""
    steps: list[_Step] = []
    run: list[int] = []
    for kind, extra in (*types, (-1, None)):
        if kind == BinaryType.PRIMITIVE and extra in FIXED_SIZES:
            run.append(extra)  # type: ignore[arg-type]
            continue
        if run:
            steps.append(fixed_run(run))
            run = []
        if kind >= 0:
            steps.append((kind, extra))
    return tuple(steps)


@dataclass(slots=True)
class Stream:
    """What a stream holds: the header's root id, every object by id, method call/return records."""

    root_id: int = 0
    objects: dict[int, object] = field(default_factory=dict)
    calls: list[tuple[int, dict[str, object]]] = field(default_factory=list)  # (record type, fields)


class RecordReader:
    """Reads one stream's records; ``max_objects`` caps the values read (array items included)."""

    def __init__(self, data: bytes, max_objects: int) -> None:
        self.data = data
        self.pos = 0
        self.budget = max_objects
        self.stream = Stream()
        self._libraries: dict[int, str] = {}
        self._classes: dict[int, _ClassInfo] = {}

    def read(self) -> Stream:
        """Every record up to MessageEnd; anything else left over is an anomaly."""
        data = self.data
        if not data or data[0] != RecordType.SERIALIZED_STREAM_HEADER:
            raise DecodeError("nrbf_no_header", "stream does not start with SerializedStreamHeader", 0)
        if len(data) < 17:
            raise DecodeError("nrbf_truncated", "SerializedStreamHeader past the end", 0)
        root, _header, major, minor = _HEADER.unpack_from(data, 1)
        if (major, minor) != (1, 0):
            raise DecodeError("nrbf_bad_version", f"version {major}.{minor}", 1)
        self.stream.root_id = root
        self.pos = 17
        while True:
            if self.pos >= len(data):
                raise DecodeError("nrbf_truncated", "no MessageEnd", self.pos)
            if data[self.pos] == RecordType.MESSAGE_END:
                self.pos += 1
                return self.stream
            self.record()

    # --- records -----------------------------------------------------------------------------------

    def record(self) -> object:
        """The next record's value (an object record registers itself by id as well)."""
        start = self.pos
        rtype = self._byte()
        reader = self._readers.get(rtype)
        if reader is None:
            raise DecodeError("nrbf_unknown_record", f"record type {rtype}", start)
        self.budget -= 1
        if self.budget < 0:
            raise DecodeError("nrbf_too_many_objects", "object count limit reached", start)
        return reader(self)

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError("nrbf_truncated", "record past the end", self.pos)
        self.pos += 1
        return self.data[self.pos - 1]

    def _int(self) -> int:
        if self.pos + 4 > len(self.data):
            raise DecodeError("nrbf_truncated", "Int32 past the end", self.pos)
        (value,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return value

    def _count(self, what: str, items: bool = False) -> int:
        """A count: of array items or nulls (``items``: bounded by the object limit, since a run of nulls
        takes a few bytes), else of things that take a byte each at least (bounded by the stream)."""
        start = self.pos
        value = self._int()
        if value < 0:
            raise DecodeError("nrbf_bad_length", f"{what} {value}", start)
        if value > (self.budget if items else len(self.data)):
            name = "nrbf_too_many_objects" if items else "nrbf_bad_length"
            raise DecodeError(name, f"{what} {value}", start)
        return value

    def _str(self) -> str:
        value, self.pos = _string(self.data, self.pos)
        return value

    def _register(self, object_id: int, value: object) -> object:
        self.stream.objects[object_id] = value
        return value

    def _library(self) -> object:
        library_id = self._int()
        self._libraries[library_id] = self._str()
        return self.record()  # a library record only prefixes the record that uses it

    def _class_info(self) -> tuple[int, str, tuple[str, ...]]:
        object_id, name = self._int(), self._str()
        count = self._count("member count")
        return object_id, name, tuple(self._str() for _ in range(count))

    def _member_types(self, count: int) -> tuple[tuple[int, object], ...]:
        """2.3.1.2 MemberTypeInfo: the BinaryTypes, then each one's additional info."""
        start = self.pos
        kinds = self.data[self.pos : self.pos + count]
        if len(kinds) < count:
            raise DecodeError("nrbf_truncated", "member types past the end", start)
        self.pos += count
        return tuple((kind, self._additional(kind)) for kind in kinds)

    def _additional(self, kind: int) -> object:
        if kind in (BinaryType.PRIMITIVE, BinaryType.PRIMITIVE_ARRAY):
            code = self._byte()
            if code not in PRIMITIVE_NAMES or code in (NULL, STRING):
                raise DecodeError("nrbf_bad_primitive", f"primitive type {code}", self.pos - 1)
            return code
        if kind == BinaryType.SYSTEM_CLASS:
            return self._str()
        if kind == BinaryType.CLASS:
            return self._str(), self._int()
        if kind > BinaryType.PRIMITIVE_ARRAY:
            raise DecodeError("nrbf_bad_member_type", f"binary type {kind}", self.pos - 1)
        return None

    def _class(self, system: bool, typed: bool) -> object:
        object_id, name, names = self._class_info()
        plan = _plan(self._member_types(len(names))) if typed else None
        library = None if system else self._libraries.get(self._int())
        info = _ClassInfo(name, library, names, plan)
        self._classes[object_id] = info
        return self._members(object_id, info)

    def _class_with_id(self) -> object:
        start = self.pos
        object_id, metadata_id = self._int(), self._int()
        info = self._classes.get(metadata_id)
        if info is None:
            raise DecodeError("nrbf_unknown_metadata", f"ClassWithId refers to unknown {metadata_id}", start)
        return self._members(object_id, info)

    def _members(self, object_id: int, info: _ClassInfo) -> object:
        obj = ClassObject(object_id, info.type, info.library, info.names, [])
        self._register(object_id, obj)
        values = obj.values
        if info.plan is None:
            while len(values) < len(info.names):
                if self.pos < len(self.data) and self.data[self.pos] not in self._readers:
                    detail = (
                        f"{info.type}.{info.names[len(values)]} has no type in the stream (written with "
                        "TypesWhenNeeded): its value cannot be read without the type's assembly"
                    )
                    raise DecodeError("nrbf_untyped_member", detail, self.pos)
                self._append(values, self.record())
            del values[len(info.names) :]
            return obj
        data = self.data
        for first, second in info.plan:
            if isinstance(first, int):
                values.append(self._value(first, second))
                continue
            if self.pos + first.size > len(data):
                raise DecodeError("nrbf_truncated", "member values past the end", self.pos)
            raw = first.unpack_from(data, self.pos)
            self.pos += first.size
            converts: tuple = second  # type: ignore[assignment]
            values += [v if convert is None else convert(v) for v, convert in zip(raw, converts, strict=True)]
        return obj

    def _value(self, kind: int, extra: object) -> object:
        if kind == BinaryType.PRIMITIVE:
            value, self.pos = _primitive(extra, self.data, self.pos)  # type: ignore[arg-type]
            return value
        value = self.record()
        return None if isinstance(value, Nulls) else value

    @staticmethod
    def _append(values: list[object], value: object) -> None:
        if isinstance(value, Nulls):
            values.extend([None] * value.count)
        else:
            values.append(value)

    def _object_string(self) -> object:
        object_id = self._int()
        return self._register(object_id, self._str())

    def _member_primitive(self) -> object:
        code = self._byte()
        value, self.pos = _primitive(code, self.data, self.pos)
        return value

    def _items(self, count: int, kind: int, extra: object) -> list[object]:
        self.budget -= count
        if self.budget < 0:
            raise DecodeError("nrbf_too_many_objects", f"array of {count} past the object count limit", self.pos)
        items: list[object] = []
        if kind == BinaryType.PRIMITIVE:
            for _ in range(count):
                value, self.pos = _primitive(extra, self.data, self.pos)  # type: ignore[arg-type]
                items.append(value)
            return items
        while len(items) < count:
            self._append(items, self.record())
        if len(items) > count:
            raise DecodeError("nrbf_bad_length", f"nulls run past the array's {count} items", self.pos)
        return items

    def _primitive_array(self, object_id: int, count: int, code: int) -> object:
        if code == BYTE:  # byte[]: kept as bytes (base64 in JSON), read in one slice
            if self.pos + count > len(self.data):
                raise DecodeError("nrbf_truncated", "Byte array past the end", self.pos)
            self.pos += count
            return self._register(object_id, ArrayObject(object_id, self.data[self.pos - count : self.pos]))
        size = FIXED_SIZES.get(code, 1)
        if self.pos + count * size > len(self.data):
            raise DecodeError("nrbf_truncated", f"{PRIMITIVE_NAMES.get(code)} array past the end", self.pos)
        return self._register(object_id, ArrayObject(object_id, self._items(count, BinaryType.PRIMITIVE, code)))

    def _array_single_primitive(self) -> object:
        object_id, count = self._int(), self._count("array length", items=True)
        code = self._byte()
        if code not in PRIMITIVE_NAMES or code in (NULL, STRING):
            raise DecodeError("nrbf_bad_primitive", f"primitive type {code}", self.pos - 1)
        return self._primitive_array(object_id, count, code)

    def _array_single(self) -> object:
        object_id, count = self._int(), self._count("array length", items=True)
        array = ArrayObject(object_id, [])
        self._register(object_id, array)
        array.items = self._items(count, BinaryType.OBJECT, None)
        return array

    def _binary_array(self) -> object:
        """2.4.3.1 BinaryArray: any rank, jagged or rectangular, with or without lower bounds."""
        start = self.pos
        object_id, kind, rank = self._int(), self._byte(), self._int()
        if kind > ArrayType.RECTANGULAR_OFFSET or not 1 <= rank <= MAX_RANK:
            raise DecodeError("nrbf_bad_array", f"array type {kind}, rank {rank}", start)
        lengths = tuple(self._count("array length", items=True) for _ in range(rank))
        if kind in (ArrayType.SINGLE_OFFSET, ArrayType.JAGGED_OFFSET, ArrayType.RECTANGULAR_OFFSET):
            self.pos += 4 * rank  # lower bounds: the items are the same, only their indices shift
        item_kind = self._byte()
        extra = self._additional(item_kind)
        count = 1
        for length in lengths:
            count *= length
        if count > self.budget:
            raise DecodeError("nrbf_too_many_objects", f"array of {count} items", start)
        if item_kind == BinaryType.PRIMITIVE and rank == 1:
            return self._primitive_array(object_id, count, extra)  # type: ignore[arg-type]
        array = ArrayObject(object_id, [], lengths if rank > 1 else ())
        self._register(object_id, array)
        array.items = self._items(count, BinaryType.PRIMITIVE if item_kind == BinaryType.PRIMITIVE else 2, extra)
        return array

    def _reference(self) -> object:
        return Ref(self._int())

    def _null(self) -> object:
        return None

    def _nulls(self) -> object:
        return Nulls(self._count("null count", items=True))

    def _nulls256(self) -> object:
        return Nulls(self._byte())

    def _method(self, rtype: int) -> object:
        self.stream.calls.append((rtype, read_method(self, rtype)))
        return None

    def _header_again(self) -> object:
        raise DecodeError("nrbf_unexpected_record", "a second SerializedStreamHeader", self.pos - 1)

    _readers: ClassVar[dict[int, Callable[["RecordReader"], object]]] = {
        RecordType.SERIALIZED_STREAM_HEADER: _header_again,
        RecordType.CLASS_WITH_ID: _class_with_id,
        RecordType.SYSTEM_CLASS_WITH_MEMBERS: lambda self: self._class(True, False),
        RecordType.CLASS_WITH_MEMBERS: lambda self: self._class(False, False),
        RecordType.SYSTEM_CLASS_WITH_MEMBERS_AND_TYPES: lambda self: self._class(True, True),
        RecordType.CLASS_WITH_MEMBERS_AND_TYPES: lambda self: self._class(False, True),
        RecordType.BINARY_OBJECT_STRING: _object_string,
        RecordType.BINARY_ARRAY: _binary_array,
        RecordType.MEMBER_PRIMITIVE_TYPED: _member_primitive,
        RecordType.MEMBER_REFERENCE: _reference,
        RecordType.OBJECT_NULL: _null,
        RecordType.BINARY_LIBRARY: _library,
        RecordType.OBJECT_NULL_MULTIPLE_256: _nulls256,
        RecordType.OBJECT_NULL_MULTIPLE: _nulls,
        RecordType.ARRAY_SINGLE_PRIMITIVE: _array_single_primitive,
        RecordType.ARRAY_SINGLE_OBJECT: _array_single,
        RecordType.ARRAY_SINGLE_STRING: _array_single,
        RecordType.METHOD_CALL: lambda self: self._method(RecordType.METHOD_CALL),
        RecordType.METHOD_RETURN: lambda self: self._method(RecordType.METHOD_RETURN),
    }
