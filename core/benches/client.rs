//! Criterion benchmarks of the client layer: `HttpClient` over a transport that answers at
//! once, so what is timed is the engine plus the driver (request building, default headers,
//! locking, the attempt race, the response) and nothing of any I/O.
//!
//! `client/uncached` minus `engine/miss_pipeline` (benches/engine.rs) is what the driver adds
//! to the engine; the native frontend's runtime (tokio timers, task wake-ups) comes on top and
//! is measured by `make bench-native`.

use std::future::{Pending, Ready, pending, ready};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::executor::block_on;
use tether_core::client::{HttpClient, HttpClientBuilder};
use tether_core::{
    EngineConfig, Outcome, Request, Response, Runtime, Spawn, Timestamp, Transport, WallClock,
};

/// Answers every attempt at once with a clone of one response.
struct Instant(Response);

impl Transport for Instant {
    type Send = Ready<Outcome>;

    fn send(&self, _request: Request, _timeout: Option<Duration>) -> Self::Send {
        ready(Ok(self.0.clone()))
    }
}

/// A clock that moves 1 µs per reading, timers that never fire (the transport always wins),
/// no background work.
#[derive(Default)]
struct Clock(AtomicU64);

impl Runtime for Clock {
    type Sleep = Pending<()>;

    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.fetch_add(1, Ordering::Relaxed))
    }

    fn wall(&self) -> WallClock {
        WallClock::from_unix_secs(1_800_000_000)
    }

    fn sleep(&self, _duration: Duration) -> Self::Sleep {
        pending()
    }

    fn seed(&self) -> u64 {
        7
    }
}

impl<F> Spawn<F> for Clock {
    fn spawn(&self, _task: F) -> bool {
        false
    }
}

fn response(cache_control: &'static str) -> Response {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", cache_control)
        .body(Bytes::from_static(b"{\"items\":[1,2,3]}"))
        .expect("valid")
}

fn client(cache_control: &'static str) -> HttpClient<Instant, Clock> {
    // As the engine benches: alerts and housekeeping stay out of the measured loop.
    HttpClientBuilder::new(Instant(response(cache_control)), Clock::default())
        .engine_config(EngineConfig {
            alert_interval: None,
            housekeeping_interval: Duration::from_hours(1),
            ..EngineConfig::default()
        })
        .build()
        .expect("valid config")
}

const URL: &str = "https://api.example.com/v1/items?b=2&a=1";

fn uncached(c: &mut Criterion) {
    let client = client("no-store");
    c.bench_function("client/uncached", |b| {
        b.iter(|| {
            let r = block_on(client.get(black_box(URL)).send()).expect("200");
            black_box(r);
        });
    });
    let request = http::Request::get(URL)
        .body(Bytes::new())
        .expect("valid request");
    c.bench_function("client/uncached_execute", |b| {
        b.iter(|| {
            let mut copy = http::Request::new(Bytes::new());
            *copy.uri_mut() = request.uri().clone();
            let r = block_on(client.execute(black_box(copy), None)).expect("200");
            black_box(r);
        });
    });
}

fn cache_hit(c: &mut Criterion) {
    let client = client("max-age=3600");
    block_on(client.get(URL).send()).expect("first request fills the cache");
    c.bench_function("client/cache_hit", |b| {
        b.iter(|| {
            let r = block_on(client.get(black_box(URL)).send()).expect("hit");
            assert!(r.from_cache());
            black_box(r);
        });
    });
}

criterion_group!(benches, uncached, cache_hit);
criterion_main!(benches);
