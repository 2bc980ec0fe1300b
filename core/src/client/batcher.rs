//! [`RequestBatcher`]: runs jobs in size- and time-bounded batches with a bound on how many
//! batches run at once, over the core's [`Batcher`] state machine, on any runtime.
//!
//! A job waits at most `max_wait` for companions, a batch is cut at `max_batch_size` jobs, at
//! most `max_in_flight_batches` batches run at once (so at most `max_batch_size ×
//! max_in_flight_batches` jobs), and every job's result comes back through its own
//! [`JobHandle`]; [`submit`](RequestBatcher::submit) returns them in input order. (The
//! original ran every job at once and used `max_wait_time` as a pause between batches.)
//!
//! The scheduling runs in a [`BatchDriver`] future that the runtime spawns
//! ([`Spawn`](crate::Spawn)) or the caller drives ([`RequestBatcher::with_driver`]).

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::channel::{mpsc, oneshot};
use futures::future::{BoxFuture, LocalBoxFuture};
use futures::stream::FuturesUnordered;

use super::Error;
use crate::batch::{BatchConfig, Batcher, BatcherSnapshot, ItemId};
use crate::{ConfigError, Runtime, Spawn, Timestamp};

/// Why a batched job produced no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// `max_queued_items` jobs were already waiting; the job was not run.
    #[error("the batch queue is full")]
    QueueFull,
    /// The batcher's driver stopped before the job ran (it was dropped, or its runtime shut
    /// down).
    #[error("the batcher is closed")]
    Closed,
    /// The job panicked.
    #[error("the batched job panicked")]
    Panicked,
}

/// A queued job, type-erased: [`SendJob`] for multithreaded runtimes, [`LocalJob`] for one
/// thread.
pub trait Job: Sized {
    /// The future that runs the job and delivers its result.
    type Run: Future<Output = ()>;
    /// Starts the job.
    fn run(self) -> Self::Run;
    /// Delivers `error` instead of running the job.
    fn reject(self, error: JobError);
}

/// Turns a job closure into a queued [`Job`] of type `J`.
pub trait IntoJob<J> {
    /// What the job produces.
    type Output;
    /// Erases the closure; its result goes to `tx`.
    fn into_job(self, tx: oneshot::Sender<Result<Self::Output, JobError>>) -> J;
}

/// Runs `make()` and sends its output (or [`JobError::Panicked`]) to `tx`.
async fn run_job<Fut: Future>(
    make: impl FnOnce() -> Fut,
    tx: oneshot::Sender<Result<Fut::Output, JobError>>,
) {
    let result = AssertUnwindSafe(async move { make().await })
        .catch_unwind()
        .await
        .map_err(|_| JobError::Panicked);
    let _ = tx.send(result);
}

