//! `WDFFILEOBJECT`: IRP_MJ_CREATE / CLEANUP / CLOSE and the file-object lookups.
//!
//! Where the framework finds its file object from the WDM one depends on the device's class:
//! `FsContext` (`WdfFileObjectWdfCanUseFsContext`, O(1)), `FsContext2`, or a search of the
//! device's list (`WdfFileObjectWdfCannotUseFsContexts`). With `WdfFileObjectCanBeOptional` a
//! request whose IRP carries no file object of the device is presented with a NULL
//! `WDFFILEOBJECT`; without it the framework reports it (a verifier break) and still presents it
//! with NULL. A WDM file object whose `FsContext` the class says is the framework's but is not —
//! a file object of another device — is what the real framework would take for its own and
//! crash on: the double bug-checks.

use super::device::Device;
use super::loader::globals;
use super::object::{get, try_box, Header, Kind, Object};
use super::report::{fatal, verifier};
use super::request::{self, Request};
use crate::logic::validate::status;
use core::ptr::NonNull;
use wdk_sys_standin::{_WDF_FILEOBJECT_CLASS, PFILE_OBJECT, PWDF_DRIVER_GLOBALS, WDFFILEOBJECT};
use wsksock_nt::sys::inline::{IoMarkIrpPending, IrpFileObject};
use wsksock_nt::sys::{FILE_OBJECT, IRP, NTSTATUS, STATUS_PENDING};

/// A `WDFFILEOBJECT`.
#[repr(C)]
pub struct File {
    header: Header,
    device: NonNull<Device>,
    wdm: NonNull<FILE_OBJECT>,
}

// SAFETY: 1. `#[repr(C)]`, header first.
unsafe impl Object for File {
    const KIND: Kind = Kind::File;
    fn header(&self) -> &Header {
        &self.header
    }
}

