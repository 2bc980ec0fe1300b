//! Hooks: observe every request, response, error and engine event, and change a request's
//! headers before it reaches the cache key and the transport.
//!
//! [`Hooks`] is the extension point the client calls. Its methods return futures, so a hook
//! may be asynchronous — a JavaScript promise, a Python coroutine, an audit call over the
//! network — and the trait has **no `Send + Sync` supertrait**, so single-threaded hooks (a
//! browser callback, `Rc` state) fit as they are. Whether a client's futures are `Send` then
//! follows from the concrete hooks type: a multithreaded frontend picks a `Send + Sync` one.
//!
//! Two ready-made lists implement it, one per threading model:
//!
//! | list | hooks | their futures | for |
//! |---|---|---|---|
//! | [`SharedHooks`] | `Send + Sync` closures | [`BoxFuture`] (`Send`) | native, Python |
//! | [`LocalHooks`] | any closures | [`LocalBoxFuture`] | the browser, single-threaded tests |
//!
//! Both take plain closures (`add_request_hook(|event, headers| …)`) and asynchronous ones
//! (`add_async_request_hook(|event, headers| async move { … })`), run them in registration
//! order, and report a hook that returns `Err` or panics through
//! [`Hooks::on_hook_failure`]: a hook never fails a request, and the hooks after it still run.
//! A list may carry an *observer* — another [`Hooks`] that runs first and hears every failure
//! (the native frontend's `tracing` logger is one).
//!
//! Hooks receive [`RequestEvent`], [`ResponseEvent`] and [`ErrorEvent`] — the same records in
//! every frontend — with secrets already redacted. Only a request hook's `headers` argument
//! holds the real header values, so that it can add credentials.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, LocalBoxFuture};
use http::HeaderMap;
use serde::Serialize;

use crate::{DecisionTrace, EngineEvent, RequestId, WallClock};

/// What a request hook sees (secrets already redacted).
#[derive(Clone, Debug, Serialize)]
pub struct RequestEvent {
    /// The service the request is accounted under, if the caller named one (the URL's host
    /// otherwise).
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
    /// Stable error kind ([`Error::kind`](crate::client::Error::kind): `timeout`, `connect`,
    /// `circuit_open`, …).
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

/// Which hook failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookStage {
    /// A request hook.
    Request,
    /// A response hook.
    Response,
    /// An error hook.
    Error,
    /// An engine-event hook.
    Event,
}

impl HookStage {
    /// `request`, `response`, `error` or `event`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookStage::Request => "request",
            HookStage::Response => "response",
            HookStage::Error => "error",
            HookStage::Event => "event",
        }
    }
}

impl fmt::Display for HookStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook's failure: reported to [`Hooks::on_hook_failure`], never to the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{stage} hook failed: {message}")]
pub struct HookFailure {
    /// Which hook.
    pub stage: HookStage,
    /// What went wrong: the hook's error, or its panic message.
    pub message: String,
}

/// What the client calls around each request. Every method has a default that does nothing,
/// so an implementation overrides only what it needs.
///
/// The request, response and error methods return futures: the client awaits them in line,
/// so a request hook's header changes apply to the request, and a response hook finishes
/// before the caller gets the response. No method may fail the request: the client reports a
/// panic in one through [`on_hook_failure`](Self::on_hook_failure) and carries on, and the
/// ready-made lists ([`SharedHooks`], [`LocalHooks`]) report each failing hook the same way.
///
/// ```
/// use std::future::Future;
/// use http::HeaderMap;
/// use tether_core::client::{Hooks, RequestEvent};
///
/// /// Adds a request id to every request.
/// struct RequestIds;
///
/// impl Hooks for RequestIds {
///     fn on_request(&self, _event: &RequestEvent, headers: &mut HeaderMap) -> impl Future<Output = ()> {
///         headers.insert("x-request-id", http::HeaderValue::from_static("abc123"));
///         async {}
///     }
/// }
/// ```
pub trait Hooks {
    /// Whether the client should build events for these hooks at all (`false` lets it skip
    /// the redaction work). Default `true`.
    fn observes(&self) -> bool {
        true
    }

