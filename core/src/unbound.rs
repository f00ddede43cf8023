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

use crate::cancel::{CancelState, Deadline};
use crate::client::Client;
use crate::provider::{Completion, CompletionSink, OpOutput, OpValue, Provider, SocketParams};
use crate::request::{CancelToken, Request};
use crate::shared::Shared;
use crate::slab::Key;
use crate::socket::SocketObj;
use crate::sync::Arc;
use alloc::boxed::Box;
use wsksock_abi::msg::{HandleReply, Message, ResolveReply, RESOLVE_MAX_ADDRS};
use wsksock_abi::{NtStatus, SockAddr};

/// The record of an unbound operation in flight.
pub(crate) struct UnboundRec<P: Provider> {
    pub cancel: CancelState<P>,
    /// Its deadline timer, once started.
    pub deadline: Option<P::TimerRef>,
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
    let key = {
        let mut st = this.state.lock();
        let key = if st.closed { None } else { st.unbound.next_key() };
        if let Some(key) = key {
            let target = this.clone();
            req.set_cancel(CancelToken::new(Box::new(move || cancel(&target, key))));
            let rec = UnboundRec {
                cancel: CancelState::issuing(),
                deadline: None,
            };
            let inserted = st.unbound.insert(rec);
            debug_assert_eq!(inserted.ok(), Some(key));
        }
        key
    };
    let Some(key) = key else {
        this.release_pending();
        shared.complete_engine_request(req, NtStatus::STATUS_DELETE_PENDING, &[], 0, None);
        shared.live_release();
        return;
    };
    shared.stats.op_started();
    let sink = UnboundSink {
        client: this.clone(),
        key,
        kind,
        req,
    };
    let opref = issue(&shared.provider, Completion::new(Box::new(sink)));
    let (cancel, arm) = {
        let mut st = this.state.lock();
        match st.unbound.get_mut(key) {
            Some(rec) => {
                let cancel = rec.cancel.issued(opref);
                let arm = deadline_ms.filter(|_| !rec.cancel.is_requested());
                if arm.is_some() {
                    // The timer's own reference, taken while the operation still holds one.
                    shared.live.acquire_nested();
                }
                (cancel, arm)
            }
            None => (None, None),
        }
    };
    if let Some(op) = cancel {
        shared.provider.cancel(&op);
    }
    if let Some(ms) = arm {
        arm_deadline(this, key, ms);
    }
}

/// Starts the deadline timer of operation `key` (its live reference already taken) and stores it,
/// or cancels it again if the operation completed meanwhile.
fn arm_deadline<P: Provider, R: Request<P>>(this: &Arc<Client<P, R>>, key: Key, ms: u32) {
    let shared = &this.shared;
    let target = this.clone();
    let t = shared
        .provider
        .start_timer(u64::from(ms), Box::new(move || deadline_fired(&target, key)));
    let orphan = {
        let mut st = this.state.lock();
        match st.unbound.get_mut(key) {
            Some(rec) => {
                rec.deadline = Some(t);
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
    let op = {
        let mut st = this.state.lock();
        st.unbound.get_mut(key).and_then(|rec| {
            rec.deadline = None;
            match rec.cancel.request_timeout() {
                Deadline::Passed(cancel) => {
                    this.shared.stats.deadline_expired();
                    cancel
                }
                Deadline::CancelledBefore => None,
            }
        })
    };
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

struct UnboundSink<P: Provider, R: Request<P>> {
    client: Arc<Client<P, R>>,
    key: Key,
    kind: UnboundKind,
    req: R,
}

impl<P: Provider, R: Request<P>> CompletionSink<P> for UnboundSink<P, R> {
    fn complete(self: Box<Self>, out: OpOutput<P>) {
        let UnboundSink {
            client,
            key,
            kind,
            req,
        } = *self;
        let shared = client.shared.clone();
        let rec = client.state.lock().unbound.remove(key);
        let mut out = out;
        match &rec {
            None => shared.stats.contract_violation(),
            Some(rec) if rec.cancel.is_timed_out() && out.status.is_error() => {
                out.status = NtStatus::STATUS_IO_TIMEOUT;
            }
            Some(_) => {}
        }
        client.release_pending();
        shared
            .stats
            .op_completed(out.status == NtStatus::STATUS_CANCELLED);
        complete(&shared, &client, kind, req, out);
        if let Some(t) = rec.and_then(|r| r.deadline) {
            drop_deadline(&shared, t);
        }
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
    client: &Arc<Client<P, R>>,
    kind: UnboundKind,
    req: R,
    out: OpOutput<P>,
) {
    match kind {
        UnboundKind::Create(params) => match created_socket(out) {
            Ok(s) => {
                // The create operation still holds its live reference: nest the socket's.
                shared.live.acquire_nested();
                let sock = SocketObj::create(shared, s, params.kind, params.family);
                match client.add_new_socket(&sock) {
                    Ok(handle) => {
                        let mut r = HandleReply::new_zeroed_with_header();
                        r.handle = handle;
                        shared.reply(req, &r);
                    }
                    Err(e) => shared.complete_engine_request(req, e, &[], 0, None),
                }
            }
            Err(e) => shared.complete_engine_request(req, e, &[], 0, None),
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
