//! `wsksock`: the command-line client of the wsksock driver.
//!
//! `--backend host` (the default off Windows) runs the real engine in-process over the WSK
//! emulator on this machine's TCP/IP stack; `--backend device` talks to `\\.\WskSock`.

mod backend;
mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Command-line client of the wsksock driver.
#[derive(Parser)]
#[command(name = "wsksock", version, about)]
struct Cli {
    /// Where the driver runs: `host` (engine in-process over the emulator) or `device` (Windows).
    #[arg(long, global = true, value_enum, default_value_t = backend::Kind::default())]
    backend: backend::Kind,
    /// Host backend: which WSK the emulator imitates.
    #[arg(long, global = true, value_enum, default_value_t = backend::ProfileArg::Windows)]
    profile: backend::ProfileArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Shows, against its own loopback peers, what graceful, linger and abortive closes and a
    /// cross-thread close do on the wire.
    Demo,
    /// Connects, posts sends of N pattern bytes, closes without waiting for them, waits for the
    /// teardown, and reports.
    Send(cmd::send::Args),
    /// Connects, leaves a receive pending on one thread, closes from another, then uses the
    /// closed handle.
    CloseRace(cmd::race::Args),
    /// End-to-end scenarios with JSON output (recv, handles, many, hold, malformed), for the
    /// suites that run this CLI against the real driver.
    #[command(hide = true)]
    Check(cmd::check::Args),
    /// Bulk transfer and connect/send/close cycles through the driver vs a plain TcpStream on
    /// loopback, in the same run (table or --json).
    Bench(cmd::bench::Args),
    /// Like `nc`: connects, pipes standard input to the socket and the socket to standard
    /// output; at the end of input closes with the mode given.
    Connect(cmd::connect::Args),
    /// Like `nc -l`: listens, accepts, and pipes as `connect` does (`--once`: one connection).
    Listen(cmd::listen::Args),
    /// Connects and receives until FIN, N bytes or a receive's deadline; reports how it ended.
    Recv(cmd::recv::Args),
    /// Connects and waits for the peer's FIN or RST without receiving (WAIT_PEER_CLOSE).
    WaitClose(cmd::wait_close::Args),
    /// The driver's statistics: sockets by kind and state, operations, teardowns, bytes.
    Stats(cmd::stats::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // One line, as for every other failure: clap's first line names the bad argument.
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let result = backend::Session::open(cli.backend, cli.profile).and_then(|session| {
        let r = match &cli.command {
            Command::Demo => cmd::demo::run(&session),
            Command::Send(a) => cmd::send::run(&session, a),
            Command::CloseRace(a) => cmd::race::run(&session, a),
            Command::Check(a) => cmd::check::run(&session, a),
            Command::Bench(a) => cmd::bench::run(&session, a),
            Command::Connect(a) => cmd::connect::run(&session, a),
            Command::Listen(a) => cmd::listen::run(&session, a),
            Command::Recv(a) => cmd::recv::run(&session, a),
            Command::WaitClose(a) => cmd::wait_close::run(&session, a),
            Command::Stats(a) => cmd::stats::run(&session, a),
        };
        let closed = session.close();
        r.and(closed)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsksock: {e}");
            ExitCode::FAILURE
        }
    }
}
