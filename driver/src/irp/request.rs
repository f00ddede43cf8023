//! `wsksock_core::Request` over a device-control IRP.
//!
//! The IRP's buffers are read through the typed bindings: the request struct is the input
//! buffer; a reply goes where [`buffers::reply_to`] says — `SystemBuffer` for METHOD_BUFFERED,
//! the first bytes of the output MDL for METHOD_OUT_DIRECT, the kernel caller's `UserBuffer` for
//! METHOD_NEITHER, and nowhere for METHOD_IN_DIRECT, whose MDL was probed for reading only; data
//! buffers are MDLs over the caller's memory (see `kernel::mdl`).
//!
//! A kernel requestor's raw pointers (the METHOD_NEITHER request and reply, the data buffer of a
//! `*_KERNEL` request) are checked before use (`kernel::address`): system space, every page
//! resident; otherwise the request fails with STATUS_INVALID_USER_BUFFER ([`IrpRequest::admit`]
//! for the request and reply, `take_buffer` for the data).
//!
//! Cancellation follows [`crate::logic::cancel`]: [`Backend`] arms and disarms the framework's
//! cancel routine (WDM: `IoSetCancelRoutine`; KMDF: `WdfRequestMarkCancelableEx`) and finishes the
//! request; the shared [`ReqShared`] is reference-counted so the routine never sees freed memory.
//! The routine's reference crosses into the framework as a [`ForeignOwnable`] and comes back
//! through [`cancel_routine`] or [`give_back`], once.

use crate::kernel::address;
use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::mdl::Mdl;
use crate::logic::buffers::{self, Layout, ReplyTo};
use crate::logic::cancel::{AfterCancel, CancelState, OnCancel, OnComplete};
use crate::logic::codes;
use crate::status::{nt, NtStatus};
use crate::sys::imports::IoGetRequestorProcess;
use crate::sys::inline::{
    IrpDeviceIoControl, IrpMdlAddress, IrpRequestorMode, IrpSystemBuffer, IrpThread, IrpUserBuffer,
    MmGetMdlByteCount, MmGetSystemAddressForMdlSafe,
};
use crate::sys::{KernelMode, IRP, NTSTATUS};
use crate::wsk::provider::{DataBuffer, WskProvider};
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use wsksock_core::{AllocError, CancelArm, CancelToken, DataSource, Request, RequestorMode};

/// What arming a request's cancel routine did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arming {
    /// The routine is armed: it owns the context reference and runs at most once, on cancel.
    Armed,
    /// The request was already cancelled: the routine is not armed and never runs (the context
    /// is not consumed); a late cancel plays its part.
    AlreadyCancelled,
    /// The framework could not arm it for want of resources: the context is not consumed and the
    /// request stays non-cancelable (it is not cancelled for that reason).
    #[cfg_attr(
        not(kmdf_front),
        expect(dead_code, reason = "only the KMDF framework can refuse")
    )]
    Unavailable,
}

/// How a front end finishes a request and arms its cancel routine.
///
/// # Safety
/// Implementations must: finish the request exactly when `finish` is called; arm a routine that
/// passes the `context` given to `arm` to [`cancel_routine`] (which takes that one strong
/// reference back) only if `arm` returns [`Arming::Armed`]; return `true` from `disarm` only if
/// that routine will never run, after giving the reference back with [`give_back`].
pub unsafe trait Backend: Copy + Send + Sync + 'static {
    /// Arms the cancel routine with `context`.
    ///
    /// # Safety
    /// `context` is the foreign form of a strong reference to this request's [`ReqShared`];
    /// called once.
    unsafe fn arm(&self, irp: NonNull<IRP>, context: NonNull<c_void>) -> Arming;
    /// Disarms the routine: `true` if it will never run.
    ///
    /// # Safety
    /// Called at most once, after a successful `arm`, while the request is not finished.
    unsafe fn disarm(&self, irp: NonNull<IRP>) -> bool;
    /// Finishes the request with `status` and `information`.
    ///
    /// # Safety
    /// Called exactly once per request; the IRP is gone afterwards.
    unsafe fn finish(&self, irp: NonNull<IRP>, status: NTSTATUS, information: usize);
}

/// What the request and its cancel routine share.
pub struct ReqShared<B: Backend> {
    state: CancelState,
    /// Set once, before the block is shared (`None` only in a reserved, unused block).
    token: Option<CancelToken>,
    irp: NonNull<IRP>,
    backend: B,
}

