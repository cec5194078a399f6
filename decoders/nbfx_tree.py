"""[MC-NBFX] documents as a tree, and the tree as XML text the way WCF writes it.

The nodes the decoder (``decoders.nbfx``) builds: ``Element``, ``Text`` (a typed value), ``Comment``
and plain ``str`` text; ``Document.to_xml`` / ``Element.to_xml`` render them as .NET's
``XmlUTF8NodeWriter`` over ``XmlBaseWriter`` does (``--xml``). The tree is also what ``decoders.soap``
reads the SOAP fields and the DataContract body from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import itemgetter

_new_tuple = tuple.__new__


class Text(tuple):
    """A typed text value: ``text`` as .NET renders it, ``type`` and a JSON-able ``value``.

    Plain strings (Chars*, UnicodeChars*, Dictionary, Empty text) are stored as ``str`` children
    instead, the common case kept cheap. ``type`` is one of: int, bool, float, decimal, datetime,
    timespan, guid, uniqueid, bytes, qname, list. ``value`` is an int/bool for int/bool, a float for
    finite float values, a list of item values for list, and the rendered text otherwise (decimal stays
    a string so no precision is lost; datetime keeps its kind in the suffix: ``Z`` UTC, ``+00:00``
    local — see ``format_datetime`` — none for unspecified).
    """

    # A tuple subclass: built by tuple.__new__ (C) in the record loop, no Python __init__ per value.
    __slots__ = ()

    def __new__(cls, text: str, type_: str, value: object) -> Text:
        return _new_tuple(cls, (text, type_, value))

    text: str = property(itemgetter(0))  # type: ignore[assignment]
    type: str = property(itemgetter(1))  # type: ignore[assignment]
    value: object = property(itemgetter(2))

    def __repr__(self) -> str:
        return f"Text({self.text!r}, {self.type!r})"


class Comment:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Comment({self.text!r})"


Attribute = tuple[str, str, str]
"""(prefix, local name, value text). A namespace declaration is ("xmlns", p, uri) or ("", "xmlns", uri),
exactly as its qualified name reads, so attributes and declarations keep their wire order together."""


class Element(tuple):
    """An element: prefix, local name, attributes (in wire order) and children (Element, Text,
    Comment or str). A tuple subclass for the same reason as Text; ``children`` is a mutable list."""

    __slots__ = ()

    def __new__(
        cls, prefix: str, name: str, attributes: tuple[Attribute, ...] = (), children: list | None = None
    ) -> Element:
        return _new_tuple(cls, (prefix, name, attributes, [] if children is None else children))

    prefix: str = property(itemgetter(0))  # type: ignore[assignment]
    name: str = property(itemgetter(1))  # type: ignore[assignment]
    attributes: tuple[Attribute, ...] = property(itemgetter(2))  # type: ignore[assignment]
    children: list = property(itemgetter(3))  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Element({self.qname!r}, {len(self.attributes)} attrs, {len(self.children)} children)"

    @property
    def qname(self) -> str:
        return f"{self.prefix}:{self.name}" if self.prefix else self.name

    @property
    def text(self) -> str:
        """Concatenated text of the direct text children (as rendered)."""
        return "".join(c if isinstance(c, str) else c.text for c in self.children if isinstance(c, str | Text))

    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]

    def to_xml(self) -> str:
        out: list[str] = []
        _render(self, out)
        return "".join(out)


@dataclass(slots=True)
class Document:
    root: Element
    unresolved: int = 0  # session-string references that could not be resolved (rendered session:N)
    nodes: list = field(default_factory=list)  # top level in order: comments and the root

    def to_xml(self) -> str:
        """The XML text as WCF's XmlDictionaryWriter (text) writes it; no declaration."""
        out: list[str] = []
        for node in self.nodes or [self.root]:
            if isinstance(node, Element):
                _render(node, out)
            else:
                out.append(f"<!--{node.text}-->")
        return "".join(out)


# --- XML rendering (XmlUTF8NodeWriter) --------------------------------------------------------------
# XmlUTF8NodeWriter (dotnet/runtime, System.Private.DataContractSerialization) escapes, in element
# text: U+0000-U+001F except TAB and LF, '&', '<', '>'; in attribute values: all of U+0000-U+001F,
# '"', '&', '<', '>'; in both U+FFFE and U+FFFF. '<' '>' '&' '"' become &lt; &gt; &amp; &quot;, the
# rest &#xHEX; with upper-case hex. An element with no content is written "<a/>", and an empty string
# writes no content (XmlBaseWriter.WriteString skips empty values).

_TEXT_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f&<>\ufffe\uffff]")
_ATTR_SPECIAL = re.compile('[\x00-\x1f"&<>\ufffe\uffff]')
_NAMED_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


def _entity(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_ENTITIES.get(char) or f"&#x{ord(char):X};"


def escape_text(s: str) -> str:
    return _TEXT_SPECIAL.sub(_entity, s) if _TEXT_SPECIAL.search(s) else s


def escape_attribute(s: str) -> str:
    return _ATTR_SPECIAL.sub(_entity, s) if _ATTR_SPECIAL.search(s) else s


def _render(element: Element, out: list[str]) -> None:
    prefix, name, attributes, children = element
    qname = f"{prefix}:{name}" if prefix else name
    start = "<" + qname
    if attributes:
        start += "".join(
            f' {a_prefix + ":" if a_prefix else ""}{a_name}="{escape_attribute(value)}"'
            for a_prefix, a_name, value in attributes
        )
    if len(children) == 1 and type(children[0]) is not Element:  # the common leaf: one text child
        child = children[0]
        if type(child) is Comment:
            out.append(f"{start}><!--{child.text}--></{qname}>")
            return
        text = child if type(child) is str else child[0]  # Text.text
        if text:
            out.append(f"{start}>{escape_text(text)}</{qname}>")
        else:
            out.append(start + "/>")
        return
    opened = False
    for child in children:
        kind = type(child)
        if kind is Element or kind is Comment:
            if not opened:
                out.append(start + ">")
                opened = True
            if kind is Element:
                _render(child, out)
            else:
                out.append(f"<!--{child.text}-->")
            continue
        text = child if kind is str else child[0]
        if text:
            if not opened:
                out.append(start + ">")
                opened = True
            out.append(escape_text(text))
    out.append(f"</{qname}>" if opened else start + "/>")
