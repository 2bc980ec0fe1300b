//! [`Error`]: why a request returned no usable response.
//!
//! One error type for the whole client layer, grouped by who is at fault — the caller
//! (`InvalidUrl`, `InvalidEndpoint`, `InvalidHeader`, `InvalidBody`, `InvalidRequest`,
//! `Request`, `Config`, `Runtime`), the upstream (`Status`, `Json`), the network or the clock
//! (`Timeout`, `Connect`, `Transport`) or policy (`CircuitOpen`, `Rejected`, `Closed`) — with
//! predicates in the style of reqwest ([`is_timeout`](Error::is_timeout),
//! [`is_connect`](Error::is_connect), [`is_status`](Error::is_status),
//! [`is_request`](Error::is_request), [`status`](Error::status)), a stable
//! [`kind`](Error::kind) string, the [`trace`](Error::trace) of every request the engine saw,
//! and the status a gateway should answer with ([`http_status`](Error::http_status): 4xx for
//! the caller's mistakes, 502 for an upstream that failed, 503 for one we will not call, 504
//! for one too slow).
//!
//! **A caller's mistake is never an upstream failure.** Every caller error is found before
//! anything reaches the upstream — by the request builder, by the engine's checks at
//! [`Engine::begin`](crate::Engine::begin), or by the transport refusing to put the request on
//! the wire ([`TransportErrorKind::InvalidRequest`]) — and none of them is counted by the
//! circuit breaker or the service's error metrics.
//!
//! No variant carries a secret: URLs are redacted by the client's
//! [`Redactor`](crate::Redactor) and cut to [`URL_EXCERPT_CHARS`](crate::redact::URL_EXCERPT_CHARS)
//! characters, header values are never quoted, transport messages are redacted again by the
//! client, and a `Status` error keeps at most [`BODY_EXCERPT_CHARS`] characters of the
//! upstream's body in its message.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::redact::{URL_EXCERPT_CHARS, excerpt};
use crate::{BreakerState, Redactor};
use crate::{
    ConfigError, DecisionTrace, EngineError, FinalResult, RejectReason, Reply, RequestError,
    RuntimeUnavailable, Timestamp, TransportErrorKind,
};

/// The most characters of a transport's message an error keeps (after redaction).
const MESSAGE_EXCERPT_CHARS: usize = 400;

/// The most characters of an upstream body an [`Error::Status`] message keeps.
pub const BODY_EXCERPT_CHARS: usize = 200;

