//! `WDFQUEUE`: `WdfIoQueueCreate` (one default queue per device) and how device-control IRPs
//! become requests: presented to the driver's callback while the queue's limit allows
//! ([`Presenter`]), otherwise waiting, cancelable, in the queue.
//!
//! A waiting request that is cancelled is completed by the framework with STATUS_CANCELLED
//! (there is no `EvtIoCanceledOnQueue` here). Exactly one side completes it: the cancel routine
//! if it still finds the request waiting; otherwise the side that took it out of the queue to
//! present it, which then finds the routine gone (`IoSetCancelRoutine` returns NULL).

use super::device::{checked_attributes, device, Device};
use super::loader::globals;
use super::object::{try_box, Header, Kind, Object, SpinMutex};
use super::report::{fatal, verifier};
use super::request::{self, Request};
use crate::logic::presenter::{Arrival, Presenter};
use crate::logic::validate::{self, status, AttributeRules, Presentation};
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use wdk_sys_standin::{
    NTSTATUS, PWDF_DRIVER_GLOBALS, PWDF_IO_QUEUE_CONFIG, PWDF_OBJECT_ATTRIBUTES, WDFDEVICE, WDFQUEUE,
    WDF_IO_QUEUE_CONFIG,
};
use wsksock_nt::sys::imports::IoReleaseCancelSpinLock;
use wsksock_nt::sys::inline::{
    IoGetCurrentIrpStackLocation, IoSetCancelRoutine, IrpCancelFlag, IrpCancelIrql,
};
use wsksock_nt::sys::{DEVICE_OBJECT, IRP, IRP_MJ_DEVICE_CONTROL, IRP_MJ_INTERNAL_DEVICE_CONTROL};

/// A `WDFQUEUE`.
#[repr(C)]
pub struct Queue {
    header: Header,
    device: NonNull<Device>,
    config: WDF_IO_QUEUE_CONFIG,
    presenter: SpinMutex<Presenter<RequestPtr>>,
}

/// A request waiting in (or taken from) a queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RequestPtr(pub NonNull<Request>);
// SAFETY: 1. requests are shared between threads by design (their state is locked).
unsafe impl Send for RequestPtr {}

// SAFETY: 1. `#[repr(C)]`, header first.
unsafe impl Object for Queue {
    const KIND: Kind = Kind::Queue;
    fn header(&self) -> &Header {
        &self.header
    }
}

// SAFETY: 1. the presenter is locked; the rest is immutable.
unsafe impl Send for Queue {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Queue {}

/// `WdfIoQueueCreate`.
pub unsafe extern "C" fn wdf_io_queue_create(
    g: PWDF_DRIVER_GLOBALS,
    device_handle: WDFDEVICE,
    config: PWDF_IO_QUEUE_CONFIG,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    out: *mut WDFQUEUE,
) -> NTSTATUS {
    const F: &str = "WdfIoQueueCreate";
    // SAFETY: 1. the driver's arguments.
    let g = unsafe { globals(g, F) };
    // SAFETY: 1. as above.
    let d = unsafe { device(g, device_handle, F) };
    // SAFETY: 1. NULL or the driver's configuration.
    let Some(config) = (unsafe { config.as_ref() }) else {
        fatal(g.who(), F, "NULL Config");
    };
    if let Some(out) = NonNull::new(out) {
        // SAFETY: 1. the driver's out parameter.
        unsafe { out.write(core::ptr::null_mut()) };
    }
    // SAFETY: 1. the union's only member, a ULONG (any bits are a valid value).
    let presented = unsafe { config.Settings.Parallel.NumberOfPresentedRequests };
    let Presentation::AtMost(limit) = match validate::queue_config(config, presented) {
        Ok(p) => p,
        Err(v) => {
            verifier(g.who(), F, v.why);
            return v.status;
        }
    };
    if limit == 0 {
        // The framework accepts it and never presents a request: say so once.
        verifier(
            g.who(),
            F,
            "a parallel queue with NumberOfPresentedRequests 0 never presents a request (WDF_IO_QUEUE_CONFIG_INIT* set it to (ULONG)-1)",
        );
    }
    // SAFETY: 1. NULL or the driver's attributes.
    let attributes = match unsafe { checked_attributes(g.who(), F, attributes, AttributeRules::QUEUE) } {
        Ok(a) => a,
        Err(st) => return st,
    };
    if attributes.is_some_and(|a| !a.ParentObject.is_null() && a.ParentObject != device_handle.cast()) {
        verifier(g.who(), F, "a queue's parent must be its device");
        return status::WDF_PARENT_ASSIGNMENT_NOT_ALLOWED;
    }
    if !d.queue.load(Ordering::Acquire).is_null() {
        verifier(g.who(), F, "the device already has a default queue");
        return status::INVALID_DEVICE_STATE;
    }
    let mut header = Header::new(Kind::Queue, NonNull::from(g));
    if let Err(st) = header.adopt(attributes) {
        return st;
    }
    let Some(q) = try_box(Queue {
        header,
        device: NonNull::from(d),
        config: *config,
        presenter: SpinMutex::new(Presenter::new(limit)),
    }) else {
        return status::INSUFFICIENT_RESOURCES;
    };
    let q = alloc::boxed::Box::into_raw(q);
    if d.queue
        .compare_exchange(core::ptr::null_mut(), q, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // SAFETY: 1. not published: ours to free.
        drop(unsafe { alloc::boxed::Box::from_raw(q) });
        return status::INVALID_DEVICE_STATE;
    }
    if let Some(out) = NonNull::new(out) {
        // SAFETY: 1. the driver's out parameter.
        unsafe { out.write(q.cast()) };
    }
    status::SUCCESS
}

impl Queue {
    /// A device-control IRP arrives (marked pending by the caller): it becomes a request,
    /// presented now or waiting.
    ///
    /// # Safety
    /// `irp` is a pending IRP_MJ_(INTERNAL_)DEVICE_CONTROL IRP of the queue's device, handed over.
    pub unsafe fn arrive(&self, irp: NonNull<IRP>) {
        // SAFETY: 1. the device outlives its queue.
        let d = unsafe { self.device.as_ref() };
        // SAFETY: 1. a live IRP being dispatched (caller contract).
        let Some(r) = (unsafe { request::Request::create(d, irp, Some(NonNull::from(self)), None) }) else {
            // SAFETY: 1. the IRP is ours to complete (caller contract).
            return unsafe { request::complete_irp(irp, status::INSUFFICIENT_RESOURCES, 0) };
        };
        let arrival = self.presenter.lock().arrive(RequestPtr(r));
        match arrival {
            Ok(Arrival::Present) => {
                // SAFETY: 1. taken from the queue for the driver, once.
                unsafe { self.present(r) };
            }
            Ok(Arrival::Held) => {
                // SAFETY: 1. a pending IRP we own; 2. the routine finds the request in
                // DriverContext (set by `Request::create`).
                unsafe { IoSetCancelRoutine(irp.as_ptr(), Some(cancel_waiting)) };
                // SAFETY: 1. as above.
                let cancelled = unsafe { IrpCancelFlag(irp.as_ptr()) };
                // SAFETY: 1. as above.
                if cancelled && unsafe { IoSetCancelRoutine(irp.as_ptr(), None) }.is_some() {
                    // Cancelled before the routine was set: withdraw it ourselves.
                    if self.presenter.lock().withdraw(RequestPtr(r)) {
                        // SAFETY: 1. withdrawn: nobody else completes it.
                        unsafe { request::complete_unpresented(r, status::CANCELLED) };
                    }
                }
            }
            Err(_) => {
                // SAFETY: 1. never presented nor queued: ours to complete.
                unsafe { request::complete_unpresented(r, status::INSUFFICIENT_RESOURCES) };
            }
        }
    }

