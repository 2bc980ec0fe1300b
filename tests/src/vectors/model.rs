//! The serde model of a scenario vector: the Rust mirror of `tests/vectors/schema.json`.
//!
//! Every struct denies unknown fields, so a typo in a vector is an error rather than an
//! expectation silently left unchecked. Field names are the format's own (documented in
//! `tests/vectors/README.md`), not the engine's: the mapping to the engine lives in
//! [`Config::to_engine_config`] and in the checks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use tether_core::EngineConfig;
use tether_core::FreshnessMode;
use tether_core::{Backoff, BudgetConfig, LongRetryAfter};
use tether_core::{BreakDuration, BreakerWindow, Classifier, RatioTrigger, StatusRange};

/// A duration or an instant of virtual time, in milliseconds (JSON number, at most three
/// decimals: the format's resolution is one microsecond).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ms(u64);

impl Ms {
    /// From whole microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Ms(us)
    }

    /// Whole microseconds.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// As a duration.
    pub const fn duration(self) -> Duration {
        Duration::from_micros(self.0)
    }
}

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_multiple_of(1_000) {
            write!(f, "{} ms", self.0 / 1_000)
        } else {
            write!(f, "{}.{:03} ms", self.0 / 1_000, self.0 % 1_000)
        }
    }
}

impl<'de> Deserialize<'de> for Ms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        let us = v * 1_000.0;
        if !us.is_finite() || !(0.0..=1e15).contains(&us) {
            return Err(serde::de::Error::custom(format!(
                "{v} is not a duration in milliseconds (0 ..= 1e12)"
            )));
        }
        let rounded = us.round();
        if (us - rounded).abs() > 1e-6 {
            return Err(serde::de::Error::custom(format!(
                "{v} ms has more than three decimals (the resolution is 1 µs)"
            )));
        }
        Ok(Ms(rounded as u64))
    }
}

/// An expected value that may be `null` ("expected absent"). Fields of this type are
/// `Option<Nullable<T>>`: `None` when the field is absent ("not checked").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nullable<T>(pub Option<T>);

/// Deserializes a present field, `null` included, as `Some(Nullable(..))`; with
/// `#[serde(default)]` an absent field stays `None`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Nullable<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(|v| Some(Nullable(v)))
}

/// One scenario vector (one file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// Editors' pointer to the schema; ignored.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Unique name; equals the file name without `.json`.
    pub name: String,
    /// What the vector shows, for people.
    pub description: String,
    /// Behaviour families it covers (`cache`, `retry`, `breaker`, …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Client configuration.
    #[serde(default)]
    pub config: Config,
    /// The scripted upstream: routes tried in order, first match answers.
    #[serde(default)]
    pub upstream: Vec<Route>,
    /// What the caller does, in order.
    pub steps: Vec<Step>,
    /// Checks after every request has finished.
    #[serde(default)]
    pub expect: Option<Checks>,
}

