"""The iiko recognition rules: ``iiko_rules.toml`` shipped here, extended by the analyst's ``--rules`` files.

iiko does not publish its wire contracts, so what ``decoders.iiko`` looks for is data; this module reads
and checks it, and lower-cases every name once for matching.
"""

import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from .iiko_events import IikoItem, IikoOrder

DEFAULT_RULES = "iiko_rules.toml"
SECTIONS: dict[str, dict[str, type]] = {
    "user_event": {
        "element_names": list,
        "type_fields": list,
        "types": list,
        "item_types": list,
        "attribute_lists": list,
        "attribute_name": list,
        "attribute_value": list,
        "own_fields": list,
    },
    "order": {k: list for k in (*IikoOrder.model_fields, "revision")},
    "item": {k: list for k in IikoItem.model_fields},
    "display": {"table": list, "default": list},
    "snapshot": {"item_lists": list},
    "lock": {"lock": str, "unlock": str, "ignore": str},
    "remoting_arguments": {},  # open: any method name → its parameter names
}
OPEN_SECTIONS = frozenset({"remoting_arguments"})  # sections whose keys are names from the wire


class RulesError(ValueError):
    """A rules file is not valid TOML or names an unknown section or key."""


def _names(values: list[str]) -> tuple[str, ...]:
    return tuple(v.lower() for v in values)


@dataclass(frozen=True)
class Rules:
    """The recognition rules, names lower-cased for matching."""

    event_names: frozenset[str]
    type_fields: tuple[str, ...]
    types: dict[str, str]  # lower-cased → as iiko spells it
    item_types: frozenset[str]
    attribute_lists: tuple[str, ...]
    attribute_name: tuple[str, ...]
    attribute_value: tuple[str, ...]
    own_fields: frozenset[str]
    order: dict[str, tuple[str, ...]]
    item: dict[str, tuple[str, ...]]
    display: dict[str, tuple[str, ...]]
    item_lists: tuple[str, ...]
    lock: re.Pattern[str]
    unlock: re.Pattern[str]
    not_lock: re.Pattern[str]
    remoting_arguments: dict[str, tuple[str, ...]]  # lower-cased method name → parameter names as declared


def default_rules_text() -> str:
    """The rules shipped with wirecap."""
    return files(__package__).joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(texts: list[str]) -> Rules:
    """Rules from TOML texts, the first usually ``default_rules_text()``; later texts override or extend."""
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for number, text in enumerate(texts, 1):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"rules file {number}: {exc}") from None
        extend = data.pop("extend", {})
        for section, values in data.items():
            for key, value in _checked(number, section, values).items():
                merged[section][key] = value
        for section, values in extend.items():
            for key, value in _checked(number, f"extend.{section}", values, section).items():
                if not isinstance(value, list):
                    raise RulesError(f"rules file {number}: extend.{section}.{key} must be a list")
                merged[section][key] = [*merged[section].get(key, []), *value]
    return _build(merged)


def _checked(number: int, where: str, values: Any, section: str | None = None) -> dict[str, Any]:
    schema = SECTIONS.get(section or where)
    if schema is None or not isinstance(values, dict):
        raise RulesError(f"rules file {number}: unknown section [{where}]")
    for key, value in values.items():
        expected = list if (section or where) in OPEN_SECTIONS else schema.get(key)
        if expected is None:
            raise RulesError(f"rules file {number}: unknown key {key!r} in [{where}]")
        if not isinstance(value, expected) or (expected is list and not all(isinstance(v, str) for v in value)):
            raise RulesError(f"rules file {number}: {where}.{key} must be a {expected.__name__} of strings")
    return values


def _build(merged: dict[str, dict[str, Any]]) -> Rules:
    user_event, lock = merged["user_event"], merged["lock"]
    try:
        lock_re, unlock_re, not_lock_re = (re.compile(lock.get(key, "$^")) for key in ("lock", "unlock", "ignore"))
    except re.error as exc:
        raise RulesError(f"[lock]: {exc}") from None
    return Rules(
        event_names=frozenset(_names(user_event.get("element_names", []))),
        type_fields=_names(user_event.get("type_fields", [])),
        types={t.lower(): t for t in user_event.get("types", [])},
        item_types=frozenset(_names(user_event.get("item_types", []))),
        attribute_lists=_names(user_event.get("attribute_lists", [])),
        attribute_name=_names(user_event.get("attribute_name", [])),
        attribute_value=_names(user_event.get("attribute_value", [])),
        own_fields=frozenset(_names(user_event.get("own_fields", []))),
        order={k: _names(v) for k, v in merged["order"].items()},
        item={k: _names(v) for k, v in merged["item"].items()},
        display={k: _names(v) for k, v in merged["display"].items()},
        item_lists=_names(merged["snapshot"].get("item_lists", [])),
        lock=lock_re,
        unlock=unlock_re,
        not_lock=not_lock_re,
        remoting_arguments={k.lower(): tuple(v) for k, v in merged["remoting_arguments"].items()},
    )
