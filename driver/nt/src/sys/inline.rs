//! The WDK's header-only helpers (macros and `FORCEINLINE` functions of `wdm.h`), re-implemented
//! over the typed structs. No kernel export backs these; each one only touches the fields the C
//! version touches.

use super::imports::{IofCompleteRequest, MmMapLockedPagesSpecifyCache};
use super::nt::{
    KernelMode, MdlMappingNoExecute, MmCached, NormalPagePriority, DEVICE_IO_CONTROL_PARAMETERS,
    DEVICE_OBJECT, FILE_OBJECT, IO_STACK_LOCATION, IRP, KPROCESSOR_MODE, MDL, MDL_MAPPED_TO_SYSTEM_VA,
    MDL_SOURCE_IS_NONPAGED_POOL, NTSTATUS, PDRIVER_CANCEL, PIO_COMPLETION_ROUTINE, SL_INVOKE_ON_CANCEL,
    SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS, SL_PENDING_RETURNED,
};
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` points to a live IRP the caller owns (or is dispatching).
pub unsafe fn IoGetCurrentIrpStackLocation(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: 1. `irp` is live (caller contract).
    let tail = unsafe { &(*irp).Tail };
    // SAFETY: 1. `Overlay` is the active union member for an IRP being processed by a driver.
    unsafe { tail.Overlay.CurrentStackLocation }
}

/// `IoGetNextIrpStackLocation`: the location below the current one.
///
/// # Safety
/// `irp` points to a live IRP with at least one stack location below the current one.
pub unsafe fn IoGetNextIrpStackLocation(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: 1. caller contract: the IRP is live; 2. a freshly allocated IRP's current location is
    // one past its last stack location, so the next one is inside the allocation.
    let cur = unsafe { IoGetCurrentIrpStackLocation(irp) };
    cur.wrapping_sub(1)
}

/// `IoSetCompletionRoutine` with invoke-on-success/error/cancel all set.
///
/// # Safety
/// `irp` is a live IRP owned by the caller with a stack location below the current one; `context`
/// stays valid until `routine` runs.
pub unsafe fn IoSetCompletionRoutineAlways(
    irp: *mut IRP,
    routine: PIO_COMPLETION_ROUTINE,
    context: *mut c_void,
) {
    // SAFETY: 1. caller contract (see above).
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: 1. `next` is a stack location inside the IRP (caller contract); 2. the caller owns the
    // IRP, so nobody else accesses this location now.
    let next = unsafe { &mut *next };
    next.CompletionRoutine = Some(routine);
    next.Context = context;
    next.Control = SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL;
}

/// `IoMarkIrpPending`.
///
/// # Safety
/// `irp` is a live IRP being dispatched by the caller.
pub unsafe fn IoMarkIrpPending(irp: *mut IRP) {
    // SAFETY: 1. caller contract.
    let cur = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: 1. `cur` is the caller's own stack location; 2. only the dispatching driver writes it.
    unsafe { (*cur).Control |= SL_PENDING_RETURNED };
}

/// `IoSetCancelRoutine`: atomically swaps `Irp->CancelRoutine`, returning the old one.
///
/// # Safety
/// `irp` is a live IRP the caller owns.
pub unsafe fn IoSetCancelRoutine(irp: *mut IRP, routine: Option<PDRIVER_CANCEL>) -> Option<PDRIVER_CANCEL> {
    // SAFETY: 1. `CancelRoutine` is a pointer-sized, pointer-aligned field of a live IRP; 2. the I/O
    // manager also accesses it only atomically (InterlockedExchangePointer), as `AtomicPtr` does.
    let field = unsafe { &raw mut (*irp).CancelRoutine };
    // SAFETY: 1. see above: a valid, aligned pointer-sized field only accessed atomically.
    let slot = unsafe { AtomicPtr::<c_void>::from_ptr(field.cast()) };
    let new = routine.map_or(core::ptr::null_mut(), |r| r as *mut c_void);
    let old = slot.swap(new, Ordering::AcqRel);
    if old.is_null() {
        None
    } else {
        // SAFETY: 1. a non-null value in this field was stored from a `PDRIVER_CANCEL`; 2. function
        // pointers and data pointers have the same size on this target.
        Some(unsafe { core::mem::transmute::<*mut c_void, PDRIVER_CANCEL>(old) })
    }
}

/// `Irp->Cancel`.
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpCancelFlag(irp: *mut IRP) -> bool {
    // SAFETY: 1. live IRP; 2. a volatile byte read, as the C code's `Irp->Cancel` read after
    // `IoSetCancelRoutine` (a full barrier) is.
    let field = unsafe { &raw const (*irp).Cancel };
    // SAFETY: 1. a valid byte field of the live IRP.
    unsafe { field.read_volatile() != 0 }
}

/// `Irp->Tail.Overlay.DriverContext`: four pointers the owning driver may use.
///
/// # Safety
/// `irp` is a live IRP the caller owns.
pub unsafe fn IrpDriverContext(irp: *mut IRP) -> *mut [*mut c_void; 4] {
    // SAFETY: 1. caller contract.
    let tail = unsafe { &mut (*irp).Tail };
    // SAFETY: 1. `Overlay` is the active member while a driver owns the IRP.
    unsafe { &raw mut tail.Overlay.DriverContext }
}

/// `IoCompleteRequest`.
///
/// # Safety
/// `irp` is a live IRP the caller owns, with its IoStatus set; it is gone after this call.
pub unsafe fn IoCompleteRequest(irp: *mut IRP, boost: i8) {
    // SAFETY: 1. caller contract.
    unsafe { IofCompleteRequest(irp, boost) }
}

/// `MmGetMdlVirtualAddress`.
///
/// # Safety
/// `mdl` points to a live MDL.
pub unsafe fn MmGetMdlVirtualAddress(mdl: *const MDL) -> *mut c_void {
    // SAFETY: 1. live MDL (caller contract).
    let mdl = unsafe { &*mdl };
    let (start, off) = (mdl.StartVa, mdl.ByteOffset);
    start.cast::<u8>().wrapping_add(off as usize).cast()
}

/// `MmGetMdlByteCount`.
///
/// # Safety
/// `mdl` points to a live MDL.
pub unsafe fn MmGetMdlByteCount(mdl: *const MDL) -> u32 {
    // SAFETY: 1. live MDL (caller contract).
    unsafe { (*mdl).ByteCount }
}

/// `MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority | MdlMappingNoExecute)`.
///
/// # Safety
/// `mdl` describes locked pages (or non-paged pool); IRQL <= DISPATCH_LEVEL.
pub unsafe fn MmGetSystemAddressForMdlSafe(mdl: *mut MDL) -> *mut c_void {
    // SAFETY: 1. live MDL (caller contract).
    let (flags, mapped) = unsafe { MdlMapping(mdl) };
    if flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        mapped
    } else {
        // SAFETY: 1. the pages are locked (caller contract); 2. KernelMode mapping with
        // BugCheckOnFailure = FALSE returns null on failure instead of crashing.
        unsafe {
            MmMapLockedPagesSpecifyCache(
                mdl,
                KernelMode,
                MmCached,
                core::ptr::null_mut(),
                0,
                NormalPagePriority | MdlMappingNoExecute,
            )
        }
    }
}

/// `Irp->AssociatedIrp.SystemBuffer`.
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpSystemBuffer(irp: *mut IRP) -> *mut c_void {
    // SAFETY: 1. live IRP (caller contract).
    let assoc = unsafe { &(*irp).AssociatedIrp };
    // SAFETY: 1. for a device-control IRP of a driver the union holds `SystemBuffer` (or null).
    unsafe { assoc.SystemBuffer }
}

/// `Irp->RequestorMode`.
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpRequestorMode(irp: *mut IRP) -> KPROCESSOR_MODE {
    // SAFETY: 1. live IRP (caller contract).
    unsafe { (*irp).RequestorMode }
}

/// `Irp->Tail.Overlay.Thread`: the thread that issued the IRP (NULL if none was recorded).
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpThread(irp: *mut IRP) -> *mut c_void {
    // SAFETY: 1. live IRP (caller contract).
    let tail = unsafe { &(*irp).Tail };
    // SAFETY: 1. `Overlay` is the member of the `Tail` union the I/O manager uses while the IRP
    // is with a driver.
    unsafe { tail.Overlay.Thread }
}

/// `Irp->MdlAddress`.
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpMdlAddress(irp: *mut IRP) -> *mut MDL {
    // SAFETY: 1. live IRP (caller contract).
    unsafe { (*irp).MdlAddress }
}

/// `Irp->UserBuffer`.
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpUserBuffer(irp: *mut IRP) -> *mut c_void {
    // SAFETY: 1. live IRP (caller contract).
    unsafe { (*irp).UserBuffer }
}

/// `Irp->CancelIrql`.
///
/// # Safety
/// `irp` is a live IRP.
pub unsafe fn IrpCancelIrql(irp: *mut IRP) -> u8 {
    // SAFETY: 1. live IRP (caller contract).
    unsafe { (*irp).CancelIrql }
}

/// `(Irp->IoStatus.Status, Irp->IoStatus.Information)`.
///
/// # Safety
/// `irp` is a live IRP that has completed to the caller (its IoStatus is final).
pub unsafe fn IrpIoStatus(irp: *mut IRP) -> (NTSTATUS, usize) {
    // SAFETY: 1. live IRP (caller contract).
    let iosb = unsafe { &(*irp).IoStatus };
    (iosb.Status, iosb.Information)
}

/// Sets `Irp->IoStatus`.
///
/// # Safety
/// `irp` is a live IRP the caller owns and is about to complete.
pub unsafe fn IrpSetIoStatus(irp: *mut IRP, status: NTSTATUS, information: usize) {
    // SAFETY: 1. live IRP owned by the caller (caller contract).
    let iosb = unsafe { &mut (*irp).IoStatus };
    iosb.Status = status;
    iosb.Information = information;
}

/// The current stack location's `Parameters.DeviceIoControl`.
///
/// # Safety
/// `irp` is a live IRP_MJ_(INTERNAL_)DEVICE_CONTROL IRP being dispatched.
pub unsafe fn IrpDeviceIoControl(irp: *mut IRP) -> DEVICE_IO_CONTROL_PARAMETERS {
    // SAFETY: 1. caller contract.
    let sl = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: 1. the current location is valid while the IRP is dispatched.
    let params = unsafe { &(*sl).Parameters };
    // SAFETY: 1. device-control IRPs carry the DeviceIoControl member.
    unsafe { params.DeviceIoControl }
}

/// The current stack location's `FileObject`.
///
/// # Safety
/// `irp` is a live IRP being dispatched.
pub unsafe fn IrpFileObject(irp: *mut IRP) -> *mut FILE_OBJECT {
    // SAFETY: 1. caller contract.
    let sl = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: 1. the current location is valid while the IRP is dispatched.
    unsafe { (*sl).FileObject }
}

/// `MDL.MdlFlags` and `MDL.MappedSystemVa`.
///
/// # Safety
/// `mdl` points to a live MDL.
pub unsafe fn MdlMapping(mdl: *const MDL) -> (i16, *mut c_void) {
    // SAFETY: 1. live MDL (caller contract).
    let mdl = unsafe { &*mdl };
    (mdl.MdlFlags, mdl.MappedSystemVa)
}

/// `DeviceObject->DeviceExtension`.
///
/// # Safety
/// `device` is a live device object.
pub unsafe fn DeviceExtension(device: *mut DEVICE_OBJECT) -> *mut c_void {
    // SAFETY: 1. live device object (caller contract).
    unsafe { (*device).DeviceExtension }
}

/// `&mut FileObject->FsContext`.
///
/// # Safety
/// `file` is a live file object of this driver's device.
pub unsafe fn FileObjectFsContext(file: *mut FILE_OBJECT) -> *mut *mut c_void {
    // SAFETY: 1. live file object (caller contract).
    unsafe { &raw mut (*file).FsContext }
}

/// `Irp->Tail.Overlay.DriverContext[0]`.
///
/// # Safety
/// `irp` is a live IRP the caller owns.
pub unsafe fn IrpDriverContext0(irp: *mut IRP) -> *mut *mut c_void {
    // SAFETY: 1. caller contract.
    let ctx = unsafe { IrpDriverContext(irp) };
    ctx.cast()
}
