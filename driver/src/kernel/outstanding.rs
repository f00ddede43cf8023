//! Counts the driver's callbacks that the kernel may still run (WSK completion routines, timer
//! DPCs, work items, client cancel routines): unload must not return while one is outstanding,
//! or the kernel would call into unloaded code.
//!
//! Every `into_foreign` of a context whose callback the kernel will call takes a [`Token`]; the
//! callback drops it as its last action.

use core::sync::atomic::{AtomicUsize, Ordering};

static OUTSTANDING: AtomicUsize = AtomicUsize::new(0);

/// One callback the kernel may still run.
#[derive(Debug)]
pub struct Token(());

impl Token {
    /// Counts a new outstanding callback.
    pub fn new() -> Token {
        OUTSTANDING.fetch_add(1, Ordering::AcqRel);
        Token(())
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        OUTSTANDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Callbacks still outstanding.
pub fn count() -> usize {
    OUTSTANDING.load(Ordering::Acquire)
}

/// Waits (PASSIVE_LEVEL, unload only) until no callback is outstanding, then a little longer so
/// the last one can return from its final instruction.
pub fn wait_until_idle() {
    let mut waited = 0u32;
    while count() != 0 {
        crate::kernel::event::sleep_ms(10);
        waited += 1;
        if waited.is_multiple_of(500) {
            crate::kernel::print::kprint!("unload: {} callbacks still outstanding", count());
        }
    }
    crate::kernel::event::sleep_ms(10);
}
