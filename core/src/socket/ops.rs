//! Issuing, cancelling and completing the provider operations of one socket.
//!
//! The life of an operation: a record is inserted under the socket lock (with the request and the
//! rundown entered), the provider is called with no lock held, the returned cancel reference is
//! stored (or used at once if a cancel arrived during the call), the rundown is left; later the
//! completion removes the record, updates the counters, completes the request and drives the
//! teardown. A cancel that arrives while the call still runs is only recorded (`CancelState`): the
//! issuer sends it when the call returns.
//!
//! # Deadlines
//! A request with a deadline (its own `timeout_ms`, or the socket's SO_RCVTIMEO / SO_SNDTIMEO)
//! gets a provider one-shot timer once its provider call returned with the operation still
//! pending. When it fires the operation is cancelled like any other (a request: the provider may
//! still complete it with success and data, which is then returned — invariant 6) and marked
//! `timed_out`, so that the failure the cancel produces is reported as STATUS_IO_TIMEOUT. The
//! completion cancels a timer that has not fired. The timer is kept in the operation's record,
//! armed only; every armed timer counts in `Extras::deadline_timers` from before it is armed
//! until it fired or was cancelled, and the object does not finish before that count is back to
//! zero (invariant 1): no deadline timer ever fires on a finished socket.
//!
//! # Memory
//! Everything an operation needs is allocated before it is admitted, under no lock held across a
//! provider call: its deadline timer (`Provider::new_timer`), room for its record and the
//! socket's extras a deadline counts in, the front end's cancel state (`Request::set_cancel`),
//! and for an ACCEPT the object of the connection it will accept ([`NewSocket`]). If any of it
//! cannot be had the request fails with STATUS_INSUFFICIENT_RESOURCES and nothing changed. The
//! completion and the cancel token hold a reference to the socket and the operation's key (no
//! allocation), so the completion path allocates nothing: data that arrived is never lost for
//! want of memory.

use super::teardown::collect_cancels;
use super::{Cancels, Conn, Deadline, NewSocket, Phase, SockRef, SocketObj};
use crate::cancel::Deadline::{CancelledBefore, Passed};
use crate::cancel::{CancelState, DeadlineTimer};
use crate::client::Client;
use crate::mem;
use crate::provider::{Completion, CompletionTarget, OpOutput, OpValue, Provider};
use crate::request::{CancelArm, CancelTag, CancelTarget, CancelToken, Request};
use crate::rundown::Drained;
use crate::slab::Key;
use crate::sync::Arc;
use wsksock_abi::msg::{
    AcceptReply, AddressReply, Message, OptionReply, PeerClose, PeerCloseReply, ReceiveFromReply,
    RECEIVE_FROM_DATA_OFFSET,
};
use wsksock_abi::{parse, NtStatus, SockAddr};

/// What an operation is (decides its reply and how a close treats it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OpKind {
    Bind,
    Listen,
    Accept,
    Connect,
    Send,
    Receive,
    SendTo,
    ReceiveFrom,
    Shutdown {
        abortive: bool,
    },
    SetOption,
    GetOption,
    GetAddress,
    /// WAIT_PEER_CLOSE.
    WaitPeerClose,
    /// The teardown's `WskDisconnect`.
    Disconnect {
        abortive: bool,
    },
    /// The teardown's `WskCloseSocket`.
    Close,
}

impl OpKind {
    /// Operations a graceful close lets finish: data queued for transmission (and a FIN).
    pub fn is_send_like(self) -> bool {
        matches!(
            self,
            OpKind::Send | OpKind::SendTo | OpKind::Shutdown { abortive: false }
        )
    }
}

/// The tag of a socket's operation `key` in its completion (and a deadline timer's cookie).
pub(crate) fn key_tag(key: Key) -> u64 {
    key.packed()
}

/// The key in a tag made by [`key_tag`].
pub(crate) fn tag_key(tag: u64) -> Key {
    Key::unpacked(tag)
}

/// The tag of one of the teardown's own operations: generation 0, which no record's key has.
pub(crate) fn internal_tag(kind: OpKind) -> u64 {
    match kind {
        OpKind::Disconnect { abortive: false } => 1,
        OpKind::Disconnect { abortive: true } => 2,
        _ => 3,
    }
}

