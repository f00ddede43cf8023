//! [`HostProvider`]: the WSK provider on host sockets.
//!
//! # Design
//! One event-loop thread (`wsksock-emu-loop`) owns a `mio::Poll` over every host socket
//! (nonblocking, edge-triggered). Each socket has a mutex over its state and its queues of
//! pending operations (`sock.rs`, `flow.rs`). A call locks the socket, tries the host system call at once
//! when nothing is queued ahead of it (inline mode: a send writes straight from the caller's
//! buffer on the caller's thread), and queues the operation if the host socket would block; the
//! loop moves queues on readiness events. Finished operations are completed after the lock is
//! released, on whichever thread finished them (`shared::deliver`). In deferred mode every call
//! becomes a task for the loop, so nothing completes before its call returns. In concurrent mode
//! calls run as inline, but completions and timer callbacks go to a pool of delivery threads that
//! run them at once and in random order (`pool.rs`).
//!
//! Timers live in the loop (a heap); name resolution runs `getaddrinfo` on a thread per request.
//!
//! Every call goes through the built-in [`Checker`] first: a call it refuses (after close, after
//! teardown) completes at once with STATUS_INVALID_HANDLE (or STATUS_DEVICE_NOT_READY after
//! teardown) without touching the host socket.
//!
//! # Teardown
//! [`HostProvider::shutdown`] (or dropping the last clone) records whatever is still alive in
//! the checker, stops the loop, completes every pending operation with STATUS_CANCELLED and
//! closes every host socket. [`HostProvider::deregister`] is `WskDeregister`: it also records
//! every socket still open.

mod flow;
mod hostio;
mod outq;
mod pool;
mod resolve;
mod shared;
mod sock;
mod timer;

pub use timer::HostTimer;

use crate::buffer::EmuBuffer;
use crate::checker::{Call, Checker};
use crate::profile::{CompletionMode, Config, Profile};
use crate::status::from_io;
use hostio::Io;
use parking_lot::Mutex;
use resolve::ResolveSlot;
use shared::{deliver, inline_ok, Done, Shared};
use sock::{Cx, SockEntry, Start};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{
    AddrKind, Completion, Family, OpOutput, OpValue, Provider, SockOpt, SocketKind, SocketParams,
    TimerCallback,
};

/// One call the host provider logged ([`Config::record_calls`]): what a test of the engine's
/// side checks that it passed down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// `create_socket` (WskSocket) that made socket `socket`, with its parameters (the owner:
    /// `OwningProcess`).
    Create {
        /// The new socket's id.
        socket: u64,
        /// What it was created with.
        params: SocketParams,
    },
    /// `send` with its flags (`DATA_FLAG_*`).
    Send {
        /// The socket.
        socket: u64,
        /// The flags.
        flags: u32,
    },
    /// `receive` with its flags.
    Receive {
        /// The socket.
        socket: u64,
        /// The flags.
        flags: u32,
    },
}

/// A socket of the [`HostProvider`] (a `PWSK_SOCKET`). Cloning it names the same socket.
#[derive(Clone)]
pub struct HostSocket {
    entry: Arc<SockEntry>,
}

impl HostSocket {
    /// The socket's id (as the checker's messages name it: "socket #id").
    pub fn id(&self) -> u64 {
        self.entry.id
    }

    /// Its kind.
    pub fn kind(&self) -> SocketKind {
        self.entry.kind
    }

    /// Its family.
    pub fn family(&self) -> Family {
        self.entry.family
    }
}

impl core::fmt::Debug for HostSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "HostSocket(#{} {})",
            self.entry.id,
            SockEntry::label(self.entry.kind, self.entry.family)
        )
    }
}

#[derive(Clone)]
enum OpTarget {
    /// Nothing left to cancel.
    None,
    /// An operation queued in a socket.
    Socket(Weak<SockEntry>),
    /// A name resolution.
    Resolve(Weak<ResolveSlot>),
}

