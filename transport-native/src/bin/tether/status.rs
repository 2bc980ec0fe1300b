//! The demo's live status: a rolling window of outcomes per service, and one line per service
//! redrawn in place on a terminal (plain lines otherwise).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::duration::Human;

/// How far back the success rate and the p95 look.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Most outcomes kept per service (a bound on memory whatever the rate).
const MAX_SAMPLES: usize = 10_000;

/// Outcomes of the last [`WINDOW`] of one service's requests.
#[derive(Debug, Default)]
pub(crate) struct Window {
    samples: VecDeque<Sample>,
}

/// One request: when it ended, how long it took, whether it succeeded, whether the cache
/// answered it.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    latency: Duration,
    ok: bool,
    cached: bool,
}

/// What a [`Window`] says now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct WindowStats {
    pub(crate) requests: usize,
    /// `None` with no request in the window.
    pub(crate) success_rate: Option<f64>,
    pub(crate) p95: Option<Duration>,
    /// Share of requests the cache answered; `None` with no request in the window.
    pub(crate) cache_hit_ratio: Option<f64>,
}

impl Window {
    pub(crate) fn record(&mut self, at: Instant, latency: Duration, ok: bool, cached: bool) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at,
            latency,
            ok,
            cached,
        });
    }

    pub(crate) fn stats(&mut self, now: Instant) -> WindowStats {
        while self
            .samples
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > WINDOW)
        {
            self.samples.pop_front();
        }
        let requests = self.samples.len();
        if requests == 0 {
            return WindowStats::default();
        }
        let ok = self.samples.iter().filter(|s| s.ok).count();
        let cached = self.samples.iter().filter(|s| s.cached).count();
        let mut latencies: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        WindowStats {
            requests,
            success_rate: Some(ok as f64 / requests as f64),
            p95: Some(crate::load::percentile(&latencies, 95.0)),
            cache_hit_ratio: Some(cached as f64 / requests as f64),
        }
    }
}

/// A shared [`Window`].
pub(crate) type SharedWindow = Arc<Mutex<Window>>;

/// Locks a window (a panicked writer leaves it usable: each update is one push).
pub(crate) fn lock(w: &SharedWindow) -> std::sync::MutexGuard<'_, Window> {
    w.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One service's line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Line {
    pub(crate) name: String,
    pub(crate) health: String,
    pub(crate) breaker: String,
    pub(crate) window: WindowStats,
    pub(crate) fault: Option<String>,
}

impl Line {
    /// `payments  unhealthy  breaker OPEN       ok  12.5% p95  1.2ms  (last 10s: 48 req)  fault: down`.
    pub(crate) fn render(&self, name_width: usize) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{:<name_width$}  {:<9}  breaker {:<9}",
            self.name, self.health, self.breaker
        );
        match self.window.success_rate {
            Some(rate) => {
                let _ = write!(s, "  ok {:>5.1}%", rate * 100.0);
            }
            None => s.push_str("  ok     - "),
        }
        match self.window.p95 {
            Some(p95) => {
                let _ = write!(s, "  p95 {:>8}", Human(p95).to_string());
            }
            None => s.push_str("  p95        -"),
        }
        let _ = write!(s, "  ({} req/10s)", self.window.requests);
        if let Some(ratio) = self.window.cache_hit_ratio.filter(|r| *r > 0.0) {
            let _ = write!(s, "  cache {:>3.0}% hits", ratio * 100.0);
        }
        if let Some(fault) = &self.fault {
            let _ = write!(s, "  << {fault}");
        }
        s
    }
}

/// Where the status goes: redrawn in place on a terminal, plain lines otherwise.
pub(crate) enum Display {
    Live {
        multi: MultiProgress,
        bars: Vec<ProgressBar>,
    },
    Plain {
        /// How often the whole block is printed.
        every: Duration,
        last: Option<Instant>,
    },
}

impl Display {
    /// A live display for `lines` services when `live`, else plain lines every `every`.
    pub(crate) fn new(live: bool, lines: usize, every: Duration) -> Self {
        if !live {
            return Display::Plain { every, last: None };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let style = ProgressStyle::with_template("{msg}").ok();
        let bars = (0..lines)
            .map(|_| {
                let bar = multi.add(ProgressBar::new_spinner());
                if let Some(style) = &style {
                    bar.set_style(style.clone());
                }
                bar
            })
            .collect();
        Display::Live { multi, bars }
    }

    /// Prints an event above the live lines (or as a plain line).
    pub(crate) fn event(&self, text: &str) {
        match self {
            Display::Live { multi, .. } => {
                let _ = multi.println(text);
            }
            Display::Plain { .. } => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    /// Shows the lines (a plain display prints them only every so often).
    pub(crate) fn update(&mut self, now: Instant, header: &str, lines: &[String]) {
        match self {
            Display::Live { bars, .. } => {
                for (bar, line) in bars.iter().zip(lines) {
                    bar.set_message(line.clone());
                }
            }
            Display::Plain { every, last } => {
                if last.is_some_and(|l| now.saturating_duration_since(l) < *every) {
                    return;
                }
                *last = Some(now);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{header}");
                for line in lines {
                    let _ = writeln!(out, "  {line}");
                }
                let _ = out.flush();
            }
        }
    }

    /// Leaves the last lines on screen.
    pub(crate) fn finish(&self) {
        if let Display::Live { bars, .. } = self {
            for bar in bars {
                bar.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_old_outcomes() {
        let t0 = crate::clock::now();
        let ms = Duration::from_millis;
        let mut w = Window::default();
        assert_eq!(w.stats(t0), WindowStats::default());
        w.record(t0, ms(100), false, false);
        for i in 0..19 {
            w.record(t0 + ms(5_000), ms(i), true, i < 5);
        }
        let s = w.stats(t0 + ms(6_000));
        assert_eq!(s.requests, 20);
        assert_eq!(s.success_rate, Some(0.95));
        assert_eq!(s.p95, Some(ms(18)));
        assert_eq!(s.cache_hit_ratio, Some(0.25));
        // Ten seconds after the failure, it is gone.
        let s = w.stats(t0 + ms(10_001));
        assert_eq!((s.requests, s.success_rate), (19, Some(1.0)));
        let s = w.stats(t0 + ms(16_000));
        assert_eq!(s, WindowStats::default());
    }

    #[test]
    fn the_window_is_bounded() {
        let t0 = crate::clock::now();
        let mut w = Window::default();
        for _ in 0..MAX_SAMPLES + 10 {
            w.record(t0, Duration::from_millis(1), true, false);
        }
        assert_eq!(w.stats(t0).requests, MAX_SAMPLES);
    }

    #[test]
    fn a_line_says_everything_at_a_glance() {
        let line = Line {
            name: "payments".into(),
            health: "unhealthy".into(),
            breaker: "OPEN".into(),
            window: WindowStats {
                requests: 48,
                success_rate: Some(0.125),
                p95: Some(Duration::from_micros(1_200)),
                cache_hit_ratio: Some(0.0),
            },
            fault: Some("down (503)".into()),
        };
        let text = line.render(10);
        assert!(
            text.starts_with("payments    unhealthy  breaker OPEN"),
            "{text}"
        );
        assert!(text.contains("ok  12.5%"), "{text}");
        assert!(text.contains("p95    1.2ms"), "{text}");
        assert!(text.ends_with("(48 req/10s)  << down (503)"), "{text}");
        let idle = Line {
            window: WindowStats::default(),
            fault: None,
            ..line
        };
        assert!(idle.render(8).contains("ok     -   p95        -"));
    }
}
