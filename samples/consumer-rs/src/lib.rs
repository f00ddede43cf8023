//! `wskcons_rs.sys`: a kernel consumer of wsksock (see `README.md`).
//!
//! It opens `\Device\WskSock` ([`Device::open`]) and sends only IRP_MJ_INTERNAL_DEVICE_CONTROL
//! requests built with `IoBuildDeviceIoControlRequest` ([`Device::call`]), then runs one
//! scenario from `DriverEntry` and leaves its results in its service key.
//!
//! Buffered requests use one buffer as input and output: Windows copies the reply from its
//! system buffer to the output buffer, while Wine hands the input buffer itself to the driver as
//! the system buffer; one buffer large enough for both works on both.
#![no_std]

mod nt;

use core::ffi::c_void;
use core::ptr::null_mut;
use nt::*;
use wsksock_abi::msg::{
    AddressedRequest, ClientInfoReply, ClientInfoRequest, CloseMode, CloseReply, CloseRequest, DataRequest,
    HandleReply, Message, SocketKind, SocketRequest, ABI_VERSION, CLOSE_FLAG_WAIT_FOR_TEARDOWN,
};
use wsksock_abi::{Handle, Op, SockAddr};

/// The MSVC toolchain's marker that floating point is used (core references it); no CRT here.
#[no_mangle]
pub static _fltused: i32 = 0;

const TAG: u32 = u32::from_le_bytes(*b"WCnr");
const RECV_CHUNK: usize = 4096;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: 1. no preconditions; a panic in a driver is a bugcheck ('WCNR').
    unsafe { KeBugCheckEx(0x5743_4E52, 0, 0, 0, 0) }
}

/// An ASCII string as UTF-16 at compile time.
const fn wide<const N: usize>(s: &str) -> [u16; N] {
    let b = s.as_bytes();
    assert!(b.len() == N);
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i] as u16;
        i += 1;
    }
    out
}

static DEVICE_NAME: [u16; 15] = wide("\\Device\\WskSock");
static PEER_PORT: [u16; 8] = wide("PeerPort");
static SEND_BYTES: [u16; 9] = wide("SendBytes");
static EXPECT_BYTES: [u16; 11] = wide("ExpectBytes");
static RESULT: [u16; 6] = wide("Result");
static FAILED_STEP: [u16; 10] = wide("FailedStep");
static RECEIVED: [u16; 8] = wide("Received");
static INTACT: [u16; 6] = wide("Intact");
static OPENED: [u16; 6] = wide("Opened");

