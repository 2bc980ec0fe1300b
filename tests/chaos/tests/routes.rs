//! Exercises every route of the chaos upstream over real loopback HTTP.

// Test code doing real I/O: it reads clocks and spawns tasks, which the core may not.
#![allow(clippy::disallowed_methods)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tether_chaos::{ChaosHandle, ChaosOptions, spawn_background};
use ureq::Agent;

fn server() -> ChaosHandle {
    spawn_background(ChaosOptions::default())
}

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// A fully read response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

fn read(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let resp = resp.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().read_to_string().expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

fn get(agent: &Agent, url: &str) -> Reply {
    read(agent.get(url).call())
}

fn hits(server: &ChaosHandle, key: &str) -> u64 {
    get(&agent(), &server.url(&format!("/count/{key}"))).json()["hits"]
        .as_u64()
        .unwrap()
}

/// Sends `request` on a fresh socket and returns every byte received until the server
/// closes (or resets) the connection.
fn raw_exchange(server: &ChaosHandle, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("raw read failed: {e}"),
        }
    }
    received
}

#[test]
fn health_and_unknown_paths() {
    let server = server();
    let a = agent();
    let r = get(&a, &server.url("/health"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "status": "healthy" }));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = get(&a, &server.url("/no/such/route"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["path"], "/no/such/route");
}

#[test]
fn status_route() {
    let server = server();
    let a = agent();
    let r = get(&a, &server.url("/status/418"));
    assert_eq!(r.status, 418);
    assert_eq!(r.json(), json!({ "status": 418 }));
    let r = read(a.post(server.url("/status/500")).send("x"));
    assert_eq!(r.status, 500);
    let r = get(&a, &server.url("/status/204"));
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = get(
        &a,
        &server.url("/status/503?body=down%20for%20a%20bit&retry_after=5"),
    );
    assert_eq!((r.status, r.body.as_str()), (503, "down for a bit"));
    assert_eq!(r.header("retry-after"), Some("5"));
    let r = get(&a, &server.url("/status/302?location=/get"));
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/get"));
    assert_eq!(get(&a, &server.url("/status/99")).status, 400);
    assert_eq!(get(&a, &server.url("/status/600")).status, 400);
    assert_eq!(get(&a, &server.url("/status/abc")).status, 400);
}

#[test]
fn delay_route_waits() {
    let server = server();
    let a = agent();
    let start = Instant::now();
    let r = get(&a, &server.url("/delay/300?x=1"));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["delay_ms"], 300);
    assert_eq!(body["args"], json!({ "x": "1" }));
    assert_eq!(body["origin"], "127.0.0.1");
}

#[test]
fn flaky_fails_n_times_then_succeeds() {
    let server = server();
    let a = agent();
    let url = server.url("/flaky/fl1?fail=2&status=429&retry_after=3");
    for attempt in 1..=2 {
        let r = get(&a, &url);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(
            r.json(),
            json!({ "key": "fl1", "attempt": attempt, "failing": true })
        );
    }
    for attempt in 3..=4 {
        let r = get(&a, &url);
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({ "key": "fl1", "attempt": attempt }));
    }
    assert_eq!(hits(&server, "fl1"), 4);
    // Defaults: one failure with 503, no Retry-After; keys are independent.
    let r = get(&a, &server.url("/flaky/fl2"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(get(&a, &server.url("/flaky/fl2")).status, 200);
    assert_eq!(get(&a, &server.url("/flaky/fl3?fail=0")).status, 200);
    assert_eq!(get(&a, &server.url("/flaky/fl4?fail=x")).status, 400);
}

#[test]
fn reset_drops_the_connection_mid_body() {
    let server = server();
    // A client sees an error: the body is announced as 1024 bytes, only 16 arrive.
    let a = agent();
    let outcome = a
        .get(server.url("/reset?key=rs1"))
        .call()
        .and_then(|resp| resp.into_body().read_to_string());
    assert!(outcome.is_err(), "expected an error, got {outcome:?}");
    // On the wire: a status line and headers, then a truncated body and a closed socket.
    let raw = raw_exchange(
        &server,
        "GET /reset?key=rs1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("content-length: 1024\r\n"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(body, "partial-body-16\n");
    assert_eq!(hits(&server, "rs1"), 2);
}

#[test]
fn reset_before_headers_sends_nothing() {
    let server = server();
    let a = agent();
    let outcome = a.get(server.url("/reset?at=headers&key=rs2")).call();
    assert!(outcome.is_err(), "expected an error, got {outcome:?}");
    let raw = raw_exchange(
        &server,
        "GET /reset?at=headers&key=rs2 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(hits(&server, "rs2"), 2);
}

#[test]
fn slow_body_streams_chunks() {
    let server = server();
    let a = agent();
    let start = Instant::now();
    let resp = a
        .get(server.url("/slow-body?chunks=3&interval_ms=400&chunk_size=4"))
        .call()
        .unwrap();
    let headers_after = start.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("chunked")
    );
    let body = resp.into_body().read_to_string().unwrap();
    let total = start.elapsed();
    assert_eq!(body, "aaa\nbbb\nccc\n");
    assert!(total >= Duration::from_millis(800), "{total:?}");
    assert!(
        headers_after < Duration::from_millis(700),
        "headers took {headers_after:?}"
    );
    // With a declared length.
    let r = get(
        &a,
        &server.url("/slow-body?chunks=2&interval_ms=10&chunk_size=5&content_length=1"),
    );
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.body, "aaaa\nbbbb\n");
    assert_eq!(get(&a, &server.url("/slow-body?chunks=-1")).status, 400);
}

#[test]
fn retry_after_seconds() {
    let server = server();
    let a = agent();
    let r = get(&a, &server.url("/retry-after/7"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("7"));
    // Without a key it never succeeds.
    assert_eq!(get(&a, &server.url("/retry-after/7")).status, 503);
    let r = get(&a, &server.url("/retry-after/0?status=429"));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("0"));
    // Malformed values pass through verbatim.
    let r = get(&a, &server.url("/retry-after/soon"));
    assert_eq!(r.header("retry-after"), Some("soon"));
    // Scripted: two failures, then success.
    let url = server.url("/retry-after/1?status=429&key=ra1&fail=2");
    assert_eq!(get(&a, &url).status, 429);
    assert_eq!(get(&a, &url).status, 429);
    let r = get(&a, &url);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "key": "ra1", "attempt": 3 }));
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(hits(&server, "ra1"), 3);
}