// SAFETY: 1. the IRP pointer is only used through the Backend, whose calls the cancel state machine
// serializes (exactly one finish, no disarm after finish).
unsafe impl<B: Backend> Send for ReqShared<B> {}
// SAFETY: 1. see `Send`.
unsafe impl<B: Backend> Sync for ReqShared<B> {}

/// The cancel routine of either front end: takes the reference `arm` handed over and runs the
/// routine's work.
///
/// # Safety
/// `context` is the one given to [`Backend::arm`] of a request whose arming returned
/// [`Arming::Armed`]; the framework calls its routine once, and `disarm` did not take it back.
pub unsafe fn cancel_routine<B: Backend>(context: NonNull<c_void>) {
    // SAFETY: 1. the strong reference `set_cancel` handed to `arm`, taken back once (contract).
    let shared = unsafe { <Arc<ReqShared<B>> as ForeignOwnable>::from_foreign(context) };
    run_cancel(&shared);
}

/// Gives back the reference handed to [`Backend::arm`] when its routine will never run.
///
/// # Safety
/// `context` is the one given to `arm`; the routine will never run (it was disarmed, or never
/// armed), and nobody else gives it back.
pub unsafe fn give_back<B: Backend>(context: NonNull<c_void>) {
    // SAFETY: 1. caller contract: the reference is ours again, dropped once.
    drop(unsafe { <Arc<ReqShared<B>> as ForeignOwnable>::from_foreign(context) });
}

/// The cancel routine's work, for both front ends.
fn run_cancel<B: Backend>(shared: &ReqShared<B>) {
    match shared.state.cancel_started() {
        OnCancel::AskEngine => {
            if let Some(token) = &shared.token {
                token.cancel();
            }
            if let AfterCancel::Finish(st, info) = shared.state.after_cancel() {
                // SAFETY: 1. the state machine handed the one finish to us.
                unsafe { shared.backend.finish(shared.irp, st, info) };
            }
        }
        OnCancel::Finish(st, info) => {
            // SAFETY: 1. as above.
            unsafe { shared.backend.finish(shared.irp, st, info) };
        }
        OnCancel::Nothing => {}
    }
}

/// A client request: one IRP_MJ_(INTERNAL_)DEVICE_CONTROL IRP.
///
/// # Invariants
/// `irp` is pending and owned by this value until `complete` (or `Drop`) finishes it; the input
/// slice and the output buffers stay valid as long as the IRP is pending. A trusted (kernel)
/// METHOD_NEITHER `input` and reply buffer passed `kernel::address::check`, or `refused` is set
/// and `input` is null.
pub struct IrpRequest<B: Backend> {
    irp: Option<NonNull<IRP>>,
    code: u32,
    requestor: RequestorMode,
    /// The requesting thread's process (`IoGetRequestorProcess`), 0 if the IRP names no thread.
    process: u64,
    layout: Layout,
    input: *const u8,
    input_len: usize,
    output_len: usize,
    /// Why the request is refused before the engine sees it (a kernel caller's bad pointer).
    refused: Option<NtStatus>,
    buffer_taken: bool,
    backend: Option<B>,
    shared: Option<Arc<ReqShared<B>>>,
    /// The block [`Request::reserve_cancel`] allocated, for `set_cancel` to fill in.
    spare: Option<Arc<ReqShared<B>>>,
}

// SAFETY: 1. the IRP and its buffers may be completed and accessed from any thread at
// IRQL <= DISPATCH_LEVEL; the value is owned by one thread at a time.
unsafe impl<B: Backend> Send for IrpRequest<B> {}

/// A kernel requestor's raw buffer, checked (empty buffers are never touched, so not checked).
fn checked_raw(ptr: *const c_void, len: u32) -> Result<(), NtStatus> {
    if len == 0 {
        return Ok(());
    }
    address::check(ptr as u64, u64::from(len)).map(|_| ())
}

