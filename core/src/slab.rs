//! A generational slab: O(1) insert, lookup and remove by `{index, generation}` keys.
//!
//! Used for the clients' handle tables, each socket's operation table and the engine's client
//! table. A lookup with a stale key (the slot was freed, maybe reused) finds nothing: the
//! generation of a slot is bumped every time it is freed.
//!
//! Growth is fallible (module `mem`): an insert that needs more room and cannot get it gives its
//! value back. Where an insert must not fail later — when a completion files a new socket or
//! handle, a teardown a waiting CLOSE — the room is reserved beforehand, when the request is
//! admitted ([`Reserving`]).
//!
//! # Invariants
//! - A slot's generation is never 0, so the key `{_, 0}` is never live.
//! - The free list (`free_head`, then each vacant slot's link) holds exactly the vacant slots
//!   that may be reused (a slot whose generation would wrap is retired, off the list); `len`
//!   counts occupied slots.
//! - [`Reserving`]: the vector has room for `reserved` more slots without growing.

use crate::mem::{self, AllocError, Hook};
use alloc::vec::Vec;

/// A key into a [`Slab`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Key {
    /// Slot index.
    pub index: u32,
    /// Slot generation when the key was issued.
    pub generation: u32,
}

impl Key {
    /// The key as one `u64`: the generation in the high half, the index in the low half (client
    /// ids, operation tags, timer cookies).
    pub(crate) fn packed(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The key [`Key::packed`] made `v` from.
    pub(crate) fn unpacked(v: u64) -> Key {
        #[allow(clippy::cast_possible_truncation)] // the two halves of `packed`
        Key {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
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

    /// Stores `value`; gives it back if the slab is full (2^32 - 1 slots) or cannot grow.
    pub fn insert(&mut self, value: T, hook: &(impl Hook + ?Sized)) -> Result<Key, T> {
        self.insert_keeping(value, hook, 0)
    }

    /// Makes sure the next [`Slab::insert`] needs no allocation (a vacant slot, or room to grow
    /// into), allocating fallibly now if it would.
    pub fn make_room(&mut self, hook: &(impl Hook + ?Sized)) -> Result<(), AllocError> {
        if self.free_head == NONE {
            mem::reserve(hook, &mut self.slots, 1)?;
        }
        Ok(())
    }

    /// Stores `value` in a vacant slot or in the room already there, keeping `keep` slots of that
    /// room free (others' reservations); grows (fallibly) only if it must.
    fn insert_keeping(&mut self, value: T, hook: &(impl Hook + ?Sized), keep: u32) -> Result<Key, T> {
        if self.free_head == NONE && mem::reserve(hook, &mut self.slots, keep as usize + 1).is_err() {
            return Err(value);
        }
        self.insert_in_room(value)
    }

    /// Stores `value` without growing: in a vacant slot, or in the vector's spare room.
    fn insert_in_room(&mut self, value: T) -> Result<Key, T> {
        if self.free_head != NONE {
            let index = self.free_head;
            if let Some(slot) = self.slots.get_mut(index as usize) {
                if let Entry::Vacant(next) = slot.entry {
                    // INVARIANT: the free list links exactly the reusable vacant slots.
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
        mem::push_wrapped(&mut self.slots, value, |value| Slot {
            generation: 1,
            entry: Entry::Occupied(value),
        })?;
        self.len += 1;
        Ok(Key { index, generation: 1 })
    }

    /// Slots that can be filled without growing the vector (vacant ones not counted).
    fn spare_room(&self) -> usize {
        self.slots.capacity() - self.slots.len()
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
        self.iter_mut_from(0)
    }

    /// Removes the first value at or after slot `*cursor` and moves the cursor past it: a walk
    /// that empties the slab without allocating, one entry per call (so that the caller may drop
    /// its lock between entries). Values inserted behind the cursor meanwhile are not seen.
    pub fn take_next(&mut self, cursor: &mut u32) -> Option<(Key, T)> {
        while (*cursor as usize) < self.slots.len() {
            let index = *cursor;
            *cursor += 1;
            let generation = self.slots[index as usize].generation;
            if let Some(v) = self.remove(Key { index, generation }) {
                return Some((Key { index, generation }, v));
            }
        }
        None
    }

    /// The first live value at or after slot `*cursor`, moving the cursor past it: a walk over
    /// the slab without allocating, one entry per call.
    pub fn next_from(&self, cursor: &mut u32) -> Option<(Key, &T)> {
        while let Some(slot) = self.slots.get(*cursor as usize) {
            let index = *cursor;
            *cursor += 1;
            if let Entry::Occupied(v) = &slot.entry {
                return Some((
                    Key {
                        index,
                        generation: slot.generation,
                    },
                    v,
                ));
            }
        }
        None
    }

    /// Live keys and mutable values from slot `start` on (the slots before are skipped, not
    /// walked).
    pub fn iter_mut_from(&mut self, start: u32) -> impl Iterator<Item = (Key, &mut T)> {
        let skip = start as usize;
        self.slots.iter_mut().enumerate().skip(skip).filter_map(|(i, s)| {
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
}

/// A slab whose inserts can be reserved ahead: [`Reserving::reserve`] makes sure one more value
/// will fit without growing, so that the insert that uses the reservation
/// ([`Reserving::insert_reserved`]) cannot fail for want of memory — it is made where failing is
/// no longer possible (a completion filing a new socket, a teardown parking a waiting CLOSE).
/// Plain inserts never eat into the reserved room.
pub struct Reserving<T> {
    slab: Slab<T>,
    /// Inserts reserved and not yet made (or given up).
    reserved: u32,
}

impl<T> Default for Reserving<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> core::ops::Deref for Reserving<T> {
    type Target = Slab<T>;
    fn deref(&self) -> &Slab<T> {
        &self.slab
    }
}

impl<T> core::ops::DerefMut for Reserving<T> {
    fn deref_mut(&mut self) -> &mut Slab<T> {
        &mut self.slab
    }
}

impl<T> Reserving<T> {
    /// An empty slab, nothing reserved (allocates nothing).
    pub const fn new() -> Self {
        Reserving {
            slab: Slab::new(),
            reserved: 0,
        }
    }

    /// Reserves room for one insert ([`Reserving::insert_reserved`]), growing fallibly if needed.
    pub fn reserve(&mut self, hook: &(impl Hook + ?Sized)) -> Result<(), AllocError> {
        let want = self.reserved as usize + 1;
        if self.slab.spare_room() < want {
            mem::reserve(hook, &mut self.slab.slots, want)?;
        }
        // INVARIANT: the vector now has room for `reserved` + 1 more slots.
        self.reserved += 1;
        Ok(())
    }

    /// Gives up a reservation.
    pub fn unreserve(&mut self) {
        debug_assert!(self.reserved > 0, "unreserve without a reservation");
        self.reserved = self.reserved.saturating_sub(1);
    }

    /// Reservations outstanding.
    pub fn reserved(&self) -> u32 {
        self.reserved
    }

    /// Stores `value` with a reservation made before: never grows. Gives the value back only if
    /// the slab is full (2^32 - 1 slots). The reservation is used up either way.
    pub fn insert_reserved(&mut self, value: T) -> Result<Key, T> {
        self.unreserve();
        self.slab.insert_in_room(value)
    }

    /// Stores `value` without a reservation, leaving the reserved room alone; gives it back if
    /// the slab is full or cannot grow.
    pub fn insert(&mut self, value: T, hook: &(impl Hook + ?Sized)) -> Result<Key, T> {
        self.slab.insert_keeping(value, hook, self.reserved)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mem::{Fails, NoHook};

    impl<T> Slab<T> {
        /// Fast-forwards a slot's generation (2^32 real reuses take too long for a test).
        fn age(&mut self, index: u32, generation: u32) {
            self.slots[index as usize].generation = generation;
        }
    }

    #[test]
    fn a_slot_whose_generation_would_wrap_is_retired() {
        let mut s = Slab::new();
        let first = s.insert("first", &NoHook).unwrap();
        assert_eq!(first.generation, 1);
        assert_eq!(s.remove(first), Some("first"));
        // 2^32 - 2 reuses later:
        s.age(first.index, u32::MAX);
        let last = s.insert("last", &NoHook).unwrap();
        assert_eq!(
            last,
            Key {
                index: first.index,
                generation: u32::MAX
            }
        );
        assert_eq!(s.remove(last), Some("last"));
        let next = s.insert("next", &NoHook).unwrap();
        assert_ne!(next.index, first.index, "the worn-out slot is never reused");
        assert_eq!(s.get(first), None, "a stale handle stays dead");
        assert_eq!(s.get(last), None);
        assert_eq!(s.len(), 1);
        // The retired slot stays out of the free list after the slab empties and refills.
        assert_eq!(s.remove(next), Some("next"));
        let again = s.insert("again", &NoHook).unwrap();
        assert_eq!(again.index, next.index);
        assert_eq!(s.next_key().map(|k| k.index), Some(2));
        assert!(s.iter().all(|(k, _)| k != first && k != last));
    }

    #[test]
    fn stale_key_misses_after_reuse() {
        let mut s = Slab::new();
        let a = s.insert("a", &NoHook).unwrap();
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b", &NoHook).unwrap();
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
        let k = s.insert(1, &NoHook).unwrap();
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
            assert_eq!(s.insert((), &NoHook).unwrap(), k);
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
        assert_eq!(s.insert((), &NoHook).unwrap(), next);
    }

    #[test]
    fn take_next_empties_and_kills_keys() {
        let mut s = Slab::new();
        let k = s.insert(5, &NoHook).unwrap();
        let k2 = s.insert(6, &NoHook).unwrap();
        s.insert(7, &NoHook).unwrap();
        assert_eq!(s.remove(k2), Some(6));
        let mut cursor = 0;
        assert_eq!(s.take_next(&mut cursor), Some((k, 5)));
        assert_eq!(s.take_next(&mut cursor).map(|(_, v)| v), Some(7));
        assert_eq!(s.take_next(&mut cursor), None);
        assert!(s.is_empty());
        assert_eq!(s.get(k), None);
    }

    #[test]
    fn next_from_walks_live_values_in_slot_order() {
        let mut s = Slab::new();
        let a = s.insert('a', &NoHook).unwrap();
        let b = s.insert('b', &NoHook).unwrap();
        let c = s.insert('c', &NoHook).unwrap();
        s.remove(b);
        let mut cursor = 0;
        assert_eq!(s.next_from(&mut cursor), Some((a, &'a')));
        assert_eq!(s.next_from(&mut cursor), Some((c, &'c')));
        assert_eq!(s.next_from(&mut cursor), None);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn an_insert_that_cannot_grow_gives_its_value_back() {
        let mut s = Slab::new();
        assert_eq!(s.insert("lost?", &Fails), Err("lost?"));
        assert!(s.is_empty());
        let k = s.insert("kept", &NoHook).unwrap();
        // A vacant slot needs no growth.
        s.remove(k);
        assert!(s.insert("reused", &Fails).is_ok());
    }

    #[test]
    fn a_reservation_is_never_taken_by_a_plain_insert() {
        let mut r: Reserving<u32> = Reserving::new();
        r.reserve(&NoHook).unwrap();
        r.reserve(&NoHook).unwrap();
        assert_eq!(r.reserved(), 2);
        // Plain inserts while nothing may be allocated: the reserved room is not theirs.
        let room = r.slots.capacity() - r.slots.len();
        for i in 0..u32::try_from(room - 2).unwrap() {
            r.insert(i, &Fails).unwrap();
        }
        assert!(r.insert(99, &Fails).is_err(), "only the reserved room is left");
        // The reserved inserts need no allocation at all.
        assert!(r.insert_reserved(1).is_ok());
        assert!(r.insert_reserved(2).is_ok());
        assert_eq!(r.reserved(), 0);
        let n = r.len();
        r.reserve(&NoHook).unwrap();
        r.unreserve();
        assert_eq!(r.reserved(), 0);
        assert_eq!(r.len(), n);
    }
}
