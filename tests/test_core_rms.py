"""The core's ``rms.call`` maker (decoders._core.RmsEventMaker, core/src/rms_python.rs) against the
pure-Python reference (decoders.http_exchange.exchange_events): exchanges crossing content codings
(gzip, x-gzip, zlib and raw deflate, cut, corrupt, with bytes after the stream, past the size limit),
media types and charsets, XML that expat must judge, ``<result>`` verdicts, URIs whose query
``parse_qs`` decodes, secrets redacted or kept, bodies incomplete or missing. Where the core makes
an event it is the reference's, field for field and in its line; where the reference makes an
anomaly, the core makes nothing. Whole replays: tests/test_core_http.py. Needs the core built.
"""

from __future__ import annotations

import gzip
import itertools
import re
import zlib
from pathlib import Path
from typing import Any

from core_diff import RUST, Counting
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.events import Anomaly, RmsCall
from decoders.http import HttpDecoder
from decoders.http_body import Body
from decoders.http_exchange import Exchange, core_maker, exchange_events, redacted
from decoders.interface import DecoderOptions
from wirecap.flow import conn_fields
from wirecap.lines import json_bytes
from wirecap.streams import collect_streams

REPO = Path(__file__).resolve().parents[1]
CONN = conn_fields("C1", "1:x", "127.0.0.1:40000", "127.0.0.3:8080")
ARGS = b'<?xml version="1.0" encoding="utf-8"?><args><login>petrov</login><password>x</password></args>'


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


# (name, content-encoding or None, content-type, body bytes on the wire)
BODIES: list[tuple[str, str | None, str, bytes]] = [
    ("xml", None, "text/xml; charset=UTF-8", ARGS),
    ("gzip", "gzip", "text/xml;charset=utf-8", gzip.compress(ARGS)),
    ("x-gzip", " X-GZIP ", "text/xml", gzip.compress(ARGS)),
    ("zlib", "deflate", "text/xml", zlib.compress(ARGS)),
    ("raw deflate", "deflate", "text/xml", _raw_deflate(ARGS)),
    ("gzip and more", "gzip", "text/xml", gzip.compress(ARGS) + b"tail"),
    ("gzip cut", "gzip", "text/xml", gzip.compress(ARGS)[:30]),
    ("gzip corrupt", "gzip", "text/xml", b"\x1f\x8b\x08\x00" + bytes(20)),
    ("two members", "gzip", "text/xml", gzip.compress(ARGS) + gzip.compress(b"<b/>")),
    ("brotli", "br", "text/xml", ARGS),
    ("bomb", "gzip", "text/xml", gzip.compress(b"<a>" + bytes(5000) + b"</a>")),
    ("json", None, "application/json", b'{"a": 1}'),
    ("sniffed", None, "", b" \r\n<a>1</a>"),
    ("koi8-r", None, "text/xml; charset=koi8-r", "<a>привет</a>".encode("koi8-r")),
    ("quoted charset", None, 'text/xml; charset="utf-8"', "<a>привет</a>".encode()),
    ("latin-1 type", None, "text/xml; charset=\xe9", ARGS),
    ("not well-formed", None, "text/xml", b"<a><b></a>"),
    ("doctype", None, "text/xml", b"<!DOCTYPE a><a/>"),
    ("nil", None, "text/xml", b'<a xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/>'),
    ("empty", None, "text/xml", b""),
]
REPLIES: list[bytes] = [
    b"<result><success> TRUE </success><errorString/><returnValue>1</returnValue></result>",
    b"<result><success>false</success><errorString>no such order</errorString></result>",
    b"<result><success><x/></success><errorString><y>1</y></errorString></result>",
    b"<result><success>true</success><success>false</success></result>",
    b"<result>plain</result>",
    b"<other><result><success>true</success></result></other>",
]
TARGETS = [
    "/resto/services/orders?methodName=saveOrder",
    "/resto/services/orders?a=1&methodName=&methodName=second#frag",
    "/resto/services/orders?methodName=save+order",
    "/resto/services/orders?method%4Eame=x",
    "/resto/services//resto/services/events/x",
    "/index.html#a?methodName=no",
]
SECRETS = {"x-resto-passwordhash": "abc", "cookie": "k=v", "x-resto-terminalid": "T1", "x-resto-loginname": "L"}


