//! The driver's device object the provider's IRPs and work items belong to.

use crate::irp::wsk::{self as op, Finish, OpRef, Reserved};
use crate::kernel::workitem::{Job, WorkItem};
use crate::sys::{DEVICE_OBJECT, IRP, NTSTATUS};
use core::ptr::NonNull;

/// A device object of ours, for WSK IRPs (`IoSetCompletionRoutineEx`) and work items.
///
/// # Invariants
/// A live device object of this driver that outlives the provider and every IRP and work item
/// started through it (the device is deleted only after the engine is idle, the provider
/// dropped and the outstanding callbacks run down).
#[derive(Clone, Copy)]
pub struct OurDevice(NonNull<DEVICE_OBJECT>);

// SAFETY: 1. the device object pointer is only passed to IoSetCompletionRoutineEx and
// IoAllocateWorkItem, callable from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for OurDevice {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for OurDevice {}

impl OurDevice {
    /// The device.
    ///
    /// # Safety
    /// `device` is a device object of this driver that outlives what is started through it
    /// (the invariant).
    pub unsafe fn new(device: NonNull<DEVICE_OBJECT>) -> OurDevice {
        // INVARIANT: the caller's contract.
        OurDevice(device)
    }

    /// [`op::start`] on this device: allocates the call's IRP and context (fallibly).
    pub fn start<T: Send + 'static, F: Finish<T>>(
        self,
        payload: T,
        call: impl FnOnce(*mut T, *mut IRP) -> NTSTATUS,
        finish: F,
    ) -> Option<OpRef> {
        // SAFETY: 1. a live device object of ours (invariant).
        unsafe { op::start(self.0, payload, call, finish) }
    }

    /// [`op::start_reserved`] on this device: allocates nothing.
    pub fn start_reserved<T: Send + 'static, F: Finish<T>>(
        self,
        reserved: Reserved<T, F>,
        call: impl FnOnce(*mut T, *mut IRP) -> NTSTATUS,
    ) -> Option<OpRef> {
        // SAFETY: 1. a live device object of ours (invariant).
        unsafe { op::start_reserved(self.0, reserved, call) }
    }

    /// A work item of this device with `job`; the job back for want of memory.
    pub fn work_item<J: Job>(self, job: J) -> Result<WorkItem<J>, J> {
        // SAFETY: 1. a live device object of ours (invariant).
        unsafe { WorkItem::allocate(self.0, job) }
    }
}
