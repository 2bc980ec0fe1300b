//! The driver: runs the [`Engine`]'s decisions for one request over a [`Transport`] and a
//! [`Runtime`].
//!
//! ```text
//!  execute ─► default headers, Deadline ─► request hooks ─► lock · begin · drain · unlock
//!        ┌──────────────────────────────────────┴───────────────────────────────┐
//!    Done│                       Wait│ (single-flight follower)            Send │
//!        ▼                           ▼                                          ▼
//!   response/error hooks   await the leader ⟂ the deadline         transport.send ⟂ timer
//!   return                 (Proceed: continue alone;               (the permit's time limit)
//!                           deadline: Engine::expire)                       │
//!                                         lock · engine.on_response · drain · unlock
//!                                                  │ RetryAt(t)            │ Done
//!                                       runtime.sleep(t − now) ─► resume   ▼ conclude
//! ```
//!
//! The engine sits behind a mutex that is **never held across an `.await`**. Dropping a
//! request's future cancels it in the engine (its breaker slot is released and a waiting
//! single-flight follower takes over its fetch).

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt as _;
use futures::channel::{mpsc, oneshot};
use futures::task::AtomicWaker;
use http::{HeaderMap, HeaderName};

use super::background::{Background, Work};
use super::hooks::{
    ErrorEvent, HookFailure, HookStage, Hooks, RequestEvent, ResponseEvent, panic_message,
};
use super::{Error, Response};
use crate::{
    CheckResult, Deadline, Decision, Engine, EngineError, EngineEvent, Finished, Next, Outcome,
    Output, Permit, Redactor, Request, RequestId, Runtime, Timestamp, Transport, TransportError,
    TransportErrorKind, WallClock,
};

/// A single-flight follower's wake-up.
pub(crate) enum Wake {
    Finished(Box<Finished>),
    Proceed,
}

/// The engine and the followers waiting on it.
pub(crate) struct State {
    pub(crate) engine: Engine,
    waiters: HashMap<RequestId, oneshot::Sender<Wake>>,
}

/// Everything one client's clones share.
pub(crate) struct Shared<T: Transport, R: Runtime, H: Hooks> {
    state: Mutex<State>,
    pub(crate) transport: T,
    pub(crate) runtime: R,
    pub(crate) hooks: H,
    pub(crate) default_headers: HeaderMap,
    /// The redaction rule for events, errors and `Debug` output.
    pub(crate) redactor: Redactor,
    pub(crate) idempotency_header: HeaderName,
    pub(crate) closed: AtomicBool,
    /// Background work the engine asked for; taken by the one running [`Background`].
    pub(crate) work_tx: mpsc::UnboundedSender<Work>,
    pub(crate) work_rx: Mutex<Option<mpsc::UnboundedReceiver<Work>>>,
    /// Whether a [`Background`] driver exists (spawned or being driven).
    pub(crate) background: AtomicBool,
    /// Wakes the background driver when the client closes.
    pub(crate) background_waker: AtomicWaker,
    /// Health-check URL per service.
    pub(crate) health_urls: Mutex<HashMap<String, String>>,
    /// Starts a background driver on the runtime (its `Spawn` implementation); `None` when
    /// the runtime never runs one (`Spawn::can_spawn`).
    pub(crate) spawn: Option<SpawnFn<T, R, H>>,
}

/// How a client starts its background driver on its runtime.
pub(crate) type SpawnFn<T, R, H> = fn(&R, Background<T, R, H>) -> bool;

/// How a follower's wait ended.
enum Waited {
    /// The engine woke it.
    Woken(Wake),
    /// Its deadline passed first: it ended as a time-out.
    Expired(Box<Finished>),
}

/// Where a request stands between two engine calls.
#[expect(
    clippy::large_enum_variant,
    reason = "a local state, moved a few times per request; boxing would allocate"
)]
enum Pending {
    Done(Finished),
    Send(Permit),
    Wait(RequestId, oneshot::Receiver<Wake>),
}

