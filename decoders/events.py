"""Every event kind wirecap emits, as one pydantic model each.

These models are the single source of the JSON Lines output, of ``wirecap schema`` and of the tests.
Inside, time is integer nanoseconds since the Unix epoch; on output it becomes ISO-8601 UTC with
microseconds and ``Z``. ``seq`` is assigned by the sink in output order (0 until then).

Connection-bound events carry ``uid`` (Zeek-style connection id), ``community_id`` (Community ID v1),
``orig`` and ``resp`` (``"10.0.0.5:51234"``, ``"[fe80::1]:8506"``); events of one direction also carry
``dir``. Decoders build events with the connection's ``ConnFields`` spread in: ``Ev(**conn, ...)``.
"""

import time
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

Direction = Literal["orig", "resp"]


def format_ts(ns: int) -> str:
    """Integer nanoseconds → ``2026-11-29T00:36:11.123456Z`` (truncated to microseconds)."""
    sec, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{rem // 1000:06d}Z"


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


class Event(BaseModel):
    """Fields on every output line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: Timestamp
    seq: int = 0
    kind: str


class ConnEvent(Event):
    uid: str
    community_id: str
    orig: str
    resp: str


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
    gap_bytes: int


class ConnClose(ConnEvent):
    """A connection ended: by FIN from both sides, RST, idle timeout or the end of the input."""

    kind: Literal["conn.close"] = "conn.close"
    reason: Literal["fin", "rst", "timeout", "end-of-input"]
    duration: float  # seconds from first to last packet
    orig_stats: DirectionStats
    resp_stats: DirectionStats
    service: str | None  # detected protocol (decoder name), None if none matched
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


FOUNDATION_EVENTS: tuple[type[Event], ...] = (ConnOpen, ConnClose, TcpGap, Anomaly)


def event_kinds() -> dict[str, type[Event]]:
    """Every event model by its ``kind``, for ``wirecap schema`` and validation in the tests."""
    out: dict[str, type[Event]] = {}
    for cls in ALL_EVENTS:
        out[cls.model_fields["kind"].default] = cls
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema of one output line: any of the event kinds, as serialised."""
    kinds = event_kinds()
    defs: dict[str, Any] = {}
    refs = []
    for cls in kinds.values():
        schema = cls.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[cls.__name__] = schema
        refs.append({"$ref": f"#/$defs/{cls.__name__}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wirecap event",
        "oneOf": refs,
        "$defs": defs,
    }


ALL_EVENTS: tuple[type[Event], ...] = FOUNDATION_EVENTS
