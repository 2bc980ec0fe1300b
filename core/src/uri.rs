//! URL checks: the one place Tether decides whether a URL may be requested.
//!
//! Every path into the network goes through this module:
//!
//! * [`check`] — what [`Engine::begin`](crate::Engine::begin) accepts: an absolute `http` or
//!   `https` URI with a host and **no credentials** in it (a password in a URL ends up in logs,
//!   proxies and browser history; send it in `Authorization` instead). It returns the
//!   authority the engine keys breakers and metrics by.
//! * [`parse`] — what the client layer does with a URL a person typed: WHATWG parsing (the
//!   rules browsers and `fetch` follow: IDNA host names, percent-encoding, dot segments), query
//!   parameters appended form-urlencoded, the fragment dropped (it never goes on the wire), then
//!   [`check`].
//! * [`ServiceBase`] — a service's base URL and the confinement of its endpoints: an endpoint
//!   given to a service client can never change the scheme, host or port, nor climb out of the
//!   base path (`@evil/x`, `//evil/x`, `/../admin`, `/%2e%2e/admin`, `/..;/admin`, encoded
//!   slashes, double encoding, backslashes, control characters, fragments).
//! * [`RedirectScope`] — the same confinement for redirects a transport follows on a
//!   service's behalf.
//!
//! Errors never quote a URL's secrets: [`redact_url`](crate::redact::redact_url) and
//! [`shown_endpoint`] are what callers put in messages.

use http::Uri;

use crate::RequestError;
use crate::cache::{AuthorityShape, scan_authority, split_authority};

/// Checks that `uri` may be requested: absolute `http`/`https`, a host, no credentials.
/// Returns its authority (`host[:port]`).
///
/// ```
/// use tether_core::uri;
///
/// let ok: http::Uri = "https://api.example.com:8443/x".parse().unwrap();
/// assert_eq!(uri::check(&ok).unwrap(), "api.example.com:8443");
/// let secret: http::Uri = "https://user:pw@api.example.com/".parse().unwrap();
/// assert!(uri::check(&secret).is_err());
/// ```
pub fn check(uri: &Uri) -> Result<&str, RequestError> {
    let invalid = |reason| Err(RequestError::InvalidUrl { reason });
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(_) => return invalid("scheme must be http or https"),
        None => return invalid(NOT_ABSOLUTE),
    }
    let Some(authority) = uri.authority() else {
        return invalid("URL has no host");
    };
    // Usually a plain host: one SWAR scan says so; anything else is split properly.
    let plain = matches!(
        scan_authority(authority.as_str().as_bytes()),
        AuthorityShape::Plain | AuthorityShape::Upper
    );
    if !plain {
        let parts = split_authority(authority.as_str());
        if parts.host.is_empty() {
            return invalid("URL has no host");
        }
        if parts.userinfo.is_some() {
            return invalid(CREDENTIALS);
        }
    }
    Ok(authority.as_str())
}

const NOT_ABSOLUTE: &str = "URL must be absolute (scheme://host/path)";
const CREDENTIALS: &str = "credentials in the URL are not allowed (use the Authorization header)";

/// Parses `url` as a browser would (WHATWG URL), appends `query` (form-urlencoded: every
/// reserved byte percent-encoded, a space as `+`), drops the fragment, and [`check`]s the
/// result.
///
/// ```
/// use tether_core::uri;
///
/// let uri = uri::parse("http://Example.com/a/../b#top", &[("q", "a b&c")]).unwrap();
/// assert_eq!(uri.to_string(), "http://example.com/b?q=a+b%26c");
/// assert!(uri::parse("ftp://example.com/", &[] as &[(&str, &str)]).is_err());
/// ```
pub fn parse<K: AsRef<str>, V: AsRef<str>>(
    url: &str,
    query: &[(K, V)],
) -> Result<Uri, RequestError> {
    let mut parsed = url::Url::parse(url).map_err(|e| RequestError::InvalidUrl {
        reason: parse_error_reason(e),
    })?;
    if !query.is_empty() {
        let mut pairs = parsed.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k.as_ref(), v.as_ref());
        }
    }
    parsed.set_fragment(None);
    let uri: Uri = parsed
        .as_str()
        .parse()
        .map_err(|_| RequestError::InvalidUrl {
            reason: "URL cannot be sent as an HTTP request target",
        })?;
    check(&uri)?;
    Ok(uri)
}

