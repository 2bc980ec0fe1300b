//! Criterion benchmarks of the whole engine.
//!
//! Whole-engine decisions: the miss pipeline (begin → permit → on_response → done) and a
//! cache hit through `Engine::begin`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tether_core::{Decision, Engine, EngineConfig, Next, Timestamp, WallClock};

fn request(uri: &str) -> tether_core::Request {
    http::Request::get(uri)
        .header("accept", "application/json")
        .header("authorization", "Bearer token-123")
        .body(Bytes::new())
        .expect("valid")
}

fn response(cache_control: &str) -> tether_core::Response {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", cache_control)
        .body(Bytes::from_static(b"{\"items\":[1,2,3]}"))
        .expect("valid")
}

fn engine() -> Engine {
    // Alerts evaluate on their own timer; keep the pass out of the measured loop.
    let c = EngineConfig {
        alert_interval: None,
        housekeeping_interval: Duration::from_hours(1),
        ..EngineConfig::default()
    };
    Engine::new(c, 1).expect("valid config")
}

fn miss_pipeline(c: &mut Criterion) {
    let mut e = engine();
    let req = request("https://api.example.com/v1/items?b=2&a=1");
    let resp = response("no-store");
    let wall = WallClock::from_unix_secs(1_800_000_000);
    let mut t = 1u64;
    c.bench_function("engine/miss_pipeline", |b| {
        b.iter(|| {
            t += 1;
            let now = Timestamp::from_micros(t);
            let Ok(Decision::Send(permit)) = e.begin(now, wall, black_box(&req), Some("catalog"))
            else {
                panic!("a no-store miss sends")
            };
            match e
                .on_response(now, wall, permit, &req, Ok(resp.clone()))
                .expect("a live permit")
            {
                Next::Done(f) => black_box(f),
                Next::RetryAt { .. } => panic!("200 is final"),
            };
            while e.poll_output().is_some() {}
        });
    });
}

fn cache_hit(c: &mut Criterion) {
    let mut e = engine();
    let req = request("https://api.example.com/v1/items?b=2&a=1");
    let wall = WallClock::from_unix_secs(1_800_000_000);
    let now = Timestamp::from_secs(1);
    let Ok(Decision::Send(permit)) = e.begin(now, wall, &req, Some("catalog")) else {
        panic!("first request misses")
    };
    let _ = e.on_response(now, wall, permit, &req, Ok(response("max-age=3600")));
    let mut t = 1_000_000u64;
    c.bench_function("engine/cache_hit", |b| {
        b.iter(|| {
            t += 1;
            let now = Timestamp::from_micros(t);
            match e.begin(now, wall, black_box(&req), Some("catalog")) {
                Ok(Decision::Done(f)) => black_box(f),
                _ => panic!("fresh entry hits"),
            };
        });
    });
}

criterion_group!(benches, miss_pipeline, cache_hit);
criterion_main!(benches);
