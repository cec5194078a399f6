"""The compiled [MC-NMF] record framer (core/src/nmf.rs, applied by decoders/nmf_core.py) against the
pure-Python record loop: the same events (as JSON, byte for byte) and the same accounting, on whole
replays of every committed capture, the .NET vectors, the nmf fuzz seeds and findings, every split of real
sessions into 2 and 3 segments, gaps at chosen points, and hypothesis-made record streams and mutants.

Both sides decode envelope payloads with the same core (the one in use; ``WIRECAP_PURE_PYTHON=1`` makes
it the Python one): only the framing differs. The Python side is ``NmfDecoder`` with no framer; the core
side runs twice, with the core's run of whole envelopes made events (``WcfEventMaker.envelopes``) and with
the framer alone, and counts the bytes the core framed, so that a test on genuine traffic fails if the core
silently frames nothing. These tests need the core built, as tests/test_core_diff.py does: without it they
fail, never skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from itertools import combinations, pairwise
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import mb31
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.accounting import Accounting
from decoders.correlate import MAX_PENDING, Pending
from decoders.events import Direction
from decoders.interface import DecoderOptions
from decoders.nmf import NmfDecoder
from decoders.nmf_core import CORE_STATES
from decoders.nmf_records import TRANSITIONS, RecordType
from wirecap.flow import conn_fields

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))
import fuzz_targets  # noqa: E402  (the fuzz targets' input format and the seeds made of the captures)
from core_diff import RUST  # noqa: E402  (the compiled module, whichever core the application uses)
from test_nmf import C2S, S2C, V  # noqa: E402  (block 1 of the .NET vectors)

CONN = conn_fields("Cnmfcore", "1:test", "10.0.0.5:50000", "10.0.0.9:8506")

R = RecordType


class Framed:
    """Bytes the core framed since the last ``take``, and the record types it framed (a sized envelope's
    header alone counted as ``HEADER``)."""

    consumed = 0
    kinds: ClassVar[Counter[int]] = Counter()

    @classmethod
    def take(cls) -> int:
        consumed, cls.consumed = cls.consumed, 0
        return consumed


HEADER = -1
RUN = -2  # a call of the run of whole envelopes that took some


def _counting_framer(*args: object) -> tuple[list, int]:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    records, consumed = RUST.nmf_records(*args)
    Framed.consumed += consumed
    Framed.kinds.update(HEADER if r[0] == R.SIZED_ENVELOPE and isinstance(r[4], int) else r[0] for r in records)
    return records, consumed


def _counting_run(
    decoder: object, flow: object, events: list, chunk: bytes, start: int, *args: object
) -> tuple[int, bool]:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    end, stopped = RUST.envelope_run(decoder, flow, events, chunk, start, *args)
    Framed.consumed += end - start
    Framed.kinds[RUN] += end > start
    return end, stopped


class CoreFramed(NmfDecoder):
    _framer = staticmethod(_counting_framer)
    _envelope_run = staticmethod(_counting_run)


class FramerAlone(NmfDecoder):
    _framer = staticmethod(_counting_framer)
    _envelope_run = None


class PythonFramed(NmfDecoder):
    _framer = None


Step = tuple[Direction, str, bytes]  # (direction, "feed" | "gap" | "eof", bytes)


def outcome(cls: type[NmfDecoder], steps: list[Step], **kwargs: int) -> tuple[list[str], dict[str, Accounting]]:
    decoder = cls(CONN, DecoderOptions(xml=True), **kwargs)
    out = []
    ended: set[str] = set()
    for ts, (direction, what, data) in enumerate(steps):
        if direction in ended:
            continue
        if what == "gap":
            out += decoder.gap(direction, len(data), ts)
        elif what == "eof":
            ended.add(direction)
            out += decoder.eof(direction, ts)
        elif decoder.wants_data:
            out += decoder.feed(direction, data, ts)
    for direction in ("orig", "resp"):
        if direction not in ended:
            out += decoder.eof(direction, len(steps))
    events = [event.model_dump_json() for event in out]
    return events, {d: decoder.accounting(d) for d in ("orig", "resp")}


def same(steps: list[Step], **kwargs: int) -> int:
    """Assert the framings agree on ``steps``; the bytes the core framed (with its run of envelopes or
    without, the same)."""
    Framed.take()
    core = outcome(CoreFramed, steps, **kwargs)
    framed = Framed.take()
    alone = outcome(FramerAlone, steps, **kwargs)
    assert Framed.take() == framed
    python = outcome(PythonFramed, steps, **kwargs)
    assert core[0] == alone[0] == python[0]
    assert core[1] == alone[1] == python[1]
    return framed


def fuzz_steps(data: bytes) -> list[Step]:
    """A fuzz input (``fuzz_targets.chunks``: direction and control bits per chunk) as steps."""
    steps: list[Step] = []
    for direction, ctrl, payload in fuzz_targets.chunks(data):
        steps.append((direction, "gap" if ctrl & fuzz_targets.CTRL_GAP else "feed", payload))
        if ctrl & fuzz_targets.CTRL_EOF:
            steps.append((direction, "eof", b""))
    return steps


def session(orig: list[bytes], resp: list[bytes]) -> list[Step]:
    """The initiator's chunks, then the receiver's (its codec is the initiator's encoding)."""
    return [("orig", "feed", c) for c in orig] + [("resp", "feed", c) for c in resp]


# --- the core's table and the .NET vectors --------------------------------------------------------------


def test_the_core_has_the_python_transition_table() -> None:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    for direction, initiator in (("orig", True), ("resp", False)):
        core = {(CORE_STATES[a], R(k)): CORE_STATES[b] for a, k, b in RUST.nmf_transitions(initiator)}
        assert core == TRANSITIONS[direction]


def test_the_core_frames_the_dotnet_streams_whole() -> None:
    """Block 1 is byte-exact .NET output: every record of it is well-formed, so the core takes all of it."""
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    records, consumed = RUST.nmf_records(C2S, 0, 0, True, 2**26)
    assert consumed == len(C2S)
    assert [r[0] for r in records] == [R.VERSION, R.MODE, R.VIA, R.KNOWN_ENCODING, R.PREAMBLE_END, 6, 6, R.END]
    assert records[1][4] == 2 and records[3][4] == 0x08  # duplex, binary with session strings
    assert [r[1] for r in records[5:]] == [39, 39 + 3 + 163, 39 + 3 + 163 + 2 + 73]  # offsets (test_nmf)
    assert len(records[5][4]) == 163 and records[5][3] == 42
    records, consumed = RUST.nmf_records(S2C, 1000, 0, False, 2**26)
    assert consumed == len(S2C)
    assert [(r[0], r[1], CORE_STATES[r[2]].value) for r in records] == [
        (R.PREAMBLE_ACK, 1000, "established"),
        (R.SIZED_ENVELOPE, 1001, "established"),
        (R.SIZED_ENVELOPE, 1001 + 3 + 148, "established"),
        (R.END, 1001 + 3 + 148 + 2 + 66, "ended"),
    ]


def test_dotnet_vectors() -> None:
    assert same(session([C2S], [S2C])) == len(C2S) + len(S2C)
    simplex = b"\x00\x01\x00\x01\x03\x02\x04a/b/\x03\x08\x0c"
    for name in ("msg1", "msg2", "msg3"):
        msg = V[name]
        simplex += b"\x06" + mb31(len(msg)) + msg
    assert same(session([simplex], [])) == len(simplex)


# --- every committed capture, whole, through the pipeline ---------------------------------------------

CAPTURES = sorted(
    [*(ROOT / "captures").glob("*.pcap"), *(ROOT / "tests").glob("*/*.pcap"), *(ROOT / "tests").glob("*/*.cap")]
)
REPLAY = """
import sys
from decoders.nmf_core import CoreFraming
framing = sys.argv.pop(1)
if framing == "python":
    CoreFraming._framer = None
elif framing == "framer":
    CoreFraming._envelope_run = None
sys.argv[0] = "wirecap"
from wirecap.cli import main
main()
"""


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_whole_replay_is_byte_identical(capture: Path) -> None:
    """``wirecap replay --xml`` framed by the core (with its run of envelopes, and the framer alone) and by
    Python alone: the same JSONL, accounting included (a file wirecap cannot read fails the same way)."""

    def replay(framing: str) -> tuple[int, bytes]:
        args = [sys.executable, "-c", REPLAY, framing, "replay", "--xml", str(capture)]
        done = subprocess.run(args, capture_output=True, cwd=ROOT)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        return done.returncode, done.stdout

    core = replay("core")
    assert core == replay("framer") == replay("python")
    if capture.parent.name == "captures":
        assert core[0] == 0 and core[1].count(b'"kind":"conn.close"') >= 1


# --- fuzz seeds and findings, sessions split and cut --------------------------------------------------


def test_fuzz_seeds_and_findings() -> None:
    inputs = [*fuzz_targets.seeds("nmf"), *(p.read_bytes() for p in (ROOT / "tests/fuzz_findings").glob("nmf-*"))]
    assert len(inputs) > 10
    framed = sum(same(fuzz_steps(data)) for data in inputs)
    assert framed > 10_000


def _real_sessions() -> list[tuple[bytes, bytes]]:
    """Block 1, and the first 3 KB of each direction of the first net.tcp connection of store.pcap."""
    from wirecap.streams import collect_streams

    store = next(c for c in collect_streams([str(ROOT / "captures/store.pcap")]) if c.resp.endswith(":8506"))
    return [(C2S, S2C), (store.data["orig"][:3000], store.data["resp"][:3000])]


@pytest.mark.parametrize("which", [0, 1], ids=["dotnet", "store"])
def test_every_split_in_two(which: int) -> None:
    orig, resp = _real_sessions()[which]
    framed = 0
    for cut in range(1, max(len(orig), len(resp))):
        framed += same(session([orig[:cut], orig[cut:]], [resp[:cut], resp[cut:]]))
    assert framed > len(orig) + len(resp)


def test_splits_in_three() -> None:
    orig, resp = _real_sessions()[0]
    cuts = list(combinations(range(1, len(orig), 3), 2))
    for a, b in cuts:
        parts = [orig[:a], orig[a:b], orig[b:]]
        same(session(parts, [resp[: a % len(resp)], resp[a % len(resp) :]]))
    assert len(cuts) > 3000


@pytest.mark.parametrize("length", [1, 2, 40, 500])
def test_gaps_at_chosen_points(length: int) -> None:
    """A gap in the preamble, at a record boundary, in an envelope's size or payload, at its end."""
    orig, resp = _real_sessions()[1]
    for at in (3, 20, 39, 40, 41, 42, 100, 300, 1000, 2000, 2990):
        steps: list[Step] = [("orig", "feed", orig[:at]), ("orig", "gap", orig[at : at + length])]
        steps += [("orig", "feed", orig[at + length :]), ("resp", "feed", resp[:at])]
        steps += [("resp", "gap", resp[at : at + length]), ("resp", "feed", resp[at + length :])]
        same(steps)


# --- hypothesis: record streams and their mutants -----------------------------------------------------

ENVELOPE_PAYLOADS = [C2S[42 : 42 + 163], V["msg1"], V["msg2"], b"", b"\x00\x56"]
SIZES = [0, 1, 127, 128, 16383, 16384]


@st.composite
def a_record(draw: st.DrawFn) -> bytes:
    string = st.one_of(
        st.text(max_size=40).map(lambda s: mb31(len(s.encode())) + s.encode()),
        st.binary(max_size=8).map(lambda b: mb31(len(b)) + b),  # often not UTF-8
        st.just(b"\x81\x80\x04"),  # a length over the 64 KiB limit
    )
    payload = st.one_of(st.sampled_from(ENVELOPE_PAYLOADS), st.sampled_from(SIZES).map(lambda n: bytes(n)))
    chunks = st.lists(st.binary(max_size=20), max_size=3)
    return draw(
        st.one_of(
            st.sampled_from([b"\x00\x01\x00", b"\x00\x02\x01"]),
            st.integers(0, 6).map(lambda m: b"\x01" + bytes([m])),
            string.map(lambda s: b"\x02" + s),
            st.integers(0, 10).map(lambda e: b"\x03" + bytes([e])),
            st.sampled_from(["application/soap+msbinsession1", "text/xml; charset=utf-8", "x"]).map(
                lambda t: b"\x04" + mb31(len(t)) + t.encode()
            ),
            chunks.map(lambda cs: b"\x05" + b"".join(mb31(len(c)) + c for c in cs) + b"\x00"),
            payload.map(lambda p: b"\x06" + mb31(len(p)) + p),
            st.sampled_from([b"\x07", b"\x0a", b"\x0b", b"\x0c"]),
            string.map(lambda s: b"\x08" + s),
            st.just(b"\x09\x15application/negotiate"),
            st.integers(0x0D, 0xFF).map(lambda t: bytes([t])),  # unknown record types
            st.just(b"\x06\xff\xff\xff\xff\x7f"),  # an invalid MB31 size
        )
    )


PREAMBLE = b"\x00\x01\x00\x01\x02\x02\x04a/b/\x03\x08\x0c"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orig=st.lists(a_record(), max_size=8),
    resp=st.lists(a_record(), max_size=8),
    preambled=st.booleans(),
    cuts=st.lists(st.integers(0, 400), max_size=4),
    gap=st.one_of(st.none(), st.tuples(st.integers(0, 300), st.integers(1, 30))),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 255)), max_size=2),
    truncate=st.one_of(st.none(), st.integers(0, 400)),
    max_envelope=st.sampled_from([2**26, 200, 16383]),
)
def test_record_streams_and_mutants(
    orig: list[bytes],
    resp: list[bytes],
    preambled: bool,
    cuts: list[int],
    gap: tuple[int, int] | None,
    flips: list[tuple[int, int]],
    truncate: int | None,
    max_envelope: int,
) -> None:
    streams = {"orig": (PREAMBLE if preambled else b"") + b"".join(orig), "resp": b"\x0b" + b"".join(resp)}
    steps: list[Step] = []
    for direction, stream in streams.items():
        data = bytearray(stream[:truncate])
        for at, mask in flips:
            if at < len(data):
                data[at] ^= mask
        bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
        for a, b in pairwise(bounds):
            if gap is not None and a <= gap[0] < b:
                steps.append((direction, "feed", bytes(data[a : gap[0]])))
                steps.append((direction, "gap", bytes(gap[1])))
                a = gap[0]
            steps.append((direction, "feed", bytes(data[a:b])))
    same(steps, max_envelope=max_envelope)


