"""The compiled HTTP/1.1 framer (decoders._core.http_request/http_response, decoders/http.py's fast path)
against h11, the reference: the same events (JSON) and the same byte accounting with the fast path and
without it, on every committed capture with HTTP, the http fuzz seeds, findings and a sample of a fuzz
corpus (``tests/http_corpus/``), every two- and three-way split of real exchanges, hypothesis-made
streams and their mutants; and, message by message, the core never answers where h11 refuses or reads
otherwise. The two installations (``WIRECAP_PURE_PYTHON=1``: no core at all) replay every capture to the
same bytes in tests/test_core_diff.py. These tests need the core built: without it they fail, never skip.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h11
import pytest
from core_diff import Counting
from core_diff import core as _core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.events import Direction
from decoders.http import HttpDecoder
from decoders.http_exchange import header_text
from decoders.interface import DecoderOptions
from wirecap.flow import conn_fields
from wirecap.streams import collect_streams

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))

import fuzz_targets  # noqa: E402

HTTP_CAPTURES = [ROOT / "captures" / name for name in ("rms_session.pcap", "store.pcap", "store_remoting.pcap")]
CORPUS = sorted((ROOT / "tests" / "http_corpus").iterdir())
FINDINGS = sorted((ROOT / "tests" / "fuzz_findings").glob("http-*"))
CONN = conn_fields("C1", "1:x", "127.0.0.1:40000", "127.0.0.3:8080")
Step = tuple[str, Direction, bytes]  # ("data" | "gap" | "eof", direction, bytes or gap length as bytes)


def run_steps(steps: list[Step], core: Any) -> list[Any]:
    """Events (as JSON) and both directions' accounting of one decoder fed ``steps``, then both eofs."""
    decoder = HttpDecoder(CONN, DecoderOptions())
    decoder.core = core
    out: list[Any] = []
    ended: set[Direction] = set()
    for ts, (what, direction, payload) in enumerate(steps):
        if direction in ended:
            continue
        if what == "data":
            events = decoder.feed(direction, payload, ts)
        elif what == "gap":
            events = decoder.gap(direction, len(payload), ts)
        else:
            ended.add(direction)
            events = decoder.eof(direction, ts)
        out += [event.model_dump_json() for event in events]
    for direction in ("orig", "resp"):
        if direction not in ended:
            out += [event.model_dump_json() for event in decoder.eof(direction, len(steps))]
    return [*out, decoder.accounting("orig"), decoder.accounting("resp")]


def same_both_ways(steps: list[Step]) -> int:
    """Assert the fast path and h11 alone give the same; how many messages the core framed."""
    counting = Counting()
    assert run_steps(steps, counting) == run_steps(steps, None), steps
    return counting.framed


def fuzz_steps(data: bytes) -> list[Step]:
    """A fuzz input (fuzz_targets' chunk format) as steps."""
    steps: list[Step] = []
    for direction, ctrl, payload in fuzz_targets.chunks(data):
        steps.append(("gap" if ctrl & fuzz_targets.CTRL_GAP else "data", direction, payload))
        if ctrl & fuzz_targets.CTRL_EOF:
            steps.append(("eof", direction, b""))
    return steps


def test_the_core_is_built_and_chosen() -> None:
    """The decoder frames in the core unless ``WIRECAP_PURE_PYTHON`` says not to (then h11 alone)."""
    pure = os.environ.get("WIRECAP_PURE_PYTHON", "") not in ("", "0")
    assert HttpDecoder.core is (None if pure else _core())


def test_whole_replay_is_byte_identical_without_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``wirecap replay`` in-process with the fast path and with h11 alone (the text-XML core in both):
    the same JSONL, conn.close's byte accounting included. (store.pcap's client writes each head and
    body in segments of their own: those messages are h11's.)"""
    from wirecap.cli import main

    counting = Counting()
    for capture in HTTP_CAPTURES:
        outputs = []
        for core in (counting, None):
            monkeypatch.setattr(HttpDecoder, "core", core)
            out = tmp_path / f"{core is None}.jsonl"
            with pytest.raises(SystemExit) as done:
                main(["replay", "-q", str(capture), "-o", str(out)], standalone_mode=False)
            assert done.value.code == 0
            outputs.append(out.read_bytes())
        assert outputs[0] == outputs[1], capture
        assert outputs[0].count(b'"kind":"rms.call"') > 5
    assert counting.framed > 2 and counting.made > 2


def test_fuzz_seeds_findings_and_corpus() -> None:
    inputs = [*fuzz_targets.seeds("http"), *(p.read_bytes() for p in [*FINDINGS, *CORPUS])]
    assert len(CORPUS) > 100
    framed = sum(same_both_ways(fuzz_steps(data)) > 0 for data in inputs)
    assert framed > len(inputs) // 2


