//! Backoff presets: how long to wait before retry number `n`.
//!
//! Every preset is a pure function of `(retry index, per-request state, rng)`. Delays are whole
//! microseconds (rounded **up**, so a delay is never shorter than the formula asks) and all
//! arithmetic saturates: `2^n` for any `n` up to `u32::MAX` tops out at the preset's cap instead of
//! overflowing.
//!
//! The retry index `n` is 0-based: `n = 0` is the wait before the first retry (after attempt 1),
//! `n = 1` the wait before the second retry, and so on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Rng};

/// How the delay before each retry grows.
///
/// Serialized externally tagged in snake_case, e.g.
/// `{"full_jitter": {"base": {"secs": 0, "nanos": 100000000}, "max": {"secs": 30, "nanos": 0}}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Constant(Duration),
    /// `min(max, base · factor^n)`, no jitter. `factor` must be finite and `>= 1`.
    Exponential {
        /// Delay before the first retry.
        base: Duration,
        /// Growth factor per retry.
        factor: f64,
        /// Cap on the delay.
        max: Duration,
    },
    /// AWS "full jitter": `U(0, min(max, base · 2^n))`.
    FullJitter {
        /// Scale of the exponential envelope.
        base: Duration,
        /// Cap on the envelope.
        max: Duration,
    },
    /// Polly v8 "decorrelated jitter v2" (the formula by George Polevoy, scaled by Dylan
    /// Reisenberger): with `t = n + U(0,1)` and `f(t) = 2^t · tanh(sqrt(4t))`, the delay is
    /// `(f(t_n) − f(t_{n−1})) / 1.4 · median_first` (with `f(t_{−1}) = 0`), capped at `max`.
    ///
    /// The delays telescope: retry `n` (0-based) happens, in median, about
    /// `median_first · 2^n` after the first failure (so single delays have medians of about
    /// 1, 1, 2, 4, 8, … × `median_first`). Delays are spread smoothly, without the spikes of the
    /// AWS formula, and each lies in `[0, max]`. Polly's default `median_first` is 2 s.
    DecorrelatedJitter {
        /// Approximate median of the first delay; later medians double.
        median_first: Duration,
        /// Cap on each delay.
        max: Duration,
    },
    /// AWS "decorrelated jitter": `min(max, U(base, 3 · previous))`, with `previous = base`
    /// before the first retry. Every delay lies in `[base, max]` (`base <= max` is validated).
    AwsDecorrelatedJitter {
        /// Lower bound and first seed.
        base: Duration,
        /// Cap on each delay.
        max: Duration,
    },
    /// The original Python client's backoff: `min(2^n + U(0,1), 30)` seconds, where `n` is the
    /// 0-based index of the attempt that just failed (its loop variable `attempt`). With three
    /// retries this gives U[1,2), U[2,3) and U[4,5) seconds.
    Original,
}

