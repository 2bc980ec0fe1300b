//! # tether-wasm — Tether in the browser (and in Node)
//!
//! The resilient, observable client of [`tether_core`] over the host's `fetch`. Every
//! decision — serve from the cache or not, let the call through the circuit breaker or not,
//! retry when and how often, count, alert — is made by the same sans-IO engine as on native,
//! and the client API is the same [`tether_core::client`] layer. This crate adds only what
//! the host provides:
//!
//! * [`FetchTransport`] — one attempt over the global `fetch` (a window, a worker, Node 20),
//!   with an `AbortController` for its time limit and for cancellation, a streamed body under
//!   a size limit, and typed failures;
//! * [`BrowserRuntime`] — `performance.now()`, `Date.now()`, `setTimeout`,
//!   `crypto.getRandomValues`, and `spawn_local` for the client's background work;
//! * [`ConsoleHooks`] — the hooks' observer: a failing hook is reported on the console;
//! * type aliases that name the client over them — [`HttpClient`], [`ServiceClient`],
//!   [`Registry`], [`RequestBatcher`], … — for Rust code compiled to wasm (a dashboard, an
//!   app);
//! * with the `js-api` feature (on by default), the JavaScript/TypeScript API: the
//!   [`TetherClient`](js::TetherClient) class that `make wasm` packages (see [`js`]).
//!
//! A Rust crate that only needs the client (no JavaScript exports in its own `.wasm`) depends
//! on this crate with `default-features = false`.
//!
//! ```no_run
//! use std::time::Duration;
//! use tether_wasm::{Error, HttpClient};
//!
//! async fn poll() -> Result<(), Error> {
//!     let client = HttpClient::builder()
//!         .timeout(Duration::from_secs(5))
//!         .max_retries(2)
//!         .build()?;
//!     let response = client.get("https://api.example.com/status").send().await?;
//!     let status: serde_json::Value = response.json()?;
//!     println!("{status} — {}", response.trace().summary());
//!     Ok(())
//! }
//! # let _ = poll;
//! ```
//!
//! Futures here are not `Send` (they hold JavaScript objects), which the core's client layer
//! never asks for; hooks are [`LocalHooks`](tether_core::client::LocalHooks), so closures may
//! hold `Rc` state or JavaScript callbacks. Outside wasm32 the crate compiles (so the
//! workspace's lints and docs cover it) but calling into the host panics.

#![forbid(unsafe_code)]

mod console;
mod global;
#[cfg(feature = "js-api")]
pub mod js;
mod runtime;
mod timer;
mod transport;

use tether_core::client;

pub use console::ConsoleHooks;
pub use runtime::{BrowserRuntime, Sleep};
pub use transport::{FetchConfig, FetchTransport, SendFuture};

/// The `http` crate's vocabulary (`Method`, `HeaderMap`, `StatusCode`, …).
pub use http;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode};
/// The core crate, for everything not re-exported here.
pub use tether_core;
/// web-sys, whose `RequestCredentials`, `RequestMode`, `RequestCache` and `RequestRedirect`
/// configure a [`FetchTransport`].
pub use web_sys;

pub use tether_core::client::{
    AllMetrics, CircuitBreakerState, ClientMetrics, Error, ErrorEvent, HealthCheck, HookFailure,
    HookResult, HookStage, Hooks, JobError, JobHandle, LocalJob, RequestEvent, Response,
    ResponseEvent, ServiceMetrics,
};
pub use tether_core::{
    Backoff, BatchConfig, BreakDuration, BreakerConfig, BreakerState, BudgetConfig, CacheConfig,
    DecisionTrace, EngineConfig, EngineEvent, Format, RetryConfig, Timestamp, TransportError,
    TransportErrorKind, WallClock,
};

/// The browser client's hooks: a [`LocalHooks`](tether_core::client::LocalHooks) list (any
/// closures, plain or `async`) behind the [`ConsoleHooks`] observer.
pub type WasmHooks = client::LocalHooks<ConsoleHooks>;

/// The resilient client ([`tether_core::client::HttpClient`]) over [`FetchTransport`] and
/// [`BrowserRuntime`], with [`WasmHooks`].
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_wasm::Error> {
/// use tether_wasm::HttpClient;
///
/// let client = HttpClient::new()?;
/// client.hooks().add_request_hook(|_event, headers| {
///     headers.insert("x-request-id", tether_wasm::HeaderValue::from_static("abc123"));
///     Ok(())
/// });
/// let response = client.get("https://api.example.com/items").send().await?;
/// println!("{} {}", response.status(), response.trace().summary());
/// # Ok(()) }
/// ```
pub type HttpClient = client::HttpClient<FetchTransport, BrowserRuntime, WasmHooks>;

/// Configures an [`HttpClient`]; start from [`HttpClient::builder`]. The transport's own
/// settings (credentials, browser cache mode, body limit) are a [`FetchConfig`]:
/// `.transport(FetchTransport::new(FetchConfig { .. }))`.
pub type HttpClientBuilder = client::HttpClientBuilder<FetchTransport, BrowserRuntime, WasmHooks>;

/// A request being built by an [`HttpClient`] or a [`ServiceClient`].
pub type RequestBuilder = client::RequestBuilder<FetchTransport, BrowserRuntime, WasmHooks>;

/// A client for one upstream service ([`tether_core::client::ServiceClient`]): endpoints
/// confined to its base URL, its own breaker and metrics, 4xx/5xx as [`Error::Status`].
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_wasm::Error> {
/// use tether_wasm::{HttpClient, ServiceClient};
///
/// let client = HttpClient::new()?;
/// let monitoring = ServiceClient::with_client("monitoring", "http://127.0.0.1:8080", client)?;
/// let data: serde_json::Value = monitoring.get("/monitoring/dashboard").send_json().await?;
/// # Ok(()) }
/// ```
pub type ServiceClient = client::ServiceClient<FetchTransport, BrowserRuntime, WasmHooks>;

/// Configures a [`ServiceClient`]; start from [`ServiceClient::builder`].
pub type ServiceClientBuilder =
    client::ServiceClientBuilder<FetchTransport, BrowserRuntime, WasmHooks>;

/// Named, bounded service clients ([`tether_core::client::Registry`]).
pub type Registry = client::Registry<FetchTransport, BrowserRuntime, WasmHooks>;

/// Runs jobs in size- and time-bounded batches on the event loop
/// ([`tether_core::client::RequestBatcher`]); jobs need not be `Send`.
pub type RequestBatcher = client::RequestBatcher<BrowserRuntime, LocalJob>;

/// The browser client's background driver (refreshes, health checks, timers); started on the
/// event loop by the client itself.
pub type Background = client::Background<FetchTransport, BrowserRuntime, WasmHooks>;
