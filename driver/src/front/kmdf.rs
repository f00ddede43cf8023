//! The KMDF front end (feature `kmdf`; the product build, needs the WDK — see docs/DRIVER.md).
//!
//! A non-PnP KMDF driver with one named control device:
//! - `DriverEntry`: `WdfDriverCreate` (`WdfDriverInitNonPnpDriver`, `EvtDriverUnload`), WSK
//!   registration, `WdfControlDeviceInitAllocate` with `SDDL_DEVOBJ_SYS_ALL_ADM_ALL` (SYSTEM and
//!   Administrators only), device type, `FILE_DEVICE_SECURE_OPEN`, name, file-object callbacks,
//!   `WdfDeviceCreate`, the `\DosDevices\WskSock` link, one parallel default queue for
//!   IRP_MJ_DEVICE_CONTROL and IRP_MJ_INTERNAL_DEVICE_CONTROL, `WdfControlFinishInitializing`.
//! - file create / cleanup / close → engine `open_client` / `cleanup_client` / drop; the client
//!   lives in the WDM file object's `FsContext` (the file object class says the framework does
//!   not use it).
//! - requests: the engine's request is the shared [`IrpRequest`] over the request's WDM IRP
//!   (same buffer rules as WDM); [`KmdfBackend`] completes with
//!   `WdfRequestCompleteWithInformation` and handles cancellation with
//!   `WdfRequestMarkCancelableEx` / `WdfRequestUnmarkCancelable`, the cancel state machine's
//!   shared context being kept in a typed request context.
//! - `EvtDriverUnload`: `Engine::unload`, wait for idle, release the WSK NPI, deregister, wait for
//!   outstanding callbacks. The framework deletes the device.
//!
//! Everything below this file (bindings, provider, [`IrpRequest`], the cancel state machine,
//! security constants) is shared with the WDM front end and checked by `cargo xtask cross`; this
//! file itself is only compiled with the WDK (see docs/DRIVER.md, "What Linux does not check").

use super::request::{run_cancel, Backend, IrpRequest, ReqShared};
use super::security::SDDL_DEVOBJ_SYS_ALL_ADM_ALL;
use super::{DriverClient, DriverEngine};
use crate::kernel::event::Event;
use crate::kernel::outstanding;
use crate::kernel::print::kprint;
use crate::logic::names::{wide, DEVICE_NAME, DOS_NAME};
use crate::sys::inline::FileObjectFsContext;
use crate::sys::{FILE_DEVICE_SECURE_OPEN, IRP, NTSTATUS};
use crate::wsk::provider::WskProvider;
use crate::wsk::registration::Registration;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use wdk_sys::{
    call_unsafe_wdf_function_binding, DRIVER_OBJECT, PCUNICODE_STRING, UNICODE_STRING, WDFDEVICE, WDFDRIVER,
    WDFFILEOBJECT, WDFOBJECT, WDFQUEUE, WDFREQUEST, WDF_DRIVER_CONFIG, WDF_FILEOBJECT_CONFIG,
    WDF_IO_QUEUE_CONFIG, WDF_NO_HANDLE, WDF_NO_OBJECT_ATTRIBUTES, WDF_OBJECT_ATTRIBUTES,
    WDF_OBJECT_CONTEXT_TYPE_INFO,
};
use wsksock_abi::ioctl::WSKSOCK_DEVICE_TYPE;
use wsksock_core::Config;

#[global_allocator]
static GLOBAL: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

const STATUS_SUCCESS: NTSTATUS = 0;
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
    // SAFETY: 1. set once in DriverEntry before the device exists, cleared only in unload after
    // the framework stopped calling us.
    unsafe { STATE.load(Ordering::Acquire).as_ref() }
}

/// The typed request context that holds the cancel routine's reference (one pointer).
#[repr(C)]
struct RequestContext {
    shared: *const c_void,
}

/// `WDF_DECLARE_CONTEXT_TYPE(RequestContext)` by hand.
static REQUEST_CONTEXT_TYPE: WDF_OBJECT_CONTEXT_TYPE_INFO = WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: core::mem::size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>() as u32,
    ContextName: c"RequestContext".as_ptr().cast(),
    ContextSize: core::mem::size_of::<RequestContext>(),
    UniqueType: &raw const REQUEST_CONTEXT_TYPE,
    EvtDriverGetUniqueContextType: None,
};

/// Completes and cancels through the framework.
#[derive(Clone, Copy)]
pub struct KmdfBackend {
    request: WDFREQUEST,
}

