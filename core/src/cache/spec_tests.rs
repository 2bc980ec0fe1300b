//! The cache against the letter of RFC 9111 / RFC 9110 for a private cache, and credential
//! isolation that fails closed. Each test names the rule it holds the cache to.

use super::*;

const T0: u64 = 1_700_000_000;

fn t(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn w(s: u64) -> WallClock {
    WallClock::from_unix_secs(T0 + s)
}

/// An HTTP-date `s` seconds after the test epoch.
fn date(s: i64) -> String {
    let secs = T0.checked_add_signed(s).expect("test dates are after 1970");
    httpdate::fmt_http_date(WallClock::from_unix_secs(secs).to_system_time())
}

fn req_h(uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder().method("GET").uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::new()).unwrap()
}

fn req(uri: &str) -> Request {
    req_h(uri, &[])
}

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::copy_from_slice(body.as_bytes())).unwrap()
}

fn cache(cfg: CacheConfig) -> Cache {
    Cache::new(cfg, 42).unwrap()
}

/// Leads a miss for `rq` at `at` and completes it with `response`.
fn fill(c: &mut Cache, at: u64, rq: &Request, response: &Response) -> StoreResult {
    let Lookup::Miss(f) = c.lookup(t(at), rq, 0) else {
        panic!("expected a miss for {rq:?}");
    };
    c.on_response(t(at), w(at), f, rq, response)
}

fn stored(r: &StoreResult) -> bool {
    matches!(r, StoreResult::Stored(_))
}

fn not_stored(r: &StoreResult) -> Option<NotStoredReason> {
    match r {
        StoreResult::NotStored(why) => Some(*why),
        _ => None,
    }
}

// ===== storable statuses (RFC 9111 §3, RFC 9110 §15.1) =====

#[test]
fn every_heuristically_cacheable_status_is_stored_by_default() {
    // RFC 9110 §15.1: 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414 and 501 are
    // heuristically cacheable; 206 is left out because the cache does not combine ranges.
    for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
        let mut c = cache(CacheConfig::default());
        let rq = req("http://h/p");
        let r = fill(&mut c, 0, &rq, &resp(status, &[("etag", "\"e\"")], ""));
        assert!(stored(&r), "{status}: {r:?}");
    }
}

#[test]
fn other_final_statuses_need_explicit_freshness() {
    let cfg = CacheConfig {
        heuristic_freshness: true,
        ..CacheConfig::default()
    };
    for status in [302, 303, 307, 403, 500] {
        let rq = req("http://h/p");
        // Explicit freshness: max-age, or Expires.
        let mut c = cache(cfg.clone());
        let r = fill(
            &mut c,
            0,
            &rq,
            &resp(status, &[("cache-control", "max-age=60")], ""),
        );
        assert!(stored(&r), "{status} with max-age: {r:?}");
        let Lookup::Fresh(hit) = c.lookup(t(59), &rq, 0) else {
            panic!("{status} fresh for 60 s")
        };
        assert_eq!(hit.status().as_u16(), status);
        let mut c = cache(cfg.clone());
        let r = fill(
            &mut c,
            0,
            &rq,
            &resp(status, &[("date", &date(0)), ("expires", &date(60))], ""),
        );
        assert!(stored(&r), "{status} with Expires: {r:?}");
        // Only Last-Modified (the heuristic would give it 100 s): never stored, even with a
        // validator and heuristics on.
        let mut c = cache(cfg.clone());
        let r = fill(
            &mut c,
            0,
            &rq,
            &resp(
                status,
                &[("date", &date(0)), ("last-modified", &date(-1000))],
                "",
            ),
        );
        assert_eq!(
            not_stored(&r),
            Some(NotStoredReason::StatusNotCacheable),
            "{status} with Last-Modified only: {r:?}"
        );
        // s-maxage is for shared caches: a private cache ignores it.
        let mut c = cache(cfg.clone());
        let r = fill(
            &mut c,
            0,
            &rq,
            &resp(status, &[("cache-control", "s-maxage=60")], ""),
        );
        assert!(!stored(&r), "{status} with s-maxage only: {r:?}");
    }
}

