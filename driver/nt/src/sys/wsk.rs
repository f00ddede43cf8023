//! Winsock Kernel types (`wsk.h`, `ws2def.h`, `ws2ipdef.h`) with x64 layout assertions.
//!
//! `wdk-sys` has no WSK bindings; these are ours. The dispatch tables are read-only tables the
//! provider hands out: the driver only reads function pointers from them.

use super::nt::{IRP, KSPIN_LOCK, MDL, NTSTATUS, UNICODE_STRING};
use core::ffi::c_void;
use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `WSK_CLIENT` (opaque, provider-owned).
#[repr(C)]
pub struct WSK_CLIENT {
    _opaque: [u8; 0],
}

/// `WSK_SOCKET`: its first field is the provider's dispatch table for the socket's kind.
#[repr(C)]
pub struct WSK_SOCKET {
    pub Dispatch: *const c_void,
}

/// `MAKE_WSK_VERSION(1, 0)`.
pub const WSK_VERSION_1_0: u16 = 0x0100;
/// `WSK_INFINITE_WAIT` (never used in DriverEntry).
pub const WSK_INFINITE_WAIT: u32 = 0xffff_ffff;
pub const WSK_NO_WAIT: u32 = 0;

pub const WSK_FLAG_BASIC_SOCKET: u32 = 0x0;
pub const WSK_FLAG_LISTEN_SOCKET: u32 = 0x1;
pub const WSK_FLAG_CONNECTION_SOCKET: u32 = 0x2;
pub const WSK_FLAG_DATAGRAM_SOCKET: u32 = 0x4;
pub const WSK_FLAG_STREAM_SOCKET: u32 = 0x8;
/// `WskDisconnect` flag.
pub const WSK_FLAG_ABORTIVE: u32 = 0x1;
/// `WskReceive` flag: wait until the buffer is full.
pub const WSK_FLAG_WAITALL: u32 = 0x2;
/// `WskSend` flag: send without delay (Nagle).
pub const WSK_FLAG_NODELAY: u32 = 0x2;

/// `NPIID` (a `GUID`).
#[repr(C)]
pub struct NPIID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}

/// `NPI_WSK_INTERFACE_ID` {2227E803-8D8B-11D4-ABAD-009027719E09} (the WDK defines it in a
/// static library; the value is the interface's).
pub static NPI_WSK_INTERFACE_ID: NPIID = NPIID {
    Data1: 0x2227_E803,
    Data2: 0x8D8B,
    Data3: 0x11D4,
    Data4: [0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09],
};

/// `WSK_SO_BASE`.
pub const WSK_SO_BASE: u32 = 0x4000;
/// `SO_WSK_EVENT_CALLBACK`: enable or disable event callbacks (`WskControlSocket`, no IRP).
pub const SO_WSK_EVENT_CALLBACK: u32 = WSK_SO_BASE + 2;
/// `WSK_EVENT_DISCONNECT` (connection and listen sockets).
pub const WSK_EVENT_DISCONNECT: u32 = 0x0000_0080;

/// `WSK_EVENT_CALLBACK_CONTROL`.
#[repr(C)]
pub struct WSK_EVENT_CALLBACK_CONTROL {
    pub NpiId: *const NPIID,
    pub EventMask: u32,
}

/// `PFN_WSK_DISCONNECT_EVENT`: the peer began to disconnect (`Flags` has `WSK_FLAG_ABORTIVE`
/// for a reset). Returns STATUS_SUCCESS.
pub type PFN_WSK_DISCONNECT_EVENT =
    unsafe extern "system" fn(SocketContext: *mut c_void, Flags: u32) -> NTSTATUS;

/// `WSK_CLIENT_CONNECTION_DISPATCH` (the callbacks of connection sockets; `None`: not used).
#[repr(C)]
pub struct WSK_CLIENT_CONNECTION_DISPATCH {
    pub WskReceiveEvent: *const c_void,
    pub WskDisconnectEvent: Option<PFN_WSK_DISCONNECT_EVENT>,
    pub WskSendBacklogEvent: *const c_void,
}

// SAFETY: 1. a static table of function pointers and NULLs, never written.
unsafe impl Sync for WSK_CLIENT_CONNECTION_DISPATCH {}

/// `WSK_CONTROL_SOCKET_TYPE`.
pub const WskSetOption: u32 = 0;
pub const WskGetOption: u32 = 1;
pub const WskIoctl: u32 = 2;

