"""The pipeline: packets → connections → reassembled streams → decoders → ordered events.

``Pipeline.process_batch`` is the per-packet hot loop. Connections are found by a dict keyed by the
directional 4-tuple packed into one string (both directions map to the same ``ConnState``). Time is the
packets' own: an event's ``ts`` is the time of the packet that completed it, clamped so that output time
never decreases (a packet older than its predecessor is reported once as ``pcap_time_went_backwards``).
Idle connections are closed by a sweep run once per second of capture time (``advance`` lets a live
capture's wall clock run it when no packets come); at most ``max_connections``
are open at once, the one idle longest making room for a new one.
"""

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from decoders.anomalies import ANOMALIES
from decoders.core import RUST
from decoders.detect import Protocol
from decoders.events import Anomaly, ConnFields, ConnOpen, Event
from decoders.interface import Decoder, DecoderOptions, Undecoded
from decoders.models import construct

from .conn_state import SECOND, ConnState
from .flow import community_id, endpoint, host, make_uid
from .packets import (
    ETH_IPV4_TCP,
    ETH_IPV4_TCP_MIN,
    ETHERTYPE_IPV4,
    IPPROTO_TCP,
    LINKTYPE_ETHERNET,
    PORTS,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    PacketParser,
)
from .ports import port_services
from .reassembly import SEQ_MASK, BufferBudget, Connection, HalfStream
from .redact import redact_events
from .source import META, Batch, PacketBuffer, Source

CLOSE_LINGER_NS = 5 * SECOND  # after both FINs, how long to wait for the last ACK (Zeek's tcp_close_delay)
TOMBSTONE_NS = 120 * SECOND  # how long a closed connection absorbs stray packets (late ACKs, FIN retransmits)
WELL_KNOWN_PORT_LIMIT = 1024
CONTROL_FLAGS = TCP_SYN | TCP_FIN | TCP_RST  # segments with these take the general path

DecoderFactory = Callable[[ConnFields, DecoderOptions], Decoder]


@dataclass(frozen=True)
class Options:
    ports: frozenset[int] = frozenset({8506, 8080})
    pinned: Mapping[int, str] = field(default_factory=dict)  # port -> protocol taken without probing
    any_port: bool = False
    idle_timeout: float = 3600.0  # seconds of capture time
    max_ooo_per_conn: int = 8 << 20
    max_ooo_total: int = 256 << 20
    # Open connections, for bounded memory: a store's LAN has tens of peers and hundreds of connections
    # open; an open net.tcp connection costs about 6 KB (measured: its decoder past the preamble), so
    # 100 k stay near 0.6 GB. Past it, the connection idle longest is closed as "evicted".
    max_connections: int = 100_000
    decoder: DecoderOptions = field(default_factory=DecoderOptions)
    protocols: tuple[Protocol, ...] | None = None  # None: every registered decoder
    fallback: DecoderFactory = Undecoded


@dataclass
class Stats:
    packets: int = 0
    bytes: int = 0
    connections: int = 0
    anomalies: dict[str, int] = field(default_factory=dict)


# (the connection, the sending half, 0 from orig / 1 from resp, the pipeline's state of the connection)
TableEntry = tuple[Connection, HalfStream, int, ConnState]
Parsed = tuple[bytes, int, int, int, bytes]  # a segment's table key, seq, ack, flags, payload
# (pipeline, link type, buffer, records): the loop of ``process_batch`` after its counting
CoreLoop = Callable[["Pipeline", int, PacketBuffer, bytes], None]


