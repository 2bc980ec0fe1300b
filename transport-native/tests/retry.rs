//! Retries against the chaos upstream: 503 then success, `Retry-After` in seconds and as an
//! HTTP-date (honoured, and capped or refused when too long), and non-idempotent requests.
//! Every test runs against the async and the blocking API.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::chaos;
use tether_core::{AttemptNext, AttemptResult};
use tether_core::{GiveUpReason, LongRetryAfter, RetryReason};

api_tests! {
    fn retries_503_then_succeeds() {
        let server = chaos();
        let client = fast().max_retries(3).no_cache().build().unwrap();
        let r = wait!(client
            .get(server.url("/flaky/r503?fail=2"))
            .send())
            .unwrap();
        assert_eq!(r.status(), 200);
        let t = r.trace();
        assert_eq!(t.attempts.len(), 3, "{}", t.summary());
        for a in &t.attempts[..2] {
            assert_eq!(a.result, AttemptResult::Status { status: 503 });
            assert!(
                matches!(
                    a.next,
                    AttemptNext::Retry {
                        reason: RetryReason::Status(503),
                        ..
                    }
                ),
                "{}",
                t.summary()
            );
        }
        assert_eq!(t.attempts[2].next, AttemptNext::Accept);
        assert_eq!(wait!(hits(&server, "r503")), 3);
        let m = client.metrics();
        assert_eq!(
            (m.total_requests, m.successful_requests, m.failed_requests),
            (1, 1, 0)
        );
        assert_eq!(m.error_counts.get("http_503"), 2);
    }

    fn retries_are_bounded_and_the_last_response_returned() {
        let server = chaos();
        // Every failed attempt counts for the breaker: keep it out of the way here.
        let client = fast()
            .max_retries(2)
            .no_cache()
            .configure_engine(|c| c.breakers.default.consecutive_failures = Some(100))
            .build()
            .unwrap();
        let r = wait!(client
            .get(server.url("/flaky/rmax?fail=10"))
            .send())
            .unwrap();
        assert_eq!(r.status(), 503);
        let t = r.trace();
        assert_eq!(t.attempts.len(), 3);
        assert_eq!(
            t.attempts[2].next,
            AttemptNext::GiveUp {
                reason: GiveUpReason::AttemptsExhausted
            }
        );
        assert_eq!(wait!(hits(&server, "rmax")), 3);
        // The same through error_for_status: a typed error with the trace.
        let e = wait!(client
            .get(server.url("/flaky/rmax?fail=10"))
            .send())
            .unwrap()
            .error_for_status()
            .unwrap_err();
        assert_eq!(e.http_status(), 503);
        assert_eq!(e.trace().unwrap().attempts.len(), 3);
    }

    fn retry_after_seconds_is_honoured() {
        let server = chaos();
        let client = fast().max_retries(2).no_cache().build().unwrap();
        let started = Instant::now();
        let r = wait!(client
            .get(server.url("/retry-after/1?key=ras&fail=1"))
            .send())
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status(), 200);
        let t = r.trace();
        assert_eq!(t.attempts.len(), 2, "{}", t.summary());
        let AttemptNext::Retry {
            delay, retry_after, ..
        } = t.attempts[0].next
        else {
            panic!("expected a retry: {}", t.summary());
        };
        assert_eq!(retry_after, Some(Duration::from_secs(1)));
        assert!(delay >= Duration::from_secs(1), "{delay:?}");
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(t.summary().contains("Retry-After"), "{}", t.summary());
        assert_eq!(wait!(hits(&server, "ras")), 2);
    }

    fn retry_after_http_date_is_honoured() {
        let server = chaos();
        let client = fast().max_retries(2).no_cache().build().unwrap();
        let started = Instant::now();
        let r = wait!(client
            .get(server.url("/retry-after-date/2?key=rad&fail=1"))
            .send())
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status(), 200);
        let t = r.trace();
        assert_eq!(t.attempts.len(), 2, "{}", t.summary());
        let AttemptNext::Retry {
            delay, retry_after, ..
        } = t.attempts[0].next
        else {
            panic!("expected a retry: {}", t.summary());
        };
        // An HTTP-date has whole-second resolution: "now + 2 s" is 1–2 s away when it is read.
        let ra = retry_after.expect("the HTTP-date was parsed");
        assert!(
            ra >= Duration::from_millis(500) && ra <= Duration::from_millis(2_500),
            "{ra:?}"
        );
        assert!(delay >= ra, "{delay:?} < {ra:?}");
        assert!(elapsed >= ra, "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    }

    fn long_retry_after_is_capped_or_refused() {
        let server = chaos();
        // Cap: wait `max_retry_after` (1 s) instead of 30 s, then retry.
        let capped = fast()
            .max_retries(2)
            .no_cache()
            .configure_engine(|c| {
                c.retry.max_retry_after = Duration::from_secs(1);
                c.retry.on_long_retry_after = LongRetryAfter::Cap;
            })
            .build()
            .unwrap();
        let started = Instant::now();
        let r = wait!(capped
            .get(server.url("/retry-after/30?key=rcap&fail=1"))
            .send())
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status(), 200);
        let AttemptNext::Retry {
            delay, retry_after, ..
        } = r.trace().attempts[0].next
        else {
            panic!("expected a retry: {}", r.trace().summary());
        };
        assert_eq!(retry_after, Some(Duration::from_secs(1)), "capped");
        assert!(
            delay >= Duration::from_secs(1) && delay < Duration::from_secs(2),
            "{delay:?}"
        );
        assert!(
            elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(4),
            "{elapsed:?}"
        );

        // GiveUp (the default): the 503 comes back at once.
        let refusing = fast()
            .max_retries(2)
            .no_cache()
            .configure_engine(|c| c.retry.max_retry_after = Duration::from_secs(1))
            .build()
            .unwrap();
        let started = Instant::now();
        let r = wait!(refusing
            .get(server.url("/retry-after/30?key=rgive&fail=1"))
            .send())
            .unwrap();
        assert!(started.elapsed() < Duration::from_millis(900));
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.trace().attempts[0].next,
            AttemptNext::GiveUp {
                reason: GiveUpReason::RetryAfterTooLong
            }
        );
        assert_eq!(wait!(hits(&server, "rgive")), 1);
    }

    fn post_is_sent_once_without_an_idempotency_key() {
        let server = chaos();
        let client = fast().max_retries(3).no_cache().build().unwrap();
        let r = wait!(client
            .post(server.url("/flaky/post1?fail=5"))
            .json(&serde_json::json!({"order": 1}))
            .send())
            .unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.trace().attempts[0].next,
            AttemptNext::GiveUp {
                reason: GiveUpReason::NotIdempotent
            }
        );
        assert_eq!(
            wait!(hits(&server, "post1")),
            1,
            "a POST must not be duplicated"
        );

        // With an idempotency key it is retried.
        let r = wait!(client
            .post(server.url("/flaky/post2?fail=1"))
            .idempotency_key("order-2")
            .json(&serde_json::json!({"order": 2}))
            .send())
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(wait!(hits(&server, "post2")), 2);
    }
}
