//! End to end: the operator's verbs of the `wsksock` binary (host backend) against loopback
//! peers that watch the wire — `connect` and `listen` piping like `nc` and closing with the mode
//! given, `recv` reporting how it ended, `wait-close`, `stats` — and their bad input: one line
//! on stderr, a non-zero exit. Under both emulator profiles.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use wsksock_emu::testutil::with_timeout;
use wsksock_tests::cli::{self, Run};
use wsksock_tests::wire::{free_port, Listener};
use wsksock_tests::End;

const LIMIT: Duration = Duration::from_mins(1);
const CLI_TIMEOUT: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_secs(5);

fn args<'a>(wine: bool, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = if wine { vec!["--profile", "wine8"] } else { vec![] };
    all.extend_from_slice(rest);
    all
}

#[track_caller]
fn one_line_error(run: &Run, contains: &str) {
    assert!(!run.status.success(), "expected a failure: {run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr: {run:?}");
    assert!(lines[0].starts_with("wsksock: "), "{run:?}");
    assert!(lines[0].contains(contains), "{contains:?} in {run:?}");
}

// ---- connect -------------------------------------------------------------------------------

/// The peer answers what it read and closes first: the tool writes the answer to stdout, sees
/// the peer's FIN and closes (graceful: FIN) while its input is still open.
fn connect_pipes_both_ways(wine: bool) {
    let peer = Listener::v4();
    let addr = peer.addr().to_string();
    let watcher = std::thread::spawn(move || {
        let mut conn = peer.accept(SHORT);
        let got = conn.read_exact(5, SHORT);
        conn.write_all(b"pong\n");
        conn.shutdown_write();
        (got, conn.drain(SHORT))
    });
    let mut tool = cli::spawn(&args(wine, &["connect", &addr]));
    tool.input(b"ping\n");
    let run = tool.finish(CLI_TIMEOUT);
    let (got, report) = watcher.join().expect("peer");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(got, b"ping\n", "stdin reached the peer");
    assert_eq!(run.stdout, "pong\n", "the peer's bytes reached stdout");
    assert_eq!(report.end, End::Fin, "{report:?}");
}

#[test]
fn connect_pipes_stdin_to_the_peer_and_the_peer_to_stdout() {
    with_timeout(LIMIT, || connect_pipes_both_ways(false));
}

#[test]
fn connect_pipes_stdin_to_the_peer_and_the_peer_to_stdout_under_wine() {
    with_timeout(LIMIT, || connect_pipes_both_ways(true));
}

/// At the end of input the socket closes with the mode given: the peer sees every byte, then
/// RST for `--close abortive` (FIN under Wine, whose close never resets) or FIN for graceful.
fn connect_closes_with_the_mode_given(wine: bool, mode: &str) {
    let peer = Listener::v4();
    let addr = peer.addr().to_string();
    let (read_tx, read_rx) = std::sync::mpsc::channel();
    let watcher = std::thread::spawn(move || {
        let mut conn = peer.accept(SHORT);
        let _ = read_tx.send(conn.read_exact(6, SHORT));
        conn.drain(SHORT)
    });
    let mut tool = cli::spawn(&args(wine, &["connect", &addr, "--close", mode, "-v"]));
    tool.input(b"hello\n");
    // The peer read it all before the end of input: nothing is queued when the close comes.
    let got = read_rx.recv_timeout(SHORT).expect("the peer read the input");
    tool.end_input();
    let run = tool.finish(CLI_TIMEOUT);
    let report = watcher.join().expect("peer");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(got, b"hello\n");
    let expected = if mode == "abortive" && !wine {
        End::Reset
    } else {
        End::Fin
    };
    assert_eq!(report.end, expected, "{mode}: {report:?}");
    let summary = run
        .stderr_lines()
        .last()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        summary.contains("sent 6 bytes") && summary.contains(mode),
        "{run:?}"
    );
}

#[test]
fn connect_closes_gracefully_at_the_end_of_input() {
    with_timeout(LIMIT, || connect_closes_with_the_mode_given(false, "graceful"));
}

#[test]
fn connect_closes_abortively_when_asked() {
    with_timeout(LIMIT, || connect_closes_with_the_mode_given(false, "abortive"));
}

#[test]
fn connect_closes_abortively_when_asked_under_wine() {
    with_timeout(LIMIT, || connect_closes_with_the_mode_given(true, "abortive"));
}

#[test]
fn connect_fails_in_one_line_on_a_refused_connection_and_bad_flags() {
    with_timeout(LIMIT, || {
        let port = free_port([127, 0, 0, 1].into());
        let addr = format!("127.0.0.1:{port}");
        let run = cli::run(&["connect", &addr], CLI_TIMEOUT);
        one_line_error(&run, "STATUS_CONNECTION_REFUSED");
        let run = cli::run(&["connect", &addr, "--timeout", "0"], CLI_TIMEOUT);
        one_line_error(&run, "bad --timeout 0");
        let run = cli::run(&["connect", &addr, "--close", "sideways"], CLI_TIMEOUT);
        assert!(!run.status.success());
        assert_eq!(run.stderr_lines().len(), 1, "{run:?}");
    });
}

