//! What the pipeline's loop reads of each packet (wirecap/pipeline.py `process_batch`, wirecap/source.py
//! `META`): a batch's record of a packet, and the fields of an Ethernet/IPv4/TCP frame of the common
//! shape the fast path takes. The loop itself is in `packets_python`.
#![forbid(unsafe_code)]

use crate::reader::array;
use std::ops::Range;

const SECOND: u64 = 1_000_000_000;
/// `wirecap.source.META`: seconds, microseconds, offset and captured length, native order.
pub const META_SIZE: usize = 16;
/// `wirecap.packets.ETH_IPV4_TCP_MIN`: Ethernet, IPv4 and TCP headers without options.
const ETH_IPV4_TCP_MIN: usize = 14 + 20 + 20;
pub const LINKTYPE_ETHERNET: u32 = 1;
/// SYN, FIN, RST: segments with these take the general path (`CONTROL_FLAGS`).
pub const CONTROL_FLAGS: u8 = 0x07;
pub const SEQ_MASK: u64 = 0xFFFF_FFFF;

/// A packet's record in a batch: where it lies in the batch's buffer and its time in ns.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub off: usize,
    pub caplen: usize,
    pub ts: u64,
}

impl Record {
    /// The record in `entry` (`META_SIZE` bytes; missing bytes read as zero).
    pub fn of(entry: &[u8]) -> Record {
        let field = |at: usize| array::<4>(entry, at).map_or(0, u32::from_ne_bytes);
        Record {
            off: field(8) as usize,
            caplen: field(12) as usize,
            ts: u64::from(field(0)) * SECOND + u64::from(field(4)) * 1000,
        }
    }
}

/// What the fast path reads of an Ethernet/IPv4/TCP frame (`ETH_IPV4_TCP`): the table key (both
/// addresses and ports as sent), seq, ack, flags, and where the payload lies in the buffer.
pub struct Frame {
    pub key: [u8; 12],
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Range<usize>,
}

/// The frame at `off` if it is the common shape the Python loop unpacks with one `struct` call: IPv4
/// without options or fragments, TCP with a sane data offset, the IP length within the capture.
pub fn common_frame(buf: &[u8], off: usize, caplen: usize) -> Option<Frame> {
    if caplen < ETH_IPV4_TCP_MIN {
        return None;
    }
    let header: [u8; 36] = array(buf, off.checked_add(12)?)?;
    let [e0, e1, vihl, _, t0, t1, _, _, f0, f1, _, proto, _, _, key @ .., s0, s1, s2, s3, a0, a1, a2, a3, doff, flags] =
        header;
    let payload_start = off.checked_add(34 + usize::from(doff >> 4) * 4)?;
    let ip_end = off.checked_add(14 + usize::from(u16::from_be_bytes([t0, t1])))?;
    let common = u16::from_be_bytes([e0, e1]) == 0x0800
        && vihl == 0x45
        && proto == 6
        && u16::from_be_bytes([f0, f1]) & 0x3FFF == 0
        && doff >= 0x50
        && payload_start <= ip_end
        && ip_end <= off.checked_add(caplen)?;
    common.then_some(Frame {
        key,
        seq: u32::from_be_bytes([s0, s1, s2, s3]),
        ack: u32::from_be_bytes([a0, a1, a2, a3]),
        flags,
        payload: payload_start..ip_end,
    })
}

#[cfg(test)]
#[path = "packets_tests.rs"]
mod tests;