/// Client and engine options, in the format's neutral form. Every field has a default that
/// turns the feature off or makes it neutral (see the README), so a vector shows what it uses.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seed of the engine's PRNG (backoff jitter, hash keys).
    pub seed: u64,
    /// Per-attempt time limit; `null`: none.
    pub attempt_timeout_ms: Option<Ms>,
    /// Overall time limit of each request, from its start (covers retries and backoff);
    /// `null`: none.
    pub request_timeout_ms: Option<Ms>,
    /// Run the client's background driver (stale-while-revalidate refreshes, timers).
    pub background: bool,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Response cache.
    pub cache: CacheConfig,
    /// Circuit breaker (one per service, or per host when a request names no service).
    pub breaker: BreakerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 7,
            attempt_timeout_ms: None,
            request_timeout_ms: None,
            background: false,
            retry: RetryConfig::default(),
            cache: CacheConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Retry options.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts including the first.
    pub max_attempts: u32,
    /// Delay before each retry.
    pub backoff: BackoffConfig,
    /// Cap on a backoff delay (not on `Retry-After`).
    pub max_delay_ms: Ms,
    /// Statuses that are retried.
    pub retryable_statuses: Vec<u16>,
    /// Transport error kinds that are retried.
    pub retryable_errors: Vec<ErrorKind>,
    /// Honour `Retry-After`.
    pub respect_retry_after: bool,
    /// Longest `Retry-After` honoured.
    pub max_retry_after_ms: Ms,
    /// `give_up` or `cap` when `Retry-After` is longer.
    pub on_long_retry_after: OnLongRetryAfter,
    /// Retry POST, PATCH, … without an idempotency key.
    pub retry_non_idempotent: bool,
    /// Retry non-idempotent methods after a `connect` error.
    pub retry_connect_non_idempotent: bool,
    /// A request carrying this header counts as idempotent.
    pub idempotency_header: String,
    /// Client-wide retry budget; `null`: none.
    pub budget: Option<BudgetOptions>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 1,
            backoff: BackoffConfig::Constant {
                delay_ms: Ms(100_000),
            },
            max_delay_ms: Ms(30_000_000),
            retryable_statuses: vec![408, 429, 500, 502, 503, 504],
            retryable_errors: vec![ErrorKind::Connect, ErrorKind::Timeout, ErrorKind::Reset],
            respect_retry_after: true,
            max_retry_after_ms: Ms(60_000_000),
            on_long_retry_after: OnLongRetryAfter::GiveUp,
            retry_non_idempotent: false,
            retry_connect_non_idempotent: true,
            idempotency_header: "Idempotency-Key".to_owned(),
            budget: None,
        }
    }
}

/// Backoff presets.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffConfig {
    /// The same delay every time.
    Constant {
        /// The delay.
        delay_ms: Ms,
    },
    /// `min(max, base · factor^n)` for retry `n` (0-based).
    Exponential {
        /// First delay.
        base_ms: Ms,
        /// Growth per retry.
        factor: f64,
        /// Cap.
        max_ms: Ms,
    },
    /// `U[0, min(max, base · 2^n)]`, drawn from the engine's seeded PRNG.
    FullJitter {
        /// Scale.
        base_ms: Ms,
        /// Cap.
        max_ms: Ms,
    },
    /// Polly's decorrelated jitter (v2), drawn from the engine's seeded PRNG.
    DecorrelatedJitter {
        /// Approximate median of the first delay.
        median_first_ms: Ms,
        /// Cap.
        max_ms: Ms,
    },
}

/// What to do with a `Retry-After` longer than `max_retry_after_ms`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLongRetryAfter {
    /// Return the response without retrying.
    GiveUp,
    /// Wait `max_retry_after_ms` and retry.
    Cap,
}

/// The retry budget (Finagle semantics).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetOptions {
    /// How long deposits and withdrawals count.
    pub ttl_ms: Ms,
    /// Retries per second always allowed.
    pub min_per_sec: u32,
    /// Fraction of requests that may be retried on top.
    pub percent_can_retry: f64,
}

/// Cache options.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Master switch.
    pub enabled: bool,
    /// `rfc9111` or `ttl_only`.
    pub mode: CacheMode,
    /// Lifetime of responses without explicit freshness.
    pub default_ttl_ms: Ms,
    /// Cap on any lifetime; `null`: none (explicit freshness as the origin gives it).
    pub max_ttl_ms: Option<Ms>,
    /// Most entries.
    pub max_entries: usize,
    /// Most bytes.
    pub max_bytes: usize,
    /// Largest entry stored.
    pub max_entry_bytes: usize,
    /// Default stale-if-error window; `null`: none.
    pub stale_if_error_ms: Option<Ms>,
    /// Request headers whose values are part of the key.
    pub key_headers: Vec<String>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            mode: CacheMode::Rfc9111,
            default_ttl_ms: Ms(0),
            max_ttl_ms: None,
            max_entries: 1000,
            max_bytes: 64 * 1024 * 1024,
            max_entry_bytes: 8 * 1024 * 1024,
            stale_if_error_ms: None,
            key_headers: Vec::new(),
        }
    }
}

