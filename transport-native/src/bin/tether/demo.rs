//! `tether demo`: a chaos upstream in process, three services whose traffic goes through the
//! resilient client while a fault script breaks and repairs their upstream, the monitoring
//! server over them, and a live status line per service.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tether_native::monitor::{CheckSchedule, Monitor, MonitorConfig};
use tether_native::tether_core::monitoring::HealthResult;
use tether_native::tether_core::{AlertRule, BreakerEvent};
use tether_native::{
    BreakDuration, BreakerConfig, EngineEvent, HttpClient, Registry, ServiceClient,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::Failure;
use crate::clock;
use crate::config::{DEFAULT_DASHBOARD_DIR, DEFAULT_PORT, Name, Token};
use crate::duration::{self, Human};
use crate::monitoring::{self, Serving};
use crate::shutdown::{Signals, Stop};
use crate::status::{self, Display, Line, SharedWindow};

/// `tether demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Stop after this long (e.g. 60s); without it, run until Ctrl-C.
    #[arg(long, value_parser = duration::parse)]
    duration: Option<Duration>,
    /// The monitoring server's address (loopback by default).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// The monitoring server's port (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// The bearer token of the POST routes (at least 16 characters); generated when absent.
    #[arg(long, env = "TETHER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The browser dashboard's built files, served at `/` when the folder exists.
    #[arg(long, default_value = DEFAULT_DASHBOARD_DIR)]
    dashboard_dir: PathBuf,
    /// The chaos upstream's port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    chaos_port: u16,
    /// Length of the fault script's cycle (at least 6s): `payments` is down for the second and
    /// third sixths of it, `search` is slow for the fourth and fifth.
    #[arg(long, default_value = "60s", value_parser = duration::parse)]
    cycle: Duration,
    /// An extra healthy service with this name (repeatable), e.g. to see how the dashboard
    /// shows an unusual name.
    #[arg(long = "add-service", value_name = "NAME")]
    extra_services: Vec<String>,
    /// Print plain status lines even on a terminal.
    #[arg(long)]
    plain: bool,
}

/// Requests per second each service sends.
const RATE_PER_SERVICE: f64 = 5.0;
/// Most requests one service has in flight.
const MAX_IN_FLIGHT: usize = 8;

/// What the fault script does to a service's upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Every request answers this status.
    Down(u16),
    /// Every request waits this many milliseconds first.
    Slow(u64),
}

impl Fault {
    fn label(self) -> String {
        match self {
            Fault::Down(status) => format!("upstream down (HTTP {status})"),
            Fault::Slow(ms) => format!("upstream slow (+{ms} ms)"),
        }
    }
}

/// One step of the script: a fault on `service` between two points of the cycle (sixths).
#[derive(Clone, Copy, Debug)]
struct Step {
    service: &'static str,
    fault: Fault,
    from_sixth: u32,
    to_sixth: u32,
}

/// The script, repeated every cycle: a service that fails for a third of it (20 s of the
/// default minute) then recovers, one that gets slow, one that stays healthy.
const SCRIPT: [Step; 2] = [
    Step {
        service: "payments",
        fault: Fault::Down(503),
        from_sixth: 1,
        to_sixth: 3,
    },
    Step {
        service: "search",
        fault: Fault::Slow(600),
        from_sixth: 3,
        to_sixth: 5,
    },
];

/// The faults in force at `t` into a cycle of `cycle`.
fn faults_at(t: Duration, cycle: Duration) -> BTreeMap<&'static str, Fault> {
    let within = Duration::from_secs_f64(t.as_secs_f64() % cycle.as_secs_f64());
    let sixth = cycle / 6;
    SCRIPT
        .iter()
        .filter(|s| within >= sixth * s.from_sixth && within < sixth * s.to_sixth)
        .map(|s| (s.service, s.fault))
        .collect()
}

/// A demo service: its client, what it calls, and what the status line needs.
struct DemoService {
    name: String,
    client: ServiceClient,
    /// The endpoint its traffic calls (with `?key=` so chaos faults reach it).
    endpoint: String,
    /// Whether each request asks for another item (`&item=N`): distinct resources, as real
    /// traffic has, rather than one URL that the cache or single-flight would collapse.
    varied: bool,
    window: SharedWindow,
    fault: Arc<Mutex<Option<Fault>>>,
}

