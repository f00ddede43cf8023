//! What `WDFLDR.SYS` exports to a KMDF driver's stub: `WdfVersionBind` and `WdfVersionUnbind`,
//! and the per-driver globals the bind hands out.
//!
//! # Invariants
//! - A `Globals` lives from a successful bind to its unbind; `REGISTRY` lists the live ones.
//! - `public` is the `WDF_DRIVER_GLOBALS` the driver sees (first argument of every call): the
//!   double writes it only in `WdfDriverCreate` and at unload, when the driver is not reading it.

use super::driver::Driver;
use super::object::{try_box, SpinMutex};
use super::report::{fatal, note, verifier, Who};
use super::table::TABLE;
use crate::logic::validate::{self, status};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use wdk_sys_standin::ldr::WDF_BIND_INFO;
use wdk_sys_standin::{NTSTATUS, PWDF_DRIVER_GLOBALS, WDFFUNC, WDF_DRIVER_GLOBALS};
use wsksock_nt::sys::{DRIVER_OBJECT, UNICODE_STRING};

const MAGIC: u32 = u32::from_le_bytes(*b"WDFg");

/// One bound driver.
#[repr(C)]
pub struct Globals {
    /// What the driver's `WdfDriverGlobals` points at.
    public: UnsafeCell<WDF_DRIVER_GLOBALS>,
    magic: u32,
    /// The driver's WDM driver object.
    pub driver_object: *mut DRIVER_OBJECT,
    /// Its `WDFDRIVER`, once created.
    pub driver: AtomicPtr<Driver>,
    name: [u8; 32],
}

// SAFETY: 1. `public` is written only while the driver does not read it (invariant); the rest is
// immutable or atomic.
unsafe impl Sync for Globals {}
// SAFETY: 1. see `Sync`.
unsafe impl Send for Globals {}

impl Globals {
    /// The driver's name in reports.
    pub fn who(&self) -> Who<'_> {
        Who(&self.name)
    }

    /// The driver's view of its globals.
    ///
    /// # Safety
    /// Called while the driver does not read its globals (`WdfDriverCreate`, unload).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn public_mut(&self) -> &mut WDF_DRIVER_GLOBALS {
        // SAFETY: 1. no other reference exists at these times (caller contract, invariant).
        unsafe { &mut *self.public.get() }
    }

    /// The globals of the driver object `object`, if bound.
    pub fn of(object: *mut DRIVER_OBJECT) -> Option<NonNull<Globals>> {
        REGISTRY
            .lock()
            .iter()
            .map(|g| g.0)
            // SAFETY: 1. registered globals are live (invariant).
            .find(|g| unsafe { g.as_ref() }.driver_object == object)
    }
}

/// A registered `Globals`.
#[derive(Clone, Copy)]
struct Registered(NonNull<Globals>);
// SAFETY: 1. the globals are `Sync` and live while registered.
unsafe impl Send for Registered {}

static REGISTRY: SpinMutex<Vec<Registered>> = SpinMutex::const_new(
    <wsksock_nt::spin::RawSpinLock as lock_api::RawMutex>::INIT,
    Vec::new(),
);

/// The `Globals` behind a driver's `DriverGlobals` argument, checked.
///
/// # Safety
/// `g` is NULL or what `WdfVersionBind` returned (maybe unbound since).
pub unsafe fn globals<'a>(g: PWDF_DRIVER_GLOBALS, function: &str) -> &'a Globals {
    let Some(p) = NonNull::new(g.cast::<Globals>()) else {
        fatal(Who(b"?"), function, "NULL DriverGlobals");
    };
    let registered = REGISTRY.lock().iter().any(|r| r.0 == p);
    if !registered {
        fatal(Who(b"?"), function, "DriverGlobals of no bound driver");
    }
    // SAFETY: 1. registered, so live (invariant).
    let globals = unsafe { p.as_ref() };
    debug_assert_eq!(globals.magic, MAGIC);
    globals
}

/// The service name: the last component of the registry path, ASCII, NUL-padded.
fn service_name(path: &[u16]) -> [u8; 32] {
    let last = path.rsplit(|&c| c == u16::from(b'\\')).next().unwrap_or(&[]);
    let mut name = [0u8; 32];
    for (d, &c) in name.iter_mut().take(31).zip(last) {
        *d = u8::try_from(c).ok().filter(u8::is_ascii_graphic).unwrap_or(b'?');
    }
    name
}

