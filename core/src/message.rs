//! The request and response shapes the core reasons about, and what a transport can report.
//!
//! They are the `http` crate's types with a shared, cheaply clonable body ([`bytes::Bytes`]), so
//! a frontend converts once at the edge and the core never copies a body.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A request as the core sees it. The URI must be absolute (`scheme://authority/path?query`).
pub type Request = http::Request<Bytes>;

/// A response as the core sees it.
pub type Response = http::Response<Bytes>;

/// The instant by which a whole logical request must be finished, on the frontend's monotonic
/// clock: put it in a request's extensions before [`Engine::begin`](crate::Engine::begin).
///
/// The engine then starts no attempt at or after it (the request ends with a
/// [`TransportErrorKind::Timeout`] and its decision trace), schedules no retry that would start
/// after it (`GiveUp(DeadlineExceeded)` in the trace), and cuts each attempt's time limit to
/// what is left. It combines with [`RetryConfig::deadline`](crate::retry::RetryConfig::deadline):
/// the earlier wins. A frontend that waits on a single-flight leader past it ends the wait with
/// [`Engine::expire`](crate::Engine::expire).
///
/// ```
/// use tether_core::{Deadline, Timestamp};
///
/// let mut request = http::Request::get("https://api.example.com/x").body(bytes::Bytes::new()).unwrap();
/// request.extensions_mut().insert(Deadline(Timestamp::from_secs(12)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Deadline(pub crate::Timestamp);

/// A copy of `request` (the body is shared, not copied). Of the extensions only a
/// [`RedirectScope`](crate::uri::RedirectScope) is copied: it is meant for the transport,
/// which sees copies only.
pub(crate) fn clone_request(request: &Request) -> Request {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    if let Some(scope) = request.extensions().get::<crate::uri::RedirectScope>() {
        copy.extensions_mut().insert(scope.clone());
    }
    copy
}

/// Whether `headers` has a field `name`. Requests carry few fields: for a small map, walking
/// the names (mostly one-byte compares of standard names) is cheaper than hashing `name`.
pub(crate) fn has_header(headers: &http::HeaderMap, name: &http::header::HeaderName) -> bool {
    if headers.keys_len() <= 8 {
        headers.keys().any(|k| k == name)
    } else {
        headers.contains_key(name)
    }
}

/// What went wrong below HTTP: the transport could not produce a response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{kind}: {message}")]
pub struct TransportError {
    /// The class of failure; drives retry and breaker classification.
    pub kind: TransportErrorKind,
    /// Human-readable detail from the transport (never contains request secrets).
    pub message: String,
}

impl TransportError {
    /// A transport error of `kind` with a detail message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }

    /// The error a frontend reports for one attempt: `detail (METHOD url)`, with secrets
    /// redacted from the URL and from the detail (an HTTP library's message may quote a URL
    /// or a `Location` header).
    ///
    /// ```
    /// use tether_core::{TransportError, TransportErrorKind};
    ///
    /// let uri: http::Uri = "http://api.test/x?api_key=SECRET".parse().unwrap();
    /// let e = TransportError::for_request(TransportErrorKind::Reset, "closed early", &http::Method::GET, &uri);
    /// assert_eq!(e.message, "closed early (GET http://api.test/x?api_key=[REDACTED])");
    /// ```
    pub fn for_request(
        kind: TransportErrorKind,
        detail: &str,
        method: &http::Method,
        uri: &http::Uri,
    ) -> Self {
        let detail = crate::redact::redact_url(detail);
        let url = crate::redact::redact_url(&uri.to_string());
        TransportError::new(kind, format!("{detail} ({method} {url})"))
    }
}

/// Classes of transport failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be established (refused, unreachable, DNS failure).
    Connect,
    /// The attempt exceeded its time limit (connect, read or total).
    Timeout,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// The response body exceeded the configured limit.
    BodyTooLarge,
    /// The peer sent something that is not valid HTTP.
    Protocol,
    /// The request was cancelled by the caller.
    Cancelled,
    /// The transport refused to send the request as built (a header, method or URL it cannot
    /// put on the wire): the caller's mistake, found before anything was sent. The engine
    /// never retries it, never counts it against the breaker, and withdraws the request from
    /// the metrics, as it does for a [`RequestError`](crate::RequestError) at `begin`.
    InvalidRequest,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    /// A stable snake_case name, used in metrics labels and error counts.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Reset => "reset",
            TransportErrorKind::BodyTooLarge => "body_too_large",
            TransportErrorKind::Protocol => "protocol",
            TransportErrorKind::Cancelled => "cancelled",
            TransportErrorKind::InvalidRequest => "invalid_request",
            TransportErrorKind::Other => "other",
        }
    }
}

impl std::fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one attempt, as reported by the frontend.
pub type Outcome = Result<Response, TransportError>;

#[cfg(test)]
mod tests {
    use super::has_header;

    #[test]
    fn has_header_agrees_with_contains_key() {
        let names = [
            "accept",
            "idempotency-key",
            "cache-control",
            "x-a",
            "x-b",
            "pragma",
        ];
        for n in 0..20 {
            let mut m = http::HeaderMap::new();
            for i in 0..n {
                let name =
                    http::header::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap();
                m.append(name, http::HeaderValue::from(i));
            }
            m.append("idempotency-key", http::HeaderValue::from(1));
            for q in names {
                let q = http::header::HeaderName::from_static(q);
                assert_eq!(has_header(&m, &q), m.contains_key(&q), "{n} {q}");
            }
        }
    }
}
