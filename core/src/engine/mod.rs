//! The [`Engine`]: a thin router that composes the per-concern state machines.
//!
//! ```text
//!             begin(now, req)
//!                  │
//!          ┌───────▼────────┐  fresh / stale ─────────────────────────► Decision::Done
//!          │  cache.lookup  │  identical request in flight ───────────► Decision::Wait
//!          └───────┬────────┘                                            (Output::Resolved /
//!                  │ miss / bypass                                         Output::Proceed later)
//!          ┌───────▼────────┐  open ──► stale-if-error? ──► Done(stale)
//!          │ breaker.admit  │                         └──► Done(Rejected)
//!          └───────┬────────┘
//!                  │ permit
//!                  ▼
//!            Decision::Send(Permit) ──► frontend sends ──► on_response(now, permit, outcome)
//!                                                              │
//!          ┌───────────────────────────────────────────────────▼───┐
//!          │ breaker.on_result · metrics.on_attempt · retry.decide │
//!          └───────┬───────────────────────────────┬───────────────┘
//!                  │ retry (backoff, Retry-After,  │ final
//!                  │ budget, deadline)             ▼
//!                  ▼                        cache.on_response / on_error (store, 304 merge,
//!          Next::RetryAt(at, token)         stale-if-error) · wake followers · metrics
//!          ──► sleep until `at` ──► resume(now, token) ──► Decision (Send / Done)
//!                                                              Next::Done(Finished)
//! ```
//!
//! The engine is `&mut self` only: no locks, no tasks, no clock. Every input takes `now`
//! (monotonic) and, where calendar time matters, `wall`. After every input, drain
//! [`Engine::poll_output`] until it returns `None`, then re-arm one timer at
//! [`Engine::poll_timeout`] and call [`Engine::handle_timeout`] when it fires.

mod names;
mod slab;
mod trace;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};

use self::names::Names;
use self::slab::Slab;
pub use self::trace::{
    AttemptNext, AttemptResult, AttemptTrace, CacheTrace, DecisionTrace, RejectReason,
};
use crate::alerts::{
    AlertConfig, AlertEngine, AlertEvent, AlertInput, ServiceSignals, SystemSignals,
};
use crate::breaker::{
    BreakerPermit, BreakerRegistry, BreakerSnapshot, BreakerState, CallResult, NamedBreakerEvent,
    RegistryConfig,
};
use crate::cache::{
    Cache, CacheConfig, CacheStats, CachedResponse, Fill, FlightEvent, FlightId, Lookup,
    StoreResult,
};
use crate::export::{BreakerInfo, CacheInfo, ExportSnapshot, HealthInfo, SystemSample};
use crate::health::{
    BreakerStateKind, CheckResult, HealthConfig, HealthEvent, HealthStatus, HealthTracker,
    ServiceHealthSnapshot,
};
use crate::metrics::{
    AttemptRecord, CacheOutcome, FailureCategory, Metrics, MetricsConfig, MetricsSnapshot,
    RequestRecord,
};
use crate::retry::{RetryBudget, RetryConfig, RetryDecision, RetryPolicy, RetryState};
use crate::{
    ConfigError, Outcome, Request, RequestError, Response, Rng, Timestamp, TransportError,
    WallClock,
};

/// Time limit of a background refresh when no attempt timeout is configured.
const BACKGROUND_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What a breaker is keyed by when a request names no service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerScope {
    /// The service name given to [`Engine::begin`], or the URL's host when none is given.
    #[default]
    ServiceOrHost,
    /// Always the URL's host (`host:port`), even when a service name is given.
    Host,
}

/// The whole configuration of an [`Engine`]. Every part has sensible defaults
/// (`EngineConfig::default()`), and [`EngineConfig::validate`] checks every field.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Response cache. The engine's default differs from `CacheConfig::default()` in one
    /// way: `default_ttl` is zero, so a response with no explicit freshness (`Cache-Control`,
    /// `Expires`) is never served without revalidation — the original cached every 200 for
    /// five minutes (spec D38). Opt back in with a non-zero `default_ttl`.
    pub cache: CacheConfig,
    /// Circuit breakers (one per service or host, bounded registry).
    pub breakers: RegistryConfig,
    /// Retries, backoff, Retry-After, idempotency, budget, deadline.
    pub retry: RetryConfig,
    /// Metrics registry limits.
    pub metrics: MetricsConfig,
    /// Health tracking.
    pub health: HealthConfig,
    /// Alert rules.
    pub alerts: AlertConfig,
    /// Per-attempt time limit handed to the transport (capped by the retry deadline).
    /// Default 30 s, the original client's timeout.
    pub attempt_timeout: Option<Duration>,
    /// What breakers are keyed by.
    pub breaker_scope: BreakerScope,
    /// Most logical requests tracked at once; beyond it `begin` answers
    /// [`RejectReason::Overloaded`]. Default 65 536.
    pub max_in_flight: usize,
    /// Largest request body accepted, in bytes. Default 32 MiB.
    pub max_request_body: usize,
    /// How often alert rules are evaluated over the metrics of the last interval. `None`:
    /// only when [`Engine::evaluate_alerts`] is called. Default 10 s.
    pub alert_interval: Option<Duration>,
    /// Longest interval between two internal housekeeping passes when the frontend never calls
    /// [`Engine::handle_timeout`] itself: `begin` runs one when this much time has passed.
    /// Default 1 s.
    pub housekeeping_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache: CacheConfig {
                default_ttl: Duration::ZERO,
                ..CacheConfig::default()
            },
            breakers: RegistryConfig::default(),
            retry: RetryConfig::default(),
            metrics: MetricsConfig::default(),
            health: HealthConfig::default(),
            alerts: AlertConfig::default(),
            attempt_timeout: Some(Duration::from_secs(30)),
            breaker_scope: BreakerScope::default(),
            max_in_flight: 65_536,
            max_request_body: 32 * 1024 * 1024,
            alert_interval: Some(Duration::from_secs(10)),
            housekeeping_interval: Duration::from_secs(1),
        }
    }
}

impl EngineConfig {
    /// Checks every part of the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cache.validate()?;
        self.retry.validate()?;
        self.metrics.validate()?;
        self.health.validate()?;
        self.alerts.validate()?;
        // The registry validates its breaker configs when it is built.
        if self.attempt_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::invalid("attempt_timeout", "must be > 0"));
        }
        if self.max_in_flight == 0 || self.max_in_flight > (u32::MAX as usize) {
            return Err(ConfigError::invalid(
                "max_in_flight",
                "must be in 1..=4294967295",
            ));
        }
        if self.alert_interval == Some(Duration::ZERO) {
            return Err(ConfigError::invalid("alert_interval", "must be > 0"));
        }
        if self.housekeeping_interval.is_zero() {
            return Err(ConfigError::invalid("housekeeping_interval", "must be > 0"));
        }
        Ok(())
    }
}