#[test]
fn retry_after_http_date() {
    let server = server();
    let a = agent();
    let now = SystemTime::now();
    let r = get(&a, &server.url("/retry-after-date/120"));
    assert_eq!(r.status, 503);
    let date = httpdate::parse_http_date(r.header("retry-after").unwrap()).unwrap();
    let ahead = date.duration_since(now).unwrap();
    assert!(
        ahead > Duration::from_secs(110) && ahead <= Duration::from_secs(121),
        "{ahead:?}"
    );
    let r = get(&a, &server.url("/retry-after-date/-60?status=429"));
    assert_eq!(r.status, 429);
    let date = httpdate::parse_http_date(r.header("retry-after").unwrap()).unwrap();
    assert!(date < now);
    let url = server.url("/retry-after-date/1?key=rd1&fail=1");
    assert_eq!(get(&a, &url).status, 503);
    assert_eq!(get(&a, &url).status, 200);
}

#[test]
fn etag_validation() {
    let server = server();
    let a = agent();
    let url = server.url("/etag/e1");
    let r = get(&a, &url);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"v1-e1\""));
    assert_eq!(r.header("cache-control"), Some("max-age=0"));
    assert_eq!(
        r.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    assert_eq!(
        r.json(),
        json!({ "key": "e1", "version": 1, "etag": "\"v1-e1\"" })
    );

    let cond = |name: &str, value: &str| read(a.get(&url).header(name, value).call());
    let r = cond("If-None-Match", "\"v1-e1\"");
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    assert_eq!(r.header("etag"), Some("\"v1-e1\""));
    assert_eq!(cond("If-None-Match", "W/\"v1-e1\"").status, 304);
    assert_eq!(cond("If-None-Match", "\"x\", \"v1-e1\"").status, 304);
    assert_eq!(cond("If-None-Match", "*").status, 304);
    assert_eq!(cond("If-None-Match", "\"v0-e1\"").status, 200);
    assert_eq!(
        cond("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT").status,
        304
    );
    assert_eq!(
        cond("If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT").status,
        304
    );
    assert_eq!(
        cond("If-Modified-Since", "Mon, 13 Nov 2023 00:00:00 GMT").status,
        200
    );

    // A new version invalidates the old validator.
    let bumped = get(&a, &server.url("/admin/bump/e1")).json();
    assert_eq!(bumped["version"], 2);
    let r = cond("If-None-Match", "\"v1-e1\"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"v2-e1\""));
    assert_eq!(
        r.header("last-modified"),
        Some("Tue, 14 Nov 2023 23:13:20 GMT")
    );
    assert_eq!(
        cond("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT").status,
        200
    );

    let r = get(&a, &server.url("/etag/e2?max_age=30"));
    assert_eq!(r.header("cache-control"), Some("max-age=30"));
    // Admin calls are not counted; the eleven /etag/e1 requests are.
    assert_eq!(hits(&server, "e1"), 11);
}

