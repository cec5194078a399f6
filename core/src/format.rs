//! Typed values as .NET's XmlConverter/XmlConvert print them (decoders/nbfx.py `_format_*`):
//! decimal, DateTime, TimeSpan, Guid, and base64 for bytes.
#![forbid(unsafe_code)]

use crate::error::{nowhere, Result};

/// [MC-NBFX] DecimalText = [MS-OAUT] DECIMAL: wReserved, scale, sign, Hi32, Lo64. Checked when
/// read (the error the Python reference raises), written by `write_decimal` when needed.
pub fn check_decimal(raw: &[u8; 16]) -> Result<()> {
    let [r0, r1, scale, sign, ..] = *raw;
    if u16::from_le_bytes([r0, r1]) != 0 || scale > 28 || (sign != 0 && sign != 0x80) {
        return nowhere(
            "nbfx_bad_value",
            format!("invalid decimal (scale {scale}, sign 0x{sign:02x})"),
        );
    }
    Ok(())
}

/// A checked decimal as .NET's "G" prints it: the scale kept (1.50m -> "1.50"), never scientific.
pub fn write_decimal(raw: &[u8; 16], out: &mut String) {
    let [_, _, scale, sign, h0, h1, h2, h3, l0, l1, l2, l3, l4, l5, l6, l7] = *raw;
    let hi = u32::from_le_bytes([h0, h1, h2, h3]);
    let lo = u64::from_le_bytes([l0, l1, l2, l3, l4, l5, l6, l7]);
    let negative = sign != 0 && (hi != 0 || lo != 0);
    if hi == 0 && scale < 20 {
        // the usual decimal: 64 bits, built right to left and copied once
        let mut text = Backwards::new();
        let mut v = lo;
        if scale > 0 {
            for _ in 0..scale {
                text.byte(b'0' + (v % 10) as u8);
                v /= 10;
            }
            text.byte(b'.');
        }
        text.digits(v, 1);
        if negative {
            text.byte(b'-');
        }
        text.push_to(out);
        return;
    }
    if negative {
        out.push('-');
    }
    let magnitude = (u128::from(hi) << 64) | u128::from(lo);
    let scale = u32::from(scale);
    if scale == 0 {
        push_digits(out, magnitude, 1);
        return;
    }
    match 10u128.checked_pow(scale) {
        Some(unit) => {
            push_digits(out, magnitude / unit, 1);
            out.push('.');
            push_digits(out, magnitude % unit, scale as usize);
        }
        // an unchecked scale above 38 (a checked one is at most 28): 96 bits are below 10^29, so below one
        None => {
            out.push_str("0.");
            push_digits(out, magnitude, scale as usize);
        }
    }
}

const TICKS_PER_SECOND: i64 = 10_000_000;
const TICKS_PER_DAY: i64 = 86_400 * TICKS_PER_SECOND;
const MAX_TICKS: i64 = 3_155_378_975_999_999_999;
const TICKS_CEILING: i64 = 1 << 62;
const DAY: u64 = TICKS_PER_DAY.unsigned_abs();
const SECOND: u64 = TICKS_PER_SECOND.unsigned_abs();

/// Proleptic Gregorian (year, month, day) of day number `days` (0 = 0001-01-01): Howard Hinnant's
/// `civil_from_days`, shifted from 1970-01-01 to 0001-01-01, in unsigned arithmetic (no day comes
/// before it), which divides by constants without sign corrections.
pub(crate) fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 306; // 719_468 - 719_162
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// Decimal digits of `v`, at least `width` of them (zero-padded), without the formatting machinery.
pub fn push_digits(out: &mut String, v: u128, width: usize) {
    let mut text = Backwards::new();
    match u64::try_from(v) {
        Ok(small) => text.digits(small, width), // u64 arithmetic: u128 division is a library call
        Err(_) => {
            let mut big = v;
            while big > 0 {
                text.byte(b'0' + (big % 10) as u8);
                big /= 10;
            }
            for _ in text.len()..width {
                text.byte(b'0'); // bounded by `width`, even once the buffer is full
            }
        }
    }
    text.push_to(out);
}

/// Short ASCII text (digits, signs, separators) written right to left into a stack buffer, then
/// appended in one copy rather than char by char.
struct Backwards {
    buf: [u8; 48],
    at: usize,
}

impl Backwards {
    fn new() -> Self {
        Backwards {
            buf: [b'0'; 48],
            at: 48,
        }
    }

    /// Prepend one byte (ASCII only; a full buffer drops it: the callers' texts are shorter).
    #[inline]
    fn byte(&mut self, b: u8) {
        if let Some(at) = self.at.checked_sub(1) {
            if let Some(slot) = self.buf.get_mut(at) {
                *slot = b;
                self.at = at;
            }
        }
    }

    /// Prepend the digits of `v`, zero-padded to at least `width`.
    #[inline]
    fn digits(&mut self, mut v: u64, width: usize) {
        let mut n = 0;
        loop {
            self.byte(b'0' + (v % 10) as u8);
            v /= 10;
            n += 1;
            if v == 0 && n >= width {
                break;
            }
        }
    }

    fn len(&self) -> usize {
        self.buf.len() - self.at
    }

    fn push_to(&self, out: &mut String) {
        push_ascii(out, self.buf.get(self.at..).unwrap_or_default());
    }
}

/// ASCII bytes appended as one `str`: the check is the ASCII fast path of `from_utf8`, and never
/// fails for what the callers build.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(core::str::from_utf8(ascii).unwrap_or_default());
}

