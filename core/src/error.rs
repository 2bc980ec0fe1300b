//! Error facade: one enum per concern, grouped by who is at fault.
//!
//! * [`ConfigError`] — the caller's configuration is invalid (nothing was sent).
//! * [`RequestError`] — the caller's request cannot be processed (bad URL, oversized body).
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

/// The request cannot be processed as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The URL is not an absolute `http`/`https` URL.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
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
}
