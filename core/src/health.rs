//! Health of each service, from active checks, the circuit breaker and the recent error rate,
//! and when the next active check is due.
//!
//! The design notes are on [`HealthTracker`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Timestamp, WallClock};

/// Default interval between two active checks of a service: 30 s, the original's
/// `health_check_interval` and its gateway loop period.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Default time a check may take before it counts as failed: 10 s. The original had no timeout;
/// its checks took about 8.5 s against an unreachable host (5 s client timeout and retries).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest check `detail` kept, in bytes (longer texts are cut at a character boundary).
pub const MAX_DETAIL_LEN: usize = 1024;

/// Most undrained events kept; beyond this the oldest are dropped (and counted).
pub const MAX_PENDING_EVENTS: usize = 1024;

/// Per-service overrides of the check schedule. Unset fields use the global value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceHealthOverride {
    /// Interval between two checks of this service.
    pub check_interval: Option<Duration>,
    /// Timeout of one check of this service.
    pub check_timeout: Option<Duration>,
    /// Whether this service gets active checks at all (`false`: passive signals only).
    pub active_checks: Option<bool>,
}

/// Configuration of the [`HealthTracker`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// Interval between two active checks of a service (default 30 s). Must be > 0.
    pub check_interval: Duration,
    /// Interval after a *failed* check, if different (default `None`: the same interval). The
    /// original gateway loop waited 60 s after an error; we default to re-checking at the normal
    /// pace so a recovery is noticed promptly.
    pub failed_check_interval: Option<Duration>,
    /// How long a check may run before it counts as failed (default 10 s). Must be > 0.
    pub check_timeout: Duration,
    /// Whether registered services get active checks by default (default `true`).
    pub active_checks: bool,
    /// Consecutive failed checks that make a service unhealthy (default 1, as the original: one
    /// failed check reports `unhealthy`; raise to 2–3 to damp flapping). Must be ≥ 1.
    pub unhealthy_after: u32,
    /// Consecutive successful checks that bring an unhealthy service back (default 1). Must be ≥ 1.
    pub healthy_after: u32,
    /// Recent error rate above which the service is degraded (default 0.1, the original's alert
    /// threshold). In `[0, 1]`.
    pub degraded_error_rate: f64,
    /// Recent error rate above which the service is unhealthy (default 0.5). In
    /// `[degraded_error_rate, 1]`.
    pub unhealthy_error_rate: f64,
    /// Fewest recent requests for the error rate to count (default 10), so an idle or barely used
    /// service is not judged on one failure.
    pub min_requests: u64,
    /// Number of recent checks the reported `success_rate` covers (default 100). Must be ≥ 1.
    pub check_window: usize,
    /// Most services tracked (default 1024). Must be ≥ 1.
    pub max_services: usize,
    /// Per-service overrides, by service name.
    pub services: BTreeMap<String, ServiceHealthOverride>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            check_interval: DEFAULT_CHECK_INTERVAL,
            failed_check_interval: None,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            active_checks: true,
            unhealthy_after: 1,
            healthy_after: 1,
            degraded_error_rate: 0.1,
            unhealthy_error_rate: 0.5,
            min_requests: 10,
            check_window: 100,
            max_services: 1024,
            services: BTreeMap::new(),
        }
    }
}

impl HealthConfig {
    /// Checks every field; see each field for its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.check_interval.is_zero() {
            return Err(ConfigError::invalid("health.check_interval", "must be > 0"));
        }
        if self.failed_check_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::invalid(
                "health.failed_check_interval",
                "must be > 0",
            ));
        }
        if self.check_timeout.is_zero() {
            return Err(ConfigError::invalid("health.check_timeout", "must be > 0"));
        }
        if self.unhealthy_after == 0 {
            return Err(ConfigError::invalid(
                "health.unhealthy_after",
                "must be >= 1",
            ));
        }
        if self.healthy_after == 0 {
            return Err(ConfigError::invalid("health.healthy_after", "must be >= 1"));
        }
        if !(0.0..=1.0).contains(&self.degraded_error_rate) {
            return Err(ConfigError::invalid(
                "health.degraded_error_rate",
                "must be in [0, 1]",
            ));
        }
        if !(self.degraded_error_rate..=1.0).contains(&self.unhealthy_error_rate) {
            return Err(ConfigError::invalid(
                "health.unhealthy_error_rate",
                "must be in [degraded_error_rate, 1]",
            ));
        }
        if self.check_window == 0 {
            return Err(ConfigError::invalid("health.check_window", "must be >= 1"));
        }
        if self.max_services == 0 {
            return Err(ConfigError::invalid("health.max_services", "must be >= 1"));
        }
        for o in self.services.values() {
            if o.check_interval.is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::invalid(
                    "health.services.check_interval",
                    "must be > 0",
                ));
            }
            if o.check_timeout.is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::invalid(
                    "health.services.check_timeout",
                    "must be > 0",
                ));
            }
        }
        Ok(())
    }

    fn interval_for(&self, service: &str, ok: bool) -> Duration {
        let base = self
            .services
            .get(service)
            .and_then(|o| o.check_interval)
            .unwrap_or(self.check_interval);
        if ok {
            base
        } else {
            self.failed_check_interval.unwrap_or(base)
        }
    }

    fn timeout_for(&self, service: &str) -> Duration {
        self.services
            .get(service)
            .and_then(|o| o.check_timeout)
            .unwrap_or(self.check_timeout)
    }

    fn active_for(&self, service: &str) -> bool {
        self.services
            .get(service)
            .and_then(|o| o.active_checks)
            .unwrap_or(self.active_checks)
    }
}

