"""[MC-NMF] envelopes → ``wcf.message`` / ``wcf.fault`` events, from the SOAP view of each payload.

The payload is decoded by ``decoders.nmf_codecs.decode_message`` (either core); a payload that does not
decode is an anomaly named by the layer that refused it (``nbfx_*``, ``soap_*``, ``nmf_*``) at its stream
offset, and framing goes on. Replies get ``latency_ms`` from the connection's open requests
(``decoders.correlate``); more than ``MAX_PENDING`` open ones is ``wcf_too_many_pending``.
"""

from .anomalies import DecodeError
from .correlate import MAX_PENDING, Pending, request_latency
from .events import ConnFields, Event, WcfFault, WcfMessage
from .interface import DecoderOptions
from .models import construct
from .nmf_codecs import DecodedMessage, decode_message
from .nmf_records import FlowOwner, _Flow


class WcfEvents(FlowOwner):
    """The SOAP → events layer of ``NmfDecoder``."""

    def __init__(self, conn: ConnFields, options: DecoderOptions, max_envelope: int | None, max_scan: int) -> None:
        super().__init__(conn, options, max_envelope, max_scan)
        self._outstanding: Pending[str, int] = Pending(MAX_PENDING)  # request MessageID -> ts

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
        latency_ms, forgotten = request_latency(self._outstanding, message.message_id, message.relates_to, ts)
        if forgotten is not None:
            detail = f"more than {MAX_PENDING} requests without reply; forgot {forgotten}"
            events.append(self._anomaly(flow, ts, "wcf_too_many_pending", detail, flow.envelope_offset))
        fault = message.fault
        own = (
            {"body": message.body, "body_element": message.body_element}
            if fault is None
            else {"code": fault.code, "subcode": fault.subcode, "reason": fault.reason, "detail": fault.detail}
        )
        # typed by the codecs: built unvalidated, once per message (the tests validate what is written)
        events.append(
            construct(
                WcfMessage if fault is None else WcfFault,
                ts=ts,
                **self._conn,
                dir=flow.dir,
                action=message.action,
                message_id=message.message_id,
                relates_to=message.relates_to,
                to=message.to,
                reply_to=message.reply_to,
                size=size,
                soap_version=message.version,
                encoding=flow.codec.label,
                unresolved=decoded.unresolved,
                session_strings_added=decoded.added,
                xml=decoded.xml,
                latency_ms=latency_ms,
                **own,
            )
        )
