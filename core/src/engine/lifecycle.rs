//! The call lifecycle, (B) inputs: [`Engine::begin`], [`Engine::on_response`],
//! [`Engine::resume`], [`Engine::proceed`] and [`Engine::cancel`].
//!
//! Each input finds the request's [`Call`], checks it is in the phase the input needs (a
//! typed [`EngineError`] otherwise, with nothing changed), routes it through the machines
//! (`route.rs`) and ends it when it is done (`finish.rs`).

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use super::call::{Call, Phase};
use super::config::BreakerScope;
use super::decision::{Decision, FinalResult, Finished, Next, Reply};
use super::request::{EngineError, Permit, RequestId, RequestPhase, RetryToken};
use super::trace::{
    AttemptNext, AttemptResult, AttemptTrace, CacheTrace, DecisionTrace, RejectReason,
};
use crate::breaker::CallResult;
use crate::cache::{CachedResponse, Fill, Lookup, StoreResult};
use crate::metrics::{AttemptRecord, CacheOutcome, FailureCategory, RequestRecord};
use crate::retry::{GiveUpReason, RetryDecision, RetryReason};
use crate::{
    Outcome, Request, RequestError, Timestamp, TransportError, TransportErrorKind, WallClock,
};

/// (B) Inputs of one request's lifecycle. After each, drain [`Engine::poll_output`].
impl Engine {
    /// Starts a logical request. `service` names the upstream service for metrics and the
    /// breaker (the URL's host when `None`).
    ///
    /// Errors only for a request that cannot be processed at all — the caller's mistake: not
    /// an absolute http(s) URL, credentials in the URL, a method that cannot be sent, a body
    /// the method forbids, a malformed `Content-Length`, a header only the transport may set
    /// (`Transfer-Encoding`, `Connection`, …), a body too large. Nothing is recorded then (no
    /// metrics, no breaker call, no cache entry). Policy refusals are answers, not errors:
    /// [`Decision::Done`] with [`FinalResult::Rejected`].
    pub fn begin(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        request: &Request,
        service: Option<&str>,
    ) -> Result<Decision, RequestError> {
        let host = validate_request(request, self.config.max_request_body)?;
        self.last_wall = wall;
        if now.saturating_duration_since(self.last_housekeeping)
            >= self.config.housekeeping_interval
        {
            self.handle_timeout(now, wall);
        }
        let service_name = service.unwrap_or(host);
        let breaker_key = match (self.config.breaker_scope, service) {
            (BreakerScope::ServiceOrHost, Some(s)) => s,
            _ => host,
        };
        // The id this request gets if it has to be tracked; `None` at capacity.
        let Some(ticket) = self.calls.next_id() else {
            self.metrics.on_request_start(service_name);
            return Ok(Decision::Done(self.overloaded(now, wall, service_name)));
        };
        if let Some(b) = self.budget.as_mut() {
            b.deposit(now);
        }
        // The cache first: a hit is answered without any per-call state.
        let decision = match self.cache.lookup(now, request, ticket) {
            Lookup::Fresh(response) => {
                let id = self.hit_id();
                let hit = Hit {
                    id,
                    service: service_name,
                    response,
                    trace: CacheTrace::Fresh,
                    outcome: CacheOutcome::Hit,
                };
                Decision::Done(self.answer_cached(now, wall, hit))
            }
            Lookup::Stale {
                response,
                revalidate,
            } => {
                let id = self.hit_id();
                let revalidating = revalidate.is_some();
                if let Some(fill) = revalidate {
                    let (svc, bk) = (self.names.get(service_name), self.names.get(breaker_key));
                    self.start_background(now, request, fill, svc, bk);
                }
                let hit = Hit {
                    id,
                    service: service_name,
                    response,
                    trace: CacheTrace::Stale { revalidating },
                    outcome: CacheOutcome::Stale,
                };
                Decision::Done(self.answer_cached(now, wall, hit))
            }
            lookup => {
                self.metrics.on_request_start(service_name);
                let service_arc = self.names.get(service_name);
                let breaker_arc = if breaker_key == service_name {
                    Arc::clone(&service_arc)
                } else {
                    self.names.get(breaker_key)
                };
                let call = Call {
                    service: Some(service_arc),
                    breaker_key: breaker_arc,
                    started: now,
                    retry: self.retry.begin(now, request),
                    fill: None,
                    phase: Phase::Backoff,
                    trace: DecisionTrace {
                        started_at: now,
                        ..DecisionTrace::default()
                    },
                    background: false,
                    method: request.method().clone(),
                };
                let id = self.calls.insert(call).expect("room was checked");
                debug_assert_eq!(id, ticket, "the cache was given this request's id");
                self.on_lookup(now, wall, RequestId(id), request, lookup)
            }
        };
        self.pump_events(now);
        Ok(decision)
    }

