//! [`UreqTransport`]: one HTTP attempt over a pooled ureq agent, on tokio's blocking pool.
//!
//! ureq is a blocking client, so each attempt runs on `spawn_blocking`. A semaphore bounds how
//! many run at once ([`NativeConfig::max_blocking`]): a slow upstream then queues attempts
//! instead of filling tokio's blocking pool (512 threads by default) and starving everything
//! else that needs it (DNS, file I/O). The permit travels with the blocking job, so an attempt
//! whose future was dropped keeps its slot until ureq itself gives up — the bound stays true.
//!
//! The agent resolves names without a thread per request and keeps socket time-outs from
//! being re-set on every request (see the `agent` module).

use std::fmt;
use std::future::Future;
use std::io::{self, Read as _};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flate2::read::{DeflateDecoder, ZlibDecoder};
use http::{HeaderMap, Method, Uri, Version, header};
use tether_core::redact_url;
use tether_core::{Outcome, Request, Response, Transport, TransportError, TransportErrorKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::clock;

/// The future of one [`UreqTransport`] attempt.
pub type SendFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// How a [`UreqTransport`] connects, times out, limits and decodes.
///
/// Build it with struct-update syntax: `NativeConfig { pool_size: 8, ..NativeConfig::default() }`.
/// The defaults follow the original client: a pool of 100 keep-alive connections, 30 s idle
/// expiry, 30 s for connect, each read and each write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeConfig {
    /// Idle keep-alive connections kept, in total and per host. `0` disables reuse.
    pub pool_size: usize,
    /// How long an idle connection may stay in the pool before it is closed.
    pub idle_timeout: Duration,
    /// Limit on establishing a connection (TCP connect and TLS handshake). `None`: no limit.
    pub connect_timeout: Option<Duration>,
    /// Limit on each single read from the socket (restarts with every read). `None`: no limit.
    pub read_timeout: Option<Duration>,
    /// Limit on each single write to the socket. `None`: no limit.
    pub write_timeout: Option<Duration>,
    /// Limit on a whole attempt — queueing for a slot, connecting, sending, and reading the
    /// full body — when the caller passes no timeout of its own. `None`: no overall limit.
    /// A host name is looked up on the attempt's own thread and the lookup is not cut short
    /// (the system resolver's time-outs bound it); an IP literal needs no lookup.
    pub timeout: Option<Duration>,
    /// The largest response body accepted, after decompression; a larger one fails the
    /// attempt with [`TransportErrorKind::BodyTooLarge`].
    pub max_body_bytes: u64,
    /// Send `Accept-Encoding: gzip, deflate` (unless the request sets its own). Responses
    /// with `Content-Encoding: gzip` or `deflate` are decoded either way, and lose their
    /// `Content-Encoding` and `Content-Length` headers, which no longer describe the body.
    pub accept_compressed: bool,
    /// Redirects followed. `0` (the default) returns 3xx responses to the caller, so the
    /// core sees, caches and counts them.
    pub max_redirects: u32,
    /// The `User-Agent` sent when the request has none; empty for none.
    pub user_agent: String,
    /// The most attempts running at once on tokio's blocking pool (more wait their turn);
    /// `None` means [`pool_size`](Self::pool_size). At least 1.
    pub max_blocking: Option<usize>,
}

impl NativeConfig {
    /// The default response body limit: 16 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

    /// The effective bound on concurrent blocking attempts.
    pub fn blocking_slots(&self) -> usize {
        self.max_blocking
            .unwrap_or(self.pool_size)
            .clamp(1, Semaphore::MAX_PERMITS)
    }
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            pool_size: 100,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            timeout: Some(Duration::from_secs(30)),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            accept_compressed: true,
            max_redirects: 0,
            user_agent: concat!("tether/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_blocking: None,
        }
    }
}

