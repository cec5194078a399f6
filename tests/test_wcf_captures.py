"""decoders.nmf on real Mono WCF net.tcp traffic: every message against the peers' own ground truth,
the framing against Wireshark's mc-nmf dissector, and the same streams cut mid-session. Message
bodies are compared with the truth value by value in tests/test_soap.py.

Captures and truth files: captures/wcf_<scenario>.{pcap,truth.jsonl} (format in captures/README.md);
one scenario is also regenerated live with tests/interop/run_wcf.sh.
"""

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import mb31

from decoders.detect import DecoderOptions
from decoders.events import ConnFields, Event
from decoders.json_text import plain
from decoders.nmf import NmfDecoder
from wirecap.pipeline import Pipeline, run
from wirecap.source import CaptureSource
from wirecap.streams import collect_streams

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "captures"
SCENARIOS = ["buffered", "streamed", "callback", "concurrent"]


def decode(orig: bytes, resp: bytes, uid: str = "C") -> list[Event]:
    conn = ConnFields(uid=uid, community_id="1:x", orig="o", resp="r", orig_h="o", orig_p=0, resp_h="r", resp_p=0)
    d = NmfDecoder(conn, DecoderOptions())
    return d.feed("orig", orig, 0) + d.feed("resp", resp, 0) + d.eof("orig", 0) + d.eof("resp", 0)


def decode_capture(pcap: Path) -> list[tuple[object, list[Event]]]:
    """(stream, its events) for every TCP connection of the capture."""
    return [(s, decode(s.data["orig"], s.data["resp"], s.uid)) for s in collect_streams([str(pcap)])]


def truth_records(truth: Path) -> list[dict]:
    return [json.loads(line) for line in truth.read_text().splitlines()]


def decoded_messages(pcap: Path) -> list[Event]:
    """Every wcf.* event of the capture; the capture must decode without anomalies or placeholders."""
    out = []
    for stream, events in decode_capture(pcap):
        assert not [e for e in events if e.kind == "anomaly"], stream.uid
        out += [e for e in events if e.kind in ("wcf.message", "wcf.fault")]
    assert all(e.unresolved == 0 for e in out)
    return out


def assert_matches_truth(pcap: Path, truth: Path) -> int:
    """Every message the peers logged is decoded with the same Action/MessageID/RelatesTo, every fault
    with the same code, reason and detail, and nothing else is decoded."""
    decoded: dict[tuple, int] = defaultdict(int)
    faults = []
    for e in decoded_messages(pcap):
        if e.kind == "wcf.fault":
            faults.append(json.dumps([e.code, e.subcode, e.reason, plain(e.detail)], sort_keys=True))
        else:
            decoded[e.action, e.message_id, e.relates_to] += 1
    expected: dict[tuple, int] = defaultdict(int)
    expected_faults = []
    for t in truth_records(truth):
        if t["dir"] == "fault":  # logged from the client's FaultException: no addressing headers
            f = t["body"]
            expected_faults.append(json.dumps([f["code"], f["subcode"], f["reason"], f["detail"]], sort_keys=True))
        else:
            expected[t["action"], t["message_id"], t["relates_to"]] += 1
    assert decoded == expected
    assert sorted(faults) == sorted(expected_faults)
    return sum(expected.values()) + len(expected_faults)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_messages_match_the_peers_truth(scenario):
    count = assert_matches_truth(CAPTURES / f"wcf_{scenario}.pcap", CAPTURES / f"wcf_{scenario}.truth.jsonl")
    assert count > 0


