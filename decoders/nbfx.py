"""[MC-NBFX] .NET Binary Format: XML Data Structure, with [MC-NBFS] and [MC-NBFSE] dictionaries.

One call decodes one document (the payload of one NMF envelope) into a small element tree that keeps
each text value's type, and ``Document.to_xml`` renders it as WCF's own text writer would
(``XmlUTF8NodeWriter`` over ``XmlBaseWriter``). Specs and behaviour followed:

* [MC-NBFX] 2.1.2 (MB31), 2.2 (records: elements 0x40-0x77, attributes 0x04-0x3F, text 0x80-0xBD
  where an odd record type closes the element after the text, Array 0x03, Comment 0x02).
* [MC-NBFS]: the static dictionary, even wire ids (``STATIC_DICTIONARY[id // 2]``).
* [MC-NBFSE]: odd wire ids are session strings, defined by the string table that opens each
  ``application/soap+msbinsession1`` envelope; ``SessionStrings`` keeps them per connection and
  direction.
* Values as .NET's ``XmlConverter``/``XmlConvert`` print them, escaping as ``XmlUTF8NodeWriter``
  (see ``decoders.nbfx_values`` and ``decoders.nbfx_tree`` for the rules and their sources).

Modules: ``nbfx_records`` (record types), ``nbfx_strings`` (the two dictionaries), ``nbfx_text`` (2.1
primitives and text records), ``nbfx_tree`` (the tree and its XML text); here: the structure records
(elements, attributes, arrays), the record loop and ``decode``.

The record loop is the hot path: hand-written ``unpack_from`` and byte indexing, no construct.
Anything wrong in the input raises ``DecodeError`` with an ``nbfx_*`` name (``decoders.anomalies``).
"""

from __future__ import annotations

from ._buffer import read_mb31
from .anomalies import DecodeError
from .nbfx_records import WITH_END_ELEMENT, Record
from .nbfx_strings import MAX_SESSION_BYTES, MAX_SESSION_STRINGS, STATIC_DICTIONARY, SessionStrings
from .nbfx_text import _CONSTANT_TEXT, _INT8, MAX_LIST_ITEMS, TextReader
from .nbfx_tree import Attribute, Comment, Document, Element, Text, _new_tuple, escape_attribute, escape_text

__all__ = [  # the tree, the dictionaries and the limits live in their own modules; one import place
    "MAX_ARRAY_ITEMS",
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_ELEMENTS",
    "MAX_LIST_ITEMS",
    "MAX_SESSION_BYTES",
    "MAX_SESSION_STRINGS",
    "STATIC_DICTIONARY",
    "Attribute",
    "Comment",
    "Document",
    "Element",
    "SessionStrings",
    "Text",
    "decode",
    "escape_attribute",
    "escape_text",
    "read_mb31",
]

# --- limits (fuzz hardening): every one is a DecodeError with its own anomaly name ------------------
MAX_DEPTH = 100  # open elements; .NET's default XmlDictionaryReaderQuotas.MaxDepth is only 32
MAX_ATTRIBUTES = 512  # attributes (incl. xmlns) on one element
MAX_DOCUMENT_BYTES = 64 << 20  # one envelope payload
MAX_ARRAY_ITEMS = 1 << 20  # items in one Array record
MAX_ELEMENTS = 1 << 20  # elements in one document, array items included (the elements limit)
# (list items: MAX_LIST_ITEMS in nbfx_text; session strings: MAX_SESSION_* in nbfx_strings)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
R = Record

_NO_ATTRIBUTES: tuple[Attribute, ...] = ()
# element records whose name is a dictionary string -> their prefix: ShortDictionaryElement (0x42) "",
# PrefixDictionaryElementA-Z (0x44-0x5D) "a"-"z"; None for the others.
_DICTIONARY_ELEMENT_PREFIX = tuple(
    "" if record == 0x42 else _LETTERS[record - 0x44] if 0x44 <= record <= 0x5D else None for record in range(256)
)
# element records whose name is inline: ShortElement (0x40) "", PrefixElementA-Z (0x5E-0x77) "a"-"z".
_INLINE_ELEMENT_PREFIX = tuple(
    "" if record == 0x40 else _LETTERS[record - 0x5E] if 0x5E <= record <= 0x77 else None for record in range(256)
)