class Pipeline:
    _core_loop: ClassVar[CoreLoop | None] = None if RUST is None else RUST.process_batch

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.port_services = port_services(self.options.ports, self.options.pinned)
        self.pinned = frozenset(self.options.pinned)
        self.parser = PacketParser()
        self.budget = BufferBudget(self.options.max_ooo_total)
        # sender address + receiver address + both ports (``PORTS``) -> TableEntry
        self.table: dict[bytes, TableEntry] = {}  # open connections only
        self.live: dict[int, tuple[ConnState, bytes]] = {}  # id(state) -> (state, the originator's table key)
        # table key of a closed connection (both directions) -> its last packet time: what absorbs stray
        # packets (late ACKs, retransmitted FINs) for ``TOMBSTONE_NS``; a short connection's decoder and
        # reassembly go when it closes, since thousands of them a minute would hold their megabytes
        self.tombstones: dict[bytes, int] = {}
        # (last packet time when pushed, the originator's table key): a lazy min-heap of open connections
        self._idle: list[tuple[int, bytes]] = []
        self.events: list[Event] = []
        self.stats = Stats()
        self.clock = 0  # latest packet time seen
        self._next_sweep = 0
        self._time_reported = False
        self._idle_ns = int(self.options.idle_timeout * SECOND)

    def process_batch(self, linktype: int, buf: PacketBuffer, meta: bytes) -> None:
        """The hot loop: one call per batch of packets from a source; the core's (``_core_loop``) when it
        is in use, this one the reference and the fallback.

        Ethernet/IPv4/TCP frames are unpacked with one ``struct`` call, whose addresses and ports come out
        as one 12-byte string that is the connection table's key, and in-order segments are handed
        straight to their stream; every other frame (``_parse``) or segment (``Connection.packet``) takes
        the general path.
        """
        if not meta:
            return
        self.stats.packets += len(meta) // META.size
        _, _, last_offset, last_caplen = META.unpack_from(meta, len(meta) - META.size)
        self.stats.bytes += last_offset + last_caplen  # the packets lie end to end
        if self._core_loop is not None:
            if not isinstance(buf, bytes):  # a read-ahead slot: the batch is its first bytes, taken once
                buf = bytes(buf[: last_offset + last_caplen])
            self._core_loop(self, linktype, buf, meta)
            return
        unpack_common = ETH_IPV4_TCP.unpack_from
        ethernet = linktype == LINKTYPE_ETHERNET
        table = self.table
        batch_start = clock = self.clock
        next_sweep = self._next_sweep
        for sec, usec, off, caplen in META.iter_unpack(meta):
            ts = sec * SECOND + usec * 1000
            if ts < clock:
                self._time_backwards(ts, clock, meta, batch_start)
                ts = clock
            elif ts >= next_sweep:
                self._sweep(ts)
                next_sweep = self._next_sweep
            clock = ts
            if ethernet and caplen >= ETH_IPV4_TCP_MIN:
                etype, vihl, total, frag, proto, key, seq, ack, doff, flags = unpack_common(buf, off + 12)
                start = off + 34 + (doff >> 4) * 4
                ip_end = off + 14 + total
                common = (
                    etype == ETHERTYPE_IPV4 and vihl == 0x45 and proto == IPPROTO_TCP and not frag & 0x3FFF
                    and doff >= 0x50 and start <= ip_end <= off + caplen
                )  # fmt: skip
            else:
                common = False
            if common:
                data = buf[start:ip_end]
            else:
                parsed = self._parse(linktype, buf, off, caplen, ts)
                if parsed is None:
                    continue
                key, seq, ack, flags, data = parsed
            entry = table.get(key)
            if entry is None:
                self.clock = clock
                entry = self._open(key, flags, ts)
                if entry is None:
                    continue
            conn, half, from_resp, state = entry
            if half.fast and seq == half.next_seq and not flags & CONTROL_FLAGS:
                conn.last_ts = ts
                half.packets += 1
                if data:  # HalfStream.in_order, inlined: a call per packet is 8 % of the loop
                    n = len(data)
                    half.last = (half.offset, data)
                    half.offset += n
                    half.next_seq = (seq + n) & SEQ_MASK
                    if half.deliver:
                        state.data(half.direction, data, ts)
                continue
            conn.packet(from_resp, seq, ack, flags, data, ts)
            if conn.close_reason is not None:
                self._finish(state, conn.close_reason, ts)
        self.clock = clock

    def _parse(self, linktype: int, buf: PacketBuffer, off: int, caplen: int, ts: int) -> Parsed | None:
        """A frame the common unpacking does not take, parsed whole (its anomalies reported): its table key,
        seq, ack, flags and payload; None if it is no TCP segment wirecap reads."""
        segment = self.parser.parse(linktype, buf, off, off + caplen, ts)
        if self.parser.anomalies:
            self._packet_anomalies(ts)
        if segment is None:
            return None
        src, dst, sport, dport, seq, ack, flags, data = segment
        return src + dst + PORTS.pack(sport, dport), seq, ack, flags, data

    def _open(self, key: bytes, flags: int, ts: int) -> "TableEntry | None":
        """A new connection for the first packet with ``key`` (addresses and ports), if its ports are wanted
        and it is not a stray packet of a closed connection (a new SYN on a closed 4-tuple is a new one)."""
        if key in self.tombstones:
            if flags & (TCP_SYN | TCP_ACK) != TCP_SYN:
                return None
            del self.tombstones[key]
            self.tombstones.pop(_reverse(key), None)
        n = (len(key) - PORTS.size) // 2
        src, dst = key[:n], key[n : 2 * n]
        sport, dport = PORTS.unpack_from(key, 2 * n)
        opts = self.options
        if not opts.any_port and sport not in opts.ports and dport not in opts.ports:
            return None
        if len(self.live) >= opts.max_connections:
            self._evict(ts)
        syn = flags & TCP_SYN
        mid_stream = not syn
        if syn:
            sender_is_orig = not flags & TCP_ACK
        else:  # no handshake seen: the server is the side on a known port
            sender_is_orig = not (self._is_server_port(sport) and not self._is_server_port(dport))
        if sender_is_orig:
            o_addr, o_port, r_addr, r_port = src, sport, dst, dport
        else:
            o_addr, o_port, r_addr, r_port = dst, dport, src, sport
        orig, resp = endpoint(o_addr, o_port), endpoint(r_addr, r_port)
        fields = ConnFields(
            uid=make_uid(ts, orig, resp, 0),
            community_id=community_id(o_addr, r_addr, o_port, r_port),
            orig=orig,
            resp=resp,
            orig_h=host(o_addr),
            orig_p=o_port,
            resp_h=host(r_addr),
            resp_p=r_port,
        )
        state = ConnState(self, fields, r_port, ts, mid_stream)
        conn = state.conn
        orig_half, resp_half = conn.halves
        orig_key = o_addr + r_addr + PORTS.pack(o_port, r_port)
        from_orig = self.table[orig_key] = (conn, orig_half, 0, state)
        from_resp = self.table[r_addr + o_addr + PORTS.pack(r_port, o_port)] = (conn, resp_half, 1, state)
        self.live[id(state)] = (state, orig_key)
        if len(self._idle) > 2 * len(self.live) + 64:  # entries of closed connections pile up: start over
            self._idle = [(e[0].last_ts, k) for k, e in self.table.items() if e[2] == 0]
            heapq.heapify(self._idle)
        else:
            heapq.heappush(self._idle, (ts, orig_key))
        self.stats.connections += 1
        self.events.append(construct(ConnOpen, ts=ts, mid_stream=mid_stream, **fields))
        return from_orig if sender_is_orig else from_resp

    def _is_server_port(self, port: int) -> bool:
        return port in self.options.ports or port < WELL_KNOWN_PORT_LIMIT

    def _finish(self, state: ConnState, reason: str, ts: int, tombstone: bool = True) -> None:
        """Close the connection and take it out of the table, leaving a tombstone unless evicted (under a
        flood of connections memory must stay bounded)."""
        state.finish(reason, ts)
        _, key = self.live.pop(id(state))
        reverse = _reverse(key)
        del self.table[key]
        self.table.pop(reverse, None)  # the same key if a host talks to itself from and to one port
        if tombstone:
            self.tombstones[key] = self.tombstones[reverse] = state.conn.last_ts

    def _evict(self, ts: int) -> None:
        """Close the connection idle longest, to make room for a new one.

        Heap entries hold the last packet time as it was when pushed, never later than the true one: an
        entry that is out of date goes back with the true time, so the first one that is up to date has
        the earliest last packet of all. Nothing is done per packet.
        """
        while self._idle:
            last_ts, key = heapq.heappop(self._idle)
            entry = self.table.get(key)
            if entry is None:
                continue  # closed meanwhile
            conn, _, _, state = entry
            if conn.last_ts != last_ts:
                heapq.heappush(self._idle, (conn.last_ts, key))
                continue
            if self._count("tcp_too_many_connections") == 1:
                detail = f"{len(self.live)} connections open (max_connections); the one idle longest is closed"
                self.events.append(Anomaly(ts=ts, name="tcp_too_many_connections", detail=detail, source="tcp"))
            self._finish(state, "evicted", ts, tombstone=False)
            return

    def _sweep(self, ts: int) -> None:
        """Close idle connections and forget long-closed ones (once per second of capture time)."""
        self._next_sweep = ts + SECOND
        idle_before = ts - self._idle_ns
        linger_before = ts - CLOSE_LINGER_NS
        for state, _ in list(self.live.values()):
            conn = state.conn
            if conn.last_ts < idle_before or (conn.fin_closed and conn.last_ts < linger_before):
                self._finish(state, "timeout", ts)
        forget_before = ts - TOMBSTONE_NS
        stale = [key for key, last_ts in self.tombstones.items() if last_ts < forget_before]
        for key in stale:
            del self.tombstones[key]

    def finish(self, reason: str = "end-of-input") -> None:
        """End of input (or of a live capture: ``shutdown``): close every connection still open."""
        for state, _ in list(self.live.values()):
            self._finish(state, reason, self.clock)

    def advance(self, now: int) -> None:
        """Time passes without packets (a live capture's wall clock, ns, a little behind so that no packet
        still on its way is older): idle connections close on a quiet LAN too. The clock stays the last
        packet's, so that ``finish`` stamps the last events as replay would."""
        if now > self.clock and now >= self._next_sweep:
            self._sweep(now)

    def _time_backwards(self, ts: int, clock: int, meta: bytes, batch_start: int) -> None:
        """A packet of the batch ``meta`` is older than ``clock``, the newest time seen before it. The first
        one is reported with its number in the input, found again here from the batch's starting clock
        ``batch_start`` rather than counted in the loop: this is rare, the loop is not."""
        self._count("pcap_time_went_backwards")
        if not self._time_reported:
            self._time_reported = True
            number = self.stats.packets - len(meta) // META.size + _first_older(meta, batch_start) + 1
            self.events.append(
                Anomaly(
                    ts=clock,
                    name="pcap_time_went_backwards",
                    detail=f"packet {number} is {(clock - ts) / 1e6:.3f} ms older than "
                    "the newest packet before it; later such packets are counted only",
                    source="pcap",
                )
            )

    def _packet_anomalies(self, ts: int) -> None:
        for name, detail in self.parser.anomalies:
            if self._count(name) == 1:
                self.events.append(Anomaly(ts=ts, name=name, detail=detail, source=name.split("_", 1)[0]))
        self.parser.anomalies.clear()

    def _count(self, name: str) -> int:
        assert name in ANOMALIES, name
        count = self.stats.anomalies.get(name, 0) + 1
        self.stats.anomalies[name] = count
        return count

    def drain(self) -> list[Event]:
        """The events completed so far, handed over once; credentials redacted unless the options keep
        them (``wirecap.redact``), so that no consumer of the pipeline ever sees them."""
        events, self.events = self.events, []
        return events if self.options.decoder.keep_secrets else redact_events(events)


