"""What of iiko's is in a decoded message: the rules (``iiko_rules.toml``) applied to the JSON of a WCF,
HTTP or Remoting body — UserEvents, order snapshots, locks — and the order and lines normalised from
whatever field names iikoFront, the SDK or the journal used. Per-shape plans are cached (bounded) so
that the walk does not re-derive them for every object.
"""

from dataclasses import dataclass
from typing import Any

from .iiko_events import IikoItem, IikoOrder
from .iiko_json import as_flag, as_list, as_number, as_text, by_name, first_of, local_name, unwrap
from .iiko_rules import Rules
from .models import construct

MAX_DEPTH = 64  # JSON nesting walked per message
MAX_NAMES = 4096  # names remembered as speaking of UserEvents or not (the cache starts over past it)
MAX_SHAPES = 4096  # object shapes whose present field names are kept (the cache starts over past it)


@dataclass(frozen=True)
class Found:
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

    def find(self, value: Any, name: str = "", depth: int = 0, in_events: bool = False) -> list[Found]:
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
            return [Found("event", value, event_type)]
        if self._is_snapshot(fields):
            return [Found("snapshot", value)]
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
