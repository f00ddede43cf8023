//! NT kernel types (`wdm.h`) the driver touches, with x64 layout assertions.
//!
//! Structs the kernel allocates and the driver only reads a few fields of (`DEVICE_OBJECT`,
//! `FILE_OBJECT`) are declared as their documented prefix plus an opaque tail of the right size.
//! Dispatcher objects the driver embeds but never looks into (`KEVENT`, `KTIMER`, `KDPC`) are
//! opaque blobs of the documented size and alignment.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

/// `NTSTATUS`.
pub type NTSTATUS = i32;
/// `KIRQL`.
pub type KIRQL = u8;
/// `KPROCESSOR_MODE`.
pub type KPROCESSOR_MODE = i8;
/// `KSPIN_LOCK`.
pub type KSPIN_LOCK = usize;
/// `BOOLEAN`.
pub type BOOLEAN = u8;
/// `HANDLE`.
pub type HANDLE = *mut c_void;
/// `ACCESS_MASK`.
pub type ACCESS_MASK = u32;

pub const STATUS_SUCCESS: NTSTATUS = 0;
pub const STATUS_PENDING: NTSTATUS = 0x103;
pub const STATUS_MORE_PROCESSING_REQUIRED: NTSTATUS = 0xC000_0016_u32 as i32;

pub const TRUE: BOOLEAN = 1;
pub const FALSE: BOOLEAN = 0;

/// `KernelMode` / `UserMode`.
pub const KernelMode: KPROCESSOR_MODE = 0;
pub const UserMode: KPROCESSOR_MODE = 1;

pub const IRP_MJ_CREATE: usize = 0x00;
pub const IRP_MJ_CLOSE: usize = 0x02;
pub const IRP_MJ_DEVICE_CONTROL: usize = 0x0e;
pub const IRP_MJ_INTERNAL_DEVICE_CONTROL: usize = 0x0f;
pub const IRP_MJ_CLEANUP: usize = 0x12;
pub const IRP_MJ_MAXIMUM_FUNCTION: usize = 0x1b;

/// `IO_STACK_LOCATION.Control` bits set by `IoSetCompletionRoutine`.
pub const SL_INVOKE_ON_CANCEL: u8 = 0x20;
pub const SL_INVOKE_ON_SUCCESS: u8 = 0x40;
pub const SL_INVOKE_ON_ERROR: u8 = 0x80;
/// `IO_STACK_LOCATION.Control` bit set by `IoMarkIrpPending`.
pub const SL_PENDING_RETURNED: u8 = 0x01;

/// `IO_NO_INCREMENT`.
pub const IO_NO_INCREMENT: i8 = 0;
/// `IO_NETWORK_INCREMENT`.
pub const IO_NETWORK_INCREMENT: i8 = 2;

/// `POOL_TYPE` values.
pub const NonPagedPool: u32 = 0;
pub const NonPagedPoolNx: u32 = 512;

/// `MDL.MdlFlags` bits.
pub const MDL_MAPPED_TO_SYSTEM_VA: i16 = 0x0001;
pub const MDL_PAGES_LOCKED: i16 = 0x0002;
pub const MDL_SOURCE_IS_NONPAGED_POOL: i16 = 0x0004;
pub const MDL_PARTIAL: i16 = 0x0010;
pub const MDL_PARTIAL_HAS_BEEN_MAPPED: i16 = 0x0020;

/// `MEMORY_CACHING_TYPE::MmCached`.
pub const MmCached: u32 = 1;
/// `MM_PAGE_PRIORITY::NormalPagePriority` | `MdlMappingNoExecute`.
pub const NormalPagePriority: u32 = 16;
pub const MdlMappingNoExecute: u32 = 0x4000_0000;

/// `FILE_DEVICE_SECURE_OPEN` device characteristic.
pub const FILE_DEVICE_SECURE_OPEN: u32 = 0x0000_0100;
/// `DEVICE_OBJECT.Flags`: `DO_DIRECT_IO`, `DO_DEVICE_INITIALIZING`.
pub const DO_DIRECT_IO: u32 = 0x0000_0010;
pub const DO_DEVICE_INITIALIZING: u32 = 0x0000_0080;

