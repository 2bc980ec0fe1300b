//! # tether-core — the sans-IO brain of Tether
//!
//! Everything that makes an HTTP call resilient and observable, as pure state machines: a
//! response [`Cache`] (RFC 9111 freshness and revalidation, LRU, single-flight), circuit
//! [`Breaker`]s, retries with backoff, `Retry-After` and a budget ([`RetryPolicy`]), batching
//! ([`Batcher`]), [`Metrics`] with percentiles, health ([`HealthTracker`]), alerts
//! ([`AlertEngine`]) and exports ([`export`]: JSON, Prometheus, InfluxDB line protocol). An
//! [`Engine`] routes each request through them.
//!
//! **In scope:** every decision — serve from cache or not, admit through the breaker or not,
//! retry when and how often, what to count, when to alert — and the decision trace that
//! explains it. **Out of scope:** sockets, TLS, DNS, clocks, timers, threads, randomness, logging.
//! The core never reads a clock (time comes in as [`Timestamp`] and [`WallClock`] arguments)
//! and never draws OS entropy (a seed comes in). It builds for `wasm32-unknown-unknown`.
//!
//! ## The loop
//!
//! A frontend is a [`Transport`] (how an attempt reaches a server) plus a [`Runtime`] (clock,
//! timer, seed). The [`client`] layer — [`HttpClient`](client::HttpClient), its request builder,
//! typed errors, service clients, hooks — runs the loop below for any such pair; a frontend that
//! wants its own loop drives the [`Engine`] directly (its documentation states the contract:
//! which methods are inputs, commands, getters and pollers, and what to drain when):
//!
//! ```no_run
//! use tether_core::{Decision, Engine, EngineConfig, Next, Output, Request, Timestamp, WallClock};
//!
//! # fn clock() -> (Timestamp, WallClock) { (Timestamp::ZERO, WallClock::EPOCH) }
//! # fn send(_r: &Request) -> tether_core::Outcome { unimplemented!() }
//! # fn sleep_until(_t: Timestamp) {}
//! let mut engine = Engine::new(EngineConfig::default(), 42)?;
//! let request: Request = http::Request::get("https://api.example.com/items").body(Default::default())?;
//!
//! let (now, wall) = clock();
//! let mut decision = engine.begin(now, wall, &request, Some("catalog"))?;
//! let finished = loop {
//!     match decision {
//!         // Served from cache, or refused by policy (breaker open): answer at once.
//!         Decision::Done(finished) => break finished,
//!         // Send one attempt (with the engine's conditional headers), report the outcome.
//!         Decision::Send(permit) => {
//!             let mut attempt = request.clone();
//!             permit.apply(&mut attempt);
//!             let outcome = send(&attempt); // honour permit.timeout()
//!             let (now, wall) = clock();
//!             match engine.on_response(now, wall, permit, &request, outcome)? {
//!                 Next::Done(finished) => break finished,
//!                 Next::RetryAt { at, token } => {
//!                     sleep_until(at);
//!                     let (now, wall) = clock();
//!                     decision = engine.resume(now, wall, token, &request)?;
//!                 }
//!             }
//!         }
//!         // An identical request is in flight (single-flight): wait for Output::Resolved
//!         // or Output::Proceed with this id while draining poll_output.
//!         Decision::Wait(_id) => unimplemented!("see the client layer for the waiting side"),
//!     }
//! };
//! println!("{}", finished.trace.summary());
//!
//! // After every input: drain outputs, then arm one timer.
//! while let Some(output) = engine.poll_output() {
//!     match output {
//!         Output::Event(event) => println!("{event:?}"),
//!         _ => { /* Resolved / Proceed / Background / CheckDue: see the client layer */ }
//!     }
//! }
//! if let Some(deadline) = engine.poll_timeout() {
//!     sleep_until(deadline);
//!     let (now, wall) = clock();
//!     engine.handle_timeout(now, wall);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The machines
//!
//! Each concern is one small machine with the same verbs as the engine (`now` first, events
//! and deadlines polled); each can be used on its own, and each documents its design on its
//! type:
//!
//! | machine | decides | configured by |
//! |---|---|---|
//! | [`Cache`] | fresh / stale / revalidate / miss, what to store, who waits for whom | [`CacheConfig`] |
//! | [`Breaker`], [`BreakerRegistry`] | whether a call may go out; when to open, probe, close | [`BreakerConfig`], [`RegistryConfig`] |
//! | [`RetryPolicy`], [`RetryBudget`] | whether and when to try again | [`RetryConfig`] |
//! | [`Batcher`] | when a batch is cut, how many run at once | [`BatchConfig`] |
//! | [`Metrics`] | nothing: it counts | [`MetricsConfig`] |
//! | [`HealthTracker`] | each service's health, when a check is due | [`HealthConfig`] |
//! | [`AlertEngine`] | which alerts fire and resolve | [`AlertConfig`] |
//!
//! Exports write one [`ExportSnapshot`] as JSON, Prometheus text or InfluxDB lines
//! ([`export()`], [`Exporter`]). The original Python system's shapes and formats, for the
//! Python layer only, are in [`compat`].
//!
//! ## Rules the core keeps
//!
//! * **Time is an argument** — every input takes `now` first; every machine reports its next
//!   deadline, and `handle_timeout` always moves it forward.
//! * **Decisions are data** — a breaker rejection or an exhausted retry budget is a
//!   [`Decision`] or a [`FinalResult`], never an `Err`.
//! * **`&mut self` only** — no locks, tasks or globals inside the engine; the client layer holds it
//!   behind a mutex that is never held across an `.await`.
//! * **Typed errors by who is at fault** — [`ConfigError`] (the caller's configuration),
//!   [`RequestError`] (the caller's request), [`EngineError`] (the driver handed the engine a
//!   handle that does not fit), [`TransportError`] (below HTTP). The core never panics on
//!   input.
//! * **Secrets stay secret** — every request header that may identify the caller partitions
//!   the cache by a keyed hash (unknown headers included: the rule fails closed), and no
//!   secret is stored; one rule ([`redact`]: names matched by pattern in headers, query and
//!   path parameters, userinfo and fragments never echoed, even from strings that do not
//!   parse) masks them in everything meant for humans: hook events, errors, `Debug` output,
//!   logs.

