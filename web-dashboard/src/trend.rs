//! Response-time trends from the `/history` route, drawn as SVG.
//!
//! Each collection carries every service client's **cumulative** counters (completed
//! requests and their mean latency since the start). The mean latency of the requests that
//! completed between two collections is therefore exact:
//! `(mean₂·n₂ − mean₁·n₁) / (n₂ − n₁)`. Points are those interval means, so the chart shows
//! what happened in each interval (a cumulative mean would flatten every change). An interval
//! without completed requests is a gap in the line, not a zero. Missing collections between
//! two polls cost nothing but resolution: the interval simply gets longer.
//!
//! The page keeps the points of the last hour and asks each poll for the newest few
//! collections only ([`Trends::history_query`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::data::{ClientCounters, History};
use crate::fmt;
use crate::time::{self, Clock, UnixMs};
use crate::view::El;

/// How much history the chart shows.
pub const WINDOW_MS: i64 = 3_600_000;

/// Collections asked for on the first poll (an hour of the monitor's default 10 s interval).
pub const FIRST_LIMIT: usize = 360;

/// Collections asked for on later polls.
pub const NEXT_LIMIT: usize = 30;

/// Most collections kept, whatever their spacing.
const MAX_SAMPLES: usize = 2000;

/// Distinct series colours in the stylesheet (`s0` … `s7`).
const PALETTE: usize = 8;

/// The collections received so far, by time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trends {
    samples: BTreeMap<UnixMs, Vec<(String, ClientCounters)>>,
}

/// One service's line: a value (milliseconds) or a gap at each collection time.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The service.
    pub name: String,
    /// `(time, mean latency in ms)` per collection after the first; `None`: no request
    /// completed in that interval.
    pub points: Vec<(UnixMs, Option<f64>)>,
}

impl Series {
    /// The newest value.
    pub fn last_value(&self) -> Option<f64> {
        self.points.iter().rev().find_map(|(_, v)| *v)
    }
}

