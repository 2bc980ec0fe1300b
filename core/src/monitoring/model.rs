//! The records the monitoring routes and the monitor exchange, in the shapes (keys and key
//! order) the original `common.monitoring` module returned.
//!
//! Every timestamp is RFC 3339 UTC text with microseconds (`2026-11-26T18:40:58.167771Z`):
//! unambiguous (the original wrote naive local time), fixed-width (so text order is time
//! order), and readable by Python's `datetime.fromisoformat`. The decision record on
//! monitoring timestamps in `docs/decisions/` weighs it against the original's form.

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::alerts::{Alert, Severity};
use crate::client::{CircuitBreakerState, ServiceMetrics};
use crate::export::{ExportSnapshot, SystemSample};
use crate::health::HealthStatus;
use crate::serde_util::{ordered_map, rfc3339};
use crate::{WallClock, export::NetworkIo};

/// The result of one health check: the original `HealthMonitor.check_health()` entry
/// `{healthy, check_time, last_check}` (plus `error` when the check failed with one).
///
/// Unlike the original, `check_time` is present for failed checks too.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthResult {
    /// Whether the check passed.
    pub healthy: bool,
    /// How long the check took, seconds.
    pub check_time: f64,
    /// When it finished.
    #[serde(with = "rfc3339")]
    pub last_check: WallClock,
    /// What went wrong, for a check that failed with an error (a timeout, a refused
    /// connection, a non-2xx status, the text of an ad-hoc check's error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HealthResult {
    /// A passing check that took `check_time` seconds.
    pub fn passed(check_time: f64, last_check: WallClock) -> Self {
        HealthResult {
            healthy: true,
            check_time,
            last_check,
            error: None,
        }
    }

    /// A failing check with its error text.
    pub fn failed(check_time: f64, last_check: WallClock, error: impl Into<String>) -> Self {
        HealthResult {
            healthy: false,
            check_time,
            last_check,
            error: Some(error.into()),
        }
    }

    /// `healthy` or `unhealthy`.
    pub fn status(&self) -> HealthStatus {
        if self.healthy {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        }
    }
}

/// One monitor's entry in a [`Collection`]'s `health`: the original `ServiceHealth` record
/// `{status, response_time, last_check, error_count, success_rate}`, with `error_count` and
/// `success_rate` really counted (the original always wrote 0 and 0.0).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthSummary {
    /// `healthy` or `unhealthy`, from the latest check.
    pub status: HealthStatus,
    /// Duration of the latest check, seconds.
    pub response_time: f64,
    /// When the latest check finished.
    #[serde(with = "rfc3339")]
    pub last_check: WallClock,
    /// Failed checks since the monitor was registered.
    pub error_count: u64,
    /// Share of passing checks over the recent checks (the monitor's `check_window`), 0–1.
    pub success_rate: f64,
}

/// The `services` part of a [`Collection`]: the original `get_all_metrics()`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CollectedServices {
    /// Each registered service client's `get_service_metrics()`, in registration order.
    #[serde(serialize_with = "ordered_map::serialize")]
    pub service_clients: Vec<(String, ServiceMetrics)>,
    /// The latest result of every health monitor (the original's `global_health`; here from
    /// the same moment as the collection, not the sweep before).
    #[serde(serialize_with = "ordered_map::serialize")]
    pub global_health: Vec<(String, HealthResult)>,
}

/// One metrics collection: the original `collect_all_metrics()` / `get_monitoring_data()`
/// snapshot `{timestamp, system, services, health}`. The monitor keeps a bounded history of
/// them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Collection {
    /// When it was collected.
    #[serde(with = "rfc3339")]
    pub timestamp: WallClock,
    /// Host numbers: `{cpu_percent, memory_percent, disk_usage_percent, network_io,
    /// process_count}`, `network_io` being `{}` when it could not be read (zeros when the host
    /// could not be sampled at all, as the original).
    #[serde(serialize_with = "system_json")]
    pub system: SystemSample,
    /// Service clients' metrics and the health results.
    pub services: CollectedServices,
    /// Every health monitor's summary, in registration order.
    #[serde(serialize_with = "ordered_map::serialize")]
    pub health: Vec<(String, HealthSummary)>,
}

