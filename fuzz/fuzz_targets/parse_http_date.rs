//! Fuzzes `tether_core::internals::parse_http_date` on arbitrary bytes (converted to UTF-8 lossily).
//! Checks: no panic; a parsed date is no later than 9999-12-31T23:59:59Z (the largest
//! HTTP-date year is four digits) and formatting it back (`WallClock::to_rfc3339`) does not
//! panic; the result does not depend on surrounding spaces/tabs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_core::internals::parse_http_date;

/// 9999-12-31T23:59:59Z in Unix seconds.
const YEAR_9999_END: u64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let Some(w) = parse_http_date(&s) else {
        return;
    };
    assert!(
        w.as_unix_secs() <= YEAR_9999_END,
        "date {w:?} beyond year 9999 from {s:?}"
    );
    assert_eq!(
        w.as_unix_micros() % 1_000_000,
        0,
        "sub-second date from {s:?}"
    );
    let _ = w.to_rfc3339();
    let padded = format!(" \t{s}\t ");
    assert_eq!(parse_http_date(&padded), Some(w), "padding changed {s:?}");
});
