"""decoders.iiko_shapes and the recogniser's bounded tables: the rules compiled per object shape read what
the rules say, whatever the spelling, and no table (plans, names, normalised lines) changes an event.

The oracle is the rules file: messages are built from random aliases of every normalised field, spelt as
iiko's peers might (case, XML prefix, namespace, dotted type name, XML attribute), and each field must
come out as the value under the alias the rules list first that has a value. The same messages through
a recogniser whose tables start over at every new entry must give the same events as a warm one.
"""

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_iiko import RULES, json_values, wcf

from decoders.events import Event
from decoders.iiko import OrderTracker
from decoders.iiko_events import IikoEvent, IikoOrderSnapshot
from decoders.iiko_recognise import Recogniser

NUMBERS = frozenset({"guests", "sum", "amount", "price"})  # normalised to numbers; the rest to text
FLAGS = frozenset({"deleted", "printed"})


def spelt(alias: str) -> st.SearchStrategy[str]:
    """``alias`` as a peer might write it: any case, with an XML prefix, namespace or dotted type path,
    or as an XML attribute."""
    case = st.sampled_from([alias, alias.upper(), alias[:1].upper() + alias[1:]])
    decoration = st.sampled_from(["{}", "a:{}", "{{urn:x}}{}", "Resto.Data.{}", "@{}"])
    return st.builds(str.format, decoration, case)


def value_of(field: str) -> st.SearchStrategy[Any]:
    if field in NUMBERS:
        return st.integers(0, 10**6).map(str) | st.decimals(0, 10**6, places=3).map(str)
    if field in FLAGS:
        return st.sampled_from(["true", "false", "1", "0"])
    return st.text("abcXYZ-0129 ", min_size=1, max_size=8)


@st.composite
def rules_object(draw: st.DrawFn, section: dict[str, tuple[str, ...]], required: tuple[str, ...]) -> dict[str, Any]:
    """An object with some aliases of each field of a rules section, each holding a value, nothing or "";
    ``required`` fields get at least one value."""
    obj: dict[str, Any] = {}
    for field, aliases in section.items():
        for alias in draw(st.lists(st.sampled_from(aliases), unique=True, max_size=len(aliases))):
            holds = draw(st.sampled_from(["value", "value", "", None]))
            obj[draw(spelt(alias))] = draw(value_of(field)) if holds == "value" else holds
        if field in required and expected(obj, section, field) is None:
            obj[winner(obj, aliases[0]) or draw(spelt(aliases[0]))] = draw(value_of(field))
    return obj


def local(key: str) -> str:
    return key.rsplit("}", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)[-1].lstrip("@").lower()


def winner(obj: dict[str, Any], alias: str) -> str | None:
    """The key that gives a name: the first child element spelling it, else the first XML attribute."""
    spellings = [key for key in obj if local(key) == alias]
    spellings.sort(key=lambda key: key.startswith("@"))  # stable: elements, then attributes, each in order
    return spellings[0] if spellings else None


def expected(obj: dict[str, Any], section: dict[str, tuple[str, ...]], field: str) -> Any:
    """What the rules say a field is: the value under its first alias (in the rules' order) that has one."""
    for alias in section[field]:
        key = winner(obj, alias)
        value = obj[key] if key is not None else None
        if value is not None and value != "":
            return value
    return None


def normalised(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field == "guests":
        return int(Decimal(value))
    if field in NUMBERS:
        return Decimal(value)
    if field in FLAGS:
        return value in ("true", "1")
    return value


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    order = draw(rules_object(RULES.order, ("id",)))
    lines = draw(st.lists(rules_object(RULES.item, ("product", "amount")), min_size=1, max_size=3))
    order[draw(spelt(draw(st.sampled_from(RULES.item_lists))))] = lines
    return order


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_snapshot_fields_are_the_rules_first_alias_with_a_value(order: dict[str, Any]) -> None:
    (snapshot,) = OrderTracker(RULES).observe(wcf({"SyncOrder": {"order": order}}))
    assert isinstance(snapshot, IikoOrderSnapshot)
    for field in type(snapshot.order).model_fields:
        assert getattr(snapshot.order, field) == normalised(field, expected(order, RULES.order, field)), field
    assert snapshot.revision == expected(order, RULES.order, "revision")
    lines = next(value for key, value in order.items() if local(key) in RULES.item_lists)
    assert len(snapshot.items) == len(lines)
    for item, line in zip(snapshot.items, lines, strict=True):
        for field in type(item).model_fields:
            assert getattr(item, field) == normalised(field, expected(line, RULES.item, field)), field


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(RULES.types.values())), st.sampled_from(RULES.type_fields), st.data())
def test_a_rules_type_under_any_type_field_spelling_is_a_user_event(
    type_id: str, field: str, data: st.DataObject
) -> None:
    key = data.draw(spelt(field))
    value = data.draw(st.sampled_from([type_id, type_id.upper(), type_id.lower()]))
    (event,) = OrderTracker(RULES).observe(wcf({"Save": {"e": {key: value, "orderId": "o-1"}}}))
    assert isinstance(event, IikoEvent) and event.type == type_id and event.order.id == "o-1"


def _dumps(events: list[Event]) -> list[str]:
    return [e.model_dump_json() for e in events]


