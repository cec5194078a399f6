"""[MC-NMF] record readers: the fields of each record after its type byte (2.2.3.1–2.2.3.10).

Each record has two steps, in two tables: reading its fields from the buffer (None when the record is
not all buffered yet: the record loop rolls back and waits) and applying them (updating the direction,
appending its events, raising DecodeError on a malformed one). The compiled core reads the fields of
well-formed records itself and hands them to the same applying step (``decoders.nmf_core``). Which
record may come when is not decided here but by ``decoders.nmf_records.TRANSITIONS``.
"""

from collections.abc import Callable
from typing import Any, ClassVar

from ._buffer import Buffer
from .anomalies import DecodeError
from .events import ConnFields, Event, NmfEnd, NmfFault, NmfPreamble, NmfUpgrade
from .interface import DecoderOptions
from .models import construct
from .nmf_codecs import KNOWN_ENCODINGS, Codec, codec_for, new_session
from .nmf_events import WcfEvents
from .nmf_records import MODES, RecordType, State, _Flow
from .nns import SecuredStream

MAX_STRING = 64 * 2**10  # Via, content type, fault and upgrade strings (core/src/nmf.rs MAX_STRING)


def _no_fields(self: object, buf: Buffer) -> tuple[()]:
    return ()


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

    # --- what each record does, once its fields are read (here, or by the compiled core: nmf_core) ---

    def _apply_version(self, flow: _Flow, raw: bytes, offset: int, ts: int, events: list[Event]) -> None:
        if raw != b"\x01\x00":  # 2.2.3.1 MajorVersion, MinorVersion
            detail = f"version {raw[0]}.{raw[1]}, expected 1.0"
            events.append(self._anomaly(flow, ts, "nmf_bad_version", detail, offset))
        flow.version = f"{raw[0]}.{raw[1]}"
        if flow.state is State.ENDED:  # a new session: fresh string tables for both directions
            for each in self._flows.values():
                each.session = new_session()

    def _apply_mode(self, flow: _Flow, mode: int, offset: int, ts: int, events: list[Event]) -> None:
        if mode not in MODES:
            raise DecodeError("nmf_bad_mode", f"mode 0x{mode:02x}", offset)
        flow.mode = MODES[mode]

    def _apply_via(self, flow: _Flow, via: str, offset: int, ts: int, events: list[Event]) -> None:
        flow.via = via

    def _apply_known_encoding(self, flow: _Flow, value: int, offset: int, ts: int, events: list[Event]) -> None:
        if value in KNOWN_ENCODINGS:
            name, content_type = KNOWN_ENCODINGS[value]
        else:
            events.append(self._anomaly(flow, ts, "nmf_unknown_encoding", f"known encoding 0x{value:02x}", offset))
            name, content_type = f"unknown-0x{value:02x}", ""
        self._set_codec(flow, codec_for(content_type, name), name, content_type)

    def _apply_extensible_encoding(
        self, flow: _Flow, content_type: str, offset: int, ts: int, events: list[Event]
    ) -> None:
        self._set_codec(flow, codec_for(content_type), None, content_type)

    def _set_codec(self, flow: _Flow, codec: Codec, name: str | None, content_type: str) -> None:
        flow.encoding, flow.content_type = name, content_type
        for each in self._flows.values():  # the receiver answers in the initiator's encoding
            each.codec = codec
            each.wait_until = 0  # a candidate the search waits on is judged again by the new family

    def _apply_sized_envelope(self, flow: _Flow, size: int, offset: int, ts: int, events: list[Event]) -> None:
        flow.start_envelope(offset, flow.buf.offset, unsized=False)
        flow.pending = size
        if size > self._max_envelope:
            detail = f"{size}-byte envelope exceeds the {self._max_envelope}-byte limit envelope_size; skipped"
            events.append(self._anomaly(flow, ts, "nmf_envelope_too_large", detail, offset))
            flow.discard = True

    def _apply_unsized_envelope(self, flow: _Flow, _: object, offset: int, ts: int, events: list[Event]) -> None:
        flow.start_envelope(offset, flow.buf.offset, unsized=True)

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

    def _apply_end(self, flow: _Flow, _: object, offset: int, ts: int, events: list[Event]) -> None:
        events.append(construct(NmfEnd, ts=ts, **self._conn, dir=flow.dir))

    def _apply_fault(self, flow: _Flow, uri: str, offset: int, ts: int, events: list[Event]) -> None:
        events.append(NmfFault(ts=ts, **self._conn, dir=flow.dir, uri=uri))

    def _apply_upgrade_request(self, flow: _Flow, protocol: str, offset: int, ts: int, events: list[Event]) -> None:
        self._upgrade_protocol = protocol
        events.append(self._preamble_event(flow, ts))  # PreambleEnd follows inside the secured stream

    def _apply_nothing(self, flow: _Flow, _: object, offset: int, ts: int, events: list[Event]) -> None:
        """UpgradeResponse: the nmf.upgrade event follows once the direction has switched (``_run``)."""

    def _enter_upgraded(self, flow: _Flow, ts: int, events: list[Event]) -> None:
        """The direction switched to [MS-NNS] or TLS at the cursor (after the upgrade record, read here or by
        the core); the receiver's switch is reported at once."""
        flow.upgraded = SecuredStream(self._upgrade_protocol or "", flow.buf.offset)
        if flow.dir == "resp":
            events.append(self._upgrade_event(flow, ts, final=False))

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

    def _apply_preamble_ack(self, flow: _Flow, _: object, offset: int, ts: int, events: list[Event]) -> None:
        if flow.state is State.ENDED:
            flow.session = new_session()

    def _apply_preamble_end(self, flow: _Flow, _: object, offset: int, ts: int, events: list[Event]) -> None:
        events.append(self._preamble_event(flow, ts))

    def _preamble_event(self, flow: _Flow, ts: int) -> NmfPreamble:
        return construct(  # typed by the record readers, once per connection: unvalidated
            NmfPreamble,
            ts=ts,
            **self._conn,
            dir=flow.dir,
            version=flow.version,
            mode=flow.mode,
            via=flow.via,
            encoding=flow.encoding,
            content_type=flow.content_type,
        )

    # record type -> its fields after the type byte, or None if not all buffered (2.2.3.1-2.2.3.10)
    _fields: ClassVar[dict[RecordType, Callable[["RecordReaders", Buffer], object]]] = {
        RecordType.VERSION: lambda self, buf: buf.take(2),
        RecordType.MODE: lambda self, buf: buf.byte(),
        RecordType.VIA: lambda self, buf: self._string(buf, "Via"),
        RecordType.KNOWN_ENCODING: lambda self, buf: buf.byte(),
        RecordType.EXTENSIBLE_ENCODING: lambda self, buf: self._string(buf, "content type"),
        RecordType.UNSIZED_ENVELOPE: _no_fields,
        RecordType.SIZED_ENVELOPE: lambda self, buf: self._mb31(buf),
        RecordType.END: _no_fields,
        RecordType.FAULT: lambda self, buf: self._string(buf, "fault"),
        RecordType.UPGRADE_REQUEST: lambda self, buf: self._string(buf, "upgrade protocol"),
        RecordType.UPGRADE_RESPONSE: _no_fields,
        RecordType.PREAMBLE_ACK: _no_fields,
        RecordType.PREAMBLE_END: _no_fields,
    }
    # record type -> what it does, as plain functions: bound methods kept on each decoder would make every
    # decoder a reference cycle, which only the (rarely run, ``cli._tune_gc``) cyclic collector frees
    _applies: ClassVar[dict[RecordType, Callable[["RecordReaders", _Flow, Any, int, int, list[Event]], None]]] = {
        RecordType.VERSION: _apply_version,
        RecordType.MODE: _apply_mode,
        RecordType.VIA: _apply_via,
        RecordType.KNOWN_ENCODING: _apply_known_encoding,
        RecordType.EXTENSIBLE_ENCODING: _apply_extensible_encoding,
        RecordType.UNSIZED_ENVELOPE: _apply_unsized_envelope,
        RecordType.SIZED_ENVELOPE: _apply_sized_envelope,
        RecordType.END: _apply_end,
        RecordType.FAULT: _apply_fault,
        RecordType.UPGRADE_REQUEST: _apply_upgrade_request,
        RecordType.UPGRADE_RESPONSE: _apply_nothing,
        RecordType.PREAMBLE_ACK: _apply_preamble_ack,
        RecordType.PREAMBLE_END: _apply_preamble_end,
    }
