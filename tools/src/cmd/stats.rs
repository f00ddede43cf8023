//! `wsksock stats [--json]`: the driver's global STATISTICS — a `netstat` for the driver: open
//! sockets by kind and state, operations pending, teardowns in progress, bytes, requests and
//! failures, deadlines expired. In host mode the engine is this process's own (fresh) one.

use crate::backend::Session;
use serde::Serialize;
use wsksock_abi::msg::StatisticsReply;
use wsksock_abi::Handle;
use wsksock_tools::api::status_name;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What `stats` reports (the STATISTICS reply, named).
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Handles open in all clients.
    pub handles: u32,
    /// Open stream sockets.
    pub open_stream: u32,
    /// Of those, connected.
    pub connected: u32,
    /// Open datagram sockets.
    pub open_datagram: u32,
    /// Open listening sockets.
    pub open_listen: u32,
    /// Teardowns in progress (last handle closed, not finished).
    pub teardowns: u32,
    /// Socket objects alive (open or tearing down).
    pub sockets_alive: u64,
    /// Socket objects ever created.
    pub sockets_created: u64,
    /// Provider operations pending now.
    pub ops_pending: u64,
    /// Provider operations started.
    pub ops_started: u64,
    /// Of those completed, cancelled.
    pub ops_cancelled: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Requests completed.
    pub requests: u64,
    /// Of those, failed.
    pub requests_failed: u64,
    /// Requests that ended at their deadline.
    pub deadlines_expired: u64,
}

impl From<&StatisticsReply> for Outcome {
    fn from(r: &StatisticsReply) -> Self {
        Outcome {
            handles: r.handles,
            open_stream: r.open_stream,
            connected: r.connected,
            open_datagram: r.open_datagram,
            open_listen: r.open_listen,
            teardowns: r.teardowns,
            sockets_alive: r.sockets_alive,
            sockets_created: r.sockets_created,
            ops_pending: r.ops_pending,
            ops_started: r.ops_started,
            ops_cancelled: r.ops_cancelled,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            requests: r.requests,
            requests_failed: r.requests_failed,
            deadlines_expired: r.deadlines_expired,
        }
    }
}

/// `wsksock stats`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let r = session
        .client
        .statistics(Handle::NULL)
        .map_err(|e| format!("statistics: {}", status_name(e.status)))?;
    let o = Outcome::from(&r);
    if a.json {
        println!("{}", serde_json::to_string(&o).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("sockets ({})", session.describe());
    println!(
        "  stream {:>8}  (connected {})\n  datagram {:>6}\n  listen {:>8}\n  tearing down {:>2}\n  alive {:>9}  (created {})",
        o.open_stream, o.connected, o.open_datagram, o.open_listen, o.teardowns, o.sockets_alive, o.sockets_created
    );
    println!("handles {}", o.handles);
    println!(
        "operations  pending {}  started {}  cancelled {}",
        o.ops_pending, o.ops_started, o.ops_cancelled
    );
    println!("bytes  sent {}  received {}", o.bytes_sent, o.bytes_received);
    println!(
        "requests  {}  failed {}  deadlines expired {}",
        o.requests, o.requests_failed, o.deadlines_expired
    );
    Ok(())
}