#[test]
fn heuristics_apply_only_to_heuristically_cacheable_statuses_or_public() {
    let cfg = CacheConfig {
        heuristic_freshness: true,
        ..CacheConfig::default()
    };
    let build = |status: u16, cache_control: Option<&str>| {
        let (d, lm) = (date(0), date(-1000));
        let mut h = vec![("date", d.as_str()), ("last-modified", lm.as_str())];
        if let Some(cc) = cache_control {
            h.push(("cache-control", cc));
        }
        resp(status, &h, "")
    };
    // 200 with Last-Modified: 10 % of 1000 s.
    let mut c = cache(cfg.clone());
    let StoreResult::Stored(r) = fill(&mut c, 0, &req("http://h/a"), &build(200, None)) else {
        panic!("200 is heuristically cacheable")
    };
    assert_eq!(r.freshness().lifetime, Duration::from_secs(100));
    assert_eq!(r.freshness().source, LifetimeSource::Heuristic);
    // `public` makes any final status heuristically cacheable (RFC 9111 §5.2.2.9).
    let StoreResult::Stored(r) = fill(&mut c, 0, &req("http://h/b"), &build(302, Some("public")))
    else {
        panic!("public 302 is heuristically cacheable")
    };
    assert_eq!(r.freshness().lifetime, Duration::from_secs(100));
    // `private` lets a private cache store it, but gives no freshness to assume: refused.
    let r = fill(&mut c, 0, &req("http://h/c"), &build(302, Some("private")));
    assert!(!stored(&r), "{r:?}");
}

#[test]
fn partial_content_is_never_stored() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    let r = fill(
        &mut c,
        0,
        &rq,
        &resp(
            206,
            &[
                ("cache-control", "max-age=60"),
                ("content-range", "bytes 0-1/10"),
            ],
            "ab",
        ),
    );
    assert_eq!(
        not_stored(&r),
        Some(NotStoredReason::StatusNotCacheable),
        "{r:?}"
    );
}

// ===== responses that arrive stale =====

#[test]
fn a_response_that_arrives_stale_is_never_stored() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    // Age beyond max-age, with a validator.
    let r = fill(
        &mut c,
        0,
        &rq,
        &resp(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("age", "120"),
                ("etag", "\"e\""),
            ],
            "old",
        ),
    );
    assert!(!stored(&r), "{r:?}");
    assert!(c.is_empty());
    // A later request that accepts stale responses still gets nothing from the cache.
    let lenient = req_h("http://h/p", &[("cache-control", "max-stale=3600")]);
    assert!(matches!(c.lookup(t(1), &lenient, 0), Lookup::Miss(_)));
    // Expires at or before Date.
    for expires in [date(0), date(-60), "0".to_owned()] {
        let mut c = cache(CacheConfig::default());
        let r = fill(
            &mut c,
            0,
            &rq,
            &resp(
                200,
                &[("date", &date(0)), ("expires", &expires), ("etag", "\"e\"")],
                "",
            ),
        );
        assert!(!stored(&r), "Expires {expires}: {r:?}");
    }
    // The origin's own `max-age=0` with a validator is the "store, but revalidate every use"
    // idiom, not a stale arrival: kept for conditional requests.
    let mut c = cache(CacheConfig::default());
    let r = fill(
        &mut c,
        0,
        &rq,
        &resp(
            200,
            &[("cache-control", "max-age=0"), ("etag", "\"e\"")],
            "",
        ),
    );
    assert!(stored(&r), "{r:?}");
    let Lookup::Miss(f) = c.lookup(t(1), &rq, 0) else {
        panic!("revalidate")
    };
    assert!(f.conditional_headers().is_some());
    c.abandon(t(1), f);
}

// ===== requests with their own validators or preconditions =====

