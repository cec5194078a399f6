"""[MC-NMF] .NET Message Framing (WCF net.tcp): records → ``nmf.*`` and ``wcf.*`` events.

Spec sections cited below are [MC-NMF] v13 unless named otherwise. The initiator sends a preamble
(2.2.3.1 Version, 2.2.3.2 Mode, 2.2.3.3 Via, 2.2.3.4 encoding, optionally 2.2.3.6 UpgradeRequest,
2.2.3.7 PreambleEnd), the receiver answers PreambleAck (2.2.3.9), UpgradeResponse (2.2.3.6) or Fault
(2.2.3.8); then envelopes flow (2.2.3.5 Sized / 2.2.3.5 Unsized) until End (2.2.3.10). Which record may
follow which is the data in ``TRANSITIONS``; a pair missing from it is an anomaly, after which the
direction resynchronises on the next envelope that decodes.

Captures usually start inside a duplex session that has been open for hours: a direction whose first
bytes are not a preamble is scanned for a SizedEnvelope whose payload decodes ([MC-NBFSE] session
string table, then an [MC-NBFX] document); session strings defined before the capture then render as
placeholders (``unresolved``). Envelope payloads are collected as pieces and joined once, so an
envelope split over many segments costs linear time. Upgraded streams ([MS-NNS], TLS) are only
counted (``decoders.nns``).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum, IntEnum

from . import nbfx, soap
from ._buffer import Buffer, read_mb31
from .accounting import Accounting, Ledger
from .anomalies import DecodeError
from .core import RUST
from .events import (
    Anomaly,
    ConnFields,
    Direction,
    Event,
    NmfEnd,
    NmfFault,
    NmfPreamble,
    NmfUpgrade,
    WcfFault,
    WcfMessage,
)
from .inflate import GZIP, RAW_DEFLATE, inflate
from .interface import DecoderOptions
from .nns import SecuredStream


class RecordType(IntEnum):
    """2.2.3 record types (the first byte of every record)."""

    VERSION = 0x00
    MODE = 0x01
    VIA = 0x02
    KNOWN_ENCODING = 0x03
    EXTENSIBLE_ENCODING = 0x04
    UNSIZED_ENVELOPE = 0x05
    SIZED_ENVELOPE = 0x06
    END = 0x07
    FAULT = 0x08
    UPGRADE_REQUEST = 0x09
    UPGRADE_RESPONSE = 0x0A
    PREAMBLE_ACK = 0x0B
    PREAMBLE_END = 0x0C


MODES = {1: "singleton-unsized", 2: "duplex", 3: "simplex", 4: "singleton-sized"}  # 2.2.3.2

# 2.2.3.4.1 Known Encoding Record: value -> (name, the content type it stands for)
KNOWN_ENCODINGS = {
    0x00: ("soap1.1-utf8", "text/xml; charset=utf-8"),
    0x01: ("soap1.1-utf16", "text/xml; charset=utf-16"),
    0x02: ("soap1.1-unicodeLE", "text/xml; charset=unicodeFFFE"),
    0x03: ("soap1.2-utf8", "application/soap+xml; charset=utf-8"),
    0x04: ("soap1.2-utf16", "application/soap+xml; charset=utf-16"),
    0x05: ("soap1.2-unicodeLE", "application/soap+xml; charset=unicodeFFFE"),
    0x06: ("soap1.2-mtom", "multipart/related"),
    0x07: ("soap1.2-binary", "application/soap+msbin1"),
    0x08: ("soap1.2-binary-session", "application/soap+msbinsession1"),
}
SESSION_ENCODING = KNOWN_ENCODINGS[0x08]  # assumed when resynchronising: NetTcpBinding's default


class State(Enum):
    """Where one direction is in 3.1 (initiator) / 3.2 (receiver); RESYNC scans for an envelope."""

    START = "start"
    VERSION = "version"
    MODE = "mode"
    VIA = "via"
    ENCODING = "encoding"
    ESTABLISHED = "established"  # envelopes flow
    UPGRADED = "upgraded"  # the rest of the direction is [MS-NNS] or TLS
    ENDED = "ended"
    FAULTED = "faulted"
    RESYNC = "resync"
    NOT_NMF = "not-nmf"  # no framing found: only chunks that start like an envelope are tried
    FOREIGN = "foreign"  # not net.tcp: the direction's bytes are only counted


R = RecordType
_ENVELOPES = {
    (State.ESTABLISHED, R.SIZED_ENVELOPE): State.ESTABLISHED,
    (State.ESTABLISHED, R.UNSIZED_ENVELOPE): State.ESTABLISHED,
    (State.ESTABLISHED, R.END): State.ENDED,
    (State.ESTABLISHED, R.FAULT): State.FAULTED,
}
TRANSITIONS: dict[Direction, dict[tuple[State, RecordType], State]] = {
    "orig": {
        (State.START, R.VERSION): State.VERSION,
        (State.ENDED, R.VERSION): State.VERSION,  # 3.1.5.x: a new session on the same connection
        (State.VERSION, R.MODE): State.MODE,
        (State.MODE, R.VIA): State.VIA,
        (State.VIA, R.KNOWN_ENCODING): State.ENCODING,
        (State.VIA, R.EXTENSIBLE_ENCODING): State.ENCODING,
        (State.ENCODING, R.UPGRADE_REQUEST): State.UPGRADED,
        (State.ENCODING, R.PREAMBLE_END): State.ESTABLISHED,
        **_ENVELOPES,
    },
    "resp": {
        (State.START, R.PREAMBLE_ACK): State.ESTABLISHED,
        (State.ENDED, R.PREAMBLE_ACK): State.ESTABLISHED,  # acknowledging a new session's preamble
        (State.START, R.UPGRADE_RESPONSE): State.UPGRADED,
        (State.START, R.FAULT): State.FAULTED,
        (State.ENDED, R.FAULT): State.FAULTED,
        **_ENVELOPES,
    },
}
del R

MAX_ENVELOPE = 64 * 2**20  # larger envelopes are skipped (nmf_envelope_too_large)
MAX_STRING = 64 * 2**10  # Via, content type, fault and upgrade strings
MAX_SCAN = 2**20  # bytes kept while searching for an envelope to resynchronise on
# A direction that never showed valid framing (no preamble, no envelope that decoded) stops scanning
# byte by byte after this many bytes: it may not speak [MC-NMF] at all (Zeek's DPD rule). From then on
# only a chunk that starts with a plausible SizedEnvelope is tried — after an idle pause a new message
# starts at a segment boundary, so a genuine session is still picked up, at almost no cost per packet.
MAX_UNCONFIRMED_SCAN = 16 * 2**10
# ... and after this many more segments with no envelope-like start it is not tried again, nor is the
# other direction unless it proved itself: the decoder asks for no more data (the pipeline skips it).
MAX_UNCONFIRMED_SEGMENTS = 256
MAX_PENDING = 1024  # outstanding request MessageIDs remembered per connection for latency
MIN_ENVELOPE = 4  # smallest plausible binary envelope: table length, element, name, end


# --- plausibility of a mid-session envelope start (shared by probe and resync) ----------------------


def _element_record(byte: int) -> bool:
    """[MC-NBFX] 2.2.3.1–2.2.3.8: element records are 0x40–0x77; a document starts with one."""
    return 0x40 <= byte <= 0x77


def envelope_start(
    head: bytes | bytearray, pos: int = 0, max_size: int = MAX_ENVELOPE, family: str = "binary-session"
) -> bool | None:
    """Does ``head[pos:]`` look like a SizedEnvelope of ``family`` SOAP? None: too few bytes to tell.

    Checks record type 0x06 and a sane MB31 size; for binary+session the [MC-NBFSE] string table
    (printable UTF-8 strings within the declared length) and, if it ends within ``head``, an element
    record after it; for plain binary an element record, for text a ``<`` or byte order mark.
    """
    end = len(head)
    if pos >= end:
        return None
    if head[pos] != RecordType.SIZED_ENVELOPE:
        return False
    try:
        size, p = read_mb31(head, pos + 1, end)
        if p < 0:
            return None
        if not MIN_ENVELOPE <= size <= max_size:
            return False
        if family != "binary-session":
            if p >= end:
                return None
            first = head[p]
            return _element_record(first) if family == "binary" else first in b"<\xef\xfe\xff"
        table_len, p = read_mb31(head, p, end)
        if p < 0:
            return None
        if table_len >= size:
            return False
        table_end = p + table_len
        strings = 0
        while p < min(table_end, end):
            length, q = read_mb31(head, p, end)
            if q < 0:
                break
            if length == 0 or q + length > table_end:
                return False
            chunk = bytes(head[q : min(q + length, end)])
            if not _printable(chunk):
                return False
            if q + length > end:
                break
            strings += 1
            p = q + length
    except DecodeError:
        return False
    if p >= table_end:
        return _element_record(head[table_end]) if table_end < end else None
    return True if strings else None


PREFIX_CHECK = 4096  # bytes of a waiting candidate's document decoded to refute it early


def _refuted(data: bytearray, payload_pos: int, family: str) -> bool:
    """Whether the buffered start of a candidate envelope's payload already fails to decode.

    A plausible-looking 0x06 in foreign bytes may declare a payload of hundreds of KB; rather than
    buffer all of it, decode what is there: random bytes fail within a few records. Only an error
    other than "the document goes on past these bytes" refutes; the session table is not touched.
    """
    if family not in ("binary", "binary-session"):
        return False
    doc = payload_pos
    if family == "binary-session":
        try:
            table_len, doc = read_mb31(data, payload_pos, len(data))
        except DecodeError:
            return True
        if doc < 0 or doc + table_len >= len(data):
            return False  # the table is not all here yet: cannot tell
        doc += table_len
    try:
        nbfx.decode(bytes(data[doc : doc + PREFIX_CHECK]))
    except DecodeError as err:
        return err.name != "nbfx_truncated"
    return False


def _printable(chunk: bytes) -> bool:
    """Valid UTF-8 (a character may be cut at the end) with no control characters."""
    text = chunk.decode("utf-8", errors="ignore")
    if len(text.encode()) < len(chunk) - 3:
        return False
    return all(ch >= " " for ch in text)


def probe(orig_head: bytes, resp_head: bytes) -> bool | None:
    """Detection: a Version 1.0 + Mode preamble from the initiator, or a mid-session envelope either way."""
    preamble = b"\x00\x01\x00\x01"
    if len(orig_head) >= 5 and orig_head.startswith(preamble) and orig_head[4] in MODES:
        return True
    verdicts = [envelope_start(orig_head), envelope_start(resp_head)]
    if True in verdicts:
        return True
    if len(orig_head) < 5 and preamble.startswith(orig_head[:4]):
        return None
    return None if None in verdicts else False


# --- envelope payload decoding -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Codec:
    """How an envelope payload is read, from the content type (2.2.3.4)."""

    label: str  # known encoding name, else the content type
    family: str  # binary-session | binary | text | mtom | unknown
    compression: str | None  # gzip | deflate (.NET 4.5 binary encoder compression)
    charset: str | None  # Python codec of a text encoding without BOM


# content type charset -> Python codec, as .NET names them ("utf-16" is little-endian, code page 1200;
# "unicodeFFFE" big-endian, code page 1201)
CHARSETS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "unicodefffe": "utf-16-be"}


def codec_for(content_type: str, label: str | None = None) -> Codec:
    base = content_type.strip().lower()
    compression = None
    for suffix in ("gzip", "deflate"):
        if base.endswith("+" + suffix):
            base, compression = base[: -len(suffix) - 1], suffix
    media, _, params = base.partition(";")
    media = media.strip()
    charset = params.partition("charset=")[2].split(";")[0].strip().strip('"') or None
    family = {
        "application/soap+msbinsession1": "binary-session",
        "application/soap+msbin1": "binary",
        "text/xml": "text",
        "application/soap+xml": "text",
        "multipart/related": "mtom",
    }.get(media, "unknown")
    return Codec(label or content_type, family, compression, CHARSETS.get(charset or "", charset))


SESSION_CODEC = codec_for(SESSION_ENCODING[1], SESSION_ENCODING[0])


def _mtom_root(payload: bytes) -> bytes:
    """The XML root part of a MIME multipart (MTOM) envelope: first part after the boundary line."""
    line_end = payload.find(b"\r\n")
    if not payload.startswith(b"--") or line_end < 0:
        raise DecodeError("nmf_bad_mtom", "MTOM payload does not start with a MIME boundary", 0)
    boundary = payload[:line_end]
    body = payload.find(b"\r\n\r\n", line_end)
    close = payload.find(b"\r\n" + boundary, body)
    if body < 0 or close < 0:
        raise DecodeError("nmf_bad_mtom", "MTOM root part is not terminated", line_end)
    return payload[body + 4 : close]


def _inflated(payload: bytes, codec: Codec, options: DecoderOptions) -> bytes:
    """The payload, inflated if the encoding is compressed (a small envelope may expand hugely: the
    shared capped inflater)."""
    if not codec.compression:
        return payload
    wbits = GZIP if codec.compression == "gzip" else RAW_DEFLATE
    limits = {"max_size": min(options.max_envelope, options.max_decompressed), "max_ratio": options.max_ratio}
    names = {"too_large": "nmf_envelope_too_large", "too_dense": "nmf_decompression_ratio"}
    names["size_limit"] = "envelope_size" if options.max_envelope < options.max_decompressed else "decompressed_size"
    return inflate(payload, wbits, **limits, **names, failed="nmf_decompress_failed", what=codec.compression)


def decode_document(
    payload: bytes, codec: Codec, session: nbfx.SessionStrings, options: DecoderOptions
) -> nbfx.Document:
    """An envelope payload → NBFX/XML document, updating the direction's session strings."""
    payload = _inflated(payload, codec, options)
    depth, elements = options.max_depth, options.max_elements
    if codec.family == "binary-session":
        table_end = session.read_table(payload, max_bytes=options.max_session_bytes)
        return nbfx.decode(payload, table_end, session, max_depth=depth, max_elements=elements)
    if codec.family == "binary":
        return nbfx.decode(payload, max_depth=depth, max_elements=elements)
    if codec.family in ("text", "mtom"):
        text = payload if codec.family == "text" else _mtom_root(payload)
        charset = codec.charset if codec.family == "text" else None
        return soap.parse_text_xml(text, charset, max_depth=depth, max_elements=elements)
    raise DecodeError("nmf_unsupported_encoding", f"cannot read envelopes of {codec.label}", 0)


