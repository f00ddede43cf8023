//! Refcounted socket objects and the tracking of their pending operations.
//!
//! A [`SocketObj`] is shared (`Arc`) by every handle naming it (in any client's table), by every
//! operation in flight on it (through its completion) and by its deadline timers. The provider
//! socket inside it is used only between `rundown.try_acquire()` and `rundown.release()`, except
//! for the close, which is issued once the rundown drained (see [`crate::rundown`]).
//!
//! # Memory
//! A socket object is allocated — with its teardown timer and the room for its registry entry and
//! its first handle — when the SOCKET or ACCEPT that makes it is admitted ([`NewSocket`]), before
//! the provider is called: the completion that files the new socket then allocates nothing, and
//! neither does its teardown (the state is inline, the timer reserved). What a socket needs only
//! sometimes (timeouts, waiting CLOSEs) is allocated by the request that needs it ([`Extras`]).
//!
//! # Invariants
//! - `state.handles` holds the ids of the handle-table entries naming this object; the teardown
//!   starts when the last is removed and never before ([`teardown`]; invariant 1).
//! - A client's operation starts only through a handle id still in `state.handles`, checked
//!   under the socket lock; a close removes the id under the same lock as it cancels the
//!   operations issued through it (invariant 3).
//! - Every provider operation issued on the socket has a record in `state.ops` from before the
//!   call until its completion; its request (if any) is completed exactly once, by that completion
//!   or by the refusal that prevented the call. A completion that removed its record counts in
//!   `state.replying` until its request is completed: the object does not finish before
//!   (invariant 1).
//! - No provider call starts unless `phase` is `Open`, or it is the teardown's own disconnect.
//! - `socket` is set once, before the object is registered (by [`NewSocket::file`], while the
//!   object is still its kit's alone); a registered object's `socket` is `Some`.
//! - After `close` was issued nothing else is called on the socket (the rundown is revoked, and
//!   cancels also take the rundown; invariant 5).
//!
//! # Lock order
//! `engine.clients` → `client.state` → `socket.state`; in practice the socket lock is taken alone,
//! and it is never held across a provider call, a timer call or a request completion.

pub(crate) mod handles;
pub(crate) mod ops;
pub(crate) mod teardown;

use crate::client::Client;
use crate::mem::{self, AllocError};
use crate::provider::{Family, PMutex, Provider, SocketKind};
use crate::request::Request;
use crate::rundown::Rundown;
use crate::shared::Shared;
use crate::slab::{Key, Reserving, Slab};
use crate::sync::Arc;
use alloc::boxed::Box;
use handles::HandleIds;
use ops::OpRecord;
use teardown::{Teardown, Waiter};
use wsksock_abi::msg::StatisticsReply;
use wsksock_abi::{Handle, NtStatus};

/// Where a socket is in its life. Every change goes through [`SockState::set_phase`], along the
/// edges of the diagram in [`teardown`].
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

/// What the connection of a stream socket needs from the teardown, as far as the operations
/// that *completed* tell (a SHUTDOWN counts when it succeeded, not when it was issued).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Conn {
    /// No connection (never connected, or a listening or datagram socket): nothing to end.
    None,
    /// Connected (connect or accept succeeded): graceful teardowns send FIN, abortive ones RST.
    Connected,
    /// A SHUTDOWN(send) succeeded, the FIN is out: a graceful teardown has nothing left to
    /// disconnect; an abortive one still resets (a hard close resets, as Winsock's does).
    SendShutDown,
    /// A SHUTDOWN(abort) succeeded: the connection is gone, nothing to end.
    Reset,
}

