//! `impl wsksock_core::Provider` over Winsock Kernel.
//!
//! Every operation is one WSK call with its own IRP ([`crate::irp::wsk::start`]); its completion
//! is reported to the engine exactly once, synchronously (allocation failure, wrong socket kind,
//! Wine's synchronous STATUS_NOT_IMPLEMENTED) or from the completion routine.
//!
//! Memory: an operation allocates what it needs (IRP, context, payload, the new socket's events
//! and teardown calls) before its WSK call, fallibly — failing, it completes at once with
//! STATUS_INSUFFICIENT_RESOURCES and calls nothing. Its completion allocates nothing (a resolve's
//! conversion work item is allocated with it). A socket's teardown calls were allocated with the
//! socket (`super::teardown`).
//!
//! IRQL: every WSK call here is allowed at IRQL <= DISPATCH_LEVEL except `WskGetAddressInfo`
//! (PASSIVE_LEVEL): [`WskProvider::resolve`] calls it in place only when dispatched at
//! PASSIVE_LEVEL, from a work item when dispatched at APC or DISPATCH_LEVEL (a kernel caller, or
//! KMDF presenting there), and refuses above ([`crate::logic::irql::resolve_route`]); its result
//! is converted and freed (`WskFreeAddressInfo`, PASSIVE_LEVEL) in a work item allocated before
//! the call, so nothing can fail once the list exists.

use super::addrinfo::AddrInfoList;
use super::device::OurDevice;
use super::events::{Events, CONNECTION_DISPATCH};
use super::registration::Registration;
use super::socket::ContextRef;
use super::socket::{Dispatch, WskKind, WskSock};
use super::teardown::{Kits, SendPtr};
use crate::irp::wsk::OpRef;
use crate::kernel::mdl::Mdl;
use crate::kernel::platform;
use crate::kernel::print::kprint;
use crate::kernel::spin::RawSpinLock;
use crate::kernel::timer::Timer;
use crate::kernel::workitem::{Job, WorkItem};
use crate::logic::irql::{resolve_route, ResolveRoute};
use crate::logic::names::{self, NameError};
use crate::logic::{options, sockaddr};
use crate::status::{abi, NtStatus};
use crate::sys::imports::IoGetCurrentProcess;
use crate::sys::{
    WskGetOption, WskSetOption, ADDRINFOEXW, AF_INET, AF_INET6, AF_UNSPEC, DEVICE_OBJECT, IPPROTO_TCP,
    IPPROTO_UDP, IRP, NPI_WSK_INTERFACE_ID, NS_ALL, NTSTATUS, PFN_WSK_SEND, SOCKADDR, SOCKADDR_STORAGE,
    SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_WSK_EVENT_CALLBACK, UNICODE_STRING, WSK_BUF, WSK_CLIENT,
    WSK_EVENT_CALLBACK_CONTROL, WSK_EVENT_DISCONNECT, WSK_FLAG_ABORTIVE, WSK_FLAG_CONNECTION_SOCKET,
    WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_PROVIDER_CONNECTION_DISPATCH,
    WSK_PROVIDER_DISPATCH, WSK_SOCKET,
};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::NonNull;
use wsksock_core::{
    AddrKind, Completion, Family, OpOutput, OpValue, Owner, Provider, SockOpt, SocketKind, SocketParams,
    TimerCallback,
};
use zerocopy::FromZeros;

/// A data buffer handed to WSK: an MDL (no copy), or nothing for an empty buffer.
pub struct DataBuffer {
    mdl: Option<Mdl>,
}

impl DataBuffer {
    /// A buffer described by an MDL.
    pub fn new(mdl: Mdl) -> DataBuffer {
        DataBuffer { mdl: Some(mdl) }
    }

    /// An empty buffer (the engine refuses it before any WSK call).
    pub fn empty() -> DataBuffer {
        DataBuffer { mdl: None }
    }

    fn wsk_buf(&self) -> WSK_BUF {
        match &self.mdl {
            Some(m) => WSK_BUF {
                Mdl: m.as_ptr(),
                Offset: 0,
                Length: m.len(),
            },
            None => WSK_BUF {
                Mdl: core::ptr::null_mut(),
                Offset: 0,
                Length: 0,
            },
        }
    }
}

impl wsksock_core::Buffer for DataBuffer {
    fn len(&self) -> usize {
        self.mdl.as_ref().map_or(0, Mdl::len)
    }
}

