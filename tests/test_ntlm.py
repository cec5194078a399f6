"""decoders.ntlm: [MS-NLMP] 2.2.1 messages in, names and flags out, secrets never.

The three real messages are gss-ntlmssp's, cut from captures/nns_auth.pcap (tests/nns_capture.py); the
same fields are checked against tshark in tests/test_nns.py. Variants are those messages with one
documented field changed, or written by hand from the section cited beside them.
"""

import struct

import pytest
from nns_capture import token

from decoders.anomalies import DecodeError
from decoders.events import NtlmInfo
from decoders.ntlm import parse

NEGOTIATE = token("ntlm", "orig", 0)
CHALLENGE = token("ntlm", "resp", 0)
AUTHENTICATE = token("ntlm", "orig", 1)


def with_field(message: bytes, at: int, length: int, offset: int | None = None) -> bytes:
    """``message`` with the (Len, MaxLen, BufferOffset) descriptor at ``at`` replaced."""
    old_offset = struct.unpack_from("<I", message, at + 4)[0]
    new = struct.pack("<HHI", length, length, old_offset if offset is None else offset)
    return message[:at] + new + message[at + 8 :]


def test_real_negotiate() -> None:
    assert parse(NEGOTIATE) == NtlmInfo(message="NEGOTIATE", flags="0xe2088237", version="6.2.0 NTLM rev 15")


def test_real_challenge() -> None:
    """TargetName and the names among the AV pairs (2.2.2.1); the ServerChallenge is not returned."""
    assert parse(CHALLENGE) == NtlmInfo(
        message="CHALLENGE",
        flags="0xe28a8235",
        target="POS-1",
        target_info={"nb_computer": "POS-1", "nb_domain": "WORKSTATION", "dns_computer": "POS-1"},
        version="6.2.0 NTLM rev 15",
    )


def test_real_authenticate() -> None:
    info = parse(AUTHENTICATE)
    assert info == NtlmInfo(
        message="AUTHENTICATE",
        flags="0xe28a8235",
        domain="STORE",
        user="ivanov",
        workstation="POS-1",
        version="6.2.0 NTLM rev 15",
        ntlm_version="v2",  # a 180-byte NtChallengeResponse: NTProofStr + the client's blob (3.3.2)
    )
    dumped = info.model_dump_json()
    for secret in (AUTHENTICATE[72:88], AUTHENTICATE[-16:]):  # NTProofStr, EncryptedRandomSessionKey
        assert secret.hex() not in dumped


@pytest.mark.parametrize(
    ("nt_len", "lm_len", "expect"),
    [(24, 24, "v1"), (0, 1, "anonymous"), (0, 0, "anonymous"), (16, 0, None)],
)
def test_response_type_from_nt_response_length(nt_len: int, lm_len: int, expect: str | None) -> None:
    """3.3.1: NTLMv1's NtChallengeResponse is 24 bytes; an anonymous one is empty with an LM response of
    at most one byte; a length that is neither is not guessed."""
    message = with_field(with_field(AUTHENTICATE, 20, nt_len), 12, lm_len)
    assert parse(message).ntlm_version == expect


def test_oem_negotiate_with_supplied_names() -> None:
    """2.2.1.1 with NEGOTIATE_OEM_DOMAIN_SUPPLIED | _WORKSTATION_SUPPLIED (and no VERSION): the names are
    OEM bytes in the payload at offset 32."""
    flags = 0x00003000 | 0x00000002 | 0x00000200  # the two SUPPLIED bits, NEGOTIATE_OEM, NEGOTIATE_NTLM
    head = b"NTLMSSP\x00" + struct.pack("<II", 1, flags)
    message = head + struct.pack("<HHI", 5, 5, 32) + struct.pack("<HHI", 5, 5, 37) + b"STOREPOS-1"
    info = parse(message)
    assert (info.domain, info.workstation, info.version, info.flags) == ("STORE", "POS-1", None, "0x00003202")


def test_short_negotiate_of_old_clients() -> None:
    """A 16-byte NEGOTIATE (signature, type, flags): nothing else to read."""
    assert parse(NEGOTIATE[:16]) == NtlmInfo(message="NEGOTIATE", flags="0xe2088237")


def test_oem_authenticate_strings() -> None:
    """Without NEGOTIATE_UNICODE (bit A) the AUTHENTICATE names are OEM: the UTF-16 bytes read as ASCII."""
    flags_at = 60
    oem = AUTHENTICATE[:flags_at] + bytes([AUTHENTICATE[flags_at] & 0xFE]) + AUTHENTICATE[flags_at + 1 :]
    assert parse(oem).user == "i\x00v\x00a\x00n\x00o\x00v\x00"


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (b"NTLMSSP\x00\x04\x00\x00\x00" + bytes(20), "MessageType 4"),
        (b"NTLMSSQ\x00\x01\x00\x00\x00", "signature"),
        (with_field(AUTHENTICATE, 36, 12, len(AUTHENTICATE) - 4), "past"),  # UserName beyond the end
        (with_field(CHALLENGE, 40, 78 - 4), "MsvAvEOL"),  # TargetInfo (78 bytes) cut before its MsvAvEOL
        (AUTHENTICATE[:50], "NegotiateFlags"),
        (CHALLENGE[:18], "NegotiateFlags"),
    ],
)
def test_malformed(message: bytes, detail: str) -> None:
    with pytest.raises(DecodeError) as err:
        parse(message)
    assert err.value.name == "ntlm_bad_message"
    assert detail in err.value.detail


def test_every_truncation_parses_or_is_named() -> None:
    """Bounds are checked: a cut message is a DecodeError or a valid shorter reading, never IndexError."""
    for message in (NEGOTIATE, CHALLENGE, AUTHENTICATE):
        for cut in range(len(message)):
            try:
                parse(message[:cut])
            except DecodeError as err:
                assert err.name == "ntlm_bad_message"
