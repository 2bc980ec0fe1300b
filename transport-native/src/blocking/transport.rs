//! [`UreqTransport`] for the blocking API: the ureq call runs on the caller's thread, when the
//! attempt's future is polled.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::{Either, select};
use http::Uri;
use tether_core::{
    ConfigError, Outcome, Request, RequestError, Response, Transport, TransportError,
    TransportErrorKind,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::executor::{Sleep, block_on};
use crate::bulkhead::{Origin, Slot};
use crate::config::{NativeConfig, clamp};
use crate::failure::Failure;
use crate::framing::{self, FramingError};
use crate::redirect;
use crate::transport::Inner;
use crate::{check_framing, clock};

/// A [`Transport`] for the blocking API: one attempt over a pooled ureq agent, performed on
/// the calling thread when the attempt's future is polled — no thread hand-off, no async
/// runtime.
///
/// It shares everything else with the async [`crate::UreqTransport`]: the [`NativeConfig`],
/// the framing rules ([`check_framing`]), the streaming gzip/deflate decoder under the body
/// limit, redirects (off by default, credentials never carried to another origin), proxies
/// (none unless configured) and the error classification.
///
/// **Per-host isolation across threads.** Clones share the per-host slots
/// ([`NativeConfig::max_attempts_per_host`]): however many threads call through one client,
/// at most that many attempts run against one origin at once. An attempt that finds every
/// slot taken parks its thread until a slot is given back or its time limit passes (then it
/// fails with [`TransportErrorKind::Timeout`], having sent nothing); a slot is given back as
/// soon as its attempt returns, and ureq enforces the attempt's time limit itself, so a
/// timed-out attempt frees its slot at once. A slow host therefore never delays calls to
/// another one. [`NativeConfig::max_blocking`] does not apply: the callers' own threads are
/// the bound.
///
/// The future must be polled where blocking is fine — by
/// [`block_on`](super::block_on) or the blocking clients, never on an async runtime's thread.
#[derive(Clone)]
pub struct UreqTransport {
    inner: Arc<Inner>,
}

impl UreqTransport {
    /// A transport with its own connection pool, configured by `config`. Never panics: with
    /// an invalid configuration ([`NativeConfig::validate`]) every attempt fails with
    /// [`TransportErrorKind::InvalidRequest`] naming the problem (use [`try_new`](Self::try_new) to
    /// hear about it at once).
    pub fn new(config: NativeConfig) -> Self {
        UreqTransport {
            inner: crate::UreqTransport::new(config).inner,
        }
    }

    /// A transport with its own connection pool, configured by `config`, which must be valid.
    pub fn try_new(config: NativeConfig) -> Result<Self, ConfigError> {
        crate::UreqTransport::try_new(config).map(|t| UreqTransport { inner: t.inner })
    }

    /// The configuration this transport was built with.
    pub fn config(&self) -> &NativeConfig {
        &self.inner.config
    }

    /// How many more attempts to the origin of `url` could start right now; `None` when `url`
    /// is not an absolute URL.
    pub fn available_attempt_slots(&self, url: &Uri) -> Option<usize> {
        Origin::of(url).map(|origin| self.inner.attempts.available(origin))
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new(NativeConfig::default())
    }
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::UreqTransport")
            .field("config", &self.inner.config)
            .field("invalid", &self.inner.invalid)
            .finish_non_exhaustive()
    }
}

impl Transport for UreqTransport {
    type Send = Attempt;

    /// An attempt that runs when first polled. `timeout`, when given, replaces
    /// [`NativeConfig::timeout`] for this attempt and covers it whole, from waiting for a slot
    /// to the last body byte.
    fn send(&self, request: Request, timeout: Option<Duration>) -> Attempt {
        Attempt {
            inner: Arc::clone(&self.inner),
            request: Some(request),
            timeout,
        }
    }

    /// The framing rules ([`check_framing`]), as a request error.
    fn check(&self, request: &Request) -> Result<(), RequestError> {
        check_framing(request).map_err(RequestError::from)
    }
    /// The configuration it was built with ([`NativeConfig::validate`]): a client refuses
    /// to build over a transport made by `new` from an invalid one.
    fn validate(&self) -> Result<(), ConfigError> {
        self.inner.config.validate()
    }
}

