//! A reference model of the engine's request lifecycle, driven by arbitrary operation
//! sequences: the proptest in `tests/tests/lifecycle_model.rs` and the `engine_sequence`
//! cargo-fuzz target both feed [`Op`]s to a [`World`], which checks after every step that the
//! [`Engine`] agrees with the model.
//!
//! The model tracks, for every request the engine tracks, which phase it is in (`Sending`,
//! `Backoff`, `Following`, `Proceeding`), and which single-use handles the driver holds. Ops
//! pick among those handles by index, so any byte string is a valid sequence. The invariants:
//!
//! * no input panics, whatever the order, the outcomes (any status, garbage `Cache-Control`,
//!   `ETag`, `Retry-After`, `Age`, `Vary`, transport errors) and the times (non-decreasing,
//!   often equal, sometimes huge jumps);
//! * every begun request ends **exactly once** — in a `Decision::Done`, a `Next::Done`, an
//!   `Output::Resolved` or a `cancel` — and only a request the model knows as live can end;
//! * the engine's `in_flight()` always equals the live requests of the model; at the end,
//!   after every handle has been used up, it is zero, nobody waits for a cache flight, the
//!   metrics count every begun request as completed — except those whose attempt the
//!   transport refused as the caller's mistake (`InvalidRequest`), which are withdrawn and
//!   counted nowhere — and no breaker holds a probe slot;
//! * half-open breakers never have more probes out than configured; the cache never holds more
//!   entries or bytes than configured;
//! * after `handle_timeout(now)`, `poll_timeout()` is later than `now` or `None`;
//! * misuse is a typed error: `proceed` on a request not told to proceed is `WrongPhase`
//!   naming the phase the model expects, a handle of a request that ended is
//!   `UnknownRequest`, and neither changes anything;
//! * a request is refused (`RequestError`) exactly when its URL is invalid or its
//!   `Authorization` is not visible ASCII.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use tether_core::{
    AlertRule, Backoff, BreakDuration, BudgetConfig, CheckResult, Decision, Engine, EngineConfig,
    EngineError, FinalResult, Finished, Next, Output, Permit, RejectReason, Request, RequestId,
    RequestPhase, Response, RetryToken, Timestamp, TransportError, TransportErrorKind, WallClock,
};

/// Wall-clock origin of a world (2026-11-26T00:00:00Z).
const WALL_ORIGIN: WallClock = WallClock::from_unix_secs(1_795_651_200);

/// Request methods an op can pick.
pub const METHODS: &[&str] = &["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE"];
/// Origins an op can pick; the last two are invalid (relative, credentials in the URL).
pub const ORIGINS: &[&str] = &[
    "http://a.test",
    "http://b.test:8080",
    "https://c.test",
    "",
    "http://user:pw@d.test",
];
/// How many of [`ORIGINS`] are valid.
const VALID_ORIGINS: usize = 3;
/// Paths an op can pick.
pub const PATHS: &[&str] = &["/", "/items", "/items?b=2&a=1", "/items/1", "/other"];
/// Service names an op can pick (`None` keys by host).
pub const SERVICES: &[Option<&str>] = &[None, Some("svc-a"), Some("svc-b")];
/// Request header names an op can pick.
pub const REQUEST_HEADERS: &[&str] = &[
    "cache-control",
    "authorization",
    "if-none-match",
    "accept",
    "idempotency-key",
    "pragma",
];
/// Response header names an op can pick.
pub const RESPONSE_HEADERS: &[&str] = &[
    "cache-control",
    "etag",
    "last-modified",
    "retry-after",
    "age",
    "vary",
    "expires",
    "date",
    "set-cookie",
];
/// Header values an op can pick (meaningful ones and garbage). The `machines_sequence` fuzz
/// target picks from this list too; append new values at the end (tests pick by index).
pub const VALUES: &[&str] = &[
    "max-age=60",
    "max-age=0",
    "no-store",
    "no-cache",
    "private, max-age=600",
    "max-age=1, stale-while-revalidate=30",
    "max-age=1, stale-if-error=60",
    "max-age=5, must-revalidate",
    "only-if-cached",
    "max-stale",
    "max-age=99999999999999999999",
    "max-age=-1, s-maxage=\"x\"",
    ",,;=,",
    "\"v1\"",
    "W/\"v1\"",
    "*",
    "accept",
    "authorization, accept",
    "0",
    "2",
    "120",
    "-5",
    "1.5",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "not a date",
    "Bearer a",
    "Bearer b",
    "id=1",
    "public, max-age=31536000, immutable",
    "\"v2\"",
    "accept, accept-language",
    "3600",
    "application/json",
    "min-fresh=10",
    "/v1/items/1",
    "bytes=0-1",
];
/// Response statuses an op can pick.
pub const STATUSES: &[u16] = &[200, 200, 200, 304, 204, 206, 301, 404, 429, 500, 502, 503];
/// Transport error kinds an op can pick.
pub const TRANSPORT_ERRORS: &[TransportErrorKind] = &[
    TransportErrorKind::Connect,
    TransportErrorKind::Timeout,
    TransportErrorKind::Reset,
    TransportErrorKind::BodyTooLarge,
    TransportErrorKind::Protocol,
    TransportErrorKind::Other,
    TransportErrorKind::InvalidRequest,
];
/// Breaker names a command can pick.
const BREAKERS: &[&str] = &["svc-a", "svc-b", "a.test", "b.test:8080", "c.test"];