/// A [`Transport`] over a ureq [`Agent`](ureq::Agent): HTTP/1.1 with a keep-alive pool, gzip
/// and deflate decoding, HTTPS through rustls (feature `rustls`, on by default).
///
/// Every status comes back as a response (4xx and 5xx included); only failures below HTTP are
/// [`TransportError`]s, classified as:
///
/// | kind | when |
/// |---|---|
/// | `Connect` | refused, unreachable, DNS failure, TLS handshake or proxy failure |
/// | `Timeout` | any ureq timeout (connect, per read/write, whole attempt), or no slot in time |
/// | `Reset` | connection reset or closed early: before the response, or mid-body |
/// | `BodyTooLarge` | the decoded body exceeds [`NativeConfig::max_body_bytes`] |
/// | `Protocol` | the peer's bytes are not valid HTTP/1.x, or its gzip/deflate is corrupt |
/// | `InvalidRequest` | ureq refused to write the request (bad URI, a duplicate or non-ASCII `Host`, non-ASCII credentials, a body its method forbids, a body longer than its `Content-Length`): the caller's mistake, never counted against the upstream |
/// | `Other` | no tokio runtime, a panicked or cancelled blocking job |
///
/// Messages name the method and the URL with secrets redacted
/// ([`redact_url`]); they never include header values.
///
/// Clones share the agent, its pool and the concurrency bound. Attempts must be polled inside
/// a tokio runtime with the time driver enabled.
#[derive(Clone)]
pub struct UreqTransport {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    slots: Arc<Semaphore>,
    config: NativeConfig,
}

impl UreqTransport {
    /// A transport with its own connection pool, configured by `config`.
    pub fn new(config: NativeConfig) -> Self {
        let accept_encoding = if config.accept_compressed {
            "gzip, deflate"
        } else {
            ""
        };
        let ureq_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(config.max_redirects)
            .max_redirects_will_error(false)
            .max_idle_connections(config.pool_size)
            .max_idle_connections_per_host(config.pool_size)
            .max_idle_age(config.idle_timeout)
            .timeout_connect(config.connect_timeout)
            .timeout_per_read(config.read_timeout)
            .timeout_per_write(config.write_timeout)
            .timeout_global(config.timeout)
            .user_agent(config.user_agent.as_str())
            .accept_encoding(accept_encoding)
            // Any method token goes out (`PURGE`, `PROPFIND`, …), as the client promises;
            // ureq's default refuses them as a protocol error that the breaker would count.
            .allow_non_standard_methods(true)
            .build();
        let agent = crate::agent::new_agent(ureq_config);
        UreqTransport {
            inner: Arc::new(Inner {
                agent,
                slots: Arc::new(Semaphore::new(config.blocking_slots())),
                config,
            }),
        }
    }

    /// The configuration this transport was built with.
    pub fn config(&self) -> &NativeConfig {
        &self.inner.config
    }

    /// How many more attempts could start on the blocking pool right now.
    pub fn available_slots(&self) -> usize {
        self.inner.slots.available_permits()
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
}

impl Inner {
    async fn send(self: Arc<Self>, request: Request, timeout: Option<Duration>) -> Outcome {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let fail = |failure: Failure| Err(failure.into_error(&method, &uri));

        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return fail(Failure::new(
                TransportErrorKind::Other,
                "UreqTransport must be polled inside a tokio runtime",
            ));
        };
        let budget = timeout.or(self.config.timeout);
        // `deadline`: the overall limit handed to ureq for this request; `None` leaves the
        // agent's own (`NativeConfig::timeout`) in force.
        let (permit, deadline) = match Arc::clone(&self.slots).try_acquire_owned() {
            // A free slot at once (the common case): no timer, no clock read, and when the
            // budget is the agent's own limit, no per-request ureq config either.
            Ok(permit) => (permit, budget.filter(|b| Some(*b) != self.config.timeout)),
            Err(TryAcquireError::NoPermits) => {
                let started = clock::monotonic();
                let permit = match self.acquire_slot(budget).await {
                    Ok(permit) => permit,
                    Err(failure) => return fail(failure),
                };
                let remaining = budget.map(|b| {
                    b.saturating_sub(clock::monotonic().saturating_duration_since(started))
                });
                if remaining == Some(Duration::ZERO) {
                    return fail(Failure::new(
                        TransportErrorKind::Timeout,
                        "timed out waiting for a free transport slot",
                    ));
                }
                (permit, remaining)
            }
            // The semaphore is never closed; map it anyway rather than panic.
            Err(TryAcquireError::Closed) => {
                return fail(Failure::new(TransportErrorKind::Other, "transport closed"));
            }
        };

