//! One emulated WSK socket: its state, its queues of pending operations, and how a call on it
//! starts (this file: dispatch and the local calls — bind, listen, options, addresses). How the
//! operations then move (accept, connect, data, disconnect, cancel, close) is in `flow.rs`; the
//! host system calls in `hostio.rs`.
//!
//! Everything here runs with the socket's mutex held and never calls out: finished operations
//! are pushed to the caller's `out` list and completed by [`super::shared::deliver`] after the
//! lock is released.
//!
//! # Invariants
//! - An operation is in exactly one place: a queue (`accepts`, `recvs`, `sends`), `conn`
//!   (connecting), `disc` (disconnecting), or `out` (finished).
//! - Only the front of a queue has ever touched the host socket; a queue's front that is still
//!   queued has seen `WouldBlock` (and `readable`/`writable` was cleared then, under this lock),
//!   so the next readiness event retries it: no wake-up is lost. (Operations queued behind a
//!   connect in flight have not touched it; the connect's completion pumps them.)
//! - `io` is `Io::None` once the socket is closed, aborted or reset; `fault` then says why.

use super::hostio::Io;
use super::shared::{Done, Shared};
use crate::buffer::EmuBuffer;
use crate::checker::Call;
use crate::profile::{Profile, WINE_MAX_PENDING};
use crate::status::from_io;
use crate::HostProvider;
use mio::Token;
use socket2::{SockRef, TcpKeepalive};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use wsksock_abi::msg::{DATA_FLAG_NODELAY, DATA_FLAG_WAITALL};
use wsksock_abi::NtStatus;
use wsksock_core::{AddrKind, Completion, Family, OpOutput, OpValue, SockOpt, SocketKind};

/// One socket of the host provider.
pub(crate) struct SockEntry {
    /// The checker's id of the socket (also its mio token).
    pub id: u64,
    /// Its kind.
    pub kind: SocketKind,
    /// Its family.
    pub family: Family,
    /// Everything that changes.
    pub state: parking_lot::Mutex<SockState>,
}

impl SockEntry {
    /// A label for messages: "stream/V4".
    pub fn label(kind: SocketKind, family: Family) -> String {
        let k = match kind {
            SocketKind::Stream => "stream",
            SocketKind::Datagram => "datagram",
            SocketKind::Listen => "listen",
        };
        format!("{k}/{family:?}")
    }

    /// The mio token of socket `id`.
    pub fn token(id: u64) -> Token {
        Token(usize::try_from(id).unwrap_or(usize::MAX - 1))
    }
}

/// An operation waiting in a socket.
pub(crate) struct Pending {
    /// The checker's operation id.
    pub op: u64,
    /// Its continuation.
    pub done: Completion<HostProvider>,
    /// Its data buffer (data operations).
    pub buf: Option<EmuBuffer>,
    /// Bytes already transferred.
    pub progress: usize,
    /// WAITALL receive: complete only when the buffer is full (or the stream ends).
    pub waitall: bool,
    /// Destination of a send-to.
    pub addr: Option<SocketAddr>,
}

impl Pending {
    /// A pending operation without a buffer.
    pub fn new(op: u64, done: Completion<HostProvider>) -> Self {
        Pending {
            op,
            done,
            buf: None,
            progress: 0,
            waitall: false,
            addr: None,
        }
    }

    /// Finishes it with a status and what it transferred.
    pub(super) fn finish(self, status: NtStatus, out: &mut Vec<Done>) {
        let bytes = self.progress;
        out.push(Done::new(
            self.op,
            self.done,
            OpOutput::data(status, bytes, self.buf),
        ));
    }

    /// Finishes it with a status and a value.
    pub(super) fn finish_value(self, status: NtStatus, value: OpValue<HostProvider>, out: &mut Vec<Done>) {
        let bytes = self.progress;
        out.push(Done::new(
            self.op,
            self.done,
            OpOutput {
                status,
                bytes,
                buffer: self.buf,
                value,
            },
        ));
    }
}

/// What a call asks of a socket.
pub(crate) enum Start {
    Bind(SocketAddr),
    Listen(u32),
    Accept,
    Connect(SocketAddr),
    Send(EmuBuffer, u32),
    Receive(EmuBuffer, u32),
    SendTo(EmuBuffer, SocketAddr),
    ReceiveFrom(EmuBuffer),
    Disconnect(bool),
    Close,
    SetOption(SockOpt, u32),
    GetOption(SockOpt),
    GetAddress(AddrKind),
    WaitPeerClose,
}