impl Collection {
    /// Whether this collection mentions `service` (as a service client or a health monitor):
    /// the `/history?service=` filter.
    pub fn mentions(&self, service: &str) -> bool {
        self.services
            .service_clients
            .iter()
            .any(|(n, _)| n == service)
            || self.health.iter().any(|(n, _)| n == service)
    }
}

/// Writes a [`SystemSample`] in the original `system` shape (`network_io: {}` when absent).
fn system_json<S: Serializer>(s: &SystemSample, ser: S) -> Result<S::Ok, S::Error> {
    struct Empty;
    impl Serialize for Empty {
        fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
            ser.serialize_map(Some(0))?.end()
        }
    }
    let mut map = ser.serialize_map(Some(5))?;
    map.serialize_entry("cpu_percent", &s.cpu_percent)?;
    map.serialize_entry("memory_percent", &s.memory_percent)?;
    map.serialize_entry("disk_usage_percent", &s.disk_usage_percent)?;
    match &s.network_io {
        Some(io) => map.serialize_entry::<_, NetworkIo>("network_io", io)?,
        None => map.serialize_entry("network_io", &Empty)?,
    }
    map.serialize_entry("process_count", &s.process_count)?;
    map.end()
}

/// The `system` object on its own (the `/system` and `/dashboard` routes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SystemJson(pub SystemSample);

impl Serialize for SystemJson {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        system_json(&self.0, ser)
    }
}

/// A registered service as the routes show it, read when the snapshot is taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceView {
    /// The service name.
    pub name: String,
    /// Its `get_service_metrics()` (with the client's `cache_stats` nested in
    /// `http_client_metrics`).
    pub metrics: ServiceMetrics,
    /// Its breaker's real state.
    pub circuit_breaker: CircuitBreakerState,
}

/// An alert as the routes show it: the original record `{type, [service], message, severity,
/// timestamp}` followed by Tether's `id` and `resolved_at` (`null` while it fires). One record
/// per occurrence: a condition that holds for hours is one record, not one per collection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertRecord<'a> {
    /// The rule, e.g. `service_errors`.
    #[serde(rename = "type")]
    pub alert_type: &'a str,
    /// The service, for service rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    /// The text, e.g. `Service api success rate is 0.00%`.
    pub message: &'a str,
    /// `warning`, `error` or `critical`.
    pub severity: Severity,
    /// When it fired.
    #[serde(with = "rfc3339")]
    pub timestamp: WallClock,
    /// Unique, increasing in firing order.
    pub id: u64,
    /// When it resolved.
    #[serde(serialize_with = "optional_rfc3339")]
    pub resolved_at: Option<WallClock>,
}

impl<'a> From<&'a Alert> for AlertRecord<'a> {
    fn from(a: &'a Alert) -> Self {
        AlertRecord {
            alert_type: &a.alert_type,
            service: a.service.as_deref(),
            message: &a.message,
            severity: a.severity,
            timestamp: a.fired_at,
            id: a.id,
            resolved_at: a.resolved_at,
        }
    }
}

#[expect(
    clippy::ref_option,
    reason = "serde `serialize_with` passes &Option<T>"
)]
fn optional_rfc3339<S: Serializer>(w: &Option<WallClock>, s: S) -> Result<S::Ok, S::Error> {
    match w {
        Some(w) => s.serialize_some(&w.to_rfc3339()),
        None => s.serialize_none(),
    }
}

/// The original `get_performance_summary()`: averages over the last hour of collections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerformanceSummary {
    /// When it was computed.
    #[serde(with = "rfc3339")]
    pub summary_timestamp: WallClock,
    /// Always `1`.
    pub time_period_hours: u32,
    /// Mean CPU and memory over the last hour's collections.
    pub system_averages: SystemAverages,
    /// Per service, from the latest collection.
    #[serde(serialize_with = "ordered_map::serialize")]
    pub service_performance: Vec<(String, ServicePerformance)>,
    /// Alerts of severity `error` (or worse) firing now.
    pub active_alerts: usize,
    /// Collections in the history.
    pub total_metrics_collected: usize,
}