/// A fixed reason for each WHATWG parse failure (the `url` crate's own wording).
fn parse_error_reason(e: url::ParseError) -> &'static str {
    use url::ParseError as P;
    match e {
        P::EmptyHost => "URL has no host",
        P::IdnaError => "invalid international domain name",
        P::InvalidPort => "invalid port number",
        P::InvalidIpv4Address => "invalid IPv4 address",
        P::InvalidIpv6Address => "invalid IPv6 address",
        P::InvalidDomainCharacter => "invalid domain character",
        P::RelativeUrlWithoutBase
        | P::RelativeUrlWithCannotBeABaseBase
        | P::SetHostOnCannotBeABaseUrl => NOT_ABSOLUTE,
        P::Overflow => "URL is too long",
        _ => "invalid URL",
    }
}

/// Why an endpoint was refused by [`ServiceBase::join`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct EndpointRefused {
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A service's base URL: a plain `http`/`https` URL with a host and nothing a base must not
/// carry (credentials, query, fragment). Its [`join`](Self::join) confines endpoints to it.
///
/// ```
/// use tether_core::uri::ServiceBase;
///
/// let base = ServiceBase::parse("http://127.0.0.1:8080/api/").unwrap();
/// assert_eq!(base.as_str(), "http://127.0.0.1:8080/api");
/// assert_eq!(base.join("/users/42?x=1").unwrap(), "http://127.0.0.1:8080/api/users/42?x=1");
/// assert!(base.join("@evil.example/x").is_err());
/// assert!(base.join("/../admin").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct ServiceBase {
    url: url::Url,
    text: String,
}

impl ServiceBase {
    /// Parses a base URL (a trailing `/` is removed).
    pub fn parse(base_url: &str) -> Result<Self, RequestError> {
        let text = base_url.trim_end_matches('/').to_owned();
        let url = url::Url::parse(&text).map_err(|e| RequestError::InvalidUrl {
            reason: parse_error_reason(e),
        })?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(RequestError::InvalidUrl {
                reason: "the base URL must not have a query or fragment",
            });
        }
        let uri: Uri = url.as_str().parse().map_err(|_| RequestError::InvalidUrl {
            reason: "URL cannot be sent as an HTTP request target",
        })?;
        check(&uri)?;
        Ok(ServiceBase { url, text })
    }

    /// The base URL as given, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `base + endpoint`, refused unless it stays on the base's scheme, host, port and path.
    ///
    /// The endpoint must start with a single `/`, contain no backslash, whitespace, control
    /// character or fragment, no `.`/`..` path segment (plain, percent-encoded, or with a
    /// `;parameter` that servlet containers strip), no encoded `/` or `\` in its path and no
    /// encoded `%` (double encoding). The joined URL is then parsed and must keep the base's
    /// scheme, host and port, carry no credentials, and have a path under the base's path.
    pub fn join(&self, endpoint: &str) -> Result<String, EndpointRefused> {
        let refuse = |reason| Err(EndpointRefused { reason });
        if !endpoint.starts_with('/') {
            return refuse("must be a path starting with `/`");
        }
        if endpoint.starts_with("//") {
            return refuse("must not start with `//`");
        }
        if endpoint
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
        {
            return refuse("must not contain a backslash, whitespace or control character");
        }
        if endpoint.contains('#') {
            return refuse("must not contain a fragment");
        }
        let path = endpoint.split('?').next().unwrap_or("");
        for segment in path.split('/') {
            let lower = segment.to_ascii_lowercase();
            if lower.contains("%25") {
                return refuse("must not contain an encoded `%` (double encoding)");
            }
            // `..;x` is `..` to servlet containers (a path parameter is stripped): compare the
            // segment without its parameters.
            let decoded = lower.replace("%2e", ".").replace("%3b", ";");
            let name = decoded.split(';').next().unwrap_or("");
            if name == "." || name == ".." {
                return refuse("must not contain `.` or `..` path segments");
            }
            if lower.contains("%2f") || lower.contains("%5c") {
                return refuse("must not contain an encoded `/` or `\\` in its path");
            }
        }
        let joined = format!("{}{endpoint}", self.text);
        let Ok(url) = url::Url::parse(&joined) else {
            return refuse("does not form a valid URL");
        };
        self.confines(&url).map(|()| joined)
    }

    /// Whether `uri` lies within the base: same scheme, host and port, no credentials, a
    /// path equal to or under the base's path. What a redirect of a service's request must
    /// satisfy to be followed ([`RedirectScope`]).
    ///
    /// ```
    /// use tether_core::uri::ServiceBase;
    ///
    /// let base = ServiceBase::parse("http://api.test/v1").unwrap();
    /// assert!(base.contains(&"http://api.test/v1/users?page=2".parse().unwrap()));
    /// assert!(!base.contains(&"http://api.test/admin".parse().unwrap()));
    /// assert!(!base.contains(&"http://evil.test/v1/users".parse().unwrap()));
    /// ```
    pub fn contains(&self, uri: &Uri) -> bool {
        url::Url::parse(&uri.to_string()).is_ok_and(|url| self.confines(&url).is_ok())
    }

    /// `Ok` when `url` stays on the base's origin, without credentials, under its path.
    fn confines(&self, url: &url::Url) -> Result<(), EndpointRefused> {
        let refuse = |reason| Err(EndpointRefused { reason });
        let base = &self.url;
        let same_origin = url.scheme() == base.scheme()
            && url.host() == base.host()
            && url.port_or_known_default() == base.port_or_known_default();
        if !same_origin {
            return refuse("must not change the scheme, host or port");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("must not add credentials");
        }
        let base_path = base.path().trim_end_matches('/');
        let under_base = base_path.is_empty()
            || url.path() == base_path
            || url
                .path()
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/'));
        if !under_base {
            return refuse("must stay under the base URL's path");
        }
        Ok(())
    }
}

