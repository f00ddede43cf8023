//! The double's Windows side: framework objects over WDM ones, the IRP dispatch, the loader's
//! exports and the function table.
//!
//! # Objects and handles
//! Every framework object is a `#[repr(C)]` struct starting with an [`object::Header`]; its
//! handle is its address. Handles are checked on every call (NULL, wrong kind, deleted: the
//! framework's `WDF_VIOLATION` bug check). Objects are freed when deleted (devices, file objects)
//! or when their last reference goes (requests: the driver's until completion, and the cancel
//! routine's while it may run).
//!
//! # Lock order
//! `loader::REGISTRY` → a device's `files` → a queue's presenter → a request's state. No lock is
//! held while calling the driver, `IoCompleteRequest`, or the kernel's object functions.

pub mod device;
pub mod dispatch;
pub mod driver;
pub mod file;
pub mod loader;
pub mod object;
pub mod object_api;
pub mod queue;
pub mod report;
pub mod request;
pub mod table;

use wsksock_nt::pool::PoolAllocator;
use wsksock_nt::sys::imports::KeBugCheckEx;
use wsksock_nt::sys::{NTSTATUS, UNICODE_STRING};

/// Pool tag of the double's allocations: `WdfD`.
const POOL_TAG: u32 = u32::from_le_bytes(*b"WdfD");

#[global_allocator]
static GLOBAL: PoolAllocator<POOL_TAG> = PoolAllocator;

/// `WDF_VIOLATION`: the framework's bug check for a misuse it cannot survive.
pub const WDF_VIOLATION: u32 = 0x10D;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    report::line(format_args!("WDF DOUBLE: panic: {info}"));
    // SAFETY: 1. KeBugCheckEx may be called at any IRQL; 2. it does not return.
    unsafe { KeBugCheckEx(WDF_VIOLATION, 0xDEAD, 0, 0, 0) }
}

/// The image's entry point. Loaded as an import, the double's entry does not run (Wine does not
/// call it, nor `DllInitialize`): all state is created by `WdfVersionBind`. Started as a service
/// of its own it has nothing to do.
///
/// # Safety
/// Called by the system, if at all, with its driver object.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(_driver: *mut c_void, _registry: *mut c_void) -> NTSTATUS {
    0
}

use core::ffi::c_void;

/// A `UNICODE_STRING`'s characters (empty for NULL or an empty buffer).
///
/// # Safety
/// `s` is NULL or a valid `UNICODE_STRING` whose buffer outlives `'a`.
pub unsafe fn chars<'a>(s: *const UNICODE_STRING) -> &'a [u16] {
    // SAFETY: 1. NULL or valid (caller contract).
    let Some(s) = (unsafe { s.as_ref() }) else {
        return &[];
    };
    if s.Buffer.is_null() || s.Length == 0 {
        return &[];
    }
    // SAFETY: 1. `Length` bytes of UTF-16 at `Buffer` (caller contract).
    unsafe { core::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) }
}

/// A `UNICODE_STRING` over `chars` (which must outlive its use).
pub fn unicode(chars: &[u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(chars.len() * 2).unwrap_or(0xFFFE);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: chars.as_ptr().cast_mut(),
    }
}
