//! Circuit breaker: a pure state machine per upstream, plus a bounded registry of them.
//!
//! The design notes are on [`Breaker`].

mod classify;
mod config;
mod registry;
mod window;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use classify::{Classifier, StatusRange};
pub use config::{
    BreakDuration, BreakerConfig, BreakerWindow, MAX_COUNT_WINDOW, MAX_HALF_OPEN_PROBES,
    MAX_TIME_BUCKETS, RatioTrigger, SlowCall,
};
pub use registry::{BreakerRegistry, NamedBreakerEvent, RegistryConfig};
pub use window::WindowTotals;

use crate::{ConfigError, Outcome, Timestamp, WallClock};
use window::SlidingWindow;

/// The externally visible state of a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls flow; outcomes are counted.
    Closed,
    /// Calls are rejected until the break ends.
    Open,
    /// A bounded number of probe calls decide whether to close or re-open.
    HalfOpen,
    /// Forced open by [`Breaker::isolate`] until [`Breaker::reset`].
    Isolated,
    /// Forced closed by [`Breaker::disable`]: admits everything, records metrics only.
    Disabled,
}

impl BreakerState {
    /// Lower-case name as serialized: `closed`, `open`, `half_open`, `isolated`, `disabled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Isolated => "isolated",
            BreakerState::Disabled => "disabled",
        }
    }

    /// Whether the state admits ordinary (non-probe) calls.
    pub const fn admits_calls(self) -> bool {
        matches!(self, BreakerState::Closed | BreakerState::Disabled)
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a call ended, as far as the breaker is concerned (see [`Classifier`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallKind {
    /// The upstream is healthy for this call.
    Success,
    /// The upstream failed this call.
    Failure,
    /// Not classifiable (e.g. cancelled by the caller): releases a probe slot, counts for nothing.
    Ignored,
}

/// The result of a call admitted by a [`BreakerPermit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallResult {
    /// Success, failure or ignored.
    pub kind: CallKind,
    /// How long the call took (for slow-call detection).
    pub duration: Duration,
    /// Wall-clock time of the result, if the caller has it; recorded as
    /// [`BreakerSnapshot::last_failure_wall`] for failures.
    pub wall: Option<WallClock>,
}

impl CallResult {
    /// A result of `kind` that took `duration`.
    pub const fn new(kind: CallKind, duration: Duration) -> Self {
        CallResult {
            kind,
            duration,
            wall: None,
        }
    }

    /// A success that took `duration`.
    pub const fn success(duration: Duration) -> Self {
        CallResult::new(CallKind::Success, duration)
    }

    /// A failure that took `duration`.
    pub const fn failure(duration: Duration) -> Self {
        CallResult::new(CallKind::Failure, duration)
    }

    /// An ignored result (cancelled, unclassifiable); releases a probe slot.
    pub const fn ignored() -> Self {
        CallResult::new(CallKind::Ignored, Duration::ZERO)
    }

    /// The same result stamped with the wall-clock time it arrived.
    #[must_use]
    pub const fn with_wall(mut self, wall: WallClock) -> Self {
        self.wall = Some(wall);
        self
    }
}

/// Permission to make one call, returned by [`Breaker::try_acquire`].
///
/// Not `Clone`: it is consumed by [`Breaker::on_result`]. It records the breaker and generation
/// that admitted it (see the stale-result rule in the module docs) and, for a half-open probe,
/// the probe slot it holds.
#[must_use = "report the call's result with `on_result` (CallResult::ignored() to release a probe slot)"]
#[derive(Debug, PartialEq, Eq)]
pub struct BreakerPermit {
    breaker: u64,
    generation: u64,
    probe: Option<u32>,
}

impl BreakerPermit {
    /// Whether this permit is a half-open probe.
    pub const fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// The breaker generation that admitted the call.
    pub const fn generation(&self) -> u64 {
        self.generation
    }
}

/// The breaker refused a call. A decision, not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BreakerRejection {
    /// When to try again: the end of the break (Open), the earliest probe deadline (HalfOpen
    /// with every probe slot taken), or [`Timestamp::MAX`] (Isolated: until a manual reset).
    pub retry_at: Timestamp,
    /// The state that rejected the call.
    pub state: BreakerState,
}

/// Why a breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransitionReason {
    /// The consecutive-failure threshold was reached.
    ConsecutiveFailures,
    /// The failure ratio over the window reached its threshold.
    FailureRatio,
    /// The slow-call ratio over the window reached its threshold.
    SlowCallRatio,
    /// A half-open probe failed (or was slow with slow-call detection on).
    ProbeFailed,
    /// A half-open probe did not report within `probe_timeout`.
    ProbeTimeout,
    /// All half-open probes succeeded.
    ProbesSucceeded,
    /// The break duration elapsed.
    BreakElapsed,
    /// `isolate`, `reset`, `disable` or `enable`.
    Manual,
}

