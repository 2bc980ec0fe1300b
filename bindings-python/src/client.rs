//! `Client`: the core client layer (`tether_core::client::HttpClient`) over the native hyper
//! transport, as the engine behind `tether.http_client.HTTPClient` and `ServiceClient`.
//!
//! A request is built on the event loop's thread (the URL parsed and checked there, so a bad
//! one fails at once), then runs on the extension's tokio runtime through the asyncio bridge:
//! cache, breaker, retries with backoff and `Retry-After`, metrics — all the engine's. Its
//! result comes back as a [`RawResponse`] (wrapped in the package's lazy `httpx.Response`
//! subclass) or as a [`RequestFailed`] exception that the Python layer turns into the httpx
//! (or `ServiceError`) class a caller of the original expects.
//!
//! The client is `tether_native::HttpClient` itself (hyper transport, tokio runtime, native
//! hooks with a quiet `tracing` observer), so a service client made from it can join the
//! native registry that the monitor watches. When the Python layer has response or error
//! hooks, it asks for the attempts: one record per attempt from the decision trace (status or
//! error kind, when it started, how long it took), the final one with the response's headers
//! or the error's message, which the hooks receive in order once the request has finished.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use tether_core::client::{Error, HttpClientBuilder, Response};
use tether_core::compat;
use tether_core::{
    AttemptResult, BreakDuration, BreakerConfig, Classifier, Deadline, DecisionTrace, EngineConfig,
    Request, Runtime as _, Usability,
};
use tether_native::{HyperTransport, NativeConfig, NativeHooks, TokioRuntime, TracingHooks};

use crate::bridge::{self, Deliver, IntoPyErr};
use crate::errors::RequestFailed;
use crate::http::RawResponse;
use crate::json;

/// The most retries a client may be configured with.
const MAX_RETRIES: u32 = 100;

/// The longest per-phase timeout accepted, in seconds (a day).
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

pub(crate) type Core = tether_native::HttpClient;

/// One service's breaker settings: `(name, failure_threshold, recovery_timeout_s,
/// count_http_errors)`.
type ServiceBreaker = (String, u32, f64, bool);

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    if !value.is_finite() || value <= 0.0 || value > MAX_TIMEOUT_SECS {
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}, got {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

fn header_pair(name: &str, value: &str) -> PyResult<(HeaderName, HeaderValue)> {
    let name = HeaderName::try_from(name)
        .map_err(|_| PyValueError::new_err(format!("invalid header name {name:?}")))?;
    // The value is not quoted: it may be a secret.
    let value = HeaderValue::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("invalid value for header {name}")))?;
    Ok((name, value))
}

/// A breaker that opens after `threshold` consecutive failures for `recovery`, counting 5xx
/// responses as failures only when `count_http_errors` (transport failures always count).
fn breaker(threshold: u32, recovery: Duration, count_http_errors: bool) -> BreakerConfig {
    let mut classifier = Classifier::default();
    if !count_http_errors {
        classifier.failure_statuses.clear();
    }
    BreakerConfig {
        consecutive_failures: Some(threshold),
        break_duration: BreakDuration::Constant(recovery),
        classifier,
        ..BreakerConfig::default()
    }
}

/// A breaker that never opens (the original `HTTPClient` had none).
fn no_breaker() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: None,
        ratio: None,
        ..BreakerConfig::default()
    }
}

/// The engine behind one `HTTPClient`.
#[pyclass(frozen, module = "tether._tether")]
pub(crate) struct Client {
    http: Core,
    ttl_seconds: u64,
    /// The methods the cache answers (none when it is off): [`Client::fresh`] looks only
    /// for these, so that other requests (a POST) skip the peek's key derivation.
    cached_methods: Vec<Method>,
}

/// The settings of a [`Client`], as the Python layer passes them (a dict with these keys;
/// `timeout` and breaker recovery times in seconds).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct Settings {
    timeout: f64,
    max_retries: u32,
    pool_size: usize,
    cache: (bool, u64, usize, bool, bool),
    retry_non_idempotent: bool,
    #[pyo3(default)]
    host_breaker: Option<(u32, f64, bool)>,
    #[pyo3(default)]
    service_breakers: Vec<ServiceBreaker>,
    user_agent: String,
    default_headers: Vec<(String, String)>,
}

