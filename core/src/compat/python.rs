//! Python's text forms of values: `repr(float)`, `str()` of decoded JSON, and
//! `json.dumps(..., sort_keys=True)`. The original system hashed and printed numbers through
//! these, so byte-exact compatibility needs them; nothing outside `compat` uses them.

use std::fmt::Write as _;

use serde_json::Value;

/// Python truthiness of a JSON-derived value.
pub(super) fn python_truthy(v: &Value) -> bool {
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

pub(super) fn write_json(out: &mut String, v: &Value) {
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

pub(super) fn write_number(out: &mut String, n: &serde_json::Number, json: bool) {
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
pub(super) fn write_json_str(out: &mut String, s: &str) {
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

/// Python's `repr(str)` for the container case of [`py_str`] (common escapes only).
fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str()` of a JSON-decoded value (`repr` inside containers).
pub(super) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                python_float_repr(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => py_str_repr(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn float_repr_matches_python_for_exported_values() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.0, "2.0"),
            (99.5, "99.5"),
            (0.1, "0.1"),
            (0.025_758_743_286_132_812, "0.025758743286132812"),
            (1e-6, "1e-06"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.000_123, "0.000123"),
            (9.536_743_164_062_5e-7, "9.5367431640625e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123_456_789.123, "123456789.123"),
            (1e100, "1e+100"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1_795_717_879.509_88, "1795717879.50988"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(*x), *want, "repr of {x:e}");
        }
    }

    #[test]
    fn python_str_of_values() {
        assert_eq!(py_str(&json!(2)), "2");
        assert_eq!(py_str(&json!(-3)), "-3");
        assert_eq!(py_str(&json!(2.0)), "2.0");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&Value::Null), "None");
        assert_eq!(py_str(&json!("x'y")), "x'y");
        assert_eq!(py_str(&json!(["a", 1, 0.5, null])), "['a', 1, 0.5, None]");
        assert_eq!(py_str(&json!({"k": "it's"})), "{'k': \"it's\"}");
        assert_eq!(py_str(&json!(u64::MAX)), "18446744073709551615");
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
