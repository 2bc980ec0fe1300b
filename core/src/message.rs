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