def test_upgrades_and_envelope_headers() -> None:
    """The secured sessions of nns_auth.pcap (UpgradeRequest, UpgradeResponse, then [MS-NNS]) and the large
    envelopes of the captures fed in 1460-byte segments (each header framed by the core alone, the payload
    collected by the record loop), and an envelope over the limit: the same output, the core did frame them."""
    from wirecap.streams import collect_streams

    Framed.kinds.clear()
    paths = [str(ROOT / "captures" / name) for name in ("nns_auth.pcap", "wcf_streamed.pcap", "store.pcap")]
    for capture in collect_streams(paths):
        if capture.resp.endswith(":8506"):
            orig, resp = capture.data["orig"], capture.data["resp"]
            steps: list[Step] = [("orig", "feed", orig[at : at + 1460]) for at in range(0, len(orig), 1460)]
            steps += [("resp", "feed", resp[at : at + 1460]) for at in range(0, len(resp), 1460)]
            same(steps)
            same(steps, max_envelope=3000)
    assert Framed.kinds[R.UPGRADE_REQUEST] >= 5 and Framed.kinds[R.UPGRADE_RESPONSE] >= 5
    assert Framed.kinds[HEADER] > 20


def _requests(count: int) -> bytes:
    """Block 1's first envelope (its string table), then ``count`` copies of its second, a request whose
    MessageID (a UniqueId record, 0xAD) is made distinct in each."""
    first, second = C2S[:205], C2S[205:-1]  # the preamble and envelope 1; envelope 2 (then End)
    at = second.index(b"\xad") + 1
    copies = [second[:at] + n.to_bytes(16, "little") + second[at + 16 :] for n in range(count)]
    return first + b"".join(copies)


