//! [MC-NMF] v13 records of one direction (2.2.3), framed in the core: the well-formed path only.
//!
//! `frame` walks the complete records at the start of a chunk, from a given state, by the same
//! transition table as decoders/nmf_records.py (`TRANSITIONS`), and stops at the first record it is
//! not certain of: one the table refuses (also: no preamble, unknown record types, wrong states), a
//! malformed or incomplete one; after the header of a SizedEnvelope whose payload is not all in the
//! chunk or is over the size limit; and after an UpgradeRequest / UpgradeResponse. The pure-Python
//! record loop (decoders/nmf.py) takes the direction there, at that offset and in that state, and does
//! what it does alone: anomalies, resynchronisation, the secured stream after an upgrade, envelope
//! payloads split over segments. Nothing here raises, allocates beyond the chunk, or panics.
#![forbid(unsafe_code)]

use crate::reader::{array, byte, mb31};
use std::borrow::Cow;

/// 2.2.3 record types: the first byte of every record.
pub mod record {
    pub const VERSION: u8 = 0x00;
    pub const MODE: u8 = 0x01;
    pub const VIA: u8 = 0x02;
    pub const KNOWN_ENCODING: u8 = 0x03;
    pub const EXTENSIBLE_ENCODING: u8 = 0x04;
    pub const UNSIZED_ENVELOPE: u8 = 0x05;
    pub const SIZED_ENVELOPE: u8 = 0x06;
    pub const END: u8 = 0x07;
    pub const FAULT: u8 = 0x08;
    pub const UPGRADE_REQUEST: u8 = 0x09;
    pub const UPGRADE_RESPONSE: u8 = 0x0A;
    pub const PREAMBLE_ACK: u8 = 0x0B;
    pub const PREAMBLE_END: u8 = 0x0C;
}

/// Longest Via, content type, fault or upgrade string (decoders/nmf_readers.py `MAX_STRING`).
pub const MAX_STRING: usize = 64 * 1024;

/// 2.2.3.2 modes: singleton-unsized, duplex, simplex, singleton-sized.
const MODES: std::ops::RangeInclusive<u8> = 1..=4;

/// Where a direction is in 3.1 / 3.2: the framed states of decoders/nmf_records.py `State`, in the
/// order of the codes the binding exchanges (`decoders.nmf_core.CORE_STATES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Start,
    Version,
    Mode,
    Via,
    Encoding,
    Established,
    Ended,
    Faulted,
    /// Reached, never framed here: the secured stream is Python's.
    Upgraded,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Start,
        State::Version,
        State::Mode,
        State::Via,
        State::Encoding,
        State::Established,
        State::Ended,
        State::Faulted,
        State::Upgraded,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<State> {
        State::ALL.get(usize::from(code)).copied()
    }
}

/// Which end sent the direction: the initiator's preamble or the receiver's answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Receiver,
}

use record as r;
use State as S;

/// (state, record type, next state): a pair not listed is not framed here.
type Transition = (State, u8, State);

const ENVELOPES: [Transition; 4] = [
    (S::Established, r::SIZED_ENVELOPE, S::Established),
    (S::Established, r::UNSIZED_ENVELOPE, S::Established),
    (S::Established, r::END, S::Ended),
    (S::Established, r::FAULT, S::Faulted),
];

pub const INITIATOR: [Transition; 8] = [
    (S::Start, r::VERSION, S::Version),
    (S::Ended, r::VERSION, S::Version), // 3.1.5.x: a new session on the same connection
    (S::Version, r::MODE, S::Mode),
    (S::Mode, r::VIA, S::Via),
    (S::Via, r::KNOWN_ENCODING, S::Encoding),
    (S::Via, r::EXTENSIBLE_ENCODING, S::Encoding),
    (S::Encoding, r::UPGRADE_REQUEST, S::Upgraded),
    (S::Encoding, r::PREAMBLE_END, S::Established),
];

pub const RECEIVER: [Transition; 5] = [
    (S::Start, r::PREAMBLE_ACK, S::Established),
    (S::Ended, r::PREAMBLE_ACK, S::Established), // acknowledging a new session's preamble
    (S::Start, r::UPGRADE_RESPONSE, S::Upgraded),
    (S::Start, r::FAULT, S::Faulted),
    (S::Ended, r::FAULT, S::Faulted),
];

