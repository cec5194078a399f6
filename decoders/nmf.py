"""[MC-NMF] .NET Message Framing (WCF net.tcp): records → ``nmf.*`` and ``wcf.*`` events.

Spec sections are [MC-NMF] v13 unless named otherwise. ``NmfDecoder`` is the decoder of one connection
(``decoders.interface.Decoder``), built from layers, each in its own module:

- ``nmf_records``: the state of a direction and the tables that move it (records, resync, not-NMF,
  foreign, upgraded); ``nmf_readers``: the fields of each record (2.2.3) and what each does;
- ``nmf_core``: the compiled core's record framer, which takes the well-formed records of a chunk
  before this module's loop, when the core is in use;
- ``nmf_search``: the mid-session SizedEnvelope search and its give-up policy;
- ``nmf_codecs``: payload codecs (binary, binary+session, text, MTOM, compressed) and the seam between
  the pure-Python and the compiled core;
- ``nmf_events``: SOAP → ``wcf.message`` / ``wcf.fault``, with request latency (``decoders.correlate``).

This module holds the record loop and the three calls of the interface. Envelope payloads are collected
as pieces and joined once, so an envelope split over many segments costs linear time. Upgraded streams
([MS-NNS], TLS) are only counted (``decoders.nns``).
"""

from .accounting import Accounting
from .anomalies import DecodeError
from .events import ConnFields, Direction, Event
from .interface import DecoderOptions
from .nmf_core import CoreFraming
from .nmf_records import MAX_SCAN, MODES, Cause, Envelope, RecordType, State, _Flow
from .nmf_search import EnvelopeSearch, envelope_start

__all__ = ["NmfDecoder", "envelope_start", "probe"]


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


class NmfDecoder(CoreFraming, EnvelopeSearch):
    """[MC-NMF] decoder for one TCP connection; both directions (``decoders.interface.Decoder``)."""

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
        super().__init__(conn, options, max_envelope, max_scan)

    # --- the Decoder interface ---------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        flow = self._flows[direction]
        if flow.state is State.FOREIGN or not data:
            flow.ledger.skip("foreign", len(data))
            return []
        if flow.state is State.NOT_NMF:  # per segment on foreign traffic: keep it cheap
            if data[0] != RecordType.SIZED_ENVELOPE or self._envelope_start(data) is False:
                flow.ledger.skip("no_framing", len(data))
                flow.buf.skip_stream(len(data))
                flow.segments_left -= 1
                if flow.segments_left <= 0:
                    self._give_up(flow)
                return []
            self._start_resync(flow, Cause.ENVELOPE_LIKE)
            flow.scan_limit = 0  # this chunk's first byte or nothing
        events: list[Event] = []
        if flow.state is State.UPGRADED:
            self._feed_upgraded(flow, data, ts, events)
            return events
        if flow.pending and not len(flow.buf):
            rest = self._collect(flow, data)  # the hot path: payload bytes go straight to pieces
            flow.buf.skip_stream(len(data) - len(rest))  # past the buffer: its offset stays the stream's
            data = rest
            if not flow.pending and flow.envelope is Envelope.SIZED:
                self._finish_envelope(flow, ts, events)
        if data:
            flow.buf.append(data)
            self._frame_in_core(flow, data, ts, events)
        if len(flow.buf):  # with nothing buffered the loop has nothing to do, in any state
            self._run(flow, ts, events)
        flow.buf.compact()
        return events

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        flow = self._flows[direction]
        if flow.state is State.NOT_NMF or flow.state is State.FOREIGN:
            flow.buf.skip_stream(length)
            return []
        if flow.state is State.UPGRADED:
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
        self._start_resync(flow, Cause.GAP)
        return events

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        flow = self._flows[direction]
        events: list[Event] = []
        if flow.state is State.UPGRADED:
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
            if flow.state is State.UPGRADED:
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
            if flow.envelope is Envelope.SIZED:
                self._finish_envelope(flow, ts, events)
                continue
            record_offset = buf.offset
            try:
                if flow.state is State.RESYNC:
                    if not self._scan(flow, ts, events):
                        return
                    self._frame_chunk(flow, None, ts, events)  # framing found again: the core goes on
                    continue
                if flow.envelope is Envelope.UNSIZED:
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
                    self._start_resync(flow, Cause.NO_PREAMBLE)
                    continue
                if rtype > RecordType.PREAMBLE_END:
                    raise DecodeError("nmf_unknown_record", f"record type 0x{rtype:02x}", record_offset)
                record = RecordType(rtype)
                if next_state is None:
                    detail = f"{record.name} in state {flow.state.value}"
                    raise DecodeError("nmf_unexpected_record", detail, record_offset)
                fields = self._fields[record](self, buf)
                if fields is None:  # not all of the record is buffered yet
                    buf.rollback()
                    return
                self._applies[record](self, flow, fields, record_offset, ts, events)
                buf.commit()
                flow.ledger.decoded += buf.offset - record_offset
                flow.move(next_state)
                if next_state is State.UPGRADED:
                    self._enter_upgraded(flow, ts, events)
            except DecodeError as err:
                events.append(self._anomaly(flow, ts, err.name, err.detail, err.offset))
                if flow.in_envelope and not flow.discard:
                    flow.ledger.undo("undecodable", flow.collected)
                flow.drop_envelope()
                buf.rollback()  # the search starts at the bad record itself: it may be a good envelope
                self._start_resync(flow, Cause.BAD_RECORD)

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
