//! [`UreqTransport`]: one HTTP attempt over a pooled ureq agent, on tokio's blocking pool.
//!
//! ureq is a blocking client, so each request runs on `spawn_blocking`. Two bounds apply, both
//! as permits that travel with the blocking job (a ureq call cannot be interrupted, so a job
//! keeps its permits until ureq returns — at the latest at the attempt's deadline, which ureq
//! enforces itself):
//!
//! - a slot of the target origin ([`NativeConfig::max_attempts_per_host`]): one slow host
//!   holds at most that many jobs, and never delays the others;
//! - a slot of the blocking pool ([`NativeConfig::max_blocking`], over every host): a slow
//!   upstream queues attempts instead of filling tokio's blocking pool (512 threads by
//!   default) and starving everything else that needs it (DNS, file I/O).
//!
//! Requests follow the same rules as the hyper transport's — framing, userinfo, defaults
//! (module `framing`), redirects (module `redirect`), proxies (module `proxy`: none unless
//! configured; ureq's own default of reading `HTTP_PROXY` and friends is switched off) — and
//! bodies go through the same streaming decoder and limit (module `decode`).
//!
//! The agent resolves names without a thread per request and keeps socket time-outs from
//! being re-set on every request (see the `agent` module).

use std::fmt;
use std::future::Future;
use std::io::Read as _;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use tether_core::{
    ConfigError, Outcome, Request, RequestError, Response, Transport, TransportErrorKind,
};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bulkhead::{Bulkhead, Origin, Slot};
use crate::config::{NativeConfig, clamp};
use crate::decode::{BodySink, Coding};
use crate::failure::{Failure, body_too_large, io_error_kind};
use crate::framing::{self, Defaults, FramingError, expects_body};
use crate::proxy::ProxyRules;
use crate::redirect::{self, Redirects};
use crate::{clock, rt};

/// The future of one attempt of either native transport.
pub type SendFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// A [`Transport`] over a ureq [`Agent`](ureq::Agent): HTTP/1.1 with a keep-alive pool, gzip
/// and deflate decoding, HTTPS through rustls (feature `rustls`, on by default), per-host
/// bulkheads.
///
/// Every status comes back as a response (4xx and 5xx included); only failures below HTTP are
/// [`TransportError`](tether_core::TransportError)s, classified as:
///
/// | kind | when |
/// |---|---|
/// | `Connect` | refused, unreachable, DNS failure, TLS handshake or proxy failure |
/// | `Timeout` | any ureq timeout (connect, per read/write, whole attempt), or no slot in time |
/// | `Reset` | connection reset or closed early: before the response, or mid-body |
/// | `BodyTooLarge` | the body, as received or decoded, exceeds [`NativeConfig::max_body_bytes`] |
/// | `Protocol` | the peer's bytes are not valid HTTP/1.x, or its gzip/deflate is corrupt |
/// | `InvalidRequest` | a refused request (framing, URL, a request ureq will not write) or an invalid configuration: never retried, never counted against the upstream |
/// | `Other` | no tokio runtime, a panicked or cancelled blocking job |
///
/// Messages name the method and the URL with secrets redacted; they never include header
/// values.
///
/// Clones share the agent, its pool and the bounds. Attempts must be polled inside a tokio
/// runtime (with its time driver when an attempt may have to wait for a slot).
#[derive(Clone)]
pub struct UreqTransport {
    pub(crate) inner: Arc<Inner>,
}

/// The agent, bounds and rules, shared with the blocking API's
/// [`blocking::UreqTransport`](crate::blocking::UreqTransport), which runs the same calls on
/// the caller's thread.
pub(crate) struct Inner {
    agent: ureq::Agent,
    pub(crate) attempts: Bulkhead,
    blocking: Arc<Semaphore>,
    pub(crate) defaults: Defaults,
    pub(crate) redirects: Redirects,
    pub(crate) proxy: Option<ProxyRules>,
    /// The agent's own overall limit (`NativeConfig::timeout`, clamped).
    pub(crate) timeout: Option<Duration>,
    max_body_bytes: u64,
    /// Why the configuration is unusable: every attempt fails with it.
    pub(crate) invalid: Option<String>,
    pub(crate) config: NativeConfig,
}