    /// Before the request is looked up in the cache and sent; changes to `headers` apply to
    /// it (and to its cache key). Called once per logical request, cache hits included.
    fn on_request(
        &self,
        _event: &RequestEvent,
        _headers: &mut HeaderMap,
    ) -> impl Future<Output = ()> {
        async {}
    }

    /// After a request finished with a response (any status, cached or not).
    fn on_response(&self, _event: &ResponseEvent) -> impl Future<Output = ()> {
        async {}
    }

    /// After a request finished without a response (transport failure, breaker open, …).
    fn on_error(&self, _event: &ErrorEvent) -> impl Future<Output = ()> {
        async {}
    }

    /// A breaker, health or alert event. Synchronous: events also arise outside any request.
    fn on_event(&self, _event: &EngineEvent) {}

    /// A hook failed (log it).
    fn on_hook_failure(&self, _failure: &HookFailure) {}

    /// Wraps the whole request — hooks, cache, attempts, retries — for instrumentation (a
    /// `tracing` span, a browser performance mark). Default: the future itself.
    fn instrument<F: Future>(
        &self,
        _event: &RequestEvent,
        future: F,
    ) -> impl Future<Output = F::Output> {
        future
    }
}

/// No hooks.
impl Hooks for () {
    fn observes(&self) -> bool {
        false
    }
}

/// What a synchronous hook returns: `Err` is reported as a [`HookFailure`].
pub type HookResult = Result<(), String>;

mod sealed {
    pub trait Sealed {}
}

/// The threading model of a [`HookList`]: [`SharedFlavor`] or [`LocalFlavor`]. Sealed.
pub trait Flavor: sealed::Sealed + 'static {
    /// A stored synchronous request hook.
    type Request: ?Sized + Fn(&RequestEvent, &mut HeaderMap) -> HookResult;
    /// A stored asynchronous request hook.
    type AsyncRequest: ?Sized
        + Fn(RequestEvent, HeaderMap) -> Self::Future<Result<HeaderMap, String>>;
    /// A stored synchronous response hook.
    type Response: ?Sized + Fn(&ResponseEvent) -> HookResult;
    /// A stored asynchronous response hook.
    type AsyncResponse: ?Sized + Fn(ResponseEvent) -> Self::Future<HookResult>;
    /// A stored synchronous error hook.
    type Error: ?Sized + Fn(&ErrorEvent) -> HookResult;
    /// A stored asynchronous error hook.
    type AsyncError: ?Sized + Fn(ErrorEvent) -> Self::Future<HookResult>;
    /// A stored event hook (`Err` is reported as a [`HookFailure`]).
    type Event: ?Sized + Fn(&EngineEvent) -> HookResult;
    /// A stored failure hook.
    type Failure: ?Sized + Fn(&HookFailure);
    /// The boxed future of an asynchronous hook.
    type Future<T: 'static>: Future<Output = T> + 'static;
}

/// `Send + Sync` hooks whose futures are `Send` ([`SharedHooks`]).
#[derive(Debug)]
pub enum SharedFlavor {}

/// Hooks of any kind on one thread ([`LocalHooks`]).
#[derive(Debug)]
pub enum LocalFlavor {}

impl sealed::Sealed for SharedFlavor {}
impl sealed::Sealed for LocalFlavor {}

impl Flavor for SharedFlavor {
    type Request = dyn Fn(&RequestEvent, &mut HeaderMap) -> HookResult + Send + Sync;
    type AsyncRequest = dyn Fn(RequestEvent, HeaderMap) -> BoxFuture<'static, Result<HeaderMap, String>>
        + Send
        + Sync;
    type Response = dyn Fn(&ResponseEvent) -> HookResult + Send + Sync;
    type AsyncResponse = dyn Fn(ResponseEvent) -> BoxFuture<'static, HookResult> + Send + Sync;
    type Error = dyn Fn(&ErrorEvent) -> HookResult + Send + Sync;
    type AsyncError = dyn Fn(ErrorEvent) -> BoxFuture<'static, HookResult> + Send + Sync;
    type Event = dyn Fn(&EngineEvent) -> HookResult + Send + Sync;
    type Failure = dyn Fn(&HookFailure) + Send + Sync;
    type Future<T: 'static> = BoxFuture<'static, T>;
}

