//! Per-service counters, error categories and latency histograms, with plain-data snapshots.
//!
//! The design notes are on [`Metrics`].

mod histogram;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use foldhash::fast::FixedState;

use serde::{Deserialize, Serialize};

use crate::retry::GiveUpReason;
use crate::{ConfigError, Outcome, TransportErrorKind, WallClock};

pub use histogram::{BUCKET_COUNT, Histogram, MAX_TRACKABLE_MICROS};

/// Name of the service that aggregates every service past [`MetricsConfig::max_services`].
pub const OVERFLOW_SERVICE: &str = "_other";
/// Name of the error-count entry that aggregates names past [`MetricsConfig::max_error_names`].
pub const OVERFLOW_NAME: &str = "_other";
/// Longest error name kept (bytes); longer names are truncated.
pub const MAX_ERROR_NAME_LEN: usize = 64;
/// Most distinct breaker target states counted per service.
const MAX_BREAKER_STATES: usize = 8;

/// Limits of the metrics registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Most named services tracked individually (default 256); later ones share
    /// [`OVERFLOW_SERVICE`].
    pub max_services: usize,
    /// Most distinct error names per service (default 32); later ones share [`OVERFLOW_NAME`].
    pub max_error_names: usize,
    /// The `error_counts` name of a failed attempt without a response, by transport error
    /// kind ([`TransportErrorKind::as_str`]: `connect`, `timeout`, `reset`, `body_too_large`,
    /// `protocol`, `cancelled`, `invalid_request`, `other`). A kind not listed counts under
    /// its [`FailureCategory::error_name`]. Empty by default; the Python package fills it
    /// with httpx's exception class names (`connect` → `ConnectError`), which the original
    /// counted under. Names follow the label rule: `[A-Za-z0-9_.:-]`, 1 to 64 bytes.
    pub transport_error_names: BTreeMap<String, String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_services: 256,
            max_error_names: 32,
            transport_error_names: BTreeMap::new(),
        }
    }
}

impl MetricsConfig {
    /// Checks the limits: `max_services` in `1..=4096`, `max_error_names` in `1..=1024`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=4096).contains(&self.max_services) {
            return Err(ConfigError::invalid(
                "metrics.max_services",
                "must be in 1..=4096",
            ));
        }
        if !(1..=1024).contains(&self.max_error_names) {
            return Err(ConfigError::invalid(
                "metrics.max_error_names",
                "must be in 1..=1024",
            ));
        }
        for (kind, name) in &self.transport_error_names {
            if !TRANSPORT_ERROR_KINDS.iter().any(|k| k.as_str() == kind) {
                return Err(ConfigError::invalid(
                    "metrics.transport_error_names",
                    "keys must be transport error kinds (connect, timeout, reset, \
                     body_too_large, protocol, cancelled, invalid_request, other)",
                ));
            }
            if name.is_empty() || name.len() > MAX_ERROR_NAME_LEN || sanitize_name(name) != *name {
                return Err(ConfigError::invalid(
                    "metrics.transport_error_names",
                    "names must be 1 to 64 bytes of [A-Za-z0-9_.:-]",
                ));
            }
        }
        Ok(())
    }
}

/// Every transport error kind, for checking [`MetricsConfig::transport_error_names`].
const TRANSPORT_ERROR_KINDS: [TransportErrorKind; 8] = [
    TransportErrorKind::Connect,
    TransportErrorKind::Timeout,
    TransportErrorKind::Reset,
    TransportErrorKind::BodyTooLarge,
    TransportErrorKind::Protocol,
    TransportErrorKind::Cancelled,
    TransportErrorKind::InvalidRequest,
    TransportErrorKind::Other,
];

/// Why a logical request (or an attempt) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureCategory {
    /// The upstream answered 4xx (and the engine classified it as a failure).
    #[serde(rename = "status_4xx")]
    Status4xx,
    /// The upstream answered 5xx (or another status the engine treats as a failure).
    #[serde(rename = "status_5xx")]
    Status5xx,
    /// The attempt timed out.
    #[serde(rename = "timeout")]
    Timeout,
    /// The connection could not be established.
    #[serde(rename = "connect")]
    Connect,
    /// The connection was reset mid-exchange.
    #[serde(rename = "reset")]
    Reset,
    /// Another transport failure (protocol error, body too large…).
    #[serde(rename = "transport")]
    Transport,
    /// The circuit breaker rejected the call; nothing was sent.
    #[serde(rename = "breaker_rejected")]
    BreakerRejected,
    /// The retry budget was exhausted.
    #[serde(rename = "budget_exhausted")]
    BudgetExhausted,
    /// The overall deadline passed.
    #[serde(rename = "deadline_exceeded")]
    DeadlineExceeded,
    /// Anything else (including caller cancellation).
    #[serde(rename = "other")]
    Other,
}

impl FailureCategory {
    /// Every category, in declaration order.
    pub const ALL: [FailureCategory; 10] = [
        FailureCategory::Status4xx,
        FailureCategory::Status5xx,
        FailureCategory::Timeout,
        FailureCategory::Connect,
        FailureCategory::Reset,
        FailureCategory::Transport,
        FailureCategory::BreakerRejected,
        FailureCategory::BudgetExhausted,
        FailureCategory::DeadlineExceeded,
        FailureCategory::Other,
    ];

