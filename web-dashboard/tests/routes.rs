//! The panels fed with what the real route function answers (`tether_core::monitoring::handle`,
//! the code every monitoring server runs), not with hand-written JSON: a change of shape on
//! the server side breaks these tests.

use std::time::Duration;

use tether_core::client::{CircuitBreakerState, ClientMetrics, ServiceMetrics};
use tether_core::monitoring::{
    HealthResult, MonitorSnapshot, MonitorState, RouteConfig, RouteRequest, ServiceSample,
    ServiceView, StateConfig, handle,
};
use tether_core::{
    CacheOutcome, CacheStats, ExportSnapshot, FailureCategory, Metrics, MetricsSnapshot, NetworkIo,
    RequestRecord, SystemSample, Timestamp, WallClock,
};
use tether_dashboard::data::{Dashboard, History};
use tether_dashboard::panels;
use tether_dashboard::state::{PANELS, PollState};
use tether_dashboard::time::{self, Clock};
use tether_dashboard::view::{El, Node, Tone};

/// A name a careless page would turn into markup that runs script.
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

const T0: u64 = 1_795_718_400_000_000;

fn wall(secs: u64) -> WallClock {
    WallClock::from_unix_micros(T0 + secs * 1_000_000)
}

/// The page's clock at `secs`, in UTC.
fn clock(secs: u64) -> Clock {
    Clock::utc((T0 / 1000 + secs * 1000) as i64)
}

/// Services with traffic: `api` all good, `payments` failing with its breaker open, `search`
/// half-open, `idle` never called, and one with a hostile name.
struct World {
    metrics: Metrics,
    state: MonitorState,
}

const SERVICES: [(&str, &str); 5] = [
    ("api", "CLOSED"),
    ("payments", "OPEN"),
    ("search", "HALF_OPEN"),
    ("idle", "CLOSED"),
    (HOSTILE, "CLOSED"),
];

impl World {
    fn new() -> Self {
        World {
            metrics: Metrics::default(),
            state: MonitorState::new(StateConfig::default()).unwrap(),
        }
    }

    fn requests(&mut self, service: &str, ok: u32, failed: u32, latency_ms: u64, at: u64) {
        for i in 0..ok + failed {
            let success = i < ok;
            self.metrics.on_request_start(service);
            self.metrics.on_request_end(
                service,
                &RequestRecord {
                    success,
                    latency: Duration::from_millis(latency_ms),
                    failure: (!success).then_some(FailureCategory::Status5xx),
                    retries: 0,
                    cache: if i % 4 == 0 {
                        CacheOutcome::Hit
                    } else {
                        CacheOutcome::Miss
                    },
                    wall: wall(at),
                },
            );
        }
    }

    fn samples(&mut self) -> Vec<ServiceSample> {
        SERVICES
            .iter()
            .map(|(name, breaker)| {
                self.metrics.register(name);
                let totals = self.metrics.service_snapshot(name).unwrap();
                let cache_stats = CacheStats {
                    enabled: *name != "idle",
                    hits: totals.cache.hits,
                    misses: totals.cache.misses,
                    entries: 3,
                    bytes: 2048,
                    max_entries: 1000,
                    max_bytes: 1 << 20,
                    ..CacheStats::default()
                };
                let client = ClientMetrics {
                    total_requests: totals.total_requests,
                    successful_requests: totals.successful_requests,
                    failed_requests: totals.failed_requests,
                    success_rate: totals.success_rate,
                    average_response_time: totals.average_response_time,
                    min_response_time: totals.min_response_time,
                    max_response_time: totals.max_response_time,
                    error_counts: totals.error_counts.clone(),
                    cache_stats,
                    last_request_time: None,
                };
                let open = *breaker == "OPEN";
                ServiceSample {
                    view: ServiceView {
                        name: (*name).to_owned(),
                        metrics: ServiceMetrics {
                            service: (*name).to_owned(),
                            total_requests: totals.total_requests,
                            successful_requests: totals.successful_requests,
                            failed_requests: totals.failed_requests,
                            success_rate: totals.success_rate,
                            average_response_time: totals.average_response_time,
                            min_response_time: totals.min_response_time,
                            max_response_time: totals.max_response_time,
                            error_counts: totals.error_counts.clone(),
                            last_request_time: None,
                            http_client_metrics: client,
                        },
                        circuit_breaker: CircuitBreakerState {
                            service: (*name).to_owned(),
                            state: breaker,
                            failure_count: if open { 5 } else { 0 },
                            last_failure_time: open.then(|| wall(15).to_rfc3339()),
                            failure_threshold: Some(5),
                        },
                    },
                    totals,
                }
            })
            .collect()
    }