/// How freshness is decided.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// RFC 9111 (`Cache-Control`, `Expires`, validators).
    Rfc9111,
    /// Every cacheable response lives `default_ttl_ms`.
    TtlOnly,
}

/// Circuit breaker options.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Open after this many consecutive failures; `null`: trigger off.
    pub consecutive_failures: Option<u32>,
    /// Failure-ratio trigger over the last calls; `null`: off.
    pub failure_ratio: Option<RatioOptions>,
    /// How long it stays open.
    pub break_ms: Ms,
    /// Probes that must succeed in half-open (and most in flight at once).
    pub half_open_probes: u32,
    /// A probe silent this long counts as failed.
    pub probe_timeout_ms: Ms,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: None,
            failure_ratio: None,
            break_ms: Ms(60_000_000),
            half_open_probes: 1,
            probe_timeout_ms: Ms(30_000_000),
        }
    }
}

/// The failure-ratio trigger over a count window.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioOptions {
    /// Window: the last this many calls.
    pub window_calls: u32,
    /// Open at or above this failure ratio.
    pub ratio: f64,
    /// Calls needed in the window before the ratio counts.
    pub min_calls: u32,
}

impl Config {
    /// The engine configuration this describes: every option the format knows is set
    /// explicitly (so a change of engine defaults does not change a vector); the rest
    /// (metrics, health, alerts) keep the engine's defaults and take no part in decisions.
    pub fn to_engine_config(&self) -> EngineConfig {
        let mut engine = EngineConfig {
            attempt_timeout: self.attempt_timeout_ms.map(Ms::duration),
            ..EngineConfig::default()
        };

        let retry = &self.retry;
        let out = &mut engine.retry;
        out.max_attempts = retry.max_attempts;
        out.backoff = match retry.backoff {
            BackoffConfig::Constant { delay_ms } => Backoff::Constant(delay_ms.duration()),
            BackoffConfig::Exponential {
                base_ms,
                factor,
                max_ms,
            } => Backoff::Exponential {
                base: base_ms.duration(),
                factor,
                max: max_ms.duration(),
            },
            BackoffConfig::FullJitter { base_ms, max_ms } => Backoff::FullJitter {
                base: base_ms.duration(),
                max: max_ms.duration(),
            },
            BackoffConfig::DecorrelatedJitter {
                median_first_ms,
                max_ms,
            } => Backoff::DecorrelatedJitter {
                median_first: median_first_ms.duration(),
                max: max_ms.duration(),
            },
        };
        out.max_delay = retry.max_delay_ms.duration();
        out.retryable_statuses.clone_from(&retry.retryable_statuses);
        out.retryable_errors = retry
            .retryable_errors
            .iter()
            .map(|kind| kind.to_core())
            .collect();
        out.respect_retry_after = retry.respect_retry_after;
        out.max_retry_after = retry.max_retry_after_ms.duration();
        out.on_long_retry_after = match retry.on_long_retry_after {
            OnLongRetryAfter::GiveUp => LongRetryAfter::GiveUp,
            OnLongRetryAfter::Cap => LongRetryAfter::Cap,
        };
        out.retry_non_idempotent = retry.retry_non_idempotent;
        out.retry_connect_non_idempotent = retry.retry_connect_non_idempotent;
        out.idempotency_header.clone_from(&retry.idempotency_header);
        out.deadline = self.request_timeout_ms.map(Ms::duration);
        out.budget = retry.budget.as_ref().map(|budget| BudgetConfig {
            ttl: budget.ttl_ms.duration(),
            min_per_sec: budget.min_per_sec,
            percent_can_retry: budget.percent_can_retry,
        });

        let cache = &self.cache;
        let out = &mut engine.cache;
        out.enabled = cache.enabled;
        out.mode = match cache.mode {
            CacheMode::Rfc9111 => FreshnessMode::Rfc9111,
            CacheMode::TtlOnly => FreshnessMode::TtlOnly,
        };
        out.default_ttl = cache.default_ttl_ms.duration();
        out.max_ttl = cache.max_ttl_ms.map(Ms::duration);
        out.max_entries = cache.max_entries;
        out.max_bytes = cache.max_bytes;
        out.max_entry_bytes = cache.max_entry_bytes;
        out.stale_if_error = cache.stale_if_error_ms.map(Ms::duration);
        out.key_headers.clone_from(&cache.key_headers);

        let breaker = &self.breaker;
        let out = &mut engine.breakers.default;
        out.consecutive_failures = breaker.consecutive_failures;
        out.ratio = breaker.failure_ratio.as_ref().map(|ratio| RatioTrigger {
            window: BreakerWindow::Count(ratio.window_calls),
            failure_ratio: ratio.ratio,
            min_throughput: ratio.min_calls,
            slow_call: None,
        });
        out.break_duration = BreakDuration::Constant(breaker.break_ms.duration());
        out.half_open_probes = breaker.half_open_probes;
        out.probe_timeout = breaker.probe_timeout_ms.duration();
        // The format's fixed classification (the core's default, spelled out): 5xx and the
        // transport failures below count against the upstream; 429 counts for nothing; other
        // statuses are successes. A body over the client's own limit is not the upstream's
        // fault.
        out.classifier = Classifier {
            failure_statuses: vec![StatusRange::new(500, 599)],
            rate_limited_is_failure: false,
            client_errors_are_failures: false,
            transport_failures: [
                ErrorKind::Connect,
                ErrorKind::Timeout,
                ErrorKind::Reset,
                ErrorKind::Protocol,
                ErrorKind::Other,
            ]
            .iter()
            .map(|kind| kind.to_core())
            .collect(),
        };
        engine
    }
}

