//! The loader interface between a KMDF driver's stub library and `WDFLDR.SYS`: the bind
//! information the stub hands to `WdfVersionBind`, and the two exports' signatures.
//!
//! Not part of wdk-sys (the framework keeps these in a private header, `fxldr.h`); declared here
//! from its facts for the two sides this project builds: the entry stub
//! (`crate::driver_entry`, Windows only) and the WDF test double that Wine loads as `WDFLDR.SYS`
//! (`tests/wdf-double`).

use crate::types::{PDRIVER_OBJECT, PUNICODE_STRING, PVOID, PWCHAR, PWDF_DRIVER_GLOBALS, ULONG, WDFFUNC};

/// The framework version a driver binds to (`WDF_VERSION`).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct WDF_VERSION {
    pub Major: ULONG,
    pub Minor: ULONG,
    pub Build: ULONG,
}

/// What the stub passes to `WdfVersionBind` and, at unload, to `WdfVersionUnbind`
/// (`WDF_BIND_INFO`, the version-1 layout).
///
/// `FuncTable` points at the driver's `WdfFunctions` pointer: for KMDF 1.15 and later the loader
/// stores the address of its table there (it no longer copies the table).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct WDF_BIND_INFO {
    pub Size: ULONG,
    pub Component: PWCHAR,
    pub Version: WDF_VERSION,
    pub FuncCount: ULONG,
    pub FuncTable: *mut WDFFUNC,
    pub Module: PVOID,
}
pub type PWDF_BIND_INFO = *mut WDF_BIND_INFO;

/// The component name of the kernel-mode framework library, NUL-terminated UTF-16.
pub const KMDF_LIBRARY: [u16; 12] = {
    let s = b"KmdfLibrary\0";
    let mut w = [0u16; 12];
    let mut i = 0;
    while i < s.len() {
        w[i] = s[i] as u16;
        i += 1;
    }
    w
};

/// The KMDF version this build targets (1.33, as `[package.metadata.wdk.driver-model]` says).
pub const KMDF_VERSION: WDF_VERSION = WDF_VERSION {
    Major: 1,
    Minor: 33,
    Build: 0,
};

/// `WdfVersionBind(DriverObject, RegistryPath, BindInfo, ComponentGlobals)`.
pub type PFN_WDF_VERSION_BIND = unsafe extern "system" fn(
    DriverObject: PDRIVER_OBJECT,
    RegistryPath: PUNICODE_STRING,
    BindInfo: PWDF_BIND_INFO,
    ComponentGlobals: *mut PWDF_DRIVER_GLOBALS,
) -> crate::types::NTSTATUS;

/// `WdfVersionUnbind(RegistryPath, BindInfo, ComponentGlobals)`.
pub type PFN_WDF_VERSION_UNBIND = unsafe extern "system" fn(
    RegistryPath: PUNICODE_STRING,
    BindInfo: PWDF_BIND_INFO,
    ComponentGlobals: PWDF_DRIVER_GLOBALS,
) -> crate::types::NTSTATUS;
