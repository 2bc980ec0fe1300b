//! `tether load URL -n N -c C`: a bounded load through one resilient client, with a progress
//! bar on a terminal and a latency summary at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tether_native::HttpClient;
use tether_native::tether_core::redact_url;

use crate::Failure;
use crate::clock;
use crate::duration::{self, Human, millis};
use crate::request::{Prepared, RequestArgs};
use crate::shutdown;

/// Most requests one run may send.
pub(crate) const MAX_REQUESTS: u64 = 1_000_000;
/// Most requests in flight at once.
pub(crate) const MAX_CONCURRENCY: usize = 1_000;
/// Longest run.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Highest rate, requests per second.
pub(crate) const MAX_RATE: f64 = 100_000.0;

/// `tether load URL`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL (http:// or https://).
    url: String,
    /// Requests to send in all (at most 1 000 000); with --duration, the run stops at
    /// whichever comes first.
    #[arg(short = 'n', long = "requests", value_name = "N")]
    requests: Option<u64>,
    /// Requests in flight at once (at most 1 000).
    #[arg(short = 'c', long, default_value_t = 10, value_name = "C")]
    concurrency: usize,
    /// Stop starting requests after this long (at most 1h), e.g. 30s.
    #[arg(long, value_parser = duration::parse)]
    duration: Option<Duration>,
    /// Start at most this many requests per second, over all workers.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    #[command(flatten)]
    request: RequestArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What the run is bounded by, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    pub(crate) requests: u64,
    pub(crate) concurrency: usize,
    pub(crate) duration: Option<Duration>,
    pub(crate) rate: Option<f64>,
}

/// Checks the bounds of a run: absurd numbers are refused rather than attempted.
pub(crate) fn plan(
    requests: Option<u64>,
    concurrency: usize,
    duration: Option<Duration>,
    rate: Option<f64>,
) -> Result<Plan, String> {
    let requests = match (requests, duration) {
        (Some(n), _) => n,
        (None, Some(_)) => MAX_REQUESTS,
        (None, None) => 100,
    };
    if requests == 0 {
        return Err("-n must be at least 1".into());
    }
    if requests > MAX_REQUESTS {
        return Err(format!(
            "-n {requests} is too many: at most {MAX_REQUESTS} requests per run"
        ));
    }
    if concurrency == 0 {
        return Err("-c must be at least 1".into());
    }
    if concurrency > MAX_CONCURRENCY {
        return Err(format!(
            "-c {concurrency} is too many: at most {MAX_CONCURRENCY} requests in flight"
        ));
    }
    if let Some(d) = duration
        && (d.is_zero() || d > MAX_DURATION)
    {
        return Err(format!(
            "--duration {} is out of range: more than 0 and at most 1h",
            Human(d)
        ));
    }
    if let Some(r) = rate
        && (!r.is_finite() || r <= 0.0 || r > MAX_RATE)
    {
        return Err(format!(
            "--rate {r} is out of range: more than 0 and at most {MAX_RATE} per second"
        ));
    }
    Ok(Plan {
        requests,
        concurrency: concurrency.min(usize::try_from(requests).unwrap_or(usize::MAX)),
        duration,
        rate,
    })
}

/// What became of one request.
#[derive(Clone, Debug)]
enum Outcome {
    Response { status: u16, from_cache: bool },
    Error { kind: &'static str },
}

#[derive(Clone, Debug)]
struct Sample {
    latency: Duration,
    outcome: Outcome,
    retries: u32,
}

/// The end-of-run summary (also the `--json` output).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Summary {
    pub(crate) url: String,
    pub(crate) requests: u64,
    pub(crate) concurrency: usize,
    pub(crate) elapsed_ms: f64,
    pub(crate) requests_per_second: f64,
    /// Requests answered with a status below 400 (cache hits included).
    pub(crate) succeeded: u64,
    /// Requests answered 4xx/5xx, or that failed.
    pub(crate) failed: u64,
    pub(crate) latency_ms: Latency,
    /// Final statuses, by code.
    pub(crate) status_counts: BTreeMap<u16, u64>,
    /// Requests that ended in an error, by kind (`connect`, `timeout`, `circuit_open`, …).
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) cache_hits: u64,
    pub(crate) retries: u64,
    /// Every circuit breaker the run went through: its state at the end and how often it
    /// opened.
    pub(crate) breakers: BTreeMap<String, BreakerSummary>,
    /// Why the run stopped early, if it did.
    pub(crate) interrupted: Option<String>,
}

