//! Control codes: `CTL_CODE(DeviceType, Function, Method, Access)` and the driver's operations.
//!
//! The device type is a vendor value (>= 0x8000) and every function code is >= 0x800, as
//! "Defining I/O Control Codes" requires of third-party drivers. Data operations use direct I/O so
//! the I/O manager probes and locks the caller's buffer into an MDL (no copy in the driver); the
//! `*_KERNEL` codes use `METHOD_NEITHER`, carry a kernel buffer address in the request, and are
//! refused from user mode.
//!
//! The access bits follow Windows convention, and the I/O manager checks them against the
//! handle before the driver sees a request: codes that change state or send data need
//! `FILE_WRITE_DATA` ([`FILE_WRITE_ACCESS`]), codes that read data or state need `FILE_READ_DATA`
//! ([`FILE_READ_ACCESS`]); only CLIENT_INFO (the driver's version and limits) is
//! `FILE_ANY_ACCESS`, so a client can learn the ABI version through any handle. Before ABI
//! version 3 every code was `FILE_ANY_ACCESS`: [`Op::from_code_before_v3`] names those codes,
//! which the driver still serves to kernel callers — whose IRPs the I/O manager does not check
//! anyway — so a kernel consumer built against an older header keeps working.

/// The vendor device type of `\Device\WskSock` (>= 0x8000).
pub const WSKSOCK_DEVICE_TYPE: u32 = 0x8A5C;
/// Device name for kernel consumers.
pub const WSKSOCK_DEVICE_NAME: &str = "\\Device\\WskSock";
/// DOS name for user-mode tools (`\\.\WskSock`).
pub const WSKSOCK_DOS_NAME: &str = "\\DosDevices\\WskSock";

