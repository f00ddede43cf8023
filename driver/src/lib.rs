//! `wsksock.sys`: the Windows side of wsksock.
//!
//! # Layers (bottom up)
//! - [`sys`] (crate `wsksock-nt`, shared with the WDF test double): raw `#[repr(C)]` NT and WSK
//!   declarations with C names, x64 layout assertions, and `raw-dylib` imports from
//!   `ntoskrnl.exe` and `netio.sys`. The only module that knows offsets.
//! - [`logic`]: the driver's pure logic (cancel/complete race, buffers, addresses, options),
//!   no `unsafe`, unit-tested on the host.
//! - [`status`]: NTSTATUS values, all from the ABI's table.
//! - `kernel` (Windows only): safe owned types over the bindings — the one typed owner of
//!   pointers handed to the kernel (`foreign`), what the running kernel offers (`platform`),
//!   pool allocator and spin lock (from `wsksock-nt`), timers (KTIMER + KDPC), events, MDLs,
//!   work items, the outstanding-callback count, the panic handler, `kprint!` (DbgPrint).
//! - `irp` (Windows only): the IRP plumbing — the IRPs the driver sends to WSK (one owned
//!   completion context each) and the client IRPs it serves (the engine's
//!   [`wsksock_core::Request`] over an IRP).
//! - `wsk` (Windows only): the engine's [`wsksock_core::Provider`] over Winsock Kernel: the
//!   registration, sockets, address-info lists, every operation.
//! - `front` (Windows only): the two front ends — WDM (`cargo xtask cross`; loads under Wine)
//!   and KMDF (the product).
//!
//! On a non-Windows host only `sys` (types and layout checks) and `logic` are built, so
//! `cargo test --workspace` checks them without any Windows toolchain.
//!
//! # Builds, and the edge between them
//! | build | features | `wdk_sys` | allocator | entry point |
//! |---|---|---|---|---|
//! | KMDF, WDK (the product) | `kmdf` | wdk-sys (bindgen over the WDK) | wdk-alloc | `FxDriverEntry` of WdfDriverEntry.lib |
//! | KMDF, Linux | `kmdf-standin` | `wsksock-wdk-sys-standin` | `wsksock_nt::pool` | `FxDriverEntry` of the stand-in |
//! | WDM, Linux | none | — | `wsksock_nt::pool` | `front::wdm::DriverEntry` |
//!
//! The test build adds feature `alloc-faults` to either Linux build: the allocator gets the fault
//! injector `wsksock_nt::faults::FailNth` in front, and `DriverEntry` reads which allocation to
//! fail from the service key (docs/DRIVER.md, "Memory").
//!
//! The two KMDF builds compile the same `front/kmdf.rs` (`cfg(kmdf_front)`, set by `build.rs`);
//! what differs is chosen here, at the crate root, and nowhere in the front end.
#![cfg_attr(windows, no_std)]
#![cfg_attr(not(windows), allow(dead_code))]
// `Box::try_new`, `Arc::try_new`: allocations that fail as statuses (docs/DRIVER.md, "Memory").
#![cfg_attr(windows, feature(allocator_api))]

extern crate alloc;

// The Linux KMDF build: the stand-in is this crate's `wdk_sys` (an `extern crate … as` at the root
// puts the name in the extern prelude, where the front end's `use wdk_sys::…` and the
// function-table macro's `wdk_sys::…` paths look).
#[cfg(feature = "kmdf-standin")]
extern crate wdk_sys_standin as wdk_sys;

/// The WDK build allocates with wdk-alloc (`ExAllocatePool2`).
#[cfg(all(windows, feature = "kmdf"))]
#[global_allocator]
static GLOBAL: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

/// The Linux builds allocate with `ExAllocatePoolWithTag`, which Wine 8 has.
#[cfg(all(windows, not(feature = "kmdf"), not(feature = "alloc-faults")))]
#[global_allocator]
static GLOBAL: wsksock_nt::pool::PoolAllocator<{ kernel::POOL_TAG }> = wsksock_nt::pool::PoolAllocator;

/// The test build (feature `alloc-faults`): the same pool, with the fault injector in front; the
/// driver's kernel allocations count there too (`kernel::faults`).
#[cfg(all(windows, not(feature = "kmdf"), feature = "alloc-faults"))]
#[global_allocator]
static GLOBAL: wsksock_nt::faults::FailNth<wsksock_nt::pool::PoolAllocator<{ kernel::POOL_TAG }>> =
    wsksock_nt::faults::FailNth::new(wsksock_nt::pool::PoolAllocator);

pub mod logic;
pub mod status;
pub use wsksock_nt::sys;

#[cfg(windows)]
mod front;
#[cfg(windows)]
mod irp;
#[cfg(windows)]
mod kernel;
#[cfg(windows)]
mod wsk;
