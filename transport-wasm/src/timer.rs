//! `setTimeout` as an owned value: a callback that runs once after a delay unless the timer is
//! dropped first (which clears it).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use js_sys::Function;
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;

use crate::global::{clear_timeout, set_timeout};

/// The longest delay `setTimeout` honours (2³¹ − 1 ms, about 24.8 days); a longer one fires at
/// once, so longer waits are cut into pieces of this size.
pub(crate) const MAX_DELAY_MS: f64 = 2_147_483_647.0;

thread_local! {
    /// Set while the client's background driver is being polled (see [`Detached`]).
    static DETACHED: Cell<bool> = const { Cell::new(false) };
}

/// A future whose timers do not keep a Node process alive.
///
/// In Node an active timer holds the event loop open; the client's background driver wakes at
/// least once a second for as long as the client lives, so a script that forgets `close()`
/// would never exit. Timers started while this future is polled are `unref()`ed (Node only;
/// browsers have no such notion). A request's own timers — its time limit, its backoff — stay
/// referenced, so a process never exits in the middle of a request.
pub(crate) struct Detached<F>(pub(crate) Pin<Box<F>>);

impl<F: Future> Future for Detached<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = DETACHED.with(|d| d.replace(true));
        let out = self.0.as_mut().poll(cx);
        DETACHED.with(|d| d.set(previous));
        out
    }
}

/// A pending `setTimeout`; dropping it clears the timer.
pub(crate) struct Timer {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `callback` once after `delay_ms` milliseconds (rounded up to a whole millisecond,
    /// so that it never fires early by the clock's own count; capped at [`MAX_DELAY_MS`]).
    /// `None` if `setTimeout` threw.
    pub(crate) fn start(delay_ms: f64, callback: impl FnMut() + 'static) -> Option<Timer> {
        let callback = Closure::<dyn FnMut()>::new(callback);
        let delay = delay_ms.ceil().clamp(0.0, MAX_DELAY_MS);
        let function: &Function = callback.as_ref().unchecked_ref();
        let id = set_timeout(function, delay).ok()?;
        if DETACHED.with(Cell::get) {
            unref(&id);
        }
        Some(Timer {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// `timeout.unref()` where the id is a Node `Timeout` object; nothing for a browser's number.
fn unref(id: &JsValue) {
    if !id.is_object() {
        return;
    }
    if let Ok(method) = js_sys::Reflect::get(id, &JsValue::from_str("unref"))
        && let Some(method) = method.dyn_ref::<Function>()
    {
        let _ = method.call0(id);
    }
}
