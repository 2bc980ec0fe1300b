//! [`BlockingRuntime`]: the core's clock, timers and seed for the blocking API, without tokio.

use std::future::Future;
use std::time::{Duration, Instant};

use tether_core::{Runtime, Spawn, Timestamp, WallClock};

use super::executor::{Sleep, block_on};
use crate::clock;

/// A [`Runtime`] for the blocking API: monotonic time from an origin taken at construction,
/// the system wall clock, timers that park the calling thread ([`Sleep`]) and seeds from OS
/// entropy. It needs no async runtime.
///
/// Background work — stale-while-revalidate refreshes, active health checks, the engine's
/// timers — runs only when asked for with
/// [`with_background_thread`](Self::with_background_thread): then each client starts one
/// helper thread (named `tether-background`), which ends when the client is closed or
/// dropped. Without it (the default) nothing runs behind the caller's back: a stale entry is
/// served as long as the cache allows and then simply expires, health comes from traffic
/// alone, and breaker transitions happen when the next request asks.
///
/// Clones share the origin, so timestamps from clones are comparable.
#[derive(Clone, Copy, Debug)]
pub struct BlockingRuntime {
    origin: Instant,
    background: bool,
}

impl BlockingRuntime {
    /// A runtime whose monotonic clock starts at zero now, without background work.
    pub fn new() -> Self {
        BlockingRuntime {
            origin: clock::monotonic(),
            background: false,
        }
    }

    /// The same runtime, running each client's background work on a helper thread (`true`)
    /// or not at all (`false`, the default).
    #[must_use]
    pub fn with_background_thread(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Whether clients on this runtime start a background thread.
    pub fn background_thread(&self) -> bool {
        self.background
    }
}

impl Default for BlockingRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for BlockingRuntime {
    type Sleep = Sleep;

    fn now(&self) -> Timestamp {
        Timestamp::from_duration(clock::monotonic().saturating_duration_since(self.origin))
    }

    fn wall(&self) -> WallClock {
        WallClock::from_system_time(clock::wall())
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(duration)
    }

    fn seed(&self) -> u64 {
        crate::runtime::seed()
    }
}

/// Background work runs on a helper thread of its own when the runtime was built
/// [`with_background_thread`](BlockingRuntime::with_background_thread), and not at all
/// otherwise.
impl<F: Future<Output = ()> + Send + 'static> Spawn<F> for BlockingRuntime {
    fn spawn(&self, task: F) -> bool {
        if !self.background {
            return false;
        }
        // The blocking API's one thread, opted into: the driver ends by itself when its
        // client is closed or dropped.
        std::thread::Builder::new()
            .name("tether-background".into())
            .spawn(move || block_on(task))
            .is_ok()
    }

    fn can_spawn(&self) -> bool {
        self.background
    }
}
