//! The WDM front end: `DriverEntry`, the dispatch routines and `DriverUnload`, with no WDK.
//!
//! Same device (`\Device\WskSock`, `\DosDevices\WskSock`), same IOCTLs and same security rule
//! as the KMDF front end (see [`super::security`]); the engine refuses METHOD_NEITHER codes from
//! user mode, and `crate::irp::request` never dereferences their pointers.
//!
//! # Lifetimes
//! - The [`DeviceState`] (engine, registration) is a `Box` whose foreign pointer sits in the
//!   device extension from `DriverEntry` (the device is not openable before `DriverEntry`
//!   returns, `DO_DEVICE_INITIALIZING`) until `DriverUnload`.
//! - Each open file object holds one foreign `Box<OpenFile>` (its client and an outstanding-callback
//!   token) in `FsContext`, from IRP_MJ_CREATE to IRP_MJ_CLOSE (every IRP on the file object holds
//!   a reference to it, so CLOSE comes last): unload waits for every file object to be closed.
//!
//! # Unload
//! `DriverUnload` (PASSIVE_LEVEL): delete the symbolic link, then [`super::unload`] (the engine,
//! WSK, the callbacks of ours the kernel may still run — waited for on events, never polled),
//! then delete the device.

use super::security;
use super::{DriverClient, DriverEngine};
use crate::irp;
use crate::irp::request::{cancel_routine, give_back, Arming, Backend, IrpRequest};
use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::outstanding::Token;
use crate::kernel::platform::ustr;
use crate::kernel::print::kprint;
use crate::logic::names::{DEVICE_NAME, DOS_NAME};
use crate::status::{nt, NtStatus};
use crate::sys::imports::{
    IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink, IoReleaseCancelSpinLock,
};
use crate::sys::inline::{
    DeviceExtension, FileObjectFsContext, IoMarkIrpPending, IoSetCancelRoutine, IrpCancelFlag, IrpCancelIrql,
    IrpDriverContext0, IrpFileObject,
};
use crate::sys::{
    DEVICE_OBJECT, DO_DEVICE_INITIALIZING, DRIVER_OBJECT, FALSE, FILE_DEVICE_SECURE_OPEN, FILE_OBJECT, IRP,
    IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_INTERNAL_DEVICE_CONTROL,
    NTSTATUS, STATUS_PENDING, STATUS_SUCCESS, UNICODE_STRING,
};
use crate::wsk::provider::WskProvider;
use crate::wsk::registration::Registration;
use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::NonNull;
use wsksock_abi::ioctl::WSKSOCK_DEVICE_TYPE;
use wsksock_core::Config;

/// The WDM way of finishing a request and arming its cancel routine.
#[derive(Clone, Copy)]
pub struct WdmBackend;

/// The WDM cancel routine: called by `IoCancelIrp` with the cancel spin lock held.
unsafe extern "system" fn wdm_cancel_routine(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: 1. the IRP is pending (its cancel routine was armed, so it is not finished: the state
    // machine defers any completion to us); DriverContext[0] holds the reference `arm` stored.
    let slot = unsafe { IrpDriverContext0(irp) };
    // SAFETY: 1. as above, a valid pointer slot of the live IRP.
    let context = unsafe { slot.read() };
    // SAFETY: 1. as above, a live IRP.
    let irql = unsafe { IrpCancelIrql(irp) };
    // SAFETY: 1. called with the cancel spin lock held, acquired at `CancelIrql`.
    unsafe { IoReleaseCancelSpinLock(irql) };
    if let Some(context) = NonNull::new(context) {
        // SAFETY: 1. the reference `arm` handed over; the I/O manager calls this routine once and
        // only if `disarm` did not take it back (IoSetCancelRoutine's swap decides).
        unsafe { cancel_routine::<WdmBackend>(context) };
    }
}

// SAFETY: 1. `finish` completes the IRP once; 2. the routine armed by `arm` passes the context to
// `cancel_routine`; 3. `disarm` returns true only if it took the routine back (IoSetCancelRoutine
// returned it), so it will never run, after giving the reference back.
unsafe impl Backend for WdmBackend {
    unsafe fn arm(&self, irp: NonNull<IRP>, context: NonNull<c_void>) -> Arming {
        let p = irp.as_ptr();
        // SAFETY: 1. a pending IRP we own; DriverContext is ours while we own it.
        let slot = unsafe { IrpDriverContext0(p) };
        // SAFETY: 1. as above, a valid pointer slot of the live IRP.
        unsafe { slot.write(context.as_ptr()) };
        // SAFETY: 1. pending IRP we own.
        unsafe { IoSetCancelRoutine(p, Some(wdm_cancel_routine)) };
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
            if let Some(context) = NonNull::new(context) {
                // SAFETY: 1. the reference `arm` stored, which the routine will never take.
                unsafe { give_back::<WdmBackend>(context) };
            }
        }
        took_back
    }

    unsafe fn finish(&self, irp: NonNull<IRP>, st: NTSTATUS, information: usize) {
        // SAFETY: 1. a pending IRP we own, finished once (the Backend contract).
        unsafe { irp::complete(irp, st, information) };
    }
}

