"""HTTP/1.1 (RFC 9112) as the iikoRMS server link uses it: one ``rms.call`` per request/response pair.

iikoFront talks to the iiko server (Tomcat, port 8080) with ``POST /resto/services/<service>?methodName=<m>``,
an XML ``<args>`` body and an XML ``<result><success/><errorString/>…</result>`` reply, often gzip in both
directions, identified by ``X-Resto-*`` headers. h11 parses; a passive observer needs two of its
connections: a SERVER-role one fed the client's bytes yields requests, a CLIENT-role one fed the server's
bytes yields responses once it has been told which request to expect (HEAD has no body, ``Connection:
close`` ends the cycle). After each request we answer the SERVER-role connection with an empty synthetic
response so that it accepts the next (keep-alive, pipelining).

A capture that starts mid-connection, a gap, or bytes h11 rejects make the request side resynchronise at
the next request line; response bytes that no request awaits are skipped, and after a response h11
rejects the server side resumes at the next status line. Bodies: ``decoders.http_body``. The password hash
header is never copied into events.

Where h11 would read a message exactly so, the compiled core frames it instead (``decoders.http_fast``).
"""

import re
from collections import deque
from typing import Any

import h11

from .accounting import Accounting, Ledger
from .events import Anomaly, ConnFields, Direction, Event
from .http_body import Body
from .http_exchange import Exchange, core_maker, exchange_events, header_text, redacted
from .http_fast import CoreFraming
from .interface import DecoderOptions

MAX_PENDING = 100  # requests awaiting a response on one connection (Zeek's http pending cap)
MAX_SCAN = 64 << 10  # bytes kept while looking for the next request line
METHODS = (b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9] ")
REQUEST_LINE = re.compile(rb"(?:" + b"|".join(METHODS) + rb") [!-~]+ HTTP/1\.[01]\r?\n")  # may follow a body


def probe(orig_head: bytes, resp_head: bytes) -> bool | None:
    """True for a request line in the client's first bytes, or a status line in the server's (mid-stream)."""
    if resp_head.startswith(b"HTTP/1."):
        return True
    if not orig_head:
        return None if not resp_head else False
    space = orig_head.find(b" ")
    if space < 0:
        return None if len(orig_head) < 8 and any(m.startswith(orig_head) for m in METHODS) else False
    if orig_head[:space] not in METHODS:
        return False
    line_end = orig_head.find(b"\n")
    if line_end < 0:
        return None if len(orig_head) < 64 else False
    return orig_head[:line_end].rstrip(b"\r").endswith((b" HTTP/1.1", b" HTTP/1.0"))


