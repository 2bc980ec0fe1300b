//! The named scenarios of the foundation issue, each driven through the whole engine on
//! virtual time by the simulation harness. Every test fails if its behaviour breaks.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tether_core::{
    AttemptNext, CacheTrace, EngineConfig, EngineEvent, FinalResult, RejectReason, Timestamp,
    TransportErrorKind,
};
use tether_core::{Backoff, GiveUpReason};
use tether_core::{BreakDuration, BreakerConfig, BreakerState, BreakerWindow, RatioTrigger};
use tether_tests::{Sim, fail, get, ok, request, respond, wall_at};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// Retries with a small constant backoff, no budget, no breaker trigger, cache off: each test
/// turns on what it studies.
fn base() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.cache.enabled = false;
    c.retry.backoff = Backoff::Constant(100 * MS);
    c.retry.budget = None;
    c.breakers.default.consecutive_failures = None;
    c
}

fn breaker_opened(sim: &Sim) -> usize {
    sim.engine_events
        .iter()
        .filter(|(_, e)| {
            matches!(e, EngineEvent::Breaker(b)
                if matches!(b.event, tether_core::BreakerEvent::StateChanged { to: BreakerState::Open, .. }))
        })
        .count()
}

#[test]
fn breaker_opens_on_consecutive_5xx() {
    let mut c = base();
    c.retry.max_attempts = 1;
    c.breakers.default = BreakerConfig {
        consecutive_failures: Some(5),
        break_duration: BreakDuration::Constant(60 * SEC),
        ..BreakerConfig::default()
    };
    let mut sim = Sim::new(c, |_, _| (10 * MS, ok(503, "down")));
    for i in 0..5 {
        let id = sim.submit(get(&format!("http://svc.test/a{i}")), Some("svc"));
        sim.run();
        assert_eq!(
            sim.result(id).status(),
            Some(503),
            "5xx is returned as a response"
        );
    }
    assert_eq!(
        breaker_opened(&sim),
        1,
        "the 5th consecutive 5xx opens the breaker"
    );
    let sent = sim.sent.len();
    let id = sim.submit(get("http://svc.test/after"), Some("svc"));
    sim.run();
    assert_eq!(sim.sent.len(), sent, "an open breaker sends nothing");
    match sim.result(id).finished.result {
        FinalResult::Rejected(RejectReason::BreakerOpen { state, retry_at }) => {
            assert_eq!(state, BreakerState::Open);
            assert!(retry_at > sim.now(), "the rejection says when to try again");
        }
        ref other => panic!("expected a breaker rejection, got {other:?}"),
    }
    // A success in between resets the count: 4 failures, 1 success, 4 failures → still closed.
    let mut c = base();
    c.retry.max_attempts = 1;
    c.breakers.default.consecutive_failures = Some(5);
    let n = Rc::new(RefCell::new(0));
    let n2 = Rc::clone(&n);
    let mut sim = Sim::new(c, move |_, _| {
        *n2.borrow_mut() += 1;
        let i = *n2.borrow();
        (10 * MS, if i == 5 { ok(200, "ok") } else { ok(500, "x") })
    });
    for i in 0..9 {
        sim.submit(get(&format!("http://svc.test/b{i}")), Some("svc"));
        sim.run();
    }
    assert_eq!(breaker_opened(&sim), 0, "failures must be consecutive");
}

