//! The randomized stress: several worker threads, each with its own clients, issue random
//! operations — connect (and connect to a refused port), listen/accept, send, receive,
//! duplicate (to its own or another client), cancel (a handle, or one request), close in every
//! mode with and without the wait flag, SO_LINGER, client cleanup, a stale handle, and a close
//! racing a send from another thread — against the engine over the checked stack
//! ([`super::rig`]) with seeded fault injection (random call failures, delayed and reordered
//! completions, peer resets), completions delivered inline, deferred or concurrently (several
//! delivery threads, reordered), and real loopback peers ([`super::peers`]). Some handles and
//! clients are left for unload to close.
//!
//! # What is checked
//! - along the way: every completion's status is one the operation may give, received data is
//!   the peer's pattern, a stale handle gets STATUS_INVALID_HANDLE;
//! - at the end ([`super::rig::CheckedRig::unload_and_audit`]): unload reaches idle, nothing open or
//!   pending in the provider at deregistration, every request completed exactly once, no socket
//!   object alive, no timer outstanding, no contract violation;
//! - on the wire, for every stream whose tag reached the peer: it ended (FIN or RST, never left
//!   open); if no fault touched it and every send on it succeeded, a graceful teardown delivered
//!   exactly the bytes sent, intact, then FIN, and an abortive one an intact prefix, then RST.
//!
//! # Reproducing
//! Every random choice comes from the seed: the workers' operations (one SplitMix64 stream per
//! worker) and the faults (the injector's stream). Thread timing still varies, so a failure is
//! reproduced by rerunning its seed, usually at once, sometimes after a few runs.

use super::peers::{End, PeerReport, Refusing, Sink};
use super::probe::MAGIC;
use super::rig::{Audit, CheckedRig};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{self, AcceptReply, CloseMode, SocketKind};
use wsksock_abi::{Handle, NtStatus};
use wsksock_core::Config;
use wsksock_emu::fault::SplitMix64;
use wsksock_emu::{CompletionMode, FaultAction, FaultPlan};
use wsksock_tools::channel::{Completed, Pending};
use wsksock_tools::{pattern, Client};
use zerocopy::FromBytes;

/// Parameters of one run.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Random operations in total (over all workers).
    pub ops: u64,
    /// The seed of everything.
    pub seed: u64,
    /// Worker threads.
    pub workers: usize,
    /// Completion mode of the emulator.
    pub mode: CompletionMode,
    /// Inject faults.
    pub faults: bool,
}

impl StressConfig {
    /// A run of `ops` operations from `seed` with the defaults (4 workers, faults on).
    pub fn new(ops: u64, seed: u64, mode: CompletionMode) -> Self {
        StressConfig {
            ops,
            seed,
            workers: 4,
            mode,
            faults: true,
        }
    }
}

/// What a run did (everything in it was checked).
#[derive(Clone, Debug, Default)]
pub struct StressReport {
    /// Random operations run.
    pub ops: u64,
    /// Requests submitted (several per operation for the synchronous helpers).
    pub requests: u64,
    /// Provider calls failed or reset by the injector.
    pub failures_injected: usize,
    /// Completions delayed by the injector.
    pub delays_injected: usize,
    /// Provider calls.
    pub provider_calls: u64,
    /// The engine's allocations, and how many of them the injector failed.
    pub allocations: u64,
    /// See `allocations`.
    pub allocations_failed: u64,
    /// Streams whose tag reached a peer.
    pub streams_seen: usize,
    /// Of those, judged strictly: graceful (exact bytes + FIN).
    pub strict_graceful: usize,
    /// Judged strictly: abortive (intact prefix + RST).
    pub strict_abortive: usize,
    /// Payload bytes verified at the peers.
    pub bytes_verified: u64,
    /// Requests completed with each status (name → count).
    pub statuses: BTreeMap<String, u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// Unload to idle.
    pub unload_time: Duration,
}

impl std::fmt::Display for StressReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ops {} | requests {} | provider calls {} | injected failures/resets {} | delayed completions {}",
            self.ops, self.requests, self.provider_calls, self.failures_injected, self.delays_injected
        )?;
        writeln!(
            f,
            "engine allocations {} | failed {}",
            self.allocations, self.allocations_failed
        )?;
        writeln!(
            f,
            "streams seen by peers {} | judged strictly: graceful {} abortive {} | bytes verified {}",
            self.streams_seen, self.strict_graceful, self.strict_abortive, self.bytes_verified
        )?;
        write!(
            f,
            "elapsed {:.2?} | unload {:.2?} | statuses {:?}",
            self.elapsed, self.unload_time, self.statuses
        )
    }
}

/// How a stream's teardown was started (by its last handle's close).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Teardown {
    Graceful,
    Abortive,
}

