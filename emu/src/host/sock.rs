//! One emulated WSK socket: its host socket, its queues of pending operations, and the state
//! machine that moves them (connect, accept, send, receive, datagrams, disconnect, close).
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
//!   so the next readiness event retries it: no wake-up is lost.
//! - `io` is `Io::None` once the socket is closed, aborted or reset; `fault` then says why.

use super::outq;
use super::shared::{Done, Shared};
use crate::buffer::EmuBuffer;
use crate::checker::Call;
use crate::profile::{Profile, WINE_MAX_PENDING};
use crate::status::from_io;
use crate::HostProvider;
use mio::unix::SourceFd;
use mio::{Interest, Token};
use socket2::SockRef;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use wsksock_abi::msg::DATA_FLAG_WAITALL;
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

/// The host socket.
pub(crate) enum Io {
    /// Closed, aborted or reset.
    None,
    /// A TCP connection socket (maybe not yet connected).
    Stream(TcpStream),
    /// A TCP listening socket.
    Listener(TcpListener),
    /// A UDP socket.
    Dgram(UdpSocket),
}

impl Io {
    fn sock_ref(&self) -> Option<SockRef<'_>> {
        match self {
            Io::None => None,
            Io::Stream(s) => Some(SockRef::from(s)),
            Io::Listener(s) => Some(SockRef::from(s)),
            Io::Dgram(s) => Some(SockRef::from(s)),
        }
    }

    fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Io::None => None,
            Io::Stream(s) => Some(s.as_raw_fd()),
            Io::Listener(s) => Some(s.as_raw_fd()),
            Io::Dgram(s) => Some(s.as_raw_fd()),
        }
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
    fn finish(self, status: NtStatus, out: &mut Vec<Done>) {
        let bytes = self.progress;
        out.push(Done::new(
            self.op,
            self.done,
            OpOutput::data(status, bytes, self.buf),
        ));
    }

    /// Finishes it with a status and a value.
    fn finish_value(self, status: NtStatus, value: OpValue<HostProvider>, out: &mut Vec<Done>) {
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
            | Start::GetAddress(_) => None,
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
            Start::GetAddress(AddrKind::Peer) => kind == SocketKind::Stream,
            Start::Listen(_) | Start::Accept => kind != SocketKind::Datagram,
            Start::Connect(_) | Start::Send(..) | Start::Receive(..) | Start::Disconnect(_) => {
                kind == SocketKind::Stream
            }
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
    fn profile(&self) -> Profile {
        self.sh.cfg.profile
    }

    fn err(&self, e: &io::Error) -> NtStatus {
        from_io(self.profile(), e)
    }
}

