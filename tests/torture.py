"""Torture captures for the TCP reassembly tests: scapy builds the packets, a tiny writer the files.

Our own pcap/pcapng writer (a few ``struct`` calls) gives what ``wrpcap`` does not: nanosecond files,
either byte order, link types scapy cannot write (SLL2, raw IPv4/IPv6 as 228/229, BSD null with any
address family) and pcapng sections whose interfaces have different link types. Everything is
deterministic: fixed addresses, ISNs, payloads (seeded) and timestamps.
"""

import random
import re
import struct
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from scapy.layers.inet import IP, TCP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet

# Link types, https://www.tcpdump.org/linktypes.html
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
T0 = 1_764_374_400 * 10**9  # 2025-11-29T00:00:00Z in ns: any fixed start will do
STEP = 1_000_000  # 1 ms between packets unless a scenario says otherwise


def payload(n: int, seed: int) -> bytes:
    """Deterministic bytes that make misplaced data obvious (no long runs that might line up)."""
    return random.Random(seed).randbytes(n)


def is_v6(addr: str) -> bool:
    return ":" in addr


def endpoint(addr: str, port: int) -> str:
    """Endpoint as wirecap and the foundation issue write it: ``10.0.0.5:51234``, ``[fe80::1]:8506``."""
    return f"[{addr}]:{port}" if is_v6(addr) else f"{addr}:{port}"


@dataclass
class Conn:
    """One TCP connection; builds its IP packets with sequence numbers derived from stream offsets.

    ``offset`` is the stream offset of a segment's first byte (0 = first data byte after the SYN),
    so scenarios speak in stream bytes and the ISN (possibly near 2**32) is applied here, mod 2**32.
    """

    client: str
    cport: int
    server: str
    sport: int
    isn: dict[str, int] = field(default_factory=lambda: {"orig": 1000, "resp": 5_000_000})
    ip_id: int = 1

    @property
    def orig(self) -> str:
        return endpoint(self.client, self.cport)

    @property
    def resp(self) -> str:
        return endpoint(self.server, self.sport)

    def _ip(self, direction: str) -> Packet:
        src, dst = (self.client, self.server) if direction == "orig" else (self.server, self.client)
        if is_v6(src):
            return IPv6(src=src, dst=dst, hlim=64)
        self.ip_id += 1
        return IP(src=src, dst=dst, ttl=64, id=self.ip_id, flags="DF")

    def _seq(self, direction: str, offset: int) -> int:
        return (self.isn[direction] + 1 + offset) % 2**32

    def packet(self, direction: str, flags: str, offset: int = 0, data: bytes = b"", ack: int = 0) -> Packet:
        """A segment from ``direction``; ``ack`` is the stream offset acknowledged in the other one."""
        sport, dport = (self.cport, self.sport) if direction == "orig" else (self.sport, self.cport)
        other = "resp" if direction == "orig" else "orig"
        seq = (self.isn[direction] + offset) % 2**32 if "S" in flags else self._seq(direction, offset)
        tcp = TCP(sport=sport, dport=dport, seq=seq, flags=flags, window=65535)
        if "A" in flags:
            tcp.ack = self._seq(other, ack)
        return self._ip(direction) / tcp / data if data else self._ip(direction) / tcp

    def handshake(self) -> list[Packet]:
        return [
            self.packet("orig", "S"),
            self.packet("resp", "SA"),
            self.packet("orig", "A"),
        ]

    def data(self, direction: str, offset: int, data: bytes) -> Packet:
        return self.packet(direction, "PA", offset, data)

    def segments(self, direction: str, data: bytes, size: int, start: int = 0) -> list[Packet]:
        """``data`` cut into in-order segments of ``size`` bytes, starting at stream offset ``start``."""
        return [self.data(direction, start + i, data[i : i + size]) for i in range(0, len(data), size)]

    def close(self, lengths: dict[str, int]) -> list[Packet]:
        """FIN from the client, FIN from the server, last ACK; ``lengths`` are the final stream sizes."""
        lo, lr = lengths.get("orig", 0), lengths.get("resp", 0)
        return [
            self.packet("orig", "FA", lo, ack=lr),
            self.packet("resp", "FA", lr, ack=lo + 1),
            self.packet("orig", "A", lo + 1, ack=lr + 1),
        ]


@dataclass(frozen=True)
class Frame:
    """One captured record: link-layer bytes, time in ns, pcapng interface index."""

    ts: int
    data: bytes
    iface: int = 0


