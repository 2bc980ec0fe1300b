//! Unit tests of the breaker state machine, on virtual time, plus a proptest reference model.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::{Response, TransportError, TransportErrorKind};

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

const MS: Duration = Duration::from_millis(1);

fn consecutive(threshold: u32, break_ms: u64, probes: u32) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: Some(threshold),
        ratio: None,
        break_duration: BreakDuration::Constant(Duration::from_millis(break_ms)),
        half_open_probes: probes,
        probe_timeout: Duration::from_millis(500),
        ..BreakerConfig::default()
    }
}

fn breaker(config: BreakerConfig) -> Breaker {
    Breaker::new(config).unwrap()
}

fn fail(b: &mut Breaker, now: Timestamp) {
    let p = b.try_acquire(now).expect("admitted");
    b.on_result(now, p, CallResult::failure(MS));
}

fn succeed(b: &mut Breaker, now: Timestamp) {
    let p = b.try_acquire(now).expect("admitted");
    b.on_result(now, p, CallResult::success(MS));
}

fn events(b: &mut Breaker) -> Vec<(BreakerState, BreakerState, Timestamp, TransitionReason)> {
    std::iter::from_fn(|| b.poll_event())
        .map(|e| match e {
            BreakerEvent::StateChanged {
                from,
                to,
                at,
                reason,
            } => (from, to, at, reason),
        })
        .collect()
}

/// Opens `b` (consecutive threshold `n`) at `now`.
fn open_it(b: &mut Breaker, n: u32, now: Timestamp) {
    for _ in 0..n {
        fail(b, now);
    }
    assert_eq!(b.state(), BreakerState::Open);
}

fn status(code: u16) -> Outcome {
    http::StatusCode::from_u16(code)
        .map(|code| {
            let mut r = Response::new(bytes::Bytes::new());
            *r.status_mut() = code;
            r
        })
        .map_err(|_| TransportError::new(TransportErrorKind::Other, "bad status"))
}

// ===== config =====

