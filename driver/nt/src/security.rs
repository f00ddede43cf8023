//! Applies a parsed DACL ([`crate::sddl`]) to a kernel object — what `IoCreateDeviceSecure` does
//! with its SDDL string, which the Linux builds cannot link (it lives in the static library
//! wdmsec.lib): a security descriptor built with the `Rtl*` calls, applied with
//! `ObOpenObjectByPointer` + `ZwSetSecurityObject`.

use crate::sddl::{Dacl, MAX_ACES};
use crate::sys::imports::{
    ObOpenObjectByPointer, RtlAddAccessAllowedAce, RtlCreateAcl, RtlCreateSecurityDescriptor,
    RtlSetDaclSecurityDescriptor, ZwClose, ZwSetSecurityObject,
};
use crate::sys::{
    KernelMode, ACL, ACL_REVISION, DACL_SECURITY_INFORMATION, FALSE, HANDLE, NTSTATUS, OBJ_KERNEL_HANDLE,
    SECURITY_DESCRIPTOR, SECURITY_DESCRIPTOR_REVISION, SID2, TRUE, WRITE_DAC,
};
use core::ffi::c_void;
use core::ptr::NonNull;

/// `SE_DACL_PROTECTED` (the `P` of the SDDL: no inherited ACEs).
const SE_DACL_PROTECTED: u16 = 0x1000;

/// ACL header (8) and up to [`MAX_ACES`] ACEs of 8 + 16 bytes (header, mask, a two-sub-authority
/// SID), DWORD-aligned.
const ACL_BYTES: usize = 8 + MAX_ACES * 24;
#[expect(clippy::cast_possible_truncation, reason = "200 bytes")]
const ACL_BYTES_U32: u32 = ACL_BYTES as u32;
#[repr(C, align(4))]
struct AclBuffer([u8; ACL_BYTES]);

fn check(st: NTSTATUS) -> Result<(), NTSTATUS> {
    if st < 0 {
        Err(st)
    } else {
        Ok(())
    }
}

/// Replaces the DACL of `object` (a device object, say) with `dacl`.
///
/// # Safety
/// `object` is a live kernel object; PASSIVE_LEVEL.
pub unsafe fn apply_dacl(object: NonNull<c_void>, dacl: &Dacl) -> Result<(), NTSTATUS> {
    let mut sids = [const {
        SID2 {
            Revision: 1,
            SubAuthorityCount: 0,
            IdentifierAuthority: [0; 6],
            SubAuthority: [0; 2],
        }
    }; MAX_ACES];
    for (sid, ace) in sids.iter_mut().zip(dacl.aces()) {
        sid.SubAuthorityCount = ace.sid.sub_count;
        sid.IdentifierAuthority[5] = ace.sid.authority;
        sid.SubAuthority = ace.sid.sub;
    }
    let mut acl_buf = AclBuffer([0; ACL_BYTES]);
    let acl = (&raw mut acl_buf).cast::<ACL>();
    let mut sd = SECURITY_DESCRIPTOR {
        Revision: 0,
        Sbz1: 0,
        Control: 0,
        Owner: core::ptr::null_mut(),
        Group: core::ptr::null_mut(),
        Sacl: core::ptr::null_mut(),
        Dacl: core::ptr::null_mut(),
    };
    // SAFETY: 1. the descriptor is a local of the right size.
    check(unsafe { RtlCreateSecurityDescriptor(&raw mut sd, SECURITY_DESCRIPTOR_REVISION) })?;
    // SAFETY: 1. `acl` points to `ACL_BYTES` writable, DWORD-aligned bytes.
    check(unsafe { RtlCreateAcl(acl, ACL_BYTES_U32, ACL_REVISION) })?;
    for (sid, ace) in sids.iter_mut().zip(dacl.aces()) {
        // SAFETY: 1. an initialized ACL with room for every ACE (ACL_BYTES); 2. a valid SID
        // with at most two sub-authorities, a local that outlives the call.
        check(unsafe { RtlAddAccessAllowedAce(acl, ACL_REVISION, ace.mask, (&raw mut *sid).cast()) })?;
    }
    // SAFETY: 1. initialized descriptor and ACL, both locals that outlive their use below.
    check(unsafe { RtlSetDaclSecurityDescriptor(&raw mut sd, TRUE, acl, FALSE) })?;
    if dacl.protected {
        sd.Control |= SE_DACL_PROTECTED;
    }
    let mut handle: HANDLE = core::ptr::null_mut();
    // SAFETY: 1. live object (caller contract); 2. a kernel handle, closed below.
    check(unsafe {
        ObOpenObjectByPointer(
            object.as_ptr(),
            OBJ_KERNEL_HANDLE,
            core::ptr::null_mut(),
            WRITE_DAC,
            core::ptr::null_mut(),
            KernelMode,
            &raw mut handle,
        )
    })?;
    // SAFETY: 1. a handle opened with WRITE_DAC; the descriptor is valid (built above).
    let st = unsafe { ZwSetSecurityObject(handle, DACL_SECURITY_INFORMATION, (&raw mut sd).cast()) };
    // SAFETY: 1. the kernel handle opened above, closed once.
    unsafe { ZwClose(handle) };
    check(st)
}
