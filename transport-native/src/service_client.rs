//! [`ServiceClient`]: a client bound to one upstream service — a base URL, a name that keys
//! its metrics and circuit breaker — whose endpoints can never leave that base (the original
//! joined `base_url + endpoint` unchecked, so `@evil.example/x` went elsewhere), and whose
//! 4xx/5xx answers come back as typed errors with the original's messages.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tether_core::BreakerConfig;
use tether_core::CacheConfig;
use tether_core::CheckResult;
use tether_core::CountMap;
use tether_core::redact_url;
use tether_core::{Runtime as _, Transport as _};

use crate::error::Error;
use crate::hooks::TARGET;
use crate::http_client::{
    CircuitBreakerState, ClientMetrics, HttpClient, HttpClientBuilder, RequestBuilder, Response,
};

/// Configures a [`ServiceClient`]. Start from [`ServiceClient::builder`].
#[derive(Debug, Clone)]
pub struct ServiceClientBuilder {
    service_name: String,
    base_url: String,
    shared: Option<HttpClient>,
    http: HttpClientBuilder,
    health_path: String,
}

impl ServiceClientBuilder {
    /// Uses `client` (shared with other services) instead of building one. Its engine then
    /// holds this service's breaker and metrics beside the others'; the builder's own
    /// client settings (`timeout`, `breaker`, …) are ignored.
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.shared = Some(client);
        self
    }

    /// Adjusts the service's own client configuration.
    pub fn configure(mut self, f: impl FnOnce(HttpClientBuilder) -> HttpClientBuilder) -> Self {
        self.http = f(self.http);
        self
    }

    /// Per-attempt time limit (see [`HttpClientBuilder::timeout`]).
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

    /// Keep-alive connections kept for this service.
    pub fn pool_size(self, pool_size: usize) -> Self {
        self.configure(|b| b.pool_size(pool_size))
    }

    /// This service's circuit breaker.
    pub fn breaker(self, breaker: BreakerConfig) -> Self {
        let name = self.service_name.clone();
        self.configure(|b| b.service_breaker(name, breaker))
    }

    /// The path [`ServiceClient::health_check`] probes (default `/health`).
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }

    /// Builds the client; fails on an invalid base URL or configuration.
    pub fn build(self) -> Result<ServiceClient, Error> {
        let base_url = self.base_url.trim_end_matches('/').to_owned();
        let base = parse_base(&base_url)?;
        // The health probe obeys the same guard as every endpoint.
        let health_url = endpoint_url(&base, &base_url, &self.health_path).map_err(|reason| {
            Error::InvalidEndpoint {
                service: self.service_name.clone(),
                endpoint: shown_endpoint(&self.health_path),
                reason,
            }
        })?;
        let (http, owns_client) = match self.shared {
            Some(c) => (c, false),
            None => (self.http.build()?, true),
        };
        http.with_engine(|e, _, _| e.register_service(&self.service_name));
        Ok(ServiceClient {
            inner: Arc::new(ServiceInner {
                service_name: self.service_name,
                base_url,
                base,
                http,
                owns_client,
                health_url,
            }),
        })
    }
}

struct ServiceInner {
    service_name: String,
    base_url: String,
    base: url::Url,
    http: HttpClient,
    owns_client: bool,
    /// `base_url + health_path`, checked by the endpoint guard.
    health_url: String,
}