/// `WdfVersionBind`: checks the bind information, points the driver's `WdfFunctions` at the
/// double's table and returns new driver globals.
///
/// # Safety
/// Called by a driver's stub with its driver object, registry path, bind information and the
/// address of its `WdfDriverGlobals`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn WdfVersionBind(
    driver_object: *mut DRIVER_OBJECT,
    registry: *mut UNICODE_STRING,
    bind: *mut WDF_BIND_INFO,
    globals_out: *mut PWDF_DRIVER_GLOBALS,
) -> NTSTATUS {
    // SAFETY: 1. the system's registry path, valid during the driver's entry.
    let name = service_name(unsafe { super::chars(registry) });
    let who = Who(&name);
    // SAFETY: 1. NULL or the stub's bind information.
    let Some(info) = (unsafe { bind.as_ref() }) else {
        verifier(who, "WdfVersionBind", "NULL bind information");
        return status::INVALID_PARAMETER;
    };
    if globals_out.is_null() || driver_object.is_null() {
        verifier(who, "WdfVersionBind", "NULL driver object or globals pointer");
        return status::INVALID_PARAMETER;
    }
    let component = if info.Component.is_null() {
        &[][..]
    } else {
        let unit = |i: usize| {
            // SAFETY: 1. a NUL-terminated UTF-16 string of the stub, read up to its NUL (at most
            // 64 units).
            let p = unsafe { info.Component.add(i) };
            // SAFETY: 1. as above.
            unsafe { p.read() }
        };
        let len = (0..64).take_while(|&i| unit(i) != 0).count();
        // SAFETY: 1. `len` units read above.
        unsafe { core::slice::from_raw_parts(info.Component, len) }
    };
    if let Err(v) = validate::bind_info(info, component) {
        verifier(who, "WdfVersionBind", v.why);
        return v.status;
    }
    let Some(globals) = try_box(Globals {
        public: UnsafeCell::new(WDF_DRIVER_GLOBALS {
            DriverName: name.map(u8::cast_signed),
            DriverTag: u32::from_le_bytes([name[0], name[1], name[2], name[3]]),
            ..WDF_DRIVER_GLOBALS::default()
        }),
        magic: MAGIC,
        driver_object,
        driver: AtomicPtr::new(core::ptr::null_mut()),
        name,
    }) else {
        return status::INSUFFICIENT_RESOURCES;
    };
    let mut registry_list = REGISTRY.lock();
    if registry_list.try_reserve(1).is_err() {
        return status::INSUFFICIENT_RESOURCES;
    }
    let globals = NonNull::from(Box::leak(globals));
    registry_list.push(Registered(globals));
    drop(registry_list);
    // SAFETY: 1. the stub's `FuncTable` points at its `WdfFunctions` pointer (checked non-NULL):
    // from KMDF 1.15 on the loader stores its table's address there.
    unsafe { info.FuncTable.cast::<*const WDFFUNC>().write(TABLE.0.as_ptr()) };
    // SAFETY: 1. the stub's `WdfDriverGlobals` slot (checked non-NULL); 2. `public` is the first
    // field of a `#[repr(C)]` struct, so its address is the globals'.
    unsafe { globals_out.write(globals.as_ptr().cast()) };
    note(
        Who(&name),
        format_args!(
            "bound to the WDF double (KMDF {}.{}, {} functions)",
            info.Version.Major, info.Version.Minor, info.FuncCount
        ),
    );
    status::SUCCESS
}

/// `WdfVersionUnbind`: frees the driver's globals (the framework deleted its objects before).
///
/// # Safety
/// Called by a driver's stub after its unload, with what the bind returned.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn WdfVersionUnbind(
    _registry: *mut UNICODE_STRING,
    _bind: *mut WDF_BIND_INFO,
    g: PWDF_DRIVER_GLOBALS,
) -> NTSTATUS {
    // SAFETY: 1. what the bind returned (caller contract), checked.
    let globals = unsafe { globals(g, "WdfVersionUnbind") };
    if !globals.driver.load(Ordering::Acquire).is_null() {
        verifier(
            globals.who(),
            "WdfVersionUnbind",
            "unbinding a driver whose WDFDRIVER was never deleted (no unload routine ran)",
        );
        return status::INVALID_DEVICE_STATE;
    }
    note(globals.who(), format_args!("unbound"));
    let p = NonNull::from(globals);
    REGISTRY.lock().retain(|r| r.0 != p);
    // SAFETY: 1. leaked by the bind, unregistered now: nobody reaches it any more.
    drop(unsafe { Box::from_raw(p.as_ptr()) });
    status::SUCCESS
}
