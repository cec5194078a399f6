"""SOAP 1.1/1.2 envelopes over the ``decoders.nbfx`` element tree, and the tree as JSON.

* ``message_from_document``: envelope version by namespace (SOAP 1.1
  ``http://schemas.xmlsoap.org/soap/envelope/``, SOAP 1.2 ``http://www.w3.org/2003/05/soap-envelope``),
  the WS-Addressing headers (2005/08 and the 2004/08 draft WCF still accepts), the Body as JSON and
  SOAP Faults (1.1 faultcode/faultstring/detail, 1.2 Code/Subcode/Reason/Detail).
* ``element_to_json``: DataContractSerializer conventions, reusable for any element (the iiko order
  layer runs it over NBFX bodies and over the server link's plain XML).

Text-encoded XML becomes the same ``Document`` tree in ``decoders.xml_text``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from .anomalies import DecodeError
from .nbfx import Document, Element, Text

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
_SOAP_VERSION = {SOAP11_NS: "1.1", SOAP12_NS: "1.2"}
WSA_NAMESPACES = frozenset({"http://www.w3.org/2005/08/addressing", "http://schemas.xmlsoap.org/ws/2004/08/addressing"})
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SERIALIZATION_NS = "http://schemas.microsoft.com/2003/10/Serialization/"
ARRAYS_NS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
XML_NS = "http://www.w3.org/XML/1998/namespace"

MAX_REF_EXPANSION = 100_000  # elements copied in by z:Ref resolution per conversion (blocks "billion laughs")

_ROOT_SCOPE: Mapping[str, str] = {"xml": XML_NS}


class SoapFault(NamedTuple):
    code: str | None  # 1.1 faultcode / 1.2 Code/Value, as written (a QName such as "s:Sender")
    subcode: str | None  # 1.2 Code/Subcode/Value
    reason: str | None  # 1.1 faultstring / 1.2 the first Reason/Text
    detail: Any  # 1.1 detail / 1.2 Detail, as element_to_json; None if absent


class SoapMessage(NamedTuple):
    """What the events take of an envelope. A named tuple, immutable as a frozen dataclass and made in a
    third of its time: one per message."""

    version: str  # "1.1" | "1.2" (by envelope namespace)
    action: str | None  # WS-Addressing Action header (SOAP 1.1 may carry it only in HTTP)
    message_id: str | None
    relates_to: str | None
    to: str | None
    reply_to: str | None  # ReplyTo/Address
    body: Any  # element_to_json(Body): {"SaveOrder": {...}}
    body_element: str | None  # local name of the first element in Body
    fault: SoapFault | None


# --- namespaces -------------------------------------------------------------------------------------


def declare(element: Element, scope: Mapping[str, str]) -> Mapping[str, str]:
    """The prefix -> namespace scope inside ``element`` ("" is the default namespace)."""
    inner: dict[str, str] | None = None
    for prefix, name, value in element.attributes:
        if prefix == "xmlns" or (not prefix and name == "xmlns"):
            if inner is None:
                inner = dict(scope)
            inner[name if prefix else ""] = value
    return scope if inner is None else inner


def namespace_of(element: Element, scope: Mapping[str, str]) -> str | None:
    """Namespace of ``element`` given the scope *inside* it (see ``declare``)."""
    return scope.get(element.prefix)


# --- element tree -> JSON ---------------------------------------------------------------------------


def element_to_json(
    element: Element, scope: Mapping[str, str] | None = None, *, collections: Collection[str] = ()
) -> Any:
    """Convert an element's content to JSON after DataContractSerializer conventions.

    * Child elements become keys (local names) in document order; a repeated name becomes a list.
      An element whose children are all one name (two or more of them), whose children are in the
      Serialization/Arrays namespace, or that carries z:Size, is a collection and becomes a list.
      A one-item collection of a custom type cannot be told from an object with one member by the
      XML alone; callers that know their contracts name such elements in ``collections`` (local
      names, always lists), otherwise it appears as {"Item": {...}}.
    * Text: typed NBFX values keep their JSON type (int, bool, float; non-finite floats as the strings
      "INF", "-INF", "NaN"); decimal, DateTime, TimeSpan, Guid, UniqueId, base64 bytes and QNames are
      strings as .NET renders them. Plain text stays a string; an empty element is "".
    * i:nil="true" -> null. i:type -> "@type" with the QName as written ("d4p1:Foo"). Other attributes
      -> "@name". If an element has attributes and simple content, its value is under "#text"; a
      collection with attributes puts its items under "#items".
    * z:Id -> "@id" (kept), z:Ref -> the referenced object, already converted, embedded in place;
      a reference to an object not yet complete (a cycle) or beyond MAX_REF_EXPANSION copied
      elements stays {"@ref": "i1"}. z:Size is dropped.
    ``scope`` is the namespace scope around ``element`` (defaults to none declared).
    """
    return _JsonBuilder(collections).convert(element, _ROOT_SCOPE if scope is None else scope)


def _simple_value(children: list) -> Any:
    if not children:
        return ""
    if len(children) == 1:
        child = children[0]
        return child if isinstance(child, str) else child.value if isinstance(child, Text) else ""
    return "".join(c if isinstance(c, str) else c.text for c in children if isinstance(c, str | Text))


class _JsonBuilder:
    __slots__ = ("budget", "collections", "converted", "ids")

    def __init__(self, collections: Collection[str]) -> None:
        self.collections = collections
        self.ids: dict[str, tuple[Any, int]] = {}  # z:Id -> (JSON, elements in it)
        self.converted = 0
        self.budget = MAX_REF_EXPANSION

    def convert(self, element: Element, outer: Mapping[str, str]) -> Any:
        children = element.children
        if not element.attributes and len(children) == 1 and type(children[0]) in _SIMPLE:
            self.converted += 1  # the common leaf, <Amount>1.50</Amount>: its one value
            child = children[0]
            return child if type(child) is str else child.value
        scope = declare(element, outer)
        first = self.converted
        self.converted += 1
        attributes: dict[str, Any] = {}
        object_id = reference = None
        collection = nil = False
        for prefix, name, value in element.attributes:
            if prefix == "xmlns" or (not prefix and name == "xmlns"):
                continue
            namespace = scope.get(prefix) if prefix else None
            if namespace == XSI_NS and name == "nil":
                nil = value.strip() in ("true", "1")
            elif namespace == XSI_NS and name == "type":
                attributes["@type"] = value
            elif namespace == SERIALIZATION_NS and name == "Id":
                object_id = value
                attributes["@id"] = value
            elif namespace == SERIALIZATION_NS and name == "Ref":
                reference = value
            elif namespace == SERIALIZATION_NS and name == "Size":
                collection = True
            else:
                attributes["@" + name] = value
        if reference is not None:  # DataContractSerializer writes z:Ref together with i:nil="true"
            return self._resolve(reference)
        if nil:
            return None
        elements = [c for c in element.children if isinstance(c, Element)]
        if not elements and element.name in self.collections and not element.text.strip():
            result = {**attributes, "#items": []} if attributes else []
        elif not elements:
            value = _simple_value(element.children)
            result: Any = {**attributes, "#text": value} if attributes else value
        else:
            names = {c.name for c in elements}
            collection = (
                collection
                or element.name in self.collections
                or (len(elements) > 1 and len(names) == 1)
                or all(declare(c, scope).get(c.prefix) == ARRAYS_NS for c in elements)
            )
            if collection:
                items = [self.convert(c, scope) for c in elements]
                result = {**attributes, "#items": items} if attributes else items
            else:
                result = attributes
                for child in elements:
                    value = self.convert(child, scope)
                    if child.name not in result:
                        result[child.name] = value
                    elif isinstance(previous := result[child.name], _Repeated):
                        previous.append(value)
                    else:
                        result[child.name] = _Repeated((previous, value))
                for key, value in result.items():
                    if isinstance(value, _Repeated):
                        result[key] = list(value)
                text = element.text
                if text.strip():
                    result["#text"] = text
        if object_id is not None:
            self.ids[object_id] = (result, self.converted - first)
        return result

    def _resolve(self, reference: str) -> Any:
        target = self.ids.get(reference)
        if target is None or target[1] > self.budget:
            return {"@ref": reference}
        self.budget -= target[1]
        return target[0]


_SIMPLE = (str, Text)


class _Repeated(list):
    """Values of a repeated child name while an object is being built (told apart from list values)."""


# --- SOAP -------------------------------------------------------------------------------------------


def _child_elements(element: Element, scope: Mapping[str, str]) -> list[tuple[Element, Mapping[str, str]]]:
    """Child elements, each with the namespace scope inside it."""
    return [(c, declare(c, scope)) for c in element.children if isinstance(c, Element)]


def _find(
    element: Element, scope: Mapping[str, str], name: str, namespaces: tuple[str | None, ...] | frozenset[str]
) -> tuple[Element, Mapping[str, str]] | None:
    """The first child element ``name`` in one of ``namespaces``, with its inner scope."""
    for child, inner in _child_elements(element, scope):
        if child.name == name and inner.get(child.prefix) in namespaces:
            return child, inner
    return None


def message_from_document(doc: Document, *, collections: Collection[str] = ()) -> SoapMessage:
    """The SOAP view of a decoded envelope. Raises DecodeError("soap_not_envelope").

    ``body`` is element_to_json of the Body (``collections`` as there), except that an empty
    operation element (a void reply such as <DeleteOrderResponse/>) is {} rather than "": the
    children of Body are operation wrappers holding parameters, i.e. objects."""
    root = doc.root
    scope = declare(root, _ROOT_SCOPE)
    envelope_ns = scope.get(root.prefix)
    version = _SOAP_VERSION.get(envelope_ns or "")
    if root.name != "Envelope" or version is None:
        raise DecodeError("soap_not_envelope", f"root element {root.qname!r} in namespace {envelope_ns!r}")
    soap_ns = (envelope_ns,)
    body_found = _find(root, scope, "Body", soap_ns)
    if body_found is None:
        raise DecodeError("soap_not_envelope", "Envelope has no Body")
    headers: dict[str, str | None] = {"Action": None, "MessageID": None, "RelatesTo": None, "To": None, "ReplyTo": None}
    header_found = _find(root, scope, "Header", soap_ns)
    if header_found is not None:
        for child, inner in _child_elements(*header_found):
            if child.name in headers and headers[child.name] is None and inner.get(child.prefix) in WSA_NAMESPACES:
                if child.name == "ReplyTo":
                    address = _find(child, inner, "Address", WSA_NAMESPACES)
                    headers["ReplyTo"] = address[0].text.strip() if address else None
                else:
                    headers[child.name] = child.text.strip()
    body, body_scope = body_found
    body_children = _child_elements(body, body_scope)
    first = body_children[0] if body_children else None
    fault = None
    if first is not None and first[0].name == "Fault" and first[1].get(first[0].prefix) == envelope_ns:
        fault = _fault(first[0], first[1], envelope_ns, version)
    return SoapMessage(
        version=version,
        action=headers["Action"],
        message_id=headers["MessageID"],
        relates_to=headers["RelatesTo"],
        to=headers["To"],
        reply_to=headers["ReplyTo"],
        body=_body_json(body, body_scope, collections),
        body_element=first[0].name if first else None,
        fault=fault,
    )


def _body_json(body: Element, scope: Mapping[str, str], collections: Collection[str]) -> Any:
    converted = element_to_json(body, scope, collections=collections)
    if isinstance(converted, dict):
        for child in body.children:
            if isinstance(child, Element) and not child.children and converted.get(child.name) == "":
                converted[child.name] = {}
    return converted


def _fault(fault: Element, scope: Mapping[str, str], soap_ns: str, version: str) -> SoapFault:
    def text_of(path: tuple[str, ...], namespaces: tuple[str | None, ...]) -> str | None:
        element, inner = fault, scope
        for name in path:
            found = _find(element, inner, name, namespaces)
            if found is None:
                return None
            element, inner = found
        return element.text.strip()

    if version == "1.1":  # faultcode etc. are unqualified
        no_namespace = (None, "")
        detail = _find(fault, scope, "detail", no_namespace)
        return SoapFault(
            code=text_of(("faultcode",), no_namespace),
            subcode=None,
            reason=text_of(("faultstring",), no_namespace),
            detail=element_to_json(*detail) if detail else None,
        )
    in_soap = (soap_ns,)
    detail = _find(fault, scope, "Detail", in_soap)
    return SoapFault(
        code=text_of(("Code", "Value"), in_soap),
        subcode=text_of(("Code", "Subcode", "Value"), in_soap),
        reason=text_of(("Reason", "Text"), in_soap),
        detail=element_to_json(*detail) if detail else None,
    )