/// A client for one upstream service.
///
/// * `base_url` (trailing `/` removed) and `service_name`, which keys the service's metrics
///   and circuit breaker (HTTP 5xx and transport failures count; the original counted only
///   exceptions, so a 5xx after retries reset it).
/// * [`call_service`](Self::call_service) takes an **endpoint path**, checked so that it can
///   never change the scheme, host, port or leave the base path: `@evil/x`, `//evil/x`,
///   absolute URLs, `..` segments, backslashes and control characters are refused with
///   [`Error::InvalidEndpoint`] before anything is sent.
/// * 4xx and 5xx become [`Error::Status`] with the original's message; transport failures
///   and an open breaker become errors whose [`Error::http_status`] is 502, 504 or 503.
///
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_native::Error> {
/// use http::Method;
/// use tether_native::ServiceClient;
///
/// let users = ServiceClient::new("users", "http://127.0.0.1:8081/")?;
/// let user: serde_json::Value = users
///     .call_service(Method::GET, "/users/42")
///     .header("X-Request-ID", "abc")
///     .send_json()
///     .await?;
/// assert!(users.call_service(Method::GET, "@evil.example/x").send().await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServiceClient {
    inner: Arc<ServiceInner>,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("service_name", &self.inner.service_name)
            .field("base_url", &redact_url(&self.inner.base_url))
            .finish_non_exhaustive()
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
            service_name: service_name.into(),
            base_url: base_url.into(),
            shared: None,
            http: HttpClient::builder(),
            health_path: "/health".to_owned(),
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
        http: HttpClient,
    ) -> Result<Self, Error> {
        Self::builder(service_name, base_url)
            .http_client(http)
            .build()
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        &self.inner.service_name
    }

    /// The underlying client.
    pub fn http_client(&self) -> &HttpClient {
        &self.inner.http
    }

    /// Starts a call to `endpoint` (a path such as `/users/42?x=1`, joined to the base URL).
    /// An endpoint that would leave the base URL makes `send` fail with
    /// [`Error::InvalidEndpoint`] without sending anything.
    pub fn call_service(&self, method: Method, endpoint: &str) -> ServiceRequest {
        let inner = match endpoint_url(&self.inner.base, &self.inner.base_url, endpoint) {
            Ok(url) => self
                .inner
                .http
                .request(method, url)
                .service(self.inner.service_name.clone()),
            Err(reason) => self
                .inner
                .http
                .request(method, self.inner.base_url.clone())
                .fail(Error::InvalidEndpoint {
                    service: self.inner.service_name.clone(),
                    endpoint: shown_endpoint(endpoint),
                    reason,
                }),
        };
        ServiceRequest {
            inner,
            endpoint: shown_endpoint(endpoint),
        }
    }

    /// `GET endpoint`.
    pub fn get(&self, endpoint: &str) -> ServiceRequest {
        self.call_service(Method::GET, endpoint)
    }

    /// `POST endpoint`.
    pub fn post(&self, endpoint: &str) -> ServiceRequest {
        self.call_service(Method::POST, endpoint)
    }

    /// The original `get_service_metrics()`: this service's numbers, then the whole client's.
    pub fn get_service_metrics(&self) -> ServiceMetrics {
        let s = self
            .inner
            .http
            .service_metrics(&self.inner.service_name)
            .unwrap_or_default();
        let client = self.inner.http.metrics();
        ServiceMetrics {
            service: self.inner.service_name.clone(),
            total_requests: s.total_requests,
            successful_requests: s.successful_requests,
            failed_requests: s.failed_requests,
            success_rate: s.success_rate,
            average_response_time: s.average_response_time,
            min_response_time: s.min_response_time,
            max_response_time: s.max_response_time,
            error_counts: s.error_counts,
            last_request_time: s.last_request_time.map(tether_core::WallClock::to_rfc3339),
            http_client_metrics: client,
        }
    }

    /// The original `get_circuit_breaker_state()`: `service`, `state` (upper case),
    /// `failure_count`, `last_failure_time`, `failure_threshold`.
    pub fn get_circuit_breaker_state(&self) -> CircuitBreakerState {
        self.inner
            .http
            .circuit_breaker_state(&self.inner.service_name)
    }

    /// Probes `GET <base_url><health_path>` directly over the transport — no cache, retry
    /// or breaker, limited by the engine's health `check_timeout` — and reports it to the
    /// engine's health tracker when the service is registered there
    /// ([`enable_health_checks`](Self::enable_health_checks)). 2xx is healthy.
    ///
    /// The original `ServiceClient` had no such method although its gateway called one
    /// (and crashed); this is the obvious meaning, documented.
    pub async fn health_check(&self) -> HealthCheck {
        let http = &self.inner.http;
        let runtime = *http.core().runtime();
        let url = self.inner.health_url.clone();
        let timeout = http.with_engine(|e, _, _| e.config().health.check_timeout);
        let started = runtime.now();
        let result = match http::Request::get(url.as_str()).body(Bytes::new()) {
            Ok(request) => {
                let send = http.core().transport().send(request, Some(timeout));
                match tokio::time::timeout(timeout, send).await {
                    Ok(Ok(r)) => Ok(r.status().as_u16()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("timed out after {timeout:?}")),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let latency = runtime.now().saturating_duration_since(started);
        let wall = runtime.wall();
        let (healthy, status_code, error) = match result {
            Ok(s) if (200..300).contains(&s) => (true, Some(s), None),
            Ok(s) => (false, Some(s), Some(format!("status {s}"))),
            Err(e) => (false, None, Some(e)),
        };
        let check = if healthy {
            CheckResult::passed(latency)
        } else {
            CheckResult::failed(latency, error.clone().unwrap_or_default())
        };
        let name = self.inner.service_name.clone();
        http.with_engine(|e, now, wall| e.on_check_result(now, wall, &name, check));
        HealthCheck {
            service: self.inner.service_name.clone(),
            healthy,
            status_code,
            check_time: latency.as_secs_f64(),
            last_check: wall.to_rfc3339(),
            error,
        }
    }

    /// Registers this service for active health checks by the client's background driver
    /// (every `health.check_interval`, `GET <base_url><health_path>`).
    pub fn enable_health_checks(&self) {
        let url = self.inner.health_url.clone();
        self.inner
            .http
            .core()
            .register_health_check(&self.inner.service_name, &url);
    }

    /// Closes the service's own client (a shared client is left open: close it where it was
    /// made).
    pub fn close(&self) {
        if self.inner.owns_client {
            self.inner.http.close();
        }
    }
}

/// A call being built by [`ServiceClient::call_service`].
#[must_use = "a request does nothing until it is sent"]
pub struct ServiceRequest {
    inner: RequestBuilder,
    endpoint: String,
}

impl fmt::Debug for ServiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceRequest")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ServiceRequest {
    /// Adds a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        self.inner = self.inner.header(name, value);
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.inner = self.inner.headers(headers);
        self
    }

    /// Appends query parameters.
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        self.inner = self.inner.query(pairs);
        self
    }

    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.inner = self.inner.json(value);
        self
    }

    /// A form body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        self.inner = self.inner.form(pairs);
        self
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.inner = self.inner.body(body);
        self
    }

    /// A limit on the whole call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.timeout(timeout);
        self
    }

    /// Marks a non-idempotent call as safe to retry.
    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.inner = self.inner.idempotency_key(key);
        self
    }

    /// Sends the call: a 1xx–3xx response, or [`Error::Status`] for 4xx/5xx, or another
    /// [`Error`].
    pub fn send(self) -> impl Future<Output = Result<Response, Error>> + Send + 'static {
        let endpoint = self.endpoint;
        let sent = self.inner.send();
        async move {
            let result = sent.await.and_then(Response::error_for_status);
            match &result {
                Ok(r) => tracing::debug!(
                    target: TARGET,
                    service = r.service(),
                    endpoint = %endpoint,
                    status = r.status().as_u16(),
                    response_time = r.trace().total.as_secs_f64(),
                    from_cache = r.from_cache(),
                    "Performance metrics"
                ),
                Err(e) => tracing::debug!(
                    target: TARGET,
                    service = e.service().unwrap_or(""),
                    endpoint = %endpoint,
                    kind = e.kind(),
                    http_status = e.http_status(),
                    error = %e,
                    "service call failed"
                ),
            }
            result
        }
    }

    /// Sends the call and parses a successful body as JSON into `T`.
    pub fn send_json<T: DeserializeOwned>(
        self,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        let sent = self.send();
        async move { sent.await?.json() }
    }

    /// Sends the call and returns the body as JSON, or — as the original did when parsing
    /// fails — `{"data": <text>, "status_code": <status>}`.
    pub fn send_value(
        self,
    ) -> impl Future<Output = Result<serde_json::Value, Error>> + Send + 'static {
        let sent = self.send();
        async move {
            let r = sent.await?;
            Ok(r.json().unwrap_or_else(
                |_| serde_json::json!({ "data": r.text(), "status_code": r.status().as_u16() }),
            ))
        }
    }
}

