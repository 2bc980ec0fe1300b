//! The blocking clients: the core client layer ([`tether_core::client`]) over the blocking
//! [`UreqTransport`] and [`BlockingRuntime`], each call run to completion by [`block_on`] on the
//! caller's thread.
//!
//! Every type here wraps its async counterpart and only turns `.await` into a blocking call,
//! so both APIs share one engine, one set of rules and one behaviour.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tether_core::client::{self, AllMetrics, CircuitBreakerState, ClientMetrics, HealthCheck};
use tether_core::client::{Error, Response, ServiceMetrics};
use tether_core::{
    Backoff, BreakerConfig, BudgetConfig, CacheConfig, EngineConfig, EngineSnapshot, ExportError,
    RegistryConfig, Request, RetryConfig, ServiceSnapshot,
};

use super::executor::block_on;
use super::{BlockingRuntime, UreqTransport};
use crate::NativeHooks;

/// The async client layer the blocking [`HttpClient`] runs.
type Core = client::HttpClient<UreqTransport, BlockingRuntime, NativeHooks>;
type CoreBuilder = client::HttpClientBuilder<UreqTransport, BlockingRuntime, NativeHooks>;
type CoreRequest = client::RequestBuilder<UreqTransport, BlockingRuntime, NativeHooks>;
type CoreService = client::ServiceClient<UreqTransport, BlockingRuntime, NativeHooks>;
type CoreServiceBuilder = client::ServiceClientBuilder<UreqTransport, BlockingRuntime, NativeHooks>;
type CoreRegistry = client::Registry<UreqTransport, BlockingRuntime, NativeHooks>;

/// Setters that pass their arguments through to the wrapped async builder.
macro_rules! forward_setters {
    ($core:literal; $($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[doc = concat!("See [`", $core, "::", stringify!($name), "`](tether_core::client::",
                $core, "::", stringify!($name), ").")]
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                self.inner = self.inner.$name($($arg),*);
                self
            }
        )*
    };
}

