//! Single-flight: at most one upstream fetch per cache key; identical concurrent misses wait
//! for it as followers.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use serde::Serialize;

use super::key::CacheKey;
use super::store::IdHasher;
use super::{CachedResponse, Fill};
use crate::Timestamp;

/// Identifies one in-progress fetch (a miss or a revalidation) that followers wait on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FlightId(u64);

impl FlightId {
    /// The raw id (unique per cache instance, increasing).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// What a follower of a flight must do once the flight ends. Drained with
/// [`super::Cache::poll_flight_event`]; each waiting ticket gets exactly one event.
#[derive(Debug)]
#[non_exhaustive]
pub enum FlightEvent {
    /// The leader's response was stored (or revalidated, or a stale entry was served on
    /// error) and does not vary: answer this ticket with `response`.
    Ready {
        /// The follower's ticket, as given to `lookup`.
        ticket: u64,
        /// The response to serve (call [`CachedResponse::to_response`]).
        response: Arc<CachedResponse>,
    },
    /// The leader stored a response that has a `Vary` header, so whether it suits this
    /// follower depends on the follower's own request: call `lookup` again with it (normally
    /// a `Fresh` hit).
    Relookup {
        /// The follower's ticket.
        ticket: u64,
    },
    /// The leader failed, was cancelled, or got a response that cannot be shared: fetch
    /// upstream yourself, then complete `fill` like a leader (`on_response` / `on_error` /
    /// `abandon`). When the leader was merely cancelled, the first follower is promoted: its
    /// `fill` carries the flight, and the remaining followers keep waiting on it.
    FetchYourself {
        /// The follower's ticket.
        ticket: u64,
        /// The capability to complete the fetch.
        fill: Fill,
    },
}

#[derive(Debug)]
pub(crate) struct Flight {
    pub(crate) id: FlightId,
    pub(crate) followers: Vec<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: HashMap<CacheKey, Flight, BuildHasherDefault<IdHasher>>,
    next: u64,
}

impl Flights {
    pub(crate) fn contains(&self, key: &CacheKey) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Starts a flight for `key` (there must be none).
    pub(crate) fn start(&mut self, key: CacheKey) -> FlightId {
        self.next += 1;
        let id = FlightId(self.next);
        self.map.insert(
            key,
            Flight {
                id,
                followers: Vec::new(),
            },
        );
        id
    }

    /// Registers `ticket` as a follower of the flight for `key`, if there is one.
    pub(crate) fn join(&mut self, key: &CacheKey, ticket: u64) -> Option<FlightId> {
        let f = self.map.get_mut(key)?;
        f.followers.push(ticket);
        Some(f.id)
    }

    /// Ends flight `id` of `key`, returning it; `None` if it already ended.
    pub(crate) fn take(&mut self, key: &CacheKey, id: FlightId) -> Option<Flight> {
        if self.map.get(key)?.id != id {
            return None;
        }
        self.map.remove(key)
    }

    /// Re-installs a flight (after promoting a follower).
    pub(crate) fn restore(&mut self, key: CacheKey, flight: Flight) {
        self.map.insert(key, flight);
    }

    /// Removes `ticket` from the followers of flight `id`.
    pub(crate) fn leave(&mut self, id: FlightId, ticket: u64) -> bool {
        for f in self.map.values_mut() {
            if f.id == id {
                if let Some(pos) = f.followers.iter().position(|t| *t == ticket) {
                    f.followers.remove(pos);
                    return true;
                }
                return false;
            }
        }
        false
    }
}

/// Keys whose last response could not be stored, each with the end of its hit-for-miss
/// window: misses for them are not coalesced until then. Bounded: at the bound, expired
/// marks are dropped, and if none had expired every mark is (coalescing again is the safe
/// side: it costs latency, never a wrong answer).
#[derive(Debug, Default)]
pub(crate) struct Uncacheable {
    map: HashMap<CacheKey, Timestamp, BuildHasherDefault<IdHasher>>,
}

impl Uncacheable {
    /// At most this many keys are remembered.
    pub(crate) const MAX_KEYS: usize = 4096;

    /// Whether `key` is in an unexpired window; drops its mark once expired.
    pub(crate) fn active(&mut self, key: &CacheKey, now: Timestamp) -> bool {
        if self.map.is_empty() {
            return false;
        }
        match self.map.get(key) {
            Some(until) if now < *until => true,
            Some(_) => {
                self.map.remove(key);
                false
            }
            None => false,
        }
    }

    /// Opens (or extends) the window of `key`, from `now` until `until`.
    pub(crate) fn mark(&mut self, key: CacheKey, now: Timestamp, until: Timestamp) {
        if until <= now {
            return;
        }
        if self.map.len() >= Self::MAX_KEYS && !self.map.contains_key(&key) {
            let before = self.map.len();
            self.map.retain(|_, end| *end > now);
            if self.map.len() == before {
                self.map.clear();
            }
        }
        self.map.insert(key, until);
    }

    /// Ends the window of `key` (its response was stored).
    pub(crate) fn clear(&mut self, key: &CacheKey) {
        if !self.map.is_empty() {
            self.map.remove(key);
        }
    }

    /// Keys remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
