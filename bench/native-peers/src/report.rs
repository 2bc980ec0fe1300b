//! The Markdown report: one row per (client, case, concurrency) with the median over rounds
//! and the spread between rounds, ratios against reqwest and bare ureq, and the targets.

use crate::clients::{ALL, Kind};
use crate::meter::Sample;
use crate::nginx::{CACHED, NO_STORE};

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    /// `Cache-Control: no-store`: every request reaches nginx.
    Uncached,
    /// `Cache-Control: max-age=60`: after the warm-up every request is a cache hit.
    CacheHit,
    /// Diagnostic: `Uncached` with a URL per worker, so that a cache's single-flight never
    /// makes a request wait for an identical one in flight.
    UncachedPerWorker,
}

impl Case {
    /// Every case, in the order of the report.
    pub(crate) const ALL: [Case; 3] = [Case::Uncached, Case::UncachedPerWorker, Case::CacheHit];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Case::Uncached => "uncached",
            Case::CacheHit => "cache-hit",
            Case::UncachedPerWorker => "uncached-url-per-worker",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The upstream's resource for this case.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Case::Uncached | Case::UncachedPerWorker => NO_STORE,
            Case::CacheHit => CACHED,
        }
    }

    /// Whether `kind` has a row in this case (diagnostic cases only with `diagnostics`).
    pub(crate) fn includes(self, kind: Kind, diagnostics: bool) -> bool {
        match self {
            Case::Uncached => true,
            Case::CacheHit => kind.caches(),
            Case::UncachedPerWorker => {
                diagnostics
                    && matches!(
                        kind,
                        Kind::TetherAsync
                            | Kind::HyperTransport
                            | Kind::TetherBlocking
                            | Kind::BlockingTransport
                    )
            }
        }
    }
}

/// One (client, case, concurrency) cell and its rounds.
pub(crate) struct Cell {
    pub(crate) kind: Kind,
    pub(crate) case: Case,
    pub(crate) concurrency: usize,
    pub(crate) samples: Vec<Sample>,
}

impl Cell {
    pub(crate) fn id(&self) -> String {
        format!(
            "{} {} c={}",
            self.kind.name(),
            self.case.name(),
            self.concurrency
        )
    }

    fn values(&self, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.samples.iter().map(f).collect()
    }
}

/// Median, smallest and largest of `values` (`None` when empty).
fn spread(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    };
    Some((median, v[0], v[n - 1]))
}

/// Whether the median meets a target (`ok`), and whether every round agrees.
fn verdict(median: f64, lo: f64, hi: f64, ok: impl Fn(f64) -> bool) -> &'static str {
    match (ok(median), ok(lo) == ok(hi)) {
        (true, true) => "**met**",
        (true, false) => "met (median; the spread crosses the line)",
        (false, true) => "**missed**",
        (false, false) => "missed (median; the spread crosses the line)",
    }
}

/// What the run was made on.
pub(crate) struct Meta {
    pub(crate) machine: String,
    pub(crate) upstream: String,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    pub(crate) rounds: u32,
    pub(crate) window_ms: u64,
    pub(crate) warmup_ms: u64,
    pub(crate) seconds: f64,
}

struct Report<'a> {
    cells: &'a [Cell],
    md: String,
}

