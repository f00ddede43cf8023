//! `WDFREQUEST`: the framework's request over a pending IRP, and the request functions —
//! `WdfRequestComplete[WithInformation]`, `WdfRequestMarkCancelableEx`,
//! `WdfRequestUnmarkCancelable`, `WdfRequestWdmGetIrp`, `WdfRequestGetFileObject`.
//!
//! # Cancellation
//! Marking a request cancelable sets the double's cancel routine on its IRP. If the IRP was
//! cancelled already and the routine can be taken back, the mark fails with STATUS_CANCELLED and
//! `EvtRequestCancel` never runs; otherwise the routine runs at most once and calls
//! `EvtRequestCancel`. Unmarking takes the routine back (STATUS_SUCCESS) or finds it gone — the
//! cancel started — and returns STATUS_CANCELLED.
//!
//! # Invariants
//! - `DriverContext[3]` of the IRP holds the request while the IRP is the framework's.
//! - `refs`: one for the owner until completion, one for the cancel routine while it is armed or
//!   running. The request is destroyed when both are gone.

use super::device::Device;
use super::file::{self, File};
use super::loader::globals;
use super::object::{get, try_box, Header, Kind, Object, SpinMutex};
use super::queue::Queue;
use super::report::{fatal, verifier, Who};
use crate::logic::request::{Fatal, RequestState};
use crate::logic::validate::{status, Violation};
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use wdk_sys_standin::{
    NTSTATUS, PFN_WDF_REQUEST_CANCEL, PIRP, PWDF_DRIVER_GLOBALS, ULONG_PTR, WDFFILEOBJECT, WDFREQUEST,
};
use wsksock_nt::sys::imports::IoReleaseCancelSpinLock;
use wsksock_nt::sys::inline::{
    IoCompleteRequest, IoSetCancelRoutine, IrpCancelFlag, IrpCancelIrql, IrpDriverContext, IrpIoStatus,
    IrpSetIoStatus,
};
use wsksock_nt::sys::{DEVICE_OBJECT, IO_NO_INCREMENT, IRP};

/// Which `DriverContext` slot of an IRP holds its request.
const SLOT: usize = 3;

struct Inner {
    state: RequestState,
    cancel: PFN_WDF_REQUEST_CANCEL,
}

/// A `WDFREQUEST`.
#[repr(C)]
pub struct Request {
    header: Header,
    irp: NonNull<IRP>,
    device: NonNull<Device>,
    queue: Option<NonNull<Queue>>,
    create_file: Option<NonNull<File>>,
    inner: SpinMutex<Inner>,
    refs: AtomicU32,
}

// SAFETY: 1. `#[repr(C)]`, header first.
unsafe impl Object for Request {
    const KIND: Kind = Kind::Request;
    fn header(&self) -> &Header {
        &self.header
    }
}

// SAFETY: 1. the state is locked, the counts atomic; the pointers are to objects that outlive it.
unsafe impl Send for Request {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Request {}

/// The request an IRP carries (DriverContext[3]).
///
/// # Safety
/// `irp` is a pending IRP of a device of the double.
pub unsafe fn of_irp(irp: *mut IRP) -> Option<NonNull<Request>> {
    // SAFETY: 1. the IRP's DriverContext is the framework's while it owns the IRP.
    let slot = unsafe { IrpDriverContext(irp) };
    // SAFETY: 1. as above.
    NonNull::new(unsafe { (*slot)[SLOT] }.cast())
}

/// Completes an IRP that never became a request.
///
/// # Safety
/// `irp` is a pending IRP the caller owns; it is gone afterwards.
pub unsafe fn complete_irp(irp: NonNull<IRP>, st: NTSTATUS, information: usize) {
    // SAFETY: 1. caller contract.
    unsafe { IrpSetIoStatus(irp.as_ptr(), st, information) };
    // SAFETY: 1. caller contract.
    unsafe { IoCompleteRequest(irp.as_ptr(), IO_NO_INCREMENT) };
}

impl Request {
    /// A request over `irp` with the device's request attributes; `None` if the pool is
    /// exhausted (the caller completes the IRP).
    ///
    /// # Safety
    /// `irp` is a pending IRP of `d`, handed over.
    pub unsafe fn create(
        d: &Device,
        irp: NonNull<IRP>,
        queue: Option<NonNull<Queue>>,
        create_file: Option<NonNull<File>>,
    ) -> Option<NonNull<Request>> {
        let mut header = Header::new(Kind::Request, NonNull::from(d.header().globals()));
        header.adopt(d.request_attributes.as_ref()).ok()?;
        let r = try_box(Request {
            header,
            irp,
            device: NonNull::from(d),
            queue,
            create_file,
            inner: SpinMutex::new(Inner {
                state: RequestState::default(),
                cancel: None,
            }),
            refs: AtomicU32::new(1),
        })?;
        let r = NonNull::from(alloc::boxed::Box::leak(r));
        d.outstanding.fetch_add(1, Ordering::AcqRel);
        // SAFETY: 1. the IRP is ours now (caller contract).
        let slot = unsafe { IrpDriverContext(irp.as_ptr()) };
        // SAFETY: 1. as above (invariant).
        unsafe { (*slot)[SLOT] = r.as_ptr().cast() };
        Some(r)
    }

