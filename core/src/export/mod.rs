//! Exports of one consistent snapshot: JSON, Prometheus text exposition 0.0.4 and InfluxDB line
//! protocol, each with correct escaping. (The original system's formats, defects included, are
//! in [`crate::compat`].)
//!
//! The input, [`ExportSnapshot`], is plain data that the engine fills from the metrics registry,
//! the breakers, the cache, the health checks and the alerts ([`BreakerInfo::new`] and the
//! `From` impls map their public snapshots), so that the writers depend on no other module's
//! internals.
//!
//! ```
//! use tether_core::{export, Format};
//!
//! let snap = tether_core::ExportSnapshot::default();
//! let format: Format = "prometheus".parse().unwrap();
//! let text = export(format, &snap).unwrap();
//! assert!(text.ends_with('\n'));
//! assert_eq!(format.content_type(), "text/plain; version=0.0.4; charset=utf-8");
//! ```
//!
//! Label safety: the only user-provided label (and tag) values are service names, which are
//! escaped; error names and breaker states are sanitized by the metrics module; nothing else
//! (URLs, headers, messages) ever becomes a label.

mod influx;
mod prometheus;
mod sample;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::WallClock;
use crate::breaker::BreakerSnapshot;
use crate::cache::CacheStats;
use crate::health::ServiceHealthSnapshot;
use crate::metrics::MetricsSnapshot;

pub use influx::InfluxExporter;
pub use prometheus::{
    CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE, DEFAULT_BUCKETS, PrometheusExporter,
};
#[doc(hidden)]
pub use sample::sample_snapshot;

/// Cumulative network counters of the host (since boot, as psutil reports them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkIo {
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_recv: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_recv: u64,
}

/// A system sample taken by the frontend (the core cannot read the host).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    /// CPU usage, percent (0–100).
    pub cpu_percent: f64,
    /// Memory usage, percent.
    pub memory_percent: f64,
    /// Disk usage of the root filesystem, percent.
    pub disk_usage_percent: f64,
    /// Network counters; `None` when they could not be read (the original's `{}`).
    pub network_io: Option<NetworkIo>,
    /// Number of processes.
    pub process_count: u64,
}

/// One circuit breaker's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerInfo {
    /// Service the breaker protects.
    pub service: String,
    /// Current state, lower case: `closed`, `open` or `half_open` (others are exported as is).
    pub state: String,
    /// Current failure count.
    pub failure_count: u64,
}

/// Response-cache statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not answered from the cache.
    pub misses: u64,
    /// Entries stored now.
    pub entries: u64,
    /// Bytes stored now.
    pub bytes: u64,
    /// Entries evicted so far.
    pub evictions: u64,
}

/// One service's latest health check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthInfo {
    /// Service name.
    pub service: String,
    /// `healthy`, `degraded` or `unhealthy` (anything else counts as down).
    pub status: String,
    /// Duration of the check, seconds (`None` when the check failed without one).
    pub response_time_seconds: Option<f64>,
}

impl HealthInfo {
    /// `true` for `healthy` and `degraded`: the service answers.
    pub fn is_up(&self) -> bool {
        matches!(self.status.as_str(), "healthy" | "degraded")
    }
}

/// Everything an export needs, as plain data (the engine fills it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportSnapshot {
    /// When the snapshot was taken (Influx timestamps use it, in exact nanoseconds).
    pub timestamp: WallClock,
    /// Host sample, if the frontend has one.
    pub system: Option<SystemSample>,
    /// The metrics registry snapshot.
    pub metrics: MetricsSnapshot,
    /// Circuit breakers.
    pub breakers: Vec<BreakerInfo>,
    /// Response cache, if enabled.
    pub cache: Option<CacheInfo>,
    /// Latest health checks.
    pub health: Vec<HealthInfo>,
    /// Alerts currently firing.
    pub alerts_firing: u32,
}

impl BreakerInfo {
    /// The record of the breaker protecting `service`, from its snapshot.
    pub fn new(service: &str, snapshot: &BreakerSnapshot) -> Self {
        BreakerInfo {
            service: service.to_owned(),
            state: snapshot.state.as_str().to_owned(),
            failure_count: u64::from(snapshot.failure_count),
        }
    }
}

impl From<&CacheStats> for CacheInfo {
    fn from(stats: &CacheStats) -> Self {
        CacheInfo {
            hits: stats.hits,
            misses: stats.misses,
            entries: stats.entries as u64,
            bytes: stats.bytes as u64,
            evictions: stats.evictions,
        }
    }
}

