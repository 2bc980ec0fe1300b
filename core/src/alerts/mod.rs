//! Threshold alert rules with severities, a firing / resolved lifecycle, de-duplication,
//! hysteresis and a bounded history.
//!
//! The design notes are on [`AlertEngine`].

mod rule;
mod window;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::HealthStatus;
use crate::{ConfigError, Timestamp, WallClock};

pub use rule::{AlertRule, DEFAULT_HYSTERESIS, LatencyStat, RuleKind, Severity, default_rules};
#[cfg_attr(
    not(test),
    expect(unused_imports, reason = "the tests name rules by constant")
)]
pub(crate) use rule::{
    BREAKER_OPEN, CACHE_HIT_RATIO_LOW, SERVICE_ERRORS, SERVICE_SLOW, SERVICE_UNHEALTHY,
    SYSTEM_CPU_HIGH, SYSTEM_MEMORY_HIGH,
};
pub(crate) use window::SignalWindow;

/// Default number of alerts kept in the history (the original's `max_history_size`).
pub const DEFAULT_HISTORY_CAPACITY: usize = 1000;

/// Default retention of resolved alerts: 24 h, as the original.
pub const DEFAULT_RETENTION: Duration = Duration::from_hours(24);

/// Configuration of the [`AlertEngine`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertConfig {
    /// The rules (default [`default_rules`]). Names must be unique.
    pub rules: Vec<AlertRule>,
    /// Most alerts kept in the history, oldest dropped first (default 1000). Must be ≥ 1.
    pub history_capacity: usize,
    /// Resolved alerts older than this (by `resolved_at`) leave the history at the next
    /// evaluation (default 24 h; `None`: only the capacity bounds it).
    pub retention: Option<Duration>,
    /// Most `(rule, service)` instances pending or firing at once (default 10 000). Beyond it new
    /// instances are not created (and counted in `dropped_instances`). Must be ≥ 1.
    pub max_instances: usize,
    /// Most undrained events kept, oldest dropped first (default 1024). Must be ≥ 1.
    pub max_pending_events: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            rules: default_rules(),
            history_capacity: DEFAULT_HISTORY_CAPACITY,
            retention: Some(DEFAULT_RETENTION),
            max_instances: 10_000,
            max_pending_events: 1024,
        }
    }
}

impl AlertConfig {
    /// Checks every rule (see [`AlertRule::validate`]), unique names, and the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_rules(&self.rules)?;
        if self.history_capacity == 0 {
            return Err(ConfigError::invalid(
                "alerts.history_capacity",
                "must be >= 1",
            ));
        }
        if self.max_instances == 0 {
            return Err(ConfigError::invalid("alerts.max_instances", "must be >= 1"));
        }
        if self.max_pending_events == 0 {
            return Err(ConfigError::invalid(
                "alerts.max_pending_events",
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

fn validate_rules(rules: &[AlertRule]) -> Result<(), ConfigError> {
    let mut names = BTreeSet::new();
    for r in rules {
        r.validate()?;
        if !names.insert(r.name.as_str()) {
            return Err(ConfigError::invalid("alerts.rules.name", "must be unique"));
        }
    }
    Ok(())
}

/// System numbers for the system rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemSignals {
    /// CPU usage, 0–100.
    pub cpu_percent: f64,
    /// Memory usage, 0–100.
    pub memory_percent: f64,
}

/// Per-service numbers for the service rules, over the engine's recent window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSignals {
    /// The service name.
    pub name: String,
    /// Requests completed in the window.
    pub requests_in_window: u64,
    /// Mean response time in ms.
    pub avg_response_ms: f64,
    /// 95th-percentile response time in ms.
    pub p95_response_ms: f64,
    /// Failed share of the window's requests, 0–1.
    pub error_rate: f64,
    /// Whether the service's breaker is open.
    pub breaker_open: bool,
    /// Health status, if the service is tracked by health.
    pub health: Option<HealthStatus>,
    /// Cache lookups in the window.
    pub cache_lookups: u64,
    /// Hit share of those lookups, 0–1.
    pub cache_hit_ratio: f64,
}

impl ServiceSignals {
    /// Signals for `name` with every number zero (an idle service).
    pub fn idle(name: impl Into<String>) -> Self {
        ServiceSignals {
            name: name.into(),
            ..ServiceSignals::default()
        }
    }
}

/// Everything one evaluation looks at.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertInput {
    /// System numbers; `None` when not sampled this time (system instances are then held).
    pub system: Option<SystemSignals>,
    /// One entry per known service (a service missing here resolves its alerts; a repeated name
    /// is ignored after its first entry).
    pub services: Vec<ServiceSignals>,
}

/// One alert occurrence: fired once, resolved at most once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique, increasing from 1 in firing order.
    pub id: u64,
    /// The rule name, the original's alert `type` (e.g. `service_errors`).
    #[serde(rename = "type")]
    pub alert_type: String,
    /// The service, for service rules (absent for system rules, as in the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Text in the original's wording, e.g. `Service api success rate is 0.00%`.
    pub message: String,
    /// The measured value when it fired (1.0 for yes/no rules).
    pub value: f64,
    /// The rule's threshold when it fired.
    pub threshold: f64,
    /// When it fired.
    pub fired_at: WallClock,
    /// When it resolved, if it has.
    pub resolved_at: Option<WallClock>,
}

