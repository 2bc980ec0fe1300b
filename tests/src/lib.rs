//! Test support for Tether: a deterministic simulation harness for the engine.
//!
//! [`Sim`] owns an [`Engine`], a scripted upstream and a virtual clock. Requests are submitted
//! at virtual instants; the harness plays the frontend's part (sends attempts to the scripted
//! upstream, sleeps until retry deadlines, wakes single-flight followers, fires engine timers)
//! and **jumps straight to the next event**, so a test of hours of traffic runs in
//! milliseconds. A step limit turns a deadline that never moves into a test failure instead of
//! a hang.
//!
//! ```
//! use std::time::Duration;
//! use tether_core::EngineConfig;
//! use tether_tests::{Sim, get, ok};
//!
//! let mut sim = Sim::new(EngineConfig::default(), |_req, _now| (Duration::from_millis(5), ok(200, "hi")));
//! let id = sim.submit(get("http://api.test/x"), None);
//! sim.run();
//! assert_eq!(sim.result(id).status(), Some(200));
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

pub mod leaks;
pub mod lifecycle;
pub mod vectors;
pub mod virtual_rt;
#[cfg(feature = "blocking")]
pub mod virtual_threads;

use bytes::Bytes;
use tether_core::{
    Decision, Engine, EngineConfig, EngineEvent, FinalResult, Finished, Next, Output, Permit,
    Request, RetryToken, Timestamp, TransportError, TransportErrorKind, WallClock,
};

/// The scripted upstream: given the request as sent (with the engine's extra headers) and
/// the virtual time it was sent, returns how long it takes and what comes back.
pub type Upstream = Box<dyn FnMut(&Request, Timestamp) -> (Duration, tether_core::Outcome)>;

/// Wall-clock origin of every simulation: 2026-11-26T00:00:00Z.
pub const WALL_ORIGIN: WallClock = WallClock::from_unix_secs(1_795_651_200);

/// A `GET` request.
pub fn get(url: &str) -> Request {
    http::Request::get(url)
        .body(Bytes::new())
        .expect("test URLs are valid")
}

/// A request with a method, URL and headers.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_owned()))
        .expect("test requests are valid")
}

/// A successful outcome with a status and body.
pub fn ok(status: u16, body: &str) -> tether_core::Outcome {
    respond(status, &[], body)
}

/// A response outcome with headers.
pub fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> tether_core::Outcome {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    Ok(b.body(Bytes::from(body.to_owned()))
        .expect("test responses are valid"))
}

/// A transport failure outcome.
pub fn fail(kind: TransportErrorKind) -> tether_core::Outcome {
    Err(TransportError::new(kind, "scripted failure"))
}

/// Identifies a request submitted to the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SimId(pub usize);

/// What a submitted request ended with.
#[derive(Clone, Debug)]
pub struct SimResult {
    /// When it finished.
    pub at: Timestamp,
    /// The engine's verdict.
    pub finished: Finished,
}

impl SimResult {
    /// The final status, if it ended with a response.
    pub fn status(&self) -> Option<u16> {
        match &self.finished.result {
            FinalResult::Response(r) => Some(r.status().as_u16()),
            _ => None,
        }
    }

    /// The final body, if it ended with a response.
    pub fn body(&self) -> Option<Bytes> {
        match &self.finished.result {
            FinalResult::Response(r) => Some(r.body().clone()),
            _ => None,
        }
    }

    /// Whether the response came from the cache.
    pub fn from_cache(&self) -> bool {
        matches!(&self.finished.result, FinalResult::Response(r) if r.is_cached())
    }
}

/// One upstream send, as the scripted upstream saw it.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When.
    pub at: Timestamp,
    /// Method.
    pub method: String,
    /// URI.
    pub uri: String,
    /// Headers as sent (including conditional headers the engine added).
    pub headers: http::HeaderMap,
}

enum Ev {
    Submit(SimId),
    Complete(SimId, Permit, tether_core::Outcome),
    Background(Box<Request>, Permit, tether_core::Outcome),
    Resume(SimId, RetryToken),
}

