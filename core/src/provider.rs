//! The provider: what the platform supplies to the engine — the WSK operations, timers and locks.
//!
//! The real driver implements it over Winsock Kernel, the emulator over host sockets, the tests
//! with a scripted provider whose completions the test releases.
//!
//! # Contract (what the engine relies on; the emulator's checker enforces it)
//! 1. Every operation call completes **exactly once** through its [`Completion`], synchronously
//!    (before the call returns) or later on any thread. A synchronous failure, such as Wine's
//!    `STATUS_NOT_IMPLEMENTED` from `WskDisconnect`, is reported by completing `done` before
//!    returning — never by leaving it uncompleted.
//! 2. The data [`Provider::Buffer`] handed to an operation comes back in its [`OpOutput`].
//! 3. [`Provider::close`] may be called while operations are pending: the provider completes them
//!    (normally with STATUS_CANCELLED) and then completes the close. The engine never calls
//!    `close` while another call on that socket is *in progress*, and never calls anything on a
//!    socket after `close`.
//! 4. [`Provider::cancel`] is a request: the operation may still complete with success and data.
//!    The [`Provider::OpRef`] stays valid for `cancel` until dropped, even after completion.
//! 5. A timer ([`Provider::new_timer`]) runs its callback at most once per arming;
//!    [`Provider::cancel_timer`] returns `true` only if the callback will not run for this arming
//!    (the timer may be armed again); `false` if it has run or is running. Arming never fails:
//!    `new_timer` allocated what the timer needs.
//! 6. The provider never blocks the calling thread waiting for the network.

use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;
use wsksock_abi::NtStatus;

/// Address family of a new socket.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// Kind of a new socket (WSK_FLAG_CONNECTION_SOCKET, _DATAGRAM_SOCKET, _LISTEN_SOCKET).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum SocketKind {
    /// Connection-oriented (TCP).
    Stream,
    /// Datagram (UDP).
    Datagram,
    /// Listening (TCP).
    Listen,
}

/// The process a new socket is attributed to (`OwningProcess` of `WskSocket`), so that WFP and
/// the firewall see who uses it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Owner {
    /// The system: sockets of kernel clients.
    System,
    /// The process that sent a user-mode client's SOCKET request, as its front end names it
    /// ([`crate::Request::process`]; the driver: its `PEPROCESS`, valid while the request is
    /// pending — and the provider is called before the request completes).
    Process(u64),
}

/// Parameters of [`Provider::create_socket`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SocketParams {
    /// Address family.
    pub family: Family,
    /// Socket kind.
    pub kind: SocketKind,
    /// Who the socket is attributed to.
    pub owner: Owner,
}

/// Socket options that reach the provider (SO_LINGER is kept by the engine and never does).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum SockOpt {
    /// SO_KEEPALIVE.
    KeepAlive,
    /// TCP_NODELAY.
    NoDelay,
    /// SO_RCVBUF.
    ReceiveBuffer,
    /// SO_SNDBUF.
    SendBuffer,
    /// IPV6_V6ONLY.
    Ipv6Only,
    /// TCP_KEEPIDLE (Windows: TCP_KEEPALIVE), seconds.
    KeepAliveIdle,
    /// TCP_KEEPINTVL, seconds.
    KeepAliveInterval,
    /// TCP_KEEPCNT, probes.
    KeepAliveCount,
}

/// Which address [`Provider::get_address`] reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum AddrKind {
    /// Local address.
    Local,
    /// Peer address.
    Peer,
}

/// A data buffer described for the provider without copying (an MDL in the driver).
pub trait Buffer: Send + 'static {
    /// Bytes the buffer describes.
    fn len(&self) -> usize;
    /// Whether it describes no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an operation produced besides its status.
pub enum OpValue<P: Provider + ?Sized> {
    /// Nothing.
    None,
    /// A new socket (create).
    Socket(P::Socket),
    /// An accepted connection.
    Accepted {
        /// The connection's socket.
        socket: P::Socket,
        /// Its local address.
        local: SocketAddr,
        /// Its peer.
        remote: SocketAddr,
    },
    /// An address (receive-from: the sender; get-address).
    Address(SocketAddr),
    /// Resolved addresses.
    Addresses(Vec<SocketAddr>),
    /// An option value.
    Value(u32),
    /// The connection ended ([`Provider::wait_peer_close`]): STATUS_SUCCESS for the peer's FIN,
    /// STATUS_CONNECTION_RESET for its RST, another status for a failed connection (e.g.
    /// STATUS_IO_TIMEOUT when keepalive found the peer dead).
    PeerClosed(NtStatus),
}

