//! `check handles ADDR`: closed, stale and forged handles are refused, and two clients (two
//! opens of the device) cannot name each other's sockets; the owner's socket keeps working.
//! The owner sends `SENT` pattern bytes to ADDR and closes gracefully: the peer must see them
//! and a FIN.

use super::{status_of, Cases};
use crate::backend::Session;
use serde::Serialize;
use wsksock_abi::msg::{CloseMode, SocketKind};
use wsksock_abi::{Handle, NtStatus};
use wsksock_tools::api::status_name;
use wsksock_tools::{pattern, Client};

/// Bytes the owner sends to the peer.
pub const SENT: usize = 1000;

/// What `check handles` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Whether every case had its documented status.
    pub ok: bool,
    /// Cases checked.
    pub cases: usize,
    /// The cases that differ.
    pub failed: Vec<super::Case>,
    /// The two clients' ids (must differ).
    pub client_ids: [u64; 2],
}

fn send_status(c: &Client, h: Handle, n: usize) -> NtStatus {
    super::waited(&c.send(h, pattern::bytes(0, n)))
}

/// Runs it.
pub fn run(session: &Session, a: &super::PeerArgs) -> Result<Outcome, String> {
    use NtStatus as S;
    let addr = super::super::parse_addr(&a.addr)?;
    let own = &session.client;
    let other = session.open_client()?;
    let mut k = Cases::default();
    let fam = wsksock_abi::SockAddr::family_of(addr.ip());

    // Closed: every use after CLOSE is refused.
    let closed = own.socket(fam, SocketKind::Stream).map_err(|e| e.to_string())?;
    k.check(
        "close",
        status_of(own.close(closed, CloseMode::Abortive, true)),
        S::STATUS_SUCCESS,
    );
    k.check(
        "statistics on a closed handle",
        status_of(own.statistics(closed)),
        S::STATUS_INVALID_HANDLE,
    );
    k.check(
        "send on a closed handle",
        send_status(own, closed, 1),
        S::STATUS_INVALID_HANDLE,
    );
    k.check(
        "close of a closed handle",
        status_of(own.close(closed, CloseMode::Graceful, false)),
        S::STATUS_INVALID_HANDLE,
    );

    // Stale: the slot is reused with a new generation; the old handle stays refused.
    let fresh = own.socket(fam, SocketKind::Stream).map_err(|e| e.to_string())?;
    k.check(
        "statistics on a fresh handle",
        status_of(own.statistics(fresh)),
        S::STATUS_SUCCESS,
    );
    let stale = Handle {
        index: fresh.index,
        generation: fresh.generation.wrapping_sub(1).max(1),
    };
    if stale != fresh {
        k.check(
            "statistics on a stale generation",
            status_of(own.statistics(stale)),
            S::STATUS_INVALID_HANDLE,
        );
    }
    let forged = Handle {
        index: fresh.index,
        generation: fresh.generation.wrapping_add(1).max(1),
    };
    k.check(
        "statistics on a future generation",
        status_of(own.statistics(forged)),
        S::STATUS_INVALID_HANDLE,
    );
    let zero = Handle {
        index: fresh.index,
        generation: 0,
    };
    k.check(
        "cancel on generation 0",
        status_of(own.cancel(zero)),
        S::STATUS_INVALID_HANDLE,
    );
    let far = Handle {
        index: 1_000_000,
        generation: 1,
    };
    k.check(
        "cancel on an index never used",
        status_of(own.cancel(far)),
        S::STATUS_INVALID_HANDLE,
    );

    // Isolation: the other client cannot name this client's sockets.
    let h = own
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    k.check(
        "other client: statistics",
        status_of(other.statistics(h)),
        S::STATUS_INVALID_HANDLE,
    );
    k.check(
        "other client: send",
        send_status(&other, h, 1),
        S::STATUS_INVALID_HANDLE,
    );
    k.check(
        "other client: cancel",
        status_of(other.cancel(h)),
        S::STATUS_INVALID_HANDLE,
    );
    k.check(
        "other client: close",
        status_of(other.close(h, CloseMode::Abortive, false)),
        S::STATUS_INVALID_HANDLE,
    );
    k.check(
        "other client: statistics on fresh",
        status_of(other.statistics(fresh)),
        S::STATUS_INVALID_HANDLE,
    );
    // ... and the owner's socket is untouched.
    k.check("owner: send", send_status(own, h, SENT), S::STATUS_SUCCESS);
    let handles = own.statistics(h).map_or(0, |s| s.handles);
    k.check(
        format!("owner: one handle to the socket (got {handles})"),
        if handles == 1 {
            S::STATUS_SUCCESS
        } else {
            S::STATUS_UNSUCCESSFUL
        },
        S::STATUS_SUCCESS,
    );
    k.check(
        "owner: close",
        status_of(own.close(h, CloseMode::Graceful, true)),
        S::STATUS_SUCCESS,
    );
    k.check(
        "owner: close fresh",
        status_of(own.close(fresh, CloseMode::Abortive, true)),
        S::STATUS_SUCCESS,
    );

    let ids = [
        own.client_info().map_or(0, |i| i.client_id),
        other.client_info().map_or(0, |i| i.client_id),
    ];
    let (cases, failed) = k.finish();
    Ok(Outcome {
        ok: failed.is_empty() && ids[0] != ids[1] && ids[0] != 0,
        cases,
        failed,
        client_ids: ids,
    })
}
