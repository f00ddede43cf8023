//! [`FaultInjector`]: seeded, reproducible faults around any provider (the decorator shape of
//! smoltcp's `phy::FaultInjector`).
//!
//! Faults, as a [`FaultPlan`] asks:
//! - **fail the k-th call**: the call is not passed on; its completion gets the chosen status at
//!   once (its buffer given back). A failed `close` still closes the inner socket (nothing may
//!   leak) and reports the chosen status. Random failures never pick `close`.
//! - **delay and reorder completions**: a completion is held back for a random time and then
//!   delivered from the injector's delivery thread, so completions arrive late, out of order,
//!   and on another thread.
//! - **peer resets**: the socket's connection is ended by an abortive disconnect of the inner
//!   socket (the real peer sees RST); its pending operations and every later send, receive or
//!   graceful disconnect complete with STATUS_CONNECTION_RESET, as after a reset from the peer.
//! - **allocation failures**: the engine asks its provider before each of its allocations
//!   (`Provider::allocation_fails`; making a timer counts as one too): the k-th, or at random,
//!   fails — what a failing pool allocation is in the driver. Counted and drawn apart from the
//!   calls (a hash of the seed and the allocation's position), so they do not shift the calls'
//!   faults.
//!
//! # Reproducibility
//! Every decision is drawn at call time from one SplitMix64 stream seeded by
//! [`FaultPlan::seed`], with the same number of draws for every call, so the same seed and the
//! same sequence of calls give the same faults ([`FaultInjector::events`] lists them). Thread
//! timing still decides what the network does in between.
//!
//! # Lock order
//! The injector's mutexes are leaves; no completion runs while one is held.

use crate::checker::Call;
use parking_lot::{Condvar, Mutex};
use std::collections::{BinaryHeap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsksock_abi::NtStatus;
use wsksock_core::{
    AddrKind, Completion, CompletionSink, Family, OpOutput, Provider, SockOpt, SocketParams, TimerCallback,
};

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `per_million` / 1,000,000.
    pub fn chance(&mut self, per_million: u32) -> bool {
        self.next_u64() % 1_000_000 < u64::from(per_million)
    }

    /// A value in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (max + 1)
        }
    }
}

/// Fail the `nth` call (1-based) among the calls `call` names (all operation calls if `None`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FailRule {
    /// Which call, counted from 1.
    pub nth: u64,
    /// Which calls are counted; `None`: every call except `cancel`.
    pub call: Option<Call>,
    /// The status it completes with.
    pub status: NtStatus,
}

/// What to inject. Probabilities are in parts per million.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// The seed of every random decision.
    pub seed: u64,
    /// Calls to fail by position.
    pub fail_rules: Vec<FailRule>,
    /// Chance that a call fails at random (never `close`).
    pub fail_per_million: u32,
    /// The status of random failures.
    pub fail_status: NtStatus,
    /// Chance that a completion is delayed.
    pub delay_per_million: u32,
    /// Longest delay.
    pub max_delay: Duration,
    /// Chance that a send or receive on a stream socket meets a peer reset.
    pub reset_per_million: u32,
    /// The engine's allocations to fail by position (1-based).
    pub alloc_fail_nth: Vec<u64>,
    /// Chance that one of the engine's allocations fails at random.
    pub alloc_fail_per_million: u32,
}

