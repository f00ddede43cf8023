//! The instant provider: sends (and every non-data call) complete inline, before the call
//! returns; receives pend until they are cancelled or their socket is closed.
//!
//! It stands for a WSK that is never the bottleneck, so what the benchmarks time is the engine.
//! Its socket is a plain id (a `PWSK_SOCKET` in the driver: 8 bytes, no refcount) and its
//! operation reference a non-zero id (an IRP pointer or `Arc` in the driver: 8 bytes with a
//! niche). Sends touch nothing shared; receives, cancels and closes take the provider's one mutex
//! (they are only used by the close and memory benchmarks, equally by the engine and the
//! baseline). Allocations the provider makes for itself are excluded from the memory measurement
//! ([`super::alloc::excluded`]).

use super::alloc::excluded;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wsksock_abi::NtStatus;
use wsksock_core::{
    AddrKind, Buffer, Completion, Family, OpOutput, OpValue, Provider, SockOpt, SocketParams, TimerCallback,
};

/// A data buffer descriptor (an MDL in the driver): the engine moves it, nobody reads the bytes.
#[derive(Debug)]
pub struct BBuf {
    /// Bytes described.
    pub len: usize,
}

impl Buffer for BBuf {
    fn len(&self) -> usize {
        self.len
    }
}

type Held = (Completion<Instant>, BBuf);

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    /// Pending receives: indexed by socket id, then by the operation's slot on its socket (an
    /// operation id is `socket << 32 | slot`). Plain vectors: the provider's share of the close
    /// benchmark stays small next to the engine's.
    pending: Mutex<Vec<Vec<Option<Held>>>>,
}

/// The instant provider (cheap to clone).
#[derive(Clone, Default)]
pub struct Instant(Arc<Inner>);

impl Instant {
    /// A new provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Receives pending now (all sockets).
    pub fn pending(&self) -> usize {
        self.0
            .pending
            .lock()
            .iter()
            .flatten()
            .filter(|h| h.is_some())
            .count()
    }
}

fn ok() -> OpOutput<Instant> {
    OpOutput::status(NtStatus::STATUS_SUCCESS)
}

fn cancelled(buf: BBuf) -> OpOutput<Instant> {
    OpOutput::data(NtStatus::STATUS_CANCELLED, 0, Some(buf))
}

impl Provider for Instant {
    type Socket = u64;
    type Buffer = BBuf;
    type OpRef = NonZeroU64;
    type TimerRef = ();
    type RawLock = parking_lot::RawMutex;

    fn new_raw_lock(&self) -> parking_lot::RawMutex {
        <parking_lot::RawMutex as lock_api::RawMutex>::INIT
    }

    fn create_socket(&self, _p: SocketParams, done: Completion<Self>) -> Option<NonZeroU64> {
        // Socket ids live in the high half of operation ids.
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        done.complete(OpOutput::value(OpValue::Socket(id)));
        None
    }

    fn bind(&self, _s: &u64, _a: SocketAddr, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(ok());
        None
    }

    fn listen(&self, _s: &u64, _b: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(ok());
        None
    }

    fn accept(&self, _s: &u64, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::status(NtStatus::STATUS_NOT_SUPPORTED));
        None
    }

    fn connect(&self, _s: &u64, _r: SocketAddr, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(ok());
        None
    }

    fn send(&self, _s: &u64, buf: BBuf, _f: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        let n = buf.len;
        done.complete(OpOutput::data(NtStatus::STATUS_SUCCESS, n, Some(buf)));
        None
    }

    fn receive(&self, s: &u64, buf: BBuf, _f: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        let sock = usize::try_from(*s).expect("socket id");
        let slot = excluded(|| {
            let mut p = self.0.pending.lock();
            if p.len() <= sock {
                p.resize_with(sock + 1, Vec::new);
            }
            p[sock].push(Some((done, buf)));
            p[sock].len() - 1
        });
        // Socket ids are >= 1, so the id is never 0 (an IRP pointer in the driver: never null).
        NonZeroU64::new((s << 32) | slot as u64)
    }

    fn send_to(&self, s: &u64, buf: BBuf, _r: SocketAddr, done: Completion<Self>) -> Option<NonZeroU64> {
        self.send(s, buf, 0, done)
    }

    fn receive_from(&self, s: &u64, buf: BBuf, done: Completion<Self>) -> Option<NonZeroU64> {
        self.receive(s, buf, 0, done)
    }

    fn disconnect(&self, _s: &u64, _abortive: bool, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(ok());
        None
    }

    fn close(&self, s: &u64, done: Completion<Self>) -> Option<NonZeroU64> {
        let victims = {
            let mut p = self.0.pending.lock();
            usize::try_from(*s)
                .ok()
                .and_then(|i| p.get_mut(i))
                .map(std::mem::take)
        };
        for (c, buf) in victims.into_iter().flatten().flatten() {
            c.complete(cancelled(buf));
        }
        done.complete(ok());
        None
    }

    fn set_option(&self, _s: &u64, _o: SockOpt, _v: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(ok());
        None
    }

    fn get_option(&self, _s: &u64, _o: SockOpt, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::value(OpValue::Value(0)));
        None
    }

    fn get_address(&self, _s: &u64, _w: AddrKind, done: Completion<Self>) -> Option<NonZeroU64> {
        let a: SocketAddr = ([127, 0, 0, 1], 1).into();
        done.complete(OpOutput::value(OpValue::Address(a)));
        None
    }

    fn resolve(&self, _n: &str, _f: Option<Family>, _p: u16, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::status(NtStatus::STATUS_NOT_FOUND));
        None
    }

    fn cancel(&self, op: &NonZeroU64) {
        let (sock, slot) = (op.get() >> 32, op.get() & 0xFFFF_FFFF);
        let held = {
            let mut p = self.0.pending.lock();
            let (Ok(sock), Ok(slot)) = (usize::try_from(sock), usize::try_from(slot)) else {
                return;
            };
            p.get_mut(sock)
                .and_then(|v| v.get_mut(slot))
                .and_then(Option::take)
        };
        // Like a WSK cancel routine: the IRP completes inside IoCancelIrp.
        if let Some((c, buf)) = held {
            c.complete(cancelled(buf));
        }
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<()> {
        // The benchmarks never linger: a timer is made but never runs.
        drop(callback);
        Some(())
    }

    fn arm_timer(&self, _t: &(), _delay_ms: u64, _cookie: u64) {}

    fn cancel_timer(&self, _t: &()) -> bool {
        true
    }
}
