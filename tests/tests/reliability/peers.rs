//! Real loopback peers for many connections at once: a [`Sink`] accepts any number of
//! connections (and can also connect out, to the engine's listening sockets), sends each a short
//! greeting of pattern bytes, then reads until the connection ends and reports what it saw.
//!
//! A stress stream starts with an 8-byte tag ([`super::probe::MAGIC`] + connection number); the
//! bytes after it must be the pattern from offset 0. A connection the engine never ends shows up
//! as [`End::Timeout`] once [`Sink::finish`] gives up on it — a leak on the wire.
//!
//! A sink made with `stalled` set does not read until [`Sink::release`]: its small receive
//! window fills, so graceful disconnects towards it stay pending (a stalled peer).

use super::probe::MAGIC;
use parking_lot::Mutex;
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsksock_tools::pattern;

/// How a connection ended, as the peer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Orderly FIN.
    Fin,
    /// ECONNRESET.
    Reset,
    /// Still open when the sink gave up.
    Timeout,
    /// Could not connect (outgoing connections only).
    NoConnection,
    /// Another error.
    Error(String),
}

/// What one connection delivered.
#[derive(Clone, Debug)]
pub struct PeerReport {
    /// The stream's tag, if its first 8 bytes were one.
    pub tag: Option<u32>,
    /// Pattern bytes after the tag.
    pub bytes: u64,
    /// First offset (after the tag) that was not the pattern.
    pub first_mismatch: Option<u64>,
    /// How it ended.
    pub end: End,
}

struct Inner {
    reports: Mutex<Vec<PeerReport>>,
    live: AtomicUsize,
    stop: AtomicBool,
    abandon: AtomicBool,
    stalled: AtomicBool,
    greeting: usize,
    tagged: bool,
    /// `finish` asks the acceptor to empty the accept queue (bumps `drain_asked`); the acceptor
    /// copies it to `drained` when accept() would block.
    drain_asked: AtomicUsize,
    drained: AtomicUsize,
}

/// A peer for many connections (tagged streams, see the module docs, unless made with
/// [`Sink::raw`] or [`Sink::stalled`]).
pub struct Sink {
    addr: SocketAddr,
    inner: Arc<Inner>,
    acceptor: Option<JoinHandle<()>>,
}

impl Sink {
    /// A reading sink on 127.0.0.1 that greets each connection with `greeting` pattern bytes.
    pub fn start(greeting: usize) -> Sink {
        Sink::with(greeting, false, true)
    }

    /// A sink for untagged streams (the pattern from the first byte), no greeting.
    pub fn raw() -> Sink {
        Sink::with(0, false, false)
    }

    /// A sink for untagged streams whose connections do not read until [`Sink::release`].
    pub fn stalled() -> Sink {
        Sink::with(0, true, false)
    }

