//! How a socket's operations move: accept, connect, data, disconnect, cancel and close (the
//! second half of [`SockState`]; the first half, in `sock.rs`, starts calls and does the local
//! ones). Same rules as there: the socket's mutex is held, nothing is called out, finished
//! operations go to `cx.out`.

use super::hostio::{recv_step, send_step, Io, Step};
use super::outq;
use super::shared::{Done, Shared};
use super::sock::{Conn, Cx, Disc, Pending, SockEntry, SockState, Started};
use crate::profile::Profile;
use crate::status::from_io;
use mio::unix::SourceFd;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{Family, OpOutput, OpValue, SocketKind};

impl SockState {
    // ---- accept and connect ------------------------------------------------------------------

    pub(super) fn start_accept(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
        if !self.listening {
            // Wine's AcceptEx on an unbound socket fails with WSAEINVAL.
            let st = match cx.profile() {
                Profile::Windows => NtStatus::STATUS_INVALID_DEVICE_STATE,
                Profile::Wine8 => NtStatus::STATUS_INVALID_PARAMETER,
            };
            p.finish(st, cx.out);
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

    pub(super) fn pump_accepts(&mut self, cx: &mut Cx<'_>) {
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

    pub(super) fn start_connect(&mut self, cx: &mut Cx<'_>, p: Pending, addr: SocketAddr) -> Started {
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

    pub(super) fn pump_connect(&mut self, cx: &mut Cx<'_>) {
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
                // Data calls queued behind the connect fail with it; the connection it was to be
                // has failed, which ends a wait for its end.
                for q in self.recvs.drain(..).chain(self.sends.drain(..)) {
                    q.finish(st, cx.out);
                }
                self.finish_watches(st, cx.out);
            }
        }
    }

    // ---- data ----------------------------------------------------------------------------------

    pub(super) fn start_send(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
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

    pub(super) fn enqueue_send(&mut self, cx: &mut Cx<'_>, mut p: Pending) -> Started {
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

    pub(super) fn start_receive(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
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
    pub(super) fn note_error(&mut self, st: NtStatus) -> NtStatus {
        // ETIMEDOUT on an established connection: keepalive (or retransmission) gave up on it.
        if st == NtStatus::STATUS_CONNECTION_RESET
            || st == NtStatus::STATUS_CONNECTION_ABORTED
            || st == NtStatus::STATUS_IO_TIMEOUT
        {
            self.fault.get_or_insert(st);
        }
        st
    }

    pub(super) fn pump_data(&mut self, cx: &mut Cx<'_>) {
        if !matches!(self.conn, Conn::Connected | Conn::Idle) {
            return;
        }
        let profile = cx.profile();
        if let Some(f) = self.fault {
            // The connection is gone (a reset seen by an earlier operation): Linux would now
            // report end of stream, WSK keeps reporting the reset.
            self.fail_all(cx, f);
            return;
        }
        while self.readable && self.fault.is_none() {
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
        while self.writable && self.fault.is_none() {
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
        if let Some(f) = self.fault {
            self.fail_all(cx, f);
        }
    }

    // ---- the end of the connection (wait_peer_close) --------------------------------------------

    pub(super) fn start_watch(&mut self, cx: &mut Cx<'_>, p: Pending) -> Started {
        if matches!(self.conn, Conn::Idle) && self.fault.is_none() {
            // Not connected (never, or its connect failed): nothing to watch.
            p.finish(NtStatus::STATUS_INVALID_DEVICE_STATE, cx.out);
            return Started { pending: false };
        }
        let op = p.op;
        self.watches.push_back(p);
        self.pump_watches(cx);
        Started {
            pending: self.watches.iter().any(|q| q.op == op),
        }
    }

    /// Completes the waits for the end of the connection if it ended: a failure recorded or
    /// pending on the host socket (a reset, keepalive's ETIMEDOUT, a local abort) first, then
    /// the peer's FIN. Nothing is read: data still queued stays for the receives.
    pub(super) fn pump_watches(&mut self, cx: &mut Cx<'_>) {
        if self.watches.is_empty() || matches!(self.conn, Conn::Connecting(_)) {
            return;
        }
        if self.fault.is_none() {
            if let Some(Ok(Some(e))) = self.io.sock_ref().map(|s| s.take_error()) {
                let st = self.note_error(cx.err(&e));
                if self.fault.is_none() {
                    self.fault = Some(st);
                }
            }
        }
        let how = match self.fault {
            Some(f) => f,
            None if self.peer_fin => NtStatus::STATUS_SUCCESS,
            None => return,
        };
        self.finish_watches(how, cx.out);
    }

    /// Completes every wait for the end of the connection: it ended `how`.
    pub(super) fn finish_watches(&mut self, how: NtStatus, out: &mut Vec<Done>) {
        for p in self.watches.drain(..) {
            p.finish_value(NtStatus::STATUS_SUCCESS, OpValue::PeerClosed(how), out);
        }
    }

    // ---- disconnect ----------------------------------------------------------------------------

    pub(super) fn start_disconnect(&mut self, cx: &mut Cx<'_>, p: Pending, abortive: bool) -> Started {
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

    /// Fails every pending data operation and disconnect with `st` (the connection ended so:
    /// the waits for its end complete).
    pub(super) fn fail_all(&mut self, cx: &mut Cx<'_>, st: NtStatus) {
        self.finish_watches(st, cx.out);
        for p in self.recvs.drain(..) {
            p.finish(st, cx.out);
        }
        for p in self.sends.drain(..) {
            p.finish(st, cx.out);
        }
        if matches!(self.disc, Disc::WaitSends(_) | Disc::Draining(_)) {
            if let Disc::WaitSends(p) | Disc::Draining(p) = std::mem::replace(&mut self.disc, Disc::Done) {
                p.finish(st, cx.out);
            }
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
    pub(super) fn drop_io(&mut self, sh: &Shared) {
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
            // A send part of which the host socket took cannot be taken back: going on would
            // splice the next send onto its truncated data, so the connection is aborted (RST).
            let partial = p.progress > 0;
            p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            if partial {
                self.abort(cx, NtStatus::STATUS_CONNECTION_ABORTED);
            }
        } else if let Some(p) = take(&mut self.watches) {
            p.finish(NtStatus::STATUS_CANCELLED, cx.out);
        } else if let Some(p) = take(&mut self.accepts) {
            p.finish(NtStatus::STATUS_CANCELLED, cx.out);
        } else if matches!(&self.conn, Conn::Connecting(p) if p.op == op) {
            if let Conn::Connecting(p) = std::mem::replace(&mut self.conn, Conn::Idle) {
                p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            }
            // The half-open attempt cannot be taken back on the same host socket.
            self.abort(cx, NtStatus::STATUS_INVALID_DEVICE_STATE);
        } else if matches!(&self.disc, Disc::WaitSends(p) if p.op == op) {
            // Cancelled before its FIN went out: the connection is not disconnected (a later
            // disconnect may still send it, and a close without one resets).
            if let Disc::WaitSends(p) = std::mem::replace(&mut self.disc, Disc::None) {
                p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            }
        } else if matches!(&self.disc, Disc::Draining(p) if p.op == op) {
            // The FIN is out: only the wait for the peer's acknowledgement is given up.
            if let Disc::Draining(p) = std::mem::replace(&mut self.disc, Disc::Done) {
                p.finish(NtStatus::STATUS_CANCELLED, cx.out);
            }
        }
    }

    /// `WskCloseSocket`: cancels everything pending, ends the connection, completes the close.
    pub(super) fn close(&mut self, cx: &mut Cx<'_>, p: Pending) {
        let st = NtStatus::STATUS_CANCELLED;
        for q in self
            .accepts
            .drain(..)
            .chain(self.recvs.drain(..))
            .chain(self.sends.drain(..))
            .chain(self.watches.drain(..))
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
            .chain(self.watches.drain(..))
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
        if ev.is_read_closed() && matches!(self.conn, Conn::Connected) {
            self.peer_fin = true;
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
        self.pump_watches(cx);
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
