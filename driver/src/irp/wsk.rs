//! The IRPs the driver sends to WSK: one per WSK call, an owned completion context, and the
//! engine's cancel handle.
//!
//! # Memory
//! What a call needs — the IRP, its completion context (the payload and the continuation, in one
//! box), the IRP's holder shared with the engine's [`OpRef`] — is allocated before the WSK call,
//! fallibly ([`Reserved::allocate`]): if it cannot be, the continuation runs at once with
//! STATUS_INSUFFICIENT_RESOURCES (the engine's operation fails, nothing was called). A socket's
//! teardown calls (its disconnects and its close) are allocated when the socket is made, and
//! started here with [`start_reserved`], which allocates nothing.
//!
//! # Ownership (into the IRP once, back once)
//! [`start_reserved`] hands the boxed `Pending` (the call's stable payload — addresses,
//! `WSK_BUF`, buffers — and the continuation) to the IRP's completion routine with
//! [`ForeignOwnable::into_foreign`]. Exactly one side takes it back:
//! - the completion routine (`completion`), invoked on success, error and cancel; it returns
//!   STATUS_MORE_PROCESSING_REQUIRED, so the IRP stays ours;
//! - or, when the WSK call returned something other than STATUS_PENDING *without* running the
//!   completion routine (Wine's stubs), [`start_reserved`] itself (see
//!   [`crate::logic::sync_return`]), as it does when the routine could not be set.
//!
//! The IRP itself belongs to [`OpShared`], shared by the context and the engine's [`OpRef`]; it
//! is freed (`IoFreeIrp`) when the last of them is dropped — never before the completion routine
//! ran, so `IoCancelIrp` through an `OpRef` never touches a freed IRP.
//!
//! # Unload
//! On Windows the routine is set with `IoSetCompletionRoutineEx` on one of our device objects:
//! the I/O manager holds a reference on that device — and so keeps the image loaded — until the
//! routine has returned (a non-PnP driver that can be unloaded while its IRPs are out must use
//! it). Under Wine that export is an unimplemented stub, and the plain `IoSetCompletionRoutine`
//! is all there is (`kernel::platform`). Either way the context's [`Token`] makes unload wait
//! until the routine's work is done.

use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::outstanding::Token;
use crate::kernel::platform;
use crate::logic::sync_return::{after_call, AfterCall};
use crate::status::{nt, NtStatus};
use crate::sys::imports::{IoCancelIrp, IoFreeIrp, IoSetCompletionRoutineEx};
use crate::sys::inline::{IoSetCompletionRoutineAlways, IrpIoStatus};
use crate::sys::{DEVICE_OBJECT, FALSE, IRP, NTSTATUS, STATUS_MORE_PROCESSING_REQUIRED, TRUE};
use crate::wsk::events::Events;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

/// The IRP of one operation and its completion flags.
///
/// # Invariants
/// `irp` was allocated by `IoAllocateIrp` in [`start`] and is freed only in `Drop`, after the
/// completion routine ran or after the call returned without ever completing it.
pub struct OpShared {
    irp: NonNull<IRP>,
    /// The completion routine has started.
    routine_ran: AtomicBool,
}

// SAFETY: 1. the IRP is only touched through IoCancelIrp (callable from any thread) and IoFreeIrp in
// Drop (once, by the last owner).
unsafe impl Send for OpShared {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for OpShared {}

impl Drop for OpShared {
    fn drop(&mut self) {
        // SAFETY: 1. the last owner; the completion routine ran or will never run (invariant).
        unsafe { IoFreeIrp(self.irp.as_ptr()) };
    }
}

/// The engine's handle on a pending operation (`Provider::OpRef`): a WSK IRP, or a wait for a
/// connection's end ([`crate::wsk::events`]), which has none.
#[derive(Clone)]
pub struct OpRef(Target);

#[derive(Clone)]
enum Target {
    Irp(Arc<OpShared>),
    Wait(Arc<Events>, u64),
}

impl OpRef {
    /// The handle of wait `id` of `events`.
    pub fn wait(events: Arc<Events>, id: u64) -> OpRef {
        OpRef(Target::Wait(events, id))
    }

