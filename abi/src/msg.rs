//! Versioned `#[repr(C)]` requests and replies, one pair per [`crate::Op`].
//!
//! Each struct starts with a [`Header`]. Requests are the whole input buffer (`size` must equal
//! both the input length and the struct's size in the header's ABI version); replies are written
//! at the start of the output buffer, in the version of the request. Reserved fields must be zero.
//! Enumerations travel as `u32` and are checked by the `TryFrom` impls of the typed enums below.
//!
//! # Versions
//! [`ABI_VERSION`] is 4; versions 1 to 3 are still accepted ([`ABI_VERSION_MIN`]) and mean what
//! they meant — but for DUPLICATE into another client, which in every version now needs that
//! client's consent ([`AllowDuplicateRequest`]). Version 3 changed only the control codes (their
//! access bits, `crate::ioctl`); version 4 added ALLOW_DUPLICATE and its request: the other
//! structs are version 2's. A struct that grew in version 2 grew only at its end, so its version-1
//! form is a prefix ([`Message::SIZE_V1`]) and the new fields read as zero; fields that took over a
//! reserved slot must still be zero in version 1 ([`Message::valid_in_v1`]). A reply is written
//! in the request's version (a version-1 request gets the version-1 prefix, headed version 1).
//! Requests new in version 2 refuse version 1 with STATUS_NOT_SUPPORTED.

use crate::{Handle, SockAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The ABI version this crate describes (module docs and docs/ABI.md, "Versions").
pub const ABI_VERSION: u16 = 4;
/// The oldest ABI version the driver still accepts (module docs: "Versions").
pub const ABI_VERSION_MIN: u16 = 1;

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
    /// Its size in ABI version 1 (a prefix of the struct); 0 if version 1 has no such struct.
    const SIZE_V1: u32;

    /// Whether a request decoded from a version-1 header is valid there: fields that took over
    /// a reserved slot in version 2, and enumeration values added in version 2, must be zero or
    /// absent. Types that did not change in version 2 accept everything.
    fn valid_in_v1(&self) -> bool {
        true
    }

    /// The struct's size in ABI version `version` (`None`: not in that version).
    fn size_in(version: u16) -> Option<u32> {
        match version {
            // Versions 3 and 4 changed no struct: version 2's layout is the current one (a
            // struct new in version 4 is refused in older ones before it is decoded).
            2..=ABI_VERSION => Some(Self::SIZE),
            1 if Self::SIZE_V1 != 0 => Some(Self::SIZE_V1),
            _ => None,
        }
    }

    /// The header every instance of this type carries.
    fn header() -> Header {
        Header {
            size: Self::SIZE,
            version: ABI_VERSION,
            reserved: 0,
        }
    }

    /// This reply as written for a request of ABI version `version`: its header says that
    /// version and the size there, and the bytes are that version's prefix. A version without
    /// this struct gets the current form.
    fn bytes_for_version(&mut self, version: u16) -> &[u8] {
        let (version, size) = match Self::size_in(version) {
            Some(size) => (version, size),
            None => (ABI_VERSION, Self::SIZE),
        };
        let h = Header {
            size,
            version,
            reserved: 0,
        };
        let hl = core::mem::size_of::<Header>();
        self.as_mut_bytes()[..hl].copy_from_slice(h.as_bytes());
        &self.as_bytes()[..size as usize]
    }

    /// A zeroed message with its header filled in.
    fn new_zeroed_with_header() -> Self {
        let mut m = Self::new_zeroed();
        let h = Self::header();
        m.as_mut_bytes()[..core::mem::size_of::<Header>()].copy_from_slice(h.as_bytes());
        m
    }
}

/// The size of a struct as a `u32` (every message is far below 4 GiB).
#[allow(clippy::cast_possible_truncation)]
const fn size32<T>() -> u32 {
    core::mem::size_of::<T>() as u32
}

