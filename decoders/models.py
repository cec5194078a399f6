"""Pydantic models built and copied without validation, for the hot path (h11's ``_parsed`` idea).

The models stay the schema: the same fields in the same order, defaults, unknown and missing fields
refused; only the type checks are skipped, and the tests validate every line written against the schema.
"""

from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_IMMUTABLE = (type(None), bool, int, float, str, Decimal, tuple, frozenset)
_layouts: dict[type[BaseModel], tuple[tuple[str, ...], dict[str, Any]]] = {}


def construct(cls: type[M], /, **fields: Any) -> M:
    """A model from values already of the field types, without validation (h11's ``_parsed`` path).

    For the hot path only, where the values come from decoders that typed them (the iiko layer's
    normalised orders and lines, the sink's renumbered copies). The model stays the schema: the same
    fields in the same order (the JSON follows it), defaults for the fields not given, an unknown or a
    missing required field is a TypeError; only the type checks are skipped, and the tests validate
    every line written against the schema.
    """
    layout = _layouts.get(cls) or _layout(cls)
    names, defaults = layout
    try:
        values = {name: fields[name] if name in fields else defaults[name] for name in names}
    except KeyError as missing:
        raise TypeError(f"{cls.__name__}: required field {missing} not given") from None
    if not fields.keys() <= values.keys():
        raise TypeError(f"{cls.__name__}: unknown fields {sorted(fields.keys() - values.keys())}")
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def replaced(model: M, /, **update: Any) -> M:
    """``model_copy(update=...)`` without its general machinery: a shallow copy with some fields set anew,
    unvalidated like ``model_copy`` (the sink numbers every event this way)."""
    obj = type(model).__new__(type(model))
    object.__setattr__(obj, "__dict__", {**model.__dict__, **update})
    object.__setattr__(obj, "__pydantic_fields_set__", model.__pydantic_fields_set__ | update.keys())
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _layout(cls: type[BaseModel]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The field names in schema order and the defaults, which must be immutable (they are shared)."""
    defaults = {}
    for name, info in cls.model_fields.items():
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            if not isinstance(default, _IMMUTABLE):
                raise TypeError(f"{cls.__name__}.{name}: a mutable default cannot be shared by construct()")
            defaults[name] = default
    _layouts[cls] = layout = (tuple(cls.model_fields), defaults)
    return layout
