//! The request flags `get` and `load` share: method, headers, body, limits, and the client
//! they configure.

use std::time::Duration;

use bytes::Bytes;
use tether_native::http::{HeaderMap, HeaderName, HeaderValue, Method};
use tether_native::tether_core::is_secret_header;
use tether_native::{HttpClient, RequestBuilder};

use crate::Failure;
use crate::duration;

/// How one request is made.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RequestArgs {
    /// The method (any token: GET, POST, PURGE, …).
    #[arg(short = 'X', long, default_value = "GET", value_parser = parse_method)]
    pub(crate) method: Method,
    /// A request header, `Name: value` (repeatable). Values are never printed.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// The request body; `@path` reads it from a file.
    #[arg(short = 'd', long)]
    pub(crate) data: Option<String>,
    /// Overall limit per request, from start to finish: every attempt and backoff (e.g. 500ms,
    /// 10s).
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    pub(crate) timeout: Duration,
    /// Retries after the first attempt (default: the client's, 3).
    #[arg(long, value_name = "N")]
    pub(crate) retries: Option<u32>,
    /// Turn the response cache off.
    #[arg(long)]
    pub(crate) no_cache: bool,
}

fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{text}` is not an HTTP method token"))
}

/// A ready request: the headers (secrets marked sensitive) and the body.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) timeout: Duration,
}

impl Prepared {
    /// The request on `client`, ready to send.
    pub(crate) fn on(&self, client: &HttpClient) -> RequestBuilder {
        client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .body(self.body.clone())
            .timeout(self.timeout)
    }
}

impl RequestArgs {
    /// Checks the flags and reads the body.
    pub(crate) fn prepare(&self, url: &str) -> Result<Prepared, Failure> {
        let mut headers = HeaderMap::new();
        for line in &self.headers {
            let (name, value) = parse_header(line).map_err(Failure::Usage)?;
            headers.append(name, value);
        }
        let body = match self.data.as_deref() {
            None => Bytes::new(),
            Some(data) => match data.strip_prefix('@') {
                Some(path) => std::fs::read(path).map(Bytes::from).map_err(|e| {
                    Failure::Usage(format!("--data @{path}: cannot read the file: {e}"))
                })?,
                None => Bytes::from(data.to_owned()),
            },
        };
        if self.timeout.is_zero() {
            return Err(Failure::Usage("--timeout must be longer than 0".into()));
        }
        Ok(Prepared {
            method: self.method.clone(),
            url: url.to_owned(),
            headers,
            body,
            timeout: self.timeout,
        })
    }

    /// The client these flags describe.
    pub(crate) fn client(&self) -> Result<HttpClient, Failure> {
        let mut builder = HttpClient::builder().timeout(self.timeout);
        if let Some(retries) = self.retries {
            if retries > 100 {
                return Err(Failure::Usage(format!(
                    "--retries {retries} is too many: at most 100"
                )));
            }
            builder = builder.max_retries(retries);
        }
        if self.no_cache {
            builder = builder.no_cache();
        }
        builder
            .build()
            .map_err(|e| Failure::Usage(format!("cannot build the client: {e}")))
    }
}

/// `Name: value` → a header; a secret one (`Authorization`, `Cookie`, API keys …) is marked
/// sensitive. The error never repeats the value.
pub(crate) fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = line.split_once(':') else {
        return Err("-H expects `Name: value` (a colon is missing)".to_owned());
    };
    let name = name.trim();
    let header = HeaderName::try_from(name)
        .map_err(|_| format!("-H: `{name}` is not a valid header name"))?;
    let mut value = HeaderValue::try_from(value.trim())
        .map_err(|_| format!("-H: the value of `{name}` is not a valid header value"))?;
    if is_secret_header(header.as_str()) {
        value.set_sensitive(true);
    }
    Ok((header, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_secrets_are_sensitive() {
        let (n, v) = parse_header("X-Request-Id:  abc ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-request-id", "abc"));
        assert!(!v.is_sensitive());
        let (n, v) = parse_header("Authorization: Bearer s3cr3t").unwrap();
        assert_eq!(n, "authorization");
        assert!(v.is_sensitive());
        assert!(format!("{v:?}").contains("Sensitive"));
    }

    #[test]
    fn header_errors_never_repeat_the_value() {
        let e = parse_header("Authorization: Bearer s3cr3t\u{7f}").unwrap_err();
        assert!(e.contains("Authorization") && !e.contains("s3cr3t"), "{e}");
        let e = parse_header("no colon s3cr3t").unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(
            parse_header("bad name: x")
                .unwrap_err()
                .contains("`bad name`")
        );
    }

    #[test]
    fn methods_are_tokens() {
        assert_eq!(parse_method("post").unwrap(), Method::POST);
        assert_eq!(parse_method("PURGE").unwrap().as_str(), "PURGE");
        assert!(parse_method("GE T").is_err());
    }
}
