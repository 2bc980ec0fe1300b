//! The [`Monitor`]: what the original `PerformanceMonitor` and `HealthMonitor` were, without
//! their defects — health checks run concurrently, each on its own interval and within its own
//! time limit; the host is sampled off the async threads; every collection is judged by the
//! core's alert rules; reading never collects.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tether_native::monitor::{Monitor, MonitorConfig};
//! use tether_native::{Registry, ServiceClient};
//!
//! let registry = Arc::new(Registry::new(16));
//! registry.insert(ServiceClient::new("users", "http://127.0.0.1:8081")?)?;
//! let monitor = Monitor::new(Arc::clone(&registry), MonitorConfig::default())?;
//! monitor.add_check("database", || async { Ok::<bool, String>(true) });
//! monitor.start()?;
//! let data = monitor.collect().await; // checks everything now, then collects
//! println!("{}", serde_json::to_string_pretty(&*data)?);
//! monitor.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod driver;
mod system;

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::FutureExt as _;
use tether_core::monitoring::{
    Collection, HealthResult, MonitorSnapshot, MonitorState, PerformanceSummary, RouteAction,
    ServiceSample, ServiceView,
};
use tether_core::{
    Alert, AlertEvent, BreakerInfo, CacheInfo, ConfigError, ExportSnapshot, HealthInfo,
    MetricsSnapshot, Runtime as _, SystemSample,
};
use tokio::sync::{Notify, watch};

pub use config::{CheckSchedule, MonitorConfig};

use crate::{HttpClient, Registry, ServiceClient, TokioRuntime};

/// Where log lines of the monitor go.
pub const LOG_TARGET: &str = "tether::monitor";

/// The registry a [`Monitor`] enumerates: the process-wide one
/// ([`default_registry`](crate::default_registry)) or one of your own.
#[derive(Clone)]
pub enum SharedRegistry {
    /// A registry that lives for the whole process.
    Static(&'static Registry),
    /// A registry shared through an `Arc`.
    Shared(Arc<Registry>),
}

impl Deref for SharedRegistry {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        match self {
            SharedRegistry::Static(r) => r,
            SharedRegistry::Shared(r) => r,
        }
    }
}

impl From<&'static Registry> for SharedRegistry {
    fn from(r: &'static Registry) -> Self {
        SharedRegistry::Static(r)
    }
}

impl From<Arc<Registry>> for SharedRegistry {
    fn from(r: Arc<Registry>) -> Self {
        SharedRegistry::Shared(r)
    }
}

impl From<Registry> for SharedRegistry {
    fn from(r: Registry) -> Self {
        SharedRegistry::Shared(Arc::new(r))
    }
}

impl fmt::Debug for SharedRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `start` was called outside a tokio runtime.
    #[error("the monitor needs a tokio runtime with the time driver: start it from inside one")]
    NoRuntime,
}

/// A route action named a service that is not registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no registered service named {0:?}")]
pub struct UnknownService(pub String);

/// What an ad-hoc check returns: `Ok(true)` healthy, `Ok(false)` unhealthy, `Err(text)`
/// unhealthy with that error.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<bool, String>> + Send>>;

/// An ad-hoc check: called once per check.
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// An ad-hoc check registered by name.
struct AdHoc {
    name: String,
    check: CheckFn,
    schedule: Option<CheckSchedule>,
}

/// How one monitor is checked.
#[derive(Clone)]
enum Probe {
    /// `GET <base_url><health_path>` over the service's transport (no cache, retry or breaker).
    Service(ServiceClient),
    /// An ad-hoc check function.
    Check(CheckFn),
}

/// One monitor with its schedule.
#[derive(Clone)]
pub(crate) struct Spec {
    name: String,
    probe: Probe,
    interval: Duration,
    timeout: Duration,
}

