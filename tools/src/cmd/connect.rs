//! `wsksock connect ADDR [--close graceful|abortive|linger:S] [--timeout MS] [-v]`: like `nc`,
//! standard input to the socket and the socket to standard output; at the end of input the
//! socket closes with the mode given (module `pipe`; an input empty from the start waits for the
//! peer's end instead).

use super::pipe;
use crate::backend::Session;
use wsksock_tools::api::status_name;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address, e.g. 127.0.0.1:5000.
    pub addr: String,
    #[command(flatten)]
    pub pipe: pipe::PipeArgs,
}

/// `wsksock connect`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let addr = super::parse_addr(&a.addr)?;
    let opts = &a.pipe;
    let timeout = super::timeout_ms(opts.timeout)?;
    let c = &session.client;
    let h = c
        .connect_to_within(addr, timeout)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    if opts.verbose {
        eprintln!("wsksock: connected to {addr}");
    }
    let mut input = pipe::Input::start()?;
    let piped = pipe::pipe(c, h, opts.close, &mut input)?;
    if opts.verbose {
        eprintln!("wsksock: {}", pipe::summary(&piped, opts.close));
    }
    Ok(())
}