macro_rules! job_kind {
    ($(#[$doc:meta])* $name:ident, $erased:ident, $boxed:ident, $future:ident, [$($sup:tt)*], [$($bound:tt)*]) => {
        $(#[$doc])*
        pub struct $name(Box<dyn $erased>);

        trait $erased $($sup)* {
            fn run(self: Box<Self>) -> $future<'static, ()>;
            fn reject(self: Box<Self>, error: JobError);
        }

        impl<F, Fut> $erased for (F, oneshot::Sender<Result<Fut::Output, JobError>>)
        where
            F: FnOnce() -> Fut $($bound)* + 'static,
            Fut: Future $($bound)* + 'static,
            Fut::Output: 'static $($bound)*,
        {
            fn run(self: Box<Self>) -> $future<'static, ()> {
                let (make, tx) = *self;
                run_job(make, tx).$boxed()
            }

            fn reject(self: Box<Self>, error: JobError) {
                let _ = self.1.send(Err(error));
            }
        }

        impl Job for $name {
            type Run = $future<'static, ()>;

            fn run(self) -> Self::Run {
                self.0.run()
            }

            fn reject(self, error: JobError) {
                self.0.reject(error);
            }
        }

        impl<F, Fut> IntoJob<$name> for F
        where
            F: FnOnce() -> Fut $($bound)* + 'static,
            Fut: Future $($bound)* + 'static,
            Fut::Output: 'static $($bound)*,
        {
            type Output = Fut::Output;

            fn into_job(self, tx: oneshot::Sender<Result<Fut::Output, JobError>>) -> $name {
                $name(Box::new((self, tx)))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

job_kind!(
    /// A job whose closure, future and output are `Send` (multithreaded runtimes).
    SendJob, ErasedSend, boxed, BoxFuture, [: Send], [+ Send]
);
job_kind!(
    /// A job of any kind, run on one thread (the browser).
    LocalJob, ErasedLocal, boxed_local, LocalBoxFuture, [], []
);

enum Command<J> {
    Push(J),
    Flush,
}

/// The result of one job added to a [`RequestBatcher`]: a future of `Result<T, JobError>`.
#[must_use = "a job handle does nothing unless awaited"]
pub struct JobHandle<T> {
    rx: oneshot::Receiver<Result<T, JobError>>,
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").finish_non_exhaustive()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx
            .poll_unpin(cx)
            .map(|r| r.unwrap_or(Err(JobError::Closed)))
    }
}

/// Runs jobs — any `FnOnce() -> Future` — in bounded batches.
///
/// A job waits at most `max_wait` for companions, a batch is cut at `max_batch_size` jobs, at
/// most `max_in_flight_batches` batches run at once (so at most `max_batch_size ×
/// max_in_flight_batches` jobs), and every job's result comes back through its own
/// [`JobHandle`]; [`submit`](Self::submit) returns them in input order. The scheduling runs in a
/// [`BatchDriver`] the runtime spawns ([`new`](Self::new), [`with_runtime`](Self::with_runtime))
/// or the caller drives ([`with_driver`](Self::with_driver)).
///
/// `J` is how queued jobs are stored: [`SendJob`] (the default) for multithreaded runtimes,
/// [`LocalJob`] for one thread.
///
/// ```no_run
/// # async fn demo<R>(runtime: R) -> Result<(), tether_core::client::Error>
/// # where R: tether_core::Runtime + Clone
/// #     + tether_core::Spawn<tether_core::client::BatchDriver<R, tether_core::client::SendJob>>,
/// # {
/// use tether_core::BatchConfig;
/// use tether_core::client::RequestBatcher;
///
/// let batcher: RequestBatcher<R> = RequestBatcher::with_runtime(
///     BatchConfig { max_batch_size: 5, ..BatchConfig::default() },
///     runtime,
/// )?;
/// let jobs = (0..20).map(|i| move || async move { i * 2 });
/// let results = batcher.submit(jobs).await; // in input order
/// assert_eq!(results.len(), 20);
/// # Ok(()) }
/// ```
pub struct RequestBatcher<R, J = SendJob> {
    tx: mpsc::UnboundedSender<Command<J>>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
    config: BatchConfig,
    stats: Arc<Mutex<BatcherSnapshot>>,
    runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R, J> fmt::Debug for RequestBatcher<R, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBatcher")
            .field("config", &self.config)
            .field(
                "stats",
                &*self.stats.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Default + Clone + Spawn<BatchDriver<R, J>>, J: Job> RequestBatcher<R, J> {
    /// A batcher with `config`, its driver started on the default runtime's executor
    /// ([`Error::NoExecutor`] when there is none, e.g. outside a tokio runtime).
    pub fn new(config: BatchConfig) -> Result<Self, Error> {
        Self::with_runtime(config, R::default())
    }

    /// The original's constructor: `max_batch_size` jobs per batch, `max_wait` for
    /// companions, and the default bound of 4 batches at once.
    pub fn with_limits(
        max_batch_size: usize,
        max_wait: std::time::Duration,
    ) -> Result<Self, Error> {
        Self::new(BatchConfig {
            max_batch_size,
            max_wait,
            ..BatchConfig::default()
        })
    }
}

impl<R: Runtime, J: Job> RequestBatcher<R, J> {
    /// A batcher with `config`, its driver started on `runtime`'s executor.
    pub fn with_runtime(config: BatchConfig, runtime: R) -> Result<Self, Error>
    where
        R: Clone + Spawn<BatchDriver<R, J>>,
    {
        let spawner = runtime.clone();
        let (batcher, driver) = Self::with_driver(config, runtime)?;
        if spawner.spawn(driver) {
            Ok(batcher)
        } else {
            Err(Error::NoExecutor)
        }
    }

    /// A batcher with `config` and its driver, for the caller to run (poll it to completion
    /// beside the jobs; it ends when the batcher is dropped or closed and every job is done).
    pub fn with_driver(
        config: BatchConfig,
        runtime: R,
    ) -> Result<(Self, BatchDriver<R, J>), ConfigError> {
        let batcher = Batcher::new(config.clone())?;
        let (tx, rx) = mpsc::unbounded();
        let (done_tx, done_rx) = oneshot::channel();
        let stats = Arc::new(Mutex::new(BatcherSnapshot::default()));
        let driver = BatchDriver {
            rx,
            open: true,
            batcher,
            running: FuturesUnordered::new(),
            timer: None,
            runtime,
            stats: Arc::clone(&stats),
            _done: done_tx,
        };
        Ok((
            RequestBatcher {
                tx,
                done: Mutex::new(Some(done_rx)),
                config,
                stats,
                runtime: std::marker::PhantomData,
            },
            driver,
        ))
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Queues a job: `make` is called when its batch starts, and the handle resolves to its
    /// output.
    pub fn add<F: IntoJob<J>>(&self, make: F) -> JobHandle<F::Output> {
        let (tx, rx) = oneshot::channel();
        let job = make.into_job(tx);
        if let Err(e) = self.tx.unbounded_send(Command::Push(job))
            && let Command::Push(job) = e.into_inner()
        {
            job.reject(JobError::Closed);
        }
        JobHandle { rx }
    }

    /// Queues every job, flushes, and returns their results in input order.
    pub async fn submit<I>(&self, jobs: I) -> Vec<Result<<I::Item as IntoJob<J>>::Output, JobError>>
    where
        I: IntoIterator,
        I::Item: IntoJob<J>,
    {
        let handles: Vec<_> = jobs.into_iter().map(|j| self.add(j)).collect();
        self.flush();
        futures::future::join_all(handles).await
    }

    /// Makes every job queued so far due now (they still wait for a free batch slot).
    pub fn flush(&self) {
        let _ = self.tx.unbounded_send(Command::Flush);
    }

    /// Counters and gauges, as of the driver's last step.
    pub fn snapshot(&self) -> BatcherSnapshot {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Flushes, lets every queued job run to completion, and waits for the driver to stop.
    pub async fn close(self) {
        let done = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(self);
        if let Some(done) = done {
            // `Err(Canceled)` is the normal end: the driver dropped its sender.
            let _ = done.await;
        }
    }
}

impl<R, J> Drop for RequestBatcher<R, J> {
    fn drop(&mut self) {
        // Queued jobs run at once rather than after `max_wait`; the driver stops when they are
        // done (its channel closes with this sender).
        let _ = self.tx.unbounded_send(Command::Flush);
    }
}

/// Schedules a [`RequestBatcher`]'s jobs: cuts batches when they are full or due, runs them,
/// and ends once the batcher is gone and every job is done.
#[must_use = "a batch driver does nothing unless polled or spawned"]
pub struct BatchDriver<R: Runtime, J: Job> {
    rx: mpsc::UnboundedReceiver<Command<J>>,
    open: bool,
    batcher: Batcher<J>,
    running: FuturesUnordered<Tagged<J::Run>>,
    timer: Option<(Timestamp, Pin<Box<R::Sleep>>)>,
    runtime: R,
    stats: Arc<Mutex<BatcherSnapshot>>,
    /// Dropped when the driver ends, which wakes [`RequestBatcher::close`].
    _done: oneshot::Sender<()>,
}

impl<R: Runtime, J: Job> fmt::Debug for BatchDriver<R, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchDriver")
            .field("open", &self.open)
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

// The driver never pins its fields in place (running jobs are boxed), so it can be moved
// between polls whatever `R` and `J` are.
impl<R: Runtime, J: Job> Unpin for BatchDriver<R, J> {}

/// A running job with its item id.
struct Tagged<F> {
    id: ItemId,
    run: Pin<Box<F>>,
}

impl<F: Future<Output = ()>> Future for Tagged<F> {
    type Output = ItemId;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ItemId> {
        self.run.as_mut().poll(cx).map(|()| self.id)
    }
}

impl<R: Runtime, J: Job> Future for BatchDriver<R, J> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let now = this.runtime.now();
            while let Some(batch) = this.batcher.poll_batch(now) {
                for (id, job) in batch.items {
                    this.running.push(Tagged {
                        id,
                        run: Box::pin(job.run()),
                    });
                }
            }
            *this.stats.lock().unwrap_or_else(PoisonError::into_inner) = this.batcher.snapshot();
            if !this.open && this.batcher.is_idle() && this.running.is_empty() {
                return Poll::Ready(());
            }
            let mut busy = false;
            while this.open {
                match this.rx.poll_next_unpin(cx) {
                    Poll::Ready(Some(Command::Push(job))) => {
                        if let Err(e) = this.batcher.push(this.runtime.now(), job) {
                            e.into_inner().reject(JobError::QueueFull);
                        }
                    }
                    Poll::Ready(Some(Command::Flush)) => this.batcher.flush(this.runtime.now()),
                    Poll::Ready(None) => {
                        this.open = false;
                        this.batcher.flush(this.runtime.now());
                    }
                    Poll::Pending => break,
                }
                busy = true;
            }
            while let Poll::Ready(Some(id)) = this.running.poll_next_unpin(cx) {
                this.batcher.on_item_done(this.runtime.now(), id);
                busy = true;
            }
            match this.batcher.poll_timeout() {
                None => this.timer = None,
                Some(at) => {
                    if this.timer.as_ref().is_none_or(|(t, _)| *t != at) {
                        let wait = at.saturating_duration_since(this.runtime.now());
                        this.timer = Some((at, Box::pin(this.runtime.sleep(wait))));
                    }
                    let (_, sleep) = this.timer.as_mut().expect("armed above");
                    if sleep.as_mut().poll(cx).is_ready() {
                        this.timer = None;
                        this.batcher.handle_timeout(this.runtime.now());
                        busy = true;
                    }
                }
            }
            if !busy {
                return Poll::Pending;
            }
        }
    }
}
