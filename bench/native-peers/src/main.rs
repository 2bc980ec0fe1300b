//! `bench-native`: Tether's native client side by side with its peers, in one run, against
//! the same loopback upstream (the chaos server, in process, on its own runtime thread).
//!
//! Clients:
//! - **ureq** — a bare `ureq::Agent` called on tokio's blocking pool (the baseline);
//! - **tether** — the core client layer (`tether_core::client::HttpClient`, no hooks) over `UreqTransport` with every policy on (cache,
//!   breaker, retry with budget, metrics, background driver);
//! - **reqwest+mw** — reqwest with reqwest-middleware, reqwest-retry and http-cache-reqwest
//!   (in-memory moka manager).
//!
//! Cases:
//! - **no-store** — `GET /json/small?cache_control=no-store`: every request reaches the
//!   upstream; the caches look it up and decline to store it;
//! - **cache-hit** — `GET /json/small` (`max-age=60`): after warm-up every request is a hit.
//!
//! Each cell runs `--rounds` interleaved rounds (the clients of a case take turns) adding up
//! to `--seconds`, so drift on a shared machine hits every client alike. Usage:
//!
//! ```text
//! bench-native [--seconds 3] [--rounds 3] [--warmup-ms 500] [--pool 64]
//!              [--only SUBSTR] [--diagnostics] [--out FILE]
//! ```

// A benchmark harness measures wall time and drives its own tasks and threads, which the
// workspace's purity rules (clippy.toml) reserve for frontends.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_cache_reqwest::{Cache, CacheMode, HttpCache, HttpCacheOptions, MokaCache, MokaManager};
use reqwest_middleware::ClientWithMiddleware;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use tether_chaos::{ChaosHandle, ChaosOptions};
use tether_core::client::{HttpClient, HttpClientBuilder};
use tether_core::{EngineConfig, Transport as _};
use tether_native::{NativeConfig, TokioRuntime, UreqTransport};

const NO_STORE: &str = "/json/small?cache_control=no-store";
const CACHEABLE: &str = "/json/small";

#[derive(Debug)]
struct Args {
    seconds: f64,
    rounds: u32,
    warmup: Duration,
    pool: usize,
    only: Option<String>,
    diagnostics: bool,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 3.0,
        rounds: 3,
        warmup: Duration::from_millis(500),
        pool: 64,
        only: None,
        diagnostics: false,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
            }
            "--rounds" => args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--warmup-ms" => {
                args.warmup = Duration::from_millis(
                    value()?.parse().map_err(|e| format!("--warmup-ms: {e}"))?,
                );
            }
            "--pool" => args.pool = value()?.parse().map_err(|e| format!("--pool: {e}"))?,
            "--only" => args.only = Some(value()?),
            "--diagnostics" => args.diagnostics = true,
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!(
                    "bench-native [--seconds 3] [--rounds 3] [--warmup-ms 500] [--pool 64] \
                     [--only SUBSTR] [--diagnostics] [--out FILE]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if !args.seconds.is_finite() || args.seconds <= 0.0 || args.rounds == 0 || args.pool == 0 {
        return Err("--seconds, --rounds and --pool must be positive".into());
    }
    Ok(args)
}

/// One client under test.
enum Peer {
    /// A bare ureq agent on tokio's blocking pool.
    Ureq(ureq::Agent),
    /// The Tether transport alone, without the engine (diagnostic).
    TetherTransport(UreqTransport),
    /// The full Tether client.
    Tether(HttpClient<UreqTransport, TokioRuntime>),
    /// reqwest behind reqwest-middleware.
    Reqwest(ClientWithMiddleware),
}

