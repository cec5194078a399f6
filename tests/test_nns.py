"""decoders.nns: [MS-NNS] after an [MC-NMF] UpgradeRequest: nns.auth per handshake token, frame limits.

Ground truth: captures/nns_auth.pcap, five connections whose every token MIT Kerberos or gss-ntlmssp
wrote (tests/interop/nns/), checked against what the peers logged (captures/nns_auth.truth.jsonl) and
against tshark's ntlmssp/kerberos/spnego fields on the same frames. Framing limits are written by hand
from [MS-NNS] 2.2.1/2.2.2 and RFC 5246 6.2.3.
"""

import base64
import json
import subprocess
from pathlib import Path

from conftest import ENV, WIRECAP, events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nns_capture import (
    CAPTURE,
    SCENARIOS,
    SECRET_FIELDS,
    TSHARK_FIELDS,
    streams,
    token,
    tokens,
    truth,
    tshark_fields,
)

from decoders.anomalies import ANOMALIES, DecodeError
from decoders.detect import DecoderOptions
from decoders.nmf import NmfDecoder
from decoders.nns import MAX_DATA_PAYLOAD, MAX_FRAME, MAX_TLS_RECORD, SecuredStream, read_token
from wirecap.flow import conn_fields

REPO = Path(__file__).resolve().parent.parent
CONN = conn_fields("Cnns", "1:test", "10.0.0.5:50000", "10.0.0.9:8506")
MECHS = {"1.2.840.113554.1.2.2": "Kerberos", "1.3.6.1.4.1.311.2.2.10": "NTLM"}


def replay(path: Path) -> list[dict]:
    """``wirecap replay`` as a user runs it."""
    run = subprocess.run([*WIRECAP, "replay", str(path)], capture_output=True, env=ENV, timeout=60, check=False)
    return events(run)


def by_conn(events: list[dict]) -> list[list[dict]]:
    """Events of each connection, connections in SYN order (the order of their conn.open)."""
    uids = [e["uid"] for e in events if e["kind"] == "conn.open"]
    out: list[list[dict]] = [[] for _ in uids]
    for e in events:  # connection-less lines (pcap_time_went_backwards under a busy tcpdump) are left out
        if e.get("uid") is not None and e["kind"] != "conn.open":
            out[uids.index(e["uid"])].append(e)
    return out


CAPTURED = by_conn(replay(CAPTURE))


def decode(orig: list[bytes], resp: list[bytes]) -> list[dict]:
    """Feed one NMF connection chunk by chunk (orig's first), then eof; events as JSON dicts."""
    d = NmfDecoder(CONN, DecoderOptions(xml=False))
    events = [e for chunk in orig for e in d.feed("orig", chunk, 0)]
    events += [e for chunk in resp for e in d.feed("resp", chunk, 0)]
    events += d.eof("orig", 0) + d.eof("resp", 0)
    return [e.model_dump(mode="json", exclude=set(CONN) | {"ts", "seq"}) for e in events]


# --- the capture against its peers and tshark --------------------------------------------------------


def test_capture_against_peers_truth() -> None:
    """Each connection's tokens (direction, HandshakeDone or not, size), mechanism, names and frame counts
    are what the peers themselves logged."""
    check_against_truth(CAPTURED, truth())