pub const AF_UNSPEC: u16 = 0;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 23;
pub const SOCK_STREAM: u16 = 1;
pub const SOCK_DGRAM: u16 = 2;
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;
pub const IPPROTO_IPV6: u32 = 41;
pub const SOL_SOCKET: u32 = 0xffff;
pub const SO_KEEPALIVE: u32 = 0x0008;
pub const SO_SNDBUF: u32 = 0x1001;
pub const SO_RCVBUF: u32 = 0x1002;
pub const TCP_NODELAY: u32 = 0x0001;
/// `TCP_KEEPALIVE` (= `TCP_KEEPIDLE`): seconds before the first keepalive probe.
pub const TCP_KEEPALIVE: u32 = 3;
/// `TCP_KEEPCNT`: probes before the connection is dropped (Windows 10 1703+).
pub const TCP_KEEPCNT: u32 = 16;
/// `TCP_KEEPINTVL`: seconds between probes (Windows 10 1709+).
pub const TCP_KEEPINTVL: u32 = 17;
pub const IPV6_V6ONLY: u32 = 27;
/// `NS_ALL`.
pub const NS_ALL: u32 = 0;

/// `WSK_BUF`.
#[repr(C)]
pub struct WSK_BUF {
    pub Mdl: *mut MDL,
    pub Offset: u32,
    pub Length: usize,
}

/// `SOCKADDR` header.
#[repr(C)]
pub struct SOCKADDR {
    pub sa_family: u16,
    pub sa_data: [u8; 14],
}

/// `SOCKADDR_IN`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SOCKADDR_IN {
    pub sin_family: u16,
    /// Network byte order.
    pub sin_port: u16,
    pub sin_addr: [u8; 4],
    pub sin_zero: [u8; 8],
}

/// `SOCKADDR_IN6`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SOCKADDR_IN6 {
    pub sin6_family: u16,
    /// Network byte order.
    pub sin6_port: u16,
    /// Network byte order.
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u8; 16],
    pub sin6_scope_id: u32,
}

/// `SOCKADDR_STORAGE`.
#[repr(C, align(8))]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SOCKADDR_STORAGE {
    pub ss_family: u16,
    pub _data: [u8; 126],
}

/// `ADDRINFOEXW`.
#[repr(C)]
pub struct ADDRINFOEXW {
    pub ai_flags: i32,
    pub ai_family: i32,
    pub ai_socktype: i32,
    pub ai_protocol: i32,
    pub ai_addrlen: usize,
    pub ai_canonname: *mut u16,
    pub ai_addr: *mut SOCKADDR,
    pub ai_blob: *mut c_void,
    pub ai_bloblen: usize,
    pub ai_provider: *mut c_void,
    pub ai_next: *mut ADDRINFOEXW,
}

/// `PFN_WSK_CLIENT_EVENT`.
pub type PFN_WSK_CLIENT_EVENT = unsafe extern "system" fn(*mut c_void, u32, *mut c_void, usize) -> NTSTATUS;

/// `WSK_CLIENT_DISPATCH`.
#[repr(C)]
pub struct WSK_CLIENT_DISPATCH {
    pub Version: u16,
    pub Reserved: u16,
    pub WskClientEvent: Option<PFN_WSK_CLIENT_EVENT>,
}

/// `WSK_CLIENT_NPI`.
#[repr(C)]
pub struct WSK_CLIENT_NPI {
    pub ClientContext: *mut c_void,
    pub Dispatch: *const WSK_CLIENT_DISPATCH,
}

/// `WSK_REGISTRATION` (provider-private fields).
#[repr(C)]
pub struct WSK_REGISTRATION {
    pub ReservedRegistrationState: u64,
    pub ReservedRegistrationContext: *mut c_void,
    pub ReservedRegistrationLock: KSPIN_LOCK,
}

/// `WSK_PROVIDER_NPI`.
#[repr(C)]
pub struct WSK_PROVIDER_NPI {
    pub Client: *mut WSK_CLIENT,
    pub Dispatch: *const WSK_PROVIDER_DISPATCH,
}

