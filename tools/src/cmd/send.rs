//! `wsksock send ADDR --bytes N [--close graceful|abortive|linger:SECS] [--json]`.
//!
//! Posts the sends (at most 8 in flight, so Wine's 10-per-socket limit holds and memory stays
//! bounded), then closes with the wait-for-teardown flag *without waiting for the sends still
//! queued*: the close mode decides the fate of that data. Exits once the teardown finished.

use crate::backend::Session;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wsksock_abi::msg::{CloseMode, Disconnect};
use wsksock_abi::NtStatus;
use wsksock_tools::api::status_name;
use wsksock_tools::{pattern, Client, Completed, Pending};

/// How to close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseArg {
    /// Graceful: queued data, then FIN.
    Graceful,
    /// Abortive: RST, queued data dropped.
    Abortive,
    /// Graceful within SECS, else RST.
    Linger(u16),
}

impl std::str::FromStr for CloseArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "graceful" => Ok(CloseArg::Graceful),
            "abortive" => Ok(CloseArg::Abortive),
            _ => {
                let secs = s
                    .strip_prefix("linger:")
                    .ok_or_else(|| format!("bad close mode {s:?}"))?;
                match secs.parse::<u16>() {
                    Ok(n) if n > 0 => Ok(CloseArg::Linger(n)),
                    _ => Err(format!("bad linger seconds {secs:?} (1..=65535)")),
                }
            }
        }
    }
}

impl CloseArg {
    /// The CLOSE mode and linger seconds.
    pub fn mode(self) -> (CloseMode, u32) {
        match self {
            CloseArg::Graceful => (CloseMode::Graceful, 0),
            CloseArg::Abortive => (CloseMode::Abortive, 0),
            CloseArg::Linger(s) => (CloseMode::Linger, u32::from(s)),
        }
    }

    /// The flag spelling.
    pub fn name(self) -> String {
        match self {
            CloseArg::Graceful => "graceful".into(),
            CloseArg::Abortive => "abortive".into(),
            CloseArg::Linger(s) => format!("linger:{s}"),
        }
    }
}

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address, e.g. 127.0.0.1:5000.
    pub addr: String,
    /// Bytes to send (the pattern `byte[i]` = i % 251).
    #[arg(long)]
    pub bytes: u64,
    /// Close mode: graceful, abortive, or linger:SECS.
    #[arg(long, default_value = "graceful")]
    pub close: CloseArg,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Give up if the teardown has not finished after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// What `send` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Bytes handed to sends (fewer than asked if a send failed and posting stopped).
    pub sent: u64,
    /// The close mode.
    pub close: String,
    /// Status of the CLOSE request.
    pub close_status: String,
    /// How the teardown ended (the provider close status).
    pub teardown_status: String,
    /// The disconnect performed: none, graceful, abortive.
    pub disconnect: String,
    /// Sends that completed with success, and their bytes.
    pub sends_ok: usize,
    /// Bytes those sends carried.
    pub bytes_ok: u64,
    /// Send statuses other than success, by name.
    pub send_failures: Vec<String>,
    /// Milliseconds from the close to the end of the teardown.
    pub teardown_ms: u128,
}

/// Sends in flight at once: within Wine's 10 pending operations per socket, and a memory bound
/// (`IN_FLIGHT` x `MAX_CHUNK`) whatever the byte count.
const IN_FLIGHT: usize = 8;
/// Largest single send.
const MAX_CHUNK: u64 = 8 * 1024 * 1024;

/// Runs `send` on a client; exposed for tests.
///
/// Sends go out in chunks, at most [`IN_FLIGHT`] at a time (the next is posted when one
/// completes); the close is issued right after the last chunk is *posted*, without waiting for
/// the sends still queued — so the close mode decides their fate. A failed send stops the
/// posting (the connection is gone); the close still runs.
pub fn send(
    client: &Client,
    addr: std::net::SocketAddr,
    bytes: u64,
    close: CloseArg,
    timeout: Duration,
) -> Result<Outcome, String> {
    let h = client
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    let chunk = bytes.div_ceil(IN_FLIGHT as u64).clamp(64 * 1024, MAX_CHUNK);
    let mut in_flight: VecDeque<(u64, Pending)> = VecDeque::new();
    let mut finished: Vec<(u64, Completed)> = Vec::new();
    let mut offset = 0;
    let mut failed = false;
    while offset < bytes && !failed {
        if in_flight.len() == IN_FLIGHT {
            let (len, p) = in_flight.pop_front().expect("a send is in flight");
            let c = p
                .wait_timeout(timeout)
                .ok_or_else(|| format!("a send did not complete within {timeout:?}"))?;
            failed = c.status != NtStatus::STATUS_SUCCESS;
            finished.push((len, c));
            continue;
        }
        let len = chunk.min(bytes - offset);
        let n = usize::try_from(len).map_err(|_| "chunk too large".to_string())?;
        in_flight.push_back((len, client.send(h, pattern::bytes(offset, n))));
        offset += len;
    }
    let (mode, secs) = close.mode();
    let started = Instant::now();
    let closing = client.close_pending(h, mode, secs, true);
    let done = closing
        .wait_timeout(timeout)
        .ok_or_else(|| format!("the teardown did not finish within {timeout:?}"))?;
    let teardown_ms = started.elapsed().as_millis();
    let closed = Client::closed(&done);
    let mut out = Outcome {
        sent: offset,
        close: close.name(),
        close_status: status_name(closed.status),
        teardown_status: status_name(closed.teardown_status),
        disconnect: match closed.disconnect {
            Disconnect::None => "none",
            Disconnect::Graceful => "graceful",
            Disconnect::Abortive => "abortive",
        }
        .into(),
        sends_ok: 0,
        bytes_ok: 0,
        send_failures: Vec::new(),
        teardown_ms,
    };
    for (len, p) in in_flight {
        // The teardown finished, so every send completed; the timeout only guards a bug.
        let c = p
            .wait_timeout(Duration::from_secs(5))
            .ok_or("a send outlived the teardown")?;
        finished.push((len, c));
    }
    for (len, c) in finished {
        if c.status == NtStatus::STATUS_SUCCESS {
            out.sends_ok += 1;
            out.bytes_ok += len;
        } else {
            out.send_failures.push(status_name(c.status));
        }
    }
    if !closed.status.is_success() {
        return Err(format!("close failed: {}", out.close_status));
    }
    Ok(out)
}

/// `wsksock send`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let addr = super::parse_addr(&a.addr)?;
    let out = send(
        &session.client,
        addr,
        a.bytes,
        a.close,
        Duration::from_secs(a.timeout),
    )?;
    if a.json {
        println!("{}", serde_json::to_string(&out).map_err(|e| e.to_string())?);
    } else {
        println!(
            "sent {} bytes, close {} -> {} (teardown {} in {} ms, disconnect {}), {} sends ok ({} bytes){}",
            out.sent,
            out.close,
            out.close_status,
            out.teardown_status,
            out.teardown_ms,
            out.disconnect,
            out.sends_ok,
            out.bytes_ok,
            if out.send_failures.is_empty() {
                String::new()
            } else {
                format!(", failed: {:?}", out.send_failures)
            }
        );
    }
    Ok(())
}
