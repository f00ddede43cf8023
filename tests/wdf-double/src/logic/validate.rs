//! The framework's checks of what a driver passes in: structure sizes, object attributes,
//! driver, queue and file-object configurations, and the loader's bind information.
//!
//! Each check returns the status the real framework returns and the reason, which the double
//! prints as a `WDF VERIFIER:` line (the framework traces it and, with its verifier on, breaks
//! into the debugger). The rules and statuses follow the open framework source (KMDF 1.33):
//! `FxValidateObjectAttributes`, `WdfDriverCreate`, `WdfIoQueueCreate` / `FxIoQueue::Initialize`,
//! `WdfDeviceInitSetFileObjectConfig`, the loader's client registration.

use wdk_sys_standin::ldr::{KMDF_LIBRARY, WDF_BIND_INFO};
use wdk_sys_standin::{
    _WDFFUNCENUM, _WDF_DRIVER_INIT_FLAGS, _WDF_EXECUTION_LEVEL, _WDF_FILEOBJECT_CLASS,
    _WDF_IO_QUEUE_DISPATCH_TYPE, _WDF_SYNCHRONIZATION_SCOPE, _WDF_TRI_STATE, NTSTATUS, WDF_DRIVER_CONFIG,
    WDF_FILEOBJECT_CLASS, WDF_FILEOBJECT_CONFIG, WDF_IO_QUEUE_CONFIG, WDF_OBJECT_ATTRIBUTES,
    WDF_OBJECT_CONTEXT_TYPE_INFO, WDF_TRI_STATE,
};

/// A refused call: the status the framework returns and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What the framework returns.
    pub status: NTSTATUS,
    /// The reason (printed after `WDF VERIFIER:`).
    pub why: &'static str,
}

/// `NTSTATUS` from its documented unsigned value.
pub const fn st(v: u32) -> NTSTATUS {
    v.cast_signed()
}

/// Statuses of the checks (ntstatus.h, wdfstatus.h), named after their `STATUS_` constants.
#[allow(missing_docs)]
pub mod status {
    use super::st;
    use wdk_sys_standin::NTSTATUS;
    pub const SUCCESS: NTSTATUS = 0;
    pub const UNSUCCESSFUL: NTSTATUS = st(0xC000_0001);
    pub const NOT_IMPLEMENTED: NTSTATUS = st(0xC000_0002);
    pub const INFO_LENGTH_MISMATCH: NTSTATUS = st(0xC000_0004);
    pub const INVALID_PARAMETER: NTSTATUS = st(0xC000_000D);
    pub const NO_SUCH_DEVICE: NTSTATUS = st(0xC000_000E);
    pub const INVALID_DEVICE_REQUEST: NTSTATUS = st(0xC000_0010);
    pub const OBJECT_NAME_EXISTS: NTSTATUS = st(0x4000_0000);
    pub const INSUFFICIENT_RESOURCES: NTSTATUS = st(0xC000_009A);
    pub const NOT_SUPPORTED: NTSTATUS = st(0xC000_00BB);
    pub const CANCELLED: NTSTATUS = st(0xC000_0120);
    pub const INVALID_DEVICE_STATE: NTSTATUS = st(0xC000_0184);
    pub const DRIVER_INTERNAL_ERROR: NTSTATUS = st(0xC000_0183);
    pub const INVALID_SECURITY_DESCR: NTSTATUS = st(0xC000_0079);
    pub const WDF_OBJECT_ATTRIBUTES_INVALID: NTSTATUS = st(0xC020_0209);
    pub const WDF_NO_CALLBACK: NTSTATUS = st(0xC020_020B);
    pub const WDF_PARENT_ASSIGNMENT_NOT_ALLOWED: NTSTATUS = st(0xC020_020F);
    pub const WDF_SYNCHRONIZATION_SCOPE_INVALID: NTSTATUS = st(0xC020_0210);
    pub const WDF_EXECUTION_LEVEL_INVALID: NTSTATUS = st(0xC020_0211);
}