pub fn push_i64(out: &mut String, v: i64) {
    let mut text = Backwards::new();
    text.digits(v.unsigned_abs(), 1);
    if v < 0 {
        text.byte(b'-');
    }
    text.push_to(out);
}

/// '.' and seven fraction digits (100 ns ticks) with trailing zeros cut, prepended to `text`.
fn fraction(text: &mut Backwards, fraction: u64) {
    let mut v = fraction;
    let mut width = 7;
    while v.is_multiple_of(10) && width > 1 {
        v /= 10;
        width -= 1;
    }
    text.digits(v, width);
    text.byte(b'.');
}

/// (kind, ticks) of a [MC-NBFX] DateTimeText (62-bit ticks + 2-bit kind), local kind as its UTC
/// instant, or the error the Python reference raises.
fn datetime_parts(raw: u64) -> Result<(u64, i64)> {
    let kind = raw >> 62;
    let mut ticks = i64::try_from(raw & ((1u64 << 62) - 1)).unwrap_or(i64::MAX);
    if kind == 2 {
        if ticks > TICKS_CEILING - TICKS_PER_DAY {
            ticks -= TICKS_CEILING;
        }
        if ticks < 0 {
            ticks += TICKS_PER_DAY;
        }
    }
    if kind == 3 || ticks > MAX_TICKS {
        return nowhere(
            "nbfx_bad_value",
            format!("DateTime out of range (kind {kind}, ticks {ticks})"),
        );
    }
    Ok((kind, ticks))
}

pub fn check_datetime(raw: u64) -> Result<()> {
    datetime_parts(raw).map(|_| ())
}

/// A checked DateTime as XmlConverter writes it: "Z" for UTC, "+00:00" for local (its UTC instant),
/// nothing for unspecified; fraction digits with trailing zeros cut.
pub fn write_datetime(raw: u64, out: &mut String) {
    let Ok((kind, ticks)) = datetime_parts(raw) else {
        return;
    };
    // never negative (datetime_parts): unsigned, so dividing by constants needs no sign fix-ups
    let ticks = ticks.unsigned_abs();
    let (days, rest) = (ticks / DAY, ticks % DAY);
    let (seconds, frac) = (rest / SECOND, rest % SECOND);
    let (y, m, d) = civil(days);
    // the fixed-width part at fixed places (MAX_TICKS keeps the year within four digits)
    let two = |v: u64| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    let ([y0, y1], [y2, y3]) = (two(y / 100), two(y % 100));
    let ([m0, m1], [d0, d1]) = (two(m), two(d));
    let [h0, h1] = two(seconds / 3600);
    let [n0, n1] = two(seconds / 60 % 60);
    let [s0, s1] = two(seconds % 60);
    push_ascii(
        out,
        &[
            y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1,
        ],
    );
    if frac != 0 {
        let mut text = Backwards::new();
        fraction(&mut text, frac);
        text.push_to(out);
    }
    out.push_str(match kind {
        1 => "Z",
        2 => "+00:00",
        _ => "",
    });
}

/// XmlConvert.ToString(TimeSpan): [-]P[nD][T[nH][nM][s[.fffffff]S]], zero as "PT0S".
pub fn timespan(ticks: i64) -> String {
    let mut text = String::with_capacity(24);
    if ticks < 0 {
        text.push('-');
    }
    let ticks = ticks.unsigned_abs();
    let days = ticks / DAY;
    let rest = ticks % DAY;
    let (seconds, frac) = (rest / SECOND, rest % SECOND);
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    text.push('P');
    if days != 0 {
        text.push_str(&format!("{days}D"));
    }
    if hours != 0 || minutes != 0 || seconds != 0 || frac != 0 {
        text.push('T');
        if hours != 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes != 0 {
            text.push_str(&format!("{minutes}M"));
        }
        if seconds != 0 || frac != 0 {
            text.push_str(&seconds.to_string());
            if frac != 0 {
                let mut digits = Backwards::new();
                fraction(&mut digits, frac);
                digits.push_to(&mut text);
            }
            text.push('S');
        }
    }
    if text.ends_with('P') {
        text.push_str("T0S");
    }
    text
}

/// Guid.ToString(): first three fields little-endian, lower-case "D" layout.
pub fn write_guid(raw: &[u8; 16], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let [a0, a1, a2, a3, b0, b1, c0, c1, d0, d1, e0, e1, e2, e3, e4, e5] = *raw;
    let bytes = [
        a3, a2, a1, a0, b1, b0, c1, c0, d0, d1, e0, e1, e2, e3, e4, e5,
    ];
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1; // the '-' already there
        }
        for nibble in [b >> 4, b & 15] {
            if let Some(slot) = text.get_mut(at) {
                *slot = HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
            }
            at += 1;
        }
    }
    push_ascii(out, &text);
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, built as bytes and checked as UTF-8 once (ASCII, so one fast
/// pass), rather than pushed char by char.
pub fn base64(data: &[u8]) -> String {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    let sym = |i: u32| BASE64.get((i & 63) as usize).copied().unwrap_or(b'A');
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        let third = if chunk.len() > 1 { sym(n >> 6) } else { b'=' };
        let fourth = if chunk.len() > 2 { sym(n) } else { b'=' };
        out.extend_from_slice(&[sym(n >> 18), sym(n >> 12), third, fourth]);
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
