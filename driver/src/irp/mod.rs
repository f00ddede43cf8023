//! IRP plumbing: every IRP the driver touches, in one place.
//!
//! - [`wsk`]: the IRPs the driver *sends* — one `IoAllocateIrp` IRP per WSK call, an owned
//!   completion context handed to the completion routine once and taken back once, the engine's
//!   cancel handle (`OpRef`), and why unload may not outrun a completion routine.
//! - [`request`]: the IRPs the driver *serves* — a client's IRP_MJ_(INTERNAL_)DEVICE_CONTROL as
//!   the engine's `Request`: where its buffers are per transfer method, where a reply may be
//!   written (never into an input MDL), the checks of a kernel caller's raw pointers, and the
//!   cancel routine's race with the completion.
//! - `complete` (WDM): `IoCompleteRequest` of an IRP the WDM front end finishes itself (the KMDF
//!   front end completes through the framework).
//!
//! The field accesses are the header macros re-implemented in `sys::inline`; the decisions are
//! pure logic (`logic::buffers`, `logic::cancel`, `logic::sync_return`).

pub mod request;
pub mod wsk;

#[cfg(not(kmdf_front))]
use crate::sys::inline::{IoCompleteRequest, IrpSetIoStatus};
#[cfg(not(kmdf_front))]
use crate::sys::{IO_NO_INCREMENT, IRP, NTSTATUS};
#[cfg(not(kmdf_front))]
use core::ptr::NonNull;

/// Sets the IRP's `IoStatus` and completes it; returns `status` (for a dispatch routine).
///
/// # Safety
/// `irp` is a live IRP the caller owns and finishes here, once; it is gone afterwards.
#[cfg(not(kmdf_front))]
pub unsafe fn complete(irp: NonNull<IRP>, status: NTSTATUS, information: usize) -> NTSTATUS {
    // SAFETY: 1. a live IRP the caller owns (caller contract).
    unsafe { IrpSetIoStatus(irp.as_ptr(), status, information) };
    // SAFETY: 1. as above, with its status set; completed once, here.
    unsafe { IoCompleteRequest(irp.as_ptr(), IO_NO_INCREMENT) };
    crate::front::ledger::completed();
    status
}
