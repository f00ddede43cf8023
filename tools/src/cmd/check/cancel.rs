//! `check cancel ADDR`: a pending receive cancelled with `CancelIoEx` (the request's own
//! cancellation), another with the CANCEL request, then CLOSE. Reports whether each cancel
//! ended its receive (it must on Windows; under Wine `IoCancelIrp` on a WSK IRP does nothing, so
//! they stay pending) and how everything ended after the close — nothing may be left pending.

use crate::backend::Session;
use serde::Serialize;
use std::time::Duration;
use wsksock_abi::msg::CloseMode;
use wsksock_tools::api::status_name;
use wsksock_tools::Pending;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address (a peer that sends nothing).
    pub addr: String,
    /// Milliseconds to give each cancel.
    #[arg(long, default_value_t = 500)]
    pub grace: u64,
}

/// What `check cancel` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// The first receive after `CancelIoEx`: its status, or "pending".
    pub after_cancel_io: String,
    /// Operations the CANCEL request reported cancelling.
    pub cancel_request_count: u32,
    /// The second receive after the CANCEL request: its status, or "pending".
    pub after_cancel_request: String,
    /// Both receives after the CLOSE (all must have ended).
    pub after_close: Vec<String>,
    /// The CLOSE's status.
    pub close_status: String,
}

fn state(p: &Pending, grace: Duration) -> String {
    p.wait_timeout(grace)
        .map_or_else(|| "pending".to_string(), |d| status_name(d.status))
}

/// Runs it.
pub fn run(session: &Session, a: &Args) -> Result<Outcome, String> {
    let addr = super::super::parse_addr(&a.addr)?;
    let grace = Duration::from_millis(a.grace);
    let c = &session.client;
    let h = c
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    let first = c.receive(h, 4096);
    first.cancel();
    let after_cancel_io = state(&first, grace);
    let second = c.receive(h, 4096);
    let cancel_request_count = c.cancel(h).map_err(|e| e.to_string())?;
    let after_cancel_request = state(&second, grace);
    let close_status = match c.close(h, CloseMode::Graceful, true) {
        Ok(cl) => status_name(cl.status),
        Err(e) => status_name(e.status),
    };
    let wait = Duration::from_secs(10);
    let after_close = [first, second].iter().map(|p| state(p, wait)).collect();
    Ok(Outcome {
        after_cancel_io,
        cancel_request_count,
        after_cancel_request,
        after_close,
        close_status,
    })
}
