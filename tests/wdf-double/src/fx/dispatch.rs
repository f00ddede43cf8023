//! The dispatch routine the framework puts in every `MajorFunction` slot of a driver: create,
//! cleanup and close go to the file-object handling, the two device-control majors to the
//! device's default queue, anything else fails with STATUS_INVALID_DEVICE_REQUEST (a control
//! device of this double has no read, write or power handling).

use super::device;
use super::file;
use super::request::complete_irp;
use crate::logic::validate::status;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use wsksock_nt::sys::inline::{IoGetCurrentIrpStackLocation, IoMarkIrpPending};
use wsksock_nt::sys::{
    DEVICE_OBJECT, IRP, IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL,
    IRP_MJ_INTERNAL_DEVICE_CONTROL, NTSTATUS, STATUS_PENDING,
};

/// `DRIVER_DISPATCH` of every major function of a bound driver.
///
/// # Safety
/// Called by the I/O manager with a device object of a bound driver and an IRP for it.
pub unsafe extern "system" fn dispatch(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    let Some(irp) = NonNull::new(irp) else {
        return status::INVALID_PARAMETER;
    };
    let fail = |st: NTSTATUS| {
        // SAFETY: 1. the IRP being dispatched is ours to complete, once.
        unsafe { complete_irp(irp, st, 0) };
        st
    };
    // SAFETY: 1. a device of a bound driver (caller contract).
    let Some(d) = (unsafe { device::of_wdm(device) }) else {
        return fail(status::INVALID_DEVICE_REQUEST);
    };
    // SAFETY: 1. the IRP being dispatched.
    let stack = unsafe { IoGetCurrentIrpStackLocation(irp.as_ptr()) };
    // SAFETY: 1. its current stack location.
    let major = usize::from(unsafe { (*stack).MajorFunction });
    match major {
        // SAFETY: 1. an IRP_MJ_CREATE for `d`, handed over.
        IRP_MJ_CREATE => unsafe { file::create(d, irp) },
        // SAFETY: 1. an IRP_MJ_CLEANUP for `d`, handed over.
        IRP_MJ_CLEANUP => unsafe { file::cleanup_or_close(d, irp, false) },
        // SAFETY: 1. an IRP_MJ_CLOSE for `d`, handed over.
        IRP_MJ_CLOSE => unsafe { file::cleanup_or_close(d, irp, true) },
        IRP_MJ_DEVICE_CONTROL | IRP_MJ_INTERNAL_DEVICE_CONTROL => {
            // SAFETY: 1. a queue lives as long as its device.
            let Some(q) = (unsafe { d.queue.load(Ordering::Acquire).as_ref() }) else {
                return fail(status::INVALID_DEVICE_REQUEST);
            };
            // SAFETY: 1. the IRP being dispatched: pending from here on, completed by the request.
            unsafe { IoMarkIrpPending(irp.as_ptr()) };
            // SAFETY: 1. a pending device-control IRP of the queue's device, handed over.
            unsafe { q.arrive(irp) };
            STATUS_PENDING
        }
        _ => fail(status::INVALID_DEVICE_REQUEST),
    }
}
