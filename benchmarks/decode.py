"""Binary-XML decoding throughput: our ``decoders.nbfx`` against ERNW's ``wcf`` 0.5.5, in-process, on
the same SizedEnvelope payloads.

Both decoders get the same work per envelope: read the [MC-NBFSE] string table that prefixes it (when
the connection negotiated the session encoding), then decode the document. One session dictionary per
direction of a connection, as the spec requires.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO

from streams import BINARY_SESSION, Session, mb31


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction's envelopes, in order; ``table`` when each starts with a session string table."""

    envelopes: list[bytes]
    table: bool


@dataclass(frozen=True, slots=True)
class Rate:
    mb_per_s: float
    failures: int  # envelopes the decoder raised on (or left a session id unresolved), per pass


Decoder = Callable[[Sequence[Flow]], int]  # decodes every flow once, returns the number of failures


def flows(sessions: Sequence[Session]) -> list[Flow]:
    return [
        Flow(envs, s.encoding == BINARY_SESSION) for s in sessions for d in ("orig", "resp") if (envs := s.envelopes(d))
    ]


def ours() -> Decoder:
    """``decoders.nbfx``; ImportError until it lands."""
    from decoders import nbfx  # type: ignore[attr-defined]

    def run(fs: Sequence[Flow]) -> int:
        failures = 0
        for f in fs:
            session = nbfx.SessionStrings()
            for payload in f.envelopes:
                try:
                    pos = session.read_table(payload, 0) if f.table else 0
                    failures += nbfx.decode(payload, pos, session).unresolved > 0
                except Exception:
                    failures += 1
        return failures

    return run


def ours_soap() -> Decoder:
    """``decoders.nbfx`` + ``decoders.soap``: the whole message as the pure-Python path makes it (SOAP
    fields and the body converted to JSON objects), then the body as JSON text (pydantic-core, as
    the sink writes it): the same work as ``rust``."""
    import pydantic_core

    from decoders import nbfx, soap

    def run(fs: Sequence[Flow]) -> int:
        failures = 0
        for f in fs:
            session = nbfx.SessionStrings()
            for payload in f.envelopes:
                try:
                    pos = session.read_table(payload, 0) if f.table else 0
                    doc = nbfx.decode(payload, pos, session)
                    pydantic_core.to_json(soap.message_from_document(doc).body)
                    failures += doc.unresolved > 0
                except Exception:
                    failures += 1
        return failures

    return run


def rust(loads: bool = False) -> Decoder:
    """``decoders._core``: SOAP fields and the body as JSON text in one call; with ``loads`` the
    text is then parsed into Python objects (``json_text.loads``: orjson), as a caller needing objects would."""
    from decoders.core import RUST
    from decoders.json_text import loads as parse

    if RUST is None:
        raise ImportError("decoders._core is not built (or WIRECAP_PURE_PYTHON is set)")
    decode_envelope, new_session = RUST.decode_envelope, RUST.SessionStrings

    def run(fs: Sequence[Flow]) -> int:
        failures = 0
        for f in fs:
            session = new_session()
            for payload in f.envelopes:
                try:
                    _fields, _fault, body, _xml, unresolved, _added = decode_envelope(payload, session, table=f.table)
                    if loads:
                        parse(body)
                    failures += unresolved > 0
                except Exception:
                    failures += 1
        return failures

    return run


def rust_loads() -> Decoder:
    return rust(loads=True)


def wcf() -> Decoder:
    """ERNW's ``wcf``. It has no notion of a session dictionary: its record classes look every
    dictionary id up in the module-global ``wcf.dictionary.dictionary``, which holds the static
    [MC-NBFS] strings at even ids. Session string n of a direction is id 2n+1 ([MC-NBFSE] 2.2), so
    we write each table's strings there before parsing the document and remove them after the flow.
    Its warnings (one "Possible false interpretation" per decimal) are silenced: writing them to the
    terminal would be charged to wcf."""
    import wcf.records.attributes
    import wcf.records.elements
    import wcf.records.text  # noqa: F401 -- importing the record modules registers their types
    from wcf.dictionary import dictionary
    from wcf.records.base import Record

    logging.getLogger("wcf").setLevel(logging.ERROR)

    def run(fs: Sequence[Flow]) -> int:
        failures = 0
        for f in fs:
            next_id = 1
            try:
                for payload in f.envelopes:
                    pos = 0
                    try:
                        if f.table:
                            size, pos = mb31(payload, 0)
                            end = pos + size
                            while pos < end:
                                n, pos = mb31(payload, pos)
                                dictionary[next_id] = payload[pos : pos + n].decode()
                                next_id += 2
                                pos += n
                        Record.parse(BytesIO(payload[pos:]))
                    except Exception:
                        failures += 1
            finally:
                for i in range(1, next_id, 2):
                    del dictionary[i]
        return failures

    return run


def measure(decoder: Decoder, fs: Sequence[Flow], min_seconds: float) -> Rate:
    """MB/s of envelope payload over repeated passes lasting at least ``min_seconds``."""
    size = sum(len(e) for f in fs for e in f.envelopes)
    passes = 0
    t0 = time.perf_counter()
    while True:
        failures = decoder(fs)
        passes += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return Rate(size * passes / elapsed / 1e6, failures)


def dump(fs: Sequence[Flow], path: str) -> None:
    """The flows for the core's own benchmark (``cargo run --release --example throughput FILE`` in
    core/): per flow u32 envelope count, u32 table flag, then per envelope u32 length + bytes."""
    import struct

    out = bytearray()
    for f in fs:
        out += struct.pack("<II", len(f.envelopes), f.table)
        for e in f.envelopes:
            out += struct.pack("<I", len(e)) + e
    with open(path, "wb") as file:
        file.write(out)


if __name__ == "__main__":
    import sys

    from streams import load_sessions

    if len(sys.argv) != 2:
        sys.exit("usage: decode.py FILE  (writes the captures' envelope flows for core/examples/throughput.rs)")
    dump(flows(load_sessions()), sys.argv[1])