/// `EVENT_TYPE::NotificationEvent`.
pub const NotificationEvent: u32 = 0;
/// `KWAIT_REASON::Executive`.
pub const Executive: u32 = 0;
/// `WORK_QUEUE_TYPE::DelayedWorkQueue`.
pub const DelayedWorkQueue: u32 = 1;

/// `OBJ_KERNEL_HANDLE`, `OBJ_CASE_INSENSITIVE`.
pub const OBJ_KERNEL_HANDLE: u32 = 0x0000_0200;
pub const OBJ_CASE_INSENSITIVE: u32 = 0x0000_0040;
/// `KEY_READ`.
pub const KEY_READ: ACCESS_MASK = 0x0002_0019;
/// `KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation`, `REG_DWORD`.
pub const KeyValuePartialInformation: u32 = 2;
pub const REG_DWORD: u32 = 4;

/// `OBJECT_ATTRIBUTES` (what `InitializeObjectAttributes` fills in).
#[repr(C)]
pub struct OBJECT_ATTRIBUTES {
    pub Length: u32,
    pub RootDirectory: HANDLE,
    pub ObjectName: *const UNICODE_STRING,
    pub Attributes: u32,
    pub SecurityDescriptor: *mut c_void,
    pub SecurityQualityOfService: *mut c_void,
}

/// `KEY_VALUE_PARTIAL_INFORMATION` with room for a `REG_DWORD`.
#[repr(C)]
pub struct KEY_VALUE_PARTIAL_INFORMATION_DWORD {
    pub TitleIndex: u32,
    pub Type: u32,
    pub DataLength: u32,
    pub Data: [u8; 4],
}
/// `WRITE_DAC`, `GENERIC_ALL`.
pub const WRITE_DAC: ACCESS_MASK = 0x0004_0000;
pub const GENERIC_ALL: ACCESS_MASK = 0x1000_0000;
/// `DACL_SECURITY_INFORMATION`.
pub const DACL_SECURITY_INFORMATION: u32 = 0x0000_0004;
/// `SECURITY_DESCRIPTOR_REVISION`, `ACL_REVISION`.
pub const SECURITY_DESCRIPTOR_REVISION: u32 = 1;
pub const ACL_REVISION: u32 = 2;

/// `UNICODE_STRING`.
#[repr(C)]
pub struct UNICODE_STRING {
    pub Length: u16,
    pub MaximumLength: u16,
    pub Buffer: *mut u16,
}

/// `LIST_ENTRY`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LIST_ENTRY {
    pub Flink: *mut LIST_ENTRY,
    pub Blink: *mut LIST_ENTRY,
}

/// `IO_STATUS_BLOCK` (the `Status`/`Pointer` union kept as a pointer-sized field).
#[repr(C)]
pub struct IO_STATUS_BLOCK {
    pub Status: NTSTATUS,
    pub _pad: u32,
    pub Information: usize,
}

/// `MDL`.
#[repr(C)]
pub struct MDL {
    pub Next: *mut MDL,
    pub Size: i16,
    pub MdlFlags: i16,
    pub AllocationProcessorNumber: u16,
    pub Reserved: u16,
    pub Process: *mut c_void,
    pub MappedSystemVa: *mut c_void,
    pub StartVa: *mut c_void,
    pub ByteCount: u32,
    pub ByteOffset: u32,
}

/// `DRIVER_DISPATCH`.
pub type PDRIVER_DISPATCH = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP) -> NTSTATUS;
/// `DRIVER_UNLOAD`.
pub type PDRIVER_UNLOAD = unsafe extern "system" fn(*mut DRIVER_OBJECT);
/// `IO_COMPLETION_ROUTINE`.
pub type PIO_COMPLETION_ROUTINE =
    unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP, *mut c_void) -> NTSTATUS;
/// `DRIVER_CANCEL`.
pub type PDRIVER_CANCEL = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP);
/// `KDEFERRED_ROUTINE`.
pub type PKDEFERRED_ROUTINE = unsafe extern "system" fn(*mut KDPC, *mut c_void, *mut c_void, *mut c_void);
/// `IO_WORKITEM_ROUTINE`.
pub type PIO_WORKITEM_ROUTINE = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut c_void);

