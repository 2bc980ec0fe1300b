//! A minimal executor for the blocking API: a future runs on the calling thread, which parks
//! between two polls until something wakes it or the earliest timer of [`Sleep`] comes due.
//!
//! There are no tasks, no queues and no other threads: [`block_on`] polls the one future it
//! was given. The common path of a blocking request is a single poll (the transport performs
//! the call when polled), so it costs one `poll` and nothing else — no allocation, no atomic
//! operation, no clock read. Waiting happens only for a retry's backoff, for an identical
//! request in flight on another thread (single flight), or for a free slot of a host, and then
//! the thread parks (`std::thread::park_timeout`) until the other thread wakes it or the timer
//! comes due.
//!
//! Timers are kept per thread: a [`Sleep`] polled inside `block_on` registers its deadline and
//! waker with the thread's timer list, which the executor consults before it parks and fires
//! when due. Polled anywhere else (another executor), a `Sleep` simply blocks the thread until
//! its deadline.
//!
//! A custom [`Park`] replaces the parking step, for a thread whose waits must be coordinated
//! with something else — a simulated clock, say ([`block_on_with`]).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::clock;
use crate::config::NativeConfig;

/// How a thread waits between two polls in [`block_on_with`].
///
/// The executor calls [`park`](Self::park) on the thread running the future whenever the
/// future is pending and no timer is due; wakers created for that future call
/// [`unpark`](Self::unpark), from any thread, possibly before the thread parks. A spurious
/// return from `park` is harmless: the future is polled again.
pub trait Park: Send + Sync + 'static {
    /// Blocks the calling thread until [`unpark`](Self::unpark) is called (or has been since
    /// the last `park`), until `deadline` when there is one, or spuriously.
    fn park(&self, deadline: Option<Instant>);

    /// Ends the current or next [`park`](Self::park).
    fn unpark(&self);
}

/// std's thread parking: the default [`Park`] of [`block_on`].
#[derive(Debug)]
struct ThreadPark(Thread);

impl Park for ThreadPark {
    fn park(&self, deadline: Option<Instant>) {
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = clock::monotonic();
                if deadline > now {
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }

    fn unpark(&self) {
        self.0.unpark();
    }
}

/// A waker that unparks.
struct Unparker<P>(P);

impl<P: Park> Wake for Unparker<P> {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker (made once per thread, so `block_on` allocates nothing).
    static THREAD_WAKER: Waker = Waker::from(Arc::new(Unparker(ThreadPark(thread::current()))));
    /// The [`Sleep`]s pending on this thread, by deadline.
    static TIMERS: RefCell<Timers> = const { RefCell::new(Timers::new()) };
    /// How many `block_on` calls are running on this thread (they nest).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Timer ids, unique in the process, so that a `Sleep` dropped on another thread than the one
/// it registered with can never remove someone else's timer there.
static NEXT_TIMER: AtomicU64 = AtomicU64::new(0);

/// The pending timers of one thread.
struct Timers {
    by_deadline: BTreeMap<(Instant, u64), Waker>,
}

impl Timers {
    const fn new() -> Self {
        Timers {
            by_deadline: BTreeMap::new(),
        }
    }
}

/// Wakes every timer of this thread that is due; returns whether one was, and the next
/// deadline. Reads the clock only when a timer is pending.
fn fire_due_timers() -> (bool, Option<Instant>) {
    let due: Vec<Waker> = TIMERS.with(|t| {
        let mut t = t.borrow_mut();
        if t.by_deadline.is_empty() {
            return Vec::new();
        }
        let now = clock::monotonic();
        let mut due = Vec::new();
        while let Some(entry) = t.by_deadline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    });
    let fired = !due.is_empty();
    // Woken outside the borrow: a waker may do anything, including registering a timer.
    for waker in due {
        waker.wake();
    }
    let next = TIMERS.with(|t| t.borrow().by_deadline.first_key_value().map(|(k, _)| k.0));
    (fired, next)
}

/// Marks this thread as running an executor for as long as it lives.
struct Running;

impl Running {
    fn enter() -> Self {
        DEPTH.with(|d| d.set(d.get() + 1));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `future` to completion on the calling thread and returns its output.
///
/// The thread parks while the future waits — for a timer ([`Sleep`], the timers of
/// [`BlockingRuntime`](super::BlockingRuntime)) or for a wake-up from another thread (a
/// channel, a lock-free slot, a single-flight leader). Calls nest: a future may call
/// `block_on` from inside its `poll` (the blocking transport does, to wait for a slot).
///
/// Do not call it on a thread of an async runtime: it blocks that thread.
///
/// ```
/// use std::time::Duration;
/// use tether_native::blocking::{Sleep, block_on};
///
/// let answer = block_on(async {
///     Sleep::new(Duration::from_millis(5)).await;
///     42
/// });
/// assert_eq!(answer, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    THREAD_WAKER.with(|waker| {
        run(future, waker, |deadline| {
            // The thread-local waker unparks this thread.
            ThreadPark(thread::current()).park(deadline);
        })
    })
}

/// [`block_on`] with a custom way of waiting: `parker` parks and unparks the thread instead of
/// std's thread parking. Timers of [`Sleep`] still work: their next deadline is handed to
/// [`Park::park`].
pub fn block_on_with<F: Future, P: Park>(future: F, parker: P) -> F::Output {
    let parker = Arc::new(Unparker(parker));
    let waker = Waker::from(Arc::clone(&parker));
    run(future, &waker, |deadline| parker.0.park(deadline))
}

fn run<F: Future>(future: F, waker: &Waker, park: impl Fn(Option<Instant>)) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(waker);
    let _running = Running::enter();
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let (fired, next) = fire_due_timers();
        if !fired {
            park(next);
        }
    }
}

