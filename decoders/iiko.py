"""iiko order activity recognised in decoded messages: UserEvents, order snapshots, order locks.

iikoFront reports what happens to open orders as UserEvents (type ids of iiko's event journal, with
``attribute`` name/value pairs), terminals sync whole orders with the main cash over WCF, and opening an
order locks it elsewhere. Nobody publishes the wire contracts, so what to look for is data: the rules
file (``iiko_rules.toml`` shipped here, extended by the analyst's ``--rules`` files) names the elements,
type ids and field names; ``decoders.iiko_recognise`` walks the JSON that the WCF, HTTP and Remoting
decoders produce and applies them.

``OrderTracker`` is a sink analyzer: it sees every numbered event and returns ``iiko.*`` events
citing the source message (``source.seq``). From successive snapshots of one order it derives the item
events (added, deleted before/after the kitchen ticket, amount changed) so that terminal sync alone
still yields the item stream. Sans-I/O: the caller reads the rules files.
"""

from json.decoder import scanstring
from operator import attrgetter
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from .core import RUST
from .events import ConnEvent, Event, RemotingMessage, RmsCall, WcfMessage
from .iiko_core import CoreFinder
from .iiko_events import IikoEvent, IikoItem, IikoOrder, IikoOrderLock, IikoOrderSnapshot, IikoOrderUnlock, IikoSource
from .iiko_recognise import Recogniser, Snapshot, UserEvent
from .iiko_rules import Rules, RulesError, default_rules_text, load_rules
from .json_text import JsonText, plain
from .models import construct, template
from .needles import LOWER_TO_ASCII, needles

__all__ = [
    "OrderTracker",
    "Rules",
    "RulesError",
    "default_rules_text",
    "item_changes",
    "load_rules",
    "message_payloads",
]

MAX_ORDERS = 10_000  # snapshots remembered for derivation (oldest forgotten first)
CLOSING = frozenset({"orderPaid", "orderDeleted", "orderClosedAtWaiterExpense"})  # UserEvents that end an order
CLOSED_STATUSES = frozenset({"closed", "deleted"})  # an order snapshot's status once it has ended
KEY_PREFIX = 512  # bytes of a body's text read for its first key (``_first_key``)
CONN_FIELDS = ("uid", "community_id", "orig", "resp", "orig_h", "orig_p", "resp_h", "resp_p")
conn_values = attrgetter(*CONN_FIELDS)
TRANSPORTS: dict[type[Event], str] = {WcfMessage: "wcf", RmsCall: "http", RemotingMessage: "remoting"}
# what a message reads as: the lock change where nothing is found, and what the rules found (normalised)
Reading = tuple[tuple[bool, str] | None, list[Snapshot | UserEvent]]


def message_payloads(event: Event, rules: Rules) -> list[Any]:
    """The decoded message content of a source event, as objects (a body the core gave as JSON text is
    parsed here, once); a Remoting call as the WCF body of the same call."""
    if isinstance(event, WcfMessage):
        return [plain(event.body)]
    if isinstance(event, RmsCall):
        return [plain(event.request), plain(event.response)]
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


def _operation_names(event: Event, keys: list[str]) -> list[str]:
    """Names that may say "lock": the WCF action's last segment, the body element, the call method
    (a Remoting reply has none: like a WCF ...Response, the request already said so), and ``keys``."""
    names: list[str] = []
    if isinstance(event, WcfMessage):
        names += [(event.action or "").rsplit("/", 1)[-1], event.body_element or ""]
    elif isinstance(event, RmsCall):
        names += [event.method_name or ""]
    elif isinstance(event, RemotingMessage) and event.operation == "reply":
        return []
    return [n for n in names + keys if n]


def _single_keys(payloads: list[Any]) -> list[str]:
    """The key of each payload that is an object with one key (``{"SaveOrder": {...}}``)."""
    return [next(iter(p)) for p in payloads if isinstance(p, dict) and len(p) == 1]


