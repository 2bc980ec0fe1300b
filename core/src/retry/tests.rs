//! Decision tests for [`RetryPolicy`], on virtual time.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use proptest::prelude::*;

use super::*;
use crate::{Response, Rng, TransportError};

#[expect(
    clippy::unnecessary_wraps,
    reason = "tests pass outcomes, which are Results"
)]
fn resp(status: u16, retry_after: Option<&str>) -> Outcome {
    let mut b = http::Response::builder().status(status);
    if let Some(v) = retry_after {
        b = b.header(http::header::RETRY_AFTER, v);
    }
    let r: Response = b.body(Bytes::new()).unwrap();
    Ok(r)
}

fn err(kind: TransportErrorKind) -> Outcome {
    Err(TransportError::new(kind, "boom"))
}

fn req(method: Method, key: bool) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri("http://example.test/x");
    if key {
        b = b.header("idempotency-key", "k-1");
    }
    b.body(Bytes::new()).unwrap()
}

/// A policy with a deterministic constant backoff and no budget.
fn constant(ms: u64) -> RetryPolicy {
    RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_millis(ms)),
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap()
}

/// 2015-05-15T15:34:21Z.
const WALL: WallClock = WallClock::from_unix_secs(1_431_704_061);

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

#[test]
fn defaults() {
    let c = RetryConfig::default();
    assert_eq!(c.max_attempts, 4);
    assert_eq!(c.retryable_statuses, vec![408, 429, 500, 502, 503, 504]);
    assert_eq!(c.max_retry_after, Duration::from_mins(1));
    assert!(c.respect_retry_after && !c.retry_non_idempotent && c.retry_connect_non_idempotent);
    assert_eq!(c.budget, Some(BudgetConfig::default()));
    assert!(c.validate().is_ok());
}

/// The defaults give up on a dead upstream (every attempt refused at once) 0.7–1.5 s after
/// the first failure, whatever the jitter draws; the original's backoff took 7–10 s.
#[test]
fn default_retries_give_up_on_a_dead_upstream_within_a_second_and_a_half() {
    let give_up_after = |config: RetryConfig, seed: u64| {
        let p = RetryPolicy::new(config).unwrap();
        let mut rng = Rng::new(seed);
        let mut state = p.begin(t(0), &req(Method::GET, false));
        let mut now = t(0);
        loop {
            let refused = err(TransportErrorKind::Connect);
            match p.decide(now, WALL, &mut state, &mut rng, &refused, None) {
                RetryDecision::Retry { at, .. } => now = at,
                RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted) => break now,
                other => panic!("{other:?}"),
            }
        }
    };
    let (mut fastest, mut slowest) = (Duration::MAX, Duration::ZERO);
    for seed in 0..2_000 {
        let total = give_up_after(RetryConfig::default(), seed).saturating_duration_since(t(0));
        fastest = fastest.min(total);
        slowest = slowest.max(total);
    }
    assert!(fastest >= Duration::from_millis(700), "{fastest:?}");
    assert!(slowest <= Duration::from_millis(1_500), "{slowest:?}");
    // The original's timings stay available, by name.
    let original = RetryConfig {
        backoff: Backoff::Original,
        budget: None,
        ..RetryConfig::default()
    };
    let original = give_up_after(original, 1).saturating_duration_since(t(0));
    assert!(original >= Duration::from_secs(7), "{original:?}");
}

