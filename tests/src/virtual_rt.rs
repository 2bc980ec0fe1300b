//! A virtual runtime for the client layer ([`tether_core::client`]): a clock that only moves
//! when every task is blocked, jumping straight to the next timer, and a scripted transport
//! whose latency is a virtual sleep. A test of minutes of retries runs in microseconds.
//!
//! The clock and the transport may be shared between threads (the vector runner's blocking
//! driver runs each request on a thread of its own), but the transport's futures are not
//! `Send`: the client layer asks for `Send` nowhere.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt as _;
use tether_core::{Outcome, Request, Runtime, Spawn, Timestamp, Transport, WallClock};

use crate::wall_at;

#[derive(Default)]
struct ClockState {
    now: Timestamp,
    timers: BinaryHeap<Reverse<(Timestamp, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

/// The shared virtual clock.
#[derive(Clone, Default)]
pub struct VirtualClock(Arc<Mutex<ClockState>>);

impl VirtualClock {
    fn state(&self) -> MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Virtual now.
    pub fn now(&self) -> Timestamp {
        self.state().now
    }

    /// Jumps to the earliest timer and wakes every timer due by then. Returns `false` when
    /// no timer is pending.
    pub(crate) fn advance(&self) -> bool {
        let mut st = self.state();
        let Some(Reverse((at, _))) = st.timers.peek().copied() else {
            return false;
        };
        st.now = st.now.max(at);
        let now = st.now;
        while let Some(Reverse((t, id))) = st.timers.peek().copied() {
            if t > now {
                break;
            }
            st.timers.pop();
            if let Some(w) = st.wakers.remove(&id) {
                w.wake();
            }
        }
        true
    }

    /// A future that completes `d` after now (virtual).
    pub fn sleep(&self, d: Duration) -> Sleep {
        let deadline = self.now().saturating_add(d);
        Sleep {
            clock: self.clone(),
            deadline,
            id: None,
        }
    }
}

/// See [`VirtualClock::sleep`].
pub struct Sleep {
    clock: VirtualClock,
    deadline: Timestamp,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let clock = self.clock.clone();
        let mut st = clock.state();
        if st.now >= self.deadline {
            return Poll::Ready(());
        }
        let id = if let Some(id) = self.id {
            id
        } else {
            st.next_id += 1;
            let id = st.next_id;
            st.timers.push(Reverse((self.deadline, id)));
            self.id = Some(id);
            id
        };
        st.wakers.insert(id, cx.waker().clone());
        Poll::Pending
    }
}

/// [`Runtime`] over the virtual clock (wall clock = [`crate::WALL_ORIGIN`] + now). The engine
/// seed is 7 unless set with [`VirtualRuntime::with_seed`].
#[derive(Clone)]
pub struct VirtualRuntime {
    /// The clock.
    pub clock: VirtualClock,
    seed: u64,
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        VirtualRuntime::with_seed(7)
    }
}

impl VirtualRuntime {
    /// A runtime on a new clock whose [`Runtime::seed`] is `seed`.
    pub fn with_seed(seed: u64) -> Self {
        VirtualRuntime {
            clock: VirtualClock::default(),
            seed,
        }
    }
}

impl Runtime for VirtualRuntime {
    type Sleep = Sleep;

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn wall(&self) -> WallClock {
        wall_at(self.clock.now())
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.clock.sleep(duration)
    }

    fn seed(&self) -> u64 {
        self.seed
    }
}

/// Spawns nothing: a test drives background work itself (`client.run_background()` as one of
/// the tasks given to [`run_all`]), so that it decides when the driver runs and stops.
impl<F> Spawn<F> for VirtualRuntime {
    fn spawn(&self, _task: F) -> bool {
        false
    }
}

/// The upstream script of a [`ScriptedTransport`].
pub type Script = Arc<Mutex<dyn FnMut(&Request, Timestamp) -> (Duration, Outcome) + Send>>;

/// A transport whose answers come from a script, after a virtual latency. Records every send.
#[derive(Clone)]
pub struct ScriptedTransport {
    clock: VirtualClock,
    script: Script,
    sent: Arc<Mutex<Vec<(Timestamp, Request)>>>,
    limits: Arc<Mutex<Vec<Option<Duration>>>>,
}

impl ScriptedTransport {
    /// A transport on `clock` answering with `script`.
    pub fn new(
        clock: &VirtualClock,
        script: impl FnMut(&Request, Timestamp) -> (Duration, Outcome) + Send + 'static,
    ) -> Self {
        ScriptedTransport {
            clock: clock.clone(),
            script: Arc::new(Mutex::new(script)),
            sent: Arc::default(),
            limits: Arc::default(),
        }
    }

    /// Every request sent, with its virtual send time.
    pub fn sent(&self) -> MutexGuard<'_, Vec<(Timestamp, Request)>> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time limit each send was given, in order.
    pub fn limits(&self) -> MutexGuard<'_, Vec<Option<Duration>>> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of sends so far.
    pub fn sends(&self) -> usize {
        self.sent().len()
    }
}

impl Transport for ScriptedTransport {
    /// Not `Send`: the client layer never asks for it.
    type Send = Pin<Box<dyn Future<Output = Outcome>>>;

    fn send(&self, request: Request, timeout: Option<Duration>) -> Self::Send {
        let now = self.clock.now();
        let (latency, outcome) =
            (self.script.lock().unwrap_or_else(PoisonError::into_inner))(&request, now);
        self.sent().push((now, request));
        self.limits().push(timeout);
        let sleep = self.clock.sleep(latency);
        Box::pin(async move {
            sleep.await;
            outcome
        })
    }
}

/// Runs `tasks` to completion on a single-threaded executor, moving the virtual clock only
/// when all are blocked. Panics after `step_limit` clock jumps (a timer that never fires
/// what it should) or if tasks block with no timer pending (a lost wake-up).
pub fn run_all<T: 'static>(
    clock: &VirtualClock,
    tasks: Vec<Pin<Box<dyn Future<Output = T>>>>,
    step_limit: usize,
) -> Vec<T> {
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let results: Rc<RefCell<Vec<Option<T>>>> =
        Rc::new(RefCell::new((0..tasks.len()).map(|_| None).collect()));
    let n = tasks.len();
    for (i, t) in tasks.into_iter().enumerate() {
        let results = Rc::clone(&results);
        spawner
            .spawn_local(async move {
                let v = t.await;
                results.borrow_mut()[i] = Some(v);
            })
            .expect("local pool accepts tasks");
    }
    let mut steps = 0;
    loop {
        pool.run_until_stalled();
        if results.borrow().iter().all(Option::is_some) {
            break;
        }
        assert!(
            clock.advance(),
            "{} of {n} tasks blocked with no timer pending (lost wake-up)",
            results.borrow().iter().filter(|r| r.is_none()).count()
        );
        steps += 1;
        assert!(steps <= step_limit, "step limit {step_limit} exceeded");
    }
    let mut out = results.borrow_mut();
    out.iter_mut()
        .map(|r| r.take().expect("checked above"))
        .collect()
}
