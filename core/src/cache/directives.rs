//! Parsers for the header fields the cache reads: `Cache-Control`, `Vary`, HTTP-dates and
//! delta-seconds (`Age`).
//!
//! Every parser is total: any byte string yields a value, garbage is ignored, nothing panics
//! and nothing allocates except [`parse_vary`]'s list of names. They are public so fuzz targets
//! can reach them directly.

use std::time::Duration;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, PRAGMA, VARY};
use serde::Serialize;

use crate::WallClock;

/// The largest delta-seconds value we represent: RFC 9111 §1.2.2 says a cache that receives a
/// larger (or overflowing) value must use 2^31 seconds.
pub const DELTA_SECONDS_CAP: u64 = 1 << 31;

/// The directives of one or more `Cache-Control` field lines (RFC 9111 §5.2), request or
/// response.
///
/// Parsing rules (see [`parse_cache_control`]): names are case-insensitive; values may be
/// tokens or quoted strings; for a directive that appears twice the **first** occurrence wins
/// (RFC 9111 §4.2.1); unknown directives are ignored. The qualified forms `no-cache="f"` and
/// `private="f"` are treated as their unqualified forms (which RFC 9111 §5.2.2.4/§5.2.2.7
/// allows and which is the conservative choice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheControl {
    /// `max-age=N`. An invalid or missing argument is recorded as `0` (treated as stale, per
    /// RFC 9111 §4.2.1's advice for invalid freshness information).
    pub max_age: Option<Duration>,
    /// `s-maxage=N` (parsed; a private cache ignores it). Invalid arguments record `0`.
    pub s_maxage: Option<Duration>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (qualified or not).
    pub no_cache: bool,
    /// `private` (qualified or not). Allowed for us: we are a private cache.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate` (parsed; applies only to shared caches).
    pub proxy_revalidate: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `immutable` (RFC 8246): exempt from the configured `max_ttl` cap.
    pub immutable: bool,
    /// `stale-while-revalidate=N` (RFC 5861). Invalid arguments are ignored.
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error=N` (RFC 5861). Invalid arguments are ignored.
    pub stale_if_error: Option<Duration>,
    /// Request `max-stale[=N]`; a bare `max-stale` is `Duration::MAX` (any staleness).
    /// Invalid arguments are ignored.
    pub max_stale: Option<Duration>,
    /// Request `min-fresh=N`. Invalid arguments are ignored.
    pub min_fresh: Option<Duration>,
    /// Request `only-if-cached`.
    pub only_if_cached: bool,
    /// `must-understand` (parsed; we understand every status we store).
    pub must_understand: bool,
}

impl CacheControl {
    /// The combined directives of every `Cache-Control` line in `headers`. Lines that are not
    /// valid UTF-8 are still scanned byte-wise.
    pub fn from_headers(headers: &HeaderMap) -> CacheControl {
        let mut cc = CacheControl::default();
        for v in headers.get_all(CACHE_CONTROL) {
            cc.merge_bytes(v.as_bytes());
        }
        cc
    }

    /// Request directives, with HTTP/1.0 `Pragma: no-cache` honoured when no `Cache-Control`
    /// line is present (RFC 9111 §5.4).
    pub fn from_request_headers(headers: &HeaderMap) -> CacheControl {
        if crate::message::has_header(headers, &CACHE_CONTROL) {
            return CacheControl::from_headers(headers);
        }
        if !crate::message::has_header(headers, &PRAGMA) {
            return CacheControl::default();
        }
        let mut cc = CacheControl::default();
        for v in headers.get_all(PRAGMA) {
            if list_contains_token(v.as_bytes(), b"no-cache") {
                cc.no_cache = true;
            }
        }
        cc
    }

    /// Merges the directives of one field line into `self` (first occurrence wins).
    pub(crate) fn merge_bytes(&mut self, b: &[u8]) {
        let mut i = 0;
        let n = b.len();
        while i < n {
            // Skip separators and whitespace between directives.
            while i < n && matches!(b[i], b',' | b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            if i >= n {
                break;
            }
            let name_start = i;
            while i < n && !matches!(b[i], b',' | b'=' | b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            let name = &b[name_start..i];
            while i < n && matches!(b[i], b' ' | b'\t') {
                i += 1;
            }
            let mut value: Option<&[u8]> = None;
            if i < n && b[i] == b'=' {
                i += 1;
                while i < n && matches!(b[i], b' ' | b'\t') {
                    i += 1;
                }
                if i < n && b[i] == b'"' {
                    i += 1;
                    let start = i;
                    while i < n && b[i] != b'"' {
                        if b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    let end = i.min(n);
                    value = Some(&b[start..end]);
                    i = (i + 1).min(n);
                } else {
                    let start = i;
                    while i < n && !matches!(b[i], b',' | b' ' | b'\t') {
                        i += 1;
                    }
                    value = Some(&b[start..i]);
                }
            }
            // Anything up to the next comma is garbage and ignored.
            while i < n && b[i] != b',' {
                i += 1;
            }
            self.apply(name, value);
        }
    }

    fn apply(&mut self, name: &[u8], value: Option<&[u8]>) {
        let delta = value.and_then(parse_delta_bytes);
        let is = |lit: &[u8]| name.eq_ignore_ascii_case(lit);
        if is(b"max-age") {
            self.max_age.get_or_insert(delta.unwrap_or(Duration::ZERO));
        } else if is(b"s-maxage") {
            self.s_maxage.get_or_insert(delta.unwrap_or(Duration::ZERO));
        } else if is(b"no-store") {
            self.no_store = true;
        } else if is(b"no-cache") {
            self.no_cache = true;
        } else if is(b"private") {
            self.private = true;
        } else if is(b"public") {
            self.public = true;
        } else if is(b"must-revalidate") {
            self.must_revalidate = true;
        } else if is(b"proxy-revalidate") {
            self.proxy_revalidate = true;
        } else if is(b"no-transform") {
            self.no_transform = true;
        } else if is(b"immutable") {
            self.immutable = true;
        } else if is(b"only-if-cached") {
            self.only_if_cached = true;
        } else if is(b"must-understand") {
            self.must_understand = true;
        } else if is(b"stale-while-revalidate") {
            if self.stale_while_revalidate.is_none() {
                self.stale_while_revalidate = delta;
            }
        } else if is(b"stale-if-error") {
            if self.stale_if_error.is_none() {
                self.stale_if_error = delta;
            }
        } else if is(b"min-fresh") {
            if self.min_fresh.is_none() {
                self.min_fresh = delta;
            }
        } else if is(b"max-stale") && self.max_stale.is_none() {
            self.max_stale = match value {
                None => Some(Duration::MAX),
                Some(_) => delta,
            };
        }
    }
}

/// Parses one `Cache-Control` field value. Never panics; garbage is ignored.
///
/// ```
/// use tether_core::internals::parse_cache_control;
/// let cc = parse_cache_control(r#"Max-Age="60", no-cache="set-cookie, x", junk=,, public"#);
/// assert_eq!(cc.max_age, Some(std::time::Duration::from_secs(60)));
/// assert!(cc.no_cache && cc.public);
/// ```
pub fn parse_cache_control(s: &str) -> CacheControl {
    let mut cc = CacheControl::default();
    cc.merge_bytes(s.as_bytes());
    cc
}