#[test]
fn a_request_deadline_stops_retries_and_combines_with_the_configured_one() {
    let p = RetryPolicy::new(RetryConfig {
        deadline: Some(Duration::from_secs(10)),
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut request = req(Method::GET, false);
    // No deadline of its own: the configured one, from the request's start.
    let state = p.begin(t(1_000), &request);
    assert_eq!(p.deadline(&state), Some(t(11_000)));
    // An earlier deadline of its own wins; a later one does not.
    request.extensions_mut().insert(crate::Deadline(t(1_200)));
    let mut state = p.begin(t(1_000), &request);
    assert_eq!(p.deadline(&state), Some(t(1_200)));
    let later = p.begin(t(1_000), &{
        let mut r = req(Method::GET, false);
        r.extensions_mut().insert(crate::Deadline(t(60_000)));
        r
    });
    assert_eq!(p.deadline(&later), Some(t(11_000)));
    // A retry that would start at or after it is not scheduled.
    let mut rng = Rng::new(1);
    let d = p.decide(
        t(1_100),
        WALL,
        &mut state,
        &mut rng,
        &resp(503, Some("1")),
        None,
    );
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded));
}

#[test]
fn status_503_retried_then_attempts_exhausted() {
    let p = constant(100);
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let mut now = t(0);
    for attempt in 1..=3u32 {
        let d = p.decide(now, WALL, &mut st, &mut rng, &resp(503, None), None);
        assert_eq!(
            d,
            RetryDecision::Retry {
                at: now.saturating_add(Duration::from_millis(100)),
                delay: Duration::from_millis(100),
                next_attempt: attempt + 1,
                reason: RetryReason::Status(503),
                retry_after: None,
            }
        );
        now = now.saturating_add(Duration::from_millis(150));
    }
    let d = p.decide(now, WALL, &mut st, &mut rng, &resp(503, None), None);
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted));
    assert_eq!(st.attempts(), 4);
}

#[test]
fn non_retryable_outcomes() {
    let p = constant(100);
    let mut rng = Rng::new(1);
    for status in [200, 201, 304, 400, 404, 501] {
        let mut st = p.begin(t(0), &req(Method::GET, false));
        let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(status, None), None);
        assert_eq!(d, RetryDecision::Success, "{status}");
    }
    for kind in [
        TransportErrorKind::Protocol,
        TransportErrorKind::BodyTooLarge,
        TransportErrorKind::Cancelled,
        TransportErrorKind::Other,
    ] {
        let mut st = p.begin(t(0), &req(Method::GET, false));
        let d = p.decide(t(0), WALL, &mut st, &mut rng, &err(kind), None);
        assert_eq!(
            d,
            RetryDecision::GiveUp(GiveUpReason::NotRetryable),
            "{kind}"
        );
    }
    for kind in [
        TransportErrorKind::Connect,
        TransportErrorKind::Timeout,
        TransportErrorKind::Reset,
    ] {
        let mut st = p.begin(t(0), &req(Method::GET, false));
        let d = p.decide(t(0), WALL, &mut st, &mut rng, &err(kind), None);
        assert!(
            matches!(d, RetryDecision::Retry { reason: RetryReason::Transport(k), .. } if k == kind),
            "{kind}: {d:?}"
        );
    }
}

#[test]
fn post_needs_an_idempotency_key() {
    let p = constant(100);
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::POST, false));
    let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(503, None), None);
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::NotIdempotent));
    let mut st = p.begin(t(0), &req(Method::PATCH, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &err(TransportErrorKind::Timeout),
        None,
    );
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::NotIdempotent));

    // With the key (header names are case-insensitive).
    let mut st = p.begin(t(0), &req(Method::POST, true));
    assert!(st.is_idempotent());
    let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(503, None), None);
    assert!(d.is_retry(), "{d:?}");

    // A connect failure never reached the server: retried by default, not when disabled.
    let mut st = p.begin(t(0), &req(Method::POST, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &err(TransportErrorKind::Connect),
        None,
    );
    assert!(d.is_retry(), "{d:?}");
    let strict = RetryPolicy::new(RetryConfig {
        retry_connect_non_idempotent: false,
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut st = strict.begin(t(0), &req(Method::POST, false));
    let d = strict.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &err(TransportErrorKind::Connect),
        None,
    );
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::NotIdempotent));

    // Opt-in for all non-idempotent methods (the original's behaviour).
    let lax = RetryPolicy::new(RetryConfig {
        retry_non_idempotent: true,
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut st = lax.begin(t(0), &req(Method::POST, false));
    let d = lax.decide(t(0), WALL, &mut st, &mut rng, &resp(500, None), None);
    assert!(d.is_retry(), "{d:?}");

    for m in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::TRACE,
    ] {
        assert!(is_idempotent(&m), "{m}");
    }
    for m in [Method::POST, Method::PATCH, Method::CONNECT] {
        assert!(!is_idempotent(&m), "{m}");
    }
}