impl Start {
    /// Which call this is.
    pub fn call(&self) -> Call {
        match self {
            Start::Bind(_) => Call::Bind,
            Start::Listen(_) => Call::Listen,
            Start::Accept => Call::Accept,
            Start::Connect(_) => Call::Connect,
            Start::Send(..) => Call::Send,
            Start::Receive(..) => Call::Receive,
            Start::SendTo(..) => Call::SendTo,
            Start::ReceiveFrom(_) => Call::ReceiveFrom,
            Start::Disconnect(_) => Call::Disconnect,
            Start::Close => Call::Close,
            Start::SetOption(..) => Call::SetOption,
            Start::GetOption(_) => Call::GetOption,
            Start::GetAddress(_) => Call::GetAddress,
            Start::WaitPeerClose => Call::WaitPeerClose,
        }
    }

    /// Its data buffer, if any.
    pub fn into_buffer(self) -> Option<EmuBuffer> {
        match self {
            Start::Send(b, _) | Start::Receive(b, _) | Start::SendTo(b, _) | Start::ReceiveFrom(b) => Some(b),
            Start::Bind(_)
            | Start::Listen(_)
            | Start::Accept
            | Start::Connect(_)
            | Start::Disconnect(_)
            | Start::Close
            | Start::SetOption(..)
            | Start::GetOption(_)
            | Start::GetAddress(_)
            | Start::WaitPeerClose => None,
        }
    }

    /// Whether a socket of `kind` has this call in its WSK dispatch table.
    pub fn allowed_on(&self, kind: SocketKind) -> bool {
        match self {
            Start::Bind(_)
            | Start::Close
            | Start::SetOption(..)
            | Start::GetOption(_)
            | Start::GetAddress(AddrKind::Local) => true,
            Start::Listen(_) | Start::Accept => kind != SocketKind::Datagram,
            Start::GetAddress(AddrKind::Peer)
            | Start::Connect(_)
            | Start::Send(..)
            | Start::Receive(..)
            | Start::Disconnect(_)
            | Start::WaitPeerClose => kind == SocketKind::Stream,
            Start::SendTo(..) | Start::ReceiveFrom(_) => kind == SocketKind::Datagram,
        }
    }
}

/// Connection progress of a stream socket.
pub(crate) enum Conn {
    /// Not connected.
    Idle,
    /// A connect is in flight.
    Connecting(Pending),
    /// Connected (or accepted).
    Connected,
}

/// Local disconnect progress of a stream socket.
pub(crate) enum Disc {
    /// No disconnect asked for.
    None,
    /// Graceful: waiting for the sends queued before it.
    WaitSends(Pending),
    /// Graceful: FIN queued; waiting for the peer to acknowledge everything.
    Draining(Pending),
    /// Graceful disconnect completed (FIN sent and acknowledged).
    Done,
}

/// The mutable state of a socket (behind [`SockEntry::state`]).
#[allow(clippy::struct_excessive_bools)] // independent facts, each read on its own.
pub(crate) struct SockState {
    pub io: Io,
    pub bound: bool,
    pub listening: bool,
    pub conn: Conn,
    pub disc: Disc,
    /// Set when the connection is gone (reset, aborted, connect cancelled): data calls fail with it.
    pub fault: Option<NtStatus>,
    pub accepts: VecDeque<Pending>,
    pub recvs: VecDeque<Pending>,
    pub sends: VecDeque<Pending>,
    /// Readiness hints: cleared on `WouldBlock`, set by events.
    pub readable: bool,
    pub writable: bool,
    pub closed: bool,
    /// On the event loop's list of draining disconnects.
    pub drain_listed: bool,
    /// The host socket reported the peer's FIN (read side closed).
    pub peer_fin: bool,
    /// Waits for the end of the connection (`wait_peer_close`).
    pub watches: VecDeque<Pending>,
}

/// What the caller gets back from [`SockState::start`].
pub(crate) struct Started {
    /// The operation is still pending (cancellable).
    pub pending: bool,
}

