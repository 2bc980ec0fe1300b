//! [`ServiceClient`]: a client bound to one upstream service — a base URL, and a name that
//! keys its metrics and circuit breaker — whose endpoints can never leave that base, and whose
//! 4xx/5xx answers come back as typed errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::background::Background;
use super::builder::HttpClientBuilder;
use super::error::shown_url;
use super::hooks::{Hooks, SharedHooks};
use super::metrics::{CircuitBreakerState, HealthCheck, ServiceMetrics};
use super::{Error, HttpClient, RequestBuilder};
use crate::breaker::BreakerConfig;
use crate::cache::CacheConfig;
use crate::redact::redact_url;
use crate::uri::{RedirectScope, ServiceBase, shown_endpoint};
use crate::{Runtime, Spawn, Transport};

/// Configures a [`ServiceClient`]. Start from [`ServiceClient::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServiceClientBuilder<T: Transport, R: Runtime, H: Hooks> {
    service_name: String,
    base_url: String,
    client: ClientSource<T, R, H>,
    health_path: String,
}

enum ClientSource<T: Transport, R: Runtime, H: Hooks> {
    /// A client of its own, built from this.
    Own(Box<HttpClientBuilder<T, R, H>>),
    /// A client shared with other services.
    Shared(HttpClient<T, R, H>),
}

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for ServiceClientBuilder<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClientBuilder")
            .field("service_name", &self.service_name)
            .field("base_url", &redact_url(&self.base_url))
            .finish_non_exhaustive()
    }
}

impl<T: Transport, R: Runtime, H: Hooks> ServiceClientBuilder<T, R, H> {
    /// A builder for `service_name` at `base_url`; the service gets its own client built
    /// from `client` unless [`http_client`](Self::http_client) shares one.
    pub fn new(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
        client: HttpClientBuilder<T, R, H>,
    ) -> Self {
        ServiceClientBuilder {
            service_name: service_name.into(),
            base_url: base_url.into(),
            client: ClientSource::Own(Box::new(client)),
            health_path: "/health".to_owned(),
        }
    }

    /// Uses `client` (shared with other services) instead of building one. Its engine then
    /// holds this service's breaker and metrics beside the others'; the builder's own client
    /// settings (`timeout`, `breaker`, …) no longer apply.
    pub fn http_client(mut self, client: HttpClient<T, R, H>) -> Self {
        self.client = ClientSource::Shared(client);
        self
    }

    /// Adjusts the configuration of the service's own client (ignored with a shared one).
    pub fn configure(
        mut self,
        f: impl FnOnce(HttpClientBuilder<T, R, H>) -> HttpClientBuilder<T, R, H>,
    ) -> Self {
        if let ClientSource::Own(b) = self.client {
            self.client = ClientSource::Own(Box::new(f(*b)));
        }
        self
    }

    /// Per-attempt time limit ([`HttpClientBuilder::timeout`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|b| b.timeout(timeout))
    }

    /// Retries after the first attempt.
    pub fn max_retries(self, max_retries: u32) -> Self {
        self.configure(|b| b.max_retries(max_retries))
    }

    /// The response cache.
    pub fn cache(self, cache: CacheConfig) -> Self {
        self.configure(|b| b.cache(cache))
    }

    /// Turns the response cache off.
    pub fn no_cache(self) -> Self {
        self.configure(HttpClientBuilder::no_cache)
    }

    /// This service's circuit breaker.
    pub fn breaker(self, breaker: BreakerConfig) -> Self {
        let name = self.service_name.clone();
        self.configure(|b| b.service_breaker(name, breaker))
    }

    /// The path [`ServiceClient::health_check`] probes (default `/health`); it must stay
    /// under the base URL like any endpoint.
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }

    /// Builds the client; fails on an invalid base URL, health path or configuration.
    pub fn build(self) -> Result<ServiceClient<T, R, H>, Error>
    where
        R: Spawn<Background<T, R, H>>,
    {
        let redactor = match &self.client {
            ClientSource::Own(b) => b.redactor_ref().clone(),
            ClientSource::Shared(c) => c.redactor().clone(),
        };
        let base = ServiceBase::parse(&self.base_url)
            .map_err(|e| Error::from_request(e, &self.base_url, &redactor))?;
        // The health probe obeys the same confinement as every endpoint.
        let health_url = base
            .join(&self.health_path)
            .map_err(|e| Error::InvalidEndpoint {
                service: self.service_name.clone(),
                endpoint: shown_url(&shown_endpoint(&self.health_path), &redactor),
                reason: e.reason,
            })?;
        let (http, owns_client) = match self.client {
            ClientSource::Shared(c) => (c, false),
            ClientSource::Own(b) => ((*b).build()?, true),
        };
        http.with_engine(|e, _, _| e.register_service(&self.service_name));
        Ok(ServiceClient {
            inner: Arc::new(ServiceInner {
                service_name: self.service_name,
                scope: RedirectScope::new(base),
                http,
                owns_client,
                health_url,
            }),
        })
    }
}

