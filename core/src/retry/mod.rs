//! Retry: when to try again, how long to wait, and when to stop.
//!
//! The design notes are on [`RetryPolicy`].

mod backoff;
mod budget;
mod retry_after;

use std::time::Duration;

use http::{HeaderName, Method};
use serde::{Deserialize, Serialize};

pub use backoff::{Backoff, BackoffState};
pub use budget::{BUCKETS, BudgetConfig, RetryBudget, UNITS_PER_RETRY};
pub use retry_after::parse_retry_after;

use crate::{ConfigError, Outcome, Request, Rng, Timestamp, TransportErrorKind, WallClock};

/// What to do when a server's `Retry-After` exceeds [`RetryConfig::max_retry_after`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LongRetryAfter {
    /// Do not retry: the server asked for a longer pause than we are willing to hold a caller
    /// for; return the response now (`GiveUp(RetryAfterTooLong)`). Default.
    #[default]
    GiveUp,
    /// Wait `max_retry_after` and retry anyway (the original client's `min(Retry-After, 60)`).
    /// The retry may then be early from the server's point of view.
    Cap,
}

/// Retry configuration. Deserializes with defaults for missing fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Total attempts including the first; `>= 1`. Default 4 (the original's `max_retries = 3`).
    pub max_attempts: u32,
    /// Backoff preset. Default: Polly's decorrelated jitter, 250 ms first median, 5 s cap
    /// (see [`Backoff::default`]).
    pub backoff: Backoff,
    /// Cap on any backoff delay (not on a server's `Retry-After`). Default 30 s.
    pub max_delay: Duration,
    /// Statuses that are retried (100–999). Default 408, 429, 500, 502, 503, 504.
    pub retryable_statuses: Vec<u16>,
    /// Transport error kinds that are retried (never `cancelled`). Default connect, timeout,
    /// reset.
    pub retryable_errors: Vec<TransportErrorKind>,
    /// Honour `Retry-After` on retryable responses. Default true.
    pub respect_retry_after: bool,
    /// Longest `Retry-After` honoured. Default 60 s.
    pub max_retry_after: Duration,
    /// What to do with a longer one. Default [`LongRetryAfter::GiveUp`].
    pub on_long_retry_after: LongRetryAfter,
    /// Retry non-idempotent methods (POST, PATCH, …) even without an idempotency key. Default
    /// false: retrying a POST whose first attempt reached the server can repeat its side effect
    /// (the original retried every method, and sent a POST three times).
    pub retry_non_idempotent: bool,
    /// Retry non-idempotent methods after a `connect` error, which means the request never
    /// reached the server. Default true.
    pub retry_connect_non_idempotent: bool,
    /// A request carrying this header is treated as idempotent. Default `Idempotency-Key`.
    pub idempotency_header: String,
    /// Overall deadline measured from the request's start; a retry that would start later is
    /// not scheduled. Default none.
    pub deadline: Option<Duration>,
    /// Client-wide retry budget. Default `Some(BudgetConfig::default())` (10 s, 10/s, 20 %).
    pub budget: Option<BudgetConfig>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 4,
            backoff: Backoff::default(),
            max_delay: Duration::from_secs(30),
            retryable_statuses: vec![408, 429, 500, 502, 503, 504],
            retryable_errors: vec![
                TransportErrorKind::Connect,
                TransportErrorKind::Timeout,
                TransportErrorKind::Reset,
            ],
            respect_retry_after: true,
            max_retry_after: Duration::from_mins(1),
            on_long_retry_after: LongRetryAfter::GiveUp,
            retry_non_idempotent: false,
            retry_connect_non_idempotent: true,
            idempotency_header: "Idempotency-Key".to_owned(),
            deadline: None,
            budget: Some(BudgetConfig::default()),
        }
    }
}

