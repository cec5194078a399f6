"""decoders.http against a real peer: http.server/http.client over loopback, captured by tcpdump.

``captures/rms_session.pcap`` and its ground truth come from ``tests/interop/rms/gen_rms.py``: keep-alive,
gzip request and response bodies, a chunked request, HEAD, GET, a one-second long poll and a
``Connection: close`` call whose reply reports an error.
"""

import gzip
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.detect import DecoderOptions
from decoders.events import Anomaly, Event, RmsCall
from decoders.http import HttpDecoder, probe
from decoders.http_body import resto_call
from decoders.json_text import plain
from wirecap.flow import conn_fields
from wirecap.pipeline import Options, Pipeline, run
from wirecap.source import CaptureSource
from wirecap.streams import collect_streams

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
PCAP = CAPTURES / "rms_session.pcap"
TRUTH = [json.loads(line) for line in (CAPTURES / "rms_session.truth.jsonl").read_text().splitlines()]
CONN = conn_fields("C1", "1:x", "127.0.0.1:40000", "127.0.0.3:8080")
STREAM = collect_streams([str(PCAP)])[0].data


def replay(path: Path) -> list[Event]:
    out: list[Event] = []
    run([CaptureSource(str(path))], Pipeline(Options()), out.extend)
    return out


def calls(events: list[Event]) -> list[RmsCall]:
    return [e for e in events if isinstance(e, RmsCall)]


def anomalies(events: list[Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, Anomaly)]


def decode(orig_pieces: list[bytes], resp_pieces: list[bytes], options: DecoderOptions | None = None) -> list[Event]:
    """All client bytes, then all server bytes (as if every request were pipelined), then both eofs."""
    decoder = HttpDecoder(CONN, options or DecoderOptions())
    events: list[Event] = []
    for piece in orig_pieces:
        events += decoder.feed("orig", piece, 1)
    events += decoder.eof("orig", 2)
    for piece in resp_pieces:
        events += decoder.feed("resp", piece, 3)
    return events + decoder.eof("resp", 4)


def stable(events: list[Event]) -> list[dict]:
    """Events without timing, which depends on how the bytes were cut."""
    return [e.model_dump(exclude={"ts", "duration_ms", "request_ts"}) for e in events]


def test_capture_matches_what_the_client_sent_and_received() -> None:
    events = replay(PCAP)
    got = calls(events)
    assert anomalies(events) == []
    assert [(c.method, c.uri, c.status, c.correlation_id) for c in got] == [
        (t["method"], t["uri"], t["status"], t["correlation_id"]) for t in TRUTH
    ]
    for call, truth in zip(got, TRUTH, strict=True):
        assert call.complete
        assert call.request_body_bytes == truth["request_wire_bytes"]
        assert call.response_body_bytes == (0 if call.method == "HEAD" else truth["response_wire_bytes"])
        if truth["request_xml"] is not None:
            assert call.request_decoded_bytes == len(truth["request_xml"].encode())
            sent = ET.fromstring(truth["request_xml"])
            assert list(plain(call.request)["args"]) == [child.tag for child in sent]
        if truth["response_body"].startswith("<?xml"):
            reply = ET.fromstring(truth["response_body"])
            assert call.success == (reply.findtext("success") == "true")
            assert (call.error_string or "") == (reply.findtext("errorString") or "")
        assert call.terminal_id == "6f1b2c3d-0000-4a5b-8c9d-0e1f2a3b4c5d"
        assert call.login_name == "ivanova"
    assert [c.service for c in got][:2] == ["authorization", "events"]
    assert got[1].method_name == "saveUserEvents"
    assert got[-1].success is False and got[-1].error_string == "Unknown method badMethod"
    long_poll = got[5]
    assert long_poll.method_name == "waitEntitiesUpdate" and long_poll.duration_ms > 1000
    assert plain(long_poll.response)["result"]["entitiesUpdate"]["items"]["i"]["type"] == "Order"


def test_password_hash_never_reaches_the_output() -> None:
    dumped = "".join(e.model_dump_json() for e in replay(PCAP))
    assert "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8" not in dumped
    assert all(c.request_headers["x-resto-passwordhash"] == "<redacted>" for c in calls(replay(PCAP)))


def test_requests_and_status_codes_agree_with_tshark() -> None:
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(PCAP),
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "http.request.method",
            "-e",
            "http.request.uri",
            "-e",
            "http.response.code",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    rows = [line.split("\t") for line in fields]
    requests = [(r[0], r[1]) for r in rows if r[0]]
    codes = [int(r[2]) for r in rows if r[2]]
    got = calls(replay(PCAP))
    assert [(c.method, c.uri) for c in got] == requests
    assert [c.status for c in got] == codes