/// The engine's configuration, as small numbers (every value is valid).
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// The engine's seed.
    pub seed: u64,
    /// Most tracked requests: 1 + this % 8.
    pub max_in_flight: u8,
    /// Cache entries: 1 + this % 8.
    pub cache_entries: u8,
    /// Default TTL of responses without freshness information, seconds (0: none).
    pub default_ttl_secs: u8,
    /// Stale-if-error window for every entry, seconds (`None`: only what responses say).
    pub stale_if_error_secs: Option<u8>,
    /// Consecutive failures that open a breaker: 1 + this % 6.
    pub breaker_failures: u8,
    /// Break duration, milliseconds: 1 + this.
    pub break_millis: u16,
    /// Half-open probes: 1 + this % 3.
    pub probes: u8,
    /// Attempts per request: 1 + this % 4.
    pub attempts: u8,
    /// Constant backoff, milliseconds.
    pub backoff_millis: u16,
    /// Whether a retry budget applies.
    pub budget: bool,
    /// Overall deadline per request, milliseconds (`None`: no deadline).
    pub deadline_millis: Option<u16>,
    /// Per-attempt timeout, milliseconds (`None`: no timeout).
    pub attempt_timeout_millis: Option<u16>,
    /// Alert evaluation interval, milliseconds (`None`: only on demand).
    pub alert_millis: Option<u16>,
    /// Services registered for active health checks: this % 3 of `svc-a`, `svc-b`.
    pub health_checks: u8,
}

impl Setup {
    /// The engine configuration this setup describes.
    pub fn config(&self) -> EngineConfig {
        let mut c = EngineConfig {
            max_in_flight: 1 + usize::from(self.max_in_flight % 8),
            alert_interval: self
                .alert_millis
                .map(|ms| Duration::from_millis(1 + u64::from(ms))),
            attempt_timeout: self
                .attempt_timeout_millis
                .map(|ms| Duration::from_millis(1 + u64::from(ms))),
            housekeeping_interval: Duration::from_millis(250),
            ..EngineConfig::default()
        };
        c.cache.max_entries = 1 + usize::from(self.cache_entries % 8);
        c.cache.default_ttl = Duration::from_secs(self.default_ttl_secs.into());
        c.cache.stale_if_error = self
            .stale_if_error_secs
            .map(|s| Duration::from_secs(s.into()));
        let b = &mut c.breakers.default;
        b.consecutive_failures = Some(1 + u32::from(self.breaker_failures % 6));
        b.break_duration =
            BreakDuration::Constant(Duration::from_millis(1 + u64::from(self.break_millis)));
        b.half_open_probes = 1 + u32::from(self.probes % 3);
        b.probe_timeout = Duration::from_secs(1);
        c.retry.max_attempts = 1 + u32::from(self.attempts % 4);
        c.retry.backoff = Backoff::Constant(Duration::from_millis(self.backoff_millis.into()));
        c.retry.budget = self.budget.then(BudgetConfig::default);
        c.retry.deadline = self
            .deadline_millis
            .map(|ms| Duration::from_millis(1 + u64::from(ms)));
        c
    }

