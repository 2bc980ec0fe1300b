//! [`HttpClient`]: the resilient client, generic over its transport, runtime and hooks.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use http::{HeaderName, Method};

use super::background::Background;
use super::builder::HttpClientBuilder;
use super::drive::{Shared, Timed, attempt_outcome, probe_request, probe_result};
use super::hooks::{Hooks, SharedHooks};
use super::metrics::{CircuitBreakerState, ClientMetrics, HealthCheck};
use super::{Error, RequestBuilder, Response};
use crate::export::{
    ExportError, ExportSnapshot, Exporter, Format, PrometheusExporter, SystemSample,
};
use crate::metrics::ServiceSnapshot;
use crate::{
    Engine, EngineSnapshot, Redactor, Request, Runtime, Spawn, Timestamp, Transport, WallClock,
};

/// A resilient HTTP client: every request goes through the response cache, the circuit
/// breaker of its service (or host), retries with backoff and `Retry-After`, and metrics —
/// decided by the sans-IO [`Engine`] and recorded in a [`DecisionTrace`](crate::DecisionTrace)
/// on every response and error.
///
/// Written once, generic over the frontend's [`Transport`] (how an attempt reaches a
/// server), [`Runtime`] (clock, timers, seed, executor) and [`Hooks`]; each frontend names
/// its own pair (`tether_native::HttpClient` is this client over its transport and tokio).
///
/// Cheap to clone: clones share the engine, the transport, the hooks and the background
/// driver. The driver stops with [`close`](Self::close) or when the last clone is dropped.
///
/// ```no_run
/// # async fn demo<T, R>(transport: T, runtime: R) -> Result<(), tether_core::client::Error>
/// # where T: tether_core::Transport, R: tether_core::Runtime
/// #     + tether_core::Spawn<tether_core::client::Background<T, R, tether_core::client::SharedHooks>>,
/// # {
/// use std::time::Duration;
/// use tether_core::client::HttpClientBuilder;
///
/// let client = HttpClientBuilder::new(transport, runtime)
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// let response = client
///     .get("https://api.example.com/items")
///     .query(&[("q", "rust & tether")])
///     .send()
///     .await?;
/// println!("{} {}", response.status(), response.trace().summary());
/// println!("{}", client.prometheus());
/// # Ok(()) }
/// ```
pub struct HttpClient<T: Transport, R: Runtime, H: Hooks = SharedHooks> {
    handle: Arc<Handle<T, R, H>>,
}

/// What the user-held clones share; dropping the last one closes the client (the background
/// driver holds only the [`Shared`] part).
struct Handle<T: Transport, R: Runtime, H: Hooks> {
    shared: Arc<Shared<T, R, H>>,
}

