//! A bounded map from service / host name to [`Breaker`].

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use super::{Breaker, BreakerConfig, BreakerEvent, BreakerState};
use crate::{ConfigError, Timestamp};

/// Configuration of a [`BreakerRegistry`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Most breakers kept at once (at least 1). Default 1024.
    pub max_breakers: usize,
    /// Configuration of breakers without an override.
    pub default: BreakerConfig,
    /// Per-name configurations.
    pub overrides: BTreeMap<String, BreakerConfig>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            max_breakers: 1024,
            default: BreakerConfig::default(),
            overrides: BTreeMap::new(),
        }
    }
}

impl RegistryConfig {
    /// Checks `max_breakers` and every breaker configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_breakers == 0 {
            return Err(ConfigError::invalid(
                "breaker_registry.max_breakers",
                "must be at least 1",
            ));
        }
        self.default.validate()?;
        for config in self.overrides.values() {
            config.validate()?;
        }
        Ok(())
    }
}

/// A breaker event tagged with the breaker's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedBreakerEvent {
    /// The registry name (service or host).
    pub name: String,
    /// The event.
    pub event: BreakerEvent,
}

#[derive(Debug)]
struct Entry {
    name: String,
    breaker: Breaker,
    /// Registry tick of the last access (LRU order).
    last_used: u64,
    /// `now` of the last access.
    last_used_at: Timestamp,
    /// Whether the entry is queued in `touched` (it may have events to drain).
    touched: bool,
}

/// Breakers by name, bounded by `max_breakers`.
///
/// When full, creating a breaker evicts the least recently used breaker that admits calls
/// (Closed or Disabled); only if every breaker is Open, HalfOpen or Isolated is the least
/// recently used of those evicted. Eviction is an O(n) scan, paid only when a *new* name
/// arrives at a full registry. Events still queued in an evicted breaker are dropped and counted
/// ([`BreakerRegistry::events_dropped`]); permits it issued become stale (each breaker has its own
/// identity).
///
/// Lookups are one hash of the name (foldhash with a fixed, caller-overridable seed: the core
/// reads no OS randomness). Accessing a breaker through [`BreakerRegistry::get_or_create`] or
/// [`BreakerRegistry::get_mut`] marks it as possibly having events, so
/// [`BreakerRegistry::poll_event`] visits only those breakers.
#[derive(Debug)]
pub struct BreakerRegistry {
    config: RegistryConfig,
    index: HashMap<String, usize, FixedState>,
    /// Entries never shrink: an evicted entry's slot is reused in place.
    entries: Vec<Entry>,
    /// Indices of entries that may have events (each at most once).
    touched: Vec<usize>,
    tick: u64,
    next_id: u64,
    evicted: u64,
    events_dropped: u64,
}

impl BreakerRegistry {
    /// An empty registry with `config` (validated).
    pub fn new(config: RegistryConfig) -> Result<Self, ConfigError> {
        BreakerRegistry::with_hash_seed(config, 0)
    }

