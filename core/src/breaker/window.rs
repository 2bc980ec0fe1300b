//! Sliding windows of call outcomes with pre-aggregated totals.
//!
//! * Count window: a ring of the last `n` outcomes (one byte each). Recording evicts the oldest
//!   outcome and subtracts it from the totals, so each call is O(1).
//! * Time window: a ring of `buckets` buckets of width `duration / buckets`, addressed by the
//!   absolute bucket number `now / width`. Recording first rotates the ring up to `now`
//!   (clearing and subtracting the buckets that fell out), so each call is O(buckets skipped),
//!   at most O(buckets) and O(1) under steady traffic. Time going backwards records into the
//!   current bucket.

use serde::{Deserialize, Serialize};

use super::config::BreakerWindow;
use crate::Timestamp;

/// Totals over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTotals {
    /// Calls recorded (successes and failures; ignored calls are not recorded).
    pub calls: u32,
    /// Of which failures.
    pub failures: u32,
    /// Of which slow (whatever their outcome).
    pub slow: u32,
}

impl WindowTotals {
    fn add(&mut self, failure: bool, slow: bool) {
        self.calls = self.calls.saturating_add(1);
        self.failures = self.failures.saturating_add(u32::from(failure));
        self.slow = self.slow.saturating_add(u32::from(slow));
    }

    fn sub(&mut self, other: WindowTotals) {
        self.calls = self.calls.saturating_sub(other.calls);
        self.failures = self.failures.saturating_sub(other.failures);
        self.slow = self.slow.saturating_sub(other.slow);
    }

    /// `failures / calls`, or `None` with no calls.
    pub fn failure_ratio(self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.failures) / f64::from(self.calls))
    }

    /// `slow / calls`, or `None` with no calls.
    pub fn slow_ratio(self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.slow) / f64::from(self.calls))
    }
}

const FAILURE: u8 = 1;
const SLOW: u8 = 2;

#[derive(Clone, Debug)]
pub(super) enum SlidingWindow {
    Count {
        /// Outcome flags, `len` valid entries starting at `head` (oldest first).
        ring: Box<[u8]>,
        head: usize,
        len: usize,
        totals: WindowTotals,
    },
    Time {
        buckets: Box<[WindowTotals]>,
        /// Bucket width in µs (≥ 1, validated).
        width_us: u64,
        /// Absolute bucket number (`now / width`) of the current bucket.
        head_epoch: u64,
        totals: WindowTotals,
    },
}

impl SlidingWindow {
    /// Builds the window; `window` must have been validated.
    pub(super) fn new(window: BreakerWindow) -> Self {
        match window {
            BreakerWindow::Count(n) => SlidingWindow::Count {
                ring: vec![0; n.max(1) as usize].into_boxed_slice(),
                head: 0,
                len: 0,
                totals: WindowTotals::default(),
            },
            BreakerWindow::Time { duration, buckets } => {
                let buckets = buckets.max(1);
                let width_us = (u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
                    / u64::from(buckets))
                .max(1);
                SlidingWindow::Time {
                    buckets: vec![WindowTotals::default(); buckets as usize].into_boxed_slice(),
                    width_us,
                    head_epoch: 0,
                    totals: WindowTotals::default(),
                }
            }
        }
    }

    pub(super) fn record(&mut self, now: Timestamp, failure: bool, slow: bool) {
        match self {
            SlidingWindow::Count {
                ring,
                head,
                len,
                totals,
            } => {
                let cap = ring.len();
                let flags = (u8::from(failure) * FAILURE) | (u8::from(slow) * SLOW);
                if *len == cap {
                    let old = ring[*head];
                    totals.sub(WindowTotals {
                        calls: 1,
                        failures: u32::from(old & FAILURE != 0),
                        slow: u32::from(old & SLOW != 0),
                    });
                    ring[*head] = flags;
                    *head = (*head + 1) % cap;
                } else {
                    ring[(*head + *len) % cap] = flags;
                    *len += 1;
                }
                totals.add(failure, slow);
            }
            SlidingWindow::Time { .. } => {
                self.rotate(now);
                if let SlidingWindow::Time {
                    buckets,
                    head_epoch,
                    totals,
                    ..
                } = self
                {
                    let n = buckets.len() as u64;
                    buckets[(*head_epoch % n) as usize].add(failure, slow);
                    totals.add(failure, slow);
                }
            }
        }
    }

    fn rotate(&mut self, now: Timestamp) {
        if let SlidingWindow::Time {
            buckets,
            width_us,
            head_epoch,
            totals,
        } = self
        {
            let epoch = now.as_micros() / *width_us;
            if epoch <= *head_epoch {
                return;
            }
            let n = buckets.len() as u64;
            let steps = epoch - *head_epoch;
            if steps >= n {
                buckets.fill(WindowTotals::default());
                *totals = WindowTotals::default();
            } else {
                for i in 1..=steps {
                    let b = &mut buckets[((*head_epoch + i) % n) as usize];
                    totals.sub(*b);
                    *b = WindowTotals::default();
                }
            }
            *head_epoch = epoch;
        }
    }

