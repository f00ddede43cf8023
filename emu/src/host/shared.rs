//! What the provider's handles, its event-loop thread and its resolver threads share, and the
//! event loop itself.
//!
//! The event loop is one thread that owns the `mio::Poll`. It waits for readiness of every host
//! socket (edge-triggered), for tasks (calls handed over in deferred mode, cancels), for timers,
//! and — while a graceful disconnect drains — wakes every `drain_poll` to look at the socket's
//! send queue. Completions are delivered by whoever finished the operation (the loop, or the
//! calling thread in inline mode), always after every lock of the provider is released — or, in
//! concurrent mode, handed with the timer callbacks to the delivery pool (`pool.rs`).
//!
//! # Lock order
//! socket state → {sockets map, draining list, task queue, timer heap, checker}. The five on the
//! right are leaves: nothing is locked or called while one of them is held. No lock is held while
//! a completion, a task or a timer callback runs.

use super::hostio::{register, Io};
use super::pool::{Job, Pool};
use super::resolve::ResolveSlot;
use super::sock::{Cx, SockEntry, SockState};
use super::timer::{TimerEntry, TimerSlot};
use super::HostSocket;
use crate::checker::{Checker, ViolationKind};
use crate::profile::{CompletionMode, Config};
use crate::HostProvider;
use mio::{Events, Poll, Registry, Token, Waker};
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_core::{Completion, Family, OpOutput, SocketKind, TimerCallback};

/// The waker's token (socket tokens are their ids, which start at 1).
const WAKE: Token = Token(usize::MAX);

/// How deep completions may nest on one thread before calls stop finishing inline (a receive
/// completing inside a receive called from a completion ...): bounds the stack.
const MAX_INLINE_DEPTH: u32 = 4;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether a call on this thread may finish inline (not too deep in nested completions).
pub(crate) fn inline_ok() -> bool {
    DEPTH.with(Cell::get) < MAX_INLINE_DEPTH
}

struct DepthGuard;

impl DepthGuard {
    fn enter() -> DepthGuard {
        DEPTH.with(|d| d.set(d.get() + 1));
        DepthGuard
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// A finished operation, to be completed once no lock is held.
#[allow(clippy::struct_field_names)] // `done` is what the provider trait calls a completion.
pub(crate) struct Done {
    /// The checker's operation id.
    pub op: u64,
    /// Its continuation.
    pub done: Completion<HostProvider>,
    /// Its result.
    pub out: OpOutput<HostProvider>,
    /// The socket whose close this completes.
    pub closes: Option<u64>,
}

impl Done {
    /// A finished operation.
    pub fn new(op: u64, done: Completion<HostProvider>, out: OpOutput<HostProvider>) -> Self {
        Done {
            op,
            done,
            out,
            closes: None,
        }
    }
}

/// Completes finished operations, in order. Must be called with no provider lock held.
///
/// A completion that panics does not stop the others: every one is delivered, then the first
/// panic goes on (on the event loop it is caught and recorded by the checker).
pub(crate) fn deliver(sh: &Shared, list: Vec<Done>) {
    if let Some(pool) = &sh.pool {
        for d in list {
            let checker = Arc::clone(&sh.checker);
            pool.push(Box::new(move || {
                if let Some(s) = d.closes {
                    checker.close_completed(s);
                }
                checker.op_completed(d.op);
                let _depth = DepthGuard::enter();
                let (done, out) = (d.done, d.out);
                guarded(&checker, "a completion", move || done.complete(out));
            }));
        }
        return;
    }
    let mut panicked = None;
    for d in list {
        if let Some(s) = d.closes {
            sh.checker.close_completed(s);
        }
        sh.checker.op_completed(d.op);
        let _depth = DepthGuard::enter();
        let (done, out) = (d.done, d.out);
        if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(move || done.complete(out))) {
            panicked.get_or_insert(p);
        }
    }
    if let Some(p) = panicked {
        std::panic::resume_unwind(p);
    }
}

/// Runs a callback on a provider thread; a panic is recorded by the checker and goes no further
/// (the thread serves others).
fn guarded(checker: &Checker, what: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        checker.record(
            ViolationKind::CallbackPanicked,
            format!("{what} panicked on a delivery thread: {msg}"),
        );
    }
}

/// Work handed to the event loop.
pub(crate) type Task = Box<dyn FnOnce(&Arc<Shared>) + Send>;

