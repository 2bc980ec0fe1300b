//! The asyncio bridge: Rust futures run on the extension's tokio runtime and complete asyncio
//! futures without tokio threads ever touching a Python object.
//!
//! ## How a call runs
//!
//! 1. On the event loop's thread, [`spawn`] finds (or creates) the [`Bridge`] of the running
//!    loop, makes an asyncio future with `loop.create_future()`, registers the bridge's
//!    cancel callback on it, and spawns the Rust future on tokio. The asyncio future is kept
//!    in the bridge's pending calls under a fresh token (a per-bridge sequence number).
//! 2. On a tokio thread, the Rust future runs and its output — a plain Rust value — is pushed
//!    onto the loop's [`Completions`] queue. Only a push onto an empty queue writes a byte to
//!    the loop's wake socket.
//! 3. The loop sees the socket readable (`loop.add_reader`) and calls the bridge's drain
//!    callback with the GIL held. It drains the socket, takes the whole queue and resolves
//!    every waiting future: the Rust value becomes a Python object (or exception instance)
//!    here, on the loop thread, and goes to `future.set_result` / `set_exception`.
//!
//! A batch of completions therefore costs one `write`, one `read` and one loop callback, and no
//! tokio thread ever waits for the GIL.
//!
//! ## Cancellation
//!
//! Cancelling the asyncio future (or the task awaiting it) runs the cancel callback, which
//! finds the call by the future's address, removes it and aborts the tokio task: the Rust
//! future is dropped at its next await point. A result that arrives for a cancelled call finds
//! no entry under its token and is dropped; one that arrives in the moment between the
//! cancellation and its callback is recognised by `remove_done_callback` finding nothing to
//! remove (a done future's callbacks are already scheduled).
//!
//! Tokens are never reused. A future's address would be unique only while the future lives:
//! a late completion of a cancelled call (or the notice of its aborted task) could then reach
//! a new future allocated at the same address — another caller's result.
//!
//! ## Lifetime
//!
//! There is one bridge per event loop, keyed by the loop object (pytest-asyncio makes one loop
//! per test; one client can be used from several loops). A bridge is torn down — reader
//! removed, both socket ends closed, pending Rust tasks aborted, pending futures failed with
//! `RuntimeClosed` —
//! when its loop closes (the bridge wraps the loop instance's `close`), when the loop is
//! garbage-collected (a weak reference callback), when a new bridge finds it closed, or at
//! interpreter exit.

use std::collections::HashMap;
use std::future::Future;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use foldhash::fast::RandomState;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyWeakrefMethods, PyWeakrefReference};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::completion::{Completion, Completions, WakeReader};
use crate::errors::{RuntimeClosed, Stopped};
use crate::runtime;

/// A Rust value that becomes a Python object on the event loop's thread.
///
/// Implementors are plain Rust data: they travel from a tokio thread to the loop thread and
/// must not hold Python objects. `context` is the Python object given to [`spawn`] for this
/// call (kept on the loop side all along), for conversions that need one — a class to
/// instantiate, say.
pub(crate) trait Deliver: Send + 'static {
    /// The Python result (`Ok`) or the exception to raise (`Err`).
    fn deliver(self, py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>>;
}

/// Object-safe form of [`Deliver`], for the completion queue.
pub(crate) trait DeliverBoxed: Send + 'static {
    fn deliver_boxed(
        self: Box<Self>,
        py: Python<'_>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>>;
}

impl<T: Deliver> DeliverBoxed for T {
    fn deliver_boxed(
        self: Box<Self>,
        py: Python<'_>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        (*self).deliver(py, context)
    }
}

/// A Rust error type that becomes a Python exception on the loop thread.
pub(crate) trait IntoPyErr: Send + 'static {
    /// The exception to raise.
    fn into_py_err(self, py: Python<'_>) -> PyErr;
}

impl Deliver for () {
    fn deliver(self, py: Python<'_>, _context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        Ok(py.None())
    }
}

impl<T: Deliver, E: IntoPyErr> Deliver for Result<T, E> {
    fn deliver(self, py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        match self {
            Ok(value) => value.deliver(py, context),
            Err(error) => Err(error.into_py_err(py)),
        }
    }
}

type Payload = Box<dyn DeliverBoxed>;
type Queue = Completions<Payload>;

