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
from collections.abc import Callable
from pathlib import Path

import core_diff
import pytest
from conftest import mb31
from core_diff import (
    RUST,
    Flow,
    both,
    capture_flows,
    nbfx_string,
    python_decode,
    rust_decode,
    session_state,
    sessions,
    vector_flows,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import nbfx
from decoders.anomalies import DecodeError
from decoders.core import core_name
from decoders.events import Event, WcfFault, WcfMessage
from decoders.interface import DecoderOptions
from decoders.nmf_codecs import SESSION_CODEC, Codec, codec_for, decode_message, new_session
from decoders.nmf_events import core_maker, reference_event
from wirecap.lines import json_bytes


def test_the_core_is_built_and_chosen() -> None:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    pure = os.environ.get("WIRECAP_PURE_PYTHON", "") not in ("", "0")
    assert core_name() == ("python" if pure else f"rust {RUST.__version__}")


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


CONN = {
    "uid": "Cdiff",
    "community_id": "1:x",
    "orig": "10.0.0.2:50000",
    "resp": "10.0.0.1:8506",
    "orig_h": "10.0.0.2",
    "orig_p": 50000,
    "resp_h": "10.0.0.1",
    "resp_p": 8506,
}


# envelopes whose body, or fault detail, is i:nil (JSON null: the event's field is None, not JsonText)
XSI_DECLARED_NIL = b"\x09\x01i" + nbfx_string(core_diff.XSI) + b"\x05\x01i\x03nil\x86"
NIL_BODY = b"\x56\x02\x0b\x01s\x04\x56\x0e" + XSI_DECLARED_NIL + b"\x01\x01"
NIL_DETAIL = (
    b"\x56\x02\x0b\x01s\x04\x56\x0e\x41\x01s\x05Fault\x41\x01s\x04Code\x41\x01s\x05Value\x99\x08s:Sender\x01"
    b"\x41\x01s\x06Reason\x41\x01s\x04Text\x99\x01x\x01\x41\x01s\x06Detail" + XSI_DECLARED_NIL + b"\x01\x01\x01\x01"
)


def _event_or_error(make: Callable[..., Event], *args: object) -> tuple:
    try:
        event = make(*args)
    except DecodeError as err:
        return ("error", err.name, err.detail, err.offset)
    return (type(event), event.model_dump(), event.__pydantic_fields_set__, json_bytes(event))


def _reference(payload: bytes, codec: Codec, session: nbfx.SessionStrings, options: DecoderOptions, ts: int) -> Event:
    return reference_event(CONN, "resp", codec.label, decode_message(payload, codec, session, options), 7, ts)


@pytest.mark.parametrize("xml", [False, True], ids=["json", "xml"])
def test_the_core_makes_the_events_python_builds(xml: bool) -> None:
    """The core's ``WcfEventMaker`` against the reference (decode_message + ``reference_event``): every
    envelope of every vector and capture direction in order, and its first half (an error), and made
    ones whose body or fault detail is nil, give the same model with the same fields, fields given and
    line, or the same DecodeError."""
    options = DecoderOptions(xml=xml)
    maker = core_maker(CONN, options)
    kinds = set()
    made = Flow("nil body, nil fault detail", (NIL_BODY, NIL_DETAIL), False)
    for flow in (*vector_flows(), *capture_flows(), made):
        codec = SESSION_CODEC if flow.table else codec_for("application/soap+msbin1", "soap1.2-binary")
        python_session, core_session = nbfx.SessionStrings(), new_session()
        for ts, whole in enumerate(flow.envelopes):
            for payload in (whole[: len(whole) // 2], whole):
                expected = _event_or_error(_reference, payload, codec, python_session, options, ts)
                got = _event_or_error(maker.event, payload, core_session, ts, "resp", 7, codec.label, flow.table)
                assert got == expected, (flow.name, ts, len(payload))
                assert session_state(core_session) == session_state(python_session), (flow.name, ts)
                kinds.add(got[0])
    assert {WcfMessage, WcfFault, "error"} <= kinds


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
    body = b"".join(mb31(len(s.encode())) + s.encode() for s in strings)
    return mb31(len(body)) + body


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


# DataContract-shaped bodies: repeated and colliding names, i:nil, i:type, z:Id/z:Ref/z:Size, Arrays
# items, typed values, mixed text: the JSON conventions, including the tree path z:Ref needs.
NAMES = ["a", "b", "Item", "string", "@a", "#text", "Id"]
TEXTS = [
    b"\x99\x02hi",
    b"\x99\x00",
    b"\x99\x02 \t",
    b"\x89\x07",
    b"\x87",
    b"\x85",
    b"\x93" + bytes.fromhex("9a9999999999b93f"),
    b"\x91" + bytes.fromhex("cdcccc3d"),
    b"\x95" + bytes.fromhex("00000200000000009600000000000000"),
    b"\x97" + bytes.fromhex("00c0d3cd28a0dd48"),
    b"\xb1" + bytes(range(16)),
    b"\xa4\x82\x98\x01x\xa6\x01",
]


@st.composite
def dc_element(draw: st.DrawFn, depth: int) -> bytes:
    name = draw(st.sampled_from(NAMES))
    prefix = draw(st.sampled_from([b"", b"", b"a"]))
    out = (
        (b"\x41" + core_diff.nbfx_string(prefix) + core_diff.nbfx_string(name))
        if prefix
        else b"\x40" + core_diff.nbfx_string(name)
    )
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["nil", "type", "Id", "Ref", "Size", "plain"]))
        ref = b"\x99\x02i" + str(draw(st.integers(1, 3))).encode()
        out += {
            "nil": b"\x05\x01i\x03nil" + draw(st.sampled_from([b"\x86", b"\x84", b"\x98\x01" + b"1"])),
            "type": b"\x05\x01i\x04type\x98\x03a:T",
            "Id": b"\x05\x01z\x02Id" + ref[:-1].replace(b"\x99", b"\x98") + ref[-1:],
            "Ref": b"\x05\x01z\x03Ref" + ref[:-1].replace(b"\x99", b"\x98") + ref[-1:],
            "Size": b"\x05\x01z\x04Size\x88\x02",
            "plain": b"\x04\x01a\x98\x01v",
        }[kind]
    if depth == 0 or draw(st.booleans()):
        return out + draw(st.sampled_from(TEXTS))
    for child in draw(st.lists(dc_element(depth - 1), max_size=4)):
        out += child
    if draw(st.booleans()):
        out += b"\x98\x01t"
    if draw(st.booleans()):
        out += b"\x02\x01c"
    return out + b"\x01"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(dc_element(3), max_size=4), st.sampled_from([(), ("Item",), ("a", "string")]))
