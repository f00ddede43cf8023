//! `wsksock listen ADDR [--once] [--close MODE] [--timeout MS] [-v]`: binds a listening socket
//! to ADDR, accepts a connection and pipes it like `connect` does; then the next one, or exits
//! with `--once`. Prints `listening on ADDR` (the bound address: port 0 picks one) on standard
//! error.

use super::pipe;
use crate::backend::Session;
use wsksock_abi::msg::{AddressWhich, CloseMode, SocketKind};
use wsksock_abi::NtStatus;
use wsksock_tools::api::status_name;
use wsksock_tools::Client;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Local address to listen on, e.g. 127.0.0.1:5000 (port 0: any free port).
    pub addr: String,
    /// Exit after the first connection.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub pipe: pipe::PipeArgs,
}

/// `wsksock listen`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let addr = super::parse_addr(&a.addr)?;
    let timeout = super::timeout_ms(a.pipe.timeout)?;
    let c = &session.client;
    let l = c
        .socket_for(&addr, SocketKind::Listen)
        .map_err(|e| format!("socket: {}", status_name(e.status)))?;
    let served = serve(c, l, addr, timeout, a);
    let _ = c.close(l, CloseMode::Abortive, true);
    served
}

fn serve(
    c: &Client,
    l: wsksock_abi::Handle,
    addr: std::net::SocketAddr,
    timeout: u32,
    a: &Args,
) -> Result<(), String> {
    c.bind(l, addr)
        .map_err(|e| format!("bind {addr}: {}", status_name(e.status)))?;
    c.listen(l, 0)
        .map_err(|e| format!("listen on {addr}: {}", status_name(e.status)))?;
    // The port bound (Wine cannot tell it: its WskGetLocalAddress is a stub).
    let bound = c.address(l, AddressWhich::Local).unwrap_or(addr);
    eprintln!("listening on {bound}");
    let mut input = pipe::Input::start()?;
    loop {
        let done = c.accept_within(l, timeout).wait();
        if done.status == NtStatus::STATUS_IO_TIMEOUT {
            return Err(format!("no connection within {timeout} ms"));
        }
        let r = Client::accepted(&done).map_err(|e| format!("accept: {}", status_name(e.status)))?;
        if a.pipe.verbose {
            let from = r.remote.to_socket_addr().map_or("?".into(), |a| a.to_string());
            eprintln!("wsksock: connection from {from}");
        }
        let piped = pipe::pipe(c, r.handle, a.pipe.close, &mut input)?;
        if a.pipe.verbose {
            eprintln!("wsksock: {}", pipe::summary(&piped, a.pipe.close));
        }
        if a.once {
            return Ok(());
        }
    }
}
