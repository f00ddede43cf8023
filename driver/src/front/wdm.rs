//! The WDM front end: `DriverEntry`, the dispatch routines and `DriverUnload`, with no WDK.
//!
//! Same device (`\Device\WskSock`, `\DosDevices\WskSock`), same IOCTLs and same security rule
//! as the KMDF front end (see [`super::security`]); the engine refuses METHOD_NEITHER codes from
//! user mode, and [`super::request`] never dereferences their pointers.
//!
//! # Lifetimes
//! - The [`DeviceState`] (engine, registration) is a `Box` whose pointer sits in the device
//!   extension from `DriverEntry` (the device is not openable before `DriverEntry` returns,
//!   `DO_DEVICE_INITIALIZING`) until `DriverUnload`.
//! - Each open file object holds one `Box<DriverClient>` in `FsContext`, from IRP_MJ_CREATE to
//!   IRP_MJ_CLOSE (every IRP on the file object holds a reference to it, so CLOSE comes last).
//!
//! # Unload
//! `DriverUnload` (PASSIVE_LEVEL): delete the symbolic link, `Engine::unload` and wait on an
//! event for its `on_idle`, then `WskReleaseProviderNPI` + `WskDeregister`, then wait until no
//! completion routine, DPC or work item of ours is outstanding, then delete the device.

use super::request::{run_cancel, Arming, Backend, IrpRequest, ReqShared};
use super::security;
use super::{DriverClient, DriverEngine};
use crate::kernel::event::Event;
use crate::kernel::outstanding;
use crate::kernel::print::kprint;
use crate::logic::names::{DEVICE_NAME, DOS_NAME};
use crate::sys::imports::{
    IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink, IoReleaseCancelSpinLock,
};
use crate::sys::inline::{
    DeviceExtension, FileObjectFsContext, IoCompleteRequest, IoMarkIrpPending, IoSetCancelRoutine,
    IrpCancelFlag, IrpCancelIrql, IrpDriverContext0, IrpFileObject, IrpSetIoStatus,
};
use crate::sys::{
    status, DEVICE_OBJECT, DO_DEVICE_INITIALIZING, DRIVER_OBJECT, FALSE, FILE_DEVICE_SECURE_OPEN,
    FILE_OBJECT, IO_NO_INCREMENT, IRP, IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL,
    IRP_MJ_INTERNAL_DEVICE_CONTROL, NTSTATUS, STATUS_PENDING, STATUS_SUCCESS, UNICODE_STRING,
};
use crate::wsk::provider::WskProvider;
use crate::wsk::registration::Registration;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use wsksock_abi::ioctl::WSKSOCK_DEVICE_TYPE;
use wsksock_core::Config;

const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = status(0xC000_0010);
const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = status(0xC000_009A);

/// The WDM way of finishing a request and arming its cancel routine.
#[derive(Clone, Copy)]
pub struct WdmBackend;

