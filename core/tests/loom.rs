//! Loom models of the races the close path must survive: every interleaving of two threads up to
//! the preemption bound, with the engine's debug assertions on (`cargo xtask loom` builds with
//! `-C debug-assertions`: an invariant asserted only in debug builds is what loom should trip).
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=3 cargo test
//! --release -p wsksock-core --test loom` (what `cargo xtask loom` does). The bound comes from
//! `LOOM_MAX_PREEMPTIONS` (2 when unset; CI runs them at 5, see `docs/ENGINE.md`).
//!
//! | model | race |
//! |---|---|
//! | `loom_rundown_acquire_racing_revoke` | rundown: a call entering while the close revokes |
//! | `loom_close_racing_a_completion` | CLOSE vs a receive completing with data |
//! | `loom_close_racing_close` | CLOSE of two handles of one socket |
//! | `loom_same_handle_closed_twice_at_once` | two CLOSEs of one handle |
//! | `loom_duplicate_racing_close` | DUPLICATE vs CLOSE of its handle |
//! | `loom_cancel_racing_completion` | a request's cancel vs its completion |
//! | `loom_receive_racing_the_close_of_its_handle` | lookup vs CLOSE while a duplicate keeps the socket |
//! | `loom_receive_racing_cleanup` | lookup vs the client's cleanup while another client keeps the socket |
//! | `loom_accept_completion_racing_the_close_completion_at_unload` | accept reply vs the listener's asynchronous close completion, during unload |
//! | `loom_waiting_close_racing_the_last_completion` | a waiting CLOSE vs its socket's last request |
//! | `loom_linger_timer_racing_the_last_send` | linger timer vs a send completing |
//! | `loom_linger_timer_racing_a_pending_graceful_disconnect` | linger timer vs the graceful disconnect completing, close completing asynchronously |
//! | `loom_unload_racing_a_lingering_close` | unload vs a CLOSE arming its linger timer |
//! | `loom_unload_racing_an_abortive_teardown` | unload vs the timers, an abortive disconnect pending |
//! | `loom_deadline_racing_completion` | a request's deadline timer vs its completion with data |
//! | `loom_deadline_racing_the_close` | a request's deadline timer vs the abortive CLOSE of its handle |
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/
#![cfg(loom)]

mod support;

use loom::thread;
use support::*;
use wsksock_abi::msg::{CloseMode, CloseReply};
use wsksock_abi::{NtStatus, Op};
use wsksock_core::rundown::{Drained, Rundown};
use wsksock_core::Config;

/// Runs a model at the preemption bound of `LOOM_MAX_PREEMPTIONS` (2 when unset) and checks
/// loom explored more than one interleaving.
fn model(f: impl Fn() + Sync + Send + 'static) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.unwrap_or(2));
    let bound = b.preemption_bound;
    let before = RUNS.load(std::sync::atomic::Ordering::SeqCst);
    let started = std::time::Instant::now();
    b.check(move || {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f();
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::SeqCst) - before;
    eprintln!(
        "loom explored {runs} interleavings at preemption bound {bound:?} in {:.1?}",
        started.elapsed()
    );
    assert!(runs > 1, "loom explored a single interleaving");
}

/// Counts `on_idle` calls; `check` runs inside the call (where the driver deregisters).
fn on_idle(check: impl Fn() + Send + 'static) -> (sync::Arc<sync::Mutex<u32>>, Box<dyn FnOnce() + Send>) {
    let n = sync::Arc::new(sync::Mutex::new(0));
    let n2 = n.clone();
    (
        n,
        Box::new(move || {
            check();
            *n2.lock().unwrap() += 1;
        }),
    )
}

#[test]
fn loom_rundown_acquire_racing_revoke() {
    model(|| {
        let r = loom::sync::Arc::new(Rundown::new());
        let r2 = r.clone();
        let t = thread::spawn(move || {
            if r2.try_acquire() {
                assert!(r2.in_progress() >= 1);
                u32::from(r2.release() == Drained::Yes)
            } else {
                assert!(r2.is_revoked(), "acquire fails only after revoke");
                0
            }
        });
        let mine = u32::from(r.revoke() == Drained::Yes);
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 1, "exactly one party sees the rundown drain");
        assert!(!r.try_acquire());
    });
}