impl UreqTransport {
    /// A transport with its own connection pool, configured by `config`. Never panics: with
    /// an invalid configuration ([`NativeConfig::validate`]) every attempt fails with
    /// [`TransportErrorKind::InvalidRequest`] naming the problem (use [`try_new`](Self::try_new) to
    /// hear about it at once).
    pub fn new(config: NativeConfig) -> Self {
        let invalid = config
            .validate()
            .err()
            .map(|e| format!("invalid transport configuration: {e}"));
        Self::build(config, invalid)
    }

    /// A transport with its own connection pool, configured by `config`, which must be valid.
    pub fn try_new(config: NativeConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::build(config, None))
    }

    fn build(config: NativeConfig, invalid: Option<String>) -> Self {
        // An invalid configuration never reaches ureq (whose `user_agent`, say, would panic on
        // a CR): the machinery is built from the defaults, and every attempt fails first.
        let working = if invalid.is_some() {
            NativeConfig::default()
        } else {
            config.clone()
        };
        let clamped = |d: Option<Duration>| d.map(clamp);
        let ureq_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed here (module `redirect`), hop by hop.
            .max_redirects(0)
            .max_redirects_will_error(false)
            // `Config::default()` reads `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY`: never silently.
            .proxy(None)
            .max_idle_connections(working.pool_size)
            .max_idle_connections_per_host(working.pool_size)
            .max_idle_age(clamp(working.idle_timeout))
            .timeout_connect(clamped(working.connect_timeout))
            .timeout_per_read(clamped(working.read_timeout))
            .timeout_per_write(clamped(working.write_timeout))
            .timeout_global(clamped(working.timeout))
            // Both are added by `framing::prepare`, as for the hyper transport.
            .user_agent(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            // Any method token goes out (`PURGE`, `PROPFIND`, …), as the client promises;
            // ureq's default refuses them as a protocol error that the breaker would count.
            .allow_non_standard_methods(true)
            .build();
        let agent = crate::agent::new_agent(ureq_config);
        UreqTransport {
            inner: Arc::new(Inner {
                agent,
                attempts: Bulkhead::new(working.max_attempts_per_host),
                blocking: Arc::new(Semaphore::new(working.blocking_slots())),
                defaults: Defaults::new(&working.user_agent, working.accept_compressed),
                redirects: Redirects::new(
                    working.max_redirects,
                    &working.credential_headers,
                    &working.non_identifying_headers,
                ),
                proxy: ProxyRules::new(&working.proxy),
                timeout: clamped(working.timeout),
                max_body_bytes: working.max_body_bytes,
                invalid,
                config,
            }),
        }
    }

    /// The configuration this transport was built with.
    pub fn config(&self) -> &NativeConfig {
        &self.inner.config
    }

    /// How many more attempts could start on the blocking pool right now (over every host).
    pub fn available_slots(&self) -> usize {
        self.inner.blocking.available_permits()
    }

    /// How many more attempts to the origin of `url` could start right now; `None` when `url`
    /// is not an absolute URL.
    pub fn available_attempt_slots(&self, url: &Uri) -> Option<usize> {
        Origin::of(url).map(|origin| self.inner.attempts.available(origin))
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new(NativeConfig::default())
    }
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqTransport")
            .field("config", &self.inner.config)
            .field("invalid", &self.inner.invalid)
            .field("available_slots", &self.available_slots())
            .finish_non_exhaustive()
    }
}

impl Transport for UreqTransport {
    type Send = SendFuture;