enum Step {
    /// The operation finished with this status.
    Finished(NtStatus),
    /// The host socket would block: keep it queued.
    Blocked,
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
            Start::Send(buf, _flags) => {
                p.buf = Some(buf);
                self.start_send(cx, p)
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
        }
    }

    // ---- local calls -------------------------------------------------------------------------

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
            SocketKind::Listen => {
                if !self.bound {
                    return NtStatus::STATUS_INVALID_DEVICE_STATE;
                }
                if cx.profile() == Profile::Wine8 {
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
        let r = match opt {
            SockOpt::KeepAlive => s.set_keepalive(value != 0),
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
        let r = match opt {
            SockOpt::KeepAlive => s.keepalive().map(u32::from),
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

    // ---- accept and connect ------------------------------------------------------------------

    fn start_accept(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
        if !self.listening {
            p.finish(NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
            return Started { pending: false };
        }
        self.accepts.push_back(p);
        let op = self.accepts.back().map(|p| p.op);
        if self.accepts.len() == 1 {
            self.readable = true;
            self.pump_accepts(cx);
        }
        Started {
            pending: self.accepts.iter().any(|p| Some(p.op) == op),
        }
    }

    fn pump_accepts(&mut self, cx: &mut Cx<'_>) {
        while self.readable && !self.accepts.is_empty() {
            let Io::Listener(l) = &self.io else { return };
            match l.accept() {
                Ok((stream, remote)) => {
                    let Some(p) = self.accepts.pop_front() else { return };
                    match accepted(cx.sh, cx.entry, stream) {
                        Ok((socket, local)) => {
                            p.finish_value(
                                NtStatus::STATUS_SUCCESS,
                                OpValue::Accepted {
                                    socket,
                                    local,
                                    remote,
                                },
                                cx.out,
                            );
                        }
                        Err(e) => p.finish(cx.err(&e), cx.out),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                // The connection went away before we took it, or a signal: take the next one.
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.kind() == io::ErrorKind::ConnectionAborted
                        || e.kind() == io::ErrorKind::ConnectionReset => {}
                Err(e) => {
                    let st = cx.err(&e);
                    if let Some(p) = self.accepts.pop_front() {
                        p.finish(st, cx.out);
                    }
                }
            }
        }
    }

    fn start_connect(&mut self, cx: &mut Cx<'_>, p: Pending, addr: SocketAddr) -> Started {
        let fail = |p: Pending, st, out: &mut Vec<Done>| {
            p.finish(st, out);
            Started { pending: false }
        };
        // WSK: a connection socket must be bound before WskConnect.
        if !self.bound {
            return fail(p, NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
        }
        if let Some(f) = self.fault {
            return fail(p, f, cx.out);
        }
        if !matches!(self.conn, Conn::Idle) || self.listening {
            return fail(p, NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
        }
        if Family::of(&addr) != cx.entry.family {
            return fail(p, NtStatus::STATUS_INVALID_PARAMETER, cx.out);
        }
        let Some(s) = self.io.sock_ref() else {
            return fail(p, NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
        };
        match s.connect(&addr.into()) {
            Ok(()) => {
                self.conn = Conn::Connected;
                fail(p, NtStatus::STATUS_SUCCESS, cx.out)
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock =>
            {
                self.conn = Conn::Connecting(p);
                // Whether it is done shows as writability (or an error); check once now too.
                self.writable = true;
                self.pump(cx);
                Started {
                    pending: matches!(self.conn, Conn::Connecting(_)),
                }
            }
            Err(e) => {
                let st = cx.err(&e);
                fail(p, st, cx.out)
            }
        }
    }

    fn pump_connect(&mut self, cx: &mut Cx<'_>) {
        if !matches!(self.conn, Conn::Connecting(_)) || !self.writable {
            return;
        }
        let Some(s) = self.io.sock_ref() else { return };
        let result = match s.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                    // Still in progress.
                    self.writable = false;
                    return;
                }
                Err(e) => Err(e),
            },
        };
        let Conn::Connecting(p) = std::mem::replace(&mut self.conn, Conn::Idle) else {
            return;
        };
        match result {
            Ok(()) => {
                self.conn = Conn::Connected;
                self.readable = true;
                self.writable = true;
                p.finish(NtStatus::STATUS_SUCCESS, cx.out);
            }
            Err(e) => {
                let st = cx.err(&e);
                p.finish(st, cx.out);
                // Data calls queued behind the connect fail with it.
                for q in self.recvs.drain(..).chain(self.sends.drain(..)) {
                    q.finish(st, cx.out);
                }
            }
        }
    }

    // ---- data ----------------------------------------------------------------------------------

    fn start_send(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
        let dgram = cx.entry.kind == SocketKind::Datagram;
        let refuse = if let Some(f) = self.fault {
            Some(f)
        } else if dgram && !self.bound {
            Some(NtStatus::STATUS_INVALID_DEVICE_STATE)
        } else if !dgram && (matches!(self.conn, Conn::Idle) || !matches!(self.disc, Disc::None)) {
            // Not connected, or sending after our own disconnect.
            Some(NtStatus::STATUS_INVALID_DEVICE_STATE)
        } else if p.addr.is_some_and(|a| Family::of(&a) != cx.entry.family) {
            Some(NtStatus::STATUS_INVALID_PARAMETER)
        } else {
            None
        };
        if let Some(st) = refuse {
            p.finish(st, cx.out);
            return Started { pending: false };
        }
        self.enqueue_send(cx, p)
    }

    fn enqueue_send(&mut self, cx: &mut Cx<'_>, mut p: Pending) -> Started {
        if self.sends.is_empty() && matches!(self.conn, Conn::Connected | Conn::Idle) {
            // Fast path: nothing queued ahead, so write now, straight from the buffer.
            match send_step(&self.io, &mut p, &mut self.writable, cx.profile()) {
                Step::Finished(st) => {
                    let st = self.note_error(st);
                    p.finish(st, cx.out);
                    return Started { pending: false };
                }
                Step::Blocked => {}
            }
        }
        self.sends.push_back(p);
        Started { pending: true }
    }

    fn start_receive(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
        let dgram = cx.entry.kind == SocketKind::Datagram;
        let refuse = if p.buf.as_ref().is_some_and(|b| b.as_slice().is_empty()) {
            // No room for data: 0 bytes would read as the peer's FIN.
            Some(NtStatus::STATUS_INVALID_PARAMETER)
        } else if let Some(f) = self.fault {
            Some(f)
        } else if (dgram && !self.bound) || (!dgram && matches!(self.conn, Conn::Idle)) {
            Some(NtStatus::STATUS_INVALID_DEVICE_STATE)
        } else {
            None
        };
        if let Some(st) = refuse {
            p.finish(st, cx.out);
            return Started { pending: false };
        }
        let mut p = p;
        if self.recvs.is_empty() && matches!(self.conn, Conn::Connected | Conn::Idle) {
            match recv_step(&self.io, &mut p, &mut self.readable, cx.profile()) {
                Step::Finished(st) => {
                    let st = self.note_error(st);
                    p.finish_value_recv(st, cx.out);
                    return Started { pending: false };
                }
                Step::Blocked => {}
            }
        }
        self.recvs.push_back(p);
        Started { pending: true }
    }

    /// Remembers a connection-ending error so later calls see it too (Linux reports a reset
    /// once; WSK keeps failing). Returns the status to report.
    fn note_error(&mut self, st: NtStatus) -> NtStatus {
        if st == NtStatus::STATUS_CONNECTION_RESET || st == NtStatus::STATUS_CONNECTION_ABORTED {
            self.fault.get_or_insert(st);
        }
        st
    }

    fn pump_data(&mut self, cx: &mut Cx<'_>) {
        if !matches!(self.conn, Conn::Connected | Conn::Idle) {
            return;
        }
        let profile = cx.profile();
        while self.readable {
            let Some(p) = self.recvs.front_mut() else { break };
            match recv_step(&self.io, p, &mut self.readable, profile) {
                Step::Finished(st) => {
                    let st = self.note_error(st);
                    if let Some(p) = self.recvs.pop_front() {
                        p.finish_value_recv(st, cx.out);
                    }
                }
                Step::Blocked => break,
            }
        }
        while self.writable {
            let Some(p) = self.sends.front_mut() else { break };
            match send_step(&self.io, p, &mut self.writable, profile) {
                Step::Finished(st) => {
                    let st = self.note_error(st);
                    if let Some(p) = self.sends.pop_front() {
                        p.finish(st, cx.out);
                    }
                }
                Step::Blocked => break,
            }
        }
    }

    // ---- disconnect ----------------------------------------------------------------------------

    fn start_disconnect(&mut self, cx: &mut Cx<'_>, p: Pending, abortive: bool) -> Started {
        let done = |p: Pending, st, out: &mut Vec<Done>| {
            p.finish(st, out);
            Started { pending: false }
        };
        if let Some(f) = self.fault {
            // The connection is already gone: an abortive disconnect has nothing left to do.
            let st = if abortive { NtStatus::STATUS_SUCCESS } else { f };
            return done(p, st, cx.out);
        }
        if !matches!(self.conn, Conn::Connected) {
            return done(p, NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
        }
        if abortive {
            self.abort(cx, NtStatus::STATUS_CONNECTION_ABORTED);
            return done(p, NtStatus::STATUS_SUCCESS, cx.out);
        }
        if !matches!(self.disc, Disc::None) {
            return done(p, NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
        }
        let op = p.op;
        self.disc = Disc::WaitSends(p);
        self.pump_disconnect(cx);
        let pending = match &self.disc {
            Disc::WaitSends(q) | Disc::Draining(q) => q.op == op,
            Disc::None | Disc::Done => false,
        };
        Started { pending }
    }

    /// Moves a graceful disconnect on: FIN once the sends are done, completion once the peer
    /// acknowledged everything.
    pub fn pump_disconnect(&mut self, cx: &mut Cx<'_>) {
        if let Some(f) = self.fault {
            if let Disc::WaitSends(p) | Disc::Draining(p) = std::mem::replace(&mut self.disc, Disc::Done) {
                p.finish(f, cx.out);
            }
            return;
        }
        if matches!(self.disc, Disc::WaitSends(_)) && self.sends.is_empty() {
            let Disc::WaitSends(p) = std::mem::replace(&mut self.disc, Disc::None) else {
                return;
            };
            match self.io.sock_ref().map(|s| s.shutdown(Shutdown::Write)) {
                Some(Ok(())) => self.disc = Disc::Draining(p),
                Some(Err(e)) => {
                    self.disc = Disc::Done;
                    p.finish(cx.err(&e), cx.out);
                    return;
                }
                None => {
                    self.disc = Disc::Done;
                    p.finish(NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
                    return;
                }
            }
        }
        if !matches!(self.disc, Disc::Draining(_)) {
            return;
        }
        let verdict = match &self.io {
            Io::Stream(s) => match outq::unacked_bytes(s) {
                Ok(0) => Some(NtStatus::STATUS_SUCCESS),
                Ok(_) => match s.take_error() {
                    Ok(Some(e)) => Some(self.note_error(from_io(cx.profile(), &e))),
                    Ok(None) | Err(_) => None,
                },
                Err(e) => Some(cx.err(&e)),
            },
            Io::None | Io::Listener(_) | Io::Dgram(_) => {
                Some(self.fault.unwrap_or(NtStatus::STATUS_CONNECTION_ABORTED))
            }
        };
        match verdict {
            Some(st) => {
                let Disc::Draining(p) = std::mem::replace(&mut self.disc, Disc::Done) else {
                    return;
                };
                p.finish(st, cx.out);
                if st != NtStatus::STATUS_SUCCESS {
                    self.fail_all(cx, st);
                }
            }
            None => {
                if !self.drain_listed {
                    self.drain_listed = true;
                    cx.sh.list_draining(cx.entry);
                }
            }
        }
    }

    /// Fails every pending data operation and disconnect with `st`.
    fn fail_all(&mut self, cx: &mut Cx<'_>, st: NtStatus) {
        for p in self.recvs.drain(..) {
            p.finish(st, cx.out);
        }
        for p in self.sends.drain(..) {
            p.finish(st, cx.out);
        }
        if let Disc::WaitSends(p) | Disc::Draining(p) = std::mem::replace(&mut self.disc, Disc::None) {
            p.finish(st, cx.out);
        }
    }

    /// Ends the connection with RST: pending data operations and disconnect complete with `st`,
    /// and every later data call fails with it.
    pub fn abort(&mut self, cx: &mut Cx<'_>, st: NtStatus) {
        self.fail_all(cx, st);
        self.fault = Some(st);
        if let Some(s) = self.io.sock_ref() {
            // SO_LINGER {1, 0}: close() sends RST and drops whatever is queued.
            let _ = s.set_linger(Some(Duration::ZERO));
        }
        self.drop_io(cx.sh);
    }

    /// Closes the host socket for teardown (no wire action beyond the host's own close).
    pub fn close_io(&mut self, sh: &Shared) {
        self.drop_io(sh);
        self.closed = true;
    }

    /// Deregisters and closes the host socket.
    fn drop_io(&mut self, sh: &Shared) {
        if let Some(fd) = self.io.raw_fd() {
            let _ = sh.registry.deregister(&mut SourceFd(&fd));
        }
        self.io = Io::None;
    }

    // ---- cancel and close ----------------------------------------------------------------------

    /// `IoCancelIrp` on operation `op` (Windows profile). A receive that already holds data
    /// completes with success and that data.
    pub fn cancel(&mut self, cx: &mut Cx<'_>, op: u64) {
        let take = |q: &mut VecDeque<Pending>| q.iter().position(|p| p.op == op).and_then(|i| q.remove(i));
        if let Some(p) = take(&mut self.recvs) {
            let st = if p.progress > 0 {
                NtStatus::STATUS_SUCCESS
            } else {
                NtStatus::STATUS_CANCELLED
            };
            p.finish_value_recv(st, cx.out);
        } else if let Some(p) = take(&mut self.sends) {
            p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            // A partly written send leaves a hole in the stream: the connection cannot go on.
            if self.sends.iter().any(|q| q.progress > 0) {
                self.abort(cx, NtStatus::STATUS_CONNECTION_ABORTED);
            }
        } else if let Some(p) = take(&mut self.accepts) {
            p.finish(NtStatus::STATUS_CANCELLED, cx.out);
        } else if matches!(&self.conn, Conn::Connecting(p) if p.op == op) {
            if let Conn::Connecting(p) = std::mem::replace(&mut self.conn, Conn::Idle) {
                p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            }
            // The half-open attempt cannot be taken back on the same host socket.
            self.abort(cx, NtStatus::STATUS_INVALID_DEVICE_STATE);
        } else if matches!(&self.disc, Disc::WaitSends(p) | Disc::Draining(p) if p.op == op) {
            if let Disc::WaitSends(p) | Disc::Draining(p) = std::mem::replace(&mut self.disc, Disc::Done) {
                p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            }
        }
    }

    /// `WskCloseSocket`: cancels everything pending, ends the connection, completes the close.
    fn close(&mut self, cx: &mut Cx<'_>, p: Pending) {
        let st = NtStatus::STATUS_CANCELLED;
        for q in self
            .accepts
            .drain(..)
            .chain(self.recvs.drain(..))
            .chain(self.sends.drain(..))
        {
            q.finish(st, cx.out);
        }
        if let Conn::Connecting(q) = std::mem::replace(&mut self.conn, Conn::Idle) {
            q.finish(st, cx.out);
        }
        let graceful_done = matches!(self.disc, Disc::Done);
        if let Disc::WaitSends(q) | Disc::Draining(q) = std::mem::replace(&mut self.disc, Disc::Done) {
            q.finish(st, cx.out);
        }
        // Windows: a connection not gracefully disconnected is reset by the close (this is how a
        // close forces a pending graceful disconnect to end). Wine's closesocket ends with FIN.
        let reset = cx.profile() == Profile::Windows && cx.entry.kind == SocketKind::Stream && !graceful_done;
        if reset {
            if let Some(s) = self.io.sock_ref() {
                let _ = s.set_linger(Some(Duration::ZERO));
            }
        }
        self.drop_io(cx.sh);
        self.closed = true;
        cx.sh.forget_socket(cx.entry.id);
        let mut done = Done::new(p.op, p.done, OpOutput::status(NtStatus::STATUS_SUCCESS));
        done.closes = Some(cx.entry.id);
        cx.out.push(done);
    }

    /// Takes every pending operation out, for teardown.
    pub fn drain_all(&mut self, out: &mut Vec<Done>) {
        let st = NtStatus::STATUS_CANCELLED;
        for q in self
            .accepts
            .drain(..)
            .chain(self.recvs.drain(..))
            .chain(self.sends.drain(..))
        {
            q.finish(st, out);
        }
        if let Conn::Connecting(q) = std::mem::replace(&mut self.conn, Conn::Idle) {
            q.finish(st, out);
        }
        if let Disc::WaitSends(q) | Disc::Draining(q) = std::mem::replace(&mut self.disc, Disc::Done) {
            q.finish(st, out);
        }
    }

    // ---- readiness -----------------------------------------------------------------------------

    /// A readiness event arrived.
    pub fn on_event(&mut self, cx: &mut Cx<'_>, ev: &mio::event::Event) {
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.readable = true;
        }
        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
            self.writable = true;
        }
        self.pump(cx);
    }

    /// Moves every queue as far as the host socket allows.
    pub fn pump(&mut self, cx: &mut Cx<'_>) {
        if self.closed {
            return;
        }
        self.pump_connect(cx);
        self.pump_accepts(cx);
        self.pump_data(cx);
        self.pump_disconnect(cx);
    }
}

impl Pending {
    /// Finishes a receive or receive-from: a datagram's sender is in `addr`.
    fn finish_value_recv(self, st: NtStatus, out: &mut Vec<Done>) {
        match self.addr {
            Some(a) if st.is_success() => self.finish_value(st, OpValue::Address(a), out),
            Some(_) | None => self.finish(st, out),
        }
    }
}

/// Registers an accepted connection as a new socket.
fn accepted(
    sh: &Arc<Shared>,
    listener: &Arc<SockEntry>,
    stream: TcpStream,
) -> io::Result<(crate::host::HostSocket, SocketAddr)> {
    stream.set_nonblocking(true)?;
    let local = stream.local_addr()?;
    let socket = sh.adopt(SocketKind::Stream, listener.family, Io::Stream(stream), true)?;
    Ok((socket, local))
}

/// One attempt to move a send (or send-to) on.
fn send_step(io: &Io, p: &mut Pending, writable: &mut bool, profile: Profile) -> Step {
    let Some(buf) = p.buf.as_ref() else {
        return Step::Finished(NtStatus::STATUS_INVALID_PARAMETER);
    };
    let data = buf.as_slice();
    loop {
        let r = match io {
            Io::Stream(s) => {
                if p.progress >= data.len() {
                    return Step::Finished(NtStatus::STATUS_SUCCESS);
                }
                (&*s).write(&data[p.progress..])
            }
            Io::Dgram(u) => match p.addr {
                Some(a) => match u.send_to(data, a) {
                    Ok(n) => {
                        p.progress = n;
                        return Step::Finished(NtStatus::STATUS_SUCCESS);
                    }
                    Err(e) => Err(e),
                },
                None => return Step::Finished(NtStatus::STATUS_INVALID_PARAMETER),
            },
            Io::None | Io::Listener(_) => return Step::Finished(NtStatus::STATUS_INVALID_DEVICE_STATE),
        };
        match r {
            Ok(0) => return Step::Finished(NtStatus::STATUS_CONNECTION_DISCONNECTED),
            Ok(n) => p.progress += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *writable = false;
                return Step::Blocked;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Step::Finished(from_io(profile, &e)),
        }
    }
}

/// One attempt to move a receive (or receive-from) on.
fn recv_step(io: &Io, p: &mut Pending, readable: &mut bool, profile: Profile) -> Step {
    let Some(buf) = p.buf.as_mut() else {
        return Step::Finished(NtStatus::STATUS_INVALID_PARAMETER);
    };
    let data = buf.as_mut_slice();
    loop {
        let r = match io {
            Io::Stream(s) => (&*s).read(&mut data[p.progress..]),
            Io::Dgram(u) => match u.recv_from(data) {
                Ok((n, from)) => {
                    p.addr = Some(from);
                    p.progress = n;
                    return Step::Finished(NtStatus::STATUS_SUCCESS);
                }
                Err(e) => Err(e),
            },
            Io::None | Io::Listener(_) => return Step::Finished(NtStatus::STATUS_INVALID_DEVICE_STATE),
        };
        match r {
            // The peer's FIN: success with what we have (0 bytes: end of stream).
            Ok(0) => return Step::Finished(NtStatus::STATUS_SUCCESS),
            Ok(n) => {
                p.progress += n;
                if !p.waitall || p.progress == data.len() {
                    return Step::Finished(NtStatus::STATUS_SUCCESS);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *readable = false;
                return Step::Blocked;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Data already received is not lost: report it; the error shows on the next call.
            Err(_) if p.progress > 0 => return Step::Finished(NtStatus::STATUS_SUCCESS),
            Err(e) => return Step::Finished(from_io(profile, &e)),
        }
    }
}

/// Registers a host socket with the event loop.
pub(crate) fn register(sh: &Shared, io: &Io, id: u64) -> io::Result<()> {
    match io.raw_fd() {
        Some(fd) => sh.registry.register(
            &mut SourceFd(&fd),
            SockEntry::token(id),
            Interest::READABLE | Interest::WRITABLE,
        ),
        None => Ok(()),
    }
}
