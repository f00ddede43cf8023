//! Safe, owned types over the NT bindings: what the provider and the front ends build on.
//!
//! Every type here owns its kernel object (pool block, MDL, timer, work item) and frees it in
//! `Drop`; raw pointers only cross into C through `into_foreign`-style calls whose matching
//! `from_foreign` is documented at both ends.

pub mod event;
pub mod mdl;
pub mod outstanding;
pub mod panic;
pub mod pool;
pub mod print;
pub mod spin;
pub mod timer;
pub mod workitem;

/// The MSVC marker that floating point is used (core's formatting code references it). The
/// driver itself does no floating point; with the `kmdf` feature `wdk-sys` defines it.
#[cfg(not(feature = "kmdf"))]
#[unsafe(no_mangle)]
#[used]
pub static _fltused: i32 = 0;
