//! A caller's mistake is not an upstream failure: malformed requests against a healthy chaos
//! upstream are refused as the caller's (typed, 4xx-class), never reach the upstream, never
//! count against the breaker or the service's metrics — and the next valid request goes
//! through a closed breaker.
#![allow(clippy::disallowed_methods)]

mod common;

use common::async_api::{fast, hits};
use common::chaos;
use tether_native::{HeaderMap, HeaderValue, HttpClient, Method, RequestBuilder};
use tether_tests::leaks::{caller_mistakes, touchy_breaker};

/// The shared mistakes, plus two `Host` fields (which ureq would also refuse; the engine's
/// Host check refuses them first).
fn mistakes(client: &HttpClient, url: &str) -> Vec<(&'static str, RequestBuilder)> {
    let mut two_hosts = HeaderMap::new();
    two_hosts.append("host", HeaderValue::from_static("127.0.0.1"));
    two_hosts.append("host", HeaderValue::from_static("elsewhere.test"));
    let mut all = caller_mistakes(client, url);
    all.push(("two Host headers", client.get(url).headers(two_hosts)));
    all
}

#[tokio::test]
async fn caller_mistakes_never_open_the_breaker() {
    let server = chaos();
    let client = fast()
        .max_retries(2)
        .no_cache()
        .breaker(touchy_breaker())
        .build()
        .unwrap();
    let url = server.url("/anything/mistakes?key=mistakes");
    let mistakes = mistakes(&client, &url);
    for (what, request) in mistakes {
        let e = request.service("mistakes").send().await.expect_err(what);
        assert!(e.is_request(), "{what}: {e:?}");
        assert!(
            matches!(e.http_status(), 400 | 413 | 422),
            "{what}: {} {e}",
            e.http_status()
        );
        let state = client.circuit_breaker_state("mistakes");
        assert_eq!(
            (state.state, state.failure_count),
            ("CLOSED", 0),
            "{what}: {e}"
        );
    }
    assert_eq!(
        hits(&server, "mistakes").await,
        0,
        "no mistake reached the upstream"
    );

    // Any method token goes out; then a plain request: both answered, breaker still closed.
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let r = client
        .request(purge, &url)
        .service("mistakes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(&url).service("mistakes").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hits(&server, "mistakes").await, 2);
    let state = client.circuit_breaker_state("mistakes");
    assert_eq!((state.state, state.failure_count), ("CLOSED", 0));
    let m = client
        .service_metrics("mistakes")
        .expect("the service is tracked");
    assert_eq!(
        (m.total_requests, m.successful_requests, m.failed_requests),
        (2, 2, 0),
        "{m:?}"
    );
    assert!(m.error_counts.is_empty(), "{m:?}");
}
