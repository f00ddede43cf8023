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
//! - Closed: the close completed; the object finishes once every operation completed (the
//!   teardown's disconnects included), every request of those operations was completed
//!   (`replying`), and neither the teardown's timer nor a request's deadline timer can fire any
//!   more. Then waiting CLOSE requests complete, the engine's live count drops, and unload may
//!   proceed.
//!
//! Deadlines: a lingering teardown arms the socket's timer at the last close. Unload and client
//! cleanup bound graceful teardowns ([`SocketObj::bound_teardown`]): a teardown whose timer is
//! not armed gets it armed, a longer one is re-armed shorter — also while it is still being
//! armed (`timer_ms` tells its armer) — and an abortive teardown is left alone.
//!
//! # Memory
//! Nothing here allocates: a teardown may start where no request can be failed (a client's
//! cleanup, unload). Its state is inline in the socket, its one timer was reserved with the
//! socket (and is re-armed, never replaced), its disconnect and close are tracked by counters
//! rather than records, cancels go out in batches on the stack, and a waiting CLOSE had its room
//! reserved when it was admitted.
//!
//! Every step is computed under the socket lock by [`SocketObj::next_step`] and executed by
//! [`SocketObj::run`] with no lock held. Nothing here blocks.

use super::ops::{internal_tag, OpKind, OpRecord};
use super::{registry_cookie, Cancels, Conn, Phase, SockRef, SockState, SocketObj};
use crate::client::Client;
use crate::provider::{Completion, Provider, SocketKind};
use crate::request::{CancelArm, CancelTag, CancelToken, Request};
use crate::rundown::Drained;
use crate::slab::Key;
use crate::sync::Arc;
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

/// Teardown bookkeeping of one socket (inline: see the module docs, "Memory").
#[allow(clippy::struct_excessive_bools)] // flags of one state machine, each with its own meaning
pub(crate) struct Teardown<P: Provider> {
    /// How the teardown runs: the CLOSE mode against SO_LINGER, under the unload or cleanup
    /// bound if one applied at the last close.
    pub mode: TeardownMode,
    /// The deadline passed (linger expired, or the unload or cleanup bound): the teardown is
    /// abortive from now on.
    pub escalated: bool,
    /// The teardown's abortive disconnect completed: after an escalation the teardown waits for
    /// it only (the close then forces a stuck graceful one to complete).
    pub abortive_disconnect_done: bool,
    /// The timer is armed and stored in `timer` (not merely reserved there).
    timer_armed: bool,
    /// A deadline timer was armed, or is being armed, and has neither fired nor been cancelled:
    /// the object does not finish while this is set.
    pub timer_outstanding: bool,
    /// The close was issued and has not completed.
    pub close_pending: bool,
    /// Disconnects the teardown issued that have not completed (a graceful one and, after an
    /// escalation, the abortive one).
    pub disconnects_pending: u32,
    /// Cancel batches being delivered: the teardown does not move on until they are all sent,
    /// so an abortive disconnect never overtakes the cancels of the close that started it.
    pub hold: u32,
    /// The disconnect performed (one that succeeded; abortive wins), for the CLOSE reply.
    pub disconnect: Disconnect,
    /// The close's status (STATUS_PENDING until it completed), for the CLOSE reply.
    pub close_status: NtStatus,
    /// The delay the outstanding timer should have (ms). A bound lowers it; if the timer is still
    /// being armed then, its armer re-arms it ([`SocketObj::arm_timer`]).
    pub timer_ms: u64,
    /// The socket's timer, reserved with the socket; `None` while someone arms or cancels it.
    timer: Option<P::TimerRef>,
}

/// A CLOSE waiting for the teardown (cancellable; cleanup of its client completes it).
pub(crate) struct Waiter<P: Provider, R: Request<P>> {
    pub req: R,
    /// Operations the CLOSE cancelled (for its reply).
    pub cancelled: u32,
    /// The client it came from and its key in that client's table of parked CLOSEs.
    pub client: Option<(Arc<Client<P, R>>, Key)>,
}

