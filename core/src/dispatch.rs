//! Request dispatch: decode, validate, route, and complete exactly once.
//!
//! Checks, in order, each with its own status (tested one by one in `tests/bad_input.rs`):
//!
//! | check | status |
//! |---|---|
//! | control code not one of ours | STATUS_INVALID_DEVICE_REQUEST |
//! | `METHOD_NEITHER` code from user mode | STATUS_ACCESS_DENIED |
//! | driver unloading | STATUS_DEVICE_NOT_READY |
//! | input shorter than the request | STATUS_BUFFER_TOO_SMALL |
//! | unknown ABI version, or a request the header's version does not have | STATUS_NOT_SUPPORTED |
//! | input longer than the request, size field wrong, reserved bits set, bad enum value, a timeout, keepalive or flag value out of range | STATUS_INVALID_PARAMETER |
//! | output buffer cannot hold the reply | STATUS_BUFFER_TOO_SMALL |
//! | handle closed, stale, or another client's | STATUS_INVALID_HANDLE |
//! | DUPLICATE into another client that did not allow the caller (ALLOW_DUPLICATE) | STATUS_ACCESS_DENIED |
//! | operation not valid for the socket kind | STATUS_NOT_SUPPORTED |
//! | empty data buffer | STATUS_INVALID_BUFFER_SIZE |
//! | a per-socket or per-client limit reached, or no memory for what the request needs | STATUS_INSUFFICIENT_RESOURCES |

use crate::client::Client;
use crate::engine::{client_key, Engine};
use crate::provider::{AddrKind, Family, Owner, Provider, SockOpt, SocketKind, SocketParams};
use crate::request::{DataSource, Request, RequestorMode};
use crate::shared::Shared;
use crate::socket::ops::OpKind;
use crate::socket::teardown::CloseArgs;
use crate::socket::{Deadline, SocketObj};
use crate::sync::Arc;
use crate::unbound::{self, UnboundKind};
use core::net::SocketAddr;
use wsksock_abi::addr::{AF_INET, AF_INET6, AF_UNSPEC};
use wsksock_abi::msg::{
    self, AcceptRequest, AddressedRequest, AllowDuplicateRequest, CancelReply, ClientInfoReply, CloseMode,
    CloseReply, CloseRequest, DataRequest, DatagramRequest, DuplicateRequest, GetAddressRequest, HandleReply,
    HandleRequest, ListenRequest, Message, OptionReply, OptionRequest, PeerCloseReply, ResolveReply,
    ResolveRequest, ShutdownHow, ShutdownRequest, SocketOption, SocketRequest, StatisticsReply, ABI_VERSION,
    CLOSE_FLAG_WAIT_FOR_TEARDOWN, DATA_FLAG_NODELAY, DATA_FLAG_WAITALL, KEEPALIVE_MAX_PROBES,
    KEEPALIVE_MAX_SECONDS, RECEIVE_FROM_DATA_OFFSET, TIMEOUT_DEFAULT, TIMEOUT_INFINITE, TIMEOUT_MAX_MS,
};
use wsksock_abi::{parse, Handle, NtStatus, Op, SockAddr};

type Res<T> = Result<T, NtStatus>;

fn check(cond: bool, status: NtStatus) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(status)
    }
}

/// The output buffer must hold reply `M` in the request's ABI version.
fn need_reply<P: Provider, R: Request<P>, M: Message>(req: &R) -> Res<()> {
    let version = parse::version_of(req.input());
    let size = M::size_in(version).unwrap_or(M::SIZE) as usize;
    check(req.output_len() >= size, NtStatus::STATUS_BUFFER_TOO_SMALL)
}

fn require_kind<P: Provider, R: Request<P>>(sock: &SocketObj<P, R>, kinds: &[SocketKind]) -> Res<()> {
    check(kinds.contains(&sock.kind), NtStatus::STATUS_NOT_SUPPORTED)
}

fn socket_addr(a: &SockAddr) -> Res<SocketAddr> {
    a.to_socket_addr().ok_or(NtStatus::STATUS_INVALID_PARAMETER)
}

