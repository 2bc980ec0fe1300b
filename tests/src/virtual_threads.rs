//! Virtual time for OS threads: the blocking API's executor
//! ([`tether_native::blocking::block_on_with`]) on several threads, over the [`VirtualClock`],
//! with a [`Park`] that moves the clock only when **every** thread waits.
//!
//! Each participating thread [`join`](Coordinator::join)s the coordinator and runs its futures
//! with its [`VirtualPark`]. Waking a thread (any waker made by the executor for it) counts it
//! as running again *before* the waker returns, so the clock can never move between a wake-up
//! and the woken thread's next poll. When the last running thread parks, it advances the clock
//! to the next timer, which wakes the threads whose timers are due. A thread that leaves
//! ([`Member`] dropped) stops counting.
//!
//! If every thread waits and no timer is pending (a lost wake-up), or the clock jumps more than
//! the step limit, the run is over: every parked thread panics with the reason, which the
//! caller reports.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tether_native::blocking::Park;

use crate::virtual_rt::VirtualClock;

/// Coordinates the threads of one run with one virtual clock.
pub struct Coordinator {
    clock: VirtualClock,
    step_limit: u64,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Threads that joined and have not left, and are not parked.
    running: usize,
    threads: Vec<Slot>,
    /// A thread is advancing the clock (without the lock).
    advancing: bool,
    jumps: u64,
    /// Why the run was stopped.
    stopped: Option<String>,
}

#[derive(Default)]
struct Slot {
    parked: bool,
    /// Woken while not parked: the next park returns at once.
    notified: bool,
    left: bool,
}

impl Coordinator {
    /// A coordinator for `clock`, stopping the run after `step_limit` clock jumps.
    pub fn new(clock: &VirtualClock, step_limit: u64) -> Arc<Self> {
        Arc::new(Coordinator {
            clock: clock.clone(),
            step_limit,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a thread (counted as running from now on). Call it before the thread starts,
    /// on the thread that starts it, so that the clock cannot move in between; hand the
    /// [`Member`] to the new thread.
    pub fn join(self: &Arc<Self>) -> Member {
        let mut st = self.lock();
        st.threads.push(Slot::default());
        st.running += 1;
        Member {
            park: VirtualPark {
                coordinator: Arc::clone(self),
                id: st.threads.len() - 1,
            },
        }
    }

    /// Blocks the calling thread — a member that is running — until every other member is
    /// parked or has left (or the run is stopped): whatever the other threads can do at this
    /// instant of virtual time is done. The clock does not move meanwhile, since the caller
    /// counts as running. A check of the client made after it sees the same state whichever
    /// way the OS scheduled the threads.
    pub fn quiesce(&self) {
        let mut st = self.lock();
        while st.running > 1 && st.stopped.is_none() {
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Why the run was stopped, if it was.
    pub fn stopped(&self) -> Option<String> {
        self.lock().stopped.clone()
    }

    /// Advances the clock while every thread is parked (the caller holds the lock).
    fn settle<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        while st.running == 0
            && !st.advancing
            && st.stopped.is_none()
            && st.threads.iter().any(|t| t.parked && !t.left)
        {
            st.jumps += 1;
            if st.jumps > self.step_limit {
                st.stopped = Some(format!("more than {} clock jumps", self.step_limit));
                break;
            }
            st.advancing = true;
            drop(st);
            // Wakes the due timers' threads, which count themselves as running again.
            let advanced = self.clock.advance();
            st = self.lock();
            st.advancing = false;
            if !advanced && st.running == 0 {
                st.stopped = Some("every thread waits and no timer is pending".into());
            }
        }
        self.changed.notify_all();
        st
    }
}

/// A thread's membership: its [`Park`], and its departure when dropped.
pub struct Member {
    park: VirtualPark,
}

impl Member {
    /// The parker to run this thread's futures with.
    pub fn park(&self) -> VirtualPark {
        self.park.clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let coordinator = &self.park.coordinator;
        let mut st = coordinator.lock();
        let slot = &mut st.threads[self.park.id];
        if !slot.left {
            slot.left = true;
            if !slot.parked {
                st.running -= 1;
            }
        }
        drop(coordinator.settle(st));
    }
}

/// How one thread of a [`Coordinator`] waits.
#[derive(Clone)]
pub struct VirtualPark {
    coordinator: Arc<Coordinator>,
    id: usize,
}

impl Park for VirtualPark {
    fn park(&self, _deadline: Option<Instant>) {
        // No real deadline: the futures' timers are the virtual clock's.
        let coordinator = &self.coordinator;
        let mut st = coordinator.lock();
        if std::mem::take(&mut st.threads[self.id].notified) {
            return;
        }
        st.threads[self.id].parked = true;
        st.running -= 1;
        st = coordinator.settle(st);
        loop {
            if !st.threads[self.id].parked {
                return;
            }
            if let Some(why) = st.stopped.clone() {
                st.threads[self.id].parked = false;
                st.running += 1;
                drop(st);
                panic!("the virtual run stopped: {why}");
            }
            st = coordinator
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn unpark(&self) {
        let coordinator = &self.coordinator;
        let mut st = coordinator.lock();
        let slot = &mut st.threads[self.id];
        if slot.left {
            return;
        }
        if slot.parked {
            slot.parked = false;
            st.running += 1;
            coordinator.changed.notify_all();
        } else {
            slot.notified = true;
        }
    }
}
