//! Cache state-machine tests on virtual time.

#![expect(
    clippy::field_reassign_with_default,
    reason = "tests tweak one or two fields of a default config"
)]

use super::*;

const T0: u64 = 1_700_000_000;

fn t(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn w(s: u64) -> WallClock {
    WallClock::from_unix_secs(T0 + s)
}

fn req(uri: &str) -> Request {
    req_h("GET", uri, &[])
}

fn req_h(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::new()).unwrap()
}

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::copy_from_slice(body.as_bytes())).unwrap()
}

/// The default configuration, but with a five-minute lifetime for responses that carry no
/// freshness information (the default assumes none), for tests that store such responses.
fn ttl_config() -> CacheConfig {
    CacheConfig {
        default_ttl: Duration::from_mins(5),
        ..CacheConfig::default()
    }
}

fn cache(cfg: CacheConfig) -> Cache {
    Cache::new(cfg, 42).unwrap()
}

#[track_caller]
fn expect_miss(l: Lookup) -> Fill {
    match l {
        Lookup::Miss(f) => f,
        other => panic!("expected Miss, got {other:?}"),
    }
}

#[track_caller]
fn expect_fresh(l: Lookup) -> Arc<CachedResponse> {
    match l {
        Lookup::Fresh(r) => r,
        other => panic!("expected Fresh, got {other:?}"),
    }
}

#[track_caller]
fn expect_stored(r: StoreResult) -> Arc<CachedResponse> {
    match r {
        StoreResult::Stored(a) => a,
        other => panic!("expected Stored, got {other:?}"),
    }
}

/// Miss, then store `response` at `at`.
fn fill(c: &mut Cache, at: u64, rq: &Request, response: &Response) -> StoreResult {
    let f = expect_miss(c.lookup(t(at), rq, 0));
    c.on_response(t(at), w(at), f, rq, response)
}

fn drain(c: &mut Cache) -> Vec<FlightEvent> {
    std::iter::from_fn(|| c.poll_flight_event()).collect()
}

#[test]
fn miss_store_hit_and_stats() {
    let mut c = cache(ttl_config());
    let rq = req("http://h/p?b=2&a=1");
    let stored = expect_stored(fill(&mut c, 0, &rq, &resp(200, &[], "hello")));
    assert_eq!(stored.body().as_ref(), b"hello");
    let hit = expect_fresh(c.lookup(t(10), &req("http://H/p?a=1&b=2"), 1));
    assert!(Arc::ptr_eq(&stored, &hit));
    assert_eq!(hit.age(t(10)), Duration::from_secs(10));
    let out = hit.to_response(t(10));
    assert_eq!(out.status(), 200);
    assert_eq!(out.headers()[AGE], "10");
    assert_eq!(out.body().as_ref(), b"hello");
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.stores, s.entries), (1, 1, 1, 1));
    assert!(s.bytes > 5 + ENTRY_OVERHEAD);
    assert!((s.hit_ratio() - 0.5).abs() < 1e-12);
    assert_eq!(c.flights_in_progress(), 0);
}

#[test]
fn default_ttl_applies_without_explicit_freshness_and_max_age_wins() {
    let mut c = cache(ttl_config());
    let a = req("http://h/a");
    let b = req("http://h/b");
    expect_stored(fill(&mut c, 0, &a, &resp(200, &[], "")));
    expect_stored(fill(
        &mut c,
        0,
        &b,
        &resp(200, &[("cache-control", "max-age=10")], ""),
    ));
    expect_fresh(c.lookup(t(299), &a, 0));
    let _ = expect_miss(c.lookup(t(300), &a, 0));
    expect_fresh(c.lookup(t(9), &b, 0));
    let _ = expect_miss(c.lookup(t(10), &b, 0));
}

#[test]
fn date_and_age_headers_shorten_freshness() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    // Date 30 s before receipt, Age 50, max-age 60: initial age 50, fresh for 10 more s.
    let date = httpdate::fmt_http_date(w(0).to_system_time());
    let f = expect_miss(c.lookup(t(30), &rq, 0));
    let r = resp(
        200,
        &[
            ("date", &date),
            ("age", "50"),
            ("cache-control", "max-age=60"),
        ],
        "",
    );
    let stored = expect_stored(c.on_response(t(30), w(30), f, &rq, &r));
    assert_eq!(stored.freshness().initial_age, Duration::from_secs(50));
    expect_fresh(c.lookup(t(39), &rq, 0));
    let _ = expect_miss(c.lookup(t(40), &rq, 0));
}

#[test]
fn ttl_only_is_not_sliding() {
    let cfg = CacheConfig {
        mode: FreshnessMode::TtlOnly,
        default_ttl: Duration::from_secs(1),
        ..CacheConfig::default()
    };
    let mut c = cache(cfg);
    let rq = req("http://h/p");
    // Headers are ignored in TtlOnly.
    expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(200, &[("cache-control", "max-age=0, must-revalidate")], ""),
    ));
    // A TTL that slid on every read would never expire under a read every 0.6 s; ours
    // expires 1 s after storage.
    expect_fresh(c.lookup(Timestamp::from_millis(600), &rq, 0));
    let _ = expect_miss(c.lookup(Timestamp::from_millis(1_200), &rq, 0));
}

