//! Test support: a scripted provider whose completions the test releases in any order, a test
//! request type that records its completion, and builders for requests.
//!
//! The scripted provider is also a contract checker for the engine: it records as violations a
//! call on a socket after its close, a close while another call on that socket is in progress,
//! a cancel after close, and a completion delivered twice.
#![allow(dead_code, clippy::missing_panics_doc, missing_docs)]

pub mod lock;
pub mod scripted;
pub mod treq;

pub use scripted::{CallKind, Scripted};
pub use treq::{Outcome, TReq};

use wsksock_abi::msg::*;
use wsksock_abi::{Handle, Op, SockAddr};
use wsksock_core::{Config, Engine};

pub type TEngine = Engine<Scripted, TReq>;
pub type TClient = wsksock_core::ClientRef<Scripted, TReq>;

pub fn engine() -> (TEngine, Scripted) {
    engine_with(Config::default())
}

pub fn engine_with(config: Config) -> (TEngine, Scripted) {
    let p = Scripted::new();
    (Engine::new(p.clone(), config).expect("memory for the engine"), p)
}

pub fn bytes<M: Message>(m: &M) -> Vec<u8> {
    zerocopy::IntoBytes::as_bytes(m).to_vec()
}

pub fn socket_req(family: u16, kind: SocketKind) -> TReq {
    let mut m = SocketRequest::new_zeroed_with_header();
    m.family = family;
    m.kind = kind as u16;
    TReq::new(Op::Socket, bytes(&m))
}

pub fn handle_req(op: Op, h: Handle) -> TReq {
    if op == Op::Accept {
        // ACCEPT's request grew a deadline in ABI version 2.
        let mut m = wsksock_abi::msg::AcceptRequest::new_zeroed_with_header();
        m.handle = h;
        return TReq::new(op, bytes(&m));
    }
    let mut m = HandleRequest::new_zeroed_with_header();
    m.handle = h;
    TReq::new(op, bytes(&m))
}

pub fn addr_req(op: Op, h: Handle, addr: &str) -> TReq {
    let mut m = AddressedRequest::new_zeroed_with_header();
    m.handle = h;
    m.addr = SockAddr::from(addr.parse::<std::net::SocketAddr>().unwrap());
    TReq::new(op, bytes(&m))
}

pub fn send_req(h: Handle, data: &[u8]) -> TReq {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    TReq::new(Op::Send, bytes(&m)).with_data(data.to_vec())
}

pub fn recv_req(h: Handle, len: usize) -> TReq {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    TReq::new(Op::Receive, bytes(&m)).with_data(vec![0; len])
}

/// A RECEIVE with a deadline.
pub fn recv_req_within(h: Handle, len: usize, timeout_ms: u32) -> TReq {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    m.timeout_ms = timeout_ms;
    TReq::new(Op::Receive, bytes(&m)).with_data(vec![0; len])
}

pub fn close_req(h: Handle, mode: CloseMode, linger_seconds: u32, wait: bool) -> TReq {
    let mut m = CloseRequest::new_zeroed_with_header();
    m.handle = h;
    m.mode = mode as u32;
    m.linger_seconds = linger_seconds;
    m.flags = if wait { CLOSE_FLAG_WAIT_FOR_TEARDOWN } else { 0 };
    TReq::new(Op::Close, bytes(&m))
}

pub fn dup_req(h: Handle, target_client: u64) -> TReq {
    let mut m = DuplicateRequest::new_zeroed_with_header();
    m.handle = h;
    m.target_client = target_client;
    TReq::new(Op::Duplicate, bytes(&m))
}

/// ALLOW_DUPLICATE: client `from` may add `count` handles to the caller's table.
pub fn allow_req(from: u64, count: u32) -> TReq {
    let mut m = wsksock_abi::msg::AllowDuplicateRequest::new_zeroed_with_header();
    m.from_client = from;
    m.count = count;
    TReq::new(Op::AllowDuplicate, bytes(&m))
}

pub fn linger_req(h: Handle, on: bool, secs: u32) -> TReq {
    let mut m = OptionRequest::new_zeroed_with_header();
    m.handle = h;
    m.option = SocketOption::Linger as u32;
    m.value = u32::from(on);
    m.value2 = secs;
    TReq::new(Op::SetOption, bytes(&m))
}

/// Dispatches a request and returns its outcome slot.
pub fn go(e: &TEngine, c: &TClient, r: TReq) -> treq::Slot {
    let slot = r.slot();
    e.dispatch(c, r);
    slot
}

/// A socket of `kind`, created (auto-completes) and bound.
fn bound(engine: &TEngine, provider: &Scripted, client: &TClient, kind: SocketKind) -> Handle {
    let handle = go(engine, client, socket_req(wsksock_abi::addr::AF_INET, kind)).handle();
    let bind = go(engine, client, addr_req(Op::Bind, handle, "127.0.0.1:0"));
    provider.complete_all(CallKind::Bind);
    bind.expect_ok();
    handle
}

/// A connected stream socket: create (auto-completes), bind, connect — all completed.
pub fn connected(engine: &TEngine, provider: &Scripted, client: &TClient) -> Handle {
    let handle = bound(engine, provider, client, SocketKind::Stream);
    let connect = go(engine, client, addr_req(Op::Connect, handle, "127.0.0.1:9"));
    provider.complete_all(CallKind::Connect);
    connect.expect_ok();
    handle
}

