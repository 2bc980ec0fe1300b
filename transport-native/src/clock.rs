//! The only place in this crate that reads a clock.
//!
//! The workspace forbids `Instant::now` and `SystemTime::now` (see `clippy.toml`): time is an
//! argument everywhere else. A frontend has to read it somewhere, and this module is where the
//! native one does, so there is exactly one spot to audit or replace.

use std::time::{Instant, SystemTime};

/// The monotonic clock.
#[expect(
    clippy::disallowed_methods,
    reason = "the native frontend's single monotonic clock read; the core receives it as `now`"
)]
pub(crate) fn monotonic() -> Instant {
    Instant::now()
}

/// The wall clock.
#[expect(
    clippy::disallowed_methods,
    reason = "the native frontend's single wall-clock read; the core receives it as a `WallClock`"
)]
pub(crate) fn wall() -> SystemTime {
    SystemTime::now()
}

/// The monotonic clock as tokio's `Instant`, for re-arming tokio timers.
pub(crate) fn tokio_now() -> tokio::time::Instant {
    tokio::time::Instant::from_std(monotonic())
}
