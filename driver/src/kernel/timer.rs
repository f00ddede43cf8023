//! One-shot timers: a `KTIMER` whose `KDPC` runs a Rust callback at DISPATCH_LEVEL.
//!
//! # Ownership
//! The timer lives in an `Arc`. While the timer is set, the DPC owns one strong reference
//! (`Arc::into_raw`, the DPC's `DeferredContext`) and one [`Token`]; exactly one side gives them
//! back: the DPC routine when it runs, or [`Timer::cancel`] when `KeCancelTimer` says the timer
//! was still queued (so the DPC will never run). The `state` CAS decides who runs or drops the
//! callback.

use crate::kernel::outstanding::Token;
use crate::sys::imports::{KeCancelTimer, KeInitializeDpc, KeInitializeTimer, KeSetTimer};
use crate::sys::{KDPC, KTIMER};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, Ordering};

const ARMED: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

type Callback = Box<dyn FnOnce() + Send>;

struct Inner {
    ktimer: UnsafeCell<KTIMER>,
    kdpc: UnsafeCell<KDPC>,
    state: AtomicU8,
    /// Taken by whoever wins the `state` CAS.
    callback: UnsafeCell<Option<Callback>>,
    /// The DPC's outstanding token, given back with the DPC's reference.
    token: UnsafeCell<Option<Token>>,
}

// SAFETY: 1. the KTIMER/KDPC are only used through the kernel's synchronized calls; 2. `callback`
// and `token` are only taken by the single winner of the `state` CAS / the DPC reference owner.
unsafe impl Send for Inner {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Inner {}

/// A pending one-shot timer.
pub struct Timer(Arc<Inner>);

/// Converts milliseconds to a relative `KeSetTimer` due time (negative, 100 ns units, at least 1).
fn due_time(delay_ms: u64) -> i64 {
    let ticks = delay_ms.saturating_mul(10_000).clamp(1, i64::MAX as u64);
    -i64::try_from(ticks).unwrap_or(i64::MAX)
}

unsafe extern "system" fn timer_dpc(
    _dpc: *mut KDPC,
    context: *mut c_void,
    _a1: *mut c_void,
    _a2: *mut c_void,
) {
    // SAFETY: 1. `context` is the `Arc::into_raw` made in `Timer::start`; the DPC runs once and the
    // cancel path did not take the reference back (KeCancelTimer returned FALSE or was not called).
    let inner = unsafe { Arc::from_raw(context.cast::<Inner>()) };
    if inner
        .state
        .compare_exchange(ARMED, FIRED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // SAFETY: 1. we won the CAS, so nobody else takes the callback.
        let cb = unsafe { (*inner.callback.get()).take() };
        if let Some(cb) = cb {
            cb();
        }
    }
    // SAFETY: 1. the DPC reference's owner (us) is the only one taking the token.
    let token = unsafe { (*inner.token.get()).take() };
    drop(inner);
    drop(token);
}

impl Timer {
    /// Runs `callback` once, at DISPATCH_LEVEL, after `delay_ms` milliseconds.
    pub fn start(delay_ms: u64, callback: Callback) -> Timer {
        let inner = Arc::new(Inner {
            ktimer: UnsafeCell::new(KTIMER::zeroed()),
            kdpc: UnsafeCell::new(KDPC::zeroed()),
            state: AtomicU8::new(ARMED),
            callback: UnsafeCell::new(Some(callback)),
            token: UnsafeCell::new(Some(Token::new())),
        });
        let dpc_ref = Arc::into_raw(inner.clone()).cast_mut().cast::<c_void>();
        // SAFETY: 1. the KTIMER and KDPC live in the Arc and never move; 2. they are initialized
        // once, before the timer is set; 3. the DPC context is a strong reference (see module docs).
        unsafe {
            KeInitializeTimer(inner.ktimer.get());
        }
        // SAFETY: 1. as above.
        unsafe {
            KeInitializeDpc(inner.kdpc.get(), timer_dpc, dpc_ref);
        }
        // SAFETY: 1. initialized timer and DPC, alive while the DPC reference is outstanding.
        unsafe {
            KeSetTimer(inner.ktimer.get(), due_time(delay_ms), inner.kdpc.get());
        }
        Timer(inner)
    }

    /// Cancels the timer: `true` if the callback will never run (it is dropped here).
    pub fn cancel(&self) -> bool {
        let inner = &self.0;
        if inner.state.load(Ordering::Acquire) == CANCELLED {
            return true;
        }
        // SAFETY: 1. initialized timer, alive as long as `self`.
        let was_queued = unsafe { KeCancelTimer(inner.ktimer.get()) } != 0;
        if !was_queued {
            return false;
        }
        // The DPC will never run: we own its reference, its token and the callback.
        if inner
            .state
            .compare_exchange(ARMED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // SAFETY: 1. the CAS made us the only owner of the callback.
        let cb = unsafe { (*inner.callback.get()).take() };
        drop(cb);
        // SAFETY: 1. the DPC will never run (KeCancelTimer returned TRUE), so its token is ours.
        let token = unsafe { (*inner.token.get()).take() };
        // SAFETY: 1. the DPC's strong reference (from `Arc::into_raw` in `start`) is given back once,
        // here, since the DPC will never run to give it back itself.
        unsafe { Arc::decrement_strong_count(Arc::as_ptr(inner)) };
        drop(token);
        true
    }
}
