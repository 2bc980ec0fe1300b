//! Redaction of secrets before anything reaches logs, hooks, traces, metric labels or exports.
//!
//! Credentials travel in headers (`Authorization`, `Cookie`, API-key headers) and in query
//! strings (`?api_key=…`, `?access_token=…`). Every frontend formats requests for humans through
//! these functions only, so the rule lives in one place.

use std::fmt::Write as _;

/// The text that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Header names whose values are secrets (compared case-insensitively).
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-amz-security-token",
    "x-csrf-token",
];

/// Query parameter names whose values are secrets (compared case-insensitively).
pub const SECRET_QUERY_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "key",
    "sig",
    "signature",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "auth",
];

/// Whether a header with this name carries a secret.
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether a query parameter with this name carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    SECRET_QUERY_PARAMS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// The URL with the values of secret query parameters and any userinfo (`user:pass@`) replaced
/// by [`REDACTED`]. Works on any string; a string that is not a URL is returned with only its
/// query part (after the first `?`) treated.
pub fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => (&url[..i], Some(&url[i..])),
        None => (url, None),
    };
    let (base, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    // userinfo: scheme://user:pass@host/...
    match base.find("://") {
        Some(s) => {
            let rest = &base[s + 3..];
            let auth_end = rest.find('/').unwrap_or(rest.len());
            match rest[..auth_end].rfind('@') {
                Some(at) => {
                    out.push_str(&base[..s + 3]);
                    out.push_str(REDACTED);
                    out.push_str(&rest[at..]);
                }
                None => out.push_str(base),
            }
        }
        None => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            let (name, has_value) = match pair.find('=') {
                Some(eq) => (&pair[..eq], true),
                None => (pair, false),
            };
            if has_value && is_secret_param(&percent_decode_lossy(name)) {
                let _ = write!(out, "{name}={REDACTED}");
            } else {
                out.push_str(pair);
            }
        }
    }
    if let Some(f) = fragment {
        out.push_str(f);
    }
    out
}

/// `(name, value)` pairs of the headers, with secret values replaced by [`REDACTED`].
/// Non-UTF-8 values are shown lossily.
pub fn redact_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let v = if is_secret_header(name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), v)
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` for name comparison only; invalid escapes are kept as-is.
fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
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
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_secrets_are_masked_and_others_kept() {
        assert_eq!(
            redact_url("https://h/p?a=1&api_key=s3cr3t&Token=abc&b=2#frag"),
            "https://h/p?a=1&api_key=[REDACTED]&Token=[REDACTED]&b=2#frag"
        );
        assert_eq!(
            redact_url("https://h/p?access%5Ftoken=x"),
            "https://h/p?access%5Ftoken=[REDACTED]"
        );
        assert_eq!(redact_url("https://h/p"), "https://h/p");
        assert_eq!(redact_url("https://h/p?flag"), "https://h/p?flag");
        assert_eq!(redact_url(""), "");
        assert_eq!(redact_url("?%"), "?%");
        assert_eq!(redact_url("?%4"), "?%4");
    }

    #[test]
    fn userinfo_is_masked() {
        assert_eq!(
            redact_url("https://bob:pw@h:8080/x?y=1"),
            "https://[REDACTED]@h:8080/x?y=1"
        );
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
    }

    #[test]
    fn secret_headers_are_masked() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer s3cr3t".parse().unwrap());
        h.insert("cookie", "sid=s3cr3t".parse().unwrap());
        h.insert("x-api-key", "s3cr3t".parse().unwrap());
        h.insert("accept", "application/json".parse().unwrap());
        let shown = format!("{:?}", redact_headers(&h));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("application/json"));
        assert_eq!(redact_headers(&h).len(), 4);
    }
}
