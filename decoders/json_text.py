"""A decoded body as the compiled core wrote it: JSON text, made into Python objects only when read.

The core renders a message body (a WCF body or fault detail, an iikoRMS XML body) as JSON text, the very
text the sink writes for it. Parsing it into objects only for the sink to serialise them again built each
message three times; a ``JsonText`` keeps the text, the core's event writer puts it into the line as it
is (``wirecap.lines``), redaction searches it (``wirecap.redact``), and the objects are made on the first
read of ``value`` (the iiko layer, a redaction that finds a secret name, ``model_dump``) and let go once
the event's line is written (``forget``): tens of MB for a 4000-line order, held by a batch's events.

The event models keep their schema: a ``JsonBody`` field is ``Any`` to pydantic, and its serializer
gives the parsed value, so ``model_dump``, ``model_dump_json`` and ``wirecap schema`` see what they saw
when the field held the objects. The pure-Python decoders still put objects in these fields.
"""

import json
from typing import Annotated, Any

import orjson
from pydantic import PlainSerializer

_UNPARSED: Any = object()


class JsonText:
    """JSON text from the core, UTF-8 encoded; ``value`` parses it once. Compares equal to its value."""

    __slots__ = ("_value", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._value = _UNPARSED

    @property
    def value(self) -> Any:
        if self._value is _UNPARSED:
            self._value = loads(self.data)
        return self._value

    def forget(self) -> None:
        """Drop the parsed objects (a read parses again): the text is what stays with the event."""
        self._value = _UNPARSED

    @property
    def parsed(self) -> bool:
        return self._value is not _UNPARSED

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, JsonText) else other)

    __hash__ = None  # type: ignore[assignment]  # its value (a dict, a list) is not hashable either

    def __reduce__(self) -> tuple[type["JsonText"], tuple[bytes]]:
        return JsonText, (self.data,)

    def __repr__(self) -> str:
        return f"JsonText({self.data!r})"


def loads(data: bytes) -> Any:
    """The objects of JSON text, as ``json.loads`` makes them: by orjson, 2.7× faster on the benchmarks'
    bodies (it reads the UTF-8 as it is; json decodes it to ``str`` first), and by json where orjson
    refuses the text, so that an error is json's own. The two differ on integers beyond 64 bits (orjson
    makes a float); the core writes none: its numbers are .NET's 64-bit integers and doubles (``Json`` in
    core/src/json.rs)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def from_core(data: bytes) -> Any:
    """A body field's value for the core's JSON text: None for ``null`` (an empty body), as the objects
    would be, so that the line leaves the field out as it did; else the text."""
    return None if data == b"null" else JsonText(data)


def plain(value: Any) -> Any:
    """The Python objects of a body field, whether it holds a ``JsonText`` or the objects already."""
    return value.value if type(value) is JsonText else value


SERIALIZER = PlainSerializer(plain)
JsonBody = Annotated[Any, SERIALIZER]
"""An event field holding a decoded body: the objects, or a ``JsonText`` serialised as its value."""
