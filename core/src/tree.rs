//! The decoded document: elements, typed text, comments. Strings borrow from the payload, the
//! static dictionary or the session table where they can (`Cow`), as decoders/nbfx.py's tree.
#![forbid(unsafe_code)]

use std::borrow::Cow;

pub type Str<'a> = Cow<'a, str>;

/// A typed text value's JSON: `Str` means the rendered text itself (decimal, DateTime, Guid, …).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str,
    Int(i64),
    UInt(u64),
    Bool(bool),
    Float(f64),
    List(Vec<Text<'a>>),
}

/// Text as .NET renders it and its value; plain strings have `Value::Str`.
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a> {
    pub text: Str<'a>,
    pub value: Value<'a>,
}

impl<'a> Text<'a> {
    pub fn plain(text: Str<'a>) -> Self {
        Text {
            text,
            value: Value::Str,
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
pub enum Node<'a> {
    Element(Element<'a>),
    /// A plain string (Chars*, UnicodeChars*, Dictionary, Empty text): Python's `str` child.
    Plain(Str<'a>),
    /// A typed value: Python's `Text` child.
    Text(Text<'a>),
    Comment(Str<'a>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element<'a> {
    pub prefix: Str<'a>,
    pub name: Str<'a>,
    pub attributes: Vec<Attribute<'a>>,
    pub children: Vec<Node<'a>>,
}

impl<'a> Element<'a> {
    pub fn elements(&self) -> impl Iterator<Item = &Element<'a>> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// Concatenated text of the direct text children (Python's `Element.text`).
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.children.iter().filter_map(|c| match c {
            Node::Plain(s) => Some(s.as_ref()),
            Node::Text(t) => Some(t.text.as_ref()),
            _ => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        match texts.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut joined = String::from(first);
                joined.push_str(second);
                texts.for_each(|t| joined.push_str(t));
                Cow::Owned(joined)
            }
        }
    }

    pub fn qname(&self) -> String {
        if self.prefix.is_empty() {
            self.name.to_string()
        } else {
            format!("{}:{}", self.prefix, self.name)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a> {
    /// Top level in order: comments and the root.
    pub nodes: Vec<Node<'a>>,
    /// Session-string references not resolved (rendered `session:N`).
    pub unresolved: usize,
}

impl<'a> Document<'a> {
    pub fn root(&self) -> Option<&Element<'a>> {
        self.nodes.iter().find_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }
}
