"""tests/interop: the Mono WCF peers still produce what captures/ holds, and their truth agrees with the wire.

Each scenario is captured afresh (root, mono, mcs and tcpdump needed; CI has them). The checks read the
pcap with scapy and look only at the framing bytes and the addressing GUIDs, never through our
decoders: the truth must be right independently of what it is later used to test.
"""

import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from interop import SCENARIOS, read_truth, run_scenario
from scapy.layers.inet import TCP
from scapy.utils import PcapReader

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
PORT = 8506
LINES = {"buffered": 46, "streamed": 8, "callback": 13, "concurrent": 39}
FULL_SEGMENTS = {"buffered": 300, "streamed": 13}  # payloads of exactly one MSS (1448 bytes)
TRUTH_KEYS = ["scenario", "conn", "call", "dir", "action", "one_way", "message_id", "relates_to", "body"]
# [MC-NMF] 2.2.3: VersionRecord 1.0, ModeRecord; KnownEncodingRecord; PreambleEnd / PreambleAck / End.
VERSION_1_0 = bytes.fromhex("00 01 00")
DUPLEX, SINGLETON_UNSIZED = 0x02, 0x01
BINARY_SESSION, BINARY = 0x08, 0x07
PREAMBLE_END, PREAMBLE_ACK, END = 0x0C, 0x0B, 0x07


def streams(pcap: Path) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) per TCP connection in SYN order; retransmitted bytes kept once."""
    segments: dict[tuple[int, bool], dict[int, bytes]] = defaultdict(dict)
    isn: dict[tuple[int, bool], int] = {}
    order: list[int] = []
    with PcapReader(str(pcap)) as packets:
        for packet in packets:
            tcp = packet[TCP]
            to_server = tcp.dport == PORT
            key = (tcp.sport if to_server else tcp.dport, to_server)
            if tcp.flags.S:
                isn[key] = tcp.seq + 1
                if to_server:
                    order.append(key[0])
            elif payload := bytes(tcp.payload):
                segments[key][tcp.seq] = payload
    return [(join(segments[(p, True)], isn[(p, True)]), join(segments[(p, False)], isn[(p, False)])) for p in order]


def join(pieces: dict[int, bytes], start: int) -> bytes:
    data = bytearray()
    for seq in sorted(pieces):
        offset = seq - start - len(data)
        assert offset <= 0, f"hole of {offset} bytes in the capture"
        data += pieces[seq][-offset:] if offset else pieces[seq]
    return bytes(data)


def preamble(mode: int, encoding: int, path: str) -> bytes:
    via = f"net.tcp://127.0.0.1:{PORT}/{path}".encode()
    return VERSION_1_0 + bytes([0x01, mode, 0x02, len(via)]) + via + bytes([0x03, encoding, PREAMBLE_END])


def guid_bytes(urn: str) -> bytes:
    """A WS-Addressing urn:uuid as NBFX's UniqueIdText record carries it (.NET Guid byte order)."""
    return uuid.UUID(urn.removeprefix("urn:uuid:")).bytes_le


@pytest.fixture(scope="module", params=SCENARIOS)
def fresh(request, tmp_path_factory) -> tuple[str, Path, list[dict]]:
    scenario = request.param
    pcap, truth = run_scenario(scenario, tmp_path_factory.mktemp(scenario))
    return scenario, pcap, read_truth(truth)


def test_capture_and_truth_are_written(fresh):
    scenario, pcap, truth = fresh
    assert pcap.stat().st_size > 1000
    assert pcap.read_bytes()[:4] == bytes.fromhex("d4 c3 b2 a1")  # classic little-endian pcap
    assert len(truth) == LINES[scenario]
    assert all(list(line) == TRUTH_KEYS and line["scenario"] == scenario for line in truth)


def test_truth_is_reproducible_and_matches_the_committed_one(fresh):
    """Same bodies, actions and order as captures/ (only Mono's random MessageIDs differ), so the
    committed capture is what the current peer code produces."""
    scenario, _, truth = fresh
    committed = read_truth(CAPTURES / f"wcf_{scenario}.truth.jsonl")

    def stable(lines: list[dict]) -> list[tuple]:
        shape = [(t["conn"], t["call"], t["dir"], t["action"], t["one_way"], t["body"]) for t in lines]
        return sorted(shape, key=repr) if scenario == "concurrent" else shape

    assert stable(truth) == stable(committed)


def test_framing_is_what_the_decoders_expect(fresh):
    """Buffered sessions: duplex mode with the in-band dictionary; Mono's client ends with End, its server
    never sends End. Streamed: one singleton-unsized connection per call, End from both sides."""
    scenario, pcap, _ = fresh
    conns = streams(pcap)
    if scenario == "streamed":
        assert len(conns) == LINES[scenario] // 2
        for client, server in conns:
            assert client.startswith(preamble(SINGLETON_UNSIZED, BINARY, "BlobStore"))
            assert server[0] == PREAMBLE_ACK
            assert client[-1] == END and server[-1] == END
        return
    assert len(conns) == (3 if scenario == "concurrent" else 1)
    path = "OrderWatch" if scenario == "callback" else "OrderSync"
    for client, server in conns:
        assert client.startswith(preamble(DUPLEX, BINARY_SESSION, path))
        assert server[0] == PREAMBLE_ACK
        assert client[-1] == END
        assert server[-1] != END


def test_addressing_ids_are_on_the_wire_in_the_right_direction(fresh):
    """Every MessageID / RelatesTo of the truth occurs in the bytes of the side that sent that message."""
    _, pcap, truth = fresh
    conns = streams(pcap)
    client = b"".join(c for c, _ in conns)
    server = b"".join(s for _, s in conns)
    checked = 0
    for t in truth:
        sent_by_client = t["dir"] in ("request", "callback_reply")
        for urn in (t["message_id"], t["relates_to"]):
            if urn:
                assert guid_bytes(urn) in (client if sent_by_client else server), (t["call"], t["dir"], urn)
                checked += 1
    assert checked >= len(truth) - sum(t["dir"] == "fault" for t in truth)


def test_segments_are_lan_sized(fresh):
    """run_wcf.sh captures in a namespace whose lo has a 1500-byte MTU and no GSO: segments of at most
    one MSS, so the 448 KB buffered envelope is reassembled from hundreds of them."""
    scenario, pcap, _ = fresh
    with PcapReader(str(pcap)) as packets:
        sizes = [len(p[TCP].payload) for p in packets if len(p[TCP].payload)]
    assert max(sizes) <= 1448
    assert sum(size == 1448 for size in sizes) >= FULL_SEGMENTS.get(scenario, 0)