    fn collect(&mut self, at: u64, cpu: f64) -> Vec<ServiceSample> {
        let samples = self.samples();
        let host = SystemSample {
            cpu_percent: cpu,
            memory_percent: 42.0,
            disk_usage_percent: 96.5,
            network_io: Some(NetworkIo {
                bytes_sent: 5 << 20,
                bytes_recv: 7 << 30,
                packets_sent: 1,
                packets_recv: 2,
            }),
            process_count: 211,
        };
        self.state
            .collect(Timestamp::from_secs(at), wall(at), Some(host), &samples);
        samples
    }

    fn snapshot(&self, samples: &[ServiceSample], at: u64) -> MonitorSnapshot {
        let export = ExportSnapshot {
            timestamp: wall(at),
            metrics: MetricsSnapshot {
                taken_at: wall(at),
                services: samples
                    .iter()
                    .map(|s| (s.view.name.clone(), s.totals.clone()))
                    .collect(),
                ..MetricsSnapshot::default()
            },
            ..ExportSnapshot::default()
        };
        self.state
            .snapshot(samples.iter().map(|s| s.view.clone()).collect(), export)
    }

    /// A busy minute: three collections with traffic in between.
    fn busy() -> (World, MonitorSnapshot) {
        let mut w = World::new();
        for (name, ok) in [
            ("api", true),
            ("payments", false),
            ("search", true),
            (HOSTILE, true),
        ] {
            let result = if ok {
                HealthResult::passed(0.004, wall(1))
            } else {
                HealthResult::failed(0.5, wall(1), "HTTP 503")
            };
            w.state.record_check(name, result);
        }
        w.collect(0, 20.0);
        w.requests("api", 40, 0, 12, 5);
        w.requests("payments", 2, 18, 80, 5);
        w.requests("search", 10, 0, 900, 5);
        w.requests(HOSTILE, 3, 0, 7, 5);
        w.collect(10, 97.0);
        w.requests("api", 40, 0, 30, 15);
        let samples = w.collect(20, 97.0);
        let snap = w.snapshot(&samples, 25);
        (w, snap)
    }
}

fn get(target: &str, snap: &MonitorSnapshot, at: u64) -> Vec<u8> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let r = handle(
        &RouteConfig::default(),
        &RouteRequest {
            method: "GET",
            path,
            query,
            headers: &[],
        },
        snap,
        wall(at),
    );
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    r.body
}

fn dashboard(snap: &MonitorSnapshot) -> Dashboard {
    serde_json::from_slice(&get("/monitoring/dashboard", snap, 25)).unwrap()
}

/// The element among `root`'s descendants whose text starts with `name`, in a list item or
/// table row.
fn row<'a>(root: &'a El, name: &str) -> &'a El {
    root.descendants()
        .into_iter()
        .filter(|e| e.tag == "li" || e.tag == "tr")
        .find(|e| e.text_content().starts_with(name))
        .unwrap_or_else(|| panic!("no row {name:?} in {}", root.text_content()))
}

fn has_class(e: &El, class: &str) -> bool {
    e.get_attr("class")
        .is_some_and(|c| c.split_whitespace().any(|c| c == class))
}