#[test]
fn ratio_trigger_ignores_low_throughput() {
    let mut c = base();
    c.retry.max_attempts = 1;
    c.breakers.default = BreakerConfig {
        consecutive_failures: None,
        ratio: Some(RatioTrigger {
            window: BreakerWindow::Count(20),
            failure_ratio: 0.5,
            min_throughput: 10,
            slow_call: None,
        }),
        ..BreakerConfig::default()
    };
    let failing = Rc::new(RefCell::new(true));
    let f2 = Rc::clone(&failing);
    let mut sim = Sim::new(c, move |_, _| {
        (
            10 * MS,
            if *f2.borrow() {
                ok(503, "x")
            } else {
                ok(200, "ok")
            },
        )
    });
    // 9 calls, all failing: 100 % failures but below the minimum throughput of 10.
    for i in 0..9 {
        sim.submit(get(&format!("http://svc.test/{i}")), Some("svc"));
        sim.run();
    }
    assert_eq!(
        breaker_opened(&sim),
        0,
        "below min_throughput the ratio is ignored"
    );
    // The 10th call reaches the minimum with a 100 % failure ratio: open.
    sim.submit(get("http://svc.test/10"), Some("svc"));
    sim.run();
    assert_eq!(breaker_opened(&sim), 1);
    *failing.borrow_mut() = false;
}

