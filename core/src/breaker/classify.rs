//! Classification of HTTP outcomes into what the breaker counts.

use serde::{Deserialize, Serialize};

use super::CallKind;
use crate::{ConfigError, Outcome, TransportErrorKind};

/// An inclusive range of HTTP status codes, e.g. `500..=599`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRange {
    /// First status in the range.
    pub from: u16,
    /// Last status in the range (inclusive).
    pub to: u16,
}

impl StatusRange {
    /// `from..=to`.
    pub const fn new(from: u16, to: u16) -> Self {
        StatusRange { from, to }
    }

    /// A single status.
    pub const fn single(status: u16) -> Self {
        StatusRange {
            from: status,
            to: status,
        }
    }

    /// Whether `status` is in the range.
    pub const fn contains(self, status: u16) -> bool {
        self.from <= status && status <= self.to
    }
}

/// Maps an [`Outcome`] to [`CallKind`]: what the breaker counts.
///
/// Rules, in order:
/// 1. Transport error: `Ignored` for [`TransportErrorKind::InvalidRequest`] whatever the
///    configuration (the transport refused the caller's request: nothing reached the
///    upstream); otherwise `Failure` if its kind is in `transport_failures`, else `Ignored`
///    (a caller's cancellation or our own body limit says nothing about the upstream's health).
/// 2. Status in any of `failure_statuses` (default `500..=599`): `Failure`.
/// 3. 429: `Failure` if `rate_limited_is_failure`, else `Ignored` (default; being throttled is
///    about us, not about the upstream's health, and it neither resets nor feeds the counts).
/// 4. Other 4xx: `Failure` if `client_errors_are_failures` (default false), else `Success`.
/// 5. Anything else: `Success`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Classifier {
    /// Statuses that count as failures. Default `[500..=599]`.
    pub failure_statuses: Vec<StatusRange>,
    /// Whether a 429 (not listed in `failure_statuses`) counts as a failure. Default false
    /// (it is then `Ignored`).
    pub rate_limited_is_failure: bool,
    /// Whether other 4xx responses count as failures. Default false (they are successes).
    pub client_errors_are_failures: bool,
    /// Transport error kinds that count as failures; the others are `Ignored`. Default:
    /// connect, timeout, reset, protocol, other (not cancelled, not body_too_large).
    /// `invalid_request` is ignored even when listed.
    pub transport_failures: Vec<TransportErrorKind>,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier {
            failure_statuses: vec![StatusRange::new(500, 599)],
            rate_limited_is_failure: false,
            client_errors_are_failures: false,
            transport_failures: vec![
                TransportErrorKind::Connect,
                TransportErrorKind::Timeout,
                TransportErrorKind::Reset,
                TransportErrorKind::Protocol,
                TransportErrorKind::Other,
            ],
        }
    }
}