/// `key` percent-encoded for a query string (unreserved characters kept).
fn query_value(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Builds a service whose client retries twice, gives up on an attempt after 2 s, and whose
/// breaker opens after 5 consecutive failures and probes again after 5 s (short, so the demo
/// shows it half-open and closing within a minute).
fn service(name: &str, chaos: &str, endpoint: &str, varied: bool) -> Result<DemoService, Failure> {
    let key = query_value(name);
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    let client = ServiceClient::builder(name, chaos)
        .timeout(Duration::from_secs(2))
        .max_retries(2)
        .breaker(BreakerConfig {
            consecutive_failures: Some(5),
            break_duration: BreakDuration::Constant(Duration::from_secs(5)),
            ..BreakerConfig::default()
        })
        .health_path(format!("/health?key={key}"))
        .build()
        .map_err(|e| Failure::Failed(format!("cannot build the `{name}` client: {e}")))?;
    Ok(DemoService {
        name: name.to_owned(),
        client,
        endpoint: format!("{endpoint}{separator}key={key}"),
        varied,
        window: SharedWindow::default(),
        fault: Arc::default(),
    })
}

/// Sends `RATE_PER_SERVICE` requests a second to `svc` until `stop` changes, at most
/// `MAX_IN_FLIGHT` at once, and records every outcome in its window.
async fn traffic(svc: Arc<DemoService>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE_PER_SERVICE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut item: u32 = 0;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        // A full window of slow requests skips a tick rather than piling up.
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let svc = Arc::clone(&svc);
        item = (item + 1) % 1000;
        clock::spawn(async move {
            let started = clock::now();
            let mut request = svc.client.get(&svc.endpoint);
            if svc.varied {
                request = request.query(&[("item", item.to_string())]);
            }
            let result = request.send().await;
            let (ok, cached) = match &result {
                Ok(r) => (r.is_success(), r.from_cache()),
                Err(_) => (false, false),
            };
            status::lock(&svc.window).record(clock::now(), started.elapsed(), ok, cached);
            drop(permit);
        });
    }
}

/// Applies the fault script to the chaos upstream through its admin routes until `stop`
/// changes; reports each change on `events`.
async fn fault_script(
    services: Vec<Arc<DemoService>>,
    chaos: String,
    cycle: Duration,
    started: Instant,
    events: mpsc::Sender<String>,
    mut stop: watch::Receiver<bool>,
) {
    let admin = match HttpClient::builder()
        .no_cache()
        .max_retries(0)
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = events
                .send(format!("fault script: cannot build its client: {e}"))
                .await;
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut current: BTreeMap<&'static str, Fault> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let elapsed = started.elapsed();
        let wanted = faults_at(elapsed, cycle);
        for step in &SCRIPT {
            let (now, before) = (wanted.get(step.service), current.get(step.service));
            if now == before {
                continue;
            }
            let key = query_value(step.service);
            let path = match (now, before) {
                (Some(Fault::Down(status)), _) => format!("/admin/down/{key}?on=1&status={status}"),
                (Some(Fault::Slow(ms)), _) => format!("/admin/slow/{key}?ms={ms}"),
                (None, Some(Fault::Down(_))) => format!("/admin/down/{key}?on=0"),
                (None, Some(Fault::Slow(_))) => format!("/admin/slow/{key}?ms=0"),
                (None, None) => continue,
            };
            let result = admin.get(format!("{chaos}{path}")).send().await;
            let at = clock_label(elapsed);
            let text = match (&result, now) {
                (Ok(r), Some(fault)) if r.is_success() => {
                    format!("[{at}] chaos: {} {}", step.service, fault.label())
                }
                (Ok(r), None) if r.is_success() => {
                    format!("[{at}] chaos: {} upstream repaired", step.service)
                }
                (Ok(r), _) => format!("[{at}] chaos: {path} answered {}", r.status()),
                (Err(e), _) => format!("[{at}] chaos: {path} failed: {e}"),
            };
            if result
                .as_ref()
                .is_ok_and(tether_native::Response::is_success)
            {
                for svc in services.iter().filter(|s| s.name == step.service) {
                    *svc.fault.lock().unwrap_or_else(PoisonError::into_inner) = now.copied();
                }
            }
            let _ = events.send(text).await;
        }
        current = wanted;
    }
}

