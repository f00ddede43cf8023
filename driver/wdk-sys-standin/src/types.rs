// The declarations wdk-sys 0.5 generates with bindgen from the WDK's headers (KMDF 1.33, x64) for
// exactly the items the KMDF front end uses, written by hand in bindgen's shape: C names,
// `_NAME` structs with `NAME`/`PNAME` aliases, enums as modules of `Type` constants, function
// pointer types as `Option<unsafe extern "C" fn(..)>`. Written from the facts of the public
// headers (field order and types), not copied from them; each layout is asserted in `layout.rs`
// and checked as described in docs/DRIVER.md ("The wdk-sys stand-in").
//
// This file is also the input of `call_unsafe_wdf_function_binding!` (the wdk-macros proc macro
// parses it as it parses bindgen's `types.rs`): it finds each function's `PFN_…` type and its
// `_WDFFUNCENUM::…TableIndex` here. Keep the `PFN_WDF…` aliases and `_WDFFUNCENUM` at the top
// level of this file.
//
// Integer types: on x86_64-pc-windows-msvc `c_ulong` is `u32`, `c_long` is `i32` and MSVC gives
// every C enum the type `int`; the aliases below name those Rust types directly so the host build
// (where `c_ulong` is 64 bits) checks the same layouts.

use core::ffi::c_void;

// ---------------------------------------------------------------------------------------------
// Base types (ntdef.h, minwindef.h)
// ---------------------------------------------------------------------------------------------

pub type CHAR = ::core::ffi::c_char;
pub type UCHAR = u8;
pub type BOOLEAN = UCHAR;
pub type CSHORT = i16;
pub type USHORT = u16;
pub type LONG = i32;
pub type ULONG = u32;
pub type ULONG_PTR = u64;
pub type SIZE_T = ULONG_PTR;
pub type wchar_t = u16;
pub type WCHAR = wchar_t;
pub type PWCH = *mut WCHAR;
pub type PWCHAR = *mut WCHAR;
pub type PCWSTR = *const WCHAR;
pub type LPCSTR = *const CHAR;
pub type PVOID = *mut c_void;
pub type HANDLE = PVOID;
pub type NTSTATUS = LONG;
pub type DEVICE_TYPE = ULONG;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _UNICODE_STRING {
    pub Length: USHORT,
    pub MaximumLength: USHORT,
    pub Buffer: PWCH,
}
pub type UNICODE_STRING = _UNICODE_STRING;
pub type PUNICODE_STRING = *mut UNICODE_STRING;
pub type PCUNICODE_STRING = *const UNICODE_STRING;

// ---------------------------------------------------------------------------------------------
// WDM objects (wdm.h). The front end only passes pointers to these through, so all but the
// driver object (whose `DriverUnload` the entry stub displaces) are opaque here; wdk-sys has
// their full definitions, which the same code compiles against.
// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug)]
pub struct _DEVICE_OBJECT {
    _unused: [u8; 0],
}
pub type DEVICE_OBJECT = _DEVICE_OBJECT;
pub type PDEVICE_OBJECT = *mut _DEVICE_OBJECT;

#[repr(C)]
#[derive(Debug)]
pub struct _IRP {
    _unused: [u8; 0],
}
pub type IRP = _IRP;
pub type PIRP = *mut _IRP;

#[repr(C)]
#[derive(Debug)]
pub struct _FILE_OBJECT {
    _unused: [u8; 0],
}
pub type FILE_OBJECT = _FILE_OBJECT;
pub type PFILE_OBJECT = *mut _FILE_OBJECT;

#[repr(C)]
#[derive(Debug)]
pub struct _DRIVER_EXTENSION {
    _unused: [u8; 0],
}
pub type PDRIVER_EXTENSION = *mut _DRIVER_EXTENSION;

#[repr(C)]
#[derive(Debug)]
pub struct _FAST_IO_DISPATCH {
    _unused: [u8; 0],
}
pub type PFAST_IO_DISPATCH = *mut _FAST_IO_DISPATCH;

