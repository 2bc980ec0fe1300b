//! Engine unit tests for the request entry points (most engine behaviour is covered by the
//! scenario tests in `tests/`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::{Request, RequestError, Response};

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
    let Ok(Next::Done(first)) = e.on_response(now, wall(), permit, &req, Ok(ok("max-age=60")))
    else {
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
        // A hit's id was never live: cancelling it is refused, and changes nothing.
        assert_eq!(
            e.cancel(at, f.id).unwrap_err(),
            EngineError::UnknownRequest { id: f.id }
        );
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
    assert_eq!(
        e.expire(t1, wall(), follower, &doc).unwrap_err(),
        EngineError::UnknownRequest { id: follower },
        "only once"
    );
    // The leader is untouched and completes; nothing is left behind.
    let Ok(Next::Done(done)) = e.on_response(t1, wall(), leader, &doc, Ok(ok("max-age=60"))) else {
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

fn status(code: u16, headers: &[(&str, &str)]) -> Response {
    let mut b = http::Response::builder().status(code);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from_static(b"body")).unwrap()
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

#[test]
fn wrong_phase_and_unknown_ids_are_typed_errors_that_change_nothing() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    let req = get("http://h/x");
    let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, None) else {
        panic!("a miss sends")
    };
    let id = permit.id();
    // `proceed` needs a request told to proceed; this one has an attempt out.
    assert_eq!(
        e.proceed(now, wall(), id, &req).unwrap_err(),
        EngineError::WrongPhase {
            id,
            expected: RequestPhase::Proceeding,
            actual: RequestPhase::Sending,
        }
    );
    assert_eq!(e.in_flight(), 1, "the refused call changed nothing");
    // The attempt still completes normally: 503 is retried.
    let Ok(Next::RetryAt { at, token }) =
        e.on_response(now, wall(), permit, &req, Ok(status(503, &[])))
    else {
        panic!("a 503 on GET is retried")
    };
    assert!(at >= now);
    // Now it is backing off: `proceed` still refuses, naming the new phase.
    assert!(matches!(
        e.proceed(at, wall(), id, &req),
        Err(EngineError::WrongPhase {
            actual: RequestPhase::Backoff,
            ..
        })
    ));
    // Cancelled meanwhile: the token now names an unknown request.
    let cancelled = e.cancel(at, id).unwrap();
    assert!(matches!(
        cancelled.result,
        FinalResult::Rejected(RejectReason::Cancelled)
    ));
    assert_eq!(
        cancelled.trace.attempts.len(),
        1,
        "the trace so far is kept"
    );
    assert_eq!(
        e.resume(at, wall(), token, &req).unwrap_err(),
        EngineError::UnknownRequest { id }
    );
    assert_eq!(
        e.cancel(at, id).unwrap_err(),
        EngineError::UnknownRequest { id }
    );
    assert!(matches!(
        e.proceed(at, wall(), RequestId::from_u64(12345), &req),
        Err(EngineError::UnknownRequest { .. })
    ));
    assert_eq!(e.in_flight(), 0);
    let m = e.metrics().service_snapshot("h").unwrap();
    assert_eq!(
        (m.total_requests, m.failed_requests, m.in_flight),
        (1, 1, 0)
    );
}

#[test]
fn a_response_for_a_cancelled_request_is_refused_and_the_breaker_slot_is_released() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    let req = get("http://h/x");
    let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, Some("svc")) else {
        panic!()
    };
    let id = permit.id();
    e.cancel(now, id).unwrap();
    assert_eq!(
        e.on_response(now, wall(), permit, &req, Ok(status(200, &[])))
            .unwrap_err(),
        EngineError::UnknownRequest { id }
    );
    let m = e.metrics().service_snapshot("svc").unwrap();
    assert_eq!(m.attempts, 0, "a refused outcome is not counted");
    let b = e.breakers().get("svc").unwrap().snapshot(now);
    assert_eq!(b.half_open_in_flight, 0);
}