#[test]
fn no_store_and_bypasses() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    assert!(matches!(
        fill(
            &mut c,
            0,
            &rq,
            &resp(200, &[("cache-control", "private, No-Store")], "")
        ),
        StoreResult::NotStored(NotStoredReason::NoStore)
    ));
    assert!(c.is_empty());
    for h in [
        ("cache-control", "no-store"),
        ("range", "bytes=0-1"),
        ("if-none-match", "\"x\""),
        ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ] {
        assert!(
            matches!(
                c.lookup(t(0), &req_h("GET", "http://h/p", &[h]), 0),
                Lookup::Bypass
            ),
            "{h:?}"
        );
    }
    let mut off = CacheConfig::default();
    off.enabled = false;
    let mut c = cache(off);
    assert!(matches!(c.lookup(t(0), &rq, 0), Lookup::Bypass));
    assert_eq!(c.stats().bypasses, 1);
    assert!(!c.stats().enabled);
}

#[test]
fn private_responses_and_authorized_requests_are_stored() {
    let mut c = cache(CacheConfig::default());
    let rq = req_h("GET", "http://h/me", &[("authorization", "Bearer alice")]);
    expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(200, &[("cache-control", "private, max-age=60")], "alice"),
    ));
    expect_fresh(c.lookup(t(1), &rq, 0));
}

#[test]
fn two_credentials_never_share_an_entry_and_secrets_are_not_stored() {
    let mut c = cache(ttl_config());
    let alice = req_h(
        "GET",
        "http://h/me",
        &[("authorization", "Bearer SECRET-ALICE-7f3a")],
    );
    let bob = req_h(
        "GET",
        "http://h/me",
        &[("authorization", "Bearer SECRET-BOB-99c1")],
    );
    let anon = req("http://h/me");
    let cookie = req_h(
        "GET",
        "http://h/me",
        &[("cookie", "session=SECRET-COOKIE-55")],
    );
    let keyed = req("http://user:SECRET-PW-1@h/me?API_KEY=SECRET-QUERY-KEY-3&x=1");
    expect_stored(fill(&mut c, 0, &alice, &resp(200, &[], "alice data")));
    for (i, other) in [&bob, &anon, &cookie, &keyed].into_iter().enumerate() {
        assert_ne!(c.key_for(&alice), c.key_for(other));
        let f = expect_miss(c.lookup(t(1), other, i as u64));
        expect_stored(c.on_response(t(1), w(1), f, other, &resp(200, &[], "other")));
    }
    assert_eq!(c.len(), 5);
    assert_eq!(
        expect_fresh(c.lookup(t(2), &alice, 0)).body().as_ref(),
        b"alice data"
    );
    let dump = format!("{c:?}");
    for secret in [
        "SECRET-ALICE",
        "SECRET-BOB",
        "SECRET-COOKIE",
        "SECRET-PW",
        "SECRET-QUERY-KEY",
    ] {
        assert!(!dump.contains(secret), "{secret} leaked into {dump}");
    }
    assert!(dump.contains("http://h/me?x=1"), "redacted URL kept");
}

#[test]
fn set_cookie_and_hop_by_hop_fields_are_not_stored() {
    let mut c = cache(ttl_config());
    let rq = req("http://h/p");
    let r = resp(
        200,
        &[
            ("set-cookie", "sid=SECRET"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("age", "3"),
            ("x-kept", "yes"),
        ],
        "",
    );
    let s = expect_stored(fill(&mut c, 0, &rq, &r));
    let names: Vec<&str> = s.headers().keys().map(HeaderName::as_str).collect();
    assert_eq!(names, vec!["x-kept"]);
    let mut cfg = ttl_config();
    cfg.strip_set_cookie = false;
    let mut c = cache(cfg);
    let s = expect_stored(fill(&mut c, 0, &rq, &r));
    assert_eq!(s.headers()[SET_COOKIE], "sid=SECRET");
}

#[test]
fn revalidation_304_merges_headers_and_keeps_body() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    let r = resp(
        200,
        &[
            ("cache-control", "max-age=10"),
            ("etag", "\"v1\""),
            ("x-old", "1"),
            ("content-length", "4"),
        ],
        "body",
    );
    expect_stored(fill(&mut c, 0, &rq, &r));
    let f = expect_miss(c.lookup(t(20), &rq, 0));
    let cond = f
        .conditional_headers()
        .expect("validators produce conditional headers");
    assert_eq!(cond[IF_NONE_MATCH], "\"v1\"");
    assert!(cond.get(IF_MODIFIED_SINCE).is_none());
    let mut sent = rq.clone();
    f.apply_conditional(&mut sent);
    assert_eq!(sent.headers()[IF_NONE_MATCH], "\"v1\"");
    let nm = resp(
        304,
        &[
            ("cache-control", "max-age=100"),
            ("etag", "W/\"v1\""),
            ("x-new", "2"),
            ("content-length", "0"),
        ],
        "",
    );
    let merged = match c.on_response(t(21), w(21), f, &rq, &nm) {
        StoreResult::Revalidated(m) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(merged.body().as_ref(), b"body");
    assert_eq!(merged.headers()["x-old"], "1");
    assert_eq!(merged.headers()["x-new"], "2");
    assert_eq!(merged.headers()["cache-control"], "max-age=100");
    assert_eq!(
        merged.headers()[CONTENT_LENGTH],
        "4",
        "Content-Length not updated by 304"
    );
    assert_eq!(merged.stored_at(), t(21));
    assert_eq!(c.stats().revalidations, 1);
    let hit = expect_fresh(c.lookup(t(120), &rq, 0));
    assert!(Arc::ptr_eq(&hit, &merged));
    let _ = expect_miss(c.lookup(t(121), &rq, 0));
}

#[test]
fn last_modified_validator_and_304_edge_cases() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(
            200,
            &[
                ("cache-control", "no-cache"),
                ("last-modified", lm),
                ("etag", "\"a\""),
            ],
            "x",
        ),
    ));
    // no-cache: always revalidate, even when fresh.
    let f = expect_miss(c.lookup(t(1), &rq, 0));
    assert_eq!(f.conditional_headers().unwrap()[IF_MODIFIED_SINCE], lm);
    // 304 with a different ETag: entry dropped.
    let r = c.on_response(t(1), w(1), f, &rq, &resp(304, &[("etag", "\"b\"")], ""));
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::ValidatorMismatch)
    ));
    assert!(c.is_empty());
    // 304 without an entry.
    let f = expect_miss(c.lookup(t(2), &rq, 0));
    assert!(f.conditional_headers().is_none());
    let r = c.on_response(t(2), w(2), f, &rq, &resp(304, &[], ""));
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::NotModifiedWithoutEntry)
    ));
    // no-cache without validators is useless to store.
    let r = fill(
        &mut c,
        3,
        &rq,
        &resp(200, &[("cache-control", "no-cache")], ""),
    );
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::Unusable)
    ));
}