    /// `IoCancelIrp` if the operation has not completed yet (a request: it may still succeed);
    /// a wait completes STATUS_CANCELLED if it still waits.
    pub fn cancel(&self) {
        match &self.0 {
            Target::Irp(op) => {
                if !op.routine_ran.load(Ordering::Acquire) {
                    // SAFETY: 1. the IRP is alive while `self` holds a reference (invariant of
                    // OpShared); IoCancelIrp on an IRP that completed meanwhile only sets its
                    // Cancel flag.
                    unsafe { IoCancelIrp(op.irp.as_ptr()) };
                }
            }
            Target::Wait(events, id) => events.cancel(*id),
        }
    }
}

/// The continuation of an operation: gets the payload back with the IRP's status and information.
pub trait Finish<T>: Send + 'static {
    /// Runs once, with the outcome.
    fn finish(self, payload: T, st: NTSTATUS, info: usize);
}

impl<T, F: FnOnce(T, NTSTATUS, usize) + Send + 'static> Finish<T> for F {
    fn finish(self, payload: T, st: NTSTATUS, info: usize) {
        self(payload, st, info);
    }
}

struct Pending<T, F> {
    shared: Arc<OpShared>,
    payload: T,
    finish: F,
    /// Taken when the call is started (a reserved call not started is no callback to wait for).
    token: Option<Token>,
}

impl<T, F: Finish<T>> Pending<T, F> {
    /// Runs the continuation; the IRP (if this was its last owner) and the token go last.
    fn complete(self, st: NTSTATUS, info: usize) {
        let Pending {
            shared,
            payload,
            finish,
            token,
        } = self;
        finish.finish(payload, st, info);
        drop(shared);
        drop(token);
    }
}

unsafe extern "system" fn completion<T: Send + 'static, F: Finish<T>>(
    _device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: 1. `context` is the context `start_reserved` handed to this routine only; it does
    // not take it back once the routine has run (it reads `routine_ran` after the call).
    let Some(pending) = (unsafe { <Box<Pending<T, F>> as ForeignOwnable>::try_from_foreign(context) }) else {
        return STATUS_MORE_PROCESSING_REQUIRED;
    };
    pending.shared.routine_ran.store(true, Ordering::Release);
    // SAFETY: 1. the IRP is ours (STATUS_MORE_PROCESSING_REQUIRED below) and alive (`shared`).
    let (st, info) = unsafe { IrpIoStatus(irp) };
    // May free the IRP: allowed, since we return STATUS_MORE_PROCESSING_REQUIRED.
    (*pending).complete(st, info);
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Sets `completion::<T, F>` with `context` on a fresh IRP: `IoSetCompletionRoutineEx` where it
/// works (see the module docs), else the plain routine. Err: the routine is not set.
///
/// # Safety
/// `irp` is a fresh IRP of ours with one stack location below the current one; `device` is a
/// live device object of this driver; `context` stays valid until the routine runs.
unsafe fn set_completion<T: Send + 'static, F: Finish<T>>(
    device: NonNull<DEVICE_OBJECT>,
    irp: NonNull<IRP>,
    context: NonNull<c_void>,
) -> Result<(), NTSTATUS> {
    if platform::unload_safe_completions() {
        // SAFETY: 1. a fresh IRP and our live device (caller contract); 2. invoked on success, error
        // and cancel; 3. IRQL <= DISPATCH_LEVEL.
        let st = unsafe {
            IoSetCompletionRoutineEx(
                device.as_ptr(),
                irp.as_ptr(),
                completion::<T, F>,
                context.as_ptr(),
                TRUE,
                TRUE,
                TRUE,
            )
        };
        return if st < 0 { Err(st) } else { Ok(()) };
    }
    // SAFETY: 1. as above.
    unsafe { IoSetCompletionRoutineAlways(irp.as_ptr(), completion::<T, F>, context.as_ptr()) };
    Ok(())
}

/// What one WSK call needs, allocated ahead: its IRP, the IRP's holder, and its completion
/// context with the payload and the continuation. Dropped unused, it frees them all.
pub struct Reserved<T, F> {
    pending: Box<Pending<T, F>>,
}

