//! Loopback peers on real host sockets that observe the wire, driven step by step by the test.
//!
//! A [`Listener`] accepts the engine's connection as a [`Conn`]; the test decides when the peer
//! reads (a peer that "stops reading" simply has not started yet), what it writes, and checks how
//! the connection ended: [`End::Fin`] (read returned 0) or [`End::Reset`] (ECONNRESET). Every
//! wait has a deadline, so a missing FIN is a failed assertion, not a hang.

use crate::fastpattern as pattern;
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wsksock_tools::peer::{End, Report};

/// Receive buffer of a peer that is meant to stop reading: its window closes quickly.
pub const SMALL_RCVBUF: usize = 16 * 1024;

/// 127.0.0.1, any port.
pub fn v4_any() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// `[::1]`, any port.
pub fn v6_any() -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, 0))
}

/// A listening peer.
pub struct Listener {
    inner: TcpListener,
}

impl Listener {
    /// Listens on `bind` (port 0) with the host's default buffers.
    pub fn on(bind: SocketAddr) -> Listener {
        Listener::with_rcvbuf(bind, None)
    }

    /// Listens on 127.0.0.1.
    pub fn v4() -> Listener {
        Listener::on(v4_any())
    }

    /// Listens on 127.0.0.1 with a small receive buffer (inherited by the accepted socket), for
    /// a peer that stops reading.
    pub fn v4_small() -> Listener {
        Listener::with_rcvbuf(v4_any(), Some(SMALL_RCVBUF))
    }

    /// Listens on `bind`, optionally with a receive buffer size.
    pub fn with_rcvbuf(bind: SocketAddr, rcvbuf: Option<usize>) -> Listener {
        let s = Socket::new(Domain::for_address(bind), Type::STREAM, None).expect("peer socket");
        if let Some(n) = rcvbuf {
            s.set_recv_buffer_size(n).expect("SO_RCVBUF");
        }
        s.bind(&bind.into()).expect("peer bind");
        s.listen(16).expect("peer listen");
        let inner: TcpListener = s.into();
        inner.set_nonblocking(true).expect("nonblocking listener");
        Listener { inner }
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.inner.local_addr().expect("peer address")
    }

    /// Accepts one connection within `timeout`.
    #[track_caller]
    pub fn accept(&self, timeout: Duration) -> Conn {
        let deadline = Instant::now() + timeout;
        loop {
            match self.inner.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).expect("blocking stream");
                    return Conn { stream: s };
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "peer: no connection within {timeout:?}"
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("peer accept: {e}"),
            }
        }
    }
}

/// One accepted (or connected) peer connection.
pub struct Conn {
    stream: TcpStream,
}

/// What a single bounded read saw.
#[derive(Debug)]
pub enum Read1 {
    /// Some bytes.
    Data(Vec<u8>),
    /// The peer's side ended.
    End(End),
    /// Nothing within the time given.
    Nothing,
}

impl Conn {
    /// Wraps a stream (e.g. a `TcpStream::connect` client of an engine listener).
    pub fn from_stream(stream: TcpStream) -> Conn {
        Conn { stream }
    }

    /// The stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// One read, waiting at most `timeout`.
    pub fn read_once(&mut self, max: usize, timeout: Duration) -> Read1 {
        let mut buf = vec![0; max];
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("read timeout");
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Read1::End(End::Fin),
                Ok(n) => {
                    buf.truncate(n);
                    return Read1::Data(buf);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Read1::Nothing;
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Read1::End(End::Reset),
                Err(e) => return Read1::End(End::Error(e.to_string())),
            }
        }
    }

    /// Asserts the peer sees nothing at all (no data, no FIN, no RST) for `period`.
    #[track_caller]
    pub fn assert_silent(&mut self, period: Duration) {
        match self.read_once(64 * 1024, period) {
            Read1::Nothing => {}
            other => panic!("peer expected silence for {period:?}, saw {other:?}"),
        }
    }

    /// Reads exactly `n` bytes within `timeout`.
    #[track_caller]
    pub fn read_exact(&mut self, n: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "peer: {} of {n} bytes within {timeout:?}",
                got.len()
            );
            match self.read_once(n - got.len(), left) {
                Read1::Data(d) => got.extend_from_slice(&d),
                Read1::Nothing => {}
                Read1::End(e) => panic!("peer: connection ended ({e:?}) after {} of {n} bytes", got.len()),
            }
        }
        got
    }

    /// Writes all of `data`.
    #[track_caller]
    pub fn write_all(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("peer write");
    }

    /// Reads everything until the connection ends (or `timeout`), checking that the bytes are
    /// the pattern from stream offset 0; reports bytes, first mismatch and the end seen.
    pub fn drain(&mut self, timeout: Duration) -> Report {
        let deadline = Instant::now() + timeout;
        let mut report = Report {
            bytes: 0,
            first_mismatch: None,
            end: End::Timeout,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return report;
            }
            match self.read_once(256 * 1024, left) {
                Read1::Data(d) => {
                    if report.first_mismatch.is_none() {
                        report.first_mismatch = pattern::first_mismatch(report.bytes, &d);
                    }
                    report.bytes += d.len() as u64;
                }
                Read1::Nothing => {}
                Read1::End(e) => {
                    report.end = e;
                    return report;
                }
            }
        }
    }

    /// Drains on another thread (for a close that waits for the peer to read).
    pub fn drain_in_background(mut self, timeout: Duration) -> std::thread::JoinHandle<Report> {
        std::thread::spawn(move || self.drain(timeout))
    }

    /// After the engine's FIN was read: whether a RST follows within `period` (the socket
    /// records it as an error — EPIPE once the FIN was received, ECONNRESET before — without the
    /// peer having to send anything that could provoke one itself).
    pub fn reset_after_fin(&self, period: Duration) -> bool {
        let deadline = Instant::now() + period;
        loop {
            if let Ok(Some(e)) = self.stream.take_error() {
                return matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset);
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Half-closes the peer's sending side (FIN towards the engine).
    pub fn shutdown_write(&self) {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("peer shutdown");
    }
}

/// Asserts a peer report: `bytes` bytes of the pattern, intact, then `end`.
#[track_caller]
pub fn assert_report(r: &Report, bytes: u64, end: &End) {
    assert_eq!(r.first_mismatch, None, "peer saw corrupt data: {r:?}");
    assert_eq!(r.bytes, bytes, "peer byte count: {r:?}");
    assert_eq!(&r.end, end, "how the connection ended for the peer: {r:?}");
}

/// A port on 127.0.0.1 / `[::1]` that was free a moment ago (for Wine, where an engine socket
/// cannot tell its own bound address: GET_ADDRESS is not implemented there).
pub fn free_port(ip: std::net::IpAddr) -> u16 {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).expect("probe bind");
    l.local_addr().expect("probe address").port()
}