#[test]
fn half_open_admits_exactly_n_of_1000_concurrent_calls() {
    let mut c = base();
    c.retry.max_attempts = 1;
    c.breakers.default = BreakerConfig {
        consecutive_failures: Some(5),
        break_duration: BreakDuration::Constant(SEC),
        half_open_probes: 3,
        ..BreakerConfig::default()
    };
    let failing = Rc::new(RefCell::new(true));
    let f2 = Rc::clone(&failing);
    let mut sim = Sim::new(c, move |_, _| {
        (
            100 * MS,
            if *f2.borrow() {
                ok(503, "x")
            } else {
                ok(200, "ok")
            },
        )
    });
    for i in 0..5 {
        sim.submit(get(&format!("http://svc.test/open{i}")), Some("svc"));
        sim.run();
    }
    assert_eq!(breaker_opened(&sim), 1);
    *failing.borrow_mut() = false;
    sim.advance(SEC);
    let before = sim.sent.len();
    let ids = sim.submit_many(
        1000,
        |i| get(&format!("http://svc.test/probe{i}")),
        Some("svc"),
    );
    sim.run();
    assert_eq!(
        sim.sent.len() - before,
        3,
        "exactly N probes reach the upstream"
    );
    let mut ok200 = 0;
    let mut rejected = 0;
    for id in ids {
        match &sim.result(id).finished.result {
            FinalResult::Response(r) if r.status() == 200 => ok200 += 1,
            FinalResult::Rejected(RejectReason::BreakerOpen { state, .. }) => {
                assert_eq!(*state, BreakerState::HalfOpen);
                rejected += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok200, rejected), (3, 997));
    // All probes succeeded: closed again, traffic flows.
    let id = sim.submit(get("http://svc.test/after"), Some("svc"));
    sim.run();
    assert_eq!(sim.result(id).status(), Some(200));
}

/// A 503 carrying `Retry-After: value`, then 200.
fn retry_after_sim(value: String) -> Sim {
    let mut c = base();
    c.retry.max_attempts = 2;
    let n = Rc::new(RefCell::new(0));
    Sim::new(c, move |_, _| {
        *n.borrow_mut() += 1;
        if *n.borrow() == 1 {
            (
                10 * MS,
                respond(503, &[("retry-after", value.as_str())], "busy"),
            )
        } else {
            (10 * MS, ok(200, "ok"))
        }
    })
}

#[test]
fn retry_after_seconds_is_honoured_never_early() {
    let mut sim = retry_after_sim("7".into());
    let id = sim.submit(get("http://svc.test/ra"), None);
    sim.run();
    assert_eq!(sim.result(id).status(), Some(200));
    let gap = sim.sent[1].at.saturating_duration_since(sim.sent[0].at);
    assert!(
        gap >= 7 * SEC + 10 * MS,
        "retried after {gap:?}, before the server's instant"
    );
    assert!(gap < 8 * SEC, "{gap:?}");
}

#[test]
fn retry_after_date_in_the_past_retries_with_backoff() {
    let past = httpdate::fmt_http_date(wall_at(Timestamp::ZERO).to_system_time() - 3600 * SEC);
    let mut sim = retry_after_sim(past);
    let id = sim.submit(get("http://svc.test/ra"), None);
    sim.run();
    assert_eq!(sim.result(id).status(), Some(200));
    let gap = sim.sent[1].at.saturating_duration_since(sim.sent[0].at);
    assert!(
        gap < SEC,
        "a past date means 'now': only the backoff applies ({gap:?})"
    );
}

#[test]
fn retry_after_date_in_the_far_future_gives_up() {
    let mut sim = retry_after_sim("Fri, 31 Dec 9999 23:59:59 GMT".into());
    let id = sim.submit(get("http://svc.test/ra"), None);
    sim.run();
    let r = sim.result(id);
    assert_eq!(r.status(), Some(503), "the last response is returned");
    assert_eq!(
        sim.sent.len(),
        1,
        "no retry stalls a worker until year 9999"
    );
    assert_eq!(
        r.finished.trace.attempts[0].next,
        AttemptNext::GiveUp {
            reason: GiveUpReason::RetryAfterTooLong
        }
    );
}

#[test]
fn retry_after_garbage_is_ignored() {
    for garbage in ["soon", "-5", "1.5", "", "Thu, 99 Foo 2026", "🙂"] {
        let mut sim = retry_after_sim(garbage.into());
        let id = sim.submit(get("http://svc.test/ra"), None);
        sim.run();
        assert_eq!(
            sim.result(id).status(),
            Some(200),
            "garbage {garbage:?} must not fail"
        );
        let gap = sim.sent[1].at.saturating_duration_since(sim.sent[0].at);
        assert_eq!(gap, 100 * MS + 10 * MS, "plain backoff for {garbage:?}");
    }
}

#[test]
fn post_is_not_retried_without_idempotency_key() {
    let mut c = base();
    c.retry.max_attempts = 4;
    let mut sim = Sim::new(c, |_, _| (10 * MS, ok(503, "x")));
    let id = sim.submit(request("POST", "http://svc.test/orders", &[], "{}"), None);
    sim.run();
    assert_eq!(sim.sent.len(), 1, "a POST is sent exactly once");
    assert_eq!(
        sim.result(id).finished.trace.attempts[0].next,
        AttemptNext::GiveUp {
            reason: GiveUpReason::NotIdempotent
        }
    );
    let id = sim.submit(
        request(
            "POST",
            "http://svc.test/orders",
            &[("idempotency-key", "k-1")],
            "{}",
        ),
        None,
    );
    sim.run();
    assert_eq!(
        sim.sent.len(),
        1 + 4,
        "with an Idempotency-Key it is retried"
    );
    assert_eq!(sim.result(id).finished.trace.attempts.len(), 4);
    // A connection refused means nothing reached the server: safe to retry even a POST.
    let mut sim = Sim::new(base(), |_, _| (MS, fail(TransportErrorKind::Connect)));
    sim.submit(request("POST", "http://svc.test/orders", &[], "{}"), None);
    sim.run();
    assert_eq!(sim.sent.len(), 4);
}

#[test]
fn budget_exhausted_stops_retries_under_a_failure_storm() {
    let mut c = base();
    c.retry.max_attempts = 4;
    c.retry.budget = Some(tether_core::BudgetConfig::default()); // 10 s, 10/s, 20 %
    let mut sim = Sim::new(c, |_, _| (5 * MS, ok(503, "storm")));
    // 1000 requests over 10 s, every attempt failing.
    for i in 0..1000u64 {
        sim.submit_at(
            Timestamp::from_millis(i * 10),
            get(&format!("http://svc.test/{i}")),
            None,
        );
    }
    sim.run();
    let retries = sim.sent.len() - 1000;
    // Finagle semantics: 20 % of requests plus a reserve of 10 retries per second of the run.
    let run_secs = sim
        .sent
        .last()
        .unwrap()
        .at
        .as_duration()
        .as_secs_f64()
        .ceil() as usize;
    assert!(
        retries <= 200 + 10 * run_secs,
        "retries {retries} exceed 20 % of requests + 10/s reserve over {run_secs} s"
    );
    assert!(
        retries >= 100,
        "the budget still allows some retries ({retries})"
    );
    let exhausted = sim
        .results()
        .filter(|(_, r)| {
            r.finished.trace.attempts.last().map(|a| a.next)
                == Some(AttemptNext::GiveUp {
                    reason: GiveUpReason::BudgetExhausted,
                })
        })
        .count();
    assert!(
        exhausted > 500,
        "most requests stopped on the budget ({exhausted})"
    );
    // Without a budget the same storm triples the load.
    let mut c = base();
    c.retry.max_attempts = 4;
    let mut sim = Sim::new(c, |_, _| (5 * MS, ok(503, "storm")));
    for i in 0..100u64 {
        sim.submit(get(&format!("http://svc.test/{i}")), None);
    }
    sim.run();
    assert_eq!(sim.sent.len(), 400);
}

#[test]
fn single_flight_coalesces_100_identical_misses_into_one_send() {
    let mut c = base();
    c.cache.enabled = true;
    let mut sim = Sim::new(c, |_, _| {
        (
            50 * MS,
            respond(200, &[("cache-control", "max-age=60")], "shared"),
        )
    });
    let ids = sim.submit_many(100, |_| get("http://svc.test/popular"), None);
    sim.run();
    assert_eq!(
        sim.sent.len(),
        1,
        "one upstream call for 100 identical misses"
    );
    let coalesced = ids
        .iter()
        .filter(|id| sim.result(**id).finished.trace.cache == CacheTrace::Coalesced)
        .count();
    assert_eq!(coalesced, 99);
    for id in ids {
        assert_eq!(sim.result(id).status(), Some(200));
        assert_eq!(sim.result(id).body().unwrap(), "shared");
    }
}

#[test]
fn stale_if_error_is_served_while_the_upstream_fails() {
    let mut c = base();
    c.cache.enabled = true;
    c.retry.max_attempts = 2;
    let down = Rc::new(RefCell::new(false));
    let d2 = Rc::clone(&down);
    let mut sim = Sim::new(c, move |_, _| {
        if *d2.borrow() {
            (10 * MS, fail(TransportErrorKind::Connect))
        } else {
            (
                10 * MS,
                respond(
                    200,
                    &[("cache-control", "max-age=1, stale-if-error=60")],
                    "v1",
                ),
            )
        }
    });
    let id = sim.submit(get("http://svc.test/doc"), None);
    sim.run();
    assert!(!sim.result(id).from_cache());
    *down.borrow_mut() = true;
    sim.advance(5 * SEC); // stale now, within stale-if-error
    let id = sim.submit(get("http://svc.test/doc"), None);
    sim.run();
    let r = sim.result(id);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.body().unwrap(), "v1");
    assert!(r.from_cache());
    assert_eq!(r.finished.trace.cache, CacheTrace::StaleIfError);
    assert_eq!(
        r.finished.trace.attempts.len(),
        2,
        "it tried the upstream first"
    );
    // Past the stale-if-error window the failure shows.
    sim.advance(120 * SEC);
    let id = sim.submit(get("http://svc.test/doc"), None);
    sim.run();
    assert!(matches!(
        sim.result(id).finished.result,
        FinalResult::Transport(_)
    ));
}