/// One circuit breaker at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct BreakerSummary {
    pub(crate) state: String,
    pub(crate) opened: u64,
}

/// Latency percentiles, milliseconds (nearest rank over every request).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Latency {
    pub(crate) min: f64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// The nearest-rank `p`-th percentile of sorted `values` (0 when empty).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summarize(url: &str, plan: &Plan, samples: &[Sample], elapsed: Duration) -> Summary {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort_unstable();
    let total: Duration = latencies.iter().sum();
    let count = samples.len() as u64;
    let mut summary = Summary {
        url: redact_url(url),
        requests: count,
        concurrency: plan.concurrency,
        elapsed_ms: millis(elapsed),
        requests_per_second: if elapsed.is_zero() {
            0.0
        } else {
            count as f64 / elapsed.as_secs_f64()
        },
        latency_ms: Latency {
            min: millis(latencies.first().copied().unwrap_or_default()),
            mean: if count == 0 {
                0.0
            } else {
                millis(total) / count as f64
            },
            p50: millis(percentile(&latencies, 50.0)),
            p90: millis(percentile(&latencies, 90.0)),
            p95: millis(percentile(&latencies, 95.0)),
            p99: millis(percentile(&latencies, 99.0)),
            max: millis(latencies.last().copied().unwrap_or_default()),
        },
        ..Summary::default()
    };
    for s in samples {
        summary.retries += u64::from(s.retries);
        match &s.outcome {
            Outcome::Response { status, from_cache } => {
                *summary.status_counts.entry(*status).or_default() += 1;
                if *status < 400 {
                    summary.succeeded += 1;
                } else {
                    summary.failed += 1;
                }
                if *from_cache {
                    summary.cache_hits += 1;
                }
            }
            Outcome::Error { kind } => {
                *summary.errors.entry((*kind).to_owned()).or_default() += 1;
                summary.failed += 1;
            }
        }
    }
    summary
}

fn human(summary: &Summary) -> String {
    let mut s = String::new();
    let l = &summary.latency_ms;
    let ms = |v: f64| Human(Duration::from_secs_f64(v / 1_000.0));
    let _ = writeln!(
        s,
        "{} requests to {} with concurrency {} in {} — {:.1} req/s{}",
        summary.requests,
        summary.url,
        summary.concurrency,
        ms(summary.elapsed_ms),
        summary.requests_per_second,
        summary
            .interrupted
            .as_deref()
            .map(|why| format!(" (stopped early: {why})"))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        s,
        "  latency   min {}  mean {}  p50 {}  p90 {}  p95 {}  p99 {}  max {}",
        ms(l.min),
        ms(l.mean),
        ms(l.p50),
        ms(l.p90),
        ms(l.p95),
        ms(l.p99),
        ms(l.max)
    );
    let _ = writeln!(
        s,
        "  outcome   {} succeeded, {} failed",
        summary.succeeded, summary.failed
    );
    let statuses: Vec<String> = summary
        .status_counts
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect();
    let _ = writeln!(
        s,
        "  statuses  {}",
        if statuses.is_empty() {
            "none".to_owned()
        } else {
            statuses.join("  ")
        }
    );
    let errors: Vec<String> = summary
        .errors
        .iter()
        .map(|(kind, n)| format!("{kind}: {n}"))
        .collect();
    let _ = writeln!(
        s,
        "  errors    {}",
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join("  ")
        }
    );
    let hit_pct = if summary.requests == 0 {
        0.0
    } else {
        summary.cache_hits as f64 * 100.0 / summary.requests as f64
    };
    let _ = writeln!(
        s,
        "  cache     {} hits ({hit_pct:.1}%)   retries {}",
        summary.cache_hits, summary.retries
    );
    for (name, b) in &summary.breakers {
        let _ = writeln!(
            s,
            "  breaker   {name}: {} at the end, opened {} time{}",
            b.state,
            b.opened,
            if b.opened == 1 { "" } else { "s" }
        );
    }
    s
}

