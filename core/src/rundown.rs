//! Rundown protection that never waits: like `ExAcquireRundownProtection` /
//! `ExWaitForRundownProtectionRelease`, but the "wait" is a continuation.
//!
//! Every provider call on a socket runs between [`Rundown::try_acquire`] and [`Rundown::release`].
//! The teardown calls [`Rundown::revoke`] before `WskCloseSocket`: from then on `try_acquire`
//! fails, and exactly one of `revoke` (if no call was in progress) or the `release` that ends the
//! last call in progress returns [`Drained::Yes`] — that caller issues the close. So the close is
//! never issued while another call on the socket is in progress (invariant 5 of the crate).
//!
//! The engine uses a second one as its live count: every socket object not yet finished and
//! every unbound operation in flight holds a reference; unload revokes it, and the release that
//! drains it reports idle (invariant 8).
//!
//! # Invariants
//! - `state` = `REVOKED` bit | number of calls in progress.
//! - Once `REVOKED` is set it is never cleared and the count only decreases.
//! - Exactly one `Drained::Yes` is returned over the object's life, and only after revocation.

use crate::sync::{AtomicUsize, Ordering};

const REVOKED: usize = 1 << (usize::BITS - 1);

/// Whether this call drained a revoked rundown (its caller continues the teardown).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub enum Drained {
    /// Revoked and no call in progress any more: the caller must continue.
    Yes,
    /// Not (yet).
    No,
}

/// Rundown protection: of one socket's provider calls, or of the engine's live objects.
#[derive(Debug)]
pub struct Rundown {
    state: AtomicUsize,
}

impl Default for Rundown {
    fn default() -> Self {
        Self::new()
    }
}

impl Rundown {
    /// Open protection, no call in progress.
    pub fn new() -> Self {
        Rundown {
            state: AtomicUsize::new(0),
        }
    }

    /// Enters a call; `false` once revoked (the caller must not touch the socket).
    pub fn try_acquire(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & REVOKED != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Enters while the caller already holds a reference, even after revocation (a completion
    /// creating a socket holds its operation's reference while it takes the socket's).
    pub fn acquire_nested(&self) {
        let prev = self.state.fetch_add(1, Ordering::Acquire);
        debug_assert!(prev & !REVOKED != 0, "nested acquire without a held reference");
    }

    /// Leaves a call entered with a successful `try_acquire`.
    pub fn release(&self) -> Drained {
        let prev = self.state.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev & !REVOKED != 0, "release without acquire");
        if prev == REVOKED | 1 {
            Drained::Yes
        } else {
            Drained::No
        }
    }

    /// Forbids new calls. `Drained::Yes` if none was in progress (the caller continues now);
    /// otherwise the last `release` will return it. Revoking twice returns `No` the second time.
    pub fn revoke(&self) -> Drained {
        let prev = self.state.fetch_or(REVOKED, Ordering::AcqRel);
        if prev == 0 {
            Drained::Yes
        } else {
            Drained::No
        }
    }

    /// Whether `revoke` was called.
    pub fn is_revoked(&self) -> bool {
        self.state.load(Ordering::Acquire) & REVOKED != 0
    }

    /// Calls in progress now (for statistics and tests).
    pub fn in_progress(&self) -> usize {
        self.state.load(Ordering::Acquire) & !REVOKED
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn revoke_with_nothing_in_progress_drains_at_once() {
        let r = Rundown::new();
        assert_eq!(r.revoke(), Drained::Yes);
        assert!(!r.try_acquire());
        assert_eq!(r.revoke(), Drained::No);
    }

    #[test]
    fn last_release_after_revoke_drains() {
        let r = Rundown::new();
        assert!(r.try_acquire());
        assert!(r.try_acquire());
        assert_eq!(r.revoke(), Drained::No);
        assert!(!r.try_acquire());
        assert_eq!(r.release(), Drained::No);
        assert_eq!(r.in_progress(), 1);
        assert_eq!(r.release(), Drained::Yes);
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn release_before_revoke_does_not_drain() {
        let r = Rundown::new();
        assert!(r.try_acquire());
        assert_eq!(r.release(), Drained::No);
        assert!(!r.is_revoked());
    }
}
