//! Unit tests of `nmf_search`: the plausibility verdicts, every cut of an envelope, what `find` stops
//! at, and random input through every function without a panic.
use super::*;

/// A SizedEnvelope record: type, one-byte size (payloads here are short), payload.
fn envelope(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![SIZED_ENVELOPE, u8::try_from(payload.len()).unwrap_or(0)];
    out.extend_from_slice(payload);
    out
}

/// A binary+session payload: a table of one string ("Ping"), then <Ping/> by its session id 1
/// (0x42 ShortDictionaryElement, 0x01 EndElement).
const SESSION_PAYLOAD: &[u8] = b"\x05\x04Ping\x42\x01\x01";

fn start(data: &[u8]) -> Option<bool> {
    envelope_start(data, 0, MAX_ENVELOPE, Family::BinarySession)
}

#[test]
fn verdicts() {
    let good = envelope(SESSION_PAYLOAD);
    assert_eq!(start(&good), Some(true));
    assert_eq!(start(b""), None);
    assert_eq!(start(b"\x05\x08"), Some(false));
    assert_eq!(start(b"\x06\x03\x00\x42"), Some(false)); // under MIN_ENVELOPE
    assert_eq!(start(b"\x06\x08\x05\x04Pi\x01g\x42"), Some(false)); // a control character
    assert_eq!(start(b"\x06\x08\x05\x04Ping\x99"), Some(false)); // no element after the table
    assert_eq!(start(b"\x06\x08\x05\x00"), Some(false)); // an empty string
    assert_eq!(start(b"\x06\x08\x09\x04Ping"), Some(false)); // table as long as the envelope
    assert_eq!(start(b"\x06\xff\xff\xff\xff\x7f"), Some(false)); // an invalid MB31
    assert_eq!(start(b"\x06\x08\x05\x04Ping"), None); // the element byte is not here yet
    let binary = envelope(b"\x42\x01\x01\x01");
    assert_eq!(
        envelope_start(&binary, 0, MAX_ENVELOPE, Family::Binary),
        Some(true)
    );
    assert_eq!(
        envelope_start(b"\x06\x06<a/>..", 0, MAX_ENVELOPE, Family::Other),
        Some(true)
    );
    assert_eq!(
        envelope_start(&good, 0, 6, Family::BinarySession),
        Some(false)
    );
}

#[test]
fn printable_allows_a_cut_character_only() {
    assert!(printable("Ключ".as_bytes()));
    assert!(printable(b"abc\xd0")); // the first byte of a two-byte character
    assert!(!printable(b"abc\x7f\x1f"));
    assert!(!printable(b"\xff\xfe\xfd\xfc"));
}

#[test]
fn every_cut_of_an_envelope_is_plausible_or_undecided() {
    let good = envelope(SESSION_PAYLOAD);
    for cut in 1..good.len() {
        let verdict = start(good.get(..cut).unwrap_or_default());
        assert_ne!(verdict, Some(false), "cut at {cut}");
    }
}

fn search(chunk: &[u8], limit: usize) -> Search<'_> {
    Search {
        family: Family::BinarySession,
        max_envelope: MAX_ENVELOPE,
        max_scan: 1 << 20,
        limit,
        prefix_checked: None,
        chunk,
        base: 1000,
        from: 0,
    }
}

#[test]
fn find_stops_where_python_decides() {
    let mut data = b"\x06\x06garbage\x06".to_vec();
    let at = data.len();
    data.extend_from_slice(&envelope(SESSION_PAYLOAD));
    let whole = Found::Whole {
        offset: 1000 + at,
        payload: 1000 + at + 2,
        size: SESSION_PAYLOAD.len(),
    };
    assert_eq!(find(search(&data, usize::MAX)), (whole, None));
    assert_eq!(
        find(search(&data, 1000 + 1)).0,
        Found::Limit { offset: 1000 + 9 }
    );
    let cut = data.get(..data.len() - 1).unwrap_or_default();
    let (found, checked) = find(search(cut, usize::MAX));
    let until = Some(1000 + data.len());
    assert_eq!(
        found,
        Found::Wait {
            offset: 1000 + at,
            until
        }
    );
    assert_eq!(checked, Some(1000 + at));
    let (found, _) = find(search(b"no candidate", usize::MAX));
    assert_eq!(found, Found::End { offset: 1012 });
}

#[test]
fn a_refuted_candidate_is_passed_over() {
    // a plausible start whose document breaks at once (0x00 is no NBFX record)
    let mut data = b"\x06\x30\x05\x04Ping\x42\x01\x00".to_vec();
    data.extend_from_slice(&[0x42; 8]);
    assert!(refuted(&data, 2, Family::BinarySession));
    assert_eq!(
        find(search(&data, usize::MAX)).0,
        Found::End {
            offset: 1000 + data.len()
        }
    );
}

#[test]
fn random_input_never_panics() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let families = [Family::BinarySession, Family::Binary, Family::Other];
    for _ in 0..20_000 {
        let len = usize::try_from(next() % 96).unwrap_or(0);
        // 0x06 and printable bytes are likely, so that candidates pass the first checks now and then
        let data: Vec<u8> = (0..len)
            .map(|_| {
                let x = next();
                u8::try_from(match x % 4 {
                    0 => 6,
                    1 => 0x20 + x % 0x60,
                    _ => x % 256,
                })
                .unwrap_or(0)
            })
            .collect();
        let family = families
            .get(usize::try_from(next() % 3).unwrap_or(0))
            .copied()
            .unwrap_or(Family::Other);
        let pos = usize::try_from(next() % 100).unwrap_or(0);
        let _ = envelope_start(
            &data,
            pos,
            usize::try_from(next() % 64).unwrap_or(0),
            family,
        );
        let _ = refuted(&data, pos, family);
        let mut s = search(&data, usize::try_from(next() % 1100).unwrap_or(0));
        s.family = family;
        s.max_scan = usize::try_from(next() % 64).unwrap_or(0);
        s.from = pos;
        s.base = usize::MAX - usize::try_from(next() % 50).unwrap_or(0);
        let (found, _) = find(s);
        if let Found::Whole { payload, size, .. } = found {
            assert!(payload.saturating_add(size) <= s.base.saturating_add(data.len()));
        }
    }
}