impl<P: Provider> Teardown<P> {
    /// The state of an open socket, with its reserved timer.
    pub fn new(timer: P::TimerRef) -> Self {
        Teardown {
            mode: TeardownMode::Graceful,
            escalated: false,
            abortive_disconnect_done: false,
            timer_armed: false,
            timer_outstanding: false,
            close_pending: false,
            disconnects_pending: 0,
            hold: 0,
            disconnect: Disconnect::None,
            close_status: NtStatus::STATUS_PENDING,
            timer_ms: 0,
            timer: Some(timer),
        }
    }

    fn abortive(&self) -> bool {
        self.mode == TeardownMode::Abortive || self.escalated
    }

    /// The timer, if it is here and not armed (to arm it).
    fn take_unarmed(&mut self) -> Option<P::TimerRef> {
        if self.timer_armed {
            None
        } else {
            self.timer.take()
        }
    }

    /// The timer, if it is here and armed (to cancel it).
    fn take_armed(&mut self) -> Option<P::TimerRef> {
        if self.timer_armed {
            self.timer_armed = false;
            self.timer.take()
        } else {
            None
        }
    }

    /// Gives the timer back, armed or not.
    fn put_back(&mut self, t: P::TimerRef, armed: bool) {
        self.timer = Some(t);
        self.timer_armed = armed;
    }

