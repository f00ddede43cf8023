//! Zero copy (`docs/PERFORMANCE.md`): on the data path the engine only *moves* the caller's buffer
//! descriptor (the driver's MDL): it never reads, writes or copies a payload byte.
//!
//! The engine is generic over `Provider::Buffer`, whose trait offers `len` and nothing else, so it
//! cannot touch the bytes; these tests pin that down end to end, for a 1 MiB payload:
//! - the buffer the provider receives is the caller's allocation (same address), and so is the
//!   one the request completes with — also when the operation is cancelled;
//! - the engine asks the descriptor its length a bounded number of times per operation (counted
//!   by the buffer type), never per byte;
//! - no allocation of payload size (>= 64 KiB) happens on the thread while the request runs
//!   (counted by a global allocator), so no copy was made behind the descriptor's back;
//! - sent bytes are unchanged, received bytes are the provider's, written in place.
//!
//! The counting allocator needs `unsafe` (a `GlobalAlloc` cannot be written without it); it only
//! forwards to the system allocator and bumps a thread-local counter.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/

use parking_lot::Mutex;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use wsksock_abi::msg::{
    CloseMode, CloseRequest, DataRequest, DatagramRequest, HandleReply, Message, SocketKind as AbiKind,
    SocketRequest, RECEIVE_FROM_DATA_OFFSET,
};
use wsksock_abi::{Handle, NtStatus, Op, SockAddr};
use wsksock_core::{
    AddrKind, Buffer, CancelArm, CancelToken, Completion, Config, DataSource, Engine, Family, OpOutput,
    OpValue, Provider, Request, RequestorMode, SockOpt, SocketParams, TimerCallback,
};
use zerocopy::FromBytes;

const PAYLOAD: usize = 1 << 20;
/// An allocation this large on the data path could hold a copy of the payload.
const BIG: usize = 64 << 10;

