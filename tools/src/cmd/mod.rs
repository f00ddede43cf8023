//! The subcommands.

pub mod bench;
pub mod check;
pub mod connect;
pub mod demo;
pub mod listen;
pub mod pipe;
pub mod race;
pub mod recv;
pub mod send;
pub mod stats;
pub mod wait_close;

use std::net::{SocketAddr, ToSocketAddrs};
use wsksock_abi::msg::{TIMEOUT_DEFAULT, TIMEOUT_MAX_MS};

/// A `--timeout MS` flag as a request's `timeout_ms` (absent: none).
pub fn timeout_ms(flag: Option<u32>) -> Result<u32, String> {
    match flag {
        None => Ok(TIMEOUT_DEFAULT),
        Some(ms) if (1..=TIMEOUT_MAX_MS).contains(&ms) => Ok(ms),
        Some(ms) => Err(format!(
            "bad --timeout {ms}: milliseconds from 1 to {TIMEOUT_MAX_MS}"
        )),
    }
}

/// Parses `HOST:PORT` (names resolved by the host).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("bad address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("bad address {s:?}: no address"))
}
