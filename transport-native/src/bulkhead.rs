//! [`Bulkhead`]: a bounded number of slots per origin, so that one slow or dead host can hold
//! at most its own slots and never delays work for another host.
//!
//! A slot is an [`OwnedSemaphorePermit`] of the origin's semaphore: whoever holds it (an
//! attempt's future, a blocking job, an open connection) gives it back by dropping it, so a
//! cancelled or timed-out attempt frees its slot at once. Origins are `(scheme, host, port)`
//! with the default port filled in and the host compared case-insensitively. The table forgets
//! origins nobody holds or waits for once it tracks [`MAX_TRACKED`] of them, so it stays
//! bounded however many hosts a process talks to.
//!
//! It is on every attempt's path, so a lookup neither allocates nor clones: the origin is read
//! from the URI in place, hashed once (foldhash) and compared against the stored entries.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use http::Uri;
use http::uri::Scheme;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Origins tracked before idle ones are forgotten.
pub(crate) const MAX_TRACKED: usize = 1024;

/// An origin, borrowed from a URI: TLS or not, the host as written (compared
/// case-insensitively) and the port, the scheme's default when absent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
}

impl<'a> Origin<'a> {
    /// The origin of an absolute `http`/`https` URI (`None` otherwise).
    pub(crate) fn of(uri: &'a Uri) -> Option<Origin<'a>> {
        let scheme = uri.scheme()?;
        let tls = if *scheme == Scheme::HTTPS {
            true
        } else if *scheme == Scheme::HTTP {
            false
        } else {
            return None;
        };
        let (host, port) = split_authority(uri.authority()?.as_str())?;
        Some(Origin {
            tls,
            host,
            port: port.unwrap_or(if tls { 443 } else { 80 }),
        })
    }

    /// Whether two URIs share an origin (both must be absolute `http`/`https` URIs).
    pub(crate) fn same(a: &Uri, b: &Uri) -> bool {
        matches!((Origin::of(a), Origin::of(b)), (Some(x), Some(y)) if x.same_as(&y))
    }

    fn same_as(&self, other: &Origin<'_>) -> bool {
        self.tls == other.tls
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(other.host)
    }

    fn hash(&self) -> u64 {
        let mut hasher = FixedState::default().build_hasher();
        hasher.write_u32(u32::from(self.port) << 1 | u32::from(self.tls));
        if self.host.bytes().any(|b| b.is_ascii_uppercase()) {
            let lower = self.host.to_ascii_lowercase();
            hasher.write(lower.as_bytes());
        } else {
            hasher.write(self.host.as_bytes());
        }
        hasher.finish()
    }
}

/// `[userinfo@]host[:port]` → `(host, port)`; `None` for an empty host or a bad port.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let bytes = authority.as_bytes();
    let start = bytes
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |at| at + 1);
    let hostport = &authority[start..];
    let host_end = if hostport.starts_with('[') {
        hostport.find(']')? + 1
    } else {
        hostport.rfind(':').unwrap_or(hostport.len())
    };
    let (host, rest) = hostport.split_at(host_end);
    let port = match rest {
        "" => None,
        _ => Some(rest.strip_prefix(':')?.parse::<u16>().ok()?),
    };
    (!host.is_empty()).then_some((host, port))
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
    origins: Mutex<HashTable<Entry>>,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    tls: bool,
    host: Box<str>,
    port: u16,
    semaphore: Arc<Semaphore>,
}

impl Bulkhead {
    pub(crate) fn new(per_origin: usize) -> Self {
        Bulkhead {
            per_origin: per_origin.clamp(1, Semaphore::MAX_PERMITS),
            origins: Mutex::new(HashTable::new()),
        }
    }

