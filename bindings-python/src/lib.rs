//! # tether-python — the compiled core of the `tether` Python package (`tether._tether`)
//!
//! This crate is the bridge between tokio and asyncio that the package's awaitables are built
//! on (`src/bridge.rs`): Rust futures run on a tokio runtime the extension owns, and their
//! results reach asyncio futures through a per-event-loop completion queue, one file-descriptor
//! wake-up per batch and a bulk resolution on the loop's thread. On a request's path tokio
//! threads never touch a Python object and never wait for the GIL; the one place they take it
//! is the monitor's Python health checks, scheduled onto their event loop (`src/monitor.rs`).
//!
//! The Python-visible surface (see `python/tether/_tether.pyi`):
//!
//! | name | what |
//! |---|---|
//! | `HttpProbe` | a minimal pooled hyper GET, awaited through the bridge (`get`, `get_raw`) or through pyo3-async-runtimes (`get_future_into_py`), for the benchmark and the response prototype |
//! | `Client` | the engine behind `tether.http_client`: the core client layer over the native hyper transport (`send` through the bridge, `peek`, metrics, breaker states, cache) |
//! | `RawResponse` | a response as Rust data: status, headers, body, elapsed, method, URL, whether cached, attempts |
//! | `Service` | a service of a `Client` (metrics, breaker, confined endpoint URLs), for `ServiceClient` and the monitor's registry |
//! | `service_url`, `redact_url`, `is_secret_header`, `is_secret_param` | the core's URL confinement and redaction rules |
//! | `noop`, `sleep`, `echo`, `fail`, `fail_with`, `panic` | bridge probes for tests and benchmarks |
//! | `shutdown`, `configure`, `runtime_workers`, `live_bridges` | runtime lifecycle and introspection |
//! | `monitor_*` | the process-wide native monitor and registry behind `tether.monitoring` and `tether.fastapi`: registration, checks (URL and Python), collections, history, alerts, summary, the route table, the native server |
//! | `run_vector` | the scenario-vector runner (`tests/vectors/`), for the Python test suite |
//! | `compat_prometheus`, `compat_influx` | the original exporter's text formats |
//! | `TetherError`, `RuntimeClosed`, `RustPanic`, `TransportError`, `RequestFailed` | exceptions |

/// mimalloc for every Rust allocation of the extension (Python's own objects keep
/// CPython's allocator). A request's buffers are made on one thread and freed on another —
/// the loop thread and tokio's — which glibc malloc handles with arena locks and
/// consolidation passes (about 7 % of the tokio thread's time at c=64 in `perf`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bridge;
mod client;
mod completion;
mod errors;
mod http;
mod json;
mod monitor;
mod probe;
mod runtime;
mod vectors;

use pyo3::prelude::*;

/// Stops the tokio runtime: calls still running fail with `RuntimeClosed` (delivered on their
/// loops as usual). Safe to call more than once; the next call that needs the runtime starts
/// a new one. The GIL is released while the runtime's threads stop.
#[pyfunction]
fn shutdown(py: Python<'_>) {
    runtime::shutdown(py);
}

/// Interpreter exit (registered with `atexit` by the package): tears down every event-loop
/// bridge (readers removed, sockets closed), then stops the runtime.
#[pyfunction]
fn _shutdown_at_exit(py: Python<'_>) {
    bridge::tear_down_all(py);
    runtime::shutdown(py);
}

/// Called in a forked child (`os.register_at_fork`): forgets the parent's runtime and event
/// loop bridges, whose threads did not survive the fork.
#[pyfunction]
fn _after_fork_in_child(py: Python<'_>) {
    bridge::forget_after_fork(py);
    monitor::forget_after_fork();
    runtime::forget_after_fork();
}

/// Sets the runtime's worker thread count (1–256; `None`: `TETHER_WORKER_THREADS`, else the
/// default). Only while no runtime runs.
#[pyfunction]
#[pyo3(signature = (worker_threads = None))]
fn configure(worker_threads: Option<usize>) -> PyResult<()> {
    runtime::configure(worker_threads)
}

/// The worker thread count of the running runtime, or `None` if none runs.
#[pyfunction]
fn runtime_workers() -> Option<usize> {
    runtime::running_workers()
}

/// The number of event loops that currently have a bridge.
#[pyfunction]
fn live_bridges() -> usize {
    bridge::live_bridges()
}

/// Configures pyo3-async-runtimes' own tokio runtime (benchmark comparison only); must run
/// before its first use.
#[pyfunction]
fn configure_future_into_py(worker_threads: usize) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(worker_threads.max(1)).enable_all();
    pyo3_async_runtimes::tokio::init(builder);
}

#[pymodule]
fn _tether(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add_function(wrap_pyfunction!(shutdown, module)?)?;
    module.add_function(wrap_pyfunction!(_shutdown_at_exit, module)?)?;
    module.add_function(wrap_pyfunction!(configure, module)?)?;
    module.add_function(wrap_pyfunction!(_after_fork_in_child, module)?)?;
    module.add_function(wrap_pyfunction!(runtime_workers, module)?)?;
    module.add_function(wrap_pyfunction!(live_bridges, module)?)?;
    module.add_function(wrap_pyfunction!(configure_future_into_py, module)?)?;
    module.add_function(wrap_pyfunction!(probe::noop, module)?)?;
    module.add_function(wrap_pyfunction!(probe::noop_future_into_py, module)?)?;
    module.add_function(wrap_pyfunction!(probe::sleep, module)?)?;
    module.add_function(wrap_pyfunction!(probe::echo, module)?)?;
    module.add_function(wrap_pyfunction!(probe::live_sleeps, module)?)?;
    module.add_function(wrap_pyfunction!(probe::fail, module)?)?;
    module.add_function(wrap_pyfunction!(probe::fail_with, module)?)?;
    module.add_function(wrap_pyfunction!(probe::panic, module)?)?;
    module.add_class::<http::HttpProbe>()?;
    module.add_class::<http::RawResponse>()?;
    module.add_class::<client::Client>()?;
    module.add_class::<client::Service>()?;
    module.add_function(wrap_pyfunction!(client::service_url, module)?)?;
    module.add_function(wrap_pyfunction!(client::redact_url, module)?)?;
    module.add_function(wrap_pyfunction!(client::is_secret_header, module)?)?;
    module.add_function(wrap_pyfunction!(client::is_secret_param, module)?)?;
    module.add("REDACTED", tether_core::REDACTED)?;
    module.add_function(wrap_pyfunction!(vectors::run_vector, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_register, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_unregister, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_services, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_add_url_check, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_add_python_check, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_remove_check, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_start, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_check_health, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_health_status, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_collect, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_sample_system, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_history, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_alerts, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_summary, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_set_threshold, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_route, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_serve, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_stop_server, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::compat_prometheus, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::compat_influx, module)?)?;
    module.add("TetherError", py.get_type::<errors::TetherError>())?;
    module.add("RuntimeClosed", py.get_type::<errors::RuntimeClosed>())?;
    module.add("RustPanic", py.get_type::<errors::RustPanic>())?;
    module.add("TransportError", py.get_type::<errors::TransportError>())?;
    module.add("RequestFailed", py.get_type::<errors::RequestFailed>())?;
    module.add("WORKERS_ENV", runtime::WORKERS_ENV)?;
    Ok(())
}