struct ServiceInner<T: Transport, R: Runtime, H: Hooks> {
    service_name: String,
    /// The base URL, which also bounds where redirects may lead.
    scope: RedirectScope,
    http: HttpClient<T, R, H>,
    owns_client: bool,
    /// `base_url + health_path`, confined like every endpoint.
    health_url: String,
}

/// A client for one upstream service.
///
/// * `base_url` (trailing `/` removed) and `service_name`, which keys the service's metrics
///   and circuit breaker (HTTP 5xx and transport failures count against it).
/// * [`call_service`](Self::call_service) and [`get`](Self::get), [`post`](Self::post), …
///   take an **endpoint path**, checked so that it can never change the scheme, host or port
///   nor leave the base path: `@evil/x`, `//evil/x`, absolute URLs, `..` segments (also
///   encoded), backslashes and control characters are refused with
///   [`Error::InvalidEndpoint`] before anything is sent (see [`ServiceBase::join`]).
/// * Redirects, when the transport follows them, never leave the base URL either: every
///   request carries the base as a [`RedirectScope`], and a 3xx pointing elsewhere is
///   returned as it is.
/// * 4xx and 5xx become [`Error::Status`] (`Service <name> returned <status>: <detail>`);
///   transport failures and an open breaker become errors whose [`Error::http_status`] is
///   502, 504 or 503.
///
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo<T, R>(users: tether_core::client::ServiceClient<T, R>) -> Result<(), tether_core::client::Error>
/// # where T: tether_core::Transport, R: tether_core::Runtime {
/// let user: serde_json::Value = users
///     .get("/users/42")
///     .header("X-Request-ID", "abc")
///     .send_json()
///     .await?;
/// assert!(users.get("@evil.example/x").send().await.is_err());
/// # Ok(()) }
/// ```
pub struct ServiceClient<T: Transport, R: Runtime, H: Hooks = SharedHooks> {
    inner: Arc<ServiceInner<T, R, H>>,
}

impl<T: Transport, R: Runtime, H: Hooks> Clone for ServiceClient<T, R, H> {
    fn clone(&self) -> Self {
        ServiceClient {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for ServiceClient<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("service_name", &self.inner.service_name)
            .field(
                "base_url",
                &self.inner.http.redactor().redact_url(self.base_url()),
            )
            .finish_non_exhaustive()
    }
}

impl<T, R, H> ServiceClient<T, R, H>
where
    T: Transport + Default,
    R: Runtime + Default + Spawn<Background<T, R, H>>,
    H: Hooks + Default,
{
    /// A builder; the service gets its own [`HttpClient`] with the defaults unless
    /// [`http_client`](ServiceClientBuilder::http_client) shares one.
    pub fn builder(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
    ) -> ServiceClientBuilder<T, R, H> {
        ServiceClientBuilder::new(service_name, base_url, HttpClient::builder())
    }

    /// A client with its own [`HttpClient`] and the defaults.
    pub fn new(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::builder(service_name, base_url).build()
    }
}

impl<T, R, H> ServiceClient<T, R, H>
where
    T: Transport,
    R: Runtime + Spawn<Background<T, R, H>>,
    H: Hooks,
{
    /// A client that shares `http` (its engine, transport and hooks) with other services.
    pub fn with_client(
        service_name: impl Into<String>,
        base_url: impl Into<String>,
        http: HttpClient<T, R, H>,
    ) -> Result<Self, Error> {
        let builder = ServiceClientBuilder {
            service_name: service_name.into(),
            base_url: base_url.into(),
            client: ClientSource::Shared(http),
            health_path: "/health".to_owned(),
        };
        builder.build()
    }
}

impl<T: Transport, R: Runtime, H: Hooks> ServiceClient<T, R, H> {
    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.inner.scope.base().as_str()
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        &self.inner.service_name
    }

    /// The underlying client.
    pub fn http_client(&self) -> &HttpClient<T, R, H> {
        &self.inner.http
    }

