//! [`MonitorState`]: the monitor's memory and judgement, without any I/O.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{
    CollectedServices, Collection, HealthResult, HealthSummary, MonitorSnapshot,
    PerformanceSummary, ServiceView, summarize,
};
use crate::alerts::{
    AlertConfig, AlertEngine, AlertEvent, AlertInput, ServiceSignals, SignalWindow, SystemSignals,
};
use crate::export::{ExportSnapshot, SystemSample};
use crate::metrics::ServiceSnapshot;
use crate::{ConfigError, Timestamp, WallClock};

/// Default number of collections kept (the original's `max_history_size`).
pub const DEFAULT_HISTORY_CAPACITY: usize = 1000;

/// Default number of recent checks a monitor's `success_rate` covers.
pub const DEFAULT_CHECK_WINDOW: usize = 100;

/// Default bound on the number of health monitors.
pub const DEFAULT_MAX_MONITORS: usize = 1024;

/// Configuration of a [`MonitorState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateConfig {
    /// Collections kept, oldest dropped first (default 1000). Must be ≥ 1.
    pub history_capacity: usize,
    /// Recent checks each monitor's `success_rate` covers (default 100). Must be ≥ 1.
    pub check_window: usize,
    /// Most health monitors (default 1024); results for more names are dropped. Must be ≥ 1.
    pub max_monitors: usize,
    /// The alert rules and the alert history's bounds.
    pub alerts: AlertConfig,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            history_capacity: DEFAULT_HISTORY_CAPACITY,
            check_window: DEFAULT_CHECK_WINDOW,
            max_monitors: DEFAULT_MAX_MONITORS,
            alerts: AlertConfig::default(),
        }
    }
}

impl StateConfig {
    /// Checks the bounds and the alert configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.history_capacity == 0 {
            return Err(ConfigError::invalid(
                "monitor.history_capacity",
                "must be >= 1",
            ));
        }
        if self.check_window == 0 {
            return Err(ConfigError::invalid("monitor.check_window", "must be >= 1"));
        }
        if self.max_monitors == 0 {
            return Err(ConfigError::invalid("monitor.max_monitors", "must be >= 1"));
        }
        self.alerts.validate()
    }
}

/// One registered service as a collection sees it: what the routes show, and the cumulative
/// totals the alert rules turn into a window.
#[derive(Clone, Debug)]
pub struct ServiceSample {
    /// The service's metrics and breaker.
    pub view: ServiceView,
    /// The service's cumulative metrics in the engine's own form.
    pub totals: ServiceSnapshot,
}

/// What one health monitor has seen.
#[derive(Clone, Debug)]
struct MonitorRecord {
    name: String,
    latest: Option<HealthResult>,
    failed: u64,
    recent: VecDeque<bool>,
}

impl MonitorRecord {
    fn summary(&self) -> Option<HealthSummary> {
        let latest = self.latest.as_ref()?;
        let passed = self.recent.iter().filter(|ok| **ok).count();
        Some(HealthSummary {
            status: latest.status(),
            response_time: latest.check_time,
            last_check: latest.last_check,
            error_count: self.failed,
            success_rate: if self.recent.is_empty() {
                0.0
            } else {
                passed as f64 / self.recent.len() as f64
            },
        })
    }
}

