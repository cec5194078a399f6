//! [MC-NBFX] structure records other than the loop: element names (2.2.3.1-8), attributes and
//! namespace declarations (2.2.3.9-30), and the Array record (2.2.3.31), with the limits of
//! decoders/nbfx.py (attributes per element, array items, the elements budget).
#![forbid(unsafe_code)]

use crate::error::{at, Result};
use crate::nbfx::{is_text_reader, letter, Decoder, MAX_ARRAY_ITEMS, MAX_ATTRIBUTES};
use crate::structure::index32;
use crate::tree::{Attribute, Document, Elem, Item, Str};
use std::borrow::Cow;

/// Fixed item sizes of the record types an Array may hold.
fn array_item_size(record: u8) -> Option<usize> {
    Some(match record {
        0xB5 => 1,
        0x8B => 2,
        0x8D | 0x91 => 4,
        0x8F | 0x93 | 0x97 | 0xAF => 8,
        0x95 | 0xB1 => 16,
        _ => return None,
    })
}

impl<'a> Decoder<'a> {
    /// (prefix, local name, position) of an element record 0x40-0x77.
    pub(crate) fn element_name(
        &mut self,
        record: u8,
        pos: usize,
    ) -> Result<(&'a str, Str<'a>, usize)> {
        if record >= 0x5E {
            let (name, pos) = self.string(pos)?;
            return Ok((letter(record - 0x5E), name, pos));
        }
        if record >= 0x44 {
            let (name, pos) = self.dictionary_string(pos)?;
            return Ok((letter(record - 0x44), name, pos));
        }
        match record {
            0x40 => self.string(pos).map(|(n, p)| ("", n, p)),
            0x42 => self.dictionary_string(pos).map(|(n, p)| ("", n, p)),
            _ => {
                let (prefix, pos) = self.payload_str(pos)?;
                let (name, pos) = if record == 0x41 {
                    self.string(pos)?
                } else {
                    self.dictionary_string(pos)?
                };
                Ok((prefix, name, pos))
            }
        }
    }

    /// The attribute records following an element record, appended to `attributes`: (range, position).
    pub(crate) fn attributes(
        &mut self,
        mut pos: usize,
        attributes: &mut Vec<Attribute<'a>>,
    ) -> Result<((u32, u32), usize)> {
        let first = attributes.len();
        while pos < self.end {
            let Some(record) = self.byte_at(pos).filter(|r| (0x04..=0x3F).contains(r)) else {
                break;
            };
            if attributes.len() - first >= MAX_ATTRIBUTES {
                return at(
                    "nbfx_too_many_attributes",
                    format!("more than {MAX_ATTRIBUTES}"),
                    pos,
                );
            }
            pos += 1;
            let (prefix, name);
            if record >= 0x26 {
                prefix = Cow::Borrowed(letter(record - 0x26));
                (name, pos) = self.string(pos)?;
            } else if record >= 0x0C {
                prefix = Cow::Borrowed(letter(record - 0x0C));
                (name, pos) = self.dictionary_string(pos)?;
            } else if record == 0x04 {
                prefix = Cow::Borrowed("");
                (name, pos) = self.string(pos)?;
            } else if record == 0x05 {
                (prefix, pos) = self.string(pos)?;
                (name, pos) = self.string(pos)?;
            } else if record == 0x06 {
                prefix = Cow::Borrowed("");
                (name, pos) = self.dictionary_string(pos)?;
            } else if record == 0x07 {
                (prefix, pos) = self.string(pos)?;
                (name, pos) = self.dictionary_string(pos)?;
            } else {
                // 0x08-0x0B, namespace declarations: no text record follows
                let uri;
                if record & 1 == 1 {
                    let declared;
                    (declared, pos) = self.string(pos)?;
                    (uri, pos) = if record == 0x09 {
                        self.string(pos)?
                    } else {
                        self.dictionary_string(pos)?
                    };
                    attributes.push(Attribute {
                        prefix: Cow::Borrowed("xmlns"),
                        name: declared,
                        value: uri,
                    });
                } else {
                    (uri, pos) = if record == 0x08 {
                        self.string(pos)?
                    } else {
                        self.dictionary_string(pos)?
                    };
                    attributes.push(Attribute {
                        prefix: Cow::Borrowed(""),
                        name: Cow::Borrowed("xmlns"),
                        value: uri,
                    });
                }
                continue;
            }
            let value;
            (value, pos) = self.attribute_value(pos)?;
            attributes.push(Attribute {
                prefix,
                name,
                value,
            });
        }
        Ok(((index32(first), index32(attributes.len())), pos))
    }