/// The WSK provider: the registration, a device object of the driver (for work items), and the
/// System process (the `OwningProcess` of kernel clients' sockets).
pub struct WskProvider {
    reg: Arc<Registration>,
    device: OurDevice,
    system_process: *mut c_void,
}

// SAFETY: 1. the registration and the device are Sync; 2. the System process object lives as long
// as the system and is only passed to WskSocket.
unsafe impl Send for WskProvider {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for WskProvider {}

impl WskProvider {
    /// A provider over a registration.
    ///
    /// # Safety
    /// `device` is a device object of this driver that outlives the provider and every
    /// operation and work item it starts; called in `DriverEntry`, which runs in the System
    /// process (whose object it records for kernel clients' sockets).
    pub unsafe fn new(reg: Arc<Registration>, device: NonNull<DEVICE_OBJECT>) -> WskProvider {
        // SAFETY: 1. no preconditions; in DriverEntry this is the System process (contract).
        let system_process = unsafe { IoGetCurrentProcess() };
        WskProvider {
            reg,
            // SAFETY: 1. the device outlives the provider and what it starts (caller contract).
            device: unsafe { OurDevice::new(device) },
            system_process,
        }
    }

    /// `OwningProcess` for a new socket: the user-mode client's process, or the System process.
    fn owning_process(&self, owner: Owner) -> *mut c_void {
        match owner {
            Owner::System => self.system_process,
            // The front end's `process()`: the requesting thread's PEPROCESS, alive while the
            // SOCKET request is pending (it is until this call's completion).
            Owner::Process(p) => usize::try_from(p).map_or(core::ptr::null_mut(), |a| a as *mut c_void),
        }
    }

    fn client(&self) -> (*mut WSK_CLIENT, &'static WSK_PROVIDER_DISPATCH) {
        self.reg.npi()
    }
}

fn fail(done: Completion<WskProvider>, st: NtStatus) -> Option<OpRef> {
    done.complete(OpOutput::status(st));
    None
}

fn status_only(
    done: Completion<WskProvider>,
) -> impl FnOnce(SOCKADDR_STORAGE, NTSTATUS, usize) + Send + 'static {
    move |_p, st, _info| done.complete(OpOutput::status(abi(st)))
}

/// Payload of data operations: the `WSK_BUF`, the buffer it describes, and an address slot.
struct DataPayload {
    wsk_buf: WSK_BUF,
    buffer: DataBuffer,
    addr: SOCKADDR_STORAGE,
}

// SAFETY: 1. the raw MDL pointer inside `wsk_buf` describes `buffer`, which is Send.
unsafe impl Send for DataPayload {}

fn data_payload(buffer: DataBuffer, addr: Option<&SocketAddr>) -> DataPayload {
    DataPayload {
        wsk_buf: buffer.wsk_buf(),
        buffer,
        addr: addr.map_or_else(SOCKADDR_STORAGE::new_zeroed, sockaddr::to_storage),
    }
}

/// Payload of accept: the two address slots WSK fills.
struct AcceptPayload {
    local: SOCKADDR_STORAGE,
    remote: SOCKADDR_STORAGE,
}

/// Payload of resolve: the name, the hints and the result slot.
struct ResolvePayload {
    name: Vec<u16>,
    ustr: UNICODE_STRING,
    hints: ADDRINFOEXW,
    result: *mut ADDRINFOEXW,
}

// SAFETY: 1. `ustr.Buffer` points into `name`, owned by the payload; `result` is only written by
// WSK, and read once the call completed, to be owned by an `AddrInfoList`.
unsafe impl Send for ResolvePayload {}

/// What a resolve needs after the dispatch returned: the registration (whose NPI it calls), our
/// device, and the work item the result is converted and freed in (allocated with the request).
struct ResolveJob {
    reg: Arc<Registration>,
    device: OurDevice,
    convert: WorkItem<Convert>,
}

/// Reads a resolve's result at PASSIVE_LEVEL, frees it, completes the engine's operation.
struct Convert {
    /// Keeps the NPI captured until the list is freed.
    reg: Arc<Registration>,
    port: u16,
    /// Filled in when the call completed.
    list: Option<AddrInfoList>,
    done: Option<Completion<WskProvider>>,
}

impl Job for Convert {
    fn run(self) {
        let Some(done) = self.done else { return };
        let addrs = self
            .list
            .as_ref()
            .map_or_else(|| Ok(Vec::new()), |l| l.addresses(self.port));
        drop(self.list);
        drop(self.reg);
        match addrs {
            Ok(a) => done.complete(OpOutput::value(OpValue::Addresses(a))),
            // No memory for the addresses: the request fails, nothing else is lost.
            Err(()) => done.complete(OpOutput::status(NtStatus::STATUS_INSUFFICIENT_RESOURCES)),
        }
    }
}

