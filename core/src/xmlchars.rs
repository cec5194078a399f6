//! The character level of text XML as expat reads a document entity without a DTD: names (ASCII
//! only), character data with CR/LF normalisation and `]]>` refused, the five predefined entities
//! and character references to XML Chars, attribute values with their whitespace normalised,
//! comments and CDATA sections. Anything else is `None`: "not mine", the Python reader decides.
#![forbid(unsafe_code)]

use std::borrow::Cow;

/// A cursor over the document text; every read either advances over well-formed input or is None.
pub struct Cursor<'a> {
    pub text: &'a str,
    pub pos: usize,
}

/// XML's S: space, tab, CR, LF.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Whether the UTF-8 bytes at `bytes[i..]` open U+FFFE or U+FFFF, the two non-Chars a str can hold
/// besides the C0 controls.
fn non_char_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&0xEF)
        && bytes.get(i + 1) == Some(&0xBF)
        && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
}

/// Whether every character of `s` is an XML Char (no C0 control but tab, LF, CR; no U+FFFE/FFFF).
fn all_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| (b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r')) && !non_char_at(bytes, i))
}

/// Line ends as expat reports them: CR LF and a lone CR become LF.
fn newlines(s: &str) -> Cow<'_, str> {
    if s.contains('\r') {
        Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(s)
    }
}

fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

impl<'a> Cursor<'a> {
    pub fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    pub fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub fn eat(&mut self, literal: &str) -> bool {
        let found = self.rest().starts_with(literal);
        if found {
            self.pos += literal.len();
        }
        found
    }

    /// Skip S; whether there was any.
    pub fn space(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// The text up to `end` (consumed with it), or None if it never comes.
    fn until(&mut self, end: &str) -> Option<&'a str> {
        let rest = self.rest();
        let at = rest.find(end)?;
        self.pos += at + end.len();
        rest.get(..at)
    }

    /// An NCName of ASCII letters, digits, `_`, `-`, `.` (a non-ASCII name is left to Python).
    fn ncname(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.peek().is_some_and(is_name_start) {
            return None;
        }
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.text.get(start..self.pos)
    }

    /// A QName: (prefix or "", local name, the name as written).
    pub fn qname(&mut self) -> Option<(&'a str, &'a str, &'a str)> {
        let start = self.pos;
        let first = self.ncname()?;
        let (prefix, local) = if self.eat(":") {
            (first, self.ncname()?)
        } else {
            ("", first)
        };
        Some((prefix, local, self.text.get(start..self.pos)?))
    }

    /// A reference after its `&`: the character it stands for.
    fn reference(&mut self) -> Option<char> {
        let body = self.until(";")?;
        let code = if let Some(hex) = body.strip_prefix("#x") {
            number(hex, 16)?
        } else if let Some(decimal) = body.strip_prefix('#') {
            number(decimal, 10)?
        } else {
            return match body {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "apos" => Some('\''),
                "quot" => Some('"'),
                _ => None,
            };
        };
        if is_xml_char(code) {
            char::from_u32(code)
        } else {
            None
        }
    }