        // `spawn_blocking`, not a task: ureq blocks. The permit moves into the job and is
        // released only when ureq returns, even if this future was dropped meanwhile.
        let job = runtime.spawn_blocking(move || {
            let _permit = permit;
            self.call(request, deadline)
        });
        match job.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(failure)) => fail(failure),
            Err(join) => fail(Failure::new(
                TransportErrorKind::Other,
                if join.is_panic() {
                    "the transport's blocking job panicked"
                } else {
                    "the transport's blocking job was cancelled"
                },
            )),
        }
    }

    async fn acquire_slot(
        &self,
        budget: Option<Duration>,
    ) -> Result<OwnedSemaphorePermit, Failure> {
        let acquire = Arc::clone(&self.slots).acquire_owned();
        let acquired = match budget {
            Some(budget) => tokio::time::timeout(budget, acquire).await.map_err(|_| {
                Failure::new(
                    TransportErrorKind::Timeout,
                    "timed out waiting for a free transport slot",
                )
            })?,
            None => acquire.await,
        };
        // The semaphore is never closed; map it anyway rather than panic.
        acquired.map_err(|_| Failure::new(TransportErrorKind::Other, "transport closed"))
    }

    /// The blocking part: send, read the whole body under the limit, decode. `deadline`
    /// overrides the agent's overall limit for this request.
    fn call(&self, request: Request, deadline: Option<Duration>) -> Result<Response, Failure> {
        let (mut parts, body) = request.into_parts();
        // ureq speaks HTTP/1.x only; the version of a core request is a preference at most.
        if !matches!(parts.version, Version::HTTP_10 | Version::HTTP_11) {
            parts.version = Version::HTTP_11;
        }
        let response = if body.is_empty() && !expects_body(&parts.method) {
            // No body at all, rather than `Content-Length: 0` on a GET.
            self.run(http::Request::from_parts(parts, ()), deadline)
        } else {
            self.run(http::Request::from_parts(parts, &body[..]), deadline)
        }
        .map_err(Failure::from_ureq)?;

        let limit = self.config.max_body_bytes;
        let (mut parts, mut body) = response.into_parts();
        let mut bytes = body
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(Failure::from_ureq)?;
        if !bytes.is_empty() && is_deflate(&parts.headers) {
            bytes = inflate(&bytes, limit)?;
            parts.headers.remove(header::CONTENT_ENCODING);
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        Ok(Response::from_parts(parts, Bytes::from(bytes)))
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: http::Request<B>,
        deadline: Option<Duration>,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        // A per-request limit costs ureq a copy of the agent's config; only when needed.
        let request = match deadline {
            Some(deadline) => self
                .agent
                .configure_request(request)
                .timeout_global(Some(deadline))
                .build(),
            None => request,
        };
        self.agent.run(request)
    }
}

/// Whether an empty body should still be sent (as `Content-Length: 0`) for this method.
fn expects_body(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::DELETE
            | Method::OPTIONS
            | Method::TRACE
            | Method::CONNECT
    )
}

fn is_deflate(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("deflate"))
}

/// Decodes a `Content-Encoding: deflate` body, which RFC 9110 defines as zlib-wrapped but
/// some servers send raw; the zlib header check tells them apart.
fn inflate(raw: &[u8], limit: u64) -> Result<Vec<u8>, Failure> {
    let zlib = raw.len() >= 2
        && raw[0] & 0x0f == 8
        && (u16::from(raw[0]) << 8 | u16::from(raw[1])) % 31 == 0;
    let cap = limit.saturating_add(1);
    let mut out = Vec::new();
    let read = if zlib {
        ZlibDecoder::new(raw).take(cap).read_to_end(&mut out)
    } else {
        DeflateDecoder::new(raw).take(cap).read_to_end(&mut out)
    };
    read.map_err(|e| {
        Failure::new(
            TransportErrorKind::Protocol,
            format!("deflate decompression failed: {e}"),
        )
    })?;
    if out.len() as u64 > limit {
        return Err(body_too_large(limit));
    }
    Ok(out)
}

fn body_too_large(limit: u64) -> Failure {
    Failure::new(
        TransportErrorKind::BodyTooLarge,
        format!("response body exceeds the limit of {limit} bytes"),
    )
}

