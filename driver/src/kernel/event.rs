//! A notification `KEVENT` on the heap (it must not move once initialized).

use crate::sys::imports::{KeInitializeEvent, KeSetEvent, KeWaitForSingleObject};
use crate::sys::{Executive, KernelMode, NotificationEvent, FALSE, KEVENT};
use alloc::boxed::Box;
use core::cell::UnsafeCell;

/// A notification event.
pub struct Event(Box<UnsafeCell<KEVENT>>);

// SAFETY: 1. a KEVENT is designed to be signalled and waited on from any thread.
unsafe impl Send for Event {}
// SAFETY: 1. see `Send`; all access goes through the kernel's synchronized Ke* calls.
unsafe impl Sync for Event {}

impl Event {
    /// A new, non-signalled notification event; `None` for want of memory.
    pub fn new() -> Option<Event> {
        let ev = Box::try_new(UnsafeCell::new(KEVENT::zeroed())).ok()?;
        // SAFETY: 1. the event is heap-allocated and never moves; 2. initialization happens once,
        // before anyone else can see it.
        unsafe { KeInitializeEvent(ev.get(), NotificationEvent, FALSE) };
        Some(Event(ev))
    }

    /// Signals it (IRQL <= DISPATCH_LEVEL).
    pub fn set(&self) {
        // SAFETY: 1. initialized event, alive as long as `self`.
        unsafe { KeSetEvent(self.0.get(), 0, FALSE) };
    }

    /// Waits for it without a timeout (PASSIVE_LEVEL only: DriverUnload).
    pub fn wait(&self) {
        // SAFETY: 1. initialized event, alive as long as `self`; 2. the caller is at PASSIVE_LEVEL.
        unsafe { wait_forever(self.0.get()) };
    }
}

/// `KeWaitForSingleObject` on a notification event, without a timeout.
///
/// # Safety
/// `event` is an initialized `KEVENT` that outlives the wait; PASSIVE_LEVEL.
pub unsafe fn wait_forever(event: *mut KEVENT) {
    // SAFETY: 1. an initialized event that outlives the call (caller contract); 2. null timeout =
    // wait forever, allowed at PASSIVE_LEVEL (caller contract); 3. KernelMode, not alertable.
    unsafe { KeWaitForSingleObject(event.cast(), Executive, KernelMode, FALSE, core::ptr::null()) };
}
