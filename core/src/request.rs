//! The front end's side: one client request (an IRP in the driver, a message in host mode).
//!
//! The engine decodes the request's input, validates it, routes it, and completes it exactly
//! once through [`Request::complete`].

use crate::provider::Provider;
use wsksock_abi::NtStatus;

/// Who issued the request (`Irp->RequestorMode`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RequestorMode {
    /// A kernel component (IRP_MJ_INTERNAL_DEVICE_CONTROL or a kernel-mode DeviceIoControl).
    Kernel,
    /// A user-mode process: nothing it sends is trusted.
    User,
}

/// Where a data operation's buffer is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DataSource {
    /// The request's direct-I/O output buffer (`Irp->MdlAddress`), from `offset` to its end.
    Direct {
        /// Bytes to skip (RECEIVE_FROM puts its reply header first).
        offset: usize,
    },
    /// A non-paged kernel buffer named in a `*_KERNEL` request (kernel requestors only).
    Kernel {
        /// Its address.
        addr: u64,
        /// Its length.
        len: u64,
    },
}

/// What a cancel token cancels, in its target's tables.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CancelTag {
    /// An operation (a socket's, or a client's unbound one).
    Op(crate::slab::Key),
    /// A CLOSE waiting for its socket's teardown.
    Waiter(crate::slab::Key),
}

/// What a cancel token reaches: the engine object (a socket, a client) that can cancel `tag`.
pub(crate) trait CancelTarget: Send + Sync {
    /// Asks for the cancel of `tag`.
    fn cancel(&self, tag: CancelTag);
}

#[cfg(loom)]
impl<T: CancelTarget> CancelTarget for crate::sync::Arc<T> {
    fn cancel(&self, tag: CancelTag) {
        (**self).cancel(tag);
    }
}

/// Cancels the operation a pending request is waiting on (`IoCancelIrp`/`CancelIoEx` on the
/// request reaches the engine through this). Asking twice, or after completion, does nothing.
/// Holds a reference to the socket (or client) and the operation's tag: no allocation.
pub struct CancelToken {
    target: crate::sync::DynArc<dyn CancelTarget>,
    tag: CancelTag,
}

impl CancelToken {
    /// The cancel of `tag` of `target`.
    pub(crate) fn new(target: crate::sync::DynArc<dyn CancelTarget>, tag: CancelTag) -> Self {
        CancelToken { target, tag }
    }

    /// Asks for cancellation; the request still completes exactly once, maybe with success.
    pub fn cancel(&self) {
        self.target.cancel(self.tag);
    }
}

impl core::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CancelToken")
    }
}

/// What [`Request::set_cancel`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CancelArm {
    /// The front end keeps the token (and armed its cancel routine, if it has one).
    Armed,
    /// The request was already cancelled (its cancel routine can no longer be armed): the
    /// engine treats it as cancelled now. The token was dropped.
    Cancelled,
    /// The front end could not keep the token for want of memory: the engine refuses the
    /// request (STATUS_INSUFFICIENT_RESOURCES) before it starts anything.
    NoMemory,
}

/// One request from a client.
pub trait Request<P: Provider>: Send + 'static {
    /// The control code.
    fn code(&self) -> u32;
    /// Who sent it.
    fn requestor(&self) -> RequestorMode;
    /// The process that sent a user-mode request, as the provider names it (the driver: the
    /// requesting thread's `PEPROCESS`, valid while the request is pending). Read only for
    /// user-mode requests: sockets a user-mode client creates belong to its process
    /// ([`crate::Owner`]).
    fn process(&self) -> u64;
    /// The request struct (the input buffer).
    fn input(&self) -> &[u8];
    /// Size of the output buffer.
    fn output_len(&self) -> usize;
    /// Describes the data buffer for a data operation without copying. `write` is true when the
    /// provider will write into it (receives). Called at most once, only for data operations.
    fn take_buffer(&mut self, source: DataSource, write: bool) -> Result<P::Buffer, NtStatus>;
    /// Hands the front end the way to cancel this request while it is pending. Called with an
    /// engine lock held: it must only store the token (and arm its cancel routine), never call
    /// into the engine. The token keeps the socket object alive: drop it when the request
    /// completes. If the request was already cancelled, say so ([`CancelArm::Cancelled`]): the
    /// engine cancels it itself once its lock is released.
    fn set_cancel(&mut self, token: CancelToken) -> CancelArm {
        drop(token);
        CancelArm::Armed
    }
    /// Allocates now what a later [`Request::set_cancel`] needs, so that it cannot answer
    /// [`CancelArm::NoMemory`]: for a request the engine must not refuse by then (a waiting
    /// CLOSE, once its handle left the table). Fails only for want of memory.
    fn reserve_cancel(&mut self) -> Result<(), crate::mem::AllocError> {
        Ok(())
    }
    /// Completes the request: `reply` goes at the start of the output buffer, `information` is
    /// `IoStatus.Information`, `buffer` is the data buffer given back.
    fn complete(self, status: NtStatus, reply: &[u8], information: usize, buffer: Option<P::Buffer>);
}