/// The timer of a race that lost.
#[derive(Debug)]
pub(crate) struct Elapsed;

/// `future` raced against an optional `timer`: `Ok(output)`, or `Err(Elapsed)` when the timer
/// finishes first. Both must be `Unpin` (pin them on the stack or in a box).
pub(crate) struct Timed<F, S> {
    future: F,
    timer: Option<S>,
}

impl<F, S> Timed<F, S> {
    pub(crate) fn new(future: F, timer: Option<S>) -> Self {
        Timed { future, timer }
    }
}

impl<F: Future + Unpin, S: Future<Output = ()> + Unpin> Future for Timed<F, S> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.poll_unpin(cx) {
            return Poll::Ready(Ok(v));
        }
        match self.timer.as_mut().map(|t| t.poll_unpin(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed)),
            _ => Poll::Pending,
        }
    }
}

/// An attempt's outcome once raced against its time limit.
pub(crate) fn attempt_outcome(raced: Result<Outcome, Elapsed>, limit: Option<Duration>) -> Outcome {
    raced.unwrap_or_else(|Elapsed| {
        Err(TransportError::new(
            TransportErrorKind::Timeout,
            format!("attempt timed out after {:?}", limit.unwrap_or_default()),
        ))
    })
}

/// The request of a health probe: `GET url`, no body.
pub(crate) fn probe_request(url: &str) -> Result<Request, http::Error> {
    http::Request::get(url).body(bytes::Bytes::new())
}

