//! The close state machine (invariants 1, 3, 4, 5 and 9 of the crate; `docs/ENGINE.md` tells
//! it in prose): what happens when a handle closes, and at the last one, the graceful, lingering
//! or abortive teardown ending in `WskCloseSocket`.
//!
//! ```text
//!   Open ──last handle closed──▶ Draining ──sends done (graceful)──▶ Disconnecting ──▶ Closing ──▶ Closed ──▶ Finished
//!                                   │  └─ abortive / deadline passed: at once ──▶ Disconnecting(abortive)
//!                                   └─ nothing to disconnect ──▶ Closing
//! ```
//! "Nothing to disconnect": not a connected stream socket, a SHUTDOWN(abort) succeeded, or — for
//! a graceful teardown only — a SHUTDOWN(send) succeeded (the FIN is out). An abortive teardown
//! resets a connection whose sending side was shut down (a hard close resets, as in Winsock).
//! - Draining: graceful modes wait for the sends (and graceful SHUTDOWNs) issued before the
//!   close; everything else issued through the closed handles was cancelled. Abortive modes
//!   cancel the sends too and go on at once, without waiting for the cancels (a provider may
//!   ignore them, as Wine does).
//! - Disconnecting: `WskDisconnect(0)` or `(WSK_FLAG_ABORTIVE)`. If the linger timer expires
//!   while a graceful disconnect pends (the peer stopped reading), an abortive disconnect is
//!   issued and the teardown goes on when it completes; the close then forces the graceful one to
//!   complete. Any failure, synchronous or not, just moves on.
//! - Closing: the rundown is revoked; when no call is in progress, `WskCloseSocket` is issued.
//! - Closed: the close completed; the object finishes once every operation completed, every
//!   request of those operations was completed (`replying`), and neither the teardown's timer
//!   nor a request's deadline timer can fire any more. Then waiting CLOSE requests complete, the engine's live count drops, and unload
//!   may proceed.
//!
//! Deadlines: a lingering teardown arms a provider timer at the last close. Unload and client
//! cleanup bound graceful teardowns ([`SockRef::bound_teardown`]): a teardown without a timer
//! gets one, a longer one is replaced — also while it is still being started (`timer_ms` tells its
//! starter) — and an abortive teardown is left alone. At most one timer is outstanding.
//!
//! Every step is computed under the socket lock by [`SocketObj::next_step`] and executed by
//! [`SocketObj::run`] with no lock held. Nothing here blocks.

use super::ops::OpKind;
use super::{Cancels, Conn, Phase, SockRef, SockState};
use crate::client::Client;
use crate::provider::{Provider, SocketKind};
use crate::request::CancelToken;
use crate::request::Request;
use crate::rundown::Drained;
use crate::slab::{Key, Slab};
use crate::sync::Arc;
use alloc::boxed::Box;
use wsksock_abi::msg::{CloseMode, CloseReply, Disconnect, Message};
use wsksock_abi::NtStatus;

/// How the teardown runs, resolved from the CLOSE mode and the socket's linger option.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TeardownMode {
    /// Sends finish, FIN, close.
    Graceful,
    /// Graceful within the timeout (ms), else abortive.
    Linger(u64),
    /// Cancel everything, RST, close.
    Abortive,
}

impl TeardownMode {
    /// This mode under a deadline of `ms` (unload, client cleanup): graceful teardowns linger at
    /// most `ms`.
    #[must_use]
    pub fn bounded(self, ms: u64) -> TeardownMode {
        match self {
            TeardownMode::Graceful => TeardownMode::Linger(ms),
            TeardownMode::Linger(t) => TeardownMode::Linger(t.min(ms)),
            TeardownMode::Abortive => TeardownMode::Abortive,
        }
    }

    /// Resolves a CLOSE mode against SO_LINGER (`None` off, `Some(secs)`), as closesocket does.
    pub fn resolve(mode: CloseMode, linger_seconds: u32, linger: Option<u32>) -> TeardownMode {
        match mode {
            CloseMode::Default => match linger {
                None => TeardownMode::Graceful,
                Some(0) => TeardownMode::Abortive,
                Some(s) => TeardownMode::Linger(u64::from(s) * 1000),
            },
            CloseMode::Graceful => TeardownMode::Graceful,
            CloseMode::Abortive => TeardownMode::Abortive,
            CloseMode::Linger => TeardownMode::Linger(u64::from(linger_seconds) * 1000),
        }
    }
}

