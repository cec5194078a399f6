//! [MC-NBFSE] session strings of one connection direction (`SessionStrings` in decoders/nbfx.py):
//! strings with known ids, and those read after the numbering was lost, never used for lookup.
#![forbid(unsafe_code)]

use crate::error::{at, nowhere, DecodeError, Result};
use crate::reader::mb31;
use crate::text::utf8_or_reason;

pub const MAX_SESSION_STRINGS: usize = 1 << 16;
pub const MAX_SESSION_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Default)]
pub struct SessionStrings {
    pub known: Vec<String>,
    pub unanchored: Vec<String>,
    /// False: the count of strings before the next table is unknown.
    pub anchored: bool,
    /// Bytes of every string table kept.
    pub size: usize,
}

fn offset(pos: Option<usize>) -> i64 {
    pos.map_or(-1, |p| i64::try_from(p).unwrap_or(i64::MAX))
}

impl SessionStrings {
    pub fn new(known_start: bool) -> Self {
        SessionStrings {
            anchored: known_start,
            ..Self::default()
        }
    }

    /// The caller missed envelope bytes of this direction: later tables cannot be numbered.
    pub fn lost(&mut self) {
        self.anchored = false;
    }

    /// Read the MB31-size-prefixed table at `pos`; the position of the document after it and the
    /// number of strings added. All or nothing: a bad table adds nothing and un-anchors.
    pub fn read_table(
        &mut self,
        data: &[u8],
        pos: usize,
        max_bytes: usize,
    ) -> Result<(usize, usize)> {
        match self.parse(data, pos, max_bytes) {
            Ok((table_end, size, strings)) => {
                let added = strings.len();
                if self.anchored {
                    self.known.extend(strings);
                } else {
                    self.unanchored.extend(strings);
                }
                self.size += size;
                Ok((table_end, added))
            }
            Err(e) => {
                self.anchored = false;
                Err(e)
            }
        }
    }

    fn parse(
        &self,
        data: &[u8],
        pos: usize,
        max_bytes: usize,
    ) -> Result<(usize, usize, Vec<String>)> {
        let end = data.len();
        let Some((size, mut pos)) = mb31(data, pos, end)? else {
            return nowhere(
                "nbfx_bad_session_table",
                "envelope ends inside the table size",
            );
        };
        let size = size as usize;
        let table_end = pos.saturating_add(size);
        if table_end > end {
            return at(
                "nbfx_bad_session_table",
                format!("table of {size} bytes exceeds the envelope"),
                pos,
            );
        }
        let mut strings = Vec::new();
        while pos < table_end {
            let read = mb31(data, pos, table_end)?;
            let Some((length, after)) =
                read.filter(|(l, a)| a.saturating_add(*l as usize) <= table_end)
            else {
                return Err(DecodeError {
                    name: "nbfx_bad_session_table",
                    detail: "string runs past the end of the table".into(),
                    offset: Some(offset(read.map(|(_, a)| a))),
                    quoted: None,
                });
            };
            let bytes = data.get(after..after + length as usize).unwrap_or_default();
            match utf8_or_reason(bytes) {
                Ok(s) => strings.push(s.to_owned()),
                Err(reason) => {
                    return at(
                        "nbfx_bad_text",
                        format!("session string is not UTF-8: {reason}"),
                        after,
                    )
                }
            }
            pos = after + length as usize;
        }
        let kept = self.known.len() + self.unanchored.len() + strings.len();
        if kept > MAX_SESSION_STRINGS {
            return at(
                "nbfx_bad_session_table",
                format!("more than {MAX_SESSION_STRINGS} session strings"),
                pos,
            );
        }
        if self.size + size > max_bytes {
            let detail = format!(
                "{} + {size} bytes of strings (limit session_dictionary_size {max_bytes})",
                self.size
            );
            return at("nbfx_session_too_large", detail, pos);
        }
        Ok((table_end, size, strings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"\x08\x03abc\x03def\x56";

    #[test]
    fn a_table_then_the_document() {
        let mut s = SessionStrings::new(true);
        assert_eq!(s.read_table(TABLE, 0, MAX_SESSION_BYTES), Ok((9, 2)));
        assert_eq!(s.known, ["abc", "def"]);
        s.lost();
        assert_eq!(s.read_table(TABLE, 0, MAX_SESSION_BYTES), Ok((9, 2)));
        assert_eq!(s.unanchored.len(), 2);
        assert_eq!(s.size, 16);
    }

    #[test]
    fn every_truncation_adds_nothing_and_unanchors() {
        for cut in 0..9 {
            let mut s = SessionStrings::new(true);
            let r = s.read_table(TABLE.get(..cut).unwrap_or_default(), 0, MAX_SESSION_BYTES);
            assert_eq!(r.map_err(|e| e.name), Err("nbfx_bad_session_table"));
            assert!(s.known.is_empty() && !s.anchored);
        }
        let mut s = SessionStrings::new(true);
        let r = s
            .read_table(b"\x02\x05a", 0, MAX_SESSION_BYTES)
            .map_err(|e| e.offset);
        assert_eq!(r, Err(Some(2)));
        let r = s
            .read_table(b"\x02\x80\x80", 0, MAX_SESSION_BYTES)
            .map_err(|e| e.offset);
        assert_eq!(r, Err(Some(-1)));
        let r = s.read_table(TABLE, 0, 7).map_err(|e| e.name);
        assert_eq!(r, Err("nbfx_session_too_large"));
    }
}
