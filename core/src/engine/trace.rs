//! The decision trace: why a request ended the way it did.
//!
//! Every finished request carries one. It is plain data (serde), so a frontend can attach it to
//! the response, log it, or show it in the dashboard.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerState;
use crate::cache::NotStoredReason;
use crate::retry::{GiveUpReason, RetryReason};
use crate::{Timestamp, TransportErrorKind};

/// How the cache took part in a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum CacheTrace {
    /// The cache took no part (disabled, method not cacheable, request `no-store`, a
    /// conditional request of the caller's own).
    #[default]
    Bypass,
    /// Served a fresh stored response; nothing was sent.
    Fresh,
    /// Served a stale response (request `max-stale`, or stale-while-revalidate).
    Stale {
        /// Whether this request started a background revalidation.
        revalidating: bool,
    },
    /// Nothing stored; fetched upstream.
    Miss {
        /// Whether the response was stored.
        stored: bool,
        /// Why it was not stored, if it was not.
        not_stored: Option<NotStoredReason>,
    },
    /// A stored response was revalidated with a conditional request and a 304.
    Revalidated,
    /// The upstream failed and a stored response was served under stale-if-error.
    StaleIfError,
    /// An identical request was in flight; this one waited for its result (single-flight).
    Coalesced,
    /// `only-if-cached` and nothing usable was stored.
    Unsatisfiable,
}

/// What became of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum AttemptResult {
    /// A response arrived with this status.
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// The transport failed.
    Transport {
        /// The class of failure.
        error: TransportErrorKind,
    },
}

/// What the engine decided after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum AttemptNext {
    /// The outcome was final and accepted.
    Accept,
    /// Retry after `delay`.
    Retry {
        /// Time until the next attempt.
        #[serde(rename = "delay_ms", with = "crate::serde_util::duration_ms")]
        delay: Duration,
        /// What failed.
        reason: RetryReason,
        /// The server's `Retry-After`, when it set the delay's floor.
        #[serde(
            rename = "retry_after_ms",
            with = "crate::serde_util::option_duration_ms"
        )]
        retry_after: Option<Duration>,
    },
    /// No further attempt.
    GiveUp {
        /// Why.
        reason: GiveUpReason,
    },
}

/// One attempt in a [`DecisionTrace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptTrace {
    /// 1-based attempt number.
    pub attempt: u32,
    /// When it was sent.
    pub started_at: Timestamp,
    /// How long it took.
    #[serde(rename = "latency_ms", with = "crate::serde_util::duration_ms")]
    pub latency: Duration,
    /// What came back.
    pub result: AttemptResult,
    /// What the engine decided next.
    pub next: AttemptNext,
}

/// Why a request was refused without (another) attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum RejectReason {
    /// The circuit breaker is open (or half-open with every probe slot taken).
    BreakerOpen {
        /// When a call may be admitted again (`Timestamp::MAX` when isolated by hand).
        retry_at: Timestamp,
        /// The breaker's state.
        state: BreakerState,
    },
    /// `only-if-cached` and nothing usable was stored (answer 504).
    OnlyIfCached,
    /// The engine already tracks `max_in_flight` requests.
    Overloaded,
    /// The request was cancelled by the caller.
    Cancelled,
}

/// The full story of one logical request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionTrace {
    /// When the request began.
    pub started_at: Timestamp,
    /// How the cache took part.
    pub cache: CacheTrace,
    /// The breaker's state when the first attempt was admitted (or refused).
    pub breaker: Option<BreakerState>,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptTrace>,
    /// Retry-budget balance when the request finished, if a budget is configured.
    pub budget_left: Option<u64>,
    /// Set when the request was refused rather than answered.
    pub rejected: Option<RejectReason>,
    /// From start to finish, including waits and backoff.
    #[serde(rename = "total_ms", with = "crate::serde_util::duration_ms")]
    pub total: Duration,
}

impl DecisionTrace {
    /// Number of retries performed (attempts after the first).
    pub fn retries(&self) -> u32 {
        (self.attempts.len() as u32).saturating_sub(1)
    }