/// The teardown operation a generation-0 tag names.
fn tag_internal(tag: u64) -> Option<OpKind> {
    match tag {
        1 => Some(OpKind::Disconnect { abortive: false }),
        2 => Some(OpKind::Disconnect { abortive: true }),
        3 => Some(OpKind::Close),
        _ => None,
    }
}

/// One operation in flight.
pub(crate) struct OpRecord<P: Provider, R: Request<P>> {
    pub kind: OpKind,
    /// The handle it was issued through.
    pub handle_id: u32,
    pub request: Option<R>,
    pub client: Option<Arc<Client<P, R>>>,
    /// Its cancel bookkeeping, which also says whether the deadline passed (a failure is then
    /// reported as STATUS_IO_TIMEOUT).
    pub cancel: CancelState<P>,
    /// Its deadline timer: reserved at admission, armed after its call if it is still pending.
    pub deadline: DeadlineTimer<P::TimerRef>,
    /// An ACCEPT's connection-to-be: its object and reservations, allocated at admission.
    pub new_socket: Option<NewSocket<P, R>>,
}

impl<P: Provider, R: Request<P>> OpRecord<P, R> {
    /// Asks for a cancel; returns the reference to cancel now, if the call returned.
    pub fn request_cancel(&mut self) -> Option<P::OpRef> {
        self.cancel.request()
    }
}

impl<P: Provider, R: Request<P>> CompletionTarget<P> for SocketObj<P, R> {
    fn completed(&self, tag: u64, output: OpOutput<P>) {
        let key = tag_key(tag);
        if key.generation == 0 {
            match tag_internal(tag) {
                Some(kind) => self.internal_completed(kind, output.status),
                None => self.shared.stats.contract_violation(),
            }
        } else {
            self.on_complete(key, output);
        }
    }
}

impl<P: Provider, R: Request<P>> CancelTarget for SocketObj<P, R> {
    fn cancel(&self, tag: CancelTag) {
        match tag {
            CancelTag::Op(key) => self.cancel_op(key),
            CancelTag::Waiter(key) => self.cancel_waiter(key),
        }
    }
}

/// Why an operation could not be admitted: the status its request completes with.
type Refusal = wsksock_abi::NtStatus;

