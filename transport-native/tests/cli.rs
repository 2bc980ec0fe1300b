//! The `tether` program, run as a real process against a chaos upstream on loopback: every
//! process is started by the test and stopped by it (by PID) if it outlives its purpose.

#![allow(clippy::disallowed_methods)] // test code: real clocks, threads and processes

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tether_chaos::{ChaosHandle, ChaosOptions, spawn_background};

fn tether() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tether"));
    c.env_remove("TETHER_TOKEN");
    c
}

fn chaos() -> ChaosHandle {
    spawn_background(ChaosOptions::default())
}

/// Runs `tether args…` to completion (a test bound of 60 s is enforced by the caller's
/// arguments: every run here is bounded by `-n`, `--timeout` or `--duration`).
fn run(args: &[&str]) -> Output {
    tether().args(args).output().expect("run tether")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hits(server: &ChaosHandle, key: &str) -> u64 {
    let text = ureq::get(server.url(&format!("/count/{key}")).as_str())
        .call()
        .expect("count")
        .into_body()
        .read_to_string()
        .expect("body");
    let body: Value = serde_json::from_str(&text).expect("json");
    body["hits"].as_u64().expect("hits")
}

/// A file in a directory of its own under the system's temp dir, removed with the guard.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tether-cli-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        TempFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// tether get

#[test]
fn get_prints_status_timing_and_the_decision_trace() {
    let server = chaos();
    let url = server.url("/flaky/get-trace?fail=2");
    let o = run(&[
        "get",
        &url,
        "-H",
        "Authorization: Bearer s3cr3t-t0ken",
        "-H",
        "X-Request-Id: abc",
        "--timeout",
        "10s",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.starts_with(&format!("GET {url}\n")), "{out}");
    assert!(out.contains("\n200 OK in "), "{out}");
    assert!(out.contains("attempt 1  503 in "), "{out}");
    assert!(out.contains("-> retry in "), "{out}");
    assert!(out.contains("attempt 3  200 in "), "{out}");
    assert!(out.contains("  trace    cache="), "{out}");
    // The body follows the trace.
    assert!(
        out.trim_end()
            .ends_with(r#"{"attempt":3,"key":"get-trace"}"#),
        "{out}"
    );
    // The secret never shows, on any stream.
    assert!(!out.contains("s3cr3t") && !stderr(&o).contains("s3cr3t"));
    assert_eq!(hits(&server, "get-trace"), 3);
}

#[test]
fn get_json_is_the_trace_as_json() {
    let server = chaos();
    let o = run(&[
        "get",
        &server.url("/flaky/get-json?fail=1&api_key=s3cr3t"),
        "--json",
        "-H",
        "Cookie: session=s3cr3t",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("s3cr3t"), "{out}");
    let doc: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["status"], 200);
    assert_eq!(doc["from_cache"], false);
    let attempts = doc["trace"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["result"]["status"], 503);
    assert_eq!(attempts[0]["next"]["kind"], "retry");
    assert_eq!(attempts[1]["next"]["kind"], "accept");
    assert!(doc["trace"]["total_ms"].as_f64().unwrap() > 0.0);
    assert!(
        doc["request"]["url"]
            .as_str()
            .unwrap()
            .contains("api_key=[REDACTED]")
    );
}

#[test]
fn get_failures_exit_non_zero_with_the_trace() {
    // Nothing listens on the discard port: refused, retried, given up.
    let o = run(&[
        "get",
        "http://127.0.0.1:9/",
        "--retries",
        "1",
        "--timeout",
        "5s",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("kind connect (a gateway would answer 502)"),
        "{out}"
    );
    assert!(out.contains("attempt 2  connect error"), "{out}");
    assert!(out.contains("give up (attempts_exhausted)"), "{out}");
    // A 4xx/5xx answer is printed, and the exit status says it failed.
    let server = chaos();
    let o = run(&["get", &server.url("/status/404"), "--no-body"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("404 Not Found in "), "{}", stdout(&o));
    // A usage mistake is exit 2, and never repeats a header's value.
    let o = run(&["get", &server.url("/get"), "-H", "Authorization s3cr3t"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("colon"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("s3cr3t"));
}

#[test]
fn get_logs_its_decisions_as_plain_text_without_secrets() {
    let server = chaos();
    let o = run(&[
        "get",
        &server.url("/flaky/cli-log?fail=1&api_key=QUERY-SECRET-9"),
        "-H",
        "Authorization: Bearer HEADER-SECRET-9",
        "--log",
        "debug",
        "--no-body",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("retrying"), "{err}");
    assert!(err.contains("[REDACTED]"), "{err}");
    // stderr is a pipe here: no colour codes.
    assert!(!err.contains('\u{1b}'), "{err:?}");
    for secret in ["QUERY-SECRET-9", "HEADER-SECRET-9"] {
        assert!(
            !err.contains(secret) && !stdout(&o).contains(secret),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// tether load

/// The latency fields of a summary, in order; each no smaller than the one before.
fn assert_ordered(latency: &Value) {
    let names = ["min", "p50", "p90", "p95", "p99", "max"];
    let values: Vec<f64> = names
        .iter()
        .map(|n| {
            latency[n]
                .as_f64()
                .unwrap_or_else(|| panic!("{n} in {latency}"))
        })
        .collect();
    assert!(values[0] > 0.0, "{latency}");
    for (pair, names) in values.windows(2).zip(names.windows(2)) {
        assert!(pair[0] <= pair[1], "{} > {}: {latency}", names[0], names[1]);
    }
    let mean = latency["mean"].as_f64().unwrap();
    assert!(values[0] <= mean && mean <= values[5], "{latency}");
}

#[test]
fn load_sends_n_requests_and_summarizes_them() {
    let server = chaos();
    let url = server.url("/get?key=load-n");
    let o = run(&["load", &url, "-n", "300", "-c", "8", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    assert_eq!(s["requests"], 300);
    assert_eq!(s["concurrency"], 8);
    assert_eq!(s["succeeded"], 300);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["status_counts"]["200"], 300);
    assert_eq!(s["errors"], serde_json::json!({}));
    assert_ordered(&s["latency_ms"]);
    let elapsed = s["elapsed_ms"].as_f64().unwrap();
    let rps = s["requests_per_second"].as_f64().unwrap();
    assert!((rps - 300.0 / (elapsed / 1000.0)).abs() < 1e-6 * rps, "{s}");
    // Every request reached the upstream exactly once (nothing cached, nothing retried).
    assert_eq!(hits(&server, "load-n"), 300);
    assert_eq!(s["retries"], 0);
    // No progress bar when stderr is not a terminal.
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn load_prints_a_human_summary_with_percentiles() {
    let server = chaos();
    let o = run(&["load", &server.url("/json/small"), "-n", "120", "-c", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("120 requests to "), "{out}");
    for word in [
        "min ", "mean ", "p50 ", "p90 ", "p95 ", "p99 ", "max ", "req/s",
    ] {
        assert!(out.contains(word), "{word}: {out}");
    }
    assert!(out.contains("statuses  200: 120"), "{out}");
    assert!(out.contains("errors    none"), "{out}");
    // `/json/small` is cacheable for 60 s: most requests never left the process.
    let hits_line = out.lines().find(|l| l.contains("cache ")).unwrap();
    let hits: u64 = hits_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(hits >= 100, "{out}");
}

#[test]
fn load_draws_a_progress_bar_on_a_terminal() {
    // `script` (util-linux) runs the program on a pseudo-terminal, so stderr is a terminal.
    let server = chaos();
    let url = server.url("/get?key=load-tty");
    let command = format!(
        "'{}' load '{url}' -n 30 --rate 15 --no-cache",
        env!("CARGO_BIN_EXE_tether")
    );
    let o = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("TETHER_TOKEN")
        .output()
        .expect("run script (util-linux)");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The bar counts towards 30 while the run lasts (about 2 s), is redrawn in place, and the
    // summary follows it.
    assert!(out.contains("/30 "), "{out}");
    assert!(out.contains("\r\u{1b}[2K"), "{out:?}");
    let summary = out.find("30 requests to ").expect("the summary");
    assert!(out.find("/30 ").unwrap() < summary, "{out}");
    assert!(out[summary..].contains("p99 "), "{out}");
    assert_eq!(hits(&server, "load-tty"), 30);
}

#[test]
fn load_against_a_failing_upstream_counts_errors_and_the_breaker() {
    let server = chaos();
    let o = run(&[
        "load",
        &server.url("/status/503?key=load-fail"),
        "-n",
        "40",
        "-c",
        "2",
        "--retries",
        "0",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["requests"], 40);
    assert_eq!(s["failed"], 40);
    let answered = s["status_counts"]["503"].as_u64().unwrap();
    let refused = s["errors"]["circuit_open"].as_u64().unwrap();
    assert_eq!(answered + refused, 40, "{s}");
    // The breaker opened after 5 consecutive failures; the rest never reached the upstream.
    assert!((5..=8).contains(&answered), "{s}");
    assert_eq!(hits(&server, "load-fail"), answered);
    let breaker = s["breakers"].as_object().unwrap().values().next().unwrap();
    assert_eq!(breaker["opened"], 1, "{s}");
}

#[test]
fn load_bounds_its_runs() {
    let server = chaos();
    let url = server.url("/get");
    for (args, words) in [
        (vec!["-n", "99999999"], "at most 1000000"),
        (vec!["-n", "0"], "-n must be at least 1"),
        (vec!["-c", "100000"], "at most 1000 requests in flight"),
        (vec!["--duration", "2h"], "at most 1h"),
        (vec!["--rate", "0"], "--rate"),
    ] {
        let mut all = vec!["load", url.as_str()];
        all.extend(args);
        let o = run(&all);
        assert_eq!(o.status.code(), Some(2), "{all:?}");
        assert!(stderr(&o).contains(words), "{all:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    // A rate and a duration bound the run together.
    let started = Instant::now();
    let o = run(&[
        "load",
        &server.url("/get?key=load-rate"),
        "--duration",
        "1s",
        "--rate",
        "20",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = s["requests"].as_u64().unwrap();
    assert!((15..=21).contains(&n), "{s}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

// ---------------------------------------------------------------------------------------------
// tether serve: configuration errors

#[test]
fn serve_refuses_broken_configs_naming_key_and_line() {
    let cases = [
        ("[server]\nport = 8001\nprot = 1\n", 3, "server.prot"),
        ("[server]\nport = 70000\n", 2, "server.port"),
        (
            "[[services]]\nname = \"users\"\nbase_url = \"http://127.0.0.1:1\"\nhealth_interval = -5\n",
            4,
            "services[0].health_interval",
        ),
        (
            "[[services]]\nname = \"users\"\nbase_url = \"not a url\"\n",
            3,
            "services[0].base_url",
        ),
        (
            "[monitor]\n\n\nhistory_size = \"lots\"\n",
            4,
            "monitor.history_size",
        ),
        (
            "[[services]]\nname = \"a\"\nbase_url = \"http://x\"\n\n[[services]]\nname = \"a\"\nbase_url = \"http://y\"\n",
            6,
            "services[1].name",
        ),
    ];
    for (text, line, key) in cases {
        let file = TempFile::new("tether.toml", text);
        let o = run(&["serve", "--config", file.path()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}\n{err}");
        assert!(
            err.contains(&format!("{}:{line}:", file.path())),
            "line {line}: {err}"
        );
        assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        assert!(o.stdout.is_empty(), "{}", stdout(&o));
    }
    let o = run(&["serve", "--config", "/nonexistent/tether.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read the configuration"));
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../tether.example.toml");
    let o = run(&["serve", "--config", example, "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("valid — 2 services"), "{out}");
    assert!(out.contains("users -> http://127.0.0.1:8081"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Long-running commands: started, probed over HTTP, stopped by SIGINT or by themselves.

/// A running `tether` process whose stdout lines arrive on a channel; killed (by PID) if the
/// test ends before it does.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let mut child = tether()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tether");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a line containing `needle`, and returns it.
    fn line_with(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {needle:?} in {limit:?} ({e}); seen:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) to the process.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
    }

    /// Waits (at most `limit`) for the process to exit; the rest of its output is kept.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The first `http://…` URL in `line`.
fn url_in(line: &str) -> String {
    let start = line
        .find("http://")
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    line[start..]
        .split(|c: char| c.is_whitespace() || c == '\'')
        .next()
        .unwrap()
        .to_owned()
}

/// GETs `url`: status and body.
fn fetch(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let response = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.into_body().read_to_string().unwrap())
}

/// POSTs to `url` with an optional bearer token: the status.
fn post(url: &str, token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.post(url);
    if let Some(t) = token {
        request = request.header("Authorization", &format!("Bearer {t}"));
    }
    request
        .send_empty()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .status()
        .as_u16()
}

fn json(url: &str) -> Value {
    let (status, body) = fetch(url);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

#[test]
fn demo_serves_its_services_and_stops_by_itself() {
    let odd = "<img src=x onerror=alert(1)>";
    let mut demo = Running::start(&[
        "demo",
        "--duration",
        "8s",
        "--port",
        "0",
        "--plain",
        "--cycle",
        "6s",
        "--add-service",
        odd,
    ]);
    let live = url_in(&demo.line_with("/monitoring/health/live", Duration::from_secs(60)));
    let base = live.trim_end_matches("/health/live").to_owned();
    let doc = json(&live);
    assert_eq!(doc["status"], "alive", "{doc}");
    // The generated token is printed once, and it is the one the POST routes want.
    let token_line = demo.line_with("Token for the POST routes", Duration::from_secs(5));
    let token = token_line.rsplit(' ').next().unwrap().to_owned();
    assert_eq!(token.len(), 64, "{token_line}");
    assert_eq!(post(&format!("{base}/refresh"), None), 401);
    assert_eq!(
        post(&format!("{base}/refresh"), Some("wrong-token-0123456789")),
        401
    );
    assert_eq!(post(&format!("{base}/refresh"), Some(&token)), 200);
    let services = json(&format!("{base}/services"));
    let names: std::collections::BTreeSet<&str> = services["services"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        ["payments", "search", "users", odd].into_iter().collect(),
        "{services}"
    );
    // The script takes `payments` down from 1 s to 3 s of each 6 s cycle: its breaker opens.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let breakers = json(&format!("{base}/circuit-breakers"));
        if breakers["circuit_breakers"]["payments"]["state"] == "OPEN" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "payments never opened: {breakers}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = demo.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", demo.seen.join("\n"));
    let all = demo.seen.join("\n");
    assert!(
        all.contains("chaos: payments upstream down (HTTP 503)"),
        "{all}"
    );
    assert!(all.contains("breaker: payments CLOSED -> OPEN"), "{all}");
    assert!(all.contains("Done after"), "{all}");
    // The server is gone with the process.
    assert!(ureq::get(live.as_str()).call().is_err());
}

/// What the demo's routes have shown so far about `payments` while its upstream fails and
/// recovers.
#[derive(Debug, Default)]
struct Seen {
    breaker_open: bool,
    closed_after_open: bool,
    unhealthy: bool,
    healthy_after_unhealthy: bool,
    /// The `breaker_open` alert raised for `payments`, and whether it has been resolved.
    alert: Option<u64>,
    alert_resolved: bool,
}

impl Seen {
    /// Reads the breakers, the service and the alerts once.
    fn observe(&mut self, base: &str) {
        let breakers = json(&format!("{base}/circuit-breakers"));
        match breakers["circuit_breakers"]["payments"]["state"].as_str() {
            Some("OPEN") => self.breaker_open = true,
            Some("CLOSED") if self.breaker_open => self.closed_after_open = true,
            _ => {}
        }
        let service = json(&format!("{base}/services/payments"));
        match service["status"].as_str() {
            Some("unhealthy") => self.unhealthy = true,
            Some("healthy") if self.unhealthy => self.healthy_after_unhealthy = true,
            _ => {}
        }
        let alerts = json(&format!("{base}/alerts?limit=1000"));
        for a in alerts.as_array().expect("an array of alerts") {
            if a["type"] != "breaker_open" || a["service"] != "payments" {
                continue;
            }
            let id = a["id"].as_u64().expect("alert id");
            match self.alert {
                None if a["resolved_at"].is_null() => self.alert = Some(id),
                Some(known) if known == id && a["resolved_at"].is_string() => {
                    self.alert_resolved = true;
                }
                _ => {}
            }
        }
    }

    fn failing(&self) -> bool {
        self.breaker_open && self.unhealthy && self.alert.is_some()
    }

    fn recovered(&self) -> bool {
        self.closed_after_open && self.healthy_after_unhealthy && self.alert_resolved
    }
}

#[test]
fn demo_routes_show_the_breaker_open_an_alert_and_the_recovery() {
    // An 8 s cycle: `payments` answers 503 from 1.3 s to 4 s; its breaker opens at once and
    // probes again 5 s later, when the upstream is back. `--duration` is only a backstop: the
    // test stops the process (by PID) as soon as it has seen the whole story.
    let mut demo = Running::start(&[
        "demo",
        "--duration",
        "120s",
        "--port",
        "0",
        "--plain",
        "--cycle",
        "8s",
    ]);
    let live = url_in(&demo.line_with("/monitoring/health/live", Duration::from_secs(60)));
    let base = live.trim_end_matches("/health/live").to_owned();
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.failing() {
        assert!(Instant::now() < deadline, "while failing: {seen:?}");
        seen.observe(&base);
        std::thread::sleep(Duration::from_millis(100));
    }
    // The alert raised while it failed is the one that must resolve.
    let id = seen.alert.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.recovered() {
        assert!(Instant::now() < deadline, "recovering: {seen:?}");
        seen.observe(&base);
        std::thread::sleep(Duration::from_millis(100));
    }
    // The status loop reports alerts every half second: the resolution reaches the terminal
    // shortly after the route shows it.
    demo.line_with(
        "alert resolved: breaker_open (payments)",
        Duration::from_secs(10),
    );
    demo.interrupt();
    let status = demo.wait(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{}", demo.seen.join("\n"));
    // The terminal told the same story.
    let all = demo.seen.join("\n");
    for words in [
        "chaos: payments upstream down (HTTP 503)",
        "breaker: payments CLOSED -> OPEN",
        "ALERT fired: [error] breaker_open (payments)",
        "chaos: payments upstream repaired",
        "breaker: payments HALF_OPEN -> CLOSED",
        "alert resolved: breaker_open (payments)",
        "Interrupted after",
    ] {
        assert!(all.contains(words), "{words} (alert {id}):\n{all}");
    }
}

#[test]
fn ctrl_c_stops_the_demo_gracefully() {
    let mut demo = Running::start(&["demo", "--port", "0", "--plain"]);
    let live = url_in(&demo.line_with("/monitoring/health/live", Duration::from_secs(60)));
    assert_eq!(fetch(&live).0, 200);
    demo.interrupt();
    let status = demo.wait(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{}", demo.seen.join("\n"));
    assert!(
        demo.seen.iter().any(|l| l.starts_with("Interrupted after")),
        "{:?}",
        demo.seen
    );
}

#[test]
fn serve_runs_a_config_and_ctrl_c_stops_it() {
    let upstream = chaos();
    let config = TempFile::new(
        "tether.toml",
        &format!(
            "[server]\nport = 0\ntoken = \"serve-test-token-0123456789\"\n\n\
             [[services]]\nname = \"inventory\"\nbase_url = \"{}\"\nhealth_interval = \"1s\"\n",
            upstream.base_url()
        ),
    );
    let mut serve = Running::start(&["serve", "--config", config.path()]);
    let live = url_in(&serve.line_with("/monitoring/health/live", Duration::from_secs(60)));
    let base = live.trim_end_matches("/health/live").to_owned();
    let services = json(&format!("{base}/services"));
    assert!(services["services"]["inventory"].is_object(), "{services}");
    let breakers = json(&format!("{base}/circuit-breakers"));
    assert_eq!(
        breakers["circuit_breakers"]["inventory"]["state"], "CLOSED",
        "{breakers}"
    );
    assert_eq!(fetch(&format!("{base}/services/nope")).0, 404);
    let (status, body) = fetch(&format!("{base}/metrics?format=prometheus"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetch(&format!("{base}/metrics?format=xml")).0, 400);
    // The health check runs every second against the chaos upstream: inventory is healthy.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let service = json(&format!("{base}/services/inventory"));
        if service["status"] == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "{service}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The configured token guards the POST routes, and is never printed.
    assert_eq!(post(&format!("{base}/refresh"), None), 401);
    assert_eq!(
        post(
            &format!("{base}/refresh"),
            Some("serve-test-token-0123456789")
        ),
        200
    );
    assert!(
        !serve.seen.iter().any(|l| l.contains("serve-test-token")),
        "{:?}",
        serve.seen
    );
    serve.interrupt();
    let status = serve.wait(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{}", serve.seen.join("\n"));
    assert!(
        serve.seen.iter().any(|l| l.contains("stopped")),
        "{:?}",
        serve.seen
    );
}
