//! The NT declarations this consumer needs: a handful of x64 layouts (checked at compile time
//! against the offsets of the WDK's headers) and imports from ntoskrnl.exe.

#![allow(
    non_snake_case,
    non_camel_case_types,
    clippy::upper_case_acronyms,
    missing_docs
)]

use core::ffi::c_void;

pub type NTSTATUS = i32;
pub type HANDLE = *mut c_void;

pub const STATUS_SUCCESS: NTSTATUS = 0;
pub const STATUS_PENDING: NTSTATUS = 0x103;
// NTSTATUS values are bit patterns: the casts reinterpret them as i32.
pub const STATUS_UNSUCCESSFUL: NTSTATUS = 0xC000_0001_u32 as i32;
pub const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000_000D_u32 as i32;
pub const STATUS_OBJECT_TYPE_MISMATCH: NTSTATUS = 0xC000_0024_u32 as i32;
pub const STATUS_REVISION_MISMATCH: NTSTATUS = 0xC000_0059_u32 as i32;
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = 0xC000_009A_u32 as i32;
pub const STATUS_NO_SUCH_DEVICE: NTSTATUS = 0xC000_000E_u32 as i32;
pub const STATUS_BUFFER_OVERFLOW: NTSTATUS = 0x8000_0005_u32 as i32;

pub const fn nt_success(st: NTSTATUS) -> bool {
    st >= 0
}

pub const KERNEL_MODE: i8 = 0;
pub const FALSE: u8 = 0;
pub const TRUE: u8 = 1;
pub const NON_PAGED_POOL: i32 = 0;
pub const NOTIFICATION_EVENT: i32 = 0;
pub const EXECUTIVE: i32 = 0;
pub const OBJ_CASE_INSENSITIVE: u32 = 0x40;
pub const OBJ_KERNEL_HANDLE: u32 = 0x200;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const FILE_READ_DATA: u32 = 1;
pub const FILE_WRITE_DATA: u32 = 2;
pub const FILE_SHARE_READ: u32 = 1;
pub const FILE_SHARE_WRITE: u32 = 2;
pub const FILE_OPEN: u32 = 1;
pub const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
pub const KEY_READ: u32 = 0x2_0019;
pub const KEY_WRITE: u32 = 0x2_0006;
pub const REG_DWORD: u32 = 4;
pub const KEY_VALUE_PARTIAL_INFORMATION: i32 = 2;
pub const IO_TYPE_FILE: i16 = 5;

#[repr(C)]
pub struct UNICODE_STRING {
    pub Length: u16,
    pub MaximumLength: u16,
    pub Buffer: *mut u16,
}

#[repr(C)]
pub struct OBJECT_ATTRIBUTES {
    pub Length: u32,
    pub RootDirectory: HANDLE,
    pub ObjectName: *mut UNICODE_STRING,
    pub Attributes: u32,
    pub SecurityDescriptor: *mut c_void,
    pub SecurityQualityOfService: *mut c_void,
}

#[repr(C)]
pub struct IO_STATUS_BLOCK {
    pub Status: NTSTATUS,
    pub Information: usize,
}

/// A KEVENT (a DISPATCHER_HEADER: 24 bytes); only ever touched through Ke* calls.
#[repr(C, align(8))]
pub struct KEVENT([u8; 24]);

impl KEVENT {
    pub const fn zeroed() -> KEVENT {
        KEVENT([0; 24])
    }
}

/// The first fields of a FILE_OBJECT (`Type` is the first field of every I/O object: a file object
/// has `IO_TYPE_FILE` there).
#[repr(C)]
pub struct FILE_OBJECT {
    pub Type: i16,
    pub Size: i16,
    pub DeviceObject: *mut DEVICE_OBJECT,
}

/// Opaque.
#[repr(C)]
pub struct DEVICE_OBJECT {
    _opaque: [u8; 0],
}

/// Opaque except for the fields below (their offsets).
#[repr(C)]
pub struct IRP {
    _opaque: [u8; 0],
}

/// The first field of a DRIVER_OBJECT we set: `DriverUnload` at 0x68.
#[repr(C)]
pub struct DRIVER_OBJECT {
    _head: [u8; 0x68],
    pub DriverUnload: Option<unsafe extern "system" fn(*mut DRIVER_OBJECT)>,
}

/// `IRP.Tail.Overlay.CurrentStackLocation`.
pub const IRP_CURRENT_STACK_LOCATION: usize = 0xB8;
/// `sizeof(IO_STACK_LOCATION)`.
pub const IO_STACK_LOCATION_SIZE: usize = 0x48;
/// `IO_STACK_LOCATION.FileObject`.
pub const IO_STACK_LOCATION_FILE_OBJECT: usize = 0x30;

