//! The monitor against real services: the chaos upstream on loopback, a closed port, a name
//! that does not resolve.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::async_api::{control, hits};
use common::{chaos, closed_port};
use tether_native::monitor::{CheckSchedule, Monitor, MonitorConfig};
use tether_native::tether_core::AlertRule;
use tether_native::tether_core::monitoring::HealthResult;
use tether_native::{Registry, ServiceClient};

/// Fast schedules, no host sampling (so CPU alerts cannot interfere), long collections (the
/// tests collect by hand unless they say otherwise).
fn config() -> MonitorConfig {
    MonitorConfig {
        collect_interval: Duration::from_secs(3600),
        system_metrics: false,
        check_interval: Duration::from_millis(100),
        check_timeout: Duration::from_secs(3),
        ..MonitorConfig::default()
    }
}

/// A service on `base` whose health path is `/health?key=<name>` (so `/admin/down/<name>`
/// takes it down), no retries.
fn service(name: &str, base: &str) -> ServiceClient {
    ServiceClient::builder(name, base)
        .health_path(format!("/health?key={name}"))
        .max_retries(0)
        .build()
        .unwrap()
}

fn registry(services: Vec<ServiceClient>) -> Arc<Registry> {
    let r = Arc::new(Registry::new(16));
    for s in services {
        r.insert(s).unwrap();
    }
    r
}

fn health_of(monitor: &Monitor, name: &str) -> Option<HealthResult> {
    monitor
        .health_status()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, h)| h)
}

/// Polls `cond` every 50 ms for at most 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 10 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_follow_a_service_down_and_back_up() {
    let up = chaos();
    let registry = registry(vec![service("alpha", &up.base_url())]);
    let monitor = Monitor::new(Arc::clone(&registry), config()).unwrap();
    monitor.start().unwrap();

    eventually("alpha healthy", || {
        health_of(&monitor, "alpha").is_some_and(|h| h.healthy)
    })
    .await;
    assert!(
        hits(&up, "alpha").await >= 1,
        "the probe reached the service"
    );
    eventually("a first collection", || monitor.latest().is_some()).await;

    control(&up, "/admin/down/alpha?on=1").await;
    eventually("alpha unhealthy", || {
        health_of(&monitor, "alpha").is_some_and(|h| !h.healthy)
    })
    .await;
    let down = health_of(&monitor, "alpha").unwrap();
    assert_eq!(down.error.as_deref(), Some("status 503"));
    let c = monitor.collect_now();
    let (name, summary) = &c.health[0];
    assert_eq!(name, "alpha");
    assert_eq!(summary.status.as_str(), "unhealthy");
    assert!(summary.error_count >= 1);
    let unhealthy: Vec<_> = monitor
        .active_alerts()
        .into_iter()
        .filter(|a| a.alert_type == AlertRule::SERVICE_UNHEALTHY)
        .collect();
    assert_eq!(unhealthy.len(), 1);
    assert_eq!(unhealthy[0].message, "Service alpha is unhealthy");

    control(&up, "/admin/down/alpha?on=0").await;
    eventually("alpha healthy again", || {
        health_of(&monitor, "alpha").is_some_and(|h| h.healthy)
    })
    .await;
    monitor.collect_now();
    monitor.collect_now();
    assert!(
        monitor.active_alerts().is_empty(),
        "{:?}",
        monitor.active_alerts()
    );
    let history = monitor.alerts(None);
    assert_eq!(history.len(), 1, "fired once: {history:?}");
    assert!(history[0].resolved_at.is_some(), "resolved once");
    monitor.shutdown().await;
    assert!(!monitor.is_running());
}

