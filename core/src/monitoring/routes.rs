//! The route table: one pure function from a request and a [`MonitorSnapshot`] to a response,
//! shared by every server (the native axum server, the Python FastAPI router) so that they
//! answer byte for byte the same.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::auth::{self, Credentials};
use super::model::{
    AlertRecord, Collection, HealthResult, MonitorSnapshot, ServiceView, SystemJson,
};
use super::query::{FieldError, Query, int_param};
use crate::WallClock;
use crate::alerts::Severity;
use crate::export::{Exporter, Format, InfluxExporter, JsonExporter, PrometheusExporter};
use crate::health::HealthStatus;

/// The path the routes live under, as the original (`APIRouter(prefix="/monitoring")`).
pub const DEFAULT_PREFIX: &str = "/monitoring";

/// Longest query string accepted by default, in bytes.
pub const DEFAULT_MAX_QUERY_LEN: usize = 2048;

/// Largest `limit` of `/alerts`.
pub const MAX_ALERTS_LIMIT: i64 = 1000;

/// Largest `hours` of `/history` (a year).
pub const MAX_HISTORY_HOURS: i64 = 8760;

/// Largest `limit` of `/history`.
pub const MAX_HISTORY_LIMIT: i64 = 100_000;

/// `Content-Type` of every JSON body.
pub const JSON: &str = JsonExporter::CONTENT_TYPE;

/// How the routes are served.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteConfig {
    /// The path prefix (default `/monitoring`); requests outside it are 404.
    pub prefix: String,
    /// The bearer token `POST` routes require (and `GET` routes too with `protect_reads`).
    /// Without one, every request that needs a token is refused: a server generates one when
    /// none is configured.
    pub token: Option<String>,
    /// Whether the read routes need the token too (default `false`: open, for a server bound
    /// to loopback).
    pub protect_reads: bool,
    /// Longest query string accepted, in bytes (default 2048); longer is a 414.
    pub max_query_len: usize,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig {
            prefix: DEFAULT_PREFIX.to_owned(),
            token: None,
            protect_reads: false,
            max_query_len: DEFAULT_MAX_QUERY_LEN,
        }
    }
}

impl fmt::Debug for RouteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteConfig")
            .field("prefix", &self.prefix)
            .field("token", &self.token.as_ref().map(|_| crate::REDACTED))
            .field("protect_reads", &self.protect_reads)
            .field("max_query_len", &self.max_query_len)
            .finish()
    }
}

/// A request, as plain text. Only the `Authorization` header is read, so a server may pass
/// just that one.
#[derive(Clone, Copy, Debug)]
pub struct RouteRequest<'a> {
    /// The method, e.g. `GET` (case-sensitive, as HTTP).
    pub method: &'a str,
    /// The path as received, still percent-encoded, e.g. `/monitoring/services/data%20api`.
    pub path: &'a str,
    /// The query string without `?` (empty when none).
    pub query: &'a str,
    /// Header names (any case) and values.
    pub headers: &'a [(&'a str, &'a str)],
}

/// A recognised, authorised request with valid parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET /health`: the latest health results.
    Health,
    /// `GET /health/live`: the process answers.
    Live,
    /// `GET /health/ready`: a collection exists.
    Ready,
    /// `GET /metrics?format=json|prometheus|influxdb`.
    Metrics(Format),
    /// `GET /metrics/summary`.
    Summary,
    /// `GET /alerts?severity=&limit=`.
    Alerts {
        /// Only alerts of this severity (any text; an unknown one matches nothing).
        severity: Option<String>,
        /// At most this many, newest first.
        limit: usize,
    },
    /// `GET /services`.
    Services,
    /// `GET /services/{name}`.
    Service(String),
    /// `GET /system`.
    System,
    /// `GET /history?hours=&service=&limit=`.
    History {
        /// Collections from the last `hours`.
        hours: u32,
        /// Only collections that mention this service.
        service: Option<String>,
        /// Only the newest `limit` of them (all when `None`).
        limit: Option<usize>,
    },
    /// `POST /refresh`.
    Refresh,
    /// `GET /dashboard`.
    Dashboard,
    /// `GET /cache/stats`.
    CacheStats,
    /// `POST /cache/clear?service=`.
    CacheClear {
        /// One service, or all when `None`.
        service: Option<String>,
    },
    /// `GET /circuit-breakers`.
    CircuitBreakers,
}