impl Settings {
    fn into_client(self) -> PyResult<Client> {
        self.check()?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.default_headers {
            let (name, value) = header_pair(name, value)?;
            headers.append(name, value);
        }
        let engine = self.engine()?;
        let cached_methods = if engine.cache.enabled {
            engine
                .cache
                .methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect()
        } else {
            Vec::new()
        };
        let http = HttpClientBuilder::new(self.transport()?, TokioRuntime::new())
            .hooks(NativeHooks::with_observer(TracingHooks::quiet()))
            .engine_config(engine)
            .default_headers(headers)
            .build()
            .map_err(|e| PyValueError::new_err(format!("invalid client settings: {e}")))?;
        Ok(Client {
            http,
            ttl_seconds: self.cache.1,
            cached_methods,
        })
    }

    fn check(&self) -> PyResult<()> {
        if self.max_retries > MAX_RETRIES {
            return Err(PyValueError::new_err(format!(
                "max_retries must be from 0 to {MAX_RETRIES}, got {}",
                self.max_retries
            )));
        }
        if self.pool_size == 0 || self.pool_size > 100_000 {
            return Err(PyValueError::new_err(format!(
                "connection_pool_size must be from 1 to 100000, got {}",
                self.pool_size
            )));
        }
        seconds("timeout", self.timeout).map(drop)
    }

    fn engine(&self) -> PyResult<EngineConfig> {
        let (enabled, ttl, max_size, include_headers, include_query) = self.cache;
        if max_size == 0 {
            return Err(PyValueError::new_err("max_size must be at least 1"));
        }
        let mut engine = EngineConfig {
            cache: compat::cache_config(enabled, ttl, max_size, include_headers, include_query),
            retry: compat::retry_config(self.max_retries),
            // `error_counts` under httpx class names (`ConnectError`, …), as the original.
            metrics: compat::metrics_config(),
            // Each phase (connect, each read, each write) is bounded by the transport; there
            // is no limit on the whole attempt, as in the original.
            attempt_timeout: None,
            ..EngineConfig::default()
        };
        engine.retry.retry_non_idempotent = self.retry_non_idempotent;
        engine.breakers.default = match self.host_breaker {
            Some((threshold, recovery, count)) => {
                breaker(threshold, seconds("recovery_timeout", recovery)?, count)
            }
            None => no_breaker(),
        };
        for (name, threshold, recovery, count) in &self.service_breakers {
            if *threshold == 0 {
                return Err(PyValueError::new_err(
                    "failure_threshold must be at least 1",
                ));
            }
            engine.breakers.overrides.insert(
                name.clone(),
                breaker(*threshold, seconds("recovery_timeout", *recovery)?, *count),
            );
        }
        Ok(engine)
    }

    fn transport(&self) -> PyResult<HyperTransport> {
        let timeout = seconds("timeout", self.timeout)?;
        let connections = self.pool_size.saturating_mul(2).max(1);
        let config = NativeConfig {
            pool_size: self.pool_size,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Some(timeout),
            read_timeout: Some(timeout),
            write_timeout: Some(timeout),
            timeout: None,
            accept_compressed: true,
            max_redirects: 0,
            user_agent: self.user_agent.clone(),
            max_attempts_per_host: connections,
            max_connections_per_host: connections,
            ..NativeConfig::default()
        };
        HyperTransport::try_new(config)
            .map_err(|e| PyValueError::new_err(format!("invalid transport settings: {e}")))
    }
}

#[pymethods]
impl Client {
    /// A client from its [`Settings`]: `timeout` bounds each phase (connect, each read, each
    /// write); `max_retries` retries after the first attempt; `pool_size` idle connections
    /// kept per host (twice as many open at most); `cache` is `(enabled, ttl_seconds,
    /// max_size, include_headers, include_query_params)`; `host_breaker`, when given, is
    /// `(threshold, recovery_s, count_http_errors)` for every host and service without its
    /// own entry in `service_breakers`.
    #[new]
    fn new(settings: Settings) -> PyResult<Self> {
        settings.into_client()
    }

