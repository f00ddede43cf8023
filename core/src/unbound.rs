//! Operations that have no socket yet — creating one, resolving a name — and so are tracked by
//! their client (so that its cleanup can cancel them) and by the engine's live count (so that
//! unload waits for them).
//!
//! # Invariants
//! - An unbound operation holds one reference on the engine's live count from before its
//!   provider call until its completion returned; a socket it creates takes its own reference
//!   first (`acquire_nested`), so the count never touches zero in between.
//! - Its record in `client.unbound` lives from before the call until the completion; a cancel
//!   that arrives while the call runs is sent when it returns ([`CancelState`]).
//! - A deadline (RESOLVE's `timeout_ms`) is a provider timer started once the call returned with
//!   the operation pending; it holds its own (nested) reference on the live count until it fired
//!   or was cancelled, so unload never reports idle with a timer still to fire. When it fires the
//!   operation is cancelled and marked `timed_out`: its failure is then STATUS_IO_TIMEOUT; a
//!   result that arrives anyway is returned.
//! - Everything the operation needs is allocated before it is admitted (its record's room, its
//!   deadline timer, a SOCKET's socket object with its reservations: [`NewSocket`]); the
//!   completion allocates nothing. The record holds the request; the completion and the cancel
//!   token hold the client and the record's key.

use crate::cancel::{CancelState, Deadline, DeadlineTimer};
use crate::client::Client;
use crate::mem::{self, AllocError};
use crate::provider::{Completion, CompletionTarget, OpOutput, OpValue, Provider, SocketParams};
use crate::request::{CancelArm, CancelTag, CancelTarget, CancelToken, Request};
use crate::shared::Shared;
use crate::slab::Key;
use crate::socket::ops::{key_tag, tag_key};
use crate::socket::NewSocket;
use crate::sync::Arc;
use wsksock_abi::msg::{HandleReply, Message, ResolveReply, RESOLVE_MAX_ADDRS};
use wsksock_abi::{NtStatus, SockAddr};

/// The record of an unbound operation in flight.
pub(crate) struct UnboundRec<P: Provider, R: Request<P>> {
    pub cancel: CancelState<P>,
    /// Its deadline timer: reserved at admission, armed after its call if it is still pending.
    deadline: DeadlineTimer<P::TimerRef>,
    kind: UnboundKind,
    req: Option<R>,
    /// A SOCKET's socket-to-be, with its reservations.
    new_socket: Option<NewSocket<P, R>>,
}

