//! Loom models of `logic::cancel`: a client request's completion racing its cancellation, over
//! every interleaving up to the preemption bound (`cargo xtask loom`, which also runs the
//! engine's models; `LOOM_MAX_PREEMPTIONS`, 2 when unset).
//!
//! The framework is modelled by its one shared slot, the cancel routine pointer: `IoCancelIrp`
//! (or the framework's cancel) takes the routine out and calls it only if it was still there;
//! `IoSetCancelRoutine(NULL)` in the completer's `disarm` succeeds only if it took it. The engine
//! completes a request exactly once — from the operation's completion, or synchronously inside
//! the cancel routine — which a second slot models.
//!
//! | model | race |
//! |---|---|
//! | `loom_completion_racing_the_cancel_routine` | the operation completes while `IoCancelIrp` runs the routine |
//! | `loom_engine_completion_inside_or_outside_the_routine` | the engine's one completion, from the operation or from inside the routine, racing the routine |
//! | `loom_completion_of_a_request_the_framework_could_not_arm` | no routine armed (already cancelled, or no resources): the routine's work, started anyway, racing the completion |
//!
//! Each checks rule 1 (exactly one finish) and that the finish carries the engine's result.
#![allow(clippy::disallowed_methods)] // a test, not the driver: driver/clippy.toml
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use wsksock_driver::logic::cancel::{AfterCancel, CancelState, OnCancel, OnComplete};

const DATA: i32 = 0;
const CANCELLED: i32 = 0xC000_0120_u32 as i32;

/// Runs a model at the preemption bound of `LOOM_MAX_PREEMPTIONS` (2 when unset) and checks
/// loom explored more than one interleaving.
fn model(f: impl Fn() + Sync + Send + 'static) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.unwrap_or(2));
    let before = RUNS.load(std::sync::atomic::Ordering::SeqCst);
    b.check(move || {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f();
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::SeqCst) - before;
    eprintln!("loom explored {runs} interleavings");
    assert!(runs > 1, "loom explored a single interleaving");
}

/// One request: its cancel state, the framework's routine slot, and what finishing it recorded.
struct Req {
    state: CancelState,
    /// The framework's cancel routine is in the IRP (`Irp->CancelRoutine`).
    routine_armed: AtomicBool,
    /// The engine has completed the request (its own exactly-once).
    engine_done: AtomicBool,
    finishes: AtomicU32,
    /// The status of the last finish.
    finished_with: loom::sync::atomic::AtomicI32,
}

impl Req {
    fn armed() -> Arc<Req> {
        let r = Arc::new(Req {
            state: CancelState::new(),
            routine_armed: AtomicBool::new(false),
            engine_done: AtomicBool::new(false),
            finishes: AtomicU32::new(0),
            finished_with: loom::sync::atomic::AtomicI32::new(i32::MIN),
        });
        // As `IrpRequest::set_cancel`: the state is armed before the framework can call the routine.
        assert!(r.state.armed());
        r.routine_armed.store(true, Ordering::Release);
        r
    }

    fn finish(&self, status: i32) {
        self.finishes.fetch_add(1, Ordering::AcqRel);
        self.finished_with.store(status, Ordering::Release);
    }

    /// The engine completes the request, if nobody did: the completer's path of
    /// `IrpRequest::finish`, `disarm` being `IoSetCancelRoutine(NULL)`.
    fn engine_completes(&self, status: i32) {
        if self.engine_done.swap(true, Ordering::AcqRel) {
            return;
        }
        let r = self
            .state
            .complete(status, 0, || self.routine_armed.swap(false, Ordering::AcqRel));
        match r {
            OnComplete::FinishNow => self.finish(status),
            OnComplete::LeftToRoutine => {}
            OnComplete::AlreadyCompleted => panic!("the engine completes once"),
        }
    }

    /// `run_cancel`: the routine's work; `engine_cancels` completes inside it, as the engine may.
    fn routine(&self, engine_cancels: bool) {
        match self.state.cancel_started() {
            OnCancel::AskEngine => {
                if engine_cancels {
                    self.engine_completes(CANCELLED);
                }
                if let AfterCancel::Finish(st, _) = self.state.after_cancel() {
                    self.finish(st);
                }
            }
            OnCancel::Finish(st, _) => self.finish(st),
            OnCancel::Nothing => {}
        }
    }

    /// `IoCancelIrp`: the routine runs only if it was still armed.
    fn io_cancel_irp(&self, engine_cancels: bool) {
        if self.routine_armed.swap(false, Ordering::AcqRel) {
            self.routine(engine_cancels);
        }
    }

    fn check_one_finish(&self) {
        assert_eq!(self.finishes.load(Ordering::Acquire), 1, "finished exactly once");
        assert!(self.engine_done.load(Ordering::Acquire), "the engine completed");
    }
}

#[test]
fn loom_completion_racing_the_cancel_routine() {
    model(|| {
        let r = Req::armed();
        let r2 = r.clone();
        let canceller = thread::spawn(move || r2.io_cancel_irp(false));
        r.engine_completes(DATA);
        canceller.join().unwrap();
        r.check_one_finish();
        // The cancel was only a request: the operation's result is what the client gets.
        assert_eq!(r.finished_with.load(Ordering::Acquire), DATA);
    });
}

#[test]
fn loom_engine_completion_inside_or_outside_the_routine() {
    model(|| {
        let r = Req::armed();
        let r2 = r.clone();
        let canceller = thread::spawn(move || r2.io_cancel_irp(true));
        r.engine_completes(DATA);
        canceller.join().unwrap();
        r.check_one_finish();
        let st = r.finished_with.load(Ordering::Acquire);
        assert!(st == DATA || st == CANCELLED, "finished with {st:#x}");
    });
}

#[test]
fn loom_completion_of_a_request_the_framework_could_not_arm() {
    model(|| {
        let r = Req::armed();
        r.routine_armed.store(false, Ordering::Release);
        assert!(r.state.unarmed());
        let r2 = r.clone();
        // No routine is in the IRP; even a routine's work started anyway must find nothing to do.
        let canceller = thread::spawn(move || r2.routine(true));
        r.engine_completes(DATA);
        canceller.join().unwrap();
        r.check_one_finish();
        // Nothing could cancel it: the completion's own result.
        assert_eq!(r.finished_with.load(Ordering::Acquire), DATA);
    });
}
