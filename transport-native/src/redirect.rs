//! Following redirects (off by default: `NativeConfig::max_redirects` is 0), the same way for
//! both transports.
//!
//! - Only 301, 302, 303, 307 and 308 with a `Location` are followed, to `http` or `https`
//!   URLs only (a relative `Location` resolves against the current URL; a fragment and any
//!   userinfo in it are dropped). After `max_redirects` hops the last 3xx is returned as is.
//! - 303 turns any method but `HEAD` into a bodiless `GET`; 301 and 302 turn `POST` into a
//!   bodiless `GET` (what every browser does); 307 and 308 keep the method and the body. A
//!   dropped body takes its `Content-*` headers with it.
//! - When a hop leads to another origin (scheme, host or port), only the headers known not to
//!   identify the caller go with it — the cache's own rule, which fails closed:
//!   `tether_core::NON_IDENTIFYING_HEADERS` (content negotiation, `User-Agent`, trace ids, …)
//!   and `NativeConfig::non_identifying_headers`. Every other header is removed (an unknown
//!   `X-Tenant-Secret` as much as `Authorization`), and so are `Authorization`, `Cookie`,
//!   `Proxy-Authorization`, every header `tether_core::redact` treats as secret and every
//!   header in `NativeConfig::credential_headers`, even when listed as non-identifying. What
//!   was removed stays removed for the rest of the chain, even if it comes back.
//! - A request carrying a [`RedirectScope`] (every request of a `ServiceClient`) follows only
//!   redirects within it; a 3xx pointing elsewhere is returned as it is.
//! - The whole chain shares the attempt's timeout; each hop takes its own per-host slot.

use std::str::FromStr as _;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_LOCATION,
    CONTENT_TYPE, COOKIE, HeaderName, LOCATION, PROXY_AUTHORIZATION,
};
use http::{HeaderMap, Method, StatusCode, Uri};
use tether_core::uri::RedirectScope;
use tether_core::{Request, Response};

use crate::bulkhead::Origin;
use crate::failure::Failure;

/// The redirect policy of a transport.
#[derive(Clone, Debug)]
pub(crate) struct Redirects {
    max: u32,
    /// Removed when a hop changes origin, whatever the lists of known names say.
    credentials: Vec<HeaderName>,
    /// Names known not to identify the caller: carried when a hop changes origin.
    known: Vec<HeaderName>,
    /// Prefixes of names known not to identify the caller (lowercase).
    known_prefixes: Vec<Box<str>>,
}

impl Redirects {
    /// `credential_headers` never cross origins; `non_identifying_headers` (names, or prefixes
    /// ending in `*`) cross them on top of the core's built-in list. Invalid entries are
    /// skipped (`NativeConfig::validate` reports them).
    pub(crate) fn new(
        max: u32,
        credential_headers: &[String],
        non_identifying_headers: &[String],
    ) -> Self {
        let mut credentials = vec![AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION];
        let secret = tether_core::SECRET_HEADERS.iter().copied();
        let configured = credential_headers.iter().map(String::as_str);
        for name in secret.chain(configured) {
            if let Ok(name) = HeaderName::from_str(&name.to_ascii_lowercase())
                && !credentials.contains(&name)
            {
                credentials.push(name);
            }
        }
        let mut known = Vec::new();
        let mut known_prefixes = Vec::new();
        let builtin = tether_core::NON_IDENTIFYING_HEADERS.iter().copied();
        for entry in builtin.chain(non_identifying_headers.iter().map(String::as_str)) {
            let entry = entry.to_ascii_lowercase();
            match entry.strip_suffix('*') {
                Some(prefix) if !prefix.is_empty() => known_prefixes.push(prefix.into()),
                Some(_) => {}
                None => {
                    if let Ok(name) = HeaderName::from_str(&entry) {
                        known.push(name);
                    }
                }
            }
        }
        Redirects {
            max,
            credentials,
            known,
            known_prefixes,
        }
    }

    /// Whether a header named `name` may go to another origin.
    fn crosses_origins(&self, name: &HeaderName) -> bool {
        !self.credentials.contains(name)
            && (self.known.contains(name)
                || self
                    .known_prefixes
                    .iter()
                    .any(|prefix| name.as_str().starts_with(&**prefix)))
    }

