"""wirecap.limits: the registry agrees with the options and the anomalies, ``--limit`` reaches the
decoders, and hostile input stays within a stated memory bound.

The memory test runs each attack in a fresh process and reads its peak RSS (VmHWM): a 2 GB declared
size (net.tcp and HTTP) followed by 64 MiB of real bytes, 10⁶-deep nesting (binary and text XML), and
gzip bombs (HTTP body and NMF compressed envelope, 256 MiB of zeros each).
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENV, events

from decoders.anomalies import ANOMALIES
from decoders.detect import DecoderOptions
from wirecap.limits import BY_NAME, LIMITS, apply, parse_assignments, parse_value
from wirecap.pipeline import Options

REPO = Path(__file__).resolve().parent.parent
PEAK_RSS_MB = 128  # bound on each attack process: ~35 MB with wirecap imported, ~52 MB at most measured


def test_every_limit_names_a_field_and_registered_anomalies() -> None:
    for limit in LIMITS:
        owner = limit.field.split(".")[0]
        assert owner in ("Options", "DecoderOptions")
        if limit.name != "connections":  # Options.max_connections lands with the connection-cap work
            assert isinstance(limit.default, int) and limit.default > 0, limit
        assert all(name in ANOMALIES for name in limit.anomalies), limit
        assert all(f"{limit.name}" in ANOMALIES[name] for name in limit.anomalies if "_too_" in name), limit


def test_every_decoder_limit_field_is_registered() -> None:
    fields = {f.name for f in dataclasses.fields(DecoderOptions) if f.name.startswith("max_")}
    fields |= {f.name for f in dataclasses.fields(Options) if f.name.startswith("max_")}
    assert fields <= {limit.field.split(".")[1] for limit in LIMITS}


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("envelope_size", "16MiB", 16 << 20),
        ("envelope_size", "64k", 64_000),
        ("envelope_size", "2GB", 2_000_000_000),
        ("envelope_size", "1 KiB", 1024),
        ("elements", "500", 500),
        ("decompression_ratio", "100", 100),
    ],
)
def test_values(name: str, text: str, value: int) -> None:
    assert parse_value(BY_NAME[name], text) == value


@pytest.mark.parametrize(
    "texts",
    [("elements=5k",), ("nesting_depth=121",), ("envelope_size=0",), ("nope=1",), ("envelope_size",), ("elements=x",)],
)
def test_bad_values(texts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        parse_assignments(texts)


def test_apply_sets_both_option_classes() -> None:
    options = apply(Options(), {"elements": 7, "ooo_total": 1 << 20})
    assert options.decoder.max_elements == 7 and options.max_ooo_total == 1 << 20
    assert options.decoder.max_envelope == DecoderOptions().max_envelope


def test_limits_command_lists_every_limit(wirecap) -> None:
    out = wirecap("limits").stdout.decode()
    assert [line.split()[0] for line in out.splitlines()] == [limit.name for limit in LIMITS]
    assert "64MiB" in out.splitlines()[0]


@pytest.mark.parametrize("command", ["replay", "orders", "inspect"])
def test_limit_option_reaches_the_decoders(command: str, wirecap) -> None:
    capture = str(REPO / "captures" / "wcf_buffered.pcap")
    assert wirecap(command, capture, "--limit", "nesting_depth=0").returncode == 2
    if command == "replay":
        names = [e.get("name") for e in events(wirecap("replay", "-q", capture, "--limit", "elements=3"))]
        assert "nbfx_too_many_elements" in names
        assert "nbfx_too_many_elements" not in [e.get("name") for e in events(wirecap("replay", "-q", capture))]
    else:  # no events to look at: the limit makes every message fail, so nothing is recognised
        plain = wirecap(command, capture)
        limited = wirecap(command, capture, "--limit", "elements=3")
        assert plain.returncode == limited.returncode == 0
        assert plain.stdout != limited.stdout or plain.stderr != limited.stderr


ATTACK = r"""
import gzip, json, sys
from decoders.detect import DecoderOptions
from decoders.events import Anomaly
from decoders.http import HttpDecoder
from decoders.nmf import NmfDecoder

def mb31(n):
    out = bytearray()
    while True:
        if n < 0x80:
            return bytes(out + bytes([n]))
        out.append(n & 0x7F | 0x80)
        n >>= 7

def string(s):
    return mb31(len(s)) + s