    /// Starts a call to `endpoint` (a path such as `/users/42?x=1`, joined to the base URL),
    /// accounted under the service, with 4xx/5xx as [`Error::Status`]. An endpoint that would
    /// leave the base URL makes `send` fail with [`Error::InvalidEndpoint`] without sending
    /// anything.
    pub fn call_service(&self, method: Method, endpoint: &str) -> RequestBuilder<T, R, H> {
        let inner = &self.inner;
        match inner.scope.base().join(endpoint) {
            Ok(url) => inner
                .http
                .request(method, url)
                .service(inner.service_name.clone())
                .scope(inner.scope.clone())
                .error_for_status(),
            Err(e) => inner
                .http
                .request(method, self.base_url())
                .fail(Error::InvalidEndpoint {
                    service: inner.service_name.clone(),
                    endpoint: shown_url(&shown_endpoint(endpoint), inner.http.redactor()),
                    reason: e.reason,
                }),
        }
    }

    /// `GET endpoint`.
    pub fn get(&self, endpoint: &str) -> RequestBuilder<T, R, H> {
        self.call_service(Method::GET, endpoint)
    }

    /// `POST endpoint`.
    pub fn post(&self, endpoint: &str) -> RequestBuilder<T, R, H> {
        self.call_service(Method::POST, endpoint)
    }

    /// `PUT endpoint`.
    pub fn put(&self, endpoint: &str) -> RequestBuilder<T, R, H> {
        self.call_service(Method::PUT, endpoint)
    }

    /// `PATCH endpoint`.
    pub fn patch(&self, endpoint: &str) -> RequestBuilder<T, R, H> {
        self.call_service(Method::PATCH, endpoint)
    }

    /// `DELETE endpoint`.
    pub fn delete(&self, endpoint: &str) -> RequestBuilder<T, R, H> {
        self.call_service(Method::DELETE, endpoint)
    }

    /// `HEAD endpoint`.
    pub fn head(&self, endpoint: &str) -> RequestBuilder<T, R, H> {
        self.call_service(Method::HEAD, endpoint)
    }

    /// This service's numbers, then the whole client's (the original
    /// `get_service_metrics()`).
    pub fn metrics(&self) -> ServiceMetrics {
        let http = &self.inner.http;
        let service = &self.inner.service_name;
        let s = http.service_metrics(service).unwrap_or_default();
        ServiceMetrics::new(service, s, http.metrics())
    }

    /// The service's breaker: `service`, `state` (upper case), `failure_count`,
    /// `last_failure_time`, `failure_threshold` (the original `get_circuit_breaker_state()`).
    pub fn circuit_breaker_state(&self) -> CircuitBreakerState {
        self.inner
            .http
            .circuit_breaker_state(&self.inner.service_name)
    }

    /// Probes `GET <base_url><health_path>` directly over the transport — no cache, retry or
    /// breaker — within the engine's health `check_timeout`, and reports the result to the
    /// engine's health tracker. 2xx is healthy. The background driver's periodic checks
    /// ([`enable_health_checks`](Self::enable_health_checks)) run the same probe.
    pub async fn health_check(&self) -> HealthCheck {
        self.inner
            .http
            .probe(&self.inner.service_name, &self.inner.health_url)
            .await
    }

    /// Registers this service for active health checks by the client's background driver
    /// (every `health.check_interval`, `GET <base_url><health_path>`).
    pub fn enable_health_checks(&self) {
        self.inner
            .http
            .register_health_check(&self.inner.service_name, &self.inner.health_url);
    }

    /// Drops this service's cached responses and returns how many: everything its own client
    /// cached, or — with a client shared with other services — the entries under its base URL
    /// (which may include a sibling service whose base URL extends this one).
    pub fn clear_cache(&self) -> usize {
        let inner = &self.inner;
        if inner.owns_client {
            return inner.http.with_engine(|e, _, _| e.invalidate_cache());
        }
        // Stored URLs are normalised (lower-case scheme and host, default port elided), as the
        // URL parser writes them; the base parsed when the client was built.
        let prefix = url::Url::parse(inner.scope.base().as_str()).map_or_else(
            |_| inner.scope.base().as_str().to_owned(),
            |u| u.as_str().trim_end_matches('/').to_owned(),
        );
        inner
            .http
            .with_engine(|e, _, _| e.invalidate_cache_prefix(&prefix))
    }

    /// Closes the service's own client (a shared client is left open: close it where it was
    /// made).
    pub fn close(&self) {
        if self.inner.owns_client {
            self.inner.http.close();
        }
    }
}