    /// The stable snake_case name (the serde name and the Prometheus `category` label).
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureCategory::Status4xx => "status_4xx",
            FailureCategory::Status5xx => "status_5xx",
            FailureCategory::Timeout => "timeout",
            FailureCategory::Connect => "connect",
            FailureCategory::Reset => "reset",
            FailureCategory::Transport => "transport",
            FailureCategory::BreakerRejected => "breaker_rejected",
            FailureCategory::BudgetExhausted => "budget_exhausted",
            FailureCategory::DeadlineExceeded => "deadline_exceeded",
            FailureCategory::Other => "other",
        }
    }

    /// The category of an HTTP status: 4xx and 5xx; `None` for anything else.
    pub const fn from_status(status: u16) -> Option<FailureCategory> {
        match status {
            400..=499 => Some(FailureCategory::Status4xx),
            500..=599 => Some(FailureCategory::Status5xx),
            _ => None,
        }
    }

    /// Why a logical request that ended as `end` failed, or `None` if it succeeded (a status
    /// below 400). A request that gave up early for `gave_up` reasons is filed under the
    /// reason it gave up (budget exhausted, deadline passed) rather than its last failure.
    pub(crate) fn of_request(end: RequestEnd, gave_up: Option<GiveUpReason>) -> Option<Self> {
        let failed = match end {
            RequestEnd::Status(status) => FailureCategory::from_status(status),
            RequestEnd::Transport(kind) => Some(FailureCategory::from(kind)),
            RequestEnd::BreakerRejected => return Some(FailureCategory::BreakerRejected),
            RequestEnd::Refused => return Some(FailureCategory::Other),
        }?;
        Some(match gave_up {
            Some(GiveUpReason::BudgetExhausted) => FailureCategory::BudgetExhausted,
            Some(GiveUpReason::DeadlineExceeded) => FailureCategory::DeadlineExceeded,
            _ => failed,
        })
    }

    /// The `error_counts` name used when no status and no explicit name is given.
    pub const fn error_name(self) -> &'static str {
        match self {
            FailureCategory::Status4xx => "http_4xx",
            FailureCategory::Status5xx => "http_5xx",
            FailureCategory::Timeout => "timeout",
            FailureCategory::Connect => "connect",
            FailureCategory::Reset => "reset",
            FailureCategory::Transport => "transport",
            FailureCategory::BreakerRejected => "circuit_open",
            FailureCategory::BudgetExhausted => "budget_exhausted",
            FailureCategory::DeadlineExceeded => "deadline_exceeded",
            FailureCategory::Other => "other",
        }
    }

    /// Policy failures that happen without an attempt; counted in `error_counts` at request end.
    const fn is_policy(self) -> bool {
        matches!(
            self,
            FailureCategory::BreakerRejected
                | FailureCategory::BudgetExhausted
                | FailureCategory::DeadlineExceeded
        )
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for FailureCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<TransportErrorKind> for FailureCategory {
    fn from(kind: TransportErrorKind) -> Self {
        match kind {
            TransportErrorKind::Connect => FailureCategory::Connect,
            TransportErrorKind::Timeout => FailureCategory::Timeout,
            TransportErrorKind::Reset => FailureCategory::Reset,
            TransportErrorKind::BodyTooLarge | TransportErrorKind::Protocol => {
                FailureCategory::Transport
            }
            _ => FailureCategory::Other,
        }
    }
}

/// How a logical request ended, in the terms its [`FailureCategory`] depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestEnd {
    /// A response with this status (after any retries).
    Status(u16),
    /// The last attempt failed below HTTP.
    Transport(TransportErrorKind),
    /// The circuit breaker refused it.
    BreakerRejected,
    /// Refused otherwise: overload, `only-if-cached` with nothing stored, cancelled.
    Refused,
}

/// How the response cache took part in a logical request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Served fresh from the cache; nothing was sent.
    Hit,
    /// Served stale from the cache (stale-if-error, stale-while-revalidate).
    Stale,
    /// Cacheable but not cached (or expired without validators): fetched upstream.
    Miss,
    /// A stored entry was revalidated upstream (304 Not Modified).
    Revalidated,
    /// The cache did not take part (disabled, non-cacheable method, `no-store`).
    #[default]
    Bypass,
}

/// How one attempt ended, as classified by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutcomeClass {
    /// The attempt counts as a success.
    Success,
    /// The attempt failed, for this reason.
    Failure(FailureCategory),
}

/// One attempt (one request actually sent, or one transport failure).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Success or failure, and why.
    pub outcome_class: OutcomeClass,
    /// Time from sending to the outcome of this attempt alone.
    pub latency: Duration,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Name to count a failure under in `error_counts` (e.g. an httpx class name such as
    /// `ConnectTimeout`). Default: `http_<status>` when a status is present, else
    /// [`FailureCategory::error_name`]. Sanitized to `[A-Za-z0-9_.:-]{1,64}`.
    pub error_name: Option<String>,
}

impl AttemptRecord {
    /// A successful attempt.
    pub fn success(latency: Duration, status: Option<u16>) -> Self {
        AttemptRecord {
            outcome_class: OutcomeClass::Success,
            latency,
            status,
            error_name: None,
        }
    }

    /// A failed attempt.
    pub fn failure(category: FailureCategory, latency: Duration, status: Option<u16>) -> Self {
        AttemptRecord {
            outcome_class: OutcomeClass::Failure(category),
            latency,
            status,
            error_name: None,
        }
    }

    /// The record of one attempt that ended with `outcome` after `latency`: a response below
    /// 400 succeeds; 4xx, 5xx and transport errors fail, in their category.
    pub fn from_outcome(outcome: &Outcome, latency: Duration) -> Self {
        match outcome {
            Ok(r) => {
                let status = r.status().as_u16();
                match FailureCategory::from_status(status) {
                    None if status < 400 => AttemptRecord::success(latency, Some(status)),
                    category => AttemptRecord::failure(
                        category.unwrap_or(FailureCategory::Other),
                        latency,
                        Some(status),
                    ),
                }
            }
            Err(e) => AttemptRecord::failure(FailureCategory::from(e.kind), latency, None),
        }
    }

