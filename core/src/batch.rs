//! Batching: group items into size- and time-bounded batches, and bound how many batches run at
//! once. The core says *when* a batch is ready; the frontend runs its items (in parallel) and
//! reports back.
//!
//! The design notes are on [`Batcher`].

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Timestamp};

/// Batching limits. Deserializes with defaults for missing fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Most items in one batch; `>= 1`. Default 10 (the original's `max_batch_size`).
    pub max_batch_size: usize,
    /// Longest an item waits for a batch to fill. Default 100 ms (the original's
    /// `max_wait_time`, with gathering-window semantics).
    pub max_wait: Duration,
    /// Most batches cut but not finished at once; `>= 1`. Default 4.
    pub max_in_flight_batches: usize,
    /// Most items waiting to be batched; `>= 1`. Default 10 000.
    pub max_queued_items: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch_size: 10,
            max_wait: Duration::from_millis(100),
            max_in_flight_batches: 4,
            max_queued_items: 10_000,
        }
    }
}

impl BatchConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_batch_size == 0 {
            return Err(ConfigError::invalid("batch.max_batch_size", "must be >= 1"));
        }
        if self.max_in_flight_batches == 0 {
            return Err(ConfigError::invalid(
                "batch.max_in_flight_batches",
                "must be >= 1",
            ));
        }
        if self.max_queued_items == 0 {
            return Err(ConfigError::invalid(
                "batch.max_queued_items",
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

/// Identifies an item: sequential from 0 in push order (rejected pushes take no id).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ItemId(pub u64);

/// Identifies a batch: sequential from 0 in cut order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct BatchId(pub u64);

/// Why a batch was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BatchTrigger {
    /// `max_batch_size` items were waiting.
    Size,
    /// The oldest item had waited `max_wait`.
    Time,
    /// [`Batcher::flush`] was called.
    Flush,
}

/// A batch to run: its items in input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<T> {
    /// Report completion with this id.
    pub id: BatchId,
    /// The items, in input order.
    pub items: Vec<(ItemId, T)>,
    /// Why it was cut.
    pub trigger: BatchTrigger,
}

/// A push that was refused; the item is handed back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError<T> {
    /// `max_queued_items` items are already waiting.
    QueueFull(T),
}

impl<T> BatchError<T> {
    /// The refused item.
    pub fn into_inner(self) -> T {
        match self {
            BatchError::QueueFull(item) => item,
        }
    }
}

impl<T> std::fmt::Display for BatchError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::QueueFull(_) => f.write_str("batch queue is full"),
        }
    }
}

impl<T: std::fmt::Debug> std::error::Error for BatchError<T> {}

/// Counters and gauges of a [`Batcher`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatcherSnapshot {
    /// Items waiting to be batched.
    pub queued: usize,
    /// Batches cut but not yet taken by `poll_batch`.
    pub ready: usize,
    /// Batches taken and not finished.
    pub in_flight: usize,
    /// Items accepted since creation.
    pub pushed: u64,
    /// Pushes refused with `QueueFull`.
    pub rejected: u64,
    /// Batches cut since creation.
    pub batches_cut: u64,
    /// Batches finished since creation.
    pub batches_done: u64,
}

#[derive(Debug)]
struct Queued<T> {
    id: u64,
    item: T,
    at: Timestamp,
}

#[derive(Debug)]
struct InFlight {
    id: BatchId,
    first: u64,
    done: Vec<bool>,
    remaining: usize,
}

