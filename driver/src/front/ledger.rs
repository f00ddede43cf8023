//! The test build's ledger of client requests (feature `alloc-faults`): how many requests the
//! front end was given (IRP_MJ_CREATE, CLEANUP, CLOSE and (INTERNAL_)DEVICE_CONTROL IRPs under
//! WDM; create and I/O queue requests under KMDF) and how many it completed (`IoCompleteRequest`
//! / `WdfRequestComplete*`). The `alloc-faults` Wine scenario reads both from the run's report at
//! unload, when every request has been completed: equal counts, with every request seen completed
//! by its client, is "every request completed exactly once" (docs/DRIVER.md, "Memory"). Without
//! the feature both calls are empty.
//!
//! Invariant: at unload `completed == given`. Counted with relaxed atomics — the report is read
//! after unload's wait, which orders every completion before it.

#[cfg(feature = "alloc-faults")]
use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "alloc-faults")]
static GIVEN: AtomicU64 = AtomicU64::new(0);
#[cfg(feature = "alloc-faults")]
static COMPLETED: AtomicU64 = AtomicU64::new(0);

/// A request was given to the front end (a dispatch routine or callback that must complete it).
#[inline]
pub fn given() {
    #[cfg(feature = "alloc-faults")]
    GIVEN.fetch_add(1, Ordering::Relaxed);
}

/// A request was completed.
#[inline]
pub fn completed() {
    #[cfg(feature = "alloc-faults")]
    COMPLETED.fetch_add(1, Ordering::Relaxed);
}

/// Starts counting from zero (`DriverEntry`: the image may have been loaded before).
#[cfg(feature = "alloc-faults")]
pub fn reset() {
    GIVEN.store(0, Ordering::Relaxed);
    COMPLETED.store(0, Ordering::Relaxed);
}

/// Requests given, and completed.
#[cfg(feature = "alloc-faults")]
pub fn counts() -> (u64, u64) {
    (GIVEN.load(Ordering::Relaxed), COMPLETED.load(Ordering::Relaxed))
}
