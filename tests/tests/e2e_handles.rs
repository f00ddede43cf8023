//! End to end: handles and clients — duplicates keep a socket open until the
//! last close, stale and foreign handles are refused without disturbing anything, and client
//! cleanup (IRP_MJ_CLEANUP) closes everything with each socket's own linger setting.

use std::time::Duration;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{Disconnect, SocketKind};
use wsksock_tests::fastpattern as pattern;
use wsksock_tests::ops::{self, assert_pending, assert_torn_down, post_sends, wait, wait_sends};
use wsksock_tests::wire::{assert_report, v4_any, Listener};
use wsksock_tests::{run, run_deferred, Client, CloseMode, End, Handle, NtStatus, Profile, Rig, MIB};

const LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------
// DUPLICATE within a client: closing one handle leaves the socket open (the peer sees nothing,
// data still flows through the other), the last close ends it with FIN.

fn duplicate_same_client(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let h2 = client.duplicate(h, 0).expect("duplicate");
    assert_ne!(h, h2);
    assert_eq!(client.statistics(h).expect("statistics").handles, 2);
    // A receive issued through `h`: closing `h` aborts it (it was issued through that handle).
    // One through `h2`: it is not `h`'s, so it survives.
    let recv_h = client.receive(h, 64);
    let recv_h2 = client.receive(h2, 64);
    assert_pending(&recv_h, "receive through h", Duration::from_millis(20));
    let closed = ops::close(&client, h, CloseMode::Graceful, true);
    assert_eq!(closed.status, NtStatus::STATUS_SUCCESS);
    assert!(!closed.last_reference, "h2 still names the socket: {closed:?}");
    assert_eq!(closed.disconnect, Disconnect::None, "{closed:?}");
    assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_INVALID_HANDLE);
    assert_eq!(client.statistics(h2).expect("statistics").handles, 1);
    conn.assert_silent(QUIET);
    if rig.is_wine() {
        // Wine ignores IoCancelIrp: the receive stays posted in netio (closed.cancelled counts
        // the cancel requested) and takes the next bytes — which it returns, not loses (invariant 6).
        assert_pending(&recv_h, "receive through the closed handle under Wine", QUIET);
        conn.write_all(b"first");
        let c = wait(&recv_h, "receive through the closed handle", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
        assert_eq!(&c.output[..c.info], b"first");
    } else {
        let c = wait(&recv_h, "receive through the closed handle", SHORT);
        assert_eq!(c.status, NtStatus::STATUS_CANCELLED);
    }
    assert_eq!(closed.cancelled, 1, "{closed:?}");
    // Both ways through the surviving handle; its receive was left alone.
    assert_pending(&recv_h2, "receive through h2", Duration::from_millis(10));
    let sent = wait(&client.send(h2, b"ping".to_vec()), "send through h2", SHORT);
    assert_eq!((sent.status, sent.info), (NtStatus::STATUS_SUCCESS, 4));
    assert_eq!(conn.read_exact(4, SHORT), b"ping");
    conn.write_all(b"pong");
    let c = wait(&recv_h2, "receive through h2", SHORT);
    assert_eq!(
        (c.status, &c.output[..c.info]),
        (NtStatus::STATUS_SUCCESS, &b"pong"[..])
    );
    conn.assert_silent(QUIET);
    let last = ops::close(&client, h2, CloseMode::Default, true);
    assert_torn_down(rig, &last, Disconnect::Graceful);
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
}

#[test]
fn duplicated_handle_keeps_socket_open_until_last_close_then_fin() {
    run(Profile::Windows, LIMIT, duplicate_same_client);
}

/// Wine: same on the wire; the receive issued through the first handle cannot be cancelled
/// there and completes with the next data instead.
#[test]
fn duplicated_handle_keeps_socket_open_until_last_close_then_fin_under_wine() {
    run(Profile::Wine8, LIMIT, duplicate_same_client);
}

// DUPLICATE into another client: the socket outlives its creator's cleanup.

