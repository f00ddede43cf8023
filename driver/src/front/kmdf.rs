//! The KMDF front end: the product's. One source for both KMDF builds — the WDK build (feature
//! `kmdf`, wdk-sys generated from the WDK) and the Linux build (feature `kmdf-standin`, against
//! the stand-in and, under Wine, the WDF test double); see the crate docs. Nothing here knows which.
//!
//! A non-PnP KMDF driver with one named control device:
//! - `DriverEntry`: `WdfDriverCreate` (`WdfDriverInitNonPnpDriver`, `EvtDriverUnload`), WSK
//!   registration, `WdfControlDeviceInitAllocate` with [`DEVICE_SDDL`] (SYSTEM and Administrators
//!   only), device type, `FILE_DEVICE_SECURE_OPEN`, name, file-object callbacks with a
//!   [`FileContext`], request attributes with a [`RequestContext`], `WdfDeviceCreate`, the
//!   `\DosDevices\WskSock` link, one parallel default queue for IRP_MJ_DEVICE_CONTROL and
//!   IRP_MJ_INTERNAL_DEVICE_CONTROL presenting any number of requests at once,
//!   `WdfControlFinishInitializing`.
//! - File objects: class `WdfFileObjectWdfCanUseFsContext` (the framework finds its file object
//!   from the WDM one in O(1)) plus `WdfFileObjectCanBeOptional`, so a request whose IRP carries
//!   no file object of ours (a kernel caller that forgot to set one) is presented with a NULL
//!   `WDFFILEOBJECT` instead of a framework verifier break, and fails with
//!   STATUS_INVALID_DEVICE_REQUEST. The client lives in the file object's typed context from
//!   create to close.
//! - Requests: the engine's request is the shared [`IrpRequest`] over the request's WDM IRP (same
//!   buffer rules as WDM); [`KmdfBackend`] completes with `WdfRequestCompleteWithInformation` and
//!   handles cancellation with `WdfRequestMarkCancelableEx` / `WdfRequestUnmarkCancelable`, the
//!   cancel routine's reference kept in the request's typed context, which the framework
//!   allocates with every request (no allocation, so no allocation failure, when arming).
//! - `EvtDriverUnload`: `Engine::unload`, wait for idle, release the WSK NPI, deregister, wait for
//!   outstanding callbacks. The framework then deletes the device, its link and its queue.
//!
//! The `WDF_*_INIT` functions of the headers are inline C, which wdk-sys cannot bind: the
//! structures are built here in full (`*_config` functions below), never from all-zero bytes.
//!
//! # Invariants
//! - `STATE` is set once in `DriverEntry` before the device can be opened and taken back once in
//!   `EvtDriverUnload`, after which the framework calls nothing of ours.
//! - A [`FileContext`] holds null or the `Box<Client>` of its file object, from a successful
//!   `EvtDeviceFileCreate` to `EvtFileClose`; the framework calls those two once per file object.
//! - A [`RequestContext`] holds the cancel routine's strong reference while the request is
//!   marked cancelable (`KmdfBackend::arm` to the routine or a successful unmark).

use super::request::{run_cancel, Arming, Backend, IrpRequest, ReqShared};
use super::{DriverClient, DriverEngine};
use crate::kernel::event::Event;
use crate::kernel::outstanding;
use crate::kernel::print::kprint;
use crate::logic::names::{DEVICE_NAME, DEVICE_SDDL_WIDE, DOS_NAME};
use crate::sys::{FILE_DEVICE_SECURE_OPEN, IRP};
use crate::wsk::provider::WskProvider;
use crate::wsk::registration::Registration;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use wdk_sys::{
    call_unsafe_wdf_function_binding, _WDF_DRIVER_INIT_FLAGS, _WDF_EXECUTION_LEVEL, _WDF_FILEOBJECT_CLASS,
    _WDF_IO_QUEUE_DISPATCH_TYPE, _WDF_SYNCHRONIZATION_SCOPE, _WDF_TRI_STATE, DRIVER_OBJECT, NTSTATUS,
    PCUNICODE_STRING, PFN_WDF_DRIVER_UNLOAD, PWDFDEVICE_INIT, ULONG, UNICODE_STRING, WDFDEVICE, WDFDRIVER,
    WDFFILEOBJECT, WDFOBJECT, WDFQUEUE, WDFREQUEST, WDF_DRIVER_CONFIG, WDF_FILEOBJECT_CONFIG,
    WDF_IO_QUEUE_CONFIG, WDF_NO_HANDLE, WDF_NO_OBJECT_ATTRIBUTES, WDF_OBJECT_ATTRIBUTES,
    WDF_OBJECT_CONTEXT_TYPE_INFO,
};
use wsksock_abi::ioctl::WSKSOCK_DEVICE_TYPE;
use wsksock_core::Config;