impl Alert {
    /// Whether it is still firing.
    pub fn is_active(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// A change in the set of firing alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "alert", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertEvent {
    /// A new alert fired.
    Fired(Alert),
    /// A firing alert resolved (`resolved_at` is set).
    Resolved(Alert),
}

/// Serializable state of the alert engine, for reports and dashboards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertsSnapshot {
    /// Firing alerts, oldest first.
    pub active: Vec<Alert>,
    /// The history (firing and resolved), oldest first.
    pub history: Vec<Alert>,
    /// `(rule, service)` instances waiting out their `for_duration`.
    pub pending: usize,
    /// The rules.
    pub rules: Vec<AlertRule>,
    /// Events dropped because they were not drained.
    pub dropped_events: u64,
    /// Instances not created because `max_instances` was reached.
    pub dropped_instances: u64,
}

type InstanceKey = (String, Option<String>);

#[derive(Clone, Debug)]
enum Instance {
    Pending {
        since: Timestamp,
    },
    Firing {
        alert: Alert,
        /// Since when the value has been clear (for `resolve_after`).
        clear_since: Option<Timestamp>,
    },
}

/// What a rule sees of one target at one evaluation.
#[derive(Clone, Copy, Debug)]
enum Reading {
    /// Fires when the value is above the threshold.
    Above(f64),
    /// Fires when the value is below the threshold.
    Below(f64),
    /// A yes/no condition.
    Flag(bool),
    /// Not enough data: never fires, counts as clear.
    Idle,
    /// No data this time: hold the instance where it is.
    Hold,
}

/// The alert engine. A `&mut self` state machine; see the module docs.
///
/// # Design
///
/// The original appended a new alert record on every collection while a condition held (no
/// de-duplication, no resolution, no cap within 24 h) and alerted on every idle client because
/// its success rate was 0.0 with no requests. Here each `(rule, service)` pair is one alert
/// *instance* that fires once, stays firing while the condition holds, and resolves once.
///
/// The engine knows nothing of the metrics module: the caller fills an [`AlertInput`] with plain
/// numbers and calls [`AlertEngine::evaluate`] whenever it has fresh numbers (for example after
/// each metrics collection). Alerts have no timers of their own: `for_duration` and
/// `resolve_after` are checked at each evaluation, so there is no `poll_timeout`.
///
/// # Lifecycle of one `(rule, service)` instance
///
/// ```text
///   Inactive ──condition true──► Pending ──held for for_duration──► Firing ──► emits Fired (once)
///      ▲  │                         │                                │  ▲
///      │  └── for_duration = 0 ─────┼───────────────────────────────►│  │ not clear (value still
///      │                            │                                │  │ in the hysteresis band):
///      ├──── condition false ───────┘                                ├──┘ stays firing, no event
///      │                                                             │
///      └── Resolved (emits Resolved) ◄──── clear for resolve_after ──┘
///
///   clear = value at or past threshold ∓ hysteresis, service idle or gone, rule removed or disabled
/// ```
///
/// A firing instance never fires again (de-duplication). A new firing after a resolution is a
/// new alert with a new id. "Idle" means too few requests (or lookups) in the window: an idle
/// service never fires and counts as clear. Missing system numbers (`system: None`) hold the
/// system instances where they are.
#[derive(Clone, Debug)]
pub struct AlertEngine {
    config: AlertConfig,
    instances: BTreeMap<InstanceKey, Instance>,
    history: VecDeque<Alert>,
    events: VecDeque<AlertEvent>,
    next_id: u64,
    dropped_events: u64,
    dropped_instances: u64,
}