/// What the monitor's clones and its driver share.
pub(crate) struct Inner {
    registry: SharedRegistry,
    config: MonitorConfig,
    runtime: TokioRuntime,
    state: Mutex<MonitorState>,
    checks: Mutex<Vec<AdHoc>>,
    sampler: Arc<Mutex<Option<system::Sampler>>>,
    sample: Mutex<Option<SystemSample>>,
    /// A refresh was asked for and the driver has not taken it yet.
    refresh: AtomicBool,
    /// Wakes the driver (refresh, new check).
    wake: Notify,
    stop: watch::Sender<bool>,
    started: AtomicBool,
    driver: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The monitor: enumerates a [`Registry`] of service clients and any ad-hoc checks, checks each
/// on its own schedule, samples the host, collects on an interval (each collection judged by
/// the alert rules and kept in a bounded history), and answers the monitoring routes from a
/// [`MonitorSnapshot`] without collecting.
///
/// Cheap to clone; the background driver ([`start`](Self::start)) stops with
/// [`shutdown`](Self::shutdown) or when the last clone is dropped.
///
/// | original | here |
/// |---|---|
/// | `HealthMonitor.add_monitor(name, async_fn)` | [`add_check`](Self::add_check) |
/// | `HealthMonitor.check_health()` | [`check_health`](Self::check_health) (concurrent, each check bounded) |
/// | `HealthMonitor.get_health_status()` | [`health_status`](Self::health_status) |
/// | `PerformanceMonitor.collect_all_metrics()` | [`collect`](Self::collect); [`collect_now`](Self::collect_now) without checking first |
/// | `get_metrics_history(hours)`, `get_alerts(severity)`, `get_performance_summary()` | [`history`](Self::history), [`alerts`](Self::alerts), [`performance_summary`](Self::performance_summary) |
#[derive(Clone)]
pub struct Monitor {
    handle: Arc<Handle>,
}

/// Held by the user-facing clones only: dropping the last one stops the driver.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.stop.send_replace(true);
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("registry", &self.inner().registry)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// A monitor of `registry` (a `&'static Registry` such as
    /// [`default_registry`](crate::default_registry)(), an `Arc<Registry>`, or a `Registry`).
    /// Nothing runs until [`start`](Self::start).
    pub fn new(
        registry: impl Into<SharedRegistry>,
        config: MonitorConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let state = MonitorState::new(config.state.clone())?;
        let (stop, _) = watch::channel(false);
        let inner = Inner {
            registry: registry.into(),
            config,
            runtime: TokioRuntime::new(),
            state: Mutex::new(state),
            checks: Mutex::new(Vec::new()),
            sampler: Arc::new(Mutex::new(None)),
            sample: Mutex::new(None),
            refresh: AtomicBool::new(false),
            wake: Notify::new(),
            stop,
            started: AtomicBool::new(false),
            driver: Mutex::new(None),
        };
        Ok(Monitor {
            handle: Arc::new(Handle {
                inner: Arc::new(inner),
            }),
        })
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// Starts the background driver on the current tokio runtime: every monitor is checked at
    /// once and then on its interval, the host is sampled, and the first collection is taken
    /// when the first checks have finished (within their time limits), then one every
    /// `collect_interval`. Idempotent.
    pub fn start(&self) -> Result<(), MonitorError> {
        let inner = self.inner();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MonitorError::NoRuntime);
        }
        if inner.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let driver = driver::run(Arc::clone(inner), inner.stop.subscribe());
        #[expect(
            clippy::disallowed_methods,
            reason = "the monitor's one task; it ends when the monitor shuts down or its last \
                      handle is dropped"
        )]
        let task = tokio::spawn(driver);
        *lock(&inner.driver) = Some(task);
        Ok(())
    }

    /// Whether the driver runs.
    pub fn is_running(&self) -> bool {
        let inner = self.inner();
        inner.started.load(Ordering::Acquire)
            && !*inner.stop.borrow()
            && lock(&inner.driver)
                .as_ref()
                .is_some_and(|t| !t.is_finished())
    }

    /// Stops the driver (checks in flight are abandoned) and waits for it to end. The monitor
    /// can still be read and collected by hand afterwards; it cannot be started again.
    pub async fn shutdown(&self) {
        let inner = self.inner();
        inner.stop.send_replace(true);
        let task = lock(&inner.driver).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.inner().registry
    }

    /// The configuration.
    pub fn config(&self) -> &MonitorConfig {
        &self.inner().config
    }

    /// Adds (or replaces) an ad-hoc health check named `name`, the original
    /// `add_monitor(name, async_fn)`: `Ok(true)` is healthy, `Ok(false)` unhealthy, `Err(e)`
    /// unhealthy with `e` as the error (a panic counts as a failure too). It runs on the
    /// schedule `config.checks[name]` or the defaults, bounded by its timeout. A check with
    /// the name of a registered service replaces that service's probe.
    pub fn add_check<F, Fut, E>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.add_check_inner(&name.into(), check, None);
    }

    /// [`add_check`](Self::add_check) with its own interval and time limit.
    pub fn add_check_with<F, Fut, E>(
        &self,
        name: impl Into<String>,
        schedule: CheckSchedule,
        check: F,
    ) -> Result<(), ConfigError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        schedule.validate()?;
        self.add_check_inner(&name.into(), check, Some(schedule));
        Ok(())
    }

    fn add_check_inner<F, Fut, E>(&self, name: &str, check: F, schedule: Option<CheckSchedule>)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let check: CheckFn = Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) }) as CheckFuture
        });
        let inner = self.inner();
        {
            let mut checks = lock(&inner.checks);
            let entry = AdHoc {
                name: name.to_owned(),
                check,
                schedule,
            };
            match checks.iter_mut().find(|c| c.name == name) {
                Some(slot) => *slot = entry,
                None => checks.push(entry),
            }
        }
        inner.wake.notify_one();
    }

    /// Removes the ad-hoc check `name` (and its results, unless a registered service of that
    /// name takes over); returns whether there was one.
    pub fn remove_check(&self, name: &str) -> bool {
        let inner = self.inner();
        let removed = {
            let mut checks = lock(&inner.checks);
            let before = checks.len();
            checks.retain(|c| c.name != name);
            checks.len() != before
        };
        if removed && inner.registry.get(name).is_none() {
            lock(&inner.state).remove_monitor(name);
        }
        inner.wake.notify_one();
        removed
    }

    /// Runs every check now, concurrently, each within its time limit; records and returns
    /// the results in the monitors' order (the original `check_health()`, which ran them one
    /// after another without a limit).
    pub async fn check_health(&self) -> Vec<(String, HealthResult)> {
        let inner = self.inner();
        let specs = inner.specs();
        inner.sync_state(&specs);
        let runs = specs.into_iter().map(|s| {
            let rt = inner.runtime;
            async move {
                let r = run_check(s.probe, s.timeout, rt).await;
                (s.name, r)
            }
        });
        let results = futures::future::join_all(runs).await;
        let mut state = lock(&inner.state);
        for (name, result) in &results {
            state.record_check(name, result.clone());
        }
        results
    }

    /// The latest result of every monitor that has one (the original `get_health_status()`).
    pub fn health_status(&self) -> Vec<(String, HealthResult)> {
        lock(&self.inner().state)
            .health()
            .map(|(n, h)| (n.to_owned(), h.clone()))
            .collect()
    }

    /// Checks every monitor now, then collects (the original `collect_all_metrics()`; the host
    /// numbers are the latest sample, taken now if there is none yet).
    pub async fn collect(&self) -> Arc<Collection> {
        self.check_health().await;
        if lock(&self.inner().sample).is_none() {
            self.sample_system().await;
        }
        self.collect_now()
    }

    /// Collects now from what is known — the latest host sample, each service's metrics and
    /// breaker, the latest health results — without running any check; judges it with the
    /// alert rules (fired and resolved alerts are logged) and adds it to the history.
    pub fn collect_now(&self) -> Arc<Collection> {
        self.inner().collect_now()
    }

    /// Asks the driver for a collection with fresh checks, in the background (the route
    /// `POST /refresh`). Asked while a round runs, it starts one more round after it (its checks
    /// postdate the call); calls made meanwhile coalesce into that one, so repeated calls
    /// cannot pile up work. Without a running driver nothing happens.
    pub fn refresh(&self) {
        let inner = self.inner();
        inner.refresh.store(true, Ordering::Release);
        inner.wake.notify_one();
    }

    /// Samples the host now (off the async threads) and keeps the sample for the next
    /// collections; `None` when host metrics are off or unsupported. The CPU share is measured
    /// since the previous sample.
    pub async fn sample_system(&self) -> Option<SystemSample> {
        self.inner().sample_system().await
    }

    /// The latest host sample.
    pub fn system_sample(&self) -> Option<SystemSample> {
        *lock(&self.inner().sample)
    }

    /// Everything the monitoring routes read, as of now: the history, each registered
    /// service's live metrics and breaker, the latest health results, the alerts, and the
    /// exporters' input.
    pub fn snapshot(&self) -> MonitorSnapshot {
        self.inner().snapshot()
    }

    /// The latest collection.
    pub fn latest(&self) -> Option<Arc<Collection>> {
        lock(&self.inner().state).latest().cloned()
    }

    /// Collections of the last `hours`, oldest first (the original `get_metrics_history`).
    pub fn history(&self, hours: u32) -> Vec<Arc<Collection>> {
        let wall = self.inner().runtime.wall();
        let span = Duration::from_secs(u64::from(hours) * 3600);
        let since = tether_core::WallClock::from_unix_micros(
            wall.as_unix_micros()
                .saturating_sub(u64::try_from(span.as_micros()).unwrap_or(u64::MAX)),
        );
        lock(&self.inner().state)
            .history()
            .filter(|c| c.timestamp > since)
            .cloned()
            .collect()
    }

    /// Alert occurrences (firing and resolved within the retention), oldest first, optionally
    /// of one severity (`warning`, `error`, `critical`).
    pub fn alerts(&self, severity: Option<&str>) -> Vec<Alert> {
        lock(&self.inner().state)
            .alerts()
            .history(None, None)
            .filter(|a| severity.is_none_or(|s| a.severity.as_str() == s))
            .cloned()
            .collect()
    }

    /// Firing alerts, oldest first.
    pub fn active_alerts(&self) -> Vec<Alert> {
        let state = lock(&self.inner().state);
        let mut active: Vec<Alert> = state.alerts().active().cloned().collect();
        active.sort_by_key(|a| a.id);
        active
    }

    /// The original `get_performance_summary()` (`None` when nothing was collected in the
    /// last hour).
    pub fn performance_summary(&self) -> Option<PerformanceSummary> {
        let wall = self.inner().runtime.wall();
        lock(&self.inner().state).performance_summary(wall)
    }

    /// Sets the threshold of the alert rule `rule` (e.g. `system_cpu_high`).
    pub fn set_alert_threshold(&self, rule: &str, threshold: f64) -> Result<(), ConfigError> {
        lock(&self.inner().state).set_alert_threshold(rule, threshold)
    }

    /// Enables or disables the alert rule `rule`.
    pub fn set_alert_enabled(&self, rule: &str, enabled: bool) -> Result<(), ConfigError> {
        lock(&self.inner().state).set_alert_enabled(rule, enabled)
    }

    /// Reads the monitor's state (health results, history, alert engine) under its lock.
    /// Never call the monitor from inside `f`.
    pub fn with_state<X>(&self, f: impl FnOnce(&MonitorState) -> X) -> X {
        f(&lock(&self.inner().state))
    }

    /// Drops cached responses: of the registered service `service`, or of every registered
    /// service (each client once). Returns how many entries were dropped.
    pub fn clear_cache(&self, service: Option<&str>) -> Result<usize, UnknownService> {
        let registry = &self.inner().registry;
        if let Some(name) = service {
            let client = registry
                .get(name)
                .ok_or_else(|| UnknownService(name.to_owned()))?;
            return Ok(client.clear_cache());
        }
        let mut seen: Vec<HttpClient> = Vec::new();
        let mut dropped = 0;
        for c in registry.clients() {
            let http = c.http_client();
            if seen.iter().any(|h| h.same_client(http)) {
                continue;
            }
            dropped += http.with_engine(|e, _, _| e.invalidate_cache());
            seen.push(http.clone());
        }
        Ok(dropped)
    }

    /// Performs what a route asked for: starts a refresh, or clears caches.
    pub fn perform(&self, action: &RouteAction) -> Result<(), UnknownService> {
        match action {
            RouteAction::Refresh => self.refresh(),
            RouteAction::ClearCache { service } => {
                let dropped = self.clear_cache(service.as_deref())?;
                tracing::info!(target: LOG_TARGET, service = service.as_deref().unwrap_or("*"), dropped, "cache cleared");
            }
            _ => {}
        }
        Ok(())
    }
}

