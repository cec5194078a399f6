//! Unit tests of `nmf`: the .NET vectors' preambles and envelopes, every cut, the multi-byte size
//! boundaries, and each reason to stop.
use super::*;

/// Block 1 of tests/vectors/net_tcp_vectors.txt starts so: Version 1.0, duplex, Via of 29 bytes,
/// binary-session encoding, PreambleEnd (byte-exact .NET output).
const PREAMBLE: &[u8] = b"\x00\x01\x00\x01\x02\x02\x1dnet.tcp://localhost:9000/calc\x03\x08\x0c";

fn sized_envelope(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![r::SIZED_ENVELOPE];
    let mut n = payload.len();
    loop {
        let low = u8::try_from(n & 0x7F).unwrap_or(0);
        n >>= 7;
        out.push(if n > 0 { low | 0x80 } else { low });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(payload);
    out
}

fn kinds(framed: &Framed<'_>) -> Vec<u8> {
    framed.records.iter().map(|r| r.kind).collect()
}

#[test]
fn preamble_records_and_states() {
    let framed = frame(PREAMBLE, S::Start, Role::Initiator, 1 << 20);
    assert_eq!(framed.consumed, PREAMBLE.len());
    assert_eq!(kinds(&framed), vec![0x00, 0x01, 0x02, 0x03, 0x0C]);
    let states: Vec<State> = framed.records.iter().map(|r| r.next).collect();
    assert_eq!(
        states,
        vec![S::Version, S::Mode, S::Via, S::Encoding, S::Established]
    );
    let fields: Vec<&Fields<'_>> = framed.records.iter().map(|r| &r.fields).collect();
    assert_eq!(fields.first(), Some(&&Fields::Version([1, 0])));
    assert_eq!(
        fields.get(2),
        Some(&&Fields::Text("net.tcp://localhost:9000/calc"))
    );
    assert_eq!(fields.get(3), Some(&&Fields::Byte(8)));
}

#[test]
fn every_cut_of_the_preamble_frames_a_prefix() {
    let whole = frame(PREAMBLE, S::Start, Role::Initiator, 1 << 20);
    for cut in 0..PREAMBLE.len() {
        let part = frame(
            PREAMBLE.get(..cut).unwrap_or_default(),
            S::Start,
            Role::Initiator,
            1 << 20,
        );
        assert!(part.consumed <= cut);
        assert_eq!(
            part.records.as_slice(),
            whole.records.get(..part.records.len()).unwrap_or_default()
        );
        let framed = part.records.len();
        let left_at = whole
            .records
            .get(framed)
            .map_or(PREAMBLE.len(), |r| r.offset);
        let left_end = whole
            .records
            .get(framed + 1)
            .map_or(PREAMBLE.len(), |r| r.offset);
        assert_eq!(part.consumed, left_at);
        assert!(left_end > cut, "a complete record was left at cut {cut}");
    }
}

#[test]
fn sizes_at_the_multi_byte_boundaries() {
    for size in [0usize, 1, 127, 128, 16383, 16384, 70000] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let data = sized_envelope(&payload);
        let framed = frame(&data, S::Established, Role::Receiver, 1 << 20);
        assert_eq!(framed.consumed, data.len(), "size {size}");
        let record = framed.records.first();
        assert_eq!(record.map(|r| r.content), Some(data.len() - size));
        assert_eq!(
            record.map(|r| &r.fields),
            Some(&Fields::Payload(Cow::Borrowed(&payload[..])))
        );
        let short = frame(
            data.get(..data.len() - 1).unwrap_or_default(),
            S::Established,
            Role::Receiver,
            1 << 20,
        );
        let header = data.len() - size;
        let header_alone = if size == 0 { 0 } else { header };
        assert_eq!(short.consumed, header_alone, "size {size} cut by one byte");
        assert_eq!(
            short.records.last().map(|r| &r.fields),
            (size > 0).then_some(&Fields::Size(size))
        );
        let limited = frame(
            &data,
            S::Established,
            Role::Receiver,
            size.saturating_sub(1),
        );
        assert_eq!(limited.consumed, header, "size {size} over the limit");
    }
}

