//! What the return value of a WSK call means for the IRP handed to it.
//!
//! WSK completes the IRP of every call, even a failing one, before or after returning; the
//! return value is then the IRP's status or STATUS_PENDING. Wine's stubs (WskDisconnect,
//! WskControlSocket, WskGetLocalAddress, ...) instead return STATUS_NOT_IMPLEMENTED *without*
//! completing the IRP. The driver must never wait for an IRP like that: it takes the completion
//! context back itself and reports the returned status.

use crate::status::{nt, NtStatus};
use crate::sys::{NTSTATUS, STATUS_PENDING};

/// What to do after a WSK call returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AfterCall {
    /// The completion routine ran or will run: it owns the context and reports the result.
    LeaveToRoutine,
    /// The provider returned without completing the IRP and never will: take the context back
    /// and complete the operation with this status.
    Reclaim(NTSTATUS),
}

/// Decides from the returned status and whether the completion routine has run by now.
///
/// `routine_ran` must be read *after* the call returned. A non-pending return means the call is
/// over: if the routine has not run by then, it never will.
pub fn after_call(returned: NTSTATUS, routine_ran: bool) -> AfterCall {
    if returned == STATUS_PENDING || routine_ran {
        AfterCall::LeaveToRoutine
    } else if returned >= 0 {
        // A success without completing the IRP breaks the WSK contract; the result (a socket, an
        // address) is unknown, so it cannot be reported as success.
        AfterCall::Reclaim(nt(NtStatus::STATUS_UNSUCCESSFUL))
    } else {
        AfterCall::Reclaim(returned)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;
    use crate::sys::STATUS_SUCCESS;

    const NOT_IMPLEMENTED: NTSTATUS = nt(NtStatus::STATUS_NOT_IMPLEMENTED);
    const REFUSED: NTSTATUS = nt(NtStatus::STATUS_CONNECTION_REFUSED);

    #[test]
    fn pending_is_always_left_to_the_routine() {
        assert_eq!(after_call(STATUS_PENDING, false), AfterCall::LeaveToRoutine);
        assert_eq!(after_call(STATUS_PENDING, true), AfterCall::LeaveToRoutine);
    }

    #[test]
    fn a_completed_irp_is_left_to_the_routine_whatever_the_status() {
        assert_eq!(after_call(STATUS_SUCCESS, true), AfterCall::LeaveToRoutine);
        assert_eq!(after_call(REFUSED, true), AfterCall::LeaveToRoutine);
    }

    #[test]
    fn wine_stub_failure_is_reclaimed_with_its_status() {
        assert_eq!(
            after_call(NOT_IMPLEMENTED, false),
            AfterCall::Reclaim(NOT_IMPLEMENTED)
        );
    }

    #[test]
    fn success_without_completion_is_reported_as_failure() {
        match after_call(STATUS_SUCCESS, false) {
            AfterCall::Reclaim(st) => assert!(st < 0),
            AfterCall::LeaveToRoutine => panic!("must not wait for an IRP that never completes"),
        }
    }
}
