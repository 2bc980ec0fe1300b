//! `make demo-sim`: the Tether engine driven through a simulated flaky upstream on virtual time.
//!
//! Nothing here touches a socket or a clock: a scripted upstream answers, the harness jumps
//! from event to event, and the engine decides everything — cache hits, retries and their
//! delays, Retry-After, the breaker opening and half-opening, alerts firing and resolving —
//! then exports its metrics in the Prometheus text format.

#![allow(clippy::many_single_char_names)] // a, b, c… name the demo's requests

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tether_core::Backoff;
use tether_core::{BreakDuration, BreakerEvent};
use tether_core::{EngineConfig, EngineEvent, FinalResult, Timestamp};
use tether_core::{Format, SystemSample, export};
use tether_tests::{Sim, SimId, get, ok, respond};

const MS: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Healthy,
    Outage,
}

struct Printer {
    shown_events: usize,
}

impl Printer {
    fn results(sim: &Sim, ids: &[SimId], label: &str) {
        for id in ids {
            let r = sim.result(*id);
            let outcome = match &r.finished.result {
                FinalResult::Response(reply) => format!(
                    "{} {}",
                    reply.status().as_u16(),
                    if reply.is_cached() {
                        "(from cache)"
                    } else {
                        "(upstream)"
                    }
                ),
                FinalResult::Transport(e) => format!("transport error: {e}"),
                FinalResult::Rejected(reason) => format!("rejected: {reason:?}"),
                _ => "?".to_owned(),
            };
            println!(
                "[{:>9}] {label:<28} -> {outcome}\n{:>13}{}",
                fmt_t(r.at),
                "",
                r.finished.trace.summary()
            );
        }
    }

    fn events(&mut self, sim: &Sim) {
        for (t, e) in &sim.engine_events[self.shown_events..] {
            let line = match e {
                EngineEvent::Breaker(b) => {
                    let BreakerEvent::StateChanged {
                        from, to, reason, ..
                    } = &b.event
                    else {
                        continue;
                    };
                    format!(
                        "BREAKER  {:<10} {} -> {} ({reason:?})",
                        b.name,
                        from.as_str(),
                        to.as_str()
                    )
                }
                EngineEvent::Alert(tether_core::AlertEvent::Fired(a)) => format!(
                    "ALERT    FIRED    [{:?}] {}: {}",
                    a.severity, a.alert_type, a.message
                ),
                EngineEvent::Alert(tether_core::AlertEvent::Resolved(a)) => {
                    format!("ALERT    RESOLVED {}: {}", a.alert_type, a.message)
                }
                EngineEvent::Health(h) => format!("HEALTH   {h:?}"),
                _ => continue,
            };
            println!("[{:>9}] {line}", fmt_t(*t));
        }
        self.shown_events = sim.engine_events.len();
    }
}

fn fmt_t(t: Timestamp) -> String {
    format!("{:.3}s", t.as_duration().as_secs_f64())
}

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.retry.backoff = Backoff::Exponential {
        base: Duration::from_millis(200),
        factor: 2.0,
        max: Duration::from_secs(5),
    };
    config.retry.max_attempts = 3;
    config.breakers.default.consecutive_failures = Some(5);
    config.breakers.default.break_duration = BreakDuration::Constant(Duration::from_secs(10));
    config.breakers.default.half_open_probes = 2;
    config
}

/// The scripted upstream: payments fails while `mode` is `Outage`; `/flaky` answers 503 twice;
/// the fourth counted call to `/limited` is a 429 with `Retry-After: 2`; `/items` is cacheable.
fn upstream(mode: Rc<RefCell<Mode>>) -> Sim {
    let calls = Rc::new(RefCell::new(0u32));
    Sim::new(config(), move |req, _now| {
        let path = req.uri().path();
        let host = req.uri().host().unwrap_or("");
        if host.starts_with("payments") && *mode.borrow() == Mode::Outage {
            return (80 * MS, ok(500, "{\"detail\":\"db down\"}"));
        }
        if path.starts_with("/flaky") {
            *calls.borrow_mut() += 1;
            if *calls.borrow() <= 2 {
                return (30 * MS, ok(503, "try again"));
            }
        }
        if path.starts_with("/limited") {
            *calls.borrow_mut() += 1;
            if *calls.borrow() == 4 {
                return (5 * MS, respond(429, &[("retry-after", "2")], "slow down"));
            }
        }
        if path.starts_with("/items") {
            return (
                40 * MS,
                respond(
                    200,
                    &[("cache-control", "max-age=30"), ("etag", "\"v1\"")],
                    "[1,2,3]",
                ),
            );
        }
        (25 * MS, ok(200, "{\"ok\":true}"))
    })
}

