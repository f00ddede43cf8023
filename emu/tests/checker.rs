//! The contract checker catches each broken WSK rule, in the host provider and in the
//! [`Verifier`] around any provider.
#![allow(clippy::many_single_char_names)]

mod common;

use common::*;
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, CompletionSink, Family, OpOutput, Provider, SocketKind};
use wsksock_emu::testutil::{completion, with_timeout, Blocking};
use wsksock_emu::{
    Call, Checker, EmuBuffer, FaultInjector, FaultPlan, HostProvider, HostSocket, Verifier, ViolationKind,
};

fn kinds(c: &Checker) -> Vec<ViolationKind> {
    c.take_violations().iter().map(|v| v.kind).collect()
}

#[test]
fn a_call_after_close_is_refused_and_recorded() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let s = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        let out = b.send(&s, b"late");
        assert_eq!(out.status, NtStatus::STATUS_INVALID_HANDLE);
        assert!(out.buffer.is_some(), "the buffer still comes back");
        assert_eq!(b.close(&s), NtStatus::STATUS_INVALID_HANDLE);
        let v = p.checker().take_violations();
        assert_eq!(
            v.iter().map(|v| v.kind).collect::<Vec<_>>(),
            [ViolationKind::CallAfterClose, ViolationKind::DoubleClose]
        );
        assert!(
            v[0].message
                .contains("send on socket #1 (closed) after its close completed"),
            "{}",
            v[0].message
        );
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn a_call_while_close_is_in_progress_is_recorded() {
    with_timeout(LIMIT, || {
        // Every completion held back 200 ms: the close stays in progress that long.
        let host = HostProvider::new().unwrap();
        let v = Verifier::new(FaultInjector::new(
            host.clone(),
            FaultPlan::new(7).delay(1_000_000, Duration::from_millis(200)),
        ));
        let checker = v.checker();
        let b = Blocking::new(&v);
        let s = b.socket(Family::V4, SocketKind::Stream);
        let (done, close) = completion::<Verifier<FaultInjector<HostProvider>>>();
        v.close(&s, done);
        let (done, late) = completion();
        v.receive(&s, EmuBuffer::zeroed(4), 0, done);
        assert_eq!(late.status(), NtStatus::STATUS_INVALID_HANDLE);
        assert_eq!(close.status(), NtStatus::STATUS_SUCCESS);
        let msgs = checker.take_violations();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].kind, ViolationKind::CallWhileClosing);
        assert!(msgs[0].message.contains("while its close is in progress"));
        drop(v);
        checker.assert_clean();
        host.shutdown_and_assert_clean();
    });
}

/// Closes the socket from inside the completion of a call still in progress on it.
struct CloseInside {
    p: HostProvider,
    s: HostSocket,
    tx: std::sync::mpsc::Sender<NtStatus>,
}

impl CompletionSink<HostProvider> for CloseInside {
    fn complete(self: Box<Self>, _out: OpOutput<HostProvider>) {
        let (done, w) = completion::<HostProvider>();
        self.p.close(&self.s, done);
        let _ = self.tx.send(w.status());
    }
}

#[test]
fn close_while_another_call_is_in_progress_is_recorded() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let (s, _peer) = connected(&p, Family::V4);
        let (tx, rx) = std::sync::mpsc::channel();
        // The send completes inline, inside `send`: its completion closes the socket.
        let sink = CloseInside {
            p: p.clone(),
            s: s.clone(),
            tx,
        };
        p.send(&s, EmuBuffer::from(&b"x"[..]), 0, Completion::new(Box::new(sink)));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            NtStatus::STATUS_SUCCESS
        );
        let v = p.checker().take_violations();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, ViolationKind::CloseWhileCallInProgress);
        assert!(
            v[0].message.contains("while send in progress"),
            "{}",
            v[0].message
        );
        p.shutdown_and_assert_clean();
    });
}

/// A cancel reaches into the operation's socket: after the socket's close it is refused and
/// recorded, by the host provider's checker and by a verifier around any provider.
fn cancel_after_close_is_recorded<P: Provider<Buffer = EmuBuffer>>(
    p: &P,
    checker: &Checker,
    socket: &P::Socket,
) {
    let (done, recv) = completion::<P>();
    let op = p
        .receive(socket, EmuBuffer::zeroed(16), 0, done)
        .expect("a receive with nothing to read pends");
    assert_eq!(Blocking::new(p).close(socket), NtStatus::STATUS_SUCCESS);
    assert_eq!(
        recv.wait().status,
        NtStatus::STATUS_CANCELLED,
        "the close completed it"
    );
    p.cancel(&op);
    let v = checker.take_violations();
    assert_eq!(
        v.iter().map(|v| v.kind).collect::<Vec<_>>(),
        [ViolationKind::CallAfterClose],
        "{v:?}"
    );
    assert!(v[0].message.contains("cancel on socket"), "{}", v[0].message);
}