/// The result of one operation.
pub struct OpOutput<P: Provider + ?Sized> {
    /// Final status.
    pub status: NtStatus,
    /// Bytes transferred (data operations).
    pub bytes: usize,
    /// The data buffer handed to the operation, given back.
    pub buffer: Option<P::Buffer>,
    /// Anything else the operation produced.
    pub value: OpValue<P>,
}

impl<P: Provider + ?Sized> OpOutput<P> {
    /// An output with only a status.
    pub fn status(status: NtStatus) -> Self {
        OpOutput {
            status,
            bytes: 0,
            buffer: None,
            value: OpValue::None,
        }
    }

    /// Success with a value.
    pub fn value(value: OpValue<P>) -> Self {
        OpOutput {
            status: NtStatus::STATUS_SUCCESS,
            bytes: 0,
            buffer: None,
            value,
        }
    }

    /// A data operation's result.
    pub fn data(status: NtStatus, bytes: usize, buffer: Option<P::Buffer>) -> Self {
        OpOutput {
            status,
            bytes,
            buffer,
            value: OpValue::None,
        }
    }

    /// The same output for a provider that wraps this one (a verifier, a fault injector): the
    /// socket it may carry is converted by `wrap`, told whether it was accepted; the rest moves.
    pub fn map_socket<Q: Provider<Buffer = P::Buffer> + ?Sized>(
        self,
        wrap: impl FnOnce(P::Socket, bool) -> Q::Socket,
    ) -> OpOutput<Q> {
        let value = match self.value {
            OpValue::None => OpValue::None,
            OpValue::Socket(s) => OpValue::Socket(wrap(s, false)),
            OpValue::Accepted {
                socket,
                local,
                remote,
            } => OpValue::Accepted {
                socket: wrap(socket, true),
                local,
                remote,
            },
            OpValue::Address(a) => OpValue::Address(a),
            OpValue::Addresses(v) => OpValue::Addresses(v),
            OpValue::Value(v) => OpValue::Value(v),
            OpValue::PeerClosed(st) => OpValue::PeerClosed(st),
        };
        OpOutput {
            status: self.status,
            bytes: self.bytes,
            buffer: self.buffer,
            value,
        }
    }
}

/// Where a completion goes: implemented by the engine (and by tests of a provider alone).
pub trait CompletionSink<P: Provider + ?Sized>: Send {
    /// Receives the operation's result. Called exactly once.
    fn complete(self: Box<Self>, output: OpOutput<P>);
}

/// What the engine's own completions hold: the object an operation belongs to (a socket, a
/// client) and the tag telling which operation — no allocation per operation (see
/// [`crate::sync::DynArc`]).
pub(crate) trait CompletionTarget<P: Provider + ?Sized>: Send + Sync {
    /// Operation `tag` completed with `output`.
    fn completed(&self, tag: u64, output: OpOutput<P>);
}

#[cfg(loom)]
impl<P: Provider + ?Sized, T: CompletionTarget<P>> CompletionTarget<P> for crate::sync::Arc<T> {
    fn completed(&self, tag: u64, output: OpOutput<P>) {
        (**self).completed(tag, output);
    }
}

enum Sink<P: Provider + ?Sized> {
    /// Completed (or being completed).
    Done,
    /// A sink of its own (providers' decorators, tests).
    Boxed(Box<dyn CompletionSink<P>>),
    /// An operation of the engine: its object and tag.
    Target(crate::sync::DynArc<dyn CompletionTarget<P>>, u64),
}

/// The continuation of one provider operation; consumed by [`Completion::complete`].
///
/// # Invariants
/// The sink is called exactly once: by `complete`, or — if a provider drops the completion
/// without calling it, which breaks the contract — by `Drop` with STATUS_CANCELLED, so the engine
/// still sees every operation end.
pub struct Completion<P: Provider + ?Sized> {
    sink: Sink<P>,
}

