//! Redaction: the one rule that keeps secrets out of everything meant for humans — logs,
//! hook events, errors, `Debug` output, decision traces and exports.
//!
//! Credentials travel in headers (`Authorization`, `Cookie`, `X-Api-Key`, `X-Amz-Signature`…),
//! in query strings (`?access_token=…`, `?sig=…`), in path parameters (`;jsessionid=…`) and in
//! a URL's userinfo (`https://user:password@host/`). Every frontend and every error formats
//! requests through this module only, so there is one rule, stated here.
//!
//! # The rule
//!
//! A header or parameter **name** is secret when, lower-cased (and percent-decoded, for query
//! and path parameters):
//!
//! 1. it **contains** one of [`SECRET_NAME_PATTERNS`] — `token`, `secret`, `passw`,
//!    `passphrase`, `auth`, `session`, `signature`, `credential`, `jwt`, `cookie`, `csrf`,
//!    `xsrf` — except where the match is the start of a word known to be harmless: `auth`
//!    inside `author…` (author, authors, authority — but `authoriz…`/`authoris…` stay secret)
//!    and `token` inside `tokeniz…`/`tokenis…`; or
//! 2. one of its **words** (maximal runs of ASCII letters and digits) is one of
//!    [`SECRET_NAME_WORDS`] — `key`, `sig`, `pwd`, `pass`, `otp` — or **ends in `key`**
//!    (`apikey`, `accesskey`, `x-goog-api-key`, `apiKey`).
//!
//! Matching substrings rather than exact names is deliberate: credentials are named in endless
//! ways (`X-Amz-Signature`, `session_id`, `private_token`, `X-Access-Token`, `client_secret`,
//! `X-Tenant-Secret`, `Ocp-Apim-Subscription-Key`), and a list of exact names always misses
//! the next one. The cost is over-redaction of some harmless names, accepted because hiding a
//! value only costs a little debugging while showing a secret cannot be undone:
//!
//! | name | shown? | why |
//! |---|---|---|
//! | `keyword`, `keyboard`, `keys` | yes | `key` is matched as a word or a word's end, not a prefix |
//! | `author`, `authors`, `authority` | yes | `auth` followed by `or` (but not `authoriz`) is excluded |
//! | `tokenizer` | yes | `token` followed by `iz`/`is` is excluded |
//! | `monkey`, `turkey`, `sort_key`, `Idempotency-Key` | **no** | words ending in `key`: rare as names, and hiding them is harmless |
//! | `max_tokens`, `WWW-Authenticate`, `session_count` | **no** | contain `token`/`auth`/`session` |
//! | `code` (OAuth authorization codes), `state`, `ticket` | yes | too common as ordinary names; add them with [`Redactor::secret_name`] |
//!
//! Besides names, a **value** is secret, whatever its name, when it is a [`HeaderValue`]
//! marked [sensitive](HeaderValue::is_sensitive) (what
//! [`bearer_auth`](crate::client::RequestBuilder::bearer_auth) sets), when a header value
//! starts with an HTTP authentication scheme (`Bearer `, `Basic `, `Digest `, `Negotiate `,
//! `NTLM `, `DPoP `, `AWS4-HMAC-SHA256 `), or when it has the shape of a JSON Web Token
//! (`eyJ…` with three dot-separated base64url parts).
//!
//! In a URL (given as any string — it need not parse):
//!
//! * **userinfo** (`user:password@`) is replaced by [`REDACTED`], also in strings that are not
//!   valid URLs: a password containing `#`, `?` or `/` (`http://user:pa#ss@host/`) is found by
//!   looking past the end of a malformed authority for the `@` that closes it;
//! * the **fragment** is dropped (it never goes on the wire and often carries OAuth tokens);
//! * secret **query** and **path** (`;name=value`) parameter values are replaced;
//! * tabs and line breaks are removed and other control characters percent-encoded, so a URL
//!   cannot forge log lines.
//!
//! [`excerpt`] then bounds what an error quotes ([`URL_EXCERPT_CHARS`] characters and a
//! marker).
//!
//! # Extending it
//!
//! [`Redactor`] is the rule as a value: the default ([`Redactor::new`]) is the rule above, and
//! [`secret_name`](Redactor::secret_name), [`secret_pattern`](Redactor::secret_pattern) and
//! [`keep_name`](Redactor::keep_name) adjust it. A client takes one with
//! [`HttpClientBuilder::redactor`](crate::client::HttpClientBuilder::redactor) and applies it
//! to its hook events and errors (including the messages its transport reports). The free
//! functions ([`redact_url`], [`redact_headers`], …) apply the default rule.
//!
//! ```
//! use tether_core::{Redactor, redact_url};
//!
//! assert_eq!(
//!     redact_url("https://u:pw@api.example.com/x?X-Amz-Signature=abc&page=2#access_token=t"),
//!     "https://[REDACTED]@api.example.com/x?X-Amz-Signature=[REDACTED]&page=2"
//! );
//! let custom = Redactor::new().secret_name("code");
//! assert_eq!(custom.redact_url("https://h/cb?code=xyz&state=1"), "https://h/cb?code=[REDACTED]&state=1");
//! ```

