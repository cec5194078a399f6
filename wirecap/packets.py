"""Link, network and transport headers: from a captured frame to a TCP segment.

Hand-written with precompiled ``struct`` formats because this runs once per packet (STYLE.md:
never construct here). Link types: Ethernet with 802.1Q/802.1ad/QinQ tags, Linux cooked SLL and SLL2,
BSD null/loopback, raw IPv4/IPv6. IPv4 fragments are reassembled (first copy wins on overlap);
IPv6 fragments are reported, not reassembled.

``PacketParser.parse`` returns a ``Segment`` tuple or None (not TCP, or damaged: then an anomaly
is queued on ``parser.anomalies`` for the pipeline to emit).

A capture taken on the sending host sees segments before the NIC cuts them (TCP segmentation offload):
the IP length field is 0 (as Windows' large send leaves it; IPv6 payload length 0 likewise) or larger
than what was captured. As Wireshark does, the captured bytes are then taken as the datagram.
A length larger than the capture may also be a snap length cutting the packet; the record header's
original length would tell, but libpcap's batches do not carry it, so the captured bytes are trusted
either way: the bytes cut off are then a hole that the next sequence number proves, reported as a gap
like any lost segment, instead of a guess that could mask real bytes of the next segment. Checksums are
never verified: with checksum offload the sender's copy carries none.
"""

import struct
from typing import NamedTuple

from .netmon import NETMON_MEDIA, media_name

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_DLT = 12  # DLT_RAW as libpcap reports it on Linux
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
# BSD loopback address families for IPv6 differ by OS (NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
NULL_AF_IPV6 = frozenset({24, 28, 30})

IPPROTO_TCP = 6
IPV6_EXTENSION_HEADERS = frozenset({0, 43, 60, 51})  # hop-by-hop, routing, destination options, AH
IPV6_FRAGMENT = 44

FRAGMENT_TIMEOUT_NS = 30 * 1_000_000_000
MAX_DATAGRAMS_IN_REASSEMBLY = 1024

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
# The common frame in one unpack, from the EtherType on: Ethernet type, IPv4 without options, TCP up to
# its flags. The pipeline's fast path uses it and falls back to ``PacketParser.parse`` for anything else.
# IPv4's addresses and TCP's ports lie side by side, so they come out as one 12-byte string: source
# address, destination address, source port, destination port (the pipeline's connection key).
ETH_IPV4_TCP = struct.Struct("!H Bx H 2x H x B 2x 12s IIBB")  # type, vihl, len, frag, proto, key, TCP
ETH_IPV4_TCP_MIN = 14 + 20 + 20
PORTS = struct.Struct("!HH")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBB")
_U16 = struct.Struct("!H")
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct("!I")

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10


class Segment(NamedTuple):
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    data: bytes  # captured payload


class _Datagram:
    """An IPv4 datagram being put back together from its fragments."""

    __slots__ = ("first_ts", "header", "pieces", "total")

    def __init__(self, ts: int) -> None:
        self.first_ts = ts
        self.header = b""  # IP header of the fragment at offset 0
        self.pieces: dict[int, bytes] = {}  # fragment offset -> payload
        self.total: int | None = None  # payload length, known once the last fragment is seen