thread_local! {
    static BIG_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

struct CountBig;

// SAFETY:
// 1. every method forwards to `System` with the caller's arguments unchanged;
// 2. the bookkeeping is a const-initialised thread-local `Cell` without a destructor: it never
//    allocates, panics or re-enters the allocator.
unsafe impl GlobalAlloc for CountBig {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= BIG {
            BIG_ALLOCS.with(|c| c.set(c.get() + 1));
        }
        // SAFETY:
        // 1. the caller upholds `alloc`'s contract for `layout`, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY:
        // 1. `ptr` came from `System` (through `alloc`) for `layout` (caller contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= BIG {
            BIG_ALLOCS.with(|c| c.set(c.get() + 1));
        }
        // SAFETY:
        // 1. `ptr` came from `System` for `layout`, `new_size` is valid (caller contract).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountBig = CountBig;

fn big_allocs() -> u64 {
    BIG_ALLOCS.with(Cell::get)
}

/// The payload pattern the caller sends, and the one the provider "receives".
fn sent_byte(i: usize) -> u8 {
    u8::try_from(i % 251).expect("< 251")
}

fn received_byte(i: usize) -> u8 {
    u8::try_from((i * 7 + 3) % 253).expect("< 253")
}

/// What the test observes of one buffer.
#[derive(Default)]
struct Probe {
    /// `Buffer::len` calls (the only thing the engine can ask a buffer).
    len_calls: AtomicUsize,
}

/// A buffer descriptor over the caller's memory: `data[offset..]` (an MDL in the driver).
struct ZBuf {
    data: Box<[u8]>,
    offset: usize,
    probe: Arc<Probe>,
}

impl ZBuf {
    fn addr(&self) -> usize {
        self.data.as_ptr() as usize
    }
}

impl Buffer for ZBuf {
    fn len(&self) -> usize {
        self.probe.len_calls.fetch_add(1, Ordering::Relaxed);
        self.data.len() - self.offset
    }
}

/// What the provider saw: the address of each buffer handed to it, and a checksum of the bytes
/// it transmitted.
#[derive(Default)]
struct Seen {
    addrs: Vec<usize>,
    sent_ok: Vec<bool>,
}

/// A pending receive: its id, completion and buffer.
type Held = (NonZeroU64, Completion<ZProv>, ZBuf);

#[derive(Clone, Default)]
struct ZProv {
    seen: Arc<Mutex<Seen>>,
    /// Receives pend (until cancelled or closed) instead of completing inline.
    hold: Arc<std::sync::atomic::AtomicBool>,
    held: Arc<Mutex<Vec<Held>>>,
    next: Arc<AtomicU64>,
}

impl ZProv {
    fn transmit(&self, buf: ZBuf, done: Completion<Self>) {
        let ok = buf.data[buf.offset..]
            .iter()
            .enumerate()
            .all(|(i, b)| *b == sent_byte(i));
        {
            let mut s = self.seen.lock();
            s.addrs.push(buf.addr());
            s.sent_ok.push(ok);
        }
        let n = buf.data.len() - buf.offset;
        done.complete(OpOutput::data(NtStatus::STATUS_SUCCESS, n, Some(buf)));
    }

    fn fill(&self, mut buf: ZBuf, done: Completion<Self>) -> Option<NonZeroU64> {
        self.seen.lock().addrs.push(buf.addr());
        if self.hold.load(Ordering::Relaxed) {
            let id = NonZeroU64::new(self.next.fetch_add(1, Ordering::Relaxed) + 1).expect("non-zero");
            self.held.lock().push((id, done, buf));
            return Some(id);
        }
        let off = buf.offset;
        for (i, b) in buf.data[off..].iter_mut().enumerate() {
            *b = received_byte(i);
        }
        let n = buf.data.len() - off;
        done.complete(OpOutput::data(NtStatus::STATUS_SUCCESS, n, Some(buf)));
        None
    }

    fn cancel_held(&self, which: Option<NonZeroU64>) {
        let victims: Vec<_> = {
            let mut h = self.held.lock();
            let (take, keep) = h.drain(..).partition(|(id, _, _)| which.is_none_or(|w| w == *id));
            *h = keep;
            take
        };
        for (_, done, buf) in victims {
            done.complete(OpOutput::data(NtStatus::STATUS_CANCELLED, 0, Some(buf)));
        }
    }
}

fn ok(done: Completion<ZProv>) -> Option<NonZeroU64> {
    done.complete(OpOutput::status(NtStatus::STATUS_SUCCESS));
    None
}

impl Provider for ZProv {
    type Socket = u64;
    type Buffer = ZBuf;
    type OpRef = NonZeroU64;
    type TimerRef = ();
    type RawLock = parking_lot::RawMutex;

    fn new_raw_lock(&self) -> parking_lot::RawMutex {
        <parking_lot::RawMutex as lock_api::RawMutex>::INIT
    }
    fn create_socket(&self, _p: SocketParams, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::value(OpValue::Socket(1)));
        None
    }
    fn bind(&self, _s: &u64, _a: SocketAddr, done: Completion<Self>) -> Option<NonZeroU64> {
        ok(done)
    }
    fn listen(&self, _s: &u64, _b: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        ok(done)
    }
    fn accept(&self, _s: &u64, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::status(NtStatus::STATUS_NOT_SUPPORTED));
        None
    }
    fn connect(&self, _s: &u64, _r: SocketAddr, done: Completion<Self>) -> Option<NonZeroU64> {
        ok(done)
    }
    fn send(&self, _s: &u64, buf: ZBuf, _f: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        self.transmit(buf, done);
        None
    }
    fn receive(&self, _s: &u64, buf: ZBuf, _f: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        self.fill(buf, done)
    }
    fn send_to(&self, _s: &u64, buf: ZBuf, _r: SocketAddr, done: Completion<Self>) -> Option<NonZeroU64> {
        self.transmit(buf, done);
        None
    }
    fn receive_from(&self, _s: &u64, buf: ZBuf, done: Completion<Self>) -> Option<NonZeroU64> {
        self.fill(buf, done)
    }
    fn disconnect(&self, _s: &u64, _a: bool, done: Completion<Self>) -> Option<NonZeroU64> {
        ok(done)
    }
    fn close(&self, _s: &u64, done: Completion<Self>) -> Option<NonZeroU64> {
        self.cancel_held(None);
        ok(done)
    }
    fn set_option(&self, _s: &u64, _o: SockOpt, _v: u32, done: Completion<Self>) -> Option<NonZeroU64> {
        ok(done)
    }
    fn get_option(&self, _s: &u64, _o: SockOpt, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::value(OpValue::Value(0)));
        None
    }
    fn get_address(&self, _s: &u64, _w: AddrKind, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::status(NtStatus::STATUS_NOT_SUPPORTED));
        None
    }
    fn resolve(&self, _n: &str, _f: Option<Family>, _p: u16, done: Completion<Self>) -> Option<NonZeroU64> {
        done.complete(OpOutput::status(NtStatus::STATUS_NOT_FOUND));
        None
    }
    fn cancel(&self, op: &NonZeroU64) {
        self.cancel_held(Some(*op));
    }
    fn new_timer(&self, callback: TimerCallback) -> Option<()> {
        drop(callback);
        Some(())
    }
    fn arm_timer(&self, _t: &(), _ms: u64, _cookie: u64) {}
    fn cancel_timer(&self, _t: &()) -> bool {
        true
    }
}

