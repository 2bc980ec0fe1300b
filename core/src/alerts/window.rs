//! Windowed service signals: what changed in a service's cumulative metrics since the previous
//! evaluation.
//!
//! Metrics counters only grow. Alert rules judge the *recent* past, so at each evaluation the
//! [`SignalWindow`] subtracts the totals it saw last time from the totals now and turns the
//! difference into a [`ServiceSignals`] (requests, error rate, mean response time, cache hit
//! ratio of the window). The 95th percentile is the only cumulative figure: a histogram cannot
//! be subtracted without keeping a copy per service.

use std::collections::HashMap;

use super::ServiceSignals;
use crate::metrics::ServiceSnapshot;

/// The totals of one service at the previous evaluation.
#[derive(Clone, Copy, Debug, Default)]
struct Mark {
    completed: u64,
    failed: u64,
    /// Seconds.
    response_time: f64,
    hits: u64,
    lookups: u64,
}

impl Mark {
    fn of(s: &ServiceSnapshot) -> Self {
        let c = &s.cache;
        Mark {
            completed: s.completed_requests(),
            failed: s.failed_requests,
            response_time: s.total_response_time,
            hits: c.hits.saturating_add(c.stale),
            lookups: c
                .hits
                .saturating_add(c.stale)
                .saturating_add(c.misses)
                .saturating_add(c.revalidated),
        }
    }
}

/// Remembers each service's totals between evaluations. Holds one small record per service
/// name it was given (the metrics registry bounds how many there are).
#[derive(Clone, Debug, Default)]
pub(crate) struct SignalWindow {
    marks: HashMap<String, Mark>,
}

impl SignalWindow {
    /// The signals of `name` over the window since the previous call for `name` (since the
    /// start for the first call), with `breaker_open` false and no health: the caller knows
    /// those. Remembers `totals` for the next window.
    pub(crate) fn advance(&mut self, name: &str, totals: &ServiceSnapshot) -> ServiceSignals {
        let now = Mark::of(totals);
        let prev = if let Some(m) = self.marks.get_mut(name) {
            std::mem::replace(m, now)
        } else {
            self.marks.insert(name.to_owned(), now);
            Mark::default()
        };
        let requests = now.completed.saturating_sub(prev.completed);
        let failed = now.failed.saturating_sub(prev.failed);
        let time = (now.response_time - prev.response_time).max(0.0);
        let lookups = now.lookups.saturating_sub(prev.lookups);
        let hits = now.hits.saturating_sub(prev.hits);
        let ratio = |part: f64, whole: u64| {
            if whole == 0 { 0.0 } else { part / whole as f64 }
        };
        ServiceSignals {
            name: name.to_owned(),
            requests_in_window: requests,
            avg_response_ms: ratio(time * 1000.0, requests),
            p95_response_ms: totals.p95_response_time.unwrap_or(0.0) * 1000.0,
            error_rate: ratio(failed as f64, requests),
            breaker_open: false,
            health: None,
            cache_lookups: lookups,
            cache_hit_ratio: ratio(hits as f64, lookups),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::CacheCounts;

    fn totals(ok: u64, failed: u64, secs: f64, hits: u64, misses: u64) -> ServiceSnapshot {
        ServiceSnapshot {
            total_requests: ok + failed,
            successful_requests: ok,
            failed_requests: failed,
            total_response_time: secs,
            cache: CacheCounts {
                hits,
                misses,
                ..CacheCounts::default()
            },
            ..ServiceSnapshot::default()
        }
    }

    #[test]
    fn each_window_sees_only_its_own_requests() {
        let mut w = SignalWindow::default();
        let first = w.advance("api", &totals(8, 2, 1.0, 3, 1));
        assert_eq!(first.requests_in_window, 10);
        assert!((first.error_rate - 0.2).abs() < 1e-12);
        assert!((first.avg_response_ms - 100.0).abs() < 1e-9);
        assert_eq!(first.cache_lookups, 4);
        assert!((first.cache_hit_ratio - 0.75).abs() < 1e-12);

        // Ten more requests, all failed, 2 s in total; two more misses.
        let second = w.advance("api", &totals(8, 12, 3.0, 3, 3));
        assert_eq!(second.requests_in_window, 10);
        assert!((second.error_rate - 1.0).abs() < 1e-12);
        assert!((second.avg_response_ms - 200.0).abs() < 1e-9);
        assert_eq!(second.cache_lookups, 2);
        assert!(second.cache_hit_ratio.abs() < 1e-12);

        // Nothing new: an idle window, not a division by zero.
        let idle = w.advance("api", &totals(8, 12, 3.0, 3, 3));
        assert_eq!(idle.requests_in_window, 0);
        assert!(idle.error_rate.abs() < 1e-12 && idle.avg_response_ms.abs() < 1e-12);

        // Another service has its own window.
        assert_eq!(
            w.advance("other", &totals(1, 0, 0.1, 0, 0))
                .requests_in_window,
            1
        );
    }

    #[test]
    fn counters_that_go_backwards_give_an_empty_window() {
        // A registry that was replaced restarts its counters: no negative numbers.
        let mut w = SignalWindow::default();
        let _ = w.advance("api", &totals(50, 50, 10.0, 9, 9));
        let s = w.advance("api", &totals(1, 0, 0.5, 0, 0));
        assert_eq!(s.requests_in_window, 0);
        assert!(s.avg_response_ms.abs() < 1e-12);
        assert_eq!(s.cache_lookups, 0);
    }
}
