//! [`NativeConfig`]: how the native transports connect, time out, limit, decode, isolate hosts
//! and use proxies — one configuration for [`HyperTransport`](crate::HyperTransport) and
//! [`UreqTransport`](crate::UreqTransport).

use std::fmt;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use tether_core::ConfigError;

/// How the native transports connect, time out, limit, decode, isolate hosts and use proxies.
///
/// Build it with struct-update syntax: `NativeConfig { pool_size: 8, ..NativeConfig::default() }`,
/// and check it with [`validate`](Self::validate) (the transports' `try_new` does).
/// The defaults follow the original client: a pool of 100 keep-alive connections, 30 s idle
/// expiry, 30 s for connect, each read and each write; redirects are not followed and no
/// proxy is used.
///
/// Durations longer than [`MAX_TIMEOUT`](Self::MAX_TIMEOUT) (one year) are treated as one
/// year — no limit in practice — so `Duration::MAX` is accepted and never overflows a
/// deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeConfig {
    /// Idle keep-alive connections kept per host (the ureq transport also caps its whole pool
    /// at this). `0` disables reuse.
    pub pool_size: usize,
    /// How long an idle connection may stay in the pool before it is closed.
    pub idle_timeout: Duration,
    /// Limit on establishing a connection: TCP connect, proxy `CONNECT` and TLS handshake
    /// (for the hyper transport, also the wait for a free connection slot of the host).
    /// `None`: no limit. Zero is invalid.
    pub connect_timeout: Option<Duration>,
    /// Limit on each wait for the peer: the ureq transport applies it to every socket read;
    /// the hyper transport to the wait for the response head (which includes sending the
    /// request) and to each wait for the next piece of the body. `None`: no limit. Zero is
    /// invalid.
    pub read_timeout: Option<Duration>,
    /// Limit on each single socket write (ureq transport only: the hyper transport bounds
    /// writing by [`read_timeout`](Self::read_timeout) and the attempt timeout). `None`: no
    /// limit. Zero is invalid.
    pub write_timeout: Option<Duration>,
    /// Limit on a whole attempt — waiting for a slot of the host, connecting, sending, every
    /// redirect followed, and reading the full body — when the caller passes no timeout of its
    /// own. `None`: no overall limit. Zero is invalid.
    pub timeout: Option<Duration>,
    /// The largest response body accepted, both as received and after decompression; a
    /// larger one fails the attempt with
    /// [`TransportErrorKind::BodyTooLarge`](tether_core::TransportErrorKind::BodyTooLarge)
    /// as soon as the limit is crossed, without buffering past it.
    pub max_body_bytes: u64,
    /// Send `Accept-Encoding: gzip, deflate` when the request has no `Accept-Encoding`.
    /// Responses with `Content-Encoding: gzip`, `x-gzip` or `deflate` are decoded either way
    /// (while streaming, against [`max_body_bytes`](Self::max_body_bytes)), and lose their
    /// `Content-Encoding` and `Content-Length` headers, which no longer describe the body.
    pub accept_compressed: bool,
    /// Redirects followed. `0` (the default) returns 3xx responses to the caller, so the
    /// core sees, caches and counts them. When following, a hop to another origin (scheme,
    /// host or port) carries only the headers known not to identify the caller, the same rule
    /// as the cache's partition: [`tether_core::NON_IDENTIFYING_HEADERS`] and
    /// [`non_identifying_headers`](Self::non_identifying_headers), never
    /// [`credential_headers`](Self::credential_headers).
    pub max_redirects: u32,
    /// Request headers that never go to another origin when a followed redirect leads there,
    /// even when listed as non-identifying, on top of `Authorization`, `Cookie`,
    /// `Proxy-Authorization` and every header `tether_core::redact` treats as secret. The
    /// default is the cache's default `credential_headers`.
    pub credential_headers: Vec<String>,
    /// Request headers known not to identify the caller, in addition to the built-in
    /// [`tether_core::NON_IDENTIFYING_HEADERS`]: a followed redirect carries them to another
    /// origin. A header name, or a prefix ending in `*` (`x-feature-*`). Every other header
    /// stays behind. Give it the list of the cache's `non_identifying_headers`. Default empty.
    pub non_identifying_headers: Vec<String>,
    /// The `User-Agent` sent when the request has none; empty for none. Must be a valid header
    /// value (no CR, LF or other control characters).
    pub user_agent: String,
    /// The most attempts in flight to one origin (scheme, host, port) at once; more wait for
    /// a slot, within their attempt timeout. A slow or dead host can therefore hold at most
    /// this many attempts, and never delays attempts to another host. At least 1.
    pub max_attempts_per_host: usize,
    /// The most open connections to one origin, idle ones included (hyper transport; the ureq
    /// transport holds at most one connection per attempt in flight, plus
    /// [`pool_size`](Self::pool_size) idle ones). At least 1.
    pub max_connections_per_host: usize,
    /// The most attempts of the ureq transport running at once on tokio's blocking pool, over
    /// every host (more wait their turn). `None` means
    /// [`DEFAULT_MAX_BLOCKING`](Self::DEFAULT_MAX_BLOCKING). Keep it above
    /// [`max_attempts_per_host`](Self::max_attempts_per_host), or one slow host can take every
    /// blocking slot. Not used by the hyper transport. `Some(0)` is invalid.
    pub max_blocking: Option<usize>,
    /// Which proxy to use. The default, [`Proxy::Direct`], uses none and ignores the
    /// environment: `HTTP_PROXY` and friends are read only with [`Proxy::FromEnv`].
    pub proxy: Proxy,
}

