//! Compile-time checks of every stand-in layout against the x64 values of the KMDF 1.33 and WDM
//! headers, in every build of this crate (the host build of `cargo test --workspace` and the
//! Windows cross build); and the same layouts as data ([`LAYOUTS`]), which
//! `tests/kmdf_headers.rs` turns into C assertions compiled against the real headers
//! (docs/DRIVER.md, "The wdk-sys stand-in").

use crate::ldr::{WDF_BIND_INFO, WDF_VERSION};
#[allow(
    clippy::wildcard_imports,
    reason = "every type of the stand-in is checked here"
)]
use crate::types::*;
use core::mem::{offset_of, size_of};

/// One structure's layout as this crate compiles it: C name, size, fields and their offsets.
pub struct Layout {
    /// The C type name.
    pub name: &'static str,
    /// `size_of`.
    pub size: usize,
    /// `(field, offset_of)`.
    pub fields: &'static [(&'static str, usize)],
}

macro_rules! check {
    ($($t:ident, size $size:expr $(, $field:ident @ $off:expr)* ;)*) => {
        $(
            const _: () = assert!(size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
            $(const _: () = assert!(
                offset_of!($t, $field) == $off,
                concat!("offset of ", stringify!($t), ".", stringify!($field))
            );)*
        )*
        /// Every layout checked above, as compiled.
        pub const LAYOUTS: &[Layout] = &[$(Layout {
            name: stringify!($t),
            size: size_of::<$t>(),
            fields: &[$((stringify!($field), offset_of!($t, $field))),*],
        }),*];
    };
}

check! {
    UNICODE_STRING, size 16, Length @ 0, MaximumLength @ 2, Buffer @ 8;
    DRIVER_OBJECT, size 0x150, Type @ 0, Size @ 2, DeviceObject @ 8, Flags @ 0x10, DriverStart @ 0x18, DriverSize @ 0x20, DriverSection @ 0x28, DriverExtension @ 0x30, DriverName @ 0x38, HardwareDatabase @ 0x48, FastIoDispatch @ 0x50, DriverInit @ 0x58, DriverStartIo @ 0x60, DriverUnload @ 0x68, MajorFunction @ 0x70;
    WDF_DRIVER_GLOBALS, size 56, Driver @ 0, DriverFlags @ 8, DriverTag @ 12, DriverName @ 16, DisplaceDriverUnload @ 48;
    WDF_DRIVER_CONFIG, size 32, Size @ 0, EvtDriverDeviceAdd @ 8, EvtDriverUnload @ 16, DriverInitFlags @ 24, DriverPoolTag @ 28;
    WDF_OBJECT_CONTEXT_TYPE_INFO, size 40, Size @ 0, ContextName @ 8, ContextSize @ 16, UniqueType @ 24, EvtDriverGetUniqueContextType @ 32;
    WDF_OBJECT_ATTRIBUTES, size 56, Size @ 0, EvtCleanupCallback @ 8, EvtDestroyCallback @ 16, ExecutionLevel @ 24, SynchronizationScope @ 28, ParentObject @ 32, ContextSizeOverride @ 40, ContextTypeInfo @ 48;
    WDF_FILEOBJECT_CONFIG, size 40, Size @ 0, EvtDeviceFileCreate @ 8, EvtFileClose @ 16, EvtFileCleanup @ 24, AutoForwardCleanupClose @ 32, FileObjectClass @ 36;
    _WDF_IO_QUEUE_CONFIG__bindgen_ty_1, size 4;
    WDF_IO_QUEUE_CONFIG, size 96, Size @ 0, DispatchType @ 4, PowerManaged @ 8, AllowZeroLengthRequests @ 12, DefaultQueue @ 13, EvtIoDefault @ 16, EvtIoRead @ 24, EvtIoWrite @ 32, EvtIoDeviceControl @ 40, EvtIoInternalDeviceControl @ 48, EvtIoStop @ 56, EvtIoResume @ 64, EvtIoCanceledOnQueue @ 72, Settings @ 80, Driver @ 88;
    WDF_VERSION, size 12, Major @ 0, Minor @ 4, Build @ 8;
    WDF_BIND_INFO, size 48, Size @ 0, Component @ 8, Version @ 16, FuncCount @ 28, FuncTable @ 32, Module @ 40;
}

// Handles are one pointer; enums are `int` (MSVC); the table entry is one pointer.
const _: () = assert!(size_of::<WDFREQUEST>() == 8 && size_of::<WDFOBJECT>() == 8);
const _: () = assert!(size_of::<WDF_TRI_STATE>() == 4 && size_of::<WDF_FILEOBJECT_CLASS>() == 4);
const _: () = assert!(size_of::<WDFFUNC>() == 8 && size_of::<PFN_WDFDRIVERCREATE>() == 8);
const _: () = assert!(_WDF_FILEOBJECT_CLASS::WdfFileObjectCanBeOptional.cast_unsigned() == 0x8000_0000);
