//! Alert rules: what is measured, against which threshold, with which severity.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Alert `type` of the CPU rule.
pub(crate) const SYSTEM_CPU_HIGH: &str = "system_cpu_high";
/// Alert `type` of the memory rule.
pub(crate) const SYSTEM_MEMORY_HIGH: &str = "system_memory_high";
/// Alert `type` of the response-time rule.
pub(crate) const SERVICE_SLOW: &str = "service_slow";
/// Alert `type` of the success-rate rule.
pub(crate) const SERVICE_ERRORS: &str = "service_errors";
/// Alert `type` of the health rule.
pub(crate) const SERVICE_UNHEALTHY: &str = "service_unhealthy";
/// Alert `type` of the breaker-open rule.
pub(crate) const BREAKER_OPEN: &str = "breaker_open";
/// Alert `type` of the cache-hit-ratio rule.
pub(crate) const CACHE_HIT_RATIO_LOW: &str = "cache_hit_ratio_low";

/// Default hysteresis: a firing alert resolves once the value is 10 % of the threshold back on
/// the good side.
pub const DEFAULT_HYSTERESIS: f64 = 0.1;

/// How bad an alert is. Serialized in lower case; ordered `Warning < Error < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look (the original's `warning`).
    Warning,
    /// Something is failing (the original's `error`).
    Error,
    /// Needs action now (new).
    Critical,
}

impl Severity {
    /// `warning`, `error` or `critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which latency statistic a response-time rule watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyStat {
    /// Mean response time (the original's rule).
    #[default]
    Avg,
    /// 95th percentile.
    P95,
}

const fn one() -> u64 {
    1
}

/// What a rule measures. Serialized with a `kind` tag, e.g. `{"kind": "error_rate", "min_requests": 1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleKind {
    /// Per service: response time in ms `> threshold`.
    ResponseTime {
        /// Mean or p95.
        #[serde(default)]
        stat: LatencyStat,
        /// Fewest requests in the window for the rule to look at the service (at least 1).
        #[serde(default = "one")]
        min_requests: u64,
    },
    /// Per service: error rate (0..1) `> threshold`, only with at least `min_requests` requests,
    /// so an idle service never alerts (the original did: its success rate is 0.0 with no
    /// requests).
    ErrorRate {
        /// Fewest requests in the window (at least 1).
        #[serde(default = "one")]
        min_requests: u64,
    },
    /// System: CPU percent `> threshold`.
    CpuPercent,
    /// System: memory percent `> threshold`.
    MemoryPercent,
    /// Per service: the circuit breaker is open (threshold ignored).
    BreakerOpen,
    /// Per service: cache hit ratio (0..1) `< threshold`, only with at least `min_lookups` lookups.
    CacheHitRatio {
        /// Fewest cache lookups in the window (at least 1).
        #[serde(default = "one")]
        min_lookups: u64,
    },
    /// Per service: health status is `unhealthy` (threshold ignored).
    ServiceUnhealthy,
}

impl RuleKind {
    /// Whether the rule looks at the system rather than at each service.
    pub const fn is_system(self) -> bool {
        matches!(self, RuleKind::CpuPercent | RuleKind::MemoryPercent)
    }

    /// Whether the rule is a yes/no condition (its threshold and hysteresis are ignored).
    pub const fn is_flag(self) -> bool {
        matches!(self, RuleKind::BreakerOpen | RuleKind::ServiceUnhealthy)
    }

    /// Whether the rule fires when the value is *below* the threshold.
    pub const fn fires_below(self) -> bool {
        matches!(self, RuleKind::CacheHitRatio { .. })
    }

    /// Checks a threshold for this kind: finite, ≥ 0, ≤ 100 for percents, ≤ 1 for ratios.
    pub fn validate_threshold(self, threshold: f64) -> Result<(), ConfigError> {
        const FIELD: &str = "alerts.rules.threshold";
        if !threshold.is_finite() || threshold < 0.0 {
            return Err(ConfigError::invalid(FIELD, "must be a finite number >= 0"));
        }
        match self {
            RuleKind::CpuPercent | RuleKind::MemoryPercent if threshold > 100.0 => Err(
                ConfigError::invalid(FIELD, "must be in [0, 100] for a percentage"),
            ),
            RuleKind::ErrorRate { .. } | RuleKind::CacheHitRatio { .. } if threshold > 1.0 => {
                Err(ConfigError::invalid(FIELD, "must be in [0, 1] for a ratio"))
            }
            _ => Ok(()),
        }
    }
}

const fn yes() -> bool {
    true
}

const fn default_hysteresis() -> f64 {
    DEFAULT_HYSTERESIS
}