fn duplicate_other_client(rig: &Rig) {
    let (a, a_id) = rig.client_with_id();
    let (b, b_id) = rig.client_with_id();
    let peer = Listener::v4();
    let h = ops::connect(&a, peer.addr());
    let mut conn = peer.accept(SHORT);
    // Into a client that is gone: refused, and no reference is left behind (finish checks
    // that every socket is gone after unload).
    let (gone, gone_id) = rig.client_with_id();
    drop(gone);
    let refused = a.duplicate(h, gone_id).map_err(|e| e.status);
    assert_eq!(
        refused,
        Err(NtStatus::STATUS_INVALID_PARAMETER),
        "into a cleaned-up client"
    );
    assert_eq!(a.statistics(h).expect("statistics").handles, 1);
    // Into B without B's consent: refused, nothing added.
    assert_eq!(
        a.duplicate(h, b_id).map_err(|e| e.status),
        Err(NtStatus::STATUS_ACCESS_DENIED),
        "into a client that did not allow it"
    );
    assert_eq!(a.statistics(h).expect("statistics").handles, 1);
    // B allows one handle from A: one DUPLICATE goes in, the next is refused again.
    b.allow_duplicate(a_id, 1).expect("allow");
    let hb = a.duplicate(h, b_id).expect("duplicate into client B");
    assert_eq!(a.statistics(h).expect("statistics").handles, 2);
    assert_eq!(
        a.duplicate(h, b_id).map_err(|e| e.status),
        Err(NtStatus::STATUS_ACCESS_DENIED),
        "the allowance is used up"
    );
    assert_eq!(a.statistics(h).expect("statistics").handles, 2);
    drop(a); // IRP_MJ_CLEANUP of client A closes `h`
    assert_eq!(b.statistics(hb).expect("statistics").handles, 1);
    conn.assert_silent(QUIET);
    let data = pattern::bytes(0, MIB);
    let sent = wait(&b.send(hb, data), "send through B's handle", SHORT);
    assert_eq!(sent.status, NtStatus::STATUS_SUCCESS);
    let got = conn.read_exact(MIB, SHORT);
    assert_eq!(pattern::first_mismatch(0, &got), None);
    let last = ops::close(&b, hb, CloseMode::Default, true);
    assert_torn_down(rig, &last, Disconnect::Graceful);
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
}

#[test]
fn duplicate_into_other_client_keeps_socket_open_after_creator_cleanup() {
    run(Profile::Windows, LIMIT, duplicate_other_client);
}

#[test]
fn duplicate_into_other_client_keeps_socket_open_after_creator_cleanup_under_wine() {
    run(Profile::Wine8, LIMIT, duplicate_other_client);
}

// ---------------------------------------------------------------------------------------------
// A stale handle (closed, slot reused) and another client's handle are refused with
// STATUS_INVALID_HANDLE, and the live connection does not notice.

#[track_caller]
fn assert_refused(client: &Client, h: Handle, who: &str) {
    let invalid = NtStatus::STATUS_INVALID_HANDLE;
    assert_eq!(ops::probe_send(client, h), invalid, "{who}: send");
    let r = wait(&client.receive(h, 16), "receive", SHORT);
    assert_eq!(r.status, invalid, "{who}: receive");
    assert_eq!(
        client.bind(h, v4_any()).map_err(|e| e.status),
        Err(invalid),
        "{who}: bind"
    );
    assert_eq!(
        client.duplicate(h, 0).map_err(|e| e.status),
        Err(invalid),
        "{who}: duplicate"
    );
    assert_eq!(
        client.statistics(h).map(|_| ()).map_err(|e| e.status),
        Err(invalid),
        "{who}: statistics"
    );
    assert_eq!(
        client.cancel(h).map_err(|e| e.status),
        Err(invalid),
        "{who}: cancel"
    );
    let c = client.close(h, CloseMode::Abortive, true);
    assert_eq!(c.map(|_| ()).map_err(|e| e.status), Err(invalid), "{who}: close");
}

