//! [MC-NBFX] structure records: elements (0x40-0x77), attributes (0x04-0x3F), Array (0x03),
//! Comment (0x02), EndElement (0x01), and the record loop that builds one document, with the
//! limits of decoders/nbfx.py (nesting depth, elements, attributes, array items).
#![forbid(unsafe_code)]

use crate::dictionary;
use crate::error::{at, Result};
use crate::nbfx::{is_text_reader, letter, Decoder, MAX_DOCUMENT_BYTES};
use crate::text::utf8;
use crate::tree::{Document, Elem, Item, Leaf};
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

pub(crate) fn index32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Append the item `make` builds once there is room for it, so that an item made of a few plain
/// values is written in place: built on the stack first, it would be copied with 16-byte loads of
/// 8-byte stores, which the CPU cannot forward (the record loop's hottest instructions).
#[inline(always)]
fn push_with<'a>(items: &mut Vec<Item<'a>>, make: impl FnOnce() -> Item<'a>) {
    items.extend(core::iter::once_with(make));
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

/// The elements open during a decode: their tape indices, and whether the root was seen.
struct Open {
    stack: Vec<usize>,
    root_seen: bool,
    max_depth: usize,
}

impl<'a> Decoder<'a> {
    /// The record loop (decoders/nbfx.py `_Decoder.run`), appending to `doc`'s tape.
    pub fn run(&mut self, mut pos: usize, limits: Limits, doc: &mut Document<'a>) -> Result<()> {
        let end = self.end;
        let mut open = Open {
            stack: Vec::with_capacity(32),
            root_seen: false,
            max_depth: limits.max_depth,
        };
        let mut budget = limits.max_elements; // elements still allowed
        while pos < end {
            let record = self.byte_at(pos).unwrap_or(0);
            pos += 1;
            if record >= 0x80 {
                if open.stack.is_empty() {
                    return at(
                        "nbfx_bad_structure",
                        "text outside the root element",
                        pos - 1,
                    );
                }
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
                    push_with(&mut doc.items, || {
                        Item::Leaf(Leaf::Plain(Cow::Borrowed(text)))
                    });
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
                    let items = &mut doc.items;
                    let push = |leaf| push_with(items, || Item::Leaf(leaf));
                    ((), pos) = match self.text_with(even, pos, push) {
                        Some(r) => r?,
                        None => return unknown(pos - 1),
                    };
                }
                if record & 1 == 1 {
                    if let Some(index) = open.stack.pop() {
                        close(&mut doc.items, index);
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
                pos = match self.short_name(record, key, pos)? {
                    Some((prefix, name, after)) => {
                        let (attrs, after) = self.open_element(doc, &mut open, after)?;
                        // built in place from the two &str: see `push_with`
                        push_with(&mut doc.items, || {
                            Item::Element(Elem {
                                prefix,
                                name: Cow::Borrowed(name),
                                attrs,
                                end: 0,
                            })
                        });
                        after
                    }
                    None => {
                        if record > 0x77 {
                            return at(
                                "nbfx_unknown_record",
                                format!("record type 0x{record:02x}"),
                                pos - 1,
                            );
                        }
                        let (prefix, name, after) = self.element_name(record, pos)?;
                        let (attrs, after) = self.open_element(doc, &mut open, after)?;
                        doc.items.push(Item::Element(Elem {
                            prefix,
                            name,
                            attrs,
                            end: 0,
                        }));
                        after
                    }
                };
            } else if record == 0x01 {
                let Some(index) = open.stack.pop() else {
                    return at(
                        "nbfx_bad_structure",
                        "EndElement with no open element",
                        pos - 1,
                    );
                };
                close(&mut doc.items, index);
            } else if record == 0x02 {
                let comment;
                (comment, pos) = self.string(pos)?;
                doc.items.push(Item::Comment(comment));
            } else if record == 0x03 {
                if open.stack.is_empty() {
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
        if !open.stack.is_empty() {
            return at(
                "nbfx_truncated",
                format!("document ends with {} elements open", open.stack.len()),
                end,
            );
        }
        if !open.root_seen {
            return at("nbfx_truncated", "no root element", end);
        }
        Ok(())
    }

    /// (prefix, name, position) of the element records that make almost all traffic, as plain
    /// `&str`s: an inline name under 128 bytes, or a one-byte dictionary id that resolves. None:
    /// `element_name` reads it (and raises what is wrong with it).
    #[inline(always)]
    fn short_name(
        &self,
        record: u8,
        key: u8,
        pos: usize,
    ) -> Result<Option<(&'a str, &'a str, usize)>> {
        if key >= 0x80 {
            return Ok(None);
        }
        if record == 0x40 || (0x5E..=0x77).contains(&record) {
            let start = pos + 1;
            let after = start + usize::from(key);
            let data: &'a [u8] = self.data;
            // cut at the end: the bad UTF-8 of a truncated name is reported before the truncation
            let name = utf8(data.get(start..after.min(self.end)).unwrap_or_default())?;
            let prefix = if record == 0x40 {
                ""
            } else {
                letter(record - 0x5E)
            };
            return Ok(Some((prefix, name, after)));
        }
        let prefix = match record {
            0x42 => "",
            0x44..=0x5D => letter(record - 0x44),
            _ => return Ok(None),
        };
        let key = usize::from(key);
        let session: &'a [String] = self.session;
        let name = if key & 1 == 0 {
            dictionary::table().get(key >> 1).copied()
        } else {
            session.get(key >> 1).map(String::as_str)
        };
        Ok(name.map(|name| (prefix, name, pos + 1)))
    }

    /// The rest of an element record after its name: its attributes (appended to the document's);
    /// the element opens at the next tape index, where the caller puts it. (attributes, position)
    #[inline(always)]
    fn open_element(
        &mut self,
        doc: &mut Document<'a>,
        open: &mut Open,
        mut pos: usize,
    ) -> Result<((u32, u32), usize)> {
        let end = self.end;
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
        if open.stack.is_empty() {
            if open.root_seen {
                return at("nbfx_bad_structure", "a second root element", pos);
            }
            open.root_seen = true;
        }
        open.stack.push(doc.items.len());
        if open.stack.len() > open.max_depth {
            let detail = format!(
                "more than {} nested elements (limit nesting_depth)",
                open.max_depth
            );
            return at("nbfx_too_deep", detail, pos);
        }
        Ok((attrs, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(data: &[u8], limits: Limits) -> &'static str {
        decode(data, 0, &[], limits).map_or_else(|e| e.name, |_| "ok")
    }

    #[test]
    fn structure_errors() {
        let d = Limits::default();
        assert_eq!(name(b"\x40\x01a\x01", d), "ok");
        assert_eq!(name(b"\x40\x01a\x01\x40\x01b\x01", d), "nbfx_bad_structure"); // a second root
        assert_eq!(name(b"\x99\x01a", d), "nbfx_bad_structure"); // text outside the root
        assert_eq!(name(b"\x01", d), "nbfx_bad_structure");
        assert_eq!(name(b"\x00", d), "nbfx_unknown_record");
        assert_eq!(name(b"\x40\x01a\xa5", d), "nbfx_unknown_record");
        assert_eq!(name(b"", d), "nbfx_truncated");
        assert_eq!(name(b"\x02\x01c", d), "nbfx_truncated"); // a comment but no root
    }

    #[test]
    fn limits_of_depth_and_elements() {
        let nested = b"\x40\x01a\x40\x01b\x40\x01c\x01\x01\x01";
        let depth = |max_depth| Limits {
            max_depth,
            ..Limits::default()
        };
        assert_eq!(name(nested, depth(3)), "ok");
        assert_eq!(name(nested, depth(2)), "nbfx_too_deep");
        let count = |max_elements| Limits {
            max_elements,
            ..Limits::default()
        };
        assert_eq!(name(nested, count(3)), "ok");
        assert_eq!(name(nested, count(2)), "nbfx_too_many_elements");
    }

    #[test]
    fn every_cut_of_a_document_with_every_record_family() {
        // <a xmlns="u" b="1"><!--c-->x<i>5</i>[array of 2 int16 <n>]</a>
        let whole: &[u8] = b"\x40\x01a\x08\x01u\x04\x01b\x82\x02\x01c\x98\x01x\x40\x01i\x89\x05\x03\x40\x01n\x01\x8b\x02\x01\x00\x02\x00\x01";
        let doc = decode(whole, 0, &[], Limits::default());
        assert_eq!(doc.as_ref().map(|d| d.items.len()).ok(), Some(9));
        for cut in 0..whole.len() {
            let part = whole.get(..cut).unwrap_or_default();
            assert_eq!(
                name(part, Limits::default()),
                "nbfx_truncated",
                "cut at {cut}"
            );
        }
    }
}
