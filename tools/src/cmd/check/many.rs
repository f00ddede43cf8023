//! `check many ADDR --count N --bytes B`: N sockets at once — connect all, send B pattern bytes
//! on each with every send pending together, then close all gracefully.

use crate::backend::Session;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use wsksock_abi::msg::CloseMode;
use wsksock_abi::NtStatus;
use wsksock_tools::api::status_name;
use wsksock_tools::pattern;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address (a peer that accepts many connections and reads each to the end).
    pub addr: String,
    /// Sockets.
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// Bytes per socket.
    #[arg(long, default_value_t = 1000)]
    pub bytes: usize,
}

/// What `check many` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Sockets connected.
    pub connected: usize,
    /// Sends that completed with all their bytes.
    pub sent: usize,
    /// Sockets open at once (from the driver's global statistics, before the closes).
    pub open_at_once: u64,
    /// Closes that completed their teardown with success.
    pub closed: usize,
    /// Statuses other than success, by name, with counts.
    pub failures: BTreeMap<String, usize>,
}

/// Runs it.
pub fn run(session: &Session, a: &Args) -> Result<Outcome, String> {
    let addr = super::super::parse_addr(&a.addr)?;
    let c = &session.client;
    let mut out = Outcome {
        connected: 0,
        sent: 0,
        open_at_once: 0,
        closed: 0,
        failures: BTreeMap::new(),
    };
    let fail = |s: NtStatus, out: &mut Outcome| *out.failures.entry(status_name(s)).or_default() += 1;
    let mut handles = Vec::new();
    for _ in 0..a.count {
        match c.connect_to(addr) {
            Ok(h) => handles.push(h),
            Err(e) => fail(e.status, &mut out),
        }
    }
    out.connected = handles.len();
    let sends: Vec<_> = handles
        .iter()
        .map(|&h| c.send(h, pattern::bytes(0, a.bytes)))
        .collect();
    for p in sends {
        match p.wait_timeout(Duration::from_secs(30)) {
            Some(d) if d.status == NtStatus::STATUS_SUCCESS && d.info == a.bytes => out.sent += 1,
            Some(d) => fail(d.status, &mut out),
            None => fail(NtStatus::STATUS_TIMEOUT, &mut out),
        }
    }
    if let Ok(st) = c.statistics(wsksock_abi::Handle::NULL) {
        out.open_at_once = st.sockets_alive;
    }
    let closes: Vec<_> = handles
        .iter()
        .map(|&h| c.close_pending(h, CloseMode::Graceful, 0, true))
        .collect();
    for p in closes {
        match p.wait_timeout(Duration::from_secs(30)) {
            Some(d) => {
                let cl = wsksock_tools::Client::closed(&d);
                if cl.status.is_success() && cl.teardown_status.is_success() {
                    out.closed += 1;
                } else if !cl.status.is_success() {
                    fail(cl.status, &mut out);
                } else {
                    fail(cl.teardown_status, &mut out);
                }
            }
            None => fail(NtStatus::STATUS_TIMEOUT, &mut out),
        }
    }
    Ok(out)
}