impl Inner {
    /// Every monitor, with its schedule: ad-hoc checks in the order they were added, then the
    /// registered services without an ad-hoc check of their name, in registration order.
    fn specs(&self) -> Vec<Spec> {
        let mut specs: Vec<Spec> = lock(&self.checks)
            .iter()
            .map(|c| {
                let (interval, timeout) = self.config.schedule_of(&c.name);
                let own = c.schedule.unwrap_or_default();
                Spec {
                    name: c.name.clone(),
                    probe: Probe::Check(Arc::clone(&c.check)),
                    interval: own.interval.unwrap_or(interval),
                    timeout: own.timeout.unwrap_or(timeout),
                }
            })
            .collect();
        for client in self.registry.clients() {
            let name = client.service_name().to_owned();
            if specs.iter().any(|s| s.name == name) {
                continue;
            }
            let (interval, timeout) = self.config.schedule_of(&name);
            specs.push(Spec {
                name,
                probe: Probe::Service(client),
                interval,
                timeout,
            });
        }
        specs
    }

    /// Registers the monitors in `specs` in the state (fixing their order) and forgets the
    /// ones that are gone.
    fn sync_state(&self, specs: &[Spec]) {
        let mut state = lock(&self.state);
        let gone: Vec<String> = state
            .monitor_names()
            .filter(|n| !specs.iter().any(|s| s.name == *n))
            .map(str::to_owned)
            .collect();
        for name in gone {
            state.remove_monitor(&name);
        }
        for s in specs {
            state.register_monitor(&s.name);
        }
    }

