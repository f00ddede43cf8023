//! A global allocator on non-paged pool (`ExAllocatePoolWithTag`, which Wine 8 has, unlike
//! `ExAllocatePool2`), so everything an image allocates may be touched at DISPATCH_LEVEL. Each
//! image names its pool tag; the driver's crate root makes it the global allocator of every build
//! but the WDK one, which uses `wdk-alloc`'s.

use crate::sys::imports::{ExAllocatePoolWithTag, ExFreePoolWithTag};
use crate::sys::NonPagedPoolNx;
use core::alloc::{GlobalAlloc, Layout};

/// `MEMORY_ALLOCATION_ALIGNMENT` on x64: pool blocks are 16-byte aligned.
const POOL_ALIGN: usize = 16;

/// Non-paged pool allocator tagging its blocks with `TAG` (four ASCII bytes, little-endian: pool
/// tools show `*b"WskS"` as `SksW`).
pub struct PoolAllocator<const TAG: u32>;

// SAFETY: 1. `alloc` returns either null or a fresh block of at least `layout.size()` bytes aligned
// to `POOL_ALIGN` >= `layout.align()` (larger alignments are refused with null); 2. `dealloc` frees
// only blocks `alloc` returned, with the same tag.
unsafe impl<const TAG: u32> GlobalAlloc for PoolAllocator<TAG> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > POOL_ALIGN {
            return core::ptr::null_mut();
        }
        // SAFETY: 1. any size is valid for the call (0 is never passed by GlobalAlloc's contract);
        // 2. NonPagedPoolNx is a valid pool type at IRQL <= DISPATCH_LEVEL.
        unsafe { ExAllocatePoolWithTag(NonPagedPoolNx, layout.size(), TAG).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: 1. `ptr` came from `alloc` above (GlobalAlloc contract), tagged `TAG`.
        unsafe { ExFreePoolWithTag(ptr.cast(), TAG) }
    }
}
