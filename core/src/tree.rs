//! The decoded document as one flat tape in document order (one allocation for every node, not one
//! per element): an element's descendants follow it up to its `end`. Typed values stay binary until
//! rendered (`Val`), so a value the JSON writes as a number is never formatted as text. Strings
//! borrow from the payload, the static dictionary or the session table where they can.
#![forbid(unsafe_code)]

use crate::format;
use crate::numbers::{format_double, format_float};
use std::borrow::Cow;

pub type Str<'a> = Cow<'a, str>;

/// A typed text value, as read ([MC-NBFX] 2.2.3); `text` renders it as .NET does. A tag byte of
/// its own (`repr(u8)`), as for `Leaf`: both are matched for every value written, and a tag folded
/// into a string's capacity takes several instructions to read. `Item` keeps the folded tag: a
/// byte of its own would grow every entry of the tape by 8 bytes.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Val<'a> {
    Int(i64),
    UInt(u64),
    Bool(bool),
    Single(f32),
    Double(f64),
    Decimal([u8; 16]),
    DateTime(u64),
    TimeSpan(i64),
    Guid([u8; 16]),
    UniqueId([u8; 16]),
    Bytes(&'a [u8]),
    QName(u8, Str<'a>),
    List(Vec<Leaf<'a>>),
}

/// Text content: a plain string (Python's `str` child) or a typed value (Python's `Text`).
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Leaf<'a> {
    Plain(Str<'a>),
    Typed(Val<'a>),
}

impl<'a> Val<'a> {
    /// The text .NET writes for the value (Python's `Text.text`).
    pub fn text(&self) -> Str<'a> {
        Cow::Owned(match self {
            Val::Int(0) => return Cow::Borrowed("0"),
            Val::Int(1) => return Cow::Borrowed("1"),
            Val::Bool(b) => return Cow::Borrowed(if *b { "true" } else { "false" }),
            Val::Single(v) => format_float(f64::from(*v)),
            Val::Double(v) => format_double(*v),
            Val::TimeSpan(v) => format::timespan(*v),
            Val::Bytes(data) => format::base64(data),
            Val::QName(prefix, name) => format!("{}:{name}", crate::nbfx::letter(*prefix)),
            Val::List(items) => items.iter().map(Leaf::text).collect::<Vec<_>>().join(" "),
            // numbers, dates and Guids without the formatting machinery
            Val::Int(_)
            | Val::UInt(_)
            | Val::Decimal(_)
            | Val::DateTime(_)
            | Val::Guid(_)
            | Val::UniqueId(_) => {
                let mut text = String::with_capacity(48);
                self.write_plain_text(&mut text);
                text
            }
        })
    }
}

impl Val<'_> {
    /// Append the text of a value whose text needs no escaping in JSON or XML (numbers, dates,
    /// Guids, base64); false for QName and List, whose text may.
    pub fn write_plain_text(&self, out: &mut String) -> bool {
        match self {
            Val::Int(v) => format::push_i64(out, *v),
            Val::UInt(v) => format::push_digits(out, u128::from(*v), 1),
            Val::Decimal(raw) => format::write_decimal(raw, out),
            Val::DateTime(raw) => format::write_datetime(*raw, out),
            Val::Guid(raw) => format::write_guid(raw, out),
            Val::UniqueId(raw) => {
                out.push_str("urn:uuid:");
                format::write_guid(raw, out);
            }
            Val::QName(..) | Val::List(_) => return false,
            other => out.push_str(&other.text()),
        }
        true
    }
}

impl<'a> Leaf<'a> {
    pub fn text(&self) -> Str<'a> {
        match self {
            Leaf::Plain(s) => s.clone(),
            Leaf::Typed(v) => v.text(),
        }
    }
}

/// (prefix, local name, value); a namespace declaration is ("xmlns", p, uri) or ("", "xmlns", uri).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute<'a> {
    pub prefix: Str<'a>,
    pub name: Str<'a>,
    pub value: Str<'a>,
}