fn main() {
    let mode = Rc::new(RefCell::new(Mode::Healthy));
    let mut sim = upstream(Rc::clone(&mode));
    let mut printer = Printer { shown_events: 0 };

    println!("Tether engine demo — a simulated upstream on virtual time (no sockets, no clock)\n");
    cache_and_retries(&mut sim);
    *mode.borrow_mut() = Mode::Outage;
    outage(&mut sim, &mut printer);
    *mode.borrow_mut() = Mode::Healthy;
    recovery(&mut sim, &mut printer);
    metrics(&sim);
}

/// Sections 1–3: cache hits and coalescing, retries with backoff, Retry-After.
fn cache_and_retries(sim: &mut Sim) {
    println!("== 1. Cache: a miss, then hits (and 3 identical concurrent misses coalesced) ==");
    let a = sim.submit(get("http://catalog.test/items"), Some("catalog"));
    sim.run();
    let b = sim.submit_at(
        Timestamp::from_secs(1),
        get("http://catalog.test/items"),
        Some("catalog"),
    );
    sim.run();
    let c: Vec<SimId> = (0..3)
        .map(|_| {
            sim.submit_at(
                Timestamp::from_secs(2),
                get("http://catalog.test/items?page=2"),
                Some("catalog"),
            )
        })
        .collect();
    sim.run();
    Printer::results(sim, &[a, b], "GET catalog /items");
    Printer::results(sim, &c, "GET catalog /items?page=2");

    println!("\n== 2. Retries: two 503s then 200, exponential backoff ==");
    let d = sim.submit_at(
        Timestamp::from_secs(5),
        get("http://orders.test/flaky"),
        Some("orders"),
    );
    sim.run();
    Printer::results(sim, &[d], "GET orders /flaky");

    println!("\n== 3. Retry-After: a 429 asking for 2 s is honoured, never early ==");
    let e = sim.submit_at(
        Timestamp::from_secs(8),
        get("http://orders.test/limited"),
        Some("orders"),
    );
    sim.run();
    Printer::results(sim, &[e], "GET orders /limited");
}

/// Section 4: the breaker opens under an outage and calls fail fast.
fn outage(sim: &mut Sim, printer: &mut Printer) {
    println!("\n== 4. Outage: payments answers 500; the breaker opens, calls fail fast ==");
    let mut outage = Vec::new();
    for i in 0..12u64 {
        outage.push(sim.submit_at(
            Timestamp::from_secs(12) + Duration::from_millis(i * 700),
            get(&format!("http://payments.test/charge/{i}")),
            Some("payments"),
        ));
    }
    sim.advance(Duration::from_secs(12));
    Printer::results(sim, &outage[..2], "GET payments /charge");
    println!("{:>13}… {} more", "", outage.len() - 2);
    printer.events(sim);
}

/// Section 5: half-open probes close the breaker again.
fn recovery(sim: &mut Sim, printer: &mut Printer) {
    println!("\n== 5. Recovery: after the break, 2 half-open probes close the breaker ==");
    let mut rec = Vec::new();
    for i in 0..4u64 {
        rec.push(sim.submit_at(
            Timestamp::from_secs(36) + Duration::from_millis(i * 100),
            get(&format!("http://payments.test/charge/r{i}")),
            Some("payments"),
        ));
    }
    sim.run();
    Printer::results(sim, &rec, "GET payments /charge");
    for i in 0..30u64 {
        sim.submit_at(
            Timestamp::from_secs(40) + Duration::from_secs(i),
            get(&format!("http://payments.test/charge/ok{i}")),
            Some("payments"),
        );
    }
    sim.advance(Duration::from_secs(40));
    printer.events(sim);
}

/// Section 6: everything exported in the Prometheus text format.
fn metrics(sim: &Sim) {
    println!("\n== 6. Metrics, exported in the Prometheus text format ==");
    let snap = sim.engine.export_snapshot(
        sim.now(),
        sim.wall(),
        Some(SystemSample {
            cpu_percent: 23.5,
            memory_percent: 41.0,
            disk_usage_percent: 63.2,
            network_io: None,
            process_count: 211,
        }),
    );
    let text = export(Format::Prometheus, &snap).expect("prometheus export");
    print!("{text}");
    let g = &snap.metrics.global;
    println!(
        "\n# {} logical requests, {} attempts, {} retries; cache {} hits / {} misses; p95 {:.1} ms",
        g.total_requests,
        g.attempts,
        g.retries,
        g.cache.hits,
        g.cache.misses,
        g.p95_response_time.unwrap_or(0.0) * 1000.0
    );
}