#[test]
fn breaker_commands_emit_their_events_without_a_pump() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    e.isolate_breaker(now, "svc");
    let out = drain(&mut e);
    assert!(
        matches!(&out[..], [Output::Event(EngineEvent::Breaker(ev))] if ev.name == "svc"),
        "{out:?}"
    );
    let Ok(Decision::Done(f)) = e.begin(now, wall(), &get("http://h/x"), Some("svc")) else {
        panic!("an isolated breaker refuses at once")
    };
    assert!(matches!(
        f.result,
        FinalResult::Rejected(RejectReason::BreakerOpen { .. })
    ));
    e.reset_breaker(now, "svc");
    assert_eq!(
        drain(&mut e).len(),
        1,
        "reset emits the transition back to closed"
    );
    assert!(matches!(
        e.begin(now, wall(), &get("http://h/x"), Some("svc")),
        Ok(Decision::Send(_))
    ));
    e.disable_breaker(now, "other");
    e.enable_breaker(now, "other");
    assert_eq!(drain(&mut e).len(), 2);
    // Commands on a breaker that does not exist do nothing.
    e.reset_breaker(now, "nobody");
    e.enable_breaker(now, "nobody");
    assert!(drain(&mut e).is_empty());
    assert!(e.breakers().get("nobody").is_none());
}

#[test]
fn cache_commands_invalidate() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    let store = |e: &mut Engine, uri: &str| {
        let req = get(uri);
        let Ok(Decision::Send(p)) = e.begin(now, wall(), &req, None) else {
            panic!("{uri} misses")
        };
        let _ = e
            .on_response(now, wall(), p, &req, Ok(ok("max-age=600")))
            .unwrap();
    };
    for uri in ["http://h/a", "http://h/b", "http://h/c/1", "http://h/c/2"] {
        store(&mut e, uri);
    }
    assert_eq!(e.cache().len(), 4);
    assert!(e.invalidate_cache_entry(&get("http://h/a")));
    assert!(!e.invalidate_cache_entry(&get("http://h/a")));
    assert_eq!(e.invalidate_cache_url(&"http://h/b".parse().unwrap()), 1);
    assert_eq!(e.invalidate_cache_prefix("http://h/c/"), 2);
    assert!(e.cache().is_empty());
    store(&mut e, "http://h/a");
    assert_eq!(e.invalidate_cache(), 1);
    assert!(matches!(
        e.begin(now, wall(), &get("http://h/a"), None),
        Ok(Decision::Send(_))
    ));
}

#[test]
fn alert_commands_validate_and_apply() {
    let mut e = engine(16);
    assert!(e.set_alert_threshold("no_such_rule", 0.5).is_err());
    assert!(
        e.set_alert_threshold(crate::alerts::SERVICE_ERRORS, -1.0)
            .is_err()
    );
    e.set_alert_threshold(crate::alerts::SERVICE_ERRORS, 0.25)
        .unwrap();
    e.set_alert_enabled(crate::alerts::SYSTEM_CPU_HIGH, false)
        .unwrap();
    let rules = e.alerts().rules();
    let errors = rules
        .iter()
        .find(|r| r.name == crate::alerts::SERVICE_ERRORS)
        .unwrap();
    assert!((errors.threshold - 0.25).abs() < f64::EPSILON);
    assert!(
        !rules
            .iter()
            .find(|r| r.name == crate::alerts::SYSTEM_CPU_HIGH)
            .unwrap()
            .enabled
    );
    e.set_alert_rules(Vec::new()).unwrap();
    assert!(e.alerts().rules().is_empty());
}

#[test]
fn an_old_system_sample_stops_feeding_the_system_alerts() {
    let mut e = engine(16);
    let hot = crate::export::SystemSample {
        cpu_percent: 99.5,
        ..Default::default()
    };
    let fired = |out: &[Output]| {
        out.iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Event(EngineEvent::Alert(crate::alerts::AlertEvent::Fired(_)))
                )
            })
            .count()
    };
    // A sample four alert intervals old (40 s) is not evaluated: nothing fires.
    e.on_system_sample(Timestamp::from_secs(1), &hot);
    e.evaluate_alerts(Timestamp::from_secs(41), wall());
    assert_eq!(fired(&drain(&mut e)), 0);
    // A recent one is.
    e.on_system_sample(Timestamp::from_secs(50), &hot);
    e.evaluate_alerts(Timestamp::from_secs(51), wall());
    assert_eq!(fired(&drain(&mut e)), 1);
}

