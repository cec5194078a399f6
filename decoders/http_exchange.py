"""One request/response pair of the iikoRMS link as decoders.http collects it, whichever framer read it
(h11, or the compiled core's fast path): the request line, headers as text, the bodies as they arrive;
and the ``rms.call`` event it becomes.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .anomalies import DecodeError
from .events import Anomaly, ConnFields, Direction, Event, RmsCall, core_model
from .http_body import Body, body_json, resto_call, result_fields
from .interface import DecoderOptions
from .json_text import JsonText
from .models import construct

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset(
    {"x-resto-passwordhash", "authorization", "cookie", "proxy-authorization"}
    | {"set-cookie", "www-authenticate", "proxy-authenticate"}  # cookies set, NTLM/Negotiate challenge tokens
)


@dataclass
class Exchange:
    """One request and, once it arrives, its response."""

    ts: int
    method: str
    target: str
    http_version: str
    headers: dict[str, str]
    request: Body
    response: Body
    status: int | None = None
    reason: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    sent: bool = False  # told to the CLIENT-role parser

    def closes(self) -> bool:
        """Whether the connection ends after this exchange's response (``_announce_next`` tells h11 so)."""
        return "close" in self.headers.get("connection", "").lower() or self.http_version == "1.0"


def header_text(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased header names; repeated headers joined with ", " as RFC 9110 allows (the core's
    ``http_request``/``http_response`` give the same dict)."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def redacted(headers: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k in SECRET_HEADERS else v) for k, v in headers.items()}


def exchange_events(
    exchange: Exchange,
    conn: ConnFields,
    ts: int,
    options: DecoderOptions,
    redact: Callable[[dict[str, str]], dict[str, str]],
) -> list[Event]:
    """The ``rms.call`` of an exchange as it stands (complete, or cut by a gap, an error or the end), after
    the anomalies of its bodies."""
    events: list[Event] = []

    def body(body: Body, headers: dict[str, str], direction: Direction) -> tuple[Any, int | None]:
        try:
            return body_json(body, headers, options)
        except DecodeError as exc:
            events.append(
                Anomaly(ts=ts, name=exc.name, detail=exc.detail, source="http", offset=None, dir=direction, **conn)
            )
            return None, None

    request = body(exchange.request, exchange.headers, "orig")
    response = (
        body(exchange.response, exchange.response_headers, "resp") if exchange.status is not None else (None, None)
    )
    events.append(rms_call(exchange, conn, ts, request, response, redact))
    return events


def rms_call(
    exchange: Exchange,
    conn: ConnFields,
    ts: int,
    request: tuple[Any, int | None],
    response: tuple[Any, int | None],
    redact: Callable[[dict[str, str]], dict[str, str]],
) -> RmsCall:
    """The event of an exchange, given its bodies as (JSON or None, decoded size or None)."""
    success, error_string = result_fields(response[0])
    service, method_name = resto_call(exchange.target)
    headers = exchange.headers
    return construct(  # typed by h11 or the core and the body decoders: unvalidated (the tests validate the output)
        RmsCall,
        ts=ts,
        **conn,
        method=exchange.method,
        uri=exchange.target,
        service=service,
        method_name=method_name,
        terminal_id=headers.get("x-resto-terminalid"),
        login_name=headers.get("x-resto-loginname"),
        correlation_id=headers.get("x-resto-correlationid"),
        request_headers=redact(headers),
        status=exchange.status,
        reason=exchange.reason,
        success=success,
        error_string=error_string,
        request_ts=exchange.ts,
        duration_ms=(ts - exchange.ts) / 1e6 if exchange.response.complete else None,
        request_body_bytes=exchange.request.size,
        request_decoded_bytes=request[1],
        response_body_bytes=exchange.response.size,
        response_decoded_bytes=response[1],
        response_headers=redact(exchange.response_headers),
        complete=exchange.request.complete and exchange.response.complete,
        request=request[0],
        response=response[0],
    )


def core_maker(core: Any, conn: ConnFields, options: DecoderOptions) -> Any:
    """The compiled core's maker of one connection's ``rms.call`` events (``RmsEventMaker``,
    core/src/rms_python.rs): ``rms_call`` of ``exchange_events`` where that makes no anomaly, else None."""
    return core.RmsEventMaker(
        core_model(RmsCall, **conn),
        JsonText,
        None if options.keep_secrets else SECRET_HEADERS,
        REDACTED,
        max_size=min(options.max_http_body, options.max_decompressed),
        max_depth=options.max_depth,
        max_elements=options.max_elements,
    )
