"""iiko order activity recognised in decoded messages: UserEvents, order snapshots, order locks.

iikoFront reports what happens to open orders as UserEvents (type ids of iiko's event journal, with
``attribute`` name/value pairs), terminals sync whole orders with the main cash over WCF, and opening an
order locks it elsewhere. Nobody publishes the wire contracts, so what to look for is data: the rules
file (``iiko_rules.toml`` shipped here, extended by the analyst's ``--rules`` files) names the elements,
type ids and field names; this module only walks the JSON that the WCF, HTTP and Remoting decoders
produce and applies them.

``OrderTracker`` is a sink analyzer: it sees every numbered event and returns ``iiko.*`` events
citing the source message (``source.seq``). From successive snapshots of one order it derives the item
events (added, deleted before/after the kitchen ticket, amount changed) so that terminal sync alone
still yields the item stream. Sans-I/O: the caller reads the rules files.
"""

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from typing import Any

from .events import (
    ConnEvent,
    Event,
    IikoEvent,
    IikoItem,
    IikoOrder,
    IikoOrderLock,
    IikoOrderSnapshot,
    IikoOrderUnlock,
    IikoSource,
    RmsCall,
    WcfMessage,
)

DEFAULT_RULES = "iiko_rules.toml"
MAX_DEPTH = 64  # JSON nesting walked per message
MAX_ORDERS = 10_000  # snapshots remembered for derivation (oldest forgotten first)
CONN_FIELDS = ("uid", "community_id", "orig", "resp", "orig_h", "orig_p", "resp_h", "resp_p")
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
}


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
        expected = schema.get(key)
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
    )


# --- reading JSON by name -----------------------------------------------------------------------------


def local_name(name: str) -> str:
    """``{ns}a:Resto.Data.UserEvent`` → ``userevent``: namespace, prefix and dotted path dropped."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)[-1].lstrip("@").lower()


_QUALIFIED = re.compile(r"[}:.@]")


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's fields by matching name; child elements win over XML attributes of the same name."""
    out: dict[str, Any] = {}
    attributes: list[tuple[str, Any]] = []
    for key, value in obj.items():
        if not _QUALIFIED.search(key):  # the common case: a plain member name
            out.setdefault(key.lower(), value)
        elif key.startswith("@"):
            attributes.append((key, value))
        else:
            out.setdefault(local_name(key), value)
    for key, value in attributes:
        out.setdefault(local_name(key), value)
    return out


def _first(fields: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            return value
    return None


def _unwrap(value: Any) -> Any:
    """A collection as the XML→JSON conversion leaves it ({"i": {...}}, {"Item": [...]}) → its content."""
    while isinstance(value, dict) and len(value) == 1:
        inner = next(iter(value.values()))
        if not isinstance(inner, dict | list):
            break
        value = inner
    return value


def _as_list(value: Any) -> list[Any]:
    value = _unwrap(value)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any, display: tuple[str, ...]) -> str | None:
    """A scalar, or the display field of an object (first of a list), as text."""
    value = _unwrap(value)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = _first(_fields(value), display)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: Any) -> Decimal | None:
    """Money and amounts as Decimal: the scale iiko sent is kept and nothing is rounded."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that reads back as this double
    if isinstance(value, str):
        try:
            number = Decimal(value.replace(",", ".").replace("\u00a0", "").replace(" ", ""))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _flag(value: Any) -> bool | None:
    """true/1/a non-empty name or time → True; false/0/empty → False; absent → None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return text not in ("", "false", "0", "none", "null")


@dataclass(frozen=True)
class _Found:
    """One thing recognised in a message."""

    what: str  # "event" | "snapshot"
    obj: dict[str, Any]
    type: str | None = None


