//! (C) Commands: what an application asks of the engine outside any request — cache
//! invalidation, breaker overrides, alert rule changes, service registration.
//!
//! Each command queues the events it causes (a breaker forced open emits its state change), so
//! the drain contract stays the same as for inputs: call, then drain [`Engine::poll_output`].
//! There is no `&mut` access to the machines themselves: a change made behind the engine's
//! back would skip that bookkeeping.

use http::Uri;

use super::Engine;
use crate::alerts::AlertRule;
use crate::cache::CacheKey;
use crate::{ConfigError, Request, Timestamp};

/// (C) Commands. After each, drain [`Engine::poll_output`].
impl Engine {
    /// Drops every cached response; returns how many. Fetches in flight still complete (and
    /// may store their response).
    pub fn invalidate_cache(&mut self) -> usize {
        self.cache.invalidate_all()
    }

    /// Drops every cached response of the request's URL (all methods, variants and credential
    /// partitions); returns how many.
    pub fn invalidate_cache_url(&mut self, uri: &Uri) -> usize {
        self.cache.invalidate_url(uri)
    }

    /// Drops every cached response whose normalised URL starts with `prefix` (lower-case scheme
    /// and host, default port elided, no userinfo or credential parameters, e.g.
    /// `https://api.example.com/v1/`); returns how many.
    pub fn invalidate_cache_prefix(&mut self, prefix: &str) -> usize {
        self.cache.invalidate_prefix(prefix)
    }

    /// Drops the cached response `request` would be served (same method, URL, varying headers
    /// and credentials); returns whether there was one.
    pub fn invalidate_cache_entry(&mut self, request: &Request) -> bool {
        let key: CacheKey = self.cache.key_for(request);
        self.cache.invalidate_key(key)
    }

    /// Drops cached responses that can no longer be used at `now` (stale past every stale
    /// window, without validators); returns how many. Optional: expired entries are also
    /// replaced as the cache fills.
    pub fn purge_expired_cache(&mut self, now: Timestamp) -> usize {
        self.cache.purge_expired(now)
    }

    /// Forces the breaker `name` (a service, or `host:port`) open until
    /// [`reset_breaker`](Self::reset_breaker): every request to it is refused. Creates the
    /// breaker if it does not exist yet.
    pub fn isolate_breaker(&mut self, now: Timestamp, name: &str) {
        self.breakers.get_or_create(now, name).isolate(now);
        self.pump_events(now);
    }

    /// Closes the breaker `name` and clears its failure history (also ends an isolation or a
    /// disable). No-op for a breaker that does not exist.
    pub fn reset_breaker(&mut self, now: Timestamp, name: &str) {
        if let Some(b) = self.breakers.get_mut(now, name) {
            b.reset(now);
        }
        self.pump_events(now);
    }

    /// Turns the breaker `name` off: every request passes and it never trips (it still counts
    /// failures for snapshots) until [`enable_breaker`](Self::enable_breaker) or
    /// [`reset_breaker`](Self::reset_breaker).
    /// Creates the breaker if it does not exist yet.
    pub fn disable_breaker(&mut self, now: Timestamp, name: &str) {
        self.breakers.get_or_create(now, name).disable(now);
        self.pump_events(now);
    }

    /// Turns a disabled breaker `name` back on, closed. No-op otherwise.
    pub fn enable_breaker(&mut self, now: Timestamp, name: &str) {
        if let Some(b) = self.breakers.get_mut(now, name) {
            b.enable(now);
        }
        self.pump_events(now);
    }

    /// Replaces the alert rules (validated first; on error nothing changes). Alerts of rules
    /// that keep their name continue; alerts of removed rules resolve at the next evaluation.
    pub fn set_alert_rules(&mut self, rules: Vec<AlertRule>) -> Result<(), ConfigError> {
        self.alerts.set_rules(rules)
    }

    /// Sets the threshold of the alert rule named `rule`. Firing alerts keep the threshold they
    /// fired with; the new one applies from the next evaluation.
    pub fn set_alert_threshold(&mut self, rule: &str, threshold: f64) -> Result<(), ConfigError> {
        self.alerts.set_threshold(rule, threshold)
    }

    /// Enables or disables the alert rule named `rule`; a disabled rule's alerts resolve at
    /// the next evaluation.
    pub fn set_alert_enabled(&mut self, rule: &str, enabled: bool) -> Result<(), ConfigError> {
        self.alerts.set_enabled(rule, enabled)
    }

    /// Makes `service` appear in metrics (and exports) before its first request. Returns
    /// `false` when the metrics registry is full and the service is counted under the overflow
    /// name instead.
    pub fn register_service(&mut self, service: &str) -> bool {
        self.metrics.register(service)
    }
}
