//! The device backend (Windows): one open handle to `\\.\WskSock` is one [`Channel`].
//!
//! `CreateFileW` with `FILE_FLAG_OVERLAPPED`, then one overlapped `DeviceIoControl` per request:
//! a request can pend in one thread while another thread closes its socket or cancels it
//! (`CancelIoEx`). Each request owns an [`Op`] — its `OVERLAPPED`, event and buffers — that the
//! kernel writes into until completion; a waiter thread per pending request turns the completion
//! into a [`Completed`] (status from `OVERLAPPED.Internal`, `Information` from `InternalHigh`,
//! the output buffer as the driver left it).
//!
//! # Invariants
//! - An [`Op`] is shared (`Arc`) by its waiter and its canceller, so the `OVERLAPPED` address that
//!   `CancelIoEx` names is never reused by another request while a canceller can still use it.
//! - The kernel writes to the op's `OVERLAPPED` and output buffer only until the event is
//!   signalled; they are read only after that (or after a synchronous return).
//! - The device handle lives as long as the channel and every op in flight (`Arc<Handle>`).

use crate::channel::{Canceller, Channel, Completed, Output, Pending, Slot};
use std::cell::UnsafeCell;
use std::sync::Arc;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER,
    ERROR_INVALID_FUNCTION, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_IO_PENDING, ERROR_NOT_READY,
    ERROR_NOT_SUPPORTED, ERROR_NO_SYSTEM_RESOURCES, ERROR_OPERATION_ABORTED, GENERIC_READ, GENERIC_WRITE,
    HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_OVERLAPPED, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject, INFINITE};
use windows_sys::Win32::System::IO::{CancelIoEx, DeviceIoControl, OVERLAPPED};
use wsksock_abi::NtStatus;

/// The user-mode name of the device.
pub const DEVICE_PATH: &str = r"\\.\WskSock";

/// `OVERLAPPED.Internal` before the kernel wrote a status (not a status any request ends with).
const UNWRITTEN: usize = 0xFFFF_FFFF_FFFF_FFFF;

/// An owned kernel handle.
struct Handle(HANDLE);

// SAFETY: a kernel handle is a process-wide value usable from any thread.
unsafe impl Send for Handle {}
// SAFETY: see `Send`; the calls made with it are thread-safe.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: 1. a handle we opened; 2. closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// One request in flight: what the kernel may write to until it completes.
struct Op {
    overlapped: UnsafeCell<OVERLAPPED>,
    event: Handle,
    input: Vec<u8>,
    output: UnsafeCell<Vec<u8>>,
}

// SAFETY: the cells are written by the kernel until completion and read by one thread after it
// (module invariants); `input` is only read.
unsafe impl Send for Op {}
// SAFETY: see `Send`.
unsafe impl Sync for Op {}

impl Op {
    /// The status and information the kernel wrote, if it wrote them.
    fn result(&self) -> Option<(NtStatus, usize)> {
        // SAFETY: called after completion (module invariants): nobody writes any more.
        let ov = unsafe { &*self.overlapped.get() };
        if ov.Internal == UNWRITTEN {
            return None;
        }
        // NTSTATUS values are 32 bits wide; the upper half of `Internal` is zero.
        #[allow(clippy::cast_possible_truncation)]
        let status = NtStatus(ov.Internal as u32);
        Some((status, ov.InternalHigh))
    }

    /// The output buffer after completion.
    fn take_output(&self) -> Vec<u8> {
        // SAFETY: after completion (module invariants): the kernel no longer writes to it.
        std::mem::take(unsafe { &mut *self.output.get() })
    }
}

struct OpCanceller {
    device: Arc<Handle>,
    op: Arc<Op>,
}

impl Canceller for OpCanceller {
    fn cancel(&self) {
        // SAFETY: 1. our open handle; 2. the OVERLAPPED of a request on it, kept alive by `op`
        // (never reused while we hold it). Cancelling a completed request is a harmless no-op.
        unsafe { CancelIoEx(self.device.0, self.op.overlapped.get()) };
    }
}

/// One open handle to `\\.\WskSock`: one client of the driver.
pub struct DeviceChannel {
    device: Arc<Handle>,
}

/// Win32 errors a synchronous failure may leave, back to the NTSTATUS the driver used.
fn status_from_win32(err: u32) -> NtStatus {
    match err {
        ERROR_INVALID_FUNCTION => NtStatus::STATUS_INVALID_DEVICE_REQUEST,
        ERROR_INVALID_PARAMETER => NtStatus::STATUS_INVALID_PARAMETER,
        ERROR_INSUFFICIENT_BUFFER => NtStatus::STATUS_BUFFER_TOO_SMALL,
        ERROR_ACCESS_DENIED => NtStatus::STATUS_ACCESS_DENIED,
        ERROR_INVALID_HANDLE => NtStatus::STATUS_INVALID_HANDLE,
        ERROR_NOT_SUPPORTED => NtStatus::STATUS_NOT_SUPPORTED,
        ERROR_OPERATION_ABORTED => NtStatus::STATUS_CANCELLED,
        ERROR_NOT_READY => NtStatus::STATUS_DEVICE_NOT_READY,
        ERROR_NO_SYSTEM_RESOURCES => NtStatus::STATUS_INSUFFICIENT_RESOURCES,
        _ => NtStatus::STATUS_UNSUCCESSFUL,
    }
}

