//! Engine unit tests, grouped by the state of the socket under test (smoltcp style), against
//! the scripted provider whose completions each test releases in the order it chooses. Tests of
//! races put "the other thread" into a hook that runs inside the window the race needs (a
//! request's buffer being taken, its completion, a timer being started).
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/

mod support;

use std::sync::{Arc, Mutex};
use support::scripted::CancelMode;
use support::treq::Slot;
use support::*;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{
    CloseMode, CloseReply, Disconnect, Message, OptionReply, ShutdownHow, SocketKind, StatisticsReply,
};
use wsksock_abi::{Handle, NtStatus, Op};
use wsksock_core::Config;

/// Fixture: a connected socket with one send and one receive pending.
struct Busy {
    f: Fixture,
    send: Slot,
    recv: Slot,
}

fn socket_busy() -> Busy {
    let f = Fixture::connected();
    let send = f.go(send_req(f.handle, b"hello"));
    let recv = f.go(recv_req(f.handle, 16));
    assert!(!send.is_done() && !recv.is_done());
    Busy { f, send, recv }
}

/// A slot filled later, from inside a hook.
#[derive(Clone, Default)]
struct Later(Arc<Mutex<Option<Slot>>>);

impl Later {
    fn set(&self, s: Slot) {
        *self.0.lock().unwrap() = Some(s);
    }