/// Transport error kinds, as scripted and as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection could not be opened.
    Connect,
    /// The attempt took too long.
    Timeout,
    /// The connection broke mid-exchange.
    Reset,
    /// The response body was too large.
    BodyTooLarge,
    /// Not valid HTTP.
    Protocol,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The core's kind.
    pub fn to_core(self) -> tether_core::TransportErrorKind {
        use tether_core::TransportErrorKind as K;
        match self {
            ErrorKind::Connect => K::Connect,
            ErrorKind::Timeout => K::Timeout,
            ErrorKind::Reset => K::Reset,
            ErrorKind::BodyTooLarge => K::BodyTooLarge,
            ErrorKind::Protocol => K::Protocol,
            ErrorKind::Other => K::Other,
        }
    }
}

/// One scripted route of the upstream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Method to match (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Path to match, with the query if it contains `?` (any when absent).
    #[serde(default)]
    pub path: Option<String>,
    /// Request headers to match: a value must be equal, `null` must be absent.
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    /// Answers in order; the last one repeats.
    pub responses: Vec<Reply>,
    /// For people.
    #[serde(default)]
    pub note: Option<String>,
}

/// One scripted answer: a response or a transport error, after a latency.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reply {
    /// Response status (exclusive with `error`).
    pub status: Option<u16>,
    /// Transport failure instead of a response.
    pub error: Option<ErrorKind>,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// Response body (UTF-8).
    pub body: String,
    /// Virtual time from the send to the answer.
    pub latency_ms: Ms,
}

/// One step of the caller's script. Its parts run in this order: `at_ms`, `sleep_ms`,
/// `send`, `wait`, `check`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Step {
    /// Wait until this virtual instant (it must not have passed).
    pub at_ms: Option<Ms>,
    /// Then wait this long.
    pub sleep_ms: Option<Ms>,
    /// Then start these requests, in list order, at the same instant.
    pub send: Vec<RequestSpec>,
    /// Then wait until every request started so far has finished (default: true when the
    /// step sends, false otherwise).
    pub wait: Option<bool>,
    /// Then check these.
    pub check: Option<Checks>,
    /// For people.
    pub note: Option<String>,
}

