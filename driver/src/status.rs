//! NTSTATUS values: one source, the ABI's table ([`NtStatus`], which also makes the C header's).
//!
//! The driver names every status it returns through `NtStatus::STATUS_*` and converts at the
//! kernel's edge, where an `NTSTATUS` is an `i32` with the same bits; only the kernel's own
//! protocol values that are never a request's result (`STATUS_PENDING`,
//! `STATUS_MORE_PROCESSING_REQUIRED`) live with the bindings in `sys`.

use crate::sys::NTSTATUS;
pub use wsksock_abi::NtStatus;

/// An ABI status as the kernel's `NTSTATUS` (the same bits).
pub const fn nt(s: NtStatus) -> NTSTATUS {
    s.0.cast_signed()
}

/// A kernel `NTSTATUS` as the ABI's type (the same bits).
pub const fn abi(s: NTSTATUS) -> NtStatus {
    NtStatus(s.cast_unsigned())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_the_bits() {
        assert_eq!(nt(NtStatus::STATUS_CANCELLED), 0xC000_0120_u32.cast_signed());
        assert!(
            nt(NtStatus::STATUS_CANCELLED) < 0,
            "errors are negative NTSTATUS values"
        );
        assert_eq!(nt(NtStatus::STATUS_SUCCESS), 0);
        for (_, st) in NtStatus::ALL {
            assert_eq!(abi(nt(*st)), *st);
        }
    }
}
