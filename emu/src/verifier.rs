//! [`Verifier`]: the contract checker around any provider, like Driver Verifier around a driver.
//!
//! `Verifier<P>` is itself a [`Provider`]: every call goes through its [`Checker`] and then to
//! `P`; every completion comes back through it. A cancel is a call on its operation's socket
//! like any other ([`VerifiedOp`] remembers which): it may not come during or after that socket's
//! close, and a close may not come while it is in progress. A call the checker refuses (on a socket whose
//! close was called, after teardown) is not passed on — in WSK it would touch freed memory — but
//! completed at once with STATUS_INVALID_HANDLE (STATUS_DEVICE_NOT_READY after teardown), its
//! buffer given back. Dropping the verifier tears the checker down (records what is still alive),
//! so keep [`Verifier::checker`] to assert on afterwards.
//!
//! ```no_run
//! use wsksock_emu::{HostProvider, Verifier};
//! let v = Verifier::new(HostProvider::new().unwrap());
//! let checker = v.checker();
//! // ... hand `v` to the engine, run the test ...
//! drop(v);
//! checker.assert_clean();
//! ```

use crate::checker::{Call, Checker};
use std::net::SocketAddr;
use std::sync::Arc;
use wsksock_abi::NtStatus;
use wsksock_core::{
    AddrKind, Completion, CompletionSink, Family, OpOutput, Provider, SockOpt, SocketKind, SocketParams,
    TimerCallback,
};

/// A socket seen through a [`Verifier`]: the inner provider's socket and the checker's id.
pub struct VerifiedSocket<S> {
    id: u64,
    inner: S,
}

impl<S> VerifiedSocket<S> {
    /// The checker's id ("socket #id" in its messages).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The inner provider's socket.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for VerifiedSocket<S> {
    fn clone(&self) -> Self {
        VerifiedSocket {
            id: self.id,
            inner: self.inner.clone(),
        }
    }
}

impl<S> core::fmt::Debug for VerifiedSocket<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VerifiedSocket(#{})", self.id)
    }
}

/// An operation seen through a [`Verifier`]: the inner provider's reference and the checker's id
/// of the socket it was issued on (`None`: create, resolve).
#[derive(Clone)]
pub struct VerifiedOp<O> {
    socket: Option<u64>,
    inner: O,
}

impl<O> VerifiedOp<O> {
    /// The inner provider's reference.
    pub fn inner(&self) -> &O {
        &self.inner
    }
}

impl<O> core::fmt::Debug for VerifiedOp<O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VerifiedOp(socket {:?})", self.socket)
    }
}

fn global<O>(inner: Option<O>) -> Option<VerifiedOp<O>> {
    inner.map(|inner| VerifiedOp { socket: None, inner })
}

/// Checks the WSK contract of every call made through it to `P`.
pub struct Verifier<P: Provider> {
    inner: P,
    checker: Arc<Checker>,
}

impl<P: Provider> Verifier<P> {
    /// Wraps `inner` with a new checker named "verifier".
    pub fn new(inner: P) -> Self {
        Verifier {
            inner,
            checker: Arc::new(Checker::new("verifier")),
        }
    }

