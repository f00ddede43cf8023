//! The engine's raw lock: a kernel spin lock that remembers the IRQL it raised from.
//!
//! `lock` raises to DISPATCH_LEVEL (`KeAcquireSpinLockRaiseToDpc`) and stores the previous IRQL
//! inside the lock; `unlock` restores it. Only the holder reads or writes the stored IRQL, so
//! the guard must not move to another thread ([`lock_api::GuardNoSend`]).

use crate::sys::imports::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
use crate::sys::{KIRQL, KSPIN_LOCK};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A `KSPIN_LOCK` and the IRQL its holder came from.
///
/// # Invariants
/// `old_irql` is written only by the thread that just acquired `lock` and read only by the
/// holder in `unlock`.
pub struct RawSpinLock {
    lock: UnsafeCell<KSPIN_LOCK>,
    old_irql: UnsafeCell<KIRQL>,
}

// SAFETY: 1. the KSPIN_LOCK is only touched through the kernel's interlocked spin lock calls (and
// one atomic load in `try_lock`); 2. `old_irql` is only accessed by the lock holder (invariant).
unsafe impl Send for RawSpinLock {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for RawSpinLock {}

// SAFETY: 1. `lock` returns only once the kernel spin lock is held, so at most one holder exists;
// 2. `unlock` is only called by the holder (lock_api contract) and releases it.
unsafe impl lock_api::RawMutex for RawSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawSpinLock = RawSpinLock {
        lock: UnsafeCell::new(0),
        old_irql: UnsafeCell::new(0),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        // SAFETY: 1. the lock lives as long as `self`; 2. callers are at IRQL <= DISPATCH_LEVEL
        // (the engine runs in dispatch routines, completion routines and DPCs).
        let old = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        // SAFETY: 1. we hold the lock: nobody else touches `old_irql` (invariant).
        unsafe { *self.old_irql.get() = old };
    }

    /// Best effort: refuses if the lock looks held; otherwise acquires it (which may spin briefly
    /// if another processor took it in between — never a deadlock, as a holder is at
    /// DISPATCH_LEVEL and cannot be preempted by this thread).
    fn try_lock(&self) -> bool {
        // SAFETY: 1. the KSPIN_LOCK is a pointer-sized, aligned integer that the kernel updates
        // atomically; 2. this is a read-only atomic load of it.
        let held = unsafe { AtomicUsize::from_ptr(self.lock.get()) }.load(Ordering::Relaxed) != 0;
        if held {
            return false;
        }
        self.lock();
        true
    }

    unsafe fn unlock(&self) {
        // SAFETY: 1. the caller holds the lock (lock_api contract), so `old_irql` is ours to read.
        let old = unsafe { *self.old_irql.get() };
        // SAFETY: 1. held by the caller; 2. `old` is the IRQL saved when it was acquired.
        unsafe { KeReleaseSpinLock(self.lock.get(), old) };
    }
}
