"""What of iiko's is in a decoded message: the rules (``iiko_rules.toml``) applied to the JSON of a WCF,
HTTP or Remoting body — UserEvents, order snapshots, locks — and the order and lines normalised from
whatever field names iikoFront, the SDK or the journal used.

The rules are compiled per object shape (``iiko_shapes``) on first sight and kept in bounded tables, so
an object that cannot be an iiko entity costs a lookup and its scalars are never looked at, and
normalising an order line reads its keys directly.
"""

from dataclasses import dataclass
from typing import Any

from .iiko_events import IikoItem, IikoOrder
from .iiko_json import Memo, Reader, as_flag, as_list, first_of, local_name, unwrap
from .iiko_rules import Rules
from .iiko_shapes import Keys, Shape, compile_shape
from .models import construct

MAX_DEPTH = 64  # JSON nesting walked per message
MAX_NAMES = 4096  # names (keys, type values, operations) remembered; each table starts over past it
MAX_SHAPES = 4096  # object shapes whose plan is kept; the table starts over past it


@dataclass(frozen=True)
class Found:
    """One thing recognised in a message."""

    what: str  # "event" | "snapshot"
    obj: dict[str, Any]
    type: str | None = None


class Recogniser:
    """Applies the rules to one message's JSON."""

    def __init__(self, rules: Rules, max_shapes: int = MAX_SHAPES, max_names: int = MAX_NAMES) -> None:
        self.rules = rules
        self.reader = Reader(max_shapes)
        self._names_events: Memo[str, bool] = Memo(self._speaks_of_events, max_names)
        self._local: Memo[str, str] = Memo(local_name, max_names)
        self._locks: Memo[str, bool | None] = Memo(self._unlocks, max_names)
        self.shapes: Memo[Keys, Shape] = Memo(lambda keys: compile_shape(rules, self._names_events, keys), max_shapes)
        default = rules.display.get("default", ())
        self._display = default, rules.display.get("table", default)

    def find(self, value: Any, name: str = "", in_events: bool = False) -> list[Found]:
        """UserEvents and order snapshots in ``value`` (found under key ``name``), outermost first.

        ``in_events``: ``value`` sits in a UserEvent-named method, argument or object, where an object
        with a type and an order id is a UserEvent even if its type is not in the rules (a newer build's).
        """
        found: list[Found] = []
        event_name = self._local[name] in self.rules.event_names
        self._walk(value, event_name, 0, in_events or self._names_events[name], found)
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
        event_names, local = rules.event_names, self._local
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
        if shape.item_list is not None and self._is_snapshot(obj, shape):
            return Found("snapshot", obj)
        return None

    def _is_snapshot(self, obj: dict[str, Any], shape: Shape) -> bool:
        """An order id and a list of lines that have a product and an amount (or, with no lines yet, a
        number or a status)."""
        order = shape.order
        if first_of(obj, order.get("id", ())) is None:
            return False
        lines = [line for line in as_list(obj[shape.item_list or ""]) if line != ""]
        if not lines:  # an order with no lines yet (an empty element): its number or status must show it
            return any(first_of(obj, order.get(key, ())) is not None for key in ("number", "status"))
        # Lines of one list share a shape: the first decides, the rest need only be objects.
        if not all(isinstance(line, dict) for line in lines):
            return False
        item = self.shapes[tuple(lines[0])].item
        return first_of(lines[0], item.get("product", ())) is not None and (
            first_of(lines[0], item.get("amount", ())) is not None
        )

    def names_events(self, name: str) -> bool:
        """Whether a method, argument or element name speaks of UserEvents (``saveUserEvents``, ``userEvent``)."""
        return self._names_events[name]

    def _speaks_of_events(self, name: str) -> bool:
        local = local_name(name)
        return any(event_name in local for event_name in self.rules.event_names)

    # --- normalising ---

    def attributes(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A UserEvent's attributes: its fields and its name/value pairs, names as received."""
        lists = self.shapes[tuple(obj)].attribute_lists
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key not in lists:
                out[key] = value
                continue
            for pair in as_list(value):
                if not isinstance(pair, dict):
                    continue
                pair_shape = self.shapes[tuple(pair)]
                pair_name = first_of(pair, pair_shape.attribute_name)
                if isinstance(pair_name, str):
                    out[pair_name] = first_of(pair, pair_shape.attribute_value)
        return out

    def carried(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """What a UserEvent's attributes carry, by matching name: all but its own fields (its id is not the order's)."""
        return {name: attributes[key] for name, key in self.shapes[tuple(attributes)].carried}

    def order_id(self, obj: dict[str, Any]) -> str | None:
        """The order id alone, as ``order`` would give it: to find an order before normalising it."""
        return self.reader.text(first_of(obj, self.shapes[tuple(obj)].order.get("id", ())), ("id",))

    def order(self, obj: dict[str, Any]) -> IikoOrder:
        keys, text, (default, table) = self.shapes[tuple(obj)].order, self.reader.text, self._display
        guests = self.reader.number(first_of(obj, keys.get("guests", ())))
        return construct(
            IikoOrder,
            id=text(first_of(obj, keys.get("id", ())), ("id",)),
            number=text(first_of(obj, keys.get("number", ())), default),
            table=text(first_of(obj, keys.get("table", ())), table),
            waiter=text(first_of(obj, keys.get("waiter", ())), default),
            guests=int(guests) if guests is not None else None,
            status=text(first_of(obj, keys.get("status", ())), default),
            sum=self.reader.number(first_of(obj, keys.get("sum", ()))),
            open_time=text(first_of(obj, keys.get("open_time", ())), default),
            terminal=text(first_of(obj, keys.get("terminal", ())), default),
        )

    def item(self, obj: dict[str, Any]) -> IikoItem:
        keys, reader, default = self.shapes[tuple(obj)].item, self.reader, self._display[0]
        product = unwrap(first_of(obj, keys.get("product", ())))
        product_id = first_of(obj, keys.get("product_id", ()))
        if product_id is None and isinstance(product, dict):
            product_id = reader.fields(product).get("id")
        return construct(
            IikoItem,
            position_id=reader.text(first_of(obj, keys.get("position_id", ())), ("id",)),
            product_id=reader.text(product_id, ("id",)),
            product=reader.text(product, default),
            amount=reader.number(first_of(obj, keys.get("amount", ()))),
            price=reader.number(first_of(obj, keys.get("price", ()))),
            sum=reader.number(first_of(obj, keys.get("sum", ()))),
            deleted=as_flag(first_of(obj, keys.get("deleted", ()))),
            printed=as_flag(first_of(obj, keys.get("printed", ()))),
        )

    def items(self, obj: dict[str, Any]) -> list[IikoItem]:
        lines = as_list(first_of(obj, self.shapes[tuple(obj)].item_lists))
        return [self.item(line) for line in lines if isinstance(line, dict)]

    def revision(self, obj: dict[str, Any]) -> str | None:
        return self.reader.text(first_of(obj, self.shapes[tuple(obj)].order.get("revision", ())), ("id",))

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
