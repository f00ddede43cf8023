//! Timers (KTIMER + DPC in the driver): made unarmed, armed (again after a cancel), run once by
//! the event loop.
//!
//! # Invariants
//! The callback and the current arming live behind one mutex. An arming is a generation: the
//! event loop runs the callback only for an entry whose generation is the slot's armed one, and
//! takes the callback to do so (after releasing the mutex); [`crate::HostProvider`]'s
//! `cancel_timer` disarms (keeping the callback, `true`) unless the callback was taken (`false`).
//! So `cancel_timer` returns `true` exactly when the callback does not run for that arming.

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

/// The state of one timer.
struct SlotState {
    /// Until it runs (or the provider is torn down).
    callback: Option<TimerCallback>,
    /// The current arming: its generation and cookie.
    armed: Option<(u64, u64)>,
    /// Armings so far.
    generation: u64,
}

/// One timer: its callback and its arming.
pub(crate) struct TimerSlot {
    state: Mutex<SlotState>,
}

impl TimerSlot {
    pub fn new(callback: TimerCallback) -> Self {
        TimerSlot {
            state: Mutex::new(SlotState {
                callback: Some(callback),
                armed: None,
                generation: 0,
            }),
        }
    }

    /// Arms it; returns the arming's generation, or `None` if the callback is gone (it ran).
    pub fn arm(&self, cookie: u64) -> Option<u64> {
        let mut st = self.state.lock();
        st.callback.as_ref()?;
        st.generation += 1;
        let g = st.generation;
        st.armed = Some((g, cookie));
        Some(g)
    }

    /// Disarms it: `true` if the callback will not run for the current arming (or it was not
    /// armed), `false` if it ran or is running.
    pub fn cancel(&self) -> bool {
        let mut st = self.state.lock();
        st.armed = None;
        st.callback.is_some()
    }

    /// The callback and cookie if arming `generation` is still the current one (the loop fires
    /// it); at most one caller gets them.
    pub fn fire(&self, generation: u64) -> Option<(TimerCallback, u64)> {
        let mut st = self.state.lock();
        match st.armed {
            Some((g, cookie)) if g == generation => {
                st.armed = None;
                st.callback.take().map(|cb| (cb, cookie))
            }
            _ => None,
        }
    }

    /// Forgets the callback (the provider is torn down: nothing fires any more).
    pub fn forget(&self) -> Option<TimerCallback> {
        let mut st = self.state.lock();
        st.armed = None;
        st.callback.take()
    }
}

/// A timer in the event loop's heap (earliest first; equal deadlines in arming order).
pub(crate) struct TimerEntry {
    pub at: Instant,
    pub seq: u64,
    pub slot: Arc<TimerSlot>,
    /// The arming this entry is for.
    pub generation: u64,
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
