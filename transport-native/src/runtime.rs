//! [`TokioRuntime`]: the core's clock, timer, seed and executor on tokio.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::time::{Duration, Instant};

use tether_core::{Runtime, RuntimeUnavailable, Spawn, Timestamp, WallClock};

use crate::clock;

/// A [`Runtime`] over tokio: monotonic time from an origin taken at construction, the system
/// wall clock, `tokio::time::sleep` timers, seeds from OS entropy, and background work
/// ([`Spawn`]) as tasks on the current tokio runtime.
///
/// Clones share the origin, so timestamps from clones are comparable. [`Runtime::sleep`]
/// needs a tokio runtime with the time driver enabled.
///
/// `now()` reads the real monotonic clock even when tokio's test clock is paused
/// (`tokio::time::pause`), so do not mix the two in tests; the core's own tests use a virtual
/// runtime instead.
#[derive(Clone, Copy, Debug)]
pub struct TokioRuntime {
    origin: Instant,
}

impl TokioRuntime {
    /// A runtime whose monotonic clock starts at zero now.
    pub fn new() -> Self {
        TokioRuntime {
            origin: clock::monotonic(),
        }
    }
}

impl TokioRuntime {
    /// Whether the calling context can use this runtime: inside a tokio runtime with its time
    /// driver. [`Runtime::sleep`] panics otherwise (tokio's rule); the client calls this
    /// first ([`Runtime::check`]) and returns the error instead. (A missing I/O driver cannot
    /// be detected without opening a socket; `HyperTransport` reports it when it connects.)
    pub fn check_context() -> Result<(), RuntimeUnavailable> {
        thread_local! {
            /// The last runtime this thread found its time driver in (runtime ids are never
            /// reused), so that the costly part of the check runs once per runtime and thread.
            static TIMED: Cell<Option<tokio::runtime::Id>> = const { Cell::new(None) };
        }
        let handle = crate::rt::handle("TokioRuntime")
            .map_err(|failure| RuntimeUnavailable::new(failure.detail))?;
        let id = handle.id();
        if TIMED.get() == Some(id) {
            return Ok(());
        }
        // Creating a timer is what panics without the time driver; it is never polled.
        let timer = crate::rt::sleep(Duration::ZERO)
            .map_err(|failure| RuntimeUnavailable::new(failure.detail))?;
        drop(timer);
        TIMED.set(Some(id));
        Ok(())
    }
}

impl Default for TokioRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for TokioRuntime {
    /// Boxed so that it is `Unpin` (and `Send`): callers can race it without pinning.
    type Sleep = Pin<Box<tokio::time::Sleep>>;

    fn now(&self) -> Timestamp {
        Timestamp::from_duration(clock::monotonic().saturating_duration_since(self.origin))
    }

    fn wall(&self) -> WallClock {
        WallClock::from_system_time(clock::wall())
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Box::pin(tokio::time::sleep(duration))
    }

    fn seed(&self) -> u64 {
        seed()
    }

    /// Inside a tokio runtime with its time driver ([`TokioRuntime::check_context`]).
    fn check(&self) -> Result<(), RuntimeUnavailable> {
        Self::check_context()
    }
}

/// Background work (the client's refreshes, health checks and timers; a batcher's scheduler)
/// runs as a task on the current tokio runtime. Outside one, nothing is started (`false`):
/// the client tries again with its next request.
impl<F: Future<Output = ()> + Send + 'static> Spawn<F> for TokioRuntime {
    fn spawn(&self, task: F) -> bool {
        if tokio::runtime::Handle::try_current().is_err() {
            return false;
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "the native frontend's one place that starts a task: background drivers, \
                      which end by themselves when their client closes or batcher is dropped"
        )]
        let handle = tokio::spawn(task);
        drop(handle);
        true
    }
}

/// A seed from OS entropy (both native runtimes).
pub(crate) fn seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| fallback_seed())
}

/// A seed when the OS refuses entropy (practically never on a native target): std's
/// per-process random SipHash keys mixed with the clocks and a per-call address.
fn fallback_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let wall = clock::wall()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(wall.as_nanos());
    let local = 0_u8;
    hasher.write_usize(std::ptr::from_ref(&local).addr());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_seeds_differ() {
        assert_ne!(fallback_seed(), fallback_seed());
    }

    #[test]
    fn the_context_is_checked_not_assumed() {
        assert!(TokioRuntime::check_context().is_err(), "outside a runtime");
        let no_time = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let error = no_time
            .block_on(async { TokioRuntime::check_context() })
            .unwrap_err();
        assert!(error.reason.contains("enable_time"), "{error}");
        let full = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        full.block_on(async { TokioRuntime::check_context() })
            .unwrap();
    }

    #[test]
    fn clones_share_the_origin() {
        let a = TokioRuntime::new();
        let b = a;
        let (ta, tb) = (a.now(), b.now());
        assert!(tb >= ta);
        assert!(tb.saturating_duration_since(ta) < Duration::from_secs(5));
    }
}