def test_peers_regenerate_the_capture(tmp_path: Path) -> None:
    """The peers still do what captures/nns_auth holds: run_nns.sh (root, Debian's krb5-kdc, krb5-user,
    krb5-admin-server, python3-gssapi, gss-ntlmssp; CI installs them) captures afresh, and that capture
    meets its own truth the same way. Sizes may differ from the committed run (ticket times, random
    confounders); the scenarios, messages and names may not."""
    script = REPO / "tests" / "interop" / "nns" / "run_nns.sh"
    run = subprocess.run([str(script), str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    fresh = [json.loads(line) for line in (tmp_path / "nns_auth.truth.jsonl").read_text().splitlines()]
    check_against_truth(by_conn(replay(tmp_path / "nns_auth.pcap")), fresh)


def check_against_truth(captured: list[list[dict]], peers: list[dict]) -> None:
    assert [t["scenario"] for t in peers] == list(SCENARIOS)
    for conn, peer in zip(captured, peers, strict=True):
        auth = [e for e in conn if e["kind"] == "nns.auth"]
        for direction in ("orig", "resp"):
            sent = [(t["handshake"], t["size"]) for t in peer[f"{direction}_tokens"] if t["size"]]
            assert [(e["handshake"], e["size"]) for e in auth if e["dir"] == direction] == sent
        mech = MECHS[peer["mech"]]
        assert {e["package"] for e in auth} == {"SPNEGO" if peer["spnego"] else mech}
        final = {e["dir"]: e for e in conn if e["kind"] == "nmf.upgrade" and e["final"]}
        for direction in ("orig", "resp"):
            assert final[direction]["auth_mech"] == mech
            assert final[direction]["frames"] == peer[f"{direction}_data_frames"]
        failed = [e["detail"] for e in conn if e["kind"] == "anomaly" and e["name"] == "nns_handshake_error"]
        if "handshake_error" in peer:  # who failed to log on is still named
            assert failed == [f"HandshakeError: HRESULT {peer['handshake_error']} (SEC_E_LOGON_DENIED)"]
        else:
            assert failed == []
        first = auth[0]
        if mech == "Kerberos":  # the acceptor's initiator name is the ticket's client; sname the target
            assert first["kerberos"]["realm"] == peer["initiator"].split("@")[1] == "STORE.LOCAL"
            assert first["kerberos"]["sname"] == peer["target"].replace("@", "/")
            assert [e["message"] for e in auth] == ["AP-REQ", "AP-REP"]
        else:
            authenticate = next(e["ntlm"] for e in auth if e["message"] == "AUTHENTICATE")
            user, domain = peer["user"].split("@")  # what the client logged on as
            assert (authenticate["domain"], authenticate["user"]) == (domain, user) == ("STORE", "ivanov")
            assert peer.get("initiator", "STORE\\ivanov") == "STORE\\ivanov"  # what the acceptor verified
            assert authenticate["workstation"] == "POS-1"  # run_nns.sh's hostname
            messages = [e["message"] for e in auth][:3]
            assert messages == ["NEGOTIATE", "CHALLENGE", "AUTHENTICATE"]


def _ntlm_version(row: dict) -> str | None:
    if not row["ntlmssp.version.major"]:
        return None
    parts = [row[f"ntlmssp.version.{f}"] for f in ("major", "minor", "build_number", "ntlm_current_revision")]
    return "{}.{}.{} NTLM rev {}".format(*parts)


def test_capture_against_tshark() -> None:
    """Every token tshark dissects (via mc-nmf → ms-nns → gssapi) is an nns.auth event with the same
    package fields, in the same order."""
    rows = tshark_fields(TSHARK_FIELDS, "ntlmssp || kerberos || spnego")
    streams_seen = sorted({int(r["tcp.stream"]) for r in rows})
    assert streams_seen == [0, 1, 2, 3, 4]
    for stream in streams_seen:
        ours = [e for e in CAPTURED[stream] if e["kind"] == "nns.auth"]
        theirs = [r for r in rows if int(r["tcp.stream"]) == stream]
        assert len(ours) == len(theirs)
        for e, r in zip(ours, theirs, strict=True):
            assert e["dir"] == ("orig" if r["tcp.dstport"] == "8506" else "resp")
            spnego, ntlm, krb = e.get("spnego"), e.get("ntlm"), e.get("kerberos")  # null ones are left out
            assert (spnego.get("mech_types") if spnego else []) == [m for m in r["spnego.MechType"].split(";") if m]
            assert (spnego.get("supported_mech") if spnego else None) == (r["spnego.supportedMech"] or None)
            states = ["accept-completed", "accept-incomplete", "reject", "request-mic"]
            neg_state = states[int(r["spnego.negResult"])] if r["spnego.negResult"] else None
            assert (spnego.get("neg_state") if spnego else None) == neg_state
            if r["ntlmssp.messagetype"]:
                kind = {1: "NEGOTIATE", 2: "CHALLENGE", 3: "AUTHENTICATE"}[int(r["ntlmssp.messagetype"], 16)]
                assert (ntlm.get("message"), ntlm.get("flags")) == (kind, r["ntlmssp.negotiateflags"])
                assert ntlm.get("version") == _ntlm_version(r)
                if kind == "AUTHENTICATE":
                    expect = (r["ntlmssp.auth.domain"], r["ntlmssp.auth.username"], r["ntlmssp.auth.hostname"])
                    assert (ntlm.get("domain"), ntlm.get("user"), ntlm.get("workstation")) == expect
                    assert ntlm.get("ntlm_version") == ("v2" if r["ntlmssp.ntlmv2_response"] else "v1")
                if kind == "CHALLENGE":
                    assert ntlm.get("target") == r["ntlmssp.challenge.target_name"]
                    info = ntlm.get("target_info")
                    assert info["nb_computer"] == r["ntlmssp.challenge.target_info.nb_computer_name"]
                    assert info["nb_domain"] == r["ntlmssp.challenge.target_info.nb_domain_name"]
                    assert info["dns_computer"] == r["ntlmssp.challenge.target_info.dns_computer_name"]
            else:
                assert ntlm is None
            if r["kerberos.msg_type"]:
                kind = {14: "AP-REQ", 15: "AP-REP"}[int(r["kerberos.msg_type"])]
                assert krb.get("message") == e["message"] == kind
                assert (krb.get("realm") or "") == r["kerberos.realm"]
                assert (krb.get("sname") or "") == r["kerberos.SNameString"].replace(";", "/")
                etypes = [krb.get("etype"), krb.get("authenticator_etype")] if kind == "AP-REQ" else [krb.get("etype")]
                assert ";".join(str(t) for t in etypes) == r["kerberos.etype"]
                assert str(krb.get("kvno") or "") == r["kerberos.kvno"]
                if kind == "AP-REQ":  # tshark shows the APOptions bits as hex; mutual-required is 0x20000000
                    assert krb.get("mutual") == bool(int(r["kerberos.ap_options"], 16) & 0x20000000)
            else:
                assert krb is None


def test_capture_emits_no_secret() -> None:
    """No cipher text, NT/LM response, session key, server challenge or MIC tshark finds in the tokens
    appears in wirecap's output, as hex or base64."""
    rows = tshark_fields(SECRET_FIELDS, "ntlmssp || kerberos || spnego")
    secrets = [bytes.fromhex(v) for r in rows for f in SECRET_FIELDS for v in r[f].split(";") if v]
    assert len(secrets) == 23  # 2 × (ticket, authenticator, AP-REP) ciphers, 3 × (challenge, NT, LM, key,
    # NTProofStr), 2 mechListMICs
    output = json.dumps([e for conn in CAPTURED for e in conn]).lower()
    for secret in secrets:
        for text in (secret.hex(), secret[:8].hex(), base64.b64encode(secret).decode().lower()):
            assert text not in output


def test_capture_oversized_frames_of_a_real_peer() -> None:
    """MIT's Kerberos wrap of .NET's 0xFC00-byte chunk is 64572 bytes: above [MS-NNS] 2.2.2's 0xFC30,
    decoded anyway and noted once; NTLM's 16-byte signature keeps it within the limit."""
    for conn, scenario in zip(CAPTURED, SCENARIOS, strict=True):
        noted = [e for e in conn if e["kind"] == "anomaly" and e["name"] != "nns_handshake_error"]
        if "kerberos" in scenario:
            assert [(e["name"], e["dir"]) for e in noted] == [("nns_oversized_frame", "orig")]
            assert "64572 bytes" in noted[0]["detail"]
        else:
            assert noted == []


def test_capture_any_split() -> None:
    """Each connection fed whole, and byte by byte, gives the same events."""
    for stream in streams():
        whole = decode([stream.data["orig"]], [stream.data["resp"]])
        assert [e["kind"] for e in whole].count("nns.auth") >= 2
        head = {d: stream.secured_at[d] + 1200 for d in ("orig", "resp")}  # the handshake, byte by byte
        pieces = {
            d: [bytes([b]) for b in stream.data[d][: head[d]]] + [stream.data[d][head[d] :]] for d in ("orig", "resp")
        }
        assert decode(pieces["orig"], pieces["resp"]) == whole


# --- framing limits: [MS-NNS] 2.2.1 / 2.2.2, RFC 5246 6.2.3 -------------------------------------------


def handshake(message_id: int, payload: bytes) -> bytes:
    return bytes([message_id, 1, 0]) + len(payload).to_bytes(2, "big") + payload


def data(size: int) -> bytes:
    return size.to_bytes(4, "little") + b"\x5a" * size


def stream(protocol: str, chunks: list[bytes]) -> tuple[SecuredStream, list]:
    s = SecuredStream(protocol, 0)
    return s, [item for chunk in chunks for item in s.feed(chunk)]


def names(items: list) -> list[str]:
    return [i.name for i in items if isinstance(i, DecodeError)]


def test_data_message_over_0xfc30_is_decoded_and_noted_once() -> None:
    body = handshake(0x14, b"") + data(MAX_DATA_PAYLOAD) + data(MAX_DATA_PAYLOAD + 1) + data(100_000) + data(5)
    for chunks in ([body], [body[i : i + 1000] for i in range(0, len(body), 1000)]):
        s, items = stream("application/negotiate", chunks)
        assert names(items) == ["nns_oversized_frame"]
        assert (s.frames, s.bytes, s.in_frame) == (4, len(body), False)
    assert items[0].offset == 5 + 4 + MAX_DATA_PAYLOAD  # the first oversized header


def test_data_message_beyond_the_cap_stops_the_framing() -> None:
    body = handshake(0x14, b"") + data(10) + (MAX_FRAME + 1).to_bytes(4, "little") + b"\x00" * 50
    s, items = stream("application/negotiate", [body])
    assert names(items) == ["nns_bad_frame"]
    assert (s.frames, s.bytes) == (1, len(body))


def test_tls_record_over_the_rfc_limit_is_decoded_and_noted_once() -> None:
    big = MAX_TLS_RECORD + 1
    records = [bytes([23, 3, 3]) + size.to_bytes(2, "big") + b"\x00" * size for size in (big, 0xFFFF, 20)]
    s, items = stream("application/ssl-tls", [b"".join(records)])
    assert names(items) == ["nns_oversized_frame"]
    assert s.frames == 3


def test_largest_handshake_payload() -> None:
    """PayloadSize is two bytes ([MS-NNS] 2.2.1): 65535 is the most a peer can send, and it is read."""
    s, items = stream("application/negotiate", [handshake(0x16, b"\x00" * 0xFFFF) + handshake(0x14, b"")])
    assert names(items) == []
    (auth,) = items
    assert (auth.size, auth.package, auth.handshake) == (0xFFFF, None, "in_progress")
    assert not s.in_frame


def test_malformed_token_is_an_anomaly_and_framing_goes_on() -> None:
    """A bad token is an nns.auth with what was read plus a named anomaly at its stream offset; the data
    messages after it are still counted. A cut token fails its RFC 2743 framing; a real one with an
    unknown RFC 4121 TOK_ID (byte 15: after the 4-byte header and the 11-byte OID) fails as Kerberos."""
    ap_req = token("kerberos", "orig")
    bad_tok_id = ap_req[:15] + b"\x04\x00" + ap_req[17:]
    for bad, package, name, offset in (
        (ap_req[:300], None, "gssapi_bad_token", 5),
        (bad_tok_id, "Kerberos", "kerberos_bad_message", 5 + 15),
    ):
        body = handshake(0x16, bad) + handshake(0x14, b"") + data(40)
        s, items = stream("application/negotiate", [body])
        auth, error = items
        assert (auth.package, auth.message, auth.size) == (package, None, len(bad))
        assert (error.name, error.offset) == (name, offset)
        assert s.frames == 1


def test_negotiate_upgrade_event_names_the_mechanism() -> None:
    """nmf.upgrade carries the package SPNEGO settled on, from either direction."""
    preamble = bytes.fromhex("000100 0102 0203612f62 0308 09") + bytes([21]) + b"application/negotiate"
    orig = preamble + handshake(0x16, token("spnego_ntlm", "orig")) + handshake(0x14, b"")
    resp = b"\x0a" + handshake(0x14, token("spnego_ntlm", "resp"))
    events = decode([orig], [resp])
    final = [e for e in events if e["kind"] == "nmf.upgrade" and e["final"]]
    assert [(e["auth_package"], e["auth_mech"]) for e in final] == [("SPNEGO", "NTLM")] * 2


# --- hostile tokens ------------------------------------------------------------------------------------


REAL_TOKENS = [t.data for t in tokens() if t.data]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_TOKENS), st.data())
def test_mutated_tokens_never_raise(real: bytes, draw: st.DataObject) -> None:
    """Flip, cut or extend a real token: read_token returns, and any error is a registered anomaly."""
    mutated = bytearray(real)
    for _ in range(draw.draw(st.integers(1, 4))):
        at = draw.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(mutated)))
    candidate = bytes(mutated[:cut]) + draw.draw(st.binary(max_size=8))
    auth, error = read_token(candidate)
    assert auth.size == len(candidate)
    assert error is None or error.name in ANOMALIES
    _, items = stream("application/negotiate", [handshake(0x16, candidate)])
    assert all(isinstance(i, DecodeError) or i.size == len(candidate) for i in items)