/// The batching state machine. See the module docs.
///
/// # Design
///
/// Semantics:
/// * A batch is cut when the queue holds `max_batch_size` items (**size**), when the oldest
///   queued item has waited `max_wait` (**time**), or for every item queued before a
///   [`Batcher::flush`] (**flush**) — and only while fewer than `max_in_flight_batches` batches
///   are cut but unfinished. Batches take items from the front of the queue, so each batch is a
///   contiguous run of items in input order, and batches come out in input order.
/// * While all slots are taken, items keep queuing (up to `max_queued_items`, after which
///   [`Batcher::push`] hands the item back in [`BatchError::QueueFull`]); when a slot frees, the
///   next batch is cut with as many items as are then waiting (up to `max_batch_size`).
/// * A slot frees when the frontend reports the batch finished ([`Batcher::on_batch_done`]) or
///   every item of it finished ([`Batcher::on_item_done`]).
/// * Results in input order: the frontend either keeps one channel/future per [`ItemId`] (the
///   original's `add_request` futures, gathered in order), or feeds results into an
///   [`OrderedResults`], which releases them strictly in input order.
///
/// Difference from the original `RequestBatcher`: there, `max_wait_time` was a pause *between*
/// batches, and because its "processing" flag was set only inside the task it started, the usual
/// loop of adds started one processor per job, so every job ran at once. Here `max_wait` is the
/// longest an item waits for companions, and the in-flight bound really bounds concurrency.
///
/// ```text
///  push ─► Queued ── size | max_wait | flush, and a free slot ──► Ready ── poll_batch ──► InFlight
///            │        (cut in input order, ≤ max_batch_size)                               │
///            └─ queue full: Err(QueueFull(item))        slot freed ◄── on_batch_done / last on_item_done
/// ```
///
/// Timers: [`Batcher::poll_timeout`] is the moment the oldest queued item becomes due, or `None`
/// when nothing is queued or every slot is taken (then only an `on_*` input can make progress).
/// Every input, [`Batcher::handle_timeout`] included, cuts all batches that are due and have a
/// slot, so afterwards the reported deadline is always later than the latest `now`.
#[derive(Debug)]
pub struct Batcher<T> {
    config: BatchConfig,
    queue: VecDeque<Queued<T>>,
    ready: VecDeque<(Batch<T>, u64)>,
    in_flight: Vec<InFlight>,
    next_item: u64,
    next_batch: u64,
    /// Items with an id below this were queued before a `flush` and are due now.
    flush_before: u64,
    last_now: Timestamp,
    pushed: u64,
    rejected: u64,
    batches_done: u64,
}

impl<T> Batcher<T> {
    /// An empty batcher.
    pub fn new(config: BatchConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Batcher {
            config,
            queue: VecDeque::new(),
            ready: VecDeque::new(),
            in_flight: Vec::new(),
            next_item: 0,
            next_batch: 0,
            flush_before: 0,
            last_now: Timestamp::ZERO,
            pushed: 0,
            rejected: 0,
            batches_done: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Queues `item`; it is batched by size, time or flush.
    pub fn push(&mut self, now: Timestamp, item: T) -> Result<ItemId, BatchError<T>> {
        let now = self.clock(now);
        if self.queue.len() >= self.config.max_queued_items {
            self.rejected += 1;
            return Err(BatchError::QueueFull(item));
        }
        let id = self.next_item;
        self.next_item += 1;
        self.pushed += 1;
        self.queue.push_back(Queued { id, item, at: now });
        self.advance(now);
        Ok(ItemId(id))
    }

    /// The next batch to run, if one is ready (it then counts as in flight until finished).
    pub fn poll_batch(&mut self, now: Timestamp) -> Option<Batch<T>> {
        let now = self.clock(now);
        self.advance(now);
        let (batch, first) = self.ready.pop_front()?;
        let len = batch.items.len();
        self.in_flight.push(InFlight {
            id: batch.id,
            first,
            done: vec![false; len],
            remaining: len,
        });
        Some(batch)
    }

    /// Marks a whole batch finished, freeing its slot. `false` if it was not in flight.
    pub fn on_batch_done(&mut self, now: Timestamp, id: BatchId) -> bool {
        let now = self.clock(now);
        let Some(pos) = self.in_flight.iter().position(|b| b.id == id) else {
            return false;
        };
        self.in_flight.swap_remove(pos);
        self.batches_done += 1;
        self.advance(now);
        true
    }

    /// Marks one item finished; the batch's slot frees when its last item finishes. `false` if
    /// the item is not in a batch in flight, or was already marked.
    pub fn on_item_done(&mut self, now: Timestamp, item: ItemId) -> bool {
        let now = self.clock(now);
        let Some(pos) = self
            .in_flight
            .iter()
            .position(|b| item.0 >= b.first && item.0 - b.first < b.done.len() as u64)
        else {
            return false;
        };
        let b = &mut self.in_flight[pos];
        let slot = &mut b.done[(item.0 - b.first) as usize];
        if *slot {
            return false;
        }
        *slot = true;
        b.remaining -= 1;
        if b.remaining == 0 {
            self.in_flight.swap_remove(pos);
            self.batches_done += 1;
            self.advance(now);
        }
        true
    }

    /// Makes every item queued so far due now (they are cut as slots allow).
    pub fn flush(&mut self, now: Timestamp) {
        let now = self.clock(now);
        self.flush_before = self.next_item;
        self.advance(now);
    }

    /// When the oldest queued item becomes due, or `None` if nothing is queued or every slot is
    /// taken. Always later than the latest `now` seen.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.slots_taken() >= self.config.max_in_flight_batches {
            return None;
        }
        self.queue
            .front()
            .map(|q| q.at.saturating_add(self.config.max_wait))
    }

