"""The floor as the web server sees it: open orders, recent events and each order's history, fed by the
decoder and read by the server's requests and event streams (``wirecap serve``, ``live --serve``).

The decoder thread writes (``observe``); the server's event loop reads. The decoder never waits on a
client and never calls into the server: it holds ``lock`` only to apply one event, and a request holds
it only to copy what it shows (the documents are built outside it). The server looks for new events
every ``TICK`` (``watch``) and wakes the event streams; each reads the ring from its own position, so a
slow client falls behind alone and, once what it still needs has left the ring, is told to start again
(``reset``) instead of holding anything back. Waking the server from the decoder once per batch cost
the decoding up to half its speed on a loaded machine (each wake hands the GIL over; ``sse_load.py``);
a tick bounds that to four hand-overs a second, with fewer and bigger sends to each client. Memory
stays flat: the ring, the histories and the closed orders (``OrderBook``) are all bounded.
"""

import asyncio
import dataclasses
import itertools
import threading
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from decoders.events import Event, RemotingMessage, RmsCall, WcfMessage
from decoders.iiko import Rules
from decoders.iiko_events import IikoEvent, IikoLockChange, IikoOrderSnapshot

from .orders import OpenOrder, OrderBook

TICK = 0.25  # seconds between the server's looks for new events (the board's latency budget is 1 s)
RING_SIZE = 10_000  # recent events kept for event streams that resume
HISTORY_SIZE = 200  # events kept per order for /api/orders/{id}
HISTORIES = 2_000  # orders whose history is kept (the ones changed last)
BOOK_EVENTS = (IikoEvent, IikoOrderSnapshot, IikoLockChange, WcfMessage, RmsCall, RemotingMessage)  # OrderBook reads


@dataclass
class Published:
    """One numbered event as the server hands it out; its Server-Sent Events frame is made once, by the
    first stream that sends it, and then shared by all of them."""

    seq: int
    kind: str
    event: Event
    encoded: bytes | None = None

    def frame(self) -> bytes:
        """``id``, ``event`` and one ``data`` line (compact JSON has no line breaks)."""
        if self.encoded is None:
            data = self.event.__pydantic_serializer__.to_json(self.event, exclude_none=True)
            self.encoded = b"id: %d\nevent: %s\ndata: %s\n\n" % (self.seq, self.kind.encode(), data)
        return self.encoded


@dataclass
class FloorView:
    """What one request shows: the open orders (copied) and the event number they include."""

    orders: list[OpenOrder]
    terminals: dict[str, str]
    seq: int
    clock: int  # ns: the time of the state (the last event's, or ``at``)


@dataclass
class Floor:
    """Sink analyzer and the server's state. ``journal`` (``wirecap serve``) keeps every event the orders
    are built from, so the floor can be rebuilt at any moment of the capture (``?at=``)."""

    keep_journal: bool = False
    ring_size: int = RING_SIZE
    rules: Rules | None = None  # the iiko rules, for the terminal names a Remoting call carries
    lock: threading.Lock = field(default_factory=threading.Lock)
    kinds: Counter[str] = field(default_factory=Counter)
    first_ts: int | None = None
    finished: bool = False  # the capture was read to its end (``wirecap serve``)
    clients: int = 0
    resets: int = 0  # streams told to start again: they fell behind the ring

    def __post_init__(self) -> None:
        self.book = OrderBook(rules=self.rules)
        self.ring: deque[Published] = deque(maxlen=self.ring_size)
        self.histories: OrderedDict[str, deque[Published]] = OrderedDict()
        self.journal: list[Event] | None = [] if self.keep_journal else None
        self.seq = 0
        self._wakeup = asyncio.Event()

    def observe(self, event: Event) -> list[Event]:
        published = Published(event.seq, event.kind, event)
        with self.lock:
            self.book.observe(event)
            self.seq = event.seq
            self.kinds[event.kind] += 1
            if self.first_ts is None:
                self.first_ts = event.ts
            self.ring.append(published)
            order_id = order_of(event)
            if order_id is not None:
                self._remember(order_id, published)
            if self.journal is not None and isinstance(event, BOOK_EVENTS):
                self.journal.append(event)
        return []

    def _remember(self, order_id: str, published: Published) -> None:
        history = self.histories.get(order_id)
        if history is None:
            history = self.histories[order_id] = deque(maxlen=HISTORY_SIZE)
            if len(self.histories) > HISTORIES:
                self.histories.popitem(last=False)
        else:
            self.histories.move_to_end(order_id)
        history.append(published)

    def view(self, at: int | None = None) -> FloorView:
        """The open orders now, or at ``at`` (ns) rebuilt from the journal."""
        if at is None:
            with self.lock:
                orders = [dataclasses.replace(o, items=list(o.items)) for o in self.book.open_orders()]
                return FloorView(orders, dict(self.book.terminals), self.seq, self.book.last_ts)
        book = OrderBook(until=at, rules=self.rules)
        seq = 0
        for event in itertools.islice(self.journal or [], None):  # a list only ever appended to
            if event.ts <= at:
                book.observe(event)
                seq = event.seq
        return FloorView(book.open_orders(), book.terminals, seq, at)

    def history(self, order_id: str) -> list[Published]:
        with self.lock:
            return list(self.histories.get(order_id, ()))

    def since(self, seq: int) -> tuple[list[Published], bool]:
        """The ring's events after ``seq``, and whether some of those already left it (a reset)."""
        with self.lock:
            if not self.ring or self.ring[-1].seq <= seq:
                return [], False
            oldest = self.ring[0].seq  # the ring holds consecutive numbers: Floor is the first analyzer
            if seq < oldest - 1:
                return list(self.ring), True
            return list(itertools.islice(self.ring, max(seq - oldest + 1, 0), None)), False

    async def watch(self) -> None:
        """In the server's event loop, for as long as it runs: wakes the streams when events came."""
        seen = -1
        while True:
            if self.seq != seen:
                seen = self.seq
                woken, self._wakeup = self._wakeup, asyncio.Event()
                woken.set()
            await asyncio.sleep(TICK)

    def wakeup(self) -> asyncio.Event:
        """The event the next wake sets (take it before reading the ring, then wait on it)."""
        return self._wakeup


def order_of(event: Event) -> str | None:
    if isinstance(event, IikoEvent | IikoOrderSnapshot):
        return event.order.id
    if isinstance(event, IikoLockChange):
        return event.order_id
    return None
