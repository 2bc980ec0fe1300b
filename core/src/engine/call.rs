//! The engine's private record of one tracked request.

use std::sync::Arc;

use http::Method;

use super::request::RequestPhase;
use super::trace::DecisionTrace;
use crate::Timestamp;
use crate::breaker::BreakerPermit;
use crate::cache::{Fill, FlightId};
use crate::retry::RetryState;

/// Where a tracked request stands; the data each phase needs travels with it.
#[derive(Debug)]
pub(super) enum Phase {
    /// Waiting for a single-flight leader.
    Following(FlightId),
    /// Woken by the cache: fetch upstream with this fill (or re-run the lookup when `None`).
    Proceeding(Option<Fill>),
    /// An attempt is in flight.
    Sending {
        /// The breaker slot it holds (`None` for background refreshes, which take none).
        breaker: Option<BreakerPermit>,
        /// When the attempt was handed out.
        started: Timestamp,
    },
    /// Between attempts (and, for an instant, before the first one).
    Backoff,
}

impl Phase {
    /// The public name of this phase.
    pub(super) fn kind(&self) -> RequestPhase {
        match self {
            Phase::Following(_) => RequestPhase::Following,
            Phase::Proceeding(_) => RequestPhase::Proceeding,
            Phase::Sending { .. } => RequestPhase::Sending,
            Phase::Backoff => RequestPhase::Backoff,
        }
    }
}

/// One tracked logical request (or background refresh).
#[derive(Debug)]
pub(super) struct Call {
    /// `None` only while `complete` takes the call apart.
    pub(super) service: Option<Arc<str>>,
    pub(super) breaker_key: Arc<str>,
    pub(super) started: Timestamp,
    pub(super) retry: RetryState,
    pub(super) fill: Option<Fill>,
    pub(super) phase: Phase,
    pub(super) trace: DecisionTrace,
    /// A stale-while-revalidate refresh: answers nobody, not counted as a request.
    pub(super) background: bool,
    pub(super) method: Method,
}

impl Call {
    pub(super) fn service(&self) -> &str {
        self.service.as_deref().unwrap_or_default()
    }
}
