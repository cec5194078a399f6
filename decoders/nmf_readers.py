"""[MC-NMF] record readers: the fields of each record after its type byte (2.2.3.1–2.2.3.10).

A reader returns False when the record is not all buffered yet (the record loop rolls back and waits),
raises DecodeError on a malformed one, and otherwise updates the direction and appends its events.
Which record may come when is not decided here but by ``decoders.nmf_records.TRANSITIONS``.
"""

from collections.abc import Callable
from typing import ClassVar

from ._buffer import Buffer
from .anomalies import DecodeError
from .events import ConnFields, Event, NmfEnd, NmfFault, NmfPreamble
from .interface import DecoderOptions
from .nmf_codecs import KNOWN_ENCODINGS, Codec, codec_for, new_session
from .nmf_events import WcfEvents
from .nmf_records import MODES, RecordType, State, _Flow

MAX_STRING = 64 * 2**10  # Via, content type, fault and upgrade strings


class RecordReaders(WcfEvents):
    """The record layer of ``NmfDecoder``: one reader per ``RecordType``."""

    def __init__(self, conn: ConnFields, options: DecoderOptions, max_envelope: int | None, max_scan: int) -> None:
        super().__init__(conn, options, max_envelope, max_scan)
        self._upgrade_protocol: str | None = None

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

    # record type -> reader, as plain functions: bound methods kept on each decoder would make every
    # decoder a reference cycle, which only the (rarely run, ``cli._tune_gc``) cyclic collector frees
    _readers: ClassVar[dict[RecordType, Callable[["RecordReaders", _Flow, int, int, list[Event]], bool]]] = {
        RecordType.VERSION: _read_version,
        RecordType.MODE: _read_mode,
        RecordType.VIA: _read_via,
        RecordType.KNOWN_ENCODING: _read_known_encoding,
        RecordType.EXTENSIBLE_ENCODING: _read_extensible_encoding,
        RecordType.UNSIZED_ENVELOPE: _read_unsized_envelope,
        RecordType.SIZED_ENVELOPE: _read_sized_envelope,
        RecordType.END: _read_end,
        RecordType.FAULT: _read_fault,
        RecordType.UPGRADE_REQUEST: _read_upgrade_request,
        RecordType.UPGRADE_RESPONSE: _read_upgrade_response,
        RecordType.PREAMBLE_ACK: _read_preamble_ack,
        RecordType.PREAMBLE_END: _read_preamble_end,
    }
