"""decoders.nmf / decoders.nns: [MC-NMF] framing, [MS-NNS] upgrades, wcf.* events. Hex in, events out.

The whole-stream vectors are byte-exact output of Microsoft's .NET WCF stack (block 1 of
tests/vectors/net_tcp_vectors.txt); single records are written by hand from the spec
sections cited next to them.
"""

import gzip
import json
import time
import zlib
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import mb31
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders.anomalies import ANOMALIES
from decoders.detect import DecoderOptions
from decoders.events import Event
from decoders.nmf import NmfDecoder, envelope_start, probe
from wirecap.flow import conn_fields

REFERENCE = Path(__file__).resolve().parent / "vectors"
CONN = conn_fields("Cnmf", "1:test", "10.0.0.5:50000", "10.0.0.9:8506")
CONN_KEYS = set(CONN)


def _vectors() -> dict[str, bytes]:
    """``name: hex`` lines of the reference file (block 3's bare hex line as ``example.bin``)."""
    out = {}
    for line in (REFERENCE / "net_tcp_vectors.txt").read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in {"c2s", "s2c", "msg1", "msg2", "msg3"}:
            out[key] = bytes.fromhex(value)
        elif line and all(c in "0123456789abcdef" for c in line):
            out["example.bin"] = bytes.fromhex(line)
    return out


V = _vectors()
C2S, S2C = V["c2s"], V["s2c"]
# Block 1 layout: c2s = preamble (39 bytes: Version, Mode, Via of 29, KnownEncoding, PreambleEnd),
# SizedEnvelope 06 a301 (163 bytes), SizedEnvelope 06 49 (73 bytes), End; s2c = PreambleAck,
# SizedEnvelope 06 9401 (148), SizedEnvelope 06 42 (66), End.
C2S_MSG1, C2S_MSG2, C2S_END = 39, 39 + 3 + 163, 39 + 3 + 163 + 2 + 73
S2C_MSG1, S2C_MSG2, S2C_END = 1, 1 + 3 + 148, 1 + 3 + 148 + 2 + 66
ID1 = "urn:uuid:c92b8486-cefb-4201-8a89-22bcd24b699e"  # UniqueId 86842bc9…, .NET Guid byte order
ID2 = "urn:uuid:e044fcf2-f6e9-49db-b548-c629bfda2cc7"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"


def decoder(**kwargs) -> NmfDecoder:
    xml = kwargs.pop("xml", False)
    return NmfDecoder(CONN, DecoderOptions(xml=xml), **kwargs)


def dump(events: list[Event]) -> list[dict]:
    return [e.model_dump(mode="json", exclude=CONN_KEYS) for e in events]


def run(orig: list[bytes] = (), resp: list[bytes] = (), **kwargs) -> list[dict]:
    """Feed each direction's chunks, then eof both; the events without the connection fields."""
    d = decoder(**kwargs)
    events: list[Event] = []
    for chunk in orig:
        events += d.feed("orig", chunk, 0)
    for chunk in resp:
        events += d.feed("resp", chunk, 0)
    events += d.eof("orig", 0) + d.eof("resp", 0)
    return dump(events)


def kinds(events: list[dict]) -> list[str]:
    return [e["name"] if e["kind"] == "anomaly" else e["kind"] for e in events]


def sized(payload: bytes) -> bytes:
    """2.2.3.5 SizedEnvelope record: 0x06, MB31 size, payload."""
    return b"\x06" + mb31(len(payload)) + payload


def string(s: str) -> bytes:
    raw = s.encode()
    return mb31(len(raw)) + raw


def preamble(mode: int = 2, encoding: bytes = b"\x03\x08", via: str = "net.tcp://pos1:8506/Svc") -> bytes:
    """2.2.3.1 Version 1.0, 2.2.3.2 Mode, 2.2.3.3 Via, 2.2.3.4 encoding (without PreambleEnd)."""
    return b"\x00\x01\x00" + b"\x01" + bytes([mode]) + b"\x02" + string(via) + encoding


# --- block 1: whole .NET streams ---------------------------------------------------------------------

