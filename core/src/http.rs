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
use crate::http_lines::{fields, is_tchar, is_value_byte, line, number};
use std::borrow::Cow;

/// h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE: a longer head is left to h11.
pub const MAX_HEAD: usize = 16 * 1024;

/// h11's CONTENT_LENGTH_MAX_DIGITS: a longer Content-Length (leading zeros too) is refused.
const MAX_LENGTH_DIGITS: usize = 20;

/// What the framer answers for the bytes at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// A message well-formed as h11 reads it (whole, or its Content-Length body cut: `Message::left`).
    Complete(T),
    /// Well-formed so far, not complete in this buffer.
    NeedMore,
    /// Not certain h11 would read it the same way: h11's to decide.
    NotMine,
}

pub use Outcome::{Complete, NeedMore, NotMine};

/// One header field: the name lowercased (h11's), the value as on the wire, stripped.
pub type Field<'a> = (String, Cow<'a, [u8]>);

/// A message: its start line's fields, headers, body (de-chunked) and end offset. A Content-Length
/// body the buffer ends inside of is read as far as it goes, `left` bytes short (h11 too reads a
/// head and the body bytes at hand before it needs more); otherwise `left` is 0.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Request: (method, target); response: (status code, reason).
    pub start: StartLine<'a>,
    pub headers: Vec<Field<'a>>,
    pub body: Cow<'a, [u8]>,
    pub end: usize,
    pub left: usize,
}

/// The fields of a request line or a status line.
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
                if length.is_some() || value.len() > MAX_LENGTH_DIGITS {
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

/// The request at `pos` (complete, or a Content-Length body short by `Message::left`).
pub fn request(buf: &[u8], pos: usize) -> Outcome<Message<'_>> {
    message(buf, pos, None)
}

/// The response at `pos`, answering a HEAD request if `head` (as `request`).
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
    let (body, end, left) = match framing {
        Framing::Length(n) => {
            let end = body_start.saturating_add(n).min(buf.len());
            match buf.get(body_start..end) {
                Some(body) => (Cow::Borrowed(body), end, n.saturating_sub(body.len())),
                None => return NotMine,
            }
        }
        Framing::Chunked => match chunked(buf, body_start) {
            Complete((body, end)) => (body, end, 0),
            NeedMore => return NeedMore,
            NotMine => return NotMine,
        },
    };
    Complete(Message {
        start,
        headers,
        body,
        end,
        left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(outcome: Outcome<Message<'_>>) -> Option<Message<'_>> {
        match outcome {
            Complete(message) => Some(message),
            _ => None,
        }
    }

    fn end(outcome: Outcome<Message<'_>>) -> Option<usize> {
        read(outcome).map(|message| message.end)
    }

    fn cut(bytes: &[u8], at: usize) -> &[u8] {
        bytes.get(..at).unwrap_or_default()
    }

    const GET: &[u8] = b"GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-A:  one two \t\r\nx-a: 3\r\n\r\n";

    #[test]
    fn a_request_head_as_h11_gives_it() {
        let message = read(request(GET, 0));
        let start = StartLine::Request {
            method: b"GET",
            target: b"/a?b=c",
        };
        assert_eq!(message.as_ref().map(|m| &m.start), Some(&start));
        let headers = message
            .as_ref()
            .map(|m| m.headers.clone())
            .unwrap_or_default();
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["host", "x-a", "x-a"]);
        assert_eq!(headers.get(1).map(|h| &*h.1), Some(&b"one two"[..]));
        assert_eq!(message.map(|m| (m.end, m.body.len())), Some((GET.len(), 0)));
    }

    #[test]
    fn every_prefix_needs_more_and_trailing_bytes_stay() {
        for at in 0..GET.len() {
            assert_eq!(request(cut(GET, at), 0), NeedMore, "cut {at}");
        }
        let two = [GET, GET].concat();
        assert_eq!(end(request(&two, 0)), Some(GET.len()));
        assert_eq!(end(request(&two, GET.len())), Some(two.len()));
    }

    #[test]
    fn bodies_by_length_and_no_body_for_head_204_304() {
        let post = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcd";
        let body = |at: usize| {
            read(request(cut(post, at), 0)).map(|m| (m.body.into_owned(), m.end, m.left))
        };
        assert_eq!(body(post.len()), Some((b"abc".to_vec(), post.len() - 1, 0)));
        assert_eq!(
            body(post.len() - 2),
            Some((b"ab".to_vec(), post.len() - 2, 1))
        );
        assert_eq!(body(post.len() - 4), Some((vec![], post.len() - 4, 3))); // the head alone
        assert_eq!(body(post.len() - 5), None);
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(end(response(reply, 0, false)), Some(reply.len()));
        assert_eq!(end(response(reply, 0, true)), Some(reply.len() - 2));
        let empty = b"HTTP/1.1 304\r\nContent-Length: 9\r\n\r\n";
        assert_eq!(end(response(empty, 0, false)), Some(empty.len()));
    }

    #[test]
    fn what_h11_might_read_otherwise_is_not_mine() {
        let cases: [&[u8]; 13] = [
            b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 000000000000000000001\r\n\r\nx",
            b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(
                request(case, 0),
                NotMine,
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
        let switching: &[u8] = b"HTTP/1.1 101 Switching\r\n\r\n";
        for case in [switching, b"HTTP/1.1 200 OK\r\n\r\nuntil close"] {
            assert_eq!(response(case, 0, false), NotMine);
        }
        let long = [
            &b"GET / HTTP/1.1\r\nHost: h\r\nX: "[..],
            &[b'a'; MAX_HEAD],
            b"\r\n\r\n",
        ]
        .concat();
        assert_eq!(request(&long, 0), NotMine);
        assert_eq!(request(cut(&long, MAX_HEAD + 10), 0), NotMine);
    }

    #[test]
    fn no_panic_on_any_cut_or_byte() {
        let reply =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nab\r\n0\r\nT: 1\r\n\r\n";
        for at in 0..reply.len() {
            for byte in [0u8, b'\n', b'\r', b' ', b':', b';', b'f', 0xff] {
                let mut mutant = reply.to_vec();
                if let Some(b) = mutant.get_mut(at) {
                    *b = byte;
                }
                let _ = response(&mutant, 0, false);
                let _ = request(&mutant, at);
                let _ = response(cut(&mutant, at), 0, true);
            }
        }
        assert_eq!(request(b"", 5), NeedMore);
    }
}