macro_rules! impl_message {
    // Unchanged in version 2: the same layout, every value valid.
    (@impl $name:ident) => {
        impl Message for $name {
            const SIZE: u32 = size32::<$name>();
            const SIZE_V1: u32 = size32::<$name>();
        }
    };
    // Changed in version 2: the version-1 size and validity are given below by hand.
    (@impl $name:ident changed) => {};
    ($($name:ident $($changed:ident)?),* $(,)?) => {
        $(impl_message!(@impl $name $($changed)?);)*

        /// Every request and reply struct: its Rust name and size (for the C header and tests).
        pub const MESSAGES: &[(&str, usize)] = &[$((stringify!($name), core::mem::size_of::<$name>()),)*];

        /// Every struct whose version-1 size differs from its size: name and version-1 size
        /// (0: not in version 1).
        pub const V1_SIZES: &[(&str, u32)] = &[$((stringify!($name), <$name as Message>::SIZE_V1),)*];
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
/// ACCEPT request (version 1: [`HandleRequest`], the first 16 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AcceptRequest {
    /// Header.
    pub header: Header,
    /// A listening socket.
    pub handle: Handle,
    /// Version 2: deadline in milliseconds ([`TIMEOUT_DEFAULT`]: none; 1..=[`TIMEOUT_MAX_MS`];
    /// [`TIMEOUT_INFINITE`]: none).
    pub timeout_ms: u32,
    /// Version 2: must be zero.
    pub reserved: u32,
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
    /// Version 2 (a reserved field in version 1). CONNECT: deadline in milliseconds
    /// ([`TIMEOUT_DEFAULT`], 1..=[`TIMEOUT_MAX_MS`], or [`TIMEOUT_INFINITE`]). BIND: zero.
    pub timeout_ms: u32,
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
    /// Receives: [`DATA_FLAG_WAITALL`]. Sends: [`DATA_FLAG_NODELAY`] (version 2).
    pub flags: u32,
    /// Version 2 (a reserved field in version 1): deadline in milliseconds ([`TIMEOUT_DEFAULT`]:
    /// the socket's SO_RCVTIMEO / SO_SNDTIMEO; 1..=[`TIMEOUT_MAX_MS`]; [`TIMEOUT_INFINITE`]: none).
    pub timeout_ms: u32,
    /// *_KERNEL codes: address of a non-paged kernel buffer; 0 for the direct-I/O codes.
    pub buffer: u64,
    /// *_KERNEL codes: its length; 0 for the direct-I/O codes (the output buffer is the data).
    pub length: u64,
}
/// SEND_TO and RECEIVE_FROM request (RECEIVE_FROM ignores `addr`, which must be zeroed).
/// Version 1: the first 48 bytes.
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
    /// Version 2: deadline in milliseconds, as [`DataRequest::timeout_ms`].
    pub timeout_ms: u32,
    /// Version 2: must be zero.
    pub reserved: u32,
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
    /// SET: the value (LINGER: on/off; timeouts: milliseconds, 0 = none; keepalive idle and
    /// interval: seconds; keepalive count: probes; the others: the value). GET: zero.
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
    /// Client to receive the new handle (its id from CLIENT_INFO); 0: the caller. Another
    /// client must have allowed the caller (ALLOW_DUPLICATE): STATUS_ACCESS_DENIED otherwise.
    pub target_client: u64,
}
/// ALLOW_DUPLICATE request (version 4): the caller consents to `count` DUPLICATEs into its own
/// handle table from the client `from_client`, each using up one; replaces what it allowed that
/// client before (0 withdraws it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct AllowDuplicateRequest {
    /// Header.
    pub header: Header,
    /// The client allowed (its id from its CLIENT_INFO): another live client.
    pub from_client: u64,
    /// How many handles it may add, at most the client's handle limit (CLIENT_INFO
    /// `max_handles`); 0: none any more.
    pub count: u32,
    /// Must be zero.
    pub reserved: u32,
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
    /// Version 2: open sockets (a handle open) that are stream sockets (global), or 1 if this
    /// one is.
    pub open_stream: u32,
    /// Version 2: open datagram sockets.
    pub open_datagram: u32,
    /// Version 2: open listening sockets.
    pub open_listen: u32,
    /// Version 2: open stream sockets that are connected (a CONNECT or ACCEPT succeeded, no
    /// SHUTDOWN since).
    pub connected: u32,
    /// Version 2: sockets whose last handle closed and whose teardown has not finished.
    pub teardowns: u32,
    /// Version 2: zero.
    pub reserved: u32,
    /// Version 2: deadlines that passed while their request was pending (the request then
    /// ended with STATUS_IO_TIMEOUT — or with its result, if the operation completed anyway).
    pub deadlines_expired: u64,
}
/// Reply to WAIT_PEER_CLOSE (version 2).
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct PeerCloseReply {
    /// Header.
    pub header: Header,
    /// [`PeerClose`]: how the connection ended.
    pub event: u32,
    /// [`PeerClose::Failed`]: the failure (e.g. STATUS_IO_TIMEOUT when keepalive found the peer
    /// dead); [`PeerClose::Reset`]: STATUS_CONNECTION_RESET; [`PeerClose::Fin`]: STATUS_SUCCESS.
    pub status: u32,
}
/// RESOLVE request (version 1: the first 272 bytes).
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
    /// Version 2: deadline in milliseconds ([`TIMEOUT_DEFAULT`] or [`TIMEOUT_INFINITE`]: none;
    /// 1..=[`TIMEOUT_MAX_MS`]).
    pub timeout_ms: u32,
    /// Version 2: must be zero.
    pub reserved3: u32,
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
    AcceptRequest changed,
    AddressedRequest changed,
    ListenRequest,
    AcceptReply,
    DataRequest changed,
    DatagramRequest changed,
    ReceiveFromReply,
    ShutdownRequest,
    OptionRequest changed,
    OptionReply,
    GetAddressRequest,
    AddressReply,
    DuplicateRequest,
    AllowDuplicateRequest changed,
    CloseRequest,
    CloseReply,
    CancelReply,
    StatisticsReply changed,
    ResolveRequest changed,
    ResolveReply,
    ClientInfoRequest,
    ClientInfoReply,
    PeerCloseReply changed,
);