    fn probes(&self) -> u32 {
        1 + u32::from(self.probes % 3)
    }
}

/// A header value: one of [`VALUES`], or raw bytes (invalid ones are skipped).
#[derive(Clone, Debug)]
pub enum Value {
    /// `VALUES[i % len]`.
    Known(u8),
    /// Raw bytes.
    Raw(Vec<u8>),
}

/// What an attempt came back with.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A response: `STATUSES[status % len]` (or the raw status when `raw_status` is set and
    /// valid), headers, and a body of `body_len` bytes.
    Response {
        /// Index into [`STATUSES`].
        status: u8,
        /// A raw status (used when it is a valid status code).
        raw_status: Option<u16>,
        /// `(RESPONSE_HEADERS[i % len], value)` pairs.
        headers: Vec<(u8, Value)>,
        /// Body length.
        body_len: u8,
    },
    /// A transport failure of kind `TRANSPORT_ERRORS[i % len]`.
    Transport(u8),
}

/// One step of a sequence. Every `pick` selects among the handles the driver holds (modulo
/// their count); an op with nothing to pick from does nothing.
#[derive(Clone, Debug)]
pub enum Op {
    /// Let time pass (microseconds; 0 keeps the same instant).
    Advance(u32),
    /// Let a lot of time pass (seconds).
    AdvanceSecs(u16),
    /// Jump to the engine's next deadline, if any, and run its timers.
    RunTimers,
    /// Run the timers now (early or spurious calls must be harmless).
    HandleTimeout,
    /// Begin a request.
    Begin {
        /// Index into [`METHODS`].
        method: u8,
        /// Index into [`ORIGINS`].
        origin: u8,
        /// Index into [`PATHS`].
        path: u8,
        /// `(REQUEST_HEADERS[i % len], value)` pairs.
        headers: Vec<(u8, Value)>,
        /// Index into [`SERVICES`].
        service: u8,
    },
    /// Report an outstanding attempt.
    Respond {
        /// Which permit.
        pick: u8,
        /// With what.
        outcome: Outcome,
    },
    /// Resume a request after its backoff (due or not).
    Resume {
        /// Which retry token.
        pick: u8,
    },
    /// Continue a request the engine told to proceed.
    Proceed {
        /// Which request.
        pick: u8,
    },
    /// Cancel a live request, a background refresh, or one that already ended.
    Cancel {
        /// Which request.
        pick: u8,
    },
    /// Misuse: `proceed` a request that was not told to (or that ended).
    MisuseProceed {
        /// Which request.
        pick: u8,
    },
    /// Misuse: use a permit or token of a request cancelled meanwhile.
    UseStale {
        /// Which stale handle.
        pick: u8,
    },
    /// Report a health check result for a service.
    CheckResult {
        /// Index into the registered services.
        service: u8,
        /// Passed or failed.
        ok: bool,
    },
    /// A host sample (CPU and memory percent).
    SystemSample {
        /// CPU percent (0–255, clamped by nothing: out-of-range values must be harmless).
        cpu: u8,
        /// Memory percent.
        memory: u8,
    },
    /// Evaluate the alert rules now.
    EvaluateAlerts,
    /// A command: breaker overrides, cache invalidation, alert thresholds.
    Command {
        /// Which command.
        kind: u8,
        /// Its target.
        target: u8,
    },
}

/// A tracked request's phase in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Sending,
    Backoff,
    Following,
    Proceeding,
}

impl Phase {
    fn public(self) -> RequestPhase {
        match self {
            Phase::Sending => RequestPhase::Sending,
            Phase::Backoff => RequestPhase::Backoff,
            Phase::Following => RequestPhase::Following,
            Phase::Proceeding => RequestPhase::Proceeding,
        }
    }
}

/// One request the model knows as live.
#[derive(Debug)]
struct Live {
    /// Index of the logical request (into `World::ended`), or `None` for a background refresh.
    logical: Option<usize>,
    phase: Phase,
    request: Request,
}