/// One attempt of the blocking [`UreqTransport`]: the whole exchange happens in the first
/// `poll`, on the polling thread, which it blocks.
#[must_use = "an attempt does nothing unless polled"]
pub struct Attempt {
    inner: Arc<Inner>,
    request: Option<Request>,
    timeout: Option<Duration>,
}

impl Future for Attempt {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Outcome> {
        let Some(request) = self.request.take() else {
            return Poll::Ready(Err(TransportError::new(
                TransportErrorKind::Other,
                "the attempt was polled again after it finished",
            )));
        };
        let method = request.method().clone();
        let uri = request.uri().clone();
        let outcome = attempt(&self.inner, request, self.timeout)
            .map_err(|failure| failure.into_error(&method, &uri));
        Poll::Ready(outcome)
    }
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("started", &self.request.is_none())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The attempt, on this thread: framing, the redirect chain, each hop under a slot of its
/// origin.
fn attempt(
    inner: &Inner,
    mut request: Request,
    timeout: Option<Duration>,
) -> Result<Response, Failure> {
    if let Some(problem) = &inner.invalid {
        return Err(Failure::invalid(problem.clone()));
    }
    let budget = timeout.map(clamp).or(inner.timeout);
    let deadline = budget.and_then(|b| clock::monotonic().checked_add(b));
    framing::prepare(&mut request, &inner.defaults)?;
    let mut hop = InlineHop {
        inner,
        deadline,
        agent_limit: budget == inner.timeout,
    };
    // Every hop completes within its first poll (it blocks instead of waiting).
    redirect::follow(&inner.redirects, request, &mut hop)
        .now_or_never()
        .unwrap_or_else(|| Err(Failure::internal("a blocking hop did not complete")))
}

/// One hop of a blocking attempt.
struct InlineHop<'a> {
    inner: &'a Inner,
    deadline: Option<Instant>,
    /// Whether the attempt's limit is the agent's own.
    agent_limit: bool,
}

impl redirect::Hop for InlineHop<'_> {
    async fn send(&mut self, request: Request, hop: u32) -> Result<Response, Failure> {
        let origin = Origin::of(request.uri()).ok_or(FramingError::InvalidUrl)?;
        let (slot, waited) = match self.inner.attempts.try_take(origin) {
            Slot::Taken(permit) => (permit, false),
            Slot::Full(semaphore) => (wait_for_slot(semaphore, self.deadline)?, true),
        };
        // The first hop with the agent's own limit needs no per-request ureq config.
        let limit = if hop == 0 && self.agent_limit && !waited {
            None
        } else {
            let remaining = self
                .deadline
                .map(|d| d.saturating_duration_since(clock::monotonic()));
            if remaining == Some(Duration::ZERO) {
                return Err(Failure::new(
                    TransportErrorKind::Timeout,
                    "timed out (attempt)",
                ));
            }
            remaining
        };
        let proxy = self
            .inner
            .proxy
            .as_ref()
            .and_then(|rules| rules.ureq_proxy(request.uri()));
        let response = self.inner.call(request, limit, proxy);
        drop(slot);
        response
    }
}

/// Parks this thread until `semaphore` has a permit, or until `deadline`.
fn wait_for_slot(
    semaphore: Arc<Semaphore>,
    deadline: Option<Instant>,
) -> Result<OwnedSemaphorePermit, Failure> {
    let acquire = pin!(semaphore.acquire_owned());
    let acquired = match deadline {
        None => block_on(acquire),
        Some(deadline) => match block_on(select(acquire, Sleep::until(deadline))) {
            Either::Left((acquired, _)) => acquired,
            Either::Right(((), _)) => {
                return Err(Failure::new(
                    TransportErrorKind::Timeout,
                    "timed out waiting for a free slot of the host",
                ));
            }
        },
    };
    // The semaphores are never closed; map it anyway rather than panic.
    acquired.map_err(|_| Failure::internal("transport closed"))
}