    /// Its IRP.
    pub fn irp(&self) -> NonNull<IRP> {
        self.irp
    }

    /// Its queue, if a queue presented it.
    pub fn queue(&self) -> Option<&Queue> {
        // SAFETY: 1. a queue outlives its requests.
        self.queue.map(|q| unsafe { &*q.as_ptr() })
    }

    fn device(&self) -> &Device {
        // SAFETY: 1. a device outlives its requests.
        unsafe { self.device.as_ref() }
    }

    fn who(&self) -> Who<'_> {
        self.header.who()
    }

    /// The driver received it.
    pub fn presented(&self) {
        self.inner.lock().state.driver_owned = true;
    }
}

/// Drops one reference; the last destroys the request.
///
/// # Safety
/// The caller holds one of `r`'s references and gives it up.
unsafe fn release(r: NonNull<Request>) {
    // SAFETY: 1. live while the caller holds a reference.
    if unsafe { r.as_ref() }.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: 1. the last reference: nobody uses the handle any more.
        unsafe { super::object::destroy(r) };
    }
}

/// Completes a request (state already checked and set completed): the IRP, the device's count,
/// a failed create's file object, the owner's reference; then the next request of its queue.
///
/// # Safety
/// `r` is live, completed in its state by the caller, who gives up the owner's reference.
unsafe fn finish(r: NonNull<Request>, st: NTSTATUS, information: usize, presented_by_queue: bool) {
    // SAFETY: 1. live until `release` below.
    let req = unsafe { r.as_ref() };
    let (irp, queue, d, create_file) = (req.irp, req.queue, req.device, req.create_file);
    if let Some(f) = create_file {
        if st < 0 {
            // SAFETY: 1. the create failed: the file object is never used again.
            unsafe { file::refused(f) };
        }
    }
    // SAFETY: 1. the request's IRP, completed once (the state says so).
    unsafe { complete_irp(irp, st, information) };
    // SAFETY: 1. the device outlives its requests.
    unsafe { d.as_ref() }.outstanding.fetch_sub(1, Ordering::AcqRel);
    // SAFETY: 1. the owner's reference (caller contract).
    unsafe { release(r) };
    if presented_by_queue {
        if let Some(q) = queue {
            // SAFETY: 1. a queue outlives its requests.
            unsafe { q.as_ref() }.presented_completed();
        }
    }
}

/// Completes a request the driver never received (cancelled while waiting, no callback, no
/// memory).
///
/// # Safety
/// `r` is live, never presented, out of any queue; the caller completes it once.
pub unsafe fn complete_unpresented(r: NonNull<Request>, st: NTSTATUS) {
    // SAFETY: 1. live (caller contract).
    unsafe { r.as_ref() }.inner.lock().state.completed = true;
    // SAFETY: 1. as above.
    unsafe { finish(r, st, 0, false) };
}

/// Completes a presented request whose driver callback was missing.
///
/// # Safety
/// As [`complete_unpresented`], for a request taken from its queue for the driver.
pub unsafe fn complete_request(r: NonNull<Request>, st: NTSTATUS, information: usize) {
    // SAFETY: 1. live (caller contract).
    unsafe { r.as_ref() }.inner.lock().state.completed = true;
    // SAFETY: 1. as above.
    unsafe { finish(r, st, information, true) };
}