/// A pending operation of the [`HostProvider`] (an IRP). Stays valid after completion.
#[derive(Clone)]
pub struct HostOp {
    id: u64,
    /// The checker's id of the socket it was issued on (`None`: create, resolve).
    socket: Option<u64>,
    target: OpTarget,
}

impl HostOp {
    /// The operation's id (as the checker's messages name it: "operation #id").
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl core::fmt::Debug for HostOp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HostOp(#{})", self.id)
    }
}

/// Owns the event-loop thread; the last clone of the provider tears it down.
struct Handle {
    sh: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    fn shutdown(&self) {
        let sh = &self.sh;
        if sh.torn_down.swap(true, Ordering::AcqRel) {
            return;
        }
        sh.checker.teardown();
        sh.stop_loop();
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            // From a completion on the loop thread itself, the loop ends when we return.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        // Timer callbacks and completions the loop handed over run before the rest is
        // cancelled.
        sh.stop_pool();
        sh.cancel_everything();
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The WSK provider on host sockets, with WSK's or Wine's semantics ([`Profile`]).
///
/// Cloning is cheap and shares the provider; the last clone dropped tears it down.
#[derive(Clone)]
pub struct HostProvider {
    handle: Arc<Handle>,
}

impl HostProvider {
    /// A provider with Windows semantics and inline completions.
    pub fn new() -> io::Result<Self> {
        Self::with_config(Config::default())
    }

    /// A provider with the given profile and inline completions.
    pub fn with_profile(profile: Profile) -> io::Result<Self> {
        Self::with_config(Config::with_profile(profile))
    }

    /// A provider with the given settings; starts its event-loop thread.
    pub fn with_config(cfg: Config) -> io::Result<Self> {
        let checker = Arc::new(Checker::new("host"));
        let (sh, poll) = Shared::new(cfg, checker)?;
        let loop_sh = Arc::clone(&sh);
        let thread = std::thread::Builder::new()
            .name("wsksock-emu-loop".into())
            .spawn(move || loop_sh.run(poll))?;
        Ok(HostProvider {
            handle: Arc::new(Handle {
                sh,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    fn sh(&self) -> &Arc<Shared> {
        &self.handle.sh
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.sh().cfg.profile
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.sh().cfg
    }

    /// The built-in contract checker: `provider.checker().assert_clean()` in a test.
    pub fn checker(&self) -> Arc<Checker> {
        Arc::clone(&self.sh().checker)
    }

    /// The calls logged so far, oldest first (empty unless [`Config::record_calls`]).
    pub fn recorded(&self) -> Vec<Recorded> {
        self.sh().recorded.lock().clone()
    }

    fn record(&self, r: Recorded) {
        if self.sh().cfg.record_calls {
            self.sh().recorded.lock().push(r);
        }
    }

    /// Tears the provider down now (idempotent): records every operation still pending and
    /// every socket still open as violations, stops the event loop, completes what was pending
    /// with STATUS_CANCELLED and closes every host socket. Later calls are violations.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }

    /// `WskDeregister`: records a violation for every socket still open, then tears down.
    pub fn deregister(&self) {
        self.sh().checker.deregister();
        self.shutdown();
    }

    /// Tears down and panics if the checker recorded any violation (the end of a test).
    #[track_caller]
    pub fn shutdown_and_assert_clean(&self) {
        self.shutdown();
        self.sh().checker.assert_clean();
    }

    /// Emulates a reset from the peer on a connected stream socket: its pending sends, receives
    /// and disconnect complete with STATUS_CONNECTION_RESET, so do later data calls, and the real
    /// peer sees RST. Returns false if the socket is not a connected stream socket.
    pub fn inject_reset(&self, s: &HostSocket) -> bool {
        let sh = self.sh();
        let mut out = Vec::new();
        let ok = {
            let mut st = s.entry.state.lock();
            let connected = matches!(st.conn, sock::Conn::Connected) && st.fault.is_none() && !st.closed;
            if connected {
                let mut cx = Cx {
                    sh,
                    entry: &s.entry,
                    out: &mut out,
                };
                st.abort(&mut cx, NtStatus::STATUS_CONNECTION_RESET);
            }
            connected
        };
        deliver(sh, out);
        ok
    }

    fn inline(&self) -> bool {
        self.sh().cfg.completions != CompletionMode::Deferred && inline_ok()
    }

    /// Completes `op` now with `out`.
    fn complete_now(&self, op: u64, done: Completion<Self>, out: OpOutput<Self>) {
        deliver(self.sh(), vec![Done::new(op, done, out)]);
    }

    /// Status for a call the checker refused.
    fn refused(&self) -> NtStatus {
        if self.sh().torn_down.load(Ordering::Acquire) {
            NtStatus::STATUS_DEVICE_NOT_READY
        } else {
            NtStatus::STATUS_INVALID_HANDLE
        }
    }

    /// Every call on a socket.
    fn sock_call(&self, s: &HostSocket, start: Start, done: Completion<Self>) -> Option<HostOp> {
        let sh = self.sh();
        let call = start.call();
        let (guard, ok) = if call == Call::Close {
            sh.checker.enter_close(s.id())
        } else {
            sh.checker.enter(s.id(), call)
        };
        let op = sh.checker.op_started(Some(s.id()), call);
        let wine = sh.cfg.profile == Profile::Wine8;
        let sync_fail = if !ok {
            Some(self.refused())
        } else if !start.allowed_on(s.kind()) {
            sh.checker.wrong_kind(s.id(), call);
            Some(NtStatus::STATUS_NOT_SUPPORTED)
        } else if wine
            && matches!(
                call,
                Call::Disconnect | Call::SetOption | Call::GetOption | Call::GetAddress
            )
        {
            // Wine's stubs: STATUS_NOT_IMPLEMENTED at once, IRP untouched (completed here so the
            // Completion contract holds).
            Some(NtStatus::STATUS_NOT_IMPLEMENTED)
        } else if wine && call == Call::WaitPeerClose {
            // Wine has no event callbacks (enabling WSK_EVENT_DISCONNECT through its
            // WskControlSocket stub fails): the driver's provider answers so.
            Some(NtStatus::STATUS_NOT_SUPPORTED)
        } else {
            None
        };
        if let Some(st) = sync_fail {
            self.complete_now(op, done, OpOutput::data(st, 0, start.into_buffer()));
            drop(guard);
            return None;
        }
        let entry = Arc::clone(&s.entry);
        if self.inline() {
            let mut out = Vec::new();
            let started = {
                let mut st = entry.state.lock();
                let mut cx = Cx {
                    sh,
                    entry: &entry,
                    out: &mut out,
                };
                st.start(&mut cx, op, start, done)
            };
            deliver(sh, out);
            drop(guard);
            return started.pending.then(|| HostOp {
                id: op,
                socket: Some(s.id()),
                target: OpTarget::Socket(Arc::downgrade(&entry)),
            });
        }
        let target = OpTarget::Socket(Arc::downgrade(&entry));
        sh.push_task(Box::new(move |sh| {
            let mut out = Vec::new();
            {
                let mut st = entry.state.lock();
                let mut cx = Cx {
                    sh,
                    entry: &entry,
                    out: &mut out,
                };
                st.start(&mut cx, op, start, done);
            }
            deliver(sh, out);
        }));
        drop(guard);
        Some(HostOp {
            id: op,
            socket: Some(s.id()),
            target,
        })
    }

    /// Makes a host socket for `params`.
    fn make_socket(sh: &Arc<Shared>, params: SocketParams) -> io::Result<HostSocket> {
        let domain = match params.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let (ty, proto) = match params.kind {
            SocketKind::Stream | SocketKind::Listen => (Type::STREAM, Protocol::TCP),
            SocketKind::Datagram => (Type::DGRAM, Protocol::UDP),
        };
        let sock = Socket::new(domain, ty, Some(proto))?;
        sock.set_nonblocking(true)?;
        if params.family == Family::V6 {
            // Windows' default, unlike Linux's.
            sock.set_only_v6(true)?;
        }
        if params.kind == SocketKind::Listen {
            // Windows binds over TIME_WAIT by default; Linux needs SO_REUSEADDR for it.
            sock.set_reuse_address(true)?;
        }
        let io = match params.kind {
            SocketKind::Stream => Io::Stream(TcpStream::from(sock)),
            SocketKind::Listen => Io::Listener(TcpListener::from(sock)),
            SocketKind::Datagram => Io::Dgram(UdpSocket::from(sock)),
        };
        sh.adopt(params.kind, params.family, io, false)
    }
}

impl core::fmt::Debug for HostProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostProvider")
            .field("config", self.config())
            .finish_non_exhaustive()
    }
}

impl Provider for HostProvider {
    type Socket = HostSocket;
    type Buffer = EmuBuffer;
    type OpRef = HostOp;
    type TimerRef = HostTimer;
    type RawLock = parking_lot::RawMutex;

    fn new_raw_lock(&self) -> Self::RawLock {
        <parking_lot::RawMutex as lock_api::RawMutex>::INIT
    }

    fn create_socket(&self, params: SocketParams, done: Completion<Self>) -> Option<HostOp> {
        let sh = self.sh();
        let ok = sh.checker.enter_global(Call::CreateSocket);
        let op = sh.checker.op_started(None, Call::CreateSocket);
        if !ok {
            self.complete_now(op, done, OpOutput::status(self.refused()));
            return None;
        }
        if sh.cfg.profile == Profile::Wine8 && params.kind == SocketKind::Datagram {
            // Wine's WskSocket knows only WSK_FLAG_LISTEN_SOCKET and WSK_FLAG_CONNECTION_SOCKET.
            self.complete_now(op, done, OpOutput::status(NtStatus::STATUS_NOT_IMPLEMENTED));
            return None;
        }
        let profile = sh.cfg.profile;
        let record = sh.cfg.record_calls;
        let work = move |sh: &Arc<Shared>| {
            let out = match Self::make_socket(sh, params) {
                Ok(s) => {
                    if record {
                        sh.recorded.lock().push(Recorded::Create {
                            socket: s.id(),
                            params,
                        });
                    }
                    OpOutput::value(OpValue::Socket(s))
                }
                Err(e) => OpOutput::status(from_io(profile, &e)),
            };
            deliver(sh, vec![Done::new(op, done, out)]);
        };
        if self.inline() {
            work(sh);
            None
        } else {
            sh.push_task(Box::new(work));
            Some(HostOp {
                id: op,
                socket: None,
                target: OpTarget::None,
            })
        }
    }

    fn bind(&self, s: &HostSocket, local: SocketAddr, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::Bind(local), done)
    }

    fn listen(&self, s: &HostSocket, backlog: u32, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::Listen(backlog), done)
    }

    fn accept(&self, s: &HostSocket, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::Accept, done)
    }

    fn connect(&self, s: &HostSocket, remote: SocketAddr, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::Connect(remote), done)
    }

    fn send(&self, s: &HostSocket, buf: EmuBuffer, flags: u32, done: Completion<Self>) -> Option<HostOp> {
        self.record(Recorded::Send {
            socket: s.id(),
            flags,
        });
        self.sock_call(s, Start::Send(buf, flags), done)
    }

    fn receive(&self, s: &HostSocket, buf: EmuBuffer, flags: u32, done: Completion<Self>) -> Option<HostOp> {
        self.record(Recorded::Receive {
            socket: s.id(),
            flags,
        });
        self.sock_call(s, Start::Receive(buf, flags), done)
    }

    fn send_to(
        &self,
        s: &HostSocket,
        buf: EmuBuffer,
        remote: SocketAddr,
        done: Completion<Self>,
    ) -> Option<HostOp> {
        self.sock_call(s, Start::SendTo(buf, remote), done)
    }

    fn receive_from(&self, s: &HostSocket, buf: EmuBuffer, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::ReceiveFrom(buf), done)
    }

