//! Strings: UTF-8/UTF-16 decoding with CPython's error reasons, Python's `str.strip()`, and the
//! escapes of XML text (XmlUTF8NodeWriter) and JSON strings (as pydantic-core writes them).
#![forbid(unsafe_code)]

use crate::error::{nowhere, Result};
use crate::reader::array;
use std::borrow::Cow;

/// CPython's reason for the first invalid UTF-8 sequence of `data`.
fn utf8_reason(data: &[u8], error: core::str::Utf8Error) -> &'static str {
    let first = data.get(error.valid_up_to()).copied().unwrap_or(0);
    if (0x80..=0xC1).contains(&first) || first >= 0xF5 {
        "invalid start byte"
    } else if error.error_len().is_none() {
        "unexpected end of data"
    } else {
        "invalid continuation byte"
    }
}

/// `data` as UTF-8, or nbfx_bad_text as `bytes.decode("utf-8")` would fail.
pub fn utf8(data: &[u8]) -> Result<&str> {
    core::str::from_utf8(data).or_else(|e| {
        nowhere(
            "nbfx_bad_text",
            format!("invalid utf-8 in a string: {}", utf8_reason(data, e)),
        )
    })
}

/// The reason alone (for messages that word it their own way).
pub fn utf8_or_reason(data: &[u8]) -> core::result::Result<&str, &'static str> {
    core::str::from_utf8(data).map_err(|e| utf8_reason(data, e))
}

/// `data` (even length) as UTF-16-LE, or nbfx_bad_text with CPython's reason.
pub fn utf16le(data: &[u8]) -> Result<String> {
    let units = data.chunks_exact(2).map(|pair| {
        u16::from_le_bytes([
            pair.first().copied().unwrap_or(0),
            pair.get(1).copied().unwrap_or(0),
        ])
    });
    let mut out = String::with_capacity(data.len() / 2);
    let mut units = units.peekable();
    while let Some(unit) = units.next() {
        let reason = match unit {
            0xD800..=0xDBFF => match units.peek().copied() {
                None => "unexpected end of data",
                Some(low @ 0xDC00..=0xDFFF) => {
                    units.next();
                    let c =
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    continue;
                }
                Some(_) => "illegal UTF-16 surrogate",
            },
            0xDC00..=0xDFFF => "illegal encoding",
            _ => {
                out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'));
                continue;
            }
        };
        return nowhere(
            "nbfx_bad_text",
            format!("invalid utf-16-le in a string: {reason}"),
        );
    }
    Ok(out)
}

/// Python's `str.isspace()`.
#[inline]
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

fn entity(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '"' => out.push_str("&quot;"),
        _ => out.push_str(&format!("&#x{:X};", u32::from(c))),
    }
}

/// Element text as XmlUTF8NodeWriter escapes it.
pub fn escape_text(s: &str, out: &mut String) {
    let special = |c: char| matches!(c, '\0'..='\u{8}' | '\u{b}'..='\u{1f}' | '&' | '<' | '>' | '\u{fffe}' | '\u{ffff}');
    escape_with(s, out, special);
}

/// An attribute value as XmlUTF8NodeWriter escapes it.
pub fn escape_attribute(s: &str, out: &mut String) {
    let special = |c: char| {
        matches!(
            c,
            '\0'..='\u{1f}' | '"' | '&' | '<' | '>' | '\u{fffe}' | '\u{ffff}'
        )
    };
    escape_with(s, out, special);
}

fn escape_with(s: &str, out: &mut String, special: impl Fn(char) -> bool) {
    let mut rest = s;
    while let Some((i, c)) = rest.char_indices().find(|&(_, c)| special(c)) {
        out.push_str(rest.get(..i).unwrap_or_default());
        entity(out, c);
        rest = rest.get(i + c.len_utf8()..).unwrap_or_default();
    }
    out.push_str(rest);
}

