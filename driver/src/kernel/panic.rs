//! The panic handler: a panic in a driver is a bug check.
//!
//! Nothing a client sends can reach a panic (every input is checked and answered with a status),
//! so a panic means a driver bug: print where it happened, then stop the machine with a
//! driver-specific bug check code instead of running on with broken invariants.

use crate::kernel::print::kprint;
use crate::sys::imports::KeBugCheckEx;

/// Bug check code of a wsksock panic (`'WSKP'`); parameter 1 is the source line.
pub const WSKSOCK_PANIC_BUGCHECK: u32 = u32::from_be_bytes(*b"WSKP");

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let line = info.location().map_or(0, |l| l.line() as usize);
    kprint!("panic: {}", info);
    // SAFETY: 1. KeBugCheckEx may be called at any IRQL; 2. it does not return.
    unsafe { KeBugCheckEx(WSKSOCK_PANIC_BUGCHECK, line, 0, 0, 0) }
}
