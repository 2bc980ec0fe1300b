//! One client process's measurement: workers send back to back through a warm-up and a timed
//! window; the window's CPU time comes from `getrusage(RUSAGE_SELF)` (every thread of the
//! process: workers, runtimes, blocking pools, background drivers).

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

use crate::nginx::Counters;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// The phase every worker reads after each request.
pub(crate) struct Meter {
    phase: AtomicU8,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            phase: AtomicU8::new(WARMUP),
        }
    }
}

impl Meter {
    /// Whether workers should send another request.
    pub(crate) fn running(&self) -> bool {
        self.phase.load(Ordering::Relaxed) != STOP
    }

    fn measuring(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == MEASURE
    }

    /// Runs the warm-up and the window on the calling thread (the workers run elsewhere),
    /// then tells the workers to stop. `base_url` is the upstream, for its counters.
    pub(crate) fn control(&self, warmup: Duration, window: Duration, base_url: &str) -> Window {
        std::thread::sleep(warmup);
        let before = Counters::fetch(base_url).ok();
        let cpu0 = cpu_time(UsageWho::RUSAGE_SELF);
        let t0 = Instant::now();
        self.phase.store(MEASURE, Ordering::Relaxed);
        std::thread::sleep(window);
        let elapsed = t0.elapsed();
        let cpu = cpu_time(UsageWho::RUSAGE_SELF).saturating_sub(cpu0);
        self.phase.store(STOP, Ordering::Relaxed);
        let after = Counters::fetch(base_url).ok();
        Window {
            elapsed,
            cpu,
            upstream: before.zip(after).map(|(b, a)| Counters {
                accepts: a.accepts.saturating_sub(b.accepts + 1),
                // The second status request (and its connection) is counted in `after`.
                requests: a.requests.saturating_sub(b.requests + 1),
            }),
        }
    }
}

/// What the controller saw of the timed window.
pub(crate) struct Window {
    elapsed: Duration,
    cpu: Duration,
    upstream: Option<Counters>,
}

/// User + system CPU time so far of this whole process (`RUSAGE_SELF`) or of its children
/// that ended and were waited for (`RUSAGE_CHILDREN`).
pub(crate) fn cpu_time(who: UsageWho) -> Duration {
    let usage = getrusage(who).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

/// What one worker saw.
#[derive(Default)]
pub(crate) struct WorkerStats {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerStats {
    /// Records one request that started at `t0` (counted only if it ended inside the window).
    pub(crate) fn record(&mut self, meter: &Meter, t0: Instant, result: Result<usize, String>) {
        let measuring = meter.measuring();
        match result {
            Ok(len) if len > 0 => {
                if measuring {
                    let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    self.latencies_us.push(us);
                }
            }
            Ok(_) => self.error(measuring, "empty body".to_owned()),
            Err(e) => self.error(measuring, e),
        }
    }

    fn error(&mut self, measuring: bool, message: String) {
        if measuring {
            self.errors += 1;
        }
        self.first_error.get_or_insert(message);
    }
}

/// One client process's result, printed as one JSON line for the coordinator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Sample {
    /// Requests answered inside the window.
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) seconds: f64,
    /// Process CPU time (user + system) over the window, µs.
    pub(crate) cpu_us: f64,
    pub(crate) p50_us: u32,
    pub(crate) p99_us: u32,
    /// Requests that reached nginx during the window.
    pub(crate) upstream_requests: Option<u64>,
    /// Connections nginx accepted during the window.
    pub(crate) new_connections: Option<u64>,
}

impl Sample {
    /// Combines the workers' records with the window.
    pub(crate) fn new(workers: Vec<WorkerStats>, window: &Window) -> Sample {
        let mut latencies = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for w in workers {
            latencies.extend(w.latencies_us);
            errors += w.errors;
            if first_error.is_none() {
                first_error = w.first_error;
            }
        }
        latencies.sort_unstable();
        let pct = |p: usize| {
            if latencies.is_empty() {
                0
            } else {
                latencies[(latencies.len() * p / 100).min(latencies.len() - 1)]
            }
        };
        Sample {
            requests: latencies.len() as u64,
            errors,
            first_error,
            seconds: window.elapsed.as_secs_f64(),
            cpu_us: window.cpu.as_secs_f64() * 1e6,
            p50_us: pct(50),
            p99_us: pct(99),
            upstream_requests: window.upstream.map(|c| c.requests),
            new_connections: window.upstream.map(|c| c.accepts),
        }
    }

    /// Requests per second.
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    /// Client CPU per request, µs.
    pub(crate) fn cpu_per_request(&self) -> f64 {
        self.cpu_us / self.requests.max(1) as f64
    }

    /// Upstream requests per client request (0 = all cache hits).
    pub(crate) fn upstream_per_request(&self) -> Option<f64> {
        self.upstream_requests
            .map(|u| u as f64 / self.requests.max(1) as f64)
    }
}