impl Attribute<'_> {
    /// The namespace prefix this attribute declares: Some("") for xmlns, Some(p) for xmlns:p.
    pub fn declares(&self) -> Option<&str> {
        if self.prefix == "xmlns" {
            Some(&self.name)
        } else if self.prefix.is_empty() && self.name == "xmlns" {
            Some("")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Elem<'a> {
    /// Always a slice of the payload or a static letter: never owned, so no drop and 8 bytes less
    /// on every element of the tape.
    pub prefix: &'a str,
    pub name: Str<'a>,
    /// Its attributes: `Document::attributes[attrs.0..attrs.1]` (array items share one range).
    pub attrs: (u32, u32),
    /// Index just past its last descendant.
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    Element(Elem<'a>),
    Leaf(Leaf<'a>),
    Comment(Str<'a>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document<'a> {
    pub items: Vec<Item<'a>>,
    pub attributes: Vec<Attribute<'a>>,
    /// Session-string references not resolved (rendered `session:N`).
    pub unresolved: usize,
}

/// An element of a document: its index on the tape and the element itself.
#[derive(Debug, Clone, Copy)]
pub struct Node<'d, 'a> {
    pub doc: &'d Document<'a>,
    pub index: usize,
    pub elem: &'d Elem<'a>,
}

fn index(i: u32) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX)
}

impl<'d, 'a> Node<'d, 'a> {
    pub fn name(&self) -> &'d str {
        &self.elem.name
    }

    pub fn prefix(&self) -> &'d str {
        self.elem.prefix
    }

    pub fn qname(&self) -> String {
        if self.elem.prefix.is_empty() {
            self.elem.name.to_string()
        } else {
            format!("{}:{}", self.elem.prefix, self.elem.name)
        }
    }

    pub fn attributes(&self) -> &'d [Attribute<'a>] {
        let (start, end) = self.elem.attrs;
        self.doc
            .attributes
            .get(index(start)..index(end))
            .unwrap_or_default()
    }

    /// The direct children: (tape index, item).
    pub fn children(&self) -> Children<'d, 'a> {
        Children {
            doc: self.doc,
            next: self.index + 1,
            end: index(self.elem.end),
        }
    }

    pub fn has_children(&self) -> bool {
        index(self.elem.end) > self.index + 1
    }

    pub fn elements(&self) -> impl Iterator<Item = Node<'d, 'a>> + 'd {
        let doc = self.doc;
        self.children().filter_map(move |(i, item)| match item {
            Item::Element(elem) => Some(Node {
                doc,
                index: i,
                elem,
            }),
            _ => None,
        })
    }

    /// Concatenated text of the direct text children (Python's `Element.text`).
    pub fn text(&self) -> Str<'a> {
        let mut texts = self.children().filter_map(|(_, item)| match item {
            Item::Leaf(leaf) => Some(leaf),
            _ => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        let mut joined = first.text();
        for leaf in texts {
            joined.to_mut().push_str(&leaf.text());
        }
        joined
    }
}

pub struct Children<'d, 'a> {
    doc: &'d Document<'a>,
    next: usize,
    end: usize,
}

impl<'d, 'a> Iterator for Children<'d, 'a> {
    type Item = (usize, &'d Item<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        let item = self.doc.items.get(i)?;
        self.next = match item {
            Item::Element(e) => index(e.end).max(i + 1),
            _ => i + 1,
        };
        Some((i, item))
    }
}

impl<'a> Document<'a> {
    /// The top-level items: (tape index, item), comments and the root.
    pub fn top(&self) -> Children<'_, 'a> {
        Children {
            doc: self,
            next: 0,
            end: self.items.len(),
        }
    }

    pub fn node(&self, i: usize) -> Option<Node<'_, 'a>> {
        match self.items.get(i)? {
            Item::Element(elem) => Some(Node {
                doc: self,
                index: i,
                elem,
            }),
            _ => None,
        }
    }

    pub fn root(&self) -> Option<Node<'_, 'a>> {
        self.top().find_map(|(i, _)| self.node(i))
    }
}
