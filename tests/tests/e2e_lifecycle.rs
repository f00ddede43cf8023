//! End to end, around the close path (invariants 3, 6 and 8 of `core/src/lib.rs`): unload with a
//! teardown stuck on a stalled peer, a peer's reset, half close and what it leaves the close,
//! cancellation without close, IRP_MJ_CLEANUP on a channel still in use or stuck on a stalled
//! peer, and Wine's 10-operation limit.

use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{Disconnect, ShutdownHow, SocketKind};
use wsksock_core::Config;
use wsksock_emu::{CompletionMode, WINE_MAX_PENDING};
use wsksock_tests::fastpattern as pattern;
use wsksock_tests::ops::{self, assert_pending, assert_torn_down, post_sends, wait, wait_sends, Stalled};
use wsksock_tests::wire::{assert_report, Listener};
use wsksock_tests::{run, run_deferred, run_with, Client, CloseMode, End, NtStatus, Profile, Rig, MIB};

const LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Unload with a graceful teardown stuck behind a peer that does not read: after
// `unload_linger_ms` it turns abortive, and unload reports idle (invariant 8).

fn unload_stalled(rig: &Rig) {
    const TOTAL: usize = 16 * MIB;
    let client = rig.client();
    let Stalled { mut conn, sends, .. } = ops::stalled_sends(&client, TOTAL, 8);
    let started = Instant::now();
    assert!(rig.unload(SHORT), "unload did not report idle");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "graceful teardown cut short: {took:?}"
    );
    // A request after unload is refused.
    let e = client.socket(AF_INET, SocketKind::Stream).expect_err("unloaded");
    assert_eq!(e.status, NtStatus::STATUS_DEVICE_NOT_READY);
    let sent = wait_sends(&sends, SHORT);
    assert!(!sent.failures.is_empty(), "{sent:?}");
    assert!(
        sent.failures.iter().all(|s| *s == NtStatus::STATUS_CANCELLED),
        "{sent:?}"
    );
    let r = conn.drain(LONG);
    assert!(r.first_mismatch.is_none() && r.bytes < TOTAL as u64, "{r:?}");
    let expected = if rig.is_wine() { End::Fin } else { End::Reset };
    assert_eq!(r.end, expected, "{r:?}");
}

fn quick_unload() -> Config {
    Config {
        unload_linger_ms: 500,
        ..Config::default()
    }
}

#[test]
fn unload_turns_stalled_graceful_teardown_abortive_and_reports_idle() {
    run_with(Profile::Windows, quick_unload(), LIMIT, unload_stalled);
}

/// Wine: unload still reports idle after the unload linger; FIN instead of RST.
#[test]
fn unload_turns_stalled_graceful_teardown_abortive_and_reports_idle_under_wine() {
    run_with(Profile::Wine8, quick_unload(), LIMIT, unload_stalled);
}

/// SO_LINGER {1, 20 s} against a stalled peer: unload should bound that teardown by
/// `unload_linger_ms` as it does a plain graceful one (the engine's own comment: "unload never
/// waits forever for a peer that stopped reading"; SO_LINGER allows up to 65535 s).
#[test]
fn unload_bounds_a_lingering_teardown_by_unload_linger() {
    run_with(Profile::Windows, quick_unload(), LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4_small();
        let h = ops::connect(&client, peer.addr());
        client.set_linger(h, Some(20)).expect("SO_LINGER {1,20}");
        let mut conn = peer.accept(SHORT);
        let sends = post_sends(&client, h, 16 * MIB, 8);
        let started = Instant::now();
        let idle = rig.unload(SHORT);
        let took = started.elapsed();
        assert!(
            idle,
            "unload with a lingering socket not idle after {took:?} (unload_linger_ms 500)"
        );
        assert!(!wait_sends(&sends, SHORT).failures.is_empty());
        assert_eq!(conn.drain(LONG).end, End::Reset);
    });
}

// ---------------------------------------------------------------------------------------------
// The peer resets: pending receive and sends fail with STATUS_CONNECTION_RESET, and a graceful
// close afterwards completes at once instead of waiting on a dead connection.