    /// The checker.
    pub fn checker(&self) -> Arc<Checker> {
        Arc::clone(&self.checker)
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// `WskDeregister`: records every socket still open; later calls are violations.
    pub fn deregister(&self) {
        self.checker.deregister();
    }

    /// Records what is still alive (pending operations, open sockets); later calls are
    /// violations. Dropping the verifier does the same.
    pub fn teardown(&self) {
        self.checker.teardown();
    }

    /// Wraps the caller's completion for the inner provider.
    fn wrap(
        &self,
        op: u64,
        call: Call,
        socket: Option<u64>,
        label: Option<String>,
        done: Completion<Self>,
    ) -> Completion<P> {
        Completion::new(Box::new(VerifierSink {
            checker: Arc::clone(&self.checker),
            op,
            call,
            socket,
            label,
            outer: done,
        }))
    }

    /// A call on a socket: checks, then passes on (or refuses).
    fn on_socket(
        &self,
        s: &VerifiedSocket<P::Socket>,
        call: Call,
        buf: Option<P::Buffer>,
        done: Completion<Self>,
        pass: impl FnOnce(&P, &P::Socket, Option<P::Buffer>, Completion<P>) -> Option<P::OpRef>,
    ) -> Option<VerifiedOp<P::OpRef>> {
        let (guard, ok) = if call == Call::Close {
            self.checker.enter_close(s.id)
        } else {
            self.checker.enter(s.id, call)
        };
        let op = self.checker.op_started(Some(s.id), call);
        if !ok {
            self.checker.op_completed(op);
            done.complete(OpOutput::data(NtStatus::STATUS_INVALID_HANDLE, 0, buf));
            return None;
        }
        let inner_done = self.wrap(op, call, Some(s.id), None, done);
        let r = pass(&self.inner, &s.inner, buf, inner_done);
        drop(guard);
        r.map(|inner| VerifiedOp {
            socket: Some(s.id),
            inner,
        })
    }
}

impl<P: Provider> Drop for Verifier<P> {
    fn drop(&mut self) {
        self.checker.teardown();
    }
}

struct VerifierSink<P: Provider> {
    checker: Arc<Checker>,
    op: u64,
    call: Call,
    socket: Option<u64>,
    /// Label of the socket a create makes.
    label: Option<String>,
    outer: Completion<Verifier<P>>,
}

impl<P: Provider> CompletionSink<P> for VerifierSink<P> {
    fn complete(self: Box<Self>, out: OpOutput<P>) {
        let c = &self.checker;
        c.op_completed(self.op);
        if self.call.has_buffer() && out.buffer.is_none() {
            c.buffer_not_returned(self.op, self.call);
        }
        if self.call == Call::Close {
            if let Some(s) = self.socket {
                c.close_completed(s);
            }
        }
        let out = out.map_socket(|inner, accepted| {
            let label = if accepted {
                format!("accepted on socket #{}", self.socket.unwrap_or(0))
            } else {
                self.label.as_deref().unwrap_or("socket").to_string()
            };
            VerifiedSocket {
                id: c.socket_created(&label),
                inner,
            }
        });
        self.outer.complete(out);
    }
}

impl<P: Provider> Provider for Verifier<P> {
    type Socket = VerifiedSocket<P::Socket>;
    type Buffer = P::Buffer;
    type OpRef = VerifiedOp<P::OpRef>;
    type TimerRef = P::TimerRef;
    type RawLock = P::RawLock;

    fn new_raw_lock(&self) -> Self::RawLock {
        self.inner.new_raw_lock()
    }

    fn create_socket(&self, params: SocketParams, done: Completion<Self>) -> Option<Self::OpRef> {
        let op = self.checker.op_started(None, Call::CreateSocket);
        if !self.checker.enter_global(Call::CreateSocket) {
            self.checker.op_completed(op);
            done.complete(OpOutput::status(NtStatus::STATUS_DEVICE_NOT_READY));
            return None;
        }
        let kind = match params.kind {
            SocketKind::Stream => "stream",
            SocketKind::Datagram => "datagram",
            SocketKind::Listen => "listen",
        };
        let label = format!("{kind}/{:?}", params.family);
        let d = self.wrap(op, Call::CreateSocket, None, Some(label), done);
        global(self.inner.create_socket(params, d))
    }

    fn bind(&self, s: &Self::Socket, local: SocketAddr, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Bind, None, done, |p, s, _, d| p.bind(s, local, d))
    }

