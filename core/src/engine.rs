//! The engine: clients, the registry of live sockets, global statistics, unload.
//!
//! # Invariants
//! - `live` is a [`Rundown`] counting socket objects not yet finished plus unbound operations in
//!   flight. Unload revokes it; `on_idle` runs exactly once, when it drains — only then may the
//!   platform release the provider (WskReleaseProviderNPI, WskDeregister).
//! - Every request handed to the engine is completed exactly once, through
//!   [`Shared::finish_request`] (which also counts it).
//! - The registry lock and the client-table lock are taken only to add or remove an entry (socket
//!   creation and teardown, client open and cleanup, DUPLICATE to another client), never on the
//!   data path: sends and receives touch only their client's and their socket's locks.
//!
//! # Lock order
//! `clients` → `client.state` → `socket.state`; `sockets` and `on_idle` are leaves. No lock is
//! held across a provider call, a timer call or a request completion.

use crate::client::{Client, ClientRef};
use crate::provider::{PMutex, Provider};
use crate::request::Request;
use crate::rundown::{Drained, Rundown};
use crate::slab::{Key, Slab};
use crate::socket::SocketStats;
use crate::socket::{SockRef, SocketObj};
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use wsksock_abi::msg::{Message, StatisticsReply};
use wsksock_abi::NtStatus;

