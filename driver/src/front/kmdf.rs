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
//!   create to the object's destruction, with an outstanding-callback token: unload waits for
//!   every file object to be gone (under Wine it is called with handles still open).
//! - Requests: the engine's request is the shared [`IrpRequest`] over the request's WDM IRP (same
//!   buffer rules as WDM); [`KmdfBackend`] completes with `WdfRequestCompleteWithInformation` and
//!   handles cancellation with `WdfRequestMarkCancelableEx` / `WdfRequestUnmarkCancelable`, the
//!   cancel routine's reference kept in the request's typed context, which the framework
//!   allocates with every request (no allocation, so no allocation failure, when arming).
//! - `EvtDriverUnload`: [`super::unload`] — `Engine::unload`, wait for idle, release the WSK NPI,
//!   deregister, wait for the callbacks of ours the kernel may still run (events, never polling).
//!   The framework then deletes the device, its link and its queue.
//!
//! The `WDF_*_INIT` functions of the headers are inline C, which wdk-sys cannot bind: the
//! structures are built here in full (`*_config` functions below), never from all-zero bytes.
//!
//! # Invariants
//! - `STATE` holds null or the foreign `Box<State>`, set once in `DriverEntry` before the device
//!   can be opened and taken back once in `EvtDriverUnload`, after which the framework calls
//!   nothing of ours.
//! - A [`FileContext`] holds null or the foreign `Box<OpenFile>` of its file object, from a
//!   successful `EvtDeviceFileCreate` to the file object's `EvtDestroyCallback`; the framework
//!   calls those two once per file object, the second after every other callback of it.
//! - A [`RequestContext`] holds the cancel routine's foreign strong reference while the request
//!   is marked cancelable (`KmdfBackend::arm` to the routine or a successful unmark).

use super::{DriverClient, DriverEngine};
use crate::irp::request::{cancel_routine, give_back, Arming, Backend, IrpRequest};
use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::outstanding::Token;
use crate::kernel::print::kprint;
use crate::logic::names::{DEVICE_NAME, DEVICE_SDDL_WIDE, DOS_NAME};
use crate::status::{abi, nt, NtStatus};
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

type Engine = DriverEngine<KmdfBackend>;
type Client = DriverClient<KmdfBackend>;

type State = super::Running<KmdfBackend>;

/// The driver's one state (one control device per driver): null or the foreign `Box<State>`.
static STATE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

fn state<'a>() -> Option<&'a State> {
    let raw = NonNull::new(STATE.load(Ordering::Acquire))?;
    // SAFETY: 1. the foreign `Box<State>` of DriverEntry, alive until EvtDriverUnload takes it back,
    // after which the framework calls nothing of ours (invariant).
    Some(unsafe { <Box<State> as ForeignOwnable>::borrow(raw) })
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

/// The cancel routine's (foreign) reference to the request's shared state, while the request is
/// cancelable.
#[repr(C)]
struct RequestContext {
    cancel_ref: *mut c_void,
}

static REQUEST_CONTEXT: ContextType = ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: ulong_size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>(),
    ContextName: c"RequestContext".as_ptr(),
    ContextSize: size_of::<RequestContext>(),
    UniqueType: &raw const REQUEST_CONTEXT.0,
    EvtDriverGetUniqueContextType: None,
});

/// The client of a file object: null or a foreign `Box<OpenFile>` (invariant).
#[repr(C)]
struct FileContext {
    client: *mut c_void,
}

