//! What the engine benchmarks share: the instant provider, the request type, the baseline, the
//! counting allocator's hooks, and fixtures that open sockets through the real dispatch path.

pub mod alloc;
pub mod baseline;
pub mod provider;
pub mod request;

use baseline::Baseline;
use provider::Instant;
use request::{slot, BReq};
use wsksock_abi::msg::HandleReply;
use wsksock_abi::{Handle, NtStatus};
use wsksock_core::{ClientRef, Config, Engine};
use zerocopy::FromBytes;

/// The engine under test.
pub type E = Engine<Instant, BReq>;
/// One of its clients.
pub type C = ClientRef<Instant, BReq>;

/// The engine's configuration in the benchmarks: the defaults, with the per-socket and per-client
/// pending limits raised so one socket can hold 10,000 receives (the close benchmark).
pub fn config() -> Config {
    Config {
        max_pending_per_socket: 1 << 20,
        max_pending_per_client: 1 << 20,
        ..Config::default()
    }
}

/// A fresh engine over a fresh instant provider.
pub fn engine() -> E {
    Engine::new(Instant::new(), config()).expect("memory for the engine")
}

/// Dispatches a setup request and returns how it completed (it must complete inline).
pub fn call(e: &E, c: &C, req: BReq) -> (NtStatus, Vec<u8>) {
    let s = slot();
    e.dispatch(c, req.with_reply(&s));
    let r = s.lock().take();
    r.expect("the instant provider completes setup requests inline")
}

fn handle_of(status: NtStatus, reply: &[u8]) -> Handle {
    assert_eq!(status, NtStatus::STATUS_SUCCESS, "SOCKET failed");
    HandleReply::read_from_prefix(reply)
        .expect("HandleReply")
        .0
        .handle
}

/// Opens a stream socket through SOCKET.
pub fn open(e: &E, c: &C, socket_input: &'static [u8]) -> Handle {
    let (st, reply) = call(e, c, BReq::socket(socket_input));
    handle_of(st, &reply)
}

/// Opens a stream socket on the baseline.
pub fn open_baseline(b: Baseline, socket_input: &'static [u8]) -> Handle {
    let s = slot();
    b.dispatch(BReq::socket(socket_input).with_reply(&s));
    let (st, reply) = s.lock().take().expect("completes inline");
    handle_of(st, &reply)
}

/// Asserts that no hot-path request failed so far.
pub fn assert_no_failures(what: &str) {
    let n = request::FAILURES.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(n, 0, "{what}: {n} request(s) failed");
}

/// A tiny deterministic generator (xorshift64*), for handle orders.
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// Next value below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(x % n as u64).unwrap_or(0)
    }
}
