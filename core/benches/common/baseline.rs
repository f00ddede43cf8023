//! The baseline: the design of the most-used C WSK wrappers, modelled minimally.
//!
//! One global mutex over an ordered map (`BTreeMap`) from handle to socket entry, each entry with
//! an ordered map of its pending operations, and no per-socket reference count: the provider
//! socket (a pointer in C, an id here) is copied out under the lock and used after it is released
//! — which is why such wrappers race a close against a send; this model keeps the cost of that
//! design, not its bug. It decodes the same requests, calls the same provider, and completes the
//! same request type as the engine, so the two are timed doing the same work.
//!
//! Handles are `{index: n, generation: 1}`; the table lives for the process (`&'static`, as a C
//! global would), so no reference count on it is taken either.

use super::provider::Instant;
use super::request::BReq;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use wsksock_abi::msg::{
    CloseReply, CloseRequest, DataRequest, HandleReply, HandleRequest, Message, SocketRequest,
    StatisticsReply,
};
use wsksock_abi::{parse, Handle, NtStatus, Op};
use wsksock_core::{
    Completion, CompletionSink, DataSource, Family, OpOutput, OpValue, Owner, Provider, Request, SocketKind,
    SocketParams,
};

#[derive(Default)]
struct Entry {
    sock: u64,
    ops: BTreeMap<u64, Option<NonZeroU64>>,
    ops_started: u64,
    ops_completed: u64,
    bytes_sent: u64,
}

#[derive(Default)]
struct Table {
    next_handle: u32,
    next_op: u64,
    sockets: BTreeMap<u64, Entry>,
}

struct Inner {
    provider: Instant,
    table: Mutex<Table>,
}