#[test]
fn vary_mismatch_is_a_miss() {
    let mut c = cache(ttl_config());
    let en = req_h("GET", "http://h/p", &[("accept-language", "en")]);
    let de = req_h("GET", "http://h/p", &[("accept-language", "de")]);
    let none = req("http://h/p");
    expect_stored(fill(
        &mut c,
        0,
        &en,
        &resp(200, &[("vary", "Accept-Language")], "hello"),
    ));
    expect_fresh(c.lookup(t(1), &en, 0));
    let f = expect_miss(c.lookup(t(1), &de, 0));
    c.abandon(t(1), f);
    let f = expect_miss(c.lookup(t(1), &none, 0));
    // The new variant replaces the old one (one variant per key).
    expect_stored(c.on_response(
        t(1),
        w(1),
        f,
        &none,
        &resp(200, &[("vary", "accept-language")], "x"),
    ));
    expect_fresh(c.lookup(t(2), &none, 0));
    let f = expect_miss(c.lookup(t(2), &en, 0));
    // Vary: * is never stored.
    let r = c.on_response(t(2), w(2), f, &en, &resp(200, &[("vary", "accept, *")], ""));
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::VaryStar)
    ));
}

fn body_of(n: usize) -> String {
    "x".repeat(n)
}

#[test]
fn lru_evicts_by_bytes() {
    let per = 1000 + ENTRY_OVERHEAD + "http://h/0".len();
    let mut cfg = ttl_config();
    cfg.max_bytes = per * 3 + 10;
    cfg.max_entry_bytes = per * 2;
    let mut c = cache(cfg);
    for i in 0..3 {
        expect_stored(fill(
            &mut c,
            0,
            &req(&format!("http://h/{i}")),
            &resp(200, &[], &body_of(1000)),
        ));
    }
    assert_eq!(c.len(), 3);
    expect_fresh(c.lookup(t(1), &req("http://h/0"), 0));
    expect_stored(fill(
        &mut c,
        1,
        &req("http://h/3"),
        &resp(200, &[], &body_of(1000)),
    ));
    assert_eq!(c.len(), 3);
    assert_eq!(c.stats().evictions, 1);
    assert!(c.bytes() <= per * 3 + 10);
    // h/1 was least recently used.
    let _ = expect_miss(c.lookup(t(2), &req("http://h/1"), 0));
    expect_fresh(c.lookup(t(2), &req("http://h/0"), 0));
    // Too large for max_entry_bytes.
    let r = fill(
        &mut c,
        3,
        &req("http://h/big"),
        &resp(200, &[], &body_of(per * 2)),
    );
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::TooLarge)
    ));
}

#[test]
fn lru_evicts_by_count() {
    let mut cfg = ttl_config();
    cfg.max_entries = 2;
    let mut c = cache(cfg);
    for i in 0..5 {
        expect_stored(fill(
            &mut c,
            i,
            &req(&format!("http://h/{i}")),
            &resp(200, &[], ""),
        ));
        assert!(c.len() <= 2);
    }
    assert_eq!(c.stats().evictions, 3);
    expect_fresh(c.lookup(t(5), &req("http://h/3"), 0));
    expect_fresh(c.lookup(t(5), &req("http://h/4"), 0));
    let _ = expect_miss(c.lookup(t(5), &req("http://h/2"), 0));
}