/// A request the caller sends, and what it must end with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Unique within the vector; names the request in reports.
    pub id: String,
    /// Method (any token).
    #[serde(default = "get")]
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body (UTF-8).
    #[serde(default)]
    pub body: String,
    /// Service name for metrics and the breaker (the host when absent).
    #[serde(default)]
    pub service: Option<String>,
    /// What it must end with.
    pub expect: Expect,
    /// For people.
    #[serde(default)]
    pub note: Option<String>,
}

fn get() -> String {
    "GET".to_owned()
}

/// Expectations about one request. Absent fields are not checked; `null` means "absent".
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Final status (a response, from upstream or cache).
    pub status: Option<u16>,
    /// Error kind (no response).
    pub error: Option<String>,
    /// Response body.
    pub body: Option<String>,
    /// Response headers: value equal, or `null` for absent.
    pub headers: Option<BTreeMap<String, Option<String>>>,
    /// Served from the cache.
    pub from_cache: Option<bool>,
    /// How the cache took part.
    pub cache: Option<String>,
    /// Why a miss was not stored (`null`: no reason recorded).
    #[serde(deserialize_with = "nullable")]
    pub not_stored: Option<Nullable<String>>,
    /// Breaker state when the first attempt was admitted or refused (`null`: none consulted).
    #[serde(deserialize_with = "nullable")]
    pub breaker: Option<Nullable<String>>,
    /// For a breaker refusal: when a call may be admitted again.
    pub retry_at_ms: Option<Ms>,
    /// Every attempt, in order (the list is compared whole).
    pub attempts: Option<Vec<AttemptExpect>>,
    /// From start to finish, in the decision trace.
    pub elapsed_ms: Option<Ms>,
    /// Virtual time when the caller got the result.
    pub finished_at_ms: Option<Ms>,
    /// Retry-budget balance when it finished (`null`: no budget).
    #[serde(deserialize_with = "nullable")]
    pub budget_left: Option<Nullable<u64>>,
}

/// One attempt of a request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptExpect {
    /// A status code, or a transport error kind.
    pub result: AttemptOutcome,
    /// `accept`, `retry` or `give_up`.
    pub next: String,
    /// With `retry`: the delay before the next attempt.
    #[serde(default)]
    pub delay_ms: Option<Ms>,
    /// With `retry`: the server's `Retry-After` that set the delay's floor (`null`: none).
    #[serde(default, deserialize_with = "nullable")]
    pub retry_after_ms: Option<Nullable<Ms>>,
    /// With `give_up`: why.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it was sent.
    #[serde(default)]
    pub started_ms: Option<Ms>,
    /// How long it took.
    #[serde(default)]
    pub latency_ms: Option<Ms>,
}

/// A status or a transport error kind.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AttemptOutcome {
    /// A response with this status.
    Status(u16),
    /// A transport failure of this kind.
    Error(String),
}

impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptOutcome::Status(s) => write!(f, "{s}"),
            AttemptOutcome::Error(e) => write!(f, "{e:?}"),
        }
    }
}

/// Checks of the client as a whole (at a step, or at the end).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Checks {
    /// Virtual now.
    pub clock_ms: Option<Ms>,
    /// Upstream sends so far.
    pub upstream_calls: Option<u64>,
    /// Upstream sends per `"METHOD /path?query"` (listed keys only).
    pub upstream_hits: Option<BTreeMap<String, u64>>,
    /// Every upstream send so far, in order (the list is compared whole).
    pub upstream_log: Option<Vec<SentExpect>>,
    /// Breaker state per name (`null`: no breaker of that name).
    pub breakers: Option<BTreeMap<String, Option<String>>>,
    /// Metrics per service, or `global`.
    pub metrics: Option<BTreeMap<String, MetricsExpect>>,
    /// Cache counters.
    pub cache: Option<CacheExpect>,
    /// Retry-budget balance (`null`: no budget).
    #[serde(deserialize_with = "nullable")]
    pub retry_budget: Option<Nullable<u64>>,
    /// Requests the engine tracks.
    pub in_flight: Option<u64>,
}