/// The simulation harness. See the [crate docs](crate).
pub struct Sim {
    /// The engine under test.
    pub engine: Engine,
    now: Timestamp,
    upstream: Upstream,
    queue: BinaryHeap<Reverse<(Timestamp, u64)>>,
    events: HashMap<u64, Ev>,
    seq: u64,
    requests: Vec<(Request, Option<String>)>,
    by_engine_id: HashMap<u64, SimId>,
    results: BTreeMap<SimId, SimResult>,
    /// Every upstream send, in order.
    pub sent: Vec<Sent>,
    /// Every engine event (breaker, health, alerts), in order, with its time.
    pub engine_events: Vec<(Timestamp, EngineEvent)>,
    /// Every request-level error `begin` returned (bad URL, body too large).
    pub request_errors: Vec<(SimId, tether_core::RequestError)>,
    /// Steps taken so far.
    pub steps: u64,
    /// Maximum steps before the harness panics (a deadline that never moves).
    pub step_limit: u64,
}

impl Sim {
    /// A simulation with `config`, seed 7, and `upstream`.
    pub fn new(
        config: EngineConfig,
        upstream: impl FnMut(&Request, Timestamp) -> (Duration, tether_core::Outcome) + 'static,
    ) -> Sim {
        Sim {
            engine: Engine::new(config, 7).expect("test configs are valid"),
            now: Timestamp::ZERO,
            upstream: Box::new(upstream),
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            seq: 0,
            requests: Vec::new(),
            by_engine_id: HashMap::new(),
            results: BTreeMap::new(),
            sent: Vec::new(),
            engine_events: Vec::new(),
            request_errors: Vec::new(),
            steps: 0,
            step_limit: 1_000_000,
        }
    }

    /// Virtual now.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Virtual wall clock (origin + now).
    pub fn wall(&self) -> WallClock {
        wall_at(self.now)
    }

    /// Replaces the scripted upstream.
    pub fn set_upstream(
        &mut self,
        upstream: impl FnMut(&Request, Timestamp) -> (Duration, tether_core::Outcome) + 'static,
    ) {
        self.upstream = Box::new(upstream);
    }

    /// Submits a request now (it is processed when the simulation runs).
    pub fn submit(&mut self, request: Request, service: Option<&str>) -> SimId {
        self.submit_at(self.now, request, service)
    }

    /// Submits a request at virtual time `at` (not before now).
    pub fn submit_at(&mut self, at: Timestamp, request: Request, service: Option<&str>) -> SimId {
        let id = SimId(self.requests.len());
        self.requests.push((request, service.map(str::to_owned)));
        self.push(at.max(self.now), Ev::Submit(id));
        id
    }

    /// Submits `n` copies of a request at the same instant.
    pub fn submit_many(
        &mut self,
        n: usize,
        make: impl Fn(usize) -> Request,
        service: Option<&str>,
    ) -> Vec<SimId> {
        (0..n).map(|i| self.submit(make(i), service)).collect()
    }

    /// Runs until no request event is pending (engine timers due before the last event run
    /// too). Panics past the step limit.
    pub fn run(&mut self) {
        while let Some(&Reverse((at, _))) = self.queue.peek() {
            self.fire_timers_before(at);
            let Reverse((at, seq)) = self.queue.pop().expect("peeked");
            self.now = self.now.max(at);
            let ev = self
                .events
                .remove(&seq)
                .expect("every queued seq has an event");
            self.step();
            self.process(ev);
        }
    }