WHOLE = run([C2S], [S2C])


def test_block1_whole_streams():
    assert kinds(WHOLE) == ["nmf.preamble", "wcf.message", "wcf.message", "nmf.end"] * 1 + [
        "wcf.message",
        "wcf.message",
        "nmf.end",
    ]
    pre, c1, c2, _, s1, s2, _ = WHOLE
    assert pre == {
        "ts": "1970-01-01T00:00:00.000000Z",
        "seq": 0,
        "kind": "nmf.preamble",
        "dir": "orig",
        "version": "1.0",
        "mode": "duplex",
        "via": "net.tcp://localhost:8898/Demo",
        "encoding": "soap1.2-binary-session",
        "content_type": "application/soap+msbinsession1",
    }
    assert c1["action"] == "urn:DemoService/IDemoService/Echo"
    assert (c1["message_id"], c1["relates_to"], c1["reply_to"]) == (ID1, None, ANONYMOUS)
    assert c1["to"] == "net.tcp://localhost:8898/Demo"
    assert (c1["size"], c1["session_strings_added"], c1["unresolved"]) == (163, 5, 0)
    assert (c1["body_element"], c1["soap_version"], c1["encoding"]) == ("Echo", "1.2", "soap1.2-binary-session")
    assert "hello0" in json.dumps(c1["body"])
    assert (c2["message_id"], c2["size"], c2["session_strings_added"]) == (ID2, 73, 0)
    assert "hello1" in json.dumps(c2["body"])
    assert s1["action"] == "urn:DemoService/IDemoService/EchoResponse"
    assert (s1["relates_to"], s1["message_id"], s1["size"], s1["session_strings_added"]) == (ID1, None, 148, 4)
    assert s1["body_element"] == "EchoResponse"
    assert (s2["relates_to"], s2["size"]) == (ID2, 66)
    assert all(e["xml"] is None and e["request_seq"] is None for e in (c1, c2, s1, s2))


def test_block1_xml_as_dotnet_writes_it():
    expected = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">'
        "urn:DemoService/IDemoService/Echo</a:Action><a:MessageID>" + ID1 + "</a:MessageID><a:ReplyTo>"
        "<a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">net.tcp://localhost:8898/Demo</a:To></s:Header><s:Body>'
        '<Echo xmlns="urn:DemoService"><text>hello0</text></Echo></s:Body></s:Envelope>'
    )
    assert run([C2S], xml=True)[1]["xml"] == expected


@pytest.mark.parametrize("stream", ["c2s", "s2c"])
def test_block1_split_at_every_offset(stream):
    data, direction = V[stream], "orig" if stream == "c2s" else "resp"
    whole = run([data]) if direction == "orig" else run([], [data])
    for cut in range(1, len(data)):
        chunks = [data[:cut], data[cut:]]
        got = run(chunks) if direction == "orig" else run([], chunks)
        assert got == whole, cut


def test_block1_byte_by_byte():
    one = [bytes([b]) for b in C2S], [bytes([b]) for b in S2C]
    assert run(*one) == WHOLE


def test_block1_trailing_bytes_wait_for_more():
    """A second session's first bytes after End (2.2.3.1 Version, cut short) add no event until eof."""
    d = decoder()
    events = d.feed("orig", C2S + b"\x00\x01", 0) + d.feed("resp", S2C, 0)
    assert dump(events) == [e for e in WHOLE if e["kind"] != "anomaly"]
    assert kinds(dump(d.eof("orig", 0))) == ["nmf_truncated"]


def test_new_session_after_end_gets_new_string_tables():
    """After End a new preamble (and PreambleAck) restarts both [MC-NBFSE] tables: the second
    session's strings reuse ids 1, 3, … and must decode exactly like the first session's."""
    twice = run([C2S + C2S], [S2C + S2C])
    orig = [e for e in twice if e["dir"] == "orig"]
    first = [e for e in WHOLE if e["dir"] == "orig"]
    assert orig == first + first
    resp = [e for e in twice if e["dir"] == "resp"]
    assert [e["action"] for e in resp if e["kind"] == "wcf.message"] == [
        "urn:DemoService/IDemoService/EchoResponse"
    ] * 4