#[test]
fn a_cancel_after_close_is_recorded_by_the_host_provider() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let (s, _peer) = connected(&p, Family::V4);
        cancel_after_close_is_recorded(&p, &p.checker(), &s);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn a_cancel_after_close_is_recorded_and_not_passed_on_by_the_verifier() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let v = Verifier::new(host.clone());
        let checker = v.checker();
        let b = Blocking::new(&v);
        let s = b.socket(Family::V4, SocketKind::Stream);
        let (l, addr) = peer_listener(Family::V4);
        assert_eq!(b.bind(&s, any(Family::V4)), NtStatus::STATUS_SUCCESS);
        assert_eq!(b.connect(&s, addr), NtStatus::STATUS_SUCCESS);
        let _peer = l.accept().unwrap();
        cancel_after_close_is_recorded(&v, &checker, &s);
        drop(v);
        checker.assert_clean();
        host.shutdown_and_assert_clean();
    });
}

#[test]
fn unknown_and_repeated_completions_are_recorded() {
    // Providers that track operations by id (the host provider inside, scripted providers in
    // engine tests) report completions to the checker; the `Completion` type itself makes a
    // second completion impossible, so these come from bookkeeping bugs.
    let c = Checker::new("scripted");
    let s = c.socket_created("stream/V4");
    let op = c.op_started(Some(s), Call::Receive);
    assert!(c.op_completed(op));
    assert!(!c.op_completed(op));
    assert!(!c.op_completed(op + 100));
    assert_eq!(
        kinds(&c),
        [ViolationKind::DoubleCompletion, ViolationKind::UnknownCompletion]
    );
}

/// A broken provider: drops the completions of data operations (and with them the buffers).
struct Forgetful(HostProvider);

