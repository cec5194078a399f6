"""[MS-NRTP] .NET Remoting over TCP: message frames → ``remoting.message`` events.

An older note says the iikoFront terminal link is .NET Remoting rather than WCF, so a connection whose
stream starts with the ``.NET`` preamble is decoded as Remoting, on 8506 or any port. Layers:
``remoting_frames`` (the frame head, headers and sized or chunked content of one direction) and
``nrbf`` ([MS-NRBF] binary formatter content → JSON); this module holds the decoder of one connection
(``decoders.interface.Decoder``), request/reply pairing and the byte accounting. Content typed
``text/xml`` is the SOAP formatter's: recognised, kept as text up to ``MAX_SOAP_TEXT``.

A malformed frame or stream is an ``anomaly`` at its stream offset; the direction then searches for
the next ``.NET`` preamble (bytes skipped: ``resync``) and goes on.
"""

from enum import Enum

from ._buffer import Buffer
from .accounting import Accounting, Ledger
from .anomalies import DecodeError
from .correlate import MAX_PENDING, Pending
from .events import Anomaly, ConnFields, Direction, Event, RemotingMessage
from .interface import DecoderOptions
from .nrbf import decode as decode_nrbf
from .remoting_frames import PREAMBLE, Frame, FrameReader, Operation, Step

__all__ = ["RemotingDecoder", "probe"]

OPERATION_TYPES = (0, 1, 2)  # request, one-way request, reply
CONTENT_DISTRIBUTIONS = (0, 1)  # sized, chunked
FRAME_HEAD = len(PREAMBLE) + 4
MAX_SOAP_TEXT = 1 << 20  # characters of a SOAP-formatted body kept in the event
OPERATION_NAMES = {Operation.REQUEST: "request", Operation.ONE_WAY: "one_way", Operation.REPLY: "reply"}


def _is_frame_start(head: bytes) -> bool | None:
    if len(head) < FRAME_HEAD:
        return None if PREAMBLE.startswith(head[: len(PREAMBLE)]) else False
    if not head.startswith(PREAMBLE):
        return False
    operation = int.from_bytes(head[6:8], "little")
    distribution = int.from_bytes(head[8:10], "little")
    return operation in OPERATION_TYPES and distribution in CONTENT_DISTRIBUTIONS


def probe(orig_head: bytes, resp_head: bytes) -> bool | None:
    """A Remoting frame at the start of either direction (a reply alone: a capture begun mid-call).

    False only once both directions have spoken and neither starts a frame.
    """
    verdicts = [_is_frame_start(head) for head in (orig_head, resp_head) if head]
    if True in verdicts:
        return True
    if len(verdicts) == 2 and None not in verdicts:
        return False
    return None


class Mode(Enum):
    FRAMES = "frames"  # reading frames
    RESYNC = "resync"  # searching for the next preamble after bad input


class _Flow:
    """One direction: its buffer, frame reader, mode and ledger."""

    __slots__ = ("buf", "dir", "ledger", "mode", "reader")

    def __init__(self, direction: Direction, max_content: int) -> None:
        self.dir: Direction = direction
        self.buf = Buffer()
        self.reader = FrameReader(self.buf, max_content)
        self.mode = Mode.FRAMES
        self.ledger = Ledger()


