//! Prometheus text exposition format 0.0.4.
//!
//! Exactly one `# HELP` and one `# TYPE` line per family, all samples of a family together,
//! counters named `*_total`, label values escaped (`\\`, `\"`, `\n`), HELP text escaped (`\\`,
//! `\n`), metric and label names sanitized, floats as Prometheus parses them (`+Inf`, `-Inf`,
//! `NaN`), and a trailing newline. Families with no samples are left out entirely.
//!
//! Families (the original's names are kept where they existed):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `system_cpu_percent`, `system_memory_percent`, `system_disk_usage_percent`, `system_processes` | gauge | |
//! | `system_network_{bytes,packets}_{sent,recv}_total` | counter | |
//! | `service_requests_total` | counter | `service` |
//! | `service_response_time_seconds` (mean), `service_success_rate` (only once a request completed) | gauge | `service` |
//! | `tether_requests_in_flight` | gauge | `service` |
//! | `tether_attempts_total`, `tether_attempt_failures_total`, `tether_retries_total` | counter | `service` |
//! | `tether_failures_total` | counter | `service`, `category` |
//! | `tether_errors_total` | counter | `service`, `error` |
//! | `tether_request_duration_seconds` | histogram | `service`, `le` |
//! | `tether_cache_{hits,misses,stale,revalidated,bypass}_total` | counter | `service` |
//! | `tether_cache_entries`, `tether_cache_bytes` | gauge | |
//! | `tether_cache_evictions_total` | counter | |
//! | `tether_breaker_state` (1 for the current state, 0 for the others) | gauge | `service`, `state` |
//! | `tether_breaker_consecutive_failures` | gauge | `service` |
//! | `tether_breaker_transitions_total` | counter | `service`, `to` |
//! | `tether_health_up`, `tether_health_check_duration_seconds` | gauge | `service` |
//! | `tether_alerts_firing` | gauge | |

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{CacheInfo, ExportError, ExportSnapshot, Exporter};
use crate::ConfigError;
use crate::metrics::ServiceSnapshot;

/// The exposition content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Default `le` bounds of `tether_request_duration_seconds` (seconds): 5 ms … 10 s, 30 s, 60 s.
pub const DEFAULT_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The Prometheus exporter, with its histogram bucket bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct PrometheusExporter {
    buckets: Vec<f64>,
}

impl Default for PrometheusExporter {
    fn default() -> Self {
        PrometheusExporter {
            buckets: DEFAULT_BUCKETS.to_vec(),
        }
    }
}

impl PrometheusExporter {
    /// An exporter with custom bucket bounds (seconds): finite, positive, strictly increasing.
    /// `+Inf` is always added.
    pub fn new(buckets: Vec<f64>) -> Result<Self, ConfigError> {
        if buckets.iter().any(|b| !b.is_finite() || *b <= 0.0) {
            return Err(ConfigError::invalid(
                "export.prometheus.buckets",
                "must be finite and positive",
            ));
        }
        if buckets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ConfigError::invalid(
                "export.prometheus.buckets",
                "must be strictly increasing",
            ));
        }
        Ok(PrometheusExporter { buckets })
    }

    /// The `le` bounds in use (without `+Inf`).
    pub fn buckets(&self) -> &[f64] {
        &self.buckets
    }
}

/// Formats a float the way Prometheus parses it: `+Inf`, `-Inf`, `NaN`, else the shortest
/// round-trip decimal (exponent form outside `[1e-5, 1e15)`).
pub(super) fn fmt_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x == f64::INFINITY {
        "+Inf".to_owned()
    } else if x == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        plain_float(x)
    }
}

