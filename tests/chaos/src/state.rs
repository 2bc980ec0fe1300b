//! The server's in-process state: counters, attempt scripts, down switches, ETag versions.
//!
//! Everything is keyed by the `{key}` path segment or the `?key=` query parameter, so tests
//! that use unique keys never see each other's effects even on a shared server.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shared state of one chaos server.
#[derive(Debug, Default)]
pub(crate) struct Chaos {
    /// TCP connections accepted so far.
    connections: AtomicU64,
    /// HTTP requests received so far (every route, preflights and `/count` included).
    requests: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Requests per key (path key or `?key=`) on counted routes.
    hits: HashMap<String, u64>,
    /// Attempts per key on the scripted-failure routes (`/flaky`, `/retry-after*`).
    attempts: HashMap<String, u64>,
    /// Monotonic per-path counters for `/cache/...` and `/vary`.
    counters: HashMap<String, u64>,
    /// Keys switched down, with the status they answer.
    down: HashMap<String, u16>,
    /// Global down switch: every counted route answers this status.
    global_down: Option<u16>,
    /// Keys slowed down, with the delay (ms) added before they are answered.
    slow: HashMap<String, u64>,
    /// Global slow switch: every counted route waits this long (ms) first.
    global_slow: Option<u64>,
    /// ETag versions per key (absent = 1).
    etag_versions: HashMap<String, u64>,
}

impl Chaos {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking handler cannot leave the maps inconsistent (each update is one
        // statement), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn request_received(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Counts one request for each distinct key.
    pub(crate) fn hit<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let distinct: HashSet<&str> = keys.into_iter().collect();
        if distinct.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for key in distinct {
            *inner.hits.entry(key.to_owned()).or_default() += 1;
        }
    }

    pub(crate) fn hits(&self, key: &str) -> u64 {
        self.lock().hits.get(key).copied().unwrap_or(0)
    }

    /// Records one attempt for `key` and returns its 1-based number.
    pub(crate) fn attempt(&self, key: &str) -> u64 {
        let mut inner = self.lock();
        let n = inner.attempts.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    /// Bumps the counter of `path` and returns its new (1-based) value.
    pub(crate) fn bump_counter(&self, path: &str) -> u64 {
        let mut inner = self.lock();
        let n = inner.counters.entry(path.to_owned()).or_default();
        *n += 1;
        *n
    }

    /// The status a request carrying `keys` must answer because something is down.
    pub(crate) fn down_status<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Option<u16> {
        let inner = self.lock();
        if let Some(status) = inner.global_down {
            return Some(status);
        }
        keys.into_iter()
            .find_map(|key| inner.down.get(key).copied())
    }

    pub(crate) fn set_down(&self, key: Option<&str>, status: Option<u16>) {
        let mut inner = self.lock();
        match (key, status) {
            (None, status) => inner.global_down = status,
            (Some(key), Some(status)) => {
                inner.down.insert(key.to_owned(), status);
            }
            (Some(key), None) => {
                inner.down.remove(key);
            }
        }
    }

    /// The delay (ms) a request carrying `keys` waits before it is answered: the largest of
    /// the global switch and the switches of its keys.
    pub(crate) fn slow_ms<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Option<u64> {
        let inner = self.lock();
        keys.into_iter()
            .filter_map(|key| inner.slow.get(key).copied())
            .chain(inner.global_slow)
            .max()
    }

    pub(crate) fn set_slow(&self, key: Option<&str>, ms: Option<u64>) {
        let mut inner = self.lock();
        match (key, ms) {
            (None, ms) => inner.global_slow = ms,
            (Some(key), Some(ms)) => {
                inner.slow.insert(key.to_owned(), ms);
            }
            (Some(key), None) => {
                inner.slow.remove(key);
            }
        }
    }

    pub(crate) fn etag_version(&self, key: &str) -> u64 {
        self.lock().etag_versions.get(key).copied().unwrap_or(1)
    }

    /// Moves the ETag of `key` to its next version and returns it.
    pub(crate) fn bump_etag(&self, key: &str) -> u64 {
        let mut inner = self.lock();
        let v = inner.etag_versions.entry(key.to_owned()).or_insert(1);
        *v += 1;
        *v
    }

    /// Forgets everything: counters, attempts, switches, versions, and the totals.
    pub(crate) fn reset(&self) {
        *self.lock() = Inner::default();
        self.connections.store(0, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
    }
}
