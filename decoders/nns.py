"""What follows an [MC-NMF] 2.2.3.6 upgrade: [MS-NNS] NegotiateStream or TLS, counted, not decrypted.

After ``application/negotiate`` each direction carries [MS-NNS] 2.2.1 Handshake messages (5-byte
header: MessageId, MajorVersion, MinorVersion, PayloadSize as two big-endian bytes) until that host
sends its final one as HandshakeDone (or gives up with HandshakeError), then 2.2.2 Data messages
(4-byte little-endian PayloadSize, then the signed/encrypted payload). The first handshake token
names the security package. After ``application/ssl-tls`` the stream is TLS records (RFC 8446 5.1).
Handshake tokens are read by ``decoders.gssapi`` (SPNEGO, Kerberos) and ``decoders.ntlm`` into one
``nns.auth`` event each; data payloads are only counted, skipped without buffering.

Spec limits vs real peers: a data message above [MS-NNS] 2.2.2's 0xFC30 or a TLS record above
RFC 5246 6.2.3's 2^14+2048 is still framed and skipped (up to ``MAX_FRAME``), with one
``nns_oversized_frame`` per direction. A handshake PayloadSize is 16 bits, so no token can exceed it.
"""

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from construct import Int8ub, Int16ub, Struct

from . import gssapi, ntlm
from .anomalies import DecodeError
from .events import ConnFields, Direction, NnsAuth

NEGOTIATE = "application/negotiate"
SSL_TLS = "application/ssl-tls"


class HandshakeId(IntEnum):
    """[MS-NNS] 2.2.1 MessageId."""

    DONE = 0x14
    ERROR = 0x15
    IN_PROGRESS = 0x16


HANDSHAKE_HEADER = Struct(
    "MessageId" / Int8ub,
    "MajorVersion" / Int8ub,
    "MinorVersion" / Int8ub,
    "PayloadSize" / Int16ub,
)
DATA_HEADER = struct.Struct("<I")  # [MS-NNS] 2.2.2 PayloadSize
TLS_HEADER = struct.Struct(">BHH")  # ContentType, legacy_record_version, length
MAX_DATA_PAYLOAD = 0xFC30  # [MS-NNS] 2.2.2: at most 64,048 bytes (0xFC30)
MAX_TLS_RECORD = 2**14 + 2048  # RFC 5246 6.2.3: TLSCiphertext.length limit
TLS_CONTENT_TYPES = frozenset(range(20, 25))
# [MS-ERREF] 2.1 HRESULTs a failed SSPI handshake reports (and .NET's ERROR_TRUST_FAILURE default).
HRESULTS = {
    0x80090302: "SEC_E_UNSUPPORTED_FUNCTION",
    0x80090304: "SEC_E_INTERNAL_ERROR",
    0x80090308: "SEC_E_INVALID_TOKEN",
    0x8009030C: "SEC_E_LOGON_DENIED",
    0x8009030E: "SEC_E_NO_CREDENTIALS",
    0x80090311: "SEC_E_NO_AUTHENTICATING_AUTHORITY",
    0x80090322: "SEC_E_WRONG_PRINCIPAL",
    0x80090324: "SEC_E_TIME_SKEW",
    0x0000051F: "ERROR_NO_LOGON_SERVERS",
    0x000006FE: "ERROR_TRUST_FAILURE",
}
MAX_FRAME = 16 * 2**20  # past this a data message's length is taken for garbage, not an outsized frame

NTLMSSP = b"NTLMSSP\x00"


@dataclass(frozen=True)
class AuthToken:
    """What one handshake token says (``decoders.events.NnsAuth`` without the connection fields)."""

    handshake: str
    size: int
    package: str | None = None
    mech: str | None = None
    message: str | None = None
    details: dict = field(default_factory=dict)  # spnego / ntlm / kerberos sub-models

    def event(self, ts: int, conn: ConnFields, direction: Direction) -> NnsAuth:
        return NnsAuth(
            ts=ts,
            **conn,
            dir=direction,
            handshake=self.handshake,  # type: ignore[arg-type]
            size=self.size,
            package=self.package,  # type: ignore[arg-type]
            mech=self.mech,
            message=self.message,
            **self.details,
        )


