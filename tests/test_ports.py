"""wirecap.ports and detection by port: net.tcp on any port (808, its own default), mid-session
included, and ``--port N=PROTO`` pinning. The captures are the committed real-peer ones with their
server port rewritten by scapy; decoded values are compared with each capture's truth file."""

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from conftest import events
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap, wrpcap

from decoders.detect import detect
from wirecap.ports import PortParam, port_services, port_settings

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "captures"


def rewrite_port(src: Path, dst: Path, old: int, new: int, drop_first: int = 0) -> Path:
    """The capture with TCP port ``old`` renamed ``new`` (checksums recomputed), without its first
    ``drop_first`` packets (a capture started later: mid-session)."""
    packets = rdpcap(str(src))[drop_first:]
    for packet in packets:
        tcp = packet[TCP]
        tcp.sport = new if tcp.sport == old else tcp.sport
        tcp.dport = new if tcp.dport == old else tcp.dport
        del tcp.chksum
        del packet[IP].chksum
    wrpcap(str(dst), packets)
    return dst


def truth_identities(scenario: str) -> Counter[tuple]:
    lines = (CAPTURES / f"wcf_{scenario}.truth.jsonl").read_text(encoding="utf-8").splitlines()
    return Counter(
        (t["action"], t["message_id"], t["relates_to"]) for t in map(json.loads, lines) if t["dir"] != "fault"
    )


def identities(events: list[dict]) -> Counter[tuple]:
    # null fields are left out of JSON lines
    return Counter(
        (e.get("action"), e.get("message_id"), e.get("relates_to")) for e in events if e["kind"] == "wcf.message"
    )


@pytest.mark.parametrize("scenario", ["buffered", "concurrent"])
def test_net_tcp_on_port_808_decodes_every_message(
    scenario: str, tmp_path: Path, wirecap: Callable[..., object]
) -> None:
    pcap = rewrite_port(CAPTURES / f"wcf_{scenario}.pcap", tmp_path / "808.pcap", 8506, 808)
    out = events(wirecap("replay", "--port", "808", str(pcap)))
    assert identities(out) == truth_identities(scenario)
    closes = [e for e in out if e["kind"] == "conn.close"]
    assert closes and all(c.get("service") == "nmf" and c["resp"].endswith(":808") for c in closes)
    assert not events(wirecap("replay", str(pcap)))  # not a default port: not tracked


@pytest.mark.parametrize("scenario", ["buffered", "concurrent"])
def test_a_mid_session_capture_on_port_808_decodes_after_the_cut(
    scenario: str, tmp_path: Path, wirecap: Callable[..., object]
) -> None:
    """No preamble, no envelope at the first byte: only the port says net.tcp, as 8506 does."""
    whole = CAPTURES / f"wcf_{scenario}.pcap"
    drop = len(rdpcap(str(whole))) // 3
    pcap = rewrite_port(whole, tmp_path / "cut808.pcap", 8506, 808, drop_first=drop)
    out = events(wirecap("replay", "--port", "808", str(pcap)))
    decoded = identities(out)
    truth = truth_identities(scenario)
    assert decoded and not decoded - truth  # every message decoded is one the peers logged
    same_on_8506 = rewrite_port(whole, tmp_path / "cut8506.pcap", 8506, 8506, drop_first=drop)
    assert decoded == identities(events(wirecap("replay", str(same_on_8506))))
    if scenario == "buffered":  # strings defined before the cut are placeholders, not guesses
        assert any(e["unresolved"] for e in out if e["kind"] == "wcf.message")


def test_http_on_another_port_is_pinned_with_port_equals_http(tmp_path: Path, wirecap: Callable[..., object]) -> None:
    """rms_session moved to 9090 and cut after its first request head: the client side starts inside a
    body, the server side inside a response, so no probe recognises it. Assumed net.tcp, it is reported as
    a guess that found no framing; pinned to HTTP, its later calls decode with the truth's values."""
    truth = [json.loads(line) for line in (CAPTURES / "rms_session.truth.jsonl").read_text().splitlines()]
    pcap = rewrite_port(CAPTURES / "rms_session.pcap", tmp_path / "9090.pcap", 8080, 9090, drop_first=4)
    guessed = events(wirecap("replay", "--port", "9090", str(pcap)))
    (close,) = [e for e in guessed if e["kind"] == "conn.close"]
    assert (close.get("service"), close.get("service_guess")) == (None, "nmf")
    assert "conn_undecoded" in close["anomalies"] and not [e for e in guessed if e["kind"] == "rms.call"]
    pinned = events(wirecap("replay", "--port", "9090=http", str(pcap)))
    calls = [e for e in pinned if e["kind"] == "rms.call" and e["complete"]]
    assert calls
    by_id = {t["correlation_id"]: t for t in truth}
    for call in calls:
        expected = by_id[call["correlation_id"]]
        assert (call["uri"], call["status"]) == (expected["uri"], expected["status"])
    (close,) = [e for e in pinned if e["kind"] == "conn.close"]
    assert close.get("service") == "http"


def test_port_param_parses_ports_and_pins() -> None:
    param = PortParam()
    assert param.convert("808", None, None) == (808, None)
    assert param.convert("9090=HTTP", None, None) == (9090, "http")
    assert param.convert("8506=remoting", None, None) == (8506, "remoting")
    for bad in ("x", "0", "70000", "808=ftp", "=nmf"):
        with pytest.raises(click.BadParameter):
            param.convert(bad, None, None)


def test_port_settings_and_the_protocol_assumed_per_port() -> None:
    assert port_settings([]) == {}  # the defaults: 8506 net.tcp, 8080 HTTP
    settings = port_settings([(808, None), (9090, "http"), (8080, None)])
    assert settings == {"ports": frozenset({808, 9090, 8080}), "pinned": {9090: "http"}}
    assert port_services(settings["ports"], settings["pinned"]) == {808: "nmf", 9090: "http", 8080: "http"}
    with pytest.raises(click.BadParameter):
        port_settings([(808, "nmf"), (808, "http")])


def test_detection_by_probe_by_port_and_pinned() -> None:
    preamble = bytes.fromhex("000100010202")
    decided, proto, probed = detect(preamble, b"", 808, final=False, ports={808: "nmf"})
    assert decided and proto is not None and proto.name == "nmf" and probed
    decided, proto, probed = detect(b"\x99" * 64, b"", 808, final=True, ports={808: "nmf"})
    assert decided and proto is not None and proto.name == "nmf" and not probed
    assert detect(b"\x99" * 64, b"", 808, final=True) == (True, None, False)  # not a known port
    assert detect(b"", b"", 808, final=False, ports={808: "http"}) == (False, None, False)  # wait for bytes
    decided, proto, probed = detect(b"", b"", 808, final=False, ports={808: "http"}, pinned=frozenset({808}))
    assert decided and proto is not None and proto.name == "http" and not probed
