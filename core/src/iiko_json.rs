//! A reader of the JSON text the core writes for a body (`json.rs`), for the iiko layer: a tree that
//! keeps each value's span in the text, so that what Python must still see (an object found, a line
//! not normalised yet) travels as its own text and is parsed there by the same `loads`.
//!
//! It reads strict RFC 8259 JSON and refuses (`None`) anything whose Python objects it would not be
//! certain to mirror: a key repeated in one object (a Python dict keeps the first place and the last
//! value), a lone surrogate escape (a Python str holds it, a Rust one cannot), nesting past
//! `MAX_NESTING`, and whatever `json.loads` would refuse too. The caller then hands the message to the
//! pure-Python path, which decides (and raises where it always did).
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::collections::HashSet;

/// Containers nested deeper than this are refused (orjson stops at 1024, `json` near the recursion
/// limit); the recogniser walks only 64 levels.
pub const MAX_NESTING: usize = 512;
/// Objects up to this many keys are checked for repeats pairwise, larger ones through a set.
const PAIRWISE: usize = 16;

#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// A number, as its text (`Node::start..Node::end`).
    Number,
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<Entry<'a>>),
}

/// A value and where it is in the text.
#[derive(Debug, PartialEq)]
pub struct Node<'a> {
    pub value: Value<'a>,
    pub start: usize,
    pub end: usize,
}

/// An object's member: `"key": value` spans `key_start..node.end`.
#[derive(Debug, PartialEq)]
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
}

/// The tree of `text`, or None where Python must read it (see the module's doc).
pub fn parse(text: &[u8]) -> Option<Node<'_>> {
    let src = std::str::from_utf8(text).ok()?;
    let mut reader = Reader { src, pos: 0 };
    let node = reader.value(0)?;
    reader.skip_space();
    (reader.pos == text.len()).then_some(node)
}

struct Reader<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> Option<()> {
        let rest = self.src.as_bytes().get(self.pos..)?;
        rest.starts_with(literal.as_bytes()).then(|| {
            self.pos += literal.len();
        })
    }

    fn value(&mut self, depth: usize) -> Option<Node<'a>> {
        self.skip_space();
        let start = self.pos;
        let value = match self.peek()? {
            b'{' => self.object(depth + 1)?,
            b'[' => self.array(depth + 1)?,
            b'"' => Value::Str(self.string()?),
            b'n' => self.eat("null").map(|()| Value::Null)?,
            b't' => self.eat("true").map(|()| Value::Bool(true))?,
            b'f' => self.eat("false").map(|()| Value::Bool(false))?,
            _ => self.number().map(|()| Value::Number)?,
        };
        Some(Node {
            value,
            start,
            end: self.pos,
        })
    }

    fn array(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_NESTING {
            return None;
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        Some(Value::Array(items))
    }

    fn object(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_NESTING {
            return None;
        }
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(Value::Object(entries));
        }
        loop {
            self.skip_space();
            let key_start = self.pos;
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.skip_space();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            let node = self.value(depth)?;
            entries.push(Entry {
                key,
                key_start,
                node,
            });
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        unique_keys(&entries).then_some(Value::Object(entries))
    }

    /// A string at `pos` (its opening quote), unescaped.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        let bytes = self.src.as_bytes();
        loop {
            match bytes.get(self.pos)? {
                b'"' => {
                    let text = self.src.get(start..self.pos)?;
                    self.pos += 1;
                    return Some(Cow::Borrowed(text));
                }
                b'\\' => break,
                0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
        let mut out = String::from(self.src.get(start..self.pos)?);
        loop {
            let run = self.pos;
            while !matches!(bytes.get(self.pos)?, b'"' | b'\\' | 0..=0x1f) {
                self.pos += 1;
            }
            out.push_str(self.src.get(run..self.pos)?);
            match bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                _ => return None,
            }
        }
    }

    /// The character of the escape after a backslash; None for a lone surrogate.
    fn escape(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                if (0xD800..0xDC00).contains(&high) {
                    self.eat("\\u")?;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(high)?
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.src.get(self.pos..self.pos.checked_add(4)?)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
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
mod tests {
    use super::*;

    fn keys(text: &str) -> Option<Vec<String>> {
        match parse(text.as_bytes())?.value {
            Value::Object(entries) => Some(entries.iter().map(|e| e.key.to_string()).collect()),
            _ => None,
        }
    }

    #[test]
    fn reads_what_the_core_writes_with_spans() {
        let text = r#"{"a":[1,-2.5e3,true,null],"b\"c":"x\u00e9\ud83d\ude00","d":{}}"#;
        let entries = match parse(text.as_bytes()) {
            Some(Node {
                value: Value::Object(entries),
                ..
            }) => entries,
            _ => Vec::new(),
        };
        let spans: Vec<&str> = entries
            .iter()
            .filter_map(|e| text.get(e.key_start..e.node.end))
            .collect();
        assert_eq!(
            spans,
            [
                r#""a":[1,-2.5e3,true,null]"#,
                r#""b\"c":"x\u00e9\ud83d\ude00""#,
                r#""d":{}"#
            ]
        );
        assert_eq!(entries.get(1).map(|e| e.key.as_ref()), Some("b\"c"));
        assert_eq!(
            entries.get(1).and_then(|e| e.node.as_str()),
            Some("x\u{e9}\u{1f600}")
        );
    }

    #[test]
    fn refuses_what_python_would_read_otherwise_or_not_at_all() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00x"}"#,
            "[01]",
            "[1.]",
            "NaN",
            "[Infinity]",
            "{\"a\":\"\t\"}",
            "[1,]",
            "{} x",
            "\u{feff}{}",
            "",
        ] {
            assert!(parse(text.as_bytes()).is_none(), "{text}");
        }
        assert!(parse(&[b'"', 0xff, b'"']).is_none());
        assert_eq!(
            keys(r#" { "a" : 1 , "b":2 } "#),
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_NESTING).as_bytes()).is_some());
        assert!(parse(deep(MAX_NESTING + 1).as_bytes()).is_none());
        assert!(parse(deep(100_000).as_bytes()).is_none());
    }

    #[test]
    fn many_keys_are_checked_for_repeats_too() {
        let mut text: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(parse(format!("{{{}}}", text.join(",")).as_bytes()).is_some());
        text.push("\"k3\":0".into());
        assert!(parse(format!("{{{}}}", text.join(",")).as_bytes()).is_none());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b"{}[]\",:\\u0123456789abcdefeE+-.ntrl \xc3\xa9\xff";
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = usize::try_from(state % 24).unwrap_or(0);
            let mut s = state;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.rotate_left(5).wrapping_mul(0x2545_F491_4F6C_DD1D);
                    let at = usize::try_from(s >> 58).unwrap_or(0) % alphabet.len();
                    alphabet.get(at).copied().unwrap_or(b' ')
                })
                .collect();
            let _ = parse(&bytes);
        }
    }
}
