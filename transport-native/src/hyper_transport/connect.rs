//! [`Connector`]: how [`HyperTransport`](super::HyperTransport) opens a connection — a free
//! connection slot of the origin, TCP (hyper-util's `HttpConnector`: DNS off the runtime's
//! threads, happy eyeballs, `TCP_NODELAY`), the proxy when one applies (absolute-form for
//! `http://` targets, a `CONNECT` tunnel for `https://` ones), then TLS through rustls — all
//! under `NativeConfig::connect_timeout`, every failure already classified.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tether_core::TransportErrorKind;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

use crate::bulkhead::{Bulkhead, Origin, Slot};
use crate::failure::{Failure, describe, find_source, io_error_kind};
use crate::proxy::ProxyRules;
use crate::rt::{self, race};

/// Opens connections for the hyper-util client.
#[derive(Clone)]
pub(crate) struct Connector {
    tcp: HttpConnector,
    /// `None` when rustls refused its configuration: `https://` then fails to connect.
    #[cfg(feature = "rustls")]
    tls: Option<tokio_rustls::TlsConnector>,
    proxy: Option<Arc<ProxyRules>>,
    /// `max_connections_per_host` slots per origin; each open connection holds one.
    slots: Arc<Bulkhead>,
    timeout: Option<Duration>,
}

impl Connector {
    pub(crate) fn new(
        proxy: Option<Arc<ProxyRules>>,
        slots: Arc<Bulkhead>,
        timeout: Option<Duration>,
    ) -> Self {
        let mut tcp = HttpConnector::new();
        // `https://` URIs reach it too; TLS is layered on top here.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        Connector {
            tcp,
            #[cfg(feature = "rustls")]
            tls: rustls_setup::client_config()
                .ok()
                .map(tokio_rustls::TlsConnector::from),
            proxy,
            slots,
            timeout,
        }
    }

    /// Whether `https://` can work: rustls accepted its configuration.
    #[cfg(feature = "rustls")]
    pub(crate) fn tls_ready(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether `https://` can work (without the `rustls` feature it cannot, but nothing is
    /// misconfigured).
    #[cfg(not(feature = "rustls"))]
    #[expect(clippy::unused_self, reason = "the same shape as the rustls variant")]
    pub(crate) fn tls_ready(&self) -> bool {
        true
    }

    async fn connect(self, dst: Uri) -> Result<Conn, Failure> {
        let timer = match self.timeout {
            Some(timeout) => Some(rt::sleep(timeout)?),
            None => None,
        };
        let mut timer = pin!(timer);
        let origin = Origin::of(&dst).ok_or_else(|| Failure::invalid("invalid URL"))?;
        let slot = match self.slots.try_take(origin) {
            Slot::Taken(permit) => permit,
            Slot::Full(semaphore) => {
                race(semaphore.acquire_owned(), timer.as_mut().as_pin_mut(), None)
                    .await
                    .map_err(|_| timed_out("waiting for a free connection slot of the host"))?
                    .map_err(|_| Failure::internal("transport closed"))?
            }
        };

        let tls = dst.scheme() == Some(&Scheme::HTTPS);
        let intercept = self.proxy.as_ref().and_then(|rules| rules.intercept(&dst));
        let tcp = {
            let dst = dst.clone();
            let intercept = intercept.clone();
            let mut tcp = self.tcp.clone();
            async move {
                match intercept {
                    None => tcp
                        .call(dst)
                        .await
                        .map_err(|e| connect_failure("connect", &e)),
                    Some(proxy) if !tls => tcp
                        .call(proxy.uri().clone())
                        .await
                        .map_err(|e| connect_failure("connect to the proxy", &e)),
                    Some(proxy) => {
                        let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
                        if let Some(auth) = proxy.basic_auth() {
                            tunnel = tunnel.with_auth(auth.clone());
                        }
                        tunnel
                            .call(dst)
                            .await
                            .map_err(|e| connect_failure("proxy tunnel", &e))
                    }
                }
            }
        };
        let tcp = rt::unwind_safe(tcp, || rt::no_driver("io"));
        let tcp = race(tcp, timer.as_mut().as_pin_mut(), None)
            .await
            .map_err(|_| timed_out("connect"))??;

        let io = if tls {
            self.handshake(&dst, tcp, timer.as_mut().as_pin_mut())
                .await?
        } else {
            Io::Plain(tcp)
        };
        Ok(Conn {
            io,
            proxied: intercept.is_some() && !tls,
            _slot: slot,
        })
    }

    #[cfg(feature = "rustls")]
    async fn handshake(
        &self,
        dst: &Uri,
        tcp: TokioIo<TcpStream>,
        timer: Option<Pin<&mut tokio::time::Sleep>>,
    ) -> Result<Io, Failure> {
        use rustls::pki_types::ServerName;
        let host = dst.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Failure::new(TransportErrorKind::Connect, "tls: invalid server name"))?;
        let Some(tls) = &self.tls else {
            return Err(Failure::invalid(
                "tls: rustls refused its default configuration",
            ));
        };
        let stream = race(tls.connect(name, tcp.into_inner()), timer, None)
            .await
            .map_err(|_| timed_out("TLS handshake"))?
            .map_err(|e| connect_failure("tls", &e))?;
        Ok(Io::Tls(Box::new(TokioIo::new(stream))))
    }

    #[cfg(not(feature = "rustls"))]
    #[expect(clippy::unused_async, reason = "the same shape as the rustls variant")]
    async fn handshake(
        &self,
        _dst: &Uri,
        _tcp: TokioIo<TcpStream>,
        _timer: Option<Pin<&mut tokio::time::Sleep>>,
    ) -> Result<Io, Failure> {
        Err(Failure::invalid(
            "https:// needs tether-native's `rustls` feature",
        ))
    }
}

