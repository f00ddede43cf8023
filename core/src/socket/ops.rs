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
//! completion cancels a timer that has not fired. The timers are kept with the socket's extras
//! (`Extras::deadlines`), by operation key. Every timer counts in
//! `Extras::deadline_timers` from before it is started until it fired or was cancelled, and the
//! object does not finish before that count is back to zero (invariant 1): no deadline timer
//! ever fires on a finished socket.

use super::{Cancels, Conn, Deadline, Phase, SockRef, SocketObj};
use crate::cancel::CancelState;
use crate::cancel::Deadline::{CancelledBefore, Passed};
use crate::client::Client;
use crate::provider::{Completion, CompletionSink, OpOutput, OpValue, Provider};
use crate::request::{CancelToken, Request};
use crate::rundown::Drained;
use crate::slab::Key;
use crate::sync::Arc;
use alloc::boxed::Box;
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

/// One operation in flight.
pub(crate) struct OpRecord<P: Provider, R: Request<P>> {
    pub kind: OpKind,
    /// The handle it was issued through (0: the teardown's own).
    pub handle_id: u32,
    pub request: Option<R>,
    pub client: Option<Arc<Client<P, R>>>,
    /// Its cancel bookkeeping, which also says whether the deadline passed (a failure is then
    /// reported as STATUS_IO_TIMEOUT).
    pub cancel: CancelState<P>,
}

impl<P: Provider, R: Request<P>> OpRecord<P, R> {
    /// Asks for a cancel; returns the reference to cancel now, if the call returned.
    pub fn request_cancel(&mut self) -> Option<P::OpRef> {
        self.cancel.request()
    }
}

/// The completion sink of an operation bound to a socket.
struct OpSink<P: Provider, R: Request<P>> {
    sock: SockRef<P, R>,
    key: Key,
}

impl<P: Provider, R: Request<P>> CompletionSink<P> for OpSink<P, R> {
    fn complete(self: Box<Self>, output: OpOutput<P>) {
        self.sock.on_complete(self.key, output);
    }
}

