//! Whether the kernel may touch a buffer a kernel requestor names by address: in system space
//! (`logic::buffers::kernel_range`, against `MmSystemRangeStart`) and every page resident now
//! (`MmIsAddressValid`), so that neither `MmBuildMdlForNonPagedPool` nor a reply write ever
//! faults on it.
//!
//! Residency is checked, non-paged-ness cannot be: the ABI requires non-paged memory of
//! `*_KERNEL` callers (docs/ABI.md), and `MmIsNonPagedSystemAddressValid` — which claimed to tell —
//! is obsolete on Windows and an unimplemented stub under Wine.

use crate::kernel::platform;
use crate::logic::buffers::{kernel_range, KernelBufferError, KernelRange};
use crate::status::NtStatus;
use crate::sys::imports::MmIsAddressValid;

/// Checks `addr..addr+len`; the error is the request's status (STATUS_INVALID_USER_BUFFER for
/// a user-mode or non-resident address, STATUS_INVALID_PARAMETER for a malformed range).
/// IRQL <= DISPATCH_LEVEL.
pub fn check(addr: u64, len: u64) -> Result<KernelRange, NtStatus> {
    let range = kernel_range(addr, len, platform::system_range_start()).map_err(KernelBufferError::status)?;
    for page in range.pages() {
        // SAFETY: 1. MmIsAddressValid only inspects the page tables for `page` (any address may be
        // asked about); 2. IRQL <= DISPATCH_LEVEL (caller contract).
        if unsafe { MmIsAddressValid(page as *mut _) } == 0 {
            return Err(NtStatus::STATUS_INVALID_USER_BUFFER);
        }
    }
    Ok(range)
}
