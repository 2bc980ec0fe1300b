//! What the page knows between polls, and what it shows from it: the last data received,
//! whether (and since when) it is stale, the trends.
//!
//! When a poll fails the last data **stays on screen** under a banner that says since when
//! it is stale and why; the panels keep their content. The next success removes the banner.

use crate::data::{Dashboard, History};
use crate::panels;
use crate::time::{self, Clock, UnixMs};
use crate::trend::{self, Trends};
use crate::view::El;

/// The dashboard received last, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// The answer.
    pub dashboard: Dashboard,
    /// When the page received it.
    pub at: UnixMs,
}

/// Polls failing in a row.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// When the first of them failed.
    pub since: UnixMs,
    /// When the latest failed.
    pub last: UnixMs,
    /// Why the first of them failed (the client's error text; shown as text).
    pub first_reason: String,
    /// Why the latest failed: often "circuit breaker is open" once the page's client has
    /// given up on the server for a while, which is why the first reason is kept too.
    pub reason: String,
    /// How many.
    pub count: u32,
}

/// The page's state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PollState {
    /// The last dashboard received.
    pub received: Option<Received>,
    /// The current run of failures (none after a success).
    pub failure: Option<Failure>,
    /// Trend samples.
    pub trends: Trends,
    /// Why the latest `/history` request failed, if it did.
    pub history_error: Option<String>,
}

/// The panels, by the id of their element in `index.html`.
pub const PANELS: [&str; 7] = [
    "system",
    "health",
    "performance",
    "alerts",
    "cache",
    "breakers",
    "trends",
];

/// Everything the page shows, built from a [`PollState`].
#[derive(Clone, Debug, PartialEq)]
pub struct PageView {
    /// The stale/unreachable banner, if any.
    pub banner: Option<El>,
    /// The line under the title: last update, next poll.
    pub status: El,
    /// The overview strip.
    pub overview: El,
    /// `(panel id, body)` in [`PANELS`] order.
    pub panels: Vec<(&'static str, El)>,
}

impl PollState {
    /// A poll of `/dashboard` succeeded at `at`.
    pub fn dashboard_received(&mut self, dashboard: Dashboard, at: UnixMs) {
        self.received = Some(Received { dashboard, at });
        self.failure = None;
    }

    /// A poll of `/dashboard` failed at `at` because of `reason`.
    pub fn dashboard_failed(&mut self, reason: impl Into<String>, at: UnixMs) {
        let reason = reason.into();
        match &mut self.failure {
            Some(f) => {
                f.last = at;
                f.reason = reason;
                f.count = f.count.saturating_add(1);
            }
            None => {
                self.failure = Some(Failure {
                    since: at,
                    last: at,
                    first_reason: reason.clone(),
                    reason,
                    count: 1,
                });
            }
        }
    }

    /// A `/history` answer arrived.
    pub fn history_received(&mut self, history: &History, utc_offset_minutes: i32) {
        self.trends.merge(history, utc_offset_minutes);
        self.history_error = None;
    }

    /// A `/history` request failed.
    pub fn history_failed(&mut self, reason: impl Into<String>) {
        self.history_error = Some(reason.into());
    }

    /// Whether what is on screen is older than the latest attempt.
    pub fn is_stale(&self) -> bool {
        self.failure.is_some()
    }

    /// The banner: none while polls succeed; "stale since …" over kept data; "cannot reach"
    /// before any data.
    pub fn banner(&self, source: &str, clock: Clock) -> Option<El> {
        let failure = self.failure.as_ref()?;
        let latest = if failure.reason == failure.first_reason {
            String::new()
        } else {
            format!("; now: {}", failure.reason)
        };
        let reason = El::new("span").class("reason").text(format!(
            "{source} did not answer: {}{latest} ({} in a row since {}, last at {}).",
            failure.first_reason,
            failure.count,
            time::local_time(failure.since, clock),
            time::local_time(failure.last, clock)
        ));
        let banner = match &self.received {
            Some(r) => El::new("div")
                .class("banner stale")
                .attr("role", "alert")
                .child(El::new("strong").text(format!(
                    "Stale since {} ({} ago).",
                    time::local_time(r.at, clock),
                    time::span(clock.now - r.at)
                )))
                .text(" The panels show the last data received. ")
                .child(reason),
            None => El::new("div")
                .class("banner down")
                .attr("role", "alert")
                .child(El::new("strong").text("No data yet."))
                .text(" ")
                .child(reason),
        };
        Some(banner)
    }

