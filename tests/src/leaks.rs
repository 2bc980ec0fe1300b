//! What the secrets and caller-mistake tests of every frontend send: credentials under the
//! names they carry in the wild, and requests built with one caller mistake each. A frontend's
//! test sends them through its own client and transport and asserts that no secret value is
//! shown and that no mistake is counted against the upstream.

use std::collections::HashMap;

use http::{HeaderValue, Method};
use tether_core::client::{HttpClient, RequestBuilder};
use tether_core::{BreakDuration, BreakerConfig, Runtime, Transport};

/// Secret-bearing names, each with a value that must never be shown to people (every value
/// starts with `LEAK-`). Sent as headers and as query parameters. Every pattern of the rule
/// has a name here: `token`, `secret`, `key`, `auth`, `session`, `passw`, `signature`,
/// `credential`, `jwt`, `cookie` — and `sig` as a word.
pub const SECRET_NAMES: &[(&str, &str)] = &[
    ("X-Amz-Signature", "LEAK-amz-signature-01"),
    ("session_id", "LEAK-session-id-02"),
    ("private_token", "LEAK-private-token-03"),
    ("jwt", "LEAK-jwt-04"),
    ("X-Access-Token", "LEAK-x-access-token-05"),
    ("api_key", "LEAK-api-key-06"),
    ("apikey", "LEAK-apikey-07"),
    ("X-Tenant-Secret", "LEAK-tenant-secret-08"),
    ("Proxy-Authorization", "LEAK-proxy-auth-09"),
    ("Cookie", "LEAK-cookie-10"),
    ("Set-Cookie", "LEAK-set-cookie-11"),
    ("password", "LEAK-password-12"),
    ("client_secret", "LEAK-client-secret-13"),
    ("refresh_token", "LEAK-refresh-token-14"),
    ("sig", "LEAK-sig-15"),
    ("Authorization", "LEAK-authorization-16"),
    ("X-Api-Key", "LEAK-x-api-key-17"),
    ("access_token", "LEAK-access-token-18"),
    ("X-Amz-Security-Token", "LEAK-amz-token-19"),
    ("Ocp-Apim-Subscription-Key", "LEAK-subscription-key-20"),
    ("X-Amz-Credential", "LEAK-amz-credential-23"),
];

/// `request` with every [`SECRET_NAMES`] pair as a header and as a query parameter, plus
/// values that must stay visible: `Accept: application/x-visible`, `X-Request-Id:
/// req-visible-42` and `page=2`.
pub fn with_secrets<T: Transport, R: Runtime, H: tether_core::client::Hooks>(
    request: RequestBuilder<T, R, H>,
) -> RequestBuilder<T, R, H> {
    let mut b = request
        .header("accept", "application/x-visible")
        .header("x-request-id", "req-visible-42")
        .query(&[("page", "2")]);
    for (name, value) in SECRET_NAMES {
        b = b
            .header(*name, HeaderValue::from_static(value))
            .query(&[(*name, *value)]);
    }
    b
}

/// A breaker that opens after two consecutive failures and stays open a minute: what a
/// caller-mistake test must never see open.
pub fn touchy_breaker() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: Some(2),
        break_duration: BreakDuration::Constant(std::time::Duration::from_secs(60)),
        ..BreakerConfig::default()
    }
}

/// A `Serialize` implementation that fails.
#[derive(Debug)]
pub struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

/// Requests to `url` built with one caller mistake each, and what the mistake is: malformed
/// or transport-owned headers, a `Host` that is not the URL's, a method that cannot be sent, a
/// body the method forbids, bodies that do not serialize, URLs that are invalid or do not
/// parse.
pub fn caller_mistakes<T: Transport, R: Runtime, H: tether_core::client::Hooks>(
    client: &HttpClient<T, R, H>,
    url: &str,
) -> Vec<(&'static str, RequestBuilder<T, R, H>)> {
    let post = |length: &str| {
        client
            .post(url)
            .header("content-length", length)
            .body("hello")
    };
    vec![
        ("Content-Length: abc", post("abc")),
        ("a Content-Length shorter than the body", post("3")),
        ("a Content-Length longer than the body", post("100")),
        (
            "Transfer-Encoding",
            client
                .post(url)
                .header("transfer-encoding", "chunked")
                .body("hello"),
        ),
        (
            "Connection",
            client.get(url).header("connection", "upgrade"),
        ),
        (
            "a Host naming another authority",
            client.get(url).header("host", "elsewhere.test"),
        ),
        ("a HEAD with a body", client.head(url).body("x")),
        ("CONNECT", client.request(Method::CONNECT, url)),
        (
            "non-ASCII credentials",
            client.get(url).header(
                "authorization",
                HeaderValue::from_bytes(b"Bearer t\xf6ken").expect("obs-text is a valid value"),
            ),
        ),
        (
            "CR/LF in a value",
            client.get(url).header("x-note", "a\r\nX-Injected: 1"),
        ),
        (
            "an invalid header name",
            client.get(url).header("bad header", "x"),
        ),
        (
            "JSON of a map with non-string keys",
            client.post(url).json(&HashMap::from([((1, 2), 3)])),
        ),
        (
            "a failing Serialize",
            client.post(url).json(&Unserializable),
        ),
        (
            "credentials in the URL",
            client.get(url.replacen("://", "://user:LEAK-pw@", 1)),
        ),
        (
            "a URL that does not parse",
            client.get("http://user:pa#LEAK-hash@host:99999/"),
        ),
        ("a relative URL", client.get("/relative")),
    ]
}