/// A call waiting for its Rust task.
struct Pending {
    future: Py<PyAny>,
    abort: AbortHandle,
    context: Option<Py<PyAny>>,
}

/// The calls of one loop waiting for their Rust tasks: by token (completions), and the token
/// by the asyncio future's address (cancellation, which only knows the future). An address is
/// in the index exactly while its call is pending, so it is unique there.
#[derive(Default)]
struct PendingCalls {
    by_token: HashMap<u64, Pending, RandomState>,
    by_address: HashMap<usize, u64, RandomState>,
}

impl PendingCalls {
    fn insert(&mut self, token: u64, entry: Pending) {
        let address = entry.future.as_ptr() as usize;
        let stale = self.by_address.insert(address, token);
        debug_assert!(
            stale.is_none(),
            "a pending future is alive, so its address is unique"
        );
        self.by_token.insert(token, entry);
    }

    fn remove(&mut self, token: u64) -> Option<Pending> {
        let entry = self.by_token.remove(&token)?;
        self.by_address.remove(&(entry.future.as_ptr() as usize));
        Some(entry)
    }

    fn remove_future(&mut self, future: &Bound<'_, PyAny>) -> Option<Pending> {
        let token = self.by_address.remove(&(future.as_ptr() as usize))?;
        self.by_token.remove(&token)
    }

    fn drain(&mut self) -> Vec<Pending> {
        self.by_address.clear();
        self.by_token.drain().map(|(_, entry)| entry).collect()
    }
}

type PendingMap = Mutex<PendingCalls>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections here never call into Python and never panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bridge of one event loop.
///
/// Every field is only used on a thread holding the GIL, except `completions`, which tokio
/// tasks hold. Mutexes here are never held while calling into Python: Python code can run
/// garbage collection, whose weak reference callbacks can re-enter the bridge.
pub(crate) struct Bridge {
    /// The loop's address; unique while the loop lives (its death tears the bridge down).
    key: usize,
    loop_ref: Py<PyWeakrefReference>,
    completions: Arc<Queue>,
    /// The read end of the wake socket; `None` once torn down.
    reader: Mutex<Option<WakeReader>>,
    fd: RawFd,
    pending: Arc<PendingMap>,
    next_token: AtomicU64,
    on_cancel: Py<CancelCallback>,
    torn_down: AtomicBool,
}

/// All live bridges. A handful at most: one per event loop that used the extension.
static BRIDGES: Mutex<Vec<Arc<Bridge>>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Arc<Bridge>>> {
    BRIDGES.lock().unwrap_or_else(PoisonError::into_inner)
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The event loop running in this thread, or a clear error.
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let get = GET_RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio")?
            .getattr("get_running_loop")
            .map(Bound::unbind)
    })?;
    get.bind(py).call0().map_err(|_| {
        PyRuntimeError::new_err(
            "tether: this call must be awaited from a coroutine running in an asyncio event loop \
             (no event loop runs in this thread; the blocking API is separate)",
        )
    })
}

/// Starts `future` on the runtime and returns the asyncio future that completes with its
/// output, delivered on this loop's thread. `context` stays on the loop side and is handed to
/// [`Deliver::deliver`].
pub(crate) fn spawn<F>(
    py: Python<'_>,
    context: Option<Py<PyAny>>,
    future: F,
) -> PyResult<Bound<'_, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Deliver,
{
    let event_loop = running_loop(py)?;
    let handle = runtime::handle(py)?;
    spawn_on(py, &event_loop, &handle, context, future)
}

/// [`spawn`] with the running loop and the runtime already found.
fn spawn_on<'py, F>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    handle: &Handle,
    context: Option<Py<PyAny>>,
    future: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Deliver,
{
    let bridge = bridge_for(event_loop)?;
    let asyncio_future = event_loop.call_method0(intern!(py, "create_future"))?;
    asyncio_future.call_method1(
        intern!(py, "add_done_callback"),
        (bridge.on_cancel.bind(py),),
    )?;
    let token = bridge.next_token.fetch_add(1, Ordering::Relaxed);
    let delivery = Delivery {
        token,
        completions: Some(Arc::clone(&bridge.completions)),
    };
    let task = handle.spawn(async move {
        let delivery = delivery;
        let output = future.await;
        delivery.send(Box::new(output));
    });
    let entry = Pending {
        future: asyncio_future.clone().unbind(),
        abort: task.abort_handle(),
        context,
    };
    lock(&bridge.pending).insert(token, entry);
    Ok(asyncio_future)
}

