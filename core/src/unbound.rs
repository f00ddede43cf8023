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

use crate::cancel::CancelState;
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

/// Starts an operation that has no socket yet; `issue` makes the provider call.
pub(crate) fn start<P: Provider, R: Request<P>>(
    this: &Arc<Client<P, R>>,
    kind: UnboundKind,
    mut req: R,
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
            let rec = CancelState::issuing();
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
    let cancel = {
        let mut st = this.state.lock();
        st.unbound.get_mut(key).and_then(|rec| rec.issued(opref))
    };
    if let Some(op) = cancel {
        shared.provider.cancel(&op);
    }
}

/// The request's own cancellation (`IoCancelIrp` on it).
fn cancel<P: Provider, R: Request<P>>(this: &Client<P, R>, key: Key) {
    let op = {
        let mut st = this.state.lock();
        st.unbound.get_mut(key).and_then(CancelState::request)
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
        let known = client.state.lock().unbound.remove(key).is_some();
        if !known {
            shared.stats.contract_violation();
        }
        client.release_pending();
        shared
            .stats
            .op_completed(out.status == NtStatus::STATUS_CANCELLED);
        complete(&shared, &client, kind, req, out);
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
