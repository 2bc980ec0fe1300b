//! Tests of the route table and the monitor state.

use std::time::Duration;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::*;
use crate::client::{CircuitBreakerState, ClientMetrics, ServiceMetrics};
use crate::metrics::{CacheOutcome, FailureCategory, Metrics, RequestRecord};
use crate::{
    AlertConfig, AlertRule, CacheStats, ExportSnapshot, MetricsSnapshot, NetworkIo, SystemSample,
    Timestamp, WallClock,
};

// ---------------------------------------------------------------------------------------------
// JSON that keeps key order (serde_json's `Value` sorts keys without `preserve_order`).

#[derive(Clone, Debug, PartialEq)]
enum J {
    Map(Vec<(String, J)>),
    List(Vec<J>),
    Leaf(serde_json::Value),
}

impl<'de> serde::Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<J, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, J>()? {
                    out.push((k, v));
                }
                Ok(J::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<J, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<J>()? {
                    out.push(v);
                }
                Ok(J::List(out))
            }
            fn visit_bool<E>(self, v: bool) -> Result<J, E> {
                Ok(J::Leaf(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<J, E> {
                Ok(J::Leaf(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<J, E> {
                Ok(J::Leaf(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<J, E> {
                Ok(J::Leaf(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<J, E> {
                Ok(J::Leaf(v.into()))
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Leaf(serde_json::Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

impl J {
    fn parse(r: &RouteResponse) -> J {
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
    }

    fn at(&self, path: &[&str]) -> &J {
        path.iter().fold(self, |j, key| match j {
            J::Map(m) => {
                &m.iter()
                    .find(|(k, _)| k == key)
                    .unwrap_or_else(|| panic!("no key {key} in {j:?}"))
                    .1
            }
            J::List(l) => &l[key.parse::<usize>().expect("index")],
            J::Leaf(_) => panic!("{key} in a leaf"),
        })
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            J::Map(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn list(&self) -> &[J] {
        match self {
            J::List(l) => l,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn leaf(&self) -> &serde_json::Value {
        match self {
            J::Leaf(v) => v,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn str(&self) -> &str {
        self.leaf().as_str().expect("a string")
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures: a monitor state fed with real metrics snapshots.

const T0: u64 = 1_795_718_458_000_000;

fn wall(secs: u64) -> WallClock {
    WallClock::from_unix_micros(T0 + secs * 1_000_000)
}

fn now(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// A metrics registry the tests drive with whole requests.
struct Load(Metrics);

impl Load {
    fn new() -> Self {
        Load(Metrics::default())
    }

    fn requests(&mut self, service: &str, ok: u32, failed: u32, latency_ms: u64) {
        for i in 0..ok + failed {
            let success = i < ok;
            self.0.on_request_start(service);
            self.0.on_request_end(
                service,
                &RequestRecord {
                    success,
                    latency: Duration::from_millis(latency_ms),
                    failure: (!success).then_some(FailureCategory::Status5xx),
                    retries: 0,
                    cache: CacheOutcome::Miss,
                    wall: wall(0),
                },
            );
        }
    }

    fn sample(&mut self, service: &str, breaker: &'static str) -> ServiceSample {
        self.0.register(service);
        let totals = self.0.service_snapshot(service).expect("registered");
        let client = ClientMetrics::from_snapshot(&totals, CacheStats::default());
        ServiceSample {
            view: ServiceView {
                name: service.to_owned(),
                metrics: ServiceMetrics::new(service, totals.clone(), client),
                circuit_breaker: CircuitBreakerState {
                    service: service.to_owned(),
                    state: breaker,
                    failure_count: u32::from(breaker == "OPEN") * 5,
                    last_failure_time: (breaker == "OPEN").then(|| wall(1).to_rfc3339()),
                    failure_threshold: Some(5),
                },
            },
            totals,
        }
    }
}

fn host(cpu: f64) -> SystemSample {
    SystemSample {
        cpu_percent: cpu,
        memory_percent: 40.5,
        disk_usage_percent: 61.2,
        network_io: Some(NetworkIo {
            bytes_sent: 10,
            bytes_recv: 20,
            packets_sent: 1,
            packets_recv: 2,
        }),
        process_count: 123,
    }
}

fn snapshot_of(state: &MonitorState, services: &[ServiceSample], at: WallClock) -> MonitorSnapshot {
    let views: Vec<ServiceView> = services.iter().map(|s| s.view.clone()).collect();
    let export = ExportSnapshot {
        timestamp: at,
        system: state.latest().map(|c| c.system),
        metrics: MetricsSnapshot {
            taken_at: at,
            global: crate::ServiceSnapshot::default(),
            services: services
                .iter()
                .map(|s| (s.view.name.clone(), s.totals.clone()))
                .collect(),
        },
        ..ExportSnapshot::default()
    };
    state.snapshot(views, export)
}

/// Two services (`api` busy and failing, `idle` never called) and an ad-hoc monitor `db`,
/// collected twice; `api`'s errors fire `service_errors` and the CPU `system_cpu_high`.
fn populated() -> (MonitorState, Vec<ServiceSample>) {
    let mut state = MonitorState::new(StateConfig::default()).unwrap();
    let mut load = Load::new();
    state.record_check("db", HealthResult::passed(0.002, wall(1)));
    state.record_check("api", HealthResult::passed(0.01, wall(1)));
    state.record_check(
        "idle",
        HealthResult::failed(0.0005, wall(1), "connection refused"),
    );
    let services = vec![load.sample("api", "CLOSED"), load.sample("idle", "CLOSED")];
    state.collect(now(1), wall(1), Some(host(12.5)), &services);
    load.requests("api", 5, 5, 40);
    let services = vec![load.sample("api", "OPEN"), load.sample("idle", "CLOSED")];
    state.collect(now(11), wall(11), Some(host(95.5)), &services);
    (state, services)
}

fn cfg(token: Option<&str>) -> RouteConfig {
    RouteConfig {
        token: token.map(str::to_owned),
        ..RouteConfig::default()
    }
}

fn call(
    config: &RouteConfig,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    snap: &MonitorSnapshot,
) -> RouteResponse {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    handle(
        config,
        &RouteRequest {
            method,
            path,
            query,
            headers,
        },
        snap,
        wall(20),
    )
}

fn get(target: &str, snap: &MonitorSnapshot) -> RouteResponse {
    call(&cfg(Some("tok")), "GET", target, &[], snap)
}

const BEARER: &[(&str, &str)] = &[("Authorization", "Bearer tok")];

// ---------------------------------------------------------------------------------------------
// The routes.

#[test]
fn every_get_route_answers_200_json_with_the_original_keys_in_order() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let stamp = wall(20).to_rfc3339();
    let cases: &[(&str, &[&str])] = &[
        ("/monitoring/health", &["status", "timestamp", "services"]),
        ("/monitoring/health/live", &["status", "timestamp"]),
        ("/monitoring/health/ready", &["status", "timestamp"]),
        (
            "/monitoring/metrics",
            &["timestamp", "system", "services", "health"],
        ),
        (
            "/monitoring/metrics?format=json",
            &["timestamp", "system", "services", "health"],
        ),
        (
            "/monitoring/metrics/summary",
            &[
                "summary_timestamp",
                "time_period_hours",
                "system_averages",
                "service_performance",
                "active_alerts",
                "total_metrics_collected",
            ],
        ),
        ("/monitoring/services", &["timestamp", "services"]),
        (
            "/monitoring/services/api",
            &[
                "service_name",
                "timestamp",
                "metrics",
                "health",
                "circuit_breaker",
                "status",
            ],
        ),
        ("/monitoring/system", &["timestamp", "system", "summary"]),
        (
            "/monitoring/history",
            &[
                "timestamp",
                "hours",
                "service_filter",
                "entries_count",
                "history",
            ],
        ),
        (
            "/monitoring/dashboard",
            &[
                "timestamp",
                "overview",
                "services",
                "alerts",
                "performance",
                "system",
                "circuit_breakers",
                "cache_stats",
                "latency",
            ],
        ),
        ("/monitoring/cache/stats", &["timestamp", "cache_stats"]),
        (
            "/monitoring/circuit-breakers",
            &["timestamp", "circuit_breakers"],
        ),
    ];
    for (target, keys) in cases {
        let r = get(target, &snap);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(r.content_type, "application/json", "{target}");
        assert!(
            r.headers
                .contains(&("cache-control", "no-store".to_owned()))
        );
        assert_eq!(
            r.action, None,
            "{target}: GET routes never ask for an action"
        );
        let j = J::parse(&r);
        assert_eq!(j.keys(), *keys, "{target}");
        // Responses are dated by the wall clock given (the collection's own time for the
        // collection itself), as RFC 3339 UTC.
        let summary = target.ends_with("summary");
        let collection = target.starts_with("/monitoring/metrics") && !summary;
        let key = if summary {
            "summary_timestamp"
        } else {
            "timestamp"
        };
        let expected = if collection {
            wall(11).to_rfc3339()
        } else {
            stamp.clone()
        };
        assert_eq!(j.at(&[key]).str(), expected, "{target}");
    }
    // `HEAD` is answered like `GET` (the server sends no body).
    let head = call(&cfg(None), "HEAD", "/monitoring/health", &[], &snap);
    assert_eq!(head.status, 200);
    assert_eq!(head.body, get("/monitoring/health", &snap).body);
}

#[test]
fn nested_shapes_of_the_health_and_metrics_routes() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));

    let health = J::parse(&get("/monitoring/health", &snap));
    assert_eq!(
        health.at(&["status"]).str(),
        "degraded",
        "idle's check failed"
    );
    assert_eq!(health.at(&["services"]).keys(), ["db", "api", "idle"]);
    assert_eq!(
        health.at(&["services", "db"]).keys(),
        ["healthy", "check_time", "last_check"]
    );
    assert_eq!(
        health.at(&["services", "idle"]).keys(),
        ["healthy", "check_time", "last_check", "error"]
    );
    assert_eq!(
        health.at(&["services", "idle", "error"]).str(),
        "connection refused"
    );

    let data = J::parse(&get("/monitoring/metrics", &snap));
    assert_eq!(data.at(&["timestamp"]).str(), wall(11).to_rfc3339());
    assert_eq!(
        data.at(&["system"]).keys(),
        [
            "cpu_percent",
            "memory_percent",
            "disk_usage_percent",
            "network_io",
            "process_count"
        ]
    );
    assert_eq!(
        data.at(&["system", "network_io"]).keys(),
        ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv"]
    );
    assert_eq!(
        data.at(&["services"]).keys(),
        ["service_clients", "global_health"]
    );
    assert_eq!(
        data.at(&["services", "service_clients"]).keys(),
        ["api", "idle"]
    );
    assert_eq!(
        data.at(&["services", "service_clients", "api"]).keys(),
        [
            "service",
            "total_requests",
            "successful_requests",
            "failed_requests",
            "success_rate",
            "average_response_time",
            "min_response_time",
            "max_response_time",
            "error_counts",
            "last_request_time",
            "http_client_metrics"
        ]
    );
    assert_eq!(
        data.at(&["services", "global_health"]).keys(),
        ["db", "api", "idle"]
    );
    assert_eq!(
        data.at(&["health", "api"]).keys(),
        [
            "status",
            "response_time",
            "last_check",
            "error_count",
            "success_rate"
        ]
    );
    assert_eq!(data.at(&["health", "idle", "status"]).str(), "unhealthy");
    assert_eq!(data.at(&["health", "idle", "error_count"]).leaf(), 1);
}

#[test]
fn nested_shapes_of_the_service_and_dashboard_routes() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let services = J::parse(&get("/monitoring/services", &snap));
    assert_eq!(
        services.at(&["services"]).keys(),
        ["api", "idle"],
        "registry clients only"
    );
    assert_eq!(
        services.at(&["services", "api"]).keys(),
        ["metrics", "health", "status", "last_check"]
    );
    // The breaker is open: the service is unhealthy even though its last check passed.
    assert_eq!(
        services.at(&["services", "api", "status"]).str(),
        "unhealthy"
    );
    assert_eq!(
        services.at(&["services", "idle", "status"]).str(),
        "unhealthy"
    );

    let system = J::parse(&get("/monitoring/system", &snap));
    assert_eq!(
        system.at(&["summary"]).keys(),
        [
            "cpu_percent",
            "memory_percent",
            "disk_usage_percent",
            "process_count"
        ]
    );
    assert_eq!(system.at(&["summary", "cpu_percent"]).leaf(), 95.5);

    let dash = J::parse(&get("/monitoring/dashboard", &snap));
    assert_eq!(
        dash.at(&["overview"]).keys(),
        [
            "total_services",
            "healthy_services",
            "unhealthy_services",
            "error_alerts",
            "warning_alerts",
            "system_cpu",
            "system_memory"
        ]
    );
    assert_eq!(dash.at(&["overview", "total_services"]).leaf(), 3);
    assert_eq!(dash.at(&["overview", "healthy_services"]).leaf(), 2);
    assert_eq!(dash.at(&["overview", "unhealthy_services"]).leaf(), 1);
    assert_eq!(
        dash.at(&["services", "db"]).keys(),
        ["status", "response_time", "last_check"]
    );
    assert_eq!(dash.at(&["alerts"]).keys(), ["errors", "warnings"]);

    let breakers = J::parse(&get("/monitoring/circuit-breakers", &snap));
    assert_eq!(
        breakers.at(&["circuit_breakers", "api"]).keys(),
        [
            "state",
            "failure_count",
            "last_failure_time",
            "failure_threshold"
        ]
    );
    assert_eq!(
        breakers.at(&["circuit_breakers", "api", "state"]).str(),
        "OPEN"
    );
    assert_eq!(
        breakers.at(&["circuit_breakers", "idle", "state"]).str(),
        "CLOSED"
    );

    let stats = J::parse(&get("/monitoring/cache/stats", &snap));
    assert_eq!(stats.at(&["cache_stats"]).keys(), ["api", "idle"]);
    assert!(stats.at(&["cache_stats", "api"]).keys().contains(&"hits"));

    // The dashboard carries the same breakers and cache statistics, and each registered
    // service's latency percentiles (null before its first request).
    assert_eq!(
        dash.at(&["circuit_breakers"]),
        breakers.at(&["circuit_breakers"])
    );
    assert_eq!(dash.at(&["cache_stats"]), stats.at(&["cache_stats"]));
    assert_eq!(dash.at(&["latency"]).keys(), ["api", "idle"]);
    assert_eq!(
        dash.at(&["latency", "api"]).keys(),
        [
            "p50_response_time",
            "p95_response_time",
            "p99_response_time",
            "max_response_time"
        ]
    );
    let p95 = dash.at(&["latency", "api", "p95_response_time"]).leaf();
    let p95 = p95.as_f64().expect("a number");
    assert!((p95 - 0.040).abs() <= 0.040 * 0.04, "{p95}");
    assert_eq!(
        dash.at(&["latency", "api", "max_response_time"]).leaf(),
        0.04
    );
    assert_eq!(
        dash.at(&["latency", "idle", "p99_response_time"]).leaf(),
        &serde_json::Value::Null
    );
}

#[test]
fn service_detail_has_the_real_breaker_and_unknown_names_are_404() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let d = J::parse(&get("/monitoring/services/api", &snap));
    assert_eq!(d.at(&["service_name"]).str(), "api");
    assert_eq!(
        d.at(&["circuit_breaker"]).keys(),
        [
            "service",
            "state",
            "failure_count",
            "last_failure_time",
            "failure_threshold"
        ]
    );
    assert_eq!(d.at(&["circuit_breaker", "state"]).str(), "OPEN");
    assert_eq!(d.at(&["circuit_breaker", "failure_count"]).leaf(), 5);
    assert_eq!(d.at(&["health", "healthy"]).leaf(), true);

    let missing = get("/monitoring/services/nope", &snap);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), r#"{"detail":"Service nope not found"}"#);
    // Names are percent-decoded.
    let encoded = get("/monitoring/services/no%20pe", &snap);
    assert_eq!(encoded.text(), r#"{"detail":"Service no pe not found"}"#);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let snap = MonitorSnapshot::default();
    for target in [
        "/",
        "/monitoring",
        "/monitoring/",
        "/monitoringx/health",
        "/monitoring/nope",
        "/monitoring/health/",
        "/monitoring/services/",
        "/monitoring/services/a/b",
        "/other/health",
    ] {
        let r = get(target, &snap);
        assert_eq!(r.status, 404, "{target}");
        assert_eq!(r.text(), r#"{"detail":"Not Found"}"#, "{target}");
    }
    for (method, target, allow) in [
        ("POST", "/monitoring/health", "GET, HEAD"),
        ("DELETE", "/monitoring/services/api", "GET, HEAD"),
        ("GET", "/monitoring/refresh", "POST"),
        ("GET", "/monitoring/cache/clear", "POST"),
        ("PUT", "/monitoring/cache/clear", "POST"),
    ] {
        let r = call(&cfg(Some("tok")), method, target, BEARER, &snap);
        assert_eq!(r.status, 405, "{method} {target}");
        assert_eq!(r.text(), r#"{"detail":"Method Not Allowed"}"#);
        assert!(
            r.headers.contains(&("allow", allow.to_owned())),
            "{:?}",
            r.headers
        );
    }
    // A custom prefix moves everything.
    let moved = RouteConfig {
        prefix: "/ops/mon".to_owned(),
        ..RouteConfig::default()
    };
    assert_eq!(
        call(&moved, "GET", "/ops/mon/health/live", &[], &snap).status,
        200
    );
    assert_eq!(
        call(&moved, "GET", "/monitoring/health/live", &[], &snap).status,
        404
    );
}

#[test]
fn post_routes_need_the_bearer_token() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let config = cfg(Some("tok"));
    for target in ["/monitoring/refresh", "/monitoring/cache/clear"] {
        let missing = call(&config, "POST", target, &[], &snap);
        assert_eq!(missing.status, 401, "{target}");
        assert_eq!(missing.text(), r#"{"detail":"Not authenticated"}"#);
        assert!(
            missing
                .headers
                .contains(&("www-authenticate", "Bearer".to_owned()))
        );
        assert_eq!(missing.action, None);

        for wrong in [
            "Bearer tok2",
            "Bearer to",
            "Bearer TOK",
            "Basic dG9r",
            "tok",
        ] {
            let r = call(&config, "POST", target, &[("authorization", wrong)], &snap);
            assert_eq!(r.status, 401, "{target} {wrong}");
            assert_eq!(r.action, None, "a refused request asks for nothing");
        }
        let wrong = call(
            &config,
            "POST",
            target,
            &[("authorization", "Bearer nope")],
            &snap,
        );
        assert_eq!(wrong.text(), r#"{"detail":"Invalid token"}"#);
        assert!(
            wrong
                .headers
                .iter()
                .any(|(n, v)| *n == "www-authenticate" && v == "Bearer error=\"invalid_token\"")
        );

        let ok = call(&config, "POST", target, BEARER, &snap);
        assert_eq!(ok.status, 200, "{target}: {}", ok.text());
        assert!(ok.action.is_some());
    }
    // Without a configured token nothing can mutate.
    let none = call(
        &cfg(None),
        "POST",
        "/monitoring/refresh",
        &[("authorization", "Bearer ")],
        &snap,
    );
    assert_eq!(none.status, 401);
    // Reads are open by default, protected on request.
    assert_eq!(
        call(&config, "GET", "/monitoring/alerts", &[], &snap).status,
        200
    );
    let protected = RouteConfig {
        protect_reads: true,
        ..cfg(Some("tok"))
    };
    assert_eq!(
        call(&protected, "GET", "/monitoring/alerts", &[], &snap).status,
        401
    );
    assert_eq!(
        call(&protected, "GET", "/monitoring/alerts", BEARER, &snap).status,
        200
    );
    // Refused before the query is even read.
    assert_eq!(
        call(&protected, "GET", "/monitoring/alerts?limit=x", &[], &snap).status,
        401
    );
    // The token never shows in the configuration's debug output.
    assert!(!format!("{config:?}").contains("tok\""), "{config:?}");
}

#[test]
fn refresh_and_cache_clear_ask_for_their_action() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let config = cfg(Some("tok"));
    let r = call(&config, "POST", "/monitoring/refresh", BEARER, &snap);
    assert_eq!(J::parse(&r).keys(), ["message", "timestamp"]);
    assert_eq!(
        J::parse(&r).at(&["message"]).str(),
        "Metrics refresh triggered"
    );
    assert_eq!(r.action, Some(RouteAction::Refresh));

    let all = call(&config, "POST", "/monitoring/cache/clear", BEARER, &snap);
    assert_eq!(J::parse(&all).keys(), ["message", "timestamp", "note"]);
    assert_eq!(
        J::parse(&all).at(&["message"]).str(),
        "Cache clear requested for all services"
    );
    assert_eq!(all.action, Some(RouteAction::ClearCache { service: None }));

    let one = call(
        &config,
        "POST",
        "/monitoring/cache/clear?service=api",
        BEARER,
        &snap,
    );
    assert_eq!(
        J::parse(&one).at(&["message"]).str(),
        "Cache clear requested for api"
    );
    assert_eq!(
        one.action,
        Some(RouteAction::ClearCache {
            service: Some("api".to_owned())
        })
    );
    let unknown = call(
        &config,
        "POST",
        "/monitoring/cache/clear?service=zzz",
        BEARER,
        &snap,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.action, None);
}

#[test]
fn query_parameters_are_validated() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let bad = get("/monitoring/metrics?format=xml", &snap);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.text(), r#"{"detail":"Unsupported format: xml"}"#);
    assert_eq!(
        get("/monitoring/metrics?format=JSON", &snap).status,
        400,
        "case-sensitive"
    );

    let limit = get("/monitoring/alerts?limit=abc", &snap);
    assert_eq!(limit.status, 422);
    let j = J::parse(&limit);
    let err = &j.at(&["detail"]).list()[0];
    assert_eq!(err.keys(), ["type", "loc", "msg", "input"]);
    assert_eq!(err.at(&["type"]).str(), "int_parsing");
    assert_eq!(get("/monitoring/alerts?limit=-1", &snap).status, 422);
    assert_eq!(get("/monitoring/alerts?limit=1001", &snap).status, 422);
    assert_eq!(get("/monitoring/alerts?limit=1000", &snap).status, 200);
    assert_eq!(get("/monitoring/history?hours=1.5", &snap).status, 422);
    assert_eq!(get("/monitoring/history?hours=8761", &snap).status, 422);
    let both = J::parse(&get("/monitoring/history?hours=x&hours=-2", &snap));
    assert_eq!(
        both.at(&["detail", "0", "input"]).str(),
        "-2",
        "the last value counts"
    );

    let long = format!("/monitoring/alerts?severity={}", "e".repeat(3000));
    assert_eq!(get(&long, &snap).status, 414);
    // Unknown parameters are ignored, as FastAPI does.
    assert_eq!(get("/monitoring/health?x=1", &snap).status, 200);
}

#[test]
fn alerts_are_listed_newest_first_limited_and_filtered() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let all = J::parse(&get("/monitoring/alerts", &snap));
    let records = all.list();
    let types: Vec<&str> = records.iter().map(|a| a.at(&["type"]).str()).collect();
    // Collection 1: idle unhealthy. Collection 2: CPU 95.5, api errors, api breaker open.
    assert_eq!(records.len(), 4, "{types:?}");
    assert!(types.contains(&"system_cpu_high") && types.contains(&"service_errors"));
    assert!(types.contains(&"breaker_open") && types.contains(&"service_unhealthy"));
    assert_eq!(
        *types.last().unwrap(),
        "service_unhealthy",
        "the oldest comes last"
    );
    for a in records {
        let keys = a.keys();
        let expected: &[&str] = if keys.contains(&"service") {
            &[
                "type",
                "service",
                "message",
                "severity",
                "timestamp",
                "id",
                "resolved_at",
            ]
        } else {
            &[
                "type",
                "message",
                "severity",
                "timestamp",
                "id",
                "resolved_at",
            ]
        };
        assert_eq!(keys, expected);
    }
    let cpu = records
        .iter()
        .find(|a| a.at(&["type"]).str() == "system_cpu_high")
        .unwrap();
    assert_eq!(cpu.at(&["message"]).str(), "CPU usage is 95.5%");
    assert_eq!(cpu.at(&["severity"]).str(), "warning");
    let errors = records
        .iter()
        .find(|a| a.at(&["type"]).str() == "service_errors")
        .unwrap();
    assert_eq!(
        errors.at(&["message"]).str(),
        "Service api success rate is 50.00%"
    );
    assert_eq!(errors.at(&["service"]).str(), "api");

    let warnings = J::parse(&get("/monitoring/alerts?severity=warning", &snap));
    assert_eq!(warnings.list().len(), 1);
    assert_eq!(
        J::parse(&get("/monitoring/alerts?severity=error", &snap))
            .list()
            .len(),
        3
    );
    assert_eq!(
        J::parse(&get("/monitoring/alerts?severity=bogus", &snap))
            .list()
            .len(),
        0
    );
    let two = J::parse(&get("/monitoring/alerts?limit=2", &snap));
    assert_eq!(two.list(), &records[..2]);
    assert!(
        J::parse(&get("/monitoring/alerts?limit=0", &snap))
            .list()
            .is_empty()
    );
}

#[test]
fn responses_are_pure_functions_of_their_inputs() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let before = format!("{:?}", snap.alerts);
    for target in [
        "/monitoring/alerts",
        "/monitoring/dashboard",
        "/monitoring/metrics",
    ] {
        let a = get(target, &snap);
        let b = get(target, &snap);
        assert_eq!(a, b, "{target}");
    }
    assert_eq!(
        format!("{:?}", snap.alerts),
        before,
        "reading reorders nothing"
    );
    assert_eq!(state.history().len(), 2, "reading collects nothing");
}

#[test]
fn before_the_first_collection() {
    let snap = MonitorSnapshot::default();
    let ready = get("/monitoring/health/ready", &snap);
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (503, r#"{"detail":"Service not ready"}"#)
    );
    assert_eq!(get("/monitoring/metrics", &snap).status, 503);
    assert_eq!(get("/monitoring/system", &snap).status, 503);
    assert_eq!(get("/monitoring/health/live", &snap).status, 200);
    assert_eq!(get("/monitoring/metrics/summary", &snap).text(), "{}");
    let health = J::parse(&get("/monitoring/health", &snap));
    assert_eq!(
        health.at(&["status"]).str(),
        "healthy",
        "no monitor is not a failure"
    );
    let dash = J::parse(&get("/monitoring/dashboard", &snap));
    assert_eq!(dash.at(&["performance"]), &J::Map(Vec::new()));
    assert_eq!(dash.at(&["system", "network_io"]), &J::Map(Vec::new()));
    // The exports work from the live view alone.
    assert_eq!(
        get("/monitoring/metrics?format=prometheus", &snap).status,
        200
    );
}

#[test]
fn exports_use_the_core_exporters() {
    let (state, services) = populated();
    let snap = snapshot_of(&state, &services, wall(20));
    let prom = get("/monitoring/metrics?format=prometheus", &snap);
    assert_eq!(prom.status, 200);
    assert_eq!(
        prom.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = prom.text();
    for family in [
        "# TYPE system_cpu_percent gauge",
        "system_cpu_percent 95.5",
        "# TYPE service_requests_total counter",
        "service_requests_total{service=\"api\"} 10",
        "service_success_rate{service=\"api\"} 0.5",
        "# TYPE tether_request_duration_seconds histogram",
    ] {
        assert!(text.contains(family), "{family} missing in\n{text}");
    }
    assert_eq!(text.matches("# HELP service_requests_total").count(), 1);
    assert!(text.ends_with('\n'));

    let influx = get("/monitoring/metrics?format=influxdb", &snap);
    assert_eq!(influx.content_type, "text/plain; charset=utf-8");
    let lines = influx.text();
    assert!(lines.contains("service_metrics,service=api "), "{lines}");
    assert!(lines.contains("total_requests=10i"), "{lines}");
    let ns = wall(20).as_unix_nanos().to_string();
    assert!(lines.lines().all(|l| l.ends_with(&ns)), "{lines}");
}

#[test]
fn history_route_filters_by_hours_and_service() {
    let mut state = MonitorState::new(StateConfig::default()).unwrap();
    let mut load = Load::new();
    let a = load.sample("a", "CLOSED");
    let b = load.sample("b", "CLOSED");
    state.collect(now(0), wall(0), None, std::slice::from_ref(&a));
    state.collect(now(7200), wall(7200), None, &[a.clone(), b.clone()]);
    let snap = snapshot_of(&state, &[a, b], wall(7300));
    let call_at = |target: &str| {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        J::parse(&handle(
            &RouteConfig::default(),
            &RouteRequest {
                method: "GET",
                path,
                query,
                headers: &[],
            },
            &snap,
            wall(7300),
        ))
    };
    let h = call_at("/monitoring/history?hours=1");
    assert_eq!(h.at(&["entries_count"]).leaf(), 1);
    assert_eq!(h.at(&["hours"]).leaf(), 1);
    assert_eq!(h.at(&["service_filter"]).leaf(), &serde_json::Value::Null);
    assert_eq!(
        call_at("/monitoring/history").at(&["entries_count"]).leaf(),
        2
    );
    let only_b = call_at("/monitoring/history?service=b");
    assert_eq!(only_b.at(&["entries_count"]).leaf(), 1);
    assert_eq!(only_b.at(&["service_filter"]).str(), "b");
    // whole collections are kept: `a` is still in the one that mentions `b`
    assert_eq!(
        only_b
            .at(&["history", "0", "services", "service_clients"])
            .keys(),
        ["a", "b"]
    );
    assert_eq!(
        call_at("/monitoring/history?hours=0")
            .at(&["entries_count"])
            .leaf(),
        0
    );
    // `limit` keeps the newest entries, still oldest first.
    let newest = call_at("/monitoring/history?limit=1");
    assert_eq!(newest.at(&["entries_count"]).leaf(), 1);
    assert_eq!(
        newest.at(&["history", "0", "timestamp"]).str(),
        wall(7200).to_rfc3339()
    );
    let all = call_at("/monitoring/history?limit=5");
    assert_eq!(all.at(&["entries_count"]).leaf(), 2);
    assert_eq!(
        all.at(&["history", "0", "timestamp"]).str(),
        wall(0).to_rfc3339()
    );
    assert_eq!(
        call_at("/monitoring/history?limit=0")
            .at(&["entries_count"])
            .leaf(),
        0
    );
    for bad in ["-1", "x", "100001"] {
        let r = call_at(&format!("/monitoring/history?limit={bad}"));
        assert_eq!(r.at(&["detail", "0", "loc", "1"]).str(), "limit", "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// The state.

#[test]
fn alerts_fire_once_resolve_once_and_idle_services_never_alert() {
    #[derive(Default)]
    struct Seen {
        fired: Vec<(String, Option<String>)>,
        resolved: Vec<(String, Option<String>)>,
    }
    impl Seen {
        fn step(&mut self, state: &mut MonitorState, t: u64, services: &[ServiceSample], cpu: f64) {
            state.collect(now(t), wall(t), Some(host(cpu)), services);
            while let Some(e) = state.poll_alert_event() {
                match e {
                    crate::AlertEvent::Fired(a) => self.fired.push((a.alert_type, a.service)),
                    crate::AlertEvent::Resolved(a) => {
                        self.resolved.push((a.alert_type, a.service));
                    }
                }
            }
        }
    }
    let mut state = MonitorState::new(StateConfig::default()).unwrap();
    let mut load = Load::new();
    let mut seen = Seen::default();
    // An idle service, collected many times: no alert at all (its success rate is 0.0).
    for t in 0..5 {
        let s = load.sample("idle", "CLOSED");
        seen.step(&mut state, t, &[s], 10.0);
    }
    assert!(seen.fired.is_empty(), "{:?}", seen.fired);
    assert!(
        load.sample("idle", "CLOSED")
            .view
            .metrics
            .success_rate
            .abs()
            < f64::EPSILON
    );

    // Failures in three windows in a row: one alert.
    for t in 5..8 {
        load.requests("api", 1, 3, 10);
        let s = [load.sample("idle", "CLOSED"), load.sample("api", "CLOSED")];
        seen.step(&mut state, t, &s, 10.0);
    }
    let api_errors = ("service_errors".to_owned(), Some("api".to_owned()));
    assert_eq!(seen.fired, std::slice::from_ref(&api_errors));
    assert!(seen.resolved.is_empty());
    assert_eq!(state.alerts().active().count(), 1);

    // Healthy traffic, then silence: resolved once, never again.
    load.requests("api", 20, 0, 10);
    for t in 8..12 {
        let s = [load.sample("idle", "CLOSED"), load.sample("api", "CLOSED")];
        seen.step(&mut state, t, &s, 10.0);
    }
    assert_eq!(seen.resolved, [api_errors]);
    assert_eq!(seen.fired.len(), 1);

    // A CPU spike over several collections is one warning.
    for t in 12..15 {
        seen.step(&mut state, t, &[], 99.5);
    }
    assert_eq!(seen.fired.last().unwrap().0, "system_cpu_high");
    assert_eq!(seen.fired.len(), 2);
    let history: Vec<_> = state.alerts().history(None, None).collect();
    assert_eq!(history.len(), 2, "one record per occurrence");
    assert!(history[0].resolved_at.is_some() && history[1].resolved_at.is_none());
}

#[test]
fn unhealthy_monitors_alert_even_without_a_registered_service() {
    let mut state = MonitorState::new(StateConfig::default()).unwrap();
    state.record_check("http_client", HealthResult::failed(0.1, wall(0), "dns"));
    state.collect(now(0), wall(0), None, &[]);
    state.collect(now(1), wall(1), None, &[]);
    let active: Vec<_> = state.alerts().active().collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].message, "Service http_client is unhealthy");
    state.record_check("http_client", HealthResult::passed(0.1, wall(2)));
    state.collect(now(2), wall(2), None, &[]);
    assert_eq!(state.alerts().active().count(), 0);
}

#[test]
fn history_stays_within_its_bound() {
    let config = StateConfig {
        history_capacity: 5,
        ..StateConfig::default()
    };
    let mut state = MonitorState::new(config).unwrap();
    for t in 0..12 {
        state.collect(now(t), wall(t), Some(host(1.0)), &[]);
        assert!(state.history().len() <= 5);
    }
    let stamps: Vec<WallClock> = state.history().map(|c| c.timestamp).collect();
    assert_eq!(
        stamps,
        (7..12).map(wall).collect::<Vec<_>>(),
        "oldest dropped first"
    );
    assert!(
        MonitorState::new(StateConfig {
            history_capacity: 0,
            ..StateConfig::default()
        })
        .is_err()
    );
}

#[test]
fn health_records_count_failures_and_recent_success() {
    let config = StateConfig {
        check_window: 4,
        max_monitors: 2,
        ..StateConfig::default()
    };
    let mut state = MonitorState::new(config).unwrap();
    for ok in [false, true, true, false, true, true] {
        let r = if ok {
            HealthResult::passed(0.01, wall(0))
        } else {
            HealthResult::failed(0.01, wall(0), "x")
        };
        assert!(state.record_check("svc", r));
    }
    let c = state.collect(now(0), wall(0), None, &[]);
    let (name, h) = &c.health[0];
    assert_eq!(name, "svc");
    assert_eq!(h.error_count, 2, "every failure since registration");
    assert!(
        (h.success_rate - 0.75).abs() < 1e-9,
        "3 of the last 4 passed"
    );
    // Bounded number of monitors; a registered order that does not move.
    assert!(state.record_check("second", HealthResult::passed(0.0, wall(0))));
    assert!(!state.record_check("third", HealthResult::passed(0.0, wall(0))));
    assert_eq!(state.dropped_results(), 1);
    assert_eq!(state.monitor_names().collect::<Vec<_>>(), ["svc", "second"]);
    assert!(state.remove_monitor("svc"));
    assert!(state.health_of("svc").is_none());
}

#[test]
fn collections_carry_the_current_health_and_summaries_the_last_hour() {
    let mut state = MonitorState::new(StateConfig::default()).unwrap();
    let mut load = Load::new();
    load.requests("api", 3, 1, 100);
    state.record_check("api", HealthResult::passed(0.01, wall(0)));
    state.collect(
        now(0),
        wall(0),
        Some(host(10.0)),
        &[load.sample("api", "CLOSED")],
    );
    state.record_check("api", HealthResult::failed(0.02, wall(3000), "x"));
    let c = state.collect(
        now(3000),
        wall(3000),
        Some(host(30.0)),
        &[load.sample("api", "CLOSED")],
    );
    assert!(
        !c.services.global_health[0].1.healthy,
        "the current result, not the previous"
    );

    let s = state
        .performance_summary(wall(3100))
        .expect("two recent collections");
    assert!((s.system_averages.cpu_percent - 20.0).abs() < 1e-9);
    assert_eq!(s.service_performance[0].0, "api");
    assert_eq!(s.service_performance[0].1.total_requests, 4);
    assert_eq!(s.service_performance[0].1.error_count, 1);
    assert_eq!(s.total_metrics_collected, 2);
    // An hour later only the second collection counts; two hours later nothing does.
    let later = state.performance_summary(wall(3700)).unwrap();
    assert!((later.system_averages.cpu_percent - 30.0).abs() < 1e-9);
    assert!(state.performance_summary(wall(9000)).is_none());
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.starts_with(r#"{"summary_timestamp":""#), "{json}");
}

#[test]
fn alert_rules_are_configurable() {
    let config = StateConfig {
        alerts: AlertConfig {
            rules: vec![AlertRule::new(
                AlertRule::SYSTEM_CPU_HIGH,
                crate::RuleKind::CpuPercent,
                crate::Severity::Critical,
                50.0,
            )],
            ..AlertConfig::default()
        },
        ..StateConfig::default()
    };
    let mut state = MonitorState::new(config).unwrap();
    state.collect(now(0), wall(0), Some(host(60.0)), &[]);
    assert_eq!(state.alerts().active().count(), 1);
    state
        .set_alert_threshold(AlertRule::SYSTEM_CPU_HIGH, 90.0)
        .unwrap();
    assert!(state.set_alert_threshold("nope", 1.0).is_err());
}

#[test]
fn the_system_object_writes_empty_network_io_when_unknown() {
    let c = Collection::default();
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(
        json,
        r#"{"timestamp":"1970-01-01T00:00:00.000000Z","system":{"cpu_percent":0.0,"memory_percent":0.0,"disk_usage_percent":0.0,"network_io":{},"process_count":0},"services":{"service_clients":{},"global_health":{}},"health":{}}"#
    );
}

#[test]
fn constant_time_compare_is_exported() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
}
