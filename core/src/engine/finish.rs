//! Ending a tracked request: feeding its outcome to the cache, waking its single-flight
//! followers, recording it in metrics, and building its [`Finished`].

use super::Engine;
use super::decision::{FinalResult, Finished, Output, Reply};
use super::request::RequestId;
use super::trace::{AttemptNext, CacheTrace, DecisionTrace, RejectReason};
use crate::cache::{FlightEvent, StoreResult};
use crate::metrics::{CacheOutcome, FailureCategory, RequestEnd, RequestRecord};
use crate::{Outcome, Request, Timestamp, TransportError, TransportErrorKind, WallClock};

impl Engine {
    /// Finishes a request that will send no (further) attempt: a stored response usable on
    /// error (stale-if-error) is served if there is one, otherwise `result`; waiting
    /// followers are woken either way.
    pub(super) fn end_without_sending(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        result: FinalResult,
    ) -> Finished {
        let call = self.calls.get_mut(id.0).expect("runs on a live call");
        let stale = call
            .fill
            .take()
            .and_then(|fill| self.cache.on_error(now, fill, request));
        let f = match stale {
            Some(r) => {
                self.call_mut(id).trace.cache = CacheTrace::StaleIfError;
                let served = FinalResult::Response(Reply::Cached(r));
                self.complete(now, wall, id, served, CacheOutcome::Stale)
            }
            None => self.complete(now, wall, id, result, CacheOutcome::Miss),
        };
        self.drain_flights(now);
        f
    }

    /// Finishes a request whose deadline has passed, as a time-out (see
    /// [`end_without_sending`](Self::end_without_sending)).
    pub(super) fn time_out(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        why: &'static str,
    ) -> Finished {
        let timed_out =
            FinalResult::Transport(TransportError::new(TransportErrorKind::Timeout, why));
        self.end_without_sending(now, wall, id, request, timed_out)
    }

    /// Completes a request that reached its final outcome: feeds the cache (store, 304 merge,
    /// stale-if-error, invalidation after an unsafe method), wakes followers, records metrics.
    pub(super) fn finish(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        outcome: Outcome,
    ) -> Finished {
        let call = self
            .calls
            .get_mut(id.0)
            .expect("finish runs on a live call");
        let fill = call.fill.take();
        let (result, cache_outcome) = match (outcome, fill) {
            (Ok(resp), Some(fill)) => {
                let stored = self.cache.on_response(now, wall, fill, request, &resp);
                let (trace, result, outcome) = match stored {
                    StoreResult::Stored(_) => (
                        CacheTrace::Miss {
                            stored: true,
                            not_stored: None,
                        },
                        Reply::Upstream(resp),
                        CacheOutcome::Miss,
                    ),
                    StoreResult::Revalidated(r) => (
                        CacheTrace::Revalidated,
                        Reply::Cached(r),
                        CacheOutcome::Revalidated,
                    ),
                    StoreResult::StaleIfError(r) => (
                        CacheTrace::StaleIfError,
                        Reply::Cached(r),
                        CacheOutcome::Stale,
                    ),
                    StoreResult::NotStored(reason) => (
                        CacheTrace::Miss {
                            stored: false,
                            not_stored: Some(reason),
                        },
                        Reply::Upstream(resp),
                        CacheOutcome::Miss,
                    ),
                };
                call.trace.cache = trace;
                (FinalResult::Response(result), outcome)
            }
            (Ok(resp), None) => {
                if !matches!(call.method, http::Method::GET | http::Method::HEAD) {
                    self.cache.on_unsafe_response(request, &resp);
                }
                (
                    FinalResult::Response(Reply::Upstream(resp)),
                    CacheOutcome::Bypass,
                )
            }
            (Err(e), Some(fill)) => match self.cache.on_error(now, fill, request) {
                Some(r) => {
                    call.trace.cache = CacheTrace::StaleIfError;
                    (FinalResult::Response(Reply::Cached(r)), CacheOutcome::Stale)
                }
                None => (FinalResult::Transport(e), CacheOutcome::Miss),
            },
            (Err(e), None) => (FinalResult::Transport(e), CacheOutcome::Bypass),
        };
        let f = self.complete(now, wall, id, result, cache_outcome);
        self.drain_flights(now);
        f
    }

    /// Removes the call, records its end in metrics, and builds its [`Finished`].
    pub(super) fn complete(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        result: FinalResult,
        cache: CacheOutcome,
    ) -> Finished {
        // Take what the answer needs in place; the call itself is dropped where it lies.
        let (fill, service, mut trace, started, background) = self
            .calls
            .remove_with(id.0, |call| {
                (
                    call.fill.take(),
                    call.service.take(),
                    std::mem::take(&mut call.trace),
                    call.started,
                    call.background,
                )
            })
            .expect("complete runs on a live call");
        let service = service.unwrap_or_else(|| self.names.empty());
        if let Some(fill) = fill {
            self.cache.abandon(now, fill);
        }
        trace.total = now.saturating_duration_since(started);
        trace.budget_left = self.budget.as_ref().map(|b| b.balance(now));
        if !background {
            let failure = failure_category(&result, &trace);
            self.metrics.on_request_end(
                &service,
                &RequestRecord {
                    success: failure.is_none(),
                    latency: trace.total,
                    failure,
                    retries: trace.retries(),
                    cache,
                    wall,
                },
            );
        }
        Finished {
            id,
            service,
            result,
            trace,
        }
    }

    /// Turns the cache's single-flight events into outputs for the waiting requests.
    pub(super) fn drain_flights(&mut self, now: Timestamp) {
        while let Some(ev) = self.cache.poll_flight_event() {
            match ev {
                FlightEvent::Ready { ticket, response } => {
                    if self.calls.get(ticket).is_some() {
                        let wall = self.last_wall;
                        let served = FinalResult::Response(Reply::Cached(response));
                        let f =
                            self.complete(now, wall, RequestId(ticket), served, CacheOutcome::Hit);
                        self.outputs.push_back(Output::Resolved(Box::new(f)));
                    }
                }
                FlightEvent::Relookup { ticket } => {
                    if let Some(call) = self.calls.get_mut(ticket) {
                        call.phase = super::call::Phase::Proceeding(None);
                        self.outputs.push_back(Output::Proceed(RequestId(ticket)));
                    }
                }
                FlightEvent::FetchYourself { ticket, fill } => {
                    if let Some(call) = self.calls.get_mut(ticket) {
                        call.phase = super::call::Phase::Proceeding(Some(fill));
                        self.outputs.push_back(Output::Proceed(RequestId(ticket)));
                    } else {
                        self.cache.abandon(now, fill);
                    }
                }
            }
        }
    }
}

/// Why a finished request counts as failed in metrics, or `None` if it succeeded.
pub(super) fn failure_category(
    result: &FinalResult,
    trace: &DecisionTrace,
) -> Option<FailureCategory> {
    let end = match result {
        FinalResult::Response(r) => RequestEnd::Status(r.status().as_u16()),
        FinalResult::Transport(e) => RequestEnd::Transport(e.kind),
        FinalResult::Rejected(RejectReason::BreakerOpen { .. }) => RequestEnd::BreakerRejected,
        FinalResult::Rejected(_) => RequestEnd::Refused,
    };
    let gave_up = trace.attempts.last().and_then(|a| match a.next {
        AttemptNext::GiveUp { reason } => Some(reason),
        _ => None,
    });
    FailureCategory::of_request(end, gave_up)
}
