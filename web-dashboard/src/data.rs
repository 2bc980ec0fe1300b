//! What the page reads from the monitoring routes: `GET /dashboard` and `GET /history`.
//!
//! Every field is optional or defaulted, so an older server (one without the `/dashboard`
//! keys `circuit_breakers`, `cache_stats` and `latency`, or the original Python gateway) still
//! fills what it can: a panel whose data is absent says so instead of the whole page failing.
//! Objects keyed by service keep the server's order (registration order), which a
//! `HashMap`/`BTreeMap` would lose.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// A JSON object read as `(key, value)` pairs in the server's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    /// The pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// How many pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Pairs<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    pairs.push((k, v));
                }
                Ok(Ordered(pairs))
            }
        }
        d.deserialize_map(Pairs(PhantomData))
    }
}

/// `GET /dashboard`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Dashboard {
    /// When the server answered (RFC 3339).
    pub timestamp: Option<String>,
    /// Counts.
    pub overview: Overview,
    /// Health monitors' latest results, by monitor name.
    pub services: Ordered<MonitorEntry>,
    /// Firing alerts, newest first, by severity.
    pub alerts: Alerts,
    /// The performance summary (`{}` when nothing was collected in the last hour).
    pub performance: Performance,
    /// The latest host sample.
    pub system: System,
    /// Each service's circuit breaker (absent from servers that predate it).
    pub circuit_breakers: Option<Ordered<Breaker>>,
    /// Each service's response-cache statistics (absent from servers that predate it).
    pub cache_stats: Option<Ordered<CacheStats>>,
    /// Each service's latency percentiles (absent from servers that predate it).
    pub latency: Option<Ordered<Latency>>,
}

/// `overview` of [`Dashboard`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Overview {
    /// Health monitors.
    pub total_services: u64,
    /// Monitors whose latest check passed.
    pub healthy_services: u64,
    /// Monitors whose latest check failed.
    pub unhealthy_services: u64,
    /// Firing alerts of severity `error` or worse.
    pub error_alerts: u64,
    /// Firing `warning` alerts.
    pub warning_alerts: u64,
}

/// A health monitor's latest result.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MonitorEntry {
    /// `healthy`, `unhealthy`, `degraded` or `unknown`.
    pub status: String,
    /// How long the check took, seconds (`None` when the server sent none: the original
    /// page showed `NaNms`).
    pub response_time: Option<f64>,
    /// When it finished (RFC 3339).
    pub last_check: Option<String>,
}

/// `alerts` of [`Dashboard`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Alerts {
    /// Severity `error` (or `critical`), newest first.
    pub errors: Vec<Alert>,
    /// Severity `warning`, newest first.
    pub warnings: Vec<Alert>,
}

/// One alert record.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Alert {
    /// The rule, e.g. `service_errors`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The service, for service rules.
    pub service: Option<String>,
    /// The text.
    pub message: String,
    /// `warning`, `error` or `critical`.
    pub severity: String,
    /// When it fired (RFC 3339).
    pub timestamp: Option<String>,
    /// Unique per occurrence (absent from the original).
    pub id: Option<u64>,
}

/// `performance` of [`Dashboard`]: the summary over the last hour.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Performance {
    /// Mean CPU and memory over the hour (absent when the summary is `{}`).
    pub system_averages: Option<SystemAverages>,
    /// Per service, from the latest collection.
    pub service_performance: Ordered<ServicePerformance>,
    /// Collections in the server's history.
    pub total_metrics_collected: Option<u64>,
}

/// `system_averages` of [`Performance`].
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SystemAverages {
    /// Mean CPU percent.
    pub cpu_percent: f64,
    /// Mean memory percent.
    pub memory_percent: f64,
}

/// One service in [`Performance`].
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServicePerformance {
    /// 0–1 (0.0 when no request completed: look at `total_requests`).
    pub success_rate: f64,
    /// Mean response time, seconds.
    pub avg_response_time: f64,
    /// Requests.
    pub total_requests: u64,
    /// Failed requests.
    pub error_count: u64,
}

/// The host sample.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct System {
    /// CPU percent.
    pub cpu_percent: f64,
    /// Memory percent.
    pub memory_percent: f64,
    /// Disk percent of `/`.
    pub disk_usage_percent: f64,
    /// Cumulative counters (`{}` when the host could not be read).
    pub network_io: NetworkIo,
    /// Processes.
    pub process_count: u64,
}

/// `network_io` of [`System`].
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetworkIo {
    /// Bytes sent since boot.
    pub bytes_sent: Option<u64>,
    /// Bytes received since boot.
    pub bytes_recv: Option<u64>,
}

/// A circuit breaker.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Breaker {
    /// `CLOSED`, `OPEN` or `HALF_OPEN` (anything else is shown as is).
    pub state: String,
    /// Consecutive failures counted.
    pub failure_count: u64,
    /// When the last counted failure happened (RFC 3339).
    pub last_failure_time: Option<String>,
    /// The consecutive-failure threshold (`None` when that trigger is off).
    pub failure_threshold: Option<u64>,
}

/// A service's response-cache statistics.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CacheStats {
    /// Whether the cache is on.
    pub enabled: bool,
    /// Fresh hits.
    pub hits: u64,
    /// Lookups that had to fetch (or revalidate).
    pub misses: u64,
    /// Stale responses served.
    pub stale_hits: u64,
    /// Lookups that joined a fetch already in flight.
    pub coalesced: u64,
    /// Requests the cache does not apply to.
    pub bypasses: u64,
    /// Entries evicted to stay within bounds.
    pub evictions: u64,
    /// Entries now.
    pub entries: u64,
    /// Bytes now.
    pub bytes: u64,
    /// Entry bound.
    pub max_entries: u64,
    /// Byte bound.
    pub max_bytes: u64,
}

/// A service's latency percentiles, seconds.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Latency {
    /// Median.
    pub p50_response_time: Option<f64>,
    /// 95th percentile.
    pub p95_response_time: Option<f64>,
    /// 99th percentile.
    pub p99_response_time: Option<f64>,
    /// Largest.
    pub max_response_time: Option<f64>,
}

/// `GET /history`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct History {
    /// Collections, oldest first.
    pub history: Vec<Collection>,
}

/// One collection, as far as the trends need it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Collection {
    /// When it was collected (RFC 3339).
    pub timestamp: String,
    /// Service clients' counters.
    pub services: CollectedServices,
}

/// `services` of [`Collection`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CollectedServices {
    /// Each registered client's cumulative counters.
    pub service_clients: Ordered<ClientCounters>,
}

/// The cumulative counters of one service client in a collection.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClientCounters {
    /// Requests that succeeded.
    pub successful_requests: u64,
    /// Requests that failed.
    pub failed_requests: u64,
    /// Mean latency over every completed request so far, seconds.
    pub average_response_time: f64,
}

impl ClientCounters {
    /// Completed requests.
    pub fn completed(&self) -> u64 {
        self.successful_requests
            .saturating_add(self.failed_requests)
    }
}