def _exchanges() -> Iterator[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of every HTTP connection of the committed captures."""
    for stream in collect_streams([str(p) for p in HTTP_CAPTURES]):
        if stream.data["orig"].startswith((b"POST", b"GET")):
            yield stream.data["orig"], stream.data["resp"]


@pytest.fixture(scope="module")
def exchanges() -> list[tuple[bytes, bytes]]:
    found = list(_exchanges())
    assert len(found) >= 3
    return found


def test_every_split_in_two(exchanges: list[tuple[bytes, bytes]]) -> None:
    """The session capture's streams (keep-alive, gzip, chunked, HEAD, a long poll, a close) cut in two
    at every offset (each side at the same one); the store's connections every 11th offset."""
    framed = 0
    for i, (orig, resp) in enumerate(dict.fromkeys(exchanges)):
        for cut in range(0, max(len(orig), len(resp)) + 1, 1 if i == 0 else 11):
            steps: list[Step] = [("data", "orig", orig[:cut]), ("data", "orig", orig[cut:])]
            steps += [("data", "resp", resp[:cut]), ("data", "resp", resp[cut:])]
            framed += same_both_ways([s for s in steps if s[2]])
    assert framed > 1000


def test_every_split_in_three_of_a_pipelined_pair() -> None:
    """Two pipelined calls cut in three pieces at every pair of offsets, each side, interleaved."""
    request = b"POST /resto/services/events?methodName=ping HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n<a>1</a"
    chunked = b"GET /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\n<a>\r\n1\r\n/\r\n0\r\n\r\n"
    orig = request[:-1] + b">" + chunked
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n<b/>HTTP/1.1 204 No Content\r\n\r\n"
    framed = 0
    for first in range(0, len(orig) + 1, 2):
        for second in range(first, len(orig) + 1, 5):
            pieces = [orig[:first], orig[first:second], orig[second:]]
            rcut = (first * len(resp)) // len(orig), (second * len(resp)) // len(orig)
            replies = [resp[: rcut[0]], resp[rcut[0] : rcut[1]], resp[rcut[1] :]]
            steps: list[Step] = []
            for piece, reply in zip(pieces, replies, strict=True):
                steps += [("data", "orig", piece), ("data", "resp", reply)]
            framed += same_both_ways([s for s in steps if s[2]])
    assert framed > 100


def test_bodies_cut_by_segment_ends_gaps_ends_and_the_pending_cap() -> None:
    """A Content-Length body the core reads on from later segments, then: the rest, a gap, the end (h11,
    made where the core stands, words the error), an early response; and more requests than MAX_PENDING."""
    request = b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    cases: list[list[Step]] = []
    for head, direction in ((request, "orig"), (response, "resp")):
        other = "resp" if direction == "orig" else "orig"
        first: list[Step] = [("data", "orig", request + b"0123456789")] if direction == "resp" else []
        cut = [*first, ("data", direction, head + b"0123")]
        cases += [
            [*cut, ("data", direction, b"456"), ("data", direction, b"789" + head + b"01234567890")],
            [*cut, ("gap", direction, b"456"), ("data", direction, b"789" + head)],
            [*cut, ("eof", direction, b"")],
            [*cut, ("data", other, response + b"0123456789" if other == "resp" else request), ("eof", "orig", b"")],
        ]
    whole = request + b"0123456789"
    cases.append([("data", "orig", whole * 103), ("data", "resp", (response + b"0123456789") * 2 + response)])
    cases.append([("data", "orig", whole), ("data", "resp", response + b"01"), ("data", "orig", whole * 101)])
    cases[-1] += [("data", "resp", b"23456789" + response + b"0123456789")]  # its response cut: dropped at the cap
    assert sum(same_both_ways(steps) for steps in cases) > 20


# --- message by message: the core answers only where h11 reads the same message ---


def h11_request(data: bytes) -> tuple | None:
    """(end, method, target, headers, body) as h11 reads a keep-alive HTTP/1.1 request, else None."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    return _h11_message(conn, data)


def h11_response(data: bytes, head: bool) -> tuple | None:
    """(end, status, reason, headers, body) as h11 reads a keep-alive HTTP/1.1 response, else None."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="HEAD" if head else "POST", target="/", headers=[("Host", "h")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    return _h11_message(conn, data)


def _h11_message(conn: h11.Connection, data: bytes) -> tuple | None:
    head: Any = None
    body = b""
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request | h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # NEED_DATA, PAUSED, a 1xx, the connection closed
                return None
    except h11.RemoteProtocolError:
        return None
    if conn.their_state is not h11.DONE or head.http_version != b"1.1":
        return None  # the connection would close (or switch) after it: h11's, not the fast path's
    end = len(data) - len(conn.trailing_data[0])
    fields = (head.method.decode(), head.target.decode("latin-1")) if isinstance(head, h11.Request) else None
    start = fields or (head.status_code, head.reason.decode("latin-1"))
    return (end, *start, header_text(head.headers), body)


def completed(message: tuple) -> tuple:
    """A message the core read ``left`` bytes short of its end, as if those bytes (zeros) had come."""
    end, first, second, headers, body, left = message
    return end + left, first, second, headers, body + bytes(left)


def agrees(data: bytes) -> tuple[bool, bool]:
    """Assert the core answers only as h11 does, for data read as a request and as responses; whether it
    answered as a request, as a response. A message the core reads part of must be read so by h11 when
    the rest of its body comes."""
    core = _core()
    request = core.http_request(data)
    if request is not None:
        assert completed(request) == h11_request(data + bytes(request[-1])), data
    answered = []
    for head in (False, True):
        response = core.http_response(data, head=head)
        if response is not None:
            assert completed(response) == h11_response(data + bytes(response[-1]), head), (data, head)
        answered.append(response is not None)
    return request is not None, answered[0]


NAMES = [b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"X-Resto-LoginName", b"Expect"]
NAMES += [b"upgrade", b"content-length ", b"Bad Name", b"", b"X:Y", b"\xe9"]
VALUES = [b"h", b"0", b"3", b"5", b"chunked", b"Chunked", b"gzip, chunked", b"close", b"keep-alive", b"100-continue"]
VALUES += [
    b"0" * 20 + b"3",
    b"18446744073709551616",
    b" 3 ",
    b"\t3\t",
    b"3, 3",
    b"3,4",
    b"+3",
    b"a\x01b",
    b"a\x00b",
    b"a\x0bb",
    b"a\rb",
    b"a  b",
    b"\xff",
    b"",
]
LINE_ENDS = [b"\r\n"] * 8 + [b"\n", b"\r\r\n", b" \r\n"]


@st.composite
def well_formed(draw: st.DrawFn) -> bytes:
    """A request or response h11 reads as a keep-alive message: the fast path's shape."""
    body = draw(st.binary(max_size=24))
    if request := draw(st.booleans()):
        method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"M-SEARCH"]))
        start = method + b" " + draw(st.sampled_from([b"/", b"/resto/services/x?methodName=y", b"*"])) + b" HTTP/1.1"
    else:
        code = draw(st.sampled_from([b"200", b"204", b"304", b"404", b"500", b"299"]))
        start = b"HTTP/1.1 " + code + draw(st.sampled_from([b" OK", b"", b" ", b"  Not\tFound", b" \xe9t\xe9"]))
        body = b"" if code in (b"204", b"304") else body
    names = [b"X-Resto-LoginName", b"Content-Type", b"Expect", b"Connection", b"Accept-Encoding", b"x-a"]
    values = [b"ivanova", b"text/xml", b"100-continue", b"keep-alive", b"gzip", b"a\x01\xff b", b"", b" \tv\t "]
    headers = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(values)), max_size=4))
    headers += [(b"Host", b"h")] if request else []
    if draw(st.booleans()):
        size = draw(st.integers(1, 5))
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        ext = draw(st.sampled_from([b"", b";a=b", b" \t", b";x\r"]))
        trailer = draw(st.sampled_from([b"", b"T: v\r\n", b"A: 1\r\nB:\r\n"]))
        body = b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks) + b"0\r\n" + trailer + b"\r\n"
        headers.append((draw(st.sampled_from([b"Transfer-Encoding", b"transfer-encoding"])), b"chunked"))
    elif body or draw(st.booleans()):
        headers.append((b"Content-Length", b"%d" % len(body)))
    order = draw(st.permutations(headers))
    return b"\r\n".join([start] + [name + b": " + value for name, value in order]) + b"\r\n\r\n" + body