    /// Cuts every batch that is due at `now` and has a slot.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.clock(now);
        self.advance(now);
    }

    /// `true` when nothing is queued, ready or in flight.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.ready.is_empty() && self.in_flight.is_empty()
    }

    /// Batches taken by `poll_batch` and not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Items waiting to be batched.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Counters and gauges.
    pub fn snapshot(&self) -> BatcherSnapshot {
        BatcherSnapshot {
            queued: self.queue.len(),
            ready: self.ready.len(),
            in_flight: self.in_flight.len(),
            pushed: self.pushed,
            rejected: self.rejected,
            batches_cut: self.next_batch,
            batches_done: self.batches_done,
        }
    }

    /// Time never goes backwards inside the batcher.
    fn clock(&mut self, now: Timestamp) -> Timestamp {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn slots_taken(&self) -> usize {
        self.ready.len() + self.in_flight.len()
    }

    /// Cuts due batches while slots are free.
    fn advance(&mut self, now: Timestamp) {
        while self.slots_taken() < self.config.max_in_flight_batches {
            let Some(front) = self.queue.front() else {
                break;
            };
            let trigger = if self.queue.len() >= self.config.max_batch_size {
                BatchTrigger::Size
            } else if front.id < self.flush_before {
                BatchTrigger::Flush
            } else if front.at.saturating_add(self.config.max_wait) <= now {
                BatchTrigger::Time
            } else {
                break;
            };
            let first = front.id;
            let n = self.queue.len().min(self.config.max_batch_size);
            let items = self
                .queue
                .drain(..n)
                .map(|q| (ItemId(q.id), q.item))
                .collect();
            let id = BatchId(self.next_batch);
            self.next_batch += 1;
            self.ready.push_back((Batch { id, items, trigger }, first));
        }
    }
}

/// Releases results strictly in input order ([`ItemId`] 0, 1, 2, …), however they complete.
///
/// Use with a [`Batcher`] whose items all get a result (errors included): an item that never
/// completes holds back every later one.
#[derive(Clone, Debug)]
pub struct OrderedResults<R> {
    next: u64,
    pending: BTreeMap<u64, R>,
}

impl<R> Default for OrderedResults<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> OrderedResults<R> {
    /// Expects item 0 first.
    pub fn new() -> Self {
        OrderedResults {
            next: 0,
            pending: BTreeMap::new(),
        }
    }

    /// Records `item`'s result. `false` (and the result is dropped) if that item was already
    /// completed or released.
    pub fn complete(&mut self, item: ItemId, result: R) -> bool {
        if item.0 < self.next || self.pending.contains_key(&item.0) {
            return false;
        }
        self.pending.insert(item.0, result);
        true
    }

    /// The next result in input order, if it has completed.
    pub fn poll_completed(&mut self) -> Option<(ItemId, R)> {
        let r = self.pending.remove(&self.next)?;
        let id = ItemId(self.next);
        self.next += 1;
        Some((id, r))
    }