def test_every_truncation_of_every_real_token() -> None:
    for real in REAL_TOKENS:
        for cut in range(len(real)):
            _, error = read_token(real[:cut])
            assert error is None or error.name in ANOMALIES


def test_handshake_error_hresult_or_token() -> None:
    """[MS-NNS] 2.2.1: HandshakeError carries an HRESULT (.NET: 8 bytes, big-endian); a payload that is a
    token instead (a KRB-ERROR, an SPNEGO reject) is read as one, with handshake "error". Either way the
    framing stops there and the direction is not left inside a frame."""
    s, items = stream("application/negotiate", [handshake(0x15, bytes.fromhex("000000008009030c")) + b"\x00" * 9])
    (error,) = items
    assert (error.name, error.detail) == (
        "nns_handshake_error",
        "HandshakeError: HRESULT 0x8009030c (SEC_E_LOGON_DENIED)",
    )
    assert not s.in_frame
    reject = bytes.fromhex("a1073005a0030a0102")  # NegTokenResp { negState reject(2) }, RFC 4178 4.2.2
    s, items = stream("application/negotiate", [handshake(0x15, reject)])
    auth, error = items
    assert (auth.handshake, auth.package, auth.message, error.name) == (
        "error",
        "SPNEGO",
        "NegTokenResp",
        "nns_handshake_error",
    )
    assert auth.details["spnego"].neg_state == "reject"
    assert not s.in_frame


