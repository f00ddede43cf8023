//! End to end: the close modes of `docs/ENGINE.md` ("Close semantics") on the wire.
//!
//! Each scenario runs the engine over the emulator against a real loopback peer and is written
//! once with both profiles' expectations: Windows' WSK, and Wine 8's (no WskDisconnect — the
//! engine's disconnect fails synchronously and it goes on to WskCloseSocket, which Wine ends with
//! FIN after the data already in the host socket, cancelling what is still queued).

use std::time::{Duration, Instant};
use wsksock_abi::msg::Disconnect;
use wsksock_tests::ops::{self, assert_pending, assert_torn_down, post_sends, wait, wait_sends};
use wsksock_tests::wire::{assert_report, Listener};
use wsksock_tests::{run, run_deferred, CloseMode, End, NtStatus, Profile, Rig, MIB};

const LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Graceful close: 64 MiB posted, CLOSE issued without waiting for the sends → all of it, then FIN.

fn graceful_close_64_mib(rig: &Rig) {
    const TOTAL: usize = 64 * MIB;
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    // The peer does not read yet (16 KiB window): 64 MiB cannot fit in the host buffers, so
    // sends are pending.
    let sends = post_sends(&client, h, TOTAL, 8);
    assert!(
        !sends.last().expect("sends").1.is_done(),
        "the last send should still be pending when the close is issued"
    );
    let closed = ops::close(&client, h, CloseMode::Graceful, false);
    assert!(closed.last_reference, "{closed:?}");
    assert_eq!(
        closed.cancelled, 0,
        "a graceful close cancels no send: {closed:?}"
    );
    assert_eq!(
        closed.teardown_status,
        NtStatus::STATUS_PENDING,
        "no wait flag: {closed:?}"
    );
    // Invariant 4: the handle is gone at once, while its socket still drains.
    assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_INVALID_HANDLE);
    let report = conn.drain(LONG);
    assert_report(&report, TOTAL as u64, &End::Fin);
    let sent = wait_sends(&sends, SHORT);
    assert!(sent.failures.is_empty(), "sends failed: {sent:?}");
    assert_eq!(sent.bytes_ok, TOTAL as u64);
}

#[test]
fn graceful_close_delivers_64_mib_then_fin() {
    run(Profile::Windows, LIMIT, graceful_close_64_mib);
}

/// Wine: the engine drains the sends, its WskDisconnect fails (not implemented), WskCloseSocket
/// ends the connection with FIN after the last byte — the same outcome on the wire.
#[test]
fn graceful_close_delivers_64_mib_then_fin_under_wine() {
    run(Profile::Wine8, LIMIT, graceful_close_64_mib);
}

// ---------------------------------------------------------------------------------------------
// Abortive close with data queued and a peer that is not reading.

fn abortive_close(rig: &Rig) {
    const TOTAL: usize = 16 * MIB;
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 8);
    let closed = ops::close(&client, h, CloseMode::Abortive, true);
    assert_torn_down(rig, &closed, Disconnect::Abortive);
    let sent = wait_sends(&sends, SHORT);
    assert!(
        !sent.failures.is_empty(),
        "queued sends must not succeed: {sent:?}"
    );
    let report = conn.drain(LONG);
    assert_eq!(report.first_mismatch, None, "{report:?}");
    assert!(
        report.bytes < TOTAL as u64,
        "queued data must be dropped: {report:?}"
    );
    if rig.is_wine() {
        // Wine: no abortive disconnect; the close cancels the queued sends and ends with FIN.
        assert!(
            sent.failures.iter().all(|s| *s == NtStatus::STATUS_CANCELLED),
            "{sent:?}"
        );
        assert_eq!(report.end, End::Fin, "Wine closes with FIN: {report:?}");
    } else {
        assert!(
            sent.failures.iter().all(|s| matches!(
                *s,
                NtStatus::STATUS_CANCELLED | NtStatus::STATUS_CONNECTION_ABORTED
            )),
            "{sent:?}"
        );
        assert_eq!(report.end, End::Reset, "abortive close is a RST: {report:?}");
    }
}

#[test]
fn abortive_close_resets_peer_and_drops_queued_data() {
    run(Profile::Windows, LIMIT, abortive_close);
}

/// Wine: queued data is still dropped (the close cancels the sends), but the wire sees FIN.
#[test]
fn abortive_close_drops_queued_data_and_ends_with_fin_under_wine() {
    run(Profile::Wine8, LIMIT, abortive_close);
}

// ---------------------------------------------------------------------------------------------
// SO_LINGER {1, 1 s} and a peer that stops reading: RST after about 1 s, not a hang.

