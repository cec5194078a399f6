"""wirecap.netmon and its place in wirecap.source: Network Monitor files read as Wireshark reads them.

Ground truth: Wireshark writes NetMon 1.x and 2.x itself (``editcap -F netmon2``; ``mergecap`` gives a 2.1
file with a media type per frame), and reads what we write by hand for the cases its writer cannot make
(raw IP, converted-pcap and NetMon's own frames, 2.3 UTC times, frames out of file order).
"""

import os
import struct
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from conftest import ok
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from torture import (
    LINKTYPE_ETHERNET,
    SCENARIOS,
    Scenario,
    basic,
    expected_views,
    frames,
    tshark,
    tshark_follow,
    v4_conn,
)

from decoders.events import Event, format_ts
from wirecap.pipeline import Options, Pipeline, run
from wirecap.source import CaptureError, CaptureSource

NETMON = Path(__file__).parent / "netmon"  # files Wireshark wrote; how: netmon/README.md
MIXED_CAP = NETMON / "mixed.cap"
UTC_ENV = {**os.environ, "TZ": "UTC"}  # NetMon's start time is local time: pin the zone of every tool
FILETIME_EPOCH = 116_444_736_000_000_000


def wireshark(tool: str, *args: str) -> None:
    subprocess.run([tool, *args], check=True, env=UTC_ENV, capture_output=True)


def packets(path: Path, bpf: str | None = None) -> list[tuple[int, bytes, int, int]]:
    """(link type, frame, seconds, microseconds) of every packet a source yields."""
    out = []
    for linktype, buf, meta in CaptureSource(str(path), bpf).batches():
        for sec, usec, off, caplen in struct.iter_unpack("=IIII", meta):
            out.append((linktype, bytes(buf[off : off + caplen]), sec, usec))
    return out


def replay(path: Path) -> tuple[list[Event], dict[str, int]]:
    pipeline = Pipeline(Options(protocols=(), any_port=True))
    events: list[Event] = []
    run([CaptureSource(str(path))], pipeline, events.extend)
    return events, pipeline.stats.anomalies


CASES = [sc for sc in SCENARIOS if sc.name in {"basic", "ip-fragments", "ipv6", "interleaved", "reordered"}]


@pytest.mark.parametrize("version", ["netmon1", "netmon2"])
@pytest.mark.parametrize("sc", CASES, ids=lambda s: s.name)
def test_a_file_wireshark_wrote_reads_as_its_pcap(sc: Scenario, version: str, tmp_path: Path, reassemble) -> None:
    original = sc.write(tmp_path / "c.pcap")
    cap = tmp_path / "c.cap"
    wireshark("editcap", "-F", version, str(original), str(cap))
    assert cap.read_bytes()[:4] == (b"GMBU" if version == "netmon2" else b"RTSS")
    assert packets(cap) == packets(original)  # the same frames and times (whole ms in these scenarios)
    followed = tshark_follow(cap, len(sc.expected))
    assert sorted(followed) == expected_views(sc.expected)
    assert reassemble(cap) == sorted(followed)


def test_frames_of_another_link_layer_are_counted_and_named_once(reassemble) -> None:
    """mergecap put Ethernet and Token Ring frames in one NetMon 2.1 file, each with its own media type."""
    assert MIXED_CAP.read_bytes()[4:6] == b"\x01\x02"  # version 2.1: a media type per frame
    ethernet = packets(NETMON / "ethernet.pcap")
    assert [p for p in packets(MIXED_CAP) if p[0] == LINKTYPE_ETHERNET] == ethernet
    protocols = tshark("-r", str(MIXED_CAP), "-T", "fields", "-e", "frame.protocols").split()
    assert sum(p.startswith("tr") for p in protocols) == 3 and len(protocols) == len(ethernet) + 3
    assert reassemble(MIXED_CAP) == tshark_follow(MIXED_CAP, 1) == tshark_follow(NETMON / "ethernet.pcap", 1)
    events, anomalies = replay(MIXED_CAP)
    assert anomalies == {"netmon_unusable_frame": 3, "conn_undecoded": 1}  # its one TCP connection is not iiko's
    (named,) = [e for e in events if e.kind == "anomaly" and e.name == "netmon_unusable_frame"]
    assert "Token Ring" in named.detail


def test_a_netmon_1x_file_reads_as_its_pcap() -> None:
    assert (NETMON / "ethernet_1x.cap").read_bytes()[:4] == b"RTSS"
    assert packets(NETMON / "ethernet_1x.cap") == packets(NETMON / "ethernet.pcap")


