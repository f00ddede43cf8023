//! Host provider: datagrams, options, addresses, name resolution, timers, deferred completions
//! and teardown.
#![allow(clippy::many_single_char_names)]

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{
    AddrKind, Completion, CompletionSink, Family, OpOutput, OpValue, Provider, SockOpt, SocketKind,
};
use wsksock_emu::testutil::{completion, with_timeout, Blocking};
use wsksock_emu::{CompletionMode, Config, EmuBuffer, HostProvider, ViolationKind};

#[test]
fn datagrams_v4_and_v6() {
    with_timeout(LIMIT, || {
        for f in [Family::V4, Family::V6] {
            let p = HostProvider::new().unwrap();
            let b = Blocking::new(&p);
            let s = b.socket(f, SocketKind::Datagram);
            let peer = UdpSocket::bind(loopback(f)).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let to = peer.local_addr().unwrap();
            assert_eq!(
                b.send_to(&s, b"early", to).status,
                NtStatus::STATUS_INVALID_DEVICE_STATE,
                "bind first"
            );
            assert_eq!(b.bind(&s, loopback(f)), NtStatus::STATUS_SUCCESS);
            let OpValue::Address(me) = b.get_address(&s, AddrKind::Local).value else {
                panic!()
            };

            let out = b.send_to(&s, b"dgram", to);
            assert_eq!((out.status, out.bytes), (NtStatus::STATUS_SUCCESS, 5));
            let mut buf = [0; 64];
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"dgram"[..], me));

            // A receive pending before the datagram arrives.
            let (done, w) = completion::<HostProvider>();
            p.receive_from(&s, EmuBuffer::zeroed(64), done);
            w.assert_pending(Duration::from_millis(50));
            peer.send_to(b"reply", me).unwrap();
            let out = w.wait();
            assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
            assert_eq!(out.value_address(), Some(to));
            assert_eq!(out.buffer.unwrap().filled(out.bytes), b"reply");

            // Data calls of a stream socket are not in a datagram socket's table.
            assert_eq!(b.send(&s, b"x").status, NtStatus::STATUS_NOT_SUPPORTED);
            let v = p.checker().take_violations();
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].kind, ViolationKind::WrongSocketKind);
            assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
            p.shutdown_and_assert_clean();
        }
    });
}

trait ValueAddress {
    fn value_address(&self) -> Option<SocketAddr>;
}

impl ValueAddress for OpOutput<HostProvider> {
    fn value_address(&self) -> Option<SocketAddr> {
        match self.value {
            OpValue::Address(a) => Some(a),
            _ => None,
        }
    }
}

