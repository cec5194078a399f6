"""Fuzz targets: one per decoder, each a ``(data: bytes) -> None`` that asserts wirecap's invariants.

Every target may see any bytes. The invariants (STYLE.md, issue 8):

* only events and named anomalies come out; a decoder's ``feed``/``gap``/``eof`` never raises, and a
  pure parsing function raises nothing but ``DecodeError`` (``CaptureError`` for the capture reader);
* bytes are accounted: anomaly offsets lie inside the stream seen so far, reassembly hands over every
  stream byte exactly once as data or as a gap, the upgraded-stream counter counts every byte fed;
* nothing hangs (the runner gives atheris ``-timeout``) and memory stays bounded (``-rss_limit_mb``).

Stream targets (nmf, http, remoting, nns) cut their input into chunks at ``SEP`` (as Suricata's app-layer fuzzer
does), so that chunk boundaries are fuzzed too; the first byte of a chunk says what it is (``CTRL_*``).
``seeds`` turns the committed captures into such inputs.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from decoders import nbfx, nns, soap, xml_text
from decoders.anomalies import ANOMALIES, DecodeError
from decoders.core import RUST
from decoders.events import Anomaly, Direction, Event, WcfMessage
from decoders.http import HttpDecoder
from decoders.iiko import OrderTracker, default_rules_text, load_rules
from decoders.interface import DecoderOptions
from decoders.json_text import JsonText
from decoders.models import construct
from decoders.nmf import NmfDecoder
from decoders.remoting import RemotingDecoder
from wirecap.flow import conn_fields
from wirecap.pipeline import Options, Pipeline, run
from wirecap.reassembly import BufferBudget, Connection
from wirecap.source import CaptureError, CaptureSource

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import core_diff  # noqa: E402  (the differential tests' reduction of both cores' results)

SEP = b"\xfe\xed\xfa\xce"
CTRL_RESP = 1  # the chunk belongs to the responder's direction (else the originator's)
CTRL_GAP = 2  # the chunk's length is lost bytes (a TCP gap), its content unused
CTRL_EOF = 4  # the direction ends after this chunk
CONN = conn_fields("Cfuzz", "1:fuzz", "10.0.0.1:50000", "10.0.0.2:8506")
SEED_CHUNK = 1448  # a typical TCP payload on Ethernet
SEED_MAX = 8 << 10  # bytes of one seed input (the runner's -max_len)


def chunks(data: bytes) -> Iterator[tuple[Direction, int, bytes]]:
    """(direction, control bits, payload) of each ``SEP``-separated chunk."""
    for piece in data.split(SEP):
        if piece:
            ctrl = piece[0]
            yield ("resp" if ctrl & CTRL_RESP else "orig"), ctrl, piece[1:]


def check_events(events: list[Event], extent: dict[Direction, int]) -> None:
    for event in events:
        assert isinstance(event, Event), event
        if isinstance(event, Anomaly):
            assert event.name in ANOMALIES, event.name
            if event.offset is not None and event.dir is not None:
                assert 0 <= event.offset <= extent[event.dir], (event, extent)


def drive(decoder: NmfDecoder | HttpDecoder | RemotingDecoder, data: bytes) -> dict[Direction, int]:
    """Feed, gap and end a two-direction decoder as the pipeline would; returns the data bytes fed."""
    extent: dict[Direction, int] = {"orig": 0, "resp": 0}
    fed: dict[Direction, int] = {"orig": 0, "resp": 0}
    ended: set[Direction] = set()
    for direction, ctrl, payload in chunks(data):
        if direction in ended:
            continue
        if ctrl & CTRL_GAP:
            extent[direction] += len(payload)
            check_events(decoder.gap(direction, len(payload), 0), extent)
        elif decoder.wants_data:
            extent[direction] += len(payload)
            fed[direction] += len(payload)
            check_events(decoder.feed(direction, payload, 0), extent)
        if ctrl & CTRL_EOF:
            ended.add(direction)
            check_events(decoder.eof(direction, 0), extent)
    for direction in ("orig", "resp"):
        if direction not in ended:
            check_events(decoder.eof(direction, 0), extent)
    return fed


def nmf(data: bytes) -> None:
    """[MC-NMF] framing, with the NBFX/NBFSE/SOAP decoding of every envelope behind it."""
    drive(NmfDecoder(CONN, DecoderOptions(xml=True)), data)


def http(data: bytes) -> None:
    """The iikoRMS server link: h11 both ways, bodies, gzip/deflate, XML to JSON."""
    drive(HttpDecoder(CONN, DecoderOptions()), data)


def remoting(data: bytes) -> None:
    """[MS-NRTP] frames with the [MS-NRBF] graph of each, under small graph limits; every byte accounted."""
    decoder = RemotingDecoder(CONN, DecoderOptions(max_depth=16, max_elements=4096))
    fed = drive(decoder, data)
    for direction, n in fed.items():
        accounting = decoder.accounting(direction)
        assert accounting.decoded >= 0 and all(v > 0 for v in accounting.skipped.values()), accounting
        assert accounting.decoded + sum(accounting.skipped.values()) == n, (direction, accounting, n)


def nbfx_doc(data: bytes) -> None:
    """[MC-NBFSE] string table + [MC-NBFX] document, rendered as XML and converted to JSON."""
    session = nbfx.SessionStrings()
    try:
        document = nbfx.decode(data, session.read_table(data), session)
    except DecodeError as err:
        assert err.name in ANOMALIES, err.name
        return
    document.to_xml()
    soap_message(document)


def soap_text(data: bytes) -> None:
    """Text SOAP (defusedxml) into the same tree, then the SOAP/DataContract reading of it."""
    try:
        document = xml_text.parse_text_xml(data, "utf-16-le" if data[:1] == b"\x00" else None)
    except DecodeError as err:
        assert err.name in ANOMALIES, err.name
        return
    soap_message(document)


def soap_message(document: nbfx.Document) -> None:
    soap.element_to_json(document.root)
    try:
        soap.message_from_document(document)
    except DecodeError as err:
        assert err.name in ANOMALIES, err.name


def nns_stream(data: bytes) -> None:
    """What follows an upgrade: [MS-NNS] handshake and data frames, or TLS records; counted, not decrypted."""
    protocol = (nns.NEGOTIATE, nns.SSL_TLS, "x-unknown")[data[0] % 3] if data else nns.NEGOTIATE
    stream = nns.SecuredStream(protocol, 0)
    fed = 0
    for _direction, ctrl, payload in chunks(data[1:]):
        if ctrl & CTRL_GAP:
            stream.lose(len(payload))
        else:
            for item in stream.feed(payload):
                if isinstance(item, DecodeError):
                    assert item.name in ANOMALIES, item.name
                else:  # a handshake token, named
                    item.event(0, CONN, "orig")
        fed += len(payload)
        assert stream.bytes == fed, (stream.bytes, fed)
        assert stream.handshake_bytes <= stream.bytes


class _Recorder:
    """A StreamHandler that checks every stream byte arrives once, as data or as a gap, in order."""

    def __init__(self) -> None:
        self.at: dict[Direction, int] = {"orig": 0, "resp": 0}
        self.ended: set[Direction] = set()

    def data(self, direction: Direction, data: bytes, ts: int) -> None:
        assert direction not in self.ended and data
        self.at[direction] += len(data)

    def gap(self, direction: Direction, offset: int, length: int, ts: int) -> None:
        assert direction not in self.ended and length > 0
        assert offset == self.at[direction], (offset, self.at[direction])
        self.at[direction] += length

    def eof(self, direction: Direction, ts: int) -> None:
        assert direction not in self.ended
        self.ended.add(direction)

    def anomaly(self, name: str, detail: str, direction: Direction | None, offset: int | None, ts: int) -> None:
        assert name in ANOMALIES, name


_SEGMENT = struct.Struct(">BIIBH")  # from_resp, seq, ack, flags, payload length


def reassembly(data: bytes) -> None:
    """TCP reassembly of one connection from fuzzed segments (small out-of-order caps to reach them)."""
    recorder = _Recorder()
    conn = Connection(recorder, 0, 4096, BufferBudget(16384), mid_stream=bool(data[:1] and data[0] & 1))
    pos = 1
    ts = 0
    while pos + _SEGMENT.size <= len(data) and conn.close_reason is None:
        from_resp, seq, ack, flags, length = _SEGMENT.unpack_from(data, pos)
        pos += _SEGMENT.size
        payload = data[pos : pos + (length & 0x7FF)]
        pos += len(payload)
        ts += 1000
        conn.packet(from_resp & 1, seq, ack, flags & 0x17, payload, ts)
    conn.close("end-of-input", ts + 1)
    for half in conn.halves:
        assert recorder.at[half.direction] == half.offset, (recorder.at, half.offset)
        assert half.delivered >= 0 and half.ooo_bytes >= 0


_TMP = Path(os.environ.get("WIRECAP_FUZZ_TMP", tempfile.gettempdir()))


def pcap(data: bytes) -> None:
    """The capture reader (libpcap, our pcapng reader, damage location) and the whole pipeline behind it."""
    path = _TMP / f"wirecap-fuzz-{os.getpid()}.pcap"
    path.write_bytes(data)
    pipeline = Pipeline(Options(any_port=True, max_ooo_per_conn=1 << 16, max_ooo_total=1 << 18))
    out: list[Event] = []
    try:
        run([CaptureSource(str(path))], pipeline, out.extend)
    except CaptureError as err:
        assert err.offset is None or 0 <= err.offset <= len(data), (err.offset, len(data))
    for event in out:
        assert isinstance(event, Event)
        if isinstance(event, Anomaly):
            assert event.name in ANOMALIES, event.name


IIKO_RULES = load_rules([default_rules_text()])


def _iiko_events(data: bytes, core: object) -> object:
    """What a tracker with ``core`` (None: the pure-Python recogniser) makes of a WCF message whose body is
    ``data`` as the core's JSON text, twice (the tables warm): the events as JSON, or the exception."""
    OrderTracker.core_module = core  # type: ignore[assignment]
    try:
        tracker = OrderTracker(IIKO_RULES)
    finally:
        OrderTracker.core_module = RUST
    out: list[object] = []
    for seq in (1, 2):
        message = construct(
            WcfMessage,
            ts=seq,
            seq=seq,
            **CONN,
            dir="orig",
            action="http://iiko.ru/Sync/SaveOrder",
            message_id=None,
            relates_to=None,
            to=None,
            reply_to=None,
            size=len(data),
            soap_version="1.2",
            encoding="binary",
            unresolved=0,
            session_strings_added=0,
            body=JsonText(data),
            body_element="SaveOrder",
        )
        try:
            out.append([event.model_dump_json() for event in tracker.observe(message)])
        except Exception as exc:  # the reference's own exception (json's, for text it cannot read)
            out.append((type(exc).__name__, str(exc)))
    return out