/// Parses delta-seconds (`1*DIGIT`), saturating at [`DELTA_SECONDS_CAP`]. Surrounding
/// whitespace is allowed; anything else (sign, fraction, empty) is `None`.
pub fn parse_delta_seconds(s: &str) -> Option<Duration> {
    parse_delta_bytes(s.trim_matches([' ', '\t']).as_bytes())
}

pub(crate) fn parse_delta_bytes(b: &[u8]) -> Option<Duration> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in b {
        v = v.saturating_mul(10).saturating_add(u64::from(d - b'0'));
        if v >= DELTA_SECONDS_CAP {
            return Some(Duration::from_secs(DELTA_SECONDS_CAP));
        }
    }
    Some(Duration::from_secs(v))
}

/// The first value of a header parsed as delta-seconds (for `Age`); `None` when absent or
/// invalid (an invalid `Age` is ignored).
pub(crate) fn header_delta(
    headers: &HeaderMap,
    name: http::header::HeaderName,
) -> Option<Duration> {
    let v = headers.get(name)?;
    let s = std::str::from_utf8(v.as_bytes()).ok()?;
    parse_delta_seconds(s)
}

/// The set of request header names a response varies on (RFC 9110 §12.5.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Vary {
    /// `Vary: *`: the response can never be reused for another request.
    Any,
    /// The listed field names, lower-cased and de-duplicated, in first-seen order. Empty when
    /// the response does not vary.
    Fields(Vec<String>),
}