impl<P: Provider, R: Request<P>> SockRef<P, R> {
    /// Starts a client's operation through handle `handle_id`, or completes `req` with the reason
    /// it cannot start (the handle was closed since its lookup, a limit was reached, or the
    /// memory it needs cannot be had). `deadline` is resolved now (a socket default as it is at
    /// this moment). An ACCEPT's connection object is allocated here too.
    #[allow(clippy::too_many_arguments)] // one operation's whole description, passed once
    pub fn start_op(
        &self,
        client: &Arc<Client<P, R>>,
        handle_id: u32,
        kind: OpKind,
        mut req: R,
        buffer: Option<P::Buffer>,
        deadline: Deadline,
        issue: impl FnOnce(&P, &P::Socket, Option<P::Buffer>, Completion<P>) -> Option<P::OpRef>,
    ) {
        let shared = &self.shared;
        if !client.reserve_pending() {
            shared.complete_engine_request(req, NtStatus::STATUS_INSUFFICIENT_RESOURCES, &[], 0, buffer);
            return;
        }
        let refuse = |req: R, buffer: Option<P::Buffer>, status: Refusal| {
            client.release_pending();
            shared.complete_engine_request(req, status, &[], 0, buffer);
        };
        // What admission needs that calls the provider, before any lock: the deadline's timer,
        // and an ACCEPT's connection-to-be (whose teardown timer is made with it).
        let deadline_ms = self.state.lock().resolve_deadline(deadline);
        let timer = match deadline_ms.map(|_| self.new_deadline_timer()) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => return refuse(req, buffer, e.into()),
        };
        let new_socket = if kind == OpKind::Accept {
            match NewSocket::reserve(client, crate::provider::SocketKind::Stream, self.family) {
                Ok(n) => Some(n),
                Err(e) => return refuse(req, buffer, e.into()),
            }
        } else {
            None
        };
        let mut st = self.state.lock();
        let refused = match st.phase {
            // Invariant 3: the handle may have been closed after the lookup while another one
            // keeps the socket open; its close cancelled what existed, so refuse what comes late.
            Phase::Open => (!st.handles.contains(handle_id)).then_some(NtStatus::STATUS_INVALID_HANDLE),
            // The last handle was closed after the lookup: the request names a closed handle.
            Phase::Draining | Phase::Disconnecting | Phase::Closing | Phase::Closed | Phase::Finished => {
                Some(NtStatus::STATUS_INVALID_HANDLE)
            }
        };
        let refused = refused.or_else(|| {
            let limit = shared.config.max_pending_per_socket as usize;
            (st.ops.len() >= limit).then_some(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
        });
        // Room for the record, and the extras an armed deadline counts in.
        let refused = refused.or_else(|| {
            let room = st.ops.make_room(&shared.provider);
            let extras = if timer.is_some() {
                st.extras_or_alloc(&shared.provider).map(|_| ())
            } else {
                Ok(())
            };
            room.and(extras).err().map(Into::into)
        });
        let key = st.ops.next_key();
        let (Some(key), None) = (key, refused) else {
            drop(st);
            // The timer was never armed; the kit gives its reservations back (no lock held).
            drop((timer, new_socket));
            return refuse(
                req,
                buffer,
                refused.unwrap_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES),
            );
        };
        let token = CancelToken::new(crate::sync::share::<SocketObj<P, R>>(&self.0), CancelTag::Op(key));
        let arm = req.set_cancel(token);
        if arm == CancelArm::NoMemory {
            drop(st);
            drop((timer, new_socket));
            return refuse(req, buffer, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        }
        // INVARIANT: the rundown is revoked only after the phase left `Open`, under this lock.
        let entered = self.rundown.try_acquire();
        debug_assert!(entered, "rundown revoked while open");
        let mut rec = OpRecord {
            kind,
            handle_id,
            request: Some(req),
            client: Some(client.clone()),
            cancel: CancelState::issuing(),
            deadline: DeadlineTimer::reserved(timer),
            new_socket,
        };
        if arm == CancelArm::Cancelled {
            // Cancelled before the front end could arm its routine: sent when the call returns.
            let _ = rec.request_cancel();
        }
        // Room made above: the insert cannot fail, nor allocate.
        let inserted = st.ops.insert(rec, &mem::NoHook);
        debug_assert_eq!(inserted.as_ref().ok(), Some(&key));
        if kind.is_send_like() {
            st.sends_pending += 1;
        }
        st.stats.ops_started += 1;
        drop(st);
        let done = Completion::for_target(crate::sync::share::<SocketObj<P, R>>(&self.0), key_tag(key));
        let opref = if let Some(s) = self.provider_socket() {
            issue(&shared.provider, s, buffer, done)
        } else {
            // A socket not filed has no handle, so no operation: cannot happen.
            debug_assert!(false, "an operation on a socket not filed");
            done.complete(OpOutput::data(NtStatus::STATUS_INVALID_DEVICE_STATE, 0, buffer));
            None
        };
        self.after_issue(key, opref, deadline_ms);
    }

    /// A deadline timer for one of this socket's operations, not armed (its cookie, given when
    /// it is armed, is the operation's key).
    fn new_deadline_timer(&self) -> Result<P::TimerRef, mem::AllocError> {
        let p = &self.shared.provider;
        let target = self.clone();
        let callback = mem::boxed(p, move |cookie| target.deadline_fired(tag_key(cookie)))?;
        p.new_timer(callback).ok_or(mem::AllocError)
    }
}

impl<P: Provider, R: Request<P>> SocketObj<P, R> {
    /// The provider call returned: keep its cancel reference, send a cancel that arrived during
    /// the call, count the deadline timer to arm if the operation is still pending, leave the
    /// rundown; then arm that timer (a deadline timer not armed is dropped: it never was).
    fn after_issue(&self, key: Key, opref: Option<P::OpRef>, deadline_ms: Option<u32>) {
        let (cancel, arm, unused) = {
            let mut st = self.state.lock();
            match st.ops.get_mut(key) {
                Some(rec) => {
                    let cancel = rec.cancel.issued(opref);
                    let timer = rec.deadline.take_reserved();
                    // A cancelled operation is ending anyway.
                    let armed = !rec.cancel.is_requested();
                    let (arm, unused) = match (timer, deadline_ms) {
                        (Some(t), Some(ms)) if armed => (Some((t, ms)), None),
                        (t, _) => (None, t),
                    };
                    if arm.is_some() {
                        // Counted before it is armed: the object cannot finish under the armer.
                        // The extras exist: admission made them for the deadline.
                        if let Some(e) = st.extras_mut() {
                            e.deadline_timers += 1;
                        }
                    }
                    (cancel, arm, unused)
                }
                // Completed during the call (its record, and an unarmed timer, are gone).
                None => (None, None, None),
            }
        };
        drop(unused);
        if let Some(op) = cancel {
            self.shared.provider.cancel(&op);
        }
        if self.rundown.release() == Drained::Yes {
            self.start_internal(OpKind::Close, false);
        }
        if let Some((t, ms)) = arm {
            self.arm_deadline(key, t, ms);
        }
    }

