//! [`EngineConfig`]: the whole configuration of an engine, validated in one place.

#[cfg(doc)]
use crate::{Engine, RejectReason};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::alerts::AlertConfig;
use crate::breaker::RegistryConfig;
use crate::cache::CacheConfig;
use crate::health::HealthConfig;
use crate::metrics::MetricsConfig;
use crate::retry::RetryConfig;

/// Time limit of a background refresh when no attempt timeout is configured: a refresh nobody
/// waits for must still end.
pub(super) const BACKGROUND_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Alert evaluation interval assumed when a system sample's age is judged and no
/// [`EngineConfig::alert_interval`] is set.
pub(super) const DEFAULT_ALERT_INTERVAL: Duration = Duration::from_secs(10);

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
    /// Response cache: [`CacheConfig::default()`]. RFC 9111 for a private cache; a response
    /// with no explicit freshness (`Cache-Control: max-age`, `Expires`) is never served
    /// without revalidation (a response that says nothing about its freshness may change at
    /// any time, and serving it for minutes is how stale data reaches users unnoticed), and
    /// every request header that may identify the caller partitions the cache.
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
            cache: CacheConfig::default(),
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
