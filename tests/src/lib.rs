//! Shared support of the end-to-end suites (see `tests/tests/e2e_*.rs`).
//!
//! - [`rig`]: the engine over a fresh emulator of one profile, with a watchdog; every test ends
//!   with [`rig::Rig::finish`] — unload reported idle, no socket left, WSK checker clean.
//! - [`wire`]: loopback peers on real sockets that observe what the engine put on the wire
//!   (pattern integrity, FIN vs RST, silence) under the test's control.
//! - [`ops`]: small helpers over [`wsksock_tools::Client`] for data and close.
//! - [`cli`]: runs the built `wsksock` binary with a timeout.
//! - [`fastpattern`]: the test payload, generated and checked fast in unoptimised builds.

pub mod cli;
pub mod fastpattern;
pub mod ops;
pub mod rig;
pub mod wire;

pub use rig::{run, run_deferred, run_with, Rig};
pub use wsksock_abi::{Handle, NtStatus};
pub use wsksock_emu::Profile;
pub use wsksock_tools::peer::{End, Report};
pub use wsksock_tools::{Client, CloseMode, Pending};

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;
