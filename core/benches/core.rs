//! Module-level micro-benchmarks of the core's hot decisions (criterion).
//!
//! `cargo bench -p tether-core --bench core` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quick run). The whole-engine "miss pipeline" bench lives in `benches/engine.rs`.
//!
//! * `cache_hit` — `Cache::lookup` answering `Lookup::Fresh` for a stored entry.
//! * `cache_miss_key` — `Cache::key_for` alone (what every lookup hashes).
//! * `breaker_check` — `Breaker::try_acquire` + `on_result(success)` while Closed.
//! * `metrics_record` — `on_request_start` + `on_attempt` + `on_request_end` for one service.
//! * `prometheus_export_100_services` — `export(Format::Prometheus, ..)` of a snapshot with 100
//!   services (≈50 recorded requests each: latencies over five decades, retries, failures of
//!   several kinds, every cache outcome), plus their breakers, cache and health.
//! * `retry_decide` — `RetryPolicy::decide` on a 503 with the default retry budget.
//! * `redact_request_event` — what the client redacts for each request's hook event: the URL
//!   (three query parameters, one secret) and six headers (two secret).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tether_core::{
    AttemptRecord, CacheOutcome, FailureCategory, Metrics, MetricsConfig, RequestRecord,
};
use tether_core::{Breaker, BreakerConfig, CallResult};
use tether_core::{
    BreakerInfo, CacheInfo, ExportSnapshot, Format, HealthInfo, NetworkIo, SystemSample, export,
};
use tether_core::{Cache, CacheConfig, Lookup, StoreResult};
use tether_core::{Outcome, Redactor, Request, Rng, Timestamp, WallClock};
use tether_core::{RetryConfig, RetryDecision, RetryPolicy};

const NOW: Timestamp = Timestamp::from_secs(10);
const WALL: WallClock = WallClock::from_unix_secs(1_700_000_000);

fn request() -> Request {
    http::Request::get("https://api.example.com/v1/items?b=2&a=1")
        .header("accept", "application/json")
        .header("authorization", "Bearer 0123456789abcdef")
        .body(Bytes::new())
        .expect("valid request")
}

