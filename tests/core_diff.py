"""Helpers of the differential tests (tests/test_core_diff.py): the envelopes of the committed captures
and of the .NET vectors per direction, and one envelope through each implementation reduced to
comparable values; and the core counted as the HTTP decoder uses it (tests/test_core_http.py,
tests/test_core_rms.py).

Both sides are reduced to the same shape: the SOAP fields, the fault (with its detail as JSON text), the
body as JSON text as the event sink writes it (pydantic-core), the XML text, the unresolved count and
the session strings added; or the DecodeError's (name, detail, offset). The session table of the
direction is compared after every envelope too.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pydantic_core

from decoders import nbfx, soap
from decoders.anomalies import DecodeError

try:  # the compiled module itself, whichever core the environment selects for the application
    from decoders import _core as RUST  # type: ignore[attr-defined]
except ImportError:
    RUST = None

ROOT = Path(__file__).resolve().parents[1]
VECTORS = (ROOT / "tests" / "vectors" / "net_tcp_vectors.txt").read_text()
BINARY, BINARY_SESSION = 0x07, 0x08


@dataclass(frozen=True)
class Flow:
    """One direction's envelope payloads in order; ``table``: each opens with an [MC-NBFSE] table."""

    name: str
    envelopes: tuple[bytes, ...]
    table: bool


def _vector(label: str) -> bytes:
    match = re.search(rf"^{label}: ([0-9a-f]+)$", VECTORS, re.M)
    assert match is not None, label
    return bytes.fromhex(match.group(1))


@cache
def vector_flows() -> tuple[Flow, ...]:
    """Blocks 1-3 of tests/vectors/net_tcp_vectors.txt (byte-exact .NET output, and ERNW's sample)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from streams import records  # the benchmarks' own minimal [MC-NMF] walker

    def envelopes(stream: bytes) -> tuple[bytes, ...]:
        return tuple(r.envelope for r in records(stream) if r.envelope)

    block3 = re.search(r"^(56020b01[0-9a-f]+)$", VECTORS, re.M)
    assert block3 is not None
    return (
        Flow("vectors c2s", envelopes(_vector("c2s")), True),
        Flow("vectors s2c", envelopes(_vector("s2c")), True),
        Flow("vectors block 2", tuple(_vector(f"msg{i}") for i in (1, 2, 3)), True),
        Flow("vectors block 3", (bytes.fromhex(block3.group(1)),), False),
    )


@cache
def capture_flows() -> tuple[Flow, ...]:
    """Every binary-encoded direction of every committed capture that starts with its preamble."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from streams import CAPTURES, load_sessions

    flows = []
    for path in CAPTURES:
        for i, s in enumerate(load_sessions([path])):
            if s.encoding not in (BINARY, BINARY_SESSION):
                continue
            for direction in ("orig", "resp"):
                if envs := s.envelopes(direction):
                    flows.append(Flow(f"{path.name} #{i} {direction}", tuple(envs), s.encoding == BINARY_SESSION))
    return tuple(flows)


Result = tuple
"""("ok", fields, fault, body JSON, XML, unresolved, added) or ("error", name, detail, offset)."""


def python_decode(
    payload: bytes, session: nbfx.SessionStrings, table: bool, collections: tuple[str, ...] = ()
) -> Result:
    before = len(session) + len(session.unanchored)
    try:
        pos = session.read_table(payload) if table else 0
        doc = nbfx.decode(payload, pos, session if table else None)
        msg = soap.message_from_document(doc, collections=collections)
    except DecodeError as err:
        return ("error", err.name, err.detail, err.offset)
    fields = (msg.version, msg.action, msg.message_id, msg.relates_to, msg.to, msg.reply_to, msg.body_element)
    fault = None
    if msg.fault is not None:
        f = msg.fault
        fault = (f.code, f.subcode, f.reason, pydantic_core.to_json(f.detail).decode())
    added = len(session) + len(session.unanchored) - before
    body = pydantic_core.to_json(msg.body).decode()
    return ("ok", fields, fault, body, doc.to_xml(), doc.unresolved, added)


def rust_decode(payload: bytes, session: object, table: bool, collections: tuple[str, ...] = ()) -> Result:
    assert RUST is not None, "decoders._core is not built: pip install -e . with cargo on PATH"
    try:
        fields, fault, body, xml, unresolved, added = RUST.decode_envelope(
            payload, session, table=table, xml=True, collections=list(collections)
        )
    except DecodeError as err:
        return ("error", err.name, err.detail, err.offset)
    if fault is not None:
        code, subcode, reason, detail = fault
        fault = (code, subcode, reason, detail if detail is not None else "null")
    return ("ok", fields, fault, body.decode(), xml, unresolved, added)


def sessions() -> tuple[nbfx.SessionStrings, object]:
    assert RUST is not None, "decoders._core is not built: pip install -e . with cargo on PATH"
    return nbfx.SessionStrings(), RUST.SessionStrings()


def session_state(session: object) -> tuple:
    known = tuple(session._known) if isinstance(session, nbfx.SessionStrings) else session.known  # type: ignore[attr-defined]
    return (known, tuple(session.unanchored), session.anchored)  # type: ignore[attr-defined]


def both(payload: bytes, pair: tuple[nbfx.SessionStrings, object], table: bool) -> tuple[Result, Result]:
    """Decode ``payload`` with each implementation and its own session of the direction."""
    return python_decode(payload, pair[0], table), rust_decode(payload, pair[1], table)


# --- DataContract-shaped documents, written record by record ([MC-NBFX] 2.2), for the JSON rules ---

XSI = b"http://www.w3.org/2001/XMLSchema-instance"
SER = b"http://schemas.microsoft.com/2003/10/Serialization/"
ARRAYS = b"http://schemas.microsoft.com/2003/10/Serialization/Arrays"


def nbfx_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return bytes([len(data)]) + data  # short strings only (< 128 bytes)


def envelope(body: bytes) -> bytes:
    """<s:Envelope xmlns:s=SOAP 1.2><s:Body>``body``</s:Body></s:Envelope>, with i/z/a declared on
    a wrapper <Op> (XMLSchema-instance, Serialization, Serialization/Arrays)."""
    declarations = b"".join(
        b"\x09" + nbfx_string(p) + nbfx_string(uri) for p, uri in ((b"i", XSI), (b"z", SER), (b"a", ARRAYS))
    )
    return b"\x56\x02\x0b\x01s\x04\x56\x0e\x40\x02Op" + declarations + body + b"\x01\x01\x01"


def core() -> Any:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    return RUST


class Counting:
    """The core, counting the messages it framed and the events it made (so that no test passes with
    the fast path idle)."""

    def __init__(self) -> None:
        self.framed = 0
        self.made = 0

    def RmsEventMaker(self, *args: Any, **kwargs: Any) -> Any:  # the core's class, counted
        maker = core().RmsEventMaker(*args, **kwargs)
        counting = self

        class Made:
            def event(self, exchange: Any, ts: int) -> Any:
                event = maker.event(exchange, ts)
                counting.made += event is not None
                return event

        return Made()

    def http_request(self, data: bytes, pos: int = 0) -> tuple | None:
        message = core().http_request(data, pos)
        self.framed += message is not None
        return message

    def http_response(self, data: bytes, pos: int = 0, *, head: bool = False) -> tuple | None:
        message = core().http_response(data, pos, head=head)
        self.framed += message is not None
        return message