/// What a socket rarely needs: its SO_RCVTIMEO / SO_SNDTIMEO, the bookkeeping of request
/// deadlines and the CLOSE requests waiting for its teardown. Boxed, and allocated by the first
/// request that needs it (which fails with STATUS_INSUFFICIENT_RESOURCES if it cannot).
pub(crate) struct Extras<P: Provider, R: Request<P>> {
    /// SO_RCVTIMEO in ms (0: none): the deadline of receives that give none.
    pub receive_timeout_ms: u32,
    /// SO_SNDTIMEO in ms (0: none): the deadline of sends that give none.
    pub send_timeout_ms: u32,
    /// Deadline timers armed (or being armed) that have neither fired nor been cancelled: the
    /// object does not finish while one is (invariant 1).
    pub deadline_timers: u32,
    /// Deadlines of this socket's requests that passed while the request was pending.
    pub deadlines_expired: u64,
    /// CLOSE requests with the wait flag; room for one is reserved when such a CLOSE is admitted.
    pub waiters: Reserving<Waiter<P, R>>,
}

impl<P: Provider, R: Request<P>> Default for Extras<P, R> {
    fn default() -> Self {
        Extras {
            receive_timeout_ms: 0,
            send_timeout_ms: 0,
            deadline_timers: 0,
            deadlines_expired: 0,
            waiters: Reserving::new(),
        }
    }
}

/// The deadline of a client's operation, as its request asked for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Deadline {
    /// None.
    None,
    /// This many milliseconds after the provider call returned.
    After(u32),
    /// The socket's SO_RCVTIMEO, if set.
    ReceiveDefault,
    /// The socket's SO_SNDTIMEO, if set.
    SendDefault,
}

/// The mutable part of a socket, under its lock.
pub(crate) struct SockState<P: Provider, R: Request<P>> {
    pub phase: Phase,
    /// Open handles (invariant 3: an operation starts only through one of these).
    pub handles: HandleIds,
    pub ops: Slab<OpRecord<P, R>>,
    /// Sends (and graceful shutdowns) a graceful close waits for.
    pub sends_pending: u32,
    /// Completions that removed their record and are still completing its request.
    pub replying: u32,
    /// SO_LINGER as set by the client: `None` = off, `Some(secs)` (Winsock's `l_linger` is a
    /// `u_short`; 4 bytes here, where every idle socket counts).
    pub linger: Option<u16>,
    /// What the teardown has to end on the wire.
    pub conn: Conn,
    /// The teardown: inline (it must start without allocating, from a client's cleanup or
    /// unload), with the socket's timer, reserved when the socket was made.
    pub td: Teardown<P>,
    /// What an idle open socket does not carry, allocated by the first request that needs it.
    pub extras: Option<Box<Extras<P, R>>>,
    pub stats: SocketStats,
}

impl<P: Provider, R: Request<P>> SockState<P, R> {
    /// The extras, allocated now if they were not (fallibly).
    pub fn extras_or_alloc(&mut self, hook: &P) -> Result<&mut Extras<P, R>, AllocError> {
        if self.extras.is_none() {
            self.extras = Some(mem::boxed(hook, Extras::default())?);
        }
        self.extras.as_deref_mut().ok_or(AllocError)
    }

    /// The extras, if they were ever allocated.
    pub fn extras_mut(&mut self) -> Option<&mut Extras<P, R>> {
        self.extras.as_deref_mut()
    }

    /// The extras if they were ever used.
    pub fn extras_ref(&self) -> Option<&Extras<P, R>> {
        self.extras.as_deref()
    }

    /// Deadline timers still outstanding.
    pub fn deadline_timers(&self) -> u32 {
        self.extras_ref().map_or(0, |e| e.deadline_timers)
    }

    /// The deadline in ms a request asking for `d` gets now (`None`: none).
    pub fn resolve_deadline(&self, d: Deadline) -> Option<u32> {
        let default = |f: fn(&Extras<P, R>) -> u32| self.extras_ref().map(f).filter(|&ms| ms != 0);
        match d {
            Deadline::None => None,
            Deadline::After(ms) => Some(ms),
            Deadline::ReceiveDefault => default(|e| e.receive_timeout_ms),
            Deadline::SendDefault => default(|e| e.send_timeout_ms),
        }
    }

