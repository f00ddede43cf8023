//! The ids of the handles open on one socket object.
//!
//! Each handle-table entry naming a socket carries a socket-local id; an operation is started
//! through an id only while it is open, and a CLOSE removes it under the socket lock, in the same
//! critical section that cancels what was issued through it. So an operation whose request
//! looked its handle up just before another thread's CLOSE is either cancelled by that CLOSE or
//! refused (invariant 3) — even when another handle keeps the socket open.
//!
//! Nearly every socket has one handle: that id is kept inline, and only the others in a set on
//! the heap — a hash set, whose growth can fail (`try_reserve`) and be reported to the DUPLICATE
//! that needed it, where a `BTreeSet` allocates its nodes infallibly.
//!
//! # Invariants
//! - `first` is 0 exactly when no handle is open; the ids in `more` are open, non-zero and
//!   different from `first`.
//! - An id is never handed out while it is open. Ids count up from 1; after 2^32 handles on one
//!   socket they wrap (skipping 0 and the open ones).

use crate::mem::{self, AllocError, Hook};
use alloc::boxed::Box;
use core::hash::{BuildHasher, Hasher};

/// The set of a socket's other handle ids.
type IdSet = hashbrown::HashSet<u32, IdHash>;

/// Hashes a handle id (Fibonacci hashing: ids count up, and the multiply spreads them over the
/// high bits hashbrown tags with as well as the low bits it indexes with).
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// See [`IdHash`].
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0 ^ u64::from(v)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The open handle ids of a socket.
pub(crate) struct HandleIds {
    /// The id the next handle gets (if it is free).
    next: u32,
    /// One open id (0: none open).
    first: u32,
    /// The other open ids. Boxed: 8 bytes in every socket instead of 32 (the idle-socket
    /// memory target of `docs/PERFORMANCE.md`), for the rare socket with several handles.
    #[allow(clippy::box_collection)]
    more: Option<Box<IdSet>>,
}

impl HandleIds {
    /// No handle yet.
    pub fn new() -> Self {
        HandleIds {
            next: 1,
            first: 0,
            more: None,
        }
    }

    /// Handles open.
    pub fn count(&self) -> u32 {
        let more = self.more.as_ref().map_or(0, |m| m.len());
        u32::from(self.first != 0) + u32::try_from(more).unwrap_or(u32::MAX)
    }

    /// Whether handle `id` is open.
    pub fn contains(&self, id: u32) -> bool {
        id != 0 && (self.first == id || self.more.as_ref().is_some_and(|m| m.contains(&id)))
    }

    /// Opens a new handle; returns its id. The first needs no memory; another may (the set of
    /// the others, and its growth), and fails without changing anything if it cannot get it.
    pub fn add(&mut self, hook: &(impl Hook + ?Sized)) -> Result<u32, AllocError> {
        let mut id = self.next;
        while id == 0 || self.contains(id) {
            id = id.wrapping_add(1);
        }
        if self.first != 0 {
            if self.more.is_none() {
                self.more = Some(mem::boxed(hook, IdSet::with_hasher(IdHash))?);
            }
            let Some(more) = self.more.as_mut() else {
                return Err(AllocError);
            };
            if more.capacity() == more.len() {
                if hook.fails() {
                    return Err(AllocError);
                }
                more.try_reserve(1).map_err(|_| AllocError)?;
            }
            // Room reserved above: this insert does not allocate.
            #[allow(clippy::disallowed_methods)]
            more.insert(id);
        } else {
            self.first = id;
        }
        self.next = id.wrapping_add(1);
        Ok(id)
    }

    /// Closes handle `id`; `false` if it was not open.
    pub fn remove(&mut self, id: u32) -> bool {
        if id == 0 {
            return false;
        }
        if self.first == id {
            // INVARIANT: `first` stays set while any handle is open.
            let next = self.more.as_ref().and_then(|m| m.iter().next().copied());
            if let (Some(n), Some(m)) = (next, self.more.as_mut()) {
                m.remove(&n);
            }
            self.first = next.unwrap_or(0);
        } else if !self.more.as_mut().is_some_and(|m| m.remove(&id)) {
            return false;
        }
        if self.more.as_ref().is_some_and(|m| m.is_empty()) {
            self.more = None;
        }
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mem::{Fails, NoHook};

    #[test]
    fn a_second_handle_without_memory_changes_nothing() {
        let mut h = HandleIds::new();
        let a = h.add(&Fails).expect("the first handle needs no memory");
        assert_eq!(h.add(&Fails), Err(AllocError));
        assert_eq!(h.count(), 1);
        assert!(h.contains(a));
        let b = h.add(&NoHook).unwrap();
        assert!(h.contains(b) && b != a);
        assert_eq!(h.count(), 2);
    }

    #[test]
    fn ids_are_open_until_removed_and_never_reissued_while_open() {
        let mut h = HandleIds::new();
        let a = h.add(&NoHook).unwrap();
        let b = h.add(&NoHook).unwrap();
        let c = h.add(&NoHook).unwrap();
        assert_eq!(h.count(), 3);
        assert!(h.contains(a) && h.contains(b) && h.contains(c));
        assert!(h.remove(a));
        assert!(!h.contains(a));
        assert!(!h.remove(a), "closed twice");
        assert_eq!(h.count(), 2);
        assert!(h.remove(c) && h.remove(b));
        assert_eq!(h.count(), 0);
        assert!(!h.contains(0));
    }

    #[test]
    fn wrapping_ids_skip_zero_and_open_ones() {
        let mut h = HandleIds::new();
        let one = h.add(&NoHook).unwrap();
        h.next = u32::MAX;
        assert_eq!(h.add(&NoHook).unwrap(), u32::MAX);
        assert_eq!(h.add(&NoHook).unwrap(), 2, "0 and the open 1 are skipped");
        assert!(h.contains(one));
        assert_eq!(h.count(), 3);
    }
}
