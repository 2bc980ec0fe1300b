//! # tether-core — the sans-IO brain of Tether
//!
//! Everything that makes an HTTP call resilient and observable, as pure state machines:
//! response cache ([`cache`]), circuit breaker ([`breaker`]), retry with backoff, Retry-After
//! and budget ([`retry`]), batching ([`batch`]), metrics with percentiles ([`metrics`]),
//! health ([`health`]), alerts ([`alerts`]) and exports ([`export`]: JSON, Prometheus, InfluxDB
//! line protocol). An [`Engine`] routes each request through them.
//!
//! **In scope:** every decision — serve from cache or not, admit through the breaker or not,
//! retry when and how often, what to count, when to alert — and the decision trace that
//! explains it. **Out of scope:** sockets, TLS, DNS, clocks, timers, threads, randomness, logging.
//! The core never reads a clock (time comes in as [`Timestamp`] and [`WallClock`] arguments)
//! and never draws OS entropy (a seed comes in). It builds for `wasm32-unknown-unknown`.
//!
//! ## The loop
//!
//! A frontend is a [`Transport`] (how an attempt reaches a server) plus a [`Runtime`] (clock,
//! timer, seed). The [`client`] layer — [`HttpClient`](client::HttpClient), its request builder,
//! typed errors, service clients, hooks — runs the loop below for any such pair; a frontend that
//! wants its own loop drives the [`Engine`] directly:
//!
//! ```no_run
//! use tether_core::{Decision, Engine, EngineConfig, Next, Output, Request, Timestamp, WallClock};
//!
//! # fn clock() -> (Timestamp, WallClock) { (Timestamp::ZERO, WallClock::EPOCH) }
//! # fn send(_r: &Request) -> tether_core::Outcome { unimplemented!() }
//! # fn sleep_until(_t: Timestamp) {}
//! let mut engine = Engine::new(EngineConfig::default(), 42)?;
//! let request: Request = http::Request::get("https://api.example.com/items").body(Default::default())?;
//!
//! let (now, wall) = clock();
//! let mut decision = engine.begin(now, wall, &request, Some("catalog"))?;
//! let finished = loop {
//!     match decision {
//!         // Served from cache, or refused by policy (breaker open): answer at once.
//!         Decision::Done(finished) => break finished,
//!         // Send one attempt (with the engine's conditional headers), report the outcome.
//!         Decision::Send(permit) => {
//!             let mut attempt = request.clone();
//!             permit.apply(&mut attempt);
//!             let outcome = send(&attempt); // honour permit.timeout()
//!             let (now, wall) = clock();
//!             match engine.on_response(now, wall, permit, &request, outcome) {
//!                 Next::Done(finished) => break finished,
//!                 Next::RetryAt { at, token } => {
//!                     sleep_until(at);
//!                     let (now, wall) = clock();
//!                     decision = engine.resume(now, wall, token, &request);
//!                 }
//!             }
//!         }
//!         // An identical request is in flight (single-flight): wait for Output::Resolved
//!         // or Output::Proceed with this id while draining poll_output.
//!         Decision::Wait(_id) => unimplemented!("see the client layer for the waiting side"),
//!     }
//! };
//! println!("{}", finished.trace.summary());
//!
//! // After every input: drain outputs, then arm one timer.
//! while let Some(output) = engine.poll_output() {
//!     match output {
//!         Output::Event(event) => println!("{event:?}"),
//!         _ => { /* Resolved / Proceed / Background / CheckDue: see the client layer */ }
//!     }
//! }
//! if let Some(deadline) = engine.poll_timeout() {
//!     sleep_until(deadline);
//!     let (now, wall) = clock();
//!     engine.handle_timeout(now, wall);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Rules the core keeps
//!
//! * **Time is an argument** — every input takes `now`; every machine reports its next
//!   deadline, and `handle_timeout` always moves it forward.
//! * **Decisions are data** — a breaker rejection or an exhausted retry budget is a
//!   [`Decision`] or a [`FinalResult`], never an `Err`.
//! * **`&mut self` only** — no locks, tasks or globals inside the engine; the client layer holds it
//!   behind a mutex that is never held across an `.await`.
//! * **Typed errors by who is at fault** — [`ConfigError`] (the caller's configuration),
//!   [`RequestError`] (the caller's request), [`TransportError`] (below HTTP). The core never
//!   panics on input.
//! * **Secrets stay secret** — credentials partition the cache by a keyed hash and are never
//!   stored; [`redact`] masks them in everything meant for humans.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod batch;
pub mod breaker;
pub mod cache;
mod engine;
pub mod export;
pub mod health;
pub mod metrics;
pub mod retry;

pub mod client;
mod driver;
mod error;
mod message;
pub mod redact;
mod rng;
pub mod serde_util;
mod time;
pub mod uri;

pub use driver::{Runtime, Spawn, Transport};
pub use engine::{
    AttemptNext, AttemptResult, AttemptTrace, BackgroundFetch, BreakerScope, CacheTrace, Decision,
    DecisionTrace, Engine, EngineConfig, EngineEvent, EngineSnapshot, FinalResult, Finished, Next,
    Output, Permit, RejectReason, Reply, RequestId, RetryToken,
};
pub use error::{ConfigError, RequestError};
pub use message::{Deadline, Outcome, Request, Response, TransportError, TransportErrorKind};
pub use rng::Rng;
pub use time::{Timestamp, WallClock};
