//! Error facade: one enum per concern, grouped by who is at fault.
//!
//! * [`ConfigError`] — the caller's configuration is invalid (nothing was sent).
//! * [`RequestError`] — the caller's request cannot be processed (bad URL, method, header or
//!   body, a header the transport refuses to send). Refused before anything is sent, counted
//!   nowhere: a caller's mistake is never an upstream failure.
//! * [`RuntimeUnavailable`] — the runtime cannot run a request where it was called.
//! * [`crate::TransportError`] — the transport failed below HTTP.
//!
//! Policy outcomes (breaker open, budget exhausted) are *decisions*, never errors.

/// The configuration is invalid. Returned by every `Config::validate` and constructor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A numeric field is outside its allowed range.
    #[error("invalid value for `{field}`: {reason}")]
    InvalidValue {
        /// Dotted path of the field, e.g. `breaker.failure_ratio`.
        field: &'static str,
        /// Why it is invalid, e.g. `must be in (0, 1]`.
        reason: &'static str,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::InvalidValue`].
    pub const fn invalid(field: &'static str, reason: &'static str) -> Self {
        ConfigError::InvalidValue { field, reason }
    }
}

/// The request cannot be processed as given: the caller's mistake, found before anything was
/// sent. [`Engine::begin`](crate::Engine::begin) records nothing for it (no metrics, no
/// breaker call, no cache entry).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The URL is not an absolute `http`/`https` URL.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The method cannot be sent as a request to a URL (`CONNECT` opens a tunnel).
    #[error("invalid method {method}: {reason}")]
    InvalidMethod {
        /// The method.
        method: http::Method,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A header the caller set is malformed, or is the transport's to set (message framing
    /// and connection management). The value is never quoted: it may be a secret.
    #[error("invalid header {name}: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: http::HeaderName,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The method does not allow a body (`HEAD`, `TRACE`) and the request has one.
    #[error("a {method} request must not carry a body")]
    BodyNotAllowed {
        /// The method.
        method: http::Method,
    },
    /// A `Host` header names another authority than the URL (or appears more than once).
    /// The request would reach one origin while being cached under another, so it is refused
    /// rather than sent; put the authority you mean in the URL.
    #[error("the Host header does not match the URL's authority")]
    HostMismatch,
    /// The request body is larger than the configured limit.
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Actual size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The transport refuses to send the request as given: it sets something that is the
    /// transport's to write (message framing, connection management), or a `Host` naming
    /// another authority than its URL. Reported by [`Transport::check`](crate::Transport::check)
    /// before the engine sees the request, so it is never counted as an upstream failure.
    #[error("request refused by the transport: {reason}")]
    Refused {
        /// Why (never quotes a header value).
        reason: String,
    },
}

/// The runtime cannot run a request where it was called — for a runtime over an async
/// executor, outside that executor or in one built without its timers. Returned by
/// [`Runtime::check`](crate::Runtime::check).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RuntimeUnavailable {
    /// What is missing and how to provide it.
    pub reason: String,
}

impl RuntimeUnavailable {
    /// An error saying `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        RuntimeUnavailable {
            reason: reason.into(),
        }
    }
}
