//! Number formatting shared by alert messages, matching the original's Python formatting.

pub(crate) use crate::cache::python_float_repr as py_float_repr;

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