impl<B: Backend> IrpRequest<B> {
    /// Wraps a device-control IRP being dispatched.
    ///
    /// # Safety
    /// `irp` is a live IRP_MJ_DEVICE_CONTROL or IRP_MJ_INTERNAL_DEVICE_CONTROL IRP that the caller
    /// hands over (it will be finished through `backend`), already marked pending.
    pub unsafe fn new(irp: NonNull<IRP>, backend: B) -> IrpRequest<B> {
        let p = irp.as_ptr();
        // SAFETY: 1. live IRP being dispatched (caller contract).
        let mode = unsafe { IrpRequestorMode(p) };
        // SAFETY: 1. a device-control IRP being dispatched (caller contract).
        let params = unsafe { IrpDeviceIoControl(p) };
        let requestor = if mode == KernelMode {
            RequestorMode::Kernel
        } else {
            RequestorMode::User
        };
        // A kernel caller's code of ABI version 1 or 2 is served as today's (docs/ABI.md).
        let code = codes::served_code(params.IoControlCode, requestor == RequestorMode::Kernel);
        // SAFETY: 1. live IRP being dispatched (caller contract).
        let thread = unsafe { IrpThread(p) };
        let process = if thread.is_null() {
            0
        } else {
            // SAFETY: 1. live IRP with a thread (Wine dereferences it unchecked: checked above);
            // the process lives while the thread's IRP is pending.
            unsafe { IoGetRequestorProcess(p) as usize as u64 }
        };
        let layout = buffers::layout(code, requestor == RequestorMode::Kernel);
        let mut refused = None;
        let (input, input_len) = match layout {
            Layout::Buffered | Layout::DirectIn | Layout::DirectOut => (
                // SAFETY: 1. live IRP; SystemBuffer holds InputBufferLength bytes for these methods.
                unsafe { IrpSystemBuffer(p) }.cast_const(),
                params.InputBufferLength,
            ),
            // A kernel requestor's METHOD_NEITHER buffers are raw pointers it vouches for: only
            // system-space, resident ones are used.
            Layout::Neither { trusted: true } => {
                // SAFETY: 1. live IRP; UserBuffer is a plain field, read, not dereferenced.
                let reply = unsafe { IrpUserBuffer(p) }.cast_const();
                let checked = checked_raw(params.Type3InputBuffer.cast_const(), params.InputBufferLength)
                    .and_then(|()| checked_raw(reply, params.OutputBufferLength));
                match checked {
                    Ok(()) => (params.Type3InputBuffer.cast_const(), params.InputBufferLength),
                    Err(st) => {
                        refused = Some(st);
                        (core::ptr::null(), 0)
                    }
                }
            }
            // Never dereference a user-mode METHOD_NEITHER pointer (the engine refuses it anyway).
            Layout::Neither { trusted: false } => (core::ptr::null(), 0),
        };
        let input_len = if input.is_null() { 0 } else { input_len as usize };
        // INVARIANT: we own the pending IRP from here on; raw kernel buffers checked above.
        IrpRequest {
            irp: Some(irp),
            code,
            requestor,
            process,
            layout,
            input: input.cast(),
            input_len,
            output_len: params.OutputBufferLength as usize,
            refused,
            buffer_taken: false,
            backend: Some(backend),
            shared: None,
            spare: None,
        }
    }

    /// The request, if the engine may see it; a request refused before (a kernel caller's
    /// request or reply buffer outside system space or not resident) is completed here with its
    /// status, and nothing of it is read.
    pub fn admit(self) -> Option<Self> {
        match self.refused {
            None => Some(self),
            Some(st) => {
                Request::complete(self, st, &[], 0, None);
                None
            }
        }
    }

    fn irp_ptr(&self) -> Option<*mut IRP> {
        self.irp.map(NonNull::as_ptr)
    }

