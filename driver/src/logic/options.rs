//! Socket options of the engine as WSK `(level, name)` pairs for `WskControlSocket`.

use crate::sys::WSK_FLAG_WAITALL;
use crate::sys::{
    IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SOL_SOCKET, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, TCP_NODELAY,
};
use wsksock_abi::msg::DATA_FLAG_WAITALL;
use wsksock_core::SockOpt;

/// WSK send/receive flags for the ABI's data flags (only WAITALL is defined; others are dropped —
/// the engine refuses them before any provider call).
pub fn data_flags(abi_flags: u32) -> u32 {
    if abi_flags & DATA_FLAG_WAITALL != 0 {
        WSK_FLAG_WAITALL
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waitall_maps_to_wsk_flag_waitall() {
        assert_eq!(data_flags(0), 0);
        assert_eq!(data_flags(DATA_FLAG_WAITALL), 2);
        assert_eq!(data_flags(0x8000_0000), 0);
    }

    #[test]
    fn options_map_to_winsock_values() {
        assert_eq!(level_and_name(SockOpt::KeepAlive), (0xffff, 8));
        assert_eq!(level_and_name(SockOpt::NoDelay), (6, 1));
        assert_eq!(level_and_name(SockOpt::ReceiveBuffer), (0xffff, 0x1002));
        assert_eq!(level_and_name(SockOpt::SendBuffer), (0xffff, 0x1001));
        assert_eq!(level_and_name(SockOpt::Ipv6Only), (41, 27));
    }
}
