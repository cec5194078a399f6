"""The iiko rules compiled per object shape: for one tuple of keys, which keys may make the object a
UserEvent or an order snapshot (``Shape``, for every object walked) and which keys each normalised field
reads (``Fields``, only for objects normalised), the rules' aliases already resolved. Messages repeat a
few shapes (an order, its lines, a journal attribute) thousands of times, so this is worked out once per
shape and the per-object work is a dict lookup plus direct reads.
"""

from dataclasses import dataclass

from .iiko_json import Keys
from .iiko_rules import Rules


@dataclass(frozen=True, slots=True)
class Shape:
    """What recognition needs of objects with these keys (every key named is one they have)."""

    type_keys: Keys  # may hold a journal type, in the rules' ``type_fields`` order
    xsi_type: bool  # has an ``@type`` (i:type) attribute
    item_list: str | None  # the first item list the rules name: the object may be an order snapshot
    candidate: bool  # may be a UserEvent or a snapshot whatever its name: type keys, i:type or item list
    children: tuple[tuple[str, bool, bool], ...]  # (key, names UserEvents, is a UserEvent element name)


@dataclass(frozen=True, slots=True)
class Fields:
    """Where the normalised fields of objects with these keys are (every key named is one they have)."""

    order: dict[str, Keys]  # normalised order field (and "revision") → the keys to try, if it has any
    item: dict[str, Keys]  # normalised line field → the keys to try, if it has any
    item_lists: Keys  # the item lists it has, in the rules' order
    attribute_lists: frozenset[str]  # keys holding a UserEvent's name/value pairs
    attribute_name: Keys  # as a name/value pair: the keys of its name, then of its value
    attribute_value: Keys
    carried: tuple[tuple[str, str], ...]  # (name, key) of what a UserEvent carries: all but its own fields


def _present(names: dict[str, str], aliases: Keys) -> Keys:
    """The keys giving these names, in the rules' order (``names``: ``iiko_json.name_plan`` of the shape)."""
    return tuple(names[alias] for alias in aliases if alias in names)


def compile_shape(
    rules: Rules, names: dict[str, str], names_events: dict[str, bool], local: dict[str, str], keys: Keys
) -> Shape:
    """``names`` (``iiko_json.name_plan``), ``names_events`` (which keys speak of UserEvents) and ``local``
    (``local_name``) come from the caller's tables."""
    type_keys = _present(names, rules.type_fields)
    item_lists = _present(names, rules.item_lists)
    return Shape(
        type_keys=type_keys,
        xsi_type="@type" in keys,
        item_list=item_lists[0] if item_lists else None,
        candidate=bool(type_keys or item_lists) or "@type" in keys,
        children=tuple((key, names_events[key], local[key] in rules.event_names) for key in keys),
    )


AliasIndex = dict[str, tuple[tuple[str, int], ...]]  # name → (field, rank among its aliases) of a rules section


def alias_index(section: dict[str, Keys]) -> AliasIndex:
    """A rules section by alias: a shape has a few names, the rules many aliases, so a shape's plan is
    found from its names."""
    index: dict[str, list[tuple[str, int]]] = {}
    for field, aliases in section.items():
        for rank, alias in enumerate(aliases):
            index.setdefault(alias, []).append((field, rank))
    return {alias: tuple(entries) for alias, entries in index.items()}


def _section(index: AliasIndex, names: dict[str, str]) -> dict[str, Keys]:
    """Field → the keys giving its aliases, in the rules' order, for the fields the shape has."""
    found: dict[str, list[tuple[int, str]]] = {}
    for name, key in names.items():
        for field, rank in index.get(name, ()):
            found.setdefault(field, []).append((rank, key))
    return {field: tuple(key for _, key in sorted(ranked)) for field, ranked in found.items()}


def compile_fields(
    rules: Rules, indexes: tuple[AliasIndex, AliasIndex], names: dict[str, str], local: dict[str, str], keys: Keys
) -> Fields:
    """``indexes``: ``alias_index`` of the rules' order and item sections; the rest as for ``compile_shape``."""
    return Fields(
        order=_section(indexes[0], names),
        item=_section(indexes[1], names),
        item_lists=_present(names, rules.item_lists),
        attribute_lists=frozenset(key for key in keys if local[key] in rules.attribute_lists),
        attribute_name=_present(names, rules.attribute_name),
        attribute_value=_present(names, rules.attribute_value),
        carried=tuple((name, key) for name, key in names.items() if name not in rules.own_fields),
    )
