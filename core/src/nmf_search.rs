//! [MC-NMF] mid-session envelope search (2.2.3.5), the scanning loop of decoders/nmf_search.py.
//!
//! A capture that starts inside a session, a gap or a bad record leaves a direction without record
//! boundaries: it is scanned for the next SizedEnvelope that looks like one (`envelope_start`, shared
//! with detection) and whose buffered start does not already fail to decode (`refuted`). `find`
//! walks the candidates of a chunk and stops at the first one Python must decide on: a whole envelope
//! to decode (with the direction's session strings), a candidate that needs more bytes, or the point
//! where an unconfirmed search passes its limit. Events, anomalies, accounting and the give-up policy
//! stay in Python. Nothing here raises, allocates beyond a bounded prefix, or panics.
#![forbid(unsafe_code)]

use crate::nmf::record::SIZED_ENVELOPE;
use crate::reader::{byte, mb31};
use crate::structure::{decode, Limits};

/// Largest envelope the search and detection consider (decoders/nmf_search.py `MAX_ENVELOPE`).
pub const MAX_ENVELOPE: usize = 64 << 20;
/// Smallest plausible binary envelope: table length, element, name, end.
pub const MIN_ENVELOPE: usize = 4;
/// Bytes of a waiting candidate's document decoded to refute it early (`PREFIX_CHECK`).
pub const PREFIX_CHECK: usize = 4096;
/// Nesting limit of that decode: the default, decoders/nbfx.py's.
const PREFIX_DEPTH: usize = crate::nbfx::MAX_DEPTH;
/// [MC-NBFX] 2.2.3.1-2.2.3.8: element records; a document starts with one.
const ELEMENTS: std::ops::RangeInclusive<u8> = 0x40..=0x77;
/// What a text envelope may start with: `<` or the first byte of a UTF-8 / UTF-16 byte order mark.
const TEXT_STARTS: [u8; 4] = [b'<', 0xEF, 0xFE, 0xFF];
/// Bytes that may fail to decode in a string of the table (a character cut at the chunk's end).
const CUT_CHARACTER: usize = 3;

/// How a direction's envelopes are encoded (decoders/nmf_codecs.py `Codec.family`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    BinarySession,
    Binary,
    /// Text, MTOM or unknown: the search only asks for a markup start.
    Other,
}

impl Family {
    pub fn from_name(name: &str) -> Family {
        match name {
            "binary-session" => Family::BinarySession,
            "binary" => Family::Binary,
            _ => Family::Other,
        }
    }
}

/// What `find` stopped at; offsets are stream offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// A plausible SizedEnvelope, all of it in the chunk: its record, payload offset and size.
    Whole {
        offset: usize,
        payload: usize,
        size: usize,
    },
    /// More bytes are needed to judge or complete the candidate at `offset`: search again from there.
    /// `until`: the stream offset its envelope ends at, when nothing before it can change the verdict
    /// (the search need not run again until the bytes are there).
    Wait { offset: usize, until: Option<usize> },
    /// The next candidate at `offset` lies past the search's limit.
    Limit { offset: usize },
    /// No candidate left; `offset` is the chunk's end.
    End { offset: usize },
}

/// Where one search call starts and what bounds it.
#[derive(Clone, Copy, Debug)]
pub struct Search<'a> {
    pub family: Family,
    /// The largest envelope size a candidate may declare.
    pub max_envelope: usize,
    /// The most bytes (record to payload end) held while unsure a candidate is an envelope.
    pub max_scan: usize,
    /// The last stream offset a candidate may start at (an unconfirmed direction's limit).
    pub limit: usize,
    /// Stream offset of the candidate whose buffered start was last decoded, if any.
    pub prefix_checked: Option<usize>,
    pub chunk: &'a [u8],
    /// Stream offset of `chunk[0]`.
    pub base: usize,
    /// Index in `chunk` to search from.
    pub from: usize,
}

fn element(b: u8) -> bool {
    ELEMENTS.contains(&b)
}