pub type DRIVER_INITIALIZE = ::core::option::Option<
    unsafe extern "C" fn(DriverObject: *mut _DRIVER_OBJECT, RegistryPath: PUNICODE_STRING) -> NTSTATUS,
>;
pub type PDRIVER_INITIALIZE = DRIVER_INITIALIZE;
pub type DRIVER_STARTIO =
    ::core::option::Option<unsafe extern "C" fn(DeviceObject: *mut _DEVICE_OBJECT, Irp: *mut _IRP)>;
pub type PDRIVER_STARTIO = DRIVER_STARTIO;
pub type DRIVER_UNLOAD = ::core::option::Option<unsafe extern "C" fn(DriverObject: *mut _DRIVER_OBJECT)>;
pub type PDRIVER_UNLOAD = DRIVER_UNLOAD;
pub type DRIVER_DISPATCH = ::core::option::Option<
    unsafe extern "C" fn(DeviceObject: *mut _DEVICE_OBJECT, Irp: *mut _IRP) -> NTSTATUS,
>;
pub type PDRIVER_DISPATCH = DRIVER_DISPATCH;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _DRIVER_OBJECT {
    pub Type: CSHORT,
    pub Size: CSHORT,
    pub DeviceObject: PDEVICE_OBJECT,
    pub Flags: ULONG,
    pub DriverStart: PVOID,
    pub DriverSize: ULONG,
    pub DriverSection: PVOID,
    pub DriverExtension: PDRIVER_EXTENSION,
    pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: PUNICODE_STRING,
    pub FastIoDispatch: PFAST_IO_DISPATCH,
    pub DriverInit: PDRIVER_INITIALIZE,
    pub DriverStartIo: PDRIVER_STARTIO,
    pub DriverUnload: PDRIVER_UNLOAD,
    pub MajorFunction: [PDRIVER_DISPATCH; 28usize],
}
pub type DRIVER_OBJECT = _DRIVER_OBJECT;
pub type PDRIVER_OBJECT = *mut _DRIVER_OBJECT;

// ---------------------------------------------------------------------------------------------
// WDF handles (wdftypes.h: `DECLARE_HANDLE`)
// ---------------------------------------------------------------------------------------------

pub type WDFOBJECT = HANDLE;
pub type PWDFOBJECT = *mut HANDLE;

#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFDRIVER__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFDRIVER = *mut WDFDRIVER__;

#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFDEVICE__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFDEVICE = *mut WDFDEVICE__;

#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFQUEUE__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFQUEUE = *mut WDFQUEUE__;

#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFREQUEST__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFREQUEST = *mut WDFREQUEST__;

#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFFILEOBJECT__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFFILEOBJECT = *mut WDFFILEOBJECT__;

#[repr(C)]
#[derive(Debug)]
pub struct WDFDEVICE_INIT {
    _unused: [u8; 0],
}
pub type PWDFDEVICE_INIT = *mut WDFDEVICE_INIT;

/// wdf.h: `typedef VOID (*WDFFUNC)(VOID)`, the type of a function-table entry.
pub type WDFFUNC = ::core::option::Option<unsafe extern "C" fn()>;

// ---------------------------------------------------------------------------------------------
// Driver globals (wdfglobals.h)
// ---------------------------------------------------------------------------------------------

pub const WDF_DRIVER_GLOBALS_NAME_LEN: u32 = 32;

#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _WDF_DRIVER_GLOBALS {
    pub Driver: WDFDRIVER,
    pub DriverFlags: ULONG,
    pub DriverTag: ULONG,
    pub DriverName: [CHAR; 32usize],
    pub DisplaceDriverUnload: BOOLEAN,
}
pub type WDF_DRIVER_GLOBALS = _WDF_DRIVER_GLOBALS;
pub type PWDF_DRIVER_GLOBALS = *mut _WDF_DRIVER_GLOBALS;