/// Health of one service. Serialized in lower case (`"healthy"`, …), like the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Checks pass and no passive signal is bad.
    Healthy,
    /// Working but impaired: breaker half-open or an elevated error rate.
    Degraded,
    /// Failing checks, an open breaker or a high error rate.
    Unhealthy,
    /// No data yet.
    Unknown,
}

impl HealthStatus {
    /// The lower-case name: `healthy`, `degraded`, `unhealthy` or `unknown`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown => "unknown",
        }
    }

    /// Badness order used to combine signals (`Unknown` never wins over data).
    const fn rank(self) -> u8 {
        match self {
            HealthStatus::Unknown => 0,
            HealthStatus::Healthy => 1,
            HealthStatus::Degraded => 2,
            HealthStatus::Unhealthy => 3,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The breaker state as health sees it (kept local so health does not depend on the breaker
/// module; the engine maps its breaker states onto this).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerStateKind {
    /// Calls flow normally (no effect on health).
    #[default]
    Closed,
    /// Calls are rejected: the service is unhealthy.
    Open,
    /// Probing: the service is degraded.
    HalfOpen,
    /// Any other state (forced, disabled…): no effect on health.
    Other,
}

/// The result of one active check, as the frontend observed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Whether the check passed.
    pub ok: bool,
    /// How long the check took.
    pub latency: Duration,
    /// Free text, typically the error of a failed check (cut to [`MAX_DETAIL_LEN`] bytes).
    pub detail: Option<String>,
}

impl CheckResult {
    /// A passing check.
    pub fn passed(latency: Duration) -> Self {
        CheckResult {
            ok: true,
            latency,
            detail: None,
        }
    }

    /// A failing check with its error text.
    pub fn failed(latency: Duration, detail: impl Into<String>) -> Self {
        CheckResult {
            ok: false,
            latency,
            detail: Some(detail.into()),
        }
    }
}

/// Why a service has its current status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthReason {
    /// No check result and no passive signal yet.
    NoData,
    /// The latest checks passed.
    ChecksPassing {
        /// Consecutive passing checks.
        consecutive_successes: u32,
    },
    /// The latest checks failed (unhealthy once `unhealthy_after` is reached).
    ChecksFailing {
        /// Consecutive failing checks.
        consecutive_failures: u32,
    },
    /// Unhealthy, and passing checks are accumulating toward `healthy_after`.
    Recovering {
        /// Consecutive passing checks so far.
        consecutive_successes: u32,
        /// Passing checks needed.
        needed: u32,
    },
    /// The circuit breaker is open.
    BreakerOpen,
    /// The circuit breaker is half-open.
    BreakerHalfOpen,
    /// The recent error rate decided the status.
    ErrorRate {
        /// Recent error rate in `[0, 1]`.
        error_rate: f64,
        /// Requests it covers.
        requests: u64,
    },
}

/// Something the tracker wants the outside world to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthEvent {
    /// A service's status changed.
    StatusChanged {
        /// The service.
        service: String,
        /// Previous status.
        from: HealthStatus,
        /// New status.
        to: HealthStatus,
        /// When the change was observed.
        at: Timestamp,
        /// Why the service now has status `to`.
        reason: HealthReason,
    },
}

/// `register` was refused: the tracker already holds `max_services` services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot track more than {limit} services")]
pub struct TooManyServices {
    /// The configured `max_services`.
    pub limit: usize,
}

/// Everything known about one service's health (serde-ready for reports and dashboards).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealthSnapshot {
    /// The service name.
    pub service: String,
    /// Current status.
    pub status: HealthStatus,
    /// Why it has that status.
    pub reason: HealthReason,
    /// Wall-clock time of the latest check result (or timeout), if any.
    pub last_check: Option<WallClock>,
    /// Whether the latest check passed.
    pub last_check_ok: Option<bool>,
    /// Duration of the latest check.
    pub last_response_time: Option<Duration>,
    /// Consecutive failing checks.
    pub consecutive_failures: u32,
    /// Consecutive passing checks.
    pub consecutive_successes: u32,
    /// Checks recorded since registration.
    pub total_checks: u64,
    /// Failed (or timed-out) checks since registration.
    pub error_count: u64,
    /// Share of passing checks over the last `check_window` checks; `None` before the first.
    pub success_rate: Option<f64>,
    /// Detail of the latest check (e.g. its error).
    pub detail: Option<String>,
    /// Latest breaker state reported.
    pub breaker: BreakerStateKind,
    /// Latest recent error rate reported, if any.
    pub error_rate: Option<f64>,
    /// Requests that error rate covers.
    pub recent_requests: u64,
    /// Whether the service gets active checks.
    pub active_checks: bool,
    /// Whether a check is running now.
    pub check_in_flight: bool,
    /// When the next check is scheduled (`None`: passive, due now, or running).
    pub next_check: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    /// No active checks.
    Passive,
    /// Waiting for `next_check`.
    Idle { next_check: Timestamp },
    /// Due, queued for `poll_check_due`.
    Due,
    /// A check was handed out and has not reported yet.
    InFlight {
        started: Timestamp,
        deadline: Timestamp,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Healthy,
    Unhealthy,
}

#[derive(Clone, Debug)]
struct ServiceState {
    schedule: Schedule,
    /// The latest handed-out check timed out; its late result is ignored once.
    timed_out: bool,
    verdict: Option<Verdict>,
    consecutive_failures: u32,
    consecutive_successes: u32,
    total_checks: u64,
    failed_checks: u64,
    recent: VecDeque<bool>,
    last_check: Option<WallClock>,
    last_check_ok: Option<bool>,
    last_response_time: Option<Duration>,
    detail: Option<String>,
    breaker: BreakerStateKind,
    error_rate: Option<f64>,
    requests: u64,
    status: HealthStatus,
    reason: HealthReason,
}