/// The baseline device.
#[derive(Clone, Copy)]
pub struct Baseline(&'static Inner);

enum Sink {
    Create(BReq),
    Op { key: u64, op: u64, req: BReq },
    Close(BReq),
}

struct BSink(&'static Inner, Sink);

fn key(h: Handle) -> u64 {
    u64::from(h.index)
}

fn fail(req: BReq, status: NtStatus) {
    req.complete(status, &[], 0, None);
}

fn ok_reply<M: Message>(req: BReq, m: &M) {
    let b = m.as_bytes();
    req.complete(NtStatus::STATUS_SUCCESS, b, b.len(), None);
}

impl CompletionSink<Instant> for BSink {
    fn complete(self: Box<Self>, out: OpOutput<Instant>) {
        let BSink(inner, sink) = *self;
        match sink {
            Sink::Create(req) => {
                let OpValue::Socket(sock) = out.value else {
                    return fail(req, out.status);
                };
                let index = {
                    let mut t = inner.table.lock();
                    t.next_handle += 1;
                    let index = t.next_handle;
                    t.sockets.insert(
                        u64::from(index),
                        Entry {
                            sock,
                            ..Entry::default()
                        },
                    );
                    index
                };
                let mut r = HandleReply::new_zeroed_with_header();
                r.handle = Handle { index, generation: 1 };
                ok_reply(req, &r);
            }
            Sink::Op { key, op, req } => {
                {
                    let mut t = inner.table.lock();
                    if let Some(e) = t.sockets.get_mut(&key) {
                        e.ops.remove(&op);
                        e.ops_completed += 1;
                        e.bytes_sent += out.bytes as u64;
                    }
                }
                req.complete(out.status, &[], out.bytes, out.buffer);
            }
            Sink::Close(req) => {
                let r = CloseReply::new_zeroed_with_header();
                ok_reply(req, &r);
            }
        }
    }
}

impl Baseline {
    /// A baseline device over `provider` (leaked: it lives for the process, as a C global).
    pub fn new(provider: Instant) -> Self {
        Baseline(Box::leak(Box::new(Inner {
            provider,
            table: Mutex::new(Table::default()),
        })))
    }

    fn done(self, sink: Sink) -> Completion<Instant> {
        Completion::new(Box::new(BSink(self.0, sink)))
    }

    /// Routes one request (the subset the benchmarks use).
    pub fn dispatch(self, mut req: BReq) {
        let Some(op) = Op::from_code(req.code()) else {
            return fail(req, NtStatus::STATUS_INVALID_DEVICE_REQUEST);
        };
        match op {
            Op::Socket => match parse::decode::<SocketRequest>(req.input()) {
                Ok(_) => {
                    let params = SocketParams {
                        family: Family::V4,
                        kind: SocketKind::Stream,
                        owner: Owner::System,
                    };
                    self.0
                        .provider
                        .create_socket(params, self.done(Sink::Create(req)));
                }
                Err(e) => fail(req, e),
            },
            Op::Send | Op::Receive => {
                let m = match parse::decode::<DataRequest>(req.input()) {
                    Ok(m) if m.timeout_ms == 0 && m.buffer == 0 && m.length == 0 => m,
                    Ok(_) => return fail(req, NtStatus::STATUS_INVALID_PARAMETER),
                    Err(e) => return fail(req, e),
                };
                let receive = op == Op::Receive;
                let buf = match req.take_buffer(DataSource::Direct { offset: 0 }, receive) {
                    Ok(b) => b,
                    Err(e) => return fail(req, e),
                };
                let k = key(m.handle);
                let started = {
                    let mut t = self.0.table.lock();
                    t.next_op += 1;
                    let op_id = t.next_op;
                    t.sockets.get_mut(&k).map(|e| {
                        e.ops.insert(op_id, None);
                        e.ops_started += 1;
                        (e.sock, op_id)
                    })
                };
                let Some((sock, op_id)) = started else {
                    return fail(req, NtStatus::STATUS_INVALID_HANDLE);
                };
                let done = self.done(Sink::Op {
                    key: k,
                    op: op_id,
                    req,
                });
                let p = &self.0.provider;
                let opref = if receive {
                    p.receive(&sock, buf, m.flags, done)
                } else {
                    p.send(&sock, buf, m.flags, done)
                };
                if let Some(r) = opref {
                    let mut t = self.0.table.lock();
                    if let Some(slot) = t.sockets.get_mut(&k).and_then(|e| e.ops.get_mut(&op_id)) {
                        *slot = Some(r);
                    }
                }
            }
            Op::Statistics => {
                let m = match parse::decode::<HandleRequest>(req.input()) {
                    Ok(m) => m,
                    Err(e) => return fail(req, e),
                };
                let r = {
                    let t = self.0.table.lock();
                    t.sockets.get(&key(m.handle)).map(|e| {
                        let mut r = StatisticsReply::new_zeroed_with_header();
                        r.scope = 1;
                        r.handles = 1;
                        r.ops_started = e.ops_started;
                        r.ops_completed = e.ops_completed;
                        r.bytes_sent = e.bytes_sent;
                        r.ops_pending = e.ops.len() as u64;
                        r
                    })
                };
                match r {
                    Some(r) => ok_reply(req, &r),
                    None => fail(req, NtStatus::STATUS_INVALID_HANDLE),
                }
            }
            Op::Close => {
                let m = match parse::decode::<CloseRequest>(req.input()) {
                    Ok(m) => m,
                    Err(e) => return fail(req, e),
                };
                let Some(e) = self.0.table.lock().sockets.remove(&key(m.handle)) else {
                    return fail(req, NtStatus::STATUS_INVALID_HANDLE);
                };
                let p = &self.0.provider;
                for r in e.ops.values().flatten() {
                    p.cancel(r);
                }
                p.close(&e.sock, self.done(Sink::Close(req)));
            }
            _ => fail(req, NtStatus::STATUS_NOT_SUPPORTED),
        }
    }

    /// Open sockets.
    pub fn len(self) -> usize {
        self.0.table.lock().sockets.len()
    }
}
