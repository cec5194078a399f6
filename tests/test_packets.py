"""wirecap.packets: IP length fields that lie (segmentation offload), checksums, snap lengths.

Each case is checked against Wireshark on the same file: a segment captured before the NIC cut it is
taken whole whatever its length field says (0, or more than was captured), a length shorter than the
headers drops the packet as Wireshark does, and checksums never matter.
"""

import random
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, Jumbo
from torture import (
    LINKTYPE_ETHERNET,
    Expected,
    Frame,
    expected_views,
    frames,
    payload,
    timed,
    tshark,
    tshark_follow,
    v4_conn,
    v6_conn,
    without,
    write_pcap,
)

from decoders.events import Anomaly, Event
from wirecap.pipeline import Options, Pipeline, run
from wirecap.source import CaptureSource

OFFLOAD = Path(__file__).parent / "offload"
GSO_SENT = random.Random(8).randbytes(60_000)  # what the client of veth_gso.pcap sent (offload/README.md)
ETHERNET_MAX = 1514


def anomalies(path: Path) -> dict[str, int]:
    pipeline = Pipeline(Options(protocols=()))  # no decoder: only the capture side's anomalies
    events: list[Event] = []
    run([CaptureSource(str(path))], pipeline, events.extend)
    assert all(e.name in pipeline.stats.anomalies for e in events if isinstance(e, Anomaly))
    return {name: n for name, n in pipeline.stats.anomalies.items() if name != "conn_undecoded"}  # no decoder


def with_total_length_zero(path: Path, out: Path) -> int:
    """Rewrite ``path`` as Windows large send captures it: IPv4 total length 0 on every super-segment."""
    data = bytearray(path.read_bytes())
    pos, rewritten = 24, 0
    while pos < len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        if caplen > ETHERNET_MAX:
            data[pos + 16 + 14 + 2 : pos + 16 + 14 + 4] = b"\0\0"
            rewritten += 1
        pos += 16 + caplen
    out.write_bytes(bytes(data))
    return rewritten


def test_a_real_offload_capture_reassembles_what_was_sent(reassemble) -> None:
    """Segments up to 15 x the MSS, every TCP checksum wrong (left to the NIC): all 60 000 bytes come out."""
    path = OFFLOAD / "veth_gso.pcap"
    fields = tshark(
        "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-T", "fields", "-e", "tcp.len", "-e", "tcp.checksum.status"
    )
    rows = [line.split("\t") for line in fields.splitlines()]
    assert max(int(n) for n, _ in rows) > 10 * 1448 and {status for _, status in rows} == {"0"}  # 0: bad
    [(_, sent, holes), (_, reply, _)] = followed = tshark_follow(path, 1)[0]
    assert (sent, holes, reply) == (GSO_SENT, (), b"ok")
    assert reassemble(path) == [followed]
    assert anomalies(path) == {}


def test_total_length_zero_as_windows_writes_it(tmp_path: Path, reassemble) -> None:
    """Wireshark: "total length 0, assuming TSO". The same bytes as the original capture, noted once."""
    path = tmp_path / "lso.pcap"
    rewritten = with_total_length_zero(OFFLOAD / "veth_gso.pcap", path)
    assert rewritten >= 4
    followed = tshark_follow(path, 1)
    assert followed == tshark_follow(OFFLOAD / "veth_gso.pcap", 1)
    assert reassemble(path) == followed
    assert anomalies(path) == {"ip_tso_length": rewritten}


# An IPv4 total length (or IPv6 payload length) written into the first 10 000-byte segment of a
# 20 000-byte request: the bytes lost (Wireshark 4.0 is the truth) and the anomaly wirecap notes.
LENGTHS: dict[str, tuple[int, int, list[tuple[int, int]], str | None]] = {
    "zero": (4, 0, [], "ip_tso_length"),
    "past-the-capture": (4, 60000, [], "ip_length_past_capture"),
    "below-the-ip-header": (4, 10, [(0, 10000)], "ip_bad_header"),  # Wireshark: "bogus IP length"
    "below-the-tcp-header": (4, 30, [(0, 10000)], "tcp_bad_header"),
    "headers-only": (4, 40, [(0, 10000)], None),  # a valid, empty segment: its bytes were never there
    "ipv6-zero": (6, 0, [], "ip_tso_length"),
    "ipv6-past-the-capture": (6, 60000, [], "ip_length_past_capture"),
}
# Wireshark 4.0 notes an IPv6 payload length of 0 as "maybe TSO" but then cuts the packet to that length
# and the TCP dissector fails ("Malformed Packet"): the segment is lost. wirecap reads it as it reads the
# IPv4 case Wireshark does handle.
WIRESHARK_LOSES = {"ipv6-zero": [(0, 10000)]}