#[test]
fn cache_routes_policies_and_counters() {
    let server = server();
    let a = agent();
    let cases = [
        ("/cache/60", "max-age=60"),
        ("/cache/no-store", "no-store"),
        ("/cache/no-cache", "no-cache"),
        ("/cache/swr/1/30", "max-age=1, stale-while-revalidate=30"),
        ("/cache/sie/0/600", "max-age=0, stale-if-error=600"),
    ];
    for (path, policy) in cases {
        for counter in 1..=2 {
            let r = get(&a, &server.url(&format!("{path}?key=c1")));
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("cache-control"), Some(policy), "{path}");
            let body = r.json();
            assert_eq!(body["counter"], counter, "{path}");
            assert_eq!(body["path"], path);
            assert_eq!(body["key"], "c1");
            assert_eq!(body["cache_control"], policy);
        }
    }
    // Counters are per path and key.
    assert_eq!(
        get(&a, &server.url("/cache/60?key=c2")).json()["counter"],
        1
    );
    assert_eq!(get(&a, &server.url("/cache/60")).json()["counter"], 1);
    assert_eq!(
        get(&a, &server.url("/cache/61?key=c1")).json()["counter"],
        1
    );
    assert_eq!(hits(&server, "c1"), 11);
    assert_eq!(get(&a, &server.url("/cache/abc")).status, 400);
}

#[test]
fn down_switches() {
    let server = server();
    let a = agent();
    let url = server.url("/cache/sie/0/600?key=d1");
    assert_eq!(get(&a, &url).status, 200);
    let r = get(&a, &server.url("/admin/down/d1?on=1"));
    assert_eq!(r.json()["down"], true);
    let r = get(&a, &url);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["down"], true);
    // Other keys are unaffected; a path key counts as well.
    assert_eq!(get(&a, &server.url("/cache/60?key=d2")).status, 200);
    assert_eq!(get(&a, &server.url("/etag/d1")).status, 503);
    // A custom status.
    get(&a, &server.url("/admin/down/d1?on=1&status=500"));
    assert_eq!(get(&a, &url).status, 500);
    get(&a, &server.url("/admin/down/d1?on=0"));
    let r = get(&a, &url);
    assert_eq!(r.status, 200);
    // The counter moved only when the route itself answered.
    assert_eq!(r.json()["counter"], 2);
    // Down requests are still counted.
    assert_eq!(hits(&server, "d1"), 5);

    // Global switch: every counted route fails; admin and count routes keep working.
    get(&a, &server.url("/admin/down?on=1"));
    assert_eq!(get(&a, &server.url("/health")).status, 503);
    assert_eq!(get(&a, &server.url("/cache/60?key=d3")).status, 503);
    assert_eq!(get(&a, &server.url("/count")).status, 200);
    get(&a, &server.url("/admin/down?on=0"));
    assert_eq!(get(&a, &server.url("/health")).status, 200);
    assert_eq!(get(&a, &server.url("/admin/down?on=maybe")).status, 400);
}

#[test]
fn slow_switches() {
    let server = server();
    let a = agent();
    let timed = |url: &str| {
        let started = Instant::now();
        let r = get(&a, url);
        (r, started.elapsed())
    };
    let url = server.url("/get?key=s1");
    let r = get(&a, &server.url("/admin/slow/s1?ms=300"));
    assert_eq!(r.json(), json!({ "key": "s1", "slow": true, "ms": 300 }));
    let (r, took) = timed(&url);
    assert_eq!(r.status, 200);
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    // A path key counts too, and a down key is still slow before it answers.
    get(&a, &server.url("/admin/down/s1?on=1"));
    let (r, took) = timed(&server.url("/flaky/s1?fail=0"));
    assert_eq!(r.status, 503);
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    get(&a, &server.url("/admin/down/s1?on=0"));
    // Off again: other keys were never slowed (a generous bound: no 300 ms sleep).
    get(&a, &server.url("/admin/slow/s1?ms=0"));
    let (_, took) = timed(&url);
    assert!(took < Duration::from_millis(300), "took {took:?}");
    // Global switch; the longest delay that applies wins; admin routes are never slowed.
    get(&a, &server.url("/admin/slow?ms=200"));
    get(&a, &server.url("/admin/slow/s2?ms=400"));
    let (_, took) = timed(&server.url("/health"));
    assert!(took >= Duration::from_millis(200), "took {took:?}");
    let (_, took) = timed(&server.url("/get?key=s2"));
    assert!(took >= Duration::from_millis(400), "took {took:?}");
    let (r, took) = timed(&server.url("/count"));
    assert_eq!(r.status, 200);
    assert!(took < Duration::from_millis(200), "took {took:?}");
    get(&a, &server.url("/admin/slow?ms=0"));
    // reset-state clears the switches.
    assert_eq!(
        read(a.post(&server.url("/reset-state")).send_empty()).status,
        200
    );
    let (_, took) = timed(&server.url("/get?key=s2"));
    assert!(took < Duration::from_millis(400), "took {took:?}");
    assert_eq!(get(&a, &server.url("/admin/slow/s1?ms=x")).status, 400);
}