fn refuse<T>(status: NTSTATUS, why: &'static str) -> Result<T, Violation> {
    Err(Violation { status, why })
}

/// A `WDF_TRI_STATE` field holds one of its three values.
fn tri_state(v: WDF_TRI_STATE, why: &'static str) -> Result<(), Violation> {
    match v {
        _WDF_TRI_STATE::WdfFalse | _WDF_TRI_STATE::WdfTrue | _WDF_TRI_STATE::WdfUseDefault => Ok(()),
        _ => refuse(status::INVALID_PARAMETER, why),
    }
}

/// `size_of::<T>()` as the `ULONG Size` fields carry it.
pub fn size_of_u32<T>() -> u32 {
    u32::try_from(size_of::<T>()).unwrap_or(u32::MAX)
}

/// What `FxValidateObjectAttributes` lets through, per object kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeRules {
    /// `FX_VALIDATE_OPTION_PARENT_NOT_ALLOWED`.
    pub parent_not_allowed: bool,
    /// `FX_VALIDATE_OPTION_EXECUTION_LEVEL_ALLOWED`.
    pub execution_level_allowed: bool,
    /// `FX_VALIDATE_OPTION_SYNCHRONIZATION_SCOPE_ALLOWED`.
    pub synchronization_scope_allowed: bool,
}

impl AttributeRules {
    /// Driver, device, file objects: no parent; level and scope may be set.
    pub const TOP_LEVEL: AttributeRules = AttributeRules {
        parent_not_allowed: true,
        execution_level_allowed: true,
        synchronization_scope_allowed: true,
    };
    /// Requests (`WdfDeviceInitSetRequestAttributes`): no parent, nothing set.
    pub const REQUEST: AttributeRules = AttributeRules {
        parent_not_allowed: true,
        execution_level_allowed: false,
        synchronization_scope_allowed: false,
    };
    /// Queues: a parent may be named; level and scope may be set.
    pub const QUEUE: AttributeRules = AttributeRules {
        parent_not_allowed: false,
        execution_level_allowed: true,
        synchronization_scope_allowed: true,
    };
    /// `WdfObjectAllocateContext`: only a context (no parent, nothing set).
    pub const CONTEXT: AttributeRules = AttributeRules::REQUEST;
}

