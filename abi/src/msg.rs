//! Versioned `#[repr(C)]` requests and replies, one pair per [`crate::Op`].
//!
//! Each struct starts with a [`Header`]. Requests are the whole input buffer (`size` must equal
//! both the input length and the struct size of this ABI version); replies are written at the
//! start of the output buffer. Reserved fields must be zero. Enumerations travel as `u32` and are
//! checked by the `TryFrom` impls of the typed enums below.

use crate::{Handle, SockAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The ABI version this crate describes (docs/ABI.md, "Versions": 2 gave the control codes
/// their access bits).
pub const ABI_VERSION: u16 = 2;

/// First bytes of every request and reply.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    /// Size of the whole struct in bytes.
    pub size: u32,
    /// [`ABI_VERSION`].
    pub version: u16,
    /// Must be zero.
    pub reserved: u16,
}

/// A request or reply struct of this ABI.
pub trait Message: FromBytes + IntoBytes + KnownLayout + Immutable + Copy + Sized {
    /// The struct's size as a header states it.
    const SIZE: u32;

    /// The header every instance of this type carries.
    fn header() -> Header {
        Header {
            size: Self::SIZE,
            version: ABI_VERSION,
            reserved: 0,
        }
    }

    /// A zeroed message with its header filled in.
    fn new_zeroed_with_header() -> Self {
        let mut m = Self::new_zeroed();
        let h = Self::header();
        m.as_mut_bytes()[..core::mem::size_of::<Header>()].copy_from_slice(h.as_bytes());
        m
    }
}

macro_rules! impl_message {
    ($($name:ident),* $(,)?) => {
        $(
            impl Message for $name {
                #[allow(clippy::cast_possible_truncation)]
                const SIZE: u32 = core::mem::size_of::<$name>() as u32;
            }
        )*

        /// Every request and reply struct: its Rust name and size (for the C header and tests).
        pub const MESSAGES: &[(&str, usize)] = &[$((stringify!($name), core::mem::size_of::<$name>()),)*];
    };
}

/// SOCKET request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SocketRequest {
    /// Header.
    pub header: Header,
    /// [`crate::addr::AF_INET`] or [`crate::addr::AF_INET6`].
    pub family: u16,
    /// [`SocketKind`].
    pub kind: u16,
    /// Protocol (0: the kind's default, TCP or UDP).
    pub protocol: u32,
}
/// Reply to SOCKET and DUPLICATE.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct HandleReply {
    /// Header.
    pub header: Header,
    /// The new handle.
    pub handle: Handle,
}
/// Request naming one handle: ACCEPT, CANCEL, STATISTICS (null handle: global).
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct HandleRequest {
    /// Header.
    pub header: Header,
    /// The socket.
    pub handle: Handle,
}
/// BIND and CONNECT request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AddressedRequest {
    /// Header.
    pub header: Header,
    /// The socket.
    pub handle: Handle,
    /// Local address (BIND) or remote address (CONNECT).
    pub addr: SockAddr,
    /// Must be zero.
    pub reserved: u32,
}
/// LISTEN request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ListenRequest {
    /// Header.
    pub header: Header,
    /// A bound listening or stream socket.
    pub handle: Handle,
    /// Backlog hint (0: the provider's default).
    pub backlog: u32,
    /// Must be zero.
    pub reserved: u32,
}
/// Reply to ACCEPT.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AcceptReply {
    /// Header.
    pub header: Header,
    /// Handle of the accepted connection.
    pub handle: Handle,
    /// Its local address.
    pub local: SockAddr,
    /// Its peer.
    pub remote: SockAddr,
}
/// SEND, RECEIVE, SEND_KERNEL, RECEIVE_KERNEL request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DataRequest {
    /// Header.
    pub header: Header,
    /// The socket.
    pub handle: Handle,
    /// WSK send/receive flags (only [`DATA_FLAG_WAITALL`] is defined for receives).
    pub flags: u32,
    /// Must be zero.
    pub reserved: u32,
    /// *_KERNEL codes: address of a non-paged kernel buffer; 0 for the direct-I/O codes.
    pub buffer: u64,
    /// *_KERNEL codes: its length; 0 for the direct-I/O codes (the output buffer is the data).
    pub length: u64,
}
/// SEND_TO and RECEIVE_FROM request (RECEIVE_FROM ignores `addr`, which must be zeroed).
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DatagramRequest {
    /// Header.
    pub header: Header,
    /// A datagram socket.
    pub handle: Handle,
    /// Must be zero.
    pub flags: u32,
    /// Destination (SEND_TO).
    pub addr: SockAddr,
}
/// Header of the RECEIVE_FROM output buffer; the payload follows at [`RECEIVE_FROM_DATA_OFFSET`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ReceiveFromReply {
    /// Header.
    pub header: Header,
    /// Payload bytes received.
    pub bytes: u32,
    /// Sender.
    pub remote: SockAddr,
}
/// SHUTDOWN request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ShutdownRequest {
    /// Header.
    pub header: Header,
    /// A connected stream socket.
    pub handle: Handle,
    /// [`ShutdownHow`].
    pub how: u32,
    /// Must be zero.
    pub reserved: u32,
}
/// SET_OPTION and GET_OPTION request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct OptionRequest {
    /// Header.
    pub header: Header,
    /// The socket.
    pub handle: Handle,
    /// [`SocketOption`].
    pub option: u32,
    /// SET: the value (LINGER: on/off; others: the value). GET: zero.
    pub value: u32,
    /// SET LINGER: timeout in seconds. Otherwise zero.
    pub value2: u32,
    /// Must be zero.
    pub reserved: u32,
}
/// Reply to GET_OPTION.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct OptionReply {
    /// Header.
    pub header: Header,
    /// The value (LINGER: on/off).
    pub value: u32,
    /// LINGER: timeout in seconds.
    pub value2: u32,
}
/// GET_ADDRESS request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct GetAddressRequest {
    /// Header.
    pub header: Header,
    /// The socket.
    pub handle: Handle,
    /// [`AddressWhich`].
    pub which: u32,
    /// Must be zero.
    pub reserved: u32,
}
/// Reply to GET_ADDRESS.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AddressReply {
    /// Header.
    pub header: Header,
    /// The address.
    pub addr: SockAddr,
}
/// DUPLICATE request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DuplicateRequest {
    /// Header.
    pub header: Header,
    /// The socket.
    pub handle: Handle,
    /// Client to receive the new handle (its id from CLIENT_INFO); 0: the caller.
    pub target_client: u64,
}
/// CLOSE request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CloseRequest {
    /// Header.
    pub header: Header,
    /// The handle to close.
    pub handle: Handle,
    /// [`CloseMode`].
    pub mode: u32,
    /// [`CloseMode::Linger`]: timeout in seconds (> 0). Otherwise zero.
    pub linger_seconds: u32,
    /// [`CLOSE_FLAG_WAIT_FOR_TEARDOWN`] or zero.
    pub flags: u32,
    /// Must be zero.
    pub reserved: u32,
}
/// Reply to CLOSE.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CloseReply {
    /// Header.
    pub header: Header,
    /// 1 if this was the socket's last handle (the teardown started), else 0.
    pub last_reference: u32,
    /// Operations issued through this handle that the close cancelled.
    pub cancelled: u32,
    /// With [`CLOSE_FLAG_WAIT_FOR_TEARDOWN`] on the last handle: how the teardown ended (the
    /// provider close status); otherwise STATUS_PENDING.
    pub teardown_status: u32,
    /// With the wait flag on the last handle: the [`Disconnect`] that was performed.
    pub disconnect: u32,
}
/// Reply to CANCEL.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CancelReply {
    /// Header.
    pub header: Header,
    /// Operations asked to cancel.
    pub cancelled: u32,
    /// Zero.
    pub reserved: u32,
}
/// Reply to STATISTICS.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct StatisticsReply {
    /// Header.
    pub header: Header,
    /// 0: global figures; 1: one socket's.
    pub scope: u32,
    /// Handles open (to this socket, or in all clients).
    pub handles: u32,
    /// Sockets alive now (global) or 1.
    pub sockets_alive: u64,
    /// Sockets ever created (global) or 1.
    pub sockets_created: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Provider operations started.
    pub ops_started: u64,
    /// Provider operations completed (any status).
    pub ops_completed: u64,
    /// Provider operations completed with STATUS_CANCELLED.
    pub ops_cancelled: u64,
    /// Provider operations pending now.
    pub ops_pending: u64,
    /// Requests dispatched (global only).
    pub requests: u64,
    /// Requests completed with an error status (global only).
    pub requests_failed: u64,
}
/// RESOLVE request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ResolveRequest {
    /// Header.
    pub header: Header,
    /// Family wanted ([`crate::addr::AF_UNSPEC`] for any).
    pub family: u16,
    /// Must be zero.
    pub reserved: u16,
    /// Port to put in the results (host order).
    pub port: u16,
    /// Must be zero.
    pub reserved2: u16,
    /// Host name or address literal, NUL-terminated ASCII.
    pub node: [u8; 256],
}
/// Reply to RESOLVE.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ResolveReply {
    /// Header.
    pub header: Header,
    /// Number of valid entries in `addrs`.
    pub count: u32,
    /// Zero.
    pub reserved: u32,
    /// The first [`RESOLVE_MAX_ADDRS`] addresses.
    pub addrs: [SockAddr; 8],
}
/// CLIENT_INFO request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ClientInfoRequest {
    /// Header.
    pub header: Header,
}
/// Reply to CLIENT_INFO.
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ClientInfoReply {
    /// Header.
    pub header: Header,
    /// This client's id (the `target_client` of DUPLICATE).
    pub client_id: u64,
    /// [`ABI_VERSION`] of the driver.
    pub abi_version: u32,
    /// Pending operations allowed per socket.
    pub max_pending_per_socket: u32,
    /// Pending operations allowed per client.
    pub max_pending_per_client: u32,
    /// Handles allowed per client.
    pub max_handles: u32,
}