    fn get(&self) -> Slot {
        self.0.lock().unwrap().clone().expect("the hook ran")
    }
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
        let f = Fixture::connected();
        let send = f.go(send_req(f.handle, b"hello"));
        assert!(!send.is_done(), "a send pends until the provider completes it");
        assert!(f.provider.complete_first(CallKind::Send));
        let o = send.expect_ok();
        assert_eq!(o.info, 5);
        assert_eq!(o.data.as_deref(), Some(&b"hello"[..]));
        assert_eq!(f.engine.stats().bytes_sent, 5);
    }

    #[test]
    fn receive_returns_its_data() {
        let f = Fixture::connected();
        let recv = f.go(recv_req(f.handle, 8));
        let id = f.provider.pending_of(CallKind::Receive)[0];
        f.provider.complete(id, NtStatus::STATUS_SUCCESS, 3);
        assert_eq!(recv.expect_ok().info, 3);
    }

    #[test]
    fn request_cancel_cancels_its_operation_only() {
        let f = Fixture::connected();
        let r1 = f.go(recv_req(f.handle, 8));
        let r2 = f.go(recv_req(f.handle, 8));
        r1.cancel();
        assert_eq!(r1.status(), NtStatus::STATUS_CANCELLED);
        assert!(!r2.is_done());
        assert_eq!(r1.completions(), 1);
    }

    #[test]
    fn cancel_that_loses_the_race_keeps_the_data() {
        let f = Fixture::connected();
        f.provider.set_cancel_mode(CancelMode::Ignore);
        let r = f.go(recv_req(f.handle, 8));
        r.cancel();
        let id = f.provider.pending_of(CallKind::Receive)[0];
        f.provider.complete(id, NtStatus::STATUS_SUCCESS, 4);
        let o = r.expect_ok();
        assert_eq!(
            o.info, 4,
            "data that arrived despite the cancel is returned, never lost"
        );
    }

    #[test]
    fn cancel_request_aborts_pending_ops_without_closing() {
        let f = Fixture::connected();
        let r = f.go(recv_req(f.handle, 8));
        let cancel = f.go(handle_req(Op::Cancel, f.handle));
        assert_eq!(
            reply_of::<wsksock_abi::msg::CancelReply>(&cancel.expect_ok()).cancelled,
            1
        );
        assert_eq!(r.status(), NtStatus::STATUS_CANCELLED);
        let again = f.go(recv_req(f.handle, 8));
        assert!(!again.is_done(), "the handle still works");
        f.provider.assert_clean();
    }

    #[test]
    fn linger_option_round_trips_and_stays_in_the_engine() {
        let f = Fixture::connected();
        f.go(linger_req(f.handle, true, 7)).expect_ok();
        let mut m = wsksock_abi::msg::OptionRequest::new_zeroed_with_header();
        m.handle = f.handle;
        m.option = wsksock_abi::msg::SocketOption::Linger as u32;
        let got = f.go(TReq::new(Op::GetOption, bytes(&m)));
        let r: OptionReply = reply_of(&got.expect_ok());
        assert_eq!((r.value, r.value2), (1, 7));
        assert!(
            !f.provider.calls_on(f.sock).contains(&CallKind::SetOption),
            "SO_LINGER never reaches WSK"
        );
    }

    #[test]
    fn statistics_count_per_socket_and_globally() {
        let f = Fixture::connected();
        f.go(send_req(f.handle, b"abc"));
        f.provider.complete_first(CallKind::Send);
        let st: StatisticsReply = reply_of(&f.go(handle_req(Op::Statistics, f.handle)).expect_ok());
        assert_eq!((st.scope, st.bytes_sent, st.handles), (1, 3, 1));
        let g: StatisticsReply = reply_of(&f.go(handle_req(Op::Statistics, Handle::NULL)).expect_ok());
        assert_eq!((g.scope, g.sockets_alive, g.bytes_sent), (0, 1, 3));
    }

    #[test]
    fn per_socket_pending_limit_answers_insufficient_resources() {
        let f = Fixture::connected_with(Config {
            max_pending_per_socket: 2,
            ..Default::default()
        });
        let a = f.go(recv_req(f.handle, 1));
        let b = f.go(recv_req(f.handle, 1));
        let third = f.go(recv_req(f.handle, 1));
        assert_eq!(third.status(), NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        assert!(!a.is_done() && !b.is_done());
    }

    #[test]
    fn per_client_pending_limit_answers_insufficient_resources() {
        let (e, p) = engine_with(Config {
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
        let Busy { f, .. } = socket_busy();
        let close = f.go(close_req(f.handle, CloseMode::Default, 0, false));
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(r.last_reference, 1);
        assert_eq!(r.teardown_status, NtStatus::STATUS_PENDING.0);
        assert_eq!(
            f.go(recv_req(f.handle, 1)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
        assert_eq!(
            f.go(close_req(f.handle, CloseMode::Default, 0, false)).status(),
            NtStatus::STATUS_INVALID_HANDLE
        );
        f.provider.assert_clean();
    }

    #[test]
    fn pending_receive_is_cancelled_but_the_send_finishes() {
        let Busy { f, send, recv } = socket_busy();
        f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
            .expect_ok();
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert!(!send.is_done(), "graceful close lets the send finish");
        assert!(
            f.disconnects().is_empty(),
            "no disconnect while a send is pending"
        );
        f.provider.complete_first(CallKind::Send);
        assert_eq!(send.expect_ok().info, 5);
        assert_eq!(f.disconnects(), vec![false]);
        assert_eq!(f.closes(), 0, "close waits for the graceful disconnect");
        f.provider
            .complete_first(CallKind::Disconnect { abortive: false });
        assert_eq!(f.closes(), 1);
        assert_eq!(f.provider.freed(), vec![f.sock]);
        assert_eq!(f.engine.stats().sockets_alive, 0);
        f.provider.assert_clean();
    }

    #[test]
    fn sends_issued_before_close_are_never_cancelled() {
        let Busy { f, .. } = socket_busy();
        f.go(close_req(f.handle, CloseMode::Default, 0, false))
            .expect_ok();
        let cancels: Vec<_> = f
            .provider
            .calls()
            .into_iter()
            .filter(|c| c.kind == CallKind::Cancel)
            .collect();
        assert_eq!(cancels.len(), 1, "only the receive: {cancels:?}");
        assert_eq!(f.provider.pending_of(CallKind::Send).len(), 1);
    }

    #[test]
    fn wait_flag_completes_close_after_the_teardown() {
        let Busy { f, send, .. } = socket_busy();
        let close = f.go(close_req(f.handle, CloseMode::Graceful, 0, true));
        assert!(!close.is_done());
        f.provider.complete_first(CallKind::Send);
        assert!(!close.is_done());
        f.provider
            .complete_first(CallKind::Disconnect { abortive: false });
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(
            (r.last_reference, r.teardown_status, r.disconnect),
            (1, 0, Disconnect::Graceful as u32)
        );
        assert!(send.is_done());
        assert_eq!(f.provider.freed(), vec![f.sock]);
    }

    #[test]
    fn object_is_freed_only_after_the_close_irp_completes() {
        let f = Fixture::connected();
        f.provider.set_auto(CallKind::Close, false);
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
            .expect_ok();
        assert_eq!(f.closes(), 1);
        assert!(f.provider.freed().is_empty(), "the close IRP is still out");
        assert_eq!(f.engine.stats().sockets_alive, 1);
        let id = f.provider.pending_of(CallKind::Close)[0];
        f.provider.complete_close(id);
        assert_eq!(f.provider.freed(), vec![f.sock]);
        f.provider.assert_clean();
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
        let Busy { f, send, recv } = socket_busy();
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        let calls = f.provider.calls_on(f.sock);
        let d = calls
            .iter()
            .position(|k| *k == CallKind::Disconnect { abortive: true })
            .unwrap();
        let cl = calls.iter().position(|k| *k == CallKind::Close).unwrap();
        assert!(d < cl, "disconnect before close: {calls:?}");
        assert_eq!(f.provider.freed(), vec![f.sock]);
        f.provider.assert_clean();
    }

    #[test]
    fn linger_zero_makes_the_default_close_abortive() {
        let f = Fixture::connected();
        f.go(linger_req(f.handle, true, 0)).expect_ok();
        f.go(close_req(f.handle, CloseMode::Default, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![true]);
    }

    #[test]
    fn abortive_does_not_wait_for_cancels_a_provider_ignores() {
        let Busy { f, send, .. } = socket_busy();
        f.provider.set_cancel_mode(CancelMode::Ignore);
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        assert_eq!(f.closes(), 1, "close goes ahead; it completes the ignored ops");
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        f.provider.assert_clean();
    }
}

mod lingering {
    use super::*;

    #[test]
    fn sends_that_finish_in_time_end_gracefully_and_the_timer_is_cancelled() {
        let Busy { f, .. } = socket_busy();
        f.go(close_req(f.handle, CloseMode::Linger, 2, false)).expect_ok();
        assert_eq!(f.provider.timer_delays(), vec![2_000]);
        f.provider.complete_first(CallKind::Send);
        f.provider
            .complete_first(CallKind::Disconnect { abortive: false });
        assert_eq!(f.provider.timers(), 0, "timer cancelled");
        assert_eq!(f.disconnects(), vec![false]);
        assert_eq!(f.provider.freed(), vec![f.sock]);
    }

    #[test]
    fn expiry_while_sends_pend_cancels_them_and_resets() {
        let Busy { f, send, .. } = socket_busy();
        f.go(close_req(f.handle, CloseMode::Linger, 1, false)).expect_ok();
        assert!(!send.is_done());
        assert_eq!(f.pass_deadline(), 1);
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(f.disconnects(), vec![true]);
        assert_eq!(f.provider.freed(), vec![f.sock]);
        f.provider.assert_clean();
    }

    #[test]
    fn expiry_while_graceful_disconnect_pends_resets_and_closes() {
        let f = Fixture::connected();
        let close = f.go(close_req(f.handle, CloseMode::Linger, 1, true));
        assert_eq!(f.disconnects(), vec![false]);
        f.pass_deadline();
        assert_eq!(f.disconnects(), vec![false, true]);
        assert_eq!(
            f.closes(),
            1,
            "the close forces the stuck graceful disconnect to complete"
        );
        let r: CloseReply = reply_of(&close.expect_ok());
        assert_eq!(r.disconnect, Disconnect::Abortive as u32);
        f.provider.assert_clean();
    }
}

mod refcounted {
    use super::*;

    #[test]
    fn duplicate_keeps_the_socket_open_until_the_last_close() {
        let f = Fixture::connected();
        let h2 = f.duplicate();
        let r: CloseReply = reply_of(
            &f.go(close_req(f.handle, CloseMode::Default, 0, false))
                .expect_ok(),
        );
        assert_eq!(r.last_reference, 0);
        assert!(f.disconnects().is_empty() && f.closes() == 0);
        let recv = f.go(recv_req(h2, 4));
        assert!(!recv.is_done(), "the duplicate still works");
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        let r: CloseReply = reply_of(&f.go(close_req(h2, CloseMode::Default, 0, false)).expect_ok());
        assert_eq!(r.last_reference, 1);
        assert_eq!(f.disconnects(), vec![false]);
        assert_eq!(f.closes(), 1);
    }

    #[test]
    fn closing_one_handle_aborts_only_its_own_operations() {
        let f = Fixture::connected();
        let h2 = f.duplicate();
        let r1 = f.go(recv_req(f.handle, 4));
        let r2 = f.go(recv_req(h2, 4));
        f.go(close_req(f.handle, CloseMode::Default, 0, false))
            .expect_ok();
        assert_eq!(r1.status(), NtStatus::STATUS_CANCELLED);
        assert!(!r2.is_done());
        f.provider.assert_clean();
    }

    #[test]
    fn duplicate_into_another_client() {
        let f = Fixture::connected();
        let other = f.engine.open_client().unwrap();
        go(&f.engine, &other, allow_req(f.client.id(), 1)).expect_ok();
        let h2 = f.go(dup_req(f.handle, other.id())).handle();
        f.go(close_req(f.handle, CloseMode::Default, 0, false))
            .expect_ok();
        assert_eq!(f.closes(), 0);
        assert!(
            !go(&f.engine, &other, recv_req(h2, 1)).is_done(),
            "the other client's handle works"
        );
        assert_eq!(f.go(recv_req(h2, 1)).status(), NtStatus::STATUS_INVALID_HANDLE);
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

/// An operation whose handle is closed by another thread between the handle lookup and the start
/// of the operation (bug 1 of issue 11): the hook of `take_buffer` is that window.
mod racing_the_close_of_its_handle {
    use super::*;

    /// A RECEIVE on `f.handle` during which `close` runs.
    fn receive_while(f: &Fixture, close: impl FnOnce() + Send + 'static) -> Slot {
        f.go(recv_req(f.handle, 8).on_take_buffer(close))
    }

    #[test]
    fn a_receive_whose_handle_closes_meanwhile_is_refused_while_a_duplicate_keeps_the_socket() {
        let f = Fixture::connected();
        let dup = f.duplicate();
        let (engine, client, handle) = (f.engine.clone(), f.client.clone(), f.handle);
        let close = Later::default();
        let close_slot = close.clone();
        let recv = receive_while(&f, move || {
            close_slot.set(go(
                &engine,
                &client,
                close_req(handle, CloseMode::Default, 0, false),
            ));
        });
        let reply: CloseReply = reply_of(&close.get().expect_ok());
        assert_eq!(reply.last_reference, 0, "the duplicate keeps the socket open");
        assert!(
            recv.is_done(),
            "neither refused nor cancelled: it escaped the close of its handle"
        );
        assert_eq!(recv.status(), NtStatus::STATUS_INVALID_HANDLE);
        assert!(f.provider.pending_of(CallKind::Receive).is_empty());
        // The duplicate still works.
        assert!(!f.go(recv_req(dup, 4)).is_done());
        f.unload_clean();
    }

    #[test]
    fn a_receive_racing_its_clients_cleanup_is_refused_while_another_client_keeps_the_socket() {
        let f = Fixture::connected();
        let other = f.engine.open_client().unwrap();
        go(&f.engine, &other, allow_req(f.client.id(), 1)).expect_ok();
        f.go(dup_req(f.handle, other.id())).expect_ok();
        let (e, c) = (f.engine.clone(), f.client.clone());
        let recv = receive_while(&f, move || e.cleanup_client(&c));
        assert!(recv.is_done(), "the receive escaped the cleanup");
        assert_eq!(recv.status(), NtStatus::STATUS_INVALID_HANDLE);
        assert!(f.provider.pending_of(CallKind::Receive).is_empty());
        f.unload_clean();
    }
}

/// A completion replying while another thread finishes the socket (bug 2 of issue 11): the
/// hook of the request's completion is that window.
mod replying_while_the_socket_finishes {
    use super::*;

    #[test]
    fn a_waiting_close_completes_after_the_last_request_of_its_socket() {
        let f = Fixture::connected();
        let p = &f.provider;
        p.hold_completions();
        p.set_auto(CallKind::Disconnect { abortive: true }, true);
        let p2 = p.clone();
        let recv = f.go(recv_req(f.handle, 8).on_complete(move || {
            // Another CPU completes the close IRP while this reply is on its way.
            let id = p2.pending_of(CallKind::Close)[0];
            p2.complete_close(id);
        }));
        let close = f.go(close_req(f.handle, CloseMode::Abortive, 0, true));
        assert!(!recv.is_done(), "the provider ignored the cancel");
        assert_eq!(f.closes(), 1);
        let id = p.pending_of(CallKind::Receive)[0];
        p.complete(id, NtStatus::STATUS_CANCELLED, 0);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert!(close.is_done(), "the teardown finished");
        assert!(
            recv.completed_before(&close),
            "the waiting CLOSE reported the teardown finished before the socket's last request completed"
        );
        f.provider.assert_clean();
        f.unload_clean();
    }
}

/// SHUTDOWN and the teardown's disconnect (bug 3 of issue 11): only a SHUTDOWN that succeeded
/// spares a graceful close its disconnect; an abortive teardown resets whatever SHUTDOWN did.
mod shut_down {
    use super::*;

    /// A connected socket with a SHUTDOWN(send) issued and still pending.
    fn shutting_down() -> (Fixture, Slot) {
        let f = Fixture::connected();
        let s = f.go(shutdown_req(f.handle, ShutdownHow::Send));
        assert!(!s.is_done());
        assert_eq!(f.disconnects(), vec![false]);
        (f, s)
    }

    /// A connected socket whose SHUTDOWN(send) succeeded (the FIN is out).
    fn shut_down_ok() -> Fixture {
        let (f, s) = shutting_down();
        assert!(f
            .provider
            .complete_first(CallKind::Disconnect { abortive: false }));
        s.expect_ok();
        f
    }

    /// A connected socket whose SHUTDOWN(send) failed with `status`.
    fn shut_down_failed(status: NtStatus) -> Fixture {
        let (f, s) = shutting_down();
        let id = f.provider.pending_of(CallKind::Disconnect { abortive: false })[0];
        f.provider.complete(id, status, 0);
        assert_eq!(s.status(), status);
        f
    }

    #[test]
    fn after_a_failed_shutdown_the_graceful_close_still_disconnects() {
        let f = shut_down_failed(NtStatus::STATUS_INVALID_DEVICE_STATE);
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
            .expect_ok();
        assert_eq!(
            f.disconnects(),
            vec![false, false],
            "a SHUTDOWN that failed sent no FIN: the close must"
        );
        assert_eq!(f.closes(), 1);
        f.provider.assert_clean();
    }

    #[test]
    fn after_a_cancelled_shutdown_the_graceful_close_still_disconnects() {
        let (f, s) = shutting_down();
        s.cancel();
        assert_eq!(s.status(), NtStatus::STATUS_CANCELLED);
        f.provider
            .set_auto(CallKind::Disconnect { abortive: false }, true);
        f.go(close_req(f.handle, CloseMode::Default, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![false, false]);
        f.provider.assert_clean();
    }

    #[test]
    fn after_wines_unimplemented_shutdown_the_graceful_close_still_disconnects() {
        let f = Fixture::connected();
        f.provider.set_disconnect_not_implemented(true);
        let s = f.go(shutdown_req(f.handle, ShutdownHow::Send));
        assert_eq!(s.status(), NtStatus::STATUS_NOT_IMPLEMENTED);
        f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![false, false]);
        assert_eq!(f.closes(), 1);
        f.provider.assert_clean();
    }

    #[test]
    fn after_a_successful_shutdown_the_graceful_close_does_not_disconnect_again() {
        let f = shut_down_ok();
        f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![false], "the FIN is already out");
        assert_eq!(f.closes(), 1);
        f.provider.assert_clean();
    }

    #[test]
    fn after_a_successful_shutdown_an_abortive_close_resets() {
        let f = shut_down_ok();
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![false, true], "a hard close resets");
        assert_eq!(f.closes(), 1);
        f.provider.assert_clean();
    }

    #[test]
    fn after_a_successful_shutdown_linger_zero_resets() {
        let f = shut_down_ok();
        f.go(linger_req(f.handle, true, 0)).expect_ok();
        f.provider.set_auto(CallKind::Disconnect { abortive: true }, true);
        f.go(close_req(f.handle, CloseMode::Default, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![false, true]);
    }

    #[test]
    fn linger_expiry_while_the_shutdown_pends_resets() {
        let (f, s) = shutting_down();
        f.go(close_req(f.handle, CloseMode::Linger, 1, false)).expect_ok();
        assert!(
            !s.is_done(),
            "a graceful close waits for the SHUTDOWN like a send"
        );
        assert_eq!(f.pass_deadline(), 1);
        assert_eq!(s.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(f.disconnects(), vec![false, true], "linger expired: RST");
        assert_eq!(f.closes(), 1);
        f.provider.assert_clean();
    }
}

mod wine_provider {
    use super::*;

    #[test]
    fn disconnect_not_implemented_goes_on_to_close() {
        let f = Fixture::connected();
        f.provider.set_disconnect_not_implemented(true);
        let close = f.go(close_req(f.handle, CloseMode::Graceful, 0, true));
        assert_eq!(f.disconnects(), vec![false]);
        assert_eq!(f.closes(), 1);
        assert!(
            close.is_done(),
            "no hang on a disconnect that never completes its IRP"
        );
        f.provider.assert_clean();
    }

    #[test]
    fn linger_with_ignored_cancels_still_ends() {
        let Busy { f, send, .. } = socket_busy();
        f.provider.set_cancel_mode(CancelMode::Ignore);
        f.provider.set_disconnect_not_implemented(true);
        f.go(close_req(f.handle, CloseMode::Linger, 1, false)).expect_ok();
        f.provider.fire_timers();
        assert_eq!(f.closes(), 1);
        assert_eq!(
            send.status(),
            NtStatus::STATUS_CANCELLED,
            "completed by the close"
        );
        assert_eq!(f.provider.freed(), vec![f.sock]);
    }
}

mod client_cleanup {
    use super::*;

    #[test]
    fn cleanup_closes_every_handle_and_cancels_pending_requests() {
        let Busy { f, send, recv } = socket_busy();
        let other = f.go(socket_req(AF_INET, SocketKind::Stream)).handle();
        f.engine.cleanup_client(&f.client);
        // Every handle is closed.
        for h in [f.handle, other] {
            assert_eq!(
                f.go(handle_req(Op::Statistics, h)).status(),
                NtStatus::STATUS_INVALID_HANDLE
            );
        }
        assert_eq!(f.provider.freed().len(), 1, "the unconnected socket is gone");
        // The receive is cancelled at once; the send gets the socket's own linger setting (off:
        // graceful) within the cleanup bound.
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert!(!send.is_done());
        assert_eq!(
            f.provider.timer_delays(),
            vec![Config::default().cleanup_linger_ms],
            "a graceful teardown started by cleanup is bounded"
        );
        // The peer stopped reading: the bound passes, the send is cancelled, the socket reset.
        assert_eq!(f.pass_deadline(), 1);
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(f.disconnects(), vec![true]);
        assert!(f.freed());
        assert_eq!(f.engine.stats().sockets_alive, 0);
        assert_eq!(f.client.pending(), 0, "no request of the client is left pending");
        f.provider.assert_clean();
    }

    #[test]
    fn cleanup_lets_sends_finish_within_the_bound() {
        let Busy { f, send, .. } = socket_busy();
        f.engine.cleanup_client(&f.client);
        f.provider.complete_first(CallKind::Send);
        assert_eq!(send.expect_ok().info, 5);
        f.provider
            .complete_first(CallKind::Disconnect { abortive: false });
        assert_eq!(f.disconnects(), vec![false]);
        assert_eq!(f.provider.timers(), 0, "the bound's timer is cancelled");
        assert!(f.freed());
        f.provider.assert_clean();
    }

    #[test]
    fn cleanup_bounds_a_teardown_its_earlier_close_started() {
        let Busy { f, send, .. } = socket_busy();
        f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
            .expect_ok();
        assert_eq!(
            f.provider.timers(),
            0,
            "an explicit graceful close has no deadline"
        );
        f.engine.cleanup_client(&f.client);
        assert_eq!(
            f.provider.timer_delays(),
            vec![Config::default().cleanup_linger_ms]
        );
        f.pass_deadline();
        assert_eq!(send.status(), NtStatus::STATUS_CANCELLED);
        assert!(f.freed());
        f.provider.assert_clean();
    }

    #[test]
    fn a_socket_created_after_cleanup_is_torn_down() {
        let (e, p) = engine();
        p.set_auto(CallKind::Create, false);
        // The cleanup's cancel loses the race: the provider creates the socket anyway.
        p.set_cancel_mode(CancelMode::Ignore);
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

    fn counter() -> (Arc<AtomicU32>, Box<dyn FnOnce() + Send>) {
        let idle = Arc::new(AtomicU32::new(0));
        let i2 = idle.clone();
        (
            idle,
            Box::new(move || {
                i2.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[test]
    fn unload_closes_everything_then_reports_idle_once() {
        let Busy { f, recv, .. } = socket_busy();
        let (idle, on_idle) = counter();
        f.engine.unload(on_idle);
        assert_eq!(recv.status(), NtStatus::STATUS_CANCELLED);
        assert_eq!(idle.load(Ordering::SeqCst), 0, "a send is still out");
        assert_eq!(
            f.provider.timer_delays(),
            vec![Config::default().unload_linger_ms],
            "graceful teardowns get the unload deadline"
        );
        f.pass_deadline();
        assert_eq!(f.disconnects(), vec![true]);
        assert_eq!(idle.load(Ordering::SeqCst), 1);
        assert!(f.engine.open_client().is_err());
        f.provider.assert_clean();
    }

    #[test]
    fn unload_with_nothing_open_is_idle_at_once() {
        let (e, _p) = engine();
        let (idle, on_idle) = counter();
        e.unload(on_idle);
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

    /// Risk 4 of issue 11: unload must not arm a deadline on a teardown that is already abortive
    /// (it would issue a second abortive disconnect when it fires).
    #[test]
    fn unload_leaves_an_abortive_teardown_alone() {
        let f = Fixture::connected();
        f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
            .expect_ok();
        assert_eq!(f.disconnects(), vec![true], "the abortive disconnect pends");
        let (idle, on_idle) = counter();
        f.engine.unload(on_idle);
        assert_eq!(f.provider.timers(), 0, "no deadline on an abortive teardown");
        f.provider.fire_timers();
        f.provider.complete_first(CallKind::Disconnect { abortive: true });
        assert_eq!(f.disconnects(), vec![true], "one abortive disconnect");
        assert_eq!(idle.load(Ordering::SeqCst), 1);
        f.provider.assert_clean();
    }

    /// Risk 5 of issue 11: unload between a lingering close deciding on its timer and storing it
    /// still bounds that teardown.
    #[test]
    fn unload_bounds_a_linger_timer_being_armed() {
        let f = Fixture::connected();
        let (idle, on_idle) = counter();
        let e = f.engine.clone();
        f.provider.on_start_timer(move || e.unload(on_idle));
        f.go(close_req(f.handle, CloseMode::Linger, 600, false))
            .expect_ok();
        assert_eq!(
            f.provider.timer_delays(),
            vec![Config::default().unload_linger_ms],
            "the teardown lingers up to 600 s past unload"
        );
        f.pass_deadline();
        assert_eq!(f.disconnects(), vec![false, true]);
        assert_eq!(idle.load(Ordering::SeqCst), 1);
        f.provider.assert_clean();
    }
}