    /// The request that follows `response_status`/`response_headers` received for `current`,
    /// or `None` when there is nothing to follow.
    pub(crate) fn next(
        &self,
        current: &Request,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Option<Request> {
        let code = status.as_u16();
        if !matches!(code, 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        let location = headers.get(LOCATION)?.to_str().ok()?.trim();
        let base = url::Url::parse(&current.uri().to_string()).ok()?;
        let mut target = base.join(location).ok()?;
        if !matches!(target.scheme(), "http" | "https") || !target.has_host() {
            return None;
        }
        target.set_fragment(None);
        // Credentials handed out in a `Location` are never used.
        let _ = target.set_username("");
        let _ = target.set_password(None);
        let uri = Uri::try_from(target.as_str()).ok()?;

        let method = current.method();
        let to_get = (code == 303 && method != Method::HEAD)
            || (matches!(code, 301 | 302) && method == Method::POST);
        let mut next = http::Request::new(if to_get {
            Bytes::new()
        } else {
            current.body().clone()
        });
        *next.method_mut() = if to_get { Method::GET } else { method.clone() };
        *next.version_mut() = current.version();
        let mut carried = current.headers().clone();
        if to_get {
            for name in [
                CONTENT_TYPE,
                CONTENT_LENGTH,
                CONTENT_ENCODING,
                CONTENT_LANGUAGE,
                CONTENT_LOCATION,
            ] {
                carried.remove(name);
            }
        }
        if !Origin::same(current.uri(), &uri) {
            let mut kept = HeaderMap::with_capacity(carried.len());
            let mut last = None;
            for (name, value) in carried {
                // `None`: another value of the previous name.
                if let Some(name) = name {
                    last = self.crosses_origins(&name).then_some(name);
                }
                if let Some(name) = &last {
                    kept.append(name.clone(), value);
                }
            }
            carried = kept;
        }
        *next.headers_mut() = carried;
        *next.uri_mut() = uri;
        Some(next)
    }
}

/// Sends one request (one hop of a redirect chain) and reads its whole response.
pub(crate) trait Hop {
    /// Sends `request`, the `hop`-th of its chain (0 for the caller's own request).
    async fn send(&mut self, request: Request, hop: u32) -> Result<Response, Failure>;
}

/// Sends `request` through `hop`, then follows the redirects the policy allows; the response
/// that ends the chain is returned.
pub(crate) async fn follow(
    redirects: &Redirects,
    mut request: Request,
    hop: &mut impl Hop,
) -> Result<Response, Failure> {
    let scope = if redirects.max > 0 {
        request.extensions_mut().remove::<RedirectScope>()
    } else {
        None
    };
    let mut hops = 0;
    loop {
        let kept = (hops < redirects.max).then(|| copy(&request));
        let response = hop.send(request, hops).await?;
        let next = kept
            .and_then(|current| redirects.next(&current, response.status(), response.headers()))
            .filter(|next| scope.as_ref().is_none_or(|s| s.allows(next.uri())));
        match next {
            Some(next) => {
                hops += 1;
                request = next;
            }
            None => return Ok(response),
        }
    }
}

/// A copy of `request` (its extensions excepted), kept to build the next hop from.
fn copy(request: &Request) -> Request {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirects() -> Redirects {
        Redirects::new(
            5,
            &["x-tenant-token".to_owned()],
            &[
                "x-client-version".to_owned(),
                "X-Feature-*".to_owned(),
                "x-tenant-token".to_owned(),
            ],
        )
    }

    fn request(method: &str, url: &str, body: &'static [u8]) -> Request {
        http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", "Bearer SECRET")
            .header("cookie", "session=SECRET")
            .header("proxy-authorization", "Basic SECRET")
            .header("x-api-key", "SECRET")
            .header("x-tenant-token", "SECRET")
            .header("x-tenant-secret", "SECRET")
            .header("x-auth-token", "SECRET")
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("accept-language", "fr")
            .header("accept-language", "en")
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .header("x-b3-traceid", "0af7651916cd43dd")
            .header("x-client-version", "1.2")
            .header("x-feature-dark", "on")
            .body(Bytes::from_static(body))
            .unwrap()
    }

    fn location(status: u16, to: &str) -> (StatusCode, HeaderMap) {
        let mut h = HeaderMap::new();
        h.insert(LOCATION, to.parse().unwrap());
        (StatusCode::from_u16(status).unwrap(), h)
    }

    fn follow(req: &Request, status: u16, to: &str) -> Option<Request> {
        let (status, headers) = location(status, to);
        redirects().next(req, status, &headers)
    }

    #[test]
    fn same_origin_keeps_credentials_and_resolves_relative_locations() {
        let req = request("GET", "http://api.test:8080/a/b?x=1", b"");
        let next = follow(&req, 302, "../c?y=2#frag").unwrap();
        assert_eq!(next.uri(), "http://api.test:8080/c?y=2");
        assert_eq!(next.headers()["authorization"], "Bearer SECRET");
        assert_eq!(next.headers()["x-api-key"], "SECRET");
        assert_eq!(next.headers()["accept"], "application/json");
    }

    #[test]
    fn another_origin_never_sees_credentials() {
        let req = request("GET", "http://api.test/a", b"");
        for to in [
            "http://evil.test/steal",
            "https://api.test/a",
            "http://api.test:8081/a",
        ] {
            let next = follow(&req, 307, to).unwrap();
            // Credentials (`x-tenant-token` is one even though it is also listed as
            // non-identifying), and every header nobody said is safe.
            for name in [
                "authorization",
                "cookie",
                "proxy-authorization",
                "x-api-key",
                "x-tenant-token",
                "x-tenant-secret",
                "x-auth-token",
            ] {
                assert!(!next.headers().contains_key(name), "{name} to {to}");
            }
            // Known not to identify the caller: built in, exact or by prefix, or configured.
            let h = next.headers();
            assert_eq!(h["accept"], "application/json", "{to}");
            let languages: Vec<_> = h.get_all("accept-language").iter().collect();
            assert_eq!(languages, ["fr", "en"], "{to}");
            assert!(h.contains_key("traceparent"), "{to}");
            assert!(h.contains_key("x-b3-traceid"), "{to}");
            assert_eq!(h["x-client-version"], "1.2", "{to}");
            assert_eq!(h["x-feature-dark"], "on", "{to}");
            assert_eq!(h["content-type"], "application/json", "{to}");
            assert_eq!(h.len(), 8, "{h:?}");
        }
        // Spelling out the default port is still the same origin: everything is kept.
        let next = follow(&req, 307, "http://API.test:80/b").unwrap();
        assert_eq!(next.headers(), req.headers());
    }

    #[test]
    fn what_was_removed_stays_removed_when_the_chain_comes_back() {
        let req = request("GET", "http://api.test/a", b"");
        let away = follow(&req, 302, "http://other.test/b").unwrap();
        let back = follow(&away, 302, "http://api.test/c").unwrap();
        assert_eq!(back.uri(), "http://api.test/c");
        assert!(!back.headers().contains_key("authorization"));
        assert!(!back.headers().contains_key("x-tenant-secret"));
        assert_eq!(back.headers()["accept"], "application/json");
    }

    #[test]
    fn methods_and_bodies_follow_the_status() {
        let post = request("POST", "http://h/form", b"{\"a\":1}");
        for status in [301, 302, 303] {
            let next = follow(&post, status, "/done").unwrap();
            assert_eq!(next.method(), Method::GET, "{status}");
            assert!(next.body().is_empty());
            assert!(!next.headers().contains_key("content-type"));
        }
        for status in [307, 308] {
            let next = follow(&post, status, "/again").unwrap();
            assert_eq!(next.method(), Method::POST, "{status}");
            assert_eq!(next.body().as_ref(), b"{\"a\":1}");
            assert_eq!(next.headers()["content-type"], "application/json");
        }
        let put = request("PUT", "http://h/x", b"data");
        assert_eq!(follow(&put, 302, "/y").unwrap().method(), Method::PUT);
        assert_eq!(follow(&put, 303, "/y").unwrap().method(), Method::GET);
        let head = request("HEAD", "http://h/x", b"");
        assert_eq!(follow(&head, 303, "/y").unwrap().method(), Method::HEAD);
    }

    #[test]
    fn what_is_not_followed() {
        let req = request("GET", "http://h/x", b"");
        assert!(follow(&req, 200, "/y").is_none());
        assert!(follow(&req, 304, "/y").is_none());
        assert!(follow(&req, 300, "/y").is_none());
        assert!(follow(&req, 302, "ftp://h/file").is_none());
        assert!(follow(&req, 302, "javascript:alert(1)").is_none());
        assert!(
            redirects()
                .next(&req, StatusCode::FOUND, &HeaderMap::new())
                .is_none()
        );
    }

    #[test]
    fn userinfo_in_a_location_is_dropped() {
        let req = request("GET", "http://h/x", b"");
        let next = follow(&req, 302, "http://user:pw@other/y").unwrap();
        assert_eq!(next.uri(), "http://other/y");
    }
}