    /// Sends a request; an awaitable of `response_class(raw)` (a [`RawResponse`]), or raising
    /// [`RequestFailed`]. `query` and `headers` are `(name, value)` pairs; `timeout` (seconds)
    /// bounds the whole request; `service` names the service it is accounted under; `record`
    /// asks for the attempt log.
    #[pyo3(signature = (method, url, query, headers, body, timeout, service, record, response_class))]
    #[expect(
        clippy::too_many_arguments,
        reason = "one request's parts, from Python"
    )]
    fn send<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        url: &str,
        query: Option<Vec<(String, String)>>,
        headers: Option<Vec<(String, String)>>,
        body: Option<&Bound<'py, PyBytes>>,
        timeout: Option<f64>,
        service: Option<String>,
        record: bool,
        response_class: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut request = self.build(py, method, url, query, headers, body)?;
        if let Some(limit) = timeout {
            let limit = seconds("timeout", limit)?;
            let deadline = self.http.runtime().now().saturating_add(limit);
            request.extensions_mut().insert(Deadline(deadline));
        }
        // The client would add them; added here, the cache can be asked about this very request.
        self.http.apply_default_headers(&mut request);
        let shown = Shown {
            method: request.method().as_str().to_owned(),
            url: request.uri().to_string(),
        };
        let hit = self.fresh(&request, |_, _| ()).is_some();
        let http = self.http.clone();
        let sent = async move {
            // Boxed on the first poll (on the runtime; on the loop's thread for a cache hit,
            // see `run_here`): the request future is about 4 KiB, and held
            // inline it was copied several times on the loop's thread on its way into the
            // task (about 6 % of the process's time in `memmove` at c=64); boxed, those
            // copies move a pointer.
            let execute = Box::pin(http.execute(request, service.as_deref()));
            Sent {
                result: execute.await,
                record,
                shown,
            }
        };
        if hit {
            // A fresh hit completes without waiting on anything: run it here, on the loop's
            // thread, rather than waking a tokio worker and waiting for it to wake us back.
            return bridge::run_here(py, Some(response_class), sent);
        }
        bridge::spawn(py, Some(response_class), sent)
    }

    /// The fresh cached response for this request, if the cache holds one it would serve as
    /// it is — looked up without sending anything, moving any counter or touching the LRU
    /// order; `None` otherwise (including for a request that would fail to build).
    #[pyo3(signature = (method, url, query, headers))]
    fn peek(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        query: Option<Vec<(String, String)>>,
        headers: Option<Vec<(String, String)>>,
    ) -> Option<RawResponse> {
        let mut request = self.build(py, method, url, query, headers, None).ok()?;
        self.http.apply_default_headers(&mut request);
        let url = request.uri().to_string();
        let method = request.method().as_str().to_owned();
        self.fresh(&request, |peek, now| {
            let (parts, body) = peek.response.to_response(now).into_parts();
            RawResponse::new(
                parts.status.as_u16(),
                parts.headers,
                body,
                Duration::ZERO,
                url,
                method,
                true,
            )
        })
    }

    /// The client's totals, in the original `get_metrics()` order (`cache_stats` is filled
    /// by the caller from [`cache_stats`](Self::cache_stats)).
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        original_metrics(py, &self.http.metrics())
    }

    /// A service of this client (its metrics and breaker kept by this client's engine), for
    /// `ServiceClient` and the monitor's registry.
    fn service(&self, name: &str, base_url: &str) -> PyResult<Service> {
        let inner = tether_native::ServiceClient::with_client(name, base_url, self.http.clone())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Service { inner })
    }

    /// `{enabled, size, max_size, ttl_seconds}` (the original `get_stats()`), then Tether's
    /// counters: `hits`, `misses`, `stores`, `evictions`, `invalidations`, `bytes`.
    fn cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.http.with_engine(|engine, _, _| engine.cache().stats());
        let d = PyDict::new(py);
        d.set_item("enabled", stats.enabled)?;
        d.set_item("size", stats.entries)?;
        d.set_item("max_size", stats.max_entries)?;
        d.set_item("ttl_seconds", self.ttl_seconds)?;
        d.set_item("hits", stats.hits)?;
        d.set_item("misses", stats.misses)?;
        d.set_item("stores", stats.stores)?;
        d.set_item("evictions", stats.evictions)?;
        d.set_item("invalidations", stats.invalidations)?;
        d.set_item("bytes", stats.bytes)?;
        Ok(d)
    }

    /// Drops cached responses: all of them, or those whose URL starts with `prefix`; returns
    /// how many.
    #[pyo3(signature = (prefix = None))]
    fn clear_cache(&self, prefix: Option<&str>) -> usize {
        self.http.with_engine(|engine, _, _| match prefix {
            None => engine.invalidate_cache(),
            Some(p) => engine.invalidate_cache_prefix(p),
        })
    }

    /// The breaker of `service` (a host, or a service name) in the original `get_state()`
    /// shape with `service` first.
    fn breaker_state(&self, py: Python<'_>, service: &str) -> PyResult<Py<PyAny>> {
        json::to_python(py, &self.http.circuit_breaker_state(service))
    }

    /// Every metric as `json`, `prometheus` or `influxdb` (Tether's own exporters).
    fn export(&self, format: &str) -> PyResult<String> {
        self.http
            .export(format)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Closes the client: later requests fail (kind `closed`); idempotent.
    fn close(&self) {
        self.http.close();
    }

    /// Whether [`close`](Self::close) was called.
    #[getter]
    fn closed(&self) -> bool {
        self.http.is_closed()
    }
}