fn stale_and_foreign(rig: &Rig) {
    let (a, _) = rig.client_with_id();
    let (b, _) = rig.client_with_id();
    let peer = Listener::v4();
    let live = ops::connect(&a, peer.addr());
    let mut conn = peer.accept(SHORT);
    // Stale: closed, and its slot reused by a new socket.
    let stale = a.socket(AF_INET, SocketKind::Stream).expect("socket");
    ops::close(&a, stale, CloseMode::Default, true);
    let fresh = a.socket(AF_INET, SocketKind::Stream).expect("socket");
    assert_eq!(stale.index, fresh.index, "the freed slot is reused");
    assert_ne!(
        stale.generation, fresh.generation,
        "a reused slot gets a new generation"
    );
    assert_refused(&a, stale, "stale handle");
    a.bind(fresh, v4_any())
        .expect("the new socket in the reused slot works");
    // Foreign: client B names A's connected socket (B's own table is empty).
    assert_refused(&b, live, "another client's handle");
    assert_refused(&b, fresh, "another client's handle");
    // Nothing reached the wire, and A's connection still works both ways.
    conn.assert_silent(QUIET);
    assert_eq!(a.statistics(live).expect("statistics").handles, 1);
    let data = pattern::bytes(0, 256 * 1024);
    let c = wait(&a.send(live, data), "send on the live handle", SHORT);
    assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
    assert_eq!(
        pattern::first_mismatch(0, &conn.read_exact(256 * 1024, SHORT)),
        None
    );
    conn.write_all(b"back");
    assert_eq!(ops::receive_exact(&a, live, 4, SHORT), b"back");
    ops::close(&a, fresh, CloseMode::Default, true);
    assert_torn_down(
        rig,
        &ops::close(&a, live, CloseMode::Default, true),
        Disconnect::Graceful,
    );
    assert_report(&conn.drain(SHORT), 0, &End::Fin);
}

#[test]
fn stale_and_foreign_handles_are_refused_and_do_not_disturb_the_socket() {
    run(Profile::Windows, LIMIT, stale_and_foreign);
}

#[test]
fn stale_and_foreign_handles_are_refused_and_do_not_disturb_the_socket_under_wine() {
    run(Profile::Wine8, LIMIT, stale_and_foreign);
}

// ---------------------------------------------------------------------------------------------
// Client cleanup (the channel dropped) closes every handle with its socket's linger setting and
// cancels what was pending; another client is not touched.

