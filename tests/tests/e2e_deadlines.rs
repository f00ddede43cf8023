//! End to end, request deadlines against real loopback peers (`docs/ABI.md`, "Deadlines"):
//! a deadline cancels its operation and the request ends STATUS_IO_TIMEOUT — unless the
//! operation completed first, whose result is returned (invariant 6). Under Wine's WSK the
//! cancel does nothing: the deadline passes (counted), and the request ends when its operation
//! does — with its data, or STATUS_IO_TIMEOUT at the close. Each scenario runs under both
//! profiles.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use wsksock_abi::addr::{AF_INET, AF_UNSPEC};
use wsksock_abi::msg::{SocketKind, SocketOption, DATA_FLAG_WAITALL, TIMEOUT_INFINITE};
use wsksock_tests::ops::{self, assert_pending, wait};
use wsksock_tests::wire::{v4_any, Listener};
use wsksock_tests::{run, CloseMode, End, NtStatus, Profile, Rig, MIB};

const LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(30);

fn expired(rig: &Rig, client: &wsksock_tests::Client, h: wsksock_tests::Handle) -> u64 {
    let _ = rig;
    client.statistics(h).expect("statistics").deadlines_expired
}

// ---------------------------------------------------------------------------------------------
// A RECEIVE past its deadline; the stream goes on intact after it.

fn receive_deadline(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let started = Instant::now();
    let r = client.receive_with(h, 64, 0, 200);
    if rig.is_wine() {
        // The deadline passes, but Wine ignores the cancel: the receive waits for data — and
        // returns it (never lost).
        assert_pending(&r, "receive past its deadline (Wine)", Duration::from_millis(600));
        assert_eq!(expired(rig, &client, h), 1, "the deadline did pass");
        conn.write_all(b"late data");
        let c = wait(&r, "receive", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
        assert_eq!(&c.output[..c.info], b"late data");
    } else {
        let c = wait(&r, "receive past its deadline", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_IO_TIMEOUT);
        assert!(started.elapsed() >= Duration::from_millis(190), "too early");
        assert_eq!(expired(rig, &client, h), 1);
        // Nothing was consumed: what the peer sends next is received whole.
        conn.write_all(b"after the timeout");
        assert_eq!(ops::receive_exact(&client, h, 17, SHORT), b"after the timeout");
    }
    ops::close(&client, h, CloseMode::Graceful, true);
    assert_eq!(conn.drain(SHORT).end, End::Fin);
}

#[test]
fn receive_deadline_ends_io_timeout_and_the_stream_goes_on() {
    run(Profile::Windows, LIMIT, receive_deadline);
}

#[test]
fn receive_deadline_ends_io_timeout_and_the_stream_goes_on_under_wine() {
    run(Profile::Wine8, LIMIT, receive_deadline);
}

// ---------------------------------------------------------------------------------------------
// A WAITALL receive that holds part of its buffer at the deadline returns that part.

fn waitall_partial(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let r = client.receive_with(h, 100, DATA_FLAG_WAITALL, 300);
    conn.write_all(b"0123456789");
    let c = wait(&r, "WAITALL receive", SHORT);
    // Windows: at the deadline the receive is cancelled holding 10 bytes, and returns them.
    // Wine ignores WAITALL: it completes with the 10 bytes as they arrive. Either way: success.
    assert_eq!(c.status, NtStatus::STATUS_SUCCESS, "{c:?}");
    assert_eq!(&c.output[..c.info], b"0123456789");
    ops::close(&client, h, CloseMode::Graceful, true);
    assert_eq!(conn.drain(SHORT).end, End::Fin);
}

#[test]
fn waitall_receive_at_its_deadline_returns_what_it_holds() {
    run(Profile::Windows, LIMIT, waitall_partial);
}

#[test]
fn waitall_receive_at_its_deadline_returns_what_it_holds_under_wine() {
    run(Profile::Wine8, LIMIT, waitall_partial);
}

// ---------------------------------------------------------------------------------------------
// SO_RCVTIMEO is the default; a request's own timeout and INFINITE override it.

fn rcvtimeo(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    client
        .set_option(h, SocketOption::ReceiveTimeout, 150, 0)
        .expect("SO_RCVTIMEO (kept by the engine, also under Wine)");
    assert_eq!(
        client.get_option(h, SocketOption::ReceiveTimeout).expect("get"),
        (150, 0)
    );
    let infinite = client.receive_with(h, 8, 0, TIMEOUT_INFINITE);
    assert_pending(&infinite, "INFINITE receive", Duration::from_millis(500));
    assert_eq!(expired(rig, &client, h), 0, "INFINITE has no deadline");
    conn.write_all(b"12345678");
    let c = wait(&infinite, "INFINITE receive", SHORT);
    assert_eq!(&c.output[..c.info], b"12345678");
    let dflt = client.receive(h, 8);
    if rig.is_wine() {
        assert_pending(
            &dflt,
            "default-deadline receive (Wine)",
            Duration::from_millis(400),
        );
        assert_eq!(expired(rig, &client, h), 1);
        // The close ends it: the deadline had passed, so it reports the timeout.
        ops::close(&client, h, CloseMode::Abortive, true);
        assert_eq!(wait(&dflt, "receive", SHORT).status, NtStatus::STATUS_IO_TIMEOUT);
    } else {
        assert_eq!(wait(&dflt, "receive", SHORT).status, NtStatus::STATUS_IO_TIMEOUT);
        assert_eq!(expired(rig, &client, h), 1);
        ops::close(&client, h, CloseMode::Graceful, true);
    }
    conn.drain(SHORT);
}

#[test]
fn so_rcvtimeo_is_the_receive_default_and_infinite_overrides_it() {
    run(Profile::Windows, LIMIT, rcvtimeo);
}

#[test]
fn so_rcvtimeo_is_the_receive_default_and_infinite_overrides_it_under_wine() {
    run(Profile::Wine8, LIMIT, rcvtimeo);
}

// ---------------------------------------------------------------------------------------------
// A SEND to a peer that stopped reading: what a timed-out send leaves on the stream.

fn send_deadline(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let data = wsksock_tests::fastpattern::bytes(0, 8 * MIB);
    let s = client.send_with(h, data, 0, 300);
    if rig.is_wine() {
        // Wine ignores the cancel: the send waits; the close ends it, after its deadline.
        assert_pending(&s, "send past its deadline (Wine)", Duration::from_millis(600));
        ops::close(&client, h, CloseMode::Abortive, true);
        assert_eq!(wait(&s, "send", SHORT).status, NtStatus::STATUS_IO_TIMEOUT);
        let r = conn.drain(LONG);
        assert!(r.first_mismatch.is_none(), "{r:?}");
        assert_eq!(r.end, End::Fin, "Wine's close never resets: {r:?}");
        return;
    }
    let c = wait(&s, "send past its deadline", SHORT);
    assert_eq!(c.status, NtStatus::STATUS_IO_TIMEOUT);
    // Part of its data was in the host's queue: a stream cannot take it back, so the
    // connection is reset rather than spliced onto the next send.
    assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_CONNECTION_ABORTED);
    let r = conn.drain(LONG);
    assert!(r.bytes > 0 && r.bytes < 8 * MIB as u64, "a prefix: {r:?}");
    assert!(r.first_mismatch.is_none(), "the prefix is intact: {r:?}");
    assert_eq!(r.end, End::Reset, "{r:?}");
    ops::close(&client, h, CloseMode::Abortive, true);
}

