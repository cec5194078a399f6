"""The iiko rules compiled per object shape: for one tuple of keys, which keys may make the object a
UserEvent or an order snapshot and which keys each normalised field reads, the rules' aliases already
resolved. Messages repeat a few shapes (an order, its lines, a journal attribute) thousands of times, so
this is worked out once per shape and the per-object work is a dict lookup plus direct reads.
"""

from dataclasses import dataclass

from .iiko_json import local_name, name_plan
from .iiko_rules import Rules

Keys = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Shape:
    """What the rules make of objects with these keys (every key named is one the object has)."""

    names: dict[str, str]  # matching name → the key that gives it (``iiko_json.name_plan``)
    type_keys: Keys  # may hold a journal type, in the rules' ``type_fields`` order
    xsi_type: bool  # has an ``@type`` (i:type) attribute
    item_list: str | None  # the first item list the rules name: the object may be an order snapshot
    item_lists: Keys  # every item list it has, in the rules' order
    candidate: bool  # may be a UserEvent or a snapshot whatever its name: type keys, i:type or item list
    children: tuple[tuple[str, bool, bool], ...]  # (key, names UserEvents, is a UserEvent element name)
    attribute_lists: frozenset[str]  # keys holding name/value pairs
    attribute_name: Keys  # as a name/value pair: the keys of its name, then of its value
    attribute_value: Keys
    carried: tuple[tuple[str, str], ...]  # (name, key) of the fields a UserEvent carries (not its own)
    order: dict[str, Keys]  # normalised order field (and "revision") → the keys to try, in order
    item: dict[str, Keys]  # normalised line field → the keys to try, in order


def compile_shape(rules: Rules, names_events: dict[str, bool], keys: Keys) -> Shape:
    """The plan for one shape; ``names_events`` says which keys speak of UserEvents (cached by the caller)."""
    names = name_plan(keys)

    def present(aliases: Keys) -> Keys:
        return tuple(names[alias] for alias in aliases if alias in names)

    type_keys = present(rules.type_fields)
    item_lists = present(rules.item_lists)
    return Shape(
        names=names,
        type_keys=type_keys,
        xsi_type="@type" in keys,
        item_list=item_lists[0] if item_lists else None,
        item_lists=item_lists,
        candidate=bool(type_keys or item_lists) or "@type" in keys,
        children=tuple((key, names_events[key], local_name(key) in rules.event_names) for key in keys),
        attribute_lists=frozenset(key for key in keys if local_name(key) in rules.attribute_lists),
        attribute_name=present(rules.attribute_name),
        attribute_value=present(rules.attribute_value),
        carried=tuple((name, key) for name, key in names.items() if name not in rules.own_fields),
        order={field: present(aliases) for field, aliases in rules.order.items()},
        item={field: present(aliases) for field, aliases in rules.item.items()},
    )