def write_netmon_2_3(path: Path, recs: list[tuple[int, int, bytes]], order: list[int]) -> Path:
    """A NetMon 2.3 file: ``recs`` are (media type, time in ns, bytes); they are laid out in the file in
    ``order`` while the frame table keeps their given sequence (NetMon allows both)."""
    start = recs[0][1] // 1_000_000 * 1_000_000
    body, offsets = bytearray(), {}
    for i in order:
        media, ts, data = recs[i]
        offsets[i] = 128 + len(body)
        filetime = ts // 100 + FILETIME_EPOCH
        body += struct.pack("<QII", (ts - start) // 1000, len(data), len(data)) + data
        body += struct.pack("<HIQB", media, 0, filetime, 0)
    table = b"".join(struct.pack("<I", offsets[i]) for i in range(len(recs)))
    t = time.gmtime(start // 10**9)
    systemtime = (t.tm_year, t.tm_mon, (t.tm_wday + 1) % 7, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    header = b"GMBU" + struct.pack(
        "<BBH8HII", 3, 2, 1, *systemtime, start // 1_000_000 % 1000, 128 + len(body), len(table)
    )
    path.write_bytes(header.ljust(128, b"\0") + bytes(body) + table)
    return path


def test_per_frame_media_types_and_utc_times_as_wireshark_reads_them(tmp_path: Path, reassemble) -> None:
    """Ethernet, raw IP (media 9) and converted Linux SLL (0xE000 | 113) frames of one connection, between
    NetMon's own records (an ETW NetEvent, a filter, network info), out of file order."""
    sc = basic(v4_conn())
    ether = frames(sc.packets)
    recs: list[tuple[int, int, bytes]] = []
    for i, (ts, pkt) in enumerate(sc.packets):
        if i % 3 == 0:
            recs.append((1, ts, ether[i].data))
        elif i % 3 == 1:
            recs.append((9, ts, bytes(pkt[IP])))
        else:
            sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", 0x0800)
            recs.append((0xE000 | 113, ts, sll + bytes(pkt[IP])))
    for at, media in ((2, 0xFFE0), (5, 0xFFFF), (8, 0xFFFD)):
        recs.insert(at, (media, recs[at][1], b"\x00" * 24))
    path = write_netmon_2_3(tmp_path / "w.cap", recs, order=list(reversed(range(len(recs)))))
    times = tshark("-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-Y", "tcp").split()
    assert [round(float(t) * 10**6) for t in times] == [ts // 1000 for ts, _ in sc.packets]
    assert reassemble(path) == tshark_follow(path, 1) == expected_views(sc.expected)
    events, anomalies = replay(path)
    assert anomalies == {
        "netmon_unusable_frame": 3,
        "conn_undecoded": 1,
    }  # 0xFFFD included: Wireshark skips it silently
    assert events[0].kind == "conn.open" and format_ts(events[0].ts) == format_ts(sc.packets[0][0])


def test_a_damaged_file_delivers_the_frames_before_the_damage(tmp_path: Path) -> None:
    sc = basic(v4_conn())
    cap = tmp_path / "c.cap"
    wireshark("editcap", "-F", "netmon2", str(sc.write(tmp_path / "c.pcap")), str(cap))
    data = bytearray(cap.read_bytes())
    table = struct.unpack_from("<I", data, 24)[0]
    bad = struct.unpack_from("<I", data, table + 4 * 5)[0]
    struct.pack_into("<I", data, bad + 12, 1 << 20)  # frame 6 claims a megabyte
    cap.write_bytes(bytes(data))
    got = []
    with pytest.raises(CaptureError) as err:
        for batch in CaptureSource(str(cap)).batches():
            got.append(batch)
    assert err.value.offset == bad and sum(len(meta) // 16 for _, _, meta in got) == 5


def test_the_store_capture_as_netmon_gives_the_same_events(tmp_path: Path, wirecap) -> None:
    """Every event of the bundled store evening, through the CLI (read-ahead process included)."""
    store = Path(__file__).parent.parent / "captures" / "store.pcap"
    cap = tmp_path / "store.cap"
    wireshark("editcap", "-F", "netmon2", str(store), str(cap))
    assert ok(wirecap("replay", "-q", str(cap))) == ok(wirecap("replay", "-q", str(store)))


def test_a_filter_keeps_what_libpcap_keeps_of_the_pcap(tmp_path: Path) -> None:
    """--filter on a NetMon file: compiled by libpcap per link type, as for the pcap it came from."""
    sc = basic(v4_conn())
    original = sc.write(tmp_path / "c.pcap")
    cap = tmp_path / "c.cap"
    wireshark("editcap", "-F", "netmon2", str(original), str(cap))
    bpf = "src host 10.0.0.9 and tcp[tcpflags] & tcp-push != 0"
    kept = packets(cap, bpf)
    assert 0 < len(kept) < len(sc.packets) and kept == packets(original, bpf)


@settings(max_examples=200, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=8),
    size=st.integers(0, 4000),
)
def test_damage_anywhere_is_a_capture_error_never_a_crash(cuts: list[tuple[int, int]], size: int) -> None:
    """Bytes changed anywhere (header, frame table, frame headers, trailers) and the file cut short."""
    data = bytearray(MIXED_CAP.read_bytes())
    for at, value in cuts:
        data[at % len(data)] = value
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.cap"
        path.write_bytes(bytes(data[: max(size, 4)]) if size < len(data) else bytes(data))
        try:
            for _ in CaptureSource(str(path)).batches():
                pass
        except CaptureError:
            pass
