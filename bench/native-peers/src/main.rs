//! `bench-native`: Tether's native client side by side with the Rust clients it is judged
//! against, in one run, against an upstream in other processes (nginx, one worker).
//!
//! Each client runs in **a process of its own** — the bench re-executes itself with `--child`
//! — so `getrusage(RUSAGE_SELF)` measures that client alone: client CPU per request is the
//! figure least hurt by noise on a shared machine. Each row gets several rounds, and the rows
//! of one case take turns within a round (in a rotating order), so load drift hits them alike.
//!
//! ```text
//! bench-native [--rounds 5] [--window-ms 1000] [--warmup-ms 400] [--only SUBSTR]...
//!              [--nginx PATH] [--prefix DIR] [--no-wrk] [--diagnostics] [--out FILE]
//! ```
//!
//! The rows: Tether's async API (`tether_native::HttpClient`, hyper) and its blocking API
//! (`tether_native::blocking::HttpClient`, ureq on the caller's thread), each beside its bare
//! transport (the floor the client layer adds to), then ureq on OS threads, reqwest on a
//! current-thread runtime, hyper alone, reqwest + middleware + retry + http-cache, and wrk.
//!
//! `--diagnostics` adds rows that explain Tether's: the async client layer over the async
//! `UreqTransport` (ureq on tokio's blocking pool), and over a transport without any I/O (an
//! in-process response after one yield), with and without the default logging hooks, and
//! that transport alone — the client layer's own CPU under tokio, free of the network's noise.
//! It also adds a case, `uncached-url-per-worker`, for Tether's rows and their transports:
//! each worker asks for a URL of its own, so the cache's single-flight never holds a request
//! behind an identical one in flight.
//!
//! `--only` keeps the rows whose `client case c=N` contains the text (`--only 'c=64'`,
//! `--only tether`); repeat it to keep several.

// A benchmark harness measures wall time, spawns processes and drives its own threads, which
// the workspace's purity rules (clippy.toml) reserve for frontends.
#![allow(clippy::disallowed_methods)]

mod clients;
mod meter;
mod nginx;
mod report;

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::UsageWho;

use crate::clients::{ALL, Job, Kind};
use crate::meter::{Sample, cpu_time};
use crate::nginx::{CACHED, Counters, NO_STORE, Nginx};
use crate::report::{Case, Cell, Meta};

const USAGE: &str = "bench-native [--rounds 5] [--window-ms 1000] [--warmup-ms 400] \
                     [--only SUBSTR]... [--nginx PATH] [--prefix DIR] [--no-wrk] [--diagnostics] \
                     [--out FILE]";

struct Args {
    rounds: u32,
    window: Duration,
    warmup: Duration,
    only: Vec<String>,
    nginx: PathBuf,
    prefix: PathBuf,
    wrk: bool,
    diagnostics: bool,
    out: Option<PathBuf>,
}

fn millis(v: Option<String>, flag: &str) -> Result<Duration, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse()
        .map(Duration::from_millis)
        .map_err(|e| format!("{flag}: {e}"))
}

fn parse_args(argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        rounds: 5,
        window: Duration::from_millis(1000),
        warmup: Duration::from_millis(400),
        only: Vec::new(),
        nginx: PathBuf::from("/usr/sbin/nginx"),
        prefix: PathBuf::from("target/bench-native/nginx"),
        wrk: true,
        diagnostics: false,
        out: None,
    };
    let mut it = argv;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--window-ms" => args.window = millis(Some(value()?), "--window-ms")?,
            "--warmup-ms" => args.warmup = millis(Some(value()?), "--warmup-ms")?,
            "--only" => args.only.push(value()?),
            "--nginx" => args.nginx = PathBuf::from(value()?),
            "--prefix" => args.prefix = PathBuf::from(value()?),
            "--no-wrk" => args.wrk = false,
            "--diagnostics" => args.diagnostics = true,
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\nusage: {USAGE}")),
        }
    }
    if args.rounds == 0 || args.window.is_zero() {
        return Err("--rounds and --window-ms must be positive".into());
    }
    Ok(args)
}