    /// An empty registry whose name hashing uses `seed` (e.g. drawn from the frontend's
    /// [`crate::Rng`], to make hash collisions unpredictable).
    pub fn with_hash_seed(config: RegistryConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(BreakerRegistry {
            config,
            index: HashMap::with_hasher(FixedState::with_seed(seed)),
            entries: Vec::new(),
            touched: Vec::new(),
            tick: 0,
            next_id: 1,
            evicted: 0,
            events_dropped: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Number of breakers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no breakers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Breakers evicted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Events lost because their breaker was evicted before they were drained.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// The breaker for `name`, created (with its override or the default config) if absent.
    /// Marks it most recently used. Allocates only when creating.
    pub fn get_or_create(&mut self, now: Timestamp, name: &str) -> &mut Breaker {
        let idx = match self.index.get(name) {
            Some(&idx) => idx,
            None => self.insert(name),
        };
        self.touch(idx, now)
    }

    /// The breaker for `name`, if present, marked most recently used.
    pub fn get_mut(&mut self, now: Timestamp, name: &str) -> Option<&mut Breaker> {
        let idx = *self.index.get(name)?;
        Some(self.touch(idx, now))
    }

    /// The breaker for `name`, if present (does not change LRU order).
    pub fn get(&self, name: &str) -> Option<&Breaker> {
        self.index.get(name).map(|&idx| &self.entries[idx].breaker)
    }

    /// All breakers with their names, in no particular order (e.g. for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Breaker)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.breaker))
    }

    /// When each breaker was last accessed (`now` of the last `get_or_create`/`get_mut`).
    pub fn last_used_at(&self, name: &str) -> Option<Timestamp> {
        self.index
            .get(name)
            .map(|&idx| self.entries[idx].last_used_at)
    }

    /// The earliest deadline over all breakers (O(n); the registry is bounded).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter_map(|e| e.breaker.poll_timeout())
            .min()
    }

    /// Runs `handle_timeout` on every breaker whose deadline is due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        for idx in 0..self.entries.len() {
            let entry = &mut self.entries[idx];
            if entry.breaker.poll_timeout().is_some_and(|d| d <= now) {
                entry.breaker.handle_timeout(now);
                if !entry.touched {
                    entry.touched = true;
                    self.touched.push(idx);
                }
            }
        }
    }

    /// The next event of any breaker accessed since its events were last drained, tagged with
    /// its name. Per breaker, events come out in order.
    pub fn poll_event(&mut self) -> Option<NamedBreakerEvent> {
        while let Some(&idx) = self.touched.last() {
            let entry = &mut self.entries[idx];
            if let Some(event) = entry.breaker.poll_event() {
                return Some(NamedBreakerEvent {
                    name: entry.name.clone(),
                    event,
                });
            }
            entry.touched = false;
            self.touched.pop();
        }
        None
    }

    fn touch(&mut self, idx: usize, now: Timestamp) -> &mut Breaker {
        self.tick += 1;
        let entry = &mut self.entries[idx];
        entry.last_used = self.tick;
        entry.last_used_at = now;
        if !entry.touched {
            entry.touched = true;
            self.touched.push(idx);
        }
        &mut entry.breaker
    }

    fn insert(&mut self, name: &str) -> usize {
        let config = self
            .config
            .overrides
            .get(name)
            .unwrap_or(&self.config.default)
            .clone();
        // Every config was validated in `with_hash_seed`.
        let breaker = Breaker::from_valid(config, self.next_id);
        self.next_id += 1;
        let entry = Entry {
            name: name.to_owned(),
            breaker,
            last_used: 0,
            last_used_at: Timestamp::ZERO,
            touched: false,
        };
        let idx = if self.entries.len() < self.config.max_breakers {
            self.entries.push(entry);
            self.entries.len() - 1
        } else {
            let victim = self.victim();
            let old = std::mem::replace(&mut self.entries[victim], entry);
            self.index.remove(&old.name);
            self.evicted += 1;
            let mut breaker = old.breaker;
            while breaker.poll_event().is_some() {
                self.events_dropped += 1;
            }
            // Keep the queue membership: the slot is still listed in `touched` if it was.
            self.entries[victim].touched = old.touched;
            victim
        };
        self.index.insert(name.to_owned(), idx);
        idx
    }

    /// The entry to evict: least recently used among those admitting calls, else overall.
    fn victim(&self) -> usize {
        self.entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| {
                let busy = !matches!(
                    e.breaker.state(),
                    BreakerState::Closed | BreakerState::Disabled
                );
                (busy, e.last_used)
            })
            .map_or(0, |(idx, _)| idx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{BreakDuration, CallResult, TransitionReason};
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn registry(max: usize) -> BreakerRegistry {
        let default = BreakerConfig {
            consecutive_failures: Some(2),
            ..BreakerConfig::default()
        };
        BreakerRegistry::new(RegistryConfig {
            max_breakers: max,
            default,
            overrides: BTreeMap::new(),
        })
        .unwrap()
    }

    fn trip(reg: &mut BreakerRegistry, name: &str, now: Timestamp) {
        for _ in 0..2 {
            let b = reg.get_or_create(now, name);
            let p = b.try_acquire(now).unwrap();
            b.on_result(now, p, CallResult::failure(Duration::from_millis(1)));
        }
        assert_eq!(reg.get(name).unwrap().state(), BreakerState::Open);
    }

    #[test]
    fn creates_and_reuses() {
        let mut reg = registry(4);
        assert!(reg.is_empty());
        let p = reg.get_or_create(t(0), "a").try_acquire(t(0)).unwrap();
        reg.get_or_create(t(1), "a")
            .on_result(t(1), p, CallResult::failure(Duration::ZERO));
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.get("a").unwrap().failure_count(), 1);
        assert_eq!(reg.last_used_at("a"), Some(t(1)));
        assert!(reg.get("b").is_none());
        assert!(reg.get_mut(t(1), "b").is_none());
    }

    #[test]
    fn lru_evicts_closed_before_open() {
        let mut reg = registry(3);
        trip(&mut reg, "open-old", t(0)); // oldest, but Open
        reg.get_or_create(t(1), "closed-1");
        reg.get_or_create(t(2), "closed-2");
        reg.get_or_create(t(3), "closed-1"); // closed-2 is now the LRU Closed one
        reg.get_or_create(t(4), "new");
        assert_eq!(reg.len(), 3);
        assert_eq!(reg.evicted(), 1);
        assert!(reg.get("closed-2").is_none());
        assert!(reg.get("open-old").is_some());
        assert!(reg.get("closed-1").is_some());
        assert!(reg.get("new").is_some());
    }

    #[test]
    fn evicts_open_only_when_unavoidable() {
        let mut reg = registry(2);
        trip(&mut reg, "a", t(0));
        trip(&mut reg, "b", t(1));
        reg.get_or_create(t(2), "c");
        assert!(
            reg.get("a").is_none(),
            "least recently used Open breaker goes"
        );
        assert!(reg.get("b").is_some());
        assert_eq!(reg.get("c").unwrap().state(), BreakerState::Closed);
        // a's undrained Closed → Open event was lost with it, and counted.
        assert_eq!(reg.events_dropped(), 1);
    }

    #[test]
    fn stale_permit_after_eviction_and_recreation() {
        let mut reg = registry(1);
        let p = reg.get_or_create(t(0), "a").try_acquire(t(0)).unwrap();
        reg.get_or_create(t(1), "b"); // evicts a
        let a = reg.get_or_create(t(2), "a"); // a fresh "a", evicting b
        a.on_result(t(2), p, CallResult::failure(Duration::ZERO));
        assert_eq!(a.failure_count(), 0);
        assert_eq!(a.snapshot(t(2)).stale_results, 1);
    }

    #[test]
    fn overrides_apply_per_name() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "fragile".to_owned(),
            BreakerConfig {
                consecutive_failures: Some(1),
                break_duration: BreakDuration::Constant(Duration::from_secs(5)),
                ..BreakerConfig::default()
            },
        );
        let mut reg = BreakerRegistry::new(RegistryConfig {
            overrides,
            ..RegistryConfig::default()
        })
        .unwrap();
        let b = reg.get_or_create(t(0), "fragile");
        let p = b.try_acquire(t(0)).unwrap();
        b.on_result(t(0), p, CallResult::failure(Duration::ZERO));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.poll_timeout(), Some(t(5)));
        let b = reg.get_or_create(t(0), "sturdy");
        let p = b.try_acquire(t(0)).unwrap();
        b.on_result(t(0), p, CallResult::failure(Duration::ZERO));
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.config().consecutive_failures, Some(5));
    }

    #[test]
    fn timeouts_and_named_events() {
        let mut reg = registry(8);
        assert_eq!(reg.poll_timeout(), None);
        trip(&mut reg, "a", t(0));
        trip(&mut reg, "b", t(10));
        reg.get_or_create(t(10), "c");
        assert_eq!(reg.poll_timeout(), Some(t(60)));
        let mut names: Vec<(String, TransitionReason)> = Vec::new();
        while let Some(ev) = reg.poll_event() {
            let BreakerEvent::StateChanged { reason, to, .. } = ev.event;
            assert_eq!(to, BreakerState::Open);
            names.push((ev.name, reason));
        }
        names.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            names,
            vec![
                ("a".to_owned(), TransitionReason::ConsecutiveFailures),
                ("b".to_owned(), TransitionReason::ConsecutiveFailures)
            ]
        );
        assert!(reg.poll_event().is_none());

        reg.handle_timeout(t(59));
        assert!(reg.poll_event().is_none());
        reg.handle_timeout(t(60));
        assert_eq!(reg.get("a").unwrap().state(), BreakerState::HalfOpen);
        assert_eq!(reg.get("b").unwrap().state(), BreakerState::Open);
        let ev = reg.poll_event().unwrap();
        assert_eq!(ev.name, "a");
        assert_eq!(
            ev.event,
            BreakerEvent::StateChanged {
                from: BreakerState::Open,
                to: BreakerState::HalfOpen,
                at: t(60),
                reason: TransitionReason::BreakElapsed
            }
        );
        assert!(reg.poll_event().is_none());
        // a has no deadline in HalfOpen without probes; b's break ends at 70.
        assert_eq!(reg.poll_timeout(), Some(t(70)));
    }

    #[test]
    fn config_validation_and_serde() {
        assert!(
            BreakerRegistry::new(RegistryConfig {
                max_breakers: 0,
                ..RegistryConfig::default()
            })
            .is_err()
        );
        let mut bad = RegistryConfig::default();
        bad.overrides.insert(
            "x".into(),
            BreakerConfig {
                half_open_probes: 0,
                ..BreakerConfig::default()
            },
        );
        assert!(bad.validate().is_err());
        let cfg: RegistryConfig = serde_json::from_str(
            r#"{"max_breakers": 2, "overrides": {"svc": {"consecutive_failures": 3}}}"#,
        )
        .unwrap();
        assert_eq!(cfg.max_breakers, 2);
        assert_eq!(cfg.overrides["svc"].consecutive_failures, Some(3));
        assert_eq!(cfg.overrides["svc"].half_open_probes, 1);
    }
}
