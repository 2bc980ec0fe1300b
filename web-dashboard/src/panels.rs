//! The panels: pure functions from the `/dashboard` answer to [`El`] trees.
//!
//! Colour rules (the original page's thresholds, with its inverted success rate fixed):
//!
//! | value | green | orange | red |
//! |---|---|---|---|
//! | CPU, memory | < 70 % | 70–90 % | ≥ 90 % |
//! | disk | < 80 % | 80–95 % | ≥ 95 % |
//! | success rate | ≥ 95 % | 90–95 % | < 90 % (the alert rule's threshold) |
//! | response time (mean, p95, p99) | < 1 s | 1–5 s | ≥ 5 s |
//! | health | healthy | degraded | unhealthy |
//! | breaker | `CLOSED` | `HALF_OPEN` (and any other state) | `OPEN` |
//!
//! A service without completed requests shows no success rate at all rather than a red 0 %.

use crate::data::{Alert, Breaker, CacheStats, Dashboard, Latency};
use crate::fmt;
use crate::time::{self, Clock};
use crate::view::{El, Tone};

/// CPU and memory thresholds (warn, bad), percent.
const CPU_MEMORY: (f64, f64) = (70.0, 90.0);
/// Disk thresholds (warn, bad), percent.
const DISK: (f64, f64) = (80.0, 95.0);
/// Success-rate thresholds (good at or above, warn at or above), percent.
const SUCCESS: (f64, f64) = (95.0, 90.0);
/// Response-time thresholds (warn, bad), milliseconds.
const RESPONSE_MS: (f64, f64) = (1000.0, 5000.0);

/// A paragraph for an empty panel.
fn empty(text: &str) -> El {
    El::new("p").class("empty").text(text)
}

/// `label: value` with the value in its tone.
fn metric(key: &'static str, label: &str, value: String, tone: Tone) -> El {
    El::new("div")
        .class("metric")
        .attr("data-metric", key)
        .child(El::new("span").class("label").text(label))
        .child(
            El::new("span")
                .class(format!("value {}", tone.class()))
                .text(value),
        )
}

/// A horizontal bar filled to `percent`.
fn bar(percent: f64, tone: Tone) -> El {
    let width = if percent.is_finite() {
        percent.clamp(0.0, 100.0)
    } else {
        0.0
    };
    El::svg("svg")
        .class("bar")
        .attr("viewBox", "0 0 100 6")
        .attr("preserveAspectRatio", "none")
        .attr("aria-hidden", "true")
        .child(
            El::svg("rect")
                .class("track")
                .attr("width", "100")
                .attr("height", "6"),
        )
        .child(
            El::svg("rect")
                .class(format!("fill {}", tone.class()))
                .attr("width", format!("{width:.1}"))
                .attr("height", "6"),
        )
}

/// A table with a header row.
fn table(headers: &[&str], rows: Vec<El>) -> El {
    let head = El::new("tr").children(headers.iter().map(|h| El::new("th").text(*h)));
    El::new("table")
        .child(El::new("thead").child(head))
        .child(El::new("tbody").children(rows))
}

/// A table cell with a tone.
fn cell(text: impl Into<String>, tone: Tone) -> El {
    El::new("td").class(tone.class()).text(text)
}

/// The strip above the panels: services healthy, alerts firing, when the server answered.
pub fn overview(d: &Dashboard, clock: Clock) -> El {
    let o = &d.overview;
    let health_tone = if o.total_services == 0 {
        Tone::Neutral
    } else if o.unhealthy_services == 0 {
        Tone::Good
    } else {
        Tone::Bad
    };
    let alerts_tone = if o.error_alerts > 0 {
        Tone::Bad
    } else if o.warning_alerts > 0 {
        Tone::Warn
    } else {
        Tone::Good
    };
    let mut strip = El::new("div")
        .class("overview")
        .child(
            El::new("span")
                .class(format!("chip {}", health_tone.class()))
                .text(format!(
                    "{} of {} healthy",
                    o.healthy_services,
                    fmt::plural(o.total_services, "service", "services")
                )),
        )
        .child(
            El::new("span")
                .class(format!("chip {}", alerts_tone.class()))
                .text(format!(
                    "{}, {}",
                    fmt::plural(o.error_alerts, "error alert", "error alerts"),
                    fmt::plural(o.warning_alerts, "warning", "warnings")
                )),
        );
    if let Some(ts) = &d.timestamp {
        strip = strip.child(
            El::new("span")
                .class("chip neutral")
                .text(format!("server time {}", time::shown(ts, clock))),
        );
    }
    strip
}