    /// Character data up to the next `<` (not consumed), references resolved.
    pub fn char_data(&mut self) -> Option<Cow<'a, str>> {
        let mut out: Option<Cow<'a, str>> = None;
        loop {
            let rest = self.rest();
            let run_end = rest.find(['<', '&']).unwrap_or(rest.len());
            let run = rest.get(..run_end)?;
            if !all_chars(run) || run.contains("]]>") {
                return None;
            }
            self.pos += run_end;
            append(&mut out, newlines(run));
            if !self.eat("&") {
                return out;
            }
            let c = self.reference()?;
            out.get_or_insert_with(Cow::default).to_mut().push(c);
        }
    }

    /// A quoted attribute value, normalised as for an attribute of no declared type: each S
    /// character (CR LF as one) becomes a space; references give their character as is.
    pub fn attribute_value(&mut self) -> Option<Cow<'a, str>> {
        let quote = match self.peek()? {
            q @ (b'"' | b'\'') => q as char,
            _ => return None,
        };
        self.pos += 1;
        let mut out: Option<Cow<'a, str>> = None;
        loop {
            let rest = self.rest();
            let run_end = rest.find([quote, '&', '<'])?;
            let run = rest.get(..run_end)?;
            if !all_chars(run) {
                return None;
            }
            self.pos += run_end;
            if run.contains(['\t', '\n', '\r']) {
                let spaced = run.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ");
                append(&mut out, Cow::Owned(spaced));
            } else {
                append(&mut out, Cow::Borrowed(run));
            }
            if self.eat("&") {
                let c = self.reference()?;
                out.get_or_insert_with(Cow::default).to_mut().push(c);
            } else if self.peek()? == quote as u8 {
                self.pos += 1;
                return Some(out.unwrap_or_default());
            } else {
                return None; // `<` in an attribute value
            }
        }
    }

    /// A comment after its `<!--`: its text. `--` may only close it.
    pub fn comment(&mut self) -> Option<Cow<'a, str>> {
        let text = self.until("--")?;
        if !self.eat(">") || !all_chars(text) {
            return None;
        }
        Some(newlines(text))
    }

    /// A CDATA section after its `<![CDATA[`: its text.
    pub fn cdata(&mut self) -> Option<Cow<'a, str>> {
        let text = self.until("]]>")?;
        all_chars(text).then(|| newlines(text))
    }
}

/// Append `piece` to the text gathered so far (borrowed while it is one piece).
pub fn append<'a>(out: &mut Option<Cow<'a, str>>, piece: Cow<'a, str>) {
    if piece.is_empty() {
        return;
    }
    match out {
        None => *out = Some(piece),
        Some(text) => text.to_mut().push_str(&piece),
    }
}

/// The digits of a character reference (at most 8 significant, so it cannot overflow).
fn number(digits: &str, radix: u32) -> Option<u32> {
    let significant = digits.trim_start_matches('0');
    if digits.is_empty() || significant.len() > 8 {
        return None;
    }
    if !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(
        if significant.is_empty() {
            "0"
        } else {
            significant
        },
        radix,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(text: &str) -> Cursor<'_> {
        Cursor { text, pos: 0 }
    }

    fn data(s: &str) -> Option<String> {
        let mut c = cursor(s);
        c.char_data().map(|t| t.into_owned())
    }

    #[test]
    fn text_references_and_line_ends() {
        assert_eq!(
            data("a&lt;b&#65;&#x42;\r\nc\rd<"),
            Some("a<bAB\nc\nd".into())
        );
        assert_eq!(data("&#0;"), None);
        assert_eq!(data("&#xFFFE;"), None);
        assert_eq!(data("&#13;"), Some("\r".into()));
        assert_eq!(data("&nbsp;"), None);
        assert_eq!(data("a]]>b"), None);
        assert_eq!(data("a\u{1}b"), None);
        assert_eq!(data("a\u{FFFF}b"), None);
        assert_eq!(data("&#x110000;"), None);
        assert_eq!(data("&#X41;"), None);
    }

    #[test]
    fn attribute_values_are_normalised() {
        let mut c = cursor("'a\tb\r\nc&#9;d' ");
        assert_eq!(c.attribute_value().as_deref(), Some("a b c\td"));
        let mut c = cursor("\"a<b\"");
        assert_eq!(c.attribute_value(), None);
    }

    #[test]
    fn comments_refuse_double_hyphens() {
        let mut c = cursor(" a - b -->");
        assert_eq!(c.comment().as_deref(), Some(" a - b "));
        for bad in [" a -- b -->", " a --->"] {
            let mut c = cursor(bad);
            assert_eq!(c.comment(), None, "{bad}");
        }
    }
}
