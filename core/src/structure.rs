//! [MC-NBFX] structure records: elements (0x40-0x77), attributes (0x04-0x3F), Array (0x03),
//! Comment (0x02), EndElement (0x01), and the record loop that builds one document, with the
//! limits of decoders/nbfx.py (nesting depth, elements, attributes, array items).
#![forbid(unsafe_code)]

use crate::error::{at, Result};
use crate::nbfx::{
    is_text_reader, letter, Decoder, MAX_ARRAY_ITEMS, MAX_ATTRIBUTES, MAX_DOCUMENT_BYTES,
};
use crate::text::utf8;
use crate::tree::{Attribute, Document, Elem, Item, Leaf, Str};
use std::borrow::Cow;

/// Limits of one decode (DecoderOptions' nesting_depth and elements).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: crate::nbfx::MAX_DEPTH,
            max_elements: crate::nbfx::MAX_ELEMENTS,
        }
    }
}

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

fn index32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Close the element opened at tape index `open`: its descendants end here.
fn close(items: &mut [Item<'_>], open: usize) {
    let end = index32(items.len());
    if let Some(Item::Element(e)) = items.get_mut(open) {
        e.end = end;
    }
}

/// Decode one document from `pos` to the end of `data`; odd dictionary ids resolve in `session`
/// (wire id 2*i+1 is `session[i]`), the others render `session:N` and are counted.
pub fn decode<'a>(
    data: &'a [u8],
    pos: usize,
    session: &'a [String],
    limits: Limits,
) -> Result<Document<'a>> {
    let size = data.len().saturating_sub(pos);
    if size > MAX_DOCUMENT_BYTES {
        return at(
            "nbfx_too_large",
            format!("{size} bytes, limit {MAX_DOCUMENT_BYTES}"),
            pos,
        );
    }
    let mut decoder = Decoder::new(data, session);
    let mut doc = Document {
        items: Vec::with_capacity(size / 6 + 8),
        attributes: Vec::with_capacity(size / 64 + 4),
        unresolved: 0,
    };
    decoder.run(pos, limits, &mut doc)?;
    doc.unresolved = decoder.unresolved;
    Ok(doc)
}

impl<'a> Decoder<'a> {
    /// (prefix, local name, position) of an element record 0x40-0x77.
    fn element_name(&mut self, record: u8, pos: usize) -> Result<(Str<'a>, Str<'a>, usize)> {
        if record >= 0x5E {
            let (name, pos) = self.string(pos)?;
            return Ok((letter(record - 0x5E), name, pos));
        }
        if record >= 0x44 {
            let (name, pos) = self.dictionary_string(pos)?;
            return Ok((letter(record - 0x44), name, pos));
        }
        match record {
            0x40 => self.string(pos).map(|(n, p)| (Cow::Borrowed(""), n, p)),
            0x42 => self
                .dictionary_string(pos)
                .map(|(n, p)| (Cow::Borrowed(""), n, p)),
            _ => {
                let (prefix, pos) = self.string(pos)?;
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
    fn attributes(
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
                prefix = letter(record - 0x26);
                (name, pos) = self.string(pos)?;
            } else if record >= 0x0C {
                prefix = letter(record - 0x0C);
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
    fn array(
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
                prefix: prefix.clone(),
                name: name.clone(),
                attrs,
                end,
            }));
            doc.items.push(Item::Leaf(leaf));
        }
        Ok((pos, count))
    }