/// A resilient HTTP client that blocks: the same cache, circuit breakers, retries, deadlines,
/// hooks and metrics as the async [`crate::HttpClient`] — the same engine and client layer —
/// with every call run to completion on the caller's thread.
///
/// No async runtime is needed and no thread is started (unless
/// [`background_thread`](HttpClientBuilder::background_thread) asks for one): each attempt is
/// a ureq call made on the calling thread ([`UreqTransport`]), and waits — a retry's backoff,
/// an identical request in flight on another thread, a free slot of a busy host — park the
/// thread.
///
/// `Send + Sync` and cheap to clone: share one client between threads (clones share the
/// engine, the connection pool and the per-host slots). Do not use it on an async runtime's
/// thread; use [`crate::HttpClient`] there.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_native::blocking::HttpClient;
///
/// # fn main() -> Result<(), tether_native::Error> {
/// let client = HttpClient::builder()
///     .timeout(Duration::from_secs(5))
///     .max_retries(2)
///     .build()?;
/// let response = client.get("http://127.0.0.1:8080/get").query(&[("q", "tether")]).send()?;
/// println!("{} {}", response.status(), response.trace().summary());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Core,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::HttpClient")
            .field("closed", &self.inner.is_closed())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A builder with the defaults: the blocking [`UreqTransport`] with
    /// [`NativeConfig::default`](crate::NativeConfig), [`BlockingRuntime`] without a
    /// background thread, [`NativeHooks`], and the engine's defaults.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            inner: Core::builder(),
        }
    }

    /// A client with the defaults.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// Wraps an async client over the blocking transport and runtime (the two APIs share its
    /// engine, pool and hooks).
    pub fn from_core(inner: Core) -> Self {
        HttpClient { inner }
    }

    /// The async client this one runs: everything not offered here (engine control, export
    /// snapshots, the background driver). Its futures can be awaited inside
    /// [`block_on`](super::block_on).
    pub fn core(&self) -> &Core {
        &self.inner
    }

    /// Starts a request with any method token (`GET`, `PURGE`, …).
    pub fn request(&self, method: Method, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder {
            inner: self.inner.request(method, url),
        }
    }

    /// `GET url`.
    pub fn get(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// `PUT url`.
    pub fn put(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// `PATCH url`.
    pub fn patch(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// `DELETE url`.
    pub fn delete(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// `HEAD url`.
    pub fn head(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Sends a ready-made request (see [`client::HttpClient::execute`]).
    pub fn execute(&self, request: Request, service: Option<&str>) -> Result<Response, Error> {
        block_on(self.inner.execute(request, service))
    }

    /// Totals over every service this client has called.
    pub fn metrics(&self) -> ClientMetrics {
        self.inner.metrics()
    }

    /// Metrics of one service (or host), if it has been called or registered.
    pub fn service_metrics(&self, service: &str) -> Option<ServiceSnapshot> {
        self.inner.service_metrics(service)
    }

    /// Everything the engine knows: metrics per service, cache, breakers, health, alerts.
    pub fn engine_snapshot(&self) -> EngineSnapshot {
        self.inner.engine_snapshot()
    }

    /// Every metric in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    /// Every metric as `json`, `prometheus` or `influxdb`.
    pub fn export(&self, format: &str) -> Result<String, ExportError> {
        self.inner.export(format)
    }

    /// The breaker of `service` in the original `get_state()` shape.
    pub fn circuit_breaker_state(&self, service: &str) -> CircuitBreakerState {
        self.inner.circuit_breaker_state(service)
    }

    /// The hooks: hooks added after the client was built apply to later requests.
    pub fn hooks(&self) -> &NativeHooks {
        self.inner.hooks()
    }

    /// The transport.
    pub fn transport(&self) -> &UreqTransport {
        self.inner.transport()
    }

    /// Runs `f` on the locked engine with the current times (breaker control, cache
    /// invalidation, snapshots); see [`client::HttpClient::with_engine`].
    pub fn with_engine<X>(
        &self,
        f: impl FnOnce(&mut tether_core::Engine, tether_core::Timestamp, tether_core::WallClock) -> X,
    ) -> X {
        self.inner.with_engine(f)
    }

    /// Whether a background thread runs for this client (see
    /// [`HttpClientBuilder::background_thread`]).
    pub fn background_running(&self) -> bool {
        self.inner.background_running()
    }

    /// Registers an active health check (run only with a
    /// [`background_thread`](HttpClientBuilder::background_thread)).
    pub fn register_health_check(&self, service: &str, url: &str) {
        self.inner.register_health_check(service, url);
    }

    /// Closes the client: later requests fail with [`Error::Closed`]; a background thread
    /// ends. Clones share the closed state.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// Configures a blocking [`HttpClient`]; start from [`HttpClient::builder`]. The setters are
/// those of the async builder ([`client::HttpClientBuilder`]), plus
/// [`background_thread`](Self::background_thread).
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct HttpClientBuilder {
    inner: CoreBuilder,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::HttpClientBuilder")
            .field(&self.inner)
            .finish()
    }
}

impl HttpClientBuilder {
    forward_setters! {"HttpClientBuilder";
        transport(transport: UreqTransport);
        runtime(runtime: BlockingRuntime);
        hooks(hooks: NativeHooks);
        timeout(timeout: Duration);
        total_timeout(deadline: Duration);
        max_retries(max_retries: u32);
        backoff(backoff: Backoff);
        retry_budget(budget: Option<BudgetConfig>);
        retry(retry: RetryConfig);
        cache(cache: CacheConfig);
        no_cache();
        breaker(breaker: BreakerConfig);
        breakers(breakers: RegistryConfig);
        default_headers(headers: HeaderMap);
        user_agent(user_agent: &str);
        engine_config(engine: EngineConfig);
    }

    /// See [`HttpClientBuilder::service_breaker`](client::HttpClientBuilder::service_breaker).
    pub fn service_breaker(mut self, service: impl Into<String>, breaker: BreakerConfig) -> Self {
        self.inner = self.inner.service_breaker(service, breaker);
        self
    }

    /// See [`HttpClientBuilder::default_header`](client::HttpClientBuilder::default_header).
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        self.inner = self.inner.default_header(name, value);
        self
    }

    /// See [`HttpClientBuilder::configure_engine`](client::HttpClientBuilder::configure_engine).
    pub fn configure_engine(mut self, f: impl FnOnce(&mut EngineConfig)) -> Self {
        self.inner = self.inner.configure_engine(f);
        self
    }

    /// Runs the client's background work — stale-while-revalidate refreshes, active health
    /// checks, the engine's timers — on a helper thread of its own (`true`), or not at all
    /// (`false`, the default: see [`BlockingRuntime`]).
    pub fn background_thread(mut self, on: bool) -> Self {
        self.inner = self
            .inner
            .configure_runtime(|r| *r = r.with_background_thread(on));
        self
    }

    /// The engine configuration as it stands.
    pub fn engine(&self) -> &EngineConfig {
        self.inner.engine()
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<HttpClient, Error> {
        self.inner.build().map(HttpClient::from_core)
    }
}

/// A request being built by a blocking [`HttpClient`] or [`ServiceClient`]; the setters are
/// those of [`client::RequestBuilder`], and [`send`](Self::send) blocks.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    inner: CoreRequest,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::RequestBuilder")
            .field(&self.inner)
            .finish()
    }
}

impl RequestBuilder {
    forward_setters! {"RequestBuilder";
        headers(headers: HeaderMap);
        body(body: bytes::Bytes);
        timeout(timeout: Duration);
        idempotency_key(key: &str);
        error_for_status();
    }

    /// See [`RequestBuilder::header`](client::RequestBuilder::header).
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        Self {
            inner: self.inner.header(name, value),
        }
    }

    /// See [`RequestBuilder::bearer_auth`](client::RequestBuilder::bearer_auth).
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        Self {
            inner: self.inner.bearer_auth(token),
        }
    }

    /// See [`RequestBuilder::basic_auth`](client::RequestBuilder::basic_auth).
    pub fn basic_auth(self, user: impl fmt::Display, password: Option<impl fmt::Display>) -> Self {
        Self {
            inner: self.inner.basic_auth(user, password),
        }
    }

    /// See [`RequestBuilder::query`](client::RequestBuilder::query).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        Self {
            inner: self.inner.query(pairs),
        }
    }

    /// See [`RequestBuilder::json`](client::RequestBuilder::json).
    pub fn json<B: Serialize + ?Sized>(self, value: &B) -> Self {
        Self {
            inner: self.inner.json(value),
        }
    }

    /// See [`RequestBuilder::form`](client::RequestBuilder::form).
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        Self {
            inner: self.inner.form(pairs),
        }
    }

    /// See [`RequestBuilder::service`](client::RequestBuilder::service).
    pub fn service(self, service: impl Into<String>) -> Self {
        Self {
            inner: self.inner.service(service),
        }
    }

    /// The request as it will be sent, or the first mistake made while building it.
    pub fn build(self) -> Result<Request, Error> {
        self.inner.build()
    }

    /// Sends the request and blocks until the final response (any status, unless
    /// [`error_for_status`](Self::error_for_status)) or error.
    pub fn send(self) -> Result<Response, Error> {
        block_on(self.inner.send())
    }

    /// Sends the request and parses a successful body as JSON (4xx and 5xx are
    /// [`Error::Status`]).
    pub fn send_json<B: DeserializeOwned>(self) -> Result<B, Error> {
        block_on(self.inner.send_json())
    }

    /// Sends the request and returns the body as JSON, or `{"data": <text>, "status_code":
    /// <status>}` when it is not JSON (4xx and 5xx are [`Error::Status`]).
    pub fn send_value(self) -> Result<serde_json::Value, Error> {
        block_on(self.inner.send_value())
    }
}

