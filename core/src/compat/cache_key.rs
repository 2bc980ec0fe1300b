//! The original client's public cache key, `CacheKey.generate`: an MD5 over a `|`-joined
//! string of the request's parts (see `docs/compat.md`). Only the Python layer shows it; the
//! engine's own key ([`crate::CacheKey`]) is keyed, partitions by credential, and never leaves
//! the process.

use std::fmt::Write as _;

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::python::{python_truthy, write_json, write_json_str, write_number};

/// `CacheKey.generate(method, url, headers, query_params, body, config)` of the original, as
/// a 32-digit lower-case MD5 hex string:
///
/// `MD5("|".join([method.upper(), url, json.dumps(sorted(params.items()), sort_keys=True)?,
/// json.dumps(selected_headers, sort_keys=True)?, json.dumps(body) or str(body)?]))`
///
/// * `query_params` enters when `include_query_params` and the map is non-empty;
/// * `headers` enters when `include_headers` and, after keeping only `accept`,
///   `content-type` and `authorization` (matched case-insensitively, original case kept,
///   later duplicates overriding earlier ones as in a Python dict), some remain;
/// * `body` enters when truthy in Python terms (not `null`, `false`, `0`, `0.0`, `""`, `[]`,
///   `{}`): objects and arrays as `json.dumps(body, sort_keys=True)`, other values as Python
///   `str()`.
///
/// The URL is used exactly as given. This key is the original's, for compatibility: it does
/// **not** partition by credential (the engine's real key, [`crate::CacheKey`], does).
///
/// ```
/// use tether_core::compat::compat_key;
/// let mut params = serde_json::Map::new();
/// params.insert("b".into(), 2.into());
/// params.insert("a".into(), "1".into());
/// let k = compat_key("get", "http://h/p", None, Some(&params), None, false, true);
/// assert_eq!(k, "493636df19ecddb93860b74b949820ec");
/// ```
pub fn compat_key(
    method: &str,
    url: &str,
    headers: Option<&[(String, String)]>,
    query_params: Option<&Map<String, Value>>,
    body: Option<&Value>,
    include_headers: bool,
    include_query_params: bool,
) -> String {
    let mut s = String::new();
    s.push_str(&method.to_uppercase());
    s.push('|');
    s.push_str(url);
    if include_query_params
        && let Some(q) = query_params
        && !q.is_empty()
    {
        let mut items: Vec<(&String, &Value)> = q.iter().collect();
        items.sort_by(|a, b| a.0.cmp(b.0));
        s.push('|');
        s.push('[');
        for (i, (k, v)) in items.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push('[');
            write_json_str(&mut s, k);
            s.push_str(", ");
            write_json(&mut s, v);
            s.push(']');
        }
        s.push(']');
    }
    if include_headers
        && let Some(h) = headers
        && !h.is_empty()
    {
        // A Python dict: later duplicates override, then sort_keys.
        let mut kept: Vec<(&str, &str)> = Vec::new();
        for (name, value) in h {
            let lower = name.to_ascii_lowercase();
            if lower == "accept" || lower == "content-type" || lower == "authorization" {
                if let Some(e) = kept.iter_mut().find(|e| e.0 == name.as_str()) {
                    e.1 = value.as_str();
                } else {
                    kept.push((name.as_str(), value.as_str()));
                }
            }
        }
        if !kept.is_empty() {
            kept.sort_by(|a, b| a.0.cmp(b.0));
            s.push('|');
            s.push('{');
            for (i, (k, v)) in kept.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_json_str(&mut s, k);
                s.push_str(": ");
                write_json_str(&mut s, v);
            }
            s.push('}');
        }
    }
    if let Some(b) = body
        && python_truthy(b)
    {
        s.push('|');
        match b {
            Value::Object(_) | Value::Array(_) => write_json(&mut s, b),
            Value::String(t) => s.push_str(t),
            Value::Bool(_) => s.push_str("True"),
            Value::Number(n) => write_number(&mut s, n, false),
            Value::Null => s.push_str("None"),
        }
    }
    let digest = Md5::digest(s.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test helper takes objects"),
        }
    }

    fn md5_hex(s: &str) -> String {
        Md5::digest(s.as_bytes())
            .iter()
            .fold(String::new(), |mut acc, b| {
                let _ = write!(acc, "{b:02x}");
                acc
            })
    }

    #[test]
    fn documented_example() {
        let p = map(json!({"b": 2, "a": "1"}));
        assert_eq!(
            compat_key("get", "http://h/p", None, Some(&p), None, false, true),
            "493636df19ecddb93860b74b949820ec"
        );
        // A different Authorization gives the same key under the default config.
        let h1 = vec![("Authorization".to_string(), "Bearer a".to_string())];
        let h2 = vec![("Authorization".to_string(), "Bearer b".to_string())];
        assert_eq!(
            compat_key("get", "http://h/p", Some(&h1), Some(&p), None, false, true),
            compat_key("get", "http://h/p", Some(&h2), Some(&p), None, false, true),
        );
        // Query params excluded.
        assert_eq!(
            compat_key("GET", "http://h/p", None, Some(&p), None, false, false),
            md5_hex("GET|http://h/p")
        );
    }

    // Expected values computed with CPython 3.11 running the original algorithm.
    #[test]
    fn include_headers_filters_and_sorts() {
        let h = vec![
            ("X-Other".to_string(), "1".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), "text/html".to_string()),
            ("Authorization".to_string(), "Bearer x".to_string()),
        ];
        let k = compat_key("post", "http://h/p", Some(&h), None, None, true, true);
        assert_eq!(
            k,
            md5_hex(
                r#"POST|http://h/p|{"Accept": "text/html", "Authorization": "Bearer x", "content-type": "application/json"}"#
            )
        );
        assert_eq!(k, "fea8e8f87c5ad377d45c6b987ac5c7a9");
        // Nothing kept: no part appended.
        let h = vec![("X-Other".to_string(), "1".to_string())];
        assert_eq!(
            compat_key("GET", "u", Some(&h), None, None, true, true),
            md5_hex("GET|u")
        );
    }

    #[test]
    fn bodies() {
        let body = json!([{"z": 1, "a": [true, null, 1.5]}, "x"]);
        assert_eq!(
            compat_key("POST", "http://h/p", None, None, Some(&body), false, true),
            md5_hex(r#"POST|http://h/p|[{"a": [true, null, 1.5], "z": 1}, "x"]"#)
        );
        assert_eq!(
            compat_key("POST", "http://h/p", None, None, Some(&body), false, true),
            "a4e02385856e854eb42669d3e41f2239"
        );
        // Scalars use str(): strings raw, numbers repr, True.
        assert_eq!(
            compat_key("POST", "u", None, None, Some(&json!("a\"b")), false, true),
            md5_hex("POST|u|a\"b")
        );
        assert_eq!(
            compat_key("POST", "u", None, None, Some(&json!(1.0)), false, true),
            md5_hex("POST|u|1.0")
        );
        assert_eq!(
            compat_key("POST", "u", None, None, Some(&json!(true)), false, true),
            md5_hex("POST|u|True")
        );
        // Falsy bodies are skipped.
        for b in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert_eq!(
                compat_key("POST", "u", None, None, Some(&b), false, true),
                md5_hex("POST|u"),
                "{b}"
            );
        }
    }

    #[test]
    fn unicode_is_ascii_escaped() {
        let p = map(json!({"q": "café \u{1F600}\n\u{7f}\u{1}", "é": 1e-7}));
        let expect =
            r#"GET|http://h/p|[["q", "caf\u00e9 \ud83d\ude00\n\u007f\u0001"], ["\u00e9", 1e-07]]"#;
        assert_eq!(
            compat_key("get", "http://h/p", None, Some(&p), None, false, true),
            md5_hex(expect)
        );
        assert_eq!(
            compat_key("get", "http://h/p", None, Some(&p), None, false, true),
            "c29faa341d3910418848cce2de3dca8f"
        );
        // Non-ASCII in the URL and method is hashed as UTF-8, not escaped.
        assert_eq!(
            compat_key("gét", "http://h/ü", None, None, None, false, true),
            "85ee1bcc898660418b9b3eb90a8f5850"
        );
    }
}