#[test]
fn timed_out_send_leaves_an_intact_prefix_then_rst() {
    run(Profile::Windows, LIMIT, send_deadline);
}

#[test]
fn timed_out_send_leaves_an_intact_prefix_then_rst_under_wine() {
    run(Profile::Wine8, LIMIT, send_deadline);
}

/// A send queued behind another that never started: its deadline cancels it alone, nothing of
/// it reached the stream, and the stream goes on.
#[test]
fn timed_out_send_that_never_started_leaves_the_stream_intact() {
    run(Profile::Windows, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4_small();
        let h = ops::connect(&client, peer.addr());
        let conn = peer.accept(SHORT);
        let first = client.send(h, wsksock_tests::fastpattern::bytes(0, 4 * MIB));
        let second = client.send_with(h, vec![0xEE; 1000], 0, 200);
        assert_eq!(
            wait(&second, "queued send", SHORT).status,
            NtStatus::STATUS_IO_TIMEOUT
        );
        let tail = client.send(h, wsksock_tests::fastpattern::bytes(4 * MIB as u64, 1000));
        let r = conn.drain_in_background(LONG);
        assert_eq!(wait(&first, "first send", LONG).status, NtStatus::STATUS_SUCCESS);
        assert_eq!(wait(&tail, "tail send", LONG).status, NtStatus::STATUS_SUCCESS);
        ops::close(&client, h, CloseMode::Graceful, true);
        let r = r.join().expect("peer");
        assert_eq!(r.bytes, 4 * MIB as u64 + 1000, "{r:?}");
        assert!(r.first_mismatch.is_none(), "no byte of the timed-out send: {r:?}");
        assert_eq!(r.end, End::Fin);
    });
}

// ---------------------------------------------------------------------------------------------
// CONNECT to a listener whose accept queue is full: the SYN is dropped, the connect pends.

fn connect_deadline(rig: &Rig) {
    let client = rig.client();
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    full.listen(0).unwrap();
    let addr = full.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue (never accepted): further SYNs are dropped.
    let fillers: Vec<TcpStream> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    assert!(!fillers.is_empty());
    let h = client.socket(AF_INET, SocketKind::Stream).expect("socket");
    client.bind(h, v4_any()).expect("bind");
    let started = Instant::now();
    let c = client.connect_within(h, addr, 250);
    if rig.is_wine() {
        assert_pending(&c, "connect past its deadline (Wine)", Duration::from_millis(600));
        ops::close(&client, h, CloseMode::Abortive, true);
        assert_eq!(wait(&c, "connect", SHORT).status, NtStatus::STATUS_IO_TIMEOUT);
    } else {
        assert_eq!(wait(&c, "connect", SHORT).status, NtStatus::STATUS_IO_TIMEOUT);
        assert!(started.elapsed() >= Duration::from_millis(240));
        // WSK cannot take a half-open attempt back: the socket is spent.
        let again = wait(&client.connect(h, addr), "second connect", SHORT);
        assert_eq!(again.status, NtStatus::STATUS_INVALID_DEVICE_STATE);
        ops::close(&client, h, CloseMode::Abortive, true);
    }
    drop(fillers);
}