/// One alert rule. Its `name` is the alert `type` (unique among the rules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// Rule name, reported as the alert `type` (e.g. `service_errors`).
    pub name: String,
    /// What is measured (flattened: its `kind` tag sits beside `name`).
    #[serde(flatten)]
    pub kind: RuleKind,
    /// Severity of the alerts it raises.
    pub severity: Severity,
    /// Threshold; comparisons are strict (`>`, or `<` for the cache hit ratio).
    pub threshold: f64,
    /// Hysteresis as a fraction of the threshold, in `[0, 1)` (default 0.1): a firing alert
    /// resolves only once the value is at or below `threshold × (1 − hysteresis)` (at or above
    /// `threshold × (1 + hysteresis)` for below-rules), so a value wobbling around the threshold
    /// does not flap.
    #[serde(default = "default_hysteresis")]
    pub hysteresis: f64,
    /// How long the condition must hold before the alert fires (default 0: at once).
    #[serde(default)]
    pub for_duration: Duration,
    /// How long the value must stay resolved before the alert resolves (default 0).
    #[serde(default)]
    pub resolve_after: Duration,
    /// Whether the rule is evaluated (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl AlertRule {
    /// Name of the default CPU rule (`system_cpu_high`).
    pub const SYSTEM_CPU_HIGH: &'static str = SYSTEM_CPU_HIGH;
    /// Name of the default memory rule (`system_memory_high`).
    pub const SYSTEM_MEMORY_HIGH: &'static str = SYSTEM_MEMORY_HIGH;
    /// Name of the default response-time rule (`service_slow`).
    pub const SERVICE_SLOW: &'static str = SERVICE_SLOW;
    /// Name of the default error-rate rule (`service_errors`).
    pub const SERVICE_ERRORS: &'static str = SERVICE_ERRORS;
    /// Name of the default health rule (`service_unhealthy`).
    pub const SERVICE_UNHEALTHY: &'static str = SERVICE_UNHEALTHY;
    /// Name of the default breaker-open rule (`breaker_open`).
    pub const BREAKER_OPEN: &'static str = BREAKER_OPEN;
    /// Name of the default cache-hit-ratio rule (`cache_hit_ratio_low`, disabled by default).
    pub const CACHE_HIT_RATIO_LOW: &'static str = CACHE_HIT_RATIO_LOW;

    /// An enabled rule with the default hysteresis and no `for_duration` / `resolve_after`.
    pub fn new(
        name: impl Into<String>,
        kind: RuleKind,
        severity: Severity,
        threshold: f64,
    ) -> Self {
        AlertRule {
            name: name.into(),
            kind,
            severity,
            threshold,
            hysteresis: DEFAULT_HYSTERESIS,
            for_duration: Duration::ZERO,
            resolve_after: Duration::ZERO,
            enabled: true,
        }
    }

    /// Sets `for_duration`.
    pub fn with_for_duration(mut self, d: Duration) -> Self {
        self.for_duration = d;
        self
    }

    /// Sets `resolve_after`.
    pub fn with_resolve_after(mut self, d: Duration) -> Self {
        self.resolve_after = d;
        self
    }

    /// Sets the hysteresis fraction.
    pub fn with_hysteresis(mut self, h: f64) -> Self {
        self.hysteresis = h;
        self
    }

    /// Sets `enabled`.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Checks the name, threshold and hysteresis.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::invalid(
                "alerts.rules.name",
                "must not be empty",
            ));
        }
        self.kind.validate_threshold(self.threshold)?;
        if !(0.0..1.0).contains(&self.hysteresis) {
            return Err(ConfigError::invalid(
                "alerts.rules.hysteresis",
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

/// The original's rules and thresholds, plus the new ones:
///
/// | type | kind | threshold | severity |
/// |---|---|---|---|
/// | `system_cpu_high` | CPU % `>` | 80.0 | warning |
/// | `system_memory_high` | memory % `>` | 85.0 | warning |
/// | `service_slow` | mean response time ms `>` | 5000 | warning |
/// | `service_errors` | error rate `>` (≥ 1 request) | 0.1 | error |
/// | `service_unhealthy` | health is unhealthy | — | error |
/// | `breaker_open` | breaker open | — | error |
/// | `cache_hit_ratio_low` | hit ratio `<` (≥ 20 lookups), **disabled** | 0.5 | warning |
pub fn default_rules() -> Vec<AlertRule> {
    vec![
        AlertRule::new(
            SYSTEM_CPU_HIGH,
            RuleKind::CpuPercent,
            Severity::Warning,
            80.0,
        ),
        AlertRule::new(
            SYSTEM_MEMORY_HIGH,
            RuleKind::MemoryPercent,
            Severity::Warning,
            85.0,
        ),
        AlertRule::new(
            SERVICE_SLOW,
            RuleKind::ResponseTime {
                stat: LatencyStat::Avg,
                min_requests: 1,
            },
            Severity::Warning,
            5000.0,
        ),
        AlertRule::new(
            SERVICE_ERRORS,
            RuleKind::ErrorRate { min_requests: 1 },
            Severity::Error,
            0.1,
        ),
        AlertRule::new(
            SERVICE_UNHEALTHY,
            RuleKind::ServiceUnhealthy,
            Severity::Error,
            1.0,
        ),
        AlertRule::new(BREAKER_OPEN, RuleKind::BreakerOpen, Severity::Error, 1.0),
        AlertRule::new(
            CACHE_HIT_RATIO_LOW,
            RuleKind::CacheHitRatio { min_lookups: 20 },
            Severity::Warning,
            0.5,
        )
        .with_enabled(false),
    ]
}