impl RetryConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validated_header().map(|_| ())
    }

    fn validated_header(&self) -> Result<HeaderName, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid("retry.max_attempts", "must be >= 1"));
        }
        self.backoff.validate()?;
        if self
            .retryable_statuses
            .iter()
            .any(|s| !(100..=999).contains(s))
        {
            return Err(ConfigError::invalid(
                "retry.retryable_statuses",
                "every status must be in 100..=999",
            ));
        }
        if self
            .retryable_errors
            .contains(&TransportErrorKind::Cancelled)
        {
            return Err(ConfigError::invalid(
                "retry.retryable_errors",
                "a cancelled request is never retried",
            ));
        }
        if self
            .retryable_errors
            .contains(&TransportErrorKind::InvalidRequest)
        {
            return Err(ConfigError::invalid(
                "retry.retryable_errors",
                "a request the transport refused is never retried",
            ));
        }
        if self.deadline == Some(Duration::ZERO) {
            return Err(ConfigError::invalid("retry.deadline", "must be > 0"));
        }
        if let Some(b) = &self.budget {
            b.validate()?;
        }
        HeaderName::from_bytes(self.idempotency_header.as_bytes()).map_err(|_| {
            ConfigError::invalid("retry.idempotency_header", "not a valid header name")
        })
    }
}

/// Why a retry was scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryReason {
    /// The response had this retryable status.
    Status(u16),
    /// The transport failed with this retryable kind.
    Transport(TransportErrorKind),
}

/// Why no further attempt will be made (the engine returns the last response or error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The transport error's kind is not retryable.
    NotRetryable,
    /// `max_attempts` attempts have been made.
    AttemptsExhausted,
    /// The method is not idempotent and the request has no idempotency key.
    NotIdempotent,
    /// The client's retry budget is spent.
    BudgetExhausted,
    /// The retry would start after the overall deadline.
    DeadlineExceeded,
    /// The server's `Retry-After` exceeds `max_retry_after` (with [`LongRetryAfter::GiveUp`]).
    RetryAfterTooLong,
}

impl GiveUpReason {
    /// A stable snake_case name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::NotRetryable => "not_retryable",
            GiveUpReason::AttemptsExhausted => "attempts_exhausted",
            GiveUpReason::NotIdempotent => "not_idempotent",
            GiveUpReason::BudgetExhausted => "budget_exhausted",
            GiveUpReason::DeadlineExceeded => "deadline_exceeded",
            GiveUpReason::RetryAfterTooLong => "retry_after_too_long",
        }
    }
}

/// The verdict after one attempt.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryDecision {
    /// Send attempt `next_attempt` at `at` (`= now + delay`).
    Retry {
        /// When to start the next attempt.
        at: Timestamp,
        /// `at − now`: `max(backoff capped at max_delay, retry_after)`.
        delay: Duration,
        /// The 1-based number of the attempt to send.
        next_attempt: u32,
        /// What failed.
        reason: RetryReason,
        /// The server's `Retry-After` wait, if one was present, valid and respected (after
        /// [`LongRetryAfter::Cap`]); `delay >= retry_after` always.
        retry_after: Option<Duration>,
    },
    /// Stop; the last outcome is final.
    GiveUp(GiveUpReason),
    /// The outcome is a response whose status is not retryable (2xx, 3xx, most 4xx): return it.
    Success,
}

impl RetryDecision {
    /// `true` for [`RetryDecision::Retry`].
    pub fn is_retry(&self) -> bool {
        matches!(self, RetryDecision::Retry { .. })
    }
}

/// Per-request retry memory: attempts made, when the request started, backoff state.
///
/// Create one per logical request with [`RetryPolicy::begin`] (or [`RetryState::new`]) and pass
/// it to every [`RetryPolicy::decide`] for that request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryState {
    started_at: Timestamp,
    attempts: u32,
    idempotent: bool,
    backoff: BackoffState,
    /// The request's own deadline ([`crate::Deadline`]), if it carried one.
    #[serde(default)]
    deadline: Option<Timestamp>,
}

impl RetryState {
    /// State for a request started at `started_at` with `method`; `has_idempotency_key` says
    /// whether it carries the configured idempotency header.
    pub fn new(started_at: Timestamp, method: &Method, has_idempotency_key: bool) -> Self {
        RetryState {
            started_at,
            attempts: 0,
            idempotent: has_idempotency_key || is_idempotent(method),
            backoff: BackoffState::default(),
            deadline: None,
        }
    }