/// Teardown bookkeeping of one socket (allocated at its last close).
pub(crate) struct Teardown<P: Provider, R: Request<P>> {
    /// How the teardown runs: the CLOSE mode against SO_LINGER, under the unload or cleanup
    /// bound if one applied at the last close.
    pub mode: TeardownMode,
    /// The deadline passed (linger expired, or the unload or cleanup bound): the teardown is
    /// abortive from now on.
    pub escalated: bool,
    /// Disconnects the teardown issued that have not completed (a graceful one and, after an
    /// escalation, the abortive one).
    pub disconnects_pending: u32,
    /// The teardown's abortive disconnect completed: after an escalation the teardown waits for
    /// it only (the close then forces a stuck graceful one to complete).
    pub abortive_disconnect_done: bool,
    /// The disconnect performed (one that succeeded; abortive wins), for the CLOSE reply.
    pub disconnect: Disconnect,
    /// The close's status (STATUS_PENDING until it completed), for the CLOSE reply.
    pub close_status: NtStatus,
    /// A deadline timer was started, or is being started, and has neither fired nor been
    /// cancelled: the object does not finish while this is set.
    pub timer_outstanding: bool,
    /// The delay the outstanding timer should have (ms). A bound lowers it; if the timer is still
    /// being started then, its starter replaces it ([`SockRef::arm_timer`]).
    pub timer_ms: u64,
    /// The outstanding timer once `start_timer` returned (`None` while it is being started,
    /// fires, or is being cancelled).
    pub timer: Option<P::TimerRef>,
    /// Cancel batches being delivered: the teardown does not move on until they are all sent,
    /// so an abortive disconnect never overtakes the cancels of the close that started it.
    pub hold: u32,
    /// CLOSE requests with the wait flag.
    pub waiters: Slab<Waiter<P, R>>,
}

/// A CLOSE waiting for the teardown (cancellable; cleanup of its client completes it).
pub(crate) struct Waiter<P: Provider, R: Request<P>> {
    pub req: R,
    /// Operations the CLOSE cancelled (for its reply).
    pub cancelled: u32,
    /// The client it came from and its key in that client's table of parked CLOSEs.
    pub client: Option<(Arc<Client<P, R>>, Key)>,
}

impl<P: Provider, R: Request<P>> Teardown<P, R> {
    pub fn new() -> Self {
        Teardown {
            mode: TeardownMode::Graceful,
            escalated: false,
            disconnects_pending: 0,
            abortive_disconnect_done: false,
            disconnect: Disconnect::None,
            close_status: NtStatus::STATUS_PENDING,
            timer_outstanding: false,
            timer_ms: 0,
            timer: None,
            hold: 0,
            waiters: Slab::new(),
        }
    }

    fn abortive(&self) -> bool {
        self.mode == TeardownMode::Abortive || self.escalated
    }

    /// A teardown disconnect completed. Only one that succeeded counts as performed (the CLOSE
    /// reply reports it); an abortive one supersedes a graceful one.
    pub fn disconnect_completed(&mut self, abortive: bool, status: NtStatus) {
        self.disconnects_pending -= 1;
        if abortive {
            self.abortive_disconnect_done = true;
        }
        if status.is_success() {
            self.disconnect = match (abortive, self.disconnect) {
                (true, _) | (false, Disconnect::Abortive) => Disconnect::Abortive,
                (false, Disconnect::None | Disconnect::Graceful) => Disconnect::Graceful,
            };
        }
    }
}

/// The next thing the teardown does, decided under the lock, done without it.
pub(crate) enum Step<P: Provider> {
    None,
    /// Issue a teardown disconnect; the rundown is already entered for it.
    Disconnect {
        abortive: bool,
    },
    /// Revoke the rundown (then close); cancel the timer if one is out.
    Revoke {
        timer: Option<P::TimerRef>,
    },
    /// Cancel a timer that is no longer needed.
    CancelTimer(P::TimerRef),
    Finish,
}

/// What a CLOSE asked for.
pub(crate) struct CloseArgs {
    pub mode: CloseMode,
    pub linger_seconds: u32,
    pub wait: bool,
    /// A deadline for a graceful teardown this close starts (client cleanup): it turns abortive
    /// after this many ms.
    pub bound_ms: Option<u64>,
}