/// One upstream send.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentExpect {
    /// When.
    pub at_ms: Option<Ms>,
    /// Method.
    pub method: Option<String>,
    /// Path and query.
    pub path: Option<String>,
    /// Headers as sent: value equal, or `null` for absent.
    pub headers: Option<BTreeMap<String, Option<String>>>,
}

/// Metrics of one service (or `global`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsExpect {
    /// Logical requests started.
    pub requests: Option<u64>,
    /// Succeeded.
    pub successful: Option<u64>,
    /// Failed.
    pub failed: Option<u64>,
    /// Attempts sent.
    pub attempts: Option<u64>,
    /// Attempts that failed.
    pub failed_attempts: Option<u64>,
    /// Retries.
    pub retries: Option<u64>,
    /// Fresh cache hits (coalesced requests count here).
    pub cache_hits: Option<u64>,
    /// Cache misses.
    pub cache_misses: Option<u64>,
    /// Stale entries served.
    pub cache_stale: Option<u64>,
    /// 304 revalidations.
    pub cache_revalidated: Option<u64>,
    /// Requests the cache took no part in.
    pub cache_bypass: Option<u64>,
    /// Failed requests by category (compared whole).
    pub failures: Option<BTreeMap<String, u64>>,
    /// Failed attempts and refusals by error name (compared whole).
    pub errors: Option<BTreeMap<String, u64>>,
    /// Breaker transitions by target state (compared whole).
    pub breaker_transitions: Option<BTreeMap<String, u64>>,
}

/// Cache counters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheExpect {
    /// Entries stored now.
    pub entries: Option<u64>,
    /// Responses stored.
    pub stores: Option<u64>,
    /// Fresh lookups.
    pub hits: Option<u64>,
    /// Lookups that fetched.
    pub misses: Option<u64>,
    /// Stale entries served.
    pub stale_hits: Option<u64>,
    /// 304s merged.
    pub revalidations: Option<u64>,
    /// Lookups that joined an in-flight fetch.
    pub coalesced: Option<u64>,
    /// Misses sent alone because the key's last response could not be stored (hit-for-miss).
    pub uncoalesced: Option<u64>,
    /// Lookups the cache left alone.
    pub bypasses: Option<u64>,
    /// Entries evicted.
    pub evictions: Option<u64>,
}

/// Values of [`Expect::error`]: the transport kinds, then the policy refusals.
pub const ERROR_KINDS: &[&str] = &[
    "connect",
    "timeout",
    "reset",
    "body_too_large",
    "protocol",
    "other",
    "circuit_open",
    "only_if_cached",
    "overloaded",
    "cancelled",
    "invalid_request",
    "closed",
];

/// Values of [`Expect::cache`].
pub const CACHE_OUTCOMES: &[&str] = &[
    "bypass",
    "fresh",
    "stale",
    "stale_revalidating",
    "miss",
    "miss_stored",
    "revalidated",
    "stale_if_error",
    "coalesced",
    "unsatisfiable",
];

/// Values of [`Expect::not_stored`].
pub const NOT_STORED_REASONS: &[&str] = &[
    "disabled",
    "method_not_cacheable",
    "status_not_cacheable",
    "no_store",
    "vary_star",
    "too_large",
    "unusable",
    "stale_on_arrival",
    "conditional_request",
    "must_understand",
    "not_modified_without_entry",
    "validator_mismatch",
];

/// Breaker states ([`Expect::breaker`], [`Checks::breakers`]).
pub const BREAKER_STATES: &[&str] = &["closed", "open", "half_open", "isolated", "disabled"];

