//! [`Client`]: the runtime-agnostic async driver that runs the [`Engine`] end to end over a
//! [`Transport`] and a [`Runtime`].
//!
//! ```text
//!  send(request) ─► request hooks ─► lock · engine.begin · drain outputs · unlock
//!        ┌──────────────────────────────────────┴───────────────────────────────┐
//!    Done│                       Wait│ (single-flight follower)            Send │
//!        ▼                           ▼                                          ▼
//!   response hooks         await the leader's result            transport.send ⟂ runtime.sleep
//!   return                 (or Proceed: continue alone)          (per-attempt timeout race)
//!                                                                        │
//!                                         lock · engine.on_response · drain · unlock
//!                                                  │ RetryAt(t)            │ Done
//!                                       runtime.sleep(t − now) ─► resume   ▼ return
//! ```
//!
//! The engine sits behind a mutex that is **never held across an `.await`**. Dropping a
//! `send` future cancels its request in the engine (its breaker slot is released and a
//! waiting single-flight follower takes over its fetch). Background work — stale-while-
//! revalidate refreshes, health checks, timers — runs only while some task drives
//! [`Client::run_background`]; without it, refreshes are skipped (the stale entry simply
//! expires) and health comes from traffic alone.

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::{mpsc, oneshot};
use futures::future::{Either, select};
use http::HeaderMap;
use serde::Serialize;

use crate::health::CheckResult;
use crate::{
    ConfigError, Decision, DecisionTrace, Engine, EngineConfig, EngineError, EngineEvent,
    FinalResult, Finished, Next, Output, Permit, RejectReason, Request, RequestError, RequestId,
    Response, Runtime, Transport, TransportError, TransportErrorKind, WallClock, redact,
};

/// What a request hook sees (secrets already redacted).
#[derive(Clone, Debug, Serialize)]
pub struct RequestEvent {
    /// The engine's id for the logical request (`None` before the engine has seen it).
    pub request_id: Option<RequestId>,
    /// The service it is accounted under, if one was named.
    pub service: Option<String>,
    /// HTTP method.
    pub method: String,
    /// URL with secret query values redacted.
    pub url: String,
    /// Headers with secret values redacted.
    pub headers: Vec<(String, String)>,
    /// Wall-clock time.
    pub timestamp: WallClock,
}

/// What a response hook sees.
#[derive(Clone, Debug, Serialize)]
pub struct ResponseEvent {
    /// The engine's id for the logical request.
    pub request_id: RequestId,
    /// The service it was accounted under.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// URL with secret query values redacted.
    pub url: String,
    /// Final status.
    pub status: u16,
    /// Whether the response came from the cache.
    pub from_cache: bool,
    /// Attempts sent upstream.
    pub attempts: u32,
    /// From start to finish.
    pub elapsed: Duration,
    /// Why it went the way it did.
    pub trace: DecisionTrace,
    /// Wall-clock time.
    pub timestamp: WallClock,
}

/// What an error hook sees: a request that ended without a response.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorEvent {
    /// The engine's id for the logical request.
    pub request_id: RequestId,
    /// The service it was accounted under.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// URL with secret query values redacted.
    pub url: String,
    /// Stable error kind (`timeout`, `connect`, `circuit_open`, …).
    pub kind: String,
    /// Human-readable message (no secrets).
    pub message: String,
    /// Attempts sent upstream.
    pub attempts: u32,
    /// From start to finish.
    pub elapsed: Duration,
    /// Why it went the way it did.
    pub trace: DecisionTrace,
    /// Wall-clock time.
    pub timestamp: WallClock,
}

/// A hook's failure. It is reported to [`Hooks::on_hook_failure`] and never fails the request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{hook} hook failed: {message}")]
pub struct HookFailure {
    /// `request`, `response`, `error` or `event`.
    pub hook: &'static str,
    /// What went wrong (the hook's error, or its panic message).
    pub message: String,
}

