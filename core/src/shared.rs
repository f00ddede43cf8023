//! What the engine, its clients and its sockets share: the provider, the configuration, the
//! client table, the registry of live sockets, the engine-wide counters and the live count that
//! unload waits on.
//!
//! # Invariants
//! - `live` is a [`Rundown`] counting socket objects not yet finished plus unbound operations in
//!   flight. Unload revokes it; `on_idle` runs exactly once, when it drains — only then may the
//!   platform release the provider (WskReleaseProviderNPI, WskDeregister). Invariant 8 of the
//!   crate.
//! - Every request handed to the engine is completed exactly once (invariant 7), through
//!   [`Shared::complete_engine_request`] (counted in the engine-wide counters: requests the
//!   engine answers itself) or [`Shared::complete_socket_request`] (already counted by its
//!   socket: the data path).
//! - The registry lock and the client-table lock are taken only to add or remove an entry (socket
//!   creation and teardown, client open and cleanup, DUPLICATE to another client), to find a
//!   socket for its teardown's timer or operations, or to walk them (one entry per locking, so
//!   that nothing is allocated) at unload, cleanup and STATISTICS — never on the data path: sends
//!   and receives touch only their client's and their socket's locks.
//! - The registry keeps room for the sockets being made (reserved by their SOCKET or ACCEPT), so
//!   filing one allocates nothing.
//!
//! # Lock order
//! `clients` → `client.state` → `socket.state`; `sockets` and `on_idle` are leaves. No lock is
//! held across a provider call, a timer call or a request completion.

use crate::client::{Client, ClientRef};
use crate::config::{Config, Stats};
use crate::provider::{PMutex, Provider};
use crate::request::Request;
use crate::rundown::{Drained, Rundown};
use crate::slab::{Reserving, Slab};
use crate::socket::{cookie_registry_key, Census, SocketStats};
use crate::socket::{SockRef, SocketObj};
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use alloc::boxed::Box;
use wsksock_abi::msg::Message;
use wsksock_abi::NtStatus;

/// Engine-wide counters. None is touched per data operation (two threads on distinct sockets
/// share no cache line): operations and their requests are counted in each socket's state under
/// its own lock, and added here when the socket finishes. What is counted here directly: sockets
/// created and alive, the rare unbound operations (create, resolve), requests the engine answers
/// itself (refusals, CLOSE, DUPLICATE, STATISTICS...), provider contract violations.
#[derive(Default)]
pub(crate) struct GlobalStats {
    sockets_alive: AtomicU64,
    sockets_created: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    ops_started: AtomicU64,
    ops_completed: AtomicU64,
    ops_cancelled: AtomicU64,
    requests: AtomicU64,
    requests_failed: AtomicU64,
    contract_violations: AtomicU64,
    /// Requests of finished sockets and unbound operations that timed out.
    deadlines_expired: AtomicU64,
}

impl GlobalStats {
    /// An unbound operation (create, resolve) started.
    pub fn op_started(&self) {
        self.ops_started.fetch_add(1, Ordering::Relaxed);
    }

    /// An unbound operation completed.
    pub fn op_completed(&self, cancelled: bool) {
        self.ops_completed.fetch_add(1, Ordering::Relaxed);
        if cancelled {
            self.ops_cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An unbound operation's deadline passed.
    pub fn deadline_expired(&self) {
        self.deadlines_expired.fetch_add(1, Ordering::Relaxed);
    }

    pub fn contract_violation(&self) {
        self.contract_violations.fetch_add(1, Ordering::Relaxed);
    }

    /// Folds a finished socket's figures in.
    fn retire(&self, s: &SocketStats, deadlines_expired: u64) {
        self.deadlines_expired
            .fetch_add(deadlines_expired, Ordering::Relaxed);
        let add = |a: &AtomicU64, v: u64| {
            a.fetch_add(v, Ordering::Relaxed);
        };
        add(&self.bytes_sent, s.bytes_sent);
        add(&self.bytes_received, s.bytes_received);
        add(&self.ops_started, s.ops_started);
        add(&self.ops_completed, s.ops_completed);
        add(&self.ops_cancelled, s.ops_cancelled);
        add(&self.requests, s.requests);
        add(&self.requests_failed, s.requests_failed);
    }

    /// These counters plus the live sockets' own.
    fn snapshot(&self, live: impl FnMut() -> Option<(SocketStats, Census)>) -> Stats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut t = Stats {
            sockets_alive: l(&self.sockets_alive),
            sockets_created: l(&self.sockets_created),
            bytes_sent: l(&self.bytes_sent),
            bytes_received: l(&self.bytes_received),
            ops_started: l(&self.ops_started),
            ops_completed: l(&self.ops_completed),
            ops_cancelled: l(&self.ops_cancelled),
            requests: l(&self.requests),
            requests_failed: l(&self.requests_failed),
            contract_violations: l(&self.contract_violations),
            census: Census {
                deadlines_expired: l(&self.deadlines_expired),
                ..Census::default()
            },
        };
        for (s, c) in core::iter::from_fn(live) {
            t.census.add(&c);
            t.bytes_sent += s.bytes_sent;
            t.bytes_received += s.bytes_received;
            t.ops_started += s.ops_started;
            t.ops_completed += s.ops_completed;
            t.ops_cancelled += s.ops_cancelled;
            t.requests += s.requests;
            t.requests_failed += s.requests_failed;
        }
        t
    }
}

/// State shared by the engine, its clients and its sockets.
pub(crate) struct Shared<P: Provider, R: Request<P>> {
    pub provider: P,
    pub config: Config,
    pub clients: PMutex<P, Slab<ClientRef<P, R>>>,
    pub sockets: PMutex<P, Reserving<SockRef<P, R>>>,
    pub stats: GlobalStats,
    pub live: Rundown,
    unloading: AtomicBool,
    on_idle: PMutex<P, Option<Box<dyn FnOnce() + Send>>>,
}

impl<P: Provider, R: Request<P>> Shared<P, R> {
    /// The state of a new engine over `provider`.
    pub fn new(provider: P, config: Config) -> Self {
        let clients = crate::provider::new_mutex(&provider, Slab::new());
        let sockets = crate::provider::new_mutex(&provider, Reserving::new());
        let on_idle = crate::provider::new_mutex(&provider, None);
        Shared {
            provider,
            config,
            clients,
            sockets,
            stats: GlobalStats::default(),
            live: Rundown::new(),
            unloading: AtomicBool::new(false),
            on_idle,
        }
    }