def test_any_split_gives_the_same_events() -> None:
    orig, resp = STREAM["orig"], STREAM["resp"]
    whole = stable(decode([orig], [resp]))
    assert len(calls(decode([orig], [resp]))) == len(TRUTH)
    for cut in range(1, max(len(orig), len(resp)), 7):
        assert stable(decode([orig[:cut], orig[cut:]], [resp[:cut], resp[cut:]])) == whole
    assert stable(decode([bytes([b]) for b in orig], [bytes([b]) for b in resp])) == whole


def test_capture_starting_mid_connection_resyncs_at_the_next_request() -> None:
    orig, resp = STREAM["orig"], STREAM["resp"]
    request_2, request_3 = orig.index(b"POST", 1), orig.index(b"POST", orig.index(b"POST", 1) + 1)
    response_2, response_3 = resp.index(b"HTTP/1.1", 1), resp.index(b"HTTP/1.1", resp.index(b"HTTP/1.1", 1) + 1)
    decoder = HttpDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", orig[request_2 + 10 : request_3], 1)
    events += decoder.feed("resp", resp[response_2 + 5 : response_3], 2)
    events += decoder.feed("orig", orig[request_3:], 3) + decoder.feed("resp", resp[response_3:], 4)
    events += decoder.eof("orig", 5) + decoder.eof("resp", 5)
    assert anomalies(events) == ["http_response_before_request", "http_resync"]
    assert [c.correlation_id for c in calls(events)] == [t["correlation_id"] for t in TRUTH[2:]]
    assert [c.complete for c in calls(events)] == [True] * (len(TRUTH) - 2)


def editcap(tmp_path: Path, packets: str, keep: bool = False) -> Path:
    """The session capture without (or, with ``keep``, with only) ``packets``, cut by Wireshark's editcap."""
    out = tmp_path / "cut.pcap"
    subprocess.run(["editcap", *(["-r"] if keep else []), str(PCAP), str(out), packets], check=True)
    return out


def test_capture_started_inside_a_request_body(tmp_path: Path) -> None:
    events = replay(editcap(tmp_path, "13-1000", keep=True))  # from the second request's body segment on
    assert anomalies(events) == ["http_response_before_request", "http_resync"]
    assert [c.correlation_id for c in calls(events)] == [t["correlation_id"] for t in TRUTH[2:]]


def test_lost_segment_inside_a_chunked_request(tmp_path: Path) -> None:
    events = replay(editcap(tmp_path, "22"))  # a middle chunk of the chunked third request
    assert [e.kind for e in events if e.kind == "tcp.gap"] == ["tcp.gap"]
    assert anomalies(events) == ["http_message_lost", "http_resync"]  # the rest of the request is skipped
    assert events[[e.kind for e in events].index("anomaly")].offset == 1703
    got = calls(events)
    assert [c.correlation_id for c in got] == [t["correlation_id"] for t in TRUTH]
    assert [c.complete for c in got] == [True, True, False, True, True, True, True]
    assert got[2].status == 200 and got[2].request is None


def test_garbage_before_a_request_line_is_skipped_and_reported() -> None:
    orig, resp = STREAM["orig"], STREAM["resp"]
    events = decode([b"\x17\x03\x03 not http\r\n" + orig], [resp])
    assert anomalies(events) == ["http_resync"]
    assert events[0].offset == 0
    assert len(calls(events)) == len(TRUTH)


def test_gap_inside_a_request_loses_only_that_request() -> None:
    orig, resp = STREAM["orig"], STREAM["resp"]
    inside_body = orig.index(b"\r\n\r\n", orig.index(b"POST", 1)) + 100
    decoder = HttpDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", orig[:inside_body], 1)
    events += decoder.gap("orig", 20, 2)
    events += decoder.feed("orig", orig[inside_body + 20 :], 3)
    events += decoder.feed("resp", resp, 4) + decoder.eof("orig", 5) + decoder.eof("resp", 5)
    assert anomalies(events)[0] == "http_message_lost"
    got = calls(events)
    assert [c.correlation_id for c in got] == [t["correlation_id"] for t in TRUTH]
    assert [c.complete for c in got] == [True, False] + [True] * (len(TRUTH) - 2)
    assert got[1].request is None and got[1].status == 200


@pytest.mark.parametrize(
    "switch",
    [
        b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n",
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n",
    ],
)
def test_a_request_that_may_switch_protocols_does_not_break_the_request_parser(switch: bytes) -> None:
    """A CONNECT or an Upgrade request after another request (hypothesis found the CONNECT: h11 raised
    LocalProtocolError, the connection was lost as decoder_error). Every request is reported, and the
    requests pipelined after it are still read as HTTP."""
    get = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    decoder = HttpDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", get + switch + b"\r\n" + get, 1)
    events += decoder.gap("resp", 40, 2) + decoder.eof("orig", 3) + decoder.eof("resp", 3)
    assert [(c.method, c.uri) for c in calls(events)] == [
        ("GET", "/a"),
        (switch.split()[0].decode(), switch.split()[1].decode()),
        ("GET", "/a"),
    ]


