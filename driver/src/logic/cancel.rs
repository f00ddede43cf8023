//! The race between completing a client request and cancelling it (`IoCancelIrp`/`CancelIoEx`).
//!
//! A pending client request has a cancel routine armed (WDM: `IoSetCancelRoutine`; KMDF:
//! `WdfRequestMarkCancelableEx`). The routine asks the engine to cancel (which may complete the
//! request synchronously, inside the routine) and the engine may complete the request from any
//! thread at the same time. The rules this state machine enforces:
//! 1. the request is finished (`IoCompleteRequest` / `WdfRequestComplete`) exactly once;
//! 2. a completer that cannot disarm the routine (it has been or is being invoked) never finishes
//!    the request under the routine's feet: it leaves its result and the routine finishes it —
//!    or, if the routine is already over, finishes it itself;
//! 3. a request cancelled *before* its routine was armed (the framework will never call it) is
//!    not armed (`Idle`): the front end tells the engine (`CancelArm::Cancelled`), which cancels
//!    the request's operation itself once its call returned — no deferred callback, so nothing is
//!    allocated for it;
//! 4. a request whose routine the framework could not arm for want of resources stays
//!    non-cancelable (`Idle`): it is never cancelled for that reason, and it still ends — with its
//!    operation, or with a CLOSE of its handle or the client's cleanup, which the engine cancels
//!    without the framework.
//!
//! # States
//! `Idle → Armed → Cancelling → CancelDone → Finished`, with `Deferred` (a result waiting for the
//! routine) reachable from `Armed` and `Cancelling`.
//!
//! Rules 1 and 2 are model-checked with loom over every interleaving of a completer and a
//! canceller (`driver/tests/loom.rs`, `cargo xtask loom`); the unit tests below walk each path.

use super::sync::{AtomicI32, AtomicU8, AtomicUsize, Ordering};

/// The states (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum State {
    /// No cancel routine armed.
    Idle = 0,
    /// The framework's cancel routine is armed.
    Armed = 1,
    /// The routine is running (asking the engine to cancel).
    Cancelling = 2,
    /// The routine finished; the request is no longer cancelable.
    CancelDone = 3,
    /// A result is waiting for the routine to finish the request.
    Deferred = 4,
    /// The request is finished.
    Finished = 5,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Idle,
            1 => State::Armed,
            2 => State::Cancelling,
            3 => State::CancelDone,
            4 => State::Deferred,
            _ => State::Finished,
        }
    }
}

/// What the completer must do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnComplete {
    /// Finish the request now.
    FinishNow,
    /// The cancel routine will finish it with the stored result.
    LeftToRoutine,
    /// The request was already completed (a caller bug): do nothing.
    AlreadyCompleted,
}

/// What the cancel routine must do when it starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnCancel {
    /// Ask the engine to cancel, then call [`CancelState::after_cancel`].
    AskEngine,
    /// A result is already stored: finish the request with it.
    Finish(i32, usize),
    /// Nothing to do (not armed).
    Nothing,
}

/// What the routine must do after asking the engine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AfterCancel {
    /// The request is still pending; the completer will finish it.
    Done,
    /// The engine completed meanwhile: finish with the stored result.
    Finish(i32, usize),
}

/// The shared state of one request's cancel/complete race.
#[derive(Debug)]
pub struct CancelState {
    state: AtomicU8,
    status: AtomicI32,
    information: AtomicUsize,
}

impl Default for CancelState {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelState {
    /// A request with no cancel routine.
    pub fn new() -> Self {
        CancelState {
            state: AtomicU8::new(State::Idle as u8),
            status: AtomicI32::new(0),
            information: AtomicUsize::new(0),
        }
    }

    /// The current state (for tests and traces).
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    fn cas(&self, from: State, to: State) -> Result<(), State> {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(State::from_u8)
    }

    /// Records that the cancel routine was armed. Returns `false` if the request is not idle
    /// (armed twice or already completed): the caller must then disarm what it armed.
    pub fn armed(&self) -> bool {
        self.cas(State::Idle, State::Armed).is_ok()
    }

    /// The framework did not arm the routine — the request was already cancelled (rule 3), or for
    /// want of resources (rule 4): the state set by `armed` goes back to `Idle` — the framework
    /// will call no routine. Returns `false` if the state was not `Armed`.
    pub fn unarmed(&self) -> bool {
        self.cas(State::Armed, State::Idle).is_ok()
    }

    fn store(&self, status: i32, information: usize) {
        self.status.store(status, Ordering::Relaxed);
        self.information.store(information, Ordering::Relaxed);
    }

    fn stored(&self) -> (i32, usize) {
        (
            self.status.load(Ordering::Relaxed),
            self.information.load(Ordering::Relaxed),
        )
    }