impl AlertEngine {
    /// An engine with no alerts.
    pub fn new(config: AlertConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(AlertEngine {
            config,
            instances: BTreeMap::new(),
            history: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            dropped_events: 0,
            dropped_instances: 0,
        })
    }

    /// The configuration in use (with the current rules).
    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// The rules.
    pub fn rules(&self) -> &[AlertRule] {
        &self.config.rules
    }

    /// Replaces the rules (validated first; on error nothing changes). Instances of rules that
    /// keep their name continue; alerts of removed rules resolve at the next evaluation.
    pub fn set_rules(&mut self, rules: Vec<AlertRule>) -> Result<(), ConfigError> {
        validate_rules(&rules)?;
        self.config.rules = rules;
        Ok(())
    }

    /// Sets the threshold of the rule named `rule` (e.g. `service_errors`). NaN, negative, or out
    /// of range for the kind (percent ≤ 100, ratio ≤ 1), or an unknown rule, is a `ConfigError`.
    /// Firing alerts keep the threshold they fired with; the new one applies from the next
    /// evaluation.
    pub fn set_threshold(&mut self, rule: &str, threshold: f64) -> Result<(), ConfigError> {
        let r = self.rule_mut(rule)?;
        r.kind.validate_threshold(threshold)?;
        r.threshold = threshold;
        Ok(())
    }

    /// Enables or disables the rule named `rule`; a disabled rule's alerts resolve at the next
    /// evaluation.
    pub fn set_enabled(&mut self, rule: &str, enabled: bool) -> Result<(), ConfigError> {
        self.rule_mut(rule)?.enabled = enabled;
        Ok(())
    }

    fn rule_mut(&mut self, rule: &str) -> Result<&mut AlertRule, ConfigError> {
        self.config
            .rules
            .iter_mut()
            .find(|r| r.name == rule)
            .ok_or(ConfigError::invalid(
                "alerts.rules.name",
                "no rule with that name",
            ))
    }

    /// Runs every enabled rule over `input`. `now` times `for_duration` / `resolve_after`;
    /// `wall` dates the alerts and ages the history. Drain [`AlertEngine::poll_event`] afterwards.
    pub fn evaluate(&mut self, now: Timestamp, wall: WallClock, input: &AlertInput) {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let services: Vec<&ServiceSignals> = input
            .services
            .iter()
            .filter(|s| seen.insert(s.name.as_str()))
            .collect();
        let rules = std::mem::take(&mut self.config.rules);
        for rule in rules.iter().filter(|r| r.enabled) {
            if rule.kind.is_system() {
                let reading = system_reading(rule.kind, input.system.as_ref());
                self.step(rule, None, reading, now, wall);
            } else {
                for svc in &services {
                    let reading = service_reading(rule.kind, svc);
                    self.step(rule, Some(svc.name.as_str()), reading, now, wall);
                }
            }
        }
        // Instances whose rule is gone or disabled, or whose service is gone, resolve.
        let orphans: Vec<InstanceKey> = self
            .instances
            .keys()
            .filter(|(name, service)| {
                let live_rule = rules.iter().any(|r| r.enabled && &r.name == name);
                let live_target = service.as_deref().is_none_or(|s| seen.contains(s));
                !(live_rule && live_target)
            })
            .cloned()
            .collect();
        self.config.rules = rules;
        for key in orphans {
            if let Some(Instance::Firing { alert, .. }) = self.instances.remove(&key) {
                self.resolve(alert, wall);
            }
        }
        self.apply_retention(wall);
    }