    /// The same state with the request's own deadline: no retry starts at or after it (in
    /// addition to [`RetryConfig::deadline`], whichever comes first).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<Timestamp>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Attempts finished so far (each `decide` counts one).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the logical request started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// Whether the request may be retried regardless of method (idempotent method or key).
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }
}

/// `true` for the methods RFC 9110 §9.2.2 calls idempotent: GET, HEAD, OPTIONS, PUT, DELETE,
/// TRACE.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A validated retry configuration that makes decisions.
///
/// # Design
///
/// A [`RetryPolicy`] is an immutable, validated [`RetryConfig`]; the per-request memory lives in a
/// [`RetryState`] the engine keeps beside each logical request; the client-wide
/// [`RetryBudget`] is owned by the engine and lent to each decision. After every attempt the
/// engine asks [`RetryPolicy::decide`], which returns a [`RetryDecision`] — data, never an error.
///
/// ```text
///   policy.begin(now, &request) ─► RetryState { attempts: 0 }     budget.deposit(now)
///                │
///                ▼
///   ┌────► Attempting ── transport reports an Outcome ──► policy.decide(now, wall, &mut state, …)
///   │                                                        │        │          │
///   │   Retry { at, delay, next_attempt, reason, .. }        │     Success    GiveUp(reason)
///   └──── engine sleeps until `at`, then sends again ◄───────┘        │          │
///                                                                     ▼          ▼
///                                                                   Done       Done
/// ```
///
/// Decision order, for the attempt that just finished (`state.attempts()` is now its 1-based
/// number):
///
/// 1. A response whose status is not in `retryable_statuses` → [`RetryDecision::Success`] (the
///    request is finished; that includes 4xx). A transport error whose kind is not in
///    `retryable_errors` → `GiveUp(NotRetryable)`.
/// 2. Idempotency: GET, HEAD, OPTIONS, PUT, DELETE and TRACE are idempotent. Any other method
///    (POST, PATCH, …) is retried only if the request carried the `idempotency_header`, or
///    `retry_non_idempotent` is set, or — when `retry_connect_non_idempotent` is set (default) —
///    the failure is a [`TransportErrorKind::Connect`] (the connection never opened, so nothing
///    reached the server). Otherwise `GiveUp(NotIdempotent)`.
/// 3. `attempts >= max_attempts` → `GiveUp(AttemptsExhausted)`.
/// 4. Delay: the backoff preset's delay, capped at `max_delay`. If `respect_retry_after` and the
///    response has a parseable `Retry-After`, then a value above `max_retry_after` gives
///    `GiveUp(RetryAfterTooLong)` (or is capped to it with [`LongRetryAfter::Cap`]), and the delay
///    becomes `max(backoff, retry_after)`: jitter never schedules a retry before the server's
///    instant, and `max_delay` never shortens a server-requested wait. Malformed values are
///    ignored (normal backoff).
/// 5. `deadline`: if the retry would start at or after the deadline — `deadline` after
///    `state.started_at()`, or the request's own [`Deadline`](crate::Deadline), whichever is
///    earlier — `GiveUp(DeadlineExceeded)`.
/// 6. Budget (if one is passed): `try_withdraw(now)` must succeed, else `GiveUp(BudgetExhausted)`.
///    It is consulted last, so only retries that are actually scheduled spend it.
///
/// All delays are whole microseconds, rounded up, so `at = now + delay` is never early.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    config: RetryConfig,
    /// Bitset over status codes 0..1024.
    statuses: [u64; 16],
    idempotency_header: HeaderName,
}