#[test]
fn retry_after_seconds_is_a_floor() {
    let p = constant(100);
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(1_000),
        WALL,
        &mut st,
        &mut rng,
        &resp(429, Some("3")),
        None,
    );
    assert_eq!(
        d,
        RetryDecision::Retry {
            at: t(4_000),
            delay: Duration::from_secs(3),
            next_attempt: 2,
            reason: RetryReason::Status(429),
            retry_after: Some(Duration::from_secs(3)),
        }
    );
    // A Retry-After shorter than the backoff does not shorten it.
    let p = constant(5_000);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(503, Some("1")), None);
    assert!(
        matches!(d, RetryDecision::Retry { delay, retry_after: Some(ra), .. }
            if delay == Duration::from_secs(5) && ra == Duration::from_secs(1)),
        "{d:?}"
    );
}

#[test]
fn retry_after_http_date() {
    let p = constant(100);
    let mut rng = Rng::new(1);
    // Past date → zero → normal backoff, but it was present and respected.
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &resp(503, Some("Sun, 06 Nov 1994 08:49:37 GMT")),
        None,
    );
    assert!(
        matches!(d, RetryDecision::Retry { delay, retry_after: Some(Duration::ZERO), .. }
            if delay == Duration::from_millis(100)),
        "{d:?}"
    );
    // 10 s ahead of a wall clock that is 0.3 s past the second: 9.7 s exactly.
    let wall = WallClock::from_unix_micros(1_431_704_061_300_000);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(500),
        wall,
        &mut st,
        &mut rng,
        &resp(503, Some("Fri, 15 May 2015 15:34:31 GMT")),
        None,
    );
    assert!(
        matches!(d, RetryDecision::Retry { at, .. } if at == Timestamp::from_micros(10_200_000)),
        "{d:?}"
    );
    // Year 9999 with the default cap: give up instead of stalling for millennia.
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &resp(503, Some("Fri, 31 Dec 9999 23:59:59 GMT")),
        None,
    );
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong));
    // Huge delta-seconds too.
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &resp(429, Some("99999999999999999999999")),
        None,
    );
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong));
}

#[test]
fn long_retry_after_can_be_capped() {
    let p = RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_millis(100)),
        on_long_retry_after: LongRetryAfter::Cap,
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &resp(429, Some("3600")),
        None,
    );
    assert!(
        matches!(d, RetryDecision::Retry { delay, retry_after: Some(ra), .. }
            if delay == Duration::from_mins(1) && ra == Duration::from_mins(1)),
        "{d:?}"
    );
}

#[test]
fn garbage_retry_after_is_ignored() {
    let p = constant(250);
    let mut rng = Rng::new(1);
    for bad in [
        "abc",
        "-1",
        "1.5",
        "",
        "５",
        "Fri, 99 May 2015 15:34:31 GMT",
    ] {
        let mut st = p.begin(t(0), &req(Method::GET, false));
        let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(503, Some(bad)), None);
        assert_eq!(
            d,
            RetryDecision::Retry {
                at: t(250),
                delay: Duration::from_millis(250),
                next_attempt: 2,
                reason: RetryReason::Status(503),
                retry_after: None,
            },
            "{bad:?}"
        );
    }
    // Non-visible-ASCII header bytes (not valid `&str` for the header API) are ignored too.
    let r: Response = http::Response::builder()
        .status(503)
        .header(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        )
        .body(Bytes::new())
        .unwrap();
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(t(0), WALL, &mut st, &mut rng, &Ok(r), None);
    assert!(
        matches!(d, RetryDecision::Retry { retry_after: None, delay, .. } if delay == Duration::from_millis(250)),
        "{d:?}"
    );
}

