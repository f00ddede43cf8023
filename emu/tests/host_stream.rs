//! WSK stream semantics of the host provider (Windows profile), each observed by a real peer.
#![allow(clippy::many_single_char_names)]

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;
use wsksock_abi::msg::DATA_FLAG_WAITALL;
use wsksock_abi::NtStatus;
use wsksock_core::{Buffer, Family, Provider, SockOpt, SocketKind};
use wsksock_emu::testutil::{completion, with_timeout, Blocking};
use wsksock_emu::{EmuBuffer, HostProvider, HostSocket};

const PENDING: Duration = Duration::from_millis(300);

/// A peer listener whose accepted connections have a tiny receive buffer, so a peer that does
/// not read stops the sender quickly.
fn small_window_listener(f: Family) -> (TcpListener, std::net::SocketAddr) {
    let domain = match f {
        Family::V4 => socket2::Domain::IPV4,
        Family::V6 => socket2::Domain::IPV6,
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.bind(&loopback(f).into()).unwrap();
    s.listen(8).unwrap();
    let l: TcpListener = s.into();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Our socket connected to a peer that does not read yet, with a large send buffer on our side:
/// sends complete (the host accepted the bytes) long before the peer has them.
fn connected_to_slow_reader(p: &HostProvider) -> (HostSocket, TcpStream) {
    let b = Blocking::new(p);
    let (l, addr) = small_window_listener(Family::V4);
    let s = b.socket(Family::V4, SocketKind::Stream);
    assert_eq!(
        b.set_option(&s, SockOpt::SendBuffer, 4 << 20),
        NtStatus::STATUS_SUCCESS
    );
    assert_eq!(b.bind(&s, any(Family::V4)), NtStatus::STATUS_SUCCESS);
    assert_eq!(b.connect(&s, addr), NtStatus::STATUS_SUCCESS);
    let (peer, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (s, peer)
}

#[test]
fn round_trip_v4_and_v6() {
    with_timeout(LIMIT, || {
        for f in [Family::V4, Family::V6] {
            let p = HostProvider::new().unwrap();
            let b = Blocking::new(&p);
            let (s, mut peer) = connected(&p, f);
            assert_eq!(b.send(&s, b"ping").bytes, 4);
            let mut got = [0; 4];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            peer.write_all(b"pong").unwrap();
            assert_eq!(b.receive(&s, 64, 0).unwrap(), b"pong");
            assert_eq!(b.disconnect(&s, false), NtStatus::STATUS_SUCCESS);
            assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
            p.shutdown_and_assert_clean();
        }
    });
}

#[test]
fn send_gives_back_the_same_buffer_without_copying() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let data = pattern(100_000);
        let ptr = data.as_ptr();
        let (done, w) = completion::<HostProvider>();
        p.send(&s, EmuBuffer::new(data), 0, done);
        let mut got = vec![0; 100_000];
        peer.read_exact(&mut got).unwrap();
        let out = w.wait();
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        assert_eq!(out.bytes, 100_000);
        let buf = out.buffer.expect("buffer back");
        assert_eq!(
            buf.as_slice().as_ptr(),
            ptr,
            "the buffer handed back is the one handed in"
        );
        assert_eq!(got, buf.into_vec());
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn pipelined_sends_and_receives_keep_order() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let total = 8 << 20;
        let data = pattern(total);
        // Our sends, all issued before any completes.
        let waiters: Vec<_> = data
            .chunks(256 << 10)
            .map(|c| {
                let (done, w) = completion::<HostProvider>();
                p.send(&s, EmuBuffer::from(c), 0, done);
                w
            })
            .collect();
        let reader = std::thread::spawn(move || {
            let mut got = vec![0; total];
            peer.read_exact(&mut got).unwrap();
            (got, peer)
        });
        for w in waiters {
            let out = w.wait();
            assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
            assert_eq!(out.bytes, 256 << 10);
        }
        let (got, mut peer) = reader.join().unwrap();
        assert!(got == data, "peer received the bytes in order");

        // The other way: several receives pending at once fill in issue order.
        let writer = std::thread::spawn(move || {
            peer.write_all(&pattern(total)).unwrap();
            peer
        });
        let mut received = Vec::new();
        while received.len() < total {
            let ws: Vec<_> = (0..4)
                .map(|_| {
                    let (done, w) = completion::<HostProvider>();
                    p.receive(&s, EmuBuffer::zeroed(64 << 10), DATA_FLAG_WAITALL, done);
                    w
                })
                .collect();
            for w in ws {
                let out = w.wait();
                assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
                received.extend_from_slice(out.buffer.unwrap().filled(out.bytes));
            }
        }
        assert!(received == data, "receives completed in order");
        drop(writer.join().unwrap());
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn graceful_disconnect_delivers_everything_then_fin() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let data = pattern(4 << 20);
        let sends: Vec<_> = data
            .chunks(1 << 20)
            .map(|c| {
                let (done, w) = completion::<HostProvider>();
                p.send(&s, EmuBuffer::from(c), 0, done);
                w
            })
            .collect();
        // Disconnect right away: it must wait for the sends, then FIN.
        let (done, disc) = completion::<HostProvider>();
        p.disconnect(&s, false, done);
        let (got, err) = read_to_end(&mut peer);
        assert!(err.is_none(), "no reset: {err:?}");
        assert!(
            got == data,
            "all data then EOF ({} of {} bytes)",
            got.len(),
            data.len()
        );
        for w in sends {
            assert_eq!(w.status(), NtStatus::STATUS_SUCCESS);
        }
        assert_eq!(disc.status(), NtStatus::STATUS_SUCCESS);
        // Sending after the disconnect is refused.
        assert_eq!(
            Blocking::new(&p).send(&s, b"late").status,
            NtStatus::STATUS_INVALID_DEVICE_STATE
        );
        // Receiving still works (half close): the peer's FIN reads as 0 bytes.
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(Blocking::new(&p).receive(&s, 16, 0).unwrap(), b"");
        assert_eq!(Blocking::new(&p).close(&s), NtStatus::STATUS_SUCCESS);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn graceful_disconnect_stays_pending_while_the_peer_does_not_read() {
    each_mode(|p| {
        let (s, mut peer) = connected_to_slow_reader(&p);
        let data = pattern(1 << 20);
        let (done, send) = completion::<HostProvider>();
        p.send(&s, EmuBuffer::from(&data[..]), 0, done);
        // The host took every byte: the send completes although the peer read nothing.
        assert_eq!(send.status(), NtStatus::STATUS_SUCCESS);
        let (done, disc) = completion::<HostProvider>();
        p.disconnect(&s, false, done);
        disc.assert_pending(PENDING);
        // The peer reads: the FIN goes out, is acknowledged, the disconnect completes.
        let (got, err) = read_to_end(&mut peer);
        assert!(err.is_none());
        assert!(got == data);
        assert_eq!(disc.status(), NtStatus::STATUS_SUCCESS);
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn close_forces_a_pending_graceful_disconnect_and_resets() {
    each_mode(|p| {
        let (s, mut peer) = connected_to_slow_reader(&p);
        let (done, send) = completion::<HostProvider>();
        p.send(&s, EmuBuffer::new(pattern(1 << 20)), 0, done);
        assert_eq!(send.status(), NtStatus::STATUS_SUCCESS);
        let (done, disc) = completion::<HostProvider>();
        p.disconnect(&s, false, done);
        disc.assert_pending(PENDING);
        // The linger timeout: close while the disconnect is stuck.
        assert_eq!(Blocking::new(&p).close(&s), NtStatus::STATUS_SUCCESS);
        assert_eq!(disc.status(), NtStatus::STATUS_CANCELLED);
        let (_, err) = read_to_end(&mut peer);
        assert_eq!(
            err.map(|e| e.kind()),
            Some(ErrorKind::ConnectionReset),
            "the peer sees RST"
        );
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn abortive_disconnect_resets_and_completes_pending_operations() {
    each_mode(|p| {
        let b = Blocking::new(&p);
        let (s, mut peer) = connected(&p, Family::V6);
        let (done, recv) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(64), 0, done);
        recv.assert_pending(Duration::from_millis(50));
        assert_eq!(b.disconnect(&s, true), NtStatus::STATUS_SUCCESS);
        let out = recv.wait();
        assert_eq!(out.status, NtStatus::STATUS_CONNECTION_ABORTED);
        assert_eq!(out.buffer.map(|b| b.len()), Some(64), "buffer given back");
        let mut buf = [0; 8];
        assert_eq!(
            peer.read(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::ConnectionReset)
        );
        assert_eq!(b.send(&s, b"x").status, NtStatus::STATUS_CONNECTION_ABORTED);
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn close_cancels_a_pending_receive_and_resets_an_undisconnected_connection() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(64), 0, done);
        recv.assert_pending(Duration::from_millis(50));
        // Close from another thread while the receive pends on this one.
        let p2 = p.clone();
        let closer = std::thread::spawn(move || Blocking::new(&p2).close(&s));
        let out = recv.wait();
        assert_eq!(out.status, NtStatus::STATUS_CANCELLED);
        assert_eq!(out.bytes, 0);
        assert!(out.buffer.is_some());
        assert_eq!(closer.join().unwrap(), NtStatus::STATUS_SUCCESS);
        let (_, err) = read_to_end(&mut peer);
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn cancel_completes_a_pending_receive_and_the_socket_goes_on() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        let op = p.receive(&s, EmuBuffer::zeroed(64), 0, done).expect("pending");
        recv.assert_pending(Duration::from_millis(50));
        p.cancel(&op);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        // Cancelling again, after completion, does nothing.
        p.cancel(&op);
        peer.write_all(b"after").unwrap();
        assert_eq!(Blocking::new(&p).receive(&s, 64, 0).unwrap(), b"after");
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn cancel_of_a_receive_holding_data_completes_it_with_the_data() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        let op = p
            .receive(&s, EmuBuffer::zeroed(10), DATA_FLAG_WAITALL, done)
            .expect("pending");
        peer.write_all(b"abcd").unwrap();
        recv.assert_pending(Duration::from_millis(100));
        p.cancel(&op);
        let out = recv.wait();
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        assert_eq!(out.buffer.unwrap().filled(out.bytes), b"abcd");
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn receive_reports_the_peers_fin_as_zero_bytes_and_its_reset_as_connection_reset() {
    each_mode(|p| {
        let b = Blocking::new(&p);
        let (s, peer) = connected(&p, Family::V4);
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(b.receive(&s, 16, 0).unwrap(), b"");
        assert_eq!(b.receive(&s, 16, 0).unwrap(), b"", "and again");
        b.close(&s);

        let (s, peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(16), 0, done);
        let (done, recv2) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(16), 0, done);
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer);
        assert_eq!(recv.status(), NtStatus::STATUS_CONNECTION_RESET);
        assert_eq!(
            recv2.status(),
            NtStatus::STATUS_CONNECTION_RESET,
            "a reset, not a FIN"
        );
        assert_eq!(
            b.send(&s, b"x").status,
            NtStatus::STATUS_CONNECTION_RESET,
            "the reset sticks"
        );
        assert_eq!(b.receive(&s, 16, 0), Err(NtStatus::STATUS_CONNECTION_RESET));
        b.close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn connect_errors_map_to_wsk_statuses() {
    each_mode(|p| {
        let b = Blocking::new(&p);
        // A port bound but not listening: held for the whole test (no one else gets it), and a
        // connect to it is refused.
        let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        holder.bind(&loopback(Family::V4).into()).unwrap();
        let closed_port = holder.local_addr().unwrap().as_socket().unwrap();
        let s = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(
            b.connect(&s, closed_port),
            NtStatus::STATUS_INVALID_DEVICE_STATE,
            "bind first"
        );
        assert_eq!(b.bind(&s, any(Family::V4)), NtStatus::STATUS_SUCCESS);
        assert_eq!(
            b.bind(&s, any(Family::V4)),
            NtStatus::STATUS_ADDRESS_ALREADY_ASSOCIATED,
            "bound twice"
        );
        assert_eq!(b.connect(&s, closed_port), NtStatus::STATUS_CONNECTION_REFUSED);
        assert_eq!(
            b.receive(&s, 4, 0),
            Err(NtStatus::STATUS_INVALID_DEVICE_STATE),
            "not connected"
        );
        b.close(&s);

        let (l, in_use) = peer_listener(Family::V4);
        let s = b.socket(Family::V4, SocketKind::Listen);
        assert_eq!(b.bind(&s, in_use), NtStatus::STATUS_ADDRESS_ALREADY_EXISTS);
        assert_eq!(
            b.bind(&s, loopback(Family::V6)),
            NtStatus::STATUS_INVALID_PARAMETER,
            "wrong family"
        );
        b.close(&s);
        drop(l);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn listen_accept_and_talk_v4_and_v6() {
    with_timeout(LIMIT, || {
        for f in [Family::V4, Family::V6] {
            let p = HostProvider::new().unwrap();
            let b = Blocking::new(&p);
            let (l, addr) = listening(&p, f);
            let (done, acc) = completion::<HostProvider>();
            p.accept(&l, done).expect("pending until a peer connects");
            acc.assert_pending(Duration::from_millis(50));
            let mut client = TcpStream::connect(addr).unwrap();
            let out = acc.wait();
            assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
            let wsksock_core::OpValue::Accepted {
                socket,
                local,
                remote,
            } = out.value
            else {
                panic!("no socket")
            };
            assert_eq!(local, addr);
            assert_eq!(remote, client.local_addr().unwrap());
            client.write_all(b"hi").unwrap();
            assert_eq!(b.receive(&socket, 8, 0).unwrap(), b"hi");
            assert_eq!(b.disconnect(&socket, false), NtStatus::STATUS_SUCCESS);
            let (rest, err) = read_to_end(&mut client);
            assert!(rest.is_empty() && err.is_none());
            assert_eq!(b.close(&socket), NtStatus::STATUS_SUCCESS);
            assert_eq!(b.close(&l), NtStatus::STATUS_SUCCESS);
            p.shutdown_and_assert_clean();
        }
    });
}

#[test]
fn listen_on_a_stream_socket_then_accept() {
    each_mode(|p| {
        let b = Blocking::new(&p);
        let s = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(
            b.listen(&s, 4),
            NtStatus::STATUS_INVALID_DEVICE_STATE,
            "bind first"
        );
        assert_eq!(b.bind(&s, loopback(Family::V4)), NtStatus::STATUS_SUCCESS);
        assert_eq!(b.listen(&s, 4), NtStatus::STATUS_SUCCESS);
        let wsksock_core::OpValue::Address(addr) = b.get_address(&s, wsksock_core::AddrKind::Local).value
        else {
            panic!()
        };
        let _client = TcpStream::connect(addr).unwrap();
        let out = b.accept(&s);
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        let acc = wsksock_emu::testutil::socket_of(out);
        b.close(&acc);
        b.close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn a_pending_accept_is_cancelled_by_closing_the_listener() {
    each_mode(|p| {
        let (l, _) = listening(&p, Family::V4);
        let (done, acc) = completion::<HostProvider>();
        p.accept(&l, done);
        acc.assert_pending(Duration::from_millis(50));
        assert_eq!(Blocking::new(&p).close(&l), NtStatus::STATUS_SUCCESS);
        let out = acc.wait();
        assert_eq!(out.status, NtStatus::STATUS_CANCELLED);
        assert_eq!(out.bytes, 0);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn inject_reset_looks_like_a_reset_from_the_peer() {
    each_mode(|p| {
        let (s, mut peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(16), 0, done);
        assert!(p.inject_reset(&s));
        assert_eq!(recv.status(), NtStatus::STATUS_CONNECTION_RESET);
        assert_eq!(
            Blocking::new(&p).send(&s, b"x").status,
            NtStatus::STATUS_CONNECTION_RESET
        );
        let mut buf = [0; 4];
        assert_eq!(
            peer.read(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::ConnectionReset)
        );
        assert!(!p.inject_reset(&s), "only once");
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}
