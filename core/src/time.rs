//! Time as an argument: a monotonic [`Timestamp`] and a wall-clock [`WallClock`].
//!
//! The core never reads a clock. Frontends pick an origin (process start, page load, a test's
//! zero) and hand in `Timestamp`s measured from it; wall-clock readings (for `Date`, `Expires`,
//! HTTP-date `Retry-After` and alert timestamps) come in as [`WallClock`] values.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A monotonic instant: microseconds since an origin the frontend chooses.
///
/// `Timestamp`s from different origins must never be mixed. Arithmetic saturates instead of
/// overflowing, so a hostile duration (say, a `Retry-After` of 2^60 seconds) cannot panic.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The largest representable instant; used as "never".
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// From microseconds since the origin.
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// From milliseconds since the origin (saturating).
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms.saturating_mul(1_000))
    }

    /// From whole seconds since the origin (saturating).
    pub const fn from_secs(s: u64) -> Self {
        Timestamp(s.saturating_mul(1_000_000))
    }

    /// From a duration since the origin (saturating).
    pub fn from_duration(d: Duration) -> Self {
        Timestamp(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the origin (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }

    /// The time since the origin as a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(us))
    }

    /// `self - d`, saturating at [`Timestamp::ZERO`].
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_sub(us))
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating: never overflows.
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

/// A wall-clock reading: microseconds since the Unix epoch (UTC), as the frontend read it.
///
/// Used only where HTTP or reports need calendar time; ordering and timeouts always use
/// [`Timestamp`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct WallClock(u64);

impl WallClock {
    /// The Unix epoch.
    pub const EPOCH: WallClock = WallClock(0);

    /// From microseconds since the Unix epoch.
    pub const fn from_unix_micros(us: u64) -> Self {
        WallClock(us)
    }

    /// From milliseconds since the Unix epoch (saturating).
    pub const fn from_unix_millis(ms: u64) -> Self {
        WallClock(ms.saturating_mul(1_000))
    }

    /// From whole seconds since the Unix epoch (saturating).
    pub const fn from_unix_secs(s: u64) -> Self {
        WallClock(s.saturating_mul(1_000_000))
    }

    /// From a [`std::time::SystemTime`] the frontend read (times before the epoch clamp to it).
    pub fn from_system_time(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => WallClock(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            Err(_) => WallClock(0),
        }
    }

    /// As a [`std::time::SystemTime`] (for formatting with `httpdate`).
    pub fn to_system_time(self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + Duration::from_micros(self.0)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_unix_micros(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_unix_secs(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Nanoseconds since the Unix epoch (exact integer, for InfluxDB line protocol).
    pub const fn as_unix_nanos(self) -> u128 {
        self.0 as u128 * 1_000
    }

    /// `self + d`, saturating.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        WallClock(self.0.saturating_add(us))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: WallClock) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// RFC 3339 / ISO 8601 UTC text with microseconds, e.g. `2026-11-26T18:40:58.167771Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / 1_000_000;
        let micros = self.0 % 1_000_000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
        assert_eq!(
            Timestamp::ZERO.saturating_sub(Duration::from_secs(1)),
            Timestamp::ZERO
        );
        assert_eq!(
            Timestamp::from_secs(1).saturating_duration_since(Timestamp::from_secs(3)),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_secs(3).saturating_duration_since(Timestamp::from_secs(1)),
            Duration::from_secs(2)
        );
        assert_eq!(
            Timestamp::ZERO.saturating_add(Duration::MAX),
            Timestamp::MAX
        );
    }

    #[test]
    fn rfc3339() {
        assert_eq!(WallClock::EPOCH.to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2026-11-26T18:40:58.167771Z
        let w = WallClock::from_unix_micros(1_795_718_458_167_771);
        assert_eq!(w.to_rfc3339(), "2026-11-26T18:40:58.167771Z");
        assert_eq!(
            WallClock::from_unix_secs(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
