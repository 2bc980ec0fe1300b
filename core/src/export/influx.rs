//! InfluxDB line protocol.
//!
//! ```text
//! measurement[,tag=value…] field=value[,field=value…] timestamp_ns
//! ```
//!
//! * Measurement names escape `,` and space; tag keys, tag values and field keys escape `,`, `=`
//!   and space. Tab, CR, LF and form feed are written as `\t`, `\r`, `\n`, `\f` (a raw newline
//!   would end the line), and trailing backslashes are dropped (they would escape the separator).
//!   An empty tag value leaves the tag out.
//! * String field values escape `"` and `\`; control characters become spaces.
//! * Integers carry the `i` suffix (clamped to `i64::MAX`); floats are the shortest round-trip
//!   decimal; NaN and ±∞ fields are skipped; a line left with no field is skipped.
//! * The timestamp is the exact integer [`WallClock::as_unix_nanos`] of the snapshot.
//!
//! Measurements: `system_metrics`, `service_metrics` (tag `service`; the original's fields
//! `total_requests`, `success_rate`, `avg_response_time` plus new ones), `breaker_metrics`,
//! `cache_metrics`, `health_metrics`, `alert_metrics`.
//!
//! [`WallClock::as_unix_nanos`]: crate::WallClock::as_unix_nanos

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::prometheus::plain_float;
use super::{ExportError, ExportSnapshot, Exporter};

/// Content type of line protocol text.
pub(super) const CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The InfluxDB line-protocol exporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct InfluxExporter;