    fn disconnect(&self, s: &HostSocket, abortive: bool, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::Disconnect(abortive), done)
    }

    fn close(&self, s: &HostSocket, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::Close, done)
    }

    fn set_option(&self, s: &HostSocket, opt: SockOpt, value: u32, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::SetOption(opt, value), done)
    }

    fn get_option(&self, s: &HostSocket, opt: SockOpt, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::GetOption(opt), done)
    }

    fn get_address(&self, s: &HostSocket, which: AddrKind, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::GetAddress(which), done)
    }

    fn wait_peer_close(&self, s: &HostSocket, done: Completion<Self>) -> Option<HostOp> {
        self.sock_call(s, Start::WaitPeerClose, done)
    }

    fn resolve(
        &self,
        node: &str,
        family: Option<Family>,
        port: u16,
        done: Completion<Self>,
    ) -> Option<HostOp> {
        let sh = self.sh();
        let ok = sh.checker.enter_global(Call::Resolve);
        let op = sh.checker.op_started(None, Call::Resolve);
        if !ok {
            self.complete_now(op, done, OpOutput::status(self.refused()));
            return None;
        }
        if node.is_empty() {
            // The IRP-less analog of WskGetAddressInfo's parameter check: nothing to resolve.
            self.complete_now(op, done, OpOutput::status(NtStatus::STATUS_INVALID_PARAMETER));
            return None;
        }
        resolve::start(sh, op, node, family, port, done).map(|slot| HostOp {
            id: op,
            socket: None,
            target: OpTarget::Resolve(Arc::downgrade(&slot)),
        })
    }

    fn cancel(&self, op: &HostOp) {
        let sh = self.sh();
        // A cancel reaches into its socket (WSK's cancel routine): the checker refuses it during
        // or after the socket's close, and a close must not come while it is in progress.
        let _guard = match op.socket {
            Some(id) => {
                let (guard, ok) = sh.checker.enter(id, Call::Cancel);
                if !ok {
                    return;
                }
                Some(guard)
            }
            None => None,
        };
        if sh.cfg.profile == Profile::Wine8 {
            // Wine sets no cancel routine on WSK IRPs: IoCancelIrp does nothing.
            return;
        }
        match &op.target {
            OpTarget::None => {}
            OpTarget::Socket(w) => {
                let Some(entry) = w.upgrade() else { return };
                let id = op.id;
                let work = move |sh: &Arc<Shared>| {
                    let mut out = Vec::new();
                    {
                        let mut st = entry.state.lock();
                        let mut cx = Cx {
                            sh,
                            entry: &entry,
                            out: &mut out,
                        };
                        st.cancel(&mut cx, id);
                    }
                    deliver(sh, out);
                };
                if self.inline() {
                    work(sh);
                } else {
                    // Behind the call that started it, so the cancel finds it.
                    sh.push_task(Box::new(work));
                }
            }
            OpTarget::Resolve(w) => {
                if let Some(slot) = w.upgrade() {
                    resolve::finish(sh, &slot, OpOutput::status(NtStatus::STATUS_CANCELLED));
                }
            }
        }
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<HostTimer> {
        Some(HostTimer(shared::Shared::new_timer(callback)))
    }

    fn arm_timer(&self, timer: &HostTimer, delay_ms: u64, cookie: u64) {
        self.sh()
            .arm_timer(&timer.0, Duration::from_millis(delay_ms), cookie);
    }

    fn cancel_timer(&self, timer: &HostTimer) -> bool {
        timer.0.cancel()
    }
}
