"""Reading the decoded messages' JSON by name, as the iiko rules name things: case, XML prefixes,
namespaces and dotted prefixes ignored; collections unwrapped; money as Decimal."""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
Keys = tuple[str, ...]


_ABSENT: Any = object()


class Bounded(dict[K, V], Generic[K, V]):
    """A table of what a peer sends (object shapes, names, numbers, order lines), which is endless while
    the memory is not: at most ``limit`` entries, and the ``limit`` before them kept as the previous
    generation, from which a key is ``recall``-ed into this one. A hit is a plain dict lookup.

    Starting over at the limit, as it did before, recomputed everything at every message once the
    entries in use outnumbered the limit: the benchmarks' 4000-line order beside a few other orders
    normalised all its lines at every sync, 2.9 of 7 s per 100 k packets. Two generations keep a working
    set of up to ``limit`` entries found, and one of up to twice that mostly found.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.previous: dict[K, V] = {}

    def put(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.previous = dict(self)
            self.clear()
        self[key] = value
        return value

    def recall(self, key: K, default: Any = None) -> Any:
        """The value of ``key`` in the previous generation, put into this one; ``default`` if absent."""
        value = self.previous.get(key, _ABSENT)
        return default if value is _ABSENT else self.put(key, value)

    def lookup(self, key: K) -> V | None:
        """The value of ``key`` in this generation or the previous one (recalled); None if in neither."""
        value = self.get(key)
        return self.recall(key) if value is None else value


class Memo(Bounded[K, V]):
    """A bounded table whose values are computed from their keys on first lookup."""

    def __init__(self, compute: Callable[[K], V], limit: int) -> None:
        super().__init__(limit)
        self.compute = compute

    def __missing__(self, key: K) -> V:
        value = self.recall(key, _ABSENT)
        return self.put(key, self.compute(key)) if value is _ABSENT else value  # type: ignore[no-any-return]


def local_name(name: str) -> str:
    """``{ns}a:Resto.Data.UserEvent`` → ``userevent``: namespace, prefix and dotted path dropped."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)[-1].lstrip("@").lower()


def name_plan(keys: tuple[str, ...], local: Callable[[str], str] = local_name) -> dict[str, str]:
    """Matching name → the key that gives it, for an object with these keys: the first child element,
    else the first XML attribute (``@name``) of that name. ``local``: ``local_name``, maybe cached."""
    winners: dict[str, str] = {}
    for key in keys:
        if not key.startswith("@"):
            winners.setdefault(local(key), key)
    for key in keys:
        if key.startswith("@"):
            winners.setdefault(local(key), key)
    return winners


def first_of(fields: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The first of ``names`` that ``fields`` holds a value for (absent, None and "" are no value)."""
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            return value
    return None


def first_values(obj: dict[str, Any], keys: dict[str, Keys]) -> dict[str, Any]:
    """``first_of`` for every field at once: field → the first of its keys (all present in ``obj``) with
    a value; fields with none are left out."""
    found: dict[str, Any] = {}
    for field, candidates in keys.items():
        for key in candidates:
            value = obj[key]
            if value is not None and value != "":
                found[field] = value
                break
    return found


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


def parse_decimal(text: str) -> Decimal | None:
    """A decimal written as text (``"1 280,50"``), None if it is not a finite number."""
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


class Reader:
    """Scalars out of message JSON, with the per-shape name plans and the parsed decimals cached
    (bounded): an order's lines repeat one shape and the same prices thousands of times."""

    def __init__(self, limit: int) -> None:
        self.local: Memo[str, str] = Memo(local_name, limit)
        self.names: Memo[tuple[str, ...], dict[str, str]] = Memo(
            lambda keys: name_plan(keys, self.local.__getitem__), limit
        )
        self.decimals: Memo[str, Decimal | None] = Memo(parse_decimal, limit)

    def fields(self, obj: dict[str, Any]) -> dict[str, Any]:
        """An object's fields by matching name (``name_plan``, cached per shape)."""
        return {name: obj[key] for name, key in self.names[tuple(obj)].items()}

    def text(self, value: Any, display: tuple[str, ...]) -> str | None:
        """A scalar, or the display field of an object (first of a list), as text."""
        if value is None or value.__class__ is str:
            return value  # type: ignore[no-any-return]
        value = unwrap(value)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            names = self.names[tuple(value)]
            value = first_of(value, tuple(names[n] for n in display if n in names))
        if value is None or isinstance(value, dict | list):
            return None
        return str(value).lower() if isinstance(value, bool) else str(value)

    def number(self, value: Any) -> Decimal | None:
        """Money and amounts as Decimal: the scale iiko sent is kept and nothing is rounded."""
        if value is None:
            return None
        if isinstance(value, str):
            return self.decimals[value]
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, float):
            return Decimal(repr(value))  # the shortest text that reads back as this double
        return None
