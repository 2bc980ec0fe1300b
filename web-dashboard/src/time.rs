//! Timestamps: the server writes RFC 3339 (`2026-11-26T18:40:58.167771Z`); the page shows them
//! in the viewer's local time. Pure functions: the current time and the local offset come in
//! as arguments (the page reads them from `Date`), so they are tested natively.

/// Milliseconds since the Unix epoch.
pub type UnixMs = i64;

/// The viewer's clock: now, and the local time's offset from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Now.
    pub now: UnixMs,
    /// Local time minus UTC, minutes (JavaScript's `-getTimezoneOffset()`; `+60` in Paris in
    /// winter).
    pub utc_offset_minutes: i32,
}

impl Clock {
    /// A UTC clock at `now` (tests, and a fallback).
    pub const fn utc(now: UnixMs) -> Self {
        Clock {
            now,
            utc_offset_minutes: 0,
        }
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// Parses RFC 3339 date-time text into Unix milliseconds. A time without a zone (as the
/// original Python server wrote, in its local time) is read as the viewer's local time.
/// `None` for anything else.
pub fn parse_rfc3339(text: &str, utc_offset_minutes: i32) -> Option<UnixMs> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0_i64, |n, d| {
            n.checked_mul(10)?.checked_add(i64::from(d - b'0'))
        })
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0_i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        // The first three digits are milliseconds; the rest is finer than the page shows.
        for k in 0..3 {
            let d = b
                .get(start + k)
                .filter(|_| start + k < end)
                .map_or(0, |d| d - b'0');
            millis = millis * 10 + i64::from(d);
        }
        i = end;
    }
    let offset_minutes = match b.get(i) {
        None => i64::from(utc_offset_minutes),
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' { -minutes } else { minutes }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    let local = days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second.min(59)) * 1000 + millis;
    Some(local - offset_minutes * 60_000)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `at` in the viewer's local time: `HH:MM:SS` on the viewer's current day, otherwise
/// `YYYY-MM-DD HH:MM:SS`.
pub fn local_time(at: UnixMs, clock: Clock) -> String {
    let offset = i64::from(clock.utc_offset_minutes) * 60_000;
    let local = at + offset;
    let day = local.div_euclid(MS_PER_DAY);
    let ms_of_day = local.rem_euclid(MS_PER_DAY);
    let secs = ms_of_day / 1000;
    let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if day == (clock.now + offset).div_euclid(MS_PER_DAY) {
        hms
    } else {
        let (y, m, d) = civil_from_days(day);
        format!("{y:04}-{m:02}-{d:02} {hms}")
    }
}

/// `at` as `HH:MM` local time (chart axes).
pub fn local_hour_minute(at: UnixMs, utc_offset_minutes: i32) -> String {
    let local = at + i64::from(utc_offset_minutes) * 60_000;
    let mins = local.rem_euclid(MS_PER_DAY) / 60_000;
    format!("{:02}:{:02}", mins / 60, mins % 60)
}

/// RFC 3339 text shown in local time; the text itself when it cannot be read (it is shown
/// as text either way).
pub fn shown(text: &str, clock: Clock) -> String {
    parse_rfc3339(text, clock.utc_offset_minutes)
        .map_or_else(|| text.to_owned(), |at| local_time(at, clock))
}

/// A duration in words: `45 s`, `3 min`, `2 h 5 min`, `3 d`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 if s / 60 % 60 == 0 => format!("{} h", s / 3600),
        3600..86_400 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_server_writes() {
        let t = parse_rfc3339("2026-11-26T18:40:58.167771Z", 0).unwrap();
        assert_eq!(t, 1_795_718_458_167);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z", 0), Some(0));
        assert_eq!(
            parse_rfc3339("2000-02-29T12:00:00+01:30", 0),
            Some(951_825_600_000 - 5_400_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5-00:00", 0), Some(-500));
        // No zone: the viewer's local time.
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00", 60), Some(0));
    }

    #[test]
    fn refuses_what_is_not_a_date_time() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T18:40:58.Z",
            "2026-11-26T18:40:58Zjunk",
            "2026-11-26T18:40:58+0100",
            "+2026-11-26T18:40:58Z",
            "2026-1a-26T18:40:58Z",
        ] {
            assert_eq!(parse_rfc3339(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips_the_calendar() {
        for days in [-719_468, -1, 0, 59, 10_956, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn local_times_show_the_date_only_on_another_day() {
        let t = parse_rfc3339("2026-11-26T18:40:58Z", 0).unwrap();
        assert_eq!(local_time(t, Clock::utc(t + 1000)), "18:40:58");
        let paris = Clock {
            now: t,
            utc_offset_minutes: 60,
        };
        assert_eq!(local_time(t, paris), "19:40:58");
        assert_eq!(local_time(t - MS_PER_DAY, paris), "2026-11-25 19:40:58");
        // 23:30 UTC is already tomorrow in Paris.
        let late = parse_rfc3339("2026-11-26T23:30:00Z", 0).unwrap();
        assert_eq!(local_time(late, paris), "2026-11-27 00:30:00");
        assert_eq!(local_hour_minute(late, -300), "18:30");
        assert_eq!(shown("not a time <b>", paris), "not a time <b>");
    }

    #[test]
    fn spans_in_words() {
        assert_eq!(span(-5), "0 s");
        assert_eq!(span(59_999), "59 s");
        assert_eq!(span(60_000), "1 min");
        assert_eq!(span(3_600_000), "1 h");
        assert_eq!(span(3_900_000), "1 h 5 min");
        assert_eq!(span(3 * MS_PER_DAY), "3 d");
    }
}