/// Limits and timeouts.
#[derive(Clone, Debug)]
pub struct Config {
    /// Operations in flight per socket before requests get STATUS_INSUFFICIENT_RESOURCES.
    pub max_pending_per_socket: u32,
    /// Operations in flight per client.
    pub max_pending_per_client: u32,
    /// Handles per client.
    pub max_handles_per_client: u32,
    /// At unload, graceful teardowns turn abortive after this many milliseconds.
    pub unload_linger_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_pending_per_socket: 256,
            max_pending_per_client: 4096,
            max_handles_per_client: 1 << 20,
            unload_linger_ms: 5_000,
        }
    }
}

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

    pub fn contract_violation(&self) {
        self.contract_violations.fetch_add(1, Ordering::Relaxed);
    }

    /// Folds a finished socket's figures in.
    fn retire(&self, s: &SocketStats) {
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
    fn snapshot(&self, live: impl Iterator<Item = SocketStats>) -> Stats {
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
        };
        for s in live {
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

/// A snapshot of the global figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Socket objects not yet finished.
    pub sockets_alive: u64,
    /// Socket objects ever created.
    pub sockets_created: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Provider operations started.
    pub ops_started: u64,
    /// Provider operations completed.
    pub ops_completed: u64,
    /// Of those, completed with STATUS_CANCELLED.
    pub ops_cancelled: u64,
    /// Requests completed.
    pub requests: u64,
    /// Of those, with an error status.
    pub requests_failed: u64,
    /// Completions the provider delivered for unknown operations (must stay 0).
    pub contract_violations: u64,
}

/// State shared by the engine, its clients and its sockets.
pub(crate) struct Shared<P: Provider, R: Request<P>> {
    pub provider: P,
    pub config: Config,
    pub clients: PMutex<P, Slab<ClientRef<P, R>>>,
    pub sockets: PMutex<P, Slab<SockRef<P, R>>>,
    pub stats: GlobalStats,
    pub live: Rundown,
    unloading: AtomicBool,
    on_idle: PMutex<P, Option<Box<dyn FnOnce() + Send>>>,
}

impl<P: Provider, R: Request<P>> Shared<P, R> {
    pub fn is_unloading(&self) -> bool {
        self.unloading.load(Ordering::Acquire)
    }

    /// Completes a request and counts it engine-wide. Every request ends here or in
    /// [`Shared::complete_request`] exactly once.
    pub fn finish_request(
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
        self.complete_request(req, status, reply, info, buf);
    }

    /// Completes a request its socket already counted (the data path: no engine-wide counter).
    #[allow(clippy::unused_self)] // a method like finish_request, so call sites read alike
    pub fn complete_request(
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

    /// Global figures: the retired totals plus every live socket's.
    pub fn snapshot(&self) -> Stats {
        let live: Vec<SockRef<P, R>> = self.sockets.lock().iter().map(|(_, s)| s.clone()).collect();
        self.stats.snapshot(live.iter().map(|s| s.state.lock().stats))
    }

    /// Adds a new socket object to the registry (`make` receives its registry key).
    pub fn register_socket(&self, make: impl FnOnce(Key) -> SockRef<P, R>) -> SockRef<P, R> {
        self.stats.sockets_alive.fetch_add(1, Ordering::Relaxed);
        self.stats.sockets_created.fetch_add(1, Ordering::Relaxed);
        let mut reg = self.sockets.lock();
        let key = reg.next_key().unwrap_or_default();
        let obj = make(key);
        let _ = reg.insert(obj.clone());
        obj
    }

    /// A socket's teardown finished: forget it, drop its live reference.
    pub fn socket_finished(&self, sock: &SocketObj<P, R>) {
        let stats = sock.state.lock().stats;
        let removed = self.sockets.lock().remove(sock.registry_key);
        // Retired after leaving the registry: a concurrent snapshot may miss this socket's
        // figures for a moment, but never counts them twice.
        self.stats.retire(&stats);
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

    fn idle(&self) {
        let f = self.on_idle.lock().take();
        if let Some(f) = f {
            f();
        }
    }
}

/// The engine. Cheap to clone.
///
/// Call [`Engine::unload`] (and let it report idle) before the last clone goes: until then the
/// engine, its clients and its sockets reference each other, and dropping the engine without
/// unloading leaks them. The driver always unloads; host-mode users must too.
pub struct Engine<P: Provider, R: Request<P>> {
    pub(crate) shared: Arc<Shared<P, R>>,
}

impl<P: Provider, R: Request<P>> Clone for Engine<P, R> {
    fn clone(&self) -> Self {
        Engine {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Provider, R: Request<P>> Engine<P, R> {
    /// An engine over `provider`.
    pub fn new(provider: P, config: Config) -> Self {
        let clients = crate::provider::new_mutex(&provider, Slab::new());
        let sockets = crate::provider::new_mutex(&provider, Slab::new());
        let on_idle = crate::provider::new_mutex(&provider, None);
        Engine {
            shared: Arc::new(Shared {
                provider,
                config,
                clients,
                sockets,
                stats: GlobalStats::default(),
                live: Rundown::new(),
                unloading: AtomicBool::new(false),
                on_idle,
            }),
        }
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.shared.provider
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// IRP_MJ_CREATE: a new client. STATUS_DEVICE_NOT_READY once unload began.
    pub fn open_client(&self) -> Result<ClientRef<P, R>, NtStatus> {
        let mut clients = self.shared.clients.lock();
        // Checked under the table lock: unload sets the flag before it drains the table, so a
        // client is either refused here or drained there.
        if self.shared.is_unloading() {
            return Err(NtStatus::STATUS_DEVICE_NOT_READY);
        }
        let key = clients
            .next_key()
            .ok_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES)?;
        let id = (u64::from(key.generation) << 32) | u64::from(key.index);
        let c = Arc::new(Client::new(&self.shared, id));
        clients
            .insert(c.clone())
            .map_err(|_| NtStatus::STATUS_INSUFFICIENT_RESOURCES)?;
        Ok(c)
    }

    /// IRP_MJ_(INTERNAL_)DEVICE_CONTROL: completes `req` exactly once, now or later.
    pub fn dispatch(&self, client: &ClientRef<P, R>, req: R) {
        crate::dispatch::dispatch(&self.shared, client, req);
    }

    /// IRP_MJ_CLEANUP: closes every handle of the client and cancels its operations.
    pub fn cleanup_client(&self, client: &ClientRef<P, R>) {
        let removed = {
            let mut clients = self.shared.clients.lock();
            let key = client_key(client.id());
            let same = clients.get(key).is_some_and(|c| Arc::ptr_eq(c, client));
            if same {
                clients.remove(key)
            } else {
                None
            }
        };
        drop(removed);
        client.cleanup();
    }

    /// Unload: closes every socket (graceful ones get `unload_linger_ms` before turning
    /// abortive), refuses new work, and calls `on_idle` exactly once when no socket and no
    /// operation is left — maybe before returning.
    pub fn unload(&self, on_idle: Box<dyn FnOnce() + Send>) {
        let shared = &self.shared;
        shared.unloading.store(true, Ordering::Release);
        *shared.on_idle.lock() = Some(on_idle);
        let clients: Vec<_> = shared
            .clients
            .lock()
            .drain()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        for c in clients {
            c.cleanup();
        }
        let socks: Vec<_> = shared.sockets.lock().iter().map(|(_, s)| s.clone()).collect();
        for s in socks {
            s.bound_teardown(shared.config.unload_linger_ms);
        }
        if shared.live.revoke() == Drained::Yes {
            shared.idle();
        }
    }

    /// Global figures.
    pub fn stats(&self) -> Stats {
        self.shared.snapshot()
    }

    /// Global figures as the STATISTICS reply carries them.
    pub(crate) fn statistics_reply(shared: &Shared<P, R>) -> StatisticsReply {
        let e = shared.snapshot();
        let mut r = StatisticsReply::new_zeroed_with_header();
        r.scope = 0;
        r.sockets_alive = e.sockets_alive;
        r.sockets_created = e.sockets_created;
        r.bytes_sent = e.bytes_sent;
        r.bytes_received = e.bytes_received;
        r.ops_started = e.ops_started;
        r.ops_completed = e.ops_completed;
        r.ops_cancelled = e.ops_cancelled;
        r.ops_pending = e.ops_started.saturating_sub(e.ops_completed);
        r.requests = e.requests;
        r.requests_failed = e.requests_failed;
        let handles: usize = shared.clients.lock().iter().map(|(_, c)| c.handle_count()).sum();
        r.handles = u32::try_from(handles).unwrap_or(u32::MAX);
        r
    }
}

/// The client-table key encoded in a client id.
pub(crate) fn client_key(id: u64) -> Key {
    #[allow(clippy::cast_possible_truncation)]
    Key {
        index: id as u32,
        generation: (id >> 32) as u32,
    }
}
