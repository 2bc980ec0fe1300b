//! Rust records as Python objects through their JSON form (serde), so dict keys keep the
//! order the records declare — the original API's key order.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde::Serialize;

use crate::bridge::Deliver;

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `value` as Python objects (through its JSON form, so keys keep their order).
pub(crate) fn to_python<T: Serialize + ?Sized>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot encode: {e}")))?;
    json_loads(py, &text)
}

/// `json.loads(text)`.
pub(crate) fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let loads = JSON_LOADS.get_or_try_init(py, || {
        py.import("json")?.getattr("loads").map(Bound::unbind)
    })?;
    Ok(loads.bind(py).call1((text,))?.unbind())
}

/// A JSON text made Python objects on the loop thread.
pub(crate) struct JsonText(String);

impl Deliver for JsonText {
    fn deliver(self, py: Python<'_>, _context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        json_loads(py, &self.0)
    }
}

/// `value`'s JSON text, to deliver through the bridge.
pub(crate) fn json_text<T: Serialize + ?Sized>(value: &T) -> JsonText {
    // The monitor's records always encode (no maps with non-string keys, no NaN keys).
    JsonText(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}
