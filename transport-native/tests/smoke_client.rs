//! Smoke test: the core client layer over the native pair, built generically (core's own
//! `SharedHooks`, no tracing), with a ready-made `http::Request`.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tether_chaos::{ChaosOptions, spawn_background};
use tether_core::Backoff;
use tether_core::client::{HttpClient, HttpClientBuilder};
use tether_native::{NativeConfig, TokioRuntime, UreqTransport};

fn get(url: &str) -> tether_core::Request {
    http::Request::get(url).body(bytes::Bytes::new()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_cache_hit() {
    let chaos = spawn_background(ChaosOptions::default());
    let client: HttpClient<UreqTransport, TokioRuntime> = HttpClientBuilder::new(
        UreqTransport::new(NativeConfig::default()),
        TokioRuntime::new(),
    )
    .backoff(Backoff::Constant(Duration::from_millis(10)))
    .build()
    .unwrap();
    let r = client
        .execute(get(&chaos.url("/flaky/smoke1?fail=2")), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.trace().attempts.len(), 3, "{}", r.trace().summary());
    let a = client
        .execute(get(&chaos.url("/cache/60?key=smoke2")), Some("catalog"))
        .await
        .unwrap();
    let b = client
        .execute(get(&chaos.url("/cache/60?key=smoke2")), Some("catalog"))
        .await
        .unwrap();
    assert!(!a.from_cache());
    assert!(b.from_cache(), "{}", b.trace().summary());
    assert_eq!(b.service(), "catalog");
    assert_eq!(a.bytes(), b.bytes());
    let count: serde_json::Value = client
        .execute(get(&chaos.url("/count/smoke2")), None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count["hits"], 1, "{count}");
}
