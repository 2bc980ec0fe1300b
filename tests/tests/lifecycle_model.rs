//! Model-based test of the engine's request lifecycle: random operation sequences (begin,
//! responses with arbitrary statuses and headers, transport errors, resume, proceed, cancel,
//! misuse, timers, health and alert inputs, commands) on random configurations, checked step by
//! step against the reference model in `tether_tests::lifecycle` (see its docs for the
//! invariants). The `engine_sequence` fuzz target runs the same model on fuzzer input.

// Native only: files, JSON Schema, property tests or processes (the wasm runs are
// `conformance.rs`, `scenarios.rs`, `client.rs` and `cache_isolation.rs`).
#![cfg(not(target_arch = "wasm32"))]

use proptest::collection::vec;
use proptest::prelude::*;
use tether_tests::lifecycle::{Op, Outcome, Setup, Stats, Value, World};

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => any::<u8>().prop_map(Value::Known),
        1 => vec(any::<u8>(), 0..12).prop_map(Value::Raw),
    ]
}

/// A response header, biased towards the ones that steer the cache and retries: freshness
/// directives, validators, `Retry-After`; sometimes anything.
fn response_header() -> impl Strategy<Value = (u8, Value)> {
    prop_oneof![
        4 => (Just(0u8), (0u8..10).prop_map(Value::Known)), // cache-control
        1 => (Just(1u8), (13u8..16).prop_map(Value::Known)), // etag
        1 => (Just(3u8), (18u8..27).prop_map(Value::Known)), // retry-after
        1 => (Just(5u8), (15u8..18).prop_map(Value::Known)), // vary
        2 => (any::<u8>(), value()),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    let status = prop_oneof![6 => 0u8..3, 1 => Just(3u8), 3 => any::<u8>()];
    let raw_status = proptest::option::weighted(0.05, 0u16..1000);
    prop_oneof![
        5 => (status, raw_status, vec(response_header(), 0..4), any::<u8>())
            .prop_map(|(status, raw_status, headers, body_len)| Outcome::Response {
                status,
                raw_status,
                headers,
                body_len,
            }),
        1 => any::<u8>().prop_map(Outcome::Transport),
    ]
}

/// A request: mostly GETs of a few URLs (so identical requests meet in the cache), sometimes
/// anything, invalid URLs included.
fn begin() -> impl Strategy<Value = Op> {
    let method = prop_oneof![6 => Just(0u8), 1 => any::<u8>()];
    let origin = prop_oneof![8 => 0u8..2, 1 => any::<u8>()];
    let path = prop_oneof![6 => 0u8..3, 1 => any::<u8>()];
    let header = prop_oneof![
        2 => (Just(0u8), (0u8..10).prop_map(Value::Known)), // cache-control
        1 => (Just(1u8), (27u8..29).prop_map(Value::Known)), // authorization
        1 => (any::<u8>(), value()),
    ];
    (method, origin, path, vec(header, 0..2), any::<u8>()).prop_map(
        |(method, origin, path, headers, service)| Op::Begin {
            method,
            origin,
            path,
            headers,
            service,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..2_000).prop_map(Op::Advance),
        2 => (0u32..3_000_000).prop_map(Op::Advance),
        1 => (0u16..120).prop_map(Op::AdvanceSecs),
        1 => Just(Op::RunTimers),
        1 => Just(Op::HandleTimeout),
        6 => begin(),
        6 => (any::<u8>(), outcome()).prop_map(|(pick, outcome)| Op::Respond { pick, outcome }),
        3 => any::<u8>().prop_map(|pick| Op::Resume { pick }),
        3 => any::<u8>().prop_map(|pick| Op::Proceed { pick }),
        1 => any::<u8>().prop_map(|pick| Op::Cancel { pick }),
        1 => any::<u8>().prop_map(|pick| Op::MisuseProceed { pick }),
        1 => any::<u8>().prop_map(|pick| Op::UseStale { pick }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(service, ok)| Op::CheckResult { service, ok }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(cpu, memory)| Op::SystemSample { cpu, memory }),
        1 => Just(Op::EvaluateAlerts),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(kind, target)| Op::Command { kind, target }),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (
            any::<u64>(),
            any::<u8>(),
            any::<u8>(),
            0u8..5,
            proptest::option::of(0u8..30),
        ),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            0u16..500,
        ),
        (
            any::<bool>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u16>()),
        ),
        (proptest::option::of(any::<u16>()), any::<u8>()),
    )
        .prop_map(|(a, b, c, d)| Setup {
            seed: a.0,
            max_in_flight: a.1,
            cache_entries: a.2,
            default_ttl_secs: a.3,
            stale_if_error_secs: a.4,
            breaker_failures: b.0,
            break_millis: b.1,
            probes: b.2,
            attempts: b.3,
            backoff_millis: b.4,
            budget: c.0,
            deadline_millis: c.1,
            attempt_timeout_millis: c.2,
            alert_millis: d.0,
            health_checks: d.1,
        })
}

