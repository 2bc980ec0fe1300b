//! [`RequestBatcher`]: runs jobs in size- and time-bounded batches with a bound on how many
//! batches run at once, over the core's [`Batcher`] state machine.
//!
//! The original `RequestBatcher` ran every job at once (one processor per job) and used
//! `max_wait_time` as a pause between batches. Here a job waits at most `max_wait` for
//! companions, a batch is cut at `max_batch_size` jobs, at most `max_in_flight_batches`
//! batches run at once (so at most `max_batch_size × max_in_flight_batches` jobs), and every
//! job's result comes back through its own handle — [`submit`](RequestBatcher::submit)
//! returns them in input order.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::FutureExt as _;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt as _};
use tether_core::{BatchConfig, Batcher, BatcherSnapshot, ItemId};
use tether_core::{ConfigError, Runtime as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::TokioRuntime;

/// Why a batched job produced no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// `max_queued_items` jobs were already waiting; the job was not run.
    #[error("the batch queue is full")]
    QueueFull,
    /// The batcher's driver stopped before the job ran (it was aborted, or its runtime shut
    /// down).
    #[error("the batcher is closed")]
    Closed,
    /// The job panicked.
    #[error("the batched job panicked")]
    Panicked,
}

trait ErasedJob: Send {
    fn run(self: Box<Self>) -> BoxFuture<'static, ()>;
    fn reject(self: Box<Self>, error: BatchError);
}

struct TypedJob<F, T> {
    make: F,
    tx: oneshot::Sender<Result<T, BatchError>>,
}

impl<F, Fut, T> ErasedJob for TypedJob<F, T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>) -> BoxFuture<'static, ()> {
        let TypedJob { make, tx } = *self;
        Box::pin(async move {
            let result = AssertUnwindSafe(async move { make().await })
                .catch_unwind()
                .await
                .map_err(|_| BatchError::Panicked);
            let _ = tx.send(result);
        })
    }

    fn reject(self: Box<Self>, error: BatchError) {
        let _ = self.tx.send(Err(error));
    }
}

enum Command {
    Push(Box<dyn ErasedJob>),
    Flush,
}

/// The result of one job added to a [`RequestBatcher`]: a future of `Result<T, BatchError>`.
#[must_use = "a job handle does nothing unless awaited"]
pub struct JobHandle<T> {
    rx: oneshot::Receiver<Result<T, BatchError>>,
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").finish_non_exhaustive()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, BatchError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx
            .poll_unpin(cx)
            .map(|r| r.unwrap_or(Err(BatchError::Closed)))
    }
}

/// Runs jobs (any `FnOnce() -> Future`) in bounded batches.
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_native::Error> {
/// use tether_core::BatchConfig;
/// use tether_native::{HttpClient, RequestBatcher};
///
/// let client = HttpClient::new()?;
/// let batcher = RequestBatcher::new(BatchConfig { max_batch_size: 5, ..BatchConfig::default() })?;
/// let jobs = (0..20).map(|i| {
///     let client = client.clone();
///     move || async move { client.get(format!("http://127.0.0.1:8080/get?i={i}")).send().await }
/// });
/// let results = batcher.submit(jobs).await; // in input order
/// assert_eq!(results.len(), 20);
/// # Ok(()) }
/// ```
pub struct RequestBatcher {
    tx: mpsc::UnboundedSender<Command>,
    task: Mutex<Option<JoinHandle<()>>>,
    config: BatchConfig,
    stats: Arc<Mutex<BatcherSnapshot>>,
}

impl fmt::Debug for RequestBatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBatcher")
            .field("config", &self.config)
            .field("stats", &self.snapshot())
            .finish_non_exhaustive()
    }
}