/// Shortest round-trip decimal of a finite float; exponent form (`1.5e-7`, `2e+20`) outside
/// `[1e-5, 1e15)`. Accepted by Prometheus and InfluxDB parsers alike.
pub(super) fn plain_float(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude == 0.0 || (1e-5..1e15).contains(&magnitude) {
        format!("{x}")
    } else {
        let sci = format!("{x:e}");
        match sci.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => sci,
        }
    }
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(super) fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: `\` → `\\`, newline → `\n`.
pub(super) fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Makes a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (invalid characters become `_`).
pub(super) fn sanitize_metric_name(name: &str) -> String {
    sanitize(name, true)
}

/// Makes a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(super) fn sanitize_label_name(name: &str) -> String {
    sanitize(name, false)
}

fn sanitize(name: &str, colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else if ok || c.is_ascii_digit() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

enum Value {
    Int(u64),
    Float(f64),
}

/// Samples of one family, buffered so the header is written only if there is a sample.
struct Samples {
    name: String,
    body: String,
}

impl Samples {
    fn push(&mut self, suffix: &str, labels: &[(&str, &str)], value: &Value) {
        self.body.push_str(&self.name);
        self.body.push_str(suffix);
        if !labels.is_empty() {
            self.body.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.body.push(',');
                }
                self.body.push_str(&sanitize_label_name(k));
                self.body.push_str("=\"");
                self.body.push_str(&escape_label_value(v));
                self.body.push('"');
            }
            self.body.push('}');
        }
        self.body.push(' ');
        match value {
            Value::Int(n) => {
                let _ = write!(self.body, "{n}");
            }
            Value::Float(x) => self.body.push_str(&fmt_float(*x)),
        }
        self.body.push('\n');
    }

    fn int(&mut self, labels: &[(&str, &str)], v: u64) {
        self.push("", labels, &Value::Int(v));
    }

    fn float(&mut self, labels: &[(&str, &str)], v: f64) {
        self.push("", labels, &Value::Float(v));
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: Kind, f: impl FnOnce(&mut Samples)) {
    let mut s = Samples {
        name: sanitize_metric_name(name),
        body: String::new(),
    };
    f(&mut s);
    if s.body.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {} {}", s.name, escape_help(help));
    let _ = writeln!(out, "# TYPE {} {}", s.name, kind.as_str());
    out.push_str(&s.body);
}

/// First occurrence of each name, in order (duplicate series would make the output invalid).
fn unique<'a, T>(items: impl Iterator<Item = (&'a str, &'a T)>) -> Vec<(&'a str, &'a T)>
where
    T: 'a,
{
    let mut seen = BTreeSet::new();
    items.filter(|(n, _)| seen.insert(*n)).collect()
}

const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];

/// One value per service: name, help, type, and how to read it (`None`: no sample).
type PerService = (
    &'static str,
    &'static str,
    Kind,
    fn(&ServiceSnapshot) -> Option<Value>,
);

/// Request and attempt counters, in output order.
const REQUEST_FAMILIES: [PerService; 7] = [
    (
        "service_requests_total",
        "Total logical requests per service.",
        Kind::Counter,
        |s| Some(Value::Int(s.total_requests)),
    ),
    (
        "service_response_time_seconds",
        "Mean response time of completed logical requests per service, in seconds.",
        Kind::Gauge,
        |s| (s.completed_requests() > 0).then_some(Value::Float(s.average_response_time)),
    ),
    (
        "service_success_rate",
        "Share of completed logical requests that succeeded per service (0 to 1).",
        Kind::Gauge,
        |s| (s.completed_requests() > 0).then_some(Value::Float(s.success_rate)),
    ),
    (
        "tether_requests_in_flight",
        "Logical requests started but not yet ended.",
        Kind::Gauge,
        |s| Some(Value::Int(s.in_flight)),
    ),
    (
        "tether_attempts_total",
        "Attempts sent (each retry is one more attempt).",
        Kind::Counter,
        |s| Some(Value::Int(s.attempts)),
    ),
    (
        "tether_attempt_failures_total",
        "Attempts classified as failures.",
        Kind::Counter,
        |s| Some(Value::Int(s.failed_attempts)),
    ),
    (
        "tether_retries_total",
        "Retries performed.",
        Kind::Counter,
        |s| Some(Value::Int(s.retries)),
    ),
];

/// Cache outcomes of logical requests, in output order.
const CACHE_FAMILIES: [PerService; 5] = [
    (
        "tether_cache_hits_total",
        "Logical requests served fresh from the cache.",
        Kind::Counter,
        |s| Some(Value::Int(s.cache.hits)),
    ),
    (
        "tether_cache_misses_total",
        "Cacheable logical requests fetched upstream.",
        Kind::Counter,
        |s| Some(Value::Int(s.cache.misses)),
    ),
    (
        "tether_cache_stale_total",
        "Logical requests served stale from the cache.",
        Kind::Counter,
        |s| Some(Value::Int(s.cache.stale)),
    ),
    (
        "tether_cache_revalidated_total",
        "Cache entries revalidated upstream (304).",
        Kind::Counter,
        |s| Some(Value::Int(s.cache.revalidated)),
    ),
    (
        "tether_cache_bypass_total",
        "Logical requests the cache did not take part in.",
        Kind::Counter,
        |s| Some(Value::Int(s.cache.bypass)),
    ),
];

type Services<'a> = [(&'a str, &'a ServiceSnapshot)];

fn per_service(out: &mut String, services: &Services<'_>, families: &[PerService]) {
    for (name, help, kind, get) in families {
        family(out, name, help, *kind, |s| {
            for (svc, snap) in services {
                if let Some(v) = get(snap) {
                    s.push("", &[("service", svc)], &v);
                }
            }
        });
    }
}

/// Failed requests by category and failed attempts by error name.
fn write_failures(out: &mut String, services: &Services<'_>) {
    family(
        out,
        "tether_failures_total",
        "Failed logical requests by failure category.",
        Kind::Counter,
        |s| {
            for (svc, snap) in services {
                for (category, n) in &snap.failures_by_category {
                    s.int(&[("service", svc), ("category", category.as_str())], *n);
                }
            }
        },
    );
    family(
        out,
        "tether_errors_total",
        "Failed attempts and policy rejections by error name.",
        Kind::Counter,
        |s| {
            for (svc, snap) in services {
                for (error, n) in snap.error_counts.iter() {
                    s.int(&[("service", svc), ("error", error)], n);
                }
            }
        },
    );
}

/// The response cache's occupancy, if it is enabled.
fn write_cache_store(out: &mut String, cache: Option<&CacheInfo>) {
    let Some(cache) = cache else { return };
    let gauges: [(&str, &str, Kind, u64); 3] = [
        (
            "tether_cache_entries",
            "Entries in the response cache.",
            Kind::Gauge,
            cache.entries,
        ),
        (
            "tether_cache_bytes",
            "Bytes stored in the response cache.",
            Kind::Gauge,
            cache.bytes,
        ),
        (
            "tether_cache_evictions_total",
            "Entries evicted from the response cache.",
            Kind::Counter,
            cache.evictions,
        ),
    ];
    for (name, help, kind, v) in gauges {
        family(out, name, help, kind, |s| s.int(&[], v));
    }
}

fn write_breakers(out: &mut String, snap: &ExportSnapshot, services: &Services<'_>) {
    let breakers = unique(snap.breakers.iter().map(|b| (b.service.as_str(), b)));
    family(
        out,
        "tether_breaker_state",
        "Circuit breaker state: 1 for the current state, 0 for the others.",
        Kind::Gauge,
        |s| {
            for (svc, b) in &breakers {
                let current = b.state.to_ascii_lowercase();
                for state in BREAKER_STATES {
                    s.int(
                        &[("service", svc), ("state", state)],
                        u64::from(current == state),
                    );
                }
                if !BREAKER_STATES.contains(&current.as_str()) {
                    s.int(&[("service", svc), ("state", &current)], 1);
                }
            }
        },
    );
    family(
        out,
        "tether_breaker_consecutive_failures",
        "Failures currently counted by the circuit breaker.",
        Kind::Gauge,
        |s| {
            for (svc, b) in &breakers {
                s.int(&[("service", svc)], b.failure_count);
            }
        },
    );
    family(
        out,
        "tether_breaker_transitions_total",
        "Circuit breaker transitions by target state.",
        Kind::Counter,
        |s| {
            for (svc, snap) in services {
                for (to, n) in snap.breaker_transitions.iter() {
                    s.int(&[("service", svc), ("to", to)], n);
                }
            }
        },
    );
}

fn write_health_and_alerts(out: &mut String, snap: &ExportSnapshot) {
    let health = unique(snap.health.iter().map(|h| (h.service.as_str(), h)));
    family(
        out,
        "tether_health_up",
        "1 if the latest health check found the service healthy or degraded, else 0.",
        Kind::Gauge,
        |s| {
            for (svc, h) in &health {
                s.int(&[("service", svc)], u64::from(h.is_up()));
            }
        },
    );
    family(
        out,
        "tether_health_check_duration_seconds",
        "Duration of the latest health check, in seconds.",
        Kind::Gauge,
        |s| {
            for (svc, h) in &health {
                if let Some(t) = h.response_time_seconds {
                    s.float(&[("service", svc)], t);
                }
            }
        },
    );
    family(
        out,
        "tether_alerts_firing",
        "Alerts currently firing.",
        Kind::Gauge,
        |s| s.int(&[], u64::from(snap.alerts_firing)),
    );
}

impl PrometheusExporter {
    /// Logical-request durations as a histogram over the configured buckets.
    fn write_durations(&self, out: &mut String, services: &Services<'_>) {
        family(
            out,
            "tether_request_duration_seconds",
            "Duration of logical requests, including retries and backoff, in seconds.",
            Kind::Histogram,
            |s| {
                let les: Vec<String> = self.buckets.iter().map(|b| fmt_float(*b)).collect();
                for (svc, snap) in services {
                    let h = &snap.latency;
                    let cumulative = h.cumulative_at(&self.buckets);
                    for (le, c) in les.iter().zip(cumulative) {
                        s.push("_bucket", &[("service", svc), ("le", le)], &Value::Int(c));
                    }
                    let count = Value::Int(h.count());
                    s.push("_bucket", &[("service", svc), ("le", "+Inf")], &count);
                    let sum = Value::Float(h.sum().as_secs_f64());
                    s.push("_sum", &[("service", svc)], &sum);
                    s.push("_count", &[("service", svc)], &count);
                }
            },
        );
    }
}

impl Exporter for PrometheusExporter {
    fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    fn export(&self, snap: &ExportSnapshot, out: &mut String) -> Result<(), ExportError> {
        write_system(snap, out);
        let services = unique(snap.metrics.services.iter().map(|(n, s)| (n.as_str(), s)));
        per_service(out, &services, &REQUEST_FAMILIES);
        write_failures(out, &services);
        self.write_durations(out, &services);
        per_service(out, &services, &CACHE_FAMILIES);
        write_cache_store(out, snap.cache.as_ref());
        write_breakers(out, snap, &services);
        write_health_and_alerts(out, snap);
        Ok(())
    }
}

fn write_system(snap: &ExportSnapshot, out: &mut String) {
    let Some(sys) = &snap.system else { return };
    family(
        out,
        "system_cpu_percent",
        "CPU usage percentage",
        Kind::Gauge,
        |s| s.float(&[], sys.cpu_percent),
    );
    family(
        out,
        "system_memory_percent",
        "Memory usage percentage",
        Kind::Gauge,
        |s| s.float(&[], sys.memory_percent),
    );
    family(
        out,
        "system_disk_usage_percent",
        "Disk usage percentage",
        Kind::Gauge,
        |s| s.float(&[], sys.disk_usage_percent),
    );
    family(
        out,
        "system_processes",
        "Number of processes on the host.",
        Kind::Gauge,
        |s| s.int(&[], sys.process_count),
    );
    if let Some(net) = &sys.network_io {
        family(
            out,
            "system_network_bytes_sent_total",
            "Bytes sent by the host since boot.",
            Kind::Counter,
            |s| s.int(&[], net.bytes_sent),
        );
        family(
            out,
            "system_network_bytes_recv_total",
            "Bytes received by the host since boot.",
            Kind::Counter,
            |s| s.int(&[], net.bytes_recv),
        );
        family(
            out,
            "system_network_packets_sent_total",
            "Packets sent by the host since boot.",
            Kind::Counter,
            |s| s.int(&[], net.packets_sent),
        );
        family(
            out,
            "system_network_packets_recv_total",
            "Packets received by the host since boot.",
            Kind::Counter,
            |s| s.int(&[], net.packets_recv),
        );
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are intended
mod tests {
    use super::*;
    use crate::export::{BreakerInfo, Format, export, sample_snapshot};

    fn text() -> String {
        export(Format::Prometheus, &sample_snapshot()).unwrap()
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x\\y\nz\"q"), "x\\\\y\\nz\"q");
        assert_eq!(sanitize_metric_name("9a-b:c"), "_9a_b:c");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_metric_name(""), "_");
        let t = text();
        assert!(
            t.contains("service_requests_total{service=\"a\\\"b\\\\c\"} 1\n"),
            "{t}"
        );
        assert!(!t.contains("a\"b\\c\""));
    }

    #[test]
    fn floats() {
        assert_eq!(fmt_float(f64::NAN), "NaN");
        assert_eq!(fmt_float(f64::INFINITY), "+Inf");
        assert_eq!(fmt_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(fmt_float(0.005), "0.005");
        assert_eq!(fmt_float(1.0), "1");
        assert_eq!(fmt_float(0.0), "0");
        assert_eq!(fmt_float(1.5e-7), "1.5e-7");
        assert_eq!(fmt_float(2e20), "2e+20");
        assert_eq!(fmt_float(-0.25), "-0.25");
        for x in [
            1.5e-7,
            2e20,
            0.1,
            123.456,
            9.536_743_164_062_5e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(fmt_float(x).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn one_help_and_type_per_family() {
        let t = text();
        assert!(t.ends_with('\n'));
        let mut helps = BTreeSet::new();
        let mut types = BTreeSet::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(helps.insert(name.to_owned()), "HELP repeated for {name}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(types.insert(name.to_owned()), "TYPE repeated for {name}");
            }
        }
        assert_eq!(helps, types);
        assert!(helps.contains("service_requests_total"));
        assert_eq!(t.matches("service_requests_total{").count(), 3);
        // every sample belongs to the family declared just before it (families contiguous)
        let mut current = String::new();
        let mut closed = BTreeSet::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                closed.insert(std::mem::take(&mut current));
                current = rest.split(' ').next().unwrap().to_owned();
                assert!(!closed.contains(&current));
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
                    .unwrap_or(name);
                assert_eq!(base, current, "sample {line} outside its family");
            }
        }
    }

    #[test]
    fn counters_end_in_total() {
        let t = text();
        for line in t.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line[7..].split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        }
    }

    #[test]
    fn histogram_buckets_cumulative_monotone_and_inf_is_count() {
        let t = text();
        let svc = "service=\"alpha\"";
        let mut last = 0u64;
        let mut n = 0;
        let mut inf = None;
        for line in t
            .lines()
            .filter(|l| l.starts_with("tether_request_duration_seconds_bucket{") && l.contains(svc))
        {
            let v: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(v >= last, "not monotone: {line}");
            last = v;
            n += 1;
            if line.contains("le=\"+Inf\"") {
                inf = Some(v);
            }
        }
        assert_eq!(n, DEFAULT_BUCKETS.len() + 1);
        let count_line = t
            .lines()
            .find(|l| l.starts_with("tether_request_duration_seconds_count{") && l.contains(svc))
            .unwrap();
        let count: u64 = count_line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(inf, Some(count));
        assert!(count > 0);
        assert!(
            t.contains("tether_request_duration_seconds_bucket{service=\"alpha\",le=\"0.005\"} ")
        );
    }

    #[test]
    fn breaker_stateset_and_other_families() {
        let t = text();
        assert!(
            t.contains("tether_breaker_state{service=\"beta-svc\",state=\"open\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("tether_breaker_state{service=\"beta-svc\",state=\"closed\"} 0\n"));
        assert!(t.contains("tether_breaker_state{service=\"alpha\",state=\"closed\"} 1\n"));
        assert!(t.contains("tether_alerts_firing 2\n"));
        assert!(t.contains("tether_health_up{service=\"beta-svc\"} 0\n"));
        assert!(t.contains("tether_failures_total{service=\"beta-svc\",category=\"status_5xx\"} "));
        assert!(t.contains("system_cpu_percent 12.5\n"));
        assert!(t.contains("# TYPE service_requests_total counter\n"));
        // a breaker listed twice yields one series set
        let mut snap = sample_snapshot();
        snap.breakers.push(BreakerInfo {
            service: "alpha".into(),
            state: "weird state".into(),
            failure_count: 9,
        });
        let t2 = export(Format::Prometheus, &snap).unwrap();
        assert_eq!(
            t2.matches("tether_breaker_state{service=\"alpha\",")
                .count(),
            3
        );
        assert!(!t2.contains("weird"));
    }

    #[test]
    fn empty_snapshot_is_minimal() {
        let t = export(Format::Prometheus, &ExportSnapshot::default()).unwrap();
        assert_eq!(
            t,
            "# HELP tether_alerts_firing Alerts currently firing.\n# TYPE tether_alerts_firing gauge\ntether_alerts_firing 0\n"
        );
    }

    #[test]
    fn custom_buckets_are_validated() {
        assert!(PrometheusExporter::new(vec![0.1, 0.1]).is_err());
        assert!(PrometheusExporter::new(vec![f64::NAN]).is_err());
        assert!(PrometheusExporter::new(vec![-1.0]).is_err());
        let e = PrometheusExporter::new(vec![0.5, 2.0]).unwrap();
        assert_eq!(e.buckets(), &[0.5, 2.0]);
        let mut out = String::new();
        e.export(&sample_snapshot(), &mut out).unwrap();
        assert!(out.contains("le=\"0.5\""));
        assert!(!out.contains("le=\"0.005\""));
    }
}