/// The context of a state change: the provider and where finished operations go.
pub(crate) struct Cx<'a> {
    pub sh: &'a Arc<Shared>,
    pub entry: &'a Arc<SockEntry>,
    pub out: &'a mut Vec<Done>,
}

impl Cx<'_> {
    pub(super) fn profile(&self) -> Profile {
        self.sh.cfg.profile
    }

    pub(super) fn err(&self, e: &io::Error) -> NtStatus {
        from_io(self.profile(), e)
    }
}

impl SockState {
    /// The state of a new socket around `io`.
    pub fn new(io: Io, connected: bool) -> Self {
        SockState {
            io,
            bound: connected,
            listening: false,
            conn: if connected { Conn::Connected } else { Conn::Idle },
            disc: Disc::None,
            fault: None,
            accepts: VecDeque::new(),
            recvs: VecDeque::new(),
            sends: VecDeque::new(),
            readable: true,
            writable: true,
            closed: false,
            drain_listed: false,
            peer_fin: false,
            watches: VecDeque::new(),
        }
    }

    /// Operations occupying one of Wine's `pending_io` slots.
    fn wine_slots(&self) -> usize {
        self.accepts.len()
            + self.recvs.len()
            + self.sends.len()
            + usize::from(matches!(self.conn, Conn::Connecting(_)))
    }

    /// Starts a call on this socket. `op` is the checker's operation id.
    pub fn start(
        &mut self,
        cx: &mut Cx<'_>,
        op: u64,
        start: Start,
        done: Completion<HostProvider>,
    ) -> Started {
        let profile = cx.profile();
        let call = start.call();
        let mut p = Pending::new(op, done);
        let finished = |p: Pending, st: NtStatus, out: &mut Vec<Done>| {
            p.finish(st, out);
            Started { pending: false }
        };
        if self.closed {
            // The checker already recorded the misuse; refuse like a freed socket would not.
            p.buf = start.into_buffer();
            return finished(p, NtStatus::STATUS_INVALID_HANDLE, cx.out);
        }
        // Wine's slot limit applies to the calls that take a `pending_io` slot.
        if profile == Profile::Wine8
            && matches!(call, Call::Accept | Call::Connect | Call::Send | Call::Receive)
            && self.wine_slots() >= WINE_MAX_PENDING
        {
            p.buf = start.into_buffer();
            return finished(p, NtStatus::STATUS_UNSUCCESSFUL, cx.out);
        }
        match start {
            Start::Bind(addr) => {
                let st = self.bind(cx, addr);
                finished(p, st, cx.out)
            }
            Start::Listen(backlog) => {
                let st = self.listen(cx, backlog);
                finished(p, st, cx.out)
            }
            Start::Accept => self.start_accept(cx, p),
            Start::Connect(addr) => self.start_connect(cx, p, addr),
            Start::Send(buf, flags) => {
                p.buf = Some(buf);
                let started = self.start_send(cx, p);
                // WSK_FLAG_NODELAY: what this send queued goes out now, Nagle or not. (Wine
                // ignores send flags.)
                if flags & DATA_FLAG_NODELAY != 0 && profile == Profile::Windows {
                    self.push_now();
                }
                started
            }
            Start::Receive(buf, flags) => {
                p.buf = Some(buf);
                p.waitall = flags & DATA_FLAG_WAITALL != 0 && profile == Profile::Windows;
                self.start_receive(cx, p)
            }
            Start::SendTo(buf, addr) => {
                p.buf = Some(buf);
                p.addr = Some(addr);
                self.start_send(cx, p)
            }
            Start::ReceiveFrom(buf) => {
                p.buf = Some(buf);
                self.start_receive(cx, p)
            }
            Start::Disconnect(abortive) => self.start_disconnect(cx, p, abortive),
            Start::Close => {
                self.close(cx, p);
                Started { pending: false }
            }
            Start::SetOption(opt, value) => {
                let st = self.set_option(cx, opt, value);
                finished(p, st, cx.out)
            }
            Start::GetOption(opt) => {
                let (st, value) = match self.get_option(cx, opt) {
                    Ok(v) => (NtStatus::STATUS_SUCCESS, OpValue::Value(v)),
                    Err(st) => (st, OpValue::None),
                };
                p.finish_value(st, value, cx.out);
                Started { pending: false }
            }
            Start::GetAddress(which) => {
                let (st, value) = match self.get_address(cx, which) {
                    Ok(a) => (NtStatus::STATUS_SUCCESS, OpValue::Address(a)),
                    Err(st) => (st, OpValue::None),
                };
                p.finish_value(st, value, cx.out);
                Started { pending: false }
            }
            Start::WaitPeerClose => self.start_watch(cx, p),
        }
    }