fn peer_reset(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4_small();
    let h = ops::connect(&client, peer.addr());
    let conn = peer.accept(SHORT);
    let recv = client.receive(h, 100);
    let sends = post_sends(&client, h, 8 * MIB, 8);
    assert_pending(&recv, "receive", Duration::from_millis(20));
    socket2::SockRef::from(conn.stream())
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER {1,0}");
    drop(conn); // RST
    assert_eq!(
        wait(&recv, "receive", SHORT).status,
        NtStatus::STATUS_CONNECTION_RESET
    );
    let sent = wait_sends(&sends, SHORT);
    assert!(!sent.failures.is_empty(), "{sent:?}");
    assert!(
        sent.failures
            .iter()
            .all(|s| *s == NtStatus::STATUS_CONNECTION_RESET),
        "{sent:?}"
    );
    let started = Instant::now();
    let closed = ops::close(&client, h, CloseMode::Graceful, true);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(closed.teardown_status, NtStatus::STATUS_SUCCESS, "{closed:?}");
    assert!(closed.last_reference, "{closed:?}");
}

#[test]
fn peer_reset_fails_pending_operations_and_close_completes_at_once() {
    run(Profile::Windows, LIMIT, peer_reset);
}

#[test]
fn peer_reset_fails_pending_operations_and_close_completes_at_once_under_wine() {
    run(Profile::Wine8, LIMIT, peer_reset);
}

// ---------------------------------------------------------------------------------------------
// SHUTDOWN(send): the peer gets the data then FIN while the engine still receives; the close
// then adds nothing. Wine has no WskDisconnect: the half close is refused and the close ends the
// connection with FIN.

fn half_close(rig: &Rig) {
    const TOTAL: usize = 4 * MIB;
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let sends = post_sends(&client, h, TOTAL, 4);
    let shutdown = client.shutdown(h, ShutdownHow::Send);
    if rig.is_wine() {
        let s = wait(&shutdown, "shutdown", SHORT).status;
        assert_eq!(s, NtStatus::STATUS_NOT_IMPLEMENTED);
        conn.write_all(b"late");
        assert_eq!(ops::receive_exact(&client, h, 4, SHORT), b"late");
        let reader = conn.drain_in_background(LONG);
        assert!(wait_sends(&sends, SHORT).failures.is_empty());
        let closed = ops::close(&client, h, CloseMode::Default, true);
        assert_eq!(closed.teardown_status, NtStatus::STATUS_SUCCESS, "{closed:?}");
        assert_report(&reader.join().expect("peer"), TOTAL as u64, &End::Fin);
        return;
    }
    // The FIN comes after every byte sent before it.
    assert_report(&conn.drain(LONG), TOTAL as u64, &End::Fin);
    assert_eq!(
        wait(&shutdown, "shutdown", SHORT).status,
        NtStatus::STATUS_SUCCESS
    );
    assert!(wait_sends(&sends, SHORT).failures.is_empty());
    // Sending is over; receiving is not.
    assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_INVALID_DEVICE_STATE);
    conn.write_all(b"late");
    assert_eq!(ops::receive_exact(&client, h, 4, SHORT), b"late");
    conn.shutdown_write();
    let fin = wait(&client.receive(h, 16), "receive of the FIN", SHORT);
    assert_eq!((fin.status, fin.info), (NtStatus::STATUS_SUCCESS, 0));
    assert_torn_down(
        rig,
        &ops::close(&client, h, CloseMode::Default, true),
        Disconnect::None,
    );
    assert!(
        matches!(
            conn.read_once(16, Duration::from_millis(100)),
            wsksock_tests::wire::Read1::End(End::Fin)
        ),
        "nothing after the FIN"
    );
}

#[test]
fn shutdown_send_gives_peer_all_data_then_fin_and_engine_still_receives() {
    run(Profile::Windows, LIMIT, half_close);
}

#[test]
fn shutdown_send_is_not_implemented_and_close_ends_with_fin_under_wine() {
    run(Profile::Wine8, LIMIT, half_close);
}

// ---------------------------------------------------------------------------------------------
// Only a SHUTDOWN that succeeded spares the close its disconnect (docs/ENGINE.md, "SHUTDOWN and
// RST"): after one that failed, a graceful close still sends every byte then FIN (a close
// without a disconnect resets on Windows); after one that succeeded, an abortive close still
// resets, as a hard close does.