impl Peer {
    /// One GET; the body is read whole. Returns the body length.
    async fn get(&self, url: &str) -> Result<usize, String> {
        match self {
            Peer::Ureq(agent) => {
                let agent = agent.clone();
                let url = url.to_owned();
                tokio::task::spawn_blocking(move || {
                    let mut resp = agent.get(&url).call().map_err(|e| e.to_string())?;
                    check_status(resp.status().as_u16())?;
                    let body = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
                    Ok(body.len())
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Peer::TetherTransport(transport) => {
                let resp = transport
                    .send(request(url)?, None)
                    .await
                    .map_err(|e| e.to_string())?;
                check_status(resp.status().as_u16())?;
                Ok(resp.body().len())
            }
            Peer::Tether(client) => {
                let resp = client
                    .execute(request(url)?, None)
                    .await
                    .map_err(|e| e.to_string())?;
                check_status(resp.status().as_u16())?;
                Ok(resp.bytes().len())
            }
            Peer::Reqwest(client) => {
                let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
                check_status(resp.status().as_u16())?;
                Ok(resp.bytes().await.map_err(|e| e.to_string())?.len())
            }
        }
    }
}

fn request(url: &str) -> Result<tether_core::Request, String> {
    http::Request::get(url)
        .body(Bytes::new())
        .map_err(|e| e.to_string())
}

fn check_status(status: u16) -> Result<(), String> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

fn ureq_agent(pool: usize) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(pool)
        .max_idle_connections_per_host(pool)
        .build()
        .new_agent()
}

/// Which Tether variant to build.
#[derive(Clone, Copy)]
enum TetherVariant {
    /// `EngineConfig::default()`: every policy on.
    Full,
    /// The same with the cache switched off (diagnostic).
    CacheOff,
    /// The same with no overall time limit on an attempt (diagnostic): neither the engine's
    /// attempt timeout nor the transport's global timeout reaches ureq.
    NoAttemptTimeout,
}

fn native_config(pool: usize) -> NativeConfig {
    NativeConfig {
        pool_size: pool,
        ..NativeConfig::default()
    }
}

fn tether_client(pool: usize, variant: TetherVariant) -> HttpClient<UreqTransport, TokioRuntime> {
    // `EngineConfig::default()` has every policy on: RFC 9111 cache with single-flight,
    // per-host breakers, 4 attempts with decorrelated-jitter backoff and a retry budget,
    // metrics, health and alert rules.
    let mut config = EngineConfig::default();
    let mut native = native_config(pool);
    match variant {
        TetherVariant::Full => {}
        TetherVariant::CacheOff => config.cache.enabled = false,
        TetherVariant::NoAttemptTimeout => {
            config.attempt_timeout = None;
            native.timeout = None;
        }
    }
    assert!(config.retry.budget.is_some() && config.retry.max_attempts > 1);
    // No default headers, no hooks: the engine and its driver, as a peer would be measured.
    // The background driver (timers, health, refreshes), part of a real deployment, starts on
    // tokio with the client.
    HttpClientBuilder::new(UreqTransport::new(native), TokioRuntime::new())
        .engine_config(config)
        .default_headers(http::HeaderMap::new())
        .build()
        .expect("valid config")
}

fn reqwest_client(pool: usize) -> ClientWithMiddleware {
    let inner = reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .build()
        .expect("reqwest client");
    // Cache outermost, retries inside it: the order of Tether's own pipeline.
    reqwest_middleware::ClientBuilder::new(inner)
        .with(Cache(HttpCache {
            mode: CacheMode::Default,
            manager: MokaManager::new(MokaCache::new(1000)),
            options: HttpCacheOptions::default(),
        }))
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(3),
        ))
        .build()
}

/// What one (client, case, concurrency) cell measured, summed over its rounds.
#[derive(Default)]
struct Cell {
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    upstream_requests: u64,
    upstream_connections: u64,
}

struct Burst {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

/// One worker per URL (so `urls.len()` is the concurrency) sends GETs back to back for
/// `duration`.
async fn burst(peer: &Arc<Peer>, urls: &[String], duration: Duration) -> Burst {
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = urls
        .iter()
        .map(|url| {
            let peer = Arc::clone(peer);
            let url = url.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut errors = 0_u64;
                let mut first_error = None;
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    match peer.get(&url).await {
                        Ok(len) if len > 0 => {
                            latencies
                                .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        }
                        Ok(_) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| "empty body".to_owned());
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (latencies, errors, first_error, Instant::now())
            })
        })
        .collect();
    let mut out = Burst {
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for w in workers {
        let (lat, errors, first_error, end) = w.await.expect("worker panicked");
        out.latencies_us.extend(lat);
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
        out.elapsed = out.elapsed.max(end - start);
    }
    out
}

/// The upstream's `(requests, connections)` totals (this request included).
fn upstream_counts(agent: &ureq::Agent, chaos: &ChaosHandle) -> (u64, u64) {
    let body = agent
        .get(&chaos.url("/count"))
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .expect("GET /count");
    let v: serde_json::Value = serde_json::from_str(&body).expect("count JSON");
    (
        v["requests"].as_u64().unwrap_or(0),
        v["connections"].as_u64().unwrap_or(0),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    NoStore,
    /// No-store with a distinct URL per worker, so single-flight never coalesces (diagnostic).
    NoStorePerWorker,
    CacheHit,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::NoStore => "no-store",
            Case::NoStorePerWorker => "no-store, URL per worker",
            Case::CacheHit => "cache-hit",
        }
    }
    fn baseline(self) -> &'static str {
        match self {
            Case::NoStore | Case::NoStorePerWorker => "ureq",
            Case::CacheHit => "reqwest+mw",
        }
    }
}