/// One connected stream as the stress sees it.
#[derive(Debug)]
struct Conn {
    tag: u32,
    /// Pattern bytes handed to sends so far (after the tag).
    offset: u64,
    /// Bytes whose sends completed with success.
    sent_ok: u64,
    /// The tag's send completed with success.
    tag_sent: bool,
    /// A send did not complete with all its bytes: the stream has a hole.
    tainted: bool,
    /// How the last handle's close started the teardown (None: unload or cleanup, which
    /// follow SO_LINGER — see `resolve`).
    teardown: Option<Teardown>,
    /// Receives issued and not completed.
    receives: u32,
    /// Sends issued and not completed.
    sends: u32,
}

/// What a socket object is, as far as the stress knows.
#[derive(Clone, Copy, Debug)]
enum ObjKind {
    /// CONNECT issued, not completed.
    Connecting,
    /// A connected stream (index into the worker's conns).
    Stream(usize),
    /// A listening socket on this address.
    Listener(SocketAddr),
    /// A stream socket whose connect failed.
    Dead,
}

#[derive(Debug)]
struct Obj {
    kind: ObjKind,
    handles: u32,
    linger: Option<u16>,
    accepts: u32,
}

#[derive(Clone, Copy, Debug)]
struct H {
    client: usize,
    handle: Handle,
    obj: u64,
}

/// What a pending request was.
#[derive(Debug)]
enum Ctx {
    Connect { obj: u64 },
    Tag { conn: usize },
    Send { conn: usize, len: usize },
    Receive { conn: usize },
    Accept { client: usize, listener: u64 },
    CloseWait,
    Racing,
}

/// The statuses an operation may complete with (besides success).
fn allowed(ctx: &Ctx, s: NtStatus) -> bool {
    const COMMON: &[NtStatus] = &[
        NtStatus::STATUS_CANCELLED,
        NtStatus::STATUS_INSUFFICIENT_RESOURCES,
        NtStatus::STATUS_CONNECTION_RESET,
        NtStatus::STATUS_CONNECTION_ABORTED,
        NtStatus::STATUS_CONNECTION_DISCONNECTED,
        NtStatus::STATUS_INVALID_DEVICE_STATE,
        NtStatus::STATUS_DEVICE_NOT_READY,
        NtStatus::STATUS_FILE_FORCED_CLOSED,
    ];
    if s.is_success() || COMMON.contains(&s) {
        return true;
    }
    match ctx {
        Ctx::Connect { .. } => s == NtStatus::STATUS_CONNECTION_REFUSED,
        // A send racing a close from another thread may find the handle gone.
        Ctx::Racing => s == NtStatus::STATUS_INVALID_HANDLE,
        // A client cleaned up while its accept completed cannot take the new handle.
        Ctx::Accept { .. } => s == NtStatus::STATUS_DELETE_PENDING,
        _ => false,
    }
}

struct Worker {
    id: usize,
    rng: SplitMix64,
    clients: Vec<Option<Client>>,
    client_ids: Vec<u64>,
    handles: BTreeMap<u64, H>,
    objs: BTreeMap<u64, Obj>,
    conns: Vec<Conn>,
    pending: Vec<(Pending, Ctx)>,
    next_key: u64,
    closed: Vec<(usize, Handle)>,
    failures: Vec<String>,
    statuses: BTreeMap<String, u64>,
}

/// Shared by the workers.
struct World {
    sink: Sink,
    refused: SocketAddr,
    ops: AtomicU64,
    shared: Client,
    shared_id: u64,
}

const MAX_HANDLES: usize = 24;
const SIZES: [usize; 7] = [1, 7, 100, 1000, 4096, 16 * 1024, 64 * 1024];

impl Worker {
    fn new(id: usize, seed: u64, rig: &CheckedRig, world: &World) -> Worker {
        let mut w = Worker {
            id,
            rng: SplitMix64::new(seed ^ (0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(id as u64 + 1))),
            clients: Vec::new(),
            client_ids: Vec::new(),
            handles: BTreeMap::new(),
            objs: BTreeMap::new(),
            conns: Vec::new(),
            pending: Vec::new(),
            next_key: 1,
            closed: Vec::new(),
            failures: Vec::new(),
            statuses: BTreeMap::new(),
        };
        // Client 0 is shared by every worker (its handle table is hit from all threads; it
        // is never cleaned up before unload); the others are the worker's own.
        w.clients.push(Some(world.shared.clone()));
        w.client_ids.push(world.shared_id);
        for _ in 0..2 {
            w.add_client(rig);
        }
        w
    }

    #[allow(clippy::needless_pass_by_value)] // called with format!() everywhere
    fn fail(&mut self, msg: String) {
        if self.failures.len() < 50 {
            self.failures.push(format!("worker {}: {msg}", self.id));
        }
    }

