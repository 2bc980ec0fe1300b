//! Routing a tracked request through the machines: the cache lookup's answer, the breaker's
//! admission, the attempt's time limit, and stale-while-revalidate refreshes.
//!
//! Nothing here pumps events: the public input that called it does, once, at its end.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use super::call::{Call, Phase};
use super::config::BACKGROUND_FETCH_TIMEOUT;
use super::decision::{BackgroundFetch, Decision, FinalResult, Output, Reply};
use super::request::{Permit, RequestId};
use super::trace::{CacheTrace, DecisionTrace, RejectReason};
use crate::breaker::BreakerState;
use crate::cache::{Fill, Lookup};
use crate::metrics::CacheOutcome;
use crate::{Request, Timestamp, WallClock};

impl Engine {
    /// The tracked call `id`; the caller knows it is live.
    pub(super) fn call_mut(&mut self, id: RequestId) -> &mut Call {
        self.calls.get_mut(id.0).expect("runs on a live call")
    }

    /// Looks the cache up again for a tracked request (a single-flight follower told to).
    pub(super) fn lookup(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Decision {
        let lookup = self.cache.lookup(now, request, id.0);
        self.on_lookup(now, wall, id, request, lookup)
    }

    /// Acts on a cache lookup for the tracked request `id`.
    pub(super) fn on_lookup(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        lookup: Lookup,
    ) -> Decision {
        let served = |r| FinalResult::Response(Reply::Cached(r));
        match lookup {
            Lookup::Fresh(r) => {
                self.call_mut(id).trace.cache = CacheTrace::Fresh;
                Decision::Done(self.complete(now, wall, id, served(r), CacheOutcome::Hit))
            }
            Lookup::Stale {
                response,
                revalidate,
            } => {
                let revalidating = revalidate.is_some();
                if let Some(fill) = revalidate {
                    let call = self.call_mut(id);
                    let service: Arc<str> = Arc::from(call.service());
                    let breaker_key = Arc::clone(&call.breaker_key);
                    self.start_background(now, request, fill, service, breaker_key);
                }
                self.call_mut(id).trace.cache = CacheTrace::Stale { revalidating };
                Decision::Done(self.complete(now, wall, id, served(response), CacheOutcome::Stale))
            }
            Lookup::Miss(fill) => {
                let call = self.call_mut(id);
                call.trace.cache = CacheTrace::Miss {
                    stored: false,
                    not_stored: None,
                };
                call.fill = Some(fill);
                self.admit(now, wall, id, request)
            }
            Lookup::Follow(flight) => {
                let call = self.call_mut(id);
                call.trace.cache = CacheTrace::Coalesced;
                call.phase = Phase::Following(flight);
                Decision::Wait(id)
            }
            Lookup::Unsatisfiable => {
                let call = self.call_mut(id);
                call.trace.cache = CacheTrace::Unsatisfiable;
                call.trace.rejected = Some(RejectReason::OnlyIfCached);
                let result = FinalResult::Rejected(RejectReason::OnlyIfCached);
                Decision::Done(self.complete(now, wall, id, result, CacheOutcome::Miss))
            }
            _ => {
                self.call_mut(id).trace.cache = CacheTrace::Bypass;
                self.admit(now, wall, id, request)
            }
        }
    }

    /// Asks the breaker for the next attempt of `id` (unless its deadline has passed).
    pub(super) fn admit(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Decision {
        let timeout = self.attempt_timeout(id, now);
        if timeout == Some(Duration::ZERO) {
            // The overall deadline has passed (a late timer, a follower woken late): do not
            // send an attempt that could only time out and count against the breaker.
            let why = "the overall deadline passed before the next attempt";
            return Decision::Done(self.time_out(now, wall, id, request, why));
        }
        let call = self.calls.get_mut(id.0).expect("admit runs on a live call");
        let breaker = self.breakers.get_or_create(now, &call.breaker_key);
        if call.trace.attempts.is_empty() {
            call.trace.breaker = Some(breaker.state());
        }
        match breaker.try_acquire(now) {
            Ok(bp) => {
                call.phase = Phase::Sending {
                    breaker: Some(bp),
                    started: now,
                };
                let conditional = call
                    .fill
                    .as_ref()
                    .and_then(|f| f.conditional_headers().cloned().map(Box::new));
                Decision::Send(Permit {
                    id,
                    attempt: call.retry.attempts() + 1,
                    conditional,
                    timeout,
                })
            }
            Err(rejected) => {
                let reason = RejectReason::BreakerOpen {
                    retry_at: rejected.retry_at,
                    state: rejected.state,
                };
                call.trace.rejected = Some(reason);
                let result = FinalResult::Rejected(reason);
                Decision::Done(self.end_without_sending(now, wall, id, request, result))
            }
        }
    }

    /// The time limit of the next attempt of `id`: the per-attempt timeout, capped by what is
    /// left of the overall deadline (zero once it has passed).
    fn attempt_timeout(&self, id: RequestId, now: Timestamp) -> Option<Duration> {
        let call = self.calls.get(id.0)?;
        let deadline = self
            .retry
            .deadline(&call.retry)
            .map(|d| d.saturating_duration_since(now));
        match (self.config.attempt_timeout, deadline) {
            (Some(a), Some(d)) => Some(a.min(d)),
            (a, d) => a.or(d),
        }
    }

    /// Starts a stale-while-revalidate refresh, accounted (attempts only) and breaker-checked
    /// under the service of the request that found the stale entry.
    pub(super) fn start_background(
        &mut self,
        now: Timestamp,
        request: &Request,
        fill: Fill,
        service: Arc<str>,
        breaker_key: Arc<str>,
    ) {
        // Background refreshes do not take a breaker slot (they must not consume half-open
        // probes meant for callers), but an open breaker cancels them.
        let open = self
            .breakers
            .get(&breaker_key)
            .is_some_and(|b| matches!(b.state(), BreakerState::Open | BreakerState::Isolated));
        if open {
            self.cache.abandon(now, fill);
            return;
        }
        let conditional = fill.conditional_headers().cloned().map(Box::new);
        let call = Call {
            service: Some(service),
            breaker_key,
            started: now,
            retry: self.retry.begin(now, request),
            fill: Some(fill),
            phase: Phase::Sending {
                breaker: None,
                started: now,
            },
            trace: DecisionTrace::default(),
            background: true,
            method: request.method().clone(),
        };
        let id = match self.calls.insert(call) {
            Ok(id) => RequestId(id),
            Err(call) => {
                if let Some(fill) = call.fill {
                    self.cache.abandon(now, fill);
                }
                return;
            }
        };
        // A refresh nobody waits for must still end: bound it even without an attempt timeout.
        let timeout = Some(
            self.config
                .attempt_timeout
                .unwrap_or(BACKGROUND_FETCH_TIMEOUT),
        );
        self.outputs
            .push_back(Output::Background(Box::new(BackgroundFetch {
                request: crate::message::clone_request(request),
                permit: Permit {
                    id,
                    attempt: 1,
                    conditional,
                    timeout,
                },
            })));
    }
}
