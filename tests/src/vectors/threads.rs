//! The blocking driver ([`super::Driver::Threads`]): the vector's caller on this thread, every
//! request on an OS thread of its own, each run by the blocking API's executor
//! ([`tether_native::blocking::block_on_with`]) — the way a program shares one blocking client
//! between threads — with virtual time ([`crate::virtual_threads`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::thread::Scope;

use futures::channel::oneshot;
use futures::future::{join_all, select};
use tether_native::blocking::block_on_with;

use super::Location;
use super::adapter;
use super::check;
use super::model::Vector;
use super::run::{Marked, Record, STEP_LIMIT, State, World, step_wait};
use crate::virtual_threads::{Coordinator, Member};

/// Drives the steps; `true` when every step finished.
pub(super) fn drive(vector: &Vector, state: &Rc<State>, world: &World<'_>) -> bool {
    let coordinator = Coordinator::new(world.clock, STEP_LIMIT);
    let caller = coordinator.join();
    let finished = catch_unwind(AssertUnwindSafe(|| {
        std::thread::scope(|scope| script(scope, vector, state, world, &coordinator, &caller));
    }));
    drop(caller);
    match (finished, coordinator.stopped()) {
        (Ok(()), None) => true,
        (_, Some(why)) => {
            state
                .sink(Location::End)
                .push("run", "every request to finish", why);
            false
        }
        (Err(_), None) => {
            state.sink(Location::End).push(
                "run",
                "every request to finish",
                "a request thread panicked",
            );
            false
        }
    }
}

/// The caller: runs the steps in order, starting each request on a thread of its own.
fn script<'scope>(
    scope: &'scope Scope<'scope, '_>,
    vector: &Vector,
    state: &State,
    world: &World<'_>,
    coordinator: &std::sync::Arc<Coordinator>,
    caller: &Member,
) {
    let park = caller.park();
    let stop = vector.config.background.then(|| {
        let (stop, stopped) = oneshot::channel::<()>();
        let member = coordinator.join();
        let client = world.client.clone();
        scope.spawn(move || {
            let run = pin!(adapter::background(&client));
            let _ = block_on_with(select(run, stopped), member.park());
        });
        stop
    });
    let mut outstanding: Vec<oneshot::Receiver<(String, Record)>> = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        if let Some(wait) = step_wait(state, i, step, world.clock) {
            block_on_with(world.clock.sleep(wait), park.clone());
        }
        if let Some(d) = step.sleep_ms {
            block_on_with(world.clock.sleep(d.duration()), park.clone());
        }
        for s in &step.send {
            let request = s.to_request().expect("requests are checked before the run");
            let (id, service) = (s.id.clone(), s.service.clone());
            let (client, clock) = (world.client.clone(), world.clock.clone());
            let (begun, has_begun) = oneshot::channel::<()>();
            let (done, result) = oneshot::channel();
            // Counted as running from here: the clock waits for the thread's first poll.
            let member = coordinator.join();
            scope.spawn(move || {
                let send = adapter::send(&client, request, service.as_deref());
                let marked = Marked::new(send, move || {
                    let _ = begun.send(());
                });
                let observed = block_on_with(marked, member.park());
                let record = Record {
                    finished: clock.now(),
                    observed,
                };
                let _ = done.send((id, record));
            });
            // Each request begins (runs until it first waits) only after the one before it.
            let _ = block_on_with(has_begun, park.clone());
            outstanding.push(result);
        }
        if step.wait.unwrap_or(!step.send.is_empty()) {
            collect(state, outstanding.drain(..), &park);
        }
        if let Some(checks) = &step.check {
            // Work the step set off on other threads at this instant (a background refresh,
            // say) happens before the check, as on one executor.
            coordinator.quiesce();
            check::client(checks, world, &mut state.sink(Location::Step(i)));
        }
    }
    collect(state, outstanding, &park);
    drop(stop);
}

/// Waits for the requests of `results` and records them.
fn collect(
    state: &State,
    results: impl IntoIterator<Item = oneshot::Receiver<(String, Record)>>,
    park: &crate::virtual_threads::VirtualPark,
) {
    let finished = block_on_with(join_all(results), park.clone());
    let mut records = state.results.borrow_mut();
    for (id, record) in finished.into_iter().flatten() {
        records.insert(id, record);
    }
}
