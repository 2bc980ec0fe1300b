//! Byte-exact reproductions of the original `MetricsExporter` formats (`docs/compat.md`), for the
//! Python layer's `export_metrics(metrics, 'prometheus' | 'influxdb')`.
//!
//! Both take the original's snapshot shape (`{"timestamp", "system": {...}, "services":
//! {"service_clients": {name: {...}}}, "health": {...}}`) as a [`serde_json::Value`] and write
//! values the way Python's `str()` does (`2`, `0.0`, `99.5`, `1e-06`, `True`, `None`). The
//! original's defects are kept on purpose: HELP and TYPE repeated per service, nothing escaped,
//! no trailing newline, Influx integers without `i`.
//!
//! **Service order.** The original iterates services in registry order. Without serde_json's
//! `preserve_order` feature a JSON object's keys come out sorted, so callers that need registry
//! order should pass `service_clients` as an array of `[name, metrics]` pairs (also accepted), or
//! enable that feature.

use serde_json::Value;

use super::python::{py_str, python_float_repr as py_float_repr};

/// `d.get(key, 0)` written with `str()`; a non-object `d` behaves like `{}`.
fn get_or_zero(d: Option<&Value>, key: &str) -> String {
    d.and_then(|d| d.as_object())
        .and_then(|m| m.get(key))
        .map_or_else(|| "0".to_owned(), py_str)
}