fn failed_shutdown_then_graceful_close(rig: &Rig) {
    const TOTAL: usize = MIB;
    let client = rig.client();
    let peer = Listener::v4();
    let h = client.socket(AF_INET, SocketKind::Stream).expect("socket");
    client.bind(h, wsksock_tests::wire::v4_any()).expect("bind");
    // Not connected yet: the SHUTDOWN fails and sends nothing.
    let s = wait(&client.shutdown(h, ShutdownHow::Send), "shutdown", SHORT).status;
    assert!(s.is_error(), "SHUTDOWN of an unconnected socket: {s:?}");
    let c = wait(&client.connect(h, peer.addr()), "connect", SHORT);
    assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
    let conn = peer.accept(SHORT);
    let reader = conn.drain_in_background(LONG);
    let sends = post_sends(&client, h, TOTAL, 4);
    let closed = ops::close(&client, h, CloseMode::Graceful, true);
    assert_report(&reader.join().expect("peer"), TOTAL as u64, &End::Fin);
    assert!(wait_sends(&sends, SHORT).failures.is_empty());
    assert_torn_down(rig, &closed, Disconnect::Graceful);
}

#[test]
fn a_failed_shutdown_leaves_the_graceful_close_its_fin() {
    run(Profile::Windows, LIMIT, failed_shutdown_then_graceful_close);
}

#[test]
fn a_failed_shutdown_leaves_the_graceful_close_its_fin_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, failed_shutdown_then_graceful_close);
}

fn shutdown_then_abortive_close(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    client.send(h, b"data".to_vec());
    let s = wait(&client.shutdown(h, ShutdownHow::Send), "shutdown", SHORT).status;
    assert_eq!(s, NtStatus::STATUS_SUCCESS);
    let r = conn.drain(SHORT);
    assert_eq!((r.bytes, &r.end), (4, &End::Fin), "{r:?}");
    assert!(
        !conn.reset_after_fin(Duration::from_millis(50)),
        "RST before the close"
    );
    let closed = ops::close(&client, h, CloseMode::Abortive, true);
    assert!(
        conn.reset_after_fin(SHORT),
        "an abortive close after SHUTDOWN(send) put no RST on the wire"
    );
    assert_torn_down(rig, &closed, Disconnect::Abortive);
}

#[test]
fn an_abortive_close_after_a_successful_shutdown_resets() {
    run(Profile::Windows, LIMIT, shutdown_then_abortive_close);
}

#[test]
fn an_abortive_close_after_a_successful_shutdown_resets_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, shutdown_then_abortive_close);
}

// ---------------------------------------------------------------------------------------------
// Client cleanup bounds a graceful teardown (Config::cleanup_linger_ms): against a peer that
// stopped reading, the client's sends end and the peer sees RST soon after IRP_MJ_CLEANUP.

fn quick_cleanup() -> Config {
    Config {
        cleanup_linger_ms: 300,
        ..Config::default()
    }
}

fn cleanup_stalled(rig: &Rig) {
    const TOTAL: usize = 16 * MIB;
    let client = rig.client();
    let Stalled { mut conn, sends, .. } = ops::stalled_sends(&client, TOTAL, 8);
    assert_pending(&sends[7].1, "the last send", Duration::from_millis(50));
    drop(client); // IRP_MJ_CLEANUP
    let sent = wait_sends(&sends, SHORT);
    assert!(
        !sent.failures.is_empty() && sent.failures.iter().all(|s| *s == NtStatus::STATUS_CANCELLED),
        "cut by the cleanup bound: {sent:?}"
    );
    let r = conn.drain(LONG);
    assert!(r.first_mismatch.is_none() && r.bytes < TOTAL as u64, "{r:?}");
    let expected = if rig.is_wine() { End::Fin } else { End::Reset };
    assert_eq!(r.end, expected, "{r:?}");
}

#[test]
fn cleanup_bounds_a_graceful_teardown_stuck_on_a_stalled_peer() {
    run_with(Profile::Windows, quick_cleanup(), LIMIT, cleanup_stalled);
}

#[test]
fn cleanup_bounds_a_graceful_teardown_stuck_on_a_stalled_peer_under_wine() {
    run_with(Profile::Wine8, quick_cleanup(), LIMIT, cleanup_stalled);
}

// ---------------------------------------------------------------------------------------------
// Cancellation without close: CancelIoEx on a pending receive, and the CANCEL request. On
// Windows both complete it with STATUS_CANCELLED and the socket keeps working; Wine ignores
// IoCancelIrp, so the receive stays pending and later takes data (returned, not lost).

