//! `wsksock demo`: the close path on the wire, against loopback peers this command runs.

use super::send::{send, CloseArg};
use crate::backend::Session;
use std::net::SocketAddr;
use std::time::Duration;
use wsksock_tools::peer::{Behaviour, End, Peer, Report};

struct Scenario {
    title: &'static str,
    bytes: u64,
    close: CloseArg,
    peer: Behaviour,
    expect: &'static str,
}

fn end_name(e: &End) -> String {
    match e {
        End::Fin => "FIN".into(),
        End::Reset => "RST (connection reset)".into(),
        End::Timeout => "nothing (timeout)".into(),
        End::Error(s) => format!("error: {s}"),
    }
}

fn show(r: &Report, sent: u64) -> String {
    let intact = if r.intact() { "intact" } else { "CORRUPT" };
    format!(
        "peer got {} of {} bytes ({intact}), then {}",
        r.bytes,
        sent,
        end_name(&r.end)
    )
}

/// Runs every scenario and prints what the peer saw.
pub fn run(session: &Session) -> Result<(), String> {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let mib = 1024 * 1024;
    let scenarios = [
        Scenario {
            title: "graceful close with 8 MiB still queued",
            bytes: 8 * mib,
            close: CloseArg::Graceful,
            peer: Behaviour::Read,
            expect: "all data, then FIN",
        },
        Scenario {
            title: "abortive close with 8 MiB queued, peer slow to read",
            bytes: 8 * mib,
            close: CloseArg::Abortive,
            peer: Behaviour::Stall {
                first: 0,
                pause: Duration::from_millis(300),
            },
            expect: "queued data dropped, RST",
        },
        Scenario {
            title: "linger 1 s, peer stops reading for 3 s",
            bytes: 16 * mib,
            close: CloseArg::Linger(1),
            peer: Behaviour::Stall {
                first: mib,
                pause: Duration::from_secs(3),
            },
            expect: "RST after 1 s, not a hang",
        },
        Scenario {
            title: "linger 5 s, peer pauses 0.5 s",
            bytes: 4 * mib,
            close: CloseArg::Linger(5),
            peer: Behaviour::Stall {
                first: mib,
                pause: Duration::from_millis(500),
            },
            expect: "all data within the linger time, then FIN",
        },
    ];
    println!("wsksock demo: {}, peers on 127.0.0.1\n", session.describe());
    for (i, s) in scenarios.iter().enumerate() {
        let peer = Peer::start(local, s.peer, Duration::from_secs(30)).map_err(|e| e.to_string())?;
        let out = send(
            &session.client,
            peer.addr(),
            s.bytes,
            s.close,
            Duration::from_mins(1),
        )?;
        let report = peer.report();
        println!("{}. {} (expected: {})", i + 1, s.title, s.expect);
        println!(
            "   close {} -> {}, teardown {} after {} ms, disconnect {}",
            out.close, out.close_status, out.teardown_status, out.teardown_ms, out.disconnect
        );
        println!("   {}\n", show(&report, s.bytes));
    }
    let peer = Peer::start(local, Behaviour::Read, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let race = super::race::race(&session.client, peer.addr())?;
    let report = peer.report();
    println!("5. cross-thread close: a receive pending in thread A, the handle closed in thread B");
    println!(
        "   receive -> {}, close -> {}, request on the closed handle -> {}",
        race.recv_status, race.close_status, race.after_close_status
    );
    println!("   {}", show(&report, 0));
    Ok(())
}
