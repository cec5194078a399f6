//! Floating-point text: .NET Framework's `ToString("R")` for double and single (as XmlConverter
//! writes them; `format_double`/`format_float` in decoders/nbfx.py), and a double as JSON the way the
//! event sink (pydantic-core) prints it: Python's `repr` digits and layout, exponent unpadded.
#![forbid(unsafe_code)]

use crate::format::push_digits;

/// (digits without trailing zeros, decimal exponent of the first digit) of `|value|` rounded to
/// `precision` significant digits, and whether that rounded text reads back as `|value|`.
fn significant(value: f64, precision: usize) -> (String, i32, f64) {
    let text = format!("{:.*e}", precision.saturating_sub(1), value.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let back: f64 = text.parse().unwrap_or(f64::NAN);
    (digits, exponent + 1, back)
}

/// .NET's "G" layout of 0.<digits> x 10^scale (Number.Formatting FormatGeneral).
fn general(digits: &str, scale: i32, negative: bool, max_digits: i32) -> String {
    let mut s = String::with_capacity(digits.len() + 8);
    if negative {
        s.push('-');
    }
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if scale > max_digits || scale < -3 {
        let mut chars = digits.chars();
        if let Some(first) = chars.next() {
            s.push(first);
        }
        let rest = chars.as_str();
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        let exponent = scale - 1;
        s.push('E');
        s.push(if exponent < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exponent.unsigned_abs()));
    } else if scale <= 0 {
        s.push_str("0.");
        for _ in 0..-scale {
            s.push('0');
        }
        s.push_str(digits);
    } else if scale >= n {
        s.push_str(digits);
        for _ in 0..(scale - n) {
            s.push('0');
        }
    } else {
        let cut = usize::try_from(scale).unwrap_or(0);
        let (int, frac) = digits.split_at(cut.min(digits.len()));
        s.push_str(int);
        s.push('.');
        s.push_str(frac);
    }
    s
}

fn special(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value.is_infinite() {
        Some(if value > 0.0 { "INF" } else { "-INF" })
    } else if value == 0.0 {
        Some(if value.is_sign_negative() { "-0" } else { "0" })
    } else {
        None
    }
}

/// Double as .NET's `ToString("R")`: 15 digits if they read back the same, else 17.
pub fn format_double(value: f64) -> String {
    if let Some(s) = special(value) {
        return s.to_owned();
    }
    let (mut digits, mut scale, back) = significant(value, 15);
    let mut precision = 15;
    if back != value.abs() {
        (digits, scale, _) = significant(value, 17);
        precision = 17;
    }
    general(&digits, scale, value < 0.0, precision)
}

/// Single (widened to double) as .NET's `ToString("R")`: 7 digits if they read back as the same
/// single, else 9.
pub fn format_float(value: f64) -> String {
    if let Some(s) = special(value) {
        return s.to_owned();
    }
    let (mut digits, mut scale, back) = significant(value, 7);
    let mut precision = 7;
    #[allow(clippy::cast_possible_truncation)] // rounding to the nearest single is the point
    let single = back as f32;
    let overflow = single.is_infinite() && back.is_finite(); // Python's struct.pack raises here
    if overflow || f64::from(single) != value.abs() {
        (digits, scale, _) = significant(value, 9);
        precision = 9;
    }
    general(&digits, scale, value < 0.0, precision)
}

/// A signed integer in decimal, without `fmt`'s machinery: the event writer prints a dozen a line.
pub fn push_int(value: i64, out: &mut String) {
    if value < 0 {
        out.push('-');
    }
    push_digits(out, u128::from(value.unsigned_abs()), 1);
}

/// A finite double as JSON text, as pydantic-core writes a Python float: shortest round-trip
/// digits, fixed notation for exponents -5..15 (with ".0" when integral), else `1.5e+16`/`1e-6`.
pub fn json_double(value: f64, out: &mut String) {
    let text = format!("{:e}", value.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if value.is_sign_negative() {
        out.push('-');
    }
    if (-5..16).contains(&exponent) {
        if exponent >= n - 1 {
            out.push_str(&digits);
            for _ in 0..(exponent - n + 1) {
                out.push('0');
            }
            out.push_str(".0");
        } else if exponent >= 0 {
            let cut = usize::try_from(exponent + 1).unwrap_or(0).min(digits.len());
            let (int, frac) = digits.split_at(cut);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str("0.");
            for _ in 0..(-exponent - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        out.push_str(mantissa);
        out.push('e');
        if exponent >= 0 {
            out.push('+');
        }
        out.push_str(&exponent.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_r_double() {
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(1e15), "1E+15");
        assert_eq!(format_double(123456789012345.0), "123456789012345");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "1E-05");
        assert_eq!(format_double(f64::NAN), "NaN");
        assert_eq!(format_double(f64::NEG_INFINITY), "-INF");
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(f64::MAX), "1.7976931348623157E+308");
    }

    #[test]
    fn dotnet_r_single() {
        assert_eq!(format_float(f64::from(0.1f32)), "0.1");
        assert_eq!(format_float(f64::from(f32::MAX)), "3.40282347E+38");
        assert_eq!(format_float(f64::from(16777217.0f32)), "16777216");
    }

    #[test]
    fn json_like_pydantic() {
        let cases = [
            (1e16, "1e+16"),
            (1e-7, "1e-7"),
            (1.5e300, "1.5e+300"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (12345.678, "12345.678"),
            (5e-324, "5e-324"),
            (0.0001, "0.0001"),
            (1e-5, "0.00001"),
            (-1.5e-5, "-0.000015"),
            (9.99999e-6, "9.99999e-6"),
            (1.2345678901234568e-5, "0.000012345678901234568"),
            (1.2345678901234568e20, "1.2345678901234568e+20"),
        ];
        for (value, text) in cases {
            let mut out = String::new();
            json_double(value, &mut out);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn integers_as_format_writes_them() {
        for value in [
            0,
            1,
            -1,
            9,
            10,
            99,
            100,
            12_345,
            i64::MAX,
            i64::MIN,
            -1_000_000,
        ] {
            let mut out = String::new();
            push_int(value, &mut out);
            assert_eq!(out, value.to_string());
        }
        for (value, width) in [
            (0_u64, 2),
            (7, 2),
            (7, 6),
            (123_456, 6),
            (12, 4),
            (u64::MAX, 1),
            (u64::MAX, 20),
        ] {
            let mut out = String::new();
            push_digits(&mut out, u128::from(value), width);
            assert_eq!(out, format!("{value:0width$}"));
        }
    }
}
