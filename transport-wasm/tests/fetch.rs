//! The browser client for real: `fetch` against the chaos upstream on loopback, under Node and
//! in headless Chromium (the same binary; `make test-wasm` runs it in both). The client is the
//! core's, over `FetchTransport` and `BrowserRuntime` — these tests check that the policies
//! the core decides happen on the wire: retries, the breaker, the cache, `Retry-After`, time
//! limits that abort the fetch, and credential isolation.

#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use common::{hits, in_browser, key, sleep, url};
use tether_core::{
    AttemptNext, Backoff, BreakDuration, BreakerConfig, BreakerEvent, CacheTrace, EngineEvent,
    NamedBreakerEvent, Runtime, Transport, TransportErrorKind,
};
use tether_wasm::{BrowserRuntime, Error, FetchConfig, FetchTransport, HttpClient};
use wasm_bindgen_test::wasm_bindgen_test as test;

const MS: Duration = Duration::from_millis(1);

/// A client with a short constant backoff and no retry budget (each test turns on what it
/// studies).
fn client(
    configure: impl FnOnce(tether_wasm::HttpClientBuilder) -> tether_wasm::HttpClientBuilder,
) -> HttpClient {
    let builder = HttpClient::builder()
        .backoff(Backoff::Constant(20 * MS))
        .retry_budget(None)
        .timeout(Duration::from_secs(5));
    configure(builder).build().expect("a valid configuration")
}

fn elapsed_since(start: tether_core::Timestamp) -> Duration {
    BrowserRuntime::new().now().saturating_duration_since(start)
}

#[test]
async fn a_flaky_upstream_is_retried_until_it_answers() {
    let k = key("flaky");
    let c = client(|b| b.max_retries(3));
    let r = c
        .get(url(&format!("/flaky/{k}?fail=2")))
        .send()
        .await
        .expect("the third attempt succeeds");
    assert_eq!(r.status(), 200);
    let attempts: Vec<_> = r.trace().attempts.iter().map(|a| a.next).collect();
    assert_eq!(attempts.len(), 3, "{:?}", r.trace());
    assert!(matches!(attempts[0], AttemptNext::Retry { .. }));
    assert!(matches!(attempts[2], AttemptNext::Accept));
    let body: serde_json::Value = r.json().expect("JSON");
    assert_eq!(body["attempt"], 3);
    assert_eq!(hits(&k).await, 3, "three attempts reached the server");
}

#[test]
async fn the_breaker_opens_rejects_without_network_then_half_opens_and_closes() {
    let k = key("breaker");
    let service = format!("svc-{k}");
    let c = client(|b| {
        b.max_retries(0).service_breaker(
            service.clone(),
            BreakerConfig {
                consecutive_failures: Some(2),
                break_duration: BreakDuration::Constant(300 * MS),
                ..BreakerConfig::default()
            },
        )
    });
    let transitions = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&transitions);
    c.hooks().add_event_hook(move |event| {
        if let EngineEvent::Breaker(NamedBreakerEvent {
            event: BreakerEvent::StateChanged { from, to, .. },
            ..
        }) = event
        {
            log.borrow_mut()
                .push(format!("{} -> {}", from.as_str(), to.as_str()));
        }
    });
    let failing = url(&format!("/status/503?key={k}"));
    for _ in 0..2 {
        let r = c
            .get(&failing)
            .service(&service)
            .send()
            .await
            .expect("a 503 response");
        assert_eq!(r.status(), 503);
    }
    assert_eq!(c.circuit_breaker_state(&service).state, "OPEN");
    let refused = c.get(&failing).service(&service).send().await.unwrap_err();
    assert!(matches!(refused, Error::CircuitOpen { .. }), "{refused:?}");
    assert_eq!(refused.kind(), "circuit_open");
    assert_eq!(hits(&k).await, 2, "an open breaker sends nothing");

    sleep(350 * MS).await;
    // The break is over: the next call is admitted as the half-open probe. It fails, and the
    // breaker opens again.
    let r = c
        .get(&failing)
        .service(&service)
        .send()
        .await
        .expect("the probe's 503");
    assert_eq!(r.status(), 503);
    assert_eq!(c.circuit_breaker_state(&service).state, "OPEN");
    assert_eq!(hits(&k).await, 3, "exactly one probe went out");

    sleep(350 * MS).await;
    let healthy = url(&format!("/status/200?key={k}"));
    let r = c
        .get(&healthy)
        .service(&service)
        .send()
        .await
        .expect("the probe's 200");
    assert_eq!(r.status(), 200);
    assert_eq!(c.circuit_breaker_state(&service).state, "CLOSED");
    assert_eq!(
        *transitions.borrow(),
        [
            "closed -> open",
            "open -> half_open",
            "half_open -> open",
            "open -> half_open",
            "half_open -> closed"
        ]
    );
}

