//! `wsksock connect ADDR [--close graceful|abortive|linger:S] [--timeout MS] [-v]`: like `nc`,
//! standard input to the socket and the socket to standard output; at the end of input the
//! socket closes with the mode given (module `pipe`).

use super::pipe;
use super::send::CloseArg;
use crate::backend::Session;
use wsksock_tools::api::status_name;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address, e.g. 127.0.0.1:5000.
    pub addr: String,
    /// How to close at the end of input: graceful, abortive, or linger:SECS.
    #[arg(long, default_value = "graceful")]
    pub close: CloseArg,
    /// Deadline of the CONNECT in milliseconds (default: none).
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Report the connection and the close on standard error.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `wsksock connect`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let addr = super::parse_addr(&a.addr)?;
    let timeout = super::timeout_ms(a.timeout)?;
    let c = &session.client;
    let h = c
        .connect_to_within(addr, timeout)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    if a.verbose {
        eprintln!("wsksock: connected to {addr}");
    }
    let mut input = pipe::Input::start()?;
    let piped = pipe::pipe(c, h, a.close, &mut input)?;
    if a.verbose {
        eprintln!("wsksock: {}", pipe::summary(&piped, a.close));
    }
    Ok(())
}
