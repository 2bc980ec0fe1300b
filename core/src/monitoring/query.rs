//! Query strings: decoding, and integer parameters validated with the error records FastAPI
//! (pydantic 2) writes, so both servers answer a bad parameter the same way.

use serde::Serialize;

/// The decoded query: `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX`
/// decoded, invalid UTF-8 replaced). A repeated name takes its **last** value, as FastAPI
/// does for a scalar parameter; unknown names are ignored.
pub(super) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(super) fn parse(query: &str) -> Self {
        Query {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The last value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One validation error, in pydantic's record shape:
/// `{"type", "loc": ["query", name], "msg", "input"[, "ctx"]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct FieldError {
    #[serde(rename = "type")]
    kind: &'static str,
    loc: (&'static str, &'static str),
    msg: String,
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ctx: Option<Bound>,
}

/// The bound a range error names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
enum Bound {
    #[serde(rename = "ge")]
    Ge(i64),
    #[serde(rename = "le")]
    Le(i64),
}

/// `name` as an integer in `min..=max`, `default` when absent. Accepts what pydantic accepts
/// for an `int` query parameter in lax mode: optional sign, ASCII digits, optional `_`
/// between digits, surrounding whitespace.
pub(super) fn int_param(
    query: &Query,
    name: &'static str,
    default: i64,
    min: i64,
    max: i64,
    errors: &mut Vec<FieldError>,
) -> i64 {
    let Some(raw) = query.get(name) else {
        return default;
    };
    let error = |kind, msg: String, ctx| FieldError {
        kind,
        loc: ("query", name),
        msg,
        input: raw.to_owned(),
        ctx,
    };
    let Some(value) = parse_int(raw) else {
        errors.push(error(
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer".to_owned(),
            None,
        ));
        return default;
    };
    if value < min {
        errors.push(error(
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
            Some(Bound::Ge(min)),
        ));
        return default;
    }
    if value > max {
        errors.push(error(
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
            Some(Bound::Le(max)),
        ));
        return default;
    }
    value
}

/// Pydantic's lax integer syntax; `None` for anything else (and for values outside `i64`).
fn parse_int(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_digit()
        || !bytes[bytes.len() - 1].is_ascii_digit()
        || digits.contains("__")
        || !bytes.iter().all(|b| b.is_ascii_digit() || *b == b'_')
    {
        return None;
    }
    let mut value: i64 = 0;
    for b in bytes.iter().filter(|b| b.is_ascii_digit()) {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_last_value_wins() {
        let q = Query::parse("a=1&b=x+y&c=%2Fz%20&a=2&d");
        assert_eq!(q.get("a"), Some("2"));
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), Some("/z "));
        assert_eq!(q.get("d"), Some(""));
        assert_eq!(q.get("e"), None);
        assert_eq!(Query::parse("").get("a"), None);
        assert_eq!(Query::parse("s=%FF").get("s"), Some("\u{fffd}"));
    }

    #[test]
    fn integer_syntax() {
        for (raw, want) in [
            ("0", Some(0)),
            ("50", Some(50)),
            (" 7 ", Some(7)),
            ("+3", Some(3)),
            ("-1", Some(-1)),
            ("1_000", Some(1000)),
            ("007", Some(7)),
            ("", None),
            ("-", None),
            ("1.5", None),
            ("1e3", None),
            ("abc", None),
            ("_1", None),
            ("1_", None),
            ("1__0", None),
            ("0x10", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(parse_int(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn errors_in_pydantic_shape() {
        let mut errors = Vec::new();
        let q = Query::parse("limit=abc&hours=-1&n=5000");
        assert_eq!(int_param(&q, "limit", 50, 0, 1000, &mut errors), 50);
        assert_eq!(int_param(&q, "hours", 24, 0, 8760, &mut errors), 24);
        assert_eq!(int_param(&q, "n", 1, 0, 1000, &mut errors), 1);
        assert_eq!(int_param(&q, "absent", 9, 0, 10, &mut errors), 9);
        let json = serde_json::to_string(&errors).unwrap();
        assert_eq!(
            json,
            r#"[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"},{"type":"greater_than_equal","loc":["query","hours"],"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}},{"type":"less_than_equal","loc":["query","n"],"msg":"Input should be less than or equal to 1000","input":"5000","ctx":{"le":1000}}]"#
        );
    }
}