#[test]
fn breakers_are_green_red_and_orange_by_state() {
    let (_, snap) = World::busy();
    let d = dashboard(&snap);
    let panel = panels::breakers(&d, clock(25));
    for (name, state, tone) in [
        ("api", "CLOSED", Tone::Good),
        ("payments", "OPEN", Tone::Bad),
        ("search", "HALF_OPEN", Tone::Warn),
    ] {
        let item = row(&panel, name);
        assert_eq!(item.get_attr("data-state"), Some(state));
        let badge = &item.find_class("state")[0];
        assert!(has_class(badge, tone.class()), "{name}: {badge:?}");
        assert_eq!(badge.text_content(), state);
    }
    let payments = row(&panel, "payments").text_content();
    assert!(payments.contains("5 / 5 failures"), "{payments}");
    assert!(
        payments.contains(&format!(
            "last {}",
            time::shown(&wall(15).to_rfc3339(), clock(25))
        )),
        "{payments}"
    );
}

#[test]
fn success_rate_is_green_when_high_and_red_when_low() {
    let (_, snap) = World::busy();
    let d = dashboard(&snap);
    let panel = panels::performance(&d);
    let success = |name: &str| {
        row(&panel, name)
            .descendants()
            .into_iter()
            .find(|e| e.get_attr("data-col") == Some("success"))
            .cloned()
            .unwrap()
    };
    let api = success("api");
    assert_eq!(api.text_content(), "100.0 %");
    assert!(
        has_class(&api, "good"),
        "the original showed 100 % in red: {api:?}"
    );
    let payments = success("payments");
    assert_eq!(payments.text_content(), "10.0 %");
    assert!(has_class(&payments, "bad"));
    let idle = success("idle");
    assert_eq!(idle.text_content(), "no requests");
    assert!(
        has_class(&idle, "neutral"),
        "an idle service is not a failing one"
    );

    // Mean, p95 and p99 come from the server; search's 900 ms are below the 1 s threshold.
    let search = row(&panel, "search");
    let cells: Vec<String> = search
        .descendants()
        .into_iter()
        .filter(|e| e.tag == "td")
        .map(El::text_content)
        .collect();
    assert_eq!(cells[1], "900 ms", "{cells:?}");
    assert!(
        cells[2].ends_with(" ms") && cells[3].ends_with(" ms"),
        "{cells:?}"
    );
    let p99: f64 = cells[3].trim_end_matches(" ms").parse().unwrap();
    assert!(
        (p99 - 900.0).abs() <= 900.0 * 0.04,
        "histogram estimate: {p99}"
    );
    // The hour's system averages.
    let text = panel.text_content();
    assert!(text.contains("CPU, mean over the hour"), "{text}");
}

#[test]
fn system_panel_colours_cpu_memory_and_disk() {
    let (_, snap) = World::busy();
    let d = dashboard(&snap);
    let panel = panels::system(&d);
    let tone_of = |key: &str| {
        let m = panel
            .descendants()
            .into_iter()
            .find(|e| e.get_attr("data-metric") == Some(key))
            .unwrap();
        let value = m.find_class("value")[0].clone();
        (
            value.text_content(),
            value.get_attr("class").unwrap().to_owned(),
        )
    };
    assert_eq!(
        tone_of("cpu"),
        ("97.0 %".to_owned(), "value bad".to_owned())
    );
    assert_eq!(
        tone_of("memory"),
        ("42.0 %".to_owned(), "value good".to_owned())
    );
    assert_eq!(
        tone_of("disk"),
        ("96.5 %".to_owned(), "value bad".to_owned())
    );
    let text = panel.text_content();
    assert!(text.contains("211 processes"), "{text}");
    assert!(text.contains("5.0 MiB sent, 7.0 GiB received"), "{text}");
}