#[test]
fn loom_close_racing_a_completion() {
    model(|| {
        let f = Fixture::connected();
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        let recv = f.go(recv_req(f.handle, 4));
        let id = f.provider.pending_of(CallKind::Receive)[0];
        let p2 = f.provider.clone();
        let t = thread::spawn(move || {
            p2.complete(id, NtStatus::STATUS_SUCCESS, 4);
        });
        let close = f.go(close_req(f.handle, CloseMode::Graceful, 0, false));
        t.join().unwrap();
        close.expect_ok();
        assert_eq!(recv.completions(), 1);
        let st = recv.status();
        assert!(
            st == NtStatus::STATUS_SUCCESS || st == NtStatus::STATUS_CANCELLED,
            "{st:?}"
        );
        if st == NtStatus::STATUS_SUCCESS {
            assert_eq!(recv.outcome().unwrap().info, 4, "data is never lost");
        }
        assert!(f.freed());
        f.unload_clean();
    });
}

#[test]
fn loom_close_racing_close() {
    model(|| {
        let f = Fixture::connected();
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        let h2 = f.duplicate();
        let (e2, c2) = (f.engine.clone(), f.client.clone());
        let t = thread::spawn(move || go(&e2, &c2, close_req(h2, CloseMode::Default, 0, false)));
        let mine = f.go(close_req(f.handle, CloseMode::Default, 0, false));
        let theirs = t.join().unwrap();
        let a: CloseReply = reply_of(&mine.expect_ok());
        let b: CloseReply = reply_of(&theirs.expect_ok());
        assert_eq!(
            a.last_reference + b.last_reference,
            1,
            "exactly one close is the last"
        );
        assert_eq!(f.closes(), 1);
        assert!(f.freed());
        f.unload_clean();
    });
}

#[test]
fn loom_same_handle_closed_twice_at_once() {
    model(|| {
        let f = Fixture::connected();
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        let (e2, c2, h) = (f.engine.clone(), f.client.clone(), f.handle);
        let t = thread::spawn(move || go(&e2, &c2, close_req(h, CloseMode::Abortive, 0, false)).status());
        let mine = f.go(close_req(h, CloseMode::Abortive, 0, false)).status();
        let theirs = t.join().unwrap();
        let mut both = [mine, theirs];
        both.sort_by_key(|s| s.0);
        assert_eq!(both, [NtStatus::STATUS_SUCCESS, NtStatus::STATUS_INVALID_HANDLE]);
        assert!(f.freed());
        f.unload_clean();
    });
}

#[test]
fn loom_duplicate_racing_close() {
    model(|| {
        let f = Fixture::connected();
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        let (e2, c2, h) = (f.engine.clone(), f.client.clone(), f.handle);
        let t = thread::spawn(move || go(&e2, &c2, dup_req(h, 0)));
        f.go(close_req(h, CloseMode::Default, 0, false)).expect_ok();
        let dup = t.join().unwrap();
        match dup.status() {
            NtStatus::STATUS_SUCCESS => {
                assert_eq!(f.closes(), 0, "a live duplicate keeps the socket open");
                f.go(close_req(dup.handle(), CloseMode::Default, 0, false))
                    .expect_ok();
            }
            NtStatus::STATUS_INVALID_HANDLE => {}
            other => panic!("duplicate: {other:?}"),
        }
        assert_eq!(f.closes(), 1);
        assert!(f.freed());
        f.unload_clean();
    });
}

#[test]
fn loom_cancel_racing_completion() {
    model(|| {
        let f = Fixture::connected();
        let recv = f.go(recv_req(f.handle, 4));
        let r2 = recv.clone();
        completion_racing(&f, recv, move || r2.cancel(), NtStatus::STATUS_CANCELLED);
    });
}

