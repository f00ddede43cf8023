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
