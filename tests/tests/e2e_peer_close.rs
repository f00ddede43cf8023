//! End to end against real loopback peers: WAIT_PEER_CLOSE (the peer's FIN, its RST, keepalive
//! finding it dead — a peer whose socket filter drops every segment, so it never answers a
//! probe), its cancel and the CLOSE that ends it; keepalive tuning; the owning process and the
//! per-call flags as the emulator's call log shows what reached WSK. Under Wine's WSK there are
//! no event callbacks and no `WskControlSocket`: WAIT_PEER_CLOSE is STATUS_NOT_SUPPORTED and
//! keepalive tuning STATUS_NOT_IMPLEMENTED — each scenario checks that too.

use std::time::{Duration, Instant};
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{PeerClose, SocketKind, SocketOption, DATA_FLAG_NODELAY, DATA_FLAG_WAITALL};
use wsksock_core::{Owner, SocketParams};
use wsksock_emu::Recorded;
use wsksock_tests::ops::{self, assert_pending, wait};
use wsksock_tests::wire::Listener;
use wsksock_tests::{run, run_recording, Client, CloseMode, End, Handle, NtStatus, Profile, Rig};

const LIMIT: Duration = Duration::from_secs(40);
const SHORT: Duration = Duration::from_secs(5);

fn peer_closed(client: &Client, h: Handle, timeout: Duration) -> (PeerClose, NtStatus) {
    let c = wait(&client.wait_peer_close(h), "WAIT_PEER_CLOSE", timeout);
    Client::peer_closed(&c).unwrap_or_else(|e| panic!("WAIT_PEER_CLOSE: {e}"))
}

/// Under Wine: refused at once, and the socket goes on.
fn not_supported_under_wine(client: &Client, h: Handle) {
    let c = wait(&client.wait_peer_close(h), "WAIT_PEER_CLOSE", SHORT);
    assert_eq!(c.status, NtStatus::STATUS_NOT_SUPPORTED);
}

// ---------------------------------------------------------------------------------------------
// FIN: the wait completes without consuming the data sent before it.

fn fin(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    if rig.is_wine() {
        not_supported_under_wine(&client, h);
        conn.write_all(b"still works");
        assert_eq!(ops::receive_exact(&client, h, 11, SHORT), b"still works");
        ops::close(&client, h, CloseMode::Graceful, true);
        return;
    }
    let w = client.wait_peer_close(h);
    assert_pending(
        &w,
        "WAIT_PEER_CLOSE before the peer closes",
        Duration::from_millis(100),
    );
    conn.write_all(b"last words");
    conn.shutdown_write();
    let c = wait(&w, "WAIT_PEER_CLOSE", SHORT);
    let (how, st) = Client::peer_closed(&c).expect("reply");
    assert_eq!((how, st), (PeerClose::Fin, NtStatus::STATUS_SUCCESS));
    // Nothing was read: the data, then the FIN, are still there for the receives.
    assert_eq!(ops::receive_exact(&client, h, 10, SHORT), b"last words");
    let eof = wait(&client.receive(h, 16), "receive", SHORT);
    assert_eq!((eof.status, eof.info), (NtStatus::STATUS_SUCCESS, 0));
    // A wait issued after the end completes at once with it.
    assert_eq!(peer_closed(&client, h, SHORT).0, PeerClose::Fin);
    ops::close(&client, h, CloseMode::Graceful, true);
    assert_eq!(conn.drain(SHORT).end, End::Fin);
}

#[test]
fn wait_peer_close_completes_on_fin_without_consuming_data() {
    run(Profile::Windows, LIMIT, fin);
}

#[test]
fn wait_peer_close_is_not_supported_under_wine() {
    run(Profile::Wine8, LIMIT, fin);
}

// ---------------------------------------------------------------------------------------------
// RST.

