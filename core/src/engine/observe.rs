//! (A) Getters: snapshots, the exporters' input, and read-only views of the machines.

use serde::Serialize;

use super::Engine;
use super::config::EngineConfig;
use crate::alerts::{AlertEngine, AlertsSnapshot};
use crate::breaker::{BreakerRegistry, BreakerSnapshot};
use crate::cache::{Cache, CachePeek, CacheStats};
use crate::export::{BreakerInfo, CacheInfo, ExportSnapshot, HealthInfo, SystemSample};
use crate::health::{HealthStatus, HealthTracker, ServiceHealthSnapshot};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::{Request, Timestamp, WallClock};

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
    pub alerts: AlertsSnapshot,
    /// Retry-budget balance, if a budget is configured.
    pub retry_budget: Option<u64>,
    /// Logical requests in flight.
    pub in_flight: usize,
}

/// (A) Getters. They never change the engine, so nothing needs draining after them.
impl Engine {
    /// The configuration in force (alert rules as configured at construction; the live rules
    /// are in [`alerts`](Self::alerts)).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Everything observable: breakers and the retry budget as of `now`, metrics stamped
    /// `wall`.
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

    /// The input of every exporter (JSON, Prometheus, InfluxDB) at `now` / `wall`, with the
    /// frontend's host sample if it has one.
    pub fn export_snapshot(
        &self,
        now: Timestamp,
        wall: WallClock,
        system: Option<SystemSample>,
    ) -> ExportSnapshot {
        ExportSnapshot {
            timestamp: wall,
            system,
            metrics: self.metrics.snapshot(wall),
            breakers: self
                .breakers
                .iter()
                .map(|(n, b)| BreakerInfo::new(n, &b.snapshot(now)))
                .collect(),
            cache: Some(CacheInfo::from(&self.cache.stats())),
            health: self
                .health
                .snapshots()
                .into_iter()
                .map(HealthInfo::from)
                .collect(),
            alerts_firing: self.alerts.active().count() as u32,
        }
    }

    /// The response cache (statistics, keys, occupancy).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// What the cache holds for `request` at `now` (age, freshness, validators, the stored
    /// response), without touching counters, LRU order or single-flight state. See
    /// [`Cache::peek`].
    pub fn peek_cache(&self, now: Timestamp, request: &Request) -> Option<CachePeek> {
        self.cache.peek(now, request)
    }

    /// The circuit breakers, by name.
    pub fn breakers(&self) -> &BreakerRegistry {
        &self.breakers
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Health tracking.
    pub fn health(&self) -> &HealthTracker {
        &self.health
    }

    /// The health status of a service (`Unknown` for one not tracked).
    pub fn health_status(&self, service: &str) -> HealthStatus {
        self.health.status(service)
    }

    /// The alert engine: live rules, firing alerts, history.
    pub fn alerts(&self) -> &AlertEngine {
        &self.alerts
    }

    /// Logical requests (and background refreshes) being tracked. Zero once every request has
    /// finished or been cancelled.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }
}