// ---------------------------------------------------------------------------------------------
// Enumerations (bindgen's `ModuleConsts` style, as wdk-build configures it)
// ---------------------------------------------------------------------------------------------

pub mod _WDF_DRIVER_INIT_FLAGS {
    pub type Type = ::core::ffi::c_int;
    pub const WdfDriverInitNonPnpDriver: Type = 1;
    pub const WdfDriverInitNoDispatchOverride: Type = 2;
    pub const WdfVerifyOn: Type = 4;
    pub const WdfVerifierOn: Type = 8;
    pub const WdfDriverInitCompanion: Type = 16;
}
pub use self::_WDF_DRIVER_INIT_FLAGS::Type as WDF_DRIVER_INIT_FLAGS;

pub mod _WDF_TRI_STATE {
    pub type Type = ::core::ffi::c_int;
    pub const WdfFalse: Type = 0;
    pub const WdfTrue: Type = 1;
    pub const WdfUseDefault: Type = 2;
}
pub use self::_WDF_TRI_STATE::Type as WDF_TRI_STATE;

pub mod _WDF_EXECUTION_LEVEL {
    pub type Type = ::core::ffi::c_int;
    pub const WdfExecutionLevelInvalid: Type = 0;
    pub const WdfExecutionLevelInheritFromParent: Type = 1;
    pub const WdfExecutionLevelPassive: Type = 2;
    pub const WdfExecutionLevelDispatch: Type = 3;
}
pub use self::_WDF_EXECUTION_LEVEL::Type as WDF_EXECUTION_LEVEL;

pub mod _WDF_SYNCHRONIZATION_SCOPE {
    pub type Type = ::core::ffi::c_int;
    pub const WdfSynchronizationScopeInvalid: Type = 0;
    pub const WdfSynchronizationScopeInheritFromParent: Type = 1;
    pub const WdfSynchronizationScopeDevice: Type = 2;
    pub const WdfSynchronizationScopeQueue: Type = 3;
    pub const WdfSynchronizationScopeNone: Type = 4;
}
pub use self::_WDF_SYNCHRONIZATION_SCOPE::Type as WDF_SYNCHRONIZATION_SCOPE;

pub mod _WDF_FILEOBJECT_CLASS {
    pub type Type = ::core::ffi::c_int;
    pub const WdfFileObjectInvalid: Type = 0;
    pub const WdfFileObjectNotRequired: Type = 1;
    pub const WdfFileObjectWdfCanUseFsContext: Type = 2;
    pub const WdfFileObjectWdfCanUseFsContext2: Type = 3;
    pub const WdfFileObjectWdfCannotUseFsContexts: Type = 4;
    pub const WdfFileObjectCanBeOptional: Type = -2147483648;
}
pub use self::_WDF_FILEOBJECT_CLASS::Type as WDF_FILEOBJECT_CLASS;

pub mod _WDF_IO_QUEUE_DISPATCH_TYPE {
    pub type Type = ::core::ffi::c_int;
    pub const WdfIoQueueDispatchInvalid: Type = 0;
    pub const WdfIoQueueDispatchSequential: Type = 1;
    pub const WdfIoQueueDispatchParallel: Type = 2;
    pub const WdfIoQueueDispatchManual: Type = 3;
    pub const WdfIoQueueDispatchMax: Type = 4;
}
pub use self::_WDF_IO_QUEUE_DISPATCH_TYPE::Type as WDF_IO_QUEUE_DISPATCH_TYPE;