#[test]
fn retry_after_not_respected_when_disabled() {
    let p = RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_millis(100)),
        respect_retry_after: false,
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &resp(429, Some("3600")),
        None,
    );
    assert!(
        matches!(d, RetryDecision::Retry { delay, retry_after: None, .. } if delay == Duration::from_millis(100)),
        "{d:?}"
    );
}

#[test]
fn deadline_stops_retries() {
    let p = RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_secs(1)),
        deadline: Some(Duration::from_millis(2_500)),
        max_attempts: 10,
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    assert_eq!(p.deadline(&st), Some(t(2_500)));
    // Attempt 1 fails at 0.1 s → retry at 1.1 s; attempt 2 fails at 1.2 s → retry at 2.2 s;
    // attempt 3 fails at 2.3 s → a retry at 3.3 s would pass the deadline.
    let d = p.decide(t(100), WALL, &mut st, &mut rng, &resp(502, None), None);
    assert!(
        matches!(d, RetryDecision::Retry { at, .. } if at == t(1_100)),
        "{d:?}"
    );
    let d = p.decide(t(1_200), WALL, &mut st, &mut rng, &resp(502, None), None);
    assert!(
        matches!(d, RetryDecision::Retry { at, .. } if at == t(2_200)),
        "{d:?}"
    );
    let d = p.decide(t(2_300), WALL, &mut st, &mut rng, &resp(502, None), None);
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded));
}

#[test]
fn max_delay_caps_backoff() {
    let p = RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_secs(100)),
        max_delay: Duration::from_secs(2),
        budget: None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(500, None), None);
    assert!(
        matches!(d, RetryDecision::Retry { delay, .. } if delay == Duration::from_secs(2)),
        "{d:?}"
    );
}

#[test]
fn budget_exhausted_stops_retries_under_a_failure_storm() {
    let p = RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_millis(10)),
        ..RetryConfig::default()
    })
    .unwrap();
    let mut budget = p.new_budget().expect("default config has a budget");
    let mut rng = Rng::new(7);
    let (mut retries, mut budget_stops) = (0u32, 0u32);
    // 1000 requests, one per millisecond (all within the 10 s ttl), every attempt fails.
    for i in 0..1_000u64 {
        let now = t(i);
        budget.deposit(now);
        let mut st = p.begin(now, &req(Method::GET, false));
        loop {
            match p.decide(
                now,
                WALL,
                &mut st,
                &mut rng,
                &resp(503, None),
                Some(&mut budget),
            ) {
                RetryDecision::Retry { .. } => retries += 1,
                RetryDecision::GiveUp(GiveUpReason::BudgetExhausted) => {
                    budget_stops += 1;
                    break;
                }
                RetryDecision::GiveUp(_) | RetryDecision::Success => break,
            }
        }
    }
    // Without a budget: 3000 retries. With it: reserve 10/s × 10 s + 20 % of 1000 deposits.
    assert!(retries <= 200 + 100, "{retries}");
    assert!(
        retries >= 295,
        "{retries}: the budget should be used up, not unused"
    );
    assert!(budget_stops > 800, "{budget_stops}");
    assert_eq!(budget.balance(t(999)), 0);
    // Without passing the budget, retries are unlimited by it.
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(t(0), WALL, &mut st, &mut rng, &resp(503, None), None);
    assert!(d.is_retry());
}

#[test]
fn budget_is_not_spent_when_no_retry_is_scheduled() {
    let p = RetryPolicy::new(RetryConfig {
        backoff: Backoff::Constant(Duration::from_secs(1)),
        max_attempts: 1,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut budget = p.new_budget().unwrap();
    let before = budget.balance(t(0));
    let mut rng = Rng::new(1);
    let mut st = p.begin(t(0), &req(Method::GET, false));
    let d = p.decide(
        t(0),
        WALL,
        &mut st,
        &mut rng,
        &resp(503, None),
        Some(&mut budget),
    );
    assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted));
    assert_eq!(budget.balance(t(0)), before);
}

