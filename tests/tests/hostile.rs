//! Hostile clients, end to end through the host device over the checked stack: every refusal
//! has its own status, the engine keeps serving the others, and every test ends with the full
//! audit of `reliability/rig.rs` (nothing left, every request completed exactly once).
//!
//! - a client cannot name another client's socket (every handle-taking operation, and a sweep
//!   of guessed handles);
//! - a stale generation is refused, also after the slot was reused;
//! - METHOD_NEITHER codes from user mode are refused with STATUS_ACCESS_DENIED;
//! - overflowing lengths, oversized counts, unknown versions and codes get their status;
//! - a flood of requests on one socket, or from one client, is bounded by the configured limits
//!   and answered with STATUS_INSUFFICIENT_RESOURCES at once;
//! - a client that disappears mid-operation leaves nothing behind;
//! - no client can put a handle into another client's table without that client's consent
//!   (guessed client ids, every ABI version), and consent is counted, withdrawable, bounded.

#![allow(clippy::many_single_char_names)] // a, b: clients; h, u: handles; r: requests

mod reliability;

use reliability::peers::{End, Sink};
use reliability::rig::{test_config, CheckedRig};
use reliability::PATIENCE;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{
    self, AddressedRequest, CloseRequest, DataRequest, DatagramRequest, DuplicateRequest, GetAddressRequest,
    HandleRequest, ListenRequest, Message, OptionRequest, ResolveRequest, ShutdownRequest, SocketKind,
    SocketRequest, ABI_VERSION,
};
use wsksock_abi::{Handle, NtStatus, Op, SockAddr};
use wsksock_core::Config;
use wsksock_emu::{CompletionMode, FaultPlan};
use wsksock_tools::channel::{Channel, Output};
use wsksock_tools::{pattern, Client, CloseMode};
use zerocopy::IntoBytes;

fn status(c: &Client, op: Op, input: Vec<u8>, output: Output) -> NtStatus {
    c.submit(op, input, output)
        .wait_timeout(PATIENCE)
        .map_or(NtStatus::STATUS_TIMEOUT, |d| d.status)
}

