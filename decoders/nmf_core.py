"""[MC-NMF] records framed by the compiled core: the seam between ``core/src/nmf.rs`` and the record loop.

When the core is in use (``decoders.core``, the choice ``decoders.nmf_codecs`` makes too), each chunk fed
at a record boundary is first walked by ``_core.nmf_records``: it reads the complete, well-formed records
at the start of the chunk by the same transition table (``decoders.nmf_records.TRANSITIONS``) and returns
their fields, whole envelope payloads (an unsized one's chunks joined) and the states they lead to. This
module applies them with the record readers' own steps (``decoders.nmf_readers``), so the events,
anomalies and accounting are those of the pure-Python loop. The core stops before anything it is not
certain of — a record the table refuses, a malformed or incomplete one, a capture starting mid-session —
and after the header of a SizedEnvelope whose payload is not all there or is over the limit, and after an
upgrade record; the Python loop (``NmfDecoder._run``) goes on from there, at that offset and in that
state, as it does without the core (collecting or skipping the payload, feeding the secured stream).
When the envelope search (``decoders.nmf_search``, its scanning in the core too) finds framing again,
the core frames the rest of the buffer from there. In the established state, the whole SizedEnvelopes
at the start of a chunk go first to ``WcfEventMaker.envelopes``, which frames them and makes their
events in one call, without a payload crossing into Python and back; and the packet loop in the core
hands such segments, the start of an envelope and the pieces of its payload to the direction's lane
(``core/src/lane_python.rs``) without calling ``feed`` at all. tests/test_core_nmf.py holds the two
framings to the same output, the core's with and without that step; tests/test_core_lanes.py the
packet loops with lanes and without.
"""

from collections.abc import Callable
from typing import Any, ClassVar

from .anomalies import DecodeError
from .core import RUST
from .events import Direction, Event
from .nmf_codecs import CORE_FAMILIES
from .nmf_readers import RecordReaders
from .nmf_records import Envelope, RecordType, State, _Flow

# The states the core frames from, in the order of its codes (core/src/nmf.rs ``State``). UPGRADED only
# ever comes back as a record's next state: the core stops after an upgrade record.
CORE_STATES = (
    State.START,
    State.VERSION,
    State.MODE,
    State.VIA,
    State.ENCODING,
    State.ESTABLISHED,
    State.ENDED,
    State.FAULTED,
    State.UPGRADED,
)
_CODES = {state: code for code, state in enumerate(CORE_STATES) if state is not State.UPGRADED}
_ENVELOPES = frozenset({int(RecordType.SIZED_ENVELOPE), int(RecordType.UNSIZED_ENVELOPE)})

# (chunk, stream offset of chunk[start], state code, initiator?, max envelope, start) -> ([(record type,
# offset, next state code, payload offset or record end, fields)], bytes consumed); a sized envelope's
# fields are its payload, or its size when only the header was framed
Framer = Callable[[bytes, int, int, bool, int, int], tuple[list[tuple[int, int, int, int, Any]], int]]
FRAMER: Framer | None = None if RUST is None else RUST.nmf_records
"""The core's record framer, or None: the pure-Python loop frames everything."""

# (decoder, flow, events, chunk, start, stream offset of chunk[start], max envelope, ts, encoding, table?)
# -> (where it stopped, whether it stopped after an envelope for ``_envelope_stop``)
EnvelopeRun = Callable[..., tuple[int, bool]]
ENVELOPE_RUN: EnvelopeRun | None = None if RUST is None else RUST.envelope_run
"""The core's run of whole envelopes made events (with the framer), or None."""


