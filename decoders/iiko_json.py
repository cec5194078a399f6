"""Reading the decoded messages' JSON by name, as the iiko rules name things: case, XML prefixes,
namespaces and dotted prefixes ignored; collections unwrapped; money as Decimal."""

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

MAX_SHAPES = 4096  # object shapes (tuples of keys) whose name plan is kept; the cache starts over past it


@lru_cache(maxsize=8192)
def local_name(name: str) -> str:
    """``{ns}a:Resto.Data.UserEvent`` → ``userevent``: namespace, prefix and dotted path dropped."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)[-1].lstrip("@").lower()


_plans: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}


def by_name(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's fields by matching name; child elements win over XML attributes of the same name.

    Messages repeat a few shapes (an order line, a journal attribute) thousands of times, so which key
    gives which name is worked out once per shape (the keys in order) and only looked up after that.
    """
    shape = tuple(obj)
    plan = _plans.get(shape)
    if plan is None:
        plan = _plan(shape)
    return {name: obj[key] for name, key in plan}


def _plan(shape: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(matching name, key) for the key that wins each name: the first element, else the first attribute."""
    winners: dict[str, str] = {}
    for key in shape:
        if not key.startswith("@"):
            winners.setdefault(local_name(key), key)
    for key in shape:
        if key.startswith("@"):
            winners.setdefault(local_name(key), key)
    plan = tuple(winners.items())
    if len(_plans) >= MAX_SHAPES:
        _plans.clear()
    _plans[shape] = plan
    return plan


def first_of(fields: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            return value
    return None


def unwrap(value: Any) -> Any:
    """A collection as the XML→JSON conversion leaves it ({"i": {...}}, {"Item": [...]}) → its content."""
    while isinstance(value, dict) and len(value) == 1:
        inner = next(iter(value.values()))
        if not isinstance(inner, dict | list):
            break
        value = inner
    return value


def as_list(value: Any) -> list[Any]:
    value = unwrap(value)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def as_text(value: Any, display: tuple[str, ...]) -> str | None:
    """A scalar, or the display field of an object (first of a list), as text."""
    value = unwrap(value)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = first_of(by_name(value), display)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def as_number(value: Any) -> Decimal | None:
    """Money and amounts as Decimal: the scale iiko sent is kept and nothing is rounded."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that reads back as this double
    if isinstance(value, str):
        return _decimal(value)
    return None


@lru_cache(maxsize=8192)
def _decimal(text: str) -> Decimal | None:
    """A decimal written as text (``"1 280,50"``); cached, since an order's amounts and prices repeat and a
    Decimal is immutable."""
    try:
        number = Decimal(text.replace(",", ".").replace("\u00a0", "").replace(" ", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def as_flag(value: Any) -> bool | None:
    """true/1/a non-empty name or time → True; false/0/empty → False; absent → None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return text not in ("", "false", "0", "none", "null")