/// Something a mutating route asks the server to do. The route function stays pure: the
/// server performs the action **before** sending the response (a refresh only has to be
/// started).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteAction {
    /// Start a collection (health checks of every monitor, then a collection) in the
    /// background; asked while one runs, one more round follows it (calls meanwhile coalesce).
    Refresh,
    /// Drop the cached responses of one registered service, or of all when `None`.
    ClearCache {
        /// The service.
        service: Option<String>,
    },
}

/// What to answer.
#[derive(Clone, PartialEq, Eq)]
pub struct RouteResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// More headers: always `Cache-Control: no-store`; `WWW-Authenticate` on a 401, `Allow`
    /// on a 405.
    pub headers: Vec<(&'static str, String)>,
    /// The body (for `HEAD`, the server sends none).
    pub body: Vec<u8>,
    /// What the server must do before answering.
    pub action: Option<RouteAction>,
}

impl fmt::Debug for RouteResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("action", &self.action)
            .finish()
    }
}

impl RouteResponse {
    fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        RouteResponse {
            status,
            content_type,
            headers: vec![("cache-control", "no-store".to_owned())],
            body,
            action: None,
        }
    }

    fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => RouteResponse::new(status, JSON, body),
            Err(_) => RouteResponse::detail(500, "Failed to serialize the response"),
        }
    }

    /// An error answer `{"detail": "<text>"}` (FastAPI's `HTTPException` shape), for a
    /// server's own refusals outside the table (an unknown path elsewhere, a failed action).
    pub fn error(status: u16, text: &str) -> Self {
        RouteResponse::detail(status, text)
    }

    /// `{"detail": "<text>"}`, the shape of FastAPI's `HTTPException`.
    fn detail(status: u16, text: &str) -> Self {
        #[derive(Serialize)]
        struct Detail<'a> {
            detail: &'a str,
        }
        match serde_json::to_vec(&Detail { detail: text }) {
            Ok(body) => RouteResponse::new(status, JSON, body),
            Err(_) => RouteResponse::new(status, JSON, b"{}".to_vec()),
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The body as text (lossy), for logs and tests.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
}

/// Recognises the request: the path (404), the method (405), the token (401), the query
/// (414, 422, 400). Needs no snapshot, so a refused request costs nothing more.
pub fn parse(config: &RouteConfig, request: &RouteRequest<'_>) -> Result<Route, RouteResponse> {
    let Some(rest) = request
        .path
        .strip_prefix(config.prefix.as_str())
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Err(RouteResponse::detail(404, "Not Found"));
    };
    let Some((verb, kind)) = match_path(rest) else {
        return Err(RouteResponse::detail(404, "Not Found"));
    };
    let method_ok = match verb {
        Verb::Get => matches!(request.method, "GET" | "HEAD"),
        Verb::Post => request.method == "POST",
    };
    if !method_ok {
        let allow = match verb {
            Verb::Get => "GET, HEAD",
            Verb::Post => "POST",
        };
        return Err(RouteResponse::detail(405, "Method Not Allowed").with_header("allow", allow));
    }
    if verb == Verb::Post || config.protect_reads {
        match auth::check(request.headers, config.token.as_deref()) {
            Credentials::Valid => {}
            Credentials::Missing => {
                return Err(RouteResponse::detail(401, "Not authenticated")
                    .with_header("www-authenticate", "Bearer"));
            }
            Credentials::Wrong => {
                return Err(RouteResponse::detail(401, "Invalid token")
                    .with_header("www-authenticate", "Bearer error=\"invalid_token\""));
            }
        }
    }
    if request.query.len() > config.max_query_len {
        return Err(RouteResponse::detail(414, "Query string too long"));
    }
    read_params(kind, &Query::parse(request.query))
}

