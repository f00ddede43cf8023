//! A `REG_DWORD` of the driver's service key, read at load: how the test build is told which
//! allocation its fault injector fails (`AllocFailAt`; docs/DRIVER.md, "Memory").

use crate::sys::imports::{ZwClose, ZwOpenKey, ZwQueryValueKey};
use crate::sys::{
    KeyValuePartialInformation, HANDLE, KEY_READ, KEY_VALUE_PARTIAL_INFORMATION_DWORD, OBJECT_ATTRIBUTES,
    OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, REG_DWORD, UNICODE_STRING,
};

/// The `REG_DWORD` value `name` of the key `key` (the service key `DriverEntry` gets), if there
/// is one. PASSIVE_LEVEL. Allocates nothing.
///
/// # Safety
/// `key` points to a valid `UNICODE_STRING` (DriverEntry's registry path) for the call.
pub unsafe fn dword(key: *const UNICODE_STRING, name: &'static [u16]) -> Option<u32> {
    let attributes = OBJECT_ATTRIBUTES {
        Length: u32::try_from(core::mem::size_of::<OBJECT_ATTRIBUTES>()).unwrap_or(0),
        RootDirectory: core::ptr::null_mut(),
        ObjectName: key,
        Attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
        SecurityDescriptor: core::ptr::null_mut(),
        SecurityQualityOfService: core::ptr::null_mut(),
    };
    let mut handle: HANDLE = core::ptr::null_mut();
    // SAFETY: 1. the attributes name a valid UNICODE_STRING (caller contract) and live across the
    // call; 2. a kernel handle, PASSIVE_LEVEL (caller contract).
    let st = unsafe { ZwOpenKey(&raw mut handle, KEY_READ, &raw const attributes) };
    if st < 0 {
        return None;
    }
    let value = crate::kernel::platform::ustr(name);
    let mut info = KEY_VALUE_PARTIAL_INFORMATION_DWORD {
        TitleIndex: 0,
        Type: 0,
        DataLength: 0,
        Data: [0; 4],
    };
    let mut got = 0u32;
    // SAFETY: 1. the key handle opened above; 2. the output buffer is `info`, of the size passed.
    let st = unsafe {
        ZwQueryValueKey(
            handle,
            &raw const value,
            KeyValuePartialInformation,
            (&raw mut info).cast(),
            u32::try_from(core::mem::size_of::<KEY_VALUE_PARTIAL_INFORMATION_DWORD>()).unwrap_or(0),
            &raw mut got,
        )
    };
    // SAFETY: 1. the handle opened above, closed once.
    unsafe { ZwClose(handle) };
    (st >= 0 && info.Type == REG_DWORD && info.DataLength == 4).then(|| u32::from_le_bytes(info.Data))
}