/// Polls `future` once on this thread (inside the runtime's context, with a waker that does
/// nothing): when it is ready, its output is converted at once and the asyncio future is
/// resolved on the loop's next iteration (`call_soon`), with no thread hop; otherwise the
/// future goes to the runtime exactly as with [`spawn`] (whose first poll registers a real
/// waker). For futures that are usually ready at once, such as a response the cache answers.
///
/// Resolving on the next iteration rather than at once keeps `await` a point where other
/// tasks run: a loop of cache hits must not starve the event loop.
pub(crate) fn run_here<F>(
    py: Python<'_>,
    context: Option<Py<PyAny>>,
    future: F,
) -> PyResult<Bound<'_, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Deliver,
{
    let event_loop = running_loop(py)?;
    let handle = runtime::handle(py)?;
    let mut future = Box::pin(future);
    let polled = {
        let _entered = handle.enter();
        let mut cx = Context::from_waker(Waker::noop());
        future.as_mut().poll(&mut cx)
    };
    let Poll::Ready(output) = polled else {
        return spawn_on(py, &event_loop, &handle, context, future);
    };
    let done = event_loop.call_method0(intern!(py, "create_future"))?;
    let bound = context.as_ref().map(|c| c.bind(py));
    let resolve = Resolve {
        future: done.clone().unbind(),
        outcome: output
            .deliver(py, bound)
            .map_err(|error| error.into_value(py).into_any()),
    };
    event_loop.call_method1(intern!(py, "call_soon"), (resolve,))?;
    Ok(done)
}

/// Resolves a future with a value already converted, unless it was cancelled meanwhile.
#[pyclass(frozen, module = "tether._tether")]
struct Resolve {
    future: Py<PyAny>,
    outcome: Result<Py<PyAny>, Py<PyAny>>,
}

#[pymethods]
impl Resolve {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        if future.call_method0(intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        match &self.outcome {
            Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
            Err(error) => future.call_method1(intern!(py, "set_exception"), (error,))?,
        };
        Ok(())
    }
}

/// Carries a task's output to its loop; if the task is dropped first (runtime shutdown, or a
/// panic while polling), it delivers [`Stopped`] instead, so no asyncio future waits forever.
struct Delivery {
    token: u64,
    completions: Option<Arc<Queue>>,
}