/// A blocking client for one upstream service: the async [`crate::ServiceClient`]'s base URL
/// confinement (endpoints and redirects never leave it), per-service breaker and metrics, and
/// 4xx/5xx as [`Error::Status`], with calls that block.
///
/// ```no_run
/// use tether_native::blocking::ServiceClient;
///
/// # fn main() -> Result<(), tether_native::Error> {
/// let users = ServiceClient::new("users", "http://127.0.0.1:8081/")?;
/// let user: serde_json::Value = users.get("/users/42").send_json()?;
/// assert!(users.get("@evil.example/x").send().is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServiceClient {
    inner: CoreService,
    http: HttpClient,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::ServiceClient")
            .field(&self.inner)
            .finish()
    }
}

impl ServiceClient {
    /// A builder; the service gets its own [`HttpClient`] with the defaults unless
    /// [`http_client`](ServiceClientBuilder::http_client) shares one.
    pub fn builder(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
    ) -> ServiceClientBuilder {
        ServiceClientBuilder {
            inner: CoreService::builder(service_name, base_url),
        }
    }

    /// A client with its own [`HttpClient`] and the defaults.
    pub fn new(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::builder(service_name, base_url).build()
    }

    /// A client that shares `http` (its engine, pool and hooks) with other services.
    pub fn with_client(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
        http: &HttpClient,
    ) -> Result<Self, Error> {
        CoreService::with_client(service_name, base_url, http.inner.clone()).map(Self::from_core)
    }