def read_token(token: bytes, handshake: str = "in_progress") -> tuple[AuthToken, DecodeError | None]:
    """Name a handshake token's package and message; a malformed token keeps what was read before the
    fault and returns it as a DecodeError (offsets relative to the token)."""
    found = _Found()
    error: DecodeError | None = None
    try:
        _read(token, found, nested=False)
    except DecodeError as err:
        error = err
    spnego = found.details.get("spnego")
    message = found.message or (spnego.message if spnego is not None else None)
    return AuthToken(handshake, len(token), found.package, found.mech, message, found.details), error


@dataclass
class _Found:
    """What ``_read`` has learnt so far: kept when a later part of the token turns out malformed."""

    package: str | None = None
    mech: str | None = None
    message: str | None = None
    details: dict = field(default_factory=dict)


def _read(token: bytes, found: _Found, *, nested: bool) -> None:
    """Fill ``found`` from a token; a token inside SPNEGO (``nested``) is read only as NTLM or Kerberos,
    so that SPNEGO within SPNEGO cannot recurse."""
    if token.startswith(NTLMSSP):
        found.package = found.mech = "NTLM"
        found.details["ntlm"] = info = ntlm.parse(token)
        found.message = info.message
    elif token[:1] in (b"\x6e", b"\x6f", b"\x7e"):  # a Kerberos message without GSS-API framing
        found.package = found.mech = "Kerberos"
        found.details["kerberos"] = info = gssapi.kerberos(token, 0, tok_id=False)
        found.message = info.message
    elif token[:1] in (b"\xa0", b"\xa1"):  # a bare NegotiationToken: SPNEGO after its first token
        found.package = "SPNEGO"
        if not nested:
            _spnego(token, 0, found)
    else:
        framed = gssapi.initial_token(token)
        if framed is None:
            return
        oid, pos = framed
        found.package = found.mech = gssapi.mech_name(oid)
        if found.package == "SPNEGO":
            if not nested:
                _spnego(token, pos, found)
        elif found.package == "Kerberos":
            found.details["kerberos"] = info = gssapi.kerberos(token, pos, tok_id=True)
            found.message = info.message
        elif found.package != "NTLM":
            found.package = None  # a mechanism we do not decode: its name or OID stays in ``mech``


def _spnego(token: bytes, pos: int, found: _Found) -> None:
    """RFC 4178 4.2: the SPNEGO fields, then the mechanism token they carry (its package wins)."""
    info, span = gssapi.spnego(token, pos)
    found.details["spnego"] = info
    found.message = info.message
    found.mech = gssapi.mech_name(info.supported_mech or (info.mech_types[0] if info.mech_types else None))
    if span is None or span[0] == span[1]:
        return
    carried = _Found()
    try:
        _read(token[span[0] : span[1]], carried, nested=True)
    except DecodeError as err:
        raise DecodeError(err.name, err.detail, span[0] + (err.offset or 0)) from None
    finally:
        if carried.package in ("NTLM", "Kerberos"):
            found.mech = carried.package
            found.message = carried.message or found.message
            found.details.update(carried.details)