const STATUS_SUCCESS: NTSTATUS = 0;
const STATUS_CANCELLED: NTSTATUS = crate::sys::status(0xC000_0120);
const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = crate::sys::status(0xC000_0010);
const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = crate::sys::status(0xC000_009A);

type Engine = DriverEngine<KmdfBackend>;
type Client = DriverClient<KmdfBackend>;

struct State {
    engine: Engine,
    registration: Arc<Registration>,
}

/// The driver's one state (one control device per driver).
static STATE: AtomicPtr<State> = AtomicPtr::new(core::ptr::null_mut());

fn state<'a>() -> Option<&'a State> {
    // SAFETY: 1. null or the `Box::into_raw` of DriverEntry, alive until EvtDriverUnload, after
    // which the framework calls nothing of ours (invariant).
    unsafe { STATE.load(Ordering::Acquire).as_ref() }
}

/// `sizeof(T)` for the framework's `ULONG Size` fields.
const fn ulong_size_of<T>() -> ULONG {
    let n = size_of::<T>();
    assert!(n <= u32::MAX as usize, "a WDF structure fits a ULONG");
    #[expect(clippy::cast_possible_truncation, reason = "checked just above")]
    {
        n as ULONG
    }
}

/// A typed-context declaration (`WDF_DECLARE_CONTEXT_TYPE`): the framework keys contexts by the
/// address of this static (`UniqueType` points at itself).
#[repr(transparent)]
struct ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO);

// SAFETY: 1. immutable after compile time; the framework only reads it and compares its address;
// the raw pointers in it point to other immutable statics.
unsafe impl Sync for ContextType {}

impl ContextType {
    fn info(&'static self) -> &'static WDF_OBJECT_CONTEXT_TYPE_INFO {
        &self.0
    }
}

/// The cancel routine's reference to the request's `ReqShared`, while the request is cancelable.
#[repr(C)]
struct RequestContext {
    cancel_ref: *const c_void,
}

static REQUEST_CONTEXT: ContextType = ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: ulong_size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>(),
    ContextName: c"RequestContext".as_ptr(),
    ContextSize: size_of::<RequestContext>(),
    UniqueType: &raw const REQUEST_CONTEXT.0,
    EvtDriverGetUniqueContextType: None,
});

/// The client of a file object: null or a `Box<Client>` (invariant).
#[repr(C)]
struct FileContext {
    client: *mut Client,
}

static FILE_CONTEXT: ContextType = ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: ulong_size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>(),
    ContextName: c"FileContext".as_ptr(),
    ContextSize: size_of::<FileContext>(),
    UniqueType: &raw const FILE_CONTEXT.0,
    EvtDriverGetUniqueContextType: None,
});

/// `WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE`: inherit execution level and synchronization scope
/// from the parent (an all-zero value is *invalid*, and the framework refuses it), one context.
fn attributes_with(context: &'static ContextType) -> WDF_OBJECT_ATTRIBUTES {
    WDF_OBJECT_ATTRIBUTES {
        Size: ulong_size_of::<WDF_OBJECT_ATTRIBUTES>(),
        ExecutionLevel: _WDF_EXECUTION_LEVEL::WdfExecutionLevelInheritFromParent,
        SynchronizationScope: _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent,
        ContextTypeInfo: context.info(),
        ..WDF_OBJECT_ATTRIBUTES::default()
    }
}

/// `WDF_DRIVER_CONFIG_INIT` for a non-PnP driver with an unload callback.
fn driver_config(unload: PFN_WDF_DRIVER_UNLOAD) -> WDF_DRIVER_CONFIG {
    WDF_DRIVER_CONFIG {
        Size: ulong_size_of::<WDF_DRIVER_CONFIG>(),
        EvtDriverDeviceAdd: None,
        EvtDriverUnload: unload,
        DriverInitFlags: _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver.cast_unsigned(),
        DriverPoolTag: crate::kernel::POOL_TAG,
    }
}