    /// Unload began: new work is refused from now on; `on_idle` runs when the live count drains
    /// after [`Shared::revoke_live`].
    pub fn begin_unload(&self, on_idle: Box<dyn FnOnce() + Send>) {
        self.unloading.store(true, Ordering::Release);
        *self.on_idle.lock() = Some(on_idle);
    }

    /// Revokes the live count (the end of unload); runs `on_idle` now if nothing is left.
    pub fn revoke_live(&self) {
        if self.live.revoke() == Drained::Yes {
            self.idle();
        }
    }

    pub fn is_unloading(&self) -> bool {
        self.unloading.load(Ordering::Acquire)
    }

    /// Completes a request and counts it in the engine-wide counters (a request the engine
    /// answers itself: a refusal, CLOSE, DUPLICATE, STATISTICS...). Every request ends here or in
    /// [`Shared::complete_socket_request`] exactly once.
    pub fn complete_engine_request(
        &self,
        req: R,
        status: NtStatus,
        reply: &[u8],
        info: usize,
        buf: Option<P::Buffer>,
    ) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if status.is_error() {
            self.stats.requests_failed.fetch_add(1, Ordering::Relaxed);
        }
        self.complete_socket_request(req, status, reply, info, buf);
    }

    /// Completes a request with success and the reply struct `m`, written in the request's ABI
    /// version (counted engine-wide).
    pub fn reply<M: Message>(&self, req: R, m: &M) {
        let mut m = *m;
        let b = crate::socket::ops::versioned(&req, &mut m);
        self.complete_engine_request(req, NtStatus::STATUS_SUCCESS, b, b.len(), None);
    }

    /// Completes a request its socket already counted in its own figures (the data path: no
    /// engine-wide counter is touched).
    #[allow(clippy::unused_self)] // a method like complete_engine_request, so call sites read alike
    pub fn complete_socket_request(
        &self,
        req: R,
        status: NtStatus,
        reply: &[u8],
        info: usize,
        buf: Option<P::Buffer>,
    ) {
        let (reply, info) = if status.is_error() {
            (&[][..], 0)
        } else {
            (reply, info)
        };
        req.complete(status, reply, info, buf);
    }

    /// Global figures: the retired totals plus every live socket's (walked one registry entry at
    /// a time: nothing is allocated).
    pub fn snapshot(&self) -> Stats {
        let mut cursor = 0;
        self.stats.snapshot(|| {
            let s = self.next_socket(&mut cursor)?;
            let st = s.state.lock();
            Some((st.stats, s.census(&st)))
        })
    }

    /// The next registered socket at or after slot `*cursor` (a walk of the registry that
    /// allocates nothing and holds its lock for one entry at a time).
    pub fn next_socket(&self, cursor: &mut u32) -> Option<SockRef<P, R>> {
        self.sockets.lock().next_from(cursor).map(|(_, s)| s.clone())
    }

    /// A socket was filed in the registry (`NewSocket::file`).
    pub fn socket_registered(&self) {
        self.stats.sockets_alive.fetch_add(1, Ordering::Relaxed);
        self.stats.sockets_created.fetch_add(1, Ordering::Relaxed);
    }

    /// A socket's teardown timer fired; its cookie is the socket's registry key (where a
    /// socket with an outstanding timer stays: it does not finish before the timer is done).
    pub fn teardown_timer_fired(&self, cookie: u64) {
        let sock = self.sockets.lock().get(cookie_registry_key(cookie)).cloned();
        match sock {
            Some(s) => s.timer_fired(),
            None => self.stats.contract_violation(),
        }
    }

    /// A socket's teardown finished: forget it, drop its live reference.
    pub fn socket_finished(&self, sock: &SocketObj<P, R>) {
        let (stats, expired) = {
            let st = sock.state.lock();
            (st.stats, st.extras_ref().map_or(0, |e| e.deadlines_expired))
        };
        let removed = self.sockets.lock().remove(sock.registry_key);
        // Retired after leaving the registry: a concurrent snapshot may miss this socket's
        // figures for a moment, but never counts them twice.
        self.stats.retire(&stats, expired);
        drop(removed);
        self.stats.sockets_alive.fetch_sub(1, Ordering::Relaxed);
        self.live_release();
    }

    /// Drops one live reference; runs `on_idle` if that was the last one after unload began.
    pub fn live_release(&self) {
        if self.live.release() == Drained::Yes {
            self.idle();
        }
    }

    /// Gives every teardown waiting gracefully the deadline `ms` (see
    /// [`SockRef::bound_teardown`]); with `client`, only those holding one of its requests.
    pub fn bound_teardowns(&self, ms: u64, client: Option<&Client<P, R>>) {
        let mut cursor = 0;
        while let Some(s) = self.next_socket(&mut cursor) {
            if client.is_none_or(|c| s.has_ops_of(c)) {
                s.bound_teardown(ms);
            }
        }
    }

    fn idle(&self) {
        let f = self.on_idle.lock().take();
        if let Some(f) = f {
            f();
        }
    }
}