/// The route's parameters: 400 for an unknown export format, 422 for bad integers.
fn read_params(kind: Kind, query: &Query) -> Result<Route, RouteResponse> {
    let mut errors: Vec<FieldError> = Vec::new();
    let route = match kind {
        Kind::Health => Route::Health,
        Kind::Live => Route::Live,
        Kind::Ready => Route::Ready,
        Kind::Metrics => {
            let name = query.get("format").unwrap_or("json");
            match name.parse::<Format>() {
                Ok(format) => Route::Metrics(format),
                Err(e) => return Err(RouteResponse::detail(400, &e.to_string())),
            }
        }
        Kind::Summary => Route::Summary,
        Kind::Alerts => Route::Alerts {
            severity: query.get("severity").map(str::to_owned),
            limit: usize::try_from(int_param(
                query,
                "limit",
                50,
                0,
                MAX_ALERTS_LIMIT,
                &mut errors,
            ))
            .unwrap_or(0),
        },
        Kind::Services => Route::Services,
        Kind::Service(name) => Route::Service(name),
        Kind::System => Route::System,
        Kind::History => Route::History {
            hours: u32::try_from(int_param(
                query,
                "hours",
                24,
                0,
                MAX_HISTORY_HOURS,
                &mut errors,
            ))
            .unwrap_or(0),
            service: query.get("service").map(str::to_owned),
            limit: query.get("limit").map(|_| {
                usize::try_from(int_param(
                    query,
                    "limit",
                    0,
                    0,
                    MAX_HISTORY_LIMIT,
                    &mut errors,
                ))
                .unwrap_or(0)
            }),
        },
        Kind::Refresh => Route::Refresh,
        Kind::Dashboard => Route::Dashboard,
        Kind::CacheStats => Route::CacheStats,
        Kind::CacheClear => Route::CacheClear {
            service: query.get("service").map(str::to_owned),
        },
        Kind::CircuitBreakers => Route::CircuitBreakers,
    };
    if errors.is_empty() {
        Ok(route)
    } else {
        #[derive(Serialize)]
        struct Invalid {
            detail: Vec<FieldError>,
        }
        Err(RouteResponse::json(422, &Invalid { detail: errors }))
    }
}

/// Which route matched, before its parameters are read.
enum Kind {
    Health,
    Live,
    Ready,
    Metrics,
    Summary,
    Alerts,
    Services,
    Service(String),
    System,
    History,
    Refresh,
    Dashboard,
    CacheStats,
    CacheClear,
    CircuitBreakers,
}

/// The route of a path below the prefix (without its leading `/`).
fn match_path(rest: &str) -> Option<(Verb, Kind)> {
    Some(match rest {
        "health" => (Verb::Get, Kind::Health),
        "health/live" => (Verb::Get, Kind::Live),
        "health/ready" => (Verb::Get, Kind::Ready),
        "metrics" => (Verb::Get, Kind::Metrics),
        "metrics/summary" => (Verb::Get, Kind::Summary),
        "alerts" => (Verb::Get, Kind::Alerts),
        "services" => (Verb::Get, Kind::Services),
        "system" => (Verb::Get, Kind::System),
        "history" => (Verb::Get, Kind::History),
        "refresh" => (Verb::Post, Kind::Refresh),
        "dashboard" => (Verb::Get, Kind::Dashboard),
        "cache/stats" => (Verb::Get, Kind::CacheStats),
        "cache/clear" => (Verb::Post, Kind::CacheClear),
        "circuit-breakers" => (Verb::Get, Kind::CircuitBreakers),
        other => {
            let name = other.strip_prefix("services/")?;
            if name.is_empty() || name.contains('/') {
                return None;
            }
            (Verb::Get, Kind::Service(decode_segment(name)))
        }
    })
}