# Array ([MC-NBFX] 2.2.3.31): allowed item record types and their fixed sizes.
_ARRAY_ITEM_SIZE = {
    record | WITH_END_ELEMENT: size
    for record, size in (
        (R.BOOL_TEXT, 1),
        (R.INT16_TEXT, 2),
        (R.INT32_TEXT, 4),
        (R.INT64_TEXT, 8),
        (R.FLOAT_TEXT, 4),
        (R.DOUBLE_TEXT, 8),
        (R.DECIMAL_TEXT, 16),
        (R.DATETIME_TEXT, 8),
        (R.TIMESPAN_TEXT, 8),
        (R.UUID_TEXT, 16),
    )
}


class _Decoder(TextReader):
    """State of one document decode: the structure records (elements, attributes, arrays) and the
    record loop, over the value readers of ``TextReader``."""

    __slots__ = ()

    # -- structure --

    def _element_name(self, record: int, pos: int) -> tuple[str, str, int]:
        """(prefix, local name, position) of an element record 0x40-0x77."""
        if record >= R.PREFIX_ELEMENT_A:
            name, pos = self._string(pos)
            return _LETTERS[record - R.PREFIX_ELEMENT_A], name, pos
        if record >= R.PREFIX_DICTIONARY_ELEMENT_A:
            name, pos = self._dictionary_string(pos)
            return _LETTERS[record - R.PREFIX_DICTIONARY_ELEMENT_A], name, pos
        if record == R.SHORT_ELEMENT:
            name, pos = self._string(pos)
            return "", name, pos
        if record == R.SHORT_DICTIONARY_ELEMENT:
            name, pos = self._dictionary_string(pos)
            return "", name, pos
        prefix, pos = self._string(pos)  # Element / DictionaryElement
        name, pos = self._string(pos) if record == R.ELEMENT else self._dictionary_string(pos)
        return prefix, name, pos

    def _attributes(self, pos: int) -> tuple[tuple[Attribute, ...], int]:
        """The attribute records (0x04-0x3F) following an element record."""
        attributes: list[Attribute] = []
        data = self.data
        end = self.end
        while pos < end:
            record = data[pos]
            if record < R.SHORT_ATTRIBUTE or record > R.PREFIX_ATTRIBUTE_Z:
                break
            if len(attributes) >= MAX_ATTRIBUTES:
                raise DecodeError("nbfx_too_many_attributes", f"more than {MAX_ATTRIBUTES}", pos)
            pos += 1
            if record >= R.PREFIX_ATTRIBUTE_A:
                prefix = _LETTERS[record - R.PREFIX_ATTRIBUTE_A]
                name, pos = self._string(pos)
            elif record >= R.PREFIX_DICTIONARY_ATTRIBUTE_A:
                prefix = _LETTERS[record - R.PREFIX_DICTIONARY_ATTRIBUTE_A]
                name, pos = self._dictionary_string(pos)
            elif record == R.SHORT_ATTRIBUTE:
                prefix = ""
                name, pos = self._string(pos)
            elif record == R.ATTRIBUTE:
                prefix, pos = self._string(pos)
                name, pos = self._string(pos)
            elif record == R.SHORT_DICTIONARY_ATTRIBUTE:
                prefix = ""
                name, pos = self._dictionary_string(pos)
            elif record == R.DICTIONARY_ATTRIBUTE:
                prefix, pos = self._string(pos)
                name, pos = self._dictionary_string(pos)
            else:  # the four xmlns records, namespace declarations: no text record follows
                if record & 1:  # XmlnsAttribute / DictionaryXmlnsAttribute
                    declared, pos = self._string(pos)
                    uri, pos = self._string(pos) if record == R.XMLNS_ATTRIBUTE else self._dictionary_string(pos)
                    attributes.append(("xmlns", declared, uri))
                else:  # ShortXmlnsAttribute / ShortDictionaryXmlnsAttribute
                    short = record == R.SHORT_XMLNS_ATTRIBUTE
                    uri, pos = self._string(pos) if short else self._dictionary_string(pos)
                    attributes.append(("", "xmlns", uri))
                continue
            value, pos = self._attribute_value(pos)
            attributes.append((prefix, name, value))
        return tuple(attributes), pos

    def _attribute_value(self, pos: int) -> tuple[str, int]:
        """An attribute's value: one text record without the end-element bit."""
        if pos >= self.end:
            raise DecodeError("nbfx_truncated", "document ends before an attribute value", pos)
        record = self.data[pos]
        reader = self.text_readers.get(record)
        if reader is None:
            raise DecodeError("nbfx_unknown_record", f"record 0x{record:02x} as attribute value", pos)
        node, pos = reader(pos + 1)
        return (node if isinstance(node, str) else node.text), pos

    def _array(self, children: list, pos: int, budget: int) -> tuple[int, int]:
        """Array record: one element record with its attributes, EndElement, item type, MB31 count,
        then the items; each item is rendered as a copy of the element holding that value.
        (position after it, items), refused before any is built if they are more than ``budget``."""
        if pos >= self.end:
            raise DecodeError("nbfx_truncated", "document ends inside an array", pos)
        record = self.data[pos]
        if not R.SHORT_ELEMENT <= record <= R.PREFIX_ELEMENT_Z:
            raise DecodeError("nbfx_unknown_record", f"array of record 0x{record:02x}, not an element", pos)
        prefix, name, pos = self._element_name(record, pos + 1)
        attributes, pos = self._attributes(pos)
        self._need(pos, 2)
        if self.data[pos] != R.END_ELEMENT:
            raise DecodeError("nbfx_unknown_record", "array element not closed by EndElement", pos)
        item_type = self.data[pos + 1]
        size = _ARRAY_ITEM_SIZE.get(item_type)
        if size is None:
            raise DecodeError("nbfx_unknown_record", f"array item type 0x{item_type:02x}", pos + 1)
        count, pos = self._mb31(pos + 2)
        if count == 0:  # XmlBinaryReader.ReadArray rejects it too
            raise DecodeError("nbfx_bad_value", "array of zero items", pos)
        if count > MAX_ARRAY_ITEMS:
            raise DecodeError("nbfx_array_too_long", f"{count} items, limit {MAX_ARRAY_ITEMS}", pos)
        if count > budget:
            raise DecodeError("nbfx_too_many_elements", f"an array of {count} items passes the elements limit", pos)
        self._need(pos, count * size)
        reader = self.text_readers[item_type & 0xFE]
        for _ in range(count):
            node, pos = reader(pos)
            children.append(_new_tuple(Element, (prefix, name, attributes, [node])))
        return pos, count

    def _small_ids(self) -> list[str | None]:
        """Names of the one-byte dictionary ids 0-127 (None: unknown, take the slow path to count it)."""
        small: list[str | None] = []
        for key in range(0x80):
            if key & 1:
                index = (key - self.base_id) >> 1
                small.append(self.session[index] if 0 <= index < len(self.session) else None)
            else:
                small.append(STATIC_DICTIONARY[key >> 1])
        return small

    def run(self, pos: int, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS) -> Document:
        """The record loop. Common records (dictionary elements, Chars8, small ints, booleans) are
        decoded inline; the rest through the methods above. ``stack`` holds the children lists of the
        open elements above the document level (``nodes``), except a leaf element (element record then
        a text *WithEndElement* record), which never enters it. Every byte read is bounds-checked first
        (a record cut short is nbfx_truncated); an IndexError here would be a bug, not bad input.
        This loop compares record types as literals, named in comments after ``Record``: an enum
        attribute costs six times a literal here, per record."""
        data = self.data
        end = self.end
        text_readers = self.text_readers
        small = self._small_ids()
        dictionary_prefix = _DICTIONARY_ELEMENT_PREFIX
        inline_prefix = _INLINE_ELEMENT_PREFIX
        int8 = _INT8
        constants = _CONSTANT_TEXT
        no_attributes = _NO_ATTRIBUTES
        new = _new_tuple
        max_stack = max_depth + 1
        budget = max_elements  # elements still allowed
        nodes: list = []
        stack: list[list] = [nodes]
        children = nodes  # of the innermost open element, or the document level
        leaf_parent: list | None = None  # set while reading the one text record of a leaf element
        root: Element | None = None
        while pos < end:
            record = data[pos]
            pos += 1
            if record >= 0x80:  # text
                if children is nodes:
                    raise DecodeError("nbfx_bad_structure", "text outside the root element", pos - 1)
                if record == 0x99 or record == 0x98:  # Chars8Text
                    if pos >= end:
                        raise DecodeError("nbfx_truncated", "document ends inside Chars8Text", pos)
                    start = pos + 1
                    pos = start + data[pos]
                    if pos > end:
                        raise DecodeError("nbfx_truncated", "Chars8Text runs past the end", start)
                    children.append(data[start:pos].decode("utf-8"))
                elif record < 0x88:  # Zero, One, False, True
                    children.append(constants[(record >> 1) & 3])
                elif record == 0x89 or record == 0x88:  # Int8Text
                    if pos >= end:
                        raise DecodeError("nbfx_truncated", "document ends inside Int8Text", pos)
                    children.append(int8[data[pos]])
                    pos += 1
                else:
                    reader = text_readers.get(record & 0xFE)
                    if reader is None or record == 0xA5:  # StartListText has no *WithEndElement
                        raise DecodeError("nbfx_unknown_record", f"record type 0x{record:02x}", pos - 1)
                    node, pos = reader(pos)
                    children.append(node)
                if record & 1:  # *WithEndElement
                    if leaf_parent is not None:
                        children = leaf_parent
                        leaf_parent = None
                    else:
                        stack.pop()
                        children = stack[-1]
            elif record >= 0x40:  # element
                budget -= 1
                if budget < 0:
                    raise DecodeError("nbfx_too_many_elements", f"more than {max_elements} (limit elements)", pos - 1)
                if pos >= end:
                    raise DecodeError("nbfx_truncated", "document ends inside an element record", pos)
                prefix = dictionary_prefix[record]
                key = data[pos]
                if prefix is not None and key < 0x80 and (name := small[key]) is not None:
                    pos += 1
                elif (prefix := inline_prefix[record]) is not None and key < 0x80:  # short inline name
                    start = pos + 1
                    pos = start + key
                    name = data[start:pos].decode("utf-8")  # cut short: caught just below
                else:
                    if record > 0x77:  # past PrefixElementZ
                        raise DecodeError("nbfx_unknown_record", f"record type 0x{record:02x}", pos - 1)
                    prefix, name, pos = self._element_name(record, pos)
                if pos >= end:  # an element must be followed by content or EndElement
                    raise DecodeError("nbfx_truncated", "document ends after an element name", min(pos, end))
                if 0x04 <= data[pos] <= 0x3F:  # ShortAttribute … PrefixAttributeZ
                    attributes, pos = self._attributes(pos)
                    if pos >= end:
                        raise DecodeError("nbfx_truncated", "document ends after an element's attributes", pos)
                else:
                    attributes = no_attributes
                if children is nodes:
                    if root is not None:
                        raise DecodeError("nbfx_bad_structure", "a second root element", pos)
                    root = new(Element, (prefix, name, attributes, []))
                    children.append(root)
                    children = root[3]
                else:
                    inner: list = []
                    children.append(new(Element, (prefix, name, attributes, inner)))
                    if data[pos] & 0x81 == 0x81 and len(stack) < max_stack:
                        # a leaf: the next record is text *WithEndElement*; skip the stack
                        leaf_parent = children
                        children = inner
                        continue
                    children = inner
                stack.append(children)
                if len(stack) > max_stack:
                    detail = f"more than {max_depth} nested elements (limit nesting_depth)"
                    raise DecodeError("nbfx_too_deep", detail, pos)
            elif record == 0x01:  # EndElement
                if children is nodes:
                    raise DecodeError("nbfx_bad_structure", "EndElement with no open element", pos - 1)
                stack.pop()
                children = stack[-1]
            elif record == 0x02:  # Comment
                comment, pos = self._string(pos)
                children.append(Comment(comment))
            elif record == 0x03:  # Array
                if children is nodes:
                    raise DecodeError("nbfx_bad_structure", "array outside the root element", pos - 1)
                pos, items = self._array(children, pos, budget)
                budget -= items
            else:
                raise DecodeError("nbfx_unknown_record", f"record type 0x{record:02x} here", pos - 1)
        if len(stack) > 1:
            raise DecodeError("nbfx_truncated", f"document ends with {len(stack) - 1} elements open", end)
        if root is None:
            raise DecodeError("nbfx_truncated", "no root element", end)
        return Document(root, self.unresolved, nodes)