impl<P: Provider + ?Sized> Completion<P> {
    /// Wraps a sink.
    pub fn new(sink: Box<dyn CompletionSink<P>>) -> Self {
        Completion {
            sink: Sink::Boxed(sink),
        }
    }

    /// The completion of the engine's operation `tag` of `target` (allocates nothing).
    pub(crate) fn for_target(target: crate::sync::DynArc<dyn CompletionTarget<P>>, tag: u64) -> Self {
        Completion {
            sink: Sink::Target(target, tag),
        }
    }

    /// Completes the operation.
    pub fn complete(mut self, output: OpOutput<P>) {
        self.deliver(output);
    }

    fn deliver(&mut self, output: OpOutput<P>) {
        match core::mem::replace(&mut self.sink, Sink::Done) {
            Sink::Done => {}
            Sink::Boxed(sink) => sink.complete(output),
            Sink::Target(target, tag) => target.completed(tag, output),
        }
    }
}

impl<P: Provider + ?Sized> Drop for Completion<P> {
    fn drop(&mut self) {
        self.deliver(OpOutput::status(NtStatus::STATUS_CANCELLED));
    }
}

/// A timer callback, run at most once per arming (at DISPATCH_LEVEL in the driver: it must not
/// block), with the cookie the timer was armed with ([`Provider::arm_timer`]).
pub type TimerCallback = Box<dyn FnOnce(u64) + Send>;