// SAFETY: 1. a WDFREQUEST handle may be used from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for KmdfBackend {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for KmdfBackend {}

fn request_context(request: WDFREQUEST) -> *mut RequestContext {
    // SAFETY: 1. the request is live; the context type is ours (allocated in `arm`).
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfObjectGetTypedContextWorker,
            request as WDFOBJECT,
            &raw const REQUEST_CONTEXT_TYPE
        )
    }
    .cast()
}

extern "C" fn evt_request_cancel(request: WDFREQUEST) {
    let ctx = request_context(request);
    if ctx.is_null() {
        return;
    }
    // SAFETY: 1. `arm` stored an `Arc::into_raw` there before marking the request cancelable; the
    // framework calls this callback at most once, so the reference is taken once.
    let shared = unsafe { Arc::from_raw((*ctx).shared.cast::<ReqShared<KmdfBackend>>()) };
    run_cancel(&shared);
}

// SAFETY: 1. `finish` completes the request once; 2. the routine armed by `arm` takes the context
// reference and runs `run_cancel`; 3. `disarm` returns true only if WdfRequestUnmarkCancelable
// succeeded, after which the framework never calls the cancel callback.
unsafe impl Backend for KmdfBackend {
    unsafe fn arm(&self, _irp: NonNull<IRP>, context: *const c_void) -> bool {
        // SAFETY: 1. all-zero, then what WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE sets.
        let mut attrs: WDF_OBJECT_ATTRIBUTES = unsafe { core::mem::zeroed() };
        attrs.Size = core::mem::size_of::<WDF_OBJECT_ATTRIBUTES>() as u32;
        attrs.ContextTypeInfo = &raw const REQUEST_CONTEXT_TYPE;
        let mut ptr: *mut c_void = core::ptr::null_mut();
        // SAFETY: 1. a live request; the attributes describe our one-pointer context.
        let st = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfObjectAllocateContext,
                self.request as WDFOBJECT,
                &mut attrs,
                &mut ptr
            )
        };
        if st < 0 || ptr.is_null() {
            return false;
        }
        // SAFETY: 1. the context just allocated, one pointer big.
        unsafe { (*ptr.cast::<RequestContext>()).shared = context };
        // SAFETY: 1. a live request owned by us.
        let st = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestMarkCancelableEx,
                self.request,
                Some(evt_request_cancel)
            )
        };
        st == STATUS_SUCCESS
    }

    unsafe fn disarm(&self, _irp: NonNull<IRP>) -> bool {
        // SAFETY: 1. a live request marked cancelable by `arm`.
        let st = unsafe { call_unsafe_wdf_function_binding!(WdfRequestUnmarkCancelable, self.request) };
        if st != STATUS_SUCCESS {
            return false;
        }
        let ctx = request_context(self.request);
        // SAFETY: 1. the callback will never run: the reference `arm` stored is ours again.
        unsafe { Arc::decrement_strong_count((*ctx).shared.cast::<ReqShared<KmdfBackend>>()) };
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
            )
        };
    }
}

fn complete(request: WDFREQUEST, st: NTSTATUS) {
    // SAFETY: 1. a live request we own, completed once.
    unsafe { call_unsafe_wdf_function_binding!(WdfRequestComplete, request, st) };
}

fn fs_context(file: WDFFILEOBJECT) -> *mut *mut c_void {
    // SAFETY: 1. a live framework file object of our device.
    let wdm = unsafe { call_unsafe_wdf_function_binding!(WdfFileObjectWdmGetFileObject, file) };
    if wdm.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: 1. our file object class lets the driver use FsContext.
    unsafe { FileObjectFsContext(wdm.cast()) }
}

extern "C" fn evt_file_create(_device: WDFDEVICE, request: WDFREQUEST, file: WDFFILEOBJECT) {
    let (Some(st), slot) = (state(), fs_context(file)) else {
        return complete(request, STATUS_INVALID_DEVICE_REQUEST);
    };
    if slot.is_null() {
        return complete(request, STATUS_INVALID_DEVICE_REQUEST);
    }
    match st.engine.open_client() {
        Ok(client) => {
            // SAFETY: 1. a new file object: FsContext is ours until close.
            unsafe { slot.write(Box::into_raw(Box::new(client)).cast()) };
            complete(request, STATUS_SUCCESS);
        }
        Err(e) => complete(request, e.0.cast_signed()),
    }
}

fn client_of<'a>(file: WDFFILEOBJECT) -> Option<&'a Client> {
    let slot = fs_context(file);
    if slot.is_null() {
        return None;
    }
    // SAFETY: 1. FsContext holds our Box<Client> from create to close (or null).
    unsafe { slot.read().cast::<Client>().as_ref() }
}