/// wdffuncenum.h (KMDF 1.33): the function-table index of each function the front end calls,
/// and the table's size. Only these entries; the values are the header's.
pub mod _WDFFUNCENUM {
    pub type Type = ::core::ffi::c_int;
    pub const WdfControlDeviceInitAllocateTableIndex: Type = 25;
    pub const WdfControlFinishInitializingTableIndex: Type = 27;
    pub const WdfDeviceWdmGetDeviceObjectTableIndex: Type = 31;
    pub const WdfDeviceInitFreeTableIndex: Type = 54;
    pub const WdfDeviceInitSetDeviceTypeTableIndex: Type = 66;
    pub const WdfDeviceInitAssignNameTableIndex: Type = 67;
    pub const WdfDeviceInitSetCharacteristicsTableIndex: Type = 70;
    pub const WdfDeviceInitSetFileObjectConfigTableIndex: Type = 71;
    pub const WdfDeviceInitSetRequestAttributesTableIndex: Type = 72;
    pub const WdfDeviceCreateTableIndex: Type = 75;
    pub const WdfDeviceCreateSymbolicLinkTableIndex: Type = 80;
    pub const WdfDriverCreateTableIndex: Type = 116;
    pub const WdfFileObjectWdmGetFileObjectTableIndex: Type = 140;
    pub const WdfIoQueueCreateTableIndex: Type = 152;
    pub const WdfObjectGetTypedContextWorkerTableIndex: Type = 202;
    pub const WdfObjectAllocateContextTableIndex: Type = 203;
    pub const WdfObjectDeleteTableIndex: Type = 208;
    pub const WdfRequestUnmarkCancelableTableIndex: Type = 256;
    pub const WdfRequestCompleteTableIndex: Type = 263;
    pub const WdfRequestCompleteWithInformationTableIndex: Type = 265;
    pub const WdfRequestGetFileObjectTableIndex: Type = 277;
    pub const WdfRequestWdmGetIrpTableIndex: Type = 285;
    pub const WdfRequestMarkCancelableExTableIndex: Type = 393;
    pub const WdfFunctionTableNumEntries: Type = 458;
}
pub use self::_WDFFUNCENUM::Type as WDFFUNCENUM;

// ---------------------------------------------------------------------------------------------
// Event callback types
// ---------------------------------------------------------------------------------------------

pub type PFN_WDF_DRIVER_DEVICE_ADD =
    ::core::option::Option<unsafe extern "C" fn(Driver: WDFDRIVER, DeviceInit: PWDFDEVICE_INIT) -> NTSTATUS>;
pub type PFN_WDF_DRIVER_UNLOAD = ::core::option::Option<unsafe extern "C" fn(Driver: WDFDRIVER)>;
pub type PFN_WDF_OBJECT_CONTEXT_CLEANUP = ::core::option::Option<unsafe extern "C" fn(Object: WDFOBJECT)>;
pub type PFN_WDF_OBJECT_CONTEXT_DESTROY = ::core::option::Option<unsafe extern "C" fn(Object: WDFOBJECT)>;
pub type PFN_GET_UNIQUE_CONTEXT_TYPE =
    ::core::option::Option<unsafe extern "C" fn() -> PCWDF_OBJECT_CONTEXT_TYPE_INFO>;
pub type PFN_WDF_DEVICE_FILE_CREATE = ::core::option::Option<
    unsafe extern "C" fn(Device: WDFDEVICE, Request: WDFREQUEST, FileObject: WDFFILEOBJECT),
>;
pub type PFN_WDF_FILE_CLOSE = ::core::option::Option<unsafe extern "C" fn(FileObject: WDFFILEOBJECT)>;
pub type PFN_WDF_FILE_CLEANUP = ::core::option::Option<unsafe extern "C" fn(FileObject: WDFFILEOBJECT)>;
pub type PFN_WDF_IO_QUEUE_IO_DEFAULT =
    ::core::option::Option<unsafe extern "C" fn(Queue: WDFQUEUE, Request: WDFREQUEST)>;
pub type PFN_WDF_IO_QUEUE_IO_READ =
    ::core::option::Option<unsafe extern "C" fn(Queue: WDFQUEUE, Request: WDFREQUEST, Length: usize)>;
pub type PFN_WDF_IO_QUEUE_IO_WRITE =
    ::core::option::Option<unsafe extern "C" fn(Queue: WDFQUEUE, Request: WDFREQUEST, Length: usize)>;
