//! The IRPs the driver sends to WSK: one per WSK call, an owned completion context, and the
//! engine's cancel handle.
//!
//! # Ownership (into the IRP once, back once)
//! [`start`] boxes a `Pending` (the call's stable payload — addresses, `WSK_BUF`, buffers — and
//! the continuation) and hands it to the IRP's completion routine with
//! [`ForeignOwnable::into_foreign`]. Exactly one side takes it back:
//! - the completion routine (`completion`), invoked on success, error and cancel; it returns
//!   STATUS_MORE_PROCESSING_REQUIRED, so the IRP stays ours;
//! - or, when the WSK call returned something other than STATUS_PENDING *without* running the
//!   completion routine (Wine's stubs), [`start`] itself (see [`crate::logic::sync_return`]), as
//!   it does when the routine could not be set.
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
use crate::sys::imports::{IoAllocateIrp, IoCancelIrp, IoFreeIrp, IoSetCompletionRoutineEx};
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
pub type Finish<T> = Box<dyn FnOnce(Box<T>, NTSTATUS, usize) + Send>;

struct Pending<T> {
    shared: Arc<OpShared>,
    payload: Box<T>,
    finish: Finish<T>,
    token: Token,
}

impl<T> Pending<T> {
    /// Runs the continuation; the IRP (if this was its last owner) and the token go last.
    fn finish(self, st: NTSTATUS, info: usize) {
        let Pending {
            shared,
            payload,
            finish,
            token,
        } = self;
        finish(payload, st, info);
        drop(shared);
        drop(token);
    }
}

unsafe extern "system" fn completion<T: Send + 'static>(
    _device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: 1. `context` is the context `start` handed to this routine only; `start` does not
    // take it back once the routine has run (it reads `routine_ran` after the call).
    let Some(pending) = (unsafe { <Box<Pending<T>> as ForeignOwnable>::try_from_foreign(context) }) else {
        return STATUS_MORE_PROCESSING_REQUIRED;
    };
    pending.shared.routine_ran.store(true, Ordering::Release);
    // SAFETY: 1. the IRP is ours (STATUS_MORE_PROCESSING_REQUIRED below) and alive (`shared`).
    let (st, info) = unsafe { IrpIoStatus(irp) };
    // May free the IRP: allowed, since we return STATUS_MORE_PROCESSING_REQUIRED.
    pending.finish(st, info);
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Sets `completion::<T>` with `context` on a fresh IRP: `IoSetCompletionRoutineEx` where it
/// works (see the module docs), else the plain routine. Err: the routine is not set.
///
/// # Safety
/// `irp` is a fresh IRP of ours with one stack location below the current one; `device` is a
/// live device object of this driver; `context` stays valid until the routine runs.
unsafe fn set_completion<T: Send + 'static>(
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
                completion::<T>,
                context.as_ptr(),
                TRUE,
                TRUE,
                TRUE,
            )
        };
        return if st < 0 { Err(st) } else { Ok(()) };
    }
    // SAFETY: 1. as above.
    unsafe { IoSetCompletionRoutineAlways(irp.as_ptr(), completion::<T>, context.as_ptr()) };
    Ok(())
}

/// Starts one WSK call. `call` gets the payload (at its final heap address) and the IRP and
/// returns the WSK function's status; `finish` runs exactly once with the outcome — in the
/// completion routine, or here if the call never completes its IRP or no IRP could be set up.
/// Returns an [`OpRef`] while the operation may still be pending.
///
/// # Safety
/// `device` is a live device object of this driver.
pub unsafe fn start<T: Send + 'static>(
    device: NonNull<DEVICE_OBJECT>,
    payload: Box<T>,
    call: impl FnOnce(*mut T, *mut IRP) -> NTSTATUS,
    finish: Finish<T>,
) -> Option<OpRef> {
    // SAFETY: 1. one stack location (WSK is the next and last driver); no quota charge.
    let Some(irp) = NonNull::new(unsafe { IoAllocateIrp(1, FALSE) }) else {
        finish(payload, nt(NtStatus::STATUS_INSUFFICIENT_RESOURCES), 0);
        return None;
    };
    // INVARIANT: the IRP is freed only by OpShared's Drop.
    let shared = Arc::new(OpShared {
        irp,
        routine_ran: AtomicBool::new(false),
    });
    let mut pending = Box::new(Pending {
        shared: shared.clone(),
        payload,
        finish,
        token: Token::new(),
    });
    let payload_ptr: *mut T = &raw mut *pending.payload;
    let context = pending.into_foreign();
    // SAFETY: 1. a fresh IRP with one stack location below the current one; 2. our device
    // (caller contract); 3. `context` stays valid until the routine takes it back.
    if let Err(st) = unsafe { set_completion::<T>(device, irp, context) } {
        // SAFETY: 1. no routine was set, so nobody else will ever take the context: it is ours
        // again, taken back once here.
        let pending = unsafe { <Box<Pending<T>> as ForeignOwnable>::from_foreign(context) };
        pending.finish(st, 0);
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
            let pending = unsafe { <Box<Pending<T>> as ForeignOwnable>::from_foreign(context) };
            pending.finish(st, 0);
            None
        }
    }
}
