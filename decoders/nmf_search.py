"""[MC-NMF] mid-session envelope search: finding the next SizedEnvelope (2.2.3.5) without framing.

Captures usually start inside a duplex session that has been open for hours, and a gap or a bad record
loses the record boundaries: the direction (state RESYNC) is then scanned for a SizedEnvelope whose
payload decodes ([MC-NBFSE] session string table, then an [MC-NBFX] document); session strings defined
meanwhile render as placeholders (``unresolved``). ``envelope_start`` is the cheap plausibility test
shared with detection; ``_refuted`` decodes the buffered start of a large candidate to drop it early;
``find_candidate`` walks the candidates of the buffer up to the first one to decide on. The three run
in the compiled core when it is in use (core/src/nmf_search.rs, the same verdicts: tests/test_core_nmf_search.py);
the ``*_python`` functions here are the reference and the fallback. ``EnvelopeSearch`` decodes each whole
candidate (``WcfEvents._event``) and keeps the events, anomalies and accounting, and the give-up policy
(``MAX_UNCONFIRMED_*`` in ``decoders.nmf_records``), which moves a direction that never showed framing to
NOT_NMF, and the connection to FOREIGN.
"""

import sys
from collections.abc import Callable
from enum import IntEnum
from typing import ClassVar

from . import nbfx
from ._buffer import read_mb31
from .anomalies import DecodeError
from .core import RUST
from .events import Event
from .nmf_events import WcfEvents
from .nmf_records import Cause, RecordType, State, _Flow

MAX_ENVELOPE = 64 * 2**20  # larger envelopes are skipped (nmf_envelope_too_large)
MIN_ENVELOPE = 4  # smallest plausible binary envelope: table length, element, name, end


def _element_record(byte: int) -> bool:
    """[MC-NBFX] 2.2.3.1–2.2.3.8: element records are 0x40–0x77; a document starts with one."""
    return 0x40 <= byte <= 0x77