/// Percent-decodes one path segment (invalid UTF-8 replaced).
fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Answers a recognised route from `snapshot`; `wall` dates the answer.
pub fn respond(route: &Route, snapshot: &MonitorSnapshot, wall: WallClock) -> RouteResponse {
    let now = Ts(wall);
    match route {
        Route::Health => health(snapshot, now),
        Route::Live => RouteResponse::json(
            200,
            &Status {
                status: "alive",
                timestamp: now,
            },
        ),
        Route::Ready => match snapshot.latest() {
            Some(_) => RouteResponse::json(
                200,
                &Status {
                    status: "ready",
                    timestamp: now,
                },
            ),
            None => RouteResponse::detail(503, "Service not ready"),
        },
        Route::Metrics(format) => metrics(*format, snapshot),
        Route::Summary => RouteResponse::json(200, &OrEmpty(snapshot.performance_summary(wall))),
        Route::Alerts { severity, limit } => {
            let mut alerts: Vec<AlertRecord<'_>> = snapshot
                .alerts
                .iter()
                .filter(|a| severity.as_deref().is_none_or(|s| a.severity.as_str() == s))
                .map(AlertRecord::from)
                .collect();
            alerts.sort_by_key(|a| std::cmp::Reverse((a.timestamp, a.id)));
            alerts.truncate(*limit);
            RouteResponse::json(200, &alerts)
        }
        Route::Services => services(snapshot, now),
        Route::Service(name) => service(snapshot, name, now),
        Route::System => system(snapshot, now),
        Route::History {
            hours,
            service,
            limit,
        } => history(snapshot, *hours, service.as_deref(), *limit, now),
        Route::Refresh => {
            let mut r = RouteResponse::json(
                200,
                &Message {
                    message: "Metrics refresh triggered",
                    timestamp: now,
                },
            );
            r.action = Some(RouteAction::Refresh);
            r
        }
        Route::Dashboard => dashboard(snapshot, now),
        Route::CacheStats => RouteResponse::json(
            200,
            &CacheStatsBody {
                timestamp: now,
                cache_stats: cache_stats(snapshot),
            },
        ),
        Route::CacheClear { service } => cache_clear(snapshot, service.as_deref(), now),
        Route::CircuitBreakers => RouteResponse::json(
            200,
            &BreakersBody {
                timestamp: now,
                circuit_breakers: breakers(snapshot),
            },
        ),
    }
}

/// [`parse`], then [`respond`]: the whole route table in one call.
pub fn handle(
    config: &RouteConfig,
    request: &RouteRequest<'_>,
    snapshot: &MonitorSnapshot,
    wall: WallClock,
) -> RouteResponse {
    match parse(config, request) {
        Ok(route) => respond(&route, snapshot, wall),
        Err(refused) => refused,
    }
}

/// A wall-clock time written as RFC 3339 UTC text.
#[derive(Clone, Copy)]
struct Ts(WallClock);

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339())
    }
}

/// Borrowed `(key, value)` pairs written as a JSON object in their order.
struct Pairs<'a, V>(Vec<(&'a str, V)>);

impl<V: Serialize> Serialize for Pairs<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `Some(x)` as `x`, `None` as `{}` (where the original wrote an empty dict).
struct OrEmpty<T>(Option<T>);

impl<T: Serialize> Serialize for OrEmpty<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(v) => v.serialize(s),
            None => s.serialize_map(Some(0))?.end(),
        }
    }
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
    timestamp: Ts,
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
    timestamp: Ts,
}