/// The provider's shared state.
pub(crate) struct Shared {
    pub cfg: Config,
    pub checker: Arc<Checker>,
    pub registry: Registry,
    waker: Waker,
    tasks: Mutex<Vec<Task>>,
    timers: Mutex<BinaryHeap<TimerEntry>>,
    timer_seq: AtomicU64,
    draining: Mutex<Vec<Arc<SockEntry>>>,
    sockets: Mutex<HashMap<u64, Arc<SockEntry>>>,
    pub resolves: Mutex<HashMap<u64, Arc<ResolveSlot>>>,
    stop: AtomicBool,
    pub torn_down: AtomicBool,
    /// The call log ([`Config::record_calls`]).
    pub recorded: Mutex<Vec<super::Recorded>>,
    /// The delivery pool ([`CompletionMode::Concurrent`]).
    pool: Option<Arc<Pool>>,
}

impl Shared {
    /// The shared state and the poll the event loop will own.
    pub fn new(cfg: Config, checker: Arc<Checker>) -> io::Result<(Arc<Shared>, Poll)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let pool = (cfg.completions == CompletionMode::Concurrent).then(|| {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()) ^ d.as_secs());
            Pool::start(cfg.delivery_threads, seed)
        });
        let sh = Shared {
            cfg,
            checker,
            registry,
            waker,
            tasks: Mutex::new(Vec::new()),
            timers: Mutex::new(BinaryHeap::new()),
            timer_seq: AtomicU64::new(0),
            draining: Mutex::new(Vec::new()),
            sockets: Mutex::new(HashMap::new()),
            resolves: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            torn_down: AtomicBool::new(false),
            recorded: Mutex::new(Vec::new()),
            pool,
        };
        Ok((Arc::new(sh), poll))
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            eprintln!("wsksock-emu: cannot wake the event loop: {e}");
        }
    }

    /// Hands work to the event loop (runs it here if the loop has stopped).
    pub fn push_task(self: &Arc<Self>, task: Task) {
        if self.stop.load(Ordering::Acquire) {
            task(self);
            return;
        }
        let was_empty = {
            let mut q = self.tasks.lock();
            q.push(task);
            q.len() == 1
        };
        if was_empty {
            self.wake();
        }
    }

    fn run_tasks(self: &Arc<Self>) -> bool {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        let ran = !tasks.is_empty();
        for t in tasks {
            t(self);
        }
        ran
    }

    /// Makes `io` a socket of this provider: checker id, mio registration, socket table.
    pub fn adopt(
        self: &Arc<Self>,
        kind: SocketKind,
        family: Family,
        io: Io,
        connected: bool,
    ) -> io::Result<HostSocket> {
        let id = self.checker.socket_created(&SockEntry::label(kind, family));
        if let Err(e) = register(self, &io, id) {
            // Never handed out: not a leak.
            self.checker.close_completed(id);
            return Err(e);
        }
        let entry = Arc::new(SockEntry {
            id,
            kind,
            family,
            state: Mutex::new(SockState::new(io, connected)),
        });
        self.sockets.lock().insert(id, Arc::clone(&entry));
        Ok(HostSocket { entry })
    }

    /// Removes a closed socket from the table.
    pub fn forget_socket(&self, id: u64) {
        self.sockets.lock().remove(&id);
    }

    /// Puts a socket on the list of graceful disconnects to re-check.
    pub fn list_draining(&self, entry: &Arc<SockEntry>) {
        let first = {
            let mut d = self.draining.lock();
            d.push(Arc::clone(entry));
            d.len() == 1
        };
        if first {
            // The loop may be sleeping without a timeout.
            self.wake();
        }
    }

    fn check_draining(self: &Arc<Self>) {
        let list = std::mem::take(&mut *self.draining.lock());
        for entry in list {
            let mut out = Vec::new();
            {
                let mut st = entry.state.lock();
                st.drain_listed = false;
                let mut cx = Cx {
                    sh: self,
                    entry: &entry,
                    out: &mut out,
                };
                st.pump_disconnect(&mut cx);
            }
            deliver(self, out);
        }
    }

    /// A timer, not armed.
    pub fn new_timer(callback: TimerCallback) -> Arc<TimerSlot> {
        Arc::new(TimerSlot::new(callback))
    }

    /// Arms a timer.
    pub fn arm_timer(&self, slot: &Arc<TimerSlot>, delay: Duration, cookie: u64) {
        let Some(generation) = slot.arm(cookie) else {
            // Spent: the engine never re-arms a timer that fired (the checker would tell).
            return;
        };
        if self.torn_down.load(Ordering::Acquire) {
            // No loop to run it: it never fires.
            return;
        }
        let seq = self.timer_seq.fetch_add(1, Ordering::Relaxed);
        let at = Instant::now() + delay;
        self.timers.lock().push(TimerEntry {
            at,
            seq,
            slot: Arc::clone(slot),
            generation,
        });
        self.wake();
    }

    fn fire_timers(&self) {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut heap = self.timers.lock();
            while heap.peek().is_some_and(|t| t.at <= now) {
                if let Some(t) = heap.pop() {
                    due.push((t.slot, t.generation));
                }
            }
        }
        for (slot, generation) in due {
            if let Some((cb, cookie)) = slot.fire(generation) {
                match &self.pool {
                    Some(pool) => {
                        let checker = Arc::clone(&self.checker);
                        let job: Job =
                            Box::new(move || guarded(&checker, "a timer callback", move || cb(cookie)));
                        pool.push(job);
                    }
                    None => cb(cookie),
                }
            }
        }
    }

    fn timeout(&self) -> Option<Duration> {
        if !self.tasks.lock().is_empty() {
            return Some(Duration::ZERO);
        }
        let timer = self
            .timers
            .lock()
            .peek()
            .map(|t| t.at.saturating_duration_since(Instant::now()));
        let drain = (!self.draining.lock().is_empty()).then_some(self.cfg.drain_poll);
        match (timer, drain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The event loop: runs until [`Shared::stop_loop`].
    pub fn run(self: &Arc<Self>, mut poll: Poll) {
        let mut events = Events::with_capacity(256);
        while !self.stop.load(Ordering::Acquire) {
            if let Err(e) = poll.poll(&mut events, self.timeout()) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("wsksock-emu: event loop poll failed: {e}");
                break;
            }
            let turn = std::panic::catch_unwind(AssertUnwindSafe(|| self.turn(&events)));
            if let Err(panic) = turn {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.checker.record(
                    ViolationKind::CallbackPanicked,
                    format!("a completion or timer callback panicked on the event loop: {what}"),
                );
            }
        }
    }

    /// One turn of the loop: readiness events, tasks, timers, draining disconnects.
    fn turn(self: &Arc<Self>, events: &Events) {
        for ev in events {
            if ev.token() == WAKE {
                continue;
            }
            let Ok(id) = u64::try_from(ev.token().0) else {
                continue;
            };
            let Some(entry) = self.sockets.lock().get(&id).cloned() else {
                continue;
            };
            let mut out = Vec::new();
            {
                let mut st = entry.state.lock();
                let mut cx = Cx {
                    sh: self,
                    entry: &entry,
                    out: &mut out,
                };
                st.on_event(&mut cx, ev);
            }
            deliver(self, out);
        }
        self.run_tasks();
        self.fire_timers();
        self.check_draining();
    }

    /// Stops the delivery pool after it ran what it holds (concurrent mode).
    pub fn stop_pool(&self) {
        if let Some(pool) = &self.pool {
            pool.stop();
        }
    }

    /// Asks the event loop to stop.
    pub fn stop_loop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// After the loop stopped: runs leftover tasks, cancels every pending operation, closes
    /// every host socket, drops every timer.
    pub fn cancel_everything(self: &Arc<Self>) {
        while self.run_tasks() {}
        let entries: Vec<Arc<SockEntry>> = self.sockets.lock().drain().map(|(_, e)| e).collect();
        for entry in entries {
            let mut out = Vec::new();
            {
                let mut st = entry.state.lock();
                st.drain_all(&mut out);
                st.close_io(self);
            }
            deliver(self, out);
        }
        let slots: Vec<Arc<ResolveSlot>> = self.resolves.lock().drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(done) = slot.take() {
                let out = OpOutput::status(wsksock_abi::NtStatus::STATUS_CANCELLED);
                deliver(self, vec![Done::new(slot.op, done, out)]);
            }
        }
        let timers = std::mem::take(&mut *self.timers.lock());
        for t in timers {
            drop(t.slot.forget());
        }
        self.draining.lock().clear();
    }
}
