//! [`MonitorConfig`]: how often the monitor checks, samples and collects, and what it keeps.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tether_core::ConfigError;
use tether_core::monitoring::StateConfig;

/// Configuration of a [`Monitor`](super::Monitor). Durations are written in seconds in
/// configuration files (`check_interval = 30`, `check_timeout = 2.5`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Time between two collections (default 10 s). Each collection is judged by the alert
    /// rules and joins the history.
    #[serde(with = "secs")]
    pub collect_interval: Duration,
    /// Whether to sample the host (CPU, memory, disk of `/`, network counters, process count;
    /// default `true`). Without it the `system` numbers stay zero.
    pub system_metrics: bool,
    /// Time between two host samples (default 5 s). CPU usage is measured between two
    /// samples; at least 0.2 s.
    #[serde(with = "secs")]
    pub system_interval: Duration,
    /// Time between two health checks of a monitor (default 30 s, the original's
    /// `health_check_interval`).
    #[serde(with = "secs")]
    pub check_interval: Duration,
    /// Longest a health check may take before it counts as failed (default 5 s). A service's
    /// probe is also bounded by its client's own health `check_timeout`; the shorter wins.
    #[serde(with = "secs")]
    pub check_timeout: Duration,
    /// Per-monitor schedule, by name.
    pub checks: BTreeMap<String, CheckSchedule>,
    /// History bound, check window and alert rules.
    pub state: StateConfig,
}

/// A monitor's own check interval and time limit (unset: the [`MonitorConfig`] defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckSchedule {
    /// Time between two checks.
    #[serde(with = "opt_secs")]
    pub interval: Option<Duration>,
    /// Longest one check may take.
    #[serde(with = "opt_secs")]
    pub timeout: Option<Duration>,
}

impl CheckSchedule {
    /// A schedule with both values.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        CheckSchedule {
            interval: Some(interval),
            timeout: Some(timeout),
        }
    }
}

/// Shortest CPU sampling interval sysinfo can measure.
const MIN_SYSTEM_INTERVAL: Duration = Duration::from_millis(200);

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            collect_interval: Duration::from_secs(10),
            system_metrics: true,
            system_interval: Duration::from_secs(5),
            check_interval: Duration::from_secs(30),
            check_timeout: Duration::from_secs(5),
            checks: BTreeMap::new(),
            state: StateConfig::default(),
        }
    }
}

impl MonitorConfig {
    /// Checks every interval and bound.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.collect_interval.is_zero() {
            return Err(ConfigError::invalid(
                "monitor.collect_interval",
                "must be > 0",
            ));
        }
        if self.system_interval < MIN_SYSTEM_INTERVAL {
            return Err(ConfigError::invalid(
                "monitor.system_interval",
                "must be >= 0.2 s",
            ));
        }
        if self.check_interval.is_zero() {
            return Err(ConfigError::invalid(
                "monitor.check_interval",
                "must be > 0",
            ));
        }
        if self.check_timeout.is_zero() {
            return Err(ConfigError::invalid("monitor.check_timeout", "must be > 0"));
        }
        for s in self.checks.values() {
            s.validate()?;
        }
        self.state.validate()
    }

    /// The interval and time limit of the monitor `name`.
    pub fn schedule_of(&self, name: &str) -> (Duration, Duration) {
        let s = self.checks.get(name).copied().unwrap_or_default();
        (
            s.interval.unwrap_or(self.check_interval),
            s.timeout.unwrap_or(self.check_timeout),
        )
    }
}

impl CheckSchedule {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::invalid(
                "monitor.checks.interval",
                "must be > 0",
            ));
        }
        if self.timeout.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::invalid(
                "monitor.checks.timeout",
                "must be > 0",
            ));
        }
        Ok(())
    }
}

/// A duration as (fractional) seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(|_| {
            serde::de::Error::custom("expected a number of seconds, finite and not negative")
        })
    }
}

/// An optional duration as (fractional) seconds.
mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[expect(clippy::ref_option, reason = "serde `with` passes &Option<T>")]
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| {
                Duration::try_from_secs_f64(secs).map_err(|_| {
                    serde::de::Error::custom(
                        "expected a number of seconds, finite and not negative",
                    )
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_field() {
        MonitorConfig::default().validate().unwrap();
        let bad = MonitorConfig {
            system_interval: Duration::from_millis(50),
            ..MonitorConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("system_interval")
        );
        let mut bad = MonitorConfig::default();
        bad.checks.insert(
            "x".into(),
            CheckSchedule {
                interval: Some(Duration::ZERO),
                timeout: None,
            },
        );
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("checks.interval")
        );
        let mut bad = MonitorConfig::default();
        bad.state.history_capacity = 0;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn schedules_fall_back_to_the_defaults() {
        let mut c = MonitorConfig::default();
        c.checks.insert(
            "db".into(),
            CheckSchedule {
                interval: Some(Duration::from_secs(2)),
                timeout: None,
            },
        );
        assert_eq!(
            c.schedule_of("db"),
            (Duration::from_secs(2), Duration::from_secs(5))
        );
        assert_eq!(
            c.schedule_of("other"),
            (Duration::from_secs(30), Duration::from_secs(5))
        );
    }
}