#[test]
fn vary_echoes_the_varied_header() {
    let server = server();
    let a = agent();
    let r = read(
        a.get(server.url("/vary"))
            .header("Accept", "text/csv")
            .call(),
    );
    assert_eq!(r.header("vary"), Some("Accept"));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    assert_eq!(r.json()["value"], "text/csv");
    assert_eq!(r.json()["counter"], 1);
    let r = read(
        a.get(server.url("/vary?on=X-Lang&max_age=5"))
            .header("X-Lang", "fr")
            .call(),
    );
    assert_eq!(r.header("vary"), Some("X-Lang"));
    assert_eq!(r.header("cache-control"), Some("max-age=5"));
    assert_eq!(
        r.json(),
        json!({ "vary": "X-Lang", "value": "fr", "counter": 1 })
    );
    let r = get(&a, &server.url("/vary?on=X-Lang"));
    assert_eq!(r.json()["value"], Value::Null);
    assert_eq!(r.json()["counter"], 2);
}

#[test]
fn echo_reflects_the_request() {
    let server = server();
    let a = agent();
    let r = read(
        a.put(server.url("/echo?a=1&b=two"))
            .header("X-Custom", "Yes")
            .send("hello body"),
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], "a=1&b=two");
    assert_eq!(body["headers"]["x-custom"], "Yes");
    assert_eq!(body["body"], "hello body");
    assert_eq!(body["body_len"], 10);
    let r = read(a.delete(server.url("/echo")).call());
    assert_eq!(r.json()["method"], "DELETE");
    assert_eq!(r.json()["body_len"], 0);
}