/// System metrics: CPU, memory and disk with bars; processes and network counters.
pub fn system(d: &Dashboard) -> El {
    let s = &d.system;
    if s.process_count == 0 && s.cpu_percent == 0.0 && s.memory_percent == 0.0 {
        return empty("No host sample yet.");
    }
    let gauge = |key, label: &str, v: f64, (warn, bad): (f64, f64)| {
        let tone = Tone::higher_is_worse(v, warn, bad);
        metric(key, label, fmt::percent(v), tone).child(bar(v, tone))
    };
    let mut facts = El::new("div")
        .class("facts")
        .child(El::new("span").text(format!("{} processes", fmt::count(s.process_count))));
    if let (Some(sent), Some(recv)) = (s.network_io.bytes_sent, s.network_io.bytes_recv) {
        facts = facts.child(El::new("span").text(format!(
            "network {} sent, {} received",
            fmt::bytes(sent),
            fmt::bytes(recv)
        )));
    }
    El::new("div")
        .class("gauges")
        .child(gauge("cpu", "CPU", s.cpu_percent, CPU_MEMORY))
        .child(gauge("memory", "Memory", s.memory_percent, CPU_MEMORY))
        .child(gauge("disk", "Disk", s.disk_usage_percent, DISK))
        .child(facts)
}

/// The tone of a health status.
fn health_tone(status: &str) -> Tone {
    match status {
        "healthy" => Tone::Good,
        "degraded" => Tone::Warn,
        "unhealthy" => Tone::Bad,
        _ => Tone::Neutral,
    }
}

/// Service health: each monitor's status, check duration and time.
pub fn health(d: &Dashboard, clock: Clock) -> El {
    if d.services.is_empty() {
        return empty("No health monitors registered.");
    }
    let items = d.services.iter().map(|(name, m)| {
        let tone = health_tone(&m.status);
        let response = m.response_time.map_or_else(|| "—".to_owned(), fmt::seconds);
        let response_tone = m.response_time.map_or(Tone::Neutral, |s| {
            Tone::higher_is_worse(s * 1000.0, RESPONSE_MS.0, RESPONSE_MS.1)
        });
        let mut item = El::new("li")
            .class(format!("service {}", tone.class()))
            .attr("data-status", m.status.clone())
            .child(El::new("span").class(format!("dot {}", tone.class())))
            .child(El::new("span").class("name").text(name))
            .child(
                El::new("span")
                    .class(format!("status {}", tone.class()))
                    .text(&m.status),
            )
            .child(
                El::new("span")
                    .class(format!("response {}", response_tone.class()))
                    .attr("title", "duration of the latest check")
                    .text(response),
            );
        if let Some(at) = &m.last_check {
            item = item.child(
                El::new("span")
                    .class("when")
                    .text(format!("checked {}", time::shown(at, clock))),
            );
        }
        item
    });
    El::new("ul").class("services").children(items)
}

/// A latency cell: the value and its tone, `—` when unknown.
fn latency_cell(seconds: Option<f64>) -> El {
    match seconds {
        Some(s) if s.is_finite() => cell(
            fmt::seconds(s),
            Tone::higher_is_worse(s * 1000.0, RESPONSE_MS.0, RESPONSE_MS.1),
        ),
        _ => cell("—", Tone::Neutral),
    }
}