/// A health probe's verdict: 2xx answered in time is healthy. Returns the check result and
/// the status, if the service answered.
pub(crate) fn probe_result(outcome: &Outcome, latency: Duration) -> (CheckResult, Option<u16>) {
    match outcome {
        Ok(r) if r.status().is_success() => {
            (CheckResult::passed(latency), Some(r.status().as_u16()))
        }
        Ok(r) => {
            let status = r.status().as_u16();
            (
                CheckResult::failed(latency, format!("status {status}")),
                Some(status),
            )
        }
        Err(e) => (CheckResult::failed(latency, e.to_string()), None),
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Shared<T, R, H> {
    pub(crate) fn new(
        engine: Engine,
        transport: T,
        runtime: R,
        hooks: H,
        default_headers: HeaderMap,
        idempotency_header: HeaderName,
        spawn: Option<SpawnFn<T, R, H>>,
    ) -> Self {
        let (work_tx, work_rx) = mpsc::unbounded();
        Shared {
            state: Mutex::new(State {
                engine,
                waiters: HashMap::new(),
            }),
            transport,
            runtime,
            hooks,
            default_headers,
            redactor: Redactor::new(),
            idempotency_header,
            closed: AtomicBool::new(false),
            work_tx,
            work_rx: Mutex::new(Some(work_rx)),
            background: AtomicBool::new(false),
            background_waker: AtomicWaker::new(),
            health_urls: Mutex::new(HashMap::new()),
            spawn,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the engine half-updated in a way that
        // matters more than refusing all further requests would.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the client: later requests fail with [`Error::Closed`]; the background driver
    /// stops.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.background_waker.wake();
    }

    /// Routes the engine's outputs: wakes followers, queues background work, collects events.
    fn drain(&self, st: &mut State, events: &mut Vec<EngineEvent>) {
        while let Some(out) = st.engine.poll_output() {
            match out {
                Output::Resolved(f) => {
                    if let Some(tx) = st.waiters.remove(&f.id) {
                        let _ = tx.send(Wake::Finished(f));
                    }
                }
                Output::Proceed(id) => {
                    if let Some(tx) = st.waiters.remove(&id) {
                        let _ = tx.send(Wake::Proceed);
                    } else {
                        // Nobody waits for it any more: its end is of no use to anyone.
                        let now = self.runtime.now();
                        let _ = st.engine.cancel(now, id);
                    }
                }
                Output::Background(b) => {
                    let id = b.permit.id();
                    let queued = self.background.load(Ordering::Acquire)
                        && self.work_tx.unbounded_send(Work::Refresh(b)).is_ok();
                    if !queued {
                        // Nobody runs background work: give the refresh up at once (the
                        // engine releases its cache flight).
                        let now = self.runtime.now();
                        let _ = st.engine.cancel(now, id);
                    }
                }
                Output::CheckDue(service) => {
                    if self.background.load(Ordering::Acquire) {
                        let _ = self.work_tx.unbounded_send(Work::Check(service));
                    }
                }
                Output::Event(e) => events.push(e),
            }
        }
    }

    fn register_wait(st: &mut State, d: Decision) -> Pending {
        match d {
            Decision::Done(f) => Pending::Done(f),
            Decision::Send(p) => Pending::Send(p),
            Decision::Wait(id) => {
                let (tx, rx) = oneshot::channel();
                st.waiters.insert(id, tx);
                Pending::Wait(id, rx)
            }
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Shared<T, R, H> {
    /// Runs `f` on the locked engine with the current times; events it produces reach the
    /// hooks afterwards.
    pub(crate) fn with_engine<X>(
        &self,
        f: impl FnOnce(&mut Engine, Timestamp, WallClock) -> X,
    ) -> X {
        let mut events = Vec::new();
        let x = {
            let mut st = self.lock();
            let now = self.runtime.now();
            let x = f(&mut st.engine, now, self.runtime.wall());
            self.drain(&mut st, &mut events);
            x
        };
        self.emit_events(&events);
        x
    }

    /// One engine call under the lock, with outputs drained and waits registered.
    fn step(
        &self,
        f: impl FnOnce(&mut Engine, Timestamp, WallClock) -> Result<Decision, EngineError>,
    ) -> Result<Pending, EngineError> {
        let mut events = Vec::new();
        let d = {
            let mut st = self.lock();
            let now = self.runtime.now();
            let d = f(&mut st.engine, now, self.runtime.wall());
            self.drain(&mut st, &mut events);
            d.map(|d| Self::register_wait(&mut st, d))
        };
        self.emit_events(&events);
        d
    }

    pub(crate) fn emit_events(&self, events: &[EngineEvent]) {
        for e in events {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.hooks.on_event(e))) {
                self.hook_panicked(HookStage::Event, panic.as_ref());
            }
        }
    }

    fn hook_panicked(&self, stage: HookStage, panic: &(dyn std::any::Any + Send)) {
        let failure = HookFailure {
            stage,
            message: panic_message(panic),
        };
        let _ = catch_unwind(AssertUnwindSafe(|| self.hooks.on_hook_failure(&failure)));
    }

    /// Awaits a hook call; a panic in it is reported, never propagated.
    async fn guarded(&self, stage: HookStage, call: impl Future<Output = ()>) {
        if let Err(panic) = AssertUnwindSafe(call).catch_unwind().await {
            self.hook_panicked(stage, panic.as_ref());
        }
    }

    /// Adds the default headers `request` does not set: per name, every value of it, unless
    /// the request set that name. Applying it twice changes nothing.
    pub(crate) fn apply_default_headers(&self, request: &mut Request) {
        if request.headers().is_empty() {
            // Usually the request has no header of its own: the defaults as they are.
            request.headers_mut().clone_from(&self.default_headers);
        } else if !self.default_headers.is_empty() {
            let own: Vec<HeaderName> = self
                .default_headers
                .keys()
                .filter(|n| request.headers().contains_key(*n))
                .cloned()
                .collect();
            for (name, value) in &self.default_headers {
                if !own.contains(name) {
                    request.headers_mut().append(name.clone(), value.clone());
                }
            }
        }
    }

    /// Sends `request` (absolute URL) through cache, breaker, retries and metrics; `timeout`
    /// bounds the whole request.
    pub(crate) async fn execute(
        &self,
        mut request: Request,
        service: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        self.runtime.check()?;
        self.apply_default_headers(&mut request);
        if let Some(limit) = timeout {
            let deadline = self.runtime.now().saturating_add(limit);
            request.extensions_mut().insert(Deadline(deadline));
        }
        let event = self.hooks.observes().then(|| RequestEvent {
            service: service.map(str::to_owned),
            method: request.method().as_str().to_owned(),
            url: self.redactor.redact_url(&request.uri().to_string()),
            headers: self.redactor.redact_headers(request.headers()),
            timestamp: self.runtime.wall(),
        });
        match &event {
            Some(e) => {
                self.hooks
                    .instrument(e, self.run(request, service, event.as_ref()))
                    .await
            }
            None => self.run(request, service, None).await,
        }
    }

    async fn run(
        &self,
        mut request: Request,
        service: Option<&str>,
        event: Option<&RequestEvent>,
    ) -> Result<Response, Error> {
        if let Some(e) = event {
            self.guarded(
                HookStage::Request,
                self.hooks.on_request(e, request.headers_mut()),
            )
            .await;
        }
        // After the hooks, which may have added headers: a request the transport would refuse
        // is the caller's mistake, and never reaches the breaker or the metrics.
        self.transport
            .check(&request)
            .map_err(|e| Error::from_request(e, &request.uri().to_string(), &self.redactor))?;
        let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
        let decision = {
            let mut events = Vec::new();
            let d = {
                let mut st = self.lock();
                let now = self.runtime.now();
                let d = st
                    .engine
                    .begin(now, self.runtime.wall(), &request, service)
                    .map_err(|e| {
                        Error::from_request(e, &request.uri().to_string(), &self.redactor)
                    })?;
                self.drain(&mut st, &mut events);
                Self::register_wait(&mut st, d)
            };
            self.emit_events(&events);
            d
        };
        let mut guard = CancelGuard {
            shared: self,
            id: None,
        };
        let finished = self.drive(decision, &request, deadline, &mut guard).await;
        guard.id = None;
        self.conclude(finished.map_err(Error::Engine)?, event).await
    }

    /// Drives decisions until the request is finished.
    async fn drive(
        &self,
        mut decision: Pending,
        request: &Request,
        deadline: Option<Timestamp>,
        guard: &mut CancelGuard<'_, T, R, H>,
    ) -> Result<Finished, EngineError> {
        loop {
            match decision {
                Pending::Done(f) => return Ok(f),
                Pending::Wait(id, rx) => {
                    guard.id = Some(id);
                    match self.wait(id, rx, request, deadline).await? {
                        Waited::Woken(Wake::Finished(f)) | Waited::Expired(f) => return Ok(*f),
                        Waited::Woken(Wake::Proceed) => {
                            decision =
                                self.step(|e, now, wall| e.proceed(now, wall, id, request))?;
                        }
                    }
                }
                Pending::Send(permit) => {
                    guard.id = Some(permit.id());
                    let outcome = self.attempt(&permit, request).await;
                    let next = {
                        let mut events = Vec::new();
                        let next = {
                            let mut st = self.lock();
                            let now = self.runtime.now();
                            let wall = self.runtime.wall();
                            let n = st.engine.on_response(now, wall, permit, request, outcome);
                            self.drain(&mut st, &mut events);
                            n
                        };
                        self.emit_events(&events);
                        next
                    };
                    match next? {
                        Next::Done(f) => return Ok(f),
                        Next::RetryAt { at, token } => {
                            let wait = at.saturating_duration_since(self.runtime.now());
                            if !wait.is_zero() {
                                self.runtime.sleep(wait).await;
                            }
                            decision =
                                self.step(|e, now, wall| e.resume(now, wall, token, request))?;
                        }
                    }
                }
            }
        }
    }

    /// A single-flight follower's wait, bounded by the request's deadline: the wake-up, or —
    /// when the deadline passes first — the request expired in the engine, with its trace.
    async fn wait(
        &self,
        id: RequestId,
        mut rx: oneshot::Receiver<Wake>,
        request: &Request,
        deadline: Option<Timestamp>,
    ) -> Result<Waited, EngineError> {
        let timer = deadline.map(|d| {
            self.runtime
                .sleep(d.saturating_duration_since(self.runtime.now()))
        });
        let timer = pin!(timer);
        match Timed::new(&mut rx, timer.as_pin_mut()).await {
            Ok(Ok(wake)) => return Ok(Waited::Woken(wake)),
            // The engine dropped our waiter without a word: end the request below.
            Ok(Err(oneshot::Canceled)) => {}
            Err(Elapsed) => {
                self.lock().waiters.remove(&id);
                // The leader may have answered between the timer and the lock.
                if let Ok(Some(wake)) = rx.try_recv() {
                    return Ok(Waited::Woken(wake));
                }
            }
        }
        self.with_engine(|e, now, wall| e.expire(now, wall, id, request))
            .map(|f| Waited::Expired(Box::new(f)))
    }

    /// One attempt: the transport raced against the permit's time limit.
    async fn attempt(&self, permit: &Permit, request: &Request) -> Outcome {
        let mut copy = crate::message::clone_request(request);
        permit.apply(&mut copy);
        let limit = permit.timeout();
        let send = pin!(self.transport.send(copy, limit));
        let timer = pin!(limit.map(|t| self.runtime.sleep(t)));
        attempt_outcome(Timed::new(send, timer.as_pin_mut()).await, limit)
    }

    /// Turns a finished request into the caller's result and runs the response or error
    /// hooks.
    async fn conclude(&self, f: Finished, event: Option<&RequestEvent>) -> Result<Response, Error> {
        let now = self.runtime.now();
        let Finished {
            id,
            service,
            result,
            trace,
        } = f;
        let attempts = trace.attempts.len() as u32;
        match Error::from_result(result, &service, trace, now, &self.redactor) {
            Ok((reply, trace)) => {
                let from_cache = reply.is_cached();
                if let Some(e) = event {
                    let response = ResponseEvent {
                        request_id: id,
                        service: service.to_string(),
                        method: e.method.clone(),
                        url: e.url.clone(),
                        status: reply.status().as_u16(),
                        from_cache,
                        attempts,
                        elapsed: trace.total,
                        trace: trace.clone(),
                        timestamp: self.runtime.wall(),
                    };
                    self.guarded(HookStage::Response, self.hooks.on_response(&response))
                        .await;
                }
                Ok(Response::new(
                    reply.into_response(now),
                    from_cache,
                    service,
                    trace,
                ))
            }
            Err(err) => {
                if let Some(e) = event {
                    let trace = err.trace().cloned().unwrap_or_default();
                    let error = ErrorEvent {
                        request_id: id,
                        service: service.to_string(),
                        method: e.method.clone(),
                        url: e.url.clone(),
                        kind: err.kind().to_owned(),
                        message: err.to_string(),
                        attempts,
                        elapsed: trace.total,
                        trace,
                        timestamp: self.runtime.wall(),
                    };
                    self.guarded(HookStage::Error, self.hooks.on_error(&error))
                        .await;
                }
                Err(err)
            }
        }
    }
}

/// Cancels the request in the engine if its future is dropped midway.
struct CancelGuard<'a, T: Transport, R: Runtime, H: Hooks> {
    shared: &'a Shared<T, R, H>,
    id: Option<RequestId>,
}

impl<T: Transport, R: Runtime, H: Hooks> Drop for CancelGuard<'_, T, R, H> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.shared.cancel(&[id]);
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Shared<T, R, H> {
    /// Cancels `ids` in the engine (their waiters dropped) and delivers the events.
    pub(crate) fn cancel(&self, ids: &[RequestId]) {
        let mut events = Vec::new();
        {
            let mut st = self.lock();
            let now = self.runtime.now();
            for id in ids {
                st.waiters.remove(id);
                // An id that already ended has nothing left to release.
                let _ = st.engine.cancel(now, *id);
            }
            self.drain(&mut st, &mut events);
        }
        self.emit_events(&events);
    }
}
