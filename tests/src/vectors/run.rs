//! Drives one vector: the scripted upstream, the caller's steps on the virtual clock, and the
//! collection of results for [`super::check`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::FutureExt as _;
use futures::channel::oneshot;
use futures::executor::LocalPool;
use futures::future::{RemoteHandle, join_all, select};
use futures::task::LocalSpawnExt as _;
use http::HeaderValue;
use tether_core::{Outcome, Request, Timestamp, TransportError};

use super::adapter::{self, Observed, VectorClient};
use super::check::{self, Sink};
use super::model::{Route, Vector};
use super::{Location, Mismatch};
use crate::virtual_rt::{ScriptedTransport, VirtualClock, VirtualRuntime};

/// Most clock jumps one vector may take (a guard against a timer loop, not a tuning knob).
pub(super) const STEP_LIMIT: u64 = 1_000_000;

/// A finished request.
pub(super) struct Record {
    pub(super) finished: Timestamp,
    pub(super) observed: Observed,
}

/// The scripted upstream: routes with their cursors, and the calls no route answered.
struct Upstream {
    routes: Vec<(Route, usize)>,
    unscripted: Vec<String>,
}

impl Upstream {
    fn answer(&mut self, req: &Request, now: Timestamp) -> (Duration, Outcome) {
        let route = self
            .routes
            .iter_mut()
            .find(|(route, _)| matches(route, req));
        let Some((route, cursor)) = route else {
            self.unscripted.push(format!(
                "{} {} at {}",
                req.method(),
                path_of(req),
                super::model::Ms::from_micros(now.as_micros())
            ));
            return (
                Duration::ZERO,
                Err(TransportError::new(
                    tether_core::TransportErrorKind::Other,
                    "no route of the vector answers this call",
                )),
            );
        };
        let reply = &route.responses[(*cursor).min(route.responses.len() - 1)];
        *cursor += 1;
        let outcome = match reply.error {
            Some(kind) => Err(TransportError::new(kind.to_core(), "scripted failure")),
            None => Ok(reply
                .to_response()
                .expect("replies are checked before the run")),
        };
        (reply.latency_ms.duration(), outcome)
    }
}

fn matches(route: &Route, req: &Request) -> bool {
    if route
        .method
        .as_ref()
        .is_some_and(|m| m != req.method().as_str())
    {
        return false;
    }
    if let Some(p) = &route.path {
        let actual = if p.contains('?') {
            path_of(req)
        } else {
            req.uri().path()
        };
        if p != actual {
            return false;
        }
    }
    route.headers.iter().all(|(name, want)| {
        let got = req.headers().get(name.as_str()).map(HeaderValue::as_bytes);
        got == want.as_deref().map(str::as_bytes)
    })
}

/// The path and query of a request, as the upstream sees it.
pub(super) fn path_of(req: &Request) -> &str {
    req.uri().path_and_query().map_or("/", |p| p.as_str())
}

/// Shared between the script, the request tasks and the final checks.
pub(super) struct State {
    vector: String,
    mismatches: RefCell<Vec<Mismatch>>,
    pub(super) results: RefCell<HashMap<String, Record>>,
}

impl State {
    pub(super) fn sink(&self, location: Location) -> Sink<'_> {
        Sink::new(&self.vector, location, &self.mismatches)
    }
}

/// Everything a check of the client as a whole reads.
pub(super) struct World<'a> {
    pub(super) client: &'a VectorClient,
    pub(super) transport: &'a ScriptedTransport,
    pub(super) clock: &'a VirtualClock,
}

/// How a vector's requests are driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Driver {
    /// The async API's model: every request a future on one single-threaded executor, the
    /// clock advanced whenever the executor stalls.
    Async,
    /// The blocking API's model: every request on an OS thread of its own, run by the blocking
    /// API's executor (`tether_native::blocking::block_on_with`), the clock advanced whenever
    /// every thread waits ([`crate::virtual_threads`]).
    #[cfg(feature = "blocking")]
    Threads,
}

/// Runs `vector` with the [`Driver::Async`] driver and returns every mismatch (empty when it
/// passes).
pub fn run(vector: &Vector) -> Vec<Mismatch> {
    run_with(vector, Driver::Async)
}

/// Runs `vector` with `driver` and returns every mismatch (empty when it passes).
pub fn run_with(vector: &Vector, driver: Driver) -> Vec<Mismatch> {
    run_full(vector, driver).0
}