def test_live_mono_capture_matches_truth(tmp_path):
    """Regenerate one scenario between Mono peers right now and decode it."""
    subprocess.run(
        ["bash", str(REPO / "tests" / "interop" / "run_wcf.sh"), "callback", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert assert_matches_truth(tmp_path / "wcf_callback.pcap", tmp_path / "wcf_callback.truth.jsonl") > 0


def tshark_records(pcap: Path) -> dict[tuple[int, str, int], tuple[list[int], list[int], str, str]]:
    """(tcp.stream, direction, stream offset of the segment) -> mc-nmf record types, SizedEnvelope
    sizes, Via and known encoding as Wireshark parses that segment (it does not reassemble records)."""
    fields = ["tcp.stream", "tcp.dstport", "tcp.seq", "mc-nmf.record_type", "mc-nmf.payload_length"]
    fields += ["mc-nmf.via", "mc-nmf.known_encoding"]
    cmd = ["tshark", "-r", str(pcap), "-d", "tcp.port==8506,mc-nmf", "-Y", "mc-nmf", "-T", "fields", "-E"]
    cmd += ["separator=|", *(a for f in fields for a in ("-e", f))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    records = {}
    for line in out.splitlines():
        stream, dport, seq, types, sizes, via, encoding = line.split("|")
        ints = [[int(x, 0) for x in v.split(",") if x] for v in (types, sizes)]
        direction = "orig" if dport == "8506" else "resp"
        records[int(stream), direction, int(seq) - 1] = (ints[0], ints[1], via, encoding)
    return records


def envelope_offsets(events: list[Event], direction: str, first: int) -> list[tuple[int, int]]:
    """(stream offset, size) of each envelope: duplex envelopes follow each other directly."""
    out, offset = [], first
    for e in events:
        if e.kind in ("wcf.message", "wcf.fault") and e.dir == direction:
            out.append((offset, e.size))
            offset += 1 + len(mb31(e.size)) + e.size
    return out


@pytest.mark.parametrize("scenario", ["buffered", "callback", "concurrent"])
def test_framing_matches_wireshark(scenario):
    """Where a segment starts at one of our envelopes, Wireshark reads the same record and size;
    the preamble's Via and encoding agree."""
    pcap = CAPTURES / f"wcf_{scenario}.pcap"
    records = tshark_records(pcap)
    compared = 0
    for index, (stream, events) in enumerate(decode_capture(pcap)):
        (pre,) = [e for e in events if e.kind == "nmf.preamble"]
        types, _, via, encoding = records[index, "orig", 0]
        assert types[:5] == [0, 1, 2, 3, 12] and via == pre.via and encoding == "8"
        assert pre.encoding == "soap1.2-binary-session", stream.uid
        preamble_len = len(stream.data["orig"]) - len(stream.data["orig"].split(b"\x0c", 1)[1])
        for direction, first in (("orig", preamble_len), ("resp", 1)):
            for offset, size in envelope_offsets(events, direction, first):
                if (index, direction, offset) in records:
                    types, sizes, _, _ = records[index, direction, offset]
                    assert (types[0], sizes[0]) == (6, size), (stream.uid, direction, offset)
                    compared += 1
    assert compared >= 10


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cut_after_the_first_messages_still_decodes(scenario, tmp_path):
    """Drop the capture's first third of packets — preamble, first envelopes, part of one more — and
    replay the rest through the whole pipeline: what follows the cut decodes to the same messages,
    session strings defined before the cut shown as placeholders."""
    full = replay_messages(CAPTURES / f"wcf_{scenario}.pcap")
    cut_pcap = tmp_path / "cut.pcap"
    cut_pcap.write_bytes(drop_first_third((CAPTURES / f"wcf_{scenario}.pcap").read_bytes()))
    part = replay_messages(cut_pcap)
    assert 0 < len(part) < len(full)
    assert [identity(m) for m in part] == [identity(m) for m in full[len(full) - len(part) :]]
    anomalies = {e.name for e in replay_events(cut_pcap) if e.kind == "anomaly"}
    # A cut connection may also end inside what its cut first bytes made look like a record.
    # A connection whose remaining bytes hold no whole message says so (conn_undecoded).
    assert anomalies <= {"nmf_resync", "nmf_no_sync", "nmf_truncated", "conn_undecoded"}
    if scenario == "buffered":  # a long session: strings defined before the cut are used after it
        assert any(m.unresolved for m in part)


def drop_first_third(pcap: bytes) -> bytes:
    """A classic pcap without its first third of packet records (the capture 'started later')."""
    offsets = []
    pos = 24
    while pos < len(pcap):
        offsets.append(pos)
        pos += 16 + int.from_bytes(pcap[pos + 8 : pos + 12], "little")
    return pcap[:24] + pcap[offsets[len(offsets) // 3] :]


def identity(message: Event) -> tuple:
    return (message.action, message.message_id, message.relates_to, message.size)  # type: ignore[attr-defined]


def replay_events(pcap: Path) -> list[Event]:
    events: list[Event] = []
    run([CaptureSource(str(pcap))], Pipeline(), events.extend)
    return events


def replay_messages(pcap: Path) -> list[Event]:
    return [e for e in replay_events(pcap) if e.kind in ("wcf.message", "wcf.fault")]