impl Message for AcceptRequest {
    const SIZE: u32 = size32::<AcceptRequest>();
    /// Version 1 sent a [`HandleRequest`].
    const SIZE_V1: u32 = size32::<HandleRequest>();
}

impl Message for AddressedRequest {
    const SIZE: u32 = size32::<AddressedRequest>();
    const SIZE_V1: u32 = size32::<AddressedRequest>();
    fn valid_in_v1(&self) -> bool {
        self.timeout_ms == 0
    }
}

impl Message for DataRequest {
    const SIZE: u32 = size32::<DataRequest>();
    const SIZE_V1: u32 = size32::<DataRequest>();
    fn valid_in_v1(&self) -> bool {
        self.timeout_ms == 0 && self.flags & DATA_FLAG_NODELAY == 0
    }
}

impl Message for DatagramRequest {
    const SIZE: u32 = size32::<DatagramRequest>();
    /// Up to and including `addr`.
    const SIZE_V1: u32 = 48;
}

impl Message for OptionRequest {
    const SIZE: u32 = size32::<OptionRequest>();
    const SIZE_V1: u32 = size32::<OptionRequest>();
    fn valid_in_v1(&self) -> bool {
        self.option <= SocketOption::Ipv6Only as u32
    }
}

impl Message for StatisticsReply {
    const SIZE: u32 = size32::<StatisticsReply>();
    /// Up to and including `requests_failed`.
    const SIZE_V1: u32 = 96;
}

impl Message for ResolveRequest {
    const SIZE: u32 = size32::<ResolveRequest>();
    /// Up to and including `node`.
    const SIZE_V1: u32 = 272;
}

impl Message for PeerCloseReply {
    const SIZE: u32 = size32::<PeerCloseReply>();
    /// New in version 2.
    const SIZE_V1: u32 = 0;
}

impl Message for AllowDuplicateRequest {
    const SIZE: u32 = size32::<AllowDuplicateRequest>();
    /// New in version 4.
    const SIZE_V1: u32 = 0;
}

/// Entries in [`ResolveReply::addrs`].
pub const RESOLVE_MAX_ADDRS: usize = 8;
/// The most clients one client allows at a time (ALLOW_DUPLICATE with a non-zero count); one
/// more: STATUS_INSUFFICIENT_RESOURCES.
pub const MAX_DUPLICATE_ALLOWANCES: u32 = 8;
/// Offset of the payload in the RECEIVE_FROM output buffer (the reply rounded up to 8 bytes).
pub const RECEIVE_FROM_DATA_OFFSET: usize = (core::mem::size_of::<ReceiveFromReply>() + 7) & !7;
/// CLOSE flag: complete the CLOSE only when the socket's teardown finished (last handle only).
pub const CLOSE_FLAG_WAIT_FOR_TEARDOWN: u32 = 1;
/// Receive flag: complete only when the buffer is full, the peer closed, or the deadline passed
/// (`WSK_FLAG_WAITALL`).
pub const DATA_FLAG_WAITALL: u32 = 0x100;
/// Send flag (version 2): send at once, without waiting to coalesce (`WSK_FLAG_NODELAY`).
pub const DATA_FLAG_NODELAY: u32 = 0x200;
/// `timeout_ms`: no deadline of its own — a data request takes its socket's SO_RCVTIMEO /
/// SO_SNDTIMEO, the others have none.
pub const TIMEOUT_DEFAULT: u32 = 0;
/// `timeout_ms`: no deadline, whatever the socket's default.
pub const TIMEOUT_INFINITE: u32 = 0xFFFF_FFFF;
/// The longest deadline, and the longest SO_RCVTIMEO / SO_SNDTIMEO, in milliseconds (about 24.8
/// days); longer values other than [`TIMEOUT_INFINITE`] get STATUS_INVALID_PARAMETER.
pub const TIMEOUT_MAX_MS: u32 = 0x7FFF_FFFF;
/// The longest keepalive idle time and interval, in seconds (Linux's and Windows' limit).
pub const KEEPALIVE_MAX_SECONDS: u32 = 32_767;
/// The most keepalive probes (Linux's limit).
pub const KEEPALIVE_MAX_PROBES: u32 = 127;

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
    /// Version 2. SO_RCVTIMEO: the deadline in milliseconds of RECEIVE, RECEIVE_FROM and
    /// RECEIVE_KERNEL requests that give none (0: none; at most [`TIMEOUT_MAX_MS`]). Kept by the
    /// driver.
    ReceiveTimeout = 7,
    /// Version 2. SO_SNDTIMEO: the same for SEND, SEND_TO and SEND_KERNEL.
    SendTimeout = 8,
    /// Version 2. TCP_KEEPIDLE: seconds of silence before the first keepalive probe
    /// (1..=[`KEEPALIVE_MAX_SECONDS`]; stream sockets).
    KeepAliveIdle = 9,
    /// Version 2. TCP_KEEPINTVL: seconds between probes (1..=[`KEEPALIVE_MAX_SECONDS`]).
    KeepAliveInterval = 10,
    /// Version 2. TCP_KEEPCNT: unanswered probes before the connection is dropped
    /// (1..=[`KEEPALIVE_MAX_PROBES`]).
    KeepAliveCount = 11,
}