/// A classified failure before the request context is added.
#[derive(Debug)]
struct Failure {
    kind: TransportErrorKind,
    detail: String,
}

impl Failure {
    fn new(kind: TransportErrorKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// The error the core sees: `detail (METHOD redacted-url)`. The detail is redacted too:
    /// some ureq errors quote a URI or a `Location` header.
    fn into_error(self, method: &Method, uri: &Uri) -> TransportError {
        let detail = redact_url(&self.detail);
        let url = redact_url(&uri.to_string());
        TransportError::new(self.kind, format!("{detail} ({method} {url})"))
    }

    fn from_ureq(error: ureq::Error) -> Self {
        use TransportErrorKind as K;
        use ureq::Error as E;
        match error {
            E::Timeout(which) => Failure::new(K::Timeout, format!("timed out ({which})")),
            E::HostNotFound => Failure::new(K::Connect, "host not found"),
            E::ConnectionFailed => Failure::new(K::Connect, "connection failed"),
            E::Io(e) => Failure::new(io_error_kind(&e), format!("io: {e}")),
            E::BodyExceedsLimit(limit) => body_too_large(limit),
            E::Protocol(e) if is_request_side(&e) => {
                Failure::new(K::InvalidRequest, format!("invalid request: {e}"))
            }
            E::Protocol(e) => Failure::new(K::Protocol, format!("protocol: {e}")),
            E::LargeResponseHeader(got, max) => Failure::new(
                K::Protocol,
                format!("response header too large: {got} > {max} bytes"),
            ),
            E::Decompress(codec, e) => {
                // A read error surfaces through the decoder: keep resets and timeouts.
                let kind = match io_kind(e.kind()) {
                    k @ (K::Reset | K::Timeout) => k,
                    _ => K::Protocol,
                };
                Failure::new(kind, format!("{codec} decompression failed: {e}"))
            }
            E::BodyStalled => Failure::new(K::Reset, "response body stalled"),
            E::Tls(e) => Failure::new(K::Connect, format!("tls: {e}")),
            #[cfg(feature = "rustls")]
            E::Rustls(e) => Failure::new(K::Connect, format!("tls: {e}")),
            E::ConnectProxyFailed(_) => Failure::new(K::Connect, "proxy CONNECT failed"),
            // These quote the URL; the context already names it (redacted).
            E::BadUri(_) => Failure::new(K::InvalidRequest, "invalid request URI"),
            E::RequireHttpsOnly(_) => Failure::new(K::InvalidRequest, "https required"),
            E::Http(e) => Failure::new(K::InvalidRequest, format!("invalid request: {e}")),
            other => Failure::new(K::Other, other.to_string()),
        }
    }
}

/// Whether ureq's protocol error is about the request it was asked to write (the caller's
/// mistake) rather than what the peer sent. Errors both sides can raise (a malformed
/// `Content-Length` on a response, say) stay protocol errors; the engine refuses such
/// requests before they reach a transport anyway.
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

/// The class of an I/O error from ureq. A failed DNS lookup reaches us as std's
/// `getaddrinfo` error, whose kind is unstable ("uncategorized"), so it is told by its text.
fn io_error_kind(error: &io::Error) -> TransportErrorKind {
    match io_kind(error.kind()) {
        TransportErrorKind::Other
            if error
                .to_string()
                .starts_with("failed to lookup address information") =>
        {
            TransportErrorKind::Connect
        }
        kind => kind,
    }
}

fn io_kind(kind: io::ErrorKind) -> TransportErrorKind {
    use TransportErrorKind as K;
    use io::ErrorKind as E;
    match kind {
        E::ConnectionRefused
        | E::HostUnreachable
        | E::NetworkUnreachable
        | E::NetworkDown
        | E::AddrNotAvailable
        | E::AddrInUse => K::Connect,
        E::TimedOut | E::WouldBlock => K::Timeout,
        E::ConnectionReset
        | E::ConnectionAborted
        | E::BrokenPipe
        | E::UnexpectedEof
        | E::NotConnected => K::Reset,
        E::InvalidData => K::Protocol,
        _ => K::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::{DeflateEncoder, ZlibEncoder};

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_zlib_and_raw_deflate() {
        let data = b"hello hello hello hello".repeat(10);
        assert_eq!(inflate(&zlib(&data), 1 << 20).unwrap(), data);
        assert_eq!(inflate(&raw_deflate(&data), 1 << 20).unwrap(), data);
    }

    #[test]
    fn inflate_enforces_the_decoded_limit() {
        let data = vec![b'a'; 10_000];
        let packed = zlib(&data);
        assert!(packed.len() < 200);
        assert_eq!(inflate(&packed, 10_000).unwrap().len(), 10_000);
        let err = inflate(&packed, 9_999).unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::BodyTooLarge);
    }

    #[test]
    fn corrupt_deflate_is_a_protocol_error() {
        let err = inflate(&[0x78, 0x9c, 0xff, 0xff, 0xff], 100).unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Protocol);
    }