def test_reply_latency_from_the_request_ts():
    d = decoder()
    d.feed("orig", C2S[:C2S_MSG2], 1_000_000_000)
    d.feed("orig", C2S[C2S_MSG2:], 1_010_000_000)
    replies = dump(d.feed("resp", S2C[:S2C_MSG2], 1_002_500_000) + d.feed("resp", S2C[S2C_MSG2:], 1_020_000_000))
    assert [e["latency_ms"] for e in replies if e["kind"] == "wcf.message"] == [2.5, 10.0]
    assert replies[0]["ts"] == "1970-01-01T00:00:01.002500Z"


# --- single records from the spec --------------------------------------------------------------------


def test_preamble_with_extensible_encoding():
    """2.2.3.4.2 Extensible Encoding Record: 0x04, MB31 length, content type."""
    stream = preamble(encoding=b"\x04" + string("application/soap+msbinsession1+gzip")) + b"\x0c"
    (event,) = run([stream])
    assert (event["encoding"], event["content_type"]) == (None, "application/soap+msbinsession1+gzip")
    assert (event["mode"], event["via"]) == ("duplex", "net.tcp://pos1:8506/Svc")


@pytest.mark.parametrize(
    ("mode", "name"), [(1, "singleton-unsized"), (2, "duplex"), (3, "simplex"), (4, "singleton-sized")]
)
def test_modes(mode, name):
    """2.2.3.2 Mode Record values."""
    assert run([preamble(mode=mode) + b"\x0c"])[0]["mode"] == name


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (0, "soap1.1-utf8"),
        (1, "soap1.1-utf16"),
        (2, "soap1.1-unicodeLE"),
        (3, "soap1.2-utf8"),
        (4, "soap1.2-utf16"),
        (5, "soap1.2-unicodeLE"),
        (6, "soap1.2-mtom"),
        (7, "soap1.2-binary"),
        (8, "soap1.2-binary-session"),
    ],
)
def test_known_encodings(value, name):
    """2.2.3.4.1 Known Encoding Record table."""
    assert run([preamble(encoding=bytes([3, value])) + b"\x0c"])[0]["encoding"] == name


def test_singleton_unsized_envelope_in_chunks():
    """2.2.3.5 Unsized Envelope Record: 0x05, data chunks (MB31 size + bytes), a zero-size terminator.
    The payload is .NET's msbinsession1 message of block 2, split into three chunks."""
    msg = V["msg1"]
    chunks = b"".join(mb31(len(p)) + p for p in (msg[:10], msg[10:150], msg[150:])) + b"\x00"
    events = run([preamble(mode=1) + b"\x0c\x05" + chunks + b"\x07"])
    assert kinds(events) == ["nmf.preamble", "wcf.message", "nmf.end"]
    assert events[1]["action"] == "urn:DemoService/create"
    assert (events[1]["size"], events[1]["session_strings_added"]) == (216, 6)


def test_simplex_block2_messages_share_the_session_table():
    """Block 2: three envelopes of one direction; msg2/msg3 use msg1's six session strings."""
    stream = preamble(mode=3) + b"\x0c" + sized(V["msg1"]) + sized(V["msg2"]) + sized(V["msg3"]) + b"\x07"
    events = [e for e in run([stream]) if e["kind"] == "wcf.message"]
    assert [e["body_element"] for e in events] == ["LeaveRequest"] * 3
    assert [e["unresolved"] for e in events] == [0, 0, 0]
    assert [e["session_strings_added"] for e in events] == [6, 0, 0]
    assert "E3" in json.dumps(events[2]["body"])


def test_binary_without_session():
    """Known encoding 0x07 ([MC-NBFS] only): ERNW's example.bin (block 3) as one envelope."""
    events = run([preamble(encoding=b"\x03\x07") + b"\x0c" + sized(V["example.bin"])])
    assert (events[1]["action"], events[1]["body_element"]) == ("action", "Inventory")


