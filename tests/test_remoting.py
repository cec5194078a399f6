"""[MS-NRTP] frames: recognition, the Mono client's calls value by value (live), frames cut and damaged."""

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from remoting_truth import check_calls, decode_capture, read_truth

from decoders.events import ConnFields, Event
from decoders.interface import Accounting, DecoderOptions
from decoders.remoting import RemotingDecoder, probe
from wirecap.streams import collect_streams

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


# --- frames, cut and damaged: the first messages of the committed Mono capture ----------------------

CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "remoting.pcap"
CONN = ConnFields(uid="C", community_id="1:x", orig="o", resp="r", orig_h="o", orig_p=0, resp_h="r", resp_p=0)


def client_stream() -> bytes:
    (stream,) = [s for s in collect_streams([str(CAPTURE)]) if b"application/octet-stream" in s.data["orig"][:400]]
    return stream.data["orig"]


def frames(data: bytes, count: int) -> list[bytes]:
    """The first ``count`` frames of a sized stream, each as its bytes on the wire."""
    out, pos = [], 0
    for _ in range(count):
        (length,) = struct.unpack_from("<i", data, pos + 10)
        end = data.index(b"\x00\x00", data.index(b"application/octet-stream", pos)) + 2 + length
        out.append(data[pos:end])
        pos = end
    return out


def run(chunks: list[bytes], options: DecoderOptions | None = None) -> tuple[list[Event], Accounting]:
    decoder = RemotingDecoder(CONN, options or DecoderOptions())
    events = [e for chunk in chunks for e in decoder.feed("orig", chunk, 0)] + decoder.eof("orig", 0)
    return events, decoder.accounting("orig")


def test_frames_whole_split_and_byte_by_byte() -> None:
    first, second = frames(client_stream(), 2)
    whole, accounting = run([first + second])
    assert [(e.operation, e.method, e.args) for e in whole] == [("request", "OpenOrder", [1, "Иванов"]),
                                                                ("one_way", "Ping", ["T1", 1])]  # fmt: skip
    assert accounting.decoded == len(first + second) and not accounting.skipped
    for cut in range(1, len(first)):
        assert run([first[:cut], first[cut:] + second])[0] == whole
    assert run([bytes([b]) for b in first + second])[0] == whole
    trailing, _ = run([first + second + second[:20]])
    assert trailing[:2] == whole and trailing[2].name == "nrtp_truncated" and trailing[2].offset == len(first + second)


def test_bad_frame_head_is_an_anomaly_then_the_next_frame_decodes() -> None:
    first, second = frames(client_stream(), 2)
    bad = first[:6] + b"\x07\x00" + first[8:]  # OperationType 7
    events, accounting = run([bad + second])
    assert [(e.kind, getattr(e, "name", None), e.offset if e.kind == "anomaly" else None) for e in events[:1]] == [
        ("anomaly", "nrtp_bad_frame", 0)
    ]
    assert [e.method for e in events[1:]] == ["Ping"]
    assert accounting.decoded == len(second)
    assert accounting.skipped == {"rejected": 1, "resync": len(first) - 1}


def test_bad_content_is_an_nrbf_anomaly_and_framing_goes_on() -> None:
    first, second = frames(client_stream(), 2)
    at = first.index(b"\x15\x12\x00\x00\x00")  # BinaryMethodCall: make it record type 0x63
    bad = first[:at] + b"\x63" + first[at + 1 :]
    events, accounting = run([bad + second])
    anomaly, call, ping = events
    assert (anomaly.name, anomaly.source, anomaly.offset) == ("nrbf_unknown_record", "nrbf", at)
    assert (call.method, call.args, ping.method) == (None, None, "Ping")  # the frame is still a request
    content = len(first) - first.index(b"\x00\x00", first.index(b"octet-stream")) - 2
    assert accounting.skipped == {"undecodable": content}
    assert accounting.decoded == len(first) + len(second) - content


def test_gap_inside_a_frame_then_resync() -> None:
    first, second = frames(client_stream(), 2)
    decoder = RemotingDecoder(CONN, DecoderOptions())
    events = decoder.feed("orig", first[:50], 0) + decoder.gap("orig", 30, 0)
    events += decoder.feed("orig", first[80:] + second, 0) + decoder.eof("orig", 0)
    lost, ping = events
    assert (lost.name, lost.offset, ping.method) == ("nrtp_frame_lost", 0, "Ping")
    accounting = decoder.accounting("orig")
    assert accounting.decoded == len(second)
    assert accounting.decoded + sum(accounting.skipped.values()) == len(first) - 30 + len(second)