/// Identifies one logical request inside an engine (slot index and generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(u64);

impl RequestId {
    /// The raw value (stable for the request's lifetime; for logs and hand-offs across FFI).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// From a raw value obtained with [`RequestId::as_u64`].
    pub const fn from_u64(v: u64) -> Self {
        RequestId(v)
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "r{:x}", self.0)
    }
}

/// Permission to send one attempt. Not `Clone`: hand it back exactly once, to
/// [`Engine::on_response`] (or [`Engine::cancel`] its id).
#[must_use = "send the attempt and report it with Engine::on_response, or cancel it"]
#[derive(Debug)]
pub struct Permit {
    id: RequestId,
    attempt: u32,
    /// Boxed: only revalidations have it (keeps `Decision` small).
    conditional: Option<Box<HeaderMap>>,
    timeout: Option<Duration>,
}

impl Permit {
    /// The request this attempt belongs to.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// 1-based attempt number.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The time limit for this attempt (per-attempt timeout, capped by the overall deadline).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Headers the engine adds to this attempt (`If-None-Match` / `If-Modified-Since` when
    /// revalidating a stored response).
    pub fn extra_headers(&self) -> Option<&HeaderMap> {
        self.conditional.as_deref()
    }

    /// Adds [`extra_headers`](Self::extra_headers) to the outgoing copy of the request.
    pub fn apply(&self, request: &mut Request) {
        if let Some(h) = &self.conditional {
            for (k, v) in h.iter() {
                request.headers_mut().insert(k, v.clone());
            }
        }
    }
}

/// Permission to resume a request after its backoff. Not `Clone`.
#[must_use = "call Engine::resume with it when its deadline arrives, or cancel its id"]
#[derive(Debug)]
pub struct RetryToken {
    id: RequestId,
}

impl RetryToken {
    /// The request to resume.
    pub fn id(&self) -> RequestId {
        self.id
    }
}

/// A response served to the caller: either the one the upstream just sent, or a stored one
/// shared with the cache (cloning it clones a reference count).
#[derive(Clone, Debug)]
pub enum Reply {
    /// Fresh from the upstream.
    Upstream(Response),
    /// From the cache (fresh, stale, revalidated or shared by a single-flight leader).
    Cached(Arc<CachedResponse>),
}

impl Reply {
    /// The status code.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Reply::Upstream(r) => r.status(),
            Reply::Cached(c) => c.status(),
        }
    }

    /// The headers (stored headers for a cached reply; no `Age` added).
    pub fn headers(&self) -> &HeaderMap {
        match self {
            Reply::Upstream(r) => r.headers(),
            Reply::Cached(c) => c.headers(),
        }
    }

    /// The body (a shared handle; cloning it does not copy).
    pub fn body(&self) -> &Bytes {
        match self {
            Reply::Upstream(r) => r.body(),
            Reply::Cached(c) => c.body(),
        }
    }

    /// Whether this reply came from the cache.
    pub fn is_cached(&self) -> bool {
        matches!(self, Reply::Cached(_))
    }

    /// An owned response; a cached one gets an `Age` header computed at `now`.
    pub fn into_response(self, now: Timestamp) -> Response {
        match self {
            Reply::Upstream(r) => r,
            Reply::Cached(c) => c.to_response(now),
        }
    }
}

/// How a logical request ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FinalResult {
    /// A response (any status: a final 503 after retries is a response, not an error).
    Response(Reply),
    /// The last attempt failed below HTTP.
    Transport(TransportError),
    /// Refused by policy without (another) attempt.
    Rejected(RejectReason),
}

/// A finished logical request: its result and the story of how it came to be.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Which request.
    pub id: RequestId,
    /// The service (or host) it was accounted under (shared with the engine: cloning it
    /// clones a reference count).
    pub service: Arc<str>,
    /// The result.
    pub result: FinalResult,
    /// Why.
    pub trace: DecisionTrace,
}

/// The answer to [`Engine::begin`], [`Engine::resume`] and [`Engine::proceed`].
#[must_use]
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned by value and matched at once; boxing `Done` cost an allocation per request"
)]
pub enum Decision {
    /// The request is finished: answer the caller.
    Done(Finished),
    /// Send one attempt; report it with [`Engine::on_response`].
    Send(Permit),
    /// An identical request is in flight: wait for [`Output::Resolved`] or [`Output::Proceed`]
    /// carrying this id.
    Wait(RequestId),
}

/// The answer to [`Engine::on_response`].
#[must_use]
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned by value and matched at once; boxing `Done` cost an allocation per request"
)]
pub enum Next {
    /// The request is finished.
    Done(Finished),
    /// Sleep until `at`, then call [`Engine::resume`] with `token`.
    RetryAt {
        /// When to resume.
        at: Timestamp,
        /// The capability to resume.
        token: RetryToken,
    },
}

/// A background refresh the engine wants (stale-while-revalidate): send `request` with
/// `permit` and report it with [`Engine::on_response`] like any attempt; the result only
/// updates the cache.
#[derive(Debug)]
pub struct BackgroundFetch {
    /// The request to send (a copy of the one that found the stale entry).
    pub request: Request,
    /// The permit for it.
    pub permit: Permit,
}

/// Events for observers (dashboards, logs, hooks).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
#[non_exhaustive]
pub enum EngineEvent {
    /// A breaker changed state.
    Breaker(NamedBreakerEvent),
    /// An alert fired or resolved.
    Alert(AlertEvent),
    /// A service's health changed.
    Health(HealthEvent),
}

/// Work and news the engine hands to its driver. Drain with [`Engine::poll_output`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// A waiting request (see [`Decision::Wait`]) is finished.
    Resolved(Box<Finished>),
    /// A waiting request must continue on its own: call [`Engine::proceed`] with its id and
    /// its request.
    Proceed(RequestId),
    /// Run this background refresh.
    Background(Box<BackgroundFetch>),
    /// Run the health check of this service and report it with [`Engine::on_check_result`].
    CheckDue(String),
    /// Something observers may care about.
    Event(EngineEvent),
}

/// Everything observable about an engine at one instant.
#[derive(Clone, Debug, Serialize)]
pub struct EngineSnapshot {
    /// Metrics per service and global.
    pub metrics: MetricsSnapshot,
    /// Cache counters and occupancy.
    pub cache: CacheStats,
    /// Every breaker, by name.
    pub breakers: Vec<(String, BreakerSnapshot)>,
    /// Health per tracked service.
    pub health: Vec<ServiceHealthSnapshot>,
    /// Alerts firing and recent history.
    pub alerts: crate::alerts::AlertsSnapshot,
    /// Retry-budget balance, if a budget is configured.
    pub retry_budget: Option<u64>,
    /// Logical requests in flight.
    pub in_flight: usize,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for a single-flight leader.
    Following(FlightId),
    /// Woken by the cache: fetch upstream with this fill (or re-run the lookup when `None`).
    Proceeding(Option<Fill>),
    /// An attempt is in flight.
    Sending {
        breaker: Option<BreakerPermit>,
        started: Timestamp,
    },
    /// Between attempts.
    Backoff,
}