impl Vary {
    /// The combined `Vary` of every field line in `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Vary {
        let mut out = Vary::Fields(Vec::new());
        for v in headers.get_all(VARY) {
            if let Ok(s) = std::str::from_utf8(v.as_bytes()) {
                out.merge(s);
            }
        }
        out
    }

    fn merge(&mut self, s: &str) {
        for part in s.split(',') {
            let name = part.trim_matches([' ', '\t']);
            if name == "*" {
                *self = Vary::Any;
                return;
            }
            if name.is_empty() || !name.bytes().all(is_tchar) {
                continue;
            }
            if let Vary::Fields(list) = self
                && !list.iter().any(|n| n.eq_ignore_ascii_case(name))
            {
                list.push(name.to_ascii_lowercase());
            }
        }
    }

    /// Whether the response varies on nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Vary::Fields(v) if v.is_empty())
    }
}

/// Parses one `Vary` field value: a list of lower-cased field names, or [`Vary::Any`] if any
/// member is `*`. Invalid members are ignored.
pub fn parse_vary(s: &str) -> Vary {
    let mut v = Vary::Fields(Vec::new());
    v.merge(s);
    v
}

/// Parses an HTTP-date (IMF-fixdate, obsolete RFC 850 and asctime forms) to a [`WallClock`].
/// Dates before the Unix epoch clamp to it; anything unparsable is `None`.
pub fn parse_http_date(s: &str) -> Option<WallClock> {
    httpdate::parse_http_date(s.trim_matches([' ', '\t']))
        .ok()
        .map(WallClock::from_system_time)
}

/// A date-valued header field, which may be absent, invalid or valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateField {
    Absent,
    Invalid,
    Valid(WallClock),
}

