"""[MS-NRTP] recognition: the spec's own example frame, and a real Mono Remoting conversation."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from remoting_truth import check_calls, decode_capture, read_truth

from decoders.remoting import probe

INTEROP = Path(__file__).parent / "interop" / "remoting"

# [MS-NRTP] 4.1 "Two-Way Method Invocation Using TCP-Binary": first bytes of the request message dump.
SPEC_REQUEST = bytes.fromhex("2e4e4554 0100 0000 0000 74010000 0400 01 01 22000000".replace(" ", ""))


def test_spec_request_frame_is_recognised_at_every_length() -> None:
    assert probe(SPEC_REQUEST, b"") is True
    for cut in range(1, 10):
        assert probe(SPEC_REQUEST[:cut], b"") is None  # a prefix of the preamble: wait for more


def test_reply_alone_is_recognised_mid_stream() -> None:
    reply = b".NET\x01\x00" + (2).to_bytes(2, "little") + b"\x00\x00"
    assert probe(b"\x17\x03\x03garbage", reply) is True


def test_other_protocols_are_not_remoting() -> None:
    nmf_preamble = bytes.fromhex("000100010202")
    assert probe(b"POST /resto/services/update HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n") is False
    assert probe(nmf_preamble, bytes.fromhex("0b")) is False
    assert probe(b".NET\x02\x00\x00\x00\x00\x00", b"x") is False  # version 2.0 does not exist


def test_mono_remoting_live_against_the_clients_truth(tmp_path: Path) -> None:
    """A real TcpChannel client and server (Mono) on port 8506, captured by tcpdump now, decoded value by value."""
    assert shutil.which("mono") and shutil.which("mcs") and shutil.which("tcpdump")
    subprocess.run([str(INTEROP / "run_remoting.sh"), str(tmp_path)], check=True, timeout=120)
    pcap = tmp_path / "remoting.pcap"
    assert check_calls(read_truth(tmp_path / "remoting.truth.jsonl"), decode_capture(pcap)) > 20
    out = subprocess.run(
        [sys.executable, "-m", "wirecap", "replay", "-q", str(pcap)], check=True, capture_output=True, text=True
    ).stdout
    closes = [e for e in map(json.loads, out.splitlines()) if e["kind"] == "conn.close"]
    assert [c["service"] for c in closes] == ["remoting", "remoting"]  # the binary and the SOAP client
    assert all(c["resp"].endswith(":8506") for c in closes)
    # Payload bytes each way equal what Wireshark counts (tcp.len summed by source port), all decoded.
    fields = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.len"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    from_server = sum(int(n) for port, n in (line.split("\t") for line in fields.splitlines()) if port == "8506")
    from_client = sum(int(n) for port, n in (line.split("\t") for line in fields.splitlines()) if port != "8506")
    for side, wire in (("orig_stats", from_client), ("resp_stats", from_server)):
        assert sum(c[side]["bytes"] for c in closes) == sum(c[side]["decoded"] for c in closes) == wire > 0
        assert all(c[side]["gaps"] == 0 for c in closes)
