//! The WDF test double: a kernel-mode library that Wine loads as `WDFLDR.SYS` so the KMDF build
//! of `wsksock.sys` runs under Wine, whose kernel has no KMDF. A test tool, not part of the product.
//!
//! It does what the framework does for the calls the KMDF front end makes, with the framework's
//! checks — as Microsoft documents them and its open source (KMDF 1.33) implements them:
//! - **Binding**: `WdfVersionBind` (exported) checks the bind information (library
//!   `KmdfLibrary`, version at most 1.33, the 1.33 table size), points the driver's `WdfFunctions`
//!   at the double's table and returns driver globals; `WdfVersionUnbind` frees them.
//! - **Driver**: `WdfDriverCreate` (configuration size and flags, attributes, once per driver)
//!   installs the framework's dispatch routine for every major function and, for a non-PnP driver
//!   with `EvtDriverUnload`, its unload routine, and asks the stub to displace the unload routine.
//!   At unload: `EvtDriverUnload`, then the framework deletes the driver's objects (devices, their
//!   links and queues); a device with requests or file objects still outstanding is reported.
//! - **Control device**: `WdfControlDeviceInitAllocate` with an SDDL string, the `WdfDeviceInit*`
//!   setters, `WdfDeviceCreate` (a named device secured by the SDDL — the subset of
//!   `wsksock_nt::sddl` — left `DO_DEVICE_INITIALIZING` until `WdfControlFinishInitializing`; an
//!   open before that is refused as the I/O manager refuses it), `WdfDeviceCreateSymbolicLink`,
//!   `WdfDeviceWdmGetDeviceObject`, `WdfDeviceInitFree`, `WdfObjectDelete` of a control device.
//! - **File objects**: the four classes and `WdfFileObjectCanBeOptional`; `EvtDeviceFileCreate`
//!   with a create request, `EvtFileCleanup`, `EvtFileClose`; typed contexts from the file-object
//!   attributes; `WdfRequestGetFileObject`, `WdfFileObjectWdmGetFileObject`.
//! - **Queues and requests**: one default queue per device; parallel queues present at most
//!   `NumberOfPresentedRequests` requests at once (0: none, ever), sequential queues one; requests
//!   waiting in the queue are cancelable there; IRP_MJ_DEVICE_CONTROL and
//!   IRP_MJ_INTERNAL_DEVICE_CONTROL go to their callbacks (or `EvtIoDefault`); request contexts
//!   from `WdfDeviceInitSetRequestAttributes`; `WdfRequestComplete[WithInformation]`;
//!   `WdfRequestMarkCancelableEx` (STATUS_CANCELLED if the IRP was already cancelled: then the
//!   callback never runs) and `WdfRequestUnmarkCancelable` (STATUS_CANCELLED once the cancel
//!   started), `EvtRequestCancel` at most once; `WdfRequestWdmGetIrp`.
//! - **Objects**: handle checks (a NULL or dead handle is the framework's `WDF_VIOLATION` bug
//!   check), `WdfObjectGetTypedContextWorker`, `WdfObjectAllocateContext`, object attributes
//!   (`FxValidateObjectAttributes`: size, execution level, synchronization scope, parent, context
//!   size), `EvtCleanupCallback` / `EvtDestroyCallback`.
//!
//! A misuse the real framework rejects or mishandles is rejected or mishandled the same way here
//! and printed as one `WDF VERIFIER:` line (`DbgPrint`); the Wine suite fails on any such line.
//! A misuse the framework answers with a bug check (NULL handle, double completion, …) prints
//! its line, then bug-checks (`WDF_VIOLATION`, 0x10D), which ends winedevice.exe under Wine. A
//! function of the table the double does not implement bug-checks the same way, saying so.
//! Informational lines start with `WDF DOUBLE:`.
//!
//! - [`logic`]: the rules as pure logic (host-tested: these tests show the double catching
//!   a zeroed queue configuration, zeroed object attributes, a completed or NULL handle);
//! - `fx` (Windows only): the objects, the dispatch of IRPs, the exported loader functions and
//!   the function table.
//!
//! `unsafe` is the double's business, as it is the driver's: it is a kernel image built on raw
//! pointers handed to it by the driver and the kernel. Every block says why it holds.
#![cfg_attr(windows, no_std)]
#![cfg_attr(not(windows), allow(dead_code))]

extern crate alloc;

pub mod logic;

#[cfg(windows)]
mod fx;
