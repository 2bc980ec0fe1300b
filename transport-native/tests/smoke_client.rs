//! Smoke test: the core `Client` over the native transport against the chaos upstream.
#![allow(clippy::disallowed_methods)]

use tether_chaos::{ChaosOptions, spawn_background};
use tether_core::{Client, EngineConfig};
use tether_native::{NativeConfig, TokioRuntime, UreqTransport};

fn get(url: &str) -> tether_core::Request {
    http::Request::get(url).body(bytes::Bytes::new()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_cache_hit() {
    let chaos = spawn_background(ChaosOptions::default());
    let mut cfg = EngineConfig::default();
    cfg.retry.backoff = tether_core::Backoff::Constant(std::time::Duration::from_millis(10));
    let client = Client::new(
        cfg,
        UreqTransport::new(NativeConfig::default()),
        TokioRuntime::new(),
    )
    .unwrap();
    let r = client
        .send(get(&chaos.url("/flaky/smoke1?fail=2")), None)
        .await
        .unwrap();
    assert_eq!(r.response.status(), 200);
    assert_eq!(r.trace.attempts.len(), 3, "{}", r.trace.summary());
    let a = client
        .send(get(&chaos.url("/cache/60?key=smoke2")), None)
        .await
        .unwrap();
    let b = client
        .send(get(&chaos.url("/cache/60?key=smoke2")), None)
        .await
        .unwrap();
    assert!(!a.from_cache);
    assert!(b.from_cache, "{}", b.trace.summary());
    assert_eq!(a.response.body(), b.response.body());
    let count: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(
        client
            .send(get(&chaos.url("/count/smoke2")), None)
            .await
            .unwrap()
            .response
            .body(),
    ))
    .unwrap();
    assert_eq!(count["hits"], 1, "{count}");
}