impl ServiceState {
    fn new(schedule: Schedule) -> Self {
        ServiceState {
            schedule,
            timed_out: false,
            verdict: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            total_checks: 0,
            failed_checks: 0,
            recent: VecDeque::new(),
            last_check: None,
            last_check_ok: None,
            last_response_time: None,
            detail: None,
            breaker: BreakerStateKind::Closed,
            error_rate: None,
            requests: 0,
            status: HealthStatus::Unknown,
            reason: HealthReason::NoData,
        }
    }
}

/// Health of every registered service. A `&mut self` state machine.
///
/// # Design
///
/// The original (`HealthMonitor`) ran every check one after another, with no timeout and no
/// schedule (a sweep over unreachable hosts took about 40 s), produced only `healthy` /
/// `unhealthy`, and never filled in `error_count` or `success_rate`. This tracker:
///
/// * schedules one check per service every [`HealthConfig::check_interval`] (30 s, the original's
///   `health_check_interval`), with a per-service override, and bounds each check by a timeout;
/// * damps flapping with `unhealthy_after` / `healthy_after` consecutive results;
/// * folds in passive signals: breaker open → unhealthy, half-open → degraded, recent error rate
///   above `degraded_error_rate` / `unhealthy_error_rate` → degraded / unhealthy;
/// * keeps real counters (checks, failures, success rate over the last checks) per service.
///
/// The tracker runs no checks itself: it says *which* service is due ([`HealthTracker::poll_check_due`]),
/// the frontend runs the check and reports [`HealthTracker::on_check_result`].
///
/// # State machines (per service)
///
/// ```text
///  Scheduling (active services; passive ones stay in `Passive` and are never due):
///
///   register ─► Idle{next_check} ──next_check ≤ now──► Due ──poll_check_due──► InFlight{deadline}
///                  ▲     (handle_timeout / poll_check_due)                          │
///                  │                                                                │
///                  └──── on_check_result, or handle_timeout past the deadline ──────┘
///                        (a timeout counts as a failed check; the late result is ignored)
///
///  Check verdict (hysteresis):
///
///              first ok                       unhealthy_after consecutive failures
///   Unknown ─────────────► Healthy ────────────────────────────────────────► Unhealthy
///      │                      ▲                                                  │
///      │                      └────────── healthy_after consecutive successes ───┘
///      └──────── unhealthy_after consecutive failures ─────────────────────────► Unhealthy
///
///  Overall status = the worst of: check verdict, breaker (Open → Unhealthy, HalfOpen → Degraded),
///  error rate (with ≥ min_requests: > unhealthy_error_rate → Unhealthy, > degraded_error_rate →
///  Degraded, else Healthy). `Unknown` when none of them has data.
/// ```
///
/// # Driving it
///
/// After any input, drain [`HealthTracker::poll_check_due`] (start those checks) and
/// [`HealthTracker::poll_event`]; arm a timer at [`HealthTracker::poll_timeout`] and call
/// [`HealthTracker::handle_timeout`] when it fires. After `handle_timeout(now)`, `poll_timeout`
/// is always later than `now` (or `None`): due checks wait in a queue for `poll_check_due` instead
/// of keeping a deadline in the past.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    config: HealthConfig,
    services: BTreeMap<String, ServiceState>,
    due: VecDeque<String>,
    events: VecDeque<HealthEvent>,
    dropped_events: u64,
    /// The latest `(now, wall)` pair seen, to date timeouts (which carry no wall clock).
    wall_anchor: Option<(Timestamp, WallClock)>,
}

