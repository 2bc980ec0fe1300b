//! Breaker configuration: triggers, windows, break durations, probes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::classify::Classifier;
use crate::ConfigError;

/// Largest accepted `half_open_probes` (probe slots are preallocated per breaker).
pub const MAX_HALF_OPEN_PROBES: u32 = 10_000;
/// Largest accepted count window (its ring is preallocated, one byte per call).
pub const MAX_COUNT_WINDOW: u32 = 100_000;
/// Largest accepted number of buckets in a time window.
pub const MAX_TIME_BUCKETS: u32 = 10_000;

/// Configuration of one circuit breaker.
///
/// Defaults reproduce the original's thresholds (5 consecutive failures, 60 s recovery) with the
/// fixes described in the module docs: one half-open probe at a time, a 30 s probe timeout and an
/// exact (µs) break duration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Open after this many consecutive failures (any success resets the count). `None`
    /// disables the consecutive trigger. Default `Some(5)`.
    pub consecutive_failures: Option<u32>,
    /// Open when the failure (or slow-call) ratio over a sliding window crosses a threshold.
    /// `None` (the default) disables the ratio trigger.
    pub ratio: Option<RatioTrigger>,
    /// How long the breaker stays open before it lets probes through. Default 60 s constant
    /// (the original's `recovery_timeout`).
    pub break_duration: BreakDuration,
    /// How many probes must succeed in half-open before the breaker closes; also the most
    /// probes in flight at once. Default 1.
    pub half_open_probes: u32,
    /// A probe that has not reported back after this long counts as failed. Default 30 s.
    pub probe_timeout: Duration,
    /// Capacity of the event queue; when full the oldest event is dropped (and counted).
    /// Default 64.
    pub max_events: usize,
    /// How HTTP outcomes map to success / failure / ignored for this breaker.
    pub classifier: Classifier,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: Some(5),
            ratio: None,
            break_duration: BreakDuration::Constant(Duration::from_mins(1)),
            half_open_probes: 1,
            probe_timeout: Duration::from_secs(30),
            max_events: 64,
            classifier: Classifier::default(),
        }
    }
}

impl BreakerConfig {
    /// Checks every field; a breaker is only ever built from a valid configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.consecutive_failures == Some(0) {
            return Err(ConfigError::invalid(
                "breaker.consecutive_failures",
                "must be at least 1 (use null to disable the trigger)",
            ));
        }
        if let Some(ratio) = &self.ratio {
            ratio.validate()?;
        }
        self.break_duration.validate()?;
        if self.half_open_probes == 0 || self.half_open_probes > MAX_HALF_OPEN_PROBES {
            return Err(ConfigError::invalid(
                "breaker.half_open_probes",
                "must be in 1..=10000",
            ));
        }
        if self.probe_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "breaker.probe_timeout",
                "must be greater than zero",
            ));
        }
        self.classifier.validate()
    }
}

/// The failure-ratio trigger (Resilience4j / Polly semantics).
///
/// After every recorded call in Closed, if the window holds at least `min_throughput` calls and
/// `failures / calls >= failure_ratio` (or, with `slow_call`, `slow / calls >= slow_call.ratio`),
/// the breaker opens. Below `min_throughput` the ratios are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioTrigger {
    /// The sliding window the ratios are computed over.
    pub window: BreakerWindow,
    /// Failure ratio threshold, in (0, 1].
    pub failure_ratio: f64,
    /// Minimum number of calls in the window before any ratio is evaluated (at least 1).
    pub min_throughput: u32,
    /// Optional slow-call trigger over the same window.
    #[serde(default)]
    pub slow_call: Option<SlowCall>,
}