#[derive(Debug)]
struct Call {
    /// `None` only while `complete` takes the call apart.
    service: Option<Arc<str>>,
    breaker_key: Arc<str>,
    started: Timestamp,
    retry: RetryState,
    fill: Option<Fill>,
    phase: Phase,
    trace: DecisionTrace,
    background: bool,
    method: Method,
}

impl Call {
    fn service(&self) -> &str {
        self.service.as_deref().unwrap_or_default()
    }
}

/// Per-service counters at the previous alert evaluation (for windowed signals).
#[derive(Clone, Copy, Debug, Default)]
struct WindowMark {
    completed: u64,
    failed: u64,
    response_time: f64,
    hits: u64,
    lookups: u64,
}

/// The sans-IO engine: cache → breaker → send → classify → retry → metrics, plus health,
/// alerts and exports. See the [module docs](self) for the loop.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    cache: Cache,
    breakers: BreakerRegistry,
    retry: RetryPolicy,
    budget: Option<RetryBudget>,
    metrics: Metrics,
    health: HealthTracker,
    alerts: AlertEngine,
    rng: Rng,
    calls: Slab<Call>,
    outputs: VecDeque<Output>,
    last_housekeeping: Timestamp,
    next_alert_eval: Option<Timestamp>,
    window: HashMap<String, WindowMark>,
    system: Option<SystemSignals>,
    last_wall: WallClock,
    names: Names,
}

