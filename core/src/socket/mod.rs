//! Refcounted socket objects and the tracking of their pending operations.
//!
//! A [`SocketObj`] is shared (`Arc`) by every handle naming it (in any client's table), by every
//! operation in flight on it (through its completion sink) and by its linger timer. The provider
//! socket inside it is used only between `rundown.try_acquire()` and `rundown.release()`, except
//! for the close, which is issued once the rundown drained (see [`crate::rundown`]).
//!
//! # Invariants
//! - `state.handles` counts the handle-table entries naming this object; the teardown starts when
//!   it drops to 0 and never before ([`teardown`]).
//! - Every provider operation issued on the socket has a record in `state.ops` from before the
//!   call until its completion; its request (if any) is completed exactly once, by that completion
//!   or by the refusal that prevented the call.
//! - No provider call starts unless `phase` is `Open`, or it is the teardown's own disconnect.
//! - After `close` was issued nothing else is called on the socket (the rundown is revoked, and
//!   cancels also take the rundown).
//!
//! # Lock order
//! `engine.clients` → `client.state` → `socket.state`; in practice the socket lock is taken alone,
//! and it is never held across a provider call, a timer call or a request completion.

pub(crate) mod ops;
pub(crate) mod teardown;

use crate::engine::Shared;
use crate::provider::{Family, PMutex, Provider, SocketKind};
use crate::request::Request;
use crate::rundown::Rundown;
use crate::slab::Slab;
use crate::sync::Arc;
use alloc::boxed::Box;
use alloc::vec::Vec;
use ops::OpRecord;
use teardown::Teardown;
use wsksock_abi::msg::StatisticsReply;

/// Where a socket is in its life. Every change goes through [`SockState::set_phase`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    /// At least one handle is open.
    Open,
    /// Last handle closed; graceful: waiting for sends issued before the close.
    Draining,
    /// `WskDisconnect` issued, waiting for it.
    Disconnecting,
    /// Rundown revoked; `WskCloseSocket` issued or about to be once calls in progress leave.
    Closing,
    /// The close completed; waiting for the last operations and the timer.
    Closed,
    /// Everything completed; the object only waits for its last `Arc` to go.
    Finished,
}

/// Per-socket figures.
#[derive(Clone, Copy, Default, Debug)]
pub struct SocketStats {
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Operations started.
    pub ops_started: u64,
    /// Operations completed.
    pub ops_completed: u64,
    /// Operations completed with STATUS_CANCELLED.
    pub ops_cancelled: u64,
    /// Client requests completed by this socket's operations.
    pub requests: u64,
    /// Of those, with an error status.
    pub requests_failed: u64,
}

/// The mutable part of a socket, under its lock.
pub(crate) struct SockState<P: Provider, R: Request<P>> {
    pub phase: Phase,
    pub handles: u32,
    pub next_handle_id: u32,
    pub ops: Slab<OpRecord<P, R>>,
    /// Sends (and graceful shutdowns) a graceful close waits for.
    pub sends_pending: u32,
    /// SO_LINGER as set by the client: `None` = off, `Some(secs)`.
    pub linger: Option<u32>,
    /// A connection exists (connect or accept succeeded): the teardown disconnects it.
    pub connected: bool,
    /// A SHUTDOWN already disconnected the sending side: the teardown does not disconnect again.
    pub shut_down: bool,
    /// Allocated at the last close: an open socket does not carry the teardown's state.
    pub teardown_state: Option<Box<Teardown<P, R>>>,
    pub stats: SocketStats,
}

impl<P: Provider, R: Request<P>> SockState<P, R> {
    /// The teardown's state, allocated on first use.
    pub fn td(&mut self) -> &mut Teardown<P, R> {
        self.teardown_state
            .get_or_insert_with(|| Box::new(Teardown::new()))
    }

    /// The one place the phase changes.
    pub fn set_phase(&mut self, new: Phase) {
        // Traced as `old => new` in debug builds of the tests (no_std: nothing to print to).
        self.phase = new;
    }
}

/// A counted reference to a socket object (`Arc`, which loom's cannot be a method receiver).
pub(crate) struct SockRef<P: Provider, R: Request<P>>(pub Arc<SocketObj<P, R>>);

impl<P: Provider, R: Request<P>> Clone for SockRef<P, R> {
    fn clone(&self) -> Self {
        SockRef(self.0.clone())
    }
}

impl<P: Provider, R: Request<P>> core::ops::Deref for SockRef<P, R> {
    type Target = SocketObj<P, R>;
    fn deref(&self) -> &SocketObj<P, R> {
        &self.0
    }
}

/// One socket object.
pub(crate) struct SocketObj<P: Provider, R: Request<P>> {
    pub shared: Arc<Shared<P, R>>,
    pub socket: P::Socket,
    pub kind: SocketKind,
    pub family: Family,
    pub rundown: Rundown,
    pub state: PMutex<P, SockState<P, R>>,
    /// Key in the engine's registry of live sockets.
    pub registry_key: crate::slab::Key,
}

impl<P: Provider, R: Request<P>> SocketObj<P, R> {
    /// A new open object with no handle yet (the caller adds the first one). The caller has
    /// taken a reference on the engine's live count for it.
    pub fn create(
        shared: &Arc<Shared<P, R>>,
        socket: P::Socket,
        kind: SocketKind,
        family: Family,
    ) -> SockRef<P, R> {
        let state = SockState {
            phase: Phase::Open,
            handles: 0,
            next_handle_id: 1,
            ops: Slab::new(),
            sends_pending: 0,
            linger: None,
            connected: false,
            shut_down: false,
            teardown_state: None,
            stats: SocketStats::default(),
        };
        let lock = crate::provider::new_mutex(&shared.provider, state);
        shared.register_socket(move |registry_key| {
            SockRef(Arc::new(SocketObj {
                shared: shared.clone(),
                socket,
                kind,
                family,
                rundown: Rundown::new(),
                state: lock,
                registry_key,
            }))
        })
    }

    /// Adds a handle (open, duplicate, accept); `None` once the last handle was closed.
    pub fn add_handle(&self) -> Option<u32> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open {
            return None;
        }
        let id = st.next_handle_id;
        st.next_handle_id = st.next_handle_id.wrapping_add(1).max(1);
        st.handles += 1;
        Some(id)
    }

    /// Figures for STATISTICS.
    pub fn statistics(&self) -> StatisticsReply {
        use wsksock_abi::msg::Message;
        let st = self.state.lock();
        let mut r = StatisticsReply::new_zeroed_with_header();
        r.scope = 1;
        r.handles = st.handles;
        r.sockets_alive = 1;
        r.sockets_created = 1;
        r.bytes_sent = st.stats.bytes_sent;
        r.bytes_received = st.stats.bytes_received;
        r.ops_started = st.stats.ops_started;
        r.ops_completed = st.stats.ops_completed;
        r.ops_cancelled = st.stats.ops_cancelled;
        r.ops_pending = st.ops.len() as u64;
        r
    }
}

/// Collected cancel references, issued after the lock is released.
pub(crate) type Cancels<P> = Vec<<P as Provider>::OpRef>;