    /// The one place the phase changes; a debug build checks the change is an edge of the
    /// diagram in [`teardown`] (the loom models run with debug assertions).
    pub fn set_phase(&mut self, new: Phase) {
        debug_assert!(
            matches!(
                (self.phase, new),
                (Phase::Open, Phase::Draining)
                    | (Phase::Draining, Phase::Disconnecting | Phase::Closing)
                    | (Phase::Disconnecting, Phase::Closing)
                    | (Phase::Closing, Phase::Closed)
                    | (Phase::Closed, Phase::Finished)
            ),
            "socket phase {:?} => {new:?}",
            self.phase
        );
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
    /// The provider socket (module invariants: `Some` once registered).
    pub socket: Option<P::Socket>,
    pub kind: SocketKind,
    pub family: Family,
    pub rundown: Rundown,
    pub state: PMutex<P, SockState<P, R>>,
    /// Key in the engine's registry of live sockets.
    pub registry_key: crate::slab::Key,
}

/// A socket object being made, with what filing it will need (module docs, "Memory"): the object
/// (its kit's alone until filed), its teardown timer, and reservations in the engine's registry
/// and in `client`'s handle table. Dropping it unfiled gives the reservations back — outside any
/// engine lock, as it takes the registry's and the client's.
pub(crate) struct NewSocket<P: Provider, R: Request<P>> {
    sock: Option<SockRef<P, R>>,
    client: Arc<Client<P, R>>,
}

/// The cookie the teardown timer of the socket at registry key `k` is armed with.
pub(crate) fn registry_cookie(k: Key) -> u64 {
    k.packed()
}

/// The registry key in a teardown timer's cookie.
pub(crate) fn cookie_registry_key(cookie: u64) -> Key {
    Key::unpacked(cookie)
}

impl<P: Provider, R: Request<P>> NewSocket<P, R> {
    /// Allocates a socket object of `kind` / `family` and reserves what filing it in `client`
    /// will need. Fails, with nothing left behind, if any of it cannot be had.
    pub fn reserve(client: &Arc<Client<P, R>>, kind: SocketKind, family: Family) -> Result<Self, AllocError> {
        let shared = &client.shared;
        let p = &shared.provider;
        // The teardown timer reaches its socket through the registry (the cookie is its key): a
        // reference to the socket in its own timer would keep it alive forever.
        let target = shared.clone();
        let callback = mem::boxed(p, move |cookie| target.teardown_timer_fired(cookie))?;
        let timer = p.new_timer(callback).ok_or(AllocError)?;
        let state = SockState {
            phase: Phase::Open,
            handles: HandleIds::new(),
            ops: Slab::new(),
            sends_pending: 0,
            replying: 0,
            linger: None,
            conn: Conn::None,
            td: Teardown::new(timer),
            extras: None,
            stats: SocketStats::default(),
        };
        let obj = SocketObj {
            shared: shared.clone(),
            socket: None,
            kind,
            family,
            rundown: Rundown::new(),
            state: crate::provider::new_mutex(p, state),
            registry_key: Key::default(),
        };
        let sock = SockRef(mem::arc(p, obj)?);
        shared.sockets.lock().reserve(p)?;
        if let Err(e) = client.state.lock().handles.reserve(p) {
            shared.sockets.lock().unreserve();
            return Err(e);
        }
        Ok(NewSocket {
            sock: Some(sock),
            client: client.clone(),
        })
    }