/// Performance: success rate, mean, p95 and p99 latency per service; the hour's system
/// averages.
pub fn performance(d: &Dashboard) -> El {
    let p = &d.performance;
    let mut body = El::new("div").class("performance");
    if p.service_performance.is_empty() {
        body = body.child(empty(if p.system_averages.is_some() {
            "No service clients registered."
        } else {
            "No collection in the last hour."
        }));
    } else {
        let rows = p.service_performance.iter().map(|(name, s)| {
            let latency: Option<&Latency> = d.latency.as_ref().and_then(|l| l.get(name));
            let success = if s.total_requests == 0 {
                cell("no requests", Tone::Neutral)
            } else {
                let pct = s.success_rate * 100.0;
                cell(
                    fmt::percent(pct),
                    Tone::higher_is_better(pct, SUCCESS.0, SUCCESS.1),
                )
            }
            .attr("data-col", "success");
            let mean = if s.total_requests == 0 {
                cell("—", Tone::Neutral)
            } else {
                latency_cell(Some(s.avg_response_time))
            };
            El::new("tr")
                .child(El::new("th").attr("scope", "row").text(name))
                .child(success)
                .child(mean)
                .child(latency_cell(latency.and_then(|l| l.p95_response_time)))
                .child(latency_cell(latency.and_then(|l| l.p99_response_time)))
                .child(El::new("td").text(fmt::count(s.total_requests)))
                .child(El::new("td").text(fmt::count(s.error_count)))
        });
        body = body.child(table(
            &[
                "Service", "Success", "Mean", "p95", "p99", "Requests", "Failed",
            ],
            rows.collect(),
        ));
        if d.latency.is_none() {
            body = body.child(empty("This server reports no percentiles."));
        }
    }
    if let Some(avg) = p.system_averages {
        let tone = |v| Tone::higher_is_worse(v, CPU_MEMORY.0, CPU_MEMORY.1);
        body = body.child(
            El::new("div")
                .class("averages")
                .child(metric(
                    "cpu-avg",
                    "CPU, mean over the hour",
                    fmt::percent(avg.cpu_percent),
                    tone(avg.cpu_percent),
                ))
                .child(metric(
                    "memory-avg",
                    "Memory, mean over the hour",
                    fmt::percent(avg.memory_percent),
                    tone(avg.memory_percent),
                )),
        );
    }
    body
}

/// One alert.
fn alert_item(a: &Alert, clock: Clock) -> El {
    let tone = if a.severity == "warning" {
        Tone::Warn
    } else {
        Tone::Bad
    };
    let mut head = El::new("div")
        .class("head")
        .child(
            El::new("span")
                .class(format!("severity {}", tone.class()))
                .text(a.severity.to_uppercase()),
        )
        .child(El::new("strong").class("kind").text(&a.kind));
    if let Some(service) = &a.service {
        head = head.child(El::new("span").class("service").text(service));
    }
    if let Some(at) = &a.timestamp {
        head = head.child(
            El::new("span")
                .class("when")
                .text(format!("since {}", time::shown(at, clock))),
        );
    }
    El::new("li")
        .class(format!("alert {}", tone.class()))
        .attr("data-severity", a.severity.clone())
        .child(head)
        .child(El::new("p").class("message").text(&a.message))
}

/// Active alerts, errors first, with the counts by severity.
pub fn alerts(d: &Dashboard, clock: Clock) -> El {
    let (errors, warnings) = (&d.alerts.errors, &d.alerts.warnings);
    if errors.is_empty() && warnings.is_empty() {
        return El::new("p")
            .class("all-clear good")
            .text("No active alerts.");
    }
    let shown = |n: usize, total: u64| {
        if (n as u64) < total {
            format!(" (newest {n} shown)")
        } else {
            String::new()
        }
    };
    let o = &d.overview;
    let counts = El::new("div")
        .class("counts")
        .child(El::new("span").class("chip bad").text(format!(
            "{}{}",
            fmt::plural(o.error_alerts.max(errors.len() as u64), "error", "errors"),
            shown(errors.len(), o.error_alerts)
        )))
        .child(El::new("span").class("chip warn").text(format!(
            "{}{}",
            fmt::plural(
                o.warning_alerts.max(warnings.len() as u64),
                "warning",
                "warnings"
            ),
            shown(warnings.len(), o.warning_alerts)
        )));
    El::new("div").child(counts).child(
        El::new("ul")
            .class("alerts")
            .children(errors.iter().chain(warnings).map(|a| alert_item(a, clock))),
    )
}