/// A RESOLVE sent above PASSIVE_LEVEL: its call, made from a work item.
struct StartResolve {
    job: ResolveJob,
    payload: ResolvePayload,
    done: Completion<WskProvider>,
}

impl Job for StartResolve {
    fn run(self) {
        drop(start_resolve(self.job, self.payload, self.done));
    }
}

fn as_sockaddr(st: *mut SOCKADDR_STORAGE) -> *mut SOCKADDR {
    st.cast()
}

/// Enables `WSK_EVENT_DISCONNECT` on a connection socket created or accepted with an
/// [`Events`] context (`WskControlSocket`, `SO_WSK_EVENT_CALLBACK`, no IRP: it completes
/// inline) and records whether that worked — Wine's stub does not.
fn enable_disconnect_event(sock: &WskSock) {
    let Some(events) = sock.events() else { return };
    let ctl = sock.dispatch().basic().WskControlSocket;
    let mut control = WSK_EVENT_CALLBACK_CONTROL {
        NpiId: &raw const NPI_WSK_INTERFACE_ID,
        EventMask: WSK_EVENT_DISCONNECT,
    };
    // SAFETY: 1. live socket, created with a context and `CONNECTION_DISPATCH`; 2. the control
    // block lives across this call, which completes inline (no IRP for SO_WSK_EVENT_CALLBACK).
    let st = unsafe {
        ctl(
            sock.as_ptr(),
            WskSetOption,
            SO_WSK_EVENT_CALLBACK,
            SOL_SOCKET,
            core::mem::size_of::<WSK_EVENT_CALLBACK_CONTROL>(),
            (&raw mut control).cast(),
            0,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    };
    if st < 0 {
        kprint!(
            "disconnect event not available ({:#x}): WAIT_PEER_CLOSE unsupported",
            st
        );
    }
    events.set_enabled(st >= 0);
}

/// A connection socket's [`Events`] and WSK's `SocketContext` reference to them.
type EventsAndContext = (Arc<Events>, ContextRef);

/// What a new socket needs before WSK makes it: a connection socket's [`Events`] (with the
/// `SocketContext` reference given to WSK) and the socket's teardown calls. `None` for want of
/// memory (nothing left allocated).
fn new_socket_kit(
    device: OurDevice,
    connection: bool,
    accepted: bool,
) -> Option<(Option<EventsAndContext>, Kits)> {
    let events = if connection {
        Some(Events::new(accepted)?)
    } else {
        None
    };
    let kits = Kits::allocate(device, events.as_ref())?;
    let events = events.map(|e| {
        let ctx = Events::into_context(&e);
        (e, ContextRef::new(ctx))
    });
    Some((events, kits))
}

/// The `SocketContext` and client dispatch table of a new socket's WSK call.
fn context_of(events: Option<&EventsAndContext>) -> (*mut c_void, *const c_void) {
    match events {
        Some((_, ctx)) => (ctx.as_ptr(), (&raw const CONNECTION_DISPATCH).cast::<c_void>()),
        None => (core::ptr::null_mut(), core::ptr::null()),
    }
}

/// A send's or receive's completion: the connection may have ended for the waits.
fn observe(events: Option<&Arc<Events>>, st: NTSTATUS) {
    if let Some(e) = events {
        e.observe(abi(st));
    }
}

impl WskProvider {
    fn simple_call(
        device: OurDevice,
        addr: Option<&SocketAddr>,
        done: Completion<WskProvider>,
        call: impl FnOnce(*mut SOCKADDR, *mut IRP) -> NTSTATUS,
    ) -> Option<OpRef> {
        let payload = addr.map_or_else(SOCKADDR_STORAGE::new_zeroed, sockaddr::to_storage);
        device.start(payload, |p, irp| call(as_sockaddr(p), irp), status_only(done))
    }

    fn data_call(
        device: OurDevice,
        buffer: DataBuffer,
        addr: Option<&SocketAddr>,
        report_addr: bool,
        events: Option<Arc<Events>>,
        done: Completion<WskProvider>,
        call: impl FnOnce(*mut WSK_BUF, *mut SOCKADDR, *mut IRP) -> NTSTATUS,
    ) -> Option<OpRef> {
        let payload = data_payload(buffer, addr);
        device.start(
            payload,
            |p, irp| {
                // SAFETY: 1. `p` is the payload's final heap address (`op::start` contract).
                let payload = unsafe { &mut *p };
                call(&raw mut payload.wsk_buf, as_sockaddr(&raw mut payload.addr), irp)
            },
            move |p: DataPayload, st, info| {
                observe(events.as_ref(), st);
                let value = if report_addr && st >= 0 {
                    sockaddr::from_storage(&p.addr, core::mem::size_of::<SOCKADDR_STORAGE>())
                        .map_or(OpValue::None, OpValue::Address)
                } else {
                    OpValue::None
                };
                done.complete(OpOutput {
                    status: abi(st),
                    bytes: info,
                    buffer: Some(p.buffer),
                    value,
                });
            },
        )
    }

    /// WskSend or WskReceive (`pick` chooses the routine and its WSK flags) on a connection
    /// socket; any other kind: STATUS_NOT_SUPPORTED.
    fn stream_call(
        &self,
        s: &WskSock,
        buf: DataBuffer,
        done: Completion<WskProvider>,
        pick: impl FnOnce(&WSK_PROVIDER_CONNECTION_DISPATCH) -> (PFN_WSK_SEND, u32),
    ) -> Option<OpRef> {
        let Dispatch::Connection(d) = s.dispatch() else {
            done.complete(OpOutput::data(NtStatus::STATUS_NOT_SUPPORTED, 0, Some(buf)));
            return None;
        };
        let ((call, wflags), sock) = (pick(d), s.as_ptr());
        // SAFETY: 1. live connection socket; WSK_BUF and its MDL live in the payload until completion.
        Self::data_call(
            self.device,
            buf,
            None,
            false,
            s.events().cloned(),
            done,
            |wb, _, irp| unsafe { call(sock, wb, wflags, irp) },
        )
    }
}

impl Provider for WskProvider {
    type Socket = WskSock;
    type Buffer = DataBuffer;
    type OpRef = OpRef;
    type TimerRef = Timer;
    type RawLock = RawSpinLock;

    fn new_raw_lock(&self) -> RawSpinLock {
        <RawSpinLock as lock_api::RawMutex>::INIT
    }

    fn create_socket(&self, params: SocketParams, done: Completion<Self>) -> Option<OpRef> {
        let family = match params.family {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        };
        let (ty, proto, flags, kind) = match params.kind {
            SocketKind::Stream => (
                SOCK_STREAM,
                IPPROTO_TCP,
                WSK_FLAG_CONNECTION_SOCKET,
                WskKind::Connection,
            ),
            SocketKind::Listen => (SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, WskKind::Listen),
            SocketKind::Datagram => (
                SOCK_DGRAM,
                IPPROTO_UDP,
                WSK_FLAG_DATAGRAM_SOCKET,
                WskKind::Datagram,
            ),
        };
        let (client, dispatch) = self.client();
        let owner = self.owning_process(params.owner);
        // Connection sockets get the disconnect event (module `events`); every socket its
        // teardown's calls — all allocated before WSK makes the socket.
        let Some((events, kits)) = new_socket_kit(self.device, kind == WskKind::Connection, false) else {
            return fail(done, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        };
        let (ctx, table) = context_of(events.as_ref());
        self.device.start(
            (),
            |_, irp| {
                // SAFETY: 1. captured NPI; 2. the context (if any) holds a reference WSK keeps
                // until the close completed, the dispatch table is static; 3. `owner` is the
                // System process or the requesting process, alive while the SOCKET request is
                // pending; no owning thread, default security; 4. `irp` is ours until it
                // completes.
                unsafe {
                    (dispatch.WskSocket)(
                        client,
                        family,
                        ty,
                        proto,
                        flags,
                        ctx,
                        table,
                        owner,
                        core::ptr::null_mut(),
                        core::ptr::null_mut(),
                        irp,
                    )
                }
            },
            move |(), st, info| {
                let sock = NonNull::new(info as *mut WSK_SOCKET);
                match (st >= 0, sock) {
                    (true, Some(ptr)) => {
                        // SAFETY: 1. WSK returned a new socket of the category we asked for,
                        // created with this context.
                        let sock = unsafe { WskSock::new(ptr, kind, events, kits) };
                        enable_disconnect_event(&sock);
                        done.complete(OpOutput::value(OpValue::Socket(sock)));
                    }
                    (ok, _) => {
                        if let Some((_, ctx)) = events {
                            // SAFETY: 1. no socket was created: WSK will never use the context.
                            unsafe { ctx.release() };
                        }
                        let st = if ok {
                            NtStatus::STATUS_UNSUCCESSFUL
                        } else {
                            abi(st)
                        };
                        done.complete(OpOutput::status(st));
                    }
                }
            },
        )
    }

    fn bind(&self, s: &WskSock, local: SocketAddr, done: Completion<Self>) -> Option<OpRef> {
        let bind = match s.dispatch() {
            Dispatch::Listen(d) => d.WskBind,
            Dispatch::Connection(d) => d.WskBind,
            Dispatch::Datagram(d) => d.WskBind,
        };
        let sock = s.as_ptr();
        // SAFETY: 1. live socket (engine contract), address kept in the payload until completion.
        Self::simple_call(self.device, Some(&local), done, |sa, irp| unsafe {
            bind(sock, sa, 0, irp)
        })
    }

    fn listen(&self, s: &WskSock, _backlog: u32, done: Completion<Self>) -> Option<OpRef> {
        // A WSK listen socket listens from its bind on (see the module docs of `wsk`).
        let st = if s.kind() == WskKind::Listen {
            NtStatus::STATUS_SUCCESS
        } else {
            NtStatus::STATUS_NOT_SUPPORTED
        };
        fail(done, st)
    }

    fn accept(&self, s: &WskSock, done: Completion<Self>) -> Option<OpRef> {
        let Dispatch::Listen(d) = s.dispatch() else {
            return fail(done, NtStatus::STATUS_NOT_SUPPORTED);
        };
        let (accept, sock) = (d.WskAccept, s.as_ptr());
        let payload = AcceptPayload {
            local: SOCKADDR_STORAGE::new_zeroed(),
            remote: SOCKADDR_STORAGE::new_zeroed(),
        };
        // The connection-to-be's events and teardown calls, before WSK accepts it.
        let Some((events, kits)) = new_socket_kit(self.device, true, true) else {
            return fail(done, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        };
        let (ctx, table) = context_of(events.as_ref());
        self.device.start(
            payload,
            |p, irp| {
                // SAFETY: 1. `p` is the payload's final address (`op::start` contract).
                let payload = unsafe { &mut *p };
                let (local, remote) = (
                    as_sockaddr(&raw mut payload.local),
                    as_sockaddr(&raw mut payload.remote),
                );
                // SAFETY: 1. live listen socket; 2. both address slots live in the payload until
                // completion; 3. the accepted socket's context holds a reference WSK keeps until
                // its close completed; the dispatch table is static.
                unsafe { accept(sock, 0, ctx, table, local, remote, irp) }
            },
            move |p: AcceptPayload, st, info| {
                let Some(ptr) = NonNull::new(info as *mut WSK_SOCKET).filter(|_| st >= 0) else {
                    if let Some((_, ctx)) = events {
                        // SAFETY: 1. no socket was accepted: WSK will never use the context.
                        unsafe { ctx.release() };
                    }
                    let st = if st >= 0 {
                        NtStatus::STATUS_UNSUCCESSFUL
                    } else {
                        abi(st)
                    };
                    return done.complete(OpOutput::status(st));
                };
                // SAFETY: 1. WSK returned an accepted connection socket, now owned by the engine,
                // with this context.
                let socket = unsafe { WskSock::new(ptr, WskKind::Connection, events, kits) };
                enable_disconnect_event(&socket);
                let max = core::mem::size_of::<SOCKADDR_STORAGE>();
                let local = sockaddr::from_storage(&p.local, max).unwrap_or(sockaddr::unspecified(false));
                let remote = sockaddr::from_storage(&p.remote, max).unwrap_or(sockaddr::unspecified(false));
                done.complete(OpOutput::value(OpValue::Accepted {
                    socket,
                    local,
                    remote,
                }));
            },
        )
    }

    fn connect(&self, s: &WskSock, remote: SocketAddr, done: Completion<Self>) -> Option<OpRef> {
        let Dispatch::Connection(d) = s.dispatch() else {
            return fail(done, NtStatus::STATUS_NOT_SUPPORTED);
        };
        let (connect, sock) = (d.WskConnect, s.as_ptr());
        let events = s.events().cloned();
        if let Some(e) = &events {
            e.connecting();
        }
        let payload = sockaddr::to_storage(&remote);
        self.device.start(
            payload,
            // SAFETY: 1. live connection socket; the address lives in the payload until completion.
            |p, irp| unsafe { connect(sock, as_sockaddr(p), 0, irp) },
            move |_p: SOCKADDR_STORAGE, st, _info| {
                // A failed connect ends the connection-to-be for the waits.
                observe(events.as_ref(), st);
                done.complete(OpOutput::status(abi(st)));
            },
        )
    }

    fn send(&self, s: &WskSock, buf: DataBuffer, flags: u32, done: Completion<Self>) -> Option<OpRef> {
        self.stream_call(s, buf, done, |d| (d.WskSend, options::send_flags(flags)))
    }

    fn receive(&self, s: &WskSock, buf: DataBuffer, flags: u32, done: Completion<Self>) -> Option<OpRef> {
        self.stream_call(s, buf, done, |d| (d.WskReceive, options::receive_flags(flags)))
    }

    fn send_to(
        &self,
        s: &WskSock,
        buf: DataBuffer,
        remote: SocketAddr,
        done: Completion<Self>,
    ) -> Option<OpRef> {
        let Dispatch::Datagram(d) = s.dispatch() else {
            done.complete(OpOutput::data(NtStatus::STATUS_NOT_SUPPORTED, 0, Some(buf)));
            return None;
        };
        let (send_to, sock) = (d.WskSendTo, s.as_ptr());
        Self::data_call(
            self.device,
            buf,
            Some(&remote),
            false,
            None,
            done,
            |wb, sa, irp| {
                // SAFETY: 1. live datagram socket; buffer and address live in the payload; no control info.
                unsafe { send_to(sock, wb, 0, sa, 0, core::ptr::null_mut(), irp) }
            },
        )
    }

    fn receive_from(&self, s: &WskSock, buf: DataBuffer, done: Completion<Self>) -> Option<OpRef> {
        let Dispatch::Datagram(d) = s.dispatch() else {
            done.complete(OpOutput::data(NtStatus::STATUS_NOT_SUPPORTED, 0, Some(buf)));
            return None;
        };
        let (recv_from, sock) = (d.WskReceiveFrom, s.as_ptr());
        Self::data_call(self.device, buf, None, true, None, done, |wb, sa, irp| {
            // SAFETY: 1. live datagram socket; buffer and address slot live in the payload; no
            // control information requested.
            unsafe {
                recv_from(
                    sock,
                    wb,
                    0,
                    sa,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    irp,
                )
            }
        })
    }

    /// A SHUTDOWN: its IRP and context are allocated now (fallibly).
    fn disconnect(&self, s: &WskSock, abortive: bool, done: Completion<Self>) -> Option<OpRef> {
        let Dispatch::Connection(d) = s.dispatch() else {
            return fail(done, NtStatus::STATUS_NOT_SUPPORTED);
        };
        let (disc, sock) = (d.WskDisconnect, s.as_ptr());
        let flags = if abortive { WSK_FLAG_ABORTIVE } else { 0 };
        let events = s.events().cloned().filter(|_| abortive);
        self.device.start(
            (),
            // SAFETY: 1. live connection socket; no final data buffer.
            |_, irp| unsafe { disc(sock, core::ptr::null_mut(), flags, irp) },
            move |(), st, _info| {
                if let Some(e) = events.filter(|_| st >= 0) {
                    // Our reset ended the connection.
                    e.ended(NtStatus::STATUS_CONNECTION_ABORTED);
                }
                done.complete(OpOutput::status(abi(st)));
            },
        )
    }

    /// The teardown's disconnect: with the IRP and context allocated with the socket.
    fn teardown_disconnect(&self, s: &WskSock, abortive: bool, done: Completion<Self>) -> Option<OpRef> {
        let Dispatch::Connection(d) = s.dispatch() else {
            return fail(done, NtStatus::STATUS_NOT_SUPPORTED);
        };
        let Some(mut kit) = s.kits().take_disconnect(abortive) else {
            // The engine issues one graceful and one abortive at most: cannot happen. The
            // allocating path then (it fails as a status without memory).
            return self.disconnect(s, abortive, done);
        };
        let (disc, sock) = (d.WskDisconnect, s.as_ptr());
        let flags = if abortive { WSK_FLAG_ABORTIVE } else { 0 };
        kit.finish_mut().done = Some(done);
        self.device.start_reserved(
            kit,
            // SAFETY: 1. live connection socket; no final data buffer.
            |_, irp| unsafe { disc(sock, core::ptr::null_mut(), flags, irp) },
        )
    }

    /// `WskCloseSocket`, always from a work item (`super::teardown::CloseJob` says why), with
    /// what was allocated for it with the socket: nothing is allocated here.
    fn close(&self, s: &WskSock, done: Completion<Self>) -> Option<OpRef> {
        // Waits for the connection's end are ours, not WSK's: the close completes them.
        if let Some(e) = s.events() {
            e.close();
        }
        let Some(mut item) = s.kits().take_close() else {
            // Closed twice (the engine never does): the socket is WSK's no more.
            debug_assert!(false, "a socket closed twice");
            return fail(done, NtStatus::STATUS_INVALID_DEVICE_STATE);
        };
        let context = s.take_context();
        if let Some(job) = item.job_mut() {
            job.call = Some((SendPtr(s.as_ptr()), s.dispatch().basic().WskCloseSocket));
            if let Some(f) = job.finish_mut() {
                f.done = Some(done);
                f.context = context;
            }
        }
        item.queue();
        None
    }

    fn set_option(&self, s: &WskSock, opt: SockOpt, value: u32, done: Completion<Self>) -> Option<OpRef> {
        let (ctl, sock) = (s.dispatch().basic().WskControlSocket, s.as_ptr());
        let (level, name) = options::level_and_name(opt);
        self.device.start(
            value,
            |p, irp| {
                // SAFETY: 1. live socket; the 4-byte input lives in the payload until completion.
                unsafe {
                    ctl(
                        sock,
                        WskSetOption,
                        name,
                        level,
                        4,
                        p.cast(),
                        0,
                        core::ptr::null_mut(),
                        core::ptr::null_mut(),
                        irp,
                    )
                }
            },
            move |_p: u32, st, _info| done.complete(OpOutput::status(abi(st))),
        )
    }

    fn get_option(&self, s: &WskSock, opt: SockOpt, done: Completion<Self>) -> Option<OpRef> {
        let (ctl, sock) = (s.dispatch().basic().WskControlSocket, s.as_ptr());
        let (level, name) = options::level_and_name(opt);
        self.device.start(
            0u32,
            |p, irp| {
                // SAFETY: 1. live socket; the 4-byte output lives in the payload until completion.
                unsafe {
                    ctl(
                        sock,
                        WskGetOption,
                        name,
                        level,
                        0,
                        core::ptr::null_mut(),
                        4,
                        p.cast(),
                        core::ptr::null_mut(),
                        irp,
                    )
                }
            },
            move |p: u32, st, _info| {
                if st >= 0 {
                    done.complete(OpOutput::value(OpValue::Value(p)));
                } else {
                    done.complete(OpOutput::status(abi(st)));
                }
            },
        )
    }

    fn get_address(&self, s: &WskSock, which: AddrKind, done: Completion<Self>) -> Option<OpRef> {
        let get = match (which, s.dispatch()) {
            (AddrKind::Local, Dispatch::Listen(d)) => d.WskGetLocalAddress,
            (AddrKind::Local, Dispatch::Connection(d)) => d.WskGetLocalAddress,
            (AddrKind::Local, Dispatch::Datagram(d)) => d.WskGetLocalAddress,
            (AddrKind::Peer, Dispatch::Connection(d)) => d.WskGetRemoteAddress,
            (AddrKind::Peer, Dispatch::Listen(_) | Dispatch::Datagram(_)) => {
                return fail(done, NtStatus::STATUS_NOT_SUPPORTED);
            }
        };
        let sock = s.as_ptr();
        self.device.start(
            SOCKADDR_STORAGE::new_zeroed(),
            // SAFETY: 1. live socket; the address slot lives in the payload until completion.
            |p, irp| unsafe { get(sock, as_sockaddr(p), irp) },
            move |p: SOCKADDR_STORAGE, st, _info| {
                if st < 0 {
                    return done.complete(OpOutput::status(abi(st)));
                }
                match sockaddr::from_storage(&p, core::mem::size_of::<SOCKADDR_STORAGE>()) {
                    Some(a) => done.complete(OpOutput::value(OpValue::Address(a))),
                    None => done.complete(OpOutput::status(NtStatus::STATUS_UNSUCCESSFUL)),
                }
            },
        )
    }

    fn resolve(
        &self,
        node: &str,
        family: Option<Family>,
        port: u16,
        done: Completion<Self>,
    ) -> Option<OpRef> {
        let name = match names::node_utf16(node) {
            Ok(name) => name,
            Err(NameError::Invalid) => return fail(done, NtStatus::STATUS_INVALID_PARAMETER),
            Err(NameError::NoMemory) => return fail(done, NtStatus::STATUS_INSUFFICIENT_RESOURCES),
        };
        let ai_family = match family {
            None => AF_UNSPEC,
            Some(Family::V4) => AF_INET,
            Some(Family::V6) => AF_INET6,
        };
        let mut payload = ResolvePayload {
            name,
            ustr: UNICODE_STRING {
                Length: 0,
                MaximumLength: 0,
                Buffer: core::ptr::null_mut(),
            },
            // SAFETY: 1. ADDRINFOEXW is plain data; all-zero is its "no hints" value.
            hints: unsafe { core::mem::zeroed() },
            result: core::ptr::null_mut(),
        };
        payload.hints.ai_family = i32::from(ai_family);
        // The name is NUL-terminated; Length excludes the NUL (<= 255 chars, fits a u16). Its
        // buffer is the vector's heap block, which moving the payload does not move.
        let chars = u16::try_from(payload.name.len() - 1).unwrap_or(0);
        payload.ustr = UNICODE_STRING {
            Length: chars * 2,
            MaximumLength: (chars + 1) * 2,
            Buffer: payload.name.as_mut_ptr(),
        };
        // The result is converted and freed at PASSIVE_LEVEL in this work item, allocated now.
        let convert = Convert {
            reg: self.reg.clone(),
            port,
            list: None,
            done: None,
        };
        let Ok(convert) = self.device.work_item(convert) else {
            return fail(done, NtStatus::STATUS_INSUFFICIENT_RESOURCES);
        };
        let job = ResolveJob {
            reg: self.reg.clone(),
            device: self.device,
            convert,
        };
        match resolve_route(platform::irql()) {
            ResolveRoute::Now => start_resolve(job, payload, done),
            ResolveRoute::WorkItem => {
                match self.device.work_item(StartResolve { job, payload, done }) {
                    // Cancellation cannot reach a resolve before its call is made (no IRP yet).
                    Ok(call) => call.queue(),
                    Err(start) => start
                        .done
                        .complete(OpOutput::status(NtStatus::STATUS_INSUFFICIENT_RESOURCES)),
                }
                None
            }
            ResolveRoute::Refuse(st) => fail(done, st),
        }
    }

    fn wait_peer_close(&self, s: &WskSock, done: Completion<Self>) -> Option<OpRef> {
        match s.events() {
            Some(e) => Events::wait(e, done),
            // Not a connection socket (the engine checks the kind first).
            None => fail(done, NtStatus::STATUS_NOT_SUPPORTED),
        }
    }

    fn cancel(&self, op: &OpRef) {
        op.cancel();
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<Timer> {
        Timer::new(callback)
    }

    fn arm_timer(&self, timer: &Timer, delay_ms: u64, cookie: u64) {
        timer.arm(delay_ms, cookie);
    }

    fn cancel_timer(&self, timer: &Timer) -> bool {
        timer.cancel()
    }
}

/// `WskGetAddressInfo` (PASSIVE_LEVEL: the caller's thread was at PASSIVE_LEVEL, or this runs in
/// a work item); its result goes to `job.convert`, a work item, to be read and freed.
fn start_resolve(job: ResolveJob, payload: ResolvePayload, done: Completion<WskProvider>) -> Option<OpRef> {
    let (client, dispatch) = job.reg.npi();
    let ResolveJob {
        reg: _,
        device,
        mut convert,
    } = job;
    device.start(
        payload,
        |p, irp| {
            // SAFETY: 1. `p` is the payload's final address (`op::start` contract).
            let payload = unsafe { &mut *p };
            // SAFETY: 1. the name, hints and result slot live in the payload until completion;
            // 2. captured NPI (held by the conversion's `reg` until it ran); 3. PASSIVE_LEVEL
            // (above).
            unsafe {
                (dispatch.WskGetAddressInfo)(
                    client,
                    &raw mut payload.ustr,
                    core::ptr::null_mut(),
                    NS_ALL,
                    core::ptr::null_mut(),
                    &raw mut payload.hints,
                    &raw mut payload.result,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    irp,
                )
            }
        },
        move |p: ResolvePayload, st, _info| {
            if st < 0 {
                // The conversion work item goes unused (freed with `convert`).
                return done.complete(OpOutput::status(abi(st)));
            }
            if let Some(job) = convert.job_mut() {
                let (client, dispatch) = job.reg.npi();
                // SAFETY: 1. WskGetAddressInfo completed with success: `result` is its list for
                // this client, freed by nobody else; 2. `WskFreeAddressInfo` is this provider's.
                job.list = unsafe { AddrInfoList::from_raw(p.result, client, dispatch.WskFreeAddressInfo) };
                job.done = Some(done);
            }
            // Read and freed at PASSIVE_LEVEL (this routine may run at DISPATCH_LEVEL).
            convert.queue();
        },
    )
}