/// The original `get_service_metrics()` keys, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceMetrics {
    /// The service name.
    pub service: String,
    /// Logical requests (cache hits included).
    pub total_requests: u64,
    /// Requests answered below 400.
    pub successful_requests: u64,
    /// Requests that failed (4xx/5xx, transport, breaker).
    pub failed_requests: u64,
    /// `successful / completed`; 0.0 when none completed.
    pub success_rate: f64,
    /// Mean latency, seconds.
    pub average_response_time: f64,
    /// Smallest latency, seconds (0.0 when none).
    pub min_response_time: f64,
    /// Largest latency, seconds.
    pub max_response_time: f64,
    /// Failures by name (`http_503`, `timeout`, `circuit_open`, …).
    pub error_counts: CountMap,
    /// When the latest request completed (RFC 3339 UTC).
    pub last_request_time: Option<String>,
    /// The whole client's metrics.
    pub http_client_metrics: ClientMetrics,
}

/// The result of [`ServiceClient::health_check`] (the original health-monitor record, plus
/// the service and status).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthCheck {
    /// The service.
    pub service: String,
    /// Whether the probe answered 2xx in time.
    pub healthy: bool,
    /// The status it answered, if it answered.
    pub status_code: Option<u16>,
    /// How long the probe took, seconds.
    pub check_time: f64,
    /// When it finished (RFC 3339 UTC).
    pub last_check: String,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