TEXT_ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">urn:t/Ping'
    '</a:Action></s:Header><s:Body><Ping xmlns="urn:t"><n>7</n></Ping></s:Body></s:Envelope>'
)


def test_text_encoding():
    events = run([preamble(encoding=b"\x03\x03") + b"\x0c" + sized(TEXT_ENVELOPE.encode())])
    assert (events[1]["action"], events[1]["body_element"], events[1]["encoding"]) == (
        "urn:t/Ping",
        "Ping",
        "soap1.2-utf8",
    )


def test_mtom_root_part_is_read():
    """SOAP-MTOM: a MIME multipart whose first part is the XML envelope."""
    mime = (
        b"--uuid:b1\r\nContent-ID: <http://tempuri.org/0>\r\nContent-Type: application/xop+xml;"
        b'charset=utf-8;type="application/soap+xml"\r\n\r\n' + TEXT_ENVELOPE.encode() + b"\r\n--uuid:b1--\r\n"
    )
    events = run([preamble(encoding=b"\x03\x06") + b"\x0c" + sized(mime)])
    assert (events[1]["action"], events[1]["encoding"]) == ("urn:t/Ping", "soap1.2-mtom")


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [("+gzip", gzip.compress), ("+deflate", lambda b: zlib.compress(b)[2:-4])],  # raw deflate
)
def test_compressed_session_envelopes(suffix, compress):
    """.NET 4.5 binary encoder compression: the whole payload, session table included, is compressed."""
    encoding = b"\x04" + string("application/soap+msbinsession1" + suffix)
    stream = preamble(encoding=encoding) + b"\x0c" + sized(compress(V["msg1"])) + sized(compress(V["msg2"]))
    events = [e for e in run([stream]) if e["kind"] == "wcf.message"]
    assert [e["unresolved"] for e in events] == [0, 0]
    assert "E2" in json.dumps(events[1]["body"])
    assert events[0]["encoding"] == "application/soap+msbinsession1" + suffix


def test_fault_record():
    """2.2.3.8 Fault Record: the receiver refuses the Via (0x08, MB31 length, fault URI)."""
    uri = "http://schemas.microsoft.com/ws/2006/05/framing/faults/EndpointNotFound"
    events = run([preamble() + b"\x0c"], [b"\x08" + string(uri)])
    assert events[1] == {
        "ts": "1970-01-01T00:00:00.000000Z",
        "seq": 0,
        "kind": "nmf.fault",
        "dir": "resp",
        "uri": uri,
    }


def nns_handshake(message_id: int, token: bytes) -> bytes:
    """[MS-NNS] 2.2.1 Handshake message: MessageId, version 1.0, payload size big-endian."""
    return bytes([message_id, 1, 0]) + len(token).to_bytes(2, "big") + token


def nns_data(payload: bytes) -> bytes:
    """[MS-NNS] 2.2.2 Data message: payload size little-endian."""
    return len(payload).to_bytes(4, "little") + payload


SPNEGO_INIT = bytes.fromhex("6082000a06062b0601050502a000")  # GSS InitialContextToken, mech 1.3.6.1.5.5.2
KERBEROS_AP = bytes.fromhex("6082000d06092a864886f712010202") + b"\x01\x00"  # mech 1.2.840.113554.1.2.2


@pytest.mark.parametrize(
    ("token", "package"),
    [(b"NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2", "NTLM"), (SPNEGO_INIT, "SPNEGO"), (KERBEROS_AP, "Kerberos")],
)
def test_negotiate_upgrade(token, package):
    """2.2.3.6 UpgradeRequest application/negotiate, UpgradeResponse, then [MS-NNS]."""
    orig = (
        preamble()
        + b"\x09"
        + string("application/negotiate")
        + nns_handshake(0x16, token)
        + nns_handshake(0x14, b"final")
        + nns_data(b"\xaa" * 100)
        + nns_data(b"\xbb" * 30)
    )
    resp = b"\x0a" + nns_handshake(0x16, b"challenge") + nns_handshake(0x14, b"") + nns_data(b"\xcc" * 50)
    events = [e for e in run([orig], [resp]) if e["kind"].startswith("nmf.")]  # nns.auth: tests/test_nns.py
    assert kinds(events) == ["nmf.preamble", "nmf.upgrade", "nmf.upgrade", "nmf.upgrade"]
    _, at_response, orig_final, resp_final = events
    assert (at_response["dir"], at_response["protocol"], at_response["final"]) == (
        "resp",
        "application/negotiate",
        False,
    )
    assert (at_response["frames"], at_response["bytes"]) == (0, 0)
    after_upgrade = len(orig) - len(preamble()) - 1 - len(string("application/negotiate"))
    assert (orig_final["auth_package"], orig_final["frames"], orig_final["bytes"]) == (package, 2, after_upgrade)
    assert (resp_final["frames"], resp_final["bytes"], resp_final["final"]) == (1, len(resp) - 1, True)