#[test]
fn options_reach_the_host_socket() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let get = |s, o| {
            let out = b.get_option(s, o);
            assert_eq!(out.status, NtStatus::STATUS_SUCCESS, "{o:?}");
            let OpValue::Value(v) = out.value else {
                panic!("no value")
            };
            v
        };
        let s = b.socket(Family::V6, SocketKind::Stream);
        assert_eq!(get(&s, SockOpt::Ipv6Only), 1, "Windows' default");
        assert_eq!(b.set_option(&s, SockOpt::Ipv6Only, 0), NtStatus::STATUS_SUCCESS);
        assert_eq!(get(&s, SockOpt::Ipv6Only), 0);
        for (o, v) in [(SockOpt::NoDelay, 1), (SockOpt::KeepAlive, 1)] {
            assert_eq!(get(&s, o), 0, "{o:?} off by default");
            assert_eq!(b.set_option(&s, o, v), NtStatus::STATUS_SUCCESS);
            assert_eq!(get(&s, o), v);
        }
        assert_eq!(
            b.set_option(&s, SockOpt::ReceiveBuffer, 1 << 16),
            NtStatus::STATUS_SUCCESS
        );
        assert!(get(&s, SockOpt::ReceiveBuffer) >= 1 << 16);
        assert_eq!(
            b.set_option(&s, SockOpt::SendBuffer, 1 << 16),
            NtStatus::STATUS_SUCCESS
        );
        assert!(get(&s, SockOpt::SendBuffer) >= 1 << 16);
        assert_eq!(b.bind(&s, loopback(Family::V6)), NtStatus::STATUS_SUCCESS);
        assert_eq!(
            b.set_option(&s, SockOpt::Ipv6Only, 1),
            NtStatus::STATUS_INVALID_DEVICE_STATE,
            "after bind"
        );
        b.close(&s);

        let s = b.socket(Family::V4, SocketKind::Datagram);
        assert_eq!(
            b.set_option(&s, SockOpt::Ipv6Only, 1),
            NtStatus::STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            b.set_option(&s, SockOpt::NoDelay, 1),
            NtStatus::STATUS_INVALID_PARAMETER
        );
        b.close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn local_and_peer_addresses() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let s = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(
            b.get_address(&s, AddrKind::Local).status,
            NtStatus::STATUS_INVALID_DEVICE_STATE,
            "unbound"
        );
        b.close(&s);
        let (s, peer) = connected(&p, Family::V4);
        assert_eq!(
            b.get_address(&s, AddrKind::Local).value_address(),
            Some(peer.peer_addr().unwrap())
        );
        assert_eq!(
            b.get_address(&s, AddrKind::Peer).value_address(),
            Some(peer.local_addr().unwrap())
        );
        b.close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn name_resolution() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let out = b.resolve("127.0.0.1", None, 12345);
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        let OpValue::Addresses(v) = out.value else {
            panic!()
        };
        assert_eq!(v, vec![SocketAddr::from(([127, 0, 0, 1], 12345))]);

        let out = b.resolve("localhost", Some(Family::V4), 80);
        let OpValue::Addresses(v) = out.value else {
            panic!("{:?}", out.status)
        };
        assert!(v.iter().all(SocketAddr::is_ipv4) && !v.is_empty());

        assert_eq!(
            b.resolve("127.0.0.1", Some(Family::V6), 1).status,
            NtStatus::STATUS_NOT_FOUND
        );
        assert_eq!(b.resolve("dead.beef", None, 1).status, NtStatus::STATUS_NOT_FOUND);

        // Nothing to resolve: refused before anything pends.
        let (done, w) = completion::<HostProvider>();
        assert!(p.resolve("", None, 1, done).is_none());
        assert_eq!(
            w.poll().map(|o| o.status),
            Some(NtStatus::STATUS_INVALID_PARAMETER)
        );
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn timers_fire_once_and_cancel_tells_the_truth() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let (tx, rx) = mpsc::channel();
        let t = p
            .new_timer(Box::new(move |cookie| tx.send(cookie).unwrap()))
            .unwrap();
        p.arm_timer(&t, 20, 77);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).expect("timer fired"), 77);
        assert!(!p.cancel_timer(&t), "already ran");

        let ran = Arc::new(AtomicU64::new(0));
        let r2 = Arc::clone(&ran);
        let t = p
            .new_timer(Box::new(move |cookie| r2.store(cookie, Ordering::SeqCst)))
            .unwrap();
        assert!(p.cancel_timer(&t), "never armed: it will not run");
        p.arm_timer(&t, 50, 1);
        assert!(p.cancel_timer(&t));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled timer does not run");
        // Cancelled, it can be armed again; only the new arming fires.
        p.arm_timer(&t, 10, 2);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while ran.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            ran.load(Ordering::SeqCst),
            2,
            "re-armed, it fired with its new cookie"
        );
        assert!(!p.cancel_timer(&t), "already ran");

        // Timers fire in deadline order.
        let (tx, rx) = mpsc::channel();
        let mut keep = Vec::new();
        for d in [60u64, 10, 30] {
            let tx = tx.clone();
            let t = p.new_timer(Box::new(move |_| tx.send(d).unwrap())).unwrap();
            p.arm_timer(&t, d, 0);
            keep.push(t);
        }
        let order: Vec<u64> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(order, [10, 30, 60]);
        p.shutdown_and_assert_clean();
    });
}

/// Records the thread a completion ran on.
struct ThreadSink(mpsc::Sender<(std::thread::ThreadId, NtStatus)>);