impl NativeConfig {
    /// The default response body limit: 16 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

    /// The default bound on the ureq transport's blocking attempts: half of tokio's default
    /// blocking pool (512 threads), so DNS look-ups and file I/O keep threads too.
    pub const DEFAULT_MAX_BLOCKING: usize = 256;

    /// The longest duration honoured; longer ones are treated as this (one year).
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// The effective bound on concurrent blocking attempts of the ureq transport.
    pub fn blocking_slots(&self) -> usize {
        self.max_blocking
            .unwrap_or(Self::DEFAULT_MAX_BLOCKING)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
    }

    /// Checks every field: zero timeouts, zero bounds, a `User-Agent` that is not a valid
    /// header value (CR, LF, NUL…), invalid names in the header lists and an invalid proxy are
    /// configuration errors. The transports' `try_new` call it; their `new` never panics on an
    /// invalid configuration but fails every attempt with the same message instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, timeout) in [
            ("native.connect_timeout", self.connect_timeout),
            ("native.read_timeout", self.read_timeout),
            ("native.write_timeout", self.write_timeout),
            ("native.timeout", self.timeout),
        ] {
            if timeout == Some(Duration::ZERO) {
                return Err(ConfigError::invalid(
                    field,
                    "must be greater than zero (None means no limit)",
                ));
            }
        }
        if HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(ConfigError::invalid(
                "native.user_agent",
                "must be a valid header value: visible ASCII, spaces and tabs, no CR or LF",
            ));
        }
        if self.max_attempts_per_host == 0 {
            return Err(ConfigError::invalid(
                "native.max_attempts_per_host",
                "must be at least 1",
            ));
        }
        if self.max_connections_per_host == 0 {
            return Err(ConfigError::invalid(
                "native.max_connections_per_host",
                "must be at least 1",
            ));
        }
        if self.max_blocking == Some(0) {
            return Err(ConfigError::invalid(
                "native.max_blocking",
                "must be at least 1 (None means the default)",
            ));
        }
        if self
            .credential_headers
            .iter()
            .any(|h| HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err(ConfigError::invalid(
                "native.credential_headers",
                "every entry must be a valid header name",
            ));
        }
        if !self.non_identifying_headers.iter().all(|entry| {
            let name = entry.strip_suffix('*').unwrap_or(entry);
            !name.is_empty() && HeaderName::from_bytes(name.as_bytes()).is_ok()
        }) {
            return Err(ConfigError::invalid(
                "native.non_identifying_headers",
                "must be header names, or a name prefix followed by `*`",
            ));
        }
        self.proxy.validate()
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
            credential_headers: [
                "authorization",
                "cookie",
                "proxy-authorization",
                "x-api-key",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            non_identifying_headers: Vec::new(),
            user_agent: concat!("tether/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_attempts_per_host: 100,
            max_connections_per_host: 200,
            max_blocking: None,
            proxy: Proxy::Direct,
        }
    }
}