impl Default for Backoff {
    /// Polly's decorrelated jitter with a 250 ms `median_first` and a 5 s cap: with the
    /// default three retries, a dead upstream is given up on 0.7–1.5 s after the first failure
    /// (retries land, in median, about 0.25, 0.5 and 1 s after it), spread across clients.
    ///
    /// Polly's own 2 s `median_first` — and the original Python client's
    /// [`Original`](Backoff::Original) `min(2^n + U(0,1), 30)` s (7–10 s for three retries; its
    /// whole retry policy is `compat::retry_config`) —
    /// make a caller wait many seconds for an upstream that is not coming back; a caller
    /// that wants longer waits sets them (see `docs/decisions/0006-retry-defaults.md`).
    fn default() -> Self {
        Backoff::DecorrelatedJitter {
            median_first: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

/// Per-request memory of a backoff sequence (only the decorrelated presets use it).
///
/// Start every logical request with `BackoffState::default()`; [`crate::retry::RetryState`]
/// does this for you.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackoffState {
    /// The previous delay returned by [`Backoff::delay`], if any.
    pub previous: Option<Duration>,
    /// Polly v2's running `f(t_{n−1})` (0 before the first retry).
    pub decorrelated_prev: f64,
}

/// The original's cap: 30 seconds.
const ORIGINAL_CAP_US: u64 = 30_000_000;
/// Polly v2 smoothing factor for the first delay.
const P_FACTOR: f64 = 4.0;
/// Polly v2 scaling so that medians fall near `median_first · 2^n`.
const RP_SCALING_FACTOR: f64 = 1.0 / 1.4;

impl Backoff {
    /// Checks the preset's parameters (errors name fields `retry.backoff.*`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Backoff::Exponential { factor, .. } => {
                if !factor.is_finite() || *factor < 1.0 {
                    return Err(ConfigError::invalid(
                        "retry.backoff.factor",
                        "must be finite and >= 1",
                    ));
                }
            }
            Backoff::AwsDecorrelatedJitter { base, max } => {
                if base > max {
                    return Err(ConfigError::invalid(
                        "retry.backoff.base",
                        "must not exceed retry.backoff.max",
                    ));
                }
            }
            Backoff::Constant(_)
            | Backoff::FullJitter { .. }
            | Backoff::DecorrelatedJitter { .. }
            | Backoff::Original => {}
        }
        Ok(())
    }

    /// The delay before retry number `n` (0-based), updating `state`.
    ///
    /// Never panics and never overflows; the result is a whole number of microseconds.
    pub fn delay(&self, n: u32, state: &mut BackoffState, rng: &mut Rng) -> Duration {
        let us = match self {
            Backoff::Constant(d) => micros_ceil(*d),
            Backoff::Exponential { base, factor, max } => {
                let base_us = micros_ceil(*base);
                let max_us = micros_ceil(*max);
                if base_us == 0 {
                    0
                } else {
                    // powf is monotone in the exponent for factor >= 1; inf clamps to the cap.
                    let x = base_us as f64 * factor.powf(f64::from(n));
                    f64_micros_ceil(x, max_us)
                }
            }
            Backoff::FullJitter { base, max } => {
                let envelope = exp2_envelope(micros_ceil(*base), n, micros_ceil(*max));
                // U[0, envelope], inclusive.
                rng.below(envelope.saturating_add(1))
            }
            Backoff::DecorrelatedJitter { median_first, max } => {
                let max_us = micros_ceil(*max);
                let t = f64::from(n) + rng.next_f64();
                let next = t.exp2() * (P_FACTOR * t).sqrt().tanh();
                let intrinsic = next - state.decorrelated_prev;
                state.decorrelated_prev = next;
                let x = intrinsic * RP_SCALING_FACTOR * micros_ceil(*median_first) as f64;
                // inf − inf (both saturated) is NaN: treat as the cap.
                f64_micros_ceil(x, max_us)
            }
            Backoff::AwsDecorrelatedJitter { base, max } => {
                let base_us = micros_ceil(*base);
                let max_us = micros_ceil(*max);
                let prev_us = state.previous.map_or(base_us, micros_ceil);
                let hi = prev_us.saturating_mul(3).max(base_us);
                // U[base, hi], inclusive.
                let span = hi - base_us;
                let pick = base_us.saturating_add(rng.below(span.saturating_add(1)));
                pick.min(max_us)
            }
            Backoff::Original => {
                if n >= 5 {
                    // 2^5 = 32 s already exceeds the 30 s cap.
                    ORIGINAL_CAP_US
                } else {
                    ((1u64 << n) * 1_000_000 + rng.below(1_000_000)).min(ORIGINAL_CAP_US)
                }
            }
        };
        let d = Duration::from_micros(us);
        state.previous = Some(d);
        d
    }
}

/// `min(max_us, base_us · 2^n)` without overflow.
fn exp2_envelope(base_us: u64, n: u32, max_us: u64) -> u64 {
    if base_us == 0 {
        return 0;
    }
    if n >= 64 {
        return max_us;
    }
    let v = u128::from(base_us) << n;
    u64::try_from(v).unwrap_or(u64::MAX).min(max_us)
}