    /// The timer, to drop it with a finished socket.
    pub fn take_timer(&mut self) -> Option<P::TimerRef> {
        self.timer_armed = false;
        self.timer.take()
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
    /// Revoke the rundown (then close); cancel the timer if it is armed.
    Revoke {
        timer: Option<P::TimerRef>,
    },
    /// Cancel the timer: it is no longer needed.
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
    /// The CLOSE reserved room for a waiter on the socket and a parked entry in its client
    /// (`wait` only): used if this is the last handle, given back otherwise.
    pub reserved_wait: bool,
}

impl CloseArgs {
    /// A close that asks for nothing (client cleanup, unload, a handle that could not be filed).
    pub fn plain(bound_ms: Option<u64>) -> CloseArgs {
        CloseArgs {
            mode: CloseMode::Default,
            linger_seconds: 0,
            wait: false,
            bound_ms,
            reserved_wait: false,
        }
    }
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
        let mut cancels = Cancels::<P>::new();
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
        let pick = move |rec: &OpRecord<P, R>| {
            let through_this = rec.handle_id == handle_id;
            let everything = last && abortive;
            (
                (through_this && (abortive || !rec.kind.is_send_like())) || everything,
                through_this,
            )
        };
        let more = collect_cancels(&mut st, &mut 0, &mut cancels, &mut cancelled, pick);
        let mut timer_ms = None;
        let mut reply_now = req;
        let mut parked = None;
        let mut cancel_waiter_now = None;
        let mut wait_reserved = args.reserved_wait;
        if last {
            st.td.mode = mode;
            st.td.hold += 1;
            st.set_phase(Phase::Draining);
            if let TeardownMode::Linger(ms) = mode {
                st.td.timer_outstanding = true;
                st.td.timer_ms = ms;
                timer_ms = Some(ms);
            }
            if args.wait && wait_reserved {
                if let (Some(w), Some(extras)) = (reply_now.take(), st.extras_mut()) {
                    let (key, arm) = park_reserved(self, extras, w, cancelled);
                    wait_reserved = false;
                    parked = Some(key);
                    if arm == CancelArm::Cancelled {
                        cancel_waiter_now = Some(key);
                    }
                }
            }
        }
        if wait_reserved {
            // Not the last handle (or no room was found): the reservations go back.
            if let Some(e) = st.extras_mut() {
                e.waiters.unreserve();
            }
        }
        drop(st);
        if wait_reserved {
            if let Some(c) = client {
                c.state.lock().parked.unreserve();
            }
        }
        self.send_cancel_batches(&mut cancels, more, &mut cancelled, &pick);
        if let Some(key) = parked {
            match client {
                Some(c) if args.reserved_wait => self.park_waiter(key, c),
                _ => {}
            }
        }
        if let Some(key) = cancel_waiter_now {
            self.cancel_waiter(key);
        }
        if last {
            self.state.lock().td.hold -= 1;
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

    /// Records the client of a waiting CLOSE (with the room its admission reserved there), so
    /// that its cleanup can complete it; if the client is already cleaned up, the CLOSE
    /// completes (cancelled) at once.
    fn park_waiter(&self, key: Key, client: &Arc<Client<P, R>>) {
        let Some(ck) = client.park_reserved(self.clone(), key) else {
            self.cancel_waiter(key);
            return;
        };
        let mut st = self.state.lock();
        if let Some(w) = st.extras_mut().and_then(|e| e.waiters.get_mut(key)) {
            w.client = Some((client.clone(), ck));
            return;
        }
        // Completed meanwhile.
        drop(st);
        client.unpark(ck);
    }
}

/// Files a waiting CLOSE in the room its admission reserved; returns its key and what arming
/// its cancel did.
fn park_reserved<P: Provider, R: Request<P>>(
    sock: &SockRef<P, R>,
    extras: &mut super::Extras<P, R>,
    mut w: R,
    cancelled: u32,
) -> (Key, CancelArm) {
    let key = extras.waiters.next_key().unwrap_or_default();
    let token = CancelToken::new(
        crate::sync::share::<SocketObj<P, R>>(&sock.0),
        CancelTag::Waiter(key),
    );
    // The front end's cancel state was reserved with the rest (`Request::reserve_cancel`): no
    // NoMemory here.
    let arm = w.set_cancel(token);
    debug_assert_ne!(
        arm,
        CancelArm::NoMemory,
        "a waiting CLOSE's cancel state was reserved"
    );
    let inserted = extras.waiters.insert_reserved(Waiter {
        req: w,
        cancelled,
        client: None,
    });
    debug_assert_eq!(inserted.ok(), Some(key));
    (key, arm)
}

/// Asks for the cancel of the operations `pick` selects (the second value: "issued through the
/// closed handle", counted in `cancelled`), from slot `*cursor` on, into `batch`. Returns `true`
/// if the batch filled up before the end (send it, then come back from `*cursor`).
pub(crate) fn collect_cancels<P: Provider, R: Request<P>>(
    st: &mut SockState<P, R>,
    cursor: &mut u32,
    batch: &mut Cancels<P>,
    cancelled: &mut u32,
    pick: impl Fn(&OpRecord<P, R>) -> (bool, bool),
) -> bool {
    for (key, rec) in st.ops.iter_mut_from(*cursor) {
        let (cancel, counted) = pick(rec);
        if !cancel {
            continue;
        }
        if !rec.cancel.is_requested() {
            *cancelled += u32::from(counted);
        }
        batch.add(rec.request_cancel());
        if batch.is_full() {
            *cursor = key.index + 1;
            return true;
        }
    }
    false
}

impl<P: Provider, R: Request<P>> SocketObj<P, R> {
    /// Sends the cancels in `batch`, then — if `more` (the batch filled up) — the rest that `pick`
    /// chooses, one batch at a time, each collected under the lock and sent without it. Called
    /// with the lock released. The scan restarts at the first record: one whose cancel was
    /// already requested yields nothing to send and is not counted again in `cancelled`.
    fn send_cancel_batches(
        &self,
        batch: &mut Cancels<P>,
        mut more: bool,
        cancelled: &mut u32,
        pick: &impl Fn(&OpRecord<P, R>) -> (bool, bool),
    ) {
        let mut cursor = 0;
        loop {
            self.send_cancels(batch.drain());
            if !more {
                break;
            }
            let mut st = self.state.lock();
            more = collect_cancels(&mut st, &mut cursor, batch, cancelled, pick);
        }
    }

