//! [`Response`]: a whole response and how it was obtained.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode, Version};
use serde::de::DeserializeOwned;

use super::Error;
use crate::DecisionTrace;

/// A response: status, headers and the whole body, plus how it was obtained — from the cache
/// or not, under which service, and the [`DecisionTrace`] of every decision on the way.
///
/// Any status is a response: a 503 after the last retry comes back here, not as an error
/// (call [`error_for_status`](Self::error_for_status) to turn 4xx/5xx into [`Error::Status`]).
/// The body is already in memory, so its accessors borrow.
///
/// ```
/// # fn show(response: tether_core::client::Response) -> Result<(), tether_core::client::Error> {
/// println!("{} in {:?}", response.status(), response.trace().total);
/// let response = response.error_for_status()?;
/// let body: serde_json::Value = response.json()?;
/// # Ok(()) }
/// ```
///
/// Its `Debug` output redacts secret headers (`Set-Cookie`, …) and shows the body's length,
/// never its bytes.
pub struct Response {
    inner: http::Response<Bytes>,
    from_cache: bool,
    service: String,
    trace: DecisionTrace,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("response", &crate::redact::debug_response(&self.inner))
            .field("from_cache", &self.from_cache)
            .field("service", &self.service)
            .field("trace", &self.trace)
            .finish()
    }
}

impl Response {
    pub(crate) fn new(
        inner: http::Response<Bytes>,
        from_cache: bool,
        service: String,
        trace: DecisionTrace,
    ) -> Self {
        Response {
            inner,
            from_cache,
            service,
            trace,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The headers (a cached response carries `Age`).
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        self.inner.body()
    }

    /// The body as text: decoded as ISO-8859-1 when the `Content-Type` says so, otherwise as
    /// UTF-8 (invalid sequences replaced).
    pub fn text(&self) -> String {
        let latin1 = self
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| {
                ct.split(';')
                    .skip(1)
                    .find_map(|p| p.trim().strip_prefix("charset="))
            })
            .is_some_and(|cs| {
                let cs = cs.trim_matches('"');
                cs.eq_ignore_ascii_case("iso-8859-1") || cs.eq_ignore_ascii_case("latin1")
            });
        if latin1 {
            self.bytes().iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(self.bytes()).into_owned()
        }
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(self.bytes())?)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        self.status().is_success()
    }

    /// Whether it came from the cache (fresh, stale, revalidated or shared by an identical
    /// request in flight).
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The service it was accounted under (the URL's host when none was named).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Why it went the way it did: cache, breaker, every attempt and retry.
    pub fn trace(&self) -> &DecisionTrace {
        &self.trace
    }

    /// `Err(Error::Status)` for a 4xx or 5xx status (message `Service <name> returned
    /// <status>[: detail]`), else the response.
    pub fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status();
        if status.is_client_error() || status.is_server_error() {
            return Err(Error::status_error(
                status,
                self.inner.into_body(),
                self.service,
                self.trace,
            ));
        }
        Ok(self)
    }

    /// The plain `http` response.
    pub fn into_http(self) -> http::Response<Bytes> {
        self.inner
    }

    /// The plain `http` response and the trace.
    pub fn into_parts(self) -> (http::Response<Bytes>, DecisionTrace) {
        (self.inner, self.trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str, body: &'static [u8]) -> Response {
        let inner = http::Response::builder()
            .status(status)
            .header(CONTENT_TYPE, content_type)
            .body(Bytes::from_static(body))
            .unwrap();
        Response::new(inner, false, "svc".into(), DecisionTrace::default())
    }

    #[test]
    fn text_honours_a_latin1_charset() {
        let r = response(200, "text/plain; charset=ISO-8859-1", b"caf\xe9");
        assert_eq!(r.text(), "café");
        let r = response(200, "text/plain; charset=utf-8", "café".as_bytes());
        assert_eq!(r.text(), "café");
        let r = response(200, "text/plain", b"caf\xe9");
        assert_eq!(r.text(), "caf\u{fffd}");
    }

    #[test]
    fn json_and_status_errors() {
        let r = response(200, "application/json", br#"{"a":1}"#);
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["a"], 1);
        assert!(r.is_success());
        assert!(r.json::<Vec<u8>>().is_err_and(|e| e.kind() == "json"));
        let r = response(404, "application/json", br#"{"detail":"gone"}"#);
        let e = r.error_for_status().unwrap_err();
        assert_eq!(e.to_string(), "Service svc returned 404: gone");
        let r = response(302, "text/plain", b"");
        assert!(r.error_for_status().is_ok());
    }
}