    /// One evaluation of one instance.
    fn step(
        &mut self,
        rule: &AlertRule,
        service: Option<&str>,
        reading: Reading,
        now: Timestamp,
        wall: WallClock,
    ) {
        let (fire, clear, value) = match reading {
            Reading::Hold => return,
            Reading::Idle => (false, true, f64::NAN),
            Reading::Flag(b) => (b, !b, if b { 1.0 } else { 0.0 }),
            Reading::Above(v) => (
                v > rule.threshold,
                v <= rule.threshold * (1.0 - rule.hysteresis),
                v,
            ),
            Reading::Below(v) => (
                v < rule.threshold,
                v >= rule.threshold * (1.0 + rule.hysteresis),
                v,
            ),
        };
        let key: InstanceKey = (rule.name.clone(), service.map(str::to_owned));
        match self.instances.get_mut(&key) {
            None => {
                if !fire {
                    return;
                }
                if self.instances.len() >= self.config.max_instances {
                    self.dropped_instances = self.dropped_instances.saturating_add(1);
                    return;
                }
                if rule.for_duration.is_zero() {
                    self.fire(key, rule, value, wall);
                } else {
                    self.instances.insert(key, Instance::Pending { since: now });
                }
            }
            Some(Instance::Pending { since }) => {
                if !fire {
                    self.instances.remove(&key);
                } else if now.saturating_duration_since(*since) >= rule.for_duration {
                    self.fire(key, rule, value, wall);
                }
            }
            Some(Instance::Firing { clear_since, .. }) => {
                if !clear {
                    *clear_since = None;
                    return;
                }
                let since = *clear_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= rule.resolve_after
                    && let Some(Instance::Firing { alert, .. }) = self.instances.remove(&key)
                {
                    self.resolve(alert, wall);
                }
            }
        }
    }

    fn fire(&mut self, key: InstanceKey, rule: &AlertRule, value: f64, wall: WallClock) {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let alert = Alert {
            id,
            alert_type: rule.name.clone(),
            message: message(rule.kind, key.1.as_deref(), value),
            service: key.1.clone(),
            severity: rule.severity,
            value,
            threshold: rule.threshold,
            fired_at: wall,
            resolved_at: None,
        };
        if self.history.len() >= self.config.history_capacity {
            self.history.pop_front();
        }
        self.history.push_back(alert.clone());
        self.push_event(AlertEvent::Fired(alert.clone()));
        self.instances.insert(
            key,
            Instance::Firing {
                alert,
                clear_since: None,
            },
        );
    }

    fn resolve(&mut self, mut alert: Alert, wall: WallClock) {
        alert.resolved_at = Some(wall);
        // The history is in id order (ids grow, entries are appended and only removed).
        if let Ok(i) = self.history.binary_search_by_key(&alert.id, |a| a.id) {
            self.history[i].resolved_at = Some(wall);
        }
        self.push_event(AlertEvent::Resolved(alert));
    }

    fn push_event(&mut self, event: AlertEvent) {
        if self.events.len() >= self.config.max_pending_events {
            self.events.pop_front();
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
        self.events.push_back(event);
    }

    fn apply_retention(&mut self, wall: WallClock) {
        if let Some(keep) = self.config.retention {
            self.history.retain(|a| {
                a.resolved_at
                    .is_none_or(|r| wall.saturating_duration_since(r) <= keep)
            });
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<AlertEvent> {
        self.events.pop_front()
    }

    /// Firing alerts, in `(rule name, service)` order.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.instances.values().filter_map(|i| match i {
            Instance::Firing { alert, .. } => Some(alert),
            Instance::Pending { .. } => None,
        })
    }

    /// Number of `(rule, service)` instances waiting out their `for_duration`.
    pub fn pending_count(&self) -> usize {
        self.instances
            .values()
            .filter(|i| matches!(i, Instance::Pending { .. }))
            .count()
    }

