//! The client layer: the API people call every day, written once for every runtime.
//!
//! | type | what |
//! |---|---|
//! | [`HttpClient`], [`HttpClientBuilder`] | the client: configuration validated at `build()`; `get`/`post`/…/`request(method, url)` → [`RequestBuilder`] → [`Response`] with its [`DecisionTrace`](crate::DecisionTrace); [`metrics`](HttpClient::metrics), [`prometheus`](HttpClient::prometheus), [`export`](HttpClient::export) |
//! | [`Error`] | one error type: predicates (`is_timeout`, `is_connect`, `is_status`), [`kind`](Error::kind), [`trace`](Error::trace), [`http_status`](Error::http_status) for gateways |
//! | [`ServiceClient`] | a base URL and a service name; endpoints confined to the base URL; 4xx/5xx as [`Error::Status`]; one health probe |
//! | [`Registry`] | named service clients, bounded, with [`all_metrics`](Registry::all_metrics) |
//! | [`RequestBatcher`] | size- and time-bounded batches, bounded concurrency, results in input order |
//! | [`Hooks`], [`SharedHooks`], [`LocalHooks`] | request / response / error / event hooks, plain or asynchronous, on redacted event records |
//! | [`Background`] | refreshes, health checks and engine timers as one future the runtime runs |
//!
//! Everything is generic over a [`Transport`](crate::Transport) (how an attempt reaches a
//! server) and a [`Runtime`](crate::Runtime) (clock, timers, seed, and — through
//! [`Spawn`](crate::Spawn) — an executor for background work), plus the hooks type. There is
//! no tokio here and no assumption about threads: a frontend is one transport and one runtime,
//! and names its client with type aliases (`tether_native::HttpClient`,
//! `tether_native::ServiceClient`, …). The futures this layer returns are `Send` exactly when
//! the frontend's transport, runtime and hooks are.
//!
//! ## How a request runs
//!
//! `send` adds the client's default headers and the request's [`Deadline`](crate::Deadline),
//! runs the request hooks, then drives the [`Engine`](crate::Engine): the cache and the
//! breaker answer at once or hand out a permit; each attempt is the transport's future raced
//! against the runtime's timer; retries sleep on the runtime; a request identical to one in
//! flight waits for it (within its deadline). The engine is behind a mutex that is never held
//! across an `.await`, and dropping a request's future cancels it in the engine.

mod background;
mod batcher;
mod builder;
mod drive;
mod error;
mod hooks;
mod http;
mod metrics;
mod registry;
mod request;
mod response;
mod service;

pub use self::background::Background;
pub use self::batcher::{
    BatchDriver, IntoJob, Job, JobError, JobHandle, LocalJob, RequestBatcher, SendJob,
};
pub use self::builder::{DEFAULT_USER_AGENT, HttpClientBuilder};
pub use self::error::{BODY_EXCERPT_CHARS, Error};
pub use self::hooks::{
    ErrorEvent, Flavor, HookFailure, HookList, HookResult, HookStage, Hooks, LocalFlavor,
    LocalHooks, RequestEvent, ResponseEvent, SharedFlavor, SharedHooks,
};
pub use self::http::HttpClient;
pub use self::metrics::{CircuitBreakerState, ClientMetrics, HealthCheck, ServiceMetrics};
pub use self::registry::{AllMetrics, DEFAULT_REGISTRY_SIZE, Registry};
pub use self::request::RequestBuilder;
pub use self::response::Response;
pub use self::service::{ServiceClient, ServiceClientBuilder};