/// The whole table of a role: its own transitions and the envelope ones both share.
pub fn transitions(role: Role) -> impl Iterator<Item = &'static Transition> {
    let own: &'static [Transition] = match role {
        Role::Initiator => &INITIATOR,
        Role::Receiver => &RECEIVER,
    };
    own.iter().chain(ENVELOPES.iter())
}

pub fn next_state(role: Role, state: State, kind: u8) -> Option<State> {
    transitions(role)
        .find(|(from, k, _)| *from == state && *k == kind)
        .map(|(_, _, to)| *to)
}

/// A record's fields after its type byte.
#[derive(Debug, PartialEq, Eq)]
pub enum Fields<'a> {
    None,
    /// 2.2.3.1 MajorVersion, MinorVersion.
    Version([u8; 2]),
    /// 2.2.3.2 mode, 2.2.3.4.1 known encoding.
    Byte(u8),
    /// 2.2.3.3 Via, 2.2.3.4.2 content type, 2.2.3.8 fault.
    Text(&'a str),
    /// A whole envelope's payload (2.2.3.5); an unsized one's chunks joined.
    Payload(Cow<'a, [u8]>),
    /// A SizedEnvelope's size, when its payload is not all in the chunk or is over the limit.
    Size(usize),
}

/// One complete record: its type, where it starts, where its payload (or the next record) starts,
/// the state it leads to and its fields. Offsets are within the chunk.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: u8,
    pub offset: usize,
    pub content: usize,
    pub next: State,
    pub fields: Fields<'a>,
}

/// The records framed from the start of a chunk and how many bytes they took.
#[derive(Debug, PartialEq, Eq)]
pub struct Framed<'a> {
    pub records: Vec<Record<'a>>,
    pub consumed: usize,
}

/// Every complete, well-formed record at the start of `data`, read from `state`; stops before the
/// first one this module is not certain of (see the module's doc).
pub fn frame(data: &[u8], state: State, role: Role, max_envelope: usize) -> Framed<'_> {
    let mut records = Vec::new();
    let mut pos = 0;
    let mut state = state;
    while let Some(kind) = byte(data, pos) {
        let Some(next) = next_state(role, state, kind) else {
            break;
        };
        let Some((fields, content, end)) = read(data, pos, kind, max_envelope) else {
            // a SizedEnvelope not all here or over the limit: its header alone (Python collects or skips
            // the payload), when the size itself is
            if let Some((size, start)) = (kind == r::SIZED_ENVELOPE)
                .then(|| size_at(data, pos.saturating_add(1)))
                .flatten()
            {
                records.push(Record {
                    kind,
                    offset: pos,
                    content: start,
                    next,
                    fields: Fields::Size(size),
                });
                pos = start;
            }
            break;
        };
        records.push(Record {
            kind,
            offset: pos,
            content,
            next,
            fields,
        });
        pos = end;
        if next == S::Upgraded {
            break; // what follows is the secured stream, Python's (decoders/nns.py)
        }
        state = next;
    }
    Framed {
        records,
        consumed: pos,
    }
}

/// A whole SizedEnvelope record at `pos` within the limit, as `frame` reads one in the established
/// state: (its payload, where the payload starts, where the record ends).
pub fn whole_envelope(
    data: &[u8],
    pos: usize,
    max_envelope: usize,
) -> Option<(&[u8], usize, usize)> {
    if byte(data, pos)? != r::SIZED_ENVELOPE {
        return None;
    }
    sized(data, pos.checked_add(1)?, max_envelope)
}

/// A segment at a record boundary in the established state, as it splits: the whole SizedEnvelopes
/// within the limit it starts with (`whole`: where they end), then nothing more or one SizedEnvelope
/// within the limit whose header is all there and its payload not (`open`: (payload start, size)).
#[derive(Debug, PartialEq, Eq)]
pub struct Established {
    pub whole: usize,
    pub open: Option<(usize, usize)>,
}

