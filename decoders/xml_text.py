"""Text-encoded XML (UTF-8, UTF-16 with BOM, or the transport's encoding) parsed by defusedxml (no DTDs, no
entities) into the ``decoders.nbfx`` ``Document`` tree that the binary decoders build, so that one SOAP view
(``decoders.soap``) serves both encodings and the iikoRMS link's plain XML.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from .anomalies import DecodeError
from .nbfx import MAX_DEPTH, MAX_ELEMENTS, Comment, Document, Element
from .soap import XML_NS

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class _TreeBuilder:
    """ElementTree parser target that builds ``nbfx.Element`` trees, keeping prefixes.

    ElementTree reports names as {namespace}local; the prefix is recovered from the namespace
    declarations (start_ns) in scope: the innermost prefix bound to that namespace.
    """

    def __init__(self, max_depth: int, max_elements: int) -> None:
        self.max_depth = max_depth
        self.elements_left = max_elements
        self.nodes: list = []
        self.stack: list[Element] = []
        self.scopes: list[list[tuple[str, str]]] = [[("xml", XML_NS)]]  # declarations, innermost last
        self.pending: list[tuple[str, str]] = []
        self.text: list[str] = []

    def _flush_text(self) -> None:
        if self.text:
            if self.stack:
                self.stack[-1].children.append("".join(self.text))
            self.text = []

    def _prefix(self, namespace: str, attribute: bool) -> str:
        for declarations in reversed(self.scopes):
            for prefix, uri in reversed(declarations):
                if uri == namespace and (prefix or not attribute):
                    return prefix
        return ""

    def _split(self, tag: str, attribute: bool) -> tuple[str, str]:
        if tag[:1] != "{":
            return "", tag
        namespace, _, local = tag[1:].partition("}")
        return self._prefix(namespace, attribute), local

    def start_ns(self, prefix: str, uri: str) -> None:
        self.pending.append((prefix or "", uri))

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._flush_text()
        if len(self.stack) >= self.max_depth:
            raise DecodeError("soap_too_deep", f"more than {self.max_depth} nested elements (limit nesting_depth)")
        self.elements_left -= 1
        if self.elements_left < 0:
            raise DecodeError("soap_too_many_elements", "more elements than the elements limit")
        declarations, self.pending = self.pending, []
        self.scopes.append(declarations)
        attributes: list[tuple[str, str, str]] = [
            ("xmlns", prefix, uri) if prefix else ("", "xmlns", uri) for prefix, uri in declarations
        ]
        for key, value in attrib.items():
            prefix, local = self._split(key, attribute=True)
            attributes.append((prefix, local, value))
        prefix, local = self._split(tag, attribute=False)
        element = Element(prefix, local, tuple(attributes), [])
        (self.stack[-1].children if self.stack else self.nodes).append(element)
        self.stack.append(element)

    def end(self, tag: str) -> None:
        self._flush_text()
        self.stack.pop()
        self.scopes.pop()

    def data(self, text: str) -> None:
        if self.stack:
            self.text.append(text)

    def comment(self, text: str) -> None:
        self._flush_text()
        (self.stack[-1].children if self.stack else self.nodes).append(Comment(text))

    def close(self) -> Document:
        roots = [n for n in self.nodes if isinstance(n, Element)]
        if not roots:
            raise DecodeError("soap_bad_xml", "no root element")
        return Document(roots[0], 0, self.nodes)


def parse_text_xml(
    payload: bytes, encoding: str | None = None, *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS
) -> Document:
    """Parse text XML (SOAP text encodings: UTF-8, UTF-16 with BOM, "Unicode FFFE") into a Document.

    ``encoding`` (e.g. "utf-16-le" from the transport) is used when the payload has no BOM; its XML
    declaration is then dropped, as the transport's encoding wins. DTDs and entity declarations are
    refused (defusedxml). Raises DecodeError: soap_bad_xml, soap_forbidden_xml, soap_too_deep,
    soap_too_many_elements.
    """
    data: bytes = payload
    if encoding and not payload.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            text = payload.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DecodeError("soap_bad_xml", f"not {encoding}: {exc}") from None
        data = _DECLARATION.sub("", text, count=1).encode("utf-8")
    builder = _TreeBuilder(max_depth, max_elements)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    try:
        parser.feed(data)
        return parser.close()
    except ElementTree.ParseError as exc:
        raise DecodeError("soap_bad_xml", str(exc)) from None
    except DefusedXmlException as exc:
        raise DecodeError("soap_forbidden_xml", str(exc)) from None
    except (LookupError, ValueError) as exc:  # pyexpat on a declared encoding it cannot use (found by fuzzing)
        raise DecodeError("soap_bad_xml", f"unusable declared encoding: {exc}") from None
