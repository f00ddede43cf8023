//! `wsksock connect` and `wsksock listen`: a connected socket piped like `nc` — standard input
//! to the socket, the socket to standard output — then closed with the mode given.
//!
//! Three threads: one reads standard input ([`Input`], one for the whole run), one keeps a
//! RECEIVE pending and writes what arrives to standard output, the caller's sends and decides.
//! At the end of input (or once the peer's side ended) the socket is closed with the mode
//! given, waiting for the teardown: what the peer sends after that is not read (the close
//! cancels the pending receive). An input that is empty from the start (`< /dev/null`, a
//! background job) sends nothing and closes nothing: the connection then ends when the peer's
//! side does, as with `nc` — so `listen` can just receive.

use super::send::CloseArg;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;
use wsksock_abi::{Handle, NtStatus};
use wsksock_tools::api::status_name;
use wsksock_tools::Client;

/// The flags `connect` and `listen` share.
#[derive(clap::Args)]
pub struct PipeArgs {
    /// How to close at the end of input: graceful, abortive, or linger:SECS.
    #[arg(long, default_value = "graceful")]
    pub close: CloseArg,
    /// Deadline in milliseconds of the CONNECT (`connect`) or of each ACCEPT (`listen`);
    /// default: none.
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Report each connection and its close on standard error.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Bytes per SEND and per RECEIVE.
const CHUNK: usize = 64 * 1024;
/// How long one SEND may take before the tool calls it a hang (a peer that stopped reading).
const SEND_PATIENCE: Duration = Duration::from_mins(10);
/// How often the sender looks whether the peer's side ended while it waits for input.
const POLL: Duration = Duration::from_millis(20);

/// What one piped connection did.
#[derive(Debug, Default)]
pub struct Piped {
    /// Bytes sent from standard input.
    pub sent: u64,
    /// Bytes received and written to standard output.
    pub received: u64,
    /// How the receiving side ended: `fin`, `reset`, a status, or `closed` (we closed first).
    pub peer: String,
    /// Status of the CLOSE.
    pub close_status: String,
}

/// Standard input, read by one thread for the whole run (so that `listen` can pipe it into
/// one connection after another without two readers).
pub struct Input {
    rx: mpsc::Receiver<Option<Vec<u8>>>,
    ended: bool,
}

impl Input {
    /// Starts the reader thread (it may stay blocked in `read` when the peer ends first: the
    /// process exits without it).
    pub fn start() -> Result<Input, String> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                loop {
                    let mut buf = vec![0; CHUNK];
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            let _ = tx.send(None);
                            return;
                        }
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Some(buf)).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the input thread: {e}"))?;
        Ok(Input { rx, ended: false })
    }
}

/// Keeps one RECEIVE pending; writes what arrives to standard output; reports how the
/// receiving side ended. Returns the bytes.
fn receive_output(client: &Client, h: Handle, tx: &mpsc::Sender<NtStatus>) -> u64 {
    let mut total = 0;
    let mut stdout = std::io::stdout().lock();
    loop {
        let c = client.receive(h, CHUNK).wait();
        if c.status != NtStatus::STATUS_SUCCESS || c.info == 0 {
            let _ = tx.send(c.status);
            return total;
        }
        let n = c.info.min(c.output.len());
        if stdout
            .write_all(&c.output[..n])
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // Nobody reads our output any more: end this connection.
            let _ = tx.send(NtStatus::STATUS_CANCELLED);
            return total;
        }
        total += n as u64;
    }
}

/// How the receiving side ended, for humans and JSON.
pub fn end_name(st: NtStatus) -> String {
    match st {
        NtStatus::STATUS_SUCCESS => "fin".into(),
        NtStatus::STATUS_CONNECTION_RESET => "reset".into(),
        NtStatus::STATUS_CANCELLED => "closed".into(),
        NtStatus::STATUS_IO_TIMEOUT => "timeout".into(),
        other => status_name(other),
    }
}

/// Pipes standard input and output through the connected socket `h`, then closes it: at the
/// end of input, or when the peer's side ended. Once the input ended (an earlier connection of
/// `listen`), it only receives until the peer's side ends.
pub fn pipe(client: &Client, h: Handle, close: CloseArg, input: &mut Input) -> Result<Piped, String> {
    let (tx, peer) = mpsc::channel();
    let recv_client = client.clone();
    let receiver = std::thread::Builder::new()
        .name("receive".into())
        .spawn(move || receive_output(&recv_client, h, &tx))
        .map_err(|e| format!("cannot start the receive thread: {e}"))?;
    let mut out = Piped {
        peer: "closed".into(),
        ..Piped::default()
    };
    let mut failure = None;
    loop {
        if let Ok(st) = peer.try_recv() {
            out.peer = end_name(st);
            break;
        }
        if input.ended {
            if let Ok(st) = peer.recv() {
                out.peer = end_name(st);
            }
            break;
        }
        match input.rx.recv_timeout(POLL) {
            Ok(Some(data)) => {
                let n = data.len() as u64;
                let c = client
                    .send(h, data)
                    .wait_timeout(SEND_PATIENCE)
                    .ok_or("a send did not complete within 10 minutes")?;
                if c.status != NtStatus::STATUS_SUCCESS {
                    failure = Some(format!("send failed: {}", status_name(c.status)));
                    break;
                }
                out.sent += n;
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                input.ended = true;
                if out.sent > 0 {
                    break;
                }
                // Nothing to send, ever: receive until the peer's side ends (the loop's top).
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let (mode, secs) = close.mode();
    let closed = Client::closed(&client.close_pending(h, mode, secs, true).wait());
    out.close_status = status_name(closed.status);
    out.received = receiver.join().map_err(|_| "the receive thread panicked")?;
    if out.peer == "closed" {
        // The peer's end may have come while we were closing.
        if let Ok(st) = peer.try_recv().map(end_name) {
            out.peer = st;
        }
    }
    if let Some(f) = failure {
        return Err(f);
    }
    if !closed.status.is_success() {
        return Err(format!("close failed: {}", out.close_status));
    }
    Ok(out)
}

/// The one-line summary `-v` prints on standard error.
pub fn summary(p: &Piped, close: CloseArg) -> String {
    format!(
        "sent {} bytes, received {} bytes, peer {}, close {} -> {}",
        p.sent,
        p.received,
        p.peer,
        close.name(),
        p.close_status
    )
}
