"""The compiled mid-session envelope search (core/src/nmf_search.rs, driven by decoders/nmf_search.py) against
the pure-Python one: the same verdicts of ``envelope_start`` (detection's test too) and ``find_candidate``,
and the same events (as JSON, byte for byte) and accounting on the committed captures cut to start
mid-session (the first N bytes of every net.tcp connection dropped, at many N, and the first N packets of
each capture), gaps at many points, the nmf and detection fuzz seeds and findings, and hypothesis streams of
garbage and genuine envelopes.

The Python side is ``NmfDecoder`` with the Python search and no core framer; the core side counts the
candidates the core's search stopped at, so that a test fails if the core's search silently never runs.
Envelope payloads are decoded by the core in use on both sides: only the search and the framing differ.
These tests need the core built, as tests/test_core_nmf.py does: without it they fail, never skip.
"""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import mb31
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import nmf_search
from decoders.events import Direction
from decoders.nmf import NmfDecoder
from decoders.nmf_search import Candidate, Found, envelope_start_python, find_candidate_python

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))
import fuzz_targets  # noqa: E402  (the fuzz targets' input format and the seeds made of the captures)
from core_diff import RUST  # noqa: E402  (the compiled module, whichever core the application uses)
from test_core_nmf import Step, fuzz_steps, outcome  # noqa: E402  (the replay of steps through a decoder)
from test_nmf import C2S, V  # noqa: E402  (block 1 of the .NET vectors)


def _core() -> Any:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    return RUST


class Searched:
    """Candidates the core's search stopped at since the last ``take``."""

    stops = 0

    @classmethod
    def take(cls) -> int:
        stops, cls.stops = cls.stops, 0
        return stops


def _counting_finder(*args: object) -> Candidate:
    found = _core().nmf_find_candidate(*args)
    Searched.stops += 1
    return found


class CoreSearched(NmfDecoder):
    _finder = staticmethod(_counting_finder)
    _envelope_start = staticmethod(lambda *args: _core().nmf_envelope_start(*args))
    _framer = staticmethod(lambda *args: _core().nmf_records(*args))


class Unremembered(NmfDecoder):
    """The core's search asked again on every feed, as before waiting candidates were remembered."""

    @staticmethod
    def _finder(*args: Any) -> Candidate:
        found = _core().nmf_find_candidate(*args)
        return (*found[:4], None, found[5])


class PythonSearched(NmfDecoder):
    _finder = staticmethod(find_candidate_python)
    _envelope_start = staticmethod(envelope_start_python)
    _framer = None


def same(steps: list[Step], **kwargs: int) -> int:
    """Assert both searches (and framings) agree on ``steps``; the stops of the core's search."""
    Searched.take()
    core = outcome(CoreSearched, steps, **kwargs)
    stops = Searched.take()
    python = outcome(PythonSearched, steps, **kwargs)
    assert core[0] == python[0]
    assert core[1] == python[1]
    return stops


def _net_tcp_streams() -> list[tuple[bytes, bytes]]:
    """(orig, resp) of every net.tcp connection of the committed captures."""
    return fuzz_targets._captures({8506})


def _segments(direction: Direction, data: bytes, size: int) -> list[Step]:
    return [(direction, "feed", data[at : at + size]) for at in range(0, len(data), size)]


# --- the verdicts themselves -----------------------------------------------------------------------------

FAMILIES = ["binary-session", "binary", "text", "mtom", "unknown"]


@st.composite
def a_candidate(draw: st.DrawFn) -> bytes:
    """0x06, a size, a string table of short strings (often printable), an element-ish byte, cut anywhere."""
    strings = draw(st.lists(st.one_of(st.text(min_size=1, max_size=6).map(str.encode), st.binary(max_size=6))))
    table = b"".join(mb31(len(s)) + s for s in strings)
    size = draw(st.one_of(st.integers(0, 300), st.just(len(table) + 3)))
    table_len = draw(st.one_of(st.just(len(table)), st.integers(0, 40)))
    raw = b"\x06" + mb31(size) + mb31(table_len) + table + bytes([draw(st.integers(0, 255))]) * 2
    return raw[: draw(st.integers(0, len(raw)))]


@settings(max_examples=1500, deadline=None)
@given(
    head=st.one_of(a_candidate(), st.binary(max_size=40)),
    pos=st.integers(0, 4),
    max_size=st.sampled_from([nmf_search.MAX_ENVELOPE, 8, 100]),
    family=st.sampled_from(FAMILIES),
)
def test_envelope_start_verdicts_agree(head: bytes, pos: int, max_size: int, family: str) -> None:
    core = _core()
    assert core.nmf_envelope_start(head, pos, max_size, family) == envelope_start_python(head, pos, max_size, family)
    assert core.nmf_envelope_start(bytearray(head)) == envelope_start_python(head)