impl Trends {
    /// Adds the collections of a `/history` answer (timestamps read with the viewer's
    /// `utc_offset_minutes` when they carry no zone); keeps the last [`WINDOW_MS`] before the
    /// newest. Entries with unreadable timestamps are skipped.
    pub fn merge(&mut self, history: &History, utc_offset_minutes: i32) {
        for c in &history.history {
            if let Some(at) = time::parse_rfc3339(&c.timestamp, utc_offset_minutes) {
                self.samples
                    .insert(at, c.services.service_clients.0.clone());
            }
        }
        if let Some(&newest) = self.samples.keys().next_back() {
            self.samples = self.samples.split_off(&(newest - WINDOW_MS));
        }
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_first();
        }
    }

    /// The query of the next `/history` request: the last hour, at most [`FIRST_LIMIT`]
    /// collections when nothing is known yet, else the newest [`NEXT_LIMIT`].
    pub fn history_query(&self) -> String {
        let limit = if self.samples.is_empty() {
            FIRST_LIMIT
        } else {
            NEXT_LIMIT
        };
        format!("/history?hours=1&limit={limit}")
    }

    /// How many collections are kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Each service's interval means, services in the order they appear (newest collection
    /// first, then older ones).
    pub fn series(&self) -> Vec<Series> {
        let mut names: Vec<&str> = Vec::new();
        for clients in self.samples.values().rev() {
            for (name, _) in clients {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        let pairs: Vec<_> = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .collect();
        names
            .into_iter()
            .map(|name| Series {
                name: name.to_owned(),
                points: pairs
                    .iter()
                    .map(|((_, before), (at, after))| {
                        let find = |clients: &[(String, ClientCounters)]| {
                            clients.iter().find(|(n, _)| n == name).map(|(_, c)| *c)
                        };
                        (**at, interval_mean(find(before), find(after)))
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The mean latency (ms) of the requests completed between two cumulative readings.
fn interval_mean(before: Option<ClientCounters>, after: Option<ClientCounters>) -> Option<f64> {
    let after = after?;
    // A service that appears mid-way started from zero.
    let before = before.unwrap_or_default();
    let (n1, n2) = (before.completed(), after.completed());
    if n2 <= n1 {
        // Nothing completed (or the counters restarted with the server).
        return None;
    }
    let total = after.average_response_time * n2 as f64 - before.average_response_time * n1 as f64;
    let mean = total / (n2 - n1) as f64;
    mean.is_finite().then_some(mean.max(0.0) * 1000.0)
}

/// Chart geometry, in SVG user units.
const W: f64 = 900.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// The smallest "nice" value (1, 2, 2.5 or 5 × 10ⁿ) at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10_f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&n| n >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Coordinates with one decimal, trailing zeros dropped.
fn coord(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}

/// The plot area's scales: time → x, milliseconds → y.
struct Frame {
    t0: UnixMs,
    t1: UnixMs,
    y_max: f64,
}

impl Frame {
    fn x(&self, t: UnixMs) -> f64 {
        LEFT + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (1.0 - v / self.y_max) * (H - TOP - BOTTOM)
    }

    /// Grid lines with their labels (0, half, top) and time labels (start, middle, end).
    fn axes(&self, utc_offset_minutes: i32) -> Vec<El> {
        let mut out = Vec::new();
        for v in [0.0, self.y_max / 2.0, self.y_max] {
            let y = coord(self.y(v));
            out.push(
                El::svg("line")
                    .class("grid")
                    .attr("x1", coord(LEFT))
                    .attr("x2", coord(W - RIGHT))
                    .attr("y1", y.clone())
                    .attr("y2", y),
            );
            out.push(
                El::svg("text")
                    .class("axis")
                    .attr("x", coord(LEFT - 6.0))
                    .attr("y", coord(self.y(v) + 4.0))
                    .attr("text-anchor", "end")
                    .text(if v == 0.0 {
                        "0".to_owned()
                    } else {
                        fmt::millis(v)
                    }),
            );
        }
        let middle = i64::midpoint(self.t0, self.t1);
        // Seconds matter on a span of a few minutes, not on an hour.
        let seconds = self.t1 - self.t0 < 600_000;
        for (t, anchor) in [(self.t0, "start"), (middle, "middle"), (self.t1, "end")] {
            let label = if seconds {
                time::local_time(
                    t,
                    Clock {
                        now: t,
                        utc_offset_minutes,
                    },
                )
            } else {
                time::local_hour_minute(t, utc_offset_minutes)
            };
            out.push(
                El::svg("text")
                    .class("axis")
                    .attr("x", coord(self.x(t)))
                    .attr("y", coord(H - 6.0))
                    .attr("text-anchor", anchor)
                    .text(label),
            );
        }
        out
    }

    /// One series: a path through each run of consecutive values, a dot for a value alone
    /// between gaps, and the service name as the group's tooltip.
    fn series(&self, s: &Series, colour: &str) -> El {
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (t, v) in &s.points {
            match v {
                Some(v) => {
                    if let Some(run) = runs.last_mut() {
                        run.push((self.x(*t), self.y(*v)));
                    }
                }
                None => runs.push(Vec::new()),
            }
        }
        let mut d = String::new();
        let mut group = El::svg("g")
            .class(format!("series {colour}"))
            .child(El::svg("title").text(s.name.clone()));
        for run in runs.iter().filter(|r| !r.is_empty()) {
            if let [(px, py)] = run.as_slice() {
                group = group.child(
                    El::svg("circle")
                        .attr("cx", coord(*px))
                        .attr("cy", coord(*py))
                        .attr("r", "2.5"),
                );
                continue;
            }
            for (k, (px, py)) in run.iter().enumerate() {
                let command = if k == 0 { 'M' } else { 'L' };
                let _ = write!(d, " {command}{} {}", coord(*px), coord(*py));
            }
        }
        if !d.is_empty() {
            group = group.child(El::svg("path").attr("d", d.trim_start().to_owned()));
        }
        group
    }
}

/// The chart and its legend, or a line saying why there is none yet.
pub fn chart(trends: &Trends, utc_offset_minutes: i32) -> El {
    let series = trends.series();
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, v)| *v));
    let peak = values.fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let Some(peak) = peak else {
        let why = if trends.len() < 2 {
            "Waiting for two collections to compare…"
        } else {
            "No request completed in the last hour."
        };
        return El::new("p").class("empty").text(why);
    };
    let times = series.iter().flat_map(|s| s.points.iter().map(|(t, _)| *t));
    let t1 = times.clone().max().unwrap_or(0);
    let frame = Frame {
        // Fitted to the data, at least ten seconds wide (one point would divide by zero).
        t0: times.min().unwrap_or(0).min(t1 - 10_000),
        t1,
        y_max: nice_ceiling(peak * 1.05),
    };
    let mut svg = El::svg("svg")
        .attr("viewBox", format!("0 0 {W} {H}"))
        .attr("role", "img")
        .attr("aria-label", "Mean response time per interval, per service")
        .class("chart")
        .children(frame.axes(utc_offset_minutes));
    let mut legend = El::new("ul").class("legend");
    for (i, s) in series.iter().enumerate() {
        let colour = format!("s{}", i % PALETTE);
        svg = svg.child(frame.series(s, &colour));
        let last = s
            .last_value()
            .map_or_else(|| "no recent requests".to_owned(), fmt::millis);
        legend = legend.child(
            El::new("li")
                .child(El::new("span").class(format!("swatch {colour}")))
                .child(El::new("span").class("name").text(s.name.clone()))
                .child(El::new("span").class("last").text(last)),
        );
    }
    El::new("div").class("trend").child(svg).child(legend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{CollectedServices, Collection, Ordered};

    fn counters(ok: u64, failed: u64, mean_s: f64) -> ClientCounters {
        ClientCounters {
            successful_requests: ok,
            failed_requests: failed,
            average_response_time: mean_s,
        }
    }

    fn collection(secs: u64, clients: &[(&str, ClientCounters)]) -> Collection {
        let at = time::local_time(1_795_718_400_000 + secs as i64 * 1000, time::Clock::utc(0));
        Collection {
            timestamp: format!("{}Z", at.replace(' ', "T")),
            services: CollectedServices {
                service_clients: Ordered(
                    clients.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
                ),
            },
        }
    }

    fn history(collections: Vec<Collection>) -> History {
        History {
            history: collections,
        }
    }

    #[test]
    fn points_are_the_means_of_each_interval() {
        let mut t = Trends::default();
        t.merge(
            &history(vec![
                collection(0, &[("api", counters(10, 0, 0.010))]),
                // 10 more requests averaging 30 ms: cumulative mean 20 ms.
                collection(10, &[("api", counters(18, 2, 0.020))]),
                // nothing new
                collection(20, &[("api", counters(18, 2, 0.020))]),
                // 5 more averaging 120 ms
                collection(30, &[("api", counters(25, 0, 0.040))]),
            ]),
            0,
        );
        let s = t.series();
        assert_eq!(s.len(), 1);
        let v: Vec<Option<f64>> = s[0].points.iter().map(|(_, v)| *v).collect();
        assert_eq!(v.len(), 3);
        assert!((v[0].unwrap() - 30.0).abs() < 1e-9, "{v:?}");
        assert_eq!(v[1], None, "an interval without requests is a gap");
        assert!((v[2].unwrap() - 120.0).abs() < 1e-9, "{v:?}");
        assert_eq!(s[0].last_value().map(f64::round), Some(120.0));
    }

    #[test]
    fn merging_overlapping_answers_keeps_one_sample_per_time_and_the_last_hour() {
        let mut t = Trends::default();
        assert_eq!(t.history_query(), "/history?hours=1&limit=360");
        t.merge(
            &history(vec![
                collection(0, &[("a", counters(1, 0, 0.001))]),
                collection(10, &[("a", counters(2, 0, 0.001))]),
            ]),
            0,
        );
        assert_eq!(t.history_query(), "/history?hours=1&limit=30");
        t.merge(
            &history(vec![
                collection(10, &[("a", counters(2, 0, 0.001))]),
                collection(20, &[("a", counters(3, 0, 0.001))]),
            ]),
            0,
        );
        assert_eq!(t.len(), 3);
        t.merge(&history(vec![collection(3620, &[])]), 0);
        assert_eq!(t.len(), 2, "older than an hour before the newest: dropped");
        // Unreadable timestamps are skipped.
        let mut bad = collection(30, &[]);
        bad.timestamp = "<script>".to_owned();
        t.merge(&history(vec![bad]), 0);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn services_appearing_later_and_restarted_counters() {
        let mut t = Trends::default();
        t.merge(
            &history(vec![
                collection(0, &[("a", counters(5, 0, 0.002))]),
                collection(
                    10,
                    &[("a", counters(6, 0, 0.002)), ("b", counters(2, 0, 0.5))],
                ),
                // the server restarted: counters went down
                collection(
                    20,
                    &[("a", counters(1, 0, 0.004)), ("b", counters(2, 0, 0.5))],
                ),
            ]),
            0,
        );
        let s = t.series();
        assert_eq!(
            s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let b: Vec<_> = s[1].points.iter().map(|(_, v)| *v).collect();
        assert_eq!(b, [Some(500.0), None]);
        let a: Vec<_> = s[0].points.iter().map(|(_, v)| *v).collect();
        assert_eq!(a[1], None, "a restart is a gap, not a negative mean");
    }

    #[test]
    fn nice_scales() {
        assert!((nice_ceiling(0.7) - 1.0).abs() < 1e-12);
        assert!((nice_ceiling(1.3) - 2.0).abs() < 1e-12);
        assert!((nice_ceiling(2.2) - 2.5).abs() < 1e-12);
        assert!((nice_ceiling(420.0) - 500.0).abs() < 1e-9);
        assert!((nice_ceiling(500.0) - 500.0).abs() < 1e-9);
        assert!((nice_ceiling(0.0) - 1.0).abs() < 1e-12);
        assert!((nice_ceiling(f64::NAN) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_chart_draws_lines_gaps_and_lone_points() {
        let mut t = Trends::default();
        assert!(chart(&t, 0).text_content().contains("Waiting"));
        t.merge(
            &history(vec![
                collection(
                    0,
                    &[
                        ("api", counters(1, 0, 0.010)),
                        ("<b>x</b>", counters(1, 0, 0.1)),
                    ],
                ),
                collection(
                    10,
                    &[
                        ("api", counters(2, 0, 0.015)),
                        ("<b>x</b>", counters(1, 0, 0.1)),
                    ],
                ),
                collection(
                    20,
                    &[
                        ("api", counters(3, 0, 0.020)),
                        ("<b>x</b>", counters(2, 0, 0.2)),
                    ],
                ),
                collection(
                    30,
                    &[
                        ("api", counters(3, 0, 0.020)),
                        ("<b>x</b>", counters(2, 0, 0.2)),
                    ],
                ),
            ]),
            0,
        );
        let c = chart(&t, 0);
        let paths: Vec<_> = c
            .descendants()
            .into_iter()
            .filter(|e| e.tag == "path")
            .collect();
        assert_eq!(paths.len(), 1, "api has a line");
        let d = paths[0].get_attr("d").unwrap();
        assert!(d.starts_with('M') && d.matches('L').count() == 1, "{d}");
        let lone: Vec<_> = c
            .descendants()
            .into_iter()
            .filter(|e| e.tag == "circle")
            .collect();
        assert_eq!(
            lone.len(),
            1,
            "the other service has one point between gaps"
        );
        // The y axis tops at a nice value above the peak (300 ms).
        assert!(c.text_content().contains("500 ms"), "{}", c.text_content());
        // Names are text (legend and SVG titles), never markup.
        let legend = &c.find_class("legend")[0];
        assert!(legend.text_content().contains("<b>x</b>"));
        assert!(c.descendants().iter().all(|e| e.tag != "b"));
        // Every coordinate lies inside the view box.
        for e in c.descendants() {
            for (name, v) in &e.attrs {
                if ["x1", "x2", "y1", "y2", "cx", "cy"].contains(name) {
                    let v: f64 = v.parse().unwrap();
                    assert!((0.0..=W).contains(&v), "{name}={v}");
                }
            }
        }
    }

    #[test]
    fn no_requests_in_the_window_says_so() {
        let mut t = Trends::default();
        t.merge(
            &history(vec![
                collection(0, &[("api", counters(1, 0, 0.01))]),
                collection(10, &[("api", counters(1, 0, 0.01))]),
            ]),
            0,
        );
        assert_eq!(
            chart(&t, 0).text_content(),
            "No request completed in the last hour."
        );
    }
}