#[test]
fn single_flight_coalesces_100_misses() {
    let mut c = cache(ttl_config());
    let rq = req("http://h/p");
    let mut leader = None;
    let mut flight = None;
    for ticket in 0..100u64 {
        match c.lookup(t(0), &rq, ticket) {
            Lookup::Miss(f) => {
                assert!(leader.is_none(), "only one leader");
                flight = f.flight();
                leader = Some(f);
            }
            Lookup::Follow(id) => assert_eq!(Some(id), flight),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(c.stats().coalesced, 99);
    assert_eq!(c.stats().misses, 1);
    assert!(drain(&mut c).is_empty());
    let stored =
        expect_stored(c.on_response(t(1), w(1), leader.unwrap(), &rq, &resp(200, &[], "v")));
    let events = drain(&mut c);
    assert_eq!(events.len(), 99);
    let mut tickets: Vec<u64> = events
        .iter()
        .map(|e| match e {
            FlightEvent::Ready { ticket, response } => {
                assert!(Arc::ptr_eq(response, &stored));
                *ticket
            }
            other => panic!("{other:?}"),
        })
        .collect();
    tickets.sort_unstable();
    assert_eq!(tickets, (1..100).collect::<Vec<_>>());
    assert_eq!(c.flights_in_progress(), 0);
    expect_fresh(c.lookup(t(2), &rq, 0));
}

#[test]
fn single_flight_failure_sends_followers_upstream_and_cancel_promotes() {
    // Without hit-for-miss, so that the next misses coalesce again.
    let mut c = cache(CacheConfig {
        hit_for_miss: Duration::ZERO,
        ..ttl_config()
    });
    let rq = req("http://h/p");
    let f = expect_miss(c.lookup(t(0), &rq, 0));
    for ticket in 1..4 {
        assert!(matches!(c.lookup(t(0), &rq, ticket), Lookup::Follow(_)));
    }
    // Uncacheable response: everyone fetches for themselves.
    let r = c.on_response(t(1), w(1), f, &rq, &resp(500, &[], ""));
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::StatusNotCacheable)
    ));
    let events = drain(&mut c);
    assert_eq!(events.len(), 3);
    for e in events {
        match e {
            FlightEvent::FetchYourself { fill, .. } => {
                assert!(fill.flight().is_none());
                c.abandon(t(1), fill);
            }
            other => panic!("{other:?}"),
        }
    }
    // Cancellation promotes the first follower; the others keep waiting on the same flight.
    let f = expect_miss(c.lookup(t(2), &rq, 10));
    let id = f.flight().unwrap();
    assert!(matches!(c.lookup(t(2), &rq, 11), Lookup::Follow(x) if x == id));
    assert!(matches!(c.lookup(t(2), &rq, 12), Lookup::Follow(x) if x == id));
    assert!(matches!(c.lookup(t(2), &rq, 13), Lookup::Follow(x) if x == id));
    assert!(c.leave_flight(id, 13));
    assert!(!c.leave_flight(id, 13));
    c.abandon(t(3), f);
    let mut events = drain(&mut c);
    assert_eq!(events.len(), 1);
    let FlightEvent::FetchYourself { ticket: 11, fill } = events.remove(0) else {
        panic!("first follower promoted")
    };
    assert_eq!(fill.flight(), Some(id));
    let s = expect_stored(c.on_response(t(4), w(4), fill, &rq, &resp(200, &[], "ok")));
    match drain(&mut c).as_slice() {
        [
            FlightEvent::Ready {
                ticket: 12,
                response,
            },
        ] => assert!(Arc::ptr_eq(response, &s)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hit_for_miss_sends_misses_of_an_uncacheable_key_without_queueing() {
    let mut c = cache(ttl_config());
    let rq = req("http://h/p");
    let other = req("http://h/other");
    let f = expect_miss(c.lookup(t(0), &rq, 0));
    assert!(f.flight().is_some(), "a cold key coalesces");
    assert!(matches!(c.lookup(t(0), &rq, 1), Lookup::Follow(_)));
    let r = c.on_response(
        t(1),
        w(1),
        f,
        &rq,
        &resp(200, &[("cache-control", "no-store")], ""),
    );
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::NoStore)
    ));
    assert!(matches!(
        drain(&mut c).as_slice(),
        [FlightEvent::FetchYourself { ticket: 1, .. }]
    ));
    // Within the window: every miss of that key goes out alone, none waits.
    let fills: Vec<Fill> = (10..14)
        .map(|ticket| {
            let f = expect_miss(c.lookup(t(2), &rq, ticket));
            assert!(
                f.flight().is_none(),
                "ticket {ticket} must not lead a flight"
            );
            f
        })
        .collect();
    assert_eq!(c.flights_in_progress(), 0);
    assert_eq!(c.stats().uncoalesced, 4);
    assert_eq!(c.stats().coalesced, 1);
    // Other keys still coalesce.
    let g = expect_miss(c.lookup(t(2), &other, 20));
    assert!(matches!(c.lookup(t(2), &other, 21), Lookup::Follow(_)));
    c.abandon(t(2), g);
    drain(&mut c);
    // Answers to flight-less fills wake nobody; a storable one ends the window.
    let mut fills = fills.into_iter();
    let r = c.on_response(t(3), w(3), fills.next().unwrap(), &rq, &resp(503, &[], ""));
    assert!(matches!(r, StoreResult::NotStored(_)));
    assert!(drain(&mut c).is_empty());
    let stored = expect_stored(c.on_response(
        t(3),
        w(3),
        fills.next().unwrap(),
        &rq,
        &resp(200, &[], "ok"),
    ));
    for f in fills {
        c.abandon(t(3), f);
    }
    assert!(drain(&mut c).is_empty());
    assert!(Arc::ptr_eq(&expect_fresh(c.lookup(t(4), &rq, 30)), &stored));
    // Once it is gone again, misses of the key coalesce again.
    assert!(c.invalidate_url(rq.uri()) > 0);
    let f = expect_miss(c.lookup(t(5), &rq, 40));
    assert!(f.flight().is_some());
    assert!(matches!(c.lookup(t(5), &rq, 41), Lookup::Follow(_)));
    c.abandon(t(5), f);
}