/// Interceptors: observe every request, response, error and engine event; a request hook may
/// add or change headers before the request reaches the cache key and the transport.
///
/// Every method has a default that does nothing. Returning `Err` (or panicking) is reported
/// through [`on_hook_failure`](Hooks::on_hook_failure) and does not affect the request.
pub trait Hooks: Send + Sync {
    /// Before the request is looked up and sent. Changes to `headers` apply to it.
    fn on_request(&self, _event: &RequestEvent, _headers: &mut HeaderMap) -> Result<(), String> {
        Ok(())
    }
    /// After a request finished with a response (any status, cached or not).
    fn on_response(&self, _event: &ResponseEvent) -> Result<(), String> {
        Ok(())
    }
    /// After a request finished without a response.
    fn on_error(&self, _event: &ErrorEvent) -> Result<(), String> {
        Ok(())
    }
    /// A breaker, health or alert event.
    fn on_event(&self, _event: &EngineEvent) {}
    /// A hook failed (log it).
    fn on_hook_failure(&self, _failure: &HookFailure) {}
}

/// A response as the client returns it.
#[derive(Debug)]
pub struct ClientResponse {
    /// The response (a cached one carries an `Age` header).
    pub response: Response,
    /// Whether it came from the cache.
    pub from_cache: bool,
    /// The service it was accounted under.
    pub service: String,
    /// Why it went the way it did.
    pub trace: DecisionTrace,
}

/// Why [`Client::send`] returned no response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request could not be processed (bad URL, body too large). Nothing was sent.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Every attempt failed below HTTP; this is the last failure.
    #[error("{error}")]
    Transport {
        /// The last transport failure.
        error: TransportError,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
        /// The service it was accounted under.
        service: String,
    },
    /// Refused by policy (breaker open, overload, cancelled).
    #[error("request rejected: {reason:?}")]
    Rejected {
        /// Why.
        reason: RejectReason,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
        /// The service it was accounted under.
        service: String,
    },
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// The engine refused a step of the request (a bug in this driver, never a policy
    /// outcome).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ClientError {
    /// The decision trace, when the engine saw the request.
    pub fn trace(&self) -> Option<&DecisionTrace> {
        match self {
            ClientError::Transport { trace, .. } | ClientError::Rejected { trace, .. } => {
                Some(trace)
            }
            _ => None,
        }
    }

    /// A stable snake_case kind (`timeout`, `connect`, `circuit_open`, `invalid_request`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Request(_) => "invalid_request",
            ClientError::Transport { error, .. } => error.kind.as_str(),
            ClientError::Rejected { reason, .. } => match reason {
                RejectReason::BreakerOpen { .. } => "circuit_open",
                RejectReason::OnlyIfCached => "only_if_cached",
                RejectReason::Overloaded => "overloaded",
                _ => "cancelled",
            },
            ClientError::Closed => "closed",
            ClientError::Engine(_) => "internal",
        }
    }
}

enum Wake {
    Finished(Box<Finished>),
    Proceed,
}

enum Work {
    Background(Box<crate::BackgroundFetch>),
    Check(String),
}

struct State {
    engine: Engine,
    waiters: HashMap<RequestId, oneshot::Sender<Wake>>,
    closed: bool,
}

struct Shared<T, R> {
    state: Mutex<State>,
    transport: T,
    runtime: R,
    hooks: Vec<Arc<dyn Hooks>>,
    work_tx: mpsc::UnboundedSender<Work>,
    work_rx: Mutex<Option<mpsc::UnboundedReceiver<Work>>>,
    background_running: AtomicBool,
    health_urls: Mutex<HashMap<String, String>>,
}

/// The async client: the [`Engine`] driven over a [`Transport`] and a [`Runtime`].
///
/// Cheap to clone (all clones share one engine).
pub struct Client<T, R> {
    shared: Arc<Shared<T, R>>,
}

