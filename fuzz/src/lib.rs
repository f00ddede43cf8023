//! The fuzz harness: one engine per process over the emulator (real loopback sockets, wrapped in
//! the contract checker), a reading loopback peer, and the checks run after every input:
//!
//! - every request the input issued completes (after its client is cleaned up) with a status the
//!   ABI names — never left pending, never a panic;
//! - once every client is gone the engine returns to no socket object alive;
//! - the checker saw no WSK contract violation and the engine no unknown completion.
//!
//! A failed check panics, which libFuzzer reports as a crash with the input that caused it.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wsksock_emu::{Checker, HostProvider, Verifier};
use wsksock_tools::channel::Pending;
use wsksock_tools::HostDevice;

pub mod sequence;

/// The engine under test.
pub type Device = HostDevice<Verifier<HostProvider>>;

/// What every input runs against.
pub struct Harness {
    /// The engine over the emulator.
    pub device: Device,
    /// The verifier's checker.
    pub checker: Arc<Checker>,
    /// The host provider's own checker.
    pub host_checker: Arc<Checker>,
    /// A loopback peer that accepts and reads everything.
    pub sink: SocketAddr,
    /// A loopback port that refuses connections (bound, never listening, held for the process).
    pub refused: SocketAddr,
}

/// The process-wide harness.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let host = HostProvider::new().expect("emulator");
        let host_checker = host.checker();
        let v = Verifier::new(host);
        let checker = v.checker();
        let config = wsksock_core::Config {
            max_pending_per_socket: 16,
            max_pending_per_client: 64,
            max_handles_per_client: 64,
            unload_linger_ms: 200,
            cleanup_linger_ms: 200,
        };
        Harness {
            device: HostDevice::with_provider(v, config).expect("an engine on the host"),
            checker,
            host_checker,
            sink: start_sink(),
            refused: reserve_refusing_port(),
        }
    })
}

fn reserve_refusing_port() -> SocketAddr {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let addr = s.local_addr().expect("addr").as_socket().expect("inet");
    // Bound, never listening, held for the process: connections are refused and nobody else
    // can take the port.
    std::mem::forget(s);
    addr
}

fn start_sink() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 16384];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The checks after an input whose clients are all gone (see the module docs).
pub fn settle(pendings: &[Pending]) {
    let h = harness();
    for p in pendings {
        let Some(c) = p.wait_timeout(Duration::from_secs(10)) else {
            panic!("a request never completed after its client's cleanup");
        };
        assert!(
            c.status.name().is_some(),
            "a request completed with a status the ABI does not name: {:?}",
            c.status
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.device.engine().stats().sockets_alive > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = h.device.engine().stats();
    assert_eq!(
        stats.sockets_alive, 0,
        "socket objects left after every client went away: {stats:?}"
    );
    assert_eq!(stats.contract_violations, 0, "{stats:?}");
    assert_eq!(h.checker.open_sockets(), 0, "provider sockets left open");
    assert_eq!(h.checker.pending_ops(), 0, "provider operations left pending");
    h.checker.assert_clean();
    h.host_checker.assert_clean();
}

/// Whether a RESOLVE input names something the host resolves without the network (a literal
/// or localhost): other names could block in getaddrinfo for seconds.
pub fn resolves_locally(input: &[u8]) -> bool {
    use wsksock_abi::msg::ResolveRequest;
    let Ok(r) = wsksock_abi::parse::decode::<ResolveRequest>(input) else {
        return true;
    };
    match wsksock_abi::parse::c_str(&r.node) {
        Ok(n) => n == "localhost" || n.parse::<std::net::IpAddr>().is_ok(),
        Err(_) => true,
    }
}
