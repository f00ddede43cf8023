//! The WDM device's security descriptor: SYSTEM and Administrators, full access, nobody else —
//! the rule of [`DEVICE_SDDL`](crate::logic::names::DEVICE_SDDL) (`SDDL_DEVOBJ_SYS_ALL_ADM_ALL`).
//!
//! The KMDF front end passes that SDDL string to `WdfControlDeviceInitAllocate`.
//! `IoCreateDeviceSecure` (which does the same for WDM) lives in the static library wdmsec.lib,
//! which the Linux build cannot link, so the WDM front end does what it does by hand: `IoCreateDevice` with
//! `FILE_DEVICE_SECURE_OPEN`, then a DACL built with the `Rtl*` security calls and applied with
//! `ObOpenObjectByPointer` + `ZwSetSecurityObject`.

use crate::sys::imports::{
    ObOpenObjectByPointer, RtlAddAccessAllowedAce, RtlCreateAcl, RtlCreateSecurityDescriptor,
    RtlSetDaclSecurityDescriptor, ZwClose, ZwSetSecurityObject,
};
use crate::sys::{
    KernelMode, ACL, ACL_REVISION, DACL_SECURITY_INFORMATION, DEVICE_OBJECT, FALSE, GENERIC_ALL, HANDLE,
    NTSTATUS, OBJ_KERNEL_HANDLE, SECURITY_DESCRIPTOR, SECURITY_DESCRIPTOR_REVISION, SID2, TRUE, WRITE_DAC,
};
use core::ptr::NonNull;

/// `SE_DACL_PROTECTED` (the `P` of the SDDL: no inherited ACEs).
const SE_DACL_PROTECTED: u16 = 0x1000;

/// S-1-5-18 (LocalSystem).
fn system_sid() -> SID2 {
    SID2 {
        Revision: 1,
        SubAuthorityCount: 1,
        IdentifierAuthority: [0, 0, 0, 0, 0, 5],
        SubAuthority: [18, 0],
    }
}

/// S-1-5-32-544 (BUILTIN\Administrators).
fn admins_sid() -> SID2 {
    SID2 {
        Revision: 1,
        SubAuthorityCount: 2,
        IdentifierAuthority: [0, 0, 0, 0, 0, 5],
        SubAuthority: [32, 544],
    }
}

/// An ACL with room for the two ACEs (8 + 2 * (8 + 16) bytes, rounded up), DWORD-aligned.
#[repr(C, align(4))]
struct AclBuffer([u8; 64]);

fn check(st: NTSTATUS) -> Result<(), NTSTATUS> {
    if st < 0 {
        Err(st)
    } else {
        Ok(())
    }
}

/// Applies the SYSTEM + Administrators DACL to `device`.
///
/// # Safety
/// `device` is a live device object of this driver; PASSIVE_LEVEL.
pub unsafe fn restrict_device(device: NonNull<DEVICE_OBJECT>) -> Result<(), NTSTATUS> {
    let mut system = system_sid();
    let mut admins = admins_sid();
    let mut acl_buf = AclBuffer([0; 64]);
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
    // SAFETY: 1. `acl` points to 64 writable, DWORD-aligned bytes.
    check(unsafe { RtlCreateAcl(acl, 64, ACL_REVISION) })?;
    // SAFETY: 1. an initialized ACL with room for the ACE; a valid SID.
    check(unsafe { RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, (&raw mut system).cast()) })?;
    // SAFETY: 1. as above.
    check(unsafe { RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, (&raw mut admins).cast()) })?;
    // SAFETY: 1. initialized descriptor and ACL, both locals that outlive their use below.
    check(unsafe { RtlSetDaclSecurityDescriptor(&raw mut sd, TRUE, acl, FALSE) })?;
    sd.Control |= SE_DACL_PROTECTED;
    let mut handle: HANDLE = core::ptr::null_mut();
    // SAFETY: 1. live device object (caller contract); 2. a kernel handle, closed below.
    check(unsafe {
        ObOpenObjectByPointer(
            device.as_ptr().cast(),
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
