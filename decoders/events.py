"""Every event kind wirecap emits, as one pydantic model each.

These models are the single source of the JSON Lines output, of ``wirecap schema`` (``decoders.schema``)
and of the tests; the iiko layer's events are in ``decoders.iiko_events``, the unvalidated building of
models in ``decoders.models``.
Inside, time is integer nanoseconds since the Unix epoch; on output it becomes ISO-8601 UTC with
microseconds and ``Z``. ``seq`` is assigned by the sink in output order (0 until then).

Connection-bound events carry ``uid`` (Zeek-style connection id), ``community_id`` (Community ID v1),
``orig`` and ``resp`` (``"10.0.0.5:51234"``, ``"[fe80::1]:8506"``) and the same endpoints split with
Zeek's names ``orig_h``, ``orig_p``, ``resp_h``, ``resp_p`` (for jq: ``select(.resp_p == 8506)``); events of
one direction also carry ``dir``. Decoders build events with the connection's ``ConnFields`` spread in:
``Ev(**conn, ...)``.
"""

import time
from functools import cache, lru_cache
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from .json_text import JsonBody
from .models import template

Direction = Literal["orig", "resp"]


def format_ts(ns: int) -> str:
    """Integer nanoseconds → ``2026-11-29T00:36:11.123456Z`` (truncated to microseconds)."""
    sec, rem = divmod(ns, 1_000_000_000)
    return f"{_utc_second(sec)}.{rem // 1000:06d}Z"


@lru_cache(maxsize=256)  # a pure function's memo: events come in time order, many per second
def _utc_second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