    /// The engine completes the request. `disarm` tries to disarm the framework's routine and
    /// returns `true` if it will never run; it is called at most once, only in state `Armed`.
    pub fn complete(&self, status: i32, information: usize, disarm: impl FnOnce() -> bool) -> OnComplete {
        let mut disarm = Some(disarm);
        loop {
            let cur = self.state();
            match cur {
                // Nothing armed: nobody else can touch the request.
                State::Idle | State::CancelDone => {
                    if self.cas(cur, State::Finished).is_ok() {
                        return OnComplete::FinishNow;
                    }
                }
                // The framework routine is armed: try to take it back.
                State::Armed => {
                    if let Some(d) = disarm.take() {
                        if d() {
                            // The routine will never run, so nobody else changes the state.
                            if self.cas(State::Armed, State::Finished).is_ok() {
                                return OnComplete::FinishNow;
                            }
                            continue;
                        }
                    }
                    self.store(status, information);
                    if self.cas(State::Armed, State::Deferred).is_ok() {
                        return OnComplete::LeftToRoutine;
                    }
                }
                // The routine is running: leave the result to it.
                State::Cancelling => {
                    self.store(status, information);
                    if self.cas(cur, State::Deferred).is_ok() {
                        return OnComplete::LeftToRoutine;
                    }
                }
                // Completed twice: a bug of the caller, never a second completion.
                State::Deferred | State::Finished => return OnComplete::AlreadyCompleted,
            }
        }
    }

    /// The cancel routine starts.
    pub fn cancel_started(&self) -> OnCancel {
        loop {
            let cur = self.state();
            match cur {
                // Armed: take the request for the duration of the engine call.
                State::Armed => {
                    if self.cas(cur, State::Cancelling).is_ok() {
                        return OnCancel::AskEngine;
                    }
                }
                // The completer left its result: finish now.
                State::Deferred => {
                    if self.cas(State::Deferred, State::Finished).is_ok() {
                        let (s, i) = self.stored();
                        return OnCancel::Finish(s, i);
                    }
                }
                // Not armed, or already over.
                State::Idle | State::Cancelling | State::CancelDone | State::Finished => {
                    return OnCancel::Nothing
                }
            }
        }
    }

    /// The routine finished asking the engine.
    pub fn after_cancel(&self) -> AfterCancel {
        if let Err(State::Deferred) = self.cas(State::Cancelling, State::CancelDone) {
            // Only the routine leaves `Deferred` once it has started.
            let _ = self.cas(State::Deferred, State::Finished);
            let (s, i) = self.stored();
            AfterCancel::Finish(s, i)
        } else {
            AfterCancel::Done
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;

    fn armed() -> CancelState {
        let s = CancelState::new();
        assert!(s.armed());
        s
    }

    #[test]
    fn idle_request_completes_at_once() {
        let s = CancelState::new();
        assert_eq!(
            s.complete(0, 5, || unreachable!("nothing armed")),
            OnComplete::FinishNow
        );
        assert_eq!(s.state(), State::Finished);
        assert_eq!(s.complete(0, 5, || true), OnComplete::AlreadyCompleted);
    }

    #[test]
    fn armed_request_disarmed_by_completer() {
        let s = armed();
        assert_eq!(s.complete(0, 1, || true), OnComplete::FinishNow);
        assert_eq!(s.cancel_started(), OnCancel::Nothing);
    }

    #[test]
    fn completer_loses_routine_not_started_yet() {
        let s = armed();
        assert_eq!(s.complete(-5, 7, || false), OnComplete::LeftToRoutine);
        assert_eq!(s.state(), State::Deferred);
        assert_eq!(s.cancel_started(), OnCancel::Finish(-5, 7));
        assert_eq!(s.state(), State::Finished);
    }

    #[test]
    fn engine_completes_inside_the_routine() {
        let s = armed();
        assert_eq!(s.cancel_started(), OnCancel::AskEngine);
        // The engine completes synchronously from within the routine.
        assert_eq!(
            s.complete(-1, 0, || unreachable!("not armed any more")),
            OnComplete::LeftToRoutine
        );
        assert_eq!(s.after_cancel(), AfterCancel::Finish(-1, 0));
        assert_eq!(s.state(), State::Finished);
    }

    #[test]
    fn engine_completes_after_the_routine() {
        let s = armed();
        assert_eq!(s.cancel_started(), OnCancel::AskEngine);
        assert_eq!(s.after_cancel(), AfterCancel::Done);
        // Cancellation is only a request: success with data still finishes normally.
        assert_eq!(
            s.complete(0, 100, || unreachable!("routine is over")),
            OnComplete::FinishNow
        );
    }

    #[test]
    fn unavailable_arm_leaves_the_request_non_cancelable() {
        let s = armed();
        assert!(s.unarmed());
        assert_eq!(s.state(), State::Idle);
        assert!(!s.unarmed());
        // Nothing plays a routine, and the completion finishes the request itself.
        assert_eq!(s.cancel_started(), OnCancel::Nothing);
        assert_eq!(
            s.complete(0, 9, || unreachable!("no routine armed")),
            OnComplete::FinishNow
        );
        assert_eq!(s.state(), State::Finished);
    }

    #[test]
    fn arming_twice_is_refused() {
        let s = armed();
        assert!(!s.armed());
        let done = CancelState::new();
        assert_eq!(done.complete(0, 0, || true), OnComplete::FinishNow);
        assert!(!done.armed());
    }
}
