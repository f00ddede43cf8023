//! The engine's limits and timeouts, and the snapshot of its figures.

pub use crate::socket::Census;

/// Limits and timeouts.
///
/// Build it with `..Config::default()` so that fields added later keep old code compiling.
#[derive(Clone, Debug)]
pub struct Config {
    /// Operations in flight per socket before requests get STATUS_INSUFFICIENT_RESOURCES.
    pub max_pending_per_socket: u32,
    /// Operations in flight per client.
    pub max_pending_per_client: u32,
    /// Handles per client.
    pub max_handles_per_client: u32,
    /// At unload, graceful teardowns turn abortive after this many milliseconds.
    pub unload_linger_ms: u64,
    /// At client cleanup (IRP_MJ_CLEANUP), the graceful teardowns it starts, and those still
    /// holding the client's requests, turn abortive after this many milliseconds: a peer that
    /// stopped reading cannot keep a client's requests (and its file object) forever.
    /// `u64::MAX`: no bound.
    pub cleanup_linger_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_pending_per_socket: 256,
            max_pending_per_client: 4096,
            max_handles_per_client: 1 << 20,
            unload_linger_ms: 5_000,
            cleanup_linger_ms: 5_000,
        }
    }
}

/// A snapshot of the global figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Socket objects not yet finished.
    pub sockets_alive: u64,
    /// Socket objects ever created.
    pub sockets_created: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Provider operations started.
    pub ops_started: u64,
    /// Provider operations completed.
    pub ops_completed: u64,
    /// Of those, completed with STATUS_CANCELLED.
    pub ops_cancelled: u64,
    /// Requests completed.
    pub requests: u64,
    /// Of those, with an error status.
    pub requests_failed: u64,
    /// Completions the provider delivered for unknown operations (must stay 0).
    pub contract_violations: u64,
    /// Live sockets by kind and state, and requests whose deadline passed (ever).
    pub census: Census,
}