#[test]
fn defaults_match_the_original() {
    let c = BreakerConfig::default();
    assert!(c.validate().is_ok());
    assert_eq!(c.consecutive_failures, Some(5));
    assert_eq!(c.ratio, None);
    assert_eq!(
        c.break_duration,
        BreakDuration::Constant(Duration::from_mins(1))
    );
    assert_eq!(c.half_open_probes, 1);
    assert_eq!(c.probe_timeout, Duration::from_secs(30));
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one table of invalid configurations, each a line"
)]
fn validation_rejects_bad_values() {
    let ok = BreakerConfig::default;
    let cases = [
        BreakerConfig {
            consecutive_failures: Some(0),
            ..ok()
        },
        BreakerConfig {
            half_open_probes: 0,
            ..ok()
        },
        BreakerConfig {
            half_open_probes: MAX_HALF_OPEN_PROBES + 1,
            ..ok()
        },
        BreakerConfig {
            probe_timeout: Duration::ZERO,
            ..ok()
        },
        BreakerConfig {
            break_duration: BreakDuration::Constant(Duration::ZERO),
            ..ok()
        },
        BreakerConfig {
            break_duration: BreakDuration::Exponential {
                base: Duration::from_secs(2),
                factor: 2.0,
                max: Duration::from_secs(1),
            },
            ..ok()
        },
        BreakerConfig {
            break_duration: BreakDuration::Exponential {
                base: Duration::from_secs(1),
                factor: f64::NAN,
                max: Duration::from_secs(10),
            },
            ..ok()
        },
        BreakerConfig {
            break_duration: BreakDuration::Exponential {
                base: Duration::from_secs(1),
                factor: 0.5,
                max: Duration::from_secs(10),
            },
            ..ok()
        },
    ];
    for c in cases {
        assert!(c.validate().is_err(), "{c:?}");
        assert!(Breaker::new(c).is_err());
    }
    let ratio = |window, failure_ratio, min_throughput, slow_call| BreakerConfig {
        ratio: Some(RatioTrigger {
            window,
            failure_ratio,
            min_throughput,
            slow_call,
        }),
        ..ok()
    };
    assert!(
        ratio(BreakerWindow::Count(10), 0.5, 5, None)
            .validate()
            .is_ok()
    );
    assert!(
        ratio(BreakerWindow::Count(0), 0.5, 1, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(MAX_COUNT_WINDOW + 1), 0.5, 1, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), 0.0, 5, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), 1.5, 5, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), f64::NAN, 5, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), 1.0, 0, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), 1.0, 11, None)
            .validate()
            .is_err()
    );
    let time = |d: Duration, b| BreakerWindow::Time {
        duration: d,
        buckets: b,
    };
    assert!(
        ratio(time(Duration::from_secs(10), 10), 0.5, 50, None)
            .validate()
            .is_ok()
    );
    assert!(
        ratio(time(Duration::from_secs(10), 0), 0.5, 5, None)
            .validate()
            .is_err()
    );
    assert!(
        ratio(time(Duration::from_micros(5), 10), 0.5, 5, None)
            .validate()
            .is_err()
    );
    let slow = |d, r| {
        Some(SlowCall {
            duration: d,
            ratio: r,
        })
    };
    assert!(
        ratio(BreakerWindow::Count(10), 0.5, 5, slow(Duration::ZERO, 0.5))
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), 0.5, 5, slow(MS, 0.0))
            .validate()
            .is_err()
    );
    assert!(
        ratio(BreakerWindow::Count(10), 0.5, 5, slow(MS, 1.0))
            .validate()
            .is_ok()
    );
    // No trigger at all is allowed: manual-only breaker.
    let manual = BreakerConfig {
        consecutive_failures: None,
        ..ok()
    };
    let mut b = breaker(manual);
    for _ in 0..100 {
        fail(&mut b, t(0));
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn config_serde() {
    let c = BreakerConfig {
        ratio: Some(RatioTrigger {
            window: BreakerWindow::Time {
                duration: Duration::from_secs(10),
                buckets: 10,
            },
            failure_ratio: 0.5,
            min_throughput: 20,
            slow_call: Some(SlowCall {
                duration: Duration::from_secs(2),
                ratio: 0.8,
            }),
        }),
        break_duration: BreakDuration::Exponential {
            base: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_mins(1),
        },
        ..BreakerConfig::default()
    };
    let json = serde_json::to_string(&c).unwrap();
    let back: BreakerConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let partial: BreakerConfig =
        serde_json::from_str(r#"{"consecutive_failures": null, "ratio": {"window": {"count": 10}, "failure_ratio": 0.5, "min_throughput": 5}}"#)
            .unwrap();
    assert_eq!(partial.consecutive_failures, None);
    assert_eq!(
        partial.ratio.as_ref().unwrap().window,
        BreakerWindow::Count(10)
    );
    assert_eq!(partial.half_open_probes, 1);
    assert!(serde_json::from_str::<BreakerConfig>(r#"{"bogus": 1}"#).is_err());
}

// ===== closed / consecutive trigger =====

#[test]
fn breaker_opens_on_consecutive_5xx() {
    let mut b = breaker(BreakerConfig::default());
    for i in 0..5u64 {
        assert_eq!(b.state(), BreakerState::Closed);
        let p = b.try_acquire(t(i)).unwrap();
        assert!(!p.is_probe());
        let kind = b.classify(&status(503));
        assert_eq!(kind, CallKind::Failure);
        b.on_result(t(i), p, CallResult::new(kind, MS));
    }
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.failure_count(), 5);
    assert_eq!(
        events(&mut b),
        vec![(
            BreakerState::Closed,
            BreakerState::Open,
            t(4),
            TransitionReason::ConsecutiveFailures
        )]
    );
    let r = b.try_acquire(t(10)).unwrap_err();
    assert_eq!(r.state, BreakerState::Open);
    assert_eq!(r.retry_at, t(4).saturating_add(Duration::from_mins(1)));
    assert_eq!(b.snapshot(t(10)).rejected, 1);
}

#[test]
fn success_and_non_failures_reset_or_skip_the_count() {
    let mut b = breaker(BreakerConfig::default());
    for _ in 0..4 {
        fail(&mut b, t(0));
    }
    // 404 is a success by default: resets.
    let p = b.try_acquire(t(1)).unwrap();
    let k = b.classify(&status(404));
    b.on_result(t(1), p, CallResult::new(k, MS));
    assert_eq!(b.failure_count(), 0);
    for _ in 0..4 {
        fail(&mut b, t(2));
    }
    // Cancelled transport error and 429: ignored, count unchanged.
    let p = b.try_acquire(t(3)).unwrap();
    let k = b.classify(&Err(TransportError::new(
        TransportErrorKind::Cancelled,
        "c",
    )));
    b.on_result(t(3), p, CallResult::new(k, MS));
    let p = b.try_acquire(t(3)).unwrap();
    let k = b.classify(&status(429));
    b.on_result(t(3), p, CallResult::new(k, MS));
    assert_eq!(b.failure_count(), 4);
    assert_eq!(b.state(), BreakerState::Closed);
    // A connect error is the fifth consecutive failure.
    let p = b.try_acquire(t(4)).unwrap();
    let k = b.classify(&Err(TransportError::new(TransportErrorKind::Connect, "c")));
    b.on_result(t(4), p, CallResult::new(k, MS));
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn last_failure_is_recorded_with_wall_clock() {
    let mut b = breaker(BreakerConfig::default());
    let s = b.snapshot(t(0));
    assert_eq!(s.last_failure_at, None);
    assert_eq!(s.last_failure_rfc3339(), None);
    let wall = WallClock::from_unix_micros(1_795_718_458_167_771);
    let p = b.try_acquire(t(7)).unwrap();
    b.on_result(t(7), p, CallResult::failure(MS).with_wall(wall));
    let s = b.snapshot(t(8));
    assert_eq!(s.last_failure_at, Some(t(7)));
    assert_eq!(s.last_failure_wall, Some(wall));
    assert_eq!(
        s.last_failure_rfc3339().as_deref(),
        Some("2026-11-26T18:40:58.167771Z")
    );
    assert_eq!(s.failure_count, 1);
    assert_eq!(s.failure_threshold, Some(5));
    assert_eq!(s.state, BreakerState::Closed);
    // A later failure without a wall reading keeps the last known wall time.
    fail(&mut b, t(9));
    let s = b.snapshot(t(9));
    assert_eq!(s.last_failure_at, Some(t(9)));
    assert_eq!(s.last_failure_wall, Some(wall));
}

// ===== open → half-open =====

#[test]
fn break_duration_is_exact_in_micros() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, Timestamp::from_micros(123));
    let until = Timestamp::from_micros(1_000_123);
    assert_eq!(b.poll_timeout(), Some(until));
    let r = b
        .try_acquire(Timestamp::from_micros(1_000_122))
        .unwrap_err();
    assert_eq!(r.retry_at, until);
    assert_eq!(b.state(), BreakerState::Open);
    let p = b.try_acquire(until).unwrap();
    assert!(p.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let ev = events(&mut b);
    assert_eq!(
        ev.last(),
        Some(&(
            BreakerState::Open,
            BreakerState::HalfOpen,
            until,
            TransitionReason::BreakElapsed
        ))
    );
    b.on_result(until, p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn handle_timeout_moves_open_to_half_open() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, t(0));
    b.handle_timeout(t(999));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.poll_timeout(), Some(t(1_000)));
    b.handle_timeout(t(1_000));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    // No probe in flight: no deadline.
    assert_eq!(b.poll_timeout(), None);
    assert_eq!(b.snapshot(t(1_000)).state, BreakerState::HalfOpen);
}

#[test]
fn half_open_admits_exactly_n_of_1000_concurrent_calls() {
    for n in [1u32, 3, 10] {
        let mut b = breaker(consecutive(1, 1_000, n));
        fail(&mut b, t(0));
        let mut permits = Vec::new();
        let mut rejected = Vec::new();
        for i in 0..1_000u64 {
            match b.try_acquire(t(1_000).saturating_add(Duration::from_micros(i))) {
                Ok(p) => permits.push(p),
                Err(r) => rejected.push(r),
            }
        }
        assert_eq!(permits.len(), n as usize);
        assert!(permits.iter().all(BreakerPermit::is_probe));
        assert_eq!(rejected.len(), 1_000 - n as usize);
        // Rejections point at the earliest probe deadline.
        assert!(
            rejected
                .iter()
                .all(|r| r.state == BreakerState::HalfOpen && r.retry_at == t(1_500))
        );
        let s = b.snapshot(t(1_001));
        assert_eq!(s.half_open_in_flight, n);
        assert_eq!(s.next_attempt_at, Some(t(1_500)));
        // All N succeed → Closed.
        for (i, p) in permits.into_iter().enumerate() {
            assert_eq!(b.state(), BreakerState::HalfOpen, "probe {i}");
            b.on_result(t(1_100), p, CallResult::success(MS));
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let s = b.snapshot(t(1_100));
        assert_eq!(s.failure_count, 0);
        assert_eq!(s.consecutive_openings, 0);
        assert_eq!(s.opened_at, None);
        let ev = events(&mut b);
        assert_eq!(
            ev.last(),
            Some(&(
                BreakerState::HalfOpen,
                BreakerState::Closed,
                t(1_100),
                TransitionReason::ProbesSucceeded
            ))
        );
    }
}

#[test]
fn succeeded_probes_consume_their_slot() {
    // N = 2: one success, then only one more probe may be admitted.
    let mut b = breaker(consecutive(1, 1_000, 2));
    fail(&mut b, t(0));
    let p1 = b.try_acquire(t(1_000)).unwrap();
    b.on_result(t(1_001), p1, CallResult::success(MS));
    let p2 = b.try_acquire(t(1_002)).unwrap();
    assert!(b.try_acquire(t(1_002)).is_err());
    b.on_result(t(1_003), p2, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn probe_failure_reopens_with_next_break() {
    let mut b = breaker(BreakerConfig {
        break_duration: BreakDuration::Exponential {
            base: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(5),
        },
        ..consecutive(1, 1, 2)
    });
    fail(&mut b, t(0));
    assert_eq!(b.poll_timeout(), Some(t(1_000)));
    let p1 = b.try_acquire(t(1_000)).unwrap();
    let p2 = b.try_acquire(t(1_000)).unwrap();
    b.on_result(t(1_010), p1, CallResult::failure(MS));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.failure_count(), 2);
    // Second opening: 2 s.
    assert_eq!(b.poll_timeout(), Some(t(3_010)));
    let ev = events(&mut b);
    assert_eq!(
        ev.last(),
        Some(&(
            BreakerState::HalfOpen,
            BreakerState::Open,
            t(1_010),
            TransitionReason::ProbeFailed
        ))
    );
    // The other probe's late success is stale.
    b.on_result(t(1_020), p2, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.snapshot(t(1_020)).stale_results, 1);
}

#[test]
fn exponential_break_duration_with_cap() {
    let d = BreakDuration::Exponential {
        base: Duration::from_secs(1),
        factor: 2.0,
        max: Duration::from_secs(10),
    };
    let got: Vec<u64> = (1..=6).map(|k| d.for_opening(k).as_secs()).collect();
    assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
    assert_eq!(d.for_opening(0), Duration::from_secs(1));
    assert_eq!(d.for_opening(u32::MAX), Duration::from_secs(10));
    assert_eq!(
        BreakDuration::Constant(Duration::from_secs(3)).for_opening(9),
        Duration::from_secs(3)
    );

    // Through the state machine: openings 1, 2, 3, 4, 5 → 1, 2, 4, 8, 10 s; close resets.
    let mut b = breaker(BreakerConfig {
        break_duration: d,
        ..consecutive(1, 1, 1)
    });
    let mut now = t(0);
    fail(&mut b, now);
    let mut breaks = Vec::new();
    for _ in 0..5 {
        let until = b.poll_timeout().unwrap();
        breaks.push(until.saturating_duration_since(now).as_secs());
        now = until;
        let p = b.try_acquire(now).unwrap();
        b.on_result(now, p, CallResult::failure(MS));
    }
    assert_eq!(breaks, vec![1, 2, 4, 8, 10]);
    // Close, then open again: back to the base.
    now = b.poll_timeout().unwrap();
    let p = b.try_acquire(now).unwrap();
    b.on_result(now, p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&mut b, now);
    assert_eq!(
        b.poll_timeout(),
        Some(now.saturating_add(Duration::from_secs(1)))
    );
}

#[test]
fn probe_timeout_reopens() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, t(0));
    let p = b.try_acquire(t(1_000)).unwrap();
    // Deadline = admission + probe_timeout (500 ms).
    assert_eq!(b.poll_timeout(), Some(t(1_500)));
    b.handle_timeout(t(1_499));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.handle_timeout(t(1_500));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.poll_timeout(), Some(t(2_500)));
    let ev = events(&mut b);
    assert_eq!(
        ev.last(),
        Some(&(
            BreakerState::HalfOpen,
            BreakerState::Open,
            t(1_500),
            TransitionReason::ProbeTimeout
        ))
    );
    // The timed-out probe reports late: stale.
    b.on_result(t(1_600), p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.snapshot(t(1_600)).stale_results, 1);
}

#[test]
fn probe_result_after_deadline_without_handle_timeout_is_a_timeout() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, t(0));
    let p = b.try_acquire(t(1_000)).unwrap();
    // The driver never called handle_timeout; the result arrives at the deadline.
    b.on_result(t(1_500), p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        events(&mut b).last().map(|e| e.3),
        Some(TransitionReason::ProbeTimeout)
    );
    // Likewise try_acquire applies due probe timeouts first.
    let mut b = breaker(consecutive(1, 1_000, 2));
    fail(&mut b, t(0));
    let _held = b.try_acquire(t(1_000)).unwrap();
    let r = b.try_acquire(t(1_500)).unwrap_err();
    assert_eq!(r.state, BreakerState::Open);
    assert_eq!(r.retry_at, t(2_500));
}