/// `system_averages` of a [`PerformanceSummary`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SystemAverages {
    /// Mean CPU percent.
    pub cpu_percent: f64,
    /// Mean memory percent.
    pub memory_percent: f64,
}

/// One service in a [`PerformanceSummary`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ServicePerformance {
    /// Success rate, 0–1 (0.0 with no requests, as the original).
    pub success_rate: f64,
    /// Mean response time, seconds.
    pub avg_response_time: f64,
    /// Logical requests.
    pub total_requests: u64,
    /// Failed requests (the original's `failed_requests`).
    pub error_count: u64,
}

/// Everything the monitoring routes read, taken at one moment: the collected history (shared,
/// not copied), the live view of each registered service, the latest health results, the
/// alert history and the exporters' input.
///
/// The native monitor builds one per request; the Python layer builds one from its own
/// monitor. The route function only reads it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MonitorSnapshot {
    /// Collections, oldest first (the last one is the latest).
    pub history: Vec<Arc<Collection>>,
    /// Registered services, in registration order.
    pub services: Vec<ServiceView>,
    /// The latest result of every health monitor, in registration order (monitors that have
    /// not finished a check yet are absent).
    #[serde(serialize_with = "ordered_map::serialize")]
    pub health: Vec<(String, HealthResult)>,
    /// Alert occurrences, oldest first: firing ones and resolved ones within the retention.
    pub alerts: Vec<Alert>,
    /// The input of the Prometheus and InfluxDB exports.
    pub export: ExportSnapshot,
}

impl MonitorSnapshot {
    /// The latest collection.
    pub fn latest(&self) -> Option<&Collection> {
        self.history.last().map(AsRef::as_ref)
    }

    /// The registered service `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceView> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The latest health result of the monitor `name`.
    pub fn health_of(&self, name: &str) -> Option<&HealthResult> {
        self.health.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }

    /// Firing alerts, oldest first.
    pub fn active_alerts(&self) -> impl DoubleEndedIterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.is_active())
    }

    /// The original `get_performance_summary()` at `wall`: `None` (written `{}`) when no
    /// collection is younger than an hour.
    pub fn performance_summary(&self, wall: WallClock) -> Option<PerformanceSummary> {
        summarize(
            self.history.iter().map(AsRef::as_ref),
            self.active_alerts(),
            self.history.len(),
            wall,
        )
    }
}

/// The summary over the collections of the hour before `wall` (`None` when there are none):
/// mean CPU and memory, each service's numbers from the latest one, firing alerts of severity
/// `error` or worse, and the history's length.
pub(super) fn summarize<'a>(
    history: impl Iterator<Item = &'a Collection>,
    firing: impl Iterator<Item = &'a Alert>,
    total: usize,
    wall: WallClock,
) -> Option<PerformanceSummary> {
    const HOUR_MICROS: u64 = 3_600_000_000;
    let since = WallClock::from_unix_micros(wall.as_unix_micros().saturating_sub(HOUR_MICROS));
    let recent: Vec<&Collection> = history.filter(|c| c.timestamp > since).collect();
    let latest = recent.last()?;
    let n = recent.len() as f64;
    let mean = |f: fn(&Collection) -> f64| recent.iter().map(|c| f(c)).sum::<f64>() / n;
    Some(PerformanceSummary {
        summary_timestamp: wall,
        time_period_hours: 1,
        system_averages: SystemAverages {
            cpu_percent: mean(|c| c.system.cpu_percent),
            memory_percent: mean(|c| c.system.memory_percent),
        },
        service_performance: latest
            .services
            .service_clients
            .iter()
            .map(|(name, m)| {
                let perf = ServicePerformance {
                    success_rate: m.success_rate,
                    avg_response_time: m.average_response_time,
                    total_requests: m.total_requests,
                    error_count: m.failed_requests,
                };
                (name.clone(), perf)
            })
            .collect(),
        active_alerts: firing.filter(|a| a.severity >= Severity::Error).count(),
        total_metrics_collected: total,
    })
}