#[test]
fn unsized_envelope_chunks_are_joined() {
    let data = b"\x05\x03abc\x02de\x00\x07";
    let framed = frame(data, S::Established, Role::Initiator, 1 << 20);
    assert_eq!(framed.consumed, data.len());
    assert_eq!(kinds(&framed), vec![0x05, 0x07]);
    let first = framed.records.first();
    assert_eq!(
        first.map(|r| &r.fields),
        Some(&Fields::Payload(Cow::Borrowed(b"abcde")))
    );
    assert_eq!(first.map(|r| r.content), Some(1));
    for cut in 1..data.len() - 1 {
        let part = frame(
            data.get(..cut).unwrap_or_default(),
            S::Established,
            Role::Initiator,
            1 << 20,
        );
        assert_eq!(part.consumed, 0, "cut {cut}");
    }
    assert_eq!(frame(data, S::Established, Role::Initiator, 4).consumed, 0);
    assert_eq!(
        frame(data, S::Established, Role::Initiator, 5).consumed,
        data.len()
    );
}

#[test]
fn stops_where_python_must_decide() {
    let cases: [(&[u8], State, Role); 9] = [
        (b"\x06\x01a", S::Start, Role::Initiator),  // no preamble
        (b"\x0d", S::Established, Role::Initiator), // unknown record type
        (b"\x0b", S::Established, Role::Receiver),  // PreambleAck in a session
        (b"\x01\x05", S::Version, Role::Initiator), // bad mode
        (b"\x02\x02\xff\xfe", S::Mode, Role::Initiator), // Via not UTF-8
        (b"\x02\x81\x80\x04", S::Mode, Role::Initiator), // Via over MAX_STRING
        (b"\x06\xff\xff\xff\xff\x7f", S::Established, Role::Initiator), // MB31 of six bytes
        (b"\x06\x85", S::Established, Role::Initiator), // an envelope size not all here
        (b"\x07", S::Faulted, Role::Receiver),      // nothing follows a fault
    ];
    for (data, state, role) in cases {
        assert_eq!(frame(data, state, role, 1 << 20).consumed, 0, "{data:?}");
    }
}

#[test]
fn upgrades_end_the_framing() {
    let request = frame(
        b"\x09\x03abc\x16\x03",
        S::Encoding,
        Role::Initiator,
        1 << 20,
    );
    assert_eq!(request.consumed, 5);
    assert_eq!(kinds(&request), vec![r::UPGRADE_REQUEST]);
    assert_eq!(request.records.first().map(|r| r.next), Some(S::Upgraded));
    let response = frame(b"\x0a\x16\x03\x0b", S::Start, Role::Receiver, 1 << 20);
    assert_eq!(response.consumed, 1);
    assert_eq!(response.records.first().map(|r| r.next), Some(S::Upgraded));
}

#[test]
fn states_round_trip_their_codes() {
    for state in State::ALL {
        assert_eq!(State::from_code(state.code()), Some(state));
    }
    assert_eq!(State::from_code(9), None);
    assert_eq!(
        next_state(Role::Receiver, S::Ended, r::FAULT),
        Some(S::Faulted)
    );
    assert_eq!(next_state(Role::Initiator, S::Ended, r::PREAMBLE_ACK), None);
}

#[test]
fn never_panics_on_any_two_bytes_in_any_state() {
    for state in State::ALL {
        for role in [Role::Initiator, Role::Receiver] {
            for a in 0..=255u8 {
                for b in [0u8, 1, 0x7F, 0x80, 0xFF] {
                    let data = [a, b, b, a];
                    let framed = frame(&data, state, role, 2);
                    assert!(framed.consumed <= data.len());
                }
            }
        }
    }
}