#[test]
fn a_callers_conditional_request_never_touches_the_cache() {
    let plain = req("http://h/p");
    let conditionals = [
        ("if-none-match", "\"mine\""),
        ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("if-match", "\"mine\""),
        ("if-unmodified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("if-range", "\"mine\""),
        ("range", "bytes=0-1"),
    ];
    for h in conditionals {
        let own = req_h("http://h/p", &[h]);
        // Not served from the cache.
        let mut c = cache(CacheConfig::default());
        assert!(matches!(c.lookup(t(0), &own, 0), Lookup::Bypass), "{h:?}");
        // Its 200 is not stored, even when a frontend completes a fill with it.
        let Lookup::Miss(f) = c.lookup(t(0), &plain, 0) else {
            panic!("miss")
        };
        let r = c.on_response(
            t(0),
            w(0),
            f,
            &own,
            &resp(200, &[("cache-control", "max-age=60")], "for the caller"),
        );
        assert!(!stored(&r), "{h:?}: {r:?}");
        assert!(c.is_empty(), "{h:?}");
        // Its 304 does not refresh the stored entry.
        let r = fill(
            &mut c,
            0,
            &plain,
            &resp(
                200,
                &[("cache-control", "max-age=10"), ("etag", "\"v1\"")],
                "body",
            ),
        );
        assert!(stored(&r));
        let Lookup::Miss(f) = c.lookup(t(20), &plain, 0) else {
            panic!("stale: revalidate")
        };
        let r = c.on_response(
            t(20),
            w(20),
            f,
            &own,
            &resp(
                304,
                &[("cache-control", "max-age=100"), ("etag", "\"v1\"")],
                "",
            ),
        );
        assert!(!matches!(r, StoreResult::Revalidated(_)), "{h:?}: {r:?}");
        let Lookup::Miss(f) = c.lookup(t(21), &plain, 0) else {
            panic!("{h:?}: the entry must still be stale")
        };
        c.abandon(t(21), f);
    }
}

// ===== Host =====

#[test]
fn a_host_header_naming_another_authority_partitions() {
    let c = cache(CacheConfig::default());
    let plain = req("http://a.example/p");
    for same in ["a.example", "A.Example", "a.example:80"] {
        assert_eq!(
            c.key_for(&req_h("http://a.example/p", &[("host", same)])),
            c.key_for(&plain),
            "{same}"
        );
    }
    for other in ["b.example", "a.example:8080", "a.example.evil"] {
        assert_ne!(
            c.key_for(&req_h("http://a.example/p", &[("host", other)])),
            c.key_for(&plain),
            "{other}"
        );
    }
    let https = req("https://a.example/p");
    assert_eq!(
        c.key_for(&req_h("https://a.example/p", &[("host", "a.example:443")])),
        c.key_for(&https)
    );
    assert_ne!(
        c.key_for(&req_h("https://a.example/p", &[("host", "a.example:80")])),
        c.key_for(&https)
    );
}

// ===== query parameters =====

#[test]
fn repeated_parameters_keep_their_order() {
    let c = cache(CacheConfig::default());
    let k = |u: &str| c.key_for(&req(u));
    assert_ne!(k("http://h/p?id=1&id=2"), k("http://h/p?id=2&id=1"));
    assert_ne!(k("http://h/p?a=0&id=1&id=2"), k("http://h/p?id=2&a=0&id=1"));
    // Different names still commute; the order within each name is what counts.
    assert_eq!(k("http://h/p?b=2&a=1"), k("http://h/p?a=1&b=2"));
    assert_eq!(k("http://h/p?id=1&x=9&id=2"), k("http://h/p?x=9&id=1&id=2"));
    // Credential parameters too: their order within a name is kept.
    assert_ne!(
        k("http://h/p?token=a&token=b"),
        k("http://h/p?token=b&token=a")
    );
}

// ===== lifetimes =====