#[test]
fn a_background_refresh_ends_in_its_own_finished_and_is_not_a_request() {
    let mut e = engine(16);
    let t0 = Timestamp::from_secs(1);
    let req = get("http://h/swr");
    let Ok(Decision::Send(p)) = e.begin(t0, wall(), &req, None) else {
        panic!()
    };
    let swr = status(
        200,
        &[
            ("cache-control", "max-age=1, stale-while-revalidate=60"),
            ("etag", "\"v1\""),
        ],
    );
    let _ = e.on_response(t0, wall(), p, &req, Ok(swr)).unwrap();
    let t1 = Timestamp::from_secs(5);
    let Ok(Decision::Done(stale)) = e.begin(t1, wall(), &req, None) else {
        panic!("a stale entry inside its stale-while-revalidate window is served")
    };
    assert_eq!(stale.trace.cache, CacheTrace::Stale { revalidating: true });
    let out = drain(&mut e);
    let Some(Output::Background(fetch)) =
        out.into_iter().find(|o| matches!(o, Output::Background(_)))
    else {
        panic!("a refresh is asked for")
    };
    let BackgroundFetch { request, permit } = *fetch;
    assert_eq!(permit.extra_headers().unwrap()["if-none-match"], "\"v1\"");
    assert_eq!(e.in_flight(), 1);
    let Ok(Next::Done(refresh)) = e.on_response(t1, wall(), permit, &request, Ok(status(304, &[])))
    else {
        panic!("a refresh is never retried")
    };
    assert_eq!(refresh.trace.cache, CacheTrace::Revalidated);
    assert_eq!(e.in_flight(), 0);
    let m = e.metrics().service_snapshot("h").unwrap();
    assert_eq!(m.total_requests, 2, "the refresh is not a request");
    assert_eq!(m.attempts, 2, "but its attempt is counted");
}

/// An engine whose breakers open after two consecutive failures.
fn touchy() -> Engine {
    let mut config = EngineConfig {
        alert_interval: None,
        ..EngineConfig::default()
    };
    config.breakers.default.consecutive_failures = Some(2);
    Engine::new(config, 7).unwrap()
}

#[test]
fn caller_mistakes_are_refused_at_begin_and_recorded_nowhere() {
    let mut e = touchy();
    let now = Timestamp::from_secs(1);
    let post = |headers: &[(&str, &str)], body: &'static str| {
        let mut b = http::Request::post("http://svc.test/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::from_static(body.as_bytes())).unwrap()
    };
    let head_with_body = http::Request::head("http://svc.test/x")
        .body(Bytes::from_static(b"x"))
        .unwrap();
    let connect = http::Request::connect("http://svc.test/x")
        .body(Bytes::new())
        .unwrap();
    let mistakes = [
        post(&[("content-length", "abc")], "hello"),
        post(&[("content-length", "3")], "hello"),
        post(&[("transfer-encoding", "chunked")], "hello"),
        post(&[("connection", "close")], ""),
        head_with_body,
        connect,
    ];
    for r in &mistakes {
        assert!(
            e.begin(now, wall(), r, Some("svc")).is_err(),
            "{:?}",
            r.headers()
        );
    }
    assert_eq!(e.in_flight(), 0);
    assert!(
        e.metrics().service_snapshot("svc").is_none(),
        "nothing recorded"
    );
    assert!(
        e.breakers().get("svc").is_none(),
        "no breaker was even made"
    );
}