#[test]
fn random_streams_never_panic_and_consume_whole_records() {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let len = usize::try_from(next() % 64).unwrap_or(0);
        // record-type bytes are likely, so that records follow each other now and then
        let data: Vec<u8> = (0..len)
            .map(|_| {
                let x = next();
                u8::try_from(if x % 3 == 0 { x % 13 } else { x % 256 }).unwrap_or(0)
            })
            .collect();
        let state = State::ALL
            .get(usize::try_from(next() % 9).unwrap_or(0))
            .copied()
            .unwrap_or(S::Start);
        let role = if next() % 2 == 0 {
            Role::Initiator
        } else {
            Role::Receiver
        };
        let framed = frame(
            &data,
            state,
            role,
            usize::try_from(next() % 40).unwrap_or(0),
        );
        assert!(framed.consumed <= data.len());
        let mut at = 0;
        for record in &framed.records {
            assert_eq!(record.offset, at);
            assert!(record.content > record.offset && record.content <= framed.consumed);
            at = framed
                .records
                .iter()
                .find(|r| r.offset > record.offset)
                .map_or(framed.consumed, |r| r.offset);
        }
        assert_eq!(at, framed.consumed);
    }
}

#[test]
fn whole_envelopes_as_the_framer_reads_them() {
    let mut data = sized_envelope(b"first");
    data.extend(sized_envelope(&[7; 200]));
    let framed = frame(&data, S::Established, Role::Initiator, 1 << 20);
    let mut at = 0;
    for record in &framed.records {
        let whole = whole_envelope(&data, at, 1 << 20);
        let payload = match &record.fields {
            Fields::Payload(payload) => payload.as_ref(),
            _ => &[][..],
        };
        assert_eq!(record.kind, r::SIZED_ENVELOPE);
        assert_eq!(
            whole,
            Some((payload, record.content, record.content + payload.len()))
        );
        at = record.content + payload.len();
    }
    assert_eq!(at, data.len());
    // what it leaves to the framer: another record, a cut envelope or size, one over the limit, a
    // six-byte size, nothing
    for (data, max) in [
        (&b"\x07"[..], 1 << 20),
        (b"\x06\x05abc", 1 << 20),
        (b"\x06\x85", 1 << 20),
        (b"\x06\x05abcde", 4),
        (b"\x06\xff\xff\xff\xff\x7f", 1 << 20),
        (b"", 1 << 20),
    ] {
        assert_eq!(whole_envelope(data, 0, max), None, "{data:?}");
    }
    assert_eq!(
        whole_envelope(b"\x06\x05abcde", 0, 5),
        Some((&b"abcde"[..], 2, 7))
    );
    assert_eq!(whole_envelope(b"\x06\x05abcde", 9, 5), None);
}

#[test]
fn established_segments_as_the_lane_takes_them() {
    let mut two = sized_envelope(b"first");
    two.extend(sized_envelope(&[7; 200]));
    let whole = |end| {
        Some(Established {
            whole: end,
            open: None,
        })
    };
    assert_eq!(established(&two, 1 << 20), whole(two.len()));
    assert_eq!(
        established(two.get(..7).unwrap_or_default(), 1 << 20),
        whole(7)
    );
    // the first's header and some of its payload; the second's (0x06, a two-byte size 200) and some or
    // none of its payload
    let cuts = (2..7).map(|cut| (cut, 0, (2, 5)));
    for (cut, whole, open) in cuts.chain((10..two.len()).map(|cut| (cut, 7, (10, 200)))) {
        let open = Some(Established {
            whole,
            open: Some(open),
        });
        let data = two.get(..cut).unwrap_or_default();
        assert_eq!(established(data, 1 << 20), open, "{cut}");
    }
    for cut in [0, 1, 8, 9] {
        // nothing, or a header cut short
        assert_eq!(
            established(two.get(..cut).unwrap_or_default(), 1 << 20),
            None,
            "{cut}"
        );
    }
    let mut then_end = two.clone();
    then_end.push(r::END);
    assert_eq!(established(&then_end, 1 << 20), None);
    assert_eq!(established(&two, 199), None); // the second over the limit, whole or not
    assert_eq!(established(two.get(..100).unwrap_or_default(), 199), None);
    assert_eq!(established(b"\x06\xff\xff\xff\xff\x7f", 1 << 20), None); // a six-byte size
}
