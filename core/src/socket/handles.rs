//! The ids of the handles open on one socket object.
//!
//! Each handle-table entry naming a socket carries a socket-local id; an operation is started
//! through an id only while it is open, and a CLOSE removes it under the socket lock, in the same
//! critical section that cancels what was issued through it. So an operation whose request
//! looked its handle up just before another thread's CLOSE is either cancelled by that CLOSE or
//! refused (invariant 3) — even when another handle keeps the socket open.
//!
//! Nearly every socket has one handle: that id is kept inline, and only the others in a set on
//! the heap.
//!
//! # Invariants
//! - `first` is 0 exactly when no handle is open; the ids in `more` are open, non-zero and
//!   different from `first`.
//! - An id is never handed out while it is open. Ids count up from 1; after 2^32 handles on one
//!   socket they wrap (skipping 0 and the open ones).

use alloc::boxed::Box;
use alloc::collections::BTreeSet;

/// The open handle ids of a socket.
pub(crate) struct HandleIds {
    /// The id the next handle gets (if it is free).
    next: u32,
    /// One open id (0: none open).
    first: u32,
    /// The other open ids. Boxed: 8 bytes in every socket instead of 24 (the idle-socket
    /// memory target of `docs/PERFORMANCE.md`), for the rare socket with several handles.
    #[allow(clippy::box_collection)]
    more: Option<Box<BTreeSet<u32>>>,
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

    /// Opens a new handle; returns its id.
    pub fn add(&mut self) -> u32 {
        let mut id = self.next;
        while id == 0 || self.contains(id) {
            id = id.wrapping_add(1);
        }
        self.next = id.wrapping_add(1);
        if self.first == 0 {
            self.first = id;
        } else {
            self.more.get_or_insert_with(Box::default).insert(id);
        }
        id
    }

    /// Closes handle `id`; `false` if it was not open.
    pub fn remove(&mut self, id: u32) -> bool {
        if id == 0 {
            return false;
        }
        if self.first == id {
            // INVARIANT: `first` stays set while any handle is open.
            self.first = self.more.as_mut().and_then(|m| m.pop_first()).unwrap_or(0);
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

    #[test]
    fn ids_are_open_until_removed_and_never_reissued_while_open() {
        let mut h = HandleIds::new();
        let a = h.add();
        let b = h.add();
        let c = h.add();
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
        let one = h.add();
        h.next = u32::MAX;
        assert_eq!(h.add(), u32::MAX);
        assert_eq!(h.add(), 2, "0 and the open 1 are skipped");
        assert!(h.contains(one));
        assert_eq!(h.count(), 3);
    }
}
