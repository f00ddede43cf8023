//! End to end: the other socket paths against std peers — listen and accept,
//! IPv6 loopback, UDP — under Windows' and Wine 8's WSK.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;
use wsksock_abi::addr::{AF_INET, AF_INET6};
use wsksock_abi::msg::{AddressWhich, Disconnect, SocketKind};
use wsksock_tests::fastpattern as pattern;
use wsksock_tests::ops::{self, assert_pending, assert_torn_down, post_sends, wait, wait_sends};
use wsksock_tests::wire::{assert_report, free_port, Conn, Listener};
use wsksock_tests::{run, Client, CloseMode, End, Handle, NtStatus, Profile, Rig, MIB};

const LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(30);

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn family(ip: IpAddr) -> u16 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// A bound engine socket of `kind` and the address it is bound to. Windows: port 0, then
/// GET_ADDRESS. Wine has no GET_ADDRESS (WskGetLocalAddress is a stub): that is asserted, and the
/// socket is bound to a port found free a moment ago (retried if another test took it).
fn bound(rig: &Rig, client: &Client, ip: IpAddr, kind: SocketKind) -> (Handle, SocketAddr) {
    if !rig.is_wine() {
        let h = client.socket(family(ip), kind).expect("socket");
        client.bind(h, SocketAddr::new(ip, 0)).expect("bind");
        let addr = client.address(h, AddressWhich::Local).expect("local address");
        assert_eq!(addr.ip(), ip);
        assert_ne!(addr.port(), 0);
        return (h, addr);
    }
    for _ in 0..5 {
        let h = client.socket(family(ip), kind).expect("socket");
        let addr = SocketAddr::new(ip, free_port(ip));
        match client.bind(h, addr) {
            Ok(()) => {
                let e = client
                    .address(h, AddressWhich::Local)
                    .expect_err("no GET_ADDRESS on Wine");
                assert_eq!(e.status, NtStatus::STATUS_NOT_IMPLEMENTED);
                return (h, addr);
            }
            Err(_) => {
                ops::close(client, h, CloseMode::Abortive, true);
            }
        }
    }
    panic!("no free port to bind on {ip}");
}

// ---------------------------------------------------------------------------------------------
// Listen and accept: an engine listener accepts a std TcpStream; data both ways; FIN both ways;
// an accept pending when the listener closes is cancelled.

fn listen_accept(rig: &Rig, ip: IpAddr) {
    const N: usize = MIB;
    let client = rig.client();
    let (l, addr) = bound(rig, &client, ip, SocketKind::Listen);
    client.listen(l, 16).expect("listen");
    let accepting = client.accept(l);
    assert_pending(
        &accepting,
        "accept before any connection",
        Duration::from_millis(50),
    );
    let stream = TcpStream::connect_timeout(&addr, SHORT).expect("std client connects");
    let done = wait(&accepting, "accept", SHORT);
    let reply = Client::accepted(&done).expect("accept succeeded");
    let h = reply.handle;
    assert_eq!(
        reply.remote.to_socket_addr(),
        Some(stream.local_addr().expect("addr"))
    );
    assert_eq!(reply.local.to_socket_addr(), Some(addr));
    if !rig.is_wine() {
        assert_eq!(
            client.address(h, AddressWhich::Peer).ok(),
            stream.local_addr().ok()
        );
    }
    // Closing the listener cancels the accept still pending on it, and leaves the accepted
    // connection alone.
    let second = client.accept(l);
    assert_pending(&second, "second accept", Duration::from_millis(20));
    ops::close(&client, l, CloseMode::Default, true);
    assert_eq!(
        wait(&second, "accept at close", SHORT).status,
        NtStatus::STATUS_CANCELLED
    );
    let mut conn = Conn::from_stream(stream);
    conn.assert_silent(Duration::from_millis(50));
    // std → engine.
    conn.write_all(&pattern::bytes(0, N));
    let got = ops::receive_exact(&client, h, N, SHORT);
    assert_eq!(pattern::first_mismatch(0, &got), None);
    // engine → std.
    let sends = post_sends(&client, h, N, 4);
    assert_eq!(pattern::first_mismatch(0, &conn.read_exact(N, SHORT)), None);
    assert!(wait_sends(&sends, SHORT).failures.is_empty());
    // std's FIN: the engine reads 0 bytes with success.
    conn.shutdown_write();
    let fin = wait(&client.receive(h, 64), "receive of the peer's FIN", SHORT);
    assert_eq!((fin.status, fin.info), (NtStatus::STATUS_SUCCESS, 0));
    assert_torn_down(
        rig,
        &ops::close(&client, h, CloseMode::Default, true),
        Disconnect::Graceful,
    );
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
    // Nobody listens any more.
    assert!(
        TcpStream::connect_timeout(&addr, SHORT).is_err(),
        "the listener is closed"
    );
}