class SecuredStream:
    """One direction of an upgraded stream: frames and payload bytes, and the package seen.

    ``feed`` never raises: handshake tokens come back as AuthTokens, malformed framing as DecodeErrors
    (after which the rest of the direction is only counted in ``bytes``), a malformed token or an
    oversized frame as a DecodeError that does not stop the framing.
    """

    def __init__(self, protocol: str, offset: int) -> None:
        self.protocol = protocol
        self.auth_package: str | None = "TLS" if protocol == SSL_TLS else None
        self.auth_mech: str | None = None  # what SPNEGO settled on, once a token names it
        self.frames = 0  # complete data messages / TLS records
        self.bytes = 0  # every byte of the direction after the upgrade
        self.handshake_bytes = 0  # bytes of whole handshake messages (header and token): decoded, not encrypted
        self._offset = offset  # stream offset of _head[0]
        self._framed = protocol in (NEGOTIATE, SSL_TLS)
        self._handshake = protocol == NEGOTIATE
        self._head = bytearray()  # an incomplete header, or a handshake message being collected
        self._skip = 0  # payload bytes of the current frame still to pass over
        self._oversized = False  # an nns_oversized_frame was reported for this direction
        self._out: list[DecodeError | AuthToken] = []

    def feed(self, data: bytes) -> list[DecodeError | AuthToken]:
        self.bytes += len(data)
        view = memoryview(data)
        out = self._out = []
        try:
            while view and self._framed:
                if self._skip:
                    n = min(self._skip, len(view))
                    self._skip -= n
                    self._offset += n
                    view = view[n:]
                    continue
                want = self._wanted() - len(self._head)
                if want > 0:
                    piece = view[:want]
                    self._head += piece
                    view = view[len(piece) :]
                    if len(self._head) < self._wanted():
                        continue
                self._consume_head()
                self._offset += len(self._head)
                self._head.clear()
        except DecodeError as err:
            self._framed = False  # the rest is only counted; the bad frame is not one left open
            self._head.clear()
            self._skip = 0
            out.append(err)
        return out

    def lose(self, length: int) -> None:
        """A gap: frame boundaries are gone, so the rest is only counted."""
        self.bytes += length
        self._framed = False

    @property
    def in_frame(self) -> bool:
        """True if the direction stopped inside a header or payload."""
        return bool(self._head) or bool(self._skip)

    def _wanted(self) -> int:
        """Bytes ``_head`` must hold for the next step; checks a handshake header once it is whole."""
        if not self._handshake:
            return DATA_HEADER.size if self.protocol == NEGOTIATE else TLS_HEADER.size
        if len(self._head) < HANDSHAKE_HEADER.sizeof():
            return HANDSHAKE_HEADER.sizeof()
        hdr = HANDSHAKE_HEADER.parse(bytes(self._head[:5]))
        if hdr.MessageId not in set(HandshakeId) or hdr.MajorVersion != 1:
            raise DecodeError(
                "nns_bad_frame", f"handshake header {bytes(self._head[:5]).hex()} is not [MS-NNS]", self._offset
            )
        return 5 + hdr.PayloadSize

    def _consume_head(self) -> None:
        """Act on the complete header (with its payload, for a handshake message) in ``_head``."""
        head = self._head
        if self._handshake:
            self.handshake_bytes += len(head)
            token = bytes(head[5:])
            if head[0] == HandshakeId.ERROR:
                raise DecodeError("nns_handshake_error", self._handshake_error(token), self._offset)
            done = head[0] == HandshakeId.DONE
            if done:
                self._handshake = False
            if token:
                self._read_token(token, "done" if done else "in_progress")
            return
        if self.protocol == NEGOTIATE:
            (size,) = DATA_HEADER.unpack_from(head)
            if size > MAX_FRAME:
                raise DecodeError("nns_bad_frame", f"data message of {size} bytes (cap {MAX_FRAME})", self._offset)
            if size > MAX_DATA_PAYLOAD:
                self._note_oversized(f"data message of {size} bytes exceeds [MS-NNS] 2.2.2's 0xFC30")
        else:
            content_type, version, size = TLS_HEADER.unpack_from(head)
            if content_type not in TLS_CONTENT_TYPES or version >> 8 != 3:
                raise DecodeError("nns_bad_frame", f"TLS record header {bytes(head).hex()}", self._offset)
            if size > MAX_TLS_RECORD:
                self._note_oversized(f"TLS record of {size} bytes exceeds 2^14+2048")
        self._skip = size
        self.frames += 1

    def _read_token(self, token: bytes, handshake: str) -> None:
        auth, error = read_token(token, handshake)
        if self.auth_package is None:
            self.auth_package = auth.package
        if auth.mech is not None:
            self.auth_mech = auth.mech
        self._out.append(auth)
        if error is not None:
            # the token starts after the 5-byte header; a field said to lie past the token's end is
            # reported where the token ends (the detail names the field's own position)
            where = self._offset + 5 + min(error.offset or 0, len(token))
            self._out.append(DecodeError(error.name, error.detail, where))

    def _handshake_error(self, payload: bytes) -> str:
        """[MS-NNS] 2.2.1: a HandshakeError holds an HRESULT (.NET writes it big-endian into 8 bytes);
        a peer may send the security package's own error token there instead, which is read as one."""
        if len(payload) == 8 and not payload[:4].strip(b"\x00"):
            code = int.from_bytes(payload[4:], "big")
            name = HRESULTS.get(code)
            return f"HandshakeError: HRESULT 0x{code:08x}" + (f" ({name})" if name else "")
        if payload:
            self._read_token(payload, "error")
        return f"HandshakeError with a {len(payload)}-byte payload"

    def _note_oversized(self, detail: str) -> None:
        """Windows peers may exceed the documented maximum: decode the frame, say so once per direction."""
        if not self._oversized:
            self._oversized = True
            self._out.append(DecodeError("nns_oversized_frame", detail + "; decoded anyway", self._offset))