    /// The provider made the socket: puts it in the object, files the object in the engine's
    /// registry and gives it its first handle in the client's table — with the reservations,
    /// so nothing here allocates. The caller holds a live reference for the object already
    /// (`live.acquire_nested`). STATUS_DELETE_PENDING (and the socket torn down at once) if the
    /// client was cleaned up meanwhile; the handle limit as `insert_handle` says.
    pub fn file(mut self, socket: P::Socket, connected: bool) -> Result<Handle, NtStatus> {
        let Some(mut sock) = self.sock.take() else {
            return Err(NtStatus::STATUS_UNSUCCESSFUL);
        };
        let shared = self.client.shared.clone();
        {
            let mut reg = shared.sockets.lock();
            let key = reg.next_key().unwrap_or_default();
            let Some(obj) = Arc::get_mut(&mut sock.0) else {
                // Cannot happen: nothing else has seen the object. The socket is leaked rather
                // than used by two owners.
                debug_assert!(false, "a new socket object shared before it was filed");
                drop(reg);
                self.client.state.lock().handles.unreserve();
                return Err(NtStatus::STATUS_UNSUCCESSFUL);
            };
            obj.socket = Some(socket);
            obj.registry_key = key;
            if connected {
                obj.state.get_mut().conn = Conn::Connected;
            }
            let _ = reg.insert_reserved(sock.clone());
        }
        shared.socket_registered();
        let id = sock.add_first_handle();
        self.client.insert_reserved_handle(&sock, id)
    }
}

impl<P: Provider, R: Request<P>> Drop for NewSocket<P, R> {
    fn drop(&mut self) {
        if self.sock.take().is_some() {
            // Never filed: the reservations go back (no engine lock is held where kits drop).
            self.client.shared.sockets.lock().unreserve();
            self.client.state.lock().handles.unreserve();
        }
    }
}

impl<P: Provider, R: Request<P>> SocketObj<P, R> {
    /// The provider socket. Always there once the object is registered (module invariants).
    pub fn provider_socket(&self) -> Option<&P::Socket> {
        self.socket.as_ref()
    }

    /// The first handle of a new object (filing it): needs no memory.
    fn add_first_handle(&self) -> u32 {
        let mut st = self.state.lock();
        // The first id is kept inline: `add` allocates nothing for it.
        st.handles.add(&mem::NoHook).unwrap_or(0)
    }

    /// Adds a duplicate of the open handle `from`. `None` once the last handle was closed, or
    /// `from` was; STATUS_INSUFFICIENT_RESOURCES if the set of handle ids cannot grow.
    pub fn add_handle(&self, from: u32) -> Result<Option<u32>, AllocError> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open || !st.handles.contains(from) {
            return Ok(None);
        }
        st.handles.add(&self.shared.provider).map(Some)
    }

    /// SO_LINGER through handle `id` (the engine keeps it): `None` off, `Some(secs)`.
    /// STATUS_INVALID_HANDLE if the handle was closed since its lookup.
    pub fn linger(&self, id: u32) -> Result<Option<u16>, NtStatus> {
        let st = self.state.lock();
        if st.handles.contains(id) {
            Ok(st.linger)
        } else {
            Err(NtStatus::STATUS_INVALID_HANDLE)
        }
    }

    /// Sets SO_LINGER through handle `id`; STATUS_INVALID_HANDLE if it was closed meanwhile.
    pub fn set_linger(&self, id: u32, linger: Option<u16>) -> Result<(), NtStatus> {
        let mut st = self.state.lock();
        if st.handles.contains(id) {
            st.linger = linger;
            Ok(())
        } else {
            Err(NtStatus::STATUS_INVALID_HANDLE)
        }
    }

    /// SO_RCVTIMEO (`send` false) or SO_SNDTIMEO through handle `id`, in ms (0: none);
    /// STATUS_INVALID_HANDLE if the handle was closed since its lookup.
    pub fn timeout(&self, id: u32, send: bool) -> Result<u32, NtStatus> {
        let st = self.state.lock();
        if !st.handles.contains(id) {
            return Err(NtStatus::STATUS_INVALID_HANDLE);
        }
        Ok(st.extras_ref().map_or(0, |e| {
            if send {
                e.send_timeout_ms
            } else {
                e.receive_timeout_ms
            }
        }))
    }

    /// Sets SO_RCVTIMEO or SO_SNDTIMEO through handle `id` (the engine keeps them).
    pub fn set_timeout(&self, id: u32, send: bool, ms: u32) -> Result<(), NtStatus> {
        let mut st = self.state.lock();
        if !st.handles.contains(id) {
            return Err(NtStatus::STATUS_INVALID_HANDLE);
        }
        if ms == 0 && st.extras.is_none() {
            return Ok(());
        }
        let e = st.extras_or_alloc(&self.shared.provider)?;
        if send {
            e.send_timeout_ms = ms;
        } else {
            e.receive_timeout_ms = ms;
        }
        Ok(())
    }