/// `metrics.get('services', {}).get('service_clients', {})` as ordered `(name, data)` pairs.
fn service_clients(metrics: &Value) -> Vec<(String, &Value)> {
    let Some(clients) = metrics
        .get("services")
        .and_then(|s| s.as_object())
        .and_then(|s| s.get("service_clients"))
    else {
        return Vec::new();
    };
    match clients {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(pairs) => pairs
            .iter()
            .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                Some([name, data]) => Some((py_str(name), data)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The original Prometheus text, byte for byte: 9 system lines plus 9 lines per
/// service (HELP and TYPE repeated), joined with `\n`, **no trailing newline**, nothing escaped.
/// Serve it as `text/plain; charset=utf-8` as the original did.
pub fn compat_prometheus(metrics: &Value) -> String {
    let system = metrics.get("system");
    let mut lines: Vec<String> = Vec::new();
    for (name, help) in [
        ("system_cpu_percent", "CPU usage percentage"),
        ("system_memory_percent", "Memory usage percentage"),
        ("system_disk_usage_percent", "Disk usage percentage"),
    ] {
        let key = name.trim_start_matches("system_");
        lines.push(format!("# HELP {name} {help}"));
        lines.push(format!("# TYPE {name} gauge"));
        lines.push(format!("{name} {}", get_or_zero(system, key)));
    }
    for (s, data) in service_clients(metrics) {
        let data = Some(data);
        lines.push(format!(
            "# HELP service_requests_total Total requests for {s}"
        ));
        lines.push("# TYPE service_requests_total counter".to_owned());
        lines.push(format!(
            "service_requests_total{{service=\"{s}\"}} {}",
            get_or_zero(data, "total_requests")
        ));
        lines.push(format!(
            "# HELP service_response_time_seconds Response time for {s}"
        ));
        lines.push("# TYPE service_response_time_seconds gauge".to_owned());
        lines.push(format!(
            "service_response_time_seconds{{service=\"{s}\"}} {}",
            get_or_zero(data, "average_response_time")
        ));
        lines.push(format!("# HELP service_success_rate Success rate for {s}"));
        lines.push("# TYPE service_success_rate gauge".to_owned());
        lines.push(format!(
            "service_success_rate{{service=\"{s}\"}} {}",
            get_or_zero(data, "success_rate")
        ));
    }
    lines.join("\n")
}

/// The original Influx lines, byte for byte, as a **list** like the original.
///
/// `timestamp_unix_seconds` is what the original computes from `metrics['timestamp']`:
/// `datetime.fromisoformat(ts).timestamp()` (naive local time, so the Python layer computes it;
/// it raises `KeyError` itself when the key is missing). The nanoseconds are then
/// `int(seconds * 1e9)`, through a float exactly as the original (so the last digits are not
/// exact).
pub fn compat_influx(metrics: &Value, timestamp_unix_seconds: f64) -> Vec<String> {
    let ns = py_int_of_float(timestamp_unix_seconds * 1e9);
    let system = metrics.get("system");
    let mut lines = vec![format!(
        "system_metrics cpu_percent={},memory_percent={},disk_usage_percent={} {ns}",
        get_or_zero(system, "cpu_percent"),
        get_or_zero(system, "memory_percent"),
        get_or_zero(system, "disk_usage_percent"),
    )];
    for (s, data) in service_clients(metrics) {
        let data = Some(data);
        lines.push(format!(
            "service_metrics,service={s} total_requests={},success_rate={},avg_response_time={} {ns}",
            get_or_zero(data, "total_requests"),
            get_or_zero(data, "success_rate"),
            get_or_zero(data, "average_response_time"),
        ));
    }
    lines
}

/// Python's `int(x)` for a float: truncation toward zero, exact (no rounding through decimal).
fn py_int_of_float(x: f64) -> String {
    if !x.is_finite() {
        // Python raises here; the core never panics, so write the float repr instead.
        return py_float_repr(x);
    }
    let t = x.trunc();
    if t.abs() < 9.2e18 {
        (t as i64).to_string()
    } else {
        // Beyond i64 an f64 is an integer; print it exactly via u128/i128.
        if t < 0.0 {
            format!("-{}", (-t) as u128)
        } else {
            (t as u128).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prometheus_matches_the_original_template_for_one_service() {
        let m = json!({
            "timestamp": "2026-11-26T18:37:27.077308",
            "system": {"cpu_percent": 99.5, "memory_percent": 41.0, "disk_usage_percent": 1e-06,
                       "network_io": {}, "process_count": 3},
            "services": {"service_clients": {"data-service": {
                "service": "data-service", "total_requests": 2, "successful_requests": 2,
                "failed_requests": 0, "success_rate": 1.0,
                "average_response_time": 0.025_758_743_286_132_812}}, "global_health": {}},
            "health": {}
        });
        let want = "# HELP system_cpu_percent CPU usage percentage\n\
# TYPE system_cpu_percent gauge\n\
system_cpu_percent 99.5\n\
# HELP system_memory_percent Memory usage percentage\n\
# TYPE system_memory_percent gauge\n\
system_memory_percent 41.0\n\
# HELP system_disk_usage_percent Disk usage percentage\n\
# TYPE system_disk_usage_percent gauge\n\
system_disk_usage_percent 1e-06\n\
# HELP service_requests_total Total requests for data-service\n\
# TYPE service_requests_total counter\n\
service_requests_total{service=\"data-service\"} 2\n\
# HELP service_response_time_seconds Response time for data-service\n\
# TYPE service_response_time_seconds gauge\n\
service_response_time_seconds{service=\"data-service\"} 0.025758743286132812\n\
# HELP service_success_rate Success rate for data-service\n\
# TYPE service_success_rate gauge\n\
service_success_rate{service=\"data-service\"} 1.0";
        assert_eq!(compat_prometheus(&m), want);
    }

    #[test]
    fn prometheus_defaults_and_empty_registry() {
        let t = compat_prometheus(&json!({"services": {}}));
        assert_eq!(t.lines().count(), 9);
        assert!(!t.ends_with('\n'));
        assert!(t.contains("system_cpu_percent 0\n"));
        assert!(t.ends_with("system_disk_usage_percent 0"));
        // missing service fields default to 0; pairs keep the given order; HELP repeats
        let t = compat_prometheus(&json!({"services": {"service_clients": [
            ["zz", {"total_requests": 1}], ["aa", {}]]}}));
        assert_eq!(t.lines().count(), 27);
        assert_eq!(t.matches("# HELP service_requests_total").count(), 2);
        let zz = t.find("Total requests for zz").unwrap();
        let aa = t.find("Total requests for aa").unwrap();
        assert!(zz < aa);
        assert!(t.ends_with("service_success_rate{service=\"aa\"} 0"));
    }

    #[test]
    fn influx_matches_original() {
        let m = json!({
            "system": {"cpu_percent": 12.0, "memory_percent": 50.5, "disk_usage_percent": 70.25},
            "services": {"service_clients": {"svc a": {
                "total_requests": 10, "success_rate": 0.5, "average_response_time": 1e-05}}}
        });
        // 1795717879.50988 s -> int(x * 1e9) through a float, as the original computes it
        let lines = compat_influx(&m, 1_795_717_879.509_88);
        assert_eq!(
            lines,
            vec![
                "system_metrics cpu_percent=12.0,memory_percent=50.5,disk_usage_percent=70.25 1795717879509880064".to_owned(),
                "service_metrics,service=svc a total_requests=10,success_rate=0.5,avg_response_time=1e-05 1795717879509880064".to_owned(),
            ]
        );
        let lines = compat_influx(&json!({}), 0.0);
        assert_eq!(
            lines,
            vec!["system_metrics cpu_percent=0,memory_percent=0,disk_usage_percent=0 0"]
        );
        assert_eq!(py_int_of_float(-1.9), "-1");
        assert_eq!(py_int_of_float(1e19), "10000000000000000000");
        assert_eq!(py_int_of_float(f64::NAN), "nan");
    }
}
