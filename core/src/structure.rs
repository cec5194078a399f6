//! [MC-NBFX] structure records: elements (0x40-0x77), attributes (0x04-0x3F), Array (0x03),
//! Comment (0x02), EndElement (0x01), and the record loop that builds one document, with the
//! limits of decoders/nbfx.py (nesting depth, elements, attributes, array items).
#![forbid(unsafe_code)]

use crate::error::{at, Result};
use crate::nbfx::{
    is_text_reader, letter, Decoder, Read, MAX_ARRAY_ITEMS, MAX_ATTRIBUTES, MAX_DOCUMENT_BYTES,
};
use crate::text::utf8;
use crate::tree::{Attribute, Document, Element, Node, Str};
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

fn node(read: Read<'_>) -> Node<'_> {
    match read {
        Read::Plain(s) => Node::Plain(s),
        Read::Typed(t) => Node::Text(t),
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
    decoder.run(pos, limits)
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

    /// The attribute records following an element record.
    fn attributes(&mut self, mut pos: usize) -> Result<(Vec<Attribute<'a>>, usize)> {
        let mut attributes = Vec::new();
        while pos < self.end {
            let Some(record) = self.byte_at(pos).filter(|r| (0x04..=0x3F).contains(r)) else {
                break;
            };
            if attributes.len() >= MAX_ATTRIBUTES {
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
        Ok((attributes, pos))
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
            Some(r) => r.map(|(read, end)| (read.into_text().text, end)),
            None => unknown(),
        }
    }

    /// Array record: one element with its attributes, EndElement, item type, MB31 count, items;
    /// each item becomes a copy of the element holding that value. Returns (position, items).
    fn array(
        &mut self,
        children: &mut Vec<Node<'a>>,
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
        let (attributes, pos) = self.attributes(pos)?;
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
        children.reserve(count);
        for _ in 0..count {
            let read;
            (read, pos) = match self.text(item_type & 0xFE, pos) {
                Some(r) => r?,
                None => {
                    return at(
                        "nbfx_unknown_record",
                        format!("array item type 0x{item_type:02x}"),
                        pos,
                    )
                }
            };
            children.push(Node::Element(Element {
                prefix: prefix.clone(),
                name: name.clone(),
                attributes: attributes.clone(),
                children: vec![node(read)],
            }));
        }
        Ok((pos, count))
    }

    /// The record loop (decoders/nbfx.py `_Decoder.run`).
    pub fn run(&mut self, mut pos: usize, limits: Limits) -> Result<Document<'a>> {
        let end = self.end;
        let mut nodes: Vec<Node<'a>> = Vec::new();
        let mut stack: Vec<Element<'a>> = Vec::new(); // open elements, innermost last
        let mut root_seen = false;
        let mut budget = limits.max_elements; // elements still allowed
        while pos < end {
            let record = self.byte_at(pos).unwrap_or(0);
            pos += 1;
            if record >= 0x80 {
                let Some(open) = stack.last_mut() else {
                    return at(
                        "nbfx_bad_structure",
                        "text outside the root element",
                        pos - 1,
                    );
                };
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
                    let text = utf8(data.get(start..pos).unwrap_or_default())?;
                    open.children.push(Node::Plain(Cow::Borrowed(text)));
                } else if record == 0x89 || record == 0x88 {
                    if pos >= end {
                        return at("nbfx_truncated", "document ends inside Int8Text", pos);
                    }
                    let read;
                    (read, pos) = match self.text(0x88, pos) {
                        Some(r) => r?,
                        None => return at("nbfx_truncated", "document ends inside Int8Text", pos),
                    };
                    open.children.push(node(read));
                } else {
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
                    let read;
                    (read, pos) = match self.text(even, pos) {
                        Some(r) => r?,
                        None => return unknown(pos - 1),
                    };
                    if let Some(open) = stack.last_mut() {
                        open.children.push(node(read));
                    }
                }
                if record & 1 == 1 {
                    close(&mut stack, &mut nodes);
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
                let mut attributes = Vec::new();
                if self
                    .byte_at(pos)
                    .is_some_and(|b| (0x04..=0x3F).contains(&b))
                {
                    (attributes, pos) = self.attributes(pos)?;
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
                stack.push(Element {
                    prefix,
                    name,
                    attributes,
                    children: Vec::new(),
                });
                if stack.len() > limits.max_depth {
                    let detail = format!(
                        "more than {} nested elements (limit nesting_depth)",
                        limits.max_depth
                    );
                    return at("nbfx_too_deep", detail, pos);
                }
            } else if record == 0x01 {
                if stack.is_empty() {
                    return at(
                        "nbfx_bad_structure",
                        "EndElement with no open element",
                        pos - 1,
                    );
                }
                close(&mut stack, &mut nodes);
            } else if record == 0x02 {
                let comment;
                (comment, pos) = self.string(pos)?;
                match stack.last_mut() {
                    Some(open) => open.children.push(Node::Comment(comment)),
                    None => nodes.push(Node::Comment(comment)),
                }
            } else if record == 0x03 {
                let Some(mut open) = stack.pop() else {
                    return at(
                        "nbfx_bad_structure",
                        "array outside the root element",
                        pos - 1,
                    );
                };
                let result = self.array(&mut open.children, pos, budget);
                stack.push(open);
                let items;
                (pos, items) = result?;
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
        Ok(Document {
            nodes,
            unresolved: self.unresolved,
        })
    }
}

/// Close the innermost open element: into its parent, or the document level.
fn close<'a>(stack: &mut Vec<Element<'a>>, nodes: &mut Vec<Node<'a>>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(Node::Element(done)),
            None => nodes.push(Node::Element(done)),
        }
    }
}