def core(data: bytes) -> None:
    """Any bytes as a session-encoded envelope payload through both cores (a differential target): the
    pure-Python decoders and ``_core.decode_envelope`` give the same SOAP fields, body JSON, XML text and
    session strings, or the same DecodeError (tests/core_diff.py reduces both to that shape)."""
    if RUST is None:
        return
    pair = core_diff.sessions()
    for payload in (data, data):  # twice: the second reads through the strings the first one added
        python, rust = core_diff.both(payload, pair, table=True)
        assert python == rust, (python, rust)
        assert core_diff.session_state(pair[0]) == core_diff.session_state(pair[1])


def iiko(data: bytes) -> None:
    """The iiko layer on any bytes as a body's JSON text: the core's walk (``decoders.iiko_core``) and the
    pure-Python recogniser give the same events or the same exception (a differential target)."""
    assert _iiko_events(data, RUST) == _iiko_events(data, None)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "nmf": nmf,
    "nbfx": nbfx_doc,
    "soap": soap_text,
    "nns": nns_stream,
    "http": http,
    "remoting": remoting,
    "reassembly": reassembly,
    "pcap": pcap,
    "iiko": iiko,
    "core": core,
}


# --- seeds from the committed captures -------------------------------------------------------------


def _captures(ports: set[int]) -> list[tuple[bytes, bytes]]:
    """(orig, resp) stream bytes of each connection of the committed captures on ``ports``."""
    from wirecap.streams import collect_streams

    found = []
    for capture in collect_streams(sorted(str(p) for p in (ROOT / "captures").glob("*.pcap"))):
        if int(capture.resp.rsplit(":", 1)[1]) in ports:
            found.append((capture.data.get("orig", b""), capture.data.get("resp", b"")))
    return found