def test_envelope_start_agrees_at_every_0x06_of_the_captures() -> None:
    """Every 0x06 of every net.tcp stream (the genuine envelopes and all the 0x06 inside them), every cut of
    the first envelopes: the same verdict, and the genuine ones found plausible."""
    core, checked, plausible = _core(), 0, 0
    for streams in _net_tcp_streams():
        for stream in streams:
            pos = stream.find(6)
            while pos >= 0:
                head = stream[pos : pos + 200]
                verdict = core.nmf_envelope_start(head)
                assert verdict == envelope_start_python(head), (pos, head)
                checked += 1
                plausible += verdict is True
                pos = stream.find(6, pos + 1)
    for cut in range(len(C2S) - 39):
        assert core.nmf_envelope_start(C2S[39 : 39 + cut]) == envelope_start_python(C2S[39 : 39 + cut])
    assert checked > 4000 and plausible > 100, (checked, plausible)


def test_detection_probes_agree() -> None:
    """``probe`` (decoders.detect) on the heads of every stream and fuzz seed, with the core's test and the
    Python one: the same answer."""
    from decoders import nmf

    heads = [pair for pair in _net_tcp_streams()] + fuzz_targets._captures({8080, 8507})
    heads += [(data, data[::-1]) for data in fuzz_targets.seeds("nmf") + fuzz_targets.seeds("remoting")]
    answers = []
    for orig, resp in heads:
        for cut in (1, 5, 12, 64):
            with_core = nmf.probe(orig[:cut], resp[:cut])
            nmf.envelope_start = envelope_start_python
            try:
                answers.append(nmf.probe(orig[:cut], resp[:cut]))
            finally:
                nmf.envelope_start = nmf_search.envelope_start
            assert answers[-1] == with_core
    assert nmf.envelope_start is _core().nmf_envelope_start
    assert True in answers and False in answers


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunk=st.lists(st.one_of(a_candidate(), st.binary(max_size=30), st.sampled_from([C2S[39:], V["msg1"]]))),
    start=st.integers(0, 50),
    limit=st.integers(0, 3000),
    max_scan=st.sampled_from([2**20, 300, 10]),
    family=st.sampled_from(FAMILIES),
    checked=st.one_of(st.none(), st.integers(0, 60)),
)
def test_find_candidate_agrees(
    chunk: list[bytes], start: int, limit: int, max_scan: int, family: str, checked: int | None
) -> None:
    data = b"".join(chunk)
    args = (data, 1000, start, 1000 + limit, nmf_search.MAX_ENVELOPE, max_scan, family, checked)
    assert _core().nmf_find_candidate(*args) == find_candidate_python(*args)


# --- committed captures cut to start mid-session ----------------------------------------------------------