@pytest.mark.parametrize("case", LENGTHS)
def test_ip_length_fields_as_wireshark_reads_them(case: str, tmp_path: Path, reassemble, tcp_path: str) -> None:
    version, value, holes, anomaly = LENGTHS[case]
    c = v4_conn() if version == 4 else v6_conn()
    big = payload(20000, 1)
    pkts = [*c.handshake(), c.data("orig", 0, big[:10000]), c.data("orig", 10000, big[10000:])]
    recs = frames(timed([*pkts, *c.close({"orig": len(big)})]))
    frame = bytearray(recs[3].data)
    field = 14 + (2 if version == 4 else 4)  # IPv4 total length, IPv6 payload length
    frame[field : field + 2] = struct.pack("!H", value)
    recs[3] = Frame(recs[3].ts, bytes(frame))
    path = write_pcap(tmp_path / "c.pcap", recs, LINKTYPE_ETHERNET)
    lost = WIRESHARK_LOSES.get(case, holes)
    truth = tshark_follow(path, 1)
    assert truth == expected_views(
        [Expected(c.orig, c.resp, {"orig": without(big, lost), "resp": b""}, {"orig": lost})]
    )
    ours = expected_views([Expected(c.orig, c.resp, {"orig": without(big, holes), "resp": b""}, {"orig": holes})])
    assert reassemble(path) == ours
    assert anomalies(path) == ({anomaly: 1} if anomaly else {})


def test_an_ipv6_jumbogram_is_read_whole(tmp_path: Path, reassemble, tcp_path: str) -> None:
    """Payload length 0 and a hop-by-hop Jumbo Payload option (RFC 2675): the frame is the packet, and no
    offload is claimed. Wireshark 4.0 rejects a jumbogram under 64 KiB and loses the segment."""
    c = v6_conn()
    big = payload(20000, 1)
    pkts = [*c.handshake(), c.data("orig", 0, big[:10000]), c.data("orig", 10000, big[10000:])]
    ip = pkts[3][IPv6]
    hop = IPv6ExtHdrHopByHop(options=[Jumbo(jumboplen=8 + len(ip[TCP]))])
    pkts[3] = IPv6(src=ip.src, dst=ip.dst, hlim=64, plen=0) / hop / ip[TCP]
    path = write_pcap(tmp_path / "j.pcap", frames(timed([*pkts, *c.close({"orig": len(big)})])), LINKTYPE_ETHERNET)
    lost = [(0, 10000)]
    wireshark = [Expected(c.orig, c.resp, {"orig": without(big, lost), "resp": b""}, {"orig": lost})]
    assert tshark_follow(path, 1) == expected_views(wireshark)
    assert reassemble(path) == expected_views([Expected(c.orig, c.resp, {"orig": big, "resp": b""})])
    assert anomalies(path) == {}


def test_bad_checksums_are_never_checked(tmp_path: Path, reassemble, tcp_path: str) -> None:
    """Checksum offload: the sender's copy carries garbage (or nothing) in both checksums."""
    c = v4_conn()
    req, rsp = payload(3000, 2), payload(500, 3)
    pkts = [*c.handshake(), *c.segments("orig", req, 1000), *c.segments("resp", rsp, 250)]
    pkts = [p for p in [*pkts, *c.close({"orig": len(req), "resp": len(rsp)})]]
    for p in pkts:
        p[IP].chksum, p[TCP].chksum = 0xDEAD, 0xBEEF
    path = write_pcap(tmp_path / "c.pcap", frames(timed(pkts)), LINKTYPE_ETHERNET)
    checked = tshark(
        "-r",
        str(path),
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-T",
        "fields",
        "-e",
        "ip.checksum.status",
        "-e",
        "tcp.checksum.status",
    )
    assert set(checked.split()) == {"0"}  # every one bad
    truth = tshark_follow(path, 1)
    assert truth == expected_views([Expected(c.orig, c.resp, {"orig": req, "resp": rsp})])
    assert reassemble(path) == truth


def test_a_snap_length_gives_wiresharks_bytes_and_names_the_holes(tmp_path: Path, reassemble, tcp_path: str) -> None:
    """Frames cut to 100 bytes by the capture: the same bytes as Wireshark's Follow, which marks no hole
    for them; wirecap reports each cut as a gap (the next sequence number and the peer's ACK prove it)."""
    c = v4_conn()
    req, rsp = payload(300, 4), payload(500, 5)
    pkts = [*c.handshake(), *c.segments("orig", req, 100), *c.segments("resp", rsp, 100)]
    whole = write_pcap(
        tmp_path / "whole.pcap", frames(timed([*pkts, *c.close({"orig": 300, "resp": 500})])), LINKTYPE_ETHERNET
    )
    path = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-s", "100", str(whole), str(path)], check=True)
    kept = 100 - 14 - 20 - 20
    holes = {d: [(i + kept, 100 - kept) for i in range(0, n, 100)] for d, n in (("orig", 300), ("resp", 500))}
    data = {"orig": without(req, holes["orig"]), "resp": without(rsp, holes["resp"])}
    assert tshark_follow(path, 1) == expected_views([Expected(c.orig, c.resp, data)])
    assert reassemble(path) == expected_views([Expected(c.orig, c.resp, data, holes)])