impl_message!(
    SocketRequest,
    HandleReply,
    HandleRequest,
    AddressedRequest,
    ListenRequest,
    AcceptReply,
    DataRequest,
    DatagramRequest,
    ReceiveFromReply,
    ShutdownRequest,
    OptionRequest,
    OptionReply,
    GetAddressRequest,
    AddressReply,
    DuplicateRequest,
    CloseRequest,
    CloseReply,
    CancelReply,
    StatisticsReply,
    ResolveRequest,
    ResolveReply,
    ClientInfoRequest,
    ClientInfoReply,
);

/// Entries in [`ResolveReply::addrs`].
pub const RESOLVE_MAX_ADDRS: usize = 8;
/// Offset of the payload in the RECEIVE_FROM output buffer (the reply rounded up to 8 bytes).
pub const RECEIVE_FROM_DATA_OFFSET: usize = (core::mem::size_of::<ReceiveFromReply>() + 7) & !7;
/// CLOSE flag: complete the CLOSE only when the socket's teardown finished (last handle only).
pub const CLOSE_FLAG_WAIT_FOR_TEARDOWN: u32 = 1;
/// Receive flag: complete only when the buffer is full (or the connection ends).
pub const DATA_FLAG_WAITALL: u32 = 0x100;

macro_rules! wire_try_from {
    ($name:ident : $repr:ty => $($var:ident),* $(,)?) => {
        impl TryFrom<$repr> for $name {
            type Error = crate::NtStatus;
            fn try_from(v: $repr) -> Result<Self, crate::NtStatus> {
                let v = u32::from(v);
                $(if v == $name::$var as u32 {
                    return Ok($name::$var);
                })*
                Err(crate::NtStatus::STATUS_INVALID_PARAMETER)
            }
        }
    };
}

