//! The kernel allocations the driver makes — IRPs, MDLs, work items — in one place, so that the
//! test build's fault injector (feature `alloc-faults`, at the crate root) counts them among the
//! pool allocations it fails the Nth of. Without the feature these are the imports themselves.

#[cfg(not(feature = "alloc-faults"))]
pub use crate::sys::imports::{IoAllocateIrp, IoAllocateMdl, IoAllocateWorkItem};

#[cfg(feature = "alloc-faults")]
pub use counted::{IoAllocateIrp, IoAllocateMdl, IoAllocateWorkItem};

#[cfg(feature = "alloc-faults")]
#[allow(non_snake_case)] // the imports' names, so callers read the same with the feature or not
mod counted {
    use crate::sys::imports;
    use crate::sys::{BOOLEAN, DEVICE_OBJECT, IO_WORKITEM, IRP, MDL};
    use core::ffi::c_void;
    use wsksock_nt::faults::Kind;

    /// `IoAllocateIrp`, or NULL when the injector fails this allocation.
    ///
    /// # Safety
    /// As `IoAllocateIrp`.
    pub unsafe fn IoAllocateIrp(StackSize: i8, ChargeQuota: BOOLEAN) -> *mut IRP {
        if crate::GLOBAL.next_fails(Kind::Irp) {
            return core::ptr::null_mut();
        }
        // SAFETY: 1. the caller's arguments, as `IoAllocateIrp` requires (caller contract).
        unsafe { imports::IoAllocateIrp(StackSize, ChargeQuota) }
    }

    /// `IoAllocateMdl`, or NULL when the injector fails this allocation.
    ///
    /// # Safety
    /// As `IoAllocateMdl`.
    pub unsafe fn IoAllocateMdl(
        VirtualAddress: *mut c_void,
        Length: u32,
        SecondaryBuffer: BOOLEAN,
        ChargeQuota: BOOLEAN,
        Irp: *mut IRP,
    ) -> *mut MDL {
        if crate::GLOBAL.next_fails(Kind::Mdl) {
            return core::ptr::null_mut();
        }
        // SAFETY: 1. the caller's arguments, as `IoAllocateMdl` requires (caller contract).
        unsafe { imports::IoAllocateMdl(VirtualAddress, Length, SecondaryBuffer, ChargeQuota, Irp) }
    }

    /// `IoAllocateWorkItem`, or NULL when the injector fails this allocation.
    ///
    /// # Safety
    /// As `IoAllocateWorkItem`.
    pub unsafe fn IoAllocateWorkItem(DeviceObject: *mut DEVICE_OBJECT) -> *mut IO_WORKITEM {
        if crate::GLOBAL.next_fails(Kind::WorkItem) {
            return core::ptr::null_mut();
        }
        // SAFETY: 1. the caller's argument, as `IoAllocateWorkItem` requires (caller contract).
        unsafe { imports::IoAllocateWorkItem(DeviceObject) }
    }
}