/// `WDF_FILEOBJECT_CONFIG_INIT` plus the class (see the module docs).
fn file_object_config() -> WDF_FILEOBJECT_CONFIG {
    WDF_FILEOBJECT_CONFIG {
        Size: ulong_size_of::<WDF_FILEOBJECT_CONFIG>(),
        EvtDeviceFileCreate: Some(evt_file_create),
        EvtFileClose: Some(evt_file_close),
        EvtFileCleanup: Some(evt_file_cleanup),
        AutoForwardCleanupClose: _WDF_TRI_STATE::WdfUseDefault,
        FileObjectClass: _WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCanUseFsContext
            | _WDF_FILEOBJECT_CLASS::WdfFileObjectCanBeOptional,
    }
}

/// `WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE(WdfIoQueueDispatchParallel)`: a parallel queue presents
/// at most `NumberOfPresentedRequests` requests at once, and the macro sets it to `(ULONG)-1`
/// (any number); 0 would present none, ever. Not power-managed: a control device has no power.
fn default_queue_config() -> WDF_IO_QUEUE_CONFIG {
    let mut config = WDF_IO_QUEUE_CONFIG {
        Size: ulong_size_of::<WDF_IO_QUEUE_CONFIG>(),
        DispatchType: _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchParallel,
        PowerManaged: _WDF_TRI_STATE::WdfFalse,
        DefaultQueue: 1,
        EvtIoDeviceControl: Some(evt_io_control),
        EvtIoInternalDeviceControl: Some(evt_io_control),
        ..WDF_IO_QUEUE_CONFIG::default()
    };
    config.Settings.Parallel.NumberOfPresentedRequests = ULONG::MAX;
    config
}

/// The typed context `context` of `object`, or null if it has none.
///
/// # Safety
/// `object` is a live framework object of this driver (a NULL handle is a bug check).
unsafe fn typed_context<T>(object: WDFOBJECT, context: &'static ContextType) -> *mut T {
    // SAFETY: 1. a live object (caller contract); 2. the type info is a static of ours.
    unsafe { call_unsafe_wdf_function_binding!(WdfObjectGetTypedContextWorker, object, context.info()) }
        .cast()
}

/// Completes and cancels through the framework.
#[derive(Clone, Copy)]
pub struct KmdfBackend {
    request: WDFREQUEST,
}

// SAFETY: 1. a WDFREQUEST handle may be used from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for KmdfBackend {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for KmdfBackend {}

impl KmdfBackend {
    /// The request's [`RequestContext`] (null if the framework gave it none).
    ///
    /// # Safety
    /// The request is live (not completed).
    unsafe fn context(&self) -> *mut RequestContext {
        // SAFETY: 1. a live request (caller contract).
        unsafe { typed_context(self.request.cast(), &REQUEST_CONTEXT) }
    }
}

/// `EvtRequestCancel`: the framework calls it at most once, only while the request is cancelable.
unsafe extern "C" fn evt_request_cancel(request: WDFREQUEST) {
    let backend = KmdfBackend { request };
    // SAFETY: 1. the request is live until the one finish, which the cancel state machine does
    // not run before this routine has taken its reference.
    let Some(ctx) = NonNull::new(unsafe { backend.context() }) else {
        return;
    };
    // SAFETY: 1. `arm` stored an `Arc::into_raw` there before marking the request cancelable
    // (invariant); the framework calls this once, so the reference is taken once.
    let raw = unsafe { ctx.read() }.cancel_ref;
    // SAFETY: 1. as above: `Arc::into_raw` of a `ReqShared<KmdfBackend>`, taken back once.
    let shared = unsafe { Arc::from_raw(raw.cast::<ReqShared<KmdfBackend>>()) };
    run_cancel(&shared);
}

