"""Memory of ``live --serve`` over weeks (``wirecap/floor.py``, ``OrderBook``'s bound on closed orders): the
store's evening replayed many times over, each time with its own order ids, as many evenings would be."""

from pathlib import Path

import pytest

from decoders.events import Event
from decoders.iiko import OrderTracker
from decoders.iiko_events import IikoEvent, IikoLockChange, IikoOrderSnapshot
from wirecap import floor as floor_module
from wirecap import orders as orders_module
from wirecap.floor import Floor
from wirecap.orders import OrderBook, analyse, read_rules

STORE = str(Path(__file__).resolve().parent.parent / "captures" / "store.pcap")


@pytest.fixture(scope="module")
def evening() -> list[Event]:
    recorder = Floor(keep_journal=True)
    analyse([STORE], (recorder, OrderTracker(read_rules(()))))
    return [e for e in recorder.journal or [] if isinstance(e, IikoEvent | IikoOrderSnapshot | IikoLockChange)]


def another(event: Event, night: int, seq: int) -> Event:
    """The event as it would be on another night: the same orders under other ids."""
    if isinstance(event, IikoLockChange):
        return event.model_copy(update={"order_id": f"{event.order_id}-{night}", "seq": seq})
    assert isinstance(event, IikoEvent | IikoOrderSnapshot)
    order = event.order.model_copy(update={"id": f"{event.order.id}-{night}"})
    return event.model_copy(update={"order": order, "seq": seq})


def test_closed_orders_are_bounded_and_open_ones_kept(evening: list[Event], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders_module, "MAX_CLOSED_ORDERS", 5)
    monkeypatch.setattr(orders_module, "MAX_FORGOTTEN", 7)
    monkeypatch.setattr(floor_module, "HISTORIES", 9)
    monkeypatch.setattr(floor_module, "HISTORY_SIZE", 4)
    one = OrderBook()
    for event in evening:
        one.observe(event)
    open_per_night = {o.order.id for o in one.open_orders()}
    closed_per_night = len(one.orders) - len(open_per_night)
    assert open_per_night and closed_per_night  # the evening closes an order and leaves others open
    floor = Floor(ring_size=100)
    nights = 20
    seq = 0
    for night in range(nights):
        for event in evening:
            seq += 1
            floor.observe(another(event, night, seq))
        if night == 0:
            first = [o.as_json() for o in floor.book.open_orders()]
    book = floor.book
    assert {o.order.id for o in book.open_orders()} == {f"{i}-{n}" for n in range(nights) for i in open_per_night}
    assert len(book.orders) == len(open_per_night) * nights + 5  # every open order, the last 5 closed
    assert len(book.forgotten) == 7 and book.seen == len(one.orders) * nights
    assert len(floor.ring) == 100 and len(floor.histories) == 9
    assert all(len(h) <= 4 for h in floor.histories.values())
    night0 = [o.as_json() for o in book.open_orders() if o.order.id and o.order.id.endswith("-0")]
    assert night0 == first  # dropping closed orders changed nothing of the open ones


def test_a_late_line_of_a_dropped_order_does_not_reopen_it(
    evening: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_module, "MAX_CLOSED_ORDERS", 0)
    book = OrderBook()
    for event in evening:
        book.observe(event)
    (closed,) = book.forgotten
    late = next(e for e in evening if isinstance(e, IikoEvent) and e.order.id == closed)
    book.observe(late)
    assert closed not in book.orders