#[test]
fn wait_peer_close_completes_on_reset() {
    run(Profile::Windows, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        let conn = peer.accept(SHORT);
        let w = client.wait_peer_close(h);
        socket2::SockRef::from(conn.stream())
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER {1,0}");
        drop(conn); // RST
        let c = wait(&w, "WAIT_PEER_CLOSE", SHORT);
        assert_eq!(
            Client::peer_closed(&c).expect("reply"),
            (PeerClose::Reset, NtStatus::STATUS_CONNECTION_RESET)
        );
        let r = wait(&client.receive(h, 8), "receive after RST", SHORT);
        assert_eq!(r.status, NtStatus::STATUS_CONNECTION_RESET);
        ops::close(&client, h, CloseMode::Abortive, true);
    });
}

// ---------------------------------------------------------------------------------------------
// Cancel and close.

#[test]
fn a_cancelled_wait_leaves_the_connection_working() {
    run(Profile::Windows, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        let mut conn = peer.accept(SHORT);
        let w = client.wait_peer_close(h);
        assert_pending(&w, "WAIT_PEER_CLOSE", Duration::from_millis(50));
        w.cancel();
        assert_eq!(
            wait(&w, "cancelled wait", SHORT).status,
            NtStatus::STATUS_CANCELLED
        );
        assert_eq!(ops::probe_send(&client, h), NtStatus::STATUS_SUCCESS);
        assert_eq!(conn.read_exact(1, SHORT), b"?");
        ops::close(&client, h, CloseMode::Graceful, true);
        assert_eq!(
            conn.drain(SHORT).end,
            End::Fin,
            "the cancel ended nothing on the wire"
        );
    });
}

#[test]
fn closing_the_handle_completes_the_wait_cancelled_and_the_peer_sees_fin() {
    run(Profile::Windows, LIMIT, |rig| {
        let client = rig.client();
        let peer = Listener::v4();
        let h = ops::connect(&client, peer.addr());
        let mut conn = peer.accept(SHORT);
        let w = client.wait_peer_close(h);
        let closed = ops::close(&client, h, CloseMode::Graceful, true);
        assert_eq!(closed.cancelled, 1, "the CLOSE cancelled the wait");
        assert_eq!(
            wait(&w, "wait at close", SHORT).status,
            NtStatus::STATUS_CANCELLED
        );
        assert_eq!(conn.drain(SHORT).end, End::Fin);
    });
}

// ---------------------------------------------------------------------------------------------
// Keepalive tuning: a dead peer detected. The peer's socket gets a filter that drops every
// segment, so it never answers a keepalive probe — as a host that vanished.

fn drop_everything(conn: &wsksock_tests::wire::Conn) {
    // BPF_RET | BPF_K with 0: accept no byte of any packet.
    let ret_zero = socket2::SockFilter::new(0x06, 0, 0, 0);
    socket2::SockRef::from(conn.stream())
        .attach_filter(&[ret_zero])
        .expect("attach the filter");
}

fn keepalive(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let conn = peer.accept(SHORT);
    let tune = [
        (SocketOption::KeepAlive, 1),
        (SocketOption::KeepAliveIdle, 1),
        (SocketOption::KeepAliveInterval, 1),
        (SocketOption::KeepAliveCount, 2),
    ];
    if rig.is_wine() {
        for (o, v) in tune {
            let e = client
                .set_option(h, o, v, 0)
                .expect_err("WskControlSocket is a stub");
            assert_eq!(e.status, NtStatus::STATUS_NOT_IMPLEMENTED, "{o:?}");
        }
        ops::close(&client, h, CloseMode::Abortive, true);
        return;
    }
    for (o, v) in tune {
        client
            .set_option(h, o, v, 0)
            .unwrap_or_else(|e| panic!("{o:?}: {e}"));
        assert_eq!(client.get_option(h, o).expect("read back").0, v, "{o:?}");
    }
    drop_everything(&conn);
    let started = Instant::now();
    let (how, st) = peer_closed(&client, h, Duration::from_secs(20));
    assert_eq!((how, st), (PeerClose::Failed, NtStatus::STATUS_IO_TIMEOUT));
    // 1 s idle, then 2 probes 1 s apart: about 3 s (TCP's own timers, not ours).
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let r = wait(&client.receive(h, 8), "receive on the dead connection", SHORT);
    assert_eq!(r.status, NtStatus::STATUS_IO_TIMEOUT);
    ops::close(&client, h, CloseMode::Abortive, true);
    drop(conn);
}

