//! Timers (KTIMER + DPC in the driver): run once by the event loop, cancellable until then.
//!
//! # Invariants
//! The callback lives in one `Option` behind a mutex. Whoever takes it decides: the event loop
//! (it runs it, after releasing the mutex) or [`crate::HostProvider`]'s `cancel_timer` (it drops
//! it and reports `true`). So `cancel_timer` returns `true` exactly when the callback never runs.

use parking_lot::Mutex;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;
use wsksock_core::TimerCallback;

/// A pending timer of the host provider.
pub struct HostTimer(pub(crate) Arc<TimerSlot>);

impl core::fmt::Debug for HostTimer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HostTimer")
    }
}

/// The callback of one timer, until it runs or is cancelled.
pub(crate) struct TimerSlot {
    callback: Mutex<Option<TimerCallback>>,
}

impl TimerSlot {
    pub fn new(callback: TimerCallback) -> Self {
        TimerSlot {
            callback: Mutex::new(Some(callback)),
        }
    }

    /// Takes the callback (at most one caller gets it).
    pub fn take(&self) -> Option<TimerCallback> {
        self.callback.lock().take()
    }
}

/// A timer in the event loop's heap (earliest first; equal deadlines in arming order).
pub(crate) struct TimerEntry {
    pub at: Instant,
    pub seq: u64,
    pub slot: Arc<TimerSlot>,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for TimerEntry {}

impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` is a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