/// What an open file object holds: its client, and the outstanding callback that the kernel
/// will make for it (its close). Dropped when the framework destroys the file object, after its
/// last use of it (`EvtDestroyCallback`), so unload waits for every file object to be gone — on
/// Windows they all are before unload is called; under Wine unload comes with handles open.
struct OpenFile {
    client: Client,
    _close: Token,
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

/// The file objects' attributes: their [`FileContext`], and `EvtDestroyCallback` to let go of
/// their [`OpenFile`].
fn file_attributes() -> WDF_OBJECT_ATTRIBUTES {
    WDF_OBJECT_ATTRIBUTES {
        EvtDestroyCallback: Some(evt_file_destroy),
        ..attributes_with(&FILE_CONTEXT)
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
    // SAFETY: 1. `arm` stored the routine's reference there before marking the request cancelable
    // (invariant).
    let raw = unsafe { ctx.read() }.cancel_ref;
    if let Some(raw) = NonNull::new(raw) {
        // SAFETY: 1. the reference `arm` handed over; the framework calls this routine once and only
        // while the request is cancelable, so `disarm` did not take it back.
        unsafe { cancel_routine::<KmdfBackend>(raw) };
    }
}

// SAFETY: 1. `finish` completes the request once; 2. the routine armed by `arm` takes the context
// reference and runs `run_cancel`; `arm` reports `Armed` only if `WdfRequestMarkCancelableEx`
// succeeded; 3. `disarm` returns true only if `WdfRequestUnmarkCancelable` succeeded, after which
// the framework never calls the routine.
unsafe impl Backend for KmdfBackend {
    unsafe fn arm(&self, _irp: NonNull<IRP>, context: NonNull<c_void>) -> Arming {
        // SAFETY: 1. a live request owned by us (the caller holds it until its finish).
        let Some(ctx) = NonNull::new(unsafe { self.context() }) else {
            // No context (never the case for requests of our queue): leave it non-cancelable.
            return Arming::Unavailable;
        };
        // SAFETY: 1. the request's own context, one pointer, written before the routine can run.
        unsafe {
            ctx.write(RequestContext {
                cancel_ref: context.as_ptr(),
            });
        }
        // SAFETY: 1. a live request owned by us, not cancelable yet.
        let st = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestMarkCancelableEx,
                self.request,
                Some(evt_request_cancel)
            )
        };
        match abi(st) {
            NtStatus::STATUS_SUCCESS => Arming::Armed,
            NtStatus::STATUS_CANCELLED => Arming::AlreadyCancelled,
            _ => Arming::Unavailable,
        }
    }

    unsafe fn disarm(&self, _irp: NonNull<IRP>) -> bool {
        // SAFETY: 1. a live request marked cancelable by `arm`.
        let st = unsafe { call_unsafe_wdf_function_binding!(WdfRequestUnmarkCancelable, self.request) };
        if abi(st) != NtStatus::STATUS_SUCCESS {
            return false;
        }
        // SAFETY: 1. a live request.
        let Some(ctx) = NonNull::new(unsafe { self.context() }) else {
            return true;
        };
        // SAFETY: 1. the routine will never run: the reference `arm` stored is ours again.
        let raw = unsafe { ctx.read() }.cancel_ref;
        if let Some(raw) = NonNull::new(raw) {
            // SAFETY: 1. the reference `arm` stored, which the routine will never take; given back
            // once (the framework unmarks a request once).
            unsafe { give_back::<KmdfBackend>(raw) };
        }
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
        super::ledger::completed();
    }
}

/// Completes a request we own that the engine never saw.
///
/// # Safety
/// `request` is live and ours, completed here once.
unsafe fn complete(request: WDFREQUEST, st: NtStatus) {
    // SAFETY: 1. caller contract.
    unsafe { call_unsafe_wdf_function_binding!(WdfRequestComplete, request, nt(st)) };
    super::ledger::completed();
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
    let open = NonNull::new(unsafe { ctx.read() }.client)?;
    // SAFETY: 1. our foreign `Box<OpenFile>` until the file object is destroyed (invariant), which
    // the framework does not do while a callback of the file object runs.
    Some(&unsafe { <Box<OpenFile> as ForeignOwnable>::borrow(open) }.client)
}

