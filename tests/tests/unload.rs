//! Unload under load: unload while operations pend and peers stall. Every socket closes, every
//! request completes, the provider is deregistered only after everything is gone (checked at the
//! moment the engine reports idle, see `reliability/rig.rs`), and nothing hangs beyond the
//! unload linger: graceful and lingering teardowns get at most `Config::unload_linger_ms` (300 ms
//! here) before they turn abortive, also a linger timeout that was already running.

mod reliability;

use reliability::peers::{End, Sink};
use reliability::rig::{test_config, CheckedRig};
use reliability::PATIENCE;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::SocketKind;
use wsksock_abi::NtStatus;
use wsksock_emu::{CompletionMode, FaultPlan};
use wsksock_tools::{pattern, Client, CloseMode};

const LINGER_MS: u64 = 300;

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A connection to `sink` with 1 MiB sends, the later ones pending when the peer stalls.
fn stuffed(c: &Client, sink: &Sink) -> (wsksock_abi::Handle, Vec<wsksock_tools::Pending>) {
    let h = c.connect_to(sink.addr()).expect("connect");
    // A small send buffer: with the stalled peer's small window, the later sends pend.
    c.set_option(h, wsksock_abi::msg::SocketOption::SendBuffer, 4096, 0)
        .expect("SO_SNDBUF");
    let sends: Vec<_> = (0..8)
        .map(|i| c.send(h, pattern::bytes(i << 20, 1 << 20)))
        .collect();
    (h, sends)
}

/// A listener whose accept queue is full and never accepted: connects to it stay pending (the
/// host drops their SYNs).
fn black_hole() -> (socket2::Socket, Vec<TcpStream>, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    l.bind(&local().into()).expect("bind");
    l.listen(0).expect("listen");
    let addr = l.local_addr().expect("addr").as_socket().expect("inet");
    let fill: Vec<TcpStream> = (0..3)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok())
        .collect();
    (l, fill, addr)
}

fn unload_under_load(mode: CompletionMode) {
    let rig = CheckedRig::new(
        FaultPlan::new(3).delay(100_000, Duration::from_millis(20)),
        mode,
        test_config(),
    );
    let stalled = Sink::stalled();
    let reading = Sink::raw();
    let a = rig.client();
    let b = rig.client();
    let mut pending = Vec::new();
    // Sends pending towards a stalled peer, on an open handle.
    let (_h1, sends1) = stuffed(&a, &stalled);
    pending.extend(sends1);
    // A graceful close already draining towards a stalled peer (its sends pending).
    let (h2, sends2) = stuffed(&a, &stalled);
    pending.extend(sends2);
    a.close(h2, CloseMode::Graceful, false).expect("close");
    // A graceful close with the wait flag, draining towards a stalled peer.
    let (h3, sends3) = stuffed(&b, &stalled);
    pending.extend(sends3);
    let waited = b.close_pending(h3, CloseMode::Graceful, 0, true);
    // A linger close of 1 s in progress: its own deadline is kept.
    let (h4, sends4) = stuffed(&b, &stalled);
    pending.extend(sends4);
    b.close_linger(h4, CloseMode::Linger, 1, false).expect("close");
    // Receives pending on a connection to a peer that reads (and sends nothing).
    let h5 = b.connect_to(reading.addr()).expect("connect");
    let sent5 = b
        .send(h5, pattern::bytes(0, 5000))
        .wait_timeout(PATIENCE)
        .expect("send");
    assert_eq!(sent5.status, NtStatus::STATUS_SUCCESS);
    pending.push(b.receive(h5, 100));
    pending.push(b.receive(h5, 100));
    // Accepts pending on a listening socket.
    let l = a.socket(AF_INET, SocketKind::Listen).expect("listen");
    a.bind(l, local()).expect("bind");
    pending.push(a.accept(l));
    pending.push(a.accept(l));
    // A connect that pends (the destination's accept queue is full).
    let (_hole, _fill, hole_addr) = black_hole();
    let hc = a.socket(AF_INET, SocketKind::Stream).expect("socket");
    a.bind(hc, local()).expect("bind");
    let connect = a.connect(hc, hole_addr);
    let connect_pended = connect.wait_timeout(Duration::from_millis(50)).is_none();
    assert!(connect_pended, "{mode:?}: a connect to a full accept queue pends");
    pending.push(connect);
    std::thread::sleep(Duration::from_millis(50));
    let not_done = pending.iter().filter(|p| !p.is_done()).count();
    assert!(
        not_done >= 10,
        "{mode:?}: operations pend before unload: {not_done}"
    );

    let unload_time = rig.unload(PATIENCE);
    // Everything was bounded by the unload linger (the 1 s linger close too).
    assert!(
        unload_time >= Duration::from_millis(LINGER_MS),
        "{mode:?}: graceful teardowns to stalled peers waited for the unload linger ({unload_time:?})"
    );
    assert!(
        unload_time < Duration::from_millis(LINGER_MS + 700),
        "{mode:?}: unload took {unload_time:?}, beyond the unload linger"
    );
    for p in &pending {
        let d = p.wait_timeout(PATIENCE).expect("every request completed");
        assert!(
            d.status.is_success()
                || matches!(
                    d.status,
                    NtStatus::STATUS_CANCELLED
                        | NtStatus::STATUS_CONNECTION_ABORTED
                        | NtStatus::STATUS_CONNECTION_RESET
                ),
            "{mode:?}: {:?}",
            d.status
        );
    }
    // The waiting CLOSE: unload cleans its client up, which completes it (STATUS_CANCELLED), or
    // its teardown ended first (then it reports the teardown, made abortive by the unload).
    let w = Client::closed(&waited.wait_timeout(PATIENCE).expect("waited close completes"));
    if w.status.is_success() {
        assert!(w.last_reference, "{mode:?}: {w:?}");
        assert_ne!(w.teardown_status, NtStatus::STATUS_PENDING, "{mode:?}: {w:?}");
        assert_eq!(
            w.disconnect,
            wsksock_abi::msg::Disconnect::Abortive,
            "{mode:?}: {w:?}"
        );
    } else {
        assert_eq!(w.status, NtStatus::STATUS_CANCELLED, "{mode:?}: {w:?}");
    }
    eprintln!("{mode:?}: unload took {unload_time:?}; a connect was pending: {connect_pended}");
    // After unload: no new client, and requests on old channels are refused at once.
    assert_eq!(rig.device.open().err(), Some(NtStatus::STATUS_DEVICE_NOT_READY));
    assert_eq!(
        a.client_info().map_err(|e| e.status).err(),
        Some(NtStatus::STATUS_DEVICE_NOT_READY)
    );
    // Cleanup after unload (the channels go now) is harmless.
    drop((a, b));
    rig.audit(unload_time);
    for r in stalled.finish(PATIENCE) {
        assert_eq!(r.end, End::Reset, "{mode:?}: stalled peers are reset: {r:?}");
    }
    for r in reading.finish(PATIENCE) {
        assert_eq!(
            (r.bytes, r.end.clone()),
            (5000, End::Fin),
            "{mode:?}: reading peer: {r:?}"
        );
    }
}