pub type PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL = ::core::option::Option<
    unsafe extern "C" fn(
        Queue: WDFQUEUE,
        Request: WDFREQUEST,
        OutputBufferLength: usize,
        InputBufferLength: usize,
        IoControlCode: ULONG,
    ),
>;
pub type PFN_WDF_IO_QUEUE_IO_INTERNAL_DEVICE_CONTROL = ::core::option::Option<
    unsafe extern "C" fn(
        Queue: WDFQUEUE,
        Request: WDFREQUEST,
        OutputBufferLength: usize,
        InputBufferLength: usize,
        IoControlCode: ULONG,
    ),
>;
pub type PFN_WDF_IO_QUEUE_IO_STOP =
    ::core::option::Option<unsafe extern "C" fn(Queue: WDFQUEUE, Request: WDFREQUEST, ActionFlags: ULONG)>;
pub type PFN_WDF_IO_QUEUE_IO_RESUME =
    ::core::option::Option<unsafe extern "C" fn(Queue: WDFQUEUE, Request: WDFREQUEST)>;
pub type PFN_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE =
    ::core::option::Option<unsafe extern "C" fn(Queue: WDFQUEUE, Request: WDFREQUEST)>;
pub type PFN_WDF_REQUEST_CANCEL = ::core::option::Option<unsafe extern "C" fn(Request: WDFREQUEST)>;

// ---------------------------------------------------------------------------------------------
// Configuration structures
// ---------------------------------------------------------------------------------------------

/// wdfdriver.h.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _WDF_DRIVER_CONFIG {
    pub Size: ULONG,
    pub EvtDriverDeviceAdd: PFN_WDF_DRIVER_DEVICE_ADD,
    pub EvtDriverUnload: PFN_WDF_DRIVER_UNLOAD,
    pub DriverInitFlags: ULONG,
    pub DriverPoolTag: ULONG,
}
pub type WDF_DRIVER_CONFIG = _WDF_DRIVER_CONFIG;
pub type PWDF_DRIVER_CONFIG = *mut _WDF_DRIVER_CONFIG;

/// wdfobject.h.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _WDF_OBJECT_CONTEXT_TYPE_INFO {
    pub Size: ULONG,
    pub ContextName: LPCSTR,
    pub ContextSize: usize,
    pub UniqueType: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
    pub EvtDriverGetUniqueContextType: PFN_GET_UNIQUE_CONTEXT_TYPE,
}
pub type WDF_OBJECT_CONTEXT_TYPE_INFO = _WDF_OBJECT_CONTEXT_TYPE_INFO;
pub type PWDF_OBJECT_CONTEXT_TYPE_INFO = *mut _WDF_OBJECT_CONTEXT_TYPE_INFO;
pub type PCWDF_OBJECT_CONTEXT_TYPE_INFO = *const _WDF_OBJECT_CONTEXT_TYPE_INFO;

/// wdfobject.h.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _WDF_OBJECT_ATTRIBUTES {
    pub Size: ULONG,
    pub EvtCleanupCallback: PFN_WDF_OBJECT_CONTEXT_CLEANUP,
    pub EvtDestroyCallback: PFN_WDF_OBJECT_CONTEXT_DESTROY,
    pub ExecutionLevel: WDF_EXECUTION_LEVEL,
    pub SynchronizationScope: WDF_SYNCHRONIZATION_SCOPE,
    pub ParentObject: WDFOBJECT,
    pub ContextSizeOverride: usize,
    pub ContextTypeInfo: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
}
pub type WDF_OBJECT_ATTRIBUTES = _WDF_OBJECT_ATTRIBUTES;
pub type PWDF_OBJECT_ATTRIBUTES = *mut _WDF_OBJECT_ATTRIBUTES;

