//! What the engine answers: [`Decision`] (to `begin`, `resume`, `proceed`), [`Next`] (to
//! `on_response`), the [`Finished`] request with its [`FinalResult`] and [`Reply`], and the
//! [`Output`]s a driver drains.

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use serde::Serialize;

use super::request::{Permit, RequestId, RetryToken};
use super::trace::{DecisionTrace, RejectReason};
use crate::alerts::AlertEvent;
use crate::breaker::NamedBreakerEvent;
use crate::cache::CachedResponse;
use crate::health::HealthEvent;
use crate::{Request, Response, Timestamp, TransportError};

#[cfg(doc)]
use super::Engine;

/// A response served to the caller: either the one the upstream just sent, or a stored one
/// shared with the cache (cloning it clones a reference count). Its `Debug` output redacts
/// secret headers (`Set-Cookie`, …) and shows the body's length only.
#[derive(Clone)]
pub enum Reply {
    /// Fresh from the upstream.
    Upstream(Response),
    /// From the cache (fresh, stale, revalidated or shared by a single-flight leader).
    Cached(Arc<CachedResponse>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Upstream(r) => f
                .debug_tuple("Upstream")
                .field(&crate::redact::debug_response(r))
                .finish(),
            Reply::Cached(c) => f.debug_tuple("Cached").field(c).finish(),
        }
    }
}

impl Reply {
    /// The status code.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Reply::Upstream(r) => r.status(),
            Reply::Cached(c) => c.status(),
        }
    }

    /// The headers (stored headers for a cached reply; no `Age` added).
    pub fn headers(&self) -> &HeaderMap {
        match self {
            Reply::Upstream(r) => r.headers(),
            Reply::Cached(c) => c.headers(),
        }
    }

    /// The body (a shared handle; cloning it does not copy).
    pub fn body(&self) -> &Bytes {
        match self {
            Reply::Upstream(r) => r.body(),
            Reply::Cached(c) => c.body(),
        }
    }

    /// Whether this reply came from the cache.
    pub fn is_cached(&self) -> bool {
        matches!(self, Reply::Cached(_))
    }

    /// An owned response; a cached one gets an `Age` header computed at `now`.
    pub fn into_response(self, now: Timestamp) -> Response {
        match self {
            Reply::Upstream(r) => r,
            Reply::Cached(c) => c.to_response(now),
        }
    }
}

/// How a logical request ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FinalResult {
    /// A response (any status: a final 503 after retries is a response, not an error).
    Response(Reply),
    /// The last attempt failed below HTTP.
    Transport(TransportError),
    /// Refused by policy without (another) attempt.
    Rejected(RejectReason),
}

/// A finished logical request: its result and the story of how it came to be.
///
/// Every request the engine tracks ends in exactly one `Finished`: from a [`Decision::Done`],
/// a [`Next::Done`], an [`Output::Resolved`], or [`Engine::cancel`].
#[derive(Clone, Debug)]
pub struct Finished {
    /// Which request.
    pub id: RequestId,
    /// The service (or host) it was accounted under (shared with the engine: cloning it
    /// clones a reference count).
    pub service: Arc<str>,
    /// The result.
    pub result: FinalResult,
    /// Why.
    pub trace: DecisionTrace,
}

/// The answer to [`Engine::begin`], [`Engine::resume`] and [`Engine::proceed`].
#[must_use]
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned by value and matched at once; boxing `Done` cost an allocation per request"
)]
pub enum Decision {
    /// The request is finished: answer the caller.
    Done(Finished),
    /// Send one attempt; report it with [`Engine::on_response`].
    Send(Permit),
    /// An identical request is in flight: wait for [`Output::Resolved`] or [`Output::Proceed`]
    /// carrying this id.
    Wait(RequestId),
}

/// The answer to [`Engine::on_response`].
#[must_use]
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned by value and matched at once; boxing `Done` cost an allocation per request"
)]
pub enum Next {
    /// The request is finished.
    Done(Finished),
    /// Sleep until `at`, then call [`Engine::resume`] with `token`.
    RetryAt {
        /// When to resume.
        at: Timestamp,
        /// The capability to resume.
        token: RetryToken,
    },
}

/// A background refresh the engine wants (stale-while-revalidate): send `request` with
/// `permit` and report it with [`Engine::on_response`] like any attempt (or give it up with
/// [`Engine::cancel`]). The result only updates the cache: the [`Finished`] it ends with
/// answers nobody and is not counted as a request in metrics. Its `Debug` output redacts the
/// request's secrets.
pub struct BackgroundFetch {
    /// The request to send (a copy of the one that found the stale entry).
    pub request: Request,
    /// The permit for it.
    pub permit: Permit,
}

impl std::fmt::Debug for BackgroundFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundFetch")
            .field("request", &crate::redact::debug_request(&self.request))
            .field("permit", &self.permit)
            .finish()
    }
}

/// Events for observers (dashboards, logs, hooks).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
#[non_exhaustive]
pub enum EngineEvent {
    /// A breaker changed state.
    Breaker(NamedBreakerEvent),
    /// An alert fired or resolved.
    Alert(AlertEvent),
    /// A service's health changed.
    Health(HealthEvent),
}

/// Work and news the engine hands to its driver. Drain with [`Engine::poll_output`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// A waiting request (see [`Decision::Wait`]) is finished.
    Resolved(Box<Finished>),
    /// A waiting request must continue on its own: call [`Engine::proceed`] with its id and
    /// its request.
    Proceed(RequestId),
    /// Run this background refresh.
    Background(Box<BackgroundFetch>),
    /// Run the health check of this service and report it with [`Engine::on_check_result`].
    CheckDue(String),
    /// Something observers may care about.
    Event(EngineEvent),
}
