//! NTSTATUS values the driver returns, with their names.
//!
//! The table below is the single source: the Rust constants, [`NtStatus::name`] and the
//! `#define`s of the C header all come from it.

/// An NTSTATUS value (`LONG` in C; kept as its bit pattern).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct NtStatus(pub u32);

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $val:expr,)*) => {
        impl NtStatus {
            $($(#[$doc])* pub const $name: NtStatus = NtStatus($val);)*

            /// Every status this ABI names, in table order (for the C header and tests).
            pub const ALL: &'static [(&'static str, NtStatus)] = &[$((stringify!($name), NtStatus($val)),)*];

            /// The C name of a status this ABI knows, e.g. `"STATUS_CANCELLED"`.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// The operation completed successfully.
    STATUS_SUCCESS = 0x0000_0000,
    /// The operation is in progress (never seen in a reply).
    STATUS_PENDING = 0x0000_0103,
    /// A wait or operation timed out.
    STATUS_TIMEOUT = 0x0000_0102,
    /// Generic failure.
    STATUS_UNSUCCESSFUL = 0xC000_0001,
    /// The provider does not implement this operation (Wine's WSK stubs).
    STATUS_NOT_IMPLEMENTED = 0xC000_0002,
    /// The handle is closed, stale, or belongs to another client.
    STATUS_INVALID_HANDLE = 0xC000_0008,
    /// A field of the request has a value the driver refuses.
    STATUS_INVALID_PARAMETER = 0xC000_000D,
    /// The control code is not one of this driver's.
    STATUS_INVALID_DEVICE_REQUEST = 0xC000_0010,
    /// The caller may not issue this request (e.g. a kernel-only code from user mode).
    STATUS_ACCESS_DENIED = 0xC000_0022,
    /// The input is shorter than the request, or the output cannot hold the reply.
    STATUS_BUFFER_TOO_SMALL = 0xC000_0023,
    /// The file object is being cleaned up.
    STATUS_DELETE_PENDING = 0xC000_0056,
    /// The request's ABI version is not one this driver speaks.
    STATUS_REVISION_MISMATCH = 0xC000_0059,
    /// A limit (pending operations, handles, memory) was reached.
    STATUS_INSUFFICIENT_RESOURCES = 0xC000_009A,
    /// The driver is unloading.
    STATUS_DEVICE_NOT_READY = 0xC000_00A3,
    /// The socket was closed while the operation was being set up.
    STATUS_FILE_FORCED_CLOSED = 0xC000_00B6,
    /// The request is not supported (unknown option, unsupported socket kind).
    STATUS_NOT_SUPPORTED = 0xC000_00BB,
    /// The operation was cancelled (closed handle, CANCEL request, or IoCancelIrp).
    STATUS_CANCELLED = 0xC000_0120,
    /// The address is not valid for this socket.
    STATUS_INVALID_ADDRESS = 0xC000_0141,
    /// The operation is not valid in the socket's current state (e.g. connect before bind).
    STATUS_INVALID_DEVICE_STATE = 0xC000_0184,
    /// The data buffer has a size the operation refuses.
    STATUS_INVALID_BUFFER_SIZE = 0xC000_0206,
    /// A kernel caller's buffer is not in system space or not resident (`*_KERNEL` requests).
    STATUS_INVALID_USER_BUFFER = 0xC000_00E8,
    /// The address is already in use.
    STATUS_ADDRESS_ALREADY_EXISTS = 0xC000_020A,
    /// The connection was disconnected.
    STATUS_CONNECTION_DISCONNECTED = 0xC000_020C,
    /// The peer reset the connection.
    STATUS_CONNECTION_RESET = 0xC000_020D,
    /// The peer refused the connection.
    STATUS_CONNECTION_REFUSED = 0xC000_0236,
    /// The peer closed its sending side.
    STATUS_GRACEFUL_DISCONNECT = 0xC000_0237,
    /// The network cannot be reached.
    STATUS_NETWORK_UNREACHABLE = 0xC000_023C,
    /// The host cannot be reached.
    STATUS_HOST_UNREACHABLE = 0xC000_023D,
    /// The connection was aborted locally.
    STATUS_CONNECTION_ABORTED = 0xC000_0241,
    /// The name did not resolve.
    STATUS_NOT_FOUND = 0xC000_0225,
    /// The socket is already bound.
    STATUS_ADDRESS_ALREADY_ASSOCIATED = 0xC000_0328,
    /// The operation timed out at the transport.
    STATUS_IO_TIMEOUT = 0xC000_00B5,
}

impl NtStatus {
    /// `NT_SUCCESS()`: success and informational values.
    pub const fn is_success(self) -> bool {
        self.0 >> 31 == 0
    }

    /// Severity "error" (the top two bits set).
    pub const fn is_error(self) -> bool {
        self.0 >> 30 == 3
    }
}

impl core::fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "NTSTATUS({:#010x})", self.0),
        }
    }
}

impl core::fmt::Display for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::NtStatus;

    #[test]
    fn names_round_trip_and_are_unique() {
        for (i, (name, st)) in NtStatus::ALL.iter().enumerate() {
            assert_eq!(st.name(), Some(*name));
            for (other, st2) in &NtStatus::ALL[i + 1..] {
                assert_ne!(st, st2, "{name} and {other} share a value");
            }
        }
    }

    #[test]
    fn severity() {
        assert!(NtStatus::STATUS_SUCCESS.is_success());
        assert!(NtStatus::STATUS_PENDING.is_success());
        assert!(!NtStatus::STATUS_CANCELLED.is_success());
        assert!(NtStatus::STATUS_CANCELLED.is_error());
        assert_eq!(format!("{:?}", NtStatus(0xC000_9999)), "NTSTATUS(0xc0009999)");
    }
    extern crate std;
    use std::format;
}
