//! Peers on 127.0.0.1 that the suite runs on the Linux side and that observe the wire: each
//! accepts up to N connections, optionally sends a greeting (the pattern `byte[i] = i % 251`)
//! followed by its FIN, then reads until the other side's FIN or RST, checking the pattern.
//!
//! Bounded: every connection gives up at the peer's deadline, and [`Peer::finish`] stops
//! accepting, so a driver that hangs makes a report of `Timeout`, never a stuck suite.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a connection ended, as the peer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Orderly FIN.
    Fin,
    /// Connection reset.
    Reset,
    /// Nothing by the deadline.
    Timeout,
    /// Another error.
    Error(String),
}

/// What the peer saw on one connection.
#[derive(Clone, Debug)]
pub struct Conn {
    /// Bytes received.
    pub bytes: u64,
    /// Every byte received was the pattern.
    pub intact: bool,
    /// How it ended.
    pub end: End,
}

/// A listening peer.
pub struct Peer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Conn>>>,
}

fn pattern(offset: u64, len: usize) -> Vec<u8> {
    // The remainder is < 251.
    #[allow(clippy::cast_possible_truncation)]
    (0..len as u64).map(|i| ((offset + i) % 251) as u8).collect()
}

impl Peer {
    /// A peer for `conns` connections that sends `greeting` pattern bytes on each, giving up
    /// after `deadline`.
    pub fn start(conns: usize, greeting: usize, deadline: Duration) -> Result<Peer, String> {
        Peer::start_with(conns, greeting, Duration::ZERO, deadline)
    }

    /// Like [`Peer::start`], but each connection reads nothing for `stall` first (its receive
    /// window fills, so the other side's sends stay queued).
    pub fn start_with(
        conns: usize,
        greeting: usize,
        stall: Duration,
        deadline: Duration,
    ) -> Result<Peer, String> {
        Peer::start_full(conns, greeting, Duration::ZERO, stall, deadline)
    }

    /// Like [`Peer::start`], but each connection waits `silence` after its greeting before its
    /// FIN (a peer that goes quiet, for deadlines).
    pub fn start_quiet(
        conns: usize,
        greeting: usize,
        silence: Duration,
        deadline: Duration,
    ) -> Result<Peer, String> {
        Peer::start_full(conns, greeting, silence, Duration::ZERO, deadline)
    }

    fn start_full(
        conns: usize,
        greeting: usize,
        silence: Duration,
        stall: Duration,
        deadline: Duration,
    ) -> Result<Peer, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("peer bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, st) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + deadline;
            let mut handlers = Vec::new();
            let mut errors = Vec::new();
            while handlers.len() < conns {
                // Connections already queued are accepted even after a stop.
                let stopping = Instant::now() >= end || st.load(Ordering::Acquire);
                match listener.accept() {
                    Ok((s, _)) => {
                        acc.fetch_add(1, Ordering::AcqRel);
                        handlers.push(std::thread::spawn(move || {
                            serve(s, greeting, silence, stall, end)
                        }));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if stopping {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => {
                        errors.push(Conn {
                            bytes: 0,
                            intact: false,
                            end: End::Error(format!("accept: {e}")),
                        });
                        if stopping || errors.len() > 10 {
                            break;
                        }
                    }
                }
            }
            let mut seen: Vec<Conn> = handlers
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or(Conn {
                        bytes: 0,
                        intact: false,
                        end: End::Error("peer thread panicked".into()),
                    })
                })
                .collect();
            seen.extend(errors);
            seen
        });
        Ok(Peer {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }

    /// Waits until `n` connections were accepted (false at the timeout).
    pub fn wait_accepted(&self, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while self.accepted() < n {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Stops accepting and waits for every connection's end (each bounded by the deadline).
    pub fn finish(mut self) -> Vec<Conn> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn serve(mut s: TcpStream, greeting: usize, silence: Duration, stall: Duration, end: Instant) -> Conn {
    let mut c = Conn {
        bytes: 0,
        intact: true,
        end: End::Timeout,
    };
    let _ = s.set_nonblocking(false);
    if greeting > 0 {
        if let Err(e) = s.write_all(&pattern(0, greeting)) {
            c.end = End::Error(format!("greeting: {e}"));
            return c;
        }
        std::thread::sleep(silence.min(end.saturating_duration_since(Instant::now())));
        let _ = s.shutdown(Shutdown::Write);
    }
    std::thread::sleep(stall.min(end.saturating_duration_since(Instant::now())));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let now = Instant::now();
        if now >= end {
            return c;
        }
        let _ = s.set_read_timeout(Some((end - now).min(Duration::from_millis(200))));
        match s.read(&mut buf) {
            Ok(0) => {
                c.end = End::Fin;
                return c;
            }
            Ok(n) => {
                if c.intact && buf[..n] != pattern(c.bytes, n)[..] {
                    c.intact = false;
                }
                c.bytes += n as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                c.end = End::Reset;
                return c;
            }
            Err(e) => {
                c.end = End::Error(e.to_string());
                return c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_sees_data_then_fin_and_sends_its_greeting() {
        let p = Peer::start(1, 1000, Duration::from_secs(10)).expect("peer");
        let mut s = TcpStream::connect(p.addr()).expect("connect");
        let mut got = Vec::new();
        s.write_all(&pattern(0, 5000)).expect("write");
        s.shutdown(Shutdown::Write).expect("shutdown");
        s.read_to_end(&mut got).expect("read");
        assert_eq!(got, pattern(0, 1000));
        let r = p.finish();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].bytes, r[0].intact, r[0].end.clone()),
            (5000, true, End::Fin)
        );
    }

    #[test]
    fn a_peer_nobody_connects_to_finishes_at_once() {
        let p = Peer::start(3, 0, Duration::from_secs(30)).expect("peer");
        let t = Instant::now();
        assert!(p.finish().is_empty());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