#[test]
fn validation_errors() {
    let bad = |c: RetryConfig| RetryPolicy::new(c).expect_err("should be invalid");
    let base = RetryConfig::default;
    assert_eq!(
        bad(RetryConfig {
            max_attempts: 0,
            ..base()
        }),
        ConfigError::invalid("retry.max_attempts", "must be >= 1")
    );
    assert!(matches!(
        bad(RetryConfig {
            retryable_statuses: vec![503, 1000],
            ..base()
        }),
        ConfigError::InvalidValue {
            field: "retry.retryable_statuses",
            ..
        }
    ));
    assert!(matches!(
        bad(RetryConfig {
            retryable_errors: vec![TransportErrorKind::Cancelled],
            ..base()
        }),
        ConfigError::InvalidValue {
            field: "retry.retryable_errors",
            ..
        }
    ));
    assert!(matches!(
        bad(RetryConfig {
            retryable_errors: vec![TransportErrorKind::InvalidRequest],
            ..base()
        }),
        ConfigError::InvalidValue {
            field: "retry.retryable_errors",
            ..
        }
    ));
    assert!(matches!(
        bad(RetryConfig {
            idempotency_header: "bad header".into(),
            ..base()
        }),
        ConfigError::InvalidValue {
            field: "retry.idempotency_header",
            ..
        }
    ));
    assert!(matches!(
        bad(RetryConfig {
            deadline: Some(Duration::ZERO),
            ..base()
        }),
        ConfigError::InvalidValue {
            field: "retry.deadline",
            ..
        }
    ));
    assert!(matches!(
        bad(RetryConfig {
            budget: Some(BudgetConfig {
                percent_can_retry: -1.0,
                ..BudgetConfig::default()
            }),
            ..base()
        }),
        ConfigError::InvalidValue {
            field: "retry.budget.percent_can_retry",
            ..
        }
    ));
}