impl Provider for Forgetful {
    type Socket = HostSocket;
    type Buffer = EmuBuffer;
    type OpRef = wsksock_emu::HostOp;
    type TimerRef = wsksock_emu::HostTimer;
    type RawLock = parking_lot::RawMutex;
    fn new_raw_lock(&self) -> Self::RawLock {
        self.0.new_raw_lock()
    }
    fn create_socket(&self, p: wsksock_core::SocketParams, d: Completion<Self>) -> Option<Self::OpRef> {
        let (done, w) = completion::<HostProvider>();
        self.0.create_socket(p, done);
        let out = w.wait();
        let value = match out.value {
            wsksock_core::OpValue::Socket(s) => wsksock_core::OpValue::Socket(s),
            _ => wsksock_core::OpValue::None,
        };
        d.complete(OpOutput {
            status: out.status,
            bytes: 0,
            buffer: None,
            value,
        });
        None
    }
    fn bind(&self, _: &HostSocket, _: std::net::SocketAddr, d: Completion<Self>) -> Option<Self::OpRef> {
        d.complete(OpOutput::status(NtStatus::STATUS_SUCCESS));
        None
    }
    fn listen(&self, _: &HostSocket, _: u32, d: Completion<Self>) -> Option<Self::OpRef> {
        d.complete(OpOutput::status(NtStatus::STATUS_SUCCESS));
        None
    }
    fn accept(&self, _: &HostSocket, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn connect(&self, _: &HostSocket, _: std::net::SocketAddr, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn send(&self, _: &HostSocket, _: EmuBuffer, _: u32, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn receive(&self, _: &HostSocket, _: EmuBuffer, _: u32, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn send_to(
        &self,
        _: &HostSocket,
        _: EmuBuffer,
        _: std::net::SocketAddr,
        d: Completion<Self>,
    ) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn receive_from(&self, _: &HostSocket, _: EmuBuffer, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn disconnect(&self, _: &HostSocket, _: bool, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn close(&self, s: &HostSocket, d: Completion<Self>) -> Option<Self::OpRef> {
        let (done, w) = completion::<HostProvider>();
        self.0.close(s, done);
        d.complete(OpOutput::status(w.status()));
        None
    }
    fn set_option(
        &self,
        _: &HostSocket,
        _: wsksock_core::SockOpt,
        _: u32,
        d: Completion<Self>,
    ) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn get_option(
        &self,
        _: &HostSocket,
        _: wsksock_core::SockOpt,
        d: Completion<Self>,
    ) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn get_address(
        &self,
        _: &HostSocket,
        _: wsksock_core::AddrKind,
        d: Completion<Self>,
    ) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn resolve(&self, _: &str, _: Option<Family>, _: u16, d: Completion<Self>) -> Option<Self::OpRef> {
        drop(d);
        None
    }
    fn cancel(&self, _: &Self::OpRef) {}
    fn new_timer(&self, cb: wsksock_core::TimerCallback) -> Option<Self::TimerRef> {
        self.0.new_timer(cb)
    }
    fn arm_timer(&self, t: &Self::TimerRef, ms: u64, cookie: u64) {
        self.0.arm_timer(t, ms, cookie);
    }
    fn cancel_timer(&self, t: &Self::TimerRef) -> bool {
        self.0.cancel_timer(t)
    }
}

#[test]
fn the_verifier_wraps_any_provider_and_catches_lost_buffers() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let v = Verifier::new(Forgetful(host.clone()));
        let checker = v.checker();
        let b = Blocking::new(&v);
        let s = b.socket(Family::V4, SocketKind::Stream);
        let out = b.send(&s, b"lost");
        assert_eq!(
            out.status,
            NtStatus::STATUS_CANCELLED,
            "a dropped completion still completes"
        );
        let msgs = checker.take_violations();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].kind, ViolationKind::BufferNotReturned);
        assert!(msgs[0].message.contains("send operation #"));
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        drop(v);
        checker.assert_clean();
        host.shutdown_and_assert_clean();
    });
}

#[test]
fn sockets_and_operations_alive_at_teardown_are_recorded() {
    with_timeout(LIMIT, || {
        let host = HostProvider::new().unwrap();
        let v = Verifier::new(host.clone());
        let checker = v.checker();
        let b = Blocking::new(&v);
        let l = b.socket(Family::V6, SocketKind::Listen);
        assert_eq!(b.bind(&l, loopback(Family::V6)), NtStatus::STATUS_SUCCESS);
        let (done, acc) = completion();
        v.accept(&l, done);
        drop(v);
        let msgs = checker.take_violations();
        let k: Vec<ViolationKind> = msgs.iter().map(|m| m.kind).collect();
        assert_eq!(k, [ViolationKind::LeakedOperation, ViolationKind::LeakedSocket]);
        assert!(msgs[0].message.contains("accept operation #"));
        assert!(msgs[1].message.contains("(listen/V6) still open at teardown"));
        host.shutdown();
        assert_eq!(
            acc.status(),
            NtStatus::STATUS_CANCELLED,
            "the host's teardown completed it"
        );
        assert_eq!(
            kinds(&host.checker()),
            [ViolationKind::LeakedOperation, ViolationKind::LeakedSocket]
        );
    });
}

#[test]
fn deregistration_with_sockets_open_is_recorded() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let s = b.socket(Family::V4, SocketKind::Datagram);
        let kept = b.socket(Family::V4, SocketKind::Stream);
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        p.deregister();
        let msgs = p.checker().take_violations();
        assert_eq!(msgs[0].kind, ViolationKind::DeregisterWithSocketsOpen);
        assert!(
            msgs[0]
                .message
                .contains(&format!("socket #{} (stream/V4)", kept.id())),
            "{}",
            msgs[0].message
        );
        assert_eq!(msgs.len(), 2, "and the teardown after it: {msgs:?}");
        // Closed sockets before deregistration are fine.
        let p = HostProvider::new().unwrap();
        let s = Blocking::new(&p).socket(Family::V4, SocketKind::Stream);
        Blocking::new(&p).close(&s);
        p.deregister();
        p.checker().assert_clean();
    });
}

#[test]
#[should_panic(expected = "WSK contract violation")]
fn assert_clean_fails_the_test() {
    let p = HostProvider::new().unwrap();
    let _forgotten = Blocking::new(&p).socket(Family::V4, SocketKind::Stream);
    p.shutdown_and_assert_clean();
}

struct Panics;

impl CompletionSink<HostProvider> for Panics {
    fn complete(self: Box<Self>, _out: OpOutput<HostProvider>) {
        panic!("engine bug");
    }
}

#[test]
fn a_panicking_completion_on_the_event_loop_is_recorded_and_the_loop_goes_on() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let (s, mut peer) = connected(&p, Family::V4);
        p.receive(&s, EmuBuffer::zeroed(4), 0, Completion::new(Box::new(Panics)));
        std::io::Write::write_all(&mut peer, b"boom").unwrap();
        // The loop survived: the next receive is served by it.
        let (done, w) = completion::<HostProvider>();
        p.receive(&s, EmuBuffer::zeroed(4), 0, done);
        std::io::Write::write_all(&mut peer, b"next").unwrap();
        assert_eq!(w.status(), NtStatus::STATUS_SUCCESS);
        // Both receives may finish in one turn of the loop: the panic is recorded after the turn.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while p.checker().is_clean() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let v = p.checker().take_violations();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, ViolationKind::CallbackPanicked);
        assert!(v[0].message.contains("engine bug"));
        b.close(&s);
        p.shutdown_and_assert_clean();
    });
}
