//! IPv4 and IPv6 socket addresses as they cross the IOCTL boundary.
//!
//! A fixed-size `#[repr(C)]` struct rather than `SOCKADDR_STORAGE`: the family uses the Windows
//! values (`AF_INET` = 2, `AF_INET6` = 23), the port is in host byte order, IPv4 addresses use the
//! first 4 bytes of `addr` (the rest must be zero).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Windows `AF_UNSPEC`.
pub const AF_UNSPEC: u16 = 0;
/// Windows `AF_INET`.
pub const AF_INET: u16 = 2;
/// Windows `AF_INET6`.
pub const AF_INET6: u16 = 23;

/// A socket address (28 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SockAddr {
    /// [`AF_INET`] or [`AF_INET6`] ([`AF_UNSPEC`] only where a request says it is optional).
    pub family: u16,
    /// Port, host byte order.
    pub port: u16,
    /// IPv6 flow info (0 for IPv4).
    pub flowinfo: u32,
    /// Address bytes in network order: 4 for IPv4 (rest zero), 16 for IPv6.
    pub addr: [u8; 16],
    /// IPv6 scope id (0 for IPv4).
    pub scope_id: u32,
}

impl SockAddr {
    /// The empty address (`AF_UNSPEC`).
    pub const UNSPEC: SockAddr = SockAddr {
        family: AF_UNSPEC,
        port: 0,
        flowinfo: 0,
        addr: [0; 16],
        scope_id: 0,
    };

    /// Converts to a Rust socket address; `None` for an unknown family or non-zero padding.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        match self.family {
            AF_INET => {
                if self.flowinfo != 0 || self.scope_id != 0 || self.addr[4..].iter().any(|b| *b != 0) {
                    return None;
                }
                let ip = Ipv4Addr::new(self.addr[0], self.addr[1], self.addr[2], self.addr[3]);
                Some(SocketAddr::V4(SocketAddrV4::new(ip, self.port)))
            }
            AF_INET6 => Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(self.addr),
                self.port,
                self.flowinfo,
                self.scope_id,
            ))),
            _ => None,
        }
    }

    /// The address family of an IP address in Windows numbering.
    pub fn family_of(ip: IpAddr) -> u16 {
        match ip {
            IpAddr::V4(_) => AF_INET,
            IpAddr::V6(_) => AF_INET6,
        }
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(sa: SocketAddr) -> Self {
        match sa {
            SocketAddr::V4(v4) => {
                let mut addr = [0; 16];
                addr[..4].copy_from_slice(&v4.ip().octets());
                SockAddr {
                    family: AF_INET,
                    port: v4.port(),
                    flowinfo: 0,
                    addr,
                    scope_id: 0,
                }
            }
            SocketAddr::V6(v6) => SockAddr {
                family: AF_INET6,
                port: v6.port(),
                flowinfo: v6.flowinfo(),
                addr: v6.ip().octets(),
                scope_id: v6.scope_id(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for s in ["127.0.0.1:80", "[::1]:443", "[fe80::1%3]:9"] {
            let sa: SocketAddr = s.parse().unwrap();
            assert_eq!(SockAddr::from(sa).to_socket_addr(), Some(sa));
        }
    }

    #[test]
    fn refuses_unknown_family_and_v4_padding() {
        let mut a = SockAddr::from("1.2.3.4:5".parse::<SocketAddr>().unwrap());
        a.addr[7] = 1;
        assert_eq!(a.to_socket_addr(), None);
        assert_eq!(
            SockAddr {
                family: 99,
                ..SockAddr::UNSPEC
            }
            .to_socket_addr(),
            None
        );
        assert_eq!(SockAddr::UNSPEC.to_socket_addr(), None);
    }
}