fn cancel_without_close(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let r1 = client.receive(h, 16);
    assert_pending(&r1, "receive", Duration::from_millis(20));
    r1.cancel(); // CancelIoEx
    let r2 = client.receive(h, 16);
    assert_pending(&r2, "receive", Duration::from_millis(20));
    let n = client.cancel(h).expect("CANCEL");
    if rig.is_wine() {
        assert_pending(
            &r1,
            "receive after CancelIoEx under Wine",
            Duration::from_millis(100),
        );
        assert_pending(&r2, "receive after CANCEL under Wine", Duration::from_millis(10));
        conn.write_all(b"one");
        let c1 = wait(&r1, "first receive", SHORT);
        assert_eq!(
            (c1.status, &c1.output[..c1.info]),
            (NtStatus::STATUS_SUCCESS, &b"one"[..])
        );
        conn.write_all(b"two");
        let c2 = wait(&r2, "second receive", SHORT);
        assert_eq!(
            (c2.status, &c2.output[..c2.info]),
            (NtStatus::STATUS_SUCCESS, &b"two"[..])
        );
    } else {
        assert_eq!(
            wait(&r1, "receive after CancelIoEx", SHORT).status,
            NtStatus::STATUS_CANCELLED
        );
        assert_eq!(
            wait(&r2, "receive after CANCEL", SHORT).status,
            NtStatus::STATUS_CANCELLED
        );
        assert_eq!(n, 1, "CANCEL found the second receive");
        conn.write_all(b"three");
        assert_eq!(ops::receive_exact(&client, h, 5, SHORT), b"three");
    }
    conn.assert_silent(Duration::from_millis(50));
    let data = pattern::bytes(0, 1000);
    assert_eq!(
        wait(&client.send(h, data), "send", SHORT).status,
        NtStatus::STATUS_SUCCESS
    );
    ops::close(&client, h, CloseMode::Default, true);
    assert_report(&conn.drain(SHORT), 1000, &End::Fin);
}

#[test]
fn cancel_of_pending_receive_without_close_keeps_socket_usable() {
    run(Profile::Windows, LIMIT, cancel_without_close);
}

#[test]
fn cancel_of_pending_receive_does_nothing_and_data_is_not_lost_under_wine() {
    run(Profile::Wine8, LIMIT, cancel_without_close);
}

// ---------------------------------------------------------------------------------------------
// IRP_MJ_CLEANUP while the file object is still referenced: the client's sockets close, its
// pending requests are cancelled, new requests are refused with STATUS_DELETE_PENDING.

fn cleanup_in_use(rig: &Rig) {
    let chan = Arc::new(rig.device().open().expect("open"));
    let client = Client::new(Arc::clone(&chan));
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let recv = client.receive(h, 16);
    assert_pending(&recv, "receive", Duration::from_millis(20));
    chan.cleanup();
    assert_eq!(
        wait(&recv, "receive at cleanup", SHORT).status,
        NtStatus::STATUS_CANCELLED
    );
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
    assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_INVALID_HANDLE);
    let e = client
        .socket(AF_INET, SocketKind::Stream)
        .expect_err("after cleanup");
    assert_eq!(e.status, NtStatus::STATUS_DELETE_PENDING);
}

#[test]
fn cleanup_of_channel_in_use_closes_sockets_and_refuses_new_requests() {
    run(Profile::Windows, LIMIT, cleanup_in_use);
}

#[test]
fn cleanup_of_channel_in_use_closes_sockets_and_refuses_new_requests_under_wine() {
    run(Profile::Wine8, LIMIT, cleanup_in_use);
}

// ---------------------------------------------------------------------------------------------
// Wine 8 allows 10 pending operations per socket: the 11th fails at once with
// STATUS_UNSUCCESSFUL, the others are unaffected, and the close still completes cleanly.