fn parse_base(base_url: &str) -> Result<url::Url, Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redact_url(base_url),
        reason: reason.to_owned(),
    };
    let base = url::Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(invalid("scheme must be http or https"));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the base URL has no host"));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(invalid("credentials in the base URL are not allowed"));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(invalid("the base URL must not have a query or fragment"));
    }
    Ok(base)
}

/// `base_url + endpoint`, refused unless it stays on the base's scheme, host, port and path.
///
/// The endpoint must start with a single `/`, contain no backslash, whitespace, control
/// character or fragment, no `.`/`..` path segment (plain or percent-encoded) and no encoded
/// `/` or `\` in its path. The joined URL is then parsed and must keep the base's scheme,
/// host and port, carry no credentials, and have a path under the base's path.
pub(crate) fn endpoint_url(
    base: &url::Url,
    base_url: &str,
    endpoint: &str,
) -> Result<String, &'static str> {
    if !endpoint.starts_with('/') {
        return Err("must be a path starting with `/`");
    }
    if endpoint.starts_with("//") {
        return Err("must not start with `//`");
    }
    if endpoint
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err("must not contain a backslash, whitespace or control character");
    }
    if endpoint.contains('#') {
        return Err("must not contain a fragment");
    }
    let path = endpoint.split('?').next().unwrap_or("");
    for segment in path.split('/') {
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%25") {
            return Err("must not contain an encoded `%` (double encoding)");
        }
        // `..;x` is `..` to servlet containers (a path parameter is stripped): compare the
        // segment without its parameters.
        let decoded = lower.replace("%2e", ".").replace("%3b", ";");
        let name = decoded.split(';').next().unwrap_or("");
        if name == "." || name == ".." {
            return Err("must not contain `.` or `..` path segments");
        }
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err("must not contain an encoded `/` or `\\` in its path");
        }
    }
    let joined = format!("{base_url}{endpoint}");
    let url = url::Url::parse(&joined).map_err(|_| "does not form a valid URL")?;
    let same_origin = url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default();
    if !same_origin {
        return Err("must not change the scheme, host or port");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not add credentials");
    }
    let base_path = base.path().trim_end_matches('/');
    let under_base = base_path.is_empty()
        || url.path() == base_path
        || url
            .path()
            .strip_prefix(base_path)
            .is_some_and(|rest| rest.starts_with('/'));
    if !under_base {
        return Err("must stay under the base URL's path");
    }
    Ok(joined)
}

