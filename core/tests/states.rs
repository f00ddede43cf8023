#![allow(clippy::many_single_char_names)] // e(ngine), p(rovider), c(lient), h(andle), s(ocket) fixtures
//! Engine unit tests, grouped by the state of the socket under test (smoltcp style), against
//! the scripted provider whose completions each test releases in the order it chooses.

mod support;

use support::*;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{
    CloseMode, CloseReply, Disconnect, Message, OptionReply, SocketKind, StatisticsReply,
};
use wsksock_abi::{Handle, NtStatus, Op};

type C = wsksock_core::ClientRef<Scripted, TReq>;

/// Fixture: an engine, one client, one connected socket (provider socket id returned).
fn socket_connected() -> (TEngine, Scripted, C, Handle, u64) {
    let (e, p) = engine();
    let c = e.open_client().unwrap();
    let h = connected(&e, &p, &c);
    let sock = p.calls().iter().find(|c| c.kind == CallKind::Bind).unwrap().sock;
    (e, p, c, h, sock)
}

/// Fixture: connected socket with one send and one receive pending.
fn socket_busy() -> (TEngine, Scripted, C, Handle, u64, treq::Slot, treq::Slot) {
    let (e, p, c, h, s) = socket_connected();
    let send = go(&e, &c, send_req(h, b"hello"));
    let recv = go(&e, &c, recv_req(h, 16));
    assert!(!send.is_done() && !recv.is_done());
    (e, p, c, h, s, send, recv)
}

fn disconnects(p: &Scripted, s: u64) -> Vec<bool> {
    p.calls_on(s)
        .into_iter()
        .filter_map(|k| match k {
            CallKind::Disconnect { abortive } => Some(abortive),
            _ => None,
        })
        .collect()
}

fn close_count(p: &Scripted, s: u64) -> usize {
    p.calls_on(s)
        .into_iter()
        .filter(|k| *k == CallKind::Close)
        .count()
}

mod open {
    use super::*;

    #[test]
    fn create_returns_a_live_handle_with_nonzero_generation() {
        let (e, _p) = engine();
        let c = e.open_client().unwrap();
        let h = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
        assert_ne!(h.generation, 0);
        assert_eq!(e.stats().sockets_alive, 1);
    }

    #[test]
    fn send_completes_with_bytes_and_returns_the_buffer() {
        let (e, p, c, h, _s) = socket_connected();
        let send = go(&e, &c, send_req(h, b"hello"));
        assert!(!send.is_done(), "a send pends until the provider completes it");
        assert!(p.complete_first(CallKind::Send));
        let o = send.expect_ok();
        assert_eq!(o.info, 5);
        assert_eq!(o.data.as_deref(), Some(&b"hello"[..]));
        assert_eq!(e.stats().bytes_sent, 5);
    }

    #[test]
    fn receive_returns_its_data() {
        let (e, p, c, h, _s) = socket_connected();
        let recv = go(&e, &c, recv_req(h, 8));
        let id = p.pending_of(CallKind::Receive)[0];
        p.complete(id, NtStatus::STATUS_SUCCESS, 3);
        assert_eq!(recv.expect_ok().info, 3);
    }

    #[test]
    fn request_cancel_cancels_its_operation_only() {
        let (e, _p, c, h, _s) = socket_connected();
        let r1 = go(&e, &c, recv_req(h, 8));
        let r2 = go(&e, &c, recv_req(h, 8));
        r1.cancel();
        assert_eq!(r1.status(), NtStatus::STATUS_CANCELLED);
        assert!(!r2.is_done());
        assert_eq!(r1.completions(), 1);
    }

    #[test]
    fn cancel_that_loses_the_race_keeps_the_data() {
        let (e, p, c, h, _s) = socket_connected();
        p.set_cancel_mode(support::scripted::CancelMode::Ignore);
        let r = go(&e, &c, recv_req(h, 8));
        r.cancel();
        let id = p.pending_of(CallKind::Receive)[0];
        p.complete(id, NtStatus::STATUS_SUCCESS, 4);
        let o = r.expect_ok();
        assert_eq!(
            o.info, 4,
            "data that arrived despite the cancel is returned, never lost"
        );
    }

