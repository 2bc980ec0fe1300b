//! Bearer tokens: parsing the `Authorization` header and comparing in constant time.

use subtle::ConstantTimeEq as _;

/// What the request's credentials amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Credentials {
    /// No `Authorization: Bearer …` header (or one with another scheme).
    Missing,
    /// A bearer token that does not match.
    Wrong,
    /// The configured token.
    Valid,
}

/// Checks the `Authorization` headers among `headers` (names compared case-insensitively)
/// against `expected`. Without a configured token nothing is valid. Every bearer token
/// presented is compared in full, in constant time, so the time taken says nothing about how
/// much of a wrong token matched.
pub(super) fn check(headers: &[(&str, &str)], expected: Option<&str>) -> Credentials {
    let mut result = Credentials::Missing;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        let Some(token) = bearer_token(value) else {
            continue;
        };
        let ok = expected.is_some_and(|e| constant_time_eq(token.as_bytes(), e.as_bytes()));
        if ok {
            result = Credentials::Valid;
        } else if result == Credentials::Missing {
            result = Credentials::Wrong;
        }
    }
    result
}

/// The token of `Bearer <token>` (scheme case-insensitive, spaces around the token ignored);
/// `None` for another scheme or an empty token.
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// `a == b` in time that depends only on the lengths: `subtle`'s comparison, which folds every
/// byte difference into one value behind an optimisation barrier. A length mismatch returns
/// at once; the configured token's length is not a secret (generated tokens all have the same
/// length).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        let words: [&[u8]; 7] = [b"", b"a", b"b", b"ab", b"secret", b"secreT", b"secret!"];
        for a in words {
            for b in words {
                assert_eq!(constant_time_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
        // every position of a difference is seen, not just the first byte
        let token = b"0123456789abcdef0123456789abcdef";
        for i in 0..token.len() {
            let mut other = *token;
            other[i] ^= 1;
            assert!(!constant_time_eq(&other, token), "difference at {i}");
        }
        assert!(constant_time_eq(token, token));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc  "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer   "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn check_headers() {
        let t = Some("s3cret");
        assert_eq!(check(&[], t), Credentials::Missing);
        assert_eq!(check(&[("Accept", "x")], t), Credentials::Missing);
        assert_eq!(
            check(&[("authorization", "Basic czNjcmV0")], t),
            Credentials::Missing
        );
        assert_eq!(
            check(&[("Authorization", "Bearer nope")], t),
            Credentials::Wrong
        );
        assert_eq!(
            check(&[("AUTHORIZATION", "Bearer s3cret")], t),
            Credentials::Valid
        );
        assert_eq!(
            check(&[("authorization", "Bearer s3cret")], None),
            Credentials::Wrong
        );
        // a prefix or an extension of the token is wrong
        assert_eq!(
            check(&[("authorization", "Bearer s3cre")], t),
            Credentials::Wrong
        );
        assert_eq!(
            check(&[("authorization", "Bearer s3crett")], t),
            Credentials::Wrong
        );
    }
}