fn raw_status(c: &dyn Channel, code: u32, input: Vec<u8>, output: Output) -> NtStatus {
    c.submit(code, input, output)
        .wait_timeout(PATIENCE)
        .map_or(NtStatus::STATUS_TIMEOUT, |d| d.status)
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A well-formed request of every operation naming `h`, with an output buffer that fits.
fn requests_naming(h: Handle, remote: SocketAddr) -> Vec<(Op, Vec<u8>, Output)> {
    fn m<M: Message>(f: impl FnOnce(&mut M)) -> Vec<u8> {
        let mut x = M::new_zeroed_with_header();
        f(&mut x);
        x.as_bytes().to_vec()
    }
    let addr = SockAddr::from(remote);
    vec![
        (
            Op::Bind,
            m::<AddressedRequest>(|r| {
                r.handle = h;
                r.addr = SockAddr::from(local());
            }),
            Output::Reply(0),
        ),
        (
            Op::Connect,
            m::<AddressedRequest>(|r| {
                r.handle = h;
                r.addr = addr;
            }),
            Output::Reply(0),
        ),
        (Op::Listen, m::<ListenRequest>(|r| r.handle = h), Output::Reply(0)),
        (
            Op::Accept,
            m::<msg::AcceptRequest>(|r| r.handle = h),
            Output::Reply(128),
        ),
        (
            Op::Send,
            m::<DataRequest>(|r| r.handle = h),
            Output::Data(vec![1; 10]),
        ),
        (
            Op::Receive,
            m::<DataRequest>(|r| r.handle = h),
            Output::Data(vec![0; 10]),
        ),
        (
            Op::SendTo,
            m::<DatagramRequest>(|r| {
                r.handle = h;
                r.addr = addr;
            }),
            Output::Data(vec![1; 10]),
        ),
        (
            Op::ReceiveFrom,
            m::<DatagramRequest>(|r| r.handle = h),
            Output::Data(vec![0; 128]),
        ),
        (
            Op::Shutdown,
            m::<ShutdownRequest>(|r| {
                r.handle = h;
                r.how = 1;
            }),
            Output::Reply(0),
        ),
        (
            Op::SetOption,
            m::<OptionRequest>(|r| {
                r.handle = h;
                r.option = 2;
                r.value = 1;
            }),
            Output::Reply(0),
        ),
        (
            Op::GetOption,
            m::<OptionRequest>(|r| {
                r.handle = h;
                r.option = 2;
            }),
            Output::Reply(64),
        ),
        (
            Op::GetAddress,
            m::<GetAddressRequest>(|r| r.handle = h),
            Output::Reply(64),
        ),
        (
            Op::Duplicate,
            m::<DuplicateRequest>(|r| r.handle = h),
            Output::Reply(64),
        ),
        (
            Op::Cancel,
            m::<HandleRequest>(|r| r.handle = h),
            Output::Reply(64),
        ),
        (
            Op::Statistics,
            m::<HandleRequest>(|r| r.handle = h),
            Output::Reply(128),
        ),
        (Op::Close, m::<CloseRequest>(|r| r.handle = h), Output::Reply(64)),
    ]
}

/// Every operation naming `h` from `c` gets STATUS_INVALID_HANDLE.
fn assert_all_invalid(c: &Client, h: Handle, remote: SocketAddr, what: &str) {
    for (op, input, output) in requests_naming(h, remote) {
        assert_eq!(
            status(c, op, input, output),
            NtStatus::STATUS_INVALID_HANDLE,
            "{what}: {op:?} naming {h:?}"
        );
    }
}

#[test]
fn a_client_cannot_name_another_clients_socket() {
    let rig = CheckedRig::plain();
    let sink = Sink::raw();
    let a = rig.client();
    let b = rig.client();
    let h = a.connect_to(sink.addr()).expect("connect");
    assert_all_invalid(&b, h, sink.addr(), "another client's handle");
    // A sweep of guessed handles finds nothing in a client that has none.
    for index in 0..64 {
        for generation in 0..4 {
            let g = Handle { index, generation };
            if g.is_null() {
                continue;
            }
            assert_eq!(
                b.cancel(g).map_err(|e| e.status),
                Err(NtStatus::STATUS_INVALID_HANDLE),
                "{g:?}"
            );
        }
    }
    // The owner's socket is untouched: it still sends, and closes gracefully.
    let d = a
        .send(h, pattern::bytes(0, 1000))
        .wait_timeout(PATIENCE)
        .expect("send");
    assert_eq!((d.status, d.info), (NtStatus::STATUS_SUCCESS, 1000));
    let st = a.statistics(h).expect("statistics");
    assert_eq!(st.handles, 1, "nobody else got a handle to it");
    a.close(h, CloseMode::Graceful, true).expect("close");
    drop((a, b));
    rig.unload_and_audit(PATIENCE);
    let r = sink.finish(PATIENCE);
    assert_eq!((r[0].bytes, r[0].end.clone()), (1000, End::Fin));
}

#[test]
fn a_stale_generation_is_refused_after_the_slot_is_reused() {
    let rig = CheckedRig::plain();
    let sink = Sink::raw();
    let c = rig.client();
    let old = c.socket(AF_INET, SocketKind::Stream).expect("socket");
    c.close(old, CloseMode::Default, false).expect("close");
    let new = c.connect_to(sink.addr()).expect("connect");
    assert_eq!(new.index, old.index, "the slot is reused");
    assert_ne!(new.generation, old.generation, "with a new generation");
    assert_all_invalid(&c, old, sink.addr(), "stale handle");
    // Neither is a forged next generation, nor the null handle (except for global statistics).
    let forged = Handle {
        index: new.index,
        generation: new.generation.wrapping_add(1),
    };
    assert_all_invalid(&c, forged, sink.addr(), "forged generation");
    assert_eq!(c.statistics(Handle::NULL).map(|s| s.scope), Ok(0));
    assert_eq!(
        c.cancel(Handle::NULL).map_err(|e| e.status),
        Err(NtStatus::STATUS_INVALID_HANDLE)
    );
    // The live handle still works.
    let d = c
        .send(new, pattern::bytes(0, 10))
        .wait_timeout(PATIENCE)
        .expect("send");
    assert_eq!(d.status, NtStatus::STATUS_SUCCESS);
    drop(c);
    rig.unload_and_audit(PATIENCE);
    assert_eq!(sink.finish(PATIENCE)[0].end, End::Fin);
}

fn kernel_data_request(h: Handle, buffer: u64, length: u64) -> Vec<u8> {
    let mut r = DataRequest::new_zeroed_with_header();
    r.handle = h;
    r.buffer = buffer;
    r.length = length;
    r.as_bytes().to_vec()
}

#[test]
fn method_neither_codes_from_user_mode_are_access_denied() {
    let rig = CheckedRig::plain();
    let sink = Sink::raw();
    let user = rig.client();
    let h = user.connect_to(sink.addr()).expect("connect");
    for op in [Op::SendKernel, Op::ReceiveKernel] {
        assert!(op.is_kernel_only());
        // Whatever the request says: a plausible pointer, a wild one, garbage, nothing.
        for input in [
            kernel_data_request(h, 0xFFFF_8000_0000_1000, 4096),
            kernel_data_request(h, 0x4141_4141_4141_4141, u64::MAX),
            vec![0xFF; 40],
            vec![],
        ] {
            assert_eq!(
                status(&user, op, input, Output::Reply(0)),
                NtStatus::STATUS_ACCESS_DENIED,
                "{op:?} from user mode"
            );
        }
    }
    // The same codes from a kernel channel get past that check (and the host backend, which
    // has no kernel memory, refuses the pointer itself).
    let kernel = Client::new(rig.kernel_channel());
    let kh = kernel.connect_to(sink.addr()).expect("connect");
    let st = status(
        &kernel,
        Op::SendKernel,
        kernel_data_request(kh, 0xFFFF_8000_0000_1000, 16),
        Output::Reply(0),
    );
    assert_eq!(st, NtStatus::STATUS_INVALID_PARAMETER);
    // The user's socket was not disturbed.
    let d = user
        .send(h, pattern::bytes(0, 10))
        .wait_timeout(PATIENCE)
        .expect("send");
    assert_eq!(d.status, NtStatus::STATUS_SUCCESS);
    drop((user, kernel));
    rig.unload_and_audit(PATIENCE);
    sink.finish(PATIENCE);
}

#[test]
fn overflowing_lengths_and_oversized_counts_are_refused() {
    let rig = CheckedRig::plain();
    let sink = Sink::raw();
    let kernel = Client::new(rig.kernel_channel());
    let h = kernel.connect_to(sink.addr()).expect("connect");
    // buffer + length overflows.
    assert_eq!(
        status(
            &kernel,
            Op::SendKernel,
            kernel_data_request(h, u64::MAX - 10, 100),
            Output::Reply(0)
        ),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    // A length no MDL can describe, and zero.
    for len in [u64::from(u32::MAX) + 1, u64::MAX, 0] {
        assert_eq!(
            status(
                &kernel,
                Op::ReceiveKernel,
                kernel_data_request(h, 0x1000, len),
                Output::Reply(0)
            ),
            NtStatus::STATUS_INVALID_BUFFER_SIZE,
            "length {len}"
        );
    }
    let user = rig.client();
    let u = user.connect_to(sink.addr()).expect("connect");
    // A direct-I/O request must not carry a pointer or length of its own.
    assert_eq!(
        status(
            &user,
            Op::Send,
            kernel_data_request(u, 0, 5),
            Output::Data(vec![1; 5])
        ),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    // Size field larger than the input, larger than anything, input far too long.
    let mut r = CloseRequest::new_zeroed_with_header();
    r.handle = u;
    let mut b = r.as_bytes().to_vec();
    b[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        status(&user, Op::Close, b, Output::Reply(64)),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    let mut big = r.as_bytes().to_vec();
    big.resize(1 << 20, 0);
    assert_eq!(
        status(&user, Op::Close, big, Output::Reply(64)),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    // Oversized counts: linger seconds beyond u_short, SO_LINGER value2 beyond u_short, enums.
    let close = |mode: u32, secs: u32| {
        let mut r = CloseRequest::new_zeroed_with_header();
        r.handle = u;
        r.mode = mode;
        r.linger_seconds = secs;
        r.as_bytes().to_vec()
    };
    for (mode, secs) in [(3, 70_000), (3, u32::MAX), (3, 0), (4, 0), (u32::MAX, 0), (0, 5)] {
        assert_eq!(
            status(&user, Op::Close, close(mode, secs), Output::Reply(64)),
            NtStatus::STATUS_INVALID_PARAMETER,
            "close mode {mode} secs {secs}"
        );
    }
    assert_eq!(
        user.set_option(u, msg::SocketOption::Linger, 1, 70_000)
            .map_err(|e| e.status),
        Err(NtStatus::STATUS_INVALID_PARAMETER)
    );
    // A reply buffer too small for the reply; a RECEIVE_FROM buffer smaller than its header.
    assert_eq!(
        status(&user, Op::Close, close(0, 0), Output::Reply(4)),
        NtStatus::STATUS_BUFFER_TOO_SMALL
    );
    let d = rig.client();
    let dg = d.socket(AF_INET, SocketKind::Datagram).expect("datagram");
    let mut rf = DatagramRequest::new_zeroed_with_header();
    rf.handle = dg;
    assert_eq!(
        status(
            &d,
            Op::ReceiveFrom,
            rf.as_bytes().to_vec(),
            Output::Data(vec![0; 8])
        ),
        NtStatus::STATUS_BUFFER_TOO_SMALL
    );
    // An empty data buffer.
    let mut sr = DataRequest::new_zeroed_with_header();
    sr.handle = u;
    assert_eq!(
        status(&user, Op::Receive, sr.as_bytes().to_vec(), Output::Data(vec![])),
        NtStatus::STATUS_INVALID_BUFFER_SIZE
    );
    // A name without its NUL, a target client that does not exist.
    let mut rr = ResolveRequest::new_zeroed_with_header();
    rr.node = [b'a'; 256];
    assert_eq!(
        status(&user, Op::Resolve, rr.as_bytes().to_vec(), Output::Reply(512)),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        user.duplicate(u, u64::MAX).map_err(|e| e.status),
        Err(NtStatus::STATUS_INVALID_PARAMETER)
    );
    // Every refusal left the sockets working.
    let done = user
        .send(u, pattern::bytes(0, 10))
        .wait_timeout(PATIENCE)
        .expect("send");
    assert_eq!(done.status, NtStatus::STATUS_SUCCESS);
    drop((user, kernel, d));
    rig.unload_and_audit(PATIENCE);
    sink.finish(PATIENCE);
}

/// A minimal well-formed input for `op` (handles null).
fn well_formed(op: Op) -> Vec<u8> {
    fn z<M: Message>() -> Vec<u8> {
        M::new_zeroed_with_header().as_bytes().to_vec()
    }
    match op {
        Op::Socket => z::<SocketRequest>(),
        Op::Bind | Op::Connect => z::<AddressedRequest>(),
        Op::Listen => z::<ListenRequest>(),
        Op::Accept => z::<msg::AcceptRequest>(),
        Op::Cancel | Op::Statistics | Op::WaitPeerClose => z::<HandleRequest>(),
        Op::Send | Op::Receive | Op::SendKernel | Op::ReceiveKernel => z::<DataRequest>(),
        Op::SendTo | Op::ReceiveFrom => z::<DatagramRequest>(),
        Op::Shutdown => z::<ShutdownRequest>(),
        Op::SetOption | Op::GetOption => z::<OptionRequest>(),
        Op::GetAddress => z::<GetAddressRequest>(),
        Op::Duplicate => z::<DuplicateRequest>(),
        Op::Close => z::<CloseRequest>(),
        Op::Resolve => z::<ResolveRequest>(),
        Op::ClientInfo => z::<msg::ClientInfoRequest>(),
        Op::AllowDuplicate => z::<msg::AllowDuplicateRequest>(),
    }
}

#[test]
fn unknown_versions_codes_and_short_inputs_get_their_status() {
    let rig = CheckedRig::plain();
    let kernel = Client::new(rig.kernel_channel());
    let chan = kernel.channel().clone();
    for &op in Op::ALL {
        let good = well_formed(op);
        let out = || Output::Data(vec![0; 1024]);
        // 0 and the next version are unknown (versions 1 and 2 are still accepted: docs/ABI.md,
        // "Versions").
        for version in [0u16, ABI_VERSION + 1, 0xFFFF] {
            let mut b = good.clone();
            b[4..6].copy_from_slice(&version.to_le_bytes());
            assert_eq!(
                status(&kernel, op, b, out()),
                NtStatus::STATUS_NOT_SUPPORTED,
                "{op:?} v{version}"
            );
        }
        for cut in [0, 1, 7, 8, good.len() - 1]
            .into_iter()
            .filter(|c| *c < good.len())
        {
            assert_eq!(
                status(&kernel, op, good[..cut].to_vec(), out()),
                NtStatus::STATUS_BUFFER_TOO_SMALL,
                "{op:?} cut to {cut}"
            );
        }
        let mut reserved = good.clone();
        reserved[6] = 1;
        assert_eq!(
            status(&kernel, op, reserved, out()),
            NtStatus::STATUS_INVALID_PARAMETER,
            "{op:?}"
        );
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            status(&kernel, op, longer, out()),
            NtStatus::STATUS_INVALID_PARAMETER,
            "{op:?}"
        );
        // The right function with another transfer method or access is another code: unknown.
        for bits in [1u32, 2, 3, 1 << 14, 3 << 14] {
            let code = op.code() ^ bits;
            if Op::from_code(code).is_none() {
                assert_eq!(
                    raw_status(&*chan, code, good.clone(), out()),
                    NtStatus::STATUS_INVALID_DEVICE_REQUEST,
                    "{op:?} ^ {bits:#x}"
                );
            }
        }
    }
    // Other devices' codes and unused functions of ours.
    for code in [
        0,
        u32::MAX,
        0x0022_2003,
        0x0012_2000,
        Op::ClientInfo.code() + 4,
        0x8A5C_3FFC,
    ] {
        if Op::from_code(code).is_none() {
            assert_eq!(
                raw_status(&*chan, code, well_formed(Op::Close), Output::Reply(64)),
                NtStatus::STATUS_INVALID_DEVICE_REQUEST,
                "{code:#x}"
            );
        }
    }
    // And the engine still serves.
    assert!(kernel.client_info().is_ok());
    drop((kernel, chan));
    rig.unload_and_audit(PATIENCE);
}

fn flood_config() -> Config {
    Config {
        max_pending_per_socket: 16,
        max_pending_per_client: 40,
        max_handles_per_client: 12,
        unload_linger_ms: 300,
        cleanup_linger_ms: 300,
    }
}

#[test]
fn a_flood_on_one_socket_and_from_one_client_is_bounded() {
    let rig = CheckedRig::new(FaultPlan::new(0), CompletionMode::Inline, flood_config());
    let sink = Sink::stalled();
    let c = rig.client();
    let h = c.connect_to(sink.addr()).expect("connect");
    // 1000 receives on one socket (the peer sends nothing: they all want to pend).
    let started = Instant::now();
    let flood: Vec<_> = (0..1000).map(|_| c.receive(h, 64)).collect();
    let refused: Vec<_> = flood
        .iter()
        .filter_map(wsksock_tools::Pending::poll)
        .map(|d| d.status)
        .collect();
    assert_eq!(
        refused.len(),
        1000 - 16,
        "all but the per-socket limit completed at once"
    );
    assert!(
        refused
            .iter()
            .all(|s| *s == NtStatus::STATUS_INSUFFICIENT_RESOURCES),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusals are immediate"
    );
    let st = c.statistics(h).expect("statistics");
    assert_eq!(st.ops_pending, 16, "pending operations held by the socket");
    // More sockets of the same client (created first: creating one is an operation too, which
    // the per-client limit would refuse once the flood below reached it).
    let more: Vec<Handle> = (0..3)
        .map(|_| c.connect_to(sink.addr()).expect("connect"))
        .collect();
    let mut others = Vec::new();
    for &o in &more {
        others.push((o, (0..20).map(|_| c.receive(o, 64)).collect::<Vec<_>>()));
    }
    // The per-client limit (40) caps the total: 16 + 16 + 8 + 0.
    assert_eq!(
        c.socket(AF_INET, SocketKind::Stream).map_err(|e| e.status),
        Err(NtStatus::STATUS_INSUFFICIENT_RESOURCES),
        "even a SOCKET is refused at the per-client limit"
    );
    let pending: usize = flood
        .iter()
        .chain(others.iter().flat_map(|(_, v)| v.iter()))
        .filter(|p| !p.is_done())
        .count();
    assert_eq!(pending, 40, "per-client limit");
    // Another client is not starved by the first one.
    let other_client = rig.client();
    let oh = other_client.connect_to(sink.addr()).expect("connect");
    let r = other_client.receive(oh, 64);
    assert!(
        r.wait_timeout(Duration::from_millis(50)).is_none(),
        "pends: room left for another client"
    );
    // Handles (on the other client, which is below its pending limit): the per-client handle
    // limit answers STATUS_INSUFFICIENT_RESOURCES too, to SOCKET and to DUPLICATE.
    let mut extra = vec![oh];
    let refused_handle = loop {
        match other_client.socket(AF_INET, SocketKind::Stream) {
            Ok(x) => extra.push(x),
            Err(e) => break e.status,
        }
        assert!(extra.len() <= 12, "handle limit not enforced");
    };
    assert_eq!(refused_handle, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(extra.len(), 12, "exactly the limit");
    assert_eq!(
        other_client.duplicate(oh, 0).map_err(|e| e.status),
        Err(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
    );
    // Closing gives everything back: every pending receive is cancelled.
    c.close(h, CloseMode::Graceful, false).expect("close");
    for p in &flood {
        let d = p.wait_timeout(PATIENCE).expect("completes");
        assert!(
            matches!(
                d.status,
                NtStatus::STATUS_CANCELLED | NtStatus::STATUS_INSUFFICIENT_RESOURCES
            ),
            "{:?}",
            d.status
        );
    }
    let again = c.receive(others[2].0, 64);
    assert!(
        again.wait_timeout(Duration::from_millis(50)).is_none(),
        "room again after the close"
    );
    drop((c, other_client));
    rig.unload_and_audit(PATIENCE);
    for r in sink.finish(PATIENCE) {
        assert!(matches!(r.end, End::Fin | End::Reset), "{r:?}");
    }
}

#[test]
fn a_flood_of_sends_to_a_stalled_peer_is_bounded() {
    // The cleanup bound long enough for the drain below on a loaded machine (at 300 ms it once
    // expired first, and the peer saw RST instead of FIN).
    let config = Config {
        cleanup_linger_ms: 30_000,
        ..flood_config()
    };
    let rig = CheckedRig::new(FaultPlan::new(0), CompletionMode::Inline, config);
    let sink = Sink::stalled();
    let c = rig.client();
    let h = c.connect_to(sink.addr()).expect("connect");
    let sends: Vec<_> = (0..200)
        .map(|i| c.send(h, pattern::bytes(i * 65536, 65536)))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let pending = sends.iter().filter(|p| !p.is_done()).count();
    assert!(pending <= 16, "at most the per-socket limit pends: {pending}");
    let done: Vec<NtStatus> = sends
        .iter()
        .filter_map(wsksock_tools::Pending::poll)
        .map(|d| d.status)
        .collect();
    let refused = done
        .iter()
        .filter(|s| **s == NtStatus::STATUS_INSUFFICIENT_RESOURCES)
        .count();
    let sent = done.iter().filter(|s| **s == NtStatus::STATUS_SUCCESS).count();
    // The host's socket buffers take the first sends; then 16 pend and the rest are refused.
    assert_eq!(refused + sent + pending, 200, "{done:?}");
    assert!(
        refused >= 100,
        "the flood was refused: {refused} (sent {sent}, pending {pending})"
    );
    // The client goes away with sends pending to a peer that does not read: the default close
    // is graceful and waits for the peer; once it reads, everything drains and nothing is left.
    drop(c);
    sink.release();
    let deadline = Instant::now() + PATIENCE;
    while rig.stats().sockets_alive > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        rig.stats().sockets_alive,
        0,
        "the socket finished once the peer read"
    );
    for p in &sends {
        assert!(p.wait_timeout(PATIENCE).is_some(), "every send completed");
    }
    rig.unload_and_audit(PATIENCE);
    for r in sink.finish(PATIENCE) {
        assert_eq!(r.end, End::Fin, "{r:?}");
    }
}

#[test]
fn a_client_that_disappears_mid_operation_leaves_nothing_behind() {
    for mode in [CompletionMode::Inline, CompletionMode::Deferred] {
        let rig = CheckedRig::new(FaultPlan::new(0), mode, test_config());
        let sink = Sink::raw();
        let keeper = rig.client();
        let before = rig.stats();
        {
            let c = rig.client();
            // A connection with a receive pending and SO_LINGER {1,0} (it resets at cleanup).
            let h = c.connect_to(sink.addr()).expect("connect");
            c.set_linger(h, Some(0)).expect("linger");
            let recv = c.receive(h, 64);
            // A listening socket with an accept pending.
            let l = c.socket(AF_INET, SocketKind::Listen).expect("listen socket");
            c.bind(l, local()).expect("bind");
            let accept = c.accept(l);
            // A connection handed to another client before going away: it must survive.
            let shared = c.connect_to(sink.addr()).expect("connect");
            let kept = c.duplicate_to(shared, &keeper).expect("dup");
            // A name resolution in flight.
            let resolve = c.submit(
                Op::Resolve,
                {
                    let mut r = ResolveRequest::new_zeroed_with_header();
                    r.node[..9].copy_from_slice(b"localhost");
                    r.as_bytes().to_vec()
                },
                Output::Reply(512),
            );
            drop(c);
            for (what, p) in [("receive", &recv), ("accept", &accept)] {
                let d = p
                    .wait_timeout(PATIENCE)
                    .unwrap_or_else(|| panic!("{what} completes at cleanup"));
                assert_eq!(d.status, NtStatus::STATUS_CANCELLED, "{what}");
            }
            assert!(resolve.wait_timeout(PATIENCE).is_some(), "resolve completes");
            // The duplicate in the other client still works.
            let d = keeper
                .send(kept, pattern::bytes(0, 100))
                .wait_timeout(PATIENCE)
                .expect("send");
            assert_eq!((d.status, d.info), (NtStatus::STATUS_SUCCESS, 100), "{mode:?}");
            keeper.close(kept, CloseMode::Graceful, true).expect("close");
        }
        let deadline = Instant::now() + PATIENCE;
        while rig.stats().sockets_alive > before.sockets_alive && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            rig.stats().sockets_alive,
            0,
            "{mode:?}: nothing left of the client that went away"
        );
        assert_eq!(rig.checker.open_sockets(), 0);
        drop(keeper);
        rig.unload_and_audit(PATIENCE);
        let mut ends: Vec<(u64, End)> = sink
            .finish(PATIENCE)
            .into_iter()
            .map(|r| (r.bytes, r.end))
            .collect();
        ends.sort_by_key(|e| e.0);
        assert_eq!(ends, vec![(0, End::Reset), (100, End::Fin)], "{mode:?}");
    }
}

/// The close table of `docs/ENGINE.md`, linger-0 row: an abortive close completes the receives pending on the socket
/// with STATUS_CANCELLED. With two or more pending, only the first is: its cancel completes inline
/// (or on the emulator's loop), that completion drives the teardown, which issues the abortive
/// disconnect while `close_handle` still holds the other cancels unsent — the disconnect then
/// fails them with STATUS_CONNECTION_ABORTED.
#[test]
fn abortive_close_cancels_every_pending_receive() {
    for mode in [CompletionMode::Inline, CompletionMode::Deferred] {
        let rig = CheckedRig::new(FaultPlan::new(0), mode, test_config());
        let sink = Sink::stalled();
        let c = rig.client();
        let h = c.connect_to(sink.addr()).expect("connect");
        let receives: Vec<_> = (0..4).map(|_| c.receive(h, 64)).collect();
        std::thread::sleep(Duration::from_millis(20));
        c.close(h, CloseMode::Abortive, false).expect("close");
        let statuses: Vec<NtStatus> = receives
            .iter()
            .map(|r| r.wait_timeout(PATIENCE).expect("completes").status)
            .collect();
        assert_eq!(statuses, vec![NtStatus::STATUS_CANCELLED; 4], "{mode:?}");
        drop(c);
        rig.unload_and_audit(PATIENCE);
        assert_eq!(sink.finish(PATIENCE)[0].end, End::Reset);
    }
}

/// Fuzz finding 1 (`fuzz/` target `sequence`, input `[Socket { kind: datagram, v6 }, GetAddress
/// { peer: true }]`): GET_ADDRESS of the peer on a datagram or listening socket is passed to the
/// provider, whose WSK dispatch table for those kinds has no WskGetRemoteAddress (the checker
/// records WrongSocketKind; the driver's provider happens to refuse it). The engine should refuse
/// it itself with STATUS_NOT_SUPPORTED, as it does for other calls a socket kind lacks.
#[test]
fn get_address_of_the_peer_is_refused_on_sockets_without_one() {
    let rig = CheckedRig::plain();
    let c = rig.client();
    for kind in [SocketKind::Datagram, SocketKind::Listen] {
        let h = c.socket(AF_INET, kind).expect("socket");
        c.bind(h, local()).expect("bind");
        assert_eq!(
            c.address(h, msg::AddressWhich::Peer).map_err(|e| e.status),
            Err(NtStatus::STATUS_NOT_SUPPORTED),
            "{kind:?}"
        );
        assert!(
            c.address(h, msg::AddressWhich::Local).is_ok(),
            "{kind:?}: local address"
        );
    }
    drop(c);
    rig.unload_and_audit(PATIENCE);
}

/// A DUPLICATE request of ABI version `version` putting `h` into client `target`.
fn duplicate_v(h: Handle, target: u64, version: u16) -> Vec<u8> {
    let mut m = DuplicateRequest::new_zeroed_with_header();
    m.header.version = version;
    m.handle = h;
    m.target_client = target;
    m.as_bytes().to_vec()
}

#[test]
fn duplicating_into_another_client_needs_its_consent() {
    let rig = CheckedRig::plain();
    let sink = Sink::raw();
    let attacker = rig.client();
    let kernel_attacker = Client::new(rig.kernel_channel());
    let victim = rig.client();
    let id = |c: &Client| c.client_info().expect("client info").client_id;
    let (attacker_id, victim_id) = (id(&attacker), id(&victim));
    let h = attacker.connect_to(sink.addr()).expect("connect");
    let kh = kernel_attacker.connect_to(sink.addr()).expect("connect");
    let denied = Err(NtStatus::STATUS_ACCESS_DENIED);
    // The old path: guessed ids (a slot index in the low half, a generation in the high half).
    // Every live client refuses, the others do not exist; nothing goes in.
    let guesses = (0..16u64).flat_map(|index| (0..4u64).map(move |generation| generation << 32 | index));
    for guess in guesses.filter(|g| *g != 0) {
        let got = attacker.duplicate(h, guess).map_err(|e| e.status);
        let want = if guess == attacker_id {
            got // into itself by its own id: its own table, no consent needed
        } else if guess == victim_id || guess == id(&kernel_attacker) {
            denied
        } else {
            Err(NtStatus::STATUS_INVALID_PARAMETER)
        };
        assert_eq!(got, want, "guessed id {guess}");
        if let Ok(own) = got {
            attacker
                .close(own, CloseMode::Default, false)
                .expect("close own duplicate");
        }
    }
    // Every ABI version's DUPLICATE is refused alike, from user mode and from the kernel (the
    // driver serves a kernel caller's pre-version-3 code as today's: logic/codes.rs).
    for version in 1..=ABI_VERSION {
        assert_eq!(
            status(
                &attacker,
                Op::Duplicate,
                duplicate_v(h, victim_id, version),
                Output::Reply(64)
            ),
            NtStatus::STATUS_ACCESS_DENIED,
            "version {version}"
        );
        assert_eq!(
            status(
                &kernel_attacker,
                Op::Duplicate,
                duplicate_v(kh, victim_id, version),
                Output::Reply(64)
            ),
            NtStatus::STATUS_ACCESS_DENIED,
            "kernel caller, version {version}"
        );
    }
    assert_eq!(
        attacker.statistics(h).expect("statistics").handles,
        1,
        "nothing went in"
    );
    assert_eq!(kernel_attacker.statistics(kh).expect("statistics").handles, 1);
    // ALLOW_DUPLICATE is refused in versions before 4, and for nobody, itself, a client that
    // does not exist, more than the handle limit, or reserved bits.
    let allow = |from: u64, count: u32, version: u16, reserved: u32| {
        let mut m = msg::AllowDuplicateRequest::new_zeroed_with_header();
        m.header.version = version;
        (m.from_client, m.count, m.reserved) = (from, count, reserved);
        status(
            &victim,
            Op::AllowDuplicate,
            m.as_bytes().to_vec(),
            Output::Reply(0),
        )
    };
    for version in 1..4 {
        assert_eq!(
            allow(attacker_id, 1, version, 0),
            NtStatus::STATUS_NOT_SUPPORTED,
            "v{version}"
        );
    }
    let limit = test_config().max_handles_per_client;
    for (from, count, reserved, what) in [
        (0, 1, 0, "nobody"),
        (victim_id, 1, 0, "itself"),
        (u64::MAX, 1, 0, "a client that does not exist"),
        (attacker_id, limit + 1, 0, "over the handle limit"),
        (attacker_id, 1, 1, "reserved bits"),
    ] {
        assert_eq!(
            allow(from, count, ABI_VERSION, reserved),
            NtStatus::STATUS_INVALID_PARAMETER,
            "{what}"
        );
    }
    assert_eq!(attacker.duplicate(h, victim_id).map_err(|e| e.status), denied);
    // Consent for two handles from the attacker: two go in, the third is refused, and another
    // client gets nothing from it.
    victim.allow_duplicate(attacker_id, 2).expect("allow");
    let first = attacker.duplicate(h, victim_id).expect("first allowed");
    attacker.duplicate(h, victim_id).expect("second allowed");
    assert_eq!(
        attacker.duplicate(h, victim_id).map_err(|e| e.status),
        denied,
        "used up"
    );
    assert_eq!(
        kernel_attacker.duplicate(kh, victim_id).map_err(|e| e.status),
        denied,
        "another client's allowance"
    );
    assert_eq!(attacker.statistics(h).expect("statistics").handles, 3);
    // Withdrawn consent: refused again.
    victim.allow_duplicate(attacker_id, 5).expect("allow");
    victim.allow_duplicate(attacker_id, 0).expect("withdraw");
    assert_eq!(
        attacker.duplicate(h, victim_id).map_err(|e| e.status),
        denied,
        "withdrawn"
    );
    // At most MAX_DUPLICATE_ALLOWANCES clients at a time; a gone client's slot is taken back.
    let others: Vec<Client> = (0..msg::MAX_DUPLICATE_ALLOWANCES).map(|_| rig.client()).collect();
    for o in &others {
        victim.allow_duplicate(id(o), 1).expect("allow one of the slots");
    }
    assert_eq!(
        victim.allow_duplicate(attacker_id, 1).map_err(|e| e.status),
        Err(NtStatus::STATUS_INSUFFICIENT_RESOURCES),
        "one allowance too many"
    );
    drop(others.into_iter().next());
    victim
        .allow_duplicate(attacker_id, 1)
        .expect("the gone client's slot");
    // The victim's duplicate works: it sends on the attacker's connection; the attacker's own
    // handles are untouched.
    let d = victim
        .send(first, pattern::bytes(0, 10))
        .wait_timeout(PATIENCE)
        .expect("send");
    assert_eq!((d.status, d.info), (NtStatus::STATUS_SUCCESS, 10));
    drop((attacker, kernel_attacker, victim));
    rig.unload_and_audit(PATIENCE);
    for r in sink.finish(PATIENCE) {
        assert_eq!(r.end, End::Fin, "{r:?}");
    }
}
