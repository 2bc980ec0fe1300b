//! `Retry-After` parsing (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
//!
//! Malformed values are treated as absent — never a panic or an error — because a server's bad
//! header must not turn a retryable response into a failure (the original raised `ValueError`
//! out of the request for anything but an integer).

use std::time::Duration;

use crate::WallClock;

/// Parses a `Retry-After` value into the wait it asks for, measured from `wall_now`.
///
/// * delta-seconds: ASCII digits only, surrounding spaces/tabs allowed (`" 120 "`). Values too
///   large for a `u64` saturate to `u64::MAX` seconds. Signs, fractions (`"1.5"`) and exponents are
///   malformed.
/// * HTTP-date (IMF-fixdate, RFC 850 or asctime, via `httpdate`): the time from `wall_now` to the
///   date, exact to the microsecond; a date in the past gives [`Duration::ZERO`].
/// * anything else (empty, garbage, non-ASCII, impossible dates): `None`.
pub fn parse_retry_after(value: &str, wall_now: WallClock) -> Option<Duration> {
    let v = value.trim_matches(|c| c == ' ' || c == '\t');
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only overflow can fail, and overflow saturates.
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(v).ok()?;
    let target = WallClock::from_system_time(date);
    Some(target.saturating_duration_since(wall_now))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// 2015-05-15T15:34:21Z, the httpdate crate's example.
    const WALL: WallClock = WallClock::from_unix_secs(1_431_704_061);

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after("120", WALL), Some(Duration::from_mins(2)));
        assert_eq!(parse_retry_after("0", WALL), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" \t7 ", WALL),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("007", WALL), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("99999999999999999999999999999", WALL),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn http_date_future_and_past() {
        // 10 s after WALL.
        assert_eq!(
            parse_retry_after("Fri, 15 May 2015 15:34:31 GMT", WALL),
            Some(Duration::from_secs(10))
        );
        // Microsecond precision: the wall clock is 0.25 s past the second.
        let wall = WallClock::from_unix_micros(1_431_704_061_250_000);
        assert_eq!(
            parse_retry_after("Fri, 15 May 2015 15:34:31 GMT", wall),
            Some(Duration::from_millis(9_750))
        );
        // RFC 850 and asctime forms.
        assert_eq!(
            parse_retry_after("Friday, 15-May-15 15:34:31 GMT", WALL),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Fri May 15 15:34:31 2015", WALL),
            Some(Duration::from_secs(10))
        );
        // In the past: zero, not None.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", WALL),
            Some(Duration::ZERO)
        );
        // Far future.
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", WALL).unwrap();
        assert!(far > Duration::from_secs(250_000_000_000), "{far:?}");
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "   ",
            "abc",
            "-1",
            "+1",
            "1.5",
            "1e3",
            "1 2",
            "0x10",
            "١٢",
            "５",
            "é",
            "Fri, 15 May 2015 15:34:31",     // no zone
            "Mon, 15 May 2015 15:34:31 GMT", // wrong weekday
            "Fri, 32 May 2015 15:34:31 GMT",
            "Fri, 15 May 2015 25:34:31 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, WALL), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,64}", wall in any::<u64>()) {
            let _ = parse_retry_after(&s, WallClock::from_unix_micros(wall));
        }

        #[test]
        fn digits_round_trip(n in any::<u64>()) {
            prop_assert_eq!(
                parse_retry_after(&n.to_string(), WALL),
                Some(Duration::from_secs(n))
            );
        }
    }
}