impl CompletionSink<HostProvider> for ThreadSink {
    fn complete(self: Box<Self>, output: OpOutput<HostProvider>) {
        let _ = self.0.send((std::thread::current().id(), output.status));
    }
}

#[test]
fn deferred_mode_completes_everything_on_the_event_loop() {
    with_timeout(LIMIT, || {
        let p = HostProvider::with_config(Config::default().completions(CompletionMode::Deferred)).unwrap();
        let b = Blocking::new(&p);
        let (s, mut peer) = connected(&p, Family::V4);
        let (tx, rx) = mpsc::channel();
        let op = p.send(
            &s,
            EmuBuffer::from(&b"deferred"[..]),
            0,
            Completion::new(Box::new(ThreadSink(tx))),
        );
        assert!(op.is_some(), "nothing completes before the call returns");
        let (thread, st) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(st, NtStatus::STATUS_SUCCESS);
        assert_ne!(thread, std::thread::current().id());
        let mut got = [0; 8];
        std::io::Read::read_exact(&mut peer, &mut got).unwrap();
        assert_eq!(&got, b"deferred");

        // Cancel goes behind the call it cancels.
        let (done, w) = completion::<HostProvider>();
        let op = p.receive(&s, EmuBuffer::zeroed(8), 0, done).unwrap();
        p.cancel(&op);
        assert_eq!(w.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(b.disconnect(&s, false), NtStatus::STATUS_SUCCESS);
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn completions_may_call_back_into_the_provider() {
    // A completion that issues the next receive, from inside the provider's own callbacks:
    // no deadlock, no unbounded recursion, every byte arrives in order.
    with_timeout(LIMIT, || {
        struct Chain {
            p: HostProvider,
            s: wsksock_emu::HostSocket,
            got: Arc<parking_lot::Mutex<Vec<u8>>>,
            left: Arc<AtomicUsize>,
            fin: mpsc::Sender<()>,
        }
        impl CompletionSink<HostProvider> for Chain {
            fn complete(self: Box<Self>, out: OpOutput<HostProvider>) {
                assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
                let buf = out.buffer.unwrap();
                self.got.lock().extend_from_slice(buf.filled(out.bytes));
                if out.bytes == 0 || self.left.fetch_sub(out.bytes, Ordering::SeqCst) == out.bytes {
                    let _ = self.fin.send(());
                    return;
                }
                let (p, s) = (self.p.clone(), self.s.clone());
                p.receive(&s, EmuBuffer::zeroed(7), 0, Completion::new(self));
            }
        }
        let p = HostProvider::new().unwrap();
        let (s, mut peer) = connected(&p, Family::V4);
        let data = pattern(200_000);
        let got = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (fin, done) = mpsc::channel();
        let chain = Chain {
            p: p.clone(),
            s: s.clone(),
            got: Arc::clone(&got),
            left: Arc::new(AtomicUsize::new(data.len())),
            fin,
        };
        p.receive(&s, EmuBuffer::zeroed(7), 0, Completion::new(Box::new(chain)));
        std::io::Write::write_all(&mut peer, &data).unwrap();
        done.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(*got.lock() == data);
        // The last completion ran inside nested receive calls: close only once they returned.
        while p.checker().calls_in_progress(s.id()) > 0 {
            std::thread::yield_now();
        }
        Blocking::new(&p).close(&s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn teardown_cancels_and_reports_what_is_left() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let (s, _peer) = connected(&p, Family::V4);
        let (done, recv) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(8), 0, done);
        let checker = p.checker();
        p.shutdown();
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED, "completed, not leaked");
        let kinds: Vec<ViolationKind> = checker.take_violations().iter().map(|v| v.kind).collect();
        assert_eq!(
            kinds,
            [ViolationKind::LeakedOperation, ViolationKind::LeakedSocket]
        );
        // After teardown every call is refused (and recorded).
        assert_eq!(
            Blocking::new(&p).send(&s, b"x").status,
            NtStatus::STATUS_DEVICE_NOT_READY
        );
        assert_eq!(
            checker.take_violations()[0].kind,
            ViolationKind::CallAfterTeardown
        );
    });
}
