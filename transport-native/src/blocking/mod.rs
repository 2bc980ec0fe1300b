//! The blocking API: the same client layer and engine as the async API, run on the caller's
//! thread — for scripts, command-line tools and synchronous code. No async runtime is needed.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! fn main() -> Result<(), tether_native::Error> {
//!     let client = tether_native::blocking::HttpClient::builder()
//!         .timeout(Duration::from_secs(5))
//!         .build()?;
//!     let response = client.get("http://127.0.0.1:8080/get").send()?;
//!     println!("{} — {}", response.status(), response.trace().summary());
//!     Ok(())
//! }
//! ```
//!
//! | type | what |
//! |---|---|
//! | [`HttpClient`], [`HttpClientBuilder`], [`RequestBuilder`] | the resilient client, as [`crate::HttpClient`], with `send()` returning the response |
//! | [`ServiceClient`], [`ServiceClientBuilder`] | one upstream service, as [`crate::ServiceClient`] |
//! | [`Registry`] | named, bounded service clients |
//! | [`UreqTransport`] | one attempt: a ureq call on the calling thread |
//! | [`BlockingRuntime`] | clock, timers that park the thread, seed; background work only on request |
//! | [`block_on`], [`Sleep`], [`Park`] | the minimal executor that runs the client layer's futures |
//!
//! # How a request runs
//!
//! `send()` hands the client layer's request future to [`block_on`], which polls it on the
//! calling thread. The client layer drives the engine exactly as in the async API (cache,
//! breaker, retries, hooks, metrics); an attempt is the [`UreqTransport`]'s future, which makes
//! the ureq call when polled — no thread hand-off. The common uncached request is therefore
//! one poll. When the request has to wait — a retry's backoff, an identical request already in
//! flight on another thread (single flight), every slot of a host taken — the thread parks
//! until it is woken or its timer comes due.
//!
//! One client is `Send + Sync`: share it between threads. The engine sits behind one mutex,
//! held only for the engine's own decisions (never across a call), and each host has its own
//! bounded slots ([`NativeConfig::max_attempts_per_host`](crate::NativeConfig)), so one slow
//! host never delays the others.
//!
//! # Background work
//!
//! Off by default: nothing runs behind the caller's back (see [`BlockingRuntime`]).
//! [`HttpClientBuilder::background_thread`] starts one helper thread per client for
//! stale-while-revalidate refreshes, active health checks and the engine's timers.
//!
//! There is no blocking `RequestBatcher`: to run many requests at once, share a client
//! between threads (`std::thread::scope`).

mod client;
mod executor;
mod runtime;
mod transport;

pub use client::{
    HttpClient, HttpClientBuilder, Registry, RequestBuilder, ServiceClient, ServiceClientBuilder,
};
pub use executor::{Park, Sleep, block_on, block_on_with};
pub use runtime::BlockingRuntime;
pub use transport::{Attempt, UreqTransport};