    fn collect_now(&self) -> Arc<Collection> {
        let (now, wall) = (self.runtime.now(), self.runtime.wall());
        let samples: Vec<ServiceSample> = self
            .registry
            .clients()
            .iter()
            .map(|c| {
                let read = read_service(c);
                ServiceSample {
                    view: read.view,
                    totals: read.totals,
                }
            })
            .collect();
        let system = *lock(&self.sample);
        let (collection, events) = {
            let mut state = lock(&self.state);
            let collection = state.collect(now, wall, system, &samples);
            let events: Vec<AlertEvent> = std::iter::from_fn(|| state.poll_alert_event()).collect();
            (collection, events)
        };
        for event in events {
            log_alert(&event);
        }
        collection
    }

    /// Samples the host on a blocking thread. A sampler made just now first waits (without
    /// blocking) long enough for its CPU reading to mean something.
    async fn sample_system(&self) -> Option<SystemSample> {
        if !self.config.system_metrics {
            return None;
        }
        let sampler = Arc::clone(&self.sampler);
        let created = tokio::task::spawn_blocking(move || {
            let mut guard = lock(&sampler);
            if guard.is_some() {
                return Some(false);
            }
            *guard = system::Sampler::new();
            guard.is_some().then_some(true)
        })
        .await
        .ok()
        .flatten()?;
        if created {
            tokio::time::sleep(system::FIRST_SAMPLE_AFTER).await;
        }
        let sampler = Arc::clone(&self.sampler);
        let sample = tokio::task::spawn_blocking(move || {
            lock(&sampler).as_mut().map(system::Sampler::sample)
        })
        .await
        .ok()
        .flatten();
        if sample.is_some() {
            *lock(&self.sample) = sample;
        }
        sample
    }