impl FaultPlan {
    /// A plan that injects nothing yet.
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            seed,
            fail_rules: Vec::new(),
            fail_per_million: 0,
            fail_status: NtStatus::STATUS_INSUFFICIENT_RESOURCES,
            delay_per_million: 0,
            max_delay: Duration::ZERO,
            reset_per_million: 0,
            alloc_fail_nth: Vec::new(),
            alloc_fail_per_million: 0,
        }
    }

    /// Fails the engine's `nth` allocation (1-based).
    #[must_use]
    pub fn fail_allocation(mut self, nth: u64) -> Self {
        self.alloc_fail_nth.push(nth);
        self
    }

    /// Fails the engine's allocations at random.
    #[must_use]
    pub fn fail_allocations_randomly(mut self, per_million: u32) -> Self {
        self.alloc_fail_per_million = per_million;
        self
    }

    /// Fails the `nth` call of any kind with `status`.
    #[must_use]
    pub fn fail_nth(mut self, nth: u64, status: NtStatus) -> Self {
        self.fail_rules.push(FailRule {
            nth,
            call: None,
            status,
        });
        self
    }

    /// Fails the `nth` call of kind `call` with `status`.
    #[must_use]
    pub fn fail_nth_of(mut self, call: Call, nth: u64, status: NtStatus) -> Self {
        self.fail_rules.push(FailRule {
            nth,
            call: Some(call),
            status,
        });
        self
    }

    /// Fails calls at random.
    #[must_use]
    pub fn fail_randomly(mut self, per_million: u32, status: NtStatus) -> Self {
        self.fail_per_million = per_million;
        self.fail_status = status;
        self
    }

    /// Delays completions at random by up to `max`.
    #[must_use]
    pub fn delay(mut self, per_million: u32, max: Duration) -> Self {
        self.delay_per_million = per_million;
        self.max_delay = max;
        self
    }

    /// Resets connections at random before a send or receive.
    #[must_use]
    pub fn resets(mut self, per_million: u32) -> Self {
        self.reset_per_million = per_million;
        self
    }
}

/// What the injector did to one call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultAction {
    /// Failed it with this status.
    Fail(NtStatus),
    /// Reset its socket's connection first (the call then failed with STATUS_CONNECTION_RESET).
    Reset,
    /// Delayed its completion.
    Delay(Duration),
}

/// One injected fault.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FaultEvent {
    /// The call's position among all calls (1-based).
    pub index: u64,
    /// The call.
    pub call: Call,
    /// Its socket's id, if it names one.
    pub socket: Option<u64>,
    /// What was done.
    pub action: FaultAction,
}

/// A socket seen through a [`FaultInjector`].
pub struct FaultSocket<S> {
    id: u64,
    inner: S,
}

impl<S> FaultSocket<S> {
    /// The injector's id of the socket (as in [`FaultEvent::socket`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The inner provider's socket.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for FaultSocket<S> {
    fn clone(&self) -> Self {
        FaultSocket {
            id: self.id,
            inner: self.inner.clone(),
        }
    }
}

impl<S> core::fmt::Debug for FaultSocket<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FaultSocket(#{})", self.id)
    }
}

struct Decisions {
    rng: SplitMix64,
    total: u64,
    per_call: [u64; Call::ALL.len()],
    log: Vec<FaultEvent>,
}

/// Holds delayed completions and delivers them from its own thread.
struct Delayer {
    queue: Mutex<BinaryHeap<Delayed>>,
    cv: Condvar,
    stop: AtomicBool,
    seq: AtomicU64,
}

type Delivery = Box<dyn FnOnce() + Send>;