def test_long_poll_cut_by_the_end_of_the_capture_is_emitted_without_response() -> None:
    orig = STREAM["orig"]
    poll = orig.index(b"POST /resto/services/update")
    decoder = HttpDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", orig[poll : orig.index(b"POST", poll + 1)], 1)
    events += decoder.eof("orig", 2) + decoder.eof("resp", 3)
    (call,) = calls(events)
    assert call.method_name == "waitEntitiesUpdate" and call.status is None and not call.complete
    assert call.request == {"args": {"client-type": "FRONT", "entities-version": "41"}}


@pytest.mark.parametrize(
    ("options", "refused_by"),
    [
        (DecoderOptions(), "http_decompression_ratio"),  # ~1000:1 passes the default ratio at 1 MiB
        (DecoderOptions(max_ratio=10**6), "http_body_too_large"),  # then the size limit catches it
    ],
)
def test_gzip_bomb_is_refused(options: DecoderOptions, refused_by: str) -> None:
    bomb = gzip.compress(b"<" + b" " * (40 << 20), mtime=0)
    head = "POST /resto/services/x?methodName=y HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\n"
    head += f"Content-Length: {len(bomb)}\r\n\r\n"
    events = decode([head.encode() + bomb], [b"HTTP/1.1 204 No Content\r\n\r\n"], options)
    assert anomalies(events) == [refused_by]
    (call,) = calls(events)
    assert call.request is None and call.request_body_bytes == len(bomb) and call.status == 204


def test_probe() -> None:
    assert probe(b"POST /resto/services/events?methodName=x HTTP/1.1\r\n", b"") is True
    assert probe(b"", b"HTTP/1.1 200 OK\r\n") is True
    assert probe(b"POS", b"") is None
    assert probe(b"", b"") is None
    assert probe(b"\x00\x01\x00\x01\x02", b"") is False
    assert probe(b"GET / SSH-2.0\r\n", b"") is False


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_streams_never_raise(data: st.DataObject) -> None:
    streams = []
    for raw in (STREAM["orig"], STREAM["resp"]):
        mutated = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            mutated[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(raw)))
        streams.append([bytes(mutated[:cut]), bytes(mutated[cut:])])
    for event in decode(*streams):
        assert not isinstance(event, Anomaly) or event.name.startswith(("http_", "soap_"))


def test_thousands_of_rejected_messages_in_one_feed() -> None:
    """Each rejected message once cost a recursive call: 5000 in one feed raised RecursionError and the
    connection was no longer decoded. The good request and response after them must still come out."""
    bad_request = b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n"
    good = b"POST /resto/services/events?methodName=ping HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    bad_responses = b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n" * 5000
    decoder = HttpDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", bad_request * 5000 + good, 1)
    events += decoder.feed("resp", bad_responses + b"HTTP/1.1 204 No Content\r\n\r\n", 2)
    events += decoder.eof("orig", 3) + decoder.eof("resp", 3)
    names = anomalies(events)
    assert names.count("http_bad_request") == 5000
    assert names.count("http_bad_response") == 1  # no request awaits the other 4999: skipped unparsed
    (call,) = calls(events)
    assert call.method_name == "ping" and call.status is None  # its response was the first bad one


def test_thousands_of_rejected_responses_in_one_feed() -> None:
    request = b"GET /r HTTP/1.1\r\nHost: h\r\n\r\n"
    decoder = HttpDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", request * 90, 1)  # below the 100 pending requests cap
    bad = b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"
    events += decoder.feed("resp", bad * 89 + b"HTTP/1.1 204 No Content\r\n\r\n", 2)
    assert anomalies(events).count("http_bad_response") == 89
    assert [c.status for c in calls(events)] == [None] * 89 + [204]


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]><args>&lol9;</args>"
)
EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><args>&x;</args>'


@pytest.mark.parametrize(
    "body", [LAUGHS, EXTERNAL, LAUGHS.decode().encode("utf-16")], ids=["laughs", "external", "utf16"]
)
def test_entity_declarations_are_refused_not_expanded(body: bytes) -> None:
    head = b"POST /resto/services/x?methodName=y HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\n"
    events = decode([head + b"Content-Length: %d\r\n\r\n" % len(body) + body], [b"HTTP/1.1 204 No Content\r\n\r\n"])
    assert anomalies(events) == ["soap_forbidden_xml"]
    (call,) = calls(events)
    assert call.request is None and call.request_decoded_bytes is None and call.status == 204
    assert b"lollol" not in json.dumps([e.model_dump(mode="json") for e in events]).encode()
    assert b"root:" not in json.dumps([e.model_dump(mode="json") for e in events]).encode()


def test_a_request_target_that_does_not_parse_whole_still_names_its_service() -> None:
    """h11 takes any visible characters as a request target; urlsplit refuses an unbalanced '[' in a host.
    The service and method come from the path and query alone, and nothing raises."""
    assert resto_call("http://[x/resto/services/orders?methodName=save#f") == ("orders", "save")
    assert resto_call("/resto/services/orders#?methodName=save") == ("orders", None)