    fn snapshot(&self) -> MonitorSnapshot {
        let wall = self.runtime.wall();
        let clients = self.registry.clients();
        let mut views = Vec::with_capacity(clients.len());
        let mut metrics = MetricsSnapshot {
            taken_at: wall,
            ..MetricsSnapshot::default()
        };
        let mut breakers = Vec::with_capacity(clients.len());
        let mut cache = CacheInfo::default();
        let mut seen: Vec<HttpClient> = Vec::new();
        for c in &clients {
            let read = read_service(c);
            let http = c.http_client();
            if !seen.iter().any(|h| h.same_client(http)) {
                let stats = CacheInfo::from(&read.view.metrics.http_client_metrics.cache_stats);
                cache.hits += stats.hits;
                cache.misses += stats.misses;
                cache.entries += stats.entries;
                cache.bytes += stats.bytes;
                cache.evictions += stats.evictions;
                seen.push(http.clone());
            }
            metrics.services.push((read.view.name.clone(), read.totals));
            breakers.push(read.breaker);
            views.push(read.view);
        }
        let state = lock(&self.state);
        let export = ExportSnapshot {
            timestamp: wall,
            system: *lock(&self.sample),
            metrics,
            breakers,
            cache: Some(cache),
            health: state
                .health()
                .map(|(name, h)| HealthInfo {
                    service: name.to_owned(),
                    status: h.status().as_str().to_owned(),
                    response_time_seconds: Some(h.check_time),
                })
                .collect(),
            alerts_firing: u32::try_from(state.alerts().active().count()).unwrap_or(u32::MAX),
        };
        state.snapshot(views, export)
    }
}