/// Counts of what a sequence exercised (for coverage assertions in tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests `begin` accepted.
    pub begun: u64,
    /// Requests `begin` refused with a `RequestError`.
    pub refused: u64,
    /// Answers from the cache without an attempt.
    pub cached: u64,
    /// Attempts reported.
    pub attempts: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Requests that waited for an identical one.
    pub followed: u64,
    /// Background refreshes asked for.
    pub background: u64,
    /// Requests cancelled.
    pub cancelled: u64,
    /// Typed errors checked.
    pub typed_errors: u64,
    /// Breaker rejections.
    pub breaker_rejections: u64,
    /// Requests withdrawn because the transport refused their attempt (`InvalidRequest`).
    pub withdrawn: u64,
}

/// The engine under test, the model, and the handles the driver holds.
pub struct World {
    engine: Engine,
    setup: Setup,
    now: Timestamp,
    /// `ended[i]`: how many times logical request `i` ended (must end up exactly 1).
    ended: Vec<u32>,
    live: HashMap<RequestId, Live>,
    permits: Vec<Permit>,
    tokens: Vec<RetryToken>,
    /// Handles of requests cancelled while the handle was out.
    stale_permits: Vec<Permit>,
    stale_tokens: Vec<RetryToken>,
    /// Ids of requests that ended (most recent last, bounded).
    gone: Vec<RequestId>,
    health_services: Vec<&'static str>,
    stats: Stats,
}

impl World {
    /// A world at time zero with `setup`'s engine and health checks registered.
    pub fn new(setup: Setup) -> World {
        let engine = Engine::new(setup.config(), setup.seed).expect("every setup is valid");
        let mut w = World {
            engine,
            now: Timestamp::ZERO,
            ended: Vec::new(),
            live: HashMap::new(),
            permits: Vec::new(),
            tokens: Vec::new(),
            stale_permits: Vec::new(),
            stale_tokens: Vec::new(),
            gone: Vec::new(),
            health_services: ["svc-a", "svc-b"][..usize::from(setup.health_checks % 3)].to_vec(),
            stats: Stats::default(),
            setup,
        };
        for s in w.health_services.clone() {
            w.engine
                .register_health_check(w.now, s)
                .expect("two services fit");
        }
        w.drain();
        w
    }

