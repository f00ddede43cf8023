//! A counting global allocator for the memory benchmark, scoped to one thread and one closure.
//!
//! [`measure`] counts the bytes allocated and freed by the calling thread while its closure runs,
//! except inside [`excluded`] (the provider's and the front end's own allocations). Binaries that
//! do not install [`Counting`] as their global allocator still compile and run the hooks, which
//! then only toggle a thread-local flag.
//!
//! This is the one `unsafe` of the benchmarks: a `GlobalAlloc` cannot be written without it. It
//! forwards every call to the system allocator unchanged and only adds to thread-local counters
//! (const-initialised cells without destructors, so the allocator never allocates itself).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static EXCLUDED: Cell<u32> = const { Cell::new(0) };
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    static FREED: Cell<u64> = const { Cell::new(0) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static SIZES: Cell<[u32; SIZES_KEPT]> = const { Cell::new([0; SIZES_KEPT]) };
}

/// How many allocation sizes [`Usage::sizes`] keeps (the first ones of the closure).
pub const SIZES_KEPT: usize = 16;

/// What a closure allocated (net of what it freed) on its thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Bytes allocated.
    pub allocated: u64,
    /// Bytes freed.
    pub freed: u64,
    /// Number of allocations.
    pub allocs: u64,
    /// Sizes of the first [`SIZES_KEPT`] allocations.
    pub sizes: [u32; SIZES_KEPT],
}

impl Usage {
    /// Bytes still allocated after the closure (may be negative if it freed older memory).
    pub fn live(&self) -> i64 {
        i64::try_from(self.allocated).unwrap_or(i64::MAX) - i64::try_from(self.freed).unwrap_or(i64::MAX)
    }
}

/// The counting allocator.
pub struct Counting;

fn counted() -> bool {
    COUNTING.with(Cell::get) && EXCLUDED.with(Cell::get) == 0
}

fn on_alloc(size: usize) {
    if counted() {
        let n = ALLOCS.with(Cell::get);
        if let Ok(i) = usize::try_from(n) {
            if i < SIZES_KEPT {
                SIZES.with(|s| {
                    let mut a = s.get();
                    a[i] = u32::try_from(size).unwrap_or(u32::MAX);
                    s.set(a);
                });
            }
        }
        ALLOCS.with(|c| c.set(n + 1));
        ALLOCATED.with(|c| c.set(c.get() + size as u64));
    }
}

fn on_free(size: usize) {
    if counted() {
        FREED.with(|c| c.set(c.get() + size as u64));
    }
}

// SAFETY:
// 1. every method forwards to `System` with the caller's arguments unchanged, so `System`'s
//    guarantees are this allocator's;
// 2. the bookkeeping touches only const-initialised thread-locals without destructors: it never
//    allocates, never panics, and never re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY:
        // 1. the caller upholds `GlobalAlloc::alloc`'s contract for `layout`, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_free(layout.size());
        // SAFETY:
        // 1. `ptr` was returned by this allocator, i.e. by `System`, for `layout` (caller contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY:
        // 1. as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_free(layout.size());
        on_alloc(new_size);
        // SAFETY:
        // 1. `ptr` came from `System` for `layout` and `new_size` is valid (caller contract).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` counting this thread's allocations (not those inside [`excluded`]).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    ALLOCATED.with(|c| c.set(0));
    FREED.with(|c| c.set(0));
    ALLOCS.with(|c| c.set(0));
    SIZES.with(|c| c.set([0; SIZES_KEPT]));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    let u = Usage {
        allocated: ALLOCATED.with(Cell::get),
        freed: FREED.with(Cell::get),
        allocs: ALLOCS.with(Cell::get),
        sizes: SIZES.with(Cell::get),
    };
    (r, u)
}

/// Runs `f` without counting (the provider's and the front end's own memory).
pub fn excluded<T>(f: impl FnOnce() -> T) -> T {
    EXCLUDED.with(|c| c.set(c.get() + 1));
    let r = f();
    EXCLUDED.with(|c| c.set(c.get() - 1));
    r
}