#[test]
fn ignored_probe_releases_its_slot() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, t(0));
    let p = b.try_acquire(t(1_000)).unwrap();
    assert!(b.try_acquire(t(1_000)).is_err());
    b.on_result(t(1_100), p, CallResult::ignored());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.poll_timeout(), None, "released slot has no deadline");
    let p = b.try_acquire(t(1_200)).unwrap();
    assert_eq!(b.poll_timeout(), Some(t(1_700)));
    b.on_result(t(1_300), p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn deadlines_never_stay_in_the_past() {
    let mut b = breaker(consecutive(1, 1_000, 2));
    fail(&mut b, t(0));
    let mut now = t(0);
    let mut held = Vec::new();
    for _ in 0..20 {
        let Some(d) = b.poll_timeout() else {
            held.push(b.try_acquire(now).unwrap());
            continue;
        };
        assert!(d > now, "deadline {d:?} not after {now:?}");
        now = d;
        b.handle_timeout(now);
        if let Some(d2) = b.poll_timeout() {
            assert!(d2 > now);
        }
    }
    assert!(!held.is_empty());
}

// ===== stale permits =====

#[test]
fn stale_closed_permits_do_not_touch_open_or_half_open() {
    let mut b = breaker(consecutive(2, 1_000, 1));
    // Three calls in flight while Closed.
    let a = b.try_acquire(t(0)).unwrap();
    let c = b.try_acquire(t(0)).unwrap();
    let d = b.try_acquire(t(0)).unwrap();
    let gen0 = a.generation();
    fail(&mut b, t(1));
    fail(&mut b, t(2));
    assert_eq!(b.state(), BreakerState::Open);
    // A failure admitted while Closed arrives while Open: does not extend the break or count.
    b.on_result(t(3), a, CallResult::failure(MS));
    assert_eq!(b.poll_timeout(), Some(t(1_002)));
    assert_eq!(b.failure_count(), 2);
    // Half-open: a late Closed-era success does not close it, a late failure does not re-open.
    let probe = b.try_acquire(t(1_002)).unwrap();
    assert!(probe.generation() > gen0);
    b.on_result(t(1_003), c, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.on_result(t(1_003), d, CallResult::failure(MS));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.snapshot(t(1_003)).stale_results, 3);
    b.on_result(t(1_004), probe, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn permits_from_before_a_reset_are_stale() {
    let mut b = breaker(consecutive(2, 1_000, 1));
    let a = b.try_acquire(t(0)).unwrap();
    fail(&mut b, t(0));
    b.reset(t(1));
    assert!(events(&mut b).is_empty(), "Closed → Closed emits nothing");
    assert_eq!(b.failure_count(), 0);
    b.on_result(t(2), a, CallResult::failure(MS));
    assert_eq!(b.failure_count(), 0);
    assert_eq!(b.snapshot(t(2)).stale_results, 1);
}

#[test]
fn permits_are_bound_to_breaker_identity_and_generation() {
    let mut x = breaker(consecutive(1, 1_000, 1));
    let mut y = breaker(consecutive(1, 1_000, 1));
    let p = x.try_acquire(t(0)).unwrap();
    // Both standalone breakers have id 0 and generation 0: counted (documented caveat).
    y.on_result(t(0), p, CallResult::failure(MS));
    assert_eq!(y.state(), BreakerState::Open);
    // After y changes generation, x's permits are stale for y.
    let p = x.try_acquire(t(0)).unwrap();
    y.on_result(t(0), p, CallResult::failure(MS));
    assert_eq!(y.snapshot(t(0)).stale_results, 1);
}

// ===== manual modes =====

#[test]
fn isolate_rejects_until_reset() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    b.isolate(t(5));
    b.isolate(t(6)); // no-op
    assert_eq!(b.state(), BreakerState::Isolated);
    assert_eq!(b.poll_timeout(), None);
    let r = b.try_acquire(t(1_000_000)).unwrap_err();
    assert_eq!(
        r,
        BreakerRejection {
            retry_at: Timestamp::MAX,
            state: BreakerState::Isolated
        }
    );
    let s = b.snapshot(t(7));
    assert_eq!(s.state, BreakerState::Isolated);
    assert_eq!(s.opened_at, Some(t(5)));
    b.reset(t(10));
    assert_eq!(b.state(), BreakerState::Closed);
    assert!(b.try_acquire(t(10)).is_ok());
    assert_eq!(
        events(&mut b),
        vec![
            (
                BreakerState::Closed,
                BreakerState::Isolated,
                t(5),
                TransitionReason::Manual
            ),
            (
                BreakerState::Isolated,
                BreakerState::Closed,
                t(10),
                TransitionReason::Manual
            ),
        ]
    );
}

#[test]
fn reset_from_open_clears_counts_and_streak() {
    let mut b = breaker(BreakerConfig {
        break_duration: BreakDuration::Exponential {
            base: Duration::from_secs(1),
            factor: 3.0,
            max: Duration::from_secs(100),
        },
        ..consecutive(2, 1, 1)
    });
    open_it(&mut b, 2, t(0));
    b.reset(t(1));
    let s = b.snapshot(t(1));
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!(s.failure_count, 0);
    assert_eq!(s.consecutive_openings, 0);
    assert_eq!(s.opened_at, None);
    open_it(&mut b, 2, t(2));
    assert_eq!(
        b.poll_timeout(),
        Some(t(1_002)),
        "streak was reset: base break"
    );
}

#[test]
fn disable_admits_everything_and_records_metrics() {
    let mut b = breaker(consecutive(2, 1_000, 1));
    open_it(&mut b, 2, t(0));
    b.disable(t(1));
    b.disable(t(1)); // no-op
    assert_eq!(b.state(), BreakerState::Disabled);
    for i in 0..10 {
        fail(&mut b, t(2 + i));
    }
    assert_eq!(b.state(), BreakerState::Disabled);
    let s = b.snapshot(t(20));
    assert_eq!(s.failure_count, 10);
    assert_eq!(s.last_failure_at, Some(t(11)));
    assert_eq!(s.state, BreakerState::Disabled);
    b.enable(t(30));
    b.enable(t(31)); // no-op
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.failure_count(), 0);
    let ev: Vec<_> = events(&mut b).into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        ev,
        vec![
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::Disabled),
            (BreakerState::Disabled, BreakerState::Closed),
        ]
    );
    fail(&mut b, t(32));
    fail(&mut b, t(33));
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn isolate_during_half_open_makes_probes_stale() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, t(0));
    let p = b.try_acquire(t(1_000)).unwrap();
    b.isolate(t(1_001));
    assert_eq!(b.poll_timeout(), None);
    b.on_result(t(1_002), p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Isolated);
    assert_eq!(b.snapshot(t(1_002)).stale_results, 1);
}

