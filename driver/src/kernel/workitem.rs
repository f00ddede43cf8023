//! Work items: run a Rust closure at PASSIVE_LEVEL on a system worker thread.
//!
//! Used where the next step needs PASSIVE_LEVEL and the caller may be above it: `WskCloseSocket`
//! (see the provider's `close`), `WskGetAddressInfo` for a RESOLVE sent above PASSIVE_LEVEL, and
//! `WskFreeAddressInfo` after a resolve completed.
//!
//! A [`WorkItem`] is allocated first, with its job ([`WorkItem::allocate`], which may fail: the
//! `IO_WORKITEM` and the box the routine gets) and queued later ([`WorkItem::queue`], which
//! cannot and allocates nothing): a caller that must not fail halfway — a socket's close, the end
//! of a resolve — allocates up front and fills in the job's last details when it queues it
//! ([`WorkItem::job_mut`]).
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

use crate::kernel::faults::IoAllocateWorkItem;
use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::outstanding::Token;
use crate::sys::imports::{IoFreeWorkItem, IoQueueWorkItem};
use crate::sys::{DelayedWorkQueue, DEVICE_OBJECT, IO_WORKITEM};
use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::NonNull;

/// What a queued work item runs (at PASSIVE_LEVEL, once).
pub trait Job: Send + 'static {
    /// Runs the job.
    fn run(self);
}

struct Queued<J> {
    item: NonNull<IO_WORKITEM>,
    job: J,
    /// Taken when queued: a work item allocated and never queued is no callback to wait for.
    token: Option<Token>,
}

/// An allocated, not yet queued work item of one of the driver's devices, with its job.
///
/// # Invariants
/// `queued` is `Some` until `queue`; its `item` came from `IoAllocateWorkItem` and is not queued
/// while here; it is freed by `Drop` or, once queued, by its routine.
pub struct WorkItem<J: Job> {
    queued: Option<Box<Queued<J>>>,
}

// SAFETY: 1. an unqueued work item may be queued or freed from any thread at IRQL <= DISPATCH_LEVEL;
// the job is Send.
unsafe impl<J: Job> Send for WorkItem<J> {}

unsafe extern "system" fn work_routine<J: Job>(_device: *mut DEVICE_OBJECT, context: *mut c_void) {
    // SAFETY: 1. `context` is the box `queue` handed over, given to exactly this one call.
    let Some(queued) = (unsafe { <Box<Queued<J>> as ForeignOwnable>::try_from_foreign(context) }) else {
        return;
    };
    let Queued { item, job, token } = *queued;
    job.run();
    // SAFETY: 1. the work item of this job, dequeued before its routine runs, so freeing it here
    // is allowed (IoFreeWorkItem's documentation); nothing uses it after.
    unsafe { IoFreeWorkItem(item.as_ptr()) };
    drop(token);
}

impl<J: Job> WorkItem<J> {
    /// Allocates a work item of `device` with `job`; gives the job back for want of memory.
    ///
    /// # Safety
    /// `device` is a live device object of this driver (IRQL <= DISPATCH_LEVEL).
    pub unsafe fn allocate(device: NonNull<DEVICE_OBJECT>, job: J) -> Result<WorkItem<J>, J> {
        // SAFETY: 1. a live device object of ours (caller contract).
        let Some(item) = NonNull::new(unsafe { IoAllocateWorkItem(device.as_ptr()) }) else {
            return Err(job);
        };
        match crate::kernel::try_box(Queued {
            item,
            job,
            token: None,
        }) {
            // INVARIANT: freshly allocated, not queued.
            Ok(queued) => Ok(WorkItem { queued: Some(queued) }),
            Err(q) => {
                // SAFETY: 1. allocated just above, never queued: ours to free, once.
                unsafe { IoFreeWorkItem(item.as_ptr()) };
                Err(q.job)
            }
        }
    }

    /// The job, to fill in what is only known when it is queued.
    pub fn job_mut(&mut self) -> Option<&mut J> {
        self.queued.as_mut().map(|q| &mut q.job)
    }

    /// Queues the job on a delayed worker thread (IRQL <= DISPATCH_LEVEL). Cannot fail,
    /// allocates nothing.
    pub fn queue(mut self) {
        // The routine frees the item from now on, not `Drop`.
        let Some(mut queued) = self.queued.take() else {
            return;
        };
        queued.token = Some(Token::new());
        let item = queued.item;
        let context = queued.into_foreign();
        // SAFETY: 1. an allocated, unqueued work item (invariant); 2. the box is handed to
        // `work_routine` exactly once, which takes it back.
        unsafe {
            IoQueueWorkItem(
                item.as_ptr(),
                work_routine::<J>,
                DelayedWorkQueue,
                context.as_ptr(),
            );
        }
    }
}

impl<J: Job> Drop for WorkItem<J> {
    fn drop(&mut self) {
        if let Some(q) = self.queued.take() {
            // SAFETY: 1. allocated by `allocate` and never queued (invariant): ours to free, once.
            unsafe { IoFreeWorkItem(q.item.as_ptr()) };
        }
    }
}
