//! The cancel bookkeeping of one operation in flight, bound to a socket or not.
//!
//! A cancel can arrive while the provider call is still running, before its cancel reference
//! exists. It is then only recorded; whoever finishes the call ([`CancelState::issued`]) sends it.
//!
//! # Invariants
//! - `opref` is set only once the provider call returned (`issuing` false).
//! - A cancel is handed out at most once: by [`CancelState::request`] if the call had returned,
//!   else by [`CancelState::issued`].

use crate::provider::Provider;

/// What a deadline that passed did.
pub(crate) enum Deadline<R> {
    /// A cancel had been asked for before: the deadline is not the cause.
    CancelledBefore,
    /// The cancel is the deadline's; the reference to cancel now, if the call had returned.
    Passed(Option<R>),
}

/// Cancel state of one operation.
pub(crate) struct CancelState<P: Provider> {
    opref: Option<P::OpRef>,
    requested: bool,
    issuing: bool,
    /// The cancel was its deadline's: a failure is then reported as STATUS_IO_TIMEOUT.
    timed_out: bool,
}

impl<P: Provider> CancelState<P> {
    /// An operation whose provider call is about to be made.
    pub fn issuing() -> Self {
        CancelState {
            opref: None,
            requested: false,
            issuing: true,
            timed_out: false,
        }
    }

    /// The operation's deadline passed: asks for the cancel as [`CancelState::request`] does and
    /// marks it as the deadline's — unless a cancel was asked for before (that is the cause).
    pub fn request_timeout(&mut self) -> Deadline<P::OpRef> {
        if self.requested {
            return Deadline::CancelledBefore;
        }
        self.timed_out = true;
        Deadline::Passed(self.request())
    }

    /// Whether the cancel was the deadline's.
    pub fn is_timed_out(&self) -> bool {
        self.timed_out
    }

    /// Whether a cancel was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested
    }

    /// Asks for a cancel; returns the reference to cancel now, if the call already returned.
    pub fn request(&mut self) -> Option<P::OpRef> {
        if self.requested {
            return None;
        }
        self.requested = true;
        if self.issuing {
            None
        } else {
            self.opref.clone()
        }
    }

    /// The provider call returned `opref`; returns it to cancel now if a cancel arrived meanwhile.
    pub fn issued(&mut self, opref: Option<P::OpRef>) -> Option<P::OpRef> {
        self.issuing = false;
        let now = if self.requested { opref.clone() } else { None };
        self.opref = opref;
        now
    }
}

/// The deadline timer of an operation in flight (its record keeps it).
pub(crate) enum DeadlineTimer<T> {
    /// No deadline.
    None,
    /// Made when the operation was admitted, not armed yet (or never: dropped as it is).
    Reserved(T),
    /// Armed: counted until it fired or was cancelled.
    Armed(T),
}

impl<T> DeadlineTimer<T> {
    /// A timer made for the operation, if any.
    pub fn reserved(t: Option<T>) -> Self {
        t.map_or(DeadlineTimer::None, DeadlineTimer::Reserved)
    }

    /// Takes it out, leaving none.
    pub fn take(&mut self) -> Self {
        core::mem::replace(self, DeadlineTimer::None)
    }

    /// Takes the timer out if it is reserved (to arm it, or drop it).
    pub fn take_reserved(&mut self) -> Option<T> {
        match self.take() {
            DeadlineTimer::Reserved(t) => Some(t),
            other => {
                *self = other;
                None
            }
        }
    }

    /// Takes the timer out if it is armed (it fired, or is to be cancelled).
    pub fn take_armed(&mut self) -> Option<T> {
        match self.take() {
            DeadlineTimer::Armed(t) => Some(t),
            other => {
                *self = other;
                None
            }
        }
    }
}
