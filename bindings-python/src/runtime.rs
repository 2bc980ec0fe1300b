//! The tokio runtime the extension owns: multi-threaded, created on first use, shut down at
//! interpreter exit (the package registers [`shutdown`] with `atexit`) or on an explicit
//! `tether._tether.shutdown()`, after which the next use creates a fresh one.
//!
//! A process that forks inherits the runtime's bookkeeping but not its threads: the package
//! calls [`forget_after_fork`] in the child (`os.register_at_fork`), which leaks the
//! parent's runtime without touching it (its locks may have been held by threads that do not
//! exist in the child), and the child's next call builds its own.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::runtime::{Builder, Handle, Runtime};

/// Environment variable that sets the number of tokio worker threads.
pub(crate) const WORKERS_ENV: &str = "TETHER_WORKER_THREADS";

/// How long [`shutdown`] waits for tasks to stop before leaving them behind.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

struct Slot {
    /// The running runtime.
    runtime: Option<Runtime>,
    /// Worker threads for the next runtime (`None`: from the environment, else the default).
    workers: Option<usize>,
}

static RUNTIME: Mutex<Slot> = Mutex::new(Slot {
    runtime: None,
    workers: None,
});

fn slot() -> MutexGuard<'static, Slot> {
    RUNTIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The default worker count: 2 (1 on a single core). The event loop's thread is the
/// bottleneck of an asyncio program and one worker keeps up with it (on 2 cores, one worker
/// used about 10 % less CPU per request than two); the second keeps I/O going while the other
/// is busy with a long Rust step (decoding a large body, say). More only add idle wake-ups —
/// multiplied by the processes of a one-process-per-core server.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(2))
}

fn workers_from_env() -> Result<Option<usize>, String> {
    match std::env::var(WORKERS_ENV) {
        Err(_) => Ok(None),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{WORKERS_ENV} must be a whole number from 1 to 256, got {text:?}"
            )),
        },
    }
}

/// A handle to the runtime, building it if needed (with the GIL released: starting the worker
/// threads takes a while, and other Python threads may run meanwhile).
pub(crate) fn handle(py: Python<'_>) -> PyResult<Handle> {
    let configured = {
        let slot = slot();
        if let Some(runtime) = &slot.runtime {
            return Ok(runtime.handle().clone());
        }
        slot.workers
    };
    let workers = match configured {
        Some(n) => n,
        None => workers_from_env()
            .map_err(PyValueError::new_err)?
            .unwrap_or_else(default_workers),
    };
    // Built without holding the lock: a thread that waits for the lock holds the GIL, which
    // this thread needs back afterwards.
    let runtime = py
        .detach(|| {
            Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("tether-tokio")
                .enable_all()
                .build()
        })
        .map_err(|error| {
            PyRuntimeError::new_err(format!("cannot start the tokio runtime: {error}"))
        })?;
    let mut slot = slot();
    if let Some(winner) = &slot.runtime {
        // Another thread built one meanwhile: use it, and stop ours.
        let handle = winner.handle().clone();
        drop(slot);
        py.detach(move || drop(runtime));
        return Ok(handle);
    }
    let handle = runtime.handle().clone();
    slot.runtime = Some(runtime);
    Ok(handle)
}

/// Sets the worker count of the runtime; only before it starts (or after a shutdown).
pub(crate) fn configure(worker_threads: Option<usize>) -> PyResult<()> {
    if let Some(n) = worker_threads
        && !(1..=256).contains(&n)
    {
        return Err(PyValueError::new_err(format!(
            "worker_threads must be from 1 to 256, got {n}"
        )));
    }
    let mut slot = slot();
    if slot.runtime.is_some() {
        return Err(PyRuntimeError::new_err(
            "the tokio runtime is already running; call tether._tether.shutdown() first",
        ));
    }
    slot.workers = worker_threads;
    Ok(())
}

/// The worker count of the running runtime, if one runs.
pub(crate) fn running_workers() -> Option<usize> {
    let slot = slot();
    slot.runtime
        .as_ref()
        .map(|runtime| runtime.metrics().num_workers())
}

/// Stops the runtime: running tasks are dropped (their asyncio futures fail with
/// `RuntimeClosed` when their loop next runs). The GIL is released while waiting.
pub(crate) fn shutdown(py: Python<'_>) {
    let taken = slot().runtime.take();
    if let Some(runtime) = taken {
        py.detach(move || runtime.shutdown_timeout(SHUTDOWN_TIMEOUT));
    }
}

/// In a forked child: leaks the parent's runtime (its worker threads do not exist here, and
/// its internal locks may be held forever), so the next call builds a fresh one.
pub(crate) fn forget_after_fork() {
    // Only threads holding the GIL take this lock, and the forking thread holds it, so it is
    // free in the child.
    if let Some(inherited) = slot().runtime.take() {
        std::mem::forget(inherited);
    }
}
