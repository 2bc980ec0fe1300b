//! Calls that exercise the bridge without I/O, for the tests and the benchmark: a no-op, a
//! timer whose Rust future reports its own drop, a failure, a panic, and the same no-op through
//! pyo3-async-runtimes for comparison.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::bridge::{self, Deliver, IntoPyErr};
use crate::errors::TetherError;

/// Rust futures of [`sleep`] that are alive right now.
static LIVE_SLEEPS: AtomicUsize = AtomicUsize::new(0);

/// Counts itself in [`LIVE_SLEEPS`] while it lives.
struct LiveSleep;

impl LiveSleep {
    fn new() -> Self {
        LIVE_SLEEPS.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for LiveSleep {
    fn drop(&mut self) {
        LIVE_SLEEPS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Awaitable that completes with `None` as soon as the runtime polls it.
#[pyfunction]
pub(crate) fn noop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    bridge::spawn(py, None, async {})
}

/// The same no-op through `pyo3_async_runtimes::tokio::future_into_py` (benchmark only).
#[pyfunction]
pub(crate) fn noop_future_into_py(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async { Ok(()) })
}

/// Awaitable that completes with `None` after `seconds`, on a tokio timer. Its Rust future is
/// counted by [`live_sleeps`] until dropped, so tests can watch cancellation reach Rust.
#[pyfunction]
pub(crate) fn sleep(py: Python<'_>, seconds: f64) -> PyResult<Bound<'_, PyAny>> {
    let duration = Duration::try_from_secs_f64(seconds).map_err(|error| {
        PyValueError::new_err(format!("sleep: bad duration {seconds}: {error}"))
    })?;
    let live = LiveSleep::new();
    bridge::spawn(py, None, async move {
        let _live = live;
        tokio::time::sleep(duration).await;
    })
}

/// How many [`sleep`] futures are alive in Rust.
#[pyfunction]
pub(crate) fn live_sleeps() -> usize {
    LIVE_SLEEPS.load(Ordering::SeqCst)
}

/// An integer, delivered back as a Python `int`.
struct Echo(u64);

impl Deliver for Echo {
    fn deliver(self, py: Python<'_>, _context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        Ok(self.0.into_pyobject(py)?.into_any().unbind())
    }
}

/// Awaitable that completes with `value` after `seconds` (at once for 0): tests use distinct
/// values to check that every call receives its own result.
#[pyfunction]
pub(crate) fn echo(py: Python<'_>, value: u64, seconds: f64) -> PyResult<Bound<'_, PyAny>> {
    let duration = Duration::try_from_secs_f64(seconds)
        .map_err(|error| PyValueError::new_err(format!("echo: bad duration {seconds}: {error}")))?;
    bridge::spawn(py, None, async move {
        if !duration.is_zero() {
            tokio::time::sleep(duration).await;
        }
        Echo(value)
    })
}

/// A failure made on a tokio thread as plain Rust data.
struct Failure(String);

impl IntoPyErr for Failure {
    fn into_py_err(self, _py: Python<'_>) -> PyErr {
        TetherError::new_err(self.0)
    }
}

/// Awaitable that fails with `TetherError(message)`.
#[pyfunction]
pub(crate) fn fail(py: Python<'_>, message: String) -> PyResult<Bound<'_, PyAny>> {
    bridge::spawn(py, None, async move { Err::<(), _>(Failure(message)) })
}

/// A failure whose exception is built by calling the call's context with the message.
struct FailWith(String);

impl Deliver for FailWith {
    fn deliver(self, _py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let factory = context.expect("fail_with passes its exception class as the context");
        Err(PyErr::from_value(factory.call1((self.0,))?))
    }
}

/// Awaitable that fails with `exception_class(message)`, the instance being created when the
/// result is delivered (tests check which thread that is).
#[pyfunction]
pub(crate) fn fail_with(
    py: Python<'_>,
    exception_class: Py<PyAny>,
    message: String,
) -> PyResult<Bound<'_, PyAny>> {
    bridge::spawn(py, Some(exception_class), async move { FailWith(message) })
}

/// Awaitable whose Rust future panics.
#[pyfunction]
pub(crate) fn panic(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    bridge::spawn(py, None, async {
        // Deliberate: the test checks a panic becomes an exception, not a hang.
        let deliberate: bool = std::hint::black_box(true);
        assert!(!deliberate, "tether test panic: deliberate");
    })
}