def test_tls_upgrade():
    tls_hello = bytes.fromhex("16030100050100000100")  # handshake record, 5-byte body
    events = run(
        [preamble() + b"\x09" + string("application/ssl-tls") + tls_hello],
        [b"\x0a" + bytes.fromhex("1603030002abcd") + bytes.fromhex("17030300010f")],
    )
    assert [(e["auth_package"], e["frames"], e["bytes"]) for e in events[1:]] == [
        ("TLS", 0, 0),
        ("TLS", 1, 10),
        ("TLS", 2, 13),
    ]


def test_nns_handshake_error():
    resp = b"\x0a" + nns_handshake(0x15, bytes.fromhex("0000000005000980"))
    events = run([preamble() + b"\x09" + string("application/negotiate")], [resp])
    assert "nns_handshake_error" in kinds(events)


# --- malformed input: the named anomaly at the right offset, then decoding resumes --------------------


def anomalies(events: list[dict]) -> list[tuple[str, int | None]]:
    return [(e["name"], e["offset"]) for e in events if e["kind"] == "anomaly"]


def test_unknown_record_then_resync():
    """A stray 0x0D between the envelopes: reported at its offset; the second envelope still decodes
    (strings numbered before the loss keep resolving)."""
    stream = C2S[:C2S_MSG2] + b"\x0d" + C2S[C2S_MSG2:]
    events = run([stream])
    assert anomalies(events) == [("nmf_unknown_record", C2S_MSG2), ("nmf_resync", C2S_MSG2)]
    assert "skipped 1 bytes" in events[3]["detail"]
    assert kinds(events)[4:] == ["wcf.message", "nmf.end"]
    assert (events[4]["message_id"], events[4]["action"], events[4]["unresolved"]) == (
        ID2,
        "urn:DemoService/IDemoService/Echo",
        0,
    )


def test_unexpected_record():
    """An envelope before PreambleEnd is not in the state table (3.1: preamble, then PreambleEnd);
    the search for an envelope starts at the offending record, which decodes."""
    events = run([preamble() + C2S[C2S_MSG1:]])
    assert anomalies(events)[0] == ("nmf_unexpected_record", len(preamble()))
    assert [e["message_id"] for e in events if e["kind"] == "wcf.message"] == [ID1, ID2]


def test_bad_mode_and_version():
    events = run([b"\x00\x02\x00\x01\x07"])
    assert anomalies(events)[:2] == [("nmf_bad_version", 0), ("nmf_bad_mode", 3)]


def test_bad_via_string():
    events = run([b"\x00\x01\x00\x01\x02\x02\x02\xff\xfe"])
    assert anomalies(events)[0] == ("nmf_bad_string", 6)


def test_invalid_mb31_size():
    events = run([preamble() + b"\x0c\x06\xff\xff\xff\xff\x7f"])
    assert anomalies(events)[0] == ("mb31_invalid", len(preamble()) + 2)


def test_unknown_known_encoding_is_counted_not_decoded():
    events = run([preamble(encoding=b"\x03\x09") + b"\x0c" + sized(V["msg1"])])
    assert [a[0] for a in anomalies(events)] == ["nmf_unknown_encoding", "nmf_unsupported_encoding"]