def _stream_seeds(ports: set[int]) -> list[bytes]:
    """Each connection on ``ports`` as a chunked input (both directions interleaved), cut to ``SEED_MAX``."""
    seeds = []
    for orig, resp in _captures(ports):
        out = bytearray()
        for at in range(0, max(len(orig), len(resp)), SEED_CHUNK):
            for ctrl, stream in ((0, orig), (CTRL_RESP, resp)):
                piece = stream[at : at + SEED_CHUNK]
                if piece:
                    out += SEP + bytes([ctrl]) + piece
            if len(out) >= SEED_MAX:
                break
        seeds.append(bytes(out[:SEED_MAX]))
    return seeds


def _envelopes() -> list[bytes]:
    """SizedEnvelope payloads of the committed net.tcp captures that decode (string table included)."""
    from decoders._buffer import read_mb31

    payloads = []
    for streams in _captures({8506}):
        for stream in streams:
            pos = stream.find(b"\x06")
            while pos >= 0 and len(payloads) < 300:
                try:
                    size, start = read_mb31(stream, pos + 1, len(stream))
                    if start > 0 and 4 <= size <= SEED_MAX and start + size <= len(stream):
                        payload = stream[start : start + size]
                        nbfx.decode(payload, nbfx.SessionStrings().read_table(payload))
                        payloads.append(payload)
                except DecodeError:
                    pass
                pos = stream.find(b"\x06", pos + 1)
    return payloads