    /// The same record with an explicit `error_counts` name.
    #[must_use]
    pub fn with_error_name(mut self, name: impl Into<String>) -> Self {
        self.error_name = Some(name.into());
        self
    }
}

/// The final outcome of one logical request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Whether the logical request succeeded.
    pub success: bool,
    /// Whole logical request: from start to final outcome, including retries and backoff.
    pub latency: Duration,
    /// Why it failed (ignored when `success`; `None` on a failure counts as `Other`).
    pub failure: Option<FailureCategory>,
    /// Retries performed (attempts − 1, or 0).
    pub retries: u32,
    /// How the cache took part.
    pub cache: CacheOutcome,
    /// Wall-clock time of completion (becomes `last_request_time`).
    pub wall: WallClock,
}

/// Cache outcome counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCounts {
    /// Fresh hits.
    pub hits: u64,
    /// Misses (fetched upstream).
    pub misses: u64,
    /// Stale entries served.
    pub stale: u64,
    /// Successful revalidations (304).
    pub revalidated: u64,
    /// Requests the cache did not take part in.
    pub bypass: u64,
}

impl CacheCounts {
    fn add(&mut self, outcome: CacheOutcome) {
        let slot = match outcome {
            CacheOutcome::Hit => &mut self.hits,
            CacheOutcome::Stale => &mut self.stale,
            CacheOutcome::Miss => &mut self.misses,
            CacheOutcome::Revalidated => &mut self.revalidated,
            CacheOutcome::Bypass => &mut self.bypass,
        };
        *slot = slot.saturating_add(1);
    }
}

/// A bounded name → count map that keeps insertion order (serialized as a JSON object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountMap(#[serde(with = "crate::serde_util::ordered_map")] Vec<(String, u64)>);

impl CountMap {
    /// An empty map.
    pub const fn new() -> Self {
        CountMap(Vec::new())
    }

    /// The count for `name` (0 when absent).
    pub fn get(&self, name: &str) -> u64 {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| *c)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(n, c)| (n.as_str(), *c))
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sum of all counts (saturating).
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0, |a, (_, c)| a.saturating_add(*c))
    }

    /// Adds `n` to `name`; past `cap` distinct names, adds to [`OVERFLOW_NAME`] instead.
    fn add(&mut self, name: &str, n: u64, cap: usize) {
        if let Some((_, c)) = self.0.iter_mut().find(|(k, _)| k == name) {
            *c = c.saturating_add(n);
            return;
        }
        let key = if self.0.len() < cap {
            name
        } else {
            OVERFLOW_NAME
        };
        if let Some((_, c)) = self.0.iter_mut().find(|(k, _)| k == key) {
            *c = c.saturating_add(n);
        } else {
            self.0.push((key.to_owned(), n));
        }
    }
}

/// Keeps `[A-Za-z0-9_.:-]`, replaces anything else by `_`, truncates to 64 bytes; empty → `unknown`.
fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_ERROR_NAME_LEN)
        .collect();
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

/// The original's name for a failed HTTP status: `http_<status>`.
fn http_status_name(status: u16) -> String {
    format!("http_{status}")
}

/// Live counters of one service (or of the global total).
#[derive(Clone, Debug, Default)]
struct ServiceStats {
    started: u64,
    succeeded: u64,
    failed: u64,
    attempts: u64,
    failed_attempts: u64,
    attempt_nanos: u128,
    retries: u64,
    latency: Histogram,
    last_request_time: Option<WallClock>,
    error_counts: CountMap,
    failures: [u64; FailureCategory::ALL.len()],
    cache: CacheCounts,
    breaker_transitions: CountMap,
}

impl ServiceStats {
    fn completed(&self) -> u64 {
        self.succeeded.saturating_add(self.failed)
    }

    fn start(&mut self) {
        self.started = self.started.saturating_add(1);
    }

    /// Takes back a start that will never end (see [`Metrics::on_request_withdrawn`]).
    fn withdraw(&mut self) {
        if self.started > self.completed() {
            self.started -= 1;
        }
    }

    fn attempt(&mut self, record: &AttemptRecord, error_name: Option<&str>, cap: usize) {
        self.attempts = self.attempts.saturating_add(1);
        self.attempt_nanos = self.attempt_nanos.saturating_add(record.latency.as_nanos());
        if let Some(name) = error_name {
            self.failed_attempts = self.failed_attempts.saturating_add(1);
            self.error_counts.add(name, 1, cap);
        }
    }

    fn end(&mut self, record: &RequestRecord, cap: usize) {
        // An end without a start in flight counts as started too.
        if self.started <= self.completed() {
            self.start();
        }
        if record.success {
            self.succeeded = self.succeeded.saturating_add(1);
        } else {
            self.failed = self.failed.saturating_add(1);
            let category = record.failure.unwrap_or(FailureCategory::Other);
            let slot = &mut self.failures[category.index()];
            *slot = slot.saturating_add(1);
            if category.is_policy() {
                self.error_counts.add(category.error_name(), 1, cap);
            }
        }
        self.retries = self.retries.saturating_add(u64::from(record.retries));
        self.latency.record(record.latency);
        self.cache.add(record.cache);
        self.last_request_time = Some(
            self.last_request_time
                .map_or(record.wall, |w| w.max(record.wall)),
        );
    }

