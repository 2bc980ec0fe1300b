//! The browser client inside a dedicated Web Worker (headless Chromium): no `window`, no
//! `document` — `fetch`, `setTimeout`, `performance` and `crypto` are the worker's own.

#![cfg(target_arch = "wasm32")]

mod common;

use std::time::Duration;

use common::{hits, key, url};
use tether_core::{Runtime, TransportErrorKind};
use tether_wasm::{BrowserRuntime, HttpClient};
use wasm_bindgen_test::{wasm_bindgen_test as test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[test]
fn this_is_a_worker() {
    let global = js_sys::global();
    let has = |name: &str| js_sys::Reflect::has(&global, &name.into()).unwrap_or(false);
    assert!(!has("document") && !has("window"), "no window in a worker");
    assert!(
        has("WorkerGlobalScope") && has("importScripts"),
        "a worker's global scope"
    );
}

#[test]
async fn the_client_fetches_caches_and_times_out_in_a_worker() {
    let k = key("worker");
    let client = HttpClient::builder()
        .timeout(Duration::from_millis(200))
        .max_retries(0)
        .build()
        .expect("a valid configuration");
    let target = url(&format!("/cache/60?key={k}"));
    let first = client.get(&target).send().await.expect("a response");
    assert_eq!(first.status(), 200);
    let second = client.get(&target).send().await.expect("a response");
    assert!(second.from_cache());
    assert_eq!(hits(&k).await, 1);

    let rt = BrowserRuntime::new();
    let started = rt.now();
    let error = client
        .get(url(&format!("/delay/3000?key={k}-slow")))
        .send()
        .await
        .expect_err("the attempt times out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(rt.now().saturating_duration_since(started) < Duration::from_millis(2500));
    assert_ne!(rt.seed(), rt.seed());
    // A transport failure keeps its class in a worker too.
    let closed = client
        .get(format!("{}/x", common::closed()))
        .send()
        .await
        .expect_err("nothing listens there");
    assert_eq!(
        error_kind(&closed),
        Some(TransportErrorKind::Reset),
        "{closed:?}"
    );
}

fn error_kind(e: &tether_wasm::Error) -> Option<TransportErrorKind> {
    match e {
        tether_wasm::Error::Transport { kind, .. } => Some(*kind),
        tether_wasm::Error::Connect { .. } => Some(TransportErrorKind::Connect),
        _ => None,
    }
}
