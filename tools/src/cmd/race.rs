//! `wsksock close-race ADDR [--json]`: a receive pending in one thread, the close in another,
//! then a request on the closed handle.

use crate::backend::Session;
use serde::Serialize;
use std::time::Duration;
use wsksock_abi::msg::CloseMode;
use wsksock_tools::api::status_name;
use wsksock_tools::Client;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address (a peer that sends nothing, so the receive stays pending).
    pub addr: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What `close-race` reports (field names are the documented JSON keys).
#[derive(Serialize, Debug)]
#[allow(clippy::struct_field_names)]
pub struct Outcome {
    /// The pending receive's status (STATUS_CANCELLED expected).
    pub recv_status: String,
    /// The CLOSE's status.
    pub close_status: String,
    /// A SEND on the closed handle (STATUS_INVALID_HANDLE expected).
    pub after_close_status: String,
}

/// Runs the race on a client; exposed for tests.
pub fn race(client: &Client, addr: std::net::SocketAddr) -> Result<Outcome, String> {
    let h = client
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", status_name(e.status)))?;
    let receiver = client.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let p = receiver.receive(h, 4096);
        let _ = tx.send(());
        p.wait_timeout(Duration::from_secs(30))
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the receiving thread did not start")?;
    // The receive is pending in the other thread; close the handle from this one.
    let closed = client.close(h, CloseMode::Default, false);
    let close_status = closed.map_or_else(|e| e.status, |c| c.status);
    let recv = t
        .join()
        .map_err(|_| "receiving thread panicked")?
        .ok_or("the pending receive was never completed")?;
    let after = client
        .send(h, b"x".to_vec())
        .wait_timeout(Duration::from_secs(10))
        .ok_or("send on a closed handle hung")?;
    Ok(Outcome {
        recv_status: status_name(recv.status),
        close_status: status_name(close_status),
        after_close_status: status_name(after.status),
    })
}

/// `wsksock close-race`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let addr = super::parse_addr(&a.addr)?;
    let out = race(&session.client, addr)?;
    if a.json {
        println!("{}", serde_json::to_string(&out).map_err(|e| e.to_string())?);
    } else {
        println!(
            "receive pending in thread A -> {}; close from thread B -> {}; request on the closed handle -> {}",
            out.recv_status, out.close_status, out.after_close_status
        );
    }
    Ok(())
}
