"""Request/reply correlation: by WS-Addressing MessageID / RelatesTo (WS-Addressing 1.0 Core 3.2, 3.4) for
WCF, by the call's number on its connection (``trans_depth``) for .NET Remoting, whose replies come in
the order of the calls ([MS-NRTP] 3.1.5.1.1).

One structure, ``Pending``: an insertion-ordered table of open requests with a cap, the oldest forgotten
first (Zeek's rule for pending HTTP requests: overflow forgets instead of growing), and one pairing rule,
``pair``. Two layers keep a table per connection by that rule, each for what only it knows: the NMF
decoder the request's time (``latency_ms`` on the reply; sans-I/O, time from the packets), the sink the
request's ``seq`` (``request_seq``; seq numbers exist only there). Both forget a connection's table with
the connection, so memory follows the open connections, not the hours a live capture has run.
"""

from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

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


def pair(
    pending: "Pending[Any, V]", message_id: Hashable | None, relates_to: Hashable | None, value: V
) -> tuple[V | None, Any]:
    """(the value remembered for the request this message answers, MessageID forgotten to make room).

    A message with a MessageID and no RelatesTo is a request: ``value`` is remembered for it. One whose
    RelatesTo names an open request is its reply. A reply carrying its own MessageID is not itself awaited.
    """
    if relates_to is not None:
        return pending.close(relates_to), None
    if message_id is not None:
        return None, pending.open(message_id, value)
    return None, None


Keys = tuple[Hashable | None, Hashable | None]  # (what a request opens, what a reply closes)


def _wcf_keys(fields: Mapping[str, Any]) -> Keys:
    return fields["message_id"], fields["relates_to"]


def _remoting_keys(fields: Mapping[str, Any]) -> Keys:
    operation, depth = fields["operation"], fields["trans_depth"]
    return (depth if operation == "request" else None), (depth if operation == "reply" else None)


# the event kinds that pair, by the name of their rule (the sink in the core has the same two rules:
# core/src/sink_python.rs), and their keys for ``pair`` (a one-way call opens nothing)
PAIRING_RULES: dict[str, str] = {"wcf.message": "wcf", "wcf.fault": "wcf", "remoting.message": "remoting"}
_RULES: dict[str, Callable[[Mapping[str, Any]], Keys]] = {"wcf": _wcf_keys, "remoting": _remoting_keys}
PAIRING_KEYS: dict[str, Callable[[Mapping[str, Any]], Keys]] = {kind: _RULES[r] for kind, r in PAIRING_RULES.items()}


def request_latency(
    pending: "Pending[str, int]", message_id: str | None, relates_to: str | None, ts: int
) -> tuple[float | None, str | None]:
    """(latency in ms if this message answers an open request, MessageID forgotten to make room)."""
    sent, forgotten = pair(pending, message_id, relates_to, ts)
    return (None if sent is None else (ts - sent) / 1e6), forgotten
