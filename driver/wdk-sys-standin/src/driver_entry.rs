//! What `WdfDriverEntry.lib` does for a KMDF driver in the WDK build, done by us for the Linux
//! build (feature `driver-entry`).
//!
//! - `FxDriverEntry` is the image's entry point (`/ENTRY:FxDriverEntry`, as wdk-build sets it). It
//!   binds to the framework with `WdfVersionBind` from `WDFLDR.SYS`, naming the library
//!   (`KmdfLibrary`), the version (1.33) and the driver's function-table pointer, which the loader
//!   points at its table; the loader also returns the driver globals. Then it runs the driver's
//!   `DriverEntry`.
//! - If the driver created its `WDFDRIVER` and the framework asked for it
//!   (`WDF_DRIVER_GLOBALS::DisplaceDriverUnload`), the stub puts its own unload routine in front
//!   of the framework's: the framework's runs (the driver's `EvtDriverUnload`, then the
//!   framework deletes its objects), then the stub unbinds with `WdfVersionUnbind`.
//! - If `DriverEntry` fails, the framework's unload routine (if `WdfDriverCreate` installed one)
//!   deletes what was created, and the stub unbinds.
//!
//! It also defines the globals wdk-sys declares (`WdfFunctions_01033`, `WdfDriverGlobals`,
//! `WdfFunctionCount`), which the function-table macro reads.
//!
//! # Invariants
//! The globals are written only by `FxDriverEntry` before the driver's `DriverEntry` runs (the
//! system calls the entry point once, at PASSIVE_LEVEL, before any other code of the image) and
//! read-only afterwards, except `ORIGINAL_UNLOAD`, written once before `FxDriverEntry` returns and
//! read by the unload routine, which the system calls once, after every other callback.

use crate::ldr::{KMDF_LIBRARY, KMDF_VERSION, WDF_BIND_INFO};
use crate::types::{
    _WDFFUNCENUM, NTSTATUS, PDRIVER_OBJECT, PDRIVER_UNLOAD, PUNICODE_STRING, PWDF_DRIVER_GLOBALS, ULONG,
    UNICODE_STRING, WDFFUNC,
};
use core::ptr::{null, null_mut};

#[link(name = "WDFLDR.SYS", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    fn WdfVersionBind(
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PUNICODE_STRING,
        BindInfo: *mut WDF_BIND_INFO,
        ComponentGlobals: *mut PWDF_DRIVER_GLOBALS,
    ) -> NTSTATUS;
    fn WdfVersionUnbind(
        RegistryPath: PUNICODE_STRING,
        BindInfo: *mut WDF_BIND_INFO,
        ComponentGlobals: PWDF_DRIVER_GLOBALS,
    ) -> NTSTATUS;
}

unsafe extern "system" {
    /// The driver's own `DriverEntry` (the front end exports it under that name).
    fn DriverEntry(DriverObject: PDRIVER_OBJECT, RegistryPath: PUNICODE_STRING) -> NTSTATUS;
}

/// `WdfFunctions` of the headers: where the loader stores its table's address.
#[unsafe(export_name = "WdfFunctions_01033")]
static mut FUNCTIONS: *const WDFFUNC = null();
/// `WdfDriverGlobals`: the driver globals the loader returns, first argument of every call.
#[unsafe(export_name = "WdfDriverGlobals")]
static mut DRIVER_GLOBALS: PWDF_DRIVER_GLOBALS = null_mut();
/// `WdfFunctionCount`: the entries of the table the driver was built against.
#[unsafe(export_name = "WdfFunctionCount")]
static mut FUNCTION_COUNT: ULONG = _WDFFUNCENUM::WdfFunctionTableNumEntries.cast_unsigned();

static COMPONENT: [u16; KMDF_LIBRARY.len()] = KMDF_LIBRARY;

#[expect(clippy::cast_possible_truncation, reason = "48 bytes")]
const BIND_INFO_SIZE: ULONG = size_of::<WDF_BIND_INFO>() as ULONG;

/// The bind information, kept for `WdfVersionUnbind`.
static mut BIND_INFO: WDF_BIND_INFO = WDF_BIND_INFO {
    Size: BIND_INFO_SIZE,
    Component: COMPONENT.as_ptr().cast_mut(),
    Version: KMDF_VERSION,
    FuncCount: _WDFFUNCENUM::WdfFunctionTableNumEntries.cast_unsigned(),
    FuncTable: (&raw mut FUNCTIONS).cast(),
    Module: null_mut(),
};

