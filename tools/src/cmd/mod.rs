//! The subcommands.

pub mod bench;
pub mod check;
pub mod demo;
pub mod race;
pub mod send;

use std::net::{SocketAddr, ToSocketAddrs};

/// Parses `HOST:PORT` (names resolved by the host).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("bad address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("bad address {s:?}: no address"))
}