    #[test]
    fn io_kinds_are_classified() {
        use TransportErrorKind as K;
        assert_eq!(io_kind(io::ErrorKind::ConnectionRefused), K::Connect);
        assert_eq!(io_kind(io::ErrorKind::ConnectionReset), K::Reset);
        assert_eq!(io_kind(io::ErrorKind::UnexpectedEof), K::Reset);
        assert_eq!(io_kind(io::ErrorKind::TimedOut), K::Timeout);
        assert_eq!(io_kind(io::ErrorKind::InvalidData), K::Protocol);
        assert_eq!(io_kind(io::ErrorKind::PermissionDenied), K::Other);
        // What std's resolver returns on Linux when a name does not resolve.
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(io_error_kind(&dns), K::Connect);
        let dns = ureq::Error::Io(dns);
        assert_eq!(Failure::from_ureq(dns).kind, K::Connect);
        assert_eq!(
            Failure::from_ureq(ureq::Error::HostNotFound).kind,
            K::Connect
        );
    }

    #[test]
    fn request_side_protocol_errors_are_the_callers() {
        use ureq_proto::Error as P;
        for e in [
            P::TooManyHostHeaders,
            P::BadHostHeader,
            P::BadAuthorizationHeader,
            P::BodyNotAllowed,
            P::BodyLargerThanContentLength,
            P::MethodVersionMismatch(Method::from_bytes(b"PURGE").unwrap(), Version::HTTP_10),
        ] {
            let kind = Failure::from_ureq(ureq::Error::Protocol(e)).kind;
            assert_eq!(kind, TransportErrorKind::InvalidRequest);
        }
        // What the peer sent is still the peer's.
        for e in [
            P::BadContentLengthHeader,
            P::HttpParseFail("x".into()),
            P::ChunkLenNotANumber,
        ] {
            let kind = Failure::from_ureq(ureq::Error::Protocol(e)).kind;
            assert_eq!(kind, TransportErrorKind::Protocol);
        }
        assert_eq!(
            Failure::from_ureq(ureq::Error::BadUri("x".into())).kind,
            TransportErrorKind::InvalidRequest
        );
    }

    #[test]
    fn messages_redact_the_url_and_quoted_uris() {
        let uri: Uri = "http://user:pw@example.com/x?api_key=SECRET&q=1"
            .parse()
            .unwrap();
        let failure = Failure::new(
            TransportErrorKind::Protocol,
            "location header is malformed: /next?token=HIDDEN",
        );
        let error = failure.into_error(&Method::GET, &uri);
        assert!(!error.message.contains("SECRET"), "{}", error.message);
        assert!(!error.message.contains("HIDDEN"), "{}", error.message);
        assert!(!error.message.contains("pw"), "{}", error.message);
        assert!(error.message.contains("GET http://"), "{}", error.message);
    }

    #[test]
    fn blocking_slots_default_to_the_pool_size_and_never_zero() {
        let config = NativeConfig {
            pool_size: 7,
            ..NativeConfig::default()
        };
        assert_eq!(config.blocking_slots(), 7);
        let config = NativeConfig {
            pool_size: 0,
            ..NativeConfig::default()
        };
        assert_eq!(config.blocking_slots(), 1);
        let config = NativeConfig {
            max_blocking: Some(2),
            ..NativeConfig::default()
        };
        assert_eq!(config.blocking_slots(), 2);
    }
}