impl<P: Provider, R: Request<P>> SockRef<P, R> {
    /// Starts a client's operation through handle `handle_id`, or completes `req` with the reason
    /// it cannot start (the handle was closed since its lookup, or a limit was reached).
    /// `deadline` is resolved now (a socket default as it is at this moment).
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
        let mut st = self.state.lock();
        let refuse = match st.phase {
            // Invariant 3: the handle may have been closed after the lookup while another one
            // keeps the socket open; its close cancelled what existed, so refuse what comes late.
            Phase::Open => (!st.handles.contains(handle_id)).then_some(NtStatus::STATUS_INVALID_HANDLE),
            // The last handle was closed after the lookup: the request names a closed handle.
            Phase::Draining | Phase::Disconnecting | Phase::Closing | Phase::Closed | Phase::Finished => {
                Some(NtStatus::STATUS_INVALID_HANDLE)
            }
        };
        let refuse = refuse.or_else(|| {
            let limit = shared.config.max_pending_per_socket as usize;
            (st.ops.len() >= limit).then_some(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
        });
        let Some(key) = st.ops.next_key().filter(|_| refuse.is_none()) else {
            drop(st);
            client.release_pending();
            let status = refuse.unwrap_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES);
            shared.complete_engine_request(req, status, &[], 0, buffer);
            return;
        };
        // INVARIANT: the rundown is revoked only after the phase left `Open`, under this lock.
        let entered = self.rundown.try_acquire();
        debug_assert!(entered, "rundown revoked while open");
        let target = self.clone();
        req.set_cancel(CancelToken::new(Box::new(move || target.cancel_op(key))));
        let deadline_ms = st.resolve_deadline(deadline);
        let rec = OpRecord {
            kind,
            handle_id,
            request: Some(req),
            client: Some(client.clone()),
            cancel: CancelState::issuing(),
        };
        let inserted = st.ops.insert(rec);
        debug_assert_eq!(inserted.ok(), Some(key));
        if kind.is_send_like() {
            st.sends_pending += 1;
        }
        st.stats.ops_started += 1;
        drop(st);
        let done = Completion::new(Box::new(OpSink {
            sock: self.clone(),
            key,
        }));
        let opref = issue(&shared.provider, &self.socket, buffer, done);
        self.after_issue(key, opref, deadline_ms);
    }

    /// Issues one of the teardown's own operations (disconnect, close). `entered`: the caller
    /// holds the rundown (disconnect) or the rundown drained (close).
    pub fn start_internal(&self, kind: OpKind, entered: bool) {
        let key = {
            let mut st = self.state.lock();
            let rec = OpRecord {
                kind,
                handle_id: 0,
                request: None,
                client: None,
                cancel: CancelState::issuing(),
            };
            st.stats.ops_started += 1;
            match st.ops.insert(rec) {
                Ok(k) => k,
                Err(_) => return,
            }
        };
        let done = Completion::new(Box::new(OpSink {
            sock: self.clone(),
            key,
        }));
        let p = &self.shared.provider;
        let opref = match kind {
            OpKind::Disconnect { abortive } => p.disconnect(&self.socket, abortive, done),
            OpKind::Close => p.close(&self.socket, done),
            _ => {
                debug_assert!(false, "not an internal op: {kind:?}");
                done.complete(OpOutput::status(NtStatus::STATUS_INVALID_DEVICE_REQUEST));
                None
            }
        };
        if entered {
            self.after_issue(key, opref, None);
        } else if let Some(rec) = self.state.lock().ops.get_mut(key) {
            // The close: nothing may be called after it, so its reference is never used.
            let _ = rec.cancel.issued(None);
        }
    }

    /// The provider call returned: keep its cancel reference, send a cancel that arrived during
    /// the call, count the deadline timer to start if the operation is still pending, leave the
    /// rundown; then start that timer.
    fn after_issue(&self, key: Key, opref: Option<P::OpRef>, deadline_ms: Option<u32>) {
        let (cancel, arm) = {
            let mut st = self.state.lock();
            match st.ops.get_mut(key) {
                Some(rec) => {
                    let cancel = rec.cancel.issued(opref);
                    // A cancelled operation is ending anyway.
                    let arm = deadline_ms.filter(|_| !rec.cancel.is_requested());
                    if arm.is_some() {
                        // Counted before it exists: the object cannot finish under the starter.
                        st.extras().deadline_timers += 1;
                    }
                    (cancel, arm)
                }
                // Completed during the call.
                None => (None, None),
            }
        };
        if let Some(op) = cancel {
            self.shared.provider.cancel(&op);
        }
        if self.rundown.release() == Drained::Yes {
            self.start_internal(OpKind::Close, false);
        }
        if let Some(ms) = arm {
            self.arm_deadline(key, ms);
        }
    }

    /// Starts operation `key`'s deadline timer (already counted) and stores it with the socket's
    /// extras (not in the record: an operation without a deadline does not pay for it) — unless
    /// the operation completed meanwhile: then the timer is cancelled again.
    fn arm_deadline(&self, key: Key, ms: u32) {
        let target = self.clone();
        let t = self
            .shared
            .provider
            .start_timer(u64::from(ms), Box::new(move || target.deadline_fired(key)));
        let orphan = {
            let mut st = self.state.lock();
            if st.ops.get(key).is_some() {
                // If it fired already, the completion's cancel of it returns false: harmless.
                st.extras().deadlines.push((key, t));
                None
            } else {
                Some(t)
            }
        };
        if let Some(t) = orphan {
            self.drop_deadline(t);
        }
    }

    /// Cancels a deadline timer that is no longer needed; if that worked (the callback will never
    /// run) it no longer counts, and a closed socket may finish.
    fn drop_deadline(&self, t: P::TimerRef) {
        if self.shared.provider.cancel_timer(&t) {
            drop(t);
            let step = {
                let mut st = self.state.lock();
                st.extras().deadline_timers -= 1;
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
            // This timer: it no longer needs cancelling (dropped after the lock).
            let fired = st.extras().take_deadline(key);
            let (cancel, passed) = match st.ops.get_mut(key).map(|rec| rec.cancel.request_timeout()) {
                Some(Passed(cancel)) => (cancel, true),
                // Already being cancelled (a close, CANCEL): that is the cause; or completed
                // before the timer could be cancelled.
                Some(CancelledBefore) | None => (None, false),
            };
            let extras = st.extras();
            extras.deadline_timers -= 1;
            // Counted when it passed: the request then ends STATUS_IO_TIMEOUT, or with its data
            // if the operation completes anyway (a provider that ignores cancels, as Wine's,
            // completes it later).
            extras.deadlines_expired += u64::from(passed);
            (cancel, self.next_step(&mut st), fired)
        };
        drop(fired);
        self.send_cancels(cancel.into_iter());
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
        self.send_cancels(op.into_iter());
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
        let mut cancels: Cancels<P> = Cancels::<P>::new();
        {
            let mut st = self.state.lock();
            for (_, rec) in st.ops.iter_mut() {
                if rec.handle_id == handle_id && !rec.cancel.is_requested() {
                    count += 1;
                    cancels.extend(rec.request_cancel());
                }
            }
        }
        self.send_cancels(cancels.into_iter());
        count
    }

    /// An operation completed.
    fn on_complete(&self, key: Key, out: OpOutput<P>) {
        let mut st = self.state.lock();
        let Some(rec) = st.ops.remove(key) else {
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
            OpKind::Disconnect { abortive } => st.td().disconnect_completed(abortive, out.status),
            OpKind::Close => {
                st.td().close_status = out.status;
                st.set_phase(Phase::Closed);
            }
            OpKind::Bind
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
        let deadline = if st.deadline_timers() > 0 {
            st.extras().take_deadline(key)
        } else {
            None
        };
        let step = self.next_step(&mut st);
        drop(st);
        if let Some(c) = &rec.client {
            c.release_pending();
        }
        if let Some(req) = rec.request {
            self.reply(rec.kind, rec.client, req, out);
        }
        self.run(step);
        if let Some(t) = deadline {
            self.drop_deadline(t);
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
    fn reply(&self, kind: OpKind, client: Option<Arc<Client<P, R>>>, req: R, out: OpOutput<P>) {
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
                let Some(client) = client else {
                    shared.complete_socket_request(req, NtStatus::STATUS_UNSUCCESSFUL, &[], 0, buffer);
                    return;
                };
                // The accepted socket becomes an object of its own; this object's live reference
                // (held until this reply returned: `replying`) covers the nested acquire.
                shared.live.acquire_nested();
                let sock =
                    SocketObj::create(shared, socket, crate::provider::SocketKind::Stream, self.family);
                sock.state.lock().conn = Conn::Connected;
                match client.add_new_socket(&sock) {
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