/// Something the breaker wants the outside world to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakerEvent {
    /// The state changed.
    StateChanged {
        /// Previous state.
        from: BreakerState,
        /// New state.
        to: BreakerState,
        /// When (the `now` of the input that caused it).
        at: Timestamp,
        /// Why.
        reason: TransitionReason,
    },
}

/// A point-in-time view of a breaker, for metrics, health and the Python `get_state()`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// Current state (serialized lower-case).
    pub state: BreakerState,
    /// Consecutive failures counted since the last success / close / reset.
    pub failure_count: u32,
    /// The consecutive-failure threshold, if that trigger is on.
    pub failure_threshold: Option<u32>,
    /// Totals of the ratio window (zero without a ratio trigger).
    pub window: WindowTotals,
    /// `failures / calls` over the window; `None` with no calls or no ratio trigger.
    pub failure_ratio: Option<f64>,
    /// `slow / calls` over the window; `None` with no calls or no ratio trigger.
    pub slow_call_ratio: Option<f64>,
    /// When the breaker last opened (or was isolated); `None` while Closed or Disabled.
    pub opened_at: Option<Timestamp>,
    /// When a call may next be admitted: the end of the break (Open), the earliest probe
    /// deadline (HalfOpen with every slot taken); `None` otherwise.
    pub next_attempt_at: Option<Timestamp>,
    /// Half-open probes in flight.
    pub half_open_in_flight: u32,
    /// Half-open probes that succeeded in the current episode.
    pub half_open_successes: u32,
    /// Consecutive openings since the last close (drives exponential break durations).
    pub consecutive_openings: u32,
    /// State changes since construction.
    pub transitions: u64,
    /// Calls rejected since construction.
    pub rejected: u64,
    /// Results ignored because their permit was from an earlier generation.
    pub stale_results: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Monotonic time of the last counted failure.
    pub last_failure_at: Option<Timestamp>,
    /// Wall-clock time of the last counted failure, when the caller supplied it.
    pub last_failure_wall: Option<WallClock>,
}

impl BreakerSnapshot {
    /// `last_failure_wall` as RFC 3339 UTC text (the Python layer reformats it as it needs).
    pub fn last_failure_rfc3339(&self) -> Option<String> {
        self.last_failure_wall.map(WallClock::to_rfc3339)
    }
}

/// Internal state, carrying its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Timestamp },
    HalfOpen { in_flight: u32, successes: u32 },
    Isolated,
    Disabled,
}

impl State {
    const fn public(self) -> BreakerState {
        match self {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
            State::Isolated => BreakerState::Isolated,
            State::Disabled => BreakerState::Disabled,
        }
    }
}