def decode(
    payload: bytes | memoryview,
    pos: int = 0,
    session: SessionStrings | None = None,
    *,
    base_id: int = 1,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
) -> Document:
    """Decode one NBFX document from ``pos`` to the end of ``payload``.

    ``session`` resolves odd dictionary ids ([MC-NBFSE]); ``base_id`` is the wire id of its first
    string (1 in WCF). An id not known (no session, mid-session capture, missed table) is rendered
    as the placeholder ``session:<id>`` and counted in ``Document.unresolved``, never an error.
    ``max_depth`` and ``max_elements`` are the nesting_depth and elements limits.
    Raises DecodeError (nbfx_* or mb31_invalid).
    """
    data = payload if isinstance(payload, bytes) else bytes(payload)
    if len(data) - pos > MAX_DOCUMENT_BYTES:
        raise DecodeError("nbfx_too_large", f"{len(data) - pos} bytes, limit {MAX_DOCUMENT_BYTES}", pos)
    if not base_id & 1:
        raise ValueError("base_id must be odd: session strings have odd ids")
    decoder = _Decoder(data, session._known if session is not None else [], base_id)
    try:
        return decoder.run(pos, max_depth, max_elements)
    except UnicodeDecodeError as exc:
        raise DecodeError("nbfx_bad_text", f"invalid {exc.encoding} in a string: {exc.reason}") from None