use std::borrow::Cow;
use std::fmt;

use http::{HeaderMap, HeaderValue};

use crate::{Request, Response};

/// The text that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Substrings that make a header or parameter name secret (see the [module](self) rule).
pub const SECRET_NAME_PATTERNS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "passphrase",
    "auth",
    "session",
    "signature",
    "credential",
    "jwt",
    "cookie",
    "csrf",
    "xsrf",
];

/// Words that make a name secret; any word ending in `key` does too (see the [module](self)
/// rule).
pub const SECRET_NAME_WORDS: &[&str] = &["key", "sig", "pwd", "pass", "otp"];

/// Well-known secret header names. The rule is [`is_secret_header`] (a pattern, not this
/// list); every name here matches it.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-amz-security-token",
    "x-amz-signature",
    "x-csrf-token",
    "private-token",
];

/// Well-known secret query parameter names. The rule is [`is_secret_param`] (a pattern, not
/// this list); every name here matches it.
pub const SECRET_QUERY_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "refresh_token",
    "id_token",
    "private_token",
    "token",
    "key",
    "sig",
    "signature",
    "x-amz-signature",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "session_id",
    "jwt",
    "auth",
];

/// How many characters of a URL an error quotes (after redaction) before [`excerpt`] cuts it.
pub const URL_EXCERPT_CHARS: usize = 200;

/// Authentication schemes whose presence at the start of a header value marks it secret.
const AUTH_SCHEMES: &[&str] = &[
    "bearer ",
    "basic ",
    "digest ",
    "negotiate ",
    "ntlm ",
    "dpop ",
    "aws4-hmac-sha256 ",
];

/// The redaction rule as a value: the default rule of the [module](self), plus names and
/// patterns of your own, minus names you know to be harmless.
///
/// ```
/// use tether_core::Redactor;
///
/// let r = Redactor::new()
///     .secret_name("code")          // exactly `code` (any case)
///     .secret_pattern("tenant")     // any name containing `tenant`
///     .keep_name("max_tokens");     // shown although it contains `token`
/// assert!(r.is_secret_name("CODE"));
/// assert!(!r.is_secret_name("country_code"));
/// assert!(r.is_secret_name("X-Tenant-Id"));
/// assert!(!r.is_secret_name("max_tokens"));
/// assert!(r.is_secret_name("access_token"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Extra exact names (lower case).
    names: Vec<String>,
    /// Extra substrings (lower case).
    patterns: Vec<String>,
    /// Names never secret by name (lower case).
    keep: Vec<String>,
}

/// The default rule, shared by the free functions.
const DEFAULT: Redactor = Redactor::new();

impl Redactor {
    /// The default rule.
    pub const fn new() -> Self {
        Redactor {
            names: Vec::new(),
            patterns: Vec::new(),
            keep: Vec::new(),
        }
    }