    fn snapshot(&self) -> ServiceSnapshot {
        let completed = self.completed();
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let total = self.latency.sum().as_secs_f64();
        let ratio = |n: u64| {
            if completed == 0 {
                0.0
            } else {
                n as f64 / completed as f64
            }
        };
        ServiceSnapshot {
            total_requests: self.started,
            successful_requests: self.succeeded,
            failed_requests: self.failed,
            in_flight: self.started.saturating_sub(completed),
            attempts: self.attempts,
            failed_attempts: self.failed_attempts,
            retries: self.retries,
            total_response_time: total,
            min_response_time: secs(self.latency.min()).unwrap_or(0.0),
            max_response_time: secs(self.latency.max()).unwrap_or(0.0),
            average_response_time: secs(self.latency.mean()).unwrap_or(0.0),
            success_rate: ratio(self.succeeded),
            p50_response_time: secs(self.latency.quantile(0.50)),
            p90_response_time: secs(self.latency.quantile(0.90)),
            p95_response_time: secs(self.latency.quantile(0.95)),
            p99_response_time: secs(self.latency.quantile(0.99)),
            total_attempt_time: Duration::from_nanos(
                u64::try_from(self.attempt_nanos).unwrap_or(u64::MAX),
            )
            .as_secs_f64(),
            last_request_time: self.last_request_time,
            error_counts: self.error_counts.clone(),
            failures_by_category: FailureCategory::ALL
                .iter()
                .filter(|c| self.failures[c.index()] > 0)
                .map(|c| (*c, self.failures[c.index()]))
                .collect(),
            cache: self.cache,
            breaker_transitions: self.breaker_transitions.clone(),
            latency: self.latency.clone(),
        }
    }
}

/// A point-in-time copy of one service's (or the global) metrics. Times are in seconds.
///
/// The original `get_metrics()` keys map directly: `total_requests`, `successful_requests`,
/// `failed_requests`, `success_rate`, `average_response_time`, `min_response_time` (write the
/// int `0` when `total_requests == 0` for byte compatibility), `max_response_time`,
/// `error_counts`, `last_request_time` (format with [`WallClock::to_rfc3339`] or local time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    /// Logical requests started (cache hits included).
    pub total_requests: u64,
    /// Logical requests that succeeded.
    pub successful_requests: u64,
    /// Logical requests that failed (never more than `total_requests`).
    pub failed_requests: u64,
    /// Started but not yet ended.
    pub in_flight: u64,
    /// Attempts sent (or failed at the transport).
    pub attempts: u64,
    /// Attempts classified as failures.
    pub failed_attempts: u64,
    /// Retries performed.
    pub retries: u64,
    /// Sum of logical-request latencies, seconds.
    pub total_response_time: f64,
    /// Smallest logical-request latency, seconds (0.0 when none).
    pub min_response_time: f64,
    /// Largest logical-request latency, seconds (0.0 when none).
    pub max_response_time: f64,
    /// Mean logical-request latency, seconds (0.0 when none).
    pub average_response_time: f64,
    /// `successful / (successful + failed)`; **0.0 when no request completed** (as the
    /// original; see [`ServiceSnapshot::success_rate_or_none`]).
    pub success_rate: f64,
    /// Median latency, seconds (histogram estimate, ≤ 3.125 % error).
    pub p50_response_time: Option<f64>,
    /// 90th percentile latency, seconds.
    pub p90_response_time: Option<f64>,
    /// 95th percentile latency, seconds.
    pub p95_response_time: Option<f64>,
    /// 99th percentile latency, seconds.
    pub p99_response_time: Option<f64>,
    /// Sum of single-attempt latencies, seconds.
    pub total_attempt_time: f64,
    /// Wall-clock time of the latest completed request.
    pub last_request_time: Option<WallClock>,
    /// Failed attempts (and policy rejections) by error name, e.g. `http_503`, `timeout`.
    pub error_counts: CountMap,
    /// Failed logical requests by category (only non-zero entries).
    pub failures_by_category: BTreeMap<FailureCategory, u64>,
    /// Cache outcomes of logical requests.
    pub cache: CacheCounts,
    /// Breaker transitions by target state (e.g. `open`, `half_open`, `closed`).
    pub breaker_transitions: CountMap,
    /// Logical-request latency histogram (serialized as its non-empty buckets).
    pub latency: Histogram,
}

impl ServiceSnapshot {
    /// Logical requests that ended (successful + failed).
    pub fn completed_requests(&self) -> u64 {
        self.successful_requests
            .saturating_add(self.failed_requests)
    }

    /// The success rate, or `None` when no request completed (use this for alerting).
    pub fn success_rate_or_none(&self) -> Option<f64> {
        (self.completed_requests() > 0).then_some(self.success_rate)
    }

    /// Total breaker transitions.
    pub fn breaker_transitions_total(&self) -> u64 {
        self.breaker_transitions.total()
    }
}

/// A point-in-time copy of the whole registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// When the snapshot was taken.
    pub taken_at: WallClock,
    /// Totals over every service.
    pub global: ServiceSnapshot,
    /// Per service, in registration order (serialized as a JSON object in that order).
    #[serde(with = "crate::serde_util::ordered_map")]
    pub services: Vec<(String, ServiceSnapshot)>,
}

impl MetricsSnapshot {
    /// The snapshot of `service`, if it is tracked by name.
    pub fn service(&self, service: &str) -> Option<&ServiceSnapshot> {
        self.services
            .iter()
            .find(|(n, _)| n == service)
            .map(|(_, s)| s)
    }
}

