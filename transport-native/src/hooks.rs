//! Interceptors: request, response and error hooks over the core's event records, and the
//! default hooks that log through `tracing`.
//!
//! Hooks receive [`RequestEvent`], [`ResponseEvent`] and [`ErrorEvent`] — the same records in
//! every Tether frontend — with secrets already redacted (the original's hooks got the
//! caller's live header dicts, `Authorization` included). A request hook may add or change headers before
//! the request reaches the cache key and the transport. A hook that returns `Err` or panics is
//! logged at WARN on target `tether::http_client` (`Request hook failed: …`) and never breaks
//! the request; the hooks after it still run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock};

use http::HeaderMap;
use tether_core::RetryReason;
use tether_core::{
    AttemptNext, AttemptResult, DecisionTrace, EngineEvent, ErrorEvent, HookFailure, Hooks,
    RequestEvent, ResponseEvent,
};

/// The `tracing` target of every event this crate's client emits.
pub const TARGET: &str = "tether::http_client";

type RequestHook = dyn Fn(&RequestEvent, &mut HeaderMap) -> Result<(), String> + Send + Sync;
type ResponseHook = dyn Fn(&ResponseEvent) -> Result<(), String> + Send + Sync;
type ErrorHook = dyn Fn(&ErrorEvent) -> Result<(), String> + Send + Sync;
type EventHook = dyn Fn(&EngineEvent) + Send + Sync;

/// User hooks, run in registration order. Shared by a client and everyone holding it:
/// hooks added after the client was built apply to later requests.
///
/// ```
/// use tether_native::Interceptors;
///
/// let hooks = Interceptors::new();
/// hooks.add_request_hook(|_event, headers| {
///     headers.insert("x-request-id", http::HeaderValue::from_static("abc123"));
///     Ok(())
/// });
/// hooks.add_response_hook(|event| {
///     if event.status >= 500 {
///         return Err(format!("{} answered {}", event.service, event.status));
///     }
///     Ok(())
/// });
/// assert_eq!(hooks.len(), 2);
/// ```
#[derive(Default)]
pub struct Interceptors {
    request: RwLock<Vec<Arc<RequestHook>>>,
    response: RwLock<Vec<Arc<ResponseHook>>>,
    error: RwLock<Vec<Arc<ErrorHook>>>,
    event: RwLock<Vec<Arc<EventHook>>>,
}

impl std::fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interceptors")
            .field("request", &read(&self.request).len())
            .field("response", &read(&self.response).len())
            .field("error", &read(&self.error).len())
            .field("event", &read(&self.event).len())
            .finish()
    }
}

fn read<T: Clone>(lock: &RwLock<Vec<T>>) -> Vec<T> {
    lock.read().unwrap_or_else(PoisonError::into_inner).clone()
}

fn push<T>(lock: &RwLock<Vec<T>>, item: T) {
    lock.write()
        .unwrap_or_else(PoisonError::into_inner)
        .push(item);
}

impl Interceptors {
    /// No hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs before the request is looked up in the cache and sent; changes to the headers
    /// apply to it. Called once per logical request (cache hits included).
    pub fn add_request_hook(
        &self,
        hook: impl Fn(&RequestEvent, &mut HeaderMap) -> Result<(), String> + Send + Sync + 'static,
    ) {
        push(&self.request, Arc::new(hook));
    }

    /// Runs after a request finished with a response (any status, cached or not).
    pub fn add_response_hook(
        &self,
        hook: impl Fn(&ResponseEvent) -> Result<(), String> + Send + Sync + 'static,
    ) {
        push(&self.response, Arc::new(hook));
    }

    /// Runs after a request finished without a response (transport failure, breaker open, …).
    pub fn add_error_hook(
        &self,
        hook: impl Fn(&ErrorEvent) -> Result<(), String> + Send + Sync + 'static,
    ) {
        push(&self.error, Arc::new(hook));
    }

    /// Runs on breaker, health and alert events.
    pub fn add_event_hook(&self, hook: impl Fn(&EngineEvent) + Send + Sync + 'static) {
        push(&self.event, Arc::new(hook));
    }

    /// Number of hooks of every kind.
    pub fn len(&self) -> usize {
        read(&self.request).len()
            + read(&self.response).len()
            + read(&self.error).len()
            + read(&self.event).len()
    }

    /// Whether no hook is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs one hook, turning an `Err` or a panic into a logged failure.
fn guarded(hook: &'static str, f: impl FnOnce() -> Result<(), String>) {
    let message = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return,
        Ok(Err(m)) => m,
        Err(panic) => tether_core::panic_message(panic.as_ref()),
    };
    log_failure(&HookFailure { hook, message });
}

