//! Work items: run a Rust closure at PASSIVE_LEVEL on a system worker thread.
//!
//! Used where the next step needs PASSIVE_LEVEL and the caller may be above it: `WskCloseSocket`
//! (see the provider's `close`), `WskGetAddressInfo` for a RESOLVE sent above PASSIVE_LEVEL, and
//! `WskFreeAddressInfo` after a resolve completed.
//!
//! A [`WorkItem`] is allocated first ([`WorkItem::allocate`], which may fail) and queued later
//! ([`WorkItem::queue`], which cannot): a caller that must not fail halfway allocates up front.
//!
//! # Unload
//! `IoQueueWorkItem` takes a reference on the work item's device object and drops it only after
//! the routine returned — the reason the `Io…WorkItem` routines exist beside `ExQueueWorkItem`,
//! whose items can run in an unloaded image (Doron Holan, "Why are there two types of work
//! items?", MSDN blogs, 2006-08-07); Wine 8's `IoQueueWorkItem` calls `ObReferenceObject` and its
//! worker `ObDereferenceObject` after the routine (read in its `ntoskrnl.exe`). On Windows that
//! reference keeps the driver image loaded until the routine has returned (Wine unmaps the image
//! regardless: docs/DRIVER.md, "Unload"); the job's [`Token`] makes unload wait until the
//! routine's work is done.

use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::outstanding::Token;
use crate::sys::imports::{IoAllocateWorkItem, IoFreeWorkItem, IoQueueWorkItem};
use crate::sys::{DelayedWorkQueue, DEVICE_OBJECT, IO_WORKITEM};
use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::NonNull;

/// What a queued work item runs.
pub type Job = Box<dyn FnOnce() + Send>;

struct Queued {
    item: NonNull<IO_WORKITEM>,
    run: Job,
    token: Token,
}

/// An allocated, not yet queued work item of one of the driver's devices.
///
/// # Invariants
/// `item` came from `IoAllocateWorkItem` and is not queued; it is freed by `Drop` or, once
/// queued, by its routine.
pub struct WorkItem {
    item: NonNull<IO_WORKITEM>,
}

// SAFETY: 1. an unqueued work item may be queued or freed from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for WorkItem {}

unsafe extern "system" fn work_routine(_device: *mut DEVICE_OBJECT, context: *mut c_void) {
    // SAFETY: 1. `context` is the job `queue` handed over, given to exactly this one call.
    let Some(queued) = (unsafe { <Box<Queued> as ForeignOwnable>::try_from_foreign(context) }) else {
        return;
    };
    let Queued { item, run, token } = *queued;
    run();
    // SAFETY: 1. the work item of this job, dequeued before its routine runs, so freeing it here
    // is allowed (IoFreeWorkItem's documentation); nothing uses it after.
    unsafe { IoFreeWorkItem(item.as_ptr()) };
    drop(token);
}

impl WorkItem {
    /// Allocates a work item of `device`; `None` for want of memory.
    ///
    /// # Safety
    /// `device` is a live device object of this driver (IRQL <= DISPATCH_LEVEL).
    pub unsafe fn allocate(device: NonNull<DEVICE_OBJECT>) -> Option<WorkItem> {
        // SAFETY: 1. a live device object of ours (caller contract).
        let item = NonNull::new(unsafe { IoAllocateWorkItem(device.as_ptr()) })?;
        // INVARIANT: freshly allocated, not queued.
        Some(WorkItem { item })
    }

    /// Queues `run` on a delayed worker thread (IRQL <= DISPATCH_LEVEL). Cannot fail.
    pub fn queue(self, run: Job) {
        // The routine frees the item from now on, not `Drop`.
        let item = core::mem::ManuallyDrop::new(self).item;
        let job = Box::new(Queued {
            item,
            run,
            token: Token::new(),
        })
        .into_foreign();
        // SAFETY: 1. an allocated, unqueued work item (invariant); 2. the job is handed to
        // `work_routine` exactly once, which takes it back.
        unsafe { IoQueueWorkItem(item.as_ptr(), work_routine, DelayedWorkQueue, job.as_ptr()) };
    }
}

impl Drop for WorkItem {
    fn drop(&mut self) {
        // SAFETY: 1. allocated by `allocate` and never queued (invariant): ours to free, once.
        unsafe { IoFreeWorkItem(self.item.as_ptr()) };
    }
}