fn health(snapshot: &MonitorSnapshot, now: Ts) -> RouteResponse {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        timestamp: Ts,
        services: Pairs<'a, &'a HealthResult>,
    }
    let all_up = snapshot.health.iter().all(|(_, h)| h.healthy);
    RouteResponse::json(
        200,
        &Body {
            status: if all_up { "healthy" } else { "degraded" },
            timestamp: now,
            services: Pairs(
                snapshot
                    .health
                    .iter()
                    .map(|(n, h)| (n.as_str(), h))
                    .collect(),
            ),
        },
    )
}

fn metrics(format: Format, snapshot: &MonitorSnapshot) -> RouteResponse {
    let mut text = String::new();
    let written = match format {
        Format::Json => {
            return match snapshot.latest() {
                Some(latest) => RouteResponse::json(200, latest),
                None => RouteResponse::detail(503, "No metrics collected yet"),
            };
        }
        Format::Prometheus => PrometheusExporter::default().export(&snapshot.export, &mut text),
        Format::Influx => InfluxExporter.export(&snapshot.export, &mut text),
    };
    match written {
        Ok(()) => RouteResponse::new(200, format.content_type(), text.into_bytes()),
        Err(e) => RouteResponse::detail(500, &e.to_string()),
    }
}

/// The status the routes give a registered service: its breaker and its latest check, the
/// worst winning (`unknown` before the first check with a closed breaker).
fn service_status(view: &ServiceView, health: Option<&HealthResult>) -> HealthStatus {
    match (view.circuit_breaker.state, health) {
        ("OPEN", _) | (_, Some(HealthResult { healthy: false, .. })) => HealthStatus::Unhealthy,
        ("HALF_OPEN", _) => HealthStatus::Degraded,
        (_, Some(_)) => HealthStatus::Healthy,
        (_, None) => HealthStatus::Unknown,
    }
}

fn services(snapshot: &MonitorSnapshot, now: Ts) -> RouteResponse {
    #[derive(Serialize)]
    struct Entry<'a> {
        metrics: &'a crate::client::ServiceMetrics,
        health: OrEmpty<&'a HealthResult>,
        status: HealthStatus,
        last_check: Ts,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        timestamp: Ts,
        services: Pairs<'a, Entry<'a>>,
    }
    let entries = snapshot
        .services
        .iter()
        .map(|s| {
            let health = snapshot.health_of(&s.name);
            let entry = Entry {
                metrics: &s.metrics,
                health: OrEmpty(health),
                status: service_status(s, health),
                last_check: health.map_or(now, |h| Ts(h.last_check)),
            };
            (s.name.as_str(), entry)
        })
        .collect();
    RouteResponse::json(
        200,
        &Body {
            timestamp: now,
            services: Pairs(entries),
        },
    )
}

fn service(snapshot: &MonitorSnapshot, name: &str, now: Ts) -> RouteResponse {
    #[derive(Serialize)]
    struct Body<'a> {
        service_name: &'a str,
        timestamp: Ts,
        metrics: &'a crate::client::ServiceMetrics,
        health: OrEmpty<&'a HealthResult>,
        circuit_breaker: &'a crate::client::CircuitBreakerState,
        status: HealthStatus,
    }
    let Some(view) = snapshot.service(name) else {
        return RouteResponse::detail(404, &format!("Service {name} not found"));
    };
    let health = snapshot.health_of(name);
    RouteResponse::json(
        200,
        &Body {
            service_name: &view.name,
            timestamp: now,
            metrics: &view.metrics,
            health: OrEmpty(health),
            circuit_breaker: &view.circuit_breaker,
            status: service_status(view, health),
        },
    )
}

fn system(snapshot: &MonitorSnapshot, now: Ts) -> RouteResponse {
    #[derive(Serialize)]
    struct Summary {
        cpu_percent: f64,
        memory_percent: f64,
        disk_usage_percent: f64,
        process_count: u64,
    }
    #[derive(Serialize)]
    struct Body {
        timestamp: Ts,
        system: SystemJson,
        summary: Summary,
    }
    let Some(latest) = snapshot.latest() else {
        return RouteResponse::detail(503, "No metrics collected yet");
    };
    let s = latest.system;
    RouteResponse::json(
        200,
        &Body {
            timestamp: now,
            system: SystemJson(s),
            summary: Summary {
                cpu_percent: s.cpu_percent,
                memory_percent: s.memory_percent,
                disk_usage_percent: s.disk_usage_percent,
                process_count: s.process_count,
            },
        },
    )
}