    /// Starts one attempt. `timeout`, when given, replaces [`NativeConfig::timeout`] for this
    /// attempt and covers it whole, from waiting for a slot to the last body byte (except a
    /// host-name lookup in progress: see [`NativeConfig::timeout`]).
    fn send(&self, request: Request, timeout: Option<Duration>) -> SendFuture {
        Box::pin(Arc::clone(&self.inner).send(request, timeout))
    }

    /// The framing rules ([`check_framing`](crate::check_framing)), as a request error.
    fn check(&self, request: &Request) -> Result<(), RequestError> {
        framing::check_framing(request).map_err(RequestError::from)
    }
    /// The configuration it was built with ([`NativeConfig::validate`]): a client refuses
    /// to build over a transport made by `new` from an invalid one.
    fn validate(&self) -> Result<(), ConfigError> {
        self.inner.config.validate()
    }
}

impl Inner {
    async fn send(self: Arc<Self>, request: Request, timeout: Option<Duration>) -> Outcome {
        let method = request.method().clone();
        let uri = request.uri().clone();
        self.attempt(request, timeout)
            .await
            .map_err(|failure| failure.into_error(&method, &uri))
    }

    async fn attempt(
        self: &Arc<Self>,
        mut request: Request,
        timeout: Option<Duration>,
    ) -> Result<Response, Failure> {
        if let Some(problem) = &self.invalid {
            return Err(Failure::invalid(problem.clone()));
        }
        let runtime = rt::handle("UreqTransport")?;
        let budget = timeout.map(clamp).or(self.timeout);
        let deadline = budget.and_then(|b| clock::monotonic().checked_add(b));
        framing::prepare(&mut request, &self.defaults)?;
        let mut hop = UreqHop {
            inner: self,
            runtime: &runtime,
            deadline,
            agent_limit: budget == self.timeout,
        };
        redirect::follow(&self.redirects, request, &mut hop).await
    }