fn same_family<P: Provider, R: Request<P>>(sock: &SocketObj<P, R>, a: &SocketAddr) -> Res<()> {
    check(Family::of(a) == sock.family, NtStatus::STATUS_INVALID_ADDRESS)
}

/// A request's `timeout_ms`: [`TIMEOUT_DEFAULT`] takes `default`, [`TIMEOUT_INFINITE`] means
/// none, 1..=[`TIMEOUT_MAX_MS`] is the deadline; anything else is refused.
fn deadline(timeout_ms: u32, default: Deadline) -> Res<Deadline> {
    match timeout_ms {
        TIMEOUT_DEFAULT => Ok(default),
        TIMEOUT_INFINITE => Ok(Deadline::None),
        ms if ms <= TIMEOUT_MAX_MS => Ok(Deadline::After(ms)),
        _ => Err(NtStatus::STATUS_INVALID_PARAMETER),
    }
}

/// Routes one request. Every path completes `req` exactly once.
pub(crate) fn dispatch<P: Provider, R: Request<P>>(
    shared: &Arc<Shared<P, R>>,
    client: &Arc<Client<P, R>>,
    req: R,
) {
    let Some(op) = Op::from_code(req.code()) else {
        return shared.complete_engine_request(req, NtStatus::STATUS_INVALID_DEVICE_REQUEST, &[], 0, None);
    };
    if op.is_kernel_only() && req.requestor() == RequestorMode::User {
        return shared.complete_engine_request(req, NtStatus::STATUS_ACCESS_DENIED, &[], 0, None);
    }
    if shared.is_unloading() {
        return shared.complete_engine_request(req, NtStatus::STATUS_DEVICE_NOT_READY, &[], 0, None);
    }
    if parse::version_of(req.input()) < op.since_version() {
        // A request this ABI version does not have.
        return shared.complete_engine_request(req, NtStatus::STATUS_NOT_SUPPORTED, &[], 0, None);
    }
    // Each route either hands `req` on (Ok) or gives it back with the reason it was refused.
    let routed = match op {
        Op::Socket => socket(client, req),
        Op::Bind | Op::Connect => bind_or_connect(client, req, op),
        Op::Listen => listen(client, req),
        Op::Accept => accept(client, req),
        Op::Send | Op::Receive | Op::SendKernel | Op::ReceiveKernel => data(client, req, op),
        Op::SendTo | Op::ReceiveFrom => datagram(client, req, op),
        Op::Shutdown => shutdown(client, req),
        Op::SetOption => set_option(shared, client, req),
        Op::GetOption => get_option(shared, client, req),
        Op::GetAddress => get_address(client, req),
        Op::Duplicate => duplicate(shared, client, req),
        Op::Close => close(client, req),
        Op::Cancel => cancel(shared, client, req),
        Op::Statistics => statistics(shared, client, req),
        Op::Resolve => resolve(client, req),
        Op::ClientInfo => client_info(shared, client, req),
        Op::WaitPeerClose => wait_peer_close(client, req),
        Op::AllowDuplicate => allow_duplicate(shared, client, req),
    };
    if let Err((req, status)) = routed {
        shared.complete_engine_request(req, status, &[], 0, None);
    }
}

type Routed<R> = Result<(), (R, NtStatus)>;

/// Runs the validation part of a route; on error gives the request back with the status.
fn validate<R, T>(req: R, f: impl FnOnce(&R) -> Res<T>) -> Result<(R, T), (R, NtStatus)> {
    match f(&req) {
        Ok(v) => Ok((req, v)),
        Err(e) => Err((req, e)),
    }
}