/// A listening socket: create (auto-completes), bind and listen — completed.
pub fn listening(engine: &TEngine, provider: &Scripted, client: &TClient) -> Handle {
    let handle = bound(engine, provider, client, SocketKind::Listen);
    let mut m = ListenRequest::new_zeroed_with_header();
    m.handle = handle;
    m.backlog = 4;
    let listen = go(engine, client, TReq::new(Op::Listen, bytes(&m)));
    provider.complete_all(CallKind::Listen);
    listen.expect_ok();
    handle
}

pub fn shutdown_req(h: Handle, how: ShutdownHow) -> TReq {
    let mut m = ShutdownRequest::new_zeroed_with_header();
    m.handle = h;
    m.how = how as u32;
    TReq::new(Op::Shutdown, bytes(&m))
}

/// Fixture: an engine, one client, and one socket of that client.
pub struct Fixture {
    pub engine: TEngine,
    pub provider: Scripted,
    pub client: TClient,
    pub handle: Handle,
    /// The provider's id of the socket.
    pub sock: u64,
}

impl Fixture {
    /// A connected stream socket (default configuration).
    pub fn connected() -> Fixture {
        Fixture::connected_with(Config::default())
    }

    /// A connected stream socket in an engine with `config`.
    pub fn connected_with(config: Config) -> Fixture {
        let (engine, provider) = engine_with(config);
        let client = engine.open_client().unwrap();
        let handle = connected(&engine, &provider, &client);
        Fixture::new(engine, provider, client, handle)
    }

    /// A listening socket.
    pub fn listening() -> Fixture {
        let (engine, provider) = engine();
        let client = engine.open_client().unwrap();
        let handle = listening(&engine, &provider, &client);
        Fixture::new(engine, provider, client, handle)
    }

    fn new(engine: TEngine, provider: Scripted, client: TClient, handle: Handle) -> Fixture {
        let sock = provider
            .calls()
            .iter()
            .rev()
            .find(|c| c.kind == CallKind::Bind)
            .unwrap()
            .sock;
        Fixture {
            engine,
            provider,
            client,
            handle,
            sock,
        }
    }

    /// Dispatches a request from the fixture's client.
    pub fn go(&self, r: TReq) -> treq::Slot {
        go(&self.engine, &self.client, r)
    }

    /// Another handle to the socket, in the same client.
    pub fn duplicate(&self) -> Handle {
        self.go(dup_req(self.handle, 0)).handle()
    }

    /// The disconnects issued on the socket (`true`: abortive), SHUTDOWN's included.
    pub fn disconnects(&self) -> Vec<bool> {
        self.provider
            .calls_on(self.sock)
            .into_iter()
            .filter_map(|k| match k {
                CallKind::Disconnect { abortive } => Some(abortive),
                _ => None,
            })
            .collect()
    }

    /// The teardown's deadline passes (linger, unload or cleanup): its timers fire, and the
    /// abortive disconnect that follows completes at once. Returns the timers fired.
    pub fn pass_deadline(&self) -> usize {
        self.provider
            .set_auto(CallKind::Disconnect { abortive: true }, true);
        self.provider.fire_timers()
    }

    /// How many times the socket was closed (`WskCloseSocket`).
    pub fn closes(&self) -> usize {
        self.provider
            .calls_on(self.sock)
            .into_iter()
            .filter(|k| *k == CallKind::Close)
            .count()
    }

    /// Whether the provider socket was freed.
    pub fn freed(&self) -> bool {
        self.provider.freed().contains(&self.sock)
    }

    /// [`unload_clean`] of the fixture's engine.
    pub fn unload_clean(&self) {
        unload_clean(&self.engine, &self.provider);
    }
}

/// The reply struct of a completed request.
pub fn reply_of<M: Message>(o: &Outcome) -> M {
    M::read_from_prefix(&o.reply).map(|(m, _)| m).expect("reply")
}

/// std's or loom's Arc and Mutex.
pub mod sync {
    #[cfg(loom)]
    pub use loom::sync::{Arc, Mutex};
    #[cfg(not(loom))]
    pub use std::sync::{Arc, Mutex};
}

/// Unloads the engine (completing whatever the teardowns still need) and checks it reports idle
/// exactly once with nothing left. Ends every test that must not leak (loom checks for leaks).
pub fn unload_clean(e: &TEngine, p: &Scripted) {
    let idle = sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let i2 = idle.clone();
    e.unload(Box::new(move || {
        i2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    for _ in 0..100 {
        let pending = p.pending();
        let fired = p.fire_timers();
        if pending.is_empty() && fired == 0 {
            break;
        }
        for (id, _, kind) in pending {
            if kind == CallKind::Close {
                p.complete_close(id);
            } else {
                p.complete(id, wsksock_abi::NtStatus::STATUS_SUCCESS, usize::MAX);
            }
        }
    }
    assert_eq!(
        idle.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "unload reports idle once"
    );
    assert_eq!(e.stats().sockets_alive, 0);
    p.assert_clean();
}
