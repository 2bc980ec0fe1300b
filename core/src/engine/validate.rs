//! What a request must be before the engine takes it: the caller's mistakes are refused here,
//! typed ([`RequestError`]) and counted nowhere, instead of reaching a transport that would
//! fail them in a way the breaker and the metrics take for an upstream failure.
//!
//! The message rules, shared by every frontend (the core's requests carry whole bodies, so
//! framing and connection management belong to the transport):
//!
//! | what | rule |
//! |---|---|
//! | `CONNECT` | refused: it opens a tunnel, it is not a request to a URL |
//! | a body on `HEAD` or `TRACE` | refused (RFC 9110 §9.3.2, §9.3.8) |
//! | `Content-Length` | once, decimal digits, equal to the body's length (or left out: the transport writes it) |
//! | `Transfer-Encoding` | refused: every body is sent whole, with its length |
//! | `Connection`, `Keep-Alive`, `Proxy-Connection`, `Upgrade`, `TE` | refused: connection reuse and protocol switching are the transport's |
//! | `Authorization`, `Proxy-Authorization` | visible ASCII only (credentials are tokens; encode anything else, as `basic_auth` does) |
//!
//! Header names and values are valid by construction (`http::HeaderName` and `HeaderValue`
//! refuse CR, LF and NUL), so header injection cannot get this far.

use http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HeaderName, PROXY_AUTHORIZATION, TE,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderValue, Method};

use crate::{Request, RequestError};

/// Checks the method, the body against the method, and the headers only the transport may
/// set (see the module's table).
pub(super) fn check_message(request: &Request) -> Result<(), RequestError> {
    let method = request.method();
    if *method == Method::CONNECT {
        return Err(RequestError::InvalidMethod {
            method: Method::CONNECT,
            reason: "CONNECT opens a tunnel through a proxy; it is not a request to a URL",
        });
    }
    let body = request.body().len();
    if body > 0 && (*method == Method::HEAD || *method == Method::TRACE) {
        return Err(RequestError::BodyNotAllowed {
            method: method.clone(),
        });
    }
    let mut content_length = false;
    for (name, value) in request.headers() {
        let refuse = |reason| {
            Err(RequestError::InvalidHeader {
                name: name.clone(),
                reason,
            })
        };
        if *name == CONTENT_LENGTH {
            if content_length {
                return refuse("appears more than once");
            }
            content_length = true;
            if decimal(value) != Some(body as u64) {
                return refuse(
                    "must be the body's length in decimal digits (or left out: the transport writes it)",
                );
            }
        } else if *name == TRANSFER_ENCODING {
            return refuse("is the transport's to set: every body is sent whole, with its length");
        } else if is_connection_management(name) {
            return refuse("is the transport's to set: it manages connections");
        } else if (*name == AUTHORIZATION || *name == PROXY_AUTHORIZATION)
            && value.to_str().is_err()
        {
            return refuse("must be visible ASCII (encode the credentials)");
        }
    }
    Ok(())
}

fn is_connection_management(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == UPGRADE
        || *name == TE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// `1*DIGIT` with optional surrounding whitespace, as a number.
fn decimal(value: &HeaderValue) -> Option<u64> {
    let digits = value.as_bytes().trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn req(method: &str, headers: &[(&str, &[u8])], body: &'static str) -> Request {
        let mut b = http::Request::builder()
            .method(method)
            .uri("http://h.test/x");
        for (k, v) in headers {
            b = b.header(*k, HeaderValue::from_bytes(v).unwrap());
        }
        b.body(Bytes::from_static(body.as_bytes())).unwrap()
    }

    fn refused(r: &Request) -> RequestError {
        check_message(r).expect_err("refused")
    }

    #[test]
    fn ordinary_requests_pass() {
        for r in [
            req("GET", &[("accept", b"*/*")], ""),
            req("POST", &[("content-length", b"5")], "hello"),
            req("POST", &[("content-length", b" 5 ")], "hello"),
            req("GET", &[("content-length", b"0")], ""),
            req("PURGE", &[], ""),
            req("GET", &[], "a GET may carry a body"),
            req("GET", &[("authorization", b"Bearer abc.def")], ""),
            req("HEAD", &[], ""),
        ] {
            assert_eq!(check_message(&r), Ok(()), "{r:?}");
        }
    }

    #[test]
    fn malformed_or_transport_owned_headers_are_refused() {
        for (headers, body, name) in [
            (&[("content-length", &b"abc"[..])][..], "", "content-length"),
            (&[("content-length", b"3")], "hello", "content-length"),
            (&[("content-length", b"100")], "hello", "content-length"),
            (&[("content-length", b"-5")], "hello", "content-length"),
            (
                &[("content-length", b"5"), ("content-length", b"5")],
                "hello",
                "content-length",
            ),
            (
                &[("transfer-encoding", b"chunked")],
                "hello",
                "transfer-encoding",
            ),
            (&[("connection", b"close")], "", "connection"),
            (&[("keep-alive", b"timeout=5")], "", "keep-alive"),
            (
                &[("proxy-connection", b"keep-alive")],
                "",
                "proxy-connection",
            ),
            (&[("upgrade", b"websocket")], "", "upgrade"),
            (&[("te", b"trailers")], "", "te"),
            (
                &[("authorization", "Bearer tök".as_bytes())],
                "",
                "authorization",
            ),
            (
                &[("proxy-authorization", b"Basic \xff")],
                "",
                "proxy-authorization",
            ),
        ] {
            let r = req("POST", headers, body);
            match refused(&r) {
                RequestError::InvalidHeader { name: n, .. } => assert_eq!(n, name),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn methods_that_cannot_be_sent_are_refused() {
        assert!(matches!(
            refused(&req("CONNECT", &[], "")),
            RequestError::InvalidMethod { .. }
        ));
        for m in ["HEAD", "TRACE"] {
            assert!(matches!(
                refused(&req(m, &[], "body")),
                RequestError::BodyNotAllowed { .. }
            ));
        }
    }

    #[test]
    fn errors_never_quote_the_value() {
        let r = req("GET", &[("authorization", "Bearer SECRETé".as_bytes())], "");
        let shown = format!("{} {:?}", refused(&r), refused(&r));
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