/// A copy of the registry path for `WdfVersionUnbind` (the system's buffer is only valid during
/// `DriverEntry`); longer paths are cut (the loader uses it to name the service).
const REGISTRY_CHARS: usize = 256;
static mut REGISTRY_BUFFER: [u16; REGISTRY_CHARS] = [0; REGISTRY_CHARS];
static mut REGISTRY: UNICODE_STRING = UNICODE_STRING {
    Length: 0,
    MaximumLength: 0,
    Buffer: null_mut(),
};

/// The framework's unload routine, which the stub's runs first.
static mut ORIGINAL_UNLOAD: PDRIVER_UNLOAD = None;

/// Copies the registry path into `REGISTRY`.
///
/// # Safety
/// `registry` is null or a valid `UNICODE_STRING`; called from `FxDriverEntry` only (invariant).
unsafe fn keep_registry_path(registry: PUNICODE_STRING) {
    // SAFETY: 1. null or valid (caller contract).
    let Some(src) = (unsafe { registry.as_ref() }) else {
        return;
    };
    let chars = (usize::from(src.Length) / 2).min(REGISTRY_CHARS);
    if src.Buffer.is_null() || chars == 0 {
        return;
    }
    let buffer = (&raw mut REGISTRY_BUFFER).cast::<u16>();
    // SAFETY: 1. the source holds `Length` bytes >= `chars` UTF-16 units; 2. the static buffer
    // holds `REGISTRY_CHARS` >= `chars`; 3. they do not overlap (ours is a static of this image).
    unsafe { core::ptr::copy_nonoverlapping(src.Buffer, buffer, chars) };
    let bytes = u16::try_from(chars * 2).unwrap_or(0);
    // SAFETY: 1. only `FxDriverEntry` writes `REGISTRY`, before anything reads it (invariant).
    unsafe {
        REGISTRY = UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: buffer,
        };
    }
}

/// Unbinds from the framework.
///
/// # Safety
/// Called once, after a successful bind, when no code of the driver runs any more.
unsafe fn unbind() {
    // SAFETY: 1. the globals were set by the bind and are read-only now (invariant).
    let globals = unsafe { DRIVER_GLOBALS };
    let (registry, bind_info) = (&raw mut REGISTRY, &raw mut BIND_INFO);
    // SAFETY: 1. the same bind information and globals the bind used; the registry copy is ours.
    let st = unsafe { WdfVersionUnbind(registry, bind_info, globals) };
    let _ = st;
}

/// The stub's unload routine: the framework's first, then unbind.
unsafe extern "C" fn stub_unload(driver: PDRIVER_OBJECT) {
    // SAFETY: 1. written once before `FxDriverEntry` returned (invariant).
    if let Some(original) = unsafe { ORIGINAL_UNLOAD } {
        // SAFETY: 1. the framework's unload routine, called once with the system's driver object.
        unsafe { original(driver) };
    }
    // SAFETY: 1. the system calls the unload routine last and once.
    unsafe { unbind() };
}

/// The image's entry point (`/ENTRY:FxDriverEntry`).
///
/// # Safety
/// Called once by the system with its driver object and registry path, at PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FxDriverEntry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: 1. the system's registry path for this call.
    unsafe { keep_registry_path(registry) };
    let (bind_info, globals_slot) = (&raw mut BIND_INFO, &raw mut DRIVER_GLOBALS);
    // SAFETY: 1. the system's arguments; 2. the bind information and the globals' slot are
    // statics of this image, written by the loader before it returns (invariant: nothing else
    // runs yet).
    let st = unsafe { WdfVersionBind(driver, registry, bind_info, globals_slot) };
    if st < 0 {
        return st;
    }
    // SAFETY: 1. bound: the driver's entry may call through the function table now.
    let st = unsafe { DriverEntry(driver, registry) };
    // SAFETY: 1. the system's driver object, ours to read and write during the entry point.
    let object = unsafe { &mut *driver };
    // SAFETY: 1. set by the bind, read-only now (invariant).
    let globals = unsafe { DRIVER_GLOBALS };
    // SAFETY: 1. null or the loader's globals, valid while bound.
    let globals = unsafe { globals.as_ref() };
    let displace = globals.is_some_and(|g| g.DisplaceDriverUnload != 0) && object.DriverUnload.is_some();
    if st < 0 {
        if displace {
            if let Some(framework_unload) = object.DriverUnload {
                // SAFETY: 1. the framework's unload routine deletes what `WdfDriverCreate`
                // created; the driver's code no longer runs after its failed entry.
                unsafe { framework_unload(driver) };
            }
        }
        // SAFETY: 1. bound above; nothing of the driver runs any more.
        unsafe { unbind() };
        return st;
    }
    if displace {
        // SAFETY: 1. written here, once, before the system can call the unload routine.
        unsafe { ORIGINAL_UNLOAD = object.DriverUnload };
        object.DriverUnload = Some(stub_unload);
    }
    st
}
