//! What the framework checks about a request's state (`FxRequest`'s verifier methods): who owns
//! it, whether it is cancelable, cancelled or completed. The IRP-level race (the cancel routine
//! against `WdfRequestUnmarkCancelable`) is the caller's, through `IoSetCancelRoutine`; this is
//! the bookkeeping around it, under the request's lock.

use super::validate::{status, Violation};

/// A request's state as the framework tracks it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "the framework's own request flags")]
pub struct RequestState {
    /// Presented to the driver (its callback received it): the driver owns it.
    pub driver_owned: bool,
    /// Marked cancelable (`WdfRequestMarkCancelableEx`), not unmarked since.
    pub marked: bool,
    /// Its cancel routine fired (the driver's `EvtRequestCancel` runs or ran).
    pub cancelled: bool,
    /// Completed: the handle is dead.
    pub completed: bool,
}

/// A fatal misuse: the framework bug-checks (`WDF_VIOLATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fatal(pub &'static str);

impl RequestState {
    /// Any use of the request: a completed request's handle is dead (`FxObjectHandleGetPtr` on a
    /// deleted object).
    pub fn live(&self) -> Result<(), Fatal> {
        if self.completed {
            return Err(Fatal("the request was already completed (its handle is dead)"));
        }
        Ok(())
    }

    /// `WdfRequestMarkCancelableEx` may proceed.
    pub fn may_mark(&self) -> Result<Result<(), Violation>, Fatal> {
        self.live()?;
        Ok(if !self.driver_owned {
            Err(Violation {
                status: status::INVALID_DEVICE_REQUEST,
                why: "WdfRequestMarkCancelableEx on a request the driver does not own",
            })
        } else if self.marked {
            Err(Violation {
                status: status::INVALID_DEVICE_REQUEST,
                why: "WdfRequestMarkCancelableEx on a request already cancelable: call WdfRequestUnmarkCancelable first",
            })
        } else {
            Ok(())
        })
    }

    /// `WdfRequestUnmarkCancelable` may proceed.
    pub fn may_unmark(&self) -> Result<Result<(), Violation>, Fatal> {
        self.live()?;
        Ok(if self.marked {
            Ok(())
        } else {
            Err(Violation {
                status: status::INVALID_DEVICE_REQUEST,
                why: "WdfRequestUnmarkCancelable on a request that is not cancelable",
            })
        })
    }

    /// `WdfRequestComplete*`: `Some(reason)` for a misuse the framework reports but lets through.
    pub fn may_complete(&self) -> Result<Option<&'static str>, Fatal> {
        if self.completed {
            return Err(Fatal("the request is completed twice"));
        }
        Ok((self.marked && !self.cancelled).then_some(
            "completing a cancelable request: call WdfRequestUnmarkCancelable first; if it returns STATUS_CANCELLED, complete from EvtRequestCancel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned() -> RequestState {
        RequestState {
            driver_owned: true,
            ..RequestState::default()
        }
    }

    #[test]
    fn mark_unmark_complete_in_order() {
        let mut r = owned();
        assert_eq!(r.may_mark(), Ok(Ok(())));
        r.marked = true;
        assert!(matches!(r.may_mark(), Ok(Err(_))), "marking twice is refused");
        assert_eq!(r.may_unmark(), Ok(Ok(())));
        r.marked = false;
        assert!(matches!(r.may_unmark(), Ok(Err(_))), "unmarking twice is refused");
        assert_eq!(r.may_complete(), Ok(None));
        r.completed = true;
        assert!(r.may_complete().is_err(), "a second completion is fatal");
        assert!(r.may_mark().is_err() && r.may_unmark().is_err() && r.live().is_err());
    }

    #[test]
    fn completing_a_cancelable_request_is_reported_unless_it_was_cancelled() {
        let mut r = owned();
        r.marked = true;
        assert!(matches!(r.may_complete(), Ok(Some(_))));
        r.cancelled = true;
        assert_eq!(r.may_complete(), Ok(None));
    }

    #[test]
    fn a_request_the_driver_does_not_own_cannot_be_marked() {
        assert!(matches!(RequestState::default().may_mark(), Ok(Err(_))));
    }
}
