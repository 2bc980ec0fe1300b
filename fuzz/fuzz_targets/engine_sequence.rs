//! engine_sequence — stateful fuzzing of the whole `Engine`.
//!
//! The input is decoded into an engine configuration and a sequence of operations — begin,
//! attempt outcomes (any status; garbage `Cache-Control`, `ETag`, `Retry-After`, `Age`, `Vary`,
//! …; transport errors), resume, proceed, cancel, misuse of stale handles, timers, health checks,
//! system samples, alert evaluations and commands — at non-decreasing, often equal, times. The
//! reference model in `tether_tests::lifecycle` (shared with the proptest
//! `tests/tests/lifecycle_model.rs`) applies them and checks after every step:
//!
//! * no panic;
//! * every begun request ends exactly once (`Decision::Done`, `Next::Done`,
//!   `Output::Resolved` or `cancel`), and the engine's in-flight count always matches the
//!   model's live requests — zero once every handle is used up, with no cache flight left, every
//!   request counted as completed in metrics and no breaker probe slot held;
//! * half-open breakers never have more probes out than configured;
//! * `poll_timeout()` is later than `now` (or `None`) after `handle_timeout(now)`;
//! * wrong-phase and unknown-id calls are typed errors (`WrongPhase` naming the model's phase,
//!   `UnknownRequest`) that change nothing.
//!
//! Input layout (front to back, so `fuzz/seeds/gen_seeds.py` can write seeds by hand; keep the
//! two in sync): the setup (`SETUP_BYTES` bytes), then operations until the input runs out,
//! each a one-byte tag and its fields. Byte strings and lists carry a one-byte length prefix.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tether_tests::lifecycle::{Op, Outcome, Setup, Value, World};

/// Most operations decoded from one input.
const MAX_OPS: usize = 400;

type U<'a, 'b> = &'b mut Unstructured<'a>;

fn byte(u: U<'_, '_>) -> arbitrary::Result<u8> {
    u.arbitrary()
}

fn option<T>(u: U<'_, '_>, f: impl FnOnce(U<'_, '_>) -> arbitrary::Result<T>) -> arbitrary::Result<Option<T>> {
    Ok(if u.arbitrary::<bool>()? { Some(f(u)?) } else { None })
}

fn setup(u: U<'_, '_>) -> arbitrary::Result<Setup> {
    Ok(Setup {
        seed: u.arbitrary()?,
        max_in_flight: byte(u)?,
        cache_entries: byte(u)?,
        default_ttl_secs: byte(u)? % 8,
        stale_if_error_secs: option(u, |u| Ok(byte(u)? % 64))?,
        breaker_failures: byte(u)?,
        break_millis: u.arbitrary()?,
        probes: byte(u)?,
        attempts: byte(u)?,
        backoff_millis: u.arbitrary::<u16>()? % 1000,
        budget: u.arbitrary()?,
        deadline_millis: option(u, |u| u.arbitrary())?,
        attempt_timeout_millis: option(u, |u| u.arbitrary())?,
        alert_millis: option(u, |u| u.arbitrary())?,
        health_checks: byte(u)?,
    })
}

/// A header value: a known value (one time in eight, raw bytes).
fn value(u: U<'_, '_>) -> arbitrary::Result<Value> {
    let b = byte(u)?;
    if b >= 224 {
        let n = usize::from(byte(u)? % 16).min(u.len());
        Ok(Value::Raw(u.bytes(n)?.to_vec()))
    } else {
        Ok(Value::Known(b))
    }
}

fn headers(u: U<'_, '_>, max: u8) -> arbitrary::Result<Vec<(u8, Value)>> {
    let n = byte(u)? % (max + 1);
    (0..n).map(|_| Ok((byte(u)?, value(u)?))).collect()
}

fn outcome(u: U<'_, '_>) -> arbitrary::Result<Outcome> {
    let tag = byte(u)?;
    if tag % 6 == 5 {
        return Ok(Outcome::Transport(byte(u)?));
    }
    Ok(Outcome::Response {
        status: tag / 6,
        raw_status: if tag >= 240 { Some(u.arbitrary()?) } else { None },
        headers: headers(u, 4)?,
        body_len: byte(u)?,
    })
}

fn op(u: U<'_, '_>) -> arbitrary::Result<Op> {
    Ok(match byte(u)? % 32 {
        0..=2 => Op::Advance(u32::from(u.arbitrary::<u16>()?)),
        3 => Op::Advance(u.arbitrary()?),
        4 => Op::AdvanceSecs(u.arbitrary()?),
        5 => Op::RunTimers,
        6 => Op::HandleTimeout,
        7..=12 => Op::Begin {
            method: byte(u)?,
            origin: byte(u)?,
            path: byte(u)?,
            headers: headers(u, 2)?,
            service: byte(u)?,
        },
        13..=18 => Op::Respond {
            pick: byte(u)?,
            outcome: outcome(u)?,
        },
        19 | 20 => Op::Resume { pick: byte(u)? },
        21 | 22 => Op::Proceed { pick: byte(u)? },
        23 => Op::Cancel { pick: byte(u)? },
        24 => Op::MisuseProceed { pick: byte(u)? },
        25 => Op::UseStale { pick: byte(u)? },
        26 => Op::CheckResult {
            service: byte(u)?,
            ok: u.arbitrary()?,
        },
        27 => Op::SystemSample {
            cpu: byte(u)?,
            memory: byte(u)?,
        },
        28 => Op::EvaluateAlerts,
        _ => Op::Command {
            kind: byte(u)?,
            target: byte(u)?,
        },
    })
}

/// The decoded input.
#[derive(Debug)]
struct Input {
    setup: Setup,
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: U<'a, '_>) -> arbitrary::Result<Self> {
        let setup = setup(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            match op(u) {
                Ok(op) => ops.push(op),
                // A truncated last op: the sequence ends here.
                Err(_) => break,
            }
        }
        Ok(Input { setup, ops })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}

fuzz_target!(|input: Input| {
    let mut world = World::new(input.setup);
    for op in &input.ops {
        world.apply(op);
    }
    world.finish();
});