impl DeviceChannel {
    /// Opens `\\.\WskSock` (one new client of the driver) for reading and writing.
    pub fn open() -> Result<DeviceChannel, String> {
        DeviceChannel::open_with(GENERIC_READ | GENERIC_WRITE)
    }

    /// Opens `\\.\WskSock` with `access` (a `CreateFileW` desired access): the I/O manager
    /// refuses the control codes whose access bits the handle lacks (docs/ABI.md).
    pub fn open_with(access: u32) -> Result<DeviceChannel, String> {
        let path: Vec<u16> = DEVICE_PATH.encode_utf16().chain(Some(0)).collect();
        // SAFETY: a NUL-terminated path; no security attributes or template.
        let h = unsafe {
            CreateFileW(
                path.as_ptr(),
                access,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED,
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE || h.is_null() {
            // SAFETY: no preconditions.
            let err = unsafe { GetLastError() };
            let hint = if err == ERROR_FILE_NOT_FOUND {
                " (is the wsksock driver loaded?)"
            } else {
                ""
            };
            return Err(format!("cannot open {DEVICE_PATH}: Win32 error {err}{hint}"));
        }
        Ok(DeviceChannel {
            device: Arc::new(Handle(h)),
        })
    }

    fn new_op(input: Vec<u8>, output: Output) -> Result<Arc<Op>, NtStatus> {
        // SAFETY: no attributes, manual reset, unsignalled, unnamed.
        let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        if event.is_null() {
            return Err(NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        }
        let output = match output {
            Output::Reply(n) => vec![0; n],
            Output::Data(v) => v,
        };
        // SAFETY: OVERLAPPED is plain data; all zeroes is its documented initial state.
        let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
        ov.Internal = UNWRITTEN;
        ov.hEvent = event;
        Ok(Arc::new(Op {
            overlapped: UnsafeCell::new(ov),
            event: Handle(event),
            input,
            output: UnsafeCell::new(output),
        }))
    }
}

fn ptr_len(v: &[u8]) -> (*const u8, u32) {
    if v.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (v.as_ptr(), u32::try_from(v.len()).unwrap_or(u32::MAX))
    }
}

impl Channel for DeviceChannel {
    fn submit(&self, code: u32, input: Vec<u8>, output: Output) -> Pending {
        let op = match Self::new_op(input, output) {
            Ok(op) => op,
            Err(status) => {
                return Pending::done(Completed {
                    status,
                    info: 0,
                    output: Vec::new(),
                })
            }
        };
        let (in_ptr, in_len) = ptr_len(&op.input);
        // SAFETY: nobody else touches the output buffer before the request is started.
        let out = unsafe { &mut *op.output.get() };
        let out_len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let out_ptr = if out.is_empty() {
            std::ptr::null_mut()
        } else {
            out.as_mut_ptr()
        };
        // SAFETY: 1. our open overlapped handle; 2. the buffers and the OVERLAPPED live in `op`,
        // which outlives the request (the waiter below holds it until the event is signalled).
        let ok = unsafe {
            DeviceIoControl(
                self.device.0,
                code,
                in_ptr.cast(),
                in_len,
                out_ptr.cast(),
                out_len,
                std::ptr::null_mut(),
                op.overlapped.get(),
            )
        };
        // SAFETY: no preconditions.
        let err = if ok == 0 { unsafe { GetLastError() } } else { 0 };
        let slot = Slot::default();
        if err != ERROR_IO_PENDING {
            // Done without pending: the IOSB holds the driver's status if it was written (always
            // on success), else only the Win32 error is left. STATUS_PENDING there is not a final
            // status: Wine leaves it when its I/O manager refuses a request synchronously.
            let (status, info) = op
                .result()
                .filter(|(st, _)| *st != NtStatus::STATUS_PENDING)
                .unwrap_or((status_from_win32(err), 0));
            slot.complete(Completed {
                status,
                info,
                output: op.take_output(),
            });
            return Pending::new(slot);
        }
        slot.set_canceller(Box::new(OpCanceller {
            device: self.device.clone(),
            op: op.clone(),
        }));
        let (waiter_op, waiter_slot, device) = (op.clone(), slot.clone(), self.device.clone());
        let spawned = std::thread::Builder::new()
            .name("wsksock-ioctl".into())
            .stack_size(64 * 1024)
            .spawn(move || wait_and_complete(&device, &waiter_op, &waiter_slot));
        if spawned.is_err() {
            // No thread to wait on: wait here, so the buffers outlive the request.
            wait_and_complete(&self.device, &op, &slot);
        }
        Pending::new(slot)
    }
}

/// Waits until the request's event is signalled and records the completion. `_device` keeps
/// the handle open while the request is in flight.
fn wait_and_complete(_device: &Arc<Handle>, op: &Arc<Op>, slot: &Slot) {
    // SAFETY: the op's own event handle, open while `op` lives.
    let w = unsafe { WaitForSingleObject(op.event.0, INFINITE) };
    if w == WAIT_OBJECT_0 {
        let (status, info) = op.result().unwrap_or((NtStatus::STATUS_UNSUCCESSFUL, 0));
        slot.complete(Completed {
            status,
            info,
            output: op.take_output(),
        });
    } else {
        // The wait itself failed: the kernel may still write to the buffers, so they are never
        // freed (leaked on purpose) and not touched.
        std::mem::forget(op.clone());
        slot.complete(Completed {
            status: NtStatus::STATUS_UNSUCCESSFUL,
            info: 0,
            output: Vec::new(),
        });
    }
}