impl<T: Send + 'static, F: Finish<T>> Reserved<T, F> {
    /// Allocates a call's IRP and context (the IRP with `IoAllocateIrp`, the rest from pool);
    /// gives the payload and the continuation back if any of it cannot be had.
    pub fn allocate(payload: T, finish: F) -> Result<Self, (T, F)> {
        // SAFETY: 1. one stack location (WSK is the next and last driver); no quota charge.
        let Some(irp) = NonNull::new(unsafe { crate::kernel::faults::IoAllocateIrp(1, FALSE) }) else {
            return Err((payload, finish));
        };
        // INVARIANT: the IRP is freed only by OpShared's Drop (also if the Arc cannot be made).
        let Ok(shared) = Arc::try_new(OpShared {
            irp,
            routine_ran: AtomicBool::new(false),
        }) else {
            return Err((payload, finish));
        };
        let pending = Pending {
            shared,
            payload,
            finish,
            token: None,
        };
        match crate::kernel::try_box(pending) {
            Ok(pending) => Ok(Reserved { pending }),
            Err(p) => Err((p.payload, p.finish)),
        }
    }

    /// The continuation, to fill in what is only known when the call is made.
    pub fn finish_mut(&mut self) -> &mut F {
        &mut self.pending.finish
    }
}

/// Starts one WSK call. `call` gets the payload (at its final heap address) and the IRP and
/// returns the WSK function's status; `finish` runs exactly once with the outcome — in the
/// completion routine, or here if the call never completes its IRP or its memory could not be
/// allocated (STATUS_INSUFFICIENT_RESOURCES, and nothing is called). Returns an [`OpRef`] while
/// the operation may still be pending.
///
/// # Safety
/// `device` is a live device object of this driver.
pub unsafe fn start<T: Send + 'static, F: Finish<T>>(
    device: NonNull<DEVICE_OBJECT>,
    payload: T,
    call: impl FnOnce(*mut T, *mut IRP) -> NTSTATUS,
    finish: F,
) -> Option<OpRef> {
    match Reserved::allocate(payload, finish) {
        // SAFETY: 1. our live device (caller contract).
        Ok(reserved) => unsafe { start_reserved(device, reserved, call) },
        Err((payload, finish)) => {
            finish.finish(payload, nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES), 0);
            None
        }
    }
}

/// Starts one WSK call with what was allocated for it beforehand: allocates nothing (a socket's
/// teardown). Otherwise as [`start`].
///
/// # Safety
/// `device` is a live device object of this driver.
pub unsafe fn start_reserved<T: Send + 'static, F: Finish<T>>(
    device: NonNull<DEVICE_OBJECT>,
    reserved: Reserved<T, F>,
    call: impl FnOnce(*mut T, *mut IRP) -> NTSTATUS,
) -> Option<OpRef> {
    let mut pending = reserved.pending;
    pending.token = Some(Token::new());
    let shared = pending.shared.clone();
    let irp = shared.irp;
    let payload_ptr: *mut T = &raw mut pending.payload;
    let context = pending.into_foreign();
    // SAFETY: 1. a fresh IRP with one stack location below the current one; 2. our device
    // (caller contract); 3. `context` stays valid until the routine takes it back.
    if let Err(st) = unsafe { set_completion::<T, F>(device, irp, context) } {
        // SAFETY: 1. no routine was set, so nobody else will ever take the context: it is ours
        // again, taken back once here.
        let pending = unsafe { <Box<Pending<T, F>> as ForeignOwnable>::from_foreign(context) };
        (*pending).complete(st, 0);
        return None;
    }
    let returned = call(payload_ptr, irp.as_ptr());
    match after_call(returned, shared.routine_ran.load(Ordering::Acquire)) {
        AfterCall::LeaveToRoutine => {
            if shared.routine_ran.load(Ordering::Acquire) {
                None
            } else {
                Some(OpRef(Target::Irp(shared)))
            }
        }
        AfterCall::Reclaim(st) => {
            // SAFETY: 1. the call returned without completing the IRP, so the routine never ran and
            // never will: the context is still ours, taken back exactly once here.
            let pending = unsafe { <Box<Pending<T, F>> as ForeignOwnable>::from_foreign(context) };
            (*pending).complete(st, 0);
            None
        }
    }
}
