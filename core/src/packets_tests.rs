//! Unit tests of `packets`: a batch record, a frame of the common shape, and each reason a frame is
//! left to the general parser.
use super::*;

/// An Ethernet/IPv4/TCP frame from 10.0.0.5:50000 to 10.0.0.9:8506 with `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + 20 + payload.len()).unwrap_or(u16::MAX);
    let mut out = vec![0u8; 12];
    out.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0x40, 0x00, 64, 6, 0, 0, 10, 0, 0, 5, 10, 0, 0, 9]);
    out.extend_from_slice(&50000u16.to_be_bytes());
    out.extend_from_slice(&8506u16.to_be_bytes());
    out.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    out.extend_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    out.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

#[test]
fn records_as_meta_packs_them() {
    let mut entry = Vec::new();
    for field in [1_700_000_000u32, 999_999, 4096, 1514] {
        entry.extend_from_slice(&field.to_ne_bytes());
    }
    let record = Record::of(&entry);
    assert_eq!(
        record,
        Record {
            off: 4096,
            caplen: 1514,
            ts: 1_700_000_000_999_999_000
        }
    );
    assert_eq!(Record::of(&[]).ts, 0);
}

#[test]
fn a_common_frame_and_its_fields() {
    let mut buf = vec![0xEE; 7]; // the frame lies inside a batch
    buf.extend(frame(b"hello"));
    buf.extend_from_slice(&[0xEE; 4]); // Ethernet padding after the IP packet
    let found = common_frame(&buf, 7, buf.len() - 7);
    let Some(f) = found else {
        return assert!(found.is_some());
    };
    assert_eq!(
        f.key,
        [10, 0, 0, 5, 10, 0, 0, 9, 0xc3, 0x50, 0x21, 0x3a],
        "addresses, then ports, as sent"
    );
    assert_eq!((f.seq, f.ack, f.flags), (0x0102_0304, 0x0a0b_0c0d, 0x18));
    assert_eq!(buf.get(f.payload), Some(&b"hello"[..]));
}

#[test]
fn other_frames_are_the_general_parsers() {
    let good = frame(b"abc");
    let changed = |at: usize, value: u8| {
        let mut f = good.clone();
        if let Some(b) = f.get_mut(at) {
            *b = value;
        }
        f
    };
    let cases = [
        changed(12, 0x86),                           // not IPv4 (IPv6's ethertype)
        changed(14, 0x46),                           // IP options
        changed(23, 17),                             // UDP
        changed(20, 0x20),                           // more fragments
        changed(21, 0x01),                           // a fragment offset
        changed(46, 0x40),                           // a TCP header shorter than 20 bytes
        changed(46, 0xf0),                           // TCP options past the IP packet
        changed(17, 0xff),                           // an IP length past the capture
        good.get(..53).unwrap_or_default().to_vec(), // shorter than the three headers
    ];
    for case in &cases {
        assert!(common_frame(case, 0, case.len()).is_none(), "{case:?}");
    }
    assert!(common_frame(&good, 0, good.len()).is_some());
    assert!(common_frame(&good, 1, good.len()).is_none()); // the record points past the buffer
    assert!(common_frame(&good, usize::MAX - 10, 60).is_none());
}

#[test]
fn any_bytes_give_a_payload_inside_the_frame_or_nothing() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut buf = frame(&[0; 40]);
        for _ in 0..(next() % 6) {
            let at = usize::try_from(next() % 100).unwrap_or(0);
            if let Some(b) = buf.get_mut(at) {
                *b = u8::try_from(next() & 0xff).unwrap_or(0);
            }
        }
        let caplen = usize::try_from(next() % 120).unwrap_or(0);
        if let Some(f) = common_frame(&buf, 0, caplen) {
            assert!(f.payload.start <= f.payload.end && f.payload.end <= caplen);
        }
    }
}