/// The WSK operations, timers and locks of one platform.
///
/// Every operation returns `Some(op)` if it may still be pending and can be cancelled through
/// `op`, `None` if it already completed or cannot be cancelled. See the module docs for the
/// contract.
pub trait Provider: Send + Sync + 'static {
    /// The provider's socket (a `PWSK_SOCKET` in the driver).
    type Socket: Send + Sync + 'static;
    /// A data buffer (an MDL in the driver).
    type Buffer: Buffer;
    /// A cancellable reference to a pending operation (its IRP in the driver).
    type OpRef: Clone + Send + Sync + 'static;
    /// A pending timer.
    type TimerRef: Send + Sync + 'static;
    /// The raw lock of the engine's mutexes (a spin lock in the driver).
    type RawLock: lock_api::RawMutex + Send + Sync + 'static;

    /// A new, unlocked raw lock.
    fn new_raw_lock(&self) -> Self::RawLock;

    /// Creates a socket; completes with [`OpValue::Socket`].
    fn create_socket(&self, params: SocketParams, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Binds a socket.
    fn bind(&self, s: &Self::Socket, local: SocketAddr, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Starts listening on a bound listening socket (a WSK listen socket listens from its bind:
    /// providers may complete this at once). The engine calls it only on listening sockets.
    fn listen(&self, s: &Self::Socket, backlog: u32, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Accepts one connection; completes with [`OpValue::Accepted`].
    fn accept(&self, s: &Self::Socket, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Connects a bound stream socket.
    fn connect(&self, s: &Self::Socket, remote: SocketAddr, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Sends the whole buffer; completes when the transport accepted all of it. `flags` (here and
    /// in `receive`) are the ABI's `DATA_FLAG_*` values: `DATA_FLAG_NODELAY` for sends,
    /// `DATA_FLAG_WAITALL` for receives.
    fn send(
        &self,
        s: &Self::Socket,
        buf: Self::Buffer,
        flags: u32,
        done: Completion<Self>,
    ) -> Option<Self::OpRef>;
    /// Receives into the buffer (0 bytes with success: the peer sent FIN).
    fn receive(
        &self,
        s: &Self::Socket,
        buf: Self::Buffer,
        flags: u32,
        done: Completion<Self>,
    ) -> Option<Self::OpRef>;
    /// Sends one datagram.
    fn send_to(
        &self,
        s: &Self::Socket,
        buf: Self::Buffer,
        remote: SocketAddr,
        done: Completion<Self>,
    ) -> Option<Self::OpRef>;
    /// Receives one datagram; completes with [`OpValue::Address`] of the sender.
    fn receive_from(
        &self,
        s: &Self::Socket,
        buf: Self::Buffer,
        done: Completion<Self>,
    ) -> Option<Self::OpRef>;
    /// `WskDisconnect`: graceful (FIN after queued data) or abortive (RST).
    fn disconnect(&self, s: &Self::Socket, abortive: bool, done: Completion<Self>) -> Option<Self::OpRef>;
    /// The teardown's own `WskDisconnect` (a SHUTDOWN's is [`Provider::disconnect`]): at most one
    /// graceful and one abortive per socket, where nothing may fail for want of memory. A provider
    /// that allocated what they need when the socket was made uses that here; the default is
    /// `disconnect`.
    fn teardown_disconnect(
        &self,
        s: &Self::Socket,
        abortive: bool,
        done: Completion<Self>,
    ) -> Option<Self::OpRef> {
        self.disconnect(s, abortive, done)
    }
    /// `WskCloseSocket`: cancels what is pending, then completes. Nothing is called on `s` after.
    /// Called once per socket, by its teardown, where nothing may fail for want of memory: a
    /// provider allocates what the close needs when the socket is made.
    fn close(&self, s: &Self::Socket, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Sets an option.
    fn set_option(
        &self,
        s: &Self::Socket,
        opt: SockOpt,
        value: u32,
        done: Completion<Self>,
    ) -> Option<Self::OpRef>;
    /// Reads an option; completes with [`OpValue::Value`].
    fn get_option(&self, s: &Self::Socket, opt: SockOpt, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Local or peer address; completes with [`OpValue::Address`].
    fn get_address(&self, s: &Self::Socket, which: AddrKind, done: Completion<Self>) -> Option<Self::OpRef>;
    /// Resolves a name (`family` `None`: any); completes with [`OpValue::Addresses`].
    fn resolve(
        &self,
        node: &str,
        family: Option<Family>,
        port: u16,
        done: Completion<Self>,
    ) -> Option<Self::OpRef>;
    /// Waits until the connection of a stream socket ends — the peer's FIN or RST, or a failure
    /// (keepalive, a failed connect, a local abort) — without consuming data; completes with
    /// [`OpValue::PeerClosed`]. Completes at once if it already ended. Cancellable; the close
    /// completes it with STATUS_CANCELLED. A provider without such notifications (Wine's WSK,
    /// which has no event callbacks) completes it with STATUS_NOT_SUPPORTED: the default.
    fn wait_peer_close(&self, s: &Self::Socket, done: Completion<Self>) -> Option<Self::OpRef> {
        let _ = s;
        done.complete(OpOutput::status(NtStatus::STATUS_NOT_SUPPORTED));
        None
    }
    /// Asks a pending operation to cancel (`IoCancelIrp`): a request, not a guarantee.
    fn cancel(&self, op: &Self::OpRef);

    /// A timer that will run `callback` when armed and due (KTIMER + DPC in the driver), not
    /// armed yet; `None` if there is no memory for it. What a timer needs is allocated here, so
    /// that arming it later cannot fail (the engine reserves its timers when a request is
    /// admitted, or a socket created: `docs/ENGINE.md`, "Memory").
    fn new_timer(&self, callback: TimerCallback) -> Option<Self::TimerRef>;
    /// Arms `timer` to run its callback with `cookie` after `delay_ms` milliseconds. Called on a
    /// timer that is not armed: new, or cancelled by a `cancel_timer` that returned `true`.
    fn arm_timer(&self, timer: &Self::TimerRef, delay_ms: u64, cookie: u64);
    /// Cancels a timer: `true` if its callback will not run for this arming (or it was never
    /// armed) — it may then be armed again; `false` if the callback has run or is running (the
    /// callback is gone: the timer cannot be armed again). The engine drops a timer only when it
    /// is not armed, or its callback has run.
    fn cancel_timer(&self, timer: &Self::TimerRef) -> bool;

    /// Whether the engine's next allocation fails: asked before each one (module `mem`). The
    /// real providers never say so — the driver's allocations fail by themselves
    /// (`Box::try_new`); the emulator's fault injector does, to exercise every allocation point
    /// of the engine on the host.
    fn allocation_fails(&self) -> bool {
        false
    }
}

/// A mutex of the engine over provider `P`'s raw lock.
pub type PMutex<P, T> = Mutex<<P as Provider>::RawLock, T>;

/// Makes a mutex for the engine.
pub fn new_mutex<P: Provider + ?Sized, T>(p: &P, value: T) -> PMutex<P, T> {
    Mutex::from_raw(p.new_raw_lock(), value)
}