struct Group {
    case: Case,
    concurrency: usize,
    clients: Vec<&'static str>,
}

struct Row {
    client: &'static str,
    case: Case,
    concurrency: usize,
    cell: Cell,
}

impl Row {
    fn rps(&self) -> f64 {
        self.cell.requests as f64 / self.cell.elapsed.as_secs_f64().max(1e-9)
    }
    fn percentile(&self, p: usize) -> u32 {
        let v = &self.cell.latencies_us;
        if v.is_empty() {
            return 0;
        }
        v[(v.len() * p / 100).min(v.len() - 1)]
    }
}

fn plan(args: &Args) -> Vec<Group> {
    let mut groups = Vec::new();
    for concurrency in [1, 64] {
        let mut clients = vec!["ureq", "tether", "reqwest+mw"];
        if args.diagnostics {
            clients.extend([
                "tether transport",
                "tether cache off",
                "tether no attempt timeout",
            ]);
        }
        groups.push(Group {
            case: Case::NoStore,
            concurrency,
            clients,
        });
        if args.diagnostics && concurrency > 1 {
            groups.push(Group {
                case: Case::NoStorePerWorker,
                concurrency,
                clients: vec!["ureq", "tether", "tether no attempt timeout"],
            });
        }
    }
    for concurrency in [1, 64] {
        groups.push(Group {
            case: Case::CacheHit,
            concurrency,
            clients: vec!["tether", "reqwest+mw"],
        });
    }
    for g in &mut groups {
        let (case, concurrency) = (g.case, g.concurrency);
        g.clients.retain(|c| {
            args.only
                .as_deref()
                .is_none_or(|f| format!("{c} {} c={concurrency}", case.name()).contains(f))
        });
    }
    groups.retain(|g| !g.clients.is_empty());
    groups
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |m| m.trim_start_matches([' ', '\t', ':']));
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cpus} logical CPUs available, Linux {} ({})",
        kernel.trim(),
        std::env::consts::ARCH
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "one Markdown report, written top to bottom in the order it reads"
)]
fn render(args: &Args, rows: &[Row]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# bench-native\n");
    let _ = writeln!(md, "- machine: {}", machine());
    let _ = writeln!(
        md,
        "- upstream: tether-chaos in process (one current-thread runtime), 127.0.0.1, HTTP/1.1 keep-alive"
    );
    let _ = writeln!(
        md,
        "- {} s per cell in {} interleaved rounds, {} ms warm-up per client and case, pools of {}",
        args.seconds,
        args.rounds,
        args.warmup.as_millis(),
        args.pool
    );
    let _ = writeln!(
        md,
        "- `upstream/req`: upstream requests per client request (1 = every request went out, 0 = all cache hits)\n"
    );
    let header = [
        "client",
        "case",
        "conc",
        "req/s",
        "p50 µs",
        "p99 µs",
        "upstream/req",
        "new conns",
        "errors",
        "vs baseline",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for r in rows {
        let base = rows.iter().find(|b| {
            b.client == r.case.baseline() && b.case == r.case && b.concurrency == r.concurrency
        });
        let ratio = base.map_or_else(
            || "—".to_owned(),
            |b| {
                if b.client == r.client {
                    "1.00× (baseline)".to_owned()
                } else {
                    format!("{:.2}×", r.rps() / b.rps().max(1e-9))
                }
            },
        );
        table.push(vec![
            r.client.to_owned(),
            r.case.name().to_owned(),
            r.concurrency.to_string(),
            format!("{:.0}", r.rps()),
            r.percentile(50).to_string(),
            r.percentile(99).to_string(),
            format!(
                "{:.3}",
                r.cell.upstream_requests as f64 / r.cell.requests.max(1) as f64
            ),
            r.cell.upstream_connections.to_string(),
            r.cell.errors.to_string(),
            ratio,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (n, row) in table.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i >= 2 {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i >= 2 {
                        format!("{}:", "-".repeat(w - 1))
                    } else {
                        "-".repeat(*w)
                    }
                })
                .collect();
            let _ = writeln!(md, "| {} |", rule.join(" | "));
        }
    }
    for r in rows.iter().filter(|r| r.cell.first_error.is_some()) {
        let _ = writeln!(
            md,
            "\nfirst error of {} {} c={}: {}",
            r.client,
            r.case.name(),
            r.concurrency,
            r.cell.first_error.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(md, "\n## Targets\n");
    let targets = [
        (Case::NoStore, "tether", "ureq", 0.95),
        (Case::CacheHit, "tether", "reqwest+mw", 3.0),
    ];
    for (case, client, baseline, target) in targets {
        for concurrency in [1, 64] {
            let find = |name: &str| {
                rows.iter()
                    .find(|r| r.client == name && r.case == case && r.concurrency == concurrency)
            };
            if let (Some(a), Some(b)) = (find(client), find(baseline)) {
                let ratio = a.rps() / b.rps().max(1e-9);
                let _ = writeln!(
                    md,
                    "- {} c={concurrency}: {client} / {baseline} = {ratio:.2}× (target ≥ {target}×): {}",
                    case.name(),
                    if ratio >= target { "PASS" } else { "MISS" }
                );
            }
        }
    }
    md
}

#[expect(
    clippy::too_many_lines,
    reason = "the benchmark script: each step runs once, in order, and reads best in sequence"
)]
#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-native: {e}");
            std::process::exit(2);
        }
    };
    let chaos = tether_chaos::spawn_background(ChaosOptions::default());
    let counter = ureq_agent(1);
    // Wait until the upstream answers.
    for _ in 0..100 {
        if counter.get(&chaos.url("/health")).call().is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("upstream at {}", chaos.base_url());

    let mut peers: Vec<(&'static str, Arc<Peer>)> = vec![
        ("ureq", Arc::new(Peer::Ureq(ureq_agent(args.pool)))),
        (
            "tether",
            Arc::new(Peer::Tether(tether_client(args.pool, TetherVariant::Full))),
        ),
        (
            "reqwest+mw",
            Arc::new(Peer::Reqwest(reqwest_client(args.pool))),
        ),
    ];
    if args.diagnostics {
        peers.push((
            "tether transport",
            Arc::new(Peer::TetherTransport(UreqTransport::new(native_config(
                args.pool,
            )))),
        ));
        peers.push((
            "tether cache off",
            Arc::new(Peer::Tether(tether_client(
                args.pool,
                TetherVariant::CacheOff,
            ))),
        ));
        peers.push((
            "tether no attempt timeout",
            Arc::new(Peer::Tether(tether_client(
                args.pool,
                TetherVariant::NoAttemptTimeout,
            ))),
        ));
    }
    let peer = |name: &str| {
        Arc::clone(
            &peers
                .iter()
                .find(|(n, _)| *n == name)
                .expect("known client")
                .1,
        )
    };

    let round = Duration::from_secs_f64(args.seconds / f64::from(args.rounds));
    let mut rows = Vec::new();
    for group in plan(&args) {
        let urls: Vec<String> = (0..group.concurrency)
            .map(|worker| match group.case {
                Case::NoStore => chaos.url(NO_STORE),
                Case::NoStorePerWorker => chaos.url(&format!("{NO_STORE}&worker={worker}")),
                Case::CacheHit => chaos.url(CACHEABLE),
            })
            .collect();
        let mut cells: Vec<Cell> = group.clients.iter().map(|_| Cell::default()).collect();
        for client in &group.clients {
            let p = peer(client);
            let _ = burst(&p, &urls, args.warmup).await;
        }
        for _ in 0..args.rounds {
            for (client, cell) in group.clients.iter().zip(&mut cells) {
                let p = peer(client);
                let (req0, conn0) = upstream_counts(&counter, &chaos);
                let b = burst(&p, &urls, round).await;
                let (req1, conn1) = upstream_counts(&counter, &chaos);
                cell.requests += b.latencies_us.len() as u64;
                cell.errors += b.errors;
                if cell.first_error.is_none() {
                    cell.first_error = b.first_error;
                }
                cell.elapsed += b.elapsed;
                cell.latencies_us.extend(b.latencies_us);
                cell.upstream_requests += req1.saturating_sub(req0 + 1);
                cell.upstream_connections += conn1.saturating_sub(conn0);
            }
        }
        for (client, mut cell) in group.clients.iter().zip(cells) {
            cell.latencies_us.sort_unstable();
            let row = Row {
                client,
                case: group.case,
                concurrency: group.concurrency,
                cell,
            };
            eprintln!(
                "  {client:<18} {:<24} c={:<3} {:>8.0} req/s",
                group.case.name(),
                group.concurrency,
                row.rps()
            );
            rows.push(row);
        }
    }

    let md = render(&args, &rows);
    println!("\n{md}");
    if let Some(path) = &args.out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, &md).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
    }
    for (_, p) in &peers {
        if let Peer::Tether(c) = &**p {
            c.close();
        }
    }
    drop(chaos);
}
