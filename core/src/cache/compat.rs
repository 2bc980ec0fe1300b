//! The original client's public cache key (`CacheKey.generate`, spec §1.4), and the Python
//! `json.dumps` / `repr(float)` emulation it needs.
//!
//! [`python_float_repr`], [`python_json_float`] and [`python_json_dumps`] are reusable by
//! other modules (the export module needs Python-identical JSON numbers).

use std::fmt::Write as _;

use md5::{Digest, Md5};
use serde_json::{Map, Value};

/// `CacheKey.generate(method, url, headers, query_params, body, config)` of the original, as
/// a 32-digit lower-case MD5 hex string (spec §1.4):
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
/// **not** partition by credential (the engine's real key, [`super::CacheKey`], does).
///
/// ```
/// use tether_core::cache::compat_key;
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

/// Python truthiness of a JSON-derived value.
fn python_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `json.dumps(value, sort_keys=True)` with default arguments: separators `", "` and
/// `": "`, `ensure_ascii=True` (non-ASCII as `\uXXXX`, astral characters as surrogate pairs),
/// floats as `repr(float)`.
///
/// Integers print as Python ints; note that `serde_json` (without `arbitrary_precision`)
/// stores integers beyond the `u64`/`i64` range as floats, which Python would not.
pub fn python_json_dumps(value: &Value) -> String {
    let mut s = String::new();
    write_json(&mut s, value);
    s
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n, true),
        Value::String(s) => write_json_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, x);
            }
            out.push(']');
        }
        Value::Object(o) => {
            // Sort explicitly: serde_json's map may preserve insertion order.
            let mut items: Vec<(&String, &Value)> = o.iter().collect();
            items.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, x)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_str(out, k);
                out.push_str(": ");
                write_json(out, x);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &serde_json::Number, json: bool) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        if json {
            out.push_str(&python_json_float(f));
        } else {
            out.push_str(&python_float_repr(f));
        }
    }
}

/// A JSON string literal as Python's `json.dumps` (with `ensure_ascii=True`) writes it.
fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)` (= `str(float)`): shortest round-trip digits, fixed notation for
/// decimal exponents in `-4..16` (always with a fractional part: `2.0`), otherwise scientific
/// with a signed, at least two-digit exponent (`1e-05`, `1e+16`, `9.5367431640625e-07`);
/// `inf`, `-inf`, `nan`; `-0.0`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let (digits, exp) = shortest_digits(x.abs());
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let decpt = exp + 1; // position of the decimal point relative to the digits
    let n = digits.len() as i32;
    if (-4..16).contains(&exp) {
        if decpt <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{sign}{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs())
    }
}

/// Splits `{:e}` output (`d[.ddd]e<exp>`) into its digits and decimal exponent.
fn split_sci(sci: &str) -> (String, i32) {
    // Invariant: LowerExp output of a finite float is always `<mantissa>e<small integer>`.
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exp.parse().unwrap_or(0))
}

/// The shortest round-trip digits of a finite, non-negative `x` and their decimal exponent,
/// choosing the **closest** candidate (ties to even) as Python's `repr` does. Rust's `{:e}`
/// finds the shortest length but may pick the other candidate when the value lies exactly
/// halfway (e.g. 0.025758743286132812 vs …813), so re-round correctly at that length.
fn shortest_digits(x: f64) -> (String, i32) {
    let (digits, exp) = split_sci(&format!("{x:e}"));
    if digits.len() < 2 {
        return (digits, exp);
    }
    let exact = format!("{:.*e}", digits.len() - 1, x);
    if exact.parse::<f64>() == Ok(x) {
        split_sci(&exact)
    } else {
        (digits, exp)
    }
}

/// A float as Python's `json.dumps` writes it: [`python_float_repr`] for finite values,
/// `Infinity`, `-Infinity` and `NaN` otherwise.
pub fn python_json_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        python_float_repr(x)
    }
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
    fn spec_example() {
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

    #[test]
    fn float_repr_matches_python() {
        // (value, repr(value)) pairs from CPython 3.11.
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1e22, "1e+22"),
            (100.0, "100.0"),
            (12345.678, "12345.678"),
            (-2.5, "-2.5"),
            (0.5, "0.5"),
            (1_234_567_890_123_456.7, "1234567890123456.8"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (0.001_234, "0.001234"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, s) in cases {
            assert_eq!(python_float_repr(*v), *s, "{v:e}");
        }
        assert_eq!(python_float_repr(f64::NAN), "nan");
        assert_eq!(python_json_float(f64::INFINITY), "Infinity");
        assert_eq!(python_json_float(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(python_json_float(f64::NAN), "NaN");
        assert_eq!(python_json_float(2.0), "2.0");
    }

    #[test]
    fn json_dumps_shapes() {
        assert_eq!(
            python_json_dumps(
                &json!({"b": [], "a": {}, "c": [1, -2, 3.25], "d": "\t\u{8}\u{c}\\"})
            ),
            r#"{"a": {}, "b": [], "c": [1, -2, 3.25], "d": "\t\b\f\\"}"#
        );
        assert_eq!(python_json_dumps(&json!(u64::MAX)), "18446744073709551615");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn float_repr_round_trips_and_has_python_shape(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let s = python_float_repr(x);
            prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{}", s);
            if s.contains('e') {
                let exp = s.split_once('e').unwrap().1;
                prop_assert!(exp.starts_with('+') || exp.starts_with('-'));
                prop_assert!(exp.len() >= 3);
            } else {
                prop_assert!(s.contains('.'));
            }
        }

        #[test]
        fn json_strings_are_ascii(s in "\\PC{0,40}") {
            let out = python_json_dumps(&Value::String(s.clone()));
            prop_assert!(out.is_ascii());
            // Python's escaping is valid JSON: decoding gives the original back.
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }
    }
}