// ===== ratio triggers =====

fn ratio_config(
    window: BreakerWindow,
    ratio: f64,
    min: u32,
    slow: Option<SlowCall>,
) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: None,
        ratio: Some(RatioTrigger {
            window,
            failure_ratio: ratio,
            min_throughput: min,
            slow_call: slow,
        }),
        ..consecutive(1, 1_000, 1)
    }
}

#[test]
fn ratio_trigger_ignores_low_throughput() {
    let mut b = breaker(ratio_config(BreakerWindow::Count(100), 0.5, 10, None));
    // 9 failures: 100 % failure ratio, but below min_throughput.
    for _ in 0..9 {
        fail(&mut b, t(0));
    }
    assert_eq!(b.state(), BreakerState::Closed);
    let s = b.snapshot(t(0));
    assert_eq!(s.window.calls, 9);
    assert_eq!(s.failure_ratio, Some(1.0));
    // The 10th call, even a success, reaches min_throughput with 9/10 >= 0.5.
    succeed(&mut b, t(0));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        events(&mut b).last().map(|e| e.3),
        Some(TransitionReason::FailureRatio)
    );
}

#[test]
fn ratio_trigger_threshold_is_inclusive_and_window_slides() {
    let mut b = breaker(ratio_config(BreakerWindow::Count(4), 0.5, 4, None));
    // F S S S → 1/4 < 0.5.
    fail(&mut b, t(0));
    for _ in 0..3 {
        succeed(&mut b, t(0));
    }
    assert_eq!(b.state(), BreakerState::Closed);
    // S S S F → 1/4.
    fail(&mut b, t(0));
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot(t(0)).window.failures, 1);
    // S S F F → 2/4 = 0.5 ≥ 0.5.
    fail(&mut b, t(0));
    assert_eq!(b.state(), BreakerState::Open);
    // Window cleared only when it closes again: the snapshot still shows what tripped it.
    assert_eq!(b.snapshot(t(0)).window.failures, 2);
    let p = b.try_acquire(t(1_000)).unwrap();
    b.on_result(t(1_000), p, CallResult::success(MS));
    assert_eq!(b.snapshot(t(1_000)).window, WindowTotals::default());
}