def _reverse(key: bytes) -> bytes:
    """The table key of the other direction: addresses swapped, ports swapped."""
    n = (len(key) - PORTS.size) // 2
    sport, dport = PORTS.unpack_from(key, 2 * n)
    return key[n : 2 * n] + key[:n] + PORTS.pack(dport, sport)


def merged_batches(sources: list[Source]) -> Iterator[Batch]:
    """Several inputs as one time-ordered sequence (ties: the order the inputs were named)."""
    if len(sources) == 1:
        yield from sources[0].batches()
        return

    def packets(index: int, source: Source) -> Iterator[tuple[int, int, int, bytes, bytes]]:
        for linktype, buf, meta in source.batches():
            for sec, usec, off, caplen in META.iter_unpack(meta):
                yield (
                    sec * SECOND + usec * 1000,
                    index,
                    linktype,
                    buf[off : off + caplen],
                    META.pack(sec, usec, 0, caplen),
                )

    for _ts, _index, linktype, packet, meta in heapq.merge(*(packets(i, s) for i, s in enumerate(sources))):
        yield linktype, packet, meta


def run(
    sources: list[Source],
    pipeline: Pipeline,
    write: Callable[[list[Event]], None],
    on_batch: Callable[[], None] | None = None,
) -> None:
    """Feed every batch through the pipeline and hand the events to ``write`` as they complete.

    A ``CaptureError`` propagates after the connections were closed and every event was written.
    """
    try:
        for linktype, buf, meta in merged_batches(sources):
            pipeline.process_batch(linktype, buf, meta)
            if pipeline.events:
                write(pipeline.drain())
            if on_batch is not None:
                on_batch()
    finally:
        pipeline.finish()
        write(pipeline.drain())


def _first_older(meta: bytes, newest: int) -> int:
    """The index in the batch ``meta`` of its first packet older than the newest time before it, ``newest``
    being the time before the batch."""
    for index, (sec, usec, _, _) in enumerate(META.iter_unpack(meta)):
        stamp = sec * SECOND + usec * 1000
        if stamp < newest:
            return index
        newest = stamp
    raise AssertionError("called for a batch with no packet older than its predecessors")