    /// Results completed but held back behind an earlier, unfinished item.
    pub fn held(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Rng;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn cfg(size: usize, wait_ms: u64, in_flight: usize, queue: usize) -> BatchConfig {
        BatchConfig {
            max_batch_size: size,
            max_wait: Duration::from_millis(wait_ms),
            max_in_flight_batches: in_flight,
            max_queued_items: queue,
        }
    }

    fn ids<T>(b: &Batch<T>) -> Vec<u64> {
        b.items.iter().map(|(i, _)| i.0).collect()
    }

    #[test]
    fn size_trigger() {
        let mut b = Batcher::new(cfg(3, 100, 4, 100)).unwrap();
        for i in 0..2 {
            b.push(t(0), i).unwrap();
        }
        assert!(b.poll_batch(t(0)).is_none());
        assert_eq!(b.poll_timeout(), Some(t(100)));
        b.push(t(1), 2).unwrap();
        let batch = b.poll_batch(t(1)).unwrap();
        assert_eq!(batch.trigger, BatchTrigger::Size);
        assert_eq!(batch.id, BatchId(0));
        assert_eq!(
            batch.items,
            vec![(ItemId(0), 0), (ItemId(1), 1), (ItemId(2), 2)]
        );
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.in_flight(), 1);
    }

    #[test]
    fn time_trigger() {
        let mut b = Batcher::new(BatchConfig::default()).unwrap();
        b.push(t(0), "a").unwrap();
        b.push(t(40), "b").unwrap();
        assert_eq!(b.poll_timeout(), Some(t(100)));
        assert!(b.poll_batch(t(99)).is_none());
        b.handle_timeout(t(100));
        // After handle_timeout the deadline is cleared (the next item, pushed later, sets one).
        assert_eq!(b.poll_timeout(), None);
        b.push(t(101), "c").unwrap();
        assert_eq!(b.poll_timeout(), Some(t(201)));
        let batch = b.poll_batch(t(101)).unwrap();
        assert_eq!(batch.trigger, BatchTrigger::Time);
        assert_eq!(batch.items, vec![(ItemId(0), "a"), (ItemId(1), "b")]);
        assert!(b.poll_batch(t(101)).is_none());
    }

    #[test]
    fn flush_forces_everything_queued() {
        let mut b = Batcher::new(cfg(4, 1_000, 1, 100)).unwrap();
        for i in 0..6 {
            b.push(t(0), i).unwrap();
        }
        // Size trigger cut the first 4.
        let first = b.poll_batch(t(0)).unwrap();
        assert_eq!(ids(&first), vec![0, 1, 2, 3]);
        b.flush(t(1));
        // The slot is taken: the flushed items wait for it, with no timer.
        assert!(b.poll_batch(t(1)).is_none());
        assert_eq!(b.poll_timeout(), None);
        // Pushed after the flush: not flushed, waits with the flushed ones (same batch).
        b.push(t(2), 6).unwrap();
        assert!(b.on_batch_done(t(3), first.id));
        let second = b.poll_batch(t(3)).unwrap();
        assert_eq!(second.trigger, BatchTrigger::Flush);
        assert_eq!(ids(&second), vec![4, 5, 6]);
        assert_eq!((b.in_flight(), b.queued()), (1, 0));
        assert!(b.on_batch_done(t(4), second.id));
        assert!(b.is_idle());
    }