    /// Also treats the name `name` (compared case-insensitively, whole) as secret.
    pub fn secret_name(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into().to_ascii_lowercase());
        self
    }

    /// Also treats every name containing `pattern` (case-insensitively) as secret. An empty
    /// pattern makes every name secret.
    pub fn secret_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.patterns.push(pattern.into().to_ascii_lowercase());
        self
    }

    /// Shows the values of the name `name` (compared case-insensitively, whole) although the
    /// rule matches it. Values that are secret by themselves (sensitive header values,
    /// authentication schemes, JSON Web Tokens) and userinfo stay redacted.
    pub fn keep_name(mut self, name: impl Into<String>) -> Self {
        self.keep.push(name.into().to_ascii_lowercase());
        self
    }

    /// Whether values named `name` (a header or a query / path parameter, percent-encoded or
    /// not) are secret.
    pub fn is_secret_name(&self, name: &str) -> bool {
        let lower = normalize_name(name);
        let lower = lower.as_ref();
        if self.keep.iter().any(|k| k == lower) {
            return false;
        }
        self.names.iter().any(|n| n == lower)
            || self.patterns.iter().any(|p| lower.contains(p.as_str()))
            || builtin_secret(lower)
    }

    /// Whether a header is secret: by its name, or by its value (sensitive, an authentication
    /// scheme, a JSON Web Token).
    pub fn is_secret_header(&self, name: &str, value: &HeaderValue) -> bool {
        value.is_sensitive() || self.is_secret_name(name) || header_value_is_secret(value)
    }

    /// `(name, value)` pairs of the headers, secret values replaced by [`REDACTED`]. Other
    /// values are shown lossily (non-UTF-8 bytes replaced), with the control characters and
    /// line separators that non-ASCII bytes may decode to escaped (`\u{85}`).
    pub fn redact_headers(&self, headers: &HeaderMap) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let shown = if self.is_secret_header(name.as_str(), value) {
                    REDACTED.to_owned()
                } else {
                    shown_header_value(value)
                };
                (name.as_str().to_owned(), shown)
            })
            .collect()
    }

    /// `url` — any string: it need not parse — with userinfo, secret parameter values and the
    /// fragment removed (see the [module](self) rule). Never fails, never panics.
    pub fn redact_url(&self, url: &str) -> String {
        let clean = sanitize(url);
        let s = clean.as_ref();
        let mut out = String::with_capacity(s.len() + REDACTED.len());
        let rest_start = match authority_start(s) {
            Some(a) => {
                out.push_str(&s[..a]);
                match userinfo_end(s, a) {
                    // An empty userinfo (`@host`) hides nothing.
                    Some(at) if at > a => {
                        out.push_str(REDACTED);
                        at
                    }
                    _ => a,
                }
            }
            None => 0,
        };
        let rest = &s[rest_start..];
        let rest = rest.find('#').map_or(rest, |i| &rest[..i]);
        let (path, query) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            // `;name=value` path parameters (`;jsessionid=…`); the segment itself is kept.
            let mut pieces = segment.split(';');
            out.push_str(pieces.next().unwrap_or(""));
            for piece in pieces {
                out.push(';');
                self.push_param(&mut out, piece);
            }
        }
        if let Some(q) = query {
            out.push('?');
            let mut start = 0;
            for (i, b) in q.bytes().enumerate() {
                if b == b'&' || b == b';' {
                    self.push_param(&mut out, &q[start..i]);
                    out.push(b as char);
                    start = i + 1;
                }
            }
            self.push_param(&mut out, &q[start..]);
        }
        out
    }

    /// Free text — a transport's error message, a health check's detail — with every
    /// URL-like word (one containing `://`, `?`, `@` or `;`) passed through
    /// [`redact_url`](Self::redact_url). Brackets and punctuation around a URL are kept.
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            let ws = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (word, tail) = rest.split_at(ws);
            if word.contains("://")
                || word.contains(['?', '@', ';'])
                || looks_like_jwt(word.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
            {
                let core_start = word
                    .find(|c: char| !matches!(c, '(' | '[' | '<' | '"' | '\''))
                    .unwrap_or(word.len());
                let core_end = word
                    .char_indices()
                    .rev()
                    .find(|&(_, c)| !matches!(c, ')' | ']' | '>' | '"' | '\'' | ',' | '.'))
                    .map_or(core_start, |(i, c)| i + c.len_utf8())
                    .max(core_start);
                out.push_str(&word[..core_start]);
                let core = &word[core_start..core_end];
                if looks_like_jwt(core) {
                    out.push_str(REDACTED);
                } else {
                    out.push_str(&self.redact_url(core));
                }
                out.push_str(&word[core_end..]);
            } else {
                out.push_str(word);
            }
            let ws_len = tail
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(tail.len());
            out.push_str(&tail[..ws_len]);
            rest = &tail[ws_len..];
        }
        out
    }

    /// `request` for `Debug` output: method, redacted URL, version, redacted headers and the
    /// body's length (never its bytes).
    pub fn debug_request<'a>(&'a self, request: &'a Request) -> impl fmt::Debug + 'a {
        Redacted {
            redactor: Cow::Borrowed(self),
            message: request,
        }
    }

    /// `response` for `Debug` output: status, version, redacted headers and the body's length.
    pub fn debug_response<'a>(&'a self, response: &'a Response) -> impl fmt::Debug + 'a {
        Redacted {
            redactor: Cow::Borrowed(self),
            message: response,
        }
    }

    /// One `name=value` (or bare) parameter, its value redacted if secret.
    fn push_param(&self, out: &mut String, pair: &str) {
        match pair.find('=') {
            Some(eq) => {
                let (name, value) = (&pair[..eq], &pair[eq + 1..]);
                if self.is_secret_name(name) || looks_like_jwt(value) {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                } else {
                    out.push_str(pair);
                }
            }
            None if looks_like_jwt(pair) => out.push_str(REDACTED),
            None => out.push_str(pair),
        }
    }
}

