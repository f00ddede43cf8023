//! Helpers over the typed client for the data and close paths of the suites.

use crate::fastpattern as pattern;
use crate::Rig;
use std::net::SocketAddr;
use std::time::Duration;
use wsksock_abi::msg::Disconnect;
use wsksock_abi::{Handle, NtStatus};
use wsksock_tools::api::Closed;
use wsksock_tools::{Client, CloseMode, Completed, Pending};

/// Waits for a pending request, failing the test if it does not complete within `timeout`.
#[track_caller]
pub fn wait(p: &Pending, what: &str, timeout: Duration) -> Completed {
    p.wait_timeout(timeout)
        .unwrap_or_else(|| panic!("{what}: still pending after {timeout:?}"))
}

/// Asserts that a pending request is still pending after `period`.
#[track_caller]
pub fn assert_pending(p: &Pending, what: &str, period: Duration) {
    if let Some(c) = p.wait_timeout(period) {
        panic!("{what}: expected still pending, completed with {:?}", c.status);
    }
}

/// Posts `total` bytes of the pattern as `count` sends (at most 10 pending: Wine's limit).
pub fn post_sends(client: &Client, h: Handle, total: usize, count: usize) -> Vec<(usize, Pending)> {
    assert!(count <= 10, "Wine 8 allows 10 pending operations per socket");
    let chunk = total.div_ceil(count);
    let mut sends = Vec::new();
    let mut offset = 0;
    while offset < total {
        let len = chunk.min(total - offset);
        sends.push((len, client.send(h, pattern::bytes(offset as u64, len))));
        offset += len;
    }
    sends
}

/// How a batch of sends ended.
#[derive(Debug, Default)]
pub struct SendOutcome {
    /// Bytes of the sends that completed with success.
    pub bytes_ok: u64,
    /// Statuses of those that did not, in order.
    pub failures: Vec<NtStatus>,
}

/// Waits for every send (each within `timeout`) and sums up.
#[track_caller]
pub fn wait_sends(sends: &[(usize, Pending)], timeout: Duration) -> SendOutcome {
    let mut out = SendOutcome::default();
    for (i, (len, p)) in sends.iter().enumerate() {
        let c = wait(p, &format!("send #{i}"), timeout);
        if c.status == NtStatus::STATUS_SUCCESS {
            assert_eq!(c.info, *len, "send #{i} completed with a short count");
            out.bytes_ok += *len as u64;
        } else {
            out.failures.push(c.status);
        }
    }
    out
}

/// Connects a stream socket to `addr`, failing the test on error.
#[track_caller]
pub fn connect(client: &Client, addr: SocketAddr) -> Handle {
    client
        .connect_to(addr)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// A connection to a peer that stopped reading (its 16 KiB window fills), with sends pending.
pub struct Stalled {
    /// The engine's handle.
    pub handle: Handle,
    /// The peer's side (not read yet).
    pub conn: crate::wire::Conn,
    /// The sends posted: (bytes, request).
    pub sends: Vec<(usize, Pending)>,
}

/// Connects `client` to a peer that does not read and posts `total` bytes in `count` sends.
#[track_caller]
pub fn stalled_sends(client: &Client, total: usize, count: usize) -> Stalled {
    let peer = crate::wire::Listener::v4_small();
    let handle = connect(client, peer.addr());
    let conn = peer.accept(Duration::from_secs(5));
    let sends = post_sends(client, handle, total, count);
    Stalled { handle, conn, sends }
}

/// CLOSE, asserting its request succeeded.
#[track_caller]
pub fn close(client: &Client, h: Handle, mode: CloseMode, wait: bool) -> Closed {
    client
        .close(h, mode, wait)
        .unwrap_or_else(|e| panic!("close of {h:?}: {e}"))
}

/// Asserts a waited-for last close: success, last reference, provider close succeeded, and the
/// disconnect the engine performed. Under Wine the `disconnect` field is not checked: every
/// WskDisconnect there is a failing stub, so "performed" is none — see
/// `close_reply_reports_no_disconnect_when_wsk_disconnect_failed_under_wine`.
#[track_caller]
pub fn assert_torn_down(rig: &Rig, c: &Closed, disconnect: Disconnect) {
    assert_eq!(c.status, NtStatus::STATUS_SUCCESS, "{c:?}");
    assert!(c.last_reference, "expected the last reference: {c:?}");
    assert_eq!(c.teardown_status, NtStatus::STATUS_SUCCESS, "teardown: {c:?}");
    if !rig.is_wine() {
        assert_eq!(c.disconnect, disconnect, "disconnect performed: {c:?}");
    }
}

/// Receives until `n` bytes arrived (each receive within `timeout`), failing on error or FIN.
#[track_caller]
pub fn receive_exact(client: &Client, h: Handle, n: usize, timeout: Duration) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let c = wait(&client.receive(h, n - got.len()), "receive", timeout);
        assert_eq!(
            c.status,
            NtStatus::STATUS_SUCCESS,
            "receive after {} of {n} bytes",
            got.len()
        );
        assert!(c.info > 0, "receive: FIN after {} of {n} bytes", got.len());
        got.extend_from_slice(&c.output[..c.info]);
    }
    got
}

/// The status of a one-byte SEND on `h` (probing a handle).
#[track_caller]
pub fn probe_send(client: &Client, h: Handle) -> NtStatus {
    wait(
        &client.send(h, b"?".to_vec()),
        "probe send",
        Duration::from_secs(5),
    )
    .status
}