impl From<ServiceHealthSnapshot> for HealthInfo {
    fn from(h: ServiceHealthSnapshot) -> Self {
        HealthInfo {
            service: h.service,
            status: h.status.as_str().to_owned(),
            response_time_seconds: h.last_response_time.map(|d| d.as_secs_f64()),
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The format name is not one of `json`, `prometheus`, `influxdb` (case-sensitive).
    #[error("Unsupported format: {0}")]
    UnknownFormat(String),
    /// JSON serialization failed.
    #[error("JSON serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing the text failed (cannot happen when writing into a `String`).
    #[error("formatting failed")]
    Fmt(#[from] std::fmt::Error),
}

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Format {
    /// Pretty-printed JSON of the whole [`ExportSnapshot`].
    #[serde(rename = "json")]
    Json,
    /// Prometheus text exposition format 0.0.4.
    #[serde(rename = "prometheus")]
    Prometheus,
    /// InfluxDB line protocol.
    #[serde(rename = "influxdb")]
    Influx,
}

impl Format {
    /// The name as accepted by [`FromStr`]: `json`, `prometheus` or `influxdb`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Prometheus => "prometheus",
            Format::Influx => "influxdb",
        }
    }

    /// The HTTP `Content-Type` to serve this format with.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Json => JsonExporter::CONTENT_TYPE,
            Format::Prometheus => prometheus::CONTENT_TYPE,
            Format::Influx => influx::CONTENT_TYPE,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ExportError;

    /// Case-sensitive, like the original: `json`, `prometheus`, `influxdb`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Format::Json),
            "prometheus" => Ok(Format::Prometheus),
            "influxdb" => Ok(Format::Influx),
            other => Err(ExportError::UnknownFormat(other.to_owned())),
        }
    }
}

/// Something that writes an [`ExportSnapshot`] as text.
///
/// ```
/// use tether_core::{ExportSnapshot, Exporter, JsonExporter};
///
/// let mut out = String::new();
/// JsonExporter.export(&ExportSnapshot::default(), &mut out).unwrap();
/// assert!(out.starts_with('{'));
/// assert_eq!(JsonExporter.content_type(), "application/json");
/// ```
pub trait Exporter {
    /// The HTTP `Content-Type` of the output.
    fn content_type(&self) -> &'static str;
    /// Appends the export of `snap` to `out`.
    fn export(&self, snap: &ExportSnapshot, out: &mut String) -> Result<(), ExportError>;
}

/// Pretty-printed JSON (serde_json, two-space indent).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonExporter;

impl JsonExporter {
    /// `application/json`.
    pub const CONTENT_TYPE: &'static str = "application/json";
}

impl Exporter for JsonExporter {
    fn content_type(&self) -> &'static str {
        Self::CONTENT_TYPE
    }

    fn export(&self, snap: &ExportSnapshot, out: &mut String) -> Result<(), ExportError> {
        out.push_str(&serde_json::to_string_pretty(snap)?);
        Ok(())
    }
}

/// Exports `snap` in `format` with default options.
pub fn export(format: Format, snap: &ExportSnapshot) -> Result<String, ExportError> {
    let mut out = String::new();
    match format {
        Format::Json => JsonExporter.export(snap, &mut out)?,
        Format::Prometheus => PrometheusExporter::default().export(snap, &mut out)?,
        Format::Influx => InfluxExporter.export(snap, &mut out)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_format_is_a_typed_error() {
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert_eq!("prometheus".parse::<Format>().unwrap(), Format::Prometheus);
        assert_eq!("influxdb".parse::<Format>().unwrap(), Format::Influx);
        for bad in ["JSON", "influx", "", "xml"] {
            match bad.parse::<Format>() {
                Err(ExportError::UnknownFormat(name)) => assert_eq!(name, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let err = "yaml".parse::<Format>().unwrap_err();
        assert_eq!(err.to_string(), "Unsupported format: yaml");
        for f in [Format::Json, Format::Prometheus, Format::Influx] {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
            assert_eq!(f.to_string(), f.as_str());
        }
    }

    #[test]
    fn json_export_is_pretty_and_round_trips() {
        let snap = sample_snapshot();
        let text = export(Format::Json, &snap).unwrap();
        assert!(text.starts_with("{\n  \"timestamp\": "), "{text}");
        let back: ExportSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back.metrics.services.len(), 3);
        assert_eq!(back.metrics.services[2].0, "a\"b\\c");
        assert_eq!(back.breakers, snap.breakers);
        assert_eq!(back.alerts_firing, snap.alerts_firing);
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&snap).unwrap()
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::Json.content_type(), "application/json");
        assert_eq!(
            Format::Prometheus.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(Format::Influx.content_type(), "text/plain; charset=utf-8");
        assert_eq!(
            PrometheusExporter::default().content_type(),
            PROMETHEUS_CONTENT_TYPE
        );
    }

    #[test]
    fn health_up_rule() {
        let h = |s: &str| HealthInfo {
            service: "x".into(),
            status: s.into(),
            response_time_seconds: None,
        };
        assert!(h("healthy").is_up());
        assert!(h("degraded").is_up());
        assert!(!h("unhealthy").is_up());
        assert!(!h("HEALTHY").is_up());
    }
}