/// Whether any byte of `bytes` is `"`, `\\` or a control character, eight bytes at a time: most
/// strings are short names and values that need no escape, and a byte loop (or a vectorized one,
/// with its set-up) cost more than the copy.
fn needs_json_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // nonzero high bits exactly when some byte of `x` is below `n` (n <= 0x80), or equals `b`
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x;
    let equal = |x: u64, b: u8| below(x ^ (ONES * u64::from(b)), 1);
    let special = |x: u64| (below(x, 0x20) | equal(x, b'"') | equal(x, b'\\')) & HIGH != 0;
    let n = bytes.len();
    // a missing piece reads as spaces, which need no escape (never for the lengths below)
    let word = |w: Option<[u8; 8]>| u64::from_le_bytes(w.unwrap_or([b' '; 8]));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            array::<4>(bytes, at).unwrap_or([b' '; 4]),
        ))
    };
    let one = |at: usize| u64::from(bytes.get(at).copied().unwrap_or(b' '));
    match n {
        0 => false,
        // the first, middle and last bytes are all of them; the rest of the word is spaces
        1..=3 => special(one(0) | one(n / 2) << 8 | one(n - 1) << 16 | (ONES * 0x20) << 24),
        // two halves, overlapping: no partial word to assemble
        4..=7 => special(half(0) | half(n - 4) << 32),
        _ => {
            let mut words = bytes.chunks_exact(8);
            // then the last eight bytes again, overlapping
            words.any(|w| special(word(w.try_into().ok()))) || special(word(array(bytes, n - 8)))
        }
    }
}

/// A JSON string literal: `"` `\` and control characters escaped, the rest as is.
pub fn json_string(s: &str, out: &mut String) {
    if needs_json_escape(s.as_bytes()) {
        return json_escaped(s, out);
    }
    out.reserve(s.len() + 2);
    out.push('"');
    out.push_str(s);
    out.push('"');
}

/// `json_string` of a string that has something to escape: rare, so out of the hot path.
#[cold]
#[inline(never)]
fn json_escaped(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Cow<'static, str> = match b {
            b'"' => "\\\"".into(),
            b'\\' => "\\\\".into(),
            b'\n' => "\\n".into(),
            b'\r' => "\\r".into(),
            b'\t' => "\\t".into(),
            0x08 => "\\b".into(),
            0x0C => "\\f".into(),
            0..=0x1F => format!("\\u{b:04x}").into(),
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        out.push_str(&escape);
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_reasons_as_cpython() {
        let reason = |b: &[u8]| utf8(b).map(str::to_owned).map_err(|e| e.detail);
        assert_eq!(
            reason(b"\xe0\x80"),
            Err("invalid utf-8 in a string: invalid continuation byte".into())
        );
        assert_eq!(
            reason(b"\xc3"),
            Err("invalid utf-8 in a string: unexpected end of data".into())
        );
        assert_eq!(
            reason(b"\xc0\x80"),
            Err("invalid utf-8 in a string: invalid start byte".into())
        );
        assert_eq!(
            reason(b"\xed\xa0\x80"),
            Err("invalid utf-8 in a string: invalid continuation byte".into())
        );
        assert_eq!(reason(b"ok"), Ok("ok".to_owned()));
    }

    #[test]
    fn utf16_reasons_as_cpython() {
        let reason = |b: &[u8]| utf16le(b).map_err(|e| e.detail);
        assert_eq!(
            reason(b"\x00\xd8"),
            Err("invalid utf-16-le in a string: unexpected end of data".into())
        );
        assert_eq!(
            reason(b"\x00\xdc"),
            Err("invalid utf-16-le in a string: illegal encoding".into())
        );
        assert_eq!(
            reason(b"\x00\xd8A\x00"),
            Err("invalid utf-16-le in a string: illegal UTF-16 surrogate".into())
        );
        assert_eq!(reason(b"A\x00\x3d\xd8\x00\xde"), Ok("A\u{1f600}".into()));
    }

    #[test]
    fn escapes() {
        let mut out = String::new();
        escape_text("a<b>&\"\t\n\r\u{1}\u{fffe}", &mut out);
        assert_eq!(out, "a&lt;b&gt;&amp;\"\t\n&#xD;&#x1;&#xFFFE;");
        out.clear();
        escape_attribute("\"\t", &mut out);
        assert_eq!(out, "&quot;&#x9;");
        out.clear();
        json_string("é\u{1}\"\\\n\u{7f}", &mut out);
        assert_eq!(out, "\"é\\u0001\\\"\\\\\\n\u{7f}\"");
        // the word scan: every special byte at every place of a word and of the remainder
        for len in 1..20 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1F] {
                    let mut text = vec![b'a'; len];
                    if let Some(b) = text.get_mut(at) {
                        *b = special;
                    }
                    assert!(needs_json_escape(&text), "{len} {at} {special}");
                }
            }
            // neighbours of the special bytes, and bytes with the high bit set
            let others = [b' ', b'!', b'#', b'[', b']', 0x7F, 0x80, 0xA2, 0xDC, 0xFF];
            let plain: Vec<u8> = others.iter().copied().cycle().skip(len).take(len).collect();
            assert!(!needs_json_escape(&plain), "{len}");
        }
        assert_eq!(py_strip("\u{1c} a \u{a0}"), "a");
    }
}