def _forgetful() -> OrderTracker:
    """A tracker whose tables keep one entry: every other lookup compiles and normalises anew."""
    tracker = OrderTracker(RULES)
    tracker.recogniser = Recogniser(RULES, max_shapes=1, max_names=1)
    return tracker


bodies = st.one_of(
    json_values.map(lambda body: {"Body": body}), snapshots().map(lambda order: {"SyncOrder": {"order": order}})
)


@settings(max_examples=100, deadline=None)
@given(st.lists(bodies, min_size=1, max_size=6))
def test_tables_change_no_event(messages: list[Any]) -> None:
    warm, forgetful = OrderTracker(RULES), _forgetful()
    for seq, body in enumerate([*messages, *messages]):  # seen twice: the warm tracker's second pass is all hits
        assert _dumps(warm.observe(wcf(body, seq=seq))) == _dumps(forgetful.observe(wcf(body, seq=seq)))


def test_equal_values_of_other_types_are_not_confused() -> None:
    """Lines are looked up by their keys, values and the values' types: 1, True, 1.0 and "1" are
    equal or alike to a dict, not to the layer (``Decimal(1)`` vs None vs ``Decimal("1.0")``)."""
    amounts = [1, True, 1.0, "1", "1.0", 0, False, 0.0, -0.0, "0", None, ""]
    tracker = OrderTracker(RULES)
    for seq, amount in enumerate(amounts):
        body = {"UserEvent": {"type": "addItemToOrder", "orderId": "o-1", "items": [{"dish": "Tea", "amount": amount}]}}
        (event,) = tracker.observe(wcf(body, seq=seq))
        (alone,) = OrderTracker(RULES).observe(wcf(body, seq=seq))
        assert isinstance(event, IikoEvent) and isinstance(alone, IikoEvent)
        assert _dumps([event]) == _dumps([alone]), amount
        assert [str(i.amount) for i in event.items] == [str(i.amount) for i in alone.items]


def test_endless_shapes_keep_the_tables_bounded() -> None:
    """A peer sending a new shape, name and number in every message: the tables start over, the events
    stay those of a recogniser that forgets nothing."""
    small = OrderTracker(RULES)
    small.recogniser = Recogniser(RULES, max_shapes=8, max_names=8)
    large = OrderTracker(RULES)
    for n in range(100):
        dish = f"d{n}" if n % 2 else {"name": f"d{n}", f"id{n}": n}  # flat lines are kept normalised, others not
        order = {"orderId": f"o-{n}", f"x{n}": n, "items": [{"dish": dish, "amount": f"{n}.5", f"y{n}": 1}]}
        body = {f"Sync{n}": {f"arg{n}": order}}
        assert _dumps(small.observe(wcf(body, seq=n))) == _dumps(large.observe(wcf(body, seq=n)))
    recogniser = small.recogniser
    tables = [recogniser.shapes, recogniser.names_events, recogniser.reader.names, recogniser.reader.decimals]
    tables += [recogniser.fields, recogniser._items]
    assert all(0 < len(table) <= 8 and len(table.previous) <= 8 for table in tables)
    assert len(large.recogniser.shapes) > 100  # the large one did see that many


def test_lines_outnumbering_the_table_are_found_again_at_the_next_sync() -> None:
    """An order with more lines than the line table holds: its next syncs normalise few lines anew, not
    all of them (a table that started over at its limit redid every line at every sync)."""
    recogniser = Recogniser(RULES, max_shapes=64)
    normalised = 0
    plain = recogniser._item

    def counting(obj: dict[str, Any]) -> Any:
        nonlocal normalised
        normalised += 1
        return plain(obj)

    recogniser._item = counting  # type: ignore[method-assign]
    order = {"orderId": "o-1", "items": [{"dish": f"d{n}", "amount": "1"} for n in range(100)]}
    first = recogniser.items(order)
    assert normalised == 100
    for _ in range(3):
        normalised = 0
        assert recogniser.items(order) == first
        assert normalised <= 100 - 64  # at most the lines neither generation kept


def test_lines_seen_unseen_nested_and_alike_in_one_order_read_as_each_line_alone() -> None:
    """An order's lines are normalised as one list (``_all_normalised``): a list mixing lines seen before,
    new ones, nested ones (never kept) and values equal to a dict but not to the layer (1, True, 1.0) gives
    each line as a recogniser that saw only that line, on the first sync and on the next (all hits)."""
    amounts = [1, True, 1.0, "1", 1, 0, False, -0.0]
    lines: list[dict[str, Any]] = [{"dish": "Tea", "amount": amount} for amount in amounts]
    lines.insert(3, {"dish": {"name": "Soup", "id": "p-1"}, "amount": "2"})

    def snapshot(items: list[dict[str, Any]], seq: int, tracker: OrderTracker) -> IikoOrderSnapshot:
        body = {"SyncOrder": {"order": {"orderId": "o-1", "number": "5", "items": items}}}
        found = [e for e in tracker.observe(wcf(body, seq=seq)) if isinstance(e, IikoOrderSnapshot)]
        assert len(found) == 1
        return found[0]

    alone = [snapshot([line], 0, OrderTracker(RULES)).items[0].model_dump_json() for line in lines]
    tracker = OrderTracker(RULES)
    for seq in (1, 2):
        assert [item.model_dump_json() for item in snapshot(lines, seq, tracker).items] == alone
    assert len(set(alone)) > 4  # the values alike to a dict did read differently