#[tokio::test]
async fn dead_ports_and_unknown_names_fail_fast_without_waiting_for_the_timeout() {
    let registry = registry(vec![
        service("dead", &format!("http://127.0.0.1:{}", closed_port())),
        service("nowhere", "http://tether-no-such-host.invalid"),
    ]);
    let config = MonitorConfig {
        check_timeout: Duration::from_secs(30),
        ..config()
    };
    let monitor = Monitor::new(registry, config).unwrap();
    let results = monitor.check_health().await;
    assert_eq!(results.len(), 2);
    for (name, r) in &results {
        assert!(!r.healthy, "{name}");
        let error = r.error.as_deref().unwrap_or_default();
        // A refused connection or a failed lookup, reported as such: not the 30 s time limit.
        assert!(!error.contains("timed out"), "{name}: {error}");
        assert!(r.check_time < 30.0, "{name}: {}", r.check_time);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_run_concurrently_each_within_its_own_time_limit() {
    let monitor = Monitor::new(Registry::new(4), config()).unwrap();
    // Two checks that can only pass together: run one after another, the first would wait
    // for the second until its time limit.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    for name in ["left", "right"] {
        let barrier = Arc::clone(&barrier);
        monitor
            .add_check_with(
                name,
                CheckSchedule::new(Duration::from_secs(60), Duration::from_secs(5)),
                move || {
                    let barrier = Arc::clone(&barrier);
                    async move {
                        barrier.wait().await;
                        Ok::<bool, String>(true)
                    }
                },
            )
            .unwrap();
    }
    monitor
        .add_check_with(
            "slow",
            CheckSchedule::new(Duration::from_secs(60), Duration::from_millis(100)),
            || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<bool, String>(true)
            },
        )
        .unwrap();
    monitor.add_check("says_no", || async { Ok::<bool, String>(false) });
    monitor.add_check("errs", || async { Err::<bool, _>("database is read-only") });
    monitor.add_check("panics", || async {
        let fail: Option<bool> = std::hint::black_box(None);
        Ok::<bool, String>(fail.expect("boom"))
    });
    let results = monitor.check_health().await;
    let by_name = |n: &str| results.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert!(by_name("left").healthy && by_name("right").healthy);
    let slow = by_name("slow");
    assert!(!slow.healthy);
    assert_eq!(slow.error.as_deref(), Some("timed out after 0.100s"));
    assert!(!by_name("says_no").healthy && by_name("says_no").error.is_none());
    assert_eq!(
        by_name("errs").error.as_deref(),
        Some("database is read-only")
    );
    assert_eq!(
        by_name("panics").error.as_deref(),
        Some("the check panicked")
    );
    // Insertion order, as the original's monitors.
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["left", "right", "slow", "says_no", "errs", "panics"]
    );

    // Replaced by name, removed by name.
    monitor.add_check("says_no", || async { Ok::<bool, String>(true) });
    assert!(monitor.remove_check("panics"));
    assert!(!monitor.remove_check("panics"));
    let again = monitor.check_health().await;
    assert!(again.iter().any(|(n, h)| n == "says_no" && h.healthy));
    assert!(!again.iter().any(|(n, _)| n == "panics"));
    assert!(!monitor.health_status().iter().any(|(n, _)| n == "panics"));
}