def _table_size(session: nbfx.SessionStrings) -> int:
    """Strings read into a direction's table so far, numbered or not."""
    return len(session) + len(session.unanchored)


# --- the seam between the two cores: one envelope payload -> its SOAP view -----------------------------


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """One envelope decoded by either core: the SOAP view and what the event needs of the document."""

    message: soap.SoapMessage
    unresolved: int  # session ids rendered session:N
    added: int  # strings the envelope's [MC-NBFSE] table added to the direction's
    xml: str | None  # the envelope as XML text, when asked for


def _decode_python(
    payload: bytes, codec: Codec, session: nbfx.SessionStrings, options: DecoderOptions
) -> DecodedMessage:
    """The pure-Python reference: decoders.nbfx (or the text XML parser), then decoders.soap."""
    before = _table_size(session)
    document = decode_document(payload, codec, session, options)
    message = soap.message_from_document(document)
    text = document.to_xml() if options.xml else None
    return DecodedMessage(message, document.unresolved, _table_size(session) - before, text)


def _decode_rust(payload: bytes, codec: Codec, session: nbfx.SessionStrings, options: DecoderOptions) -> DecodedMessage:
    """The compiled core for binary XML (the body arrives as JSON text); text and MTOM stay in Python."""
    if codec.family not in ("binary", "binary-session") or RUST is None:
        return _decode_python(payload, codec, session, options)
    fields, fault, body, text, unresolved, added = RUST.decode_envelope(
        _inflated(payload, codec, options),
        session,
        table=codec.family == "binary-session",
        xml=options.xml,
        max_depth=options.max_depth,
        max_elements=options.max_elements,
        max_session_bytes=options.max_session_bytes,
    )
    version, action, message_id, relates_to, to, reply_to, body_element = fields
    soap_fault = None
    if fault is not None:
        code, subcode, reason, detail = fault
        soap_fault = soap.SoapFault(code, subcode, reason, None if detail is None else json.loads(detail))
    message = soap.SoapMessage(
        version, action, message_id, relates_to, to, reply_to, json.loads(body), body_element, soap_fault
    )
    return DecodedMessage(message, unresolved, added, text)


