//! [`Background`]: the client's long-lived work — stale-while-revalidate refreshes, active
//! health checks, engine timers — as one future a runtime runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::stream::FuturesUnordered;

use super::drive::{Shared, Timed, attempt_outcome, probe_request, probe_result};
use super::hooks::Hooks;
use crate::message::clone_request;
use crate::{BackgroundFetch, Engine, Outcome, Permit, Request, Runtime, Timestamp, Transport};

/// Work the engine asked for, queued for the background driver.
pub(crate) enum Work {
    /// A stale-while-revalidate refresh.
    Refresh(Box<BackgroundFetch>),
    /// A due health check of this service.
    Check(String),
}

/// The longest the driver sleeps without looking at the engine's timers.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// The most background requests (refreshes and health checks) in flight at once; more wait
/// in the queue.
const MAX_JOBS: usize = 16;

/// What a background request is for.
enum JobKind {
    Refresh {
        request: Box<Request>,
        permit: Permit,
    },
    Check {
        service: String,
    },
}

/// One background request in flight: the attempt raced against its time limit.
struct Job<A, S> {
    kind: Option<JobKind>,
    started: Timestamp,
    limit: Option<Duration>,
    race: Timed<Pin<Box<A>>, Pin<Box<S>>>,
}

impl<A: Future<Output = Outcome>, S: Future<Output = ()>> Future for Job<A, S> {
    type Output = (JobKind, Timestamp, Outcome);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.race).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(raced) => {
                let kind = this.kind.take().expect("a job completes once");
                Poll::Ready((kind, this.started, attempt_outcome(raced, this.limit)))
            }
        }
    }
}

/// The client's background driver: runs stale-while-revalidate refreshes and due health
/// checks (up to 16 at a time) and the engine's timers (breaker transitions, alert
/// evaluation), until the client is closed.
///
/// The client starts one through its runtime's [`Spawn`](crate::Spawn) when it is built and
/// whenever the previous one has ended (its runtime shut down). Without one, refreshes are
/// skipped (a stale entry simply expires) and health comes from traffic alone; a frontend
/// whose runtime cannot spawn may drive [`HttpClient::run_background`] itself.
///
/// At most one driver runs per client: a second one finishes at once. Dropping the driver
/// cancels its refreshes in the engine and lets a later driver take over.
///
/// [`HttpClient::run_background`]: crate::client::HttpClient::run_background
#[must_use = "a background driver does nothing unless polled or spawned"]
pub struct Background<T: Transport, R: Runtime, H: Hooks> {
    shared: Arc<Shared<T, R, H>>,
    /// Whether this driver holds the client's one driver slot.
    owner: bool,
    rx: Option<mpsc::UnboundedReceiver<Work>>,
    timer: Option<Pin<Box<R::Sleep>>>,
    /// Made on the first poll: a driver that a runtime refuses (a client without an
    /// executor builds one per request) allocates nothing.
    jobs: Option<FuturesUnordered<Job<T::Send, R::Sleep>>>,
}