fn client_cleanup(rig: &Rig) {
    const TOTAL: usize = 8 * MIB;
    let client = rig.client();
    let other = rig.client();
    // 1: default linger, sends queued, also duplicated → graceful: all data, then FIN.
    let p1 = Listener::v4();
    let h1 = ops::connect(&client, p1.addr());
    let _h1_dup = client.duplicate(h1, 0).expect("duplicate");
    let mut c1 = p1.accept(SHORT);
    let sends1 = post_sends(&client, h1, TOTAL, 8);
    // 2: SO_LINGER {1,0}, sends queued, peer not reading → abortive.
    let p2 = Listener::v4_small();
    let h2 = ops::connect(&client, p2.addr());
    client.set_linger(h2, Some(0)).expect("SO_LINGER {1,0}");
    let mut c2 = p2.accept(SHORT);
    let sends2 = post_sends(&client, h2, TOTAL, 8);
    // 6: SO_LINGER {1,1}, sends queued, peer not reading for 1.5 s → RST after 1 s.
    let p6 = Listener::v4_small();
    let h6 = ops::connect(&client, p6.addr());
    client.set_linger(h6, Some(1)).expect("SO_LINGER {1,1}");
    let mut c6 = p6.accept(SHORT);
    let sends6 = post_sends(&client, h6, TOTAL, 8);
    // 3: a receive pending.
    let p3 = Listener::v4();
    let h3 = ops::connect(&client, p3.addr());
    let mut c3 = p3.accept(SHORT);
    let recv3 = client.receive(h3, 4096);
    // 4: a listening socket with an accept pending.
    let l4 = client.socket(AF_INET, SocketKind::Listen).expect("listen socket");
    client.bind(l4, v4_any()).expect("bind");
    let accept4 = client.accept(l4);
    // The other client's connection.
    let p5 = Listener::v4();
    let h5 = ops::connect(&other, p5.addr());
    let mut c5 = p5.accept(SHORT);
    assert_pending(&recv3, "receive", Duration::from_millis(20));
    assert!(!accept4.is_done());

    drop(client); // IRP_MJ_CLEANUP
    let cleaned_up = std::time::Instant::now();

    assert_eq!(
        wait(&recv3, "receive at cleanup", SHORT).status,
        NtStatus::STATUS_CANCELLED
    );
    assert_eq!(
        wait(&accept4, "accept at cleanup", SHORT).status,
        NtStatus::STATUS_CANCELLED
    );
    assert_report(&c3.drain(SHORT), 0, &End::Fin);
    let r2 = c2.drain(LONG);
    assert_eq!(r2.first_mismatch, None, "{r2:?}");
    assert!(r2.bytes < TOTAL as u64, "abortive: queued data dropped: {r2:?}");
    let sent2 = wait_sends(&sends2, SHORT);
    assert!(!sent2.failures.is_empty(), "{sent2:?}");
    if rig.is_wine() {
        assert_eq!(r2.end, End::Fin, "Wine closes with FIN: {r2:?}");
    } else {
        assert_eq!(
            r2.end,
            End::Reset,
            "SO_LINGER {{1,0}} at cleanup is a RST: {r2:?}"
        );
    }
    assert_report(&c1.drain(LONG), TOTAL as u64, &End::Fin);
    let sent1 = wait_sends(&sends1, SHORT);
    assert!(sent1.failures.is_empty(), "graceful at cleanup: {sent1:?}");
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(cleaned_up.elapsed()));
    let r6 = c6.drain(LONG);
    assert!(r6.first_mismatch.is_none() && r6.bytes < TOTAL as u64, "{r6:?}");
    assert!(!wait_sends(&sends6, SHORT).failures.is_empty());
    let expected6 = if rig.is_wine() { End::Fin } else { End::Reset };
    assert_eq!(
        r6.end, expected6,
        "SO_LINGER {{1,1}} at cleanup, peer stalled: {r6:?}"
    );
    // The other client never noticed.
    c5.assert_silent(QUIET);
    let c = wait(&other.send(h5, b"alive".to_vec()), "other client's send", SHORT);
    assert_eq!(c.status, NtStatus::STATUS_SUCCESS);
    assert_eq!(c5.read_exact(5, SHORT), b"alive");
    assert_eq!(other.statistics(h5).expect("statistics").handles, 1);
    drop(other);
    assert_report(&c5.drain(SHORT), 0, &End::Fin);
}

#[test]
fn client_cleanup_closes_everything_per_linger_setting() {
    run(Profile::Windows, LIMIT, client_cleanup);
}

/// Wine: the SO_LINGER {1,0} socket loses its queued data too but ends with FIN.
#[test]
fn client_cleanup_closes_everything_per_linger_setting_under_wine() {
    run(Profile::Wine8, LIMIT, client_cleanup);
}

// ---------------------------------------------------------------------------------------------
// Deferred completions (nothing completes inside its call).

#[test]
fn duplicated_handle_keeps_socket_open_until_last_close_then_fin_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, duplicate_same_client);
}

#[test]
fn client_cleanup_closes_everything_per_linger_setting_deferred_completions() {
    run_deferred(Profile::Windows, LIMIT, client_cleanup);
}

#[test]
fn client_cleanup_closes_everything_per_linger_setting_deferred_completions_under_wine() {
    run_deferred(Profile::Wine8, LIMIT, client_cleanup);
}
