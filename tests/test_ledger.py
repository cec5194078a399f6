"""wirecap.ledger: nothing is lost silently. On every committed capture, cut mid-session, with packets
dropped (real-peer bytes with gaps) and on the torture captures, each direction's decoded and skipped
bytes add up to the bytes delivered, gap_bytes are the missing ones, and no decoder's figures are off."""

import random
from pathlib import Path

import pytest
from scapy.utils import rdpcap, wrpcap
from torture import SCENARIOS, Conn, frames, timed, write_pcap

from decoders.accounting import REASONS
from decoders.detect import DecoderOptions, Protocol, Undecoded
from decoders.events import ConnClose, Event
from decoders.http import HttpDecoder
from decoders.nmf import NmfDecoder
from wirecap.flow import conn_fields
from wirecap.pipeline import Options, Pipeline, run
from wirecap.source import CaptureSource

REPO = Path(__file__).resolve().parent.parent
CAPTURES = sorted((REPO / "captures").glob("*.pcap"))
CONN = conn_fields("C", "1:x", "10.0.0.1:1", "10.0.0.2:8506")


def replay(path: Path, options: Options | None = None) -> list[Event]:
    events: list[Event] = []
    run([CaptureSource(str(path))], Pipeline(options), events.extend)
    return events


def closes(events: list[Event]) -> list[ConnClose]:
    return [e for e in events if isinstance(e, ConnClose)]


def assert_accounted(events: list[Event]) -> int:
    """Every direction adds up; returns the bytes checked."""
    total = 0
    assert not [e for e in events if e.kind == "anomaly" and e.name == "bytes_unaccounted"]
    for close in closes(events):
        for stats in (close.orig_stats, close.resp_stats):
            assert stats.decoded >= 0 and all(n > 0 for n in stats.skipped.values()), close
            assert stats.decoded + sum(stats.skipped.values()) == stats.bytes, close
            assert set(stats.skipped) <= set(REASONS) - {"unaccounted"}, close
            total += stats.bytes + stats.gap_bytes
    return total