/// The `Request` behind a handle, checked live.
///
/// # Safety
/// See [`get`].
unsafe fn request<'a>(g: PWDF_DRIVER_GLOBALS, handle: WDFREQUEST, function: &str) -> &'a Request {
    // SAFETY: 1. the driver's globals argument.
    let g = unsafe { globals(g, function) };
    // SAFETY: 1. caller contract.
    unsafe { get::<Request>(handle.cast(), g.who(), function) }
}

/// Completes the request behind `handle` for the driver.
///
/// # Safety
/// The driver's globals and request handle arguments.
unsafe fn completion(g: PWDF_DRIVER_GLOBALS, handle: WDFREQUEST, st: NTSTATUS, information: usize) {
    const F: &str = "WdfRequestComplete";
    // SAFETY: 1. the driver's arguments.
    let req = unsafe { request(g, handle, F) };
    let (take_routine, presented) = {
        let mut inner = req.inner.lock();
        match inner.state.may_complete() {
            Err(fatal_misuse) => {
                drop(inner);
                fatal(req.who(), F, fatal_misuse.0);
            }
            Ok(Some(why)) => verifier(req.who(), F, why),
            Ok(None) => {}
        }
        let take = inner.state.marked && !inner.state.cancelled;
        inner.state.completed = true;
        (take, inner.state.driver_owned && req.create_file.is_none())
    };
    if take_routine {
        // SAFETY: 1. the request's pending IRP.
        if unsafe { IoSetCancelRoutine(req.irp.as_ptr(), None) }.is_some() {
            // SAFETY: 1. the routine will not run: its reference is given up here.
            unsafe { release(NonNull::from(req)) };
        }
    }
    // SAFETY: 1. completed in its state above; the owner's reference goes with it.
    unsafe { finish(NonNull::from(req), st, information, presented) };
}

/// `WdfRequestComplete`: the IRP's current `Information`.
pub unsafe extern "C" fn wdf_request_complete(g: PWDF_DRIVER_GLOBALS, handle: WDFREQUEST, st: NTSTATUS) {
    // SAFETY: 1. the driver's arguments (checked in `completion`, the IRP read only if live).
    let information = unsafe { request(g, handle, "WdfRequestComplete") }.irp;
    // SAFETY: 1. the live request's IRP.
    let (_, information) = unsafe { IrpIoStatus(information.as_ptr()) };
    // SAFETY: 1. the driver's arguments.
    unsafe { completion(g, handle, st, information) };
}

/// `WdfRequestCompleteWithInformation`.
pub unsafe extern "C" fn wdf_request_complete_with_information(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    st: NTSTATUS,
    information: ULONG_PTR,
) {
    // SAFETY: 1. the driver's arguments.
    unsafe { completion(g, handle, st, usize::try_from(information).unwrap_or(usize::MAX)) };
}

/// The routine on the IRP of a request marked cancelable: `EvtRequestCancel`, once.
unsafe extern "system" fn cancel_routine(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: 1. the IRP being cancelled.
    let irql = unsafe { IrpCancelIrql(irp) };
    // SAFETY: 1. called by IoCancelIrp with the cancel spin lock held at `CancelIrql`.
    unsafe { IoReleaseCancelSpinLock(irql) };
    // SAFETY: 1. the IRP is pending and ours: its DriverContext holds the request.
    let Some(r) = (unsafe { of_irp(irp) }) else {
        return;
    };
    // SAFETY: 1. the routine's reference keeps it alive.
    let req = unsafe { r.as_ref() };
    let callback = {
        let mut inner = req.inner.lock();
        if inner.state.completed {
            None
        } else {
            inner.state.cancelled = true;
            inner.cancel
        }
    };
    match callback {
        // SAFETY: 1. the driver's callback with the live handle, once (the routine runs once).
        Some(f) => unsafe { f(req.handle().cast()) },
        None => verifier(
            req.who(),
            "EvtRequestCancel",
            "the request was completed while marked cancelable; its cancel could not be delivered",
        ),
    }
    // SAFETY: 1. the routine's reference.
    unsafe { release(r) };
}

/// What a state check says: go on, refuse with a status (reported), or bug-check (reported).
/// Reporting under the request's lock is fine: `DbgPrint` and `KeBugCheckEx` run at any IRQL.
fn decide(who: Who<'_>, function: &str, check: Result<Result<(), Violation>, Fatal>) -> Result<(), NTSTATUS> {
    match check {
        Err(f) => fatal(who, function, f.0),
        Ok(Err(v)) => {
            verifier(who, function, v.why);
            Err(v.status)
        }
        Ok(Ok(())) => Ok(()),
    }
}

