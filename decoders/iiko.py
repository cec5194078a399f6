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

from dataclasses import dataclass
from typing import Any

from .events import ConnEvent, Event, RemotingMessage, RmsCall, WcfMessage
from .iiko_events import IikoEvent, IikoItem, IikoOrder, IikoOrderLock, IikoOrderSnapshot, IikoOrderUnlock, IikoSource
from .iiko_json import as_flag, as_list, as_number, as_text, by_name, first_of, local_name, unwrap
from .iiko_rules import Rules, RulesError, default_rules_text, load_rules
from .models import construct

__all__ = [
    "OrderTracker",
    "Rules",
    "RulesError",
    "default_rules_text",
    "item_changes",
    "load_rules",
    "message_payloads",
]

MAX_DEPTH = 64  # JSON nesting walked per message
MAX_NAMES = 4096  # names remembered as speaking of UserEvents or not (the cache starts over past it)
MAX_SHAPES = 4096  # object shapes whose present field names are kept (the cache starts over past it)
MAX_ORDERS = 10_000  # snapshots remembered for derivation (oldest forgotten first)
CLOSING = frozenset({"orderPaid", "orderDeleted", "orderClosedAtWaiterExpense"})  # UserEvents that end an order
CLOSED_STATUSES = frozenset({"closed", "deleted"})  # an order snapshot's status once it has ended
CONN_FIELDS = ("uid", "community_id", "orig", "resp", "orig_h", "orig_p", "resp_h", "resp_p")


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
        self._names_events: dict[str, bool] = {}
        self._shapes: dict[tuple[Any, ...], dict[str, tuple[str, ...]]] = {}
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
        fields = by_name(value)
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
        known = self._names_events.get(name)
        if known is None:
            local = local_name(name)
            known = any(event_name in local for event_name in self.rules.event_names)
            if len(self._names_events) >= MAX_NAMES:
                self._names_events.clear()
            self._names_events[name] = known
        return known

    def _unknown_event_type(self, obj: dict[str, Any], fields: dict[str, Any]) -> str | None:
        """The type, verbatim, of an object that has one and carries an order id (in its fields or its
        attribute pairs; the event's own ``id`` is not the order's)."""
        rules = self.rules
        event_type = next((t for t in (fields.get(f) for f in rules.type_fields) if isinstance(t, str) and t), None)
        if event_type is None:
            return None
        carried = {k: v for k, v in by_name(self.attributes(obj)).items() if k not in rules.own_fields}
        return event_type if first_of(carried, rules.order.get("id", ())) is not None else None

    def _event_type(self, fields: dict[str, Any], name: str, xsi_type: Any) -> str | None:
        """The journal type id if the object is a UserEvent (by its type value, element name or i:type)."""
        rules = self.rules
        types = [value for field in rules.type_fields if isinstance(value := fields.get(field), str)]
        for value in types:
            if value.lower() in rules.types:
                return rules.types[value.lower()]
        event_names = rules.event_names
        if not (
            local_name(name) in event_names
            or (isinstance(xsi_type, str) and local_name(xsi_type) in event_names)
            or any(local_name(t) in event_names for t in types)
        ):
            return None
        own = [t for t in types if t and local_name(t) not in event_names]
        return own[0] if own else "UserEvent"

    def _is_snapshot(self, fields: dict[str, Any]) -> bool:
        rules = self.rules
        if first_of(fields, rules.order.get("id", ())) is None:
            return False
        present = [fields[name] for name in rules.item_lists if name in fields]
        if not present:
            return False
        lines = [line for line in as_list(present[0]) if line != ""]
        if not lines:  # an order with no lines yet (an empty element): its number or status must show it
            return any(first_of(fields, rules.order.get(key, ())) is not None for key in ("number", "status"))
        # Lines of one list share a shape: the first decides, the rest need only be objects.
        return all(isinstance(line, dict) for line in lines) and self._is_item(by_name(lines[0]))

    def _is_item(self, fields: dict[str, Any]) -> bool:
        product, amount = self.item_marks
        return first_of(fields, product) is not None and first_of(fields, amount) is not None

    # --- normalising ---

    def attributes(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A UserEvent's attributes: its fields and its name/value pairs, names as received."""
        rules = self.rules
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if local_name(key) not in rules.attribute_lists:
                out[key] = value
                continue
            for pair in as_list(value):
                pair_fields = by_name(pair) if isinstance(pair, dict) else {}
                pair_name = first_of(pair_fields, rules.attribute_name)
                if isinstance(pair_name, str):
                    out[pair_name] = first_of(pair_fields, rules.attribute_value)
        return out

    def order_id(self, fields: dict[str, Any]) -> str | None:
        """The order id alone, as ``order`` would give it: to find an order before normalising it."""
        return as_text(first_of(fields, self.rules.order.get("id", ())), ("id",))

    def _present(self, fields: dict[str, Any], section: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """Of each normalised field's names, those this object has, in the rules' order: worked out once per
        shape (order lines repeat one shape thousands of times), so ``first_of`` tries only those."""
        key = (id(section), *fields)
        present = self._shapes.get(key)
        if present is None:
            present = {field: tuple(n for n in names if n in fields) for field, names in section.items()}
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = present
        return present

    def order(self, fields: dict[str, Any]) -> IikoOrder:
        names = self._present(fields, self.rules.order)
        default = self.rules.display.get("default", ())
        table = self.rules.display.get("table", default)
        guests = as_number(first_of(fields, names.get("guests", ())))
        return construct(
            IikoOrder,
            id=as_text(first_of(fields, names.get("id", ())), ("id",)),
            number=as_text(first_of(fields, names.get("number", ())), default),
            table=as_text(first_of(fields, names.get("table", ())), table),
            waiter=as_text(first_of(fields, names.get("waiter", ())), default),
            guests=int(guests) if guests is not None else None,
            status=as_text(first_of(fields, names.get("status", ())), default),
            sum=as_number(first_of(fields, names.get("sum", ()))),
            open_time=as_text(first_of(fields, names.get("open_time", ())), default),
            terminal=as_text(first_of(fields, names.get("terminal", ())), default),
        )

    def item(self, fields: dict[str, Any]) -> IikoItem:
        names = self._present(fields, self.rules.item)
        default = self.rules.display.get("default", ())
        product = unwrap(first_of(fields, names.get("product", ())))
        product_id = first_of(fields, names.get("product_id", ()))
        if product_id is None and isinstance(product, dict):
            product_id = by_name(product).get("id")
        return construct(
            IikoItem,
            position_id=as_text(first_of(fields, names.get("position_id", ())), ("id",)),
            product_id=as_text(product_id, ("id",)),
            product=as_text(product, default),
            amount=as_number(first_of(fields, names.get("amount", ()))),
            price=as_number(first_of(fields, names.get("price", ()))),
            sum=as_number(first_of(fields, names.get("sum", ()))),
            deleted=as_flag(first_of(fields, names.get("deleted", ()))),
            printed=as_flag(first_of(fields, names.get("printed", ()))),
        )

    def items(self, fields: dict[str, Any]) -> list[IikoItem]:
        lines = as_list(first_of(fields, self.rules.item_lists))
        return [self.item(by_name(line)) for line in lines if isinstance(line, dict)]

    def revision(self, fields: dict[str, Any]) -> str | None:
        return as_text(first_of(fields, self.rules.order.get("revision", ())), ("id",))

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
    if isinstance(event, RemotingMessage):
        return "remoting"
    return None


def message_payloads(event: Event, rules: Rules) -> list[Any]:
    """The decoded message content of a source event; a Remoting call as the WCF body of the same call."""
    if isinstance(event, WcfMessage):
        return [event.body]
    if isinstance(event, RmsCall):
        return [event.request, event.response]
    if isinstance(event, RemotingMessage):
        if event.operation == "reply":
            return [event.return_value]
        return [{event.method or "": _named(event.args, rules.remoting_arguments.get((event.method or "").lower()))}]
    return []


def _named(args: Any, names: tuple[str, ...] | None) -> Any:
    """Positional Remoting arguments under the parameter names the rules give their method, if they do."""
    if names is None or not isinstance(args, list) or len(args) != len(names):
        return args
    return dict(zip(names, args, strict=True))


def _operation_names(event: Event, payloads: list[Any]) -> list[str]:
    """Names that may say "lock": the WCF action's last segment, the body element, the call method
    (a Remoting reply has none: like a WCF ...Response, the request already said so)."""
    names: list[str] = []
    if isinstance(event, WcfMessage):
        names += [(event.action or "").rsplit("/", 1)[-1], event.body_element or ""]
    elif isinstance(event, RmsCall):
        names += [event.method_name or ""]
    elif isinstance(event, RemotingMessage) and event.operation == "reply":
        return []
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
        payloads = message_payloads(event, self.recogniser.rules)
        names = _operation_names(event, payloads)
        in_events = any(self.recogniser.names_events(name) for name in names)
        found = [f for payload in payloads for f in self.recogniser.find(payload, in_events=in_events)]
        change = None if found else self.recogniser.lock_change(names)
        if not found and change is None:
            return []  # most messages: nothing of iiko's in them, and no event model built
        source = construct(IikoSource, uid=event.uid, seq=event.seq, transport=transport)  # type: ignore[arg-type]
        common = {"ts": event.ts, "source": source, **{k: getattr(event, k) for k in CONN_FIELDS}}
        out: list[Event] = []
        for item in found:
            if item.what == "event":
                out.append(self._user_event(item, common))
            else:
                out += self._snapshot(item, common)
        if change is not None:
            out += self._lock(change, payloads, common)
        for ended in filter(None, map(_ended_order, out)):
            self.last.pop(ended, None)  # what is kept per order lives as long as the order: flat for weeks
            self.locked.pop(ended, None)
        return out

    def _user_event(self, found: _Found, common: dict[str, Any]) -> IikoEvent:
        recogniser = self.recogniser
        attributes = recogniser.attributes(found.obj)
        fields = {k: v for k, v in by_name(attributes).items() if k not in recogniser.rules.own_fields}
        items = recogniser.items(fields)
        order = recogniser.order(fields)
        if not items and found.type and found.type.lower() in recogniser.rules.item_types:
            line = recogniser.item(fields)
            if line.product is not None:
                items = [line]
                if order.sum == line.sum:  # the journal's `sum` of an item event is the line's
                    order = construct(IikoOrder, **{**order.__dict__, "sum": None})
        return construct(
            IikoEvent, type=found.type or "UserEvent", order=order, items=items, attributes=attributes, **common
        )

    def _snapshot(self, found: _Found, common: dict[str, Any]) -> list[Event]:
        recogniser = self.recogniser
        fields = by_name(found.obj)
        snapshot = construct(
            IikoOrderSnapshot,
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
                construct(
                    IikoEvent, type=kind, order=snapshot.order, items=[line], attributes={}, derived=True, **common
                )
                for kind, line in item_changes(previous.items, snapshot.items)
            ]
        self.last[order_id] = snapshot
        if len(self.last) > MAX_ORDERS:
            del self.last[next(iter(self.last))]
        return out

    def _lock(self, change: tuple[bool, str], payloads: list[Any], common: dict[str, Any]) -> list[Event]:
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
        return [construct(cls, order_id=order.id, terminal=order.terminal, operation=operation, **common)]

    def _order_in(self, payloads: list[Any]) -> IikoOrder:
        """The order a lock message is about: the first object (depth-first) that names an order id."""
        stack = list(reversed(payloads))
        while stack:
            value = stack.pop()
            if isinstance(value, list):
                stack.extend(reversed(value))
            elif isinstance(value, dict):
                fields = by_name(value)
                if self.recogniser.order_id(fields) is not None:
                    return self.recogniser.order(fields)
                stack.extend(reversed(list(value.values())))
        return construct(IikoOrder)


def _ended_order(event: Event) -> str | None:
    """The id of the order this event ends (paid, deleted, closed), if it ends one."""
    if isinstance(event, IikoEvent) and event.type in CLOSING and not event.derived:
        return event.order.id
    if isinstance(event, IikoOrderSnapshot) and (event.order.status or "").lower() in CLOSED_STATUSES:
        return event.order.id
    return None


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