unsafe extern "C" fn evt_file_create(_device: WDFDEVICE, request: WDFREQUEST, file: WDFFILEOBJECT) {
    super::ledger::given();
    // SAFETY: 1. the framework's new file object of our device.
    let ctx = unsafe { file_context(file) };
    let (Some(st), Some(ctx)) = (state(), NonNull::new(ctx)) else {
        // SAFETY: 1. the create request is ours to complete, once.
        return unsafe { complete(request, NtStatus::STATUS_INVALID_DEVICE_REQUEST) };
    };
    let status = match st.engine.open_client() {
        Ok(client) => {
            let open = OpenFile {
                client,
                _close: Token::new(),
            };
            match crate::kernel::try_box(open) {
                Ok(open) => {
                    let client = open.into_foreign().as_ptr();
                    // SAFETY: 1. a new file object: its context is ours until it is destroyed
                    // (invariant).
                    unsafe { ctx.write(FileContext { client }) };
                    NtStatus::STATUS_SUCCESS
                }
                Err(open) => {
                    // No memory to keep the client: it goes again, and the open fails.
                    st.engine.cleanup_client(&open.client);
                    NtStatus::STATUS_INSUFFICIENT_RESOURCES
                }
            }
        }
        Err(e) => e,
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
    if let (Some(st), Some(client)) = (state(), unsafe { client_of(file) }) {
        st.engine.cleanup_client(client);
    }
}

/// The file object's `EvtDestroyCallback`: the framework is done with it, so is the driver.
unsafe extern "C" fn evt_file_destroy(object: WDFOBJECT) {
    // SAFETY: 1. the framework's file object of our device, being destroyed: its context is still
    // there (the framework frees it after this callback).
    let Some(ctx) = NonNull::new(unsafe { file_context(object.cast()) }) else {
        return;
    };
    // SAFETY: 1. the last callback of this file object: the client is ours again (invariant).
    let raw = unsafe {
        ctx.replace(FileContext {
            client: core::ptr::null_mut(),
        })
    }
    .client;
    // SAFETY: 1. null or the foreign `Box<OpenFile>` of evt_file_create, taken back once (the context
    // is emptied above). Its token goes last: unload may proceed from there.
    drop(unsafe { <Box<OpenFile> as ForeignOwnable>::try_from_foreign(raw) });
}

unsafe extern "C" fn evt_io_control(
    _queue: WDFQUEUE,
    request: WDFREQUEST,
    _out: usize,
    _in: usize,
    _code: ULONG,
) {
    super::ledger::given();
    // SAFETY: 1. a live request of our queue.
    let file = unsafe { call_unsafe_wdf_function_binding!(WdfRequestGetFileObject, request) };
    // SAFETY: 1. NULL (no file object of ours: the class allows it) or our live file object, which
    // outlives its requests.
    let client = unsafe { client_of(file) };
    let (Some(st), Some(client)) = (state(), client) else {
        // SAFETY: 1. a live request we own, completed once.
        return unsafe { complete(request, NtStatus::STATUS_INVALID_DEVICE_REQUEST) };
    };
    // SAFETY: 1. a live request: its WDM IRP is pending and ours until the request completes.
    let irp = unsafe { call_unsafe_wdf_function_binding!(WdfRequestWdmGetIrp, request) };
    let Some(irp) = NonNull::new(irp.cast::<IRP>()) else {
        // SAFETY: 1. as above.
        return unsafe { complete(request, NtStatus::STATUS_INVALID_DEVICE_REQUEST) };
    };
    // SAFETY: 1. the request's device-control IRP, marked pending by the framework, finished only
    // through the backend.
    let req = unsafe { IrpRequest::new(irp, KmdfBackend { request }) };
    if let Some(req) = req.admit() {
        st.engine.dispatch(client, req);
    }
}

unsafe extern "C" fn evt_driver_unload(_driver: WDFDRIVER) {
    kprint!("unloading (KMDF)");
    let raw = STATE.swap(core::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: 1. null or the foreign `Box<State>` of DriverEntry, taken back once (the swap above
    // empties the static).
    super::unload(unsafe { <Box<State> as ForeignOwnable>::try_from_foreign(raw) });
    super::report_allocations("unloaded");
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
    // SAFETY: 1. DriverEntry's registry path (the same UNICODE_STRING layout as the bindings'),
    // at PASSIVE_LEVEL.
    unsafe { super::load(registry.cast()) };
    // SAFETY: 1. DriverEntry's own arguments.
    match unsafe { init(driver, registry) } {
        Ok(()) => {
            kprint!(
                "loaded (KMDF), device {}",
                wsksock_abi::ioctl::WSKSOCK_DEVICE_NAME
            );
            nt(NtStatus::STATUS_SUCCESS)
        }
        Err(st) => {
            super::report_allocations("DriverEntry failed");
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
    let registration = match crate::kernel::try_arc(Registration::register()?) {
        Ok(r) => r,
        Err(r) => {
            r.release();
            return Err(nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES));
        }
    };
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
        return Err(nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES));
    }
    let name = unicode(&DEVICE_NAME);
    let mut file_config = file_object_config();
    let mut file_attributes = file_attributes();
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
    let wdm = NonNull::new(wdm.cast::<crate::sys::DEVICE_OBJECT>())
        .ok_or(nt(NtStatus::STATUS_INVALID_DEVICE_REQUEST))?;
    // SAFETY: 1. the framework keeps the device until after EvtDriverUnload, which drops the engine
    // and runs the callbacks down.
    let provider = unsafe { WskProvider::new(registration.clone(), wdm) };
    let no_memory = nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES);
    let engine = Engine::new(provider, Config::default()).map_err(|_| no_memory)?;
    let unload = super::UnloadKit::allocate().ok_or(no_memory)?;
    let state = Box::try_new(State {
        engine,
        registration: registration.clone(),
        unload,
    })
    .map_err(|_| no_memory)?
    .into_foreign();
    // INVARIANT: set before the device can be opened (WdfControlFinishInitializing comes next).
    STATE.store(state.as_ptr(), Ordering::Release);
    Ok(())
}
