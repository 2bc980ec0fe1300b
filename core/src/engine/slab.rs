//! A bounded slab addressed by generation-tagged ids, so a stale id never reaches a newer
//! occupant of the same slot.

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Fixed-capacity storage for in-flight calls. Ids are `generation << 32 | index`.
#[derive(Debug)]
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    capacity: usize,
}

impl<T> Slab<T> {
    pub(super) fn new(capacity: usize) -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            capacity,
        }
    }

    /// Stores `value` and returns its id, or gives `value` back when full.
    pub(super) fn insert(&mut self, value: T) -> Result<u64, T> {
        let index = if let Some(i) = self.free.pop() {
            i
        } else {
            if self.slots.len() >= self.capacity {
                return Err(value);
            }
            self.slots.push(Slot {
                generation: 0,
                value: None,
            });
            (self.slots.len() - 1) as u32
        };
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        self.len += 1;
        Ok((u64::from(slot.generation) << 32) | u64::from(index))
    }

    /// The id the next [`insert`](Self::insert) will return, if there is room.
    pub(super) fn next_id(&self) -> Option<u64> {
        match self.free.last() {
            Some(&i) => Some((u64::from(self.slots[i as usize].generation) << 32) | u64::from(i)),
            None if self.slots.len() < self.capacity => Some(self.slots.len() as u64),
            None => None,
        }
    }

    /// Hands out an id without storing anything: exactly what `insert` then `remove` would
    /// have returned and left behind (the id is never valid afterwards), without moving a
    /// value in and out. `None` when full.
    pub(super) fn burn_id(&mut self) -> Option<u64> {
        let index = if let Some(&i) = self.free.last() {
            i
        } else {
            if self.slots.len() >= self.capacity {
                return None;
            }
            self.slots.push(Slot {
                generation: 0,
                value: None,
            });
            let i = (self.slots.len() - 1) as u32;
            self.free.push(i);
            i
        };
        let slot = &mut self.slots[index as usize];
        let id = (u64::from(slot.generation) << 32) | u64::from(index);
        slot.generation = slot.generation.wrapping_add(1);
        Some(id)
    }

    fn slot(&self, id: u64) -> Option<&Slot<T>> {
        let s = self.slots.get((id & 0xFFFF_FFFF) as usize)?;
        (u64::from(s.generation) == id >> 32).then_some(s)
    }

    pub(super) fn get(&self, id: u64) -> Option<&T> {
        self.slot(id)?.value.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let s = self.slots.get_mut((id & 0xFFFF_FFFF) as usize)?;
        if u64::from(s.generation) != id >> 32 {
            return None;
        }
        s.value.as_mut()
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<T> {
        let index = (id & 0xFFFF_FFFF) as u32;
        let s = self.slots.get_mut(index as usize)?;
        if u64::from(s.generation) != id >> 32 {
            return None;
        }
        let v = s.value.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        Some(v)
    }

    /// Removes the value of `id` after letting `f` take what it needs out of it in place:
    /// the value itself is dropped where it lies, never moved (a `Call` is a few hundred
    /// bytes).
    pub(super) fn remove_with<R>(&mut self, id: u64, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let index = (id & 0xFFFF_FFFF) as u32;
        let s = self.slots.get_mut(index as usize)?;
        if u64::from(s.generation) != id >> 32 {
            return None;
        }
        let r = f(s.value.as_mut()?);
        s.value = None;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        Some(r)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn stale_ids_miss_and_capacity_holds() {
        let mut s = Slab::new(2);
        let a = s.insert("a").unwrap();
        let b = s.insert("b").unwrap();
        assert_eq!(s.insert("c"), Err("c"));
        assert_eq!(s.remove(a), Some("a"));
        let c = s.insert("c").unwrap();
        assert_ne!(a, c, "a reused slot gets a new generation");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove_with(b, |v| v.len()), Some(1));
        assert_eq!(s.remove_with(b, |v| v.len()), None);
        assert_eq!(s.len(), 1);
        assert!(s.insert("d").is_ok());
    }

    #[test]
    fn burnt_ids_match_insert_then_remove() {
        let mut a = Slab::new(3);
        let mut b = Slab::new(3);
        let keep_a = a.insert("x").unwrap();
        let keep_b = b.insert("x").unwrap();
        assert_eq!(keep_a, keep_b);
        for _ in 0..3 {
            let next = a.next_id();
            let ia = a.insert("y").unwrap();
            assert_eq!(next, Some(ia));
            a.remove(ia);
            let ib = b.burn_id().unwrap();
            assert_eq!(ia, ib);
            assert_eq!(b.get(ib), None);
        }
        assert_eq!(a.next_id(), b.next_id());
        let ids: Vec<_> = (0..2).map(|_| b.insert("z").unwrap()).collect();
        assert_eq!(b.next_id(), None);
        assert_eq!(b.burn_id(), None);
        assert!(!ids.contains(&keep_b));
    }
}