def without_packets(src: Path, dst: Path, keep: "callable[[int], bool]") -> Path:  # type: ignore[valid-type]
    packets = rdpcap(str(src))
    wrpcap(str(dst), [p for i, p in enumerate(packets) if keep(i)])
    return dst


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.stem)
def test_every_committed_capture_is_accounted_for_and_fully_decoded(pcap: Path) -> None:
    events = replay(pcap)
    assert assert_accounted(events) == sum(c.orig_stats.bytes + c.resp_stats.bytes for c in closes(events)) > 0
    for close in closes(events):  # real peers, captured whole: every byte decoded but encrypted ones, a service named
        assert close.service in ("nmf", "http", "remoting") and close.service_guess is None
        for stats in (close.orig_stats, close.resp_stats):
            assert set(stats.skipped) <= {"encrypted"}, close


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.stem)
def test_cut_and_holed_captures_are_accounted_for(pcap: Path, tmp_path: Path) -> None:
    """The capture started a third in (resync), and with one packet in seven never captured (gaps)."""
    count = len(rdpcap(str(pcap)))
    cut = replay(without_packets(pcap, tmp_path / "cut.pcap", lambda i: i >= count // 3))
    assert assert_accounted(cut) > 0
    holed = replay(without_packets(pcap, tmp_path / "holed.pcap", lambda i: i < 3 or i % 7))
    assert assert_accounted(holed) > 0
    stats = [s for c in closes(holed) for s in (c.orig_stats, c.resp_stats)]
    assert sum(s.gap_bytes for s in stats) > 0  # there were holes, and they are the missing bytes


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_torture_captures_are_accounted_for(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events = replay(scenario.write(tmp_path / "t.pcap"), Options(any_port=True))
    assert assert_accounted(events) > 0
    for close in closes(events):  # random bytes: no decoder took them, and each says so
        for stats in (close.orig_stats, close.resp_stats):
            assert stats.decoded == 0
        assert close.service is None
        if close.orig_stats.bytes + close.resp_stats.bytes:
            assert close.anomalies.get("conn_undecoded") == 1


def test_a_port_guess_that_finds_no_framing_is_not_a_service(tmp_path: Path) -> None:
    conn = Conn("10.0.0.1", 40000, "10.0.0.2", 8506)
    junk = random.Random(1).randbytes(40_000).replace(b"\x06", b"\x07")  # no envelope can start anywhere
    packets = [*conn.handshake(), *conn.segments("orig", junk, 1000), *conn.close({"orig": len(junk), "resp": 0})]
    events = replay(write_pcap(tmp_path / "t.pcap", frames(timed(packets)), 1))
    (close,) = closes(events)
    assert (close.service, close.service_guess) == (None, "nmf")
    assert close.orig_stats.decoded == 0 and close.orig_stats.bytes == len(junk)
    assert set(close.orig_stats.skipped) <= {"resync", "no_framing", "foreign"}
    (undecoded,) = [e for e in events if e.kind == "anomaly" and e.name == "conn_undecoded"]
    assert "nmf found no framing" in undecoded.detail and undecoded.uid == close.uid


def test_remoting_frame_then_junk_adds_up(tmp_path: Path) -> None:
    """An empty [MS-NRTP] request frame (16 bytes), then 28 bytes that are no frame: decoded, then skipped."""
    conn = Conn("10.0.0.1", 40000, "10.0.0.2", 8506)
    frame = b".NET\x01\x00" + bytes(4) + bytes(30)  # 2.2.3.3: request, sized, length 0, EndHeaders; then zeros
    packets = [*conn.handshake(), conn.data("orig", 0, frame), *conn.close({"orig": len(frame), "resp": 0})]
    events = replay(write_pcap(tmp_path / "t.pcap", frames(timed(packets)), 1))
    (close,) = closes(events)
    assert (close.service, close.service_guess) == ("remoting", None)
    assert close.orig_stats.decoded == 16
    assert close.orig_stats.decoded + sum(close.orig_stats.skipped.values()) == len(frame)
    (bad,) = [e for e in events if e.kind == "anomaly" and e.name == "nrtp_bad_preamble"]
    assert bad.offset == 16


class Exploding(Undecoded):
    wants_data = True

    def feed(self, direction: str, data: bytes, ts: int) -> list[Event]:  # type: ignore[override]
        raise ZeroDivisionError("a bug")


def test_bytes_after_a_decoder_error_are_skipped_as_such(tmp_path: Path) -> None:
    conn = Conn("10.0.0.1", 40000, "10.0.0.2", 8506)
    packets = [*conn.handshake(), conn.data("orig", 0, b"ping"), conn.data("resp", 0, b"pong!")]
    packets += conn.close({"orig": 4, "resp": 5})
    options = Options(protocols=(Protocol("exploding", lambda orig, resp: True, Exploding),))
    (close,) = closes(replay(write_pcap(tmp_path / "t.pcap", frames(timed(packets)), 1), options))
    assert close.orig_stats.skipped == {"decoder_error": 4} and close.resp_stats.skipped == {"decoder_error": 5}


def nmf_feed(orig: list[bytes], resp: list[bytes]) -> NmfDecoder:
    decoder = NmfDecoder(CONN, DecoderOptions())
    for chunk in orig:
        decoder.feed("orig", chunk, 0)
    for chunk in resp:
        decoder.feed("resp", chunk, 0)
    decoder.eof("orig", 0)
    decoder.eof("resp", 0)
    return decoder


VIA = b"net.tcp://h/s"
PREAMBLE = b"\x00\x01\x00\x01\x02\x02" + bytes([len(VIA)]) + VIA + b"\x03\x08"


def test_nmf_upgraded_handshakes_are_decoded_and_data_messages_skipped_as_encrypted() -> None:
    upgrade = b"\x09\x15application/negotiate"
    handshakes = bytes([0x16, 1, 0, 0, 4]) + b"NTLM" + bytes([0x14, 1, 0, 0, 0])
    data = (3).to_bytes(4, "little") + b"abc"
    nns = handshakes + data
    decoder = nmf_feed([PREAMBLE + upgrade, nns[:7], nns[7:]], [b"\x0a", nns])  # a handshake split in two
    orig, resp = decoder.accounting("orig"), decoder.accounting("resp")
    assert (orig.decoded, dict(orig.skipped)) == (len(PREAMBLE + upgrade + handshakes), {"encrypted": len(data)})
    assert (resp.decoded, dict(resp.skipped)) == (1 + len(handshakes), {"encrypted": len(data)})


def test_nmf_truncated_envelope_and_undecodable_payload() -> None:
    good = PREAMBLE + b"\x0c"
    bad_envelope = b"\x06\x05" + b"\x00\xff\xff\xff\xff"  # empty string table, then no NBFX document
    cut_envelope = b"\x06\x10" + b"\x00\x56"  # 16 bytes announced, 2 arrive
    decoder = nmf_feed([good + bad_envelope + cut_envelope], [b"\x0b"])
    orig = decoder.accounting("orig")
    assert orig.decoded == len(good) + 2 + 2  # the preamble and both envelope records' framing
    assert dict(orig.skipped) == {"undecodable": 5, "truncated": 2}


def test_http_rejected_resync_and_unexpected_bytes() -> None:
    decoder = HttpDecoder(CONN, DecoderOptions())
    request = b"POST /resto/services/x?methodName=y HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    decoder.feed("resp", b"stale", 0)  # before any request
    decoder.feed("orig", b"tail of a body" + request, 0)  # a capture that starts mid-body
    decoder.feed("resp", response, 0)
    decoder.eof("orig", 0)
    decoder.eof("resp", 0)
    orig, resp = decoder.accounting("orig"), decoder.accounting("resp")
    assert (orig.decoded, dict(orig.skipped)) == (len(request), {"resync": len(b"tail of a body")})
    assert (resp.decoded, dict(resp.skipped)) == (len(response), {"unexpected": 5})