/// The pending receive `recv` completes with 2 bytes here while `other` runs on another thread:
/// it completes exactly once, with the data or `alternative`; then the socket closes, finishes,
/// and leaves no timer behind.
fn completion_racing(
    f: &Fixture,
    recv: support::treq::Slot,
    other: impl FnOnce() + Send + 'static,
    alternative: NtStatus,
) {
    let id = f.provider.pending_of(CallKind::Receive)[0];
    let t = thread::spawn(other);
    f.provider.complete(id, NtStatus::STATUS_SUCCESS, 2);
    t.join().unwrap();
    assert_eq!(recv.completions(), 1, "exactly once");
    let o = recv.outcome().unwrap();
    match o.status {
        NtStatus::STATUS_SUCCESS => assert_eq!(o.info, 2, "data is never lost"),
        st if st == alternative => {}
        other => panic!("{other:?}"),
    }
    drop(recv);
    f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
    f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
        .expect_ok();
    f.unload_clean();
    assert!(f.freed());
    assert_eq!(f.provider.timers(), 0, "no timer outlives its socket");
}

/// A receive's deadline fires on another thread while the receive completes with data here:
/// exactly one completion, with the data or STATUS_IO_TIMEOUT; no timer outlives the socket.
#[test]
fn loom_deadline_racing_completion() {
    model(|| {
        let f = Fixture::connected();
        let recv = f.go(recv_req_within(f.handle, 4, 100));
        let p2 = f.provider.clone();
        completion_racing(
            &f,
            recv,
            move || {
                p2.fire_timers();
            },
            NtStatus::STATUS_IO_TIMEOUT,
        );
    });
}

/// A receive's deadline fires on another thread while its handle is closed abortively here:
/// the receive ends once (cancelled by the close, or timed out), and the socket finishes only
/// when no deadline timer can fire any more.
#[test]
fn loom_deadline_racing_the_close() {
    model(|| {
        let f = Fixture::connected();
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        let recv = f.go(recv_req_within(f.handle, 4, 100));
        let p2 = f.provider.clone();
        let t = thread::spawn(move || p2.fire_timers());
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        t.join().unwrap();
        assert_eq!(recv.completions(), 1, "exactly once");
        let st = recv.outcome().unwrap().status;
        assert!(
            matches!(st, NtStatus::STATUS_CANCELLED | NtStatus::STATUS_IO_TIMEOUT),
            "{st:?}"
        );
        f.unload_clean();
        assert!(f.freed());
        assert_eq!(f.provider.timers(), 0);
    });
}

/// A RECEIVE through `f.handle` on another thread while `close` closes that handle here: it must
/// be cancelled by the close or refused, never left pending.
fn receive_racing(f: &Fixture, close: impl FnOnce()) {
    let (engine, client, handle) = (f.engine.clone(), f.client.clone(), f.handle);
    let t = thread::spawn(move || go(&engine, &client, recv_req(handle, 4)));
    close();
    let recv = t.join().unwrap();
    let st = recv.outcome().map(|o| o.status);
    assert!(
        matches!(
            st,
            Some(NtStatus::STATUS_CANCELLED | NtStatus::STATUS_INVALID_HANDLE)
        ),
        "a receive through a closed handle escaped the close: {st:?}"
    );
    assert!(f.provider.pending_of(CallKind::Receive).is_empty());
}

/// Invariant 3 (bug 1 of issue 11): a RECEIVE whose handle is looked up while another thread
/// closes that handle — a duplicate keeping the socket open — is cancelled by the close or
/// refused; never left pending.
#[test]
fn loom_receive_racing_the_close_of_its_handle() {
    model(|| {
        let f = Fixture::connected();
        let dup = f.duplicate();
        receive_racing(&f, || {
            f.go(close_req(f.handle, CloseMode::Default, 0, false))
                .expect_ok();
        });
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        f.go(close_req(dup, CloseMode::Default, 0, false)).expect_ok();
        assert!(f.freed());
        f.unload_clean();
    });
}

