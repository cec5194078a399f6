"""[MC-NMF] records: the state machine of one direction, as tables.

Spec sections are [MC-NMF] v13. The initiator sends a preamble (2.2.3.1 Version, 2.2.3.2 Mode,
2.2.3.3 Via, 2.2.3.4 encoding, optionally 2.2.3.6 UpgradeRequest, 2.2.3.7 PreambleEnd), the receiver
answers PreambleAck (2.2.3.9), UpgradeResponse (2.2.3.6) or Fault (2.2.3.8); then envelopes flow
(2.2.3.5 Sized / Unsized) until End (2.2.3.10).

Two tables move a direction, as h11's ``_state.py`` does: ``TRANSITIONS`` (state, record type) → next
state, where a pair missing is an anomaly (the direction then resynchronises); and ``SHIFTS`` (state,
cause) → next state for what is not a record: a capture starting mid-session, a bad record, a gap, the
envelope search succeeding or giving up, the connection proving foreign. Resync, not-NMF, foreign and
upgraded are states of these tables, not flags beside them. ``_Flow`` holds one direction's state and
``FlowOwner`` what the decoder's layers (record readers, envelope search, SOAP → events) share.
"""

from dataclasses import replace
from enum import Enum, IntEnum

from ._buffer import Buffer
from .accounting import Ledger
from .events import Anomaly, ConnFields, Direction
from .interface import DecoderOptions
from .nmf_codecs import SESSION_CODEC, new_session
from .nns import SecuredStream

MAX_SCAN = 2**20  # bytes kept while searching for an envelope to resynchronise on
# A direction that never showed valid framing (no preamble, no envelope that decoded) stops scanning
# byte by byte after this many bytes: it may not speak [MC-NMF] at all (Zeek's DPD rule). From then on
# only a chunk that starts with a plausible SizedEnvelope is tried — after an idle pause a new message
# starts at a segment boundary, so a genuine session is still picked up, at almost no cost per packet.
MAX_UNCONFIRMED_SCAN = 16 * 2**10
# ... and after this many more segments with no envelope-like start it is not tried again, nor is the
# other direction unless it proved itself: the decoder asks for no more data (the pipeline skips it).
MAX_UNCONFIRMED_SEGMENTS = 256


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


class State(Enum):
    """Where one direction is in 3.1 (initiator) / 3.2 (receiver), or why it is not following records."""

    START = "start"
    VERSION = "version"
    MODE = "mode"
    VIA = "via"
    ENCODING = "encoding"
    ESTABLISHED = "established"  # envelopes flow
    UPGRADED = "upgraded"  # the rest of the direction is [MS-NNS] or TLS (``_Flow.upgraded``)
    ENDED = "ended"
    FAULTED = "faulted"
    RESYNC = "resync"  # searching for the next envelope that decodes (``decoders.nmf_search``)
    NOT_NMF = "not-nmf"  # no framing found: only chunks that start like an envelope are tried
    FOREIGN = "foreign"  # not net.tcp: the direction's bytes are only counted


class Cause(Enum):
    """What moves a direction besides a record (the ``SHIFTS`` table)."""

    NO_PREAMBLE = "no-preamble"  # the first bytes are no preamble: the capture began inside a session
    BAD_RECORD = "bad-record"  # a record the table refuses or that does not parse (an anomaly)
    GAP = "gap"  # bytes of the direction were lost
    ENVELOPE_FOUND = "envelope-found"  # the search found an envelope that decodes
    NO_FRAMING = "no-framing"  # an unconfirmed search passed its limit
    ENVELOPE_LIKE = "envelope-like"  # a not-NMF direction's chunk starts like a SizedEnvelope
    NOT_NET_TCP = "not-net-tcp"  # a direction proved foreign and this one never proved itself


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

# states in which records are read (or searched for): a bad record or a gap sends them to RESYNC
_FRAMED = tuple(s for s in State if s not in (State.UPGRADED, State.NOT_NMF, State.FOREIGN))
SHIFTS: dict[tuple[State, Cause], State] = {
    (State.START, Cause.NO_PREAMBLE): State.RESYNC,
    **{(state, Cause.BAD_RECORD): State.RESYNC for state in _FRAMED},
    **{(state, Cause.GAP): State.RESYNC for state in _FRAMED},
    (State.RESYNC, Cause.ENVELOPE_FOUND): State.ESTABLISHED,
    (State.RESYNC, Cause.NO_FRAMING): State.NOT_NMF,
    (State.NOT_NMF, Cause.ENVELOPE_LIKE): State.RESYNC,
    **{(state, Cause.NOT_NET_TCP): State.FOREIGN for state in State if state is not State.UPGRADED},
}
CONFIRMING = frozenset({State.ESTABLISHED, State.UPGRADED})  # reaching one proves the direction is net.tcp