struct Delayed {
    at: Instant,
    seq: u64,
    run: Delivery,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first from a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl Delayer {
    fn schedule(&self, delay: Duration, run: Delivery) {
        if self.stop.load(Ordering::Acquire) {
            run();
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.queue.lock().push(Delayed {
            at: Instant::now() + delay,
            seq,
            run,
        });
        self.cv.notify_one();
    }

    fn run(&self) {
        loop {
            let due = {
                let mut q = self.queue.lock();
                loop {
                    if self.stop.load(Ordering::Acquire) {
                        break None;
                    }
                    match q.peek().map(|d| d.at) {
                        Some(at) if at <= Instant::now() => break q.pop(),
                        Some(at) => {
                            self.cv.wait_until(&mut q, at);
                        }
                        None => self.cv.wait(&mut q),
                    }
                }
            };
            match due {
                Some(d) => {
                    // A panicking completion must not take the held-back ones with it.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(d.run)).is_err() {
                        eprintln!("wsksock-emu fault injector: a delayed completion panicked");
                    }
                }
                None => break,
            }
        }
        self.flush();
    }

    /// Delivers everything still held, now.
    fn flush(&self) {
        loop {
            let next = self.queue.lock().pop();
            match next {
                Some(d) => (d.run)(),
                None => break,
            }
        }
    }
}

struct Inner {
    plan: FaultPlan,
    decisions: Mutex<Decisions>,
    /// The engine's allocations so far, and how many of them failed.
    allocations: AtomicU64,
    allocations_failed: AtomicU64,
    delayer: Arc<Delayer>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next_socket: AtomicU64,
    reset: Mutex<HashSet<u64>>,
}

/// Injects the faults of a [`FaultPlan`] into the calls made through it to `P`.
pub struct FaultInjector<P: Provider> {
    inner: P,
    st: Arc<Inner>,
}

/// What to do with one call.
enum Verdict {
    Fail(NtStatus),
    Reset,
    Pass(Option<Duration>),
}

impl<P: Provider> FaultInjector<P> {
    /// Wraps `inner`; starts the delivery thread for delayed completions.
    pub fn new(inner: P, plan: FaultPlan) -> Self {
        let delayer = Arc::new(Delayer {
            queue: Mutex::new(BinaryHeap::new()),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
            seq: AtomicU64::new(0),
        });
        let d2 = Arc::clone(&delayer);
        let thread = std::thread::Builder::new()
            .name("wsksock-emu-faults".into())
            .spawn(move || d2.run())
            .ok();
        if thread.is_none() {
            // No thread: delays degrade to immediate delivery.
            delayer.stop.store(true, Ordering::Release);
        }
        let decisions = Decisions {
            rng: SplitMix64::new(plan.seed),
            total: 0,
            per_call: [0; Call::ALL.len()],
            log: Vec::new(),
        };
        let st = Arc::new(Inner {
            plan,
            decisions: Mutex::new(decisions),
            allocations: AtomicU64::new(0),
            allocations_failed: AtomicU64::new(0),
            delayer,
            thread: Mutex::new(thread),
            next_socket: AtomicU64::new(1),
            reset: Mutex::new(HashSet::new()),
        });
        FaultInjector { inner, st }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.st.plan
    }

    /// Every fault injected so far, in call order.
    pub fn events(&self) -> Vec<FaultEvent> {
        self.st.decisions.lock().log.clone()
    }

    /// The engine's allocations so far (those it asked about, timers included).
    pub fn allocations(&self) -> u64 {
        self.st.allocations.load(Ordering::Acquire)
    }

    /// Of those, how many failed.
    pub fn allocations_failed(&self) -> u64 {
        self.st.allocations_failed.load(Ordering::Acquire)
    }

    /// Decides (and counts) one allocation of the engine.
    fn allocation_fails_now(&self) -> bool {
        let plan = &self.st.plan;
        let n = self.st.allocations.fetch_add(1, Ordering::AcqRel) + 1;
        let fails = plan.alloc_fail_nth.contains(&n)
            || (plan.alloc_fail_per_million > 0
                && SplitMix64::new(plan.seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407))
                    .chance(plan.alloc_fail_per_million));
        if fails {
            self.st.allocations_failed.fetch_add(1, Ordering::AcqRel);
        }
        fails
    }

    /// Delivers every delayed completion now.
    pub fn flush(&self) {
        self.st.delayer.flush();
    }

    /// Resets the connection of `s` now, as a reset from the peer would (see the module docs).
    pub fn inject_reset(&self, s: &FaultSocket<P::Socket>) {
        self.st.reset.lock().insert(s.id);
        self.inner
            .disconnect(&s.inner, true, Completion::new(Box::new(Discard)));
    }