/// The WDM cancel routine: called by `IoCancelIrp` with the cancel spin lock held.
unsafe extern "system" fn cancel_routine(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: 1. the IRP is pending (its cancel routine was armed, so it is not finished: the state
    // machine defers any completion to us); DriverContext[0] holds the strong reference `arm`
    // stored, now ours.
    let slot = unsafe { IrpDriverContext0(irp) };
    // SAFETY: 1. as above, a valid pointer slot of the live IRP.
    let context = unsafe { slot.read() };
    // SAFETY: 1. as above, a live IRP.
    let irql = unsafe { IrpCancelIrql(irp) };
    // SAFETY: 1. called with the cancel spin lock held, acquired at `CancelIrql`.
    unsafe { IoReleaseCancelSpinLock(irql) };
    // SAFETY: 1. see the first comment: `Arc::into_raw` of a `ReqShared<WdmBackend>`, taken once.
    let shared = unsafe { Arc::from_raw(context.cast::<ReqShared<WdmBackend>>()) };
    run_cancel(&shared);
}

// SAFETY: 1. `finish` completes the IRP once; 2. the routine armed by `arm` takes the context
// reference and runs `run_cancel`; 3. `disarm` returns true only if it took the routine back
// (IoSetCancelRoutine returned it), so it will never run.
unsafe impl Backend for WdmBackend {
    unsafe fn arm(&self, irp: NonNull<IRP>, context: *const c_void) -> Arming {
        let p = irp.as_ptr();
        // SAFETY: 1. a pending IRP we own; DriverContext is ours while we own it.
        let slot = unsafe { IrpDriverContext0(p) };
        // SAFETY: 1. as above, a valid pointer slot of the live IRP.
        unsafe { slot.write(context.cast_mut()) };
        // SAFETY: 1. pending IRP we own.
        unsafe { IoSetCancelRoutine(p, Some(cancel_routine)) };
        // SAFETY: 1. as above.
        if unsafe { IrpCancelFlag(p) } {
            // Cancelled before the routine was armed: take it back if IoCancelIrp did not.
            // SAFETY: 1. as above.
            if unsafe { IoSetCancelRoutine(p, None) }.is_some() {
                return Arming::AlreadyCancelled;
            }
        }
        Arming::Armed
    }

    unsafe fn disarm(&self, irp: NonNull<IRP>) -> bool {
        // SAFETY: 1. pending IRP we own.
        let took_back = unsafe { IoSetCancelRoutine(irp.as_ptr(), None) }.is_some();
        if took_back {
            // SAFETY: 1. the routine will never run: its reference in DriverContext[0] is ours.
            let slot = unsafe { IrpDriverContext0(irp.as_ptr()) };
            // SAFETY: 1. as above, a valid pointer slot of the live IRP.
            let context = unsafe { slot.read() };
            // SAFETY: 1. the `Arc::into_raw` stored by `arm`, given back once.
            unsafe { Arc::decrement_strong_count(context.cast::<ReqShared<WdmBackend>>()) };
        }
        took_back
    }

    unsafe fn finish(&self, irp: NonNull<IRP>, st: NTSTATUS, information: usize) {
        complete_irp(irp.as_ptr(), st, information);
    }
}

type Engine = DriverEngine<WdmBackend>;
type Client = DriverClient<WdmBackend>;

/// What the device extension points to.
struct DeviceState {
    engine: Engine,
    registration: Arc<Registration>,
}

fn complete_irp(irp: *mut IRP, st: NTSTATUS, information: usize) -> NTSTATUS {
    // SAFETY: 1. callers pass an IRP they own and finish it here, once.
    unsafe { IrpSetIoStatus(irp, st, information) };
    // SAFETY: 1. as above.
    unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT) };
    st
}