#[test]
fn a_request_the_transport_refuses_is_withdrawn_not_failed() {
    let mut e = touchy();
    let req = get("http://svc.test/x");
    for i in 0..5 {
        let now = Timestamp::from_secs(1 + i);
        let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, Some("svc")) else {
            panic!("the breaker admits request {i}")
        };
        let refused = Err(crate::TransportError::new(
            crate::TransportErrorKind::InvalidRequest,
            "bad header",
        ));
        let Ok(Next::Done(f)) = e.on_response(now, wall(), permit, &req, refused) else {
            panic!("a refused request is never retried")
        };
        assert!(matches!(
            &f.result,
            FinalResult::Transport(t) if t.kind == crate::TransportErrorKind::InvalidRequest
        ));
        assert_eq!(f.trace.attempts.len(), 1, "the trace shows the attempt");
        assert!(matches!(
            f.trace.attempts[0].next,
            AttemptNext::GiveUp {
                reason: crate::GiveUpReason::NotRetryable
            }
        ));
    }
    let now = Timestamp::from_secs(10);
    let b = e.breakers().get("svc").expect("the breaker exists");
    assert_eq!(b.snapshot(now).state, crate::BreakerState::Closed);
    assert_eq!(b.snapshot(now).failure_count, 0);
    let s = e.metrics().service_snapshot("svc").expect("tracked");
    assert_eq!(
        (s.total_requests, s.failed_requests, s.in_flight),
        (0, 0, 0),
        "{s:?}"
    );
    assert!(s.error_counts.is_empty(), "{s:?}");
    // A valid request then goes through and is counted.
    let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, Some("svc")) else {
        panic!("the breaker is closed")
    };
    let Ok(Next::Done(f)) = e.on_response(now, wall(), permit, &req, Ok(ok("no-store"))) else {
        panic!("200 is final")
    };
    assert!(matches!(f.result, FinalResult::Response(_)));
    let s = e.metrics().service_snapshot("svc").unwrap();
    assert_eq!((s.total_requests, s.successful_requests), (1, 1));
}

#[test]
fn debug_output_of_the_engine_and_its_answers_hides_secrets() {
    let mut e = engine(16);
    let now = Timestamp::from_secs(1);
    let req = http::Request::get("https://h.test/me?session_id=LEAK-1&page=2")
        .header("x-access-token", "LEAK-2")
        .body(Bytes::new())
        .unwrap();
    let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, None) else {
        panic!("a miss")
    };
    let response = http::Response::builder()
        .header("cache-control", "private, max-age=60")
        .header("set-cookie", "sid=LEAK-3")
        .header("x-session-token", "LEAK-4")
        .body(Bytes::from_static(b"LEAK-5 body"))
        .unwrap();
    let Ok(Next::Done(f)) = e.on_response(now, wall(), permit, &req, Ok(response)) else {
        panic!("final")
    };
    let shown = format!("{f:?} {e:?}");
    for leak in ["LEAK-1", "LEAK-2", "LEAK-3", "LEAK-4", "LEAK-5"] {
        assert!(!shown.contains(leak), "{leak} in {shown}");
    }
    assert!(shown.contains("page=2"), "{shown}");
}

#[test]
fn transport_errors_count_under_the_configured_names() {
    let names = [("connect", "ConnectError"), ("timeout", "ReadTimeout")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut e = Engine::new(
        EngineConfig {
            alert_interval: None,
            metrics: crate::MetricsConfig {
                transport_error_names: names,
                ..crate::MetricsConfig::default()
            },
            ..EngineConfig::default()
        },
        7,
    )
    .unwrap();
    for (i, kind) in [
        crate::TransportErrorKind::Connect,
        crate::TransportErrorKind::Timeout,
        crate::TransportErrorKind::Reset,
    ]
    .into_iter()
    .enumerate()
    {
        let now = Timestamp::from_secs(1 + i as u64);
        let req = get(&format!("http://svc.test/{i}"));
        let Ok(Decision::Send(permit)) = e.begin(now, wall(), &req, Some("svc")) else {
            panic!("admitted")
        };
        let failed = Err(crate::TransportError::new(kind, "failed"));
        let _ = e.on_response(now, wall(), permit, &req, failed).unwrap();
    }
    let s = e.metrics().service_snapshot("svc").unwrap();
    assert_eq!(s.error_counts.get("ConnectError"), 1, "{s:?}");
    assert_eq!(s.error_counts.get("ReadTimeout"), 1, "{s:?}");
    assert_eq!(
        s.error_counts.get("reset"),
        1,
        "unmapped kinds keep their own name"
    );
    assert_eq!(
        s.error_counts.get("connect") + s.error_counts.get("timeout"),
        0
    );
}

#[test]
fn transport_error_names_are_validated() {
    for (kind, name) in [
        ("connection", "ConnectError"),
        ("connect", ""),
        ("connect", "Connect Error"),
        ("connect", &"x".repeat(65)),
    ] {
        let config = crate::MetricsConfig {
            transport_error_names: [(kind.to_owned(), name.to_owned())].into_iter().collect(),
            ..crate::MetricsConfig::default()
        };
        let err = config.validate().expect_err(kind);
        assert!(err.to_string().contains("transport_error_names"), "{err}");
    }
}