decode_message = _decode_python if RUST is None else _decode_rust
"""One envelope payload → DecodedMessage, updating the direction's session strings (from ``new_session``).
Raises DecodeError; both implementations give the same results (tests/test_core_diff.py)."""


def new_session() -> nbfx.SessionStrings:
    """A direction's [MC-NBFSE] session strings, of the core in use."""
    return nbfx.SessionStrings() if RUST is None else RUST.SessionStrings()


# --- one direction -----------------------------------------------------------------------------------


class _Flow:
    """Parser state of one direction."""

    def __init__(self, direction: Direction) -> None:
        self.dir: Direction = direction
        self.transitions = TRANSITIONS[direction]
        self.buf = Buffer()
        self.state = State.START
        self.codec = SESSION_CODEC  # replaced by the preamble's encoding when it is seen
        self.session = new_session()
        # preamble fields, reported on PreambleEnd / UpgradeRequest
        self.version = ""
        self.mode = ""
        self.via = ""
        self.content_type = ""
        self.encoding: str | None = None
        # envelope being collected: a sized one, or the chunks of an unsized one (2.2.3.5)
        self.collecting = False  # a SizedEnvelope's payload is being collected
        self.unsized = False  # between an UnsizedEnvelope record and its zero-length chunk
        self.pending = 0  # payload bytes of the envelope (or chunk) still to come
        self.pieces: list[bytes] = []
        self.collected = 0  # bytes in pieces (or skipped, when discarding)
        self.discard = False  # an oversized envelope: count its bytes, keep none
        self.envelope_offset = 0  # stream offset of the envelope record
        self.payload_offset = 0  # stream offset of its first payload byte
        # resynchronisation
        self.resync_from = 0  # stream offset where the current search began
        self.scan_from = 0  # stream offset from which to look for the next 0x06
        self.prefix_checked = -1  # stream offset of the last candidate whose buffered start was decoded
        self.upgraded: SecuredStream | None = None
        self.ledger = Ledger()  # bytes decoded and skipped (decoders.accounting)
        self.confirmed = False  # a preamble completed or an envelope decoded in this direction
        self.scan_limit = MAX_UNCONFIRMED_SCAN  # bytes an unconfirmed search may slide over
        self.segments_left = MAX_UNCONFIRMED_SEGMENTS  # envelope-like chunk starts still worth a try

    def start_envelope(self, offset: int, payload_offset: int, *, unsized: bool) -> None:
        self.envelope_offset = offset
        self.payload_offset = payload_offset
        self.collecting = not unsized
        self.unsized = unsized
        self.pieces = []
        self.collected = 0
        self.discard = False

    def drop_envelope(self) -> None:
        self.collecting = self.unsized = self.discard = False
        self.pending = self.collected = 0
        self.pieces = []

    @property
    def in_envelope(self) -> bool:
        return self.collecting or self.unsized