#[test]
async fn a_cached_response_is_served_without_the_network() {
    let k = key("cache");
    let c = client(|b| b);
    let target = url(&format!("/cache/60?key={k}"));
    let first = c.get(&target).send().await.expect("a response");
    assert!(!first.from_cache());
    let second = c.get(&target).send().await.expect("a response");
    assert!(second.from_cache());
    assert_eq!(second.trace().cache, CacheTrace::Fresh);
    assert!(second.trace().attempts.is_empty(), "nothing was sent");
    assert_eq!(second.bytes(), first.bytes());
    assert_eq!(hits(&k).await, 1);
}

#[test]
async fn retry_after_is_honoured_never_early() {
    let k = key("retry-after");
    let c = client(|b| b.max_retries(2));
    let started = BrowserRuntime::new().now();
    let r = c
        .get(url(&format!("/retry-after/1?key={k}&fail=1")))
        .send()
        .await
        .expect("the retry succeeds");
    assert_eq!(r.status(), 200);
    let waited = elapsed_since(started);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    match r.trace().attempts[0].next {
        AttemptNext::Retry {
            delay, retry_after, ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
            assert!(delay >= Duration::from_secs(1), "{delay:?}");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    assert_eq!(hits(&k).await, 2);
}

#[test]
async fn a_per_attempt_time_limit_aborts_the_fetch() {
    // The transport alone: its own AbortController ends the attempt.
    let k = key("abort");
    let transport = FetchTransport::default();
    let request = http::Request::get(url(&format!("/delay/3000?key={k}")))
        .body(Bytes::new())
        .expect("a valid request");
    let started = BrowserRuntime::new().now();
    let error = transport
        .send(request, Some(150 * MS))
        .await
        .expect_err("the fetch is aborted");
    let took = elapsed_since(started);
    assert_eq!(error.kind, TransportErrorKind::Timeout, "{error}");
    assert!(error.message.starts_with("aborted after 150 ms"), "{error}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");

    // Through the client: a timeout error with the trace, and no retry for a time-out when
    // none are allowed.
    let c = client(|b| b.timeout(200 * MS).max_retries(0));
    let started = BrowserRuntime::new().now();
    let error = c
        .get(url(&format!("/delay/3000?key={k}-client")))
        .send()
        .await
        .expect_err("the attempt times out");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.trace().expect("a trace").attempts.len(), 1);
    assert!(elapsed_since(started) < Duration::from_millis(2500));
}

#[test]
async fn two_credentials_are_never_served_each_others_response() {
    let k = key("auth");
    let c = client(|b| b);
    let target = url(&format!("/auth/{k}?max_age=60"));
    let as_alice = || c.get(&target).bearer_auth("alice-token").send();
    let as_bob = || c.get(&target).bearer_auth("bob-token").send();
    let fingerprint = |r: &tether_wasm::Response| {
        r.json::<serde_json::Value>().expect("JSON")["fingerprint"].clone()
    };
    let alice = as_alice().await.expect("alice");
    let bob = as_bob().await.expect("bob");
    assert!(!bob.from_cache(), "bob is not served alice's entry");
    assert_ne!(fingerprint(&alice), fingerprint(&bob));
    let alice_again = as_alice().await.expect("alice again");
    assert!(alice_again.from_cache(), "alice's own entry serves her");
    assert_eq!(fingerprint(&alice_again), fingerprint(&alice));
    let bob_again = as_bob().await.expect("bob again");
    assert_eq!(fingerprint(&bob_again), fingerprint(&bob));
    assert_eq!(hits(&k).await, 2, "one fetch per credential");
}

#[test]
async fn headers_and_bodies_cross_the_transport_both_ways() {
    let c = client(|b| b);
    let r = c
        .post(url("/echo"))
        .header("x-tether-test", "yes")
        .json(&serde_json::json!({ "n": 1, "s": "é" }))
        .send()
        .await
        .expect("an echo");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let echo: serde_json::Value = r.json().expect("JSON");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["headers"]["x-tether-test"], "yes");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    let sent: serde_json::Value =
        serde_json::from_str(echo["body"].as_str().expect("the body as text")).expect("JSON");
    assert_eq!(sent, serde_json::json!({ "n": 1, "s": "é" }));
    // The browser owns User-Agent: the client's default one is not passed on.
    let ua = echo["headers"]["user-agent"].as_str().unwrap_or_default();
    assert!(!ua.starts_with("tether/"), "{ua}");
}

