//! MDLs for data buffers, without copying the data.
//!
//! - [`Mdl::partial`]: a sub-range of a caller's MDL (`Irp->MdlAddress`, already probed and locked
//!   by the I/O manager for direct I/O) via `IoBuildPartialMdl`.
//! - [`Mdl::nonpaged`]: a non-paged kernel buffer named by a kernel-mode caller
//!   (`IoAllocateMdl` + `MmBuildMdlForNonPagedPool`).
//! - [`Mdl::borrowed`]: the caller's MDL itself, when the whole buffer is the data.
//!
//! The MDLs this module allocates are freed in `Drop`; a borrowed one belongs to the IRP, which
//! outlives it (the buffer is given back to the request before the IRP completes).

use crate::kernel::faults::IoAllocateMdl;
use crate::logic::buffers::SubRange;
use crate::sys::imports::{IoBuildPartialMdl, IoFreeMdl, MmBuildMdlForNonPagedPool, MmUnmapLockedPages};
use crate::sys::inline::{MmGetMdlByteCount, MmGetMdlVirtualAddress};
use crate::sys::{FALSE, MDL, MDL_PARTIAL_HAS_BEEN_MAPPED};
use core::ptr::NonNull;

/// An MDL describing a data buffer.
///
/// # Invariants
/// `ptr` is a live MDL describing `len` bytes of locked or non-paged memory; if `owned`, this
/// value allocated it and frees it on drop.
#[derive(Debug)]
pub struct Mdl {
    ptr: NonNull<MDL>,
    len: usize,
    owned: bool,
}

// SAFETY: 1. an MDL is a description of memory, usable from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for Mdl {}
// SAFETY: 1. see `Send`; `&Mdl` only reads the description.
unsafe impl Sync for Mdl {}

impl Mdl {
    /// The caller's MDL itself.
    ///
    /// # Safety
    /// `mdl` is a live, locked MDL that outlives the returned value.
    pub unsafe fn borrowed(mdl: NonNull<MDL>) -> Mdl {
        // SAFETY: 1. live MDL (caller contract).
        let len = unsafe { MmGetMdlByteCount(mdl.as_ptr()) } as usize;
        // INVARIANT: not owned; the caller guarantees it outlives us.
        Mdl {
            ptr: mdl,
            len,
            owned: false,
        }
    }

    /// A sub-range of `source`. `None` if the range is empty or no MDL could be allocated.
    ///
    /// # Safety
    /// `source` is a live, locked MDL that outlives the returned value, and `range` lies within it.
    pub unsafe fn partial(source: NonNull<MDL>, range: SubRange) -> Option<Mdl> {
        if range.len == 0 {
            return None;
        }
        // SAFETY: 1. live MDL (caller contract).
        let base = unsafe { MmGetMdlVirtualAddress(source.as_ptr()) }.cast::<u8>();
        let va = base.wrapping_add(range.offset).cast();
        // SAFETY: 1. only describes `va..va+len` (no access); no IRP association.
        let target =
            NonNull::new(unsafe { IoAllocateMdl(va, range.len, FALSE, FALSE, core::ptr::null_mut()) })?;
        // SAFETY: 1. `target` was allocated for exactly this range; 2. the range lies within the
        // locked `source` (caller contract).
        unsafe { IoBuildPartialMdl(source.as_ptr(), target.as_ptr(), va, range.len) };
        // INVARIANT: owned, describes `range.len` locked bytes.
        Some(Mdl {
            ptr: target,
            len: range.len as usize,
            owned: true,
        })
    }

    /// A non-paged kernel buffer. `None` if no MDL could be allocated.
    ///
    /// # Safety
    /// `addr..addr+len` is non-paged kernel memory that stays valid while the MDL is in use.
    pub unsafe fn nonpaged(addr: usize, len: u32) -> Option<Mdl> {
        if len == 0 {
            return None;
        }
        // SAFETY: 1. only describes the range; no IRP association.
        let mdl =
            NonNull::new(unsafe { IoAllocateMdl(addr as *mut _, len, FALSE, FALSE, core::ptr::null_mut()) })?;
        // SAFETY: 1. the range is non-paged memory (caller contract).
        unsafe { MmBuildMdlForNonPagedPool(mdl.as_ptr()) };
        // INVARIANT: owned, non-paged.
        Some(Mdl {
            ptr: mdl,
            len: len as usize,
            owned: true,
        })
    }

    /// The raw MDL, for a `WSK_BUF`.
    pub fn as_ptr(&self) -> *mut MDL {
        self.ptr.as_ptr()
    }

    /// Bytes described.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mdl {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let mdl = self.ptr.as_ptr();
        // SAFETY: 1. owned, live MDL (invariant).
        let (flags, mapped) = unsafe { crate::sys::inline::MdlMapping(mdl) };
        if flags & MDL_PARTIAL_HAS_BEEN_MAPPED != 0 {
            // SAFETY: 1. a partial MDL mapped by the system must be unmapped before it is freed.
            unsafe { MmUnmapLockedPages(mapped, mdl) };
        }
        // SAFETY: 1. allocated by IoAllocateMdl in this module and not used after.
        unsafe { IoFreeMdl(mdl) };
    }
}
