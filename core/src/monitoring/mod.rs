//! The monitoring service's brain: the `/monitoring` route table as one pure function, and the
//! monitor's state (health results, a bounded history of collections, alerts) as a sans-IO
//! machine.
//!
//! | piece | what |
//! |---|---|
//! | [`handle`] = [`parse`] + [`respond`] | `(method, path, query, headers)` + [`MonitorSnapshot`] + wall clock → [`RouteResponse`] (status, content type, headers, body) and an optional [`RouteAction`] |
//! | [`MonitorState`] | health results per monitor, [`Collection`]s in a bounded history, alert rules judged on every collection |
//! | [`MonitorSnapshot`] | what the routes read: the history, each registered service's live metrics and breaker, the latest health results, the alerts, the exporters' input |
//!
//! Every server calls the same function — the native axum server (`tether-native`, feature
//! `server`) and the Python FastAPI router — so they answer byte for byte the same. Its inputs
//! are plain text and a snapshot struct; it reads no clock and changes nothing: a mutating
//! route (`POST /refresh`, `POST /cache/clear`) returns its effect as a [`RouteAction`] that
//! the server performs.
//!
//! ## The routes
//!
//! Under [`RouteConfig::prefix`] (default `/monitoring`), with the original's methods, paths,
//! query parameters and JSON keys in the original's order:
//!
//! | method, path | query | 200 body | other |
//! |---|---|---|---|
//! | `GET /health` | | `{status: healthy\|degraded, timestamp, services: {name: {healthy, check_time, last_check[, error]}}}` | |
//! | `GET /health/live` | | `{status: "alive", timestamp}` | |
//! | `GET /health/ready` | | `{status: "ready", timestamp}` | 503 before the first collection |
//! | `GET /metrics` | `format` = `json` (default), `prometheus`, `influxdb` | the latest [`Collection`]; Prometheus text 0.0.4; InfluxDB lines | 400 unknown format; 503 (json) before the first collection |
//! | `GET /metrics/summary` | | [`PerformanceSummary`] or `{}` | |
//! | `GET /alerts` | `severity`, `limit` (0–1000, default 50) | array of `{type, [service], message, severity, timestamp, id, resolved_at}`, newest first | 422 bad `limit` |
//! | `GET /services` | | `{timestamp, services: {name: {metrics, health, status, last_check}}}` | |
//! | `GET /services/{name}` | | `{service_name, timestamp, metrics, health, circuit_breaker, status}` | 404 unknown service |
//! | `GET /system` | | `{timestamp, system, summary: {cpu_percent, memory_percent, disk_usage_percent, process_count}}` | 503 before the first collection |
//! | `GET /history` | `hours` (0–8760, default 24), `service`, `limit` (newest N) | `{timestamp, hours, service_filter, entries_count, history}` | 422 bad `hours` or `limit` |
//! | `POST /refresh` | | `{message, timestamp}` + [`RouteAction::Refresh`] | token |
//! | `GET /dashboard` | | `{timestamp, overview, services, alerts: {errors, warnings}, performance, system, circuit_breakers, cache_stats, latency}` | |
//! | `GET /cache/stats` | | `{timestamp, cache_stats: {name: stats}}` | |
//! | `POST /cache/clear` | `service` | `{message, timestamp, note}` + [`RouteAction::ClearCache`] | token; 404 unknown service |
//! | `GET /circuit-breakers` | | `{timestamp, circuit_breakers: {name: {state, failure_count, last_failure_time, failure_threshold}}}` | |
//!
//! Errors are `{"detail": "<text>"}` (FastAPI's shape); a bad integer parameter is a 422 with
//! pydantic's error records; an unknown path is a 404, a wrong method a 405 with `Allow`.
//! `POST` routes need `Authorization: Bearer <token>` (compared in constant time), and so do
//! the read routes with [`RouteConfig::protect_reads`]; a missing or wrong token is a 401 with
//! `WWW-Authenticate: Bearer`. `HEAD` is accepted wherever `GET` is. Timestamps are RFC 3339
//! UTC with microseconds. `docs/compat.md` lists what differs from the original and why.

mod auth;
mod model;
mod query;
mod routes;
mod state;

pub use model::{
    AlertRecord, CollectedServices, Collection, HealthResult, HealthSummary, MonitorSnapshot,
    PerformanceSummary, ServicePerformance, ServiceView, SystemAverages, SystemJson,
};
pub use routes::{
    DEFAULT_MAX_QUERY_LEN, DEFAULT_PREFIX, JSON, MAX_ALERTS_LIMIT, MAX_HISTORY_HOURS,
    MAX_HISTORY_LIMIT, Route, RouteAction, RouteConfig, RouteRequest, RouteResponse, handle, parse,
    respond,
};
pub use state::{
    DEFAULT_CHECK_WINDOW, DEFAULT_HISTORY_CAPACITY, DEFAULT_MAX_MONITORS, MonitorState,
    ServiceSample, StateConfig,
};

/// `a == b` in time that depends only on the lengths (for comparing secrets such as tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    auth::constant_time_eq(a, b)
}

#[cfg(test)]
mod tests;