/// Where a request's redirects may lead: put in a request's extensions, it tells a transport
/// that follows redirects to follow only those that stay within a [`ServiceBase`] (and to
/// return any other 3xx as it is). A [`ServiceClient`](crate::client::ServiceClient) puts
/// its base on every request; the extension travels with each attempt and background
/// refresh.
///
/// ```
/// use tether_core::uri::{RedirectScope, ServiceBase};
///
/// let scope = RedirectScope::new(ServiceBase::parse("https://api.test/v1").unwrap());
/// assert!(scope.allows(&"https://api.test/v1/next".parse().unwrap()));
/// assert!(!scope.allows(&"https://login.test/v1/next".parse().unwrap()));
/// ```
#[derive(Clone, Debug)]
pub struct RedirectScope(std::sync::Arc<ServiceBase>);

impl RedirectScope {
    /// The scope of `base`.
    pub fn new(base: ServiceBase) -> Self {
        RedirectScope(std::sync::Arc::new(base))
    }

    /// The base URL.
    pub fn base(&self) -> &ServiceBase {
        &self.0
    }

    /// Whether a redirect to `uri` may be followed ([`ServiceBase::contains`]).
    pub fn allows(&self, uri: &Uri) -> bool {
        self.0.contains(uri)
    }
}

/// An endpoint as it may be shown in errors and logs: no fragment, no authority smuggled in
/// with `//`, secret query values redacted.
///
/// ```
/// use tether_core::uri::shown_endpoint;
///
/// assert_eq!(shown_endpoint("/cb#access_token=SECRET"), "/cb");
/// assert_eq!(shown_endpoint("//user:pw@evil/x"), "//[REDACTED]/x");
/// ```
pub fn shown_endpoint(endpoint: &str) -> String {
    match endpoint.strip_prefix("//") {
        Some(rest) => {
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            crate::redact::redact_url(&format!("//{}{path}", crate::redact::REDACTED))
        }
        None => crate::redact::redact_url(endpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &[(&str, &str)] = &[];

    fn reason(r: Result<impl std::fmt::Debug, RequestError>) -> &'static str {
        match r {
            Err(RequestError::InvalidUrl { reason }) => reason,
            other => panic!("expected an invalid URL, got {other:?}"),
        }
    }

    #[test]
    fn check_accepts_absolute_http_uris_and_returns_the_authority() {
        for (uri, authority) in [
            ("http://h/", "h"),
            ("https://API.Example.com/x", "API.Example.com"),
            ("http://h:8080/", "h:8080"),
            ("http://[::1]:8080/", "[::1]:8080"),
            ("HTTP://h/", "h"),
        ] {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(check(&uri).unwrap(), authority);
        }
    }

    #[test]
    fn check_refuses_credentials_other_schemes_and_relative_uris() {
        for (bad, why) in [
            ("http://u:p@h/", "credentials"),
            ("http://u@h:81/", "credentials"),
            ("ftp://h/", "scheme"),
            ("/relative", "absolute"),
        ] {
            let uri: Uri = bad.parse().unwrap();
            assert!(reason(check(&uri)).contains(why), "{bad}");
        }
    }

    #[test]
    fn parse_appends_the_query_and_drops_the_fragment() {
        let uri = parse(
            "http://127.0.0.1:8080/anything/x?fixed=1#frag",
            &[("q", "a b&c=d/é"), ("empty", "")],
        )
        .unwrap();
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:8080/anything/x?fixed=1&q=a+b%26c%3Dd%2F%C3%A9&empty="
        );
        // WHATWG normalisation: IDNA hosts, dot segments, lower-case scheme and host.
        let uri = parse("HTTP://Bücher.example/a/./b/../c", NONE).unwrap();
        assert_eq!(uri.to_string(), "http://xn--bcher-kva.example/a/c");
    }

    #[test]
    fn parse_refuses_what_check_refuses_and_what_does_not_parse() {
        for (bad, why) in [
            ("not a url", "absolute"),
            ("/relative", "absolute"),
            ("ftp://h/x", "scheme"),
            ("mailto:someone@example.com", "scheme"),
            ("http://user:SECRET@h/", "credentials"),
            ("http://:SECRET@h/", "credentials"),
            ("http://", "host"),
            ("http://h:99999/", "port"),
        ] {
            assert!(reason(parse(bad, NONE)).contains(why), "{bad}");
        }
    }

    fn join(base: &str, endpoint: &str) -> Result<String, EndpointRefused> {
        ServiceBase::parse(base).unwrap().join(endpoint)
    }

    #[test]
    fn endpoints_under_the_base_are_joined() {
        let b = "http://127.0.0.1:8080/api/";
        assert_eq!(
            join(b, "/users/42?x=1&y=@z").unwrap(),
            "http://127.0.0.1:8080/api/users/42?x=1&y=@z"
        );
        assert!(join(b, "/").is_ok());
        assert!(join(b, "/a@b/c").is_ok(), "@ inside the path is harmless");
        assert!(join(b, "/a/..b/c").is_ok(), "..b is a name, not a parent");
        assert!(join("http://svc", "/x").is_ok());
    }

    #[test]
    fn endpoints_that_leave_the_base_are_refused() {
        let b = "http://127.0.0.1:8080/api";
        for endpoint in [
            "@evil.example/x",
            "@evil.example",
            ":pw@evil.example/x",
            "//evil.example/x",
            "///evil.example/x",
            "http://evil.example/x",
            "https://127.0.0.1:8080/api/x",
            "evil.example/x",
            ".evil.example/x",
            ":9999/x",
            "",
            "?x=1",
            "/../admin",
            "/a/../../admin",
            "/%2e%2e/admin",
            "/%2E./admin",
            "/./x",
            "/a%2f..%2fadmin",
            "/\\evil.example/x",
            "/x\r\nHost: evil.example",
            "/x y",
            "/x\t",
            "/x#frag",
            "/x\u{0}",
            "/..;/admin",
            "/%2e%2e;/admin",
            "/%2E%2E%3B/admin",
            "/a/..;x/..;y/admin",
            "/%252e%252e/admin",
        ] {
            assert!(join(b, endpoint).is_err(), "{endpoint:?} was accepted");
        }
    }

    #[test]
    fn a_base_is_a_plain_http_url() {
        for bad in [
            "ftp://x",
            "http://u:p@x",
            "http://x/?q=1",
            "http://x/#f",
            "not a url",
        ] {
            assert!(ServiceBase::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ServiceBase::parse("https://x/api//").unwrap().as_str(),
            "https://x/api"
        );
    }

    #[test]
    fn shown_endpoints_carry_no_secrets() {
        assert_eq!(shown_endpoint("/cb#access_token=SECRET"), "/cb");
        assert_eq!(shown_endpoint("//user:pw@evil/x"), "//[REDACTED]/x");
        assert_eq!(
            shown_endpoint("@user:pa#SECRET@evil/x"),
            "[REDACTED]@evil/x"
        );
        assert_eq!(shown_endpoint("@evil.example/x"), "@evil.example/x");
        assert_eq!(
            shown_endpoint("/x?api_key=SECRET&a=1"),
            "/x?api_key=[REDACTED]&a=1"
        );
    }
}
