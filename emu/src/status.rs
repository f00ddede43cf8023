//! Host errors (errno) to NTSTATUS, per profile.
//!
//! The Windows profile uses the statuses WSK returns (e.g. EADDRINUSE → STATUS_ADDRESS_ALREADY_EXISTS);
//! the Wine profile reproduces `sock_error_to_ntstatus` of Wine's netio.sys, which differs in a
//! few places (EADDRINUSE → STATUS_ADDRESS_ALREADY_ASSOCIATED, EADDRNOTAVAIL →
//! STATUS_INVALID_PARAMETER, EMSGSIZE → STATUS_BUFFER_OVERFLOW).

use crate::profile::Profile;
use std::io;
use wsksock_abi::NtStatus;

/// STATUS_BUFFER_OVERFLOW (a warning: data truncated), which the ABI does not name.
pub const STATUS_BUFFER_OVERFLOW: NtStatus = NtStatus(0x8000_0005);

/// Maps a host error to the status the profile's WSK would give.
pub fn from_io(profile: Profile, err: &io::Error) -> NtStatus {
    let wine = profile == Profile::Wine8;
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => NtStatus::STATUS_CONNECTION_REFUSED,
        // EPIPE: the first send after a reset reports ECONNRESET, later ones EPIPE.
        Some(libc::ECONNRESET | libc::EPIPE) => NtStatus::STATUS_CONNECTION_RESET,
        Some(libc::ECONNABORTED) => NtStatus::STATUS_CONNECTION_ABORTED,
        Some(libc::EADDRINUSE) if wine => NtStatus::STATUS_ADDRESS_ALREADY_ASSOCIATED,
        Some(libc::EADDRINUSE) => NtStatus::STATUS_ADDRESS_ALREADY_EXISTS,
        Some(libc::EADDRNOTAVAIL) if wine => NtStatus::STATUS_INVALID_PARAMETER,
        Some(libc::EADDRNOTAVAIL) => NtStatus::STATUS_INVALID_ADDRESS,
        Some(libc::ENETUNREACH | libc::ENETDOWN) => NtStatus::STATUS_NETWORK_UNREACHABLE,
        Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => NtStatus::STATUS_HOST_UNREACHABLE,
        Some(libc::ETIMEDOUT) => NtStatus::STATUS_IO_TIMEOUT,
        Some(libc::ENOTCONN) => NtStatus::STATUS_CONNECTION_DISCONNECTED,
        Some(libc::EINVAL | libc::EDESTADDRREQ | libc::ENOPROTOOPT) => NtStatus::STATUS_INVALID_PARAMETER,
        Some(libc::EACCES | libc::EPERM) => NtStatus::STATUS_ACCESS_DENIED,
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EOPNOTSUPP | libc::EPROTOTYPE) => {
            NtStatus::STATUS_NOT_SUPPORTED
        }
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            NtStatus::STATUS_INSUFFICIENT_RESOURCES
        }
        Some(libc::EMSGSIZE) if wine => STATUS_BUFFER_OVERFLOW,
        Some(libc::EMSGSIZE) => NtStatus::STATUS_INVALID_BUFFER_SIZE,
        Some(libc::EALREADY | libc::EISCONN) => NtStatus::STATUS_INVALID_DEVICE_STATE,
        _ => NtStatus::STATUS_UNSUCCESSFUL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(n: i32) -> io::Error {
        io::Error::from_raw_os_error(n)
    }

    #[test]
    fn profiles_map_as_their_wsk() {
        let w = Profile::Windows;
        assert_eq!(
            from_io(w, &e(libc::ECONNREFUSED)),
            NtStatus::STATUS_CONNECTION_REFUSED
        );
        assert_eq!(
            from_io(w, &e(libc::ECONNRESET)),
            NtStatus::STATUS_CONNECTION_RESET
        );
        assert_eq!(
            from_io(w, &e(libc::EADDRINUSE)),
            NtStatus::STATUS_ADDRESS_ALREADY_EXISTS
        );
        assert_eq!(
            from_io(Profile::Wine8, &e(libc::EADDRINUSE)),
            NtStatus::STATUS_ADDRESS_ALREADY_ASSOCIATED
        );
        assert_eq!(from_io(w, &io::Error::other("x")), NtStatus::STATUS_UNSUCCESSFUL);
    }
}
