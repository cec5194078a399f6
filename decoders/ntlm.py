"""[MS-NLMP] 2.2.1 NTLM messages: who authenticates, never how.

NEGOTIATE (2.2.1.1), CHALLENGE (2.2.1.2) and AUTHENTICATE (2.2.1.3) share an 8-byte signature and a
MessageType, then fixed fields and (length, max length, offset) descriptors into a payload. We return the
negotiate flags (2.2.2.5), the domain, user and workstation names, the server's target name and
AV pairs (2.2.2.1), the peer's Version (2.2.2.10) and which response the client sent (NTLMv1 / NTLMv2 /
anonymous, from the NtChallengeResponse length: 3.3.1, 3.3.2). The server challenge, LM/NT responses,
MIC and the encrypted session key are secrets and are never read out.
"""

import struct
from enum import IntEnum, IntFlag

from .anomalies import DecodeError
from .events import NtlmInfo

SIGNATURE = b"NTLMSSP\x00"
FIELD = struct.Struct("<HHI")  # Len, MaxLen, BufferOffset
U32 = struct.Struct("<I")
VERSION = struct.Struct("<BBH3xB")  # ProductMajor, ProductMinor, ProductBuild, Reserved, NTLMRevisionCurrent
AV_PAIR = struct.Struct("<HH")  # AvId, AvLen
MAX_AV_PAIRS = 64
ERROR = "ntlm_bad_message"


class MessageType(IntEnum):
    NEGOTIATE = 1
    CHALLENGE = 2
    AUTHENTICATE = 3


class Flag(IntFlag):
    """[MS-NLMP] 2.2.2.5 NEGOTIATE, the bits that change how a message is read."""

    UNICODE = 0x00000001
    OEM_DOMAIN_SUPPLIED = 0x00001000
    OEM_WORKSTATION_SUPPLIED = 0x00002000
    VERSION = 0x02000000


# [MS-NLMP] 2.2.2.1 AvId -> our name (the ones that are names; timestamps, flags and hashes are not)
AV_NAMES = {1: "nb_computer", 2: "nb_domain", 3: "dns_computer", 4: "dns_domain", 5: "dns_tree", 9: "target_spn"}

# Where each message's fixed part ends and its Version field starts (2.2.1.1–2.2.1.3).
VERSION_AT = {MessageType.NEGOTIATE: 32, MessageType.CHALLENGE: 48, MessageType.AUTHENTICATE: 64}


def parse(token: bytes) -> NtlmInfo:
    """One NTLM message; ``DecodeError(ntlm_bad_message)`` if it is not one or a field leaves it."""
    if not token.startswith(SIGNATURE) or len(token) < 12:
        raise DecodeError(ERROR, "no NTLMSSP signature and MessageType", 0)
    (kind,) = U32.unpack_from(token, 8)
    if kind == MessageType.NEGOTIATE:
        return _negotiate(token)
    if kind == MessageType.CHALLENGE:
        return _challenge(token)
    if kind == MessageType.AUTHENTICATE:
        return _authenticate(token)
    raise DecodeError(ERROR, f"MessageType {kind} is not 1, 2 or 3", 8)


def _negotiate(token: bytes) -> NtlmInfo:
    flags = _u32(token, 12)
    offsets: list[int] = []
    domain = workstation = None
    if len(token) >= 32:  # domain and workstation descriptors (absent in some old clients' 16-byte form)
        if flags & Flag.OEM_DOMAIN_SUPPLIED:
            domain = _oem(_field(token, 16, offsets))
        if flags & Flag.OEM_WORKSTATION_SUPPLIED:
            workstation = _oem(_field(token, 24, offsets))
    return NtlmInfo(
        message="NEGOTIATE",
        flags=f"0x{flags:08x}",
        domain=domain,
        workstation=workstation,
        version=_version(token, MessageType.NEGOTIATE, flags, offsets),
    )


def _challenge(token: bytes) -> NtlmInfo:
    flags = _u32(token, 20)
    offsets: list[int] = []
    target = _string(_field(token, 12, offsets), flags)
    target_info: dict[str, str] = {}
    if len(token) >= 48:
        target_info = _av_pairs(_field(token, 40, offsets))
    return NtlmInfo(
        message="CHALLENGE",
        flags=f"0x{flags:08x}",
        target=target,
        target_info=target_info,
        version=_version(token, MessageType.CHALLENGE, flags, offsets),
    )