fn linger_stalled_peer(rig: &Rig) {
    const TOTAL: usize = 16 * MIB;
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    client.set_linger(h, Some(1)).expect("SO_LINGER {1,1}");
    assert_eq!(
        client.get_option(h, wsksock_abi::msg::SocketOption::Linger),
        Ok((1, 1))
    );
    let mut conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 8);
    let started = Instant::now();
    // Default mode: the socket's linger setting decides.
    let closed = ops::close(&client, h, CloseMode::Default, true);
    let took = started.elapsed();
    assert_torn_down(rig, &closed, Disconnect::Abortive);
    assert!(took >= Duration::from_millis(900), "linger ended early: {took:?}");
    assert!(took < SHORT, "linger of 1 s took {took:?}");
    let sent = wait_sends(&sends, SHORT);
    assert!(
        !sent.failures.is_empty(),
        "the peer never read, sends cannot all succeed: {sent:?}"
    );
    let report = conn.drain(LONG);
    assert_eq!(report.first_mismatch, None, "{report:?}");
    assert!(report.bytes < TOTAL as u64, "{report:?}");
    let expected = if rig.is_wine() { End::Fin } else { End::Reset };
    assert_eq!(report.end, expected, "{report:?}");
}

#[test]
fn linger_1s_against_stalled_peer_ends_in_rst_within_5s() {
    run(Profile::Windows, LIMIT, linger_stalled_peer);
}

/// Wine: the linger timer fires after 1 s as well; the fallback "abortive disconnect" is not
/// implemented, so WskCloseSocket ends it — queued sends cancelled, FIN instead of RST.
#[test]
fn linger_1s_against_stalled_peer_ends_in_fin_within_5s_under_wine() {
    run(Profile::Wine8, LIMIT, linger_stalled_peer);
}

// SO_LINGER {1, 5 s} and a reading peer: everything arrives within the time, then FIN.

fn linger_reading_peer(rig: &Rig) {
    const TOTAL: usize = 8 * MIB;
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    client.set_linger(h, Some(5)).expect("SO_LINGER {1,5}");
    let conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 8);
    let reader = conn.drain_in_background(LONG);
    let started = Instant::now();
    let closed = ops::close(&client, h, CloseMode::Default, true);
    assert!(started.elapsed() < SHORT, "{:?}", started.elapsed());
    assert_torn_down(rig, &closed, Disconnect::Graceful);
    let sent = wait_sends(&sends, SHORT);
    assert!(sent.failures.is_empty(), "{sent:?}");
    assert_report(&reader.join().expect("peer"), TOTAL as u64, &End::Fin);
}

#[test]
fn linger_5s_with_reading_peer_delivers_all_then_fin() {
    run(Profile::Windows, LIMIT, linger_reading_peer);
}

#[test]
fn linger_5s_with_reading_peer_delivers_all_then_fin_under_wine() {
    run(Profile::Wine8, LIMIT, linger_reading_peer);
}

// ---------------------------------------------------------------------------------------------
// Many sockets at once: 48 connections, each with 512 KiB posted and closed at once (every
// other one gracefully, the rest with SO_LINGER {1,5}); every peer gets all of its own bytes,
// then FIN.

fn many_sockets(rig: &Rig) {
    const N: usize = 48;
    const EACH: usize = 512 * 1024;
    let client = rig.client();
    let mut peers = Vec::new();
    let mut all_sends = Vec::new();
    for i in 0..N {
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        if i % 2 == 1 {
            client.set_linger(h, Some(5)).expect("SO_LINGER");
        }
        let conn = peer.accept(SHORT);
        all_sends.push(post_sends(&client, h, EACH, 4));
        let closed = ops::close(&client, h, CloseMode::Default, false);
        assert!(closed.last_reference, "{closed:?}");
        peers.push(conn.drain_in_background(LONG));
    }
    for (i, p) in peers.into_iter().enumerate() {
        let r = p.join().expect("peer");
        assert_report(&r, EACH as u64, &End::Fin);
        let sent = wait_sends(&all_sends[i], SHORT);
        assert!(sent.failures.is_empty(), "socket {i}: {sent:?}");
    }
    assert_eq!(rig.device().engine().stats().sockets_created, N as u64);
}

#[test]
fn many_sockets_closed_at_once_each_peer_gets_all_then_fin() {
    run(Profile::Windows, LIMIT, many_sockets);
}

#[test]
fn many_sockets_closed_at_once_each_peer_gets_all_then_fin_under_wine() {
    run(Profile::Wine8, LIMIT, many_sockets);
}

// ---------------------------------------------------------------------------------------------
// An explicit close mode overrides SO_LINGER for that close (the close table of `docs/ENGINE.md`, last row).