#[test]
async fn a_body_over_the_limit_is_refused() {
    let transport = FetchTransport::new(FetchConfig {
        max_body_bytes: 32,
        ..FetchConfig::default()
    });
    let request = http::Request::get(url("/json/small"))
        .body(Bytes::new())
        .expect("a valid request");
    let error = transport.send(request, None).await.expect_err("too large");
    assert_eq!(error.kind, TransportErrorKind::BodyTooLarge, "{error}");
    // A streamed (chunked) body is refused as soon as it passes the limit too.
    let request = http::Request::get(url("/slow-body?chunks=4&interval_ms=10&chunk_size=16"))
        .body(Bytes::new())
        .expect("a valid request");
    let error = transport.send(request, None).await.expect_err("too large");
    assert_eq!(error.kind, TransportErrorKind::BodyTooLarge, "{error}");
}

#[test]
async fn a_refused_connection_is_a_typed_transport_error() {
    let transport = FetchTransport::default();
    // A loopback port the test script found free (nothing listens there).
    let request = http::Request::get(format!("{}/x?api_key=SECRET", common::closed()))
        .body(Bytes::new())
        .expect("a valid request");
    let error = transport
        .send(request, Some(Duration::from_secs(5)))
        .await
        .expect_err("refused");
    // Node names the cause; a browser reports every network failure alike, as a reset that
    // is never taken for a request that did not reach the server.
    let expected = if in_browser() {
        TransportErrorKind::Reset
    } else {
        TransportErrorKind::Connect
    };
    assert_eq!(error.kind, expected, "{error}");
    assert!(!error.message.contains("SECRET"), "{error}");
}

#[test]
async fn the_runtime_sleeps_at_least_as_long_as_asked_and_seeds_differ() {
    let rt = BrowserRuntime::new();
    let started = rt.now();
    rt.sleep(30 * MS).await;
    let slept = rt.now().saturating_duration_since(started);
    assert!(slept >= 30 * MS, "slept {slept:?}");
    assert_ne!(rt.seed(), rt.seed());
    let wall = rt.wall().as_unix_secs();
    assert!(wall > 1_700_000_000, "wall clock {wall}");
    // A dropped sleep never fires (its timer is cleared) and a zero sleep is ready at once.
    drop(rt.sleep(5 * MS));
    rt.sleep(Duration::ZERO).await;
}

#[test]
async fn the_background_driver_runs_on_the_event_loop() {
    // stale-while-revalidate: a stale hit starts a background refresh, which the client's
    // spawned driver performs.
    let k = key("swr");
    let c = client(|b| b);
    assert!(c.background_running(), "the client spawned its driver");
    let target = url(&format!("/cache/swr/1/60?key={k}"));
    let first = c.get(&target).send().await.expect("a response");
    let counter =
        |r: &tether_wasm::Response| r.json::<serde_json::Value>().expect("JSON")["counter"].clone();
    sleep(1100 * MS).await;
    let stale = c.get(&target).send().await.expect("a stale hit");
    assert!(stale.from_cache());
    assert_eq!(counter(&stale), counter(&first), "served stale");
    // The refresh runs in the background: wait (a bounded while) until its answer is stored.
    let mut refreshed = None;
    for _ in 0..150 {
        sleep(20 * MS).await;
        let r = c.get(&target).send().await.expect("a hit");
        assert!(r.from_cache(), "every call here is answered from the cache");
        if counter(&r) != counter(&first) {
            refreshed = Some(r);
            break;
        }
    }
    assert!(refreshed.is_some(), "the background refresh was stored");
    assert_eq!(
        hits(&k).await,
        2,
        "one refresh reached the server, nothing else"
    );
    c.close();
}