/// The breakers of `client`'s engine: state now, and how often each opened.
fn breakers(client: &HttpClient) -> BTreeMap<String, BreakerSummary> {
    let snapshot = client.engine_snapshot();
    snapshot
        .breakers
        .iter()
        .map(|(name, b)| {
            let opened = snapshot
                .metrics
                .service(name)
                .map_or(0, |m| m.breaker_transitions.get("open"));
            (
                name.clone(),
                BreakerSummary {
                    state: b.state.as_str().to_owned(),
                    opened,
                },
            )
        })
        .collect()
}

/// When request `ticket` may start, with a rate: evenly spaced from `start`.
fn slot(start: Instant, rate: f64, ticket: u64) -> Instant {
    start + Duration::from_secs_f64(ticket as f64 / rate)
}

fn progress_bar(plan: &Plan) -> ProgressBar {
    let draw = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bounded_by_count = plan.duration.is_none() || plan.requests < MAX_REQUESTS;
    let bar = if bounded_by_count {
        ProgressBar::with_draw_target(Some(plan.requests), draw)
    } else {
        ProgressBar::with_draw_target(None, draw)
    };
    let template = if bounded_by_count {
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} {msg}"
    } else {
        "{spinner} [{elapsed_precise}] {pos} requests {per_sec} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Runs the load and prints the summary.
pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let plan =
        plan(args.requests, args.concurrency, args.duration, args.rate).map_err(Failure::Usage)?;
    let prepared = Arc::new(args.request.prepare(&args.url)?);
    let client = args.request.client()?;
    let bar = progress_bar(&plan);
    let failures = Arc::new(AtomicU64::new(0));
    let tickets = Arc::new(AtomicU64::new(0));
    let start = clock::now();
    let stop_at = plan.duration.map(|d| start + d);
    let mut workers = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        let worker = Worker {
            client: client.clone(),
            prepared: Arc::clone(&prepared),
            tickets: Arc::clone(&tickets),
            failures: Arc::clone(&failures),
            bar: bar.clone(),
            plan,
            start,
            stop_at,
        };
        workers.push(clock::spawn(worker.run()));
    }
    let mut signals = shutdown::Signals::listen();
    let all = futures::future::join_all(workers);
    tokio::pin!(all);
    let mut interrupted = None;
    let results = tokio::select! {
        results = &mut all => results,
        () = signals.recv() => {
            // Ctrl-C: stop handing out tickets; requests in flight finish (within --timeout).
            tickets.store(u64::MAX / 2, Ordering::SeqCst);
            interrupted = Some("interrupted".to_owned());
            all.await
        }
    };
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let mut samples = Vec::new();
    for r in results {
        samples.extend(r.map_err(|e| Failure::Failed(format!("a load worker failed: {e}")))?);
    }
    let mut summary = summarize(&args.url, &plan, &samples, elapsed);
    if let Some(d) = plan.duration {
        // With both -n and --duration, say which bound ended the run.
        if interrupted.is_none() && summary.requests < plan.requests && plan.requests < MAX_REQUESTS
        {
            interrupted = Some(format!("--duration {} reached", Human(d)));
        }
    }
    summary.interrupted = interrupted;
    summary.breakers = breakers(&client);
    client.close();
    let text = if args.json {
        serde_json::to_string_pretty(&summary)
            .map_err(|e| Failure::Failed(format!("cannot write JSON: {e}")))?
            + "\n"
    } else {
        human(&summary)
    };
    print!("{text}");
    Ok(())
}

struct Worker {
    client: HttpClient,
    prepared: Arc<Prepared>,
    tickets: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    bar: ProgressBar,
    plan: Plan,
    start: Instant,
    stop_at: Option<Instant>,
}