    /// What this socket adds to the census of STATISTICS (version 2 fields).
    pub fn census(&self, st: &SockState<P, R>) -> Census {
        let open = st.phase == Phase::Open;
        let mut c = Census::default();
        match self.kind {
            SocketKind::Stream => c.open_stream = u32::from(open),
            SocketKind::Datagram => c.open_datagram = u32::from(open),
            SocketKind::Listen => c.open_listen = u32::from(open),
        }
        c.connected = u32::from(open && self.kind == SocketKind::Stream && st.conn == Conn::Connected);
        c.teardowns = u32::from(!open && st.phase != Phase::Finished);
        c.deadlines_expired = st.extras_ref().map_or(0, |e| e.deadlines_expired);
        c
    }

    /// Figures for STATISTICS.
    pub fn statistics(&self) -> StatisticsReply {
        use wsksock_abi::msg::Message;
        let st = self.state.lock();
        let mut r = StatisticsReply::new_zeroed_with_header();
        r.scope = 1;
        r.handles = st.handles.count();
        r.sockets_alive = 1;
        r.sockets_created = 1;
        r.bytes_sent = st.stats.bytes_sent;
        r.bytes_received = st.stats.bytes_received;
        r.ops_started = st.stats.ops_started;
        r.ops_completed = st.stats.ops_completed;
        r.ops_cancelled = st.stats.ops_cancelled;
        r.ops_pending = st.ops.len() as u64;
        self.census(&st).fill(&mut r);
        r
    }
}

/// Sockets by kind and state, for STATISTICS (version 2): one socket's, or summed.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Census {
    /// Open stream sockets.
    pub open_stream: u32,
    /// Open datagram sockets.
    pub open_datagram: u32,
    /// Open listening sockets.
    pub open_listen: u32,
    /// Open stream sockets that are connected.
    pub connected: u32,
    /// Teardowns in progress.
    pub teardowns: u32,
    /// Deadlines that passed while their request was pending.
    pub deadlines_expired: u64,
}

impl Census {
    /// Adds another census.
    pub fn add(&mut self, o: &Census) {
        self.open_stream += o.open_stream;
        self.open_datagram += o.open_datagram;
        self.open_listen += o.open_listen;
        self.connected += o.connected;
        self.teardowns += o.teardowns;
        self.deadlines_expired += o.deadlines_expired;
    }

    /// Writes it into a STATISTICS reply.
    pub fn fill(&self, r: &mut StatisticsReply) {
        r.open_stream = self.open_stream;
        r.open_datagram = self.open_datagram;
        r.open_listen = self.open_listen;
        r.connected = self.connected;
        r.teardowns = self.teardowns;
        r.deadlines_expired = self.deadlines_expired;
    }
}

/// Cancel references collected under the socket lock and issued after it is released: a batch
/// on the stack (no allocation); a caller with more to cancel goes round again (module `ops`).
pub(crate) struct Cancels<P: Provider> {
    refs: [Option<P::OpRef>; CANCEL_BATCH],
    len: usize,
}

/// Cancels sent per round.
pub(crate) const CANCEL_BATCH: usize = 32;

impl<P: Provider> Cancels<P> {
    pub fn new() -> Self {
        Cancels {
            refs: core::array::from_fn(|_| None),
            len: 0,
        }
    }

    /// Whether the batch is full (the caller must send it and come back for the rest).
    pub fn is_full(&self) -> bool {
        self.len == CANCEL_BATCH
    }

    /// Adds a reference, if any (the batch must not be full).
    pub fn add(&mut self, op: Option<P::OpRef>) {
        if let (Some(op), Some(slot)) = (op, self.refs.get_mut(self.len)) {
            *slot = Some(op);
            self.len += 1;
        }
    }

    /// The references, emptying the batch.
    pub fn drain(&mut self) -> impl Iterator<Item = P::OpRef> + '_ {
        self.len = 0;
        self.refs.iter_mut().filter_map(Option::take)
    }
}