/// The demo's monitor: everything moves every 2 s, and a service whose mean response time
/// passes 400 ms is "slow".
fn monitor_config(services: &[Arc<DemoService>]) -> MonitorConfig {
    let mut m = MonitorConfig {
        collect_interval: Duration::from_secs(2),
        ..MonitorConfig::default()
    };
    for svc in services {
        m.checks.insert(
            svc.name.clone(),
            CheckSchedule::new(Duration::from_secs(2), Duration::from_secs(1)),
        );
    }
    for rule in &mut m.state.alerts.rules {
        if rule.name == AlertRule::SERVICE_SLOW {
            rule.threshold = 400.0;
        }
    }
    m
}

/// Reports alerts that fired or resolved since `known` (the ids active last time).
fn alert_events(monitor: &Monitor, known: &mut BTreeSet<u64>, at: &str) -> Vec<String> {
    let active = monitor.active_alerts();
    let now: BTreeSet<u64> = active.iter().map(|a| a.id).collect();
    let mut events = Vec::new();
    for a in &active {
        if !known.contains(&a.id) {
            events.push(format!(
                "[{at}] ALERT fired: [{}] {}{}: {}",
                a.severity,
                a.alert_type,
                a.service
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
                a.message
            ));
        }
    }
    for id in known.difference(&now) {
        if let Some(a) = monitor.alerts(None).into_iter().find(|a| a.id == *id) {
            events.push(format!(
                "[{at}] alert resolved: {}{}",
                a.alert_type,
                a.service
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
            ));
        }
    }
    *known = now;
    events
}

/// `m:ss` since the demo started.
fn clock_label(d: Duration) -> String {
    format!("{}:{:02}", d.as_secs() / 60, d.as_secs() % 60)
}

/// The status the monitoring routes give a service: its breaker and its latest check, the
/// worst winning.
fn health_label(breaker: &str, check: Option<&HealthResult>) -> &'static str {
    match (breaker, check) {
        ("OPEN", _) | (_, Some(HealthResult { healthy: false, .. })) => "unhealthy",
        ("HALF_OPEN", _) => "degraded",
        (_, Some(_)) => "healthy",
        (_, None) => "unknown",
    }
}

/// The status line of `svc` now.
fn line(svc: &DemoService, checks: &[(String, HealthResult)], now: Instant) -> Line {
    let breaker = svc.client.circuit_breaker_state().state;
    let check = checks.iter().find(|(n, _)| *n == svc.name).map(|(_, h)| h);
    Line {
        name: svc.name.clone(),
        health: health_label(breaker, check).to_owned(),
        breaker: breaker.to_owned(),
        window: status::lock(&svc.window).stats(now),
        fault: svc
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(Fault::label),
    }
}

/// Checks the flags; returns the token, if one was given.
fn check_args(args: &Args) -> Result<Option<String>, Failure> {
    if args.cycle < Duration::from_secs(6) || args.cycle > Duration::from_secs(3600) {
        return Err(Failure::Usage(format!(
            "--cycle {} is out of range: from 6s to 1h",
            Human(args.cycle)
        )));
    }
    if args.duration.is_some_and(|d| d.is_zero()) {
        return Err(Failure::Usage("--duration must be longer than 0".into()));
    }
    if args.extra_services.len() > 16 {
        return Err(Failure::Usage(
            "--add-service: at most 16 extra services".into(),
        ));
    }
    for name in &args.extra_services {
        Name::check(name).map_err(|e| Failure::Usage(format!("--add-service: {e}")))?;
        if ["payments", "search", "users"].contains(&name.as_str()) {
            return Err(Failure::Usage(format!(
                "--add-service: `{name}` exists already"
            )));
        }
    }
    match args.token.clone() {
        Some(t) => Token::check(t)
            .map(|t| Some(t.0))
            .map_err(|e| Failure::Usage(format!("--token: {e}"))),
        None => Ok(None),
    }
}