def seeds(target: str) -> list[bytes]:
    if target == "nmf":
        return _stream_seeds({8506})
    if target == "http":
        return _stream_seeds({8080})
    if target == "remoting":  # the Mono Remoting peers (8506, pushes on 8507) and net.tcp (not Remoting)
        return _stream_seeds({8506, 8507})
    if target in ("nbfx", "core"):
        return _envelopes()
    if target == "soap":
        return [
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body><a>1</a></s:Body></s:Envelope>'
        ]
    if target == "nns":
        return [
            b"\x00" + SEP + b"\x00" + bytes.fromhex("160100000c") + b"NTLMSSP\x00\x01\x00\x00\x00",
            b"\x01" + SEP + b"\x00\x16\x03\x03\x00\x02ab",
        ]
    if target == "reassembly":
        seg = _SEGMENT.pack(0, 1000, 0, 0x02, 0) + _SEGMENT.pack(1, 5000, 1001, 0x12, 0)
        seg += _SEGMENT.pack(0, 1001, 5001, 0x10, 4) + b"abcd" + _SEGMENT.pack(0, 1009, 5001, 0x10, 4) + b"efgh"
        return [b"\x00" + seg]
    if target == "pcap":
        return [p.read_bytes()[:SEED_MAX] for p in sorted((ROOT / "captures").glob("*.pcap"))]
    if target == "iiko":
        return _bodies()
    raise KeyError(target)


def _bodies() -> list[bytes]:
    """The bodies of the committed captures' messages and HTTP calls as JSON text, whole, up to ``SEED_MAX``."""
    from pydantic_core import to_json

    found: list[Event] = []
    for capture in sorted((ROOT / "captures").glob("*.pcap")):
        run([CaptureSource(str(capture))], Pipeline(Options()), found.extend)
    texts = {
        value.data if isinstance(value, JsonText) else to_json(value)
        for event in found
        for name in ("body", "request", "response")
        if (value := event.__dict__.get(name)) is not None
    }
    return sorted(text for text in texts if len(text) <= SEED_MAX)