    /// Advances virtual time by `d`, running request events and engine timers on the way.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now.saturating_add(d);
        while let Some(&Reverse((at, _))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.fire_timers_before(at);
            let Reverse((at, seq)) = self.queue.pop().expect("peeked");
            self.now = self.now.max(at);
            let ev = self
                .events
                .remove(&seq)
                .expect("every queued seq has an event");
            self.step();
            self.process(ev);
        }
        self.fire_timers_before(until.saturating_add(Duration::from_micros(1)));
        self.now = until;
    }

    /// The result of a finished request (panics if it has not finished).
    pub fn result(&self, id: SimId) -> &SimResult {
        self.results
            .get(&id)
            .unwrap_or_else(|| panic!("{id:?} has not finished"))
    }

    /// The result, if finished.
    pub fn try_result(&self, id: SimId) -> Option<&SimResult> {
        self.results.get(&id)
    }

    /// Every result, by submission order.
    pub fn results(&self) -> impl Iterator<Item = (&SimId, &SimResult)> {
        self.results.iter()
    }

    /// Upstream sends whose URI contains `needle`.
    pub fn sends_to(&self, needle: &str) -> usize {
        self.sent.iter().filter(|s| s.uri.contains(needle)).count()
    }

    fn push(&mut self, at: Timestamp, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn step(&mut self) {
        self.steps += 1;
        assert!(
            self.steps <= self.step_limit,
            "step limit {} exceeded at {:?}: a deadline never moves",
            self.step_limit,
            self.now
        );
    }

    /// Fires engine timers due strictly before `before`; checks none stays in the past.
    fn fire_timers_before(&mut self, before: Timestamp) {
        while let Some(t) = self.engine.poll_timeout() {
            if t >= before {
                break;
            }
            self.now = self.now.max(t);
            self.step();
            let now = self.now;
            self.engine.handle_timeout(now, wall_at(now));
            self.drain();
            if let Some(next) = self.engine.poll_timeout() {
                assert!(
                    next > now,
                    "deadline {next:?} stuck at or before now {now:?}"
                );
            }
        }
    }

    fn process(&mut self, ev: Ev) {
        let now = self.now;
        let wall = wall_at(now);
        match ev {
            Ev::Submit(id) => {
                let (req, service) = &self.requests[id.0];
                match self.engine.begin(now, wall, req, service.as_deref()) {
                    Ok(d) => self.on_decision(id, d),
                    Err(e) => self.request_errors.push((id, e)),
                }
            }
            Ev::Complete(id, permit, outcome) => {
                let req = &self.requests[id.0].0;
                let next = self.engine.on_response(now, wall, permit, req, outcome);
                match next.expect("the harness reports only live permits") {
                    Next::Done(f) => self.finish(id, f),
                    Next::RetryAt { at, token } => self.push(at, Ev::Resume(id, token)),
                }
            }
            Ev::Background(req, permit, outcome) => {
                // The result only updates the cache; its `Finished` answers nobody.
                let _ = self
                    .engine
                    .on_response(now, wall, permit, &req, outcome)
                    .expect("the harness reports only live permits");
            }
            Ev::Resume(id, token) => {
                let req = &self.requests[id.0].0;
                let d = self.engine.resume(now, wall, token, req);
                self.on_decision(id, d.expect("the harness resumes only live requests"));
            }
        }
        self.drain();
    }

    fn on_decision(&mut self, id: SimId, d: Decision) {
        match d {
            Decision::Done(f) => self.finish(id, f),
            Decision::Send(permit) => self.send(id, permit),
            Decision::Wait(eid) => {
                self.by_engine_id.insert(eid.as_u64(), id);
            }
        }
    }

    fn send(&mut self, id: SimId, permit: Permit) {
        self.by_engine_id.insert(permit.id().as_u64(), id);
        let mut req = self.requests[id.0].0.clone();
        permit.apply(&mut req);
        let (latency, outcome) = self.call_upstream(&req, permit.timeout());
        self.push(
            self.now.saturating_add(latency),
            Ev::Complete(id, permit, outcome),
        );
    }

    fn call_upstream(
        &mut self,
        req: &Request,
        timeout: Option<Duration>,
    ) -> (Duration, tether_core::Outcome) {
        self.sent.push(Sent {
            at: self.now,
            method: req.method().to_string(),
            uri: req.uri().to_string(),
            headers: req.headers().clone(),
        });
        let (latency, outcome) = (self.upstream)(req, self.now);
        match timeout {
            Some(t) if latency > t => (
                t,
                Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "attempt timed out",
                )),
            ),
            _ => (latency, outcome),
        }
    }

    fn finish(&mut self, id: SimId, finished: Finished) {
        self.results.insert(
            id,
            SimResult {
                at: self.now,
                finished,
            },
        );
    }

    fn drain(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            let now = self.now;
            match out {
                Output::Resolved(f) => {
                    let id = self.by_engine_id[&f.id.as_u64()];
                    self.finish(id, *f);
                }
                Output::Proceed(eid) => {
                    let id = self.by_engine_id[&eid.as_u64()];
                    let req = &self.requests[id.0].0;
                    let d = self.engine.proceed(now, wall_at(now), eid, req);
                    self.on_decision(id, d.expect("the engine asked this request to proceed"));
                }
                Output::Background(b) => {
                    let tether_core::BackgroundFetch { request, permit } = *b;
                    let mut sent = request.clone();
                    permit.apply(&mut sent);
                    let (latency, outcome) = self.call_upstream(&sent, permit.timeout());
                    self.push(
                        now.saturating_add(latency),
                        Ev::Background(Box::new(request), permit, outcome),
                    );
                }
                Output::CheckDue(service) => {
                    // Health checks are answered by the test through `engine.on_check_result`.
                    let _ = service;
                }
                Output::Event(e) => self.engine_events.push((now, e)),
                _ => {}
            }
        }
    }
}

/// The virtual wall clock at `now`.
pub fn wall_at(now: Timestamp) -> WallClock {
    WALL_ORIGIN.saturating_add(now.as_duration())
}
