"""Request/reply correlation by WS-Addressing MessageID / RelatesTo (WS-Addressing 1.0 Core 3.2, 3.4).

One structure, ``Pending``: an insertion-ordered table of open requests with a cap, the oldest forgotten
first (Zeek's rule for pending HTTP requests: overflow forgets instead of growing). The NMF decoder keeps
one per connection, keyed by MessageID with the request's time, to put ``latency_ms`` on the reply
(``request_latency``). Design: the pairing rule lives here, in ``decoders`` (sans-I/O, per connection,
time from the packets); ``request_seq`` can only be filled where seq numbers are assigned, in
``wirecap.sink``, which is to hold a ``Pending[(uid, MessageID), seq]`` and only map a reply's
``relates_to`` to it. Today the sink still keeps its own OrderedDict for that (any earlier MessageID, a
cap of 100 000, no anomaly); moving it onto ``Pending`` is an edit of the sink, left to its owner.
"""

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MAX_PENDING = 1024  # outstanding request MessageIDs remembered per connection for latency


class Pending(Generic[K, V]):
    """Open requests, oldest first: ``open`` a request, ``close`` it by its reply."""

    __slots__ = ("_open", "limit")

    def __init__(self, limit: int) -> None:
        self._open: dict[K, V] = {}
        self.limit = limit

    def open(self, key: K, value: V) -> K | None:
        """Remember a request; returns the oldest one's key if it had to be forgotten to make room."""
        forgotten = None
        if len(self._open) >= self.limit:
            forgotten = next(iter(self._open))
            del self._open[forgotten]
        self._open[key] = value
        return forgotten

    def close(self, key: K) -> V | None:
        """The request ``key`` answers, forgotten now; None if unknown (before the capture, or forgotten)."""
        return self._open.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._open

    def __len__(self) -> int:
        return len(self._open)


def request_latency(
    pending: "Pending[str, int]", message_id: str | None, relates_to: str | None, ts: int
) -> tuple[float | None, str | None]:
    """(latency in ms if this message answers an open request, MessageID forgotten to make room).

    A message with a MessageID and no RelatesTo is a request; one whose RelatesTo names an open
    request is its reply. A reply carrying its own MessageID is not itself awaited.
    """
    if relates_to is not None:
        if relates_to in pending:
            sent = pending.close(relates_to)
            assert sent is not None
            return (ts - sent) / 1e6, None
        return None, None
    if message_id is not None:
        return None, pending.open(message_id, ts)
    return None, None