/// A duration in whole microseconds, rounded up, saturating at `u64::MAX`.
pub(crate) fn micros_ceil(d: Duration) -> u64 {
    let us = d.as_micros() + u128::from(!d.subsec_nanos().is_multiple_of(1_000));
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// A float number of microseconds, rounded up and clamped to `[0, max_us]`; NaN maps to `max_us`.
fn f64_micros_ceil(x: f64, max_us: u64) -> u64 {
    if x.is_nan() || x >= max_us as f64 {
        max_us
    } else if x <= 0.0 {
        0
    } else {
        (x.ceil() as u64).min(max_us)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Rng;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn constant_is_constant_and_rounds_up() {
        let b = Backoff::Constant(Duration::from_nanos(1_500));
        let mut st = BackoffState::default();
        let mut rng = Rng::new(1);
        assert_eq!(b.delay(0, &mut st, &mut rng), Duration::from_micros(2));
        assert_eq!(
            b.delay(u32::MAX, &mut st, &mut rng),
            Duration::from_micros(2)
        );
    }

    #[test]
    fn exponential_values() {
        let b = Backoff::Exponential {
            base: ms(100),
            factor: 2.0,
            max: ms(1_000),
        };
        let mut st = BackoffState::default();
        let mut rng = Rng::new(1);
        let got: Vec<u64> = (0..6)
            .map(|n| b.delay(n, &mut st, &mut rng).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(b.delay(u32::MAX, &mut st, &mut rng), ms(1_000));
    }

    #[test]
    fn original_matches_the_spec_ranges() {
        let mut rng = Rng::new(9);
        for _ in 0..1_000 {
            let mut st = BackoffState::default();
            let d0 = Backoff::Original.delay(0, &mut st, &mut rng);
            let d1 = Backoff::Original.delay(1, &mut st, &mut rng);
            let d2 = Backoff::Original.delay(2, &mut st, &mut rng);
            let d4 = Backoff::Original.delay(4, &mut st, &mut rng);
            assert!(d0 >= ms(1_000) && d0 < ms(2_000), "{d0:?}");
            assert!(d1 >= ms(2_000) && d1 < ms(3_000), "{d1:?}");
            assert!(d2 >= ms(4_000) && d2 < ms(5_000), "{d2:?}");
            // 16 + U(0,1) s, under the cap.
            assert!(d4 >= ms(16_000) && d4 < ms(17_000), "{d4:?}");
            assert_eq!(Backoff::Original.delay(5, &mut st, &mut rng), ms(30_000));
            assert_eq!(
                Backoff::Original.delay(u32::MAX, &mut st, &mut rng),
                ms(30_000)
            );
        }
    }

    #[test]
    fn polly_v2_cumulative_medians_double() {
        // Retry n should happen, in median, near median_first · 2^n after the first failure.
        let b = Backoff::DecorrelatedJitter {
            median_first: ms(1_000),
            max: Duration::from_hours(1),
        };
        let mut rng = Rng::new(3);
        let runs = 4_001;
        let mut per_n: Vec<Vec<u64>> = vec![Vec::new(); 6];
        for _ in 0..runs {
            let mut st = BackoffState::default();
            let mut total = 0u64;
            for (n, v) in per_n.iter_mut().enumerate() {
                total += b.delay(n as u32, &mut st, &mut rng).as_micros() as u64;
                v.push(total);
            }
        }
        for (n, v) in per_n.iter_mut().enumerate() {
            v.sort_unstable();
            let median = v[runs / 2] as f64 / 1e6;
            let target = f64::from(1u32 << n);
            assert!(
                (median / target - 1.0).abs() < 0.15,
                "n={n} median={median} target={target}"
            );
        }
    }

    #[test]
    fn polly_v2_saturates_instead_of_nan() {
        let b = Backoff::DecorrelatedJitter {
            median_first: ms(10),
            max: ms(5_000),
        };
        let mut st = BackoffState::default();
        let mut rng = Rng::new(5);
        // Both f(t) values are infinite here: inf − inf must not leak out as NaN/0.
        assert_eq!(b.delay(5_000, &mut st, &mut rng), ms(5_000));
        assert_eq!(b.delay(5_001, &mut st, &mut rng), ms(5_000));
        assert_eq!(b.delay(u32::MAX, &mut st, &mut rng), ms(5_000));
    }

    #[test]
    fn aws_decorrelated_first_delay_is_between_base_and_3_base() {
        let b = Backoff::AwsDecorrelatedJitter {
            base: ms(100),
            max: ms(10_000),
        };
        let mut rng = Rng::new(11);
        let mut seen_above_base = false;
        for _ in 0..500 {
            let mut st = BackoffState::default();
            let d = b.delay(0, &mut st, &mut rng);
            assert!(d >= ms(100) && d <= ms(300), "{d:?}");
            seen_above_base |= d > ms(150);
        }
        assert!(seen_above_base);
    }

    #[test]
    fn validation() {
        assert!(
            Backoff::Exponential {
                base: ms(1),
                factor: 0.5,
                max: ms(2)
            }
            .validate()
            .is_err()
        );
        assert!(
            Backoff::Exponential {
                base: ms(1),
                factor: f64::NAN,
                max: ms(2)
            }
            .validate()
            .is_err()
        );
        assert!(
            Backoff::AwsDecorrelatedJitter {
                base: ms(3),
                max: ms(2)
            }
            .validate()
            .is_err()
        );
        assert!(Backoff::default().validate().is_ok());
        assert!(Backoff::Original.validate().is_ok());
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_string(&Backoff::FullJitter {
            base: ms(100),
            max: ms(1_000),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"full_jitter":{"base":{"secs":0,"nanos":100000000},"max":{"secs":1,"nanos":0}}}"#
        );
        let back: Backoff = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            Backoff::FullJitter {
                base: ms(100),
                max: ms(1_000)
            }
        );
        assert_eq!(
            serde_json::to_string(&Backoff::Original).unwrap(),
            r#""original""#
        );
    }

    fn dur_us(max: u64) -> impl Strategy<Value = Duration> {
        (0..=max).prop_map(Duration::from_micros)
    }

    proptest! {
        #[test]
        fn full_jitter_within_zero_and_cap(
            base in dur_us(10_000_000),
            max in dur_us(100_000_000),
            n in any::<u32>(),
            seed in any::<u64>(),
        ) {
            let b = Backoff::FullJitter { base, max };
            let mut rng = Rng::new(seed);
            let mut st = BackoffState::default();
            let d = b.delay(n, &mut st, &mut rng);
            let envelope = if n >= 64 { max } else {
                Duration::from_micros(exp2_envelope(micros_ceil(base), n, micros_ceil(max)))
            };
            prop_assert!(d <= envelope);
            prop_assert!(d <= max);
        }

        #[test]
        fn polly_v2_within_zero_and_max(
            median in dur_us(10_000_000),
            max in dur_us(100_000_000),
            ns in proptest::collection::vec(any::<u32>(), 1..12),
            seed in any::<u64>(),
        ) {
            let b = Backoff::DecorrelatedJitter { median_first: median, max };
            let mut rng = Rng::new(seed);
            let mut st = BackoffState::default();
            // A realistic sequence 0, 1, 2, … and then arbitrary (huge) indices.
            for n in 0..8 {
                let d = b.delay(n, &mut st, &mut rng);
                prop_assert!(d <= max);
            }
            for n in ns {
                let d = b.delay(n, &mut st, &mut rng);
                prop_assert!(d <= max);
            }
        }

        #[test]
        fn aws_decorrelated_within_base_and_max(
            base in dur_us(10_000_000),
            extra in dur_us(100_000_000),
            steps in 1usize..40,
            seed in any::<u64>(),
        ) {
            let max = base + extra;
            let b = Backoff::AwsDecorrelatedJitter { base, max };
            let mut rng = Rng::new(seed);
            let mut st = BackoffState::default();
            for n in 0..steps {
                let d = b.delay(n as u32, &mut st, &mut rng);
                prop_assert!(d >= base && d <= max, "{d:?} not in [{base:?}, {max:?}]");
            }
        }

        #[test]
        fn exponential_monotone_until_cap(
            base in dur_us(10_000_000),
            max in dur_us(1_000_000_000),
            factor in 1.0f64..8.0,
        ) {
            let b = Backoff::Exponential { base, factor, max };
            let mut rng = Rng::new(0);
            let mut st = BackoffState::default();
            let mut prev = Duration::ZERO;
            for n in 0..200u32 {
                let d = b.delay(n, &mut st, &mut rng);
                prop_assert!(d >= prev, "n={n}: {d:?} < {prev:?}");
                prop_assert!(d <= max);
                prev = d;
            }
            prop_assert!(b.delay(u32::MAX, &mut st, &mut rng) <= max);
        }

        #[test]
        fn no_preset_panics_for_any_index(n in any::<u32>(), seed in any::<u64>()) {
            let presets = [
                Backoff::Constant(Duration::MAX),
                Backoff::Exponential { base: Duration::MAX, factor: 1e300, max: Duration::MAX },
                Backoff::FullJitter { base: Duration::MAX, max: Duration::MAX },
                Backoff::DecorrelatedJitter { median_first: Duration::MAX, max: Duration::MAX },
                Backoff::AwsDecorrelatedJitter { base: Duration::MAX, max: Duration::MAX },
                Backoff::Original,
            ];
            let mut rng = Rng::new(seed);
            for b in &presets {
                let mut st = BackoffState::default();
                let _ = b.delay(n, &mut st, &mut rng);
                let _ = b.delay(n.saturating_add(1), &mut st, &mut rng);
            }
        }
    }
}
