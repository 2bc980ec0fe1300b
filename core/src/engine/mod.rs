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
//! One file per job: `request.rs` and `decision.rs` (the types a caller holds and receives),
//! `config.rs`, `lifecycle.rs` (the request inputs), `validate.rs` (the caller's mistakes,
//! refused before anything is counted), `route.rs` (cache → breaker → permit),
//! `finish.rs` (ending a request), `background.rs` (timers, health, alerts, events),
//! `commands.rs`, `observe.rs` (getters) and `trace.rs` (the decision trace).

mod background;
mod call;
mod commands;
mod config;
mod decision;
mod finish;
mod lifecycle;
mod names;
mod observe;
mod request;
mod route;
mod slab;
mod trace;
mod validate;

use std::collections::VecDeque;

pub use self::config::{BreakerScope, EngineConfig};
pub use self::decision::{
    BackgroundFetch, Decision, EngineEvent, FinalResult, Finished, Next, Output, Reply,
};
pub use self::observe::EngineSnapshot;
pub use self::request::{EngineError, Permit, RequestId, RequestPhase, RetryToken};
pub use self::trace::{
    AttemptNext, AttemptResult, AttemptTrace, CacheTrace, DecisionTrace, HumanDuration,
    RejectReason,
};

use self::call::Call;
use self::names::Names;
use self::slab::Slab;
use crate::alerts::{AlertEngine, SignalWindow, SystemSignals};
use crate::breaker::BreakerRegistry;
use crate::cache::Cache;
use crate::health::HealthTracker;
use crate::metrics::Metrics;
use crate::retry::{RetryBudget, RetryPolicy};
use crate::{ConfigError, Rng, Timestamp, WallClock};

/// The sans-IO engine: cache → breaker → send → classify → retry → metrics, plus health,
/// alerts and exports, as one `&mut self` state machine that owns no socket, clock, timer or
/// task.
///
/// # Methods, in four groups
///
/// The engine has four kinds of methods:
///
/// * **(A) getters** (`&self`): [`snapshot`](Self::snapshot),
///   [`export_snapshot`](Self::export_snapshot), [`in_flight`](Self::in_flight),
///   [`config`](Self::config), and read-only views of the machines ([`cache`](Self::cache),
///   [`breakers`](Self::breakers), [`metrics`](Self::metrics), [`health`](Self::health),
///   [`alerts`](Self::alerts)). They never change anything.
/// * **(B) inputs**, which tell the engine what happened, `now` first:
///   - one request's lifecycle: [`begin`](Self::begin), [`on_response`](Self::on_response),
///     [`resume`](Self::resume), [`proceed`](Self::proceed), [`cancel`](Self::cancel);
///   - everything else: [`handle_timeout`](Self::handle_timeout),
///     [`on_check_result`](Self::on_check_result), [`on_system_sample`](Self::on_system_sample),
///     [`evaluate_alerts`](Self::evaluate_alerts),
///     [`register_health_check`](Self::register_health_check),
///     [`check_health_now`](Self::check_health_now).
/// * **(C) commands**, which the application gives: cache invalidation
///   ([`invalidate_cache`](Self::invalidate_cache) and friends), breaker overrides
///   ([`isolate_breaker`](Self::isolate_breaker), [`reset_breaker`](Self::reset_breaker),
///   [`disable_breaker`](Self::disable_breaker), [`enable_breaker`](Self::enable_breaker)),
///   alert rules ([`set_alert_rules`](Self::set_alert_rules),
///   [`set_alert_threshold`](Self::set_alert_threshold),
///   [`set_alert_enabled`](Self::set_alert_enabled)), and
///   [`register_service`](Self::register_service).
/// * **(D) pollers**, which hand out what the engine wants done:
///   [`poll_output`](Self::poll_output) and [`poll_timeout`](Self::poll_timeout).
///
/// # The loop and the drain contract
///
/// After **every** (B) input or (C) command, the driver:
///
/// 1. drains [`poll_output`](Self::poll_output) until it returns `None` — resolving waiting
///    requests ([`Output::Resolved`]), continuing them ([`Output::Proceed`]), starting
///    background refreshes ([`Output::Background`]) and health checks ([`Output::CheckDue`]),
///    and passing [`Output::Event`]s to observers;
/// 2. then reads [`poll_timeout`](Self::poll_timeout) and (re)arms **one** timer for it,
///    calling [`handle_timeout`](Self::handle_timeout) when it fires.
///
/// Outputs appear only during (B) and (C) calls, in the order they happened; undrained outputs
/// wait, so a driver that drains late loses nothing (but wakes followers late). The timeout
/// can change after any (B) or (C) call, never on its own; after `handle_timeout(now)` it is
/// later than `now` or `None`, so a driver that follows it never spins. Calling
/// `handle_timeout` early or twice is harmless; a driver that never calls it still gets
/// breaker transitions, because [`begin`](Self::begin) runs the timers once per
/// [`housekeeping_interval`](EngineConfig::housekeeping_interval).
///
/// # One request
///
/// [`begin`](Self::begin) answers a [`Decision`]:
///
/// * [`Decision::Done`]: answered at once (cache hit, breaker open, overload);
/// * [`Decision::Send`]: send one attempt with the [`Permit`] (it carries the time limit and
///   any conditional headers), then report it with [`on_response`](Self::on_response), which
///   answers [`Next::Done`] or [`Next::RetryAt`]: sleep until then and
///   [`resume`](Self::resume) with the [`RetryToken`] for the next `Decision`;
/// * [`Decision::Wait`]: an identical request is in flight; a later drain yields
///   [`Output::Resolved`] (its answer) or [`Output::Proceed`] (call
///   [`proceed`](Self::proceed) for the next `Decision`).
///
/// Every request the engine tracks ends in **exactly one** [`Finished`] — from a `Done`, an
/// `Output::Resolved`, or [`cancel`](Self::cancel) — and then leaves
/// [`in_flight`](Self::in_flight). Permits and retry tokens are single-use and not `Clone`;
/// an id or capability that does not fit the request's phase (it finished, was cancelled, or
/// is waiting for something else) is refused with a typed [`EngineError`], and nothing
/// changes.
///
/// See the [crate documentation](crate) for the loop as code.
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
    /// Each service's totals at the previous alert evaluation.
    window: SignalWindow,
    /// The latest host sample and when it was taken.
    system: Option<(Timestamp, SystemSignals)>,
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
            window: SignalWindow::default(),
            system: None,
            last_wall: WallClock::EPOCH,
            names: Names::new(seed ^ 0x4E41_4D45_5345_4544),
            config,
        })
    }
}

/// (D) Pollers. Drain them after every input and command.
impl Engine {
    /// The next piece of work or news, oldest first; `None` when there is nothing left.
    ///
    /// New outputs appear only during an input or command: single-flight followers woken when
    /// a leader finishes or gives up, background refreshes when a stale entry is served, due
    /// health checks in [`handle_timeout`](Self::handle_timeout), and breaker, health and
    /// alert events whenever those machines change state.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the earliest of the
    /// breakers' deadlines (end of a break, probe timeouts), the next due health check, and
    /// the next alert evaluation; `None` when nothing is scheduled.
    ///
    /// It can change after any input or command, never on its own. After
    /// `handle_timeout(now)` it is later than `now` or `None` (it never stays in the past).
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
}

#[cfg(test)]
mod tests;