impl Client {
    /// `f` of the cache's answer for `request` when it would serve a fresh stored response
    /// as it is (looked up without moving a counter or the LRU order).
    fn fresh<X>(
        &self,
        request: &Request,
        f: impl FnOnce(&tether_core::CachePeek, tether_core::Timestamp) -> X,
    ) -> Option<X> {
        if !self.cached_methods.contains(request.method()) {
            return None;
        }
        self.http.with_engine(|engine, now, _| {
            let peek = engine.peek_cache(now, request)?;
            (!peek.bypass && peek.usability == Usability::Fresh).then(|| f(&peek, now))
        })
    }

    fn build(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        query: Option<Vec<(String, String)>>,
        headers: Option<Vec<(String, String)>>,
        body: Option<&Bound<'_, PyBytes>>,
    ) -> PyResult<Request> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {method:?}")))?;
        let mut builder = self.http.request(method, url);
        if let Some(pairs) = query.filter(|q| !q.is_empty()) {
            builder = builder.query(&pairs);
        }
        for (name, value) in headers.into_iter().flatten() {
            let (name, value) = header_pair(&name, &value)?;
            builder = builder.header(name, value);
        }
        if let Some(body) = body {
            builder = builder.body(Bytes::copy_from_slice(body.as_bytes()));
        }
        builder.build().map_err(|e| failure_of(&e).into_py_err(py))
    }
}

/// The method and URL as sent, for the response object.
struct Shown {
    method: String,
    url: String,
}

/// The request's result, whether its attempts were asked for, and what the response object
/// needs.
struct Sent {
    result: Result<Response, Error>,
    record: bool,
    shown: Shown,
}

/// One attempt as the Python layer sees it: `(attempt, started_s, latency_s, status,
/// error_kind, error_message, headers)`, times in seconds from the request's start.
pub(crate) struct AttemptInfo {
    attempt: u32,
    started: f64,
    latency: f64,
    status: Option<u16>,
    error_kind: Option<&'static str>,
    error_message: Option<String>,
    headers: Option<HeaderMap>,
}

impl AttemptInfo {
    pub(crate) fn to_python<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let headers = match &self.headers {
            None => None,
            Some(h) => Some(header_list(py, h)?),
        };
        Ok((
            self.attempt,
            self.started,
            self.latency,
            self.status,
            self.error_kind,
            self.error_message.as_deref(),
            headers,
        )
            .into_pyobject(py)?
            .into_any())
    }
}

