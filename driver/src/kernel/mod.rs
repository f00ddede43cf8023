//! Safe, owned types over the NT bindings: what the provider and the front ends build on.
//!
//! Every type here owns its kernel object (pool block, MDL, timer, work item) and frees it in
//! `Drop`; raw pointers only cross into C through [`foreign::ForeignOwnable::into_foreign`], whose
//! matching `from_foreign` is documented at both ends.
//!
//! - [`platform`]: what the running kernel offers (Windows or Wine), found out in `DriverEntry`.
//! - [`outstanding`]: the count of callbacks the kernel may still run, and unload's wait for it.
//! - [`timer`], [`workitem`], [`event`], [`mdl`], [`address`]: the kernel objects themselves.

pub mod address;
pub mod event;
pub mod foreign;
pub mod mdl;
pub mod outstanding;
pub mod panic;
pub mod platform;
pub mod print;
pub use wsksock_nt::spin;
pub mod timer;
pub mod workitem;

/// Pool tag `WskS` (shown reversed, `SksW`, by pool tools) of everything the driver allocates,
/// and of what the framework allocates for it (`WDF_DRIVER_CONFIG::DriverPoolTag`).
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"WskS");

/// The MSVC marker that floating point is used (core's formatting code references it). The
/// driver itself does no floating point; in the KMDF builds wdk-sys (or its stand-in) defines it.
#[cfg(not(kmdf_front))]
#[unsafe(no_mangle)]
#[used]
pub static _fltused: i32 = 0;
