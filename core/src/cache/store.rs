//! An O(1) LRU store bounded by entry count **and** total bytes.
//!
//! Entries live in a slab (`Vec` of slots, recycled through a free list) threaded by two
//! intrusive doubly linked lists: the recency list (most recent at `head`) and, per URL id, a
//! chain of all entries of one URL (for RFC 9111 §4.4 invalidation). A `HashMap` maps keys to
//! slot indices; keys are already seeded hashes, so the map uses an identity hasher. Lookups
//! and touches never allocate; inserts allocate only when the slab or maps grow.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::key::CacheKey;

const NIL: u32 = u32::MAX;

/// Identity hasher for values that are already uniformly distributed hashes.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 ^= i;
    }
    fn write_u128(&mut self, i: u128) {
        self.0 ^= (i as u64) ^ ((i >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K> = HashMap<K, u32, BuildHasherDefault<IdHasher>>;

#[derive(Debug)]
struct Slot<V> {
    key: CacheKey,
    value: Option<V>,
    size: usize,
    url_id: u64,
    prev: u32,
    next: u32,
    url_prev: u32,
    url_next: u32,
}

/// The LRU store. `V` is the entry type (generic so the store can be model-tested alone).
#[derive(Debug)]
pub(crate) struct Store<V> {
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    map: IdMap<CacheKey>,
    urls: IdMap<u64>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    len: usize,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    max_entry_bytes: usize,
}

impl<V> Store<V> {
    /// A store with the given bounds; `max_entries` must be below `u32::MAX` (validated by the
    /// config).
    pub(crate) fn new(max_entries: usize, max_bytes: usize, max_entry_bytes: usize) -> Self {
        let cap = max_entries.min(1024);
        Store {
            slots: Vec::with_capacity(cap),
            free: Vec::new(),
            map: IdMap::with_capacity_and_hasher(cap, BuildHasherDefault::default()),
            urls: IdMap::with_capacity_and_hasher(cap, BuildHasherDefault::default()),
            head: NIL,
            tail: NIL,
            len: 0,
            bytes: 0,
            max_entries,
            max_bytes,
            max_entry_bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn find(&self, key: &CacheKey) -> Option<u32> {
        self.map.get(key).copied()
    }

    /// The value in an occupied slot.
    pub(crate) fn get(&self, idx: u32) -> &V {
        self.slots[idx as usize]
            .value
            .as_ref()
            // Invariant: indices handed out by `find` point at occupied slots.
            .expect("store index points at an occupied slot")
    }

    /// Marks a slot most recently used.
    pub(crate) fn touch(&mut self, idx: u32) {
        if self.head == idx {
            return;
        }
        self.unlink(idx);
        self.push_front(idx);
    }

    /// Inserts (or replaces) `key`. Evicts least recently used entries until both bounds hold.
    /// Returns the number of evictions, or gives the value back when it can never fit.
    pub(crate) fn insert(
        &mut self,
        key: CacheKey,
        value: V,
        size: usize,
        url_id: u64,
    ) -> Result<usize, V> {
        if size > self.max_entry_bytes || size > self.max_bytes || self.max_entries == 0 {
            return Err(value);
        }
        if let Some(idx) = self.find(&key) {
            self.remove_idx(idx);
        }
        let mut evicted = 0;
        while self.tail != NIL
            && (self.len + 1 > self.max_entries || self.bytes + size > self.max_bytes)
        {
            self.remove_idx(self.tail);
            evicted += 1;
        }
        let slot = Slot {
            key,
            value: Some(value),
            size,
            url_id,
            prev: NIL,
            next: NIL,
            url_prev: NIL,
            url_next: NIL,
        };
        let idx = if let Some(i) = self.free.pop() {
            self.slots[i as usize] = slot;
            i
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        self.push_front(idx);
        // URL chain: new node at the front.
        if let Some(&h) = self.urls.get(&url_id) {
            self.slots[idx as usize].url_next = h;
            self.slots[h as usize].url_prev = idx;
        }
        self.urls.insert(url_id, idx);
        self.map.insert(key, idx);
        self.len += 1;
        self.bytes += size;
        Ok(evicted)
    }

    pub(crate) fn remove(&mut self, key: &CacheKey) -> Option<V> {
        let idx = self.find(key)?;
        Some(self.remove_idx(idx))
    }

    /// Removes every entry with this URL id; returns how many.
    pub(crate) fn remove_url(&mut self, url_id: u64) -> usize {
        let mut n = 0;
        while let Some(&h) = self.urls.get(&url_id) {
            self.remove_idx(h);
            n += 1;
        }
        n
    }

    /// Removes entries for which `keep` is false; returns how many.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&CacheKey, &V) -> bool) -> usize {
        let mut n = 0;
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            let drop_it = match &slot.value {
                Some(v) => !keep(&slot.key, v),
                None => false,
            };
            if drop_it {
                self.remove_idx(i as u32);
                n += 1;
            }
        }
        n
    }

    pub(crate) fn clear(&mut self) -> usize {
        let n = self.len;
        self.slots.clear();
        self.free.clear();
        self.map.clear();
        self.urls.clear();
        self.head = NIL;
        self.tail = NIL;
        self.len = 0;
        self.bytes = 0;
        n
    }

    /// Keys from least to most recently used.
    #[cfg(test)]
    pub(crate) fn keys_lru(&self) -> Vec<CacheKey> {
        let mut out = Vec::new();
        let mut i = self.tail;
        while i != NIL {
            out.push(self.slots[i as usize].key);
            i = self.slots[i as usize].prev;
        }
        out
    }

    fn remove_idx(&mut self, idx: u32) -> V {
        self.unlink(idx);
        let (url_id, url_prev, url_next) = {
            let s = &self.slots[idx as usize];
            (s.url_id, s.url_prev, s.url_next)
        };
        if url_prev == NIL {
            if url_next == NIL {
                self.urls.remove(&url_id);
            } else {
                self.urls.insert(url_id, url_next);
            }
        } else {
            self.slots[url_prev as usize].url_next = url_next;
        }
        if url_next != NIL {
            self.slots[url_next as usize].url_prev = url_prev;
        }
        let slot = &mut self.slots[idx as usize];
        slot.url_prev = NIL;
        slot.url_next = NIL;
        self.map.remove(&slot.key);
        self.len -= 1;
        self.bytes -= slot.size;
        slot.size = 0;
        self.free.push(idx);
        slot.value
            .take()
            // Invariant: only occupied slots are linked and reachable.
            .expect("removing an occupied slot")
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn push_front(&mut self, idx: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[idx as usize];
            s.prev = NIL;
            s.next = old;
        }
        if old == NIL {
            self.tail = idx;
        } else {
            self.slots[old as usize].prev = idx;
        }
        self.head = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn k(i: u64) -> CacheKey {
        CacheKey::from_u128(u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
    }

    #[test]
    fn evicts_by_count_in_lru_order() {
        let mut s = Store::new(3, 1000, 1000);
        for i in 0..3 {
            assert_eq!(s.insert(k(i), i, 10, 0), Ok(0));
        }
        let idx = s.find(&k(0)).unwrap();
        s.touch(idx);
        assert_eq!(s.insert(k(3), 3, 10, 0), Ok(1));
        assert!(s.find(&k(1)).is_none(), "1 was least recently used");
        assert_eq!(s.keys_lru(), vec![k(2), k(0), k(3)]);
        assert_eq!((s.len(), s.bytes()), (3, 30));
    }

    #[test]
    fn evicts_by_bytes_and_rejects_oversized() {
        let mut s = Store::new(100, 100, 60);
        assert_eq!(s.insert(k(1), 1, 40, 0), Ok(0));
        assert_eq!(s.insert(k(2), 2, 40, 0), Ok(0));
        assert_eq!(
            s.insert(k(3), 3, 50, 0),
            Ok(1),
            "40+40+50 > 100, 40+50 fits"
        );
        assert_eq!(s.bytes(), 90);
        assert_eq!(
            s.insert(k(5), 5, 60, 0),
            Ok(2),
            "needs both evicted: 90+60 > 100, 50+60 > 100"
        );
        assert_eq!(s.bytes(), 60);
        assert_eq!(s.insert(k(4), 4, 61, 0), Err(4));
        assert_eq!(s.len(), 1);
        // Replacement is not an eviction and updates the size.
        assert_eq!(s.insert(k(5), 55, 10, 0), Ok(0));
        assert_eq!(
            (s.len(), s.bytes(), *s.get(s.find(&k(5)).unwrap())),
            (1, 10, 55)
        );
    }

    #[test]
    fn url_chains() {
        let mut s = Store::new(10, 1000, 1000);
        for i in 0..6 {
            s.insert(k(i), i, 1, i % 2).unwrap();
        }
        s.remove(&k(2));
        assert_eq!(s.remove_url(0), 2);
        assert_eq!(s.keys_lru(), vec![k(1), k(3), k(5)]);
        assert_eq!(s.remove_url(0), 0);
        assert_eq!(s.remove_url(1), 3);
        assert_eq!((s.len(), s.bytes()), (0, 0));
        // Slots are recycled.
        s.insert(k(9), 9, 1, 7).unwrap();
        assert_eq!(s.slots.len(), 6);
        assert_eq!(s.retain(|_, v| *v != 9), 1);
        assert_eq!(s.clear(), 0);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, usize, u8),
        Get(u8),
        Remove(u8),
        RemoveUrl(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..24, 1usize..70, 0u8..4).prop_map(|(k, s, u)| Op::Insert(k, s, u)),
            3 => (0u8..24).prop_map(Op::Get),
            1 => (0u8..24).prop_map(Op::Remove),
            1 => (0u8..4).prop_map(Op::RemoveUrl),
        ]
    }

    proptest! {
        #[test]
        fn lru_matches_reference_model(
            max_entries in 1usize..10,
            max_bytes in 50usize..300,
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let max_entry = 64;
            let mut s: Store<u8> = Store::new(max_entries, max_bytes, max_entry);
            // Model: (key, size, url), least recently used first.
            let mut m: Vec<(u8, usize, u8)> = Vec::new();
            for o in ops {
                match o {
                    Op::Insert(key, size, url) => {
                        let r = s.insert(k(u64::from(key)), key, size, u64::from(url));
                        if size > max_entry || size > max_bytes {
                            prop_assert_eq!(r, Err(key));
                        } else {
                            m.retain(|e| e.0 != key);
                            let mut ev = 0;
                            while !m.is_empty()
                                && (m.len() + 1 > max_entries
                                    || m.iter().map(|e| e.1).sum::<usize>() + size > max_bytes)
                            {
                                m.remove(0);
                                ev += 1;
                            }
                            m.push((key, size, url));
                            prop_assert_eq!(r, Ok(ev));
                        }
                    }
                    Op::Get(key) => {
                        let found = s.find(&k(u64::from(key)));
                        let pos = m.iter().position(|e| e.0 == key);
                        prop_assert_eq!(found.is_some(), pos.is_some());
                        if let (Some(idx), Some(p)) = (found, pos) {
                            prop_assert_eq!(*s.get(idx), key);
                            s.touch(idx);
                            let e = m.remove(p);
                            m.push(e);
                        }
                    }
                    Op::Remove(key) => {
                        let r = s.remove(&k(u64::from(key)));
                        let pos = m.iter().position(|e| e.0 == key);
                        prop_assert_eq!(r, pos.map(|p| m.remove(p).0));
                    }
                    Op::RemoveUrl(url) => {
                        let before = m.len();
                        m.retain(|e| e.2 != url);
                        prop_assert_eq!(s.remove_url(u64::from(url)), before - m.len());
                    }
                }
                prop_assert!(s.len() <= max_entries);
                prop_assert!(s.bytes() <= max_bytes);
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.bytes(), m.iter().map(|e| e.1).sum::<usize>());
                let expect: Vec<CacheKey> = m.iter().map(|e| k(u64::from(e.0))).collect();
                prop_assert_eq!(s.keys_lru(), expect);
            }
        }
    }
}