#[test]
fn connect_deadline_ends_io_timeout() {
    run(Profile::Windows, LIMIT, connect_deadline);
}

#[test]
fn connect_deadline_ends_io_timeout_under_wine() {
    run(Profile::Wine8, LIMIT, connect_deadline);
}

// ---------------------------------------------------------------------------------------------
// ACCEPT with nobody connecting; then a connection that arrives is not lost.

fn accept_deadline(rig: &Rig) {
    let client = rig.client();
    let l = client.socket(AF_INET, SocketKind::Listen).expect("listen socket");
    client
        .bind(l, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let addr = client
        .address(l, wsksock_abi::msg::AddressWhich::Local)
        .expect("local address");
    let a = client.accept_within(l, 200);
    assert_eq!(wait(&a, "accept", SHORT).status, NtStatus::STATUS_IO_TIMEOUT);
    assert_eq!(expired(rig, &client, l), 1);
    // The listener goes on.
    let next = client.accept_within(l, 5_000);
    let _peer = TcpStream::connect(addr).expect("connect");
    let c = wait(&next, "accept", SHORT);
    let r = wsksock_tools::Client::accepted(&c).expect("accepted");
    ops::close(&client, r.handle, CloseMode::Graceful, true);
    ops::close(&client, l, CloseMode::Default, true);
}

#[test]
fn accept_deadline_ends_io_timeout_and_the_listener_goes_on() {
    run(Profile::Windows, LIMIT, accept_deadline);
}

// Under Wine the listener's address cannot be read (WskGetLocalAddress is a stub): the scenario
// binds a free port it knows instead.
#[test]
fn accept_past_its_deadline_still_returns_the_connection_under_wine() {
    run(Profile::Wine8, LIMIT, |rig| {
        let client = rig.client();
        let port = wsksock_tests::wire::free_port([127, 0, 0, 1].into());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let l = client.socket(AF_INET, SocketKind::Listen).expect("listen socket");
        client.bind(l, addr).expect("bind");
        let a = client.accept_within(l, 200);
        assert_pending(&a, "accept past its deadline (Wine)", Duration::from_millis(600));
        assert_eq!(expired(rig, &client, l), 1);
        let _peer = TcpStream::connect(addr).expect("connect");
        let c = wait(&a, "accept", SHORT);
        assert_eq!(
            c.status,
            NtStatus::STATUS_SUCCESS,
            "the connection is returned, not lost"
        );
        let r = wsksock_tools::Client::accepted(&c).expect("reply");
        ops::close(&client, r.handle, CloseMode::Graceful, true);
        ops::close(&client, l, CloseMode::Default, true);
    });
}

// ---------------------------------------------------------------------------------------------
// Datagrams (Windows only: Wine's WSK has no datagram sockets) and name resolution.

#[test]
fn receive_from_deadline_ends_io_timeout_and_send_to_with_one_succeeds() {
    run(Profile::Windows, LIMIT, |rig| {
        let client = rig.client();
        let u = client.socket(AF_INET, SocketKind::Datagram).expect("udp");
        client
            .bind(u, SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let r = client.receive_from_within(u, 64, 150);
        assert_eq!(
            wait(&r, "receive-from", SHORT).status,
            NtStatus::STATUS_IO_TIMEOUT
        );
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(SHORT)).unwrap();
        let s = client.send_to_within(u, b"dgram".to_vec(), sink.local_addr().unwrap(), 1_000);
        assert_eq!(wait(&s, "send-to", SHORT).status, NtStatus::STATUS_SUCCESS);
        let mut buf = [0; 16];
        let (n, _) = sink.recv_from(&mut buf).expect("the datagram");
        assert_eq!(&buf[..n], b"dgram");
        ops::close(&client, u, CloseMode::Default, true);
    });
}

fn resolve_within(rig: &Rig) {
    let client = rig.client();
    let addrs = client
        .resolve_within("localhost", AF_UNSPEC, 80, 10_000)
        .expect("resolve within its deadline");
    assert!(
        addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 80),
        "{addrs:?}"
    );
    let e = client
        .resolve_within("localhost", AF_UNSPEC, 80, 0x8000_0000)
        .expect_err("a deadline past the maximum");
    assert_eq!(e.status, NtStatus::STATUS_INVALID_PARAMETER);
}

#[test]
fn resolve_with_a_deadline_answers_and_a_huge_one_is_refused() {
    run(Profile::Windows, LIMIT, resolve_within);
}

#[test]
fn resolve_with_a_deadline_answers_and_a_huge_one_is_refused_under_wine() {
    run(Profile::Wine8, LIMIT, resolve_within);
}
