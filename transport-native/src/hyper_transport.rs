//! [`HyperTransport`]: one HTTP attempt over hyper 1 and hyper-util's pooled client, on tokio
//! (everything it does is documented on the type).

mod connect;

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, PROXY_AUTHORIZATION};
use http::uri::Scheme;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tether_core::{ConfigError, Request, RequestError, Response, Transport, TransportErrorKind};
use tokio::time::Sleep;

use self::connect::{ConnectFailure, Connector};
use crate::bulkhead::{Bulkhead, Origin, Slot};
use crate::config::{NativeConfig, clamp};
use crate::failure::{Failure, body_too_large, describe, find_source, io_error_kind};
use crate::framing::{self, Defaults, FramingError};
use crate::proxy::ProxyRules;
use crate::redirect::{self, Redirects};
use crate::rt::{self, Fired, race};
use crate::{SendFuture, clock};

/// A [`Transport`]: one HTTP attempt over hyper 1 and hyper-util's pooled client, on tokio —
/// HTTP/1.1 with keep-alive, per-host bulkheads, streaming bodies with gzip/deflate decoding
/// under a byte limit, HTTPS through rustls (feature `rustls`, on by default).
///
/// # What an attempt does
///
/// Each [`send`](tether_core::Transport::send) is one attempt: the engine above it decides
/// retries, caching and breaking. The attempt
///
/// 1. checks the request against the framing rules (see below) and readies it: userinfo out
///    of the URL, `User-Agent` and `Accept-Encoding` added when absent, HTTP/1.1;
/// 2. takes a slot of the target origin ([`NativeConfig::max_attempts_per_host`]), waiting
///    within the attempt timeout when all are taken;
/// 3. sends the request on a pooled keep-alive connection, or a new one: at most [`NativeConfig::max_connections_per_host`] per origin, opened
///    under [`NativeConfig::connect_timeout`], through the proxy when one applies, TLS by
///    rustls (feature `rustls`: ring, the webpki roots — the ureq transport's trust);
/// 4. streams the body in under [`NativeConfig::max_body_bytes`], decoding gzip and deflate on
///    the fly against the same limit (a decompression bomb fails after at most `limit` bytes
///    of output, never buffering past it);
/// 5. follows redirects only when [`NativeConfig::max_redirects`] > 0, never carrying
///    credentials to another origin.
///
/// The whole attempt — slot wait, connect, every redirect, the last body byte — runs under one
/// timer: the caller's `timeout`, else [`NativeConfig::timeout`]. [`NativeConfig::read_timeout`]
/// bounds the wait for the response head and each wait for more body (only set up when it is
/// shorter than the attempt's time limit).
///
/// Dropping the attempt's future cancels it at once: its slot is given back, and its
/// connection, which can no longer be reused safely, is closed by hyper. A connection
/// finished cleanly goes back to the pool ([`NativeConfig::pool_size`] idle per host,
/// [`NativeConfig::idle_timeout`]).
///
/// # Framing
///
/// The transport owns message framing, with the same rules as
/// [`UreqTransport`](crate::UreqTransport) (see [`check_framing`](crate::check_framing)): a
/// caller's `Content-Length` must equal the body's length, `Transfer-Encoding`, `Connection`,
/// `Keep-Alive`, `Proxy-Connection`, `Upgrade` and `TE` are refused, and a `Host` that names
/// another authority than the URL is refused (the cache keys on the URL). A body is always
/// sent whole with `Content-Length` (none for an empty `GET`, `HEAD`, `DELETE`, `OPTIONS`),
/// so `Content-Length` and `Transfer-Encoding` never both go on the wire.
///
/// # Proxies
///
/// None unless configured: [`Proxy::Direct`](crate::Proxy::Direct) (the default) never reads
/// the environment, and hyper-util's client does not read it by itself.
/// [`Proxy::Http`](crate::Proxy::Http) sends every request through one HTTP proxy (minus
/// `no_proxy` hosts); [`Proxy::FromEnv`](crate::Proxy::FromEnv) is the explicit opt-in to
/// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, read when the transport is built.
///
/// # Errors
///
/// Every status comes back as a response (4xx and 5xx included); only failures below HTTP
/// are [`TransportError`](tether_core::TransportError)s, classified like the ureq transport's:
///
/// | kind | when |
/// |---|---|
/// | `Connect` | refused, unreachable, DNS failure, proxy failure, TLS handshake — anything before the request is written |
/// | `Timeout` | the attempt's limit (`timed out (attempt)`), connect (`timed out (connect)`), a read (`timed out (read…)`), or no slot of the host in time |
/// | `Reset` | the connection closed or was reset before the response was complete |
/// | `BodyTooLarge` | the body, as received or decoded, exceeds [`NativeConfig::max_body_bytes`] |
/// | `Protocol` | the peer's bytes are not valid HTTP/1.x, or its gzip/deflate is corrupt or truncated |
/// | `InvalidRequest` | a refused request (framing, URL) or an invalid configuration: never retried, never counted against the upstream |
/// | `Other` | no usable tokio runtime, a closed pool |
///
/// Messages name the method and the URL with secrets redacted; they never include header
/// values.
///
/// Clones share the pool and the per-host slots. Attempts must be polled inside a tokio
/// runtime with its time and I/O drivers (`#[tokio::main]`, or `enable_all`); elsewhere they
/// fail with [`TransportErrorKind::Other`] instead of panicking. Use one transport from one
/// runtime: its connections are tasks of the runtime that opened them.
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_core::ConfigError> {
/// use std::time::Duration;
/// use tether_core::Transport as _;
/// use tether_native::{HyperTransport, NativeConfig};
///
/// let transport = HyperTransport::try_new(NativeConfig {
///     max_attempts_per_host: 16,
///     ..NativeConfig::default()
/// })?;
/// let request = http::Request::get("http://127.0.0.1:8080/get")
///     .body(bytes::Bytes::new())
///     .unwrap();
/// match transport.send(request, Some(Duration::from_secs(2))).await {
///     Ok(response) => println!("{}", response.status()),
///     Err(error) => println!("{} failure: {}", error.kind, error.message),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HyperTransport {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<Connector, Full<Bytes>>,
    /// Whether rustls accepted its configuration (`https://` fails to connect otherwise).
    client_tls_ready: bool,
    attempts: Bulkhead,
    connections: Arc<Bulkhead>,
    defaults: Defaults,
    redirects: Redirects,
    proxy: Option<Arc<ProxyRules>>,
    /// The attempt limit when the caller gives none.
    timeout: Option<Duration>,
    /// `read_timeout`, clamped.
    read_timeout: Option<Duration>,
    max_body_bytes: u64,
    /// Why the configuration is unusable: every attempt fails with it.
    invalid: Option<String>,
    config: NativeConfig,
}