#[test]
fn hit_for_miss_window_expires_and_can_be_turned_off() {
    for (window, alone_at_60) in [(Duration::from_secs(120), true), (Duration::ZERO, false)] {
        let mut c = cache(CacheConfig {
            hit_for_miss: window,
            ..ttl_config()
        });
        let rq = req("http://h/p");
        let f = expect_miss(c.lookup(t(0), &rq, 0));
        let _ = c.on_response(t(0), w(0), f, &rq, &resp(500, &[], ""));
        let f = expect_miss(c.lookup(t(60), &rq, 1));
        assert_eq!(f.flight().is_none(), alone_at_60, "window {window:?}");
        c.abandon(t(60), f);
        // 120 s after the uncacheable answer the window is over.
        let f = expect_miss(c.lookup(t(120), &rq, 2));
        assert!(f.flight().is_some(), "window {window:?}");
        c.abandon(t(120), f);
    }
}

#[test]
fn hit_for_miss_is_not_opened_by_failures_or_the_callers_own_conditions() {
    let mut c = cache(ttl_config());
    let rq = req("http://h/p");
    // A transport failure: followers fetch themselves, but the next miss coalesces.
    let f = expect_miss(c.lookup(t(0), &rq, 0));
    assert!(c.on_error(t(1), f, &rq).is_none());
    let f = expect_miss(c.lookup(t(2), &rq, 1));
    assert!(f.flight().is_some());
    // A 304 that matches no stored entry is not the response's fault either.
    let _ = c.on_response(t(2), w(2), f, &rq, &resp(304, &[], ""));
    let f = expect_miss(c.lookup(t(3), &rq, 2));
    assert!(f.flight().is_some());
    c.abandon(t(3), f);
    assert_eq!(c.stats().uncoalesced, 0);
}

#[test]
fn hit_for_miss_marks_are_bounded() {
    let mut c = cache(ttl_config());
    let n = super::flight::Uncacheable::MAX_KEYS + 10;
    for i in 0..n {
        let rq = req(&format!("http://h/{i}"));
        let f = expect_miss(c.lookup(t(0), &rq, 0));
        let _ = c.on_response(t(0), w(0), f, &rq, &resp(500, &[], ""));
        assert!(c.uncacheable.len() <= super::flight::Uncacheable::MAX_KEYS);
    }
    // The newest mark survives the bound.
    let rq = req(&format!("http://h/{}", n - 1));
    let f = expect_miss(c.lookup(t(1), &rq, 1));
    assert!(f.flight().is_none());
    c.abandon(t(1), f);
    // At the bound, expired marks go first and the live ones stay.
    let mut c = cache(ttl_config());
    for i in 0..super::flight::Uncacheable::MAX_KEYS {
        let rq = req(&format!("http://h/{i}"));
        let f = expect_miss(c.lookup(t(0), &rq, 0));
        let _ = c.on_response(t(0), w(0), f, &rq, &resp(500, &[], ""));
    }
    let late = req("http://h/late");
    let f = expect_miss(c.lookup(t(200), &late, 0));
    let _ = c.on_response(t(200), w(200), f, &late, &resp(500, &[], ""));
    assert_eq!(c.uncacheable.len(), 1);
}

#[test]
fn followers_of_a_varying_response_relookup() {
    let mut c = cache(ttl_config());
    let rq = req_h("GET", "http://h/p", &[("accept-encoding", "gzip")]);
    let f = expect_miss(c.lookup(t(0), &rq, 0));
    assert!(matches!(c.lookup(t(0), &rq, 1), Lookup::Follow(_)));
    expect_stored(c.on_response(
        t(1),
        w(1),
        f,
        &rq,
        &resp(200, &[("vary", "accept-encoding")], ""),
    ));
    assert!(matches!(
        drain(&mut c).as_slice(),
        [FlightEvent::Relookup { ticket: 1 }]
    ));
    expect_fresh(c.lookup(t(1), &rq, 1));
}

#[test]
fn stale_if_error_served_while_upstream_fails() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(
            200,
            &[("cache-control", "max-age=10, stale-if-error=60")],
            "old",
        ),
    ));
    // Stale at 30 s: leader plus a follower; the upstream fails.
    let f = expect_miss(c.lookup(t(30), &rq, 0));
    assert!(matches!(c.lookup(t(30), &rq, 1), Lookup::Follow(_)));
    let served = c.on_error(t(31), f, &rq).expect("within stale-if-error");
    assert_eq!(served.body().as_ref(), b"old");
    match drain(&mut c).as_slice() {
        [
            FlightEvent::Ready {
                ticket: 1,
                response,
            },
        ] => assert!(Arc::ptr_eq(response, &served)),
        other => panic!("{other:?}"),
    }
    // A 503 also falls back.
    let f = expect_miss(c.lookup(t(40), &rq, 0));
    assert!(matches!(
        c.on_response(t(40), w(40), f, &rq, &resp(503, &[], "")),
        StoreResult::StaleIfError(r) if r.body().as_ref() == b"old"
    ));
    // Past the window (10 + 60): nothing; followers fetch themselves.
    let f = expect_miss(c.lookup(t(71), &rq, 0));
    assert!(matches!(c.lookup(t(71), &rq, 1), Lookup::Follow(_)));
    assert!(c.on_error(t(71), f, &rq).is_none());
    assert!(matches!(
        drain(&mut c).as_slice(),
        [FlightEvent::FetchYourself { ticket: 1, .. }]
    ));
    assert_eq!(c.stats().stale_hits, 2);
}