fn unicode(s: &'static [u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(core::mem::size_of_val(s)).unwrap_or(0);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

/// The device state of a device object of ours.
///
/// # Safety
/// `device` is our device, between `DriverEntry` and `DriverUnload`.
unsafe fn state<'a>(device: *mut DEVICE_OBJECT) -> Option<&'a DeviceState> {
    // SAFETY: 1. our device's extension holds one pointer, set in DriverEntry (caller contract).
    let slot = unsafe { DeviceExtension(device) }.cast::<*const DeviceState>();
    // SAFETY: 1. the slot holds null or the `Box::into_raw` of DriverEntry, alive until unload.
    let raw = unsafe { slot.read() };
    // SAFETY: 1. as above.
    unsafe { raw.as_ref() }
}

/// The current stack location's file object.
///
/// # Safety
/// `irp` is a live IRP being dispatched.
unsafe fn file_object(irp: *mut IRP) -> *mut FILE_OBJECT {
    // SAFETY: 1. caller contract.
    unsafe { IrpFileObject(irp) }
}

/// # Safety
/// `irp` is a live IRP being dispatched.
unsafe fn client_of<'a>(irp: *mut IRP) -> Option<&'a Client> {
    // SAFETY: 1. caller contract.
    let fo = unsafe { file_object(irp) };
    if fo.is_null() {
        return None;
    }
    // SAFETY: 1. a file object of our device: FsContext holds our Box<Client> from CREATE to CLOSE.
    let slot = unsafe { FileObjectFsContext(fo) };
    // SAFETY: 1. as above, a valid pointer field of the live file object.
    let ctx = unsafe { slot.read() };
    // SAFETY: 1. as above; null before CREATE succeeded.
    unsafe { ctx.cast::<Client>().as_ref() }
}

unsafe extern "system" fn dispatch_create(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: 1. our device, during its lifetime.
    let Some(st) = (unsafe { state(device) }) else {
        return complete_irp(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    };
    // SAFETY: 1. live IRP being dispatched.
    let fo = unsafe { file_object(irp) };
    if fo.is_null() {
        return complete_irp(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
    match st.engine.open_client() {
        Ok(client) => {
            let boxed = Box::into_raw(Box::new(client));
            // SAFETY: 1. a new file object of ours: FsContext is ours until CLOSE.
            let slot = unsafe { FileObjectFsContext(fo) };
            // SAFETY: 1. as above, a valid pointer field of the live file object.
            unsafe { slot.write(boxed.cast()) };
            complete_irp(irp, STATUS_SUCCESS, 0)
        }
        Err(e) => complete_irp(irp, e.0.cast_signed(), 0),
    }
}

unsafe extern "system" fn dispatch_cleanup(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: 1. our device; live IRP.
    if let (Some(st), Some(client)) = (unsafe { state(device) }, unsafe { client_of(irp) }) {
        st.engine.cleanup_client(client);
    }
    complete_irp(irp, STATUS_SUCCESS, 0)
}

/// IRP_MJ_CLOSE. Runs the client's cleanup too (idempotent after IRP_MJ_CLEANUP): Wine sends
/// no IRP_MJ_CLEANUP at all, only IRP_MJ_CLOSE when the last handle is closed — even with
/// requests still pending on the file object (their own references keep the client alive) — so
/// without this a process that exits with sockets open left them open until the driver unloaded.
unsafe extern "system" fn dispatch_close(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: 1. live IRP being dispatched.
    let fo = unsafe { file_object(irp) };
    if !fo.is_null() {
        // SAFETY: 1. the last IRP on this file object: the Box<Client> from CREATE is ours again.
        let slot = unsafe { FileObjectFsContext(fo) };
        // SAFETY: 1. as above, a valid pointer field of the live file object.
        let ctx = unsafe { slot.replace(core::ptr::null_mut()) };
        if !ctx.is_null() {
            // SAFETY: 1. `Box::into_raw` in dispatch_create, taken back once.
            let client = unsafe { Box::from_raw(ctx.cast::<Client>()) };
            // SAFETY: 1. our device, during its lifetime.
            if let Some(st) = unsafe { state(device) } {
                st.engine.cleanup_client(&client);
            }
            drop(client);
        }
    }
    complete_irp(irp, STATUS_SUCCESS, 0)
}

unsafe extern "system" fn dispatch_control(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: 1. our device; live IRP.
    let (Some(st), Some(client)) = (unsafe { state(device) }, unsafe { client_of(irp) }) else {
        return complete_irp(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    };
    let Some(irp_nn) = NonNull::new(irp) else {
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    // Always pending: the engine may complete the request before `dispatch` returns, which is
    // allowed for an IRP marked pending.
    // SAFETY: 1. live IRP being dispatched by us.
    unsafe { IoMarkIrpPending(irp) };
    // SAFETY: 1. a live device-control IRP, marked pending, handed over to the request.
    let req = unsafe { IrpRequest::new(irp_nn, WdmBackend) };
    st.engine.dispatch(client, req);
    STATUS_PENDING
}

unsafe extern "system" fn driver_unload(driver: *mut DRIVER_OBJECT) {
    kprint!("unloading");
    let link = unicode(&DOS_NAME);
    // SAFETY: 1. the link created in DriverEntry.
    unsafe { IoDeleteSymbolicLink(&raw const link) };
    // SAFETY: 1. the driver object the I/O manager passes.
    let device = unsafe { (*driver).DeviceObject };
    if device.is_null() {
        return;
    }
    // SAFETY: 1. our device; its extension holds the state pointer.
    let slot = unsafe { DeviceExtension(device) }.cast::<*const DeviceState>();
    // SAFETY: 1. as above; taken once, here.
    let raw = unsafe { slot.replace(core::ptr::null()) };
    if !raw.is_null() {
        // SAFETY: 1. `Box::into_raw` in DriverEntry, taken back once.
        let state = unsafe { Box::from_raw(raw.cast_mut()) };
        let idle = Arc::new(Event::new());
        let signal = idle.clone();
        state.engine.unload(Box::new(move || signal.set()));
        idle.wait();
        state.registration.release();
        drop(state);
    }
    outstanding::wait_until_idle();
    // SAFETY: 1. our device, no longer used by anyone.
    unsafe { IoDeleteDevice(device) };
    kprint!("unloaded");
}

/// `DriverEntry` of the WDM build.
///
/// # Safety
/// Called once by the I/O manager with its driver object, at PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    _registry: *const UNICODE_STRING,
) -> NTSTATUS {
    match init(driver) {
        Ok(()) => {
            kprint!("loaded (WDM), device {}", wsksock_abi::ioctl::WSKSOCK_DEVICE_NAME);
            STATUS_SUCCESS
        }
        Err(st) => {
            kprint!("DriverEntry failed: {:#010x}", st);
            st
        }
    }
}

fn init(driver: *mut DRIVER_OBJECT) -> Result<(), NTSTATUS> {
    let registration = Arc::new(Registration::register()?);
    let name = unicode(&DEVICE_NAME);
    let mut device: *mut DEVICE_OBJECT = core::ptr::null_mut();
    let ext_size = u32::try_from(core::mem::size_of::<*const DeviceState>()).unwrap_or(8);
    // SAFETY: 1. the driver object of DriverEntry; 2. the name lives in a static.
    let st = unsafe {
        IoCreateDevice(
            driver,
            ext_size,
            &raw const name,
            WSKSOCK_DEVICE_TYPE,
            FILE_DEVICE_SECURE_OPEN,
            FALSE,
            &raw mut device,
        )
    };
    let Some(device_nn) = NonNull::new(device).filter(|_| st >= 0) else {
        registration.release();
        return Err(if st < 0 { st } else { STATUS_INSUFFICIENT_RESOURCES });
    };
    let fail = |st: NTSTATUS| {
        registration.release();
        // SAFETY: 1. the device created above, unused.
        unsafe { IoDeleteDevice(device) };
        st
    };
    // SAFETY: 1. our fresh device at PASSIVE_LEVEL.
    if let Err(st) = unsafe { security::restrict_device(device_nn) } {
        return Err(fail(st));
    }
    // SAFETY: 1. the device outlives the provider (deleted in unload after the engine is dropped).
    let provider = unsafe { WskProvider::new(registration.clone(), device_nn) };
    let engine = Engine::new(provider, Config::default());
    let state = Box::into_raw(Box::new(DeviceState {
        engine,
        registration: registration.clone(),
    }));
    // SAFETY: 1. our fresh device: its extension has room for one pointer (ext_size).
    let slot = unsafe { DeviceExtension(device) }.cast::<*const DeviceState>();
    // SAFETY: 1. as above.
    unsafe { slot.write(state) };
    let link = unicode(&DOS_NAME);
    // SAFETY: 1. both names are valid UNICODE_STRINGs over statics.
    let st = unsafe { IoCreateSymbolicLink(&raw const link, &raw const name) };
    if st < 0 {
        // SAFETY: 1. set just above; nobody can have opened the device yet (DO_DEVICE_INITIALIZING).
        drop(unsafe { Box::from_raw(state) });
        return Err(fail(st));
    }
    // SAFETY: 1. the driver object of DriverEntry, ours to fill in.
    let d = unsafe { &mut *driver };
    d.MajorFunction[IRP_MJ_CREATE] = Some(dispatch_create);
    d.MajorFunction[IRP_MJ_CLEANUP] = Some(dispatch_cleanup);
    d.MajorFunction[IRP_MJ_CLOSE] = Some(dispatch_close);
    d.MajorFunction[IRP_MJ_DEVICE_CONTROL] = Some(dispatch_control);
    d.MajorFunction[IRP_MJ_INTERNAL_DEVICE_CONTROL] = Some(dispatch_control);
    d.DriverUnload = Some(driver_unload);
    // SAFETY: 1. our fresh device; the I/O manager clears this flag too after DriverEntry.
    let dev = unsafe { &mut *device };
    dev.Flags &= !DO_DEVICE_INITIALIZING;
    Ok(())
}
