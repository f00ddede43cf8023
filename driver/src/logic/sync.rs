//! The atomics of the driver's pure logic, from one place so loom can model-check them
//! (`driver/tests/loom.rs`, run by `cargo xtask loom`): loom's under `cfg(loom)`, core's
//! otherwise. `cargo xtask lint` fails on any other source of atomics in `driver/src/logic`.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};
