//! HTTP/1.1 message framing (RFC 9112 §2-§7) of the iikoRMS link, as h11 0.16 reads it: a request
//! or a status-line head at the start of a buffer, its header list (names lowercased, values
//! stripped of SP/HTAB) and its body (Content-Length, chunked, or none for HEAD/204/304). Only the
//! common well-formed shape is read here: CRLF line ends, HTTP/1.1, a keep-alive message, one
//! Content-Length or `Transfer-Encoding: chunked`. Anything h11 might read another way or refuse
//! (bare LF, obs-fold, another version, `Connection: close`, Upgrade, CONNECT, 1xx, a response
//! framed by the connection close, duplicate framing headers, a head over h11's 16 KiB) is
//! `NotMine`, and decoders/http.py hands it to h11, so every anomaly keeps h11's own text.
#![forbid(unsafe_code)]

use crate::http_chunked::chunked;
use std::borrow::Cow;

/// h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE: a longer head is left to h11.
pub const MAX_HEAD: usize = 16 * 1024;

/// What the framer answers for the bytes at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// A whole message, well-formed as h11 reads it.
    Complete(T),
    /// Well-formed so far, not complete in this buffer.
    NeedMore,
    /// Not certain h11 would read it the same way: h11's to decide.
    NotMine,
}

pub use Outcome::{Complete, NeedMore, NotMine};

/// One header field: the name lowercased (h11's), the value as on the wire, stripped.
pub type Field<'a> = (String, Cow<'a, [u8]>);

/// A complete message: its start line's fields, headers, body (de-chunked) and end offset.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Request: (method, target); response: (status code, reason).
    pub start: StartLine<'a>,
    pub headers: Vec<Field<'a>>,
    pub body: Cow<'a, [u8]>,
    pub end: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: &'a [u8], target: &'a [u8] },
    Status { code: usize, reason: &'a [u8] },
}

/// How the body is delimited (h11's `_body_framing`, minus the until-close case).
enum Framing {
    Length(usize),
    Chunked,
}

/// RFC 9110 §5.6.2 tchar, h11's `token`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// h11's `field_vchar` (`[^\x00\s]`) or the SP/HTAB allowed between such bytes in a value.
fn is_value_byte(b: u8) -> bool {
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

/// The request line `method SP target SP HTTP/1.1`, h11's `request_line` with version 1.1 only.
fn request_line(text: &[u8]) -> Option<StartLine<'_>> {
    let rest = text.strip_suffix(b" HTTP/1.1")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let (method, target) = (rest.get(..space)?, rest.get(space + 1..)?);
    let method_ok = !method.is_empty() && method.iter().all(|&b| is_tchar(b));
    let target_ok = !target.is_empty() && target.iter().all(|&b| (0x21..=0x7e).contains(&b));
    (method_ok && target_ok && method != b"CONNECT")
        .then_some(StartLine::Request { method, target })
}

/// The status line `HTTP/1.1 SP 3DIGIT [SP reason]` of a final (>= 200) response.
fn status_line(text: &[u8]) -> Option<StartLine<'_>> {
    let rest = text.strip_prefix(b"HTTP/1.1 ")?;
    let digits = rest.get(..3)?;
    let code = number(digits, 10)?;
    let reason = match rest.get(3..)? {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return None,
    };
    let reason_ok = reason.iter().all(|&b| is_value_byte(b));
    (code >= 200 && reason_ok).then_some(StartLine::Status { code, reason })
}

/// The framing the headers ask for, or None where h11 might disagree or refuse. `request`: a
/// request needs exactly one Host (h11's RFC 7230 §5.4 check).
fn framing(headers: &mut [Field<'_>], request: bool) -> Option<Option<Framing>> {
    let (mut length, mut chunked, mut hosts) = (None, false, 0);
    for (name, value) in headers.iter_mut() {
        match name.as_str() {
            "content-length" => {
                if length.is_some() {
                    return None;
                }
                length = Some(number(value, 10)?);
            }
            "transfer-encoding" => {
                if chunked || !value.eq_ignore_ascii_case(b"chunked") {
                    return None;
                }
                chunked = true;
                *value = Cow::Borrowed(b"chunked"); // h11 keeps it lowercased
            }
            "host" => hosts += 1,
            "upgrade" => return None,
            "connection" if value.to_ascii_lowercase().windows(5).any(|w| w == b"close") => {
                return None
            }
            _ => {}
        }
    }
    if (request && hosts != 1) || (chunked && length.is_some()) {
        return None;
    }
    Some(match (chunked, length) {
        (true, _) => Some(Framing::Chunked),
        (false, Some(n)) => Some(Framing::Length(n)),
        (false, None) => None,
    })
}

/// A complete request at `pos`.
pub fn request(buf: &[u8], pos: usize) -> Outcome<Message<'_>> {
    message(buf, pos, None)
}

/// A complete response at `pos`, answering a HEAD request if `head`.
pub fn response(buf: &[u8], pos: usize, head: bool) -> Outcome<Message<'_>> {
    message(buf, pos, Some(head))
}

/// `answers_head`: None for a request, Some(whether the request was HEAD) for a response.
fn message(buf: &[u8], pos: usize, answers_head: Option<bool>) -> Outcome<Message<'_>> {
    let (text, after) = match line(buf, pos) {
        Complete(found) => found,
        NeedMore if buf.len().saturating_sub(pos) > MAX_HEAD => return NotMine,
        NeedMore => return NeedMore,
        NotMine => return NotMine,
    };
    let start = match answers_head {
        None => request_line(text),
        Some(_) => status_line(text),
    };
    let Some(start) = start else {
        return NotMine;
    };
    let (mut headers, body_start) = match fields(buf, after, pos) {
        Complete(found) => found,
        NeedMore => return NeedMore,
        NotMine => return NotMine,
    };
    let Some(framing) = framing(&mut headers, answers_head.is_none()) else {
        return NotMine;
    };
    let no_body = match (&start, answers_head) {
        (StartLine::Status { code, .. }, Some(head)) => head || *code == 204 || *code == 304,
        _ => false,
    };
    let framing = match framing {
        _ if no_body => Framing::Length(0),
        Some(f) => f,
        None if answers_head.is_none() => Framing::Length(0),
        None => return NotMine, // a response read until the connection closes
    };
    let (body, end) = match framing {
        Framing::Length(n) => match body_start.checked_add(n) {
            Some(end) if end <= buf.len() => match buf.get(body_start..end) {
                Some(body) => (Cow::Borrowed(body), end),
                None => return NotMine,
            },
            _ => return NeedMore,
        },
        Framing::Chunked => match chunked(buf, body_start) {
            Complete(found) => found,
            NeedMore => return NeedMore,
            NotMine => return NotMine,
        },
    };
    Complete(Message {
        start,
        headers,
        body,
        end,
    })
}