/// Socket kinds of SOCKET.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum SocketKind {
    /// A connection-oriented (TCP) socket.
    Stream = 1,
    /// A datagram (UDP) socket.
    Datagram = 2,
    /// A listening socket (TCP).
    Listen = 3,
}

wire_try_from!(SocketKind: u16 => Stream, Datagram, Listen);

/// How CLOSE tears the socket down.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum CloseMode {
    /// Follow the socket's linger option (graceful unless SO_LINGER says otherwise).
    Default = 0,
    /// Graceful: pending sends finish, then FIN.
    Graceful = 1,
    /// Abortive: everything cancelled, then RST.
    Abortive = 2,
    /// Graceful within `linger_seconds`, else abortive.
    Linger = 3,
}

wire_try_from!(CloseMode: u32 => Default, Graceful, Abortive, Linger);

/// SHUTDOWN variants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum ShutdownHow {
    /// Graceful disconnect of the sending side (FIN after queued data).
    Send = 1,
    /// Abortive disconnect (RST).
    Abort = 2,
}

wire_try_from!(ShutdownHow: u32 => Send, Abort);

/// Options of SET_OPTION and GET_OPTION.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum SocketOption {
    /// SO_LINGER: `value` on/off, `value2` seconds. Kept by the driver, applied at close.
    Linger = 1,
    /// SO_KEEPALIVE (0/1).
    KeepAlive = 2,
    /// TCP_NODELAY (0/1).
    NoDelay = 3,
    /// SO_RCVBUF in bytes.
    ReceiveBuffer = 4,
    /// SO_SNDBUF in bytes.
    SendBuffer = 5,
    /// IPV6_V6ONLY (0/1).
    Ipv6Only = 6,
}