/// `d`, at most [`NativeConfig::MAX_TIMEOUT`].
pub(crate) fn clamp(d: Duration) -> Duration {
    d.min(NativeConfig::MAX_TIMEOUT)
}

/// Which proxy the transports use.
///
/// Only HTTP proxies (`http://[user:password@]host[:port]`) are supported: `https://`
/// targets are tunnelled through `CONNECT`; `http://` targets are sent to the proxy in
/// absolute form by the hyper transport and tunnelled by the ureq transport. Credentials in
/// the proxy URL go to the proxy as `Proxy-Authorization: Basic`, never to the target.
///
/// `Debug` never shows the proxy's credentials.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proxy {
    /// No proxy, whatever the environment says (the default).
    #[default]
    Direct,
    /// Every request goes through `url`, except to hosts matched by `no_proxy`.
    Http {
        /// The proxy: `http://[user:password@]host[:port]` (port 80 when absent; a missing
        /// scheme means `http`).
        url: String,
        /// Hosts reached directly, curl's `NO_PROXY` syntax: comma-separated domains (each
        /// also matching its subdomains), IP addresses or CIDR blocks, or `*` for all.
        no_proxy: String,
    },
    /// The proxy named by the environment, read when the transport is built, with curl's
    /// rules: `HTTPS_PROXY`/`https_proxy` for `https://` targets, `HTTP_PROXY`/`http_proxy`
    /// for `http://` targets, `ALL_PROXY`/`all_proxy` for both when the specific one is unset,
    /// and `NO_PROXY`/`no_proxy` for exceptions. When `REQUEST_METHOD` is set (a CGI
    /// program, where `HTTP_PROXY` may come from a request header), no proxy is used.
    /// Entries that are not `http://` proxies are ignored.
    FromEnv,
}