    /// Writes the reply at the start of its destination ([`buffers::reply_to`]); returns the
    /// bytes written (0 where there is no destination: never into an input MDL).
    fn write_reply(&self, reply: &[u8]) -> usize {
        let Some(irp) = self.irp_ptr() else { return 0 };
        if reply.is_empty() {
            return 0;
        }
        let (dst, room) = match buffers::reply_to(self.layout) {
            // SAFETY: 1. live IRP (invariant); SystemBuffer holds max(in, out) bytes.
            ReplyTo::SystemBuffer => (unsafe { IrpSystemBuffer(irp) }.cast::<u8>(), self.output_len),
            ReplyTo::OutputMdl => {
                // SAFETY: 1. live IRP (invariant).
                let Some(mdl) = NonNull::new(unsafe { IrpMdlAddress(irp) }) else {
                    return 0;
                };
                // SAFETY: 1. the I/O manager probed and locked this MDL for writing (METHOD_OUT_DIRECT:
                // `reply_to` gives an MDL destination for no other method).
                let va = unsafe { MmGetSystemAddressForMdlSafe(mdl.as_ptr()) }.cast::<u8>();
                // SAFETY: 1. live MDL.
                (va, unsafe { MmGetMdlByteCount(mdl.as_ptr()) } as usize)
            }
            ReplyTo::UserBuffer => {
                // SAFETY: 1. live IRP; a kernel requestor's METHOD_NEITHER output, checked by `new`
                // (system space, resident) for OutputBufferLength bytes.
                (unsafe { IrpUserBuffer(irp) }.cast::<u8>(), self.output_len)
            }
            ReplyTo::Nowhere => (core::ptr::null_mut(), 0),
        };
        if dst.is_null() {
            return 0;
        }
        let (n, _) = buffers::reply_fit(reply.len(), room);
        // SAFETY: 1. `dst` is valid for `room` >= `n` bytes and writable (see above); 2. the reply
        // is ours and does not overlap the output buffer (the engine builds it in its own memory).
        unsafe { core::ptr::copy_nonoverlapping(reply.as_ptr(), dst, n) };
        n
    }

    fn finish(&mut self, st: NTSTATUS, information: usize) {
        let Some(irp) = self.irp.take() else { return };
        // Never report more than the output buffer holds (the I/O manager copies `Information`
        // bytes back for METHOD_BUFFERED). The *_KERNEL codes (METHOD_NEITHER) report the bytes
        // of the kernel buffer named in the request, which has nothing to do with the output
        // length (usually 0): capping those made SEND_KERNEL report 0 bytes sent.
        let information = match self.layout {
            Layout::Neither { .. } => information,
            Layout::Buffered | Layout::DirectIn | Layout::DirectOut => information.min(self.output_len),
        };
        if let Some(shared) = self.shared.take() {
            let backend = &shared.backend;
            // SAFETY: 1. `disarm` runs at most once, only while armed (the state machine's contract).
            let r = shared
                .state
                .complete(st, information, || unsafe { backend.disarm(irp) });
            match r {
                OnComplete::FinishNow => {
                    // SAFETY: 1. the routine will never run (disarmed) or is over: the one finish
                    // is ours.
                    unsafe { backend.finish(irp, st, information) };
                }
                OnComplete::LeftToRoutine | OnComplete::AlreadyCompleted => {}
            }
            return;
        }
        if let Some(backend) = self.backend.take() {
            // SAFETY: 1. no cancel routine was ever armed: the one finish is ours.
            unsafe { backend.finish(irp, st, information) };
        }
    }
}

impl<B: Backend> Request<WskProvider> for IrpRequest<B> {
    fn code(&self) -> u32 {
        self.code
    }

    fn requestor(&self) -> RequestorMode {
        self.requestor
    }

    fn process(&self) -> u64 {
        self.process
    }