/// `METHOD_BUFFERED`.
pub const METHOD_BUFFERED: u32 = 0;
/// `METHOD_IN_DIRECT`: the output buffer is data the driver reads.
pub const METHOD_IN_DIRECT: u32 = 1;
/// `METHOD_OUT_DIRECT`: the output buffer is data the driver writes.
pub const METHOD_OUT_DIRECT: u32 = 2;
/// `METHOD_NEITHER`: raw pointers, kernel callers only.
pub const METHOD_NEITHER: u32 = 3;
/// `FILE_ANY_ACCESS`: any handle may send the code.
pub const FILE_ANY_ACCESS: u32 = 0;
/// `FILE_READ_ACCESS`: the handle needs `FILE_READ_DATA`.
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS`: the handle needs `FILE_WRITE_DATA`.
pub const FILE_WRITE_ACCESS: u32 = 2;

/// `CTL_CODE` from `devioctl.h`.
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

/// The transfer method encoded in a control code.
pub const fn method_of(code: u32) -> u32 {
    code & 3
}

/// The access bits encoded in a control code (what the I/O manager checks against the handle).
pub const fn access_of(code: u32) -> u32 {
    (code >> 14) & 3
}

macro_rules! ops {
    ($($(#[$doc:meta])* $name:ident = ($func:expr, $method:ident, $access:ident),)*) => {
        /// One operation of the IOCTL interface.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u32)]
        pub enum Op {
            $($(#[$doc])* $name = $func,)*
        }

        impl Op {
            /// Every operation, in function-code order.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The control code of this operation.
            pub const fn code(self) -> u32 {
                match self {
                    $(Op::$name => ctl_code(WSKSOCK_DEVICE_TYPE, $func, $method, $access),)*
                }
            }

            /// The operation a control code names, if it is one of ours.
            pub const fn from_code(code: u32) -> Option<Op> {
                $(if code == Op::$name.code() { return Some(Op::$name); })*
                None
            }

            /// The name used in the C header (`WSKSOCK_IOCTL_<NAME>`).
            pub const fn c_name(self) -> &'static str {
                match self {
                    $(Op::$name => stringify!($name),)*
                }
            }
        }
    };
}

ops! {
    /// Create a socket (stream, datagram or listening; IPv4 or IPv6).
    Socket = (0x800, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Bind a socket to a local address.
    Bind = (0x801, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Start listening on a bound stream socket.
    Listen = (0x802, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Accept one connection on a listening socket (pends).
    Accept = (0x803, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Connect a bound stream socket (pends).
    Connect = (0x804, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Send the output buffer (probed for read by the I/O manager) on a stream socket.
    Send = (0x805, METHOD_IN_DIRECT, FILE_WRITE_ACCESS),
    /// Receive into the output buffer on a stream socket.
    Receive = (0x806, METHOD_OUT_DIRECT, FILE_READ_ACCESS),
    /// Send the output buffer as one datagram to the request's address.
    SendTo = (0x807, METHOD_IN_DIRECT, FILE_WRITE_ACCESS),
    /// Receive one datagram: a [`crate::msg::ReceiveFromReply`] then the payload in the output buffer.
    ReceiveFrom = (0x808, METHOD_OUT_DIRECT, FILE_READ_ACCESS),
    /// Half close (graceful FIN) or abortive reset without closing the handle.
    Shutdown = (0x809, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Set a socket option.
    SetOption = (0x80A, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Read a socket option.
    GetOption = (0x80B, METHOD_BUFFERED, FILE_READ_ACCESS),
    /// Local or peer address of a socket.
    GetAddress = (0x80C, METHOD_BUFFERED, FILE_READ_ACCESS),
    /// Another handle to the same socket, for this client or another.
    Duplicate = (0x80D, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Close a handle (mode, optional wait for the teardown).
    Close = (0x80E, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Cancel the operations pending through a handle without closing it.
    Cancel = (0x80F, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Statistics of one socket, or of the whole driver for the null handle.
    Statistics = (0x810, METHOD_BUFFERED, FILE_READ_ACCESS),
    /// Resolve a host name and service to addresses (pends).
    Resolve = (0x811, METHOD_BUFFERED, FILE_READ_ACCESS),
    /// The client's id and the driver's ABI version and limits.
    ClientInfo = (0x812, METHOD_BUFFERED, FILE_ANY_ACCESS),
    /// Version 2. Wait until the peer of a connection closes (FIN), resets (RST), or the
    /// connection fails (pends; a [`crate::msg::PeerCloseReply`] says which).
    WaitPeerClose = (0x813, METHOD_BUFFERED, FILE_READ_ACCESS),
    /// Version 4. Allow another client to DUPLICATE handles into this one's table (a
    /// [`crate::msg::AllowDuplicateRequest`]: which client, how many).
    AllowDuplicate = (0x814, METHOD_BUFFERED, FILE_WRITE_ACCESS),
    /// Send from a non-paged kernel buffer named in the request (kernel callers only).
    SendKernel = (0x820, METHOD_NEITHER, FILE_WRITE_ACCESS),
    /// Receive into a non-paged kernel buffer named in the request (kernel callers only).
    ReceiveKernel = (0x821, METHOD_NEITHER, FILE_READ_ACCESS),
}

impl Op {
    /// The access the handle needs ([`FILE_READ_ACCESS`], [`FILE_WRITE_ACCESS`] or
    /// [`FILE_ANY_ACCESS`]).
    pub const fn access(self) -> u32 {
        access_of(self.code())
    }

    /// Whether the code uses `METHOD_NEITHER` (accepted only from kernel-mode requestors).
    pub const fn is_kernel_only(self) -> bool {
        method_of(self.code()) == METHOD_NEITHER
    }

    /// The first ABI version that has this operation; requests of an older version get
    /// STATUS_NOT_SUPPORTED.
    pub const fn since_version(self) -> u16 {
        match self {
            Op::WaitPeerClose => 2,
            Op::AllowDuplicate => 4,
            _ => 1,
        }
    }

    /// The function number (bits 2..13 of the code).
    pub const fn function(self) -> u32 {
        (self.code() >> 2) & 0xFFF
    }

    /// The code this operation had in ABI versions 1 and 2: `FILE_ANY_ACCESS`.
    pub const fn code_before_v3(self) -> u32 {
        self.code() & !(3 << 14)
    }

    /// The operation an ABI version 1 or 2 control code named (one of our functions and methods,
    /// with `FILE_ANY_ACCESS`), if it differs from today's code. Served to kernel callers only.
    /// An operation newer than version 2 never had such a code.
    pub const fn from_code_before_v3(code: u32) -> Option<Op> {
        if access_of(code) != FILE_ANY_ACCESS {
            return None;
        }
        let op = match Op::from_code(code | (FILE_READ_ACCESS << 14)) {
            Some(op) => Some(op),
            None => Op::from_code(code | (FILE_WRITE_ACCESS << 14)),
        };
        match op {
            Some(op) if op.since_version() <= 2 => Some(op),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_code_matches_devioctl_h() {
        // CTL_CODE(FILE_DEVICE_NETWORK=0x12, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS) = 0x00122000
        assert_eq!(
            ctl_code(0x12, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS),
            0x0012_2000
        );
        assert_eq!(ctl_code(0x22, 0x801, METHOD_NEITHER, 2), 0x0022_A007);
    }

    #[test]
    fn codes_are_vendor_codes_and_round_trip() {
        for &op in Op::ALL {
            assert!(op.code() >> 16 >= 0x8000, "{op:?} device type");
            assert!(op.function() >= 0x800, "{op:?} function");
            assert_eq!(Op::from_code(op.code()), Some(op));
        }
        assert_eq!(Op::from_code(0), None);
        assert_eq!(Op::from_code(Op::Send.code() ^ 1), None);
    }

    /// Data and state go through handles opened for them: writes (state changes, sends) need
    /// FILE_WRITE_DATA, reads (receives, queries) FILE_READ_DATA; only CLIENT_INFO is open to any
    /// handle.
    #[test]
    fn access_bits_follow_what_a_code_does() {
        let reads = [
            Op::Receive,
            Op::ReceiveFrom,
            Op::ReceiveKernel,
            Op::GetOption,
            Op::GetAddress,
            Op::Statistics,
            Op::Resolve,
            Op::WaitPeerClose,
        ];
        for &op in Op::ALL {
            let want = if op == Op::ClientInfo {
                FILE_ANY_ACCESS
            } else if reads.contains(&op) {
                FILE_READ_ACCESS
            } else {
                FILE_WRITE_ACCESS
            };
            assert_eq!(op.access(), want, "{op:?}");
        }
        assert_eq!(Op::Send.code(), 0x8A5C_A015);
        assert_eq!(Op::Receive.code(), 0x8A5C_601A);
        assert_eq!(Op::ClientInfo.code(), 0x8A5C_2048);
    }

    /// Versions 1 and 2 had every code `FILE_ANY_ACCESS`: each of those codes still names its
    /// operation (for kernel callers), except CLIENT_INFO's, which never changed; nothing else
    /// does.
    #[test]
    fn codes_before_version_3_name_their_operation() {
        for &op in Op::ALL {
            let old = op.code_before_v3();
            let want = if op == Op::ClientInfo || op.since_version() > 2 {
                None
            } else {
                Some(op)
            };
            assert_eq!(Op::from_code_before_v3(old), want, "{op:?}");
            assert_eq!(Op::from_code(old).is_some(), op == Op::ClientInfo, "{op:?}");
        }
        // The version-1 SEND and SOCKET codes, as the version-1 header had them.
        assert_eq!(Op::from_code_before_v3(0x8A5C_2015), Some(Op::Send));
        assert_eq!(Op::from_code_before_v3(0x8A5C_2000), Some(Op::Socket));
        assert_eq!(Op::from_code_before_v3(Op::Send.code()), None);
        assert_eq!(Op::from_code_before_v3(0x8A5C_2FFC), None);
        assert_eq!(Op::from_code_before_v3(0x0022_2000), None);
    }

    #[test]
    fn only_kernel_codes_use_method_neither() {
        let kernel: [Op; 2] = [Op::SendKernel, Op::ReceiveKernel];
        for &op in Op::ALL {
            assert_eq!(op.is_kernel_only(), kernel.contains(&op), "{op:?}");
        }
    }
}
