//! The process-wide monitor behind `tether.monitoring` and `tether.fastapi`: the native
//! [`Monitor`] (concurrent health checks with their own time limits, host samples off the
//! async threads, alert rules judged on every collection, a bounded history) over a native
//! [`Registry`] that `tether.http_client.get_service_client` fills, and the core's monitoring
//! route table.
//!
//! Both the FastAPI router (through [`monitor_route`]) and the native axum server (through
//! [`monitor_serve`]) answer from this one monitor with the same pure route function, so they
//! answer the same bytes for the same state.
//!
//! Health checks written in Python (`health_monitor.add_monitor(name, coroutine_function)`)
//! run on the event loop that last used the monitor: the monitor's task asks that loop, with
//! `call_soon_threadsafe`, to start the check, and waits for its result on a channel. This is
//! the one place a tokio thread takes the GIL — once per check (every 30 s by default), never
//! per request. URL checks (`http://…/health`) run in Rust.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::oneshot;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyWeakrefMethods, PyWeakrefReference};
use serde::Serialize;
use tether_core::Runtime as _;
use tether_core::monitoring::{self, AlertRecord, RouteConfig, RouteRequest, RouteResponse};
use tether_native::monitor::{Monitor, MonitorConfig};
use tether_native::server::Server;
use tether_native::{NativeHooks, Registry, TokioRuntime, TracingHooks};

use crate::bridge::{self, Deliver};
use crate::client::Service;
use crate::json::{json_loads, json_text, to_python};
use crate::runtime;

/// Most services the registry holds.
const MAX_SERVICES: usize = 256;

struct Global {
    registry: Arc<Registry>,
    monitor: Monitor,
    server: Option<Server>,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

/// The event loop Python checks run on: the one that last used the monitor.
static CHECK_LOOP: Mutex<Option<Py<PyWeakrefReference>>> = Mutex::new(None);

fn global() -> MutexGuard<'static, Option<Global>> {
    // Critical sections never call into Python and never panic.
    GLOBAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The monitor (created on first use; nothing runs until it is started).
fn monitor() -> PyResult<Monitor> {
    let mut slot = global();
    if let Some(g) = slot.as_ref() {
        return Ok(g.monitor.clone());
    }
    let registry = Arc::new(Registry::new(MAX_SERVICES));
    let monitor = Monitor::new(Arc::clone(&registry), MonitorConfig::default())
        .map_err(|e| PyRuntimeError::new_err(format!("cannot create the monitor: {e}")))?;
    *slot = Some(Global {
        registry,
        monitor: monitor.clone(),
        server: None,
    });
    Ok(monitor)
}

fn registry() -> PyResult<Arc<Registry>> {
    monitor()?;
    Ok(Arc::clone(
        &global().as_ref().expect("created just above").registry,
    ))
}

/// The monitor, remembering the running event loop, if any, for Python checks.
fn in_loop(py: Python<'_>) -> PyResult<Monitor> {
    let monitor = monitor()?;
    if let Ok(event_loop) = bridge::running_loop(py) {
        let weak = PyWeakrefReference::new(&event_loop)?.unbind();
        *CHECK_LOOP.lock().unwrap_or_else(PoisonError::into_inner) = Some(weak);
    }
    Ok(monitor)
}

/// [`in_loop`], with the monitor's background driver running (checks on their intervals,
/// host samples, a collection every 10 s) on the extension's runtime. Started by what serves
/// the routes, which read the latest collection; the Python API alone checks and collects
/// when asked, as the original did, so its results are not moved under it.
fn driven(py: Python<'_>) -> PyResult<Monitor> {
    let monitor = in_loop(py)?;
    if !monitor.is_running() {
        let handle = runtime::handle(py)?;
        let _entered = handle.enter();
        monitor
            .start()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    }
    Ok(monitor)
}

/// In a forked child: forgets the parent's monitor (its tasks do not exist here).
pub(crate) fn forget_after_fork() {
    if let Some(g) = global().take() {
        std::mem::forget(g);
    }
    if let Some(l) = CHECK_LOOP
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        std::mem::forget(l);
    }
}

/// `{name: value}` in the pairs' order.
struct Pairs<'a, V>(&'a [(String, V)]);