#[test]
fn time_window_rotation_forgets_old_failures() {
    let mut b = breaker(ratio_config(
        BreakerWindow::Time {
            duration: Duration::from_secs(10),
            buckets: 10,
        },
        0.5,
        4,
        None,
    ));
    // Three failures at t = 0..0.3 s.
    for i in 0..3 {
        fail(&mut b, t(i * 100));
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot(t(9_999)).window.calls, 3);
    // Snapshot at 10 s ages them out without mutating.
    assert_eq!(b.snapshot(t(10_000)).window.calls, 0);
    assert_eq!(b.snapshot(t(10_000)).failure_ratio, None);
    // A failure at 10.5 s: old bucket rotated out, 1 call < min_throughput.
    fail(&mut b, t(10_500));
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot(t(10_500)).window.calls, 1);
    // Within the same window: 3 more successes and failures → 4 calls, 2 failures → trips.
    succeed(&mut b, t(11_000));
    succeed(&mut b, t(12_000));
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&mut b, t(13_000));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.snapshot(t(13_000)).window.failures, 2);
}

#[test]
fn slow_calls_trip_the_slow_ratio() {
    let slow = SlowCall {
        duration: Duration::from_millis(100),
        ratio: 0.5,
    };
    let mut b = breaker(ratio_config(BreakerWindow::Count(4), 1.0, 4, Some(slow)));
    let call = |b: &mut Breaker, ms: u64| {
        let p = b.try_acquire(t(0)).unwrap();
        b.on_result(t(0), p, CallResult::success(Duration::from_millis(ms)));
    };
    call(&mut b, 100); // exactly the threshold: not slow
    call(&mut b, 101); // slow
    call(&mut b, 50);
    assert_eq!(b.snapshot(t(0)).window.slow, 1);
    assert_eq!(b.state(), BreakerState::Closed);
    call(&mut b, 5_000); // slow: 2/4 = 0.5
    assert_eq!(b.state(), BreakerState::Open);
    let s = b.snapshot(t(0));
    assert_eq!(s.slow_call_ratio, Some(0.5));
    assert_eq!(s.failure_ratio, Some(0.0));
    assert_eq!(s.failure_count, 0, "slow successes are successes");
    assert_eq!(
        events(&mut b).last().map(|e| e.3),
        Some(TransitionReason::SlowCallRatio)
    );
    // A slow probe counts as a failed probe.
    let p = b.try_acquire(t(1_000)).unwrap();
    b.on_result(t(1_000), p, CallResult::success(Duration::from_millis(200)));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        events(&mut b).last().map(|e| e.3),
        Some(TransitionReason::ProbeFailed)
    );
    // A fast probe closes it.
    let p = b.try_acquire(t(2_000)).unwrap();
    b.on_result(t(2_000), p, CallResult::success(Duration::from_millis(20)));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn both_triggers_consecutive_first() {
    let mut c = ratio_config(BreakerWindow::Count(10), 0.5, 3, None);
    c.consecutive_failures = Some(3);
    let mut b = breaker(c);
    for _ in 0..3 {
        fail(&mut b, t(0));
    }
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        events(&mut b).last().map(|e| e.3),
        Some(TransitionReason::ConsecutiveFailures)
    );
}

