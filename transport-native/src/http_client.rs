//! [`HttpClient`]: the resilient client — the core engine (cache, breaker, retry, metrics)
//! driven over [`UreqTransport`] and [`TokioRuntime`] — with a request builder, typed errors,
//! interceptors, `tracing` spans and the original `get_metrics()` snapshot.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tether_core::redact_url;
use tether_core::{Backoff, RetryConfig};
use tether_core::{BreakerConfig, RegistryConfig};
use tether_core::{CacheConfig, CacheStats};
use tether_core::{
    Client, ClientResponse, DecisionTrace, EngineConfig, EngineSnapshot, Hooks, Request,
    Runtime as _,
};
use tether_core::{CountMap, ServiceSnapshot};
use tether_core::{ExportSnapshot, SystemSample};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::error::Error;
use crate::hooks::{Interceptors, LoggingHooks, TARGET};
use crate::{NativeConfig, TokioRuntime, UreqTransport};

/// The core client this crate drives.
pub type CoreClient = Client<UreqTransport, TokioRuntime>;

/// The default `User-Agent`: `tether/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("tether/", env!("CARGO_PKG_VERSION"));

/// Configures an [`HttpClient`]. Start from [`HttpClient::builder`].
///
/// Defaults: the core's [`EngineConfig::default`] (RFC 9111 cache, breaker after 5
/// consecutive failures for 60 s, 4 attempts with decorrelated-jitter backoff, a retry
/// budget, 30 s per attempt), a pool of 100 keep-alive connections, redirects not followed,
/// and the default headers `User-Agent: tether/<version>` and `Accept: application/json`.
#[derive(Clone)]
pub struct HttpClientBuilder {
    engine: EngineConfig,
    native: NativeConfig,
    default_headers: HeaderMap,
    interceptors: Arc<Interceptors>,
    hooks: Vec<Arc<dyn Hooks>>,
    logging: bool,
    error: Option<String>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("engine", &self.engine)
            .field("native", &self.native)
            .field(
                "default_headers",
                &self.default_headers.keys().collect::<Vec<_>>(),
            )
            .field("interceptors", &self.interceptors)
            .field("hooks", &self.hooks.len())
            .field("logging", &self.logging)
            .finish_non_exhaustive()
    }
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        HttpClientBuilder {
            engine: EngineConfig::default(),
            native: NativeConfig::default(),
            default_headers,
            interceptors: Arc::new(Interceptors::new()),
            hooks: Vec::new(),
            logging: true,
            error: None,
        }
    }
}

