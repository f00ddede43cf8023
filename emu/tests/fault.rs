//! Seeded fault injection: the k-th call fails, completions are delayed and reordered, peers
//! reset, and the same seed gives the same faults.
#![allow(clippy::many_single_char_names)]

mod common;

use common::*;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, CompletionSink, Family, OpOutput, Provider, SockOpt, SocketKind};
use wsksock_emu::testutil::{completion, with_timeout, Blocking};
use wsksock_emu::{
    Call, EmuBuffer, FaultAction, FaultEvent, FaultInjector, FaultPlan, FaultSocket, HostProvider, HostSocket,
};

type Fi = FaultInjector<HostProvider>;

/// A socket of the injector connected to a real peer.
fn connected_through(fi: &Fi) -> (FaultSocket<HostSocket>, TcpStream) {
    let b = Blocking::new(fi);
    let (l, addr) = peer_listener(Family::V4);
    let s = b.socket(Family::V4, SocketKind::Stream);
    assert_eq!(b.bind(&s, any(Family::V4)), NtStatus::STATUS_SUCCESS);
    assert_eq!(b.connect(&s, addr), NtStatus::STATUS_SUCCESS);
    let (peer, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (s, peer)
}

#[test]
fn the_kth_call_fails_with_the_chosen_status() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let plan = FaultPlan::new(1).fail_nth_of(Call::Send, 2, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        let fi = FaultInjector::new(host.clone(), plan);
        let b = Blocking::new(&fi);
        let (s, mut peer) = connected_through(&fi);
        assert_eq!(b.send(&s, b"one.").status, NtStatus::STATUS_SUCCESS);
        let (done, w) = completion::<Fi>();
        assert!(fi.send(&s, EmuBuffer::from(&b"two."[..]), 0, done).is_none());
        let out = w.poll().expect("failed before the call returned");
        assert_eq!(out.status, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        assert_eq!(
            out.buffer.map(EmuBuffer::into_vec),
            Some(b"two.".to_vec()),
            "buffer given back"
        );
        assert_eq!(b.send(&s, b"three").status, NtStatus::STATUS_SUCCESS);
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        let (got, _) = read_to_end(&mut peer);
        assert_eq!(got, b"one.three", "the failed send never reached the wire");
        let ev = fi.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].call, Call::Send);
        assert_eq!(
            ev[0].action,
            FaultAction::Fail(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
        );
        drop(fi);
        host.shutdown_and_assert_clean();
    });
}

#[test]
fn a_failed_close_still_closes_the_inner_socket() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        // Call 1 is the create, call 2 the close.
        let fi = FaultInjector::new(
            host.clone(),
            FaultPlan::new(2).fail_nth(2, NtStatus::STATUS_UNSUCCESSFUL),
        );
        let b = Blocking::new(&fi);
        let s = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(b.close(&s), NtStatus::STATUS_UNSUCCESSFUL);
        drop(fi);
        host.shutdown_and_assert_clean();
    });
}

struct Order(mpsc::Sender<(usize, std::thread::ThreadId)>, usize);

impl CompletionSink<Fi> for Order {
    fn complete(self: Box<Self>, out: OpOutput<Fi>) {
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        let _ = self.0.send((self.1, std::thread::current().id()));
    }
}

#[test]
fn completions_are_delayed_and_reordered() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let fi = FaultInjector::new(
            host.clone(),
            FaultPlan::new(42).delay(1_000_000, Duration::from_millis(40)),
        );
        let s = Blocking::new(&fi).socket(Family::V4, SocketKind::Stream);
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            fi.get_option(
                &s,
                SockOpt::NoDelay,
                Completion::new(Box::new(Order(tx.clone(), i))),
            );
        }
        let got: Vec<(usize, std::thread::ThreadId)> = (0..20)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        let order: Vec<usize> = got.iter().map(|g| g.0).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..20).collect::<Vec<_>>(),
            "every completion arrives once"
        );
        assert_ne!(order, sorted, "some arrive out of order");
        assert!(
            got.iter().all(|g| g.1 != std::thread::current().id()),
            "late, on another thread"
        );
        assert!(
            fi.events()
                .iter()
                .filter(|e| matches!(e.action, FaultAction::Delay(_)))
                .count()
                >= 20
        );
        Blocking::new(&fi).close(&s);
        drop(fi);
        host.shutdown_and_assert_clean();
    });
}

/// Runs the same calls through an injector with `seed` and returns its fault log.
fn run_with_seed(seed: u64) -> Vec<FaultEvent> {
    let host = HostProvider::new().unwrap();
    let plan = FaultPlan::new(seed)
        .fail_randomly(300_000, NtStatus::STATUS_INSUFFICIENT_RESOURCES)
        .delay(300_000, Duration::from_millis(5));
    let fi = FaultInjector::new(host.clone(), plan);
    let b = Blocking::new(&fi);
    let sockets: Vec<_> = (0..10)
        .filter_map(|_| {
            let out = b.create(Family::V4, SocketKind::Datagram);
            out.status
                .is_success()
                .then(|| wsksock_emu::testutil::socket_of(out))
        })
        .collect();
    for s in &sockets {
        for _ in 0..5 {
            let _ = b.set_option(s, SockOpt::ReceiveBuffer, 1 << 16);
        }
        assert_ne!(b.close(s), NtStatus::STATUS_PENDING);
    }
    let ev = fi.events();
    drop(fi);
    host.shutdown_and_assert_clean();
    ev
}

#[test]
fn the_same_seed_gives_the_same_faults() {
    with_timeout(LIMIT, || {
        let a = run_with_seed(1234);
        let b = run_with_seed(1234);
        assert!(a.iter().any(|e| matches!(e.action, FaultAction::Fail(_))));
        assert!(a.iter().any(|e| matches!(e.action, FaultAction::Delay(_))));
        assert_eq!(a, b);
        assert_ne!(a, run_with_seed(4321));
    });
}

#[test]
fn an_injected_reset_looks_like_the_peers_reset() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let fi = FaultInjector::new(host.clone(), FaultPlan::new(3));
        let b = Blocking::new(&fi);
        let (s, mut peer) = connected_through(&fi);
        let (done, recv) = completion::<Fi>();
        fi.receive(&s, EmuBuffer::zeroed(8), 0, done);
        recv.assert_pending(Duration::from_millis(50));
        fi.inject_reset(&s);
        assert_eq!(recv.status(), NtStatus::STATUS_CONNECTION_RESET);
        assert_eq!(b.send(&s, b"x").status, NtStatus::STATUS_CONNECTION_RESET);
        assert_eq!(b.disconnect(&s, false), NtStatus::STATUS_CONNECTION_RESET);
        assert_eq!(b.disconnect(&s, true), NtStatus::STATUS_SUCCESS);
        let mut buf = [0; 4];
        assert_eq!(
            peer.read(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::ConnectionReset)
        );
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        drop(fi);
        host.shutdown_and_assert_clean();
    });
}

#[test]
fn random_resets_hit_sends_and_receives() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let fi = FaultInjector::new(host.clone(), FaultPlan::new(9).resets(1_000_000));
        let b = Blocking::new(&fi);
        let (s, mut peer) = connected_through(&fi);
        assert_eq!(b.send(&s, b"x").status, NtStatus::STATUS_CONNECTION_RESET);
        let ev = fi.events();
        assert_eq!(
            ev.last().map(|e| (e.call, e.action)),
            Some((Call::Send, FaultAction::Reset))
        );
        let mut buf = [0; 4];
        assert_eq!(
            peer.read(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::ConnectionReset)
        );
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        drop(fi);
        host.shutdown_and_assert_clean();
    });
}
