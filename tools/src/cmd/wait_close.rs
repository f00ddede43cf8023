//! `wsksock wait-close ADDR [--json]`: connects and waits for the peer-close notification
//! (WAIT_PEER_CLOSE) without receiving; reports `fin` or `reset` (or `failed` with the status,
//! e.g. keepalive finding the peer dead), then closes (abortively after a reset or a failure).
//! Where the driver cannot tell (Wine: no WSK event callbacks) it fails with
//! STATUS_NOT_SUPPORTED.

use crate::backend::Session;
use serde::Serialize;
use std::time::Instant;
use wsksock_abi::msg::{CloseMode, PeerClose};
use wsksock_tools::api::status_name;
use wsksock_tools::Client;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address, e.g. 127.0.0.1:5000.
    pub addr: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What `wait-close` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// `fin`, `reset` or `failed`.
    pub event: String,
    /// The status the notification carried (`STATUS_SUCCESS` for `fin`).
    pub status: String,
    /// Milliseconds from the connect to the notification.
    pub waited_ms: u128,
    /// Status of the CLOSE.
    pub close_status: String,
}

/// Runs `wait-close` on a client; exposed for tests.
pub fn wait_close(c: &Client, addr: std::net::SocketAddr) -> Result<Outcome, String> {
    let h = c
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    let started = Instant::now();
    let done = c.wait_peer_close(h).wait();
    let waited_ms = started.elapsed().as_millis();
    let ended = Client::peer_closed(&done);
    let mode = match ended {
        Ok((PeerClose::Fin, _)) => CloseMode::Graceful,
        _ => CloseMode::Abortive,
    };
    let close_status = match c.close(h, mode, true) {
        Ok(cl) => status_name(cl.status),
        Err(e) => status_name(e.status),
    };
    let (how, status) = ended.map_err(|e| format!("wait for the peer's close: {}", status_name(e.status)))?;
    Ok(Outcome {
        event: match how {
            PeerClose::Fin => "fin",
            PeerClose::Reset => "reset",
            PeerClose::Failed => "failed",
        }
        .into(),
        status: status_name(status),
        waited_ms,
        close_status,
    })
}

/// `wsksock wait-close`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let addr = super::parse_addr(&a.addr)?;
    let out = wait_close(&session.client, addr)?;
    if a.json {
        println!("{}", serde_json::to_string(&out).map_err(|e| e.to_string())?);
    } else {
        println!(
            "peer {} ({}) after {} ms, close {}",
            out.event, out.status, out.waited_ms, out.close_status
        );
    }
    Ok(())
}
