//! # tether-native — Tether's native frontend
//!
//! A resilient, observable HTTP client for native Rust programs. Every decision — serve from
//! the cache or not, let the call through the circuit breaker or not, retry when and how
//! often, count, alert — is made by the sans-IO [`tether_core`] engine, and the client API is
//! [`tether_core::client`], written once for every runtime. This crate adds what is native:
//!
//! * two transports sharing one [`NativeConfig`] and the same framing, limit, decoding,
//!   redirect, proxy and per-host isolation rules: [`HyperTransport`] (hyper 1 and
//!   hyper-util's pooled client, async) and [`UreqTransport`] (a pooled ureq agent on tokio's
//!   blocking pool);
//! * [`TokioRuntime`] — the clock, timers, seed and executor;
//! * [`blocking`] — the same client on the caller's thread, over ureq, with no async runtime
//!   and no thread hand-off (`tether_native::blocking::HttpClient`, …);
//! * [`TracingHooks`] — a `tracing` span per request and a log line per response, retry,
//!   error and breaker transition, secrets redacted;
//! * type aliases that name the client over them — [`HttpClient`], [`ServiceClient`],
//!   [`Registry`], [`RequestBatcher`], … — and the process-wide [`default_registry`];
//! * re-exports of everything a program needs, so `tether-native` is the only Tether crate in
//!   its `Cargo.toml`.
//!
//! | type | what | original Python name (`docs/compat.md`) |
//! |---|---|---|
//! | [`HttpClient`] | builder (timeouts, retries, backoff, cache, breakers, default headers), `request(method, url)` → [`RequestBuilder`] → [`Response`] with a [`DecisionTrace`], [`metrics`](HttpClient::metrics), [`prometheus`](HttpClient::prometheus), `close` | `HTTPClient` |
//! | [`ServiceClient`] | base URL + service name, per-service breaker and metrics, `call_service(method, endpoint)` with endpoints confined to the base URL, 4xx/5xx as [`Error::Status`] | `ServiceClient` |
//! | [`RequestBatcher`] | size/time-bounded batches, bounded concurrency, results in input order | `RequestBatcher` |
//! | [`NativeHooks`] | request / response / error / event hooks, plain or `async`, on redacted event records; failures are logged, never fatal | `RequestInterceptor` |
//! | [`Registry`], [`default_registry`], [`get_service_client`] | named service clients monitoring can enumerate, bounded | `_service_clients`, `get_service_client`, `close_all_service_clients` |
//! | [`Error`] | one typed error with [`http_status`](Error::http_status) (502/503/504) and the decision trace | `ServiceError` family |
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
//! The async API runs inside a tokio runtime with the time and I/O drivers enabled
//! (`#[tokio::main]` or `Builder::enable_all`); outside one, a request fails with
//! [`Error::Runtime`] instead of panicking. Request futures are `Send` and `'static`, so they
//! can be spawned. The [`blocking`] API needs no runtime at all.
//!
//! ## The transport alone
//!
//! [`HyperTransport`] and [`UreqTransport`] take the same [`NativeConfig`]; invalid settings
//! (a `User-Agent` with a line break, a zero timeout, an unparsable proxy) are a
//! [`ConfigError`](tether_core::ConfigError) from `try_new`, never a panic.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_native::tether_core::ConfigError> {
//! use std::time::Duration;
//! use tether_native::tether_core::{Runtime, Transport};
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
pub mod blocking;
mod bulkhead;
mod clock;
mod config;
mod decode;
mod failure;
mod framing;
mod hyper_transport;
#[cfg(feature = "monitor")]
pub mod monitor;
mod proxy;
mod redirect;
mod registry;
mod rt;
mod runtime;
#[cfg(feature = "server")]
pub mod server;
mod tracing_hooks;
mod transport;

use tether_core::client;

pub use config::{NativeConfig, Proxy};
pub use framing::{FramingError, check_framing};
pub use hyper_transport::HyperTransport;
pub use registry::{close_all_service_clients, default_registry, get_service_client};
pub use runtime::TokioRuntime;
pub use tracing_hooks::{TARGET as LOG_TARGET, TracingHooks};
pub use transport::{SendFuture, UreqTransport};

/// The `http` crate's vocabulary (`Method`, `HeaderMap`, `StatusCode`, …).
pub use http;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode};
/// The core crate, for everything not re-exported here.
pub use tether_core;