def _body(data: bytes, limit: int = 1 << 20, complete: bool = True) -> Body:
    body = Body(limit)
    body.add(data)
    body.complete = complete
    return body


def _exchange(request: tuple, response: tuple | None, target: str, *, cut: bool = False) -> Exchange:
    """``request``/``response``: a row of BODIES; None: no response seen; ``cut``: its body incomplete."""
    _, coding, content_type, data = request
    headers = {**SECRETS, "content-type": content_type, **({"content-encoding": coding} if coding else {})}
    exchange = Exchange(1_000, "POST", target, "1.1", headers, _body(data), _body(b""))
    if response is not None:
        _, coding, content_type, data = response
        exchange.status, exchange.reason = 200, "OK"
        exchange.response_headers = {"content-type": content_type, "set-cookie": "s=1"}
        if coding:
            exchange.response_headers["content-encoding"] = coding
        exchange.response = _body(data, complete=not cut)
    return exchange


def _seen(event: Any) -> tuple:
    return (type(event), event.model_dump(), event.__pydantic_fields_set__, json_bytes(event))


def _compare(options: DecoderOptions, exchanges: list[Exchange]) -> tuple[int, int]:
    """Each exchange through both (a fresh copy each); (made by the core, left to Python)."""
    assert RUST is not None, "decoders._core is not built"
    maker = core_maker(RUST, CONN, options)
    redact = (lambda headers: headers) if options.keep_secrets else redacted
    made = left = 0
    for exchange in exchanges:
        expected = exchange_events(exchange, CONN, 2_500_000, options, redact)
        event = maker.event(exchange, 2_500_000)
        if event is None:
            left += 1
            continue
        made += 1
        assert [_seen(e) for e in expected] == [_seen(event)], (exchange.target, exchange.headers)
    return made, left


def test_request_bodies_and_targets() -> None:
    reply = ("xml", "gzip", "text/xml", gzip.compress(REPLIES[0]))
    exchanges = [_exchange(body, reply, target) for body, target in itertools.product(BODIES, TARGETS)]
    made, left = _compare(DecoderOptions(max_http_body=4096), exchanges)
    assert made >= 11 * 4 and left >= 9 * 4 + 2 * len(BODIES), (made, left)


def test_replies_verdicts_and_cut_ones() -> None:
    replies = [(name, coding, kind, data) for name, coding, kind, data in BODIES if name != "bomb"]
    replies += [("reply", "gzip", "text/xml", gzip.compress(data)) for data in REPLIES]
    exchanges = [_exchange(BODIES[1], reply, TARGETS[0], cut=cut) for reply in replies for cut in (False, True)]
    exchanges.append(_exchange(BODIES[1], None, TARGETS[0]))
    made, left = _compare(DecoderOptions(), exchanges)
    assert made >= 2 * 17 and left >= 6, (made, left)


def test_secrets_kept_and_limits_of_the_options() -> None:
    exchanges = [_exchange(body, BODIES[-1], TARGETS[0]) for body in BODIES]  # the reply without a body
    for options in (
        DecoderOptions(keep_secrets=True),
        DecoderOptions(max_decompressed=64),
        DecoderOptions(max_depth=1),
    ):
        made, left = _compare(options, exchanges)
        assert made >= 1 and left >= 9, (options, made, left)


def test_a_body_past_its_limit_is_left_to_python() -> None:
    exchange = _exchange(BODIES[0], BODIES[0], TARGETS[0])
    exchange.request = _body(ARGS, limit=10)
    (anomaly, call) = exchange_events(exchange, CONN, 2, DecoderOptions(), redacted)
    assert type(anomaly) is Anomaly and anomaly.name == "http_body_too_large" and type(call) is RmsCall
    assert core_maker(RUST, CONN, DecoderOptions()).event(exchange, 2) is None


# --- captured exchanges with their bodies re-coded, their types and queries changed -------------------