// SAFETY: 1. `finish` completes the request once; 2. the routine armed by `arm` takes the context
// reference and runs `run_cancel`; `arm` reports `Armed` only if `WdfRequestMarkCancelableEx`
// succeeded; 3. `disarm` returns true only if `WdfRequestUnmarkCancelable` succeeded, after which
// the framework never calls the routine.
unsafe impl Backend for KmdfBackend {
    unsafe fn arm(&self, _irp: NonNull<IRP>, context: *const c_void) -> Arming {
        // SAFETY: 1. a live request owned by us (the caller holds it until its finish).
        let Some(ctx) = NonNull::new(unsafe { self.context() }) else {
            // No context (never the case for requests of our queue): leave it non-cancelable.
            return Arming::Unavailable;
        };
        // SAFETY: 1. the request's own context, one pointer, written before the routine can run.
        unsafe { ctx.write(RequestContext { cancel_ref: context }) };
        // SAFETY: 1. a live request owned by us, not cancelable yet.
        let st = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestMarkCancelableEx,
                self.request,
                Some(evt_request_cancel)
            )
        };
        match st {
            STATUS_SUCCESS => Arming::Armed,
            STATUS_CANCELLED => Arming::AlreadyCancelled,
            _ => Arming::Unavailable,
        }
    }

    unsafe fn disarm(&self, _irp: NonNull<IRP>) -> bool {
        // SAFETY: 1. a live request marked cancelable by `arm`.
        let st = unsafe { call_unsafe_wdf_function_binding!(WdfRequestUnmarkCancelable, self.request) };
        if st != STATUS_SUCCESS {
            return false;
        }
        // SAFETY: 1. a live request.
        let Some(ctx) = NonNull::new(unsafe { self.context() }) else {
            return true;
        };
        // SAFETY: 1. the routine will never run: the reference `arm` stored is ours again.
        let raw = unsafe { ctx.read() }.cancel_ref;
        // SAFETY: 1. the `Arc::into_raw` stored by `arm`, given back once.
        unsafe { Arc::decrement_strong_count(raw.cast::<ReqShared<KmdfBackend>>()) };
        true
    }

    unsafe fn finish(&self, _irp: NonNull<IRP>, st: NTSTATUS, information: usize) {
        // SAFETY: 1. a live request, completed once (Backend contract).
        unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestCompleteWithInformation,
                self.request,
                st,
                information as u64
            );
        }
    }
}

/// Completes a request we own that the engine never saw.
///
/// # Safety
/// `request` is live and ours, completed here once.
unsafe fn complete(request: WDFREQUEST, st: NTSTATUS) {
    // SAFETY: 1. caller contract.
    unsafe { call_unsafe_wdf_function_binding!(WdfRequestComplete, request, st) };
}

/// The file object's context, or null for a NULL handle (a request whose IRP carried no file
/// object of ours) or a file object without one.
///
/// # Safety
/// `file` is NULL or a live file object of our device.
unsafe fn file_context(file: WDFFILEOBJECT) -> *mut FileContext {
    if file.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: 1. a live file object (caller contract).
    unsafe { typed_context(file.cast(), &FILE_CONTEXT) }
}

/// The client of a file object.
///
/// # Safety
/// `file` is NULL or a live file object of our device, between its create and its close.
unsafe fn client_of<'a>(file: WDFFILEOBJECT) -> Option<&'a Client> {
    // SAFETY: 1. caller contract.
    let ctx = NonNull::new(unsafe { file_context(file) })?;
    // SAFETY: 1. the file object's live context.
    let client = unsafe { ctx.read() }.client;
    // SAFETY: 1. null or our `Box<Client>` until close (invariant), which the framework does not
    // run while a request of the file object is being dispatched.
    unsafe { client.as_ref() }
}

unsafe extern "C" fn evt_file_create(_device: WDFDEVICE, request: WDFREQUEST, file: WDFFILEOBJECT) {
    // SAFETY: 1. the framework's new file object of our device.
    let ctx = unsafe { file_context(file) };
    let (Some(st), Some(ctx)) = (state(), NonNull::new(ctx)) else {
        // SAFETY: 1. the create request is ours to complete, once.
        return unsafe { complete(request, STATUS_INVALID_DEVICE_REQUEST) };
    };
    let status = match st.engine.open_client() {
        Ok(client) => {
            let client = Box::into_raw(Box::new(client));
            // SAFETY: 1. a new file object: its context is ours until close (invariant).
            unsafe { ctx.write(FileContext { client }) };
            STATUS_SUCCESS
        }
        Err(e) => e.0.cast_signed(),
    };
    // SAFETY: 1. the create request is ours to complete, once.
    unsafe { complete(request, status) };
}

unsafe extern "C" fn evt_file_cleanup(file: WDFFILEOBJECT) {
    // SAFETY: 1. the framework's file object of our device, before its close.
    if let (Some(st), Some(client)) = (state(), unsafe { client_of(file) }) {
        st.engine.cleanup_client(client);
    }
}

