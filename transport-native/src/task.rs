//! The one place this crate starts a task.

use std::future::Future;

use tokio::task::JoinHandle;

/// Spawns `future` on the current tokio runtime, or returns `None` outside one.
///
/// Used for each client's background driver and each batcher's driver: both must outlive the
/// call that starts them, and both are aborted when their owner closes or drops.
pub(crate) fn spawn<F>(future: F) -> Option<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::runtime::Handle::try_current().ok()?;
    #[expect(
        clippy::disallowed_methods,
        reason = "the native frontend's background drivers (client timers, SWR refreshes, \
                  health checks, batch scheduling) run as tasks owned and aborted by their handle"
    )]
    let handle = tokio::spawn(future);
    Some(handle)
}
