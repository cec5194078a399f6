//! An event's time as the sink writes it: integer nanoseconds since the epoch →
//! `2026-11-29T00:36:11.123456Z` (UTC, truncated to microseconds), the text of
//! `decoders.events.format_ts` (`time.gmtime` + `strftime`). Only from 1970 on (before it,
//! `%Y` may have fewer digits): the caller leaves earlier times to Python. An i64 of nanoseconds
//! ends in 2262; `civil_from_days` is checked up to 9999.

use crate::numbers::push_digits;

/// The last second of 9999-12-31 UTC.
const MAX_SECOND: i64 = 253_402_300_799;
const NANOS: i64 = 1_000_000_000;

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
        push_digits(u64::try_from(rest / 1000).ok()?, 6, out);
        out.push('Z');
        Some(())
    }
}

/// `2026-11-29T00:36:11.` for a second since the epoch, None outside 1970..=9999.
fn second_text(second: i64) -> Option<String> {
    if !(0..=MAX_SECOND).contains(&second) {
        return None;
    }
    let (days, of_day) = (second / 86_400, second % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, sec) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let mut text = String::with_capacity(20);
    let parts = [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (hour, 2, ':'),
    ];
    for (value, width, then) in parts.into_iter().chain([(minute, 2, ':'), (sec, 2, '.')]) {
        push_digits(u64::try_from(value).ok()?, width, &mut text);
        text.push(then);
    }
    Some(text)
}

/// (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`, for
/// days ≥ 0).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

    fn days_in(year: i64, month: i64) -> i64 {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn every_day_follows_the_one_before() {
        let mut last = (1969, 12, 31);
        for days in 0..(MAX_SECOND / 86_400 + 1) {
            let day = civil_from_days(days);
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
}