impl Delivery {
    fn send(mut self, value: Payload) {
        if let Some(completions) = self.completions.take() {
            completions.push(Completion {
                token: self.token,
                value,
            });
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(completions) = self.completions.take() {
            // An abort after a cancellation also lands here; its pending entry is gone, so the
            // loop side drops this completion.
            completions.push(Completion {
                token: self.token,
                value: Box::new(Stopped {
                    panicked: std::thread::panicking(),
                }),
            });
        }
    }
}

/// The bridge of `event_loop`, created on first use.
fn bridge_for(event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Bridge>> {
    let key = event_loop.as_ptr() as usize;
    if let Some(bridge) = registry().iter().find(|bridge| bridge.key == key) {
        return Ok(Arc::clone(bridge));
    }
    let py = event_loop.py();
    sweep(py);
    if event_loop
        .call_method0(intern!(py, "is_closed"))?
        .is_truthy()?
    {
        return Err(PyRuntimeError::new_err("tether: the event loop is closed"));
    }
    let (completions, reader) = Queue::new()
        .map_err(|error| PyRuntimeError::new_err(format!("tether: no wake socket: {error}")))?;
    let fd = reader.fd();
    let loop_ref = PyWeakrefReference::new_with(event_loop, LoopGone { key })?;
    let pending: Arc<PendingMap> = Arc::new(Mutex::new(PendingCalls::default()));
    let on_cancel = Py::new(
        py,
        CancelCallback {
            pending: Arc::clone(&pending),
        },
    )?;
    let bridge = Arc::new(Bridge {
        key,
        loop_ref: loop_ref.clone().unbind(),
        completions: Arc::new(completions),
        reader: Mutex::new(Some(reader)),
        fd,
        pending,
        next_token: AtomicU64::new(0),
        on_cancel,
        torn_down: AtomicBool::new(false),
    });
    event_loop.call_method1(
        intern!(py, "add_reader"),
        (
            fd,
            DrainCallback {
                bridge: Arc::clone(&bridge),
            },
        ),
    )?;
    registry().push(Arc::clone(&bridge));
    // A failure is not fatal: the weak reference callback and `sweep` still tear the bridge
    // down.
    let _ = install_close_hook(event_loop, &loop_ref);
    Ok(bridge)
}

/// Wraps the loop instance's `close` so closing the loop tears its bridge down first. A loop
/// whose `close` is already an instance attribute, or whose instances take no attributes, is
/// left alone: the weak reference callback and [`sweep`] cover it.
fn install_close_hook(
    event_loop: &Bound<'_, PyAny>,
    loop_ref: &Bound<'_, PyWeakrefReference>,
) -> PyResult<()> {
    let py = event_loop.py();
    let Ok(attributes) = event_loop.getattr(intern!(py, "__dict__")) else {
        return Ok(());
    };
    let Ok(attributes) = attributes.cast_into::<PyDict>() else {
        return Ok(());
    };
    if attributes.contains(intern!(py, "close"))? {
        return Ok(());
    }
    let hook = CloseHook {
        loop_ref: loop_ref.clone().unbind(),
    };
    attributes.set_item(intern!(py, "close"), hook)?;
    Ok(())
}

/// Tears down bridges whose loop is gone or closed.
fn sweep(py: Python<'_>) {
    // A copy: asking a loop whether it is closed runs Python code, which must not happen
    // under the registry's lock.
    let all: Vec<Arc<Bridge>> = registry().clone();
    for bridge in all {
        if bridge.loop_is_open(py).is_none() {
            bridge.tear_down(py);
        }
    }
}

/// Tears down the bridge of the loop with address `key`, if any.
fn tear_down_key(py: Python<'_>, key: usize) {
    let found = registry().iter().find(|bridge| bridge.key == key).cloned();
    if let Some(bridge) = found {
        bridge.tear_down(py);
    }
}

/// Tears down every bridge (interpreter exit).
pub(crate) fn tear_down_all(py: Python<'_>) {
    let all: Vec<Arc<Bridge>> = registry().clone();
    for bridge in all {
        bridge.tear_down(py);
    }
}

/// In a forked child: detaches every inherited bridge without touching what tokio threads
/// share (the completion queues, the tasks), since those threads do not exist here and may
/// have held its locks at the fork. The loop is not touched either: its epoll instance is
/// shared with the parent, so removing the reader here would remove it from the parent's loop
/// too. The child's copy of the read end is closed (the parent keeps its own; a drain in the
/// child does nothing once torn down), pending futures are cancelled, and the rest is leaked.
pub(crate) fn forget_after_fork(py: Python<'_>) {
    let inherited: Vec<Arc<Bridge>> = std::mem::take(&mut *registry());
    for bridge in inherited {
        bridge.torn_down.store(true, Ordering::Release);
        drop(lock(&bridge.reader).take());
        let entries = lock(&bridge.pending).drain();
        for entry in entries {
            let _ = entry.future.bind(py).call_method0(intern!(py, "cancel"));
            std::mem::forget(entry.abort);
        }
        // The write end lives in the shared queue: leak it with the bridge.
        std::mem::forget(bridge);
    }
}

/// The number of live bridges (tests).
pub(crate) fn live_bridges() -> usize {
    registry().len()
}

impl Bridge {
    /// The loop, if it is alive and not closed.
    fn loop_is_open<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.loop_ref.bind(py).upgrade().filter(|event_loop| {
            !event_loop
                .call_method0(intern!(py, "is_closed"))
                .and_then(|closed| closed.is_truthy())
                .unwrap_or(true)
        })
    }

    /// Resolves every completed call. Runs on the loop thread, from the reader callback.
    fn drain(&self, py: Python<'_>) {
        if self.torn_down.load(Ordering::Acquire) {
            return;
        }
        if let Some(reader) = lock(&self.reader).as_ref() {
            reader.drain();
        }
        let items = self.completions.take();
        if items.is_empty() {
            return;
        }
        let ready: Vec<(Pending, Payload)> = {
            let mut pending = lock(&self.pending);
            items
                .into_iter()
                .filter_map(|item| pending.remove(item.token).map(|entry| (entry, item.value)))
                .collect()
        };
        let on_cancel = self.on_cancel.bind(py);
        for (entry, payload) in ready {
            let future = entry.future.bind(py);
            // Zero removed: the future is already done (cancelled, or resolved by someone
            // else), so the result has nowhere to go.
            let removed = future
                .call_method1(intern!(py, "remove_done_callback"), (on_cancel,))
                .and_then(|n| n.extract::<usize>())
                .unwrap_or(0);
            if removed == 0 {
                continue;
            }
            let context = entry.context.as_ref().map(|context| context.bind(py));
            let outcome = match payload.deliver_boxed(py, context) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
                Err(error) => {
                    future.call_method1(intern!(py, "set_exception"), (error.into_value(py),))
                }
            };
            if let Err(error) = outcome {
                // Only possible if the future's own methods misbehave (a subclass); there is
                // no caller to raise to, so report it like asyncio reports callback errors.
                error.write_unraisable(py, Some(future));
            }
        }
    }