/// How a request completed, with the buffer it gave back.
type Done = Arc<Mutex<Option<(NtStatus, Vec<u8>, usize, Option<ZBuf>)>>>;

struct ZReq {
    op: Op,
    input: Vec<u8>,
    data: Option<Box<[u8]>>,
    probe: Arc<Probe>,
    done: Done,
}

impl ZReq {
    fn new<M: Message>(op: Op, m: &M, data: Option<Box<[u8]>>) -> (Self, Done, Arc<Probe>) {
        let done = Done::default();
        let probe = Arc::new(Probe::default());
        let r = ZReq {
            op,
            input: m.as_bytes().to_vec(),
            data,
            probe: probe.clone(),
            done: done.clone(),
        };
        (r, done, probe)
    }
}

impl Request<ZProv> for ZReq {
    fn code(&self) -> u32 {
        self.op.code()
    }
    fn requestor(&self) -> RequestorMode {
        RequestorMode::Kernel
    }
    fn process(&self) -> u64 {
        0
    }
    fn input(&self) -> &[u8] {
        &self.input
    }
    fn output_len(&self) -> usize {
        self.data.as_ref().map_or(64, |d| d.len())
    }
    /// Describes the caller's memory without copying it (as the driver builds an MDL).
    fn take_buffer(&mut self, source: DataSource, _write: bool) -> Result<ZBuf, NtStatus> {
        let DataSource::Direct { offset } = source else {
            return Err(NtStatus::STATUS_INVALID_PARAMETER);
        };
        let data = self.data.take().ok_or(NtStatus::STATUS_INVALID_BUFFER_SIZE)?;
        Ok(ZBuf {
            data,
            offset,
            probe: self.probe.clone(),
        })
    }
    fn set_cancel(&mut self, token: CancelToken) -> CancelArm {
        drop(token);
        CancelArm::Armed
    }
    fn complete(self, status: NtStatus, reply: &[u8], information: usize, buffer: Option<ZBuf>) {
        *self.done.lock() = Some((status, reply.to_vec(), information, buffer));
    }
}

type ZEngine = Engine<ZProv, ZReq>;

/// Fixture: an engine over the zero-copy provider, a client, a socket of that client.
struct Fixture {
    engine: ZEngine,
    provider: ZProv,
    client: wsksock_core::ClientRef<ZProv, ZReq>,
    handle: Handle,
}

fn setup(kind: AbiKind) -> Fixture {
    let provider = ZProv::default();
    let engine = Engine::new(provider.clone(), Config::default()).expect("memory for the engine");
    let client = engine.open_client().expect("client");
    let mut m = SocketRequest::new_zeroed_with_header();
    m.family = wsksock_abi::addr::AF_INET;
    m.kind = kind as u16;
    let (r, done, _) = ZReq::new(Op::Socket, &m, None);
    engine.dispatch(&client, r);
    let (st, reply, _, _) = done.lock().take().expect("SOCKET completes inline");
    assert_eq!(st, NtStatus::STATUS_SUCCESS);
    let handle = HandleReply::read_from_prefix(&reply).expect("reply").0.handle;
    Fixture {
        engine,
        provider,
        client,
        handle,
    }
}

fn payload(f: fn(usize) -> u8) -> Box<[u8]> {
    (0..PAYLOAD).map(f).collect()
}

/// Dispatches `r`, returning its completion and the number of payload-sized allocations made on
/// this thread meanwhile.
fn run(f: &Fixture, r: ZReq, done: &Done) -> (u64, Option<(NtStatus, usize, ZBuf)>) {
    let before = big_allocs();
    f.engine.dispatch(&f.client, r);
    let big = big_allocs() - before;
    let out = done
        .lock()
        .take()
        .map(|(st, _, info, buf)| (st, info, buf.expect("the buffer comes back")));
    (big, out)
}

fn data_req(op: Op, h: Handle, data: Box<[u8]>) -> (ZReq, Done, Arc<Probe>) {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    ZReq::new(op, &m, Some(data))
}

/// `len` calls per operation: dispatch refuses an empty buffer (one call). A constant, never a
/// walk over the bytes.
const MAX_LEN_CALLS: usize = 1;

