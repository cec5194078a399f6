"""[MC-NMF] envelopes → ``wcf.message`` / ``wcf.fault`` events.

A payload of the binary families becomes its event in the compiled core when it is in use
(``decoders._core.WcfEventMaker``, core/src/wcf_python.rs); any other, or every one without the core,
is decoded by ``decoders.nmf_codecs.decode_message`` and its event built here from the SOAP view — the
reference, which the differential tests hold the core's events to. A payload that does not decode is
an anomaly named by the layer that refused it (``nbfx_*``, ``soap_*``, ``nmf_*``) at its stream offset,
and framing goes on. Replies get ``latency_ms`` from the connection's open requests
(``decoders.correlate``); more than ``MAX_PENDING`` open ones is ``wcf_too_many_pending``.
"""

from typing import Any

from .anomalies import DecodeError
from .core import RUST
from .correlate import MAX_PENDING, Pending, request_latency
from .events import ConnFields, Direction, Event, WcfFault, WcfMessage, core_model
from .interface import DecoderOptions
from .json_text import JsonText
from .models import construct
from .nmf_codecs import CORE_FAMILIES, DecodedMessage, decode_message, inflated
from .nmf_records import FlowOwner, _Flow


class WcfEvents(FlowOwner):
    """The SOAP → events layer of ``NmfDecoder``."""

    def __init__(self, conn: ConnFields, options: DecoderOptions, max_envelope: int | None, max_scan: int) -> None:
        super().__init__(conn, options, max_envelope, max_scan)
        # request MessageID -> ts; the core's table when it is in use, which pairs whole envelopes itself
        self._outstanding: Pending[str, int] = Pending(MAX_PENDING) if RUST is None else RUST.Outstanding(MAX_PENDING)
        self._maker = None if RUST is None else core_maker(conn, options)

    def _message(self, flow: _Flow, payload: bytes, ts: int, events: list[Event]) -> None:
        """Decode one complete envelope payload; a bad payload is an anomaly, framing goes on."""
        try:
            event = self._event(flow, payload, ts)
        except DecodeError as err:
            self._undecodable(flow, err, flow.payload_offset, len(payload), ts, events)
            return
        self._paired(flow, event, ts, events)

    def _undecodable(
        self, flow: _Flow, err: DecodeError, payload_offset: int, size: int, ts: int, events: list[Event]
    ) -> None:
        """A payload that did not decode: its bytes undecodable, an anomaly named by the layer that refused it."""
        flow.ledger.undo("undecodable", size)
        source = err.name.split("_", 1)[0]
        events.append(self._anomaly(flow, ts, err.name, err.detail, payload_offset + (err.offset or 0), source=source))

    def _event(self, flow: _Flow, payload: bytes, ts: int) -> WcfMessage | WcfFault:
        """The event of one envelope payload, its latency not yet known; DecodeError if it does not decode."""
        codec = flow.codec
        if self._maker is not None and codec.family in CORE_FAMILIES:
            data = inflated(payload, codec, self._options)
            table = codec.family == "binary-session"
            return self._maker.event(data, flow.session, ts, flow.dir, len(payload), codec.label, table)  # type: ignore[no-any-return]
        decoded = decode_message(payload, codec, flow.session, self._options)
        return reference_event(self._conn, flow.dir, codec.label, decoded, len(payload), ts)

    def _paired(self, flow: _Flow, event: WcfMessage | WcfFault, ts: int, events: list[Event]) -> None:
        """The event, with its latency if it answers an open request, after the anomaly of a request
        forgotten to make room. The event is still this decoder's alone: its latency is set in place."""
        fields = event.__dict__
        latency_ms, forgotten = request_latency(self._outstanding, fields["message_id"], fields["relates_to"], ts)
        if forgotten is not None:
            self._forgot(flow, forgotten, flow.envelope_offset, ts, events)
        fields["latency_ms"] = latency_ms
        events.append(event)

    def _forgot(self, flow: _Flow, forgotten: str, envelope_offset: int, ts: int, events: list[Event]) -> None:
        detail = f"more than {MAX_PENDING} requests without reply; forgot {forgotten}"
        events.append(self._anomaly(flow, ts, "wcf_too_many_pending", detail, envelope_offset))


def reference_event(
    conn: ConnFields, direction: Direction, encoding: str, decoded: DecodedMessage, size: int, ts: int
) -> WcfMessage | WcfFault:
    """The event of a message the pure-Python decoders read (the core's events are held to it), its
    latency not yet known."""
    message = decoded.message
    fault = message.fault
    own = (
        {"body": message.body, "body_element": message.body_element}
        if fault is None
        else {"code": fault.code, "subcode": fault.subcode, "reason": fault.reason, "detail": fault.detail}
    )
    # typed by the codecs: built unvalidated, once per message (the tests validate what is written)
    return construct(  # type: ignore[return-value]
        WcfMessage if fault is None else WcfFault,
        ts=ts,
        **conn,
        dir=direction,
        action=message.action,
        message_id=message.message_id,
        relates_to=message.relates_to,
        to=message.to,
        reply_to=message.reply_to,
        size=size,
        soap_version=message.version,
        encoding=encoding,
        unresolved=decoded.unresolved,
        session_strings_added=decoded.added,
        xml=decoded.xml,
        latency_ms=None,
        **own,
    )


def core_maker(conn: ConnFields, options: DecoderOptions) -> Any:
    """The core's event maker for one connection's envelopes (``decoders._core.WcfEventMaker``)."""
    return RUST.WcfEventMaker(  # type: ignore[union-attr]
        core_model(WcfMessage, **conn),
        core_model(WcfFault, **conn),
        JsonText,
        xml=options.xml,
        max_depth=options.max_depth,
        max_elements=options.max_elements,
        max_session_bytes=options.max_session_bytes,
    )
