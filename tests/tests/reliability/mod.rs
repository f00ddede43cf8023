//! Support shared by the reliability suites (`engine_stress.rs`, `fault_systematic.rs`, `hostile.rs`,
//! `unload.rs`): the checked provider stack and its audit ([`rig`]), a pass-through provider
//! that counts timers and tags streams ([`probe`]), real loopback peers for many connections
//! ([`peers`]), and the randomized stress workload ([`workload`]). See `docs/RELIABILITY.md`.
#![allow(dead_code)]

pub mod peers;
pub mod probe;
pub mod rig;
pub mod workload;

use std::time::Duration;
use wsksock_emu::CompletionMode;

/// A generous bound for anything that should take milliseconds (a hang fails, never sticks).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `u64` from an environment variable, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The completion modes a run covers: `WSKSOCK_STRESS_MODE` = `inline`, `deferred`,
/// `concurrent`, `both` (inline and deferred) or `all` (the default: the three).
pub fn env_modes() -> Vec<CompletionMode> {
    match std::env::var("WSKSOCK_STRESS_MODE").as_deref() {
        Ok("inline") => vec![CompletionMode::Inline],
        Ok("deferred") => vec![CompletionMode::Deferred],
        Ok("concurrent") => vec![CompletionMode::Concurrent],
        Ok("both") => vec![CompletionMode::Inline, CompletionMode::Deferred],
        _ => vec![
            CompletionMode::Inline,
            CompletionMode::Deferred,
            CompletionMode::Concurrent,
        ],
    }
}

/// The name `cargo xtask stress --mode` takes for a completion mode.
pub fn mode_name(mode: CompletionMode) -> &'static str {
    match mode {
        CompletionMode::Inline => "inline",
        CompletionMode::Deferred => "deferred",
        CompletionMode::Concurrent => "concurrent",
    }
}