impl Flavor for LocalFlavor {
    type Request = dyn Fn(&RequestEvent, &mut HeaderMap) -> HookResult;
    type AsyncRequest =
        dyn Fn(RequestEvent, HeaderMap) -> LocalBoxFuture<'static, Result<HeaderMap, String>>;
    type Response = dyn Fn(&ResponseEvent) -> HookResult;
    type AsyncResponse = dyn Fn(ResponseEvent) -> LocalBoxFuture<'static, HookResult>;
    type Error = dyn Fn(&ErrorEvent) -> HookResult;
    type AsyncError = dyn Fn(ErrorEvent) -> LocalBoxFuture<'static, HookResult>;
    type Event = dyn Fn(&EngineEvent) -> HookResult;
    type Failure = dyn Fn(&HookFailure);
    type Future<T: 'static> = LocalBoxFuture<'static, T>;
}

enum Hook<S: ?Sized, A: ?Sized> {
    Sync(Arc<S>),
    Async(Arc<A>),
}

impl<S: ?Sized, A: ?Sized> Clone for Hook<S, A> {
    fn clone(&self) -> Self {
        match self {
            Hook::Sync(h) => Hook::Sync(Arc::clone(h)),
            Hook::Async(h) => Hook::Async(Arc::clone(h)),
        }
    }
}

struct Entries<K: Flavor> {
    request: Vec<Hook<K::Request, K::AsyncRequest>>,
    response: Vec<Hook<K::Response, K::AsyncResponse>>,
    error: Vec<Hook<K::Error, K::AsyncError>>,
    event: Vec<Arc<K::Event>>,
    failure: Vec<Arc<K::Failure>>,
}

impl<K: Flavor> Default for Entries<K> {
    fn default() -> Self {
        Entries {
            request: Vec::new(),
            response: Vec::new(),
            error: Vec::new(),
            event: Vec::new(),
            failure: Vec::new(),
        }
    }
}

/// A list of hooks run in registration order, after an optional observer `O`. Use it as
/// [`SharedHooks`] or [`LocalHooks`].
///
/// Clones share the list: hooks added through any clone — or through
/// [`HttpClient::hooks`](crate::client::HttpClient::hooks) after the client was built — apply
/// to every later request.
pub struct HookList<K: Flavor, O = ()> {
    observer: O,
    entries: Arc<RwLock<Entries<K>>>,
}

/// `Send + Sync` hooks whose futures are `Send`: what multithreaded frontends use.
///
/// ```
/// use tether_core::client::SharedHooks;
///
/// let hooks = SharedHooks::new();
/// hooks.add_request_hook(|_event, headers| {
///     headers.insert("x-request-id", http::HeaderValue::from_static("abc123"));
///     Ok(())
/// });
/// hooks.add_async_response_hook(|event| async move {
///     // e.g. send `event` to an audit service
///     if event.status >= 500 {
///         return Err(format!("{} answered {}", event.service, event.status));
///     }
///     Ok(())
/// });
/// assert_eq!(hooks.len(), 2);
/// ```
pub type SharedHooks<O = ()> = HookList<SharedFlavor, O>;

/// Hooks on one thread: closures need not be `Send` (`Rc` state, JavaScript callbacks).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use tether_core::client::LocalHooks;
///
/// let seen = Rc::new(Cell::new(0));
/// let hooks = LocalHooks::new();
/// let counter = Rc::clone(&seen);
/// hooks.add_response_hook(move |_event| {
///     counter.set(counter.get() + 1);
///     Ok(())
/// });
/// assert_eq!(hooks.len(), 1);
/// ```
pub type LocalHooks<O = ()> = HookList<LocalFlavor, O>;

impl<K: Flavor> HookList<K> {
    /// An empty list without an observer.
    pub fn new() -> Self {
        Self::with_observer(())
    }
}

impl<K: Flavor, O: Default> Default for HookList<K, O> {
    fn default() -> Self {
        Self::with_observer(O::default())
    }
}

