//! The benchmarks' request: what an IRP is to the driver, without allocating on the hot path.
//!
//! Its input is a `&'static [u8]` built once per handle (like the driver's pointer and length into
//! the IRP's system buffer); its data buffer a [`BBuf`] descriptor. Setup requests carry a reply
//! slot; hot-path requests carry none and only count failures (a counter no thread touches while
//! everything succeeds, so it adds no sharing).

use super::alloc::excluded;
use super::provider::{BBuf, Instant};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wsksock_abi::msg::{
    CloseMode, CloseRequest, DataRequest, HandleRequest, Message, SocketKind, SocketRequest, StatisticsReply,
};
use wsksock_abi::{Handle, NtStatus, Op};
use wsksock_core::{CancelArm, CancelToken, DataSource, Request, RequestorMode};

/// Hot-path requests that completed with an error other than STATUS_CANCELLED (checked after
/// each benchmark).
pub static FAILURES: AtomicU64 = AtomicU64::new(0);

/// How a request completed.
pub type Reply = Arc<Mutex<Option<(NtStatus, Vec<u8>)>>>;

/// One request.
pub struct BReq {
    code: u32,
    input: &'static [u8],
    output_len: usize,
    data: Option<BBuf>,
    reply: Option<Reply>,
    cancel: Option<CancelToken>,
}

/// Leaks a request struct's bytes (built once per handle, outside every measurement).
pub fn leak<M: Message>(m: &M) -> &'static [u8] {
    excluded(|| Box::leak(m.as_bytes().to_vec().into_boxed_slice()))
}

/// SOCKET input (stream, IPv4).
pub fn socket_input() -> &'static [u8] {
    let mut m = SocketRequest::new_zeroed_with_header();
    m.family = wsksock_abi::addr::AF_INET;
    m.kind = SocketKind::Stream as u16;
    leak(&m)
}

/// SEND / RECEIVE input for `h`.
pub fn data_input(h: Handle) -> &'static [u8] {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    leak(&m)
}

/// STATISTICS (or CANCEL) input for `h`.
pub fn handle_input(h: Handle) -> &'static [u8] {
    let mut m = HandleRequest::new_zeroed_with_header();
    m.handle = h;
    leak(&m)
}

/// CLOSE input for `h` (default mode: graceful, cancels the receives issued through it).
pub fn close_input(h: Handle) -> &'static [u8] {
    let mut m = CloseRequest::new_zeroed_with_header();
    m.handle = h;
    m.mode = CloseMode::Default as u32;
    leak(&m)
}

impl BReq {
    fn new(op: Op, input: &'static [u8], output_len: usize, data: Option<BBuf>) -> Self {
        BReq {
            code: op.code(),
            input,
            output_len,
            data,
            reply: None,
            cancel: None,
        }
    }

    /// SEND of `len` bytes.
    pub fn send(input: &'static [u8], len: usize) -> Self {
        Self::new(Op::Send, input, len, Some(BBuf { len }))
    }

    /// RECEIVE into `len` bytes.
    pub fn receive(input: &'static [u8], len: usize) -> Self {
        Self::new(Op::Receive, input, len, Some(BBuf { len }))
    }

    /// STATISTICS of a socket.
    pub fn statistics(input: &'static [u8]) -> Self {
        Self::new(Op::Statistics, input, size_of::<StatisticsReply>(), None)
    }

    /// SOCKET.
    pub fn socket(input: &'static [u8]) -> Self {
        Self::new(Op::Socket, input, 64, None)
    }

    /// CLOSE.
    pub fn close(input: &'static [u8]) -> Self {
        Self::new(Op::Close, input, 64, None)
    }

    /// Keeps the completion in `slot` (setup requests).
    pub fn with_reply(mut self, slot: &Reply) -> Self {
        self.reply = Some(slot.clone());
        self
    }
}

/// A fresh reply slot.
pub fn slot() -> Reply {
    excluded(|| Arc::new(Mutex::new(None)))
}

impl Request<Instant> for BReq {
    fn code(&self) -> u32 {
        self.code
    }

    fn requestor(&self) -> RequestorMode {
        RequestorMode::Kernel
    }

    fn process(&self) -> u64 {
        0
    }

    fn input(&self) -> &[u8] {
        self.input
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn take_buffer(&mut self, _source: DataSource, _write: bool) -> Result<BBuf, NtStatus> {
        self.data.take().ok_or(NtStatus::STATUS_INVALID_BUFFER_SIZE)
    }

    fn set_cancel(&mut self, token: CancelToken) -> CancelArm {
        self.cancel = Some(token);
        CancelArm::Armed
    }

    fn complete(self, status: NtStatus, reply: &[u8], _information: usize, _buffer: Option<BBuf>) {
        match &self.reply {
            Some(slot) => excluded(|| *slot.lock() = Some((status, reply.to_vec()))),
            None => {
                if status.is_error() && status != NtStatus::STATUS_CANCELLED {
                    FAILURES.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
