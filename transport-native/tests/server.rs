//! The monitoring server on loopback: every route through real HTTP, the token, the limits,
//! the dashboard files, graceful shutdown, and real consumers of its exports — `promtool`, a
//! Prometheus server scraping it, an InfluxDB 1.x server taking its lines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::async_api::hits;
use common::chaos;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use tether_chaos::ChaosHandle;
use tether_native::monitor::{Monitor, MonitorConfig};
use tether_native::server::{Server, ServerConfig};
use tether_native::tether_core::monitoring::{self, RouteConfig, RouteRequest};
use tether_native::{BreakerConfig, HttpClient, Method, Registry, ServiceClient};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The top-level keys of a JSON object, in order.
fn top_keys(body: &[u8]) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = m.next_key::<String>()? {
                        m.next_value::<IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_slice::<Keys>(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
        .0
}

/// A plain client: no cache, no retries.
fn http() -> HttpClient {
    HttpClient::builder()
        .no_cache()
        .max_retries(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

struct Reply {
    status: u16,
    content_type: String,
    headers: tether_native::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

async fn send(method: Method, url: &str, token: Option<&str>) -> Reply {
    let mut request = http().request(method, url);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let r = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    Reply {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        headers: r.headers().clone(),
        body: r.bytes().to_vec(),
    }
}

async fn get(server: &Server, path: &str) -> Reply {
    send(
        Method::GET,
        &format!("http://{}{path}", server.local_addr()),
        None,
    )
    .await
}

async fn post(server: &Server, path: &str, token: Option<&str>) -> Reply {
    send(
        Method::POST,
        &format!("http://{}{path}", server.local_addr()),
        token,
    )
    .await
}

/// One raw HTTP/1.1 request; the whole reply as text.
fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tether-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A service `alpha` on the chaos upstream with some traffic (two successes, one 503), a
/// monitor sampling the host, collected once.
async fn monitored(up: &ChaosHandle) -> (Monitor, Arc<Registry>) {
    let registry = Arc::new(Registry::new(8));
    let alpha = ServiceClient::builder("alpha", up.base_url())
        .health_path("/health?key=alpha")
        .max_retries(0)
        .build()
        .unwrap();
    registry.insert(alpha.clone()).unwrap();
    alpha.get("/get?key=alpha").send().await.unwrap();
    alpha.get("/json/small?key=alpha").send().await.unwrap();
    assert!(alpha.get("/status/503?key=alpha").send().await.is_err());
    let config = MonitorConfig {
        collect_interval: Duration::from_secs(3600),
        check_interval: Duration::from_secs(3600),
        system_interval: Duration::from_millis(500),
        ..MonitorConfig::default()
    };
    let monitor = Monitor::new(Arc::clone(&registry), config).unwrap();
    monitor.collect().await;
    (monitor, registry)
}

async fn serve(monitor: Monitor) -> Server {
    Server::builder(monitor)
        .port(0)
        .token("s3cret")
        .start()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Routes.

/// Every GET route (and some refusals): path, status, top-level keys in order.
const ROUTES: &[(&str, u16, &[&str])] = &[
    (
        "/monitoring/health",
        200,
        &["status", "timestamp", "services"],
    ),
    ("/monitoring/health/live", 200, &["status", "timestamp"]),
    ("/monitoring/health/ready", 200, &["status", "timestamp"]),
    (
        "/monitoring/metrics",
        200,
        &["timestamp", "system", "services", "health"],
    ),
    (
        "/monitoring/metrics/summary",
        200,
        &[
            "summary_timestamp",
            "time_period_hours",
            "system_averages",
            "service_performance",
            "active_alerts",
            "total_metrics_collected",
        ],
    ),
    ("/monitoring/services", 200, &["timestamp", "services"]),
    (
        "/monitoring/services/alpha",
        200,
        &[
            "service_name",
            "timestamp",
            "metrics",
            "health",
            "circuit_breaker",
            "status",
        ],
    ),
    ("/monitoring/services/nope", 404, &["detail"]),
    (
        "/monitoring/system",
        200,
        &["timestamp", "system", "summary"],
    ),
    (
        "/monitoring/history?hours=1&service=alpha",
        200,
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
        200,
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
    (
        "/monitoring/cache/stats",
        200,
        &["timestamp", "cache_stats"],
    ),
    (
        "/monitoring/circuit-breakers",
        200,
        &["timestamp", "circuit_breakers"],
    ),
    ("/monitoring/metrics?format=yaml", 400, &["detail"]),
    ("/monitoring/alerts?limit=many", 422, &["detail"]),
    ("/monitoring/history?hours=-5", 422, &["detail"]),
    ("/monitoring/nope", 404, &["detail"]),
    ("/elsewhere", 404, &["detail"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_over_http() {
    let up = chaos();
    let (monitor, _registry) = monitored(&up).await;
    let server = serve(monitor.clone()).await;
    assert!(server.local_addr().ip().is_loopback());
    assert_eq!(
        server.url(),
        format!("http://{}/monitoring", server.local_addr())
    );
    for (path, status, keys) in ROUTES {
        let r = get(&server, path).await;
        assert_eq!(r.status, *status, "{path}: {}", r.text());
        assert_eq!(r.content_type, "application/json", "{path}");
        assert_eq!(top_keys(&r.body), *keys, "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
    }
    let alerts = get(&server, "/monitoring/alerts?severity=error&limit=5").await;
    assert_eq!(alerts.status, 200);
    let list = alerts.json();
    assert_eq!(list[0]["type"], "service_errors", "{list}");
    assert_eq!(list[0]["message"], "Service alpha success rate is 66.67%");

    let data = get(&server, "/monitoring/metrics").await.json();
    let alpha = &data["services"]["service_clients"]["alpha"];
    assert_eq!(alpha["total_requests"], 3);
    assert!(data["system"]["memory_percent"].as_f64().unwrap() > 0.0);
    let detail = get(&server, "/monitoring/services/alpha").await.json();
    assert_eq!(detail["circuit_breaker"]["state"], "CLOSED");
    assert_eq!(detail["health"]["healthy"], true);

    let wrong = post(&server, "/monitoring/health", Some("s3cret")).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers["allow"], "GET, HEAD");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_byte_for_byte_what_the_route_function_answers() {
    let up = chaos();
    let (monitor, _registry) = monitored(&up).await;
    let server = serve(monitor.clone()).await;
    // Starting the server starts the monitor's driver, whose first collection follows its
    // first checks; compare once it has landed, or a loaded machine sees it land between the
    // route function's answer and the server's.
    tokio::time::timeout(Duration::from_secs(30), async {
        while monitor.history(1).len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the driver's first collection");
    let config = RouteConfig {
        token: Some("s3cret".to_owned()),
        ..RouteConfig::default()
    };
    // Routes whose body carries no time of its own: the same bytes from both.
    for target in [
        "/monitoring/metrics",
        "/monitoring/alerts",
        "/monitoring/alerts?limit=abc",
        "/monitoring/services/nope",
        "/monitoring/metrics?format=xml",
        "/monitoring/unknown",
    ] {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let want = monitoring::handle(
            &config,
            &RouteRequest {
                method: "GET",
                path,
                query,
                headers: &[],
            },
            &monitor.snapshot(),
            tether_native::WallClock::EPOCH,
        );
        let got = get(&server, target).await;
        assert_eq!(got.status, want.status, "{target}");
        assert_eq!(got.body, want.body, "{target}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_routes_need_the_token_and_perform_their_actions() {
    let up = chaos();
    let (monitor, registry) = monitored(&up).await;
    let server = serve(monitor.clone()).await;
    assert_eq!(server.token(), "s3cret");
    assert!(!server.token_generated());

    for path in ["/monitoring/refresh", "/monitoring/cache/clear"] {
        let missing = post(&server, path, None).await;
        assert_eq!(missing.status, 401, "{path}");
        assert_eq!(missing.headers["www-authenticate"], "Bearer");
        let wrong = post(&server, path, Some("s3cret-not")).await;
        assert_eq!(wrong.status, 401, "{path}");
        assert_eq!(wrong.json()["detail"], "Invalid token");
    }

    // Refresh: checks everything again and collects, in the background.
    let before = monitor.with_state(|s| s.history().len());
    let probes = hits(&up, "alpha").await;
    let r = post(&server, "/monitoring/refresh", Some("s3cret")).await;
    assert_eq!(r.status, 200);
    assert_eq!(top_keys(&r.body), ["message", "timestamp"]);
    // A round already running when the refresh arrived may collect first; the refresh's own
    // round follows it, so wait for both a new collection and a new probe.
    let (mut collected, mut checked) = (false, false);
    for _ in 0..200 {
        collected = monitor.with_state(|s| s.history().len()) > before;
        checked = hits(&up, "alpha").await > probes;
        if collected && checked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(collected, "the refresh collected");
    assert!(checked, "the refresh checked alpha");

    // Cache clear: really clears.
    let alpha = registry.get("alpha").unwrap();
    alpha.get("/cache/60?key=srv-cache").send().await.unwrap();
    alpha.get("/cache/60?key=srv-cache").send().await.unwrap();
    assert_eq!(hits(&up, "srv-cache").await, 1);
    let unknown = post(
        &server,
        "/monitoring/cache/clear?service=nope",
        Some("s3cret"),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let cleared = post(
        &server,
        "/monitoring/cache/clear?service=alpha",
        Some("s3cret"),
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert_eq!(cleared.json()["message"], "Cache clear requested for alpha");
    alpha.get("/cache/60?key=srv-cache").send().await.unwrap();
    assert_eq!(
        hits(&up, "srv-cache").await,
        2,
        "the cached entry was dropped"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_are_reported_in_their_real_states() {
    let up = chaos();
    let (monitor, registry) = monitored(&up).await;
    let beta = ServiceClient::builder("beta", up.base_url())
        .health_path("/health?key=beta")
        .max_retries(0)
        .breaker(BreakerConfig {
            consecutive_failures: Some(2),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    registry.insert(beta.clone()).unwrap();
    let server = serve(monitor).await;

    let before = get(&server, "/monitoring/circuit-breakers").await.json();
    assert_eq!(
        before["circuit_breakers"]["beta"]["state"], "CLOSED",
        "{before}"
    );
    for _ in 0..2 {
        assert!(beta.get("/status/503?key=beta").send().await.is_err());
    }
    let sent = hits(&up, "beta").await;
    assert!(
        beta.get("/get?key=beta").send().await.is_err(),
        "the open breaker refuses"
    );
    assert_eq!(hits(&up, "beta").await, sent, "nothing sent while open");

    let r = get(&server, "/monitoring/circuit-breakers").await;
    assert_eq!(r.status, 200);
    let breakers = &r.json()["circuit_breakers"];
    assert_eq!(breakers["beta"]["state"], "OPEN", "{breakers}");
    assert_eq!(breakers["beta"]["failure_count"], 2, "{breakers}");
    assert_eq!(breakers["beta"]["failure_threshold"], 2, "{breakers}");
    assert!(
        breakers["beta"]["last_failure_time"].is_string(),
        "{breakers}"
    );
    assert_eq!(breakers["alpha"]["state"], "CLOSED", "{breakers}");
    assert_eq!(breakers["alpha"]["failure_threshold"], 5, "{breakers}");

    let detail = get(&server, "/monitoring/services/beta").await.json();
    assert_eq!(detail["circuit_breaker"]["state"], "OPEN", "{detail}");
    assert_eq!(detail["status"], "unhealthy", "{detail}");
    let all = get(&server, "/monitoring/services").await.json();
    assert_eq!(all["services"]["beta"]["status"], "unhealthy", "{all}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_routes_change_nothing_and_post_routes_refuse_get() {
    let up = chaos();
    let (monitor, _registry) = monitored(&up).await;
    let server = serve(monitor.clone()).await;
    // The server starts the monitor: its first round checks, samples and collects once. The
    // collection interval is an hour, so nothing collects after that unless a route does.
    let settled = |m: &Monitor| m.with_state(|s| s.history().len()) >= 2;
    for _ in 0..200 {
        if settled(&monitor) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled(&monitor), "the first round collected");
    let counts = |m: &Monitor| (m.with_state(|s| s.history().len()), m.alerts(None).len());
    let before = counts(&monitor);
    let alerts = get(&server, "/monitoring/alerts").await.body;
    for _ in 0..3 {
        for path in [
            "/monitoring/metrics",
            "/monitoring/metrics?format=prometheus",
            "/monitoring/metrics?format=influxdb",
            "/monitoring/system",
            "/monitoring/dashboard",
            "/monitoring/health/ready",
            "/monitoring/health",
            "/monitoring/alerts?limit=1",
            "/monitoring/services",
        ] {
            assert_eq!(get(&server, path).await.status, 200, "{path}");
        }
    }
    assert_eq!(counts(&monitor), before, "GET routes collected or alerted");
    assert_eq!(
        get(&server, "/monitoring/alerts").await.body,
        alerts,
        "listing alerts reorders nothing"
    );

    for path in ["/monitoring/refresh", "/monitoring/cache/clear"] {
        let r = get(&server, path).await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.headers["allow"], "POST", "{path}");
        assert_eq!(r.json()["detail"], "Method Not Allowed");
    }
    assert_eq!(
        counts(&monitor),
        before,
        "a refused GET /refresh did nothing"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_token_and_protected_reads() {
    let monitor = Monitor::new(Registry::new(1), MonitorConfig::default()).unwrap();
    let server = Server::builder(monitor)
        .port(0)
        .protect_reads(true)
        .start()
        .await
        .unwrap();
    assert!(server.token_generated());
    let token = server.token().to_owned();
    assert_eq!(token.len(), 64);
    assert!(
        !format!("{server:?}").contains(&token),
        "the token is not in debug output"
    );
    let open = get(&server, "/monitoring/health/live").await;
    assert_eq!(open.status, 401);
    let url = format!("{}/health/live", server.url());
    assert_eq!(send(Method::GET, &url, Some(&token)).await.status, 200);
    assert_eq!(
        post(&server, "/monitoring/refresh", Some(&token))
            .await
            .status,
        200
    );
    server.shutdown().await.unwrap();

    let bad = Server::builder(Monitor::new(Registry::new(1), MonitorConfig::default()).unwrap())
        .port(0)
        .token("has space")
        .start()
        .await;
    assert!(bad.is_err());
    let mut config = ServerConfig::default();
    config.routes.prefix = "/mon/".to_owned();
    let bad = Server::builder(Monitor::new(Registry::new(1), MonitorConfig::default()).unwrap())
        .config(config)
        .start()
        .await;
    assert!(bad.unwrap_err().to_string().contains("prefix"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_head_shutdown_and_cors() {
    let monitor = Monitor::new(Registry::new(1), MonitorConfig::default()).unwrap();
    let server = Server::builder(monitor.clone())
        .port(0)
        .token("t")
        .cors_allow(["http://dash.example"])
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();
    let big = "x".repeat(100 * 1024);
    let reply = raw(
        addr,
        &format!(
            "POST /monitoring/refresh HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{big}",
            big.len()
        ),
    );
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "{}",
        &reply[..80.min(reply.len())]
    );
    let long = get(
        &server,
        &format!("/monitoring/alerts?severity={}", "w".repeat(4000)),
    )
    .await;
    assert_eq!(long.status, 414);

    let head = raw(
        addr,
        "HEAD /monitoring/health/live HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body for HEAD: {head}");

    let preflight = |origin: &str| {
        raw(
            addr,
            &format!(
                "OPTIONS /monitoring/refresh HTTP/1.1\r\nHost: a\r\nOrigin: {origin}\r\n\
                 Access-Control-Request-Method: POST\r\n\
                 Access-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n"
            ),
        )
        .to_ascii_lowercase()
    };
    assert!(
        preflight("http://dash.example")
            .contains("access-control-allow-origin: http://dash.example")
    );
    assert!(!preflight("http://evil.example").contains("access-control-allow-origin"));

    server.shutdown().await.unwrap();
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");

    // Without an allow-list there are no CORS headers at all.
    let plain = Server::builder(monitor).port(0).start().await.unwrap();
    let reply = raw(
        plain.local_addr(),
        "GET /monitoring/health/live HTTP/1.1\r\nHost: a\r\nOrigin: http://dash.example\r\nConnection: close\r\n\r\n",
    )
    .to_ascii_lowercase();
    assert!(reply.starts_with("http/1.1 200"));
    assert!(!reply.contains("access-control-allow-origin"));
    plain.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_with_their_types_and_no_way_out_of_the_folder() {
    let root = TempDir::new("dash");
    let site = root.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><title>tether</title>",
    )
    .unwrap();
    std::fs::write(site.join("pkg/app.js"), "export const x = 1;").unwrap();
    std::fs::write(site.join("pkg/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(root.path().join("secret.txt"), "do not serve").unwrap();

    let monitor = Monitor::new(Registry::new(1), MonitorConfig::default()).unwrap();
    let server = Server::builder(monitor)
        .port(0)
        .token("t")
        .dashboard_dir(&site)
        .start()
        .await
        .unwrap();
    let index = get(&server, "/").await;
    assert_eq!(index.status, 200);
    assert!(
        index.content_type.starts_with("text/html"),
        "{}",
        index.content_type
    );
    assert!(index.text().contains("<title>tether</title>"));
    let js = get(&server, "/pkg/app.js").await;
    assert_eq!(js.status, 200);
    assert!(
        js.content_type.starts_with("text/javascript"),
        "{}",
        js.content_type
    );
    let wasm = get(&server, "/pkg/app_bg.wasm").await;
    assert_eq!(wasm.content_type, "application/wasm");
    assert_eq!(wasm.body, b"\0asm\x01\0\0\0");
    assert_eq!(get(&server, "/missing.js").await.status, 404);
    // The routes still win under their prefix.
    assert_eq!(get(&server, "/monitoring/health/live").await.status, 200);

    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/pkg/..%2f..%2fsecret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "//etc/passwd",
    ] {
        let reply = raw(
            server.local_addr(),
            &format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        );
        assert!(!reply.contains("do not serve"), "{target}: {reply}");
        assert!(!reply.contains("root:"), "{target}: {reply}");
        assert!(!reply.starts_with("HTTP/1.1 200"), "{target}: {reply}");
    }
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Real consumers of the exports.

/// The path of a tool the tests need (installed by `make setup`). A missing tool fails the
/// test with a message saying so: these round trips are never skipped.
fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run `make setup` (or `apt-get install {package}`); \
                 this test needs the real program and is not skipped"
            )
        })
}

/// A child process killed (by its PID) and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 200 ms for at most `secs`; the first `Some`.
async fn within<T, F, Fut>(secs: u64, what: &str, log: &Path, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..secs * 5 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    panic!("not within {secs} s: {what}\n--- log (last lines, newest first) ---\n{tail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_route_passes_promtool() {
    let promtool = tool("promtool", "prometheus");
    let up = chaos();
    let (monitor, _registry) = monitored(&up).await;
    let server = serve(monitor).await;
    let r = get(&server, "/monitoring/metrics?format=prometheus").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = r.text();
    assert!(
        text.contains("service_requests_total{service=\"alpha\"} 3"),
        "{text}"
    );
    assert!(text.contains("# TYPE system_cpu_percent gauge"), "{text}");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_route() {
    let prometheus = tool("prometheus", "prometheus");
    let up = chaos();
    let (monitor, _registry) = monitored(&up).await;
    let server = serve(monitor).await;
    let dir = TempDir::new("prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: tether\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
             \x20   metrics_path: /monitoring/metrics\n    params:\n      format: [prometheus]\n\
             \x20   static_configs:\n      - targets: ['{}']\n",
            server.local_addr()
        ),
    )
    .unwrap();
    let port = free_port();
    let log = dir.path().join("prometheus.log");
    let _prometheus = Proc(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts"),
    );
    let query = |q: &'static str| async move {
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={q}");
        let r = http().get(url).send().await.ok()?;
        let v: serde_json::Value = serde_json::from_slice(r.bytes()).ok()?;
        let value = v["data"]["result"][0]["value"][1].as_str()?.to_owned();
        Some(value)
    };
    let up_value = within(20, "up{job=\"tether\"} == 1", &log, || {
        query("up%7Bjob%3D%22tether%22%7D")
    })
    .await;
    assert_eq!(up_value, "1");
    let requests = within(
        20,
        "service_requests_total{service=\"alpha\"}",
        &log,
        || query("service_requests_total%7Bservice%3D%22alpha%22%7D"),
    )
    .await;
    assert_eq!(requests, "3");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_influxdb_takes_the_lines() {
    let influxd = tool("influxd", "influxdb");
    let up = chaos();
    let (monitor, _registry) = monitored(&up).await;
    let server = serve(monitor).await;
    let dir = TempDir::new("influx");
    let (rpc, api) = (free_port(), free_port());
    let d = dir.path().display();
    let config = dir.path().join("influx.conf");
    std::fs::write(
        &config,
        format!(
            "reporting-enabled = false\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{api}\"\n  log-enabled = false\n\
             [ifql]\n  enabled = false\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("influxd.log");
    let _influxd = Proc(
        Command::new(influxd)
            .arg("-config")
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("influxd.err")).unwrap())
            .spawn()
            .expect("influxd starts"),
    );
    let base = format!("http://127.0.0.1:{api}");
    within(20, "influxd /ping answers 204", &log, || {
        let url = format!("{base}/ping");
        async move {
            let r = http().get(url).send().await.ok()?;
            (r.status().as_u16() == 204).then_some(())
        }
    })
    .await;
    let created = http()
        .post(format!("{base}/query?q=CREATE%20DATABASE%20tether"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 200, "{}", created.text());

    let lines = get(&server, "/monitoring/metrics?format=influxdb").await;
    assert_eq!(lines.status, 200);
    assert_eq!(lines.content_type, "text/plain; charset=utf-8");
    let written = http()
        .post(format!("{base}/write?db=tether&precision=ns"))
        .body(lines.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        written.status().as_u16(),
        204,
        "{}\n{}",
        written.text(),
        lines.text()
    );

    let q = "SELECT%20total_requests%2Csuccess_rate%20FROM%20service_metrics%20WHERE%20service%3D%27alpha%27";
    let answer = http()
        .get(format!("{base}/query?db=tether&q={q}"))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(answer.bytes()).unwrap();
    let series = &v["results"][0]["series"][0];
    assert_eq!(series["name"], "service_metrics", "{v}");
    assert_eq!(series["columns"][1], "total_requests", "{v}");
    let row = &series["values"][0];
    assert_eq!(row[1], 3, "{v}");
    assert!((row[2].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{v}");
    let system = http()
        .get(format!(
            "{base}/query?db=tether&q=SELECT%20*%20FROM%20system_metrics"
        ))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(system.bytes()).unwrap();
    assert_eq!(
        v["results"][0]["series"][0]["name"], "system_metrics",
        "{v}"
    );
    server.shutdown().await.unwrap();
}
