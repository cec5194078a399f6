"""decoders.http's fast path: the compiled core (``decoders.core``; none with ``WIRECAP_PURE_PYTHON=1``)
frames the messages h11 would read exactly so, and h11 the rest.

The core takes a well-formed keep-alive message (``core/src/http.rs`` says which) at the start of a
segment while that direction's h11 parser holds no bytes and is between messages, which is where h11
would stand again after it; a Content-Length body the segment ends inside of is read on from the next
segments (``body_left``), as h11 reads it, its head's events at the head's time. The CLIENT-role parser
the fast path skips is made when h11 is needed again (``_responses_conn``), standing where the core does.
tests/test_core_http.py holds the two framings to the same events and byte accounting.
"""

from collections import deque
from types import ModuleType
from typing import TYPE_CHECKING

import h11

from .accounting import Ledger
from .core import RUST
from .events import Direction, Event
from .http_exchange import Exchange


class CoreFraming:
    """The fast path of ``HttpDecoder``: a mixin over its parsers, queue and ledger."""

    core: ModuleType | None = RUST  # None: h11 alone (a test sets it per decoder)
    requests: h11.Connection
    responses: h11.Connection | None  # None: a fresh one told of pending[0] if it was sent
    pending: deque[Exchange]
    current: Exchange | None
    ledger: dict[Direction, Ledger]
    body_left: dict[Direction, int]
    response_head: bytes

    if TYPE_CHECKING:  # HttpDecoder's

        def _held(self, direction: Direction) -> int: ...
        def _retire(self, direction: Direction, reason: str, refed: int = 0) -> None: ...
        def _announce_next(self) -> None: ...
        def _finish_exchange(self, events: list[Event], ts: int) -> None: ...
        def _request_head(
            self, method: str, target: str, version: str, headers: dict[str, str], ts: int, events: list[Event]
        ) -> Exchange: ...

    def _fast_requests(self, data: bytes, ts: int, events: list[Event]) -> bytes:
        """Read what the core is certain of at the start of ``data``; the rest, for h11."""
        conn, pos = self.requests, 0
        if self.core is None or self._held("orig") or (conn.their_state, conn.our_state) != (h11.IDLE, h11.IDLE):
            return data
        if left := self.body_left["orig"]:
            pos = min(len(data), left)
            self.ledger["orig"].decoded += pos
            self._request_body(data[:pos], left - pos)
        while not self.body_left["orig"] and pos < len(data):
            message = self.core.http_request(data, pos)
            if message is None:
                break
            end, method, target, headers, body, left = message
            self._request_head(method, target, "1.1", headers, ts, events)
            self.ledger["orig"].decoded += end - pos
            self._request_body(body, left)
            pos = end
        return data[pos:] if pos else data

    def _request_body(self, body: bytes, left: int) -> None:
        """Body bytes of the request the core reads (h11's Data); complete when none are left."""
        self.body_left["orig"] = left
        if self.current is None:  # answered and emitted already: the rest is read, not kept (as with h11)
            return
        self.current.request.add(body)
        if not left:
            self.current.request.complete = True
            self.current = None

    def _fast_responses(self, data: bytes, ts: int, events: list[Event]) -> bytes:
        """Read what the core is certain of at the start of ``data`` while pending[0] awaits its response;
        the rest, for h11."""
        conn, pos = self.responses, 0
        if self.core is None:
            return data
        if conn is not None:  # h11 in use: only where it is as a fresh one told of pending[0] would be
            if conn.our_state is not h11.DONE or conn.their_state is not h11.SEND_RESPONSE or any(conn.trailing_data):
                return data
            self._retire("resp", "truncated")  # it holds nothing: all it was fed is decoded
            self.responses = None
        if left := self.body_left["resp"]:
            pos = min(len(data), left)
            self.ledger["resp"].decoded += pos
            self._response_body(data[:pos], left - pos, ts, events)
        while not self.body_left["resp"] and pos < len(data) and self.pending:
            exchange = self.pending[0]
            if exchange.closes() or exchange.method == "CONNECT":
                break
            message = self.core.http_response(data, pos, head=exchange.method == "HEAD")
            if message is None:
                break
            end, exchange.status, exchange.reason, exchange.response_headers, body, left = message
            self.ledger["resp"].decoded += end - pos
            self.response_head = data[pos : end - len(body)]
            self._response_body(body, left, ts, events)
            pos = end
        return data[pos:] if pos else data

    def _response_body(self, body: bytes, left: int, ts: int, events: list[Event]) -> None:
        """Body bytes of pending[0]'s response; when none are left it is emitted and the next announced."""
        self.body_left["resp"] = left
        exchange = self.pending[0]
        exchange.response.add(body)
        if not left:
            exchange.response.complete = True
            self._finish_exchange(events, ts)
            self._announce_next()

    def _responses_conn(self) -> h11.Connection:
        """The CLIENT-role parser; one the fast path skipped is made now as it would stand: fresh, told of
        pending[0] if that was sent, and inside its response's body if the core is."""
        if self.responses is None:
            conn = self.responses = h11.Connection(h11.CLIENT)
            if self.pending and self.pending[0].sent:
                self.pending[0].sent = False
                self._announce_next()
            if self.body_left["resp"]:  # the head and the body so far again, their events already taken
                conn.receive_data(self.response_head + bytes(self.pending[0].response.size))
                while conn.next_event() is not h11.NEED_DATA:
                    pass
                self.body_left["resp"] = 0
        return self.responses

    def _new_responses(self) -> None:
        """A fresh CLIENT-role parser, after a gap or an error: no body is being read."""
        self.responses = h11.Connection(h11.CLIENT)
        self.body_left["resp"] = 0