impl Classifier {
    /// Checks the status ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for r in &self.failure_statuses {
            if r.from > r.to || r.from < 100 || r.to > 999 {
                return Err(ConfigError::invalid(
                    "breaker.classifier.failure_statuses",
                    "each range must satisfy 100 <= from <= to <= 999",
                ));
            }
        }
        Ok(())
    }

    /// What the breaker should count for this outcome.
    pub fn classify(&self, outcome: &Outcome) -> CallKind {
        match outcome {
            Ok(response) => self.classify_status(response.status().as_u16()),
            Err(error) => self.classify_transport(error.kind),
        }
    }

    /// What the breaker should count for a response with this status.
    pub fn classify_status(&self, status: u16) -> CallKind {
        if self.failure_statuses.iter().any(|r| r.contains(status)) {
            return CallKind::Failure;
        }
        if status == 429 {
            return if self.rate_limited_is_failure {
                CallKind::Failure
            } else {
                CallKind::Ignored
            };
        }
        if (400..=499).contains(&status) && self.client_errors_are_failures {
            return CallKind::Failure;
        }
        CallKind::Success
    }

    /// What the breaker should count for a transport error of this kind.
    pub fn classify_transport(&self, kind: TransportErrorKind) -> CallKind {
        if kind != TransportErrorKind::InvalidRequest && self.transport_failures.contains(&kind) {
            CallKind::Failure
        } else {
            CallKind::Ignored
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Response, TransportError};

    fn resp(status: u16) -> Outcome {
        http::StatusCode::from_u16(status)
            .map(|code| {
                let mut r = Response::new(bytes::Bytes::new());
                *r.status_mut() = code;
                r
            })
            .map_err(|_| TransportError::new(TransportErrorKind::Other, "bad status"))
    }

    fn err(kind: TransportErrorKind) -> Outcome {
        Err(TransportError::new(kind, "x"))
    }

    #[test]
    fn defaults() {
        let c = Classifier::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.classify(&resp(200)), CallKind::Success);
        assert_eq!(c.classify(&resp(304)), CallKind::Success);
        assert_eq!(c.classify(&resp(404)), CallKind::Success);
        assert_eq!(c.classify(&resp(429)), CallKind::Ignored);
        assert_eq!(c.classify(&resp(500)), CallKind::Failure);
        assert_eq!(c.classify(&resp(503)), CallKind::Failure);
        assert_eq!(c.classify(&resp(599)), CallKind::Failure);
        assert_eq!(c.classify(&resp(600)), CallKind::Success);
        assert_eq!(
            c.classify(&err(TransportErrorKind::Timeout)),
            CallKind::Failure
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::Connect)),
            CallKind::Failure
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::Reset)),
            CallKind::Failure
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::Protocol)),
            CallKind::Failure
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::Other)),
            CallKind::Failure
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::Cancelled)),
            CallKind::Ignored
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::BodyTooLarge)),
            CallKind::Ignored
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::InvalidRequest)),
            CallKind::Ignored
        );
    }

    #[test]
    fn a_refused_request_is_never_a_failure() {
        let c = Classifier {
            transport_failures: vec![TransportErrorKind::InvalidRequest],
            ..Classifier::default()
        };
        assert_eq!(
            c.classify(&err(TransportErrorKind::InvalidRequest)),
            CallKind::Ignored
        );
    }

    #[test]
    fn configurable() {
        let c = Classifier {
            failure_statuses: vec![StatusRange::single(502), StatusRange::new(503, 504)],
            rate_limited_is_failure: true,
            client_errors_are_failures: true,
            transport_failures: vec![TransportErrorKind::Timeout],
        };
        assert!(c.validate().is_ok());
        assert_eq!(c.classify(&resp(500)), CallKind::Success);
        assert_eq!(c.classify(&resp(502)), CallKind::Failure);
        assert_eq!(c.classify(&resp(504)), CallKind::Failure);
        assert_eq!(c.classify(&resp(429)), CallKind::Failure);
        assert_eq!(c.classify(&resp(400)), CallKind::Failure);
        assert_eq!(c.classify(&resp(399)), CallKind::Success);
        assert_eq!(
            c.classify(&err(TransportErrorKind::Connect)),
            CallKind::Ignored
        );
        assert_eq!(
            c.classify(&err(TransportErrorKind::Timeout)),
            CallKind::Failure
        );
    }

    #[test]
    fn rejects_bad_ranges() {
        let mut c = Classifier::default();
        c.failure_statuses.push(StatusRange::new(510, 500));
        assert!(c.validate().is_err());
        c.failure_statuses = vec![StatusRange::new(50, 99)];
        assert!(c.validate().is_err());
        c.failure_statuses = vec![StatusRange::new(900, 1000)];
        assert!(c.validate().is_err());
    }

    #[test]
    fn serde_roundtrip() {
        let c = Classifier::default();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"transport_failures\":[\"connect\",\"timeout\""));
        let back: Classifier = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let partial: Classifier =
            serde_json::from_str(r#"{"rate_limited_is_failure":true}"#).unwrap();
        assert!(partial.rate_limited_is_failure);
        assert_eq!(partial.failure_statuses, vec![StatusRange::new(500, 599)]);
    }
}
