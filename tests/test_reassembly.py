"""wirecap.reassembly: the rules Wireshark cannot check for us (caps, anomalies).

Every test runs twice: once driving ``Connection.packet`` directly, once through ``Pipeline.process_batch``
on Ethernet frames, whose inlined in-order path must keep every rule the general path keeps.
"""

import struct
from collections.abc import Callable

import pytest

from decoders.accounting import Accounting
from decoders.detect import DecoderOptions
from decoders.events import Anomaly, ConnFields, Event, TcpGap
from wirecap.packets import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from wirecap.pipeline import Options, Pipeline
from wirecap.reassembly import BufferBudget, Connection
from wirecap.source import META

ISN = 0xFFFFFF00  # close to 2**32: every test also crosses the sequence-number wrap
MASK = 0xFFFFFFFF
CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


class Handler:
    """A StreamHandler that writes down what the reassembler tells it."""

    def __init__(self) -> None:
        self.streams = {"orig": bytearray(), "resp": bytearray()}
        self.gaps: list[tuple[str, int, int]] = []
        self.eofs: list[str] = []
        self.anomalies: list[tuple[str, str | None, int | None]] = []

    def data(self, direction: str, data: bytes, ts: int) -> None:
        self.streams[direction] += data

    def gap(self, direction: str, offset: int, length: int, ts: int) -> None:
        self.gaps.append((direction, offset, length))

    def eof(self, direction: str, ts: int) -> None:
        self.eofs.append(direction)

    def anomaly(self, name: str, detail: str, direction: str | None, offset: int | None, ts: int) -> None:
        self.anomalies.append((name, direction, offset))


class Tap:
    """One connection under test: ``packet`` sends a segment, ``handler`` holds what came out."""

    conn: Connection
    handler: Handler

    def packet(self, from_resp: int, seq: int, ack: int, flags: int, data: bytes, ts: int) -> None:
        raise NotImplementedError


class Direct(Tap):
    def __init__(self, limit: int, budget: BufferBudget, _port: int) -> None:
        self.handler = Handler()
        self.conn = Connection(self.handler, 0, limit, budget, mid_stream=False)

    def packet(self, from_resp: int, seq: int, ack: int, flags: int, data: bytes, ts: int) -> None:
        self.conn.packet(from_resp, seq, ack, flags, data, ts)


class Recorder:
    """The pipeline's only decoder: hands data and eof to the connection's ``Handler``."""

    name = "recorder"
    wants_data = True

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.fed = {"orig": 0, "resp": 0}

    def feed(self, direction: str, data: bytes, ts: int) -> list[Event]:
        self.fed[direction] += len(data)
        self.handler.data(direction, data, ts)
        return []

    def accounting(self, direction: str) -> Accounting:
        return Accounting(decoded=self.fed[direction])  # every byte it was handed counts as taken

    def gap(self, direction: str, length: int, ts: int) -> list[Event]:
        return []  # recorded from the pipeline's tcp.gap events, which carry the offset

    def eof(self, direction: str, ts: int) -> list[Event]:
        self.handler.eof(direction, ts)
        return []


class Piped(Tap):
    """A connection of a shared ``Pipeline``, fed one Ethernet/IPv4 frame per packet."""

    def __init__(self, pipeline: Pipeline, handlers: dict[str, Handler], port: int) -> None:
        self.pipeline = pipeline
        self.port = port
        self.handler = handlers[f"10.0.0.1:{port}"] = Handler()
        self.opened: Connection | None = None

    @property
    def conn(self) -> Connection:
        """The connection, also once closed (the pipeline's table holds open ones only)."""
        assert self.opened is not None
        return self.opened

    def packet(self, from_resp: int, seq: int, ack: int, flags: int, data: bytes, ts: int) -> None:
        src, dst, sport, dport = (SERVER, CLIENT, 8506, self.port) if from_resp else (CLIENT, SERVER, self.port, 8506)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(data), 1, 0x4000, 64, 6, 0, src, dst)
        frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp + data
        self.pipeline.process_batch(1, frame, META.pack(ts, 0, 0, len(frame)))
        entry = self.pipeline.table.get(CLIENT + SERVER + struct.pack("!HH", self.port, 8506))
        if entry is not None:  # else closed (or not opened)
            self.opened = entry[0]
        for event in self.pipeline.drain():  # gaps and anomalies of this connection, as the pipeline reports them
            if isinstance(event, TcpGap) and event.orig == f"10.0.0.1:{self.port}":
                self.handler.gap(event.dir, event.offset, event.length, ts)
            elif isinstance(event, Anomaly) and event.orig == f"10.0.0.1:{self.port}":
                self.handler.anomaly(event.name, event.detail, event.dir, event.offset, ts)