impl Engine {
    /// Builds an engine. `seed` drives every random choice (jitter, hash keys): give it OS
    /// entropy in production and a constant in tests.
    pub fn new(config: EngineConfig, seed: u64) -> Result<Engine, ConfigError> {
        config.validate()?;
        let mut rng = Rng::new(seed);
        let cache = Cache::new(config.cache.clone(), rng.next_u64())?;
        let breakers = BreakerRegistry::with_hash_seed(config.breakers.clone(), rng.next_u64())?;
        let retry = RetryPolicy::new(config.retry.clone())?;
        let budget = retry.new_budget();
        let metrics = Metrics::new(config.metrics.clone())?;
        let health = HealthTracker::new(config.health.clone())?;
        let alerts = AlertEngine::new(config.alerts.clone())?;
        let calls = Slab::new(config.max_in_flight);
        Ok(Engine {
            cache,
            breakers,
            retry,
            budget,
            metrics,
            health,
            alerts,
            rng,
            calls,
            outputs: VecDeque::new(),
            last_housekeeping: Timestamp::ZERO,
            next_alert_eval: config
                .alert_interval
                .map(|d| Timestamp::ZERO.saturating_add(d)),
            window: HashMap::new(),
            system: None,
            last_wall: WallClock::EPOCH,
            names: Names::new(seed ^ 0x4E41_4D45_5345_4544),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ===== (B) request-scoped inputs =====

    /// Starts a logical request. `service` names the upstream service for metrics and the
    /// breaker (the URL's host when `None`). Errors only for a request that cannot be
    /// processed at all (not an absolute http(s) URL, body too large); policy refusals are
    /// `Decision::Done` with [`FinalResult::Rejected`].
    pub fn begin(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        request: &Request,
        service: Option<&str>,
    ) -> Result<Decision, RequestError> {
        let host = validate_request(request, self.config.max_request_body)?;
        self.last_wall = wall;
        if now.saturating_duration_since(self.last_housekeeping)
            >= self.config.housekeeping_interval
        {
            self.handle_timeout(now, wall);
        }
        let service_name = service.unwrap_or(host);
        // The id this request gets if it has to be tracked; `None` at capacity.
        let Some(ticket) = self.calls.next_id() else {
            self.metrics.on_request_start(service_name, now);
            return Ok(Decision::Done(self.overloaded(now, wall, service_name)));
        };
        if let Some(b) = self.budget.as_mut() {
            b.deposit(now);
        }
        // The cache first: a hit is answered without any per-call state.
        match self.cache.lookup(now, request, ticket) {
            Lookup::Fresh(response) => {
                let id = self.hit_id();
                Ok(Decision::Done(self.answer_cached(
                    now,
                    wall,
                    id,
                    service_name,
                    response,
                    CacheTrace::Fresh,
                    CacheOutcome::Hit,
                )))
            }
            Lookup::Stale {
                response,
                revalidate,
            } => {
                let id = self.hit_id();
                let revalidating = revalidate.is_some();
                if let Some(fill) = revalidate {
                    let breaker_key = match (self.config.breaker_scope, service) {
                        (BreakerScope::ServiceOrHost, Some(s)) => s,
                        _ => host,
                    };
                    let (svc, bk) = (self.names.get(service_name), self.names.get(breaker_key));
                    self.start_background(now, request, fill, svc, bk);
                }
                Ok(Decision::Done(self.answer_cached(
                    now,
                    wall,
                    id,
                    service_name,
                    response,
                    CacheTrace::Stale { revalidating },
                    CacheOutcome::Stale,
                )))
            }
            lookup => {
                self.metrics.on_request_start(service_name, now);
                let breaker_key = match (self.config.breaker_scope, service) {
                    (BreakerScope::ServiceOrHost, Some(s)) => s,
                    _ => host,
                };
                let service_arc = self.names.get(service_name);
                let breaker_arc = if breaker_key == service_name {
                    Arc::clone(&service_arc)
                } else {
                    self.names.get(breaker_key)
                };
                let call = Call {
                    service: Some(service_arc),
                    breaker_key: breaker_arc,
                    started: now,
                    retry: self.retry.begin(now, request),
                    fill: None,
                    phase: Phase::Backoff,
                    trace: DecisionTrace {
                        started_at: now,
                        ..DecisionTrace::default()
                    },
                    background: false,
                    method: request.method().clone(),
                };
                let id = self.calls.insert(call).expect("room was checked");
                debug_assert_eq!(id, ticket, "the cache was given this request's id");
                Ok(self.on_lookup(now, wall, RequestId(id), request, lookup))
            }
        }
    }

    /// The id of a request answered from the cache at once: never tracked, never reused.
    fn hit_id(&mut self) -> RequestId {
        RequestId(self.calls.burn_id().expect("room was checked"))
    }

    /// Finishes a request answered from the cache in `begin`, without per-call state: the
    /// same metrics and trace as a tracked request completed at once.
    #[expect(
        clippy::too_many_arguments,
        reason = "internal; each is a distinct fact"
    )]
    #[inline]
    fn answer_cached(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        service: &str,
        response: Arc<CachedResponse>,
        cache: CacheTrace,
        outcome: CacheOutcome,
    ) -> Finished {
        let trace = DecisionTrace {
            started_at: now,
            cache,
            budget_left: self.budget.as_ref().map(|b| b.balance(now)),
            ..DecisionTrace::default()
        };
        let result = FinalResult::Response(Reply::Cached(response));
        let failure = failure_category(&result, &trace);
        self.metrics.on_request(
            service,
            now,
            &RequestRecord {
                success: failure.is_none(),
                latency: Duration::ZERO,
                failure,
                retries: 0,
                cache: outcome,
                wall,
            },
        );
        Finished {
            id,
            service: self.names.get(service),
            result,
            trace,
        }
    }

    /// Refuses a request at capacity, without tracking it.
    fn overloaded(&mut self, now: Timestamp, wall: WallClock, service: &str) -> Finished {
        let trace = DecisionTrace {
            started_at: now,
            rejected: Some(RejectReason::Overloaded),
            ..DecisionTrace::default()
        };
        self.metrics.on_request_end(
            service,
            &RequestRecord {
                success: false,
                latency: Duration::ZERO,
                failure: Some(FailureCategory::Other),
                retries: 0,
                cache: CacheOutcome::Bypass,
                wall,
            },
        );
        Finished {
            id: RequestId(u64::MAX),
            service: self.names.get(service),
            result: FinalResult::Rejected(RejectReason::Overloaded),
            trace,
        }
    }

    /// Reports the outcome of the attempt `permit` allowed. `request` is the caller's request
    /// as given to `begin` (without the permit's extra headers).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "a Permit is a single-use capability: reporting it consumes it"
    )]
    pub fn on_response(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        permit: Permit,
        request: &Request,
        outcome: Outcome,
    ) -> Next {
        self.last_wall = wall;
        let id = permit.id;
        let Some(call) = self.calls.get_mut(id.0) else {
            // Cancelled meanwhile: nothing to account.
            return Next::Done(self.orphan(id));
        };
        let (breaker_permit, attempt_started) =
            match std::mem::replace(&mut call.phase, Phase::Backoff) {
                Phase::Sending { breaker, started } => (breaker, started),
                other => {
                    call.phase = other;
                    return Next::Done(self.orphan(id));
                }
            };
        let latency = now.saturating_duration_since(attempt_started);

        // Breaker.
        if let Some(bp) = breaker_permit
            && let Some(b) = self.breakers.get_mut(&call.breaker_key, now)
        {
            let kind = b.classify(&outcome);
            b.on_result(now, bp, CallResult::new(kind, latency).with_wall(wall));
        }

        // Metrics, per attempt.
        let record = attempt_record(&outcome, latency);
        self.metrics.on_attempt(call.service(), &record);

        let result = match &outcome {
            Ok(r) => AttemptResult::Status {
                status: r.status().as_u16(),
            },
            Err(e) => AttemptResult::Transport { error: e.kind },
        };
        let mut attempt = AttemptTrace {
            attempt: permit.attempt,
            started_at: attempt_started,
            latency,
            result,
            next: AttemptNext::Accept,
        };

        if call.background {
            call.trace.attempts.push(attempt);
            self.finish(now, wall, id, request, outcome);
            self.pump_events(now);
            // Background refreshes answer nobody.
            return Next::Done(self.orphan(id));
        }

        // A 304 answers a revalidation the engine made: merge it into the stored response —
        // or, if the entry is gone or no longer matches the validator, send again without
        // validators. The caller never asked for a conditional request and must not receive a
        // bodiless 304.
        let engine_conditional = matches!(&outcome, Ok(r) if r.status() == http::StatusCode::NOT_MODIFIED)
            && call
                .fill
                .as_ref()
                .is_some_and(|f| f.conditional_headers().is_some());
        if engine_conditional
            && let Ok(resp) = &outcome
            && let Some(fill) = call.fill.take()
        {
            let stored = self.cache.on_response(now, wall, fill, request, resp);
            if let StoreResult::Revalidated(r) = stored {
                call.trace.attempts.push(attempt);
                call.trace.cache = CacheTrace::Revalidated;
                let f = self.complete(
                    now,
                    wall,
                    id,
                    FinalResult::Response(Reply::Cached(r)),
                    CacheOutcome::Revalidated,
                );
                self.drain_flights(now);
                self.pump_events(now);
                return Next::Done(f);
            }
            attempt.next = AttemptNext::Retry {
                delay: Duration::ZERO,
                reason: crate::retry::RetryReason::Status(304),
                retry_after: None,
            };
            call.trace.attempts.push(attempt);
            self.drain_flights(now);
            self.pump_events(now);
            return Next::RetryAt {
                at: now,
                token: RetryToken { id },
            };
        }

        let decision = self.retry.decide(
            &mut call.retry,
            &mut self.rng,
            &outcome,
            now,
            wall,
            self.budget.as_mut(),
        );
        match decision {
            RetryDecision::Retry {
                at,
                delay,
                reason,
                retry_after,
                ..
            } => {
                attempt.next = AttemptNext::Retry {
                    delay,
                    reason,
                    retry_after,
                };
                call.trace.attempts.push(attempt);
                self.pump_events(now);
                Next::RetryAt {
                    at,
                    token: RetryToken { id },
                }
            }
            RetryDecision::GiveUp(reason) => {
                attempt.next = AttemptNext::GiveUp { reason };
                call.trace.attempts.push(attempt);
                let f = self.finish(now, wall, id, request, outcome);
                self.pump_events(now);
                Next::Done(f)
            }
            _ => {
                call.trace.attempts.push(attempt);
                let f = self.finish(now, wall, id, request, outcome);
                self.pump_events(now);
                Next::Done(f)
            }
        }
    }

    /// Continues a request after its backoff: re-checks the breaker and hands out the next
    /// attempt's permit (or finishes the request if the breaker now refuses).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "a RetryToken is a single-use capability: resuming consumes it"
    )]
    pub fn resume(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        token: RetryToken,
        request: &Request,
    ) -> Decision {
        self.last_wall = wall;
        match self.calls.get(token.id.0) {
            Some(c) if matches!(c.phase, Phase::Backoff) => {
                self.admit(now, wall, token.id, request)
            }
            _ => Decision::Done(self.orphan(token.id)),
        }
    }

    /// Continues a waiting request after [`Output::Proceed`]: it fetches on its own, or looks
    /// the cache up again.
    pub fn proceed(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Decision {
        self.last_wall = wall;
        let Some(call) = self.calls.get_mut(id.0) else {
            return Decision::Done(self.orphan(id));
        };
        match std::mem::replace(&mut call.phase, Phase::Backoff) {
            Phase::Proceeding(Some(fill)) => {
                call.fill = Some(fill);
                self.admit(now, wall, id, request)
            }
            Phase::Proceeding(None) => self.lookup(now, wall, id, request),
            other => {
                call.phase = other;
                Decision::Done(self.orphan(id))
            }
        }
    }

    /// Abandons a request in any state (the caller went away or timed out). Releases its
    /// breaker slot, hands its cache fill to a waiting follower, and counts it as failed.
    pub fn cancel(&mut self, now: Timestamp, id: RequestId) {
        let Some(call) = self.calls.remove(id.0) else {
            return;
        };
        if let Some(fill) = self.release_phase(now, id, &call.breaker_key, call.phase) {
            self.cache.abandon(now, fill);
        }
        if let Some(fill) = call.fill {
            self.cache.abandon(now, fill);
        }
        if !call.background {
            self.metrics.on_request_end(
                call.service.as_deref().unwrap_or_default(),
                &RequestRecord {
                    success: false,
                    latency: now.saturating_duration_since(call.started),
                    failure: Some(FailureCategory::Other),
                    retries: call.trace.retries(),
                    cache: CacheOutcome::Bypass,
                    wall: self.last_wall,
                },
            );
        }
        self.drain_flights(now);
        self.pump_events(now);
    }

    /// Ends request `id` because its [`Deadline`](crate::Deadline) passed while the frontend
    /// was waiting on it: for a single-flight leader ([`Decision::Wait`]), or for an attempt
    /// whose transport ignores its time limit. Unlike [`cancel`](Self::cancel), this finishes
    /// the request: it fails as a [`TransportErrorKind::Timeout`](crate::TransportErrorKind)
    /// (or is served stale if the cache allows stale-if-error), is counted so in metrics, and
    /// its [`Finished`] carries the decision trace. An attempt in flight releases its breaker
    /// slot without counting against the upstream. `None` when `id` is not a caller's request
    /// in flight (it finished meanwhile).
    pub fn expire(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Option<Finished> {
        self.last_wall = wall;
        let call = self.calls.get_mut(id.0).filter(|c| !c.background)?;
        let phase = std::mem::replace(&mut call.phase, Phase::Backoff);
        let key = Arc::clone(&call.breaker_key);
        if let Some(fill) = self.release_phase(now, id, &key, phase)
            && let Some(call) = self.calls.get_mut(id.0)
        {
            call.fill = Some(fill);
        }
        Some(self.time_out(now, wall, id, request, "the request's deadline passed"))
    }

    /// Releases what a request holds in `phase` — its place in a single-flight, its breaker
    /// slot (the attempt counts for nothing) — and returns the cache fill it was handed, if any.
    fn release_phase(
        &mut self,
        now: Timestamp,
        id: RequestId,
        breaker_key: &str,
        phase: Phase,
    ) -> Option<Fill> {
        match phase {
            Phase::Following(flight) => {
                self.cache.leave_flight(flight, id.0);
                None
            }
            Phase::Sending {
                breaker: Some(bp), ..
            } => {
                if let Some(b) = self.breakers.get_mut(breaker_key, now) {
                    b.on_result(now, bp, CallResult::ignored());
                }
                None
            }
            Phase::Proceeding(fill) => fill,
            Phase::Sending { breaker: None, .. } | Phase::Backoff => None,
        }
    }

    /// Finishes a request whose deadline has passed, as a time-out (see
    /// [`end_without_sending`](Self::end_without_sending)).
    fn time_out(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        why: &'static str,
    ) -> Finished {
        let f = self.end_without_sending(
            now,
            wall,
            id,
            request,
            FinalResult::Transport(TransportError::new(crate::TransportErrorKind::Timeout, why)),
        );
        self.pump_events(now);
        f
    }

    // ===== health, alerts, system =====

    /// Schedules active health checks for `service` ([`Output::CheckDue`] when due).
    pub fn register_health_check(&mut self, service: &str, now: Timestamp) -> bool {
        self.metrics.register(service);
        self.health.register(service, now).is_ok()
    }

    /// Reports a health check's result.
    pub fn on_check_result(
        &mut self,
        service: &str,
        now: Timestamp,
        wall: WallClock,
        result: CheckResult,
    ) {
        self.last_wall = wall;
        self.health.on_check_result(service, now, wall, result);
        self.pump_events(now);
    }

    /// The latest system sample (CPU, memory) for the system alert rules.
    pub fn on_system_sample(&mut self, sample: &SystemSample) {
        self.system = Some(SystemSignals {
            cpu_percent: sample.cpu_percent,
            memory_percent: sample.memory_percent,
        });
    }

    /// Evaluates the alert rules now over the metrics since the previous evaluation, and feeds
    /// the same window's error rates to health tracking.
    pub fn evaluate_alerts(&mut self, now: Timestamp, wall: WallClock) {
        self.last_wall = wall;
        let snap = self.metrics.snapshot(wall);
        let mut input = AlertInput {
            system: self.system,
            services: Vec::with_capacity(snap.services.len()),
        };
        for (name, s) in &snap.services {
            let mark = WindowMark {
                completed: s.completed_requests(),
                failed: s.failed_requests,
                response_time: s.total_response_time,
                hits: s.cache.hits + s.cache.stale,
                lookups: s.cache.hits + s.cache.stale + s.cache.misses + s.cache.revalidated,
            };
            let prev = self.window.insert(name.clone(), mark).unwrap_or_default();
            let requests = mark.completed.saturating_sub(prev.completed);
            let failed = mark.failed.saturating_sub(prev.failed);
            let time = (mark.response_time - prev.response_time).max(0.0);
            let lookups = mark.lookups.saturating_sub(prev.lookups);
            let hits = mark.hits.saturating_sub(prev.hits);
            let error_rate = if requests == 0 {
                0.0
            } else {
                failed as f64 / requests as f64
            };
            self.health.on_error_rate(name, now, error_rate, requests);
            let breaker_open = self
                .breakers
                .get(name)
                .is_some_and(|b| matches!(b.state(), BreakerState::Open | BreakerState::Isolated));
            let health = self
                .health
                .is_registered(name)
                .then(|| self.health.status(name));
            input.services.push(ServiceSignals {
                name: name.clone(),
                requests_in_window: requests,
                avg_response_ms: if requests == 0 {
                    0.0
                } else {
                    time * 1000.0 / requests as f64
                },
                p95_response_ms: s.p95_response_time.unwrap_or(0.0) * 1000.0,
                error_rate,
                breaker_open,
                health,
                cache_lookups: lookups,
                cache_hit_ratio: if lookups == 0 {
                    0.0
                } else {
                    hits as f64 / lookups as f64
                },
            });
        }
        // Health-only monitors (never used for requests) still get `service_unhealthy`.
        for h in self.health.snapshots() {
            if !input.services.iter().any(|s| s.name == h.service) {
                let mut sig = ServiceSignals::idle(h.service.clone());
                sig.health = Some(h.status);
                input.services.push(sig);
            }
        }
        self.alerts.evaluate(now, wall, &input);
        self.pump_events(now);
    }

    /// Runs timers: breaker transitions and probe timeouts, due health checks, periodic alert
    /// evaluation. Call it when [`poll_timeout`](Self::poll_timeout) fires (calling it early
    /// is harmless).
    pub fn handle_timeout(&mut self, now: Timestamp, wall: WallClock) {
        self.last_wall = wall;
        self.last_housekeeping = now;
        self.breakers.handle_timeout(now);
        self.health.handle_timeout(now);
        while let Some(service) = self.health.poll_check_due(now) {
            self.outputs.push_back(Output::CheckDue(service));
        }
        if let Some(at) = self.next_alert_eval
            && now >= at
        {
            let interval = self
                .config
                .alert_interval
                .unwrap_or(Duration::from_secs(10));
            self.next_alert_eval = Some(now.saturating_add(interval));
            self.evaluate_alerts(now, wall);
        }
        self.pump_events(now);
    }

    // ===== (D) pollers =====

    /// The next piece of work or news. Drain it after every input until it returns `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called. Changes after any
    /// input; always later than the `now` of the last `handle_timeout` (never stuck in the
    /// past), or `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [
            self.breakers.poll_timeout(),
            self.health.poll_timeout(),
            self.next_alert_eval,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ===== (A) getters and controls =====

    /// Everything observable, at `wall`.
    pub fn snapshot(&self, now: Timestamp, wall: WallClock) -> EngineSnapshot {
        EngineSnapshot {
            metrics: self.metrics.snapshot(wall),
            cache: self.cache.stats(),
            breakers: self
                .breakers
                .iter()
                .map(|(n, b)| (n.to_owned(), b.snapshot(now)))
                .collect(),
            health: self.health.snapshots(),
            alerts: self.alerts.snapshot(),
            retry_budget: self.budget.as_ref().map(|b| b.balance(now)),
            in_flight: self.calls.len(),
        }
    }

    /// The input of every exporter (JSON, Prometheus, InfluxDB), at `wall`.
    pub fn export_snapshot(
        &self,
        now: Timestamp,
        wall: WallClock,
        system: Option<SystemSample>,
    ) -> ExportSnapshot {
        let stats = self.cache.stats();
        ExportSnapshot {
            timestamp: wall,
            system,
            metrics: self.metrics.snapshot(wall),
            breakers: self
                .breakers
                .iter()
                .map(|(n, b)| {
                    let s = b.snapshot(now);
                    BreakerInfo {
                        service: n.to_owned(),
                        state: s.state.as_str().to_owned(),
                        failure_count: u64::from(s.failure_count),
                    }
                })
                .collect(),
            cache: Some(CacheInfo {
                hits: stats.hits,
                misses: stats.misses,
                entries: stats.entries as u64,
                bytes: stats.bytes as u64,
                evictions: stats.evictions,
            }),
            health: self
                .health
                .snapshots()
                .into_iter()
                .map(|h| HealthInfo {
                    service: h.service,
                    status: h.status.as_str().to_owned(),
                    response_time_seconds: h.last_response_time.map(|d| d.as_secs_f64()),
                })
                .collect(),
            alerts_firing: self.alerts.active().count() as u32,
        }
    }

    /// The cache (for invalidation, stats and the compat layer).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The cache, mutably (invalidate all / by prefix / by key).
    pub fn cache_mut(&mut self) -> &mut Cache {
        &mut self.cache
    }

    /// The breaker registry.
    pub fn breakers(&self) -> &BreakerRegistry {
        &self.breakers
    }

    /// The breaker registry, mutably (isolate, reset, disable by name). Drain
    /// [`poll_output`](Self::poll_output) afterwards for the state-change events.
    pub fn breakers_mut(&mut self) -> &mut BreakerRegistry {
        &mut self.breakers
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Makes a service appear in metrics before its first request.
    pub fn register_service(&mut self, service: &str) -> bool {
        self.metrics.register(service)
    }

    /// The health tracker.
    pub fn health(&self) -> &HealthTracker {
        &self.health
    }

    /// The health status of a service.
    pub fn health_status(&self, service: &str) -> HealthStatus {
        self.health.status(service)
    }

    /// The alert engine.
    pub fn alerts(&self) -> &AlertEngine {
        &self.alerts
    }

    /// The alert engine, mutably (edit rules and thresholds).
    pub fn alerts_mut(&mut self) -> &mut AlertEngine {
        &mut self.alerts
    }

    /// Logical requests in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Moves breaker events into the output queue and updates metrics and health from them.
    /// (Call after any direct use of [`breakers_mut`](Self::breakers_mut).)
    pub fn pump_events(&mut self, now: Timestamp) {
        while let Some(ev) = self.breakers.poll_event() {
            let crate::breaker::BreakerEvent::StateChanged { to, .. } = ev.event;
            self.metrics.on_breaker_transition(&ev.name, to.as_str());
            let kind = match to {
                BreakerState::Closed | BreakerState::Disabled => BreakerStateKind::Closed,
                BreakerState::Open | BreakerState::Isolated => BreakerStateKind::Open,
                BreakerState::HalfOpen => BreakerStateKind::HalfOpen,
            };
            if self.health.is_registered(&ev.name) {
                self.health.on_breaker_state(&ev.name, now, kind);
            }
            self.outputs
                .push_back(Output::Event(EngineEvent::Breaker(ev)));
        }
        while let Some(ev) = self.health.poll_event() {
            self.outputs
                .push_back(Output::Event(EngineEvent::Health(ev)));
        }
        while let Some(ev) = self.alerts.poll_event() {
            self.outputs
                .push_back(Output::Event(EngineEvent::Alert(ev)));
        }
    }

    // ===== internals =====

    /// Looks the cache up again for a tracked request (a single-flight follower told to).
    fn lookup(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Decision {
        let lookup = self.cache.lookup(now, request, id.0);
        self.on_lookup(now, wall, id, request, lookup)
    }

    /// Acts on a cache lookup for the tracked request `id`.
    fn on_lookup(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        lookup: Lookup,
    ) -> Decision {
        match lookup {
            Lookup::Fresh(r) => {
                let call = self
                    .calls
                    .get_mut(id.0)
                    .expect("lookup runs on a live call");
                call.trace.cache = CacheTrace::Fresh;
                Decision::Done(self.complete(
                    now,
                    wall,
                    id,
                    FinalResult::Response(Reply::Cached(r)),
                    CacheOutcome::Hit,
                ))
            }
            Lookup::Stale {
                response,
                revalidate,
            } => {
                let revalidating = revalidate.is_some();
                if let Some(fill) = revalidate {
                    let call = self.calls.get(id.0).expect("lookup runs on a live call");
                    let service: Arc<str> = Arc::from(call.service());
                    let breaker_key = Arc::clone(&call.breaker_key);
                    self.start_background(now, request, fill, service, breaker_key);
                }
                let call = self
                    .calls
                    .get_mut(id.0)
                    .expect("lookup runs on a live call");
                call.trace.cache = CacheTrace::Stale { revalidating };
                Decision::Done(self.complete(
                    now,
                    wall,
                    id,
                    FinalResult::Response(Reply::Cached(response)),
                    CacheOutcome::Stale,
                ))
            }
            Lookup::Miss(fill) => {
                let call = self
                    .calls
                    .get_mut(id.0)
                    .expect("lookup runs on a live call");
                call.trace.cache = CacheTrace::Miss {
                    stored: false,
                    not_stored: None,
                };
                call.fill = Some(fill);
                self.admit(now, wall, id, request)
            }
            Lookup::Follow(flight) => {
                let call = self
                    .calls
                    .get_mut(id.0)
                    .expect("lookup runs on a live call");
                call.trace.cache = CacheTrace::Coalesced;
                call.phase = Phase::Following(flight);
                Decision::Wait(id)
            }
            Lookup::Unsatisfiable => {
                let call = self
                    .calls
                    .get_mut(id.0)
                    .expect("lookup runs on a live call");
                call.trace.cache = CacheTrace::Unsatisfiable;
                call.trace.rejected = Some(RejectReason::OnlyIfCached);
                Decision::Done(self.complete(
                    now,
                    wall,
                    id,
                    FinalResult::Rejected(RejectReason::OnlyIfCached),
                    CacheOutcome::Miss,
                ))
            }
            _ => {
                let call = self
                    .calls
                    .get_mut(id.0)
                    .expect("lookup runs on a live call");
                call.trace.cache = CacheTrace::Bypass;
                self.admit(now, wall, id, request)
            }
        }
    }

    /// Asks the breaker for the next attempt of `id`.
    fn admit(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Decision {
        let timeout = self.attempt_timeout(id, now);
        if timeout == Some(Duration::ZERO) {
            // The overall deadline has passed (a late timer, a follower woken late): do not
            // send an attempt that could only time out and count against the breaker.
            let why = "the overall deadline passed before the next attempt";
            return Decision::Done(self.time_out(now, wall, id, request, why));
        }
        let call = self.calls.get_mut(id.0).expect("admit runs on a live call");
        let breaker = self.breakers.get_or_create(&call.breaker_key, now);
        let first = call.trace.attempts.is_empty();
        if first {
            call.trace.breaker = Some(breaker.state());
        }
        let admitted = breaker.try_acquire(now);
        let decision = match admitted {
            Ok(bp) => {
                call.phase = Phase::Sending {
                    breaker: Some(bp),
                    started: now,
                };
                let conditional = call
                    .fill
                    .as_ref()
                    .and_then(|f| f.conditional_headers().cloned().map(Box::new));
                Decision::Send(Permit {
                    id,
                    attempt: call.retry.attempts() + 1,
                    conditional,
                    timeout,
                })
            }
            Err(rejected) => {
                let reason = RejectReason::BreakerOpen {
                    retry_at: rejected.retry_at,
                    state: rejected.state,
                };
                call.trace.rejected = Some(reason);
                Decision::Done(self.end_without_sending(
                    now,
                    wall,
                    id,
                    request,
                    FinalResult::Rejected(reason),
                ))
            }
        };
        self.pump_events(now);
        decision
    }

    /// Finishes a request that will send no (further) attempt: a stored response usable on
    /// error (stale-if-error) is served if there is one, otherwise `result`; waiting
    /// followers are woken either way.
    fn end_without_sending(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        result: FinalResult,
    ) -> Finished {
        let call = self.calls.get_mut(id.0).expect("runs on a live call");
        let stale = call
            .fill
            .take()
            .and_then(|fill| self.cache.on_error(now, fill, request));
        let f = match stale {
            Some(r) => {
                call.trace.cache = CacheTrace::StaleIfError;
                self.complete(
                    now,
                    wall,
                    id,
                    FinalResult::Response(Reply::Cached(r)),
                    CacheOutcome::Stale,
                )
            }
            None => self.complete(now, wall, id, result, CacheOutcome::Miss),
        };
        self.drain_flights(now);
        f
    }

    fn attempt_timeout(&self, id: RequestId, now: Timestamp) -> Option<Duration> {
        let call = self.calls.get(id.0)?;
        let deadline = self
            .retry
            .deadline(&call.retry)
            .map(|d| d.saturating_duration_since(now));
        match (self.config.attempt_timeout, deadline) {
            (Some(a), Some(d)) => Some(a.min(d)),
            (a, d) => a.or(d),
        }
    }

    /// Starts a stale-while-revalidate refresh, accounted (attempts only) and breaker-checked
    /// under the service of the request that found the stale entry.
    fn start_background(
        &mut self,
        now: Timestamp,
        request: &Request,
        fill: Fill,
        service: Arc<str>,
        breaker_key: Arc<str>,
    ) {
        let call = Call {
            service: Some(service),
            breaker_key,
            started: now,
            retry: self.retry.begin(now, request),
            fill: None,
            phase: Phase::Backoff,
            trace: DecisionTrace::default(),
            background: true,
            method: request.method().clone(),
        };
        let Some(id) = self.calls.insert(call) else {
            self.cache.abandon(now, fill);
            return;
        };
        let id = RequestId(id);
        let conditional = fill.conditional_headers().cloned().map(Box::new);
        let call = self.calls.get_mut(id.0).expect("just inserted");
        call.fill = Some(fill);
        // Background refreshes do not take a breaker slot (they must not consume half-open
        // probes meant for callers), but an open breaker cancels them.
        let open = self
            .breakers
            .get(&call.breaker_key)
            .is_some_and(|b| matches!(b.state(), BreakerState::Open | BreakerState::Isolated));
        if open {
            if let Some(call) = self.calls.remove(id.0)
                && let Some(fill) = call.fill
            {
                self.cache.abandon(now, fill);
            }
            return;
        }
        call.phase = Phase::Sending {
            breaker: None,
            started: now,
        };
        let mut copy = Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        // A refresh nobody waits for must still end: bound it even without an attempt timeout.
        let timeout = Some(
            self.config
                .attempt_timeout
                .unwrap_or(BACKGROUND_FETCH_TIMEOUT),
        );
        self.outputs
            .push_back(Output::Background(Box::new(BackgroundFetch {
                request: copy,
                permit: Permit {
                    id,
                    attempt: 1,
                    conditional,
                    timeout,
                },
            })));
    }

    /// Completes a request that reached its final outcome: feeds the cache, wakes followers,
    /// records metrics.
    fn finish(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        outcome: Outcome,
    ) -> Finished {
        let call = self
            .calls
            .get_mut(id.0)
            .expect("finish runs on a live call");
        let fill = call.fill.take();
        let (result, cache_outcome) = match (outcome, fill) {
            (Ok(resp), Some(fill)) => match self.cache.on_response(now, wall, fill, request, &resp)
            {
                StoreResult::Stored(_) => {
                    call.trace.cache = CacheTrace::Miss {
                        stored: true,
                        not_stored: None,
                    };
                    (
                        FinalResult::Response(Reply::Upstream(resp)),
                        CacheOutcome::Miss,
                    )
                }
                StoreResult::Revalidated(r) => {
                    call.trace.cache = CacheTrace::Revalidated;
                    (
                        FinalResult::Response(Reply::Cached(r)),
                        CacheOutcome::Revalidated,
                    )
                }
                StoreResult::StaleIfError(r) => {
                    call.trace.cache = CacheTrace::StaleIfError;
                    (FinalResult::Response(Reply::Cached(r)), CacheOutcome::Stale)
                }
                StoreResult::NotStored(reason) => {
                    call.trace.cache = CacheTrace::Miss {
                        stored: false,
                        not_stored: Some(reason),
                    };
                    (
                        FinalResult::Response(Reply::Upstream(resp)),
                        CacheOutcome::Miss,
                    )
                }
            },
            (Ok(resp), None) => {
                if !matches!(call.method, Method::GET | Method::HEAD) {
                    self.cache.on_unsafe_response(request, &resp);
                }
                (
                    FinalResult::Response(Reply::Upstream(resp)),
                    CacheOutcome::Bypass,
                )
            }
            (Err(e), Some(fill)) => match self.cache.on_error(now, fill, request) {
                Some(r) => {
                    call.trace.cache = CacheTrace::StaleIfError;
                    (FinalResult::Response(Reply::Cached(r)), CacheOutcome::Stale)
                }
                None => (FinalResult::Transport(e), CacheOutcome::Miss),
            },
            (Err(e), None) => (FinalResult::Transport(e), CacheOutcome::Bypass),
        };
        let f = self.complete(now, wall, id, result, cache_outcome);
        self.drain_flights(now);
        f
    }

    /// Removes the call, records its end in metrics, and builds its [`Finished`].
    fn complete(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        result: FinalResult,
        cache: CacheOutcome,
    ) -> Finished {
        // Take what the answer needs in place; the call itself is dropped where it lies.
        let (fill, service, mut trace, started, background) = self
            .calls
            .remove_with(id.0, |call| {
                (
                    call.fill.take(),
                    call.service.take(),
                    std::mem::take(&mut call.trace),
                    call.started,
                    call.background,
                )
            })
            .expect("complete runs on a live call");
        let service = service.unwrap_or_else(|| self.names.empty());
        if let Some(fill) = fill {
            self.cache.abandon(now, fill);
        }
        trace.total = now.saturating_duration_since(started);
        trace.budget_left = self.budget.as_ref().map(|b| b.balance(now));
        if !background {
            let failure = failure_category(&result, &trace);
            self.metrics.on_request_end(
                &service,
                &RequestRecord {
                    success: failure.is_none(),
                    latency: trace.total,
                    failure,
                    retries: trace.retries(),
                    cache,
                    wall,
                },
            );
        }
        Finished {
            id,
            service,
            result,
            trace,
        }
    }

    /// Turns the cache's single-flight events into outputs for the waiting requests.
    fn drain_flights(&mut self, now: Timestamp) {
        while let Some(ev) = self.cache.poll_flight_event() {
            match ev {
                FlightEvent::Ready { ticket, response } => {
                    let id = RequestId(ticket);
                    if self.calls.get(ticket).is_some() {
                        let wall = self.last_wall;
                        let f = self.complete(
                            now,
                            wall,
                            id,
                            FinalResult::Response(Reply::Cached(response)),
                            CacheOutcome::Hit,
                        );
                        self.outputs.push_back(Output::Resolved(Box::new(f)));
                    }
                }
                FlightEvent::Relookup { ticket } => {
                    if let Some(call) = self.calls.get_mut(ticket) {
                        call.phase = Phase::Proceeding(None);
                        self.outputs.push_back(Output::Proceed(RequestId(ticket)));
                    }
                }
                FlightEvent::FetchYourself { ticket, fill } => {
                    if let Some(call) = self.calls.get_mut(ticket) {
                        call.phase = Phase::Proceeding(Some(fill));
                        self.outputs.push_back(Output::Proceed(RequestId(ticket)));
                    } else {
                        self.cache.abandon(now, fill);
                    }
                }
            }
        }
    }

    /// The `Finished` for an id the engine no longer tracks (cancelled, or a background fetch).
    fn orphan(&self, id: RequestId) -> Finished {
        Finished {
            id,
            service: self.names.empty(),
            result: FinalResult::Rejected(RejectReason::Cancelled),
            trace: DecisionTrace {
                rejected: Some(RejectReason::Cancelled),
                ..DecisionTrace::default()
            },
        }
    }
}

/// Checks the URL ([`crate::uri::check`]) and the body size; returns `host[:port]`.
fn validate_request(request: &Request, max_body: usize) -> Result<&str, RequestError> {
    let authority = crate::uri::check(request.uri())?;
    let size = request.body().len();
    if size > max_body {
        return Err(RequestError::BodyTooLarge {
            size,
            limit: max_body,
        });
    }
    Ok(authority)
}

/// How an attempt counts in metrics: 1xx–3xx succeed, 4xx/5xx and transport errors fail.
fn attempt_record(outcome: &Outcome, latency: Duration) -> AttemptRecord {
    match outcome {
        Ok(r) => {
            let status = r.status().as_u16();
            if status < 400 {
                AttemptRecord::success(latency, Some(status))
            } else {
                AttemptRecord::failure(
                    FailureCategory::from_status(status).unwrap_or(FailureCategory::Other),
                    latency,
                    Some(status),
                )
            }
        }
        Err(e) => AttemptRecord::failure(FailureCategory::from(e.kind), latency, None),
    }
}

/// Why a finished request counts as failed, or `None` if it succeeded.
fn failure_category(result: &FinalResult, trace: &DecisionTrace) -> Option<FailureCategory> {
    use crate::retry::GiveUpReason;
    let gave_up = trace.attempts.last().and_then(|a| match a.next {
        AttemptNext::GiveUp { reason } => Some(reason),
        _ => None,
    });
    let failed = match result {
        FinalResult::Response(r) => {
            let status = r.status().as_u16();
            if status >= 400 {
                FailureCategory::from_status(status)
            } else {
                None
            }
        }
        FinalResult::Transport(e) => Some(FailureCategory::from(e.kind)),
        FinalResult::Rejected(RejectReason::BreakerOpen { .. }) => {
            return Some(FailureCategory::BreakerRejected);
        }
        FinalResult::Rejected(_) => return Some(FailureCategory::Other),
    }?;
    Some(match gave_up {
        Some(GiveUpReason::BudgetExhausted) => FailureCategory::BudgetExhausted,
        Some(GiveUpReason::DeadlineExceeded) => FailureCategory::DeadlineExceeded,
        _ => failed,
    })
}

#[cfg(test)]
mod tests;