CONN = dict(uid="C", community_id="1:x", orig="10.0.0.1:1", resp="10.0.0.2:8506", orig_h="10.0.0.1", orig_p=1, resp_h="10.0.0.2", resp_p=8506)
def preamble(content_type):
    return b"\x00\x01\x00\x01\x02\x02" + string(b"net.tcp://x/") + b"\x04" + string(content_type) + b"\x0c"

case = sys.argv[1]
names = []
def take(events):
    names.extend(e.name for e in events if isinstance(e, Anomaly))

chunk = bytes(64 << 10)
if case.startswith("nmf"):
    d = NmfDecoder(CONN, DecoderOptions())
    if case == "nmf_declared_2gb":
        take(d.feed("orig", preamble(b"application/soap+msbinsession1") + b"\x06" + mb31(2**31 - 1), 0))
        for _ in range(1024):  # 64 MiB of it
            take(d.feed("orig", chunk, 0))
    elif case == "nmf_deep":
        doc = b"\x00" + b"\x40\x01a" * 10**6
        take(d.feed("orig", preamble(b"application/soap+msbinsession1") + b"\x06" + mb31(len(doc)) + doc, 0))
    elif case == "nmf_gzip_bomb":
        bomb = gzip.compress(bytes(256 << 20), 9)
        take(d.feed("orig", preamble(b"application/soap+msbinsession1+gzip") + b"\x06" + mb31(len(bomb)) + bomb, 0))
    take(d.eof("orig", 0))
else:
    d = HttpDecoder(CONN, DecoderOptions())
    head = b"POST /resto/services/x?methodName=y HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\n"
    if case == "http_declared_2gb":
        take(d.feed("orig", head + b"Content-Length: 2000000000\r\n\r\n", 0))
        for _ in range(1024):
            take(d.feed("orig", chunk, 0))
    elif case == "http_deep":
        body = b"<a>" * 10**6
        take(d.feed("orig", head + b"Content-Length: %d\r\n\r\n" % len(body) + body, 0))
    elif case == "http_gzip_bomb":
        body = gzip.compress(bytes(256 << 20), 9)
        take(d.feed("orig", head + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body, 0))
    if case != "http_declared_2gb":  # that request never ends
        take(d.feed("resp", b"HTTP/1.1 204 No Content\r\n\r\n", 0))
    take(d.eof("orig", 0) + d.eof("resp", 0))
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) // 1024
print(json.dumps({"names": names, "peak_mb": peak}))
"""


@pytest.mark.parametrize(
    ("case", "anomaly"),
    [
        ("nmf_declared_2gb", "nmf_envelope_too_large"),
        ("nmf_deep", "nbfx_too_deep"),
        ("nmf_gzip_bomb", "nmf_decompression_ratio"),
        ("http_declared_2gb", "http_truncated"),  # 16 MiB kept of the body, then the capture ends inside it
        ("http_deep", "soap_too_deep"),
        ("http_gzip_bomb", "http_decompression_ratio"),
    ],
)
def test_hostile_input_stays_within_the_memory_bound(case: str, anomaly: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", ATTACK, case], capture_output=True, text=True, env=ENV, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert anomaly in result["names"], result
    assert result["peak_mb"] < PEAK_RSS_MB, result


def test_the_deepest_document_allowed_still_serialises() -> None:
    """Found while hardening: a body nested 254 JSON levels deep made pydantic's JSON writer raise in the
    sink, a traceback for the whole run. An element with attributes that is also a collection costs two
    levels ({"@f": …, "#items": [...]}), so nesting_depth is capped where that worst case still fits."""
    from decoders.events import Anomaly
    from decoders.http import HttpDecoder

    depth = BY_NAME["nesting_depth"].maximum
    assert depth is not None
    z = b'xmlns:z="http://schemas.microsoft.com/2003/10/Serialization/"'
    body = b"<r " + z + b">" + b'<a f="1" z:Size="1">' * (depth - 1) + b"</a>" * (depth - 1) + b"</r>"
    decoder = HttpDecoder(
        {
            "uid": "C",
            "community_id": "1:x",
            "orig": "10.0.0.1:1",
            "resp": "10.0.0.2:8080",
            "orig_h": "10.0.0.1",
            "orig_p": 1,
            "resp_h": "10.0.0.2",
            "resp_p": 8080,
        },
        DecoderOptions(max_depth=depth),
    )
    head = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body)
    events = decoder.feed("orig", head + body, 0) + decoder.feed("resp", b"HTTP/1.1 204 No Content\r\n\r\n", 0)
    assert [e.kind for e in events] == ["rms.call"] and not any(isinstance(e, Anomaly) for e in events)
    assert events[0].request is not None and len(events[0].model_dump_json()) > depth
