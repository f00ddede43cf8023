//! Loom models of the races the close path must survive. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p wsksock-core --test loom`
//! (`cargo xtask loom`).
#![cfg(loom)]
#![allow(clippy::many_single_char_names)]

mod support;

use loom::thread;
use support::*;
use wsksock_abi::msg::{CloseMode, CloseReply};
use wsksock_abi::NtStatus;
use wsksock_core::rundown::{Drained, Rundown};

/// Runs a model and checks loom explored more than one interleaving.
fn model(f: impl Fn() + Sync + Send + 'static) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    let before = RUNS.load(std::sync::atomic::Ordering::SeqCst);
    b.check(move || {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f();
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::SeqCst) - before;
    eprintln!("loom explored {runs} interleavings");
    assert!(runs > 1, "loom explored a single interleaving");
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
        let (e, p) = engine();
        let c = e.open_client().unwrap();
        let h = connected(&e, &p, &c);
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        let recv = go(&e, &c, recv_req(h, 4));
        let id = p.pending_of(CallKind::Receive)[0];
        let p2 = p.clone();
        let t = thread::spawn(move || {
            p2.complete(id, NtStatus::STATUS_SUCCESS, 4);
        });
        let close = go(&e, &c, close_req(h, CloseMode::Graceful, 0, false));
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
        assert_eq!(p.freed().len(), 1);
        unload_clean(&e, &p);
    });
}

#[test]
fn loom_close_racing_close() {
    model(|| {
        let (e, p) = engine();
        let c = e.open_client().unwrap();
        let h = connected(&e, &p, &c);
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        let h2 = go(&e, &c, dup_req(h, 0)).handle();
        let (e2, c2) = (e.clone(), c.clone());
        let t = thread::spawn(move || go(&e2, &c2, close_req(h2, CloseMode::Default, 0, false)));
        let mine = go(&e, &c, close_req(h, CloseMode::Default, 0, false));
        let theirs = t.join().unwrap();
        let a: CloseReply = reply_of(&mine.expect_ok());
        let b: CloseReply = reply_of(&theirs.expect_ok());
        assert_eq!(
            a.last_reference + b.last_reference,
            1,
            "exactly one close is the last"
        );
        let closes = p.calls().iter().filter(|x| x.kind == CallKind::Close).count();
        assert_eq!(closes, 1);
        assert_eq!(p.freed().len(), 1);
        unload_clean(&e, &p);
    });
}

#[test]
fn loom_same_handle_closed_twice_at_once() {
    model(|| {
        let (e, p) = engine();
        let c = e.open_client().unwrap();
        let h = connected(&e, &p, &c);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        let (e2, c2) = (e.clone(), c.clone());
        let t = thread::spawn(move || go(&e2, &c2, close_req(h, CloseMode::Abortive, 0, false)).status());
        let mine = go(&e, &c, close_req(h, CloseMode::Abortive, 0, false)).status();
        let theirs = t.join().unwrap();
        let mut both = [mine, theirs];
        both.sort_by_key(|s| s.0);
        assert_eq!(both, [NtStatus::STATUS_SUCCESS, NtStatus::STATUS_INVALID_HANDLE]);
        assert_eq!(p.freed().len(), 1);
        unload_clean(&e, &p);
    });
}

#[test]
fn loom_duplicate_racing_close() {
    model(|| {
        let (e, p) = engine();
        let c = e.open_client().unwrap();
        let h = connected(&e, &p, &c);
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        let (e2, c2) = (e.clone(), c.clone());
        let t = thread::spawn(move || go(&e2, &c2, dup_req(h, 0)));
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        let dup = t.join().unwrap();
        let closes = || p.calls().iter().filter(|x| x.kind == CallKind::Close).count();
        match dup.status() {
            NtStatus::STATUS_SUCCESS => {
                assert_eq!(closes(), 0, "a live duplicate keeps the socket open");
                go(&e, &c, close_req(dup.handle(), CloseMode::Default, 0, false)).expect_ok();
            }
            NtStatus::STATUS_INVALID_HANDLE => {}
            other => panic!("duplicate: {other:?}"),
        }
        assert_eq!(closes(), 1);
        assert_eq!(p.freed().len(), 1);
        unload_clean(&e, &p);
    });
}

#[test]
fn loom_cancel_racing_completion() {
    model(|| {
        let (e, p) = engine();
        let c = e.open_client().unwrap();
        let h = connected(&e, &p, &c);
        let recv = go(&e, &c, recv_req(h, 4));
        let id = p.pending_of(CallKind::Receive)[0];
        let r2 = recv.clone();
        let t = thread::spawn(move || r2.cancel());
        p.complete(id, NtStatus::STATUS_SUCCESS, 2);
        t.join().unwrap();
        assert_eq!(recv.completions(), 1, "exactly once");
        let o = recv.outcome().unwrap();
        match o.status {
            NtStatus::STATUS_SUCCESS => assert_eq!(o.info, 2, "data is never lost"),
            NtStatus::STATUS_CANCELLED => {}
            other => panic!("{other:?}"),
        }
        drop(recv);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        go(&e, &c, close_req(h, CloseMode::Abortive, 0, false)).expect_ok();
        assert_eq!(p.freed().len(), 1);
        unload_clean(&e, &p);
    });
}