impl<T: Transport, R: Runtime, H: Hooks> fmt::Debug for Background<T, R, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background")
            .field("owner", &self.owner)
            .field("jobs", &self.jobs.as_ref().map_or(0, FuturesUnordered::len))
            .finish_non_exhaustive()
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Background<T, R, H> {
    /// A driver for `shared`; it runs only if it wins the client's driver slot.
    pub(crate) fn new(shared: Arc<Shared<T, R, H>>) -> Self {
        let owner = shared
            .background
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        Background {
            shared,
            owner,
            rx: None,
            timer: None,
            jobs: None,
        }
    }

    /// Starts a background request.
    fn start(&mut self, work: Work) {
        let shared = &self.shared;
        let (kind, request, limit) = match work {
            Work::Refresh(fetch) => {
                let BackgroundFetch { request, permit } = *fetch;
                let mut copy = clone_request(&request);
                permit.apply(&mut copy);
                let limit = permit.timeout();
                (
                    JobKind::Refresh {
                        request: Box::new(request),
                        permit,
                    },
                    copy,
                    limit,
                )
            }
            Work::Check(service) => {
                let url = shared
                    .health_urls
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&service)
                    .cloned();
                let Some(request) = url.and_then(|u| probe_request(&u).ok()) else {
                    return;
                };
                let limit = shared.with_engine(|e, _, _| e.config().health.check_timeout);
                (JobKind::Check { service }, request, Some(limit))
            }
        };
        let send = Box::pin(shared.transport.send(request, limit));
        let timer = limit.map(|t| Box::pin(shared.runtime.sleep(t)));
        self.jobs
            .get_or_insert_with(FuturesUnordered::new)
            .push(Job {
                kind: Some(kind),
                started: shared.runtime.now(),
                limit,
                race: Timed::new(send, timer),
            });
    }

    /// Reports a finished background request to the engine.
    fn finish(&self, kind: JobKind, started: Timestamp, outcome: Outcome) {
        match kind {
            JobKind::Refresh { request, permit } => {
                let next = self.shared.with_engine(|e, now, wall| {
                    e.on_response(now, wall, permit, &request, outcome)
                });
                // A refresh answers nobody: its result only updates the cache.
                drop(next);
            }
            JobKind::Check { service } => {
                let latency = self.shared.runtime.now().saturating_duration_since(started);
                let (result, _) = probe_result(&outcome, latency);
                self.shared
                    .with_engine(|e, now, wall| e.on_check_result(now, wall, &service, result));
            }
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Future for Background<T, R, H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.owner {
            return Poll::Ready(());
        }
        if this.rx.is_none() {
            this.rx = this
                .shared
                .work_rx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if this.rx.is_none() {
                // Another driver still holds the queue (it is being dropped right now).
                return Poll::Ready(());
            }
        }
        this.shared.background_waker.register(cx.waker());
        loop {
            if this.shared.is_closed() {
                return Poll::Ready(());
            }
            let mut busy = false;
            while let Poll::Ready(Some((kind, started, outcome))) = this
                .jobs
                .get_or_insert_with(FuturesUnordered::new)
                .poll_next_unpin(cx)
            {
                this.finish(kind, started, outcome);
                busy = true;
            }
            while this.jobs.as_ref().map_or(0, FuturesUnordered::len) < MAX_JOBS {
                let rx = this.rx.as_mut().expect("taken above");
                match rx.poll_next_unpin(cx) {
                    Poll::Ready(Some(work)) => {
                        this.start(work);
                        busy = true;
                    }
                    // The client itself holds the sender: the queue never ends first.
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => break,
                }
            }
            let shared = &this.shared;
            let timer = this.timer.get_or_insert_with(|| {
                let now = shared.runtime.now();
                let wait = shared
                    .with_engine(|e, _, _| e.poll_timeout())
                    .map_or(MAX_IDLE, |d| d.saturating_duration_since(now).min(MAX_IDLE));
                Box::pin(shared.runtime.sleep(wait))
            });
            if timer.as_mut().poll(cx).is_ready() {
                this.timer = None;
                this.shared.with_engine(Engine::handle_timeout);
                busy = true;
            }
            if !busy {
                return Poll::Pending;
            }
        }
    }
}

impl<T: Transport, R: Runtime, H: Hooks> Drop for Background<T, R, H> {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let shared = &self.shared;
        if let Some(mut rx) = self.rx.take() {
            // Refreshes in flight or queued are given up in the engine (their cache flights
            // released), and the queue goes back for the next driver.
            let mut ids: Vec<_> = self
                .jobs
                .iter_mut()
                .flat_map(FuturesUnordered::iter_mut)
                .filter_map(|job| match &job.kind {
                    Some(JobKind::Refresh { permit, .. }) => Some(permit.id()),
                    _ => None,
                })
                .collect();
            while let Ok(work) = rx.try_recv() {
                if let Work::Refresh(b) = work {
                    ids.push(b.permit.id());
                }
            }
            *shared
                .work_rx
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(rx);
            if !ids.is_empty() {
                shared.cancel(&ids);
            }
        }
        shared.background.store(false, Ordering::Release);
    }
}
