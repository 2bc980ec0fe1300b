//! What every wasm test against the chaos upstream needs: its URL, unique keys, hit counts.
//!
//! `make test-wasm` (scripts/wasm-test.sh) starts `tether-chaos --cors` on a free loopback
//! port and builds these tests with `TETHER_CHAOS_URL` set to it; the same binaries then run
//! under Node and in headless Chromium.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part"
)]

use std::time::Duration;

use bytes::Bytes;
use tether_core::{Runtime, Transport};
use tether_wasm::{BrowserRuntime, FetchTransport};

/// The chaos upstream's base URL, e.g. `http://127.0.0.1:41234`.
pub fn chaos() -> &'static str {
    env!(
        "TETHER_CHAOS_URL",
        "the chaos upstream's URL is compiled in: build these tests with `make test-wasm`"
    )
}

/// A loopback URL on which nothing listens (`TETHER_CLOSED_URL`, found free by the script).
pub fn closed() -> &'static str {
    env!(
        "TETHER_CLOSED_URL",
        "a closed port is compiled in: build these tests with `make test-wasm`"
    )
}

/// `chaos() + path`.
pub fn url(path: &str) -> String {
    format!("{}{path}", chaos())
}

/// A key no other run has used (the chaos server's counters are per key).
pub fn key(name: &str) -> String {
    format!("{name}-{:x}", BrowserRuntime::new().seed())
}

/// Sleeps on the browser runtime.
pub async fn sleep(d: Duration) {
    BrowserRuntime::new().sleep(d).await;
}

/// How many counted requests the chaos server has seen for `key` (read past the client).
pub async fn hits(key: &str) -> u64 {
    let request = http::Request::get(url(&format!("/count/{key}")))
        .body(Bytes::new())
        .expect("a valid request");
    let response = FetchTransport::default()
        .send(request, Some(Duration::from_secs(5)))
        .await
        .expect("the chaos server answers /count");
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON");
    body["hits"].as_u64().expect("a hit count")
}

/// Whether the tests run in a browser (Chromium) rather than Node.
pub fn in_browser() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &"document".into()).unwrap_or(false)
}