    /// Totals as of the last record (time windows: as of the last rotation).
    pub(super) fn totals(&self) -> WindowTotals {
        match self {
            SlidingWindow::Count { totals, .. } | SlidingWindow::Time { totals, .. } => *totals,
        }
    }

    /// Totals as they would be at `now` (time windows exclude buckets that have expired by then),
    /// without mutating.
    pub(super) fn totals_at(&self, now: Timestamp) -> WindowTotals {
        match self {
            SlidingWindow::Count { totals, .. } => *totals,
            SlidingWindow::Time {
                buckets,
                width_us,
                head_epoch,
                totals,
            } => {
                let epoch = now.as_micros() / *width_us;
                if epoch <= *head_epoch {
                    return *totals;
                }
                let n = buckets.len() as u64;
                let steps = epoch - *head_epoch;
                if steps >= n {
                    return WindowTotals::default();
                }
                let mut t = *totals;
                for i in 1..=steps {
                    t.sub(buckets[((*head_epoch + i) % n) as usize]);
                }
                t
            }
        }
    }

    pub(super) fn clear(&mut self) {
        match self {
            SlidingWindow::Count {
                head, len, totals, ..
            } => {
                *head = 0;
                *len = 0;
                *totals = WindowTotals::default();
            }
            SlidingWindow::Time {
                buckets, totals, ..
            } => {
                buckets.fill(WindowTotals::default());
                *totals = WindowTotals::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn count_window_evicts_oldest() {
        let mut w = SlidingWindow::new(BreakerWindow::Count(3));
        w.record(t(0), true, false);
        w.record(t(0), true, true);
        w.record(t(0), false, false);
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // Evicts the first failure.
        w.record(t(0), false, false);
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // Evicts the slow failure.
        w.record(t(0), false, false);
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
        w.clear();
        assert_eq!(w.totals(), WindowTotals::default());
        w.record(t(0), true, false);
        assert_eq!(w.totals().calls, 1);
        assert_eq!(w.totals().failure_ratio(), Some(1.0));
    }

    #[test]
    fn count_window_matches_naive_model() {
        let mut w = SlidingWindow::new(BreakerWindow::Count(7));
        let mut all: Vec<(bool, bool)> = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..500 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let f = (x >> 33).is_multiple_of(3);
            let s = (x >> 40).is_multiple_of(5);
            w.record(t(0), f, s);
            all.push((f, s));
            let last: Vec<_> = all.iter().rev().take(7).collect();
            let expect = WindowTotals {
                calls: last.len() as u32,
                failures: last.iter().filter(|(f, _)| *f).count() as u32,
                slow: last.iter().filter(|(_, s)| *s).count() as u32,
            };
            assert_eq!(w.totals(), expect);
        }
    }

    #[test]
    fn time_window_rotates() {
        // 10 s in 10 buckets of 1 s.
        let mut w = SlidingWindow::new(BreakerWindow::Time {
            duration: Duration::from_secs(10),
            buckets: 10,
        });
        w.record(t(100), true, false); // bucket 0
        w.record(t(1_500), false, true); // bucket 1
        w.record(t(9_999), true, false); // bucket 9
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10.0 s bucket 0 (0..1 s) expires.
        assert_eq!(w.totals_at(t(10_000)).calls, 2);
        assert_eq!(w.totals_at(t(10_000)).failures, 1);
        w.record(t(10_000), false, false);
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // At 11.5 s bucket 1 expires too.
        w.record(t(11_500), false, false);
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 3,
                failures: 1,
                slow: 0
            }
        );
        // A long gap clears everything.
        assert_eq!(w.totals_at(t(30_000)), WindowTotals::default());
        w.record(t(30_000), true, true);
        assert_eq!(
            w.totals(),
            WindowTotals {
                calls: 1,
                failures: 1,
                slow: 1
            }
        );
        // Time going backwards records into the current bucket without panicking.
        w.record(t(5), false, false);
        assert_eq!(w.totals().calls, 2);
    }

    #[test]
    fn ratios() {
        let z = WindowTotals::default();
        assert_eq!(z.failure_ratio(), None);
        assert_eq!(z.slow_ratio(), None);
        let t = WindowTotals {
            calls: 4,
            failures: 1,
            slow: 2,
        };
        assert_eq!(t.failure_ratio(), Some(0.25));
        assert_eq!(t.slow_ratio(), Some(0.5));
    }
}
