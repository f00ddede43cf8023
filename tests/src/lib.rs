//! Shared support of the end-to-end suites (`tests/tests/e2e_*.rs`): the engine
//! in-process over the WSK emulator on real host sockets, every close semantic observed on the
//! wire by a real loopback peer, each scenario under Windows' WSK and Wine 8's
//! (`..._under_wine`), some also with deferred completions (`..._deferred_completions`).
//!
//! | suite | covers |
//! |---|---|
//! | `e2e_close` | graceful 64 MiB then FIN; abortive RST; linger vs stalled/reading peer; cross-thread close; explicit mode vs SO_LINGER; many sockets; CLOSE reply fields; abandoning a waiting CLOSE |
//! | `e2e_handles` | duplicates (same and other client); stale and foreign handles; client cleanup per linger |
//! | `e2e_sockets` | listen/accept with std clients; listener close races; IPv6 loopback; UDP (Wine: none) |
//! | `e2e_lifecycle` | unload with stalled teardowns; peer reset; half close; cancel without close and racing data; cleanup of a channel in use; Wine's 10-operation limit |
//! | `e2e_cli` | the `wsksock` binary: `send --json`, `close-race --json`, `demo`, bad input |
//! | `e2e_deadlines` | request deadlines (receive, send, connect, accept, datagrams, resolve), SO_RCVTIMEO / SO_SNDTIMEO, data kept past a deadline, what a timed-out send leaves on the wire |
//! | `e2e_peer_close` | WAIT_PEER_CLOSE on FIN, RST, keepalive finding a dead peer; cancel and close; owning process and per-call flags as the emulator's log shows them |
//! | `e2e_cli_verbs` | the `connect`, `listen`, `recv`, `wait-close` and `stats` verbs |
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

pub use rig::{run, run_concurrent, run_deferred, run_recording, run_with, Rig};
pub use wsksock_abi::{Handle, NtStatus};
pub use wsksock_emu::Profile;
pub use wsksock_tools::peer::{End, Report};
pub use wsksock_tools::{Client, CloseMode, Pending};

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;
