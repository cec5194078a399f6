//! A reader of the JSON text the core writes for a body (`json.rs`), for the iiko layer: values with
//! their spans in the text, so that what Python must still see (an object found, a line not normalised
//! yet) travels as its own text and is parsed there by the same `loads`.
//!
//! The text is checked once, whole (strict RFC 8259 JSON; every container's span noted), and read
//! lazily after: a container's members are read only when asked for, the containers inside them
//! skipped by their noted ends, so that the 4000 lines of an order cost one pass and their spans.
//! `None` refuses what Python would read otherwise or not at all: a lone surrogate escape (a Python
//! str holds it, a Rust one cannot), nesting past `MAX_NESTING`, anything `json.loads` refuses, and,
//! in an object whose members are read, a repeated key (a Python dict keeps the first place and the
//! last value; an object only passed on as text is parsed by Python itself). The caller then hands
//! the message to the pure-Python path, which decides (and raises where it always did).
#![forbid(unsafe_code)]

use crate::iiko_check::Reader;
use std::borrow::Cow;
use std::collections::HashSet;

/// Containers nested deeper than this are refused (orjson stops at 1024, `json` near the recursion
/// limit); the recogniser walks only 64 levels.
pub const MAX_NESTING: usize = 512;
/// Objects up to this many keys are checked for repeats pairwise, larger ones through a set.
const PAIRWISE: usize = 16;
/// Bytes of a text read for its first key (`iiko.KEY_PREFIX`) when the key ends within them.
const KEY_PREFIX: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// A number, as its text (`Node::start..Node::end`).
    Number,
    Str(Cow<'a, str>),
    /// Its items: `Doc::items`.
    Array,
    /// Its members: `Doc::entries`.
    Object,
}

/// A value and where it is in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub value: Value<'a>,
    pub start: usize,
    pub end: usize,
}

/// An object's member: `"key": value` spans `key_start..node.end`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub key: Cow<'a, str>,
    pub key_start: usize,
    pub node: Node<'a>,
}

impl Node<'_> {
    /// Python's "no value" of `iiko_json.first_of`: `None` or `""`.
    pub fn is_blank(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Str(s) => s.is_empty(),
            _ => false,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_container(&self) -> bool {
        matches!(self.value, Value::Array | Value::Object)
    }
}

/// A checked text: its root value, and its containers' members on demand.
pub struct Doc<'a> {
    src: &'a str,
    /// (start, end) of every container, in order of start.
    containers: Vec<(usize, usize)>,
}

/// The text checked, and its root value; None where Python must read it (see the module's doc).
pub fn parse(text: &[u8]) -> Option<(Doc<'_>, Node<'_>)> {
    let src = std::str::from_utf8(text).ok()?;
    let mut reader = Reader {
        src,
        pos: 0,
        containers: Vec::new(),
    };
    reader.skip_space();
    let start = reader.pos;
    reader.value(0)?;
    reader.skip_space();
    if reader.pos != text.len() {
        return None;
    }
    let doc = Doc {
        src,
        containers: reader.containers,
    };
    let mut at = start;
    let root = doc.node_at(&mut at)?;
    Some((doc, root))
}

/// The first key of an object's text, as `iiko._first_key` reads it without checking the rest:
/// Ok(None) for a text that does not start `{"`, Err(()) where Python's reading is not certain to be
/// the same (a lone surrogate, a control character, text that is not UTF-8: Python's to read).
#[allow(clippy::result_unit_err)]
pub fn first_key(text: &[u8]) -> Result<Option<String>, ()> {
    if !text.starts_with(b"{\"") {
        return Ok(None);
    }
    let mut cut = text.len().min(KEY_PREFIX);
    while 0 < cut && cut < text.len() && text.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
    }
    let key = |bytes: &[u8]| {
        let src = std::str::from_utf8(bytes).ok()?;
        let mut reader = Reader {
            src,
            pos: 1,
            containers: Vec::new(),
        };
        reader.string().map(Cow::into_owned)
    };
    text.get(..cut)
        .and_then(key)
        .or_else(|| key(text))
        .map(Some)
        .ok_or(())
}

