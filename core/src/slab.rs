//! A generational slab: O(1) insert, lookup and remove by `{index, generation}` keys.
//!
//! Used for the clients' handle tables, each socket's operation table and the engine's client
//! table. A lookup with a stale key (the slot was freed, maybe reused) finds nothing: the
//! generation of a slot is bumped every time it is freed.
//!
//! # Invariants
//! - A slot's generation is never 0, so the key `{_, 0}` is never live.
//! - `free` holds exactly the indices of vacant slots; `len` counts occupied slots.

use alloc::vec::Vec;

/// A key into a [`Slab`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Key {
    /// Slot index.
    pub index: u32,
    /// Slot generation when the key was issued.
    pub generation: u32,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// The slab.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
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
            free: Vec::new(),
            len: 0,
        }
    }

    /// Occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key the next `insert` will return, or `None` if the slab cannot grow (`u32` indices).
    pub fn next_key(&self) -> Option<Key> {
        match self.free.last() {
            Some(&index) => Some(Key {
                index,
                generation: self.slots[index as usize].generation,
            }),
            None => u32::try_from(self.slots.len())
                .ok()
                .map(|index| Key { index, generation: 1 }),
        }
    }

    /// Stores `value`; `None` if the slab is full (2^32 slots) — the value is given back.
    pub fn insert(&mut self, value: T) -> Result<Key, T> {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            self.len += 1;
            return Ok(Key {
                index,
                generation: slot.generation,
            });
        }
        let Ok(index) = u32::try_from(self.slots.len()) else {
            return Err(value);
        };
        self.slots.push(Slot {
            generation: 1,
            value: Some(value),
        });
        self.len += 1;
        Ok(Key { index, generation: 1 })
    }

    /// The value at `key`, if the key is live.
    pub fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    /// Mutable access to the value at `key`, if the key is live.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Removes the value at `key`; the key (and every copy of it) is dead afterwards.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        // INVARIANT: generations skip 0 when they wrap.
        slot.generation = slot.generation.checked_add(1).unwrap_or(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Live keys and values.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let index = u32::try_from(i).ok()?;
            s.value.as_ref().map(|v| {
                (
                    Key {
                        index,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }

    /// Live keys and mutable values.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut T)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let index = u32::try_from(i).ok()?;
            let generation = s.generation;
            s.value.as_mut().map(|v| (Key { index, generation }, v))
        })
    }

    /// Removes every value, returning them with their (now dead) keys.
    pub fn drain(&mut self) -> Vec<(Key, T)> {
        let mut out = Vec::with_capacity(self.len);
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