    /// Completes a waiting CLOSE with STATUS_CANCELLED (IoCancelIrp on it, or its client's
    /// cleanup). The teardown goes on.
    pub fn cancel_waiter(&self, key: Key) {
        let w = self.state.lock().extras_mut().and_then(|e| e.waiters.remove(key));
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
            Rearm(T),
        }
        let act = {
            let mut st = self.state.lock();
            if !matches!(st.phase, Phase::Draining | Phase::Disconnecting) {
                return;
            }
            let td = &mut st.td;
            if td.abortive() {
                return;
            }
            if !td.timer_outstanding {
                td.timer_outstanding = true;
                td.timer_ms = ms;
                Act::Arm
            } else if td.timer_ms > ms {
                td.timer_ms = ms;
                match td.take_armed() {
                    Some(t) => Act::Rearm(t),
                    // Being armed: its armer sees the lower `timer_ms` and re-arms it.
                    // (Or firing: the teardown turns abortive now anyway.)
                    None => return,
                }
            } else {
                return;
            }
        };
        match act {
            Act::Arm => self.arm_timer(ms),
            Act::Rearm(t) => {
                let still_outstanding = self.shared.provider.cancel_timer(&t);
                self.state.lock().td.put_back(t, false);
                if still_outstanding {
                    // Cancelled before it fired: armed again, shorter.
                    self.arm_timer(ms);
                }
                // Otherwise it is firing: the teardown turns abortive now.
            }
        }
    }

    /// Arms the socket's timer (`timer_outstanding` is already set, `timer_ms` says how long)
    /// and stores it armed — unless meanwhile it fired, the teardown moved past the point where
    /// it matters, or a bound asked for a shorter delay (then it is re-armed).
    pub(crate) fn arm_timer(&self, ms: u64) {
        let p = &self.shared.provider;
        let cookie = registry_cookie(self.registry_key);
        let taken = self.state.lock().td.take_unarmed();
        let Some(t) = taken else {
            // No timer to arm (it cannot be missing from a filed socket): no deadline, rather
            // than a teardown that can never finish.
            debug_assert!(false, "a socket without its teardown timer");
            let step = {
                let mut st = self.state.lock();
                st.td.timer_outstanding = false;
                self.next_step(&mut st)
            };
            self.run(step);
            return;
        };
        let mut ms = ms;
        loop {
            p.arm_timer(&t, ms, cookie);
            let mut st = self.state.lock();
            if !st.td.timer_outstanding {
                // Fired already, while being armed.
                st.td.put_back(t, false);
                return;
            }
            if !matches!(st.phase, Phase::Draining | Phase::Disconnecting) {
                // The teardown moved past the point where the timer matters meanwhile.
                drop(st);
                self.run(Step::CancelTimer(t));
                return;
            }
            let wanted = st.td.timer_ms;
            if wanted >= ms {
                st.td.put_back(t, true);
                return;
            }
            // A bound arrived while this timer was being armed: armed again, shorter.
            drop(st);
            if !p.cancel_timer(&t) {
                // Firing: the teardown turns abortive now.
                self.state.lock().td.put_back(t, false);
                return;
            }
            ms = wanted;
        }
    }

