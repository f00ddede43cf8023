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

/// A mutex over the platform's raw lock.
pub type Mutex<L, T> = lock_api::Mutex<L, T>;
/// Its guard.
pub type MutexGuard<'a, L, T> = lock_api::MutexGuard<'a, L, T>;