fn explicit_mode_overrides(rig: &Rig) {
    const TOTAL: usize = 4 * MIB;
    let client = rig.client();
    let peer = Listener::v4();
    for (linger, mode, secs, disconnect) in [
        (Some(0), CloseMode::Graceful, 0, Disconnect::Graceful),
        (Some(0), CloseMode::Linger, 5, Disconnect::Graceful),
        (Some(5), CloseMode::Graceful, 0, Disconnect::Graceful),
    ] {
        let h = ops::connect(&client, peer.addr());
        client.set_linger(h, linger).expect("SO_LINGER");
        let conn = peer.accept(SHORT);
        let sends = post_sends(&client, h, TOTAL, 4);
        let reader = conn.drain_in_background(LONG);
        let closed = client
            .close_linger(h, mode, secs, true)
            .unwrap_or_else(|e| panic!("close {mode:?}: {e}"));
        assert_torn_down(rig, &closed, disconnect);
        assert!(wait_sends(&sends, SHORT).failures.is_empty(), "{mode:?}");
        assert_report(&reader.join().expect("peer"), TOTAL as u64, &End::Fin);
    }
    // And the other way: an explicit abortive close of a socket without linger resets.
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    assert_torn_down(
        rig,
        &ops::close(&client, h, CloseMode::Abortive, true),
        Disconnect::Abortive,
    );
    let expected = if rig.is_wine() { End::Fin } else { End::Reset };
    assert_eq!(conn.drain(SHORT).end, expected);
}

#[test]
fn explicit_close_mode_overrides_so_linger() {
    run(Profile::Windows, LIMIT, explicit_mode_overrides);
}

#[test]
fn explicit_close_mode_overrides_so_linger_under_wine() {
    run(Profile::Wine8, LIMIT, explicit_mode_overrides);
}

// ---------------------------------------------------------------------------------------------
// A receive pending in thread A, the graceful close in thread B; the sends issued before the
// close still arrive intact.

fn cross_thread_close(rig: &Rig) {
    const TOTAL: usize = 16 * MIB;
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 8);
    let (posted_tx, posted_rx) = std::sync::mpsc::channel();
    let receiver = client.clone();
    let thread_a = std::thread::spawn(move || {
        let p = receiver.receive(h, 4096);
        posted_tx.send(p.clone()).expect("hand over");
        let c = p.wait_timeout(LONG);
        (c, Instant::now())
    });
    let receive = posted_rx
        .recv_timeout(SHORT)
        .expect("thread A posted its receive");
    assert_pending(&receive, "receive before the close", Duration::from_millis(50));
    let closed_at = Instant::now();
    let closed = ops::close(&client, h, CloseMode::Graceful, false);
    assert!(closed.last_reference, "{closed:?}");
    assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_INVALID_HANDLE);
    if rig.is_wine() {
        // Wine ignores IoCancelIrp: the receive stays with netio until WskCloseSocket, which
        // comes only after the sends drained — and the peer is not reading yet.
        assert_pending(
            &receive,
            "receive under Wine while sends drain",
            Duration::from_millis(300),
        );
    } else {
        // The close does not wait for the sends (nor for thread A) to cancel the receive.
        let c = wait(&receive, "receive after the close", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_CANCELLED);
        assert!(closed_at.elapsed() < SHORT);
        assert!(
            !sends.last().expect("sends").1.is_done(),
            "the peer has not read yet"
        );
    }
    let report = conn.drain(LONG);
    assert_report(&report, TOTAL as u64, &End::Fin);
    let sent = wait_sends(&sends, SHORT);
    assert!(
        sent.failures.is_empty(),
        "sends issued before the graceful close: {sent:?}"
    );
    let (c, _) = thread_a.join().expect("thread A");
    let c = c.expect("the receive completed");
    assert_eq!(c.status, NtStatus::STATUS_CANCELLED, "receive in thread A");
    assert_eq!(c.info, 0);
}

#[test]
fn close_in_other_thread_cancels_pending_receive_while_earlier_sends_arrive() {
    run(Profile::Windows, LIMIT, cross_thread_close);
}

/// Wine: the receive is still cancelled — but only once the sends drained and WskCloseSocket
/// ran (no IoCancelIrp there); the data still arrives intact, then FIN.
#[test]
fn close_in_other_thread_cancels_pending_receive_while_earlier_sends_arrive_under_wine() {
    run(Profile::Wine8, LIMIT, cross_thread_close);
}

// ---------------------------------------------------------------------------------------------
// The CLOSE reply counts the operations it cancelled (abi: `CloseReply::cancelled`, "operations
// issued through this handle that the close cancelled") — with or without the wait flag.

fn close_reply_counts_cancels(rig: &Rig, wait_flag: bool) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let receives: Vec<_> = (0..2).map(|_| client.receive(h, 64)).collect();
    assert_pending(&receives[1], "receive", Duration::from_millis(20));
    let closed = ops::close(&client, h, CloseMode::Graceful, wait_flag);
    for r in &receives {
        assert_eq!(
            wait(r, "receive at close", SHORT).status,
            NtStatus::STATUS_CANCELLED
        );
    }
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
    assert!(closed.last_reference, "{closed:?}");
    assert_eq!(
        closed.cancelled, 2,
        "the close cancelled two receives: {closed:?}"
    );
}