/// The monitor's state: health results by monitor, the bounded history of collections, and the
/// alert engine that judges every collection. A `&mut self` state machine: time comes in as
/// arguments, and the frontend does every check, sample and read.
///
/// # Design
///
/// The original `PerformanceMonitor` collected on every read (a `GET` ran a health sweep, blocked
/// its event loop for a one-second CPU sample, and appended to its history and its alerts),
/// appended an alert on every collection while a condition held, and raised an error alert for
/// every idle service. Here:
///
/// * health results arrive whenever a check finishes ([`record_check`](Self::record_check));
///   each monitor keeps its latest result, a failure count and a window of recent outcomes;
/// * a collection ([`collect`](Self::collect)) is taken by the frontend on its own schedule, from
///   the latest system sample, each service's metrics and the latest health results; it joins a
///   bounded history;
/// * every collection is judged by the core's [`AlertEngine`] over the requests *since the
///   previous collection*: an alert fires once while its condition holds and resolves once,
///   and a service with no requests in the window never raises an error-rate or latency alert;
/// * reading (the routes) never changes anything.
#[derive(Debug)]
pub struct MonitorState {
    config: StateConfig,
    monitors: Vec<MonitorRecord>,
    history: VecDeque<Arc<Collection>>,
    alerts: AlertEngine,
    window: SignalWindow,
    dropped_results: u64,
}