    fn is_reset(&self, id: u64) -> bool {
        self.st.reset.lock().contains(&id)
    }

    /// Draws the decisions for one call (always the same number of draws).
    fn decide(&self, call: Call, socket: Option<u64>) -> Verdict {
        let plan = &self.st.plan;
        let mut d = self.st.decisions.lock();
        d.total += 1;
        let idx = Call::ALL.iter().position(|c| *c == call).unwrap_or(0);
        d.per_call[idx] += 1;
        let (total, nth) = (d.total, d.per_call[idx]);
        let fail_draw = d.rng.chance(plan.fail_per_million);
        let reset_draw = d.rng.chance(plan.reset_per_million);
        let delay_draw = d.rng.chance(plan.delay_per_million);
        let max_ms = u64::try_from(plan.max_delay.as_millis()).unwrap_or(u64::MAX);
        let delay = Duration::from_millis(d.rng.up_to(max_ms));
        let ruled = plan.fail_rules.iter().find(|r| match r.call {
            Some(c) => c == call && r.nth == nth,
            None => r.nth == total,
        });
        let verdict = if let Some(r) = ruled {
            Verdict::Fail(r.status)
        } else if fail_draw && call != Call::Close {
            Verdict::Fail(plan.fail_status)
        } else if reset_draw && matches!(call, Call::Send | Call::Receive) && socket.is_some() {
            Verdict::Reset
        } else if delay_draw {
            Verdict::Pass(Some(delay))
        } else {
            Verdict::Pass(None)
        };
        let action = match verdict {
            Verdict::Fail(st) => Some(FaultAction::Fail(st)),
            Verdict::Reset => Some(FaultAction::Reset),
            Verdict::Pass(Some(t)) => Some(FaultAction::Delay(t)),
            Verdict::Pass(None) => None,
        };
        if let Some(action) = action {
            d.log.push(FaultEvent {
                index: total,
                call,
                socket,
                action,
            });
        }
        verdict
    }

    fn wrap(
        &self,
        call: Call,
        socket: Option<u64>,
        delay: Option<Duration>,
        done: Completion<Self>,
    ) -> Completion<P> {
        Completion::new(Box::new(FaultSink {
            st: Arc::clone(&self.st),
            call,
            socket,
            delay,
            outer: done,
        }))
    }

    /// A call on a socket: decide, then fail, reset, or pass on.
    fn on_socket(
        &self,
        s: &FaultSocket<P::Socket>,
        call: Call,
        buf: Option<P::Buffer>,
        done: Completion<Self>,
        pass: impl FnOnce(&P, &P::Socket, Option<P::Buffer>, Completion<P>) -> Option<P::OpRef>,
    ) -> Option<P::OpRef> {
        let verdict = self.decide(call, Some(s.id));
        let after_reset =
            self.is_reset(s.id) && matches!(call, Call::Send | Call::Receive | Call::Disconnect);
        match verdict {
            Verdict::Fail(st) if call == Call::Close => {
                // Close for real (nothing may leak), report the chosen status.
                let d = Completion::new(Box::new(Rewrite {
                    status: st,
                    outer: done,
                }));
                pass(&self.inner, &s.inner, buf, self.wrap(call, Some(s.id), None, d))
            }
            Verdict::Fail(st) => {
                done.complete(OpOutput::data(st, 0, buf));
                None
            }
            Verdict::Reset => {
                self.inject_reset(s);
                done.complete(OpOutput::data(NtStatus::STATUS_CONNECTION_RESET, 0, buf));
                None
            }
            Verdict::Pass(_) if after_reset => {
                // Abortive disconnects of a reset socket are answered in `disconnect`.
                done.complete(OpOutput::data(NtStatus::STATUS_CONNECTION_RESET, 0, buf));
                None
            }
            Verdict::Pass(delay) => pass(
                &self.inner,
                &s.inner,
                buf,
                self.wrap(call, Some(s.id), delay, done),
            ),
        }
    }
}

