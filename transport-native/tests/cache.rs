//! The response cache against the chaos upstream: hits send nothing, 304 revalidation,
//! stale-if-error while the upstream is down, single-flight, and credential partitioning.
//! Every test runs against the async and the blocking API.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::chaos;
use serde_json::Value;
use tether_core::CacheTrace;

api_tests! {

    fn a_cache_hit_sends_nothing() {
        let server = chaos();
        let client = fast().build().unwrap();
        let url = server.url("/cache/60?key=hit1");
        let first = wait!(client.get(&url).send()).unwrap();
        assert!(!first.from_cache());
        assert!(matches!(
            first.trace().cache,
            CacheTrace::Miss { stored: true, .. }
        ));
        let (_, requests_before) = wait!(totals(&server));
        let second = wait!(client.get(&url).send()).unwrap();
        let (_, requests_after) = wait!(totals(&server));
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
        assert_eq!(wait!(hits(&server, "hit1")), 1);
        let m = client.metrics();
        assert_eq!(m.cache_stats.hits, 1);
        assert_eq!(m.total_requests, 2);
    }

    fn revalidates_with_304() {
        let server = chaos();
        let client = fast().build().unwrap();
        let url = server.url("/etag/reval?max_age=0");
        let first = wait!(client.get(&url).send()).unwrap();
        assert_eq!(first.status(), 200);
        assert!(!first.from_cache());
        let body: Value = first.json().unwrap();
        assert_eq!(body["version"], 1);

        let second = wait!(client.get(&url).send()).unwrap();
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
        assert_eq!(wait!(hits(&server, "reval")), 2);

        // A new version upstream: the conditional request gets a 200 and the entry is replaced.
        wait!(control(&server, "/admin/bump/reval"));
        let third = wait!(client.get(&url).send()).unwrap();
        assert!(!third.from_cache());
        assert_eq!(third.json::<Value>().unwrap()["version"], 2);
        assert_eq!(client.metrics().cache_stats.revalidations, 1);
    }

    fn serves_stale_if_error_while_the_upstream_is_down() {
        let server = chaos();
        let client = fast().max_retries(0).build().unwrap();
        // max-age=1, stale-if-error=30
        let url = server.url("/cache/sie/1/30?key=sie");
        let first = wait!(client.get(&url).send()).unwrap();
        let counter = first.json::<Value>().unwrap()["counter"].clone();
        wait!(pause(Duration::from_millis(1_100)));

        // The upstream answers 503: the stale copy is served.
        wait!(control(&server, "/admin/down/sie?on=1"));
        let down = wait!(client.get(&url).send()).unwrap();
        assert_eq!(down.status(), 200);
        assert!(down.from_cache());
        assert_eq!(
            down.trace().cache,
            CacheTrace::StaleIfError,
            "{}",
            down.trace().summary()
        );
        assert_eq!(down.json::<Value>().unwrap()["counter"], counter);
        assert_eq!(wait!(hits(&server, "sie")), 2);

        // The upstream is gone altogether (connection refused): still the stale copy.
        server.shutdown();
        let gone = wait!(client.get(&url).send()).unwrap();
        assert_eq!(gone.status(), 200);
        assert_eq!(
            gone.trace().cache,
            CacheTrace::StaleIfError,
            "{}",
            gone.trace().summary()
        );
        assert_eq!(gone.json::<Value>().unwrap()["counter"], counter);
    }

    fn hundred_identical_gets_make_one_upstream_call() {
        let server = chaos();
        let client = fast().build().unwrap();
        // A cacheable slow route: the leader is still in flight when the 99 others arrive.
        let results = all!(100, [client, server], |_i| wait!(client
            .get(server.url("/delay/300"))
            .query(&[("key", "sf100"), ("cache_control", "max-age=60")])
            .send()));
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
        assert_eq!(wait!(hits(&server, "sf100")), 1);
    }

    fn credentials_never_share_a_cache_entry() {
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
        let (a, b) = pair!(wait!(fetch("alice")), wait!(fetch("bob")));
        let (a, b) = (a.unwrap(), b.unwrap());
        let fa = a.json::<Value>().unwrap()["fingerprint"].clone();
        let fb = b.json::<Value>().unwrap()["fingerprint"].clone();
        assert_ne!(fa, fb);
        assert_eq!(wait!(hits(&server, "creds")), 2);
        // Then each is served its own entry, never the other's.
        for _ in 0..3 {
            let (a, b) = pair!(wait!(fetch("alice")), wait!(fetch("bob")));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(a.from_cache() && b.from_cache());
            assert_eq!(a.json::<Value>().unwrap()["fingerprint"], fa);
            assert_eq!(b.json::<Value>().unwrap()["fingerprint"], fb);
        }
        assert_eq!(wait!(hits(&server, "creds")), 2);
        // No credential at all is a third partition (and a 401, not cached).
        let anon = wait!(client.get(&url).send()).unwrap();
        assert_eq!(anon.status(), 401);
        assert_eq!(wait!(hits(&server, "creds")), 3);
    }

    fn stale_while_revalidate_refreshes_in_the_background() {
        let server = chaos();
        let client = fast().build().unwrap();
        // max-age=1, stale-while-revalidate=30
        let url = server.url("/cache/swr/1/30?key=swr");
        let first = wait!(client.get(&url).send()).unwrap();
        assert_eq!(first.json::<Value>().unwrap()["counter"], 1);
        wait!(pause(Duration::from_millis(1_100)));

        let stale = wait!(client.get(&url).send()).unwrap();
        assert_eq!(
            stale.trace().cache,
            CacheTrace::Stale { revalidating: true }
        );
        assert_eq!(stale.json::<Value>().unwrap()["counter"], 1);
        // The client's background driver refreshes the entry.
        let mut refreshed = false;
        // Generous: the refresh runs on the background task, which a loaded machine may delay.
        for _ in 0..250 {
            if wait!(hits(&server, "swr")) == 2 {
                refreshed = true;
                break;
            }
            wait!(pause(Duration::from_millis(20)));
        }
        assert!(refreshed, "no background refresh reached the upstream");
        // The upstream counted it on arrival; wait for the refresh to land in the cache.
        for _ in 0..250 {
            if client.engine_snapshot().in_flight == 0 {
                break;
            }
            wait!(pause(Duration::from_millis(20)));
        }
        let fresh = wait!(client.get(&url).send()).unwrap();
        assert_eq!(fresh.trace().cache, CacheTrace::Fresh);
        assert_eq!(fresh.json::<Value>().unwrap()["counter"], 2);
        assert_eq!(wait!(hits(&server, "swr")), 2);
    }

    fn an_open_service_breaker_stops_background_refreshes() {
        let server = chaos();
        let client = fast().build().unwrap();
        let url = server.url("/cache/swr/1/30?key=swr-open");
        wait!(client.get(&url).service("swrsvc").send()).unwrap();
        // Open the service's breaker by hand.
        client.with_engine(|e, now, _| e.isolate_breaker(now, "swrsvc"));
        wait!(pause(Duration::from_millis(1_100)));
        let stale = wait!(client.get(&url).service("swrsvc").send()).unwrap();
        assert!(stale.from_cache());
        wait!(pause(Duration::from_millis(300)));
        assert_eq!(
            wait!(hits(&server, "swr-open")),
            1,
            "a refresh went out although the service's breaker is open"
        );
    }
}
