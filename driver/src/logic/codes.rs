//! Which control code a request is served as: its own, or — for a kernel caller built against a
//! header older than ABI version 3 — the current code of the operation its `FILE_ANY_ACCESS` code
//! named (docs/ABI.md, "Versions").
//!
//! The I/O manager checks a code's access bits only for user-mode requests; a kernel caller's IRP
//! (`IoBuildDeviceIoControlRequest`) is never checked, so serving it the old code loses nothing.
//! From user mode an old code stays unknown: serving it would let a handle without
//! `FILE_WRITE_DATA` send what its current code makes the I/O manager refuse.

use wsksock_abi::Op;

/// The code the engine sees for a request with `code` from a kernel (`true`) or user requestor.
pub fn served_code(code: u32, kernel_requestor: bool) -> u32 {
    if !kernel_requestor || Op::from_code(code).is_some() {
        return code;
    }
    Op::from_code_before_v3(code).map_or(code, Op::code)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    #[test]
    fn current_codes_are_served_as_they_are() {
        for &op in Op::ALL {
            assert_eq!(served_code(op.code(), true), op.code(), "{op:?}");
            assert_eq!(served_code(op.code(), false), op.code(), "{op:?}");
        }
    }

    #[test]
    fn a_kernel_callers_version_2_code_is_served_as_todays() {
        for &op in Op::ALL.iter().filter(|op| op.since_version() <= 2) {
            assert_eq!(served_code(op.code_before_v3(), true), op.code(), "{op:?}");
        }
        // An operation newer than version 2 never had a FILE_ANY_ACCESS code: such a code
        // stays unknown, from the kernel too.
        let newer = Op::AllowDuplicate.code_before_v3();
        assert_eq!(Op::from_code(served_code(newer, true)), None);
    }

    #[test]
    fn a_user_mode_version_2_code_stays_unknown() {
        for &op in Op::ALL {
            let old = op.code_before_v3();
            if op != Op::ClientInfo {
                assert_eq!(served_code(old, false), old, "{op:?}");
                assert_eq!(Op::from_code(served_code(old, false)), None, "{op:?}");
            }
        }
        assert_eq!(served_code(0x0022_2003, true), 0x0022_2003);
    }
}