/// The trace's attempts; the last one also gets the final response's headers or the final
/// error's message (the trace keeps neither for earlier attempts).
fn attempts(
    trace: &DecisionTrace,
    headers: Option<&HeaderMap>,
    error: Option<&str>,
) -> Vec<AttemptInfo> {
    let last = trace.attempts.len().saturating_sub(1);
    trace
        .attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (status, error_kind) = match a.result {
                AttemptResult::Status { status } => (Some(status), None),
                AttemptResult::Transport { error } => (None, Some(error.as_str())),
                _ => (None, Some("other")),
            };
            let is_last = i == last;
            AttemptInfo {
                attempt: a.attempt,
                started: a
                    .started_at
                    .saturating_duration_since(trace.started_at)
                    .as_secs_f64(),
                latency: a.latency.as_secs_f64(),
                status,
                error_kind,
                error_message: error
                    .filter(|_| is_last && error_kind.is_some())
                    .map(str::to_owned),
                headers: headers.filter(|_| is_last && status.is_some()).cloned(),
            }
        })
        .collect()
}

/// `(name, value)` string pairs, names lower-case as received; values decoded as Latin-1
/// when they are not UTF-8 (as httpx does).
pub(crate) fn header_list<'py>(
    py: Python<'py>,
    headers: &HeaderMap,
) -> PyResult<Bound<'py, PyList>> {
    let pairs = headers.iter().map(|(name, value)| {
        let value = match value.to_str() {
            Ok(s) => s.to_owned(),
            Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        (name.as_str(), value)
    });
    PyList::new(py, pairs)
}

impl Deliver for Sent {
    fn deliver(self, py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let Sent {
            result,
            record,
            shown,
        } = self;
        match result {
            Ok(response) => {
                let from_cache = response.from_cache();
                let attempts =
                    record.then(|| attempts(response.trace(), Some(response.headers()), None));
                let elapsed = response.trace().total;
                let (parts, body) = response.into_http().into_parts();
                let mut raw = RawResponse::new(
                    parts.status.as_u16(),
                    parts.headers,
                    body,
                    elapsed,
                    shown.url,
                    shown.method,
                    from_cache,
                );
                raw.attempts = attempts;
                let raw = Py::new(py, raw)?;
                match context {
                    Some(class) => Ok(class.call1((raw,))?.unbind()),
                    None => Ok(raw.into_any()),
                }
            }
            Err(error) => {
                let failure = failure_of(&error);
                let attempts = record.then(|| {
                    error.trace().map_or_else(Vec::new, |trace| {
                        attempts(trace, None, Some(failure.message.as_str()))
                    })
                });
                Err(Failure {
                    attempts,
                    ..failure
                }
                .into_py_err(py))
            }
        }
    }
}

/// A failed request as Rust data, made a [`RequestFailed`] exception on the loop thread.
pub(crate) struct Failure {
    kind: &'static str,
    message: String,
    service: Option<String>,
    http_status: u16,
    elapsed: f64,
    retry_after: Option<f64>,
    status: Option<u16>,
    body: Option<Bytes>,
    attempts: Option<Vec<AttemptInfo>>,
    is_request: bool,
}

