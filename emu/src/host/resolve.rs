//! Name resolution (`WskGetAddressInfo`): a blocking `getaddrinfo` on a thread of its own, never
//! on the event loop.
//!
//! # Invariants
//! The completion lives in one `Option`: the resolver thread, a cancel, or teardown takes it,
//! and only the taker completes the operation.

use super::shared::{deliver, Done, Shared};
use crate::HostProvider;
use parking_lot::Mutex;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, Family, OpOutput, OpValue};

/// One pending resolution.
pub(crate) struct ResolveSlot {
    /// The checker's operation id.
    pub op: u64,
    done: Mutex<Option<Completion<HostProvider>>>,
}

impl ResolveSlot {
    /// Takes the completion (at most one caller gets it).
    pub fn take(&self) -> Option<Completion<HostProvider>> {
        self.done.lock().take()
    }
}

/// Resolves `node` on a new thread; returns the slot to cancel it through.
pub(crate) fn start(
    sh: &Arc<Shared>,
    op: u64,
    node: &str,
    family: Option<Family>,
    port: u16,
    done: Completion<HostProvider>,
) -> Option<Arc<ResolveSlot>> {
    let slot = Arc::new(ResolveSlot {
        op,
        done: Mutex::new(Some(done)),
    });
    sh.resolves.lock().insert(op, Arc::clone(&slot));
    let (sh2, slot2, node) = (Arc::clone(sh), Arc::clone(&slot), node.to_owned());
    let spawned = std::thread::Builder::new()
        .name("wsksock-emu-resolve".into())
        .spawn(move || {
            let out = lookup(&node, family, port);
            finish(&sh2, &slot2, out);
        });
    if spawned.is_err() {
        finish(
            sh,
            &slot,
            OpOutput::status(NtStatus::STATUS_INSUFFICIENT_RESOURCES),
        );
        return None;
    }
    Some(slot)
}

/// Completes a resolution with `out` unless someone else already did.
pub(crate) fn finish(sh: &Shared, slot: &ResolveSlot, out: OpOutput<HostProvider>) {
    sh.resolves.lock().remove(&slot.op);
    if let Some(done) = slot.take() {
        deliver(sh, vec![Done::new(slot.op, done, out)]);
    }
}

/// The blocking lookup.
fn lookup(node: &str, family: Option<Family>, port: u16) -> OpOutput<HostProvider> {
    let addrs: Vec<SocketAddr> = match (node, port).to_socket_addrs() {
        Ok(it) => {
            let mut v: Vec<SocketAddr> = it.filter(|a| family.is_none_or(|f| Family::of(a) == f)).collect();
            v.dedup();
            v
        }
        Err(_) => Vec::new(),
    };
    if addrs.is_empty() {
        OpOutput::status(NtStatus::STATUS_NOT_FOUND)
    } else {
        OpOutput::value(OpValue::Addresses(addrs))
    }
}