/// Values of [`AttemptExpect::next`].
pub const NEXT: &[&str] = &["accept", "retry", "give_up"];

/// Values of [`AttemptExpect::reason`].
pub const GIVE_UP_REASONS: &[&str] = &[
    "not_retryable",
    "attempts_exhausted",
    "not_idempotent",
    "budget_exhausted",
    "deadline_exceeded",
    "retry_after_too_long",
];

/// Values of [`Vector::tags`]: the behaviour families.
pub const TAGS: &[&str] = &[
    "cache",
    "coalescing",
    "retry",
    "retry_after",
    "breaker",
    "budget",
    "deadline",
    "timeout",
    "idempotency",
    "transport_errors",
    "determinism",
    "security",
    "background",
];

/// Transport error kinds a script may return and an attempt may report.
pub const TRANSPORT_KINDS: &[&str] = &[
    "connect",
    "timeout",
    "reset",
    "body_too_large",
    "protocol",
    "other",
];

impl Vector {
    /// Consistency checks serde cannot express: unique ids, known words, a status or an error
    /// in every reply, parseable URLs and headers. Returns one message per problem.
    #[expect(
        clippy::too_many_lines,
        reason = "one flat list of consistency checks, in the order of the vector format"
    )]
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut word = |what: &str, v: &str, allowed: &[&str]| {
            if !allowed.contains(&v) {
                p.push(format!("{what}: unknown value {v:?} (one of {allowed:?})"));
            }
        };
        for tag in &self.tags {
            word("tags", tag, TAGS);
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut problems_ids = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            for s in &step.send {
                if !ids.insert(s.id.as_str()) {
                    problems_ids.push(format!("step {i}: duplicate request id {:?}", s.id));
                }
                let e = &s.expect;
                let at = format!("step {i}, request {:?}", s.id);
                if let Some(v) = &e.error {
                    word(&format!("{at}: error"), v, ERROR_KINDS);
                }
                if let Some(v) = &e.cache {
                    word(&format!("{at}: cache"), v, CACHE_OUTCOMES);
                }
                if let Some(Nullable(Some(v))) = &e.not_stored {
                    word(&format!("{at}: not_stored"), v, NOT_STORED_REASONS);
                }
                if let Some(Nullable(Some(v))) = &e.breaker {
                    word(&format!("{at}: breaker"), v, BREAKER_STATES);
                }
                for (n, a) in e.attempts.iter().flatten().enumerate() {
                    let at = format!("{at}: attempts[{n}]");
                    if let AttemptOutcome::Error(k) = &a.result {
                        word(&format!("{at}.result"), k, TRANSPORT_KINDS);
                    }
                    word(&format!("{at}.next"), &a.next, NEXT);
                    if let Some(r) = &a.reason {
                        word(&format!("{at}.reason"), r, GIVE_UP_REASONS);
                    }
                }
            }
            if let Some(c) = &step.check {
                for v in c.breakers.iter().flatten().filter_map(|(_, v)| v.as_ref()) {
                    word(&format!("step {i}: check.breakers"), v, BREAKER_STATES);
                }
            }
        }
        if let Some(c) = &self.expect {
            for v in c.breakers.iter().flatten().filter_map(|(_, v)| v.as_ref()) {
                word("expect.breakers", v, BREAKER_STATES);
            }
        }
        p.extend(problems_ids);
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            p.push(format!("name {:?}: use a-z, 0-9 and '-'", self.name));
        }
        p.extend(self.upper_case_header_names());
        for (i, step) in self.steps.iter().enumerate() {
            for s in &step.send {
                let at = format!("step {i}, request {:?}", s.id);
                if let Err(e) = s.to_request() {
                    p.push(format!("{at}: {e}"));
                }
                let e = &s.expect;
                if e.status.is_some() == e.error.is_some() {
                    p.push(format!("{at}: expect exactly one of status and error"));
                }
                for (n, a) in e.attempts.iter().flatten().enumerate() {
                    if (a.next == "retry") != a.delay_ms.is_some() {
                        p.push(format!(
                            "{at}: attempts[{n}]: delay_ms goes with next = retry, and only there"
                        ));
                    }
                    if (a.next == "give_up") != a.reason.is_some() {
                        p.push(format!(
                            "{at}: attempts[{n}]: reason goes with next = give_up, and only there"
                        ));
                    }
                }
            }
        }
        for (r, route) in self.upstream.iter().enumerate() {
            if route
                .path
                .as_ref()
                .is_some_and(|path| !path.starts_with('/'))
            {
                p.push(format!("upstream[{r}]: path must start with '/'"));
            }
            if route.responses.is_empty() {
                p.push(format!("upstream[{r}]: no responses"));
            }
            for (n, reply) in route.responses.iter().enumerate() {
                if reply.status.is_some() == reply.error.is_some() {
                    p.push(format!(
                        "upstream[{r}].responses[{n}]: exactly one of status and error"
                    ));
                }
                if let Err(e) = reply.to_response() {
                    p.push(format!("upstream[{r}].responses[{n}]: {e}"));
                }
            }
        }
        p
    }
}

