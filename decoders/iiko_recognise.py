"""What of iiko's is in a decoded message: the rules (``iiko_rules.toml``) applied to the JSON of a WCF,
HTTP or Remoting body — UserEvents, order snapshots, locks — and the order and lines normalised from
whatever field names iikoFront, the SDK or the journal used.

The rules are compiled per object shape (``iiko_shapes``) on first sight and kept in bounded tables, so
an object that cannot be an iiko entity costs a lookup and its scalars are never looked at, and
normalising an order line reads its keys directly.
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from operator import is_
from typing import Any, TypeVar

from .iiko_events import IikoItem, IikoOrder
from .iiko_json import Bounded, Keys, Memo, Reader, as_flag, as_list, first_of, first_values, unwrap
from .iiko_rules import Rules
from .iiko_shapes import Fields, Shape, alias_index, compile_fields, compile_shape
from .models import construct

MAX_DEPTH = 64  # JSON nesting walked per message
MAX_NAMES = 4096  # names (keys, type values, operations) remembered; each table starts over past it
MAX_SHAPES = 4096  # object shapes whose plan is kept, and flat orders and lines kept normalised; each
# table starts over past it (50 k packets of the store's small messages: 32 shapes, 33 distinct lines)
# Values that key a normalised object: equal values of one of these types read the same (not so floats,
# -0.0 == 0.0, nor decimals, 1.0 == 1.00); objects with others, or nested ones, are normalised each time.
FLAT = frozenset({str, int, bool, type(None)})
M = TypeVar("M")
ID = ("id",)  # the display field of an object given for an id


@dataclass(frozen=True)
class Found:
    """One thing recognised in a message."""

    what: str  # "event" | "snapshot"
    obj: dict[str, Any]
    type: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """An order snapshot, normalised."""

    order: IikoOrder
    items: list[IikoItem]
    revision: str | None


@dataclass(frozen=True)
class UserEvent:
    """A UserEvent, normalised: its type, order, lines and attributes (every field as received)."""

    type: str
    order: IikoOrder
    items: list[IikoItem]
    attributes: dict[str, Any]


class Recogniser:
    """Applies the rules to one message's JSON."""

    def __init__(self, rules: Rules, max_shapes: int = MAX_SHAPES, max_names: int = MAX_NAMES) -> None:
        self.rules = rules
        self.reader = Reader(max_shapes)
        # whether a method, argument or element name speaks of UserEvents (``saveUserEvents``, ``userEvent``)
        self.names_events: Memo[str, bool] = Memo(self._speaks_of_events, max_names)
        self._locks: Memo[str, bool | None] = Memo(self._unlocks, max_names)
        names = self.reader.names
        self.shapes: Memo[Keys, Shape] = Memo(
            lambda keys: compile_shape(rules, names[keys], self.names_events, self.reader.local, keys), max_shapes
        )
        indexes = alias_index(rules.order), alias_index(rules.item)
        self.fields: Memo[Keys, Fields] = Memo(
            lambda keys: compile_fields(rules, indexes, names[keys], self.reader.local, keys), max_shapes
        )
        self._orders: Bounded[tuple[Any, ...], IikoOrder] = Bounded(max_shapes)
        self._items: Bounded[tuple[Any, ...], IikoItem] = Bounded(max_shapes)
        default = rules.display.get("default", ())
        self._display = default, rules.display.get("table", default)
        # names one of which a body's text must hold for ``find`` to yield anything (``OrderTracker``);
        # None where the text cannot tell (a name with a character JSON escapes, not ASCII, or upper case)
        entity_names = {*rules.type_fields, *rules.item_lists, *rules.event_names, "type"}  # "type": @type
        readable = all(
            n.isascii() and n.isprintable() and n == n.lower() and '"' not in n and "\\" not in n for n in entity_names
        )
        fewest = {n for n in entity_names if not any(m in n and m != n for m in entity_names)}  # "type" ⊂ "eventtype"
        ordered = sorted(fewest, key=lambda n: (n != "type", n))  # the most frequent first
        self.text_names = tuple(n.encode() for n in ordered) if readable else None

    def find(self, value: Any, name: str = "", in_events: bool = False) -> list[Found]:
        """UserEvents and order snapshots in ``value`` (found under key ``name``), outermost first.

        ``in_events``: ``value`` sits in a UserEvent-named method, argument or object, where an object
        with a type and an order id is a UserEvent even if its type is not in the rules (a newer build's).
        """
        found: list[Found] = []
        event_name = self.reader.local[name] in self.rules.event_names
        self._walk(value, event_name, 0, in_events or self.names_events[name], found)
        return found

    def _walk(self, value: Any, event_name: bool, depth: int, in_events: bool, found: list[Found]) -> None:
        """``find`` below one value; ``event_name``: the key it sits under names a UserEvent element."""
        if depth > MAX_DEPTH:
            return
        if isinstance(value, list):
            for item in value:
                self._walk(item, event_name, depth + 1, in_events, found)
            return
        if not isinstance(value, dict):
            return
        shape = self.shapes[tuple(value)]
        if shape.candidate or event_name:
            entity = self._entity(value, shape, event_name, in_events)
            if entity is not None:
                found.append(entity)
                return
        for key, names_events, child_event_name in shape.children:
            child = value[key]
            if isinstance(child, dict | list):
                self._walk(child, child_event_name, depth + 1, in_events or names_events, found)

    def _entity(self, obj: dict[str, Any], shape: Shape, event_name: bool, in_events: bool) -> Found | None:
        """The object as a UserEvent (by its type value, element name or i:type) or an order snapshot."""
        rules = self.rules
        types = [value for key in shape.type_keys if isinstance(value := obj[key], str)]
        for value in types:
            known = rules.types.get(value.lower())
            if known is not None:
                return Found("event", obj, known)
        event_names, local = rules.event_names, self.reader.local
        xsi_type = obj["@type"] if shape.xsi_type else None
        if (
            event_name
            or (isinstance(xsi_type, str) and local[xsi_type] in event_names)
            or any(local[t] in event_names for t in types)
        ):
            own = [t for t in types if t and local[t] not in event_names]
            return Found("event", obj, own[0] if own else "UserEvent")
        if in_events:
            unknown = next((t for t in types if t), None)
            carried = self.carried(self.attributes(obj)) if unknown is not None else {}
            if first_of(carried, rules.order.get("id", ())) is not None:
                return Found("event", obj, unknown)
        if shape.item_list is not None and self._is_snapshot(obj, shape.item_list):
            return Found("snapshot", obj)
        return None

    def _is_snapshot(self, obj: dict[str, Any], item_list: str) -> bool:
        """An order id and a list of lines that have a product and an amount (or, with no lines yet, a
        number or a status)."""
        order = self.fields[tuple(obj)].order
        if first_of(obj, order.get("id", ())) is None:
            return False
        lines = [line for line in as_list(obj[item_list]) if line != ""]
        if not lines:  # an order with no lines yet (an empty element): its number or status must show it
            return any(first_of(obj, order.get(key, ())) is not None for key in ("number", "status"))
        # Lines of one list share a shape: the first decides, the rest need only be objects.
        if not all(isinstance(line, dict) for line in lines):
            return False
        item = self.fields[tuple(lines[0])].item
        return first_of(lines[0], item.get("product", ())) is not None and (
            first_of(lines[0], item.get("amount", ())) is not None
        )

    def _speaks_of_events(self, name: str) -> bool:
        local = self.reader.local[name]
        return any(event_name in local for event_name in self.rules.event_names)

    # --- normalising ---

    def attributes(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A UserEvent's attributes: its fields and its name/value pairs, names as received."""
        lists = self.fields[tuple(obj)].attribute_lists
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key not in lists:
                out[key] = value
                continue
            for pair in as_list(value):
                if not isinstance(pair, dict):
                    continue
                pair_fields = self.fields[tuple(pair)]
                pair_name = first_of(pair, pair_fields.attribute_name)
                if isinstance(pair_name, str):
                    out[pair_name] = first_of(pair, pair_fields.attribute_value)
        return out

    def carried(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """What a UserEvent's attributes carry, by matching name: all but its own fields (its id is not the order's)."""
        return {name: attributes[key] for name, key in self.fields[tuple(attributes)].carried}

    def order_id(self, obj: dict[str, Any]) -> str | None:
        """The order id alone, as ``order`` would give it: to find an order before normalising it."""
        return self.reader.text(first_of(obj, self.fields[tuple(obj)].order.get("id", ())), ID)

    def order(self, obj: dict[str, Any]) -> IikoOrder:
        return _normalised(self._orders, obj, self._order)

    def item(self, obj: dict[str, Any]) -> IikoItem:
        return _normalised(self._items, obj, self._item)

    def _order(self, obj: dict[str, Any]) -> IikoOrder:
        field = first_values(obj, self.fields[tuple(obj)].order).get
        text, number, (default, table) = self.reader.text, self.reader.number, self._display
        guests = number(field("guests"))
        return construct(
            IikoOrder,
            id=text(field("id"), ID),
            number=text(field("number"), default),
            table=text(field("table"), table),
            waiter=text(field("waiter"), default),
            guests=int(guests) if guests is not None else None,
            status=text(field("status"), default),
            sum=number(field("sum")),
            open_time=text(field("open_time"), default),
            terminal=text(field("terminal"), default),
        )

    def _item(self, obj: dict[str, Any]) -> IikoItem:
        field = first_values(obj, self.fields[tuple(obj)].item).get
        text, number = self.reader.text, self.reader.number
        product = unwrap(field("product"))
        product_id = field("product_id")
        if product_id is None and isinstance(product, dict):
            product_id = self.reader.fields(product).get("id")
        return construct(
            IikoItem,
            position_id=text(field("position_id"), ID),
            product_id=text(product_id, ID),
            product=text(product, self._display[0]),
            amount=number(field("amount")),
            price=number(field("price")),
            sum=number(field("sum")),
            deleted=as_flag(field("deleted")),
            printed=as_flag(field("printed")),
        )

    def items(self, obj: dict[str, Any]) -> list[IikoItem]:
        lines = as_list(first_of(obj, self.fields[tuple(obj)].item_lists))
        return self.lines([line for line in lines if isinstance(line, dict)])

    def lines(self, objs: list[dict[str, Any]]) -> list[IikoItem]:
        """Order lines (objects) normalised, looked up where seen before."""
        return _all_normalised(self._items, objs, self._item)

    def user_event(self, found: Found) -> UserEvent:
        """A UserEvent ``find`` found, normalised."""
        attributes = self.attributes(found.obj)
        fields = self.carried(attributes)
        items = self.items(fields)
        order = self.order(fields)
        if not items and found.type and found.type.lower() in self.rules.item_types:
            line = self.item(fields)
            if line.product is not None:
                items = [line]
                if order.sum == line.sum:  # the journal's `sum` of an item event is the line's
                    order = construct(IikoOrder, **{**order.__dict__, "sum": None})
        return UserEvent(found.type or "UserEvent", order, items, attributes)

    def snapshot(self, obj: dict[str, Any]) -> Snapshot:
        """A snapshot ``find`` found, normalised."""
        return Snapshot(self.order(obj), self.items(obj), self.revision(obj))

    def order_in(self, payloads: list[Any]) -> IikoOrder:
        """The order a lock message is about: the first object (depth-first) that names an order id."""
        stack = list(reversed(payloads))
        while stack:
            value = stack.pop()
            if isinstance(value, list):
                stack.extend(reversed(value))
            elif isinstance(value, dict):
                if self.order_id(value) is not None:
                    return self.order(value)
                stack.extend(reversed(list(value.values())))
        return construct(IikoOrder)

    def revision(self, obj: dict[str, Any]) -> str | None:
        return self.reader.text(first_of(obj, self.fields[tuple(obj)].order.get("revision", ())), ID)

    def lock_change(self, names: list[str]) -> tuple[bool, str] | None:
        """(is_unlock, the name that said so) for the first name matching the lock rules."""
        for name in names:
            is_unlock = self._locks[name]
            if is_unlock is not None:
                return is_unlock, name
        return None

    def _unlocks(self, name: str) -> bool | None:
        """True: the name releases a lock, False: it takes one, None: neither (or only mentions one)."""
        rules = self.rules
        if rules.not_lock.search(name):
            return None
        if rules.unlock.search(name):
            return True
        if rules.lock.search(name):
            return False
        return None


def _normalised(table: Bounded[tuple[Any, ...], M], obj: dict[str, Any], normalise: Callable[[dict[str, Any]], M]) -> M:
    return _all_normalised(table, [obj], normalise)[0]


def _all_normalised(
    table: Bounded[tuple[Any, ...], M], objs: list[dict[str, Any]], normalise: Callable[[dict[str, Any]], M]
) -> list[M]:
    """``normalise`` of each object, looked up where a flat object with the same keys and values was seen:
    an order's lines repeat in every sync of it, and each change of an order is broadcast to every terminal.

    The keys of a whole list are built and looked up by maps, in C, not by a Python call per line: 4000
    lines already seen cost 2.0 µs each instead of 3.2; what is left is hashing and comparing the keys.
    """
    values = list(map(tuple, map(dict.values, objs)))
    types = list(map(tuple, map(map, repeat(type), values)))
    flat = list(map(FLAT.issuperset, types))
    keys = list(zip(map(tuple, objs), values, types, strict=True))
    # a nested object's key holds dicts or lists: not hashable, never looked up
    out: list[M | None] = (
        list(map(table.get, keys))
        if all(flat)
        else [table.get(key) if is_flat else None for key, is_flat in zip(keys, flat, strict=True)]
    )
    if not any(map(is_, out, repeat(None))):  # `None in out` would call the models' __eq__
        return out  # type: ignore[return-value]
    for i, (obj, key, is_flat) in enumerate(zip(objs, keys, flat, strict=True)):
        if out[i] is None and is_flat:
            out[i] = table.recall(key)
        if out[i] is None:
            out[i] = table.put(key, normalise(obj)) if is_flat else normalise(obj)
    return out  # type: ignore[return-value]