/// Whether the calling thread is inside [`block_on`] or [`block_on_with`].
pub(crate) fn in_executor() -> bool {
    DEPTH.with(Cell::get) > 0
}

/// A timer for the blocking API: completes once its deadline has passed.
///
/// Polled inside [`block_on`], it registers with the thread's timers and the thread parks
/// until then (or until something else wakes it); polled anywhere else, it blocks the calling
/// thread until its deadline. Durations beyond [`NativeConfig::MAX_TIMEOUT`] (a year) are
/// treated as a year, so `Duration::MAX` never overflows.
#[derive(Debug)]
#[must_use = "a timer does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// `(deadline, id)` while registered with a thread's timers.
    timer: Option<(Instant, u64)>,
}

impl Sleep {
    /// A timer of `duration` from now.
    pub fn new(duration: Duration) -> Self {
        Self::until(clock::monotonic() + duration.min(NativeConfig::MAX_TIMEOUT))
    }

    /// A timer that completes at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Sleep {
            deadline,
            timer: None,
        }
    }

    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn unregister(&mut self) {
        if let Some(key) = self.timer.take() {
            // On another thread than it registered with, nothing matches: the stale entry
            // there wakes its thread once, harmlessly, when due.
            let _ = TIMERS.try_with(|t| t.borrow_mut().by_deadline.remove(&key));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = clock::monotonic();
        if now >= self.deadline {
            self.unregister();
            return Poll::Ready(());
        }
        if !in_executor() {
            thread::sleep(self.deadline - now);
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let key = *self
            .timer
            .get_or_insert_with(|| (deadline, NEXT_TIMER.fetch_add(1, Ordering::Relaxed)));
        TIMERS.with(|t| {
            let mut t = t.borrow_mut();
            match t.by_deadline.get_mut(&key) {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                Some(waker) => waker.clone_from(cx.waker()),
                None => {
                    t.by_deadline.insert(key, cx.waker().clone());
                }
            }
        });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests wake the executor from helper threads"
)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    use futures::channel::oneshot;
    use futures::future::{Either, select};
    use futures::stream::{FuturesUnordered, StreamExt as _};

    use super::*;

    #[test]
    fn a_ready_future_is_polled_once() {
        let polls = Cell::new(0);
        let out = block_on(std::future::poll_fn(|_| {
            polls.set(polls.get() + 1);
            Poll::Ready(7)
        }));
        assert_eq!((out, polls.get()), (7, 1));
    }

    #[test]
    fn sleeps_park_until_their_deadline() {
        let started = clock::monotonic();
        block_on(Sleep::new(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
        // Nothing is left behind.
        assert!(TIMERS.with(|t| t.borrow().by_deadline.is_empty()));
    }

    #[test]
    fn a_wake_from_another_thread_ends_the_wait_before_the_timer() {
        let (tx, rx) = oneshot::channel::<u32>();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(5).unwrap();
        });
        let started = clock::monotonic();
        let timer = Sleep::new(Duration::from_secs(30));
        let out = block_on(select(rx, timer));
        assert!(matches!(out, Either::Left((Ok(5), _))));
        assert!(started.elapsed() < Duration::from_secs(5));
        sender.join().unwrap();
        // The timer, returned unfinished by `select`, leaves the list when dropped.
        assert!(!TIMERS.with(|t| t.borrow().by_deadline.is_empty()));
        drop(out);
        assert!(TIMERS.with(|t| t.borrow().by_deadline.is_empty()));
    }

    #[test]
    fn timers_fire_for_futures_that_are_only_polled_when_woken() {
        // FuturesUnordered polls a child only after the child's own waker fired: the timer
        // must wake it by itself.
        let set = FuturesUnordered::new();
        for ms in [30_u64, 10, 20] {
            set.push(async move {
                Sleep::new(Duration::from_millis(ms)).await;
                ms
            });
        }
        let order: Vec<u64> = block_on(set.collect());
        assert_eq!(order, [10, 20, 30]);
    }

    #[test]
    fn calls_nest() {
        let out = block_on(async {
            let inner = block_on(async {
                Sleep::new(Duration::from_millis(5)).await;
                1
            });
            Sleep::new(Duration::from_millis(5)).await;
            inner + 1
        });
        assert_eq!(out, 2);
        assert!(!in_executor());
    }

    #[test]
    fn outside_an_executor_a_sleep_blocks_the_thread() {
        let started = clock::monotonic();
        let mut sleep = pin!(Sleep::new(Duration::from_millis(20)));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let sleep = Sleep::new(Duration::MAX);
        assert!(sleep.deadline() > clock::monotonic() + Duration::from_secs(300 * 86_400));
        // Raced against a ready future, it is simply dropped.
        let out = block_on(select(std::future::ready(3), sleep));
        assert!(matches!(out, Either::Left((3, _))));
    }

    #[test]
    fn a_custom_parker_is_used_for_every_wait() {
        struct Counting {
            parks: Arc<AtomicUsize>,
            thread: Thread,
        }
        impl Park for Counting {
            fn park(&self, deadline: Option<Instant>) {
                self.parks.fetch_add(1, Ordering::SeqCst);
                ThreadPark(self.thread.clone()).park(deadline);
            }
            fn unpark(&self) {
                self.thread.unpark();
            }
        }
        let parks = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<()>();
        let (wake_tx, wake_rx) = oneshot::channel::<()>();
        // The helper answers only once the executor has parked (otherwise the answer may be
        // there before the first poll, and nothing ever waits).
        let seen = Arc::clone(&parks);
        let helper = thread::spawn(move || {
            rx.recv().unwrap();
            while seen.load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
            wake_tx.send(()).unwrap();
        });
        let parker = Counting {
            parks: Arc::clone(&parks),
            thread: thread::current(),
        };
        block_on_with(
            async move {
                tx.send(()).unwrap();
                wake_rx.await.unwrap();
            },
            parker,
        );
        helper.join().unwrap();
        assert!(parks.load(Ordering::SeqCst) >= 1);
    }
}