/// `data` as `Established`; None if it is anything else (another record, an envelope over the limit,
/// a header cut short) or empty.
pub fn established(data: &[u8], max_envelope: usize) -> Option<Established> {
    let mut pos = 0;
    while let Some((_, _, end)) = whole_envelope(data, pos, max_envelope) {
        pos = end;
    }
    if pos == data.len() {
        return (pos > 0).then_some(Established {
            whole: pos,
            open: None,
        });
    }
    if byte(data, pos)? != r::SIZED_ENVELOPE {
        return None;
    }
    let (size, start) = sized_header(data, pos.checked_add(1)?, max_envelope)?;
    (start.checked_add(size)? > data.len()).then_some(Established {
        whole: pos,
        open: Some((start, size)),
    })
}

/// (fields, content start, end) of the record of type `kind` at `pos`; None: incomplete or not certain.
fn read(
    data: &[u8],
    pos: usize,
    kind: u8,
    max_envelope: usize,
) -> Option<(Fields<'_>, usize, usize)> {
    let body = pos.checked_add(1)?;
    let fixed = |fields, len: usize| {
        let end = body.checked_add(len)?;
        Some((fields, end, end))
    };
    match kind {
        r::VERSION => fixed(Fields::Version(array::<2>(data, body)?), 2),
        r::MODE => fixed(
            Fields::Byte(byte(data, body).filter(|m| MODES.contains(m))?),
            1,
        ),
        r::KNOWN_ENCODING => fixed(Fields::Byte(byte(data, body)?), 1),
        r::VIA | r::EXTENSIBLE_ENCODING | r::FAULT | r::UPGRADE_REQUEST => {
            let (text, end) = string(data, body)?;
            Some((Fields::Text(text), end, end))
        }
        r::SIZED_ENVELOPE => sized(data, body, max_envelope)
            .map(|(payload, start, end)| (Fields::Payload(Cow::Borrowed(payload)), start, end)),
        r::UNSIZED_ENVELOPE => chunked(data, body, max_envelope),
        _ => Some((Fields::None, body, body)),
    }
}

/// A MB31 (2.2.2) at `pos`: None if incomplete or invalid.
fn size_at(data: &[u8], pos: usize) -> Option<(usize, usize)> {
    let (value, next) = mb31(data, pos, data.len()).ok()??;
    Some((usize::try_from(value).ok()?, next))
}

fn span(data: &[u8], start: usize, len: usize) -> Option<(&[u8], usize)> {
    let end = start.checked_add(len)?;
    Some((data.get(start..end)?, end))
}

/// 2.2.3.3-style string: MB31 length, UTF-8 bytes, at most `MAX_STRING`.
fn string(data: &[u8], pos: usize) -> Option<(&str, usize)> {
    let (len, start) = size_at(data, pos)?;
    if len > MAX_STRING {
        return None;
    }
    let (raw, end) = span(data, start, len)?;
    Some((std::str::from_utf8(raw).ok()?, end))
}

/// 2.2.3.5 SizedEnvelope after its type byte: MB31 size, payload.
/// (payload, where it starts, where the record ends).
fn sized(data: &[u8], pos: usize, max_envelope: usize) -> Option<(&[u8], usize, usize)> {
    let (size, start) = sized_header(data, pos, max_envelope)?;
    let (payload, end) = span(data, start, size)?;
    Some((payload, start, end))
}

/// A SizedEnvelope's MB31 size after its type byte, within the limit: (size, where the payload starts).
fn sized_header(data: &[u8], pos: usize, max_envelope: usize) -> Option<(usize, usize)> {
    let (size, start) = size_at(data, pos)?;
    (size <= max_envelope).then_some((size, start))
}

/// 2.2.3.5 UnsizedEnvelope after its type byte: data chunks (MB31 size, bytes) up to a size of 0.
fn chunked(data: &[u8], pos: usize, max_envelope: usize) -> Option<(Fields<'_>, usize, usize)> {
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut total: usize = 0;
    let mut at = pos;
    loop {
        let (size, start) = size_at(data, at)?;
        if size == 0 {
            let payload = match chunks.as_slice() {
                [one] => Cow::Borrowed(*one),
                _ => Cow::Owned(chunks.concat()),
            };
            return Some((Fields::Payload(payload), pos, start));
        }
        total = total.checked_add(size)?;
        if total > max_envelope {
            return None;
        }
        let (chunk, end) = span(data, start, size)?;
        chunks.push(chunk);
        at = end;
    }
}

#[cfg(test)]
#[path = "nmf_tests.rs"]
mod tests;
