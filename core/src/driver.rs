//! The I/O boundary: the [`Transport`] and [`Runtime`] traits a frontend implements, and the
//! [`Spawn`] trait through which the client layer ([`crate::client`]) hands its background work
//! to the runtime.
//!
//! A frontend is exactly one `Transport` (how bytes reach a server: ureq, `fetch`, …) plus one
//! `Runtime` (a clock, a timer and a seed: tokio, the browser, a virtual clock in tests).

use std::future::Future;
use std::time::Duration;

use crate::{
    ConfigError, Outcome, Request, RequestError, RuntimeUnavailable, Timestamp, WallClock,
};

/// Sends one HTTP request and returns its response, or a typed transport error.
///
/// The transport does no retries, no caching and no breaking — the engine decides all of that.
/// It must apply `timeout` to the whole attempt when one is given (the client also races the
/// attempt against [`Runtime::sleep`], so a transport that cannot cancel is still bounded).
///
/// ```
/// use std::future::{ready, Ready};
/// use std::time::Duration;
/// use tether_core::{Outcome, Request, Response, Transport};
///
/// /// A transport that answers every request with 204, for tests.
/// struct NoContent;
///
/// impl Transport for NoContent {
///     type Send = Ready<Outcome>;
///     fn send(&self, _request: Request, _timeout: Option<Duration>) -> Self::Send {
///         let mut response = Response::new(bytes::Bytes::new());
///         *response.status_mut() = http::StatusCode::NO_CONTENT;
///         ready(Ok(response))
///     }
/// }
/// ```
pub trait Transport {
    /// The future of one attempt. Native transports make it `Send`; the browser's is not.
    type Send: Future<Output = Outcome>;

    /// Starts one attempt.
    fn send(&self, request: Request, timeout: Option<Duration>) -> Self::Send;

    /// Refuses, before the client hands it to the engine, a request this transport would
    /// never send (the native transports: caller-set framing, connection-management headers,
    /// a `Host` naming another authority). A refusal is the caller's mistake: the client
    /// returns it as a request error, and neither the breaker nor the service's metrics see
    /// the request. The default accepts every request; `send` must still refuse on its own
    /// what it cannot send, since a transport may be used without a client.
    fn check(&self, request: &Request) -> Result<(), RequestError> {
        let _ = request;
        Ok(())
    }

    /// Whether the transport's own configuration is usable; a client refuses to build over
    /// one that is not (its `build` returns the error). The default: always usable.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Time, timers and a seed: everything the core refuses to own.
///
/// ```
/// use std::future::{ready, Ready};
/// use std::time::Duration;
/// use tether_core::{Runtime, Timestamp, WallClock};
///
/// /// A frozen clock whose sleeps finish at once (fine for a doctest, not for real use).
/// struct Frozen;
///
/// impl Runtime for Frozen {
///     type Sleep = Ready<()>;
///     fn now(&self) -> Timestamp { Timestamp::from_secs(1) }
///     fn wall(&self) -> WallClock { WallClock::from_unix_secs(1_800_000_000) }
///     fn sleep(&self, _d: Duration) -> Self::Sleep { ready(()) }
///     fn seed(&self) -> u64 { 42 }
/// }
/// ```
pub trait Runtime {
    /// The future returned by [`Runtime::sleep`].
    type Sleep: Future<Output = ()>;

    /// The monotonic clock, from an origin of the runtime's choosing.
    fn now(&self) -> Timestamp;

    /// The wall clock.
    fn wall(&self) -> WallClock;

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// A seed for the engine's PRNG (OS entropy in production, fixed in tests).
    fn seed(&self) -> u64;

    /// Whether this runtime can run a request where it is called now: a runtime whose
    /// timers need an executor's context (tokio's panic outside one) says so here, and the
    /// client returns the error before it starts anything. The default: always.
    fn check(&self) -> Result<(), RuntimeUnavailable> {
        Ok(())
    }
}

/// Starts background work on the frontend's executor.
///
/// The client layer's long-lived work is a plain future it hands to its runtime: the client's
/// [`Background`](crate::client::Background) driver (stale-while-revalidate refreshes, active
/// health checks, engine timers) and a batcher's [`BatchDriver`](crate::client::BatchDriver).
/// `F` is that future's type, so each runtime states in its implementation what it needs: a
/// multithreaded executor adds `Send` (`impl<F: Future<Output = ()> + Send + 'static> Spawn<F>
/// for TokioRuntime`), a browser accepts any `F: 'static`.
///
/// A runtime that cannot run background work returns `false`. The client then skips
/// refreshes (a stale entry simply expires), takes health from traffic alone, and tries again
/// with its next request; a frontend may also drive
/// [`HttpClient::run_background`](crate::client::HttpClient::run_background) itself.
///
/// ```
/// use std::future::Future;
/// use tether_core::Spawn;
///
/// /// Runs nothing in the background (a blocking or test runtime).
/// struct Inline;
///
/// impl<F: Future<Output = ()>> Spawn<F> for Inline {
///     fn spawn(&self, _task: F) -> bool {
///         false
///     }
///     fn can_spawn(&self) -> bool {
///         false
///     }
/// }
/// ```
pub trait Spawn<F> {
    /// Starts `task` and lets it run to completion; `false` when there is no executor to run
    /// it on now (the task is dropped).
    fn spawn(&self, task: F) -> bool;

    /// Whether [`spawn`](Self::spawn) can ever start a task. A runtime that never runs
    /// background work returns `false`, and the client stops preparing work for it on every
    /// request. The default: `true`.
    fn can_spawn(&self) -> bool {
        true
    }
}