impl<'a> Doc<'a> {
    /// The items of an array.
    pub fn items(&self, node: &Node<'a>) -> Option<Vec<Node<'a>>> {
        let mut items = Vec::new();
        let mut pos = node.start + 1;
        if self.next(&mut pos)? == b']' {
            return Some(items);
        }
        loop {
            items.push(self.node_at(&mut pos)?);
            match self.next(&mut pos)? {
                b',' => pos += 1,
                _ => return Some(items),
            }
        }
    }

    /// The members of an object, or None if a key is repeated.
    pub fn entries(&self, node: &Node<'a>) -> Option<Vec<Entry<'a>>> {
        let mut entries = Vec::new();
        let mut pos = node.start + 1;
        if self.next(&mut pos)? == b'}' {
            return Some(entries);
        }
        loop {
            let key_start = pos;
            let key = self.reader(&mut pos).string()?;
            self.next(&mut pos)?; // the colon
            pos += 1;
            let node = self.node_at(&mut pos)?;
            entries.push(Entry {
                key,
                key_start,
                node,
            });
            match self.next(&mut pos)? {
                b',' => {
                    pos += 1;
                    self.next(&mut pos)?;
                }
                _ => return unique_keys(&entries).then_some(entries),
            }
        }
    }

    /// The byte at `pos` after white space (`pos` moved to it).
    fn next(&self, pos: &mut usize) -> Option<u8> {
        let mut cursor = self.reader(pos);
        cursor.skip_space();
        cursor.peek()
    }

    fn reader<'r>(&self, pos: &'r mut usize) -> Cursor<'a, 'r> {
        Cursor { src: self.src, pos }
    }

    /// The value at `pos` (after white space); `pos` moved past it.
    fn node_at(&self, pos: &mut usize) -> Option<Node<'a>> {
        let first = self.next(pos)?;
        let start = *pos;
        let value = match first {
            b'{' | b'[' => {
                let at = self
                    .containers
                    .binary_search_by_key(&start, |&(s, _)| s)
                    .ok()?;
                *pos = self.containers.get(at)?.1;
                if first == b'{' {
                    Value::Object
                } else {
                    Value::Array
                }
            }
            b'"' => Value::Str(self.reader(pos).string()?),
            b'n' => self.literal(pos, 4, Value::Null),
            b't' => self.literal(pos, 4, Value::Bool(true)),
            b'f' => self.literal(pos, 5, Value::Bool(false)),
            _ => {
                let bytes = self.src.as_bytes();
                while bytes
                    .get(*pos)
                    .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    *pos += 1;
                }
                Value::Number
            }
        };
        Some(Node {
            value,
            start,
            end: *pos,
        })
    }

    fn literal(&self, pos: &mut usize, len: usize, value: Value<'a>) -> Value<'a> {
        *pos += len;
        value
    }
}

/// Reading strings at a position of a checked text.
struct Cursor<'a, 'r> {
    src: &'a str,
    pos: &'r mut usize,
}

impl<'a> Cursor<'a, '_> {
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let mut reader = Reader {
            src: self.src,
            pos: *self.pos,
            containers: Vec::new(),
        };
        let text = reader.string();
        *self.pos = reader.pos;
        text
    }

    fn skip_space(&mut self) {
        let bytes = self.src.as_bytes();
        while matches!(bytes.get(*self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(*self.pos).copied()
    }
}

fn unique_keys(entries: &[Entry<'_>]) -> bool {
    if entries.len() <= PAIRWISE {
        return entries
            .iter()
            .enumerate()
            .all(|(i, e)| entries.iter().skip(i + 1).all(|o| o.key != e.key));
    }
    let mut seen = HashSet::with_capacity(entries.len());
    entries.iter().all(|e| seen.insert(e.key.as_ref()))
}

#[cfg(test)]
#[path = "iiko_json_tests.rs"]
mod tests;