fn cache_benches(c: &mut Criterion) {
    let config = CacheConfig {
        key_headers: vec!["accept".into()],
        ..CacheConfig::default()
    };
    let mut cache = Cache::new(config, 0x5eed).expect("valid config");
    let req = request();
    let Lookup::Miss(fill) = cache.lookup(NOW, &req, 1) else {
        panic!("expected a miss on an empty cache");
    };
    let resp = http::Response::builder()
        .header("cache-control", "max-age=3600")
        .header("content-type", "application/json")
        .header("etag", "\"v1\"")
        .body(Bytes::from_static(br#"[{"id":1},{"id":2}]"#))
        .expect("valid response");
    let stored = cache.on_response(NOW, WALL, fill, &req, &resp);
    assert!(matches!(stored, StoreResult::Stored(_)));
    assert!(matches!(cache.lookup(NOW, &req, 2), Lookup::Fresh(_)));

    c.bench_function("cache_hit", |b| {
        b.iter(|| match cache.lookup(NOW, black_box(&req), 3) {
            Lookup::Fresh(r) => r,
            other => panic!("expected a fresh hit, got {other:?}"),
        });
    });
    c.bench_function("cache_miss_key", |b| {
        b.iter(|| cache.key_for(black_box(&req)));
    });
}

fn breaker_check(c: &mut Criterion) {
    let mut breaker = Breaker::new(BreakerConfig::default()).expect("valid config");
    let ok = CallResult::success(Duration::from_millis(12));
    c.bench_function("breaker_check", |b| {
        b.iter(|| {
            let permit = breaker
                .try_acquire(black_box(NOW))
                .expect("closed breaker admits");
            breaker.on_result(NOW, permit, black_box(ok));
        });
    });
}

fn metrics_record(c: &mut Criterion) {
    let mut metrics = Metrics::new(MetricsConfig::default()).expect("valid config");
    let attempt = AttemptRecord::success(Duration::from_millis(42), Some(200));
    let end = RequestRecord {
        success: true,
        latency: Duration::from_millis(43),
        failure: None,
        retries: 0,
        cache: CacheOutcome::Miss,
        wall: WALL,
    };
    c.bench_function("metrics_record", |b| {
        b.iter(|| {
            metrics.on_request_start(black_box("users-api"));
            metrics.on_attempt("users-api", black_box(&attempt));
            metrics.on_request_end("users-api", black_box(&end));
        });
    });
}

/// One request of the realistic mix for `name`: its attempts and its end.
fn one_request(metrics: &mut Metrics, rng: &mut Rng, name: &str) {
    // Log-uniform latency between 1 ms and ~10 s.
    let latency = Duration::from_micros((1_000.0 * 10f64.powf(4.0 * rng.next_f64())) as u64);
    metrics.on_request_start(name);
    let roll = rng.below(100);
    let (success, failure, retries, cache) = match roll {
        0..=19 => (true, None, 0, CacheOutcome::Hit),
        20..=24 => (true, None, 0, CacheOutcome::Stale),
        25..=29 => (true, None, 0, CacheOutcome::Revalidated),
        30..=79 => (true, None, 0, CacheOutcome::Miss),
        80..=87 => (true, None, 1, CacheOutcome::Miss),
        88..=92 => (
            false,
            Some(FailureCategory::Status5xx),
            2,
            CacheOutcome::Bypass,
        ),
        93..=95 => (
            false,
            Some(FailureCategory::Timeout),
            1,
            CacheOutcome::Bypass,
        ),
        96..=97 => (
            false,
            Some(FailureCategory::Connect),
            0,
            CacheOutcome::Bypass,
        ),
        _ => (
            false,
            Some(FailureCategory::Status4xx),
            0,
            CacheOutcome::Miss,
        ),
    };
    if cache != CacheOutcome::Hit && cache != CacheOutcome::Stale {
        for _ in 0..retries {
            let failed = match failure {
                Some(FailureCategory::Timeout) => {
                    AttemptRecord::failure(FailureCategory::Timeout, latency, None)
                        .with_error_name("ReadTimeout")
                }
                _ => AttemptRecord::failure(FailureCategory::Status5xx, latency, Some(503)),
            };
            metrics.on_attempt(name, &failed);
        }
        let last = match failure {
            None => AttemptRecord::success(latency, Some(200)),
            Some(FailureCategory::Status5xx) => {
                AttemptRecord::failure(FailureCategory::Status5xx, latency, Some(502))
            }
            Some(FailureCategory::Status4xx) => {
                AttemptRecord::failure(FailureCategory::Status4xx, latency, Some(404))
            }
            Some(category) => AttemptRecord::failure(category, latency, None),
        };
        metrics.on_attempt(name, &last);
    }
    metrics.on_request_end(
        name,
        &RequestRecord {
            success,
            latency,
            failure,
            retries,
            cache,
            wall: WALL,
        },
    );
}

/// ≈50 requests for each of 100 services, in a realistic mix, then the full export snapshot.
fn snapshot_100_services() -> ExportSnapshot {
    let mut metrics = Metrics::new(MetricsConfig::default()).expect("valid config");
    let mut rng = Rng::new(42);
    let names: Vec<String> = (0..100).map(|i| format!("service-{i:03}")).collect();
    for name in &names {
        for _ in 0..50 {
            one_request(&mut metrics, &mut rng, name);
        }
    }
    let states = ["closed", "closed", "closed", "open", "half_open"];
    ExportSnapshot {
        timestamp: WALL,
        system: Some(SystemSample {
            cpu_percent: 37.5,
            memory_percent: 61.2,
            disk_usage_percent: 48.9,
            network_io: Some(NetworkIo {
                bytes_sent: 9_876_543_210,
                bytes_recv: 12_345_678_901,
                packets_sent: 7_654_321,
                packets_recv: 8_765_432,
            }),
            process_count: 312,
        }),
        metrics: metrics.snapshot(WALL),
        breakers: names
            .iter()
            .enumerate()
            .map(|(i, n)| BreakerInfo {
                service: n.clone(),
                state: states[i % states.len()].to_owned(),
                failure_count: (i % 6) as u64,
            })
            .collect(),
        cache: Some(CacheInfo {
            hits: 1_000,
            misses: 2_900,
            entries: 812,
            bytes: 3_456_789,
            evictions: 57,
        }),
        health: names
            .iter()
            .enumerate()
            .map(|(i, n)| HealthInfo {
                service: n.clone(),
                status: ["healthy", "healthy", "degraded", "unhealthy"][i % 4].to_owned(),
                response_time_seconds: (i % 4 != 3).then_some(0.012 + i as f64 / 1_000.0),
            })
            .collect(),
        alerts_firing: 3,
    }
}

fn prometheus_export(c: &mut Criterion) {
    let snap = snapshot_100_services();
    assert_eq!(snap.metrics.services.len(), 100);
    let size = export(Format::Prometheus, &snap).expect("export").len();
    assert!(size > 100_000, "unexpectedly small export: {size} bytes");
    c.bench_function("prometheus_export_100_services", |b| {
        b.iter(|| export(Format::Prometheus, black_box(&snap)).expect("export"));
    });
}

fn retry_decide(c: &mut Criterion) {
    let policy = RetryPolicy::new(RetryConfig::default()).expect("valid config");
    let budget = policy
        .new_budget()
        .expect("the default config has a budget");
    let req = request();
    let outcome: Outcome = Ok(http::Response::builder()
        .status(503)
        .body(Bytes::new())
        .expect("valid response"));
    let mut rng = Rng::new(7);
    // Each iteration decides the first retry of a fresh request against a fresh copy of the
    // budget (setup not timed), so every iteration takes the same path: Retry.
    let setup = || (policy.begin(NOW, &req), budget.clone());
    {
        let (mut state, mut budget) = setup();
        let d = policy.decide(NOW, WALL, &mut state, &mut rng, &outcome, Some(&mut budget));
        assert!(matches!(d, RetryDecision::Retry { .. }), "{d:?}");
    }
    c.bench_function("retry_decide", |b| {
        b.iter_batched_ref(
            setup,
            |(state, budget)| {
                policy.decide(
                    NOW,
                    WALL,
                    state,
                    &mut rng,
                    black_box(&outcome),
                    Some(budget),
                )
            },
            BatchSize::SmallInput,
        );
    });
}

fn redact_request_event(c: &mut Criterion) {
    let req =
        http::Request::get("https://api.example.com/v1/items?page=2&api_key=s3cr3t&sort=name")
            .header("accept", "application/json")
            .header("authorization", "Bearer 0123456789abcdef")
            .header("user-agent", "tether/0.1.0")
            .header("x-request-id", "3f2a9c1e")
            .header("cookie", "sid=abc")
            .header("content-type", "application/json")
            .body(Bytes::new())
            .expect("valid request");
    let redactor = Redactor::new();
    c.bench_function("redact_request_event", |b| {
        b.iter(|| {
            let r = black_box(&req);
            (
                redactor.redact_url(&r.uri().to_string()),
                redactor.redact_headers(r.headers()),
            )
        });
    });
}

criterion_group!(
    benches,
    cache_benches,
    breaker_check,
    metrics_record,
    prometheus_export,
    retry_decide,
    redact_request_event
);
criterion_main!(benches);
