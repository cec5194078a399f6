"""Every link type and file format wirecap reads, checked against Wireshark on the same file.

One small conversation (IPv4 and IPv6, some response segments reordered) is wrapped in each link
layer; the pcapng case puts three interleaved connections on interfaces of different link types.
"""

from pathlib import Path

import pytest
from conftest import events
from scapy.layers.inet import TCP
from torture import (
    LINKS,
    Frame,
    basic,
    expected_views,
    interleaved,
    tshark,
    tshark_follow,
    v4_conn,
    v6_conn,
    write_pcap,
    write_pcapng,
)

from decoders.events import format_ts

LINK_CASES = [
    (link, fam)
    for link in LINKS
    for fam in ("ipv4", "ipv6")
    if (link, fam) not in {("raw-ipv4", "ipv6"), ("raw-ipv6", "ipv4")}
    # AF_INET is 2 on every BSD: one IPv4 case covers the null link
    and (fam == "ipv6" or link not in {"null-freebsd", "null-macos"})
]


@pytest.mark.parametrize(("link", "fam"), LINK_CASES, ids=[f"{lk}-{f}" for lk, f in LINK_CASES])
def test_link_type_same_as_wireshark(link: str, fam: str, tmp_path: Path, reassemble) -> None:
    sc = basic(v4_conn() if fam == "ipv4" else v6_conn(), seed=len(link))
    path = sc.write(tmp_path / f"{link}.pcap", link)
    truth = sorted(tshark_follow(path, 1))
    assert truth == expected_views(sc.expected)
    assert reassemble(path) == truth


# Sub-microsecond parts on every timestamp: output is truncated to µs, never rounded.
SUB_US = 999


def _single(tmp_path: Path, fmt: str) -> Path:
    """The basic conversation in a classic pcap with nanosecond or big-endian headers."""
    sc = basic(v4_conn())
    recs = [Frame(ts + SUB_US, LINKS["ethernet"][1](p)) for ts, p in sc.packets]
    return write_pcap(tmp_path / f"{fmt}.pcap", recs, 1, nanos=fmt == "nanosecond", big=fmt == "big-endian")


def _multi_interface(tmp_path: Path, tsresol: int) -> Path:
    """Three interleaved connections, each on its own pcapng interface: Ethernet, SLL2, raw IP."""
    links = ["ethernet", "sll2", "raw"]
    recs = []
    for ts, p in interleaved().packets:
        i = max(p[TCP].sport, p[TCP].dport) - 40000  # interleaved() numbers client ports from 40000
        recs.append(Frame(ts + SUB_US, LINKS[links[i]][1](p), i))
    return write_pcapng(tmp_path / "multi.pcapng", recs, [LINKS[lk][0] for lk in links], tsresol=tsresol)


# name -> (writer, number of connections)
FILES = {
    "nanosecond-pcap": (lambda d: _single(d, "nanosecond"), 1),
    "big-endian-pcap": (lambda d: _single(d, "big-endian"), 1),
    "pcapng-3-linktypes-us": (lambda d: _multi_interface(d, 6), 3),
    "pcapng-3-linktypes-ns": (lambda d: _multi_interface(d, 9), 3),
}


@pytest.mark.parametrize(("make", "count"), FILES.values(), ids=FILES.keys())
def test_file_format_same_as_wireshark(make, count: int, tmp_path: Path, reassemble, wirecap) -> None:
    """Same bytes as Wireshark, and each conn.open stamped with its first packet's time (to the µs)."""
    path = make(tmp_path)
    truth = sorted(tshark_follow(path, count))
    assert len(truth) == count
    assert reassemble(path) == truth

    fields = tshark("-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.stream")
    first: dict[str, str] = {}
    for line in fields.splitlines():
        epoch, stream = line.split("\t")
        sec, frac = epoch.split(".")
        first.setdefault(stream, format_ts(int(sec) * 10**9 + int(frac.ljust(9, "0"))))
    opens = [e["ts"] for e in events(wirecap("replay", "-q", str(path))) if e["kind"] == "conn.open"]
    assert sorted(opens) == sorted(first.values())
