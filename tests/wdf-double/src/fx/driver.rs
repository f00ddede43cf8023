//! `WDFDRIVER`: `WdfDriverCreate` and the framework's unload routine.
//!
//! As `FxDriver::Initialize` does for a driver without `WdfDriverInitNoDispatchOverride`, the
//! double puts its dispatch routine in every `MajorFunction` slot of the driver object; for a
//! non-PnP driver it installs its unload routine only if the driver has `EvtDriverUnload` (a
//! non-PnP driver without one cannot be unloaded), and tells the stub to displace the unload
//! routine (`DisplaceDriverUnload`). The unload routine calls `EvtDriverUnload`, then deletes the
//! driver's objects.

use super::device::{self, Device};
use super::loader::{globals, Globals};
use super::object::{get, try_box, Header, Kind, Object, SpinMutex};
use super::report::{fatal, verifier};
use crate::logic::validate::{self, status, AttributeRules};
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use wdk_sys_standin::{
    _WDF_DRIVER_INIT_FLAGS, NTSTATUS, PCUNICODE_STRING, PDRIVER_OBJECT, PWDF_DRIVER_CONFIG,
    PWDF_DRIVER_GLOBALS, PWDF_OBJECT_ATTRIBUTES, WDFDRIVER, WDF_DRIVER_CONFIG,
};
use wsksock_nt::sys::{DRIVER_OBJECT, IRP_MJ_MAXIMUM_FUNCTION};

/// A `WDFDRIVER`.
#[repr(C)]
pub struct Driver {
    header: Header,
    config: WDF_DRIVER_CONFIG,
    /// Its devices (control devices: created and deleted at PASSIVE_LEVEL).
    pub devices: SpinMutex<Vec<NonNull<Device>>>,
}

// SAFETY: 1. `#[repr(C)]`, header first.
unsafe impl Object for Driver {
    const KIND: Kind = Kind::Driver;
    fn header(&self) -> &Header {
        &self.header
    }
}

// SAFETY: 1. the device pointers are owned by the driver and only used under its lock.
unsafe impl Send for Driver {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Driver {}

/// `WdfDriverCreate`.
pub unsafe extern "C" fn wdf_driver_create(
    g: PWDF_DRIVER_GLOBALS,
    driver_object: PDRIVER_OBJECT,
    registry: PCUNICODE_STRING,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    config: PWDF_DRIVER_CONFIG,
    out: *mut WDFDRIVER,
) -> NTSTATUS {
    const F: &str = "WdfDriverCreate";
    // SAFETY: 1. the driver's globals argument.
    let globals = unsafe { globals(g, F) };
    let who = globals.who();
    if driver_object.is_null() || registry.is_null() {
        fatal(who, F, "NULL DriverObject or RegistryPath");
    }
    // SAFETY: 1. NULL or the driver's configuration.
    let Some(config) = (unsafe { config.as_ref() }) else {
        fatal(who, F, "NULL DriverConfig");
    };
    if let Some(out) = NonNull::new(out) {
        // SAFETY: 1. the driver's out parameter.
        unsafe { out.write(core::ptr::null_mut()) };
    }
    if driver_object.cast::<DRIVER_OBJECT>() != globals.driver_object {
        verifier(who, F, "not the driver object the stub bound with");
        return status::INVALID_PARAMETER;
    }
    if !globals.driver.load(Ordering::Acquire).is_null() {
        verifier(
            who,
            F,
            "WdfDriverCreate can only be called once per driver object",
        );
        return status::DRIVER_INTERNAL_ERROR;
    }
    if let Err(v) = validate::driver_config(config) {
        verifier(who, F, v.why);
        return v.status;
    }
    // SAFETY: 1. NULL or the driver's attributes.
    let attributes = unsafe { attributes.as_ref() };
    // SAFETY: 1. NULL or the driver's static type info.
    let context_type = attributes.and_then(|a| unsafe { a.ContextTypeInfo.as_ref() });
    if let Err(v) = validate::object_attributes(attributes, context_type, AttributeRules::TOP_LEVEL) {
        verifier(who, F, v.why);
        return v.status;
    }
    let mut header = Header::new(Kind::Driver, NonNull::from(globals));
    if let Err(st) = header.adopt(attributes) {
        return st;
    }
    let Some(driver) = try_box(Driver {
        header,
        config: *config,
        devices: SpinMutex::new(Vec::new()),
    }) else {
        return status::INSUFFICIENT_RESOURCES;
    };
    let driver = alloc::boxed::Box::into_raw(driver);
    globals.driver.store(driver, Ordering::Release);
    // SAFETY: 1. the driver object of the bound driver, in its DriverEntry: ours to fill in.
    let object = unsafe { &mut *globals.driver_object };
    for slot in object.MajorFunction.iter_mut().take(IRP_MJ_MAXIMUM_FUNCTION + 1) {
        *slot = Some(super::dispatch::dispatch);
    }
    let unload = config.EvtDriverUnload.is_some();
    object.DriverUnload = if unload { Some(framework_unload) } else { None };
    // SAFETY: 1. in WdfDriverCreate: the driver does not read its globals now.
    let public = unsafe { globals.public_mut() };
    public.Driver = driver.cast();
    public.DriverFlags |= config.DriverInitFlags;
    public.DisplaceDriverUnload = u8::from(unload);
    if config.DriverInitFlags & _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver.cast_unsigned() != 0
        && !unload
    {
        super::report::note(
            who,
            format_args!("non-PnP driver without EvtDriverUnload: it cannot be unloaded"),
        );
    }
    if let Some(out) = NonNull::new(out) {
        // SAFETY: 1. the driver's out parameter.
        unsafe { out.write(driver.cast()) };
    }
    status::SUCCESS
}

/// The framework's unload routine: `EvtDriverUnload`, then the driver's objects are deleted.
unsafe extern "system" fn framework_unload(object: *mut DRIVER_OBJECT) {
    let Some(globals) = Globals::of(object) else {
        return;
    };
    // SAFETY: 1. registered globals are live until unbind, which comes after this routine.
    let globals = unsafe { globals.as_ref() };
    let Some(driver) = NonNull::new(globals.driver.load(Ordering::Acquire)) else {
        return;
    };
    // SAFETY: 1. the live driver object (freed below).
    let d = unsafe { driver.as_ref() };
    if let Some(unload) = d.config.EvtDriverUnload {
        // SAFETY: 1. the driver's callback with its handle, once.
        unsafe { unload(d.handle().cast()) };
    }
    let devices: Vec<NonNull<Device>> = core::mem::take(&mut *d.devices.lock());
    for dev in devices {
        // SAFETY: 1. a device of this driver, not deleted yet (it was in the list).
        unsafe { device::delete(dev, "EvtDriverUnload") };
    }
    globals.driver.store(core::ptr::null_mut(), Ordering::Release);
    // SAFETY: 1. unloading: the driver does not read its globals.
    unsafe { globals.public_mut() }.Driver = core::ptr::null_mut();
    // SAFETY: 1. `Box::into_raw` in WdfDriverCreate; its handle is dead now.
    unsafe { super::object::destroy(driver) };
}

/// The `Driver` behind a handle, checked.
///
/// # Safety
/// See [`get`].
pub unsafe fn driver<'a>(g: &Globals, handle: WDFDRIVER, function: &str) -> &'a Driver {
    // SAFETY: 1. caller contract.
    unsafe { get::<Driver>(handle.cast(), g.who(), function) }
}
