//! Message framing belongs to the transport: the caller never decides how a request is
//! delimited on the wire, which connection carries it, or which host it claims to be for.
//! The rules are documented on [`check_framing`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, TE, TRANSFER_ENCODING,
    UPGRADE, USER_AGENT,
};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Uri, Version};
use percent_encoding::percent_decode_str;
use tether_core::Request;

use crate::failure::Failure;

/// Why a request was refused before anything was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The URL is not an absolute `http://` or `https://` URL with a host.
    #[error("the URL must be absolute, with an http or https scheme and a host")]
    InvalidUrl,
    /// A `Host` header names another authority than the URL (or appears twice).
    #[error("a Host header that differs from the URL's authority is refused")]
    HostMismatch,
    /// A `Content-Length` header disagrees with the body (or is malformed or repeated).
    #[error("Content-Length disagrees with the {actual}-byte body")]
    ContentLengthMismatch {
        /// The body's real length.
        actual: usize,
    },
    /// The request sets `Transfer-Encoding`.
    #[error("Transfer-Encoding is the transport's to set, never the caller's")]
    TransferEncoding,
    /// The request sets a connection-management header.
    #[error("the {0} header is the transport's to manage")]
    ConnectionManaged(&'static str),
}

/// A mismatched `Host` is the engine's own [`RequestError::HostMismatch`](tether_core::RequestError)
/// (the same rule, `tether_core::host_matches`); the other framing errors are
/// `RequestError::Refused`.
impl From<FramingError> for tether_core::RequestError {
    fn from(error: FramingError) -> Self {
        match error {
            FramingError::HostMismatch => tether_core::RequestError::HostMismatch,
            other => tether_core::RequestError::Refused {
                reason: other.to_string(),
            },
        }
    }
}

impl From<FramingError> for Failure {
    fn from(error: FramingError) -> Self {
        Failure::invalid(format!("request refused: {error}"))
    }
}

/// Checks `request` against the framing rules without changing it: `Ok` when the native
/// transports would send it (their `send` runs the same check).
///
/// The rules, per header (the same for both transports):
///
/// | header | rule |
/// |---|---|
/// | `Content-Length` | accepted only when it equals the body's length (then the transport writes its own); a different, repeated or malformed value is refused |
/// | `Transfer-Encoding` | refused: every body is a complete buffer, framed by `Content-Length` |
/// | `Host` | accepted only when it names the URL's authority (host and port, case-insensitively; the default port may be spelled out), then written by the transport from the URL; a different or repeated one is refused (the engine's own rule, [`tether_core::host_matches`], and through the client its error, `RequestError::HostMismatch`) — the cache keys on the URL, so a request must go where its URL says |
/// | `Connection`, `Keep-Alive`, `Proxy-Connection`, `Upgrade`, `TE` | refused: connection reuse and protocol switching are the transport's |
///
/// So `Content-Length` and `Transfer-Encoding` never both reach the wire. Refusals are typed
/// ([`FramingError`]); the transports report them as
/// [`TransportErrorKind::InvalidRequest`](tether_core::TransportErrorKind::InvalidRequest) and
/// send nothing.
/// Their [`Transport::check`](tether_core::Transport::check) runs this function, so the client
/// layer refuses such a request before it enters the engine: a
/// [`RequestError::Refused`](tether_core::RequestError::Refused), never counted as an upstream
/// failure.
///
/// Besides, the transports:
/// - send only absolute `http`/`https` URLs, always as HTTP/1.1 (or 1.0 when asked);
/// - take userinfo out of the URL (`http://user:pw@host/`): it becomes
///   `Authorization: Basic …` when the request has no `Authorization`, and never appears in
///   a request line or a `Host` header;
/// - add `User-Agent` and `Accept-Encoding` from [`NativeConfig`](crate::NativeConfig) when
///   the request has none.
pub fn check_framing(request: &Request) -> Result<(), FramingError> {
    target(request.uri())?;
    scan(request).map(|_| ())
}

