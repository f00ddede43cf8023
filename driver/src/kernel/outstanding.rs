//! Counts the driver's callbacks that the kernel may still run (WSK completion routines, timer
//! DPCs, work items, and the close of every open file object): unload waits — on an event, never
//! by polling — until none is left.
//!
//! Every `into_foreign` of a context whose callback the kernel will call takes a [`Token`]; the
//! callback drops it as its last action. An open file object holds one until its close is over
//! (the front ends' `OpenFile`). The count starts at one, the driver's own reference,
//! which [`rundown`] gives up at unload; whoever brings the count to zero sets the event.
//!
//! The count says that every callback has reached its last action; the instructions after it
//! (the callback's return into the kernel) are the kernel's to cover: `IoSetCompletionRoutineEx`
//! and `IoQueueWorkItem` hold a device reference until the routine returned, and
//! `KeFlushQueuedDpcs` waits for the DPCs (see `front` unload and docs/DRIVER.md, "Unload").
//!
//! # Invariants
//! - `COUNT` = 1 (until [`rundown`]) + the live [`Token`]s.
//! - `IDLE` is initialized by [`init`] before any token exists, and set only when `COUNT` reaches
//!   zero.

use crate::sys::imports::{KeInitializeEvent, KeSetEvent};
use crate::sys::{NotificationEvent, FALSE, KEVENT};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A notification event in the image's data (it never moves).
struct StaticEvent(UnsafeCell<KEVENT>);

// SAFETY: 1. a KEVENT is signalled and waited on from any thread through the kernel's synchronized
// Ke* calls; 2. it is initialized once (`init`) before any other thread can see it.
unsafe impl Sync for StaticEvent {}

static COUNT: AtomicUsize = AtomicUsize::new(0);
static IDLE: StaticEvent = StaticEvent(UnsafeCell::new(KEVENT::zeroed()));

/// Initializes the count (the driver's own reference) and its event. `DriverEntry`, first thing.
pub fn init() {
    // SAFETY: 1. a static KEVENT, never moved; 2. initialized before any token or waiter exists.
    unsafe { KeInitializeEvent(IDLE.0.get(), NotificationEvent, FALSE) };
    // INVARIANT: the driver's own reference; no token exists yet.
    COUNT.store(1, Ordering::Release);
}

fn release() {
    if COUNT.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: 1. initialized by `init` (invariant); KeSetEvent is callable at <= DISPATCH_LEVEL.
        unsafe { KeSetEvent(IDLE.0.get(), 0, FALSE) };
    }
}

/// One callback the kernel may still run.
#[derive(Debug)]
pub struct Token(());

impl Token {
    /// Counts a new outstanding callback.
    pub fn new() -> Token {
        if COUNT.fetch_add(1, Ordering::AcqRel) == 0 {
            // After `rundown` returned nothing of ours may start: a driver bug, said out loud.
            crate::kernel::print::kprint!("a callback was started after unload's rundown");
        }
        Token(())
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        release();
    }
}

/// Gives up the driver's own reference and waits (PASSIVE_LEVEL, unload only) until every
/// callback has dropped its token. Call once, after the engine reported idle.
pub fn rundown() {
    release();
    // SAFETY: 1. initialized by `init` (invariant), a static that outlives the wait; 2. PASSIVE_LEVEL
    // (the caller's contract).
    unsafe { crate::kernel::event::wait_forever(IDLE.0.get()) };
}
