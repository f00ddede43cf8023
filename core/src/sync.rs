//! The one place atomics, `Arc` and locks come from, so loom can model-check the engine.
//!
//! Under `cfg(loom)` these are loom's types; otherwise the standard ones. The engine's locks are
//! `lock_api::Mutex<P::RawLock, T>` built from a raw lock the platform hands out
//! ([`crate::Provider::new_raw_lock`]): a kernel spin lock in the driver, a host mutex in the
//! emulator, a loom-visible spin lock in the models. `cargo xtask lint` (`check_sync_shim` in
//! `xtask/src/main.rs`) fails on any other source of them in `core/src` — clippy's
//! `disallowed-types` cannot tell a re-export from a bypass.
//!
//! No lock of the engine is ever held across a provider call or a request completion: a provider
//! may complete an operation synchronously, and that completion takes the same locks again.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::Arc;

#[cfg(not(loom))]
pub use alloc::sync::Arc;
#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A shared reference that can be a trait object: what a completion, a cancel token or a timer
/// callback holds to reach its socket or client without an allocation of its own (`Arc<dyn ...>`
/// from a clone of the object's `Arc`). Under loom a box of the loom `Arc` instead: loom's `Arc`
/// cannot become a trait object, and the models do not count allocations.
#[cfg(not(loom))]
pub type DynArc<T> = Arc<T>;
/// See the non-loom definition.
#[cfg(loom)]
pub type DynArc<T> = alloc::boxed::Box<T>;

/// A new reference to `a`'s object that coerces to a [`DynArc`] of a trait the object implements
/// (no allocation outside loom).
#[cfg(not(loom))]
pub fn share<T>(a: &Arc<T>) -> Arc<T> {
    a.clone()
}

/// See the non-loom definition (under loom: a box of the `Arc`, which implements the trait too).
#[cfg(loom)]
#[allow(clippy::disallowed_methods)] // loom only: the models do not inject allocation failures
pub fn share<T>(a: &Arc<T>) -> alloc::boxed::Box<Arc<T>> {
    alloc::boxed::Box::new(a.clone())
}

/// A mutex over the platform's raw lock.
pub type Mutex<L, T> = lock_api::Mutex<L, T>;
/// Its guard.
pub type MutexGuard<'a, L, T> = lock_api::MutexGuard<'a, L, T>;
