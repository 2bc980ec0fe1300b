//! # tether-core — the sans-IO brain of Tether
//!
//! Everything that makes an HTTP call resilient and observable, as pure state machines:
//! response cache, circuit breaker, retry with backoff and budget, batching, metrics, health,
//! alerts and exports. The core owns no sockets, no clock and no randomness: time and a seed
//! come in as arguments, decisions go out as data.
//!
//! (The crate documentation is completed with the engine and the driver loop.)

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

mod client;
mod driver;
mod error;
mod message;
pub mod redact;
mod rng;
mod time;

pub use client::{
    Client, ClientError, ClientResponse, ErrorEvent, HookFailure, Hooks, RequestEvent,
    ResponseEvent, clone_request,
};
pub use driver::{Runtime, Transport};
pub use engine::{
    AttemptNext, AttemptResult, AttemptTrace, BackgroundFetch, BreakerScope, CacheTrace, Decision,
    DecisionTrace, Engine, EngineConfig, EngineEvent, EngineSnapshot, FinalResult, Finished, Next,
    Output, Permit, RejectReason, Reply, RequestId, RetryToken,
};
pub use error::{ConfigError, RequestError};
pub use message::{Outcome, Request, Response, TransportError, TransportErrorKind};
pub use rng::Rng;
pub use time::{Timestamp, WallClock};