fn socket<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, params) = validate(req, |req| {
        let m: SocketRequest = parse::decode(req.input())?;
        need_reply::<P, R, HandleReply>(req)?;
        let family = match m.family {
            AF_INET => Family::V4,
            AF_INET6 => Family::V6,
            _ => return Err(NtStatus::STATUS_INVALID_PARAMETER),
        };
        let kind = match msg::SocketKind::try_from(m.kind)? {
            msg::SocketKind::Stream => SocketKind::Stream,
            msg::SocketKind::Datagram => SocketKind::Datagram,
            msg::SocketKind::Listen => SocketKind::Listen,
        };
        check(m.protocol == 0, NtStatus::STATUS_NOT_SUPPORTED)?;
        // A user-mode client's sockets are its process's; a kernel client's, the system's.
        let owner = match req.requestor() {
            RequestorMode::User => Owner::Process(req.process()),
            RequestorMode::Kernel => Owner::System,
        };
        Ok(SocketParams { family, kind, owner })
    })?;
    unbound::start(client, UnboundKind::Create(params), req, None, move |p, done| {
        p.create_socket(params, done)
    });
    Ok(())
}

fn bind_or_connect<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R, op: Op) -> Routed<R> {
    let (req, (sock, hid, addr, limit)) = validate(req, |req| {
        let m: AddressedRequest = parse::decode(req.input())?;
        let limit = if op == Op::Connect {
            deadline(m.timeout_ms, Deadline::None)?
        } else {
            check(m.timeout_ms == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
            Deadline::None
        };
        let addr = socket_addr(&m.addr)?;
        let (sock, hid) = client.lookup(m.handle)?;
        if op == Op::Connect {
            require_kind(&sock, &[SocketKind::Stream])?;
        }
        same_family(&sock, &addr)?;
        Ok((sock, hid, addr, limit))
    })?;
    if op == Op::Bind {
        sock.start_op(client, hid, OpKind::Bind, req, None, limit, move |p, s, _, d| {
            p.bind(s, addr, d)
        });
    } else {
        sock.start_op(
            client,
            hid,
            OpKind::Connect,
            req,
            None,
            limit,
            move |p, s, _, d| p.connect(s, addr, d),
        );
    }
    Ok(())
}

fn listen<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (sock, hid, backlog)) = validate(req, |req| {
        let m: ListenRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        let (sock, hid) = client.lookup(m.handle)?;
        require_kind(&sock, &[SocketKind::Listen])?;
        Ok((sock, hid, m.backlog))
    })?;
    sock.start_op(
        client,
        hid,
        OpKind::Listen,
        req,
        None,
        Deadline::None,
        move |p, s, _, d| p.listen(s, backlog, d),
    );
    Ok(())
}

fn accept<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (sock, hid, limit)) = validate(req, |req| {
        let m: AcceptRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        let limit = deadline(m.timeout_ms, Deadline::None)?;
        need_reply::<P, R, msg::AcceptReply>(req)?;
        let (sock, hid) = client.lookup(m.handle)?;
        require_kind(&sock, &[SocketKind::Listen])?;
        Ok((sock, hid, limit))
    })?;
    sock.start_op(client, hid, OpKind::Accept, req, None, limit, |p, s, _, d| {
        p.accept(s, d)
    });
    Ok(())
}

