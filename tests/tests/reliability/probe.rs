//! [`Probe`]: a pass-through provider, outermost (the engine calls it), that keeps the figures
//! the reliability suites check and that no other layer exposes:
//!
//! - **timers**: started, fired, cancelled — at the end none may be outstanding;
//! - **calls** per kind (the figures of `docs/RELIABILITY.md`);
//! - **connection tags**: a stress stream's first send is an 8-byte tag (`MAGIC` + connection
//!   number); the probe maps that number to the fault injector's socket id, so the stress can tell
//!   which connections met an injected fault (their wire outcome is not judged strictly).
//!
//! Every completion is relayed unchanged; nothing here takes a lock while calling on.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wsksock_core::{
    AddrKind, Completion, CompletionSink, Family, OpOutput, Provider, SockOpt, SocketParams, TimerCallback,
};
use wsksock_emu::{EmuBuffer, FaultSocket, VerifiedSocket};

/// First four bytes of a stress stream's tag.
pub const MAGIC: [u8; 4] = *b"WSKS";

/// A socket type that knows the fault injector's id of its socket.
pub trait FaultId {
    /// The [`wsksock_emu::FaultInjector`]'s id, if the stack has one.
    fn fault_id(&self) -> Option<u64>;
}

impl<S> FaultId for VerifiedSocket<FaultSocket<S>> {
    fn fault_id(&self) -> Option<u64> {
        Some(self.inner().id())
    }
}

impl<S> FaultId for FaultSocket<S> {
    fn fault_id(&self) -> Option<u64> {
        Some(self.id())
    }
}

/// A provider the probe can wrap: emulator buffers, sockets that know their injector id.
pub trait Probed: Provider<Buffer = EmuBuffer, Socket: FaultId> {}

impl<P: Provider<Buffer = EmuBuffer, Socket: FaultId>> Probed for P {}

/// What the probe saw (shared with the test).
#[derive(Default)]
pub struct ProbeStats {
    /// Timers started.
    pub timers_started: AtomicU64,
    /// Timer callbacks that ran.
    pub timers_fired: AtomicU64,
    /// Timers cancelled before running (`cancel_timer` returned true).
    pub timers_cancelled: AtomicU64,
    /// Provider calls (all kinds, cancels included).
    pub calls: AtomicU64,
    /// Connection number (from a tag) → fault injector socket id.
    pub tags: Mutex<HashMap<u32, u64>>,
}

impl ProbeStats {
    /// Timers neither fired nor cancelled.
    pub fn timers_outstanding(&self) -> u64 {
        let started = self.timers_started.load(Ordering::SeqCst);
        let ended = self.timers_fired.load(Ordering::SeqCst) + self.timers_cancelled.load(Ordering::SeqCst);
        started.saturating_sub(ended)
    }
}

/// The pass-through provider.
pub struct Probe<P: Probed> {
    inner: P,
    stats: Arc<ProbeStats>,
}

impl<P: Probed> Probe<P> {
    /// Wraps `inner`.
    pub fn new(inner: P) -> Self {
        Probe {
            inner,
            stats: Arc::new(ProbeStats::default()),
        }
    }

    /// The figures.
    pub fn stats(&self) -> Arc<ProbeStats> {
        Arc::clone(&self.stats)
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn relay(&self, done: Completion<Self>) -> Completion<P> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        Completion::new(Box::new(Relay { outer: done }))
    }
}

/// Relays a completion of the inner provider to the engine's.
struct Relay<P: Probed> {
    outer: Completion<Probe<P>>,
}

impl<P: Probed> CompletionSink<P> for Relay<P> {
    fn complete(self: Box<Self>, out: OpOutput<P>) {
        self.outer.complete(out.map_socket(|s, _| s));
    }
}

impl<P: Probed> Provider for Probe<P> {
    type Socket = P::Socket;
    type Buffer = EmuBuffer;
    type OpRef = P::OpRef;
    type TimerRef = P::TimerRef;
    type RawLock = P::RawLock;

    fn new_raw_lock(&self) -> Self::RawLock {
        self.inner.new_raw_lock()
    }

    fn create_socket(&self, params: SocketParams, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.create_socket(params, self.relay(done))
    }

    fn bind(&self, s: &P::Socket, local: SocketAddr, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.bind(s, local, self.relay(done))
    }

    fn listen(&self, s: &P::Socket, backlog: u32, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.listen(s, backlog, self.relay(done))
    }

    fn accept(&self, s: &P::Socket, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.accept(s, self.relay(done))
    }

    fn connect(&self, s: &P::Socket, remote: SocketAddr, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.connect(s, remote, self.relay(done))
    }

    fn send(&self, s: &P::Socket, buf: EmuBuffer, flags: u32, done: Completion<Self>) -> Option<P::OpRef> {
        let data = buf.as_slice();
        if data.len() == 8 && data[..4] == MAGIC {
            if let Some(id) = s.fault_id() {
                let conn = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
                self.stats.tags.lock().insert(conn, id);
            }
        }
        self.inner.send(s, buf, flags, self.relay(done))
    }

    fn receive(&self, s: &P::Socket, buf: EmuBuffer, flags: u32, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.receive(s, buf, flags, self.relay(done))
    }

    fn send_to(
        &self,
        s: &P::Socket,
        buf: EmuBuffer,
        remote: SocketAddr,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        self.inner.send_to(s, buf, remote, self.relay(done))
    }

    fn receive_from(&self, s: &P::Socket, buf: EmuBuffer, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.receive_from(s, buf, self.relay(done))
    }

    fn disconnect(&self, s: &P::Socket, abortive: bool, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.disconnect(s, abortive, self.relay(done))
    }

    fn close(&self, s: &P::Socket, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.close(s, self.relay(done))
    }

    fn set_option(
        &self,
        s: &P::Socket,
        opt: SockOpt,
        value: u32,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        self.inner.set_option(s, opt, value, self.relay(done))
    }

    fn get_option(&self, s: &P::Socket, opt: SockOpt, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.get_option(s, opt, self.relay(done))
    }

    fn get_address(&self, s: &P::Socket, which: AddrKind, done: Completion<Self>) -> Option<P::OpRef> {
        self.inner.get_address(s, which, self.relay(done))
    }

    fn resolve(
        &self,
        node: &str,
        family: Option<Family>,
        port: u16,
        done: Completion<Self>,
    ) -> Option<P::OpRef> {
        self.inner.resolve(node, family, port, self.relay(done))
    }

    fn cancel(&self, op: &P::OpRef) {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.cancel(op);
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<P::TimerRef> {
        let stats = Arc::clone(&self.stats);
        self.inner.new_timer(Box::new(move |cookie| {
            stats.timers_fired.fetch_add(1, Ordering::SeqCst);
            callback(cookie);
        }))
    }

    fn arm_timer(&self, timer: &P::TimerRef, delay_ms: u64, cookie: u64) {
        // An arming is a timer started: it ends fired or cancelled.
        self.stats.timers_started.fetch_add(1, Ordering::SeqCst);
        self.inner.arm_timer(timer, delay_ms, cookie);
    }

    fn allocation_fails(&self) -> bool {
        self.inner.allocation_fails()
    }

    fn cancel_timer(&self, timer: &P::TimerRef) -> bool {
        let cancelled = self.inner.cancel_timer(timer);
        if cancelled {
            self.stats.timers_cancelled.fetch_add(1, Ordering::SeqCst);
        }
        cancelled
    }
}
