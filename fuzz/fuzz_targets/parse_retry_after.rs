//! Fuzzes `tether_core::internals::parse_retry_after(&str, WallClock)` with arbitrary text (UTF-8,
//! lossy) and an arbitrary wall clock. Checks: no panic; all-digit values give exactly that
//! many seconds (saturating at `u64::MAX`); any other `Some` comes from an HTTP-date and equals
//! the time from `wall_now` to that date, which is zero for a date in the past and never more
//! than the distance to the end of year 9999.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tether_core::WallClock;
use tether_core::internals::parse_http_date;
use tether_core::internals::parse_retry_after;

/// 9999-12-31T23:59:59Z in Unix seconds.
const YEAR_9999_END: u64 = 253_402_300_799;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    wall_micros: u64,
    value: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let wall = WallClock::from_unix_micros(input.wall_micros);
    let s = String::from_utf8_lossy(input.value);
    let got = parse_retry_after(&s, wall);

    let trimmed = s.trim_matches([' ', '\t']);
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let secs = trimmed.parse::<u64>().unwrap_or(u64::MAX);
        assert_eq!(got, Some(Duration::from_secs(secs)), "delta-seconds {s:?}");
        return;
    }
    let date = parse_http_date(&s);
    match (got, date) {
        (None, None) => {}
        (Some(d), Some(date)) => {
            assert_eq!(
                d,
                date.saturating_duration_since(wall),
                "Retry-After {s:?} at {wall:?}"
            );
            if date <= wall {
                assert_eq!(d, Duration::ZERO, "past date {s:?} at {wall:?} gave {d:?}");
            }
            let horizon = WallClock::from_unix_secs(YEAR_9999_END).saturating_duration_since(wall);
            assert!(d <= horizon, "{d:?} beyond year 9999 for {s:?} at {wall:?}");
        }
        (got, date) => panic!(
            "parse_retry_after({s:?}) = {got:?} but parse_http_date = {date:?} (wall {wall:?})"
        ),
    }
});