/// What [`prepare`] adds to every request.
#[derive(Clone, Debug)]
pub(crate) struct Defaults {
    pub(crate) user_agent: Option<HeaderValue>,
    pub(crate) accept_encoding: Option<HeaderValue>,
}

impl Defaults {
    pub(crate) fn new(user_agent: &str, accept_compressed: bool) -> Self {
        Defaults {
            user_agent: (!user_agent.is_empty())
                .then(|| HeaderValue::from_str(user_agent).ok())
                .flatten(),
            accept_encoding: accept_compressed.then(|| HeaderValue::from_static("gzip, deflate")),
        }
    }
}

/// Applies the framing rules to `request` and readies it for the wire: refused headers are an
/// error; the caller's (equal) `Host` and `Content-Length` are removed so that the transport
/// writes its own; userinfo moves out of the URL; defaults are added.
///
/// The URL itself is checked by the caller, which reads the origin from it anyway
/// ([`Origin::of`](crate::bulkhead::Origin::of); `None` is [`FramingError::InvalidUrl`]).
pub(crate) fn prepare(request: &mut Request, defaults: &Defaults) -> Result<(), Failure> {
    let found = scan(request)?;
    if found.userinfo {
        strip_userinfo(request, found.authorization);
    }
    let headers = request.headers_mut();
    if found.host {
        headers.remove(HOST);
    }
    if found.content_length {
        headers.remove(CONTENT_LENGTH);
    }
    if !found.user_agent
        && let Some(ua) = &defaults.user_agent
    {
        headers.insert(USER_AGENT, ua.clone());
    }
    if !found.accept_encoding
        && let Some(ae) = &defaults.accept_encoding
    {
        headers.insert(ACCEPT_ENCODING, ae.clone());
    }
    if !matches!(request.version(), Version::HTTP_10 | Version::HTTP_11) {
        *request.version_mut() = Version::HTTP_11;
    }
    Ok(())
}