    #[test]
    fn cancel_request_aborts_pending_ops_without_closing() {
        let (e, p, c, h, _s) = socket_connected();
        let r = go(&e, &c, recv_req(h, 8));
        let cancel = go(&e, &c, handle_req(Op::Cancel, h));
        assert_eq!(
            reply_of::<wsksock_abi::msg::CancelReply>(&cancel.expect_ok()).cancelled,
            1
        );
        assert_eq!(r.status(), NtStatus::STATUS_CANCELLED);
        let again = go(&e, &c, recv_req(h, 8));
        assert!(!again.is_done(), "the handle still works");
        p.assert_clean();
    }

    #[test]
    fn linger_option_round_trips_and_stays_in_the_engine() {
        let (e, p, c, h, s) = socket_connected();
        go(&e, &c, linger_req(h, true, 7)).expect_ok();
        let mut m = wsksock_abi::msg::OptionRequest::new_zeroed_with_header();
        m.handle = h;
        m.option = wsksock_abi::msg::SocketOption::Linger as u32;
        let got = go(&e, &c, TReq::new(Op::GetOption, bytes(&m)));
        let r: OptionReply = reply_of(&got.expect_ok());
        assert_eq!((r.value, r.value2), (1, 7));
        assert!(
            !p.calls_on(s).contains(&CallKind::SetOption),
            "SO_LINGER never reaches WSK"
        );
    }

    #[test]
    fn statistics_count_per_socket_and_globally() {
        let (e, p, c, h, _s) = socket_connected();
        go(&e, &c, send_req(h, b"abc"));
        p.complete_first(CallKind::Send);
        let st: StatisticsReply = reply_of(&go(&e, &c, handle_req(Op::Statistics, h)).expect_ok());
        assert_eq!((st.scope, st.bytes_sent, st.handles), (1, 3, 1));
        let g: StatisticsReply = reply_of(&go(&e, &c, handle_req(Op::Statistics, Handle::NULL)).expect_ok());
        assert_eq!((g.scope, g.sockets_alive, g.bytes_sent), (0, 1, 3));
    }

    #[test]
    fn per_socket_pending_limit_answers_insufficient_resources() {
        let (e, p) = engine_with(wsksock_core::Config {
            max_pending_per_socket: 2,
            ..Default::default()
        });
        let c = e.open_client().unwrap();
        let h = connected(&e, &p, &c);
        let a = go(&e, &c, recv_req(h, 1));
        let b = go(&e, &c, recv_req(h, 1));
        let third = go(&e, &c, recv_req(h, 1));
        assert_eq!(third.status(), NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        assert!(!a.is_done() && !b.is_done());
    }

    #[test]
    fn per_client_pending_limit_answers_insufficient_resources() {
        let (e, p) = engine_with(wsksock_core::Config {
            max_pending_per_client: 1,
            ..Default::default()
        });
        let c = e.open_client().unwrap();
        p.set_auto(CallKind::Bind, true);
        p.set_auto(CallKind::Connect, true);
        let h = connected(&e, &p, &c);
        let _a = go(&e, &c, recv_req(h, 1));
        assert_eq!(
            go(&e, &c, recv_req(h, 1)).status(),
            NtStatus::STATUS_INSUFFICIENT_RESOURCES
        );
    }
}

mod closing_graceful {
    use super::*;

