"""GSS-API tokens of an [MS-NNS] handshake: SPNEGO and Kerberos, read far enough to name them.

A first token is an RFC 2743 3.1 InitialContextToken (``[APPLICATION 0]``: mechanism OID, then the
mechanism's own bytes). SPNEGO (RFC 4178 4.2) carries a NegTokenInit in it and later bare NegTokenResp
tokens; Kerberos (RFC 4121 4.1) puts a two-byte TOK_ID before an RFC 4120 5.5.1 KRB_AP_REQ, 5.5.2
KRB_AP_REP or 5.9.1 KRB_ERROR. We report the mechanisms offered and chosen, the realm and service
principal of the ticket, encryption types and key versions, error codes: never a cipher text, key,
checksum or mechListMIC (they are walked over, not returned).

A minimal DER walker (ITU-T X.690 8.1: one-byte tags, definite lengths) with every length checked against
its enclosing element; a token that does not fit raises ``DecodeError`` (``gssapi_bad_token``,
``spnego_bad_token``, ``kerberos_bad_message``). Handshakes are rare: clarity over speed.
"""

from .anomalies import DecodeError
from .events import KerberosInfo, SpnegoInfo

MAX_ELEMENTS = 64  # children of one SEQUENCE (mechTypes, name-string) we are willing to walk

# Mechanism OIDs (DER content bytes) and the names we give them.
SPNEGO_OID = "1.3.6.1.5.5.2"  # RFC 4178 3
KERBEROS_OID = "1.2.840.113554.1.2.2"  # RFC 4121 1
MS_KERBEROS_OID = "1.2.840.48018.1.2.2"  # [MS-KILE] 3.1.5.1: Windows' (mis-encoded) Kerberos OID
NTLM_OID = "1.3.6.1.4.1.311.2.2.10"  # [MS-NLMP] 1.9
MECH_NAMES = {
    KERBEROS_OID: "Kerberos",
    MS_KERBEROS_OID: "Kerberos",
    "1.2.840.113554.1.2.2.3": "Kerberos",  # user-to-user
    NTLM_OID: "NTLM",
    "1.3.6.1.4.1.311.2.2.30": "NEGOEX",  # [MS-NEGOEX]
    SPNEGO_OID: "SPNEGO",
}

# RFC 4121 4.1 TOK_ID and RFC 4120 5.10 application tags of the Kerberos messages.
KRB_TOK_IDS = {b"\x01\x00": "AP-REQ", b"\x02\x00": "AP-REP", b"\x03\x00": "KRB-ERROR"}
KRB_APPLICATION = {0x6E: "AP-REQ", 0x6F: "AP-REP", 0x7E: "KRB-ERROR"}
NEG_STATES = ("accept-completed", "accept-incomplete", "reject", "request-mic")  # RFC 4178 4.2.2

SEQUENCE = 0x30
OID = 0x06
INTEGER = 0x02
ENUMERATED = 0x0A
OCTET_STRING = 0x04
BIT_STRING = 0x03
GENERAL_STRING = 0x1B


# --- DER -----------------------------------------------------------------------------------------


def tlv(data: bytes, pos: int, end: int, error: str) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos``, which must end by ``end``."""
    if end - pos < 2:
        raise DecodeError(error, f"DER element at {pos} truncated", pos)
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise DecodeError(error, f"multi-byte DER tag 0x{tag:02x} at {pos}", pos)
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or start + n > end:
            raise DecodeError(error, f"DER length form 0x{first:02x} at {pos} not usable", pos)
        length = int.from_bytes(data[start : start + n], "big")
        start += n
    if length > end - start:
        raise DecodeError(error, f"DER element at {pos} claims {length} bytes, {end - start} left", pos)
    return tag, start, start + length


def children(data: bytes, start: int, end: int, error: str) -> list[tuple[int, int, int]]:
    """The elements that exactly fill ``data[start:end]``."""
    out: list[tuple[int, int, int]] = []
    pos = start
    while pos < end:
        if len(out) == MAX_ELEMENTS:
            raise DecodeError(error, f"more than {MAX_ELEMENTS} elements at {start}", start)
        element = tlv(data, pos, end, error)
        out.append(element)
        pos = element[2]
    return out


def sequence(data: bytes, pos: int, end: int, error: str) -> dict[int, tuple[int, int]]:
    """A SEQUENCE of explicitly tagged fields ``[n]``: n -> span of the field's content."""
    tag, start, stop = tlv(data, pos, end, error)
    if tag != SEQUENCE:
        raise DecodeError(error, f"expected a SEQUENCE at {pos}, found tag 0x{tag:02x}", pos)
    fields: dict[int, tuple[int, int]] = {}
    for ftag, fstart, fstop in children(data, start, stop, error):
        if ftag & 0xE0 == 0xA0:  # context-specific, constructed
            fields[ftag & 0x1F] = (fstart, fstop)
    return fields