impl Report<'_> {
    fn find(&self, kind: Kind, case: Case, concurrency: usize) -> Option<&Cell> {
        self.cells.iter().find(|c| {
            c.kind == kind
                && c.case == case
                && c.concurrency == concurrency
                && !c.samples.is_empty()
        })
    }

    /// Per-round ratios `f(a) / f(b)`, paired by round (the rounds interleave the clients).
    fn paired(a: &Cell, b: &Cell, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        a.samples
            .iter()
            .zip(&b.samples)
            .map(|(x, y)| f(x) / f(y))
            .collect()
    }

    /// `median (min–max)` of a ratio of medians' own rounds, as `0.93× (0.88–0.97)`.
    fn ratio_text(values: &[f64]) -> String {
        spread(values).map_or_else(
            || "—".to_owned(),
            |(m, lo, hi)| format!("{m:.2}× ({lo:.2}–{hi:.2})"),
        )
    }

    fn line(&mut self, text: impl AsRef<str>) {
        self.md.push_str(text.as_ref());
        self.md.push('\n');
    }

    fn table(&mut self) {
        let header = [
            "client",
            "case",
            "c",
            "req/s (min–max)",
            "p50 µs",
            "p99 µs",
            "CPU µs/req (min–max)",
            "CPU ×reqwest",
            "CPU ×ureq",
            "req/s ×reqwest",
            "upstream/req",
            "new conns",
            "errors",
        ];
        let mut rows: Vec<Vec<String>> = Vec::new();
        for case in Case::ALL {
            for concurrency in [1, 64] {
                for kind in ALL {
                    let Some(cell) = self.find(kind, case, concurrency) else {
                        continue;
                    };
                    rows.push(self.row(cell));
                }
            }
        }
        let mut line = format!("| {} |", header.join(" | "));
        self.line(&line);
        line = header
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---" } else { "--:" })
            .collect::<Vec<_>>()
            .join("|");
        self.line(format!("|{line}|"));
        for row in rows {
            self.line(format!("| {} |", row.join(" | ")));
        }
    }

    fn row(&self, cell: &Cell) -> Vec<String> {
        let num = |values: Vec<f64>, digits: usize| {
            spread(&values).map_or_else(
                || "—".to_owned(),
                |(m, lo, hi)| format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})"),
            )
        };
        let median = |values: Vec<f64>| spread(&values).map_or(f64::NAN, |s| s.0);
        let versus = |base: Kind, f: fn(&Sample) -> f64| {
            self.find(base, Case::Uncached, cell.concurrency)
                .filter(|b| b.kind != cell.kind)
                .map_or_else(
                    || "—".to_owned(),
                    |b| format!("{:.2}×", median(cell.values(f)) / median(b.values(f))),
                )
        };
        vec![
            cell.kind.label().to_owned(),
            cell.case.name().to_owned(),
            cell.concurrency.to_string(),
            num(cell.values(Sample::rps), 0),
            format!("{:.0}", median(cell.values(|s| f64::from(s.p50_us)))),
            format!("{:.0}", median(cell.values(|s| f64::from(s.p99_us)))),
            num(cell.values(Sample::cpu_per_request), 1),
            versus(Kind::ReqwestCt, Sample::cpu_per_request),
            versus(Kind::UreqThreads, Sample::cpu_per_request),
            versus(Kind::ReqwestCt, Sample::rps),
            cell.samples
                .iter()
                .map(Sample::upstream_per_request)
                .collect::<Option<Vec<f64>>>()
                .and_then(|v| spread(&v))
                .map_or_else(|| "—".to_owned(), |s| format!("{:.3}", s.0)),
            cell.samples
                .iter()
                .filter_map(|s| s.new_connections)
                .sum::<u64>()
                .to_string(),
            cell.samples
                .iter()
                .map(|s| s.errors)
                .sum::<u64>()
                .to_string(),
        ]
    }

    /// One line of the targets: `spec.num / spec.den` of `spec.measure`, per round.
    fn target(&mut self, spec: &Target) {
        let (Some(num), Some(den)) = (
            self.find(spec.num, spec.case, spec.concurrency),
            self.find(spec.den, spec.case, spec.concurrency),
        ) else {
            self.line(format!("| {} | — | not measured in this run |", spec.what));
            return;
        };
        let ratios = Self::paired(num, den, spec.measure);
        let verdict = match spread(&ratios) {
            Some((median, lo, hi)) => {
                let ok = |r: f64| {
                    if spec.at_most {
                        r <= spec.limit
                    } else {
                        r >= spec.limit
                    }
                };
                verdict(median, lo, hi, ok)
            }
            None => "—",
        };
        let text = Self::ratio_text(&ratios);
        self.line(format!("| {} | {text} | {verdict} |", spec.what));
    }

    /// CPU per request of `client` minus that of its bare `transport`, per round.
    fn overhead(
        &mut self,
        api: &str,
        (client, transport): (Kind, Kind),
        case: Case,
        concurrency: usize,
    ) {
        const LIMIT_US: f64 = 2.0;
        let what = format!(
            "{api}: client layer over its bare transport, {}, c={concurrency}: ≤ {LIMIT_US} µs CPU/req",
            case.name()
        );
        let (Some(x), Some(y)) = (
            self.find(client, case, concurrency),
            self.find(transport, case, concurrency),
        ) else {
            if case == Case::Uncached {
                self.line(format!("| {what} | — | not measured in this run |"));
            }
            return;
        };
        let diffs: Vec<f64> = x
            .samples
            .iter()
            .zip(&y.samples)
            .map(|(a, b)| a.cpu_per_request() - b.cpu_per_request())
            .collect();
        let Some((m, lo, hi)) = spread(&diffs) else {
            return;
        };
        let verdict = verdict(m, lo, hi, |d| d <= LIMIT_US);
        self.line(format!(
            "| {what} | {m:+.1} µs ({lo:+.1} to {hi:+.1}) | {verdict} |"
        ));
    }
}

