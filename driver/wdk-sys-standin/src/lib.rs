//! The Linux KMDF build's stand-in for what the WDK gives a KMDF driver — and only that build's.
//!
//! `wdk-sys` cannot be built on Linux (its build script needs `wdk-build`, which does not compile
//! there, and bindgen over the WDK's headers, which cannot be installed there). So
//! `cargo xtask cross --kmdf` builds `wsksock-driver` with feature `kmdf-standin`, and the driver's
//! crate root names this crate `wdk_sys`: the front end (`driver/src/front/kmdf.rs`) compiles
//! unchanged against either. This crate provides:
//!
//! - [`types`]: exactly the `wdk-sys` 0.5 items the front end uses, with the paths, names and
//!   types bindgen generates from the KMDF 1.33 headers for x64 (`layout.rs` asserts every size
//!   and offset; docs/DRIVER.md says how each was checked);
//! - [`call_unsafe_wdf_function_binding!`]: the same `wdk-macros` proc macro wdk-sys forwards to,
//!   reading `src/types.rs` instead of bindgen's output — same call syntax, same expansion, same
//!   function-table indices;
//! - [`WDF_NO_HANDLE`] and the other constants wdk-sys defines by hand;
//! - [`ldr`]: the loader's bind structures (not part of wdk-sys: they are private to the
//!   framework and its stub library);
//! - with feature `driver-entry` (Windows targets), `driver_entry`: what `WdfDriverEntry.lib` does — the image's
//!   entry point `FxDriverEntry` binds to the framework with `WdfVersionBind` from `WDFLDR.SYS`,
//!   runs the driver's `DriverEntry`, and unbinds after the driver's unload routine.
//!
//! The allocator, the third thing the Linux build substitutes (`wdk-alloc` allocates with
//! `ExAllocatePool2`, which Wine 8 lacks), is the driver's own pool allocator, chosen at the
//! driver's crate root.
#![no_std]
#![allow(
    non_snake_case,
    non_camel_case_types,
    non_upper_case_globals,
    missing_docs,
    clippy::upper_case_acronyms,
    clippy::pub_underscore_fields,
    clippy::unreadable_literal
)]

#[doc(hidden)]
pub use wdk_macros as __proc_macros;

#[doc(hidden)]
pub mod layout;
pub mod ldr;
pub mod types;

#[cfg(all(windows, feature = "driver-entry"))]
pub mod driver_entry;

pub use types::*;

include!(concat!(env!("OUT_DIR"), "/call_unsafe_wdf_function_binding.rs"));

/// What wdk-sys defines by hand next to the generated code (its `constants.rs`).
pub const WDF_NO_OBJECT_ATTRIBUTES: PWDF_OBJECT_ATTRIBUTES = core::ptr::null_mut();
/// See [`WDF_NO_OBJECT_ATTRIBUTES`].
pub const WDF_NO_EVENT_CALLBACK: PVOID = core::ptr::null_mut();
/// See [`WDF_NO_OBJECT_ATTRIBUTES`].
pub const WDF_NO_HANDLE: PVOID = core::ptr::null_mut();
/// See [`WDF_NO_OBJECT_ATTRIBUTES`].
pub const WDF_NO_CONTEXT: PVOID = core::ptr::null_mut();

/// wdk-sys' `wdf::__private`: the size of the function table the macro indexes (KMDF 1.25+ read
/// `WdfFunctionCount`, which the stub library sets).
pub mod wdf {
    #[doc(hidden)]
    pub mod __private {
        /// The number of entries of `WdfFunctions`.
        #[must_use]
        pub fn get_wdf_function_count() -> usize {
            // SAFETY: 1. `WdfFunctionCount` is a plain `u32` the entry stub writes once, before
            // `DriverEntry` runs, and never again: reading it by value races with nothing.
            (unsafe { crate::WdfFunctionCount }) as usize
        }
    }
}

/// bindgen implements `Default` as all-zero bytes for types that hold raw pointers or unions
/// (which cannot derive it); so does the stand-in.
macro_rules! zeroed_default {
    ($($t:ty),* $(,)?) => {$(
        impl Default for $t {
            fn default() -> Self {
                let s = core::mem::MaybeUninit::<Self>::zeroed();
                // SAFETY: 1. every field of this `#[repr(C)]` type (integers, raw pointers,
                // `Option` of function pointers, unions of those) is valid as all-zero bytes:
                // null, 0 or `None`.
                unsafe { s.assume_init() }
            }
        }
    )*};
}

zeroed_default!(
    _UNICODE_STRING,
    _DRIVER_OBJECT,
    _WDF_DRIVER_GLOBALS,
    _WDF_OBJECT_CONTEXT_TYPE_INFO,
    _WDF_OBJECT_ATTRIBUTES,
    _WDF_IO_QUEUE_CONFIG__bindgen_ty_1,
    _WDF_IO_QUEUE_CONFIG,
);

/// The MSVC marker symbol for floating-point use, which wdk-sys defines (core's formatting code
/// references it; the driver does no floating point).
#[cfg(windows)]
#[unsafe(no_mangle)]
#[used]
pub static _fltused: i32 = 0;