/// wdfdevice.h.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _WDF_FILEOBJECT_CONFIG {
    pub Size: ULONG,
    pub EvtDeviceFileCreate: PFN_WDF_DEVICE_FILE_CREATE,
    pub EvtFileClose: PFN_WDF_FILE_CLOSE,
    pub EvtFileCleanup: PFN_WDF_FILE_CLEANUP,
    pub AutoForwardCleanupClose: WDF_TRI_STATE,
    pub FileObjectClass: WDF_FILEOBJECT_CLASS,
}
pub type WDF_FILEOBJECT_CONFIG = _WDF_FILEOBJECT_CONFIG;
pub type PWDF_FILEOBJECT_CONFIG = *mut _WDF_FILEOBJECT_CONFIG;

/// wdfio.h: `Settings.Parallel` of the queue configuration.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _WDF_IO_QUEUE_CONFIG__bindgen_ty_1__bindgen_ty_1 {
    pub NumberOfPresentedRequests: ULONG,
}

/// wdfio.h: the `Settings` union of the queue configuration.
#[repr(C)]
#[derive(Copy, Clone)]
pub union _WDF_IO_QUEUE_CONFIG__bindgen_ty_1 {
    pub Parallel: _WDF_IO_QUEUE_CONFIG__bindgen_ty_1__bindgen_ty_1,
}

/// wdfio.h.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _WDF_IO_QUEUE_CONFIG {
    pub Size: ULONG,
    pub DispatchType: WDF_IO_QUEUE_DISPATCH_TYPE,
    pub PowerManaged: WDF_TRI_STATE,
    pub AllowZeroLengthRequests: BOOLEAN,
    pub DefaultQueue: BOOLEAN,
    pub EvtIoDefault: PFN_WDF_IO_QUEUE_IO_DEFAULT,
    pub EvtIoRead: PFN_WDF_IO_QUEUE_IO_READ,
    pub EvtIoWrite: PFN_WDF_IO_QUEUE_IO_WRITE,
    pub EvtIoDeviceControl: PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL,
    pub EvtIoInternalDeviceControl: PFN_WDF_IO_QUEUE_IO_INTERNAL_DEVICE_CONTROL,
    pub EvtIoStop: PFN_WDF_IO_QUEUE_IO_STOP,
    pub EvtIoResume: PFN_WDF_IO_QUEUE_IO_RESUME,
    pub EvtIoCanceledOnQueue: PFN_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE,
    pub Settings: _WDF_IO_QUEUE_CONFIG__bindgen_ty_1,
    pub Driver: WDFDRIVER,
}
pub type WDF_IO_QUEUE_CONFIG = _WDF_IO_QUEUE_CONFIG;
pub type PWDF_IO_QUEUE_CONFIG = *mut _WDF_IO_QUEUE_CONFIG;

// ---------------------------------------------------------------------------------------------
// The function table's globals (wdf.h, wdffuncenum.h). Defined by WdfDriverEntry.lib in the WDK
// build; by `crate::driver_entry` (feature `driver-entry`) in the Linux build.
// ---------------------------------------------------------------------------------------------

unsafe extern "C" {
    #[link_name = "WdfFunctions_01033"]
    pub static mut WdfFunctions: *const WDFFUNC;
    pub static mut WdfDriverGlobals: PWDF_DRIVER_GLOBALS;
    pub static mut WdfFunctionCount: ULONG;
}

// ---------------------------------------------------------------------------------------------
// Function types (one per table entry the front end calls)
// ---------------------------------------------------------------------------------------------

pub type PFN_WDFDRIVERCREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PCUNICODE_STRING,
        DriverAttributes: PWDF_OBJECT_ATTRIBUTES,
        DriverConfig: PWDF_DRIVER_CONFIG,
        Driver: *mut WDFDRIVER,
    ) -> NTSTATUS,
>;
pub type PFN_WDFCONTROLDEVICEINITALLOCATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Driver: WDFDRIVER,
        SDDLString: *const UNICODE_STRING,
    ) -> PWDFDEVICE_INIT,
>;
pub type PFN_WDFDEVICEINITSETDEVICETYPE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: PWDFDEVICE_INIT,
        DeviceType: DEVICE_TYPE,
    ),