    /// The linger (or unload, or cleanup) deadline passed.
    #[allow(clippy::match_same_arms)] // one arm per phase, each with its reason (style.md item 6)
    pub(crate) fn timer_fired(&self) {
        let mut st = self.state.lock();
        st.td.timer_outstanding = false;
        // The timer object stays (spent): it is dropped with the socket.
        st.td.timer_armed = false;
        let mut cancels = Cancels::<P>::new();
        let mut step = Step::None;
        let mut more = false;
        let mut held = false;
        match st.phase {
            // Before the teardown: cannot happen (timers start with it).
            Phase::Open => {}
            // Sends did not finish in time: cancel them and go abortive now.
            Phase::Draining => {
                st.td.escalated = true;
                more = collect_cancels(&mut st, &mut 0, &mut cancels, &mut 0, |_| (true, false));
                st.td.hold += 1;
                held = true;
            }
            // The graceful disconnect did not finish (peer not reading): reset.
            Phase::Disconnecting => {
                if !st.td.escalated {
                    st.td.escalated = true;
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
        self.send_cancel_batches(&mut cancels, more, &mut 0, &|_| (true, false));
        if held {
            self.state.lock().td.hold -= 1;
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
                if st.td.hold > 0 {
                    return Step::None;
                }
                let abortive = st.td.abortive();
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
                        timer: st.td.take_armed(),
                    }
                }
            }
            // Wait for the disconnect; after an escalation, only for the abortive one.
            Phase::Disconnecting => {
                let td = &st.td;
                if td.disconnects_pending == 0 || (td.escalated && td.abortive_disconnect_done) {
                    st.set_phase(Phase::Closing);
                    Step::Revoke {
                        timer: st.td.take_armed(),
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
                    && st.td.disconnects_pending == 0
                    && st.replying == 0
                    && !st.td.timer_outstanding
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
        st.td.disconnects_pending += 1;
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
                    let step = {
                        let mut st = self.state.lock();
                        st.td.put_back(t, false);
                        st.td.timer_outstanding = false;
                        self.next_step(&mut st)
                    };
                    self.run(step);
                } else {
                    // The callback runs (or ran) and clears `timer_outstanding` itself.
                    self.state.lock().td.put_back(t, false);
                }
            }
            Step::Finish => self.finish(),
        }
    }

    /// Issues one of the teardown's own operations (disconnect, close), tracked by counters, not
    /// records: nothing is allocated. `entered`: the caller holds the rundown (disconnect) or
    /// the rundown drained (close).
    pub fn start_internal(&self, kind: OpKind, entered: bool) {
        {
            let mut st = self.state.lock();
            st.stats.ops_started += 1;
            if kind == OpKind::Close {
                st.td.close_pending = true;
            }
        }
        // The socket reaches its completion through a new reference to itself, found in the
        // registry, where it stays until it finishes — after this operation completed.
        let me = self.shared.sockets.lock().get(self.registry_key).cloned();
        let (Some(me), Some(s)) = (me, self.provider_socket()) else {
            debug_assert!(false, "a teardown operation on a socket not filed");
            self.internal_completed(kind, NtStatus::STATUS_INVALID_DEVICE_STATE);
            if entered && self.rundown.release() == Drained::Yes {
                self.start_internal(OpKind::Close, false);
            }
            return;
        };
        let done = Completion::for_target(crate::sync::share::<SocketObj<P, R>>(&me.0), internal_tag(kind));
        let p = &self.shared.provider;
        let opref = match kind {
            OpKind::Disconnect { abortive } => p.teardown_disconnect(s, abortive, done),
            OpKind::Close => p.close(s, done),
            _ => {
                debug_assert!(false, "not an internal op: {kind:?}");
                done.complete(crate::provider::OpOutput::status(
                    NtStatus::STATUS_INVALID_DEVICE_REQUEST,
                ));
                None
            }
        };
        // Nothing cancels the teardown's own operations.
        drop(opref);
        if entered && self.rundown.release() == Drained::Yes {
            self.start_internal(OpKind::Close, false);
        }
    }

    /// One of the teardown's own operations completed.
    pub(crate) fn internal_completed(&self, kind: OpKind, status: NtStatus) {
        let step = {
            let mut st = self.state.lock();
            st.stats.ops_completed += 1;
            if status == NtStatus::STATUS_CANCELLED {
                st.stats.ops_cancelled += 1;
            }
            match kind {
                OpKind::Disconnect { abortive } => st.td.disconnect_completed(abortive, status),
                OpKind::Close => {
                    st.td.close_pending = false;
                    st.td.close_status = status;
                    st.set_phase(Phase::Closed);
                }
                _ => debug_assert!(false, "not an internal op: {kind:?}"),
            }
            self.next_step(&mut st)
        };
        self.run(step);
    }

    /// The end: every IRP completed, the timer cannot fire. Completes waiting CLOSE requests and
    /// lets the engine forget the socket.
    fn finish(&self) {
        let (timer, status, disconnect) = {
            let mut st = self.state.lock();
            (st.td.take_timer(), st.td.close_status, st.td.disconnect)
        };
        drop(timer);
        let mut cursor = 0;
        loop {
            let w = self
                .state
                .lock()
                .extras_mut()
                .and_then(|e| e.waiters.take_next(&mut cursor));
            let Some((_, w)) = w else { break };
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