def _texts(event: Event) -> list[JsonText] | None:
    """The bodies of a WCF message or an HTTP call as the core's JSON text (absent ones left out); None
    if one holds objects (the pure-Python decoders, a redacted body) or the kind has none."""
    if isinstance(event, WcfMessage):
        bodies = [event.body]
    elif isinstance(event, RmsCall):
        bodies = [event.request, event.response]
    else:
        return None
    texts = [body for body in bodies if body is not None]
    return texts if all(type(body) is JsonText for body in texts) else None


def _first_key(data: bytes) -> list[str]:
    """The first key of an object's JSON text, [] if it is not an object: a superset of ``_single_keys``.
    Read from the text's first ``KEY_PREFIX`` bytes (cut at a character's start) when it ends there: a
    4000-line order's body is not decoded whole for it."""
    if not data.startswith(b'{"'):
        return []
    cut = len(data) if len(data) <= KEY_PREFIX else KEY_PREFIX
    while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte
        cut -= 1
    try:
        return [scanstring(data[:cut].decode(), 2)[0]]
    except ValueError:  # the key goes on past the prefix (or does not end at all: as the whole text says)
        return [scanstring(data.decode(), 2)[0]]


class OrderTracker:
    """Sink analyzer: iiko events from decoded messages, item events derived from order snapshots.

    Bodies the core gave as JSON text are read by the core's recogniser (``iiko_core``) unless it hands
    the message back; objects (Remoting, the pure-Python decoders) by ``Recogniser``, the reference.
    With the core, the events are made by it too (``IikoEventMaker``: core/src/iiko_events_python.rs),
    on these tables; ``_snapshot``, ``_user_event``, ``_lock`` and ``item_changes`` are the reference.
    """

    core_module: ModuleType | None = RUST  # None: the reference recogniser only (the differential tests)

    def __init__(self, rules: Rules) -> None:
        self.recogniser = Recogniser(rules)
        names = self.recogniser.text_names
        # what _nothing_in looks for in a body's text: the names, and the characters that lower-case to them
        self._text_needles = None if names is None else needles((*names, *LOWER_TO_ASCII))
        core = self.core_module
        self.core = None if core is None else CoreFinder(self.recogniser, core, self._text_needles)
        self.last: dict[str, IikoOrderSnapshot] = {}  # order id → latest snapshot, insertion-ordered
        self.locked: dict[str, bool] = {}  # order id → locked, to report each lock once
        # the events made by the core, these tables its own too (they are never replaced)
        self.maker = None if core is None else core.IikoEventMaker(*_maker_arguments(self.last, self.locked))

    def observe(self, event: Event) -> list[Event]:
        transport = TRANSPORTS.get(type(event))
        if transport is None or not isinstance(event, ConnEvent):
            return []
        read = None if self.core is None else self.core.read(event, transport)
        change, found = self._read_reference(event) if read is None else read
        if not found and change is None:
            return []  # most messages: nothing of iiko's in them, and no event model built
        order = None if change is None else self._order_in(event, read is not None)
        if self.maker is not None:
            return self.maker.events(event, transport, found, change, order)  # type: ignore[no-any-return]
        source = construct(IikoSource, uid=event.uid, seq=event.seq, transport=transport)  # type: ignore[arg-type]
        common = {"ts": event.ts, "source": source, **dict(zip(CONN_FIELDS, conn_values(event), strict=True))}
        out: list[Event] = []
        for item in found:
            if isinstance(item, Snapshot):
                out += self._snapshot(item, common)
            else:
                out.append(self._user_event(item, common))
        if change is not None and order is not None:
            out += self._lock(change, order, common)
        for ended in filter(None, map(_ended_order, out)):
            self.last.pop(ended, None)  # what is kept per order lives as long as the order: flat for weeks
            self.locked.pop(ended, None)
        return out

    def _read_reference(self, event: Event) -> Reading:
        """What the reference reads in a message: nothing where the bodies' text holds no name the rules
        look for (``_nothing_in``), else what the recogniser finds in the content as objects."""
        texts = _texts(event)
        if texts is not None and self._nothing_in(event, texts):
            return None, []
        names, found = self._read_objects(event)
        return None if found else self.recogniser.lock_change(names), found

    def _order_in(self, event: Event, by_core: bool) -> IikoOrder:
        """The order a lock message is about, read as the message was: from the core's text or objects."""
        if by_core and self.core is not None:
            return self.core.order_in(_texts(event) or [])
        return self.recogniser.order_in(message_payloads(event, self.recogniser.rules))

    def _read_objects(self, event: Event) -> tuple[list[str], list[Snapshot | UserEvent]]:
        """The names that may say "lock" and what the reference recogniser reads in the message's content
        as objects, normalised."""
        recogniser = self.recogniser
        payloads = message_payloads(event, recogniser.rules)
        names = _operation_names(event, _single_keys(payloads))
        in_events = any(map(recogniser.names_events.__getitem__, names))
        found = [
            recogniser.user_event(item) if item.what == "event" else recogniser.snapshot(item.obj)
            for payload in payloads
            for item in recogniser.find(payload, in_events=in_events)
        ]
        return names, found

    def _nothing_in(self, event: Event, texts: list[JsonText]) -> bool:
        """Whether the rules cannot find anything in the message, read from the bodies' text unparsed.

        ``find`` yields only objects having a key whose local name is a type field or an item list, or
        ``@type``, or under a key named like a UserEvent element; that local name is a part of the key,
        lower-cased, and the key is in the text as it is unless a character of it is escaped (quotes,
        backslashes, controls). So when every such name is printable ASCII without those, a text not
        holding any of them (``bytes.lower``: ASCII letters) holds no such key, unless a character other
        than an ASCII letter lower-cases to one (``LOWER_TO_ASCII``: such a text is parsed). A lock is
        read from names, the only key of a body among them: its first key stands in for it, so the names
        tried here include the real ones.
        """
        text_needles = self._text_needles
        if text_needles is None:
            return False
        for text in texts:
            if text_needles.found_in(text.data):
                return False
        keys = [key for text in texts for key in _first_key(text.data)]
        return self.recogniser.lock_change(_operation_names(event, keys)) is None

    def _user_event(self, found: UserEvent, common: dict[str, Any]) -> IikoEvent:
        return construct(
            IikoEvent, type=found.type, order=found.order, items=found.items, attributes=found.attributes, **common
        )

    def _snapshot(self, found: Snapshot, common: dict[str, Any]) -> list[Event]:
        snapshot = construct(IikoOrderSnapshot, order=found.order, items=found.items, revision=found.revision, **common)
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

    def _lock(self, change: tuple[bool, str], order: IikoOrder, common: dict[str, Any]) -> list[Event]:
        is_unlock, operation = change
        if order.id is not None:
            if self.locked.get(order.id) == (not is_unlock):
                return []  # no change: e.g. the main cash telling the other terminal of a lock already seen
            self.locked.pop(order.id, None)
            self.locked[order.id] = not is_unlock
            if len(self.locked) > MAX_ORDERS:
                del self.locked[next(iter(self.locked))]
        cls = IikoOrderUnlock if is_unlock else IikoOrderLock
        return [construct(cls, order_id=order.id, terminal=order.terminal, operation=operation, **common)]


def _maker_arguments(last: dict[str, IikoOrderSnapshot], locked: dict[str, bool]) -> tuple[Any, ...]:
    """What ``IikoEventMaker`` (core/src/iiko_events_python.rs) takes: each model it makes with the names
    ``OrderTracker`` gives it (its fields-given set), the rules of ``_ended_order``, the tables."""
    common = ("ts", "source", *CONN_FIELDS)

    def model(cls: type[BaseModel], *names: str) -> tuple[type[BaseModel], dict[str, Any], frozenset[str]]:
        return cls, template(cls), frozenset((*names, *common))

    models = (
        (IikoSource, template(IikoSource), frozenset({"uid", "seq", "transport"})),
        model(IikoEvent, "type", "order", "items", "attributes"),
        model(IikoEvent, "type", "order", "items", "attributes", "derived"),
        model(IikoOrderSnapshot, "order", "items", "revision"),
        model(IikoOrderLock, "order_id", "terminal", "operation"),
        model(IikoOrderUnlock, "order_id", "terminal", "operation"),
    )
    return models, CONN_FIELDS, Snapshot, CLOSING, CLOSED_STATUSES, last, locked, MAX_ORDERS


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
