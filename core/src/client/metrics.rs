//! Metric and state records in the shapes the original Python client returned, so that every
//! frontend (and the Python drop-in) reports the same keys.

use serde::Serialize;

use crate::cache::CacheStats;
use crate::metrics::{CountMap, ServiceSnapshot};

/// A client's totals over every service it has called: the original `get_metrics()` keys, in
/// order. Times are seconds; `last_request_time` is RFC 3339 UTC.
///
/// Unlike the original, requests and attempts are counted apart: `failed_requests` never
/// exceeds `total_requests`, response times are per logical request, and cache hits count as
/// (successful) requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientMetrics {
    /// Logical requests started (cache hits included).
    pub total_requests: u64,
    /// Logical requests that succeeded (status < 400).
    pub successful_requests: u64,
    /// Logical requests that failed (never more than `total_requests`).
    pub failed_requests: u64,
    /// `successful / completed`; 0.0 when none completed.
    pub success_rate: f64,
    /// Mean logical-request latency.
    pub average_response_time: f64,
    /// Smallest logical-request latency (0.0 when none).
    pub min_response_time: f64,
    /// Largest logical-request latency (0.0 when none).
    pub max_response_time: f64,
    /// Failed attempts and policy rejections by name (`http_503`, `timeout`, `circuit_open`…).
    pub error_counts: CountMap,
    /// Cache counters and occupancy.
    pub cache_stats: CacheStats,
    /// When the latest request completed.
    pub last_request_time: Option<String>,
}

impl ClientMetrics {
    pub(crate) fn from_snapshot(s: &ServiceSnapshot, cache_stats: CacheStats) -> Self {
        ClientMetrics {
            total_requests: s.total_requests,
            successful_requests: s.successful_requests,
            failed_requests: s.failed_requests,
            success_rate: s.success_rate,
            average_response_time: s.average_response_time,
            min_response_time: s.min_response_time,
            max_response_time: s.max_response_time,
            error_counts: s.error_counts.clone(),
            cache_stats,
            last_request_time: s.last_request_time.map(crate::WallClock::to_rfc3339),
        }
    }
}

/// One service's numbers, then its client's totals: the original `get_service_metrics()`
/// keys, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceMetrics {
    /// The service name.
    pub service: String,
    /// Logical requests (cache hits included).
    pub total_requests: u64,
    /// Requests answered below 400.
    pub successful_requests: u64,
    /// Requests that failed (4xx/5xx, transport, breaker).
    pub failed_requests: u64,
    /// `successful / completed`; 0.0 when none completed.
    pub success_rate: f64,
    /// Mean latency, seconds.
    pub average_response_time: f64,
    /// Smallest latency, seconds (0.0 when none).
    pub min_response_time: f64,
    /// Largest latency, seconds.
    pub max_response_time: f64,
    /// Failures by name (`http_503`, `timeout`, `circuit_open`, …).
    pub error_counts: CountMap,
    /// When the latest request completed (RFC 3339 UTC).
    pub last_request_time: Option<String>,
    /// The whole client's metrics.
    pub http_client_metrics: ClientMetrics,
}

impl ServiceMetrics {
    pub(crate) fn new(service: &str, s: ServiceSnapshot, client: ClientMetrics) -> Self {
        ServiceMetrics {
            service: service.to_owned(),
            total_requests: s.total_requests,
            successful_requests: s.successful_requests,
            failed_requests: s.failed_requests,
            success_rate: s.success_rate,
            average_response_time: s.average_response_time,
            min_response_time: s.min_response_time,
            max_response_time: s.max_response_time,
            error_counts: s.error_counts,
            last_request_time: s.last_request_time.map(crate::WallClock::to_rfc3339),
            http_client_metrics: client,
        }
    }
}

/// A breaker in the original `CircuitBreaker.get_state()` shape, plus the service name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CircuitBreakerState {
    /// The service (breaker name).
    pub service: String,
    /// `CLOSED`, `OPEN` or `HALF_OPEN` (upper case, as the original).
    pub state: &'static str,
    /// Consecutive failures counted.
    pub failure_count: u32,
    /// When the last counted failure happened (RFC 3339 UTC).
    pub last_failure_time: Option<String>,
    /// The consecutive-failure threshold (`None` when that trigger is off).
    pub failure_threshold: Option<u32>,
}

/// The result of a health probe
/// ([`ServiceClient::health_check`](crate::client::ServiceClient::health_check)).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthCheck {
    /// The service.
    pub service: String,
    /// Whether the probe answered 2xx in time.
    pub healthy: bool,
    /// The status it answered, if it answered.
    pub status_code: Option<u16>,
    /// How long the probe took, seconds.
    pub check_time: f64,
    /// When it finished (RFC 3339 UTC).
    pub last_check: String,
    /// What went wrong, if anything.
    pub error: Option<String>,
}