#[test]
fn alerts_are_listed_by_severity() {
    let (_, snap) = World::busy();
    let d = dashboard(&snap);
    assert!(
        !d.alerts.errors.is_empty(),
        "payments' open breaker fires an alert: {d:?}"
    );
    assert!(!d.alerts.warnings.is_empty(), "the CPU fires a warning");
    let panel = panels::alerts(&d, clock(25));
    let items = panel.find_class("alert");
    let severities: Vec<&str> = items
        .iter()
        .map(|e| e.get_attr("data-severity").unwrap())
        .collect();
    let first_warning = severities.iter().position(|s| *s == "warning").unwrap();
    assert!(
        severities[..first_warning].iter().all(|s| *s != "warning")
            && severities[first_warning..].iter().all(|s| *s == "warning"),
        "errors first: {severities:?}"
    );
    let payments = row(&panel, "ERRORbreaker_openpayments");
    assert!(has_class(payments, "bad"));
    assert!(
        payments
            .text_content()
            .contains("Service payments circuit breaker is open")
    );
    let cpu = items
        .iter()
        .find(|e| e.text_content().contains("system_cpu_high"))
        .unwrap();
    assert!(has_class(cpu, "warn"));
    assert!(
        panel
            .text_content()
            .contains(&format!("{} error", d.overview.error_alerts))
    );
}

#[test]
fn cache_panel_shows_the_hit_rate() {
    let (_, snap) = World::busy();
    let d = dashboard(&snap);
    let panel = panels::cache(&d);
    // api: 80 requests, every fourth a hit.
    let api = row(&panel, "api");
    let rate = api
        .descendants()
        .into_iter()
        .find(|e| e.get_attr("data-col") == Some("hit-rate"))
        .unwrap()
        .text_content();
    assert_eq!(rate, "25.0 %");
    assert!(
        api.text_content().contains("20 / 60"),
        "{}",
        api.text_content()
    );
    assert!(row(&panel, "idle").text_content().contains("cache off"));
}

#[test]
fn service_health_shows_each_check() {
    let (_, snap) = World::busy();
    let d = dashboard(&snap);
    let panel = panels::health(&d, clock(25));
    let payments = row(&panel, "payments");
    assert_eq!(payments.get_attr("data-status"), Some("unhealthy"));
    assert!(has_class(payments, "bad"));
    assert!(payments.text_content().contains("500 ms"));
    let api = row(&panel, "api");
    assert!(has_class(api, "good"));
    assert!(
        api.text_content().contains("4.0 ms"),
        "{}",
        api.text_content()
    );
}

/// Every string in the tree, with the tag of the element it sits in.
fn texts(el: &El, out: &mut Vec<String>) {
    for c in &el.children {
        match c {
            Node::Text(t) => out.push(t.clone()),
            Node::El(e) => texts(e, out),
        }
    }
}

#[test]
fn a_hostile_service_name_is_text_everywhere() {
    let (mut w, snap) = World::busy();
    let mut state = PollState::default();
    state.dashboard_received(dashboard(&snap), clock(25).now);
    let history: History =
        serde_json::from_slice(&get("/monitoring/history?hours=1&limit=360", &snap, 25)).unwrap();
    state.history_received(&history, 0);
    let view = state.view("http://127.0.0.1:8001/monitoring", 30, clock(25));
    let mut seen = 0;
    for (id, body) in &view.panels {
        let mut strings = Vec::new();
        texts(body, &mut strings);
        seen += strings.iter().filter(|s| s.contains(HOSTILE)).count();
        for e in body.descendants() {
            assert!(
                [
                    "div", "span", "p", "ul", "li", "strong", "table", "thead", "tbody", "tr",
                    "th", "td", "svg", "g", "path", "line", "text", "title", "circle", "rect",
                ]
                .contains(&e.tag),
                "{id}: unexpected <{}>",
                e.tag
            );
            for (name, _) in &e.attrs {
                assert!(!name.starts_with("on") && *name != "src", "{id}: {name}");
            }
        }
    }
    // Health, performance, cache, breakers, trend legend and chart title.
    assert!(
        seen >= 6,
        "the name is shown as text in every panel listing services: {seen}"
    );

    // The same goes for a check's error and an alert's message.
    w.state
        .record_check(HOSTILE, HealthResult::failed(0.1, wall(30), HOSTILE));
    let samples = w.collect(40, 10.0);
    let d = dashboard(&w.snapshot(&samples, 41));
    let alerts = panels::alerts(&d, clock(41));
    let mut strings = Vec::new();
    texts(&alerts, &mut strings);
    assert!(
        strings
            .iter()
            .any(|s| s == &format!("Service {HOSTILE} is unhealthy"))
    );
}