    /// The page, as of `clock`, for a source `source` polled every `interval_secs`.
    pub fn view(&self, source: &str, interval_secs: u64, clock: Clock) -> PageView {
        let status = match &self.received {
            Some(r) => format!(
                "Updated {} · polling {source} every {}",
                time::local_time(r.at, clock),
                time::span(i64::try_from(interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX))
            ),
            None => format!("Connecting to {source}…"),
        };
        let status = El::new("span")
            .class(if self.is_stale() { "stale" } else { "live" })
            .text(status);
        let (overview, panels) = match &self.received {
            Some(r) => {
                let d = &r.dashboard;
                let mut trends = trend::chart(&self.trends, clock.utc_offset_minutes);
                if let Some(e) = &self.history_error {
                    trends = El::new("div").child(trends).child(
                        El::new("p")
                            .class("empty warn")
                            .text(format!("The trend could not be updated: {e}")),
                    );
                }
                let bodies = [
                    panels::system(d),
                    panels::health(d, clock),
                    panels::performance(d),
                    panels::alerts(d, clock),
                    panels::cache(d),
                    panels::breakers(d, clock),
                    trends,
                ];
                (
                    panels::overview(d, clock),
                    PANELS.into_iter().zip(bodies).collect(),
                )
            }
            None => (
                El::new("div").class("overview"),
                PANELS
                    .into_iter()
                    .map(|id| (id, El::new("p").class("empty").text("Waiting for data…")))
                    .collect(),
            ),
        };
        PageView {
            banner: self.banner(source, clock),
            status,
            overview,
            panels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_the_data_and_say_since_when() {
        let mut s = PollState::default();
        let clock = Clock::utc(0);
        assert!(s.banner("http://m", clock).is_none());
        s.dashboard_failed("refused", 1_000);
        let b = s.banner("http://m", Clock::utc(2_000)).unwrap();
        assert!(
            b.text_content().starts_with("No data yet."),
            "{}",
            b.text_content()
        );

        s.dashboard_received(Dashboard::default(), 10_000);
        assert!(!s.is_stale());
        s.dashboard_failed("refused", 40_000);
        s.dashboard_failed("circuit open", 70_000);
        let f = s.failure.as_ref().unwrap();
        assert_eq!((f.since, f.last, f.count), (40_000, 70_000, 2));
        let b = s.banner("http://m", Clock::utc(75_000)).unwrap();
        let text = b.text_content();
        assert!(
            text.starts_with("Stale since 00:00:10 (1 min ago)."),
            "{text}"
        );
        assert!(
            text.contains(
                "did not answer: refused; now: circuit open (2 in a row since 00:00:40, last at 00:01:10)"
            ),
            "{text}"
        );
        assert_eq!(b.get_attr("role"), Some("alert"));
        // The data is still there.
        assert_eq!(s.received.as_ref().unwrap().at, 10_000);
        s.dashboard_received(Dashboard::default(), 80_000);
        assert!(s.banner("http://m", clock).is_none());
    }

    #[test]
    fn the_view_has_every_panel_before_and_after_data() {
        let mut s = PollState::default();
        let v = s.view("http://m", 30, Clock::utc(0));
        assert_eq!(
            v.panels.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            PANELS
        );
        assert!(v.status.text_content().contains("Connecting"));
        s.dashboard_received(Dashboard::default(), 0);
        s.history_failed("timeout");
        let v = s.view("http://m", 30, Clock::utc(0));
        assert_eq!(v.panels.len(), PANELS.len());
        assert!(v.status.text_content().contains("every 30 s"));
        let trends = &v.panels[6].1;
        assert!(
            trends
                .text_content()
                .contains("could not be updated: timeout")
        );
    }
}