/// `FxValidateObjectAttributes`: `None` attributes are fine.
pub fn object_attributes(
    attributes: Option<&WDF_OBJECT_ATTRIBUTES>,
    context_type: Option<&WDF_OBJECT_CONTEXT_TYPE_INFO>,
    rules: AttributeRules,
) -> Result<(), Violation> {
    use status::{
        INFO_LENGTH_MISMATCH, WDF_EXECUTION_LEVEL_INVALID, WDF_OBJECT_ATTRIBUTES_INVALID,
        WDF_PARENT_ASSIGNMENT_NOT_ALLOWED, WDF_SYNCHRONIZATION_SCOPE_INVALID,
    };
    let Some(a) = attributes else {
        return Ok(());
    };
    if a.Size != size_of_u32::<WDF_OBJECT_ATTRIBUTES>() {
        return refuse(
            INFO_LENGTH_MISMATCH,
            "WDF_OBJECT_ATTRIBUTES.Size is not sizeof(WDF_OBJECT_ATTRIBUTES)",
        );
    }
    if let Some(t) = context_type {
        if t.Size != size_of_u32::<WDF_OBJECT_CONTEXT_TYPE_INFO>() {
            return refuse(INFO_LENGTH_MISMATCH, "WDF_OBJECT_CONTEXT_TYPE_INFO.Size is wrong");
        }
        if t.ContextSize > 0 && t.ContextName.is_null() {
            return refuse(
                WDF_OBJECT_ATTRIBUTES_INVALID,
                "a context type with a size needs a ContextName",
            );
        }
    }
    if a.ContextSizeOverride > 0 {
        match context_type {
            None => {
                return refuse(
                    WDF_OBJECT_ATTRIBUTES_INVALID,
                    "ContextSizeOverride without a ContextTypeInfo",
                )
            }
            Some(t) if a.ContextSizeOverride < t.ContextSize => {
                return refuse(
                    WDF_OBJECT_ATTRIBUTES_INVALID,
                    "ContextSizeOverride smaller than the context type's size",
                )
            }
            Some(_) => {}
        }
    }
    if rules.parent_not_allowed && !a.ParentObject.is_null() {
        return refuse(
            WDF_PARENT_ASSIGNMENT_NOT_ALLOWED,
            "this object does not take a ParentObject",
        );
    }
    if a.ExecutionLevel <= _WDF_EXECUTION_LEVEL::WdfExecutionLevelInvalid
        || a.ExecutionLevel > _WDF_EXECUTION_LEVEL::WdfExecutionLevelDispatch
    {
        return refuse(
            WDF_OBJECT_ATTRIBUTES_INVALID,
            "ExecutionLevel out of range (an all-zero WDF_OBJECT_ATTRIBUTES is invalid: use WDF_OBJECT_ATTRIBUTES_INIT)",
        );
    }
    if a.SynchronizationScope <= _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInvalid
        || a.SynchronizationScope > _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeNone
    {
        return refuse(
            WDF_OBJECT_ATTRIBUTES_INVALID,
            "SynchronizationScope out of range (an all-zero WDF_OBJECT_ATTRIBUTES is invalid: use WDF_OBJECT_ATTRIBUTES_INIT)",
        );
    }
    if !rules.synchronization_scope_allowed
        && a.SynchronizationScope != _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent
        && a.SynchronizationScope != _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeNone
    {
        return refuse(
            WDF_SYNCHRONIZATION_SCOPE_INVALID,
            "this object does not take a SynchronizationScope",
        );
    }
    if !rules.execution_level_allowed
        && a.ExecutionLevel != _WDF_EXECUTION_LEVEL::WdfExecutionLevelInheritFromParent
    {
        return refuse(
            WDF_EXECUTION_LEVEL_INVALID,
            "this object does not take an ExecutionLevel",
        );
    }
    Ok(())
}

/// `WdfDriverCreate`'s checks of the configuration.
pub fn driver_config(c: &WDF_DRIVER_CONFIG) -> Result<(), Violation> {
    use status::{INFO_LENGTH_MISMATCH, INVALID_PARAMETER, NOT_IMPLEMENTED};
    // The v1.1 layout (without DriverPoolTag) is 24 bytes; both are accepted.
    if c.Size != size_of_u32::<WDF_DRIVER_CONFIG>() && c.Size != 24 {
        return refuse(INFO_LENGTH_MISMATCH, "WDF_DRIVER_CONFIG.Size is wrong");
    }
    let valid = (_WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver
        | _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNoDispatchOverride
        | _WDF_DRIVER_INIT_FLAGS::WdfDriverInitCompanion)
        .cast_unsigned();
    if c.DriverInitFlags & !valid != 0 {
        return refuse(INVALID_PARAMETER, "unknown DriverInitFlags");
    }
    let non_pnp = c.DriverInitFlags & _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver.cast_unsigned() != 0;
    let no_override =
        c.DriverInitFlags & _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNoDispatchOverride.cast_unsigned() != 0;
    if !no_override && non_pnp && c.EvtDriverDeviceAdd.is_some() {
        return refuse(INVALID_PARAMETER, "a non-PnP driver has no EvtDriverDeviceAdd");
    }
    if !non_pnp && !no_override {
        return refuse(
            NOT_IMPLEMENTED,
            "(double) only non-PnP drivers (WdfDriverInitNonPnpDriver) are implemented",
        );
    }
    Ok(())
}

