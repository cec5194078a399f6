"""TCP reassembly, per connection and direction.

Each direction is a ``HalfStream``: an in-order fast path, out-of-order segments buffered in a sorted
list, retransmissions and overlaps resolved "first copy wins" (differing bytes are an anomaly), 32-bit
sequence wrap handled by working in signed distances from the next expected sequence number, and stream
offsets counted in 64 bits. Lost data becomes a gap — reported to the consumer and counted — when the
other side acknowledges past a hole, when out-of-order buffering hits its cap, or when the connection
ends. Memory is bounded by a per-connection cap and a global cap on buffered out-of-order bytes.

The consumer (``StreamHandler``) receives in-order bytes, gaps and end-of-stream per direction.
"""

from bisect import insort
from typing import Protocol

from decoders.events import Direction

from .packets import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN

_HALF = 0x80000000
SEQ_MASK = 0xFFFFFFFF  # sequence numbers are 32 bits


class StreamHandler(Protocol):
    def data(self, direction: Direction, data: bytes, ts: int) -> None: ...
    def gap(self, direction: Direction, offset: int, length: int, ts: int) -> None: ...
    def eof(self, direction: Direction, ts: int) -> None: ...
    def anomaly(self, name: str, detail: str, direction: Direction | None, offset: int | None, ts: int) -> None: ...


class BufferBudget:
    """The global cap on out-of-order bytes, shared by every connection."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class HalfStream:
    """One direction of a TCP connection."""

    __slots__ = (
        "budget",
        "deliver",
        "direction",
        "eof",
        "fast",
        "fin_acked",
        "fin_offset",
        "gap_bytes",
        "gaps",
        "handler",
        "last",
        "limit",
        "next_seq",
        "offset",
        "ooo",
        "ooo_bytes",
        "packets",
    )

    def __init__(self, direction: Direction, handler: StreamHandler, limit: int, budget: BufferBudget) -> None:
        self.direction = direction
        self.handler = handler
        self.deliver = True  # False once the consumer wants no more bytes (gaps and eof still go to it)
        self.limit = limit
        self.budget = budget
        self.next_seq: int | None = None  # absolute sequence number expected next
        self.offset = 0  # stream offset of next_seq (delivered bytes + gap bytes)
        self.ooo: list[tuple[int, int, bytes]] = []  # (start, end, data), sorted by start
        self.ooo_bytes = 0
        self.last: tuple[int, bytes] = (0, b"")  # last in-order chunk, to check retransmissions
        self.fin_offset: int | None = None
        self.fin_acked = False  # the peer acknowledged our FIN: nothing more can come this way
        self.eof = False
        # True while an in-order segment of this direction needs none of ``Connection.packet``: nothing is
        # buffered out of order and neither direction has sent its FIN. Kept by ``Connection``; the pipeline's
        # fast path reads this one flag instead of four.
        self.fast = True
        self.packets = 0
        self.gaps = 0
        self.gap_bytes = 0

    @property
    def delivered(self) -> int:
        return self.offset - self.gap_bytes

    def syn(self, seq: int) -> None:
        if self.next_seq is None:
            self.next_seq = (seq + 1) & SEQ_MASK

    def segment(self, seq: int, data: bytes, fin: bool, ts: int) -> None:
        """Add a segment's payload (and its FIN)."""
        if self.next_seq is None:  # no SYN seen: the stream starts at the first segment
            self.next_seq = seq
        n = len(data)
        start = self.offset + ((seq - self.next_seq + _HALF) & SEQ_MASK) - _HALF
        if fin:
            self.fin_offset = start + n
        if n:
            self._insert(start, data, ts)
        self._drain(ts)
        if self.ooo_bytes > self.limit or self.budget.used > self.budget.limit:
            self.handler.anomaly(
                "tcp_ooo_limit",
                f"{self.ooo_bytes} bytes buffered out of order "
                f"(limits ooo_per_conn {self.limit}, ooo_total {self.budget.limit})",
                self.direction,
                self.offset,
                ts,
            )
            self.skip_hole(ts)

    def in_order(self, seq: int, data: bytes, ts: int) -> None:
        """Deliver the next bytes of the stream: ``seq`` is ``next_seq`` and nothing is buffered.

        The pipeline's fast path has this inlined: a change here belongs there too.
        """
        n = len(data)
        self.last = (self.offset, data)
        self.offset += n
        self.next_seq = (seq + n) & SEQ_MASK
        if self.deliver:
            self.handler.data(self.direction, data, ts)

    def ack_reached(self, ack: int, ts: int) -> None:
        """The peer acknowledged ``ack``: any hole below it will never be filled in this capture."""
        if self.next_seq is None:
            return
        target = self.offset + (((ack - self.next_seq + _HALF) & SEQ_MASK) - _HALF)
        while target > self.offset and (self.ooo or (self.fin_offset is not None and not self.eof)):
            # the sender has moved on (later data buffered, or its FIN seen): every hole below ``target`` is lost
            self._skip_to(min(target, self.ooo[0][0] if self.ooo else self.fin_offset), ts)  # type: ignore[type-var]
            self._drain(ts)
        if self.eof and self.fin_offset is not None and target > self.fin_offset:
            self.fin_acked = True

    def skip_hole(self, ts: int) -> None:
        """Give up waiting for the first hole: report it as a gap and deliver what follows."""
        if self.ooo:
            self._skip_to(self.ooo[0][0], ts)
            self._drain(ts)

    def flush(self, ts: int) -> None:
        """The connection is over: report every remaining hole and deliver all buffered data."""
        while self.ooo:
            self.skip_hole(ts)
        if self.fin_offset is not None and self.fin_offset > self.offset:
            self._skip_to(self.fin_offset, ts)
        self._finish(ts, force=True)

    def _skip_to(self, target: int, ts: int) -> None:
        length = target - self.offset
        if length <= 0:
            return
        self.handler.gap(self.direction, self.offset, length, ts)
        self.gaps += 1
        self.gap_bytes += length
        self._advance(length)

    def _advance(self, n: int) -> None:
        self.offset += n
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + n) & SEQ_MASK

    def _insert(self, start: int, data: bytes, ts: int) -> None:
        """Buffer [start, start+len) minus what is already delivered or buffered (first copy wins)."""
        end = start + len(data)
        if start < self.offset:  # (partly) a retransmission of delivered bytes
            last_start, last = self.last
            lo, hi = max(start, last_start), min(end, self.offset, last_start + len(last))
            if lo < hi and data[lo - start : hi - start] != last[lo - last_start : hi - last_start]:
                self._mismatch(lo, hi, ts)
            if end <= self.offset:
                return
            data = data[self.offset - start :]
            start = self.offset
        pieces = [(start, end, data)]
        for o_start, o_end, o_data in self.ooo:
            if o_start >= end:
                break
            if o_end <= start:
                continue
            kept = []
            for p_start, p_end, p_data in pieces:
                lo, hi = max(p_start, o_start), min(p_end, o_end)
                if lo >= hi:
                    kept.append((p_start, p_end, p_data))
                    continue
                if p_data[lo - p_start : hi - p_start] != o_data[lo - o_start : hi - o_start]:
                    self._mismatch(lo, hi, ts)
                if p_start < lo:
                    kept.append((p_start, lo, p_data[: lo - p_start]))
                if hi < p_end:
                    kept.append((hi, p_end, p_data[hi - p_start :]))
            pieces = kept
        for piece in pieces:
            insort(self.ooo, piece, key=_start)
            self.ooo_bytes += piece[1] - piece[0]
            self.budget.used += piece[1] - piece[0]

    def _drain(self, ts: int) -> None:
        """Deliver buffered pieces that are now in order."""
        ooo = self.ooo
        while ooo and ooo[0][0] <= self.offset:
            start, end, data = ooo.pop(0)
            self.ooo_bytes -= end - start
            self.budget.used -= end - start
            if end <= self.offset:
                continue
            assert self.next_seq is not None
            self.in_order(self.next_seq, data[self.offset - start :], ts)
        self._finish(ts)

    def _finish(self, ts: int, force: bool = False) -> None:
        if not self.eof and (force or (self.fin_offset is not None and self.offset >= self.fin_offset)):
            self.eof = True
            if self.ooo:  # buffered beyond the FIN: the stream ended before these bytes
                beyond = sum(end - start for start, end, _ in self.ooo)
                held = sum(end - start for start, end, data in self.ooo if data is not None)
                self.ooo.clear()
                self.ooo_bytes -= held
                self.budget.used -= held
                detail = f"{beyond} bytes buffered beyond the FIN at {self.offset} are dropped"
                self.handler.anomaly("tcp_data_after_close", detail, self.direction, self.offset, ts)
            self.handler.eof(self.direction, ts)

    def _mismatch(self, lo: int, hi: int, ts: int) -> None:
        self.handler.anomaly(
            "tcp_overlap_mismatch",
            f"stream bytes {lo}-{hi} retransmitted with different content",
            self.direction,
            lo,
            ts,
        )


