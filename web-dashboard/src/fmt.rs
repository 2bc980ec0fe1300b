//! Numbers as the panels show them.

/// A percentage with one decimal: `12.5 %`. `—` for a value that is not a number.
pub fn percent(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1} %")
    } else {
        "—".to_owned()
    }
}

/// A duration given in seconds, in the unit that reads best: `0.42 ms`, `3.4 ms`, `250 ms`,
/// `1.25 s`. `—` for a value that is not a number (the original showed `NaNms`).
pub fn seconds(value: f64) -> String {
    if !value.is_finite() || value < 0.0 {
        return "—".to_owned();
    }
    millis(value * 1000.0)
}

/// A duration given in milliseconds (see [`seconds`]).
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "—".to_owned()
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// A byte count: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A count with thin groups: `1 234 567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// `n thing` or `n things`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(seconds(0.000_42), "0.42 ms");
        assert_eq!(seconds(0.0034), "3.4 ms");
        assert_eq!(seconds(0.25), "250 ms");
        assert_eq!(seconds(1.25), "1.25 s");
        assert_eq!(seconds(f64::NAN), "—");
        assert_eq!(seconds(-1.0), "—");
        assert_eq!(millis(999.4), "999 ms");
    }

    #[test]
    fn sizes_counts_and_percentages() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
        assert_eq!(count(0), "0");
        assert_eq!(count(1234), "1\u{202f}234");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(plural(1, "error", "errors"), "1 error");
        assert_eq!(plural(2, "error", "errors"), "2 errors");
        assert_eq!(percent(99.96), "100.0 %");
        assert_eq!(percent(f64::INFINITY), "—");
    }
}
