//! Every allocation of a workload failed in turn (`docs/ENGINE.md`, "Memory"): for N = 1, 2, ...
//! the engine's Nth allocation fails (the scripted provider answers its allocation hook, as the
//! driver's pool would fail a `try_new`; the test request's cancel state — what the driver's
//! `set_cancel`/`reserve_cancel` allocate — counts among them), until a run makes fewer than N
//! allocations. Each run
//! checks that the failure reached the request that needed the memory (it completed with
//! STATUS_INSUFFICIENT_RESOURCES, or the client could not be opened), that every request
//! completed exactly once, that unload reports idle once with every provider socket closed and
//! freed, and that the provider saw no contract violation. The workload: SOCKET (stream, listen),
//! BIND, CONNECT, LISTEN, ACCEPT completing with a connection, SEND with a deadline, RECEIVE, a
//! cancelled RECEIVE, SET_OPTION (SO_LINGER, SO_RCVTIMEO), DUPLICATE, CLOSE of every mode with
//! and without the wait flag, RESOLVE with a deadline, a client's cleanup with requests pending,
//! unload.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/
#![allow(clippy::many_single_char_names)] // e(ngine), p(rovider), a/b (clients), h/l/c/s (handles)

mod support;

use support::treq::Slot;
use support::*;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{
    CloseMode, DataRequest, ListenRequest, Message, OptionRequest, ResolveRequest, SocketKind, SocketOption,
};
use wsksock_abi::{Handle, NtStatus, Op};
use wsksock_core::Config;

/// What one run of the workload did.
struct Run {
    slots: Vec<Slot>,
    /// A client could not be opened.
    open_failed: bool,
    /// Allocations the engine made.
    allocations: u64,
    provider: Scripted,
}

fn timeout_req(h: Handle, ms: u32) -> TReq {
    let mut m = OptionRequest::new_zeroed_with_header();
    m.handle = h;
    m.option = SocketOption::ReceiveTimeout as u32;
    m.value = ms;
    TReq::new(Op::SetOption, bytes(&m))
}

fn send_within(h: Handle, data: &[u8], ms: u32) -> TReq {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    m.timeout_ms = ms;
    TReq::new(Op::Send, bytes(&m)).with_data(data.to_vec())
}

fn resolve_within(ms: u32) -> TReq {
    let mut m = ResolveRequest::new_zeroed_with_header();
    m.family = AF_INET;
    m.node[..9].copy_from_slice(b"localhost");
    m.port = 80;
    m.timeout_ms = ms;
    TReq::new(Op::Resolve, bytes(&m))
}