/// The first value of a date-valued header.
pub(crate) fn header_date(headers: &HeaderMap, name: http::header::HeaderName) -> DateField {
    match headers.get(name) {
        None => DateField::Absent,
        Some(v) => std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(parse_http_date)
            .map_or(DateField::Invalid, DateField::Valid),
    }
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether a comma-separated list contains `token` (case-insensitive, ignoring `=value`).
fn list_contains_token(b: &[u8], token: &[u8]) -> bool {
    b.split(|&c| c == b',').any(|part| {
        let part = part.split(|&c| c == b'=').next().unwrap_or(part);
        part.trim_ascii().eq_ignore_ascii_case(token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn cache_control_basic_and_case() {
        let cc = parse_cache_control("MAX-AGE=60, No-Store, PRIVATE, Must-Revalidate");
        assert_eq!(cc.max_age, Some(S(60)));
        assert!(cc.no_store && cc.private && cc.must_revalidate);
        assert!(!cc.no_cache && !cc.public);
    }

    #[test]
    fn cache_control_quoted_values() {
        let cc = parse_cache_control(
            r#"no-cache="Set-Cookie, X-Foo", max-age="120", private="a,b", stale-if-error="30""#,
        );
        assert!(cc.no_cache && cc.private);
        assert_eq!(cc.max_age, Some(S(120)));
        assert_eq!(cc.stale_if_error, Some(S(30)));
        // The comma inside the quoted string did not create directives.
        assert!(!cc.public);
        // Escaped quotes inside a quoted string do not end it.
        let cc = parse_cache_control(r#"ext="a\"b, max-age=5", max-age=7"#);
        assert_eq!(cc.max_age, Some(S(7)));
    }

    #[test]
    fn cache_control_duplicates_first_wins() {
        let cc = parse_cache_control(
            "max-age=10, max-age=20, stale-while-revalidate=5, stale-while-revalidate=9",
        );
        assert_eq!(cc.max_age, Some(S(10)));
        assert_eq!(cc.stale_while_revalidate, Some(S(5)));
        let mut h = HeaderMap::new();
        h.append(CACHE_CONTROL, "max-age=3".parse().unwrap());
        h.append(CACHE_CONTROL, "max-age=4, immutable".parse().unwrap());
        let cc = CacheControl::from_headers(&h);
        assert_eq!(cc.max_age, Some(S(3)));
        assert!(cc.immutable);
    }

    #[test]
    fn cache_control_garbage() {
        for s in [
            "",
            ",,,",
            "=",
            "==,=",
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=1.5",
            "\"",
            "max-age=\"",
            "\u{0}\u{ff}",
            "max-age = 12 garbage",
            "=60",
            "a=\"\\",
        ] {
            let _ = parse_cache_control(s);
        }
        // Invalid max-age counts as stale (0).
        assert_eq!(parse_cache_control("max-age=abc").max_age, Some(S(0)));
        assert_eq!(parse_cache_control("max-age=-1").max_age, Some(S(0)));
        assert_eq!(parse_cache_control("max-age").max_age, Some(S(0)));
        // Whitespace around '=' is tolerated, trailing junk ignored.
        assert_eq!(
            parse_cache_control("max-age = 12 garbage").max_age,
            Some(S(12))
        );
        // Invalid SWR ignored.
        assert_eq!(
            parse_cache_control("stale-while-revalidate=x").stale_while_revalidate,
            None
        );
        // Unknown directives ignored.
        assert_eq!(parse_cache_control("foo, bar=baz"), CacheControl::default());
        // Overflow saturates to 2^31 s.
        assert_eq!(
            parse_cache_control("max-age=99999999999999999999999999").max_age,
            Some(S(DELTA_SECONDS_CAP))
        );
    }

    #[test]
    fn request_directives() {
        let cc = parse_cache_control("max-stale, min-fresh=5, only-if-cached");
        assert_eq!(cc.max_stale, Some(Duration::MAX));
        assert_eq!(cc.min_fresh, Some(S(5)));
        assert!(cc.only_if_cached);
        assert_eq!(parse_cache_control("max-stale=30").max_stale, Some(S(30)));
        let mut h = HeaderMap::new();
        h.insert(PRAGMA, "no-cache".parse().unwrap());
        assert!(CacheControl::from_request_headers(&h).no_cache);
        h.insert(CACHE_CONTROL, "max-age=5".parse().unwrap());
        let cc = CacheControl::from_request_headers(&h);
        assert!(!cc.no_cache, "Cache-Control takes precedence over Pragma");
        assert_eq!(cc.max_age, Some(S(5)));
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_delta_seconds(" 42 "), Some(S(42)));
        assert_eq!(parse_delta_seconds("+42"), None);
        assert_eq!(parse_delta_seconds(""), None);
        assert_eq!(parse_delta_seconds("4 2"), None);
        assert_eq!(
            parse_delta_seconds("18446744073709551616"),
            Some(S(DELTA_SECONDS_CAP))
        );
    }

    #[test]
    fn vary_parsing() {
        assert_eq!(
            parse_vary("Accept-Encoding, ACCEPT ,, accept-encoding, bad name, x(y)"),
            Vary::Fields(vec!["accept-encoding".into(), "accept".into()])
        );
        assert_eq!(parse_vary("accept, *"), Vary::Any);
        assert!(parse_vary("").is_empty());
        assert!(parse_vary(" , ").is_empty());
        let mut h = HeaderMap::new();
        h.append(VARY, "Accept".parse().unwrap());
        h.append(VARY, "Origin".parse().unwrap());
        assert_eq!(
            Vary::from_headers(&h),
            Vary::Fields(vec!["accept".into(), "origin".into()])
        );
    }

    #[test]
    fn http_dates() {
        let w = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(w.as_unix_secs(), 784_111_777);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(w));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(w));
        assert_eq!(parse_http_date(" Sun, 06 Nov 1994 08:49:37 GMT "), Some(w));
        for bad in [
            "0",
            "-1",
            "",
            "yesterday",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "\u{1F600}",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_are_total(s in ".{0,80}", b in prop::collection::vec(any::<u8>(), 0..80)) {
            let cc = parse_cache_control(&s);
            let mut merged = cc;
            merged.merge_bytes(&b);
            // First occurrence wins: merging more input never changes a set max-age.
            if cc.max_age.is_some() {
                prop_assert_eq!(merged.max_age, cc.max_age);
            }
            if let Vary::Fields(names) = parse_vary(&s) {
                for n in names {
                    prop_assert!(!n.is_empty() && n.bytes().all(is_tchar));
                    prop_assert_eq!(n.to_ascii_lowercase(), n);
                }
            }
            let _ = parse_http_date(&s);
            if let Some(d) = parse_delta_seconds(&s) {
                prop_assert!(d.as_secs() <= DELTA_SECONDS_CAP);
            }
        }

        #[test]
        fn max_age_round_trips(n in 0u64..(1 << 31), junk in "[a-z-]{0,10}") {
            let cc = parse_cache_control(&format!("x{junk}, max-age={n}, x{junk}=\"max-age=1\""));
            prop_assert_eq!(cc.max_age, Some(Duration::from_secs(n)));
        }
    }
}
