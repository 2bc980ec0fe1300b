//! # tether-native — Tether's native frontend
//!
//! A resilient, observable HTTP client for native Rust programs. Every decision — serve from
//! the cache or not, let the call through the circuit breaker or not, retry when and how
//! often, count, alert — is made by the sans-IO [`tether_core`] engine; this crate does the
//! I/O: two transports — [`HyperTransport`] (hyper 1 and hyper-util's pooled client, async)
//! and [`UreqTransport`] (a pooled ureq agent on tokio's blocking pool) — sharing one
//! [`NativeConfig`] and the same framing, limit, decoding, redirect, proxy and per-host
//! isolation rules, a [`TokioRuntime`] (clock, timers, seed), and the public API on top of
//! them:
//!
//! | type | what | original (spec §1) |
//! |---|---|---|
//! | [`HttpClient`] | builder (timeout, retries, backoff, cache, pool, breaker, default headers), `request(method, url)` → [`RequestBuilder`] → [`Response`] with a [`DecisionTrace`](tether_core::DecisionTrace), [`metrics`](HttpClient::metrics), `close` | `HTTPClient` |
//! | [`ServiceClient`] | base URL + service name, per-service breaker and metrics, `call_service(method, endpoint)` with an SSRF-proof endpoint check, 4xx/5xx as [`Error::Status`] | `ServiceClient` |
//! | [`RequestBatcher`] | size/time-bounded batches, bounded concurrency, results in input order | `RequestBatcher` |
//! | [`Interceptors`] | request / response / error hooks on the core's event records; failures are logged, never fatal | `RequestInterceptor` |
//! | [`Registry`], [`default_registry`], [`get_service_client`] | named service clients monitoring can enumerate, bounded | `_service_clients`, `get_service_client`, `close_all_service_clients` |
//! | [`Error`] | typed errors with [`http_status`](Error::http_status) (502/503/504) and the decision trace | `ServiceError` family |
//!
//! Requests run inside `tracing` spans (`http_request`, with the method, the redacted URL and
//! the service) on target `tether::http_client`; the default hooks log requests, responses,
//! retries and breaker transitions. Secrets — `Authorization`, cookies, API keys in query
//! strings — are redacted everywhere they could be logged.
//!
//! ```no_run
//! use std::time::Duration;
//! use tether_native::{Error, HttpClient};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let client = HttpClient::builder()
//!         .timeout(Duration::from_secs(5))
//!         .max_retries(2)
//!         .build()?;
//!     let response = client.get("http://127.0.0.1:8080/flaky/demo?fail=1").send().await?;
//!     println!("{} — {}", response.status(), response.trace().summary());
//!     println!("{}", serde_json::to_string_pretty(&client.metrics())?);
//!     Ok(())
//! }
//! ```
//!
//! Everything must run inside a tokio runtime with the time driver enabled (`#[tokio::main]`
//! or `Builder::enable_time`).
//!
//! ## The transport alone
//!
//! [`HyperTransport`] and [`UreqTransport`] take the same [`NativeConfig`]; invalid settings
//! (a `User-Agent` with a line break, a zero timeout, an unparsable proxy) are a
//! [`ConfigError`](tether_core::ConfigError) from `try_new`, never a panic.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_core::ConfigError> {
//! use std::time::Duration;
//! use tether_core::{Runtime, Transport};
//! use tether_native::{HyperTransport, NativeConfig, TokioRuntime};
//!
//! let transport = HyperTransport::try_new(NativeConfig {
//!     pool_size: 16,
//!     max_attempts_per_host: 32,
//!     ..NativeConfig::default()
//! })?;
//! let runtime = TokioRuntime::new();
//!
//! let request = http::Request::get("http://127.0.0.1:8080/get")
//!     .body(bytes::Bytes::new())
//!     .unwrap();
//! let started = runtime.now();
//! match transport.send(request, Some(Duration::from_secs(2))).await {
//!     Ok(response) => println!("{} in {:?}", response.status(), runtime.now().saturating_duration_since(started)),
//!     Err(error) => println!("{} failure: {}", error.kind, error.message),
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod agent;
mod batcher;
mod bulkhead;
mod clock;
mod config;
mod decode;
mod error;
mod failure;
mod framing;
mod hooks;
mod http_client;
mod hyper_transport;
mod proxy;
mod redirect;
mod registry;
mod rt;
mod runtime;
mod service_client;
mod task;
mod transport;

pub use batcher::{BatchError, JobHandle, RequestBatcher};
pub use config::{NativeConfig, Proxy};
pub use error::{BODY_EXCERPT_CHARS, Error};
pub use framing::{FramingError, check_framing};
pub use hooks::{Interceptors, TARGET as LOG_TARGET};
pub use http_client::{
    CircuitBreakerState, ClientMetrics, CoreClient, DEFAULT_USER_AGENT, HttpClient,
    HttpClientBuilder, RequestBuilder, Response,
};
pub use hyper_transport::HyperTransport;
pub use registry::{
    AllMetrics, DEFAULT_REGISTRY_SIZE, Registry, close_all_service_clients, default_registry,
    get_service_client,
};
pub use runtime::TokioRuntime;
pub use service_client::{
    HealthCheck, ServiceClient, ServiceClientBuilder, ServiceMetrics, ServiceRequest,
};
pub use transport::{SendFuture, UreqTransport};

/// The README's Rust examples ("Rust in 30 seconds", "The core in 30 seconds"), compiled as
/// doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
