"""Every link type and file format wirecap reads, checked against Wireshark on the same file.

One small conversation (IPv4 and IPv6, some response segments reordered) is wrapped in each link
layer; the pcapng case puts three interleaved connections on interfaces of different link types.
"""

import contextlib
import io
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import events
from scapy.layers.inet import TCP
from torture import (
    LINKS,
    Frame,
    _block,
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
from wirecap import source
from wirecap.source import META, CaptureError, CaptureSource

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


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _pktmon(tmp_path: Path) -> Path:
    """pcapng as ``pktmon etl2pcap`` writes it: 100 ns timestamps (if_tsresol 7), and each packet logged
    once per component it crossed (same bytes, 100 ns apart), every one with a comment naming the
    component and an epb_flags direction."""
    sc = basic(v4_conn())
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(4, b"PktMon") + _option(0, b""))
    idb = _block(1, struct.pack("<HHI", 1, 0, 0) + _option(2, b"pktmon") + _option(9, b"\x07") + _option(0, b""))
    out = [shb, idb]
    for n, (ts, p) in enumerate(sc.packets, 1):
        data = LINKS["ethernet"][1](p)
        outbound = p[TCP].sport == 51234  # the client's packets leave this host
        for appearance, component in ((1, 13), (2, 5)):
            units = ts // 100 + appearance
            comment = (
                f"PktGroupId {n}, PktNumber {n}, Appearance {appearance}, Direction {'Tx' if outbound else 'Rx'} , "
            )
            comment += f"Type Ethernet , Component {component}, Edge 1, Filter 1, OriginalSize {len(data)}, "
            comment += f"LoggedSize {len(data)}"
            epb = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data)) + data
            epb += (
                b"\0" * (-len(data) % 4)
                + _option(1, comment.encode())
                + _option(2, struct.pack("<I", 2 if outbound else 1))
            )
            out.append(_block(6, epb + _option(0, b"")))
    path = tmp_path / "pktmon.pcapng"
    path.write_bytes(b"".join(out))
    return path


# name -> (writer, number of connections)
FILES = {
    "pktmon-etl2pcap": (_pktmon, 1),
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


def _blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every pcapng block."""
    out, pos = [], 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        out.append((pos, btype, blen))
        pos += blen
    return out


def _packets(path: Path) -> list[tuple[int, int, int, bytes]]:
    """(link type, s, µs, bytes) of every packet our reader gives, damage or not."""
    got: list[tuple[int, int, int, bytes]] = []
    with contextlib.suppress(CaptureError):
        for linktype, buf, meta in CaptureSource(str(path)).batches():
            got += [(linktype, s, us, bytes(buf[off : off + n])) for s, us, off, n in META.iter_unpack(meta)]
    return got


def _tshark_packets(path: Path) -> list[tuple[int, int, int]]:
    """(s, µs, captured length) of every packet tshark reads, up to a damage (where it stops, exit 2)."""
    run = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.cap_len"],
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 2), run.stderr
    out = []
    for line in run.stdout.splitlines():
        epoch, caplen = line.split("\t")
        sec, frac = epoch.split(".")
        out.append((int(sec), int(frac.ljust(9, "0")[:6]), int(caplen)))
    return out


def _ours(path: Path) -> list[tuple[int, int, int]]:
    return [(s, us, len(data)) for _, s, us, data in _packets(path)]


def test_a_pcapng_of_several_link_types_is_read_block_by_block(tmp_path: Path, monkeypatch) -> None:
    """libpcap refuses such a file, so wirecap's own reader reads it: block by block (memory follows the
    largest block, not the file), in batches, every packet with tshark's time and bytes."""
    path = _multi_interface(tmp_path, 9)
    reads: list[int] = []

    class Recorded(io.BufferedReader):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(-1 if size is None else size)
            return super().read(size)

    monkeypatch.setattr(source, "open", lambda p, mode: Recorded(io.FileIO(p, mode)), raising=False)
    got = _packets(path)
    blocks = _blocks(path.read_bytes())
    assert len(got) == sum(1 for _, btype, _ in blocks if btype == 6) > 40
    assert reads and all(0 <= n <= max(blen for _, _, blen in blocks) for n in reads)  # never the whole file
    assert _ours(path) == _tshark_packets(path)
    assert len({linktype for linktype, *_ in got}) == 3


def test_a_damaged_pcapng_of_several_link_types_gives_the_packets_before_the_damage(tmp_path: Path) -> None:
    """Cut inside a packet block: the packets before it as tshark reads them, then an error at the block."""
    path = _multi_interface(tmp_path, 6)
    data = path.read_bytes()
    pos, _, blen = [b for b in _blocks(data) if b[1] == 6][30]
    bad = tmp_path / "cut.pcapng"
    bad.write_bytes(data[: pos + blen // 2])
    with pytest.raises(CaptureError) as err:
        list(CaptureSource(str(bad)).batches())
    assert err.value.offset == pos
    assert _ours(bad) == _tshark_packets(bad)
    assert len(_ours(bad)) == 30


@pytest.mark.parametrize("fmt", ["pcap", "big-endian-pcap", "pcapng"])
def test_damage_is_located_at_the_record_cut_short(fmt: str, tmp_path: Path) -> None:
    """Every cut of a file is reported at the start of the record or block it falls in (none at a
    boundary), without reading the file whole; a pcapng block whose trailing length differs is damaged."""
    if fmt == "pcapng":
        path = _multi_interface(tmp_path, 6)
        starts = [pos for pos, _, _ in _blocks(path.read_bytes())]
    else:
        path = _single(tmp_path, "big-endian" if fmt.startswith("big") else "microsecond")
        order = ">" if fmt.startswith("big") else "<"
        data, starts = path.read_bytes(), []
        pos = 24
        while pos < len(data):
            starts.append(pos)
            pos += 16 + struct.unpack_from(order + "I", data, pos + 8)[0]
    data = path.read_bytes()
    assert source.locate_damage(str(path)) is None
    cut = tmp_path / "cut"
    for end in range(starts[1] - 3, len(data), 7):
        cut.write_bytes(data[:end])
        inside = max(s for s in starts if s <= end)
        assert source.locate_damage(str(cut)) == (None if end == inside else inside), end
    if fmt == "pcapng":
        pos, _, blen = _blocks(data)[5]
        cut.write_bytes(data[: pos + blen - 4] + struct.pack("<I", blen + 4) + data[pos + blen :])
        assert source.locate_damage(str(cut)) == pos
