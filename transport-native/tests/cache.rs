//! The response cache against the chaos upstream: hits send nothing, 304 revalidation,
//! stale-if-error while the upstream is down, single-flight, and credential partitioning.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{chaos, control, fast, hits, totals};
use serde_json::Value;
use tether_core::CacheTrace;

#[tokio::test]
async fn a_cache_hit_sends_nothing() {
    let server = chaos();
    let client = fast().build().unwrap();
    let url = server.url("/cache/60?key=hit1");
    let first = client.get(&url).send().await.unwrap();
    assert!(!first.from_cache());
    assert!(matches!(
        first.trace().cache,
        CacheTrace::Miss { stored: true, .. }
    ));
    let (_, requests_before) = totals(&server).await;
    let second = client.get(&url).send().await.unwrap();
    let (_, requests_after) = totals(&server).await;
    assert!(second.from_cache());
    assert_eq!(second.trace().cache, CacheTrace::Fresh);
    assert!(second.trace().attempts.is_empty());
    assert_eq!(second.bytes(), first.bytes());
    assert!(second.headers().contains_key("age"));
    assert_eq!(
        requests_after,
        requests_before + 1,
        "only the /count call itself reached the upstream"
    );
    assert_eq!(hits(&server, "hit1").await, 1);
    let m = client.metrics();
    assert_eq!(m.cache_stats.hits, 1);
    assert_eq!(m.total_requests, 2);
}

#[tokio::test]
async fn revalidates_with_304() {
    let server = chaos();
    let client = fast().build().unwrap();
    let url = server.url("/etag/reval?max_age=0");
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(!first.from_cache());
    let body: Value = first.json().unwrap();
    assert_eq!(body["version"], 1);

    let second = client.get(&url).send().await.unwrap();
    assert_eq!(second.status(), 200, "a 304 is merged, the caller sees 200");
    assert!(second.from_cache());
    assert_eq!(second.trace().cache, CacheTrace::Revalidated);
    assert_eq!(
        second.trace().attempts.len(),
        1,
        "{}",
        second.trace().summary()
    );
    assert_eq!(second.bytes(), first.bytes());
    assert_eq!(hits(&server, "reval").await, 2);

    // A new version upstream: the conditional request gets a 200 and the entry is replaced.
    control(&server, "/admin/bump/reval").await;
    let third = client.get(&url).send().await.unwrap();
    assert!(!third.from_cache());
    assert_eq!(third.json::<Value>().unwrap()["version"], 2);
    assert_eq!(client.metrics().cache_stats.revalidations, 1);
}

#[tokio::test]
async fn serves_stale_if_error_while_the_upstream_is_down() {
    let server = chaos();
    let client = fast().max_retries(0).build().unwrap();
    // max-age=1, stale-if-error=30
    let url = server.url("/cache/sie/1/30?key=sie");
    let first = client.get(&url).send().await.unwrap();
    let counter = first.json::<Value>().unwrap()["counter"].clone();
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // The upstream answers 503: the stale copy is served.
    control(&server, "/admin/down/sie?on=1").await;
    let down = client.get(&url).send().await.unwrap();
    assert_eq!(down.status(), 200);
    assert!(down.from_cache());
    assert_eq!(
        down.trace().cache,
        CacheTrace::StaleIfError,
        "{}",
        down.trace().summary()
    );
    assert_eq!(down.json::<Value>().unwrap()["counter"], counter);
    assert_eq!(hits(&server, "sie").await, 2);

    // The upstream is gone altogether (connection refused): still the stale copy.
    server.shutdown();
    let gone = client.get(&url).send().await.unwrap();
    assert_eq!(gone.status(), 200);
    assert_eq!(
        gone.trace().cache,
        CacheTrace::StaleIfError,
        "{}",
        gone.trace().summary()
    );
    assert_eq!(gone.json::<Value>().unwrap()["counter"], counter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_identical_gets_make_one_upstream_call() {
    let server = chaos();
    let client = fast().build().unwrap();
    // A cacheable slow route: the leader is still in flight when the 99 others arrive.
    let calls = (0..100).map(|_| {
        client
            .get(server.url("/delay/300"))
            .query(&[("key", "sf100"), ("cache_control", "max-age=60")])
            .send()
    });
    let results = futures::future::join_all(calls).await;
    let mut coalesced = 0;
    for r in &results {
        let r = r.as_ref().unwrap();
        assert_eq!(r.status(), 200);
        if r.trace().cache == CacheTrace::Coalesced {
            coalesced += 1;
            assert!(r.from_cache());
        }
    }
    assert_eq!(coalesced, 99);
    assert_eq!(hits(&server, "sf100").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_share_a_cache_entry() {
    let server = chaos();
    let client = fast().build().unwrap();
    let url = server.url("/auth/creds?max_age=60");
    let fetch = |token: &'static str| {
        client
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .send()
    };
    // Concurrently: two credentials are two flights, not one.
    let (a, b) = tokio::join!(fetch("alice"), fetch("bob"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let fa = a.json::<Value>().unwrap()["fingerprint"].clone();
    let fb = b.json::<Value>().unwrap()["fingerprint"].clone();
    assert_ne!(fa, fb);
    assert_eq!(hits(&server, "creds").await, 2);
    // Then each is served its own entry, never the other's.
    for _ in 0..3 {
        let (a, b) = tokio::join!(fetch("alice"), fetch("bob"));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.from_cache() && b.from_cache());
        assert_eq!(a.json::<Value>().unwrap()["fingerprint"], fa);
        assert_eq!(b.json::<Value>().unwrap()["fingerprint"], fb);
    }
    assert_eq!(hits(&server, "creds").await, 2);
    // No credential at all is a third partition (and a 401, not cached).
    let anon = client.get(&url).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(hits(&server, "creds").await, 3);
}

#[tokio::test]
async fn stale_while_revalidate_refreshes_in_the_background() {
    let server = chaos();
    let client = fast().build().unwrap();
    // max-age=1, stale-while-revalidate=30
    let url = server.url("/cache/swr/1/30?key=swr");
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.json::<Value>().unwrap()["counter"], 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let stale = client.get(&url).send().await.unwrap();
    assert_eq!(
        stale.trace().cache,
        CacheTrace::Stale { revalidating: true }
    );
    assert_eq!(stale.json::<Value>().unwrap()["counter"], 1);
    // The client's background driver refreshes the entry.
    let mut refreshed = false;
    // Generous: the refresh runs on the background task, which a loaded machine may delay.
    for _ in 0..250 {
        if hits(&server, "swr").await == 2 {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refreshed, "no background refresh reached the upstream");
    // The upstream counted it on arrival; wait for the refresh to land in the cache.
    for _ in 0..250 {
        if client.engine_snapshot().in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fresh = client.get(&url).send().await.unwrap();
    assert_eq!(fresh.trace().cache, CacheTrace::Fresh);
    assert_eq!(fresh.json::<Value>().unwrap()["counter"], 2);
    assert_eq!(hits(&server, "swr").await, 2);
}

#[tokio::test]
async fn an_open_service_breaker_stops_background_refreshes() {
    let server = chaos();
    let client = fast().build().unwrap();
    let url = server.url("/cache/swr/1/30?key=swr-open");
    client.get(&url).service("swrsvc").send().await.unwrap();
    // Open the service's breaker by hand.
    client.with_engine(|e, now, _| e.isolate_breaker(now, "swrsvc"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let stale = client.get(&url).service("swrsvc").send().await.unwrap();
    assert!(stale.from_cache());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hits(&server, "swr-open").await,
        1,
        "a refresh went out although the service's breaker is open"
    );
}
