//! Which request headers may identify the caller, and so partition the cache.
//!
//! The rule fails closed: every request header partitions unless it is known not to identify
//! the caller. Known are the built-in [`NON_IDENTIFYING_HEADERS`] (content negotiation,
//! client software, the request's own cache directives and preconditions, trace and
//! correlation ids, hop-by-hop fields) plus whatever the configuration adds; `Host` is known
//! only while it names the URL's own authority. The configured credential headers partition
//! even when listed as known. An unfamiliar header such as `X-Tenant-Secret` therefore keeps
//! two callers apart without anyone having to name it.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Uri};

use crate::RequestError;

/// Defines the built-in list once: the public constant (documentation and introspection) and
/// the exact names and prefixes each cache's [`Partition`] is built from.
macro_rules! non_identifying {
    (exact: [$($exact:literal),* $(,)?], prefix: [$($prefix:literal),* $(,)?]) => {
        /// Request headers known not to identify the caller: they never partition the cache.
        /// An entry ending in `*` is a prefix. Every other request header partitions (see
        /// [`CacheConfig::non_identifying_headers`](super::CacheConfig) to add names).
        ///
        /// Deliberately absent, because they can carry who is calling: `Authorization`,
        /// `Cookie`, every `*-Key` / `*-Token` field, `Forwarded` / `X-Forwarded-*` (the end
        /// user's address), `Origin` and `Referer` (the calling site; a referring URL may hold
        /// a token), `Baggage` (free-form key/value context that often names the user),
        /// `X-Datadog-Tags` (free-form propagated tags) and `Idempotency-Key`.
        pub const NON_IDENTIFYING_HEADERS: &[&str] = &[$($exact,)* $(concat!($prefix, "*"),)*];

        /// The exact names of the built-in list.
        const BUILTIN_EXACT: &[&str] = &[$($exact),*];
        /// The prefixes of the built-in list.
        const BUILTIN_PREFIXES: &[&str] = &[$($prefix),*];
    };
}

non_identifying! {
    exact: [
        // Content negotiation and the client's software (the common `accept-*` names are
        // listed as well as matched by prefix: a listed name is found without comparing
        // strings).
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "user-agent",
        // The request body's description (the body itself is part of the key).
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        // The request's own cache directives, preconditions and range (requests carrying
        // preconditions or a range bypass the cache anyway).
        "cache-control",
        "pragma",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
        // Trace and correlation ids: unique per request, never who is calling.
        "traceparent",
        "tracestate",
        "b3",
        "x-request-id",
        "x-correlation-id",
        "request-id",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "sentry-trace",
        "uber-trace-id",
        "x-datadog-trace-id",
        "x-datadog-parent-id",
        "x-datadog-sampling-priority",
        "x-datadog-origin",
        // Hop-by-hop and transfer fields.
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "expect",
        // Scheduling and browser hints that say nothing about the user.
        "priority",
        "date",
        "dnt",
        "sec-gpc",
        "upgrade-insecure-requests",
    ],
    prefix: ["accept-", "x-b3-", "sec-fetch-", "sec-ch-"]
}

/// What the partition rule says about a header name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// May identify the caller: partitions.
    Identifies,
    /// The configured credential header with this index: partitions, whatever the lists say.
    Credential(usize),
    /// Known not to identify the caller.
    Known,
    /// `Host`: known only while it names the URL's authority.
    Host,
}

/// [`Partition::code`] of a name known not to identify the caller.
pub(crate) const KNOWN: usize = usize::MAX;
/// [`Partition::code`] of `Host`.
pub(crate) const HOST_CODE: usize = usize::MAX - 1;
/// [`Partition::code`] of a name that may identify the caller (and is no credential header).
pub(crate) const IDENTIFIES: usize = usize::MAX - 2;

/// The compiled partition rule of one cache: every listed name with its verdict in a map
/// keyed by `HeaderName` (a standard name hashes as a small number, no string compare), and
/// the prefixes, tried only for names not in the map.
#[derive(Debug)]
pub(crate) struct Partition {
    /// Each listed name's [`code`](Self::code).
    names: HashMap<HeaderName, usize, FixedState>,
    /// Built-in and configured prefixes of non-identifying names.
    prefixes: Vec<Box<[u8]>>,
}

impl Default for Partition {
    /// The built-in list only.
    fn default() -> Self {
        Partition::new(&[], &[])
    }
}