#[test]
fn stale_if_error_config_default_and_must_revalidate() {
    let mut cfg = CacheConfig::default();
    cfg.stale_if_error = Some(Duration::from_secs(100));
    let mut c = cache(cfg);
    let a = req("http://h/a");
    let b = req("http://h/b");
    expect_stored(fill(
        &mut c,
        0,
        &a,
        &resp(200, &[("cache-control", "max-age=10")], ""),
    ));
    expect_stored(fill(
        &mut c,
        0,
        &b,
        &resp(200, &[("cache-control", "max-age=10, must-revalidate")], ""),
    ));
    let f = expect_miss(c.lookup(t(50), &a, 0));
    assert!(c.on_error(t(50), f, &a).is_some());
    let f = expect_miss(c.lookup(t(50), &b, 0));
    assert!(
        c.on_error(t(50), f, &b).is_none(),
        "must-revalidate forbids stale"
    );
}

#[test]
fn stale_while_revalidate_serves_and_refreshes_once() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(
            200,
            &[
                ("cache-control", "max-age=10, stale-while-revalidate=30"),
                ("etag", "\"1\""),
            ],
            "old",
        ),
    ));
    let bg = match c.lookup(t(15), &rq, 0) {
        Lookup::Stale {
            response,
            revalidate: Some(f),
        } => {
            assert_eq!(response.body().as_ref(), b"old");
            assert!(f.is_background());
            assert_eq!(f.conditional_headers().unwrap()[IF_NONE_MATCH], "\"1\"");
            f
        }
        other => panic!("{other:?}"),
    };
    // A second caller also gets the stale response but no second refresh.
    assert!(matches!(
        c.lookup(t(16), &rq, 1),
        Lookup::Stale {
            revalidate: None,
            ..
        }
    ));
    assert_eq!(c.stats().stale_hits, 2);
    let r = c.on_response(
        t(17),
        w(17),
        bg,
        &rq,
        &resp(200, &[("cache-control", "max-age=10")], "new"),
    );
    expect_stored(r);
    assert_eq!(
        expect_fresh(c.lookup(t(18), &rq, 0)).body().as_ref(),
        b"new"
    );
    // Beyond the SWR window: a synchronous revalidation.
    let _ = expect_miss(c.lookup(t(100), &rq, 0));
}

#[test]
fn request_directives() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(200, &[("cache-control", "max-age=10")], ""),
    ));
    let nc = req_h("GET", "http://h/p", &[("cache-control", "no-cache")]);
    let f = expect_miss(c.lookup(t(1), &nc, 0));
    c.abandon(t(1), f);
    let pragma = req_h("GET", "http://h/p", &[("pragma", "no-cache")]);
    let f = expect_miss(c.lookup(t(1), &pragma, 0));
    c.abandon(t(1), f);
    let stale_ok = req_h("GET", "http://h/p", &[("cache-control", "max-stale=100")]);
    assert!(matches!(
        c.lookup(t(50), &stale_ok, 0),
        Lookup::Stale {
            revalidate: None,
            ..
        }
    ));
    let oic = req_h("GET", "http://h/p", &[("cache-control", "only-if-cached")]);
    assert!(matches!(c.lookup(t(50), &oic, 0), Lookup::Unsatisfiable));
    assert!(matches!(
        c.lookup(
            t(50),
            &req_h(
                "GET",
                "http://h/other",
                &[("cache-control", "only-if-cached")]
            ),
            0
        ),
        Lookup::Unsatisfiable
    ));
    assert_eq!(c.flights_in_progress(), 0);
}

#[test]
fn unsafe_methods_invalidate_the_url_in_every_partition() {
    let mut c = cache(ttl_config());
    let a = req_h("GET", "http://h/items?x=1", &[("authorization", "a")]);
    let b = req_h("GET", "http://h/items?x=1", &[("authorization", "b")]);
    let other = req("http://h/items/7");
    let loc = req("http://h/created/9");
    for r in [&a, &b, &other, &loc] {
        expect_stored(fill(&mut c, 0, r, &resp(200, &[], "")));
    }
    let post = req_h("POST", "http://h/items?x=1", &[]);
    assert_eq!(
        c.on_unsafe_response(&post, &resp(500, &[], "")),
        0,
        "errors do not invalidate"
    );
    assert_eq!(
        c.on_unsafe_response(&req("http://h/items?x=1"), &resp(200, &[], "")),
        0,
        "GET is safe"
    );
    let n = c.on_unsafe_response(
        &post,
        &resp(
            201,
            &[
                ("location", "/created/9"),
                ("content-location", "http://elsewhere/items/7"),
            ],
            "",
        ),
    );
    assert_eq!(n, 3);
    assert_eq!(c.len(), 1);
    expect_fresh(c.lookup(t(1), &other, 0));
    assert_eq!(c.stats().invalidations, 3);
}

#[test]
fn explicit_invalidation() {
    let mut c = cache(ttl_config());
    for p in [
        "http://h/a/1",
        "http://h/a/2",
        "http://h/b/1",
        "http://h/b/2?token=s",
    ] {
        expect_stored(fill(&mut c, 0, &req(p), &resp(200, &[], "")));
    }
    assert_eq!(c.invalidate_prefix("http://h/a/"), 2);
    assert!(c.invalidate_key(c.key_for(&req("http://h/b/1"))));
    assert!(!c.invalidate_key(c.key_for(&req("http://h/b/1"))));
    assert_eq!(
        c.invalidate_url(&"http://h/b/2".parse().unwrap()),
        1,
        "credential params do not change the URL id"
    );
    expect_stored(fill(&mut c, 0, &req("http://h/z"), &resp(200, &[], "")));
    assert_eq!(c.invalidate_all(), 1);
    assert!(c.is_empty());
    assert_eq!(c.bytes(), 0);
    assert_eq!(c.stats().invalidations, 5);
}

