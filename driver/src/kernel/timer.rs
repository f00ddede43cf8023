//! One-shot timers: a `KTIMER` whose `KDPC` runs a Rust callback at DISPATCH_LEVEL.
//!
//! A timer is allocated first ([`Timer::new`], which may fail: the engine makes its timers when a
//! request or a socket is admitted) and armed later ([`Timer::arm`], which cannot fail); a
//! cancelled timer may be armed again, a fired one not (its callback is gone).
//!
//! # Ownership
//! The timer lives in an `Arc<Inner>`. While the timer is armed, the DPC owns one strong
//! reference (the `DeferredContext` is the `Inner`'s address; each arming hands the DPC a new
//! reference with [`ForeignOwnable::into_foreign`]) and one [`Token`]; exactly one side takes
//! them back: the DPC routine when it runs, or [`Timer::cancel`] when `KeCancelTimer` says the
//! timer was still queued (so the DPC will not run for this arming). The `state` CAS decides who
//! runs the callback, and whether a cancel takes the arming back.
//!
//! # Retired timers
//! A DPC does not drop its own reference: under Wine the kernel still writes to the `KTIMER`
//! after the DPC routine returned (its thread-pool callback sets the timer's signal state) and
//! keeps a thread-pool timer for it until `KeCancelTimer`. The DPC *retires* its reference onto a
//! lock-free list instead; [`reap`] takes the whole list and, for each timer, calls
//! `KeCancelTimer` — on Windows a no-op for a timer that fired; under Wine the wait for the
//! timer's callback to have returned and the release of its thread-pool timer — before dropping
//! the reference. [`Timer::new`] reaps, so the list stays short, and unload reaps last: under
//! Wine, where `KeFlushQueuedDpcs` is a no-op, that is the flush of every DPC the driver queued.
//!
//! # Invariants
//! - `RETIRED` is null or the foreign pointer of a retired `Arc<Inner>` whose `retired_next`
//!   continues the list; a retired timer's DPC has finished its work and touches nothing of it.
//! - A timer is retired at most once: by its DPC, which runs at most once per arming, and only
//!   for an arming that fired — after which the timer is spent and never armed again.
//! - `arm` and `cancel` of one timer are never called at the same time (the engine takes a timer
//!   out of its state to arm or cancel it).

use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::outstanding::Token;
use crate::sys::imports::{KeCancelTimer, KeInitializeDpc, KeInitializeTimer, KeSetTimer};
use crate::sys::{KDPC, KTIMER};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};

/// Not armed (new, or cancelled): `arm` may arm it.
const IDLE: u8 = 0;
/// Being armed by `arm` (its token and DPC reference are being set up).
const ARMING: u8 = 1;
/// Armed: the DPC holds a reference and a token.
const ARMED: u8 = 2;
/// The DPC took the callback: spent.
const FIRED: u8 = 3;

type Callback = Box<dyn FnOnce(u64) + Send>;

struct Inner {
    ktimer: UnsafeCell<KTIMER>,
    kdpc: UnsafeCell<KDPC>,
    state: AtomicU8,
    /// The cookie of the current arming, given to the callback.
    cookie: AtomicU64,
    /// Taken by the DPC that wins the `ARMED → FIRED` CAS.
    callback: UnsafeCell<Option<Callback>>,
    /// The DPC's outstanding token, given back with the DPC's reference.
    token: UnsafeCell<Option<Token>>,
    /// The next retired timer (written by the DPC before it publishes this one).
    retired_next: UnsafeCell<*mut c_void>,
}

