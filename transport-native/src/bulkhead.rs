//! [`Bulkhead`]: a bounded number of slots per origin, so that one slow or dead host can hold
//! at most its own slots and never delays work for another host.
//!
//! A slot is an [`OwnedSemaphorePermit`] of the origin's semaphore: whoever holds it (an
//! attempt's future, a blocking job, an open connection) gives it back by dropping it, so a
//! cancelled or timed-out attempt frees its slot at once. Origins are `(scheme, host, port)`
//! with the default port filled in and the host compared case-insensitively. The table forgets
//! origins nobody holds or waits for once it tracks [`MAX_TRACKED`] of them, so it stays
//! bounded however many hosts a process talks to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::Uri;
use http::uri::{Authority, Scheme};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Origins tracked before idle ones are forgotten.
pub(crate) const MAX_TRACKED: usize = 1024;

/// An origin: TLS or not, and the authority with its port spelled out only when it is not
/// the scheme's default (so `http://h` and `http://h:80` are one origin).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    tls: bool,
    authority: Authority,
}

impl Origin {
    /// The origin of an absolute URI (`None` without a scheme or an authority).
    pub(crate) fn of(uri: &Uri) -> Option<Origin> {
        let tls = uri.scheme()? == &Scheme::HTTPS;
        let authority = uri.authority()?;
        let default = if tls { 443 } else { 80 };
        let authority = if authority.port_u16() == Some(default) {
            authority.host().parse().ok()?
        } else {
            authority.clone()
        };
        Some(Origin { tls, authority })
    }

    /// Whether two URIs share an origin (both must be absolute).
    pub(crate) fn same(a: &Uri, b: &Uri) -> bool {
        matches!((Origin::of(a), Origin::of(b)), (Some(x), Some(y)) if x == y)
    }
}

/// The result of asking for a slot without waiting.
pub(crate) enum Slot {
    /// A slot, held until dropped.
    Taken(OwnedSemaphorePermit),
    /// None free now: wait on this semaphore (`acquire_owned`), within a deadline.
    Full(Arc<Semaphore>),
}

/// `per_origin` slots for every origin.
#[derive(Debug)]
pub(crate) struct Bulkhead {
    per_origin: usize,
    origins: Mutex<HashMap<Origin, Arc<Semaphore>>>,
}

impl Bulkhead {
    pub(crate) fn new(per_origin: usize) -> Self {
        Bulkhead {
            per_origin: per_origin.clamp(1, Semaphore::MAX_PERMITS),
            origins: Mutex::new(HashMap::new()),
        }
    }

    /// A slot of `origin` if one is free now, else the semaphore to wait on.
    pub(crate) fn try_take(&self, origin: &Origin) -> Slot {
        let semaphore = self.semaphore(origin);
        match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => Slot::Taken(permit),
            // The semaphores are never closed, so `Closed` cannot happen; waiting on it would
            // report it as a closed transport rather than panic.
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Slot::Full(semaphore),
        }
    }

    /// Free slots of `origin` right now.
    pub(crate) fn available(&self, origin: &Origin) -> usize {
        self.lock()
            .get(origin)
            .map_or(self.per_origin, |s| s.available_permits())
    }

    fn semaphore(&self, origin: &Origin) -> Arc<Semaphore> {
        let mut origins = self.lock();
        if let Some(semaphore) = origins.get(origin) {
            return Arc::clone(semaphore);
        }
        if origins.len() >= MAX_TRACKED {
            // Held or awaited semaphores have clones (permits, waiters) and stay.
            origins.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
        }
        let semaphore = Arc::new(Semaphore::new(self.per_origin));
        origins.insert(origin.clone(), Arc::clone(&semaphore));
        semaphore
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Arc<Semaphore>>> {
        // Every update is a single map operation: a poisoned lock still holds a valid map.
        self.origins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::of(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn origins_fill_in_default_ports_and_ignore_case() {
        assert_eq!(
            origin("http://Example.com/a"),
            origin("http://example.com:80/b")
        );
        assert_eq!(origin("https://h/"), origin("https://h:443/"));
        assert_ne!(origin("http://h/"), origin("https://h/"));
        assert_ne!(origin("http://h:8080/"), origin("http://h:8081/"));
        assert_ne!(origin("http://h:443/"), origin("https://h/"));
        assert!(Origin::of(&"/relative".parse().unwrap()).is_none());
        let a: Uri = "http://H:80/x".parse().unwrap();
        let b: Uri = "http://h/y?z".parse().unwrap();
        let c: Uri = "https://h/y".parse().unwrap();
        assert!(Origin::same(&a, &b));
        assert!(!Origin::same(&a, &c));
    }

    #[test]
    fn each_origin_has_its_own_slots_and_dropping_frees_them() {
        let bulkhead = Bulkhead::new(2);
        let slow = origin("http://slow:1/");
        let healthy = origin("http://healthy:1/");
        let a = bulkhead.try_take(&slow);
        let b = bulkhead.try_take(&slow);
        assert!(matches!(a, Slot::Taken(_)));
        assert!(matches!(b, Slot::Taken(_)));
        assert!(matches!(bulkhead.try_take(&slow), Slot::Full(_)));
        assert_eq!(bulkhead.available(&slow), 0);
        // Another host is not affected.
        assert!(matches!(bulkhead.try_take(&healthy), Slot::Taken(_)));
        drop(a);
        assert_eq!(bulkhead.available(&slow), 1);
        assert!(matches!(bulkhead.try_take(&slow), Slot::Taken(_)));
        drop(b);
    }

    #[test]
    fn the_table_forgets_idle_origins_but_keeps_held_ones() {
        let bulkhead = Bulkhead::new(1);
        let held = match bulkhead.try_take(&origin("http://held/")) {
            Slot::Taken(permit) => permit,
            Slot::Full(_) => panic!("a fresh origin has a slot"),
        };
        for i in 0..(MAX_TRACKED * 3) {
            let _ = bulkhead.try_take(&origin(&format!("http://h{i}/")));
        }
        assert!(
            bulkhead.tracked() <= MAX_TRACKED + 1,
            "{}",
            bulkhead.tracked()
        );
        // The held origin's slot is still taken: it was not forgotten.
        assert!(matches!(
            bulkhead.try_take(&origin("http://held/")),
            Slot::Full(_)
        ));
        drop(held);
        assert!(matches!(
            bulkhead.try_take(&origin("http://held/")),
            Slot::Taken(_)
        ));
    }
}
