//! Socket addresses between Rust and WSK (`SOCKADDR_IN` / `SOCKADDR_IN6` in a `SOCKADDR_STORAGE`).
//!
//! Ports and flow info are in network byte order on the WSK side; the scope id is in host order.

use crate::sys::{AF_INET, AF_INET6, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_STORAGE};
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

/// A Rust address as a `SOCKADDR_STORAGE`.
pub fn to_storage(addr: &SocketAddr) -> SOCKADDR_STORAGE {
    let mut st = SOCKADDR_STORAGE::new_zeroed();
    match addr {
        SocketAddr::V4(v4) => {
            let sin = SOCKADDR_IN {
                sin_family: AF_INET,
                sin_port: v4.port().to_be(),
                sin_addr: v4.ip().octets(),
                sin_zero: [0; 8],
            };
            st.as_mut_bytes()[..size_of::<SOCKADDR_IN>()].copy_from_slice(sin.as_bytes());
        }
        SocketAddr::V6(v6) => {
            let sin6 = SOCKADDR_IN6 {
                sin6_family: AF_INET6,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo().to_be(),
                sin6_addr: v6.ip().octets(),
                sin6_scope_id: v6.scope_id(),
            };
            st.as_mut_bytes()[..size_of::<SOCKADDR_IN6>()].copy_from_slice(sin6.as_bytes());
        }
    }
    st
}

/// The wildcard address of a family (for the implicit bind Wine requires before connect).
pub fn unspecified(v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0))
    } else {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
    }
}

/// A `SOCKADDR_STORAGE` (or its first `len` valid bytes) as a Rust address; `None` for another
/// family or a length too short for its family.
pub fn from_storage(st: &SOCKADDR_STORAGE, len: usize) -> Option<SocketAddr> {
    let bytes = st.as_bytes().get(..len.min(size_of::<SOCKADDR_STORAGE>()))?;
    match st.ss_family {
        AF_INET => {
            let (sin, _) = SOCKADDR_IN::read_from_prefix(bytes).ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr),
                u16::from_be(sin.sin_port),
            )))
        }
        AF_INET6 => {
            let (sin6, _) = SOCKADDR_IN6::read_from_prefix(bytes).ok()?;
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Copies the first bytes of a provider-written address (`ai_addr`, `ai_addrlen`) into storage.
pub fn storage_from_bytes(bytes: &[u8]) -> SOCKADDR_STORAGE {
    let mut st = SOCKADDR_STORAGE::new_zeroed();
    let n = bytes.len().min(size_of::<SOCKADDR_STORAGE>());
    st.as_mut_bytes()[..n].copy_from_slice(&bytes[..n]);
    st
}

/// The same address with another port (resolution results get the requested port).
pub fn with_port(mut addr: SocketAddr, port: u16) -> SocketAddr {
    addr.set_port(port);
    addr
}

use core::mem::size_of;

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    #[test]
    fn v4_round_trips_in_network_order() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let st = to_storage(&a);
        assert_eq!(st.ss_family, AF_INET);
        assert_eq!(&st.as_bytes()[2..8], &[0x1f, 0x90, 127, 0, 0, 1]);
        assert_eq!(from_storage(&st, 16), Some(a));
        assert_eq!(from_storage(&st, 8), None, "too short for SOCKADDR_IN");
    }

    #[test]
    fn v6_round_trips_with_flow_and_scope() {
        let a: SocketAddr = "[fe80::1%7]:443".parse().unwrap();
        let a = match a {
            SocketAddr::V6(mut v6) => {
                v6.set_flowinfo(0x12345);
                SocketAddr::V6(v6)
            }
            SocketAddr::V4(_) => unreachable!(),
        };
        let st = to_storage(&a);
        assert_eq!(st.ss_family, AF_INET6);
        assert_eq!(from_storage(&st, 28), Some(a));
    }

    #[test]
    fn unknown_family_is_refused() {
        let mut st = storage_from_bytes(&[99, 0, 1, 2]);
        assert_eq!(from_storage(&st, 128), None);
        st.ss_family = AF_INET;
        assert_eq!(from_storage(&st, 128), Some("0.0.0.0:258".parse().unwrap()));
    }

    #[test]
    fn unspecified_and_port() {
        assert_eq!(unspecified(false), "0.0.0.0:0".parse().unwrap());
        assert_eq!(unspecified(true), "[::]:0".parse().unwrap());
        assert_eq!(
            with_port("1.2.3.4:0".parse().unwrap(), 80),
            "1.2.3.4:80".parse().unwrap()
        );
    }
}