    /// A slot of `origin` if one is free now, else the semaphore to wait on.
    pub(crate) fn try_take(&self, origin: Origin<'_>) -> Slot {
        let semaphore = self.semaphore(origin);
        match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => Slot::Taken(permit),
            // The semaphores are never closed, so `Closed` cannot happen; waiting on it would
            // report it as a closed transport rather than panic.
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Slot::Full(semaphore),
        }
    }

    /// Free slots of `origin` right now.
    pub(crate) fn available(&self, origin: Origin<'_>) -> usize {
        let hash = origin.hash();
        self.lock()
            .find(hash, |e| e.matches(hash, origin))
            .map_or(self.per_origin, |e| e.semaphore.available_permits())
    }

    fn semaphore(&self, origin: Origin<'_>) -> Arc<Semaphore> {
        let hash = origin.hash();
        let mut origins = self.lock();
        if let Some(entry) = origins.find(hash, |e| e.matches(hash, origin)) {
            return Arc::clone(&entry.semaphore);
        }
        if origins.len() >= MAX_TRACKED {
            // Held or awaited semaphores have clones (permits, waiters) and stay.
            origins.retain(|e| Arc::strong_count(&e.semaphore) > 1);
        }
        let semaphore = Arc::new(Semaphore::new(self.per_origin));
        origins.insert_unique(
            hash,
            Entry {
                hash,
                tls: origin.tls,
                host: origin.host.to_ascii_lowercase().into_boxed_str(),
                port: origin.port,
                semaphore: Arc::clone(&semaphore),
            },
            |e| e.hash,
        );
        semaphore
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashTable<Entry>> {
        // Every update is a single table operation: a poisoned lock still holds a valid table.
        self.origins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

impl Entry {
    fn matches(&self, hash: u64, origin: Origin<'_>) -> bool {
        self.hash == hash
            && self.tls == origin.tls
            && self.port == origin.port
            && self.host.eq_ignore_ascii_case(origin.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(url: &str) -> Uri {
        url.parse().unwrap()
    }

    fn same(a: &str, b: &str) -> bool {
        Origin::same(&uri(a), &uri(b))
    }

    #[test]
    fn origins_fill_in_default_ports_and_ignore_case() {
        assert!(same("http://Example.com/a", "http://example.com:80/b"));
        assert!(same("https://h/", "https://h:443/"));
        assert!(same("http://user:pw@h/", "http://h/"));
        assert!(same("http://[::1]:8080/", "http://[::1]:8080/x"));
        assert!(!same("http://h/", "https://h/"));
        assert!(!same("http://h:8080/", "http://h:8081/"));
        assert!(!same("http://h:443/", "https://h/"));
        assert!(!same("http://[::1]/", "http://[::2]/"));
        assert!(Origin::of(&uri("/relative")).is_none());
        assert!(Origin::of(&uri("ftp://h/x")).is_none());
        let (mixed, lower) = (uri("http://MiXeD.test/"), uri("http://mixed.test:80/"));
        let a = Origin::of(&mixed).unwrap();
        let b = Origin::of(&lower).unwrap();
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn authorities_are_split_like_the_http_crate() {
        assert_eq!(split_authority("h"), Some(("h", None)));
        assert_eq!(split_authority("h:81"), Some(("h", Some(81))));
        assert_eq!(split_authority("u:p@h:81"), Some(("h", Some(81))));
        assert_eq!(split_authority("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_authority("[::1]:9"), Some(("[::1]", Some(9))));
        assert_eq!(split_authority(":80"), None);
        assert_eq!(split_authority("h:99999"), None);
        assert_eq!(split_authority("[::1"), None);
    }

    #[test]
    fn each_origin_has_its_own_slots_and_dropping_frees_them() {
        let bulkhead = Bulkhead::new(2);
        let (slow_uri, healthy_uri) = (uri("http://slow:1/"), uri("http://healthy:1/"));
        let slow = Origin::of(&slow_uri).unwrap();
        let healthy = Origin::of(&healthy_uri).unwrap();
        let a = bulkhead.try_take(slow);
        let b = bulkhead.try_take(slow);
        assert!(matches!(a, Slot::Taken(_)));
        assert!(matches!(b, Slot::Taken(_)));
        assert!(matches!(bulkhead.try_take(slow), Slot::Full(_)));
        assert_eq!(bulkhead.available(slow), 0);
        // Another host is not affected.
        assert!(matches!(bulkhead.try_take(healthy), Slot::Taken(_)));
        drop(a);
        assert_eq!(bulkhead.available(slow), 1);
        let upper = uri("http://SLOW:1/x");
        assert!(matches!(
            bulkhead.try_take(Origin::of(&upper).unwrap()),
            Slot::Taken(_)
        ));
        drop(b);
    }

    #[test]
    fn the_table_forgets_idle_origins_but_keeps_held_ones() {
        let bulkhead = Bulkhead::new(1);
        let held_uri = uri("http://held/");
        let held_origin = Origin::of(&held_uri).unwrap();
        let Slot::Taken(held) = bulkhead.try_take(held_origin) else {
            panic!("a fresh origin has a slot");
        };
        for i in 0..(MAX_TRACKED * 3) {
            let u = uri(&format!("http://h{i}/"));
            let _ = bulkhead.try_take(Origin::of(&u).unwrap());
        }
        assert!(
            bulkhead.tracked() <= MAX_TRACKED + 1,
            "{}",
            bulkhead.tracked()
        );
        // The held origin's slot is still taken: it was not forgotten.
        assert!(matches!(bulkhead.try_take(held_origin), Slot::Full(_)));
        drop(held);
        assert!(matches!(bulkhead.try_take(held_origin), Slot::Taken(_)));
    }
}