impl<K: Flavor, O: Clone> Clone for HookList<K, O> {
    fn clone(&self) -> Self {
        HookList {
            observer: self.observer.clone(),
            entries: Arc::clone(&self.entries),
        }
    }
}

impl<K: Flavor, O: fmt::Debug> fmt::Debug for HookList<K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.read();
        f.debug_struct("HookList")
            .field("observer", &self.observer)
            .field("request", &e.request.len())
            .field("response", &e.response.len())
            .field("error", &e.error.len())
            .field("event", &e.event.len())
            .field("failure", &e.failure.len())
            .finish_non_exhaustive()
    }
}

impl<K: Flavor, O> HookList<K, O> {
    /// An empty list whose `observer` runs before every hook and hears every failure.
    pub fn with_observer(observer: O) -> Self {
        HookList {
            observer,
            entries: Arc::new(RwLock::new(Entries::default())),
        }
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// Number of hooks of every kind (the observer not included).
    pub fn len(&self) -> usize {
        let e = self.read();
        e.request.len() + e.response.len() + e.error.len() + e.event.len() + e.failure.len()
    }

    /// Whether no hook is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries<K>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries<K>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Flavor, O: Hooks> HookList<K, O> {
    /// Reports `message` to the observer and every failure hook (each guarded).
    fn report(&self, stage: HookStage, message: String) {
        let failure = HookFailure { stage, message };
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.observer.on_hook_failure(&failure);
        }));
        let hooks = self.read().failure.clone();
        for hook in hooks {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&failure)));
        }
    }

    /// Runs the response or error hooks `hooks` on `event`.
    async fn run<E, S, A>(&self, stage: HookStage, hooks: Vec<Hook<S, A>>, event: &E)
    where
        E: Clone,
        S: ?Sized + Fn(&E) -> HookResult,
        A: ?Sized + Fn(E) -> K::Future<HookResult>,
    {
        for hook in hooks {
            let result = match hook {
                Hook::Sync(h) => guard(|| h(event)),
                Hook::Async(h) => guard_async(|| h(event.clone())).await,
            };
            if let Err(message) = result {
                self.report(stage, message);
            }
        }
    }
}

/// Runs a synchronous hook, turning a panic into an `Err` with its message.
fn guard<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panic_message(panic.as_ref())))
}

/// Starts and awaits an asynchronous hook, turning a panic (while starting or polling) into an
/// `Err` with its message.
async fn guard_async<T, F: Future<Output = Result<T, String>>>(
    start: impl FnOnce() -> F,
) -> Result<T, String> {
    let future =
        catch_unwind(AssertUnwindSafe(start)).map_err(|panic| panic_message(panic.as_ref()))?;
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(panic_message(panic.as_ref())))
}

/// The message of a caught panic (`panic!("…")` payloads), or `"panicked"`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_owned())
}

impl<K: Flavor, O: Hooks> Hooks for HookList<K, O> {
    fn observes(&self) -> bool {
        self.observer.observes() || !self.is_empty()
    }

    async fn on_request(&self, event: &RequestEvent, headers: &mut HeaderMap) {
        self.observer.on_request(event, headers).await;
        let hooks = self.read().request.clone();
        for hook in hooks {
            let result = match hook {
                Hook::Sync(h) => guard(|| h(event, headers)),
                Hook::Async(h) => guard_async(|| h(event.clone(), headers.clone()))
                    .await
                    .map(|changed| *headers = changed),
            };
            if let Err(message) = result {
                self.report(HookStage::Request, message);
            }
        }
    }

    async fn on_response(&self, event: &ResponseEvent) {
        self.observer.on_response(event).await;
        let hooks = self.read().response.clone();
        self.run(HookStage::Response, hooks, event).await;
    }

    async fn on_error(&self, event: &ErrorEvent) {
        self.observer.on_error(event).await;
        let hooks = self.read().error.clone();
        self.run(HookStage::Error, hooks, event).await;
    }

    fn on_event(&self, event: &EngineEvent) {
        self.observer.on_event(event);
        let hooks = self.read().event.clone();
        for hook in hooks {
            if let Err(message) = guard(|| hook(event)) {
                self.report(HookStage::Event, message);
            }
        }
    }

