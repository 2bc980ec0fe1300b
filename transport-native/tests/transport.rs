//! `UreqTransport` and `TokioRuntime` against the chaos upstream (and, for compressed bodies,
//! which chaos does not serve, a tiny canned-response server) on loopback.

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::Value;
use tether_chaos::{ChaosHandle, ChaosOptions, spawn_background};
use tether_core::{Outcome, Request, Runtime, Transport, TransportErrorKind};
use tether_native::{NativeConfig, TokioRuntime, UreqTransport};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn chaos() -> ChaosHandle {
    spawn_background(ChaosOptions::default())
}

fn get(url: &str) -> Request {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

fn transport(config: NativeConfig) -> UreqTransport {
    UreqTransport::new(config)
}

fn json(outcome: &Outcome) -> Value {
    let response = outcome.as_ref().expect("a response");
    serde_json::from_slice(response.body()).expect("a JSON body")
}

fn kind(outcome: &Outcome) -> TransportErrorKind {
    match outcome {
        Ok(response) => panic!("expected an error, got {}", response.status()),
        Err(error) => error.kind,
    }
}

#[tokio::test]
async fn ok_response_keeps_headers_and_body() {
    let server = chaos();
    let t = UreqTransport::default();
    let request = http::Request::get(server.url("/get?x=1"))
        .header("x-test", "yes")
        .body(Bytes::new())
        .unwrap();
    let outcome = t.send(request, None).await;
    let response = outcome.as_ref().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert!(response.headers().contains_key("content-length"));
    let body = json(&outcome);
    assert_eq!(body["args"]["x"], "1");
    assert_eq!(body["headers"]["X-Test"], "yes", "{body}");
    assert!(
        body["headers"]["User-Agent"]
            .as_str()
            .unwrap()
            .starts_with("tether/")
    );
}

#[tokio::test]
async fn request_method_headers_and_body_reach_the_server() {
    let server = chaos();
    let t = UreqTransport::default();
    let request = http::Request::post(server.url("/echo?a=b"))
        .header("content-type", "text/plain")
        .header("x-multi", "1")
        .body(Bytes::from_static(b"payload"))
        .unwrap();
    let echo = json(&t.send(request, None).await);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], "a=b");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["headers"]["content-type"], "text/plain");
    assert_eq!(echo["headers"]["x-multi"], "1");
    assert_eq!(echo["headers"]["accept-encoding"], "gzip, deflate");

    // An empty GET sends no body at all; an empty POST sends `Content-Length: 0`.
    let echo = json(&t.send(get(&server.url("/echo")), None).await);
    assert!(echo["headers"].get("content-length").is_none(), "{echo}");
    let post = http::Request::post(server.url("/echo"))
        .body(Bytes::new())
        .unwrap();
    let echo = json(&t.send(post, None).await);
    assert_eq!(echo["headers"]["content-length"], "0", "{echo}");
}

#[tokio::test]
async fn server_errors_are_responses_not_errors() {
    let server = chaos();
    let t = UreqTransport::default();
    for (path, status) in [
        ("/status/503", 503),
        ("/status/404", 404),
        ("/status/500", 500),
    ] {
        let outcome = t.send(get(&server.url(path)), None).await;
        assert_eq!(outcome.as_ref().unwrap().status(), status);
        assert_eq!(json(&outcome)["status"], status);
    }
}

#[tokio::test]
async fn refused_connection_is_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let t = UreqTransport::default();
    let outcome = t
        .send(get(&format!("http://127.0.0.1:{port}/get")), None)
        .await;
    assert_eq!(kind(&outcome), TransportErrorKind::Connect);
}