@st.composite
def traps(draw: st.DrawFn) -> bytes:
    """A request or a response, often malformed, with the framing and header traps h11 cares about."""
    end = draw(st.sampled_from(LINE_ENDS))
    if draw(st.booleans()):
        method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"CONNECT", b"G@T", b"PUT"]))
        target = draw(st.sampled_from([b"/", b"/resto/services/x?methodName=y", b"*", b"/a b", b"/\x7f"]))
        version = draw(st.sampled_from([b"1.1"] * 6 + [b"1.0", b"2.0", b"1.1 "]))
        start = method + b" " + target + b" HTTP/" + version
    else:
        code = draw(st.sampled_from([b"200", b"204", b"304", b"100", b"404", b"999", b"099", b"20"]))
        reason = draw(st.sampled_from([b" OK", b"", b" ", b"  Not\tFound", b" \xe9t\xe9", b" a\x00b", b"OK"]))
        start = b"HTTP/" + draw(st.sampled_from([b"1.1"] * 6 + [b"1.0"])) + b" " + code + reason
    headers = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=6))
    lines = [start] + [name + b":" + draw(st.sampled_from([b"", b" ", b"\t "])) + value for name, value in headers]
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(1, len(lines))), b" folded")
    body = draw(
        st.sampled_from([b"", b"abc", b"abcde", b"3\r\nabc\r\n0\r\n\r\n", b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"])
    )
    body += draw(st.sampled_from([b"", b"1 \r\na\r\n0\r\n\r\n", b"0\r\n\n", b"zz\r\n", b"GET / HTTP/1.1\r\n"]))
    return end.join(lines) + end + end + body


def messages() -> st.SearchStrategy[bytes]:
    return st.one_of(well_formed(), traps())


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(messages()))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.integers(0, 2))
        if action == 0 and at < len(data):
            data[at] = draw(st.sampled_from([0, 9, 10, 13, 32, 58, 59, 0x30, 0x41, 0x7F, 0xFF]))
        elif action == 1:
            data[at:at] = draw(st.sampled_from([b"\r", b"\n", b" ", b"\r\n", b":", b"0"]))
        else:
            del data[at : at + draw(st.integers(1, 4))]
    return bytes(data)