impl<P: Provider, R: Request<P>> SockRef<P, R> {
    /// Closes handle `handle_id`: cancels what was issued through it (sends survive a graceful
    /// close), and at the last handle starts the teardown. Completes `req` (now, or at the end of
    /// the teardown with the wait flag). The handle id leaves the socket under the same lock as
    /// the cancels are decided, so nothing started through it afterwards (invariant 3).
    pub fn close_handle(
        &self,
        handle_id: u32,
        args: &CloseArgs,
        req: Option<R>,
        client: Option<&Arc<Client<P, R>>>,
    ) {
        let shared = &self.shared;
        let mut cancels: Cancels<P> = Cancels::<P>::new();
        let mut cancelled = 0u32;
        let mut st = self.state.lock();
        let was_open = st.handles.remove(handle_id);
        debug_assert!(was_open, "handle {handle_id} closed twice");
        let last = st.handles.count() == 0;
        let mut mode = TeardownMode::resolve(args.mode, args.linger_seconds, st.linger.map(u32::from));
        // Unload never waits longer than unload_linger_ms for a peer that stopped reading, nor
        // client cleanup longer than its bound.
        let unload_bound = shared.is_unloading().then_some(shared.config.unload_linger_ms);
        let bound = match (unload_bound, args.bound_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(ms) = bound {
            mode = mode.bounded(ms);
        }
        let abortive = mode == TeardownMode::Abortive;
        for (_, rec) in st.ops.iter_mut() {
            let through_this = rec.handle_id == handle_id;
            let everything = last && abortive && rec.handle_id != 0;
            if (through_this && (abortive || !rec.kind.is_send_like())) || everything {
                if !rec.cancel.is_requested() {
                    cancelled += u32::from(through_this);
                }
                cancels.extend(rec.request_cancel());
            }
        }
        let mut timer_ms = None;
        let mut reply_now = req;
        let mut parked = None;
        if last {
            st.td().mode = mode;
            st.td().hold += 1;
            st.set_phase(Phase::Draining);
            if let TeardownMode::Linger(ms) = mode {
                st.td().timer_outstanding = true;
                st.td().timer_ms = ms;
                timer_ms = Some(ms);
            }
            if args.wait {
                if let (Some(mut w), Some(key)) = (reply_now.take(), st.td().waiters.next_key()) {
                    let target = self.clone();
                    w.set_cancel(CancelToken::new(Box::new(move || target.cancel_waiter(key))));
                    let inserted = st.td().waiters.insert(Waiter {
                        req: w,
                        cancelled,
                        client: None,
                    });
                    debug_assert_eq!(inserted.ok(), Some(key));
                    parked = Some(key);
                }
            }
        }
        drop(st);
        self.send_cancels(cancels.into_iter());
        if let (Some(key), Some(c)) = (parked, client) {
            self.park_waiter(key, c);
        }
        if last {
            self.state.lock().td().hold -= 1;
        }
        if let Some(req) = reply_now {
            let mut r = CloseReply::new_zeroed_with_header();
            r.last_reference = u32::from(last);
            r.cancelled = cancelled;
            r.teardown_status = NtStatus::STATUS_PENDING.0;
            shared.reply(req, &r);
        }
        if let Some(ms) = timer_ms {
            self.arm_timer(ms);
        }
        if last {
            self.drive();
        }
    }

    /// Records the client of a waiting CLOSE, so that its cleanup can complete it; if the client
    /// is already cleaned up, the CLOSE completes (cancelled) at once.
    fn park_waiter(&self, key: Key, client: &Arc<Client<P, R>>) {
        let Some(ck) = client.park(self.clone(), key) else {
            self.cancel_waiter(key);
            return;
        };
        let mut st = self.state.lock();
        if let Some(w) = st.td().waiters.get_mut(key) {
            w.client = Some((client.clone(), ck));
            return;
        }
        // Completed meanwhile.
        drop(st);
        client.unpark(ck);
    }

    /// Completes a waiting CLOSE with STATUS_CANCELLED (IoCancelIrp on it, or its client's
    /// cleanup). The teardown goes on.
    pub fn cancel_waiter(&self, key: Key) {
        let w = self.state.lock().td().waiters.remove(key);
        if let Some(w) = w {
            if let Some((c, ck)) = &w.client {
                c.unpark(*ck);
            }
            self.shared
                .complete_engine_request(w.req, NtStatus::STATUS_CANCELLED, &[], 0, None);
        }
    }

    /// Unload or cleanup: a teardown still waiting gracefully, or lingering longer than `ms`,
    /// gets the deadline `ms`, after which it is abortive. An abortive teardown has nothing to
    /// bound; one past `Disconnecting` has nothing left to wait for.
    pub fn bound_teardown(&self, ms: u64) {
        enum Act<T> {
            Arm,
            Replace(T),
        }
        let act = {
            let mut st = self.state.lock();
            if !matches!(st.phase, Phase::Draining | Phase::Disconnecting) {
                return;
            }
            let td = st.td();
            if td.abortive() {
                return;
            }
            if !td.timer_outstanding {
                td.timer_outstanding = true;
                td.timer_ms = ms;
                Act::Arm
            } else if td.timer_ms > ms {
                td.timer_ms = ms;
                match td.timer.take() {
                    Some(t) => Act::Replace(t),
                    // Being started: its starter sees the lower `timer_ms` and replaces it.
                    // (Or firing: the teardown turns abortive now anyway.)
                    None => return,
                }
            } else {
                return;
            }
        };
        match act {
            Act::Arm => self.arm_timer(ms),
            Act::Replace(t) => {
                if self.shared.provider.cancel_timer(&t) {
                    // Still outstanding: the new timer replaces the cancelled one.
                    self.arm_timer(ms);
                }
                // Otherwise it is firing: the teardown turns abortive now.
            }
        }
    }

    /// Starts the deadline timer (`timer_outstanding` is already set, `timer_ms` says how long)
    /// and stores it — unless meanwhile it fired, the teardown moved past the point where it
    /// matters, or a bound asked for a shorter one.
    fn arm_timer(&self, ms: u64) {
        let target = self.clone();
        let t = self
            .shared
            .provider
            .start_timer(ms, Box::new(move || target.timer_fired()));
        let mut st = self.state.lock();
        if !st.td().timer_outstanding {
            // Fired already, during start_timer.
            return;
        }
        if !matches!(st.phase, Phase::Draining | Phase::Disconnecting) {
            // The teardown moved past the point where the timer matters before we could store it.
            drop(st);
            self.run(Step::CancelTimer(t));
            return;
        }
        let wanted = st.td().timer_ms;
        if wanted < ms {
            // A bound arrived while this timer was being started: one of `wanted` replaces it.
            drop(st);
            if self.shared.provider.cancel_timer(&t) {
                self.arm_timer(wanted);
            }
            return;
        }
        st.td().timer = Some(t);
    }

    /// The linger (or unload) deadline passed.
    #[allow(clippy::match_same_arms)] // one arm per phase, each with its reason (style.md item 6)
    fn timer_fired(&self) {
        let mut st = self.state.lock();
        st.td().timer_outstanding = false;
        st.td().timer = None;
        let mut cancels: Cancels<P> = Cancels::<P>::new();
        let mut step = Step::None;
        let mut held = false;
        match st.phase {
            // Before the teardown: cannot happen (timers start with it).
            Phase::Open => {}
            // Sends did not finish in time: cancel them and go abortive now.
            Phase::Draining => {
                st.td().escalated = true;
                for (_, rec) in st.ops.iter_mut() {
                    cancels.extend(rec.request_cancel());
                }
                st.td().hold += 1;
                held = true;
            }
            // The graceful disconnect did not finish (peer not reading): reset.
            Phase::Disconnecting => {
                if !st.td().escalated {
                    st.td().escalated = true;
                    step = self.disconnect_step(&mut st, true);
                }
            }
            // Too late to matter; the finish may have waited for this timer.
            Phase::Closing | Phase::Closed | Phase::Finished => {}
        }
        if matches!(step, Step::None) && !held {
            step = self.next_step(&mut st);
        }
        drop(st);
        self.send_cancels(cancels.into_iter());
        if held {
            self.state.lock().td().hold -= 1;
            self.drive();
        }
        self.run(step);
    }

    /// Computes and runs teardown steps until one has to wait for an event.
    pub fn drive(&self) {
        let step = {
            let mut st = self.state.lock();
            self.next_step(&mut st)
        };
        self.run(step);
    }

    /// The next step of the teardown, given the state.
    #[allow(clippy::match_same_arms)] // one arm per phase, each with its reason (style.md item 6)
    pub fn next_step(&self, st: &mut SockState<P, R>) -> Step<P> {
        match st.phase {
            // No teardown yet.
            Phase::Open => Step::None,
            // Graceful: wait for the sends; then disconnect if there is a connection to end.
            Phase::Draining => {
                if st.td().hold > 0 {
                    return Step::None;
                }
                let abortive = st.td().abortive();
                if !abortive && st.sends_pending > 0 {
                    return Step::None;
                }
                // A graceful teardown after a SHUTDOWN(send) that succeeded has nothing to end;
                // an abortive one resets it (a hard close resets).
                let needs_disconnect = self.kind == SocketKind::Stream
                    && match st.conn {
                        Conn::Connected => true,
                        Conn::SendShutDown => abortive,
                        Conn::None | Conn::Reset => false,
                    };
                if needs_disconnect {
                    st.set_phase(Phase::Disconnecting);
                    self.disconnect_step(st, abortive)
                } else {
                    st.set_phase(Phase::Closing);
                    Step::Revoke {
                        timer: st.td().timer.take(),
                    }
                }
            }
            // Wait for the disconnect; after an escalation, only for the abortive one.
            Phase::Disconnecting => {
                let td = st.td();
                if td.disconnects_pending == 0 || (td.escalated && td.abortive_disconnect_done) {
                    st.set_phase(Phase::Closing);
                    Step::Revoke {
                        timer: st.td().timer.take(),
                    }
                } else {
                    Step::None
                }
            }
            // Waiting for calls in progress to leave, then for the close's completion.
            Phase::Closing => Step::None,
            // Finish once nothing can call back any more.
            Phase::Closed => {
                if st.ops.is_empty()
                    && st.replying == 0
                    && !st.td().timer_outstanding
                    && st.deadline_timers() == 0
                {
                    st.set_phase(Phase::Finished);
                    Step::Finish
                } else {
                    Step::None
                }
            }
            // Done.
            Phase::Finished => Step::None,
        }
    }

    /// A teardown disconnect to issue, counted and with the rundown entered under the lock: so
    /// the close cannot overtake it, even if an abortive disconnect issued meanwhile from
    /// another thread completes and the teardown moves on (invariant 5).
    fn disconnect_step(&self, st: &mut SockState<P, R>, abortive: bool) -> Step<P> {
        // INVARIANT: the rundown is revoked only after the phase left `Draining` and
        // `Disconnecting`, under this lock.
        let entered = self.rundown.try_acquire();
        debug_assert!(entered, "rundown revoked before the teardown's disconnect");
        if !entered {
            return Step::None;
        }
        st.td().disconnects_pending += 1;
        Step::Disconnect { abortive }
    }

    /// Executes a step (no lock held) and whatever follows from it.
    pub fn run(&self, step: Step<P>) {
        match step {
            Step::None => {}
            // The rundown was entered when the step was decided.
            Step::Disconnect { abortive } => self.start_internal(OpKind::Disconnect { abortive }, true),
            Step::Revoke { timer } => {
                if let Some(t) = timer {
                    self.run(Step::CancelTimer(t));
                }
                if self.rundown.revoke() == Drained::Yes {
                    self.start_internal(OpKind::Close, false);
                }
            }
            Step::CancelTimer(t) => {
                if self.shared.provider.cancel_timer(&t) {
                    drop(t);
                    let step = {
                        let mut st = self.state.lock();
                        st.td().timer_outstanding = false;
                        self.next_step(&mut st)
                    };
                    self.run(step);
                }
                // Otherwise the callback runs (or ran) and clears `timer_outstanding` itself.
            }
            Step::Finish => self.finish(),
        }
    }

    /// The end: every IRP completed, the timer cannot fire. Completes waiting CLOSE requests and
    /// lets the engine forget the socket.
    fn finish(&self) {
        let (waiters, status, disconnect) = {
            let mut st = self.state.lock();
            let td = st.td();
            (td.waiters.drain(), td.close_status, td.disconnect)
        };
        for (_, w) in waiters {
            if let Some((c, ck)) = &w.client {
                c.unpark(*ck);
            }
            let mut r = CloseReply::new_zeroed_with_header();
            r.last_reference = 1;
            r.cancelled = w.cancelled;
            r.teardown_status = status.0;
            r.disconnect = disconnect as u32;
            self.shared.reply(w.req, &r);
        }
        self.shared.socket_finished(self);
    }
}