#[test]
fn revalidation_with_304() {
    let mut c = base();
    c.cache.enabled = true;
    let mut sim = Sim::new(c, |req, _| {
        if req
            .headers()
            .get("if-none-match")
            .map(http::HeaderValue::as_bytes)
            == Some(b"\"v1\"")
        {
            (
                5 * MS,
                respond(
                    304,
                    &[
                        ("etag", "\"v1\""),
                        ("cache-control", "max-age=1"),
                        ("x-fresh", "yes"),
                    ],
                    "",
                ),
            )
        } else {
            (
                5 * MS,
                respond(
                    200,
                    &[("etag", "\"v1\""), ("cache-control", "max-age=1")],
                    "body-v1",
                ),
            )
        }
    });
    sim.submit(get("http://svc.test/etag"), None);
    sim.run();
    sim.advance(3 * SEC);
    let id = sim.submit(get("http://svc.test/etag"), None);
    sim.run();
    assert_eq!(sim.sent.len(), 2);
    assert_eq!(
        sim.sent[1].headers.get("if-none-match").unwrap(),
        "\"v1\"",
        "the engine made the request conditional"
    );
    let r = sim.result(id);
    assert_eq!(
        r.status(),
        Some(200),
        "a 304 is merged, the caller sees 200"
    );
    assert_eq!(r.body().unwrap(), "body-v1");
    assert_eq!(r.finished.trace.cache, CacheTrace::Revalidated);
    match &r.finished.result {
        FinalResult::Response(reply) => assert_eq!(reply.headers()["x-fresh"], "yes"),
        other => panic!("{other:?}"),
    }
    // Fresh again after the 304: no send.
    let id = sim.submit(get("http://svc.test/etag"), None);
    sim.run();
    assert_eq!(sim.sent.len(), 2);
    assert!(sim.result(id).from_cache());
}