    fn from_core(inner: CoreService) -> Self {
        let http = HttpClient::from_core(inner.http_client().clone());
        ServiceClient { inner, http }
    }

    /// The async service client this one runs.
    pub fn core(&self) -> &CoreService {
        &self.inner
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        self.inner.service_name()
    }

    /// The underlying client.
    pub fn http_client(&self) -> &HttpClient {
        &self.http
    }

    /// Starts a call to `endpoint`, confined to the base URL (see
    /// [`client::ServiceClient::call_service`]).
    pub fn call_service(&self, method: Method, endpoint: &str) -> RequestBuilder {
        RequestBuilder {
            inner: self.inner.call_service(method, endpoint),
        }
    }

    /// `GET endpoint`.
    pub fn get(&self, endpoint: &str) -> RequestBuilder {
        self.call_service(Method::GET, endpoint)
    }

    /// `POST endpoint`.
    pub fn post(&self, endpoint: &str) -> RequestBuilder {
        self.call_service(Method::POST, endpoint)
    }

    /// `PUT endpoint`.
    pub fn put(&self, endpoint: &str) -> RequestBuilder {
        self.call_service(Method::PUT, endpoint)
    }

    /// `PATCH endpoint`.
    pub fn patch(&self, endpoint: &str) -> RequestBuilder {
        self.call_service(Method::PATCH, endpoint)
    }

    /// `DELETE endpoint`.
    pub fn delete(&self, endpoint: &str) -> RequestBuilder {
        self.call_service(Method::DELETE, endpoint)
    }

    /// `HEAD endpoint`.
    pub fn head(&self, endpoint: &str) -> RequestBuilder {
        self.call_service(Method::HEAD, endpoint)
    }

    /// This service's numbers, then the whole client's.
    pub fn metrics(&self) -> ServiceMetrics {
        self.inner.metrics()
    }

    /// The service's breaker in the original `get_circuit_breaker_state()` shape.
    pub fn circuit_breaker_state(&self) -> CircuitBreakerState {
        self.inner.circuit_breaker_state()
    }

    /// Probes the service's health path now, blocking (see
    /// [`client::ServiceClient::health_check`]).
    pub fn health_check(&self) -> HealthCheck {
        block_on(self.inner.health_check())
    }