def inner(data: bytes, span: tuple[int, int], want: int, error: str) -> tuple[int, int]:
    """Content span of the single element of type ``want`` inside an explicit tag's span."""
    tag, start, stop = tlv(data, span[0], span[1], error)
    if tag != want:
        raise DecodeError(error, f"expected tag 0x{want:02x} at {span[0]}, found 0x{tag:02x}", span[0])
    return start, stop


def integer(data: bytes, span: tuple[int, int], error: str, want: int = INTEGER) -> int:
    start, stop = inner(data, span, want, error)
    if not 0 < stop - start <= 8:
        raise DecodeError(error, f"INTEGER of {stop - start} bytes at {start}", start)
    return int.from_bytes(data[start:stop], "big", signed=True)


def text(data: bytes, span: tuple[int, int], error: str) -> str:
    """A KerberosString (GeneralString, IA5 in practice: RFC 4120 5.2.1)."""
    start, stop = inner(data, span, GENERAL_STRING, error)
    return data[start:stop].decode("utf-8", "replace")


def oid_text(content: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's content bytes (X.690 8.19)."""
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def mech_name(oid: str | None) -> str | None:
    return None if oid is None else MECH_NAMES.get(oid, oid)


# --- GSS-API framing -----------------------------------------------------------------------------


def initial_token(token: bytes) -> tuple[str, int] | None:
    """RFC 2743 3.1: (mechanism OID, offset of the inner token), or None if not such a token."""
    if not token or token[0] != 0x60:
        return None
    _, start, stop = tlv(token, 0, len(token), "gssapi_bad_token")
    tag, ostart, ostop = tlv(token, start, stop, "gssapi_bad_token")
    if tag != OID:
        raise DecodeError("gssapi_bad_token", "InitialContextToken does not start with a mechanism OID", start)
    return oid_text(token[ostart:ostop]), ostop


# --- SPNEGO (RFC 4178 4.2) ------------------------------------------------------------------------


def spnego(token: bytes, pos: int) -> tuple[SpnegoInfo, tuple[int, int] | None]:
    """A NegotiationToken at ``pos``: the SPNEGO fields, and where the mechanism token it carries (if any)
    starts and ends in ``token``."""
    err = "spnego_bad_token"
    tag, start, stop = tlv(token, pos, len(token), err)
    if tag == 0xA0:  # negTokenInit (or [MS-SPNG] 2.2.1 NegTokenInit2: same fields 0–2)
        fields = sequence(token, start, stop, err)
        mech_types: list[str] = []
        if 0 in fields:
            mstart, mstop = inner(token, fields[0], SEQUENCE, err)
            for etag, estart, estop in children(token, mstart, mstop, err):
                if etag != OID:
                    raise DecodeError(err, f"mechTypes holds tag 0x{etag:02x}", estart)
                mech_types.append(oid_text(token[estart:estop]))
        mech_token = _octets(token, fields.get(2), err)
        return SpnegoInfo(message="NegTokenInit", mech_types=mech_types), mech_token
    if tag == 0xA1:  # negTokenResp
        fields = sequence(token, start, stop, err)
        state = None
        if 0 in fields:
            value = integer(token, fields[0], err, want=ENUMERATED)
            state = NEG_STATES[value] if 0 <= value < len(NEG_STATES) else str(value)
        supported = None
        if 1 in fields:
            ostart, ostop = inner(token, fields[1], OID, err)
            supported = oid_text(token[ostart:ostop])
        response = _octets(token, fields.get(2), err)
        info = SpnegoInfo(message="NegTokenResp", neg_state=state, supported_mech=supported)
        return info, response
    raise DecodeError(err, f"NegotiationToken tag 0x{tag:02x} is neither [0] nor [1]", pos)


def _octets(data: bytes, span: tuple[int, int] | None, error: str) -> tuple[int, int] | None:
    """Content span of an explicitly tagged OCTET STRING field, if present."""
    return None if span is None else inner(data, span, OCTET_STRING, error)


# --- Kerberos (RFC 4121 4.1, RFC 4120 5.5) ---------------------------------------------------------


def kerberos(token: bytes, pos: int, tok_id: bool) -> KerberosInfo:
    """A Kerberos message at ``pos`` (after a TOK_ID when ``tok_id``): names, etypes, codes."""
    err = "kerberos_bad_message"
    if tok_id:
        if bytes(token[pos : pos + 2]) not in KRB_TOK_IDS:
            raise DecodeError(err, f"unknown TOK_ID {token[pos : pos + 2].hex()}", pos)
        pos += 2
    tag, start, stop = tlv(token, pos, len(token), err)
    message = KRB_APPLICATION.get(tag)
    if message is None:
        raise DecodeError(err, f"application tag 0x{tag:02x} is not AP-REQ, AP-REP or KRB-ERROR", pos)
    fields = sequence(token, start, stop, err)
    if message == "AP-REQ":
        if 3 not in fields or 4 not in fields:
            raise DecodeError(err, "AP-REQ without ticket or authenticator", pos)
        realm, sname, etype, kvno = _ticket(token, fields[3])
        auth_etype, _ = _encrypted(token, fields[4])
        mutual = None
        if 2 in fields:  # ap-options: BIT STRING, bit 2 is mutual-required (RFC 4120 5.5.1)
            bstart, bstop = inner(token, fields[2], BIT_STRING, err)
            mutual = bstop - bstart >= 2 and bool(token[bstart + 1] & 0x20)
        return KerberosInfo(
            message=message,
            realm=realm,
            sname=sname,
            etype=etype,
            kvno=kvno,
            authenticator_etype=auth_etype,
            mutual=mutual,
        )
    if message == "AP-REP":
        if 2 not in fields:
            raise DecodeError(err, "AP-REP without enc-part", pos)
        etype, kvno = _encrypted(token, fields[2])
        return KerberosInfo(message=message, etype=etype, kvno=kvno)
    if 6 not in fields:
        raise DecodeError(err, "KRB-ERROR without error-code", pos)
    return KerberosInfo(
        message=message,
        error_code=integer(token, fields[6], err),
        realm=text(token, fields[9], err) if 9 in fields else None,
        sname=_principal(token, fields[10]) if 10 in fields else None,
        error_text=text(token, fields[11], err) if 11 in fields else None,
    )


def _ticket(data: bytes, span: tuple[int, int]) -> tuple[str, str, int, int | None]:
    """RFC 4120 5.3 Ticket: realm, sname, enc-part etype and kvno (the cipher text stays where it is)."""
    err = "kerberos_bad_message"
    tag, start, stop = tlv(data, span[0], span[1], err)
    if tag != 0x61:
        raise DecodeError(err, f"ticket tag 0x{tag:02x} is not [APPLICATION 1]", span[0])
    fields = sequence(data, start, stop, err)
    if not {1, 2, 3} <= fields.keys():
        raise DecodeError(err, "ticket without realm, sname or enc-part", span[0])
    etype, kvno = _encrypted(data, fields[3])
    return text(data, fields[1], err), _principal(data, fields[2]), etype, kvno


def _principal(data: bytes, span: tuple[int, int]) -> str:
    """RFC 4120 5.2.2 PrincipalName: the name-string components joined by ``/``."""
    err = "kerberos_bad_message"
    fields = sequence(data, span[0], span[1], err)
    if 1 not in fields:
        raise DecodeError(err, "PrincipalName without name-string", span[0])
    start, stop = inner(data, fields[1], SEQUENCE, err)
    parts = []
    for tag, pstart, pstop in children(data, start, stop, err):
        if tag != GENERAL_STRING:
            raise DecodeError(err, f"name-string holds tag 0x{tag:02x}", pstart)
        parts.append(data[pstart:pstop].decode("utf-8", "replace"))
    return "/".join(parts)


def _encrypted(data: bytes, span: tuple[int, int]) -> tuple[int, int | None]:
    """RFC 4120 5.2.9 EncryptedData: etype and kvno only."""
    err = "kerberos_bad_message"
    fields = sequence(data, span[0], span[1], err)
    if 0 not in fields or 2 not in fields:
        raise DecodeError(err, "EncryptedData without etype or cipher", span[0])
    return integer(data, fields[0], err), integer(data, fields[1], err) if 1 in fields else None