impl<V: Serialize> Serialize for Pairs<'_, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Registers `service` for monitoring under its name. A name already registered keeps its
/// first client; returns whether this one was added.
#[pyfunction]
pub(crate) fn monitor_register(service: &Service) -> PyResult<bool> {
    let registry = registry()?;
    if registry.get(service.inner.service_name()).is_some() {
        return Ok(false);
    }
    registry
        .insert(service.inner.clone())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(true)
}

/// Removes the service `name` from monitoring; returns whether it was registered.
#[pyfunction]
pub(crate) fn monitor_unregister(name: &str) -> PyResult<bool> {
    Ok(registry()?.remove(name).is_some())
}

/// The registered services' names, in registration order.
#[pyfunction]
pub(crate) fn monitor_services() -> PyResult<Vec<String>> {
    Ok(registry()?.names())
}

static PROBE: PyOnceLock<tether_native::HttpClient> = PyOnceLock::new();

/// The client URL checks probe with: no cache, no retries, no breaker.
fn probe_client(py: Python<'_>) -> PyResult<tether_native::HttpClient> {
    PROBE
        .get_or_try_init(py, || {
            tether_native::HttpClient::builder()
                .hooks(NativeHooks::with_observer(TracingHooks::quiet()))
                .no_cache()
                .max_retries(0)
                .breaker(tether_core::BreakerConfig {
                    consecutive_failures: None,
                    ..tether_core::BreakerConfig::default()
                })
                .build()
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })
        .cloned()
}