    fn input(&self) -> &[u8] {
        if self.input.is_null() || self.irp.is_none() {
            return &[];
        }
        // SAFETY: 1. the input buffer holds `input_len` bytes while the IRP is pending (invariant).
        unsafe { core::slice::from_raw_parts(self.input, self.input_len) }
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn take_buffer(&mut self, source: DataSource, write: bool) -> Result<DataBuffer, NtStatus> {
        let Some(irp) = self.irp_ptr() else {
            return Err(NtStatus::STATUS_INVALID_PARAMETER);
        };
        if core::mem::replace(&mut self.buffer_taken, true) {
            return Err(NtStatus::STATUS_INVALID_PARAMETER);
        }
        match source {
            DataSource::Direct { offset } => {
                if !self.layout.is_direct() {
                    return Err(NtStatus::STATUS_INVALID_PARAMETER);
                }
                // The I/O manager probed a METHOD_IN_DIRECT buffer for reading only.
                if write && !buffers::data_writable(self.layout) {
                    return Err(NtStatus::STATUS_INVALID_PARAMETER);
                }
                // SAFETY: 1. live IRP (invariant).
                let Some(mdl) = NonNull::new(unsafe { IrpMdlAddress(irp) }) else {
                    return Ok(DataBuffer::empty());
                };
                // SAFETY: 1. live MDL.
                let total = unsafe { MmGetMdlByteCount(mdl.as_ptr()) };
                let range =
                    buffers::sub_range(total, offset).map_err(|_| NtStatus::STATUS_BUFFER_TOO_SMALL)?;
                if range.len == 0 {
                    return Ok(DataBuffer::empty());
                }
                if offset == 0 {
                    // SAFETY: 1. the IRP's locked MDL outlives the buffer (given back before completion).
                    return Ok(DataBuffer::new(unsafe { Mdl::borrowed(mdl) }));
                }
                // SAFETY: 1. as above; the range lies within the MDL (sub_range).
                unsafe { Mdl::partial(mdl, range) }
                    .map(DataBuffer::new)
                    .ok_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            }
            DataSource::Kernel { addr, len } => {
                if self.requestor != RequestorMode::Kernel {
                    return Err(NtStatus::STATUS_ACCESS_DENIED);
                }
                // A user-mode address forwarded by a kernel caller, or one not resident, is refused
                // before any MDL describes it.
                let range = address::check(addr, len)?;
                // SAFETY: 1. a system-space range whose pages are resident (just checked); the
                // kernel requestor vouches that it is non-paged and stays valid until its request
                // completes (the ABI's contract for the *_KERNEL codes).
                unsafe { Mdl::nonpaged(range.addr, range.len) }
                    .map(DataBuffer::new)
                    .ok_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            }
        }
    }

    fn reserve_cancel(&mut self) -> Result<(), AllocError> {
        let (Some(irp), Some(backend)) = (self.irp, self.backend) else {
            return Ok(());
        };
        if self.spare.is_none() {
            let block = Arc::try_new(ReqShared {
                state: CancelState::new(),
                token: None,
                irp,
                backend,
            });
            self.spare = Some(block.map_err(|_| AllocError)?);
        }
        Ok(())
    }

    fn set_cancel(&mut self, token: CancelToken) -> CancelArm {
        let (Some(irp), Some(backend)) = (self.irp, self.backend.take()) else {
            return CancelArm::Armed;
        };
        // What the request and its routine share: reserved, or allocated here, fallibly —
        // without it the engine refuses the request before it starts anything.
        let block = match self.spare.take() {
            Some(block) => Ok(block),
            None => Arc::try_new(ReqShared {
                state: CancelState::new(),
                token: None,
                irp,
                backend,
            }),
        };
        let Ok(mut shared) = block else {
            self.backend = Some(backend);
            return CancelArm::NoMemory;
        };
        // Not shared yet (the spare is never cloned before this): the token goes in without a
        // lock. Were it shared, the request would be refused like one without memory.
        let Some(block) = Arc::get_mut(&mut shared) else {
            self.backend = Some(backend);
            return CancelArm::NoMemory;
        };
        block.token = Some(token);
        // Armed before the routine can run, so a routine that runs at once finds it armed.
        let _fresh = shared.state.armed();
        let context = shared.clone().into_foreign();
        // SAFETY: 1. `context` is a strong reference handed to the routine; arm is called once.
        let arming = unsafe { shared.backend.arm(irp, context) };
        if arming != Arming::Armed {
            // SAFETY: 1. not armed, so the routine never runs and the reference is still ours.
            unsafe { give_back::<B>(context) };
            // No routine: the request ends with its operation (rules 3 and 4 of logic::cancel).
            let _ = shared.state.unarmed();
        }
        self.shared = Some(shared);
        match arming {
            // Armed; or not cancelable (no resources): the request ends with its operation, a
            // CLOSE of its handle or the client's cleanup.
            Arming::Armed | Arming::Unavailable => CancelArm::Armed,
            // Already cancelled: the engine cancels the operation itself, outside its lock.
            Arming::AlreadyCancelled => CancelArm::Cancelled,
        }
    }

    fn complete(mut self, st: NtStatus, reply: &[u8], information: usize, buffer: Option<DataBuffer>) {
        // The data buffer's MDLs go before the IRP does.
        drop(buffer);
        let written = self.write_reply(reply);
        let information = if information == 0 { written } else { information };
        self.finish(nt(st), information);
    }
}

impl<B: Backend> Drop for IrpRequest<B> {
    fn drop(&mut self) {
        // The engine completes every request; if one is ever dropped instead, it still ends.
        self.finish(nt(NtStatus::STATUS_CANCELLED), 0);
    }
}
