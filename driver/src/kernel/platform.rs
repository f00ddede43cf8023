//! What the running kernel offers, found out once in `DriverEntry` ([`init`]) and read
//! everywhere after: Windows, or Wine 8 hosting the driver in `winedevice.exe`.
//!
//! | | Windows | Wine 8 (read in its `ntoskrnl.exe`, measured by the suite; docs/WINE.md) |
//! |---|---|---|
//! | `IoSetCompletionRoutineEx` | keeps the image until the routine returned | unimplemented stub: calling it aborts |
//! | `KeFlushQueuedDpcs` | waits for every queued DPC | a `fixme` that returns at once |
//! | `KeCancelTimer` of a DPC timer | does not wait for a running DPC | waits for the timer's callback |
//! | `MmSystemRangeStart` | the first system address | a stub function, not a variable |
//! | device references held across unload | keep the image mapped | ignored: `FreeLibrary` right after `DriverUnload` |
//!
//! Wine is recognized by an export only Wine's `ntoskrnl.exe` has (`wine_ntoskrnl_main_loop`,
//! which `winedevice.exe` runs), looked up with `MmGetSystemRoutineAddress`; everything else is
//! looked up the same way, so a missing export is a `None`, never a failed load.
//!
//! # Invariants
//! The statics are written once, by [`init`], before `DriverEntry` creates anything that reads
//! them, and never after.

use crate::logic::names::wide;
use crate::sys::imports::MmGetSystemRoutineAddress;
use crate::sys::UNICODE_STRING;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

static WINE: AtomicBool = AtomicBool::new(false);
static FLUSH_QUEUED_DPCS: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static SYSTEM_RANGE_START: AtomicUsize = AtomicUsize::new(usize::MAX);

static WINE_EXPORT: [u16; 23] = wide("wine_ntoskrnl_main_loop");
static KE_FLUSH_QUEUED_DPCS: [u16; 17] = wide("KeFlushQueuedDpcs");
static MM_SYSTEM_RANGE_START: [u16; 18] = wide("MmSystemRangeStart");

/// `KeFlushQueuedDpcs`.
type FlushQueuedDpcs = unsafe extern "system" fn();

/// What [`init`] found, for the load line.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    /// Wine's `ntoskrnl.exe`.
    pub wine: bool,
    /// `KeFlushQueuedDpcs` is exported (under Wine: a no-op).
    pub flush_queued_dpcs: bool,
    /// The first address of system space the driver accepts for `*_KERNEL` buffers.
    pub system_range_start: usize,
    /// The IRQL `DriverEntry` runs at, as the driver reads it (CR8).
    pub irql: u8,
}

/// A `UNICODE_STRING` over a static UTF-16 name.
pub fn ustr(s: &'static [u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(core::mem::size_of_val(s)).unwrap_or(0);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

/// `MmGetSystemRoutineAddress`: an export of `ntoskrnl.exe` or `hal.dll`, or null.
fn routine(name: &'static [u16]) -> *mut c_void {
    let name = ustr(name);
    // SAFETY: 1. a valid UNICODE_STRING over a static; 2. PASSIVE_LEVEL (DriverEntry).
    unsafe { MmGetSystemRoutineAddress(&raw const name) }
}

/// Finds out what the kernel offers. Call once, first thing in `DriverEntry` (PASSIVE_LEVEL).
pub fn init() -> Found {
    let wine = !routine(&WINE_EXPORT).is_null();
    let flush = routine(&KE_FLUSH_QUEUED_DPCS);
    // Under Wine every "kernel" address is an address of winedevice.exe: there is no system
    // range to tell kernel from user memory, and the export is a stub, not a variable.
    let system_range_start = if wine {
        0
    } else {
        let var = routine(&MM_SYSTEM_RANGE_START).cast::<usize>();
        if var.is_null() {
            // Every x64 Windows has it; without it, refuse every *_KERNEL buffer.
            usize::MAX
        } else {
            // SAFETY: 1. on Windows `MmSystemRangeStart` is an exported, initialized `PVOID`
            // variable, which `MmGetSystemRoutineAddress` returns the address of.
            unsafe { var.read() }
        }
    };
    // INVARIANT: written here, before anything that reads them exists.
    WINE.store(wine, Ordering::Release);
    FLUSH_QUEUED_DPCS.store(flush, Ordering::Release);
    SYSTEM_RANGE_START.store(system_range_start, Ordering::Release);
    Found {
        wine,
        flush_queued_dpcs: !flush.is_null(),
        system_range_start,
        irql: irql(),
    }
}

/// The kernel is Wine's.
pub fn is_wine() -> bool {
    WINE.load(Ordering::Acquire)
}

/// `IoSetCompletionRoutineEx` may be called (not under Wine, where it is a stub that aborts).
pub fn unload_safe_completions() -> bool {
    !is_wine()
}

/// The first address the driver treats as system space (`MmSystemRangeStart`; 0 under Wine,
/// `usize::MAX` before [`init`] or where it could not be read).
pub fn system_range_start() -> usize {
    SYSTEM_RANGE_START.load(Ordering::Acquire)
}

/// How [`flush_queued_dpcs`] went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flush {
    /// `KeFlushQueuedDpcs` returned: every DPC queued before the call has run (Windows).
    Flushed,
    /// Wine: `KeFlushQueuedDpcs` is a no-op there; the timers' own flush (`KeCancelTimer`, which
    /// waits for the timer's callback under Wine) stands in for it.
    WineNoOp,
    /// Not exported: only the timers' own flush.
    Absent,
}

/// `KeFlushQueuedDpcs` (PASSIVE_LEVEL), if the kernel has a working one.
pub fn flush_queued_dpcs() -> Flush {
    if is_wine() {
        return Flush::WineNoOp;
    }
    let f = FLUSH_QUEUED_DPCS.load(Ordering::Acquire);
    if f.is_null() {
        return Flush::Absent;
    }
    // SAFETY: 1. a non-null address `MmGetSystemRoutineAddress` returned for
    // `KeFlushQueuedDpcs`, whose type is `VOID KeFlushQueuedDpcs(VOID)`; function and data
    // pointers have the same size on x64.
    let f = unsafe { core::mem::transmute::<*mut c_void, FlushQueuedDpcs>(f) };
    // SAFETY: 1. PASSIVE_LEVEL (DriverUnload, the caller's contract); no arguments.
    unsafe { f() };
    Flush::Flushed
}

/// The current IRQL (`KeGetCurrentIrql`, which on x64 is a read of CR8).
pub fn irql() -> u8 {
    let cr8: u64;
    // SAFETY: 1. kernel code may read CR8 at any IRQL; it only reads a register (under Wine,
    // whose drivers run in user mode, ntoskrnl emulates the privileged read: docs/WINE.md).
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) cr8, options(nomem, nostack, preserves_flags));
    }
    // CR8 holds the IRQL in its low 4 bits.
    (cr8 & 0xF) as u8
}