fn ustr(s: &'static [u16]) -> UNICODE_STRING {
    // Names here are a few characters long.
    #[allow(clippy::cast_possible_truncation)]
    let bytes = (s.len() * 2) as u16;
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

fn attributes(name: *mut UNICODE_STRING) -> OBJECT_ATTRIBUTES {
    OBJECT_ATTRIBUTES {
        Length: 48,
        RootDirectory: null_mut(),
        ObjectName: name,
        Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: null_mut(),
        SecurityQualityOfService: null_mut(),
    }
}

/// An open client of wsksock: its file object (the client) and device.
struct Device {
    file: *mut FILE_OBJECT,
    device: *mut DEVICE_OBJECT,
    /// Only when opened through ZwCreateFile (Wine).
    handle: HANDLE,
    /// 1: IoGetDeviceObjectPointer; 2: ZwCreateFile + ObReferenceObjectByHandle.
    opened: u32,
}

impl Device {
    /// Opens `\Device\WskSock`. On Windows, `IoGetDeviceObjectPointer` does it all. On Wine 8 it
    /// is a stub (success, a dummy device, *no* file object), so the fallback does what it does
    /// inside Windows — ZwCreateFile, then the file object from the handle — with three Wine
    /// details: ZwCreateFile returns before the driver saw IRP_MJ_CREATE, so one synchronous
    /// request through the handle (CLIENT_INFO) comes first; the file object is found only when
    /// both drivers share a winedevice.exe (same service group); `*IoFileObjectType` is not the
    /// file type there (one indirection less) and IoGetRelatedDeviceObject is a stub, so no type
    /// is passed (the object's Type is checked) and the device is the file object's.
    fn open() -> Result<Device, NTSTATUS> {
        let mut name = ustr(&DEVICE_NAME);
        let mut d = Device {
            file: null_mut(),
            device: null_mut(),
            handle: null_mut(),
            opened: 0,
        };
        // SAFETY: 1. a valid name; out-pointers to locals; PASSIVE_LEVEL (DriverEntry).
        let st = unsafe {
            IoGetDeviceObjectPointer(
                &name,
                FILE_READ_DATA | FILE_WRITE_DATA,
                &mut d.file,
                &mut d.device,
            )
        };
        if nt_success(st) && !d.file.is_null() {
            d.opened = 1;
            return Ok(d);
        }
        d.file = null_mut();
        let oa = attributes(&mut name);
        let mut iosb = IO_STATUS_BLOCK {
            Status: 0,
            Information: 0,
        };
        // SAFETY: 1. valid attributes and out-pointers; a kernel handle, closed in Drop.
        let st = unsafe {
            ZwCreateFile(
                &mut d.handle,
                SYNCHRONIZE | FILE_READ_DATA | FILE_WRITE_DATA,
                &oa,
                &mut iosb,
                core::ptr::null(),
                0,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                FILE_OPEN,
                FILE_SYNCHRONOUS_IO_NONALERT,
                null_mut(),
                0,
            )
        };
        if !nt_success(st) {
            return Err(st);
        }
        let mut buf = Buf::with(&ClientInfoRequest::new_zeroed_with_header());
        // SAFETY: 1. our synchronous handle; the buffer outlives the call (it waits).
        let st = unsafe {
            ZwDeviceIoControlFile(
                d.handle,
                null_mut(),
                null_mut(),
                null_mut(),
                &mut iosb,
                Op::ClientInfo.code(),
                buf.ptr(),
                size_u32::<ClientInfoRequest>(),
                buf.ptr(),
                size_u32::<ClientInfoReply>(),
            )
        };
        if !nt_success(st) {
            return Err(st);
        }
        let mut obj: *mut c_void = null_mut();
        // SAFETY: 1. our kernel handle; KernelMode; no type (see above), checked below.
        let st =
            unsafe { ObReferenceObjectByHandle(d.handle, 0, null_mut(), KERNEL_MODE, &mut obj, null_mut()) };
        if !nt_success(st) {
            return Err(st);
        }
        let file = obj.cast::<FILE_OBJECT>();
        // Referenced: dropped by `Drop` whatever it turns out to be.
        d.file = file;
        // SAFETY: 1. the object behind the handle our ZwCreateFile just returned, which opens files
        // only: a file object, kept alive by the reference taken above; 2. `Type` is the first
        // field (a CSHORT) of every I/O object's body, so it is read before anything is assumed.
        let ty = unsafe { file.cast::<i16>().read() };
        if ty != IO_TYPE_FILE {
            return Err(STATUS_OBJECT_TYPE_MISMATCH);
        }
        let field = file
            .cast::<u8>()
            .wrapping_add(core::mem::offset_of!(FILE_OBJECT, DeviceObject))
            .cast::<*mut DEVICE_OBJECT>();
        // SAFETY: 1. a file object (its type, checked above), referenced; `DeviceObject` is its
        // pointer-sized, aligned field at this offset (the x64 layout checked in `nt.rs`).
        let device = unsafe { field.read() };
        if device.is_null() {
            return Err(STATUS_NO_SUCH_DEVICE);
        }
        d.device = device;
        d.opened = 2;
        Ok(d)
    }

    /// One internal device-control request, waited for: (status, Information).
    fn call(
        &self,
        code: u32,
        input: *mut c_void,
        in_len: u32,
        output: *mut c_void,
        out_len: u32,
    ) -> (NTSTATUS, usize) {
        let mut done = KEVENT::zeroed();
        let mut iosb = IO_STATUS_BLOCK {
            Status: 0,
            Information: 0,
        };
        // SAFETY: 1. a local event, initialized before use and waited on before it goes.
        unsafe { KeInitializeEvent(&mut done, NOTIFICATION_EVENT, FALSE) };
        // SAFETY: 1. our device; the buffers outlive the request (we wait for it below).
        let irp = unsafe {
            IoBuildDeviceIoControlRequest(
                code,
                self.device,
                input,
                in_len,
                output,
                out_len,
                TRUE,
                &mut done,
                &mut iosb,
            )
        };
        if irp.is_null() {
            return (STATUS_INSUFFICIENT_RESOURCES, 0);
        }
        // SAFETY: 1. a fresh IRP not yet sent: the client is the file object.
        unsafe { set_next_file_object(irp, self.file) };
        // SAFETY: 1. the IRP goes to the device it was built for; it is not ours afterwards.
        let mut st = unsafe { IofCallDriver(self.device, irp) };
        if st == STATUS_PENDING {
            // SAFETY: 1. the event the IRP's completion sets; no timeout.
            unsafe {
                KeWaitForSingleObject(
                    (&raw mut done).cast(),
                    EXECUTIVE,
                    KERNEL_MODE,
                    FALSE,
                    core::ptr::null(),
                )
            };
            st = iosb.Status;
        }
        (st, if nt_success(st) { iosb.Information } else { 0 })
    }

    /// A buffered request whose reply (`R`) lands in the same buffer.
    fn buffered<Q: Message, R: Message>(&self, op: Op, req: &Q) -> Result<R, NTSTATUS> {
        let mut buf = Buf::with(req);
        let (st, _) = self.call(op.code(), buf.ptr(), size_u32::<Q>(), buf.ptr(), size_u32::<R>());
        if !nt_success(st) {
            return Err(st);
        }
        R::read_from_prefix(&buf.0)
            .map(|(r, _)| r)
            .map_err(|_| STATUS_UNSUCCESSFUL)
    }

    /// A buffered request without a reply.
    fn simple<Q: Message>(&self, op: Op, req: &Q) -> Result<(), NTSTATUS> {
        let mut buf = Buf::with(req);
        let (st, _) = self.call(op.code(), buf.ptr(), size_u32::<Q>(), null_mut(), 0);
        if nt_success(st) {
            Ok(())
        } else {
            Err(st)
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if !self.file.is_null() {
            // SAFETY: 1. the reference IoGetDeviceObjectPointer / ObReferenceObjectByHandle took.
            unsafe { ObfDereferenceObject(self.file.cast()) };
        }
        if !self.handle.is_null() {
            // SAFETY: 1. our kernel handle, closed once.
            unsafe { ZwClose(self.handle) };
        }
    }
}

/// A buffer for buffered requests, large enough for any request or reply used here.
#[repr(C, align(8))]
struct Buf([u8; 128]);

impl Buf {
    fn with<M: Message>(m: &M) -> Buf {
        let mut b = Buf([0; 128]);
        let bytes = m.as_bytes();
        b.0[..bytes.len()].copy_from_slice(bytes);
        b
    }

    fn ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr().cast()
    }
}

fn size_u32<M: Message>() -> u32 {
    M::SIZE
}

/// A non-paged pool buffer, zeroed.
///
/// # Invariants
/// `p` is our allocation of `len` bytes, initialized (zeroed by `new`), freed by `Drop`.
struct Pool {
    p: *mut u8,
    len: usize,
}

impl Pool {
    fn new(len: usize) -> Option<Pool> {
        // SAFETY: 1. no preconditions at PASSIVE_LEVEL.
        let p = unsafe { ExAllocatePoolWithTag(NON_PAGED_POOL, len, TAG) }.cast::<u8>();
        if p.is_null() {
            return None;
        }
        // SAFETY: 1. our fresh allocation of `len` bytes: writable, nobody else sees it yet. Pool
        // memory is uninitialized: zeroed before any `&[u8]` is made over it.
        unsafe { p.write_bytes(0, len) };
        // INVARIANT: allocated and initialized.
        Some(Pool { p, len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: 1. our allocation of `len` initialized bytes (invariant); 2. exclusively
        // borrowed through `&mut self` (the driver only writes to it during a request we wait for).
        unsafe { core::slice::from_raw_parts_mut(self.p, self.len) }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: 1. our allocation, freed once.
        unsafe { ExFreePoolWithTag(self.p.cast(), TAG) };
    }
}

// The pattern's bytes are < 251.
#[allow(clippy::cast_possible_truncation)]
fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

#[derive(Default)]
struct Outcome {
    step: u32,
    received: usize,
    intact: bool,
}

fn data_request(h: Handle) -> DataRequest {
    let mut r = DataRequest::new_zeroed_with_header();
    r.handle = h;
    r
}

/// The scenario; `Err((step, status))` at the first failure.
fn scenario(dev: &Device, port: u16, send: usize, expect: usize, out: &mut Outcome) -> Result<(), NTSTATUS> {
    out.intact = true;
    out.step = 2;
    let info: ClientInfoReply = dev.buffered(Op::ClientInfo, &ClientInfoRequest::new_zeroed_with_header())?;
    out.step = 3;
    if u32::from(ABI_VERSION) != info.abi_version {
        return Err(STATUS_REVISION_MISMATCH);
    }
    out.step = 4;
    let mut sreq = SocketRequest::new_zeroed_with_header();
    sreq.family = wsksock_abi::addr::AF_INET;
    sreq.kind = SocketKind::Stream as u16;
    let h = dev.buffered::<_, HandleReply>(Op::Socket, &sreq)?.handle;
    let r = connected_scenario(dev, h, port, send, expect, out);
    let mut close = CloseRequest::new_zeroed_with_header();
    close.handle = h;
    close.mode = CloseMode::Graceful as u32;
    close.flags = CLOSE_FLAG_WAIT_FOR_TEARDOWN;
    let closed = dev.buffered::<_, CloseReply>(Op::Close, &close);
    r?;
    out.step = 14;
    closed.map(|_| ())
}

fn connected_scenario(
    dev: &Device,
    h: Handle,
    port: u16,
    send: usize,
    expect: usize,
    out: &mut Outcome,
) -> Result<(), NTSTATUS> {
    out.step = 5;
    let mut a = AddressedRequest::new_zeroed_with_header();
    a.handle = h;
    a.addr = SockAddr::from(core::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    dev.simple(Op::Bind, &a)?;
    out.step = 6;
    a.addr = SockAddr::from(core::net::SocketAddr::from(([127, 0, 0, 1], port)));
    dev.simple(Op::Connect, &a)?;

    let mut pool = Pool::new(send.max(RECV_CHUNK)).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
    for (i, b) in pool.bytes()[..send].iter_mut().enumerate() {
        *b = pattern_byte(i);
    }
    // SEND: the first half through direct I/O (the output buffer is the data)...
    let half = send / 2;
    let mut d = data_request(h);
    out.step = 7;
    let (st, n) = dev.call(
        Op::Send.code(),
        (&raw mut d).cast(),
        size_u32::<DataRequest>(),
        pool.p.cast(),
        u32::try_from(half).map_err(|_| STATUS_INVALID_PARAMETER)?,
    );
    check(st, n == half)?;
    // ... the rest through SEND_KERNEL: a non-paged kernel buffer named in the request.
    out.step = 9;
    d.buffer = pool.p as u64 + half as u64;
    d.length = (send - half) as u64;
    let (st, n) = dev.call(
        Op::SendKernel.code(),
        (&raw mut d).cast(),
        size_u32::<DataRequest>(),
        null_mut(),
        0,
    );
    check(st, n == send - half)?;

    // RECEIVE until the peer's FIN.
    let mut d = data_request(h);
    loop {
        out.step = 11;
        let (st, n) = dev.call(
            Op::Receive.code(),
            (&raw mut d).cast(),
            size_u32::<DataRequest>(),
            pool.p.cast(),
            RECV_CHUNK as u32,
        );
        check(st, true)?;
        if n == 0 {
            break;
        }
        let base = out.received;
        if pool.bytes()[..n]
            .iter()
            .enumerate()
            .any(|(i, b)| *b != pattern_byte(base + i))
        {
            out.intact = false;
        }
        out.received += n;
        out.step = 12;
        if out.received > expect {
            return Err(STATUS_BUFFER_OVERFLOW);
        }
    }
    out.step = 13;
    check(STATUS_SUCCESS, out.received == expect)
}

fn check(st: NTSTATUS, ok: bool) -> Result<(), NTSTATUS> {
    if !nt_success(st) {
        Err(st)
    } else if ok {
        Ok(())
    } else {
        Err(STATUS_UNSUCCESSFUL)
    }
}

fn get_dword(key: HANDLE, name: &'static [u16], default: u32) -> u32 {
    let n = ustr(name);
    // KEY_VALUE_PARTIAL_INFORMATION: TitleIndex, Type, DataLength, Data.
    let mut raw = [0u32; 4];
    let mut len = 0;
    // SAFETY: 1. our open key; the buffer is 16 bytes, room for a DWORD value.
    let st = unsafe {
        ZwQueryValueKey(
            key,
            &n,
            KEY_VALUE_PARTIAL_INFORMATION,
            raw.as_mut_ptr().cast(),
            16,
            &mut len,
        )
    };
    if nt_success(st) && raw[1] == REG_DWORD && raw[2] == 4 {
        raw[3]
    } else {
        default
    }
}

fn set_dword(key: HANDLE, name: &'static [u16], value: u32) {
    let n = ustr(name);
    // SAFETY: 1. our open key; a 4-byte value.
    unsafe { ZwSetValueKey(key, &n, 0, REG_DWORD, (&raw const value).cast(), 4) };
}

unsafe extern "system" fn unload(_driver: *mut DRIVER_OBJECT) {
    // SAFETY: 1. a NUL-terminated format without arguments.
    unsafe { DbgPrint(c"wskcons_rs: unloaded\n".as_ptr()) };
}

/// `DriverEntry`: runs the scenario, records the outcome, stays loaded until `sc stop`.
///
/// # Safety
/// Called once by the I/O manager at PASSIVE_LEVEL with its driver object and service key.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    registry: *mut UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: 1. the driver object of DriverEntry, ours to fill in.
    unsafe { (*driver).DriverUnload = Some(unload) };
    let oa = attributes(registry);
    let mut key: HANDLE = null_mut();
    // SAFETY: 1. our service key's name from the I/O manager; a kernel handle closed below.
    if !nt_success(unsafe { ZwOpenKey(&mut key, KEY_READ | KEY_WRITE, &oa) }) {
        return STATUS_UNSUCCESSFUL;
    }
    let port = get_dword(key, &PEER_PORT, 0);
    let send = get_dword(key, &SEND_BYTES, 64 * 1024) as usize;
    let expect = get_dword(key, &EXPECT_BYTES, 0) as usize;
    let mut out = Outcome::default();
    let mut opened = 0;
    let result = match (u16::try_from(port), send >= 2) {
        (Ok(p), true) if p != 0 => {
            out.step = 1;
            Device::open().and_then(|dev| {
                opened = dev.opened;
                scenario(&dev, p, send, expect, &mut out)
            })
        }
        _ => Err(STATUS_INVALID_PARAMETER),
    };
    let status = result.err().unwrap_or(STATUS_SUCCESS);
    // SAFETY: 1. a NUL-terminated format whose conversions match the arguments.
    unsafe {
        DbgPrint(
            c"wskcons_rs: opened %u, result 0x%08x at step %u, received %u (intact %u)\n".as_ptr(),
            opened,
            status,
            out.step,
            out.received as u32,
            u32::from(out.intact),
        )
    };
    set_dword(key, &RESULT, status.cast_unsigned());
    set_dword(key, &FAILED_STEP, if nt_success(status) { 0 } else { out.step });
    set_dword(key, &RECEIVED, u32::try_from(out.received).unwrap_or(u32::MAX));
    set_dword(key, &INTACT, u32::from(out.intact));
    set_dword(key, &OPENED, opened);
    // SAFETY: 1. the key opened above, closed once.
    unsafe { ZwClose(key) };
    STATUS_SUCCESS
}