// ---- listen --------------------------------------------------------------------------------

/// `empty_input`: the tool's input ends before the connection (`< /dev/null`): it sends nothing
/// and closes only after the peer's FIN.
fn listen_once(wine: bool, empty_input: bool) {
    // Wine cannot say which port a listener got (WskGetLocalAddress is a stub): give one.
    let port = if wine { free_port([127, 0, 0, 1].into()) } else { 0 };
    let bind = format!("127.0.0.1:{port}");
    let mut tool = cli::spawn(&args(wine, &["listen", &bind, "--once", "-v"]));
    if empty_input {
        tool.end_input();
    }
    let line = tool.stderr_line(SHORT);
    let shown = line
        .strip_prefix("listening on ")
        .expect("the bound address first");
    let addr: SocketAddr = if wine {
        bind.parse().unwrap()
    } else {
        shown.parse().expect("address")
    };
    assert_ne!(addr.port(), 0, "{line}");
    let mut s = TcpStream::connect(addr).expect("connect to wsksock listen");
    s.write_all(b"hello listener\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(SHORT)).unwrap();
    let mut rest = Vec::new();
    let end = s.read_to_end(&mut rest);
    let run = tool.finish(CLI_TIMEOUT);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "hello listener\n");
    assert!(
        end.is_ok() && rest.is_empty(),
        "the tool closed gracefully: {end:?}"
    );
}

#[test]
fn listen_once_accepts_one_connection_and_pipes_it() {
    with_timeout(LIMIT, || listen_once(false, false));
}

#[test]
fn listen_once_accepts_one_connection_and_pipes_it_under_wine() {
    with_timeout(LIMIT, || listen_once(true, false));
}

#[test]
fn listen_with_an_empty_input_receives_until_the_peers_fin() {
    with_timeout(LIMIT, || listen_once(false, true));
}

#[test]
fn listen_fails_in_one_line_on_an_address_in_use() {
    with_timeout(LIMIT, || {
        let taken = Listener::v4();
        let run = cli::run(&["listen", &taken.addr().to_string(), "--once"], CLI_TIMEOUT);
        one_line_error(&run, "STATUS_ADDRESS_ALREADY_EXISTS");
        let run = cli::run(
            &["listen", "127.0.0.1:0", "--once", "--timeout", "150"],
            CLI_TIMEOUT,
        );
        assert!(!run.status.success(), "{run:?}");
        let lines = run.stderr_lines();
        assert!(lines[0].starts_with("listening on "), "{run:?}");
        assert_eq!(lines[1..], ["wsksock: no connection within 150 ms"], "{run:?}");
    });
}

// ---- recv ----------------------------------------------------------------------------------