impl HttpClientBuilder {
    /// The time limit of each attempt: the engine's `attempt_timeout` and the transport's
    /// connect, per-read, per-write and whole-attempt limits (the original's `timeout`, which
    /// applied to each phase).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.engine.attempt_timeout = Some(timeout);
        self.native.connect_timeout = Some(timeout);
        self.native.read_timeout = Some(timeout);
        self.native.write_timeout = Some(timeout);
        self.native.timeout = Some(timeout);
        self
    }

    /// An overall deadline per logical request, measured from its start: no retry starts
    /// after it and the last attempt's time limit is cut to what remains (the retry policy's
    /// `deadline`). The original had none: its timeout applied to each phase of each attempt,
    /// so with retries a dead service took about two minutes to fail.
    pub fn total_timeout(mut self, deadline: Duration) -> Self {
        self.engine.retry.deadline = Some(deadline);
        self
    }

    /// Retries after the first attempt (`max_retries + 1` attempts in all).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.engine.retry.max_attempts = max_retries.saturating_add(1);
        self
    }

    /// The backoff preset between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.engine.retry.backoff = backoff;
        self
    }

    /// The whole retry policy (replaces `max_retries`, `backoff` and `total_timeout` set
    /// before; set those after it to adjust). [`tether_core::compat::retry_config`]
    /// reproduces the original client.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.engine.retry = retry;
        self
    }

    /// The response cache ([`tether_core::compat::cache_config_strict`] /
    /// [`tether_core::compat::cache_config`] for the original's behaviour).
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.engine.cache = cache;
        self
    }

    /// Turns the response cache off.
    pub fn no_cache(mut self) -> Self {
        self.engine.cache.enabled = false;
        self
    }

    /// Keep-alive connections kept (in total and per host), and the bound on attempts running
    /// at once on the blocking pool.
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.native.pool_size = pool_size;
        self
    }

    /// The breaker configuration of every service (and host) without an override.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.engine.breakers.default = breaker;
        self
    }

    /// The breaker configuration of one service.
    pub fn service_breaker(mut self, service: impl Into<String>, breaker: BreakerConfig) -> Self {
        self.engine
            .breakers
            .overrides
            .insert(service.into(), breaker);
        self
    }

    /// The whole breaker registry configuration.
    pub fn breakers(mut self, breakers: RegistryConfig) -> Self {
        self.engine.breakers = breakers;
        self
    }

    /// Adds (or replaces) a header sent with every request unless the request sets it.
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.default_headers.insert(n, v);
            }
            _ => self.error = Some("invalid default header name or value".into()),
        }
        self
    }

    /// Replaces every default header (including `User-Agent` and `Accept`).
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.default_headers = headers;
        self
    }

    /// The `User-Agent` default header.
    pub fn user_agent(self, user_agent: &str) -> Self {
        self.default_header(USER_AGENT, user_agent)
    }

    /// Follow up to `max` redirects in the transport (default 0: a 3xx is returned to the
    /// caller, as the original did). Followed redirects are invisible to cache and metrics.
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.native.max_redirects = max;
        self
    }

    /// The whole engine configuration (replaces everything set before except the
    /// transport's settings).
    pub fn engine_config(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    /// The whole transport configuration (replaces `pool_size`, the transport half of
    /// `timeout` and `max_redirects` set before).
    pub fn native_config(mut self, native: NativeConfig) -> Self {
        self.native = native;
        self
    }

    /// Shares these interceptors (instead of a fresh, empty set).
    pub fn interceptors(mut self, interceptors: Arc<Interceptors>) -> Self {
        self.interceptors = interceptors;
        self
    }

    /// Adds a request hook (see [`Interceptors::add_request_hook`]).
    pub fn request_hook(
        self,
        hook: impl Fn(&tether_core::RequestEvent, &mut HeaderMap) -> Result<(), String>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.interceptors.add_request_hook(hook);
        self
    }

    /// Adds a raw core [`Hooks`] implementation (runs after the interceptors).
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.hooks.push(hooks);
        self
    }

    /// Whether the default `tracing` hooks log requests, responses, retries and breaker events
    /// (default true). Hook failures are logged either way.
    pub fn logging(mut self, on: bool) -> Self {
        self.logging = on;
        self
    }

    /// The engine configuration as it stands.
    pub fn engine(&self) -> &EngineConfig {
        &self.engine
    }

    /// The engine configuration, mutably (for anything without a dedicated setter).
    pub fn engine_mut(&mut self) -> &mut EngineConfig {
        &mut self.engine
    }

    /// Builds the client. Inside a tokio runtime, its background driver (stale-while-
    /// revalidate refreshes, health checks, breaker and alert timers) starts now; otherwise
    /// it starts with the first request.
    pub fn build(self) -> Result<HttpClient, Error> {
        if let Some(reason) = self.error {
            return Err(Error::InvalidHeader { reason });
        }
        let idempotency_header =
            HeaderName::try_from(self.engine.retry.idempotency_header.as_str()).map_err(|_| {
                Error::Config(tether_core::ConfigError::invalid(
                    "retry.idempotency_header",
                    "must be a valid header name",
                ))
            })?;
        let mut hooks: Vec<Arc<dyn Hooks>> = vec![
            Arc::new(LoggingHooks {
                verbose: self.logging,
            }),
            Arc::clone(&self.interceptors) as Arc<dyn Hooks>,
        ];
        hooks.extend(self.hooks);
        let core = Client::with_hooks(
            self.engine,
            UreqTransport::new(self.native),
            TokioRuntime::new(),
            hooks,
        )?;
        let client = HttpClient {
            inner: Arc::new(Inner {
                core,
                default_headers: self.default_headers,
                interceptors: self.interceptors,
                idempotency_header,
                background: Mutex::new(None),
                background_started: AtomicBool::new(false),
            }),
        };
        client.ensure_background();
        Ok(client)
    }
}