    #[test]
    fn close_completes_at_once_and_the_handle_is_dead() {
        let (e, p, c, h, _s, _send, _recv) = socket_busy();
        let close = go(&e, &c, close_req(h, CloseMode::Default, 0, false));
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(r.last_reference, 1);
        assert_eq!(r.teardown_status, NtStatus::STATUS_PENDING.0);
        assert_eq!(
            go(&e, &c, recv_req(h, 1)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
        assert_eq!(
            go(&e, &c, close_req(h, CloseMode::Default, 0, false)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
        p.assert_clean();
    }

    #[test]
    fn pending_receive_is_cancelled_but_the_send_finishes() {
        let (e, p, c, h, s, send, recv) = socket_busy();
        go(&e, &c, close_req(h, CloseMode::Graceful, 0, false)).expect_ok();
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert!(!send.is_done(), "graceful close lets the send finish");
        assert!(
            disconnects(&p, s).is_empty(),
            "no disconnect while a send is pending"
        );
        p.complete_first(CallKind::Send);
        assert_eq!(send.expect_ok().info, 5);
        assert_eq!(disconnects(&p, s), vec![false]);
        assert_eq!(close_count(&p, s), 0, "close waits for the graceful disconnect");
        p.complete_first(CallKind::Disconnect { abortive: false });
        assert_eq!(close_count(&p, s), 1);
        assert_eq!(p.freed(), vec![s]);
        assert_eq!(e.stats().sockets_alive, 0);
        p.assert_clean();
    }

    #[test]
    fn sends_issued_before_close_are_never_cancelled() {
        let (e, p, c, h, s, _send, _recv) = socket_busy();
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        let send_op = p.calls_on(s);
        let cancels: Vec<_> = p
            .calls()
            .into_iter()
            .filter(|c| c.kind == CallKind::Cancel)
            .collect();
        assert_eq!(cancels.len(), 1, "only the receive: {send_op:?}");
        assert_eq!(p.pending_of(CallKind::Send).len(), 1);
    }

    #[test]
    fn wait_flag_completes_close_after_the_teardown() {
        let (e, p, c, h, s, send, _recv) = socket_busy();
        let close = go(&e, &c, close_req(h, CloseMode::Graceful, 0, true));
        assert!(!close.is_done());
        p.complete_first(CallKind::Send);
        assert!(!close.is_done());
        p.complete_first(CallKind::Disconnect { abortive: false });
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(
            (r.last_reference, r.teardown_status, r.disconnect),
            (1, 0, Disconnect::Graceful as u32)
        );
        assert!(send.is_done());
        assert_eq!(p.freed(), vec![s]);
    }

    #[test]
    fn object_is_freed_only_after_the_close_irp_completes() {
        let (e, p, c, h, s) = socket_connected();
        p.set_auto(CallKind::Close, false);
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        go(&e, &c, close_req(h, CloseMode::Graceful, 0, false)).expect_ok();
        assert_eq!(close_count(&p, s), 1);
        assert!(p.freed().is_empty(), "the close IRP is still out");
        assert_eq!(e.stats().sockets_alive, 1);
        let id = p.pending_of(CallKind::Close)[0];
        p.complete_close(id);
        assert_eq!(p.freed(), vec![s]);
        p.assert_clean();
    }

    #[test]
    fn never_connected_socket_is_closed_without_disconnect() {
        let (e, p) = engine();
        let c = e.open_client().unwrap();
        let h = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        assert_eq!(
            p.calls()
                .iter()
                .filter(|c| matches!(c.kind, CallKind::Disconnect { .. }))
                .count(),
            0
        );
        assert_eq!(p.freed().len(), 1);
    }
}

mod closing_abortive {
    use super::*;

    #[test]
    fn everything_is_cancelled_then_abortive_disconnect_then_close() {
        let (e, p, c, h, s, send, recv) = socket_busy();
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        go(&e, &c, close_req(h, CloseMode::Abortive, 0, false)).expect_ok();
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        let calls = p.calls_on(s);
        let d = calls
            .iter()
            .position(|k| *k == CallKind::Disconnect { abortive: true })
            .unwrap();
        let cl = calls.iter().position(|k| *k == CallKind::Close).unwrap();
        assert!(d < cl, "disconnect before close: {calls:?}");
        assert_eq!(p.freed(), vec![s]);
        p.assert_clean();
    }

    #[test]
    fn linger_zero_makes_the_default_close_abortive() {
        let (e, p, c, h, s) = socket_connected();
        go(&e, &c, linger_req(h, true, 0)).expect_ok();
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        assert_eq!(disconnects(&p, s), vec![true]);
    }

    #[test]
    fn abortive_does_not_wait_for_cancels_a_provider_ignores() {
        let (e, p, c, h, s, send, _recv) = socket_busy();
        p.set_cancel_mode(support::scripted::CancelMode::Ignore);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        go(&e, &c, close_req(h, CloseMode::Abortive, 0, false)).expect_ok();
        assert_eq!(
            close_count(&p, s),
            1,
            "close goes ahead; it completes the ignored ops"
        );
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        p.assert_clean();
    }
}

mod lingering {
    use super::*;

    #[test]
    fn sends_that_finish_in_time_end_gracefully_and_the_timer_is_cancelled() {
        let (e, p, c, h, s, _send, _recv) = socket_busy();
        go(&e, &c, close_req(h, CloseMode::Linger, 2, false)).expect_ok();
        assert_eq!(p.timers(), 1);
        p.complete_first(CallKind::Send);
        p.complete_first(CallKind::Disconnect { abortive: false });
        assert_eq!(p.timers(), 0, "timer cancelled");
        assert_eq!(disconnects(&p, s), vec![false]);
        assert_eq!(p.freed(), vec![s]);
    }

    #[test]
    fn expiry_while_sends_pend_cancels_them_and_resets() {
        let (e, p, c, h, s, send, _recv) = socket_busy();
        go(&e, &c, close_req(h, CloseMode::Linger, 1, false)).expect_ok();
        assert!(!send.is_done());
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        assert_eq!(p.fire_timers(), 1);
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(disconnects(&p, s), vec![true]);
        assert_eq!(p.freed(), vec![s]);
        p.assert_clean();
    }

    #[test]
    fn expiry_while_graceful_disconnect_pends_resets_and_closes() {
        let (e, p, c, h, s) = socket_connected();
        let close = go(&e, &c, close_req(h, CloseMode::Linger, 1, true));
        assert_eq!(disconnects(&p, s), vec![false]);
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        p.fire_timers();
        assert_eq!(disconnects(&p, s), vec![false, true]);
        assert_eq!(
            close_count(&p, s),
            1,
            "the close forces the stuck graceful disconnect to complete"
        );
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(r.disconnect, Disconnect::Abortive as u32);
        p.assert_clean();
    }
}

mod refcounted {
    use super::*;

    #[test]
    fn duplicate_keeps_the_socket_open_until_the_last_close() {
        let (e, p, c, h, s) = socket_connected();
        let h2 = go(&e, &c, dup_req(h, 0)).handle();
        let r: CloseReply = reply_of(&go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok());
        assert_eq!(r.last_reference, 0);
        assert!(disconnects(&p, s).is_empty() && close_count(&p, s) == 0);
        let recv = go(&e, &c, recv_req(h2, 4));
        assert!(!recv.is_done(), "the duplicate still works");
        p.set_auto(CallKind::Disconnect { abortive: false }, true);
        let r: CloseReply = reply_of(&go(&e, &c, close_req(h2, CloseMode::Default, 0, false)).expect_ok());
        assert_eq!(r.last_reference, 1);
        assert_eq!(disconnects(&p, s), vec![false]);
        assert_eq!(close_count(&p, s), 1);
    }

    #[test]
    fn closing_one_handle_aborts_only_its_own_operations() {
        let (e, p, c, h, _s) = socket_connected();
        let h2 = go(&e, &c, dup_req(h, 0)).handle();
        let r1 = go(&e, &c, recv_req(h, 4));
        let r2 = go(&e, &c, recv_req(h2, 4));
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        assert_eq!(r1.status(), NtStatus::STATUS_CANCELLED);
        assert!(!r2.is_done());
        p.assert_clean();
    }

    #[test]
    fn duplicate_into_another_client() {
        let (e, p, c, h, s) = socket_connected();
        let other = e.open_client().unwrap();
        let h2 = go(&e, &c, dup_req(h, other.id())).handle();
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        assert_eq!(close_count(&p, s), 0);
        assert!(
            !go(&e, &other, recv_req(h2, 1)).is_done(),
            "the other client's handle works"
        );
        assert_eq!(
            go(&e, &c, recv_req(h2, 1)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
    }

    #[test]
    fn handle_slot_reuse_does_not_revive_the_old_handle() {
        let (e, _p) = engine();
        let c = e.open_client().unwrap();
        let h = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
        go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
        let h2 = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
        assert_eq!(h2.index, h.index);
        assert_ne!(h2.generation, h.generation);
        assert_eq!(
            go(&e, &c, handle_req(Op::Statistics, h)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
    }
}

mod wine_provider {
    use super::*;

    #[test]
    fn disconnect_not_implemented_goes_on_to_close() {
        let (e, p, c, h, s) = socket_connected();
        p.set_disconnect_not_implemented(true);
        let close = go(&e, &c, close_req(h, CloseMode::Graceful, 0, true));
        assert_eq!(disconnects(&p, s), vec![false]);
        assert_eq!(close_count(&p, s), 1);
        assert!(
            close.is_done(),
            "no hang on a disconnect that never completes its IRP"
        );
        p.assert_clean();
    }

    #[test]
    fn linger_with_ignored_cancels_still_ends() {
        let (e, p, c, h, s, send, _recv) = socket_busy();
        p.set_cancel_mode(support::scripted::CancelMode::Ignore);
        p.set_disconnect_not_implemented(true);
        go(&e, &c, close_req(h, CloseMode::Linger, 1, false)).expect_ok();
        p.fire_timers();
        assert_eq!(close_count(&p, s), 1);
        assert_eq!(
            send.status(),
            NtStatus::STATUS_CANCELLED,
            "completed by the close"
        );
        assert_eq!(p.freed(), vec![s]);
    }
}

mod client_cleanup {
    use super::*;

    #[test]
    fn cleanup_closes_every_handle_and_cancels_pending_requests() {
        let (e, p, c, h, s, send, recv) = socket_busy();
        let h2 = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
        let _ = h2;
        e.cleanup_client(&c);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert!(
            !send.is_done(),
            "the socket's own linger setting (off: graceful) applies"
        );
        p.complete_first(CallKind::Send);
        p.complete_first(CallKind::Disconnect { abortive: false });
        assert_eq!(p.freed().len(), 2);
        assert!(p.freed().contains(&s));
        assert_eq!(e.stats().sockets_alive, 0);
        assert_eq!(
            go(&e, &c, handle_req(Op::Statistics, h)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
    }

    #[test]
    fn a_socket_created_after_cleanup_is_torn_down() {
        let (e, p) = engine();
        p.set_auto(CallKind::Create, false);
        // The cleanup's cancel loses the race: the provider creates the socket anyway.
        p.set_cancel_mode(support::scripted::CancelMode::Ignore);
        let c = e.open_client().unwrap();
        let create = go(&e, &c, socket_req(AF_INET, SocketKind::Stream));
        let id = p.pending_of(CallKind::Create)[0];
        e.cleanup_client(&c);
        p.complete(id, NtStatus::STATUS_SUCCESS, 0);
        assert!(create.status().is_error());
        assert_eq!(p.freed().len(), 1);
        assert_eq!(e.stats().sockets_alive, 0);
        p.assert_clean();
    }
}

mod unloading {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn unload_closes_everything_then_reports_idle_once() {
        let (e, p, _c, _h, s, _send, recv) = socket_busy();
        let idle = Arc::new(AtomicU32::new(0));
        let i2 = idle.clone();
        e.unload(Box::new(move || {
            i2.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(idle.load(Ordering::SeqCst), 0, "a send is still out");
        assert_eq!(p.timers(), 1, "graceful teardowns get the unload deadline");
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        p.fire_timers();
        assert_eq!(disconnects(&p, s), vec![true]);
        assert_eq!(idle.load(Ordering::SeqCst), 1);
        assert!(e.open_client().is_err());
        p.assert_clean();
    }

    #[test]
    fn unload_with_nothing_open_is_idle_at_once() {
        let (e, _p) = engine();
        let idle = Arc::new(AtomicU32::new(0));
        let i2 = idle.clone();
        e.unload(Box::new(move || {
            i2.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(idle.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn requests_after_unload_get_device_not_ready() {
        let (e, _p) = engine();
        let c = e.open_client().unwrap();
        e.unload(Box::new(|| {}));
        let r = go(&e, &c, socket_req(AF_INET, SocketKind::Stream));
        assert_eq!(r.status(), NtStatus::STATUS_DEVICE_NOT_READY);
    }
}