/// A peer that sends `data`, stays silent for `silence`, then closes (FIN, or RST with `reset`).
fn sending_peer(data: Vec<u8>, silence: Duration, reset: bool) -> (String, std::thread::JoinHandle<()>) {
    let peer = Listener::v4();
    let addr = peer.addr().to_string();
    let t = std::thread::spawn(move || {
        let mut conn = peer.accept(SHORT);
        conn.write_all(&data);
        std::thread::sleep(silence);
        if reset {
            socket2::SockRef::from(conn.stream())
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(conn);
    });
    (addr, t)
}

fn recv_json(wine: bool, extra: &[&str], data: Vec<u8>, silence: Duration, reset: bool) -> (Run, Value) {
    let (addr, peer) = sending_peer(data, silence, reset);
    let mut a = vec!["recv", addr.as_str(), "--json"];
    a.extend_from_slice(extra);
    let run = cli::run(&args(wine, &a), CLI_TIMEOUT);
    peer.join().expect("peer");
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    (run, v)
}

fn recv_ends(wine: bool) {
    let (run, v) = recv_json(wine, &[], vec![7; 100_000], Duration::ZERO, false);
    assert!(run.status.success(), "{run:?}");
    assert!(
        run.stderr_lines().is_empty(),
        "no progress bar when stdout is not a terminal: {run:?}"
    );
    assert_eq!(
        (v["bytes"].as_u64(), v["end"].as_str()),
        (Some(100_000), Some("fin")),
        "{v}"
    );
    let (run, v) = recv_json(wine, &["--bytes", "1000"], vec![7; 5000], Duration::ZERO, false);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        (v["bytes"].as_u64(), v["end"].as_str()),
        (Some(1000), Some("bytes")),
        "{v}"
    );
    // A deadline of 200 ms per receive, a peer silent for 1.5 s after 10 bytes.
    let (run, v) = recv_json(
        wine,
        &["--timeout", "200"],
        vec![1; 10],
        Duration::from_millis(1500),
        false,
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(v["bytes"].as_u64(), Some(10), "{v}");
    assert_eq!(
        v["deadlines_expired"].as_u64(),
        Some(1),
        "the deadline passed: {v}"
    );
    if wine {
        // Wine ignores the cancel: the receive waits for the peer's FIN after 1.5 s.
        assert_eq!(v["end"].as_str(), Some("fin"), "{v}");
    } else {
        assert_eq!(v["end"].as_str(), Some("timeout"), "{v}");
        assert_eq!(v["status"].as_str(), Some("STATUS_IO_TIMEOUT"), "{v}");
        assert!(v["elapsed_ms"].as_u64().unwrap() < 1400, "{v}");
    }
    let (run, v) = recv_json(wine, &[], vec![1; 10], Duration::from_millis(100), true);
    assert_eq!(v["end"].as_str(), Some("reset"), "{v}");
    assert_eq!(run.status.code(), Some(1), "a reset is a failure: {run:?}");
    assert!(
        run.stderr_lines().len() == 1 && run.stderr.contains("STATUS_CONNECTION_RESET"),
        "{run:?}"
    );
}

#[test]
fn recv_reports_fin_bytes_timeout_and_reset() {
    with_timeout(LIMIT, || recv_ends(false));
}

#[test]
fn recv_reports_fin_bytes_timeout_and_reset_under_wine() {
    with_timeout(LIMIT, || recv_ends(true));
}

// ---- wait-close ----------------------------------------------------------------------------

fn wait_close(wine: bool) {
    let (addr, peer) = sending_peer(Vec::new(), Duration::from_millis(200), false);
    let run = cli::run(&args(wine, &["wait-close", &addr, "--json"]), CLI_TIMEOUT);
    peer.join().expect("peer");
    if wine {
        one_line_error(&run, "STATUS_NOT_SUPPORTED");
        return;
    }
    let v = run.json();
    assert_eq!(
        (v["event"].as_str(), v["status"].as_str()),
        (Some("fin"), Some("STATUS_SUCCESS")),
        "{v}"
    );
    let (addr, peer) = sending_peer(Vec::new(), Duration::from_millis(200), true);
    let v = cli::run(&["wait-close", &addr, "--json"], CLI_TIMEOUT).json();
    peer.join().expect("peer");
    assert_eq!(v["event"].as_str(), Some("reset"), "{v}");
}

#[test]
fn wait_close_reports_fin_and_reset() {
    with_timeout(LIMIT, || wait_close(false));
}

#[test]
fn wait_close_is_not_supported_under_wine() {
    with_timeout(LIMIT, || wait_close(true));
}

// ---- stats ---------------------------------------------------------------------------------

fn stats(wine: bool) {
    let v = cli::run(&args(wine, &["stats", "--json"]), CLI_TIMEOUT).json();
    for key in [
        "handles",
        "open_stream",
        "connected",
        "open_datagram",
        "open_listen",
        "teardowns",
        "ops_pending",
        "bytes_sent",
        "requests_failed",
        "deadlines_expired",
    ] {
        assert_eq!(v[key].as_u64(), Some(0), "a fresh engine: {key} in {v}");
    }
    let run = cli::run(&args(wine, &["stats"]), CLI_TIMEOUT);
    assert!(run.status.success() && run.stderr.is_empty(), "{run:?}");
    assert!(
        run.stdout.contains("tearing down") && run.stdout.contains("deadlines expired"),
        "{run:?}"
    );
    let run = cli::run(&args(wine, &["stats", "--bogus"]), CLI_TIMEOUT);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert_eq!(run.stderr_lines().len(), 1, "{run:?}");
}

#[test]
fn stats_prints_the_census_as_text_and_json() {
    with_timeout(LIMIT, || stats(false));
}

#[test]
fn stats_prints_the_census_as_text_and_json_under_wine() {
    with_timeout(LIMIT, || stats(true));
}

/// On a terminal (`script` gives the tool one), `recv` draws a progress bar; piped (the cases
/// above) it prints none.
#[test]
fn recv_shows_progress_when_stdout_is_a_terminal() {
    with_timeout(LIMIT, || {
        let has_script = std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_script {
            eprintln!("no `script` (util-linux): terminal check skipped");
            return;
        }
        let (addr, peer) = sending_peer(vec![3; 2_000_000], Duration::ZERO, false);
        let dir = std::env::temp_dir().join(format!("wsksock-tty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let typescript = dir.join("typescript");
        let command = format!("{} recv {addr} --bytes 2000000", cli::binary().display());
        let out = std::process::Command::new("script")
            .args(["-qfec", &command])
            .arg(&typescript)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        peer.join().expect("peer");
        let seen = std::fs::read_to_string(&typescript).unwrap_or_default();
        assert!(out.status.success(), "{out:?}\n{seen}");
        assert!(
            seen.contains("received ["),
            "no progress bar on the terminal: {seen:?}"
        );
        assert!(seen.contains("received 2000000 bytes"), "{seen:?}");
    });
}