/// Why a request returned no usable response.
///
/// ```
/// use tether_core::client::Error;
///
/// /// What a gateway answers, and whether it is worth logging loudly.
/// fn triage(e: &Error) -> (u16, bool) {
///     let loud = e.is_timeout() || e.is_connect() || e.status().is_some_and(|s| s.is_server_error());
///     if let Some(trace) = e.trace() {
///         eprintln!("{e}: {}", trace.summary());
///     }
///     (e.http_status(), loud)
/// }
///
/// assert_eq!(triage(&Error::Closed), (503, false));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not an absolute `http`/`https` URL, carries credentials, or cannot be
    /// parsed. Nothing was sent.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given, with secrets redacted (userinfo, secret parameters and the
        /// fragment removed, even when it does not parse) and cut to
        /// [`URL_EXCERPT_CHARS`](crate::redact::URL_EXCERPT_CHARS) characters.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A [`ServiceClient`](crate::client::ServiceClient) endpoint would leave the service's
    /// base URL (a different host, `..`, an absolute URL, …). Nothing was sent.
    #[error("invalid endpoint {endpoint:?} for service {service}: {reason}")]
    InvalidEndpoint {
        /// The service.
        service: String,
        /// The endpoint as given, with secrets redacted and cut to
        /// [`URL_EXCERPT_CHARS`](crate::redact::URL_EXCERPT_CHARS) characters.
        endpoint: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A header name or value given to a builder is invalid (the value is not quoted: it may
    /// be a secret). Nothing was sent.
    #[error("invalid header: {reason}")]
    InvalidHeader {
        /// What is wrong.
        reason: String,
    },
    /// The request cannot be processed: a method that cannot be sent (`CONNECT`), a body the
    /// method forbids, a malformed or transport-owned header (`Content-Length: abc`,
    /// `Transfer-Encoding`, `Connection`, …), a body over the configured limit. Found by the
    /// engine before anything was sent; nothing was counted.
    #[error(transparent)]
    Request(RequestError),
    /// The request body could not be serialized (JSON of a map with non-string keys, a
    /// `Serialize` implementation that failed). Nothing was sent.
    #[error("the request body could not be serialized: {0}")]
    InvalidBody(serde_json::Error),
    /// The transport refused to put the request on the wire
    /// ([`TransportErrorKind::InvalidRequest`]: a header, method or URL it cannot send).
    /// Nothing reached the upstream; neither the breaker nor the metrics counted it.
    #[error("request to service {service} refused by the transport: {message}")]
    InvalidRequest {
        /// The service it would have been accounted under.
        service: String,
        /// The transport's detail (redacted).
        message: String,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// The upstream answered 4xx or 5xx (after any retries). Returned by
    /// [`ServiceClient`](crate::client::ServiceClient) calls and
    /// [`Response::error_for_status`](crate::client::Response::error_for_status).
    #[error("{message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// `Service <name> returned <status>[: <detail or excerpt>]`.
        message: String,
        /// The JSON `detail`, or the first 200 characters of a non-JSON body; empty for a
        /// JSON object or array without `detail`. At most 200 characters.
        body_excerpt: String,
        /// The whole body, for callers that need more than the excerpt.
        body: Bytes,
        /// The service it was accounted under.
        service: String,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// An attempt ran out of time and no retry was left, or the request's own deadline
    /// ([`RequestBuilder::timeout`](crate::client::RequestBuilder::timeout)) passed.
    #[error("Service {service} timeout after {:.2}s", elapsed.as_secs_f64())]
    Timeout {
        /// The service it was accounted under (the host when none was named).
        service: String,
        /// From the request's start to the time-out.
        elapsed: Duration,
        /// The transport's detail (no secrets).
        message: String,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// The connection could not be established (refused, unreachable, DNS failure, TLS).
    #[error("Cannot connect to service {service}: {message}")]
    Connect {
        /// The service it was accounted under.
        service: String,
        /// The transport's detail (no secrets).
        message: String,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// Another failure below HTTP (reset, protocol error, body too large, …).
    #[error("Request error to service {service}: {kind}: {message}")]
    Transport {
        /// The class of failure.
        kind: TransportErrorKind,
        /// The service it was accounted under.
        service: String,
        /// The transport's detail (no secrets).
        message: String,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// The service's circuit breaker is open (or half-open with every probe slot taken):
    /// nothing was sent.
    #[error("Service {service} is currently unavailable: circuit breaker is {}", crate::compat::breaker_state(*state))]
    CircuitOpen {
        /// The service (breaker name).
        service: String,
        /// The breaker's state.
        state: BreakerState,
        /// When a call may be admitted again (the runtime's monotonic clock); `None` when the
        /// breaker was isolated by hand.
        retry_at: Option<Timestamp>,
        /// How long from when the error was made until then (a `Retry-After` for a gateway).
        retry_after: Option<Duration>,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// Refused by policy for another reason: overload (`max_in_flight`), `only-if-cached`
    /// with nothing stored, or cancellation.
    #[error("request to service {service} rejected: {reason:?}")]
    Rejected {
        /// The service it was accounted under.
        service: String,
        /// Why.
        reason: RejectReason,
        /// Why it went the way it did.
        trace: Box<DecisionTrace>,
    },
    /// The client was closed ([`HttpClient::close`](crate::client::HttpClient::close)).
    #[error("the client is closed")]
    Closed,
    /// The upstream's body could not be parsed as JSON (a request body that cannot be
    /// serialized is [`Error::InvalidBody`]).
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// The client's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A [`Registry`](crate::client::Registry) already holds its maximum number of clients.
    #[error("the service registry is full ({max} clients)")]
    RegistryFull {
        /// The registry's bound.
        max: usize,
    },
    /// Background work could not start: the runtime has no executor at hand (for the native
    /// frontend: create it inside a tokio runtime).
    #[error("no executor to run background work on")]
    NoExecutor,
    /// The runtime cannot run a request where it was called (for the native async client:
    /// outside a tokio runtime, or in one built without its time driver). Nothing was sent.
    #[error("the runtime cannot run requests here: {0}")]
    Runtime(#[from] RuntimeUnavailable),
    /// The engine refused a step of the request: a bug in the client layer, never a policy
    /// outcome. Nothing more was sent.
    #[error("internal error: {0}")]
    Engine(#[from] EngineError),
}

impl Error {
    /// Whether an attempt or the request's deadline ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the connection could not be established.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// Whether the upstream answered 4xx or 5xx ([`Error::Status`]).
    pub fn is_status(&self) -> bool {
        matches!(self, Error::Status { .. })
    }

    /// Whether the failure came from below HTTP or from the clock (timeout, connect,
    /// transport).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::Connect { .. } | Error::Transport { .. }
        )
    }

    /// Whether the caller's input was at fault (URL, endpoint, method, header, body, or a
    /// request the transport refused): nothing reached the upstream, and neither the breaker
    /// nor the service's metrics counted it.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Error::InvalidUrl { .. }
                | Error::InvalidEndpoint { .. }
                | Error::InvalidHeader { .. }
                | Error::InvalidBody(_)
                | Error::InvalidRequest { .. }
                | Error::Request(_)
        )
    }

    /// The upstream's status, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The decision trace, when the engine saw the request.
    pub fn trace(&self) -> Option<&DecisionTrace> {
        match self {
            Error::Status { trace, .. }
            | Error::Timeout { trace, .. }
            | Error::Connect { trace, .. }
            | Error::Transport { trace, .. }
            | Error::CircuitOpen { trace, .. }
            | Error::Rejected { trace, .. }
            | Error::InvalidRequest { trace, .. } => Some(trace),
            _ => None,
        }
    }

    /// The service the request was accounted under, when it was known.
    pub fn service(&self) -> Option<&str> {
        match self {
            Error::InvalidEndpoint { service, .. }
            | Error::Status { service, .. }
            | Error::Timeout { service, .. }
            | Error::Connect { service, .. }
            | Error::Transport { service, .. }
            | Error::CircuitOpen { service, .. }
            | Error::Rejected { service, .. }
            | Error::InvalidRequest { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The status a gateway should answer with:
    ///
    /// | status | errors |
    /// |---|---|
    /// | the upstream's | `Status` |
    /// | 400 | the caller's malformed request: `InvalidUrl`, `InvalidEndpoint`, `InvalidHeader`, `InvalidRequest`, `Request` (method, header, body not allowed, `Host` mismatch) |
    /// | 413 | `Request(BodyTooLarge)`: the body exceeds the configured limit |
    /// | 422 | `InvalidBody`: well-formed, but the body could not be serialized |
    /// | 500 | `Config`, `NoExecutor`, `Runtime`, `Engine` (our own configuration, an unusable runtime, or a bug) |
    /// | 502 | `Connect`, `Transport`, `Json` (the upstream failed or sent unparsable JSON) |
    /// | 503 | `CircuitOpen`, `Rejected` (overload, cancelled), `Closed`, `RegistryFull` |
    /// | 504 | `Timeout`, `Rejected(OnlyIfCached)` |
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Status { status, .. } => status.as_u16(),
            Error::Timeout { .. }
            | Error::Rejected {
                reason: RejectReason::OnlyIfCached,
                ..
            } => 504,
            Error::Connect { .. } | Error::Transport { .. } | Error::Json(_) => 502,
            Error::CircuitOpen { .. }
            | Error::Rejected { .. }
            | Error::Closed
            | Error::RegistryFull { .. } => 503,
            Error::Request(RequestError::BodyTooLarge { .. }) => 413,
            Error::InvalidBody(_) => 422,
            Error::InvalidUrl { .. }
            | Error::InvalidEndpoint { .. }
            | Error::InvalidHeader { .. }
            | Error::InvalidRequest { .. }
            | Error::Request(_) => 400,
            Error::Config(_) | Error::NoExecutor | Error::Runtime(_) | Error::Engine(_) => 500,
        }
    }

    /// For [`Error::CircuitOpen`]: how long until the breaker admits a call again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::CircuitOpen { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A stable snake_case kind: `invalid_url`, `invalid_endpoint`, `invalid_method`,
    /// `invalid_header`, `invalid_body`, `invalid_request` (other caller mistakes, and
    /// requests the transport refused), `status`, a transport kind (`timeout`, `connect`,
    /// `reset`, `protocol`, …), `circuit_open`, the other refusals (`only_if_cached`,
    /// `overloaded`, `cancelled`), `closed`, `json`, `config`, `registry_full`,
    /// `no_executor`, `runtime_unavailable`, `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } | Error::Request(RequestError::InvalidUrl { .. }) => {
                "invalid_url"
            }
            Error::InvalidEndpoint { .. } => "invalid_endpoint",
            Error::InvalidHeader { .. } | Error::Request(RequestError::InvalidHeader { .. }) => {
                "invalid_header"
            }
            Error::Request(RequestError::InvalidMethod { .. }) => "invalid_method",
            Error::InvalidBody(_) => "invalid_body",
            Error::Request(_) | Error::InvalidRequest { .. } => "invalid_request",
            Error::Status { .. } => "status",
            Error::Timeout { .. } => "timeout",
            Error::Connect { .. } => "connect",
            Error::Transport { kind, .. } => kind.as_str(),
            Error::CircuitOpen { .. } => "circuit_open",
            Error::Rejected { reason, .. } => match reason {
                RejectReason::OnlyIfCached => "only_if_cached",
                RejectReason::Overloaded => "overloaded",
                RejectReason::BreakerOpen { .. } => "circuit_open",
                _ => "cancelled",
            },
            Error::Closed => "closed",
            Error::Json(_) => "json",
            Error::Config(_) => "config",
            Error::RegistryFull { .. } => "registry_full",
            Error::NoExecutor => "no_executor",
            Error::Runtime(_) => "runtime_unavailable",
            Error::Engine(_) => "internal",
        }
    }

    /// The error for a request the engine refused to take (`url` is shown redacted and cut
    /// to an excerpt).
    pub(crate) fn from_request(error: RequestError, url: &str, redactor: &Redactor) -> Self {
        match error {
            RequestError::InvalidUrl { reason } => Error::InvalidUrl {
                url: shown_url(url, redactor),
                reason,
            },
            other => Error::Request(other),
        }
    }

    /// Splits a finished request's result: its reply (with the trace back), or the error it
    /// ended with. `now` measures a breaker's `retry_after`. Transport messages are redacted
    /// again with the client's rule (a transport knows only the default one) and cut to an
    /// excerpt.
    pub(crate) fn from_result(
        result: FinalResult,
        service: &str,
        trace: DecisionTrace,
        now: Timestamp,
        redactor: &Redactor,
    ) -> Result<(Reply, DecisionTrace), Self> {
        let service = service.to_owned();
        let trace = Box::new(trace);
        Err(match result {
            FinalResult::Response(reply) => return Ok((reply, *trace)),
            FinalResult::Transport(error) => {
                let message = shown_message(&error.message, redactor);
                match error.kind {
                    TransportErrorKind::Timeout => Error::Timeout {
                        service,
                        elapsed: trace.total,
                        message,
                        trace,
                    },
                    TransportErrorKind::Connect => Error::Connect {
                        service,
                        message,
                        trace,
                    },
                    TransportErrorKind::InvalidRequest => Error::InvalidRequest {
                        service,
                        message,
                        trace,
                    },
                    kind => Error::Transport {
                        kind,
                        service,
                        message,
                        trace,
                    },
                }
            }
            FinalResult::Rejected(RejectReason::BreakerOpen { retry_at, state }) => {
                let retry_at = (retry_at != Timestamp::MAX).then_some(retry_at);
                Error::CircuitOpen {
                    service,
                    state,
                    retry_at,
                    retry_after: retry_at.map(|at| at.saturating_duration_since(now)),
                    trace,
                }
            }
            FinalResult::Rejected(reason) => Error::Rejected {
                service,
                reason,
                trace,
            },
        })
    }

    /// The `Status` error for a 4xx/5xx response: `Service <name> returned <status>`, then
    /// `: <excerpt>` when the body gives one (see [`body_excerpt`]).
    pub(crate) fn status_error(
        status: StatusCode,
        body: Bytes,
        service: String,
        trace: DecisionTrace,
    ) -> Self {
        let body_excerpt = body_excerpt(&body).unwrap_or_default();
        let mut message = format!("Service {service} returned {}", status.as_u16());
        if !body_excerpt.is_empty() {
            message.push_str(": ");
            message.push_str(&body_excerpt);
        }
        Error::Status {
            status,
            message,
            body_excerpt,
            body,
            service,
            trace: Box::new(trace),
        }
    }
}

/// A URL (or endpoint) as an error shows it: redacted, then cut to an excerpt.
pub(crate) fn shown_url(url: &str, redactor: &Redactor) -> String {
    excerpt(&redactor.redact_url(url), URL_EXCERPT_CHARS).into_owned()
}

/// A transport's message as an error shows it: redacted, then cut to an excerpt.
pub(crate) fn shown_message(message: &str, redactor: &Redactor) -> String {
    excerpt(&redactor.redact_text(message), MESSAGE_EXCERPT_CHARS).into_owned()
}

/// What of an error body a `Status` message shows (the original service client's rule): a
/// JSON object's `detail` (a string as is, anything else as JSON), nothing for a JSON object
/// or array without it, and the body's first characters when it is not JSON or is a JSON
/// scalar. Always cut to [`BODY_EXCERPT_CHARS`] characters.
fn body_excerpt(body: &[u8]) -> Option<String> {
    use serde_json::Value;
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => match map.get("detail")? {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        Ok(Value::Array(_)) => return None,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    Some(match text.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((i, _)) => text[..i].to_owned(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BreakerState;
    use crate::TransportError;

    #[test]
    fn excerpt_follows_the_detail_rule() {
        assert_eq!(
            body_excerpt(br#"{"detail":"no such user"}"#).as_deref(),
            Some("no such user")
        );
        assert_eq!(
            body_excerpt(br#"{"detail":{"code":7}}"#).as_deref(),
            Some(r#"{"code":7}"#)
        );
        assert_eq!(body_excerpt(br#"{"error":"x"}"#), None);
        assert_eq!(body_excerpt(b"[1,2]"), None);
        assert_eq!(body_excerpt(b"42").as_deref(), Some("42"));
        assert_eq!(body_excerpt(b"plain text").as_deref(), Some("plain text"));
        let long = "é".repeat(300);
        assert_eq!(
            body_excerpt(long.as_bytes()).unwrap().chars().count(),
            BODY_EXCERPT_CHARS
        );
        let detail = format!(r#"{{"detail":"{}"}}"#, "x".repeat(500));
        assert_eq!(body_excerpt(detail.as_bytes()).unwrap().len(), 200);
    }

    #[test]
    fn status_errors_carry_the_message_status_and_trace() {
        let e = Error::status_error(
            StatusCode::NOT_FOUND,
            Bytes::from_static(br#"{"detail":"missing"}"#),
            "users".into(),
            DecisionTrace::default(),
        );
        assert_eq!(e.to_string(), "Service users returned 404: missing");
        assert_eq!(e.http_status(), 404);
        assert_eq!(e.kind(), "status");
        assert!(e.is_status() && !e.is_timeout() && !e.is_connect());
        assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
        assert!(e.trace().is_some());
        let e = Error::status_error(
            StatusCode::BAD_GATEWAY,
            Bytes::from_static(br#"{"a":1}"#),
            "users".into(),
            DecisionTrace::default(),
        );
        assert_eq!(e.to_string(), "Service users returned 502");
    }

    fn fail(result: FinalResult, now: Timestamp) -> Error {
        let trace = DecisionTrace {
            total: Duration::from_millis(1500),
            ..DecisionTrace::default()
        };
        Error::from_result(result, "svc", trace, now, &Redactor::new()).expect_err("not a response")
    }

    #[test]
    fn finished_requests_map_to_errors_with_gateway_statuses() {
        let now = Timestamp::from_secs(10);
        let cases = [
            (
                FinalResult::Transport(TransportError::new(TransportErrorKind::Timeout, "slow")),
                "timeout",
                504,
            ),
            (
                FinalResult::Transport(TransportError::new(TransportErrorKind::Connect, "no")),
                "connect",
                502,
            ),
            (
                FinalResult::Transport(TransportError::new(TransportErrorKind::Reset, "rst")),
                "reset",
                502,
            ),
            (
                FinalResult::Rejected(RejectReason::BreakerOpen {
                    retry_at: Timestamp::from_secs(40),
                    state: BreakerState::Open,
                }),
                "circuit_open",
                503,
            ),
            (
                FinalResult::Rejected(RejectReason::Overloaded),
                "overloaded",
                503,
            ),
            (
                FinalResult::Rejected(RejectReason::OnlyIfCached),
                "only_if_cached",
                504,
            ),
        ];
        for (result, kind, status) in cases {
            let e = fail(result, now);
            assert_eq!((e.kind(), e.http_status()), (kind, status), "{e:?}");
            assert_eq!(e.service(), Some("svc"));
            assert_eq!(e.trace().unwrap().total, Duration::from_millis(1500));
        }
        let e = fail(
            FinalResult::Transport(TransportError::new(TransportErrorKind::Timeout, "slow")),
            now,
        );
        assert!(e.is_timeout() && e.is_transport());
        assert_eq!(e.to_string(), "Service svc timeout after 1.50s");
        let e = fail(
            FinalResult::Rejected(RejectReason::BreakerOpen {
                retry_at: Timestamp::from_secs(40),
                state: BreakerState::Open,
            }),
            now,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn invalid_urls_are_redacted_and_bounded() {
        let r = Redactor::new();
        for raw in [
            "http://h/?api_key=SECRET",
            "http://user:pa#SECRET@host/",
            "http://user:SECRET@host/",
            "http://h/x#SECRET",
        ] {
            let e = Error::from_request(RequestError::InvalidUrl { reason: "x" }, raw, &r);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
            assert_eq!(e.http_status(), 400);
            assert!(e.is_request());
        }
        let long = format!("http://h/{}", "a".repeat(10_000));
        let e = Error::from_request(RequestError::InvalidUrl { reason: "x" }, &long, &r);
        let Error::InvalidUrl { url, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(url.chars().count() < URL_EXCERPT_CHARS + 20, "{url}");
        assert!(url.ends_with("chars]"), "{url}");
    }

    #[test]
    fn caller_mistakes_are_400_class_and_typed() {
        let header = Error::Request(RequestError::InvalidHeader {
            name: http::header::CONTENT_LENGTH,
            reason: "bad",
        });
        assert_eq!(
            (header.kind(), header.http_status()),
            ("invalid_header", 400)
        );
        let method = Error::Request(RequestError::InvalidMethod {
            method: http::Method::CONNECT,
            reason: "tunnel",
        });
        assert_eq!(
            (method.kind(), method.http_status()),
            ("invalid_method", 400)
        );
        let large = Error::Request(RequestError::BodyTooLarge { size: 2, limit: 1 });
        assert_eq!(
            (large.kind(), large.http_status()),
            ("invalid_request", 413)
        );
        let ser = serde_json::to_vec(&std::collections::HashMap::from([((1, 2), 3)]))
            .expect_err("non-string keys");
        let body = Error::InvalidBody(ser);
        assert_eq!((body.kind(), body.http_status()), ("invalid_body", 422));
        let refused = fail(
            FinalResult::Transport(TransportError::new(
                TransportErrorKind::InvalidRequest,
                "bad header (GET http://h/?token=SECRET)",
            )),
            Timestamp::ZERO,
        );
        assert_eq!(
            (refused.kind(), refused.http_status()),
            ("invalid_request", 400)
        );
        assert!(refused.is_request() && !refused.is_transport());
        assert!(refused.trace().is_some() && refused.service() == Some("svc"));
        assert!(!refused.to_string().contains("SECRET"), "{refused}");
        for e in [&header, &method, &large, &body, &refused] {
            assert!(e.is_request(), "{e:?}");
        }
    }

    #[test]
    fn transport_messages_are_redacted_with_the_clients_rule() {
        let r = Redactor::new().secret_name("tenant");
        let e = Error::from_result(
            FinalResult::Transport(TransportError::new(
                TransportErrorKind::Reset,
                format!(
                    "reset (GET http://h/x?tenant=ACME&q=1) {}",
                    "x".repeat(1000)
                ),
            )),
            "svc",
            DecisionTrace::default(),
            Timestamp::ZERO,
            &r,
        )
        .expect_err("an error");
        let Error::Transport { message, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(
            !message.contains("ACME") && message.contains("q=1"),
            "{message}"
        );
        assert!(message.chars().count() < MESSAGE_EXCERPT_CHARS + 20);
    }
}
