//! [`BrowserRuntime`]: the core's clock, timers, seed and executor in a JavaScript host.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tether_core::client::{Background, BatchDriver, Hooks, Job};
use tether_core::{Runtime, Spawn, Timestamp, Transport, WallClock};

use crate::global::{get_random_values, performance_now};
use crate::timer::{Detached, Timer};

/// A [`Runtime`] over the host's clocks and timers — a browser window, a worker, or Node 20:
///
/// * monotonic time: `performance.now()` (microseconds since the page's or process's time
///   origin; browsers coarsen it to 5–100 µs);
/// * wall clock: `Date.now()`;
/// * timers: `setTimeout`, cleared when a [`Sleep`] is dropped, never firing early by the
///   monotonic clock (a timer that comes back early is re-armed for the rest);
/// * seed: `crypto.getRandomValues` (`Math.random` mixed with the clocks where there is no
///   Web Crypto);
/// * background work ([`Spawn`]): `wasm_bindgen_futures::spawn_local` on the host's event
///   loop. The client's background driver's timers are `unref()`ed in Node, so an idle client
///   never keeps a Node process alive; a request's own timers are not.
///
/// It holds nothing: every call goes to the global scope, so it is `Copy` and free to create.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserRuntime {
    _private: (),
}

impl BrowserRuntime {
    /// The runtime of the current global scope.
    pub fn new() -> Self {
        BrowserRuntime { _private: () }
    }
}

/// Milliseconds (as JavaScript gives them) to whole microseconds; `0` for a negative or
/// non-finite value.
fn ms_to_micros(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0) as u64
    } else {
        0
    }
}

impl Runtime for BrowserRuntime {
    type Sleep = Sleep;

    fn now(&self) -> Timestamp {
        Timestamp::from_micros(ms_to_micros(performance_now()))
    }

    fn wall(&self) -> WallClock {
        WallClock::from_unix_micros(ms_to_micros(js_sys::Date::now()))
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(duration)
    }

    fn seed(&self) -> u64 {
        let mut bytes = [0_u8; 8];
        if get_random_values(&mut bytes).is_ok() {
            return u64::from_le_bytes(bytes);
        }
        // No Web Crypto (a very old host): not unpredictable, but different per client.
        let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        (high << 32 | low) ^ ms_to_micros(performance_now()) ^ ms_to_micros(js_sys::Date::now())
    }
}

/// The client's background driver runs on the event loop, detached: in Node its timers do
/// not keep the process alive.
impl<T, H> Spawn<Background<T, BrowserRuntime, H>> for BrowserRuntime
where
    T: Transport + 'static,
    H: Hooks + 'static,
{
    fn spawn(&self, task: Background<T, BrowserRuntime, H>) -> bool {
        wasm_bindgen_futures::spawn_local(Detached(Box::pin(task)));
        true
    }
}

/// A batcher's scheduler runs on the event loop; the jobs it runs are requests, whose timers
/// keep a Node process alive until they end.
impl<J: Job + 'static> Spawn<BatchDriver<BrowserRuntime, J>> for BrowserRuntime {
    fn spawn(&self, task: BatchDriver<BrowserRuntime, J>) -> bool {
        wasm_bindgen_futures::spawn_local(task);
        true
    }
}

/// What a [`Sleep`]'s timer callback shares with it.
#[derive(Default)]
struct Alarm {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// The future of [`BrowserRuntime::sleep`]: completes once `performance.now()` has reached
/// its deadline (taken when it was created). The `setTimeout` behind it starts at its first
/// poll — a sleep that loses a race before it is polled costs no timer — and is cleared when
/// it is dropped.
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    deadline_ms: f64,
    alarm: Rc<Alarm>,
    timer: Option<Timer>,
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline_ms", &self.deadline_ms)
            .field("armed", &self.timer.is_some())
            .finish_non_exhaustive()
    }
}

impl Sleep {
    fn new(duration: Duration) -> Self {
        Sleep {
            deadline_ms: performance_now() + duration.as_secs_f64() * 1000.0,
            alarm: Rc::default(),
            timer: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = performance_now();
        if now >= self.deadline_ms {
            self.timer = None;
            return Poll::Ready(());
        }
        {
            let mut waker = self.alarm.waker.borrow_mut();
            match waker.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        if self.timer.is_none() || self.alarm.fired.get() {
            // First poll, or the timer came back before the deadline (a clamped long delay,
            // or a host whose timers run a little early): arm it for what is left.
            self.alarm.fired.set(false);
            let alarm = Rc::clone(&self.alarm);
            self.timer = Timer::start(self.deadline_ms - now, move || {
                alarm.fired.set(true);
                if let Some(waker) = alarm.waker.take() {
                    waker.wake();
                }
            });
            if self.timer.is_none() {
                // `setTimeout` refused: finishing now is better than never waking up.
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::ms_to_micros;

    #[test]
    fn milliseconds_become_whole_microseconds() {
        assert_eq!(ms_to_micros(1.5), 1_500);
        assert_eq!(ms_to_micros(0.0004), 0);
        assert_eq!(ms_to_micros(-3.0), 0);
        assert_eq!(ms_to_micros(f64::NAN), 0);
        assert_eq!(ms_to_micros(1_700_000_000_000.25), 1_700_000_000_000_250);
    }
}