def test_datacontract_json(children: list[bytes], collections: tuple[str, ...]) -> None:
    payload = core_diff.envelope(b"".join(children))
    python = python_decode(payload, nbfx.SessionStrings(), False, collections)
    assert python[0] == "ok", python
    assert rust_decode(payload, None, False, collections) == python


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(dc_element(3), min_size=1, max_size=4),
    st.integers(1, 8),
    st.integers(1, 40),
)
def test_limits_as_python(children: list[bytes], max_depth: int, max_elements: int) -> None:
    """nesting_depth and elements: the same refusal (name, detail, offset) at the same place."""
    payload = core_diff.envelope(b"".join(children))
    try:
        doc = nbfx.decode(payload, max_depth=max_depth, max_elements=max_elements)
        python: tuple = ("ok", doc.to_xml())
    except DecodeError as err:
        python = ("error", err.name, err.detail, err.offset)
    try:
        rust: tuple = ("ok", RUST.decode_xml(payload, max_depth=max_depth, max_elements=max_elements)[0])
    except DecodeError as err:
        rust = ("error", err.name, err.detail, err.offset)
    assert rust == python


@pytest.mark.parametrize("depth", [100, 101, 300])
def test_default_limits_as_python(depth: int) -> None:
    """Called without limits, both give the same answer: the core's defaults are the reference's."""
    payload = b"\x40\x01a" * depth + b"\x01" * depth  # ShortElement "a", nested, then EndElement each
    outcomes = []
    for run in (lambda: nbfx.decode(payload).to_xml(), lambda: RUST.decode_xml(payload)[0]):
        try:
            outcomes.append(("ok", run()))
        except DecodeError as err:
            outcomes.append(("error", err.name, err.detail, err.offset))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] == "ok") is (depth <= nbfx.MAX_DEPTH)


@pytest.mark.parametrize("max_bytes", [0, 50, 102, 103, 1 << 20])
def test_session_size_limit_as_python(max_bytes: int) -> None:
    payload = core_diff.vector_flows()[2].envelopes[0]  # block 2 msg1: a 103-byte string table
    py_session, rust_session = sessions()
    outcomes = []
    for session in (py_session, rust_session):
        try:
            outcomes.append(("ok", session.read_table(payload, 0, max_bytes)))
        except DecodeError as err:
            outcomes.append(("error", err.name, err.detail, err.offset))
    assert outcomes[0] == outcomes[1]
    assert session_state(py_session) == session_state(rust_session)
