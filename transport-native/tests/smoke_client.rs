//! Smoke test: the core client layer over each native pair — the ureq transport on tokio's
//! blocking pool with `TokioRuntime`, and the blocking ureq transport with `BlockingRuntime`
//! run by `block_on` — built generically (core's own `SharedHooks`, no tracing), with
//! ready-made `http::Request`s.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tether_chaos::{ChaosOptions, spawn_background};
use tether_core::Backoff;
use tether_core::client::{HttpClient, HttpClientBuilder};
use tether_core::{Runtime, Spawn, Transport};
use tether_native::blocking::{self, BlockingRuntime, block_on};
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
    smoke(&client, &chaos, "a").await;
}

#[test]
fn retry_then_cache_hit_blocking() {
    let chaos = spawn_background(ChaosOptions::default());
    let client: HttpClient<blocking::UreqTransport, BlockingRuntime> = HttpClientBuilder::new(
        blocking::UreqTransport::new(NativeConfig::default()),
        BlockingRuntime::new(),
    )
    .backoff(Backoff::Constant(Duration::from_millis(10)))
    .build()
    .unwrap();
    block_on(smoke(&client, &chaos, "b"));
}

/// A retried request, then a cache hit, through `client`.
async fn smoke<T, R>(client: &HttpClient<T, R>, chaos: &tether_chaos::ChaosHandle, run: &str)
where
    T: Transport,
    R: Runtime + Spawn<tether_core::client::Background<T, R, tether_core::client::SharedHooks>>,
{
    let r = client
        .execute(get(&chaos.url(&format!("/flaky/smoke1{run}?fail=2"))), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.trace().attempts.len(), 3, "{}", r.trace().summary());
    let url = chaos.url(&format!("/cache/60?key=smoke2{run}"));
    let a = client.execute(get(&url), Some("catalog")).await.unwrap();
    let b = client.execute(get(&url), Some("catalog")).await.unwrap();
    assert!(!a.from_cache());
    assert!(b.from_cache(), "{}", b.trace().summary());
    assert_eq!(b.service(), "catalog");
    assert_eq!(a.bytes(), b.bytes());
    let count: serde_json::Value = client
        .execute(get(&chaos.url(&format!("/count/smoke2{run}"))), None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count["hits"], 1, "{count}");
}