    // ---- local calls -------------------------------------------------------------------------

    /// Sends what the host socket holds back for Nagle now: turning TCP_NODELAY on pushes the
    /// pending segments (Linux), then it is put back.
    fn push_now(&mut self) {
        if let Some(s) = self.io.sock_ref() {
            if s.tcp_nodelay().is_ok_and(|on| !on) {
                let _ = s.set_tcp_nodelay(true);
                let _ = s.set_tcp_nodelay(false);
            }
        }
    }

    fn bind(&mut self, cx: &mut Cx<'_>, addr: SocketAddr) -> NtStatus {
        if Family::of(&addr) != cx.entry.family {
            return NtStatus::STATUS_INVALID_PARAMETER;
        }
        if self.bound {
            return NtStatus::STATUS_ADDRESS_ALREADY_ASSOCIATED;
        }
        let Some(sock) = self.io.sock_ref() else {
            return NtStatus::STATUS_INVALID_DEVICE_STATE;
        };
        if let Err(e) = sock.bind(&addr.into()) {
            return cx.err(&e);
        }
        // A WSK listening socket listens from its bind on (there is no WskListen for it).
        if cx.entry.kind == SocketKind::Listen {
            if let Err(e) = sock.listen(libc::SOMAXCONN) {
                return cx.err(&e);
            }
            self.listening = true;
        }
        self.bound = true;
        NtStatus::STATUS_SUCCESS
    }

