//! The chunked transfer coding (RFC 9112 §7.1) as h11 0.16's `ChunkedReader` reads it: a chunk
//! size of 1-20 hex digits, an extension after `;` (skipped), SP/HTAB before the CRLF, the data,
//! its CRLF, and after the last (zero) chunk the trailer fields up to a blank line. Trailers are
//! read as header lines are (`http::fields`); one naming a framing header, which h11 validates
//! again, is left to h11.
#![forbid(unsafe_code)]

use crate::http::{Complete, NeedMore, NotMine, Outcome};
use crate::http_lines::{fields, line, number};
use std::borrow::Cow;

/// h11's `chunk_size` allows at most 20 hex digits.
const MAX_SIZE_DIGITS: usize = 20;

/// The size of the chunk header line `text`, or None if h11's `chunk_header` would refuse it.
fn chunk_size(text: &[u8]) -> Option<usize> {
    let digits = text.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits > MAX_SIZE_DIGITS {
        return None;
    }
    let size = number(text.get(..digits)?, 16)?;
    let after = text.get(digits..)?;
    let valid = match after.first() {
        Some(b';') => !after.contains(&b'\n'), // `;.*`: any byte but LF
        _ => after.iter().all(|&b| b == b' ' || b == b'\t'),
    };
    valid.then_some(size)
}

/// The de-chunked body starting at `pos`, and the position after its trailers.
pub fn chunked(buf: &[u8], mut pos: usize) -> Outcome<(Cow<'_, [u8]>, usize)> {
    let mut body: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    loop {
        let (text, data_start) = match line(buf, pos) {
            Complete(found) => found,
            NeedMore => return NeedMore,
            NotMine => return NotMine,
        };
        let Some(size) = chunk_size(text) else {
            return NotMine;
        };
        if size == 0 {
            return match trailers(buf, data_start) {
                Complete(end) => Complete((body, end)),
                NeedMore => NeedMore,
                NotMine => NotMine,
            };
        }
        let Some(data_end) = data_start.checked_add(size) else {
            return NotMine;
        };
        let Some(data) = buf.get(data_start..data_end) else {
            return NeedMore;
        };
        let crlf = buf.get(data_end..).unwrap_or_default();
        if !crlf.starts_with(b"\r\n") {
            return if b"\r\n".starts_with(crlf) {
                NeedMore
            } else {
                NotMine
            };
        }
        if body.is_empty() {
            body = Cow::Borrowed(data);
        } else {
            body.to_mut().extend_from_slice(data);
        }
        pos = data_end + 2;
    }
}

/// After the zero chunk: CRLF, or trailer fields and a blank line. The position after them.
fn trailers(buf: &[u8], pos: usize) -> Outcome<usize> {
    match fields(buf, pos, pos) {
        Complete((fields, end)) => {
            let framing = |name: &str| name == "content-length" || name == "transfer-encoding";
            if fields.iter().any(|(name, _)| framing(name)) {
                NotMine
            } else {
                Complete(end)
            }
        }
        NeedMore => NeedMore,
        NotMine => NotMine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_extensions_whitespace_and_trailers() {
        let body = b"3;name=value\r\nabc\r\n2 \t\r\nde\r\n00\r\nTrailer: x\r\n\r\nnext";
        let read = match chunked(body, 0) {
            Complete((data, end)) => Some((data.into_owned(), end)),
            _ => None,
        };
        assert_eq!(read, Some((b"abcde".to_vec(), body.len() - 4)));
        assert_eq!(
            chunked(b"0\r\n\r\n", 0),
            Complete((Cow::Borrowed(&b""[..]), 5))
        );
    }

    #[test]
    fn h11_refusals_and_its_bare_lf_are_not_mine() {
        let cases: [&[u8]; 7] = [
            b"3 ;x\r\nabc\r\n0\r\n\r\n",
            b"3;a\nb\r\nabc\r\n0\r\n\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"0\r\n\n",
            b"0\r\nContent-Length: 1\r\n\r\n",
            b"000000000000000000001\r\na\r\n0\r\n\r\n",
            b"g\r\n",
        ];
        for case in cases {
            assert_eq!(
                chunked(case, 0),
                NotMine,
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
        assert_eq!(chunk_size(b"ffffffffffffffffffff"), None); // 20 digits, over usize
    }

    #[test]
    fn every_prefix_needs_more() {
        let body = b"3;e\r\nabc\r\n0\r\nT: v\r\n\r\n";
        for at in 0..body.len() {
            let prefix = body.get(..at).unwrap_or_default();
            assert_eq!(chunked(prefix, 0), NeedMore, "cut {at}");
        }
    }
}
