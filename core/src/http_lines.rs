//! The lines of an HTTP/1.1 head as h11 0.16 splits and matches them (RFC 9112 §2.2, §5): CRLF-ended
//! lines (a bare LF, which h11 also takes as a line end, is left to h11), `name: value` fields with
//! h11's token and field-value rules, and the numbers of Content-Length and chunk sizes.
#![forbid(unsafe_code)]

use crate::http::{Complete, Field, NeedMore, NotMine, Outcome, MAX_HEAD};
use std::borrow::Cow;

/// RFC 9110 §5.6.2 tchar, h11's `token`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// h11's `field_vchar` (`[^\x00\s]`) or the SP/HTAB allowed between such bytes in a value.
pub(crate) fn is_value_byte(b: u8) -> bool {
    !matches!(b, 0x00 | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The CRLF-terminated line at `pos`: (line, position after its CRLF). NeedMore without a line
/// end; NotMine for a bare LF (h11 splits on LF alone, where this reader would not).
pub(crate) fn line(buf: &[u8], pos: usize) -> Outcome<(&[u8], usize)> {
    let rest = buf.get(pos..).unwrap_or_default();
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        return NeedMore;
    };
    match lf
        .checked_sub(1)
        .and_then(|cr| rest.get(..cr).zip(rest.get(cr)))
    {
        Some((text, b'\r')) => Complete((text, pos + lf + 1)),
        _ => NotMine,
    }
}

/// `name: value` as h11's `header_field` regex reads it, or None.
pub(crate) fn field(text: &[u8]) -> Option<Field<'_>> {
    let colon = text.iter().position(|&b| b == b':')?;
    let (name, value) = (text.get(..colon)?, text.get(colon + 1..)?);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let value = trim_ows(value);
    if !value.iter().all(|&b| is_value_byte(b)) {
        return None;
    }
    let name = name
        .iter()
        .map(|&b| char::from(b.to_ascii_lowercase()))
        .collect();
    Some((name, Cow::Borrowed(value)))
}

/// `text` without SP and HTAB (h11's OWS) at either end.
fn trim_ows(text: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = text.iter().position(|b| !ows(b)).unwrap_or(text.len());
    let end = text.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    text.get(start..end).unwrap_or_default()
}

/// The value of 1+ ASCII digits in `radix` (10 or 16), None for any other byte or on overflow.
pub(crate) fn number(digits: &[u8], radix: u32) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &d| {
        let digit = char::from(d).to_digit(radix)?;
        n.checked_mul(radix as usize)?.checked_add(digit as usize)
    })
}

/// The header lines from `pos` to the blank line: (fields, position after the blank line).
/// The whole block (with what precedes it from `head_start`) must fit in MAX_HEAD.
pub(crate) fn fields(
    buf: &[u8],
    mut pos: usize,
    head_start: usize,
) -> Outcome<(Vec<Field<'_>>, usize)> {
    let mut out = Vec::new();
    loop {
        let (text, next) = match line(buf, pos) {
            Complete(found) => found,
            NeedMore if buf.len().saturating_sub(head_start) > MAX_HEAD => return NotMine,
            NeedMore => return NeedMore,
            NotMine => return NotMine,
        };
        if next - head_start > MAX_HEAD {
            return NotMine;
        }
        if text.is_empty() {
            return Complete((out, next));
        }
        match field(text) {
            Some(f) => out.push(f),
            None => return NotMine, // obs-fold, no colon, a bad name or value byte
        }
        pos = next;
    }
}