def timed(packets: Iterable[Packet], start: int = T0, step: int = STEP) -> list[tuple[int, Packet]]:
    return [(start + i * step, p) for i, p in enumerate(packets)]


# --- link layers ------------------------------------------------------------------------------------


def _ethertype(ip: Packet) -> int:
    return ETH_P_IPV6 if isinstance(ip, IPv6) else ETH_P_IP


def _ether(ip: Packet) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=_ethertype(ip)) / ip)


def _vlan(ip: Packet) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=42) / ip)


def _qinq(ip: Packet) -> bytes:
    outer = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1AD(vlan=100)
    return bytes(outer / Dot1Q(vlan=42) / ip)


def _sll(ip: Packet) -> bytes:
    hdr = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0", proto=_ethertype(ip))
    return bytes(hdr / ip)


def _sll2(ip: Packet) -> bytes:
    hdr = CookedLinuxV2(
        proto=_ethertype(ip), ifindex=2, lladdrtype=1, pkttype=0, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0"
    )
    return bytes(hdr / ip)


def _null(af6: int) -> Callable[[Packet], bytes]:
    """BSD loopback: a 4-byte address family in the writer's (here little-endian) byte order.

    AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS).
    """
    return lambda ip: struct.pack("<I", af6 if isinstance(ip, IPv6) else 2) + bytes(ip)


def _loop(ip: Packet) -> bytes:
    """OpenBSD loopback: the address family in network byte order."""
    return struct.pack(">I", 24 if isinstance(ip, IPv6) else 2) + bytes(ip)


def _raw(ip: Packet) -> bytes:
    return bytes(ip)


# name -> (link type, encapsulation)
LINKS: dict[str, tuple[int, Callable[[Packet], bytes]]] = {
    "ethernet": (LINKTYPE_ETHERNET, _ether),
    "vlan": (LINKTYPE_ETHERNET, _vlan),
    "qinq": (LINKTYPE_ETHERNET, _qinq),
    "sll": (LINKTYPE_LINUX_SLL, _sll),
    "sll2": (LINKTYPE_LINUX_SLL2, _sll2),
    "null-bsd": (LINKTYPE_NULL, _null(24)),
    "null-freebsd": (LINKTYPE_NULL, _null(28)),
    "null-macos": (LINKTYPE_NULL, _null(30)),
    "loop": (LINKTYPE_LOOP, _loop),
    "raw": (LINKTYPE_RAW, _raw),
    "raw-ipv4": (LINKTYPE_IPV4, _raw),
    "raw-ipv6": (LINKTYPE_IPV6, _raw),
}


def frames(packets: Iterable[tuple[int, Packet]], link: str = "ethernet", iface: int = 0) -> list[Frame]:
    encap = LINKS[link][1]
    return [Frame(ts, encap(p), iface) for ts, p in packets]


def fragments(ip: Packet, size: int) -> list[Packet]:
    """An IPv4 packet split into fragments carrying ``size`` bytes each (a multiple of 8)."""
    pkt = ip.copy()
    pkt.flags = 0  # clear DF so the fragments are legal
    return fragment(pkt, fragsize=size)


# --- file writers -----------------------------------------------------------------------------------