def envelope_start_python(
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


class Found(IntEnum):
    """Where ``find_candidate`` stopped (core/src/nmf_search.rs ``Found``, by code)."""

    WHOLE = 0  # a plausible SizedEnvelope, all of it buffered: decode it
    WAIT = 1  # the candidate at the offset needs more bytes to be judged or completed
    LIMIT = 2  # the next candidate lies past an unconfirmed search's limit
    END = 3  # no candidate left before the end of the bytes


# (found, stream offset, payload offset, size, until, prefix_checked); ``until``: with WAIT, the offset the
# waiting envelope ends at when nothing before it can change the verdict (else None)
Candidate = tuple[int, int, int, int, int | None, int | None]
Finder = Callable[[bytes, int, int, int, int, int, str, int | None], Candidate]


def _settled(chunk: bytes, payload_pos: int, family: str) -> bool:
    """Whether ``envelope_start`` saw all it looks at (for binary+session, the byte after the table)."""
    if family != "binary-session":
        return True
    try:
        table_len, doc = read_mb31(chunk, payload_pos, len(chunk))
    except DecodeError:
        return False
    return doc >= 0 and doc + table_len < len(chunk)


def find_candidate_python(
    chunk: bytes,
    base: int,
    start: int,
    limit: int,
    max_envelope: int,
    max_scan: int,
    family: str,
    prefix_checked: int | None,
) -> Candidate:
    """The next candidate from ``chunk[start:]`` (``chunk[0]`` at stream offset ``base``) to decide on.

    Candidates start at offsets up to ``limit``, pass ``envelope_start`` and hold at most ``max_scan``
    bytes; one whose envelope is not all here is refuted by its buffered start once (``prefix_checked``).
    """
    pos = start
    while True:
        pos = chunk.find(RecordType.SIZED_ENVELOPE, pos)
        if pos < 0:
            return Found.END, base + len(chunk), 0, 0, None, prefix_checked
        if base + pos > limit:
            return Found.LIMIT, base + pos, 0, 0, None, prefix_checked
        verdict = envelope_start_python(chunk, pos, max_envelope, family)
        if verdict is None:
            return Found.WAIT, base + pos, 0, 0, None, prefix_checked
        if verdict:
            size, payload_pos = read_mb31(chunk, pos + 1, len(chunk))
            end = payload_pos + size
            if end - pos <= max_scan:  # else too big to hold while unsure it is an envelope at all
                if end <= len(chunk):
                    return Found.WHOLE, base + pos, base + payload_pos, size, None, prefix_checked
                refuted = False
                if prefix_checked != base + pos:
                    prefix_checked = base + pos
                    refuted = _refuted(chunk, payload_pos, family)
                if not refuted:
                    until = base + end if _settled(chunk, payload_pos, family) else None
                    return Found.WAIT, base + pos, 0, 0, until, prefix_checked
        pos += 1


envelope_start: Callable[..., bool | None] = envelope_start_python if RUST is None else RUST.nmf_envelope_start
"""``envelope_start_python`` or the core's, the same verdicts (detection and not-NMF chunks use it)."""
FINDER: Finder = find_candidate_python if RUST is None else RUST.nmf_find_candidate
"""``find_candidate_python`` or the core's scanning loop."""


class EnvelopeSearch(WcfEvents):
    """The resynchronisation layer of ``NmfDecoder``: state RESYNC and the way out of it."""

    _finder: ClassVar[Finder] = staticmethod(FINDER)
    _envelope_start: ClassVar[Callable[..., bool | None]] = staticmethod(envelope_start)

    def _start_resync(self, flow: _Flow, cause: Cause) -> None:
        """Search for the next envelope; string tables sent meanwhile are lost, so later ids are unknown."""
        flow.session.lost()
        flow.shift(cause)
        flow.resync_from = flow.scan_from = flow.buf.offset
        flow.wait_until = 0

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

        The finder walks the candidates; each whole one must decode. The direction's string table is
        un-anchored by now, so a failed candidate's table cannot corrupt known ids. The bytes searched
        are copied once per call, from where the last call stopped.
        """
        buf = flow.buf
        base = buf.offset - buf.pos  # stream offset of buf.data[0]
        if flow.wait_until > base + len(buf.data):  # a settled candidate still waits for its end
            return False
        first = max(flow.scan_from - base, buf.pos)
        chunk, chunk_base = bytes(buf.data[first:]), base + first
        limit = sys.maxsize if flow.confirmed else flow.resync_from + flow.scan_limit
        family, start = flow.codec.family, 0
        while True:
            found, offset, payload_offset, size, until, flow.prefix_checked = self._finder(
                chunk, chunk_base, start, limit, self._max_envelope, self._max_scan, family, flow.prefix_checked
            )
            if found == Found.WAIT:
                flow.scan_from, flow.wait_until = offset, until or 0
                return False
            if found == Found.LIMIT:  # past an unconfirmed search's limit: the direction gives up
                self._keep_scanning(flow, offset, ts, events)
                return False
            if found == Found.END:
                flow.scan_from = offset
                if self._keep_scanning(flow, offset, ts, events) and len(buf) > self._max_scan:
                    buf.advance(len(buf))  # nothing to wait for: let the bytes go
                    buf.commit()
                return False
            payload_at = payload_offset - chunk_base
            try:
                event = self._event(flow, chunk[payload_at : payload_at + size], ts)
            except DecodeError:
                start = offset - chunk_base + 1
                continue
            skipped = offset - flow.resync_from
            flow.ledger.skip("resync", skipped)
            flow.ledger.decoded += payload_offset + size - offset
            if skipped:
                detail = f"skipped {skipped} bytes to the envelope at {offset}"
                events.append(self._anomaly(flow, ts, "nmf_resync", detail, flow.resync_from))
            buf.advance(payload_offset + size - buf.offset)
            buf.commit()
            flow.shift(Cause.ENVELOPE_FOUND)
            flow.envelope_offset, flow.payload_offset = offset, payload_offset
            self._paired(flow, event, ts, events)
            return True
