//! A generational slab: O(1) insert, lookup and remove by `{index, generation}` keys.
//!
//! Used for the clients' handle tables, each socket's operation table and the engine's client
//! table. A lookup with a stale key (the slot was freed, maybe reused) finds nothing: the
//! generation of a slot is bumped every time it is freed.
//!
//! # Invariants
//! - A slot's generation is never 0, so the key `{_, 0}` is never live.
//! - The free list (`free_head`, then each vacant slot's link) holds exactly the vacant slots;
//!   `len` counts occupied slots.

use alloc::vec::Vec;

/// A key into a [`Slab`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Key {
    /// Slot index.
    pub index: u32,
    /// Slot generation when the key was issued.
    pub generation: u32,
}

/// No next vacant slot.
const NONE: u32 = u32::MAX;

enum Entry<T> {
    Occupied(T),
    /// Vacant; the index of the next vacant slot (an intrusive free list), or [`NONE`].
    Vacant(u32),
}

struct Slot<T> {
    generation: u32,
    entry: Entry<T>,
}

/// The slab.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// First vacant slot, or [`NONE`].
    free_head: u32,
    len: u32,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab (allocates nothing).
    pub const fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free_head: NONE,
            len: 0,
        }
    }

    /// Occupied slots.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key the next `insert` will return, or `None` if the slab is full.
    pub fn next_key(&self) -> Option<Key> {
        if self.free_head != NONE {
            let generation = self.slots.get(self.free_head as usize)?.generation;
            return Some(Key {
                index: self.free_head,
                generation,
            });
        }
        u32::try_from(self.slots.len())
            .ok()
            .filter(|i| *i < NONE)
            .map(|index| Key { index, generation: 1 })
    }

    /// Stores `value`; gives it back if the slab is full (2^32 - 1 slots).
    pub fn insert(&mut self, value: T) -> Result<Key, T> {
        if self.free_head != NONE {
            let index = self.free_head;
            if let Some(slot) = self.slots.get_mut(index as usize) {
                if let Entry::Vacant(next) = slot.entry {
                    // INVARIANT: the free list links exactly the vacant slots.
                    self.free_head = next;
                    slot.entry = Entry::Occupied(value);
                    self.len += 1;
                    return Ok(Key {
                        index,
                        generation: slot.generation,
                    });
                }
            }
            debug_assert!(false, "free list points at an occupied slot");
            return Err(value);
        }
        let Some(index) = u32::try_from(self.slots.len()).ok().filter(|i| *i < NONE) else {
            return Err(value);
        };
        self.slots.push(Slot {
            generation: 1,
            entry: Entry::Occupied(value),
        });
        self.len += 1;
        Ok(Key { index, generation: 1 })
    }

    /// The value at `key`, if the key is live.
    pub fn get(&self, key: Key) -> Option<&T> {
        match self.slots.get(key.index as usize) {
            Some(Slot {
                generation,
                entry: Entry::Occupied(v),
            }) if *generation == key.generation => Some(v),
            _ => None,
        }
    }

    /// Mutable access to the value at `key`, if the key is live.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize) {
            Some(Slot {
                generation,
                entry: Entry::Occupied(v),
            }) if *generation == key.generation => Some(v),
            _ => None,
        }
    }

    /// Removes the value at `key`; the key (and every copy of it) is dead afterwards.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation || matches!(slot.entry, Entry::Vacant(_)) {
            return None;
        }
        let Entry::Occupied(value) = core::mem::replace(&mut slot.entry, Entry::Vacant(NONE)) else {
            return None;
        };
        self.len -= 1;
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            slot.entry = Entry::Vacant(self.free_head);
            self.free_head = key.index;
        }
        // INVARIANT: otherwise the slot stays vacant at `u32::MAX`, off the free list: every
        // generation it could take next was already handed out.
        Some(value)
    }

    /// Live keys and values.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match &s.entry {
            Entry::Occupied(v) => Some((
                Key {
                    index: u32::try_from(i).ok()?,
                    generation: s.generation,
                },
                v,
            )),
            Entry::Vacant(_) => None,
        })
    }

    /// Live keys and mutable values.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut T)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let generation = s.generation;
            match &mut s.entry {
                Entry::Occupied(v) => Some((
                    Key {
                        index: u32::try_from(i).ok()?,
                        generation,
                    },
                    v,
                )),
                Entry::Vacant(_) => None,
            }
        })
    }

    /// Removes every value, returning them with their (now dead) keys.
    pub fn drain(&mut self) -> Vec<(Key, T)> {
        let mut out = Vec::with_capacity(self.len());
        for i in 0..self.slots.len() {
            let Ok(index) = u32::try_from(i) else { break };
            let key = Key {
                index,
                generation: self.slots[i].generation,
            };
            if let Some(v) = self.remove(key) {
                out.push((key, v));
            }
        }
        out
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    impl<T> Slab<T> {
        /// Fast-forwards a slot's generation (2^32 real reuses take too long for a test).
        fn age(&mut self, index: u32, generation: u32) {
            self.slots[index as usize].generation = generation;
        }
    }

    #[test]
    fn a_slot_whose_generation_would_wrap_is_retired() {
        let mut s = Slab::new();
        let first = s.insert("first").unwrap();
        assert_eq!(first.generation, 1);
        assert_eq!(s.remove(first), Some("first"));
        // 2^32 - 2 reuses later:
        s.age(first.index, u32::MAX);
        let last = s.insert("last").unwrap();
        assert_eq!(
            last,
            Key {
                index: first.index,
                generation: u32::MAX
            }
        );
        assert_eq!(s.remove(last), Some("last"));
        let next = s.insert("next").unwrap();
        assert_ne!(next.index, first.index, "the worn-out slot is never reused");
        assert_eq!(s.get(first), None, "a stale handle stays dead");
        assert_eq!(s.get(last), None);
        assert_eq!(s.len(), 1);
        // The retired slot stays out of the free list after the slab empties and refills.
        assert_eq!(s.remove(next), Some("next"));
        let again = s.insert("again").unwrap();
        assert_eq!(again.index, next.index);
        assert_eq!(s.next_key().map(|k| k.index), Some(2));
        assert!(s.iter().all(|(k, _)| k != first && k != last));
    }

    #[test]
    fn stale_key_misses_after_reuse() {
        let mut s = Slab::new();
        let a = s.insert("a").unwrap();
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b").unwrap();
        assert_eq!(b.index, a.index);
        assert_ne!(b.generation, a.generation);
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn generation_zero_is_never_live() {
        let mut s = Slab::new();
        let k = s.insert(1).unwrap();
        assert_ne!(k.generation, 0);
        assert_eq!(
            s.get(Key {
                index: k.index,
                generation: 0
            }),
            None
        );
    }

    #[test]
    fn next_key_predicts_insert() {
        let mut s = Slab::new();
        for _ in 0..3 {
            let k = s.next_key().unwrap();
            assert_eq!(s.insert(()).unwrap(), k);
        }
        let k1 = Key {
            index: 1,
            generation: 1,
        };
        s.remove(k1);
        let next = s.next_key().unwrap();
        assert_eq!(
            next,
            Key {
                index: 1,
                generation: 2
            }
        );
        assert_eq!(s.insert(()).unwrap(), next);
    }

    #[test]
    fn drain_empties_and_kills_keys() {
        let mut s = Slab::new();
        let k = s.insert(5).unwrap();
        s.insert(6).unwrap();
        let d = s.drain();
        assert_eq!(d.len(), 2);
        assert!(s.is_empty());
        assert_eq!(s.get(k), None);
    }
}
