"""What follows an [MC-NMF] 2.2.3.6 upgrade: [MS-NNS] NegotiateStream or TLS, counted, not decrypted.

After ``application/negotiate`` each direction carries [MS-NNS] 2.2.1 Handshake messages (5-byte
header: MessageId, MajorVersion, MinorVersion, PayloadSize as two big-endian bytes) until that host
sends its final one as HandshakeDone (or gives up with HandshakeError), then 2.2.2 Data messages
(4-byte little-endian PayloadSize, then the signed/encrypted payload). The first handshake token
names the security package. After ``application/ssl-tls`` the stream is TLS records (RFC 8446 5.1).
We only need the package and the frame/byte counts, so payloads are skipped without buffering.
"""

import struct
from enum import IntEnum

from construct import Int8ub, Int16ub, Struct

from .anomalies import DecodeError

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

NTLMSSP = b"NTLMSSP\x00"
SPNEGO_OID = bytes.fromhex("06062b0601050502")  # 1.3.6.1.5.5.2
KERBEROS_OIDS = (
    bytes.fromhex("06092a864886f712010202"),  # 1.2.840.113554.1.2.2
    bytes.fromhex("06092a864882f712010202"),  # 1.2.840.48018.1.2.2 (Microsoft's variant)
)


def auth_package(token: bytes) -> str | None:
    """The security package of a first GSS-API token: raw NTLM, or the mechanism of an RFC 2743 3.1
    InitialContextToken (``0x60``, DER length, mechanism OID)."""
    if token.startswith(NTLMSSP):
        return "NTLM"
    if len(token) < 2 or token[0] != 0x60:
        return None
    pos = 2 + (token[1] & 0x7F if token[1] & 0x80 else 0)  # skip the short or long DER length
    oid = token[pos : pos + 11]
    if oid.startswith(SPNEGO_OID):
        return "SPNEGO"
    if oid in KERBEROS_OIDS:
        return "Kerberos"
    return None


class SecuredStream:
    """One direction of an upgraded stream: frames and payload bytes, and the package seen.

    ``feed`` never raises: malformed framing is returned as DecodeErrors, after which the rest of the
    direction is only counted in ``bytes``.
    """

    def __init__(self, protocol: str, offset: int) -> None:
        self.protocol = protocol
        self.auth_package: str | None = "TLS" if protocol == SSL_TLS else None
        self.frames = 0  # complete data messages / TLS records
        self.bytes = 0  # every byte of the direction after the upgrade
        self._offset = offset  # stream offset of _head[0]
        self._framed = protocol in (NEGOTIATE, SSL_TLS)
        self._handshake = protocol == NEGOTIATE
        self._head = bytearray()  # an incomplete header, or a handshake message being collected
        self._skip = 0  # payload bytes of the current frame still to pass over

    def feed(self, data: bytes) -> list[DecodeError]:
        self.bytes += len(data)
        view = memoryview(data)
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
            self._framed = False
            return [err]
        return []

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
            token = bytes(head[5:])
            if head[0] == HandshakeId.ERROR:
                raise DecodeError("nns_handshake_error", f"HandshakeError payload {token.hex()}", self._offset)
            if self.auth_package is None:
                self.auth_package = auth_package(token)
            if head[0] == HandshakeId.DONE:
                self._handshake = False
            return
        if self.protocol == NEGOTIATE:
            (size,) = DATA_HEADER.unpack_from(head)
            if size > MAX_DATA_PAYLOAD:
                raise DecodeError("nns_bad_frame", f"data message of {size} bytes exceeds 0xFC30", self._offset)
        else:
            content_type, version, size = TLS_HEADER.unpack_from(head)
            if content_type not in TLS_CONTENT_TYPES or version >> 8 != 3 or size > MAX_TLS_RECORD:
                raise DecodeError("nns_bad_frame", f"TLS record header {bytes(head).hex()}", self._offset)
        self._skip = size
        self.frames += 1