const _: () = {
    assert!(core::mem::size_of::<OBJECT_ATTRIBUTES>() == 48);
    assert!(core::mem::size_of::<IO_STATUS_BLOCK>() == 16);
    assert!(core::mem::size_of::<UNICODE_STRING>() == 16);
    assert!(core::mem::offset_of!(FILE_OBJECT, DeviceObject) == 8);
    assert!(core::mem::offset_of!(DRIVER_OBJECT, DriverUnload) == 0x68);
};

/// Sets the file object of the IRP's next stack location (what `IoBuildDeviceIoControlRequest`
/// leaves to the caller): `IoGetNextIrpStackLocation(irp)->FileObject = file`.
///
/// # Safety
/// `irp` is a live IRP from `IoBuildDeviceIoControlRequest`, not yet sent.
pub unsafe fn set_next_file_object(irp: *mut IRP, file: *mut FILE_OBJECT) {
    let slot = irp
        .cast::<u8>()
        .wrapping_add(IRP_CURRENT_STACK_LOCATION)
        .cast::<*mut u8>();
    // SAFETY: 1. `Tail.Overlay.CurrentStackLocation` is a pointer-sized, aligned field at this
    // offset of a live IRP (caller contract; the offset is the x64 layout checked above).
    let current = unsafe { slot.read() };
    // The next location is the one below the current one; the IRP was built with one for us.
    let next = current.wrapping_sub(IO_STACK_LOCATION_SIZE);
    let field = next
        .wrapping_add(IO_STACK_LOCATION_FILE_OBJECT)
        .cast::<*mut FILE_OBJECT>();
    // SAFETY: 1. `FileObject` of that stack location, inside the IRP's allocation (it has a stack
    // location below the current one); 2. the IRP is not sent yet, so nobody else reads it.
    unsafe { field.write(file) };
}

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
extern "system" {
    pub fn IoGetDeviceObjectPointer(
        name: *const UNICODE_STRING,
        access: u32,
        file: *mut *mut FILE_OBJECT,
        device: *mut *mut DEVICE_OBJECT,
    ) -> NTSTATUS;
    pub fn ZwCreateFile(
        handle: *mut HANDLE,
        access: u32,
        attributes: *const OBJECT_ATTRIBUTES,
        iosb: *mut IO_STATUS_BLOCK,
        allocation: *const i64,
        file_attributes: u32,
        share: u32,
        disposition: u32,
        options: u32,
        ea: *mut c_void,
        ea_len: u32,
    ) -> NTSTATUS;
    pub fn ZwDeviceIoControlFile(
        handle: HANDLE,
        event: HANDLE,
        apc: *mut c_void,
        apc_context: *mut c_void,
        iosb: *mut IO_STATUS_BLOCK,
        code: u32,
        input: *mut c_void,
        input_len: u32,
        output: *mut c_void,
        output_len: u32,
    ) -> NTSTATUS;
    pub fn ObReferenceObjectByHandle(
        handle: HANDLE,
        access: u32,
        object_type: *mut c_void,
        mode: i8,
        object: *mut *mut c_void,
        info: *mut c_void,
    ) -> NTSTATUS;
    pub fn ObfDereferenceObject(object: *mut c_void) -> isize;
    pub fn ZwClose(handle: HANDLE) -> NTSTATUS;
    pub fn IoBuildDeviceIoControlRequest(
        code: u32,
        device: *mut DEVICE_OBJECT,
        input: *mut c_void,
        input_len: u32,
        output: *mut c_void,
        output_len: u32,
        internal: u8,
        event: *mut KEVENT,
        iosb: *mut IO_STATUS_BLOCK,
    ) -> *mut IRP;
    pub fn IofCallDriver(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS;
    pub fn KeInitializeEvent(event: *mut KEVENT, kind: i32, state: u8);
    pub fn KeWaitForSingleObject(
        object: *mut c_void,
        reason: i32,
        mode: i8,
        alertable: u8,
        timeout: *const i64,
    ) -> NTSTATUS;
    pub fn ExAllocatePoolWithTag(pool: i32, size: usize, tag: u32) -> *mut c_void;
    pub fn ExFreePoolWithTag(p: *mut c_void, tag: u32);
    pub fn ZwOpenKey(key: *mut HANDLE, access: u32, attributes: *const OBJECT_ATTRIBUTES) -> NTSTATUS;
    pub fn ZwQueryValueKey(
        key: HANDLE,
        name: *const UNICODE_STRING,
        class: i32,
        info: *mut c_void,
        len: u32,
        result_len: *mut u32,
    ) -> NTSTATUS;
    pub fn ZwSetValueKey(
        key: HANDLE,
        name: *const UNICODE_STRING,
        index: u32,
        ty: u32,
        data: *const c_void,
        len: u32,
    ) -> NTSTATUS;
    pub fn DbgPrint(format: *const core::ffi::c_char, ...) -> u32;
    pub fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;
}