    /// A one-line human summary, e.g. `cache=miss(stored) breaker=closed attempts=[503 retry
    /// 1.2s (status 503), 200 accept] total=1.3s`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let cache = match self.cache {
            CacheTrace::Bypass => "bypass".to_owned(),
            CacheTrace::Fresh => "fresh hit".to_owned(),
            CacheTrace::Stale { revalidating } => {
                if revalidating {
                    "stale (revalidating)".to_owned()
                } else {
                    "stale".to_owned()
                }
            }
            CacheTrace::Miss { stored, not_stored } => match (stored, not_stored) {
                (true, _) => "miss (stored)".to_owned(),
                (false, Some(r)) => format!("miss (not stored: {r:?})"),
                (false, None) => "miss".to_owned(),
            },
            CacheTrace::Revalidated => "revalidated (304)".to_owned(),
            CacheTrace::StaleIfError => "stale-if-error".to_owned(),
            CacheTrace::Coalesced => "coalesced (single-flight)".to_owned(),
            CacheTrace::Unsatisfiable => "only-if-cached: nothing stored".to_owned(),
        };
        let _ = write!(s, "cache={cache}");
        if let Some(b) = self.breaker {
            let _ = write!(s, " breaker={}", b.as_str());
        }
        if !self.attempts.is_empty() {
            s.push_str(" attempts=[");
            for (i, a) in self.attempts.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                match a.result {
                    AttemptResult::Status { status } => {
                        let _ = write!(s, "#{} {status}", a.attempt);
                    }
                    AttemptResult::Transport { error } => {
                        let _ = write!(s, "#{} {error}", a.attempt);
                    }
                }
                let _ = write!(s, " in {}", HumanDuration(a.latency));
                match a.next {
                    AttemptNext::Accept => {}
                    AttemptNext::Retry {
                        delay, retry_after, ..
                    } => {
                        let _ = write!(s, " -> retry in {}", HumanDuration(delay));
                        if retry_after.is_some() {
                            s.push_str(" (Retry-After)");
                        }
                    }
                    AttemptNext::GiveUp { reason } => {
                        let _ = write!(s, " -> give up ({})", reason.as_str());
                    }
                }
            }
            s.push(']');
        }
        if let Some(r) = self.rejected {
            let _ = write!(s, " rejected={r:?}");
        }
        if let Some(b) = self.budget_left {
            let _ = write!(s, " budget_left={b}");
        }
        let _ = write!(s, " total={}", HumanDuration(self.total));
        s
    }
}

/// A duration for people, as the decision trace prints it: `0s`, `850µs`, `12.5ms`, `2.0s`,
/// `3m05s` (microseconds below a millisecond, one decimal up to a minute, then minutes and
/// seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        let us = d.as_micros();
        if us == 0 {
            f.write_str("0s")
        } else if us < 1_000 {
            write!(f, "{us}µs")
        } else if us < 1_000_000 {
            write!(f, "{:.1}ms", us as f64 / 1_000.0)
        } else if d.as_secs() < 60 {
            write!(f, "{:.1}s", d.as_secs_f64())
        } else {
            write!(f, "{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_json_uses_milliseconds_and_round_trips() {
        let t = DecisionTrace {
            attempts: vec![AttemptTrace {
                attempt: 1,
                started_at: Timestamp::from_millis(5),
                latency: Duration::from_micros(12_500),
                result: AttemptResult::Status { status: 503 },
                next: AttemptNext::Retry {
                    delay: Duration::from_millis(200),
                    reason: RetryReason::Status(503),
                    retry_after: Some(Duration::from_secs(2)),
                },
            }],
            total: Duration::from_millis(215),
            ..DecisionTrace::default()
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["total_ms"], 215.0);
        assert_eq!(v["attempts"][0]["latency_ms"], 12.5);
        assert_eq!(v["attempts"][0]["next"]["delay_ms"], 200.0);
        assert_eq!(v["attempts"][0]["next"]["retry_after_ms"], 2000.0);
        let back: DecisionTrace = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            t.summary(),
            "cache=bypass attempts=[#1 503 in 12.5ms -> retry in 200.0ms (Retry-After)] total=215.0ms"
        );
    }

    #[test]
    fn human_durations() {
        let h = |d| HumanDuration(d).to_string();
        assert_eq!(h(Duration::ZERO), "0s");
        assert_eq!(h(Duration::from_micros(850)), "850µs");
        assert_eq!(h(Duration::from_micros(12_500)), "12.5ms");
        assert_eq!(h(Duration::from_secs(2)), "2.0s");
        assert_eq!(h(Duration::from_secs(185)), "3m05s");
    }
}