    /// Closes the bridge: later completions are dropped, the reader is removed, both socket
    /// ends are closed, pending tasks are aborted and their futures fail with `RuntimeClosed`
    /// (if the loop can still run callbacks). Idempotent.
    fn tear_down(self: &Arc<Self>, py: Python<'_>) {
        if self.torn_down.swap(true, Ordering::AcqRel) {
            return;
        }
        registry().retain(|bridge| !Arc::ptr_eq(bridge, self));
        drop(self.completions.close());
        let open_loop = self.loop_is_open(py);
        if let Some(event_loop) = &open_loop
            && let Err(error) = event_loop.call_method1(intern!(py, "remove_reader"), (self.fd,))
        {
            error.write_unraisable(py, Some(event_loop));
        }
        drop(lock(&self.reader).take());
        let entries = lock(&self.pending).drain();
        for entry in entries {
            entry.abort.abort();
            if open_loop.is_some() {
                let future = entry.future.bind(py);
                let _ = future.call_method1(
                    intern!(py, "remove_done_callback"),
                    (self.on_cancel.bind(py),),
                );
                let error = RuntimeClosed::new_err(
                    "the event loop's bridge closed before this call finished",
                );
                let _ = future.call_method1(intern!(py, "set_exception"), (error.into_value(py),));
            }
        }
    }
}

/// The loop's reader callback: resolves completed calls.
#[pyclass(frozen, module = "tether._tether")]
struct DrainCallback {
    bridge: Arc<Bridge>,
}

#[pymethods]
impl DrainCallback {
    fn __call__(&self, py: Python<'_>) {
        self.bridge.drain(py);
    }
}

/// Done callback of every bridged future: on cancellation, aborts the Rust task.
#[pyclass(frozen, module = "tether._tether")]
pub(crate) struct CancelCallback {
    pending: Arc<PendingMap>,
}

#[pymethods]
impl CancelCallback {
    fn __call__(&self, future: &Bound<'_, PyAny>) {
        let entry = lock(&self.pending).remove_future(future);
        if let Some(entry) = entry {
            entry.abort.abort();
        }
    }
}

/// Weak reference callback: the loop was garbage-collected.
#[pyclass(frozen, module = "tether._tether")]
struct LoopGone {
    key: usize,
}

#[pymethods]
impl LoopGone {
    fn __call__(&self, py: Python<'_>, _reference: &Bound<'_, PyAny>) {
        tear_down_key(py, self.key);
    }
}

/// Replaces a loop instance's `close`: tears the bridge down, restores the class's `close`
/// and calls it.
#[pyclass(frozen, module = "tether._tether")]
struct CloseHook {
    loop_ref: Py<PyWeakrefReference>,
}

#[pymethods]
impl CloseHook {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let Some(event_loop) = self.loop_ref.bind(py).upgrade() else {
            return Err(PyRuntimeError::new_err("tether: the event loop is gone"));
        };
        let class_close = event_loop.get_type().getattr(intern!(py, "close"))?;
        // `close` refuses a running loop; let it say so, and keep the bridge.
        if !event_loop
            .call_method0(intern!(py, "is_running"))?
            .is_truthy()?
        {
            tear_down_key(py, event_loop.as_ptr() as usize);
            if let Ok(attributes) = event_loop.getattr(intern!(py, "__dict__")) {
                let _ = attributes.del_item(intern!(py, "close"));
            }
        }
        let mut call_args = vec![event_loop.clone()];
        call_args.extend(args.iter());
        Ok(class_close
            .call(PyTuple::new(py, call_args)?, kwargs)?
            .unbind())
    }
}
