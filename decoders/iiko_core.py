"""The iiko rules applied by the compiled core (``decoders._core.IikoFinder``: core/src/iiko_find.rs over
iiko_json.rs and iiko_check.rs) to bodies it wrote as JSON text, so that a message is not parsed into
objects only to be walked.

The core reads a message as ``OrderTracker`` does, in one call: its operation names and bodies, the
text search that passes over most bodies unparsed (``OrderTracker._nothing_in``), then the text's tree
walked as ``Recogniser.find`` walks the objects, asking this module's recogniser once per object shape
and per name (local names, case folding, aliases and the lock rules stay Python's), and gives what it
found as text: a UserEvent as its object's text, normalised here as ever; a snapshot as the text of its
order's fields and of each line, the lines it saw before (same text, same line) already normalised.
Whatever it is not certain to read as Python does (a repeated key, a lone surrogate, deep nesting, an
unknown type where UserEvents are spoken of, a body that is objects) it hands back: ``read`` gives None
and the reference reads the message.

The core writes one text for one value, so the same text always reads as the same objects and
normalises to the same result: UserEvents, snapshot orders and the orders of lock messages are kept here
by their text too (an event whose attributes hold objects is normalised each time: its attributes are its
own), in bounded tables.
"""

from dataclasses import replace
from functools import partial
from types import ModuleType
from typing import Any

from .events import Event
from .iiko_events import IikoOrder
from .iiko_json import Bounded, Keys
from .iiko_recognise import FLAT, MAX_SHAPES, Found, Recogniser, Snapshot, UserEvent
from .json_text import JsonText, loads

ShapePlan = tuple[
    list[int],
    int | None,
    int | None,
    bool,
    list[tuple[int, bool, bool]],
    list[int],
    list[int],
    list[int],
    list[int],
    list[int],
    list[int],
]


class CoreFinder:
    """``Recogniser.find`` over a message's bodies as the core's JSON text."""

    def __init__(self, recogniser: Recogniser, core: ModuleType, needles: Any, max_entries: int = MAX_SHAPES) -> None:
        """``needles``: the core's ``Needles`` of the names a text must hold for the rules to find anything
        in it (``OrderTracker._nothing_in``), or None: every text is read."""
        self.recogniser = recogniser
        # the plans come from the recogniser alone: a callback bound to self would be a cycle through the
        # finder, which the collector cannot see into
        plans = partial(shape_plan, recogniser), partial(name_plan, recogniser)
        self.finder = core.IikoFinder(*plans, max_entries, JsonText, needles)
        self._events: Bounded[tuple[bytes, str], UserEvent] = Bounded(max_entries)
        self._orders: Bounded[bytes, tuple[IikoOrder, str | None]] = Bounded(max_entries)
        self._locked: Bounded[tuple[bytes, ...], IikoOrder] = Bounded(max_entries)

    def read(self, event: Event, transport: str) -> tuple[tuple[bool, str] | None, list[UserEvent | Snapshot]] | None:
        """What ``OrderTracker.observe`` reads in a WCF message or an iikoRMS call (``transport``): (the lock
        change where nothing is found, what ``find`` finds in the bodies, snapshots normalised), or None:
        the reference reads it (bodies that are not the core's text, text it is not sure of)."""
        result = self.finder.read(event, transport)
        if result is None:
            return None
        change, entries = result
        return change, self._found(entries)

    def _found(self, entries: list[tuple[Any, ...]]) -> list[UserEvent | Snapshot]:
        recogniser = self.recogniser
        found: list[UserEvent | Snapshot] = []
        for entry in entries:
            if entry[1] == "event":
                found.append(self._user_event(entry[3], entry[2]))
                continue
            _, _, order_text, items, misses = entry
            if misses:
                lines = recogniser.lines([loads(text) for _, text in misses])
                self.finder.remember([text for _, text in misses], lines)
                for (position, _), line in zip(misses, lines, strict=True):
                    items[position] = line
            order = self._orders.lookup(order_text)
            if order is None:
                fields = loads(order_text)
                order = self._orders.put(order_text, (recogniser.order(fields), recogniser.revision(fields)))
            found.append(Snapshot(order[0], items, order[1]))
        return found

    def order_in(self, texts: list[JsonText]) -> IikoOrder:
        """``Recogniser.order_in`` of the bodies (a lock message's), kept by their text."""
        key = tuple(text.data for text in texts)
        order = self._locked.lookup(key)
        if order is None:
            order = self._locked.put(key, self.recogniser.order_in([loads(data) for data in key]))
        return order

    def _user_event(self, text: bytes, type_: str) -> UserEvent:
        known = self._events.lookup((text, type_))
        if known is not None:
            return UserEvent(known.type, known.order, list(known.items), dict(known.attributes))  # each event's own
        found = self.recogniser.user_event(Found("event", loads(text), type_))
        if FLAT.issuperset(map(type, found.attributes.values())):
            self._events.put((text, type_), replace(found, attributes=dict(found.attributes)))
        return found

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """(messages read, handed back, lines found by their text, lines normalised here)"""
        return self.finder.counts  # type: ignore[no-any-return]


def name_plan(recogniser: Recogniser, name: str) -> tuple[str | None, bool, bool, bool | None]:
    """What the rules say of a name (``iiko_find::NamePlan``): its known type, whether it names a
    UserEvent element, whether it speaks of UserEvents, whether it releases (True) or takes (False) a lock."""
    rules = recogniser.rules
    event_name = recogniser.reader.local[name] in rules.event_names
    change = recogniser.lock_change([name])
    lock = None if change is None else change[0]
    return rules.types.get(name.lower()), event_name, recogniser.names_events[name], lock


def shape_plan(recogniser: Recogniser, keys: Keys) -> ShapePlan:
    """What the rules say of objects with these keys (``iiko_find::ShapePlan``), keys by their index."""
    shape, fields = recogniser.shapes[keys], recogniser.fields[keys]
    at = {key: i for i, key in enumerate(keys)}.__getitem__
    order, item = fields.order, fields.item
    return (
        list(map(at, shape.type_keys)),
        at("@type") if shape.xsi_type else None,
        None if shape.item_list is None else at(shape.item_list),
        shape.candidate,
        [(at(key), names_events, event_name) for key, names_events, event_name in shape.children],
        list(map(at, order.get("id", ()))),
        list(map(at, (*order.get("number", ()), *order.get("status", ())))),
        sorted({at(key) for candidates in order.values() for key in candidates}),
        list(map(at, item.get("product", ()))),
        list(map(at, item.get("amount", ()))),
        list(map(at, fields.item_lists)),
    )