#![forbid(unsafe_code)]

mod alerts;
mod batch;
mod breaker;
mod cache;
pub mod compat;
mod engine;
mod export;
mod health;
mod metrics;
mod retry;

pub mod client;
mod driver;
mod error;
mod message;
pub mod monitoring;
pub mod redact;
mod rng;
mod serde_util;
mod time;
pub mod uri;

pub use alerts::{
    Alert, AlertConfig, AlertEngine, AlertEvent, AlertInput, AlertRule, AlertsSnapshot,
    LatencyStat, RuleKind, ServiceSignals, Severity, SystemSignals, default_rules,
};
pub use batch::{
    Batch, BatchConfig, BatchError, BatchId, BatchTrigger, Batcher, BatcherSnapshot, ItemId,
    OrderedResults,
};
pub use breaker::{
    BreakDuration, Breaker, BreakerConfig, BreakerEvent, BreakerPermit, BreakerRegistry,
    BreakerRejection, BreakerSnapshot, BreakerState, BreakerWindow, CallKind, CallResult,
    Classifier, NamedBreakerEvent, RatioTrigger, RegistryConfig, SlowCall, StatusRange,
    TransitionReason, WindowTotals,
};
pub use cache::{
    Cache, CacheConfig, CacheKey, CachePeek, CacheStats, CachedResponse, Fill, FlightEvent,
    FlightId, Freshness, FreshnessMode, LifetimeSource, Lookup, NON_IDENTIFYING_HEADERS,
    NotStoredReason, StoreResult, Usability, host_matches, storability,
};
pub use driver::{Runtime, Spawn, Transport};
pub use engine::{
    AttemptNext, AttemptResult, AttemptTrace, BackgroundFetch, BreakerScope, CacheTrace, Decision,
    DecisionTrace, Engine, EngineConfig, EngineError, EngineEvent, EngineSnapshot, FinalResult,
    Finished, HumanDuration, Next, Output, Permit, RejectReason, Reply, RequestId, RequestPhase,
    RetryToken,
};
pub use error::{ConfigError, RequestError, RuntimeUnavailable};
pub use export::{
    BreakerInfo, CacheInfo, ExportError, ExportSnapshot, Exporter, Format, HealthInfo,
    InfluxExporter, JsonExporter, NetworkIo, PrometheusExporter, SystemSample, export,
};
pub use health::{
    BreakerStateKind, CheckResult, HealthConfig, HealthEvent, HealthReason, HealthStatus,
    HealthTracker, ServiceHealthOverride, ServiceHealthSnapshot, TooManyServices,
};
pub use message::{Deadline, Outcome, Request, Response, TransportError, TransportErrorKind};
pub use metrics::{
    AttemptRecord, CacheCounts, CacheOutcome, CountMap, FailureCategory, Histogram, Metrics,
    MetricsConfig, MetricsSnapshot, OVERFLOW_NAME, OVERFLOW_SERVICE, OutcomeClass, RequestRecord,
    ServiceSnapshot,
};
pub use redact::{
    REDACTED, Redactor, SECRET_HEADERS, SECRET_QUERY_PARAMS, excerpt, is_secret_header,
    is_secret_param, redact_headers, redact_text, redact_url,
};
pub use retry::{
    Backoff, BackoffState, BudgetConfig, GiveUpReason, LongRetryAfter, RetryBudget, RetryConfig,
    RetryDecision, RetryPolicy, RetryReason, RetryState, is_idempotent,
};
pub use rng::Rng;
pub use time::{Timestamp, WallClock};

/// **Not part of the API.** Header parsers and tuning constants, exposed only for the fuzz
/// targets, the benchmarks and the allocation tests. Anything here may change or disappear in
/// any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::alerts::{DEFAULT_HISTORY_CAPACITY, DEFAULT_HYSTERESIS, DEFAULT_RETENTION};
    pub use crate::breaker::{MAX_COUNT_WINDOW, MAX_HALF_OPEN_PROBES, MAX_TIME_BUCKETS};
    pub use crate::cache::{
        CacheControl, DELTA_SECONDS_CAP, ENTRY_OVERHEAD, HEADER_OVERHEAD, STACK_PARAMS, Vary,
        parse_cache_control, parse_delta_seconds, parse_http_date, parse_vary,
    };
    pub use crate::export::{DEFAULT_BUCKETS, PROMETHEUS_CONTENT_TYPE, sample_snapshot};
    pub use crate::health::{
        DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT, MAX_DETAIL_LEN, MAX_PENDING_EVENTS,
    };
    pub use crate::metrics::{BUCKET_COUNT, MAX_ERROR_NAME_LEN, MAX_TRACKABLE_MICROS};
    pub use crate::retry::{BUCKETS, UNITS_PER_RETRY, parse_retry_after};
}
