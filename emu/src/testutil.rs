//! Helpers for tests that drive a provider directly: a [`Completion`] whose result arrives on a
//! channel, waited for with a timeout so a hang fails the test instead of sticking.
//!
//! ```no_run
//! use wsksock_core::{Family, Owner, Provider, SocketKind, SocketParams};
//! use wsksock_emu::{testutil::completion, HostProvider};
//! let p = HostProvider::new().unwrap();
//! let (done, waiter) = completion::<HostProvider>();
//! let params = SocketParams { family: Family::V4, kind: SocketKind::Stream, owner: Owner::System };
//! p.create_socket(params, done);
//! let out = waiter.wait();
//! assert!(out.status.is_success());
//! ```

use std::sync::mpsc;
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, CompletionSink, OpOutput, OpValue, Provider};

/// How long [`Waiter::wait`] waits before failing the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

struct ChannelSink<P: Provider>(mpsc::Sender<OpOutput<P>>);

impl<P: Provider> CompletionSink<P> for ChannelSink<P> {
    fn complete(self: Box<Self>, output: OpOutput<P>) {
        // The test may have given up waiting; the result is then dropped.
        let _ = self.0.send(output);
    }
}

/// The receiving end of a [`completion`].
pub struct Waiter<P: Provider> {
    rx: mpsc::Receiver<OpOutput<P>>,
}

/// A completion and the waiter that receives its result.
pub fn completion<P: Provider>() -> (Completion<P>, Waiter<P>) {
    let (tx, rx) = mpsc::channel();
    (Completion::new(Box::new(ChannelSink(tx))), Waiter { rx })
}

impl<P: Provider> Waiter<P> {
    /// The result, waiting at most [`DEFAULT_TIMEOUT`]; panics if it does not come.
    #[track_caller]
    pub fn wait(&self) -> OpOutput<P> {
        self.wait_for(DEFAULT_TIMEOUT)
    }

    /// The result, waiting at most `timeout`; panics if it does not come.
    #[track_caller]
    pub fn wait_for(&self, timeout: Duration) -> OpOutput<P> {
        match self.rx.recv_timeout(timeout) {
            Ok(out) => out,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("operation did not complete within {timeout:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("completion dropped without a result"),
        }
    }

    /// The result if it came within `timeout`.
    pub fn try_wait(&self, timeout: Duration) -> Option<OpOutput<P>> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The result if it already came.
    pub fn poll(&self) -> Option<OpOutput<P>> {
        self.rx.try_recv().ok()
    }

    /// Panics if the operation completes within `period` (it must still be pending).
    #[track_caller]
    pub fn assert_pending(&self, period: Duration) {
        if let Some(out) = self.try_wait(period) {
            panic!(
                "operation completed with {:?} but should still be pending",
                out.status
            );
        }
    }

    /// The status, waiting as [`Waiter::wait`] does.
    #[track_caller]
    pub fn status(&self) -> NtStatus {
        self.wait().status
    }
}

/// The socket an output carries ([`OpValue::Socket`] or [`OpValue::Accepted`]); panics if none.
#[track_caller]
pub fn socket_of<P: Provider>(out: OpOutput<P>) -> P::Socket {
    match out.value {
        OpValue::Socket(s) | OpValue::Accepted { socket: s, .. } => s,
        OpValue::None
        | OpValue::Address(_)
        | OpValue::Addresses(_)
        | OpValue::Value(_)
        | OpValue::PeerClosed(_) => {
            panic!("expected a socket, got status {:?} without one", out.status)
        }
    }
}

/// A buffer type the blocking helpers can fill and read (the emulator's [`crate::EmuBuffer`]).
pub trait TestBuffer: From<Vec<u8>> {
    /// The bytes the buffer describes.
    fn window(&self) -> &[u8];
}

impl TestBuffer for crate::EmuBuffer {
    fn window(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Drives a provider one call at a time: each method issues the call and waits (with
/// [`DEFAULT_TIMEOUT`]) for its completion.
pub struct Blocking<'a, P: Provider> {
    /// The provider.
    pub p: &'a P,
}

impl<'a, P: Provider> Blocking<'a, P> {
    /// Wraps a provider.
    pub fn new(p: &'a P) -> Self {
        Blocking { p }
    }

    /// `create_socket`.
    #[track_caller]
    pub fn create(&self, family: wsksock_core::Family, kind: wsksock_core::SocketKind) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.create_socket(
            wsksock_core::SocketParams {
                family,
                kind,
                owner: wsksock_core::Owner::System,
            },
            done,
        );
        w.wait()
    }

    /// `create_socket`, which must succeed.
    #[track_caller]
    pub fn socket(&self, family: wsksock_core::Family, kind: wsksock_core::SocketKind) -> P::Socket {
        let out = self.create(family, kind);
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS, "create_socket failed");
        socket_of(out)
    }

