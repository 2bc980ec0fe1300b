//! The only place in the `tether` program that reads the clock or starts a task.
//!
//! The workspace forbids `Instant::now` and `tokio::spawn` outside audited spots (see
//! `clippy.toml`): this program is a frontend, and these two functions are its spots.

use std::future::Future;
use std::time::Instant;

/// The monotonic clock.
#[expect(
    clippy::disallowed_methods,
    reason = "the CLI's single monotonic clock read: load timings, the demo's fault script"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Starts `task` on the current tokio runtime.
#[expect(
    clippy::disallowed_methods,
    reason = "the CLI's one place that starts a task: load workers, the demo's traffic, fault \
              script and status display, the monitoring server — each ends on shutdown"
)]
pub(crate) fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(task)
}