    fn listen(&mut self, cx: &mut Cx<'_>, backlog: u32) -> NtStatus {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        match cx.entry.kind {
            // Listening sockets already listen: a new backlog is all there is to apply.
            // Unbound, it will listen at its bind: nothing to do yet (as the driver's provider).
            SocketKind::Listen => {
                if !self.bound || cx.profile() == Profile::Wine8 {
                    return NtStatus::STATUS_SUCCESS;
                }
                match self.io.sock_ref().map(|s| s.listen(backlog)) {
                    Some(Ok(())) => NtStatus::STATUS_SUCCESS,
                    Some(Err(e)) => cx.err(&e),
                    None => NtStatus::STATUS_INVALID_DEVICE_STATE,
                }
            }
            // WskListen on a stream socket (Windows 10+); Wine has no stream sockets.
            SocketKind::Stream => {
                if cx.profile() == Profile::Wine8 {
                    return NtStatus::STATUS_NOT_IMPLEMENTED;
                }
                if !self.bound || !matches!(self.conn, Conn::Idle) || self.listening {
                    return NtStatus::STATUS_INVALID_DEVICE_STATE;
                }
                let Io::Stream(s) = std::mem::replace(&mut self.io, Io::None) else {
                    return NtStatus::STATUS_INVALID_DEVICE_STATE;
                };
                if let Err(e) = SockRef::from(&s).listen(backlog) {
                    self.io = Io::Stream(s);
                    return cx.err(&e);
                }
                // Same descriptor, so the mio registration carries over.
                self.io = Io::Listener(TcpListener::from(OwnedFd::from(s)));
                self.listening = true;
                NtStatus::STATUS_SUCCESS
            }
            // Not in a datagram socket's dispatch table (the caller checked).
            SocketKind::Datagram => NtStatus::STATUS_NOT_SUPPORTED,
        }
    }

    fn set_option(&mut self, cx: &mut Cx<'_>, opt: SockOpt, value: u32) -> NtStatus {
        let Some(s) = self.io.sock_ref() else {
            return NtStatus::STATUS_INVALID_DEVICE_STATE;
        };
        let size = usize::try_from(value).unwrap_or(usize::MAX);
        let secs = Duration::from_secs(u64::from(value));
        let r = match opt {
            SockOpt::KeepAlive => s.set_keepalive(value != 0),
            SockOpt::KeepAliveIdle | SockOpt::KeepAliveInterval | SockOpt::KeepAliveCount
                if cx.entry.kind != SocketKind::Stream =>
            {
                return NtStatus::STATUS_INVALID_PARAMETER
            }
            // The host's TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT. socket2 turns SO_KEEPALIVE on
            // with them; Windows' TCP_KEEPALIVE and friends do not: put it back as it was.
            SockOpt::KeepAliveIdle | SockOpt::KeepAliveInterval | SockOpt::KeepAliveCount => {
                let params = match opt {
                    SockOpt::KeepAliveIdle => TcpKeepalive::new().with_time(secs),
                    SockOpt::KeepAliveInterval => TcpKeepalive::new().with_interval(secs),
                    _ => TcpKeepalive::new().with_retries(value),
                };
                s.keepalive()
                    .and_then(|on| s.set_tcp_keepalive(&params).and_then(|()| s.set_keepalive(on)))
            }
            SockOpt::NoDelay if cx.entry.kind == SocketKind::Datagram => {
                return NtStatus::STATUS_INVALID_PARAMETER
            }
            SockOpt::NoDelay => s.set_tcp_nodelay(value != 0),
            SockOpt::ReceiveBuffer => s.set_recv_buffer_size(size),
            SockOpt::SendBuffer => s.set_send_buffer_size(size),
            SockOpt::Ipv6Only if cx.entry.family != Family::V6 => return NtStatus::STATUS_INVALID_PARAMETER,
            // Windows refuses to change IPV6_V6ONLY once bound.
            SockOpt::Ipv6Only if self.bound => return NtStatus::STATUS_INVALID_DEVICE_STATE,
            SockOpt::Ipv6Only => s.set_only_v6(value != 0),
        };
        match r {
            Ok(()) => NtStatus::STATUS_SUCCESS,
            Err(e) => cx.err(&e),
        }
    }

    fn get_option(&mut self, cx: &mut Cx<'_>, opt: SockOpt) -> Result<u32, NtStatus> {
        let Some(s) = self.io.sock_ref() else {
            return Err(NtStatus::STATUS_INVALID_DEVICE_STATE);
        };
        let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        let r = match opt {
            SockOpt::KeepAlive => s.keepalive().map(u32::from),
            SockOpt::KeepAliveIdle | SockOpt::KeepAliveInterval | SockOpt::KeepAliveCount
                if cx.entry.kind != SocketKind::Stream =>
            {
                return Err(NtStatus::STATUS_INVALID_PARAMETER)
            }
            SockOpt::KeepAliveIdle => s.tcp_keepalive_time().map(secs),
            SockOpt::KeepAliveInterval => s.tcp_keepalive_interval().map(secs),
            SockOpt::KeepAliveCount => s.tcp_keepalive_retries(),
            SockOpt::NoDelay if cx.entry.kind == SocketKind::Datagram => {
                return Err(NtStatus::STATUS_INVALID_PARAMETER)
            }
            SockOpt::NoDelay => s.tcp_nodelay().map(u32::from),
            SockOpt::ReceiveBuffer => s.recv_buffer_size().map(size),
            SockOpt::SendBuffer => s.send_buffer_size().map(size),
            SockOpt::Ipv6Only if cx.entry.family != Family::V6 => {
                return Err(NtStatus::STATUS_INVALID_PARAMETER)
            }
            SockOpt::Ipv6Only => s.only_v6().map(u32::from),
        };
        r.map_err(|e| cx.err(&e))
    }

    fn get_address(&mut self, cx: &mut Cx<'_>, which: AddrKind) -> Result<SocketAddr, NtStatus> {
        let Some(s) = self.io.sock_ref() else {
            return Err(NtStatus::STATUS_INVALID_DEVICE_STATE);
        };
        let r = match which {
            AddrKind::Local if !self.bound => return Err(NtStatus::STATUS_INVALID_DEVICE_STATE),
            AddrKind::Local => s.local_addr(),
            AddrKind::Peer if !matches!(self.conn, Conn::Connected) => {
                return Err(NtStatus::STATUS_INVALID_DEVICE_STATE)
            }
            AddrKind::Peer => s.peer_addr(),
        };
        match r {
            Ok(a) => a.as_socket().ok_or(NtStatus::STATUS_INVALID_ADDRESS),
            Err(e) => Err(cx.err(&e)),
        }
    }
}