impl HyperTransport {
    /// A transport with its own pool, configured by `config`, which must be valid
    /// ([`NativeConfig::validate`]).
    pub fn try_new(config: NativeConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let transport = Self::build(config, None);
        if !transport.inner.client_tls_ready {
            return Err(ConfigError::invalid(
                "native.tls",
                "rustls refused its default configuration",
            ));
        }
        Ok(transport)
    }

    /// A transport with its own pool, configured by `config`. Never panics: with an invalid
    /// configuration every attempt fails with [`TransportErrorKind::InvalidRequest`] naming the
    /// problem (use [`try_new`](Self::try_new) to hear about it at once).
    pub fn new(config: NativeConfig) -> Self {
        match config.validate() {
            Ok(()) => Self::build(config, None),
            Err(error) => Self::build(
                config,
                Some(format!("invalid transport configuration: {error}")),
            ),
        }
    }

    fn build(config: NativeConfig, invalid: Option<String>) -> Self {
        // An invalid configuration never reaches the wire: every attempt fails first. Its
        // parts may be unusable (an unparsable proxy, say), so build the machinery from the
        // defaults instead.
        let working = if invalid.is_some() {
            NativeConfig::default()
        } else {
            config.clone()
        };
        let proxy = ProxyRules::new(&working.proxy).map(Arc::new);
        let connections = Arc::new(Bulkhead::new(working.max_connections_per_host));
        let connector = Connector::new(
            proxy.clone(),
            Arc::clone(&connections),
            working.connect_timeout.map(clamp),
        );
        let client_tls_ready = connector.tls_ready();
        let mut builder = Client::builder(TokioExecutor::new());
        let pool_size = if working.idle_timeout.is_zero() {
            0
        } else {
            working.pool_size
        };
        builder
            .pool_idle_timeout(clamp(working.idle_timeout))
            .pool_max_idle_per_host(pool_size)
            .pool_timer(TokioTimer::new());
        let client = builder.build(connector);
        HyperTransport {
            inner: Arc::new(Inner {
                client,
                client_tls_ready,
                attempts: Bulkhead::new(working.max_attempts_per_host),
                connections,
                defaults: Defaults::new(&working.user_agent, working.accept_compressed),
                redirects: Redirects::new(
                    working.max_redirects,
                    &working.credential_headers,
                    &working.non_identifying_headers,
                ),
                proxy,
                timeout: working.timeout.map(clamp),
                read_timeout: working.read_timeout.map(clamp),
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

    /// How many more attempts to the origin of `url` could start right now (see
    /// [`NativeConfig::max_attempts_per_host`]); `None` when `url` is not an absolute URL.
    pub fn available_attempt_slots(&self, url: &http::Uri) -> Option<usize> {
        Origin::of(url).map(|origin| self.inner.attempts.available(origin))
    }

    /// How many more connections to the origin of `url` could open right now (see
    /// [`NativeConfig::max_connections_per_host`]); `None` when `url` is not absolute.
    pub fn available_connection_slots(&self, url: &http::Uri) -> Option<usize> {
        Origin::of(url).map(|origin| self.inner.connections.available(origin))
    }
}

impl Default for HyperTransport {
    fn default() -> Self {
        Self::new(NativeConfig::default())
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("config", &self.inner.config)
            .field("invalid", &self.inner.invalid)
            .finish_non_exhaustive()
    }
}

impl Transport for HyperTransport {
    type Send = SendFuture;

    /// Starts one attempt. `timeout`, when given, replaces [`NativeConfig::timeout`] for this
    /// attempt and covers it whole, from waiting for a slot to the last body byte.
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
        self.inner.config.validate()?;
        if self.inner.client_tls_ready {
            Ok(())
        } else {
            Err(ConfigError::invalid(
                "native.tls",
                "rustls refused its default configuration",
            ))
        }
    }
}

/// What a wait is for, to name the timer that ends it.
#[derive(Clone, Copy)]
enum Phase {
    Slot,
    Head,
    Body,
}

/// The attempt's timers: the whole-attempt one, and the per-read one when it is shorter.
struct Timers<'a> {
    attempt: Option<Pin<&'a mut Sleep>>,
    read: Option<Duration>,
    read_timer: Option<Pin<Box<Sleep>>>,
}

impl Timers<'_> {
    async fn wait<F: Future>(&mut self, future: F, phase: Phase) -> Result<F::Output, Failure> {
        let read = match (self.read, phase) {
            (Some(limit), Phase::Head | Phase::Body) => {
                let deadline = clock::tokio_now() + limit;
                match self.read_timer.as_mut() {
                    Some(timer) => timer.as_mut().reset(deadline),
                    None => self.read_timer = Some(Box::pin(rt::sleep(limit)?)),
                }
                self.read_timer.as_mut().map(Pin::as_mut)
            }
            _ => None,
        };
        let attempt = self.attempt.as_mut().map(Pin::as_mut);
        race(future, attempt, read).await.map_err(|fired| {
            let what = match (fired, phase) {
                (Fired::First, Phase::Slot) => {
                    return Failure::new(
                        TransportErrorKind::Timeout,
                        "timed out waiting for a free slot of the host",
                    );
                }
                (Fired::First, _) => "attempt",
                (Fired::Second, Phase::Head) => "read: waiting for the response",
                (Fired::Second, _) => "read: waiting for the body",
            };
            Failure::new(TransportErrorKind::Timeout, format!("timed out ({what})"))
        })
    }
}

impl Inner {
    async fn send(
        self: Arc<Self>,
        request: Request,
        timeout: Option<Duration>,
    ) -> tether_core::Outcome {
        let method = request.method().clone();
        let uri = request.uri().clone();
        self.attempt(request, timeout)
            .await
            .map_err(|failure| failure.into_error(&method, &uri))
    }

