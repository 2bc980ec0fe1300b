//! Number formatting shared by alert messages, matching the original's Python formatting.

/// `repr(float)` as Python 3 writes it: the shortest text that round-trips, at least one
/// decimal in positional form (`80.0`, `99.5`), scientific below 1e-4 and from 1e16 up with a
/// signed exponent of at least two digits (`1e-05`, `1.2345e+16`), and `nan` / `inf` / `-inf`.
pub(crate) fn py_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `-9.5367431640625e-7`.
    let sci = format!("{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    let n = digits.len() as i32;
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{digits}{}.0", "0".repeat((int_len - n) as usize))
            } else {
                let (int, frac) = digits.split_at(int_len as usize);
                format!("{int}.{frac}")
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{esign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

/// Python's `format(v, '.2%')`: `v * 100` with two decimals and a percent sign.
pub(crate) fn py_percent2(v: f64) -> String {
    let p = v * 100.0;
    if p.is_nan() {
        "nan%".to_owned()
    } else if p.is_infinite() {
        if p > 0.0 { "inf%" } else { "-inf%" }.to_owned()
    } else {
        format!("{p:.2}%")
    }
}

/// Python's `format(v, '.2f')` (finite values; `nan` / `inf` as Python writes them).
pub(crate) fn py_fixed2(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        py_float_repr(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        // Expected strings produced by CPython 3.11 `repr(v)`.
        let cases = [
            (99.5, "99.5"),
            (80.0, "80.0"),
            (0.1, "0.1"),
            (1e-05, "1e-05"),
            (1.5e-05, "1.5e-05"),
            (0.0001, "0.0001"),
            (9.536_743_164_062_5e-7, "9.5367431640625e-07"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123_456_789_012_345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (100.0, "100.0"),
            (33.333_333_333_333_336, "33.333333333333336"),
            (0.300_000_000_000_000_04, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (12.0, "12.0"),
            (0.000_123, "0.000123"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(py_float_repr(v), want, "repr({v:?})");
        }
    }

    #[test]
    fn percent_and_fixed_match_python() {
        assert_eq!(py_percent2(0.0), "0.00%");
        assert_eq!(py_percent2(0.5), "50.00%");
        assert_eq!(py_percent2(0.00125), "0.12%"); // round-half-even on the exact value
        assert_eq!(py_percent2(1.0 / 3.0), "33.33%");
        assert_eq!(py_fixed2(6.0), "6.00");
        assert_eq!(py_fixed2(0.125), "0.12");
        assert_eq!(py_fixed2(5.005), "5.00"); // 5.005 is 5.00499999… in binary
    }
}