/// `EvtFileClose`. Runs the client's cleanup too (idempotent after `EvtFileCleanup`): Wine sends
/// no IRP_MJ_CLEANUP, only IRP_MJ_CLOSE (see the WDM front end).
unsafe extern "C" fn evt_file_close(file: WDFFILEOBJECT) {
    // SAFETY: 1. the framework's file object of our device, at its close.
    let Some(ctx) = NonNull::new(unsafe { file_context(file) }) else {
        return;
    };
    // SAFETY: 1. the last callback of this file object: the client is ours again (invariant).
    let raw = unsafe {
        ctx.replace(FileContext {
            client: core::ptr::null_mut(),
        })
    }
    .client;
    if raw.is_null() {
        return;
    }
    // SAFETY: 1. `Box::into_raw` in evt_file_create, taken back once.
    let client = unsafe { Box::from_raw(raw) };
    if let Some(st) = state() {
        st.engine.cleanup_client(&client);
    }
    drop(client);
}

unsafe extern "C" fn evt_io_control(
    _queue: WDFQUEUE,
    request: WDFREQUEST,
    _out: usize,
    _in: usize,
    _code: ULONG,
) {
    // SAFETY: 1. a live request of our queue.
    let file = unsafe { call_unsafe_wdf_function_binding!(WdfRequestGetFileObject, request) };
    // SAFETY: 1. NULL (no file object of ours: the class allows it) or our live file object, which
    // outlives its requests.
    let client = unsafe { client_of(file) };
    let (Some(st), Some(client)) = (state(), client) else {
        // SAFETY: 1. a live request we own, completed once.
        return unsafe { complete(request, STATUS_INVALID_DEVICE_REQUEST) };
    };
    // SAFETY: 1. a live request: its WDM IRP is pending and ours until the request completes.
    let irp = unsafe { call_unsafe_wdf_function_binding!(WdfRequestWdmGetIrp, request) };
    let Some(irp) = NonNull::new(irp.cast::<IRP>()) else {
        // SAFETY: 1. as above.
        return unsafe { complete(request, STATUS_INVALID_DEVICE_REQUEST) };
    };
    // SAFETY: 1. the request's device-control IRP, marked pending by the framework, finished only
    // through the backend.
    let req = unsafe { IrpRequest::new(irp, KmdfBackend { request }) };
    st.engine.dispatch(client, req);
}

unsafe extern "C" fn evt_driver_unload(_driver: WDFDRIVER) {
    kprint!("unloading (KMDF)");
    let raw = STATE.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !raw.is_null() {
        // SAFETY: 1. `Box::into_raw` in DriverEntry, taken back once (invariant).
        let state = unsafe { Box::from_raw(raw) };
        let idle = Arc::new(Event::new());
        let signal = idle.clone();
        state.engine.unload(Box::new(move || signal.set()));
        idle.wait();
        state.registration.release();
        drop(state);
    }
    outstanding::wait_until_idle();
    kprint!("unloaded");
}

fn unicode(s: &'static [u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(core::mem::size_of_val(s)).unwrap_or(0);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

/// `DriverEntry` of the KMDF builds (the stub library's `FxDriverEntry` calls it once bound).
///
/// # Safety
/// Called once by the system with its driver object and registry path, at PASSIVE_LEVEL.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(
    driver: &mut DRIVER_OBJECT,
    registry: PCUNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: 1. DriverEntry's own arguments.
    match unsafe { init(driver, registry) } {
        Ok(()) => {
            kprint!(
                "loaded (KMDF), device {}",
                wsksock_abi::ioctl::WSKSOCK_DEVICE_NAME
            );
            STATUS_SUCCESS
        }
        Err(st) => {
            kprint!("DriverEntry failed: {:#010x}", st);
            st
        }
    }
}

fn ok(st: NTSTATUS) -> Result<(), NTSTATUS> {
    if st < 0 {
        Err(st)
    } else {
        Ok(())
    }
}

/// # Safety
/// DriverEntry's arguments, once.
unsafe fn init(driver: &mut DRIVER_OBJECT, registry: PCUNICODE_STRING) -> Result<(), NTSTATUS> {
    let mut config = driver_config(Some(evt_driver_unload));
    let mut wdf_driver: WDFDRIVER = WDF_NO_HANDLE.cast();
    // SAFETY: 1. DriverEntry's arguments (caller contract); 2. a complete config.
    ok(unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDriverCreate,
            driver,
            registry,
            WDF_NO_OBJECT_ATTRIBUTES,
            &raw mut config,
            &raw mut wdf_driver
        )
    })?;
    let registration = Arc::new(Registration::register()?);
    // SAFETY: 1. our driver handle, at PASSIVE_LEVEL in DriverEntry.
    match unsafe { create_device(wdf_driver, &registration) } {
        Ok(()) => Ok(()),
        Err(st) => {
            registration.release();
            Err(st)
        }
    }
}

