//! One WSK operation: an IRP we allocate, an owned completion context, and the cancel handle.
//!
//! # Ownership (into the IRP once, back once)
//! [`start`] boxes a [`Pending`] (the call's stable payload — addresses, `WSK_BUF`, buffers — and
//! the continuation) and hands the raw box to the IRP's completion routine. Exactly one side
//! takes it back:
//! - the completion routine ([`completion`]), invoked on success, error and cancel; it returns
//!   STATUS_MORE_PROCESSING_REQUIRED, so the IRP stays ours;
//! - or, when the WSK call returned something other than STATUS_PENDING *without* running the
//!   completion routine (Wine's stubs), [`start`] itself (see [`crate::logic::sync_return`]).
//!
//! The IRP itself belongs to [`OpShared`], shared by the context and the engine's [`OpRef`]; it
//! is freed (`IoFreeIrp`) when the last of them is dropped — never before the completion routine
//! ran, so `IoCancelIrp` through an `OpRef` never touches a freed IRP.

use super::events::Events;
use crate::kernel::outstanding::Token;
use crate::logic::sync_return::{after_call, AfterCall};
use crate::sys::imports::{IoAllocateIrp, IoCancelIrp, IoFreeIrp};
use crate::sys::inline::{IoSetCompletionRoutineAlways, IrpIoStatus};
use crate::sys::{status, DEVICE_OBJECT, FALSE, IRP, NTSTATUS, STATUS_MORE_PROCESSING_REQUIRED};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

/// STATUS_INSUFFICIENT_RESOURCES.
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = status(0xC000_009A);

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
/// connection's end ([`super::events`]), which has none.
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

unsafe extern "system" fn completion<T: Send + 'static>(
    _device: *mut DEVICE_OBJECT,
    irp: *mut IRP,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: 1. `context` is the `Box::into_raw` of `start`, handed to this routine only; `start`
    // does not take it back once the routine has run (it checks `routine_ran` after the call).
    let pending = unsafe { Box::from_raw(context.cast::<Pending<T>>()) };
    pending.shared.routine_ran.store(true, Ordering::Release);
    // SAFETY: 1. the IRP is ours (STATUS_MORE_PROCESSING_REQUIRED below) and alive (`shared`).
    let (st, info) = unsafe { IrpIoStatus(irp) };
    let Pending {
        shared,
        payload,
        finish,
        token,
    } = *pending;
    finish(payload, st, info);
    // May free the IRP: allowed, since we return STATUS_MORE_PROCESSING_REQUIRED.
    drop(shared);
    drop(token);
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Starts one WSK call. `call` gets the payload (at its final heap address) and the IRP and
/// returns the WSK function's status; `finish` runs exactly once with the outcome — in the
/// completion routine, or here if the call never completes its IRP or no IRP could be allocated.
/// Returns an [`OpRef`] while the operation may still be pending.
pub fn start<T: Send + 'static>(
    payload: Box<T>,
    call: impl FnOnce(*mut T, *mut IRP) -> NTSTATUS,
    finish: Finish<T>,
) -> Option<OpRef> {
    // SAFETY: 1. one stack location (WSK is the next and last driver); no quota charge.
    let Some(irp) = NonNull::new(unsafe { IoAllocateIrp(1, FALSE) }) else {
        finish(payload, STATUS_INSUFFICIENT_RESOURCES, 0);
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
    let context = Box::into_raw(pending).cast::<c_void>();
    // SAFETY: 1. a fresh IRP with one stack location below the current one; 2. `context` stays
    // valid until the routine takes it back.
    unsafe { IoSetCompletionRoutineAlways(irp.as_ptr(), completion::<T>, context) };
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
            let pending = unsafe { Box::from_raw(context.cast::<Pending<T>>()) };
            let Pending {
                shared: ctx_shared,
                payload,
                finish,
                token,
            } = *pending;
            finish(payload, st, 0);
            drop(ctx_shared);
            drop(token);
            None
        }
    }
}