/// A MB31 at `pos` read up to `end`: Err(()) if invalid, Ok(None) if cut.
fn size_at(head: &[u8], pos: usize, end: usize) -> Result<Option<(usize, usize)>, ()> {
    match mb31(head, pos, end) {
        Ok(Some((value, next))) => Ok(usize::try_from(value).ok().map(|v| (v, next))),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

/// Valid UTF-8 but for at most a few bytes (a character cut at the end), none a control character:
/// decoders/nmf_search.py `_printable` (Python's decoder drops the same maximal invalid subparts).
fn printable(chunk: &[u8]) -> bool {
    let mut dropped = 0usize;
    for piece in chunk.utf8_chunks() {
        dropped = dropped.saturating_add(piece.invalid().len());
        if piece.valid().chars().any(|c| c < ' ') {
            return false;
        }
    }
    dropped <= CUT_CHARACTER
}

/// Does `head[pos..]` look like a SizedEnvelope of `family`? None: too few bytes to tell.
/// decoders/nmf_search.py `envelope_start`, verdict for verdict.
pub fn envelope_start(head: &[u8], pos: usize, max_size: usize, family: Family) -> Option<bool> {
    let end = head.len();
    if byte(head, pos)? != SIZED_ENVELOPE {
        return Some(false);
    }
    start_after_record(head, pos.saturating_add(1), end, max_size, family).unwrap_or(Some(false))
}

/// `envelope_start` after the record type; Err(()) where the Python raises (an invalid MB31).
fn start_after_record(
    head: &[u8],
    pos: usize,
    end: usize,
    max_size: usize,
    family: Family,
) -> Result<Option<bool>, ()> {
    let Some((size, p)) = size_at(head, pos, end)? else {
        return Ok(None);
    };
    if !(MIN_ENVELOPE..=max_size).contains(&size) {
        return Ok(Some(false));
    }
    match family {
        Family::Binary => return Ok(byte(head, p).map(element)),
        Family::Other => return Ok(byte(head, p).map(|b| TEXT_STARTS.contains(&b))),
        Family::BinarySession => {}
    }
    let Some((table_len, mut p)) = size_at(head, p, end)? else {
        return Ok(None);
    };
    if table_len >= size {
        return Ok(Some(false));
    }
    let table_end = p.saturating_add(table_len);
    let mut strings = 0usize;
    while p < table_end.min(end) {
        let Some((length, q)) = size_at(head, p, end)? else {
            break;
        };
        let string_end = q.saturating_add(length);
        if length == 0 || string_end > table_end {
            return Ok(Some(false));
        }
        let chunk = head.get(q..string_end.min(end)).unwrap_or_default();
        if !printable(chunk) {
            return Ok(Some(false));
        }
        if string_end > end {
            break;
        }
        strings += 1;
        p = string_end;
    }
    if p >= table_end {
        return Ok(byte(head, table_end).map(element));
    }
    Ok((strings > 0).then_some(true))
}

/// Whether the buffered start of a candidate's payload (at `payload`) already fails to decode:
/// decoders/nmf_search.py `_refuted`. Only an error other than "the document goes on" refutes.
pub fn refuted(data: &[u8], payload: usize, family: Family) -> bool {
    let mut doc = payload;
    match family {
        Family::Other => return false,
        Family::Binary => {}
        Family::BinarySession => match size_at(data, payload, data.len()) {
            Err(()) => return true,
            Ok(None) => return false,
            Ok(Some((table_len, start))) => {
                doc = start.saturating_add(table_len);
                if doc >= data.len() {
                    return false; // the table is not all here yet: cannot tell
                }
            }
        },
    }
    let prefix = data
        .get(doc..doc.saturating_add(PREFIX_CHECK).min(data.len()))
        .unwrap_or_default();
    let limits = Limits {
        max_depth: PREFIX_DEPTH,
        ..Limits::default()
    };
    match decode(prefix, 0, &[], limits) {
        Ok(_) => false,
        Err(err) => err.name != "nbfx_truncated",
    }
}

/// Whether `envelope_start` saw all it looks at for the candidate whose payload starts at `payload`
/// (for binary+session: the byte after the string table), so more bytes cannot change its verdict.
fn settled(chunk: &[u8], payload: usize, family: Family) -> bool {
    if family != Family::BinarySession {
        return true;
    }
    match size_at(chunk, payload, chunk.len()) {
        Ok(Some((table_len, start))) => start.saturating_add(table_len) < chunk.len(),
        _ => false,
    }
}

/// The next candidate of `search.chunk` Python must decide on, and the candidate whose buffered
/// start was last decoded (decoders/nmf_search.py `EnvelopeSearch._scan`'s loop, without its decode).
pub fn find(search: Search<'_>) -> (Found, Option<usize>) {
    let Search { chunk, base, .. } = search;
    let mut checked = search.prefix_checked;
    let at = |i: usize| base.saturating_add(i);
    let mut from = search.from;
    while let Some(skip) = chunk
        .get(from..)
        .and_then(|rest| rest.iter().position(|b| *b == SIZED_ENVELOPE))
    {
        let pos = from.saturating_add(skip);
        from = pos.saturating_add(1);
        if at(pos) > search.limit {
            return (Found::Limit { offset: at(pos) }, checked);
        }
        match envelope_start(chunk, pos, search.max_envelope, search.family) {
            None => {
                let wait = Found::Wait {
                    offset: at(pos),
                    until: None,
                };
                return (wait, checked);
            }
            Some(false) => continue,
            Some(true) => {}
        }
        let Ok(Some((size, payload))) = size_at(chunk, pos.saturating_add(1), chunk.len()) else {
            continue; // envelope_start read this size already: unreachable
        };
        let end = payload.saturating_add(size);
        if end.saturating_sub(pos) > search.max_scan {
            continue; // too big to hold while unsure it is an envelope at all
        }
        if end > chunk.len() {
            if checked != Some(at(pos)) {
                checked = Some(at(pos));
                if refuted(chunk, payload, search.family) {
                    continue;
                }
            }
            let wait = Found::Wait {
                offset: at(pos),
                until: settled(chunk, payload, search.family).then_some(at(end)),
            };
            return (wait, checked);
        }
        let whole = Found::Whole {
            offset: at(pos),
            payload: at(payload),
            size,
        };
        return (whole, checked);
    }
    (
        Found::End {
            offset: at(chunk.len()),
        },
        checked,
    )
}

#[cfg(test)]
#[path = "nmf_search_tests.rs"]
mod tests;
