"""The pipeline's per-packet loop in the core (core/src/packets_python.rs) against the Python loop of
``Pipeline.process_batch``: the same JSONL on every committed capture replayed whole, and on
hypothesis-made packet sequences the same events, counts and connection state after every batch —
frames of the common shape and others (VLAN tags, IP options, fragments, UDP, IPv6, cut frames, raw IP
links), in order, retransmitted, out of order, with SYN, FIN and RST, times going backwards and jumping
past the sweep and the idle timeout, batches as ``bytes`` and in shared memory (a read-ahead slot).

Both sides run the same decoders and the same methods of the pipeline for everything but the loop; these
tests need the core built, as tests/test_core_diff.py does: without it they fail, never skip.
"""

from __future__ import annotations

import mmap
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.core import RUST
from wirecap.packets import LINKTYPE_ETHERNET, LINKTYPE_RAW
from wirecap.pipeline import Options, Pipeline
from wirecap.source import META

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(
    [*(ROOT / "captures").glob("*.pcap*"), *(ROOT / "tests").glob("*/*.pcap*"), *(ROOT / "tests").glob("*/*.cap")]
)
REPLAY = """
import sys
from wirecap.pipeline import Pipeline
if sys.argv.pop(1) == "python":
    Pipeline._core_loop = None
sys.argv[0] = "wirecap"
from wirecap.cli import main
main()
"""


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_whole_replay_is_byte_identical(capture: Path) -> None:
    """``wirecap replay`` with either loop, read ahead (a shared-memory slot per batch) and not."""

    def replay(loop: str, *more: str) -> tuple[int, bytes]:
        args = [sys.executable, "-c", REPLAY, loop, "replay", *more, str(capture)]
        done = subprocess.run(args, capture_output=True, cwd=ROOT)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        return done.returncode, done.stdout

    python = replay("python", "--no-read-ahead")
    assert replay("core", "--no-read-ahead") == python
    assert replay("core") == python
    if capture.parent.name == "captures" and capture.suffix == ".pcap":
        assert python[0] == 0 and python[1].count(b'"kind":"conn.close"') >= 1


# --- hypothesis: packet sequences ---------------------------------------------------------------------

HOSTS = [bytes([10, 0, 0, 5]), bytes([10, 0, 0, 9]), bytes([10, 0, 0, 7])]
PORTS = [50000, 8506, 8080, 50001]
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
FLAGS = [ACK, PSH | ACK, SYN, SYN | ACK, FIN | ACK, RST, RST | ACK, 0]
PAYLOADS = [b"", b"x", b"\x00\x01\x00\x01\x02\x02\x04a/b/\x03\x08\x0c", b"\x06\x05hello", b"GET / HTTP/1.1\r\n\r\n"]


def tcp(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload


def ipv4(src: int, dst: int, segment: bytes, *, options: bool = False, frag: int = 0, proto: int = 6) -> bytes:
    extra = b"\x01\x01\x01\x00" if options else b""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x46 if options else 0x45, 0, 20 + len(extra) + len(segment), 1, frag, 64, proto, 0,
        HOSTS[src], HOSTS[dst],
    )  # fmt: skip
    return header + extra + segment


def ipv6(src: int, dst: int, segment: bytes) -> bytes:
    address = lambda i: bytes(15) + bytes([i + 1])  # noqa: E731
    return struct.pack("!IHBB", 0x60000000, len(segment), 6, 64) + address(src) + address(dst) + segment


@st.composite
def packets(draw: st.DrawFn) -> list[tuple[int, int, bytes, int]]:
    """(linktype, ts, frame, caplen): a few connections' packets, mostly in order."""
    out: list[tuple[int, int, bytes, int]] = []
    next_seq: dict[tuple[int, int, int, int], int] = {}
    ts = 1_700_000_000 * 10**9
    for _ in range(draw(st.integers(1, 60))):
        src, dst = draw(st.sampled_from([(0, 1), (1, 0), (2, 1), (1, 2)]))
        sport, dport = draw(st.sampled_from([(50000, 8506), (8506, 50000), (50001, 8080), (8080, 50001)]))
        flags = draw(st.sampled_from(FLAGS))
        payload = draw(st.one_of(st.sampled_from(PAYLOADS), st.binary(max_size=60)))
        key = (src, dst, sport, dport)
        expected = next_seq.get(key, draw(st.integers(0, 2**32 - 1)))
        seq = (expected + draw(st.sampled_from([0, 0, 0, 0, -1, -5, 3, 2**31]))) % 2**32
        next_seq[key] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) % 2**32
        ack = draw(st.integers(0, 2**32 - 1))
        segment = tcp(src, dst, sport, dport, seq, ack, flags, payload)
        shape = draw(st.sampled_from(["common"] * 6 + ["vlan", "options", "frag", "udp", "ipv6", "cut", "raw", "odd"]))
        ts += draw(st.sampled_from([0, 1_000, 600_000_000, 2 * 10**9, -1_000_000, 4000 * 10**9]))
        ts = max(ts, 0)
        eth = bytes(12)
        linktype = LINKTYPE_ETHERNET
        if shape == "vlan":
            frame = eth + b"\x81\x00\x00\x05\x08\x00" + ipv4(src, dst, segment)
        elif shape == "options":
            frame = eth + b"\x08\x00" + ipv4(src, dst, segment, options=True)
        elif shape == "frag":
            frame = eth + b"\x08\x00" + ipv4(src, dst, segment, frag=draw(st.sampled_from([0x2000, 0x0001])))
        elif shape == "udp":
            frame = eth + b"\x08\x00" + ipv4(src, dst, segment, proto=17)
        elif shape == "ipv6":
            frame = eth + b"\x86\xdd" + ipv6(src, dst, segment)
        elif shape == "raw":
            frame, linktype = ipv4(src, dst, segment), LINKTYPE_RAW
        elif shape == "odd":  # a data offset below 5 or past the packet, or an IP length past the frame
            frame = bytearray(eth + b"\x08\x00" + ipv4(src, dst, segment))
            at = draw(st.sampled_from([46, 16, 17]))
            frame[at] = draw(st.sampled_from([0x40, 0xF0, 0xFF, 0x00]))
            frame = bytes(frame)
        else:
            frame = eth + b"\x08\x00" + ipv4(src, dst, segment)
        caplen = len(frame) if shape != "cut" else draw(st.integers(0, len(frame)))
        out.append((linktype, ts, frame, caplen))
    return out


