//! The NT layer shared by `wsksock.sys` and the WDF test double (`tests/wdf-double`), which Wine
//! loads as `WDFLDR.SYS`: two kernel images that need the same bindings.
//!
//! - [`sys`]: raw `#[repr(C)]` NT and WSK declarations with C names, x64 layout assertions, and
//!   `raw-dylib` imports from `ntoskrnl.exe` and `netio.sys`. The only module that knows offsets.
//! - [`sddl`]: the subset of SDDL device security strings use, parsed (pure, host-tested).
//! - [`faults`]: the allocation fault injector of the driver's test build (host-tested).
//! - Windows only, owned types over them: `pool` (the non-paged pool allocator), `spin` (a
//!   kernel spin lock as `lock_api::RawMutex`), [`print`] (one `DbgPrint` line with Rust
//!   formatting), `security` (a parsed DACL applied to a device object).
//!
//! On a non-Windows host only `sys`'s declarations are built, so `cargo test --workspace` checks
//! their layouts without a Windows toolchain.
#![cfg_attr(windows, no_std)]

pub mod faults;
pub mod sddl;
#[allow(missing_docs)]
pub mod sys;

#[cfg(windows)]
pub mod pool;
#[cfg(windows)]
pub mod print;
#[cfg(windows)]
pub mod security;
#[cfg(windows)]
pub mod spin;