def test_chunked_content_gives_the_same_message() -> None:
    """No peer at hand sends chunked frames (Mono and .NET size theirs): the first real frame's content,
    re-framed by hand as 2.2.3.3.2 chunks of 100 bytes, must decode to the same message."""
    first, second = frames(client_stream(), 2)
    head_end = first.index(b"\x00\x00", first.index(b"octet-stream")) + 2
    content = first[head_end:]
    chunked = first[:8] + b"\x01\x00" + first[14:head_end]  # ContentDistribution 1, no length field
    for at in range(0, len(content), 100):
        piece = content[at : at + 100]
        chunked += struct.pack("<i", len(piece)) + piece + b"\r\n"
    chunked += struct.pack("<i", 0) + b"\r\n"
    sized, _ = run([first])
    events, accounting = run([chunked + second])
    assert events[0].model_dump(exclude={"size"}) == sized[0].model_dump(exclude={"size"})
    assert events[1].method == "Ping" and accounting.decoded == len(chunked + second)
    broken = chunked.replace(b"\r\n", b"\r\r", 1)
    assert run([broken + second])[0][0].name == "nrtp_bad_chunk"


def test_content_over_the_limit_is_counted_not_decoded() -> None:
    first, second = frames(client_stream(), 2)
    events, accounting = run([first + second], DecoderOptions(max_envelope=100))
    assert [e.kind if e.kind != "anomaly" else e.name for e in events][:2] == [
        "nrtp_content_too_large",
        "remoting.message",
    ]
    assert accounting.decoded + accounting.skipped["too_large"] == len(first + second)


def test_replies_pair_with_requests_in_order() -> None:
    events = decode_capture(CAPTURE)
    replies = [e for e in events if e.kind == "remoting.message" and e.operation == "reply"]
    requests = [e for e in events if e.kind == "remoting.message" and e.operation == "request"]
    assert [r.method for r in replies] == [r.method for r in requests]
    assert [r.trans_depth for r in replies] == [r.trans_depth for r in requests]
    calls: dict[str, list[int | None]] = {}  # per connection, the requests' and one-way requests' numbers
    for e in events:
        if e.kind == "remoting.message" and e.operation != "reply":
            calls.setdefault(e.uid, []).append(e.trans_depth)
    assert len(calls) > 1 and all(depths == list(range(1, len(depths) + 1)) for depths in calls.values())


def reply_frames(count: int) -> list[bytes]:
    """The first ``count`` replies of the client's connection (Mono writes no reply headers)."""
    (stream,) = [s for s in collect_streams([str(CAPTURE)]) if b"application/octet-stream" in s.data["orig"][:400]]
    data, out, pos = stream.data["resp"], [], 0
    for _ in range(count):
        (length,) = struct.unpack_from("<i", data, pos + 10)
        assert data[pos + 14 : pos + 16] == b"\x00\x00"  # the end of the (empty) headers
        out.append(data[pos : pos + 16 + length])
        pos += 16 + length
    return out


def test_a_reply_to_a_call_before_the_capture_does_not_shift_the_pairing() -> None:
    """A capture that starts between a call and its reply (a live capture, mid-session): that reply answers
    nothing seen, and the calls after it still pair with their own replies."""
    _open_order, ping, save_order = frames(client_stream(), 3)  # OpenOrder is never fed: its reply comes first
    open_reply, save_reply = reply_frames(2)
    decoder = RemotingDecoder(CONN, DecoderOptions())
    events = decoder.feed("resp", open_reply, 1_000_000)
    events += decoder.feed("orig", ping + save_order, 2_000_000)
    events += decoder.feed("resp", save_reply, 5_000_000)
    assert [(e.operation, e.method, e.trans_depth, e.latency_ms) for e in events] == [
        ("reply", None, None, None),
        ("one_way", "Ping", 1, None),
        ("request", "SaveOrder", 2, None),
        ("reply", "SaveOrder", 2, 3.0),
    ]


def test_tshark_has_no_nrtp_dissector() -> None:
    """Nothing in Wireshark to compare frames with (4.0 has no .NET Remoting dissector): if one appears,
    this test fails and a comparison is due."""
    protocols = subprocess.run(["tshark", "-G", "protocols"], capture_output=True, text=True, check=True).stdout
    names = {line.split("\t")[2].lower() for line in protocols.splitlines() if line.count("\t") >= 2}
    assert not names & {"nrtp", "ms-nrtp", "msnrtp", "nrbf", "ms-nrbf", "remoting", "dotnet-remoting"}


def test_human_lines_name_the_call_and_what_it_threw() -> None:
    from wirecap.human import human_line

    lines = [human_line(e, colour=False) for e in decode_capture(CAPTURE) if e.kind == "remoting.message"]
    assert any(line.endswith("request OpenOrder, 162 B") for line in lines)
    assert any("reply DeleteOrder: threw System.InvalidOperationException" in line for line in lines)
    assert any("one-way Ping" in line and "SOAP" in line for line in lines)


def test_inspect_lists_remoting_calls_and_their_argument_paths() -> None:
    """What an analyst reads to write [remoting_arguments] for another build."""
    out = subprocess.run(
        [sys.executable, "-m", "wirecap", "inspect", str(CAPTURE)], check=True, capture_output=True, text=True
    ).stdout
    assert "5  remoting request SaveOrder" in out and "3  remoting one_way Ping" in out
    assert "args[]/Items[]/Product" in out and "exception/ClassName" in out