impl Worker {
    async fn run(self) -> Vec<Sample> {
        let mut samples = Vec::new();
        loop {
            let ticket = self.tickets.fetch_add(1, Ordering::SeqCst);
            if ticket >= self.plan.requests {
                break;
            }
            if let Some(rate) = self.plan.rate {
                let at = slot(self.start, rate, ticket);
                if self.stop_at.is_some_and(|stop| at >= stop) {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
            }
            if self.stop_at.is_some_and(|stop| clock::now() >= stop) {
                break;
            }
            let started = clock::now();
            let result = self.prepared.on(&self.client).send().await;
            let latency = started.elapsed();
            let (outcome, retries) = match &result {
                Ok(r) => (
                    Outcome::Response {
                        status: r.status().as_u16(),
                        from_cache: r.from_cache(),
                    },
                    r.trace().retries(),
                ),
                Err(e) => (
                    Outcome::Error { kind: e.kind() },
                    e.trace().map_or(0, tether_native::DecisionTrace::retries),
                ),
            };
            let failed = match &outcome {
                Outcome::Response { status, .. } => *status >= 400,
                Outcome::Error { .. } => true,
            };
            if failed {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                self.bar.set_message(format!("{n} failed"));
            }
            self.bar.inc(1);
            samples.push(Sample {
                latency,
                outcome,
                retries,
            });
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = Duration::from_millis;
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 50.0), ms(50));
        assert_eq!(percentile(&sorted, 95.0), ms(95));
        assert_eq!(percentile(&sorted, 99.0), ms(99));
        assert_eq!(percentile(&sorted, 100.0), ms(100));
        assert_eq!(percentile(&[ms(7)], 99.0), ms(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        let two = [ms(1), ms(9)];
        assert_eq!(percentile(&two, 50.0), ms(1));
        assert_eq!(percentile(&two, 51.0), ms(9));
    }

    #[test]
    fn absurd_runs_are_refused() {
        assert!(plan(Some(0), 1, None, None).unwrap_err().contains("-n"));
        assert!(
            plan(Some(MAX_REQUESTS + 1), 1, None, None)
                .unwrap_err()
                .contains("at most 1000000")
        );
        assert!(plan(Some(10), 0, None, None).unwrap_err().contains("-c"));
        assert!(
            plan(Some(10), 5000, None, None)
                .unwrap_err()
                .contains("-c 5000")
        );
        assert!(plan(Some(10), 1, Some(Duration::from_secs(7200)), None).is_err());
        assert!(plan(Some(10), 1, Some(Duration::ZERO), None).is_err());
        for rate in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(plan(Some(10), 1, None, Some(rate)).is_err(), "{rate}");
        }
        // Concurrency never exceeds the requests; a duration alone is bounded by the maximum.
        assert_eq!(plan(Some(3), 10, None, None).unwrap().concurrency, 3);
        assert_eq!(plan(None, 1, None, None).unwrap().requests, 100);
        let p = plan(None, 4, Some(Duration::from_secs(2)), Some(50.0)).unwrap();
        assert_eq!((p.requests, p.rate), (MAX_REQUESTS, Some(50.0)));
    }

    #[test]
    fn summary_counts_every_outcome() {
        let ms = Duration::from_millis;
        let sample = |l, outcome, retries| Sample {
            latency: ms(l),
            outcome,
            retries,
        };
        let samples = [
            sample(
                5,
                Outcome::Response {
                    status: 200,
                    from_cache: false,
                },
                0,
            ),
            sample(
                1,
                Outcome::Response {
                    status: 200,
                    from_cache: true,
                },
                0,
            ),
            sample(
                30,
                Outcome::Response {
                    status: 503,
                    from_cache: false,
                },
                3,
            ),
            sample(2, Outcome::Error { kind: "connect" }, 1),
        ];
        let plan = plan(Some(4), 2, None, None).unwrap();
        let s = summarize("http://h/?api_key=s3cr3t", &plan, &samples, ms(100));
        assert_eq!(s.url, "http://h/?api_key=[REDACTED]");
        assert_eq!((s.requests, s.succeeded, s.failed), (4, 2, 2));
        assert_eq!(s.status_counts, BTreeMap::from([(200, 2), (503, 1)]));
        assert_eq!(s.errors, BTreeMap::from([("connect".to_owned(), 1)]));
        assert_eq!((s.cache_hits, s.retries), (1, 4));
        assert!((s.requests_per_second - 40.0).abs() < 1e-9);
        assert_eq!((s.latency_ms.min, s.latency_ms.max), (1.0, 30.0));
        assert_eq!((s.latency_ms.p50, s.latency_ms.p99), (2.0, 30.0));
        assert!((s.latency_ms.mean - 9.5).abs() < 1e-9);
        let text = human(&s);
        assert!(text.contains("200: 2  503: 1"), "{text}");
        assert!(text.contains("connect: 1"), "{text}");
        assert!(!text.contains("s3cr3t"));
    }
}
