//! `check hold ADDR --count N --wait SECS`: connects N sockets, leaves a receive pending on
//! each, prints `{"ready":N}` at once, then reports how the receives ended. Used to unload the
//! driver (`sc stop`) under open sockets: every receive must end, none may hang.

use crate::backend::Session;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};
use wsksock_tools::api::status_name;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address (a peer that accepts connections and sends nothing).
    pub addr: String,
    /// Sockets.
    #[arg(long, default_value_t = 4)]
    pub count: usize,
    /// Seconds to wait for the receives to end.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
}

/// What `check hold` reports (after the `{"ready":N}` line).
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Receives that ended within the wait.
    pub ended: usize,
    /// Receives still pending after it.
    pub pending: usize,
    /// How they ended: status name (`FIN` for a 0-byte success) and count.
    pub statuses: BTreeMap<String, usize>,
    /// Milliseconds from ready to the last receive's end.
    pub ms: u128,
}

/// Runs it.
pub fn run(session: &Session, a: &Args) -> Result<Outcome, String> {
    let addr = super::super::parse_addr(&a.addr)?;
    let c = &session.client;
    let mut handles = Vec::new();
    for _ in 0..a.count {
        handles.push(
            c.connect_to(addr)
                .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?,
        );
    }
    let receives: Vec<_> = handles.iter().map(|&h| c.receive(h, 4096)).collect();
    println!("{{\"ready\":{}}}", handles.len());
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.wait);
    let mut out = Outcome {
        ended: 0,
        pending: 0,
        statuses: BTreeMap::new(),
        ms: 0,
    };
    for p in receives {
        let left = deadline.saturating_duration_since(Instant::now());
        match p.wait_timeout(left) {
            Some(d) => {
                out.ended += 1;
                let name = if d.status.is_success() && d.info == 0 {
                    "FIN".to_string()
                } else {
                    status_name(d.status)
                };
                *out.statuses.entry(name).or_default() += 1;
            }
            None => out.pending += 1,
        }
    }
    out.ms = started.elapsed().as_millis();
    Ok(out)
}