def test_bad_token_inside_spnego_keeps_the_spnego_fields() -> None:
    """A malformed mechToken: the NegTokenInit's mechTypes are still reported, and the anomaly's offset
    is the bad byte's place in the whole token (TOK_ID at 43 + 15, cf. tests/test_gssapi.py)."""
    init = token("spnego_kerberos", "orig")
    bad = init[: 43 + 15] + b"\x09\x00" + init[43 + 17 :]
    auth, error = read_token(bad)
    assert (auth.package, auth.mech, auth.message) == ("SPNEGO", "Kerberos", "NegTokenInit")
    assert auth.details["spnego"].mech_types == ["1.2.840.113554.1.2.2"]
    assert (error.name, error.offset) == ("kerberos_bad_message", 43 + 15)


def test_spnego_inside_spnego_is_not_followed() -> None:
    """A NegTokenResp whose responseToken is another NegTokenResp, 5000 deep: read one level, no recursion."""
    nested = bytes.fromhex("a1073005a0030a0100")  # NegTokenResp { negState accept-completed }
    for _ in range(5000):  # [1] { SEQUENCE { [2] { OCTET STRING nested } } }
        nested = _der(0xA1, _der(0x30, _der(0xA2, _der(0x04, nested))))
    auth, error = read_token(nested)
    assert (auth.package, auth.message, error) == ("SPNEGO", "NegTokenResp", None)


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes([0x84]) + n.to_bytes(4, "big")) + content