/// One circuit breaker. See the module docs for the state machine and its rules.
///
/// # Design
///
/// The breaker decides whether a call may go out ([`Breaker::try_acquire`]) and learns from how
/// it ended ([`Breaker::on_result`]). It owns no clock: every input takes `now`, and
/// [`Breaker::poll_timeout`] says when it next needs [`Breaker::handle_timeout`].
///
/// ```text
///                      consecutive failures >= threshold, or
///                      failure / slow-call ratio >= threshold
///                      (with >= min_throughput calls in the window)
///       +--------+  -------------------------------------------->  +-----------------+
///       | Closed |                                                 | Open { until }  |
///       +--------+  <--+                                           +-----------------+
///                      |                                              |          ^
///                      | all N probes succeeded                       | now >= until
///                      | (ProbesSucceeded)                            | (BreakElapsed,
///                      |                                              v  lazily)  |
///                  +-----------------------------------------------------+        |
///                  | HalfOpen { probes in flight, probe successes }      | -------+
///                  +-----------------------------------------------------+
///                     a probe failed or was slow (ProbeFailed), or
///                     a probe did not report within probe_timeout (ProbeTimeout)
///
///   Manual, from any state (reason Manual):
///     isolate(now) --> Isolated   rejects everything until reset
///     reset(now)   --> Closed     counts cleared
///     disable(now) --> Disabled   admits everything, records metrics, never trips
///     enable(now)  --> Closed     only from Disabled
/// ```
///
/// # Triggers
///
/// * **Consecutive failures** (the original's semantics): each failure adds one, any success
///   resets the count to zero, ignored calls change nothing. Default threshold 5.
/// * **Ratio over a sliding window** (Resilience4j / Polly semantics): a count window (last `n`
///   calls) or a time window (ring of buckets rotated by `now`); once the window holds at least
///   `min_throughput` calls, `failures / calls >= failure_ratio` trips it, and so does
///   `slow / calls >= slow_call.ratio` when slow-call detection is on. A call is slow when its
///   duration is strictly greater than `slow_call.duration`, whatever its outcome.
///
/// Both can be enabled at once; the first that fires gives the reason
/// (consecutive, then failure ratio, then slow-call ratio). With neither, the breaker only
/// opens manually.
///
/// # Open and half-open
///
/// The break lasts exactly the configured duration, in µs: the breaker moves to HalfOpen on the
/// first `try_acquire`/`handle_timeout` with `now >= opened_at + break` (the original compared
/// `timedelta.seconds > recovery_timeout`, which added up to a second and wrapped after a day).
/// [`BreakDuration::Exponential`] grows with consecutive openings and resets when it closes.
///
/// HalfOpen admits a probe only while `probes in flight + probe successes < half_open_probes`
/// (N). So at most N probes are ever in flight, every admitted probe can count, and the N-th
/// success closes the breaker (window and counts cleared). A probe that fails — or, with
/// slow-call detection on, is slow — re-opens it with the next break duration. A probe that does
/// not report within `probe_timeout` counts as failed: [`Breaker::poll_timeout`] reports its
/// deadline and [`Breaker::handle_timeout`] (or any later input) re-opens the breaker. A probe
/// reported as [`CallKind::Ignored`] (cancelled, unclassifiable) frees its slot and counts for
/// nothing, so a new probe can be admitted. Rejections carry `retry_at`: the end of the break
/// when Open, the earliest probe deadline when HalfOpen is full, [`Timestamp::MAX`] when Isolated.
///
/// # Permits and the stale-result rule
///
/// [`Breaker::try_acquire`] returns a [`BreakerPermit`], a single-use token that records the
/// breaker's *generation* (bumped on every state change and on every [`Breaker::reset`]) and,
/// for a probe, its probe slot. **A result counts only in the generation that admitted it.**
/// Results of permits from an earlier generation are *stale*: they change no count, no window
/// and no state, and are only tallied in [`BreakerSnapshot::stale_results`]. So a slow call
/// admitted while Closed that fails after the breaker opened cannot extend the break or fail a
/// probe, one that succeeds during HalfOpen cannot close it, and a probe whose deadline passed
/// cannot close a later half-open episode. (Resilience4j likewise keeps half-open accounting apart
/// from calls admitted earlier.) Permits also carry the breaker's identity (numbered by the
/// [`BreakerRegistry`]; standalone breakers from [`Breaker::new`] all have identity 0), so a
/// permit from a registry breaker that has since been evicted and re-created is stale too.
///
/// Dropping a permit without reporting is allowed but, for a probe, holds its slot until
/// `probe_timeout`; report [`CallResult::ignored`] to release it.
///
/// # Events
///
/// Every state change queues a [`BreakerEvent::StateChanged`]; drain them with
/// [`Breaker::poll_event`] after each input. The queue is bounded by `max_events`: when full the
/// oldest event is dropped and counted in [`BreakerSnapshot::events_dropped`].
///
/// # Cost
///
/// `try_acquire` in Closed (and Disabled) is a match and a struct copy: no allocation, no
/// lookup. Recording a result is O(1) (count window; time windows rotate O(buckets skipped)).
/// Memory per breaker: the config, N probe slots and the window ring (one byte per call for a
/// count window, 12 bytes per bucket for a time window), all allocated at construction; the
/// event queue grows on demand up to `max_events`.
#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    /// Cached from `config.ratio.slow_call`.
    slow_threshold: Option<Duration>,
    state: State,
    /// Identity for permits (0 for standalone breakers; the registry numbers its own).
    id: u64,
    generation: u64,
    failure_count: u32,
    window: Option<SlidingWindow>,
    openings: u32,
    opened_at: Option<Timestamp>,
    /// Deadline of each probe slot (`None` = free). Only meaningful in HalfOpen; reset on entry.
    probe_deadlines: Box<[Option<Timestamp>]>,
    /// Free probe slots (a stack); `len == N - in_flight` in HalfOpen.
    free_slots: Vec<u32>,
    transitions: u64,
    rejected: u64,
    stale_results: u64,
    last_failure_at: Option<Timestamp>,
    last_failure_wall: Option<WallClock>,
    events: VecDeque<BreakerEvent>,
    events_dropped: u64,
}