    fn count(&mut self, s: NtStatus) {
        let name = s.name().map_or_else(|| format!("{:#x}", s.0), str::to_string);
        *self.statuses.entry(name).or_default() += 1;
    }

    fn add_client(&mut self, rig: &CheckedRig) {
        let c = rig.client();
        let id = c.client_info().map_or(0, |i| i.client_id);
        self.clients.push(Some(c));
        self.client_ids.push(id);
    }

    fn live_clients(&self) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|i| self.clients[*i].is_some())
            .collect()
    }

    /// The worker's own clients (never the shared one), which it may clean up.
    fn own_clients(&self) -> Vec<usize> {
        (1..self.clients.len())
            .filter(|i| self.clients[*i].is_some())
            .collect()
    }

    fn client(&self, i: usize) -> &Client {
        self.clients[i].as_ref().expect("live client")
    }

    /// A random loopback source address (127.x.y.z, any port), so that long runs do not run out
    /// of ephemeral ports to TIME_WAIT.
    fn loopback(&mut self) -> SocketAddr {
        let r = self.rng.next_u64().to_le_bytes();
        SocketAddr::from(([127, 1 + r[0] % 250, r[1], 1 + r[2] % 250], 0))
    }

    fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            let i = usize::try_from(self.rng.up_to(v.len() as u64 - 1)).unwrap_or(0);
            Some(v[i])
        }
    }

    fn keys_where(&self, f: impl Fn(&H, &Obj) -> bool) -> Vec<u64> {
        self.handles
            .iter()
            .filter(|(_, h)| f(h, &self.objs[&h.obj]))
            .map(|(k, _)| *k)
            .collect()
    }

    fn add_handle(&mut self, client: usize, handle: Handle, obj: u64) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.handles.insert(key, H { client, handle, obj });
        self.objs.get_mut(&obj).expect("obj").handles += 1;
        key
    }

    fn new_obj(&mut self, kind: ObjKind) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.objs.insert(
            key,
            Obj {
                kind,
                handles: 0,
                linger: None,
                accepts: 0,
            },
        );
        key
    }

    /// The handle left the table: account for it; `mode` is what closed it.
    fn handle_gone(&mut self, key: u64, mode: Option<CloseMode>) {
        let Some(h) = self.handles.remove(&key) else {
            return;
        };
        self.closed.push((h.client, h.handle));
        if self.closed.len() > 32 {
            self.closed.remove(0);
        }
        let obj = self.objs.get_mut(&h.obj).expect("obj");
        obj.handles -= 1;
        if obj.handles == 0 {
            let (kind, linger) = (obj.kind, obj.linger);
            self.objs.remove(&h.obj);
            if let (ObjKind::Stream(c), Some(mode)) = (kind, mode) {
                self.conns[c].teardown = Some(resolve(mode, linger));
            }
        }
    }

    // One arm per operation, with its share of the rolls; precondition failures close instead.
    #[allow(clippy::match_same_arms)]
    fn step(&mut self, rig: &CheckedRig, world: &World) {
        self.reap(false);
        let n = self.handles.len();
        let roll = self.rng.up_to(99);
        match roll {
            0..=9 if n < MAX_HANDLES => self.op_connect(world),
            10 if n < MAX_HANDLES => self.op_connect_refused(world),
            11..=12 if n < MAX_HANDLES => self.op_listen(),
            13..=16 => self.op_accept(world),
            17..=41 => self.op_send(),
            42..=49 => self.op_receive(),
            50..=55 if n < MAX_HANDLES => self.op_duplicate(),
            56..=58 => self.op_cancel_handle(),
            59..=61 => self.op_cancel_request(),
            62..=80 => self.op_close(),
            81..=83 => self.op_linger(),
            84 => self.op_cleanup(rig),
            85..=87 => self.op_stale(),
            88..=89 => self.op_race(),
            90..=91 => self.op_stats(),
            // Operations whose precondition failed (too many handles): close instead.
            _ => self.op_close(),
        }
    }

    fn op_connect(&mut self, world: &World) {
        let Some(ci) = self.pick(&self.live_clients()) else {
            return;
        };
        let c = self.client(ci).clone();
        let h = match c.socket(AF_INET, SocketKind::Stream) {
            Ok(h) => h,
            Err(e) => return self.check_sync("socket", e.status),
        };
        let obj = self.new_obj(ObjKind::Connecting);
        self.add_handle(ci, h, obj);
        let local = self.loopback();
        if let Err(e) = c.bind(h, local) {
            self.objs.get_mut(&obj).expect("obj").kind = ObjKind::Dead;
            return self.check_sync("bind", e.status);
        }
        let p = c.connect(h, world.sink.addr());
        self.pending.push((p, Ctx::Connect { obj }));
    }

    fn op_connect_refused(&mut self, world: &World) {
        let Some(ci) = self.pick(&self.live_clients()) else {
            return;
        };
        let c = self.client(ci).clone();
        match c.connect_to(world.refused) {
            Ok(h) => {
                self.fail(format!("connect to a closed port succeeded ({h:?})"));
                let _ = c.close(h, CloseMode::Abortive, false);
            }
            Err(e) => {
                if !matches!(
                    e.status,
                    NtStatus::STATUS_CONNECTION_REFUSED | NtStatus::STATUS_INSUFFICIENT_RESOURCES
                ) {
                    self.fail(format!("connect to a closed port: {e}"));
                }
            }
        }
    }

    fn op_listen(&mut self) {
        let listeners = self
            .objs
            .values()
            .filter(|o| matches!(o.kind, ObjKind::Listener(_)))
            .count();
        if listeners >= 2 {
            return;
        }
        let Some(ci) = self.pick(&self.live_clients()) else {
            return;
        };
        let c = self.client(ci).clone();
        let h = match c.socket(AF_INET, SocketKind::Listen) {
            Ok(h) => h,
            Err(e) => return self.check_sync("socket", e.status),
        };
        let obj = self.new_obj(ObjKind::Dead);
        self.add_handle(ci, h, obj);
        if let Err(e) = c.bind(h, SocketAddr::from(([127, 0, 0, 1], 0))) {
            return self.check_sync("bind", e.status);
        }
        match c.address(h, msg::AddressWhich::Local) {
            Ok(a) => self.objs.get_mut(&obj).expect("obj").kind = ObjKind::Listener(a),
            Err(e) => self.check_sync("get_address", e.status),
        }
    }

    fn op_accept(&mut self, world: &World) {
        let ls = self.keys_where(|_, o| matches!(o.kind, ObjKind::Listener(_)) && o.accepts < 2);
        let Some(key) = self.pick(&ls) else { return };
        let h = self.handles[&key];
        let ObjKind::Listener(addr) = self.objs[&h.obj].kind else {
            return;
        };
        let p = self.client(h.client).accept(h.handle);
        self.objs.get_mut(&h.obj).expect("obj").accepts += 1;
        self.pending.push((
            p,
            Ctx::Accept {
                client: h.client,
                listener: h.obj,
            },
        ));
        world.sink.connect_to(addr);
    }

    fn streams(&self) -> Vec<u64> {
        self.keys_where(|_, o| matches!(o.kind, ObjKind::Stream(_)))
    }

    fn op_send(&mut self) {
        let s = self.streams();
        let Some(key) = self.pick(&s) else { return };
        let h = self.handles[&key];
        let ObjKind::Stream(ci) = self.objs[&h.obj].kind else {
            return;
        };
        if self.conns[ci].sends >= 8 {
            return;
        }
        let len = self.pick(&SIZES).unwrap_or(1);
        let off = self.conns[ci].offset;
        self.conns[ci].offset += len as u64;
        self.conns[ci].sends += 1;
        let p = self.client(h.client).send(h.handle, pattern::bytes(off, len));
        self.pending.push((p, Ctx::Send { conn: ci, len }));
    }

    fn op_receive(&mut self) {
        let s = self.streams();
        let Some(key) = self.pick(&s) else { return };
        let h = self.handles[&key];
        let ObjKind::Stream(ci) = self.objs[&h.obj].kind else {
            return;
        };
        if self.conns[ci].receives >= 2 {
            return;
        }
        self.conns[ci].receives += 1;
        let len = usize::try_from(1 + self.rng.up_to(255)).unwrap_or(1);
        let p = self.client(h.client).receive(h.handle, len);
        self.pending.push((p, Ctx::Receive { conn: ci }));
    }

    fn op_duplicate(&mut self) {
        let keys: Vec<u64> = self.handles.keys().copied().collect();
        let Some(key) = self.pick(&keys) else { return };
        let h = self.handles[&key];
        let Some(target) = self.pick(&self.live_clients()) else {
            return;
        };
        let target_id = if target == h.client {
            0
        } else {
            // The target's consent first (ALLOW_DUPLICATE), one handle at a time.
            let from = self.client_ids[h.client];
            match self.client(target).allow_duplicate(from, 1) {
                Ok(()) => {}
                // Every allowance slot holds a live client's unused allowance.
                Err(e) if e.status == NtStatus::STATUS_INSUFFICIENT_RESOURCES => return self.count(e.status),
                Err(e) => return self.fail(format!("allow duplicate from a live client: {e}")),
            }
            self.client_ids[target]
        };
        match self.client(h.client).duplicate(h.handle, target_id) {
            Ok(nh) => {
                self.add_handle(target, nh, h.obj);
            }
            // The engine could not get the memory the duplicate needed (an injected failure).
            Err(e) if e.status == NtStatus::STATUS_INSUFFICIENT_RESOURCES => self.count(e.status),
            Err(e) => self.fail(format!("duplicate of a live handle: {e}")),
        }
    }

    fn op_cancel_handle(&mut self) {
        let keys: Vec<u64> = self.handles.keys().copied().collect();
        let Some(key) = self.pick(&keys) else { return };
        let h = self.handles[&key];
        if let Err(e) = self.client(h.client).cancel(h.handle) {
            self.fail(format!("cancel of a live handle: {e}"));
        }
    }

    fn op_cancel_request(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let i = usize::try_from(self.rng.up_to(self.pending.len() as u64 - 1)).unwrap_or(0);
        self.pending[i].0.cancel();
    }

    fn op_close(&mut self) {
        let keys: Vec<u64> = self.handles.keys().copied().collect();
        let Some(key) = self.pick(&keys) else { return };
        let h = self.handles[&key];
        let mode = match self.rng.up_to(3) {
            0 => CloseMode::Default,
            1 => CloseMode::Graceful,
            2 => CloseMode::Abortive,
            _ => CloseMode::Linger,
        };
        let secs = if mode == CloseMode::Linger { 10 } else { 0 };
        let wait = self.rng.chance(300_000);
        let p = self.client(h.client).close_pending(h.handle, mode, secs, wait);
        if wait {
            // A waiting CLOSE that could not reserve its room (an injected allocation failure)
            // is refused at once, in the dispatch: the handle stays open.
            if let Some(c) = p
                .poll()
                .filter(|c| c.status == NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            {
                self.count(c.status);
                return;
            }
            self.handle_gone(key, Some(mode));
            self.pending.push((p, Ctx::CloseWait));
        } else {
            self.handle_gone(key, Some(mode));
            match p.wait_timeout(Duration::from_secs(30)) {
                Some(c) if c.status.is_success() => {}
                Some(c) => self.fail(format!("close of a live handle: {}", c.status)),
                None => self.fail("close without the wait flag did not complete".into()),
            }
        }
    }

    fn op_linger(&mut self) {
        let keys: Vec<u64> = self.handles.keys().copied().collect();
        let Some(key) = self.pick(&keys) else { return };
        let h = self.handles[&key];
        let linger = match self.rng.up_to(2) {
            0 => None,
            1 => Some(0),
            _ => Some(10),
        };
        match self.client(h.client).set_linger(h.handle, linger) {
            Ok(()) => self.objs.get_mut(&h.obj).expect("obj").linger = linger,
            Err(e) => self.fail(format!("SO_LINGER: {e}")),
        }
    }

    fn op_cleanup(&mut self, rig: &CheckedRig) {
        let live = self.own_clients();
        let Some(ci) = self.pick(&live) else { return };
        // Dropping the client's channel is IRP_MJ_CLEANUP: every handle closes as SO_LINGER says.
        let keys: Vec<u64> = self.keys_where(|h, _| h.client == ci);
        for k in keys {
            self.handle_gone(k, Some(CloseMode::Default));
        }
        self.clients[ci] = None;
        self.add_client(rig);
    }

    fn op_stale(&mut self) {
        let closed = self.closed.clone();
        let Some((ci, h)) = self.pick(&closed) else { return };
        let Some(c) = self.clients[ci].clone() else { return };
        let r = c
            .send(h, vec![1, 2, 3])
            .wait_timeout(Duration::from_secs(30))
            .map(|c| c.status);
        if r != Some(NtStatus::STATUS_INVALID_HANDLE) {
            self.fail(format!("send on closed handle {h:?} gave {r:?}"));
        }
        // Another client's live handle is not this client's either (unless the slot matches
        // one of its own: only check clients without handles of their own).
        if let Some((&key, _)) = self.handles.iter().next() {
            let other = self.handles[&key];
            let mine = self.handles.values().any(|x| x.client == ci)
                || self
                    .pending
                    .iter()
                    .any(|(_, x)| matches!(x, Ctx::Accept { client, .. } if *client == ci));
            // The shared client holds other workers' handles: only the own ones are known.
            if other.client != ci && !mine && ci != 0 {
                let r = c.cancel(other.handle).map_err(|e| e.status);
                if r != Err(NtStatus::STATUS_INVALID_HANDLE) {
                    self.fail(format!(
                        "another client's handle {:?} answered {r:?}",
                        other.handle
                    ));
                }
            }
        }
    }

    /// A send issued here while another thread closes the same handle.
    fn op_race(&mut self) {
        let s = self.streams();
        let Some(key) = self.pick(&s) else { return };
        let h = self.handles[&key];
        let c = self.client(h.client).clone();
        let abortive = self.rng.chance(500_000);
        let mode = if abortive {
            CloseMode::Abortive
        } else {
            CloseMode::Graceful
        };
        let closer = {
            let c = c.clone();
            std::thread::spawn(move || c.close(h.handle, mode, false))
        };
        let p = c.send(h.handle, vec![0xEE; 512]);
        let closed = closer.join().expect("closer thread");
        // The stream's bytes are no longer the pattern: judge only how it ended.
        if let ObjKind::Stream(ci) = self.objs[&h.obj].kind {
            self.conns[ci].tainted = true;
        }
        self.handle_gone(key, Some(mode));
        if let Err(e) = closed {
            self.fail(format!("close racing a send: {e}"));
        }
        self.pending.push((p, Ctx::Racing));
    }

    fn op_stats(&mut self) {
        let Some(ci) = self.pick(&self.live_clients()) else {
            return;
        };
        match self.client(ci).statistics(Handle::NULL) {
            Ok(r) if r.scope == 0 => {}
            other => self.fail(format!("global statistics: {other:?}")),
        }
        let keys = self.keys_where(|h, _| h.client == ci);
        if let Some(k) = self.pick(&keys) {
            let h = self.handles[&k];
            match self.client(ci).statistics(h.handle) {
                Ok(r) if r.scope == 1 && r.handles >= 1 => {}
                other => self.fail(format!("socket statistics: {other:?}")),
            }
        }
    }

    fn check_sync(&mut self, what: &str, s: NtStatus) {
        self.count(s);
        // Only an injected failure may fail these.
        if s != NtStatus::STATUS_INSUFFICIENT_RESOURCES {
            self.fail(format!("{what} failed with {s}"));
        }
    }

    /// Handles completed requests (`all`: wait for every one).
    fn reap(&mut self, all: bool) {
        let mut i = 0;
        while i < self.pending.len() {
            let done = if all {
                self.pending[i].0.wait_timeout(Duration::from_secs(20))
            } else {
                self.pending[i].0.poll()
            };
            match done {
                Some(c) => {
                    let (_, ctx) = self.pending.swap_remove(i);
                    self.completed(&ctx, &c);
                }
                None if all => {
                    let ctx = format!("{:?}", self.pending[i].1);
                    self.fail(format!("request never completed: {ctx}"));
                    self.pending.swap_remove(i);
                }
                None => i += 1,
            }
        }
    }

    fn completed(&mut self, ctx: &Ctx, c: &Completed) {
        self.count(c.status);
        if !allowed(ctx, c.status) {
            self.fail(format!("{ctx:?} completed with {}", c.status));
        }
        let ok = c.status.is_success();
        match *ctx {
            Ctx::Connect { obj } => {
                // Its handles may all be closed already (then the socket is gone too).
                if !self.objs.contains_key(&obj) {
                    return;
                }
                let kind = if ok {
                    ObjKind::Stream(self.new_conn())
                } else {
                    ObjKind::Dead
                };
                self.objs.get_mut(&obj).expect("obj").kind = kind;
                let ObjKind::Stream(ci) = kind else { return };
                let h = *self
                    .handles
                    .values()
                    .find(|h| h.obj == obj)
                    .expect("a handle of a live object");
                self.send_tag(h, ci);
            }
            Ctx::Tag { conn } => {
                self.conns[conn].sends -= 1;
                if ok && c.info == 8 {
                    self.conns[conn].tag_sent = true;
                } else {
                    self.conns[conn].tainted = true;
                }
            }
            Ctx::Send { conn, len } => {
                self.conns[conn].sends -= 1;
                if ok && c.info == len {
                    self.conns[conn].sent_ok += len as u64;
                } else {
                    self.conns[conn].tainted = true;
                }
            }
            Ctx::Receive { conn } => {
                self.conns[conn].receives -= 1;
                if ok {
                    let data = &c.output[..c.info.min(c.output.len())];
                    let contiguous = data
                        .windows(2)
                        .all(|w| pattern::byte(u64::from(w[0]) + 1) == w[1]);
                    if !contiguous {
                        self.fail(format!("received bytes are not the peer's pattern: {data:?}"));
                    }
                }
            }
            Ctx::Accept { client, listener } => {
                if let Some(o) = self.objs.get_mut(&listener) {
                    o.accepts -= 1;
                }
                if !ok {
                    return;
                }
                let Some(r) = AcceptReply::read_from_prefix(&c.output).ok().map(|(r, _)| r) else {
                    return self.fail("accept reply unreadable".into());
                };
                if self.clients[client].is_none() {
                    // Cleaned up after the accept completed: the cleanup closed the new handle.
                    return;
                }
                let ci = self.new_conn();
                let obj = self.new_obj(ObjKind::Stream(ci));
                let key = self.add_handle(client, r.handle, obj);
                let h = self.handles[&key];
                self.send_tag(h, ci);
            }
            Ctx::CloseWait => {
                if ok {
                    let closed = Client::closed(c);
                    if closed.last_reference && closed.teardown_status == NtStatus::STATUS_PENDING {
                        self.fail(format!("waited close came back before the teardown: {closed:?}"));
                    }
                }
            }
            Ctx::Racing => {}
        }
    }

    fn new_conn(&mut self) -> usize {
        self.conns.push(Conn {
            tag: 0,
            offset: 0,
            sent_ok: 0,
            tag_sent: false,
            tainted: false,
            teardown: None,
            receives: 0,
            sends: 0,
        });
        self.conns.len() - 1
    }

    fn send_tag(&mut self, h: H, ci: usize) {
        let Some(c) = self.clients[h.client].clone() else {
            return;
        };
        let tag = u32::try_from(self.id).unwrap_or(0) << 24 | u32::try_from(ci).unwrap_or(0);
        self.conns[ci].tag = tag;
        self.conns[ci].sends += 1;
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&tag.to_le_bytes());
        let p = c.send(h.handle, b);
        self.pending.push((p, Ctx::Tag { conn: ci }));
    }

    /// Before unload: close some handles, clean some clients up, leave the rest to unload.
    fn wind_down(&mut self) {
        let keys: Vec<u64> = self.handles.keys().copied().collect();
        for k in keys {
            if self.rng.chance(500_000) {
                let h = self.handles[&k];
                let mode = if self.rng.chance(200_000) {
                    CloseMode::Abortive
                } else {
                    CloseMode::Graceful
                };
                let r = self.client(h.client).close(h.handle, mode, false);
                self.handle_gone(k, Some(mode));
                if let Err(e) = r {
                    self.fail(format!("final close: {e}"));
                }
            }
        }
        for ci in self.own_clients() {
            if self.rng.chance(300_000) {
                let keys: Vec<u64> = self.keys_where(|h, _| h.client == ci);
                for k in keys {
                    self.handle_gone(k, Some(CloseMode::Default));
                }
                self.clients[ci] = None;
            }
        }
        // Unload closes the rest as each socket's SO_LINGER says.
        for o in self.objs.values() {
            if let ObjKind::Stream(c) = o.kind {
                self.conns[c].teardown = Some(resolve(CloseMode::Default, o.linger));
            }
        }
    }
}