pub type PFN_WSK_SOCKET = unsafe extern "system" fn(
    Client: *mut WSK_CLIENT,
    AddressFamily: u16,
    SocketType: u16,
    Protocol: u32,
    Flags: u32,
    SocketContext: *mut c_void,
    Dispatch: *const c_void,
    OwningProcess: *mut c_void,
    OwningThread: *mut c_void,
    SecurityDescriptor: *mut c_void,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_GET_ADDRESS_INFO = unsafe extern "system" fn(
    Client: *mut WSK_CLIENT,
    NodeName: *mut UNICODE_STRING,
    ServiceName: *mut UNICODE_STRING,
    NameSpace: u32,
    Provider: *mut c_void,
    Hints: *mut ADDRINFOEXW,
    Result: *mut *mut ADDRINFOEXW,
    OwningProcess: *mut c_void,
    OwningThread: *mut c_void,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_FREE_ADDRESS_INFO =
    unsafe extern "system" fn(Client: *mut WSK_CLIENT, AddrInfo: *mut ADDRINFOEXW);

/// `WSK_PROVIDER_DISPATCH`.
#[repr(C)]
pub struct WSK_PROVIDER_DISPATCH {
    pub Version: u16,
    pub Reserved: u16,
    pub WskSocket: PFN_WSK_SOCKET,
    pub WskSocketConnect: *const c_void,
    pub WskControlClient: *const c_void,
    pub WskGetAddressInfo: PFN_WSK_GET_ADDRESS_INFO,
    pub WskFreeAddressInfo: PFN_WSK_FREE_ADDRESS_INFO,
    pub WskGetNameInfo: *const c_void,
}

pub type PFN_WSK_CONTROL_SOCKET = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    RequestType: u32,
    ControlCode: u32,
    Level: u32,
    InputSize: usize,
    InputBuffer: *mut c_void,
    OutputSize: usize,
    OutputBuffer: *mut c_void,
    OutputSizeReturned: *mut usize,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_CLOSE_SOCKET = unsafe extern "system" fn(Socket: *mut WSK_SOCKET, Irp: *mut IRP) -> NTSTATUS;
pub type PFN_WSK_BIND = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    LocalAddress: *mut SOCKADDR,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_ACCEPT = unsafe extern "system" fn(
    ListenSocket: *mut WSK_SOCKET,
    Flags: u32,
    AcceptSocketContext: *mut c_void,
    AcceptSocketDispatch: *const c_void,
    LocalAddress: *mut SOCKADDR,
    RemoteAddress: *mut SOCKADDR,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_CONNECT = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    RemoteAddress: *mut SOCKADDR,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_LISTEN = unsafe extern "system" fn(Socket: *mut WSK_SOCKET, Irp: *mut IRP) -> NTSTATUS;
pub type PFN_WSK_SEND = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_RECEIVE = PFN_WSK_SEND;
pub type PFN_WSK_DISCONNECT = PFN_WSK_SEND;
pub type PFN_WSK_GET_LOCAL_ADDRESS = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    LocalAddress: *mut SOCKADDR,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_GET_REMOTE_ADDRESS = PFN_WSK_GET_LOCAL_ADDRESS;
pub type PFN_WSK_SEND_TO = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlInfoLength: u32,
    ControlInfo: *mut c_void,
    Irp: *mut IRP,
) -> NTSTATUS;
pub type PFN_WSK_RECEIVE_FROM = unsafe extern "system" fn(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlLength: *mut u32,
    ControlInfo: *mut c_void,
    ControlFlags: *mut u32,
    Irp: *mut IRP,
) -> NTSTATUS;

/// `WSK_PROVIDER_BASIC_DISPATCH`.
#[repr(C)]
pub struct WSK_PROVIDER_BASIC_DISPATCH {
    pub WskControlSocket: PFN_WSK_CONTROL_SOCKET,
    pub WskCloseSocket: PFN_WSK_CLOSE_SOCKET,
}

/// `WSK_PROVIDER_LISTEN_DISPATCH`.
#[repr(C)]
pub struct WSK_PROVIDER_LISTEN_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskAccept: PFN_WSK_ACCEPT,
    pub WskInspectComplete: *const c_void,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
}

/// `WSK_PROVIDER_DATAGRAM_DISPATCH`.
#[repr(C)]
pub struct WSK_PROVIDER_DATAGRAM_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskSendTo: PFN_WSK_SEND_TO,
    pub WskReceiveFrom: PFN_WSK_RECEIVE_FROM,
    pub WskRelease: *const c_void,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskSendMessages: *const c_void,
}

/// `WSK_PROVIDER_CONNECTION_DISPATCH`.
#[repr(C)]
pub struct WSK_PROVIDER_CONNECTION_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskConnect: PFN_WSK_CONNECT,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskGetRemoteAddress: PFN_WSK_GET_REMOTE_ADDRESS,
    pub WskSend: PFN_WSK_SEND,
    pub WskReceive: PFN_WSK_RECEIVE,
    pub WskDisconnect: PFN_WSK_DISCONNECT,
    pub WskRelease: *const c_void,
    pub WskConnectEx: *const c_void,
    pub WskSendEx: *const c_void,
    pub WskReceiveEx: *const c_void,
}