    fn on_hook_failure(&self, failure: &HookFailure) {
        self.report(failure.stage, failure.message.clone());
    }

    fn instrument<F: Future>(
        &self,
        event: &RequestEvent,
        future: F,
    ) -> impl Future<Output = F::Output> {
        self.observer.instrument(event, future)
    }
}

/// The `add_*` methods of one flavor: the same list, with the flavor's bounds on closures.
macro_rules! adders {
    ($flavor:ty, $boxed:ident, [$($bound:tt)*], [$($fbound:tt)*]) => {
        impl<O> HookList<$flavor, O> {
            /// Adds a request hook: it runs before the cache lookup, and changes to `headers`
            /// apply to the request.
            pub fn add_request_hook<F>(&self, hook: F)
            where
                F: Fn(&RequestEvent, &mut HeaderMap) -> HookResult $($bound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::Request> = Arc::new(hook);
                self.write().request.push(Hook::Sync(hook));
            }

            /// Adds an asynchronous request hook. It gets the event and a copy of the
            /// request's headers, and returns the headers the request goes on with (on `Err`
            /// the request keeps its headers).
            pub fn add_async_request_hook<F, Fut>(&self, hook: F)
            where
                F: Fn(RequestEvent, HeaderMap) -> Fut $($bound)* + 'static,
                Fut: Future<Output = Result<HeaderMap, String>> $($fbound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::AsyncRequest> =
                    Arc::new(move |event, headers| hook(event, headers).$boxed());
                self.write().request.push(Hook::Async(hook));
            }

            /// Adds a response hook: it runs after a request finished with a response (any
            /// status, cached or not).
            pub fn add_response_hook<F>(&self, hook: F)
            where
                F: Fn(&ResponseEvent) -> HookResult $($bound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::Response> = Arc::new(hook);
                self.write().response.push(Hook::Sync(hook));
            }

            /// Adds an asynchronous response hook.
            pub fn add_async_response_hook<F, Fut>(&self, hook: F)
            where
                F: Fn(ResponseEvent) -> Fut $($bound)* + 'static,
                Fut: Future<Output = HookResult> $($fbound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::AsyncResponse> =
                    Arc::new(move |event| hook(event).$boxed());
                self.write().response.push(Hook::Async(hook));
            }

            /// Adds an error hook: it runs after a request finished without a response
            /// (transport failure, breaker open, …).
            pub fn add_error_hook<F>(&self, hook: F)
            where
                F: Fn(&ErrorEvent) -> HookResult $($bound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::Error> = Arc::new(hook);
                self.write().error.push(Hook::Sync(hook));
            }

            /// Adds an asynchronous error hook.
            pub fn add_async_error_hook<F, Fut>(&self, hook: F)
            where
                F: Fn(ErrorEvent) -> Fut $($bound)* + 'static,
                Fut: Future<Output = HookResult> $($fbound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::AsyncError> =
                    Arc::new(move |event| hook(event).$boxed());
                self.write().error.push(Hook::Async(hook));
            }

            /// Adds a hook on breaker, health and alert events.
            pub fn add_event_hook<F>(&self, hook: F)
            where
                F: Fn(&EngineEvent) $($bound)* + 'static,
            {
                self.add_fallible_event_hook(move |event| {
                    hook(event);
                    Ok(())
                });
            }

            /// Adds a hook on breaker, health and alert events that may fail: an `Err` is
            /// reported as a [`HookFailure`] of stage `event`, like a panic (which is how a
            /// plain event hook fails, and which wasm32 cannot catch).
            pub fn add_fallible_event_hook<F>(&self, hook: F)
            where
                F: Fn(&EngineEvent) -> HookResult $($bound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::Event> = Arc::new(hook);
                self.write().event.push(hook);
            }

            /// Adds a hook that hears every hook failure (after the observer).
            pub fn add_failure_hook<F>(&self, hook: F)
            where
                F: Fn(&HookFailure) $($bound)* + 'static,
            {
                let hook: Arc<<$flavor as Flavor>::Failure> = Arc::new(hook);
                self.write().failure.push(hook);
            }
        }
    };
}

