//! An event's time as the sink writes it: integer nanoseconds since the epoch →
//! `2026-11-29T00:36:11.123456Z` (UTC, truncated to microseconds), the text of
//! `decoders.events.format_ts` (`time.gmtime` + `strftime`). Only from 1970 on (before it,
//! `%Y` may have fewer digits): the caller leaves earlier times to Python. An i64 of nanoseconds
//! ends in 2262; `format::civil` is checked up to 9999.

use crate::format::civil;
use crate::format::push_digits;

/// The last second of 9999-12-31 UTC.
const MAX_SECOND: i64 = 253_402_300_799;
const NANOS: i64 = 1_000_000_000;
/// Days from 0001-01-01 to 1970-01-01.
const DAYS_BEFORE_1970: u64 = 719_162;

/// The text for `ns` (None before 1970), remembering the last second's text: events come in
/// time order, many per second.
#[derive(Default)]
pub struct Clock {
    second: Option<i64>,
    text: String, // `2026-11-29T00:36:11.`
}

impl Clock {
    pub fn write(&mut self, ns: i64, out: &mut String) -> Option<()> {
        let (second, rest) = (ns.div_euclid(NANOS), ns.rem_euclid(NANOS));
        if self.second != Some(second) {
            self.text = second_text(second)?;
            self.second = Some(second);
        }
        out.push_str(&self.text);
        push_digits(out, u128::try_from(rest / 1000).ok()?, 6);
        out.push('Z');
        Some(())
    }
}

/// `2026-11-29T00:36:11.` for a second since the epoch, None outside 1970..=9999.
fn second_text(second: i64) -> Option<String> {
    if !(0..=MAX_SECOND).contains(&second) {
        return None;
    }
    let second = second.unsigned_abs();
    let (days, of_day) = (second / 86_400, second % 86_400);
    let (year, month, day) = civil(days + DAYS_BEFORE_1970);
    let (hour, minute, sec) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let mut text = String::with_capacity(20);
    let parts = [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (hour, 2, ':'),
    ];
    for (value, width, then) in parts.into_iter().chain([(minute, 2, ':'), (sec, 2, '.')]) {
        push_digits(&mut text, u128::from(value), width);
        text.push(then);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ns: i64) -> Option<String> {
        let mut out = String::new();
        Clock::default().write(ns, &mut out).map(|()| out)
    }

    #[test]
    fn known_times() {
        assert_eq!(text(0).as_deref(), Some("1970-01-01T00:00:00.000000Z"));
        // 2026-11-29T00:36:11.123456789Z, truncated
        assert_eq!(
            text(1_795_912_571_123_456_789).as_deref(),
            Some("2026-11-29T00:36:11.123456Z")
        );
        assert_eq!(
            text(951_782_400 * NANOS).as_deref(),
            Some("2000-02-29T00:00:00.000000Z")
        );
        assert_eq!(
            text(i64::MAX).as_deref(),
            Some("2262-04-11T23:47:16.854775Z")
        );
    }

    #[test]
    fn a_clock_gives_the_same_text_as_it_moves_on() {
        let mut clock = Clock::default();
        let base = 1_795_912_571_123_456_789_i64;
        for ns in [
            base,
            base + 1_000,
            base + NANOS,
            base - 3 * NANOS,
            0,
            base,
            -1,
            base,
        ] {
            let mut out = String::new();
            let written = clock.write(ns, &mut out).map(|()| out);
            assert_eq!(written, text(ns), "{ns}");
        }
    }

    #[test]
    fn before_1970_is_left_to_the_caller() {
        assert_eq!(text(-1), None);
        assert_eq!(text(i64::MIN), None);
    }
}