#[tokio::test]
async fn attempt_timeout_is_timeout_and_prompt() {
    let server = chaos();
    let clock = TokioRuntime::new();
    let t = UreqTransport::default();
    let started = clock.now();
    let outcome = t
        .send(
            get(&server.url("/delay/2000")),
            Some(Duration::from_millis(200)),
        )
        .await;
    let took = clock.now().saturating_duration_since(started);
    assert_eq!(kind(&outcome), TransportErrorKind::Timeout);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[tokio::test]
async fn config_timeout_applies_and_the_attempt_timeout_overrides_it() {
    let server = chaos();
    let t = transport(NativeConfig {
        timeout: Some(Duration::from_millis(150)),
        ..NativeConfig::default()
    });
    let outcome = t.send(get(&server.url("/delay/1000")), None).await;
    assert_eq!(kind(&outcome), TransportErrorKind::Timeout);
    let outcome = t
        .send(get(&server.url("/delay/300")), Some(Duration::from_secs(5)))
        .await;
    assert_eq!(outcome.unwrap().status(), 200);
}

#[tokio::test]
async fn read_timeout_is_timeout() {
    let server = chaos();
    let t = transport(NativeConfig {
        read_timeout: Some(Duration::from_millis(100)),
        ..NativeConfig::default()
    });
    let url = server.url("/slow-body?chunks=3&interval_ms=600");
    assert_eq!(
        kind(&t.send(get(&url), None).await),
        TransportErrorKind::Timeout
    );
}

#[tokio::test]
async fn dropped_connections_are_reset() {
    let server = chaos();
    let t = UreqTransport::default();
    // Headers promise 1024 bytes, 16 arrive, then the connection drops.
    let mid_body = t.send(get(&server.url("/reset")), None).await;
    assert_eq!(kind(&mid_body), TransportErrorKind::Reset, "{mid_body:?}");
    // Closed before any response byte.
    let before = t.send(get(&server.url("/reset?at=headers")), None).await;
    assert_eq!(kind(&before), TransportErrorKind::Reset, "{before:?}");
}

#[tokio::test]
async fn slow_bodies_arrive_whole() {
    let server = chaos();
    let t = UreqTransport::default();
    for query in ["", "&content_length=1"] {
        let url = server.url(&format!("/slow-body?chunks=5&interval_ms=40{query}"));
        let response = t.send(get(&url), None).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().len(), 5 * 16, "{query}");
        assert_eq!(response.body().last(), Some(&b'\n'));
    }
}

#[tokio::test]
async fn body_over_the_limit_is_body_too_large() {
    let server = chaos();
    let t = transport(NativeConfig {
        max_body_bytes: 4096,
        ..NativeConfig::default()
    });
    let url = |n: u32| {
        server.url(&format!(
            "/slow-body?chunks={n}&interval_ms=0&chunk_size=1024"
        ))
    };
    // Exactly at the limit is fine; one chunk more is not, chunked or with a length.
    assert_eq!(t.send(get(&url(4)), None).await.unwrap().body().len(), 4096);
    let outcome = t.send(get(&url(5)), None).await;
    assert_eq!(kind(&outcome), TransportErrorKind::BodyTooLarge);
    let outcome = t
        .send(get(&format!("{}&content_length=1", url(5))), None)
        .await;
    assert_eq!(kind(&outcome), TransportErrorKind::BodyTooLarge);
}

#[tokio::test]
async fn redirects_are_returned_by_default_and_followed_when_asked() {
    let server = chaos();
    let url = server.url("/status/302?location=/get");
    let response = UreqTransport::default()
        .send(get(&url), None)
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/get");

    let following = transport(NativeConfig {
        max_redirects: 3,
        ..NativeConfig::default()
    });
    let outcome = following.send(get(&url), None).await;
    assert_eq!(outcome.as_ref().unwrap().status(), 200);
    assert!(json(&outcome)["url"].as_str().unwrap().ends_with("/get"));
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let server = chaos();
    let t = UreqTransport::default();
    for _ in 0..20 {
        let response = t.send(get(&server.url("/get")), None).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Through the same transport, so this reuses the pooled connection too.
    let counts = json(&t.send(get(&server.url("/count")), None).await);
    let connections = counts["connections"].as_u64().unwrap();
    assert!(connections <= 2, "{counts}");
    assert_eq!(counts["requests"], 21, "{counts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_work_is_bounded() {
    let server = chaos();
    let clock = TokioRuntime::new();
    let t = transport(NativeConfig {
        max_blocking: Some(2),
        ..NativeConfig::default()
    });
    assert_eq!(t.available_slots(), 2);
    let started = clock.now();
    let attempts = (0..6).map(|_| t.send(get(&server.url("/delay/300")), None));
    let outcomes = futures::future::join_all(attempts).await;
    let took = clock.now().saturating_duration_since(started);
    for outcome in &outcomes {
        assert_eq!(outcome.as_ref().unwrap().status(), 200);
    }
    // Two at a time: three waves of 300 ms. A lower bound only; machines are noisy.
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert_eq!(t.available_slots(), 2);
}

#[tokio::test]
async fn waiting_for_a_slot_counts_against_the_attempt_timeout() {
    let server = chaos();
    let t = transport(NativeConfig {
        max_blocking: Some(1),
        ..NativeConfig::default()
    });
    let slow = t.send(get(&server.url("/delay/800")), None);
    let queued = t.send(get(&server.url("/get")), Some(Duration::from_millis(200)));
    let (slow, queued) = futures::future::join(slow, queued).await;
    assert_eq!(slow.unwrap().status(), 200);
    let error = queued.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Timeout);
    assert!(error.message.contains("slot"), "{}", error.message);
}

#[tokio::test]
async fn error_messages_never_carry_secrets() {
    let t = UreqTransport::default();
    let request = http::Request::get("http://127.0.0.1:1/x?api_key=SECRET&page=2")
        .header("authorization", "Bearer TOPSECRET")
        .header("cookie", "session=COOKIESECRET")
        .body(Bytes::new())
        .unwrap();
    let error = t.send(request, None).await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Connect);
    let text = error.to_string();
    for secret in ["SECRET&", "=SECRET", "TOPSECRET", "COOKIESECRET"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(
        text.contains("GET http://127.0.0.1:1/x?api_key=[REDACTED]&page=2"),
        "{text}"
    );

    let userinfo = get("http://user:hunter2@127.0.0.1:1/x");
    let text = t.send(userinfo, None).await.unwrap_err().to_string();
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn sending_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let t = UreqTransport::default();
    let outcome = futures::executor::block_on(t.send(get("http://127.0.0.1:1/"), None));
    assert_eq!(kind(&outcome), TransportErrorKind::Other);
}

// ---------------------------------------------------------------------------------------------
// Compressed bodies. Chaos serves none, so a canned-response server stands in.

/// Serves `response` (a full HTTP/1.1 message) to every connection, then closes it.
/// Returns the base URL.
async fn canned_server(response: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    #[expect(
        clippy::disallowed_methods,
        reason = "test server: accepts connections for the duration of one test"
    )]
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0_u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = socket.write_all(&response).await;
            let _ = socket.shutdown().await;
        }
    });
    url
}