/// Starts an operation that has no socket yet; `issue` makes the provider call. With
/// `deadline_ms` it is cancelled when that many milliseconds passed (module docs).
pub(crate) fn start<P: Provider, R: Request<P>>(
    this: &Arc<Client<P, R>>,
    kind: UnboundKind,
    mut req: R,
    deadline_ms: Option<u32>,
    issue: impl FnOnce(&P, Completion<P>) -> Option<P::OpRef>,
) {
    let shared = &this.shared;
    if !this.reserve_pending() {
        shared.complete_engine_request(req, NtStatus::STATUS_INSUFFICIENT_RESOURCES, &[], 0, None);
        return;
    }
    if !shared.live.try_acquire() {
        this.release_pending();
        shared.complete_engine_request(req, NtStatus::STATUS_DEVICE_NOT_READY, &[], 0, None);
        return;
    }
    let refuse = |req: R, status: NtStatus| {
        this.release_pending();
        shared.complete_engine_request(req, status, &[], 0, None);
        shared.live_release();
    };
    // What admission needs that calls the provider, before any lock.
    let timer = match deadline_ms.map(|_| new_deadline_timer(this)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return refuse(req, e.into()),
    };
    let new_socket = match kind {
        UnboundKind::Create(params) => match NewSocket::reserve(this, params.kind, params.family) {
            Ok(n) => Some(n),
            Err(e) => {
                drop(timer);
                return refuse(req, e.into());
            }
        },
        UnboundKind::Resolve => None,
    };
    let mut st = this.state.lock();
    let admitted = if st.closed {
        Err(NtStatus::STATUS_DELETE_PENDING)
    } else {
        st.unbound
            .make_room(&shared.provider)
            .map_err(NtStatus::from)
            .and_then(|()| {
                st.unbound
                    .next_key()
                    .ok_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            })
    };
    let key = match admitted {
        Ok(key) => key,
        Err(status) => {
            drop(st);
            // Never armed; the kit gives its reservations back (no lock held).
            drop((timer, new_socket));
            return refuse(req, status);
        }
    };
    let token = CancelToken::new(crate::sync::share::<Client<P, R>>(this), CancelTag::Op(key));
    let arm = req.set_cancel(token);
    if arm == CancelArm::NoMemory {
        drop(st);
        drop((timer, new_socket));
        return refuse(req, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
    }
    let mut rec = UnboundRec {
        cancel: CancelState::issuing(),
        deadline: DeadlineTimer::reserved(timer),
        kind,
        req: Some(req),
        new_socket,
    };
    if arm == CancelArm::Cancelled {
        // Cancelled before the front end could arm its routine: sent when the call returns.
        let _ = rec.cancel.request();
    }
    // Room made above: no allocation, no failure.
    let inserted = st.unbound.insert(rec, &mem::NoHook);
    debug_assert_eq!(inserted.as_ref().ok(), Some(&key));
    drop(st);
    shared.stats.op_started();
    let done = Completion::for_target(crate::sync::share::<Client<P, R>>(this), key_tag(key));
    let opref = issue(&shared.provider, done);
    let (cancel, arm, unused) = {
        let mut st = this.state.lock();
        match st.unbound.get_mut(key) {
            Some(rec) => {
                let cancel = rec.cancel.issued(opref);
                let timer = rec.deadline.take_reserved();
                let (arm, unused) = match (timer, deadline_ms) {
                    (Some(t), Some(ms)) if !rec.cancel.is_requested() => (Some((t, ms)), None),
                    (t, _) => (None, t),
                };
                if arm.is_some() {
                    // The timer's own reference, taken while the operation still holds one.
                    shared.live.acquire_nested();
                }
                (cancel, arm, unused)
            }
            // Completed during the call (its record, and an unarmed timer, are gone).
            None => (None, None, None),
        }
    };
    drop(unused);
    if let Some(op) = cancel {
        shared.provider.cancel(&op);
    }
    if let Some((t, ms)) = arm {
        arm_deadline(this, key, t, ms);
    }
}

/// A deadline timer for one of the client's operations, not armed (its cookie, given when it is
/// armed, is the operation's key).
fn new_deadline_timer<P: Provider, R: Request<P>>(
    this: &Arc<Client<P, R>>,
) -> Result<P::TimerRef, AllocError> {
    let p = &this.shared.provider;
    let target = this.clone();
    let callback = mem::boxed(p, move |cookie| deadline_fired(&target, tag_key(cookie)))?;
    p.new_timer(callback).ok_or(AllocError)
}

/// Arms the deadline timer of operation `key` (its live reference already taken) and keeps it in
/// the record, or cancels it again if the operation completed meanwhile.
fn arm_deadline<P: Provider, R: Request<P>>(this: &Arc<Client<P, R>>, key: Key, t: P::TimerRef, ms: u32) {
    let shared = &this.shared;
    shared.provider.arm_timer(&t, u64::from(ms), key_tag(key));
    let orphan = {
        let mut st = this.state.lock();
        match st.unbound.get_mut(key) {
            Some(rec) => {
                rec.deadline = DeadlineTimer::Armed(t);
                None
            }
            None => Some(t),
        }
    };
    if let Some(t) = orphan {
        drop_deadline(shared, t);
    }
}

/// Cancels a deadline timer no longer needed; if it will never run, drops its live reference.
fn drop_deadline<P: Provider, R: Request<P>>(shared: &Shared<P, R>, t: P::TimerRef) {
    if shared.provider.cancel_timer(&t) {
        drop(t);
        shared.live_release();
    }
}

/// Operation `key`'s deadline passed: cancel it, report its failure as a timeout.
fn deadline_fired<P: Provider, R: Request<P>>(this: &Client<P, R>, key: Key) {
    let (op, fired) = {
        let mut st = this.state.lock();
        match st.unbound.get_mut(key) {
            Some(rec) => {
                let fired = rec.deadline.take_armed();
                let op = match rec.cancel.request_timeout() {
                    Deadline::Passed(cancel) => {
                        this.shared.stats.deadline_expired();
                        cancel
                    }
                    Deadline::CancelledBefore => None,
                };
                (op, fired)
            }
            None => (None, None),
        }
    };
    drop(fired);
    if let Some(op) = op {
        this.shared.provider.cancel(&op);
    }
    this.shared.live_release();
}

/// The request's own cancellation (`IoCancelIrp` on it).
fn cancel<P: Provider, R: Request<P>>(this: &Client<P, R>, key: Key) {
    let op = {
        let mut st = this.state.lock();
        st.unbound.get_mut(key).and_then(|rec| rec.cancel.request())
    };
    if let Some(op) = op {
        this.shared.provider.cancel(&op);
    }
}

/// What an unbound operation is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum UnboundKind {
    Create(SocketParams),
    Resolve,
}