/// The control device, its link and queue, the engine; `WdfControlFinishInitializing` last.
///
/// # Safety
/// `wdf_driver` is our driver, in DriverEntry.
unsafe fn create_device(wdf_driver: WDFDRIVER, registration: &Arc<Registration>) -> Result<(), NTSTATUS> {
    let sddl = unicode(&DEVICE_SDDL_WIDE);
    // SAFETY: 1. our driver handle; the SDDL string lives in a static.
    let mut init: PWDFDEVICE_INIT = unsafe {
        call_unsafe_wdf_function_binding!(WdfControlDeviceInitAllocate, wdf_driver, &raw const sddl)
    };
    if init.is_null() {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    let name = unicode(&DEVICE_NAME);
    let mut file_config = file_object_config();
    let mut file_attributes = attributes_with(&FILE_CONTEXT);
    let mut request_attributes = attributes_with(&REQUEST_CONTEXT);
    // SAFETY: 1. a fresh WDFDEVICE_INIT, freed by WdfDeviceCreate or WdfDeviceInitFree below.
    unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitSetDeviceType, init, WSKSOCK_DEVICE_TYPE) };
    // SAFETY: 1. as above.
    unsafe {
        call_unsafe_wdf_function_binding!(WdfDeviceInitSetCharacteristics, init, FILE_DEVICE_SECURE_OPEN, 1);
    }
    // SAFETY: 1. as above; the configuration and attributes are copied by the call.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetFileObjectConfig,
            init,
            &raw mut file_config,
            &raw mut file_attributes
        );
    }
    // SAFETY: 1. as above.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetRequestAttributes,
            init,
            &raw mut request_attributes
        );
    }
    // SAFETY: 1. as above; the name lives in a static.
    let mut st = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitAssignName, init, &raw const name) };
    let mut device: WDFDEVICE = WDF_NO_HANDLE.cast();
    if st >= 0 {
        // SAFETY: 1. a configured init; the framework frees it when the call succeeds.
        st = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfDeviceCreate,
                &raw mut init,
                WDF_NO_OBJECT_ATTRIBUTES,
                &raw mut device
            )
        };
    }
    if st < 0 {
        // SAFETY: 1. not consumed: WdfDeviceCreate failed or never ran.
        unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitFree, init) };
        return Err(st);
    }
    // SAFETY: 1. our new control device, not yet finished initializing.
    match unsafe { populate_device(device, registration) } {
        Ok(()) => {
            // SAFETY: 1. our control device, fully set up.
            unsafe { call_unsafe_wdf_function_binding!(WdfControlFinishInitializing, device) };
            Ok(())
        }
        Err(st) => {
            // SAFETY: 1. our control device, which nobody can open yet; deleting it deletes its
            // link and queue.
            unsafe { call_unsafe_wdf_function_binding!(WdfObjectDelete, device.cast()) };
            Err(st)
        }
    }
}

/// The device's link, queue and the engine behind them.
///
/// # Safety
/// `device` is our control device, not yet finished initializing.
unsafe fn populate_device(device: WDFDEVICE, registration: &Arc<Registration>) -> Result<(), NTSTATUS> {
    let link = unicode(&DOS_NAME);
    // SAFETY: 1. our device; the name lives in a static.
    ok(unsafe { call_unsafe_wdf_function_binding!(WdfDeviceCreateSymbolicLink, device, &raw const link) })?;
    let mut queue_config = default_queue_config();
    // SAFETY: 1. our device; a complete queue configuration.
    ok(unsafe {
        call_unsafe_wdf_function_binding!(
            WdfIoQueueCreate,
            device,
            &raw mut queue_config,
            WDF_NO_OBJECT_ATTRIBUTES,
            core::ptr::null_mut()
        )
    })?;
    // SAFETY: 1. our device.
    let wdm = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceWdmGetDeviceObject, device) };
    let wdm = NonNull::new(wdm.cast::<crate::sys::DEVICE_OBJECT>()).ok_or(STATUS_INVALID_DEVICE_REQUEST)?;
    // SAFETY: 1. the framework keeps the device until after EvtDriverUnload, which drops the engine.
    let provider = unsafe { WskProvider::new(registration.clone(), wdm) };
    let engine = Engine::new(provider, Config::default());
    let state = Box::into_raw(Box::new(State {
        engine,
        registration: registration.clone(),
    }));
    // INVARIANT: set before the device can be opened (WdfControlFinishInitializing comes next).
    STATE.store(state, Ordering::Release);
    Ok(())
}
