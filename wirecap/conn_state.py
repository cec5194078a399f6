"""One TCP connection as the pipeline sees it: its reassembly, the detection of its protocol, its decoder,
and the counts and summary (``conn.close``) written when it ends.

Bytes that arrive before the protocol is known are held (up to ``PROBE_WINDOW`` per direction) and
replayed into the decoder once detection decides; a decoder that raises is replaced by ``Undecoded``
and the connection goes on. A closed connection leaves only a tombstone in the pipeline (its key and time).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from decoders import detect
from decoders.detect import PROBE_WINDOW
from decoders.events import Anomaly, ConnClose, ConnFields, Direction, Event, TcpGap
from decoders.interface import Accounting, Decoder, Undecoded
from decoders.models import construct

from .ledger import close_stats, failed_accounting
from .reassembly import Connection

if TYPE_CHECKING:
    from .pipeline import Pipeline

SECOND = 1_000_000_000


class ConnState:
    """A connection as the pipeline sees it: reassembly, detection, its decoder, its anomaly counts."""

    __slots__ = (
        "conn",
        "decoder",
        "failed",
        "fields",
        "heads",
        "lanes",
        "pending",
        "pipeline",
        "probed",
        "reported",
        "server_port",
        "service",
    )

    def __init__(self, pipeline: "Pipeline", fields: ConnFields, server_port: int, ts: int, mid_stream: bool):
        self.pipeline = pipeline
        self.fields = fields
        self.server_port = server_port
        opts = pipeline.options
        self.conn = Connection(self, ts, opts.max_ooo_per_conn, pipeline.budget, mid_stream)
        self.decoder: Decoder | None = None
        # (orig, resp): a decoder's native lanes, which the core's packet loop gives in-order data first
        self.lanes: tuple[object, object] | None = None
        self.service: str | None = None
        self.probed = False  # the protocol was recognised by its probe, not assumed from the port
        self.failed: dict[Direction, Accounting] | None = None  # a failed decoder's accounting
        self.heads: dict[Direction, bytes] = {"orig": b"", "resp": b""}
        self.pending: list[tuple[str, Direction, bytes | int, int]] = []
        self.reported: dict[str, int] = {}  # anomaly name -> count (the first one is written)

    # --- StreamHandler: called by the reassembler ---

    def data(self, direction: Direction, data: bytes, ts: int) -> None:
        decoder = self.decoder
        if decoder is None:
            self.pending.append(("data", direction, data, ts))
            head = self.heads[direction]
            if len(head) < PROBE_WINDOW:
                self.heads[direction] = head + data[: PROBE_WINDOW - len(head)]
            full = max(len(self.heads["orig"]), len(self.heads["resp"])) >= PROBE_WINDOW
            self._detect(final=full)
        elif decoder.wants_data:  # the per-segment path: no generic wrapper here
            try:
                events = decoder.feed(direction, data, ts)
            except Exception as exc:  # a decoder bug must not take the capture down with it
                self._decoder_failed(exc, ts)
                return
            if events:
                self._emit(events)
        else:  # decoders only ever stop wanting bytes: stop handing them over
            for half in self.conn.halves:
                half.deliver = False

    def gap(self, direction: Direction, offset: int, length: int, ts: int) -> None:
        self.pipeline.events.append(TcpGap(ts=ts, dir=direction, offset=offset, length=length, **self.fields))
        if self.decoder is None:
            self.pending.append(("gap", direction, length, ts))
        else:
            self._run(self.decoder.gap, direction, length, ts)

    def eof(self, direction: Direction, ts: int) -> None:
        if self.decoder is None:
            self.pending.append(("eof", direction, 0, ts))
            self._detect(final=True)
        else:
            self._run(self.decoder.eof, direction, ts)

    def anomaly(self, name: str, detail: str, direction: Direction | None, offset: int | None, ts: int) -> None:
        self._emit(
            [Anomaly(ts=ts, name=name, detail=detail, source="tcp", offset=offset, dir=direction, **self.fields)]
        )

    # --- decoders ---

    def _detect(self, final: bool) -> None:
        pipeline = self.pipeline
        opts = pipeline.options
        decided, proto, self.probed = detect.detect(
            self.heads["orig"],
            self.heads["resp"],
            self.server_port,
            final=final,
            protocols=opts.protocols,
            ports=pipeline.port_services,
            pinned=pipeline.pinned,
        )
        if not decided:
            return
        factory = proto.factory if proto is not None else opts.fallback
        self.service = proto.name if proto is not None else None
        self.decoder = factory(self.fields, opts.decoder)
        lane = getattr(self.decoder, "lane", None)  # a decoder with a lane in the core (NmfDecoder)
        if lane is not None:
            self.lanes = (lane("orig"), lane("resp"))
        pending, self.pending = self.pending, []
        for what, direction, value, ts in pending:
            if what == "data":
                self.data(direction, value, ts)  # type: ignore[arg-type]
            elif what == "gap":
                self._run(self.decoder.gap, direction, value, ts)
            else:
                self._run(self.decoder.eof, direction, ts)

    def _run(self, method: Callable[..., list[Event]], *args: object) -> None:
        try:
            events = method(*args)
        except Exception as exc:  # a decoder bug must not take the capture down with it
            ts = args[-1]
            assert isinstance(ts, int)
            self._decoder_failed(exc, ts)
            return
        if events:
            self._emit(events)

    def _decoder_failed(self, exc: Exception, ts: int) -> None:
        """Replace a decoder that raised (a wirecap bug) by the counting fallback, and say so."""
        if self.decoder is not None and self.failed is None:
            self.failed = failed_accounting(self.decoder)
        self.decoder = Undecoded(self.fields, self.pipeline.options.decoder)
        self.lanes = None  # theirs was the failed decoder's: let it go
        detail = f"{self.service}: {exc!r}"
        self._emit([Anomaly(ts=ts, name="decoder_error", detail=detail, source=self.service or "?", **self.fields)])

    def _emit(self, events: list[Event]) -> None:
        out = self.pipeline.events
        for event in events:
            if isinstance(event, Anomaly):
                count = self.reported.get(event.name, 0)
                self.reported[event.name] = count + 1
                self.pipeline.stats.anomalies[event.name] = self.pipeline.stats.anomalies.get(event.name, 0) + 1
                if count:
                    continue
            out.append(event)

    def finish(self, reason: str, ts: int) -> None:
        """Close the connection (if the reassembler has not) and write its summary."""
        self.conn.close(reason, ts)
        if self.decoder is None:
            self._detect(final=True)
        conn = self.conn
        assert self.decoder is not None
        stats, service, guess, anomalies = close_stats(
            self.fields, conn.halves, self.decoder, self.failed, self.service, self.probed, ts
        )
        self._emit(anomalies)
        self.pipeline.events.append(
            construct(  # typed by the connection table and the ledger, once per connection: unvalidated
                ConnClose,
                ts=ts,
                reason=conn.close_reason or reason,  # type: ignore[arg-type]
                duration=(conn.last_ts - conn.first_ts) / SECOND,
                orig_stats=stats[0],
                resp_stats=stats[1],
                service=service,
                service_guess=guess,
                anomalies=dict(sorted(self.reported.items())),
                **self.fields,
            )
        )
        self._detach(conn)

    def _detach(self, conn: Connection) -> None:
        """The state, its connection and the halves (whose handler the state is) make a cycle that only the
        (rarely run, ``cli._tune_gc``) cyclic collector would free: the halves let go of the state, so that
        a closed connection, its decoder with it, is freed as soon as the pipeline drops it."""
        for half in conn.halves:
            half.handler = None  # type: ignore[assignment]  # closed: nothing reports to it any more