fn failure_of(error: &Error) -> Failure {
    let kind = if error.is_request() && !matches!(error, Error::InvalidUrl { .. }) {
        "invalid_request"
    } else {
        error.kind()
    };
    let (status, body) = match &error {
        Error::Status { status, body, .. } => (Some(status.as_u16()), Some(body.clone())),
        _ => (None, None),
    };
    let message = match &error {
        // The transport's own detail, which names the phase (`timed out (connect)`).
        Error::Timeout { message, .. }
        | Error::Connect { message, .. }
        | Error::Transport { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Failure {
        kind,
        message,
        service: error.service().map(str::to_owned),
        http_status: error.http_status(),
        elapsed: error.trace().map_or(0.0, |t| t.total.as_secs_f64()),
        retry_after: error.retry_after().map(|d| d.as_secs_f64()),
        status,
        body,
        attempts: None,
        is_request: error.is_request(),
    }
}

impl IntoPyErr for Failure {
    fn into_py_err(self, py: Python<'_>) -> PyErr {
        let error = RequestFailed::new_err(self.message.clone());
        let value = error.value(py);
        let attempts = self.attempts.map(|list| {
            list.iter()
                .map(|a| a.to_python(py))
                .collect::<PyResult<Vec<_>>>()
        });
        let set = || -> PyResult<()> {
            value.setattr("kind", self.kind)?;
            value.setattr("message", &self.message)?;
            value.setattr("service", self.service.as_deref())?;
            value.setattr("http_status", self.http_status)?;
            value.setattr("elapsed", self.elapsed)?;
            value.setattr("retry_after", self.retry_after)?;
            value.setattr("status", self.status)?;
            value.setattr("body", self.body.as_deref().map(|b| PyBytes::new(py, b)))?;
            value.setattr("attempts", attempts.transpose()?)?;
            value.setattr("is_request", self.is_request)?;
            Ok(())
        };
        match set() {
            Ok(()) => error,
            Err(e) => e,
        }
    }
}

/// A metrics record in the original dict shape: its keys in the original order, and
/// `min_response_time` the int `0` when there were no requests; `cache_stats` and
/// `http_client_metrics` are left for the caller (`None` and absent).
fn original_metrics<T: serde::Serialize>(py: Python<'_>, record: &T) -> PyResult<Py<PyAny>> {
    let value = json::to_python(py, record)?;
    let dict = value.bind(py).cast::<PyDict>()?;
    if dict
        .get_item("total_requests")?
        .is_some_and(|t| t.eq(0).unwrap_or(false))
    {
        dict.set_item("min_response_time", 0)?;
    }
    if dict.contains("cache_stats")? {
        dict.set_item("cache_stats", py.None())?;
    }
    if dict.contains("http_client_metrics")? {
        dict.del_item("http_client_metrics")?;
    }
    Ok(value)
}

/// A service of a [`Client`]: the core service client, sharing the client's engine.
#[pyclass(frozen, module = "tether._tether")]
pub(crate) struct Service {
    pub(crate) inner: tether_native::ServiceClient,
}

#[pymethods]
impl Service {
    /// The service's numbers in the original `get_service_metrics()` order, without
    /// `http_client_metrics` (the caller adds the client's `get_metrics()`).
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        original_metrics(py, &self.inner.metrics())
    }

    /// `{service, state, failure_count, last_failure_time, failure_threshold}`.
    fn breaker_state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json::to_python(py, &self.inner.circuit_breaker_state())
    }

    /// `base_url + endpoint`, confined to the base URL; `ValueError` naming the reason.
    fn url(&self, endpoint: &str) -> PyResult<String> {
        service_url(self.inner.base_url(), endpoint)
    }

    /// The base URL as Tether keeps it.
    #[getter]
    fn base_url(&self) -> &str {
        self.inner.base_url()
    }
}

/// `base_url + endpoint`, confined to the base (an endpoint can never change the scheme, host
/// or port, nor leave the base path); `ValueError` naming the reason otherwise.
#[pyfunction]
pub(crate) fn service_url(base_url: &str, endpoint: &str) -> PyResult<String> {
    let base = tether_core::uri::ServiceBase::parse(base_url).map_err(|e| {
        PyValueError::new_err(format!(
            "invalid base URL {}: {e}",
            tether_core::redact_url(base_url)
        ))
    })?;
    base.join(endpoint).map_err(|e| {
        PyValueError::new_err(format!(
            "endpoint {} refused: {}",
            tether_core::uri::shown_endpoint(endpoint),
            e.reason
        ))
    })
}

/// `url` with secret query values replaced by `[REDACTED]` (the rule every log line and error
/// message follows).
#[pyfunction]
pub(crate) fn redact_url(url: &str) -> String {
    tether_core::redact_url(url)
}

/// Whether a header name is a secret (its value never reaches a log line or a hook).
#[pyfunction]
pub(crate) fn is_secret_header(name: &str) -> bool {
    tether_core::is_secret_header(name)
}

/// Whether a query parameter name is a secret.
#[pyfunction]
pub(crate) fn is_secret_param(name: &str) -> bool {
    tether_core::is_secret_param(name)
}