impl<T: Transport, R: Runtime, H: Hooks> Drop for Handle<T, R, H> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Clone for HttpClient<T, R, H> {
    fn clone(&self) -> Self {
        HttpClient {
            handle: Arc::clone(&self.handle),
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for HttpClient<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T, R, H> HttpClient<T, R, H>
where
    T: Transport + Default,
    R: Runtime + Default + Spawn<Background<T, R, H>>,
    H: Hooks + Default,
{
    /// A builder with the default transport, runtime, hooks and configuration.
    pub fn builder() -> HttpClientBuilder<T, R, H> {
        HttpClientBuilder::new(T::default(), R::default())
    }

    /// A client with the defaults.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }
}

impl<T: Transport, R: Runtime, H: Hooks> HttpClient<T, R, H> {
    pub(crate) fn from_shared(shared: Arc<Shared<T, R, H>>) -> Self {
        HttpClient {
            handle: Arc::new(Handle { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared<T, R, H>> {
        &self.handle.shared
    }

    /// Starts a request with any method token (`GET`, `PURGE`, …).
    pub fn request(&self, method: Method, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        RequestBuilder::new(self.clone(), method, url.into())
    }

    /// `GET url`.
    pub fn get(&self, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        self.request(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(&self, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        self.request(Method::POST, url)
    }

    /// `PUT url`.
    pub fn put(&self, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        self.request(Method::PUT, url)
    }

    /// `PATCH url`.
    pub fn patch(&self, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        self.request(Method::PATCH, url)
    }

    /// `DELETE url`.
    pub fn delete(&self, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        self.request(Method::DELETE, url)
    }

    /// `HEAD url`.
    pub fn head(&self, url: impl Into<String>) -> RequestBuilder<T, R, H> {
        self.request(Method::HEAD, url)
    }

    /// Sends a ready-made request (absolute URL; the client's default headers are added
    /// where it has none of that name), accounted under `service` (the URL's host when
    /// `None`). A [`Deadline`](crate::Deadline) in its extensions bounds it.
    pub fn execute(
        &self,
        request: Request,
        service: Option<&str>,
    ) -> impl Future<Output = Result<Response, Error>> {
        let client = self.clone();
        let service = service.map(str::to_owned);
        async move { client.execute_with(request, service.as_deref(), None).await }
    }

    pub(crate) async fn execute_with(
        &self,
        request: Request,
        service: Option<&str>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Response, Error> {
        self.ensure_background();
        self.shared().execute(request, service, timeout).await
    }

    /// The original `get_metrics()`: totals over every service this client has called.
    pub fn metrics(&self) -> ClientMetrics {
        let (global, cache) = self.with_engine(|e, now, wall| {
            let s = e.snapshot(now, wall);
            (s.metrics.global, s.cache)
        });
        ClientMetrics::from_snapshot(&global, cache)
    }

    /// Metrics of one service (or host), if it has been called or registered.
    pub fn service_metrics(&self, service: &str) -> Option<ServiceSnapshot> {
        self.with_engine(|e, _, _| e.metrics().service_snapshot(service))
    }

    /// Everything the engine knows: metrics per service, cache, breakers, health, alerts.
    pub fn engine_snapshot(&self) -> EngineSnapshot {
        self.with_engine(|e, now, wall| e.snapshot(now, wall))
    }

    /// The input of the JSON / Prometheus / InfluxDB exporters (`system`: a host sample, if
    /// the frontend takes one).
    pub fn export_snapshot(&self, system: Option<SystemSample>) -> ExportSnapshot {
        self.with_engine(|e, now, wall| e.export_snapshot(now, wall, system))
    }

    /// Every metric in the Prometheus text exposition format (0.0.4), ready to serve.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        PrometheusExporter::default()
            .export(&self.export_snapshot(None), &mut out)
            .expect("writing Prometheus text into a String cannot fail");
        out
    }

    /// Every metric as `json`, `prometheus` or `influxdb` (line protocol);
    /// [`ExportError::UnknownFormat`] for any other name.
    pub fn export(&self, format: &str) -> Result<String, ExportError> {
        let format: Format = format.parse()?;
        crate::export::export(format, &self.export_snapshot(None))
    }

    /// The breaker of `service` in the original `get_state()` shape (a service never called
    /// reports a closed breaker with the configured threshold).
    pub fn circuit_breaker_state(&self, service: &str) -> CircuitBreakerState {
        self.with_engine(|e, now, _| {
            if let Some(b) = e.breakers().get(service) {
                let s = b.snapshot(now);
                CircuitBreakerState {
                    service: service.to_owned(),
                    state: crate::compat::breaker_state(s.state),
                    failure_count: s.failure_count,
                    last_failure_time: s.last_failure_rfc3339(),
                    failure_threshold: s.failure_threshold,
                }
            } else {
                let breakers = &e.config().breakers;
                let threshold = breakers
                    .overrides
                    .get(service)
                    .unwrap_or(&breakers.default)
                    .consecutive_failures;
                CircuitBreakerState {
                    service: service.to_owned(),
                    state: "CLOSED",
                    failure_count: 0,
                    last_failure_time: None,
                    failure_threshold: threshold,
                }
            }
        })
    }

    /// Runs `f` on the locked engine with the current monotonic and wall-clock times (breaker
    /// control, cache invalidation, snapshots); the events it causes reach the hooks
    /// afterwards. Never call the client from inside `f`.
    pub fn with_engine<X>(&self, f: impl FnOnce(&mut Engine, Timestamp, WallClock) -> X) -> X {
        self.shared().with_engine(f)
    }

    /// Adds the client's default headers that `request` does not set — per name, every value
    /// of it — as sending it does (applying them twice changes nothing). For a frontend that
    /// asks the cache about a request before sending it (`with_engine` and
    /// [`Engine::peek_cache`](crate::Engine::peek_cache)) and must see the request as it will
    /// be keyed.
    pub fn apply_default_headers(&self, request: &mut Request) {
        self.shared().apply_default_headers(request);
    }

    /// The hooks: hooks added to a list after the client was built apply to later requests.
    pub fn hooks(&self) -> &H {
        &self.shared().hooks
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.shared().transport
    }

    /// The runtime.
    pub fn runtime(&self) -> &R {
        &self.shared().runtime
    }

    /// The redaction rule of this client's events, errors and `Debug` output (set with
    /// [`HttpClientBuilder::redactor`]); use it to show requests in your own logs the same way.
    pub fn redactor(&self) -> &Redactor {
        &self.shared().redactor
    }

    /// The header that marks a non-idempotent request as safe to retry.
    pub fn idempotency_header(&self) -> &HeaderName {
        &self.shared().idempotency_header
    }

    /// Registers an active health check: the background driver sends `GET url` every
    /// `health.check_interval` and reports 2xx in time as healthy.
    pub fn register_health_check(&self, service: &str, url: &str) {
        self.shared()
            .health_urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.to_owned(), url.to_owned());
        // A health tracker at its limit of services leaves this one to passive signals.
        let _ = self.with_engine(|e, now, _| e.register_health_check(now, service));
    }

    /// Probes `GET url` directly over the transport — no cache, retry or breaker — within
    /// the engine's health `check_timeout`, and reports the result to the engine's health
    /// tracker under `service`. 2xx is healthy.
    pub(crate) async fn probe(&self, service: &str, url: &str) -> HealthCheck {
        let shared = self.shared();
        if let Err(e) = shared.runtime.check() {
            // Nothing was probed: the service's health is left as it is.
            return HealthCheck {
                service: service.to_owned(),
                healthy: false,
                status_code: None,
                check_time: 0.0,
                last_check: shared.runtime.wall().to_rfc3339(),
                error: Some(e.reason),
            };
        }
        let limit = self.with_engine(|e, _, _| e.config().health.check_timeout);
        let started = shared.runtime.now();
        let outcome = match probe_request(url) {
            Ok(request) => {
                let send = pin!(shared.transport.send(request, Some(limit)));
                let timer = pin!(shared.runtime.sleep(limit));
                attempt_outcome(Timed::new(send, Some(timer)).await, Some(limit))
            }
            Err(e) => Err(crate::TransportError::new(
                crate::TransportErrorKind::Other,
                e.to_string(),
            )),
        };
        let latency = shared.runtime.now().saturating_duration_since(started);
        let (mut result, status_code) = probe_result(&outcome, latency);
        // The detail reaches health events, exports and logs: the client's rule applies.
        result.detail = result
            .detail
            .map(|d| super::error::shown_message(&d, &shared.redactor));
        let check = HealthCheck {
            service: service.to_owned(),
            healthy: result.ok,
            status_code,
            check_time: latency.as_secs_f64(),
            last_check: shared.runtime.wall().to_rfc3339(),
            error: result.detail.clone(),
        };
        self.with_engine(|e, now, wall| e.on_check_result(now, wall, service, result));
        check
    }

    /// Whether `other` is a clone of this client (they share one engine, cache and
    /// transport), e.g. to count a cache shared by several services once.
    pub fn same_client(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.shared(), other.shared())
    }

    /// Closes the client: later requests fail with [`Error::Closed`] and the background
    /// driver stops. Idempotent; clones share the closed state.
    pub fn close(&self) {
        self.shared().close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared().is_closed()
    }

    /// Whether a background driver runs (or is about to) for this client; `false` once the
    /// client is closed (its driver then ends at its next wake-up).
    pub fn background_running(&self) -> bool {
        !self.is_closed() && self.shared().background.load(Ordering::Acquire)
    }

    /// The background driver, for a frontend to drive itself when its runtime cannot spawn
    /// (see [`Background`]). It finishes at once if another driver is running.
    pub fn run_background(&self) -> Background<T, R, H> {
        Background::new(Arc::clone(self.shared()))
    }

    /// Starts a background driver if none runs and the runtime can spawn one.
    pub(crate) fn ensure_background(&self) {
        let shared = self.shared();
        let Some(spawn) = shared.spawn else {
            return;
        };
        if shared.is_closed() || shared.background.load(Ordering::Acquire) {
            return;
        }
        let driver = Background::new(Arc::clone(shared));
        // A driver that lost the race for the slot, or that the runtime refused, is dropped
        // here or inside `spawn` (it gives the slot back).
        let _ = spawn(&shared.runtime, driver);
    }
}
