//! The object functions: `WdfObjectGetTypedContextWorker`, `WdfObjectAllocateContext`,
//! `WdfObjectDelete`.

use super::device::{delete_by_driver, Device};
use super::loader::globals;
use super::object::{header_of, Header, Kind};
use super::report::{fatal, verifier};
use crate::logic::validate::{self, status, AttributeRules};
use core::ffi::c_void;
use wdk_sys_standin::{
    NTSTATUS, PCWDF_OBJECT_CONTEXT_TYPE_INFO, PVOID, PWDF_DRIVER_GLOBALS, PWDF_OBJECT_ATTRIBUTES, WDFOBJECT,
};

/// The header behind any handle, checked (NULL, foreign, deleted: the bug check).
///
/// # Safety
/// `handle` is NULL or a handle the double gave out.
unsafe fn header<'a>(g: PWDF_DRIVER_GLOBALS, handle: WDFOBJECT, function: &str) -> &'a Header {
    // SAFETY: 1. the driver's globals argument.
    let g = unsafe { globals(g, function) };
    // SAFETY: 1. caller contract.
    unsafe { header_of(handle, g.who(), function) }
}

/// `WdfObjectGetTypedContextWorker`: the object's context of that type, or NULL.
pub unsafe extern "C" fn wdf_object_get_typed_context_worker(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFOBJECT,
    type_info: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
) -> PVOID {
    const F: &str = "WdfObjectGetTypedContextWorker";
    // SAFETY: 1. the driver's arguments.
    let object = unsafe { header(g, handle, F) };
    // SAFETY: 1. NULL or the driver's static type info.
    let Some(type_info) = (unsafe { type_info.as_ref() }) else {
        fatal(object.who(), F, "NULL TypeInfo");
    };
    object.context(type_info)
}

/// `WdfObjectAllocateContext`.
pub unsafe extern "C" fn wdf_object_allocate_context(
    g: PWDF_DRIVER_GLOBALS,
    handle: WDFOBJECT,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    context: *mut PVOID,
) -> NTSTATUS {
    const F: &str = "WdfObjectAllocateContext";
    // SAFETY: 1. the driver's arguments.
    let object = unsafe { header(g, handle, F) };
    // SAFETY: 1. NULL or the driver's attributes.
    let Some(attrs) = (unsafe { attributes.as_ref() }) else {
        fatal(object.who(), F, "NULL ContextAttributes");
    };
    if !context.is_null() {
        // SAFETY: 1. the driver's out parameter.
        unsafe { context.write(core::ptr::null_mut()) };
    }
    // SAFETY: 1. NULL or the driver's static type info.
    let Some(type_info) = (unsafe { attrs.ContextTypeInfo.as_ref() }) else {
        verifier(object.who(), F, "ContextAttributes without a ContextTypeInfo");
        return status::WDF_OBJECT_ATTRIBUTES_INVALID;
    };
    if let Err(v) = validate::object_attributes(Some(attrs), Some(type_info), AttributeRules::CONTEXT) {
        verifier(object.who(), F, v.why);
        return v.status;
    }
    match object.add_context(type_info, attrs.ContextSizeOverride) {
        Ok((p, existed)) => {
            if !context.is_null() {
                // SAFETY: 1. the driver's out parameter.
                unsafe { context.write(p.cast::<c_void>()) };
            }
            if existed {
                status::OBJECT_NAME_EXISTS
            } else {
                status::SUCCESS
            }
        }
        Err(st) => st,
    }
}

/// `WdfObjectDelete`: a driver may delete the control devices it created; the framework deletes
/// everything else itself.
pub unsafe extern "C" fn wdf_object_delete(g: PWDF_DRIVER_GLOBALS, handle: WDFOBJECT) {
    const F: &str = "WdfObjectDelete";
    // SAFETY: 1. the driver's arguments.
    let object = unsafe { header(g, handle, F) };
    match object.kind() {
        Kind::Device => {
            // SAFETY: 1. checked above: a live device of the driver.
            let d = unsafe { &*handle.cast::<Device>() };
            // SAFETY: 1. as above.
            unsafe { delete_by_driver(object.globals(), d) };
        }
        Kind::Driver | Kind::Queue | Kind::Request | Kind::File => {
            verifier(
                object.who(),
                F,
                "the framework owns this object (only control devices and driver-created objects may be deleted)",
            );
        }
    }
}
