//! `check consent ADDR`: DUPLICATE into another client needs its consent (ALLOW_DUPLICATE,
//! docs/ABI.md). Client A connects to ADDR; client B (a second open of the device) is the target.
//!
//! - A duplicating into B before B allowed it: STATUS_ACCESS_DENIED, the socket keeps 1 handle;
//! - a read-only open of the device cannot give consent (ALLOW_DUPLICATE needs `FILE_WRITE_DATA`);
//! - B allows one handle from A: one DUPLICATE goes in, the next is refused again;
//! - A closes its handle (not the last), B sends [`SENT`] bytes through its duplicate and closes
//!   gracefully: the peer must see the bytes, then FIN.

use super::{status_of, waited, Cases, PeerArgs, SentOutcome};
use crate::backend::Session;
use wsksock_abi::msg::CloseMode;
use wsksock_abi::NtStatus;
use wsksock_tools::{pattern, Client};

/// Bytes B sends through its duplicate.
pub const SENT: usize = 2345;

fn id(c: &Client, who: &str) -> Result<u64, String> {
    c.client_info()
        .map(|i| i.client_id)
        .map_err(|e| format!("CLIENT_INFO of {who}: {e}"))
}

/// Runs it.
pub fn run(session: &Session, a: &PeerArgs) -> Result<SentOutcome, String> {
    use NtStatus as S;
    let addr = super::super::parse_addr(&a.addr)?;
    let mut k = Cases::default();
    let (owner, target) = (session.open_client()?, session.open_client()?);
    let (owner_id, target_id) = (id(&owner, "A")?, id(&target, "B")?);
    let h = owner.connect_to(addr).map_err(|e| format!("connect: {e}"))?;
    let handles = |what: &str, k: &mut Cases, want: u32| {
        let got = owner.statistics(h).map(|s| s.handles);
        k.check(
            format!("{what}: the socket has {want} handle(s)"),
            if got == Ok(want) {
                S::STATUS_SUCCESS
            } else {
                S::STATUS_UNSUCCESSFUL
            },
            S::STATUS_SUCCESS,
        );
    };

    k.check(
        "DUPLICATE into B without its consent",
        status_of(owner.duplicate(h, target_id)),
        S::STATUS_ACCESS_DENIED,
    );
    handles("refused", &mut k, 1);
    let reader = session.open_client_with(true, false)?;
    k.check(
        "ALLOW_DUPLICATE on a read-only open",
        status_of(reader.allow_duplicate(owner_id, 1)),
        S::STATUS_ACCESS_DENIED,
    );
    drop(reader);
    k.check(
        "B allows one handle from A",
        status_of(target.allow_duplicate(owner_id, 1)),
        S::STATUS_SUCCESS,
    );
    let dup = owner.duplicate(h, target_id);
    k.check(
        "DUPLICATE into B, allowed",
        dup.as_ref().map_or_else(|e| e.status, |_| S::STATUS_SUCCESS),
        S::STATUS_SUCCESS,
    );
    k.check(
        "a second DUPLICATE: the allowance is used up",
        status_of(owner.duplicate(h, target_id)),
        S::STATUS_ACCESS_DENIED,
    );
    handles("allowed once", &mut k, 2);
    let Ok(dup) = dup else {
        let _ = owner.close(h, CloseMode::Abortive, false);
        return Ok(SentOutcome::new(k, 0));
    };
    k.check(
        "A closes its handle",
        status_of(owner.close(h, CloseMode::Graceful, false)),
        S::STATUS_SUCCESS,
    );
    let sent = waited(&target.send(dup, pattern::bytes(0, SENT)));
    k.check("B sends through its duplicate", sent, S::STATUS_SUCCESS);
    k.check(
        "B closes the last handle",
        status_of(target.close(dup, CloseMode::Graceful, true)),
        S::STATUS_SUCCESS,
    );
    Ok(SentOutcome::new(k, SENT))
}