pub use tether_core::client::{
    AllMetrics, BODY_EXCERPT_CHARS, CircuitBreakerState, ClientMetrics, DEFAULT_REGISTRY_SIZE,
    DEFAULT_USER_AGENT, Error, ErrorEvent, HealthCheck, HookFailure, HookResult, HookStage, Hooks,
    JobError, JobHandle, RequestEvent, Response, ResponseEvent, SendJob, ServiceMetrics,
};
pub use tether_core::{
    AttemptNext, AttemptResult, AttemptTrace, Backoff, BatchConfig, BreakDuration, BreakerConfig,
    BreakerState, BudgetConfig, CacheConfig, CacheTrace, Deadline, DecisionTrace, EngineConfig,
    EngineEvent, ExportError, Format, GiveUpReason, LongRetryAfter, Redactor, RegistryConfig,
    RejectReason, RetryConfig, SystemSample, Timestamp, TransportError, TransportErrorKind,
    WallClock,
};

/// The native client's hooks: a [`SharedHooks`](tether_core::client::SharedHooks) list
/// (`Send + Sync` closures, plain or `async`) behind the [`TracingHooks`] logger.
pub type NativeHooks = client::SharedHooks<TracingHooks>;

/// The resilient client ([`tether_core::client::HttpClient`]) over [`HyperTransport`] and
/// [`TokioRuntime`], with [`NativeHooks`]. (For a blocking client, see [`blocking`]; to keep
/// the ureq transport on tokio's blocking pool, name
/// `tether_core::client::HttpClient<UreqTransport, TokioRuntime, NativeHooks>`.)
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_native::Error> {
/// use std::time::Duration;
/// use tether_native::HttpClient;
///
/// let client = HttpClient::builder()
///     .timeout(Duration::from_secs(5))
///     .max_retries(2)
///     .build()?;
/// client.hooks().add_request_hook(|_event, headers| {
///     headers.insert("x-request-id", tether_native::HeaderValue::from_static("abc123"));
///     Ok(())
/// });
/// let response = client
///     .get("http://127.0.0.1:8080/get")
///     .query(&[("q", "rust & tether")])
///     .send()
///     .await?;
/// println!("{} {}", response.status(), response.trace().summary());
/// // Request futures are `Send + 'static`: spawn them.
/// let task = tokio::spawn(client.get("http://127.0.0.1:8080/get").send());
/// let _ = task.await;
/// # Ok(()) }
/// ```
pub type HttpClient = client::HttpClient<HyperTransport, TokioRuntime, NativeHooks>;

/// Configures an [`HttpClient`]; start from [`HttpClient::builder`]. The transport's own
/// settings (pool size, connect and read limits, redirects, body limit) are a
/// [`NativeConfig`]: `.transport(HyperTransport::try_new(NativeConfig { .. })?)`.
pub type HttpClientBuilder = client::HttpClientBuilder<HyperTransport, TokioRuntime, NativeHooks>;

/// A request being built by an [`HttpClient`] or a [`ServiceClient`].
pub type RequestBuilder = client::RequestBuilder<HyperTransport, TokioRuntime, NativeHooks>;

/// A client for one upstream service ([`tether_core::client::ServiceClient`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_native::Error> {
/// use tether_native::ServiceClient;
///
/// let users = ServiceClient::new("users", "http://127.0.0.1:8081/")?;
/// let user: serde_json::Value = users.get("/users/42").send_json().await?;
/// assert!(users.get("@evil.example/x").send().await.is_err());
/// # Ok(()) }
/// ```
pub type ServiceClient = client::ServiceClient<HyperTransport, TokioRuntime, NativeHooks>;

/// Configures a [`ServiceClient`]; start from [`ServiceClient::builder`].
pub type ServiceClientBuilder =
    client::ServiceClientBuilder<HyperTransport, TokioRuntime, NativeHooks>;

/// Named, bounded service clients ([`tether_core::client::Registry`]).
pub type Registry = client::Registry<HyperTransport, TokioRuntime, NativeHooks>;

/// Runs jobs in size- and time-bounded batches on tokio
/// ([`tether_core::client::RequestBatcher`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_native::Error> {
/// use tether_native::{BatchConfig, HttpClient, RequestBatcher};
///
/// let client = HttpClient::new()?;
/// let batcher = RequestBatcher::new(BatchConfig { max_batch_size: 5, ..BatchConfig::default() })?;
/// let jobs = (0..20).map(|i| {
///     let client = client.clone();
///     move || async move { client.get(format!("http://127.0.0.1:8080/get?i={i}")).send().await }
/// });
/// let results = batcher.submit(jobs).await; // in input order
/// assert_eq!(results.len(), 20);
/// # Ok(()) }
/// ```
pub type RequestBatcher = client::RequestBatcher<TokioRuntime, SendJob>;

/// The native client's background driver (refreshes, health checks, timers); started on
/// tokio by the client itself.
pub type Background = client::Background<HyperTransport, TokioRuntime, NativeHooks>;

/// The README's Rust examples, compiled as doctests (`scripts/readme-examples.sh` also
/// compiles them in a fresh crate, as a user would).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