impl<P: Provider, R: Request<P>> CancelTarget for Client<P, R> {
    fn cancel(&self, tag: CancelTag) {
        match tag {
            CancelTag::Op(key) => cancel(self, key),
            // A client has no waiting CLOSEs of its own (they are its sockets').
            CancelTag::Waiter(_) => {}
        }
    }
}

impl<P: Provider, R: Request<P>> CompletionTarget<P> for Client<P, R> {
    fn completed(&self, tag: u64, out: OpOutput<P>) {
        let client = self;
        let key = tag_key(tag);
        let shared = client.shared.clone();
        let rec = client.state.lock().unbound.remove(key);
        let Some(mut rec) = rec else {
            // An unknown or already completed operation: a provider bug.
            shared.stats.contract_violation();
            return;
        };
        let mut out = out;
        if rec.cancel.is_timed_out() && out.status.is_error() {
            out.status = NtStatus::STATUS_IO_TIMEOUT;
        }
        client.release_pending();
        shared
            .stats
            .op_completed(out.status == NtStatus::STATUS_CANCELLED);
        if let Some(req) = rec.req.take() {
            complete(&shared, rec.kind, rec.new_socket.take(), req, out);
        }
        match rec.deadline.take() {
            DeadlineTimer::Armed(t) => drop_deadline(&shared, t),
            // Completed during its call: the timer was never armed.
            DeadlineTimer::Reserved(t) => drop(t),
            DeadlineTimer::None => {}
        }
        // A SOCKET that did not file its socket gives its reservations back (no lock held).
        drop(rec);
        // This operation's live reference goes last: a socket it created took its own first.
        shared.live_release();
    }
}

/// A created socket's value, or why there is none.
fn created_socket<P: Provider>(out: OpOutput<P>) -> Result<P::Socket, NtStatus> {
    match (out.status.is_success(), out.value) {
        (true, OpValue::Socket(s)) => Ok(s),
        (true, _) => Err(NtStatus::STATUS_UNSUCCESSFUL),
        (false, _) => Err(out.status),
    }
}

/// Completes an unbound operation (create, resolve).
fn complete<P: Provider, R: Request<P>>(
    shared: &Arc<Shared<P, R>>,
    kind: UnboundKind,
    new_socket: Option<NewSocket<P, R>>,
    req: R,
    out: OpOutput<P>,
) {
    match kind {
        UnboundKind::Create(_) => match (created_socket(out), new_socket) {
            (Ok(s), Some(new_socket)) => {
                // The create operation still holds its live reference: nest the socket's.
                shared.live.acquire_nested();
                match new_socket.file(s, false) {
                    Ok(handle) => {
                        let mut r = HandleReply::new_zeroed_with_header();
                        r.handle = handle;
                        shared.reply(req, &r);
                    }
                    Err(e) => shared.complete_engine_request(req, e, &[], 0, None),
                }
            }
            (Ok(_), None) => {
                debug_assert!(false, "a SOCKET without its new socket");
                shared.complete_engine_request(req, NtStatus::STATUS_UNSUCCESSFUL, &[], 0, None);
            }
            (Err(e), _) => shared.complete_engine_request(req, e, &[], 0, None),
        },
        UnboundKind::Resolve => {
            if !out.status.is_success() {
                return shared.complete_engine_request(req, out.status, &[], 0, None);
            }
            let mut r = ResolveReply::new_zeroed_with_header();
            if let OpValue::Addresses(list) = out.value {
                for (slot, a) in r.addrs.iter_mut().zip(list.iter().take(RESOLVE_MAX_ADDRS)) {
                    *slot = SockAddr::from(*a);
                    r.count += 1;
                }
            }
            if r.count == 0 {
                return shared.complete_engine_request(req, NtStatus::STATUS_NOT_FOUND, &[], 0, None);
            }
            shared.reply(req, &r);
        }
    }
}
