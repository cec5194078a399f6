"""HTTP message bodies of the iikoRMS link: content decoding, XML → JSON, and iikoRMS's call fields.

Bodies are kept up to the ``body_size`` limit on the wire and after gzip/deflate decoding
(``decoders.inflate``: bomb-proof); XML bodies become JSON in ``decoders.soap``'s DataContract shape, as
for WCF bodies, so one set of iiko rules reads both.
"""

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from . import soap, xml_text
from .anomalies import DecodeError
from .core import RUST
from .inflate import GZIP, RAW_DEFLATE, ZLIB, inflate
from .interface import DecoderOptions
from .json_text import JsonText, from_core

RESTO_SERVICE = re.compile(r"/resto/services/([^/?]+)")


@dataclass
class Body:
    """A message body as it arrives: content-coded bytes, kept up to ``limit``."""

    limit: int
    wire: bytearray = field(default_factory=bytearray)
    size: int = 0  # bytes as transferred (after de-chunking, before content decoding)
    complete: bool = False

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if len(self.wire) < self.limit:
            self.wire += data[: self.limit - len(self.wire)]


def decode_content(body: bytes, encoding: str | None, options: DecoderOptions) -> bytes:
    """Undo gzip/deflate (RFC 9110 §8.4.1), refusing output past the size and ratio limits."""
    coding = (encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        return body
    if coding in ("gzip", "x-gzip"):
        window_bits = (GZIP,)
    elif coding == "deflate":  # zlib-wrapped per the RFC; raw deflate from some servers
        window_bits = (ZLIB, RAW_DEFLATE)
    else:
        raise DecodeError("http_decompress_failed", f"unsupported content coding {coding!r}")
    for bits in window_bits:
        try:
            return inflate(
                body,
                bits,
                max_size=min(options.max_http_body, options.max_decompressed),
                size_limit="body_size" if options.max_http_body < options.max_decompressed else "decompressed_size",
                max_ratio=options.max_ratio,
                too_large="http_body_too_large",
                too_dense="http_decompression_ratio",
                failed="http_decompress_failed",
                what=f"{coding} body",
            )
        except DecodeError as err:
            if err.name != "http_decompress_failed" or bits == window_bits[-1]:
                raise
    raise AssertionError("unreachable")  # the last coding re-raises


def xml_to_json(body: bytes, content_type: str, options: DecoderOptions) -> Any:
    """An XML body as {root name: content} in the DataContract JSON shape the WCF decoder uses: the objects,
    or the compiled reader's JSON text (``JsonText``, parsed only if something reads it)."""
    charset = re.search(r"charset=\"?([\w.-]+)", content_type, re.IGNORECASE)
    encoding = charset.group(1) if charset else None
    if RUST is not None:  # the compiled reader takes well-formed UTF-8; None leaves the rest (and errors) here
        text = RUST.text_xml_json(body, encoding, max_depth=options.max_depth, max_elements=options.max_elements)
        if text is not None:
            return from_core(text)
    document = xml_text.parse_text_xml(body, encoding, max_depth=options.max_depth, max_elements=options.max_elements)
    return {document.root.name: soap.element_to_json(document.root)}


def is_xml(content_type: str, body: bytes) -> bool:
    return "xml" in content_type or body.lstrip()[:1] == b"<"


def result_fields(response: Any) -> tuple[bool | None, str | None]:
    """iikoRMS's ``<result><success/><errorString/>`` verdict, when the reply has that shape. A reply given
    as JSON text is parsed only if ``"result":{`` occurs in it, as it must for that shape: ``to_json``
    escapes none of those characters."""
    if type(response) is JsonText:
        if b'"result":{' not in response.data:
            return None, None
        response = response.value
    result = response.get("result") if isinstance(response, dict) else None
    if not isinstance(result, dict):
        return None, None
    success = result.get("success")
    error = result.get("errorString")
    verdict = success.strip().lower() == "true" if isinstance(success, str) else None
    return verdict, error if isinstance(error, str) else None


def body_json(body: Body, headers: dict[str, str], options: DecoderOptions) -> tuple[Any, int | None]:
    """(JSON of a complete XML body or None, its decoded size or None); ``DecodeError`` if it cannot be read."""
    if not body.complete or not body.size:
        return None, None
    if body.size > len(body.wire):
        raise DecodeError(
            "http_body_too_large", f"{body.size} bytes, kept none (limit body_size {options.max_http_body})"
        )
    plain = decode_content(bytes(body.wire), headers.get("content-encoding"), options)
    content_type = headers.get("content-type", "")
    return (xml_to_json(plain, content_type, options) if is_xml(content_type, plain) else None), len(plain)


def split_uri(uri: str) -> tuple[str, str | None, str]:
    """(what precedes the query, the query or None if there is no ``?``, ``#fragment`` or ""), as RFC 3986
    reads them: the fragment first, then the query. Not ``urlsplit``: it refuses an unbalanced ``[`` in a
    host, which h11 lets through in a request target and a Remoting peer may write in a request URI."""
    before_fragment, hash_mark, fragment = uri.partition("#")
    base, question, query = before_fragment.partition("?")
    return base, (query if question else None), hash_mark + fragment


def resto_call(target: str) -> tuple[str | None, str | None]:
    """(service, methodName) of ``/resto/services/<service>?methodName=<m>``, each None if absent."""
    path, query, _ = split_uri(target)
    query = query or ""
    service = RESTO_SERVICE.search(path)
    method_name = parse_qs(query).get("methodName")
    return (service.group(1) if service else None), (method_name[0] if method_name else None)
