//! Unit tests of `format`: decimals on both paths and their edges, DateTimes of every kind,
//! TimeSpans, Guids and base64.
use super::*;

/// The text `write_decimal` gives, checked or not.
fn decimal_text(raw: &[u8; 16]) -> String {
    let mut out = String::new();
    write_decimal(raw, &mut out);
    out
}

/// Both steps, as `nbfx` and `tree` take them.
fn decimal(raw: &[u8; 16]) -> Result<String> {
    check_decimal(raw).map(|()| decimal_text(raw))
}

fn datetime(raw: u64) -> Result<String> {
    check_datetime(raw).map(|()| {
        let mut out = String::new();
        write_datetime(raw, &mut out);
        out
    })
}

#[test]
fn decimals() {
    let mut raw = [0u8; 16];
    raw[2] = 2;
    raw[8] = 150;
    assert_eq!(decimal(&raw).as_deref(), Ok("1.50"));
    raw[3] = 0x80;
    assert_eq!(decimal(&raw).as_deref(), Ok("-1.50"));
    raw[8] = 0;
    assert_eq!(decimal(&raw).as_deref(), Ok("0.00"));
    raw[2] = 29;
    assert!(decimal(&raw).is_err());
    let max = [
        0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    ];
    assert_eq!(
        decimal(&max).as_deref(),
        Ok("79228162514264337593543950335")
    );
    // the 64-bit path at its edges, and the 96-bit one with a scale
    let lo = |scale: u8, sign: u8, v: u64| {
        let mut raw = [0u8; 16];
        raw[2] = scale;
        raw[3] = sign;
        raw[8..].copy_from_slice(&v.to_le_bytes());
        decimal(&raw)
    };
    assert_eq!(lo(19, 0, u64::MAX).as_deref(), Ok("1.8446744073709551615"));
    assert_eq!(lo(20, 0x80, 5).as_deref(), Ok("-0.00000000000000000005"));
    assert_eq!(lo(3, 0x80, 7).as_deref(), Ok("-0.007"));
    assert_eq!(lo(0, 0, 0).as_deref(), Ok("0"));
    let mut wide = [0u8; 16];
    wide[2] = 2;
    wide[4] = 1; // Hi32 = 1: 2^64 hundredths
    assert_eq!(decimal(&wide).as_deref(), Ok("184467440737095516.16"));
    // a width beyond the buffer ends (cut), whatever the value's size
    let mut out = String::new();
    push_digits(&mut out, u128::MAX, 100);
    push_digits(&mut out, 7, 100);
    assert_eq!(out.len(), 96);
    wide[2] = 28; // a fraction above 64 bits, zero-padded
    assert_eq!(
        decimal(&wide).as_deref(),
        Ok("0.0000000018446744073709551616")
    );
    // an unchecked scale above 10^38's (write_decimal is public): below one, and no overflow
    wide[2] = 40;
    wide[4] = 0;
    wide[8] = 1;
    assert_eq!(decimal_text(&wide), format!("0.{}1", "0".repeat(39)));
    wide[2] = 255;
    assert!(decimal_text(&wide).starts_with("0.000"));
}

#[test]
fn datetimes() {
    assert_eq!(datetime(0).as_deref(), Ok("0001-01-01T00:00:00"));
    assert_eq!(
        datetime((1 << 62) | 1).as_deref(),
        Ok("0001-01-01T00:00:00.0000001Z")
    );
    // 2026-11-30T12:34:56.5 UTC
    let ticks: u64 = 639_000_000_000_000_000;
    assert!(datetime(ticks).is_ok_and(|s| s.starts_with("202")));
    assert_eq!(
        datetime(MAX_TICKS.unsigned_abs()).as_deref(),
        Ok("9999-12-31T23:59:59.9999999")
    );
    assert!(datetime(MAX_TICKS.unsigned_abs() + 1).is_err());
    assert!(datetime(3 << 62).is_err());
    assert_eq!(
        datetime((2 << 62) | ((1 << 62) - 1)).as_deref(),
        Ok("0001-01-01T23:59:59.9999999+00:00")
    );
}

fn days_in(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[test]
fn every_day_follows_the_one_before() {
    let mut last = (0, 12, 31);
    for days in 0..=MAX_TICKS.unsigned_abs() / DAY {
        let day = civil(days);
        let expected = if last.2 < days_in(last.0, last.1) {
            (last.0, last.1, last.2 + 1)
        } else if last.1 < 12 {
            (last.0, last.1 + 1, 1)
        } else {
            (last.0 + 1, 1, 1)
        };
        assert_eq!(day, expected, "{days}");
        last = day;
    }
    assert_eq!(last, (9999, 12, 31));
}

#[test]
fn timespans() {
    assert_eq!(timespan(0), "PT0S");
    assert_eq!(timespan(TICKS_PER_DAY + 15), "P1DT0.0000015S");
    assert_eq!(timespan(-36_000_000_000), "-PT1H");
    assert_eq!(timespan(i64::MIN), "-P10675199DT2H48M5.4775808S");
}

#[test]
fn guids_and_base64() {
    let raw: [u8; 16] = core::array::from_fn(|i| u8::try_from(i).unwrap_or(0));
    let mut text = String::new();
    write_guid(&raw, &mut text);
    assert_eq!(text, "03020100-0504-0706-0809-0a0b0c0d0e0f");
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}
