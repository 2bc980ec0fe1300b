//! Everything that is not one request: timers ([`Engine::handle_timeout`]), health checks,
//! system samples, alert evaluation, and moving the machines' events to the output queue.

use super::Engine;
use super::config::DEFAULT_ALERT_INTERVAL;
use super::decision::{EngineEvent, Output};
use crate::alerts::{AlertInput, SystemSignals};
use crate::breaker::{BreakerEvent, BreakerState};
use crate::export::SystemSample;
use crate::health::{BreakerStateKind, CheckResult, TooManyServices};
use crate::{Timestamp, WallClock};

/// A system sample is used by alert evaluations for this many alert intervals; older than that,
/// the system numbers count as missing and the system alerts hold where they are (a frontend
/// that stopped sampling must not keep alerting on an old CPU reading, nor resolve on one).
const SYSTEM_SAMPLE_INTERVALS: u32 = 3;

/// (B) Inputs that are not one request's: timers, health checks, system samples, alerts.
/// After each, drain [`Engine::poll_output`].
impl Engine {
    /// Runs timers: breaker transitions and probe timeouts, due health checks
    /// ([`Output::CheckDue`]), periodic alert evaluation. Call it when
    /// [`poll_timeout`](Self::poll_timeout) fires; calling it early or twice is harmless.
    /// Afterwards [`poll_timeout`](Self::poll_timeout) is later than `now`, or `None`.
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
            let interval = self.config.alert_interval.unwrap_or(DEFAULT_ALERT_INTERVAL);
            self.next_alert_eval = Some(now.saturating_add(interval));
            self.evaluate_alerts(now, wall);
        }
        self.pump_events(now);
    }

    /// Schedules active health checks of `service`: [`Output::CheckDue`] names it whenever a
    /// check is due (the first one at the next [`handle_timeout`](Self::handle_timeout)), and
    /// [`on_check_result`](Self::on_check_result) reports it. The service also appears in
    /// metrics from now on. Fails only when health already tracks its maximum of services.
    pub fn register_health_check(
        &mut self,
        now: Timestamp,
        service: &str,
    ) -> Result<(), TooManyServices> {
        self.metrics.register(service);
        self.health.register(now, service)
    }

    /// Makes every registered check of `service` (all services when `None`) due now, so the
    /// next [`handle_timeout`](Self::handle_timeout) asks for it.
    pub fn check_health_now(&mut self, now: Timestamp, service: Option<&str>) {
        self.health.check_now(now, service);
    }

    /// Reports a health check's result. Returns whether it was taken: `false` for a service
    /// that is not registered, or for a result that arrives after its check timed out (the
    /// check was counted as failed then).
    pub fn on_check_result(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        service: &str,
        result: CheckResult,
    ) -> bool {
        self.last_wall = wall;
        let taken = self.health.on_check_result(now, wall, service, result);
        self.pump_events(now);
        taken
    }

    /// The latest host sample (CPU, memory) for the system alert rules, taken at `now`. It is
    /// used until a newer one arrives, for at most three alert intervals.
    pub fn on_system_sample(&mut self, now: Timestamp, sample: &SystemSample) {
        self.system = Some((
            now,
            SystemSignals {
                cpu_percent: sample.cpu_percent,
                memory_percent: sample.memory_percent,
            },
        ));
    }

    /// Evaluates the alert rules now over the metrics since the previous evaluation, and feeds
    /// the same window's error rates to health tracking. [`handle_timeout`](Self::handle_timeout)
    /// does this every [`alert_interval`](crate::EngineConfig::alert_interval).
    pub fn evaluate_alerts(&mut self, now: Timestamp, wall: WallClock) {
        self.last_wall = wall;
        let snap = self.metrics.snapshot(wall);
        let max_age =
            self.config.alert_interval.unwrap_or(DEFAULT_ALERT_INTERVAL) * SYSTEM_SAMPLE_INTERVALS;
        let system = self
            .system
            .filter(|(at, _)| now.saturating_duration_since(*at) <= max_age)
            .map(|(_, s)| s);
        let mut input = AlertInput {
            system,
            services: Vec::with_capacity(snap.services.len()),
        };
        for (name, totals) in &snap.services {
            let mut signals = self.window.advance(name, totals);
            self.health
                .on_error_rate(now, name, signals.error_rate, signals.requests_in_window);
            signals.breaker_open = self
                .breakers
                .get(name)
                .is_some_and(|b| matches!(b.state(), BreakerState::Open | BreakerState::Isolated));
            signals.health = self
                .health
                .is_registered(name)
                .then(|| self.health.status(name));
            input.services.push(signals);
        }
        // Health-only monitors (never used for requests) still get `service_unhealthy`.
        for h in self.health.snapshots() {
            if !input.services.iter().any(|s| s.name == h.service) {
                let mut sig = crate::alerts::ServiceSignals::idle(h.service.clone());
                sig.health = Some(h.status);
                input.services.push(sig);
            }
        }
        self.alerts.evaluate(now, wall, &input);
        self.pump_events(now);
    }

    /// Moves the machines' events into the output queue, and lets breaker transitions reach
    /// metrics and health. Every public input and command ends with it, so a driver only ever
    /// drains [`Engine::poll_output`].
    pub(super) fn pump_events(&mut self, now: Timestamp) {
        while let Some(ev) = self.breakers.poll_event() {
            let BreakerEvent::StateChanged { to, .. } = ev.event;
            self.metrics.on_breaker_transition(&ev.name, to.as_str());
            let kind = match to {
                BreakerState::Closed | BreakerState::Disabled => BreakerStateKind::Closed,
                BreakerState::Open | BreakerState::Isolated => BreakerStateKind::Open,
                BreakerState::HalfOpen => BreakerStateKind::HalfOpen,
            };
            if self.health.is_registered(&ev.name) {
                self.health.on_breaker_state(now, &ev.name, kind);
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
}
