//! The scenario vectors (`tests/vectors/*.json`) from Python: the same runner as the Rust test
//! (`tether_tests::vectors`), built into the extension, so the engine inside the wheel is held
//! to the same expected decisions as the one the Rust suite checks.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tether_tests::vectors::{self, Driver};

/// Runs one vector (JSON text) with the `async` or `blocking` driver and returns its
/// mismatches as text (empty when every expectation holds).
#[pyfunction]
#[pyo3(signature = (text, driver = "async"))]
pub(crate) fn run_vector(py: Python<'_>, text: &str, driver: &str) -> PyResult<Vec<String>> {
    let driver = match driver {
        "async" => Driver::Async,
        "blocking" => Driver::Threads,
        other => {
            return Err(PyValueError::new_err(format!(
                "driver must be \"async\" or \"blocking\", got {other:?}"
            )));
        }
    };
    let vector =
        vectors::parse(text).map_err(|e| PyValueError::new_err(format!("not a vector: {e}")))?;
    // Virtual time: the run takes no real time, but it is CPU work; other Python threads may
    // run meanwhile.
    let mismatches = py.detach(move || vectors::run_with(&vector, driver));
    Ok(mismatches.iter().map(ToString::to_string).collect())
}
