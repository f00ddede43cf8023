//! The WDM device's security: the rule of
//! [`DEVICE_SDDL`](crate::logic::names::DEVICE_SDDL) (SYSTEM and Administrators, full
//! access, nobody else — `SDDL_DEVOBJ_SYS_ALL_ADM_ALL`), applied by hand.
//!
//! The KMDF front end passes the same SDDL string to `WdfControlDeviceInitAllocate`.
//! `IoCreateDeviceSecure` (which does that for WDM) lives in the static library wdmsec.lib, which
//! the Linux build cannot link, so the WDM front end creates the device with `IoCreateDevice` and
//! `FILE_DEVICE_SECURE_OPEN`, then applies the parsed string with
//! [`wsksock_nt::security::apply_dacl`]; `DriverEntry` fails if that fails.

use crate::logic::names::DEVICE_SDDL_WIDE;
use crate::status::{nt, NtStatus};
use crate::sys::{DEVICE_OBJECT, NTSTATUS};
use core::ptr::NonNull;
use wsksock_nt::sddl;

/// Applies the device's SDDL to `device`.
///
/// # Safety
/// `device` is a live device object of this driver; PASSIVE_LEVEL.
pub unsafe fn restrict_device(device: NonNull<DEVICE_OBJECT>) -> Result<(), NTSTATUS> {
    // A constant string of the subset: a parse error is a build mistake, caught by the host test
    // `logic::names::tests::device_sddl_parses`.
    let dacl = sddl::parse(&DEVICE_SDDL_WIDE).map_err(|_| nt(NtStatus::STATUS_INVALID_PARAMETER))?;
    // SAFETY: 1. live device (caller contract), PASSIVE_LEVEL.
    unsafe { wsksock_nt::security::apply_dacl(device.cast(), &dacl) }
}
