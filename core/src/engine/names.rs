//! Interned service / breaker names, so a request to a known service holds a shared `Arc<str>`
//! instead of fresh `String`s.

use std::collections::HashSet;
use std::sync::Arc;

use foldhash::fast::FixedState;

/// Most names kept; past it, new names are allocated per request (and not kept), so a caller
/// that invents names cannot grow the engine without bound.
const MAX_NAMES: usize = 4096;

#[derive(Debug)]
pub(super) struct Names {
    set: HashSet<Arc<str>, FixedState>,
    /// The name handed out last: consecutive requests usually name the same service.
    last: Arc<str>,
    empty: Arc<str>,
}

impl Names {
    pub(super) fn new(seed: u64) -> Self {
        let empty: Arc<str> = Arc::from("");
        Names {
            set: HashSet::with_hasher(FixedState::with_seed(seed)),
            last: Arc::clone(&empty),
            empty,
        }
    }

    /// The shared copy of `name`.
    pub(super) fn get(&mut self, name: &str) -> Arc<str> {
        if crate::metrics::short_str_eq(&self.last, name) {
            return Arc::clone(&self.last);
        }
        let shared = if let Some(n) = self.set.get(name) {
            Arc::clone(n)
        } else {
            let n: Arc<str> = Arc::from(name);
            if self.set.len() < MAX_NAMES {
                self.set.insert(Arc::clone(&n));
            }
            n
        };
        self.last = Arc::clone(&shared);
        shared
    }

    /// The empty name (for requests the engine no longer tracks).
    pub(super) fn empty(&self) -> Arc<str> {
        Arc::clone(&self.empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shared_and_bounded() {
        let mut n = Names::new(1);
        let a = n.get("catalog");
        let b = n.get("orders");
        let a2 = n.get("catalog");
        assert!(Arc::ptr_eq(&a, &a2));
        assert_eq!(&*b, "orders");
        assert_eq!(&*n.get(""), "");
        for i in 0..MAX_NAMES + 10 {
            let s = format!("s{i}");
            assert_eq!(&*n.get(&s), s);
        }
        assert!(n.set.len() <= MAX_NAMES);
        assert!(Arc::ptr_eq(&a, &n.get("catalog")));
    }
}