#[test]
fn two_credentials_never_share_an_entry() {
    let mut c = base();
    c.cache.enabled = true;
    let mut sim = Sim::new(c, |req, _| {
        let who = req
            .headers()
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let profile = match who.as_str() {
            "Bearer alice" => "profile A",
            "Bearer bob" => "profile B",
            _ => "anonymous",
        };
        (
            5 * MS,
            respond(200, &[("cache-control", "max-age=60")], profile),
        )
    });
    let alice = || {
        request(
            "GET",
            "http://svc.test/me",
            &[("authorization", "Bearer alice")],
            "",
        )
    };
    let bob = || {
        request(
            "GET",
            "http://svc.test/me",
            &[("authorization", "Bearer bob")],
            "",
        )
    };
    let a1 = sim.submit(alice(), None);
    sim.run();
    let b1 = sim.submit(bob(), None);
    sim.run();
    let a2 = sim.submit(alice(), None);
    let b2 = sim.submit(bob(), None);
    sim.run();
    assert_eq!(sim.sent.len(), 2, "one upstream hit per credential");
    assert_eq!(sim.result(a1).body().unwrap(), "profile A");
    assert_eq!(sim.result(b1).body().unwrap(), "profile B");
    assert_eq!(sim.result(a2).body().unwrap(), "profile A");
    assert_eq!(sim.result(b2).body().unwrap(), "profile B");
    assert!(sim.result(a2).from_cache() && sim.result(b2).from_cache());
    // The secret is never kept in the engine.
    let dump = format!("{:?}", sim.engine);
    assert!(!dump.contains("alice") && !dump.contains("bob"));
}

#[test]
fn lru_evicts_by_bytes() {
    let mut c = base();
    c.cache.enabled = true;
    c.cache.max_bytes = 10 * 1024;
    c.cache.max_entry_bytes = 8 * 1024;
    c.cache.max_entries = 1000;
    let body = "x".repeat(3 * 1024);
    let mut sim = Sim::new(c, move |_, _| {
        (MS, respond(200, &[("cache-control", "max-age=600")], &body))
    });
    for i in 0..5 {
        sim.submit(get(&format!("http://svc.test/blob{i}")), None);
        sim.run();
    }
    let stats = sim.engine.cache().stats();
    assert!(stats.bytes <= 10 * 1024, "{stats:?}");
    assert!(stats.entries < 5 && stats.evictions >= 2, "{stats:?}");
    // The least recently used went first; the newest is still there.
    let newest = sim.submit(get("http://svc.test/blob4"), None);
    let oldest = sim.submit(get("http://svc.test/blob0"), None);
    sim.run();
    assert!(sim.result(newest).from_cache());
    assert!(!sim.result(oldest).from_cache());
}