    /// Arms operation `key`'s deadline timer (already counted) and keeps it in the record —
    /// unless the operation completed meanwhile: then the timer is cancelled again.
    fn arm_deadline(&self, key: Key, t: P::TimerRef, ms: u32) {
        self.shared.provider.arm_timer(&t, u64::from(ms), key_tag(key));
        let orphan = {
            let mut st = self.state.lock();
            match st.ops.get_mut(key) {
                Some(rec) => {
                    // If it fired already, the completion's cancel of it returns false: harmless.
                    rec.deadline = DeadlineTimer::Armed(t);
                    None
                }
                None => Some(t),
            }
        };
        if let Some(t) = orphan {
            self.drop_deadline(t);
        }
    }

    /// Cancels an armed deadline timer that is no longer needed; if that worked (the callback
    /// will never run) it no longer counts, and a closed socket may finish.
    fn drop_deadline(&self, t: P::TimerRef) {
        if self.shared.provider.cancel_timer(&t) {
            drop(t);
            let step = {
                let mut st = self.state.lock();
                if let Some(e) = st.extras_mut() {
                    e.deadline_timers -= 1;
                }
                self.next_step(&mut st)
            };
            self.run(step);
        }
        // Otherwise the callback runs (or ran) and uncounts it itself.
    }

    /// Operation `key`'s deadline passed: cancel it, and report its failure as a timeout.
    fn deadline_fired(&self, key: Key) {
        let (cancel, step, fired) = {
            let mut st = self.state.lock();
            let (cancel, passed, fired) = match st.ops.get_mut(key) {
                Some(rec) => {
                    // This timer: it no longer needs cancelling (dropped after the lock).
                    let fired = rec.deadline.take_armed();
                    match rec.cancel.request_timeout() {
                        Passed(cancel) => (cancel, true, fired),
                        // Already being cancelled (a close, CANCEL): that is the cause.
                        CancelledBefore => (None, false, fired),
                    }
                }
                // Completed before the timer could be cancelled.
                None => (None, false, None),
            };
            if let Some(extras) = st.extras_mut() {
                extras.deadline_timers -= 1;
                // Counted when it passed: the request then ends STATUS_IO_TIMEOUT, or with its
                // data if the operation completes anyway (a provider that ignores cancels, as
                // Wine's, completes it later).
                extras.deadlines_expired += u64::from(passed);
            }
            (cancel, self.next_step(&mut st), fired)
        };
        drop(fired);
        let mut batch = Cancels::<P>::new();
        batch.add(cancel);
        self.send_cancels(batch.drain());
        self.run(step);
    }

    /// Cancels one operation (a request's own cancellation, `IoCancelIrp` on it).
    pub fn cancel_op(&self, key: Key) {
        let op = self
            .state
            .lock()
            .ops
            .get_mut(key)
            .and_then(OpRecord::request_cancel);
        let mut batch = Cancels::<P>::new();
        batch.add(op);
        self.send_cancels(batch.drain());
    }

    /// Sends cancels collected under the lock. Skipped once the rundown is revoked: the close
    /// cancels everything, and nothing may be called on the socket during or after it.
    pub fn send_cancels(&self, cancels: impl Iterator<Item = P::OpRef>) {
        let mut cancels = cancels.peekable();
        if cancels.peek().is_none() || !self.rundown.try_acquire() {
            return;
        }
        for op in cancels {
            self.shared.provider.cancel(&op);
        }
        if self.rundown.release() == Drained::Yes {
            self.start_internal(OpKind::Close, false);
        }
    }

    /// Whether an operation of `client` is in flight on this socket.
    pub fn has_ops_of(&self, client: &Client<P, R>) -> bool {
        self.state
            .lock()
            .ops
            .iter()
            .any(|(_, rec)| rec.client.as_ref().is_some_and(|c| c.id() == client.id()))
    }

