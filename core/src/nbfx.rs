//! [MC-NBFX] records: the primitives and the text records (2.2.3), one document per call; the
//! structure (elements, attributes, arrays, the record loop) is in `structure`. Same results, same
//! errors (name, detail, offset) as decoders/nbfx.py's `_Decoder`.
#![forbid(unsafe_code)]

use crate::dictionary;
use crate::error::{at, Result};
use crate::format;
use crate::reader::{array, byte, mb31};
use crate::text::{utf16le, utf8};
use crate::tree::{Leaf, Str, Val};
use std::borrow::Cow;

/// Open elements: the pure-Python reference's default (decoders/nbfx.py), so that a caller of either
/// that gives no limit gets the same answer.
pub const MAX_DEPTH: usize = 100;
pub const MAX_ATTRIBUTES: usize = 512;
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;
pub const MAX_ARRAY_ITEMS: u32 = 1 << 20;
pub const MAX_LIST_ITEMS: usize = 1 << 16;
pub const MAX_ELEMENTS: usize = 1 << 20;

pub(crate) const LETTERS: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "w", "x", "y", "z",
];

/// Prefix letter `i` (0 = "a"); the caller keeps `i` below 26.
pub(crate) fn letter(i: u8) -> &'static str {
    LETTERS.get(usize::from(i)).copied().unwrap_or("?")
}

