//! Raw NT and WSK declarations: C names, `#[repr(C)]`, x64 layouts checked at compile time.
//!
//! This is the only module that knows field offsets or calls kernel exports directly. Everything
//! above it (the driver's `kernel`, `wsk`, `front`; the WDF test double) goes through the typed structs and the few inline helpers
//! in `inline` (Windows only), which re-implement the WDK's header macros (`IoGetCurrentIrpStackLocation`,
//! `IoSetCompletionRoutine`, `IoSetCancelRoutine`, `MmGetSystemAddressForMdlSafe`, ...).
//!
//! Layout values come from the WDK headers (`wdm.h`, `wsk.h`) for x64 and are cross-checked
//! against mingw-w64's ddk headers and Wine's `include/ddk` (see docs/DRIVER.md). The structs
//! compile on every target so the host build checks the assertions too; the imports exist only
//! for Windows targets.
#![allow(
    non_snake_case,
    non_camel_case_types,
    non_upper_case_globals,
    dead_code,
    clippy::upper_case_acronyms,
    clippy::cast_possible_wrap,
    clippy::pub_underscore_fields,
    clippy::wildcard_imports
)]

pub mod nt;
pub mod wsk;

#[cfg(windows)]
pub mod imports;
#[cfg(windows)]
pub mod inline;

pub use nt::*;
pub use wsk::*;
