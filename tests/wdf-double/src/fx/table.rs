//! The function table the bind points a driver's `WdfFunctions` at: KMDF 1.33's 458 entries,
//! the ones the double implements at their `_WDFFUNCENUM` index (from the same declarations the
//! driver is built against, so each has exactly the signature the driver calls it with), every
//! other one a routine that says so and bug-checks.

use super::report::{fatal, Who};
use super::{device, driver, file, object_api, queue, request};
#[allow(clippy::wildcard_imports, reason = "every function type of the table")]
use wdk_sys_standin::*;

/// The table's entries (`WdfFunctionTableNumEntries`).
const ENTRIES: usize = _WDFFUNCENUM::WdfFunctionTableNumEntries as usize;

/// The table (a static: the driver keeps its address).
#[repr(transparent)]
pub struct Table(pub [WDFFUNC; ENTRIES]);

// SAFETY: 1. immutable function pointers.
unsafe impl Sync for Table {}

/// A function of the table the double does not implement.
unsafe extern "C" fn not_implemented() {
    fatal(
        Who(b"driver"),
        "WdfFunctions[?]",
        "(double) a WDF function the double does not implement",
    );
}

/// Puts `$f` (checked against `$pfn`) at `$index`.
macro_rules! entries {
    ($t:ident: $($index:ident => $pfn:ident = $f:path,)*) => {$({
        let f: $pfn = Some($f);
        // SAFETY: 1. a function pointer type to another of the same size (an `Option` of a
        // function pointer); the driver calls it through `$pfn`, its own type.
        $t[_WDFFUNCENUM::$index as usize] = unsafe { core::mem::transmute::<$pfn, WDFFUNC>(f) };
    })*};
}

const fn build() -> [WDFFUNC; ENTRIES] {
    let mut t: [WDFFUNC; ENTRIES] = [Some(not_implemented as unsafe extern "C" fn()); ENTRIES];
    entries!(t:
        WdfDriverCreateTableIndex => PFN_WDFDRIVERCREATE = driver::wdf_driver_create,
        WdfControlDeviceInitAllocateTableIndex => PFN_WDFCONTROLDEVICEINITALLOCATE = device::wdf_control_device_init_allocate,
        WdfDeviceInitSetDeviceTypeTableIndex => PFN_WDFDEVICEINITSETDEVICETYPE = device::wdf_device_init_set_device_type,
        WdfDeviceInitSetCharacteristicsTableIndex => PFN_WDFDEVICEINITSETCHARACTERISTICS = device::wdf_device_init_set_characteristics,
        WdfDeviceInitAssignNameTableIndex => PFN_WDFDEVICEINITASSIGNNAME = device::wdf_device_init_assign_name,
        WdfDeviceInitSetFileObjectConfigTableIndex => PFN_WDFDEVICEINITSETFILEOBJECTCONFIG = device::wdf_device_init_set_file_object_config,
        WdfDeviceInitSetRequestAttributesTableIndex => PFN_WDFDEVICEINITSETREQUESTATTRIBUTES = device::wdf_device_init_set_request_attributes,
        WdfDeviceInitFreeTableIndex => PFN_WDFDEVICEINITFREE = device::wdf_device_init_free,
        WdfDeviceCreateTableIndex => PFN_WDFDEVICECREATE = device::wdf_device_create,
        WdfDeviceCreateSymbolicLinkTableIndex => PFN_WDFDEVICECREATESYMBOLICLINK = device::wdf_device_create_symbolic_link,
        WdfDeviceWdmGetDeviceObjectTableIndex => PFN_WDFDEVICEWDMGETDEVICEOBJECT = device::wdf_device_wdm_get_device_object,
        WdfControlFinishInitializingTableIndex => PFN_WDFCONTROLFINISHINITIALIZING = device::wdf_control_finish_initializing,
        WdfIoQueueCreateTableIndex => PFN_WDFIOQUEUECREATE = queue::wdf_io_queue_create,
        WdfObjectGetTypedContextWorkerTableIndex => PFN_WDFOBJECTGETTYPEDCONTEXTWORKER = object_api::wdf_object_get_typed_context_worker,
        WdfObjectAllocateContextTableIndex => PFN_WDFOBJECTALLOCATECONTEXT = object_api::wdf_object_allocate_context,
        WdfObjectDeleteTableIndex => PFN_WDFOBJECTDELETE = object_api::wdf_object_delete,
        WdfRequestCompleteTableIndex => PFN_WDFREQUESTCOMPLETE = request::wdf_request_complete,
        WdfRequestCompleteWithInformationTableIndex => PFN_WDFREQUESTCOMPLETEWITHINFORMATION = request::wdf_request_complete_with_information,
        WdfRequestMarkCancelableExTableIndex => PFN_WDFREQUESTMARKCANCELABLEEX = request::wdf_request_mark_cancelable_ex,
        WdfRequestUnmarkCancelableTableIndex => PFN_WDFREQUESTUNMARKCANCELABLE = request::wdf_request_unmark_cancelable,
        WdfRequestGetFileObjectTableIndex => PFN_WDFREQUESTGETFILEOBJECT = request::wdf_request_get_file_object,
        WdfRequestWdmGetIrpTableIndex => PFN_WDFREQUESTWDMGETIRP = request::wdf_request_wdm_get_irp,
        WdfFileObjectWdmGetFileObjectTableIndex => PFN_WDFFILEOBJECTWDMGETFILEOBJECT = file::wdf_file_object_wdm_get_file_object,
    );
    t
}

/// The table.
pub static TABLE: Table = Table(build());