/// The teardown a close mode starts, given SO_LINGER.
fn resolve(mode: CloseMode, linger: Option<u16>) -> Teardown {
    match (mode, linger) {
        (CloseMode::Abortive, _) | (CloseMode::Default, Some(0)) => Teardown::Abortive,
        _ => Teardown::Graceful,
    }
}

/// Runs one stress; `Err` lists what went wrong (the seed is in the first line).
pub fn run(cfg: &StressConfig) -> Result<StressReport, String> {
    let started = Instant::now();
    eprintln!(
        "stress: seed {} ops {} workers {} {:?} faults {} (reproduce: cargo xtask stress --ops {} --seed {} --mode {})",
        cfg.seed,
        cfg.ops,
        cfg.workers,
        cfg.mode,
        cfg.faults,
        cfg.ops,
        cfg.seed,
        super::mode_name(cfg.mode)
    );
    let plan = if cfg.faults {
        FaultPlan::new(cfg.seed)
            .fail_randomly(3_000, NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            .fail_allocations_randomly(2_000)
            .delay(30_000, Duration::from_millis(3))
            .resets(1_000)
    } else {
        FaultPlan::new(cfg.seed)
    };
    let config = Config {
        max_pending_per_socket: 24,
        max_pending_per_client: 512,
        max_handles_per_client: 4096,
        unload_linger_ms: 2_000,
        cleanup_linger_ms: 2_000,
    };
    let rig = CheckedRig::new(plan, cfg.mode, config);
    let refusing = Refusing::new();
    let shared = rig.client();
    let shared_id = shared.client_info().map_or(0, |i| i.client_id);
    let world = Arc::new(World {
        sink: Sink::start(64),
        refused: refusing.addr(),
        shared,
        shared_id,
        ops: AtomicU64::new(0),
    });
    let per_worker = cfg.ops / cfg.workers as u64;
    let mut workers: Vec<Worker> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..cfg.workers)
            .map(|id| {
                let rig = &rig;
                let world = Arc::clone(&world);
                let seed = cfg.seed;
                s.spawn(move || {
                    let mut w = Worker::new(id, seed, rig, &world);
                    for i in 0..per_worker {
                        w.step(rig, &world);
                        world.ops.fetch_add(1, Ordering::Relaxed);
                        // Checked all along, not only at the end: stop at the first violation.
                        if i % 256 == 0 && !(rig.checker.is_clean() && rig.host_checker.is_clean()) {
                            w.fail(format!(
                                "contract violation by operation {i}: {:?} {:?}",
                                rig.checker.violations(),
                                rig.host_checker.violations()
                            ));
                            break;
                        }
                    }
                    w.wind_down();
                    w
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("worker panicked"))
            .collect()
    });
    let ops = world.ops.load(Ordering::Relaxed);
    let probe = Arc::clone(&rig.probe);
    let (allocations, allocations_failed) = rig.allocations();
    // Unload closes what is left (the remaining clients stay open through it).
    let audit: Audit = rig.unload_and_audit(Duration::from_mins(1));
    let faults = &audit.faults;
    let tags = probe.tags.lock().clone();
    for w in &mut workers {
        w.reap(true);
        // Handles left for unload or cleanup: their teardown followed SO_LINGER (Default).
        w.clients.clear();
    }
    let world = Arc::try_unwrap(world).map_err(|_| "world still shared".to_string())?;
    let reports = world.sink.finish(Duration::from_secs(20));
    let mut report = StressReport {
        ops,
        requests: audit.requests,
        failures_injected: audit.failures_injected,
        delays_injected: audit.delays_injected,
        provider_calls: audit.provider_calls,
        allocations,
        allocations_failed,
        unload_time: audit.unload_time,
        ..StressReport::default()
    };
    let mut failures: Vec<String> = Vec::new();
    for w in &workers {
        failures.extend(w.failures.iter().cloned());
        for (k, v) in &w.statuses {
            *report.statuses.entry(k.clone()).or_default() += v;
        }
    }
    let faulted: HashSet<u64> = faults
        .iter()
        .filter(|e| matches!(e.action, FaultAction::Fail(_) | FaultAction::Reset))
        .filter_map(|e| e.socket)
        .collect();
    judge(&workers, &reports, &tags, &faulted, &mut report, &mut failures);
    report.elapsed = started.elapsed();
    if failures.is_empty() {
        Ok(report)
    } else {
        let mut msg = format!(
            "stress FAILED (seed {}, ops {}, mode {:?}): {} finding(s)\n",
            cfg.seed,
            cfg.ops,
            cfg.mode,
            failures.len()
        );
        for f in failures.iter().take(40) {
            let _ = writeln!(msg, "  - {f}");
        }
        let _ = write!(msg, "{report}");
        Err(msg)
    }
}

/// Compares what the peers saw with what the workers did.
fn judge(
    workers: &[Worker],
    reports: &[PeerReport],
    tags: &HashMap<u32, u64>,
    faulted: &HashSet<u64>,
    report: &mut StressReport,
    failures: &mut Vec<String>,
) {
    let mut by_tag: HashMap<u32, &PeerReport> = HashMap::new();
    for r in reports {
        if r.end == End::Timeout {
            failures.push(format!("a connection was never ended by the engine: {r:?}"));
        }
        if let Some(t) = r.tag {
            if by_tag.insert(t, r).is_some() {
                failures.push(format!("tag {t:#x} seen twice"));
            }
        }
    }
    report.streams_seen = by_tag.len();
    for w in workers {
        for conn in &w.conns {
            if !conn.tag_sent {
                continue;
            }
            let Some(r) = by_tag.get(&conn.tag) else {
                // An abortive end may discard the tag unread at the peer.
                continue;
            };
            let touched = tags.get(&conn.tag).is_none_or(|id| faulted.contains(id));
            if conn.tainted || touched {
                // Only how it ended can be judged; without a hole, what arrived is intact.
                if !conn.tainted && r.first_mismatch.is_some() {
                    failures.push(format!(
                        "faulted stream {:#x} delivered corrupt data: {r:?}",
                        conn.tag
                    ));
                }
                continue;
            }
            match conn.teardown.unwrap_or(Teardown::Graceful) {
                Teardown::Graceful => {
                    report.strict_graceful += 1;
                    if r.end != End::Fin || r.bytes != conn.sent_ok || r.first_mismatch.is_some() {
                        failures.push(format!(
                            "graceful stream {:#x}: sent {} bytes, peer saw {r:?}",
                            conn.tag, conn.sent_ok
                        ));
                    }
                }
                Teardown::Abortive => {
                    report.strict_abortive += 1;
                    if r.end != End::Reset || r.bytes > conn.sent_ok || r.first_mismatch.is_some() {
                        failures.push(format!(
                            "abortive stream {:#x}: sent {} bytes, peer saw {r:?}",
                            conn.tag, conn.sent_ok
                        ));
                    }
                }
            }
            report.bytes_verified += r.bytes;
        }
    }
}
