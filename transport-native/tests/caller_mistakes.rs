//! A caller's mistake is not an upstream failure: malformed requests against a healthy chaos
//! upstream are refused as the caller's (typed, 4xx-class), never reach the upstream, never
//! count against the breaker or the service's metrics — and the next valid request goes
//! through a closed breaker.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{chaos, fast, hits};
use tether_chaos::ChaosHandle;
use tether_native::{
    BreakDuration, BreakerConfig, HeaderMap, HeaderValue, HttpClient, Method, RequestBuilder,
};

/// A `Serialize` implementation that fails.
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

/// Requests built with a mistake each, and what the mistake is.
fn mistakes(
    client: &HttpClient,
    url: &str,
    server: &ChaosHandle,
) -> Vec<(&'static str, RequestBuilder)> {
    let mut two_hosts = HeaderMap::new();
    two_hosts.append("host", HeaderValue::from_static("127.0.0.1"));
    two_hosts.append("host", HeaderValue::from_static("elsewhere.test"));
    let non_ascii = HeaderValue::from_bytes(b"Bearer t\xf6ken").unwrap();
    vec![
        (
            "Content-Length: abc",
            client
                .post(url)
                .header("content-length", "abc")
                .body("hello"),
        ),
        (
            "a Content-Length shorter than the body",
            client.post(url).header("content-length", "3").body("hello"),
        ),
        (
            "a Content-Length longer than the body",
            client
                .post(url)
                .header("content-length", "100")
                .body("hello"),
        ),
        (
            "Transfer-Encoding",
            client
                .post(url)
                .header("transfer-encoding", "chunked")
                .body("hello"),
        ),
        (
            "Connection",
            client.get(url).header("connection", "upgrade"),
        ),
        ("a HEAD with a body", client.head(url).body("x")),
        ("CONNECT", client.request(Method::CONNECT, url)),
        ("two Host headers", client.get(url).headers(two_hosts)),
        (
            "non-ASCII credentials",
            client.get(url).header("authorization", non_ascii),
        ),
        (
            "CR/LF in a value",
            client.get(url).header("x-note", "a\r\nX-Injected: 1"),
        ),
        (
            "an invalid header name",
            client.get(url).header("bad header", "x"),
        ),
        (
            "JSON of a map with non-string keys",
            client.post(url).json(&HashMap::from([((1, 2), 3)])),
        ),
        (
            "a failing Serialize",
            client.post(url).json(&Unserializable),
        ),
        (
            "credentials in the URL",
            client.get(format!("http://user:pw@{}/x", server.addr)),
        ),
        (
            "a URL that does not parse",
            client.get("http://user:pa#ss@host:99999/"),
        ),
        ("a relative URL", client.get("/relative")),
    ]
}

#[tokio::test]
async fn caller_mistakes_never_open_the_breaker() {
    let server = chaos();
    let client = fast()
        .max_retries(2)
        .no_cache()
        .breaker(BreakerConfig {
            consecutive_failures: Some(2),
            break_duration: BreakDuration::Constant(Duration::from_secs(60)),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    let url = server.url("/anything/mistakes?key=mistakes");
    let mistakes = mistakes(&client, &url, &server);
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