fn history(
    snapshot: &MonitorSnapshot,
    hours: u32,
    service: Option<&str>,
    limit: Option<usize>,
    now: Ts,
) -> RouteResponse {
    #[derive(Serialize)]
    struct Body<'a> {
        timestamp: Ts,
        hours: u32,
        service_filter: Option<&'a str>,
        entries_count: usize,
        history: Vec<&'a Collection>,
    }
    let span = u64::from(hours).saturating_mul(3_600_000_000);
    let since = WallClock::from_unix_micros(now.0.as_unix_micros().saturating_sub(span));
    let mut entries: Vec<&Collection> = snapshot
        .history
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| c.timestamp > since)
        .filter(|c| service.is_none_or(|s| c.mentions(s)))
        .collect();
    if let Some(limit) = limit {
        // The newest `limit`, still oldest first.
        entries.drain(..entries.len().saturating_sub(limit));
    }
    RouteResponse::json(
        200,
        &Body {
            timestamp: now,
            hours,
            service_filter: service,
            entries_count: entries.len(),
            history: entries,
        },
    )
}

fn dashboard(snapshot: &MonitorSnapshot, now: Ts) -> RouteResponse {
    #[derive(Serialize)]
    struct Overview {
        total_services: usize,
        healthy_services: usize,
        unhealthy_services: usize,
        error_alerts: usize,
        warning_alerts: usize,
        system_cpu: f64,
        system_memory: f64,
    }
    #[derive(Serialize)]
    struct Monitor {
        status: HealthStatus,
        response_time: f64,
        last_check: Ts,
    }
    #[derive(Serialize)]
    struct Alerts<'a> {
        errors: Vec<AlertRecord<'a>>,
        warnings: Vec<AlertRecord<'a>>,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        timestamp: Ts,
        overview: Overview,
        services: Pairs<'a, Monitor>,
        alerts: Alerts<'a>,
        performance: OrEmpty<super::model::PerformanceSummary>,
        system: SystemJson,
        // Beyond the original's keys: what its page fetched from three more routes (and the
        // percentiles it never had), so that one request gives the page one consistent moment.
        circuit_breakers: Pairs<'a, BreakerBody<'a>>,
        cache_stats: Pairs<'a, &'a crate::CacheStats>,
        latency: Pairs<'a, Latency>,
    }
    /// Newest firing alerts of one kind shown on the dashboard.
    const SHOWN: usize = 5;
    let system = snapshot.latest().map(|c| c.system).unwrap_or_default();
    let healthy = snapshot.health.iter().filter(|(_, h)| h.healthy).count();
    let firing = |error: bool| {
        snapshot
            .active_alerts()
            .rev()
            .filter(move |a| (a.severity >= Severity::Error) == error)
    };
    let body = Body {
        timestamp: now,
        overview: Overview {
            total_services: snapshot.health.len(),
            healthy_services: healthy,
            unhealthy_services: snapshot.health.len() - healthy,
            error_alerts: firing(true).count(),
            warning_alerts: firing(false).count(),
            system_cpu: system.cpu_percent,
            system_memory: system.memory_percent,
        },
        services: Pairs(
            snapshot
                .health
                .iter()
                .map(|(n, h)| {
                    let m = Monitor {
                        status: h.status(),
                        response_time: h.check_time,
                        last_check: Ts(h.last_check),
                    };
                    (n.as_str(), m)
                })
                .collect(),
        ),
        alerts: Alerts {
            errors: firing(true).take(SHOWN).map(AlertRecord::from).collect(),
            warnings: firing(false).take(SHOWN).map(AlertRecord::from).collect(),
        },
        performance: OrEmpty(snapshot.performance_summary(now.0)),
        system: SystemJson(system),
        circuit_breakers: breakers(snapshot),
        cache_stats: cache_stats(snapshot),
        latency: latency(snapshot),
    };
    RouteResponse::json(200, &body)
}