/// How many requests a queue presents at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presentation {
    /// At most this many (`u32::MAX`: any number).
    AtMost(u32),
}

/// `WdfIoQueueCreate` / `FxIoQueue::Initialize` checks; the queue's presentation limit.
/// `number_of_presented_requests` is `Settings.Parallel.NumberOfPresentedRequests` (read by the
/// caller: reading a union is `unsafe`, and this module is not).
pub fn queue_config(
    c: &WDF_IO_QUEUE_CONFIG,
    number_of_presented_requests: u32,
) -> Result<Presentation, Violation> {
    use status::{INFO_LENGTH_MISMATCH, INVALID_PARAMETER, NOT_IMPLEMENTED, WDF_NO_CALLBACK};
    // The v1.7 and v1.9 layouts end before `Settings` / `Driver`.
    let size = size_of_u32::<WDF_IO_QUEUE_CONFIG>();
    if c.Size != size && c.Size != 80 && c.Size != 88 {
        return refuse(INFO_LENGTH_MISMATCH, "WDF_IO_QUEUE_CONFIG.Size is wrong");
    }
    let t = c.DispatchType;
    if t <= _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchInvalid
        || t >= _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchMax
    {
        return refuse(INVALID_PARAMETER, "DispatchType out of range");
    }
    if t == _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchManual {
        return refuse(NOT_IMPLEMENTED, "(double) manual queues are not implemented");
    }
    let any = c.EvtIoDefault.is_some()
        || c.EvtIoRead.is_some()
        || c.EvtIoWrite.is_some()
        || c.EvtIoDeviceControl.is_some()
        || c.EvtIoInternalDeviceControl.is_some();
    if !any {
        return refuse(
            WDF_NO_CALLBACK,
            "a queue that is not manual needs EvtIoDefault, EvtIoRead, EvtIoWrite or EvtIoDeviceControl",
        );
    }
    if c.DefaultQueue == 0 {
        return refuse(
            NOT_IMPLEMENTED,
            "(double) only default queues are implemented (no WdfDeviceConfigureRequestDispatching)",
        );
    }
    tri_state(c.PowerManaged, "PowerManaged is not a WDF_TRI_STATE")?;
    // Before v1.9 there was no limit: every queue presented any number.
    let presented = if c.Size > 80 {
        number_of_presented_requests
    } else {
        u32::MAX
    };
    if t == _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchSequential {
        if presented != 0 && c.Size > 80 {
            return refuse(
                INVALID_PARAMETER,
                "NumberOfPresentedRequests must be 0 on a sequential queue",
            );
        }
        return Ok(Presentation::AtMost(1));
    }
    Ok(Presentation::AtMost(presented))
}

/// `WdfDeviceInitSetFileObjectConfig`'s checks: the class without `WdfFileObjectCanBeOptional`,
/// and whether that flag is set.
pub fn file_object_config(c: &WDF_FILEOBJECT_CONFIG) -> Result<(WDF_FILEOBJECT_CLASS, bool), Violation> {
    use status::{INFO_LENGTH_MISMATCH, INVALID_PARAMETER};
    if c.Size != size_of_u32::<WDF_FILEOBJECT_CONFIG>() {
        return refuse(INFO_LENGTH_MISMATCH, "WDF_FILEOBJECT_CONFIG.Size is wrong");
    }
    let optional = c.FileObjectClass & _WDF_FILEOBJECT_CLASS::WdfFileObjectCanBeOptional != 0;
    let class = c.FileObjectClass & !_WDF_FILEOBJECT_CLASS::WdfFileObjectCanBeOptional;
    if class <= _WDF_FILEOBJECT_CLASS::WdfFileObjectInvalid
        || class > _WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCannotUseFsContexts
    {
        return refuse(INVALID_PARAMETER, "FileObjectClass out of range");
    }
    if optional && class == _WDF_FILEOBJECT_CLASS::WdfFileObjectNotRequired {
        return refuse(
            INVALID_PARAMETER,
            "WdfFileObjectCanBeOptional combined with WdfFileObjectNotRequired",
        );
    }
    if !matches!(
        c.AutoForwardCleanupClose,
        _WDF_TRI_STATE::WdfFalse | _WDF_TRI_STATE::WdfTrue | _WDF_TRI_STATE::WdfUseDefault
    ) {
        return refuse(
            INVALID_PARAMETER,
            "AutoForwardCleanupClose is not a WDF_TRI_STATE",
        );
    }
    Ok((class, optional))
}

