"""The lanes of the core's packet loop (core/src/lane_python.rs) against the Python loop, which has none:
the committed captures' net.tcp sessions sent over one connection each, their records cut into segments
as hypothesis chooses — a turn whole (its envelopes taken by the lane in one run), cut anywhere (an
envelope started, the pieces of its payload, its last piece and what follows), segments retransmitted,
swapped or lost — and after every batch the same events, the same connection state and the same state
of each direction of each decoder: its record state, the envelope being collected, its buffer and its
byte accounting. Whole replays of every capture through both loops are tests/test_pipeline_core.py's.

These tests need the core built, as tests/test_core_diff.py does: without it they fail, never skip.
"""

from __future__ import annotations

import sys
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pipeline_core import ACK, FIN, PSH, SYN, batches, ipv4, state, tcp

from decoders.core import RUST
from decoders.nmf import NmfDecoder
from wirecap.packets import LINKTYPE_ETHERNET
from wirecap.pipeline import Options, Pipeline

ROOT = Path(__file__).resolve().parents[1]
ISN = {"orig": 1_000, "resp": 4_000_000_000}  # the second wraps past 2**32 in a long session


@cache
def sessions() -> tuple[tuple[tuple[str, bytes], ...], ...]:
    """Each committed net.tcp session as its turns (the preambles, then each request and its reply), where
    the walker reads any (it stops at a secured stream's records)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from streams import CAPTURES, load_sessions  # the benchmarks' own minimal [MC-NMF] walker

    return tuple(turns for s in load_sessions(CAPTURES) if (turns := tuple(s.turns())))


@st.composite
def connection(draw: st.DrawFn) -> list[tuple[int, int, bytes, int]]:
    """One session's packets: the handshake, its turns in segments, FINs; a few segments out of place."""
    turns = draw(st.sampled_from(sessions()))
    segments: list[tuple[str, int, bytes]] = []  # (direction, stream offset, bytes)
    sent = {"orig": 0, "resp": 0}
    for direction, data in turns:
        cuts = draw(st.one_of(st.just([]), st.lists(st.integers(1, max(1, len(data) - 1)), max_size=6)))
        edges = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
        for start, end in pairwise(edges):
            for at in range(start, end, 8192):  # an IPv4 packet's length: offload frames stay below it
                piece = data[at : min(end, at + 8192)]
                segments.append((direction, sent[direction] + at, piece))
        sent[direction] += len(data)
    for _ in range(draw(st.integers(0, 3))):  # retransmitted, swapped with the next, or lost
        if len(segments) < 2:
            break
        at = draw(st.integers(0, len(segments) - 2))
        change = draw(st.sampled_from(["again", "swap", "lose"]))
        if change == "again":
            segments.insert(at + 1, segments[at])
        elif change == "swap":
            segments[at], segments[at + 1] = segments[at + 1], segments[at]
        else:
            del segments[at]
    return frames(segments, sent)


def frames(segments: list[tuple[str, int, bytes]], ends: dict[str, int]) -> list[tuple[int, int, bytes, int]]:
    """The packets of one connection: the handshake, the segments (direction, stream offset, bytes) in
    order given, then each side's FIN at ``ends``."""

    def packet(direction: str, seq: int, flags: int, payload: bytes, ts: int) -> tuple[int, int, bytes, int]:
        src, dst, sport, dport = (0, 1, 50000, 8506) if direction == "orig" else (1, 0, 8506, 50000)
        other = "resp" if direction == "orig" else "orig"
        segment = tcp(src, dst, sport, dport, seq % 2**32, (ISN[other] + 1) % 2**32, flags, payload)
        frame = bytes(12) + b"\x08\x00" + ipv4(src, dst, segment)
        return LINKTYPE_ETHERNET, ts, frame, len(frame)

    ts = 1_700_000_000 * 10**9
    out = [packet("orig", ISN["orig"], SYN, b"", ts), packet("resp", ISN["resp"], SYN | ACK, b"", ts + 1)]
    for i, (direction, offset, payload) in enumerate(segments):
        out.append(packet(direction, ISN[direction] + 1 + offset, PSH | ACK, payload, ts + 2 + i))
    for direction in ("orig", "resp"):
        out.append(packet(direction, ISN[direction] + 1 + ends[direction], FIN | ACK, b"", ts + 10**6))
    return out