fn run(setup: Setup, ops: &[Op]) -> Stats {
    let mut world = World::new(setup);
    for op in ops {
        world.apply(op);
    }
    world.finish()
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=100000 for a longer run.
    #[test]
    fn any_sequence_keeps_the_lifecycle_invariants(setup in setup(), ops in vec(op(), 0..160)) {
        let stats = run(setup, &ops);
        prop_assert!(stats.begun + stats.refused <= ops.len() as u64);
        if std::env::var_os("LIFECYCLE_STATS").is_some() {
            eprintln!("{stats:?}");
        }
    }
}

/// A fixed tour through the paths the model must see, so a harness that silently stopped
/// reaching them (every op a no-op) fails here rather than passing vacuously.
#[test]
fn the_model_reaches_every_path() {
    let get = |path: u8, headers: Vec<(u8, Value)>| Op::Begin {
        method: 0,
        origin: 0,
        path,
        headers,
        service: 1,
    };
    let respond = |status: u8, headers: Vec<(u8, Value)>| Op::Respond {
        pick: 0,
        outcome: Outcome::Response {
            status,
            raw_status: None,
            headers,
            body_len: 3,
        },
    };
    let setup = Setup {
        max_in_flight: 7,
        attempts: 2,
        breaker_failures: 5,
        health_checks: 1,
        ..Setup::default()
    };
    let ops = vec![
        // A miss stored with max-age=1, stale-while-revalidate=30 and an ETag, then a hit.
        get(1, vec![]),
        respond(0, vec![(0, Value::Known(5)), (1, Value::Known(13))]),
        get(1, vec![]),
        // Past max-age: stale served, one background refresh (answered 304).
        Op::AdvanceSecs(2),
        get(1, vec![]),
        respond(3, vec![]),
        // Three identical requests: one leader, two followers; the leader fails with a 503
        // (retried), the retry succeeds with no-store, the followers proceed and send.
        get(2, vec![]),
        get(2, vec![]),
        get(2, vec![]),
        respond(11, vec![]),
        Op::Advance(5),
        Op::Resume { pick: 0 },
        respond(0, vec![(0, Value::Known(2))]),
        Op::Proceed { pick: 0 },
        Op::Proceed { pick: 0 },
        // Misuse: proceed a request with an attempt out; then cancel it and use its permit.
        Op::MisuseProceed { pick: 0 },
        Op::Cancel { pick: 0 },
        Op::UseStale { pick: 0 },
        Op::Cancel { pick: 200 },
        // The breaker forced open refuses; health and alerts run on timers.
        Op::Command { kind: 0, target: 0 },
        get(3, vec![]),
        Op::RunTimers,
        Op::CheckResult {
            service: 0,
            ok: false,
        },
        Op::SystemSample {
            cpu: 99,
            memory: 10,
        },
        Op::EvaluateAlerts,
        Op::Command { kind: 1, target: 0 },
        // An invalid URL is refused; a transport error on an attempt.
        Op::Begin {
            method: 0,
            origin: 4,
            path: 0,
            headers: vec![],
            service: 0,
        },
        get(4, vec![]),
        Op::Respond {
            pick: 0,
            outcome: Outcome::Transport(0),
        },
        // The transport refuses a request as the caller's mistake: withdrawn, not counted.
        get(5, vec![]),
        Op::Respond {
            pick: 0,
            outcome: Outcome::Transport(6),
        },
    ];
    let stats = run(setup, &ops);
    assert!(stats.cached >= 2, "{stats:?}");
    assert!(stats.background >= 1, "{stats:?}");
    assert!(stats.followed >= 2, "{stats:?}");
    assert!(stats.retries >= 1, "{stats:?}");
    assert!(stats.cancelled >= 1, "{stats:?}");
    assert!(stats.typed_errors >= 3, "{stats:?}");
    assert!(stats.breaker_rejections >= 1, "{stats:?}");
    assert_eq!(stats.refused, 1, "{stats:?}");
    assert_eq!(stats.withdrawn, 1, "{stats:?}");
}