type Engine = DriverEngine<WdmBackend>;
type Client = DriverClient<WdmBackend>;

/// What an open file object holds: its client, and the outstanding callback the kernel will make
/// for it (IRP_MJ_CLOSE), so that unload waits for every file object to be closed — on Windows
/// they all are before unload is called; under Wine unload comes with handles open.
struct OpenFile {
    client: Client,
    _close: Token,
}

/// What the device extension points to.
type DeviceState = super::Running<WdmBackend>;

/// Completes an IRP the engine never saw.
///
/// # Safety
/// `irp` is a live IRP being dispatched by us, finished here once.
unsafe fn complete_now(irp: *mut IRP, st: NtStatus) -> NTSTATUS {
    match NonNull::new(irp) {
        // SAFETY: 1. caller contract.
        Some(irp) => unsafe { irp::complete(irp, nt(st), 0) },
        None => nt(st),
    }
}

/// The device state slot of a device object of ours: null, or the foreign `Box<DeviceState>`.
///
/// # Safety
/// `device` is our device, between `DriverEntry` and `DriverUnload`.
unsafe fn state_slot(device: *mut DEVICE_OBJECT) -> *mut *mut c_void {
    // SAFETY: 1. our device's extension holds one pointer, set in DriverEntry (caller contract).
    unsafe { DeviceExtension(device) }.cast()
}

/// The device state of a device object of ours.
///
/// # Safety
/// `device` is our device, between `DriverEntry` and `DriverUnload`.
unsafe fn state<'a>(device: *mut DEVICE_OBJECT) -> Option<&'a DeviceState> {
    // SAFETY: 1. caller contract.
    let slot = unsafe { state_slot(device) };
    // SAFETY: 1. a valid pointer slot of the live extension.
    let raw = NonNull::new(unsafe { slot.read() })?;
    // SAFETY: 1. the foreign `Box<DeviceState>` of DriverEntry, taken back only at unload, after
    // which no dispatch routine runs.
    Some(unsafe { <Box<DeviceState> as ForeignOwnable>::borrow(raw) })
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
    // SAFETY: 1. a file object of our device: FsContext holds our client from CREATE to CLOSE.
    let slot = unsafe { FileObjectFsContext(fo) };
    // SAFETY: 1. as above, a valid pointer field of the live file object.
    let ctx = NonNull::new(unsafe { slot.read() })?;
    // SAFETY: 1. the foreign `Box<OpenFile>` of dispatch_create, taken back only by dispatch_close,
    // which the I/O manager sends after every other IRP of the file object.
    Some(&unsafe { <Box<OpenFile> as ForeignOwnable>::borrow(ctx) }.client)
}

