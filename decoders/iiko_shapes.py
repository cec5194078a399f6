"""The iiko rules compiled per object shape: for one tuple of keys, which keys may make the object a
UserEvent or an order snapshot (``Shape``, for every object walked) and which keys each normalised field
reads (``Fields``, only for objects normalised), the rules' aliases already resolved. Messages repeat a
few shapes (an order, its lines, a journal attribute) thousands of times, so this is worked out once per
shape and the per-object work is a dict lookup plus direct reads.
"""

from dataclasses import dataclass

from .iiko_json import Keys, local_name
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


def compile_shape(rules: Rules, names: dict[str, str], names_events: dict[str, bool], keys: Keys) -> Shape:
    """``names_events`` says which keys speak of UserEvents (cached by the caller, like ``names``)."""
    type_keys = _present(names, rules.type_fields)
    item_lists = _present(names, rules.item_lists)
    return Shape(
        type_keys=type_keys,
        xsi_type="@type" in keys,
        item_list=item_lists[0] if item_lists else None,
        candidate=bool(type_keys or item_lists) or "@type" in keys,
        children=tuple((key, names_events[key], local_name(key) in rules.event_names) for key in keys),
    )


def compile_fields(rules: Rules, names: dict[str, str], keys: Keys) -> Fields:
    def section(aliases_by_field: dict[str, Keys]) -> dict[str, Keys]:
        return {field: present for field, aliases in aliases_by_field.items() if (present := _present(names, aliases))}

    return Fields(
        order=section(rules.order),
        item=section(rules.item),
        item_lists=_present(names, rules.item_lists),
        attribute_lists=frozenset(key for key in keys if local_name(key) in rules.attribute_lists),
        attribute_name=_present(names, rules.attribute_name),
        attribute_value=_present(names, rules.attribute_value),
        carried=tuple((name, key) for name, key in names.items() if name not in rules.own_fields),
    )
