//! The native transports — the async API's `UreqTransport` and `HyperTransport`, and the
//! blocking API's `blocking::UreqTransport` — against the chaos upstream and raw loopback
//! servers that record the bytes they receive. Every test in `each!` runs once per transport
//! (`ureq_transport::…`, `hyper_transport::…`, `blocking_transport::…`); the few that concern
//! one transport only are named after it. `TokioRuntime` is tested at the end.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use support::{Kind, Recorder, Reply, canned, chaos, get, header_lines, json, kind};
use tether_core::{ConfigError, Runtime, Transport, TransportErrorKind};
use tether_native::{HyperTransport, NativeConfig, Proxy, TokioRuntime, UreqTransport, blocking};

each!(
    ok_response_keeps_headers_and_body,
    request_method_headers_and_body_reach_the_server,
    server_errors_are_responses_not_errors,
    refused_connection_is_connect,
    unknown_host_is_connect,
    attempt_timeout_is_timeout_and_prompt,
    config_timeout_applies_and_the_attempt_timeout_overrides_it,
    read_timeout_is_timeout,
    connect_timeout_is_timeout,
    dropped_connections_are_reset,
    slow_bodies_arrive_whole,
    body_over_the_limit_is_body_too_large,
    only_absolute_http_urls_are_sent,
    redirects_are_returned_by_default_and_followed_when_asked,
    redirects_never_carry_credentials_to_another_origin,
    sequential_requests_reuse_one_connection,
    error_messages_never_carry_secrets,
    gzip_and_deflate_bodies_are_decoded,
    corrupt_compressed_bodies_are_protocol_errors,
    a_decompression_bomb_fails_with_body_too_large,
    an_empty_deflate_body_is_not_an_error,
    framing_headers_are_refused_before_anything_is_sent,
    content_length_and_transfer_encoding_never_both_reach_the_wire,
    a_host_header_must_name_the_url_authority,
    userinfo_goes_out_as_basic_auth_never_in_the_request,
    a_slow_host_never_delays_a_healthy_one,
    per_host_slots_bound_attempts_and_timeouts_give_them_back,
    explicit_proxies_are_used_and_no_proxy_is_honoured,
    huge_timeouts_do_not_panic,
    an_invalid_user_agent_is_a_config_error_not_a_panic,
);