/// Adds (or replaces) the health check `name`: `GET url`, healthy when it answers `status`
/// (any 2xx when `None`) within the monitor's check time limit.
#[pyfunction]
#[pyo3(signature = (name, url, status = None))]
pub(crate) fn monitor_add_url_check(
    py: Python<'_>,
    name: &str,
    url: String,
    status: Option<u16>,
) -> PyResult<()> {
    let client = probe_client(py)?;
    monitor()?.add_check(name, move || {
        let sent = client.get(url.clone()).send();
        async move {
            match sent.await {
                Ok(r) => Ok::<bool, String>(match status {
                    Some(s) => r.status().as_u16() == s,
                    None => r.status().is_success(),
                }),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    Ok(())
}

/// What a Python check reports back: `(ok, healthy, error)`.
#[pyclass(frozen, module = "tether._tether")]
struct CheckDone {
    tx: Mutex<Option<oneshot::Sender<Result<bool, String>>>>,
}

#[pymethods]
impl CheckDone {
    #[pyo3(signature = (healthy, error = None))]
    fn __call__(&self, healthy: bool, error: Option<String>) {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(match error {
                Some(e) => Err(e),
                None => Ok(healthy),
            });
        }
    }
}

/// Asks the check loop to run `starter(check, done)`; `Err` when there is no open loop.
fn schedule(
    check: &Py<PyAny>,
    starter: &Py<PyAny>,
) -> Result<oneshot::Receiver<Result<bool, String>>, String> {
    Python::try_attach(|py| {
        let weak = CHECK_LOOP
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|w| w.clone_ref(py));
        let event_loop = weak
            .and_then(|w| w.bind(py).upgrade())
            .filter(|l| {
                !l.call_method0("is_closed")
                    .and_then(|c| c.is_truthy())
                    .unwrap_or(true)
            })
            .ok_or_else(|| "no open event loop to run the check on".to_owned())?;
        let (tx, rx) = oneshot::channel();
        let done = Py::new(
            py,
            CheckDone {
                tx: Mutex::new(Some(tx)),
            },
        )
        .map_err(|e| e.to_string())?;
        event_loop
            .call_method1(
                "call_soon_threadsafe",
                (starter.bind(py), check.bind(py), done),
            )
            .map_err(|e| e.to_string())?;
        Ok(rx)
    })
    .unwrap_or_else(|| Err("the interpreter is shutting down".to_owned()))
}

/// Adds (or replaces) the health check `name` written in Python: `starter(check, done)` runs
/// on the event loop, awaits `check()` and calls `done(healthy)` or `done(False, error)`.
#[pyfunction]
pub(crate) fn monitor_add_python_check(
    name: &str,
    check: Py<PyAny>,
    starter: Py<PyAny>,
) -> PyResult<()> {
    let check = Arc::new(check);
    let starter = Arc::new(starter);
    monitor()?.add_check(name, move || {
        let scheduled = schedule(&check, &starter);
        async move {
            match scheduled {
                Err(e) => Err(e),
                Ok(rx) => rx
                    .await
                    .unwrap_or_else(|_| Err("the check was dropped before it finished".to_owned())),
            }
        }
    });
    Ok(())
}

/// Removes the check `name`; returns whether there was one.
#[pyfunction]
pub(crate) fn monitor_remove_check(name: &str) -> PyResult<bool> {
    Ok(monitor()?.remove_check(name))
}

/// Starts the monitor's background driver (checks on their intervals, host samples, a
/// collection every 10 s) on the extension's runtime; the routes start it themselves.
#[pyfunction]
pub(crate) fn monitor_start(py: Python<'_>) -> PyResult<()> {
    driven(py).map(drop)
}

/// Runs every check now; an awaitable of `{name: {healthy, check_time, last_check[, error]}}`.
#[pyfunction]
pub(crate) fn monitor_check_health(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let monitor = in_loop(py)?;
    bridge::spawn(py, None, async move {
        let results = monitor.check_health().await;
        json_text(&Pairs(&results))
    })
}

/// Samples the host now; an awaitable of the original `system` record `{cpu_percent,
/// memory_percent, disk_usage_percent, network_io, process_count}` (zeros when host metrics
/// are unavailable).
#[pyfunction]
pub(crate) fn monitor_sample_system(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let monitor = in_loop(py)?;
    bridge::spawn(py, None, async move {
        let sample = monitor.sample_system().await.unwrap_or_default();
        json_text(&monitoring::SystemJson(sample))
    })
}

/// The latest check results.
#[pyfunction]
pub(crate) fn monitor_health_status(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let results = monitor()?.health_status();
    to_python(py, &Pairs(&results))
}

/// Checks everything now, then collects: an awaitable of `{timestamp, system, services,
/// health}`.
#[pyfunction]
pub(crate) fn monitor_collect(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let monitor = in_loop(py)?;
    bridge::spawn(py, None, async move {
        let collection = monitor.collect().await;
        json_text(&*collection)
    })
}

/// The collections of the last `hours`, oldest first.
#[pyfunction]
pub(crate) fn monitor_history(py: Python<'_>, hours: u32) -> PyResult<Py<PyAny>> {
    let history = monitor()?.history(hours);
    let list: Vec<&monitoring::Collection> = history.iter().map(|c| &**c).collect();
    to_python(py, &list)
}

/// Alert records, oldest first, of one severity or all.
#[pyfunction]
#[pyo3(signature = (severity = None))]
pub(crate) fn monitor_alerts(py: Python<'_>, severity: Option<&str>) -> PyResult<Py<PyAny>> {
    let alerts = monitor()?.alerts(severity);
    let records: Vec<AlertRecord<'_>> = alerts.iter().map(AlertRecord::from).collect();
    to_python(py, &records)
}

/// The performance summary, or `{}` when nothing was collected in the last hour.
#[pyfunction]
pub(crate) fn monitor_summary(py: Python<'_>) -> PyResult<Py<PyAny>> {
    match monitor()?.performance_summary() {
        Some(s) => to_python(py, &s),
        None => json_loads(py, "{}"),
    }
}

/// Sets an alert rule's threshold (`system_cpu_high`, `system_memory_high`, `service_slow`
/// in ms, `service_errors` as an error rate).
#[pyfunction]
pub(crate) fn monitor_set_threshold(rule: &str, threshold: f64) -> PyResult<()> {
    monitor()?
        .set_alert_threshold(rule, threshold)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A route's answer: `(status, content_type, [(header, value)], body)`.
type Routed<'py> = (
    u16,
    &'static str,
    Vec<(&'static str, String)>,
    Bound<'py, PyBytes>,
);

/// Answers one monitoring request through the route table, performing what it asks for:
/// `(status, content_type, [(header, value)], body)`. Only `Authorization` is read from
/// `headers`.
#[pyfunction]
#[pyo3(signature = (method, path, query, authorization, token, protect_reads = false, prefix = "/monitoring"))]
#[expect(
    clippy::too_many_arguments,
    reason = "one request and the route settings"
)]
pub(crate) fn monitor_route<'py>(
    py: Python<'py>,
    method: &str,
    path: &str,
    query: &str,
    authorization: Vec<String>,
    token: Option<String>,
    protect_reads: bool,
    prefix: &str,
) -> PyResult<Routed<'py>> {
    let monitor = driven(py)?;
    let config = RouteConfig {
        prefix: prefix.to_owned(),
        token,
        protect_reads,
        ..RouteConfig::default()
    };
    // Empty values carry nothing the route table could check.
    let authorization: Vec<String> = authorization
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect();
    let auth: Vec<(&str, &str)> = authorization
        .iter()
        .map(|v| ("authorization", v.as_str()))
        .collect();
    let request = RouteRequest {
        method,
        path,
        query,
        headers: &auth,
    };
    let response = match monitoring::parse(&config, &request) {
        Err(refused) => refused,
        Ok(route) => {
            let snapshot = monitor.snapshot();
            let response = monitoring::respond(&route, &snapshot, TokioRuntime::new().wall());
            match response.action.as_ref().map(|a| monitor.perform(a)) {
                Some(Err(e)) => RouteResponse::error(404, &format!("Service {} not found", e.0)),
                _ => response,
            }
        }
    };
    Ok((
        response.status,
        response.content_type,
        response.headers,
        PyBytes::new(py, &response.body),
    ))
}