/// An endpoint as shown in errors and logs: no fragment, no authority smuggled in with `//`,
/// secret query values redacted.
fn shown_endpoint(endpoint: &str) -> String {
    let no_fragment = endpoint.split('#').next().unwrap_or("");
    let shown = match no_fragment.strip_prefix("//") {
        Some(rest) => {
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            format!("//{}{path}", tether_core::REDACTED)
        }
        None => no_fragment.to_owned(),
    };
    redact_url(&shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(base_url: &str, endpoint: &str) -> Result<String, &'static str> {
        let base_url = base_url.trim_end_matches('/');
        let base = parse_base(base_url).unwrap();
        endpoint_url(&base, base_url, endpoint)
    }

    #[test]
    fn accepts_paths_under_the_base() {
        let b = "http://127.0.0.1:8080/api/";
        assert_eq!(
            check(b, "/users/42?x=1&y=@z").unwrap(),
            "http://127.0.0.1:8080/api/users/42?x=1&y=@z"
        );
        assert!(check(b, "/").is_ok());
        assert!(check(b, "/a@b/c").is_ok(), "@ inside the path is harmless");
        assert!(check(b, "/a/..b/c").is_ok(), "..b is a name, not a parent");
        assert!(check("http://svc", "/x").is_ok());
    }

    #[test]
    fn refuses_everything_that_leaves_the_base() {
        let b = "http://127.0.0.1:8080/api";
        for endpoint in [
            "@evil.example/x",
            "@evil.example",
            ":pw@evil.example/x",
            "//evil.example/x",
            "///evil.example/x",
            "http://evil.example/x",
            "https://127.0.0.1:8080/api/x",
            "evil.example/x",
            ".evil.example/x",
            ":9999/x",
            "",
            "?x=1",
            "/../admin",
            "/a/../../admin",
            "/%2e%2e/admin",
            "/%2E./admin",
            "/./x",
            "/a%2f..%2fadmin",
            "/\\evil.example/x",
            "/x\r\nHost: evil.example",
            "/x y",
            "/x\t",
            "/x#frag",
            "/x\u{0}",
            "/..;/admin",
            "/%2e%2e;/admin",
            "/%2E%2E%3B/admin",
            "/a/..;x/..;y/admin",
            "/%252e%252e/admin",
        ] {
            assert!(check(b, endpoint).is_err(), "{endpoint:?} was accepted");
        }
    }

    #[test]
    fn shown_endpoints_carry_no_secrets() {
        assert_eq!(shown_endpoint("/cb#access_token=SECRET"), "/cb");
        assert_eq!(shown_endpoint("//user:pw@evil/x"), "//[REDACTED]/x");
        assert_eq!(
            shown_endpoint("/x?api_key=SECRET&a=1"),
            "/x?api_key=[REDACTED]&a=1"
        );
    }

    #[test]
    fn a_health_path_that_leaves_the_base_is_refused_at_build() {
        let err = ServiceClient::builder("users", "http://127.0.0.1:9")
            .health_path("@evil.example/health")
            .build()
            .expect_err("refused");
        assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err:?}");
    }

    #[test]
    fn base_must_be_a_plain_http_url() {
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("http://u:p@x").is_err());
        assert!(parse_base("http://x/?q=1").is_err());
        assert!(parse_base("not a url").is_err());
        assert!(parse_base("https://x/api").is_ok());
    }
}