fn alert_events(sim: &Sim, rule: &str, fired: bool) -> usize {
    sim.engine_events
        .iter()
        .filter(|(_, e)| match e {
            EngineEvent::Alert(tether_core::AlertEvent::Fired(a)) => fired && a.alert_type == rule,
            EngineEvent::Alert(tether_core::AlertEvent::Resolved(a)) => {
                !fired && a.alert_type == rule
            }
            _ => false,
        })
        .count()
}

#[test]
fn alert_fires_once_and_resolves_once() {
    let mut c = base();
    c.retry.max_attempts = 1;
    let failing = Rc::new(RefCell::new(true));
    let f2 = Rc::clone(&failing);
    let mut sim = Sim::new(c, move |_, _| {
        (
            10 * MS,
            if *f2.borrow() {
                ok(500, "x")
            } else {
                ok(200, "ok")
            },
        )
    });
    // One minute of steady failures (6 alert evaluations), then one of successes.
    for s in 0..60u64 {
        sim.submit_at(
            Timestamp::from_secs(s),
            get(&format!("http://api.test/{s}")),
            Some("api"),
        );
    }
    sim.advance(61 * SEC);
    assert_eq!(
        alert_events(&sim, "service_errors", true),
        1,
        "fired once, not per evaluation"
    );
    assert_eq!(alert_events(&sim, "service_errors", false), 0);
    let firing: Vec<_> = sim
        .engine
        .alerts()
        .active()
        .map(|a| a.message.clone())
        .collect();
    assert!(
        firing
            .iter()
            .any(|m| m == "Service api success rate is 0.00%"),
        "{firing:?}"
    );
    *failing.borrow_mut() = false;
    for s in 61..120u64 {
        sim.submit_at(
            Timestamp::from_secs(s),
            get(&format!("http://api.test/{s}")),
            Some("api"),
        );
    }
    sim.advance(60 * SEC);
    assert_eq!(alert_events(&sim, "service_errors", true), 1);
    assert_eq!(
        alert_events(&sim, "service_errors", false),
        1,
        "resolved once"
    );
}

#[test]
fn no_alert_for_an_idle_service() {
    let mut sim = Sim::new(base(), |_, _| (MS, ok(200, "ok")));
    sim.engine.register_service("idle-svc");
    sim.advance(120 * SEC);
    let alerts: Vec<_> = sim
        .engine_events
        .iter()
        .filter(|(_, e)| matches!(e, EngineEvent::Alert(_)))
        .collect();
    assert!(
        alerts.is_empty(),
        "an idle service raises nothing: {alerts:?}"
    );
    let snap = sim.engine.snapshot(sim.now(), sim.wall());
    assert!(snap.metrics.service("idle-svc").is_some(), "it is tracked");
}

#[test]
fn retry_of_503_then_success_and_trace() {
    let n = Rc::new(RefCell::new(0));
    let mut sim = Sim::new(base(), move |_, _| {
        *n.borrow_mut() += 1;
        (
            10 * MS,
            if *n.borrow() < 3 {
                ok(503, "x")
            } else {
                ok(200, "ok")
            },
        )
    });
    let id = sim.submit(get("http://svc.test/flaky"), None);
    sim.run();
    let r = sim.result(id);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.finished.trace.retries(), 2);
    let summary = r.finished.trace.summary();
    assert!(
        summary.contains("#1 503") && summary.contains("#3 200"),
        "{summary}"
    );
    let m = sim.engine.metrics().snapshot(sim.wall());
    assert_eq!(m.global.total_requests, 1, "one logical request");
    assert_eq!(m.global.attempts, 3, "three attempts, counted apart");
    assert_eq!(m.global.successful_requests, 1);
    assert_eq!(m.global.failed_requests, 0);
}

