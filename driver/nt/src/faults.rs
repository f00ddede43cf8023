//! The allocation fault injector of the driver's test build: a wrapper of any allocator that
//! fails its Nth allocation. Not Windows-specific (unit-tested on the host over the system
//! allocator); the driver makes it its global allocator at its crate root with feature
//! `alloc-faults` (docs/DRIVER.md, "Memory").

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU64, Ordering};

/// The allocation fault injector of a test build (the driver's feature `alloc-faults`, chosen
/// at its crate root): wraps an allocator and fails its `fail_at`-th allocation (1-based; 0:
/// none), counting every allocation — a `realloc` is one — from the moment the image set
/// `fail_at` ([`FailNth::configure`], first thing in `DriverEntry`, from the service's registry
/// key). The driver counts its kernel allocations (IRPs, MDLs, work items) here too
/// ([`FailNth::next_fails`]), so the Nth is any pool allocation the driver makes.
pub struct FailNth<A> {
    inner: A,
    count: AtomicU64,
    fail_at: AtomicU64,
    failed: AtomicU64,
    /// What the failed allocation was: its size in bytes, or a kernel object's [`Kind`] code.
    what: AtomicU64,
}

/// What an allocation the injector counts is, for its report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A pool block of this many bytes (the global allocator).
    Pool(usize),
    /// An IRP (`IoAllocateIrp`).
    Irp,
    /// An MDL (`IoAllocateMdl`).
    Mdl,
    /// A work item (`IoAllocateWorkItem`).
    WorkItem,
}

impl Kind {
    fn code(self) -> u64 {
        match self {
            Kind::Pool(n) => n as u64,
            Kind::Irp => u64::MAX,
            Kind::Mdl => u64::MAX - 1,
            Kind::WorkItem => u64::MAX - 2,
        }
    }

    /// The kind a code stands for (0: none yet).
    pub fn from_code(c: u64) -> Option<Kind> {
        match c {
            0 => None,
            u64::MAX => Some(Kind::Irp),
            c if c == u64::MAX - 1 => Some(Kind::Mdl),
            c if c == u64::MAX - 2 => Some(Kind::WorkItem),
            n => usize::try_from(n).ok().map(Kind::Pool),
        }
    }
}

impl<A> FailNth<A> {
    /// Wraps `inner`; fails nothing until configured.
    pub const fn new(inner: A) -> Self {
        FailNth {
            inner,
            count: AtomicU64::new(0),
            fail_at: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            what: AtomicU64::new(0),
        }
    }

    /// Starts counting from zero; the `n`th allocation from now on fails (0: none).
    pub fn configure(&self, n: u64) {
        self.count.store(0, Ordering::SeqCst);
        self.failed.store(0, Ordering::SeqCst);
        self.what.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// Counts one allocation of `kind`; whether it is the one to fail.
    pub fn next_fails(&self, kind: Kind) -> bool {
        let n = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        let fails = n == self.fail_at.load(Ordering::Acquire);
        if fails {
            self.failed.fetch_add(1, Ordering::AcqRel);
            self.what.store(kind.code(), Ordering::Release);
        }
        fails
    }

    /// What the failed allocation was (`None`: none failed).
    pub fn failed_kind(&self) -> Option<Kind> {
        Kind::from_code(self.what.load(Ordering::Acquire))
    }

    /// The allocation `configure` set to fail (0: none).
    pub fn fail_at(&self) -> u64 {
        self.fail_at.load(Ordering::Acquire)
    }

    /// Allocations counted since `configure`, and how many failed.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Acquire),
            self.failed.load(Ordering::Acquire),
        )
    }
}

// SAFETY: 1. `alloc` returns null (a failure the caller must handle, as GlobalAlloc allows) or what
// `inner.alloc` returned for the same layout; 2. `dealloc` hands `inner` only blocks it allocated
// (the layout unchanged), as GlobalAlloc's contract requires of our caller.
unsafe impl<A: GlobalAlloc> GlobalAlloc for FailNth<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.next_fails(Kind::Pool(layout.size())) {
            return core::ptr::null_mut();
        }
        // SAFETY: 1. the caller's layout, passed on as GlobalAlloc's contract requires.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: 1. `ptr` came from `alloc` above, i.e. from `inner` with `layout` (caller contract).
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests are not the driver: driver/clippy.toml
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn exactly_the_nth_allocation_fails_and_all_are_counted() {
        let a = FailNth::new(System);
        let layout = Layout::from_size_align(24, 8).unwrap();
        a.configure(3);
        let mut got = Vec::new();
        for _ in 0..5 {
            // SAFETY: 1. a non-zero layout.
            got.push(unsafe { a.alloc(layout) });
        }
        let nulls: Vec<bool> = got.iter().map(|p| p.is_null()).collect();
        assert_eq!(nulls, [false, false, true, false, false]);
        assert_eq!(a.counts(), (5, 1));
        assert_eq!(a.failed_kind(), Some(Kind::Pool(24)));
        assert_eq!(a.fail_at(), 3);
        for p in got.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: 1. allocated above with `layout`, freed once.
            unsafe { a.dealloc(p, layout) };
        }
        a.configure(0);
        // SAFETY: 1. a non-zero layout.
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null(), "0: nothing fails");
        assert!(!a.next_fails(Kind::Irp));
        assert_eq!(a.counts(), (2, 0));
        assert_eq!(a.failed_kind(), None);
        // SAFETY: 1. allocated just above, freed once.
        unsafe { a.dealloc(p, layout) };
    }
}