extern "C" fn evt_file_cleanup(file: WDFFILEOBJECT) {
    if let (Some(st), Some(client)) = (state(), client_of(file)) {
        st.engine.cleanup_client(client);
    }
}

extern "C" fn evt_file_close(file: WDFFILEOBJECT) {
    let slot = fs_context(file);
    if slot.is_null() {
        return;
    }
    // SAFETY: 1. the last callback for this file object: the Box<Client> is ours again.
    let raw = unsafe { slot.replace(core::ptr::null_mut()) };
    if !raw.is_null() {
        // SAFETY: 1. `Box::into_raw` in evt_file_create, taken back once.
        drop(unsafe { Box::from_raw(raw.cast::<Client>()) });
    }
}

extern "C" fn evt_io_control(_queue: WDFQUEUE, request: WDFREQUEST, _out: usize, _in: usize, _code: u32) {
    // SAFETY: 1. a live request of our queue.
    let file = unsafe { call_unsafe_wdf_function_binding!(WdfRequestGetFileObject, request) };
    let (Some(st), Some(client)) = (state(), client_of(file)) else {
        return complete(request, STATUS_INVALID_DEVICE_REQUEST);
    };
    // SAFETY: 1. a live request: its WDM IRP is pending and ours until the request completes.
    let irp = unsafe { call_unsafe_wdf_function_binding!(WdfRequestWdmGetIrp, request) };
    let Some(irp) = NonNull::new(irp.cast::<IRP>()) else {
        return complete(request, STATUS_INVALID_DEVICE_REQUEST);
    };
    // SAFETY: 1. the request's device-control IRP, finished only through the backend.
    let req = unsafe { IrpRequest::new(irp, KmdfBackend { request }) };
    st.engine.dispatch(client, req);
}

extern "C" fn evt_driver_unload(_driver: WDFDRIVER) {
    kprint!("unloading (KMDF)");
    let raw = STATE.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !raw.is_null() {
        // SAFETY: 1. `Box::into_raw` in DriverEntry, taken back once.
        let state = unsafe { Box::from_raw(raw) };
        let idle = Arc::new(Event::new());
        let signal = idle.clone();
        state.engine.unload(Box::new(move || signal.set()));
        idle.wait();
        state.registration.release();
        drop(state);
    }
    outstanding::wait_until_idle();
}

fn unicode(s: &'static [u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(core::mem::size_of_val(s)).unwrap_or(0);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

static SDDL: [u16; SDDL_DEVOBJ_SYS_ALL_ADM_ALL.len()] = wide(SDDL_DEVOBJ_SYS_ALL_ADM_ALL);

/// `DriverEntry` of the KMDF build.
///
/// # Safety
/// Called once by the system with its driver object and registry path.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(
    driver: &mut DRIVER_OBJECT,
    registry: PCUNICODE_STRING,
) -> NTSTATUS {
    match init(driver, registry) {
        Ok(()) => {
            kprint!("loaded (KMDF)");
            STATUS_SUCCESS
        }
        Err(st) => {
            kprint!("DriverEntry failed: {:#010x}", st);
            st
        }
    }
}