#[test]
fn invalid_urls_and_oversized_bodies_are_typed_errors() {
    let mut c = base();
    c.max_request_body = 10;
    let mut sim = Sim::new(c, |_, _| (MS, ok(200, "ok")));
    sim.submit(get("/relative"), None);
    sim.submit(get("ftp://h/x"), None);
    sim.submit(request("POST", "http://h/x", &[], "01234567890"), None);
    sim.run();
    assert_eq!(sim.request_errors.len(), 3);
    assert!(sim.sent.is_empty());
}

#[test]
fn cancelled_leader_hands_the_fetch_to_a_follower() {
    let mut c = base();
    c.cache.enabled = true;
    let mut sim = Sim::new(c, |_, _| {
        (
            50 * MS,
            respond(200, &[("cache-control", "max-age=60")], "v"),
        )
    });
    let now = sim.now();
    let wall = sim.wall();
    let req = get("http://svc.test/x");
    let leader = sim.engine.begin(now, wall, &req, None).unwrap();
    let follower = sim.engine.begin(now, wall, &req, None).unwrap();
    let tether_core::Decision::Send(permit) = leader else {
        panic!("leader sends")
    };
    let tether_core::Decision::Wait(fid) = follower else {
        panic!("follower waits")
    };
    let cancelled = sim.engine.cancel(now, permit.id()).unwrap();
    assert!(matches!(
        cancelled.result,
        tether_core::FinalResult::Rejected(tether_core::RejectReason::Cancelled)
    ));
    drop(permit);
    let out = sim.engine.poll_output();
    assert!(
        matches!(out, Some(tether_core::Output::Proceed(id)) if id == fid),
        "{out:?}"
    );
    let d = sim.engine.proceed(now, wall, fid, &req);
    assert!(
        matches!(d, Ok(tether_core::Decision::Send(_))),
        "the follower now fetches"
    );
}

#[test]
fn a_304_that_cannot_be_merged_is_never_shown_to_the_caller() {
    let mut c = base();
    c.cache.enabled = true;
    // Conditional requests get a 304 for a *different* validator: the stored entry cannot be
    // refreshed by it, so the engine must fetch again without validators.
    let mut sim = Sim::new(c, |req, _| {
        if req.headers().contains_key("if-none-match") {
            (5 * MS, respond(304, &[("etag", "\"v2\"")], ""))
        } else {
            (
                5 * MS,
                respond(
                    200,
                    &[("etag", "\"v1\""), ("cache-control", "max-age=1")],
                    "body",
                ),
            )
        }
    });
    sim.submit(get("http://svc.test/doc"), None);
    sim.run();
    sim.advance(3 * SEC);
    let id = sim.submit(get("http://svc.test/doc"), None);
    sim.run();
    let r = sim.result(id);
    assert_eq!(r.status(), Some(200), "{}", r.finished.trace.summary());
    assert_eq!(r.body().unwrap(), "body");
    assert_eq!(
        sim.sent.len(),
        3,
        "initial, conditional, then unconditional"
    );
    assert!(!sim.sent[2].headers.contains_key("if-none-match"));
}

#[test]
fn no_attempt_is_sent_with_no_time_left_before_the_deadline() {
    let mut c = base();
    c.retry.max_attempts = 5;
    c.retry.deadline = Some(SEC);
    c.retry.backoff = Backoff::Constant(400 * MS);
    let mut sim = Sim::new(c, |_, _| (600 * MS, ok(503, "x")));
    let id = sim.submit(get("http://svc.test/slow"), None);
    sim.run();
    // Attempt 1 ends at 600 ms; a retry 400 ms later would start exactly at the deadline.
    assert_eq!(sim.sent.len(), 1);
    assert_eq!(
        sim.result(id).finished.trace.attempts[0].next,
        AttemptNext::GiveUp {
            reason: GiveUpReason::DeadlineExceeded
        }
    );
}