/// The loader's checks of a client's bind information (`WdfVersionBind`), for the framework the
/// double is: KMDF 1.33.
pub fn bind_info(b: &WDF_BIND_INFO, component: &[u16]) -> Result<(), Violation> {
    use status::{INVALID_PARAMETER, NOT_SUPPORTED};
    if b.Size != size_of_u32::<WDF_BIND_INFO>() {
        return refuse(
            NOT_SUPPORTED,
            "(double) only the version-1 WDF_BIND_INFO layout is implemented",
        );
    }
    if component != &KMDF_LIBRARY[..KMDF_LIBRARY.len() - 1] {
        return refuse(
            INVALID_PARAMETER,
            "the bind names another library than KmdfLibrary",
        );
    }
    if b.Version.Major != 1 || b.Version.Minor > 33 {
        return refuse(
            NOT_SUPPORTED,
            "(double) the client wants a newer framework than KMDF 1.33",
        );
    }
    let count = _WDFFUNCENUM::WdfFunctionTableNumEntries.cast_unsigned();
    if b.Version.Minor == 33 && b.FuncCount != count {
        return refuse(
            INVALID_PARAMETER,
            "function table count does not match KMDF 1.33's (458)",
        );
    }
    if b.FuncCount > count {
        return refuse(INVALID_PARAMETER, "function table count above the framework's");
    }
    if b.FuncTable.is_null() {
        return refuse(INVALID_PARAMETER, "no FuncTable");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wdk_sys_standin::{PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL, WDFQUEUE, WDFREQUEST};

    fn attributes() -> WDF_OBJECT_ATTRIBUTES {
        WDF_OBJECT_ATTRIBUTES {
            Size: size_of_u32::<WDF_OBJECT_ATTRIBUTES>(),
            ExecutionLevel: _WDF_EXECUTION_LEVEL::WdfExecutionLevelInheritFromParent,
            SynchronizationScope: _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent,
            ..WDF_OBJECT_ATTRIBUTES::default()
        }
    }

    #[test]
    fn initialized_attributes_pass_for_every_object() {
        for rules in [
            AttributeRules::TOP_LEVEL,
            AttributeRules::REQUEST,
            AttributeRules::QUEUE,
        ] {
            assert_eq!(object_attributes(Some(&attributes()), None, rules), Ok(()));
        }
        assert_eq!(object_attributes(None, None, AttributeRules::REQUEST), Ok(()));
    }

    /// Defect 4 of issue 10: a zeroed WDF_OBJECT_ATTRIBUTES with only Size and a context set.
    #[test]
    fn zeroed_attributes_are_refused() {
        let a = WDF_OBJECT_ATTRIBUTES {
            Size: size_of_u32::<WDF_OBJECT_ATTRIBUTES>(),
            ..WDF_OBJECT_ATTRIBUTES::default()
        };
        for rules in [
            AttributeRules::TOP_LEVEL,
            AttributeRules::REQUEST,
            AttributeRules::CONTEXT,
        ] {
            let v = object_attributes(Some(&a), None, rules).unwrap_err();
            assert_eq!(v.status, status::WDF_OBJECT_ATTRIBUTES_INVALID, "{}", v.why);
        }
    }

    #[test]
    fn attributes_rules_per_object() {
        let mut a = attributes();
        a.Size -= 8;
        assert_eq!(
            object_attributes(Some(&a), None, AttributeRules::QUEUE)
                .unwrap_err()
                .status,
            status::INFO_LENGTH_MISMATCH
        );
        let mut a = attributes();
        a.ExecutionLevel = _WDF_EXECUTION_LEVEL::WdfExecutionLevelPassive;
        assert_eq!(
            object_attributes(Some(&a), None, AttributeRules::TOP_LEVEL),
            Ok(())
        );
        assert_eq!(
            object_attributes(Some(&a), None, AttributeRules::REQUEST)
                .unwrap_err()
                .status,
            status::WDF_EXECUTION_LEVEL_INVALID
        );
        let mut a = attributes();
        a.ParentObject = core::ptr::dangling_mut();
        assert_eq!(
            object_attributes(Some(&a), None, AttributeRules::REQUEST)
                .unwrap_err()
                .status,
            status::WDF_PARENT_ASSIGNMENT_NOT_ALLOWED
        );
        assert_eq!(object_attributes(Some(&a), None, AttributeRules::QUEUE), Ok(()));
        let mut a = attributes();
        a.ContextSizeOverride = 8;
        assert_eq!(
            object_attributes(Some(&a), None, AttributeRules::QUEUE)
                .unwrap_err()
                .status,
            status::WDF_OBJECT_ATTRIBUTES_INVALID
        );
    }

    extern "C" fn io(_: WDFQUEUE, _: WDFREQUEST, _: usize, _: usize, _: u32) {}

    fn queue(dispatch: i32) -> WDF_IO_QUEUE_CONFIG {
        let control: PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL = Some(io);
        WDF_IO_QUEUE_CONFIG {
            Size: size_of_u32::<WDF_IO_QUEUE_CONFIG>(),
            DispatchType: dispatch,
            PowerManaged: _WDF_TRI_STATE::WdfFalse,
            DefaultQueue: 1,
            EvtIoDeviceControl: control,
            ..WDF_IO_QUEUE_CONFIG::default()
        }
    }

    #[test]
    fn queue_presentation_limits() {
        let parallel = queue(_WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchParallel);
        assert_eq!(
            queue_config(&parallel, u32::MAX),
            Ok(Presentation::AtMost(u32::MAX))
        );
        // Defect 3 of issue 10: the zeroed limit is accepted, and means "none, ever".
        assert_eq!(queue_config(&parallel, 0), Ok(Presentation::AtMost(0)));
        let sequential = queue(_WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchSequential);
        assert_eq!(queue_config(&sequential, 0), Ok(Presentation::AtMost(1)));
        assert_eq!(
            queue_config(&sequential, 5).unwrap_err().status,
            status::INVALID_PARAMETER
        );
        let mut none = parallel;
        none.EvtIoDeviceControl = None;
        assert_eq!(
            queue_config(&none, 1).unwrap_err().status,
            status::WDF_NO_CALLBACK
        );
        let mut bad = parallel;
        bad.Size = 40;
        assert_eq!(
            queue_config(&bad, 1).unwrap_err().status,
            status::INFO_LENGTH_MISMATCH
        );
    }

    #[test]
    fn file_object_classes() {
        let mut c = WDF_FILEOBJECT_CONFIG {
            Size: size_of_u32::<WDF_FILEOBJECT_CONFIG>(),
            FileObjectClass: _WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCanUseFsContext
                | _WDF_FILEOBJECT_CLASS::WdfFileObjectCanBeOptional,
            AutoForwardCleanupClose: _WDF_TRI_STATE::WdfUseDefault,
            ..WDF_FILEOBJECT_CONFIG::default()
        };
        assert_eq!(
            file_object_config(&c),
            Ok((_WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCanUseFsContext, true))
        );
        c.FileObjectClass = _WDF_FILEOBJECT_CLASS::WdfFileObjectInvalid;
        assert!(file_object_config(&c).is_err());
    }
}
