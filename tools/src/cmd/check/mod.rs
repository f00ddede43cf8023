//! `wsksock check <scenario>`: small end-to-end scenarios with one JSON object as output, for
//! suites that run this CLI against the real driver (`cargo xtask wine-test`) and for host mode.
//!
//! Each scenario reports what it observed; the ones that compare statuses with the ABI's
//! (`handles`, `malformed`) also report `ok` and the cases that differ. What the peer saw on the
//! wire is the harness's to check.

mod access;
mod cancel;
mod consent;
mod handles;
mod hold;
mod malformed;
mod many;
mod recv;

use crate::backend::Session;
use serde::Serialize;
use wsksock_abi::NtStatus;
use wsksock_tools::api::status_name;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Connects and receives until the peer's FIN; checks the pattern.
    Recv(recv::Args),
    /// Closed, stale and forged handles are refused; two clients cannot name each other's.
    Handles(PeerArgs),
    /// Many sockets at once: connect them all, send on all, close all.
    Many(many::Args),
    /// Connects sockets, leaves a receive pending on each, and reports how they end
    /// (for unloading the driver under open sockets).
    Hold(hold::Args),
    /// A pending receive cancelled with CancelIoEx, another with CANCEL, then CLOSE.
    Cancel(cancel::Args),
    /// Malformed requests get their documented statuses; the driver keeps serving.
    Malformed(malformed::Args),
    /// Handles without FILE_READ_DATA / FILE_WRITE_DATA are refused the codes that need them.
    Access(PeerArgs),
    /// DUPLICATE into another client needs its consent (ALLOW_DUPLICATE).
    Consent(PeerArgs),
}

/// `wsksock check`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let json = match &a.what {
        What::Recv(a) => to_json(&recv::run(session, a)?),
        What::Handles(a) => to_json(&handles::run(session, a)?),
        What::Many(a) => to_json(&many::run(session, a)?),
        What::Hold(a) => to_json(&hold::run(session, a)?),
        What::Cancel(a) => to_json(&cancel::run(session, a)?),
        What::Malformed(a) => to_json(&malformed::run(session, a)?),
        What::Access(a) => to_json(&access::run(session, a)?),
        What::Consent(a) => to_json(&consent::run(session, a)?),
    }?;
    println!("{json}");
    Ok(())
}

/// How long a scenario waits for a request before calling it hung.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// The status a pending request completed with (STATUS_TIMEOUT if it did not within
/// [`PATIENCE`]).
pub fn waited(p: &wsksock_tools::Pending) -> NtStatus {
    p.wait_timeout(PATIENCE)
        .map_or(NtStatus::STATUS_TIMEOUT, |d| d.status)
}

/// The status of a typed call: success, or the error's status.
pub fn status_of(r: Result<impl Sized, wsksock_tools::api::Error>) -> NtStatus {
    r.map_or_else(|e| e.status, |_| NtStatus::STATUS_SUCCESS)
}

fn to_json(v: &impl Serialize) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

/// One status comparison.
#[derive(Serialize, Debug)]
pub struct Case {
    /// What was sent.
    pub name: String,
    /// The status the driver returned.
    pub status: String,
    /// The status the ABI documents.
    pub expected: String,
}

/// Arguments of the scenarios that need only a peer.
#[derive(clap::Args)]
pub struct PeerArgs {
    /// Peer address (a peer that reads to the end).
    pub addr: String,
}

/// What a scenario of status comparisons that also sends to the peer reports.
#[derive(Serialize, Debug)]
pub struct SentOutcome {
    /// Whether every case had its documented status.
    pub ok: bool,
    /// Cases checked.
    pub cases: usize,
    /// The cases that differ.
    pub failed: Vec<Case>,
    /// Bytes sent to the peer (which must see them, then FIN).
    pub sent: usize,
}

impl SentOutcome {
    /// The report of `cases`, with `sent` bytes sent.
    pub fn new(cases: Cases, sent: usize) -> SentOutcome {
        let (cases, failed) = cases.finish();
        SentOutcome {
            ok: failed.is_empty(),
            cases,
            failed,
            sent,
        }
    }
}

/// A list of status comparisons.
#[derive(Default)]
pub struct Cases(Vec<Case>);

impl Cases {
    /// Records one comparison.
    pub fn check(&mut self, name: impl Into<String>, got: NtStatus, expected: NtStatus) {
        self.0.push(Case {
            name: name.into(),
            status: status_name(got),
            expected: status_name(expected),
        });
    }

    /// How many cases, and the ones that differ.
    pub fn finish(self) -> (usize, Vec<Case>) {
        let n = self.0.len();
        (n, self.0.into_iter().filter(|c| c.status != c.expected).collect())
    }
}