wire_try_from!(SocketOption: u32 => Linger, KeepAlive, NoDelay, ReceiveBuffer, SendBuffer, Ipv6Only);

/// GET_ADDRESS selector.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum AddressWhich {
    /// The local address.
    Local = 0,
    /// The peer address.
    Peer = 1,
}

wire_try_from!(AddressWhich: u32 => Local, Peer);

/// The disconnect a teardown performed (CLOSE reply).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum Disconnect {
    /// None: never connected, already shut down, the disconnect failed (e.g. Wine's
    /// STATUS_NOT_IMPLEMENTED stub), or the teardown has not run yet.
    None = 0,
    /// Graceful (FIN).
    Graceful = 1,
    /// Abortive (RST).
    Abortive = 2,
}

wire_try_from!(Disconnect: u32 => None, Graceful, Abortive);

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, size_of};

    #[test]
    fn layouts_are_stable() {
        assert_eq!(size_of::<Header>(), 8);
        assert_eq!(size_of::<Handle>(), 8);
        assert_eq!(size_of::<SockAddr>(), 28);
        assert_eq!(size_of::<SocketRequest>(), 16);
        assert_eq!(size_of::<AddressedRequest>(), 48);
        assert_eq!(size_of::<DataRequest>(), 40);
        assert_eq!(size_of::<CloseRequest>(), 32);
        assert_eq!(size_of::<StatisticsReply>(), 96);
        assert_eq!(size_of::<ResolveRequest>(), 272);
        assert_eq!(RECEIVE_FROM_DATA_OFFSET % 8, 0);
        assert!(RECEIVE_FROM_DATA_OFFSET >= size_of::<ReceiveFromReply>());
        assert!(align_of::<DataRequest>() <= 8);
    }

    #[test]
    fn header_is_filled() {
        let r = CloseRequest::new_zeroed_with_header();
        assert_eq!(
            r.header,
            Header {
                size: 32,
                version: ABI_VERSION,
                reserved: 0
            }
        );
    }

    #[test]
    fn enums_refuse_unknown_values() {
        assert_eq!(CloseMode::try_from(2), Ok(CloseMode::Abortive));
        assert_eq!(
            CloseMode::try_from(4),
            Err(crate::NtStatus::STATUS_INVALID_PARAMETER)
        );
        assert_eq!(
            SocketKind::try_from(0u16),
            Err(crate::NtStatus::STATUS_INVALID_PARAMETER)
        );
        assert_eq!(
            SocketOption::try_from(u32::MAX),
            Err(crate::NtStatus::STATUS_INVALID_PARAMETER)
        );
    }
}
