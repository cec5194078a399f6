"""[MC-NBFX] 2.2.3 record types, by the spec's names (the first byte of every record).

Element records are 0x40–0x77, attribute records 0x04–0x3F (the A–Z runs are named by their first and
last member); a text record's type is even, and the odd type after it is the same record
*WithEndElement* (2.2.3.9 ff.), which closes the element after the text.
"""

from enum import IntEnum


class Record(IntEnum):
    """2.2.3 record types; text records by their even type."""

    END_ELEMENT = 0x01  # 2.2.3.1
    COMMENT = 0x02  # 2.2.3.2
    ARRAY = 0x03  # 2.2.3.31
    SHORT_ATTRIBUTE = 0x04  # 2.2.3.3
    ATTRIBUTE = 0x05
    SHORT_DICTIONARY_ATTRIBUTE = 0x06
    DICTIONARY_ATTRIBUTE = 0x07
    SHORT_XMLNS_ATTRIBUTE = 0x08
    XMLNS_ATTRIBUTE = 0x09
    SHORT_DICTIONARY_XMLNS_ATTRIBUTE = 0x0A
    DICTIONARY_XMLNS_ATTRIBUTE = 0x0B
    PREFIX_DICTIONARY_ATTRIBUTE_A = 0x0C  # … _Z 0x25
    PREFIX_ATTRIBUTE_A = 0x26  # … _Z 0x3F
    PREFIX_ATTRIBUTE_Z = 0x3F
    SHORT_ELEMENT = 0x40  # 2.2.3.4
    ELEMENT = 0x41
    SHORT_DICTIONARY_ELEMENT = 0x42
    DICTIONARY_ELEMENT = 0x43
    PREFIX_DICTIONARY_ELEMENT_A = 0x44  # … _Z 0x5D
    PREFIX_DICTIONARY_ELEMENT_Z = 0x5D
    PREFIX_ELEMENT_A = 0x5E  # … _Z 0x77
    PREFIX_ELEMENT_Z = 0x77
    ZERO_TEXT = 0x80  # 2.2.3.9 ff.
    ONE_TEXT = 0x82
    FALSE_TEXT = 0x84
    TRUE_TEXT = 0x86
    INT8_TEXT = 0x88
    INT16_TEXT = 0x8A
    INT32_TEXT = 0x8C
    INT64_TEXT = 0x8E
    FLOAT_TEXT = 0x90
    DOUBLE_TEXT = 0x92
    DECIMAL_TEXT = 0x94
    DATETIME_TEXT = 0x96
    CHARS8_TEXT = 0x98
    CHARS16_TEXT = 0x9A
    CHARS32_TEXT = 0x9C
    BYTES8_TEXT = 0x9E
    BYTES16_TEXT = 0xA0
    BYTES32_TEXT = 0xA2
    START_LIST_TEXT = 0xA4
    END_LIST_TEXT = 0xA6
    EMPTY_TEXT = 0xA8
    DICTIONARY_TEXT = 0xAA
    UNIQUE_ID_TEXT = 0xAC
    TIMESPAN_TEXT = 0xAE
    UUID_TEXT = 0xB0
    UINT64_TEXT = 0xB2
    BOOL_TEXT = 0xB4
    UNICODE_CHARS8_TEXT = 0xB6
    UNICODE_CHARS16_TEXT = 0xB8
    UNICODE_CHARS32_TEXT = 0xBA
    QNAME_DICTIONARY_TEXT = 0xBC


WITH_END_ELEMENT = 0x01  # added to a text record's type: the *WithEndElement variant
