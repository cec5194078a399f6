"""[MC-NMF] envelope payloads: which codec reads them (2.2.3.4), and the seam between the two cores.

A payload is binary with a session string table ([MC-NBFSE] 2), plain binary ([MC-NBFX]), text XML,
MTOM (the XML root part of a MIME multipart), or one of the binary ones compressed (.NET 4.5 ``+gzip`` /
``+deflate``; the one capped inflater ``decoders.inflate``, shared with HTTP). ``decode_message`` turns
one payload into the SOAP view by the pure-Python reference (``decoders.nbfx`` + ``decoders.soap``); with
the compiled core in use (``decoders.core``) the binary families' payloads go to it instead
(``CORE_FAMILIES``), which makes their events (``decoders.nmf_events``). tests/test_core_diff.py holds
the two to the same results.
"""

from dataclasses import dataclass
from typing import NamedTuple

from . import nbfx, soap, xml_text
from .anomalies import DecodeError
from .core import RUST
from .inflate import GZIP, RAW_DEFLATE, inflate
from .interface import DecoderOptions

# 2.2.3.4.1 Known Encoding Record: value -> (name, the content type it stands for)
KNOWN_ENCODINGS = {
    0x00: ("soap1.1-utf8", "text/xml; charset=utf-8"),
    0x01: ("soap1.1-utf16", "text/xml; charset=utf-16"),
    0x02: ("soap1.1-unicodeLE", "text/xml; charset=unicodeFFFE"),
    0x03: ("soap1.2-utf8", "application/soap+xml; charset=utf-8"),
    0x04: ("soap1.2-utf16", "application/soap+xml; charset=utf-16"),
    0x05: ("soap1.2-unicodeLE", "application/soap+xml; charset=unicodeFFFE"),
    0x06: ("soap1.2-mtom", "multipart/related"),
    0x07: ("soap1.2-binary", "application/soap+msbin1"),
    0x08: ("soap1.2-binary-session", "application/soap+msbinsession1"),
}
SESSION_ENCODING = KNOWN_ENCODINGS[0x08]  # assumed when resynchronising: NetTcpBinding's default


@dataclass(frozen=True, slots=True)
class Codec:
    """How an envelope payload is read, from the content type (2.2.3.4)."""

    label: str  # known encoding name, else the content type
    family: str  # binary-session | binary | text | mtom | unknown
    compression: str | None  # gzip | deflate (.NET 4.5 binary encoder compression)
    charset: str | None  # Python codec of a text encoding without BOM


# content type charset -> Python codec, as .NET names them ("utf-16" is little-endian, code page 1200;
# "unicodeFFFE" big-endian, code page 1201)
CHARSETS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "unicodefffe": "utf-16-be"}


def codec_for(content_type: str, label: str | None = None) -> Codec:
    base = content_type.strip().lower()
    compression = None
    for suffix in ("gzip", "deflate"):
        if base.endswith("+" + suffix):
            base, compression = base[: -len(suffix) - 1], suffix
    media, _, params = base.partition(";")
    media = media.strip()
    charset = params.partition("charset=")[2].split(";")[0].strip().strip('"') or None
    family = {
        "application/soap+msbinsession1": "binary-session",
        "application/soap+msbin1": "binary",
        "text/xml": "text",
        "application/soap+xml": "text",
        "multipart/related": "mtom",
    }.get(media, "unknown")
    return Codec(label or content_type, family, compression, CHARSETS.get(charset or "", charset))


SESSION_CODEC = codec_for(SESSION_ENCODING[1], SESSION_ENCODING[0])


