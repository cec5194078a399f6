"""wirecap.reassembly driven directly: the rules Wireshark cannot check for us (caps, anomalies)."""

from wirecap.packets import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from wirecap.reassembly import BufferBudget, Connection

ISN = 0xFFFFFF00  # close to 2**32: every test also crosses the sequence-number wrap
MASK = 0xFFFFFFFF


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


def handshake(limit: int = 1 << 20, budget: BufferBudget | None = None) -> tuple[Connection, Handler]:
    handler = Handler()
    conn = Connection(handler, 0, limit, budget or BufferBudget(1 << 30), mid_stream=False)
    conn.packet(0, ISN - 1, 0, TCP_SYN, b"", 0, 0)
    conn.packet(1, 5000, ISN, TCP_SYN | TCP_ACK, b"", 0, 0)
    return conn, handler


def send(conn: Connection, offset: int, data: bytes, flags: int = TCP_ACK) -> None:
    """The originator sends ``data`` at stream ``offset``."""
    conn.packet(0, (ISN + offset) & MASK, 5001, flags, data, 0, 1)


def test_out_of_order_cap_turns_the_hole_into_a_gap() -> None:
    conn, handler = handshake(limit=1000)
    send(conn, 0, b"a" * 100)
    send(conn, 200, b"c" * 600)  # hole at 100..200
    assert handler.gaps == [] and len(handler.streams["orig"]) == 100
    send(conn, 800, b"d" * 600)  # 1200 bytes buffered > 1000
    assert handler.gaps == [("orig", 100, 100)]
    assert handler.anomalies == [("tcp_ooo_limit", "orig", 100)]
    assert bytes(handler.streams["orig"]) == b"a" * 100 + b"c" * 600 + b"d" * 600


def test_global_cap_is_shared_by_connections() -> None:
    budget = BufferBudget(1500)
    first, first_handler = handshake(budget=budget)
    second, second_handler = handshake(budget=budget)
    send(first, 100, b"x" * 1000)
    assert budget.used == 1000 and not first_handler.gaps
    send(second, 100, b"y" * 1000)  # 2000 > 1500 in all: the connection that pushed it over skips
    assert second_handler.gaps == [("orig", 0, 100)] and budget.used == 1000
    first.close("rst", 2)
    assert budget.used == 0


def test_overlap_with_different_bytes_keeps_the_first_copy_and_says_so() -> None:
    conn, handler = handshake()
    send(conn, 10, b"0123456789")  # buffered
    send(conn, 5, b"XXXXXabcdeYYYYY")  # overlaps 10..20 with different bytes
    send(conn, 0, b"hello")
    assert bytes(handler.streams["orig"]) == b"helloXXXXX0123456789"
    assert handler.anomalies == [("tcp_overlap_mismatch", "orig", 10)]


def test_retransmission_of_delivered_bytes_is_compared() -> None:
    conn, handler = handshake()
    send(conn, 0, b"abcdef")
    send(conn, 0, b"abcdef")  # an honest retransmission
    assert handler.anomalies == []
    send(conn, 2, b"XY")  # the same range, other bytes
    assert handler.anomalies == [("tcp_overlap_mismatch", "orig", 2)]
    assert bytes(handler.streams["orig"]) == b"abcdef"


def test_ack_past_a_hole_reports_it_lost() -> None:
    conn, handler = handshake()
    send(conn, 0, b"a" * 10)
    send(conn, 20, b"c" * 10)
    conn.packet(1, 5001, (ISN + 30) & MASK, TCP_ACK, b"", 0, 2)  # the receiver has it all
    assert handler.gaps == [("orig", 10, 10)]
    assert bytes(handler.streams["orig"]) == b"a" * 10 + b"c" * 10


def test_data_after_fin_is_an_anomaly_and_is_not_delivered() -> None:
    conn, handler = handshake()
    send(conn, 0, b"bye", TCP_ACK | TCP_FIN)
    assert handler.eofs == ["orig"]
    send(conn, 0, b"bye", TCP_ACK | TCP_FIN)  # a retransmitted FIN is fine
    assert handler.anomalies == []
    send(conn, 4, b"more")
    assert handler.anomalies == [("tcp_data_after_close", "orig", None)]
    assert bytes(handler.streams["orig"]) == b"bye"


def test_fin_closes_after_the_last_ack_and_rst_at_once() -> None:
    conn, handler = handshake()
    send(conn, 0, b"q", TCP_ACK | TCP_FIN)
    conn.packet(1, 5001, (ISN + 2) & MASK, TCP_ACK | TCP_FIN, b"r", 0, 2)
    assert handler.eofs == ["orig", "resp"] and conn.close_reason is None  # the last ACK is pending
    conn.packet(0, (ISN + 2) & MASK, 5003, TCP_ACK, b"", 0, 3)
    assert conn.close_reason == "fin"

    conn, handler = handshake()
    send(conn, 0, b"a")
    send(conn, 5, b"b")
    conn.packet(1, 5001, 0, TCP_RST, b"", 0, 2)
    assert conn.close_reason == "rst"
    assert handler.gaps == [("orig", 1, 4)] and handler.eofs == ["orig", "resp"]


def test_bytes_cut_by_the_snap_length_become_a_gap() -> None:
    conn, handler = handshake()
    conn.packet(0, ISN, 5001, TCP_ACK, b"abc", 7, 1)  # 10 bytes on the wire, 3 captured
    send(conn, 10, b"next")
    assert bytes(handler.streams["orig"]) == b"abcnext"
    assert handler.gaps == [("orig", 3, 7)]