    /// Gives `r` to the driver's callback.
    ///
    /// # Safety
    /// `r` is a live request of this queue, taken from the queue (or never in it) for the driver.
    unsafe fn present(&self, r: NonNull<Request>) {
        // SAFETY: 1. live (caller contract).
        let req = unsafe { r.as_ref() };
        let irp = req.irp();
        // SAFETY: 1. the request's pending IRP.
        let stack = unsafe { IoGetCurrentIrpStackLocation(irp.as_ptr()) };
        // SAFETY: 1. its current stack location.
        let stack = unsafe { &*stack };
        // SAFETY: 1. a device-control stack location (the dispatch routine checked the major).
        let params = unsafe { stack.Parameters.DeviceIoControl };
        req.presented();
        let (queue, handle) = (self.handle().cast(), req.handle().cast());
        let callback = match usize::from(stack.MajorFunction) {
            IRP_MJ_DEVICE_CONTROL => self.config.EvtIoDeviceControl,
            IRP_MJ_INTERNAL_DEVICE_CONTROL => self.config.EvtIoInternalDeviceControl,
            _ => None,
        };
        if let Some(f) = callback {
            // SAFETY: 1. the driver's callback with live handles; the request is the driver's.
            unsafe {
                f(
                    queue,
                    handle,
                    params.OutputBufferLength as usize,
                    params.InputBufferLength as usize,
                    params.IoControlCode,
                );
            }
        } else if let Some(f) = self.config.EvtIoDefault {
            // SAFETY: 1. as above.
            unsafe { f(queue, handle) };
        } else {
            // No callback for this major: the framework fails the request.
            // SAFETY: 1. the driver never saw it.
            unsafe { request::complete_request(r, status::INVALID_DEVICE_REQUEST, 0) };
        }
    }

    /// A request this queue presented completed: present the next waiting one, if any may go.
    pub fn presented_completed(&self) {
        loop {
            let Some(RequestPtr(next)) = self.presenter.lock().completed() else {
                return;
            };
            // SAFETY: 1. a waiting request, live until completed.
            let irp = unsafe { next.as_ref() }.irp();
            // SAFETY: 1. its pending IRP: take the waiting-cancel routine back.
            if unsafe { IoSetCancelRoutine(irp.as_ptr(), None) }.is_some() {
                // SAFETY: 1. taken from the queue for the driver, once.
                return unsafe { self.present(next) };
            }
            // Its cancel routine runs and will not find it waiting: it is ours to complete.
            // SAFETY: 1. out of the queue, never presented.
            unsafe { request::complete_unpresented(next, status::CANCELLED) };
        }
    }
}

/// The cancel routine of a request waiting in a queue.
unsafe extern "system" fn cancel_waiting(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: 1. the IRP being cancelled.
    let irql = unsafe { IrpCancelIrql(irp) };
    // SAFETY: 1. called by IoCancelIrp with the cancel spin lock held at `CancelIrql`.
    unsafe { IoReleaseCancelSpinLock(irql) };
    // SAFETY: 1. the IRP is pending and ours: its DriverContext holds the request.
    let Some(r) = (unsafe { request::of_irp(irp) }) else {
        return;
    };
    // SAFETY: 1. a live request (it waits, or whoever took it out completes it after us).
    let req = unsafe { r.as_ref() };
    let Some(q) = req.queue() else {
        return;
    };
    if q.presenter.lock().withdraw(RequestPtr(r)) {
        // SAFETY: 1. withdrawn: ours to complete.
        unsafe { request::complete_unpresented(r, status::CANCELLED) };
    }
}