    /// Reports the outcome of the attempt `permit` allowed. `request` is the caller's request
    /// as given to `begin` (without the permit's extra headers).
    ///
    /// The answer is the end of the request, or the time to [`resume`](Self::resume) it. An
    /// outcome of kind [`TransportErrorKind::InvalidRequest`] (the transport refused the
    /// caller's request) ends it at once: not retried, not counted by the breaker, withdrawn
    /// from the metrics.
    /// Fails with [`EngineError::UnknownRequest`] if the request was cancelled meanwhile, and
    /// with [`EngineError::WrongPhase`] for a permit that is not the request's current one
    /// (only possible with a permit from another engine); the outcome is then not counted.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "a Permit is a single-use capability: reporting it consumes it"
    )]
    pub fn on_response(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        permit: Permit,
        request: &Request,
        outcome: Outcome,
    ) -> Result<Next, EngineError> {
        let id = permit.id;
        let outcome = match outcome {
            Err(e) if e.kind == TransportErrorKind::InvalidRequest => {
                let f = self.withdraw(now, wall, &permit, e)?;
                self.pump_events(now);
                return Ok(Next::Done(f));
            }
            outcome => outcome,
        };
        let mut attempt = self.end_attempt(now, wall, &permit, &outcome)?;
        let call = self.calls.get_mut(id.0).expect("end_attempt checked it");

        if call.background {
            call.trace.attempts.push(attempt);
            let f = self.finish(now, wall, id, request, outcome);
            self.pump_events(now);
            return Ok(Next::Done(f));
        }

        // A 304 answers a revalidation the engine made: merge it into the stored response.
        let engine_conditional = matches!(&outcome, Ok(r) if r.status() == http::StatusCode::NOT_MODIFIED)
            && call
                .fill
                .as_ref()
                .is_some_and(|f| f.conditional_headers().is_some());
        if engine_conditional && let Ok(resp) = &outcome {
            let next = self.on_engine_304(now, wall, id, request, resp, attempt);
            self.pump_events(now);
            return Ok(next);
        }

        let decision = self.retry.decide(
            now,
            wall,
            &mut call.retry,
            &mut self.rng,
            &outcome,
            self.budget.as_mut(),
        );
        let next = match decision {
            RetryDecision::Retry {
                at,
                delay,
                reason,
                retry_after,
                ..
            } => {
                attempt.next = AttemptNext::Retry {
                    delay,
                    reason,
                    retry_after,
                };
                call.trace.attempts.push(attempt);
                Next::RetryAt {
                    at,
                    token: RetryToken { id },
                }
            }
            other => {
                if let RetryDecision::GiveUp(reason) = other {
                    attempt.next = AttemptNext::GiveUp { reason };
                }
                call.trace.attempts.push(attempt);
                Next::Done(self.finish(now, wall, id, request, outcome))
            }
        };
        self.pump_events(now);
        Ok(next)
    }

    /// Continues a request after its backoff: re-checks the breaker (and the deadline) and
    /// hands out the next attempt's permit, or finishes the request if it may not send again.
    ///
    /// Fails with [`EngineError::UnknownRequest`] if the request was cancelled meanwhile.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "a RetryToken is a single-use capability: resuming consumes it"
    )]
    pub fn resume(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        token: RetryToken,
        request: &Request,
    ) -> Result<Decision, EngineError> {
        self.expect_phase(token.id, RequestPhase::Backoff)?;
        self.last_wall = wall;
        let decision = self.admit(now, wall, token.id, request);
        self.pump_events(now);
        Ok(decision)
    }

    /// Continues a waiting request after [`Output::Proceed`](crate::Output::Proceed): it
    /// fetches on its own, or looks the cache up again (and may wait again).
    ///
    /// Fails with [`EngineError::UnknownRequest`] for an id the engine does not track and with
    /// [`EngineError::WrongPhase`] for a request that was not told to proceed.
    pub fn proceed(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Result<Decision, EngineError> {
        self.expect_phase(id, RequestPhase::Proceeding)?;
        self.last_wall = wall;
        let call = self.calls.get_mut(id.0).expect("expect_phase checked it");
        let decision = match std::mem::replace(&mut call.phase, Phase::Backoff) {
            Phase::Proceeding(Some(fill)) => {
                call.fill = Some(fill);
                self.admit(now, wall, id, request)
            }
            _ => self.lookup(now, wall, id, request),
        };
        self.pump_events(now);
        Ok(decision)
    }

    /// Abandons a request in any phase (the caller went away or gave up), or a background
    /// refresh. Releases its breaker slot, hands its cache fill to a waiting follower, and
    /// counts it as failed. Its end is the returned [`Finished`], rejected as
    /// [`RejectReason::Cancelled`], with the trace so far.
    ///
    /// Fails with [`EngineError::UnknownRequest`] for an id the engine does not track (it
    /// already finished, or was answered at once); nothing changes then, so cancelling twice
    /// is harmless.
    pub fn cancel(&mut self, now: Timestamp, id: RequestId) -> Result<Finished, EngineError> {
        let call = self
            .calls
            .remove(id.0)
            .ok_or(EngineError::UnknownRequest { id })?;
        if let Some(fill) = self.release_phase(now, id, &call.breaker_key, call.phase) {
            self.cache.abandon(now, fill);
        }
        if let Some(fill) = call.fill {
            self.cache.abandon(now, fill);
        }
        let mut trace = call.trace;
        trace.rejected = Some(RejectReason::Cancelled);
        trace.total = now.saturating_duration_since(call.started);
        trace.budget_left = self.budget.as_ref().map(|b| b.balance(now));
        let service = call.service.unwrap_or_else(|| self.names.empty());
        if !call.background {
            self.metrics.on_request_end(
                &service,
                &RequestRecord {
                    success: false,
                    latency: trace.total,
                    failure: Some(FailureCategory::Other),
                    retries: trace.retries(),
                    cache: CacheOutcome::Bypass,
                    wall: self.last_wall,
                },
            );
        }
        self.drain_flights(now);
        self.pump_events(now);
        Ok(Finished {
            id,
            service,
            result: FinalResult::Rejected(RejectReason::Cancelled),
            trace,
        })
    }

    /// Ends request `id` because its [`Deadline`](crate::Deadline) passed while the frontend
    /// was waiting on it: for a single-flight leader ([`Decision::Wait`]), or for an attempt
    /// whose transport ignores its time limit. Unlike [`cancel`](Self::cancel), the request
    /// ends as a [`TransportErrorKind::Timeout`](crate::TransportErrorKind) (or is served
    /// stale if the cache allows stale-if-error), is counted so in metrics, and its
    /// [`Finished`] carries the decision trace. An attempt in flight releases its breaker slot
    /// without counting against the upstream.
    ///
    /// Fails with [`EngineError::UnknownRequest`] for an id the engine does not track as a
    /// caller's request (it finished meanwhile, or is a background refresh); nothing changes
    /// then.
    pub fn expire(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
    ) -> Result<Finished, EngineError> {
        let call = self
            .calls
            .get_mut(id.0)
            .filter(|c| !c.background)
            .ok_or(EngineError::UnknownRequest { id })?;
        self.last_wall = wall;
        let phase = std::mem::replace(&mut call.phase, Phase::Backoff);
        let key = Arc::clone(&call.breaker_key);
        if let Some(fill) = self.release_phase(now, id, &key, phase) {
            self.call_mut(id).fill = Some(fill);
        }
        let f = self.time_out(now, wall, id, request, "the request's deadline passed");
        self.pump_events(now);
        Ok(f)
    }

    // ----- helpers of the inputs above -----

    /// Releases what a request holds in `phase` — its place in a single-flight, its breaker
    /// slot (the attempt counts for nothing) — and returns the cache fill it was handed, if any.
    fn release_phase(
        &mut self,
        now: Timestamp,
        id: RequestId,
        breaker_key: &str,
        phase: Phase,
    ) -> Option<Fill> {
        match phase {
            Phase::Following(flight) => {
                self.cache.leave_flight(flight, id.0);
                None
            }
            Phase::Sending {
                breaker: Some(bp), ..
            } => {
                if let Some(b) = self.breakers.get_mut(now, breaker_key) {
                    b.on_result(now, bp, CallResult::ignored());
                }
                None
            }
            Phase::Proceeding(fill) => fill,
            Phase::Sending { breaker: None, .. } | Phase::Backoff => None,
        }
    }

    /// `Ok` if `id` is tracked and in phase `expected`.
    fn expect_phase(&self, id: RequestId, expected: RequestPhase) -> Result<(), EngineError> {
        let call = self
            .calls
            .get(id.0)
            .ok_or(EngineError::UnknownRequest { id })?;
        let actual = call.phase.kind();
        if actual == expected {
            Ok(())
        } else {
            Err(EngineError::WrongPhase {
                id,
                expected,
                actual,
            })
        }
    }

    /// Closes the attempt `permit` allowed: releases its breaker slot with the outcome,
    /// counts the attempt, and returns its trace entry (next step still `Accept`). The call is
    /// left in `Backoff`.
    fn end_attempt(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        permit: &Permit,
        outcome: &Outcome,
    ) -> Result<AttemptTrace, EngineError> {
        let id = permit.id;
        self.expect_phase(id, RequestPhase::Sending)?;
        self.last_wall = wall;
        let call = self.calls.get_mut(id.0).expect("expect_phase checked it");
        let Phase::Sending { breaker, started } =
            std::mem::replace(&mut call.phase, Phase::Backoff)
        else {
            unreachable!("expect_phase checked it is Sending");
        };
        let latency = now.saturating_duration_since(started);
        if let Some(bp) = breaker
            && let Some(b) = self.breakers.get_mut(now, &call.breaker_key)
        {
            let kind = b.classify(outcome);
            b.on_result(now, bp, CallResult::new(kind, latency).with_wall(wall));
        }
        let mut record = AttemptRecord::from_outcome(outcome, latency);
        if let Err(e) = outcome
            && let Some(name) = self.metrics.transport_error_name(e.kind)
        {
            record = record.with_error_name(name);
        }
        self.metrics.on_attempt(call.service(), &record);
        let result = match outcome {
            Ok(r) => AttemptResult::Status {
                status: r.status().as_u16(),
            },
            Err(e) => AttemptResult::Transport { error: e.kind },
        };
        Ok(AttemptTrace {
            attempt: permit.attempt,
            started_at: started,
            latency,
            result,
            next: AttemptNext::Accept,
        })
    }

    /// Ends a request whose attempt the transport refused as the caller's mistake
    /// ([`TransportErrorKind::InvalidRequest`]): the breaker slot is released without a
    /// verdict, the attempt is not counted, nothing is retried or served stale, and the
    /// request is withdrawn from the metrics — as if `begin` had refused it. The trace keeps
    /// the attempt, so the caller sees why.
    fn withdraw(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        permit: &Permit,
        error: TransportError,
    ) -> Result<Finished, EngineError> {
        let id = permit.id;
        self.expect_phase(id, RequestPhase::Sending)?;
        self.last_wall = wall;
        let call = self.calls.remove(id.0).expect("expect_phase checked it");
        let Phase::Sending { breaker, started } = call.phase else {
            unreachable!("expect_phase checked it is Sending");
        };
        if let Some(bp) = breaker
            && let Some(b) = self.breakers.get_mut(now, &call.breaker_key)
        {
            b.on_result(now, bp, CallResult::ignored());
        }
        if let Some(fill) = call.fill {
            self.cache.abandon(now, fill);
        }
        let mut trace = call.trace;
        trace.attempts.push(AttemptTrace {
            attempt: permit.attempt,
            started_at: started,
            latency: now.saturating_duration_since(started),
            result: AttemptResult::Transport { error: error.kind },
            next: AttemptNext::GiveUp {
                reason: GiveUpReason::NotRetryable,
            },
        });
        trace.total = now.saturating_duration_since(call.started);
        trace.budget_left = self.budget.as_ref().map(|b| b.balance(now));
        let service = call.service.unwrap_or_else(|| self.names.empty());
        if !call.background {
            self.metrics.on_request_withdrawn(&service);
        }
        self.drain_flights(now);
        Ok(Finished {
            id,
            service,
            result: FinalResult::Transport(error),
            trace,
        })
    }

    /// A 304 to a revalidation the engine made: merge it into the stored response — or, if the
    /// entry is gone or no longer matches the validator, send again without validators. The
    /// caller never asked for a conditional request and must not receive a bodiless 304.
    fn on_engine_304(
        &mut self,
        now: Timestamp,
        wall: WallClock,
        id: RequestId,
        request: &Request,
        response: &crate::Response,
        mut attempt: AttemptTrace,
    ) -> Next {
        let call = self.calls.get_mut(id.0).expect("runs on a live call");
        let fill = call.fill.take().expect("the caller checked the fill");
        let stored = self.cache.on_response(now, wall, fill, request, response);
        if let StoreResult::Revalidated(r) = stored {
            call.trace.attempts.push(attempt);
            call.trace.cache = CacheTrace::Revalidated;
            let f = self.complete(
                now,
                wall,
                id,
                FinalResult::Response(Reply::Cached(r)),
                CacheOutcome::Revalidated,
            );
            self.drain_flights(now);
            return Next::Done(f);
        }
        attempt.next = AttemptNext::Retry {
            delay: Duration::ZERO,
            reason: RetryReason::Status(304),
            retry_after: None,
        };
        call.trace.attempts.push(attempt);
        self.drain_flights(now);
        Next::RetryAt {
            at: now,
            token: RetryToken { id },
        }
    }

    /// The id of a request answered from the cache at once: never tracked, never reused.
    fn hit_id(&mut self) -> RequestId {
        RequestId(self.calls.burn_id().expect("room was checked"))
    }

    /// Finishes a request answered from the cache in `begin`, without per-call state: the
    /// same metrics and trace as a tracked request completed at once.
    #[inline]
    fn answer_cached(&mut self, now: Timestamp, wall: WallClock, hit: Hit<'_>) -> Finished {
        let trace = DecisionTrace {
            started_at: now,
            cache: hit.trace,
            budget_left: self.budget.as_ref().map(|b| b.balance(now)),
            ..DecisionTrace::default()
        };
        let result = FinalResult::Response(Reply::Cached(hit.response));
        let failure = super::finish::failure_category(&result, &trace);
        self.metrics.on_request(
            hit.service,
            &RequestRecord {
                success: failure.is_none(),
                latency: Duration::ZERO,
                failure,
                retries: 0,
                cache: hit.outcome,
                wall,
            },
        );
        Finished {
            id: hit.id,
            service: self.names.get(hit.service),
            result,
            trace,
        }
    }

    /// Refuses a request at capacity, without tracking it. Its id is a placeholder that
    /// names no request (`u64::MAX`; the engine has no slot to give it).
    fn overloaded(&mut self, now: Timestamp, wall: WallClock, service: &str) -> Finished {
        let trace = DecisionTrace {
            started_at: now,
            rejected: Some(RejectReason::Overloaded),
            ..DecisionTrace::default()
        };
        self.metrics.on_request_end(
            service,
            &RequestRecord {
                success: false,
                latency: Duration::ZERO,
                failure: Some(FailureCategory::Other),
                retries: 0,
                cache: CacheOutcome::Bypass,
                wall,
            },
        );
        Finished {
            id: RequestId(u64::MAX),
            service: self.names.get(service),
            result: FinalResult::Rejected(RejectReason::Overloaded),
            trace,
        }
    }
}

/// A request answered from the cache in `begin`.
struct Hit<'a> {
    id: RequestId,
    service: &'a str,
    response: Arc<CachedResponse>,
    trace: CacheTrace,
    outcome: CacheOutcome,
}

/// Checks the URL ([`crate::uri::check`]), the method and headers
/// ([`check_message`](super::validate::check_message)), that a `Host` header (if any) names the
/// same authority, and the body size; returns `host[:port]`.
fn validate_request(request: &Request, max_body: usize) -> Result<&str, RequestError> {
    let authority = crate::uri::check(request.uri())?;
    super::validate::check_message(request)?;
    // A `Host` naming another authority would reach one origin while cached under another.
    crate::cache::check_host(request.headers(), request.uri())?;
    let size = request.body().len();
    if size > max_body {
        return Err(RequestError::BodyTooLarge {
            size,
            limit: max_body,
        });
    }
    Ok(authority)
}