class CoreFraming(RecordReaders):
    """The record layer of ``NmfDecoder`` with the compiled framer in front of the Python loop."""

    _framer: ClassVar[Framer | None] = FRAMER
    # a staticmethod: a method descriptor kept on the class would bind to the decoder
    _envelope_run: ClassVar[EnvelopeRun | None] = None if ENVELOPE_RUN is None else staticmethod(ENVELOPE_RUN)

    def _frame_in_core(self, flow: _Flow, data: bytes, ts: int, events: list[Event]) -> None:
        """Let the core consume the complete records at the cursor; ``data`` was just appended to the buffer.

        Only while what was buffered before is no longer than ``data``: the core then reads every byte
        about once, however a record is split.
        """
        buffered = len(flow.buf)
        if buffered <= 2 * len(data):
            self._frame_chunk(flow, data if buffered == len(data) else None, ts, events)

    def _frame_chunk(self, flow: _Flow, data: bytes | None, ts: int, events: list[Event]) -> None:
        """Frame from the cursor (``data``: the buffered bytes, if the caller has them as bytes), only at a
        record boundary in a framed state. The envelope search calls it too once it found framing again,
        so the rest of the chunk is not left to the Python loop."""
        framer = self._framer
        buf = flow.buf
        code = _CODES.get(flow.state)
        if framer is None or code is None or flow.envelope is not Envelope.NONE or not len(buf):
            return
        chunk = bytes(buf.data[buf.pos :]) if data is None else data
        start = self._whole_envelopes(flow, chunk, ts, events) if flow.state is State.ESTABLISHED else 0
        if start == len(chunk):
            return
        records, consumed = framer(chunk, buf.offset, code, flow.dir == "orig", self._max_envelope, start)
        if not consumed:
            return
        buf.advance(consumed)
        buf.commit()
        flow.ledger.decoded += consumed
        applies = self._applies
        for kind, offset, state, content, fields in records:
            if kind in _ENVELOPES and not isinstance(fields, int):  # a whole envelope, as _finish_envelope
                flow.envelope_offset, flow.payload_offset = offset, content  # or _read_chunk complete one
                self._message(flow, fields, ts, events)
                continue
            # any other record; a sized envelope's header alone comes last (its payload starts at the
            # cursor, where the record loop collects or skips it), as does an upgrade record
            applies[kind](self, flow, fields, offset, ts, events)
            flow.move(CORE_STATES[state])
            if flow.state is State.UPGRADED:
                self._enter_upgraded(flow, ts, events)

    def _whole_envelopes(self, flow: _Flow, chunk: bytes, ts: int, events: list[Event]) -> int:
        """Let the core frame the whole SizedEnvelopes at the start of ``chunk`` and make their events
        (``_core.envelope_run``), where a payload of a family it decodes needs no inflating; where it
        stopped."""
        run, codec = self._envelope_run, flow.codec
        if run is None or codec.family not in CORE_FAMILIES or codec.compression:
            return 0
        buf = flow.buf
        table = codec.family == "binary-session"
        end, _ = run(self, flow, events, chunk, 0, buf.offset, self._max_envelope, ts, codec.label, table)
        buf.advance(end)
        buf.commit()
        return end  # type: ignore[no-any-return]

    def _envelope_stop(self, flow: _Flow, stop: tuple[Any, ...], ts: int, events: list[Event]) -> None:
        """What a run of whole envelopes stopped after — an envelope that did not decode, one that made
        the table of open requests forget one — reported as ``_message`` reports it."""
        if stop[0] == "undecodable":
            _, err, payload_offset, size = stop
            if not isinstance(err, DecodeError):
                raise err
            self._undecodable(flow, err, payload_offset, size, ts, events)
        else:
            _, forgotten, event, envelope_offset = stop
            self._forgot(flow, forgotten, envelope_offset, ts, events)
            events.append(event)

    def lane(self, direction: Direction) -> Any:
        """The core's lane for ``direction`` (``_core.NmfLane``): the packet loop gives it the direction's
        in-order segments, and it takes those of the shapes it knows in the established state (the
        pieces of a payload, whole envelopes, the start of one); None where the core does not run this
        decoder's envelopes."""
        if RUST is None or self._framer is None or self._envelope_run is None:
            return None
        flow = self._flows[direction]
        return RUST.NmfLane(self, flow, State, Envelope, CORE_FAMILIES)
