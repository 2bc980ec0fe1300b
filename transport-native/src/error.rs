//! [`Error`]: why a request through [`HttpClient`](crate::HttpClient) or
//! [`ServiceClient`](crate::ServiceClient) returned no usable response.
//!
//! Errors are grouped by who is at fault — the caller (`InvalidUrl`, `InvalidEndpoint`,
//! `InvalidHeader`, `Request`, `Config`), the upstream (`Status`, `Json`), the network
//! (`Timeout`, `Connect`, `Transport`) or policy (`CircuitOpen`, `Rejected`, `Closed`) — and
//! each maps to the HTTP status a gateway should answer with ([`Error::http_status`]): the
//! original `ServiceClient`'s intended 502 / 503 / 504 mapping (which, in the original, crashed
//! before raising).
//!
//! No variant carries a secret: URLs are redacted, header values are never quoted, and a
//! `Status` error keeps at most 200 characters of the upstream's body in its message.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use tether_core::BreakerState;
use tether_core::{
    ClientError, ConfigError, DecisionTrace, RejectReason, RequestError, Runtime as _, Timestamp,
    TransportErrorKind,
};

use crate::TokioRuntime;

/// The most characters of an upstream body an [`Error::Status`] keeps (as the original).
pub const BODY_EXCERPT_CHARS: usize = 200;

