"""Pydantic models built and copied without validation, for the hot path (h11's ``_parsed`` idea).

The models stay the schema: the same fields in the same order, defaults, unknown and missing fields
refused; only the type checks are skipped, and the tests validate every line written against the schema.
"""

from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_IMMUTABLE = (type(None), bool, int, float, str, Decimal, tuple, frozenset)
_REQUIRED = object()  # in a template, where a required field must be given
# per model: every field in schema order with its default (or _REQUIRED), and the required names
_layouts: dict[type[BaseModel], tuple[dict[str, Any], frozenset[str]]] = {}


def construct(cls: type[M], /, **fields: Any) -> M:
    """A model from values already of the field types, without validation (h11's ``_parsed`` path).

    For the hot path only, where the values come from decoders that typed them (the iiko layer's
    normalised orders and lines, the sink's renumbered copies). The model stays the schema: the same
    fields in the same order (the JSON follows it), defaults for the fields not given, an unknown or a
    missing required field is a TypeError; only the type checks are skipped, and the tests validate
    every line written against the schema. The values are the template updated, which keeps its order.
    """
    values, required = _filled(cls, fields)
    if not fields.keys() >= required:
        raise TypeError(f"{cls.__name__}: required field {sorted(required - fields.keys())} not given")
    return _adopt(cls, values, set(fields))


def template(cls: type[BaseModel], /, **fixed: Any) -> dict[str, Any]:
    """Every field of ``cls`` in schema order with its default, ``fixed`` set: the dict a model made
    outside ``construct`` starts from (the core's event makers, ``decoders.nmf_events``), which set
    the rest. An unknown field is a TypeError, as in ``construct``."""
    return _filled(cls, fixed)[0]


def _filled(cls: type[BaseModel], fields: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """(every field in schema order, its default or ``fields``' value; the required names); TypeError
    for a name the model does not have."""
    layout, required = _layouts.get(cls) or _layout(cls)
    values = {**layout, **fields}
    if len(values) != len(layout):
        raise TypeError(f"{cls.__name__}: unknown fields {sorted(fields.keys() - layout.keys())}")
    return values, required


def replaced(model: M, /, **update: Any) -> M:
    """``model_copy(update=...)`` without its general machinery: a shallow copy with some fields set anew,
    unvalidated like ``model_copy`` (the sink's copy of an event it numbered before)."""
    return _adopt(type(model), {**model.__dict__, **update}, model.__pydantic_fields_set__ | update.keys())


def _adopt(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of ``cls`` holding ``values`` (every field, in schema order), unvalidated, as pydantic's
    frozen models allow it: through ``object.__setattr__`` (the core's event makers do the same)."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def number(model: M, /, **update: Any) -> M:
    """``replaced`` in place when ``model`` has no ``seq`` yet: the sink numbers every event once, as it
    takes it from the decoder that made it and before anyone else holds it, and a copy per event was 3–4 %
    of a replay. An event seen before (``seq`` set: written twice) is copied, so no line already written
    changes under its holder."""
    if model.__dict__.get("seq"):
        return replaced(model, **update)
    model.__dict__.update(update)
    model.__pydantic_fields_set__.update(update.keys())
    return model


def _layout(cls: type[BaseModel]) -> tuple[dict[str, Any], frozenset[str]]:
    """The fields in schema order with their defaults, which must be immutable (they are shared), and
    the required names."""
    template: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if info.is_required():
            template[name] = _REQUIRED
            continue
        default = info.get_default(call_default_factory=True)
        if not isinstance(default, _IMMUTABLE):
            raise TypeError(f"{cls.__name__}.{name}: a mutable default cannot be shared by construct()")
        template[name] = default
    _layouts[cls] = layout = (template, frozenset(n for n, v in template.items() if v is _REQUIRED))
    return layout