impl RequestBatcher {
    /// A batcher with `config`, driven by a task on the current tokio runtime (so it must be
    /// created inside one).
    pub fn new(config: BatchConfig) -> Result<Self, crate::Error> {
        let batcher = Batcher::new(config.clone())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(BatcherSnapshot::default()));
        let task = crate::task::spawn(drive(rx, batcher, TokioRuntime::new(), Arc::clone(&stats)))
            .ok_or_else(|| {
                ConfigError::invalid(
                    "runtime",
                    "a RequestBatcher must be created inside a tokio runtime",
                )
            })?;
        Ok(RequestBatcher {
            tx,
            task: Mutex::new(Some(task)),
            config,
            stats,
        })
    }

    /// The original's constructor: `max_batch_size` jobs per batch, `max_wait` for
    /// companions, and the default bound of 4 batches at once.
    pub fn with_limits(
        max_batch_size: usize,
        max_wait: std::time::Duration,
    ) -> Result<Self, crate::Error> {
        Self::new(BatchConfig {
            max_batch_size,
            max_wait,
            ..BatchConfig::default()
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Queues a job: `make` is called when its batch starts, and the handle resolves to its
    /// output.
    pub fn add<F, Fut, T>(&self, make: F) -> JobHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Box<dyn ErasedJob> = Box::new(TypedJob { make, tx });
        if let Err(mpsc::error::SendError(Command::Push(job))) = self.tx.send(Command::Push(job)) {
            job.reject(BatchError::Closed);
        }
        JobHandle { rx }
    }

    /// Queues every job, flushes, and returns their results in input order.
    pub async fn submit<I, F, Fut, T>(&self, jobs: I) -> Vec<Result<T, BatchError>>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handles: Vec<JobHandle<T>> = jobs.into_iter().map(|j| self.add(j)).collect();
        self.flush();
        futures::future::join_all(handles).await
    }

    /// Makes every job queued so far due now (they still wait for a free batch slot).
    pub fn flush(&self) {
        let _ = self.tx.send(Command::Flush);
    }

    /// Counters and gauges, as of the driver's last step.
    pub fn snapshot(&self) -> BatcherSnapshot {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Flushes, lets every queued job run to completion, and stops the driver.
    pub async fn close(self) {
        self.flush();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(self);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for RequestBatcher {
    fn drop(&mut self) {
        // Queued jobs run at once rather than after `max_wait`; the driver stops when they
        // are done (its channel closes with this sender).
        let _ = self.tx.send(Command::Flush);
    }
}

async fn drive(
    mut rx: mpsc::UnboundedReceiver<Command>,
    mut batcher: Batcher<Box<dyn ErasedJob>>,
    runtime: TokioRuntime,
    stats: Arc<Mutex<BatcherSnapshot>>,
) {
    let mut running: FuturesUnordered<BoxFuture<'static, ItemId>> = FuturesUnordered::new();
    let mut open = true;
    loop {
        let now = runtime.now();
        while let Some(batch) = batcher.poll_batch(now) {
            for (id, job) in batch.items {
                let run = job.run();
                running.push(Box::pin(async move {
                    run.await;
                    id
                }));
            }
        }
        *stats.lock().unwrap_or_else(PoisonError::into_inner) = batcher.snapshot();
        if !open && batcher.is_idle() && running.is_empty() {
            break;
        }
        let deadline = batcher.poll_timeout();
        let sleep = tokio::time::sleep(deadline.map_or(std::time::Duration::ZERO, |d| {
            d.saturating_duration_since(now)
        }));
        tokio::select! {
            command = rx.recv(), if open => match command {
                Some(Command::Push(job)) => {
                    if let Err(e) = batcher.push(runtime.now(), job) {
                        e.into_inner().reject(BatchError::QueueFull);
                    }
                }
                Some(Command::Flush) => batcher.flush(runtime.now()),
                None => {
                    open = false;
                    batcher.flush(runtime.now());
                }
            },
            Some(id) = running.next(), if !running.is_empty() => {
                batcher.on_item_done(runtime.now(), id);
            },
            () = sleep, if deadline.is_some() => batcher.handle_timeout(runtime.now()),
            else => break,
        }
    }
}