#[test]
fn trends_come_from_the_history_route() {
    let (_, snap) = World::busy();
    let body = get("/monitoring/history?hours=1&limit=360", &snap, 25);
    let history: History = serde_json::from_slice(&body).unwrap();
    assert_eq!(history.history.len(), 3);
    let mut state = PollState::default();
    state.history_received(&history, 0);
    let series = state.trends.series();
    let api = series.iter().find(|s| s.name == "api").unwrap();
    let values: Vec<Option<f64>> = api.points.iter().map(|(_, v)| *v).collect();
    // 40 requests at 12 ms, then 40 at 30 ms: each interval's own mean.
    assert_eq!(values.len(), 2);
    assert!((values[0].unwrap() - 12.0).abs() < 0.5, "{values:?}");
    assert!((values[1].unwrap() - 30.0).abs() < 0.5, "{values:?}");
    let payments = series.iter().find(|s| s.name == "payments").unwrap();
    assert_eq!(
        payments.points[1].1, None,
        "no payments request in the second interval"
    );

    // The next poll asks for the newest few only, and a repeated answer changes nothing.
    assert_eq!(state.trends.history_query(), "/history?hours=1&limit=30");
    let again: History =
        serde_json::from_slice(&get("/monitoring/history?hours=1&limit=30", &snap, 25)).unwrap();
    let before = state.trends.clone();
    state.history_received(&again, 0);
    assert_eq!(state.trends, before);
}

#[test]
fn every_panel_has_content_once_data_arrived() {
    let (_, snap) = World::busy();
    let mut state = PollState::default();
    state.dashboard_received(dashboard(&snap), clock(25).now);
    let history: History =
        serde_json::from_slice(&get("/monitoring/history?hours=1&limit=360", &snap, 25)).unwrap();
    state.history_received(&history, 0);
    let view = state.view("http://m", 30, clock(25));
    assert_eq!(view.panels.len(), PANELS.len());
    for (id, body) in &view.panels {
        assert!(
            body.find_class("empty").is_empty(),
            "{id} shows live data: {}",
            body.text_content()
        );
    }
    let overview = view.overview.text_content();
    assert!(overview.contains("3 of 4 services healthy"), "{overview}");
    assert!(view.banner.is_none());
}

#[test]
fn an_original_shaped_answer_still_fills_what_it_can() {
    // The original gateway's /monitoring/dashboard: no breakers, cache or percentiles, naive
    // local timestamps, a summary of `{}`.
    let body = r#"{"timestamp": "2026-11-26T18:40:58.167771",
        "overview": {"total_services": 1, "healthy_services": 0, "unhealthy_services": 1,
                     "error_alerts": 1, "warning_alerts": 0, "system_cpu": 3.5, "system_memory": 50.1},
        "services": {"data-service": {"status": "unhealthy", "response_time": 0, "last_check": "2026-11-26T18:40:58"}},
        "alerts": {"errors": [{"type": "service_unhealthy", "service": "data-service",
                               "message": "Service data-service is unhealthy", "severity": "error",
                               "timestamp": "2026-11-26T18:40:58.2"}], "warnings": []},
        "performance": {},
        "system": {"cpu_percent": 3.5, "memory_percent": 50.1, "disk_usage_percent": 20.0,
                   "network_io": {}, "process_count": 99}}"#;
    let d: Dashboard = serde_json::from_str(body).unwrap();
    assert!(d.circuit_breakers.is_none() && d.cache_stats.is_none() && d.latency.is_none());
    let c = clock(0);
    assert!(
        panels::breakers(&d, c)
            .text_content()
            .contains("reports no circuit breakers")
    );
    assert!(
        panels::cache(&d)
            .text_content()
            .contains("reports no cache statistics")
    );
    assert!(
        panels::performance(&d)
            .text_content()
            .contains("No collection in the last hour")
    );
    assert!(
        panels::health(&d, c)
            .text_content()
            .contains("data-service")
    );
    assert!(panels::system(&d).text_content().contains("99 processes"));
    assert!(
        panels::alerts(&d, c)
            .text_content()
            .contains("Service data-service is unhealthy")
    );
}