def test_connections_joined_mid_session() -> None:
    """Each net.tcp connection with the first N bytes of a direction (or both) dropped, at many N, fed in
    segments of 1460 and 536 bytes: the search runs at once, and again wherever framing is lost."""
    stops = 0
    for orig, resp in _net_tcp_streams():
        for n in sorted({1, 3, 17, 40, 100, 333, 1000, 2500, len(orig) // 3, len(orig) // 2}):
            for size in (1460, 536):
                steps = _segments("orig", orig[n:], size) + _segments("resp", resp[n // 2 :], size)
                stops += same(steps)
            stops += same(_segments("orig", orig, 1460) + _segments("resp", resp[n:], 1460))
    assert stops > 300


def test_gaps_at_many_points() -> None:
    """A gap every few hundred bytes, of several lengths, in the genuine sessions (in envelopes, sizes,
    between records, and in a search still running)."""
    stops = 0
    for orig, resp in _net_tcp_streams()[:8]:
        for length in (1, 7, 600):
            for every in (293, 1777):
                steps: list[Step] = []
                for direction, stream in (("orig", orig), ("resp", resp)):
                    for at in range(0, len(stream), every):
                        steps.append((direction, "feed", stream[at : at + every - length]))
                        steps.append((direction, "gap", stream[at + every - length : at + every]))
                stops += same(steps)
    assert stops > 100


def test_fuzz_seeds_and_findings() -> None:
    inputs = [*fuzz_targets.seeds("nmf"), *fuzz_targets.seeds("remoting")]
    inputs += [p.read_bytes() for p in (ROOT / "tests/fuzz_findings").glob("nmf-*")]
    assert len(inputs) > 20
    stops = 0
    for data in inputs:
        stops += same(fuzz_steps(data))
        stops += same(fuzz_steps(data[len(data) // 3 :]))  # a seed's chunk boundaries lost: mid-session
    assert stops > 50


CAPTURES = [*sorted((ROOT / "captures").glob("wcf_*.pcap")), ROOT / "captures/store.pcap"]
REPLAY = """
import sys
from decoders import _core, nmf_search
from decoders.nmf_core import CoreFraming
from decoders.nmf_search import EnvelopeSearch
if sys.argv.pop(1) == "python":
    CoreFraming._framer = None
    EnvelopeSearch._finder = staticmethod(nmf_search.find_candidate_python)
    EnvelopeSearch._envelope_start = staticmethod(nmf_search.envelope_start_python)
    nmf_search.envelope_start = nmf_search.envelope_start_python
sys.argv[0] = "wirecap"
from wirecap.cli import main
main()
"""


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_captures_without_their_first_packets(capture: Path, tmp_path: Path) -> None:
    """``wirecap replay --xml`` of the capture with its first N packets removed (editcap): the connections
    start mid-session; the core's search and the Python one give the same JSONL, accounting included."""
    for n in (5, 12, 30):
        cut = tmp_path / f"cut{n}.pcap"
        subprocess.run(["editcap", str(capture), str(cut), f"1-{n}"], check=True, capture_output=True)

        def replay(search: str, cut: Path = cut) -> bytes:
            args = [sys.executable, "-c", REPLAY, search, "replay", "--xml", str(cut)]
            done = subprocess.run(args, capture_output=True, cwd=ROOT)
            assert b"Traceback" not in done.stderr, done.stderr.decode()
            assert done.returncode == 0
            return done.stdout

        core = replay("core")
        assert core == replay("python")
        assert core.count(b'"kind":"conn.close"') >= 1


# --- hypothesis: garbage and genuine envelopes ---------------------------------------------------------

ENVELOPES = [b"\x06" + mb31(len(p)) + p for p in (C2S[42 : 42 + 163], V["msg1"], V["msg2"], V["msg3"])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from(ENVELOPES),
            st.binary(max_size=60),
            a_candidate(),
            st.sampled_from(ENVELOPES).map(lambda e: e[: len(e) // 2]),
            st.just(b"\x06" + mb31(300_000) + b"\x00\x56\x02" + b"\x05" * 40),  # a fake large start
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(1, 700), max_size=5),
    gap=st.one_of(st.none(), st.tuples(st.integers(0, 600), st.integers(1, 30))),
    max_scan=st.sampled_from([2**20, 150, 2000]),
    max_envelope=st.sampled_from([2**26, 100]),
    both=st.booleans(),
)
def test_garbage_and_envelopes(
    parts: list[bytes],
    cuts: list[int],
    gap: tuple[int, int] | None,
    max_scan: int,
    max_envelope: int,
    both: bool,
) -> None:
    stream = b"".join(parts)
    steps: list[Step] = []
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for a, b in pairwise(bounds):
        if gap is not None and a <= gap[0] < b:
            steps.append(("orig", "feed", stream[a : gap[0]]))
            steps.append(("orig", "gap", bytes(gap[1])))
            a = gap[0]
        steps.append(("orig", "feed", stream[a:b]))
        if both:
            steps.append(("resp", "feed", stream[a:b][::-1]))
    same(steps, max_scan=max_scan, max_envelope=max_envelope)
    kwargs = {"max_scan": max_scan, "max_envelope": max_envelope}
    assert outcome(CoreSearched, steps, **kwargs) == outcome(Unremembered, steps, **kwargs)


def test_foreign_traffic_gives_up_the_same_way() -> None:
    """Long runs of envelope-like garbage: the unconfirmed limit, not-NMF, foreign; the core searched."""
    garbage = bytes(range(256)) * 200 + (b"\x06\x10\x05\x04Ping\x42" + bytes(9)) * 300
    steps = _segments("orig", garbage, 1460) + _segments("resp", garbage[::-1], 700)
    assert same(steps) > 2
    chunky = [("orig", "feed", b"\x06\x08\x05\x04Pi" + bytes([n % 256]) * 900) for n in range(400)]
    assert same(chunky) > 2
    assert Found.WHOLE == 0 and Found.END == 3


def test_a_waiting_candidate_is_judged_again_when_the_encoding_changes() -> None:
    """The receiver waits on a plausible binary+session envelope of 500 bytes when the initiator starts a
    new session in text: from then on the candidate is judged as text (and dropped), as if the search had
    never remembered it; and whatever the encoding, remembering changes nothing on the genuine sessions."""
    waiting = b"\x99\x06" + mb31(500) + b"\x05\x04Ping" + b"\x42\x02" * 20
    text = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body/></s:Envelope>"
    new_session = b"\x07\x00\x01\x00\x01\x02\x02\x04a/b/\x03\x00\x0c"
    steps: list[Step] = [
        ("resp", "feed", waiting),
        ("orig", "feed", b"\x00\x01\x00\x01\x02\x02\x04a/b/\x03\x08\x0c" + new_session),
        ("resp", "feed", bytes(30)),
        ("resp", "feed", b"\x06" + mb31(len(text)) + text),
    ]
    remembered = outcome(CoreSearched, steps)
    assert remembered == outcome(Unremembered, steps)
    assert b'"kind":"wcf.message"' in "".join(remembered[0]).encode()
    for orig, resp in _net_tcp_streams()[:6]:
        cut = _segments("orig", orig[100:], 1460) + _segments("resp", resp[50:], 536)
        assert outcome(CoreSearched, cut) == outcome(Unremembered, cut)