#[test]
fn explicit_lifetimes_are_honoured_by_default() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/asset.js");
    let r = fill(
        &mut c,
        0,
        &rq,
        &resp(200, &[("cache-control", "max-age=31536000")], "x"),
    );
    assert!(stored(&r));
    let day = 86_400;
    assert!(matches!(c.lookup(t(2 * day), &rq, 0), Lookup::Fresh(_)));
    assert!(matches!(c.lookup(t(364 * day), &rq, 0), Lookup::Fresh(_)));
    assert!(matches!(c.lookup(t(365 * day), &rq, 0), Lookup::Miss(_)));
}

#[test]
fn without_explicit_freshness_nothing_is_served_fresh_by_default() {
    let mut c = cache(CacheConfig::default());
    let rq = req("http://h/p");
    // No validator, no freshness: nothing to keep.
    let r = fill(&mut c, 0, &rq, &resp(200, &[], ""));
    assert!(!stored(&r), "{r:?}");
    // With a validator: kept, but every use revalidates.
    let r = fill(&mut c, 0, &rq, &resp(200, &[("etag", "\"e\"")], ""));
    assert!(stored(&r), "{r:?}");
    assert!(matches!(c.lookup(t(0), &rq, 0), Lookup::Miss(_)));
}

// ===== credential isolation =====

#[test]
fn unknown_headers_partition_so_callers_are_never_cross_served() {
    for name in ["x-auth-token", "api-key", "x-tenant-secret"] {
        let mut c = cache(CacheConfig::default());
        let alice = req_h("http://h/me", &[(name, "alice-s3cr3t")]);
        let bob = req_h("http://h/me", &[(name, "bob-s3cr3t")]);
        let r = fill(
            &mut c,
            0,
            &alice,
            &resp(200, &[("cache-control", "private, max-age=60")], "alice"),
        );
        assert!(stored(&r));
        // Bob is not served Alice's response.
        assert!(
            matches!(c.lookup(t(1), &bob, 1), Lookup::Miss(_)),
            "{name}: bob was served alice's entry"
        );
        // Nor is a caller without the header.
        let anon = req("http://h/me");
        assert!(
            !matches!(c.lookup(t(1), &anon, 2), Lookup::Fresh(_)),
            "{name}: anonymous served alice's entry"
        );
        // Alice still hits.
        let Lookup::Fresh(hit) = c.lookup(t(2), &alice, 3) else {
            panic!("{name}: same caller hits")
        };
        assert_eq!(hit.body().as_ref(), b"alice");
        // The secret is not kept.
        assert!(!format!("{c:?}").contains("s3cr3t"), "{name}");
    }
}