#[tokio::test]
async fn alerts_fire_once_resolve_once_and_idle_services_stay_quiet() {
    let up = chaos();
    let registry = registry(vec![
        service("busy", &up.base_url()),
        service("idle", &up.base_url()),
    ]);
    let monitor = Monitor::new(Arc::clone(&registry), config()).unwrap();
    monitor.check_health().await;
    for _ in 0..5 {
        monitor.collect_now();
    }
    assert!(
        monitor.alerts(None).is_empty(),
        "idle services raise nothing: {:?}",
        monitor.alerts(None)
    );
    let idle = monitor.latest().unwrap();
    assert!(idle.services.service_clients[1].1.success_rate.abs() < f64::EPSILON);

    let busy = registry.get("busy").unwrap();
    for _ in 0..3 {
        assert!(busy.get("/status/503?key=busy").send().await.is_err());
    }
    monitor.collect_now();
    monitor.collect_now();
    let fired = monitor.alerts(Some("error"));
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].alert_type, "service_errors");
    assert_eq!(fired[0].message, "Service busy success rate is 0.00%");

    for _ in 0..3 {
        busy.get("/get?key=busy").send().await.unwrap();
    }
    monitor.collect_now();
    monitor.collect_now();
    let after = monitor.alerts(None);
    assert_eq!(after.len(), 1, "no new alert: {after:?}");
    assert!(after[0].resolved_at.is_some());
    assert!(monitor.active_alerts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_stays_within_its_bound_while_the_driver_collects() {
    let mut config = config();
    config.collect_interval = Duration::from_millis(20);
    config.state.history_capacity = 4;
    let monitor = Monitor::new(Registry::new(4), config).unwrap();
    monitor.start().unwrap();
    let first = {
        eventually("four collections", || {
            monitor.with_state(|s| s.history().len()) == 4
        })
        .await;
        monitor.with_state(|s| s.history().next().unwrap().timestamp)
    };
    eventually("the oldest collection dropped", || {
        monitor.with_state(|s| s.history().next().unwrap().timestamp) > first
    })
    .await;
    for _ in 0..20 {
        assert!(monitor.with_state(|s| s.history().len()) <= 4);
        monitor.collect_now();
    }
    assert_eq!(monitor.with_state(|s| s.history().len()), 4);
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_checks_everything_then_collects_once() {
    let up = chaos();
    let registry = registry(vec![service("gamma", &up.base_url())]);
    let mut config = config();
    config.check_interval = Duration::from_secs(3600);
    let monitor = Monitor::new(Arc::clone(&registry), config).unwrap();
    monitor.start().unwrap();
    eventually("the first collection", || monitor.latest().is_some()).await;
    let probes = hits(&up, "gamma").await;
    let collections = monitor.with_state(|s| s.history().len());
    for _ in 0..50 {
        monitor.refresh();
    }
    eventually("a refresh collection", || {
        monitor.with_state(|s| s.history().len()) > collections
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let extra = monitor.with_state(|s| s.history().len()) - collections;
    // Without coalescing every call is a round (50). With it, a call either starts a round or
    // joins the pending one; how many rounds finish while the loop runs depends on the
    // scheduler of a loaded machine, so the bound is loose — far below 50.
    assert!(
        extra <= 10,
        "50 refresh requests collapsed into few rounds: {extra}"
    );
    let new_probes = hits(&up, "gamma").await - probes;
    assert!((1..=2).contains(&new_probes), "{new_probes} probes");

    // Refreshes that never stop still let rounds finish and collect.
    let slow = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let calls = Arc::clone(&slow);
    monitor.add_check("slow", move || {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async {
            tokio::time::sleep(Duration::from_millis(80)).await;
            Ok::<bool, String>(true)
        }
    });
    let start = monitor.with_state(|s| s.history().len());
    let mut rounds = 0;
    for _ in 0..200 {
        monitor.refresh();
        tokio::time::sleep(Duration::from_millis(10)).await;
        rounds = monitor.with_state(|s| s.history().len()) - start;
        if rounds >= 3 {
            break;
        }
    }
    assert!(
        rounds >= 3,
        "a refresh storm starved the collections: {rounds}"
    );
    monitor.shutdown().await;
}

#[tokio::test]
async fn snapshots_read_live_services_and_caches_clear_for_real() {
    let up = chaos();
    let registry = registry(vec![
        service("cached", &up.base_url()),
        service("other", &up.base_url()),
    ]);
    let monitor = Monitor::new(Arc::clone(&registry), config()).unwrap();
    let cached = registry.get("cached").unwrap();
    for _ in 0..3 {
        cached.get("/cache/60?key=cc").send().await.unwrap();
    }
    assert_eq!(
        hits(&up, "cc").await,
        1,
        "two of three served from the cache"
    );

    let snap = monitor.snapshot();
    let names: Vec<&str> = snap.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cached", "other"]);
    assert_eq!(snap.services[0].metrics.total_requests, 3);
    assert_eq!(snap.export.cache.unwrap().hits, 2);
    assert_eq!(snap.services[0].circuit_breaker.state, "CLOSED");

    cached
        .http_client()
        .with_engine(|e, now, _| e.isolate_breaker(now, "cached"));
    assert_eq!(monitor.snapshot().services[0].circuit_breaker.state, "OPEN");
    cached
        .http_client()
        .with_engine(|e, now, _| e.reset_breaker(now, "cached"));

    assert!(monitor.clear_cache(Some("nope")).is_err());
    assert_eq!(monitor.clear_cache(Some("cached")).unwrap(), 1);
    cached.get("/cache/60?key=cc").send().await.unwrap();
    assert_eq!(hits(&up, "cc").await, 2, "the entry was really dropped");
    assert_eq!(monitor.clear_cache(None).unwrap(), 1);
}

#[tokio::test]
async fn the_host_is_sampled_without_blocking() {
    let monitor = Monitor::new(
        Registry::new(1),
        MonitorConfig {
            system_metrics: true,
            ..config()
        },
    )
    .unwrap();
    let sample = monitor.sample_system().await.expect("linux is supported");
    assert!(sample.memory_percent > 0.0 && sample.process_count > 0);
    let c = monitor.collect().await;
    assert!(c.system.memory_percent > 0.0);
    assert!(c.system.network_io.is_some());
    let off = Monitor::new(Registry::new(1), config()).unwrap();
    assert!(off.sample_system().await.is_none());
}

#[test]
fn start_needs_a_runtime() {
    let monitor = Monitor::new(Registry::new(1), config()).unwrap();
    assert!(monitor.start().is_err());
    let bad = MonitorConfig {
        check_timeout: Duration::ZERO,
        ..config()
    };
    assert!(Monitor::new(Registry::new(1), bad).is_err());
}