    fn with(greeting: usize, stalled: bool, tagged: bool) -> Sink {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.set_reuse_address(true).expect("reuse");
        if stalled {
            // Inherited by accepted sockets: the window fills quickly.
            s.set_recv_buffer_size(4096).expect("rcvbuf");
        }
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        s.listen(1024).expect("listen");
        let listener: TcpListener = s.into();
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let inner = Arc::new(Inner {
            reports: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            abandon: AtomicBool::new(false),
            stalled: AtomicBool::new(stalled),
            greeting,
            tagged,
            drain_asked: AtomicUsize::new(0),
            drained: AtomicUsize::new(0),
        });
        let i2 = Arc::clone(&inner);
        let acceptor = std::thread::Builder::new()
            .name("sink-accept".into())
            .spawn(move || accept_loop(&listener, &i2))
            .expect("spawn");
        Sink {
            addr,
            inner,
            acceptor: Some(acceptor),
        }
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects out to `addr` (an engine listening socket) and serves that connection.
    pub fn connect_to(&self, addr: SocketAddr) {
        self.inner.live.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("sink-out".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let report = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                    Ok(s) => serve(s, &inner),
                    Err(_) => PeerReport {
                        tag: None,
                        bytes: 0,
                        first_mismatch: None,
                        end: End::NoConnection,
                    },
                };
                inner.reports.lock().push(report);
                inner.live.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            self.inner.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Lets stalled connections read.
    pub fn release(&self) {
        self.inner.stalled.store(false, Ordering::SeqCst);
    }

    /// Connections not yet ended.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for every connection to end, then reports them all (those still
    /// open as [`End::Timeout`]).
    pub fn finish(mut self, timeout: Duration) -> Vec<PeerReport> {
        self.release();
        let deadline = Instant::now() + timeout;
        // Connections established but not yet accepted count too.
        let asked = self.inner.drain_asked.fetch_add(1, Ordering::SeqCst) + 1;
        while self.inner.drained.load(Ordering::SeqCst) < asked && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        while self.live() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.inner.abandon.store(true, Ordering::SeqCst);
        while self.live() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop();
        std::mem::take(&mut *self.inner.reports.lock())
    }

    fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.inner.abandon.store(true, Ordering::SeqCst);
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, inner: &Arc<Inner>) {
    while !inner.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                inner.live.fetch_add(1, Ordering::SeqCst);
                let i2 = Arc::clone(inner);
                let spawned = std::thread::Builder::new()
                    .name("sink-conn".into())
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        let r = serve(s, &i2);
                        i2.reports.lock().push(r);
                        i2.live.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    inner.live.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let asked = inner.drain_asked.load(Ordering::SeqCst);
                inner.drained.store(asked, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Greets, then reads to the end.
fn serve(mut s: TcpStream, inner: &Inner) -> PeerReport {
    let mut report = PeerReport {
        tag: None,
        bytes: 0,
        first_mismatch: None,
        end: End::Timeout,
    };
    let _ = s.set_nodelay(true);
    // A reset that arrives before the greeting is written fails the write and is then no longer
    // reported by reads (Linux hands the pending error to the first call): remember it.
    let mut reset_on_write = false;
    if inner.greeting > 0 {
        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
        if let Err(e) = s.write_all(&pattern::bytes(0, inner.greeting)) {
            reset_on_write = matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe);
        }
    }
    while inner.stalled.load(Ordering::SeqCst) {
        if inner.abandon.load(Ordering::SeqCst) {
            return report;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    // Untagged streams: no head to read.
    let mut head = if inner.tagged {
        Vec::with_capacity(8)
    } else {
        vec![0; 8]
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if inner.abandon.load(Ordering::SeqCst) {
            report.end = End::Timeout;
            return report;
        }
        match s.read(&mut buf) {
            Ok(0) => {
                report.end = if reset_on_write { End::Reset } else { End::Fin };
                return report;
            }
            Ok(n) => {
                let mut data = &buf[..n];
                if head.len() < 8 {
                    let take = (8 - head.len()).min(data.len());
                    head.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if head.len() == 8 && head[..4] == MAGIC {
                        report.tag = Some(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
                    }
                }
                if !data.is_empty() && report.first_mismatch.is_none() {
                    report.first_mismatch = pattern::first_mismatch(report.bytes, data);
                }
                report.bytes += data.len() as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                report.end = End::Reset;
                return report;
            }
            Err(e) => {
                report.end = End::Error(e.to_string());
                return report;
            }
        }
    }
}

/// A loopback port that refuses connections for as long as this lives: bound, never listening,
/// so nothing else (an engine listener, an ephemeral port, a self-connect) can take it.
pub struct Refusing {
    _socket: Socket,
    addr: SocketAddr,
}

impl Refusing {
    /// Reserves a port on 127.0.0.1.
    pub fn new() -> Refusing {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        let addr = s.local_addr().expect("addr").as_socket().expect("inet");
        Refusing { _socket: s, addr }
    }

    /// The refusing address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