fn init(driver: &mut DRIVER_OBJECT, registry: PCUNICODE_STRING) -> Result<(), NTSTATUS> {
    let ok = |st: NTSTATUS| if st < 0 { Err(st) } else { Ok(()) };
    // SAFETY: 1. all-zero is the documented start value of the config (WDF_DRIVER_CONFIG_INIT).
    let mut config: WDF_DRIVER_CONFIG = unsafe { core::mem::zeroed() };
    config.Size = core::mem::size_of::<WDF_DRIVER_CONFIG>() as u32;
    config.DriverInitFlags = wdk_sys::_WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver as u32;
    config.EvtDriverUnload = Some(evt_driver_unload);
    let mut wdf_driver: WDFDRIVER = WDF_NO_HANDLE.cast();
    // SAFETY: 1. DriverEntry's arguments; a valid config.
    ok(unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDriverCreate,
            driver,
            registry,
            WDF_NO_OBJECT_ATTRIBUTES,
            &mut config,
            &mut wdf_driver
        )
    })?;
    let registration = Arc::new(Registration::register()?);
    let sddl = unicode(&SDDL);
    // SAFETY: 1. our driver handle; the SDDL string lives in a static.
    let mut init =
        unsafe { call_unsafe_wdf_function_binding!(WdfControlDeviceInitAllocate, wdf_driver, &sddl) };
    if init.is_null() {
        registration.release();
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    let name = unicode(&DEVICE_NAME);
    // SAFETY: 1. a fresh WDFDEVICE_INIT (freed by WdfDeviceCreate or WdfDeviceInitFree).
    unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitSetDeviceType, init, WSKSOCK_DEVICE_TYPE) };
    // SAFETY: 1. as above.
    unsafe {
        call_unsafe_wdf_function_binding!(WdfDeviceInitSetCharacteristics, init, FILE_DEVICE_SECURE_OPEN, 1)
    };
    // SAFETY: 1. as above; the name lives in a static.
    let st = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitAssignName, init, &name) };
    // SAFETY: 1. all-zero, then the fields WDF_FILEOBJECT_CONFIG_INIT sets.
    let mut fcfg: WDF_FILEOBJECT_CONFIG = unsafe { core::mem::zeroed() };
    fcfg.Size = core::mem::size_of::<WDF_FILEOBJECT_CONFIG>() as u32;
    fcfg.EvtDeviceFileCreate = Some(evt_file_create);
    fcfg.EvtFileCleanup = Some(evt_file_cleanup);
    fcfg.EvtFileClose = Some(evt_file_close);
    fcfg.AutoForwardCleanupClose = wdk_sys::_WDF_TRI_STATE::WdfUseDefault;
    fcfg.FileObjectClass = wdk_sys::_WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCannotUseFsContexts;
    // SAFETY: 1. as above.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetFileObjectConfig,
            init,
            &mut fcfg,
            WDF_NO_OBJECT_ATTRIBUTES
        )
    };
    let mut device: WDFDEVICE = WDF_NO_HANDLE.cast();
    let st = if st < 0 {
        st
    } else {
        // SAFETY: 1. a configured init; consumed on success.
        unsafe {
            call_unsafe_wdf_function_binding!(
                WdfDeviceCreate,
                &mut init,
                WDF_NO_OBJECT_ATTRIBUTES,
                &mut device
            )
        }
    };
    if st < 0 {
        // SAFETY: 1. not consumed by a successful WdfDeviceCreate.
        unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitFree, init) };
        registration.release();
        return Err(st);
    }
    let link = unicode(&DOS_NAME);
    // SAFETY: 1. our control device; the name lives in a static.
    let st = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceCreateSymbolicLink, device, &link) };
    // SAFETY: 1. all-zero, then what WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE sets.
    let mut qcfg: WDF_IO_QUEUE_CONFIG = unsafe { core::mem::zeroed() };
    qcfg.Size = core::mem::size_of::<WDF_IO_QUEUE_CONFIG>() as u32;
    qcfg.DispatchType = wdk_sys::_WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchParallel;
    qcfg.PowerManaged = wdk_sys::_WDF_TRI_STATE::WdfFalse;
    qcfg.DefaultQueue = 1;
    qcfg.EvtIoDeviceControl = Some(evt_io_control);
    qcfg.EvtIoInternalDeviceControl = Some(evt_io_control);
    let st = if st < 0 {
        st
    } else {
        // SAFETY: 1. our device; a valid queue config.
        unsafe {
            call_unsafe_wdf_function_binding!(
                WdfIoQueueCreate,
                device,
                &mut qcfg,
                WDF_NO_OBJECT_ATTRIBUTES,
                core::ptr::null_mut()
            )
        }
    };
    if st < 0 {
        // SAFETY: 1. our device, not yet finished initializing.
        unsafe { call_unsafe_wdf_function_binding!(WdfObjectDelete, device as WDFOBJECT) };
        registration.release();
        return Err(st);
    }
    // SAFETY: 1. our device.
    let wdm = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceWdmGetDeviceObject, device) };
    let Some(wdm) = NonNull::new(wdm.cast::<crate::sys::DEVICE_OBJECT>()) else {
        registration.release();
        return Err(STATUS_INVALID_DEVICE_REQUEST);
    };
    // SAFETY: 1. the framework keeps the device until after EvtDriverUnload, which drops the engine.
    let provider = unsafe { WskProvider::new(registration.clone(), wdm) };
    let engine = Engine::new(provider, Config::default());
    STATE.store(
        Box::into_raw(Box::new(State { engine, registration })),
        Ordering::Release,
    );
    // SAFETY: 1. our control device, fully set up.
    unsafe { call_unsafe_wdf_function_binding!(WdfControlFinishInitializing, device) };
    Ok(())
}