impl<P: Provider> Drop for FaultInjector<P> {
    fn drop(&mut self) {
        {
            // Under the queue lock: the delayer checks `stop` and then waits while holding it, so
            // setting it here cannot fall between its check and its wait (a lost wakeup).
            let _q = self.st.delayer.queue.lock();
            self.st.delayer.stop.store(true, Ordering::Release);
        }
        self.st.delayer.cv.notify_all();
        let t = self.st.thread.lock().take();
        if let Some(t) = t {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        self.st.delayer.flush();
    }
}

/// Swallows the result of an operation the injector issued itself.
struct Discard;

impl<P: Provider + ?Sized> CompletionSink<P> for Discard {
    fn complete(self: Box<Self>, _output: OpOutput<P>) {}
}

/// Completes the outer completion with another status (a failed close).
struct Rewrite<P: Provider> {
    status: NtStatus,
    outer: Completion<FaultInjector<P>>,
}

impl<P: Provider> CompletionSink<FaultInjector<P>> for Rewrite<P> {
    fn complete(self: Box<Self>, mut output: OpOutput<FaultInjector<P>>) {
        output.status = self.status;
        self.outer.complete(output);
    }
}

struct FaultSink<P: Provider> {
    st: Arc<Inner>,
    call: Call,
    socket: Option<u64>,
    delay: Option<Duration>,
    outer: Completion<FaultInjector<P>>,
}

impl<P: Provider> CompletionSink<P> for FaultSink<P> {
    fn complete(self: Box<Self>, out: OpOutput<P>) {
        let st = &self.st;
        let mut out = out.map_socket(|inner, _| FaultSocket {
            id: st.next_socket.fetch_add(1, Ordering::Relaxed),
            inner,
        });
        // Operations caught by an injected reset report it as the peer's reset.
        let was_reset = self.socket.is_some_and(|s| st.reset.lock().contains(&s));
        if was_reset
            && matches!(self.call, Call::Send | Call::Receive | Call::Disconnect)
            && (out.status == NtStatus::STATUS_CANCELLED || out.status == NtStatus::STATUS_CONNECTION_ABORTED)
        {
            out.status = NtStatus::STATUS_CONNECTION_RESET;
        }
        let outer = self.outer;
        match self.delay {
            Some(d) => st.delayer.schedule(d, Box::new(move || outer.complete(out))),
            None => outer.complete(out),
        }
    }
}

impl<P: Provider> Provider for FaultInjector<P> {
    type Socket = FaultSocket<P::Socket>;
    type Buffer = P::Buffer;
    type OpRef = P::OpRef;
    type TimerRef = P::TimerRef;
    type RawLock = P::RawLock;

    fn new_raw_lock(&self) -> Self::RawLock {
        self.inner.new_raw_lock()
    }

    fn create_socket(&self, params: SocketParams, done: Completion<Self>) -> Option<P::OpRef> {
        match self.decide(Call::CreateSocket, None) {
            Verdict::Fail(st) => {
                done.complete(OpOutput::status(st));
                None
            }
            Verdict::Reset | Verdict::Pass(None) => self
                .inner
                .create_socket(params, self.wrap(Call::CreateSocket, None, None, done)),
            Verdict::Pass(delay) => self
                .inner
                .create_socket(params, self.wrap(Call::CreateSocket, None, delay, done)),
        }
    }

    fn bind(&self, s: &Self::Socket, local: SocketAddr, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::Bind, None, done, |p, s, _, d| p.bind(s, local, d))
    }