/// `DRIVER_OBJECT`.
#[repr(C)]
pub struct DRIVER_OBJECT {
    pub Type: i16,
    pub Size: i16,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub Flags: u32,
    pub DriverStart: *mut c_void,
    pub DriverSize: u32,
    pub DriverSection: *mut c_void,
    pub DriverExtension: *mut c_void,
    pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: *mut UNICODE_STRING,
    pub FastIoDispatch: *mut c_void,
    pub DriverInit: *mut c_void,
    pub DriverStartIo: *mut c_void,
    pub DriverUnload: Option<PDRIVER_UNLOAD>,
    pub MajorFunction: [Option<PDRIVER_DISPATCH>; IRP_MJ_MAXIMUM_FUNCTION + 1],
}

/// `DEVICE_OBJECT`: the documented prefix the driver reads, then an opaque tail.
#[repr(C)]
pub struct DEVICE_OBJECT {
    pub Type: i16,
    pub Size: u16,
    pub ReferenceCount: i32,
    pub DriverObject: *mut DRIVER_OBJECT,
    pub NextDevice: *mut DEVICE_OBJECT,
    pub AttachedDevice: *mut DEVICE_OBJECT,
    pub CurrentIrp: *mut IRP,
    pub Timer: *mut c_void,
    pub Flags: u32,
    pub Characteristics: u32,
    pub Vpb: *mut c_void,
    pub DeviceExtension: *mut c_void,
    pub DeviceType: u32,
    pub StackSize: i8,
    _opaque: [u8; 0x150 - 0x4D],
}

/// `FILE_OBJECT`: the prefix up to `FsContext2`, then an opaque tail.
#[repr(C)]
pub struct FILE_OBJECT {
    pub Type: i16,
    pub Size: i16,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub Vpb: *mut c_void,
    pub FsContext: *mut c_void,
    pub FsContext2: *mut c_void,
    _opaque: [u8; 0xD8 - 0x28],
}

/// `IO_STACK_LOCATION.Parameters.DeviceIoControl` (each `ULONG` is pointer-aligned on x64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DEVICE_IO_CONTROL_PARAMETERS {
    pub OutputBufferLength: u32,
    pub _pad0: u32,
    pub InputBufferLength: u32,
    pub _pad1: u32,
    pub IoControlCode: u32,
    pub _pad2: u32,
    pub Type3InputBuffer: *mut c_void,
}

/// `IO_STACK_LOCATION.Parameters`: the one member the driver reads, and the union's size.
#[repr(C)]
pub union IO_STACK_LOCATION_PARAMETERS {
    pub DeviceIoControl: DEVICE_IO_CONTROL_PARAMETERS,
    pub Others: [*mut c_void; 4],
}

/// `IO_STACK_LOCATION`.
#[repr(C)]
pub struct IO_STACK_LOCATION {
    pub MajorFunction: u8,
    pub MinorFunction: u8,
    pub Flags: u8,
    pub Control: u8,
    pub Parameters: IO_STACK_LOCATION_PARAMETERS,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub FileObject: *mut FILE_OBJECT,
    pub CompletionRoutine: Option<PIO_COMPLETION_ROUTINE>,
    pub Context: *mut c_void,
}

/// `IRP.AssociatedIrp`.
#[repr(C)]
pub union IRP_ASSOCIATED {
    pub MasterIrp: *mut IRP,
    pub IrpCount: i32,
    pub SystemBuffer: *mut c_void,
}

/// `IRP.Tail.Overlay`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IRP_TAIL_OVERLAY {
    /// Union with `DeviceQueueEntry`; owned by the driver that currently owns the IRP.
    pub DriverContext: [*mut c_void; 4],
    pub Thread: *mut c_void,
    pub AuxiliaryBuffer: *mut c_void,
    pub ListEntry: LIST_ENTRY,
    /// Union with `PacketType`.
    pub CurrentStackLocation: *mut IO_STACK_LOCATION,
    pub OriginalFileObject: *mut FILE_OBJECT,
}

/// `IRP.Tail` (its largest member is a `KAPC`, 0x58 bytes on x64).
#[repr(C)]
pub union IRP_TAIL {
    pub Overlay: IRP_TAIL_OVERLAY,
    pub Apc: [u64; 11],
}