/// The cache's hit rate: lookups answered from the cache (fresh or stale) over all lookups
/// that could be (`None` before the first).
pub fn hit_rate(s: &CacheStats) -> Option<f64> {
    let served = s.hits.saturating_add(s.stale_hits);
    let lookups = served.saturating_add(s.misses);
    (lookups > 0).then(|| served as f64 / lookups as f64 * 100.0)
}

/// Cache statistics with the hit rate.
pub fn cache(d: &Dashboard) -> El {
    let Some(stats) = &d.cache_stats else {
        return empty("This server reports no cache statistics on /dashboard.");
    };
    if stats.is_empty() {
        return empty("No service clients registered.");
    }
    let rows = stats.iter().map(|(name, s)| {
        let name_cell = El::new("th").attr("scope", "row").text(name);
        if !s.enabled {
            return El::new("tr").child(name_cell).child(
                El::new("td")
                    .class("neutral")
                    .attr("colspan", "5")
                    .text("cache off"),
            );
        }
        let rate = hit_rate(s).map_or_else(|| "no lookups".to_owned(), fmt::percent);
        let bound = if s.max_entries > 0 {
            format!("{} / {}", fmt::count(s.entries), fmt::count(s.max_entries))
        } else {
            fmt::count(s.entries)
        };
        El::new("tr")
            .child(name_cell)
            .child(cell(rate, Tone::Neutral).attr("data-col", "hit-rate"))
            .child(El::new("td").text(format!(
                "{} / {}",
                fmt::count(s.hits.saturating_add(s.stale_hits)),
                fmt::count(s.misses)
            )))
            .child(El::new("td").text(bound))
            .child(El::new("td").text(fmt::bytes(s.bytes)))
            .child(El::new("td").text(fmt::count(s.evictions)))
    });
    table(
        &[
            "Service",
            "Hit rate",
            "Hits / misses",
            "Entries",
            "Size",
            "Evicted",
        ],
        rows.collect(),
    )
}

/// The tone of a breaker state: `CLOSED` green, `OPEN` red, anything else orange.
pub fn breaker_tone(state: &str) -> Tone {
    match state {
        "CLOSED" => Tone::Good,
        "OPEN" => Tone::Bad,
        _ => Tone::Warn,
    }
}

/// Circuit breakers: state, failures against the threshold, last failure.
pub fn breakers(d: &Dashboard, clock: Clock) -> El {
    let Some(breakers) = &d.circuit_breakers else {
        return empty("This server reports no circuit breakers on /dashboard.");
    };
    if breakers.is_empty() {
        return empty("No service clients registered.");
    }
    let item = |name: &str, b: &Breaker| {
        let tone = breaker_tone(&b.state);
        let failures = match b.failure_threshold {
            Some(t) => format!("{} / {t} failures", fmt::count(b.failure_count)),
            None => fmt::plural(b.failure_count, "failure", "failures"),
        };
        let mut detail = El::new("span").class("detail").text(failures);
        if let Some(at) = &b.last_failure_time {
            detail = detail.text(format!(", last {}", time::shown(at, clock)));
        }
        El::new("li")
            .class("breaker")
            .attr("data-state", b.state.clone())
            .child(El::new("span").class("name").text(name))
            .child(
                El::new("span")
                    .class(format!("state {}", tone.class()))
                    .text(&b.state),
            )
            .child(detail)
    };
    El::new("ul")
        .class("breakers")
        .children(breakers.iter().map(|(n, b)| item(n, b)))
}