#[test]
fn allowlisted_headers_do_not_fragment_the_cache() {
    let mut c = cache(CacheConfig::default());
    let base = [("authorization", "Bearer alice")];
    let first = req_h("http://h/items", &base);
    let r = fill(
        &mut c,
        0,
        &first,
        &resp(200, &[("cache-control", "max-age=60")], "items"),
    );
    assert!(stored(&r));
    let variants: [&[(&str, &str)]; 6] = [
        &[
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
        &[("x-request-id", "42"), ("x-correlation-id", "c-7")],
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")],
        &[("user-agent", "tether/1.0"), ("accept", "application/json")],
        &[("accept-language", "de"), ("accept-encoding", "gzip")],
        &[("cache-control", "max-age=3600"), ("pragma", "x")],
    ];
    for (i, extra) in variants.iter().enumerate() {
        let mut h: Vec<(&str, &str)> = base.to_vec();
        h.extend_from_slice(extra);
        let rq = req_h("http://h/items", &h);
        assert!(
            matches!(c.lookup(t(1), &rq, i as u64), Lookup::Fresh(_)),
            "{extra:?} fragmented the cache"
        );
    }
}

#[test]
fn the_credential_list_wins_over_the_allowlists() {
    // Listing a credential as non-identifying does not make callers share entries.
    let cfg = CacheConfig {
        non_identifying_headers: vec!["authorization".into(), "x-client-*".into()],
        ..CacheConfig::default()
    };
    let c = cache(cfg);
    let k = |h: &[(&str, &str)]| c.key_for(&req_h("http://h/p", h));
    assert_ne!(
        k(&[("authorization", "Bearer a")]),
        k(&[("authorization", "Bearer b")])
    );
    // Additions to the allowlist, by name or prefix, stop partitioning.
    assert_eq!(k(&[("x-client-version", "1.2")]), k(&[]));
    assert_eq!(k(&[("x-client-build", "7")]), k(&[("x-client-build", "8")]));
    assert_ne!(k(&[("x-tenant", "a")]), k(&[("x-tenant", "b")]));
    // And the credential list can pull a built-in name back into the partition.
    let mut cfg = CacheConfig::default();
    cfg.credential_headers.push("user-agent".into());
    let c = cache(cfg);
    assert_ne!(
        c.key_for(&req_h("http://h/p", &[("user-agent", "a")])),
        c.key_for(&req_h("http://h/p", &[("user-agent", "b")]))
    );
}

// ===== must-understand (RFC 9111 §5.2.2.3) =====

#[test]
fn must_understand_stores_known_statuses_despite_no_store() {
    let mut c = cache(CacheConfig::default());
    let cc = ("cache-control", "must-understand, no-store, max-age=60");
    let r = fill(&mut c, 0, &req("http://h/a"), &resp(200, &[cc], ""));
    assert!(stored(&r), "{r:?}");
    let r = fill(&mut c, 0, &req("http://h/b"), &resp(299, &[cc], ""));
    assert_eq!(
        not_stored(&r),
        Some(NotStoredReason::MustUnderstand),
        "{r:?}"
    );
    // Without must-understand, no-store wins.
    let r = fill(
        &mut c,
        0,
        &req("http://h/c"),
        &resp(200, &[("cache-control", "no-store, max-age=60")], ""),
    );
    assert!(matches!(
        r,
        StoreResult::NotStored(NotStoredReason::NoStore)
    ));
}

#[test]
fn explicit_freshness_for_any_status_can_be_turned_off() {
    let cfg = CacheConfig {
        any_status_with_explicit_freshness: false,
        ..CacheConfig::default()
    };
    let mut c = cache(cfg);
    let r = fill(
        &mut c,
        0,
        &req("http://h/p"),
        &resp(302, &[("cache-control", "max-age=60")], ""),
    );
    assert_eq!(
        not_stored(&r),
        Some(NotStoredReason::StatusNotCacheable),
        "{r:?}"
    );
}

// ===== looking without touching =====

#[test]
fn peek_reports_without_touching_counters_lru_or_flights() {
    let mut c = cache(CacheConfig::default());
    let a = req("http://h/a");
    let b = req("http://h/b");
    for (rq, cc) in [(&a, "max-age=100"), (&b, "max-age=10")] {
        let r = fill(
            &mut c,
            0,
            rq,
            &resp(
                200,
                &[
                    ("cache-control", cc),
                    ("etag", "\"v\""),
                    ("last-modified", &date(-50)),
                ],
                "",
            ),
        );
        assert!(stored(&r));
    }
    let before = (c.stats(), c.store.keys_lru());
    // a is least recently used; a lookup would move it to the front.
    let p = c.peek(t(30), &a).expect("stored");
    assert!(p.fresh && !p.bypass);
    assert_eq!(p.age, Duration::from_secs(30));
    assert_eq!(p.remaining, Duration::from_secs(70));
    assert_eq!(p.staleness, Duration::ZERO);
    assert_eq!(p.usability, Usability::Fresh);
    assert_eq!(p.key, c.key_for(&a));
    assert_eq!(
        p.etag.as_ref().map(HeaderValue::as_bytes),
        Some(&b"\"v\""[..])
    );
    assert!(p.last_modified.is_some());
    assert_eq!(p.response.freshness().source, LifetimeSource::MaxAge);
    // b is stale: a lookup would start a revalidation flight.
    let p = c.peek(t(30), &b).expect("stored");
    assert!(!p.fresh);
    assert_eq!(p.staleness, Duration::from_secs(20));
    assert_eq!(p.usability, Usability::Revalidate);
    let lenient = req_h("http://h/b", &[("cache-control", "max-stale=60")]);
    assert_eq!(
        c.peek(t(30), &lenient).unwrap().usability,
        Usability::StaleAccepted
    );
    let own = req_h("http://h/b", &[("if-none-match", "\"v\"")]);
    assert!(c.peek(t(30), &own).unwrap().bypass);
    assert!(c.peek(t(30), &req("http://h/none")).is_none());
    assert_eq!((c.stats(), c.store.keys_lru()), before);
    assert_eq!(c.flights_in_progress(), 0);
    // Whereas a lookup moves both.
    let Lookup::Fresh(_) = c.lookup(t(30), &a, 0) else {
        panic!("fresh")
    };
    assert_ne!((c.stats(), c.store.keys_lru()), before);
}

#[test]
fn storability_is_the_rule_the_cache_applies() {
    let cfg = CacheConfig::default();
    let c = cache(cfg.clone());
    let rq = req("http://h/p");
    let cases = [
        resp(200, &[("cache-control", "max-age=60")], ""),
        resp(200, &[("cache-control", "max-age=60"), ("age", "90")], ""),
        resp(302, &[("cache-control", "max-age=60")], ""),
        resp(302, &[], ""),
        resp(200, &[("etag", "\"e\"")], ""),
        resp(200, &[], ""),
        resp(200, &[("cache-control", "no-store")], ""),
        resp(200, &[("vary", "*"), ("cache-control", "max-age=1")], ""),
        resp(206, &[("cache-control", "max-age=60")], ""),
    ];
    for r in &cases {
        let pure = storability(&cfg, &rq, r, w(0), Duration::ZERO);
        assert_eq!(c.storability(&rq, r, w(0), Duration::ZERO), pure);
        let mut fresh = cache(cfg.clone());
        match (fill(&mut fresh, 0, &rq, r), &pure) {
            (StoreResult::Stored(s), Ok(f)) => assert_eq!(s.freshness(), f),
            (StoreResult::NotStored(why), Err(want)) => assert_eq!(why, *want),
            (got, want) => panic!("{r:?}: cache {got:?}, helper {want:?}"),
        }
    }
    assert_eq!(
        storability(&cfg, &rq, &cases[1], w(0), Duration::ZERO),
        Err(NotStoredReason::StaleOnArrival)
    );
    let f = storability(&cfg, &rq, &cases[0], w(0), Duration::ZERO).unwrap();
    assert!(f.is_explicit());
    assert_eq!(f.lifetime, Duration::from_secs(60));
}

#[test]
fn new_options_are_validated() {
    for (cfg, field) in [
        (
            CacheConfig {
                non_identifying_headers: vec!["*".into()],
                ..CacheConfig::default()
            },
            "cache.non_identifying_headers",
        ),
        (
            CacheConfig {
                non_identifying_headers: vec!["bad name".into()],
                ..CacheConfig::default()
            },
            "cache.non_identifying_headers",
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
                statuses: vec![200, 206],
                ..CacheConfig::default()
            },
            "cache.statuses",
        ),
    ] {
        match cfg.validate() {
            Err(ConfigError::InvalidValue { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let capped = CacheConfig {
        max_ttl: Some(Duration::from_hours(1)),
        ..CacheConfig::default()
    };
    let mut c = cache(capped);
    let rq = req("http://h/p");
    let StoreResult::Stored(r) = fill(
        &mut c,
        0,
        &rq,
        &resp(200, &[("cache-control", "max-age=31536000")], ""),
    ) else {
        panic!("stored")
    };
    assert_eq!(r.freshness().lifetime, Duration::from_hours(1));
}