#[test]
fn serde_round_trip_and_partial_config() {
    let c = RetryConfig {
        backoff: Backoff::Original,
        retryable_statuses: vec![429, 500],
        on_long_retry_after: LongRetryAfter::Cap,
        budget: None,
        ..RetryConfig::default()
    };
    let json = serde_json::to_string(&c).unwrap();
    let back: RetryConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let partial: RetryConfig =
        serde_json::from_str(r#"{"max_attempts": 2, "retryable_errors": ["timeout"]}"#).unwrap();
    assert_eq!(partial.max_attempts, 2);
    assert_eq!(partial.retryable_errors, vec![TransportErrorKind::Timeout]);
    assert_eq!(partial.max_delay, Duration::from_secs(30));
    assert!(serde_json::from_str::<RetryConfig>(r#"{"max_attemps": 2}"#).is_err());

    let d = RetryDecision::Retry {
        at: t(5),
        delay: Duration::from_millis(5),
        next_attempt: 2,
        reason: RetryReason::Transport(TransportErrorKind::Reset),
        retry_after: None,
    };
    let s = serde_json::to_string(&d).unwrap();
    assert_eq!(
        s,
        r#"{"retry":{"at":5000,"delay":{"secs":0,"nanos":5000000},"next_attempt":2,"reason":{"transport":"reset"},"retry_after":null}}"#
    );
    assert_eq!(
        serde_json::to_string(&RetryDecision::GiveUp(GiveUpReason::BudgetExhausted)).unwrap(),
        r#"{"give_up":"budget_exhausted"}"#
    );
    assert_eq!(
        GiveUpReason::RetryAfterTooLong.as_str(),
        "retry_after_too_long"
    );
}

fn any_backoff() -> impl Strategy<Value = Backoff> {
    let d = (0u64..20_000_000).prop_map(Duration::from_micros);
    prop_oneof![
        d.clone().prop_map(Backoff::Constant),
        (d.clone(), 1.0f64..4.0, d.clone()).prop_map(|(base, factor, max)| Backoff::Exponential {
            base,
            factor,
            max
        }),
        (d.clone(), d.clone()).prop_map(|(base, max)| Backoff::FullJitter { base, max }),
        (d.clone(), d.clone())
            .prop_map(|(median_first, max)| Backoff::DecorrelatedJitter { median_first, max }),
        (d.clone(), d).prop_map(|(a, b)| Backoff::AwsDecorrelatedJitter {
            base: a.min(b),
            max: a.max(b)
        }),
        Just(Backoff::Original),
    ]
}

proptest! {
    #[test]
    fn never_earlier_than_retry_after(
        backoff in any_backoff(),
        ra_secs in 0u64..=60,
        date_offset_us in 0u64..59_000_000,
        wall_us in 1_000_000_000_000_000u64..2_000_000_000_000_000,
        now_us in any::<u32>(),
        seed in any::<u64>(),
        use_date in any::<bool>(),
    ) {
        let p = RetryPolicy::new(RetryConfig {
            backoff,
            max_attempts: 100,
            budget: None,
            ..RetryConfig::default()
        })
        .unwrap();
        let mut rng = Rng::new(seed);
        let wall = WallClock::from_unix_micros(wall_us);
        let (header, server_instant_wall) = if use_date {
            let target = wall.saturating_add(Duration::from_micros(date_offset_us));
            // HTTP-dates have whole seconds; round the target up to the next second.
            let secs = target.as_unix_micros().div_ceil(1_000_000);
            let text = httpdate::fmt_http_date(WallClock::from_unix_secs(secs).to_system_time());
            (text, WallClock::from_unix_secs(secs))
        } else {
            (ra_secs.to_string(), wall.saturating_add(Duration::from_secs(ra_secs)))
        };
        let now = Timestamp::from_micros(u64::from(now_us));
        let mut st = p.begin(now, &req(Method::GET, false));
        for _ in 0..5 {
            let d = p.decide(now, wall, &mut st, &mut rng, &resp(503, Some(&header)), None);
            let RetryDecision::Retry { at, delay, retry_after, .. } = d else {
                return Err(TestCaseError::fail(format!("{d:?}")));
            };
            let wanted = server_instant_wall.saturating_duration_since(wall);
            prop_assert_eq!(retry_after, Some(wanted));
            prop_assert!(delay >= wanted);
            prop_assert!(at >= now.saturating_add(wanted));
            prop_assert_eq!(at, now.saturating_add(delay));
        }
    }

    #[test]
    fn decide_never_panics(
        backoff in any_backoff(),
        status in 100u16..1000,
        header in proptest::option::of(".{0,40}"),
        now in any::<u64>(),
        wall in any::<u64>(),
        attempts in 1usize..8,
        seed in any::<u64>(),
    ) {
        let p = RetryPolicy::new(RetryConfig {
            backoff,
            deadline: Some(Duration::from_secs(5)),
            ..RetryConfig::default()
        })
        .unwrap();
        let mut budget = p.new_budget().unwrap();
        let mut rng = Rng::new(seed);
        let outcome = {
            let mut b = http::Response::builder().status(status);
            if let Some(h) = &header
                && let Ok(v) = http::HeaderValue::from_str(h)
            {
                b = b.header(http::header::RETRY_AFTER, v);
            }
            Ok(b.body(Bytes::new()).unwrap())
        };
        let now = Timestamp::from_micros(now);
        let mut st = p.begin(now, &req(Method::GET, false));
        for _ in 0..attempts {
            budget.deposit(now);
            if let RetryDecision::Retry { at, delay, .. } =
                p.decide(now, WallClock::from_unix_micros(wall), &mut st, &mut rng, &outcome, Some(&mut budget))
            {
                prop_assert!(at >= now);
                prop_assert_eq!(at, now.saturating_add(delay));
            }
        }
    }
}