>;
pub type PFN_WDFDEVICEINITSETCHARACTERISTICS = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: PWDFDEVICE_INIT,
        DeviceCharacteristics: ULONG,
        OrInValues: BOOLEAN,
    ),
>;
pub type PFN_WDFDEVICEINITASSIGNNAME = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: PWDFDEVICE_INIT,
        DeviceName: PCUNICODE_STRING,
    ) -> NTSTATUS,
>;
pub type PFN_WDFDEVICEINITSETFILEOBJECTCONFIG = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: PWDFDEVICE_INIT,
        FileObjectConfig: PWDF_FILEOBJECT_CONFIG,
        FileObjectAttributes: PWDF_OBJECT_ATTRIBUTES,
    ),
>;
pub type PFN_WDFDEVICEINITSETREQUESTATTRIBUTES = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: PWDFDEVICE_INIT,
        RequestAttributes: PWDF_OBJECT_ATTRIBUTES,
    ),
>;
pub type PFN_WDFDEVICEINITFREE = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, DeviceInit: PWDFDEVICE_INIT),
>;
pub type PFN_WDFDEVICECREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: *mut PWDFDEVICE_INIT,
        DeviceAttributes: PWDF_OBJECT_ATTRIBUTES,
        Device: *mut WDFDEVICE,
    ) -> NTSTATUS,
>;
pub type PFN_WDFDEVICECREATESYMBOLICLINK = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Device: WDFDEVICE,
        SymbolicLinkName: PCUNICODE_STRING,
    ) -> NTSTATUS,
>;
pub type PFN_WDFIOQUEUECREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Device: WDFDEVICE,
        Config: PWDF_IO_QUEUE_CONFIG,
        QueueAttributes: PWDF_OBJECT_ATTRIBUTES,
        Queue: *mut WDFQUEUE,
    ) -> NTSTATUS,
>;
pub type PFN_WDFDEVICEWDMGETDEVICEOBJECT = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Device: WDFDEVICE) -> PDEVICE_OBJECT,
>;
pub type PFN_WDFCONTROLFINISHINITIALIZING =
    ::core::option::Option<unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Device: WDFDEVICE)>;
pub type PFN_WDFOBJECTDELETE =
    ::core::option::Option<unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Object: WDFOBJECT)>;
pub type PFN_WDFOBJECTGETTYPEDCONTEXTWORKER = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Handle: WDFOBJECT,
        TypeInfo: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
    ) -> PVOID,
>;
pub type PFN_WDFOBJECTALLOCATECONTEXT = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Handle: WDFOBJECT,
        ContextAttributes: PWDF_OBJECT_ATTRIBUTES,
        Context: *mut PVOID,
    ) -> NTSTATUS,
>;
pub type PFN_WDFREQUESTMARKCANCELABLEEX = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Request: WDFREQUEST,
        EvtRequestCancel: PFN_WDF_REQUEST_CANCEL,
    ) -> NTSTATUS,
>;
pub type PFN_WDFREQUESTUNMARKCANCELABLE = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Request: WDFREQUEST) -> NTSTATUS,
>;
pub type PFN_WDFREQUESTCOMPLETE = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Request: WDFREQUEST, Status: NTSTATUS),
>;
pub type PFN_WDFREQUESTCOMPLETEWITHINFORMATION = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Request: WDFREQUEST,
        Status: NTSTATUS,
        Information: ULONG_PTR,
    ),
>;
pub type PFN_WDFREQUESTGETFILEOBJECT = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Request: WDFREQUEST) -> WDFFILEOBJECT,
>;
pub type PFN_WDFREQUESTWDMGETIRP = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, Request: WDFREQUEST) -> PIRP,
>;
pub type PFN_WDFFILEOBJECTWDMGETFILEOBJECT = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, FileObject: WDFFILEOBJECT) -> PFILE_OBJECT,
>;