fn data<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R, op: Op) -> Routed<R> {
    let receive = matches!(op, Op::Receive | Op::ReceiveKernel);
    let (mut req, (sock, hid, flags, source, limit)) = validate(req, |req| {
        let m: DataRequest = parse::decode(req.input())?;
        let (allowed, default) = if receive {
            (DATA_FLAG_WAITALL, Deadline::ReceiveDefault)
        } else {
            (DATA_FLAG_NODELAY, Deadline::SendDefault)
        };
        check(m.flags & !allowed == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        let limit = deadline(m.timeout_ms, default)?;
        let source = if op.is_kernel_only() {
            check(
                m.buffer != 0 && m.length != 0,
                NtStatus::STATUS_INVALID_BUFFER_SIZE,
            )?;
            check(
                u32::try_from(m.length).is_ok(),
                NtStatus::STATUS_INVALID_BUFFER_SIZE,
            )?;
            check(
                m.buffer.checked_add(m.length).is_some(),
                NtStatus::STATUS_INVALID_PARAMETER,
            )?;
            DataSource::Kernel {
                addr: m.buffer,
                len: m.length,
            }
        } else {
            check(m.buffer == 0 && m.length == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
            check(req.output_len() > 0, NtStatus::STATUS_INVALID_BUFFER_SIZE)?;
            DataSource::Direct { offset: 0 }
        };
        let (sock, hid) = client.lookup(m.handle)?;
        require_kind(&sock, &[SocketKind::Stream])?;
        Ok((sock, hid, m.flags, source, limit))
    })?;
    let buf = match req.take_buffer(source, receive) {
        Ok(b) => b,
        Err(e) => return Err((req, e)),
    };
    if crate::provider::Buffer::is_empty(&buf) {
        sock.shared
            .complete_engine_request(req, NtStatus::STATUS_INVALID_BUFFER_SIZE, &[], 0, Some(buf));
        return Ok(());
    }
    if receive {
        sock.start_op(
            client,
            hid,
            OpKind::Receive,
            req,
            Some(buf),
            limit,
            move |p, s, b, d| b.and_then(|b| p.receive(s, b, flags, d)),
        );
    } else {
        sock.start_op(
            client,
            hid,
            OpKind::Send,
            req,
            Some(buf),
            limit,
            move |p, s, b, d| b.and_then(|b| p.send(s, b, flags, d)),
        );
    }
    Ok(())
}

fn datagram<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R, op: Op) -> Routed<R> {
    let receive = op == Op::ReceiveFrom;
    let (mut req, (sock, hid, addr, limit)) = validate(req, |req| {
        let m: DatagramRequest = parse::decode(req.input())?;
        check(
            m.flags == 0 && m.reserved == 0,
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        let default = if receive {
            Deadline::ReceiveDefault
        } else {
            Deadline::SendDefault
        };
        let limit = deadline(m.timeout_ms, default)?;
        let addr = if receive {
            check(m.addr == SockAddr::UNSPEC, NtStatus::STATUS_INVALID_PARAMETER)?;
            check(
                req.output_len() > RECEIVE_FROM_DATA_OFFSET,
                NtStatus::STATUS_BUFFER_TOO_SMALL,
            )?;
            None
        } else {
            check(req.output_len() > 0, NtStatus::STATUS_INVALID_BUFFER_SIZE)?;
            Some(socket_addr(&m.addr)?)
        };
        let (sock, hid) = client.lookup(m.handle)?;
        require_kind(&sock, &[SocketKind::Datagram])?;
        if let Some(a) = &addr {
            same_family(&sock, a)?;
        }
        Ok((sock, hid, addr, limit))
    })?;
    let offset = if receive { RECEIVE_FROM_DATA_OFFSET } else { 0 };
    let buf = match req.take_buffer(DataSource::Direct { offset }, receive) {
        Ok(b) => b,
        Err(e) => return Err((req, e)),
    };
    if crate::provider::Buffer::is_empty(&buf) {
        sock.shared
            .complete_engine_request(req, NtStatus::STATUS_INVALID_BUFFER_SIZE, &[], 0, Some(buf));
        return Ok(());
    }
    match addr {
        Some(remote) => sock.start_op(
            client,
            hid,
            OpKind::SendTo,
            req,
            Some(buf),
            limit,
            move |p, s, b, d| b.and_then(|b| p.send_to(s, b, remote, d)),
        ),
        None => sock.start_op(
            client,
            hid,
            OpKind::ReceiveFrom,
            req,
            Some(buf),
            limit,
            move |p, s, b, d| b.and_then(|b| p.receive_from(s, b, d)),
        ),
    }
    Ok(())
}

fn shutdown<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (sock, hid, abortive)) = validate(req, |req| {
        let m: ShutdownRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        let abortive = ShutdownHow::try_from(m.how)? == ShutdownHow::Abort;
        let (sock, hid) = client.lookup(m.handle)?;
        require_kind(&sock, &[SocketKind::Stream])?;
        Ok((sock, hid, abortive))
    })?;
    let kind = OpKind::Shutdown { abortive };
    sock.start_op(client, hid, kind, req, None, Deadline::None, move |p, s, _, d| {
        p.disconnect(s, abortive, d)
    });
    Ok(())
}