    /// One request and its response, on the blocking pool, holding a slot of its origin and
    /// one of the pool.
    async fn hop(
        self: &Arc<Self>,
        runtime: &Handle,
        request: Request,
        deadline: Option<Instant>,
        agent_limit: bool,
    ) -> Result<Response, Failure> {
        let origin = Origin::of(request.uri()).ok_or(FramingError::InvalidUrl)?;
        let mut waited = false;
        let host = match self.attempts.try_take(origin) {
            Slot::Taken(permit) => permit,
            Slot::Full(semaphore) => {
                waited = true;
                wait_for(semaphore, deadline, "a free slot of the host").await?
            }
        };
        let pool = if let Ok(permit) = Arc::clone(&self.blocking).try_acquire_owned() {
            permit
        } else {
            waited = true;
            wait_for(
                Arc::clone(&self.blocking),
                deadline,
                "a free transport slot",
            )
            .await?
        };
        // What ureq gets as its overall limit: `None` leaves the agent's own in force.
        let limit = if agent_limit && !waited {
            None
        } else {
            let remaining = deadline.map(|d| d.saturating_duration_since(clock::monotonic()));
            if remaining == Some(Duration::ZERO) {
                return Err(Failure::new(
                    TransportErrorKind::Timeout,
                    "timed out (attempt)",
                ));
            }
            remaining
        };
        let proxy = self
            .proxy
            .as_ref()
            .and_then(|rules| rules.ureq_proxy(request.uri()));

        // `spawn_blocking`, not a task: ureq blocks. The permits move into the job and are
        // released only when ureq returns, even if this future was dropped meanwhile.
        let this = Arc::clone(self);
        let job = runtime.spawn_blocking(move || {
            let _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit) = (host, pool);
            this.call(request, limit, proxy)
        });
        match job.await {
            Ok(result) => result,
            Err(join) => Err(Failure::new(
                TransportErrorKind::Other,
                if join.is_panic() {
                    "the transport's blocking job panicked"
                } else {
                    "the transport's blocking job was cancelled"
                },
            )),
        }
    }

    /// The blocking part: send, stream the body in under the limit, decoding it. `limit`
    /// overrides the agent's overall time limit for this request.
    pub(crate) fn call(
        &self,
        request: Request,
        limit: Option<Duration>,
        proxy: Option<ureq::Proxy>,
    ) -> Result<Response, Failure> {
        let (parts, body) = request.into_parts();
        let head = parts.method == http::Method::HEAD;
        let response = if body.is_empty() && !expects_body(&parts.method) {
            // No body at all, rather than `Content-Length: 0` on a GET.
            self.run(http::Request::from_parts(parts, ()), limit, proxy)
        } else {
            self.run(http::Request::from_parts(parts, &body[..]), limit, proxy)
        }
        .map_err(from_ureq)?;

        let max = self.max_body_bytes;
        let (mut parts, body) = response.into_parts();
        // A HEAD answer, a 204 or a 304 announces a length it does not send.
        let bodiless = head || matches!(parts.status.as_u16(), 100..=199 | 204 | 304);
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .filter(|_| !bodiless)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(body_too_large(max));
        }
        let bytes = match Coding::of(&parts.headers) {
            None => Bytes::from(
                body.into_with_config()
                    .limit(max)
                    .read_to_vec()
                    .map_err(from_ureq)?,
            ),
            Some(coding) => {
                let mut sink = BodySink::new(Some(coding), max, None);
                let mut reader = body.into_with_config().limit(max).reader();
                let mut buf = vec![0_u8; 16 * 1024];
                loop {
                    let n = reader
                        .read(&mut buf)
                        .map_err(|e| from_ureq(ureq::Error::from(e)))?;
                    if n == 0 {
                        break;
                    }
                    sink.push_slice(&buf[..n])?;
                }
                parts.headers.remove(CONTENT_ENCODING);
                parts.headers.remove(CONTENT_LENGTH);
                sink.finish()?
            }
        };
        Ok(Response::from_parts(parts, bytes))
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: http::Request<B>,
        limit: Option<Duration>,
        proxy: Option<ureq::Proxy>,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        if limit.is_none() && proxy.is_none() {
            return self.agent.run(request);
        }
        // A per-request setting costs ureq a copy of the agent's config: only when needed.
        let mut configured = self.agent.configure_request(request);
        if let Some(limit) = limit {
            configured = configured.timeout_global(Some(limit));
        }
        if proxy.is_some() {
            configured = configured.proxy(proxy);
        }
        self.agent.run(configured.build())
    }
}

/// One hop of an attempt: the transport, the runtime and the attempt's deadline.
struct UreqHop<'a> {
    inner: &'a Arc<Inner>,
    runtime: &'a Handle,
    deadline: Option<Instant>,
    /// Whether the attempt's limit is the agent's own.
    agent_limit: bool,
}

impl redirect::Hop for UreqHop<'_> {
    async fn send(&mut self, request: Request, hop: u32) -> Result<Response, Failure> {
        // The first hop with the agent's own limit needs no per-request ureq config.
        let agent_limit = hop == 0 && self.agent_limit;
        self.inner
            .hop(self.runtime, request, self.deadline, agent_limit)
            .await
    }
}

/// Waits for a permit of `semaphore` until `deadline`.
async fn wait_for(
    semaphore: Arc<Semaphore>,
    deadline: Option<Instant>,
    what: &str,
) -> Result<OwnedSemaphorePermit, Failure> {
    let acquire = semaphore.acquire_owned();
    let acquired = match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(clock::monotonic());
            let timer = pin!(rt::sleep(left)?);
            rt::race(acquire, Some(timer), None).await.map_err(|_| {
                Failure::new(
                    TransportErrorKind::Timeout,
                    format!("timed out waiting for {what}"),
                )
            })?
        }
        None => acquire.await,
    };
    // The semaphores are never closed; map it anyway rather than panic.
    acquired.map_err(|_| Failure::internal("transport closed"))
}