adders!(SharedFlavor, boxed, [+ Send + Sync], [+ Send]);
adders!(LocalFlavor, boxed_local, [], []);

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::executor::block_on;
    use http::HeaderValue;

    use super::*;

    fn event() -> RequestEvent {
        RequestEvent {
            service: None,
            method: "GET".into(),
            url: "http://h/".into(),
            headers: Vec::new(),
            timestamp: WallClock::EPOCH,
        }
    }

    /// An observer that records what it saw, in order.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Hooks for Recorder {
        fn on_request(&self, _e: &RequestEvent, h: &mut HeaderMap) -> impl Future<Output = ()> {
            self.0
                .lock()
                .unwrap()
                .push(format!("observer saw {} headers", h.len()));
            async {}
        }

        fn on_hook_failure(&self, failure: &HookFailure) {
            self.0.lock().unwrap().push(failure.to_string());
        }
    }

    #[test]
    fn hooks_run_in_order_and_every_failure_is_reported() {
        let hooks = SharedHooks::with_observer(Recorder::default());
        hooks.add_request_hook(|_, h| {
            h.insert("x-a", HeaderValue::from_static("1"));
            Ok(())
        });
        hooks.add_request_hook(|_, _| Err("sync says no".into()));
        hooks.add_async_request_hook(
            |_, _| -> futures::future::Ready<Result<HeaderMap, String>> {
                panic!("panicked before its future")
            },
        );
        hooks.add_async_request_hook(|_, mut h| async move {
            h.insert("x-b", HeaderValue::from_static("2"));
            Err("async says no".into())
        });
        hooks.add_async_request_hook(|_, mut h| async move {
            h.insert("x-c", HeaderValue::from_static("3"));
            Ok(h)
        });
        let failures = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&failures);
        hooks.add_failure_hook(move |f| sink.lock().unwrap().push(f.stage));
        assert!(hooks.observes());

        let mut headers = HeaderMap::new();
        block_on(hooks.on_request(&event(), &mut headers));
        assert_eq!(headers["x-a"], "1");
        assert!(
            !headers.contains_key("x-b"),
            "a failed async hook changes nothing"
        );
        assert_eq!(headers["x-c"], "3", "the hooks after a failure still run");
        let seen = hooks.observer().0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "observer saw 0 headers",
                "request hook failed: sync says no",
                "request hook failed: panicked before its future",
                "request hook failed: async says no",
            ]
        );
        assert_eq!(*failures.lock().unwrap(), [HookStage::Request; 3]);
    }

    #[test]
    fn a_failing_event_hook_is_reported_and_the_next_one_still_runs() {
        let mut engine = crate::Engine::new(crate::EngineConfig::default(), 1).unwrap();
        engine.isolate_breaker(crate::Timestamp::from_secs(1), "svc");
        let event = std::iter::from_fn(|| engine.poll_output())
            .find_map(|o| match o {
                crate::Output::Event(e) => Some(e),
                _ => None,
            })
            .expect("isolating a breaker is an event");
        let hooks = SharedHooks::new();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(0));
        hooks.add_fallible_event_hook(|_| Err("no listener".to_owned()));
        let counter = Arc::clone(&seen);
        hooks.add_event_hook(move |_| *counter.lock().unwrap() += 1);
        let sink = Arc::clone(&failures);
        hooks.add_failure_hook(move |f| sink.lock().unwrap().push(f.to_string()));
        hooks.on_event(&event);
        assert_eq!(
            *failures.lock().unwrap(),
            ["event hook failed: no listener"]
        );
        assert_eq!(*seen.lock().unwrap(), 1);
    }

    #[test]
    fn an_empty_list_without_an_observer_observes_nothing() {
        let hooks = SharedHooks::new();
        assert!(!hooks.observes());
        hooks.add_event_hook(|_| {});
        assert!(hooks.observes());
        let clone = hooks.clone();
        clone.add_failure_hook(|_| {});
        assert_eq!(hooks.len(), 2, "clones share the list");
    }
}