    /// What the sequence exercised so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn wall(&self) -> WallClock {
        WALL_ORIGIN.saturating_add(self.now.as_duration())
    }

    /// Applies one op and checks every invariant.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Advance(us) => {
                self.now = self.now.saturating_add(Duration::from_micros((*us).into()));
            }
            Op::AdvanceSecs(s) => {
                self.now = self.now.saturating_add(Duration::from_secs((*s).into()));
            }
            Op::RunTimers => {
                if let Some(t) = self.engine.poll_timeout() {
                    self.now = self.now.max(t);
                    self.handle_timeout();
                }
            }
            Op::HandleTimeout => self.handle_timeout(),
            Op::Begin {
                method,
                origin,
                path,
                headers,
                service,
            } => {
                self.begin(*method, *origin, *path, headers, *service);
            }
            Op::Respond { pick, outcome } => self.respond(*pick, outcome),
            Op::Resume { pick } => self.resume(*pick),
            Op::Proceed { pick } => self.proceed(*pick),
            Op::Cancel { pick } => self.cancel(*pick),
            Op::MisuseProceed { pick } => self.misuse_proceed(*pick),
            Op::UseStale { pick } => self.use_stale(*pick),
            Op::CheckResult { service, ok } => self.check_result(*service, *ok),
            Op::SystemSample { cpu, memory } => {
                let sample = tether_core::SystemSample {
                    cpu_percent: f64::from(*cpu),
                    memory_percent: f64::from(*memory),
                    ..Default::default()
                };
                self.engine.on_system_sample(self.now, &sample);
            }
            Op::EvaluateAlerts => {
                self.engine.evaluate_alerts(self.now, self.wall());
                self.drain();
            }
            Op::Command { kind, target } => self.command(*kind, *target),
        }
        self.check();
    }

    fn handle_timeout(&mut self) {
        let now = self.now;
        self.engine.handle_timeout(now, self.wall());
        self.drain();
        if let Some(next) = self.engine.poll_timeout() {
            assert!(
                next > now,
                "deadline {next:?} not after handle_timeout({now:?})"
            );
        }
    }

    fn begin(&mut self, method: u8, origin: u8, path: u8, headers: &[(u8, Value)], service: u8) {
        let origin_idx = usize::from(origin) % ORIGINS.len();
        let Some(request) = build_request(method, origin_idx, path, headers) else {
            return;
        };
        let service = SERVICES[usize::from(service) % SERVICES.len()];
        let in_flight = self.engine.in_flight();
        let invalid = origin_idx >= VALID_ORIGINS
            || request
                .headers()
                .get_all(http::header::AUTHORIZATION)
                .iter()
                .any(|v| v.to_str().is_err());
        match self.engine.begin(self.now, self.wall(), &request, service) {
            Err(e) => {
                assert!(invalid, "a valid request was refused: {e}");
                self.stats.refused += 1;
            }
            Ok(decision) => {
                assert!(!invalid, "an invalid request was accepted");
                self.stats.begun += 1;
                let logical = self.ended.len();
                self.ended.push(0);
                if let Decision::Done(f) = &decision {
                    // A request answered at once was never tracked: its id names nothing.
                    self.gone.push(f.id);
                    if matches!(f.result, FinalResult::Rejected(RejectReason::Overloaded)) {
                        assert_eq!(in_flight, self.setup.config().max_in_flight);
                    }
                    if matches!(&f.result, FinalResult::Response(r) if r.is_cached()) {
                        self.stats.cached += 1;
                    }
                }
                self.on_decision(logical, request, decision);
            }
        }
        self.drain();
    }

    /// Acts on a decision for logical request `logical`.
    fn on_decision(&mut self, logical: usize, request: Request, decision: Decision) {
        match decision {
            Decision::Done(f) => self.end_logical(logical, &f),
            Decision::Send(permit) => {
                self.set_live(permit.id(), Some(logical), Phase::Sending, request);
                self.permits.push(permit);
            }
            Decision::Wait(id) => {
                self.stats.followed += 1;
                self.set_live(id, Some(logical), Phase::Following, request);
            }
        }
    }

    fn set_live(&mut self, id: RequestId, logical: Option<usize>, phase: Phase, request: Request) {
        if let Some(l) = self.live.get_mut(&id) {
            assert_eq!(l.logical, logical, "{id} changed owner");
            l.phase = phase;
        } else {
            self.live.insert(
                id,
                Live {
                    logical,
                    phase,
                    request,
                },
            );
        }
    }

    fn end_logical(&mut self, logical: usize, f: &Finished) {
        self.ended[logical] += 1;
        assert_eq!(
            self.ended[logical], 1,
            "request {logical} ({}) ended twice",
            f.id
        );
        if matches!(
            f.result,
            FinalResult::Rejected(RejectReason::BreakerOpen { .. })
        ) {
            self.stats.breaker_rejections += 1;
        }
    }

    /// Ends the live request `id` with `f`.
    fn end_live(&mut self, id: RequestId, f: &Finished) {
        assert_eq!(f.id, id, "a Finished names another request");
        let live = self
            .live
            .remove(&id)
            .unwrap_or_else(|| panic!("{id} ended but was not live"));
        if let Some(logical) = live.logical {
            self.end_logical(logical, f);
        }
        self.gone.push(id);
        if self.gone.len() > 64 {
            self.gone.remove(0);
        }
    }

    fn respond(&mut self, pick: u8, outcome: &Outcome) {
        if self.permits.is_empty() {
            return;
        }
        let permit = self
            .permits
            .swap_remove(usize::from(pick) % self.permits.len());
        let id = permit.id();
        let live = &self.live[&id];
        assert_eq!(live.phase, Phase::Sending);
        let background = live.logical.is_none();
        let request = live.request.clone();
        self.stats.attempts += 1;
        let next = self
            .engine
            .on_response(
                self.now,
                self.wall(),
                permit,
                &request,
                build_outcome(outcome),
            )
            .unwrap_or_else(|e| panic!("a live permit was refused: {e}"));
        match next {
            Next::Done(f) => {
                if !background
                    && matches!(&f.result, FinalResult::Transport(e) if e.kind == TransportErrorKind::InvalidRequest)
                {
                    self.stats.withdrawn += 1;
                }
                self.end_live(id, &f);
            }
            Next::RetryAt { at, token } => {
                assert!(!background, "a background refresh is never retried");
                assert!(at >= self.now, "a retry scheduled in the past");
                self.stats.retries += 1;
                self.live.get_mut(&id).expect("still live").phase = Phase::Backoff;
                self.tokens.push(token);
            }
        }
        self.drain();
    }

    fn resume(&mut self, pick: u8) {
        if self.tokens.is_empty() {
            return;
        }
        let token = self
            .tokens
            .swap_remove(usize::from(pick) % self.tokens.len());
        let id = token.id();
        let live = self.live.remove(&id).expect("a token's request is live");
        assert_eq!(live.phase, Phase::Backoff);
        let logical = live.logical.expect("only callers' requests back off");
        let decision = self
            .engine
            .resume(self.now, self.wall(), token, &live.request)
            .unwrap_or_else(|e| panic!("a live token was refused: {e}"));
        self.after_step(id, logical, live.request, decision);
    }

    fn proceed(&mut self, pick: u8) {
        let mut ids: Vec<RequestId> = self
            .live
            .iter()
            .filter(|(_, l)| l.phase == Phase::Proceeding)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return;
        }
        ids.sort_unstable();
        let id = ids[usize::from(pick) % ids.len()];
        let live = self.live.remove(&id).expect("listed");
        let logical = live.logical.expect("only callers' requests follow");
        let decision = self
            .engine
            .proceed(self.now, self.wall(), id, &live.request)
            .unwrap_or_else(|e| panic!("proceed of a request told to proceed was refused: {e}"));
        self.after_step(id, logical, live.request, decision);
    }

    /// After `resume` or `proceed` of `id` (taken out of `live`): a decision for the same
    /// request.
    fn after_step(&mut self, id: RequestId, logical: usize, request: Request, d: Decision) {
        match d {
            Decision::Done(f) => {
                assert_eq!(f.id, id);
                self.end_logical(logical, &f);
                self.gone.push(id);
            }
            Decision::Send(p) => {
                assert_eq!(p.id(), id, "a continued request keeps its id");
                self.on_decision(logical, request, Decision::Send(p));
            }
            Decision::Wait(w) => {
                assert_eq!(w, id, "a continued request keeps its id");
                self.on_decision(logical, request, Decision::Wait(w));
            }
        }
        self.drain();
    }

    fn cancel(&mut self, pick: u8) {
        let mut ids: Vec<RequestId> = self.live.keys().copied().collect();
        ids.sort_unstable();
        let total = ids.len() + self.gone.len();
        if total == 0 {
            return;
        }
        let i = usize::from(pick) % total;
        if i >= ids.len() {
            let id = self.gone[i - ids.len()];
            let r = self.engine.cancel(self.now, id).map(drop);
            self.expect_unknown(r, id);
            return;
        }
        let id = ids[i];
        let f = self
            .engine
            .cancel(self.now, id)
            .unwrap_or_else(|e| panic!("cancel of a live request was refused: {e}"));
        assert!(matches!(
            f.result,
            FinalResult::Rejected(RejectReason::Cancelled)
        ));
        self.stats.cancelled += 1;
        self.end_live(id, &f);
        // The driver may still hold its permit or token: they are stale now.
        if let Some(i) = self.permits.iter().position(|p| p.id() == id) {
            self.stale_permits.push(self.permits.swap_remove(i));
        }
        if let Some(i) = self.tokens.iter().position(|t| t.id() == id) {
            self.stale_tokens.push(self.tokens.swap_remove(i));
        }
        self.drain();
    }

    fn expect_unknown<T: std::fmt::Debug>(&mut self, r: Result<T, EngineError>, id: RequestId) {
        assert_eq!(r.unwrap_err(), EngineError::UnknownRequest { id });
        self.stats.typed_errors += 1;
    }

    fn misuse_proceed(&mut self, pick: u8) {
        let mut ids: Vec<RequestId> = self
            .live
            .iter()
            .filter(|(_, l)| l.phase != Phase::Proceeding)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.extend(&self.gone);
        if ids.is_empty() {
            return;
        }
        let id = ids[usize::from(pick) % ids.len()];
        let request = self.live.get(&id).map_or_else(
            || build_request(0, 0, 0, &[]).expect("a valid request"),
            |l| l.request.clone(),
        );
        let r = self.engine.proceed(self.now, self.wall(), id, &request);
        if let Some(live) = self.live.get(&id) {
            let want = EngineError::WrongPhase {
                id,
                expected: RequestPhase::Proceeding,
                actual: live.phase.public(),
            };
            assert_eq!(r.unwrap_err(), want);
            self.stats.typed_errors += 1;
        } else {
            self.expect_unknown(r, id);
        }
        // A refused call changes nothing: no outputs appear.
        assert!(
            self.engine.poll_output().is_none(),
            "a refused call produced output"
        );
    }

    fn use_stale(&mut self, pick: u8) {
        let total = self.stale_permits.len() + self.stale_tokens.len();
        if total == 0 {
            return;
        }
        let i = usize::from(pick) % total;
        let request = build_request(0, 0, 0, &[]).expect("a valid request");
        if i < self.stale_permits.len() {
            let permit = self.stale_permits.swap_remove(i);
            let id = permit.id();
            let ok = build_outcome(&Outcome::Transport(0));
            let r = self
                .engine
                .on_response(self.now, self.wall(), permit, &request, ok);
            self.expect_unknown(r, id);
        } else {
            let token = self.stale_tokens.swap_remove(i - self.stale_permits.len());
            let id = token.id();
            let r = self.engine.resume(self.now, self.wall(), token, &request);
            self.expect_unknown(r, id);
        }
        assert!(
            self.engine.poll_output().is_none(),
            "a refused call produced output"
        );
    }

    fn check_result(&mut self, service: u8, ok: bool) {
        let Some(&name) = self
            .health_services
            .get(usize::from(service) % self.health_services.len().max(1))
        else {
            return;
        };
        let latency = Duration::from_millis(u64::from(service));
        let result = if ok {
            CheckResult::passed(latency)
        } else {
            CheckResult::failed(latency, "scripted failure")
        };
        let _ = self
            .engine
            .on_check_result(self.now, self.wall(), name, result);
        self.drain();
    }

    fn command(&mut self, kind: u8, target: u8) {
        let name = BREAKERS[usize::from(target) % BREAKERS.len()];
        let now = self.now;
        match kind % 9 {
            0 => self.engine.isolate_breaker(now, name),
            1 => self.engine.reset_breaker(now, name),
            2 => self.engine.disable_breaker(now, name),
            3 => self.engine.enable_breaker(now, name),
            4 => drop(self.engine.invalidate_cache()),
            5 => {
                let url = format!("http://{name}/items");
                if let Ok(uri) = url.parse() {
                    let _ = self.engine.invalidate_cache_url(&uri);
                }
            }
            6 => drop(self.engine.invalidate_cache_prefix("http://a.test/")),
            7 => drop(self.engine.purge_expired_cache(now)),
            _ => {
                let threshold = f64::from(target) / 255.0;
                self.engine
                    .set_alert_threshold(AlertRule::SERVICE_ERRORS, threshold)
                    .expect("a threshold in 0..=1 is valid");
            }
        }
        self.drain();
    }

    /// Drains the engine's outputs into the model.
    fn drain(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Resolved(f) => {
                    let phase = self.live.get(&f.id).map(|l| l.phase);
                    assert_eq!(phase, Some(Phase::Following), "{} resolved", f.id);
                    self.end_live(f.id, &f);
                }
                Output::Proceed(id) => {
                    let live = self
                        .live
                        .get_mut(&id)
                        .expect("only a live request proceeds");
                    assert_eq!(live.phase, Phase::Following, "{id} told to proceed");
                    live.phase = Phase::Proceeding;
                }
                Output::Background(b) => {
                    self.stats.background += 1;
                    let tether_core::BackgroundFetch { request, permit } = *b;
                    self.set_live(permit.id(), None, Phase::Sending, request);
                    self.permits.push(permit);
                }
                Output::CheckDue(service) => {
                    assert!(
                        self.health_services.contains(&service.as_str()),
                        "{service}"
                    );
                }
                Output::Event(_) => {}
                other => panic!("unknown output {other:?}"),
            }
        }
    }

    /// The invariants that hold after every op.
    fn check(&self) {
        assert_eq!(
            self.engine.in_flight(),
            self.live.len(),
            "the engine tracks {} requests, the model {}",
            self.engine.in_flight(),
            self.live.len()
        );
        let cache = self.engine.cache();
        let limits = &cache.config();
        assert!(
            cache.len() <= limits.max_entries,
            "{} cache entries",
            cache.len()
        );
        assert!(
            cache.bytes() <= limits.max_bytes,
            "{} cached bytes",
            cache.bytes()
        );
        let probes = self.setup.probes();
        for (name, b) in self.engine.breakers().iter() {
            let s = b.snapshot(self.now);
            assert!(
                s.half_open_in_flight <= probes,
                "breaker {name}: {} probes out, limit {probes}",
                s.half_open_in_flight
            );
        }
    }

    /// Uses up every handle the driver holds (answering every attempt, resuming every backoff,
    /// continuing every follower) until nothing is live, then checks the end state. Returns
    /// what the sequence exercised.
    pub fn finish(mut self) -> Stats {
        let mut rounds = 0;
        while !self.live.is_empty() {
            rounds += 1;
            assert!(
                rounds < 1_000,
                "requests never finish: {:?}",
                self.live.keys()
            );
            self.now = self.now.saturating_add(Duration::from_millis(1));
            let stored = Outcome::Response {
                status: 0,
                raw_status: None,
                headers: Vec::new(),
                body_len: 1,
            };
            while !self.permits.is_empty() {
                self.respond(0, &stored);
            }
            while !self.tokens.is_empty() {
                self.resume(0);
            }
            while self.live.values().any(|l| l.phase == Phase::Proceeding) {
                self.proceed(0);
            }
            self.check();
        }
        assert!(self.permits.is_empty() && self.tokens.is_empty());
        assert_eq!(self.engine.in_flight(), 0, "requests left in flight");
        assert_eq!(
            self.engine.cache().flights_in_progress(),
            0,
            "cache flights left"
        );
        for (logical, n) in self.ended.iter().enumerate() {
            assert_eq!(*n, 1, "request {logical} ended {n} times");
        }
        let m = self.engine.metrics().snapshot(self.wall()).global;
        let counted = self.stats.begun - self.stats.withdrawn;
        assert_eq!(m.total_requests, counted, "metrics missed a request");
        assert_eq!(m.in_flight, 0, "metrics still count a request in flight");
        assert_eq!(m.completed_requests(), counted);
        for (name, b) in self.engine.breakers().iter() {
            let s = b.snapshot(self.now);
            assert_eq!(
                s.half_open_in_flight, 0,
                "breaker {name} holds a probe slot"
            );
        }
        self.stats
    }
}