    /// `bind`.
    #[track_caller]
    pub fn bind(&self, s: &P::Socket, addr: std::net::SocketAddr) -> NtStatus {
        let (done, w) = completion();
        self.p.bind(s, addr, done);
        w.status()
    }

    /// `listen`.
    #[track_caller]
    pub fn listen(&self, s: &P::Socket, backlog: u32) -> NtStatus {
        let (done, w) = completion();
        self.p.listen(s, backlog, done);
        w.status()
    }

    /// `connect`.
    #[track_caller]
    pub fn connect(&self, s: &P::Socket, addr: std::net::SocketAddr) -> NtStatus {
        let (done, w) = completion();
        self.p.connect(s, addr, done);
        w.status()
    }

    /// `accept`.
    #[track_caller]
    pub fn accept(&self, s: &P::Socket) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.accept(s, done);
        w.wait()
    }

    /// `disconnect`.
    #[track_caller]
    pub fn disconnect(&self, s: &P::Socket, abortive: bool) -> NtStatus {
        let (done, w) = completion();
        self.p.disconnect(s, abortive, done);
        w.status()
    }

    /// `close`.
    #[track_caller]
    pub fn close(&self, s: &P::Socket) -> NtStatus {
        let (done, w) = completion();
        self.p.close(s, done);
        w.status()
    }

    /// `set_option`.
    #[track_caller]
    pub fn set_option(&self, s: &P::Socket, opt: wsksock_core::SockOpt, value: u32) -> NtStatus {
        let (done, w) = completion();
        self.p.set_option(s, opt, value, done);
        w.status()
    }

    /// `get_option`.
    #[track_caller]
    pub fn get_option(&self, s: &P::Socket, opt: wsksock_core::SockOpt) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.get_option(s, opt, done);
        w.wait()
    }

    /// `get_address`.
    #[track_caller]
    pub fn get_address(&self, s: &P::Socket, which: wsksock_core::AddrKind) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.get_address(s, which, done);
        w.wait()
    }

    /// `resolve`.
    #[track_caller]
    pub fn resolve(&self, node: &str, family: Option<wsksock_core::Family>, port: u16) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.resolve(node, family, port, done);
        w.wait()
    }
}

impl<P: Provider> Blocking<'_, P>
where
    P::Buffer: TestBuffer,
{
    /// `send` of `data`.
    #[track_caller]
    pub fn send(&self, s: &P::Socket, data: &[u8]) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.send(s, P::Buffer::from(data.to_vec()), 0, done);
        w.wait()
    }

    /// `receive` into a buffer of `len` bytes; the received bytes (empty on FIN) or the status.
    #[track_caller]
    pub fn receive(&self, s: &P::Socket, len: usize, flags: u32) -> Result<Vec<u8>, NtStatus> {
        let (done, w) = completion();
        self.p.receive(s, P::Buffer::from(vec![0; len]), flags, done);
        let out = w.wait();
        if !out.status.is_success() {
            return Err(out.status);
        }
        let buf = out.buffer.expect("a receive gives its buffer back");
        Ok(buf.window()[..out.bytes].to_vec())
    }

    /// `send_to` of `data`.
    #[track_caller]
    pub fn send_to(&self, s: &P::Socket, data: &[u8], to: std::net::SocketAddr) -> OpOutput<P> {
        let (done, w) = completion();
        self.p.send_to(s, P::Buffer::from(data.to_vec()), to, done);
        w.wait()
    }

    /// `receive_from` into a buffer of `len` bytes: the datagram and its sender, or the status.
    #[track_caller]
    pub fn receive_from(
        &self,
        s: &P::Socket,
        len: usize,
    ) -> Result<(Vec<u8>, std::net::SocketAddr), NtStatus> {
        let (done, w) = completion();
        self.p.receive_from(s, P::Buffer::from(vec![0; len]), done);
        let out = w.wait();
        if !out.status.is_success() {
            return Err(out.status);
        }
        let OpValue::Address(from) = out.value else {
            panic!("receive_from completed without the sender")
        };
        let buf = out.buffer.expect("a receive gives its buffer back");
        Ok((buf.window()[..out.bytes].to_vec(), from))
    }
}

/// Runs `f` on a thread and panics if it does not finish within `limit` (a hang fails the test;
/// the stuck thread is left behind). A panic in `f` is passed on.
#[track_caller]
pub fn with_timeout<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    // Disconnected: `f` panicked (its sender dropped); join passes the panic on.
    if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
        panic!("test did not finish within {limit:?} (hang?)");
    }
    match handle.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}
