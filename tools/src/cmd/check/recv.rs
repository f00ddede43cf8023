//! `check recv ADDR --bytes N`: connects, receives until the peer's FIN, checks the pattern.

use crate::backend::Session;
use serde::Serialize;
use std::time::Duration;
use wsksock_abi::msg::CloseMode;
use wsksock_abi::NtStatus;
use wsksock_tools::api::status_name;
use wsksock_tools::pattern;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address (a peer that sends the pattern, then FIN).
    pub addr: String,
    /// Bytes the peer sends; more is a failure.
    #[arg(long)]
    pub bytes: u64,
    /// Receive size per request.
    #[arg(long, default_value_t = 65536)]
    pub chunk: usize,
}

/// What `check recv` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Bytes received.
    pub received: u64,
    /// Offset of the first byte that was not the pattern.
    pub first_mismatch: Option<u64>,
    /// How the stream ended: `FIN` (a 0-byte receive) or the failing status.
    pub end: String,
    /// Receive requests it took.
    pub receives: u64,
    /// Status of the final CLOSE.
    pub close_status: String,
}

/// Runs it.
pub fn run(session: &Session, a: &Args) -> Result<Outcome, String> {
    let addr = super::super::parse_addr(&a.addr)?;
    let c = &session.client;
    let h = c
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    let mut out = Outcome {
        received: 0,
        first_mismatch: None,
        end: String::new(),
        receives: 0,
        close_status: String::new(),
    };
    loop {
        let d = c
            .receive(h, a.chunk.max(1))
            .wait_timeout(Duration::from_secs(30))
            .ok_or("a receive hung for 30 s")?;
        out.receives += 1;
        if d.status != NtStatus::STATUS_SUCCESS {
            out.end = status_name(d.status);
            break;
        }
        if d.info == 0 {
            out.end = "FIN".into();
            break;
        }
        let got = &d.output[..d.info.min(d.output.len())];
        if out.first_mismatch.is_none() {
            out.first_mismatch = pattern::first_mismatch(out.received, got);
        }
        out.received += got.len() as u64;
        if out.received > a.bytes {
            out.end = "more than expected".into();
            break;
        }
    }
    out.close_status = match c.close(h, CloseMode::Graceful, true) {
        Ok(cl) => status_name(cl.status),
        Err(e) => status_name(e.status),
    };
    Ok(out)
}