def test_envelope_too_large_is_skipped():
    events = run([C2S], max_envelope=100)
    assert anomalies(events) == [("nmf_envelope_too_large", C2S_MSG1)]
    (message,) = [e for e in events if e["kind"] == "wcf.message"]
    assert (message["message_id"], message["size"]) == (ID2, 73)


def test_bad_payload_is_an_nbfx_anomaly_and_framing_goes_on():
    stream = C2S[:C2S_MSG2] + sized(b"\x00\x56\x02\xff\xff") + C2S[C2S_MSG2:]
    events = run([stream])
    ((name, offset),) = anomalies(events)
    assert name.startswith("nbfx_") and C2S_MSG2 < offset < C2S_MSG2 + 7
    assert [e["message_id"] for e in events if e["kind"] == "wcf.message"] == [ID1, ID2]
    assert all(a in ANOMALIES for a, _ in anomalies(events))


@pytest.mark.parametrize("size", [1, 7, 50, 100, 170])
def test_offsets_do_not_depend_on_the_segments(size):
    """An envelope's payload collected straight from the segments (not through the buffer) moves the
    stream offset all the same: the anomaly after it has the offset it has when the stream comes whole."""
    stream = C2S[:C2S_MSG2] + sized(b"\x00\x56\x02\xff\xff") + C2S[C2S_MSG2:]
    whole = run([stream])
    assert run([stream[at : at + size] for at in range(0, len(stream), size)]) == whole
    ((_, offset),) = anomalies(whole)
    assert C2S_MSG2 < offset < C2S_MSG2 + 7


# --- mid-session: captures that start after the preamble ---------------------------------------------


def test_mid_session_at_a_record_boundary():
    events = run([C2S[C2S_MSG2:]], [S2C[S2C_MSG2:]])
    assert kinds(events) == ["wcf.message", "nmf.end", "wcf.message", "nmf.end"]
    orig, resp = (e for e in events if e["kind"] == "wcf.message")
    assert (orig["message_id"], orig["unresolved"], resp["relates_to"], resp["unresolved"]) == (ID2, 5, ID2, 4)


def test_mid_session_inside_a_record():
    cut = C2S_MSG1 + 50
    events = run([C2S[cut:]])
    assert kinds(events) == ["nmf_resync", "wcf.message", "nmf.end"]
    assert events[0]["offset"] == 0 and f"skipped {C2S_MSG2 - cut} bytes" in events[0]["detail"]
    assert events[1]["message_id"] == ID2


def test_gap_mid_envelope():
    d = decoder()
    events = d.feed("orig", C2S[: C2S_MSG1 + 40], 0)
    events += d.gap("orig", 60, 0)
    events += d.feed("orig", C2S[C2S_MSG1 + 100 :], 0) + d.eof("orig", 0)
    got = dump(events)
    assert kinds(got) == ["nmf.preamble", "nmf_record_lost", "nmf_resync", "wcf.message", "nmf.end"]
    assert got[1]["offset"] == C2S_MSG1
    assert got[2]["offset"] == C2S_MSG1 + 100
    assert got[3]["message_id"] == ID2 and got[3]["unresolved"] > 0


def test_large_envelope_over_many_segments_is_linear():
    """A 16 MiB text envelope in 1460-byte segments (11,500 feeds): one message, no quadratic copying."""
    filler = "x" * (16 * 2**20)
    payload = TEXT_ENVELOPE.replace("<n>7</n>", f"<n>{filler}</n>").encode()
    stream = preamble(encoding=b"\x03\x03") + b"\x0c" + sized(payload)
    d = decoder()
    start = time.perf_counter()
    events = []
    for i in range(0, len(stream), 1460):
        events += d.feed("orig", stream[i : i + 1460], i)
    elapsed = time.perf_counter() - start
    (message,) = [e for e in events if e.kind == "wcf.message"]
    assert message.size == len(payload) and message.ts == (len(stream) - 1) // 1460 * 1460
    assert elapsed < 10


# --- detection -----------------------------------------------------------------------------------------