#[test]
fn keepalive_tuning_detects_a_dead_peer() {
    run(Profile::Windows, LIMIT, keepalive);
}

#[test]
fn keepalive_tuning_is_not_implemented_under_wine() {
    run(Profile::Wine8, LIMIT, keepalive);
}

// ---------------------------------------------------------------------------------------------
// Owning process and per-call flags, as the emulator's log shows what reached WSK.

fn created(rig: &Rig) -> Vec<SocketParams> {
    rig.provider()
        .recorded()
        .into_iter()
        .filter_map(|r| match r {
            Recorded::Create { params, .. } => Some(params),
            Recorded::Send { .. } | Recorded::Receive { .. } => None,
        })
        .collect()
}

fn owners(rig: &Rig) {
    let user = Client::new(rig.device().open_as_process(4242).expect("user client"));
    let kernel = Client::new(rig.device().open_kernel().expect("kernel client"));
    let u = user.socket(AF_INET, SocketKind::Stream).expect("user socket");
    let k = kernel.socket(AF_INET, SocketKind::Listen).expect("kernel socket");
    let owners: Vec<Owner> = created(rig).iter().map(|p| p.owner).collect();
    assert_eq!(owners, vec![Owner::Process(4242), Owner::System]);
    ops::close(&user, u, CloseMode::Default, true);
    ops::close(&kernel, k, CloseMode::Default, true);
}

#[test]
fn user_sockets_belong_to_the_calling_process_kernel_ones_to_the_system() {
    run_recording(Profile::Windows, LIMIT, owners);
}

#[test]
fn user_sockets_belong_to_the_calling_process_kernel_ones_to_the_system_under_wine() {
    run_recording(Profile::Wine8, LIMIT, owners);
}

fn flags(rig: &Rig) {
    let client = rig.client();
    let peer = Listener::v4();
    let h = ops::connect(&client, peer.addr());
    let mut conn = peer.accept(SHORT);
    let s = client.send_with(h, b"nodelay".to_vec(), DATA_FLAG_NODELAY, 0);
    assert_eq!(wait(&s, "send", SHORT).status, NtStatus::STATUS_SUCCESS);
    assert_eq!(conn.read_exact(7, SHORT), b"nodelay");
    let r = client.receive_with(h, 10, DATA_FLAG_WAITALL, 0);
    conn.write_all(b"01234");
    if rig.is_wine() {
        // Wine ignores receive flags: the first 5 bytes complete it.
        let c = wait(&r, "receive", SHORT);
        assert_eq!(&c.output[..c.info], b"01234");
    } else {
        assert_pending(
            &r,
            "WAITALL receive with half its bytes",
            Duration::from_millis(200),
        );
        conn.write_all(b"56789");
        let c = wait(&r, "receive", SHORT);
        assert_eq!(&c.output[..c.info], b"0123456789", "WAITALL: the whole buffer");
    }
    let log = rig.provider().recorded();
    assert!(log
        .iter()
        .any(|r| matches!(r, Recorded::Send { flags, .. } if *flags == DATA_FLAG_NODELAY)));
    assert!(log
        .iter()
        .any(|r| matches!(r, Recorded::Receive { flags, .. } if *flags == DATA_FLAG_WAITALL)));
    ops::close(&client, h, CloseMode::Graceful, true);
    assert_eq!(conn.drain(SHORT).end, End::Fin);
}

#[test]
fn nodelay_and_waitall_reach_wsk_per_call() {
    run_recording(Profile::Windows, LIMIT, flags);
}

#[test]
fn nodelay_and_waitall_reach_wsk_per_call_under_wine() {
    run_recording(Profile::Wine8, LIMIT, flags);
}