unsafe extern "system" fn dispatch_create(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    super::ledger::given();
    // SAFETY: 1. our device, during its lifetime.
    let Some(st) = (unsafe { state(device) }) else {
        // SAFETY: 1. the IRP being dispatched.
        return unsafe { complete_now(irp, NtStatus::STATUS_INVALID_DEVICE_REQUEST) };
    };
    // SAFETY: 1. live IRP being dispatched.
    let fo = unsafe { file_object(irp) };
    if fo.is_null() {
        // SAFETY: 1. the IRP being dispatched.
        return unsafe { complete_now(irp, NtStatus::STATUS_INVALID_DEVICE_REQUEST) };
    }
    match st.engine.open_client() {
        Ok(client) => {
            let open = OpenFile {
                client,
                _close: Token::new(),
            };
            let open = match crate::kernel::try_box(open) {
                Ok(open) => open,
                Err(open) => {
                    // No memory to keep the client: it goes again, and the open fails.
                    st.engine.cleanup_client(&open.client);
                    // SAFETY: 1. the IRP being dispatched.
                    return unsafe { complete_now(irp, NtStatus::STATUS_INSUFFICIENT_RESOURCES) };
                }
            };
            let client = open.into_foreign();
            // SAFETY: 1. a new file object of ours: FsContext is ours until CLOSE.
            let slot = unsafe { FileObjectFsContext(fo) };
            // SAFETY: 1. as above, a valid pointer field of the live file object.
            unsafe { slot.write(client.as_ptr()) };
            // SAFETY: 1. the IRP being dispatched.
            unsafe { complete_now(irp, NtStatus::STATUS_SUCCESS) }
        }
        // SAFETY: 1. the IRP being dispatched.
        Err(e) => unsafe { complete_now(irp, e) },
    }
}

unsafe extern "system" fn dispatch_cleanup(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    super::ledger::given();
    // SAFETY: 1. our device; live IRP.
    if let (Some(st), Some(client)) = (unsafe { state(device) }, unsafe { client_of(irp) }) {
        st.engine.cleanup_client(client);
    }
    // SAFETY: 1. the IRP being dispatched.
    unsafe { complete_now(irp, NtStatus::STATUS_SUCCESS) }
}

/// IRP_MJ_CLOSE. Runs the client's cleanup too (idempotent after IRP_MJ_CLEANUP): Wine sends
/// no IRP_MJ_CLEANUP at all, only IRP_MJ_CLOSE when the last handle is closed — even with
/// requests still pending on the file object (their own references keep the client alive) — so
/// without this a process that exits with sockets open left them open until the driver unloaded.
unsafe extern "system" fn dispatch_close(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    super::ledger::given();
    // SAFETY: 1. live IRP being dispatched.
    let fo = unsafe { file_object(irp) };
    let open = if fo.is_null() {
        None
    } else {
        // SAFETY: 1. the last IRP on this file object: the client from CREATE is ours again.
        let slot = unsafe { FileObjectFsContext(fo) };
        // SAFETY: 1. as above, a valid pointer field of the live file object.
        let ctx = unsafe { slot.replace(core::ptr::null_mut()) };
        // SAFETY: 1. null, or the foreign `Box<OpenFile>` of dispatch_create, taken back once (the
        // slot is emptied above).
        unsafe { <Box<OpenFile> as ForeignOwnable>::try_from_foreign(ctx) }
    };
    if let Some(open) = &open {
        // SAFETY: 1. our device, during its lifetime.
        if let Some(st) = unsafe { state(device) } {
            st.engine.cleanup_client(&open.client);
        }
    }
    // SAFETY: 1. the IRP being dispatched.
    let st = unsafe { complete_now(irp, NtStatus::STATUS_SUCCESS) };
    // The file object's token goes last: unload may proceed from there.
    drop(open);
    st
}

unsafe extern "system" fn dispatch_control(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    super::ledger::given();
    // SAFETY: 1. our device; live IRP.
    let (Some(st), Some(client)) = (unsafe { state(device) }, unsafe { client_of(irp) }) else {
        // SAFETY: 1. the IRP being dispatched.
        return unsafe { complete_now(irp, NtStatus::STATUS_INVALID_DEVICE_REQUEST) };
    };
    let Some(irp_nn) = NonNull::new(irp) else {
        return nt(NtStatus::STATUS_INVALID_DEVICE_REQUEST);
    };
    // Always pending: the engine may complete the request before `dispatch` returns, which is
    // allowed for an IRP marked pending.
    // SAFETY: 1. live IRP being dispatched by us.
    unsafe { IoMarkIrpPending(irp) };
    // SAFETY: 1. a live device-control IRP, marked pending, handed over to the request.
    let req = unsafe { IrpRequest::new(irp_nn, WdmBackend) };
    if let Some(req) = req.admit() {
        st.engine.dispatch(client, req);
    }
    STATUS_PENDING
}