struct Inner {
    core: CoreClient,
    default_headers: HeaderMap,
    interceptors: Arc<Interceptors>,
    idempotency_header: HeaderName,
    background: Mutex<Option<JoinHandle<()>>>,
    background_started: AtomicBool,
}

impl Inner {
    fn stop_background(&self) {
        if let Some(handle) = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            handle.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.core.close();
        self.stop_background();
    }
}

/// A resilient HTTP client: every request goes through the response cache, the circuit
/// breaker of its service (or host), retries with backoff and `Retry-After`, and metrics —
/// decided by the sans-IO core and recorded in a [`DecisionTrace`] on every response and
/// error.
///
/// Cheap to clone: clones share the engine, the connection pool, the interceptors and the
/// background driver. The driver stops with [`close`](Self::close) or when the last clone
/// is dropped.
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
/// let response = client
///     .get("http://127.0.0.1:8080/get")
///     .query(&[("q", "rust & tether")])
///     .send()
///     .await?;
/// println!("{} {}", response.status(), response.trace().summary());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A builder with the defaults.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// A client with the defaults.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// Starts a request.
    pub fn request(&self, method: Method, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into())
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

    /// Sends a ready-made request (absolute URL). Default headers are added where the request
    /// has none of that name.
    pub async fn execute(
        &self,
        request: Request,
        service: Option<&str>,
    ) -> Result<Response, Error> {
        let span = request_span(request.method(), request.uri(), service);
        self.execute_inner(request, service, None)
            .instrument(span)
            .await
    }

    async fn execute_inner(
        &self,
        mut request: Request,
        service: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        self.ensure_background();
        // Defaults apply per name, every value of it, unless the request set that name.
        let own: Vec<HeaderName> = self
            .inner
            .default_headers
            .keys()
            .filter(|n| request.headers().contains_key(*n))
            .cloned()
            .collect();
        for (name, value) in &self.inner.default_headers {
            if !own.contains(name) {
                request.headers_mut().append(name.clone(), value.clone());
            }
        }
        let url = request.uri().to_string();
        let core = &self.inner.core;
        let result = match timeout {
            None => core.send(request, service).await,
            Some(limit) => {
                let started = core.runtime().now();
                if let Ok(r) = tokio::time::timeout(limit, core.send(request, service)).await {
                    r
                } else {
                    let service = service.map_or_else(
                        || {
                            url.parse::<Uri>()
                                .ok()
                                .and_then(|u| u.authority().map(|a| a.as_str().to_owned()))
                                .unwrap_or_default()
                        },
                        str::to_owned,
                    );
                    tracing::debug!(target: TARGET, timeout_us = limit.as_micros() as u64, "request timed out");
                    return Err(Error::Timeout {
                        service,
                        elapsed: core.runtime().now().saturating_duration_since(started),
                        message: format!("request timed out after {limit:?}"),
                        trace: None,
                    });
                }
            }
        };
        match result {
            Ok(inner) => Ok(Response { inner }),
            Err(e) => Err(match Error::from_client(e, core.runtime()) {
                Error::InvalidUrl { reason, .. } => Error::InvalidUrl {
                    url: redact_url(&url),
                    reason,
                },
                other => other,
            }),
        }
    }

    /// The original `get_metrics()`: totals over every service this client has called.
    ///
    /// Unlike the original, requests and attempts are counted separately:
    /// `failed_requests` never exceeds `total_requests`, response times are per logical
    /// request, and cache hits count as (successful) requests.
    pub fn metrics(&self) -> ClientMetrics {
        let (global, cache) = self.with_engine(|e, now, wall| {
            let s = e.snapshot(now, wall);
            (s.metrics.global, s.cache)
        });
        ClientMetrics::from_snapshot(&global, cache)
    }

    /// Metrics of one service (or host), if it has been called.
    pub fn service_metrics(&self, service: &str) -> Option<ServiceSnapshot> {
        self.with_engine(|e, _, _| e.metrics().service_snapshot(service))
    }

    /// Everything the engine knows: metrics per service, cache, breakers, health, alerts.
    pub fn engine_snapshot(&self) -> EngineSnapshot {
        self.with_engine(|e, now, wall| e.snapshot(now, wall))
    }

    /// The input of the JSON / Prometheus / InfluxDB exporters.
    pub fn export_snapshot(&self, system: Option<SystemSample>) -> ExportSnapshot {
        self.with_engine(|e, now, wall| e.export_snapshot(now, wall, system))
    }

    /// The breaker of `service` in the original `get_state()` shape (a service never called
    /// reports a closed breaker with the configured threshold).
    pub fn circuit_breaker_state(&self, service: &str) -> CircuitBreakerState {
        self.with_engine(|e, now, _| {
            if let Some(b) = e.breakers().get(service) {
                let s = b.snapshot(now);
                CircuitBreakerState {
                    service: service.to_owned(),
                    state: tether_core::compat::breaker_state(s.state),
                    failure_count: s.failure_count,
                    last_failure_time: s.last_failure_rfc3339(),
                    failure_threshold: s.failure_threshold,
                }
            } else {
                let cfg = e.config().breakers.overrides.get(service).map_or_else(
                    || e.config().breakers.default.consecutive_failures,
                    |c| c.consecutive_failures,
                );
                CircuitBreakerState {
                    service: service.to_owned(),
                    state: "CLOSED",
                    failure_count: 0,
                    last_failure_time: None,
                    failure_threshold: cfg,
                }
            }
        })
    }

    /// Runs `f` on the locked engine with the current monotonic and wall-clock times (breaker
    /// control, cache invalidation, snapshots). Never call the client from inside `f`.
    pub fn with_engine<X>(
        &self,
        f: impl FnOnce(&mut tether_core::Engine, tether_core::Timestamp, tether_core::WallClock) -> X,
    ) -> X {
        let rt = *self.inner.core.runtime();
        self.inner.core.with_engine(|e| f(e, rt.now(), rt.wall()))
    }

    /// The interceptors: hooks added here apply to every later request.
    pub fn interceptors(&self) -> &Interceptors {
        &self.inner.interceptors
    }

    /// The core client (escape hatch: `register_health_check`, raw `send`).
    pub fn core(&self) -> &CoreClient {
        &self.inner.core
    }

    /// The header that marks a non-idempotent request as safe to retry.
    pub fn idempotency_header(&self) -> &HeaderName {
        &self.inner.idempotency_header
    }

    /// Closes the client: later requests fail with [`Error::Closed`] and the background driver
    /// stops. Idempotent. (Clones share the closed state.)
    pub fn close(&self) {
        self.inner.core.close();
        self.inner.stop_background();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.core.is_closed()
    }

    /// Whether the background driver is running.
    pub fn background_running(&self) -> bool {
        self.inner
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// Starts the background driver once, if a tokio runtime is at hand.
    fn ensure_background(&self) {
        if self.inner.background_started.load(Ordering::Acquire) {
            // A driver whose runtime went away (built in one runtime, used from another) has
            // finished: let a new one take over the queue the core hands back.
            let finished = self
                .inner
                .background
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_some_and(tokio::task::JoinHandle::is_finished);
            if !finished || self.is_closed() {
                return;
            }
            self.inner
                .background_started
                .store(false, Ordering::Release);
        }
        if self.inner.background_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let core = self.inner.core.clone();
        match crate::task::spawn(async move { core.run_background().await }) {
            Some(handle) => {
                *self
                    .inner
                    .background
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(handle);
            }
            None => self
                .inner
                .background_started
                .store(false, Ordering::Release),
        }
    }
}

