//! `wsksock recv ADDR [--bytes N] [--timeout MS] [--json]`: connects and receives until the
//! peer's FIN, N bytes, or a receive's deadline; reports the bytes and how it ended (`fin`,
//! `bytes`, `timeout`, `reset`, or a status). The deadline is each RECEIVE's (an idle
//! timeout, as SO_RCVTIMEO). A progress bar runs on standard error when standard output is a
//! terminal (and not with `--json`).
//!
//! Exit status 0 when it ended with `fin`, `bytes` or `timeout`; 1 otherwise (the report is
//! still printed).

use crate::backend::Session;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Instant;
use wsksock_abi::msg::CloseMode;
use wsksock_abi::{Handle, NtStatus};
use wsksock_tools::api::status_name;
use wsksock_tools::Client;

/// Bytes per RECEIVE.
const CHUNK: usize = 64 * 1024;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address, e.g. 127.0.0.1:5000.
    pub addr: String,
    /// Stop after this many bytes.
    #[arg(long)]
    pub bytes: Option<u64>,
    /// Deadline of each RECEIVE in milliseconds (default: none).
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What `recv` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Bytes received.
    pub bytes: u64,
    /// How it ended: `fin`, `bytes`, `timeout`, `reset`, or the failing status.
    pub end: String,
    /// The status of the RECEIVE that ended it (`STATUS_SUCCESS` for `fin` and `bytes`).
    pub status: String,
    /// RECEIVE requests it took.
    pub receives: u64,
    /// Deadlines that expired on the socket (its STATISTICS).
    pub deadlines_expired: u64,
    /// Milliseconds from the connect to the end.
    pub elapsed_ms: u128,
    /// Status of the CLOSE.
    pub close_status: String,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn ok(&self) -> bool {
        matches!(self.end.as_str(), "fin" | "bytes" | "timeout")
    }
}

fn progress(a: &Args) -> ProgressBar {
    if a.json || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match a.bytes {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    let template = if a.bytes.is_some() {
        "received [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed}"
    } else {
        "received {bytes} {binary_bytes_per_sec} {elapsed}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

fn receive_all(c: &Client, h: Handle, a: &Args, timeout: u32, pb: &ProgressBar) -> Outcome {
    let started = Instant::now();
    let mut out = Outcome {
        bytes: 0,
        end: String::new(),
        status: status_name(NtStatus::STATUS_SUCCESS),
        receives: 0,
        deadlines_expired: 0,
        elapsed_ms: 0,
        close_status: String::new(),
    };
    loop {
        let want = match a.bytes {
            Some(n) if out.bytes >= n => {
                out.end = "bytes".into();
                break;
            }
            Some(n) => usize::try_from(n - out.bytes).unwrap_or(CHUNK).min(CHUNK),
            None => CHUNK,
        };
        let d = c.receive_with(h, want, 0, timeout).wait();
        out.receives += 1;
        if d.status != NtStatus::STATUS_SUCCESS {
            out.status = status_name(d.status);
            out.end = super::pipe::end_name(d.status);
            break;
        }
        if d.info == 0 {
            out.end = "fin".into();
            break;
        }
        out.bytes += d.info as u64;
        pb.set_position(out.bytes);
    }
    out.elapsed_ms = started.elapsed().as_millis();
    out.deadlines_expired = c.statistics(h).map_or(0, |s| s.deadlines_expired);
    out
}

/// Runs `recv` on a client; exposed for tests.
pub fn recv(c: &Client, a: &Args) -> Result<Outcome, String> {
    let addr = super::parse_addr(&a.addr)?;
    let timeout = super::timeout_ms(a.timeout)?;
    let h = c
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    let pb = progress(a);
    let mut out = receive_all(c, h, a, timeout, &pb);
    pb.finish_and_clear();
    // After a reset there is nothing to end gracefully.
    let mode = if out.end == "reset" {
        CloseMode::Abortive
    } else {
        CloseMode::Graceful
    };
    out.close_status = match c.close(h, mode, true) {
        Ok(cl) => status_name(cl.status),
        Err(e) => status_name(e.status),
    };
    Ok(out)
}

/// `wsksock recv`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let out = recv(&session.client, a)?;
    if a.json {
        println!("{}", serde_json::to_string(&out).map_err(|e| e.to_string())?);
    } else {
        println!(
            "received {} bytes in {} receives, ended {} ({}) after {} ms, close {}",
            out.bytes, out.receives, out.end, out.status, out.elapsed_ms, out.close_status
        );
    }
    if out.ok() {
        Ok(())
    } else {
        Err(format!(
            "the connection ended with {} after {} bytes",
            out.status, out.bytes
        ))
    }
}
