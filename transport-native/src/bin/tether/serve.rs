//! `tether serve --config tether.toml`: the monitoring server for the services of a
//! configuration file, until Ctrl-C (or SIGTERM).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tether_native::monitor::{CheckSchedule, MonitorConfig};
use tether_native::tether_core::{AlertRule, redact_url};
use tether_native::{BreakDuration, BreakerConfig, CacheConfig, Registry, ServiceClient};

use crate::Failure;
use crate::config::{self, Config, MAX_SERVICES, Token};
use crate::monitoring::{self, Serving};
use crate::shutdown;

/// `tether serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file (see tether.example.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration, print what would be served, and exit.
    #[arg(long)]
    check: bool,
}

/// Reads and checks the configuration file.
fn load(path: &Path) -> Result<Config, Failure> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the configuration {shown}: {e}")))?;
    config::parse(&shown, &text).map_err(|e| Failure::Usage(e.to_string()))
}

/// The monitor's settings: collections, history, each service's check schedule, the alert
/// thresholds.
pub(crate) fn monitor_config(config: &Config) -> MonitorConfig {
    let mut m = MonitorConfig {
        collect_interval: config.monitor.collect_interval.0,
        system_metrics: config.monitor.system_metrics,
        system_interval: config.monitor.system_interval.get_ref().0,
        ..MonitorConfig::default()
    };
    m.state.history_capacity = usize::try_from(config.monitor.history_size.0).unwrap_or(usize::MAX);
    for s in &config.services {
        m.checks.insert(
            s.name.get_ref().0.clone(),
            CheckSchedule::new(s.health_interval.0, s.health_timeout.0),
        );
    }
    let a = &config.alerts;
    if let Some(n) = a.history_size {
        m.state.alerts.history_capacity = usize::try_from(n.0).unwrap_or(usize::MAX);
    }
    for rule in &mut m.state.alerts.rules {
        let (threshold, enabled) = match rule.name.as_str() {
            AlertRule::SYSTEM_CPU_HIGH => (a.cpu_percent.map(|p| p.0), None),
            AlertRule::SYSTEM_MEMORY_HIGH => (a.memory_percent.map(|p| p.0), None),
            // The rule's threshold is in milliseconds.
            AlertRule::SERVICE_SLOW => (a.response_time.map(|d| d.0.as_secs_f64() * 1_000.0), None),
            AlertRule::SERVICE_ERRORS => (a.error_rate.map(|r| r.0), None),
            AlertRule::CACHE_HIT_RATIO_LOW => (
                a.cache_hit_ratio.map(|r| r.0),
                a.cache_hit_ratio.map(|_| true),
            ),
            AlertRule::BREAKER_OPEN => (None, a.breaker_open),
            AlertRule::SERVICE_UNHEALTHY => (None, a.service_unhealthy),
            _ => (None, None),
        };
        if let Some(t) = threshold {
            rule.threshold = t;
        }
        if let Some(e) = enabled {
            rule.enabled = e;
        }
    }
    m
}

/// The service clients of the configuration, registered by name.
fn registry(config: &Config) -> Result<Arc<Registry>, Failure> {
    let registry = Arc::new(Registry::new(MAX_SERVICES));
    for (i, s) in config.services.iter().enumerate() {
        let name = &s.name.get_ref().0;
        let mut b = ServiceClient::builder(name.clone(), s.base_url.0.clone())
            .health_path(s.health_path.get_ref().clone());
        if let Some(t) = s.timeout {
            b = b.timeout(t.0);
        }
        if let Some(r) = s.retries {
            b = b.max_retries(r.0);
        }
        let defaults = BreakerConfig::default();
        b = b.breaker(BreakerConfig {
            consecutive_failures: s
                .breaker
                .failure_threshold
                .map_or(defaults.consecutive_failures, |n| {
                    Some(u32::try_from(n.0).unwrap_or(u32::MAX))
                }),
            break_duration: s
                .breaker
                .break_duration
                .map_or(defaults.break_duration, |d| BreakDuration::Constant(d.0)),
            half_open_probes: s
                .breaker
                .half_open_probes
                .map_or(defaults.half_open_probes, |n| {
                    u32::try_from(n.0).unwrap_or(u32::MAX)
                }),
            ..defaults
        });
        let defaults = CacheConfig::default();
        let size = |n: config::Count| usize::try_from(n.0).unwrap_or(usize::MAX);
        b = b.cache(CacheConfig {
            enabled: s.cache.enabled.unwrap_or(defaults.enabled),
            max_entries: s.cache.max_entries.map_or(defaults.max_entries, size),
            max_bytes: s.cache.max_bytes.map_or(defaults.max_bytes, size),
            ..defaults
        });
        let client = b
            .build()
            .map_err(|e| Failure::Usage(format!("`services[{i}]` ({name}): {e}")))?;
        registry
            .insert(client)
            .map_err(|e| Failure::Usage(format!("`services[{i}]` ({name}): {e}")))?;
    }
    Ok(registry)
}

/// The token: the configured one, the one in the named environment variable, or none (the
/// server then generates one).
fn token(config: &Config) -> Result<Option<String>, Failure> {
    if let Some(t) = &config.server.token {
        return Ok(Some(t.0.clone()));
    }
    let Some(var) = &config.server.token_env else {
        return Ok(None);
    };
    let value = std::env::var(var).map_err(|_| {
        Failure::Usage(format!(
            "`server.token_env`: the environment variable {var} is not set"
        ))
    })?;
    Token::check(value)
        .map(|t| Some(t.0))
        .map_err(|e| Failure::Usage(format!("`server.token_env` ({var}): {e}")))
}

/// Serves until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let mut signals = shutdown::Signals::listen();
    let config = load(&args.config)?;
    let names: Vec<String> = config
        .services
        .iter()
        .map(|s| format!("{} -> {}", s.name.get_ref().0, redact_url(&s.base_url.0)))
        .collect();
    if args.check {
        println!(
            "{}: valid — {} service{}, server on {}:{}",
            args.config.display(),
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            config.server.bind,
            config.server.port.0
        );
        for n in &names {
            println!("  {n}");
        }
        return Ok(());
    }
    let token = token(&config)?;
    let registry = registry(&config)?;
    if !config.server.bind.is_loopback() && !config.server.protect_reads {
        eprintln!(
            "tether: warning: serving on {} with open read routes; set `server.protect_reads = true` to require the token",
            config.server.bind
        );
    }
    let running = monitoring::start(
        Arc::clone(&registry),
        monitor_config(&config),
        Serving {
            bind: SocketAddr::new(config.server.bind, config.server.port.0),
            token,
            protect_reads: config.server.protect_reads,
            dashboard_dir: config.server.dashboard_dir.clone(),
        },
    )
    .await?;
    println!(
        "tether serve: {} service{} from {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        args.config.display()
    );
    for n in &names {
        println!("  {n}");
    }
    print!("{}", running.announce(&config.server.dashboard_dir));
    println!("Ctrl-C to stop.");
    signals.recv().await;
    println!("Stopping…");
    let result = running.stop().await;
    registry.close_all();
    result?;
    println!("tether serve stopped.");
    Ok(())
}
