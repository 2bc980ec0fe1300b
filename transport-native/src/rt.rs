//! The tokio context the transports need, checked instead of assumed: an attempt polled
//! outside a tokio runtime, or in one built without its time or I/O driver, fails with a typed
//! error instead of panicking inside tokio.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt as _;
use tether_core::TransportErrorKind;
use tokio::runtime::Handle;
use tokio::time::Sleep;

use crate::config::clamp;
use crate::failure::Failure;

/// The current tokio runtime.
pub(crate) fn handle(transport: &str) -> Result<Handle, Failure> {
    Handle::try_current().map_err(|_| {
        Failure::new(
            TransportErrorKind::Other,
            format!("{transport} must be polled inside a tokio runtime"),
        )
    })
}

/// A tokio timer of `duration` (at most a year). tokio panics when the runtime has no time
/// driver; that becomes an error here. Call it only inside a runtime ([`handle`]).
pub(crate) fn sleep(duration: Duration) -> Result<Sleep, Failure> {
    let duration = clamp(duration);
    catch_unwind(move || tokio::time::sleep(duration)).map_err(|_| no_driver("time"))
}

/// The error for a runtime built without one of its drivers.
pub(crate) fn no_driver(which: &str) -> Failure {
    Failure::new(
        TransportErrorKind::Other,
        format!(
            "the tokio runtime has no {which} driver: build it with `enable_{which}` (or `enable_all`)"
        ),
    )
}

/// Runs `future`, turning a panic inside it into `on_panic` (for tokio's I/O-driver check,
/// which panics when a socket is registered with a runtime built without it).
pub(crate) async fn unwind_safe<T>(
    future: impl Future<Output = Result<T, Failure>>,
    on_panic: impl FnOnce() -> Failure,
) -> Result<T, Failure> {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(on_panic()),
    }
}

/// Which timer ended a [`race`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// The first timer.
    First,
    /// The second timer.
    Second,
}

/// `future`, unless one of the timers fires first. A timer that is `None` never fires. The
/// timers are polled only while `future` is pending, so a future that is ready at once never
/// registers a timer.
pub(crate) async fn race<F: Future>(
    future: F,
    mut first: Option<Pin<&mut Sleep>>,
    mut second: Option<Pin<&mut Sleep>>,
) -> Result<F::Output, Fired> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if let Some(timer) = first.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(Fired::First));
        }
        if let Some(timer) = second.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(Fired::Second));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_is_an_error() {
        let err = handle("T").unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Other);
        assert!(err.detail.contains("tokio runtime"), "{}", err.detail);
    }

    #[test]
    fn a_runtime_without_timers_is_an_error_not_a_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = runtime.block_on(async { sleep(Duration::from_secs(1)).map(|_| ()) });
        let err = err.unwrap_err();
        assert!(err.detail.contains("enable_time"), "{}", err.detail);
    }

    #[tokio::test]
    async fn huge_durations_do_not_overflow() {
        let timer = sleep(Duration::MAX).unwrap();
        let mut timer = std::pin::pin!(timer);
        let out = race(async { 7 }, Some(timer.as_mut()), None).await;
        assert_eq!(out, Ok(7));
    }

    #[tokio::test]
    async fn the_timer_that_fires_is_reported() {
        let long = std::pin::pin!(sleep(Duration::from_secs(60)).unwrap());
        let short = std::pin::pin!(sleep(Duration::from_millis(10)).unwrap());
        let out = race(std::future::pending::<()>(), Some(long), Some(short)).await;
        assert_eq!(out, Err(Fired::Second));
        let short = std::pin::pin!(sleep(Duration::from_millis(10)).unwrap());
        let out = race(std::future::pending::<()>(), Some(short), None).await;
        assert_eq!(out, Err(Fired::First));
    }

    #[tokio::test]
    async fn panics_inside_become_errors() {
        let out: Result<(), Failure> =
            unwind_safe(async { panic!("boom") }, || no_driver("io")).await;
        assert!(out.unwrap_err().detail.contains("enable_io"));
    }
}
