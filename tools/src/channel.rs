//! A channel: one open file object of the device, submitting IOCTLs that may pend.
//!
//! This is the shape of overlapped `DeviceIoControl`: a request goes out with an input buffer
//! and an output buffer, stays pending, can be cancelled (`CancelIoEx`), and completes once with
//! a status, `IoStatus.Information`, and the output buffer as the driver left it.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_abi::NtStatus;

/// The output buffer of a request.
#[derive(Debug)]
pub enum Output {
    /// A buffered reply of this many bytes.
    Reply(usize),
    /// A direct-I/O buffer: the data to send, or the space to receive into.
    Data(Vec<u8>),
}

/// A completed request.
#[derive(Clone, Debug)]
pub struct Completed {
    /// Final status.
    pub status: NtStatus,
    /// `IoStatus.Information`: reply bytes, or data bytes transferred.
    pub info: usize,
    /// The output buffer after completion.
    pub output: Vec<u8>,
}

/// Something that can cancel a pending request (`CancelIoEx` / the engine's cancel token).
pub trait Canceller: Send + Sync {
    /// Asks for cancellation; the request still completes once, maybe with success.
    fn cancel(&self);
}

#[derive(Default)]
struct State {
    done: Option<Completed>,
    canceller: Option<Box<dyn Canceller>>,
}

/// The completion slot shared by a backend and the [`Pending`] it returned.
#[derive(Clone, Default)]
pub struct Slot(Arc<(Mutex<State>, Condvar)>);

impl Slot {
    /// Records the completion (a second one is ignored: completion is exactly once).
    pub fn complete(&self, c: Completed) {
        let mut st = self.0 .0.lock();
        if st.done.is_none() {
            st.done = Some(c);
            st.canceller = None;
        }
        self.0 .1.notify_all();
    }

    /// Installs the way to cancel. Only stores it: the engine calls this with a lock held.
    pub fn set_canceller(&self, c: Box<dyn Canceller>) {
        let mut st = self.0 .0.lock();
        if st.done.is_none() {
            st.canceller = Some(c);
        }
    }
}

/// A request in flight.
#[derive(Clone)]
pub struct Pending {
    slot: Slot,
}

impl Pending {
    /// A pending request completing through `slot`.
    pub fn new(slot: Slot) -> Self {
        Pending { slot }
    }

    /// An already completed request.
    pub fn done(c: Completed) -> Self {
        let slot = Slot::default();
        slot.complete(c);
        Pending { slot }
    }

    /// The result, if completed.
    pub fn poll(&self) -> Option<Completed> {
        self.slot.0 .0.lock().done.clone()
    }

    /// Whether it completed.
    pub fn is_done(&self) -> bool {
        self.slot.0 .0.lock().done.is_some()
    }

    /// Waits until completed or `timeout` passed; returns the slot's state, locked.
    fn wait_locked(&self, timeout: Duration) -> parking_lot::MutexGuard<'_, State> {
        let deadline = Instant::now() + timeout;
        let mut st = self.slot.0 .0.lock();
        while st.done.is_none() {
            if self.slot.0 .1.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        st
    }

    /// Waits up to `timeout`; `None` if still pending.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Completed> {
        self.wait_locked(timeout).done.clone()
    }

    /// Like [`Pending::wait_timeout`], but moves the output buffer out instead of cloning it
    /// (the data path: a later `poll` sees the status and an empty output).
    pub fn wait_take(&self, timeout: Duration) -> Option<Completed> {
        self.wait_locked(timeout).done.as_mut().map(|c| Completed {
            status: c.status,
            info: c.info,
            output: std::mem::take(&mut c.output),
        })
    }

    /// Waits for completion (tests and tools always use a timeout: see `wait_timeout`).
    pub fn wait(&self) -> Completed {
        let mut st = self.slot.0 .0.lock();
        while st.done.is_none() {
            self.slot.0 .1.wait(&mut st);
        }
        st.done.clone().expect("completed")
    }

    /// `CancelIoEx` on this request.
    pub fn cancel(&self) {
        let c = {
            let mut st = self.slot.0 .0.lock();
            if st.done.is_some() {
                return;
            }
            st.canceller.take()
        };
        if let Some(c) = c {
            c.cancel();
        }
    }
}

/// One open handle to the device.
pub trait Channel: Send + Sync {
    /// Submits an IOCTL.
    fn submit(&self, code: u32, input: Vec<u8>, output: Output) -> Pending;
    /// The requestor mode this channel's requests carry (user mode for `DeviceIoControl`).
    fn is_kernel(&self) -> bool {
        false
    }
}