/// One document decode: the payload, the session strings with known ids, the unresolved count.
pub struct Decoder<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) end: usize,
    pub(crate) session: &'a [String],
    pub(crate) unresolved: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8], session: &'a [String]) -> Self {
        Decoder {
            data,
            end: data.len(),
            session,
            unresolved: 0,
        }
    }

    // -- primitives --

    pub(crate) fn byte_at(&self, pos: usize) -> Option<u8> {
        byte(self.data, pos)
    }

    pub(crate) fn need(&self, pos: usize, size: usize) -> Result<usize> {
        let end = pos.saturating_add(size);
        if end > self.end {
            let left = i128::try_from(self.end).unwrap_or(0) - i128::try_from(pos).unwrap_or(0);
            return at(
                "nbfx_truncated",
                format!("record needs {size} bytes, {left} left"),
                pos,
            );
        }
        Ok(end)
    }

    #[inline(always)]
    fn fixed<const N: usize>(&self, pos: usize) -> Result<([u8; N], usize)> {
        let end = self.need(pos, N)?;
        match array::<N>(self.data, pos) {
            Some(raw) => Ok((raw, end)),
            None => at("nbfx_truncated", format!("record needs {N} bytes"), pos),
        }
    }

    pub(crate) fn mb31(&self, pos: usize) -> Result<(usize, usize)> {
        match mb31(self.data, pos, self.end)? {
            Some((v, after)) => Ok((v as usize, after)),
            None => at("nbfx_truncated", "document ends inside a length", pos),
        }
    }

    /// [MC-NBFX] 2.1.3 String: MB31 byte count + UTF-8.
    #[inline(always)]
    pub(crate) fn string(&self, pos: usize) -> Result<(Str<'a>, usize)> {
        self.payload_str(pos)
            .map(|(s, end)| (Cow::Borrowed(s), end))
    }

    /// A String, always a slice of the payload.
    #[inline(always)]
    pub(crate) fn payload_str(&self, pos: usize) -> Result<(&'a str, usize)> {
        let Some(n) = self.byte_at(pos) else {
            return at("nbfx_truncated", "document ends before a string", pos);
        };
        let (n, pos) = if n < 0x80 {
            (usize::from(n), pos + 1)
        } else {
            self.mb31(pos)?
        };
        let end = pos + n;
        if end > self.end {
            return at(
                "nbfx_truncated",
                format!("string of {n} bytes runs past the end"),
                pos,
            );
        }
        let data: &'a [u8] = self.data;
        Ok((utf8(data.get(pos..end).unwrap_or_default())?, end))
    }

    /// [MC-NBFX] 2.1.4 DictionaryString: MB31 id, even = static, odd = session.
    #[inline(always)]
    pub(crate) fn dictionary_string(&mut self, pos: usize) -> Result<(Str<'a>, usize)> {
        let Some(key) = self.byte_at(pos) else {
            return at(
                "nbfx_truncated",
                "document ends before a dictionary string",
                pos,
            );
        };
        let (key, pos) = if key < 0x80 {
            (usize::from(key), pos + 1)
        } else {
            self.mb31(pos)?
        };
        if key & 1 == 0 {
            return match dictionary::table().get(key >> 1) {
                Some(s) => Ok((Cow::Borrowed(s), pos)),
                None => at(
                    "nbfx_bad_dictionary_id",
                    format!("static id {key} beyond [MC-NBFS]"),
                    pos,
                ),
            };
        }
        let session: &'a [String] = self.session;
        if let Some(s) = session.get(key >> 1) {
            return Ok((Cow::Borrowed(s.as_str()), pos));
        }
        self.unresolved += 1;
        Ok((Cow::Owned(format!("session:{key}")), pos))
    }

    // -- text records --

    /// (start, end) of a payload prefixed by an N-byte length (unsigned for 1 and 2, signed for 4).
    fn sized(&self, pos: usize, width: usize) -> Result<(usize, usize)> {
        let start = self.need(pos, width)?;
        let length: i64 = match width {
            1 => i64::from(self.byte_at(pos).unwrap_or(0)),
            2 => i64::from(u16::from_le_bytes(self.fixed::<2>(pos)?.0)),
            _ => i64::from(i32::from_le_bytes(self.fixed::<4>(pos)?.0)),
        };
        if length < 0 {
            return at("nbfx_bad_value", format!("negative length {length}"), pos);
        }
        Ok((
            start,
            self.need(start, usize::try_from(length).unwrap_or(usize::MAX))?,
        ))
    }

    fn bytes_between(&self, start: usize, end: usize) -> &'a [u8] {
        let data: &'a [u8] = self.data;
        data.get(start..end).unwrap_or_default()
    }

    /// The text record `record` (even: without the end-element bit) at `pos`, after its type byte.
    /// None if `record` is not a text record this decoder reads.
    #[inline(always)]
    pub(crate) fn text(&mut self, record: u8, pos: usize) -> Option<Result<(Leaf<'a>, usize)>> {
        self.text_with(record, pos, |leaf| leaf)
    }

    /// `text`, its leaf handed to `emit` where it is made: the record loop appends it to the tape
    /// right there, rather than through a stack copy of the whole result.
    #[inline(always)]
    pub(crate) fn text_with<T>(
        &mut self,
        record: u8,
        pos: usize,
        emit: impl FnOnce(Leaf<'a>) -> T,
    ) -> Option<Result<(T, usize)>> {
        let leaf = |l: Leaf<'a>, end: usize| (emit(l), end);
        Some(match record {
            0x80 => Ok(leaf(Leaf::Typed(Val::Int(0)), pos)),
            0x82 => Ok(leaf(Leaf::Typed(Val::Int(1)), pos)),
            0x84 => Ok(leaf(Leaf::Typed(Val::Bool(false)), pos)),
            0x86 => Ok(leaf(Leaf::Typed(Val::Bool(true)), pos)),
            0x88 => self.fixed::<1>(pos).map(|(raw, end)| {
                leaf(
                    Leaf::Typed(Val::Int(i64::from(i8::from_le_bytes(raw)))),
                    end,
                )
            }),
            0x8A => self.fixed::<2>(pos).map(|(raw, end)| {
                leaf(
                    Leaf::Typed(Val::Int(i64::from(i16::from_le_bytes(raw)))),
                    end,
                )
            }),
            0x8C => self.fixed::<4>(pos).map(|(raw, end)| {
                leaf(
                    Leaf::Typed(Val::Int(i64::from(i32::from_le_bytes(raw)))),
                    end,
                )
            }),
            0x8E => self
                .fixed::<8>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::Int(i64::from_le_bytes(raw))), end)),
            0xB2 => self
                .fixed::<8>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::UInt(u64::from_le_bytes(raw))), end)),
            0x90 => self
                .fixed::<4>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::Single(f32::from_le_bytes(raw))), end)),
            0x92 => self
                .fixed::<8>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::Double(f64::from_le_bytes(raw))), end)),
            0x94 => self.fixed::<16>(pos).and_then(|(raw, end)| {
                format::check_decimal(&raw)?;
                Ok(leaf(Leaf::Typed(Val::Decimal(raw)), end))
            }),
            0x96 => self.fixed::<8>(pos).and_then(|(raw, end)| {
                let raw = u64::from_le_bytes(raw);
                format::check_datetime(raw)?;
                Ok(leaf(Leaf::Typed(Val::DateTime(raw)), end))
            }),
            0xAE => self
                .fixed::<8>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::TimeSpan(i64::from_le_bytes(raw))), end)),
            0xB0 => self
                .fixed::<16>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::Guid(raw)), end)),
            0xAC => self
                .fixed::<16>(pos)
                .map(|(raw, end)| leaf(Leaf::Typed(Val::UniqueId(raw)), end)),
            0xB4 => self.fixed::<1>(pos).and_then(|([b], end)| {
                if b > 1 {
                    return at(
                        "nbfx_bad_value",
                        format!("BoolText byte 0x{b:02x} is neither 0 nor 1"),
                        pos,
                    );
                }
                Ok(leaf(Leaf::Typed(Val::Bool(b == 1)), end))
            }),
            0x98 | 0x9A | 0x9C => {
                let width = [1, 2, 4]
                    .get(usize::from((record - 0x98) / 2))
                    .copied()
                    .unwrap_or(4);
                self.sized(pos, width).and_then(|(start, end)| {
                    Ok(leaf(
                        Leaf::Plain(Cow::Borrowed(utf8(self.bytes_between(start, end))?)),
                        end,
                    ))
                })
            }
            0x9E | 0xA0 | 0xA2 => {
                let width = [1, 2, 4]
                    .get(usize::from((record - 0x9E) / 2))
                    .copied()
                    .unwrap_or(4);
                self.sized(pos, width).map(|(start, end)| {
                    leaf(Leaf::Typed(Val::Bytes(self.bytes_between(start, end))), end)
                })
            }
            0xB6 | 0xB8 | 0xBA => {
                let width = [1, 2, 4]
                    .get(usize::from((record - 0xB6) / 2))
                    .copied()
                    .unwrap_or(4);
                self.sized(pos, width).and_then(|(start, end)| {
                    if (end - start) & 1 == 1 {
                        return at("nbfx_bad_text", "UTF-16 text of odd byte length", pos);
                    }
                    Ok(leaf(
                        Leaf::Plain(Cow::Owned(utf16le(self.bytes_between(start, end))?)),
                        end,
                    ))
                })
            }
            0xA4 => self.list(pos).map(|(l, end)| leaf(l, end)),
            0xA8 => Ok(leaf(Leaf::Plain(Cow::Borrowed("")), pos)),
            0xAA => self
                .dictionary_string(pos)
                .map(|(s, end)| leaf(Leaf::Plain(s), end)),
            0xBC => self.qname(pos).map(|(l, end)| leaf(l, end)),
            _ => return None,
        })
    }

    /// QNameDictionaryText: prefix byte 0-25 (a-z) + dictionary string.
    fn qname(&mut self, pos: usize) -> Result<(Leaf<'a>, usize)> {
        self.need(pos, 1)?;
        let prefix = self.byte_at(pos).unwrap_or(0);
        if prefix > 25 {
            return at(
                "nbfx_bad_value",
                format!("QName prefix index {prefix} beyond 'z'"),
                pos,
            );
        }
        let (name, end) = self.dictionary_string(pos + 1)?;
        Ok((Leaf::Typed(Val::QName(prefix, name)), end))
    }

    /// StartListText … EndListText: items rendered space-separated.
    fn list(&mut self, mut pos: usize) -> Result<(Leaf<'a>, usize)> {
        let mut items: Vec<Leaf<'a>> = Vec::new();
        loop {
            let Some(record) = self.byte_at(pos).filter(|_| pos < self.end) else {
                return at("nbfx_truncated", "document ends inside a list", pos);
            };
            if record == 0xA6 {
                return Ok((Leaf::Typed(Val::List(items)), pos + 1));
            }
            if record == 0xA4 || !is_text_reader(record) {
                return at(
                    "nbfx_unknown_record",
                    format!("record 0x{record:02x} inside a list"),
                    pos,
                );
            }
            if items.len() >= MAX_LIST_ITEMS {
                return at(
                    "nbfx_list_too_long",
                    format!("more than {MAX_LIST_ITEMS} list items"),
                    pos,
                );
            }
            let (leaf, after) = match self.text(record, pos + 1) {
                Some(r) => r?,
                None => {
                    return at(
                        "nbfx_unknown_record",
                        format!("record 0x{record:02x} inside a list"),
                        pos,
                    )
                }
            };
            items.push(leaf);
            pos = after;
        }
    }
}

/// Whether `record` is a key of Python's `text_readers` (even text records but EndListText 0xA6).
pub(crate) fn is_text_reader(record: u8) -> bool {
    record & 1 == 0 && (0x80..=0xBC).contains(&record) && record != 0xA6
}

#[cfg(test)]
#[path = "nbfx_tests.rs"]
mod tests;