def _authenticate(token: bytes) -> NtlmInfo:
    flags = _u32(token, 60)
    offsets: list[int] = []
    lm_len = len(_field(token, 12, offsets))  # lengths only: the responses themselves are secrets
    nt_len = len(_field(token, 20, offsets))
    domain = _string(_field(token, 28, offsets), flags)
    user = _string(_field(token, 36, offsets), flags)
    workstation = _string(_field(token, 44, offsets), flags)
    _field(token, 52, offsets)  # EncryptedRandomSessionKey: only its offset matters
    if nt_len == 0 and lm_len <= 1:
        ntlm_version = "anonymous"  # 3.3.1 / 3.3.2: empty NT response, LM empty or Z(1)
    elif nt_len == 24:
        ntlm_version = "v1"  # 3.3.1: DESL output (also NTLM2 session security)
    elif nt_len > 24:
        ntlm_version = "v2"  # 3.3.2: NTProofStr followed by the client's blob
    else:
        ntlm_version = None
    return NtlmInfo(
        message="AUTHENTICATE",
        flags=f"0x{flags:08x}",
        domain=domain,
        user=user,
        workstation=workstation,
        ntlm_version=ntlm_version,
        version=_version(token, MessageType.AUTHENTICATE, flags, offsets),
    )


# --- fields --------------------------------------------------------------------------------------


def _u32(token: bytes, pos: int) -> int:
    if pos + 4 > len(token):
        raise DecodeError(ERROR, f"message ends before its NegotiateFlags at {pos}", pos)
    return U32.unpack_from(token, pos)[0]


def _field(token: bytes, pos: int, offsets: list[int]) -> bytes:
    """The payload bytes a (Len, MaxLen, BufferOffset) descriptor at ``pos`` points to."""
    if pos + FIELD.size > len(token):
        raise DecodeError(ERROR, f"message ends inside the field descriptor at {pos}", pos)
    length, _, offset = FIELD.unpack_from(token, pos)
    if length and offset + length > len(token):
        raise DecodeError(ERROR, f"field at {pos} points to {offset}+{length}, past {len(token)}", pos)
    if length:
        offsets.append(offset)
    return token[offset : offset + length]


def _string(raw: bytes, flags: int) -> str:
    return raw.decode("utf-16-le", "replace") if flags & Flag.UNICODE else _oem(raw)


def _oem(raw: bytes) -> str:
    """OEM strings are in the peer's code page, which the wire does not say; ASCII is what is safe."""
    return raw.decode("ascii", "replace")


def _version(token: bytes, kind: MessageType, flags: int, offsets: list[int]) -> str | None:
    """2.2.2.10 VERSION, present when the flag is set and the payload starts after it."""
    at = VERSION_AT[kind]
    end = at + VERSION.size
    if not flags & Flag.VERSION or len(token) < end or (offsets and min(offsets) < end):
        return None
    major, minor, build, revision = VERSION.unpack_from(token, at)
    return f"{major}.{minor}.{build} NTLM rev {revision}"


def _av_pairs(raw: bytes) -> dict[str, str]:
    """2.2.2.1 AV_PAIR list up to MsvAvEOL: the names in it (UTF-16LE, 2.2.2.1 says always)."""
    out: dict[str, str] = {}
    pos = 0
    for _ in range(MAX_AV_PAIRS):
        if pos + AV_PAIR.size > len(raw):
            raise DecodeError(ERROR, "TargetInfo ends without MsvAvEOL", None)
        av_id, av_len = AV_PAIR.unpack_from(raw, pos)
        pos += AV_PAIR.size
        if av_id == 0:
            return out
        if pos + av_len > len(raw):
            raise DecodeError(ERROR, f"AV_PAIR {av_id} of {av_len} bytes runs past TargetInfo", None)
        if av_id in AV_NAMES:
            out[AV_NAMES[av_id]] = raw[pos : pos + av_len].decode("utf-16-le", "replace")
        pos += av_len
    raise DecodeError(ERROR, f"TargetInfo has more than {MAX_AV_PAIRS} AV pairs", None)