impl<T, R> Clone for Client<T, R> {
    fn clone(&self) -> Self {
        Client {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, R> fmt::Debug for Client<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl<T: Transport, R: Runtime> Client<T, R> {
    /// A client with `config`, seeded from the runtime.
    pub fn new(config: EngineConfig, transport: T, runtime: R) -> Result<Self, ConfigError> {
        Self::with_hooks(config, transport, runtime, Vec::new())
    }

    /// A client with interceptors.
    pub fn with_hooks(
        config: EngineConfig,
        transport: T,
        runtime: R,
        hooks: Vec<Arc<dyn Hooks>>,
    ) -> Result<Self, ConfigError> {
        let engine = Engine::new(config, runtime.seed())?;
        let (work_tx, work_rx) = mpsc::unbounded();
        Ok(Client {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    engine,
                    waiters: HashMap::new(),
                    closed: false,
                }),
                transport,
                runtime,
                hooks,
                work_tx,
                work_rx: Mutex::new(Some(work_rx)),
                background_running: AtomicBool::new(false),
                health_urls: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.shared.runtime
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.shared.transport
    }

    /// Runs `f` with the engine locked (snapshots, invalidation, breaker control). Outputs the
    /// call produces are drained afterwards, and events delivered to the hooks.
    pub fn with_engine<X>(&self, f: impl FnOnce(&mut Engine) -> X) -> X {
        let mut events = Vec::new();
        let x = {
            let mut st = self.lock();
            let x = f(&mut st.engine);
            self.drain(&mut st, &mut events);
            x
        };
        self.emit_events(&events);
        x
    }

    /// Marks the client closed: later `send`s fail with [`ClientError::Closed`].
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Registers an active health check: the background driver sends `GET url` when it is
    /// due and reports 2xx as healthy.
    pub fn register_health_check(&self, service: &str, url: &str) {
        self.shared
            .health_urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.to_owned(), url.to_owned());
        let now = self.shared.runtime.now();
        // A health tracker at its limit of services leaves this one to passive signals.
        let _ = self.with_engine(|e| e.register_health_check(now, service));
    }

    /// Sends `request` (absolute URL) through cache, breaker, retries and metrics.
    /// `service` names the upstream for metrics and the breaker (the host when `None`).
    pub async fn send(
        &self,
        mut request: Request,
        service: Option<&str>,
    ) -> Result<ClientResponse, ClientError> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        let method = request.method().as_str().to_owned();
        let url = redact::redact_url(&request.uri().to_string());
        if !self.shared.hooks.is_empty() {
            let event = RequestEvent {
                request_id: None,
                service: service.map(str::to_owned),
                method: method.clone(),
                url: url.clone(),
                headers: redact::redact_headers(request.headers()),
                timestamp: self.shared.runtime.wall(),
            };
            for h in &self.shared.hooks {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    h.on_request(&event, request.headers_mut())
                }));
                self.report_hook("request", r);
            }
        }
        let (decision, mut events) = {
            let mut events = Vec::new();
            let mut st = self.lock();
            let now = self.shared.runtime.now();
            let wall = self.shared.runtime.wall();
            let d = st.engine.begin(now, wall, &request, service)?;
            self.drain(&mut st, &mut events);
            let d = Self::register_wait(&mut st, d);
            (d, events)
        };
        self.emit_events(&events);
        events.clear();
        let mut guard = CancelGuard {
            client: self,
            id: None,
        };
        let finished = self.drive(decision, &request, &mut guard).await;
        guard.id = None;
        let finished = finished?;
        self.conclude(finished, &method, &url)
    }

    /// Drives decisions until the request is finished.
    async fn drive(
        &self,
        mut decision: Pending,
        request: &Request,
        guard: &mut CancelGuard<'_, T, R>,
    ) -> Result<Finished, ClientError> {
        loop {
            match decision {
                Pending::Done(f) => return Ok(f),
                Pending::Wait(id, rx) => {
                    guard.id = Some(id);
                    match rx.await {
                        Ok(Wake::Finished(f)) => return Ok(*f),
                        Ok(Wake::Proceed) => {
                            decision =
                                self.step(|e, now, wall| e.proceed(now, wall, id, request))?;
                        }
                        // The engine dropped our waiter: it was cancelled or closed.
                        Err(_) => return Err(ClientError::Closed),
                    }
                }
                Pending::Send(permit) => {
                    guard.id = Some(permit.id());
                    let outcome = self.attempt(&permit, request).await;
                    let next = {
                        let mut events = Vec::new();
                        let next = {
                            let mut st = self.lock();
                            let now = self.shared.runtime.now();
                            let wall = self.shared.runtime.wall();
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
                            let now = self.shared.runtime.now();
                            let wait = at.saturating_duration_since(now);
                            if !wait.is_zero() {
                                self.shared.runtime.sleep(wait).await;
                            }
                            decision =
                                self.step(|e, now, wall| e.resume(now, wall, token, request))?;
                        }
                    }
                }
            }
        }
    }

    /// One engine call under the lock, with outputs drained and waits registered.
    fn step(
        &self,
        f: impl FnOnce(&mut Engine, crate::Timestamp, WallClock) -> Result<Decision, EngineError>,
    ) -> Result<Pending, EngineError> {
        let mut events = Vec::new();
        let d = {
            let mut st = self.lock();
            let now = self.shared.runtime.now();
            let wall = self.shared.runtime.wall();
            let d = f(&mut st.engine, now, wall);
            self.drain(&mut st, &mut events);
            d.map(|d| Self::register_wait(&mut st, d))
        };
        self.emit_events(&events);
        d
    }

    /// One attempt: the transport raced against the attempt timeout.
    async fn attempt(&self, permit: &Permit, request: &Request) -> crate::Outcome {
        let mut copy = clone_request(request);
        permit.apply(&mut copy);
        let timeout = permit.timeout();
        let send = self.shared.transport.send(copy, timeout);
        match timeout {
            None => send.await,
            Some(t) => {
                let send = std::pin::pin!(send);
                let sleep = std::pin::pin!(self.shared.runtime.sleep(t));
                match select(send, sleep).await {
                    Either::Left((outcome, _)) => outcome,
                    Either::Right(((), _)) => Err(TransportError::new(
                        TransportErrorKind::Timeout,
                        format!("attempt timed out after {t:?}"),
                    )),
                }
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
                        let now = self.shared.runtime.now();
                        let _ = st.engine.cancel(now, id);
                    }
                }
                Output::Background(b) => {
                    let id = b.permit.id();
                    let queued = self.shared.background_running.load(Ordering::Acquire)
                        && self
                            .shared
                            .work_tx
                            .unbounded_send(Work::Background(b))
                            .is_ok();
                    if !queued {
                        // Nobody runs background work: give the refresh up at once (the
                        // engine releases its cache flight).
                        let now = self.shared.runtime.now();
                        let _ = st.engine.cancel(now, id);
                    }
                }
                Output::CheckDue(service) => {
                    if self.shared.background_running.load(Ordering::Acquire) {
                        let _ = self.shared.work_tx.unbounded_send(Work::Check(service));
                    }
                }
                Output::Event(e) => events.push(e),
            }
        }
    }

    fn emit_events(&self, events: &[EngineEvent]) {
        for e in events {
            for h in &self.shared.hooks {
                let r = catch_unwind(AssertUnwindSafe(|| h.on_event(e)));
                self.report_hook("event", r.map(|()| Ok(())));
            }
        }
    }

    fn report_hook(
        &self,
        hook: &'static str,
        r: Result<Result<(), String>, Box<dyn std::any::Any + Send>>,
    ) {
        let message = match r {
            Ok(Ok(())) => return,
            Ok(Err(m)) => m,
            Err(panic) => panic_message(panic.as_ref()),
        };
        let failure = HookFailure { hook, message };
        for h in &self.shared.hooks {
            let _ = catch_unwind(AssertUnwindSafe(|| h.on_hook_failure(&failure)));
        }
    }

    /// Turns a finished request into the caller's result and runs response/error hooks.
    fn conclude(
        &self,
        f: Finished,
        method: &str,
        url: &str,
    ) -> Result<ClientResponse, ClientError> {
        let now = self.shared.runtime.now();
        let timestamp = self.shared.runtime.wall();
        let attempts = f.trace.attempts.len() as u32;
        match f.result {
            FinalResult::Response(reply) => {
                let from_cache = reply.is_cached();
                if !self.shared.hooks.is_empty() {
                    let event = ResponseEvent {
                        request_id: f.id,
                        service: f.service.to_string(),
                        method: method.to_owned(),
                        url: url.to_owned(),
                        status: reply.status().as_u16(),
                        from_cache,
                        attempts,
                        elapsed: f.trace.total,
                        trace: f.trace.clone(),
                        timestamp,
                    };
                    for h in &self.shared.hooks {
                        let r = catch_unwind(AssertUnwindSafe(|| h.on_response(&event)));
                        self.report_hook("response", r);
                    }
                }
                Ok(ClientResponse {
                    response: reply.into_response(now),
                    from_cache,
                    service: f.service.to_string(),
                    trace: f.trace,
                })
            }
            result => {
                let err = match result {
                    FinalResult::Transport(error) => ClientError::Transport {
                        error,
                        trace: Box::new(f.trace),
                        service: f.service.to_string(),
                    },
                    FinalResult::Rejected(reason) => ClientError::Rejected {
                        reason,
                        trace: Box::new(f.trace),
                        service: f.service.to_string(),
                    },
                    FinalResult::Response(_) => unreachable!("handled above"),
                };
                if !self.shared.hooks.is_empty() {
                    let (ClientError::Transport { service, trace, .. }
                    | ClientError::Rejected { service, trace, .. }) = &err
                    else {
                        unreachable!("only engine results reach here")
                    };
                    let event = ErrorEvent {
                        request_id: f.id,
                        service: service.clone(),
                        method: method.to_owned(),
                        url: url.to_owned(),
                        kind: err.kind().to_owned(),
                        message: err.to_string(),
                        attempts,
                        elapsed: trace.total,
                        trace: (**trace).clone(),
                        timestamp,
                    };
                    for h in &self.shared.hooks {
                        let r = catch_unwind(AssertUnwindSafe(|| h.on_error(&event)));
                        self.report_hook("error", r);
                    }
                }
                Err(err)
            }
        }
    }

    /// Runs background work forever: stale-while-revalidate refreshes, due health checks and
    /// engine timers (breaker transitions, alert evaluation). Spawn it once per client on the
    /// frontend's executor; a second concurrent call returns at once.
    pub async fn run_background(&self) {
        let Some(rx) = self
            .shared
            .work_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        self.shared
            .background_running
            .store(true, Ordering::Release);
        // On exit — or when this future is dropped — cancel queued refreshes in the engine
        // and hand the queue back, so a later `run_background` can take over.
        let mut guard = BackgroundGuard {
            client: self,
            rx: Some(rx),
        };
        loop {
            if self.is_closed() {
                break;
            }
            let now = self.shared.runtime.now();
            let deadline = self.with_engine(|e| e.poll_timeout());
            let wait = deadline.map_or(Duration::from_secs(1), |d| {
                d.saturating_duration_since(now).min(Duration::from_secs(1))
            });
            let next = {
                let rx = guard.rx.as_mut().expect("held until the guard drops");
                let sleep = std::pin::pin!(self.shared.runtime.sleep(wait));
                match select(rx.next(), sleep).await {
                    Either::Left((Some(work), _)) => Some(work),
                    Either::Left((None, _)) => break,
                    Either::Right(((), _)) => None,
                }
            };
            match next {
                Some(Work::Background(b)) => {
                    let crate::BackgroundFetch { request, permit } = *b;
                    let mut cancel = CancelGuard {
                        client: self,
                        id: Some(permit.id()),
                    };
                    let outcome = self.attempt(&permit, &request).await;
                    cancel.id = None;
                    let next = self.with_engine(|e| {
                        let now = self.shared.runtime.now();
                        let wall = self.shared.runtime.wall();
                        e.on_response(now, wall, permit, &request, outcome)
                    });
                    drop(next);
                }
                Some(Work::Check(service)) => self.run_check(&service).await,
                None => {
                    let now = self.shared.runtime.now();
                    let wall = self.shared.runtime.wall();
                    self.with_engine(|e| e.handle_timeout(now, wall));
                }
            }
        }
    }

    async fn run_check(&self, service: &str) {
        let url = self
            .shared
            .health_urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .cloned();
        let Some(url) = url else { return };
        let timeout = self.with_engine(|e| e.config().health.check_timeout);
        let started = self.shared.runtime.now();
        let result = match http::Request::get(url.as_str()).body(bytes::Bytes::new()) {
            Ok(req) => {
                let send = std::pin::pin!(self.shared.transport.send(req, Some(timeout)));
                let sleep = std::pin::pin!(self.shared.runtime.sleep(timeout));
                let latency = || self.shared.runtime.now().saturating_duration_since(started);
                match select(send, sleep).await {
                    Either::Left((Ok(r), _)) if r.status().is_success() => {
                        CheckResult::passed(latency())
                    }
                    Either::Left((Ok(r), _)) => {
                        CheckResult::failed(latency(), format!("status {}", r.status().as_u16()))
                    }
                    Either::Left((Err(e), _)) => CheckResult::failed(latency(), e.to_string()),
                    Either::Right(((), _)) => CheckResult::failed(latency(), "timeout"),
                }
            }
            Err(e) => CheckResult::failed(std::time::Duration::ZERO, e.to_string()),
        };
        let now = self.shared.runtime.now();
        let wall = self.shared.runtime.wall();
        self.with_engine(|e| e.on_check_result(now, wall, service, result));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the engine half-updated in a way that
        // matters more than refusing all further requests would.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[expect(
    clippy::large_enum_variant,
    reason = "a local state, moved a few times per request; boxing would allocate"
)]
enum Pending {
    Done(Finished),
    Send(Permit),
    Wait(RequestId, oneshot::Receiver<Wake>),
}