#[test]
fn listen_and_accept_std_client_data_both_ways() {
    run(Profile::Windows, LIMIT, |rig| listen_accept(rig, V4));
}

/// Wine: the same, except that the listener cannot report its own address (STATUS_NOT_IMPLEMENTED).
#[test]
fn listen_and_accept_std_client_data_both_ways_under_wine() {
    run(Profile::Wine8, LIMIT, |rig| listen_accept(rig, V4));
}

// ---------------------------------------------------------------------------------------------
// IPv6 loopback: connect, 4 MiB, graceful close → all of it then FIN; abortive → RST (Wine: FIN);
// listen/accept on [::1].

fn ipv6_connect(rig: &Rig) {
    const TOTAL: usize = 4 * MIB;
    let client = rig.client();
    let peer = Listener::on(SocketAddr::new(V6, 0));
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    if !rig.is_wine() {
        assert_eq!(client.address(h, AddressWhich::Peer), Ok(peer.addr()));
        assert_eq!(
            client.address(h, AddressWhich::Local).ok(),
            conn.stream().peer_addr().ok()
        );
    }
    let sends = post_sends(&client, h, TOTAL, 8);
    let closed = ops::close(&client, h, CloseMode::Graceful, false);
    assert!(closed.last_reference);
    assert_report(&conn.drain(LONG), TOTAL as u64, &End::Fin);
    assert!(wait_sends(&sends, SHORT).failures.is_empty());

    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 8);
    assert_torn_down(
        rig,
        &ops::close(&client, h, CloseMode::Abortive, true),
        Disconnect::Abortive,
    );
    wait_sends(&sends, SHORT); // each completes (success or not) once the teardown ended
    let r = conn.drain(SHORT);
    assert_eq!(r.first_mismatch, None, "{r:?}");
    assert!(r.bytes <= TOTAL as u64, "{r:?}");
    // Wine has no abortive disconnect: WskCloseSocket ends the connection with FIN.
    let expected = if rig.is_wine() { End::Fin } else { End::Reset };
    assert_eq!(r.end, expected, "{r:?}");
}

#[test]
fn ipv6_loopback_graceful_fin_and_abortive_rst() {
    run(Profile::Windows, LIMIT, ipv6_connect);
}

#[test]
fn ipv6_loopback_graceful_fin_and_abortive_rst_under_wine() {
    run(Profile::Wine8, LIMIT, ipv6_connect);
}

#[test]
fn ipv6_loopback_listen_and_accept() {
    run(Profile::Windows, LIMIT, |rig| listen_accept(rig, V6));
}

#[test]
fn ipv6_loopback_listen_and_accept_under_wine() {
    run(Profile::Wine8, LIMIT, |rig| listen_accept(rig, V6));
}

// ---------------------------------------------------------------------------------------------
// UDP: send_to / receive_from with a std UdpSocket peer; a receive_from pending at close is
// cancelled. Wine has no datagram sockets: SOCKET fails cleanly and the client keeps working.

fn udp(rig: &Rig, ip: IpAddr) {
    let client = rig.client();
    let (u, local) = bound(rig, &client, ip, SocketKind::Datagram);
    let peer = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("std UDP peer");
    peer.set_read_timeout(Some(SHORT)).expect("timeout");
    let peer_addr = peer.local_addr().expect("addr");
    let mut buf = [0u8; 4096];
    // Two datagrams keep their boundaries.
    for (i, len) in [(0, 5usize), (1, 1000)] {
        let data = pattern::bytes(i * 7, len);
        let c = wait(&client.send_to(u, data.clone(), peer_addr), "send_to", SHORT);
        assert_eq!((c.status, c.info), (NtStatus::STATUS_SUCCESS, len));
        let (n, from) = peer.recv_from(&mut buf).expect("the peer receives the datagram");
        assert_eq!(from, local);
        assert_eq!(&buf[..n], &data[..]);
    }
    // Peer → engine.
    let receiving = client.receive_from(u, 64);
    peer.send_to(b"reply", local).expect("peer send_to");
    let c = wait(&receiving, "receive_from", SHORT);
    assert_eq!(
        Client::received_from(&c).expect("receive_from"),
        (peer_addr, b"reply".to_vec())
    );
    // Pending at close → cancelled; the handle is gone.
    let pending = client.receive_from(u, 64);
    assert_pending(&pending, "receive_from", Duration::from_millis(50));
    let closed = ops::close(&client, u, CloseMode::Default, true);
    assert_torn_down(rig, &closed, Disconnect::None);
    assert_eq!(
        wait(&pending, "receive_from at close", SHORT).status,
        NtStatus::STATUS_CANCELLED
    );
    let after = wait(&client.send_to(u, b"x".to_vec(), peer_addr), "send_to", SHORT);
    assert_eq!(after.status, NtStatus::STATUS_INVALID_HANDLE);
    // Nothing more reached the peer.
    peer.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    assert!(peer.recv_from(&mut buf).is_err(), "no datagram after the close");
}