wire_try_from!(SocketOption: u32 => Linger, KeepAlive, NoDelay, ReceiveBuffer, SendBuffer, Ipv6Only,
    ReceiveTimeout, SendTimeout, KeepAliveIdle, KeepAliveInterval, KeepAliveCount);

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

/// How a connection ended, as WAIT_PEER_CLOSE reports it (version 2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u32)]
pub enum PeerClose {
    /// The peer half-closed: FIN (data sent before it can still be received).
    Fin = 1,
    /// The peer reset the connection: RST.
    Reset = 2,
    /// The connection failed (keepalive found the peer dead, the connect failed, it was aborted
    /// here); `status` says how.
    Failed = 3,
}

wire_try_from!(PeerClose: u32 => Fin, Reset, Failed);

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
        assert_eq!(size_of::<AcceptRequest>(), 24);
        assert_eq!(size_of::<DataRequest>(), 40);
        assert_eq!(size_of::<DatagramRequest>(), 56);
        assert_eq!(size_of::<CloseRequest>(), 32);
        assert_eq!(size_of::<StatisticsReply>(), 128);
        assert_eq!(size_of::<ResolveRequest>(), 280);
        assert_eq!(size_of::<PeerCloseReply>(), 16);
        assert_eq!(RECEIVE_FROM_DATA_OFFSET % 8, 0);
        assert!(RECEIVE_FROM_DATA_OFFSET >= size_of::<ReceiveFromReply>());
        assert!(align_of::<DataRequest>() <= 8);
    }

    #[test]
    fn grown_structs_grew_at_their_end() {
        // The version-1 form is a prefix: the fields it had keep their offsets.
        assert_eq!(core::mem::offset_of!(DatagramRequest, timeout_ms), 48);
        assert_eq!(DatagramRequest::SIZE_V1, 48);
        assert_eq!(core::mem::offset_of!(ResolveRequest, timeout_ms), 272);
        assert_eq!(ResolveRequest::SIZE_V1, 272);
        assert_eq!(core::mem::offset_of!(StatisticsReply, open_stream), 96);
        assert_eq!(StatisticsReply::SIZE_V1, 96);
        assert_eq!(core::mem::offset_of!(AcceptRequest, timeout_ms), 16);
        assert_eq!(AcceptRequest::SIZE_V1, HandleRequest::SIZE);
        assert_eq!(PeerCloseReply::size_in(1), None);
        assert_eq!(HandleRequest::size_in(1), Some(16));
        // Version 3 changed only the control codes: version 2 has the current layout.
        assert_eq!(DatagramRequest::size_in(2), Some(DatagramRequest::SIZE));
        assert_eq!(DatagramRequest::size_in(ABI_VERSION), Some(DatagramRequest::SIZE));
        assert_eq!(HandleRequest::size_in(ABI_VERSION + 1), None);
    }

    #[test]
    fn a_reply_is_written_in_the_requests_version() {
        let mut r = StatisticsReply::new_zeroed_with_header();
        r.requests = 7;
        r.deadlines_expired = 9;
        let v1 = r.bytes_for_version(1).to_vec();
        assert_eq!(v1.len(), 96);
        assert_eq!(
            &v1[..8],
            Header {
                size: 96,
                version: 1,
                reserved: 0
            }
            .as_bytes()
        );
        let v2 = r.bytes_for_version(2).to_vec();
        assert_eq!(v2.len(), 128);
        assert_eq!(
            &v2[..8],
            Header {
                size: 128,
                version: 2,
                reserved: 0
            }
            .as_bytes()
        );
        let mut p = PeerCloseReply::new_zeroed_with_header();
        assert_eq!(
            p.bytes_for_version(1).len(),
            16,
            "no version-1 form: the current one"
        );
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