def _start(piece: tuple[int, int, bytes]) -> int:
    return piece[0]


class Connection:
    """Both directions of one TCP connection and how it ends."""

    __slots__ = ("close_reason", "first_ts", "halves", "last_ts", "mid_stream")

    def __init__(self, handler: StreamHandler, ts: int, limit: int, budget: BufferBudget, mid_stream: bool) -> None:
        self.halves = (HalfStream("orig", handler, limit, budget), HalfStream("resp", handler, limit, budget))
        self.first_ts = ts
        self.last_ts = ts
        self.mid_stream = mid_stream
        self.close_reason: str | None = None

    def packet(self, from_resp: int, seq: int, ack: int, flags: int, data: bytes, ts: int) -> None:
        """One segment; ``from_resp`` is 0 for the originator's packets, 1 for the responder's."""
        self.last_ts = ts
        half = self.halves[from_resp]
        half.packets += 1
        if flags & TCP_SYN:
            half.syn(seq)
            seq = (seq + 1) & SEQ_MASK
        if flags & TCP_RST:
            self.close("rst", ts)
            return
        if data or flags & TCP_FIN:
            if half.eof:
                if (
                    data
                    and half.next_seq is not None
                    and ((seq - half.next_seq + _HALF) & SEQ_MASK) - _HALF + len(data) > 0
                ):
                    half.handler.anomaly(
                        "tcp_data_after_close", f"{len(data)} bytes after end of stream", half.direction, None, ts
                    )
            else:
                half.segment(seq, data, bool(flags & TCP_FIN), ts)
        if flags & TCP_ACK:
            self.halves[1 - from_resp].ack_reached(ack, ts)
        orig, resp = self.halves
        if orig.fin_acked and resp.fin_acked:
            self.close("fin", ts)
        else:
            # a FIN seen (even with bytes still missing before it) needs the general path: an ACK past
            # it proves the hole, and bytes reaching it end the stream
            orig.fast = resp.fast = not (
                orig.ooo or orig.fin_offset is not None or resp.ooo or resp.fin_offset is not None
            )

    @property
    def fin_closed(self) -> bool:
        """Both sides sent FIN and all their bytes are in: only the last ACKs may still come."""
        return self.halves[0].eof and self.halves[1].eof

    def close(self, reason: str, ts: int) -> None:
        if self.close_reason is None:
            self.close_reason = "fin" if self.fin_closed else reason
            for half in self.halves:
                half.fast = False
                half.flush(ts)