    /// The history, oldest first (`.rev()` for newest first), optionally only one severity and
    /// only alerts fired at or after `since`.
    pub fn history(
        &self,
        severity: Option<Severity>,
        since: Option<WallClock>,
    ) -> impl DoubleEndedIterator<Item = &Alert> {
        self.history.iter().filter(move |a| {
            severity.is_none_or(|s| a.severity == s) && since.is_none_or(|t| a.fired_at >= t)
        })
    }

    /// Events dropped because more than `max_pending_events` were left undrained.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Everything, serde-ready.
    pub fn snapshot(&self) -> AlertsSnapshot {
        let mut active: Vec<Alert> = self.active().cloned().collect();
        active.sort_by_key(|a| a.id);
        AlertsSnapshot {
            active,
            history: self.history.iter().cloned().collect(),
            pending: self.pending_count(),
            rules: self.config.rules.clone(),
            dropped_events: self.dropped_events,
            dropped_instances: self.dropped_instances,
        }
    }
}

fn finite(v: f64, make: fn(f64) -> Reading) -> Reading {
    if v.is_nan() { Reading::Idle } else { make(v) }
}

fn system_reading(kind: RuleKind, system: Option<&SystemSignals>) -> Reading {
    let Some(s) = system else {
        return Reading::Hold;
    };
    match kind {
        RuleKind::CpuPercent => finite(s.cpu_percent, Reading::Above),
        RuleKind::MemoryPercent => finite(s.memory_percent, Reading::Above),
        _ => Reading::Hold,
    }
}

fn service_reading(kind: RuleKind, s: &ServiceSignals) -> Reading {
    match kind {
        RuleKind::ResponseTime { stat, min_requests } => {
            if s.requests_in_window < min_requests.max(1) {
                return Reading::Idle;
            }
            let v = match stat {
                LatencyStat::Avg => s.avg_response_ms,
                LatencyStat::P95 => s.p95_response_ms,
            };
            finite(v, Reading::Above)
        }
        RuleKind::ErrorRate { min_requests } => {
            if s.requests_in_window < min_requests.max(1) {
                return Reading::Idle;
            }
            finite(s.error_rate, Reading::Above)
        }
        RuleKind::CacheHitRatio { min_lookups } => {
            if s.cache_lookups < min_lookups.max(1) {
                return Reading::Idle;
            }
            finite(s.cache_hit_ratio, Reading::Below)
        }
        RuleKind::BreakerOpen => Reading::Flag(s.breaker_open),
        RuleKind::ServiceUnhealthy => Reading::Flag(s.health == Some(HealthStatus::Unhealthy)),
        RuleKind::CpuPercent | RuleKind::MemoryPercent => Reading::Hold,
    }
}

/// The alert text, e.g. `Service api success rate is 0.00%` (the original's wording for its
/// five types). Percentages and seconds have two decimals; CPU and memory percentages print
/// as the shortest text that reads back as the same number, with `.0` for whole numbers
/// (`99.5`, `90.0`), as the original printed them.
fn message(kind: RuleKind, service: Option<&str>, value: f64) -> String {
    let name = service.unwrap_or("");
    match kind {
        RuleKind::CpuPercent => format!("CPU usage is {value:?}%"),
        RuleKind::MemoryPercent => format!("Memory usage is {value:?}%"),
        RuleKind::ResponseTime { stat, .. } => {
            let secs = value / 1000.0;
            match stat {
                LatencyStat::Avg => format!("Service {name} response time is {secs:.2}s"),
                LatencyStat::P95 => format!("Service {name} p95 response time is {secs:.2}s"),
            }
        }
        RuleKind::ErrorRate { .. } => {
            let success = (1.0 - value) * 100.0;
            format!("Service {name} success rate is {success:.2}%")
        }
        RuleKind::ServiceUnhealthy => format!("Service {name} is unhealthy"),
        RuleKind::BreakerOpen => format!("Service {name} circuit breaker is open"),
        RuleKind::CacheHitRatio { .. } => {
            let ratio = value * 100.0;
            format!("Service {name} cache hit ratio is {ratio:.2}%")
        }
    }
}

#[cfg(test)]
mod tests;
