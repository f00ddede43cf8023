//! End to end: the hidden `wsksock check` scenarios the Wine suite (`cargo xtask wine-test`)
//! runs against the real driver, here in host mode under both emulator profiles — so the
//! statuses they expect are the engine's, and the scenarios stay runnable on Linux.

use std::net::SocketAddr;
use std::time::Duration;
use wsksock_tests::cli;
use wsksock_tools::peer::{Behaviour, End, Peer, Report};

const CLI_TIMEOUT: Duration = Duration::from_mins(1);

fn check(wine: bool, args: &[&str]) -> (serde_json::Value, Report) {
    let peer = Peer::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Behaviour::Read,
        Duration::from_secs(30),
    )
    .expect("peer");
    let addr = peer.addr().to_string();
    let mut all: Vec<&str> = if wine { vec!["--profile", "wine8"] } else { vec![] };
    all.push("check");
    all.extend(args.iter().map(|a| if *a == "ADDR" { addr.as_str() } else { a }));
    let run = cli::run(&all, CLI_TIMEOUT);
    assert!(run.status.success(), "wsksock {all:?}: {}", run.stderr);
    (run.json(), peer.report())
}

fn malformed(wine: bool) {
    let (j, peer) = check(wine, &["malformed", "ADDR", "--garbage", "200"]);
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["garbage_not_refused"], 0, "{j}");
    assert!(j["cases"].as_u64().unwrap_or(0) >= 20, "{j}");
    assert_eq!((peer.bytes, peer.intact(), peer.end), (777, true, End::Fin));
}

#[test]
fn malformed_requests_get_their_documented_statuses() {
    malformed(false);
}

#[test]
fn malformed_requests_get_their_documented_statuses_under_wine() {
    malformed(true);
}

fn handles(wine: bool) {
    let (j, peer) = check(wine, &["handles", "ADDR"]);
    assert_eq!(j["ok"], true, "{j}");
    assert_ne!(j["client_ids"][0], j["client_ids"][1], "{j}");
    assert_eq!((peer.bytes, peer.intact(), peer.end), (1000, true, End::Fin));
}

#[test]
fn closed_stale_and_foreign_handles_are_refused() {
    handles(false);
}

#[test]
fn closed_stale_and_foreign_handles_are_refused_under_wine() {
    handles(true);
}

/// The access bits of the control codes, with the host channel doing what the I/O manager does;
/// the write-only client's bytes reach the peer. (Before the codes had access bits every case
/// of a handle without data access succeeded or reached the driver.)
fn access(wine: bool) {
    let (j, peer) = check(wine, &["access", "ADDR"]);
    assert_eq!(j["ok"], true, "{j}");
    assert!(j["cases"].as_u64().unwrap_or(0) >= 12, "{j}");
    assert_eq!((peer.bytes, peer.intact(), peer.end), (4321, true, End::Fin));
}

#[test]
fn handles_without_data_access_are_refused_the_codes_that_need_it() {
    access(false);
}

#[test]
fn handles_without_data_access_are_refused_the_codes_that_need_it_under_wine() {
    access(true);
}

/// DUPLICATE into another client: refused until that client allows it, then once; the peer gets
/// the bytes sent through the duplicate after the original handle closed.
fn consent(wine: bool) {
    let (j, peer) = check(wine, &["consent", "ADDR"]);
    assert_eq!(j["ok"], true, "{j}");
    assert!(j["cases"].as_u64().unwrap_or(0) >= 9, "{j}");
    assert_eq!((peer.bytes, peer.intact(), peer.end), (2345, true, End::Fin));
}

#[test]
fn duplicating_into_another_client_needs_its_consent() {
    consent(false);
}

#[test]
fn duplicating_into_another_client_needs_its_consent_under_wine() {
    consent(true);
}

#[test]
fn many_sockets_at_once() {
    // A plain acceptor that holds every connection (the tools' peer takes one).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let acceptor = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for _ in 0..20 {
            if let Ok((s, _)) = listener.accept() {
                conns.push(s);
            }
        }
        conns
    });
    let run = cli::run(
        &["check", "many", &addr, "--count", "20", "--bytes", "100"],
        CLI_TIMEOUT,
    );
    assert!(run.status.success(), "{}", run.stderr);
    let j = run.json();
    assert_eq!(
        (j["connected"].as_u64(), j["sent"].as_u64(), j["closed"].as_u64()),
        (Some(20), Some(20), Some(20)),
        "{j}"
    );
    assert!(j["open_at_once"].as_u64().unwrap_or(0) >= 20, "{j}");
    assert_eq!(acceptor.join().expect("acceptor").len(), 20);
}

#[test]
fn cancel_ends_a_pending_receive_and_close_ends_the_rest() {
    let (j, peer) = check(false, &["cancel", "ADDR"]);
    assert_eq!(j["after_cancel_io"], "STATUS_CANCELLED", "{j}");
    assert_eq!(j["after_cancel_request"], "STATUS_CANCELLED", "{j}");
    assert_eq!(j["close_status"], "STATUS_SUCCESS", "{j}");
    assert_eq!(peer.end, End::Fin);
}

#[test]
fn cancel_under_wine_leaves_receives_to_the_close() {
    let (j, peer) = check(true, &["cancel", "ADDR"]);
    assert_eq!(j["after_cancel_io"], "pending", "{j}");
    assert_eq!(
        j["after_close"],
        serde_json::json!(["STATUS_CANCELLED", "STATUS_CANCELLED"]),
        "{j}"
    );
    assert_eq!(peer.end, End::Fin);
}