def decoders(pipeline: Pipeline) -> list[Any]:
    """Each open connection's [MC-NMF] decoder as its directions stand."""
    out = []
    for _, _, from_resp, conn_state in sorted(pipeline.table.values(), key=lambda entry: entry[0].first_ts):
        decoder = conn_state.decoder
        if from_resp or not isinstance(decoder, NmfDecoder):
            continue
        for flow in decoder._flows.values():
            fields = (flow.state, flow.envelope, flow.envelope_offset, flow.payload_offset, flow.pending)
            fields += (flow.collected, flow.discard, flow.pieces)
            buffer = (flow.buf.offset, bytes(flow.buf.data[flow.buf.pos :]))
            out.append((fields, buffer, flow.ledger.decoded, dict(flow.ledger.skipped), len(flow.session)))
        out.append(len(decoder._outstanding))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(connection(), st.lists(st.integers(1, 9), max_size=4))
def test_sessions_in_segments_give_the_same_events_and_decoder_state(
    sequence: list[tuple[int, int, bytes, int]], sizes: list[int]
) -> None:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    core, python = Pipeline(Options()), Pipeline(Options())
    python._core_loop = None  # type: ignore[misc]
    for linktype, buf, meta in batches(sequence, sizes):
        core.process_batch(linktype, buf, meta)
        python.process_batch(linktype, buf, meta)
        assert [e.model_dump_json() for e in core.drain()] == [e.model_dump_json() for e in python.drain()]
        assert state(core) == state(python)
        assert decoders(core) == decoders(python)
    core.finish()
    python.finish()
    assert [e.model_dump_json() for e in core.drain()] == [e.model_dump_json() for e in python.drain()]


def test_the_lanes_take_every_envelope_segment() -> None:
    """The lanes take the segments of every shape, so that the test above compares them and not the Python
    path twice. The session of the most turns, each turn whole: the core's loop calls ``NmfDecoder.feed``
    for the preambles alone, the Python loop for every turn; each turn cut in 50-byte segments (whole
    envelopes and pieces, the start of one, the pieces of its payload, its last piece with the start of
    the next): the core's loop for the preambles' segments alone."""
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    turns = max(sessions(), key=len)
    whole: list[tuple[str, int, bytes]] = []
    cut: list[tuple[str, int, bytes]] = []
    sent = {"orig": 0, "resp": 0}
    for direction, data in turns:
        whole.append((direction, sent[direction], data))
        cut += [(direction, sent[direction] + at, data[at : at + 50]) for at in range(0, len(data), 50)]
        sent[direction] += len(data)
    preambles = [data for _, data in turns if data[:1] != b"\x06"]
    assert len(turns) - len(preambles) > 20 and len(cut) > 2 * len(turns)

    def fed(sequence: list[tuple[str, int, bytes]], loop: bool) -> int:
        calls = []
        original = NmfDecoder.feed

        def feed(self: NmfDecoder, direction: Any, data: bytes, ts: int) -> list[Any]:
            calls.append(len(data))
            return original(self, direction, data, ts)

        pipeline = Pipeline(Options())
        if not loop:
            pipeline._core_loop = None  # type: ignore[misc]
        NmfDecoder.feed = feed  # type: ignore[method-assign]
        try:
            for linktype, buf, meta in batches(frames(sequence, sent), [50]):
                pipeline.process_batch(linktype, buf, meta)
        finally:
            NmfDecoder.feed = original  # type: ignore[method-assign]
        return len(calls)

    assert (fed(whole, loop=False), fed(whole, loop=True)) == (len(turns), len(preambles))
    assert (fed(cut, loop=False), fed(cut, loop=True)) == (len(cut), sum(-(-len(d) // 50) for d in preambles))