    fn listen(&self, s: &Self::Socket, backlog: u32, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::Listen, None, done, |p, s, _, d| p.listen(s, backlog, d))
    }

    fn accept(&self, s: &Self::Socket, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::Accept, None, done, |p, s, _, d| p.accept(s, d))
    }

    fn connect(&self, s: &Self::Socket, remote: SocketAddr, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::Connect, None, done, |p, s, _, d| p.connect(s, remote, d))
    }

    fn send(&self, s: &Self::Socket, buf: P::Buffer, flags: u32, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::Send, Some(buf), done, |p, s, b, d| {
            b.and_then(|b| p.send(s, b, flags, d))
        })
    }

    fn receive(
        &self,
        s: &Self::Socket,
        buf: P::Buffer,
        flags: u32,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        self.on_socket(s, Call::Receive, Some(buf), done, |p, s, b, d| {
            b.and_then(|b| p.receive(s, b, flags, d))
        })
    }

    fn send_to(
        &self,
        s: &Self::Socket,
        buf: P::Buffer,
        remote: SocketAddr,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        self.on_socket(s, Call::SendTo, Some(buf), done, |p, s, b, d| {
            b.and_then(|b| p.send_to(s, b, remote, d))
        })
    }

    fn receive_from(&self, s: &Self::Socket, buf: P::Buffer, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::ReceiveFrom, Some(buf), done, |p, s, b, d| {
            b.and_then(|b| p.receive_from(s, b, d))
        })
    }

    fn disconnect(&self, s: &Self::Socket, abortive: bool, done: Completion<Self>) -> Option<P::OpRef> {
        if abortive && self.is_reset(s.id) {
            // The connection is already gone: nothing left to do (but still count the call).
            let _ = self.decide(Call::Disconnect, Some(s.id));
            done.complete(OpOutput::status(NtStatus::STATUS_SUCCESS));
            return None;
        }
        self.on_socket(s, Call::Disconnect, None, done, |p, s, _, d| {
            p.disconnect(s, abortive, d)
        })
    }

    fn close(&self, s: &Self::Socket, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::Close, None, done, |p, s, _, d| p.close(s, d))
    }

    fn set_option(
        &self,
        s: &Self::Socket,
        opt: SockOpt,
        value: u32,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        self.on_socket(s, Call::SetOption, None, done, |p, s, _, d| {
            p.set_option(s, opt, value, d)
        })
    }

    fn get_option(&self, s: &Self::Socket, opt: SockOpt, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::GetOption, None, done, |p, s, _, d| {
            p.get_option(s, opt, d)
        })
    }

    fn get_address(&self, s: &Self::Socket, which: AddrKind, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::GetAddress, None, done, |p, s, _, d| {
            p.get_address(s, which, d)
        })
    }

    fn wait_peer_close(&self, s: &Self::Socket, done: Completion<Self>) -> Option<P::OpRef> {
        self.on_socket(s, Call::WaitPeerClose, None, done, |p, s, _, d| {
            p.wait_peer_close(s, d)
        })
    }

    fn resolve(
        &self,
        node: &str,
        family: Option<Family>,
        port: u16,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        match self.decide(Call::Resolve, None) {
            Verdict::Fail(st) => {
                done.complete(OpOutput::status(st));
                None
            }
            Verdict::Reset | Verdict::Pass(None) => {
                self.inner
                    .resolve(node, family, port, self.wrap(Call::Resolve, None, None, done))
            }
            Verdict::Pass(delay) => {
                self.inner
                    .resolve(node, family, port, self.wrap(Call::Resolve, None, delay, done))
            }
        }
    }

    fn cancel(&self, op: &P::OpRef) {
        self.inner.cancel(op);
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<P::TimerRef> {
        if self.allocation_fails_now() {
            return None;
        }
        self.inner.new_timer(callback)
    }

    fn arm_timer(&self, timer: &P::TimerRef, delay_ms: u64, cookie: u64) {
        self.inner.arm_timer(timer, delay_ms, cookie);
    }

    fn cancel_timer(&self, timer: &P::TimerRef) -> bool {
        self.inner.cancel_timer(timer)
    }

    fn allocation_fails(&self) -> bool {
        self.allocation_fails_now()
    }
}