#[test]
fn close_reply_counts_cancelled_operations() {
    run(Profile::Windows, LIMIT, |rig| {
        close_reply_counts_cancels(rig, false);
    });
}

#[test]
fn close_reply_with_wait_flag_counts_cancelled_operations() {
    run(Profile::Windows, LIMIT, |rig| {
        close_reply_counts_cancels(rig, true);
    });
}

// ---------------------------------------------------------------------------------------------
// A CLOSE waiting for its teardown is a wait like any other (every wait operation can be
// cancelled with IoCancelIrp / CancelIoEx; invariant 8: cleanup cancels the client's
// pending requests). Against a peer that stopped reading, a graceful teardown without linger
// never ends on its own, so a waiter that cannot be cancelled waits forever.

fn waiting_close_abandoned(rig: &Rig, by_cleanup: bool) {
    const TOTAL: usize = 8 * MIB;
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 8);
    let closing = client.close_pending(h, CloseMode::Graceful, 0, true);
    assert_pending(
        &closing,
        "CLOSE waiting for the teardown",
        Duration::from_millis(100),
    );
    if by_cleanup {
        drop(client);
    } else {
        closing.cancel();
    }
    let c = closing.wait_timeout(Duration::from_secs(2));
    // The teardown itself goes on: the data still arrives, then FIN.
    let report = conn.drain(LONG);
    assert!(wait_sends(&sends, SHORT).failures.is_empty());
    assert_report(&report, TOTAL as u64, &End::Fin);
    let c = c.expect("the waiting CLOSE was abandoned but is still pending");
    assert_eq!(c.status, NtStatus::STATUS_CANCELLED);
}

#[test]
fn cancel_of_close_waiting_for_teardown_completes_it() {
    run(Profile::Windows, LIMIT, |rig| waiting_close_abandoned(rig, false));
}

#[test]
fn cleanup_completes_close_waiting_for_teardown() {
    run(Profile::Windows, LIMIT, |rig| waiting_close_abandoned(rig, true));
}

// ---------------------------------------------------------------------------------------------
// The same close modes over an emulator that completes nothing inside its call (every
// completion arrives later, from its event loop): the most asynchronous schedule.

#[test]
fn graceful_close_delivers_64_mib_then_fin_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, graceful_close_64_mib);
}

#[test]
fn abortive_close_resets_peer_and_drops_queued_data_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, abortive_close);
}

#[test]
fn linger_1s_against_stalled_peer_ends_in_rst_within_5s_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, linger_stalled_peer);
}

#[test]
fn close_in_other_thread_cancels_pending_receive_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, cross_thread_close);
}

#[test]
fn close_in_other_thread_cancels_pending_receive_deferred_completions_under_wine() {
    run_deferred(Profile::Wine8, LIMIT, cross_thread_close);
}

// ---------------------------------------------------------------------------------------------
// The CLOSE reply's `disconnect` is "the Disconnect that was performed" (abi `CloseReply`). A
// WskDisconnect that failed performed nothing: Wine's stub (STATUS_NOT_IMPLEMENTED — the wire
// shows the FIN of WskCloseSocket), or a graceful one on a connection the peer had reset.

#[test]
fn close_reply_reports_no_disconnect_when_wsk_disconnect_failed_under_wine() {
    run(Profile::Wine8, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4();
        for mode in [CloseMode::Abortive, CloseMode::Graceful] {
            let h = ops::connect(&client, peer.addr());
            let mut conn = peer.accept(SHORT);
            let closed = ops::close(&client, h, mode, true);
            assert_eq!(conn.drain(SHORT).end, End::Fin, "Wine's close: FIN");
            assert_eq!(closed.teardown_status, NtStatus::STATUS_SUCCESS, "{closed:?}");
            assert_eq!(closed.disconnect, Disconnect::None, "{mode:?}: {closed:?}");
        }
    });
}

#[test]
fn close_reply_reports_no_disconnect_after_peer_reset() {
    run(Profile::Windows, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        let conn = peer.accept(SHORT);
        let recv = client.receive(h, 16);
        socket2::SockRef::from(conn.stream())
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER {1,0}");
        drop(conn); // RST
        assert_eq!(
            wait(&recv, "receive", SHORT).status,
            NtStatus::STATUS_CONNECTION_RESET
        );
        let closed = ops::close(&client, h, CloseMode::Graceful, true);
        assert_eq!(closed.teardown_status, NtStatus::STATUS_SUCCESS, "{closed:?}");
        assert_eq!(closed.disconnect, Disconnect::None, "{closed:?}");
    });
}
