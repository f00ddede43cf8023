//! Work items: run a Rust closure at PASSIVE_LEVEL on a system worker thread.
//!
//! Used where a completion arrives at DISPATCH_LEVEL but the next step needs PASSIVE_LEVEL
//! (`WskFreeAddressInfo`).

use crate::kernel::outstanding::Token;
use crate::sys::imports::{IoAllocateWorkItem, IoFreeWorkItem, IoQueueWorkItem};
use crate::sys::{DelayedWorkQueue, DEVICE_OBJECT, IO_WORKITEM};
use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::NonNull;

struct Job {
    item: NonNull<IO_WORKITEM>,
    run: Box<dyn FnOnce() + Send>,
    token: Token,
}

unsafe extern "system" fn work_routine(_device: *mut DEVICE_OBJECT, context: *mut c_void) {
    // SAFETY: 1. `context` is the `Box::into_raw` of `queue`, given to exactly this one call.
    let job = unsafe { Box::from_raw(context.cast::<Job>()) };
    let Job { item, run, token } = *job;
    run();
    // SAFETY: 1. the work item was allocated by `queue` and this routine is its only use; freeing it
    // inside its own routine is allowed (the I/O manager holds a device reference meanwhile).
    unsafe { IoFreeWorkItem(item.as_ptr()) };
    drop(token);
}

/// Queues `run` on a delayed worker thread. `device` is a device object of this driver (the
/// I/O manager keeps the driver loaded while the item is queued). Gives `run` back if no work
/// item could be allocated.
///
/// # Safety
/// `device` points to a live device object of this driver.
pub unsafe fn queue(
    device: NonNull<DEVICE_OBJECT>,
    run: Box<dyn FnOnce() + Send>,
) -> Result<(), Box<dyn FnOnce() + Send>> {
    // SAFETY: 1. live device object (caller contract); IRQL <= DISPATCH_LEVEL.
    let Some(item) = NonNull::new(unsafe { IoAllocateWorkItem(device.as_ptr()) }) else {
        return Err(run);
    };
    let job = Box::into_raw(Box::new(Job {
        item,
        run,
        token: Token::new(),
    }));
    // SAFETY: 1. a fresh work item; 2. `job` is handed to `work_routine` exactly once.
    unsafe { IoQueueWorkItem(item.as_ptr(), work_routine, DelayedWorkQueue, job.cast()) };
    Ok(())
}
