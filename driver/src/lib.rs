//! `wsksock.sys`: the Windows side of wsksock.
//!
//! # Layers (bottom up)
//! - [`sys`]: raw `#[repr(C)]` NT and WSK declarations with C names, x64 layout assertions, and
//!   `raw-dylib` imports from `ntoskrnl.exe` and `netio.sys`. The only module that knows offsets.
//! - [`logic`]: the driver's pure logic (cancel/complete race, buffers, addresses, options),
//!   no `unsafe`, unit-tested on the host.
//! - `kernel` (Windows only): safe owned types over the bindings — pool allocator, spin lock,
//!   timers (KTIMER + KDPC), events, MDLs, work items, the panic handler, `DbgPrint`.
//! - `wsk` (Windows only): the engine's [`wsksock_core::Provider`] over Winsock Kernel: the
//!   registration and one owned completion context per WSK IRP.
//! - `front` (Windows only): the engine's [`wsksock_core::Request`] over an IRP, and the two
//!   front ends — WDM (`DriverEntry` of the Linux cross build, loads under Wine) and KMDF (feature
//!   `kmdf`, needs the WDK).
//!
//! On a non-Windows host only `sys` (types and layout checks) and `logic` are built, so
//! `cargo test --workspace` checks them without any Windows toolchain.
#![cfg_attr(windows, no_std)]
#![cfg_attr(not(windows), allow(dead_code))]

extern crate alloc;

pub mod logic;
#[allow(missing_docs)]
pub mod sys;

#[cfg(windows)]
mod front;
#[cfg(windows)]
mod kernel;
#[cfg(windows)]
mod wsk;