HTTP_CAPTURES = [REPO / "captures" / name for name in ("rms_session.pcap", "store.pcap")]
CODINGS = ["gzip", "x-gzip", "deflate", " GZIP ", "br", "identity", ""]
TYPES = ["text/xml; charset=UTF-8", 'text/xml;charset="utf-8"', "application/json", "text/xml; charset=cp1251"]
QUERIES = ["methodName=a+b", "methodName=", "x=1&methodName=second", "method%4Eame=x", ""]


def _captured() -> list[list[tuple[str, bytes]]]:
    """Each HTTP connection of the committed captures as its messages: (direction, head + body)."""
    connections = []
    for stream in collect_streams([str(p) for p in HTTP_CAPTURES]):
        if stream.data["orig"].startswith(b"POST"):
            connections.append([(d, m) for d in ("orig", "resp") for m in _messages(stream.data[d])])
    return connections


def _messages(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while (end := data.find(b"\r\n\r\n", pos)) >= 0:
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data[pos:end])
        stop = end + 4 + (int(length.group(1)) if length else 0)
        out.append(data[pos:stop])
        pos = stop
    return out


@st.composite
def recoded(draw: st.DrawFn, message: bytes) -> bytes:
    """``message`` with its body decoded, maybe changed, coded anew, its headers and query maybe changed."""
    head, _, body = message.partition(b"\r\n\r\n")
    plain = gzip.decompress(body) if b"gzip" in head.lower() else body
    change = draw(st.sampled_from(["none", "success", "cut", "byte"]))
    if change == "success":
        plain = plain.replace(b"true", draw(st.sampled_from([b" TRUE ", b"false", b"<x/>", b"tru\xc3\xa9"])))
    elif change == "cut":
        plain = plain[: draw(st.integers(0, len(plain)))]
    elif change == "byte" and plain:
        at = draw(st.integers(0, len(plain) - 1))
        plain = plain[:at] + bytes([draw(st.integers(0, 255))]) + plain[at + 1 :]
    coding = draw(st.sampled_from(CODINGS))
    if coding.strip().lower() in ("gzip", "x-gzip"):
        body = gzip.compress(plain)
    elif coding == "deflate":
        body = zlib.compress(plain) if draw(st.booleans()) else _raw_deflate(plain)
    else:
        body = plain
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"content-length", b"content-enc"))]
    lines += [b"Content-Length: %d" % len(body)] + ([b"Content-Encoding: " + coding.encode()] if coding else [])
    if draw(st.booleans()):
        lines = [line for line in lines if not line.lower().startswith(b"content-type")]
        lines.append(b"Content-Type: " + draw(st.sampled_from(TYPES)).encode())
    if lines[0].startswith(b"POST") and draw(st.booleans()):
        lines[0] = re.sub(rb"\?[^ ]*", b"?" + draw(st.sampled_from(QUERIES)).encode(), lines[0], count=1)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _decoded(messages: list[tuple[str, bytes]], core: Any) -> list[str]:
    decoder = HttpDecoder(CONN, DecoderOptions())
    decoder.core = core
    events = [e for ts, (d, m) in enumerate(messages) for e in decoder.feed(d, m, ts)]  # type: ignore[arg-type]
    events += decoder.eof("orig", len(messages)) + decoder.eof("resp", len(messages))
    return [event.model_dump_json() for event in events]


@given(st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_captured_exchanges_recoded_give_the_same_events(data: st.DataObject) -> None:
    """Each direction's messages in order, the requests first (as pipelined): the core's events, where it
    makes them, are the reference's, on every body the change leaves decodable or not."""
    connection = data.draw(st.sampled_from(CAPTURED))
    messages = [(d, data.draw(recoded(m))) for d, m in connection]
    assert _decoded(messages, RUST) == _decoded(messages, None)


CAPTURED = _captured()


def test_the_captured_exchanges_are_made_by_the_core() -> None:
    """The captures' exchanges as they are: every rms.call of them is the core's (so the test above
    compares the core's events with the reference's, not the reference with itself)."""
    counting, calls = Counting(), 0
    for connection in CAPTURED:
        decoder = HttpDecoder(CONN, DecoderOptions())
        decoder.core = counting
        for ts, (d, m) in enumerate(connection):
            calls += sum(event.kind == "rms.call" for event in decoder.feed(d, m, ts))  # type: ignore[arg-type]
    assert calls >= 10 and counting.made == calls