/// Whether a header with this name carries a secret by the default rule (its value may make
/// it secret too: see [`Redactor::is_secret_header`]).
pub fn is_secret_header(name: &str) -> bool {
    DEFAULT.is_secret_name(name)
}

/// Whether a query or path parameter with this name carries a secret by the default rule.
pub fn is_secret_param(name: &str) -> bool {
    DEFAULT.is_secret_name(name)
}

/// [`Redactor::redact_url`] with the default rule.
pub fn redact_url(url: &str) -> String {
    DEFAULT.redact_url(url)
}

/// [`Redactor::redact_headers`] with the default rule.
pub fn redact_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    DEFAULT.redact_headers(headers)
}

/// [`Redactor::redact_text`] with the default rule.
pub fn redact_text(text: &str) -> String {
    DEFAULT.redact_text(text)
}

/// `text` cut to at most `max_chars` characters, followed by `…[+N chars]` when something was
/// cut. Apply it after redaction: cutting first could leave half a secret behind a marker the
/// redactor no longer recognises.
///
/// ```
/// use tether_core::excerpt;
///
/// assert_eq!(excerpt("short", 10), "short");
/// assert_eq!(excerpt("0123456789abc", 10), "0123456789…[+3 chars]");
/// ```
pub fn excerpt(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let more = text[cut..].chars().count();
            Cow::Owned(format!("{}…[+{more} chars]", &text[..cut]))
        }
    }
}

/// The default rule on a lower-cased name: one pass over its bytes, comparing the patterns
/// that start with each byte ([`SECRET_NAME_PATTERNS`], with the harmless exceptions), then
/// the words.
fn builtin_secret(lower: &str) -> bool {
    let b = lower.as_bytes();
    let at = |i: usize, p: &str| b[i..].starts_with(p.as_bytes());
    for (i, &first) in b.iter().enumerate() {
        let hit = match first {
            b't' => at(i, "token") && !at(i, "tokeniz") && !at(i, "tokenis"),
            b's' => at(i, "secret") || at(i, "session") || at(i, "signature"),
            b'p' => at(i, "passw") || at(i, "passphrase"),
            b'a' => at(i, "auth") && (!at(i, "author") || at(i, "authoriz") || at(i, "authoris")),
            b'c' => at(i, "credential") || at(i, "cookie") || at(i, "csrf"),
            b'j' => at(i, "jwt"),
            b'x' => at(i, "xsrf"),
            _ => false,
        };
        if hit {
            return true;
        }
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word.ends_with("key") || SECRET_NAME_WORDS.contains(&word))
}