impl Vector {
    /// Header names must be written in lower case (header names are case-insensitive; one
    /// spelling keeps the runners' lookups trivial).
    fn upper_case_header_names(&self) -> Vec<String> {
        let mut names: Vec<(String, &str)> = Vec::new();
        for (r, route) in self.upstream.iter().enumerate() {
            names.extend(
                route
                    .headers
                    .keys()
                    .map(|k| (format!("upstream[{r}].headers"), k.as_str())),
            );
            for (n, reply) in route.responses.iter().enumerate() {
                names.extend(
                    reply
                        .headers
                        .keys()
                        .map(|k| (format!("upstream[{r}].responses[{n}].headers"), k.as_str())),
                );
            }
        }
        let checks = self
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.check.as_ref().map(|c| (format!("step {i}: check"), c)))
            .chain(self.expect.as_ref().map(|c| ("expect".to_owned(), c)));
        for (at, c) in checks {
            for (n, sent) in c.upstream_log.iter().flatten().enumerate() {
                names.extend(
                    sent.headers
                        .iter()
                        .flatten()
                        .map(|(k, _)| (format!("{at}.upstream_log[{n}].headers"), k.as_str())),
                );
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            for s in &step.send {
                let at = format!("step {i}, request {:?}", s.id);
                names.extend(
                    s.headers
                        .keys()
                        .map(|k| (format!("{at}: headers"), k.as_str())),
                );
                names.extend(
                    s.expect
                        .headers
                        .iter()
                        .flatten()
                        .map(|(k, _)| (format!("{at}: expect.headers"), k.as_str())),
                );
            }
        }
        names
            .into_iter()
            .filter(|(_, k)| k.bytes().any(|b| b.is_ascii_uppercase()))
            .map(|(at, k)| format!("{at}: header name {k:?} must be lower case"))
            .collect()
    }
}

impl Reply {
    /// The response this reply stands for (`status` 200 when it is a transport error: the
    /// runner never builds one then).
    pub fn to_response(&self) -> Result<tether_core::Response, String> {
        let mut b = http::Response::builder().status(self.status.unwrap_or(200));
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(bytes::Bytes::from(self.body.clone()))
            .map_err(|e| format!("invalid response: {e}"))
    }
}

impl RequestSpec {
    /// The request this entry stands for.
    pub fn to_request(&self) -> Result<tether_core::Request, String> {
        let mut b = http::Request::builder()
            .method(self.method.as_str())
            .uri(self.url.as_str());
        for (k, v) in &self.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("invalid header name {k:?}: {e}"))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| format!("invalid value of header {k:?}: {e}"))?;
            b = b.header(name, value);
        }
        b.body(bytes::Bytes::from(self.body.clone()))
            .map_err(|e| format!("invalid request: {e}"))
    }
}