def write_pcap(path: Path, recs: Sequence[Frame], linktype: int, *, nanos: bool = False, big: bool = False) -> Path:
    """Classic libpcap file; ``nanos`` uses the 0xa1b23c4d magic, ``big`` big-endian headers."""
    bo = ">" if big else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    unit = 1 if nanos else 1000
    out = [struct.pack(bo + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for r in recs:
        sec, frac = divmod(r.ts, 10**9)
        out.append(struct.pack(bo + "IIII", sec, frac // unit, len(r.data), len(r.data)) + r.data)
    path.write_bytes(b"".join(out))
    return path


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path: Path, recs: Sequence[Frame], linktypes: Sequence[int], *, tsresol: int = 6) -> Path:
    """One section, one Interface Description Block per link type (index = position), then EPBs.

    ``tsresol`` is the if_tsresol option (power of ten); 6 (µs) is the default and is not written.
    """
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for lt in linktypes:
        opts = b"" if tsresol == 6 else struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
        out.append(_block(1, struct.pack("<HHI", lt, 0, 262144) + opts))
    for r in recs:
        units = r.ts // 10 ** (9 - tsresol)
        hdr = struct.pack("<IIIII", r.iface, units >> 32, units & 0xFFFFFFFF, len(r.data), len(r.data))
        out.append(_block(6, hdr + r.data))
    path.write_bytes(b"".join(out))
    return path


# --- scenarios --------------------------------------------------------------------------------------


@dataclass
class Expected:
    """What one connection must reassemble to, per direction, by construction of the recipe."""

    orig: str
    resp: str
    data: dict[str, bytes]
    gaps: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: {"orig": [], "resp": []})


@dataclass
class Scenario:
    """A recipe: timed IP packets plus the connections they must reassemble to (in order of first packet)."""

    name: str
    packets: list[tuple[int, Packet]]
    expected: list[Expected]

    def write(self, path: Path, link: str = "ethernet") -> Path:
        return write_pcap(path, frames(self.packets, link), LINKS[link][0])


def _conv(c: Conn, req: bytes, rsp: bytes, size: int) -> tuple[list[Packet], list[Packet]]:
    """Client request and server response cut into ``size``-byte segments, returned per direction."""
    return c.segments("orig", req, size), c.segments("resp", rsp, size)


def _whole(c: Conn, req: bytes, rsp: bytes, gaps: dict[str, list[tuple[int, int]]] | None = None) -> Expected:
    return Expected(c.orig, c.resp, {"orig": req, "resp": rsp}, gaps or {"orig": [], "resp": []})


def without(data: bytes, holes: list[tuple[int, int]]) -> bytes:
    """``data`` with the (offset, length) holes cut out: what reassembly delivers around a gap."""
    out, pos = [], 0
    for off, n in holes:
        out.append(data[pos:off])
        pos = off + n
    return b"".join(out) + data[pos:]


def basic(c: Conn, seed: int = 0, size: int = 100) -> Scenario:
    """Handshake, a 3-segment request, a 5-segment response (last two swapped), FINs."""
    req, rsp = payload(3 * size, seed), payload(5 * size - 7, seed + 1)
    fwd, back = _conv(c, req, rsp, size)
    back[3], back[4] = back[4], back[3]
    pkts = c.handshake() + fwd + back + c.close({"orig": len(req), "resp": len(rsp)})
    return Scenario("basic", timed(pkts), [_whole(c, req, rsp)])


def v4_conn(cport: int = 51234, **kw: dict[str, int]) -> Conn:
    return Conn("10.0.0.5", cport, "10.0.0.9", 8506, **kw)


def v6_conn(cport: int = 51234) -> Conn:
    return Conn("fe80::1", cport, "fe80::2:9", 8506)


def _reordered() -> Scenario:
    c = v4_conn()
    req, rsp = payload(1000, 10), payload(1500, 11)
    fwd, back = _conv(c, req, rsp, 100)
    order = random.Random(12)
    order.shuffle(fwd)
    order.shuffle(back)
    pkts = c.handshake() + fwd + back + c.close({"orig": len(req), "resp": len(rsp)})
    return Scenario("reordered", timed(pkts), [_whole(c, req, rsp)])


def _duplicated() -> Scenario:
    """Every packet twice, back to back (SYN and SYN-ACK retransmitted too); the first few segments
    once more at the end."""
    c = v4_conn()
    req, rsp = payload(600, 20), payload(800, 21)
    fwd, back = _conv(c, req, rsp, 100)
    pkts = [p for s in c.handshake() + fwd + back for p in (s, s.copy())] + fwd[:2] + back[:2]
    pkts += c.close({"orig": len(req), "resp": len(rsp)})
    return Scenario("duplicated", timed(pkts), [_whole(c, req, rsp)])


def _overlap_same() -> Scenario:
    """Retransmissions cut at other boundaries (as after a path MTU change), same bytes."""
    c = v4_conn()
    req, rsp = payload(1000, 30), payload(300, 31)
    fwd = c.segments("orig", req[:500], 100)
    fwd += [c.data("orig", 250, req[250:480]), c.data("orig", 450, req[450:700])]
    fwd += [c.data("orig", 800, req[800:]), c.data("orig", 690, req[690:850]), c.data("orig", 0, req[:1000])]
    pkts = c.handshake() + fwd + c.segments("resp", rsp, 100) + c.close({"orig": len(req), "resp": len(rsp)})
    return Scenario("overlap-same", timed(pkts), [_whole(c, req, rsp)])


def _overlap_diff_delivered() -> Scenario:
    """Overlaps with *different* bytes over data already delivered in order: the first copy wins.

    Includes a keep-alive probe (one garbage byte at the last delivered offset) and a longer
    retransmission that overlaps delivered bytes and extends past them (its new tail is kept).
    """
    c = v4_conn()
    req, rsp = payload(400, 40), payload(200, 41)
    junk = payload(400, 42)
    fwd = c.segments("orig", req[:300], 100)
    fwd += [c.data("orig", 299, b"\0"), c.data("orig", 100, junk[100:200])]
    fwd += [c.data("orig", 250, junk[250:300] + req[300:])]
    pkts = c.handshake() + fwd + c.segments("resp", rsp, 100) + c.close({"orig": len(req), "resp": len(rsp)})
    return Scenario("overlap-diff-delivered", timed(pkts), [_whole(c, req, rsp)])


def _dropped() -> Scenario:
    """Three response segments never captured (two of them in a row): holes bridged by later data."""
    c = v4_conn()
    req, rsp = payload(300, 50), payload(1000, 51)
    fwd, back = _conv(c, req, rsp, 100)
    del back[6:8], back[2]
    holes = [(200, 100), (600, 200)]
    pkts = c.handshake() + fwd + back + c.close({"orig": len(req), "resp": len(rsp)})
    exp = Expected(c.orig, c.resp, {"orig": req, "resp": without(rsp, holes)}, {"orig": [], "resp": holes})
    return Scenario("dropped", timed(pkts), [exp])


def _delayed() -> Scenario:
    """One request segment arrives 3 s late, after the rest of the request and the response started."""
    c = v4_conn()
    req, rsp = payload(500, 60), payload(500, 61)
    fwd, back = _conv(c, req, rsp, 100)
    late = fwd.pop(1)
    pkts = timed(c.handshake() + fwd + back[:2])
    t = pkts[-1][0]
    late_ts = t + 3 * 10**9
    pkts += [(late_ts, late), *timed(back[2:] + c.close({"orig": 500, "resp": 500}), late_ts + STEP)]
    return Scenario("delayed", pkts, [_whole(c, req, rsp)])


def _seq_wrap() -> Scenario:
    """ISNs a few bytes below 2**32 in both directions, so data crosses the wrap, and reordered."""
    c = v4_conn(isn={"orig": 2**32 - 150, "resp": 2**32 - 1})
    req, rsp = payload(500, 70), payload(500, 71)
    fwd, back = _conv(c, req, rsp, 100)
    fwd.reverse()
    back[0], back[1] = back[1], back[0]
    pkts = c.handshake() + fwd + back + c.close({"orig": len(req), "resp": len(rsp)})
    return Scenario("seq-wrap", timed(pkts), [_whole(c, req, rsp)])


def _ipv6() -> Scenario:
    sc = basic(v6_conn(), seed=80)
    sc.name = "ipv6"
    return sc


def _ipv6_extension_headers() -> Scenario:
    """IPv6 with a hop-by-hop and a destination options header before TCP on every packet."""
    sc = basic(v6_conn(), seed=85)
    for i, (ts, p) in enumerate(sc.packets):
        ip = p[IPv6]
        sc.packets[i] = ts, IPv6(src=ip.src, dst=ip.dst, hlim=64) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / ip[TCP]
    sc.name = "ipv6-extension-headers"
    return sc


def _mid_stream(first: str) -> Scenario:
    """The capture starts inside a connection: no SYN, data from both sides, then the FINs.

    ``first`` says who is heard first: the client (its second segment), the server (the client's
    data is all missed), or the server's SYN-ACK (the SYN is missed). In each, orig is the client.
    """
    c = v4_conn()
    req, rsp = payload(300, 90), payload(300, 91)
    fwd, back = _conv(c, req, rsp, 100)
    end = c.close({"orig": len(req), "resp": len(rsp)})
    if first == "client":
        return Scenario("mid-stream", timed(fwd[1:] + back + end), [_whole(c, req[100:], rsp)])
    if first == "server":
        return Scenario("mid-stream-server-first", timed(back + end), [_whole(c, b"", rsp)])
    pkts = c.handshake()[1:] + fwd + back + end
    return Scenario("from-syn-ack", timed(pkts), [_whole(c, req, rsp)])


def _reuse(end: str) -> Scenario:
    """A connection ends (FINs or RST), then a new SYN with a new ISN on the same 4-tuple: two connections."""
    first, second = v4_conn(), v4_conn(isn={"orig": 777_777, "resp": 888_888})
    a, b = payload(200, 100), payload(150, 101)
    pkts = first.handshake() + first.segments("orig", a, 100)
    pkts += first.close({"orig": 200}) if end == "fin" else [first.packet("resp", "RA", 0, ack=200)]
    pkts += second.handshake() + second.segments("orig", b, 100) + second.segments("resp", a, 100)
    pkts += second.close({"orig": 150, "resp": 200})
    return Scenario(f"reuse-after-{end}", timed(pkts), [_whole(first, a, b""), _whole(second, b, a)])


def _ip_fragments() -> Scenario:
    """Two request segments sent as IPv4 fragments whose fragments interleave (same addresses, other
    IP ids): 600 bytes in 128-byte fragments, last one first, and 500 bytes with one fragment twice."""
    c = v4_conn()
    req, rsp = payload(1300, 110), payload(100, 111)
    a = fragments(c.data("orig", 100, req[100:700]), 128)
    a.insert(0, a.pop())
    b = fragments(c.data("orig", 700, req[700:1200]), 128)
    b.insert(2, b[1])
    mixed = [p for pair in zip_longest(a, b) for p in pair if p is not None]
    pkts = [*c.handshake(), c.data("orig", 0, req[:100]), *mixed, c.data("orig", 1200, req[1200:])]
    pkts += [c.data("resp", 0, rsp), *c.close({"orig": len(req), "resp": len(rsp)})]
    return Scenario("ip-fragments", timed(pkts), [_whole(c, req, rsp)])


def interleaved(n: int = 3, *, v6: bool = True) -> Scenario:
    """``n`` connections (IPv4 and, with ``v6``, IPv6 alternating) whose packets are interleaved round-robin."""
    conns = [(v6_conn if v6 and i % 2 else v4_conn)(cport=40000 + i) for i in range(n)]
    lists, expected = [], []
    for i, c in enumerate(conns):
        req, rsp = payload(250 + 10 * i, 120 + i), payload(330 + 10 * i, 130 + i)
        fwd, back = _conv(c, req, rsp, 60)
        lists.append(c.handshake() + fwd + back + c.close({"orig": len(req), "resp": len(rsp)}))
        expected.append(_whole(c, req, rsp))
    pkts = [p for row in zip_longest(*lists) for p in row if p is not None]
    return Scenario("interleaved", timed(pkts), expected)


SCENARIOS: list[Scenario] = [
    basic(v4_conn()),
    _reordered(),
    _duplicated(),
    _overlap_same(),
    _overlap_diff_delivered(),
    _dropped(),
    _delayed(),
    _seq_wrap(),
    _ipv6(),
    _ipv6_extension_headers(),
    _mid_stream("client"),
    _mid_stream("server"),
    _mid_stream("syn-ack"),
    _reuse("fin"),
    _reuse("rst"),
    _ip_fragments(),
    interleaved(),
]


# --- the Wireshark side -----------------------------------------------------------------------------

# Follow TCP Stream writes a hole that later data bridges as a chunk of its own holding this text
# (NUL-terminated) instead of the missing bytes; a hole at the very end (before a FIN, or pending at
# the end of the capture) gets no chunk at all.
_MISSING = re.compile(rb"\[(\d+) bytes missing in capture file\]\x00")

# One connection, orientation-free: per sending endpoint (sorted), its bytes and (offset, length) holes.
View = tuple[tuple[str, bytes, tuple[tuple[int, int], ...]], ...]


def view(orig: str, resp: str, data: dict[str, bytes], gaps: dict[str, list[tuple[int, int]]]) -> View:
    """A connection keyed by sender endpoint: Wireshark's node order (first packet) does not matter."""
    ends = {orig: "orig", resp: "resp"}
    return tuple(sorted((ep, data.get(d, b""), tuple(tuple(g) for g in gaps.get(d, []))) for ep, d in ends.items()))


def expected_views(expected: Iterable[Expected]) -> list[View]:
    return sorted(view(e.orig, e.resp, e.data, e.gaps) for e in expected)


def tshark_follow(path: Path, count: int) -> list[View]:
    """TCP streams 0..``count`` of ``path`` as Wireshark's Follow TCP Stream (raw) reassembles them, in order.

    One more than the ``count`` expected is asked for, in the same tshark run: a stream that does not
    exist comes back with no endpoints and is left out, so an unexpected extra stream still shows.
    """
    out = tshark("-r", str(path), "-q", *(f"-zfollow,tcp,raw,{n}" for n in range(count + 1)))
    views = {}
    for block in out.split("=" * 67):
        lines = block.strip("\n").split("\n")
        if not lines[0].startswith("Follow: tcp,raw"):
            continue
        nodes = [ln.split(": ", 1)[1] for ln in lines[2:4]]
        if nodes == [":0", ":0"]:
            continue
        data: dict[str, bytearray] = {"orig": bytearray(), "resp": bytearray()}
        gaps: dict[str, list[tuple[int, int]]] = {"orig": [], "resp": []}
        for ln in lines[4:]:
            d = "resp" if ln.startswith("\t") else "orig"  # a tab marks node 1's chunks
            chunk = bytes.fromhex(ln.strip())
            hole = _MISSING.fullmatch(chunk)
            if hole:
                gaps[d].append((len(data[d]) + sum(n for _, n in gaps[d]), int(hole[1])))
            else:
                data[d] += chunk
        index = int(lines[1].rsplit(" ", 1)[1])  # "Filter: tcp.stream eq N"; tshark prints the last first
        views[index] = view(nodes[0], nodes[1], {d: bytes(b) for d, b in data.items()}, gaps)
    return [views[i] for i in sorted(views)]


def tshark(*args: str) -> str:
    return subprocess.run(["tshark", *args], capture_output=True, text=True, check=True).stdout


# --- where Wireshark's Follow TCP Stream and wirecap's rule part ways --------------------------------


@dataclass
class Divergence:
    """A recipe whose ``expected`` follows wirecap's rule while Wireshark (4.0) gives ``wireshark``."""

    scenario: Scenario
    wireshark: list[Expected]


def _ooo_overlap_diff() -> Divergence:
    """Out-of-order bytes are overlapped later by the in-order segment with *different* bytes.

    Wireshark keeps the in-order segment whole and trims the buffered one; first copy wins keeps the
    buffered bytes (they were seen first).
    """
    c = v4_conn()
    req, other = payload(400, 140), payload(400, 141)
    fwd = [c.data("orig", 0, req[:100]), c.data("orig", 150, req[150:300])]
    fwd += [c.data("orig", 100, other[100:200]), c.data("orig", 300, req[300:])]
    pkts = timed(c.handshake() + fwd + c.close({"orig": 400}))
    ours = req[:100] + other[100:150] + req[150:]
    theirs = req[:100] + other[100:200] + req[200:]
    sc = Scenario("ooo-overlap-diff", pkts, [_whole(c, ours, b"")])
    return Divergence(sc, [_whole(c, theirs, b"")])


def _ooo_covered_diff() -> Divergence:
    """A buffered out-of-order segment is wholly covered by a later, longer one with different bytes."""
    c = v4_conn()
    req, other = payload(300, 150), payload(300, 151)
    fwd = [c.data("orig", 0, req[:100]), c.data("orig", 200, req[200:]), c.data("orig", 100, other[100:])]
    pkts = timed(c.handshake() + fwd + c.close({"orig": 300}))
    sc = Scenario("ooo-covered-diff", pkts, [_whole(c, req[:100] + other[100:200] + req[200:], b"")])
    return Divergence(sc, [_whole(c, req[:100] + other[100:], b"")])


def _pending_at_end() -> Divergence:
    """The capture ends (no FIN) with data buffered behind a hole.

    wirecap flushes it at the end of input and reports the hole (bytes are counted, never dropped
    silently); Wireshark never shows data that stays behind a hole.
    """
    c = v4_conn()
    req = payload(300, 160)
    pkts = timed([*c.handshake(), c.data("orig", 0, req[:100]), c.data("orig", 200, req[200:])])
    hole = {"orig": [(100, 100)]}
    sc = Scenario("pending-at-end", pkts, [_whole(c, without(req, hole["orig"]), b"", hole)])
    return Divergence(sc, [_whole(c, req[:100], b"")])


def _hole_before_fin() -> Divergence:
    """The last data segment before the FIN is lost: the FIN's sequence number proves the hole.

    Same bytes either way; wirecap reports the hole, Wireshark's Follow output has no marker for it.
    """
    c = v4_conn()
    req = payload(200, 170)
    pkts = timed([*c.handshake(), c.data("orig", 0, req[:100]), *c.close({"orig": 200})])
    sc = Scenario("hole-before-fin", pkts, [_whole(c, req[:100], b"", {"orig": [(100, 100)]})])
    return Divergence(sc, [_whole(c, req[:100], b"")])


DIVERGENCES: list[Divergence] = [
    _ooo_overlap_diff(),
    _ooo_covered_diff(),
    _hole_before_fin(),
    _pending_at_end(),  # last: its connection never closes
]
