//! Loopback peers that observe the wire: how many bytes arrived, whether they are the pattern,
//! and how the connection ended (FIN or RST). Used by `wsksock demo` and the end-to-end tests.
//!
//! Each peer runs on its own thread, accepts one connection, and is bounded in time: a peer
//! that sees nothing within its deadline reports [`End::Timeout`] instead of hanging.

use crate::pattern;
use serde::Serialize;
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the connection ended, as the peer saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum End {
    /// An orderly FIN (read returned 0).
    Fin,
    /// A reset (ECONNRESET).
    Reset,
    /// No end within the deadline.
    Timeout,
    /// Another error.
    Error(String),
}

/// What the peer observed.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Bytes received.
    pub bytes: u64,
    /// Offset of the first byte that was not the pattern, if any.
    pub first_mismatch: Option<u64>,
    /// How it ended.
    pub end: End,
}

impl Report {
    /// All bytes were the pattern.
    pub fn intact(&self) -> bool {
        self.first_mismatch.is_none()
    }
}

/// How the peer reads.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Reads everything until the end.
    Read,
    /// Reads `first` bytes, stops reading for `pause`, then reads on to the end.
    Stall {
        /// Bytes read before the pause.
        first: u64,
        /// The pause.
        pause: Duration,
    },
}

/// A peer listening on loopback.
pub struct Peer {
    addr: SocketAddr,
    thread: JoinHandle<Report>,
    accepted: mpsc::Receiver<()>,
}

fn small_listener(bind: SocketAddr, rcvbuf: Option<usize>) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    if let Some(n) = rcvbuf {
        // Inherited by the accepted socket: a stalled peer's window fills quickly.
        s.set_recv_buffer_size(n)?;
    }
    s.bind(&bind.into())?;
    s.listen(8)?;
    Ok(s.into())
}

impl Peer {
    /// A peer on `bind` (port 0: any) with `behaviour`, giving up after `deadline`.
    pub fn start(bind: SocketAddr, behaviour: Behaviour, deadline: Duration) -> std::io::Result<Peer> {
        let rcvbuf = matches!(behaviour, Behaviour::Stall { .. }).then_some(16 * 1024);
        let listener = small_listener(bind, rcvbuf)?;
        let addr = listener.local_addr()?;
        let (tx, accepted) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("wsksock-peer".into())
            .spawn(move || run(&listener, behaviour, deadline, &tx))?;
        Ok(Peer {
            addr,
            thread,
            accepted,
        })
    }

    /// A reading peer on 127.0.0.1.
    pub fn reader() -> std::io::Result<Peer> {
        Peer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Behaviour::Read,
            Duration::from_mins(1),
        )
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the peer accepted its connection.
    pub fn wait_accepted(&self, timeout: Duration) -> bool {
        self.accepted.recv_timeout(timeout).is_ok()
    }

    /// Waits for the peer's report.
    pub fn report(self) -> Report {
        self.thread.join().unwrap_or(Report {
            bytes: 0,
            first_mismatch: None,
            end: End::Error("peer panicked".into()),
        })
    }
}

fn run(
    listener: &TcpListener,
    behaviour: Behaviour,
    deadline: Duration,
    accepted: &mpsc::Sender<()>,
) -> Report {
    let start = Instant::now();
    let mut report = Report {
        bytes: 0,
        first_mismatch: None,
        end: End::Timeout,
    };
    if listener.set_nonblocking(true).is_err() {
        report.end = End::Error("set_nonblocking".into());
        return report;
    }
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if start.elapsed() > deadline {
                    return report;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => {
                report.end = End::Error(e.to_string());
                return report;
            }
        }
    };
    let _ = accepted.send(());
    read_to_end(stream, behaviour, start + deadline, &mut report);
    report
}

fn read_to_end(mut s: TcpStream, behaviour: Behaviour, deadline: Instant, report: &mut Report) {
    let _ = s.set_nonblocking(false);
    let mut buf = vec![0u8; 256 * 1024];
    let mut paused = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            report.end = End::Timeout;
            return;
        }
        if let Behaviour::Stall { first, pause } = behaviour {
            if !paused && report.bytes >= first {
                paused = true;
                std::thread::sleep(pause);
            }
        }
        let _ = s.set_read_timeout(Some((deadline - now).min(Duration::from_millis(500))));
        let want = match behaviour {
            Behaviour::Stall { first, .. } if !paused => usize::try_from(first - report.bytes)
                .unwrap_or(buf.len())
                .clamp(1, buf.len()),
            _ => buf.len(),
        };
        match s.read(&mut buf[..want]) {
            Ok(0) => {
                report.end = End::Fin;
                return;
            }
            Ok(n) => {
                if report.first_mismatch.is_none() {
                    report.first_mismatch = pattern::first_mismatch(report.bytes, &buf[..n]);
                }
                report.bytes += n as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                report.end = End::Reset;
                return;
            }
            Err(e) => {
                report.end = End::Error(e.to_string());
                return;
            }
        }
    }
}