impl Partition {
    /// `forced` partition whatever the lists say; `known` (names, or prefixes ending in `*`)
    /// extend the built-in list. Invalid entries are skipped ([`super::CacheConfig::validate`]
    /// refuses them).
    pub(crate) fn new(forced: &[String], known: &[String]) -> Self {
        let mut p = Partition {
            names: HashMap::with_hasher(FixedState::default()),
            prefixes: BUILTIN_PREFIXES
                .iter()
                .map(|x| x.as_bytes().into())
                .collect(),
        };
        let parse = |s: &str| HeaderName::from_bytes(s.as_bytes()).ok();
        for name in BUILTIN_EXACT.iter().filter_map(|s| parse(s)) {
            p.names.insert(name, KNOWN);
        }
        for k in known {
            if let Some(prefix) = k.strip_suffix('*') {
                p.prefixes
                    .push(prefix.to_ascii_lowercase().into_bytes().into());
            } else if let Some(name) = parse(k) {
                p.names.insert(name, KNOWN);
            }
        }
        p.names.insert(HOST, HOST_CODE);
        let mut index = 0;
        for name in forced.iter().filter_map(|s| parse(s)) {
            if p.names.get(&name).is_none_or(|&code| code >= IDENTIFIES) {
                p.names.insert(name, index);
                index += 1;
            }
        }
        p
    }

    /// The verdict on a header name, as one number: a credential header's index, or one of
    /// [`KNOWN`], [`HOST_CODE`], [`IDENTIFIES`] (all above every index). A number rather than
    /// [`Verdict`] lets the hot loop test it with two compares; a `match` on an enum becomes a
    /// jump table whose target changes from one header to the next, mispredicted almost every
    /// time.
    #[inline]
    pub(crate) fn code(&self, name: &HeaderName) -> usize {
        if let Some(&code) = self.names.get(name) {
            return code;
        }
        let s = name.as_str().as_bytes();
        if self.prefixes.iter().any(|p| s.starts_with(p)) {
            KNOWN
        } else {
            IDENTIFIES
        }
    }

    /// The verdict on a header name.
    pub(crate) fn classify(&self, name: &HeaderName) -> Verdict {
        match self.code(name) {
            KNOWN => Verdict::Known,
            HOST_CODE => Verdict::Host,
            IDENTIFIES => Verdict::Identifies,
            i => Verdict::Credential(i),
        }
    }

    /// Whether the header `name: value` of a request for `uri` may identify the caller.
    pub(crate) fn identifies(&self, name: &HeaderName, value: &HeaderValue, uri: &Uri) -> bool {
        match self.classify(name) {
            Verdict::Identifies | Verdict::Credential(_) => true,
            Verdict::Known => false,
            Verdict::Host => !host_matches(value, uri),
        }
    }
}

/// Whether a configured entry of `non_identifying_headers` is valid: a header name, or a
/// non-empty header-name prefix followed by `*`.
pub(crate) fn valid_pattern(entry: &str) -> bool {
    let name = entry.strip_suffix('*').unwrap_or(entry);
    !name.is_empty() && HeaderName::from_bytes(name.as_bytes()).is_ok()
}

/// Whether a `Host` value names the authority of `uri`: the same host (case-insensitive) and
/// the same port, a missing port meaning the scheme's default. Userinfo, an empty or invalid
/// port, or anything unparsable never matches. The engine refuses a request whose `Host` does
/// not match ([`RequestError::HostMismatch`]); a frontend that writes `Host` itself uses the
/// same rule.
pub fn host_matches(value: &HeaderValue, uri: &Uri) -> bool {
    let Some(authority) = uri.authority() else {
        return false;
    };
    let (v, a) = (value.as_bytes(), authority.as_str());
    if v.eq_ignore_ascii_case(a.as_bytes()) {
        return !a.contains('@');
    }
    let default = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => 443,
        _ => 80,
    };
    let given = std::str::from_utf8(v)
        .ok()
        .and_then(|v| host_port(v.trim()));
    match (given, host_port(a)) {
        (Some((gh, gp)), Some((oh, op))) => {
            gh.eq_ignore_ascii_case(oh) && gp.unwrap_or(default) == op.unwrap_or(default)
        }
        _ => false,
    }
}

