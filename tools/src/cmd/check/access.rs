//! `check access ADDR`: the control codes' access bits, checked by the I/O manager against the
//! handle before the driver sees a request (docs/ABI.md). Three more clients are opened: one with
//! no data access, one read-only, one write-only.
//!
//! - no data access: CLIENT_INFO works (FILE_ANY_ACCESS); SOCKET, SEND, RECEIVE and STATISTICS
//!   are refused with STATUS_ACCESS_DENIED;
//! - read-only: STATISTICS (a read) works and RECEIVE reaches the driver (which refuses the null
//!   handle with STATUS_INVALID_HANDLE); SOCKET and SEND are refused;
//! - write-only: SOCKET, CONNECT and SEND of [`SENT`] bytes to ADDR work, RECEIVE is refused,
//!   and a graceful CLOSE follows: the peer must see the bytes, then FIN.

use super::{status_of, waited, Cases, PeerArgs, SentOutcome};
use crate::backend::Session;
use wsksock_abi::msg::{CloseMode, SocketKind};
use wsksock_abi::{Handle, NtStatus};
use wsksock_tools::{pattern, Client};

/// Bytes the write-only client sends to the peer.
pub const SENT: usize = 4321;

/// The statuses of SOCKET, SEND, RECEIVE (the two on the null handle) and STATISTICS.
fn each_kind(c: &Client, fam: u16) -> [(&'static str, NtStatus); 4] {
    let socket = c.socket(fam, SocketKind::Stream);
    if let Ok(h) = socket {
        // Only if the check failed: do not leave the socket behind.
        let _ = c.close(h, CloseMode::Abortive, false);
    }
    [
        ("SOCKET", status_of(socket)),
        ("SEND", waited(&c.send(Handle::NULL, vec![1; 16]))),
        ("RECEIVE", waited(&c.receive(Handle::NULL, 16))),
        ("STATISTICS", status_of(c.statistics(Handle::NULL))),
    ]
}

/// Runs it.
pub fn run(session: &Session, a: &PeerArgs) -> Result<SentOutcome, String> {
    use NtStatus as S;
    let addr = super::super::parse_addr(&a.addr)?;
    let fam = wsksock_abi::SockAddr::family_of(addr.ip());
    let mut k = Cases::default();

    let none = session.open_client_with(false, false)?;
    k.check(
        "no data access: CLIENT_INFO (any access)",
        status_of(none.client_info()),
        S::STATUS_SUCCESS,
    );
    for (name, st) in each_kind(&none, fam) {
        k.check(format!("no data access: {name}"), st, S::STATUS_ACCESS_DENIED);
    }

    let reader = session.open_client_with(true, false)?;
    for (name, st) in each_kind(&reader, fam) {
        let expected = match name {
            "STATISTICS" => S::STATUS_SUCCESS,
            // Past the I/O manager: the driver refuses the null handle.
            "RECEIVE" => S::STATUS_INVALID_HANDLE,
            _ => S::STATUS_ACCESS_DENIED,
        };
        k.check(format!("read-only: {name}"), st, expected);
    }

    let writer = session.open_client_with(false, true)?;
    let h = writer
        .connect_to(addr)
        .map_err(|e| format!("write-only connect: {e}"))?;
    k.check(
        "write-only: SEND",
        waited(&writer.send(h, pattern::bytes(0, SENT))),
        S::STATUS_SUCCESS,
    );
    k.check(
        "write-only: RECEIVE",
        waited(&writer.receive(h, 16)),
        S::STATUS_ACCESS_DENIED,
    );
    k.check(
        "write-only: STATISTICS",
        status_of(writer.statistics(h)),
        S::STATUS_ACCESS_DENIED,
    );
    k.check(
        "write-only: CLOSE",
        status_of(writer.close(h, CloseMode::Graceful, true)),
        S::STATUS_SUCCESS,
    );
    Ok(SentOutcome::new(k, SENT))
}