/// `(url, token)` of a running native server.
struct Served(String, String);

impl Deliver for Served {
    fn deliver(self, py: Python<'_>, _context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        Ok((self.0, self.1).into_pyobject(py)?.into_any().unbind())
    }
}

/// A failed start of the native server.
struct ServeFailed(String);

impl crate::bridge::IntoPyErr for ServeFailed {
    fn into_py_err(self, _py: Python<'_>) -> PyErr {
        PyRuntimeError::new_err(self.0)
    }
}

/// Serves the monitor with the native (axum) server on `127.0.0.1:port` (0: any free port);
/// an awaitable of `(routes_url, token)`. One server at a time: a second call stops the first
/// (and of two overlapping calls, the one that finishes starting last keeps its server).
#[pyfunction]
#[pyo3(signature = (port = 0, token = None))]
pub(crate) fn monitor_serve(
    py: Python<'_>,
    port: u16,
    token: Option<String>,
) -> PyResult<Bound<'_, PyAny>> {
    let monitor = driven(py)?;
    let previous = global().as_mut().and_then(|g| g.server.take());
    bridge::spawn(py, None, async move {
        if let Some(old) = previous {
            let _ = old.shutdown().await;
        }
        let mut builder = Server::builder(monitor).port(port);
        if let Some(t) = token {
            builder = builder.token(t);
        }
        match builder.start().await {
            Ok(server) => {
                let served = Served(server.url(), server.token().to_owned());
                // A call that overlapped this one may have installed its server meanwhile:
                // the newer start wins, and the displaced server is stopped, never orphaned.
                let (displaced, kept) = match global().as_mut() {
                    Some(g) => (g.server.replace(server), true),
                    None => (Some(server), false),
                };
                if let Some(old) = displaced {
                    let _ = old.shutdown().await;
                }
                if kept {
                    Ok(served)
                } else {
                    Err(ServeFailed("the monitor was shut down".to_owned()))
                }
            }
            Err(e) => Err(ServeFailed(e.to_string())),
        }
    })
}

/// Stops the native server, if one runs.
#[pyfunction]
pub(crate) fn monitor_stop_server(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let server = global().as_mut().and_then(|g| g.server.take());
    bridge::spawn(py, None, async move {
        if let Some(s) = server {
            let _ = s.shutdown().await;
        }
    })
}

/// The original exporter's Prometheus text for a snapshot given as JSON (HELP and TYPE per
/// service, nothing escaped, no trailing newline: kept byte for byte for callers that parse
/// it).
#[pyfunction]
pub(crate) fn compat_prometheus(snapshot_json: &str) -> PyResult<String> {
    let value: serde_json::Value = serde_json::from_str(snapshot_json)
        .map_err(|e| PyValueError::new_err(format!("not a JSON snapshot: {e}")))?;
    Ok(tether_core::compat::compat_prometheus(&value))
}

/// The original exporter's InfluxDB lines (a list) for a snapshot given as JSON, stamped
/// `timestamp` (Unix seconds).
#[pyfunction]
pub(crate) fn compat_influx(snapshot_json: &str, timestamp: f64) -> PyResult<Vec<String>> {
    let value: serde_json::Value = serde_json::from_str(snapshot_json)
        .map_err(|e| PyValueError::new_err(format!("not a JSON snapshot: {e}")))?;
    Ok(tether_core::compat::compat_influx(&value, timestamp))
}