#[test]
fn udp_send_to_and_receive_from_with_std_peer() {
    run(Profile::Windows, LIMIT, |rig| udp(rig, V4));
}

#[test]
fn udp_ipv6_send_to_and_receive_from_with_std_peer() {
    run(Profile::Windows, LIMIT, |rig| udp(rig, V6));
}

#[test]
fn udp_socket_fails_cleanly_under_wine() {
    run(Profile::Wine8, LIMIT, |rig| {
        let client = rig.client();
        for fam in [AF_INET, AF_INET6] {
            let e = client
                .socket(fam, SocketKind::Datagram)
                .expect_err("no datagram sockets on Wine");
            assert_eq!(e.status, NtStatus::STATUS_NOT_IMPLEMENTED);
        }
        // Nothing is left behind and the client still works.
        assert_eq!(rig.device().engine().stats().sockets_alive, 0);
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        let mut conn = peer.accept(SHORT);
        let c = wait(&client.send(h, pattern::bytes(0, 1000)), "send", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
        ops::close(&client, h, CloseMode::Default, true);
        assert_report(&conn.drain(SHORT), 1000, &End::Fin);
    });
}

// ---------------------------------------------------------------------------------------------
// Closing a listener while a connection arrives: the pending accept either succeeds (and the
// connection works, then ends with FIN) or is cancelled — and then the client is reset. Never a
// connection left open with nobody behind it, never a leaked socket (finish checks).

fn listener_close_race(rig: &Rig) {
    const ROUNDS: usize = 40;
    let client = rig.client();
    let (mut accepted, mut cancelled) = (0, 0);
    for _ in 0..ROUNDS {
        let (l, addr) = bound(rig, &client, V4, SocketKind::Listen);
        let accepting = client.accept(l);
        // The handshake is done (the connection waits in the host backlog or was accepted).
        let stream = TcpStream::connect_timeout(&addr, SHORT).expect("connect");
        ops::close(&client, l, CloseMode::Default, false);
        let c = wait(&accepting, "accept racing the close", SHORT);
        let mut conn = Conn::from_stream(stream);
        match c.status {
            NtStatus::STATUS_SUCCESS => {
                accepted += 1;
                let h = Client::accepted(&c).expect("reply").handle;
                let sent = wait(&client.send(h, b"ok".to_vec()), "send", SHORT);
                assert_eq!(sent.status, NtStatus::STATUS_SUCCESS);
                assert_eq!(conn.read_exact(2, SHORT), b"ok");
                ops::close(&client, h, CloseMode::Default, false);
                assert_eq!(conn.drain(SHORT).end, End::Fin);
            }
            NtStatus::STATUS_CANCELLED => {
                cancelled += 1;
                let end = conn.drain(SHORT).end;
                assert!(matches!(end, End::Reset | End::Fin), "orphan connection: {end:?}");
            }
            s => panic!("accept: {s:?}"),
        }
    }
    assert_eq!(accepted + cancelled, ROUNDS);
}

#[test]
fn listener_close_racing_incoming_connection_leaves_no_orphan() {
    run(Profile::Windows, LIMIT, listener_close_race);
}

#[test]
fn listener_close_racing_incoming_connection_leaves_no_orphan_deferred_completions() {
    wsksock_tests::run_deferred(Profile::Windows, LIMIT, listener_close_race);
}

#[test]
fn listener_close_racing_incoming_connection_leaves_no_orphan_under_wine() {
    run(Profile::Wine8, LIMIT, listener_close_race);
}