#[test]
fn unload_with_operations_pending_and_peers_stalled_inline() {
    unload_under_load(CompletionMode::Inline);
}

#[test]
fn unload_with_operations_pending_and_peers_stalled_deferred() {
    unload_under_load(CompletionMode::Deferred);
}

#[test]
fn unload_of_an_idle_engine_is_immediate_and_deregisters_clean() {
    let rig = CheckedRig::plain();
    let c = rig.client();
    let h = c.socket(AF_INET, SocketKind::Stream).expect("socket");
    c.close(h, CloseMode::Default, true).expect("close");
    drop(c);
    let t = rig.unload(PATIENCE);
    assert!(t < Duration::from_millis(100), "{t:?}");
    let audit = rig.audit(t);
    assert_eq!(audit.stats.sockets_created, 1);
}

/// Clients keep issuing requests from several threads while the engine unloads: every request
/// completes (STATUS_DEVICE_NOT_READY once unload began), nothing is left.
#[test]
fn unload_while_clients_keep_issuing_requests() {
    let rig = Arc::new(CheckedRig::new(
        FaultPlan::new(9).delay(50_000, Duration::from_millis(5)),
        CompletionMode::Deferred,
        test_config(),
    ));
    let sink = Sink::raw();
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let c = rig.client();
            let (stop, refused, addr) = (Arc::clone(&stop), Arc::clone(&refused), sink.addr());
            std::thread::spawn(move || {
                let mut pendings = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match c.connect_to(addr) {
                        Ok(h) => {
                            pendings.push(c.send(h, pattern::bytes(0, 1000)));
                            pendings.push(c.receive(h, 10));
                            if pendings.len() % 3 == 0 {
                                let _ = c.close(h, CloseMode::Graceful, false);
                            }
                        }
                        Err(e) if e.status == NtStatus::STATUS_DEVICE_NOT_READY => {
                            refused.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Err(_) => {}
                    }
                }
                for p in &pendings {
                    assert!(p.wait_timeout(PATIENCE).is_some(), "request never completed");
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let t = rig.unload(PATIENCE);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("client thread");
    }
    assert!(refused.load(Ordering::SeqCst) >= 1, "clients saw the unload");
    let rig = Arc::try_unwrap(rig).unwrap_or_else(|_| panic!("rig still shared"));
    let audit = rig.audit(t);
    assert!(
        audit.stats.sockets_created > 3,
        "the clients were busy: {:?}",
        audit.stats
    );
    let started = Instant::now();
    for r in sink.finish(PATIENCE) {
        assert!(matches!(r.end, End::Fin | End::Reset), "{r:?}");
    }
    assert!(started.elapsed() < PATIENCE);
}

/// Found by the `sequence` fuzz target: a stream socket connected to its own address is its own
/// peer, and it never reads. When its client goes away, the default (graceful, SO_DONTLINGER)
/// close waits for a peer that will never read; client cleanup bounds it
/// (`Config::cleanup_linger_ms`, 300 ms here): the sends end, the socket goes, and unload then
/// finds nothing to wait for.
#[test]
fn a_socket_connected_to_itself_is_bounded_by_the_cleanup_deadline() {
    let rig = CheckedRig::plain();
    let c = rig.client();
    let h = c.socket(AF_INET, SocketKind::Stream).expect("socket");
    c.bind(h, local()).expect("bind");
    let me = c
        .address(h, wsksock_abi::msg::AddressWhich::Local)
        .expect("local address");
    let connected = c
        .connect(h, me)
        .wait_timeout(PATIENCE)
        .expect("connect completes");
    assert_eq!(
        connected.status,
        NtStatus::STATUS_SUCCESS,
        "TCP simultaneous open with itself"
    );
    let sends: Vec<_> = (0..8)
        .map(|i| c.send(h, pattern::bytes(i << 20, 1 << 20)))
        .collect();
    drop(c);
    for s in &sends {
        assert!(
            s.wait_timeout(PATIENCE).is_some(),
            "every send completed after cleanup"
        );
    }
    let deadline = Instant::now() + PATIENCE;
    while rig.stats().sockets_alive > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        rig.stats().sockets_alive,
        0,
        "the cleanup deadline ended the teardown"
    );
    let t = rig.unload(PATIENCE);
    rig.audit(t);
}