    fn listen(&self, s: &Self::Socket, backlog: u32, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Listen, None, done, |p, s, _, d| p.listen(s, backlog, d))
    }

    fn accept(&self, s: &Self::Socket, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Accept, None, done, |p, s, _, d| p.accept(s, d))
    }

    fn connect(&self, s: &Self::Socket, remote: SocketAddr, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Connect, None, done, |p, s, _, d| p.connect(s, remote, d))
    }

    fn send(
        &self,
        s: &Self::Socket,
        buf: P::Buffer,
        flags: u32,
        done: Completion<Self>,
    ) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Send, Some(buf), done, |p, s, b, d| match b {
            Some(b) => p.send(s, b, flags, d),
            None => None,
        })
    }

    fn receive(
        &self,
        s: &Self::Socket,
        buf: P::Buffer,
        flags: u32,
        done: Completion<Self>,
    ) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Receive, Some(buf), done, |p, s, b, d| match b {
            Some(b) => p.receive(s, b, flags, d),
            None => None,
        })
    }

    fn send_to(
        &self,
        s: &Self::Socket,
        buf: P::Buffer,
        remote: SocketAddr,
        done: Completion<Self>,
    ) -> Option<Self::OpRef> {
        self.on_socket(s, Call::SendTo, Some(buf), done, |p, s, b, d| match b {
            Some(b) => p.send_to(s, b, remote, d),
            None => None,
        })
    }

    fn receive_from(&self, s: &Self::Socket, buf: P::Buffer, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::ReceiveFrom, Some(buf), done, |p, s, b, d| match b {
            Some(b) => p.receive_from(s, b, d),
            None => None,
        })
    }

    fn disconnect(&self, s: &Self::Socket, abortive: bool, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Disconnect, None, done, |p, s, _, d| {
            p.disconnect(s, abortive, d)
        })
    }

    fn close(&self, s: &Self::Socket, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::Close, None, done, |p, s, _, d| p.close(s, d))
    }

    fn set_option(
        &self,
        s: &Self::Socket,
        opt: SockOpt,
        value: u32,
        done: Completion<Self>,
    ) -> Option<Self::OpRef> {
        self.on_socket(s, Call::SetOption, None, done, |p, s, _, d| {
            p.set_option(s, opt, value, d)
        })
    }

    fn get_option(&self, s: &Self::Socket, opt: SockOpt, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::GetOption, None, done, |p, s, _, d| {
            p.get_option(s, opt, d)
        })
    }

    fn get_address(&self, s: &Self::Socket, which: AddrKind, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::GetAddress, None, done, |p, s, _, d| {
            p.get_address(s, which, d)
        })
    }

    fn wait_peer_close(&self, s: &Self::Socket, done: Completion<Self>) -> Option<Self::OpRef> {
        self.on_socket(s, Call::WaitPeerClose, None, done, |p, s, _, d| {
            p.wait_peer_close(s, d)
        })
    }

    fn resolve(
        &self,
        node: &str,
        family: Option<Family>,
        port: u16,
        done: Completion<Self>,
    ) -> Option<Self::OpRef> {
        let op = self.checker.op_started(None, Call::Resolve);
        if !self.checker.enter_global(Call::Resolve) {
            self.checker.op_completed(op);
            done.complete(OpOutput::status(NtStatus::STATUS_DEVICE_NOT_READY));
            return None;
        }
        let d = self.wrap(op, Call::Resolve, None, None, done);
        global(self.inner.resolve(node, family, port, d))
    }

    fn cancel(&self, op: &Self::OpRef) {
        let Some(socket) = op.socket else {
            self.inner.cancel(&op.inner);
            return;
        };
        // A cancel reaches into the socket (WSK's cancel routine): not during or after its
        // close, and the close must wait for it.
        let (guard, ok) = self.checker.enter(socket, Call::Cancel);
        if ok {
            self.inner.cancel(&op.inner);
        }
        drop(guard);
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<P::TimerRef> {
        self.inner.new_timer(callback)
    }

    fn arm_timer(&self, timer: &P::TimerRef, delay_ms: u64, cookie: u64) {
        self.inner.arm_timer(timer, delay_ms, cookie);
    }

    fn cancel_timer(&self, timer: &P::TimerRef) -> bool {
        self.inner.cancel_timer(timer)
    }

    fn allocation_fails(&self) -> bool {
        self.inner.allocation_fails()
    }
}
