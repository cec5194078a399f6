"""[MC-NMF] mid-session envelope search: finding the next SizedEnvelope (2.2.3.5) without framing.

Captures usually start inside a duplex session that has been open for hours, and a gap or a bad record
loses the record boundaries: the direction (state RESYNC) is then scanned for a SizedEnvelope whose
payload decodes ([MC-NBFSE] session string table, then an [MC-NBFX] document); session strings defined
meanwhile render as placeholders (``unresolved``). ``envelope_start`` is the cheap plausibility test
shared with detection; ``_refuted`` decodes the buffered start of a large candidate to drop it early;
the give-up policy (``MAX_UNCONFIRMED_*`` in ``decoders.nmf_records``) moves a direction that never
showed framing to NOT_NMF, and the connection to FOREIGN.
"""

from . import nbfx
from ._buffer import read_mb31
from .anomalies import DecodeError
from .events import Event
from .nmf_codecs import decode_message
from .nmf_events import WcfEvents
from .nmf_records import Cause, RecordType, State, _Flow

MAX_ENVELOPE = 64 * 2**20  # larger envelopes are skipped (nmf_envelope_too_large)
MIN_ENVELOPE = 4  # smallest plausible binary envelope: table length, element, name, end


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


class EnvelopeSearch(WcfEvents):
    """The resynchronisation layer of ``NmfDecoder``: state RESYNC and the way out of it."""

    def _start_resync(self, flow: _Flow, cause: Cause) -> None:
        """Search for the next envelope; string tables sent meanwhile are lost, so later ids are unknown."""
        flow.session.lost()
        flow.shift(cause)
        flow.resync_from = flow.scan_from = flow.buf.offset

    def _keep_scanning(self, flow: _Flow, offset: int, ts: int, events: list[Event]) -> bool:
        """False (and the direction given up) once an unconfirmed search has passed its limit."""
        if flow.confirmed or offset - flow.resync_from <= flow.scan_limit:
            return True
        if flow.scan_limit:  # the first search of this direction: say so once
            detail = f"no [MC-NMF] framing in {offset - flow.resync_from} bytes; only envelope-like chunks are tried"
            events.append(self._anomaly(flow, ts, "nmf_no_sync", detail, flow.resync_from))
        flow.ledger.skip("resync", flow.buf.offset + len(flow.buf) - flow.resync_from)
        flow.shift(Cause.NO_FRAMING)
        flow.buf.skip_stream(0)
        return False

    def _give_up(self, flow: _Flow) -> None:
        """A direction proved foreign: [MC-NMF] frames both directions, so the connection is not net.tcp."""
        for each in self._flows.values():
            if not each.confirmed:
                each.shift(Cause.NOT_NET_TCP)
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
                flow.shift(Cause.ENVELOPE_FOUND)
                flow.envelope_offset, flow.payload_offset = base + pos, base + payload_pos
                self._message_events(flow, decoded, size, ts, events)
                return True
            pos += 1