/// Whether an empty body is still announced (as `Content-Length: 0`) for this method: the
/// methods that define a meaning for enclosed content (RFC 9110 says a user agent should then
/// send a length, and some servers answer 411 without one).
pub(crate) fn expects_body(method: &http::Method) -> bool {
    use http::Method;
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

/// The scheme is `http` or `https` and there is a host.
fn target(uri: &Uri) -> Result<(), FramingError> {
    if crate::bulkhead::Origin::of(uri).is_none() {
        return Err(FramingError::InvalidUrl);
    }
    Ok(())
}

/// What one pass over the request's headers found.
#[derive(Default)]
struct Found {
    host: bool,
    content_length: bool,
    user_agent: bool,
    accept_encoding: bool,
    authorization: bool,
    userinfo: bool,
}

fn scan(request: &Request) -> Result<Found, FramingError> {
    let mut found = Found {
        userinfo: request
            .uri()
            .authority()
            .is_some_and(|a| a.as_str().contains('@')),
        ..Found::default()
    };
    let body_len = request.body().len();
    for (name, value) in request.headers() {
        if name == HOST {
            if found.host || !tether_core::host_matches(value, request.uri()) {
                return Err(FramingError::HostMismatch);
            }
            found.host = true;
        } else if name == CONTENT_LENGTH {
            let declared = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            if found.content_length || declared != Some(body_len as u64) {
                return Err(FramingError::ContentLengthMismatch { actual: body_len });
            }
            found.content_length = true;
        } else if name == TRANSFER_ENCODING {
            return Err(FramingError::TransferEncoding);
        } else if name == CONNECTION {
            return Err(FramingError::ConnectionManaged("Connection"));
        } else if name == UPGRADE {
            return Err(FramingError::ConnectionManaged("Upgrade"));
        } else if name == TE {
            return Err(FramingError::ConnectionManaged("TE"));
        } else if name == "keep-alive" {
            return Err(FramingError::ConnectionManaged("Keep-Alive"));
        } else if name == "proxy-connection" {
            return Err(FramingError::ConnectionManaged("Proxy-Connection"));
        } else if name == USER_AGENT {
            found.user_agent = true;
        } else if name == ACCEPT_ENCODING {
            found.accept_encoding = true;
        } else if name == AUTHORIZATION {
            found.authorization = true;
        }
    }
    Ok(found)
}

/// Moves `user:password@` out of the URL; it becomes `Authorization: Basic` unless the request
/// has its own `Authorization`.
fn strip_userinfo(request: &mut Request, has_authorization: bool) {
    let Some(authority) = request.uri().authority() else {
        return;
    };
    let Some((userinfo, hostport)) = authority.as_str().rsplit_once('@') else {
        return;
    };
    let credentials = if has_authorization {
        None
    } else {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let decode = |s: &str| percent_decode_str(s).collect::<Vec<u8>>();
        let mut plain = decode(user);
        plain.push(b':');
        plain.extend(decode(password));
        HeaderValue::from_str(&format!("Basic {}", BASE64.encode(plain))).ok()
    };
    let Ok(hostport) = hostport.parse::<Authority>() else {
        return;
    };
    let mut parts = request.uri().clone().into_parts();
    parts.authority = Some(hostport);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    if let Some(mut value) = credentials {
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &'static [u8]) -> Request {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Bytes::from_static(body)).unwrap()
    }

    /// `prepare`, returning the readied request.
    fn ready(mut request: Request, defaults: &Defaults) -> Result<Request, Failure> {
        prepare(&mut request, defaults).map(|()| request)
    }

    fn defaults() -> Defaults {
        Defaults::new("tether/test", true)
    }

    #[test]
    fn transfer_encoding_and_connection_headers_are_refused() {
        for (name, value, expected) in [
            (
                "transfer-encoding",
                "chunked",
                FramingError::TransferEncoding,
            ),
            ("Transfer-Encoding", "gzip", FramingError::TransferEncoding),
            (
                "connection",
                "close",
                FramingError::ConnectionManaged("Connection"),
            ),
            (
                "keep-alive",
                "timeout=5",
                FramingError::ConnectionManaged("Keep-Alive"),
            ),
            (
                "proxy-connection",
                "keep-alive",
                FramingError::ConnectionManaged("Proxy-Connection"),
            ),
            (
                "upgrade",
                "websocket",
                FramingError::ConnectionManaged("Upgrade"),
            ),
            ("te", "trailers", FramingError::ConnectionManaged("TE")),
        ] {
            let req = request("POST", "http://h/x", &[(name, value)], b"body");
            assert_eq!(check_framing(&req), Err(expected.clone()), "{name}");
            let failure = ready(req, &defaults()).unwrap_err();
            assert_eq!(
                failure.kind,
                tether_core::TransportErrorKind::InvalidRequest
            );
            assert!(
                failure.detail.starts_with("request refused"),
                "{}",
                failure.detail
            );
        }
    }

    #[test]
    fn content_length_must_match_the_body_and_is_then_rewritten() {
        let ok = request("POST", "http://h/x", &[("content-length", " 4 ")], b"body");
        let readied = ready(ok, &defaults()).unwrap();
        assert!(!readied.headers().contains_key(CONTENT_LENGTH));
        for value in ["5", "3", "-4", "4, 4", "four", ""] {
            let bad = request("POST", "http://h/x", &[("content-length", value)], b"body");
            assert_eq!(
                check_framing(&bad),
                Err(FramingError::ContentLengthMismatch { actual: 4 }),
                "{value:?}"
            );
        }
        let twice = request(
            "POST",
            "http://h/x",
            &[("content-length", "4"), ("content-length", "4")],
            b"body",
        );
        assert!(check_framing(&twice).is_err());
        let empty_get = request("GET", "http://h/x", &[("content-length", "0")], b"");
        assert!(check_framing(&empty_get).is_ok());
    }

    #[test]
    fn host_must_name_the_url_authority() {
        let same = [
            ("http://api.test/x", "api.test"),
            ("http://api.test/x", "API.Test"),
            ("http://api.test/x", "api.test:80"),
            ("http://api.test:8080/x", "api.test:8080"),
            ("https://api.test/x", "api.test:443"),
            ("http://[::1]:9000/x", "[::1]:9000"),
            ("http://127.0.0.1/x", " 127.0.0.1 "),
        ];
        for (url, host) in same {
            let req = request("GET", url, &[("host", host)], b"");
            assert_eq!(check_framing(&req), Ok(()), "{url} {host}");
            let readied = ready(req, &defaults()).unwrap();
            assert!(
                !readied.headers().contains_key(HOST),
                "written by the transport"
            );
        }
        let different = [
            ("http://api.test/x", "evil.test"),
            ("http://api.test/x", "api.test:8080"),
            ("http://api.test:8080/x", "api.test"),
            ("https://api.test/x", "api.test:80"),
            ("http://api.test/x", "api.test.evil.test"),
            ("http://[::1]:9000/x", "[::2]:9000"),
            ("http://api.test/x", "api.test:"),
            ("http://api.test/x", ""),
        ];
        for (url, host) in different {
            let req = request("GET", url, &[("host", host)], b"");
            assert_eq!(
                check_framing(&req),
                Err(FramingError::HostMismatch),
                "{url} {host}"
            );
        }
        let twice = request("GET", "http://h/", &[("host", "h"), ("host", "h")], b"");
        assert_eq!(check_framing(&twice), Err(FramingError::HostMismatch));
    }

    #[test]
    fn only_absolute_http_urls_are_sent() {
        for url in ["/relative", "ftp://h/x", "ws://h/x", "http:///x"] {
            let Ok(req) = http::Request::get(url).body(Bytes::new()) else {
                continue;
            };
            assert_eq!(check_framing(&req), Err(FramingError::InvalidUrl), "{url}");
        }
    }

    #[test]
    fn defaults_are_added_only_when_absent() {
        let readied = ready(request("GET", "http://h/", &[], b""), &defaults()).unwrap();
        assert_eq!(readied.headers()[USER_AGENT], "tether/test");
        assert_eq!(readied.headers()[ACCEPT_ENCODING], "gzip, deflate");
        let own = request(
            "GET",
            "http://h/",
            &[("user-agent", "mine"), ("accept-encoding", "identity")],
            b"",
        );
        let readied = ready(own, &defaults()).unwrap();
        assert_eq!(readied.headers()[USER_AGENT], "mine");
        assert_eq!(readied.headers()[ACCEPT_ENCODING], "identity");
        let bare = Defaults::new("", false);
        let readied = ready(request("GET", "http://h/", &[], b""), &bare).unwrap();
        assert!(!readied.headers().contains_key(USER_AGENT));
        assert!(!readied.headers().contains_key(ACCEPT_ENCODING));
        // A user agent that is not a header value is never sent (validation refuses it).
        assert!(Defaults::new("bad\r\nvalue", true).user_agent.is_none());
    }

    #[test]
    fn userinfo_becomes_basic_auth_and_leaves_the_url() {
        let req = request("GET", "http://al%20ice:p%40ss@h:8080/x?q=1", &[], b"");
        let readied = ready(req, &defaults()).unwrap();
        assert_eq!(readied.uri(), "http://h:8080/x?q=1");
        let expected = format!("Basic {}", BASE64.encode("al ice:p@ss"));
        assert_eq!(readied.headers()[AUTHORIZATION], expected.as_str());
        assert!(readied.headers()[AUTHORIZATION].is_sensitive());
        // The caller's own Authorization wins.
        let req = request(
            "GET",
            "http://u:p@h/",
            &[("authorization", "Bearer t")],
            b"",
        );
        let readied = ready(req, &defaults()).unwrap();
        assert_eq!(readied.uri(), "http://h/");
        assert_eq!(readied.headers()[AUTHORIZATION], "Bearer t");
    }

    #[test]
    fn versions_other_than_http1_become_http11() {
        let mut req = request("GET", "http://h/", &[], b"");
        *req.version_mut() = Version::HTTP_2;
        assert_eq!(ready(req, &defaults()).unwrap().version(), Version::HTTP_11);
        let mut req = request("GET", "http://h/", &[], b"");
        *req.version_mut() = Version::HTTP_10;
        assert_eq!(ready(req, &defaults()).unwrap().version(), Version::HTTP_10);
    }
}