impl HealthTracker {
    /// A tracker with no services.
    pub fn new(config: HealthConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(HealthTracker {
            config,
            services: BTreeMap::new(),
            due: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            wall_anchor: None,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Starts tracking `service`. Unless its configuration says otherwise, it gets active checks,
    /// the first one due at once. Registering a known service is a no-op, except that a passive
    /// service becomes active if its configuration allows.
    pub fn register(&mut self, now: Timestamp, service: &str) -> Result<(), TooManyServices> {
        let active = self.config.active_for(service);
        if let Some(st) = self.services.get_mut(service) {
            if active && st.schedule == Schedule::Passive {
                st.schedule = Schedule::Idle { next_check: now };
            }
            return Ok(());
        }
        let schedule = if active {
            Schedule::Idle { next_check: now }
        } else {
            Schedule::Passive
        };
        self.insert(service, schedule)
    }

    /// Starts tracking `service` from passive signals only (breaker, error rate, and any check
    /// results the frontend reports on its own). No-op for a known service.
    pub fn register_passive(&mut self, service: &str) -> Result<(), TooManyServices> {
        if self.services.contains_key(service) {
            return Ok(());
        }
        self.insert(service, Schedule::Passive)
    }

    fn insert(&mut self, service: &str, schedule: Schedule) -> Result<(), TooManyServices> {
        if self.services.len() >= self.config.max_services {
            return Err(TooManyServices {
                limit: self.config.max_services,
            });
        }
        self.services
            .insert(service.to_owned(), ServiceState::new(schedule));
        Ok(())
    }

    /// Stops tracking `service`; returns whether it was tracked. No event is emitted.
    pub fn unregister(&mut self, service: &str) -> bool {
        if self.services.remove(service).is_none() {
            return false;
        }
        self.due.retain(|s| s != service);
        true
    }

    /// Whether `service` is tracked.
    pub fn is_registered(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    /// Names of the tracked services, in name order.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Reports the result of a check of `service`. Results for unknown services are ignored, and
    /// so is the first result arriving after that check already timed out (the timeout was
    /// counted as the failure). Results of checks the frontend ran on its own (not handed out by
    /// `poll_check_due`) are accepted. Returns whether the result was recorded.
    pub fn on_check_result(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        service: &str,
        result: CheckResult,
    ) -> bool {
        self.wall_anchor = Some((now, wall));
        let Some(st) = self.services.get_mut(service) else {
            return false;
        };
        let in_flight = matches!(st.schedule, Schedule::InFlight { .. });
        if !in_flight && st.timed_out {
            st.timed_out = false;
            return false;
        }
        st.timed_out = false;
        let detail = result.detail.map(truncate_detail);
        record_check(
            &self.config,
            service,
            st,
            now,
            Some(wall),
            result.ok,
            result.latency,
            detail,
        );
        self.refresh(service, now);
        true
    }

    /// Reports the breaker state of `service` (ignored for unknown services).
    pub fn on_breaker_state(&mut self, now: Timestamp, service: &str, state: BreakerStateKind) {
        let Some(st) = self.services.get_mut(service) else {
            return;
        };
        st.breaker = state;
        self.refresh(service, now);
    }

    /// Reports the error rate over the recent requests of `service` (the engine computes it).
    /// A NaN rate is ignored; other values are clamped to `[0, 1]`. With fewer than
    /// `min_requests` requests the rate does not affect health.
    pub fn on_error_rate(&mut self, now: Timestamp, service: &str, error_rate: f64, requests: u64) {
        if error_rate.is_nan() {
            return;
        }
        let Some(st) = self.services.get_mut(service) else {
            return;
        };
        st.error_rate = Some(error_rate.clamp(0.0, 1.0));
        st.requests = requests;
        self.refresh(service, now);
    }

    /// Makes the next check of `service` (or of every active service, with `None`) due at `now`,
    /// for an on-demand sweep. Services with a check running are left alone.
    pub fn check_now(&mut self, now: Timestamp, service: Option<&str>) {
        for (name, st) in &mut self.services {
            if service.is_some_and(|s| s != name) {
                continue;
            }
            if let Schedule::Idle { next_check } = &mut st.schedule {
                *next_check = (*next_check).min(now);
            }
        }
    }

    /// The next service whose check is due at `now`, marked in flight until its result arrives
    /// or its check timeout passes. Drain until `None` after every input and timeout. Earliest
    /// due first, ties in name order.
    pub fn poll_check_due(&mut self, now: Timestamp) -> Option<String> {
        self.promote_due(now);
        while let Some(name) = self.due.pop_front() {
            let timeout = self.config.timeout_for(&name);
            if let Some(st) = self.services.get_mut(&name)
                && st.schedule == Schedule::Due
            {
                st.schedule = Schedule::InFlight {
                    started: now,
                    deadline: now.saturating_add(timeout),
                };
                st.timed_out = false;
                return Some(name);
            }
        }
        None
    }

    /// The earliest deadline: a scheduled check or a running check's timeout. Changes after any
    /// input, `poll_check_due` and `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.services
            .values()
            .filter_map(|st| match st.schedule {
                Schedule::Idle { next_check } => Some(next_check),
                Schedule::InFlight { deadline, .. } => Some(deadline),
                Schedule::Passive | Schedule::Due => None,
            })
            .min()
    }

    /// Fails the checks whose timeout has passed and queues the checks that are due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let expired: Vec<String> = self
            .services
            .iter()
            .filter(|(_, st)| {
                matches!(st.schedule, Schedule::InFlight { deadline, .. } if deadline <= now)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let wall = self
            .wall_anchor
            .map(|(t, w)| w.saturating_add(now.saturating_duration_since(t)));
        for name in expired {
            let Some(st) = self.services.get_mut(&name) else {
                continue;
            };
            let Schedule::InFlight { started, .. } = st.schedule else {
                continue;
            };
            let took = now.saturating_duration_since(started);
            let detail = format!("health check timed out after {took:?}");
            record_check(
                &self.config,
                &name,
                st,
                now,
                wall,
                false,
                took,
                Some(detail),
            );
            st.timed_out = true;
            self.refresh(&name, now);
        }
        self.promote_due(now);
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    /// Events dropped because more than [`MAX_PENDING_EVENTS`] were left undrained.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The status of `service` (`Unknown` for an unknown service).
    pub fn status(&self, service: &str) -> HealthStatus {
        self.services
            .get(service)
            .map_or(HealthStatus::Unknown, |st| st.status)
    }

    /// Everything known about `service`.
    pub fn snapshot(&self, service: &str) -> Option<ServiceHealthSnapshot> {
        self.services
            .get(service)
            .map(|st| make_snapshot(service, st))
    }

    /// Snapshots of every tracked service, in name order.
    pub fn snapshots(&self) -> Vec<ServiceHealthSnapshot> {
        self.services
            .iter()
            .map(|(name, st)| make_snapshot(name, st))
            .collect()
    }

    /// Moves every idle service whose check is due at `now` to the due queue, earliest first.
    fn promote_due(&mut self, now: Timestamp) {
        let mut newly: Vec<(Timestamp, String)> = Vec::new();
        for (name, st) in &mut self.services {
            if let Schedule::Idle { next_check } = st.schedule
                && next_check <= now
            {
                st.schedule = Schedule::Due;
                newly.push((next_check, name.clone()));
            }
        }
        newly.sort();
        self.due.extend(newly.into_iter().map(|(_, n)| n));
    }

    /// Recomputes the status of `service` and emits an event if it changed.
    fn refresh(&mut self, service: &str, now: Timestamp) {
        let Some(st) = self.services.get_mut(service) else {
            return;
        };
        let (status, reason) = evaluate(&self.config, st);
        let from = st.status;
        st.status = status;
        st.reason = reason.clone();
        if from != status {
            if self.events.len() >= MAX_PENDING_EVENTS {
                self.events.pop_front();
                self.dropped_events = self.dropped_events.saturating_add(1);
            }
            self.events.push_back(HealthEvent::StatusChanged {
                service: service.to_owned(),
                from,
                to: status,
                at: now,
                reason,
            });
        }
    }
}

/// Records one check outcome and reschedules the next check.
#[allow(clippy::too_many_arguments)]
fn record_check(
    config: &HealthConfig,
    service: &str,
    st: &mut ServiceState,
    now: Timestamp,
    wall: Option<WallClock>,
    ok: bool,
    latency: Duration,
    detail: Option<String>,
) {
    st.total_checks = st.total_checks.saturating_add(1);
    if st.recent.len() >= config.check_window {
        st.recent.pop_front();
    }
    st.recent.push_back(ok);
    if wall.is_some() {
        st.last_check = wall;
    }
    st.last_check_ok = Some(ok);
    st.last_response_time = Some(latency);
    st.detail = detail;
    if ok {
        st.consecutive_successes = st.consecutive_successes.saturating_add(1);
        st.consecutive_failures = 0;
        match st.verdict {
            None => st.verdict = Some(Verdict::Healthy),
            Some(Verdict::Unhealthy) if st.consecutive_successes >= config.healthy_after => {
                st.verdict = Some(Verdict::Healthy);
            }
            _ => {}
        }
    } else {
        st.failed_checks = st.failed_checks.saturating_add(1);
        st.consecutive_failures = st.consecutive_failures.saturating_add(1);
        st.consecutive_successes = 0;
        if st.consecutive_failures >= config.unhealthy_after {
            st.verdict = Some(Verdict::Unhealthy);
        }
    }
    if st.schedule != Schedule::Passive {
        st.schedule = Schedule::Idle {
            next_check: now.saturating_add(config.interval_for(service, ok)),
        };
    }
}

/// The status and reason from a service's signals: the worst signal wins; on a tie the check
/// verdict, then the breaker, then the error rate explains it.
fn evaluate(config: &HealthConfig, st: &ServiceState) -> (HealthStatus, HealthReason) {
    let mut best: Option<(HealthStatus, HealthReason)> = None;
    let mut consider = |status: HealthStatus, reason: HealthReason| {
        if best.as_ref().is_none_or(|(b, _)| status.rank() > b.rank()) {
            best = Some((status, reason));
        }
    };
    match st.verdict {
        Some(Verdict::Unhealthy) => {
            let reason = if st.consecutive_successes > 0 {
                HealthReason::Recovering {
                    consecutive_successes: st.consecutive_successes,
                    needed: config.healthy_after,
                }
            } else {
                HealthReason::ChecksFailing {
                    consecutive_failures: st.consecutive_failures,
                }
            };
            consider(HealthStatus::Unhealthy, reason);
        }
        Some(Verdict::Healthy) => {
            let reason = if st.consecutive_failures > 0 {
                HealthReason::ChecksFailing {
                    consecutive_failures: st.consecutive_failures,
                }
            } else {
                HealthReason::ChecksPassing {
                    consecutive_successes: st.consecutive_successes,
                }
            };
            consider(HealthStatus::Healthy, reason);
        }
        None => {}
    }
    match st.breaker {
        BreakerStateKind::Open => consider(HealthStatus::Unhealthy, HealthReason::BreakerOpen),
        BreakerStateKind::HalfOpen => {
            consider(HealthStatus::Degraded, HealthReason::BreakerHalfOpen);
        }
        BreakerStateKind::Closed | BreakerStateKind::Other => {}
    }
    if let Some(rate) = st.error_rate
        && st.requests >= config.min_requests.max(1)
    {
        let status = if rate > config.unhealthy_error_rate {
            HealthStatus::Unhealthy
        } else if rate > config.degraded_error_rate {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        consider(
            status,
            HealthReason::ErrorRate {
                error_rate: rate,
                requests: st.requests,
            },
        );
    }
    best.unwrap_or_else(|| {
        let reason = if st.consecutive_failures > 0 {
            HealthReason::ChecksFailing {
                consecutive_failures: st.consecutive_failures,
            }
        } else {
            HealthReason::NoData
        };
        (HealthStatus::Unknown, reason)
    })
}

fn make_snapshot(service: &str, st: &ServiceState) -> ServiceHealthSnapshot {
    let success_rate = if st.recent.is_empty() {
        None
    } else {
        let ok = st.recent.iter().filter(|&&ok| ok).count();
        Some(ok as f64 / st.recent.len() as f64)
    };
    ServiceHealthSnapshot {
        service: service.to_owned(),
        status: st.status,
        reason: st.reason.clone(),
        last_check: st.last_check,
        last_check_ok: st.last_check_ok,
        last_response_time: st.last_response_time,
        consecutive_failures: st.consecutive_failures,
        consecutive_successes: st.consecutive_successes,
        total_checks: st.total_checks,
        error_count: st.failed_checks,
        success_rate,
        detail: st.detail.clone(),
        breaker: st.breaker,
        error_rate: st.error_rate,
        recent_requests: st.requests,
        active_checks: st.schedule != Schedule::Passive,
        check_in_flight: matches!(st.schedule, Schedule::InFlight { .. }),
        next_check: match st.schedule {
            Schedule::Idle { next_check } => Some(next_check),
            _ => None,
        },
    }
}

fn truncate_detail(mut s: String) -> String {
    if s.len() > MAX_DETAIL_LEN {
        let cut = s.floor_char_boundary(MAX_DETAIL_LEN);
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn wall(s: u64) -> WallClock {
        WallClock::from_unix_secs(1_800_000_000 + s)
    }

    fn ok() -> CheckResult {
        CheckResult::passed(Duration::from_millis(20))
    }

    fn fail() -> CheckResult {
        CheckResult::failed(Duration::from_millis(30), "connection refused")
    }

    fn tracker(cfg: HealthConfig) -> HealthTracker {
        HealthTracker::new(cfg).expect("valid test config")
    }

    fn events(h: &mut HealthTracker) -> Vec<(String, HealthStatus, HealthStatus)> {
        std::iter::from_fn(|| h.poll_event())
            .map(|e| match e {
                HealthEvent::StatusChanged {
                    service, from, to, ..
                } => (service, from, to),
            })
            .collect()
    }

    #[test]
    fn defaults_follow_the_original() {
        let c = HealthConfig::default();
        assert_eq!(c.check_interval, Duration::from_secs(30));
        assert_eq!(c.unhealthy_after, 1);
        assert_eq!(c.healthy_after, 1);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validate_rejects_bad_values() {
        let bad = [
            HealthConfig {
                check_interval: Duration::ZERO,
                ..HealthConfig::default()
            },
            HealthConfig {
                check_timeout: Duration::ZERO,
                ..HealthConfig::default()
            },
            HealthConfig {
                unhealthy_after: 0,
                ..HealthConfig::default()
            },
            HealthConfig {
                healthy_after: 0,
                ..HealthConfig::default()
            },
            HealthConfig {
                degraded_error_rate: f64::NAN,
                ..HealthConfig::default()
            },
            HealthConfig {
                degraded_error_rate: 0.6,
                unhealthy_error_rate: 0.5,
                ..HealthConfig::default()
            },
            HealthConfig {
                unhealthy_error_rate: 1.5,
                ..HealthConfig::default()
            },
            HealthConfig {
                max_services: 0,
                ..HealthConfig::default()
            },
            HealthConfig {
                check_window: 0,
                ..HealthConfig::default()
            },
            HealthConfig {
                services: BTreeMap::from([(
                    "a".to_owned(),
                    ServiceHealthOverride {
                        check_interval: Some(Duration::ZERO),
                        ..ServiceHealthOverride::default()
                    },
                )]),
                ..HealthConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
            assert!(HealthTracker::new(c).is_err());
        }
    }

    #[test]
    fn first_check_is_due_at_once_then_every_interval() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "api").unwrap();
        h.register(t(0), "db").unwrap();
        assert_eq!(h.poll_timeout(), Some(t(0)));
        assert_eq!(h.poll_check_due(t(0)).as_deref(), Some("api"));
        assert_eq!(h.poll_check_due(t(0)).as_deref(), Some("db"));
        assert_eq!(h.poll_check_due(t(0)), None);
        // Both in flight: the deadline is the check timeout.
        assert_eq!(h.poll_timeout(), Some(t(10)));
        assert!(h.on_check_result(t(1), wall(1), "api", ok()));
        assert!(h.on_check_result(t(2), wall(2), "db", ok()));
        assert_eq!(h.poll_timeout(), Some(t(31)));
        assert_eq!(h.poll_check_due(t(30)), None);
        assert_eq!(h.poll_check_due(t(31)).as_deref(), Some("api"));
        assert_eq!(h.poll_timeout(), Some(t(32)));
        h.handle_timeout(t(32));
        assert_eq!(h.poll_check_due(t(32)).as_deref(), Some("db"));
        let snap = h.snapshot("api").unwrap();
        assert!(snap.check_in_flight);
        assert_eq!(snap.next_check, None);
    }

    #[test]
    fn per_service_override_and_passive_services() {
        let cfg = HealthConfig {
            services: BTreeMap::from([
                (
                    "fast".to_owned(),
                    ServiceHealthOverride {
                        check_interval: Some(Duration::from_secs(5)),
                        check_timeout: Some(Duration::from_secs(1)),
                        active_checks: None,
                    },
                ),
                (
                    "quiet".to_owned(),
                    ServiceHealthOverride {
                        active_checks: Some(false),
                        ..ServiceHealthOverride::default()
                    },
                ),
            ]),
            ..HealthConfig::default()
        };
        let mut h = tracker(cfg);
        h.register(t(0), "fast").unwrap();
        h.register(t(0), "quiet").unwrap();
        h.register_passive("other").unwrap();
        assert_eq!(h.poll_check_due(t(0)).as_deref(), Some("fast"));
        assert_eq!(h.poll_check_due(t(0)), None);
        assert_eq!(h.poll_timeout(), Some(t(1)));
        h.on_check_result(t(0), wall(0), "fast", ok());
        assert_eq!(h.poll_timeout(), Some(t(5)));
        assert!(!h.snapshot("quiet").unwrap().active_checks);
        assert!(!h.snapshot("other").unwrap().active_checks);
        // A passive service still accepts results the frontend reports on its own.
        assert!(h.on_check_result(t(1), wall(1), "other", fail()));
        assert_eq!(h.status("other"), HealthStatus::Unhealthy);
        assert_eq!(h.poll_timeout(), Some(t(5)));
    }

    #[test]
    fn unhealthy_after_and_healthy_after_damp_flapping() {
        let mut h = tracker(HealthConfig {
            unhealthy_after: 2,
            healthy_after: 2,
            ..HealthConfig::default()
        });
        h.register(t(0), "api").unwrap();
        assert_eq!(h.status("api"), HealthStatus::Unknown);
        h.on_check_result(t(0), wall(0), "api", ok());
        assert_eq!(h.status("api"), HealthStatus::Healthy);
        assert_eq!(
            events(&mut h),
            vec![(
                "api".to_owned(),
                HealthStatus::Unknown,
                HealthStatus::Healthy
            )]
        );
        h.on_check_result(t(30), wall(30), "api", fail());
        assert_eq!(h.status("api"), HealthStatus::Healthy);
        assert_eq!(
            h.snapshot("api").unwrap().reason,
            HealthReason::ChecksFailing {
                consecutive_failures: 1
            }
        );
        h.on_check_result(t(60), wall(60), "api", fail());
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        h.on_check_result(t(90), wall(90), "api", ok());
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        assert_eq!(
            h.snapshot("api").unwrap().reason,
            HealthReason::Recovering {
                consecutive_successes: 1,
                needed: 2
            }
        );
        h.on_check_result(t(120), wall(120), "api", ok());
        assert_eq!(h.status("api"), HealthStatus::Healthy);
        assert_eq!(
            events(&mut h),
            vec![
                (
                    "api".to_owned(),
                    HealthStatus::Healthy,
                    HealthStatus::Unhealthy
                ),
                (
                    "api".to_owned(),
                    HealthStatus::Unhealthy,
                    HealthStatus::Healthy
                ),
            ]
        );
        let s = h.snapshot("api").unwrap();
        assert_eq!(s.total_checks, 5);
        assert_eq!(s.error_count, 2);
        assert_eq!(s.success_rate, Some(0.6));
        assert_eq!(s.consecutive_successes, 2);
        assert_eq!(s.last_check, Some(wall(120)));
        assert_eq!(s.last_response_time, Some(Duration::from_millis(20)));
    }

    #[test]
    fn default_one_failed_check_is_unhealthy_like_the_original() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "data-service").unwrap();
        h.on_check_result(t(0), wall(0), "data-service", fail());
        assert_eq!(h.status("data-service"), HealthStatus::Unhealthy);
        let s = h.snapshot("data-service").unwrap();
        assert_eq!(s.detail.as_deref(), Some("connection refused"));
        assert_eq!(s.success_rate, Some(0.0));
        assert_eq!(s.error_count, 1);
    }

    #[test]
    fn breaker_open_is_unhealthy_and_half_open_degraded() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "api").unwrap();
        h.on_check_result(t(0), wall(0), "api", ok());
        let _ = events(&mut h);
        h.on_breaker_state(t(1), "api", BreakerStateKind::Open);
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        assert_eq!(h.snapshot("api").unwrap().reason, HealthReason::BreakerOpen);
        h.on_breaker_state(t(2), "api", BreakerStateKind::HalfOpen);
        assert_eq!(h.status("api"), HealthStatus::Degraded);
        h.on_breaker_state(t(3), "api", BreakerStateKind::Closed);
        assert_eq!(h.status("api"), HealthStatus::Healthy);
        h.on_breaker_state(t(4), "api", BreakerStateKind::Other);
        assert_eq!(h.status("api"), HealthStatus::Healthy);
        assert_eq!(
            events(&mut h),
            vec![
                (
                    "api".to_owned(),
                    HealthStatus::Healthy,
                    HealthStatus::Unhealthy
                ),
                (
                    "api".to_owned(),
                    HealthStatus::Unhealthy,
                    HealthStatus::Degraded
                ),
                (
                    "api".to_owned(),
                    HealthStatus::Degraded,
                    HealthStatus::Healthy
                ),
            ]
        );
    }

    #[test]
    fn breaker_open_without_checks_is_unhealthy() {
        let mut h = tracker(HealthConfig::default());
        h.register_passive("api").unwrap();
        h.on_breaker_state(t(1), "api", BreakerStateKind::Open);
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
    }

    #[test]
    fn error_rate_degrades_only_with_enough_requests() {
        let mut h = tracker(HealthConfig::default());
        h.register_passive("api").unwrap();
        h.on_error_rate(t(1), "api", 1.0, 3);
        assert_eq!(h.status("api"), HealthStatus::Unknown);
        h.on_error_rate(t(2), "api", 0.05, 100);
        assert_eq!(h.status("api"), HealthStatus::Healthy);
        h.on_error_rate(t(3), "api", 0.1, 100);
        assert_eq!(h.status("api"), HealthStatus::Healthy, "strictly above");
        h.on_error_rate(t(4), "api", 0.2, 100);
        assert_eq!(h.status("api"), HealthStatus::Degraded);
        assert_eq!(
            h.snapshot("api").unwrap().reason,
            HealthReason::ErrorRate {
                error_rate: 0.2,
                requests: 100
            }
        );
        h.on_error_rate(t(5), "api", 0.75, 100);
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        h.on_error_rate(t(6), "api", f64::NAN, 100);
        assert_eq!(h.status("api"), HealthStatus::Unhealthy, "NaN ignored");
        h.on_error_rate(t(7), "api", 7.0, 100);
        assert_eq!(h.snapshot("api").unwrap().error_rate, Some(1.0));
        // Traffic stops: the rate no longer counts.
        h.on_error_rate(t(8), "api", 0.0, 0);
        assert_eq!(h.status("api"), HealthStatus::Unknown);
    }

    #[test]
    fn worst_signal_wins() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "api").unwrap();
        h.on_check_result(t(0), wall(0), "api", ok());
        h.on_error_rate(t(1), "api", 0.3, 50);
        assert_eq!(h.status("api"), HealthStatus::Degraded);
        h.on_check_result(t(30), wall(30), "api", fail());
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        assert!(matches!(
            h.snapshot("api").unwrap().reason,
            HealthReason::ChecksFailing { .. }
        ));
    }

    #[test]
    fn check_timeout_counts_as_failure_and_late_result_is_ignored() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "api").unwrap();
        assert_eq!(h.poll_check_due(t(0)).as_deref(), Some("api"));
        h.on_check_result(t(0), wall(0), "api", ok());
        assert_eq!(h.poll_check_due(t(30)).as_deref(), Some("api"));
        assert_eq!(h.poll_timeout(), Some(t(40)));
        h.handle_timeout(t(40));
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        let s = h.snapshot("api").unwrap();
        assert_eq!(s.error_count, 1);
        assert_eq!(s.last_response_time, Some(Duration::from_secs(10)));
        assert_eq!(
            s.detail.as_deref(),
            Some("health check timed out after 10s")
        );
        // Dated from the last (now, wall) pair: wall(0) + 40 s.
        assert_eq!(s.last_check, Some(wall(40)));
        assert_eq!(s.next_check, Some(t(70)));
        // The late answer of the timed-out check is dropped once.
        assert!(!h.on_check_result(t(41), wall(41), "api", ok()));
        assert_eq!(h.status("api"), HealthStatus::Unhealthy);
        assert_eq!(h.snapshot("api").unwrap().total_checks, 2);
        // A later on-demand result counts again.
        assert!(h.on_check_result(t(42), wall(42), "api", ok()));
        assert_eq!(h.status("api"), HealthStatus::Healthy);
    }

    #[test]
    fn deadlines_never_stuck_in_the_past() {
        let mut h = tracker(HealthConfig::default());
        for name in ["a", "b", "c"] {
            h.register(t(0), name).unwrap();
        }
        let mut now = t(0);
        for step in 0..200u64 {
            h.handle_timeout(now);
            if let Some(d) = h.poll_timeout() {
                assert!(d > now, "deadline {d:?} not after {now:?}");
            }
            // Answer only some checks; others time out.
            while let Some(s) = h.poll_check_due(now) {
                if step % 3 != 0 {
                    h.on_check_result(now, wall(now.as_micros() / 1_000_000), &s, ok());
                }
            }
            if let Some(d) = h.poll_timeout() {
                assert!(d > now);
            }
            now = h
                .poll_timeout()
                .unwrap_or(now.saturating_add(Duration::from_secs(1)));
        }
        assert!(now > t(1000));
    }

    #[test]
    fn check_now_and_unregister() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "a").unwrap();
        h.register(t(0), "b").unwrap();
        while let Some(s) = h.poll_check_due(t(0)) {
            h.on_check_result(t(0), wall(0), &s, ok());
        }
        assert_eq!(h.poll_check_due(t(5)), None);
        h.check_now(t(5), Some("b"));
        assert_eq!(h.poll_timeout(), Some(t(5)));
        assert_eq!(h.poll_check_due(t(5)).as_deref(), Some("b"));
        h.check_now(t(6), None);
        h.handle_timeout(t(6));
        assert!(h.unregister("a"));
        assert!(!h.unregister("a"));
        assert_eq!(h.poll_check_due(t(6)), None, "a was queued, then removed");
        assert_eq!(h.status("a"), HealthStatus::Unknown);
        assert!(!h.on_check_result(t(7), wall(7), "a", ok()));
        assert_eq!(h.services().collect::<Vec<_>>(), vec!["b"]);
    }

    #[test]
    fn bounded_services_and_events() {
        let mut h = tracker(HealthConfig {
            max_services: 2,
            ..HealthConfig::default()
        });
        h.register(t(0), "a").unwrap();
        h.register(t(0), "b").unwrap();
        h.register(t(0), "a").unwrap();
        assert_eq!(h.register(t(0), "c"), Err(TooManyServices { limit: 2 }));
        assert_eq!(h.register_passive("c"), Err(TooManyServices { limit: 2 }));
        for i in 0..(MAX_PENDING_EVENTS as u64 + 10) {
            let state = if i % 2 == 0 {
                BreakerStateKind::Open
            } else {
                BreakerStateKind::Closed
            };
            h.on_breaker_state(t(i), "a", state);
        }
        assert_eq!(h.dropped_events(), 10);
        assert_eq!(events(&mut h).len(), MAX_PENDING_EVENTS);
    }

    #[test]
    fn long_detail_is_truncated_on_a_char_boundary() {
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "a").unwrap();
        let detail = "é".repeat(MAX_DETAIL_LEN);
        h.on_check_result(
            t(0),
            wall(0),
            "a",
            CheckResult::failed(Duration::ZERO, detail),
        );
        let d = h.snapshot("a").unwrap().detail.unwrap();
        assert_eq!(d.len(), MAX_DETAIL_LEN);
        assert!(d.chars().all(|c| c == 'é'));
    }

    #[test]
    fn serde_shapes() {
        assert_eq!(
            serde_json::to_string(&HealthStatus::Unhealthy).unwrap(),
            "\"unhealthy\""
        );
        assert_eq!(
            serde_json::to_string(&BreakerStateKind::HalfOpen).unwrap(),
            "\"half_open\""
        );
        let mut h = tracker(HealthConfig::default());
        h.register(t(0), "api").unwrap();
        h.on_check_result(t(0), wall(0), "api", ok());
        let v = serde_json::to_value(h.snapshot("api").unwrap()).unwrap();
        assert_eq!(v["status"], "healthy");
        assert_eq!(v["reason"]["kind"], "checks_passing");
        assert_eq!(v["success_rate"], 1.0);
        let e = serde_json::to_value(h.poll_event().unwrap()).unwrap();
        assert_eq!(e["event"], "status_changed");
        assert_eq!(e["from"], "unknown");
        assert_eq!(e["to"], "healthy");
        let cfg: HealthConfig = serde_json::from_str(r#"{"unhealthy_after": 3}"#).unwrap();
        assert_eq!(cfg.unhealthy_after, 3);
        assert_eq!(cfg.check_interval, DEFAULT_CHECK_INTERVAL);
        let back: HealthConfig =
            serde_json::from_str(&serde_json::to_string(&HealthConfig::default()).unwrap())
                .unwrap();
        assert_eq!(back, HealthConfig::default());
    }
}