def batches(packets: list[tuple[int, int, bytes, int]], sizes: list[int]) -> list[tuple[int, bytes, bytes]]:
    """Packets of one link type in batches as sources give them: the frames end to end, their records."""
    out: list[tuple[int, bytes, bytes]] = []
    at, cut = 0, 0
    while at < len(packets):
        size = sizes[cut % len(sizes)] if sizes else len(packets)
        cut += 1
        linktype = packets[at][0]
        buf, meta = bytearray(), bytearray()
        while at < len(packets) and packets[at][0] == linktype and size > 0:
            _, ts, frame, caplen = packets[at]
            meta += META.pack(ts // 10**9, ts % 10**9 // 1000, len(buf), caplen)
            buf += frame[:caplen]
            at, size = at + 1, size - 1
        out.append((linktype, bytes(buf), bytes(meta)))
    return out


def slot(buf: bytes) -> mmap.mmap:
    """The batch in shared memory, as the read-ahead process hands it over."""
    shared = mmap.mmap(-1, max(len(buf), 1))
    shared[: len(buf)] = buf
    return shared


def state(pipeline: Pipeline) -> Any:
    """What the loop keeps: time, sweep, counts, and each open connection's and half's fields."""
    conns = []
    for key, (conn, half, from_resp, _) in sorted(pipeline.table.items()):
        fields = ("next_seq", "offset", "packets", "last", "fast", "deliver", "eof", "gaps", "gap_bytes")
        conns.append((key, from_resp, conn.last_ts, conn.close_reason, [getattr(half, f) for f in fields]))
    stats = pipeline.stats
    counts = (stats.packets, stats.bytes, stats.connections, dict(stats.anomalies))
    return pipeline.clock, pipeline._next_sweep, counts, conns, sorted(pipeline.tombstones.items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets(), st.lists(st.integers(1, 9), max_size=4), st.booleans())
def test_packet_sequences_give_the_same_events_and_state(
    sequence: list[tuple[int, int, bytes, int]], sizes: list[int], slots: bool
) -> None:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    options = Options(idle_timeout=3000.0)
    core, python = Pipeline(options), Pipeline(options)
    python._core_loop = None  # type: ignore[misc]
    for linktype, buf, meta in batches(sequence, sizes):
        core.process_batch(linktype, slot(buf) if slots else buf, meta)
        python.process_batch(linktype, buf, meta)
        assert [e.model_dump_json() for e in core.drain()] == [e.model_dump_json() for e in python.drain()]
        assert state(core) == state(python)
    core.finish()
    python.finish()
    assert [e.model_dump_json() for e in core.drain()] == [e.model_dump_json() for e in python.drain()]


def test_the_core_loop_is_used_and_hands_other_frames_to_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the core, a pipeline's loop is the core's, which parses frames of the common shape itself and
    hands every other one to ``Pipeline._parse``."""
    assert RUST is not None and Pipeline._core_loop is RUST.process_batch
    parsed: list[int] = []
    original = Pipeline._parse

    def parse(self: Pipeline, linktype: int, buf: bytes, off: int, caplen: int, ts: int) -> Any:
        parsed.append(linktype)
        return original(self, linktype, buf, off, caplen, ts)

    monkeypatch.setattr(Pipeline, "_parse", parse)
    segment = [tcp(0, 1, 50000, 8506, seq, 0, ACK, b"") for seq in range(4)]
    common = [(LINKTYPE_ETHERNET, 10**18 + i, bytes(12) + b"\x08\x00" + ipv4(0, 1, segment[i]), 54) for i in range(3)]
    raw = (LINKTYPE_RAW, 10**18 + 9, ipv4(0, 1, segment[3]), 40)
    pipeline = Pipeline()
    for linktype, buf, meta in batches([*common, raw], [9]):
        pipeline.process_batch(linktype, buf, meta)
    assert parsed == [LINKTYPE_RAW]
    assert pipeline.stats.connections == 1 and pipeline.table[HOSTS[0] + HOSTS[1] + struct.pack("!HH", 50000, 8506)]
