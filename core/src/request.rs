//! The front end's side: one client request (an IRP in the driver, a message in host mode).
//!
//! The engine decodes the request's input, validates it, routes it, and completes it exactly
//! once through [`Request::complete`].

use crate::provider::Provider;
use alloc::boxed::Box;
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

/// Cancels the operation a pending request is waiting on (`IoCancelIrp`/`CancelIoEx` on the
/// request reaches the engine through this). Asking twice, or after completion, does nothing.
pub struct CancelToken(Box<dyn Fn() + Send + Sync>);

impl CancelToken {
    /// Wraps the engine's cancel action.
    pub(crate) fn new(f: Box<dyn Fn() + Send + Sync>) -> Self {
        CancelToken(f)
    }

    /// Asks for cancellation; the request still completes exactly once, maybe with success.
    pub fn cancel(&self) {
        (self.0)();
    }
}

impl core::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CancelToken")
    }
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
    /// completes.
    fn set_cancel(&mut self, token: CancelToken) {
        let _ = token;
    }
    /// Completes the request: `reply` goes at the start of the output buffer, `information` is
    /// `IoStatus.Information`, `buffer` is the data buffer given back.
    fn complete(self, status: NtStatus, reply: &[u8], information: usize, buffer: Option<P::Buffer>);
}
