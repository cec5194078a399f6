"""An event's JSON line, as pydantic writes it (``model_dump_json``), in the UTF-8 the sink writes.

Two writers give the same bytes: the core's (``EventWriter``, ``core/src/event_python.rs``) writes a
model's fields by their runtime types with pydantic-core's text rules, from a plan of each class made
here (``plan_of``), a body's ``JsonText`` as its text; pydantic-core itself (``pydantic_line``) writes
every line the core leaves alone — a class or a value outside what it knows, or every line without the
core — a ``JsonText`` body as its parsed value, which it writes back as that very text. pydantic's
serializer costs 4–12 µs an event (it calls back into Python for the timestamp and each body), the
core's about 1.
tests/test_lines.py holds the two to the same bytes on every event of the captures and on made ones.
"""

from decimal import Decimal
from functools import cache
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, PlainSerializer, WrapSerializer

from decoders.core import RUST
from decoders.events import Event, format_ts
from decoders.json_text import SERIALIZER, JsonText

# how the core writes a field (core/src/event_python.rs ``Kind``): by the value's type, or by the declared
# one where pydantic's JSON depends on it
ANY, TIME, FLOAT, INT, BODY = range(5)
_DECLARED = {float: FLOAT, int: INT}
# model_config keys that change nothing in a line; a class with any other is left to pydantic
_NEUTRAL_CONFIG = frozenset({"frozen", "extra", "title"})


def plan_of(cls: type) -> tuple[tuple[str, int], ...] | None:
    """The fields of a model class in schema order with how each is written, or None where the core must
    not write it: not a pydantic model, or one whose line depends on more than its fields' values and
    declared types (aliases, exclusions, custom serializers, computed fields, JSON settings)."""
    if not isinstance(cls, type) or not issubclass(cls, BaseModel):
        return None
    decorators = cls.__pydantic_decorators__
    if (
        not set(cls.model_config) <= _NEUTRAL_CONFIG
        or cls.model_computed_fields
        or decorators.field_serializers
        or decorators.model_serializers
    ):
        return None
    plan: list[tuple[str, int]] = []
    for name, info in cls.model_fields.items():
        if info.alias is not None or info.serialization_alias is not None or info.exclude:
            return None
        serializers = [m for m in info.metadata if isinstance(m, PlainSerializer | WrapSerializer)]
        if not serializers:
            plan.append((name, _declared(info.annotation)))
        elif serializers == [SERIALIZER]:
            plan.append((name, BODY))
        elif len(serializers) == 1 and serializers[0].func is format_ts and info.annotation is int:
            plan.append((name, TIME))
        else:
            return None
    return tuple(plan)


def _declared(annotation: Any) -> int:
    """FLOAT or INT for a field declared float or int (or optional), else ANY."""
    args = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    types = [a for a in args if a is not type(None)]
    return _DECLARED.get(types[0], ANY) if len(types) == 1 else ANY


WRITER: Any = None if RUST is None else RUST.EventWriter(plan_of, JsonText, Decimal)
"""The core's writer, or None: pydantic writes every line."""


def json_bytes(event: Event) -> bytes:
    """The event as one JSON object, null fields left out (``model_dump_json(exclude_none=True)``)."""
    if WRITER is not None and (line := WRITER.line(event, True)) is not None:
        return line  # type: ignore[no-any-return]
    return pydantic_line(event, exclude_none=True)


def json_bytes_all_fields(event: Event) -> bytes:
    """The event as one JSON object, every field (``--all-fields``)."""
    if WRITER is not None and (line := WRITER.line(event, False)) is not None:
        return line  # type: ignore[no-any-return]
    return pydantic_line(event, exclude_none=False)


@cache  # one entry per event model
def text_fields(model: type[Event]) -> tuple[str, ...]:
    """The names of the fields of this kind that may hold a body as JSON text, in schema order."""
    return tuple(name for name, info in model.model_fields.items() if SERIALIZER in info.metadata)


def pydantic_line(event: Event, exclude_none: bool) -> bytes:
    """The event's line by pydantic-core (a body given as JSON text is parsed to be written)."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=exclude_none)