class Recogniser:
    """Applies the rules to one message's JSON."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.item_marks = (rules.item.get("product", ()), rules.item.get("amount", ()))

    def find(self, value: Any, name: str = "", depth: int = 0, in_events: bool = False) -> list[_Found]:
        """UserEvents and order snapshots in ``value`` (found under key ``name``), outermost first.

        ``in_events``: ``value`` sits in a UserEvent-named method, argument or object, where an object
        with a type and an order id is a UserEvent even if its type is not in the rules (a newer build's).
        """
        if depth > MAX_DEPTH:
            return []
        in_events = in_events or self.names_events(name)
        if isinstance(value, list):
            return [found for item in value for found in self.find(item, name, depth + 1, in_events)]
        if not isinstance(value, dict):
            return []
        fields = _fields(value)
        event_type = self._event_type(fields, name, value.get("@type"))
        if event_type is None and in_events:
            event_type = self._unknown_event_type(value, fields)
        if event_type is not None:
            return [_Found("event", value, event_type)]
        if self._is_snapshot(fields):
            return [_Found("snapshot", value)]
        return [found for key, child in value.items() for found in self.find(child, key, depth + 1, in_events)]

    def names_events(self, name: str) -> bool:
        """Whether a method, argument or element name speaks of UserEvents (``saveUserEvents``, ``userEvent``)."""
        local = local_name(name)
        return any(event_name in local for event_name in self.rules.event_names)

    def _unknown_event_type(self, obj: dict[str, Any], fields: dict[str, Any]) -> str | None:
        """The type, verbatim, of an object that has one and carries an order id (in its fields or its
        attribute pairs; the event's own ``id`` is not the order's)."""
        rules = self.rules
        event_type = next((t for t in (fields.get(f) for f in rules.type_fields) if isinstance(t, str) and t), None)
        if event_type is None:
            return None
        carried = {k: v for k, v in _fields(self.attributes(obj)).items() if k not in rules.own_fields}
        return event_type if _first(carried, rules.order.get("id", ())) is not None else None

    def _event_type(self, fields: dict[str, Any], name: str, xsi_type: Any) -> str | None:
        """The journal type id if the object is a UserEvent (by its type value, element name or i:type)."""
        rules = self.rules
        types = [fields.get(field) for field in rules.type_fields]
        for value in types:
            if isinstance(value, str) and value.lower() in rules.types:
                return rules.types[value.lower()]
        names = [name, xsi_type if isinstance(xsi_type, str) else "", *(t for t in types if isinstance(t, str))]
        if not any(local_name(n) in rules.event_names for n in names):
            return None
        own = [t for t in types if isinstance(t, str) and t and local_name(t) not in rules.event_names]
        return own[0] if own else "UserEvent"

    def _is_snapshot(self, fields: dict[str, Any]) -> bool:
        rules = self.rules
        if _first(fields, rules.order.get("id", ())) is None:
            return False
        present = [fields[name] for name in rules.item_lists if name in fields]
        if not present:
            return False
        lines = [line for line in _as_list(present[0]) if line != ""]
        if not lines:  # an order with no lines yet (an empty element): its number or status must show it
            return any(_first(fields, rules.order.get(key, ())) is not None for key in ("number", "status"))
        # Lines of one list share a shape: the first decides, the rest need only be objects.
        return all(isinstance(line, dict) for line in lines) and self._is_item(_fields(lines[0]))

    def _is_item(self, fields: dict[str, Any]) -> bool:
        product, amount = self.item_marks
        return _first(fields, product) is not None and _first(fields, amount) is not None

    # --- normalising ---

    def attributes(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A UserEvent's attributes: its fields and its name/value pairs, names as received."""
        rules = self.rules
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if local_name(key) not in rules.attribute_lists:
                out[key] = value
                continue
            for pair in _as_list(value):
                pair_fields = _fields(pair) if isinstance(pair, dict) else {}
                pair_name = _first(pair_fields, rules.attribute_name)
                if isinstance(pair_name, str):
                    out[pair_name] = _first(pair_fields, rules.attribute_value)
        return out

    def order(self, fields: dict[str, Any]) -> IikoOrder:
        names = self.rules.order
        default = self.rules.display.get("default", ())
        table = self.rules.display.get("table", default)
        guests = _number(_first(fields, names.get("guests", ())))
        return IikoOrder(
            id=_text(_first(fields, names.get("id", ())), ("id",)),
            number=_text(_first(fields, names.get("number", ())), default),
            table=_text(_first(fields, names.get("table", ())), table),
            waiter=_text(_first(fields, names.get("waiter", ())), default),
            guests=int(guests) if guests is not None else None,
            status=_text(_first(fields, names.get("status", ())), default),
            sum=_number(_first(fields, names.get("sum", ()))),
            open_time=_text(_first(fields, names.get("open_time", ())), default),
            terminal=_text(_first(fields, names.get("terminal", ())), default),
        )

    def item(self, fields: dict[str, Any]) -> IikoItem:
        names = self.rules.item
        default = self.rules.display.get("default", ())
        product = _unwrap(_first(fields, names.get("product", ())))
        product_id = _first(fields, names.get("product_id", ()))
        if product_id is None and isinstance(product, dict):
            product_id = _fields(product).get("id")
        return IikoItem(
            position_id=_text(_first(fields, names.get("position_id", ())), ("id",)),
            product_id=_text(product_id, ("id",)),
            product=_text(product, default),
            amount=_number(_first(fields, names.get("amount", ()))),
            price=_number(_first(fields, names.get("price", ()))),
            sum=_number(_first(fields, names.get("sum", ()))),
            deleted=_flag(_first(fields, names.get("deleted", ()))),
            printed=_flag(_first(fields, names.get("printed", ()))),
        )

    def items(self, fields: dict[str, Any]) -> list[IikoItem]:
        lines = _as_list(_first(fields, self.rules.item_lists))
        return [self.item(_fields(line)) for line in lines if isinstance(line, dict)]

    def revision(self, fields: dict[str, Any]) -> str | None:
        return _text(_first(fields, self.rules.order.get("revision", ())), ("id",))

    def lock_change(self, names: list[str]) -> tuple[bool, str] | None:
        """(is_unlock, the name that said so) for the first name matching the lock rules."""
        for name in names:
            if self.rules.not_lock.search(name):
                continue
            if self.rules.unlock.search(name):
                return True, name
            if self.rules.lock.search(name):
                return False, name
        return None


def _transport(event: Event) -> str | None:
    if isinstance(event, WcfMessage):
        return "wcf"
    if isinstance(event, RmsCall):
        return "http"
    if event.kind.startswith("remoting."):
        return "remoting"
    return None


def _payloads(event: Event) -> list[Any]:
    """The decoded message content of a source event."""
    if isinstance(event, WcfMessage):
        return [event.body]
    if isinstance(event, RmsCall):
        return [event.request, event.response]
    base = set(ConnEvent.model_fields) | {"dir"}
    return [event.model_dump(exclude=base)]


def _operation_names(event: Event, payloads: list[Any]) -> list[str]:
    """Names that may say "lock": the WCF action's last segment, the body element, the call method."""
    names: list[str] = []
    if isinstance(event, WcfMessage):
        names += [(event.action or "").rsplit("/", 1)[-1], event.body_element or ""]
    elif isinstance(event, RmsCall):
        names += [event.method_name or ""]
    for payload in payloads:
        if isinstance(payload, dict) and len(payload) == 1:
            names.append(next(iter(payload)))
    return [n for n in names if n]


class OrderTracker:
    """Sink analyzer: iiko events from decoded messages, item events derived from order snapshots."""

    def __init__(self, rules: Rules) -> None:
        self.recogniser = Recogniser(rules)
        self.last: dict[str, IikoOrderSnapshot] = {}  # order id → latest snapshot, insertion-ordered
        self.locked: dict[str, bool] = {}  # order id → locked, to report each lock once

    def observe(self, event: Event) -> list[Event]:
        transport = _transport(event)
        if transport is None or not isinstance(event, ConnEvent):
            return []
        payloads = _payloads(event)
        source = IikoSource(uid=event.uid, seq=event.seq, transport=transport)  # type: ignore[arg-type]
        common = {"ts": event.ts, "source": source, **{k: getattr(event, k) for k in CONN_FIELDS}}
        out: list[Event] = []
        in_events = any(self.recogniser.names_events(name) for name in _operation_names(event, payloads))
        found = [f for payload in payloads for f in self.recogniser.find(payload, in_events=in_events)]
        for item in found:
            if item.what == "event":
                out.append(self._user_event(item, common))
            else:
                out += self._snapshot(item, common)
        if not found:
            out += self._lock(event, payloads, common)
        return out

    def _user_event(self, found: _Found, common: dict[str, Any]) -> IikoEvent:
        recogniser = self.recogniser
        attributes = recogniser.attributes(found.obj)
        fields = {k: v for k, v in _fields(attributes).items() if k not in recogniser.rules.own_fields}
        items = recogniser.items(fields)
        order = recogniser.order(fields)
        if not items and found.type and found.type.lower() in recogniser.rules.item_types:
            line = recogniser.item(fields)
            if line.product is not None:
                items = [line]
                if order.sum == line.sum:  # the journal's `sum` of an item event is the line's
                    order = order.model_copy(update={"sum": None})
        return IikoEvent(type=found.type or "UserEvent", order=order, items=items, attributes=attributes, **common)

    def _snapshot(self, found: _Found, common: dict[str, Any]) -> list[Event]:
        recogniser = self.recogniser
        fields = _fields(found.obj)
        snapshot = IikoOrderSnapshot(
            order=recogniser.order(fields),
            items=recogniser.items(fields),
            revision=recogniser.revision(fields),
            **common,
        )
        out: list[Event] = [snapshot]
        order_id = snapshot.order.id or ""
        previous = self.last.get(order_id)
        if previous is not None and _older(snapshot.revision, previous.revision):
            return out  # a stale copy (e.g. a terminal's list at registration): nothing changed since
        self.last.pop(order_id, None)
        if previous is not None:
            out += [
                IikoEvent(type=kind, order=snapshot.order, items=[line], attributes={}, derived=True, **common)
                for kind, line in item_changes(previous.items, snapshot.items)
            ]
        self.last[order_id] = snapshot
        if len(self.last) > MAX_ORDERS:
            del self.last[next(iter(self.last))]
        return out

    def _lock(self, event: Event, payloads: list[Any], common: dict[str, Any]) -> list[Event]:
        change = self.recogniser.lock_change(_operation_names(event, payloads))
        if change is None:
            return []
        is_unlock, operation = change
        order = self._order_in(payloads)
        if order.id is not None:
            if self.locked.get(order.id) == (not is_unlock):
                return []  # no change: e.g. the main cash telling the other terminal of a lock already seen
            self.locked.pop(order.id, None)
            self.locked[order.id] = not is_unlock
            if len(self.locked) > MAX_ORDERS:
                del self.locked[next(iter(self.locked))]
        cls = IikoOrderUnlock if is_unlock else IikoOrderLock
        return [cls(order_id=order.id, terminal=order.terminal, operation=operation, **common)]

    def _order_in(self, payloads: list[Any]) -> IikoOrder:
        """The order a lock message is about: the first object (depth-first) that names an order id."""
        stack = list(reversed(payloads))
        while stack:
            value = stack.pop()
            if isinstance(value, list):
                stack.extend(reversed(value))
            elif isinstance(value, dict):
                order = self.recogniser.order(_fields(value))
                if order.id is not None:
                    return order
                stack.extend(reversed(list(value.values())))
        return IikoOrder()


def _older(revision: str | None, than: str | None) -> bool:
    """Whether a snapshot's revision is below the last one seen (both numeric), i.e. stale."""
    try:
        return revision is not None and than is not None and int(revision) < int(than)
    except ValueError:
        return False


def item_changes(before: list[IikoItem], after: list[IikoItem]) -> list[tuple[str, IikoItem]]:
    """Journal-style item events between two snapshots of an order, lines matched by position id."""

    def key(index: int, line: IikoItem) -> str:
        return line.position_id or f"{line.product_id or line.product}#{index}"

    old = {key(i, line): line for i, line in enumerate(before)}
    new = {key(i, line): line for i, line in enumerate(after)}
    changes: list[tuple[str, IikoItem]] = []
    for position, line in new.items():
        was = old.get(position)
        if was is None or was.deleted:
            if not line.deleted:
                changes.append(("addItemToOrder", line))
        elif line.deleted:
            changes.append(("deletedPrintedItems" if was.printed or line.printed else "deletedNewItems", line))
        elif line.amount != was.amount:
            changes.append(("changedItemAmount", line))
    for position, was in old.items():
        if position not in new and not was.deleted:
            changes.append(("deletedPrintedItems" if was.printed else "deletedNewItems", was))
    return changes