impl Service<Uri> for Connector {
    type Response = Conn;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, ConnectFailure>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            this.connect(dst).await.map_err(|failure| ConnectFailure {
                kind: failure.kind,
                detail: failure.detail,
            })
        })
    }
}

/// A connection that could not be made, already classified; the transport finds it in the
/// hyper-util error's source chain.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct ConnectFailure {
    pub(crate) kind: TransportErrorKind,
    pub(crate) detail: String,
}

fn timed_out(what: &str) -> Failure {
    Failure::new(TransportErrorKind::Timeout, format!("timed out ({what})"))
}

/// Everything that fails before the request is written is a connect failure (the request
/// never reached the server, so even a non-idempotent one may be retried), except a time-out.
fn connect_failure(phase: &str, error: &(dyn std::error::Error + 'static)) -> Failure {
    let kind = match find_source::<io::Error>(error).map(io_error_kind) {
        Some(TransportErrorKind::Timeout) => TransportErrorKind::Timeout,
        _ => TransportErrorKind::Connect,
    };
    Failure::new(kind, format!("{phase}: {}", describe(error)))
}

/// An open connection: TCP or TLS over TCP, whether it goes to a proxy in absolute form, and
/// the connection slot of its origin, given back when the connection closes.
pub(crate) struct Conn {
    io: Io,
    proxied: bool,
    _slot: OwnedSemaphorePermit,
}

enum Io {
    Plain(TokioIo<TcpStream>),
    #[cfg(feature = "rustls")]
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new().proxy(self.proxied)
    }
}

impl Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            Io::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            #[cfg(feature = "rustls")]
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            #[cfg(feature = "rustls")]
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            #[cfg(feature = "rustls")]
            Io::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            Io::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client configuration: rustls with the ring provider, the webpki roots (Mozilla's
/// list, compiled in) and ALPN `http/1.1` — the same trust as the ureq transport.
pub(crate) mod rustls_setup {
    #[cfg(feature = "rustls")]
    pub(crate) fn client_config() -> Result<std::sync::Arc<rustls::ClientConfig>, rustls::Error> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(std::sync::Arc::new(config))
    }
}