/// Why a request returned no usable response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not an absolute `http`/`https` URL, or cannot be parsed. Nothing was sent.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given, with secrets redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A [`ServiceClient`](crate::ServiceClient) endpoint would leave the service's base URL
    /// (a different host, `..`, an absolute URL, …): the guard against request forgery that the
    /// original's plain `base_url + endpoint` lacked. Nothing was sent.
    #[error("invalid endpoint {endpoint:?} for service {service}: {reason}")]
    InvalidEndpoint {
        /// The service.
        service: String,
        /// The endpoint as given, with secrets redacted.
        endpoint: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A header name or value given to a request builder is invalid (the value is not
    /// quoted: it may be a secret). Nothing was sent.
    #[error("invalid header: {reason}")]
    InvalidHeader {
        /// What is wrong.
        reason: String,
    },
    /// The request cannot be processed (for example its body exceeds the configured limit).
    /// Nothing was sent.
    #[error(transparent)]
    Request(RequestError),
    /// The upstream answered 4xx or 5xx (after any retries). Returned by
    /// [`ServiceClient`](crate::ServiceClient) and [`Response::error_for_status`](crate::Response::error_for_status).
    #[error("{message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// `Service <name> returned <status>[: <detail or excerpt>]` (the original's wording).
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
    /// The attempt (or the caller's overall timeout) ran out of time.
    #[error("Service {service} timeout after {:.2}s", elapsed.as_secs_f64())]
    Timeout {
        /// The service it was accounted under (the host when none was named).
        service: String,
        /// From the request's start to the time-out.
        elapsed: Duration,
        /// The transport's detail (no secrets).
        message: String,
        /// Why it went the way it did; `None` when the caller's own
        /// [`timeout`](crate::RequestBuilder::timeout) cut the request short.
        trace: Option<Box<DecisionTrace>>,
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
    #[error("Service {service} is currently unavailable: circuit breaker is {}", tether_core::compat::breaker_state(*state))]
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
    /// The client was closed ([`HttpClient::close`](crate::HttpClient::close)).
    #[error("the client is closed")]
    Closed,
    /// A body could not be serialized to or parsed from JSON.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// The client's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A [`Registry`](crate::Registry) already holds its maximum number of service clients.
    #[error("the service registry is full ({max} clients)")]
    RegistryFull {
        /// The registry's bound.
        max: usize,
    },
}

impl Error {
    /// The decision trace, when the engine saw the request.
    pub fn trace(&self) -> Option<&DecisionTrace> {
        match self {
            Error::Status { trace, .. }
            | Error::Connect { trace, .. }
            | Error::Transport { trace, .. }
            | Error::CircuitOpen { trace, .. }
            | Error::Rejected { trace, .. } => Some(trace),
            Error::Timeout { trace, .. } => trace.as_deref(),
            _ => None,
        }
    }

    /// The service the request was accounted under, when the engine saw it.
    pub fn service(&self) -> Option<&str> {
        match self {
            Error::InvalidEndpoint { service, .. }
            | Error::Status { service, .. }
            | Error::Timeout { service, .. }
            | Error::Connect { service, .. }
            | Error::Transport { service, .. }
            | Error::CircuitOpen { service, .. }
            | Error::Rejected { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The upstream's status, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The status a gateway should answer with: the upstream's own for `Status`, 504 for a
    /// timeout (and `only-if-cached` misses), 502 for connect and other transport failures
    /// and unparsable upstream JSON, 503 for an open breaker, overload or a closed client,
    /// 400 for the caller's invalid URL, endpoint, header or request, 500 for configuration.
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
            Error::InvalidUrl { .. }
            | Error::InvalidEndpoint { .. }
            | Error::InvalidHeader { .. }
            | Error::Request(_) => 400,
            Error::Config(_) => 500,
        }
    }

    /// For [`Error::CircuitOpen`]: how long until the breaker admits a call again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::CircuitOpen { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A stable snake_case kind: `invalid_url`, `invalid_endpoint`, `invalid_header`,
    /// `invalid_request`, `status`, `timeout`, `connect`, `reset`, `protocol`, …,
    /// `circuit_open`, `rejected`, `closed`, `json`, `config`, `registry_full`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "invalid_url",
            Error::InvalidEndpoint { .. } => "invalid_endpoint",
            Error::InvalidHeader { .. } => "invalid_header",
            Error::Request(_) => "invalid_request",
            Error::Status { .. } => "status",
            Error::Timeout { .. } => "timeout",
            Error::Connect { .. } => "connect",
            Error::Transport { kind, .. } => kind.as_str(),
            Error::CircuitOpen { .. } => "circuit_open",
            Error::Rejected { .. } => "rejected",
            Error::Closed => "closed",
            Error::Json(_) => "json",
            Error::Config(_) => "config",
            Error::RegistryFull { .. } => "registry_full",
        }
    }

    /// Whether the failure came from below HTTP or from the clock (timeout, connect,
    /// transport).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::Connect { .. } | Error::Transport { .. }
        )
    }

    /// Maps the core client's error, measuring `retry_after` on `runtime`.
    pub(crate) fn from_client(error: ClientError, runtime: &TokioRuntime) -> Self {
        match error {
            ClientError::Request(RequestError::InvalidUrl { reason }) => Error::InvalidUrl {
                url: String::new(),
                reason: reason.to_owned(),
            },
            ClientError::Request(e) => Error::Request(e),
            ClientError::Transport {
                error,
                trace,
                service,
            } => match error.kind {
                TransportErrorKind::Timeout => Error::Timeout {
                    service,
                    elapsed: trace.total,
                    message: error.message,
                    trace: Some(trace),
                },
                TransportErrorKind::Connect => Error::Connect {
                    service,
                    message: error.message,
                    trace,
                },
                kind => Error::Transport {
                    kind,
                    service,
                    message: error.message,
                    trace,
                },
            },
            ClientError::Rejected {
                reason: RejectReason::BreakerOpen { retry_at, state },
                trace,
                service,
            } => {
                let retry_at = (retry_at != Timestamp::MAX).then_some(retry_at);
                let retry_after = retry_at.map(|at| at.saturating_duration_since(runtime.now()));
                Error::CircuitOpen {
                    service,
                    state,
                    retry_at,
                    retry_after,
                    trace,
                }
            }
            ClientError::Rejected {
                reason,
                trace,
                service,
            } => Error::Rejected {
                service,
                reason,
                trace,
            },
            // `Closed` and anything a newer core adds.
            _ => Error::Closed,
        }
    }

    /// The `Status` error for a 4xx/5xx response (the original's message rules).
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

/// The original's excerpt rule: a JSON object's `detail` (a string as is, anything else as
/// JSON), nothing for a JSON object or array without it, and the body's first 200 characters
/// when it is not JSON or is a JSON scalar. Always cut to 200 characters.
pub(crate) fn body_excerpt(body: &[u8]) -> Option<String> {
    use serde_json::Value;
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => match map.get("detail")? {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        Ok(Value::Array(_)) => return None,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    Some(truncate_chars(&text, BODY_EXCERPT_CHARS))
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn status_error_message_and_mapping() {
        let e = Error::status_error(
            StatusCode::NOT_FOUND,
            Bytes::from_static(br#"{"detail":"missing"}"#),
            "users".into(),
            DecisionTrace::default(),
        );
        assert_eq!(e.to_string(), "Service users returned 404: missing");
        assert_eq!(e.http_status(), 404);
        assert_eq!(e.kind(), "status");
        assert!(e.trace().is_some());
        let e = Error::status_error(
            StatusCode::BAD_GATEWAY,
            Bytes::from_static(br#"{"a":1}"#),
            "users".into(),
            DecisionTrace::default(),
        );
        assert_eq!(e.to_string(), "Service users returned 502");
    }
}