unsafe extern "system" fn driver_unload(driver: *mut DRIVER_OBJECT) {
    kprint!("unloading");
    let link = ustr(&DOS_NAME);
    // SAFETY: 1. the link created in DriverEntry.
    unsafe { IoDeleteSymbolicLink(&raw const link) };
    // SAFETY: 1. the driver object the I/O manager passes.
    let device = unsafe { (*driver).DeviceObject };
    if device.is_null() {
        super::drain_callbacks();
        return;
    }
    // SAFETY: 1. our device; its extension holds the state pointer.
    let slot = unsafe { state_slot(device) };
    // SAFETY: 1. a valid pointer slot, emptied here, once.
    let raw = unsafe { slot.replace(core::ptr::null_mut()) };
    // SAFETY: 1. null or the foreign `Box<DeviceState>` of DriverEntry, taken back once (the slot is
    // emptied above); no dispatch routine runs any more.
    super::unload(unsafe { <Box<DeviceState> as ForeignOwnable>::try_from_foreign(raw) });
    // SAFETY: 1. our device, no longer used by anyone of ours (every callback ran down above).
    unsafe { IoDeleteDevice(device) };
    super::report_allocations("unloaded");
    kprint!("unloaded");
}

/// `DriverEntry` of the WDM build.
///
/// # Safety
/// Called once by the I/O manager with its driver object, at PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    registry: *const UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: 1. DriverEntry's registry path, at PASSIVE_LEVEL.
    unsafe { super::load(registry) };
    // SAFETY: 1. DriverEntry's own driver object, once.
    match unsafe { init(driver) } {
        Ok(()) => {
            kprint!("loaded (WDM), device {}", wsksock_abi::ioctl::WSKSOCK_DEVICE_NAME);
            STATUS_SUCCESS
        }
        Err(st) => {
            super::report_allocations("DriverEntry failed");
            kprint!("DriverEntry failed: {:#010x}", st);
            st
        }
    }
}

/// # Safety
/// `driver` is DriverEntry's driver object; called once, at PASSIVE_LEVEL.
unsafe fn init(driver: *mut DRIVER_OBJECT) -> Result<(), NTSTATUS> {
    let no_memory = nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES);
    let registration = match crate::kernel::try_arc(Registration::register()?) {
        Ok(r) => r,
        Err(r) => {
            r.release();
            return Err(no_memory);
        }
    };
    let name = ustr(&DEVICE_NAME);
    let mut device: *mut DEVICE_OBJECT = core::ptr::null_mut();
    let ext_size = u32::try_from(core::mem::size_of::<*mut c_void>()).unwrap_or(8);
    // SAFETY: 1. the driver object of DriverEntry (caller contract); 2. the name lives in a static.
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
        return Err(if st < 0 {
            st
        } else {
            nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
        });
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
    // SAFETY: 1. the device outlives the provider and what it starts (deleted in unload after the
    // engine is dropped and the callbacks ran down).
    let provider = unsafe { WskProvider::new(registration.clone(), device_nn) };
    let (Ok(engine), Some(unload)) = (
        Engine::new(provider, Config::default()),
        super::UnloadKit::allocate(),
    ) else {
        return Err(fail(no_memory));
    };
    let Ok(state) = Box::try_new(DeviceState {
        engine,
        registration: registration.clone(),
        unload,
    }) else {
        return Err(fail(no_memory));
    };
    let state = state.into_foreign();
    // SAFETY: 1. our fresh device: its extension has room for one pointer (ext_size).
    let slot = unsafe { state_slot(device) };
    // SAFETY: 1. as above; the state is the extension's until unload.
    unsafe { slot.write(state.as_ptr()) };
    let link = ustr(&DOS_NAME);
    // SAFETY: 1. both names are valid UNICODE_STRINGs over statics.
    let st = unsafe { IoCreateSymbolicLink(&raw const link, &raw const name) };
    if st < 0 {
        // SAFETY: 1. the slot is ours: nobody can have opened the device yet (DO_DEVICE_INITIALIZING).
        unsafe { slot.write(core::ptr::null_mut()) };
        // SAFETY: 1. handed over just above, taken back once, here.
        drop(unsafe { <Box<DeviceState> as ForeignOwnable>::from_foreign(state) });
        return Err(fail(st));
    }
    // SAFETY: 1. the driver object of DriverEntry, ours to fill in (caller contract).
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
