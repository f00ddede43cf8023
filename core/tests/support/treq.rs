//! A test request: records how (and how often) the engine completed it.

use super::scripted::{Scripted, TBuf};
use super::sync::{Arc, Mutex};
use wsksock_abi::msg::HandleReply;
use wsksock_abi::{Handle, NtStatus, Op};
use wsksock_core::{AllocError, CancelArm, CancelToken, DataSource, Request, RequestorMode};

/// The process id user-mode test requests carry.
pub const TEST_PROCESS: u64 = 0x7E57;

/// How a request completed.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: NtStatus,
    pub reply: Vec<u8>,
    pub info: usize,
    pub data: Option<Vec<u8>>,
}

// Completions of every test request, numbered in the order they happened. Under loom the
// counter is loom's, so that loom sees two completions' order as something a test depends on
// (and explores both).
#[cfg(not(loom))]
static COMPLETION_ORDER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
#[cfg(loom)]
loom::lazy_static! {
    static ref COMPLETION_ORDER: loom::sync::atomic::AtomicU64 = loom::sync::atomic::AtomicU64::new(1);
}

#[derive(Default)]
struct SlotInner {
    outcome: Option<Outcome>,
    completions: u32,
    /// When it completed, in `COMPLETION_ORDER`.
    order: u64,
    cancel: Option<CancelToken>,
}

/// The test's view of one request.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<SlotInner>>);

impl Slot {
    pub fn outcome(&self) -> Option<Outcome> {
        self.0.lock().unwrap().outcome.clone()
    }

    pub fn completions(&self) -> u32 {
        self.0.lock().unwrap().completions
    }

    pub fn is_done(&self) -> bool {
        self.completions() > 0
    }

    /// Whether this request completed before `other` (both must have completed).
    pub fn completed_before(&self, other: &Slot) -> bool {
        let (a, b) = (self.0.lock().unwrap().order, other.0.lock().unwrap().order);
        assert!(a != 0 && b != 0, "both requests must have completed");
        a < b
    }

    /// Status; panics if still pending.
    pub fn status(&self) -> NtStatus {
        self.outcome().expect("request still pending").status
    }

    pub fn expect_ok(&self) -> Outcome {
        let o = self.outcome().expect("request still pending");
        assert_eq!(o.status, NtStatus::STATUS_SUCCESS, "{o:?}");
        o
    }

    pub fn handle(&self) -> Handle {
        super::reply_of::<HandleReply>(&self.expect_ok()).handle
    }

    /// The front end's cancel (IoCancelIrp on the request).
    pub fn cancel(&self) {
        let t = self.0.lock().unwrap().cancel.take();
        if let Some(t) = t {
            t.cancel();
            let mut s = self.0.lock().unwrap();
            // Like a front end: the token is dropped once the request completed.
            if s.completions == 0 {
                s.cancel = Some(t);
            }
        }
    }
}

/// Something a test runs from inside the engine's handling of a request.
type Hook = Box<dyn FnOnce() + Send>;

/// A request.
pub struct TReq {
    code: u32,
    input: Vec<u8>,
    output_len: usize,
    mode: RequestorMode,
    data: Option<Vec<u8>>,
    slot: Slot,
    /// Runs when the engine takes the data buffer: after the handle lookup, before the
    /// operation starts (what another thread may do in that window).
    on_take_buffer: Option<Hook>,
    /// Runs when the engine completes the request, before the completion is recorded.
    on_complete: Option<Hook>,
    /// Whose allocation count the front end's cancel state joins (as the driver's pool block
    /// for it would): `set_cancel` and `reserve_cancel` fail with it.
    memory: Option<Scripted>,
    /// `reserve_cancel` allocated it.
    cancel_reserved: bool,
}

impl TReq {
    pub fn new(op: Op, input: Vec<u8>) -> Self {
        Self::raw(op.code(), input)
    }

    pub fn raw(code: u32, input: Vec<u8>) -> Self {
        TReq {
            code,
            input,
            output_len: 4096,
            mode: RequestorMode::Kernel,
            data: None,
            slot: Slot::default(),
            on_take_buffer: None,
            on_complete: None,
            memory: None,
            cancel_reserved: false,
        }
    }

    /// Counts this request's cancel state among `p`'s allocations (so the Nth can fail).
    pub fn counting_memory(mut self, p: &Scripted) -> Self {
        self.memory = Some(p.clone());
        self
    }

    /// Whether the front end's allocation for the cancel state fails.
    fn cancel_memory_fails(&self) -> bool {
        self.memory.as_ref().is_some_and(Scripted::front_allocation_fails)
    }

    /// Runs `f` when the engine takes this request's data buffer.
    pub fn on_take_buffer(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_take_buffer = Some(Box::new(f));
        self
    }

    /// Runs `f` when the engine completes this request, before the completion is recorded.
    pub fn on_complete(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    pub fn with_data(mut self, data: Vec<u8>) -> Self {
        self.output_len = data.len();
        self.data = Some(data);
        self
    }

    pub fn output(mut self, len: usize) -> Self {
        self.output_len = len;
        self
    }

    pub fn user(mut self) -> Self {
        self.mode = RequestorMode::User;
        self
    }

    pub fn slot(&self) -> Slot {
        self.slot.clone()
    }
}

impl Request<Scripted> for TReq {
    fn code(&self) -> u32 {
        self.code
    }

    fn requestor(&self) -> RequestorMode {
        self.mode
    }

    /// The test suite plays one user process.
    fn process(&self) -> u64 {
        TEST_PROCESS
    }

    fn input(&self) -> &[u8] {
        &self.input
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn take_buffer(&mut self, source: DataSource, _write: bool) -> Result<TBuf, NtStatus> {
        if let Some(f) = self.on_take_buffer.take() {
            f();
        }
        match source {
            DataSource::Direct { offset } => {
                let mut d = self.data.take().ok_or(NtStatus::STATUS_INVALID_BUFFER_SIZE)?;
                if offset > d.len() {
                    return Err(NtStatus::STATUS_BUFFER_TOO_SMALL);
                }
                d.drain(..offset);
                Ok(TBuf(d))
            }
            DataSource::Kernel { len, .. } => {
                Ok(TBuf(vec![0; usize::try_from(len).unwrap_or(0).min(1 << 20)]))
            }
        }
    }

    fn set_cancel(&mut self, token: CancelToken) -> CancelArm {
        if !std::mem::take(&mut self.cancel_reserved) && self.cancel_memory_fails() {
            return CancelArm::NoMemory;
        }
        self.slot.0.lock().unwrap().cancel = Some(token);
        CancelArm::Armed
    }

    fn reserve_cancel(&mut self) -> Result<(), AllocError> {
        if !self.cancel_reserved && self.cancel_memory_fails() {
            return Err(AllocError);
        }
        self.cancel_reserved = true;
        Ok(())
    }

    fn complete(mut self, status: NtStatus, reply: &[u8], information: usize, buffer: Option<TBuf>) {
        if let Some(f) = self.on_complete.take() {
            f();
        }
        let mut s = self.slot.0.lock().unwrap();
        s.completions += 1;
        s.order = COMPLETION_ORDER.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
        s.cancel = None;
        s.outcome = Some(Outcome {
            status,
            reply: reply.to_vec(),
            info: information,
            data: buffer.map(|b| b.0),
        });
    }
}