impl Proxy {
    /// Every request through the HTTP proxy at `url`, no exceptions.
    pub fn http(url: impl Into<String>) -> Self {
        Proxy::Http {
            url: url.into(),
            no_proxy: String::new(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Proxy::Direct | Proxy::FromEnv => Ok(()),
            Proxy::Http { url, .. } => parse_proxy_url(url)
                .map(|_| ())
                .map_err(|reason| ConfigError::invalid("native.proxy", reason)),
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxy::Direct => f.write_str("Direct"),
            Proxy::FromEnv => f.write_str("FromEnv"),
            Proxy::Http { url, no_proxy } => f
                .debug_struct("Http")
                .field("url", &tether_core::redact_url(url))
                .field("no_proxy", no_proxy)
                .finish(),
        }
    }
}

/// An HTTP proxy URL as a URI with scheme `http` and an authority: a missing scheme means
/// `http`; a path other than `/`, a query, or another scheme is refused.
pub(crate) fn parse_proxy_url(url: &str) -> Result<Uri, &'static str> {
    let url = url.trim();
    let with_scheme;
    let url = if url.contains("://") {
        url
    } else {
        with_scheme = format!("http://{url}");
        &with_scheme
    };
    let uri: Uri = url
        .parse()
        .map_err(|_| "must be a URL like http://host:port")?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// proxies are supported");
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err("must not have a path or a query");
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        NativeConfig::default().validate().unwrap();
    }

    #[test]
    fn invalid_fields_are_config_errors() {
        let cases: Vec<(NativeConfig, &str)> = vec![
            (
                NativeConfig {
                    user_agent: "evil\r\nX-Injected: 1".into(),
                    ..NativeConfig::default()
                },
                "native.user_agent",
            ),
            (
                NativeConfig {
                    user_agent: "nul\0byte".into(),
                    ..NativeConfig::default()
                },
                "native.user_agent",
            ),
            (
                NativeConfig {
                    timeout: Some(Duration::ZERO),
                    ..NativeConfig::default()
                },
                "native.timeout",
            ),
            (
                NativeConfig {
                    connect_timeout: Some(Duration::ZERO),
                    ..NativeConfig::default()
                },
                "native.connect_timeout",
            ),
            (
                NativeConfig {
                    max_attempts_per_host: 0,
                    ..NativeConfig::default()
                },
                "native.max_attempts_per_host",
            ),
            (
                NativeConfig {
                    max_connections_per_host: 0,
                    ..NativeConfig::default()
                },
                "native.max_connections_per_host",
            ),
            (
                NativeConfig {
                    max_blocking: Some(0),
                    ..NativeConfig::default()
                },
                "native.max_blocking",
            ),
            (
                NativeConfig {
                    credential_headers: vec!["bad header".into()],
                    ..NativeConfig::default()
                },
                "native.credential_headers",
            ),
            (
                NativeConfig {
                    non_identifying_headers: vec!["x-ok".into(), "*".into()],
                    ..NativeConfig::default()
                },
                "native.non_identifying_headers",
            ),
            (
                NativeConfig {
                    non_identifying_headers: vec!["bad name*".into()],
                    ..NativeConfig::default()
                },
                "native.non_identifying_headers",
            ),
            (
                NativeConfig {
                    proxy: Proxy::http("socks5://127.0.0.1:1080"),
                    ..NativeConfig::default()
                },
                "native.proxy",
            ),
            (
                NativeConfig {
                    proxy: Proxy::http("http://127.0.0.1:3128/path"),
                    ..NativeConfig::default()
                },
                "native.proxy",
            ),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(ConfigError::InvalidValue { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn huge_timeouts_and_an_empty_user_agent_are_valid() {
        let config = NativeConfig {
            timeout: Some(Duration::MAX),
            connect_timeout: Some(Duration::MAX),
            read_timeout: Some(Duration::MAX),
            write_timeout: Some(Duration::MAX),
            idle_timeout: Duration::MAX,
            user_agent: String::new(),
            ..NativeConfig::default()
        };
        config.validate().unwrap();
        assert_eq!(clamp(Duration::MAX), NativeConfig::MAX_TIMEOUT);
        assert_eq!(clamp(Duration::from_secs(5)), Duration::from_secs(5));
    }

    #[test]
    fn blocking_slots_default_and_never_zero() {
        assert_eq!(
            NativeConfig::default().blocking_slots(),
            NativeConfig::DEFAULT_MAX_BLOCKING
        );
        let config = NativeConfig {
            max_blocking: Some(2),
            ..NativeConfig::default()
        };
        assert_eq!(config.blocking_slots(), 2);
        let config = NativeConfig {
            max_blocking: Some(0),
            ..NativeConfig::default()
        };
        assert_eq!(config.blocking_slots(), 1);
    }

    #[test]
    fn proxy_urls_are_parsed_and_never_printed_with_credentials() {
        assert_eq!(
            parse_proxy_url("127.0.0.1:3128").unwrap().to_string(),
            "http://127.0.0.1:3128/"
        );
        assert!(parse_proxy_url("http://user:pw@proxy:8080").is_ok());
        assert!(parse_proxy_url("https://proxy:8080").is_err());
        assert!(parse_proxy_url("http://proxy:8080/?x=1").is_err());
        assert!(parse_proxy_url("http://").is_err());
        let config = NativeConfig {
            proxy: Proxy::http("http://user:hunter2@proxy:8080"),
            ..NativeConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("proxy:8080"), "{shown}");
    }
}