Timestamp = Annotated[
    int,
    PlainSerializer(format_ts, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class ConnFields(TypedDict):
    """The identity of a connection, spread into every connection-bound event."""

    uid: str
    community_id: str
    orig: str
    resp: str
    orig_h: str  # the originator's address, bare ("fe80::1", no brackets)
    orig_p: int
    resp_h: str
    resp_p: int


class Event(BaseModel):
    """Fields on every output line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: Timestamp
    seq: int = 0
    kind: str


# what the fields-given set of an event made unvalidated (``decoders.models.construct``, the core's event
# makers) lacks of its fields: the sink's numbers and the kind, which the class gives
NOT_GIVEN = frozenset({"seq", "kind", "request_seq"})


def core_model(cls: type[Event], /, **conn: Any) -> tuple[type[Event], dict[str, Any], frozenset[str]]:
    """What the core's event makers (``WcfEventMaker``, ``RmsEventMaker``) take for a model: the class,
    its ``template`` with a connection's fields set, and the names its events' fields-given set holds."""
    return cls, template(cls, **conn), _given(cls)


@cache
def _given(cls: type[Event]) -> frozenset[str]:
    return frozenset(cls.model_fields) - NOT_GIVEN


class ConnEvent(Event):
    uid: str
    community_id: str
    orig: str
    resp: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int


class DirEvent(ConnEvent):
    dir: Direction


# --- foundation: connections, TCP, anomalies -------------------------------------------------------


class ConnOpen(ConnEvent):
    """First packet of a TCP connection seen (with or without its SYN)."""

    kind: Literal["conn.open"] = "conn.open"
    mid_stream: bool  # no SYN seen: the capture started inside the connection


class DirectionStats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bytes: int  # stream bytes delivered in order (gaps excluded)
    packets: int
    gaps: int  # number of holes in the stream
    gap_bytes: int  # the missing bytes: never captured
    # what became of ``bytes``: decoded + sum(skipped) == bytes (wirecap.ledger)
    decoded: int = 0  # in framed records or messages a decoder understood (framing included)
    skipped: dict[str, int] = {}  # reason -> bytes no decoder understood (resync, encrypted, undecoded, …)


class ConnClose(ConnEvent):
    """A connection ended: by FIN from both sides, RST, idle timeout, the end of the input, evicted
    (the idlest open connection, closed to make room when ``max_connections`` are open), or a live
    capture's shutdown (SIGINT, SIGTERM, ``--duration``, ``-c``)."""

    kind: Literal["conn.close"] = "conn.close"
    reason: Literal["fin", "rst", "timeout", "end-of-input", "evicted", "shutdown"]
    duration: float  # seconds from first to last packet
    orig_stats: DirectionStats
    resp_stats: DirectionStats
    service: str | None  # the protocol that decoded at least one framed record or message, else None
    service_guess: str | None = None  # the protocol assumed (from the port) whose decoder found no framing
    anomalies: dict[str, int]  # name -> count, including those rate-limited away from the stream


class TcpGap(DirEvent):
    """Stream bytes that were never captured; decoding resumes after them."""

    kind: Literal["tcp.gap"] = "tcp.gap"
    offset: int  # stream offset (bytes since the first byte of the direction) where the hole starts
    length: int


class Anomaly(Event):
    """Something in the input was wrong or unexpected; ``name`` is listed in ``decoders.anomalies``."""

    kind: Literal["anomaly"] = "anomaly"
    name: str
    detail: str
    source: str  # layer that noticed: pcap, ip, tcp, nmf, nbfx, http, …
    offset: int | None = None  # stream offset (connection-bound) or file offset (pcap)
    dir: Direction | None = None
    uid: str | None = None
    community_id: str | None = None
    orig: str | None = None
    resp: str | None = None
    orig_h: str | None = None
    orig_p: int | None = None
    resp_h: str | None = None
    resp_p: int | None = None


class CaptureStats(Event):
    """A live capture's counters so far (``wirecap live``: every ``--stats-interval`` s and at exit).

    ``received``, ``dropped`` and ``ifdropped`` are libpcap's (``pcap_stats``) summed over the interfaces:
    packets the kernel filter passed, packets the kernel dropped because its buffer was full, packets
    the interface or driver dropped. ``queue_*`` concern the bounded queue between the capture process and
    the decoder: packets lost because it was full, and its fullest point.
    """

    kind: Literal["capture.stats"] = "capture.stats"
    final: bool  # written at exit
    elapsed: float  # seconds since the capture started
    received: int
    dropped: int
    ifdropped: int
    queue_dropped: int  # packets the capture process could not queue (queue full)
    queue_high_water: int  # most bytes ever waiting in the queue
    queue_limit: int  # the queue's size in bytes
    output_blocked: float  # seconds writes to the output were blocked (a stalled reader), in total
    packets: int  # packets decoded so far
    events: int  # events written before this one
    anomalies: int  # anomalies counted, including those rate-limited away from the stream


FOUNDATION_EVENTS: tuple[type[Event], ...] = (ConnOpen, ConnClose, TcpGap, Anomaly, CaptureStats)


# --- [MC-NMF] / WCF (decoders.nmf) ----------------------------------------------------------------


class NmfPreamble(DirEvent):
    """The initiator's [MC-NMF] preamble: sent on PreambleEnd, or on UpgradeRequest (the rest is secured)."""

    kind: Literal["nmf.preamble"] = "nmf.preamble"
    version: str  # "1.0"
    mode: str  # singleton-unsized | duplex | simplex | singleton-sized
    via: str  # the endpoint URI
    encoding: str | None  # known encoding name (soap1.2-binary-session …); None for an extensible one
    content_type: str  # the extensible encoding's content type, or the one the known encoding stands for


class NmfUpgrade(DirEvent):
    """A stream upgrade ([MS-NNS] NegotiateStream or TLS): on the UpgradeResponse, and per direction at eof."""

    kind: Literal["nmf.upgrade"] = "nmf.upgrade"
    protocol: str  # application/negotiate | application/ssl-tls
    auth_package: Literal["NTLM", "Kerberos", "SPNEGO", "TLS"] | None
    auth_mech: str | None = None  # the package SPNEGO settled on (NTLM, Kerberos, or an OID); see nns.auth
    frames: int  # [MS-NNS] data messages / TLS records of this direction so far
    bytes: int  # bytes of this direction after the upgrade (encrypted)
    final: bool  # True for the totals at the end of the direction


class SpnegoInfo(BaseModel):
    """RFC 4178 4.2 NegotiationToken fields (the mechListMIC is never shown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: Literal["NegTokenInit", "NegTokenResp"]
    mech_types: list[str] = []  # NegTokenInit mechTypes, dotted OIDs, the initiator's preference first
    neg_state: str | None = None  # NegTokenResp: accept-completed | accept-incomplete | reject | request-mic
    supported_mech: str | None = None  # NegTokenResp: the mechanism the acceptor chose, dotted OID


class NtlmInfo(BaseModel):
    """[MS-NLMP] 2.2.1 message fields that name the parties; challenge, responses, MIC and keys never."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: Literal["NEGOTIATE", "CHALLENGE", "AUTHENTICATE"]
    flags: str  # NegotiateFlags, [MS-NLMP] 2.2.2.5, as hex: "0xe2088297"
    domain: str | None = None  # NEGOTIATE (if supplied) / AUTHENTICATE DomainName
    user: str | None = None  # AUTHENTICATE UserName
    workstation: str | None = None  # NEGOTIATE (if supplied) / AUTHENTICATE Workstation
    target: str | None = None  # CHALLENGE TargetName
    target_info: dict[str, str] | None = None  # CHALLENGE AV pairs: nb_domain, dns_computer, ...
    version: str | None = None  # the sender's Version field: "10.0.19041 NTLM rev 15"
    ntlm_version: Literal["v1", "v2", "anonymous"] | None = None  # AUTHENTICATE: the response type sent


class KerberosInfo(BaseModel):
    """RFC 4120 5.5 AP-REQ / AP-REP / KRB-ERROR fields; no cipher text, key or checksum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: Literal["AP-REQ", "AP-REP", "KRB-ERROR"]
    realm: str | None = None  # the ticket's (AP-REQ) or the error's realm
    sname: str | None = None  # service principal, components joined by "/": "HTTP/pos1.store.local"
    etype: int | None = None  # RFC 3961 etype of the ticket's enc-part (AP-REQ) or the enc-part (AP-REP)
    kvno: int | None = None  # key version of that enc-part, if sent
    authenticator_etype: int | None = None  # AP-REQ: etype of the authenticator (the session key's)
    mutual: bool | None = None  # AP-REQ: ap-options mutual-required
    error_code: int | None = None  # KRB-ERROR, RFC 4120 7.5.9
    error_text: str | None = None  # KRB-ERROR e-text


class NnsAuth(DirEvent):
    """One [MS-NNS] 2.2.1 handshake token after an application/negotiate upgrade: package, message, names."""

    kind: Literal["nns.auth"] = "nns.auth"
    handshake: Literal["in_progress", "done", "error"]  # MessageId: HandshakeInProgress, -Done, -Error
    size: int  # token bytes
    package: Literal["SPNEGO", "Kerberos", "NTLM"] | None  # the token's own package; None if not recognised
    mech: str | None  # the package doing the work: Kerberos or NTLM inside SPNEGO (else an OID), or package
    message: str | None  # the innermost message: AP-REQ, CHALLENGE, ..., else NegTokenInit / NegTokenResp
    spnego: SpnegoInfo | None = None
    ntlm: NtlmInfo | None = None
    kerberos: KerberosInfo | None = None


class NmfFault(DirEvent):
    """An [MC-NMF] Fault record (the peer refuses the session or a message)."""

    kind: Literal["nmf.fault"] = "nmf.fault"
    uri: str


class NmfEnd(DirEvent):
    """An [MC-NMF] End record: the sender's session is over."""

    kind: Literal["nmf.end"] = "nmf.end"


class WcfEnvelope(DirEvent):
    """Fields shared by every decoded SOAP envelope."""

    action: str | None
    message_id: str | None
    relates_to: str | None
    to: str | None
    reply_to: str | None
    size: int  # envelope payload bytes on the wire
    soap_version: str | None
    encoding: str  # known encoding name or content type
    unresolved: int  # session strings defined before the capture, rendered as placeholders
    session_strings_added: int  # [MC-NBFSE] strings this envelope added to its direction's table
    xml: str | None = None  # the whole envelope as XML text (only with --xml)
    request_seq: int | None = None  # filled by the sink: seq of the request this replies to
    latency_ms: float | None = None  # reply ts minus request ts


class WcfMessage(WcfEnvelope):
    """A SOAP message carried in an [MC-NMF] envelope."""

    kind: Literal["wcf.message"] = "wcf.message"
    body: JsonBody  # the body element as JSON
    body_element: str | None


class WcfFault(WcfEnvelope):
    """A SOAP fault carried in an [MC-NMF] envelope."""

    kind: Literal["wcf.fault"] = "wcf.fault"
    code: str | None  # as written, e.g. "s:Sender" or a custom code
    subcode: str | None  # SOAP 1.2 Code/Subcode/Value
    reason: str | None
    detail: JsonBody


NMF_EVENTS: tuple[type[Event], ...] = (NmfPreamble, NmfUpgrade, NnsAuth, NmfFault, NmfEnd, WcfMessage, WcfFault)


# --- .NET Remoting (decoders.remoting) -------------------------------------------------------------


class RemotingMessage(DirEvent):
    """One [MS-NRTP] TCP message frame: a request, one-way request or reply, and its decoded content."""

    kind: Literal["remoting.message"] = "remoting.message"
    operation: Literal["request", "one_way", "reply"]
    uri: str | None  # the request's RequestUri header (tcp://host:port/Object.rem or the object's path)
    content_type: str | None  # application/octet-stream (binary formatter) or text/xml (SOAP formatter)
    status: int | None  # the reply's StatusCode header (0 success, 1 error), when sent
    status_phrase: str | None
    headers: dict[str, str]  # custom headers, and close_connection when asked for
    size: int  # message content bytes on the wire
    method: str | None  # BinaryMethodCall MethodName (a reply: the request's)
    type_name: str | None  # the called type's assembly-qualified name (a reply: the request's)
    args: Any = None  # arguments (a call) or out/ref arguments (a return), as JSON
    return_value: Any = None
    exception: Any = None  # the exception object a call threw, as JSON
    call_context: Any = None  # the logical call context, when it travels
    body: Any = None  # a stream that is not a method message (its root object), as JSON
    soap: str | None = None  # a SOAP-formatted body as text (up to the text limit)
    truncated: bool = False  # the object graph was cut at the depth limit
    # the call's number on this connection, from 1, counting requests and one-way requests (Zeek's
    # trans_depth); a reply carries its request's: [MS-NRTP] answers a connection's calls in order
    trans_depth: int | None = None
    request_seq: int | None = None  # filled by the sink: seq of the request this replies to
    latency_ms: float | None = None  # reply ts minus request ts


REMOTING_EVENTS: tuple[type[Event], ...] = (RemotingMessage,)

# --- HTTP / iikoRMS server link (decoders.http) ----------------------------------------------------


class RmsCall(ConnEvent):
    """One HTTP request and its response (iikoRMS: ``POST /resto/services/<service>?methodName=<m>``).

    Emitted when the response ends, or when a gap, an error or the end of the capture cuts it short
    (``complete`` false; ``status`` None if no response was seen, e.g. a long poll still waiting).
    """

    kind: Literal["rms.call"] = "rms.call"
    method: str
    uri: str
    service: str | None  # <service> of /resto/services/<service>
    method_name: str | None  # methodName= of the query
    terminal_id: str | None  # X-Resto-TerminalId
    login_name: str | None  # X-Resto-LoginName
    correlation_id: str | None  # X-Resto-CorrelationId
    request_headers: dict[str, str]  # lower-cased names; password hash and credentials redacted
    status: int | None
    reason: str | None
    success: bool | None  # <result><success> of the reply
    error_string: str | None  # <result><errorString>
    request_ts: Timestamp  # when the request head arrived
    duration_ms: float | None  # request head to end of response
    request_body_bytes: int  # as transferred (de-chunked, still content-coded)
    request_decoded_bytes: int | None  # after gzip/deflate; None if not decoded
    response_body_bytes: int
    response_decoded_bytes: int | None
    response_headers: dict[str, str]
    complete: bool
    request: JsonBody = None  # XML body as JSON: {"root": {"child": "text", "@attr": …, "#text": …}}
    response: JsonBody = None


HTTP_EVENTS: tuple[type[Event], ...] = (RmsCall,)
