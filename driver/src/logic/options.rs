//! Socket options of the engine as WSK `(level, name)` pairs for `WskControlSocket`.

use crate::sys::{
    IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SOL_SOCKET, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, TCP_KEEPALIVE,
    TCP_KEEPCNT, TCP_KEEPINTVL, TCP_NODELAY,
};
use crate::sys::{WSK_FLAG_NODELAY, WSK_FLAG_WAITALL};
use wsksock_abi::msg::{DATA_FLAG_NODELAY, DATA_FLAG_WAITALL};
use wsksock_core::SockOpt;

/// `WskReceive` flags for the ABI's receive flags (WAITALL; others are dropped — the engine
/// refuses them before any provider call).
pub fn receive_flags(abi_flags: u32) -> u32 {
    if abi_flags & DATA_FLAG_WAITALL != 0 {
        WSK_FLAG_WAITALL
    } else {
        0
    }
}

/// `WskSend` flags for the ABI's send flags (NODELAY; others are dropped, as above).
pub fn send_flags(abi_flags: u32) -> u32 {
    if abi_flags & DATA_FLAG_NODELAY != 0 {
        WSK_FLAG_NODELAY
    } else {
        0
    }
}

/// `(Level, ControlCode)` of an option.
pub fn level_and_name(opt: SockOpt) -> (u32, u32) {
    match opt {
        SockOpt::KeepAlive => (SOL_SOCKET, SO_KEEPALIVE),
        SockOpt::NoDelay => (IPPROTO_TCP, TCP_NODELAY),
        SockOpt::ReceiveBuffer => (SOL_SOCKET, SO_RCVBUF),
        SockOpt::SendBuffer => (SOL_SOCKET, SO_SNDBUF),
        SockOpt::Ipv6Only => (IPPROTO_IPV6, IPV6_V6ONLY),
        SockOpt::KeepAliveIdle => (IPPROTO_TCP, TCP_KEEPALIVE),
        SockOpt::KeepAliveInterval => (IPPROTO_TCP, TCP_KEEPINTVL),
        SockOpt::KeepAliveCount => (IPPROTO_TCP, TCP_KEEPCNT),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    #[test]
    fn waitall_maps_to_wsk_flag_waitall() {
        assert_eq!(receive_flags(0), 0);
        assert_eq!(receive_flags(DATA_FLAG_WAITALL), 2);
        assert_eq!(receive_flags(DATA_FLAG_NODELAY), 0);
        assert_eq!(receive_flags(0x8000_0000), 0);
    }

    #[test]
    fn nodelay_maps_to_wsk_flag_nodelay() {
        assert_eq!(send_flags(0), 0);
        assert_eq!(send_flags(DATA_FLAG_NODELAY), 2);
        assert_eq!(send_flags(DATA_FLAG_WAITALL), 0);
    }

    #[test]
    fn options_map_to_winsock_values() {
        assert_eq!(level_and_name(SockOpt::KeepAlive), (0xffff, 8));
        assert_eq!(level_and_name(SockOpt::NoDelay), (6, 1));
        assert_eq!(level_and_name(SockOpt::ReceiveBuffer), (0xffff, 0x1002));
        assert_eq!(level_and_name(SockOpt::SendBuffer), (0xffff, 0x1001));
        assert_eq!(level_and_name(SockOpt::Ipv6Only), (41, 27));
        assert_eq!(level_and_name(SockOpt::KeepAliveIdle), (6, 3));
        assert_eq!(level_and_name(SockOpt::KeepAliveInterval), (6, 17));
        assert_eq!(level_and_name(SockOpt::KeepAliveCount), (6, 16));
    }
}