/// Cancels the request in the engine if its `send` future is dropped midway.
struct CancelGuard<'a, T: Transport, R: Runtime> {
    client: &'a Client<T, R>,
    id: Option<RequestId>,
}

impl<T: Transport, R: Runtime> Drop for CancelGuard<'_, T, R> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut events = Vec::new();
            {
                let mut st = self.client.lock();
                st.waiters.remove(&id);
                let now = self.client.shared.runtime.now();
                let _ = st.engine.cancel(now, id);
                self.client.drain(&mut st, &mut events);
            }
            self.client.emit_events(&events);
        }
    }
}

/// Ends a `run_background`: stops queueing, cancels what is queued, returns the queue.
struct BackgroundGuard<'a, T: Transport, R: Runtime> {
    client: &'a Client<T, R>,
    rx: Option<mpsc::UnboundedReceiver<Work>>,
}

impl<T: Transport, R: Runtime> Drop for BackgroundGuard<'_, T, R> {
    fn drop(&mut self) {
        let shared = &self.client.shared;
        shared.background_running.store(false, Ordering::Release);
        let Some(mut rx) = self.rx.take() else { return };
        let mut ids = Vec::new();
        while let Ok(work) = rx.try_recv() {
            if let Work::Background(b) = work {
                ids.push(b.permit.id());
            }
        }
        if !ids.is_empty() {
            let mut events = Vec::new();
            {
                let mut st = self.client.lock();
                let now = shared.runtime.now();
                for id in ids {
                    let _ = st.engine.cancel(now, id);
                }
                self.client.drain(&mut st, &mut events);
            }
            self.client.emit_events(&events);
        }
        *shared
            .work_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(rx);
    }
}

/// The message of a caught panic (`panic!("…")` payloads), or `"panicked"`.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_owned())
}

/// A copy of `request` (the body is shared, not copied).
pub fn clone_request(request: &Request) -> Request {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}