    /// An attribute's value: one text record without the end-element bit.
    fn attribute_value(&mut self, pos: usize) -> Result<(Str<'a>, usize)> {
        let Some(record) = self.byte_at(pos).filter(|_| pos < self.end) else {
            return at(
                "nbfx_truncated",
                "document ends before an attribute value",
                pos,
            );
        };
        let unknown = || {
            at(
                "nbfx_unknown_record",
                format!("record 0x{record:02x} as attribute value"),
                pos,
            )
        };
        if !is_text_reader(record) {
            return unknown();
        }
        match self.text(record, pos + 1) {
            Some(r) => r.map(|(leaf, end)| (leaf.text(), end)),
            None => unknown(),
        }
    }

    /// Array record: one element with its attributes, EndElement, item type, MB31 count, items;
    /// each item becomes a copy of the element holding that value. Returns (position, items).
    pub(crate) fn array(
        &mut self,
        doc: &mut Document<'a>,
        pos: usize,
        budget: usize,
    ) -> Result<(usize, usize)> {
        let Some(record) = self.byte_at(pos).filter(|_| pos < self.end) else {
            return at("nbfx_truncated", "document ends inside an array", pos);
        };
        if !(0x40..=0x77).contains(&record) {
            return at(
                "nbfx_unknown_record",
                format!("array of record 0x{record:02x}, not an element"),
                pos,
            );
        }
        let (prefix, name, pos) = self.element_name(record, pos + 1)?;
        let (attrs, pos) = self.attributes(pos, &mut doc.attributes)?;
        self.need(pos, 2)?;
        if self.byte_at(pos) != Some(0x01) {
            return at(
                "nbfx_unknown_record",
                "array element not closed by EndElement",
                pos,
            );
        }
        let item_type = self.byte_at(pos + 1).unwrap_or(0);
        let Some(size) = array_item_size(item_type) else {
            return at(
                "nbfx_unknown_record",
                format!("array item type 0x{item_type:02x}"),
                pos + 1,
            );
        };
        let (count, mut pos) = self.mb31(pos + 2)?;
        if count == 0 {
            return at("nbfx_bad_value", "array of zero items", pos);
        }
        if count > MAX_ARRAY_ITEMS as usize {
            return at(
                "nbfx_array_too_long",
                format!("{count} items, limit {MAX_ARRAY_ITEMS}"),
                pos,
            );
        }
        if count > budget {
            return at(
                "nbfx_too_many_elements",
                format!("an array of {count} items passes the elements limit"),
                pos,
            );
        }
        self.need(pos, count * size)?;
        doc.items.reserve(2 * count);
        for _ in 0..count {
            let leaf;
            (leaf, pos) = match self.text(item_type & 0xFE, pos) {
                Some(r) => r?,
                None => {
                    return at(
                        "nbfx_unknown_record",
                        format!("array item type 0x{item_type:02x}"),
                        pos,
                    )
                }
            };
            let end = index32(doc.items.len() + 2);
            doc.items.push(Item::Element(Elem {
                prefix,
                name: name.clone(),
                attrs,
                end,
            }));
            doc.items.push(Item::Leaf(leaf));
        }
        Ok((pos, count))
    }
}

#[cfg(test)]
mod tests {
    use crate::structure::{decode, Limits};
    use crate::xml::document_xml;

    fn xml(data: &[u8]) -> String {
        decode(data, 0, &[], Limits::default()).map_or_else(
            |e| format!("{}: {}", e.name, e.detail),
            |d| document_xml(&d),
        )
    }

    #[test]
    fn attribute_forms_and_declarations() {
        // PrefixAttributeB "x"=1, DictionaryXmlnsAttribute p -> static id 4, ShortAttribute with a list value
        let doc = b"\x40\x01a\x27\x01x\x82\x0b\x01p\x04\x04\x01l\xa4\x82\x98\x01y\xa6\x01";
        assert_eq!(
            xml(doc),
            "<a b:x=\"1\" xmlns:p=\"http://www.w3.org/2003/05/soap-envelope\" l=\"1 y\"/>"
        );
        assert_eq!(
            xml(b"\x40\x01a\x04\x01l\x83\x01"),
            "nbfx_unknown_record: record 0x83 as attribute value"
        );
    }

    #[test]
    fn arrays() {
        assert_eq!(
            xml(b"\x40\x01a\x03\x40\x01n\x01\xb5\x02\x01\x00\x01"),
            "<a><n>true</n><n>false</n></a>"
        );
        assert_eq!(
            xml(b"\x40\x01a\x03\x40\x01n\x01\xb5\x00\x01"),
            "nbfx_bad_value: array of zero items"
        );
        assert_eq!(
            xml(b"\x40\x01a\x03\x40\x01n\x01\x99\x01"),
            "nbfx_unknown_record: array item type 0x99"
        );
        assert_eq!(
            xml(b"\x40\x01a\x03\x40\x01n\x01\xb5\x02\x01\x02\x01"),
            "nbfx_bad_value: BoolText byte 0x02 is neither 0 nor 1"
        );
    }
}