/// The metrics registry: per-service counters plus global totals. `&mut self` only.
///
/// # Design
///
/// The engine reports what happened through explicit verbs; [`Metrics`] only counts. Logical
/// requests and attempts are counted **separately** (the original mixed them, so its
/// `failed_requests` could exceed `total_requests` and retries inflated its averages):
///
/// ```text
///  on_request_start ──► total_requests += 1, in_flight += 1
///        │
///        ├─ on_attempt (0..n times) ──► attempts, failed_attempts, error_counts["http_503" | "timeout" | …]
///        │
///  on_request_end ───► successful_requests | failed_requests (+ failures_by_category),
///                      latency histogram (whole logical request), retries, cache outcome,
///                      last_request_time, in_flight -= 1
/// ```
///
/// * `on_request_start` is optional: an `on_request_end` with nothing in flight counts the
///   request as started too (so a cache hit may be reported with `on_request_end` alone).
/// * Cache hits **are** logical requests here (`cache.hits` tells them apart; the original's
///   client-level numbers are `total_requests - cache.hits`).
/// * Response-time figures (`total_response_time`, min, max, average, percentiles) are over
///   whole logical requests, from start to final outcome, including retries and backoff.
/// * `error_counts` counts failed **attempts** by error name (as the original did), plus the
///   policy failures that never made an attempt (`circuit_open`, `budget_exhausted`,
///   `deadline_exceeded`) reported by `on_request_end`.
///
/// Memory is bounded: at most [`MetricsConfig::max_services`] named services (later names are
/// aggregated into one service named [`OVERFLOW_SERVICE`], so label cardinality is capped), at
/// most [`MetricsConfig::max_error_names`] error names per service (later names go to
/// [`OVERFLOW_NAME`]), and each histogram is a fixed array. Error names are sanitized to
/// `[A-Za-z0-9_.:-]`, at most 64 bytes, so no free text (URLs, messages) can become a label.
///
/// Counters are cumulative and never windowed; they saturate instead of overflowing.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    config: MetricsConfig,
    /// Services in registration order (the overflow service, if any, is one of them).
    services: Vec<(String, ServiceStats)>,
    index: HashMap<String, usize, FixedState>,
    /// Index of the service looked up last (consecutive events usually concern one service);
    /// checked by name before use.
    last: usize,
    /// Named services, not counting the overflow entry.
    named: usize,
    global: ServiceStats,
}

impl Metrics {
    /// A registry with the given limits.
    pub fn new(config: MetricsConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Metrics {
            config,
            ..Metrics::default()
        })
    }

    /// The limits in force.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// Makes `service` appear in snapshots even before its first request (like the original's
    /// client registry). Returns `false` if it was aggregated into [`OVERFLOW_SERVICE`].
    pub fn register(&mut self, service: &str) -> bool {
        let i = self.slot(service);
        self.services[i].0 == service
    }

    /// Names of the tracked services, in registration order.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|(n, _)| n.as_str())
    }

    /// A logical request to `service` begins. (Metrics are cumulative and take no time: the
    /// end's [`RequestRecord`] carries the latency and the wall-clock time.)
    pub fn on_request_start(&mut self, service: &str) {
        let i = self.slot(service);
        self.services[i].1.start();
        self.global.start();
    }

    /// A logical request to `service` that had started was withdrawn: the transport refused
    /// it as the caller's mistake
    /// ([`TransportErrorKind::InvalidRequest`](crate::TransportErrorKind::InvalidRequest)), so
    /// it no longer counts as started, and it never ends — neither a success nor a failure,
    /// like a request refused at [`Engine::begin`](crate::Engine::begin).
    pub fn on_request_withdrawn(&mut self, service: &str) {
        let i = self.slot(service);
        self.services[i].1.withdraw();
        self.global.withdraw();
    }

    /// The configured `error_counts` name for a transport error of `kind`, if any
    /// ([`MetricsConfig::transport_error_names`]).
    pub fn transport_error_name(&self, kind: TransportErrorKind) -> Option<&str> {
        if self.config.transport_error_names.is_empty() {
            return None;
        }
        self.config
            .transport_error_names
            .get(kind.as_str())
            .map(String::as_str)
    }

    /// One attempt of a logical request to `service` ended.
    pub fn on_attempt(&mut self, service: &str, record: &AttemptRecord) {
        let name = match record.outcome_class {
            OutcomeClass::Success => None,
            OutcomeClass::Failure(category) => Some(match (&record.error_name, record.status) {
                (Some(n), _) => sanitize_name(n),
                (None, Some(status)) => http_status_name(status),
                (None, None) => category.error_name().to_owned(),
            }),
        };
        let cap = self.config.max_error_names;
        let i = self.slot(service);
        self.services[i].1.attempt(record, name.as_deref(), cap);
        self.global.attempt(record, name.as_deref(), cap);
    }

    /// A logical request to `service` began and ended at once (e.g. a cache hit): the same
    /// as [`on_request_start`](Self::on_request_start) then
    /// [`on_request_end`](Self::on_request_end), with one service lookup.
    pub fn on_request(&mut self, service: &str, record: &RequestRecord) {
        let cap = self.config.max_error_names;
        let i = self.slot(service);
        let stats = &mut self.services[i].1;
        stats.start();
        stats.end(record, cap);
        self.global.start();
        self.global.end(record, cap);
    }

    /// A logical request to `service` ended.
    pub fn on_request_end(&mut self, service: &str, record: &RequestRecord) {
        let cap = self.config.max_error_names;
        let i = self.slot(service);
        self.services[i].1.end(record, cap);
        self.global.end(record, cap);
    }

    /// The breaker of `service` moved to state `to` (e.g. `open`, `half_open`, `closed`).
    pub fn on_breaker_transition(&mut self, service: &str, to: &str) {
        let to = sanitize_name(&to.to_ascii_lowercase());
        let i = self.slot(service);
        self.services[i]
            .1
            .breaker_transitions
            .add(&to, 1, MAX_BREAKER_STATES);
        self.global
            .breaker_transitions
            .add(&to, 1, MAX_BREAKER_STATES);
    }

    /// Counts an error under `name` (sanitized) for `service`, outside the attempt flow.
    pub fn on_error(&mut self, service: &str, name: &str) {
        let name = sanitize_name(name);
        let cap = self.config.max_error_names;
        let i = self.slot(service);
        self.services[i].1.error_counts.add(&name, 1, cap);
        self.global.error_counts.add(&name, 1, cap);
    }

    /// A snapshot of `service` alone (`None` if it is not tracked by name).
    pub fn service_snapshot(&self, service: &str) -> Option<ServiceSnapshot> {
        self.index
            .get(service)
            .map(|&i| self.services[i].1.snapshot())
    }

    /// A snapshot of everything, stamped `taken_at`.
    pub fn snapshot(&self, taken_at: WallClock) -> MetricsSnapshot {
        MetricsSnapshot {
            taken_at,
            global: self.global.snapshot(),
            services: self
                .services
                .iter()
                .map(|(n, s)| (n.clone(), s.snapshot()))
                .collect(),
        }
    }

    /// Index of the entry for `service`, creating it (or the overflow entry) if needed.
    /// O(1): the last one used, else one hash lookup.
    fn slot(&mut self, service: &str) -> usize {
        if let Some((name, _)) = self.services.get(self.last)
            && short_str_eq(name, service)
        {
            return self.last;
        }
        let i = self.slot_slow(service);
        if self.services[i].0 == service {
            self.last = i;
        }
        i
    }

    fn slot_slow(&mut self, service: &str) -> usize {
        if let Some(&i) = self.index.get(service) {
            return i;
        }
        let name = if self.named < self.config.max_services {
            self.named += 1;
            service
        } else if let Some(&i) = self.index.get(OVERFLOW_SERVICE) {
            return i;
        } else {
            OVERFLOW_SERVICE
        };
        let i = self.services.len();
        self.services
            .push((name.to_owned(), ServiceStats::default()));
        self.index.insert(name.to_owned(), i);
        i
    }
}