/// `host[:port]` (an IPv6 literal in brackets) split into host and port; `None` for userinfo,
/// an empty host, or a port that is empty or not a number below 65 536.
fn host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.contains('@') {
        return None;
    }
    let split = if s.starts_with('[') {
        s.find(']').map_or(s.len(), |i| i + 1)
    } else {
        s.find(':').unwrap_or(s.len())
    };
    let (host, rest) = s.split_at(split);
    if host.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some((host, None));
    }
    let port = rest.strip_prefix(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, Some(port.parse().ok()?)))
}

/// Refuses a request whose `Host` header names another authority than its URL (or that has
/// more than one `Host`): the request would go to one origin while the cache keyed it under
/// another, so the next plain request for the URL could be answered with the other origin's
/// response.
pub(crate) fn check_host(headers: &HeaderMap, uri: &Uri) -> Result<(), RequestError> {
    // Usually there is no `Host`: a walk over the few names is cheaper than a lookup.
    if !headers.keys().any(|name| name == HOST) {
        return Ok(());
    }
    let mut values = headers.get_all(HOST).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(()),
        (Some(v), None) if host_matches(v, uri) => Ok(()),
        _ => Err(RequestError::HostMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn host_matching() {
        let u = uri("http://a.example/p");
        for (v, want) in [
            ("a.example", true),
            ("A.EXAMPLE", true),
            ("a.example:80", true),
            (" a.example ", true),
            ("a.example:443", false),
            ("a.example:", false),
            ("a.example:x", false),
            ("b.example", false),
            ("u@a.example", false),
            ("", false),
        ] {
            let value = HeaderValue::from_str(v).unwrap();
            assert_eq!(host_matches(&value, &u), want, "{v:?}");
        }
        let u = uri("https://[::1]:8443/");
        for (v, want) in [
            ("[::1]:8443", true),
            ("[::1]", false),
            ("[::2]:8443", false),
        ] {
            assert_eq!(host_matches(&HeaderValue::from_static(v), &u), want, "{v}");
        }
        let u = uri("https://[::1]/");
        assert!(host_matches(&HeaderValue::from_static("[::1]"), &u));
        assert!(host_matches(&HeaderValue::from_static("[::1]:443"), &u));
        let two = {
            let mut h = HeaderMap::new();
            h.append(HOST, HeaderValue::from_static("a.example"));
            h.append(HOST, HeaderValue::from_static("a.example"));
            h
        };
        assert!(check_host(&two, &uri("http://a.example/")).is_err());
        assert!(check_host(&HeaderMap::new(), &uri("http://a.example/")).is_ok());
    }

    #[test]
    fn the_builtin_list_and_its_matcher_agree() {
        let p = Partition::default();
        let builtin = |name: &str| {
            p.classify(&HeaderName::from_bytes(name.as_bytes()).unwrap()) == Verdict::Known
        };
        assert_eq!(
            NON_IDENTIFYING_HEADERS.len(),
            BUILTIN_EXACT.len() + BUILTIN_PREFIXES.len()
        );
        for entry in NON_IDENTIFYING_HEADERS {
            let name = entry
                .strip_suffix('*')
                .map_or((*entry).to_owned(), |p| format!("{p}x"));
            assert!(builtin(&name), "{entry}");
            assert!(valid_pattern(entry), "{entry}");
        }
        for name in [
            "authorization",
            "cookie",
            "x-api-key",
            "api-key",
            "x-auth-token",
            "x-tenant-secret",
            "forwarded",
            "x-forwarded-for",
            "origin",
            "referer",
            "baggage",
            "idempotency-key",
            "host",
            "x-datadog-tags",
            "acceptx",
            "a-very-long-header-name-beyond-the-length-buckets",
        ] {
            assert!(!builtin(name), "{name}");
        }
    }

    #[test]
    fn forced_names_win_and_additions_extend() {
        let p = Partition::new(
            &["user-agent".into(), "x-api-key".into()],
            &["x-client-version".into(), "x-feature-*".into()],
        );
        let u = uri("http://h/");
        let v = HeaderValue::from_static("v");
        let id = |n: &'static str| p.identifies(&HeaderName::from_static(n), &v, &u);
        assert_eq!(
            p.classify(&HeaderName::from_static("x-api-key")),
            Verdict::Credential(1)
        );
        assert!(id("user-agent"), "forced beats the built-in list");
        assert!(id("x-api-key"));
        assert!(!id("x-client-version"));
        assert!(!id("x-feature-flags"));
        assert!(!id("traceparent"));
        assert!(id("x-tenant"));
        assert!(!valid_pattern("*"));
        assert!(!valid_pattern("bad name"));
        assert!(valid_pattern("x-feature-*"));
    }
}
