//! `call_unsafe_wdf_function_binding!` on the host: the stand-in's macro (the real wdk-macros
//! proc macro over `src/types.rs`) calls through `WdfFunctions` at the function's table index,
//! with the driver globals first and the arguments in order, and returns the function's result
//! — what the driver's calls do against the framework (or the WDF double) on Windows.
#![allow(clippy::disallowed_methods)] // a test, not the driver: driver/clippy.toml
#![allow(non_snake_case, non_upper_case_globals, missing_docs)]

// As the driver does at its crate root: the stand-in is `wdk_sys` here.
extern crate wdk_sys_standin as wdk_sys;

use std::sync::Mutex;
use wdk_sys::{
    call_unsafe_wdf_function_binding, _WDFFUNCENUM, PCWDF_OBJECT_CONTEXT_TYPE_INFO, PVOID,
    PWDF_DRIVER_GLOBALS, ULONG, ULONG_PTR, WDFFUNC, WDFOBJECT, WDFREQUEST, WDF_DRIVER_GLOBALS,
    WDF_OBJECT_CONTEXT_TYPE_INFO,
};

const ENTRIES: usize = _WDFFUNCENUM::WdfFunctionTableNumEntries as usize;

// What WdfDriverEntry.lib (or the stand-in's entry stub) defines in a driver image.
#[unsafe(no_mangle)]
static mut WdfFunctions_01033: *const WDFFUNC = std::ptr::null();
#[unsafe(no_mangle)]
static mut WdfDriverGlobals: PWDF_DRIVER_GLOBALS = std::ptr::null_mut();
#[unsafe(no_mangle)]
static mut WdfFunctionCount: ULONG = _WDFFUNCENUM::WdfFunctionTableNumEntries.cast_unsigned();

static CALLS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Stands for a driver's context type info (only its address is passed).
static INFO: usize = 0;

unsafe extern "C" fn wrong_entry() {
    panic!("a call went to an entry no function of this test is at");
}

unsafe extern "C" fn complete_with_information(
    g: PWDF_DRIVER_GLOBALS,
    request: WDFREQUEST,
    status: i32,
    information: ULONG_PTR,
) {
    CALLS
        .lock()
        .unwrap()
        .push(format!("complete {g:p} {request:p} {status:#x} {information}"));
}

unsafe extern "C" fn typed_context(
    g: PWDF_DRIVER_GLOBALS,
    object: WDFOBJECT,
    info: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
) -> PVOID {
    CALLS
        .lock()
        .unwrap()
        .push(format!("context {g:p} {object:p} {info:p}"));
    object.cast::<u8>().wrapping_add(0x40).cast()
}

/// Installs a table and globals; returns the globals' address.
fn install() -> *const WDF_DRIVER_GLOBALS {
    let mut table: Vec<WDFFUNC> = vec![Some(wrong_entry); ENTRIES];
    let complete: wdk_sys::PFN_WDFREQUESTCOMPLETEWITHINFORMATION = Some(complete_with_information);
    let context: wdk_sys::PFN_WDFOBJECTGETTYPEDCONTEXTWORKER = Some(typed_context);
    // SAFETY: 1. function pointers of the same size; called back through their own types.
    table[_WDFFUNCENUM::WdfRequestCompleteWithInformationTableIndex as usize] =
        unsafe { std::mem::transmute::<wdk_sys::PFN_WDFREQUESTCOMPLETEWITHINFORMATION, WDFFUNC>(complete) };
    // SAFETY: 1. as above.
    table[_WDFFUNCENUM::WdfObjectGetTypedContextWorkerTableIndex as usize] =
        unsafe { std::mem::transmute::<wdk_sys::PFN_WDFOBJECTGETTYPEDCONTEXTWORKER, WDFFUNC>(context) };
    let globals: &'static mut WDF_DRIVER_GLOBALS = Box::leak(Box::default());
    let table = Box::leak(table.into_boxed_slice()).as_ptr();
    // SAFETY: 1. the test's statics, set before any call, by one test (the only one).
    unsafe { WdfFunctions_01033 = table };
    // SAFETY: 1. as above.
    unsafe { WdfDriverGlobals = std::ptr::from_mut(globals) };
    std::ptr::from_ref(globals)
}

#[test]
fn calls_go_through_the_table_at_their_index() {
    let globals = install();
    let request: WDFREQUEST = 0x1000 as WDFREQUEST;
    // SAFETY: 1. the table routes to this test's functions.
    unsafe { call_unsafe_wdf_function_binding!(WdfRequestCompleteWithInformation, request, -5, 42u64) };
    let info = std::ptr::from_ref(&INFO).cast::<WDF_OBJECT_CONTEXT_TYPE_INFO>();
    // SAFETY: 1. as above.
    let ctx =
        unsafe { call_unsafe_wdf_function_binding!(WdfObjectGetTypedContextWorker, request.cast(), info) };
    assert_eq!(ctx as usize, 0x1040, "the function's result comes back");
    let g = globals;
    assert_eq!(
        *CALLS.lock().unwrap(),
        [
            format!("complete {g:p} 0x1000 0xfffffffb 42"),
            format!("context {g:p} 0x1000 {info:p}"),
        ]
    );
}