// ===== events and snapshots =====

#[test]
fn event_queue_is_bounded_and_drops_oldest() {
    let mut b = breaker(BreakerConfig {
        max_events: 2,
        ..consecutive(1, 1_000, 1)
    });
    b.isolate(t(1)); // Closed → Isolated
    b.reset(t(2)); // → Closed
    b.disable(t(3)); // → Disabled
    b.enable(t(4)); // → Closed
    let ev = events(&mut b);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].2, t(3));
    assert_eq!(ev[1].2, t(4));
    let s = b.snapshot(t(5));
    assert_eq!(s.events_dropped, 2);
    assert_eq!(s.transitions, 4);

    let mut quiet = breaker(BreakerConfig {
        max_events: 0,
        ..consecutive(1, 1_000, 1)
    });
    quiet.isolate(t(1));
    assert_eq!(quiet.poll_event(), None);
    assert_eq!(quiet.snapshot(t(1)).events_dropped, 1);
}

#[test]
fn snapshot_and_event_serialization() {
    let mut b = breaker(BreakerConfig::default());
    open_it(&mut b, 5, t(1));
    let s = b.snapshot(t(2));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["state"], "open");
    assert_eq!(json["failure_count"], 5);
    assert_eq!(json["failure_threshold"], 5);
    assert_eq!(json["opened_at"], 1_000);
    assert_eq!(json["next_attempt_at"], 60_001_000u64);
    assert_eq!(json["window"]["calls"], 0);
    assert_eq!(json["transitions"], 1);
    let back: BreakerSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
    let ev = b.poll_event().unwrap();
    assert_eq!(
        serde_json::to_value(ev).unwrap(),
        serde_json::json!({"type": "state_changed", "from": "closed", "to": "open", "at": 1000, "reason": "consecutive_failures"})
    );
    for (st, lower) in [
        (BreakerState::Closed, "closed"),
        (BreakerState::Open, "open"),
        (BreakerState::HalfOpen, "half_open"),
        (BreakerState::Isolated, "isolated"),
        (BreakerState::Disabled, "disabled"),
    ] {
        assert_eq!(st.as_str(), lower);
        assert_eq!(st.to_string(), lower);
        assert_eq!(serde_json::to_value(st).unwrap(), lower);
    }
}