/// Invariants 3 and 8: the same race against the client's cleanup, another client keeping the
/// socket open.
#[test]
fn loom_receive_racing_cleanup() {
    model(|| {
        let f = Fixture::connected();
        let other = f.engine.open_client().unwrap();
        go(&f.engine, &other, allow_req(f.client.id(), 1)).expect_ok();
        f.go(dup_req(f.handle, other.id())).expect_ok();
        receive_racing(&f, || f.engine.cleanup_client(&f.client));
        assert_eq!(f.closes(), 0, "the other client's handle keeps the socket");
        f.unload_clean();
    });
}

/// Invariants 1 and 8 (bug 2 of issue 11): an ACCEPT completing while the listener's close
/// completes on another CPU, during unload. The listener must not finish — and unload must not
/// report idle — before the accept's reply made (and tore down) its new socket: with the reply
/// racing ahead of the object, the nested acquire of the live count trips its debug assertion,
/// and the engine calls the provider after idle.
#[test]
fn loom_accept_completion_racing_the_close_completion_at_unload() {
    model(|| {
        let f = Fixture::listening();
        let p = &f.provider;
        p.hold_completions();
        let accept = f.go(handle_req(Op::Accept, f.handle));
        let accept_id = p.pending_of(CallKind::Accept)[0];
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        let close_id = p.pending_of(CallKind::Close)[0];
        // The accepted socket's own teardown completes by itself.
        p.set_auto(CallKind::Close, true);
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        let p_idle = p.clone();
        let (idle, cb) = on_idle(move || {
            assert_eq!(p_idle.open_sockets(), 0, "idle reported with a socket still open");
        });
        f.engine.unload(cb);
        let p2 = p.clone();
        let t = thread::spawn(move || {
            p2.complete(accept_id, NtStatus::STATUS_SUCCESS, 0);
        });
        p.complete_close(close_id);
        t.join().unwrap();
        // The accept's client was cleaned up by unload: no handle for the new socket.
        assert!(accept.status().is_error(), "{:?}", accept.outcome());
        p.fire_timers();
        assert_eq!(*idle.lock().unwrap(), 1, "unload reports idle once");
        assert_eq!(f.engine.stats().sockets_alive, 0);
        p.assert_clean();
    });
}

/// Invariants 1 and 7 (bug 2 of issue 11): a CLOSE waiting for the teardown completes only after
/// every request of the socket, even when the close IRP completes on another CPU while the last
/// request's reply is on its way.
#[test]
fn loom_waiting_close_racing_the_last_completion() {
    model(|| {
        let f = Fixture::connected();
        let p = &f.provider;
        p.hold_completions();
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        let recv = f.go(recv_req(f.handle, 8));
        let close = f.go(close_req(f.handle, CloseMode::Abortive, 0, true));
        let recv_id = p.pending_of(CallKind::Receive)[0];
        let close_id = p.pending_of(CallKind::Close)[0];
        let p2 = p.clone();
        let t = thread::spawn(move || {
            p2.complete(recv_id, NtStatus::STATUS_CANCELLED, 0);
        });
        p.complete_close(close_id);
        t.join().unwrap();
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(r.last_reference, 1);
        assert!(
            recv.completed_before(&close),
            "the waiting CLOSE reported the teardown finished before the socket's last request"
        );
        assert!(f.freed());
        f.unload_clean();
    });
}

