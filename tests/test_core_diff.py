"""The compiled core (decoders._core) against the pure-Python reference (decoders.nbfx + soap): every
envelope of every committed capture and .NET vector, every truncation of them, bit flips, and
hypothesis-made mutations must give the same fields, byte-identical body JSON and XML text, and the
same DecodeError (name, detail, offset), leaving the direction's session table the same.

These tests need the core built (CI builds it with the README's install command); without it they
fail, never skip. A developer without cargo runs the suite with ``--deselect tests/test_core_diff.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from core_diff import Flow, both, capture_flows, python_decode, rust_decode, session_state, sessions, vector_flows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import nbfx
from decoders.core import RUST, core_name


def test_the_core_is_built_and_chosen() -> None:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    assert core_name() == f"rust {RUST.__version__}"


def _replay(flow: Flow) -> int:
    """Every envelope of ``flow`` in order through both; returns how many decoded without error."""
    pair = sessions()
    decoded = 0
    for i, payload in enumerate(flow.envelopes):
        python, rust = both(payload, pair, flow.table)
        assert rust == python, f"{flow.name} envelope {i}"
        assert session_state(pair[1]) == session_state(pair[0]), f"{flow.name} envelope {i}: session"
        decoded += python[0] == "ok"
    return decoded


def test_every_vector_envelope() -> None:
    flows = vector_flows()
    assert sum(len(f.envelopes) for f in flows) == 8
    assert sum(_replay(f) for f in flows) == 8


def test_every_capture_envelope() -> None:
    flows = capture_flows()
    envelopes = sum(len(f.envelopes) for f in flows)
    assert envelopes > 100
    assert sum(_replay(f) for f in flows) == envelopes


def _prefix_sessions(flow: Flow, index: int) -> tuple[nbfx.SessionStrings, object]:
    """Both sessions as they are before envelope ``index`` of ``flow``."""
    pair = sessions()
    for payload in flow.envelopes[:index]:
        both(payload, pair, flow.table)
    return pair


def _same_mutant(flow: Flow, index: int, mutant: bytes) -> None:
    pair = _prefix_sessions(flow, index)
    python, rust = both(mutant, pair, flow.table)
    assert rust == python, (flow.name, index, mutant.hex())
    assert session_state(pair[1]) == session_state(pair[0])


def _small_flows() -> list[Flow]:
    """The vectors and the first envelopes of each capture direction (truncations are quadratic)."""
    return [*vector_flows(), *(Flow(f.name, f.envelopes[:4], f.table) for f in capture_flows())]


def test_every_truncation() -> None:
    checked = 0
    for flow in _small_flows():
        for index, payload in enumerate(flow.envelopes):
            pair = _prefix_sessions(flow, index)
            for cut in range(len(payload)):
                py_session, rust_session = nbfx.SessionStrings(), RUST.SessionStrings()  # type: ignore[union-attr]
                py_session._known[:] = pair[0]._known
                rust_session.read_table(_table_of(pair[0]._known))
                python = python_decode(payload[:cut], py_session, flow.table)
                rust = rust_decode(payload[:cut], rust_session, flow.table)
                assert rust == python, (flow.name, index, cut)
                checked += 1
    assert checked > 10_000


def _table_of(strings: list[str]) -> bytes:
    """An [MC-NBFSE] table holding ``strings`` (to give the Rust session the same known strings)."""
    body = b"".join(_mb31(len(s.encode())) + s.encode() for s in strings)
    return _mb31(len(body)) + body


def _mb31(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize("flow_index", range(4))
def test_every_bit_flip_of_the_vectors(flow_index: int) -> None:
    flow = vector_flows()[flow_index]
    for index, payload in enumerate(flow.envelopes):
        for bit in range(len(payload) * 8):
            mutant = bytearray(payload)
            mutant[bit // 8] ^= 1 << (bit % 8)
            _same_mutant(flow, index, bytes(mutant))


@st.composite
def mutants(draw: st.DrawFn) -> tuple[Flow, int, bytes]:
    flows = _small_flows()
    flow = draw(st.sampled_from(flows))
    index = draw(st.integers(0, len(flow.envelopes) - 1))
    data = bytearray(flow.envelopes[index])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "cut":
            del data[pos:]
    return flow, index, bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutated_envelopes(case: tuple[Flow, int, bytes]) -> None:
    _same_mutant(*case)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
def test_random_documents(data: bytes) -> None:
    assert rust_decode(data, None, False) == python_decode(data, nbfx.SessionStrings(), False)


CAPTURES = sorted((Path(__file__).resolve().parents[1] / "captures").glob("*.pcap"))


@pytest.mark.parametrize("xml", [False, True], ids=["json", "xml"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_whole_replay_is_byte_identical(capture: Path, xml: bool) -> None:
    """``wirecap replay`` with the core and with WIRECAP_PURE_PYTHON=1: the same JSONL, byte for byte."""
    args = [sys.executable, "-m", "wirecap", "replay", *(["--xml"] if xml else []), str(capture)]
    pure = {**os.environ, "WIRECAP_PURE_PYTHON": "1"}
    with_core = {k: v for k, v in os.environ.items() if k != "WIRECAP_PURE_PYTHON"}
    rust = subprocess.run(args, capture_output=True, check=True, env=with_core).stdout
    python = subprocess.run(args, capture_output=True, check=True, env=pure).stdout
    assert rust == python
    assert rust.count(b'"kind":"') > 10