def test_too_many_requests_without_reply() -> None:
    """Past ``MAX_PENDING`` open requests each new one forgets the oldest: an anomaly before its event,
    whichever framing; a reply to a forgotten one gets no latency, to one still open it does."""
    count = MAX_PENDING + 6
    orig = _requests(count)
    last = b"\xad" + bytes.fromhex("f2fc44e0e9f6db49b548c629bfda2cc7")  # block 1's second MessageID
    resp = S2C.replace(last, b"\xad" + (count - 1).to_bytes(16, "little"))  # its reply: to the last copy
    whole = session([orig[:39], orig[39:]], [resp[:1], resp[1:]])  # the preambles, then the envelopes
    Framed.kinds.clear()
    assert same(whole) == len(orig) + len(resp)
    assert Framed.kinds[RUN] == 1 + 1  # one run a direction: the core's loop goes on after each of orig's 6 stops
    steps = [("orig", "feed", orig[at : at + 1460]) for at in range(0, len(orig), 1460)]
    same([*steps, ("resp", "feed", resp)])  # envelopes split: the record loop collects their payloads
    events = [json.loads(e) for e in outcome(CoreFramed, whole)[0]]
    forgotten = [e["detail"] for e in events if e["kind"] == "anomaly" and e["name"] == "wcf_too_many_pending"]
    assert len(forgotten) == 7  # envelope 1 and 6 copies
    assert forgotten[0].endswith("forgot urn:uuid:c92b8486-cefb-4201-8a89-22bcd24b699e")
    replies = [e["latency_ms"] for e in events if e["kind"] == "wcf.message" and e["relates_to"]]
    assert replies[0] is None and replies[1] is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(-(2**62), 2**62)), max_size=60))
def test_the_cores_table_of_open_requests_is_pythons(operations: list[tuple[bool, int, int]]) -> None:
    """``Outstanding`` (the core's, which its run pairs with) and ``decoders.correlate.Pending``: the same
    answers to the same opens and closes, a key opened again keeping its place, the oldest forgotten."""
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    core, python = RUST.Outstanding(3), Pending(3)
    for opens, key, value in operations:
        name = f"urn:uuid:{key}"
        if opens:
            assert core.open(name, value) == python.open(name, value)
        else:
            assert core.close(name) == python.close(name)
        assert len(core) == len(python) and (name in core) == (name in python)


def test_chunks_of_one_byte_and_trailing_bytes() -> None:
    """Byte by byte (the core never sees a whole record), and a session followed by a partial record."""
    same(session([C2S[i : i + 1] for i in range(len(C2S))], [S2C]))
    assert same(session([C2S + b"\x06\x85"], [S2C + b"\x06"])) == len(C2S) + len(S2C)