    async fn attempt(
        &self,
        mut request: Request,
        timeout: Option<Duration>,
    ) -> Result<Response, Failure> {
        if let Some(problem) = &self.invalid {
            return Err(Failure::invalid(problem.clone()));
        }
        rt::handle("HyperTransport")?;
        let budget = timeout.map(clamp).or(self.timeout);
        // Created even without a limit: it checks for the time driver, which the pool needs.
        let attempt_timer = rt::sleep(budget.unwrap_or(NativeConfig::MAX_TIMEOUT))?;
        let attempt_timer = pin!(attempt_timer);
        let mut timers = Timers {
            attempt: budget.is_some().then_some(attempt_timer),
            read: self
                .read_timeout
                .filter(|read| budget.is_none_or(|budget| *read < budget)),
            read_timer: None,
        };

        framing::prepare(&mut request, &self.defaults)?;
        let mut hop = HyperHop {
            inner: self,
            timers: &mut timers,
        };
        redirect::follow(&self.redirects, request, &mut hop).await
    }

    /// One request and its response, under a slot of its origin.
    async fn hop(
        &self,
        mut request: Request,
        timers: &mut Timers<'_>,
    ) -> Result<Response, Failure> {
        let origin = Origin::of(request.uri()).ok_or(FramingError::InvalidUrl)?;
        let _slot = match self.attempts.try_take(origin) {
            Slot::Taken(permit) => permit,
            Slot::Full(semaphore) => timers
                .wait(semaphore.acquire_owned(), Phase::Slot)
                .await?
                .map_err(|_| Failure::internal("transport closed"))?,
        };
        if let Some(rules) = &self.proxy
            && request.uri().scheme() == Some(&Scheme::HTTP)
            && let Some(proxy) = rules.intercept(request.uri())
            && let Some(auth) = proxy.basic_auth()
        {
            // Absolute-form through the proxy: the proxy's credentials ride along.
            request
                .headers_mut()
                .insert(PROXY_AUTHORIZATION, auth.clone());
        }

        let (mut parts, body) = request.into_parts();
        if body.is_empty() && framing::expects_body(&parts.method) {
            // hyper announces no length for an empty body; the ureq transport does.
            parts
                .headers
                .insert(CONTENT_LENGTH, http::HeaderValue::from_static("0"));
        }
        let response = timers
            .wait(
                self.client
                    .request(http::Request::from_parts(parts, Full::new(body))),
                Phase::Head,
            )
            .await?
            .map_err(|e| request_failure(&e))?;

        let (mut parts, mut incoming) = response.into_parts();
        let limit = self.max_body_bytes;
        let declared = incoming.size_hint().exact();
        if declared.is_some_and(|n| n > limit) {
            return Err(body_too_large(limit));
        }
        let coding = crate::decode::Coding::of(&parts.headers);
        let mut sink = crate::decode::BodySink::new(coding, limit, declared);
        while !incoming.is_end_stream() {
            match timers.wait(incoming.frame(), Phase::Body).await? {
                None => break,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        sink.push(data)?;
                    }
                }
                Some(Err(error)) => return Err(hyper_failure(&error)),
            }
        }
        if sink.is_decoding() {
            parts.headers.remove(CONTENT_ENCODING);
            parts.headers.remove(CONTENT_LENGTH);
        }
        let body = sink.finish()?;
        Ok(Response::from_parts(parts, body))
    }
}