    /// Registers the service for periodic health checks (run only with a
    /// [`background_thread`](HttpClientBuilder::background_thread)).
    pub fn enable_health_checks(&self) {
        self.inner.enable_health_checks();
    }

    /// Closes the service's own client (a shared client is left open).
    pub fn close(&self) {
        self.inner.close();
    }
}

/// Configures a blocking [`ServiceClient`]; start from [`ServiceClient::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServiceClientBuilder {
    inner: CoreServiceBuilder,
}

impl fmt::Debug for ServiceClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::ServiceClientBuilder")
            .field(&self.inner)
            .finish()
    }
}

impl ServiceClientBuilder {
    forward_setters! {"ServiceClientBuilder";
        timeout(timeout: Duration);
        max_retries(max_retries: u32);
        cache(cache: CacheConfig);
        no_cache();
        breaker(breaker: BreakerConfig);
    }

    /// Uses `client` (shared with other services) instead of building one.
    pub fn http_client(self, client: &HttpClient) -> Self {
        Self {
            inner: self.inner.http_client(client.inner.clone()),
        }
    }

    /// Adjusts the configuration of the service's own client (ignored with a shared one).
    pub fn configure(self, f: impl FnOnce(HttpClientBuilder) -> HttpClientBuilder) -> Self {
        Self {
            inner: self
                .inner
                .configure(|inner| f(HttpClientBuilder { inner }).inner),
        }
    }

    /// The path [`ServiceClient::health_check`] probes (default `/health`).
    pub fn health_path(self, path: impl Into<String>) -> Self {
        Self {
            inner: self.inner.health_path(path),
        }
    }

    /// Builds the client; fails on an invalid base URL, health path or configuration.
    pub fn build(self) -> Result<ServiceClient, Error> {
        self.inner.build().map(ServiceClient::from_core)
    }
}

/// Named, bounded blocking service clients (see [`client::Registry`]).
pub struct Registry {
    inner: CoreRegistry,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::Registry")
            .field(&self.inner)
            .finish()
    }
}

impl Registry {
    /// An empty registry of at most `max` clients; each client it creates gets its own
    /// [`HttpClient`] with the defaults.
    pub fn new(max: usize) -> Self {
        Registry {
            inner: CoreRegistry::new(max),
        }
    }

    /// An empty registry whose clients are built from `template`.
    pub fn with_builder(max: usize, template: HttpClientBuilder) -> Self {
        Registry {
            inner: CoreRegistry::with_builder(max, template.inner),
        }
    }

    /// The client registered as `name`, or a new one for `base_url` (then registered).
    pub fn get_or_create(&self, name: &str, base_url: &str) -> Result<ServiceClient, Error> {
        self.inner
            .get_or_create(name, base_url)
            .map(ServiceClient::from_core)
    }

    /// Registers `client` under its service name, replacing (and returning) a client of that
    /// name.
    pub fn insert(&self, client: &ServiceClient) -> Result<Option<ServiceClient>, Error> {
        self.inner
            .insert(client.inner.clone())
            .map(|old| old.map(ServiceClient::from_core))
    }

    /// The client registered as `name`.
    pub fn get(&self, name: &str) -> Option<ServiceClient> {
        self.inner.get(name).map(ServiceClient::from_core)
    }

    /// Unregisters `name` (the client is not closed).
    pub fn remove(&self, name: &str) -> Option<ServiceClient> {
        self.inner.remove(name).map(ServiceClient::from_core)
    }

    /// Every registered client, in registration order (a snapshot).
    pub fn clients(&self) -> Vec<ServiceClient> {
        self.inner
            .clients()
            .into_iter()
            .map(ServiceClient::from_core)
            .collect()
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    /// Number of registered clients.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no client is registered.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.inner.max()
    }

    /// Closes every registered client and empties the registry.
    pub fn close_all(&self) {
        self.inner.close_all();
    }

    /// The metrics of every registered client, by name.
    pub fn all_metrics(&self) -> AllMetrics {
        self.inner.all_metrics()
    }
}
