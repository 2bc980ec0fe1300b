//! Helpers shared by the integration tests: a chaos upstream per test, its counters, and
//! clients with short timings.
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tether_chaos::{ChaosHandle, ChaosOptions, spawn_background};
use tether_core::Transport as _;
use tether_native::{
    Backoff, HttpClient, HttpClientBuilder, HyperTransport, NativeConfig, UreqTransport,
};

/// A chaos upstream for one test (stopped when dropped).
pub fn chaos() -> ChaosHandle {
    spawn_background(ChaosOptions::default())
}

/// A builder with fast retries (10 ms constant backoff), no retry budget and a 5 s attempt
/// limit, so that tests stay short.
pub fn fast() -> HttpClientBuilder {
    HttpClient::builder()
        .timeout(Duration::from_secs(5))
        .backoff(Backoff::Constant(Duration::from_millis(10)))
        .retry_budget(None)
}

/// A transport keeping `pool_size` connections (and running as many attempts at once).
pub fn pooled(pool_size: usize) -> HyperTransport {
    HyperTransport::new(NativeConfig {
        pool_size,
        ..NativeConfig::default()
    })
}

/// GETs a control route (`/count/...`, `/admin/...`) with a bare transport: no cache, no
/// retries, no breaker.
pub async fn control(server: &ChaosHandle, path: &str) -> Value {
    let request = http::Request::get(server.url(path))
        .body(Bytes::new())
        .unwrap();
    let response = UreqTransport::default()
        .send(request, Some(Duration::from_secs(5)))
        .await
        .expect("control route answers");
    serde_json::from_slice(response.body()).expect("control route answers JSON")
}

/// Requests that reached the upstream carrying `key`.
pub async fn hits(server: &ChaosHandle, key: &str) -> u64 {
    control(server, &format!("/count/{key}")).await["hits"]
        .as_u64()
        .unwrap()
}

/// `(connections, requests)` the upstream has accepted so far.
pub async fn totals(server: &ChaosHandle) -> (u64, u64) {
    let v = control(server, "/count").await;
    (
        v["connections"].as_u64().unwrap(),
        v["requests"].as_u64().unwrap(),
    )
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
