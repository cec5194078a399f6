//! The checking pass of `iiko_json`: strict RFC 8259 JSON, every container's span noted, nesting
//! bounded by `MAX_NESTING`; and the reading of strings (escapes, surrogate pairs; a lone surrogate
//! refused), which `iiko_json` uses again on the members it reads.
#![forbid(unsafe_code)]

use crate::iiko_json::MAX_NESTING;
use std::borrow::Cow;

/// The checking pass over a text, and the reading of its strings.
pub(crate) struct Reader<'a> {
    pub(crate) src: &'a str,
    pub(crate) pos: usize,
    /// (start, end) of every container checked, in order of start.
    pub(crate) containers: Vec<(usize, usize)>,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_space(&mut self) {
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

    pub(crate) fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_space();
        match self.peek()? {
            b'{' | b'[' => self.container(depth + 1),
            b'"' => self.string().map(|_| ()),
            b'n' => self.eat("null"),
            b't' => self.eat("true"),
            b'f' => self.eat("false"),
            _ => self.number(),
        }
    }

    /// An object or an array at `pos`, its span noted.
    fn container(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_NESTING {
            return None;
        }
        let start = self.pos;
        let object = self.peek()? == b'{';
        let close = if object { b'}' } else { b']' };
        let at = self.containers.len();
        self.containers.push((start, start));
        self.pos += 1;
        self.skip_space();
        if self.peek()? != close {
            loop {
                if object {
                    self.skip_space();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.string()?;
                    self.skip_space();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.pos += 1;
                }
                self.value(depth)?;
                self.skip_space();
                match self.peek()? {
                    b',' => self.pos += 1,
                    c if c == close => break,
                    _ => return None,
                }
            }
        }
        self.pos += 1;
        if let Some(span) = self.containers.get_mut(at) {
            span.1 = self.pos;
        }
        Some(())
    }

    /// A string at `pos` (its opening quote), unescaped; None for a lone surrogate or a control character.
    pub(crate) fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        let bytes = self.src.as_bytes();
        self.pos = plain_run(bytes, self.pos);
        match bytes.get(self.pos)? {
            b'"' => {
                let text = self.src.get(start..self.pos)?;
                self.pos += 1;
                return Some(Cow::Borrowed(text));
            }
            b'\\' => {}
            _ => return None,
        }
        let mut out = String::from(self.src.get(start..self.pos)?);
        loop {
            let run = self.pos;
            self.pos = plain_run(bytes, self.pos);
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

/// Where the run of string bytes from `start` ends: at the first quote, backslash or control
/// character (or the end), found 8 bytes at a time.
pub(crate) fn plain_run(bytes: &[u8], start: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // whether a byte of `x` is zero, or below 0x20: exact as to whether there is one (not which)
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut pos = start;
    for chunk in bytes.get(start..).unwrap_or_default().chunks_exact(8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let special = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if special != 0 {
            break;
        }
        pos += 8;
    }
    while bytes
        .get(pos)
        .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
    {
        pos += 1;
    }
    pos
}
