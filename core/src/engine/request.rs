//! The handles a caller holds for a request — its [`RequestId`], the single-use [`Permit`] and
//! [`RetryToken`] — and the typed [`EngineError`] for a handle that does not fit the request's
//! current [`RequestPhase`].

#[cfg(doc)]
use crate::Engine;
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::Request;

/// Identifies one logical request inside an engine (slot index and generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub(super) u64);

impl RequestId {
    /// The raw value (stable for the request's lifetime; for logs and hand-offs across FFI).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// From a raw value obtained with [`RequestId::as_u64`].
    pub const fn from_u64(v: u64) -> Self {
        RequestId(v)
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "r{:x}", self.0)
    }
}

/// Permission to send one attempt. Not `Clone`: hand it back exactly once, to
/// [`Engine::on_response`] (or [`Engine::cancel`] its id).
#[must_use = "send the attempt and report it with Engine::on_response, or cancel it"]
#[derive(Debug)]
pub struct Permit {
    pub(super) id: RequestId,
    pub(super) attempt: u32,
    /// Boxed: only revalidations have it (keeps `Decision` small).
    pub(super) conditional: Option<Box<HeaderMap>>,
    pub(super) timeout: Option<Duration>,
}

impl Permit {
    /// The request this attempt belongs to.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// 1-based attempt number.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The time limit for this attempt (per-attempt timeout, capped by the overall deadline).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Headers the engine adds to this attempt (`If-None-Match` / `If-Modified-Since` when
    /// revalidating a stored response).
    pub fn extra_headers(&self) -> Option<&HeaderMap> {
        self.conditional.as_deref()
    }

    /// Adds [`extra_headers`](Self::extra_headers) to the outgoing copy of the request.
    pub fn apply(&self, request: &mut Request) {
        if let Some(h) = &self.conditional {
            for (k, v) in h.iter() {
                request.headers_mut().insert(k, v.clone());
            }
        }
    }
}

/// Permission to resume a request after its backoff. Not `Clone`.
#[must_use = "call Engine::resume with it when its deadline arrives, or cancel its id"]
#[derive(Debug)]
pub struct RetryToken {
    pub(super) id: RequestId,
}

impl RetryToken {
    /// The request to resume.
    pub fn id(&self) -> RequestId {
        self.id
    }
}

/// Where a tracked request stands, as [`EngineError::WrongPhase`] reports it.
///
/// ```text
///   begin ──► Sending ──on_response──► Backoff ──resume──► Sending ──► … ──► finished
///     │          ▲                                            
///     └──► Following ──(leader done)──► Proceeding ──proceed──┘ (or finished, or Following again)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestPhase {
    /// Waiting for an identical request in flight (after [`Decision::Wait`](crate::Decision::Wait)).
    Following,
    /// Told to continue on its own ([`Output::Proceed`](crate::Output::Proceed)): call
    /// [`Engine::proceed`](crate::Engine::proceed).
    Proceeding,
    /// An attempt is out: its [`Permit`] goes back through
    /// [`Engine::on_response`](crate::Engine::on_response).
    Sending,
    /// Between attempts: its [`RetryToken`] goes back through
    /// [`Engine::resume`](crate::Engine::resume).
    Backoff,
}

impl RequestPhase {
    /// A stable snake_case name (`following`, `proceeding`, `sending`, `backoff`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestPhase::Following => "following",
            RequestPhase::Proceeding => "proceeding",
            RequestPhase::Sending => "sending",
            RequestPhase::Backoff => "backoff",
        }
    }
}

impl std::fmt::Display for RequestPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller handed the engine an id or capability that does not fit: a programming error in
/// the driver, never a policy outcome. The engine changed nothing.
///
/// Policy refusals (breaker open, budget exhausted, overload) are not errors: they are
/// [`FinalResult::Rejected`](crate::FinalResult::Rejected) answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No live request has this id: it already finished (answered, resolved or cancelled), it
    /// was answered at once by [`Engine::begin`](crate::Engine::begin) (a cache hit is never
    /// tracked), or the id comes from another engine.
    #[error("no live request {id}: it finished, was cancelled, or was answered at once")]
    UnknownRequest {
        /// The id given.
        id: RequestId,
    },
    /// The request is live, but this call needs it in another phase (for example
    /// [`Engine::proceed`](crate::Engine::proceed) on a request whose attempt is still out).
    #[error("request {id} is {actual}; this call needs it {expected}")]
    WrongPhase {
        /// The request.
        id: RequestId,
        /// The phase the call needs.
        expected: RequestPhase,
        /// The phase it is in.
        actual: RequestPhase,
    },
}