#[test]
fn saturating_time_never_panics() {
    let mut b = breaker(consecutive(1, 1_000, 1));
    fail(&mut b, Timestamp::MAX);
    assert_eq!(b.poll_timeout(), Some(Timestamp::MAX));
    let p = b.try_acquire(Timestamp::MAX).unwrap();
    // Probe deadline saturates at MAX, which is also "now": times out on the next input.
    b.on_result(Timestamp::MAX, p, CallResult::success(MS));
    assert_eq!(b.state(), BreakerState::Open);
}

// ===== reference model =====

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MState {
    Closed,
    Open { until: u64 },
    HalfOpen,
    Isolated,
}

/// A deliberately naive model of the consecutive trigger with probe counting.
struct Model {
    threshold: u32,
    n: u32,
    break_us: u64,
    probe_timeout_us: u64,
    state: MState,
    fails: u32,
    epoch: u64,
    /// Outstanding probes of the current half-open episode: (permit id, deadline).
    probes: Vec<(u64, u64)>,
    successes: u32,
}

#[derive(Clone, Copy, Debug)]
struct MPermit {
    id: u64,
    epoch: u64,
    probe: bool,
}

impl Model {
    fn reopen(&mut self, now: u64) {
        self.state = MState::Open {
            until: now.saturating_add(self.break_us),
        };
        self.probes.clear();
        self.epoch += 1;
    }

    fn advance(&mut self, now: u64) {
        if let MState::Open { until } = self.state
            && now >= until
        {
            self.state = MState::HalfOpen;
            self.probes.clear();
            self.successes = 0;
            self.epoch += 1;
        }
        if self.state == MState::HalfOpen && self.probes.iter().any(|&(_, d)| d <= now) {
            self.reopen(now);
        }
    }

    fn acquire(&mut self, now: u64, id: u64) -> Option<MPermit> {
        self.advance(now);
        match self.state {
            MState::Closed => Some(MPermit {
                id,
                epoch: self.epoch,
                probe: false,
            }),
            MState::HalfOpen if (self.probes.len() as u32 + self.successes) < self.n => {
                self.probes
                    .push((id, now.saturating_add(self.probe_timeout_us)));
                Some(MPermit {
                    id,
                    epoch: self.epoch,
                    probe: true,
                })
            }
            _ => None,
        }
    }

    fn report(&mut self, now: u64, p: MPermit, kind: CallKind) {
        if p.probe {
            self.advance(now);
        }
        if p.epoch != self.epoch {
            return;
        }
        if p.probe {
            let Some(pos) = self.probes.iter().position(|&(id, _)| id == p.id) else {
                return;
            };
            self.probes.remove(pos);
            match kind {
                CallKind::Failure => {
                    self.fails += 1;
                    self.reopen(now);
                }
                CallKind::Success => {
                    self.successes += 1;
                    if self.successes == self.n {
                        self.state = MState::Closed;
                        self.fails = 0;
                        self.epoch += 1;
                    }
                }
                CallKind::Ignored => {}
            }
        } else if self.state == MState::Closed {
            match kind {
                CallKind::Failure => {
                    self.fails += 1;
                    if self.fails >= self.threshold {
                        self.reopen(now);
                    }
                }
                CallKind::Success => self.fails = 0,
                CallKind::Ignored => {}
            }
        }
    }