fn escape_with(v: &str, specials: &[char]) -> String {
    let v = v.trim_end_matches('\\');
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0c' => out.push_str("\\f"),
            c if specials.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes a measurement name (`,` and space).
pub(super) fn escape_measurement(v: &str) -> String {
    escape_with(v, &[',', ' '])
}

/// Escapes a tag key, tag value or field key (`,`, `=`, space).
pub(super) fn escape_key(v: &str) -> String {
    escape_with(v, &[',', '=', ' '])
}

/// Escapes a string field value (`"` and `\`), without the surrounding quotes.
pub(super) fn escape_field_string(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One line being built.
struct Line {
    buf: String,
    fields: usize,
}

impl Line {
    fn new(measurement: &str, tags: &[(&str, &str)]) -> Self {
        let mut buf = escape_measurement(measurement);
        let mut tags: Vec<_> = tags
            .iter()
            .filter(|(_, v)| !escape_key(v).is_empty())
            .collect();
        tags.sort_by_key(|(k, _)| *k);
        for (k, v) in tags {
            buf.push(',');
            buf.push_str(&escape_key(k));
            buf.push('=');
            buf.push_str(&escape_key(v));
        }
        buf.push(' ');
        Line { buf, fields: 0 }
    }

    fn key(&mut self, key: &str) {
        if self.fields > 0 {
            self.buf.push(',');
        }
        self.fields += 1;
        self.buf.push_str(&escape_key(key));
        self.buf.push('=');
    }

    fn int(&mut self, key: &str, v: u64) -> &mut Self {
        self.key(key);
        let v = v.min(i64::MAX as u64);
        let _ = write!(self.buf, "{v}i");
        self
    }

    fn float(&mut self, key: &str, v: f64) -> &mut Self {
        if v.is_finite() {
            self.key(key);
            self.buf.push_str(&plain_float(v));
        }
        self
    }

    fn opt_float(&mut self, key: &str, v: Option<f64>) -> &mut Self {
        if let Some(v) = v {
            self.float(key, v);
        }
        self
    }

    fn string(&mut self, key: &str, v: &str) -> &mut Self {
        self.key(key);
        self.buf.push('"');
        self.buf.push_str(&escape_field_string(v));
        self.buf.push('"');
        self
    }

    fn boolean(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key);
        self.buf.push_str(if v { "true" } else { "false" });
        self
    }

    fn finish(self, ts: u128, out: &mut String) {
        if self.fields == 0 {
            return;
        }
        out.push_str(&self.buf);
        let _ = writeln!(out, " {ts}");
    }
}

impl Exporter for InfluxExporter {
    fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    fn export(&self, snap: &ExportSnapshot, out: &mut String) -> Result<(), ExportError> {
        let ts = snap.timestamp.as_unix_nanos();

        if let Some(sys) = &snap.system {
            let mut l = Line::new("system_metrics", &[]);
            l.float("cpu_percent", sys.cpu_percent)
                .float("memory_percent", sys.memory_percent)
                .float("disk_usage_percent", sys.disk_usage_percent)
                .int("process_count", sys.process_count);
            if let Some(net) = &sys.network_io {
                l.int("bytes_sent", net.bytes_sent)
                    .int("bytes_recv", net.bytes_recv)
                    .int("packets_sent", net.packets_sent)
                    .int("packets_recv", net.packets_recv);
            }
            l.finish(ts, out);
        }

        let mut seen = BTreeSet::new();
        for (name, s) in &snap.metrics.services {
            if !seen.insert(name.as_str()) {
                continue;
            }
            let mut l = Line::new("service_metrics", &[("service", name)]);
            l.int("total_requests", s.total_requests);
            if s.completed_requests() > 0 {
                l.float("success_rate", s.success_rate)
                    .float("avg_response_time", s.average_response_time)
                    .float("min_response_time", s.min_response_time)
                    .float("max_response_time", s.max_response_time);
            }
            l.int("successful_requests", s.successful_requests)
                .int("failed_requests", s.failed_requests)
                .int("in_flight", s.in_flight)
                .int("attempts", s.attempts)
                .int("failed_attempts", s.failed_attempts)
                .int("retries", s.retries)
                .float("total_response_time", s.total_response_time)
                .opt_float("p50_response_time", s.p50_response_time)
                .opt_float("p90_response_time", s.p90_response_time)
                .opt_float("p95_response_time", s.p95_response_time)
                .opt_float("p99_response_time", s.p99_response_time)
                .int("cache_hits", s.cache.hits)
                .int("cache_misses", s.cache.misses)
                .int("cache_stale", s.cache.stale)
                .int("cache_revalidated", s.cache.revalidated)
                .int("cache_bypass", s.cache.bypass)
                .int("breaker_transitions", s.breaker_transitions_total());
            for (category, n) in &s.failures_by_category {
                l.int(&format!("failures_{}", category.as_str()), *n);
            }
            l.finish(ts, out);
        }

        let mut seen = BTreeSet::new();
        for b in &snap.breakers {
            if !seen.insert(b.service.as_str()) {
                continue;
            }
            let mut l = Line::new("breaker_metrics", &[("service", &b.service)]);
            l.string("state", &b.state.to_ascii_lowercase())
                .int("failure_count", b.failure_count)
                .int("open", u64::from(b.state.eq_ignore_ascii_case("open")));
            l.finish(ts, out);
        }

        if let Some(c) = &snap.cache {
            let mut l = Line::new("cache_metrics", &[]);
            l.int("hits", c.hits)
                .int("misses", c.misses)
                .int("entries", c.entries)
                .int("bytes", c.bytes)
                .int("evictions", c.evictions);
            l.finish(ts, out);
        }

        let mut seen = BTreeSet::new();
        for h in &snap.health {
            if !seen.insert(h.service.as_str()) {
                continue;
            }
            let mut l = Line::new("health_metrics", &[("service", &h.service)]);
            l.string("status", &h.status)
                .boolean("up", h.is_up())
                .opt_float("response_time", h.response_time_seconds);
            l.finish(ts, out);
        }

        let mut l = Line::new("alert_metrics", &[]);
        l.int("firing", u64::from(snap.alerts_firing));
        l.finish(ts, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WallClock;
    use crate::export::{Format, HealthInfo, SystemSample, export, sample_snapshot};
    use crate::metrics::{Metrics, RequestRecord};
    use std::time::Duration;

    #[test]
    fn escaping() {
        assert_eq!(escape_measurement("a b,c=d"), "a\\ b\\,c=d");
        assert_eq!(escape_key("a b,c=d"), "a\\ b\\,c\\=d");
        assert_eq!(escape_key("x\ny\\"), "x\\ny");
        assert_eq!(escape_key("a\"b\\c"), "a\"b\\c");
        assert_eq!(
            escape_field_string("say \"hi\" \\ now\n"),
            "say \\\"hi\\\" \\\\ now "
        );
    }

    #[test]
    fn tags_with_space_comma_equals() {
        let mut m = Metrics::default();
        m.on_request_start("my svc,x=1");
        let snap = ExportSnapshot {
            timestamp: WallClock::from_unix_micros(1_795_718_458_167_771),
            metrics: m.snapshot(WallClock::EPOCH),
            ..ExportSnapshot::default()
        };
        let t = export(Format::Influx, &snap).unwrap();
        assert_eq!(
            t,
            "service_metrics,service=my\\ svc\\,x\\=1 total_requests=1i,successful_requests=0i,\
             failed_requests=0i,in_flight=1i,attempts=0i,failed_attempts=0i,retries=0i,\
             total_response_time=0,cache_hits=0i,cache_misses=0i,cache_stale=0i,\
             cache_revalidated=0i,cache_bypass=0i,breaker_transitions=0i 1795718458167771000\n\
             alert_metrics firing=0i 1795718458167771000\n"
        );
    }

    #[test]
    fn integers_suffix_and_exact_ns_timestamp() {
        let t = export(Format::Influx, &sample_snapshot()).unwrap();
        let ts = sample_snapshot().timestamp.as_unix_nanos().to_string();
        assert_eq!(ts, "1795718458167771000");
        for line in t.lines() {
            assert!(line.ends_with(&format!(" {ts}")), "{line}");
        }
        assert!(
            t.contains("service_metrics,service=alpha total_requests=4i,"),
            "{t}"
        );
        assert!(t.contains(",retries=2i,"));
        assert!(t.contains("system_metrics cpu_percent=12.5,memory_percent=48.25,"));
        assert!(
            t.contains("service_metrics,service=a\"b\\c total_requests=1i"),
            "{t}"
        );
        assert!(
            t.contains("breaker_metrics,service=beta-svc state=\"open\",failure_count=5i,open=1i ")
        );
        assert!(t.contains(
            "health_metrics,service=alpha status=\"healthy\",up=true,response_time=0.012 "
        ));
        assert!(t.ends_with('\n'));
    }

    #[test]
    fn nan_and_inf_fields_skipped_and_empty_lines_dropped() {
        let snap = ExportSnapshot {
            timestamp: WallClock::from_unix_secs(1),
            system: Some(SystemSample {
                cpu_percent: f64::NAN,
                memory_percent: f64::INFINITY,
                disk_usage_percent: 3.0,
                network_io: None,
                process_count: 7,
            }),
            health: vec![HealthInfo {
                service: "h".into(),
                status: "unhealthy".into(),
                response_time_seconds: Some(f64::NEG_INFINITY),
            }],
            ..ExportSnapshot::default()
        };
        let t = export(Format::Influx, &snap).unwrap();
        assert_eq!(
            t,
            "system_metrics disk_usage_percent=3,process_count=7i 1000000000\n\
             health_metrics,service=h status=\"unhealthy\",up=false 1000000000\n\
             alert_metrics firing=0i 1000000000\n"
        );
        let mut l = Line::new("m", &[]);
        l.float("a", f64::NAN).float("b", f64::INFINITY);
        let mut out = String::new();
        l.finish(5, &mut out);
        assert_eq!(out, "", "a line with no fields must be skipped");
    }

    #[test]
    fn huge_counters_clamp_and_empty_tag_is_dropped() {
        let mut m = Metrics::default();
        m.on_request_end(
            "",
            &RequestRecord {
                success: true,
                latency: Duration::from_millis(1),
                failure: None,
                retries: u32::MAX,
                cache: crate::metrics::CacheOutcome::Bypass,
                wall: WallClock::EPOCH,
            },
        );
        let snap = ExportSnapshot {
            metrics: m.snapshot(WallClock::EPOCH),
            ..ExportSnapshot::default()
        };
        let t = export(Format::Influx, &snap).unwrap();
        assert!(t.starts_with("service_metrics total_requests=1i,"), "{t}");
        let mut l = Line::new("m", &[]);
        l.int("x", u64::MAX);
        let mut out = String::new();
        l.finish(0, &mut out);
        assert_eq!(out, "m x=9223372036854775807i 0\n");
    }
}
