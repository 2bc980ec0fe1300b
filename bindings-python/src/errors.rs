//! The exception classes of the extension, and the outcomes a Rust task can end with besides
//! its own result.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::bridge::Deliver;

create_exception!(
    tether._tether,
    TetherError,
    PyException,
    "Base class of the errors raised by Tether's extension."
);
create_exception!(
    tether._tether,
    RuntimeClosed,
    TetherError,
    "The tokio runtime was shut down (or the event loop closed) before the task finished."
);
create_exception!(
    tether._tether,
    RustPanic,
    TetherError,
    "A Rust task panicked; the panic message went to stderr. This is a bug in Tether."
);
create_exception!(
    tether._tether,
    TransportError,
    TetherError,
    "An HTTP request failed below HTTP (connect, send, receive)."
);

create_exception!(
    tether._tether,
    RequestFailed,
    TetherError,
    "A request ended without a response: its `kind` (`timeout`, `connect`, `circuit_open`, \
     `invalid_url`, ...), `message`, `service`, `http_status`, `elapsed`, `retry_after`, \
     `status` and `body` (for `status`), and `attempts` (when asked for)."
);

/// A task that stopped without a result: dropped by a runtime shutdown, or panicked.
pub(crate) struct Stopped {
    pub(crate) panicked: bool,
}

impl Deliver for Stopped {
    fn deliver(self, _py: Python<'_>, _context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        if self.panicked {
            Err(RustPanic::new_err(
                "a Rust task panicked while running this call (details on stderr)",
            ))
        } else {
            Err(RuntimeClosed::new_err(
                "the tokio runtime shut down before this call finished",
            ))
        }
    }
}
