//! [`Failure`]: a classified transport failure before the request context is added, shared by
//! both transports so that the same failure gets the same [`TransportErrorKind`] whichever
//! transport saw it.

use std::error::Error as StdError;
use std::io;

use http::{Method, Uri};
use tether_core::redact_url;
use tether_core::{TransportError, TransportErrorKind};

/// A classified failure before the request context is added.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: TransportErrorKind,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(kind: TransportErrorKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// An invalid request or configuration: the caller's mistake, reported as
    /// [`TransportErrorKind::InvalidRequest`] — never retried, never counted against the
    /// upstream by the breaker or the error metrics.
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Failure::new(TransportErrorKind::InvalidRequest, detail)
    }

    /// A failure of the transport itself (a closed pool, a lost blocking job): not the
    /// caller's and not the upstream's.
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Failure::new(TransportErrorKind::Other, detail)
    }

    /// The error the core sees: `detail (METHOD redacted-url)`. The detail is redacted too:
    /// some library errors quote a URI or a `Location` header.
    pub(crate) fn into_error(self, method: &Method, uri: &Uri) -> TransportError {
        let detail = redact_url(&self.detail);
        let url = redact_url(&uri.to_string());
        TransportError::new(self.kind, format!("{detail} ({method} {url})"))
    }
}

/// The failure for a body over the limit.
pub(crate) fn body_too_large(limit: u64) -> Failure {
    Failure::new(
        TransportErrorKind::BodyTooLarge,
        format!("response body exceeds the limit of {limit} bytes"),
    )
}

/// The class of an I/O error. A failed DNS lookup reaches us as std's `getaddrinfo` error,
/// whose kind is unstable ("uncategorized"), so it is told by its text.
pub(crate) fn io_error_kind(error: &io::Error) -> TransportErrorKind {
    match io_kind(error.kind()) {
        TransportErrorKind::Other
            if error
                .to_string()
                .starts_with("failed to lookup address information") =>
        {
            TransportErrorKind::Connect
        }
        kind => kind,
    }
}

/// The class of an [`io::ErrorKind`].
pub(crate) fn io_kind(kind: io::ErrorKind) -> TransportErrorKind {
    use TransportErrorKind as K;
    use io::ErrorKind as E;
    match kind {
        E::ConnectionRefused
        | E::HostUnreachable
        | E::NetworkUnreachable
        | E::NetworkDown
        | E::AddrNotAvailable
        | E::AddrInUse => K::Connect,
        E::TimedOut | E::WouldBlock => K::Timeout,
        E::ConnectionReset
        | E::ConnectionAborted
        | E::BrokenPipe
        | E::UnexpectedEof
        | E::NotConnected => K::Reset,
        E::InvalidData => K::Protocol,
        _ => K::Other,
    }
}

/// `error` and its sources, joined with `: ` (a source whose text its parent already shows is
/// skipped).
pub(crate) fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}

/// The first error of type `T` in `error`'s source chain (itself included).
pub(crate) fn find_source<'a, T: StdError + 'static>(
    error: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_are_classified() {
        use TransportErrorKind as K;
        assert_eq!(io_kind(io::ErrorKind::ConnectionRefused), K::Connect);
        assert_eq!(io_kind(io::ErrorKind::ConnectionReset), K::Reset);
        assert_eq!(io_kind(io::ErrorKind::UnexpectedEof), K::Reset);
        assert_eq!(io_kind(io::ErrorKind::TimedOut), K::Timeout);
        assert_eq!(io_kind(io::ErrorKind::InvalidData), K::Protocol);
        assert_eq!(io_kind(io::ErrorKind::PermissionDenied), K::Other);
        // What std's resolver returns on Linux when a name does not resolve.
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(io_error_kind(&dns), K::Connect);
    }

    #[test]
    fn messages_redact_the_url_and_quoted_uris() {
        let uri: Uri = "http://user:pw@example.com/x?api_key=SECRET&q=1"
            .parse()
            .unwrap();
        let failure = Failure::new(
            TransportErrorKind::Protocol,
            "location header is malformed: /next?token=HIDDEN",
        );
        let error = failure.into_error(&Method::GET, &uri);
        assert!(!error.message.contains("SECRET"), "{}", error.message);
        assert!(!error.message.contains("HIDDEN"), "{}", error.message);
        assert!(!error.message.contains("pw"), "{}", error.message);
        assert!(error.message.contains("GET http://"), "{}", error.message);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("wrapper")]
    struct Wrapper(#[source] io::Error);

    #[test]
    fn sources_are_found_through_the_chain() {
        let inner = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let outer = io::Error::other(inner);
        let found = find_source::<io::Error>(&outer).unwrap();
        // The outer error is an io::Error too: the first match wins.
        assert_eq!(found.kind(), io::ErrorKind::Other);
        let wrapped = Wrapper(io::Error::new(io::ErrorKind::TimedOut, "slow"));
        let found = find_source::<io::Error>(&wrapped).unwrap();
        assert_eq!(found.kind(), io::ErrorKind::TimedOut);
        assert_eq!(describe(&wrapped), "wrapper: slow");
    }
}