    fn public(&self) -> BreakerState {
        match self.state {
            MState::Closed => BreakerState::Closed,
            MState::Open { .. } => BreakerState::Open,
            MState::HalfOpen => BreakerState::HalfOpen,
            MState::Isolated => BreakerState::Isolated,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    Acquire,
    Report(usize, u8),
    HandleTimeout,
    Isolate,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop_oneof![0u64..2_000, 0u64..100_000, 0u64..400_000].prop_map(Op::Advance),
        8 => Just(Op::Acquire),
        // Mostly report one of the newest permits (probes), sometimes an old one.
        10 => (prop_oneof![3 => 0usize..2, 1 => any::<usize>()], 0u8..100)
            .prop_map(|(i, k)| Op::Report(i, k)),
        2 => Just(Op::HandleTimeout),
        1 => Just(Op::Isolate),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_reference_model(
        threshold in 1u32..5,
        n in 1u32..4,
        fail_pct in 10u8..90,
        break_ms in 1u64..300,
        probe_ms in 1u64..300,
        ops in proptest::collection::vec(op(), 1..400),
    ) {
        let mut b = breaker(BreakerConfig {
            probe_timeout: Duration::from_millis(probe_ms),
            ..consecutive(threshold, break_ms, n)
        });
        let mut m = Model {
            threshold,
            n,
            break_us: break_ms * 1_000,
            probe_timeout_us: probe_ms * 1_000,
            state: MState::Closed,
            fails: 0,
            epoch: 0,
            probes: Vec::new(),
            successes: 0,
        };
        let mut now = 0u64;
        let mut next_id = 0u64;
        let mut held: Vec<(BreakerPermit, MPermit)> = Vec::new();
        for op in ops {
            match op {
                Op::Advance(dt) => now += dt,
                Op::Acquire => {
                    next_id += 1;
                    let real = b.try_acquire(Timestamp::from_micros(now));
                    let model = m.acquire(now, next_id);
                    match (real, model) {
                        (Ok(p), Some(mp)) => {
                            prop_assert_eq!(p.is_probe(), mp.probe);
                            held.push((p, mp));
                        }
                        (Err(r), None) => {
                            prop_assert_eq!(r.state, m.public());
                            if let MState::Open { until } = m.state {
                                prop_assert_eq!(r.retry_at, Timestamp::from_micros(until));
                            }
                            if r.state == BreakerState::HalfOpen {
                                prop_assert!(r.retry_at > Timestamp::from_micros(now));
                            }
                        }
                        (real, model) => prop_assert!(
                            false,
                            "admission differs: real {:?}, model {:?}",
                            real.is_ok(),
                            model
                        ),
                    }
                }
                Op::Report(i, k) => {
                    if !held.is_empty() {
                        // `i` counts back from the newest permit.
                        let idx = held.len() - 1 - (i % held.len());
                        let (p, mp) = held.remove(idx);
                        // `k` is a percentile: below `fail_pct` a failure, the top 10 % ignored.
                        let kind = if k < fail_pct {
                            CallKind::Failure
                        } else if k >= 90 {
                            CallKind::Ignored
                        } else {
                            CallKind::Success
                        };
                        b.on_result(Timestamp::from_micros(now), p, CallResult::new(kind, MS));
                        m.report(now, mp, kind);
                    }
                }
                Op::HandleTimeout => {
                    b.handle_timeout(Timestamp::from_micros(now));
                    m.advance(now);
                    if let Some(d) = b.poll_timeout() {
                        prop_assert!(d > Timestamp::from_micros(now), "deadline stuck in the past");
                    }
                }
                Op::Isolate => {
                    b.isolate(Timestamp::from_micros(now));
                    if m.state != MState::Isolated {
                        m.state = MState::Isolated;
                        m.probes.clear();
                        m.epoch += 1;
                    }
                }
                Op::Reset => {
                    b.reset(Timestamp::from_micros(now));
                    m.state = MState::Closed;
                    m.fails = 0;
                    m.probes.clear();
                    m.epoch += 1;
                }
            }
            let s = b.snapshot(Timestamp::from_micros(now));
            prop_assert_eq!(s.state, m.public());
            prop_assert_eq!(s.failure_count, m.fails);
            prop_assert!(s.half_open_in_flight <= n, "more than N probes in flight");
            if m.state == MState::HalfOpen {
                prop_assert_eq!(s.half_open_in_flight as usize, m.probes.len());
                prop_assert_eq!(s.half_open_successes, m.successes);
            }
            // Probe permits of the current generation held by the caller never exceed N.
            let current_probes = held
                .iter()
                .filter(|(p, _)| p.is_probe() && p.generation() == b.generation)
                .count();
            prop_assert!(current_probes <= n as usize);
            while b.poll_event().is_some() {}
        }
    }
}