#[test]
fn eleventh_pending_operation_fails_cleanly_under_wine() {
    run(Profile::Wine8, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        let mut conn = peer.accept(SHORT);
        // The peer sends nothing: every receive stays pending.
        let recvs: Vec<_> = (0..WINE_MAX_PENDING).map(|_| client.receive(h, 16)).collect();
        let eleventh = wait(&client.receive(h, 16), "the 11th operation", SHORT);
        assert_eq!(eleventh.status, NtStatus::STATUS_UNSUCCESSFUL);
        let send = wait(&client.send(h, b"x".to_vec()), "a 12th operation", SHORT);
        assert_eq!(send.status, NtStatus::STATUS_UNSUCCESSFUL);
        assert_pending(&recvs[0], "receive #1", Duration::from_millis(20));
        assert!(recvs.iter().all(|r| !r.is_done()));
        conn.assert_silent(Duration::from_millis(20));
        // Data still reaches the first receive; then there is room for a send again.
        conn.write_all(b"in");
        let c = wait(&recvs[0], "receive #1", SHORT);
        assert_eq!(
            (c.status, &c.output[..c.info]),
            (NtStatus::STATUS_SUCCESS, &b"in"[..])
        );
        let send = wait(&client.send(h, pattern::bytes(0, 100)), "send", SHORT);
        assert_eq!(send.status, NtStatus::STATUS_SUCCESS);
        let closed = ops::close(&client, h, CloseMode::Graceful, true);
        assert_eq!(closed.teardown_status, NtStatus::STATUS_SUCCESS, "{closed:?}");
        for r in &recvs[1..] {
            assert_eq!(
                wait(r, "receive at close", SHORT).status,
                NtStatus::STATUS_CANCELLED
            );
        }
        assert_report(&conn.drain(SHORT), 100, &End::Fin);
    });
}

// ---------------------------------------------------------------------------------------------
// A cancel is a request (invariant 6): racing CancelIoEx against arriving data, every byte the peer
// wrote is delivered exactly once — by the cancelled receive (success, with data) or by a later
// one — in order.

fn cancel_races_data(rig: &Rig) {
    const ROUNDS: usize = 300;
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let expected = pattern::bytes(0, ROUNDS);
    let mut got = Vec::new();
    let (mut cancelled, mut with_data) = (0, 0);
    for (i, b) in expected.iter().enumerate() {
        let r = client.receive(h, 64);
        match i % 3 {
            // The cancel first (Windows: the byte is left for a later receive).
            0 => {
                r.cancel();
                conn.write_all(&[*b]);
            }
            // The data first.
            1 => {
                conn.write_all(&[*b]);
                r.cancel();
            }
            // Both at once, from two threads.
            _ => std::thread::scope(|s| {
                s.spawn(|| r.cancel());
                conn.write_all(&[*b]);
            }),
        }
        let c = wait(&r, "receive", SHORT);
        match c.status {
            NtStatus::STATUS_SUCCESS => {
                assert!(c.info > 0, "FIN in round {i}");
                got.extend_from_slice(&c.output[..c.info]);
                with_data += 1;
            }
            NtStatus::STATUS_CANCELLED => {
                assert_eq!(c.info, 0, "a cancelled receive carries no data");
                cancelled += 1;
                // The byte is still there for the next receive (and each round starts empty).
                got.extend(ops::receive_exact(&client, h, 1, SHORT));
            }
            s => panic!("round {i}: receive completed with {s:?}"),
        }
    }
    conn.shutdown_write();
    loop {
        let c = wait(&client.receive(h, 4096), "receive", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
        if c.info == 0 {
            break;
        }
        got.extend_from_slice(&c.output[..c.info]);
    }
    assert_eq!(got, expected, "bytes lost, duplicated or reordered");
    if rig.is_wine() {
        assert_eq!(cancelled, 0, "Wine ignores IoCancelIrp");
    } else if rig.completions() == CompletionMode::Inline {
        // Every third round cancels before the byte is written: those are cancelled for sure.
        assert!(
            cancelled >= ROUNDS / 3,
            "{cancelled} cancelled, {with_data} with data"
        );
    }
    assert!(with_data > 0, "{cancelled} cancelled, {with_data} with data");
    ops::close(&client, h, CloseMode::Default, true);
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
}

#[test]
fn cancel_racing_arriving_data_loses_no_byte() {
    run(Profile::Windows, LIMIT, cancel_races_data);
}

#[test]
fn cancel_racing_arriving_data_loses_no_byte_under_wine() {
    run(Profile::Wine8, LIMIT, cancel_races_data);
}

/// Deferred completions: the cancel and the data race through the emulator's event loop.
#[test]
fn cancel_racing_arriving_data_loses_no_byte_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, cancel_races_data);
}