#[test]
fn httpbin_shapes() {
    let server = server();
    let a = agent();
    let r = read(
        a.get(server.url("/get?x=1&x=2&y=3"))
            .header("X-Thing", "v")
            .call(),
    );
    let body = r.json();
    assert_eq!(body["args"], json!({ "x": ["1", "2"], "y": "3" }));
    assert_eq!(body["headers"]["X-Thing"], "v");
    assert_eq!(body["origin"], "127.0.0.1");
    assert_eq!(
        body["url"],
        format!("http://{}/get?x=1&x=2&y=3", server.addr)
    );

    let r = read(a.post(server.url("/post?q=1")).send_json(json!({ "n": 5 })));
    let body = r.json();
    assert_eq!(body["json"], json!({ "n": 5 }));
    let data: Value = serde_json::from_str(body["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({ "n": 5 }));
    assert_eq!(body["args"], json!({ "q": "1" }));
    assert_eq!(body["form"], json!({}));

    let r = read(
        a.post(server.url("/post"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("a=1&b=hello+world"),
    );
    let body = r.json();
    assert_eq!(body["form"], json!({ "a": "1", "b": "hello world" }));
    assert_eq!(body["data"], "");
    assert_eq!(body["json"], Value::Null);

    assert_eq!(
        read(a.put(server.url("/put")).send("x")).json()["data"],
        "x"
    );
    assert_eq!(
        read(a.patch(server.url("/patch")).send("y")).json()["method"],
        "PATCH"
    );
    assert_eq!(read(a.delete(server.url("/delete")).call()).status, 200);
    assert_eq!(
        read(a.post(server.url("/anything/deep/path")).send("z")).json()["method"],
        "POST"
    );
    assert_eq!(get(&a, &server.url("/post")).status, 405);
}

#[test]
fn auth_fingerprints_without_leaking() {
    let server = server();
    let a = agent();
    let url = server.url("/auth/au1");
    let r = get(&a, &url);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let with = |cred: &str| read(a.get(&url).header("Authorization", cred).call());
    let alice = with("Bearer alice-secret-token");
    let bob = with("Bearer bob-secret-token");
    let alice_again = with("Bearer alice-secret-token");
    assert_eq!(alice.status, 200);
    assert_eq!(alice.header("cache-control"), Some("max-age=60"));
    assert_eq!(alice.json()["scheme"], "Bearer");
    assert_eq!(alice.json()["authenticated"], true);
    assert_ne!(alice.body, bob.body);
    assert_eq!(alice.body, alice_again.body);
    assert!(!alice.body.contains("alice-secret-token"));
    assert!(!bob.body.contains("bob-secret-token"));
    assert_eq!(alice.json()["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(hits(&server, "au1"), 4);
}

#[test]
fn json_small_fixture() {
    let server = server();
    let a = agent();
    let r = get(&a, &server.url("/json/small"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    assert!((150..=250).contains(&r.body.len()), "{}", r.body.len());
    assert_eq!(get(&a, &server.url("/json/small")).body, r.body);
    // Any route: `?cache_control=` overrides the policy.
    let r = get(&a, &server.url("/json/small?cache_control=no-store"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn counts_connections_and_requests() {
    let server = server();
    let a = agent();
    // Two requests over one keep-alive agent: one connection.
    assert_eq!(get(&a, &server.url("/echo?key=k1")).status, 200);
    assert_eq!(get(&a, &server.url("/get?key=k1")).status, 200);
    let count = get(&a, &server.url("/count/k1")).json();
    assert_eq!(
        count,
        json!({ "key": "k1", "hits": 2, "connections": 1, "requests": 3 })
    );
    // Another agent opens another connection.
    let b = agent();
    let count = get(&b, &server.url("/count")).json();
    assert_eq!(count, json!({ "connections": 2, "requests": 4 }));
    // A path key and a query key are both counted; the same key once per request.
    get(&a, &server.url("/flaky/k2?key=k3&fail=0"));
    get(&a, &server.url("/flaky/k2?key=k2&fail=0"));
    assert_eq!(hits(&server, "k2"), 2);
    assert_eq!(hits(&server, "k3"), 1);
    assert_eq!(hits(&server, "never-used"), 0);
}

#[test]
fn reset_state_clears_everything() {
    let server = server();
    let a = agent();
    get(&a, &server.url("/flaky/z1?fail=1"));
    get(&a, &server.url("/cache/60?key=z1"));
    get(&a, &server.url("/admin/down/z2?on=1"));
    assert_eq!(hits(&server, "z1"), 2);
    assert_eq!(get(&a, &server.url("/reset-state")).status, 405);
    let r = read(a.post(server.url("/reset-state")).send_empty());
    assert_eq!(r.json(), json!({ "reset": true }));
    assert_eq!(hits(&server, "z1"), 0);
    // Attempts, counters and switches start over.
    assert_eq!(get(&a, &server.url("/flaky/z1?fail=1")).status, 503);
    assert_eq!(
        get(&a, &server.url("/cache/60?key=z1")).json()["counter"],
        1
    );
    assert_eq!(get(&a, &server.url("/health?key=z2")).status, 200);
}

#[test]
fn cors_headers_and_preflight() {
    let server = spawn_background(ChaosOptions::default().with_cors(true));
    let a = agent();
    let r = read(
        a.options(server.url("/flaky/co1?fail=1"))
            .header("Origin", "http://example.test")
            .header("Access-Control-Request-Method", "PUT")
            .header("Access-Control-Request-Headers", "authorization, x-a")
            .call(),
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("*, authorization, x-a")
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("PUT")
    );
    // The preflight neither counted nor consumed the scripted failure.
    assert_eq!(hits(&server, "co1"), 0);
    let r = get(&a, &server.url("/flaky/co1?fail=1"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-expose-headers"), Some("*"));
    assert_eq!(r.header("access-control-allow-headers"), Some("*"));
    // A plain OPTIONS (no preflight headers) reaches the route.
    let r = read(a.options(server.url("/echo")).call());
    assert_eq!(r.json()["method"], "OPTIONS");

    // Without the option, no CORS headers.
    let plain = self::server();
    let r = get(&a, &plain.url("/health"));
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn shutdown_stops_listening() {
    let server = server();
    let addr = server.addr;
    assert_eq!(get(&agent(), &server.url("/health")).status, 200);
    assert_eq!(server.base_url(), format!("http://{addr}"));
    server.shutdown();
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn serve_in_an_existing_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(tether_chaos::serve_with_shutdown(
            listener,
            ChaosOptions::default(),
            async {
                let _ = stopped.await;
            },
        ));
        let reply = tokio::task::spawn_blocking(move || {
            get(&agent(), &format!("http://{addr}/health")).status
        })
        .await
        .unwrap();
        assert_eq!(reply, 200);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
}