fn log_failure(failure: &HookFailure) {
    let kind = match failure.hook {
        "request" => "Request",
        "response" => "Response",
        "error" => "Error",
        _ => "Event",
    };
    tracing::warn!(
        target: TARGET,
        hook = failure.hook,
        "{kind} hook failed: {}",
        failure.message
    );
}

impl Hooks for Interceptors {
    fn on_request(&self, event: &RequestEvent, headers: &mut HeaderMap) -> Result<(), String> {
        for hook in read(&self.request) {
            guarded("request", || hook(event, headers));
        }
        Ok(())
    }

    fn on_response(&self, event: &ResponseEvent) -> Result<(), String> {
        for hook in read(&self.response) {
            guarded("response", || hook(event));
        }
        Ok(())
    }

    fn on_error(&self, event: &ErrorEvent) -> Result<(), String> {
        for hook in read(&self.error) {
            guarded("error", || hook(event));
        }
        Ok(())
    }

    fn on_event(&self, event: &EngineEvent) {
        for hook in read(&self.event) {
            guarded("event", || {
                hook(event);
                Ok(())
            });
        }
    }
}

/// The default hooks: request, response and error records at DEBUG (headers, redacted, at
/// TRACE), retries from the decision trace at DEBUG, breaker transitions at INFO (WARN when a
/// breaker opens), health and alert changes at INFO. With `verbose` off only the failures of
/// other [`Hooks`] are logged. Registered first, so they see every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoggingHooks {
    pub(crate) verbose: bool,
}

impl Hooks for LoggingHooks {
    fn on_request(&self, event: &RequestEvent, _headers: &mut HeaderMap) -> Result<(), String> {
        if self.verbose {
            // Method, URL and service are on the enclosing `http_request` span.
            tracing::debug!(target: TARGET, "request");
            tracing::trace!(target: TARGET, headers = ?event.headers, "request headers");
        }
        Ok(())
    }

    fn on_response(&self, event: &ResponseEvent) -> Result<(), String> {
        if self.verbose {
            log_retries(&event.trace);
            tracing::debug!(
                target: TARGET,
                status = event.status,
                from_cache = event.from_cache,
                attempts = event.attempts,
                elapsed_us = event.elapsed.as_micros() as u64,
                trace = %event.trace.summary(),
                "response"
            );
        }
        Ok(())
    }

    fn on_error(&self, event: &ErrorEvent) -> Result<(), String> {
        if self.verbose {
            log_retries(&event.trace);
            tracing::debug!(
                target: TARGET,
                kind = %event.kind,
                error = %event.message,
                attempts = event.attempts,
                elapsed_us = event.elapsed.as_micros() as u64,
                trace = %event.trace.summary(),
                "request failed"
            );
        }
        Ok(())
    }

    fn on_event(&self, event: &EngineEvent) {
        if !self.verbose {
            return;
        }
        match event {
            EngineEvent::Breaker(e) => {
                let tether_core::BreakerEvent::StateChanged {
                    from, to, reason, ..
                } = e.event
                else {
                    return;
                };
                if to.admits_calls() {
                    tracing::info!(target: TARGET, breaker = %e.name, from = from.as_str(), to = to.as_str(), reason = ?reason, "circuit breaker state changed");
                } else {
                    tracing::warn!(target: TARGET, breaker = %e.name, from = from.as_str(), to = to.as_str(), reason = ?reason, "circuit breaker state changed");
                }
            }
            EngineEvent::Health(e) => {
                tracing::info!(target: TARGET, event = ?e, "health changed");
            }
            EngineEvent::Alert(e) => {
                tracing::info!(target: TARGET, event = ?e, "alert");
            }
            _ => {}
        }
    }

    fn on_hook_failure(&self, failure: &HookFailure) {
        log_failure(failure);
    }
}

/// One DEBUG event per retry the trace records (the core reports attempts once the request
/// is finished, so these follow the attempts rather than precede them).
fn log_retries(trace: &DecisionTrace) {
    for a in &trace.attempts {
        if let AttemptNext::Retry {
            delay,
            reason,
            retry_after,
        } = a.next
        {
            let outcome = match a.result {
                AttemptResult::Status { status } => status.to_string(),
                AttemptResult::Transport { error } => error.as_str().to_owned(),
                _ => "other".to_owned(),
            };
            let why = match reason {
                RetryReason::Status(s) => format!("status {s}"),
                RetryReason::Transport(k) => k.as_str().to_owned(),
                _ => "other".to_owned(),
            };
            tracing::debug!(
                target: TARGET,
                attempt = a.attempt,
                outcome = %outcome,
                reason = %why,
                delay_us = delay.as_micros() as u64,
                retry_after_us = retry_after.map(|d| d.as_micros() as u64),
                "retrying"
            );
        }
    }
}