    /// Cancels every operation issued through `handle_id` (CANCEL request); returns how many.
    pub fn cancel_handle_ops(&self, handle_id: u32) -> u32 {
        let mut count = 0;
        let mut cancels = Cancels::<P>::new();
        let mut cursor = 0;
        loop {
            let more = {
                let mut st = self.state.lock();
                collect_cancels(&mut st, &mut cursor, &mut cancels, &mut count, |rec| {
                    let ours = rec.handle_id == handle_id && !rec.cancel.is_requested();
                    (ours, ours)
                })
            };
            self.send_cancels(cancels.drain());
            if !more {
                return count;
            }
        }
    }

    /// An operation completed.
    fn on_complete(&self, key: Key, out: OpOutput<P>) {
        let mut st = self.state.lock();
        let Some(mut rec) = st.ops.remove(key) else {
            // A completion for an unknown or already completed operation: a provider bug.
            drop(st);
            self.shared.stats.contract_violation();
            return;
        };
        // An operation asked to cancel (by a close, CANCEL, or IoCancelIrp) that then fails — for
        // example completed by the abortive disconnect before the cancel took effect — reports
        // STATUS_CANCELLED; one that succeeded anyway keeps its data.
        let mut out = out;
        if rec.cancel.is_requested() && out.status.is_error() {
            out.status = if rec.cancel.is_timed_out() {
                NtStatus::STATUS_IO_TIMEOUT
            } else {
                NtStatus::STATUS_CANCELLED
            };
        }
        let ok = out.status.is_success();
        st.stats.ops_completed += 1;
        if rec.request.is_some() {
            st.stats.requests += 1;
            st.stats.requests_failed += u64::from(out.status.is_error());
        }
        if out.status == NtStatus::STATUS_CANCELLED {
            st.stats.ops_cancelled += 1;
        }
        let bytes = if ok { out.bytes as u64 } else { 0 };
        match rec.kind {
            OpKind::Send | OpKind::SendTo => {
                st.sends_pending -= 1;
                st.stats.bytes_sent += bytes;
            }
            OpKind::Shutdown { abortive: false } => {
                st.sends_pending -= 1;
                // Only a SHUTDOWN that succeeded sent the FIN (one that failed or was cancelled
                // did not: the teardown must still disconnect).
                if ok && st.conn == Conn::Connected {
                    st.conn = Conn::SendShutDown;
                }
            }
            OpKind::Shutdown { abortive: true } => {
                if ok && st.conn != Conn::None {
                    st.conn = Conn::Reset;
                }
            }
            OpKind::Receive | OpKind::ReceiveFrom => st.stats.bytes_received += bytes,
            OpKind::Connect => {
                if ok && st.conn == Conn::None {
                    st.conn = Conn::Connected;
                }
            }
            // The teardown's own operations complete through `internal_completed`.
            OpKind::Disconnect { .. }
            | OpKind::Close
            | OpKind::Bind
            | OpKind::Listen
            | OpKind::Accept
            | OpKind::SetOption
            | OpKind::GetOption
            | OpKind::GetAddress
            | OpKind::WaitPeerClose => {}
        }
        // Invariant 1: until its request is completed, this completion holds the object back
        // from finishing (a thread that sees no operation left — the close's completion, the
        // timer — must not finish it, complete a waiting CLOSE or drop the live count before).
        let replying = rec.request.is_some();
        if replying {
            st.replying += 1;
        }
        let deadline = rec.deadline.take();
        let step = self.next_step(&mut st);
        drop(st);
        if let Some(c) = &rec.client {
            c.release_pending();
        }
        if let Some(req) = rec.request.take() {
            self.reply(rec.kind, rec.client.take(), rec.new_socket.take(), req, out);
        }
        // An ACCEPT that did not file its connection gives its reservations back (no lock).
        drop(rec);
        self.run(step);
        match deadline {
            DeadlineTimer::Armed(t) => self.drop_deadline(t),
            // Completed during its call: the timer was never armed.
            DeadlineTimer::Reserved(t) => drop(t),
            DeadlineTimer::None => {}
        }
        if replying {
            let step = {
                let mut st = self.state.lock();
                st.replying -= 1;
                self.next_step(&mut st)
            };
            self.run(step);
        }
    }