    #[test]
    fn in_flight_bound_35_items() {
        let mut b = Batcher::new(cfg(10, 100, 2, 1_000)).unwrap();
        for i in 0..35u32 {
            b.push(t(0), i).unwrap();
        }
        let mut out: Vec<Batch<u32>> = Vec::new();
        while let Some(batch) = b.poll_batch(t(0)) {
            out.push(batch);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(b.in_flight(), 2);
        assert_eq!(b.poll_timeout(), None, "no timer while every slot is taken");
        // Finish one item of batch 0: still in flight.
        assert!(b.on_item_done(t(5), ItemId(3)));
        assert!(
            !b.on_item_done(t(5), ItemId(3)),
            "double completion is refused"
        );
        assert!(b.poll_batch(t(5)).is_none());
        // Finish batch 1 wholesale: batch 2 (items 20..30) goes out.
        assert!(b.on_batch_done(t(10), out[1].id));
        let third = b.poll_batch(t(10)).unwrap();
        assert_eq!(ids(&third), (20..30).collect::<Vec<_>>());
        assert_eq!(b.in_flight(), 2);
        // Finish batch 0 item by item: the last 5 (not due yet, not full) wait for max_wait.
        for i in 0..10 {
            if i != 3 {
                assert!(b.on_item_done(t(20), ItemId(i)));
            }
        }
        assert_eq!(b.in_flight(), 1);
        assert!(b.poll_batch(t(20)).is_none());
        assert_eq!(b.poll_timeout(), Some(t(100)));
        let last = b.poll_batch(t(100)).unwrap();
        assert_eq!(last.trigger, BatchTrigger::Time);
        assert_eq!(ids(&last), (30..35).collect::<Vec<_>>());
        assert!(!b.on_batch_done(t(100), BatchId(99)));
        assert!(!b.on_item_done(t(100), ItemId(999)));
        assert_eq!(b.snapshot().batches_cut, 4);
        assert_eq!(b.snapshot().batches_done, 2);
    }

    #[test]
    fn queue_full_returns_the_item() {
        let mut b = Batcher::new(cfg(10, 100, 1, 2)).unwrap();
        assert_eq!(b.push(t(0), "a"), Ok(ItemId(0)));
        assert_eq!(b.push(t(0), "b"), Ok(ItemId(1)));
        let e = b.push(t(0), "c").unwrap_err();
        assert_eq!(e.to_string(), "batch queue is full");
        assert_eq!(e.into_inner(), "c");
        // Rejected pushes take no id.
        let batch = b.poll_batch(t(100)).unwrap();
        assert_eq!(batch.items.len(), 2);
        assert_eq!(b.push(t(100), "d"), Ok(ItemId(2)));
        let s = b.snapshot();
        assert_eq!((s.pushed, s.rejected, s.queued, s.in_flight), (3, 1, 1, 1));
    }

    #[test]
    fn time_going_backwards_is_clamped() {
        let mut b = Batcher::new(cfg(10, 100, 1, 100)).unwrap();
        b.push(t(500), 1).unwrap();
        b.push(t(10), 2).unwrap(); // treated as t(500)
        assert_eq!(b.poll_timeout(), Some(t(600)));
        assert!(b.poll_batch(t(0)).is_none());
        assert_eq!(b.poll_batch(t(600)).map(|x| x.items.len()), Some(2));
    }

    #[test]
    fn zero_wait_dispatches_at_once() {
        let mut b = Batcher::new(cfg(10, 0, 4, 100)).unwrap();
        b.push(t(7), 'x').unwrap();
        let batch = b.poll_batch(t(7)).unwrap();
        assert_eq!(batch.trigger, BatchTrigger::Time);
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn ordered_results_release_in_input_order() {
        let mut r = OrderedResults::new();
        assert!(r.complete(ItemId(2), "c"));
        assert!(r.complete(ItemId(1), "b"));
        assert_eq!(r.poll_completed(), None);
        assert_eq!(r.held(), 2);
        assert!(!r.complete(ItemId(1), "dup"));
        assert!(r.complete(ItemId(0), "a"));
        assert_eq!(r.poll_completed(), Some((ItemId(0), "a")));
        assert_eq!(r.poll_completed(), Some((ItemId(1), "b")));
        assert_eq!(r.poll_completed(), Some((ItemId(2), "c")));
        assert_eq!(r.poll_completed(), None);
        assert!(!r.complete(ItemId(0), "late"));
    }

    #[test]
    fn config_validation_and_serde() {
        assert!(BatchConfig::default().validate().is_ok());
        for bad in [cfg(0, 1, 1, 1), cfg(1, 1, 0, 1), cfg(1, 1, 1, 0)] {
            assert!(Batcher::<u8>::new(bad).is_err());
        }
        let c: BatchConfig = serde_json::from_str(r#"{"max_batch_size": 5}"#).unwrap();
        assert_eq!(c.max_batch_size, 5);
        assert_eq!(c.max_wait, Duration::from_millis(100));
        assert_eq!(
            serde_json::to_string(&BatchTrigger::Flush).unwrap(),
            r#""flush""#
        );
    }

    proptest! {
        /// A virtual-time simulation: random arrivals, random batch durations, items finished
        /// one by one in random order, results collected through `OrderedResults`.
        #[test]
        fn simulation_invariants(
            size in 1usize..8,
            wait_ms in 0u64..50,
            max_in_flight in 1usize..4,
            queue_cap in 1usize..40,
            gaps in proptest::collection::vec(0u64..30, 1..80),
            seed in any::<u64>(),
            flush_at in proptest::option::of(0usize..80),
        ) {
            let mut b = Batcher::new(cfg(size, wait_ms, max_in_flight, queue_cap)).unwrap();
            let mut rng = Rng::new(seed);
            let mut results = OrderedResults::new();
            // Arrival times.
            let mut arrivals = Vec::new();
            let mut at = 0u64;
            for g in &gaps {
                at += g;
                arrivals.push(at);
            }
            let mut next_arrival = 0usize;
            // (finish time, item) for items of batches in flight.
            let mut running: Vec<(u64, ItemId)> = Vec::new();
            let mut accepted: Vec<(ItemId, u64)> = Vec::new(); // (id, value pushed)
            let mut dispatched: Vec<u64> = Vec::new();
            let mut released: Vec<(ItemId, u64)> = Vec::new();
            let mut last = 0u64;
            for _ in 0..10_000 {
                // Next event: arrival, item completion or the batcher's timer.
                let mut next = u64::MAX;
                if let Some(&a) = arrivals.get(next_arrival) { next = next.min(a); }
                if let Some(&(f, _)) = running.iter().min() { next = next.min(f); }
                if let Some(d) = b.poll_timeout() {
                    next = next.min(d.as_millis());
                }
                if next == u64::MAX { break; }
                let now = next;
                prop_assert!(now >= last, "virtual time went backwards");
                last = now;
                let ts = t(now);
                while let Some(&a) = arrivals.get(next_arrival) {
                    if a != now { break; }
                    let value = next_arrival as u64;
                    match b.push(ts, value) {
                        Ok(id) => accepted.push((id, value)),
                        Err(e) => prop_assert_eq!(e.into_inner(), value),
                    }
                    if flush_at == Some(next_arrival) { b.flush(ts); }
                    next_arrival += 1;
                }
                running.sort_unstable();
                while let Some(&(f, id)) = running.first() {
                    if f != now { break; }
                    running.remove(0);
                    prop_assert!(b.on_item_done(ts, id));
                    // The result is the pushed value, so order can be checked end to end.
                    let value = accepted.iter().find(|(i, _)| *i == id).unwrap().1;
                    prop_assert!(results.complete(id, value));
                }
                b.handle_timeout(ts);
                while let Some(batch) = b.poll_batch(ts) {
                    prop_assert!(!batch.items.is_empty() && batch.items.len() <= size);
                    prop_assert!(b.in_flight() <= max_in_flight);
                    if batch.trigger == BatchTrigger::Time {
                        // Cut only once its oldest item was due.
                        let first = batch.items[0].1;
                        prop_assert!(arrivals[first as usize] + wait_ms <= now);
                    }
                    for (id, v) in batch.items {
                        dispatched.push(id.0);
                        prop_assert_eq!(accepted[id.0 as usize], (id, v));
                        running.push((now + 1 + rng.below(40), id));
                    }
                }
                // No deadline stuck in the past: the loop always moves forward.
                prop_assert!(b.poll_timeout().is_none_or(|d| d > ts), "stuck deadline at {now}");
                while let Some(r) = results.poll_completed() { released.push(r); }
            }
            // Everything accepted ran once, in input order, and came back in input order.
            prop_assert!(b.is_idle());
            let n = accepted.len() as u64;
            prop_assert_eq!(dispatched, (0..n).collect::<Vec<_>>());
            prop_assert_eq!(released, accepted);
        }
    }
}
