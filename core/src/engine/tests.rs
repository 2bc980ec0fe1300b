//! Engine unit tests for the request entry points (most engine behaviour is covered by the
//! scenario tests in `tests/`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn engine(max_in_flight: usize) -> Engine {
    Engine::new(
        EngineConfig {
            alert_interval: None,
            max_in_flight,
            ..EngineConfig::default()
        },
        7,
    )
    .unwrap()
}

fn get(uri: &str) -> Request {
    http::Request::get(uri).body(Bytes::new()).unwrap()
}

fn ok(cache_control: &str) -> Response {
    http::Response::builder()
        .header("cache-control", cache_control)
        .body(Bytes::from_static(b"body"))
        .unwrap()
}

fn wall() -> WallClock {
    WallClock::from_unix_secs(1_800_000_000)
}

#[test]
fn requests_are_validated() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    for good in [
        "http://h/",
        "https://API.Example.com/x",
        "http://h:8080/",
        "http://[::1]:8080/",
    ] {
        assert!(e.begin(now, wall(), &get(good), None).is_ok(), "{good}");
    }
    for (bad, why) in [
        ("http://u:p@h/", "credentials"),
        ("http://u@h:81/", "credentials"),
        ("ftp://h/", "scheme"),
        ("/relative", "absolute"),
    ] {
        match e.begin(now, wall(), &get(bad), None) {
            Err(RequestError::InvalidUrl { reason }) => assert!(reason.contains(why), "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn hits_are_answered_without_tracking_and_counted() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    let req = get("https://api.example.com/items?b=2&a=1");
    let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, Some("catalog")) else {
        panic!("first request misses")
    };
    let miss_id = permit.id();
    let Next::Done(first) = e.on_response(now, wall(), permit, &req, Ok(ok("max-age=60"))) else {
        panic!("200 is final")
    };
    assert_eq!(&*first.service, "catalog");
    let mut ids = vec![miss_id];
    for i in 0..3 {
        let at = Timestamp::from_secs(2 + i);
        let Ok(Decision::Done(f)) = e.begin(at, wall(), &req, Some("catalog")) else {
            panic!("fresh entry hits")
        };
        assert_eq!(f.trace.cache, CacheTrace::Fresh);
        assert_eq!(f.trace.started_at, at);
        assert_eq!(f.trace.total, Duration::ZERO);
        assert!(f.trace.budget_left.is_some());
        assert!(Arc::ptr_eq(&f.service, &first.service), "names are shared");
        assert!(f.result_is_cached());
        assert!(!ids.contains(&f.id), "ids are never reused");
        ids.push(f.id);
        // A hit's id was never live: cancelling it is a no-op.
        e.cancel(at, f.id);
    }
    assert_eq!(e.in_flight(), 0);
    let snap = e.metrics().service_snapshot("catalog").unwrap();
    assert_eq!(snap.total_requests, 4);
    assert_eq!(snap.successful_requests, 4);
    assert_eq!(snap.in_flight, 0);
    assert_eq!(snap.cache.hits, 3);
    assert_eq!(snap.cache.misses, 1);
}

#[test]
fn a_full_engine_refuses_even_hits() {
    let mut e = engine(1);
    let now = Timestamp::from_secs(1);
    let cached = get("http://h/cached");
    let Ok(Decision::Send(p)) = e.begin(now, wall(), &cached, None) else {
        panic!()
    };
    let _ = e.on_response(now, wall(), p, &cached, Ok(ok("max-age=60")));
    let Ok(Decision::Send(_held)) = e.begin(now, wall(), &get("http://h/slow"), None) else {
        panic!()
    };
    let Ok(Decision::Done(f)) = e.begin(now, wall(), &cached, None) else {
        panic!()
    };
    assert!(matches!(
        f.result,
        FinalResult::Rejected(RejectReason::Overloaded)
    ));
    assert_eq!(&*f.service, "h");
}

#[test]
fn an_expired_follower_finishes_as_a_timeout_with_its_trace() {
    let mut e = engine(16);
    let t0 = Timestamp::from_secs(1);
    let doc = get("http://h/doc");
    let Ok(Decision::Send(leader)) = e.begin(t0, wall(), &doc, Some("svc")) else {
        panic!("the first request leads")
    };
    let Ok(Decision::Wait(follower)) = e.begin(t0, wall(), &doc, Some("svc")) else {
        panic!("an identical request follows")
    };
    let t1 = t0.saturating_add(Duration::from_millis(500));
    let f = e.expire(t1, wall(), follower, &doc).expect("in flight");
    assert!(matches!(
        &f.result,
        FinalResult::Transport(err) if err.kind == crate::TransportErrorKind::Timeout
    ));
    assert_eq!(f.trace.cache, CacheTrace::Coalesced);
    assert_eq!(f.trace.total, Duration::from_millis(500));
    assert!(e.expire(t1, wall(), follower, &doc).is_none(), "only once");
    // The leader is untouched and completes; nothing is left behind.
    let Next::Done(done) = e.on_response(t1, wall(), leader, &doc, Ok(ok("max-age=60"))) else {
        panic!("200 is final")
    };
    assert!(matches!(done.result, FinalResult::Response(_)));
    while e.poll_output().is_some() {}
    assert_eq!(e.in_flight(), 0);
    let svc = e.metrics().service_snapshot("svc").unwrap();
    assert_eq!((svc.total_requests, svc.failed_requests), (2, 1));
}

impl Finished {
    fn result_is_cached(&self) -> bool {
        matches!(&self.result, FinalResult::Response(r) if r.is_cached())
    }
}