/// `a == b`, without a `memcmp` call for the short names services usually have.
#[inline]
pub(crate) fn short_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
    let half = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap_or([0; 4]));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(&a[..4]) == half(&b[..4]) && half(&a[n - 4..]) == half(&b[n - 4..]),
        8..=16 => word(&a[..8]) == word(&b[..8]) && word(&a[n - 8..]) == word(&b[n - 8..]),
        _ => a == b,
    }
}

#[cfg(test)]
mod short_str_tests {
    use super::short_str_eq;

    #[test]
    fn short_str_eq_is_eq() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "abd",
            "xbc",
            "abcd",
            "abce",
            "catalog",
            "catalot",
            "Catalog",
            "api.example.com",
            "api.example.con",
            "bpi.example.com",
            "0123456789abcdef",
            "0123456789abcdeF",
            "0123456789abcdefg",
            "0123456789abcdefh",
        ];
        for a in words {
            for b in words {
                assert_eq!(short_str_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are intended
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn attempts_are_classified_by_status_and_transport_error() {
        let resp = |code: u16| -> Outcome {
            let mut r = crate::Response::new(bytes::Bytes::new());
            *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
            Ok(r)
        };
        for (code, want) in [
            (200, OutcomeClass::Success),
            (304, OutcomeClass::Success),
            (399, OutcomeClass::Success),
            (404, OutcomeClass::Failure(FailureCategory::Status4xx)),
            (503, OutcomeClass::Failure(FailureCategory::Status5xx)),
            (600, OutcomeClass::Failure(FailureCategory::Other)),
        ] {
            let r = AttemptRecord::from_outcome(&resp(code), ms(3));
            assert_eq!(
                (r.outcome_class, r.status, r.latency),
                (want, Some(code), ms(3))
            );
        }
        let err: Outcome = Err(crate::TransportError::new(
            TransportErrorKind::Connect,
            "refused",
        ));
        let r = AttemptRecord::from_outcome(&err, ms(1));
        assert_eq!(
            r.outcome_class,
            OutcomeClass::Failure(FailureCategory::Connect)
        );
        assert_eq!(r.status, None);
    }

    #[test]
    fn a_request_that_gave_up_is_filed_under_why() {
        use crate::retry::GiveUpReason;
        let of = FailureCategory::of_request;
        assert_eq!(of(RequestEnd::Status(200), None), None);
        assert_eq!(
            of(RequestEnd::Status(200), Some(GiveUpReason::BudgetExhausted)),
            None
        );
        assert_eq!(
            of(RequestEnd::Status(503), None),
            Some(FailureCategory::Status5xx)
        );
        assert_eq!(
            of(RequestEnd::Status(503), Some(GiveUpReason::BudgetExhausted)),
            Some(FailureCategory::BudgetExhausted)
        );
        assert_eq!(
            of(
                RequestEnd::Transport(TransportErrorKind::Timeout),
                Some(GiveUpReason::DeadlineExceeded)
            ),
            Some(FailureCategory::DeadlineExceeded)
        );
        assert_eq!(
            of(RequestEnd::Transport(TransportErrorKind::Reset), None),
            Some(FailureCategory::Reset)
        );
        assert_eq!(
            of(
                RequestEnd::BreakerRejected,
                Some(GiveUpReason::BudgetExhausted)
            ),
            Some(FailureCategory::BreakerRejected)
        );
        assert_eq!(of(RequestEnd::Refused, None), Some(FailureCategory::Other));
    }

    fn end(success: bool, latency: Duration, failure: Option<FailureCategory>) -> RequestRecord {
        RequestRecord {
            success,
            latency,
            failure,
            retries: 0,
            cache: CacheOutcome::Miss,
            wall: WallClock::from_unix_secs(1_800_000_000),
        }
    }

    #[test]
    fn config_validation() {
        assert!(MetricsConfig::default().validate().is_ok());
        let bad = MetricsConfig {
            max_services: 0,
            ..MetricsConfig::default()
        };
        assert_eq!(
            Metrics::new(bad).unwrap_err(),
            ConfigError::invalid("metrics.max_services", "must be in 1..=4096")
        );
        let bad = MetricsConfig {
            max_error_names: 0,
            ..MetricsConfig::default()
        };
        assert!(bad.validate().is_err());
        let parsed: MetricsConfig = serde_json::from_str(r#"{"max_services": 3}"#).unwrap();
        assert_eq!(parsed.max_services, 3);
        assert_eq!(parsed.max_error_names, 32);
    }

    #[test]
    fn empty_service_matches_original_defaults() {
        let mut m = Metrics::default();
        assert!(m.register("idle"));
        let s = m.service_snapshot("idle").unwrap();
        assert_eq!(s.total_requests, 0);
        assert_eq!(s.success_rate, 0.0);
        assert_eq!(s.success_rate_or_none(), None);
        assert_eq!(s.average_response_time, 0.0);
        assert_eq!(s.min_response_time, 0.0);
        assert_eq!(s.max_response_time, 0.0);
        assert_eq!(s.p99_response_time, None);
        assert_eq!(s.last_request_time, None);
        assert!(s.error_counts.is_empty());
    }

    #[test]
    fn attempts_are_separate_from_logical_requests() {
        let mut m = Metrics::default();
        // request 1: 503, 503, 200 -> success after 2 retries
        m.on_request_start("svc");
        m.on_attempt(
            "svc",
            &AttemptRecord::failure(FailureCategory::Status5xx, ms(10), Some(503)),
        );
        m.on_attempt(
            "svc",
            &AttemptRecord::failure(FailureCategory::Status5xx, ms(10), Some(503)),
        );
        m.on_attempt("svc", &AttemptRecord::success(ms(20), Some(200)));
        m.on_request_end(
            "svc",
            &RequestRecord {
                retries: 2,
                ..end(true, ms(3_040), None)
            },
        );
        // request 2: connect error twice -> failure
        m.on_request_start("svc");
        m.on_attempt(
            "svc",
            &AttemptRecord::failure(FailureCategory::Connect, ms(1), None)
                .with_error_name("ConnectError"),
        );
        m.on_attempt(
            "svc",
            &AttemptRecord::failure(FailureCategory::Timeout, ms(1), None),
        );
        m.on_request_end(
            "svc",
            &RequestRecord {
                retries: 1,
                ..end(false, ms(1_000), Some(FailureCategory::Timeout))
            },
        );
        let s = m.service_snapshot("svc").unwrap();
        assert_eq!(s.total_requests, 2);
        assert_eq!(s.successful_requests, 1);
        assert_eq!(s.failed_requests, 1);
        assert_eq!(s.in_flight, 0);
        assert_eq!(s.attempts, 5);
        assert_eq!(s.failed_attempts, 4);
        assert_eq!(s.retries, 3);
        assert_eq!(s.success_rate, 0.5);
        assert!((s.total_response_time - 4.04).abs() < 1e-12);
        assert!((s.average_response_time - 2.02).abs() < 1e-12);
        assert_eq!(s.min_response_time, 1.0);
        assert!((s.max_response_time - 3.04).abs() < 1e-12);
        assert!((s.total_attempt_time - 0.042).abs() < 1e-12);
        let names: Vec<_> = s.error_counts.iter().collect();
        assert_eq!(
            names,
            vec![("http_503", 2), ("ConnectError", 1), ("timeout", 1)]
        );
        assert_eq!(
            s.failures_by_category.get(&FailureCategory::Timeout),
            Some(&1)
        );
        assert_eq!(s.failures_by_category.len(), 1);
        assert_eq!(s.cache.misses, 2);
        assert_eq!(
            s.last_request_time,
            Some(WallClock::from_unix_secs(1_800_000_000))
        );
        // global mirrors the single service
        let snap = m.snapshot(WallClock::from_unix_secs(5));
        assert_eq!(snap.global.attempts, 5);
        assert_eq!(snap.global.total_requests, 2);
        assert_eq!(snap.taken_at, WallClock::from_unix_secs(5));
    }

    #[test]
    fn end_without_start_counts_as_started_and_in_flight_tracks() {
        let mut m = Metrics::default();
        m.on_request_start("a");
        m.on_request_start("a");
        assert_eq!(m.service_snapshot("a").unwrap().in_flight, 2);
        m.on_request_end(
            "a",
            &RequestRecord {
                cache: CacheOutcome::Hit,
                ..end(true, ms(1), None)
            },
        );
        let s = m.service_snapshot("a").unwrap();
        assert_eq!((s.total_requests, s.in_flight), (2, 1));
        m.on_request_end("a", &end(true, ms(1), None));
        m.on_request_end("a", &end(true, ms(1), None)); // no start in flight
        let s = m.service_snapshot("a").unwrap();
        assert_eq!(
            (s.total_requests, s.in_flight, s.successful_requests),
            (3, 0, 3)
        );
        assert_eq!(s.cache.hits, 1);
        assert!(s.failed_requests <= s.total_requests);
    }

    #[test]
    fn policy_failures_are_counted_as_errors() {
        let mut m = Metrics::default();
        m.on_request_end(
            "a",
            &end(
                false,
                Duration::ZERO,
                Some(FailureCategory::BreakerRejected),
            ),
        );
        m.on_request_end(
            "a",
            &end(
                false,
                Duration::ZERO,
                Some(FailureCategory::BudgetExhausted),
            ),
        );
        m.on_request_end("a", &end(false, ms(5), None));
        m.on_request_end("a", &end(false, ms(5), Some(FailureCategory::Status5xx)));
        let s = m.service_snapshot("a").unwrap();
        assert_eq!(s.error_counts.get("circuit_open"), 1);
        assert_eq!(s.error_counts.get("budget_exhausted"), 1);
        assert_eq!(s.error_counts.len(), 2); // status failures are counted per attempt only
        assert_eq!(s.failures_by_category[&FailureCategory::Other], 1);
        assert_eq!(s.failures_by_category[&FailureCategory::Status5xx], 1);
        assert_eq!(s.success_rate_or_none(), Some(0.0));
    }

    #[test]
    fn service_cardinality_is_capped() {
        let mut m = Metrics::new(MetricsConfig {
            max_services: 2,
            ..MetricsConfig::default()
        })
        .unwrap();
        assert!(m.register("a"));
        m.on_request_end("b", &end(true, ms(1), None));
        m.on_request_end("c", &end(true, ms(1), None));
        m.on_request_end("d", &end(false, ms(1), None));
        m.on_request_end("a", &end(true, ms(1), None));
        assert!(!m.register("e"));
        let names: Vec<_> = m.service_names().collect();
        assert_eq!(names, vec!["a", "b", OVERFLOW_SERVICE]);
        let snap = m.snapshot(WallClock::EPOCH);
        let other = snap.service(OVERFLOW_SERVICE).unwrap();
        assert_eq!((other.total_requests, other.failed_requests), (2, 1));
        assert_eq!(snap.global.total_requests, 4);
        assert!(snap.service("c").is_none());
    }

    #[test]
    fn error_names_are_bounded_and_sanitized() {
        let mut m = Metrics::new(MetricsConfig {
            max_error_names: 2,
            ..MetricsConfig::default()
        })
        .unwrap();
        let fail = |n: &str| {
            AttemptRecord::failure(FailureCategory::Other, ms(1), None).with_error_name(n)
        };
        m.on_attempt("a", &fail("Bad Thing?token=secret\n"));
        m.on_attempt("a", &fail(""));
        m.on_attempt("a", &fail("third"));
        m.on_attempt("a", &fail("fourth"));
        m.on_attempt("a", &fail(&"x".repeat(200)));
        let s = m.service_snapshot("a").unwrap();
        let names: Vec<_> = s.error_counts.iter().collect();
        assert_eq!(
            names,
            vec![
                ("Bad_Thing_token_secret_", 1),
                ("unknown", 1),
                (OVERFLOW_NAME, 3)
            ]
        );
        assert_eq!(sanitize_name(&"x".repeat(200)).len(), MAX_ERROR_NAME_LEN);
    }

    #[test]
    fn breaker_transitions_and_percentiles() {
        let mut m = Metrics::default();
        m.on_breaker_transition("a", "OPEN");
        m.on_breaker_transition("a", "half_open");
        m.on_breaker_transition("a", "open");
        m.on_error("a", "custom");
        for i in 1..=100 {
            m.on_request_end("a", &end(true, ms(i), None));
        }
        let s = m.service_snapshot("a").unwrap();
        assert_eq!(s.breaker_transitions.get("open"), 2);
        assert_eq!(s.breaker_transitions_total(), 3);
        assert_eq!(s.error_counts.get("custom"), 1);
        let p = |v: Option<f64>, exact: f64| {
            let v = v.unwrap();
            assert!((v - exact).abs() <= exact / 32.0, "{v} vs {exact}");
        };
        p(s.p50_response_time, 0.050);
        p(s.p90_response_time, 0.090);
        p(s.p95_response_time, 0.095);
        p(s.p99_response_time, 0.099);
        assert_eq!(s.latency.count(), 100);
    }

    #[test]
    fn snapshot_json_round_trip_keeps_order() {
        let mut m = Metrics::default();
        for name in ["zeta", "alpha", "mid"] {
            m.on_request_start(name);
            m.on_attempt(
                name,
                &AttemptRecord::failure(FailureCategory::Status5xx, ms(2), Some(502)),
            );
            m.on_request_end(name, &end(false, ms(2), Some(FailureCategory::Status5xx)));
        }
        let snap = m.snapshot(WallClock::from_unix_secs(7));
        let json = serde_json::to_string(&snap).unwrap();
        let z = json.find("\"zeta\"").unwrap();
        let a = json.find("\"alpha\"").unwrap();
        assert!(z < a, "registration order lost: {json}");
        assert!(
            json.contains("\"failures_by_category\":{\"status_5xx\":1}"),
            "{json}"
        );
        assert!(json.contains("\"error_counts\":{\"http_502\":1}"), "{json}");
        let back: MetricsSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back.services.len(), 3);
        assert_eq!(back.services[0].0, "zeta");
        assert_eq!(back.global.failed_requests, 3);
        assert_eq!(back.services[2].1.latency.count(), 1);
        assert_eq!(
            serde_json::to_value(back).unwrap(),
            serde_json::to_value(&snap).unwrap()
        );
    }

    #[test]
    fn transport_kinds_map_to_categories() {
        assert_eq!(
            FailureCategory::from(TransportErrorKind::Connect),
            FailureCategory::Connect
        );
        assert_eq!(
            FailureCategory::from(TransportErrorKind::Protocol),
            FailureCategory::Transport
        );
        assert_eq!(
            FailureCategory::from(TransportErrorKind::Cancelled),
            FailureCategory::Other
        );
        assert_eq!(
            FailureCategory::from_status(404),
            Some(FailureCategory::Status4xx)
        );
        assert_eq!(
            FailureCategory::from_status(503),
            Some(FailureCategory::Status5xx)
        );
        assert_eq!(FailureCategory::from_status(200), None);
        for c in FailureCategory::ALL {
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }
}
