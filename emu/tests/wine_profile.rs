//! The Wine 8 profile reproduces Wine's netio.sys (dlls/netio.sys/netio.c), observed by real peers.
#![allow(clippy::many_single_char_names)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;
use wsksock_abi::msg::DATA_FLAG_WAITALL;
use wsksock_abi::NtStatus;
use wsksock_core::{AddrKind, Family, Provider, SockOpt, SocketKind};
use wsksock_emu::testutil::{completion, with_timeout, Blocking};
use wsksock_emu::{EmuBuffer, HostProvider, Profile, WINE_MAX_PENDING};

fn wine() -> HostProvider {
    HostProvider::with_profile(Profile::Wine8).unwrap()
}

#[test]
fn cancel_does_nothing_and_close_cancels_with_fin() {
    with_timeout(LIMIT, || {
        let p = wine();
        let (s, mut peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        let op = p.receive(&s, EmuBuffer::zeroed(16), 0, done).expect("pending");
        p.cancel(&op);
        recv.assert_pending(Duration::from_millis(200));
        assert_eq!(Blocking::new(&p).close(&s), NtStatus::STATUS_SUCCESS);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        let (rest, err) = read_to_end(&mut peer);
        assert!(rest.is_empty());
        assert!(
            err.is_none(),
            "Wine's closesocket ends with FIN, never RST: {err:?}"
        );
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn close_delivers_queued_data_then_fin() {
    with_timeout(LIMIT, || {
        let p = wine();
        let (s, mut peer) = connected(&p, Family::V4);
        let data = pattern(1 << 20);
        let (done, send) = completion::<HostProvider>();
        p.send(&s, EmuBuffer::from(&data[..]), 0, done);
        assert_eq!(send.status(), NtStatus::STATUS_SUCCESS);
        assert_eq!(Blocking::new(&p).close(&s), NtStatus::STATUS_SUCCESS);
        let (got, err) = read_to_end(&mut peer);
        assert!(err.is_none());
        assert!(got == data);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn stubs_fail_synchronously_with_not_implemented() {
    with_timeout(LIMIT, || {
        let p = wine();
        let (s, _peer) = connected(&p, Family::V4);
        let sync = |call: &dyn Fn(wsksock_core::Completion<HostProvider>) -> Option<wsksock_emu::HostOp>| {
            let (done, w) = completion::<HostProvider>();
            assert!(call(done).is_none(), "nothing left pending");
            w.poll().expect("completed before the call returned").status
        };
        let ni = NtStatus::STATUS_NOT_IMPLEMENTED;
        assert_eq!(sync(&|d| p.disconnect(&s, false, d)), ni);
        assert_eq!(sync(&|d| p.disconnect(&s, true, d)), ni);
        assert_eq!(sync(&|d| p.set_option(&s, SockOpt::NoDelay, 1, d)), ni);
        assert_eq!(sync(&|d| p.get_option(&s, SockOpt::KeepAlive, d)), ni);
        assert_eq!(sync(&|d| p.get_address(&s, AddrKind::Local, d)), ni);
        assert_eq!(sync(&|d| p.get_address(&s, AddrKind::Peer, d)), ni);
        assert_eq!(
            sync(&|d| p.listen(&s, 1, d)),
            ni,
            "no WskListen on stream sockets"
        );
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn no_datagram_sockets() {
    with_timeout(LIMIT, || {
        let p = wine();
        let out = Blocking::new(&p).create(Family::V4, SocketKind::Datagram);
        assert_eq!(out.status, NtStatus::STATUS_NOT_IMPLEMENTED);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn the_eleventh_pending_operation_fails_at_once() {
    with_timeout(LIMIT, || {
        let p = wine();
        let (s, mut peer) = connected(&p, Family::V4);
        let pending: Vec<_> = (0..WINE_MAX_PENDING)
            .map(|_| {
                let (done, w) = completion::<HostProvider>();
                assert!(p.receive(&s, EmuBuffer::zeroed(4), 0, done).is_some());
                w
            })
            .collect();
        let (done, w) = completion::<HostProvider>();
        assert!(p.receive(&s, EmuBuffer::zeroed(4), 0, done).is_none());
        let out = w.poll().expect("failed before the call returned");
        assert_eq!(
            out.status,
            NtStatus::STATUS_UNSUCCESSFUL,
            "as Wine's allocate_pending_io failure"
        );
        assert!(out.buffer.is_some());
        // A completion frees a slot.
        peer.write_all(b"1234").unwrap();
        assert_eq!(pending[0].status(), NtStatus::STATUS_SUCCESS);
        let (done, w) = completion::<HostProvider>();
        assert!(
            p.send(&s, EmuBuffer::from(&b"ok"[..]), 0, done).is_none(),
            "sent at once"
        );
        assert_eq!(w.status(), NtStatus::STATUS_SUCCESS);
        assert_eq!(Blocking::new(&p).close(&s), NtStatus::STATUS_SUCCESS);
        for w in &pending[1..] {
            assert_eq!(w.status(), NtStatus::STATUS_CANCELLED);
        }
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn flags_are_ignored_and_errors_map_as_wine_maps_them() {
    with_timeout(LIMIT, || {
        let p = wine();
        let b = Blocking::new(&p);
        let (s, mut peer) = connected(&p, Family::V4);
        let (done, w) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(10), DATA_FLAG_WAITALL, done);
        peer.write_all(b"abcd").unwrap();
        let out = w.wait();
        assert_eq!(out.buffer.unwrap().filled(out.bytes), b"abcd", "WAITALL ignored");
        b.close(&s);
        let mut rest = Vec::new();
        let _ = peer.read_to_end(&mut rest);

        let in_use = TcpListener::bind(loopback(Family::V4)).unwrap();
        let l = b.socket(Family::V4, SocketKind::Listen);
        assert_eq!(
            b.bind(&l, in_use.local_addr().unwrap()),
            NtStatus::STATUS_ADDRESS_ALREADY_ASSOCIATED
        );
        assert_eq!(b.bind(&l, loopback(Family::V4)), NtStatus::STATUS_SUCCESS);
        assert_eq!(
            b.listen(&l, 5),
            NtStatus::STATUS_SUCCESS,
            "already listening since bind"
        );
        b.close(&l);

        let c = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(
            b.connect(&c, in_use.local_addr().unwrap()),
            NtStatus::STATUS_INVALID_DEVICE_STATE
        );
        b.close(&c);
        p.shutdown_and_assert_clean();
    });
}