/// The workload, with the engine's `fail`th allocation failing (0: none).
fn workload(fail: u64) -> Run {
    let (e, p) = engine_with(Config {
        unload_linger_ms: 100,
        cleanup_linger_ms: 100,
        ..Config::default()
    });
    p.set_auto(CallKind::Resolve, false);
    p.fail_allocation(fail);
    let mut slots = Vec::new();
    let mut open_failed = false;
    let mut go_keep = |c: &TClient, r: TReq| {
        let s = go(&e, c, r.counting_memory(&p));
        slots.push(s.clone());
        s
    };
    let Ok(a) = e.open_client() else {
        return finish(&e, p, slots, true);
    };
    // A connected stream socket of client A.
    let h = go_keep(&a, socket_req(AF_INET, SocketKind::Stream));
    let h = h.outcome().map_or(Handle::NULL, |o| {
        if o.status.is_success() {
            reply_of::<wsksock_abi::msg::HandleReply>(&o).handle
        } else {
            Handle::NULL
        }
    });
    go_keep(&a, addr_req(Op::Bind, h, "127.0.0.1:0"));
    p.complete_all(CallKind::Bind);
    go_keep(&a, addr_req(Op::Connect, h, "127.0.0.1:9"));
    p.complete_all(CallKind::Connect);
    go_keep(&a, linger_req(h, true, 2));
    go_keep(&a, timeout_req(h, 700));
    let send = go_keep(&a, send_within(h, b"data", 500));
    let recv = go_keep(&a, recv_req(h, 16));
    let cancelled = go_keep(&a, recv_req(h, 16));
    cancelled.cancel();
    let dup = go_keep(&a, dup_req(h, 0));
    let dup = dup
        .outcome()
        .filter(|o| o.status.is_success())
        .map_or(Handle::NULL, |o| {
            reply_of::<wsksock_abi::msg::HandleReply>(&o).handle
        });
    go_keep(&a, close_req(dup, CloseMode::Abortive, 0, true));
    p.complete_all(CallKind::Send);
    p.complete_all(CallKind::Receive);
    let _ = (send, recv);
    // A listening socket with a connection accepted, then closed gracefully with the wait flag.
    let l = go_keep(&a, socket_req(AF_INET, SocketKind::Listen));
    let l = l
        .outcome()
        .filter(|o| o.status.is_success())
        .map_or(Handle::NULL, |o| {
            reply_of::<wsksock_abi::msg::HandleReply>(&o).handle
        });
    go_keep(&a, addr_req(Op::Bind, l, "127.0.0.1:0"));
    p.complete_all(CallKind::Bind);
    let mut m = ListenRequest::new_zeroed_with_header();
    m.handle = l;
    m.backlog = 4;
    go_keep(&a, TReq::new(Op::Listen, bytes(&m)));
    p.complete_all(CallKind::Listen);
    let accept = go_keep(&a, handle_req(Op::Accept, l));
    p.complete_all(CallKind::Accept);
    let c = accept
        .outcome()
        .filter(|o| o.status.is_success())
        .map_or(Handle::NULL, |o| {
            reply_of::<wsksock_abi::msg::AcceptReply>(&o).handle
        });
    go_keep(&a, send_req(c, b"to the peer"));
    go_keep(&a, close_req(c, CloseMode::Graceful, 0, true));
    p.complete_all(CallKind::Send);
    p.complete_all(CallKind::Disconnect { abortive: false });
    go_keep(&a, close_req(l, CloseMode::Linger, 1, false));
    go_keep(&a, resolve_within(300));
    p.complete_all(CallKind::Resolve);
    // Client B: a socket with a receive pending when its client goes away.
    match e.open_client() {
        Ok(b) => {
            let s = go_keep(&b, socket_req(AF_INET, SocketKind::Stream));
            let s = s
                .outcome()
                .filter(|o| o.status.is_success())
                .map_or(Handle::NULL, |o| {
                    reply_of::<wsksock_abi::msg::HandleReply>(&o).handle
                });
            go_keep(&b, addr_req(Op::Bind, s, "127.0.0.1:0"));
            p.complete_all(CallKind::Bind);
            go_keep(&b, addr_req(Op::Connect, s, "127.0.0.1:9"));
            p.complete_all(CallKind::Connect);
            go_keep(&b, recv_req(s, 8));
            go_keep(&b, resolve_within(0));
            e.cleanup_client(&b);
        }
        Err(st) => {
            assert_eq!(st, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
            open_failed = true;
        }
    }
    // Client A goes away with its first socket open and lingering: unload bounds it.
    finish(&e, p, slots, open_failed)
}

fn finish(e: &TEngine, p: Scripted, slots: Vec<Slot>, open_failed: bool) -> Run {
    let allocations = p.allocations();
    unload_clean(e, &p);
    Run {
        slots,
        open_failed,
        allocations,
        provider: p,
    }
}

#[test]
fn every_allocation_of_the_workload_can_fail_and_nothing_is_lost() {
    let clean = workload(0);
    assert!(!clean.open_failed);
    assert!(
        clean.slots.iter().all(|s| s.completions() == 1),
        "clean run: every request completes once"
    );
    assert!(
        clean
            .slots
            .iter()
            .all(|s| s.status() != NtStatus::STATUS_INSUFFICIENT_RESOURCES),
        "the clean run has no allocation failure"
    );
    let total = clean.allocations;
    assert!(total > 20, "the workload allocates ({total})");
    let mut failed_requests = 0;
    for n in 1..=total {
        let run = workload(n);
        assert!(run.allocations >= n, "run {n}: allocation {n} was reached");
        for (i, s) in run.slots.iter().enumerate() {
            assert_eq!(s.completions(), 1, "run {n}: request {i} completed once");
        }
        let refused = run
            .slots
            .iter()
            .filter(|s| s.status() == NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            .count();
        assert!(
            refused >= 1 || run.open_failed,
            "run {n}: the failed allocation reached a request"
        );
        failed_requests += refused;
        // Every socket the provider made was closed and freed.
        assert_eq!(
            run.provider.freed().len(),
            usize::try_from(run.provider.created()).unwrap(),
            "run {n}: every provider socket freed"
        );
        assert_eq!(run.provider.open_sockets(), 0, "run {n}: every socket closed");
    }
    eprintln!(
        "{total} allocations, each failed in its own run: {failed_requests} requests refused \
         with STATUS_INSUFFICIENT_RESOURCES"
    );
}
