"""decoders.gssapi: DER walking, SPNEGO (RFC 4178) and Kerberos (RFC 4120, RFC 4121) tokens.

The real tokens are MIT Kerberos 1.20's, cut from captures/nns_auth.pcap (tests/nns_capture.py); the same
fields are checked against tshark in tests/test_nns.py. The KRB-ERROR, which no handshake in the
capture produced, is written by hand from RFC 4120 5.9.1, as are the DER edge cases (X.690 8.1).
"""

import pytest
from nns_capture import token

from decoders.anomalies import DecodeError
from decoders.events import KerberosInfo, SpnegoInfo
from decoders.gssapi import initial_token, kerberos, oid_text, spnego, tlv

KRB5 = "1.2.840.113554.1.2.2"
SPNEGO_INIT = token("spnego_kerberos", "orig")  # InitialContextToken(SPNEGO, NegTokenInit(AP-REQ))
SPNEGO_RESP = token("spnego_kerberos", "resp")  # NegTokenResp(accept-completed, krb5, AP-REP)
AP_REQ = token("kerberos", "orig")  # InitialContextToken(krb5, TOK_ID 01 00, AP-REQ)
AP_REP = token("kerberos", "resp")


def der(tag: int, content: bytes) -> bytes:
    """One DER element (short or two-byte long length): enough to write a KRB-ERROR by hand."""
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + length + content


def field(n: int, content: bytes) -> bytes:
    return der(0xA0 | n, content)


def test_tlv_forms() -> None:
    assert tlv(bytes.fromhex("0403aabbcc"), 0, 5, "x") == (0x04, 2, 5)
    assert tlv(bytes.fromhex("04820003aabbcc"), 0, 7, "x") == (0x04, 4, 7)  # long form, two length bytes


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ("04", "truncated"),
        ("0405aabb", "claims 5 bytes, 2 left"),
        ("0480aabb0000", "length form 0x80"),  # indefinite length: BER, not DER
        ("0485000000000100", "length form 0x85"),  # five length bytes
        ("1f2201aa", "multi-byte DER tag"),
        ("0482ff", "length form 0x82"),  # the length bytes themselves cut off
    ],
)
def test_tlv_rejects(data: str, detail: str) -> None:
    raw = bytes.fromhex(data)
    with pytest.raises(DecodeError) as err:
        tlv(raw, 0, len(raw), "gssapi_bad_token")
    assert (err.value.name, detail in err.value.detail) == ("gssapi_bad_token", True)


@pytest.mark.parametrize(
    ("content", "dotted"),
    [
        ("2a864886f712010202", KRB5),
        ("2a864882f712010202", "1.2.840.48018.1.2.2"),  # [MS-KILE]'s variant
        ("2b0601050502", "1.3.6.1.5.5.2"),
        ("2b06010401823702020a", "1.3.6.1.4.1.311.2.2.10"),
        ("8837", "2.999"),  # X.690 8.19.4: first arc 2 takes the rest of the first subidentifier
    ],
)
def test_oid_text(content: str, dotted: str) -> None:
    assert oid_text(bytes.fromhex(content)) == dotted


def test_spnego_neg_token_init_carries_the_ap_req() -> None:
    oid, pos = initial_token(SPNEGO_INIT)
    info, span = spnego(SPNEGO_INIT, pos)
    assert (oid, info) == ("1.3.6.1.5.5.2", SpnegoInfo(message="NegTokenInit", mech_types=[KRB5]))
    assert span == (43, len(SPNEGO_INIT))  # the mechToken OCTET STRING's content runs to the end
    inner = SPNEGO_INIT[span[0] : span[1]]
    assert initial_token(inner) == (KRB5, 15)  # 4-byte header, 11-byte OID
    assert kerberos(inner, 15, tok_id=True).message == "AP-REQ"


def test_spnego_neg_token_resp() -> None:
    info, span = spnego(SPNEGO_RESP, 0)
    assert info == SpnegoInfo(message="NegTokenResp", neg_state="accept-completed", supported_mech=KRB5)
    assert span is not None
    inner = SPNEGO_RESP[span[0] : span[1]]
    assert kerberos(inner, initial_token(inner)[1], tok_id=True).message == "AP-REP"


def test_real_ap_req_and_ap_rep() -> None:
    """The ticket's realm, sname, etype and kvno; the authenticator's etype; ap-options mutual-required."""
    oid, pos = initial_token(AP_REQ)
    assert oid == KRB5
    assert kerberos(AP_REQ, pos, tok_id=True) == KerberosInfo(
        message="AP-REQ",
        realm="STORE.LOCAL",
        sname="host/maincash.store.local",
        etype=18,
        kvno=2,
        authenticator_etype=18,
        mutual=True,
    )
    assert kerberos(AP_REP, initial_token(AP_REP)[1], tok_id=True) == KerberosInfo(message="AP-REP", etype=18)