fn request_span(method: &Method, uri: &Uri, service: Option<&str>) -> tracing::Span {
    tracing::debug_span!(
        target: TARGET,
        "http_request",
        method = %method,
        url = %redact_url(&uri.to_string()),
        service = service.unwrap_or(""),
    )
}

/// A request being built. Finish it with [`send`](Self::send).
///
/// Errors in the builder calls (an invalid header, a body that does not serialize) are kept
/// and returned by `send`, so the calls chain without `?`.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
    service: Option<String>,
    error: Option<Error>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    fn new(client: HttpClient, method: Method, url: String) -> Self {
        RequestBuilder {
            client,
            method,
            url,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            service: None,
            error: None,
        }
    }

    pub(crate) fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Adds a header (repeated names are sent as repeated fields).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        let Ok(name) = HeaderName::try_from(name) else {
            return self.fail(Error::InvalidHeader {
                reason: "invalid header name".into(),
            });
        };
        let Ok(value) = HeaderValue::try_from(value) else {
            return self.fail(Error::InvalidHeader {
                reason: format!("invalid value for header {name}"),
            });
        };
        if is_single_valued(&name) {
            // `Content-Type` and friends take one value: a later call replaces (e.g. after
            // `json()` set `application/json`).
            self.headers.insert(name, value);
        } else {
            self.headers.append(name, value);
        }
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            // `None` means "same name as the previous value".
            if let Some(n) = name {
                last = Some(n);
            }
            if let Some(n) = &last {
                self.headers.append(n.clone(), value);
            }
        }
        self
    }

    /// Appends query parameters to the URL (form-urlencoded: every reserved byte is
    /// percent-encoded, a space becomes `+`).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())),
        );
        self
    }

    /// A JSON body (`Content-Type: application/json` unless set).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Bytes::from(body);
                self.headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                self
            }
            Err(e) => self.fail(Error::Json(e)),
        }
    }

    /// A form body (`Content-Type: application/x-www-form-urlencoded` unless set).
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k.as_ref(), v.as_ref());
        }
        self.body = Bytes::from(s.finish());
        self.headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            ));
        self
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A limit on the whole logical request (attempts, backoff and waits included). When it
    /// passes, the request is cancelled (its breaker slot released) and [`Error::Timeout`]
    /// comes back without a trace.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Accounts the request under `service` (metrics, breaker) instead of the URL's host.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Marks a non-idempotent request (POST, PATCH) as safe to retry, with this key in the
    /// configured idempotency header (default `Idempotency-Key`).
    pub fn idempotency_key(mut self, key: &str) -> Self {
        match HeaderValue::try_from(key) {
            Ok(v) => {
                self.headers
                    .insert(self.client.inner.idempotency_header.clone(), v);
                self
            }
            Err(_) => self.fail(Error::InvalidHeader {
                reason: "invalid idempotency key".into(),
            }),
        }
    }

    /// The request as it will be sent (URL with the query, headers without the client's
    /// defaults, body), with the client, service and timeout.
    pub(crate) fn prepare(self) -> Result<Prepared, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let uri = build_uri(&self.url, &self.query)?;
        let mut request = Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        Ok(Prepared {
            client: self.client,
            request,
            service: self.service,
            timeout: self.timeout,
        })
    }

    /// Sends the request and waits for the final response (any status) or error.
    pub fn send(self) -> impl Future<Output = Result<Response, Error>> + Send + 'static {
        let prepared = self.prepare();
        async move { prepared?.send().await }
    }
}