/// Runs `vector` with the [`Driver::Async`] driver and returns every mismatch and a
/// transcript of what happened: one line per request, in the vector's order — its id, when it
/// finished (virtual µs), its status or error kind, whether the cache answered, its body
/// length and its whole decision trace as JSON. Two runtimes that make the same decisions on
/// the same virtual timeline produce the same transcript, byte for byte (see
/// [`super::fingerprint`]).
pub fn run_recorded(vector: &Vector) -> (Vec<Mismatch>, String) {
    run_full(vector, Driver::Async)
}

fn run_full(vector: &Vector, driver: Driver) -> (Vec<Mismatch>, String) {
    let state = Rc::new(State {
        vector: vector.name.clone(),
        mismatches: RefCell::new(Vec::new()),
        results: RefCell::new(HashMap::new()),
    });
    let problems = vector.problems();
    if !problems.is_empty() {
        let mut sink = state.sink(Location::Setup);
        for p in problems {
            sink.push("format", "a valid vector", p);
        }
        return (state.mismatches.take(), String::new());
    }
    let runtime = VirtualRuntime::with_seed(vector.config.seed);
    let clock = runtime.clock.clone();
    let upstream = Arc::new(Mutex::new(Upstream {
        routes: vector.upstream.iter().map(|r| (r.clone(), 0)).collect(),
        unscripted: Vec::new(),
    }));
    let answering = Arc::clone(&upstream);
    let transport =
        ScriptedTransport::new(&clock, move |req, now| lock(&answering).answer(req, now));
    let client = match adapter::build(vector.config.to_engine_config(), transport.clone(), runtime)
    {
        Ok(c) => c,
        Err(e) => {
            state
                .sink(Location::Setup)
                .push("config", "a valid configuration", e);
            return (state.mismatches.take(), String::new());
        }
    };
    let world = World {
        client: &client,
        transport: &transport,
        clock: &clock,
    };
    let done = match driver {
        Driver::Async => drive_async(vector, &state, &world),
        #[cfg(feature = "blocking")]
        Driver::Threads => super::threads::drive(vector, &state, &world),
    };

    for (i, step) in vector.steps.iter().enumerate() {
        for s in &step.send {
            let results = state.results.borrow();
            let mut sink = state.sink(Location::Request {
                step: i,
                id: s.id.clone(),
            });
            match results.get(&s.id) {
                Some(record) => check::request(&s.expect, record, &mut sink),
                None => sink.push("finished", "the request to finish", "it never did"),
            }
        }
    }
    let mut end = state.sink(Location::End);
    if done {
        if let Some(expect) = &vector.expect {
            check::client(expect, &world, &mut end);
        }
        check::no_leak(&world, &mut end);
    }
    let mut up = state.sink(Location::Upstream);
    for call in &lock(&upstream).unscripted {
        up.push("route", "a route for every upstream call", call.clone());
    }
    drop((end, up));
    let transcript = transcript(vector, &state.results.borrow());
    (state.mismatches.take(), transcript)
}