/// A registered service's latency percentiles (seconds; `null` before its first request),
/// read live like its breaker.
#[derive(Serialize)]
#[expect(
    clippy::struct_field_names,
    reason = "the JSON keys, named like the metrics' own"
)]
struct Latency {
    p50_response_time: Option<f64>,
    p95_response_time: Option<f64>,
    p99_response_time: Option<f64>,
    max_response_time: f64,
}

/// Each registered service's latency percentiles, in registration order.
fn latency(snapshot: &MonitorSnapshot) -> Pairs<'_, Latency> {
    Pairs(
        snapshot
            .services
            .iter()
            .map(|s| {
                let totals = snapshot.export.metrics.service(&s.name);
                let latency = Latency {
                    p50_response_time: totals.and_then(|t| t.p50_response_time),
                    p95_response_time: totals.and_then(|t| t.p95_response_time),
                    p99_response_time: totals.and_then(|t| t.p99_response_time),
                    max_response_time: totals.map_or(0.0, |t| t.max_response_time),
                };
                (s.name.as_str(), latency)
            })
            .collect(),
    )
}

/// Each registered service's cache statistics, in registration order.
fn cache_stats(snapshot: &MonitorSnapshot) -> Pairs<'_, &crate::CacheStats> {
    Pairs(
        snapshot
            .services
            .iter()
            .map(|s| (s.name.as_str(), &s.metrics.http_client_metrics.cache_stats))
            .collect(),
    )
}

/// Each registered service's breaker, in registration order.
fn breakers(snapshot: &MonitorSnapshot) -> Pairs<'_, BreakerBody<'_>> {
    Pairs(
        snapshot
            .services
            .iter()
            .map(|s| (s.name.as_str(), BreakerBody::of(s)))
            .collect(),
    )
}

#[derive(Serialize)]
struct CacheStatsBody<'a> {
    timestamp: Ts,
    cache_stats: Pairs<'a, &'a crate::CacheStats>,
}

fn cache_clear(snapshot: &MonitorSnapshot, service: Option<&str>, now: Ts) -> RouteResponse {
    #[derive(Serialize)]
    struct Body {
        message: String,
        timestamp: Ts,
        note: &'static str,
    }
    if let Some(name) = service
        && snapshot.service(name).is_none()
    {
        return RouteResponse::detail(404, &format!("Service {name} not found"));
    }
    let message = match service {
        Some(name) => format!("Cache clear requested for {name}"),
        None => "Cache clear requested for all services".to_owned(),
    };
    let mut r = RouteResponse::json(
        200,
        &Body {
            message,
            timestamp: now,
            note: "Cached responses dropped",
        },
    );
    r.action = Some(RouteAction::ClearCache {
        service: service.map(str::to_owned),
    });
    r
}

#[derive(Serialize)]
struct BreakersBody<'a> {
    timestamp: Ts,
    circuit_breakers: Pairs<'a, BreakerBody<'a>>,
}

/// A breaker in the original `CircuitBreaker.get_state()` shape.
#[derive(Serialize)]
struct BreakerBody<'a> {
    state: &'static str,
    failure_count: u32,
    last_failure_time: Option<&'a str>,
    failure_threshold: Option<u32>,
}

impl<'a> BreakerBody<'a> {
    fn of(view: &'a ServiceView) -> Self {
        let b = &view.circuit_breaker;
        BreakerBody {
            state: b.state,
            failure_count: b.failure_count,
            last_failure_time: b.last_failure_time.as_deref(),
            failure_threshold: b.failure_threshold,
        }
    }
}