#[test]
fn purge_expired_keeps_useful_entries() {
    let mut c = cache(CacheConfig::default());
    expect_stored(fill(
        &mut c,
        0,
        &req("http://h/a"),
        &resp(200, &[("cache-control", "max-age=10")], ""),
    ));
    expect_stored(fill(
        &mut c,
        0,
        &req("http://h/b"),
        &resp(
            200,
            &[("cache-control", "max-age=10"), ("etag", "\"e\"")],
            "",
        ),
    ));
    expect_stored(fill(
        &mut c,
        0,
        &req("http://h/c"),
        &resp(
            200,
            &[("cache-control", "max-age=10, stale-if-error=100")],
            "",
        ),
    ));
    assert_eq!(c.purge_expired(t(5)), 0);
    assert_eq!(c.purge_expired(t(50)), 1);
    assert_eq!(c.purge_expired(t(200)), 1);
    assert_eq!(c.len(), 1);
}

#[test]
fn heuristic_freshness_when_enabled() {
    let mut cfg = CacheConfig::default();
    cfg.heuristic_freshness = true;
    let mut c = cache(cfg);
    let rq = req("http://h/p");
    let date = httpdate::fmt_http_date(w(0).to_system_time());
    let lm = httpdate::fmt_http_date(WallClock::from_unix_secs(T0 - 1000).to_system_time());
    let s = expect_stored(fill(
        &mut c,
        0,
        &rq,
        &resp(200, &[("date", &date), ("last-modified", &lm)], ""),
    ));
    assert_eq!(s.freshness().lifetime, Duration::from_secs(100));
    assert_eq!(s.freshness().source, LifetimeSource::Heuristic);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one table of invalid configurations, each a line"
)]
fn config_validation_and_serde() {
    assert!(CacheConfig::default().validate().is_ok());
    let cases: Vec<(CacheConfig, &str)> = vec![
        (
            CacheConfig {
                max_entries: 0,
                ..CacheConfig::default()
            },
            "cache.max_entries",
        ),
        (
            CacheConfig {
                max_bytes: 0,
                ..CacheConfig::default()
            },
            "cache.max_bytes",
        ),
        (
            CacheConfig {
                max_entry_bytes: 1 << 40,
                max_bytes: 10,
                ..CacheConfig::default()
            },
            "cache.max_entry_bytes",
        ),
        (
            CacheConfig {
                max_ttl: Some(Duration::ZERO),
                ..CacheConfig::default()
            },
            "cache.max_ttl",
        ),
        (
            CacheConfig {
                heuristic_fraction: f64::NAN,
                ..CacheConfig::default()
            },
            "cache.heuristic_fraction",
        ),
        (
            CacheConfig {
                methods: vec!["G T".into()],
                ..CacheConfig::default()
            },
            "cache.methods",
        ),
        (
            CacheConfig {
                statuses: vec![99],
                ..CacheConfig::default()
            },
            "cache.statuses",
        ),
        (
            CacheConfig {
                statuses: vec![304],
                ..CacheConfig::default()
            },
            "cache.statuses",
        ),
        (
            CacheConfig {
                key_headers: vec!["bad header".into()],
                ..CacheConfig::default()
            },
            "cache.key_headers",
        ),
        (
            CacheConfig {
                credential_headers: vec![String::new()],
                ..CacheConfig::default()
            },
            "cache.credential_headers",
        ),
        (
            CacheConfig {
                credential_query_params: vec![String::new()],
                ..CacheConfig::default()
            },
            "cache.credential_query_params",
        ),
    ];
    for (cfg, field) in cases {
        match Cache::new(cfg, 0) {
            Err(ConfigError::InvalidValue { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let cfg = CacheConfig {
        mode: FreshnessMode::TtlOnly,
        methods: vec!["GET".into()],
        statuses: vec![200],
        ..CacheConfig::default()
    };
    let json = serde_json::to_string(&cfg).unwrap();
    let back: CacheConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    let partial: CacheConfig =
        serde_json::from_str(r#"{"max_entries": 7, "mode": "ttl_only"}"#).unwrap();
    assert_eq!(
        (partial.max_entries, partial.mode, partial.enabled),
        (7, FreshnessMode::TtlOnly, true)
    );
    let stats = serde_json::to_value(CacheStats::default()).unwrap();
    assert_eq!(stats["hits"], 0);
    assert_eq!(CacheStats::default().hit_ratio().to_bits(), 0f64.to_bits());
}

#[test]
fn arithmetic_never_panics_on_hostile_times() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    let f = expect_miss(c.lookup(Timestamp::MAX, &rq, 0));
    let r = resp(
        200,
        &[
            ("date", "Fri, 31 Dec 9999 23:59:59 GMT"),
            ("age", "99999999999999999999"),
            ("cache-control", "max-age=99999999999999, immutable"),
        ],
        "",
    );
    let _ = c.on_response(Timestamp::ZERO, WallClock::EPOCH, f, &rq, &r);
    let _ = c.lookup(Timestamp::ZERO, &rq, 0);
    let _ = c.lookup(Timestamp::MAX, &rq, 0);
}

mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Lookup(u8, u8),
        Complete(u8, u8),
        Advance(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..4, 0u8..3).prop_map(|(u, h)| Op::Lookup(u, h)),
            3 => (any::<u8>(), 0u8..7).prop_map(|(i, k)| Op::Complete(i, k)),
            1 => (0u8..30).prop_map(Op::Advance),
        ]
    }

    fn outcome(kind: u8) -> Option<Response> {
        match kind {
            0 => Some(resp(
                200,
                &[("cache-control", "max-age=5, stale-while-revalidate=5")],
                "a",
            )),
            1 => Some(resp(
                200,
                &[
                    ("cache-control", "max-age=2"),
                    ("etag", "\"e\""),
                    ("vary", "accept"),
                ],
                "bb",
            )),
            2 => Some(resp(500, &[], "")),
            3 => Some(resp(304, &[("cache-control", "max-age=3")], "")),
            4 => Some(resp(200, &[("cache-control", "no-store")], "")),
            _ => None, // 5: transport error, 6: abandon
        }
    }

    type Leaders = Vec<(Fill, Request)>;
    type Waiting = Vec<(u64, Request)>;

    /// Records who must complete a fill and who waits.
    fn track(l: Lookup, ticket: u64, rq: Request, leaders: &mut Leaders, waiting: &mut Waiting) {
        match l {
            Lookup::Miss(f)
            | Lookup::Stale {
                revalidate: Some(f),
                ..
            } => leaders.push((f, rq)),
            Lookup::Follow(_) => waiting.push((ticket, rq)),
            _ => {}
        }
    }

    proptest! {
        /// Every follower gets exactly one event, bounds always hold, and once all leaders
        /// complete no flight is left.
        #[test]
        fn single_flight_liveness_and_bounds(ops in prop::collection::vec(op(), 1..150)) {
            let mut cfg = CacheConfig::default();
            cfg.max_entries = 3;
            cfg.max_bytes = 2 * (ENTRY_OVERHEAD + 200);
            cfg.max_entry_bytes = ENTRY_OVERHEAD + 200;
            cfg.stale_if_error = Some(Duration::from_secs(4));
            let mut c = cache(cfg.clone());
            let mut now = 0u64;
            let mut next_ticket = 0u64;
            let mut leaders: Leaders = Vec::new();
            let mut waiting: Waiting = Vec::new();
            let accepts = ["a", "b", "c"];
            let mk = |u: u8, h: u8| req_h("GET", &format!("http://h/{u}"), &[("accept", accepts[h as usize])]);

            let drain_events = |c: &mut Cache, now: u64, leaders: &mut Leaders, waiting: &mut Waiting| -> Result<(), TestCaseError> {
                while let Some(ev) = c.poll_flight_event() {
                    let ticket = match &ev {
                        FlightEvent::Ready { ticket, .. }
                        | FlightEvent::Relookup { ticket }
                        | FlightEvent::FetchYourself { ticket, .. } => *ticket,
                    };
                    let pos = waiting.iter().position(|w| w.0 == ticket);
                    prop_assert!(pos.is_some(), "event for a ticket that is not waiting: {}", ticket);
                    let (_, rq) = waiting.remove(pos.unwrap());
                    match ev {
                        FlightEvent::FetchYourself { fill, .. } => leaders.push((fill, rq)),
                        FlightEvent::Relookup { ticket } => {
                            let l = c.lookup(t(now), &rq, ticket);
                            track(l, ticket, rq, leaders, waiting);
                        }
                        FlightEvent::Ready { response, .. } => {
                            prop_assert!(!response.body().is_empty());
                        }
                    }
                }
                Ok(())
            };

            for o in ops {
                match o {
                    Op::Advance(s) => now += u64::from(s),
                    Op::Lookup(u, h) => {
                        next_ticket += 1;
                        let rq = mk(u, h);
                        let l = c.lookup(t(now), &rq, next_ticket);
                        track(l, next_ticket, rq, &mut leaders, &mut waiting);
                    }
                    Op::Complete(i, kind) => {
                        if leaders.is_empty() {
                            continue;
                        }
                        let (f, rq) = leaders.remove(i as usize % leaders.len());
                        match (outcome(kind), kind) {
                            (Some(r), _) => { let _ = c.on_response(t(now), w(now), f, &rq, &r); }
                            (None, 5) => { let _ = c.on_error(t(now), f, &rq); }
                            (None, _) => c.abandon(t(now), f),
                        }
                    }
                }
                drain_events(&mut c, now, &mut leaders, &mut waiting)?;
                prop_assert!(c.len() <= cfg.max_entries);
                prop_assert!(c.bytes() <= cfg.max_bytes);
                prop_assert!(c.flights_in_progress() <= leaders.len());
            }
            // Finish every leader with a transport error; followers must all be released.
            let mut rounds = 0;
            while let Some((f, rq)) = leaders.pop() {
                let _ = c.on_error(t(now), f, &rq);
                drain_events(&mut c, now, &mut leaders, &mut waiting)?;
                rounds += 1;
                prop_assert!(rounds < 10_000);
            }
            prop_assert!(waiting.is_empty(), "followers left waiting: {:?}", waiting.len());
            prop_assert_eq!(c.flights_in_progress(), 0);
        }
    }
}