/// Where an option lives.
enum OptionHome {
    /// SO_LINGER: the engine decides the close.
    Linger,
    /// SO_RCVTIMEO (`false`) / SO_SNDTIMEO (`true`): the engine arms the deadlines.
    Timeout(bool),
    /// The provider's (WskControlSocket).
    Provider(SockOpt),
}

fn option_home(o: SocketOption) -> OptionHome {
    match o {
        SocketOption::Linger => OptionHome::Linger,
        SocketOption::ReceiveTimeout => OptionHome::Timeout(false),
        SocketOption::SendTimeout => OptionHome::Timeout(true),
        SocketOption::KeepAlive => OptionHome::Provider(SockOpt::KeepAlive),
        SocketOption::NoDelay => OptionHome::Provider(SockOpt::NoDelay),
        SocketOption::ReceiveBuffer => OptionHome::Provider(SockOpt::ReceiveBuffer),
        SocketOption::SendBuffer => OptionHome::Provider(SockOpt::SendBuffer),
        SocketOption::Ipv6Only => OptionHome::Provider(SockOpt::Ipv6Only),
        SocketOption::KeepAliveIdle => OptionHome::Provider(SockOpt::KeepAliveIdle),
        SocketOption::KeepAliveInterval => OptionHome::Provider(SockOpt::KeepAliveInterval),
        SocketOption::KeepAliveCount => OptionHome::Provider(SockOpt::KeepAliveCount),
    }
}

/// The socket kinds an option applies to (others: STATUS_NOT_SUPPORTED); `None`: any.
fn option_kinds(o: SocketOption) -> Option<&'static [SocketKind]> {
    match o {
        // Receives and sends exist on stream and datagram sockets only.
        SocketOption::ReceiveTimeout | SocketOption::SendTimeout => {
            Some(&[SocketKind::Stream, SocketKind::Datagram])
        }
        // TCP connections only.
        SocketOption::KeepAliveIdle | SocketOption::KeepAliveInterval | SocketOption::KeepAliveCount => {
            Some(&[SocketKind::Stream])
        }
        SocketOption::Linger
        | SocketOption::KeepAlive
        | SocketOption::NoDelay
        | SocketOption::ReceiveBuffer
        | SocketOption::SendBuffer
        | SocketOption::Ipv6Only => None,
    }
}

/// Checks a SET_OPTION's values.
fn check_option_value(opt: SocketOption, value: u32, value2: u32) -> Res<()> {
    let ok = match opt {
        // Winsock's l_onoff / l_linger (a u_short of seconds).
        SocketOption::Linger => value <= 1 && u16::try_from(value2).is_ok(),
        SocketOption::ReceiveTimeout | SocketOption::SendTimeout => value2 == 0 && value <= TIMEOUT_MAX_MS,
        SocketOption::KeepAliveIdle | SocketOption::KeepAliveInterval => {
            value2 == 0 && (1..=KEEPALIVE_MAX_SECONDS).contains(&value)
        }
        SocketOption::KeepAliveCount => value2 == 0 && (1..=KEEPALIVE_MAX_PROBES).contains(&value),
        SocketOption::KeepAlive
        | SocketOption::NoDelay
        | SocketOption::ReceiveBuffer
        | SocketOption::SendBuffer
        | SocketOption::Ipv6Only => value2 == 0,
    };
    check(ok, NtStatus::STATUS_INVALID_PARAMETER)
}

fn set_option<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, (sock, hid, opt, value)) = validate(req, |req| {
        let m: OptionRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        let opt = SocketOption::try_from(m.option)?;
        check_option_value(opt, m.value, m.value2)?;
        let (sock, hid) = client.lookup(m.handle)?;
        if let Some(kinds) = option_kinds(opt) {
            require_kind(&sock, kinds)?;
        }
        Ok((sock, hid, opt, (m.value, m.value2)))
    })?;
    let kept = match option_home(opt) {
        OptionHome::Linger => {
            // Checked above: a u16.
            let secs = u16::try_from(value.1).unwrap_or(u16::MAX);
            sock.set_linger(hid, (value.0 == 1).then_some(secs))
        }
        OptionHome::Timeout(send) => sock.set_timeout(hid, send, value.0),
        OptionHome::Provider(o) => {
            let v = value.0;
            sock.start_op(
                client,
                hid,
                OpKind::SetOption,
                req,
                None,
                Deadline::None,
                move |p, s, _, d| p.set_option(s, o, v, d),
            );
            return Ok(());
        }
    };
    match kept {
        Ok(()) => shared.complete_engine_request(req, NtStatus::STATUS_SUCCESS, &[], 0, None),
        Err(e) => return Err((req, e)),
    }
    Ok(())
}