class Envelope(Enum):
    """The envelope a direction is inside (2.2.3.5), if any."""

    NONE = "none"
    SIZED = "sized"  # a SizedEnvelope's payload is being collected
    UNSIZED = "unsized"  # between an UnsizedEnvelope record and its zero-length chunk


class _Flow:
    """Parser state of one direction."""

    def __init__(self, direction: Direction) -> None:
        self.dir: Direction = direction
        self.transitions = TRANSITIONS[direction]
        self.buf = Buffer()
        self.state = State.START
        self.confirmed = False  # has been in a CONFIRMING state (a preamble completed or an envelope decoded)
        self.codec = SESSION_CODEC  # replaced by the preamble's encoding when it is seen
        self.session = new_session()
        # preamble fields, reported on PreambleEnd / UpgradeRequest
        self.version = ""
        self.mode = ""
        self.via = ""
        self.content_type = ""
        self.encoding: str | None = None
        # envelope being collected: a sized one, or the chunks of an unsized one (2.2.3.5)
        self.envelope = Envelope.NONE
        self.pending = 0  # payload bytes of the envelope (or chunk) still to come
        self.pieces: list[bytes] = []
        self.collected = 0  # bytes in pieces (or skipped, when discarding)
        self.discard = False  # an oversized envelope: count its bytes, keep none
        self.envelope_offset = 0  # stream offset of the envelope record
        self.payload_offset = 0  # stream offset of its first payload byte
        # resynchronisation
        self.resync_from = 0  # stream offset where the current search began
        self.scan_from = 0  # stream offset from which to look for the next 0x06
        self.prefix_checked: int | None = None  # stream offset of the last candidate whose buffered start was decoded
        self.wait_until = 0  # stream offset a settled candidate's envelope ends at, while it waits for it
        self.upgraded: SecuredStream | None = None  # the secured stream, in state UPGRADED
        self.ledger = Ledger()  # bytes decoded and skipped (decoders.accounting)
        self.scan_limit = MAX_UNCONFIRMED_SCAN  # bytes an unconfirmed search may slide over
        self.segments_left = MAX_UNCONFIRMED_SEGMENTS  # envelope-like chunk starts still worth a try

    def move(self, state: State) -> None:
        """Enter ``state`` (from one of the two tables)."""
        self.state = state
        if state in CONFIRMING:
            self.confirmed = True

    def shift(self, cause: Cause) -> None:
        """Move by ``SHIFTS``; a missing pair is a bug in the decoder, not bad input."""
        self.move(SHIFTS[self.state, cause])

    def start_envelope(self, offset: int, payload_offset: int, *, unsized: bool) -> None:
        self.envelope_offset = offset
        self.payload_offset = payload_offset
        self.envelope = Envelope.UNSIZED if unsized else Envelope.SIZED
        self.pieces = []
        self.collected = 0
        self.discard = False

    def drop_envelope(self) -> None:
        self.envelope = Envelope.NONE
        self.discard = False
        self.pending = self.collected = 0
        self.pieces = []

    @property
    def in_envelope(self) -> bool:
        return self.envelope is not Envelope.NONE


class FlowOwner:
    """What every layer of the decoder shares: the connection, its two directions and the limits."""

    def __init__(self, conn: ConnFields, options: DecoderOptions, max_envelope: int | None, max_scan: int) -> None:
        self._conn = conn
        self._options = options if max_envelope is None else replace(options, max_envelope=max_envelope)
        self._max_envelope = self._options.max_envelope
        self._max_scan = max_scan
        self._flows: dict[Direction, _Flow] = {"orig": _Flow("orig"), "resp": _Flow("resp")}
        self.wants_data = True

    def _anomaly(
        self, flow: _Flow, ts: int, name: str, detail: str, offset: int | None, *, source: str = "nmf"
    ) -> Anomaly:
        return Anomaly(ts=ts, **self._conn, dir=flow.dir, name=name, detail=detail, source=source, offset=offset)