/// One hop of an attempt: the transport and the attempt's timers.
struct HyperHop<'a, 't> {
    inner: &'a Inner,
    timers: &'a mut Timers<'t>,
}

impl redirect::Hop for HyperHop<'_, '_> {
    async fn send(&mut self, request: Request, _hop: u32) -> Result<Response, Failure> {
        self.inner.hop(request, self.timers).await
    }
}

/// The failure behind a hyper-util client error.
fn request_failure(error: &hyper_util::client::legacy::Error) -> Failure {
    if let Some(failure) = find_source::<ConnectFailure>(error) {
        return Failure::new(failure.kind, failure.detail.clone());
    }
    if error.is_connect() {
        return Failure::new(
            TransportErrorKind::Connect,
            format!("connect: {}", describe(error)),
        );
    }
    match find_source::<hyper::Error>(error) {
        Some(hyper) => hyper_failure(hyper),
        None => Failure::new(TransportErrorKind::Other, describe(error)),
    }
}

/// The failure behind a hyper error (sending, or reading the body).
fn hyper_failure(error: &hyper::Error) -> Failure {
    use TransportErrorKind as K;
    let kind = if error.is_timeout() {
        K::Timeout
    } else if error.is_parse() || error.is_parse_status() {
        K::Protocol
    } else if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        K::Reset
    } else if let Some(io) = find_source::<std::io::Error>(error) {
        io_error_kind(io)
    } else {
        K::Other
    };
    Failure::new(kind, describe(error))
}