/// The whole report.
pub(crate) fn render(meta: &Meta, cells: &[Cell]) -> String {
    let mut r = Report {
        cells,
        md: String::new(),
    };
    r.line("# bench-native: Tether's native client and its peers\n");
    r.line(format!("- machine: {}", meta.machine));
    r.line(format!(
        "- load average (1, 5, 15 min): before {}, after {}",
        meta.load_before, meta.load_after
    ));
    r.line(format!("- upstream: {}", meta.upstream));
    r.line(format!(
        "- every client in its own process, {} rounds of {} ms (after {} ms of warm-up) per \
         row, the rows of a case taking turns within each round; whole run {:.0} s",
        meta.rounds, meta.window_ms, meta.warmup_ms, meta.seconds
    ));
    r.line(
        "- figures: median over the rounds, with (min–max) between rounds; CPU = \
         `getrusage(RUSAGE_SELF)` user + system of the client's process over the timed window \
         divided by the requests answered in it (all its threads: runtime, blocking pool, \
         background driver)",
    );
    r.line(
        "- `×reqwest` / `×ureq`: against reqwest current-thread / ureq on OS threads at the \
         same concurrency, uncached (for cache-hit rows too: a hit against a request that \
         goes out); `upstream/req`: requests nginx answered per client request (0 = all \
         cache hits)",
    );
    r.line(
        "- rows marked *diagnostic* and the `uncached-url-per-worker` case (each worker asks \
         for a URL of its own, so a cache's single-flight never holds a request behind an \
         identical one in flight) explain the others; they come with `--diagnostics`\n",
    );
    r.table();
    for cell in cells {
        if let Some(e) = cell.samples.iter().find_map(|s| s.first_error.as_deref()) {
            let id = cell.id();
            r.line(format!("\nfirst error of {id}: {e}"));
        }
    }
    targets(&mut r);
    r.md
}

/// A target of the issue, as a ratio of two rows.
struct Target {
    what: String,
    num: Kind,
    den: Kind,
    case: Case,
    concurrency: usize,
    measure: fn(&Sample) -> f64,
    limit: f64,
    /// `num / den ≤ limit` (else `≥`).
    at_most: bool,
}

fn targets(r: &mut Report<'_>) {
    r.line("\n## Targets (ratios per round, paired: median (min–max))\n");
    r.line("| target | measured | verdict |");
    r.line("|---|--:|---|");
    let cpu = Sample::cpu_per_request;
    let mut specs = vec![
        Target {
            what: "async, uncached, c=64: CPU/req ≤ 1.0× reqwest".into(),
            num: Kind::TetherAsync,
            den: Kind::ReqwestCt,
            case: Case::Uncached,
            concurrency: 64,
            measure: cpu,
            limit: 1.0,
            at_most: true,
        },
        Target {
            what: "async, uncached, c=1: CPU/req ≤ 1.1× reqwest".into(),
            num: Kind::TetherAsync,
            den: Kind::ReqwestCt,
            case: Case::Uncached,
            concurrency: 1,
            measure: cpu,
            limit: 1.1,
            at_most: true,
        },
        Target {
            what: "async, uncached, c=64: req/s ≥ 0.95× reqwest".into(),
            num: Kind::TetherAsync,
            den: Kind::ReqwestCt,
            case: Case::Uncached,
            concurrency: 64,
            measure: Sample::rps,
            limit: 0.95,
            at_most: false,
        },
    ];
    for concurrency in [1, 64] {
        specs.push(Target {
            what: format!("blocking, uncached, c={concurrency}: CPU/req ≤ 1.1× ureq on OS threads"),
            num: Kind::TetherBlocking,
            den: Kind::UreqThreads,
            case: Case::Uncached,
            concurrency,
            measure: cpu,
            limit: 1.1,
            at_most: true,
        });
    }
    for (kind, api) in [
        (Kind::TetherAsync, "async"),
        (Kind::TetherBlocking, "blocking"),
    ] {
        for concurrency in [1, 64] {
            specs.push(Target {
                what: format!(
                    "{api} cache hit, c={concurrency}: reqwest + http-cache CPU/req ≥ 4× Tether's"
                ),
                num: Kind::ReqwestMw,
                den: kind,
                case: Case::CacheHit,
                concurrency,
                measure: cpu,
                limit: 4.0,
                at_most: false,
            });
        }
    }
    for spec in &specs {
        r.target(spec);
    }
    for case in [Case::Uncached, Case::UncachedPerWorker] {
        for (api, pair) in [
            ("async", (Kind::TetherAsync, Kind::HyperTransport)),
            ("blocking", (Kind::TetherBlocking, Kind::BlockingTransport)),
        ] {
            for concurrency in [1, 64] {
                r.overhead(api, pair, case, concurrency);
            }
        }
    }
}