// SAFETY: 1. the KTIMER/KDPC are only used through the kernel's synchronized calls; 2. `callback`
// is only taken by the DPC that wins the `state` CAS (or dropped with the last reference); `token`
// is set by the armer (`IDLE → ARMING`, alone) and taken by the DPC reference's owner (the DPC,
// or the cancel that took the arming back); 3. `retired_next` is written by the DPC before the
// list CAS publishes it and read by the one reaper that took the list.
unsafe impl Send for Inner {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Inner {}

/// The retired timers (see the module docs).
static RETIRED: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// A one-shot timer.
pub struct Timer {
    inner: Arc<Inner>,
    /// The address the DPC gets as its context: the foreign form of the reference each arming
    /// hands it (the same address every time).
    dpc_ref: NonNull<c_void>,
}

// SAFETY: 1. `dpc_ref` is only turned back into the DPC's reference by `cancel`, after the state
// CAS made the caller its only owner; everything else is the Sync `Inner`.
unsafe impl Send for Timer {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for Timer {}

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
    let Some(context) = NonNull::new(context) else {
        return;
    };
    // SAFETY: 1. `context` is the DPC's reference from `Timer::arm`; the DPC runs once and the
    // cancel path did not take it back (KeCancelTimer returned FALSE or was not called), so it is
    // alive until this routine retires it below.
    let inner = unsafe { <Arc<Inner> as ForeignOwnable>::borrow(context) };
    if inner
        .state
        .compare_exchange(ARMED, FIRED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // SAFETY: 1. we won the CAS, so nobody else takes the callback.
        let cb = unsafe { (*inner.callback.get()).take() };
        if let Some(cb) = cb {
            cb(inner.cookie.load(Ordering::Acquire));
        }
    }
    // SAFETY: 1. the DPC reference's owner (us) is the only one taking the token.
    let token = unsafe { (*inner.token.get()).take() };
    // SAFETY: 1. our reference, retired once; `inner` is not used after this.
    unsafe { retire(context) };
    drop(token);
}

/// Pushes a DPC's reference onto the retired list.
///
/// # Safety
/// `r` is the foreign reference of a timer whose DPC is ending; the caller does not touch the
/// timer afterwards.
unsafe fn retire(r: NonNull<c_void>) {
    // SAFETY: 1. still ours until the CAS below publishes it (caller contract).
    let inner = unsafe { <Arc<Inner> as ForeignOwnable>::borrow(r) };
    let mut head = RETIRED.load(Ordering::Acquire);
    loop {
        // SAFETY: 1. not published yet: nobody else reads or writes `retired_next`.
        unsafe { inner.retired_next.get().write(head) };
        match RETIRED.compare_exchange_weak(head, r.as_ptr(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Frees the retired timers: `KeCancelTimer` on each (under Wine: waits for its callback to have
/// returned), then the reference. IRQL <= DISPATCH_LEVEL; never from a timer's own DPC before it
/// retired itself (it is not on the list then).
pub fn reap() {
    let mut next = RETIRED.swap(core::ptr::null_mut(), Ordering::AcqRel);
    while let Some(r) = NonNull::new(next) {
        // SAFETY: 1. the swap took the whole list: each retired reference on it is now ours, and
        // its DPC is done with it (invariant).
        let inner = unsafe { <Arc<Inner> as ForeignOwnable>::from_foreign(r) };
        // SAFETY: 1. written by `retire` before the timer was published, read once here.
        next = unsafe { inner.retired_next.get().read() };
        // SAFETY: 1. an initialized timer, alive while `inner` is; it is not set any more.
        unsafe { KeCancelTimer(inner.ktimer.get()) };
        drop(inner);
    }
}

impl Timer {
    /// A timer that will run `callback`, not armed; `None` if there is no memory for it.
    pub fn new(callback: Callback) -> Option<Timer> {
        reap();
        let inner = Arc::try_new(Inner {
            ktimer: UnsafeCell::new(KTIMER::zeroed()),
            kdpc: UnsafeCell::new(KDPC::zeroed()),
            state: AtomicU8::new(IDLE),
            cookie: AtomicU64::new(0),
            callback: UnsafeCell::new(Some(callback)),
            token: UnsafeCell::new(None),
            retired_next: UnsafeCell::new(core::ptr::null_mut()),
        })
        .ok()?;
        let dpc_ref = NonNull::from(&*inner).cast::<c_void>();
        // SAFETY: 1. the KTIMER lives in the Arc and never moves; 2. initialized once, before the
        // timer is set.
        unsafe { KeInitializeTimer(inner.ktimer.get()) };
        // SAFETY: 1. as above for the KDPC; 2. its context is the address every arming's foreign
        // reference has (module docs).
        unsafe { KeInitializeDpc(inner.kdpc.get(), timer_dpc, dpc_ref.as_ptr()) };
        Some(Timer { inner, dpc_ref })
    }

    /// Arms the timer to run its callback with `cookie`, at DISPATCH_LEVEL, after `delay_ms`
    /// milliseconds. Does nothing unless the timer is not armed and not spent (the engine arms
    /// a timer only then).
    pub fn arm(&self, delay_ms: u64, cookie: u64) {
        let inner = &self.inner;
        if inner
            .state
            .compare_exchange(IDLE, ARMING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        inner.cookie.store(cookie, Ordering::Release);
        // SAFETY: 1. `ARMING` makes us the only one touching the token (no DPC reference is out).
        unsafe { *inner.token.get() = Some(Token::new()) };
        // The DPC's reference for this arming; its foreign form is `dpc_ref` (same address).
        let handed = inner.clone().into_foreign();
        debug_assert_eq!(handed, self.dpc_ref);
        inner.state.store(ARMED, Ordering::Release);
        // SAFETY: 1. initialized timer and DPC, alive while the DPC reference is outstanding.
        unsafe { KeSetTimer(inner.ktimer.get(), due_time(delay_ms), inner.kdpc.get()) };
    }

    /// Cancels the timer: `true` if the callback will not run for this arming (or it was not
    /// armed) — it may be armed again; `false` if it ran or is running.
    pub fn cancel(&self) -> bool {
        let inner = &self.inner;
        match inner.state.load(Ordering::Acquire) {
            IDLE => return true,
            // The DPC took the callback: nothing to cancel, and no KeCancelTimer, which under Wine
            // waits for the timer's callback — this very call, if the callback cancels its timer.
            FIRED => return false,
            _ => {}
        }
        // SAFETY: 1. initialized timer, alive as long as `self`.
        let was_queued = unsafe { KeCancelTimer(inner.ktimer.get()) } != 0;
        if !was_queued {
            return false;
        }
        // Still queued, so the DPC will not run — unless it already did: Wine's KeCancelTimer says
        // TRUE for a timer that fired (it waits for the callback first), which the CAS sees.
        if inner
            .state
            .compare_exchange(ARMED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // SAFETY: 1. the DPC will not run for this arming, so its token is ours.
        let token = unsafe { (*inner.token.get()).take() };
        // SAFETY: 1. this arming's DPC reference, which the DPC will never take back: given back
        // once, here (the CAS above succeeds once per arming). The callback stays, for a new arming.
        drop(unsafe { <Arc<Inner> as ForeignOwnable>::from_foreign(self.dpc_ref) });
        drop(token);
        true
    }
}