impl RatioTrigger {
    fn validate(&self) -> Result<(), ConfigError> {
        self.window.validate()?;
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(ConfigError::invalid(
                "breaker.ratio.failure_ratio",
                "must be in (0, 1]",
            ));
        }
        if self.min_throughput == 0 {
            return Err(ConfigError::invalid(
                "breaker.ratio.min_throughput",
                "must be at least 1",
            ));
        }
        if let BreakerWindow::Count(n) = self.window
            && self.min_throughput > n
        {
            return Err(ConfigError::invalid(
                "breaker.ratio.min_throughput",
                "must not exceed the count window size (the trigger could never fire)",
            ));
        }
        if let Some(slow) = &self.slow_call {
            if slow.duration.is_zero() {
                return Err(ConfigError::invalid(
                    "breaker.ratio.slow_call.duration",
                    "must be greater than zero",
                ));
            }
            if !(slow.ratio > 0.0 && slow.ratio <= 1.0) {
                return Err(ConfigError::invalid(
                    "breaker.ratio.slow_call.ratio",
                    "must be in (0, 1]",
                ));
            }
        }
        Ok(())
    }
}

/// Slow-call detection: calls that take longer than `duration` are slow, whatever their outcome.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowCall {
    /// A call strictly slower than this is slow.
    pub duration: Duration,
    /// Slow-call ratio threshold over the window, in (0, 1].
    pub ratio: f64,
}

/// A sliding window of recent outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakerWindow {
    /// The last `n` recorded calls (a ring with pre-aggregated totals; O(1) per call).
    Count(u32),
    /// Calls recorded in the last `duration`, kept in `buckets` equal buckets rotated by `now`
    /// (the effective span is `buckets × ⌊duration / buckets⌋`).
    Time {
        /// The span of the window.
        duration: Duration,
        /// How many buckets the span is divided into (1..=10000).
        buckets: u32,
    },
}

impl BreakerWindow {
    fn validate(self) -> Result<(), ConfigError> {
        match self {
            BreakerWindow::Count(n) => {
                if n == 0 || n > MAX_COUNT_WINDOW {
                    return Err(ConfigError::invalid(
                        "breaker.ratio.window.count",
                        "must be in 1..=100000",
                    ));
                }
            }
            BreakerWindow::Time { duration, buckets } => {
                if buckets == 0 || buckets > MAX_TIME_BUCKETS {
                    return Err(ConfigError::invalid(
                        "breaker.ratio.window.time.buckets",
                        "must be in 1..=10000",
                    ));
                }
                if duration.as_micros() < u128::from(buckets) {
                    return Err(ConfigError::invalid(
                        "breaker.ratio.window.time.duration",
                        "must be at least one microsecond per bucket",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How long the breaker stays open.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakDuration {
    /// Always the same.
    Constant(Duration),
    /// `base × factor^(k−1)` for the k-th consecutive opening, capped at `max`. The count of
    /// consecutive openings resets when the breaker closes.
    Exponential {
        /// The first break.
        base: Duration,
        /// Growth factor, finite and at least 1.
        factor: f64,
        /// The cap (at least `base`).
        max: Duration,
    },
}

impl BreakDuration {
    fn validate(self) -> Result<(), ConfigError> {
        match self {
            BreakDuration::Constant(d) => {
                if d.is_zero() {
                    return Err(ConfigError::invalid(
                        "breaker.break_duration",
                        "must be greater than zero",
                    ));
                }
            }
            BreakDuration::Exponential { base, factor, max } => {
                if base.is_zero() {
                    return Err(ConfigError::invalid(
                        "breaker.break_duration.base",
                        "must be greater than zero",
                    ));
                }
                if !(factor.is_finite() && factor >= 1.0) {
                    return Err(ConfigError::invalid(
                        "breaker.break_duration.factor",
                        "must be finite and at least 1",
                    ));
                }
                if max < base {
                    return Err(ConfigError::invalid(
                        "breaker.break_duration.max",
                        "must be at least base",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The break for the `opening`-th consecutive opening (1-based; 0 is treated as 1).
    pub fn for_opening(self, opening: u32) -> Duration {
        match self {
            BreakDuration::Constant(d) => d,
            BreakDuration::Exponential { base, factor, max } => {
                let exp = opening.saturating_sub(1).min(i32::MAX as u32) as i32;
                let secs = base.as_secs_f64() * factor.powi(exp);
                if !secs.is_finite() || secs >= max.as_secs_f64() {
                    return max;
                }
                Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max))
            }
        }
    }
}