class HttpDecoder(CoreFraming):
    """Both directions of one HTTP/1.x connection, observed passively."""

    name = "http"
    wants_data = True

    def __init__(self, conn: ConnFields, options: DecoderOptions) -> None:
        self.conn = conn
        self.options = options
        self.redacted = (lambda headers: headers) if options.keep_secrets else redacted
        self.maker: Any = None  # the core's rms.call maker, made at the first exchange (``core`` may be set after)
        self.requests = h11.Connection(h11.SERVER)  # fed the client's bytes
        # fed the server's bytes; None: a fresh one told of pending[0] if it was sent, made when first needed
        # (``_responses_conn``): the core's fast path reads most connections' responses without one
        self.responses: h11.Connection | None = None
        self.pending: deque[Exchange] = deque()  # oldest first; pending[0] is the one being answered
        self.current: Exchange | None = None  # request whose body is still arriving
        self.body_left: dict[Direction, int] = {"orig": 0, "resp": 0}  # of a body the core is reading
        self.response_head = b""  # of the response whose body the core is reading
        self.scan: bytearray | None = bytearray()  # not None: looking for a request line (start, resync)
        self.seen_request = False
        self.offset: dict[Direction, int] = {"orig": 0, "resp": 0}
        self.resp_skipping = False  # inside a run of response bytes no request awaits
        # byte accounting (decoders.accounting): what h11 consumed is decoded
        self.ledger: dict[Direction, Ledger] = {"orig": Ledger(), "resp": Ledger()}
        self.fed: dict[Direction, int] = {"orig": 0, "resp": 0}  # bytes given to the current h11 parser
        # stream offsets where h11 was last handed bytes after a resync / a rejected response: a
        # rejection at that very offset skips a byte; one further on (h11 consumed the bad head) does not
        self.fed_from: dict[Direction, int] = {"orig": 0, "resp": 0}

    # --- decoder protocol ---

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        events: list[Event] = []
        if not data:
            return events
        start = self.offset[direction]
        self.offset[direction] += len(data)
        if direction == "orig":
            self._feed_requests(data, start, ts, events)
        else:
            self._feed_responses(data, start, ts, events)
        return events

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        events: list[Event] = []
        start = self.offset[direction]
        self.offset[direction] += length
        if direction == "orig":
            if self.current is not None:
                self._anomaly(events, "http_message_lost", "gap inside a request", direction, ts, start)
                self.current = None
            self._retire("orig", "cut_by_gap")
            self.ledger["orig"].skip("resync", len(self.scan or b""))
            self.requests = h11.Connection(h11.SERVER)
            self.body_left["orig"] = 0
            self.scan = bytearray()
        elif self.pending and self.pending[0].sent and self.pending[0].status is not None:
            self._anomaly(events, "http_message_lost", "gap inside a response", direction, ts, start)
            self._finish_exchange(events, ts)
            self._retire("resp", "cut_by_gap")
            self._new_responses()
        return events

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        events: list[Event] = []
        if direction == "orig":
            if self.current is not None:
                self._anomaly(events, "http_truncated", "client side ended inside a request", direction, ts)
                self.current = None
            return events
        if self.pending and self.pending[0].sent:
            self._responses_conn().receive_data(b"")  # a response framed by the connection close ends here
            try:
                self._drain_responses(ts, events)
            except h11.RemoteProtocolError as exc:
                self._anomaly(events, "http_truncated", f"server side ended: {exc}", direction, ts)
        while self.pending:  # unanswered requests, long polls cut by the end of the capture
            self._finish_exchange(events, ts)
        return events

    def accounting(self, direction: Direction) -> Accounting:
        """The ledger, plus what the live h11 parser consumed (decoded) and still holds (truncated)."""
        ledger = self.ledger[direction]
        held = self._held(direction)
        skipped = dict(ledger.skipped)
        for reason, n in (("truncated", held), ("resync", len(self.scan or b"") if direction == "orig" else 0)):
            if n:
                skipped[reason] = skipped.get(reason, 0) + n
        return Accounting(ledger.decoded + self.fed[direction] - held, skipped)

    def _retire(self, direction: Direction, reason: str, refed: int = 0) -> None:
        """An h11 parser is dropped: what it consumed was decoded; of what it held, ``refed`` bytes are
        fed again elsewhere (and counted there), the rest is skipped for ``reason``."""
        held = self._held(direction)
        ledger = self.ledger[direction]
        ledger.decoded += self.fed[direction] - held
        ledger.skip(reason, held - refed)
        self.fed[direction] = 0

    def _held(self, direction: Direction) -> int:
        """Bytes the h11 parser of ``direction`` holds, not yet read."""
        conn = self.requests if direction == "orig" else self.responses
        return len(conn.trailing_data[0]) if conn is not None else 0

    # --- requests (client → server) ---

    def _feed_requests(self, data: bytes, start: int, ts: int, events: list[Event]) -> None:
        while True:  # once per request h11 rejects: a loop, so thousands of them cannot exhaust the stack
            if self.scan is not None:
                data = self._resync(data, start, ts, events)
                if not data:
                    return
                self.fed_from["orig"] = self.offset["orig"] - len(data)
            data = self._fast_requests(data, ts, events)
            if not data:
                return
            self.requests.receive_data(data)
            self.fed["orig"] += len(data)
            try:
                self._drain_requests(ts, events)
                return
            except h11.RemoteProtocolError as exc:
                leftover, offset = self._rejected(self.requests, "orig", "http_bad_request", exc, ts, events)
            skip = 1 if offset <= self.fed_from["orig"] else 0  # the next message may start right there
            self._retire("orig", "rejected", refed=max(len(leftover) - skip, 0))
            self.current = None
            self.requests = h11.Connection(h11.SERVER)
            self.scan = bytearray()
            data, start = leftover[skip:], offset + skip

    def _resync(self, data: bytes, start: int, ts: int, events: list[Event]) -> bytes:
        """Bytes from the next request line on; before the first request (mid-stream) or after an error."""
        assert self.scan is not None
        scan_start = start - len(self.scan)
        self.scan += data
        match = REQUEST_LINE.search(self.scan)
        if match is None:
            if len(self.scan) > MAX_SCAN:
                self.ledger["orig"].skip("resync", len(self.scan) - MAX_SCAN)
                del self.scan[: len(self.scan) - MAX_SCAN]
            return b""
        skipped = match.start()
        self.ledger["orig"].skip("resync", skipped)
        if skipped:
            detail = f"{skipped} bytes before a request line"
            self._anomaly(events, "http_resync", detail, "orig", ts, scan_start)
        rest = bytes(self.scan[skipped:])
        self.scan = None
        return rest

    def _drain_requests(self, ts: int, events: list[Event]) -> None:
        conn = self.requests
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                method, target = event.method.decode("ascii", "replace"), event.target.decode("latin-1")
                version, headers = event.http_version.decode("ascii"), header_text(event.headers)
                self._request_head(method, target, version, headers, ts, events)
            elif isinstance(event, h11.Data) and self.current is not None:
                self.current.request.add(event.data)
            elif isinstance(event, h11.EndOfMessage):
                if self.current is not None:
                    self.current.request.complete = True
                    self.current = None
                # a stand-in answer that keeps this parser reading HTTP: one that accepted a CONNECT or an
                # Upgrade would switch it to a tunnel (what the server really said is the response side's)
                refused = conn.their_state is h11.MIGHT_SWITCH_PROTOCOL
                conn.send(h11.Response(status_code=400 if refused else 200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _request_head(
        self, method: str, target: str, http_version: str, headers: dict[str, str], ts: int, events: list[Event]
    ) -> Exchange:
        self.seen_request = True
        exchange = Exchange(
            ts=ts,
            method=method,
            target=target,
            http_version=http_version,
            headers=headers,
            request=Body(self.options.max_http_body),
            response=Body(self.options.max_http_body),
        )
        self.current = exchange
        self.pending.append(exchange)
        if len(self.pending) > MAX_PENDING:
            self._anomaly(events, "http_too_many_pending", f"over {MAX_PENDING} unanswered requests", "orig", ts)
            self._finish_exchange(events, ts)
            self._retire("resp", "unexpected")
            self._new_responses()
        self._announce_next()
        return exchange

    def _announce_next(self) -> None:
        """Tell the CLIENT-role parser which request the next response answers (the fast path's parser
        is told when it is made)."""
        conn = self.responses
        if not self.pending or self.pending[0].sent or (conn is not None and conn.our_state is not h11.IDLE):
            return
        exchange = self.pending[0]
        exchange.sent = True
        if conn is None:
            return
        headers = [(b"Host", exchange.headers.get("host", "-").encode("latin-1") or b"-")]
        if exchange.closes():
            headers.append((b"Connection", b"close"))
        target = exchange.target.encode("latin-1")  # as received: h11 already accepted it
        conn.send(h11.Request(method=exchange.method, target=target, headers=headers))
        conn.send(h11.EndOfMessage())

    # --- responses (server → client) ---

    def _feed_responses(self, data: bytes, start: int, ts: int, events: list[Event]) -> None:
        while True:  # once per response h11 rejects, as for requests
            if not (self.pending and self.pending[0].sent):
                if not self.resp_skipping:
                    detail = f"{len(data)} bytes" + (" before any request" if not self.seen_request else "")
                    self._anomaly(events, "http_response_before_request", detail, "resp", ts, start)
                    self.resp_skipping = True
                self.ledger["resp"].skip("unexpected", len(data))
                return
            self.resp_skipping = False
            data = self._fast_responses(data, ts, events)
            if not data:
                return
            self._responses_conn().receive_data(data)
            self.fed["resp"] += len(data)
            try:
                self._drain_responses(ts, events)
                return
            except h11.RemoteProtocolError as exc:
                leftover, offset = self._rejected(self._responses_conn(), "resp", "http_bad_response", exc, ts, events)
            status_line = STATUS_LINE.search(leftover, 1 if offset <= self.fed_from["resp"] else 0)
            self._retire("resp", "rejected", refed=len(leftover) - status_line.start() if status_line else 0)
            self._finish_exchange(events, ts)
            self._new_responses()
            self._announce_next()
            if status_line is None:
                return
            data, start = leftover[status_line.start() :], offset + status_line.start()
            self.fed_from["resp"] = start

    def _drain_responses(self, ts: int, events: list[Event]) -> None:
        conn = self._responses_conn()
        while self.pending:
            exchange = self.pending[0]
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return
            if isinstance(event, h11.Response):
                exchange.status = event.status_code
                exchange.reason = event.reason.decode("latin-1")
                exchange.response_headers = header_text(event.headers)
            elif isinstance(event, h11.Data):
                exchange.response.add(event.data)
            elif isinstance(event, h11.EndOfMessage):
                exchange.response.complete = True
                self._finish_exchange(events, ts)
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                    self._announce_next()
                else:
                    return  # the server closes after this response

    # --- events ---

    def _rejected(
        self, conn: h11.Connection, direction: Direction, name: str, exc: Exception, ts: int, events: list[Event]
    ) -> tuple[bytes, int]:
        """Note bytes h11 refused; return them (from the refused message on) and their stream offset."""
        leftover = bytes(conn.trailing_data[0])
        offset = self.offset[direction] - len(leftover)
        self._anomaly(events, name, str(exc), direction, ts, offset)
        return leftover, offset

    def _finish_exchange(self, events: list[Event], ts: int) -> None:
        """Emit the oldest exchange as it stands (complete, or cut by a gap, an error or the end)."""
        exchange = self.pending.popleft()
        if exchange is self.current:
            self.current = None
        made = self._made(exchange, ts)
        if made is not None:
            events.append(made)
        else:
            events += exchange_events(exchange, self.conn, ts, self.options, self.redacted)

    def _made(self, exchange: Exchange, ts: int) -> Event | None:
        """The core's ``rms.call`` of the exchange; None where ``exchange_events`` makes it (no core, or
        anything the core does not read exactly as the pure-Python path does)."""
        if self.core is None:
            return None
        if self.maker is None:
            self.maker = core_maker(self.core, self.conn, self.options)
        return self.maker.event(exchange, ts)  # type: ignore[no-any-return]

    def _anomaly(
        self,
        events: list[Event],
        name: str,
        detail: str,
        direction: Direction,
        ts: int,
        offset: int | None = None,
    ) -> None:
        events.append(
            Anomaly(ts=ts, name=name, detail=detail, source="http", offset=offset, dir=direction, **self.conn)
        )