/// `IRP`.
#[repr(C)]
pub struct IRP {
    pub Type: i16,
    pub Size: u16,
    pub AllocationProcessorNumber: u16,
    pub Reserved: u16,
    pub MdlAddress: *mut MDL,
    pub Flags: u32,
    pub AssociatedIrp: IRP_ASSOCIATED,
    pub ThreadListEntry: LIST_ENTRY,
    pub IoStatus: IO_STATUS_BLOCK,
    pub RequestorMode: KPROCESSOR_MODE,
    pub PendingReturned: BOOLEAN,
    pub StackCount: i8,
    pub CurrentLocation: i8,
    pub Cancel: BOOLEAN,
    pub CancelIrql: KIRQL,
    pub ApcEnvironment: i8,
    pub AllocationFlags: u8,
    pub UserIosb: *mut IO_STATUS_BLOCK,
    pub UserEvent: *mut KEVENT,
    pub Overlay: [u64; 2],
    pub CancelRoutine: Option<PDRIVER_CANCEL>,
    pub UserBuffer: *mut c_void,
    pub Tail: IRP_TAIL,
}

/// `KEVENT` (a `DISPATCHER_HEADER`), opaque.
#[repr(C, align(8))]
pub struct KEVENT {
    _opaque: [u8; 0x18],
}

/// `KTIMER`, opaque.
#[repr(C, align(8))]
pub struct KTIMER {
    _opaque: [u8; 0x40],
}

/// `KDPC`, opaque.
#[repr(C, align(8))]
pub struct KDPC {
    _opaque: [u8; 0x40],
}

/// `IO_WORKITEM`, opaque (only ever behind a pointer).
#[repr(C)]
pub struct IO_WORKITEM {
    _opaque: [u8; 0],
}

macro_rules! zeroed_opaque {
    ($($t:ident),*) => {$(
        impl $t {
            /// An all-zero value, ready for its `KeInitialize*` call.
            pub const fn zeroed() -> Self {
                $t { _opaque: [0; size_of::<$t>()] }
            }
        }
    )*};
}
zeroed_opaque!(KEVENT, KTIMER, KDPC);

/// `SID` with one or two sub-authorities (the well-known SIDs the driver uses).
#[repr(C)]
pub struct SID2 {
    pub Revision: u8,
    pub SubAuthorityCount: u8,
    pub IdentifierAuthority: [u8; 6],
    pub SubAuthority: [u32; 2],
}

/// `SECURITY_DESCRIPTOR` (absolute format).
#[repr(C)]
pub struct SECURITY_DESCRIPTOR {
    pub Revision: u8,
    pub Sbz1: u8,
    pub Control: u16,
    pub Owner: *mut c_void,
    pub Group: *mut c_void,
    pub Sacl: *mut c_void,
    pub Dacl: *mut c_void,
}