class NmfDecoder:
    """[MC-NMF] decoder for one TCP connection; both directions (``Decoder`` in decoders.detect)."""

    name = "nmf"
    wants_data = True

    def __init__(
        self,
        conn: ConnFields,
        options: DecoderOptions,
        *,
        max_envelope: int | None = None,  # default: options.max_envelope
        max_scan: int = MAX_SCAN,
    ) -> None:
        self._conn = conn
        self._xml = options.xml
        self._options = options if max_envelope is None else replace(options, max_envelope=max_envelope)
        self._max_envelope = self._options.max_envelope
        self._max_scan = max_scan
        self._flows: dict[Direction, _Flow] = {"orig": _Flow("orig"), "resp": _Flow("resp")}
        self._upgrade_protocol: str | None = None
        self._outstanding: dict[str, int] = {}  # request MessageID -> ts, oldest first
        self._readers: dict[RecordType, Callable[[_Flow, int, int, list[Event]], bool]] = {
            RecordType.VERSION: self._read_version,
            RecordType.MODE: self._read_mode,
            RecordType.VIA: self._read_via,
            RecordType.KNOWN_ENCODING: self._read_known_encoding,
            RecordType.EXTENSIBLE_ENCODING: self._read_extensible_encoding,
            RecordType.UNSIZED_ENVELOPE: self._read_unsized_envelope,
            RecordType.SIZED_ENVELOPE: self._read_sized_envelope,
            RecordType.END: self._read_end,
            RecordType.FAULT: self._read_fault,
            RecordType.UPGRADE_REQUEST: self._read_upgrade_request,
            RecordType.UPGRADE_RESPONSE: self._read_upgrade_response,
            RecordType.PREAMBLE_ACK: self._read_preamble_ack,
            RecordType.PREAMBLE_END: self._read_preamble_end,
        }

    # --- the Decoder interface ---------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        flow = self._flows[direction]
        if flow.state is State.FOREIGN or not data:
            flow.ledger.skip("foreign", len(data))
            return []
        if flow.state is State.NOT_NMF:  # per segment on foreign traffic: keep it cheap
            if data[0] != RecordType.SIZED_ENVELOPE or envelope_start(data) is False:
                flow.ledger.skip("no_framing", len(data))
                flow.buf.skip_stream(len(data))
                flow.segments_left -= 1
                if flow.segments_left <= 0:
                    self._give_up(flow)
                return []
            self._start_resync(flow)
            flow.scan_limit = 0  # this chunk's first byte or nothing
        events: list[Event] = []
        if flow.upgraded is not None:
            self._feed_upgraded(flow, data, ts, events)
            return events
        if flow.pending and not len(flow.buf):
            data = self._collect(flow, data)  # the hot path: payload bytes go straight to pieces
        if data:
            flow.buf.append(data)
        self._run(flow, ts, events)
        flow.buf.compact()
        return events

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        flow = self._flows[direction]
        if flow.state is State.NOT_NMF or flow.state is State.FOREIGN:
            flow.buf.skip_stream(length)
            return []
        if flow.upgraded is not None:
            flow.upgraded.lose(length)
            return []
        events: list[Event] = []
        self._account_cut(flow, "cut_by_gap")
        if flow.in_envelope:
            detail = f"{length}-byte gap inside an envelope; {flow.collected} bytes of it dropped"
            events.append(self._anomaly(flow, ts, "nmf_record_lost", detail, flow.envelope_offset))
        elif len(flow.buf) and flow.state is not State.RESYNC:
            detail = f"{length}-byte gap after {len(flow.buf)} bytes of a record"
            events.append(self._anomaly(flow, ts, "nmf_record_lost", detail, flow.buf.offset))
        flow.drop_envelope()
        flow.buf.skip_stream(length)
        self._start_resync(flow)
        return events

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        flow = self._flows[direction]
        events: list[Event] = []
        if flow.upgraded is not None:
            events.append(self._upgrade_event(flow, ts, final=True))
            if flow.upgraded.in_frame:
                events.append(self._anomaly(flow, ts, "nns_truncated", "stream ended inside a frame", None))
        elif flow.state is State.RESYNC:
            skipped = flow.buf.offset + len(flow.buf) - flow.resync_from
            self._account_cut(flow, "truncated")
            if skipped:
                detail = f"skipped {skipped} bytes, no envelope found before the end"
                events.append(self._anomaly(flow, ts, "nmf_resync", detail, flow.resync_from))
        elif flow.in_envelope or len(flow.buf):
            self._account_cut(flow, "truncated")
            offset = flow.envelope_offset if flow.in_envelope else flow.buf.offset
            events.append(self._anomaly(flow, ts, "nmf_truncated", "stream ended inside a record", offset))
        return events

    def accounting(self, direction: Direction) -> Accounting:
        return self._flows[direction].ledger.accounting(None if self.wants_data else "foreign")

    def _account_cut(self, flow: _Flow, reason: str) -> None:
        """Bytes a gap or the end leaves unread: a resync span, a partial record, a cut envelope."""
        if flow.state is State.RESYNC:
            flow.ledger.skip("resync", flow.buf.offset + len(flow.buf) - flow.resync_from)
            return
        if flow.in_envelope and not flow.discard:
            flow.ledger.undo(reason, flow.collected)
        flow.ledger.skip(reason, len(flow.buf))

    # --- record loop -------------------------------------------------------------------------------

    def _run(self, flow: _Flow, ts: int, events: list[Event]) -> None:
        """Decode every complete record in the buffer; report bad framing and resynchronise."""
        buf = flow.buf
        while True:
            if flow.upgraded is not None:
                rest = buf.take(len(buf))
                buf.commit()
                if rest:
                    self._feed_upgraded(flow, rest, ts, events)
                return
            if flow.pending:
                piece = buf.take(min(flow.pending, len(buf)))
                if not piece:
                    return
                buf.commit()
                self._collect(flow, piece)
                if flow.pending:
                    return
            if flow.collecting:
                self._finish_envelope(flow, ts, events)
                continue
            record_offset = buf.offset
            try:
                if flow.state is State.RESYNC:
                    if not self._scan(flow, ts, events):
                        return
                    continue
                if flow.unsized:
                    if not self._read_chunk(flow, ts, events):
                        buf.rollback()
                        return
                    buf.commit()
                    flow.ledger.decoded += buf.offset - record_offset
                    continue
                rtype = buf.byte()
                if rtype is None:
                    return
                next_state = flow.transitions.get((flow.state, rtype))
                if next_state is None and flow.state is State.START:
                    buf.rollback()  # no preamble: the capture started inside a session
                    self._start_resync(flow)
                    continue
                if rtype > RecordType.PREAMBLE_END:
                    raise DecodeError("nmf_unknown_record", f"record type 0x{rtype:02x}", record_offset)
                record = RecordType(rtype)
                if next_state is None:
                    detail = f"{record.name} in state {flow.state.value}"
                    raise DecodeError("nmf_unexpected_record", detail, record_offset)
                if not self._readers[record](flow, record_offset, ts, events):
                    buf.rollback()
                    return
                buf.commit()
                flow.ledger.decoded += buf.offset - record_offset
                flow.state = next_state
                if next_state is State.ESTABLISHED or next_state is State.UPGRADED:
                    flow.confirmed = True
                if next_state is State.UPGRADED:
                    flow.upgraded = SecuredStream(self._upgrade_protocol or "", buf.offset)
                    if flow.dir == "resp":
                        events.append(self._upgrade_event(flow, ts, final=False))
            except DecodeError as err:
                events.append(self._anomaly(flow, ts, err.name, err.detail, err.offset))
                if flow.in_envelope and not flow.discard:
                    flow.ledger.undo("undecodable", flow.collected)
                flow.drop_envelope()
                buf.rollback()  # the search starts at the bad record itself: it may be a good envelope
                self._start_resync(flow)

    def _collect(self, flow: _Flow, data: bytes) -> bytes:
        """Take up to ``pending`` payload bytes from ``data``; return the rest."""
        n = min(flow.pending, len(data))
        if not flow.discard:
            flow.pieces.append(data if n == len(data) else data[:n])
            flow.ledger.decoded += n
        else:
            flow.ledger.skip("too_large", n)
        flow.pending -= n
        flow.collected += n
        return data[n:]

    def _mb31(self, buf: Buffer) -> int | None:
        """``buf.mb31`` with the anomaly offset made a stream offset."""
        try:
            return buf.mb31()
        except DecodeError as err:
            raise DecodeError(err.name, err.detail, buf.offset) from None

    def _string(self, buf: Buffer, what: str) -> str | None:
        """A 2.2.3.3-style string: MB31 length, UTF-8 bytes."""
        offset = buf.offset
        length = self._mb31(buf)
        if length is None:
            return None
        if length > MAX_STRING:
            raise DecodeError("nmf_bad_string", f"{what} of {length} bytes", offset)
        raw = buf.take(length)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecodeError("nmf_bad_string", f"{what} is not UTF-8: {err.reason}", offset) from None

    # --- record readers: parse the record after its type byte; False if not all of it is buffered ---

    def _read_version(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        raw = flow.buf.take(2)  # 2.2.3.1 MajorVersion, MinorVersion
        if raw is None:
            return False
        if raw != b"\x01\x00":
            detail = f"version {raw[0]}.{raw[1]}, expected 1.0"
            events.append(self._anomaly(flow, ts, "nmf_bad_version", detail, offset))
        flow.version = f"{raw[0]}.{raw[1]}"
        if flow.state is State.ENDED:  # a new session: fresh string tables for both directions
            for each in self._flows.values():
                each.session = new_session()
        return True

    def _read_mode(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        mode = flow.buf.byte()
        if mode is None:
            return False
        if mode not in MODES:
            raise DecodeError("nmf_bad_mode", f"mode 0x{mode:02x}", offset)
        flow.mode = MODES[mode]
        return True

    def _read_via(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        via = self._string(flow.buf, "Via")
        if via is None:
            return False
        flow.via = via
        return True

    def _read_known_encoding(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        value = flow.buf.byte()
        if value is None:
            return False
        if value in KNOWN_ENCODINGS:
            name, content_type = KNOWN_ENCODINGS[value]
        else:
            events.append(self._anomaly(flow, ts, "nmf_unknown_encoding", f"known encoding 0x{value:02x}", offset))
            name, content_type = f"unknown-0x{value:02x}", ""
        self._set_codec(flow, codec_for(content_type, name), name, content_type)
        return True

    def _read_extensible_encoding(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        content_type = self._string(flow.buf, "content type")
        if content_type is None:
            return False
        self._set_codec(flow, codec_for(content_type), None, content_type)
        return True

    def _set_codec(self, flow: _Flow, codec: Codec, name: str | None, content_type: str) -> None:
        flow.encoding, flow.content_type = name, content_type
        for each in self._flows.values():  # the receiver answers in the initiator's encoding
            each.codec = codec

    def _read_sized_envelope(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        size = self._mb31(flow.buf)
        if size is None:
            return False
        flow.start_envelope(offset, flow.buf.offset, unsized=False)
        flow.pending = size
        if size > self._max_envelope:
            detail = f"{size}-byte envelope exceeds the {self._max_envelope}-byte limit envelope_size; skipped"
            events.append(self._anomaly(flow, ts, "nmf_envelope_too_large", detail, offset))
            flow.discard = True
        return True

    def _read_unsized_envelope(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        flow.start_envelope(offset, flow.buf.offset, unsized=True)
        return True

    def _read_chunk(self, flow: _Flow, ts: int, events: list[Event]) -> bool:
        """One 2.2.3.5 data chunk size inside an unsized envelope; size 0 is the terminator."""
        offset = flow.buf.offset
        size = self._mb31(flow.buf)
        if size is None:
            return False
        if size == 0:
            flow.unsized = False
            if not flow.discard:
                self._message(flow, b"".join(flow.pieces), ts, events)
            flow.drop_envelope()
            return True
        flow.pending = size
        if not flow.discard and flow.collected + size > self._max_envelope:
            detail = f"unsized envelope passes the {self._max_envelope}-byte limit envelope_size; skipped"
            events.append(self._anomaly(flow, ts, "nmf_envelope_too_large", detail, offset))
            flow.ledger.undo("too_large", flow.collected)
            flow.discard = True
            flow.pieces = []
        return True

    def _finish_envelope(self, flow: _Flow, ts: int, events: list[Event]) -> None:
        if not flow.discard:
            payload = flow.pieces[0] if len(flow.pieces) == 1 else b"".join(flow.pieces)
            self._message(flow, payload, ts, events)
        flow.drop_envelope()

    def _read_end(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        events.append(NmfEnd(ts=ts, **self._conn, dir=flow.dir))
        return True

    def _read_fault(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        uri = self._string(flow.buf, "fault")
        if uri is None:
            return False
        events.append(NmfFault(ts=ts, **self._conn, dir=flow.dir, uri=uri))
        return True

    def _read_upgrade_request(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        protocol = self._string(flow.buf, "upgrade protocol")
        if protocol is None:
            return False
        self._upgrade_protocol = protocol
        events.append(self._preamble_event(flow, ts))  # PreambleEnd follows inside the secured stream
        return True

    def _read_upgrade_response(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        return True  # the nmf.upgrade event follows once the direction has switched (``_run``)

    def _read_preamble_ack(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        if flow.state is State.ENDED:
            flow.session = new_session()
        return True

    def _read_preamble_end(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        events.append(self._preamble_event(flow, ts))
        return True

    # --- resynchronisation -------------------------------------------------------------------------

    def _start_resync(self, flow: _Flow) -> None:
        """Search for the next envelope; string tables sent meanwhile are lost, so later ids are unknown."""
        flow.session.lost()
        flow.state = State.RESYNC
        flow.resync_from = flow.scan_from = flow.buf.offset

    def _keep_scanning(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        """False (and the direction given up) once an unconfirmed search has passed its limit."""
        if flow.confirmed or offset - flow.resync_from <= flow.scan_limit:
            return True
        if flow.scan_limit:  # the first search of this direction: say so once
            detail = f"no [MC-NMF] framing in {offset - flow.resync_from} bytes; only envelope-like chunks are tried"
            events.append(self._anomaly(flow, ts, "nmf_no_sync", detail, flow.resync_from))
        flow.ledger.skip("resync", flow.buf.offset + len(flow.buf) - flow.resync_from)
        flow.state = State.NOT_NMF
        flow.buf.skip_stream(0)
        return False

    def _give_up(self, flow: _Flow) -> None:
        """A direction proved foreign: [MC-NMF] frames both directions, so the connection is not net.tcp."""
        for each in self._flows.values():
            if not each.confirmed:
                each.state = State.FOREIGN
        if all(each.state is State.FOREIGN for each in self._flows.values()):
            self.wants_data = False

    def _scan(self, flow: _Flow, ts: int, events: list[Event]) -> bool:
        """Find the next SizedEnvelope that decodes; True if one was consumed, False: need more bytes.

        Candidates must pass ``envelope_start``; the whole envelope must then decode. The direction's
        string table is un-anchored by now, so a failed candidate's table cannot corrupt known ids.
        """
        buf = flow.buf
        data = buf.data
        base = buf.offset - buf.pos  # stream offset of data[0]
        pos = max(flow.scan_from - base, buf.pos)
        while True:
            pos = data.find(RecordType.SIZED_ENVELOPE, pos)
            if pos < 0:
                flow.scan_from = base + len(data)
                if not self._keep_scanning(flow, base + len(data), ts, events):
                    return False
                if len(buf) > self._max_scan:  # nothing to wait for: let the bytes go
                    buf.advance(len(buf))
                    buf.commit()
                return False
            if not self._keep_scanning(flow, base + pos, ts, events):
                return False
            verdict = envelope_start(data, pos, self._max_envelope, flow.codec.family)
            if verdict is None:
                flow.scan_from = base + pos
                return False
            if verdict:
                size, payload_pos = read_mb31(data, pos + 1, len(data))
                if payload_pos + size - pos > self._max_scan:
                    pos += 1  # too big to hold while unsure it is an envelope at all
                    continue
                if payload_pos + size > len(data):
                    if flow.prefix_checked != base + pos:
                        flow.prefix_checked = base + pos
                        if _refuted(data, payload_pos, flow.codec.family):
                            pos += 1
                            continue
                    flow.scan_from = base + pos
                    return False
                payload = bytes(data[payload_pos : payload_pos + size])
                try:
                    decoded = decode_message(payload, flow.codec, flow.session, self._options)
                except DecodeError:
                    pos += 1
                    continue
                skipped = base + pos - flow.resync_from
                flow.ledger.skip("resync", skipped)
                flow.ledger.decoded += payload_pos + size - pos
                if skipped:
                    detail = f"skipped {skipped} bytes to the envelope at {base + pos}"
                    events.append(self._anomaly(flow, ts, "nmf_resync", detail, flow.resync_from))
                buf.advance(payload_pos + size - buf.pos)
                buf.commit()
                flow.state = State.ESTABLISHED
                flow.confirmed = True
                flow.envelope_offset, flow.payload_offset = base + pos, base + payload_pos
                self._message_events(flow, decoded, size, ts, events)
                return True
            pos += 1

    # --- envelopes → wcf events --------------------------------------------------------------------

    def _message(self, flow: _Flow, payload: bytes, ts: int, events: list[Event]) -> None:
        """Decode one complete envelope payload; a bad payload is an anomaly, framing goes on."""
        try:
            decoded = decode_message(payload, flow.codec, flow.session, self._options)
        except DecodeError as err:
            flow.ledger.undo("undecodable", len(payload))
            source = err.name.split("_", 1)[0]
            offset = flow.payload_offset + (err.offset or 0)
            events.append(self._anomaly(flow, ts, err.name, err.detail, offset, source=source))
            return
        self._message_events(flow, decoded, len(payload), ts, events)

    def _message_events(self, flow: _Flow, decoded: DecodedMessage, size: int, ts: int, events: list[Event]) -> None:
        message = decoded.message
        latency_ms = None
        if message.relates_to is not None and message.relates_to in self._outstanding:
            latency_ms = (ts - self._outstanding.pop(message.relates_to)) / 1e6
        elif message.message_id is not None and message.relates_to is None:
            if len(self._outstanding) >= MAX_PENDING:
                oldest = next(iter(self._outstanding))
                del self._outstanding[oldest]
                detail = f"more than {MAX_PENDING} requests without reply; forgot {oldest}"
                events.append(self._anomaly(flow, ts, "wcf_too_many_pending", detail, flow.envelope_offset))
            self._outstanding[message.message_id] = ts
        common = {
            "ts": ts,
            **self._conn,
            "dir": flow.dir,
            "action": message.action,
            "message_id": message.message_id,
            "relates_to": message.relates_to,
            "to": message.to,
            "reply_to": message.reply_to,
            "size": size,
            "soap_version": message.version,
            "encoding": flow.codec.label,
            "unresolved": decoded.unresolved,
            "session_strings_added": decoded.added,
            "xml": decoded.xml,
            "latency_ms": latency_ms,
        }
        if message.fault is not None:
            fault = message.fault
            events.append(
                WcfFault(**common, code=fault.code, subcode=fault.subcode, reason=fault.reason, detail=fault.detail)
            )
        else:
            events.append(WcfMessage(**common, body=message.body, body_element=message.body_element))

    # --- upgraded streams --------------------------------------------------------------------------

    def _feed_upgraded(self, flow: _Flow, data: bytes, ts: int, events: list[Event]) -> None:
        upgraded = flow.upgraded
        assert upgraded is not None
        handshake_before = upgraded.handshake_bytes
        flow.ledger.skip("encrypted", len(data))
        for item in upgraded.feed(data):
            if isinstance(item, DecodeError):
                events.append(self._anomaly(flow, ts, item.name, item.detail, item.offset, source="nns"))
            else:
                events.append(item.event(ts, self._conn, flow.dir))
        flow.ledger.reclaim("encrypted", upgraded.handshake_bytes - handshake_before)  # handshakes are decoded

    def _upgrade_event(self, flow: _Flow, ts: int, *, final: bool) -> NmfUpgrade:
        assert flow.upgraded is not None
        packages = [f.upgraded.auth_package for f in self._flows.values() if f.upgraded is not None]
        mechs = [f.upgraded.auth_mech for f in (self._flows["resp"], self._flows["orig"]) if f.upgraded is not None]
        return NmfUpgrade(
            ts=ts,
            **self._conn,
            dir=flow.dir,
            protocol=flow.upgraded.protocol,
            auth_package=next((p for p in packages if p), None),
            auth_mech=next((m for m in mechs if m), None),
            frames=flow.upgraded.frames,
            bytes=flow.upgraded.bytes,
            final=final,
        )

    # --- event helpers -----------------------------------------------------------------------------

    def _preamble_event(self, flow: _Flow, ts: int) -> NmfPreamble:
        return NmfPreamble(
            ts=ts,
            **self._conn,
            dir=flow.dir,
            version=flow.version,
            mode=flow.mode,
            via=flow.via,
            encoding=flow.encoding,
            content_type=flow.content_type,
        )

    def _anomaly(
        self, flow: _Flow, ts: int, name: str, detail: str, offset: int | None, *, source: str = "nmf"
    ) -> Anomaly:
        return Anomaly(ts=ts, **self._conn, dir=flow.dir, name=name, detail=detail, source=source, offset=offset)