class RemotingDecoder:
    """[MS-NRTP] TCP channel decoder for one connection; both directions."""

    name = "remoting"
    wants_data = True

    def __init__(self, conn: ConnFields, options: DecoderOptions) -> None:
        self._conn = conn
        self._options = options
        self._flows = {d: _Flow(d, options.max_envelope) for d in ("orig", "resp")}
        # awaited requests by their place among the awaited: (ts, method, type, trans_depth)
        self._calls: Pending[int, tuple[int, str | None, str | None, int]] = Pending(MAX_PENDING)
        self._called = 0  # requests and one-way requests seen: the last one's trans_depth
        self._asked = 0  # requests that await a reply seen (the key of the next one)
        self._answered = 0  # replies seen: the n-th reply answers the n-th request

    # --- the Decoder interface ---------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        flow = self._flows[direction]
        flow.buf.append(data)
        events: list[Event] = []
        self._run(flow, ts, events)
        flow.buf.compact()
        return events

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        flow = self._flows[direction]
        events: list[Event] = []
        cut = self._cut(flow, "cut_by_gap")
        if cut is not None:
            events.append(self._anomaly(flow, ts, "nrtp_frame_lost", f"{length}-byte gap inside a frame", cut))
        flow.buf.skip_stream(length)
        flow.mode = Mode.RESYNC
        return events

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        flow = self._flows[direction]
        cut = self._cut(flow, "truncated")
        if cut is None:
            return []
        return [self._anomaly(flow, ts, "nrtp_truncated", "stream ended inside a frame", cut)]

    def accounting(self, direction: Direction) -> Accounting:
        return self._flows[direction].ledger.accounting()

    # --- frames ------------------------------------------------------------------------------------

    def _run(self, flow: _Flow, ts: int, events: list[Event]) -> None:
        while True:
            if flow.mode is Mode.RESYNC and not self._resync(flow):
                return
            try:
                frame = flow.reader.read()
            except DecodeError as err:
                events.append(self._anomaly(flow, ts, err.name, err.detail, err.offset))
                self._reject(flow)
                continue
            if frame is None:
                return
            flow.ledger.decoded += frame.wire
            events.append(self._message(flow, frame, ts, events))

    def _reject(self, flow: _Flow) -> None:
        """After bad framing: the frame's consumed bytes are rejected; search from the next byte."""
        reader = flow.reader
        if reader.frame is not None:
            flow.ledger.skip("rejected", reader.frame.wire)
        flow.buf.rollback()
        if reader.step is Step.HEAD:  # the bad head's own preamble must not be found again
            flow.buf.advance(1)
            flow.ledger.skip("rejected", 1)
            flow.buf.commit()
        reader.frame, reader.step = None, Step.HEAD
        flow.mode = Mode.RESYNC

    def _resync(self, flow: _Flow) -> bool:
        """Skip to the next preamble; False if none is buffered yet (a possible partial one is kept)."""
        buf = flow.buf
        found = buf.data.find(PREAMBLE, buf.pos)
        end = found if found >= 0 else max(buf.pos, len(buf.data) - len(PREAMBLE) + 1)
        flow.ledger.skip("resync", end - buf.pos)
        buf.advance(end - buf.pos)
        buf.commit()
        if found < 0:
            return False
        flow.mode = Mode.FRAMES
        return True

    def _cut(self, flow: _Flow, reason: str) -> int | None:
        """Count what a gap or the end leaves unread; the offset of the frame it cut, if any."""
        reader, buf = flow.reader, flow.buf
        buf.rollback()  # what is committed is counted already; the rest was never read whole
        buffered = len(buf)
        flow.ledger.skip("resync" if flow.mode is Mode.RESYNC else reason, buffered)
        offset = None
        if reader.frame is not None:
            flow.ledger.skip(reason, reader.frame.wire)
            offset = reader.frame.offset
        elif buffered and flow.mode is Mode.FRAMES:
            offset = buf.offset
        reader.frame, reader.step = None, Step.HEAD
        buf.advance(buffered)
        buf.commit()
        buf.compact()
        return offset

    # --- messages ----------------------------------------------------------------------------------

    def _message(self, flow: _Flow, frame: Frame, ts: int, events: list[Event]) -> RemotingMessage:
        headers = frame.headers
        content_type = headers.get("content_type")
        fields: dict[str, object] = {}
        if not flow.reader.keep:
            flow.ledger.undo("too_large", frame.size)
            detail = f"{frame.size}-byte content over the envelope_size limit; not decoded"
            events.append(self._anomaly(flow, ts, "nrtp_content_too_large", detail, frame.offset))
        elif isinstance(content_type, str) and content_type.startswith("text/"):
            fields["soap"] = b"".join(frame.pieces).decode("utf-8", "replace")[:MAX_SOAP_TEXT]
            action = frame.custom.get("SOAPAction", "").strip('"')  # "http://…/Namespace.Type/Assembly#Method"
            if "#" in action:
                fields["method"] = action.rsplit("#", 1)[1]
        elif frame.size:
            fields = self._content(flow, frame, ts, events)
        operation = OPERATION_NAMES[frame.operation]
        latency = depth = None
        method, type_name = fields.pop("method", None), fields.pop("type", None)
        if frame.operation is Operation.REPLY:
            request = None
            if self._answered < self._asked:  # else it answers a call made before the capture began
                request = self._calls.close(self._answered)
                self._answered += 1
            if request is not None:
                latency = (ts - request[0]) / 1e6
                method, type_name = method or request[1], type_name or request[2]
                depth = request[3]
        else:
            self._called += 1
            depth = self._called
            if frame.operation is Operation.REQUEST:
                self._calls.open(self._asked, (ts, method, type_name, depth))  # type: ignore[arg-type]
                self._asked += 1
        custom = dict(frame.custom)
        if headers.get("close_connection"):
            custom["close_connection"] = "true"
        status = headers.get("status")
        return RemotingMessage(
            ts=ts,
            **self._conn,
            dir=flow.dir,
            operation=operation,
            uri=headers.get("uri"),
            content_type=content_type,
            status=status if isinstance(status, int) else None,
            status_phrase=headers.get("status_phrase"),
            headers=custom,
            size=frame.size,
            method=method,
            type_name=type_name,
            trans_depth=depth,
            latency_ms=latency,
            **fields,
        )

    def _content(self, flow: _Flow, frame: Frame, ts: int, events: list[Event]) -> dict[str, object]:
        """The binary formatter stream as event fields; a bad stream is an anomaly, framing goes on."""
        options = self._options
        try:
            message = decode_nrbf(b"".join(frame.pieces), options.max_depth, options.max_elements)
        except DecodeError as err:
            flow.ledger.undo("undecodable", frame.size)
            head = frame.wire - frame.size if frame.distribution == 0 else 0
            offset = frame.offset + head + (err.offset or 0)
            events.append(self._anomaly(flow, ts, err.name, err.detail, offset, source="nrbf"))
            return {}
        if message.truncated:
            detail = f"object graph deeper than {options.max_depth}; cut there"
            events.append(self._anomaly(flow, ts, "nrbf_too_deep", detail, frame.offset, source="nrbf"))
        if message.call is None:
            return {"body": message.root, "truncated": message.truncated}
        call = message.call
        return {
            "method": call.get("method"),
            "type": call.get("type"),
            "args": call.get("args"),
            "return_value": call.get("return"),
            "exception": call.get("exception"),
            "call_context": call.get("call_context"),
            "truncated": message.truncated,
        }

    def _anomaly(
        self, flow: _Flow, ts: int, name: str, detail: str, offset: int | None, *, source: str = "nrtp"
    ) -> Anomaly:
        return Anomaly(ts=ts, **self._conn, dir=flow.dir, name=name, detail=detail, source=source, offset=offset)