/// Lower case, `%XX` decoded and `+` as a space, for comparison only. Borrows when nothing
/// changes (header names are already lower case).
fn normalize_name(name: &str) -> Cow<'_, str> {
    let needs = name
        .bytes()
        .any(|b| b.is_ascii_uppercase() || b == b'%' || b == b'+');
    if !needs {
        return Cow::Borrowed(name);
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let mut s = String::from_utf8_lossy(&out).into_owned();
    s.make_ascii_lowercase();
    Cow::Owned(s)
}

/// A header value as text for humans. A `HeaderValue` holds no ASCII control character but
/// tab, so an ASCII value is shown as is (escaping it for `Debug` would escape it twice); bytes
/// beyond ASCII are decoded lossily and any control character or line separator they decode to
/// (`U+0085`, `U+2028`) is escaped, so no value can start a new log line.
fn shown_header_value(value: &HeaderValue) -> String {
    let bytes = value.as_bytes();
    if bytes.is_ascii() {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A header value secret by itself: an authentication scheme, or a JSON Web Token.
fn header_value_is_secret(value: &HeaderValue) -> bool {
    let v = value.as_bytes().trim_ascii();
    AUTH_SCHEMES.iter().any(|scheme| {
        v.len() > scheme.len() && v[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
    }) || looks_like_jwt(v)
}

/// Whether `s` has the shape of a JSON Web Token: `eyJ` then three base64url parts.
fn looks_like_jwt(s: impl AsRef<[u8]>) -> bool {
    let s = s.as_ref();
    s.len() >= 20
        && s.starts_with(b"eyJ")
        && s.split(|&b| b == b'.').count() == 3
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

/// Tabs and line breaks removed (as URL parsers do), other control characters percent-encoded.
fn sanitize(url: &str) -> Cow<'_, str> {
    if !url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '\t' | '\r' | '\n' => {}
            c if c.is_ascii_control() => {
                use fmt::Write as _;
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Where the authority (or what may be one) starts: after `scheme:` and any slashes, after a
/// leading `//`, or at the start of a string that has neither and does not begin with a path,
/// query or fragment. `None` when the string cannot hold an authority.
fn authority_start(s: &str) -> Option<usize> {
    let lead = s.len() - s.trim_start_matches(|c: char| c <= ' ').len();
    let body = &s[lead..];
    let after_slashes = |from: usize| {
        from + s[from..]
            .bytes()
            .take_while(|&b| b == b'/' || b == b'\\')
            .count()
    };
    let scheme_len = body
        .bytes()
        .enumerate()
        .take_while(|&(i, b)| {
            b.is_ascii_alphabetic()
                || (i > 0 && (b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')))
        })
        .count();
    if scheme_len > 0 && body.as_bytes().get(scheme_len) == Some(&b':') {
        return Some(after_slashes(lead + scheme_len + 1));
    }
    match body.bytes().next() {
        Some(b'/' | b'\\') => {
            let b = body.as_bytes();
            (b.len() > 1 && matches!(b[1], b'/' | b'\\')).then(|| after_slashes(lead))
        }
        Some(b'?' | b'#') | None => None,
        Some(_) => Some(lead),
    }
}

/// Where userinfo that starts at `a` ends (the index of its closing `@`), if there is any.
///
/// The authority ends at the first `/`, `\`, `?` or `#`; an `@` inside it closes the userinfo
/// (the last one, as URL parsers do). When what follows is not a plain `host[:port]`
/// (`user:pa` of `http://user:pa#ss@host/`), or the authority ends at a `?` or `#` with an `@`
/// before the next `/`, the text up to that later `@` is taken as userinfo: a malformed URL is
/// shown with less, never with a password.
fn userinfo_end(s: &str, a: usize) -> Option<usize> {
    let region_len = s[a..].find(['/', '\\', '?', '#']).unwrap_or(s.len() - a);
    let region = &s[a..a + region_len];
    let end = a + region_len;
    let in_region = region.rfind('@').map(|i| a + i);
    let host = &s[in_region.map_or(a, |i| i + 1)..end];
    if !is_host_port(host) {
        return s[end..].rfind('@').map(|i| end + i).or(in_region);
    }
    if matches!(s.as_bytes().get(end), Some(b'?' | b'#')) {
        let until_path = s[end..].find(['/', '\\']).map_or(s.len(), |i| end + i);
        if let Some(i) = s[end..until_path].rfind('@') {
            return Some(end + i);
        }
    }
    in_region
}

/// Whether `region` is a plain `host[:port]` (a registered name, an IPv4 address or a
/// bracketed IPv6 literal; the port digits only).
fn is_host_port(region: &str) -> bool {
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if let Some(inner) = region.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return false;
        };
        let literal = &inner[..close];
        let after = &inner[close + 1..];
        return !literal.is_empty()
            && literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'%'))
            && (after.is_empty() || after.strip_prefix(':').is_some_and(digits));
    }
    let (host, port) = match region.rfind(':') {
        Some(i) => (&region[..i], &region[i + 1..]),
        None => (region, ""),
    };
    !host.is_empty()
        && host.chars().all(|c| {
            !c.is_ascii()
                || c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '-' | '.'
                        | '_'
                        | '~'
                        | '%'
                        | '!'
                        | '$'
                        | '&'
                        | '\''
                        | '('
                        | ')'
                        | '*'
                        | '+'
                        | ','
                        | ';'
                        | '='
                )
        })
        && digits(port)
}

/// `Debug` of a request or a response with the rule applied.
struct Redacted<'a, M> {
    redactor: Cow<'a, Redactor>,
    message: &'a M,
}

/// The headers (redacted) and the body's length, the end of every redacted message.
fn headers_and_body(
    mut d: fmt::DebugStruct<'_, '_>,
    redactor: &Redactor,
    headers: &HeaderMap,
    body: usize,
) -> fmt::Result {
    d.field("headers", &HeaderPairs(redactor.redact_headers(headers)))
        .field("body", &format_args!("{body} bytes"))
        .finish()
}

impl fmt::Debug for Redacted<'_, Request> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.message;
        let mut d = f.debug_struct("Request");
        d.field("method", r.method())
            .field("uri", &self.redactor.redact_url(&r.uri().to_string()))
            .field("version", &r.version());
        headers_and_body(d, &self.redactor, r.headers(), r.body().len())
    }
}

impl fmt::Debug for Redacted<'_, Response> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.message;
        let mut d = f.debug_struct("Response");
        d.field("status", &r.status())
            .field("version", &r.version());
        headers_and_body(d, &self.redactor, r.headers(), r.body().len())
    }
}

impl fmt::Debug for crate::CachedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CachedResponse");
        d.field("status", &self.status())
            .field("stored_at", &self.stored_at())
            .field("freshness", self.freshness());
        headers_and_body(d, &DEFAULT, self.headers(), self.body().len())
    }
}

/// Redacted headers as a `Debug` map.
struct HeaderPairs(Vec<(String, String)>);

impl fmt::Debug for HeaderPairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// `Debug` of a request with the default rule (for the crate's own `Debug` impls).
pub(crate) fn debug_request(request: &Request) -> impl fmt::Debug + '_ {
    Redacted {
        redactor: Cow::Owned(DEFAULT),
        message: request,
    }
}

/// `Debug` of a response with the default rule.
pub(crate) fn debug_response(response: &Response) -> impl fmt::Debug + '_ {
    Redacted {
        redactor: Cow::Owned(DEFAULT),
        message: response,
    }
}

#[cfg(test)]
mod tests;
