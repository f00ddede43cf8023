//! The close state machine of spec section 2: what happens when a handle closes, and at the last
//! one, the graceful, lingering or abortive teardown ending in `WskCloseSocket`.
//!
//! ```text
//!   Open ──last handle closed──▶ Draining ──sends done (graceful)──▶ Disconnecting ──▶ Closing ──▶ Closed ──▶ Finished
//!                                   │  └─ abortive / linger expired: at once ──▶ Disconnecting(abortive)
//!                                   └─ nothing to disconnect (never connected, shut down) ──▶ Closing
//! ```
//! - Draining: graceful modes wait for the sends issued before the close; everything else issued
//!   through the closed handles was cancelled. Abortive modes cancel the sends too and go on at
//!   once, without waiting for the cancels (a provider may ignore them, as Wine does).
//! - Disconnecting: `WskDisconnect(0)` or `(WSK_FLAG_ABORTIVE)`. If the linger timer expires
//!   while a graceful disconnect pends (the peer stopped reading), an abortive disconnect is
//!   issued and the teardown goes on when it completes; the close then forces the graceful one to
//!   complete. Any failure, synchronous or not, just moves on.
//! - Closing: the rundown is revoked; when no call is in progress, `WskCloseSocket` is issued.
//! - Closed: the close completed; the object finishes once every operation completed and the
//!   linger timer can no longer fire. Then waiting CLOSE requests complete, the engine's live
//!   count drops, and unload may proceed.
//!
//! Every step is computed under the socket lock by [`SocketObj::next_step`] and executed by
//! [`SocketObj::run`] with no lock held. Nothing here blocks.

use super::ops::OpKind;
use super::{Cancels, Phase, SockRef, SockState};
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
use zerocopy::IntoBytes;

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

/// Teardown bookkeeping of one socket.
pub(crate) struct Teardown<P: Provider, R: Request<P>> {
    pub mode: TeardownMode,
    /// The linger timer expired (or unload forced it): the teardown is abortive from now on.
    pub escalated: bool,
    pub disconnects_pending: u32,
    pub abortive_disconnect_done: bool,
    /// The disconnect performed (succeeded), for the CLOSE reply.
    pub disconnect: Disconnect,
    pub close_status: NtStatus,
    /// A timer was started and has neither fired nor been cancelled.
    pub timer_outstanding: bool,
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
}

impl<P: Provider, R: Request<P>> SockRef<P, R> {
    /// Closes handle `handle_id`: cancels what was issued through it (sends survive a graceful
    /// close), and at the last handle starts the teardown. Completes `req` (now, or at the end of
    /// the teardown with the wait flag).
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
        st.handles -= 1;
        let last = st.handles == 0;
        let mut mode = TeardownMode::resolve(args.mode, args.linger_seconds, st.linger);
        if shared.is_unloading() {
            // Unload never waits longer than unload_linger_ms for a peer that stopped reading.
            let bound = shared.config.unload_linger_ms;
            mode = match mode {
                TeardownMode::Graceful => TeardownMode::Linger(bound),
                TeardownMode::Linger(ms) => TeardownMode::Linger(ms.min(bound)),
                TeardownMode::Abortive => TeardownMode::Abortive,
            };
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
            shared.finish_request(
                req,
                NtStatus::STATUS_SUCCESS,
                r.as_bytes(),
                r.as_bytes().len(),
                None,
            );
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
                .finish_request(w.req, NtStatus::STATUS_CANCELLED, &[], 0, None);
        }
    }

    /// Unload: a teardown still waiting gracefully, or lingering longer than `ms`, gets the
    /// deadline `ms`, after which it is abortive.
    pub fn bound_teardown(&self, ms: u64) {
        let (arm, rearm) = {
            let mut st = self.state.lock();
            let waiting = matches!(st.phase, Phase::Draining | Phase::Disconnecting);
            let live = waiting && !st.td().escalated;
            let arm = live && !st.td().timer_outstanding;
            if arm {
                st.td().timer_outstanding = true;
            }
            let longer = matches!(st.td().mode, TeardownMode::Linger(t) if t > ms);
            let rearm = if live && longer {
                st.td().timer.take()
            } else {
                None
            };
            (arm, rearm)
        };
        if arm {
            self.arm_timer(ms);
        }
        if let Some(t) = rearm {
            if self.shared.provider.cancel_timer(&t) {
                // Still outstanding: the new timer replaces the cancelled one.
                self.arm_timer(ms);
            }
        }
    }

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
        if matches!(st.phase, Phase::Draining | Phase::Disconnecting) {
            st.td().timer = Some(t);
            return;
        }
        // The teardown moved past the point where the timer matters before we could store it.
        drop(st);
        self.run(Step::CancelTimer(t));
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
                    st.td().disconnects_pending += 1;
                    step = Step::Disconnect { abortive: true };
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
                let needs_disconnect = self.kind == SocketKind::Stream && st.connected && !st.shut_down;
                if needs_disconnect {
                    st.set_phase(Phase::Disconnecting);
                    st.td().disconnects_pending += 1;
                    Step::Disconnect { abortive }
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
                if st.ops.is_empty() && !st.td().timer_outstanding {
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

    /// Executes a step (no lock held) and whatever follows from it.
    pub fn run(&self, step: Step<P>) {
        match step {
            Step::None => {}
            Step::Disconnect { abortive } => {
                if self.rundown.try_acquire() {
                    self.start_internal(OpKind::Disconnect { abortive }, true);
                } else {
                    debug_assert!(false, "disconnect after revoke");
                }
            }
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
            self.shared.finish_request(
                w.req,
                NtStatus::STATUS_SUCCESS,
                r.as_bytes(),
                r.as_bytes().len(),
                None,
            );
        }
        self.shared.socket_finished(self);
    }
}
