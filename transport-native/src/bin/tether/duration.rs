//! Durations as people write them (`250ms`, `1.5s`, `30s`, `2m`, `1h`; a bare number is
//! seconds) and as the program prints them.

use std::fmt;
use std::time::Duration;

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadDuration(pub(crate) String);

impl fmt::Display for BadDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadDuration {}

/// Parses `text`: a non-negative decimal number and an optional unit — `ms`, `s`, `m` (or
/// `min`), `h` — seconds when there is none.
pub(crate) fn parse(text: &str) -> Result<Duration, BadDuration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(BadDuration(format!(
                "`{text}` is not a duration: unknown unit `{unit}` (use ms, s, m or h, e.g. 250ms, 30s)"
            )));
        }
    };
    let value: f64 = number.parse().map_err(|_| {
        BadDuration(format!(
            "`{text}` is not a duration (write a number and a unit, e.g. 250ms, 1.5s, 2m)"
        ))
    })?;
    seconds(value * scale).map_err(|reason| BadDuration(format!("`{text}`: {reason}")))
}

/// `value` seconds, refused when negative, not finite or longer than a year.
pub(crate) fn seconds(value: f64) -> Result<Duration, String> {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    if value.is_nan() || value.is_infinite() {
        return Err("a duration must be a finite number".to_owned());
    }
    if value < 0.0 {
        return Err(format!("a duration must not be negative, got {value}"));
    }
    if value > YEAR {
        return Err(format!("{value} s is longer than a year"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// A duration for people (`850µs`, `12.5ms`, `2.0s`, `3m05s`), the way decision traces
/// print it.
pub(crate) use tether_native::tether_core::HumanDuration as Human;

/// Milliseconds as a float, for JSON.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(" 30 s "), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("8"), Ok(Duration::from_secs(8)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "s",
            "-5s",
            "-1",
            "5 parsecs",
            "1e400",
            "nan",
            "400d",
            "9999999h",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.0.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
        assert!(parse("-5s").unwrap_err().0.contains("negative"));
        assert!(parse("5 parsecs").unwrap_err().0.contains("unknown unit"));
    }
}