    /// Completes a client's request from its operation's output.
    fn reply(
        &self,
        kind: OpKind,
        client: Option<Arc<Client<P, R>>>,
        new_socket: Option<NewSocket<P, R>>,
        req: R,
        out: OpOutput<P>,
    ) {
        let shared = &self.shared;
        let OpOutput {
            status,
            bytes,
            buffer,
            value,
        } = out;
        if !status.is_success() {
            shared.complete_socket_request(req, status, &[], 0, buffer);
            return;
        }
        match (kind, value) {
            (OpKind::Send | OpKind::Receive | OpKind::SendTo, _) => {
                shared.complete_socket_request(req, status, &[], bytes, buffer);
            }
            (OpKind::ReceiveFrom, value) => {
                let mut r = ReceiveFromReply::new_zeroed_with_header();
                r.bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
                if let OpValue::Address(a) = value {
                    r.remote = SockAddr::from(a);
                }
                let b = versioned(&req, &mut r);
                shared.complete_socket_request(req, status, b, RECEIVE_FROM_DATA_OFFSET + bytes, buffer);
            }
            (OpKind::GetOption, value) => {
                let mut r = OptionReply::new_zeroed_with_header();
                r.value = if let OpValue::Value(v) = value { v } else { 0 };
                let b = versioned(&req, &mut r);
                shared.complete_socket_request(req, status, b, b.len(), buffer);
            }
            (OpKind::GetAddress, OpValue::Address(a)) => {
                let mut r = AddressReply::new_zeroed_with_header();
                r.addr = SockAddr::from(a);
                let b = versioned(&req, &mut r);
                shared.complete_socket_request(req, status, b, b.len(), buffer);
            }
            (OpKind::WaitPeerClose, OpValue::PeerClosed(how)) => {
                let mut r = PeerCloseReply::new_zeroed_with_header();
                r.event = match how {
                    NtStatus::STATUS_SUCCESS => PeerClose::Fin,
                    NtStatus::STATUS_CONNECTION_RESET => PeerClose::Reset,
                    _ => PeerClose::Failed,
                } as u32;
                r.status = how.0;
                let b = versioned(&req, &mut r);
                shared.complete_socket_request(req, status, b, b.len(), buffer);
            }
            (
                OpKind::Accept,
                OpValue::Accepted {
                    socket,
                    local,
                    remote,
                },
            ) => {
                let (Some(_), Some(new_socket)) = (client, new_socket) else {
                    // An accept admitted without its connection's object: cannot happen. The
                    // socket goes with its value (the provider's contract ends there).
                    debug_assert!(false, "an ACCEPT without its new socket");
                    shared.complete_socket_request(req, NtStatus::STATUS_UNSUCCESSFUL, &[], 0, buffer);
                    return;
                };
                // The accepted socket becomes an object of its own, made at admission; this
                // object's live reference (held until this reply returned: `replying`) covers
                // the nested acquire.
                shared.live.acquire_nested();
                match new_socket.file(socket, true) {
                    Ok(handle) => {
                        let mut r = AcceptReply::new_zeroed_with_header();
                        r.handle = handle;
                        r.local = SockAddr::from(local);
                        r.remote = SockAddr::from(remote);
                        let b = versioned(&req, &mut r);
                        shared.complete_socket_request(req, status, b, b.len(), buffer);
                    }
                    Err(st) => shared.complete_socket_request(req, st, &[], 0, buffer),
                }
            }
            (OpKind::Accept | OpKind::GetAddress | OpKind::WaitPeerClose, _) => {
                // Success without the value the operation must produce: a provider bug.
                shared.stats.contract_violation();
                shared.complete_socket_request(req, NtStatus::STATUS_UNSUCCESSFUL, &[], 0, buffer);
            }
            (
                OpKind::Bind
                | OpKind::Listen
                | OpKind::Connect
                | OpKind::Shutdown { .. }
                | OpKind::SetOption
                | OpKind::Disconnect { .. }
                | OpKind::Close,
                _,
            ) => shared.complete_socket_request(req, status, &[], 0, buffer),
        }
    }
}

/// Reply `m` as written for `req`'s ABI version (a version-1 request gets the version-1 form).
pub(crate) fn versioned<'a, P: Provider, R: Request<P>, M: Message>(req: &R, m: &'a mut M) -> &'a [u8] {
    m.bytes_for_version(parse::version_of(req.input()))
}