/// Invariant 9: the linger timer firing while the last send completes. Either the send finished
/// first (graceful: FIN) or the timer cancelled it (RST) — exactly one close, no timer left.
#[test]
fn loom_linger_timer_racing_the_last_send() {
    model(|| {
        let f = Fixture::connected();
        let p = &f.provider;
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        let send = f.go(send_req(f.handle, b"data"));
        f.go(close_req(f.handle, CloseMode::Linger, 1, false)).expect_ok();
        let send_id = p.pending_of(CallKind::Send)[0];
        let p2 = p.clone();
        let t = thread::spawn(move || {
            p2.complete(send_id, NtStatus::STATUS_SUCCESS, usize::MAX);
        });
        p.fire_timers();
        t.join().unwrap();
        p.fire_timers();
        assert_eq!(send.completions(), 1);
        let first = f.disconnects().first().copied();
        match send.status() {
            NtStatus::STATUS_SUCCESS => assert!(first.is_some(), "a disconnect ends the connection"),
            NtStatus::STATUS_CANCELLED => assert_eq!(first, Some(true), "cut by the timer: RST"),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.closes(), 1);
        assert_eq!(p.timers(), 0);
        assert!(f.freed());
        f.unload_clean();
    });
}

/// Invariants 1, 5 and 9: the linger timer firing while the graceful disconnect completes, the
/// close completing asynchronously afterwards. One close, nothing called after it, the object
/// finishes once.
#[test]
fn loom_linger_timer_racing_a_pending_graceful_disconnect() {
    model(|| {
        let f = Fixture::connected();
        let p = &f.provider;
        p.set_auto(CallKind::Close, false);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        let close = f.go(close_req(f.handle, CloseMode::Linger, 1, true));
        assert_eq!(f.disconnects(), vec![false]);
        let p2 = p.clone();
        let t = thread::spawn(move || {
            p2.complete_first(CallKind::Disconnect { abortive: false });
        });
        p.fire_timers();
        t.join().unwrap();
        let closes = p.pending_of(CallKind::Close);
        assert_eq!(closes.len(), 1);
        p.complete_close(closes[0]);
        assert!(close.is_done());
        assert!(matches!(f.disconnects()[..], [false] | [false, true]));
        assert_eq!(f.closes(), 1);
        assert_eq!(p.timers(), 0);
        assert!(f.freed());
        f.unload_clean();
    });
}

/// Invariant 8 (risk 5 of issue 11): unload racing a CLOSE that is arming its linger timer still
/// bounds the teardown by `unload_linger_ms` (not the 600 s linger).
#[test]
fn loom_unload_racing_a_lingering_close() {
    model(|| {
        let f = Fixture::connected();
        let (e2, c2, h) = (f.engine.clone(), f.client.clone(), f.handle);
        let t = thread::spawn(move || go(&e2, &c2, close_req(h, CloseMode::Linger, 600, false)));
        let (idle, cb) = on_idle(|| {});
        f.engine.unload(cb);
        t.join().unwrap();
        let bound = Config::default().unload_linger_ms;
        let delays = f.provider.timer_delays();
        assert!(
            delays.iter().all(|d| *d <= bound),
            "a teardown lingers past unload: timers {delays:?}"
        );
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        f.provider.fire_timers();
        f.provider.complete_all(CallKind::Disconnect { abortive: false });
        assert_eq!(*idle.lock().unwrap(), 1);
        assert_eq!(f.closes(), 1);
        f.provider.assert_clean();
    });
}

/// Invariant 8 (risk 4 of issue 11): unload racing the timers of an abortive teardown whose
/// disconnect pends arms no deadline, so no second abortive disconnect is ever issued.
#[test]
fn loom_unload_racing_an_abortive_teardown() {
    model(|| {
        let f = Fixture::connected();
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        let p2 = f.provider.clone();
        let t = thread::spawn(move || {
            p2.fire_timers();
            p2.complete_first(CallKind::Disconnect { abortive: true });
            p2.fire_timers();
        });
        let (idle, cb) = on_idle(|| {});
        f.engine.unload(cb);
        t.join().unwrap();
        f.provider.fire_timers();
        assert_eq!(f.provider.timers(), 0, "no deadline on an abortive teardown");
        assert_eq!(f.disconnects(), vec![true], "one abortive disconnect");
        assert_eq!(*idle.lock().unwrap(), 1);
        f.provider.assert_clean();
    });
}