/// `WdfRequestMarkCancelableEx`.
pub unsafe extern "C" fn wdf_request_mark_cancelable_ex(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    cancel: PFN_WDF_REQUEST_CANCEL,
) -> NTSTATUS {
    const F: &str = "WdfRequestMarkCancelableEx";
    // SAFETY: 1. the driver's arguments.
    let req = unsafe { request(g, handle, F) };
    {
        let mut inner = req.inner.lock();
        if let Err(st) = decide(req.who(), F, inner.state.may_mark()) {
            return st;
        }
        if cancel.is_none() {
            fatal(req.who(), F, "NULL EvtRequestCancel");
        }
        inner.state.marked = true;
        inner.cancel = cancel;
        req.refs.fetch_add(1, Ordering::AcqRel);
    }
    let irp = req.irp.as_ptr();
    // SAFETY: 1. the request's pending IRP; the routine finds the request in DriverContext.
    unsafe { IoSetCancelRoutine(irp, Some(cancel_routine)) };
    // SAFETY: 1. as above.
    let cancelled = unsafe { IrpCancelFlag(irp) };
    // SAFETY: 1. as above.
    if cancelled && unsafe { IoSetCancelRoutine(irp, None) }.is_some() {
        // Already cancelled, and the routine will not run: the caller completes the request.
        let mut inner = req.inner.lock();
        inner.state.marked = false;
        inner.cancel = None;
        drop(inner);
        // SAFETY: 1. the routine's reference, never used.
        unsafe { release(NonNull::from(req)) };
        return status::CANCELLED;
    }
    status::SUCCESS
}

/// `WdfRequestUnmarkCancelable`.
pub unsafe extern "C" fn wdf_request_unmark_cancelable(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
) -> NTSTATUS {
    const F: &str = "WdfRequestUnmarkCancelable";
    // SAFETY: 1. the driver's arguments.
    let req = unsafe { request(g, handle, F) };
    let mut inner = req.inner.lock();
    if let Err(st) = decide(req.who(), F, inner.state.may_unmark()) {
        return st;
    }
    // SAFETY: 1. the request's pending IRP.
    if unsafe { IoSetCancelRoutine(req.irp.as_ptr(), None) }.is_some() {
        inner.state.marked = false;
        inner.cancel = None;
        drop(inner);
        // SAFETY: 1. the routine will never run: its reference is given up.
        unsafe { release(NonNull::from(req)) };
        return status::SUCCESS;
    }
    // The cancel started: the routine runs (or ran) `EvtRequestCancel`.
    status::CANCELLED
}

/// `WdfRequestWdmGetIrp`.
pub unsafe extern "C" fn wdf_request_wdm_get_irp(g: PWDF_DRIVER_GLOBALS, handle: WDFREQUEST) -> PIRP {
    const F: &str = "WdfRequestWdmGetIrp";
    // SAFETY: 1. the driver's arguments.
    let req = unsafe { request(g, handle, F) };
    if let Err(f) = req.inner.lock().state.live() {
        fatal(req.who(), F, f.0);
    }
    req.irp.as_ptr().cast()
}

/// `WdfRequestGetFileObject`.
pub unsafe extern "C" fn wdf_request_get_file_object(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
) -> WDFFILEOBJECT {
    const F: &str = "WdfRequestGetFileObject";
    // SAFETY: 1. the driver's arguments.
    let req = unsafe { request(g, handle, F) };
    if let Err(f) = req.inner.lock().state.live() {
        fatal(req.who(), F, f.0);
    }
    if let Some(f) = req.create_file {
        return f.as_ptr().cast();
    }
    // SAFETY: 1. the request's pending IRP.
    let fo = unsafe { wsksock_nt::sys::inline::IrpFileObject(req.irp.as_ptr()) };
    // SAFETY: 1. the request's device; `fo` is the IRP's (maybe foreign or NULL).
    unsafe { file::of_request(req.device(), fo, F) }.map_or(core::ptr::null_mut(), |f| {
        // SAFETY: 1. a live file object of the device.
        unsafe { f.as_ref() }.handle().cast::<c_void>().cast()
    })
}
