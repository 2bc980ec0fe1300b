//! The monitor's one task: checks on their own schedules, host samples, collections, refreshes.
//!
//! ```text
//!  loop:
//!    monitors = ad-hoc checks + registered services (re-read every turn: services come and go)
//!    refresh asked?      → every monitor due now; collect once they have all reported
//!    each monitor due and not running → start its check (bounded by its timeout)
//!    sample due and none running      → sample the host on a blocking thread
//!    collection due (and no refresh pending) → collect (no I/O: reads what is known)
//!    wait for: a check or sample finishing, a wake-up (refresh, new check), the next
//!              deadline, or the stop signal
//! ```
//!
//! Checks run as futures inside this task (no task per check), each raced against its own time
//! limit, so a dead host costs one check its timeout and nothing else waits for it.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tether_core::monitoring::HealthResult;
use tether_core::{Runtime as _, Timestamp};
use tokio::sync::watch;

use super::{Inner, Spec, lock, run_check};

/// Something the driver waited for.
enum Done {
    /// A check finished.
    Check(String, HealthResult),
    /// A host sample was taken (or the host cannot be sampled); it is kept in the monitor.
    Sampled,
}

type Job = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A refresh in progress: the monitors still to report before it collects, and whether it
/// waits for a host sample too.
struct Round {
    waiting: HashSet<String>,
    needs_sample: bool,
}

/// The longest the driver sleeps without looking at its monitors again (new services in the
/// registry are noticed within this).
const MAX_IDLE: Duration = Duration::from_secs(1);

/// The driver's bookkeeping between turns.
struct Driver {
    inner: Arc<Inner>,
    jobs: FuturesUnordered<Job>,
    /// When each monitor is next due.
    due: HashMap<String, Timestamp>,
    /// Monitors whose check is running.
    running: HashSet<String>,
    sampling: bool,
    next_sample: Timestamp,
    next_collect: Timestamp,
    round: Option<Round>,
}

pub(super) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let rt = inner.runtime;
    let now = rt.now();
    let mut d = Driver {
        next_collect: now.saturating_add(inner.config.collect_interval),
        round: None,
        inner,
        jobs: FuturesUnordered::new(),
        due: HashMap::new(),
        running: HashSet::new(),
        sampling: false,
        next_sample: now,
    };
    // The first round: everything checked and sampled, then the first collection.
    let mut first = true;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = rt.now();
        let specs = d.inner.specs();
        d.inner.sync_state(&specs);
        if std::mem::take(&mut first) {
            d.start_round(now, &specs, d.inner.config.system_metrics);
        } else if d.round.is_none() && d.inner.refresh.swap(false, Ordering::AcqRel) {
            // A refresh asked for while a round runs waits for it to finish and then starts
            // one more (its checks must postdate the request); the flag coalesces however
            // often `POST /refresh` is called meanwhile: at most one round in progress and
            // one pending.
            d.start_round(now, &specs, false);
        }
        d.plan(now, &specs);
        let wake = d.wake_at(now);
        let sleep = tokio::time::sleep(wake.saturating_duration_since(now));
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = d.inner.wake.notified() => {}
            Some(done) = d.jobs.next(), if !d.jobs.is_empty() => d.finished(rt.now(), &specs, done),
            () = sleep => {}
        }
    }
}

impl Driver {
    /// A round: every monitor due now, and a collection once they have all reported (and,
    /// with `needs_sample`, once the host has been sampled).
    fn start_round(&mut self, now: Timestamp, specs: &[Spec], needs_sample: bool) {
        let mut round = Round {
            waiting: HashSet::new(),
            needs_sample,
        };
        for s in specs {
            round.waiting.insert(s.name.clone());
            self.due.insert(s.name.clone(), now);
        }
        self.round = Some(round);
    }

    /// One turn's work at `now`: due checks and samples start; a finished round or a due
    /// collection collects.
    fn plan(&mut self, now: Timestamp, specs: &[Spec]) {
        self.due
            .retain(|name, _| specs.iter().any(|s| &s.name == name));
        if let Some(r) = self.round.as_mut() {
            r.waiting
                .retain(|name| specs.iter().any(|s| &s.name == name));
        }
        let rt = self.inner.runtime;
        for s in specs {
            let at = *self.due.entry(s.name.clone()).or_insert(now);
            if at <= now && self.running.insert(s.name.clone()) {
                let (name, probe, timeout) = (s.name.clone(), s.probe.clone(), s.timeout);
                self.jobs.push(Box::pin(async move {
                    let result = run_check(probe, timeout, rt).await;
                    Done::Check(name, result)
                }));
            }
        }
        if self.inner.config.system_metrics && !self.sampling && self.next_sample <= now {
            self.sampling = true;
            let inner = Arc::clone(&self.inner);
            self.jobs.push(Box::pin(async move {
                inner.sample_system().await;
                Done::Sampled
            }));
        }
        if self
            .round
            .as_ref()
            .is_some_and(|r| r.waiting.is_empty() && !r.needs_sample)
        {
            self.round = None;
            self.collect(now);
        }
        if self.round.is_none() && self.next_collect <= now {
            self.collect(now);
        }
    }

    fn collect(&mut self, now: Timestamp) {
        self.inner.collect_now();
        self.next_collect = now.saturating_add(self.inner.config.collect_interval);
    }

    /// The earliest deadline: the next collection, sample or idle check (at most
    /// [`MAX_IDLE`] away).
    fn wake_at(&self, now: Timestamp) -> Timestamp {
        let mut wake = now.saturating_add(MAX_IDLE).min(self.next_collect);
        if self.inner.config.system_metrics && !self.sampling {
            wake = wake.min(self.next_sample);
        }
        for (name, at) in &self.due {
            if !self.running.contains(name) {
                wake = wake.min(*at);
            }
        }
        wake
    }

    fn finished(&mut self, now: Timestamp, specs: &[Spec], done: Done) {
        match done {
            Done::Check(name, result) => {
                self.running.remove(&name);
                if let Some(s) = specs.iter().find(|s| s.name == name) {
                    self.due
                        .insert(name.clone(), now.saturating_add(s.interval));
                }
                // A monitor removed while its check ran leaves no result behind.
                if self.inner.specs().iter().any(|s| s.name == name) {
                    lock(&self.inner.state).record_check(&name, result);
                }
                if let Some(r) = self.round.as_mut() {
                    r.waiting.remove(&name);
                }
            }
            Done::Sampled => {
                self.sampling = false;
                self.next_sample = now.saturating_add(self.inner.config.system_interval);
                if let Some(r) = self.round.as_mut() {
                    r.needs_sample = false;
                }
            }
        }
    }
}