/// `--child KIND CASE CONCURRENCY WARMUP_MS WINDOW_MS BASE_URL`: one client in this
/// process; prints its [`Sample`] as one JSON line.
fn child(argv: &[String]) -> Result<(), String> {
    let [kind, case, concurrency, warmup, window, base_url] = argv else {
        return Err(format!("--child takes 6 arguments, got {argv:?}"));
    };
    let case = Case::from_name(case).ok_or_else(|| format!("unknown case {case}"))?;
    let job = Job {
        kind: Kind::from_name(kind).ok_or_else(|| format!("unknown client {kind}"))?,
        url: format!("{base_url}{}", case.path()),
        cacheable: case == Case::CacheHit,
        concurrency: concurrency
            .parse()
            .map_err(|e| format!("concurrency: {e}"))?,
        url_per_worker: case == Case::UncachedPerWorker,
        warmup: millis(Some(warmup.clone()), "warm-up")?,
        window: millis(Some(window.clone()), "window")?,
        base_url: base_url.clone(),
    };
    let sample = clients::run(&job)?;
    println!(
        "{}",
        serde_json::to_string(&sample).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--child") {
        if let Err(e) = child(&argv[1..]) {
            eprintln!("bench-native child: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args(argv.into_iter()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-native: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = coordinate(&args) {
        eprintln!("bench-native: {e}");
        std::process::exit(1);
    }
}

/// The rows of this run, grouped by (case, concurrency).
fn plan(args: &Args) -> Vec<Vec<Cell>> {
    let mut groups = Vec::new();
    for case in Case::ALL {
        for concurrency in [1, 64] {
            let group: Vec<Cell> = ALL
                .into_iter()
                .filter(|k| case.includes(*k, args.diagnostics))
                .filter(|k| args.wrk || *k != Kind::Wrk)
                .filter(|k| args.diagnostics || !k.diagnostic())
                .map(|kind| Cell {
                    kind,
                    case,
                    concurrency,
                    samples: Vec::new(),
                })
                .filter(|c| args.only.is_empty() || args.only.iter().any(|o| c.id().contains(o)))
                .collect();
            if !group.is_empty() {
                groups.push(group);
            }
        }
    }
    groups
}

fn coordinate(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let load_before = load_average();
    let nginx = Nginx::start(&args.nginx, &args.prefix)?;
    let base = nginx.base_url();
    eprintln!(
        "nginx {} (pid {}) at {base}, load average {load_before}",
        nginx_version(&args.nginx),
        nginx.pid()
    );
    let mut groups = plan(args);
    for round in 0..args.rounds {
        for group in &mut groups {
            let n = group.len();
            // A rotating order: no client always goes first after another case.
            for i in 0..n {
                let cell = &mut group[(i + round as usize) % n];
                let sample = if cell.kind == Kind::Wrk {
                    run_wrk(
                        args,
                        &format!("{base}{}", cell.case.path()),
                        cell.concurrency,
                        &base,
                    )
                } else {
                    run_child(args, cell.kind, cell.case, cell.concurrency, &base)
                };
                match sample {
                    Ok(s) => {
                        eprintln!(
                            "round {}/{}: {:<32} {:>8.0} req/s {:>7.1} µs CPU/req",
                            round + 1,
                            args.rounds,
                            cell.id(),
                            s.rps(),
                            s.cpu_per_request()
                        );
                        cell.samples.push(s);
                    }
                    Err(e) => eprintln!("round {}: {} failed: {e}", round + 1, cell.id()),
                }
            }
        }
    }
    nginx.status()?;
    drop(nginx);
    let meta = Meta {
        machine: machine(),
        upstream: format!(
            "nginx {} from apt, 1 worker process, 127.0.0.1, HTTP/1.1 keep-alive, \
             `access_log off`, ~200-byte static JSON (`{NO_STORE}`: `no-store`; \
             `{CACHED}`: `max-age=60`)",
            nginx_version(&args.nginx)
        ),
        load_before,
        load_after: load_average(),
        rounds: args.rounds,
        window_ms: args.window.as_millis() as u64,
        warmup_ms: args.warmup.as_millis() as u64,
        seconds: started.elapsed().as_secs_f64(),
    };
    let cells: Vec<Cell> = groups.into_iter().flatten().collect();
    let md = report::render(&meta, &cells);
    println!("\n{md}");
    if let Some(path) = &args.out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, &md).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Runs one client in a fresh process of this binary and reads its sample.
fn run_child(
    args: &Args,
    kind: Kind,
    case: Case,
    concurrency: usize,
    base: &str,
) -> Result<Sample, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("--child")
        .arg(kind.name())
        .arg(case.name())
        .arg(concurrency.to_string())
        .arg(args.warmup.as_millis().to_string())
        .arg(args.window.as_millis().to_string())
        .arg(base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let limit = args.warmup + args.window + Duration::from_secs(30);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no result within {limit:?}; killed"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).map_err(|e| e.to_string())?;
    }
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    serde_json::from_str(out.trim()).map_err(|e| format!("bad sample {out:?}: {e}"))
}

/// wrk with one thread for the window; its CPU is this process's `RUSAGE_CHILDREN` delta.
fn run_wrk(args: &Args, url: &str, concurrency: usize, base: &str) -> Result<Sample, String> {
    let seconds = args.window.as_secs().max(1);
    let before = Counters::fetch(base)?;
    let cpu0 = cpu_time(UsageWho::RUSAGE_CHILDREN);
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{concurrency}"), &format!("-d{seconds}s")])
        .arg("--latency")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let cpu = cpu_time(UsageWho::RUSAGE_CHILDREN).saturating_sub(cpu0);
    let after = Counters::fetch(base)?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk exited with {}: {text}", output.status));
    }
    let requests: u64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .ok_or_else(|| format!("no request count in wrk's output: {text}"))?;
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output: {text}"))?;
    let percentile = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .and_then(|v| wrk_duration_us(v.trim()))
            .unwrap_or(0)
    };
    let errors = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum();
    Ok(Sample {
        requests,
        errors,
        first_error: text
            .lines()
            .find(|l| l.contains("Socket errors"))
            .map(str::to_owned),
        seconds: requests as f64 / rps.max(1e-9),
        cpu_us: cpu.as_secs_f64() * 1e6,
        p50_us: percentile("50%"),
        p99_us: percentile("99%"),
        upstream_requests: Some(after.requests.saturating_sub(before.requests + 1)),
        new_connections: Some(after.accepts.saturating_sub(before.accepts + 1)),
    })
}

/// `250.00us`, `1.20ms`, `2.00s` → µs.
fn wrk_duration_us(text: &str) -> Option<u32> {
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| (n * scale) as u32)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().map_or_else(
        || "unknown".to_owned(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// `lscpu`'s model name, the CPUs this process may use, the kernel.
fn machine() -> String {
    let lscpu = Command::new("lscpu")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let model = field("Model name:").unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(String::new, |kb| {
            format!(", {:.0} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!(
        "{model} (lscpu), {cpus} CPUs available{memory}, Linux {} {}",
        kernel.trim(),
        std::env::consts::ARCH
    )
}

fn nginx_version(binary: &std::path::Path) -> String {
    Command::new(binary)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .split('/')
                .nth(1)
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "(version unknown)".to_owned())
}