/// What the monitor reads of one registered service at one moment.
struct ServiceRead {
    view: ServiceView,
    totals: tether_core::ServiceSnapshot,
    breaker: BreakerInfo,
}

fn read_service(c: &ServiceClient) -> ServiceRead {
    let name = c.service_name();
    let (totals, breaker) = c.http_client().with_engine(|e, now, _| {
        (
            e.metrics().service_snapshot(name).unwrap_or_default(),
            e.breakers()
                .get(name)
                .map(|b| BreakerInfo::new(name, &b.snapshot(now))),
        )
    });
    ServiceRead {
        view: ServiceView {
            name: name.to_owned(),
            metrics: c.metrics(),
            circuit_breaker: c.circuit_breaker_state(),
        },
        totals,
        breaker: breaker.unwrap_or_else(|| BreakerInfo {
            service: name.to_owned(),
            state: "closed".to_owned(),
            failure_count: 0,
        }),
    }
}

/// Runs one check within `timeout`; never fails: a timeout, an error or a panic is an
/// unhealthy result.
async fn run_check(probe: Probe, timeout: Duration, rt: TokioRuntime) -> HealthResult {
    let started = rt.now();
    let check = async move {
        match probe {
            Probe::Service(client) => {
                let h = client.health_check().await;
                if h.healthy {
                    Ok(true)
                } else {
                    Err(h.error.unwrap_or_else(|| "unhealthy".to_owned()))
                }
            }
            Probe::Check(f) => f().await,
        }
    };
    let outcome = tokio::time::timeout(timeout, AssertUnwindSafe(check).catch_unwind()).await;
    let took = rt.now().saturating_duration_since(started).as_secs_f64();
    let wall = rt.wall();
    match outcome {
        Err(_) => HealthResult::failed(
            took,
            wall,
            format!("timed out after {:.3}s", timeout.as_secs_f64()),
        ),
        Ok(Err(_)) => HealthResult::failed(took, wall, "the check panicked"),
        Ok(Ok(Ok(true))) => HealthResult::passed(took, wall),
        Ok(Ok(Ok(false))) => HealthResult {
            healthy: false,
            check_time: took,
            last_check: wall,
            error: None,
        },
        Ok(Ok(Err(e))) => HealthResult::failed(took, wall, e),
    }
}

fn log_alert(event: &AlertEvent) {
    match event {
        AlertEvent::Fired(a) => tracing::warn!(
            target: LOG_TARGET,
            alert = %a.alert_type,
            service = a.service.as_deref().unwrap_or(""),
            severity = %a.severity,
            id = a.id,
            "alert fired: {}", a.message
        ),
        AlertEvent::Resolved(a) => tracing::info!(
            target: LOG_TARGET,
            alert = %a.alert_type,
            service = a.service.as_deref().unwrap_or(""),
            id = a.id,
            "alert resolved: {}", a.message
        ),
        _ => {}
    }
}