def _mtom_root(payload: bytes) -> bytes:
    """The XML root part of a MIME multipart (MTOM) envelope: first part after the boundary line."""
    line_end = payload.find(b"\r\n")
    if not payload.startswith(b"--") or line_end < 0:
        raise DecodeError("nmf_bad_mtom", "MTOM payload does not start with a MIME boundary", 0)
    boundary = payload[:line_end]
    body = payload.find(b"\r\n\r\n", line_end)
    close = payload.find(b"\r\n" + boundary, body)
    if body < 0 or close < 0:
        raise DecodeError("nmf_bad_mtom", "MTOM root part is not terminated", line_end)
    return payload[body + 4 : close]


def inflated(payload: bytes, codec: Codec, options: DecoderOptions) -> bytes:
    """The payload, inflated if the encoding is compressed (a small envelope may expand hugely: the
    shared capped inflater)."""
    if not codec.compression:
        return payload
    wbits = GZIP if codec.compression == "gzip" else RAW_DEFLATE
    limits = {"max_size": min(options.max_envelope, options.max_decompressed), "max_ratio": options.max_ratio}
    names = {"too_large": "nmf_envelope_too_large", "too_dense": "nmf_decompression_ratio"}
    names["size_limit"] = "envelope_size" if options.max_envelope < options.max_decompressed else "decompressed_size"
    return inflate(payload, wbits, **limits, **names, failed="nmf_decompress_failed", what=codec.compression)


def decode_document(
    payload: bytes, codec: Codec, session: nbfx.SessionStrings, options: DecoderOptions
) -> nbfx.Document:
    """An envelope payload → NBFX/XML document, updating the direction's session strings."""
    payload = inflated(payload, codec, options)
    depth, elements = options.max_depth, options.max_elements
    if codec.family == "binary-session":
        table_end = session.read_table(payload, max_bytes=options.max_session_bytes)
        return nbfx.decode(payload, table_end, session, max_depth=depth, max_elements=elements)
    if codec.family == "binary":
        return nbfx.decode(payload, max_depth=depth, max_elements=elements)
    if codec.family in ("text", "mtom"):
        text = payload if codec.family == "text" else _mtom_root(payload)
        charset = codec.charset if codec.family == "text" else None
        return xml_text.parse_text_xml(text, charset, max_depth=depth, max_elements=elements)
    raise DecodeError("nmf_unsupported_encoding", f"cannot read envelopes of {codec.label}", 0)


def _table_size(session: nbfx.SessionStrings) -> int:
    """Strings read into a direction's table so far, numbered or not."""
    return len(session) + len(session.unanchored)


# --- one envelope payload -> its SOAP view, by the pure-Python reference -----------------------------


class DecodedMessage(NamedTuple):
    """One envelope decoded by the pure-Python decoders: the SOAP view and what the event needs of the
    document (a named tuple, as ``SoapMessage``)."""

    message: soap.SoapMessage
    unresolved: int  # session ids rendered session:N
    added: int  # strings the envelope's [MC-NBFSE] table added to the direction's
    xml: str | None  # the envelope as XML text, when asked for


def decode_message(
    payload: bytes, codec: Codec, session: nbfx.SessionStrings, options: DecoderOptions
) -> DecodedMessage:
    """One envelope payload → DecodedMessage by decoders.nbfx (or the text XML parser), then
    decoders.soap, updating the direction's session strings (from ``new_session``). Raises DecodeError.
    With the core in use, payloads of the binary families are the core's (``CORE_FAMILIES``:
    ``decoders.nmf_events`` has it make their events); tests/test_core_diff.py holds the two to the
    same results."""
    before = _table_size(session)
    document = decode_document(payload, codec, session, options)
    message = soap.message_from_document(document)
    text = document.to_xml() if options.xml else None
    return DecodedMessage(message, document.unresolved, _table_size(session) - before, text)


CORE_FAMILIES = frozenset({"binary", "binary-session"})
"""The codec families whose payloads the core decodes when it is in use (text and MTOM stay in Python)."""


def new_session() -> nbfx.SessionStrings:
    """A direction's [MC-NBFSE] session strings, of the core in use."""
    return nbfx.SessionStrings() if RUST is None else RUST.SessionStrings()