// SAFETY: 1. immutable after creation.
unsafe impl Send for File {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for File {}

/// Where the class keeps the framework's file object in the WDM one.
fn slot(d: &Device, fo: NonNull<FILE_OBJECT>) -> Option<*mut *mut core::ffi::c_void> {
    let fo = fo.as_ptr();
    match d.file.class {
        // SAFETY: 1. a live WDM file object (callers'); a field address.
        _WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCanUseFsContext => Some(unsafe { &raw mut (*fo).FsContext }),
        // SAFETY: 1. as above.
        _WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCanUseFsContext2 => Some(unsafe { &raw mut (*fo).FsContext2 }),
        _ => None,
    }
}

/// What a lookup found.
enum Found {
    Ours(NonNull<File>),
    Nothing,
    /// The class's `FsContext` slot holds something that is not a file object of the device.
    Foreign,
}

/// The framework's file object of `fo` on `d`.
///
/// # Safety
/// `fo` is a live WDM file object.
unsafe fn lookup(d: &Device, fo: NonNull<FILE_OBJECT>) -> Found {
    let files = d.files.lock();
    if let Some(slot) = slot(d, fo) {
        // SAFETY: 1. a field of the live file object (caller contract).
        let p = unsafe { slot.read() }.cast::<File>();
        let Some(p) = NonNull::new(p) else {
            return Found::Nothing;
        };
        return if files.contains(&p) {
            Found::Ours(p)
        } else {
            Found::Foreign
        };
    }
    // SAFETY: 1. live file objects of the device (in its list).
    match files.iter().find(|f| unsafe { f.as_ref() }.wdm == fo) {
        Some(f) => Found::Ours(*f),
        None => Found::Nothing,
    }
}

/// The file object a request of `d` is presented with (`WdfRequestGetFileObject`).
///
/// # Safety
/// `fo` is NULL or the live WDM file object of a request of `d`.
pub unsafe fn of_request(d: &Device, fo: *mut FILE_OBJECT, function: &str) -> Option<NonNull<File>> {
    let not_required = d.file.class == _WDF_FILEOBJECT_CLASS::WdfFileObjectNotRequired;
    let found = match NonNull::new(fo) {
        None => Found::Nothing,
        // SAFETY: 1. live (caller contract).
        Some(fo) => unsafe { lookup(d, fo) },
    };
    match found {
        Found::Ours(f) => Some(f),
        Found::Nothing if d.file.optional || not_required => None,
        Found::Nothing => {
            verifier(
                d.who(),
                function,
                "a request without a file object of the device (set WdfFileObjectCanBeOptional to accept them)",
            );
            None
        }
        Found::Foreign => fatal(
            d.who(),
            function,
            "the IRP's FILE_OBJECT is not one of the device's: the framework would take its FsContext for a WDFFILEOBJECT",
        ),
    }
}

/// Takes a file object out of its device and destroys it.
///
/// # Safety
/// `f` is a live file object that the driver no longer uses.
pub unsafe fn discard(f: NonNull<File>) {
    // SAFETY: 1. live (caller contract).
    let file = unsafe { f.as_ref() };
    // SAFETY: 1. a device outlives its file objects.
    let d = unsafe { file.device.as_ref() };
    d.files.lock().retain(|p| *p != f);
    if let Some(slot) = slot(d, file.wdm) {
        // SAFETY: 1. the field of the WDM file object, which outlives our file object.
        unsafe { slot.write(core::ptr::null_mut()) };
    }
    // SAFETY: 1. `Box::leak` in `create`; out of every list.
    unsafe { super::object::destroy(f) };
}

/// How many refused creates a device remembers (the oldest is forgotten first).
const REFUSED_KEPT: usize = 64;

/// Discards the file object of a create the driver refused, remembering its WDM file object: on
/// Windows the I/O manager never sends a refused create's IRP_MJ_CLEANUP and IRP_MJ_CLOSE, but
/// Wine (8) gives the caller a handle anyway and sends them when it closes; those pass quietly
/// (`cleanup_or_close`) instead of being reported as requests without a file object.
///
/// # Safety
/// As [`discard`].
pub unsafe fn refused(f: NonNull<File>) {
    // SAFETY: 1. live (caller contract).
    let file = unsafe { f.as_ref() };
    // SAFETY: 1. a device outlives its file objects.
    let d = unsafe { file.device.as_ref() };
    let mut refused = d.refused.lock();
    if refused.len() >= REFUSED_KEPT {
        refused.remove(0);
    }
    if refused.try_reserve(1).is_ok() {
        refused.push(file.wdm.as_ptr() as usize);
    }
    drop(refused);
    // SAFETY: 1. caller contract.
    unsafe { discard(f) };
}

/// IRP_MJ_CREATE.
///
/// # Safety
/// `irp` is an IRP_MJ_CREATE IRP of `d`, handed over.
pub unsafe fn create(d: &Device, irp: NonNull<IRP>) -> NTSTATUS {
    let complete = |st: NTSTATUS| {
        // SAFETY: 1. the IRP is ours (caller contract), completed once.
        unsafe { request::complete_irp(irp, st, 0) };
        st
    };
    if !d.finished() {
        verifier(
            d.who(),
            "IRP_MJ_CREATE",
            "the device is opened before WdfControlFinishInitializing (the I/O manager refuses a device still initializing)",
        );
        return complete(status::NO_SUCH_DEVICE);
    }
    if d.file.class == _WDF_FILEOBJECT_CLASS::WdfFileObjectNotRequired {
        return complete(status::SUCCESS);
    }
    // SAFETY: 1. the IRP being dispatched.
    let Some(fo) = NonNull::new(unsafe { IrpFileObject(irp.as_ptr()) }) else {
        return complete(status::INVALID_DEVICE_REQUEST);
    };
    let mut header = Header::new(Kind::File, NonNull::from(d.header().globals()));
    if let Err(st) = header.adopt(d.file.attributes.as_ref()) {
        return complete(st);
    }
    let Some(file) = try_box(File {
        header,
        device: NonNull::from(d),
        wdm: fo,
    }) else {
        return complete(status::INSUFFICIENT_RESOURCES);
    };
    let mut files = d.files.lock();
    if files.try_reserve(1).is_err() {
        return complete(status::INSUFFICIENT_RESOURCES);
    }
    let f = NonNull::from(alloc::boxed::Box::leak(file));
    files.push(f);
    drop(files);
    // A WDM file object of a refused create, reused: no longer refused.
    d.refused.lock().retain(|a| *a != fo.as_ptr() as usize);
    if let Some(slot) = slot(d, fo) {
        // SAFETY: 1. the new WDM file object's field, the framework's by the class.
        unsafe { slot.write(f.as_ptr().cast()) };
    }
    let Some(callback) = d.file.config.EvtDeviceFileCreate else {
        return complete(status::SUCCESS);
    };
    // SAFETY: 1. the create IRP of `d`, handed over.
    let Some(r) = (unsafe { Request::create(d, irp, None, Some(f)) }) else {
        // SAFETY: 1. never seen by the driver.
        unsafe { discard(f) };
        return complete(status::INSUFFICIENT_RESOURCES);
    };
    // SAFETY: 1. the IRP being dispatched; its completion is the driver's from here on.
    unsafe { IoMarkIrpPending(irp.as_ptr()) };
    // SAFETY: 1. live request.
    let req = unsafe { r.as_ref() };
    req.presented();
    // SAFETY: 1. the driver's callback with live handles; the request is the driver's.
    unsafe { callback(d.handle().cast(), req.handle().cast(), f.as_ptr().cast()) };
    STATUS_PENDING
}

/// IRP_MJ_CLEANUP and IRP_MJ_CLOSE (`close`: the file object goes after `EvtFileClose`).
///
/// # Safety
/// `irp` is an IRP_MJ_CLEANUP or IRP_MJ_CLOSE IRP of `d`, handed over.
pub unsafe fn cleanup_or_close(d: &Device, irp: NonNull<IRP>, close: bool) -> NTSTATUS {
    let function = if close { "IRP_MJ_CLOSE" } else { "IRP_MJ_CLEANUP" };
    // SAFETY: 1. the IRP being dispatched.
    let fo = unsafe { IrpFileObject(irp.as_ptr()) };
    // SAFETY: 1. NULL or the IRP's live file object.
    let found = NonNull::new(fo).map(|fo| unsafe { lookup(d, fo) });
    match found {
        Some(Found::Ours(f)) => {
            let handle = f.as_ptr().cast();
            let callback = if close {
                d.file.config.EvtFileClose
            } else {
                d.file.config.EvtFileCleanup
            };
            if let Some(cb) = callback {
                // SAFETY: 1. the driver's callback with the live handle.
                unsafe { cb(handle) };
            }
            if close {
                // SAFETY: 1. the last callback of the file object is over.
                unsafe { discard(f) };
            }
        }
        Some(Found::Foreign) => fatal(d.who(), function, "FILE_OBJECT of another device"),
        Some(Found::Nothing) | None => {
            // A refused create's (Wine): quietly, and forgotten at its close.
            let addr = fo as usize;
            let was_refused = {
                let mut refused = d.refused.lock();
                let at = refused.iter().position(|a| *a == addr);
                if let (Some(i), true) = (at, close) {
                    refused.remove(i);
                }
                at.is_some()
            };
            if !was_refused && d.file.class != _WDF_FILEOBJECT_CLASS::WdfFileObjectNotRequired {
                verifier(
                    d.who(),
                    function,
                    "no file object of the device for this FILE_OBJECT",
                );
            }
        }
    }
    // SAFETY: 1. the IRP is ours, completed once.
    unsafe { request::complete_irp(irp, status::SUCCESS, 0) };
    status::SUCCESS
}

/// `WdfFileObjectWdmGetFileObject`.
pub unsafe extern "C" fn wdf_file_object_wdm_get_file_object(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFFILEOBJECT,
) -> PFILE_OBJECT {
    const F: &str = "WdfFileObjectWdmGetFileObject";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let f = unsafe { get::<File>(handle.cast(), g.who(), F) };
    f.wdm.as_ptr().cast()
}