fn header_value(v: &Value) -> Option<HeaderValue> {
    match v {
        Value::Known(i) => Some(HeaderValue::from_static(
            VALUES[usize::from(*i) % VALUES.len()],
        )),
        Value::Raw(b) => HeaderValue::from_bytes(b).ok(),
    }
}

/// The request an op describes; `None` when a raw header value is not a valid header.
fn build_request(method: u8, origin: usize, path: u8, headers: &[(u8, Value)]) -> Option<Request> {
    let method = METHODS[usize::from(method) % METHODS.len()];
    let uri = format!(
        "{}{}",
        ORIGINS[origin],
        PATHS[usize::from(path) % PATHS.len()]
    );
    let mut b = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        let name =
            HeaderName::from_static(REQUEST_HEADERS[usize::from(*name) % REQUEST_HEADERS.len()]);
        b = b.header(name, header_value(value)?);
    }
    b.body(Bytes::new()).ok()
}

/// The attempt outcome an op describes (invalid raw header values are left out).
fn build_outcome(o: &Outcome) -> tether_core::Outcome {
    match o {
        Outcome::Transport(kind) => Err(TransportError::new(
            TRANSPORT_ERRORS[usize::from(*kind) % TRANSPORT_ERRORS.len()],
            "scripted failure",
        )),
        Outcome::Response {
            status,
            raw_status,
            headers,
            body_len,
        } => {
            let code = raw_status
                .and_then(|s| http::StatusCode::from_u16(s).ok())
                .unwrap_or_else(|| {
                    http::StatusCode::from_u16(STATUSES[usize::from(*status) % STATUSES.len()])
                        .expect("listed statuses are valid")
                });
            let mut r = Response::new(Bytes::from(vec![b'x'; usize::from(*body_len)]));
            *r.status_mut() = code;
            for (name, value) in headers {
                let name = RESPONSE_HEADERS[usize::from(*name) % RESPONSE_HEADERS.len()];
                if let Some(v) = header_value(value) {
                    r.headers_mut().append(HeaderName::from_static(name), v);
                }
            }
            Ok(r)
        }
    }
}