fn get_option<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, (sock, hid, opt)) = validate(req, |req| {
        let m: OptionRequest = parse::decode(req.input())?;
        check(
            m.reserved == 0 && m.value == 0 && m.value2 == 0,
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        let opt = SocketOption::try_from(m.option)?;
        need_reply::<P, R, OptionReply>(req)?;
        let (sock, hid) = client.lookup(m.handle)?;
        if let Some(kinds) = option_kinds(opt) {
            require_kind(&sock, kinds)?;
        }
        Ok((sock, hid, opt))
    })?;
    let mut r = OptionReply::new_zeroed_with_header();
    let kept = match option_home(opt) {
        OptionHome::Linger => sock.linger(hid).map(|linger| {
            r.value = u32::from(linger.is_some());
            r.value2 = u32::from(linger.unwrap_or(0));
        }),
        OptionHome::Timeout(send) => sock.timeout(hid, send).map(|ms| r.value = ms),
        OptionHome::Provider(o) => {
            sock.start_op(
                client,
                hid,
                OpKind::GetOption,
                req,
                None,
                Deadline::None,
                move |p, s, _, d| p.get_option(s, o, d),
            );
            return Ok(());
        }
    };
    match kept {
        Ok(()) => shared.reply(req, &r),
        Err(e) => return Err((req, e)),
    }
    Ok(())
}

fn get_address<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (sock, hid, which)) = validate(req, |req| {
        let m: GetAddressRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        let which = match msg::AddressWhich::try_from(m.which)? {
            msg::AddressWhich::Local => AddrKind::Local,
            msg::AddressWhich::Peer => AddrKind::Peer,
        };
        need_reply::<P, R, msg::AddressReply>(req)?;
        let (sock, hid) = client.lookup(m.handle)?;
        if which == AddrKind::Peer {
            // Only connection sockets have a peer (WSK has no WskGetRemoteAddress for the others).
            require_kind(&sock, &[SocketKind::Stream])?;
        }
        Ok((sock, hid, which))
    })?;
    sock.start_op(
        client,
        hid,
        OpKind::GetAddress,
        req,
        None,
        Deadline::None,
        move |p, s, _, d| p.get_address(s, which, d),
    );
    Ok(())
}

fn duplicate<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, (sock, hid, target, from)) = validate(req, |req| {
        let m: DuplicateRequest = parse::decode(req.input())?;
        need_reply::<P, R, HandleReply>(req)?;
        let (sock, hid) = client.lookup(m.handle)?;
        let target = if m.target_client == 0 {
            client.clone()
        } else {
            let clients = shared.clients.lock();
            clients
                .get(client_key(m.target_client))
                .cloned()
                .ok_or(NtStatus::STATUS_INVALID_PARAMETER)?
        };
        // Into another client only with its consent (ALLOW_DUPLICATE), checked again and used
        // up when the handle goes in.
        let from = (!Arc::ptr_eq(&target, client)).then(|| client.id());
        if let Some(f) = from {
            check(target.allowed(f) > 0, NtStatus::STATUS_ACCESS_DENIED)?;
        }
        Ok((sock, hid, target, from))
    })?;
    let id = match sock.add_handle(hid) {
        Ok(Some(id)) => id,
        // The handle was closed since its lookup (invariant 3).
        Ok(None) => return Err((req, NtStatus::STATUS_INVALID_HANDLE)),
        Err(e) => return Err((req, e.into())),
    };
    match target.insert_handle(&sock, id, from) {
        Ok(handle) => {
            let mut r = HandleReply::new_zeroed_with_header();
            r.handle = handle;
            shared.reply(req, &r);
            Ok(())
        }
        Err(e) => Err((req, e)),
    }
}

