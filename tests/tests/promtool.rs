//! The Prometheus export of a populated engine snapshot must pass the real
//! `promtool check metrics` (installed by `make setup`).

// Native only: files, JSON Schema, property tests or processes (the wasm runs are
// `conformance.rs`, `scenarios.rs`, `client.rs` and `cache_isolation.rs`).
#![cfg(not(target_arch = "wasm32"))]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use tether_core::{EngineConfig, Timestamp};
use tether_core::{Format, SystemSample, export};
use tether_tests::{Sim, get, ok, respond};

/// The real `promtool`; a missing one fails the test (it is never skipped).
fn promtool() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin"].map(std::path::PathBuf::from))
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .expect("`promtool` is not installed: run `make setup` (Debian package `prometheus`)")
}

fn check(text: &str) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool finishes");
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && msg.trim().is_empty(), msg)
}

fn populated() -> String {
    let mut c = EngineConfig::default();
    c.retry.backoff = tether_core::Backoff::Constant(Duration::from_millis(50));
    let mut n = 0u32;
    let mut sim = Sim::new(c, move |req, _| {
        n += 1;
        let path = req.uri().path().to_owned();
        let latency = Duration::from_millis(u64::from(n % 97) * 3 + 1);
        let out = if path.starts_with("/bad") {
            ok(503, "x")
        } else if path.starts_with("/cached") {
            respond(200, &[("cache-control", "max-age=60")], "c")
        } else {
            ok(200, "ok")
        };
        (latency, out)
    });
    for i in 0..300u64 {
        let (svc, path) = match i % 4 {
            0 => ("orders", format!("/ok/{i}")),
            1 => ("users \"prod\"\\eu\n", format!("/bad/{i}")),
            2 => ("catalog", "/cached".to_owned()),
            _ => ("catalog", format!("/ok/{i}")),
        };
        sim.submit_at(
            Timestamp::from_millis(i * 40),
            get(&format!("http://{svc}.test{path}").replace([' ', '"', '\\', '\n'], "")),
            Some(svc),
        );
    }
    sim.advance(Duration::from_secs(30));
    let system = SystemSample {
        cpu_percent: 12.5,
        memory_percent: 40.0,
        disk_usage_percent: 71.25,
        network_io: None,
        process_count: 123,
    };
    let snap = sim
        .engine
        .export_snapshot(sim.now(), sim.wall(), Some(system));
    assert!(snap.metrics.services.len() >= 3);
    export(Format::Prometheus, &snap).expect("prometheus export")
}

#[test]
fn prometheus_export_of_a_populated_snapshot_passes_promtool() {
    let text = populated();
    for family in [
        "service_requests_total",
        "tether_request_duration_seconds_bucket",
        "tether_breaker_state",
        "system_cpu_percent",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    let (ok, msg) = check(&text);
    assert!(ok, "promtool rejected the export: {msg}\n---\n{text}");
}

#[test]
fn promtool_catches_a_broken_exposition() {
    // Proves the check above can fail: a repeated HELP line and a counter without `_total`.
    let bad = "# HELP x_total a\n# TYPE x_total counter\nx_total 1\n# HELP x_total a\n# TYPE requests counter\nrequests 1\n";
    let (ok, _) = check(bad);
    assert!(!ok, "promtool accepted a broken exposition");
}