@pytest.fixture(params=["connection", "pipeline"])
def opener(request: pytest.FixtureRequest) -> Callable[[int, int], Callable[[], Tap]]:
    """``opener(limit, total)`` gives a function that opens connections sharing one global cap."""

    def make(limit: int, total: int) -> Callable[[], Tap]:
        ports = iter(range(40000, 41000))
        if request.param == "connection":
            budget = BufferBudget(total)
            return lambda: Direct(limit, budget, next(ports))
        handlers: dict[str, Handler] = {}

        def record(fields: ConnFields, _opts: DecoderOptions) -> Recorder:
            return Recorder(handlers[fields["orig"]])

        options = Options(any_port=True, max_ooo_per_conn=limit, max_ooo_total=total, protocols=(), fallback=record)
        pipeline = Pipeline(options)
        return lambda: Piped(pipeline, handlers, next(ports))

    return make


@pytest.fixture
def handshake(opener) -> Callable[..., tuple[Tap, Handler]]:
    def run(limit: int = 1 << 20, total: int = 1 << 30, open_: Callable[[], Tap] | None = None) -> tuple[Tap, Handler]:
        tap = (open_ or opener(limit, total))()
        tap.packet(0, ISN - 1, 0, TCP_SYN, b"", 0)
        tap.packet(1, 5000, ISN, TCP_SYN | TCP_ACK, b"", 0)
        return tap, tap.handler

    return run


def send(tap: Tap, offset: int, data: bytes, flags: int = TCP_ACK) -> None:
    """The originator sends ``data`` at stream ``offset``."""
    tap.packet(0, (ISN + offset) & MASK, 5001, flags, data, 1)


def test_out_of_order_cap_turns_the_hole_into_a_gap(handshake) -> None:
    conn, handler = handshake(limit=1000)
    send(conn, 0, b"a" * 100)
    send(conn, 200, b"c" * 600)  # hole at 100..200
    assert handler.gaps == [] and len(handler.streams["orig"]) == 100
    send(conn, 800, b"d" * 600)  # 1200 bytes buffered > 1000
    assert handler.gaps == [("orig", 100, 100)]
    assert handler.anomalies == [("tcp_ooo_limit", "orig", 100)]
    assert bytes(handler.streams["orig"]) == b"a" * 100 + b"c" * 600 + b"d" * 600


def test_global_cap_is_shared_by_connections(handshake, opener) -> None:
    open_ = opener(1 << 20, 1500)
    first, first_handler = handshake(open_=open_)
    second, second_handler = handshake(open_=open_)
    budget = first.conn.halves[0].budget
    send(first, 100, b"x" * 1000)
    assert budget.used == 1000 and not first_handler.gaps
    send(second, 100, b"y" * 1000)  # 2000 > 1500 in all: the connection that pushed it over skips
    assert second_handler.gaps == [("orig", 0, 100)] and budget.used == 1000
    first.packet(1, 5001, 0, TCP_RST, b"", 2)
    assert budget.used == 0


def test_overlap_with_different_bytes_keeps_the_first_copy_and_says_so(handshake) -> None:
    conn, handler = handshake()
    send(conn, 10, b"0123456789")  # buffered
    send(conn, 5, b"XXXXXabcdeYYYYY")  # overlaps 10..20 with different bytes
    send(conn, 0, b"hello")
    assert bytes(handler.streams["orig"]) == b"helloXXXXX0123456789"
    assert handler.anomalies == [("tcp_overlap_mismatch", "orig", 10)]


