//! A populated [`ExportSnapshot`] for tests, docs and external validators (`promtool`).

use std::time::Duration;

use super::{BreakerInfo, CacheInfo, ExportSnapshot, HealthInfo, NetworkIo, SystemSample};
use crate::WallClock;
use crate::metrics::{AttemptRecord, CacheOutcome, FailureCategory, Metrics, RequestRecord};

/// A snapshot with three services (`alpha`, `beta-svc` and the hostile name `a"b\c`), retries,
/// failures of several categories, cache outcomes, breaker states, health and a system sample.
/// Deterministic: timestamp `2026-11-26T18:40:58.167771Z`.
#[expect(
    clippy::too_many_lines,
    reason = "one literal sample, read top to bottom; split up it would hide what it contains"
)]
pub fn sample_snapshot() -> ExportSnapshot {
    let wall = WallClock::from_unix_micros(1_795_718_458_167_771);
    let ms = Duration::from_millis;
    let mut m = Metrics::default();
    let done = |success: bool, latency: Duration, failure, retries, cache| RequestRecord {
        success,
        latency,
        failure,
        retries,
        cache,
        wall,
    };

    // alpha: 4 requests, one retried 503 -> 200, one cache hit, latencies 3 ms .. 2.2 s.
    for (lat, cache) in [
        (3, CacheOutcome::Hit),
        (40, CacheOutcome::Miss),
        (120, CacheOutcome::Miss),
    ] {
        m.on_request_start("alpha");
        if cache != CacheOutcome::Hit {
            m.on_attempt("alpha", &AttemptRecord::success(ms(lat), Some(200)));
        }
        m.on_request_end("alpha", &done(true, ms(lat), None, 0, cache));
    }
    m.on_request_start("alpha");
    m.on_attempt(
        "alpha",
        &AttemptRecord::failure(FailureCategory::Status5xx, ms(30), Some(503)),
    );
    m.on_attempt(
        "alpha",
        &AttemptRecord::failure(FailureCategory::Status5xx, ms(30), Some(503)),
    );
    m.on_attempt("alpha", &AttemptRecord::success(ms(25), Some(200)));
    m.on_request_end(
        "alpha",
        &done(true, ms(2_200), None, 2, CacheOutcome::Revalidated),
    );

    // beta-svc: failing; breaker opened, then rejects.
    for _ in 0..5 {
        m.on_request_start("beta-svc");
        m.on_attempt(
            "beta-svc",
            &AttemptRecord::failure(FailureCategory::Status5xx, ms(8), Some(500)),
        );
        m.on_request_end(
            "beta-svc",
            &done(
                false,
                ms(8),
                Some(FailureCategory::Status5xx),
                0,
                CacheOutcome::Bypass,
            ),
        );
    }
    m.on_request_start("beta-svc");
    m.on_attempt(
        "beta-svc",
        &AttemptRecord::failure(FailureCategory::Timeout, ms(5_000), None)
            .with_error_name("ReadTimeout"),
    );
    m.on_request_end(
        "beta-svc",
        &done(
            false,
            ms(5_000),
            Some(FailureCategory::Timeout),
            0,
            CacheOutcome::Bypass,
        ),
    );
    m.on_breaker_transition("beta-svc", "open");
    m.on_request_end(
        "beta-svc",
        &done(
            false,
            Duration::ZERO,
            Some(FailureCategory::BreakerRejected),
            0,
            CacheOutcome::Bypass,
        ),
    );
    m.on_request_start("beta-svc"); // still in flight

    // a"b\c: one slow success, stale served.
    let nasty = "a\"b\\c";
    m.on_request_start(nasty);
    m.on_attempt(nasty, &AttemptRecord::success(ms(45_000), Some(200)));
    m.on_request_end(nasty, &done(true, ms(45_000), None, 0, CacheOutcome::Stale));
    m.on_breaker_transition(nasty, "open");
    m.on_breaker_transition(nasty, "half_open");

    ExportSnapshot {
        timestamp: wall,
        system: Some(SystemSample {
            cpu_percent: 12.5,
            memory_percent: 48.25,
            disk_usage_percent: 71.0,
            network_io: Some(NetworkIo {
                bytes_sent: 1_234_567,
                bytes_recv: 7_654_321,
                packets_sent: 1_000,
                packets_recv: 2_000,
            }),
            process_count: 312,
        }),
        metrics: m.snapshot(wall),
        breakers: vec![
            BreakerInfo {
                service: "alpha".into(),
                state: "closed".into(),
                failure_count: 0,
            },
            BreakerInfo {
                service: "beta-svc".into(),
                state: "open".into(),
                failure_count: 5,
            },
            BreakerInfo {
                service: nasty.into(),
                state: "half_open".into(),
                failure_count: 1,
            },
        ],
        cache: Some(CacheInfo {
            hits: 1,
            misses: 2,
            entries: 2,
            bytes: 4_096,
            evictions: 0,
        }),
        health: vec![
            HealthInfo {
                service: "alpha".into(),
                status: "healthy".into(),
                response_time_seconds: Some(0.012),
            },
            HealthInfo {
                service: "beta-svc".into(),
                status: "unhealthy".into(),
                response_time_seconds: None,
            },
            HealthInfo {
                service: nasty.into(),
                status: "degraded".into(),
                response_time_seconds: Some(1.5),
            },
        ],
        alerts_firing: 2,
    }
}
