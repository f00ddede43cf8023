//! Safe, owned types over the NT bindings: what the provider and the front ends build on.
//!
//! Every type here owns its kernel object (pool block, MDL, timer, work item) and frees it in
//! `Drop`; raw pointers only cross into C through [`foreign::ForeignOwnable::into_foreign`], whose
//! matching `from_foreign` is documented at both ends.
//!
//! - [`platform`]: what the running kernel offers (Windows or Wine), found out in `DriverEntry`.
//! - [`outstanding`]: the count of callbacks the kernel may still run, and unload's wait for it.
//! - [`timer`], [`workitem`], [`event`], [`mdl`], [`address`]: the kernel objects themselves.
//! - [`faults`]: the kernel allocations (IRPs, MDLs, work items), counted by the test build's
//!   fault injector.
//!
//! # Memory
//! Nothing here allocates infallibly: pool through `try_box` / `Arc::try_new`, kernel objects
//! through [`faults`]; every type that needs memory is made by a constructor that can fail, and
//! used later by methods that cannot (docs/DRIVER.md, "Memory").

pub mod address;
pub mod event;
pub mod faults;
pub mod foreign;
pub mod mdl;
pub mod outstanding;
pub mod panic;
pub mod platform;
pub mod print;
#[cfg(feature = "alloc-faults")]
pub mod registry;
pub use wsksock_nt::spin;
pub mod timer;
pub mod workitem;

/// `Box::new` that gives the value back when there is no memory for it.
pub fn try_box<T>(x: T) -> Result<alloc::boxed::Box<T>, T> {
    match alloc::boxed::Box::try_new_uninit() {
        Ok(b) => Ok(alloc::boxed::Box::write(b, x)),
        Err(_) => Err(x),
    }
}

/// `Arc::new` that gives the value back when there is no memory for it (a value that must be
/// undone, not dropped, when it cannot be kept: a WSK registration).
pub fn try_arc<T>(x: T) -> Result<alloc::sync::Arc<T>, T> {
    let Ok(mut a) = alloc::sync::Arc::<T>::try_new_uninit() else {
        return Err(x);
    };
    let Some(slot) = alloc::sync::Arc::get_mut(&mut a) else {
        return Err(x);
    };
    slot.write(x);
    // SAFETY: 1. the value was written into the Arc's only reference just above.
    Ok(unsafe { a.assume_init() })
}

/// Pool tag `WskS` (shown reversed, `SksW`, by pool tools) of everything the driver allocates,
/// and of what the framework allocates for it (`WDF_DRIVER_CONFIG::DriverPoolTag`).
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"WskS");

/// The MSVC marker that floating point is used (core's formatting code references it). The
/// driver itself does no floating point; in the KMDF builds wdk-sys (or its stand-in) defines it.
#[cfg(not(kmdf_front))]
#[unsafe(no_mangle)]
#[used]
pub static _fltused: i32 = 0;