def test_bare_ap_req_without_gss_framing() -> None:
    """Some stacks send the AP-REQ itself ([APPLICATION 14]) with no RFC 2743 header."""
    bare = AP_REQ[15 + 2 :]
    assert kerberos(bare, 0, tok_id=False).sname == "host/maincash.store.local"


KRB_ERROR = der(
    0x7E,  # [APPLICATION 30] KRB-ERROR, RFC 4120 5.9.1
    der(
        0x30,
        field(0, der(0x02, b"\x05"))  # pvno
        + field(1, der(0x02, b"\x1e"))  # msg-type 30
        + field(4, der(0x18, b"20261130120000Z"))  # stime
        + field(5, der(0x02, b"\x00"))  # susec
        + field(6, der(0x02, b"\x25"))  # error-code 37: KRB_AP_ERR_SKEW
        + field(9, der(0x1B, b"STORE.LOCAL"))  # realm
        + field(10, der(0x30, field(0, der(0x02, b"\x03")) + field(1, der(0x30, der(0x1B, b"host")))))
        + field(11, der(0x1B, b"Clock skew too great")),  # e-text
    ),
)


def test_hand_written_krb_error() -> None:
    framed = der(0x60, der(0x06, bytes.fromhex("2a864886f712010202")) + b"\x03\x00" + KRB_ERROR)
    assert kerberos(framed, initial_token(framed)[1], tok_id=True) == KerberosInfo(
        message="KRB-ERROR", realm="STORE.LOCAL", sname="host", error_code=37, error_text="Clock skew too great"
    )


@pytest.mark.parametrize(
    ("data", "pos", "tok_id", "detail"),
    [
        (AP_REQ, 15, False, "application tag 0x01"),  # read at the TOK_ID as if it were the message
        (b"\x05\x00" + KRB_ERROR, 0, True, "unknown TOK_ID 0500"),
        (der(0x6F, der(0x30, field(0, der(0x02, b"\x05")))), 0, False, "AP-REP without enc-part"),
        (der(0x6E, der(0x30, field(0, der(0x02, b"\x05")))), 0, False, "without ticket"),
        (der(0x7E, der(0x30, b"")), 0, False, "without error-code"),
        (der(0x7E, der(0x30, field(6, der(0x02, b"")))), 0, False, "INTEGER of 0 bytes"),
        (der(0x7E, der(0x30, field(6, der(0x04, b"\x01")))), 0, False, "expected tag 0x02"),
        (der(0x7E, der(0x02, b"\x01")), 0, False, "expected a SEQUENCE"),
    ],
)
def test_kerberos_rejects(data: bytes, pos: int, tok_id: bool, detail: str) -> None:
    with pytest.raises(DecodeError) as err:
        kerberos(data, pos, tok_id)
    assert err.value.name == "kerberos_bad_message"
    assert detail in err.value.detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (der(0xA2, b""), "neither [0] nor [1]"),
        (der(0xA0, der(0x30, field(0, der(0x30, der(0x04, b"x"))))), "mechTypes holds tag 0x04"),
        (der(0xA1, der(0x30, field(0, der(0x02, b"\x00")))), "expected tag 0x0a"),  # negState not ENUMERATED
    ],
)
def test_spnego_rejects(data: bytes, detail: str) -> None:
    with pytest.raises(DecodeError) as err:
        spnego(data, 0)
    assert err.value.name == "spnego_bad_token"
    assert detail in err.value.detail


def test_initial_token_needs_an_oid_first() -> None:
    assert initial_token(b"NTLMSSP\x00") is None
    with pytest.raises(DecodeError) as err:
        initial_token(der(0x60, der(0x04, b"\x00")))
    assert err.value.name == "gssapi_bad_token"


def test_every_truncation_is_named() -> None:
    """Bounds are checked, not caught: a cut token raises one of the three names, nothing else."""
    for real in (SPNEGO_INIT, SPNEGO_RESP, AP_REQ, AP_REP):
        for cut in range(len(real)):
            cut_token = real[:cut]
            with pytest.raises(DecodeError) as err:
                framed = initial_token(cut_token)
                if framed is None:
                    spnego(cut_token, 0)
                elif framed[0] == KRB5:
                    kerberos(cut_token, framed[1], tok_id=True)
                else:
                    spnego(cut_token, framed[1])
            assert err.value.name in {"gssapi_bad_token", "spnego_bad_token", "kerberos_bad_message"}