/// Binds the chaos upstream on loopback and serves it until `stop` changes.
async fn start_chaos(
    port: u16,
    mut stop: watch::Receiver<bool>,
) -> Result<(String, JoinHandle<std::io::Result<()>>), Failure> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| Failure::Failed(format!("cannot bind the chaos upstream: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Failed(format!("chaos upstream: {e}")))?;
    let task = clock::spawn(tether_chaos::serve_with_shutdown(
        listener,
        tether_chaos::ChaosOptions::default().with_cors(true),
        async move {
            let _ = stop.changed().await;
        },
    ));
    Ok((format!("http://{addr}"), task))
}

/// The demo's services, registered in `registry`, their breaker transitions reported on
/// `events`.
fn build_services(
    extra: &[String],
    chaos: &str,
    registry: &Registry,
    events: &mpsc::Sender<String>,
    started: Instant,
) -> Result<Vec<Arc<DemoService>>, Failure> {
    let mut services = vec![
        service("payments", chaos, "/get", true)?,
        service("search", chaos, "/get?q=tether", true)?,
        service("users", chaos, "/cache/5", false)?,
    ];
    for name in extra {
        services.push(service(name, chaos, "/get", true)?);
    }
    let services: Vec<Arc<DemoService>> = services.into_iter().map(Arc::new).collect();
    for svc in &services {
        registry
            .insert(svc.client.clone())
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let events = events.clone();
        svc.client
            .http_client()
            .hooks()
            .add_event_hook(move |event| {
                if let EngineEvent::Breaker(b) = event
                    && let BreakerEvent::StateChanged {
                        from, to, reason, ..
                    } = &b.event
                {
                    let _ = events.try_send(format!(
                        "[{}] breaker: {} {} -> {} ({reason:?})",
                        clock_label(started.elapsed()),
                        b.name,
                        from.as_str().to_uppercase(),
                        to.as_str().to_uppercase()
                    ));
                }
            });
    }
    Ok(services)
}

/// What the demo runs and how to break it by hand.
fn intro(services: &[Arc<DemoService>], chaos: &str, cycle: Duration) -> String {
    let mut intro = String::new();
    let _ = writeln!(
        intro,
        "Tether demo: a chaos upstream at {chaos}, services {}.",
        services
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sixth = cycle / 6;
    let _ = writeln!(
        intro,
        "Fault script, every {}: `payments` down from {} to {}, `search` slow from {} to {}, `users` healthy.",
        Human(cycle),
        clock_label(sixth),
        clock_label(sixth * 3),
        clock_label(sixth * 3),
        clock_label(sixth * 5),
    );
    let _ = writeln!(
        intro,
        "Break something yourself: curl '{chaos}/admin/down/users?on=1' (and ?on=0 to repair)."
    );
    intro
}

/// Shows the status lines and the events until Ctrl-C or `limit`.
async fn status_loop(
    services: &[Arc<DemoService>],
    monitor: &Monitor,
    mut events: mpsc::Receiver<String>,
    started: Instant,
    limit: Option<Duration>,
    live: bool,
    mut signals: Signals,
) -> Stop {
    let mut alerts_known = BTreeSet::new();
    let mut display = Display::new(live, services.len(), Duration::from_secs(5));
    let name_width = services
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(8);
    let stop = signals.recv_or(limit);
    tokio::pin!(stop);
    let mut refresh = tokio::time::interval(Duration::from_millis(500));
    let why = loop {
        tokio::select! {
            why = &mut stop => break why,
            Some(event) = events.recv() => display.event(&event),
            _ = refresh.tick() => {
                let now = clock::now();
                let at = clock_label(started.elapsed());
                for event in alert_events(monitor, &mut alerts_known, &at) {
                    display.event(&event);
                }
                let checks = monitor.health_status();
                let lines: Vec<String> = services
                    .iter()
                    .map(|s| line(s, &checks, now).render(name_width))
                    .collect();
                display.update(now, &format!("[{at}] status"), &lines);
            }
        }
    };
    display.finish();
    while let Ok(event) = events.try_recv() {
        display.event(&event);
    }
    why
}

/// Runs the demo until Ctrl-C or `--duration`.
pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let token = check_args(&args)?;
    let signals = Signals::listen();
    let started = clock::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (chaos, chaos_task) = start_chaos(args.chaos_port, stop_rx.clone()).await?;
    let stop_chaos = || async {
        let _ = stop_tx.send(true);
        let _ = chaos_task.await;
    };

    // The services, registered where the monitor enumerates them, then the monitor and its
    // server.
    let registry = Arc::new(Registry::new(64));
    let (events_tx, events_rx) = mpsc::channel::<String>(256);
    let services =
        match build_services(&args.extra_services, &chaos, &registry, &events_tx, started) {
            Ok(s) => s,
            Err(e) => {
                stop_chaos().await;
                return Err(e);
            }
        };
    if !args.bind.is_loopback() {
        eprintln!(
            "tether: warning: serving the demo on {} exposes its routes beyond this machine",
            args.bind
        );
    }
    let serving = Serving {
        bind: SocketAddr::new(args.bind, args.port),
        token,
        protect_reads: false,
        dashboard_dir: args.dashboard_dir.clone(),
    };
    let running =
        match monitoring::start(Arc::clone(&registry), monitor_config(&services), serving).await {
            Ok(r) => r,
            Err(e) => {
                registry.close_all();
                stop_chaos().await;
                return Err(e);
            }
        };
    let mut text = intro(&services, &chaos, args.cycle);
    text.push_str(&running.announce(&args.dashboard_dir));
    match args.duration {
        Some(d) => {
            let _ = writeln!(text, "Running for {} (Ctrl-C stops it sooner).", Human(d));
        }
        None => text.push_str("Running until Ctrl-C.\n"),
    }
    print!("{text}");

    let mut tasks = Vec::new();
    for svc in &services {
        tasks.push(clock::spawn(traffic(Arc::clone(svc), stop_rx.clone())));
    }
    tasks.push(clock::spawn(fault_script(
        services.clone(),
        chaos.clone(),
        args.cycle,
        started,
        events_tx,
        stop_rx.clone(),
    )));

    let live = !args.plain && std::io::stdout().is_terminal();
    let monitor = running.monitor.clone();
    let why = status_loop(
        &services,
        &monitor,
        events_rx,
        started,
        args.duration,
        live,
        signals,
    )
    .await;

    // Stop in order: the server (requests in progress finish), the traffic and the script,
    // the chaos upstream, the clients.
    let stopped = running.stop().await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    stop_chaos().await;
    registry.close_all();
    stopped?;
    println!(
        "{} after {}: demo stopped.",
        match why {
            Stop::Signal => "Interrupted",
            Stop::Elapsed => "Done",
        },
        Human(started.elapsed())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_breaks_and_repairs_in_turn() {
        let cycle = Duration::from_secs(60);
        let at = |s: u64| faults_at(Duration::from_secs(s), cycle);
        assert!(at(0).is_empty());
        assert!(at(9).is_empty());
        assert_eq!(at(10).get("payments"), Some(&Fault::Down(503)));
        assert_eq!(at(29).get("payments"), Some(&Fault::Down(503)));
        assert_eq!(at(30).get("payments"), None);
        assert_eq!(at(30).get("search"), Some(&Fault::Slow(600)));
        assert_eq!(at(49).len(), 1);
        assert!(at(50).is_empty());
        // It repeats.
        assert_eq!(at(75).get("payments"), Some(&Fault::Down(503)));
        assert!(!at(59).contains_key("users") && !at(15).contains_key("users"));
    }

    #[test]
    fn names_are_encoded_for_the_query() {
        assert_eq!(query_value("users"), "users");
        assert_eq!(
            query_value("<img src=x onerror=alert(1)>"),
            "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
        );
        assert_eq!(clock_label(Duration::from_secs(75)), "1:15");
    }
}