async fn ok_response_keeps_headers_and_body(k: Kind) {
    let server = chaos();
    let t = k.default_transport();
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

async fn request_method_headers_and_body_reach_the_server(k: Kind) {
    let server = chaos();
    let t = k.default_transport();
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
    assert_eq!(echo["headers"]["content-length"], "7");
    assert_eq!(echo["headers"]["x-multi"], "1");
    assert_eq!(echo["headers"]["accept-encoding"], "gzip, deflate");
    assert!(echo["headers"].get("transfer-encoding").is_none(), "{echo}");

    // An empty GET sends no body at all; an empty POST sends `Content-Length: 0`.
    let echo = json(&t.send(get(&server.url("/echo")), None).await);
    assert!(echo["headers"].get("content-length").is_none(), "{echo}");
    let post = http::Request::post(server.url("/echo"))
        .body(Bytes::new())
        .unwrap();
    let echo = json(&t.send(post, None).await);
    assert_eq!(echo["headers"]["content-length"], "0", "{echo}");
}

async fn server_errors_are_responses_not_errors(k: Kind) {
    let server = chaos();
    let t = k.default_transport();
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

async fn refused_connection_is_connect(k: Kind) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let t = k.default_transport();
    let outcome = t
        .send(get(&format!("http://127.0.0.1:{port}/get")), None)
        .await;
    assert_eq!(kind(&outcome), TransportErrorKind::Connect, "{outcome:?}");
}

async fn unknown_host_is_connect(k: Kind) {
    // `.invalid` never resolves (RFC 6761).
    let t = k.default_transport();
    let outcome = t
        .send(
            get("http://no-such-host.invalid/x"),
            Some(Duration::from_secs(20)),
        )
        .await;
    assert_eq!(kind(&outcome), TransportErrorKind::Connect, "{outcome:?}");
}

async fn attempt_timeout_is_timeout_and_prompt(k: Kind) {
    let server = chaos();
    let clock = TokioRuntime::new();
    let t = k.default_transport();
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

async fn config_timeout_applies_and_the_attempt_timeout_overrides_it(k: Kind) {
    let server = chaos();
    let t = k.make(NativeConfig {
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

async fn read_timeout_is_timeout(k: Kind) {
    let server = chaos();
    let t = k.make(NativeConfig {
        read_timeout: Some(Duration::from_millis(100)),
        ..NativeConfig::default()
    });
    let url = server.url("/slow-body?chunks=3&interval_ms=600");
    let outcome = t.send(get(&url), None).await;
    assert_eq!(kind(&outcome), TransportErrorKind::Timeout);
    assert!(
        outcome.unwrap_err().message.contains("read"),
        "names the read"
    );
    // A response head that never comes is a read time-out too.
    let silent = Recorder::start(Reply::Silent);
    let outcome = t.send(get(&silent.url("/")), None).await;
    assert_eq!(kind(&outcome), TransportErrorKind::Timeout);
}

async fn connect_timeout_is_timeout(k: Kind) {
    // A listener with a backlog of 0 that never accepts: once one connection fills its queue,
    // the kernel drops further SYNs and connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let _filler = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500));
    let t = k.make(NativeConfig {
        connect_timeout: Some(Duration::from_millis(200)),
        ..NativeConfig::default()
    });
    let clock = TokioRuntime::new();
    let started = clock.now();
    let outcome = t
        .send(
            get(&format!("http://{addr}/")),
            Some(Duration::from_secs(10)),
        )
        .await;
    let took = clock.now().saturating_duration_since(started);
    let error = outcome.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Timeout, "{error}");
    assert!(error.message.to_lowercase().contains("connect"), "{error}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

async fn dropped_connections_are_reset(k: Kind) {
    let server = chaos();
    let t = k.default_transport();
    // Headers promise 1024 bytes, 16 arrive, then the connection drops.
    let mid_body = t.send(get(&server.url("/reset")), None).await;
    assert_eq!(kind(&mid_body), TransportErrorKind::Reset, "{mid_body:?}");
    // Closed before any response byte.
    let before = t.send(get(&server.url("/reset?at=headers")), None).await;
    assert_eq!(kind(&before), TransportErrorKind::Reset, "{before:?}");
}

async fn slow_bodies_arrive_whole(k: Kind) {
    let server = chaos();
    let t = k.default_transport();
    for query in ["", "&content_length=1"] {
        let url = server.url(&format!("/slow-body?chunks=5&interval_ms=40{query}"));
        let response = t.send(get(&url), None).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().len(), 5 * 16, "{query}");
        assert_eq!(response.body().last(), Some(&b'\n'));
    }
}

async fn body_over_the_limit_is_body_too_large(k: Kind) {
    let server = chaos();
    let t = k.make(NativeConfig {
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
    // A declared length over the limit fails before the body is read: this one would take
    // ten seconds to arrive.
    let clock = TokioRuntime::new();
    let started = clock.now();
    let slow = server.url("/slow-body?chunks=10&interval_ms=1000&chunk_size=1024&content_length=1");
    let outcome = t.send(get(&slow), None).await;
    assert_eq!(kind(&outcome), TransportErrorKind::BodyTooLarge);
    assert!(clock.now().saturating_duration_since(started) < Duration::from_secs(5));
    // A HEAD answer announces the length of a body it does not send: no limit applies.
    let head = http::Request::head(
        server.url("/slow-body?chunks=10&interval_ms=0&chunk_size=1024&content_length=1"),
    )
    .body(Bytes::new())
    .unwrap();
    let response = t.send(head, None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "10240");
    assert!(response.body().is_empty());
}

async fn only_absolute_http_urls_are_sent(k: Kind) {
    let t = k.default_transport();
    for url in [
        "/relative/path",
        "ftp://127.0.0.1/file",
        "ws://127.0.0.1/socket",
    ] {
        let error = t.send(get(url), None).await.unwrap_err();
        assert_eq!(error.kind, TransportErrorKind::InvalidRequest, "{url}");
        assert!(error.message.contains("absolute"), "{url}: {error}");
    }
}

async fn redirects_are_returned_by_default_and_followed_when_asked(k: Kind) {
    let server = chaos();
    let url = server.url("/status/302?location=/get");
    let response = k.default_transport().send(get(&url), None).await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/get");

    let following = k.make(NativeConfig {
        max_redirects: 3,
        ..NativeConfig::default()
    });
    let outcome = following.send(get(&url), None).await;
    assert_eq!(outcome.as_ref().unwrap().status(), 200);
    assert!(json(&outcome)["url"].as_str().unwrap().ends_with("/get"));

    // More hops than allowed: the last 3xx comes back.
    let once = k.make(NativeConfig {
        max_redirects: 1,
        ..NativeConfig::default()
    });
    let chain = server.url("/status/302?location=%2Fstatus%2F302%3Flocation%3D%2Fget");
    let response = once.send(get(&chain), None).await.unwrap();
    assert_eq!(response.status(), 302);
}

async fn redirects_never_carry_credentials_to_another_origin(k: Kind) {
    let a = chaos();
    let b = chaos();
    let t = k.make(NativeConfig {
        max_redirects: 3,
        credential_headers: vec!["x-tenant-token".into()],
        non_identifying_headers: vec!["x-client-*".into(), "x-tenant-token".into()],
        ..NativeConfig::default()
    });
    let with_secrets = |url: String| {
        http::Request::get(url)
            .header("authorization", "Bearer SECRET-A")
            .header("cookie", "session=SECRET-C")
            .header("proxy-authorization", "Basic SECRET-P")
            .header("x-api-key", "SECRET-K")
            .header("x-tenant-token", "SECRET-T")
            .header("x-tenant-secret", "SECRET-U")
            .header("accept", "application/json")
            .header("x-request-id", "r-1")
            .header("x-client-version", "1.2")
            .body(Bytes::new())
            .unwrap()
    };
    // Same origin: credentials are kept.
    let same = a.url("/status/307?location=/echo");
    let echo = json(&t.send(with_secrets(same), None).await);
    assert_eq!(
        echo["headers"]["authorization"], "Bearer SECRET-A",
        "{echo}"
    );
    assert_eq!(echo["headers"]["x-tenant-secret"], "SECRET-U", "{echo}");

    // Another origin (another port of the same host): every credential is gone, and so is
    // every header not known to be harmless (`x-tenant-secret`: nobody listed it).
    let other = format!("/status/302?location=http%3A%2F%2F{}%2Fecho", b.addr);
    let outcome = t.send(with_secrets(a.url(&other)), None).await;
    let echo = json(&outcome);
    assert_eq!(echo["path"], "/echo", "{echo}");
    let text = echo["headers"].to_string();
    assert!(!text.contains("SECRET"), "{text}");
    assert_eq!(echo["headers"]["accept"], "application/json");
    assert_eq!(echo["headers"]["x-request-id"], "r-1");
    assert_eq!(echo["headers"]["x-client-version"], "1.2");
}

async fn sequential_requests_reuse_one_connection(k: Kind) {
    let server = chaos();
    let t = k.default_transport();
    for _ in 0..100 {
        let response = t.send(get(&server.url("/get")), None).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Through the same transport, so this reuses a pooled connection too.
    let counts = json(&t.send(get(&server.url("/count")), None).await);
    let connections = counts["connections"].as_u64().unwrap();
    // hyper-util starts a connection when a request finds the pool empty, even if the
    // connection that just finished the previous response is a moment from returning to it;
    // that connection is then pooled, not wasted. So a few, never one per request.
    assert!(connections <= 5, "{counts}");
    assert_eq!(counts["requests"], 101, "{counts}");
}

async fn error_messages_never_carry_secrets(k: Kind) {
    let t = k.default_transport();
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

async fn gzip_and_deflate_bodies_are_decoded(k: Kind) {
    let text = b"tether ".repeat(500);
    for (encoding, packed) in [("gzip", gzip(&text)), ("deflate", zlib(&text))] {
        assert!(packed.len() < text.len() / 10);
        let server = Recorder::start(Reply::Canned(canned(encoding, &packed)));
        let response = k
            .default_transport()
            .send(get(&server.url("/")), None)
            .await
            .unwrap();
        assert_eq!(response.body().as_ref(), &text[..], "{encoding}");
        assert!(!response.headers().contains_key("content-encoding"));
        assert!(!response.headers().contains_key("content-length"));
        assert_eq!(response.headers()["content-type"], "text/plain");

        // The limit applies to the decoded size.
        let small = k.make(NativeConfig {
            max_body_bytes: 1000,
            ..NativeConfig::default()
        });
        let outcome = small.send(get(&server.url("/")), None).await;
        assert_eq!(
            kind(&outcome),
            TransportErrorKind::BodyTooLarge,
            "{encoding}"
        );
    }
}

async fn corrupt_compressed_bodies_are_protocol_errors(k: Kind) {
    let truncated = {
        let full = gzip(&b"tether ".repeat(100));
        full[..full.len() / 2].to_vec()
    };
    for (encoding, body) in [
        ("gzip", b"\x1f\x8bthis is not compressed".to_vec()),
        ("deflate", b"\x78\x9cthis is not compressed".to_vec()),
        ("gzip", truncated),
    ] {
        let server = Recorder::start(Reply::Canned(canned(encoding, &body)));
        let outcome = k
            .default_transport()
            .send(get(&server.url("/")), None)
            .await;
        assert_eq!(
            kind(&outcome),
            TransportErrorKind::Protocol,
            "{encoding}: {outcome:?}"
        );
    }
}

async fn a_decompression_bomb_fails_with_body_too_large(k: Kind) {
    // 10 MiB of zeros in about 10 KiB, against a 1 MiB limit (the decoder's own unit tests
    // show it never holds more than the limit).
    let zeros = vec![0_u8; 10 << 20];
    for (encoding, packed) in [("gzip", gzip(&zeros)), ("deflate", zlib(&zeros))] {
        assert!(packed.len() < 64 * 1024);
        let server = Recorder::start(Reply::Canned(canned(encoding, &packed)));
        let t = k.make(NativeConfig {
            max_body_bytes: 1 << 20,
            ..NativeConfig::default()
        });
        let outcome = t.send(get(&server.url("/")), None).await;
        let error = outcome.unwrap_err();
        assert_eq!(
            error.kind,
            TransportErrorKind::BodyTooLarge,
            "{encoding}: {error}"
        );
    }
}

async fn an_empty_deflate_body_is_not_an_error(k: Kind) {
    // A 204 / HEAD / 304 may carry `Content-Encoding` with no body at all.
    for encoding in ["deflate", "gzip"] {
        let server = Recorder::start(Reply::Canned(canned(encoding, b"")));
        let response = k
            .default_transport()
            .send(get(&server.url("/")), None)
            .await
            .expect("an empty encoded body is a valid response");
        assert_eq!(response.status(), 200);
        assert!(response.body().is_empty());
    }
}

async fn framing_headers_are_refused_before_anything_is_sent(k: Kind) {
    let server = Recorder::start(Reply::Ok);
    let t = k.default_transport();
    for (name, value) in [
        ("transfer-encoding", "chunked"),
        ("content-length", "3"),
        ("content-length", "7, 7"),
        ("connection", "close"),
        ("keep-alive", "timeout=5"),
        ("upgrade", "h2c"),
        ("host", "other.test"),
    ] {
        let request = http::Request::post(server.url("/upload"))
            .header(name, value)
            .body(Bytes::from_static(b"payload"))
            .unwrap();
        let error = t.send(request, None).await.unwrap_err();
        assert_eq!(
            error.kind,
            TransportErrorKind::InvalidRequest,
            "{name}: {error}"
        );
        assert!(error.message.contains("refused"), "{name}: {error}");
    }
    assert_eq!(server.accepted(), 0, "nothing reached the wire");
}

/// Method, caller headers, body.
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static [u8],
);

async fn content_length_and_transfer_encoding_never_both_reach_the_wire(k: Kind) {
    let server = Recorder::start(Reply::Ok);
    let t = k.default_transport();
    let cases: Vec<Case> = vec![
        ("GET", vec![], b""),
        ("GET", vec![("content-length", "0")], b""),
        ("POST", vec![], b""),
        ("POST", vec![], b"payload"),
        ("POST", vec![("content-length", "7")], b"payload"),
        ("PUT", vec![("Content-Length", " 7")], b"payload"),
        ("DELETE", vec![], b"payload"),
        ("PATCH", vec![("content-type", "application/json")], b"{}"),
    ];
    for (method, headers, body) in &cases {
        let mut builder = http::Request::builder()
            .method(*method)
            .uri(server.url("/framed"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = t
            .send(builder.body(Bytes::from_static(body)).unwrap(), None)
            .await
            .unwrap_or_else(|e| panic!("{method} {headers:?}: {e}"));
        assert_eq!(response.body().as_ref(), b"via-recorder");
    }
    let recorded = server.requests();
    assert_eq!(recorded.len(), cases.len());
    for ((method, _, body), raw) in cases.iter().zip(&recorded) {
        let headers = header_lines(raw);
        let count = |name: &str| headers.iter().filter(|(n, _)| n == name).count();
        assert_eq!(count("transfer-encoding"), 0, "{raw}");
        assert!(count("content-length") <= 1, "{raw}");
        assert_eq!(count("host"), 1, "{raw}");
        if !body.is_empty() {
            let length = headers.iter().find(|(n, _)| n == "content-length").unwrap();
            assert_eq!(length.1, body.len().to_string(), "{raw}");
            assert!(raw.ends_with(std::str::from_utf8(body).unwrap()), "{raw}");
        }
        assert!(
            raw.starts_with(&format!("{method} /framed HTTP/1.1\r\n")),
            "{raw}"
        );
    }
}

async fn a_host_header_must_name_the_url_authority(k: Kind) {
    let server = Recorder::start(Reply::Ok);
    let t = k.default_transport();
    let authority = server.addr.to_string();
    // Another authority: refused, nothing sent.
    for host in ["evil.test", "127.0.0.1", "127.0.0.1:1"] {
        let request = http::Request::get(server.url("/h"))
            .header("host", host)
            .body(Bytes::new())
            .unwrap();
        let error = t.send(request, None).await.unwrap_err();
        assert!(error.message.contains("Host"), "{error}");
    }
    assert!(server.requests().is_empty());
    // The URL's own authority (any case): accepted, and written once, from the URL.
    let request = http::Request::get(server.url("/h"))
        .header("host", authority.to_uppercase())
        .body(Bytes::new())
        .unwrap();
    t.send(request, None).await.unwrap();
    let recorded = server.requests();
    let hosts: Vec<_> = header_lines(&recorded[0])
        .into_iter()
        .filter(|(n, _)| n == "host")
        .collect();
    assert_eq!(hosts, [("host".to_owned(), authority)]);
}

async fn userinfo_goes_out_as_basic_auth_never_in_the_request(k: Kind) {
    let server = Recorder::start(Reply::Ok);
    let t = k.default_transport();
    let url = format!("http://alice:s3cret@{}/who", server.addr);
    t.send(get(&url), None).await.unwrap();
    let raw = &server.requests()[0];
    assert!(raw.starts_with("GET /who HTTP/1.1\r\n"), "{raw}");
    assert!(!raw.contains("s3cret"), "{raw}");
    let auth = header_lines(raw)
        .into_iter()
        .find(|(n, _)| n == "authorization")
        .expect("basic auth");
    assert_eq!(auth.1, "Basic YWxpY2U6czNjcmV0");
}

async fn a_slow_host_never_delays_a_healthy_one(k: Kind) {
    let slow = chaos();
    let healthy = chaos();
    let t = k.default_transport();
    let clock = TokioRuntime::new();
    // 100 attempts at a host that trickles one byte per second, each allowed 3 s.
    let trickle = slow.url("/slow-body?chunks=600&interval_ms=1000&chunk_size=1");
    let stuck = t.spawn_gets(&trickle, 100, Duration::from_secs(3));
    // Let them all get going, then ask the healthy host.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = clock.now();
    let outcome = t
        .send(get(&healthy.url("/get")), Some(Duration::from_secs(10)))
        .await;
    let took = clock.now().saturating_duration_since(started);
    assert_eq!(outcome.unwrap().status(), 200);
    assert!(
        took < Duration::from_secs(1),
        "the healthy host waited {took:?}"
    );
    for attempt in stuck {
        let outcome = attempt.await.unwrap();
        assert_eq!(kind(&outcome), TransportErrorKind::Timeout);
    }
}

async fn per_host_slots_bound_attempts_and_timeouts_give_them_back(k: Kind) {
    let slow = chaos();
    let healthy = chaos();
    let t = k.make(NativeConfig {
        max_attempts_per_host: 2,
        ..NativeConfig::default()
    });
    let delayed = slow.url("/delay/1500");
    assert_eq!(t.attempt_slots(&delayed), 2);
    let busy = t.spawn_gets(&delayed, 2, Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.attempt_slots(&delayed), 0);
    // A third attempt at the slow host waits for a slot, within its own time limit.
    let error = t
        .send(get(&slow.url("/get")), Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Timeout);
    assert!(error.message.contains("slot"), "{error}");
    // Another host is not affected.
    let response = t
        .send(get(&healthy.url("/get")), Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for attempt in busy {
        assert_eq!(attempt.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(t.attempt_slots(&delayed), 2);

    // A timed-out attempt gives its slot back as it returns.
    let outcome = t
        .send(
            get(&slow.url("/delay/3000")),
            Some(Duration::from_millis(200)),
        )
        .await;
    assert_eq!(kind(&outcome), TransportErrorKind::Timeout);
    assert_eq!(t.attempt_slots(&delayed), 2);
}

async fn explicit_proxies_are_used_and_no_proxy_is_honoured(k: Kind) {
    let target = chaos();
    let proxy = Recorder::start(Reply::Ok);
    let t = k.make(NativeConfig {
        proxy: Proxy::http(format!("http://user:secret@{}", proxy.addr)),
        ..NativeConfig::default()
    });
    let response = t.send(get(&target.url("/get")), None).await.unwrap();
    assert_eq!(response.body().as_ref(), b"via-recorder");
    let recorded = proxy.requests();
    assert!(!recorded.is_empty());
    // The hyper transport sends `GET http://target/get` to the proxy; the ureq transport
    // tunnels with `CONNECT target`. Either way the proxy gets the proxy's credentials, and
    // a request that reaches the target through a tunnel does not.
    let first = &recorded[0];
    let absolute = format!("GET http://{}/get HTTP/1.1\r\n", target.addr);
    let tunnel = format!("CONNECT {} HTTP/1.1\r\n", target.addr);
    assert!(
        first.starts_with(&absolute) || first.starts_with(&tunnel),
        "{first}"
    );
    let basic = (
        "proxy-authorization".to_owned(),
        "Basic dXNlcjpzZWNyZXQ=".to_owned(),
    );
    assert!(header_lines(first).contains(&basic), "{first}");
    for tunnelled in recorded.iter().filter(|r| r.starts_with("GET /")) {
        assert!(
            !tunnelled.to_lowercase().contains("proxy-authorization"),
            "{tunnelled}"
        );
    }

    // https targets are tunnelled (the recorder speaks no TLS, so the handshake fails).
    let before = proxy.requests().len();
    let outcome = t
        .send(get("https://example.test/"), Some(Duration::from_secs(5)))
        .await;
    // ureq reports a handshake cut short as an I/O end of file, which it cannot tell from a
    // reset mid-response; the hyper transport knows it never sent the request.
    let expected = match k {
        Kind::Hyper => TransportErrorKind::Connect,
        Kind::Ureq | Kind::Blocking => TransportErrorKind::Reset,
    };
    assert_eq!(kind(&outcome), expected, "{outcome:?}");
    assert!(
        proxy.requests()[before].starts_with("CONNECT example.test:443 HTTP/1.1\r\n"),
        "{:?}",
        proxy.requests()
    );

    // Hosts in `no_proxy` are reached directly.
    let direct = k.make(NativeConfig {
        proxy: Proxy::Http {
            url: proxy.url(""),
            no_proxy: "localhost, 127.0.0.0/8".into(),
        },
        ..NativeConfig::default()
    });
    let before = proxy.requests().len();
    let outcome = direct.send(get(&target.url("/get")), None).await;
    assert_eq!(json(&outcome)["args"], serde_json::json!({}));
    assert_eq!(proxy.requests().len(), before);
}

async fn huge_timeouts_do_not_panic(k: Kind) {
    let server = chaos();
    let t = k.make(NativeConfig {
        timeout: Some(Duration::MAX),
        connect_timeout: Some(Duration::MAX),
        read_timeout: Some(Duration::MAX),
        write_timeout: Some(Duration::MAX),
        idle_timeout: Duration::MAX,
        ..NativeConfig::default()
    });
    let response = t.send(get(&server.url("/get")), None).await.unwrap();
    assert_eq!(response.status(), 200);
    let response = t
        .send(get(&server.url("/get")), Some(Duration::MAX))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn an_invalid_user_agent_is_a_config_error_not_a_panic(k: Kind) {
    let server = chaos();
    for user_agent in ["evil\r\nX-Injected: 1", "bell\x07", "nul\0"] {
        let config = NativeConfig {
            user_agent: user_agent.into(),
            ..NativeConfig::default()
        };
        let invalid = match k {
            Kind::Ureq => UreqTransport::try_new(config.clone()).err(),
            Kind::Hyper => HyperTransport::try_new(config.clone()).err(),
            Kind::Blocking => blocking::UreqTransport::try_new(config.clone()).err(),
        };
        assert!(
            matches!(
                invalid,
                Some(ConfigError::InvalidValue {
                    field: "native.user_agent",
                    ..
                })
            ),
            "{invalid:?}"
        );
        // `new` never panics either: every attempt fails, naming the problem.
        let t = match k {
            Kind::Ureq => support::AnyTransport::Ureq(UreqTransport::new(config)),
            Kind::Hyper => support::AnyTransport::Hyper(HyperTransport::new(config)),
            Kind::Blocking => support::AnyTransport::Blocking(blocking::UreqTransport::new(config)),
        };
        let error = t.send(get(&server.url("/get")), None).await.unwrap_err();
        assert_eq!(error.kind, TransportErrorKind::InvalidRequest);
        assert!(error.message.contains("native.user_agent"), "{error}");
    }
    let counts = json(
        &k.default_transport()
            .send(get(&server.url("/count")), None)
            .await,
    );
    assert_eq!(counts["requests"], 1, "nothing was sent: {counts}");
}

// ---------------------------------------------------------------------------------------------
// Outside tokio: typed errors, never panics.

fn async_transports() -> [(Kind, support::AnyTransport); 2] {
    [Kind::Ureq, Kind::Hyper].map(|k| (k, k.default_transport()))
}

#[test]
fn sending_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    for (k, t) in async_transports() {
        let outcome = futures::executor::block_on(t.send(get("http://127.0.0.1:1/"), None));
        let error = outcome.unwrap_err();
        assert_eq!(error.kind, TransportErrorKind::Other, "{k:?}");
        assert!(error.message.contains("tokio runtime"), "{k:?}: {error}");
    }
}

#[test]
fn a_runtime_without_timers_or_io_is_an_error_not_a_panic() {
    let server = chaos();
    let no_time = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let no_io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    for (k, t) in async_transports() {
        for (runtime, driver) in [(&no_time, "enable_time"), (&no_io, "enable_io")] {
            let outcome = runtime.block_on(t.send(get(&server.url("/get")), None));
            match (k, outcome) {
                // The hyper transport needs both drivers and says which is missing.
                (Kind::Hyper, outcome) => {
                    let error = outcome.unwrap_err();
                    assert_eq!(error.kind, TransportErrorKind::Other);
                    assert!(error.message.contains(driver), "{error}");
                }
                // The ureq transport needs neither until it has to wait for a slot.
                (Kind::Ureq, outcome) => assert_eq!(outcome.unwrap().status(), 200),
                (Kind::Blocking, _) => unreachable!("not an async transport"),
            }
        }
    }
}

#[test]
fn the_blocking_transport_needs_no_tokio() {
    let server = chaos();
    let t = blocking::UreqTransport::default();
    // A plain thread, no runtime anywhere: the attempt runs when `block_on` polls it.
    let outcome = blocking::block_on(t.send(get(&server.url("/get")), None));
    assert_eq!(outcome.unwrap().status(), 200);
    // Polled by another executor, it runs the same way (it blocks that executor's thread).
    let outcome = futures::executor::block_on(t.send(get(&server.url("/get")), None));
    assert_eq!(outcome.unwrap().status(), 200);
}

// ---------------------------------------------------------------------------------------------
// One transport only.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ureq_blocking_work_is_bounded() {
    let server = chaos();
    let t = UreqTransport::new(NativeConfig {
        max_blocking: Some(2),
        ..NativeConfig::default()
    });
    assert_eq!(t.available_slots(), 2);
    let took = six_slow_gets(&t, &server).await;
    // Two at a time: three waves of 300 ms. A lower bound only; machines are noisy.
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert_eq!(t.available_slots(), 2);
}

/// Six GETs of 300 ms each at once through `t`, all answered 200: how long they took.
async fn six_slow_gets(t: &impl Transport, server: &tether_chaos::ChaosHandle) -> Duration {
    let clock = TokioRuntime::new();
    let started = clock.now();
    let attempts = (0..6).map(|_| t.send(get(&server.url("/delay/300")), None));
    let outcomes = futures::future::join_all(attempts).await;
    let took = clock.now().saturating_duration_since(started);
    for outcome in &outcomes {
        assert_eq!(outcome.as_ref().unwrap().status(), 200);
    }
    took
}

#[tokio::test]
async fn ureq_waiting_for_a_blocking_slot_counts_against_the_attempt_timeout() {
    let server = chaos();
    let t = UreqTransport::new(NativeConfig {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_cancelling_an_attempt_frees_its_slot_and_closes_its_connection() {
    let silent = Recorder::start(Reply::Silent);
    let t = HyperTransport::try_new(NativeConfig {
        max_attempts_per_host: 1,
        ..NativeConfig::default()
    })
    .unwrap();
    let url = silent.url("/never");
    let uri: http::Uri = url.parse().unwrap();
    // Dropped after 200 ms, long before its own 30 s limit.
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        t.send(get(&url), Some(Duration::from_secs(30))),
    )
    .await;
    assert!(dropped.is_err(), "still waiting when dropped");
    assert_eq!(
        t.available_attempt_slots(&uri),
        Some(1),
        "slot back at once"
    );
    // The connection, which can no longer carry another request, is closed (soon: the wait is
    // generous for a loaded machine, and ends as soon as the server sees it).
    for _ in 0..500 {
        if silent.closed() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(silent.closed(), 1, "the server saw the connection close");
    assert_eq!(t.available_connection_slots(&uri), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_connections_per_host_are_bounded() {
    let server = chaos();
    let t = HyperTransport::try_new(NativeConfig {
        max_connections_per_host: 2,
        ..NativeConfig::default()
    })
    .unwrap();
    let took = six_slow_gets(&t, &server).await;
    // Two connections, three waves of 300 ms (a lower bound only).
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    let counts = json(&t.send(get(&server.url("/count")), None).await);
    assert!(counts["connections"].as_u64().unwrap() <= 2, "{counts}");
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