/// A validated request, ready to go.
pub(crate) struct Prepared {
    pub(crate) client: HttpClient,
    pub(crate) request: Request,
    pub(crate) service: Option<String>,
    pub(crate) timeout: Option<Duration>,
}

impl Prepared {
    pub(crate) async fn send(self) -> Result<Response, Error> {
        let Prepared {
            client,
            request,
            service,
            timeout,
        } = self;
        let span = request_span(request.method(), request.uri(), service.as_deref());
        client
            .execute_inner(request, service.as_deref(), timeout)
            .instrument(span)
            .await
    }
}

/// Parses `url` (absolute `http`/`https`, no credentials) and appends `query`.
pub(crate) fn build_uri(url: &str, query: &[(String, String)]) -> Result<Uri, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let mut parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("scheme must be http or https".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "credentials in the URL are not allowed (use the Authorization header)".into(),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("URL has no host".into()));
    }
    if !query.is_empty() {
        let mut pairs = parsed.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    parsed.set_fragment(None);
    parsed
        .as_str()
        .parse::<Uri>()
        .map_err(|e| invalid(e.to_string()))
}

/// A response: status, headers and the whole body, plus how it was obtained.
#[derive(Debug)]
pub struct Response {
    inner: ClientResponse,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.response.status()
    }

    /// The headers (a cached response carries `Age`).
    pub fn headers(&self) -> &HeaderMap {
        self.inner.response.headers()
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        self.inner.response.body()
    }

    /// The body as text: decoded as ISO-8859-1 when the `Content-Type` says so, otherwise as
    /// UTF-8 (invalid sequences replaced).
    pub fn text(&self) -> String {
        let latin1 = self
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| {
                ct.split(';')
                    .skip(1)
                    .find_map(|p| p.trim().strip_prefix("charset="))
            })
            .is_some_and(|cs| {
                let cs = cs.trim_matches('"');
                cs.eq_ignore_ascii_case("iso-8859-1") || cs.eq_ignore_ascii_case("latin1")
            });
        if latin1 {
            self.bytes().iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(self.bytes()).into_owned()
        }
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(self.bytes())?)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        self.status().is_success()
    }

    /// Whether it came from the cache (fresh, stale, revalidated or coalesced).
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// The service it was accounted under.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Why it went the way it did: cache, breaker, every attempt and retry.
    pub fn trace(&self) -> &DecisionTrace {
        &self.inner.trace
    }

    /// `Err(Error::Status)` for a 4xx or 5xx status (message `Service <name> returned
    /// <status>[: detail]`), else the response.
    pub fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status();
        if status.is_client_error() || status.is_server_error() {
            let ClientResponse {
                response,
                service,
                trace,
                ..
            } = self.inner;
            return Err(Error::status_error(
                status,
                response.into_body(),
                service,
                trace,
            ));
        }
        Ok(self)
    }

    /// The core's response record.
    pub fn into_inner(self) -> ClientResponse {
        self.inner
    }

    /// The plain `http` response.
    pub fn into_http(self) -> http::Response<Bytes> {
        self.inner.response
    }
}