fn canned(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-encoding: {encoding}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(body);
    message
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded() {
    let text = b"tether ".repeat(500);
    for (encoding, packed) in [("gzip", gzip(&text)), ("deflate", zlib(&text))] {
        assert!(packed.len() < text.len() / 10);
        let url = canned_server(canned(encoding, &packed)).await;
        let response = UreqTransport::default()
            .send(get(&url), None)
            .await
            .unwrap();
        assert_eq!(response.body().as_ref(), &text[..], "{encoding}");
        assert!(!response.headers().contains_key("content-encoding"));
        assert!(!response.headers().contains_key("content-length"));
        assert_eq!(response.headers()["content-type"], "text/plain");

        // The limit applies to the decoded size.
        let small = transport(NativeConfig {
            max_body_bytes: 1000,
            ..NativeConfig::default()
        });
        let outcome = small.send(get(&url), None).await;
        assert_eq!(
            kind(&outcome),
            TransportErrorKind::BodyTooLarge,
            "{encoding}"
        );
    }
}

#[tokio::test]
async fn corrupt_compressed_bodies_are_protocol_errors() {
    for encoding in ["gzip", "deflate"] {
        let url = canned_server(canned(encoding, b"\x78\x9cthis is not compressed")).await;
        let outcome = UreqTransport::default().send(get(&url), None).await;
        assert_eq!(
            kind(&outcome),
            TransportErrorKind::Protocol,
            "{encoding}: {outcome:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// TokioRuntime

#[tokio::test]
async fn runtime_clock_is_monotonic_and_sleep_advances_it() {
    let runtime = TokioRuntime::new();
    let mut last = runtime.now();
    for _ in 0..1000 {
        let now = runtime.now();
        assert!(now >= last);
        last = now;
    }
    let before = runtime.now();
    runtime.sleep(Duration::from_millis(50)).await;
    let slept = runtime.now().saturating_duration_since(before);
    assert!(slept >= Duration::from_millis(50), "{slept:?}");
}

#[test]
fn runtime_wall_clock_is_plausible_and_seeds_differ() {
    let a = TokioRuntime::new();
    let b = TokioRuntime::new();
    // After 2025-01-01.
    assert!(a.wall().as_unix_secs() > 1_735_689_600);
    assert_ne!(a.seed(), b.seed());
    assert_ne!(a.seed(), a.seed());
}

#[tokio::test]
async fn an_empty_deflate_body_is_not_an_error() {
    // A 204 / HEAD / 304 may carry `Content-Encoding: deflate` with no body at all.
    let url = canned_server(canned("deflate", b"")).await;
    let response = UreqTransport::default()
        .send(get(&url), None)
        .await
        .expect("an empty encoded body is a valid response");
    assert_eq!(response.status(), 200);
    assert!(response.body().is_empty());
}