/// ALLOW_DUPLICATE: the caller consents to DUPLICATEs into its table from another live client.
fn allow_duplicate<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, (from, count)) = validate(req, |req| {
        let m: AllowDuplicateRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        check(
            m.from_client != 0 && m.from_client != client.id(),
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        check(
            m.count <= shared.config.max_handles_per_client,
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        Ok((m.from_client, m.count))
    })?;
    // Lock order: `clients` before `client.state` (shared.rs).
    let allowed = {
        let clients = shared.clients.lock();
        let live = |id: u64| clients.get(client_key(id)).is_some();
        // A client that exists now (ids are never reused); withdrawing needs none.
        if count > 0 && !live(from) {
            Err(NtStatus::STATUS_INVALID_PARAMETER)
        } else {
            client.allow(from, count, live)
        }
    };
    match allowed {
        Ok(()) => {
            shared.complete_engine_request(req, NtStatus::STATUS_SUCCESS, &[], 0, None);
            Ok(())
        }
        Err(e) => Err((req, e)),
    }
}

fn close<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (handle, args)) = validate(req, |req| {
        let m: CloseRequest = parse::decode(req.input())?;
        check(m.reserved == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        check(
            m.flags & !CLOSE_FLAG_WAIT_FOR_TEARDOWN == 0,
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        let mode = CloseMode::try_from(m.mode)?;
        if mode == CloseMode::Linger {
            check(
                m.linger_seconds > 0 && u16::try_from(m.linger_seconds).is_ok(),
                NtStatus::STATUS_INVALID_PARAMETER,
            )?;
        } else {
            check(m.linger_seconds == 0, NtStatus::STATUS_INVALID_PARAMETER)?;
        }
        need_reply::<P, R, CloseReply>(req)?;
        let wait = m.flags & CLOSE_FLAG_WAIT_FOR_TEARDOWN != 0;
        Ok((
            m.handle,
            CloseArgs {
                mode,
                linger_seconds: m.linger_seconds,
                wait,
                bound_ms: None,
                reserved_wait: false,
            },
        ))
    })?;
    // A waiting CLOSE reserves its room first (a waiter on the socket, a parked entry in the
    // client, the front end's cancel state): past `remove_handle` nothing may fail.
    let (mut req, mut args) = (req, args);
    let mut reserved_on = None;
    if args.wait {
        let reserved = client.lookup(handle).and_then(|(sock, _)| {
            reserve_wait(client, &sock).map_err(NtStatus::from)?;
            Ok(sock)
        });
        match reserved {
            Ok(sock) => {
                if let Err(e) = req.reserve_cancel() {
                    unreserve_wait(client, &sock);
                    return Err((req, e.into()));
                }
                reserved_on = Some(sock);
            }
            Err(e) => return Err((req, e)),
        }
        args.reserved_wait = true;
    }
    // Invariant 4: the handle leaves the table at once.
    match client.remove_handle(handle) {
        Ok((sock, hid)) => {
            sock.close_handle(hid, &args, Some(req), Some(client));
            Ok(())
        }
        Err(e) => {
            // Closed meanwhile by another thread: the reservations go back.
            if let Some(sock) = reserved_on {
                unreserve_wait(client, &sock);
            }
            Err((req, e))
        }
    }
}

/// Reserves what a waiting CLOSE of `sock` needs: room for its waiter (with the socket's
/// extras) and for its parked entry in the client.
fn reserve_wait<P: Provider, R: Request<P>>(
    client: &Arc<Client<P, R>>,
    sock: &SocketObj<P, R>,
) -> Result<(), crate::mem::AllocError> {
    let p = &sock.shared.provider;
    sock.state.lock().extras_or_alloc(p)?.waiters.reserve(p)?;
    if let Err(e) = client.reserve_parked() {
        if let Some(x) = sock.state.lock().extras_mut() {
            x.waiters.unreserve();
        }
        return Err(e);
    }
    Ok(())
}

/// Gives back what [`reserve_wait`] reserved.
fn unreserve_wait<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, sock: &SocketObj<P, R>) {
    if let Some(x) = sock.state.lock().extras_mut() {
        x.waiters.unreserve();
    }
    client.state.lock().parked.unreserve();
}