class PacketParser:
    """Parses frames; owns the IPv4 fragment table (the only per-packet state before TCP)."""

    def __init__(self) -> None:
        self.anomalies: list[tuple[str, str]] = []
        self._datagrams: dict[tuple[bytes, bytes, int, int], _Datagram] = {}

    def parse(self, linktype: int, buf: bytes, off: int, end: int, ts: int) -> Segment | None:
        if linktype == LINKTYPE_ETHERNET:
            if end - off < 14:
                return None
            etype = (buf[off + 12] << 8) | buf[off + 13]
            off += 14
            while etype in VLAN_ETHERTYPES:
                if end - off < 4:
                    return None
                etype = (buf[off + 2] << 8) | buf[off + 3]
                off += 4
        elif linktype == LINKTYPE_LINUX_SLL:
            if end - off < 16:
                return None
            etype = (buf[off + 14] << 8) | buf[off + 15]
            off += 16
        elif linktype == LINKTYPE_LINUX_SLL2:
            if end - off < 20:
                return None
            etype = (buf[off] << 8) | buf[off + 1]
            off += 20
        elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_DLT, LINKTYPE_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6):
            if end <= off:
                return None
            version = buf[off] >> 4
            etype = ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6 if version == 6 else 0
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if end - off < 4:
                return None
            # DLT_NULL is host byte order of the capturing machine; DLT_LOOP is network order.
            family = _U32_BE.unpack_from(buf, off)[0] if linktype == LINKTYPE_LOOP else _null_family(buf, off)
            etype = ETHERTYPE_IPV4 if family == 2 else ETHERTYPE_IPV6 if family in NULL_AF_IPV6 else 0
            off += 4
        elif linktype >= NETMON_MEDIA:
            self.anomalies.append(("netmon_unusable_frame", media_name(linktype)))
            return None
        else:
            self.anomalies.append(("pcap_unknown_linktype", f"link type {linktype}"))
            return None
        if etype == ETHERTYPE_IPV4:
            return self._ipv4(buf, off, end, ts)
        if etype == ETHERTYPE_IPV6:
            return self._ipv6(buf, off, end)
        return None

    def _ipv4(self, buf: bytes, off: int, end: int, ts: int) -> Segment | None:
        if end - off < 20:
            self.anomalies.append(("ip_truncated", f"{end - off} bytes, shorter than an IPv4 header"))
            return None
        vihl, _tos, total, ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(buf, off)
        ihl = (vihl & 0x0F) * 4
        if total == 0 and end - off >= ihl:
            self.anomalies.append(("ip_tso_length", f"IPv4 total length 0: the {end - off} bytes captured are used"))
            total = end - off
        if vihl >> 4 != 4 or ihl < 20 or total < ihl:  # Wireshark gives up on these too
            self.anomalies.append(("ip_bad_header", f"IPv4 version/ihl 0x{vihl:02x}, total length {total}"))
            return None
        if proto != IPPROTO_TCP:
            return None
        if total > end - off:
            self._past_capture("IPv4 total length", total, end - off)
            total = end - off
        if frag & 0x3FFF:  # more-fragments flag or a non-zero offset
            whole = self._defragment(buf[off : off + total], ihl, src, dst, ident, frag, ts)
            if whole is None:
                return None
            buf, off, total = whole, 0, len(whole)
        return self._tcp(buf, off + ihl, off + total, src, dst)

    def _ipv6(self, buf: bytes, off: int, end: int) -> Segment | None:
        if end - off < 40:
            self.anomalies.append(("ip_truncated", f"{end - off} bytes, shorter than an IPv6 header"))
            return None
        vtc, plen, nxt, _hlim, src, dst = _IPV6.unpack_from(buf, off)
        if vtc >> 28 != 6:
            self.anomalies.append(("ip_bad_header", f"IPv6 version {vtc >> 28}"))
            return None
        if plen == 0:  # offload, or a jumbogram (a hop-by-hop header first, its length in there): the frame
            if nxt != 0:
                detail = f"IPv6 payload length 0: the {end - off} bytes captured are used"
                self.anomalies.append(("ip_tso_length", detail))
            plen = end - off - 40
        elif plen > end - off - 40:
            self._past_capture("IPv6 payload length", plen, end - off - 40)
            plen = end - off - 40
        ip_end = off + 40 + plen
        off += 40
        while nxt in IPV6_EXTENSION_HEADERS:
            if end - off < 2:
                self.anomalies.append(("ip_truncated", "IPv6 extension header cut off"))
                return None
            length = (buf[off + 1] + 2) * 4 if nxt == 51 else (buf[off + 1] + 1) * 8
            nxt = buf[off]
            off += length
        if nxt == IPV6_FRAGMENT:
            self.anomalies.append(("ip6_fragment", "IPv6 fragment: not reassembled, its bytes become a TCP gap"))
            return None
        if nxt != IPPROTO_TCP:
            return None
        return self._tcp(buf, off, ip_end, src, dst)

    def _past_capture(self, field: str, declared: int, captured: int) -> None:
        detail = f"{field} {declared}, {captured} bytes captured: offload or a snap length; the captured bytes are used"
        self.anomalies.append(("ip_length_past_capture", detail))

    def _tcp(self, buf: bytes, off: int, ip_end: int, src: bytes, dst: bytes) -> Segment | None:
        """The TCP segment in ``buf[off:ip_end]`` (the IP datagram's end, before any Ethernet padding)."""
        if ip_end - off < 20:
            self.anomalies.append(("tcp_bad_header", f"{ip_end - off} bytes left for a TCP header"))
            return None
        sport, dport, seq, ack, doff, flags = _TCP.unpack_from(buf, off)
        hlen = (doff >> 4) * 4
        if hlen < 20 or off + hlen > ip_end:
            self.anomalies.append(("tcp_bad_header", f"data offset {hlen} bytes"))
            return None
        return Segment(src, dst, sport, dport, seq, ack, flags, buf[off + hlen : ip_end])

    def _defragment(
        self, datagram: bytes, ihl: int, src: bytes, dst: bytes, ident: int, frag: int, ts: int
    ) -> bytes | None:
        """Add one fragment; the whole datagram (header + payload) once every piece is in."""
        self._expire_fragments(ts)
        key = (src, dst, ident, IPPROTO_TCP)
        entry = self._datagrams.get(key)
        if entry is None:
            if len(self._datagrams) >= MAX_DATAGRAMS_IN_REASSEMBLY:
                oldest = next(iter(self._datagrams))
                del self._datagrams[oldest]
                self.anomalies.append(("ip_fragment_limit", f"{MAX_DATAGRAMS_IN_REASSEMBLY} datagrams pending"))
            entry = self._datagrams[key] = _Datagram(ts)
        offset = (frag & 0x1FFF) * 8
        payload = datagram[ihl:]
        if offset == 0:
            entry.header = datagram[:ihl]
        if not frag & 0x2000:
            entry.total = offset + len(payload)
        for other_off, other in entry.pieces.items():
            lo, hi = max(offset, other_off), min(offset + len(payload), other_off + len(other))
            if lo < hi and payload[lo - offset : hi - offset] != other[lo - other_off : hi - other_off]:
                self.anomalies.append(("ip_fragment_overlap", f"IP id {ident}: bytes {lo}-{hi} differ"))
        entry.pieces.setdefault(offset, payload)
        if entry.total is None or not entry.header:
            return None
        covered = 0
        for piece_off in sorted(entry.pieces):
            if piece_off > covered:
                return None  # a hole remains
            covered = max(covered, piece_off + len(entry.pieces[piece_off]))
        if covered < entry.total:
            return None
        whole = bytearray(entry.total)
        for piece_off in reversed(entry.pieces):  # earliest arrival written last: the first copy wins
            piece = entry.pieces[piece_off][: max(0, entry.total - piece_off)]
            whole[piece_off : piece_off + len(piece)] = piece
        del self._datagrams[key]
        header = bytearray(entry.header)
        header[2:4] = _U16.pack(len(header) + entry.total)
        header[6:8] = b"\x00\x00"
        return bytes(header) + bytes(whole)

    def _expire_fragments(self, ts: int) -> None:
        while self._datagrams:
            key, oldest = next(iter(self._datagrams.items()))
            if ts - oldest.first_ts < FRAGMENT_TIMEOUT_NS:
                return
            del self._datagrams[key]
            self.anomalies.append(("ip_fragments_expired", f"IP id {key[2]}: incomplete after 30 s"))


def _null_family(buf: bytes, off: int) -> int:
    """The address family of a DLT_NULL header, whichever byte order the capturing host used."""
    family = _U32_LE.unpack_from(buf, off)[0]
    return family if family < 0x10000 else _U32_BE.unpack_from(buf, off)[0]