/// See [`run_recorded`].
fn transcript(vector: &Vector, results: &HashMap<String, Record>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for send in vector.steps.iter().flat_map(|step| &step.send) {
        let Some(record) = results.get(&send.id) else {
            let _ = writeln!(out, "{} unfinished", send.id);
            continue;
        };
        let o = &record.observed;
        let outcome = match (o.status, &o.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => error.clone(),
            (None, None) => "-".to_owned(),
        };
        let trace = serde_json::to_string(&o.trace).unwrap_or_else(|e| e.to_string());
        let _ = writeln!(
            out,
            "{} {}us {outcome} cache={} body={}B {trace}",
            send.id,
            record.finished.as_micros(),
            o.from_cache,
            o.body.len(),
        );
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drives the steps on one single-threaded executor; `true` when every step finished.
fn drive_async(vector: &Vector, state: &Rc<State>, world: &World<'_>) -> bool {
    let (client, transport, clock) = (world.client, world.transport, world.clock);
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    if vector.config.background {
        let c = client.clone();
        spawner
            .spawn_local(async move {
                let run = std::pin::pin!(adapter::background(&c));
                let _ = select(run, stop_rx).await;
            })
            .expect("the pool accepts tasks");
    }
    let done = Rc::new(Cell::new(false));
    {
        let (vector, state, done) = (vector.clone(), Rc::clone(state), Rc::clone(&done));
        let (client, transport, clock) = (client.clone(), transport.clone(), clock.clone());
        let requests = spawner.clone();
        spawner
            .spawn_local(async move {
                script(&vector, &state, &client, &transport, &clock, &requests).await;
                let _ = stop_tx.send(());
                done.set(true);
            })
            .expect("the pool accepts tasks");
    }
    let mut jumps = 0;
    loop {
        pool.run_until_stalled();
        if done.get() {
            break;
        }
        if !clock.advance() {
            state.sink(Location::End).push(
                "run",
                "every request to finish",
                "tasks blocked with no timer pending (a lost wake-up)",
            );
            break;
        }
        jumps += 1;
        if jumps > STEP_LIMIT {
            state.sink(Location::End).push(
                "run",
                format!("at most {STEP_LIMIT} clock jumps"),
                "more (a timer loop)",
            );
            break;
        }
    }
    drop(pool);
    done.get()
}

/// The caller: runs the steps in order, spawning each request as its own task.
async fn script(
    vector: &Vector,
    state: &Rc<State>,
    client: &VectorClient,
    transport: &ScriptedTransport,
    clock: &VirtualClock,
    spawner: &futures::executor::LocalSpawner,
) {
    let mut outstanding: Vec<RemoteHandle<()>> = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        if let Some(wait) = step_wait(state, i, step, clock) {
            clock.sleep(wait).await;
        }
        if let Some(d) = step.sleep_ms {
            clock.sleep(d.duration()).await;
        }
        // Each request begins (runs until it first waits) only after the one before it in
        // the list has begun, whatever order the executor polls them in.
        let mut previous: Option<Rc<Begun>> = None;
        for s in &step.send {
            let request = s.to_request().expect("requests are checked before the run");
            let (client, state, clock) = (client.clone(), Rc::clone(state), clock.clone());
            let (id, service) = (s.id.clone(), s.service.clone());
            let (after, mine) = (previous.take(), Rc::new(Begun::default()));
            previous = Some(Rc::clone(&mine));
            let task = async move {
                if let Some(after) = after {
                    after.wait().await;
                }
                let send = adapter::send(&client, request, service.as_deref());
                let observed = Marked::new(send, move || mine.mark()).await;
                let record = Record {
                    finished: clock.now(),
                    observed,
                };
                state.results.borrow_mut().insert(id, record);
            };
            let (task, handle) = task.remote_handle();
            spawner.spawn_local(task).expect("the pool accepts tasks");
            outstanding.push(handle);
        }
        if let Some(last) = previous {
            // Nothing else happens before every request of the step has begun.
            last.wait().await;
        }
        if step.wait.unwrap_or(!step.send.is_empty()) {
            join_all(outstanding.drain(..)).await;
        }
        if let Some(checks) = &step.check {
            let world = World {
                client,
                transport,
                clock,
            };
            check::client(checks, &world, &mut state.sink(Location::Step(i)));
        }
    }
    join_all(outstanding).await;
}

/// How long step `i` waits for its `at_ms` (reporting a clock already past it).
pub(super) fn step_wait(
    state: &State,
    i: usize,
    step: &super::model::Step,
    clock: &VirtualClock,
) -> Option<Duration> {
    let at = step.at_ms?;
    let now = clock.now().as_micros();
    if now > at.micros() {
        state.sink(Location::Step(i)).push(
            "at_ms",
            at.to_string(),
            format!(
                "the clock is already at {} (an earlier step waited longer)",
                super::model::Ms::from_micros(now)
            ),
        );
        None
    } else {
        Some(Duration::from_micros(at.micros() - now))
    }
}

/// Set once a request has begun: its first poll has returned.
#[derive(Default)]
struct Begun {
    flag: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Begun {
    fn mark(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.flag.get() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// A future that calls `begun` after its first poll (the request has begun: it ran until it
/// first waited, or finished).
pub(super) struct Marked<F, M> {
    inner: Pin<Box<F>>,
    begun: Option<M>,
}

impl<F, M> Marked<F, M> {
    pub(super) fn new(inner: F, begun: M) -> Self {
        Marked {
            inner: Box::pin(inner),
            begun: Some(begun),
        }
    }
}

impl<F: Future, M: FnOnce() + Unpin> Future for Marked<F, M> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let out = this.inner.as_mut().poll(cx);
        if let Some(begun) = this.begun.take() {
            begun();
        }
        out
    }
}