    /// The record loop (decoders/nbfx.py `_Decoder.run`), appending to `doc`'s tape.
    pub fn run(&mut self, mut pos: usize, limits: Limits, doc: &mut Document<'a>) -> Result<()> {
        let end = self.end;
        let mut stack: Vec<usize> = Vec::with_capacity(32); // tape indices of the open elements
        let mut root_seen = false;
        let mut budget = limits.max_elements; // elements still allowed
        while pos < end {
            let record = self.byte_at(pos).unwrap_or(0);
            pos += 1;
            if record >= 0x80 {
                if stack.is_empty() {
                    return at(
                        "nbfx_bad_structure",
                        "text outside the root element",
                        pos - 1,
                    );
                }
                let leaf;
                if record == 0x98 || record == 0x99 {
                    let Some(n) = self.byte_at(pos).filter(|_| pos < end) else {
                        return at("nbfx_truncated", "document ends inside Chars8Text", pos);
                    };
                    let start = pos + 1;
                    pos = start + usize::from(n);
                    if pos > end {
                        return at("nbfx_truncated", "Chars8Text runs past the end", start);
                    }
                    let data: &'a [u8] = self.data;
                    leaf = Leaf::Plain(Cow::Borrowed(utf8(
                        data.get(start..pos).unwrap_or_default(),
                    )?));
                } else {
                    if (record == 0x88 || record == 0x89) && pos >= end {
                        return at("nbfx_truncated", "document ends inside Int8Text", pos);
                    }
                    let even = record & 0xFE;
                    let unknown = |pos: usize| {
                        at(
                            "nbfx_unknown_record",
                            format!("record type 0x{record:02x}"),
                            pos,
                        )
                    };
                    if !is_text_reader(even) || record == 0xA5 {
                        return unknown(pos - 1);
                    }
                    (leaf, pos) = match self.text(even, pos) {
                        Some(r) => r?,
                        None => return unknown(pos - 1),
                    };
                }
                doc.items.push(Item::Leaf(leaf));
                if record & 1 == 1 {
                    if let Some(open) = stack.pop() {
                        close(&mut doc.items, open);
                    }
                }
            } else if record >= 0x40 {
                if budget == 0 {
                    let detail = format!("more than {} (limit elements)", limits.max_elements);
                    return at("nbfx_too_many_elements", detail, pos - 1);
                }
                budget -= 1;
                let Some(key) = self.byte_at(pos).filter(|_| pos < end) else {
                    return at(
                        "nbfx_truncated",
                        "document ends inside an element record",
                        pos,
                    );
                };
                let (prefix, name);
                let inline = record == 0x40 || (0x5E..=0x77).contains(&record);
                if inline && key < 0x80 {
                    let start = pos + 1;
                    pos = start + usize::from(key);
                    let data: &'a [u8] = self.data;
                    name = Cow::Borrowed(utf8(data.get(start..pos.min(end)).unwrap_or_default())?);
                    prefix = if record == 0x40 {
                        Cow::Borrowed("")
                    } else {
                        letter(record - 0x5E)
                    };
                } else {
                    if record > 0x77 {
                        return at(
                            "nbfx_unknown_record",
                            format!("record type 0x{record:02x}"),
                            pos - 1,
                        );
                    }
                    (prefix, name, pos) = self.element_name(record, pos)?;
                }
                if pos >= end {
                    return at(
                        "nbfx_truncated",
                        "document ends after an element name",
                        pos.min(end),
                    );
                }
                let mut attrs = (0, 0);
                if self
                    .byte_at(pos)
                    .is_some_and(|b| (0x04..=0x3F).contains(&b))
                {
                    (attrs, pos) = self.attributes(pos, &mut doc.attributes)?;
                    if pos >= end {
                        return at(
                            "nbfx_truncated",
                            "document ends after an element's attributes",
                            pos,
                        );
                    }
                }
                if stack.is_empty() {
                    if root_seen {
                        return at("nbfx_bad_structure", "a second root element", pos);
                    }
                    root_seen = true;
                }
                stack.push(doc.items.len());
                doc.items.push(Item::Element(Elem {
                    prefix,
                    name,
                    attrs,
                    end: 0,
                }));
                if stack.len() > limits.max_depth {
                    let detail = format!(
                        "more than {} nested elements (limit nesting_depth)",
                        limits.max_depth
                    );
                    return at("nbfx_too_deep", detail, pos);
                }
            } else if record == 0x01 {
                let Some(open) = stack.pop() else {
                    return at(
                        "nbfx_bad_structure",
                        "EndElement with no open element",
                        pos - 1,
                    );
                };
                close(&mut doc.items, open);
            } else if record == 0x02 {
                let comment;
                (comment, pos) = self.string(pos)?;
                doc.items.push(Item::Comment(comment));
            } else if record == 0x03 {
                if stack.is_empty() {
                    return at(
                        "nbfx_bad_structure",
                        "array outside the root element",
                        pos - 1,
                    );
                }
                let items;
                (pos, items) = self.array(doc, pos, budget)?;
                budget -= items;
            } else {
                return at(
                    "nbfx_unknown_record",
                    format!("record type 0x{record:02x} here"),
                    pos - 1,
                );
            }
        }
        if !stack.is_empty() {
            return at(
                "nbfx_truncated",
                format!("document ends with {} elements open", stack.len()),
                end,
            );
        }
        if !root_seen {
            return at("nbfx_truncated", "no root element", end);
        }
        Ok(())
    }
}