/// `WSK_PROVIDER_STREAM_DISPATCH` (declared for completeness; the driver uses connection and
/// listen sockets, which Wine supports, rather than stream sockets).
#[repr(C)]
pub struct WSK_PROVIDER_STREAM_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskAccept: PFN_WSK_ACCEPT,
    pub WskConnect: PFN_WSK_CONNECT,
    pub WskListen: PFN_WSK_LISTEN,
    pub WskSend: PFN_WSK_SEND,
    pub WskReceive: PFN_WSK_RECEIVE,
    pub WskDisconnect: PFN_WSK_DISCONNECT,
    pub WskRelease: *const c_void,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskGetRemoteAddress: PFN_WSK_GET_REMOTE_ADDRESS,
    pub WskConnectEx: *const c_void,
    pub WskSendEx: *const c_void,
    pub WskReceiveEx: *const c_void,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<WSK_CLIENT_DISPATCH>() == 0x10);
    assert!(size_of::<NPIID>() == 0x10);
    assert!(size_of::<WSK_EVENT_CALLBACK_CONTROL>() == 0x10);
    assert!(offset_of!(WSK_EVENT_CALLBACK_CONTROL, EventMask) == 0x08);
    assert!(offset_of!(WSK_CLIENT_CONNECTION_DISPATCH, WskDisconnectEvent) == 0x08);
    assert!(size_of::<WSK_CLIENT_CONNECTION_DISPATCH>() == 0x18);
    assert!(size_of::<WSK_CLIENT_NPI>() == 0x10);
    assert!(size_of::<WSK_REGISTRATION>() == 0x18);
    assert!(size_of::<WSK_PROVIDER_NPI>() == 0x10);
    assert!(offset_of!(WSK_PROVIDER_DISPATCH, WskSocket) == 0x08);
    assert!(offset_of!(WSK_PROVIDER_DISPATCH, WskGetAddressInfo) == 0x20);
    assert!(offset_of!(WSK_PROVIDER_DISPATCH, WskFreeAddressInfo) == 0x28);
    assert!(size_of::<WSK_PROVIDER_DISPATCH>() == 0x38);
    assert!(size_of::<WSK_BUF>() == 0x18);
    assert!(offset_of!(WSK_BUF, Offset) == 0x08);
    assert!(offset_of!(WSK_BUF, Length) == 0x10);
    assert!(size_of::<WSK_PROVIDER_BASIC_DISPATCH>() == 0x10);
    assert!(offset_of!(WSK_PROVIDER_LISTEN_DISPATCH, WskAccept) == 0x18);
    assert!(offset_of!(WSK_PROVIDER_LISTEN_DISPATCH, WskGetLocalAddress) == 0x28);
    assert!(size_of::<WSK_PROVIDER_LISTEN_DISPATCH>() == 0x30);
    assert!(offset_of!(WSK_PROVIDER_DATAGRAM_DISPATCH, WskSendTo) == 0x18);
    assert!(offset_of!(WSK_PROVIDER_DATAGRAM_DISPATCH, WskReceiveFrom) == 0x20);
    assert!(offset_of!(WSK_PROVIDER_DATAGRAM_DISPATCH, WskGetLocalAddress) == 0x30);
    assert!(size_of::<WSK_PROVIDER_DATAGRAM_DISPATCH>() == 0x40);
    assert!(offset_of!(WSK_PROVIDER_CONNECTION_DISPATCH, WskConnect) == 0x18);
    assert!(offset_of!(WSK_PROVIDER_CONNECTION_DISPATCH, WskGetRemoteAddress) == 0x28);
    assert!(offset_of!(WSK_PROVIDER_CONNECTION_DISPATCH, WskSend) == 0x30);
    assert!(offset_of!(WSK_PROVIDER_CONNECTION_DISPATCH, WskReceive) == 0x38);
    assert!(offset_of!(WSK_PROVIDER_CONNECTION_DISPATCH, WskDisconnect) == 0x40);
    assert!(size_of::<WSK_PROVIDER_CONNECTION_DISPATCH>() == 0x68);
    assert!(offset_of!(WSK_PROVIDER_STREAM_DISPATCH, WskListen) == 0x28);
    assert!(size_of::<WSK_PROVIDER_STREAM_DISPATCH>() == 0x78);
    assert!(size_of::<SOCKADDR>() == 0x10);
    assert!(size_of::<SOCKADDR_IN>() == 0x10);
    assert!(size_of::<SOCKADDR_IN6>() == 0x1C);
    assert!(size_of::<SOCKADDR_STORAGE>() == 0x80);
    assert!(offset_of!(ADDRINFOEXW, ai_addrlen) == 0x10);
    assert!(offset_of!(ADDRINFOEXW, ai_addr) == 0x20);
    assert!(offset_of!(ADDRINFOEXW, ai_next) == 0x40);
    assert!(size_of::<ADDRINFOEXW>() == 0x48);
};