/// `ACL` header (followed by its ACEs in the same allocation).
#[repr(C)]
pub struct ACL {
    pub AclRevision: u8,
    pub Sbz1: u8,
    pub AclSize: u16,
    pub AceCount: u16,
    pub Sbz2: u16,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<UNICODE_STRING>() == 0x10);
    assert!(size_of::<OBJECT_ATTRIBUTES>() == 0x30);
    assert!(offset_of!(OBJECT_ATTRIBUTES, ObjectName) == 0x10);
    assert!(offset_of!(OBJECT_ATTRIBUTES, Attributes) == 0x18);
    assert!(offset_of!(KEY_VALUE_PARTIAL_INFORMATION_DWORD, Data) == 0x0C);
    assert!(size_of::<IO_STATUS_BLOCK>() == 0x10);
    assert!(offset_of!(IO_STATUS_BLOCK, Information) == 0x8);
    assert!(size_of::<MDL>() == 0x30);
    assert!(offset_of!(MDL, MdlFlags) == 0x0A);
    assert!(offset_of!(MDL, MappedSystemVa) == 0x18);
    assert!(offset_of!(MDL, StartVa) == 0x20);
    assert!(offset_of!(MDL, ByteCount) == 0x28);
    assert!(offset_of!(MDL, ByteOffset) == 0x2C);
    assert!(offset_of!(DRIVER_OBJECT, DeviceObject) == 0x08);
    assert!(offset_of!(DRIVER_OBJECT, DriverName) == 0x38);
    assert!(offset_of!(DRIVER_OBJECT, DriverUnload) == 0x68);
    assert!(offset_of!(DRIVER_OBJECT, MajorFunction) == 0x70);
    assert!(size_of::<DRIVER_OBJECT>() == 0x150);
    assert!(offset_of!(DEVICE_OBJECT, Flags) == 0x30);
    assert!(offset_of!(DEVICE_OBJECT, DeviceExtension) == 0x40);
    assert!(offset_of!(DEVICE_OBJECT, DeviceType) == 0x48);
    assert!(offset_of!(DEVICE_OBJECT, StackSize) == 0x4C);
    assert!(size_of::<DEVICE_OBJECT>() == 0x150);
    assert!(offset_of!(FILE_OBJECT, DeviceObject) == 0x08);
    assert!(offset_of!(FILE_OBJECT, FsContext) == 0x18);
    assert!(offset_of!(FILE_OBJECT, FsContext2) == 0x20);
    assert!(size_of::<FILE_OBJECT>() == 0xD8);
    assert!(size_of::<IO_STACK_LOCATION>() == 0x48);
    assert!(offset_of!(IO_STACK_LOCATION, Control) == 0x03);
    assert!(offset_of!(IO_STACK_LOCATION, Parameters) == 0x08);
    assert!(
        offset_of!(IO_STACK_LOCATION, Parameters)
            + offset_of!(DEVICE_IO_CONTROL_PARAMETERS, OutputBufferLength)
            == 0x08
    );
    assert!(
        offset_of!(IO_STACK_LOCATION, Parameters)
            + offset_of!(DEVICE_IO_CONTROL_PARAMETERS, InputBufferLength)
            == 0x10
    );
    assert!(
        offset_of!(IO_STACK_LOCATION, Parameters) + offset_of!(DEVICE_IO_CONTROL_PARAMETERS, IoControlCode)
            == 0x18
    );
    assert!(
        offset_of!(IO_STACK_LOCATION, Parameters)
            + offset_of!(DEVICE_IO_CONTROL_PARAMETERS, Type3InputBuffer)
            == 0x20
    );
    assert!(offset_of!(IO_STACK_LOCATION, DeviceObject) == 0x28);
    assert!(offset_of!(IO_STACK_LOCATION, FileObject) == 0x30);
    assert!(offset_of!(IO_STACK_LOCATION, CompletionRoutine) == 0x38);
    assert!(offset_of!(IO_STACK_LOCATION, Context) == 0x40);
    assert!(offset_of!(IRP, MdlAddress) == 0x08);
    assert!(offset_of!(IRP, Flags) == 0x10);
    assert!(offset_of!(IRP, AssociatedIrp) == 0x18);
    assert!(offset_of!(IRP, IoStatus) == 0x30);
    assert!(offset_of!(IRP, RequestorMode) == 0x40);
    assert!(offset_of!(IRP, PendingReturned) == 0x41);
    assert!(offset_of!(IRP, StackCount) == 0x42);
    assert!(offset_of!(IRP, CurrentLocation) == 0x43);
    assert!(offset_of!(IRP, Cancel) == 0x44);
    assert!(offset_of!(IRP, CancelIrql) == 0x45);
    assert!(offset_of!(IRP, UserIosb) == 0x48);
    assert!(offset_of!(IRP, CancelRoutine) == 0x68);
    assert!(offset_of!(IRP, UserBuffer) == 0x70);
    assert!(offset_of!(IRP, Tail) == 0x78);
    assert!(offset_of!(IRP, Tail) + offset_of!(IRP_TAIL_OVERLAY, Thread) == 0x98);
    assert!(offset_of!(IRP, Tail) + offset_of!(IRP_TAIL_OVERLAY, CurrentStackLocation) == 0xB8);
    assert!(offset_of!(IRP, Tail) + offset_of!(IRP_TAIL_OVERLAY, OriginalFileObject) == 0xC0);
    assert!(size_of::<IRP>() == 0xD0);
    assert!(size_of::<KEVENT>() == 0x18);
    assert!(size_of::<KTIMER>() == 0x40);
    assert!(size_of::<KDPC>() == 0x40);
    assert!(size_of::<KSPIN_LOCK>() == 0x8);
    assert!(size_of::<SECURITY_DESCRIPTOR>() == 0x28);
    assert!(size_of::<ACL>() == 0x8);
    assert!(size_of::<SID2>() == 0x10);
};