def test_retransmission_of_delivered_bytes_is_compared(handshake) -> None:
    conn, handler = handshake()
    send(conn, 0, b"abcdef")
    send(conn, 0, b"abcdef")  # an honest retransmission
    assert handler.anomalies == []
    send(conn, 2, b"XY")  # the same range, other bytes
    assert handler.anomalies == [("tcp_overlap_mismatch", "orig", 2)]
    assert bytes(handler.streams["orig"]) == b"abcdef"


def test_ack_past_a_hole_reports_it_lost(handshake) -> None:
    conn, handler = handshake()
    send(conn, 0, b"a" * 10)
    send(conn, 20, b"c" * 10)
    conn.packet(1, 5001, (ISN + 30) & MASK, TCP_ACK, b"", 2)  # the receiver has it all
    assert handler.gaps == [("orig", 10, 10)]
    assert bytes(handler.streams["orig"]) == b"a" * 10 + b"c" * 10


def test_ack_past_several_holes_reports_them_all(handshake) -> None:
    conn, handler = handshake()
    for offset in (0, 20, 40):
        send(conn, offset, b"x" * 10)
    conn.packet(1, 5001, (ISN + 50) & MASK, TCP_ACK, b"", 2)
    assert handler.gaps == [("orig", 10, 10), ("orig", 30, 10)]
    assert len(handler.streams["orig"]) == 30


def test_bare_ack_past_a_hole_before_a_fin_reports_it_lost(handshake) -> None:
    """The FIN is in, the bytes before it are not: the peer's ACK of the FIN proves them lost.

    Regression: the pipeline's inlined in-order path took that bare ACK and ignored the pending FIN.
    """
    conn, handler = handshake()
    send(conn, 0, b"a" * 10)
    send(conn, 20, b"", TCP_ACK | TCP_FIN)  # bytes 10..20 never captured
    assert handler.gaps == [] and handler.eofs == []
    conn.packet(1, 5001, (ISN + 21) & MASK, TCP_ACK, b"", 2)
    assert handler.gaps == [("orig", 10, 10)] and handler.eofs == ["orig"]


def test_the_missing_bytes_before_a_fin_arrive_in_order(handshake) -> None:
    """Regression: the inlined path delivered the late bytes but never saw that they reached the FIN."""
    conn, handler = handshake()
    send(conn, 0, b"a" * 10)
    send(conn, 20, b"", TCP_ACK | TCP_FIN)
    send(conn, 10, b"b" * 10)
    assert handler.eofs == ["orig"] and handler.gaps == []
    assert bytes(handler.streams["orig"]) == b"a" * 10 + b"b" * 10


def test_data_after_fin_is_an_anomaly_and_is_not_delivered(handshake) -> None:
    conn, handler = handshake()
    send(conn, 0, b"bye", TCP_ACK | TCP_FIN)
    assert handler.eofs == ["orig"]
    send(conn, 0, b"bye", TCP_ACK | TCP_FIN)  # a retransmitted FIN is fine
    assert handler.anomalies == []
    send(conn, 4, b"more")
    assert handler.anomalies == [("tcp_data_after_close", "orig", None)]
    assert bytes(handler.streams["orig"]) == b"bye"


def test_fin_closes_after_the_last_ack_and_rst_at_once(handshake) -> None:
    conn, handler = handshake()
    send(conn, 0, b"q", TCP_ACK | TCP_FIN)
    conn.packet(1, 5001, (ISN + 2) & MASK, TCP_ACK | TCP_FIN, b"r", 2)
    assert handler.eofs == ["orig", "resp"] and conn.conn.close_reason is None  # the last ACK is pending
    conn.packet(0, (ISN + 2) & MASK, 5003, TCP_ACK, b"", 3)
    assert conn.conn.close_reason == "fin"

    conn, handler = handshake()
    send(conn, 0, b"a")
    send(conn, 5, b"b")
    conn.packet(1, 5001, 0, TCP_RST, b"", 2)
    assert conn.conn.close_reason == "rst"
    assert handler.gaps == [("orig", 1, 4)] and handler.eofs == ["orig", "resp"]
