//! Kernel exports, imported by `raw-dylib` (no import library, no WDK).
//!
//! Only functions Wine 8's `ntoskrnl.exe` also exports are listed (checked by `cargo xtask cross`
//! when Wine is installed): notably `ExAllocatePoolWithTag`, not `ExAllocatePool2`.

use super::nt::*;
use super::wsk::*;
use core::ffi::c_void;

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn IoCreateDevice(
        DriverObject: *mut DRIVER_OBJECT,
        DeviceExtensionSize: u32,
        DeviceName: *const UNICODE_STRING,
        DeviceType: u32,
        DeviceCharacteristics: u32,
        Exclusive: BOOLEAN,
        DeviceObject: *mut *mut DEVICE_OBJECT,
    ) -> NTSTATUS;
    pub fn IoDeleteDevice(DeviceObject: *mut DEVICE_OBJECT);
    pub fn IoCreateSymbolicLink(
        SymbolicLinkName: *const UNICODE_STRING,
        DeviceName: *const UNICODE_STRING,
    ) -> NTSTATUS;
    pub fn IoDeleteSymbolicLink(SymbolicLinkName: *const UNICODE_STRING) -> NTSTATUS;
    pub fn IofCompleteRequest(Irp: *mut IRP, PriorityBoost: i8);
    pub fn IoAllocateIrp(StackSize: i8, ChargeQuota: BOOLEAN) -> *mut IRP;
    pub fn IoFreeIrp(Irp: *mut IRP);
    /// Not to be called under Wine 8, whose export is an unimplemented stub (docs/WINE.md).
    pub fn IoSetCompletionRoutineEx(
        DeviceObject: *mut DEVICE_OBJECT,
        Irp: *mut IRP,
        CompletionRoutine: PIO_COMPLETION_ROUTINE,
        Context: *mut c_void,
        InvokeOnSuccess: BOOLEAN,
        InvokeOnError: BOOLEAN,
        InvokeOnCancel: BOOLEAN,
    ) -> NTSTATUS;
    /// The process of the thread that issued `Irp` (`Irp->Tail.Overlay.Thread`'s; Wine
    /// dereferences that thread without a NULL check: callers check it).
    pub fn IoGetRequestorProcess(Irp: *mut IRP) -> *mut c_void;
    /// The current thread's process (the System process in `DriverEntry`).
    pub fn IoGetCurrentProcess() -> *mut c_void;
    pub fn IoCancelIrp(Irp: *mut IRP) -> BOOLEAN;
    pub fn IoReleaseCancelSpinLock(Irql: KIRQL);
    pub fn IoAllocateMdl(
        VirtualAddress: *mut c_void,
        Length: u32,
        SecondaryBuffer: BOOLEAN,
        ChargeQuota: BOOLEAN,
        Irp: *mut IRP,
    ) -> *mut MDL;
    pub fn IoFreeMdl(Mdl: *mut MDL);
    pub fn IoBuildPartialMdl(
        SourceMdl: *mut MDL,
        TargetMdl: *mut MDL,
        VirtualAddress: *mut c_void,
        Length: u32,
    );
    pub fn MmBuildMdlForNonPagedPool(Mdl: *mut MDL);
    pub fn MmMapLockedPagesSpecifyCache(
        Mdl: *mut MDL,
        AccessMode: KPROCESSOR_MODE,
        CacheType: u32,
        RequestedAddress: *mut c_void,
        BugCheckOnFailure: u32,
        Priority: u32,
    ) -> *mut c_void;
    pub fn MmUnmapLockedPages(BaseAddress: *mut c_void, Mdl: *mut MDL);
    pub fn MmIsAddressValid(VirtualAddress: *mut c_void) -> BOOLEAN;
    pub fn MmGetSystemRoutineAddress(SystemRoutineName: *const UNICODE_STRING) -> *mut c_void;
    pub fn IoAllocateWorkItem(DeviceObject: *mut DEVICE_OBJECT) -> *mut IO_WORKITEM;
    pub fn IoQueueWorkItem(
        IoWorkItem: *mut IO_WORKITEM,
        WorkerRoutine: PIO_WORKITEM_ROUTINE,
        QueueType: u32,
        Context: *mut c_void,
    );
    pub fn IoFreeWorkItem(IoWorkItem: *mut IO_WORKITEM);
    pub fn KeInitializeEvent(Event: *mut KEVENT, Type: u32, State: BOOLEAN);
    pub fn KeSetEvent(Event: *mut KEVENT, Increment: i32, Wait: BOOLEAN) -> i32;
    pub fn KeWaitForSingleObject(
        Object: *mut c_void,
        WaitReason: u32,
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Timeout: *const i64,
    ) -> NTSTATUS;
    pub fn KeInitializeTimer(Timer: *mut KTIMER);
    pub fn KeSetTimer(Timer: *mut KTIMER, DueTime: i64, Dpc: *mut KDPC) -> BOOLEAN;
    pub fn KeCancelTimer(Timer: *mut KTIMER) -> BOOLEAN;
    pub fn KeInitializeDpc(Dpc: *mut KDPC, DeferredRoutine: PKDEFERRED_ROUTINE, DeferredContext: *mut c_void);
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: *mut KSPIN_LOCK) -> KIRQL;
    pub fn KeReleaseSpinLock(SpinLock: *mut KSPIN_LOCK, NewIrql: KIRQL);
    pub fn ExAllocatePoolWithTag(PoolType: u32, NumberOfBytes: usize, Tag: u32) -> *mut c_void;
    pub fn ExFreePoolWithTag(P: *mut c_void, Tag: u32);
    pub fn KeBugCheckEx(
        BugCheckCode: u32,
        BugCheckParameter1: usize,
        BugCheckParameter2: usize,
        BugCheckParameter3: usize,
        BugCheckParameter4: usize,
    ) -> !;
    pub fn ObOpenObjectByPointer(
        Object: *mut c_void,
        HandleAttributes: u32,
        PassedAccessState: *mut c_void,
        DesiredAccess: ACCESS_MASK,
        ObjectType: *mut c_void,
        AccessMode: KPROCESSOR_MODE,
        Handle: *mut HANDLE,
    ) -> NTSTATUS;
    pub fn ZwSetSecurityObject(
        Handle: HANDLE,
        SecurityInformation: u32,
        SecurityDescriptor: *mut c_void,
    ) -> NTSTATUS;
    pub fn ZwClose(Handle: HANDLE) -> NTSTATUS;
    pub fn ZwOpenKey(
        KeyHandle: *mut HANDLE,
        DesiredAccess: ACCESS_MASK,
        ObjectAttributes: *const OBJECT_ATTRIBUTES,
    ) -> NTSTATUS;
    pub fn ZwQueryValueKey(
        KeyHandle: HANDLE,
        ValueName: *const UNICODE_STRING,
        KeyValueInformationClass: u32,
        KeyValueInformation: *mut c_void,
        Length: u32,
        ResultLength: *mut u32,
    ) -> NTSTATUS;
    pub fn RtlCreateSecurityDescriptor(
        SecurityDescriptor: *mut SECURITY_DESCRIPTOR,
        Revision: u32,
    ) -> NTSTATUS;
    pub fn RtlCreateAcl(Acl: *mut ACL, AclLength: u32, AclRevision: u32) -> NTSTATUS;
    pub fn RtlAddAccessAllowedAce(
        Acl: *mut ACL,
        AceRevision: u32,
        AccessMask: ACCESS_MASK,
        Sid: *mut c_void,
    ) -> NTSTATUS;
    pub fn RtlSetDaclSecurityDescriptor(
        SecurityDescriptor: *mut SECURITY_DESCRIPTOR,
        DaclPresent: BOOLEAN,
        Dacl: *mut ACL,
        DaclDefaulted: BOOLEAN,
    ) -> NTSTATUS;
}

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn DbgPrint(Format: *const u8, ...) -> u32;
}

#[link(name = "netio.sys", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn WskRegister(
        WskClientNpi: *const WSK_CLIENT_NPI,
        WskRegistration: *mut WSK_REGISTRATION,
    ) -> NTSTATUS;
    pub fn WskDeregister(WskRegistration: *mut WSK_REGISTRATION);
    pub fn WskCaptureProviderNPI(
        WskRegistration: *mut WSK_REGISTRATION,
        WaitTimeout: u32,
        WskProviderNpi: *mut WSK_PROVIDER_NPI,
    ) -> NTSTATUS;
    pub fn WskReleaseProviderNPI(WskRegistration: *mut WSK_REGISTRATION);
}