fn cancel<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, (sock, hid)) = validate(req, |req| {
        let m: HandleRequest = parse::decode(req.input())?;
        need_reply::<P, R, CancelReply>(req)?;
        client.lookup(m.handle)
    })?;
    let n = sock.cancel_handle_ops(hid);
    let mut r = CancelReply::new_zeroed_with_header();
    r.cancelled = n;
    shared.reply(req, &r);
    Ok(())
}

fn statistics<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, handle) = validate(req, |req| {
        let m: HandleRequest = parse::decode(req.input())?;
        need_reply::<P, R, StatisticsReply>(req)?;
        Ok(m.handle)
    })?;
    let r = if handle == Handle::NULL {
        Engine::statistics_reply(shared)
    } else {
        match client.lookup(handle) {
            Ok((sock, _)) => sock.statistics(),
            Err(e) => return Err((req, e)),
        }
    };
    shared.reply(req, &r);
    Ok(())
}

fn resolve<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (m, limit)) = validate(req, |req| {
        let m: ResolveRequest = parse::decode(req.input())?;
        check(
            m.reserved == 0 && m.reserved2 == 0 && m.reserved3 == 0,
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        let limit = match deadline(m.timeout_ms, Deadline::None)? {
            Deadline::After(ms) => Some(ms),
            Deadline::None | Deadline::ReceiveDefault | Deadline::SendDefault => None,
        };
        check(
            matches!(m.family, AF_UNSPEC | AF_INET | AF_INET6),
            NtStatus::STATUS_INVALID_PARAMETER,
        )?;
        let node = parse::c_str(&m.node)?;
        check(!node.is_empty(), NtStatus::STATUS_INVALID_PARAMETER)?;
        need_reply::<P, R, ResolveReply>(req)?;
        Ok((m, limit))
    })?;
    let family = match m.family {
        AF_INET => Some(Family::V4),
        AF_INET6 => Some(Family::V6),
        _ => None,
    };
    unbound::start(client, UnboundKind::Resolve, req, limit, move |p, done| {
        let node = parse::c_str(&m.node).unwrap_or("");
        p.resolve(node, family, m.port, done)
    });
    Ok(())
}

fn client_info<P: Provider, R: Request<P>>(
    shared: &Shared<P, R>,
    client: &Arc<Client<P, R>>,
    req: R,
) -> Routed<R> {
    let (req, ()) = validate(req, |req| {
        let _: msg::ClientInfoRequest = parse::decode(req.input())?;
        need_reply::<P, R, ClientInfoReply>(req)
    })?;
    let mut r = ClientInfoReply::new_zeroed_with_header();
    r.client_id = client.id();
    r.abi_version = u32::from(ABI_VERSION);
    r.max_pending_per_socket = shared.config.max_pending_per_socket;
    r.max_pending_per_client = shared.config.max_pending_per_client;
    r.max_handles = shared.config.max_handles_per_client;
    shared.reply(req, &r);
    Ok(())
}

fn wait_peer_close<P: Provider, R: Request<P>>(client: &Arc<Client<P, R>>, req: R) -> Routed<R> {
    let (req, (sock, hid)) = validate(req, |req| {
        let m: HandleRequest = parse::decode(req.input())?;
        need_reply::<P, R, PeerCloseReply>(req)?;
        let (sock, hid) = client.lookup(m.handle)?;
        require_kind(&sock, &[SocketKind::Stream])?;
        Ok((sock, hid))
    })?;
    sock.start_op(
        client,
        hid,
        OpKind::WaitPeerClose,
        req,
        None,
        Deadline::None,
        |p, s, _, d| p.wait_peer_close(s, d),
    );
    Ok(())
}