def test_the_core_reads_plain_messages_as_h11_does() -> None:
    """Known shapes the core must read itself (and as h11 does)."""
    assert agrees(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == (True, False)
    assert agrees(b"POST /x HTTP/1.1\r\nhost:\th \r\ncontent-length: 003\r\n\r\nabcdef") == (True, False)
    assert agrees(b"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n2;a\r\nab\r\n0\r\nX: y\r\n\r\n")[0]
    assert agrees(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab") == (False, True)
    assert agrees(b"HTTP/1.1 204\r\nX: a\x01\xff b\r\n\r\n") == (False, True)
    assert agrees(b"HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\n\r\n1 \t\r\na\r\n00\r\n\r\n") == (False, True)
    assert agrees(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab") == (False, True)  # 1 byte to come
    assert _core().http_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab")[-1] == 1


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",  # 1.0: the connection closes after it
        b"GET / HTTP/1.1\nHost: h\n\n",  # bare LF: h11 reads it, the core leaves it
        b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
        b"CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",  # h11 keeps one
        b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: " + b"0" * 20 + b"1\r\n\r\n",  # h11: over 20 digits
        b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * (16 << 10) + b"\r\n\r\n",  # over h11's 16 KiB
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the connection closes",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",  # bare LF ends h11's trailers
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n",  # a chunked body, not complete
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",  # a head, not complete
        b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
)
def test_the_core_leaves_to_h11(data: bytes) -> None:
    assert agrees(data) == (False, False)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_generated_messages(data: bytes) -> None:
    agrees(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutated_messages(data: bytes) -> None:
    agrees(data)


def test_pipelined_requests_are_read_from_an_offset() -> None:
    """The decoder walks a segment with ``pos``: a message starts exactly there, or it is not the core's."""
    one = b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab "
    pipelined = one * 3
    assert _core().http_request(pipelined, len(one)) == (
        2 * len(one),
        "POST",
        "/r",
        {"host": "h", "content-length": "3"},
        b"ab ",
        0,
    )
    assert _core().http_request(pipelined, len(one) - 1) is None


@st.composite
def streams(draw: st.DrawFn) -> list[Step]:
    """Pipelined requests and their responses, cut into segments, with gaps and early ends."""
    steps: list[Step] = []
    for direction in ("orig", "resp"):
        kinds = st.one_of(well_formed(), well_formed(), traps(), mutants())
        stream = b"".join(draw(st.lists(kinds, min_size=1, max_size=4)))
        cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=3)))
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            if end > start:
                what = "gap" if draw(st.integers(0, 15)) == 0 else "data"
                steps.append((what, direction, stream[start:end]))
        if draw(st.integers(0, 5)) == 0:
            steps.append(("eof", direction, b""))
    order = draw(st.permutations(range(len(steps))))
    by_direction = {d: [s for s in steps if s[1] == d] for d in ("orig", "resp")}
    interleaved: list[Step] = []
    for index in order:  # keep each direction's own order, interleave the two
        direction = steps[index][1]
        interleaved.append(by_direction[direction].pop(0))
    return interleaved


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_generated_streams(steps: list[Step]) -> None:
    same_both_ways(steps)