impl Breaker {
    /// A Closed breaker with `config` (validated).
    pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Breaker::from_valid(config, 0))
    }

    /// Builds from a configuration that has already been validated.
    fn from_valid(config: BreakerConfig, id: u64) -> Self {
        let n = config.half_open_probes.max(1);
        let slow_threshold = config
            .ratio
            .as_ref()
            .and_then(|r| r.slow_call)
            .map(|s| s.duration);
        let window = config.ratio.as_ref().map(|r| SlidingWindow::new(r.window));
        Breaker {
            slow_threshold,
            state: State::Closed,
            id,
            generation: 0,
            failure_count: 0,
            window,
            openings: 0,
            opened_at: None,
            probe_deadlines: vec![None; n as usize].into_boxed_slice(),
            free_slots: Vec::with_capacity(n as usize),
            transitions: 0,
            rejected: 0,
            stale_results: 0,
            last_failure_at: None,
            last_failure_wall: None,
            events: VecDeque::new(),
            events_dropped: 0,
            config,
        }
    }

    // ===== (A) getters =====

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state. Open is reported until an input at or after the end of the break
    /// moves it to HalfOpen (the transition is lazy).
    pub fn state(&self) -> BreakerState {
        self.state.public()
    }

    /// Consecutive failures counted.
    pub fn failure_count(&self) -> u32 {
        self.failure_count
    }

    /// Classifies an outcome with this breaker's [`Classifier`].
    pub fn classify(&self, outcome: &Outcome) -> CallKind {
        self.config.classifier.classify(outcome)
    }

    /// A snapshot; `now` is used to age a time window (nothing is mutated).
    pub fn snapshot(&self, now: Timestamp) -> BreakerSnapshot {
        let window = self
            .window
            .as_ref()
            .map(|w| w.totals_at(now))
            .unwrap_or_default();
        let (in_flight, successes) = match self.state {
            State::HalfOpen {
                in_flight,
                successes,
            } => (in_flight, successes),
            _ => (0, 0),
        };
        let next_attempt_at = match self.state {
            State::Open { until } => Some(until),
            State::HalfOpen {
                in_flight,
                successes,
            } if in_flight.saturating_add(successes) >= self.config.half_open_probes => {
                self.earliest_probe_deadline()
            }
            _ => None,
        };
        BreakerSnapshot {
            state: self.state.public(),
            failure_count: self.failure_count,
            failure_threshold: self.config.consecutive_failures,
            window,
            failure_ratio: window.failure_ratio(),
            slow_call_ratio: window.slow_ratio(),
            opened_at: self.opened_at,
            next_attempt_at,
            half_open_in_flight: in_flight,
            half_open_successes: successes,
            consecutive_openings: self.openings,
            transitions: self.transitions,
            rejected: self.rejected,
            stale_results: self.stale_results,
            events_dropped: self.events_dropped,
            last_failure_at: self.last_failure_at,
            last_failure_wall: self.last_failure_wall,
        }
    }

    // ===== (B) inputs =====

    /// Asks to make one call at `now`.
    ///
    /// Closed and Disabled admit at once (no allocation, no time check). Open past its break
    /// becomes HalfOpen first; HalfOpen admits a probe while a slot is free (see module docs).
    #[inline]
    pub fn try_acquire(&mut self, now: Timestamp) -> Result<BreakerPermit, BreakerRejection> {
        match self.state {
            State::Closed | State::Disabled => Ok(self.permit(None)),
            _ => self.try_acquire_slow(now),
        }
    }

    fn try_acquire_slow(&mut self, now: Timestamp) -> Result<BreakerPermit, BreakerRejection> {
        self.advance(now);
        match self.state {
            State::Closed | State::Disabled => Ok(self.permit(None)),
            State::Open { until } => Err(self.reject(until)),
            State::Isolated => Err(self.reject(Timestamp::MAX)),
            State::HalfOpen {
                in_flight,
                successes,
            } => {
                if in_flight.saturating_add(successes) < self.config.half_open_probes
                    && let Some(slot) = self.free_slots.pop()
                {
                    let deadline = now.saturating_add(self.config.probe_timeout);
                    self.probe_deadlines[slot as usize] = Some(deadline);
                    self.state = State::HalfOpen {
                        in_flight: in_flight + 1,
                        successes,
                    };
                    return Ok(self.permit(Some(slot)));
                }
                let retry_at = self.earliest_probe_deadline().unwrap_or(now);
                Err(self.reject(retry_at))
            }
        }
    }

    /// Reports how the call admitted by `permit` ended. Stale permits (from an earlier
    /// generation or another breaker) are tallied and otherwise ignored.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the permit is a single-use token: taking it by value consumes it"
    )]
    pub fn on_result(&mut self, now: Timestamp, permit: BreakerPermit, result: CallResult) {
        if permit.breaker != self.id {
            self.stale_results += 1;
            return;
        }
        if let Some(slot) = permit.probe {
            self.on_probe_result(now, permit.generation, slot, result);
            return;
        }
        if permit.generation != self.generation {
            self.stale_results += 1;
            return;
        }
        match self.state {
            State::Closed => self.record(now, result, true),
            State::Disabled => self.record(now, result, false),
            // A current-generation, non-probe permit can only come from Closed or Disabled.
            _ => self.stale_results += 1,
        }
    }

    /// Applies due deadlines: Open past its break → HalfOpen; a probe past its deadline →
    /// Open. Afterwards [`Breaker::poll_timeout`] is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.advance(now);
    }

    /// Forces the breaker open until [`Breaker::reset`]. No-op if already isolated.
    pub fn isolate(&mut self, now: Timestamp) {
        if self.state == State::Isolated {
            return;
        }
        let from = self.state.public();
        self.state = State::Isolated;
        self.opened_at = Some(now);
        self.transition(from, now, TransitionReason::Manual);
    }

    /// Closes the breaker and clears its counts, window and opening streak. Results of calls
    /// admitted before the reset are stale, even if it was already Closed (then no event).
    pub fn reset(&mut self, now: Timestamp) {
        let from = self.state.public();
        self.enter_closed();
        if from == BreakerState::Closed {
            self.generation = self.generation.wrapping_add(1);
        } else {
            self.transition(from, now, TransitionReason::Manual);
        }
    }

    /// Disables the breaker: it admits every call and records metrics (counts, window,
    /// last failure) but never trips. Counts start afresh. No-op if already disabled.
    pub fn disable(&mut self, now: Timestamp) {
        if self.state == State::Disabled {
            return;
        }
        let from = self.state.public();
        self.enter_closed();
        self.state = State::Disabled;
        self.transition(from, now, TransitionReason::Manual);
    }

    /// Re-enables a disabled breaker: Closed with fresh counts. No-op unless Disabled.
    pub fn enable(&mut self, now: Timestamp) {
        if self.state != State::Disabled {
            return;
        }
        self.enter_closed();
        self.transition(BreakerState::Disabled, now, TransitionReason::Manual);
    }

    // ===== (D) pollers =====

    /// The next state-change event, oldest first. New events appear only after an input
    /// (`try_acquire`, `on_result`, `handle_timeout`, or a manual verb).
    pub fn poll_event(&mut self) -> Option<BreakerEvent> {
        self.events.pop_front()
    }

    /// The next deadline: the end of the break (Open) or the earliest probe deadline
    /// (HalfOpen). Changes only after an input.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::Open { until } => Some(until),
            State::HalfOpen { .. } => self.earliest_probe_deadline(),
            _ => None,
        }
    }

    // ===== internals =====

    #[inline]
    fn permit(&self, probe: Option<u32>) -> BreakerPermit {
        BreakerPermit {
            breaker: self.id,
            generation: self.generation,
            probe,
        }
    }

    fn reject(&mut self, retry_at: Timestamp) -> BreakerRejection {
        self.rejected = self.rejected.saturating_add(1);
        BreakerRejection {
            retry_at,
            state: self.state.public(),
        }
    }

    fn earliest_probe_deadline(&self) -> Option<Timestamp> {
        self.probe_deadlines.iter().flatten().min().copied()
    }

    fn is_slow(&self, duration: Duration) -> bool {
        self.slow_threshold.is_some_and(|t| duration > t)
    }

    fn note_failure(&mut self, now: Timestamp, wall: Option<WallClock>) {
        self.failure_count = self.failure_count.saturating_add(1);
        self.last_failure_at = Some(now);
        if wall.is_some() {
            self.last_failure_wall = wall;
        }
    }

    /// Records a Closed / Disabled result; trips if `may_trip`.
    fn record(&mut self, now: Timestamp, result: CallResult, may_trip: bool) {
        let failure = match result.kind {
            CallKind::Success => false,
            CallKind::Failure => true,
            CallKind::Ignored => return,
        };
        let slow = self.is_slow(result.duration);
        if failure {
            self.note_failure(now, result.wall);
        } else {
            self.failure_count = 0;
        }
        if let Some(window) = &mut self.window {
            window.record(now, failure, slow);
        }
        if may_trip && let Some(reason) = self.trip_reason() {
            self.open(now, reason);
        }
    }

    fn trip_reason(&self) -> Option<TransitionReason> {
        if self
            .config
            .consecutive_failures
            .is_some_and(|t| self.failure_count >= t)
        {
            return Some(TransitionReason::ConsecutiveFailures);
        }
        let (Some(ratio), Some(window)) = (&self.config.ratio, &self.window) else {
            return None;
        };
        let totals = window.totals();
        if totals.calls == 0 || totals.calls < ratio.min_throughput {
            return None;
        }
        let calls = f64::from(totals.calls);
        if f64::from(totals.failures) / calls >= ratio.failure_ratio {
            return Some(TransitionReason::FailureRatio);
        }
        if ratio
            .slow_call
            .is_some_and(|s| f64::from(totals.slow) / calls >= s.ratio)
        {
            return Some(TransitionReason::SlowCallRatio);
        }
        None
    }

    fn on_probe_result(&mut self, now: Timestamp, generation: u64, slot: u32, result: CallResult) {
        // Apply due probe timeouts first, so a result arriving after its deadline (before the
        // driver called handle_timeout) is treated exactly as if handle_timeout had run.
        self.advance(now);
        if generation != self.generation {
            self.stale_results += 1;
            return;
        }
        let State::HalfOpen {
            in_flight,
            successes,
        } = self.state
        else {
            self.stale_results += 1;
            return;
        };
        // A current-generation probe permit always holds an occupied slot; be defensive anyway.
        let Some(deadline @ Some(_)) = self.probe_deadlines.get_mut(slot as usize) else {
            self.stale_results += 1;
            return;
        };
        *deadline = None;
        self.free_slots.push(slot);
        let in_flight = in_flight.saturating_sub(1);
        match result.kind {
            CallKind::Ignored => {
                self.state = State::HalfOpen {
                    in_flight,
                    successes,
                };
            }
            CallKind::Failure => {
                self.note_failure(now, result.wall);
                self.open(now, TransitionReason::ProbeFailed);
            }
            CallKind::Success if self.is_slow(result.duration) => {
                self.open(now, TransitionReason::ProbeFailed);
            }
            CallKind::Success => {
                let successes = successes + 1;
                if successes >= self.config.half_open_probes {
                    self.enter_closed();
                    self.transition(
                        BreakerState::HalfOpen,
                        now,
                        TransitionReason::ProbesSucceeded,
                    );
                } else {
                    self.state = State::HalfOpen {
                        in_flight,
                        successes,
                    };
                }
            }
        }
    }

    fn advance(&mut self, now: Timestamp) {
        if let State::Open { until } = self.state
            && now >= until
        {
            self.state = State::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
            self.probe_deadlines.fill(None);
            self.free_slots.clear();
            self.free_slots
                .extend((0..self.config.half_open_probes.max(1)).rev());
            self.transition(BreakerState::Open, now, TransitionReason::BreakElapsed);
        }
        if matches!(self.state, State::HalfOpen { .. })
            && self.earliest_probe_deadline().is_some_and(|d| d <= now)
        {
            self.open(now, TransitionReason::ProbeTimeout);
        }
    }

    fn open(&mut self, now: Timestamp, reason: TransitionReason) {
        let from = self.state.public();
        self.openings = self.openings.saturating_add(1);
        let until = now.saturating_add(self.config.break_duration.for_opening(self.openings));
        self.state = State::Open { until };
        self.opened_at = Some(now);
        self.transition(from, now, reason);
    }

    /// Closed with cleared counts, window and opening streak (no event, no generation bump).
    fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.failure_count = 0;
        self.openings = 0;
        self.opened_at = None;
        if let Some(window) = &mut self.window {
            window.clear();
        }
    }

    /// Bumps the generation and queues the event for a change from `from` to the current state.
    fn transition(&mut self, from: BreakerState, now: Timestamp, reason: TransitionReason) {
        self.generation = self.generation.wrapping_add(1);
        self.transitions = self.transitions.saturating_add(1);
        let event = BreakerEvent::StateChanged {
            from,
            to: self.state.public(),
            at: now,
            reason,
        };
        if self.config.max_events == 0 {
            self.events_dropped = self.events_dropped.saturating_add(1);
            return;
        }
        if self.events.len() >= self.config.max_events {
            self.events.pop_front();
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
        self.events.push_back(event);
    }
}