/// The original `HTTPClient.get_metrics()` keys, in order, from the engine's global metrics.
/// Times are seconds; `last_request_time` is RFC 3339 UTC.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientMetrics {
    /// Logical requests started (cache hits included).
    pub total_requests: u64,
    /// Logical requests that succeeded (status < 400).
    pub successful_requests: u64,
    /// Logical requests that failed (never more than `total_requests`).
    pub failed_requests: u64,
    /// `successful / completed`; 0.0 when none completed (as the original).
    pub success_rate: f64,
    /// Mean logical-request latency.
    pub average_response_time: f64,
    /// Smallest logical-request latency (0.0 when none).
    pub min_response_time: f64,
    /// Largest logical-request latency (0.0 when none).
    pub max_response_time: f64,
    /// Failed attempts and policy rejections by name (`http_503`, `timeout`, `circuit_open`…).
    pub error_counts: CountMap,
    /// Cache counters and occupancy.
    pub cache_stats: CacheStats,
    /// When the latest request completed.
    pub last_request_time: Option<String>,
}

impl ClientMetrics {
    pub(crate) fn from_snapshot(s: &ServiceSnapshot, cache_stats: CacheStats) -> Self {
        ClientMetrics {
            total_requests: s.total_requests,
            successful_requests: s.successful_requests,
            failed_requests: s.failed_requests,
            success_rate: s.success_rate,
            average_response_time: s.average_response_time,
            min_response_time: s.min_response_time,
            max_response_time: s.max_response_time,
            error_counts: s.error_counts.clone(),
            cache_stats,
            last_request_time: s.last_request_time.map(tether_core::WallClock::to_rfc3339),
        }
    }
}

/// A breaker in the original `CircuitBreaker.get_state()` shape, plus the service name (as
/// `ServiceClient.get_circuit_breaker_state()` returns it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CircuitBreakerState {
    /// The service (breaker name).
    pub service: String,
    /// `CLOSED`, `OPEN` or `HALF_OPEN` (upper case, as the original).
    pub state: &'static str,
    /// Consecutive failures counted.
    pub failure_count: u32,
    /// When the last counted failure happened (RFC 3339 UTC).
    pub last_failure_time: Option<String>,
    /// The consecutive-failure threshold (`None` when that trigger is off).
    pub failure_threshold: Option<u32>,
}

/// Header fields that carry exactly one value (RFC 9110): a builder call replaces them.
fn is_single_valued(name: &HeaderName) -> bool {
    use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
    [
        CONTENT_TYPE,
        CONTENT_LENGTH,
        AUTHORIZATION,
        HOST,
        USER_AGENT,
    ]
    .contains(name)
}