impl MonitorState {
    /// An empty state.
    pub fn new(config: StateConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let alerts = AlertEngine::new(config.alerts.clone())?;
        Ok(MonitorState {
            config,
            monitors: Vec::new(),
            history: VecDeque::new(),
            alerts,
            window: SignalWindow::default(),
            dropped_results: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    /// Reserves `name`'s place in the order monitors are listed (registration order), before
    /// its first result. Returns `false` when `max_monitors` are registered already.
    pub fn register_monitor(&mut self, name: &str) -> bool {
        if self.monitors.iter().any(|m| m.name == name) {
            return true;
        }
        if self.monitors.len() >= self.config.max_monitors {
            return false;
        }
        self.monitors.push(MonitorRecord {
            name: name.to_owned(),
            latest: None,
            failed: 0,
            recent: VecDeque::new(),
        });
        true
    }

    /// Forgets the monitor `name` and its results; returns whether it was known.
    pub fn remove_monitor(&mut self, name: &str) -> bool {
        let before = self.monitors.len();
        self.monitors.retain(|m| m.name != name);
        self.monitors.len() != before
    }

    /// The registered monitors' names, in registration order.
    pub fn monitor_names(&self) -> impl Iterator<Item = &str> {
        self.monitors.iter().map(|m| m.name.as_str())
    }

    /// Takes the result of one check of `name` (registering it if needed). Returns `false`, and
    /// counts the result as dropped, when `name` is new and `max_monitors` are registered.
    pub fn record_check(&mut self, name: &str, result: HealthResult) -> bool {
        if !self.register_monitor(name) {
            self.dropped_results = self.dropped_results.saturating_add(1);
            return false;
        }
        let window = self.config.check_window;
        let Some(m) = self.monitors.iter_mut().find(|m| m.name == name) else {
            return false;
        };
        if !result.healthy {
            m.failed = m.failed.saturating_add(1);
        }
        if m.recent.len() >= window {
            m.recent.pop_front();
        }
        m.recent.push_back(result.healthy);
        m.latest = Some(result);
        true
    }

    /// Results refused because too many monitors were registered.
    pub fn dropped_results(&self) -> u64 {
        self.dropped_results
    }

    /// The latest result of every monitor that has one, in registration order.
    pub fn health(&self) -> impl Iterator<Item = (&str, &HealthResult)> {
        self.monitors
            .iter()
            .filter_map(|m| Some((m.name.as_str(), m.latest.as_ref()?)))
    }

    /// The latest result of the monitor `name`.
    pub fn health_of(&self, name: &str) -> Option<&HealthResult> {
        self.monitors
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.latest.as_ref())
    }

    /// Takes a collection at `now` / `wall` from the latest host sample (`None`: zeros, as the
    /// original when the host could not be read), the registered services (in registration
    /// order) and the latest health results; appends it to the history (dropping the oldest
    /// beyond `history_capacity`) and evaluates the alert rules over it. Drain
    /// [`poll_alert_event`](Self::poll_alert_event) afterwards.
    pub fn collect(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        system: Option<SystemSample>,
        services: &[ServiceSample],
    ) -> Arc<Collection> {
        let collection = Arc::new(Collection {
            timestamp: wall,
            system: system.unwrap_or_default(),
            services: CollectedServices {
                service_clients: services
                    .iter()
                    .map(|s| (s.view.name.clone(), s.view.metrics.clone()))
                    .collect(),
                global_health: self
                    .health()
                    .map(|(n, h)| (n.to_owned(), h.clone()))
                    .collect(),
            },
            health: self
                .monitors
                .iter()
                .filter_map(|m| Some((m.name.clone(), m.summary()?)))
                .collect(),
        });
        if self.history.len() >= self.config.history_capacity {
            self.history.pop_front();
        }
        self.history.push_back(Arc::clone(&collection));
        let input = self.alert_input(system, services);
        self.alerts.evaluate(now, wall, &input);
        collection
    }

    /// The alert rules' view of one collection: the system numbers, each service's signals over
    /// the window since the previous collection with its breaker and health, and every other
    /// health monitor as an idle service (so `service_unhealthy` covers it too).
    fn alert_input(
        &mut self,
        system: Option<SystemSample>,
        services: &[ServiceSample],
    ) -> AlertInput {
        let mut input = AlertInput {
            system: system.map(|s| SystemSignals {
                cpu_percent: s.cpu_percent,
                memory_percent: s.memory_percent,
            }),
            services: Vec::with_capacity(services.len()),
        };
        for s in services {
            let mut signals = self.window.advance(&s.view.name, &s.totals);
            signals.breaker_open = s.view.circuit_breaker.state == "OPEN";
            signals.health = self.health_of(&s.view.name).map(HealthResult::status);
            input.services.push(signals);
        }
        for (name, h) in self.health() {
            if !services.iter().any(|s| s.view.name == name) {
                let mut signals = ServiceSignals::idle(name);
                signals.health = Some(h.status());
                input.services.push(signals);
            }
        }
        input
    }

    /// The next alert that fired or resolved, oldest first.
    pub fn poll_alert_event(&mut self) -> Option<AlertEvent> {
        self.alerts.poll_event()
    }

    /// The alert engine (rules, firing alerts, history).
    pub fn alerts(&self) -> &AlertEngine {
        &self.alerts
    }

    /// Sets the threshold of the alert rule `rule` (see [`AlertEngine::set_threshold`]).
    pub fn set_alert_threshold(&mut self, rule: &str, threshold: f64) -> Result<(), ConfigError> {
        self.alerts.set_threshold(rule, threshold)
    }

    /// Enables or disables the alert rule `rule`.
    pub fn set_alert_enabled(&mut self, rule: &str, enabled: bool) -> Result<(), ConfigError> {
        self.alerts.set_enabled(rule, enabled)
    }

    /// The collections, oldest first.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &Arc<Collection>> + ExactSizeIterator {
        self.history.iter()
    }

    /// The latest collection.
    pub fn latest(&self) -> Option<&Arc<Collection>> {
        self.history.back()
    }

    /// What the routes read: this state's history (shared, not copied), health results and
    /// alerts, with the registered services' live `services` view and the exporters' input
    /// `export`, both read by the frontend at the same moment.
    pub fn snapshot(&self, services: Vec<ServiceView>, export: ExportSnapshot) -> MonitorSnapshot {
        MonitorSnapshot {
            history: self.history.iter().cloned().collect(),
            services,
            health: self
                .health()
                .map(|(n, h)| (n.to_owned(), h.clone()))
                .collect(),
            alerts: self.alerts.history(None, None).cloned().collect(),
            export,
        }
    }

    /// The original `get_performance_summary()` at `wall` (`None`, written `{}`, when no
    /// collection is younger than an hour).
    pub fn performance_summary(&self, wall: WallClock) -> Option<PerformanceSummary> {
        let recent = self.history.iter().map(AsRef::as_ref);
        let firing = self.alerts.active();
        summarize(recent, firing, self.history.len(), wall)
    }
}