#[test]
fn send_hands_the_callers_buffer_to_the_provider_and_back_untouched() {
    let f = setup(AbiKind::Stream);
    let data = payload(sent_byte);
    let addr = data.as_ptr() as usize;
    let (r, done, probe) = data_req(Op::Send, f.handle, data);
    let (big, out) = run(&f, r, &done);
    let (st, info, buf) = out.expect("the send completes inline");
    assert_eq!(st, NtStatus::STATUS_SUCCESS);
    assert_eq!(info, PAYLOAD);
    assert_eq!(
        f.provider.seen.lock().addrs,
        vec![addr],
        "the provider got the caller's memory"
    );
    assert_eq!(
        f.provider.seen.lock().sent_ok,
        vec![true],
        "and transmitted the caller's bytes"
    );
    assert_eq!(buf.addr(), addr, "the request completes with the same memory");
    assert!(
        buf.data.iter().enumerate().all(|(i, b)| *b == sent_byte(i)),
        "unchanged"
    );
    assert_eq!(big, 0, "no payload-sized allocation on the data path");
    let calls = probe.len_calls.load(Ordering::Relaxed);
    assert!(calls <= MAX_LEN_CALLS, "len() called {calls} times");
}

#[test]
fn receive_is_filled_in_place_by_the_provider() {
    let f = setup(AbiKind::Stream);
    let data = vec![0u8; PAYLOAD].into_boxed_slice();
    let addr = data.as_ptr() as usize;
    let (r, done, probe) = data_req(Op::Receive, f.handle, data);
    let (big, out) = run(&f, r, &done);
    let (st, info, buf) = out.expect("the receive completes inline");
    assert_eq!(st, NtStatus::STATUS_SUCCESS);
    assert_eq!(info, PAYLOAD);
    assert_eq!(f.provider.seen.lock().addrs, vec![addr]);
    assert_eq!(buf.addr(), addr);
    assert!(
        buf.data.iter().enumerate().all(|(i, b)| *b == received_byte(i)),
        "the provider's bytes, in place"
    );
    assert_eq!(big, 0);
    assert!(probe.len_calls.load(Ordering::Relaxed) <= MAX_LEN_CALLS);
}

#[test]
fn datagrams_move_the_window_not_the_bytes() {
    let f = setup(AbiKind::Datagram);
    // SEND_TO: the whole output buffer is the payload.
    let mut m = DatagramRequest::new_zeroed_with_header();
    m.handle = f.handle;
    m.addr = SockAddr::from("127.0.0.1:9".parse::<SocketAddr>().expect("addr"));
    let data = payload(sent_byte);
    let addr = data.as_ptr() as usize;
    let (r, done, _) = ZReq::new(Op::SendTo, &m, Some(data));
    let (big, out) = run(&f, r, &done);
    let (st, _, buf) = out.expect("inline");
    assert_eq!((st, buf.addr(), big), (NtStatus::STATUS_SUCCESS, addr, 0));
    assert_eq!(f.provider.seen.lock().sent_ok, vec![true]);
    // RECEIVE_FROM: the payload starts after the reply header, in the same buffer.
    let mut m = DatagramRequest::new_zeroed_with_header();
    m.handle = f.handle;
    let data = vec![0u8; RECEIVE_FROM_DATA_OFFSET + PAYLOAD].into_boxed_slice();
    let addr = data.as_ptr() as usize;
    let (r, done, _) = ZReq::new(Op::ReceiveFrom, &m, Some(data));
    let (big, out) = run(&f, r, &done);
    let (st, info, buf) = out.expect("inline");
    assert_eq!((st, buf.addr(), big), (NtStatus::STATUS_SUCCESS, addr, 0));
    assert_eq!(buf.offset, RECEIVE_FROM_DATA_OFFSET);
    assert_eq!(info, RECEIVE_FROM_DATA_OFFSET + PAYLOAD);
    let body = &buf.data[RECEIVE_FROM_DATA_OFFSET..];
    assert!(body.iter().enumerate().all(|(i, b)| *b == received_byte(i)));
}

#[test]
fn a_cancelled_receive_gives_the_same_buffer_back() {
    let f = setup(AbiKind::Stream);
    f.provider.hold.store(true, Ordering::Relaxed);
    let data = vec![0u8; PAYLOAD].into_boxed_slice();
    let addr = data.as_ptr() as usize;
    let (r, done, _) = data_req(Op::Receive, f.handle, data);
    let (big, out) = run(&f, r, &done);
    assert!(out.is_none(), "the receive pends");
    assert_eq!(big, 0);
    let mut m = CloseRequest::new_zeroed_with_header();
    m.handle = f.handle;
    m.mode = CloseMode::Abortive as u32;
    let (close, close_done, _) = ZReq::new(Op::Close, &m, None);
    f.engine.dispatch(&f.client, close);
    assert_eq!(
        close_done.lock().take().expect("CLOSE completes").0,
        NtStatus::STATUS_SUCCESS
    );
    let (st, _, _, buf) = done.lock().take().expect("the receive completed");
    assert_eq!(st, NtStatus::STATUS_CANCELLED);
    assert_eq!(buf.expect("buffer back").addr(), addr);
    assert!(f.provider.held.lock().is_empty());
}