def test_probe():
    assert probe(C2S[:64], S2C[:64]) is True
    assert probe(b"\x00\x01", b"") is None
    assert probe(b"GET / HTTP/1.1\r\n", b"") is None  # the responder might still be mid-session NMF
    assert probe(b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n") is False
    assert probe(C2S[C2S_MSG2 : C2S_MSG2 + 64], b"") is True  # mid-session, either direction
    assert probe(b"", S2C[S2C_MSG1 : S2C_MSG1 + 64]) is True
    assert envelope_start(b"\x06\x05\x00\x01") is False  # an attribute record, not an element


# --- robustness ------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.sampled_from([C2S, S2C, C2S + C2S]),
    flips=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 600),
    splits=st.lists(st.integers(1, 600), max_size=8),
    gap_at=st.one_of(st.none(), st.integers(0, 8)),
)
def test_mutated_streams_never_raise(stream, flips, cut, splits, gap_at):
    data = bytearray(stream[: max(cut, 1)])
    for index, value in flips:
        if index < len(data):
            data[index] = value
    bounds = sorted({0, len(data), *(s for s in splits if s < len(data))})
    d = decoder(max_envelope=1000)
    for n, (a, b) in enumerate(pairwise(bounds)):
        for direction in ("orig", "resp"):
            if n == gap_at:
                d.gap(direction, 17, 0)
            d.feed(direction, bytes(data[a:b]), 0)
    for direction in ("orig", "resp"):
        for event in d.eof(direction, 0):
            assert event.kind != "anomaly" or event.name in ANOMALIES


def foreign_segments(count: int, size: int = 1460) -> list[bytes]:
    """Bytes that are not [MC-NMF]: no 0x06 anywhere, so no SizedEnvelope can start in them."""
    return [bytes((7 * i + j) % 256 or 1 for j in range(size)).replace(b"\x06", b"\x07") for i in range(count)]


def test_foreign_bytes_give_up_the_search_and_then_the_connection():
    d = decoder()
    events = []
    for segment in foreign_segments(12):  # > 16 KiB: the byte-by-byte search stops
        events += d.feed("orig", segment, 0)
    assert [e.name for e in events] == ["nmf_no_sync"] and events[0].offset == 0
    assert d.wants_data  # still trying segments that start like an envelope
    for segment in foreign_segments(256):
        assert d.feed("orig", segment, 0) == []
    assert not d.wants_data  # the only direction that spoke gave up: stop feeding this decoder


def test_a_genuine_envelope_after_foreign_bytes_is_found_at_a_segment_start():
    """A capture that starts inside a long envelope: the next message begins a segment of its own."""
    d = decoder()
    events = []
    for segment in foreign_segments(20):
        events += d.feed("orig", segment, 0)
    events += d.feed("orig", C2S[C2S_MSG2:], 0)
    got = dump(events)
    assert kinds(got) == ["nmf_no_sync", "wcf.message", "nmf.end"]
    assert got[1]["message_id"] == ID2 and got[1]["unresolved"] > 0


def test_a_fake_envelope_start_does_not_hold_up_the_search():
    """0x06, a 300 KB size and a document that breaks at once: the search moves on to the genuine
    envelope right after it instead of waiting for 300 KB that will never make sense."""
    fake = b"\x06" + mb31(300_000) + b"\x00" + b"\x56\x02" + b"\x05" * 40  # element, then a bad record
    events = dump(decoder().feed("orig", fake + C2S[C2S_MSG2:], 0))
    assert kinds(events) == ["nmf_resync", "wcf.message", "nmf.end"]
    assert events[1]["message_id"] == ID2


def test_empty_feed_in_every_state_is_a_no_op():
    """feed(b"") once raised IndexError after nmf_no_sync (it read the chunk's first byte)."""
    d = decoder()
    for segment in foreign_segments(12):
        d.feed("orig", segment, 0)
    assert d.feed("orig", b"", 0) == []
    assert d.feed("resp", b"", 0) == []
    fresh = decoder()
    assert fresh.feed("orig", b"", 0) == [] and dump(fresh.feed("orig", C2S, 0)) == dump(decoder().feed("orig", C2S, 0))
