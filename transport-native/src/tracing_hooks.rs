//! [`TracingHooks`]: the client's `tracing` glue — a span per request and a log line per
//! request, response, retry, error, breaker transition and failed hook, secrets redacted.
//!
//! Everything logged comes from the client's event records, which the client has already
//! passed through its [`Redactor`](tether_core::Redactor) (URLs, headers, error messages); a
//! failed hook's own message goes through the default rule here. No request or response
//! value is ever logged otherwise.

use std::future::Future;

use http::HeaderMap;
use tether_core::client::{ErrorEvent, HookFailure, HookStage, Hooks, RequestEvent, ResponseEvent};
use tether_core::{AttemptNext, AttemptResult, DecisionTrace, EngineEvent, RetryReason};
use tracing::Instrument as _;

/// The `tracing` target of every event this crate's client emits.
pub const TARGET: &str = "tether::http_client";

/// Logs through `tracing`, on target [`TARGET`]; the observer of every native client's hook
/// list ([`NativeHooks`](crate::NativeHooks)), so it runs before user hooks and hears their
/// failures.
///
/// * Each request runs in an `http_request` span (DEBUG) with the method, the redacted URL and
///   the service, so the transport's own events nest under it.
/// * Requests, responses and errors at DEBUG (headers, redacted, at TRACE); each retry from
///   the decision trace at DEBUG; breaker transitions at INFO (WARN when a breaker opens);
///   health and alert changes at INFO.
/// * A hook that fails or panics at WARN: `Request hook failed: …`.
///
/// [`quiet`](Self::quiet) keeps only the hook failures.
///
/// ```
/// use tether_native::{HttpClient, NativeHooks, TracingHooks};
///
/// # fn demo() -> Result<(), tether_native::Error> {
/// // Only hook failures are logged.
/// let client = HttpClient::builder()
///     .hooks(NativeHooks::with_observer(TracingHooks::quiet()))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TracingHooks {
    verbose: bool,
}

impl Default for TracingHooks {
    /// Everything is logged.
    fn default() -> Self {
        TracingHooks { verbose: true }
    }
}

impl TracingHooks {
    /// Logs only hook failures.
    pub fn quiet() -> Self {
        TracingHooks { verbose: false }
    }

    /// Whether requests, responses, errors and events are logged.
    pub fn is_verbose(&self) -> bool {
        self.verbose
    }
}

impl Hooks for TracingHooks {
    fn observes(&self) -> bool {
        self.verbose
    }

    fn on_request(
        &self,
        event: &RequestEvent,
        _headers: &mut HeaderMap,
    ) -> impl Future<Output = ()> {
        if self.verbose {
            // Method, URL and service are on the enclosing `http_request` span.
            tracing::debug!(target: TARGET, "request");
            tracing::trace!(target: TARGET, headers = ?event.headers, "request headers");
        }
        std::future::ready(())
    }

    fn on_response(&self, event: &ResponseEvent) -> impl Future<Output = ()> {
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
        std::future::ready(())
    }

    fn on_error(&self, event: &ErrorEvent) -> impl Future<Output = ()> {
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
        std::future::ready(())
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
        let stage = match failure.stage {
            HookStage::Request => "Request",
            HookStage::Response => "Response",
            HookStage::Error => "Error",
            _ => "Event",
        };
        // A hook's own message may quote a URL it was given: the redaction rule applies.
        tracing::warn!(
            target: TARGET,
            hook = failure.stage.as_str(),
            "{stage} hook failed: {}",
            tether_core::redact_text(&failure.message)
        );
    }

    fn instrument<F: Future>(
        &self,
        event: &RequestEvent,
        future: F,
    ) -> impl Future<Output = F::Output> {
        let span = tracing::debug_span!(
            target: TARGET,
            "http_request",
            method = %event.method,
            url = %event.url,
            service = event.service.as_deref().unwrap_or(""),
        );
        future.instrument(span)
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