/// The failure behind a ureq error.
fn from_ureq(error: ureq::Error) -> Failure {
    use TransportErrorKind as K;
    use ureq::Error as E;
    match error {
        E::Timeout(which) => Failure::new(K::Timeout, format!("timed out ({which})")),
        E::HostNotFound => Failure::new(K::Connect, "host not found"),
        E::ConnectionFailed => Failure::new(K::Connect, "connection failed"),
        E::Io(e) => Failure::new(io_error_kind(&e), format!("io: {e}")),
        E::BodyExceedsLimit(limit) => body_too_large(limit),
        E::Protocol(e) if is_request_side(&e) => Failure::invalid(format!("invalid request: {e}")),
        E::Protocol(e) => Failure::new(K::Protocol, format!("protocol: {e}")),
        E::LargeResponseHeader(got, max) => Failure::new(
            K::Protocol,
            format!("response header too large: {got} > {max} bytes"),
        ),
        E::BodyStalled => Failure::new(K::Reset, "response body stalled"),
        E::Tls(e) => Failure::new(K::Connect, format!("tls: {e}")),
        #[cfg(feature = "rustls")]
        E::Rustls(e) => Failure::new(K::Connect, format!("tls: {e}")),
        E::ConnectProxyFailed(_) => Failure::new(K::Connect, "proxy CONNECT failed"),
        // These quote the URL; the context already names it (redacted).
        E::BadUri(_) => Failure::invalid("invalid request URI"),
        E::RequireHttpsOnly(_) => Failure::invalid("https required"),
        E::Http(e) => Failure::invalid(format!("invalid request: {e}")),
        other => Failure::new(K::Other, other.to_string()),
    }
}

/// Whether ureq's protocol error is about the request it was asked to write (the caller's
/// mistake) rather than what the peer sent. Errors both sides can raise (a malformed
/// `Content-Length` on a response, say) stay protocol errors; the engine and the framing
/// rules refuse such requests before they reach ureq anyway.
fn is_request_side(error: &ureq_proto::Error) -> bool {
    use ureq_proto::Error as P;
    matches!(
        error,
        P::BadHeader(_)
            | P::MethodVersionMismatch(..)
            | P::TooManyHostHeaders
            | P::BadHostHeader
            | P::BadAuthorizationHeader
            | P::BodyLargerThanContentLength
            | P::BodyNotAllowed
    )
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn request_side_protocol_errors_are_the_callers() {
        use ureq_proto::Error as P;
        for e in [
            P::TooManyHostHeaders,
            P::BadHostHeader,
            P::BadAuthorizationHeader,
            P::BodyNotAllowed,
            P::BodyLargerThanContentLength,
            P::MethodVersionMismatch(
                http::Method::from_bytes(b"PURGE").unwrap(),
                http::Version::HTTP_10,
            ),
        ] {
            let kind = from_ureq(ureq::Error::Protocol(e)).kind;
            assert_eq!(kind, TransportErrorKind::InvalidRequest);
        }
        // What the peer sent is still the peer's.
        for e in [
            P::BadContentLengthHeader,
            P::HttpParseFail("x".into()),
            P::ChunkLenNotANumber,
        ] {
            let kind = from_ureq(ureq::Error::Protocol(e)).kind;
            assert_eq!(kind, TransportErrorKind::Protocol);
        }
        assert_eq!(
            from_ureq(ureq::Error::BadUri("x".into())).kind,
            TransportErrorKind::InvalidRequest
        );
    }

    #[test]
    fn ureq_errors_are_classified() {
        use TransportErrorKind as K;
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(from_ureq(ureq::Error::Io(dns)).kind, K::Connect);
        assert_eq!(from_ureq(ureq::Error::HostNotFound).kind, K::Connect);
        assert_eq!(
            from_ureq(ureq::Error::BodyExceedsLimit(10)).kind,
            K::BodyTooLarge
        );
        assert_eq!(
            from_ureq(ureq::Error::Timeout(ureq::Timeout::Connect)).kind,
            K::Timeout
        );
    }
}