impl RetryPolicy {
    /// Validates `config`.
    pub fn new(config: RetryConfig) -> Result<Self, ConfigError> {
        let idempotency_header = config.validated_header()?;
        let mut statuses = [0u64; 16];
        for &s in &config.retryable_statuses {
            statuses[usize::from(s / 64)] |= 1 << (s % 64);
        }
        Ok(RetryPolicy {
            config,
            statuses,
            idempotency_header,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// A fresh budget from `config.budget`, for the engine to own (one per client).
    pub fn new_budget(&self) -> Option<RetryBudget> {
        self.config
            .budget
            .clone()
            .map(|b| RetryBudget::new(b).expect("invariant: validated in RetryPolicy::new"))
    }

    /// Starts the retry state of a logical request (reads its method, its idempotency header
    /// and its [`Deadline`](crate::Deadline) extension). The engine should also
    /// `budget.deposit(now)` once per logical request.
    pub fn begin(&self, now: Timestamp, request: &Request) -> RetryState {
        let has_key = crate::message::has_header(request.headers(), &self.idempotency_header);
        let deadline = request.extensions().get::<crate::Deadline>().map(|d| d.0);
        RetryState::new(now, request.method(), has_key).with_deadline(deadline)
    }

    /// The instant at and after which no attempt starts: the earlier of the configured
    /// [`deadline`](RetryConfig::deadline) (from the request's start) and the request's own
    /// [`Deadline`](crate::Deadline), if either is set.
    pub fn deadline(&self, state: &RetryState) -> Option<Timestamp> {
        let configured = self
            .config
            .deadline
            .map(|d| state.started_at.saturating_add(d));
        match (configured, state.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `status` is configured as retryable.
    pub fn is_retryable_status(&self, status: u16) -> bool {
        status < 1024 && self.statuses[usize::from(status / 64)] & (1 << (status % 64)) != 0
    }

    /// Whether `kind` is configured as retryable.
    pub fn is_retryable_error(&self, kind: TransportErrorKind) -> bool {
        self.config.retryable_errors.contains(&kind)
    }

    /// Decides what follows the attempt that just finished with `outcome` at `now` (`wall` is
    /// the wall clock read at the same moment, for HTTP-date `Retry-After`). Counts the attempt
    /// in `state`. `budget`: the client's budget, or `None` to skip the budget check.
    pub fn decide(
        &self,
        now: Timestamp,
        wall: WallClock,
        state: &mut RetryState,
        rng: &mut Rng,
        outcome: &Outcome,
        budget: Option<&mut RetryBudget>,
    ) -> RetryDecision {
        state.attempts = state.attempts.saturating_add(1);
        let cfg = &self.config;

        // 1. Classify.
        let (reason, response) = match outcome {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if !self.is_retryable_status(status) {
                    return RetryDecision::Success;
                }
                (RetryReason::Status(status), Some(resp))
            }
            Err(e) => {
                if !self.is_retryable_error(e.kind) {
                    return RetryDecision::GiveUp(GiveUpReason::NotRetryable);
                }
                (RetryReason::Transport(e.kind), None)
            }
        };

        // 2. Idempotency.
        let connect_exempt = cfg.retry_connect_non_idempotent
            && reason == RetryReason::Transport(TransportErrorKind::Connect);
        if !(state.idempotent || cfg.retry_non_idempotent || connect_exempt) {
            return RetryDecision::GiveUp(GiveUpReason::NotIdempotent);
        }

        // 3. Attempts.
        if state.attempts >= cfg.max_attempts {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
        }

        // 4. Delay: backoff (always advanced, so the sequence does not depend on headers),
        //    then Retry-After as a floor.
        let backoff = cfg
            .backoff
            .delay(state.attempts - 1, &mut state.backoff, rng)
            .min(cfg.max_delay);
        let retry_after = match response {
            Some(resp) if cfg.respect_retry_after => resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, wall)),
            _ => None,
        };
        let retry_after = match retry_after {
            Some(ra) if ra > cfg.max_retry_after => match cfg.on_long_retry_after {
                LongRetryAfter::GiveUp => {
                    return RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong);
                }
                LongRetryAfter::Cap => Some(cfg.max_retry_after),
            },
            other => other,
        };
        // Whole microseconds, rounded up: `at` is never before the server's instant.
        let delay = Duration::from_micros(backoff::micros_ceil(
            retry_after.map_or(backoff, |ra| ra.max(backoff)),
        ));
        let at = now.saturating_add(delay);

        // 5. Deadline.
        if let Some(deadline) = self.deadline(state)
            && at >= deadline
        {
            // At the deadline itself an attempt would have no time left: give up.
            return RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded);
        }

        // 6. Budget, last: only scheduled retries spend it.
        if let Some(b) = budget
            && !b.try_withdraw(now)
        {
            return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted);
        }

        RetryDecision::Retry {
            at,
            delay,
            next_attempt: state.attempts.saturating_add(1),
            reason,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests;
