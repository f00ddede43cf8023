//! A typed client of the IOCTL interface over any [`Channel`].
//!
//! Synchronous helpers wait (with a timeout, so a hang is an error, not a stuck tool); data and
//! wait operations return a [`Pending`] the caller can wait on or cancel from any thread.

use crate::channel::{Channel, Completed, Output, Pending};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wsksock_abi::msg::{self, Message};
use wsksock_abi::{Handle, NtStatus, Op, SockAddr};
use zerocopy::{FromBytes, IntoBytes};

pub use wsksock_abi::msg::CloseMode;
pub use wsksock_abi::msg::SocketKind;

/// How long a synchronous helper waits before calling it a hang.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// A typed client.
#[derive(Clone)]
pub struct Client {
    chan: Arc<dyn Channel>,
}

/// A failed call: the status, and which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// The operation.
    pub op: Op,
    /// Its status.
    pub status: NtStatus,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} failed: {}", self.op, self.status)
    }
}

impl std::error::Error for Error {}

/// What CLOSE reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The status of the CLOSE request itself.
    pub status: NtStatus,
    /// Whether it was the last handle.
    pub last_reference: bool,
    /// Operations it cancelled.
    pub cancelled: u32,
    /// With the wait flag on the last handle: the provider close status; else STATUS_PENDING.
    pub teardown_status: NtStatus,
    /// With the wait flag: the disconnect performed.
    pub disconnect: msg::Disconnect,
}

fn req<M: Message>(fill: impl FnOnce(&mut M)) -> Vec<u8> {
    let mut m = M::new_zeroed_with_header();
    fill(&mut m);
    m.as_bytes().to_vec()
}

fn reply<M: Message>(op: Op, c: &Completed) -> Result<M, Error> {
    if !c.status.is_success() {
        return Err(Error { op, status: c.status });
    }
    M::read_from_prefix(&c.output).map(|(m, _)| m).map_err(|_| Error {
        op,
        status: NtStatus::STATUS_BUFFER_TOO_SMALL,
    })
}

impl Client {
    /// A client over a channel.
    pub fn new(chan: impl Channel + 'static) -> Self {
        Client { chan: Arc::new(chan) }
    }

    /// The raw channel (bad-input tests).
    pub fn channel(&self) -> &Arc<dyn Channel> {
        &self.chan
    }

    /// Submits a raw request.
    pub fn submit(&self, op: Op, input: Vec<u8>, output: Output) -> Pending {
        self.chan.submit(op.code(), input, output)
    }

    fn call(&self, op: Op, input: Vec<u8>, reply_len: usize) -> Result<Completed, Error> {
        let c = self
            .submit(op, input, Output::Reply(reply_len))
            .wait_timeout(SYNC_TIMEOUT)
            .ok_or(Error {
                op,
                status: NtStatus::STATUS_TIMEOUT,
            })?;
        if c.status.is_success() {
            Ok(c)
        } else {
            Err(Error { op, status: c.status })
        }
    }

    fn call_reply<M: Message>(&self, op: Op, input: Vec<u8>) -> Result<M, Error> {
        let c = self.call(op, input, size_of::<M>())?;
        reply(op, &c)
    }

    /// SOCKET.
    pub fn socket(&self, addr_family: u16, kind: SocketKind) -> Result<Handle, Error> {
        let input = req::<msg::SocketRequest>(|m| {
            m.family = addr_family;
            m.kind = kind as u16;
        });
        Ok(self.call_reply::<msg::HandleReply>(Op::Socket, input)?.handle)
    }

    /// SOCKET for the family of `addr`.
    pub fn socket_for(&self, addr: &SocketAddr, kind: SocketKind) -> Result<Handle, Error> {
        self.socket(SockAddr::family_of(addr.ip()), kind)
    }

    fn addressed(h: Handle, addr: SocketAddr) -> Vec<u8> {
        req::<msg::AddressedRequest>(|m| {
            m.handle = h;
            m.addr = SockAddr::from(addr);
        })
    }

    /// BIND.
    pub fn bind(&self, h: Handle, addr: SocketAddr) -> Result<(), Error> {
        self.call(Op::Bind, Self::addressed(h, addr), 0).map(|_| ())
    }

    /// LISTEN.
    pub fn listen(&self, h: Handle, backlog: u32) -> Result<(), Error> {
        let input = req::<msg::ListenRequest>(|m| {
            m.handle = h;
            m.backlog = backlog;
        });
        self.call(Op::Listen, input, 0).map(|_| ())
    }

    /// ACCEPT (pends until a connection arrives).
    pub fn accept(&self, h: Handle) -> Pending {
        self.accept_within(h, msg::TIMEOUT_DEFAULT)
    }

    /// ACCEPT with a deadline (`timeout_ms`: [`msg::TIMEOUT_DEFAULT`] none, or milliseconds).
    pub fn accept_within(&self, h: Handle, timeout_ms: u32) -> Pending {
        let input = req::<msg::AcceptRequest>(|m| {
            m.handle = h;
            m.timeout_ms = timeout_ms;
        });
        self.submit(Op::Accept, input, Output::Reply(size_of::<msg::AcceptReply>()))
    }

    /// The reply of a completed ACCEPT.
    pub fn accepted(c: &Completed) -> Result<msg::AcceptReply, Error> {
        reply(Op::Accept, c)
    }

    /// CONNECT (pends).
    pub fn connect(&self, h: Handle, remote: SocketAddr) -> Pending {
        self.connect_within(h, remote, msg::TIMEOUT_DEFAULT)
    }

    /// CONNECT with a deadline in milliseconds ([`msg::TIMEOUT_DEFAULT`]: none).
    pub fn connect_within(&self, h: Handle, remote: SocketAddr, timeout_ms: u32) -> Pending {
        let mut input = msg::AddressedRequest::new_zeroed_with_header();
        input.handle = h;
        input.addr = SockAddr::from(remote);
        input.timeout_ms = timeout_ms;
        self.submit(Op::Connect, input.as_bytes().to_vec(), Output::Reply(0))
    }

    /// SOCKET + BIND (any address of the family) + CONNECT, waiting for each.
    pub fn connect_to(&self, remote: SocketAddr) -> Result<Handle, Error> {
        self.connect_to_within(remote, msg::TIMEOUT_DEFAULT)
    }

    /// [`Client::connect_to`] with a deadline on the CONNECT.
    pub fn connect_to_within(&self, remote: SocketAddr, timeout_ms: u32) -> Result<Handle, Error> {
        let h = self.socket_for(&remote, SocketKind::Stream)?;
        let any: SocketAddr = if remote.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
            .parse()
            .expect("literal");
        let done = self.bind(h, any).and_then(|()| {
            let c = self
                .connect_within(h, remote, timeout_ms)
                .wait_timeout(SYNC_TIMEOUT.max(Duration::from_millis(u64::from(timeout_ms) + 1000)))
                .ok_or(Error {
                    op: Op::Connect,
                    status: NtStatus::STATUS_TIMEOUT,
                })?;
            if c.status.is_success() {
                Ok(())
            } else {
                Err(Error {
                    op: Op::Connect,
                    status: c.status,
                })
            }
        });
        if let Err(e) = done {
            let _ = self.close(h, CloseMode::Abortive, false);
            return Err(e);
        }
        Ok(h)
    }

    /// SEND of `data` (pends until the transport took all of it).
    pub fn send(&self, h: Handle, data: Vec<u8>) -> Pending {
        self.send_with(h, data, 0, msg::TIMEOUT_DEFAULT)
    }

    /// SEND with flags ([`msg::DATA_FLAG_NODELAY`]) and a deadline ([`msg::TIMEOUT_DEFAULT`]:
    /// the socket's SO_SNDTIMEO).
    pub fn send_with(&self, h: Handle, data: Vec<u8>, flags: u32, timeout_ms: u32) -> Pending {
        let input = req::<msg::DataRequest>(|m| {
            m.handle = h;
            m.flags = flags;
            m.timeout_ms = timeout_ms;
        });
        self.submit(Op::Send, input, Output::Data(data))
    }

    /// RECEIVE of up to `len` bytes (pends until data, FIN, or an error).
    pub fn receive(&self, h: Handle, len: usize) -> Pending {
        self.receive_with(h, len, 0, msg::TIMEOUT_DEFAULT)
    }

    /// RECEIVE with flags ([`msg::DATA_FLAG_WAITALL`]) and a deadline ([`msg::TIMEOUT_DEFAULT`]:
    /// the socket's SO_RCVTIMEO).
    pub fn receive_with(&self, h: Handle, len: usize, flags: u32, timeout_ms: u32) -> Pending {
        let input = req::<msg::DataRequest>(|m| {
            m.handle = h;
            m.flags = flags;
            m.timeout_ms = timeout_ms;
        });
        self.submit(Op::Receive, input, Output::Data(vec![0; len]))
    }

    /// SEND_TO.
    pub fn send_to(&self, h: Handle, data: Vec<u8>, remote: SocketAddr) -> Pending {
        self.send_to_within(h, data, remote, msg::TIMEOUT_DEFAULT)
    }

    /// SEND_TO with a deadline.
    pub fn send_to_within(&self, h: Handle, data: Vec<u8>, remote: SocketAddr, timeout_ms: u32) -> Pending {
        let input = req::<msg::DatagramRequest>(|m| {
            m.handle = h;
            m.addr = SockAddr::from(remote);
            m.timeout_ms = timeout_ms;
        });
        self.submit(Op::SendTo, input, Output::Data(data))
    }

    /// RECEIVE_FROM of up to `len` payload bytes.
    pub fn receive_from(&self, h: Handle, len: usize) -> Pending {
        self.receive_from_within(h, len, msg::TIMEOUT_DEFAULT)
    }

    /// RECEIVE_FROM with a deadline.
    pub fn receive_from_within(&self, h: Handle, len: usize, timeout_ms: u32) -> Pending {
        let input = req::<msg::DatagramRequest>(|m| {
            m.handle = h;
            m.timeout_ms = timeout_ms;
        });
        self.submit(
            Op::ReceiveFrom,
            input,
            Output::Data(vec![0; msg::RECEIVE_FROM_DATA_OFFSET + len]),
        )
    }

    /// Splits a completed RECEIVE_FROM into sender and payload.
    pub fn received_from(c: &Completed) -> Result<(SocketAddr, Vec<u8>), Error> {
        let r: msg::ReceiveFromReply = reply(Op::ReceiveFrom, c)?;
        let from = r.remote.to_socket_addr().ok_or(Error {
            op: Op::ReceiveFrom,
            status: NtStatus::STATUS_INVALID_ADDRESS,
        })?;
        let start = msg::RECEIVE_FROM_DATA_OFFSET;
        let end = (start + r.bytes as usize).min(c.output.len());
        Ok((from, c.output[start..end].to_vec()))
    }

    /// SHUTDOWN (graceful FIN of the sending side, or abortive reset), pends.
    pub fn shutdown(&self, h: Handle, how: msg::ShutdownHow) -> Pending {
        let input = req::<msg::ShutdownRequest>(|m| {
            m.handle = h;
            m.how = how as u32;
        });
        self.submit(Op::Shutdown, input, Output::Reply(0))
    }

    /// SET_OPTION.
    pub fn set_option(
        &self,
        h: Handle,
        option: msg::SocketOption,
        value: u32,
        value2: u32,
    ) -> Result<(), Error> {
        let input = req::<msg::OptionRequest>(|m| {
            m.handle = h;
            m.option = option as u32;
            m.value = value;
            m.value2 = value2;
        });
        self.call(Op::SetOption, input, 0).map(|_| ())
    }

    /// SO_LINGER: `None` off, `Some(secs)` on.
    pub fn set_linger(&self, h: Handle, linger: Option<u16>) -> Result<(), Error> {
        let (on, secs) = linger.map_or((0, 0), |s| (1, u32::from(s)));
        self.set_option(h, msg::SocketOption::Linger, on, secs)
    }

    /// GET_OPTION: `(value, value2)`.
    pub fn get_option(&self, h: Handle, option: msg::SocketOption) -> Result<(u32, u32), Error> {
        let input = req::<msg::OptionRequest>(|m| {
            m.handle = h;
            m.option = option as u32;
        });
        let r: msg::OptionReply = self.call_reply(Op::GetOption, input)?;
        Ok((r.value, r.value2))
    }

    /// GET_ADDRESS.
    pub fn address(&self, h: Handle, which: msg::AddressWhich) -> Result<SocketAddr, Error> {
        let input = req::<msg::GetAddressRequest>(|m| {
            m.handle = h;
            m.which = which as u32;
        });
        let r: msg::AddressReply = self.call_reply(Op::GetAddress, input)?;
        r.addr.to_socket_addr().ok_or(Error {
            op: Op::GetAddress,
            status: NtStatus::STATUS_INVALID_ADDRESS,
        })
    }

    /// DUPLICATE into `target_client` (0: this client). Another client must have allowed this
    /// one first ([`Client::allow_duplicate`]).
    pub fn duplicate(&self, h: Handle, target_client: u64) -> Result<Handle, Error> {
        let input = req::<msg::DuplicateRequest>(|m| {
            m.handle = h;
            m.target_client = target_client;
        });
        Ok(self.call_reply::<msg::HandleReply>(Op::Duplicate, input)?.handle)
    }

    /// ALLOW_DUPLICATE: client `from_client` may DUPLICATE `count` handles into this client's
    /// table (0: none any more).
    pub fn allow_duplicate(&self, from_client: u64, count: u32) -> Result<(), Error> {
        let input = req::<msg::AllowDuplicateRequest>(|m| {
            m.from_client = from_client;
            m.count = count;
        });
        self.call(Op::AllowDuplicate, input, 0).map(|_| ())
    }

    /// A handle to `h` in client `to`'s table, with its consent: `to` allows this client one
    /// handle, then this client duplicates `h` into it (what two cooperating clients do, here
    /// both held by one caller).
    pub fn duplicate_to(&self, h: Handle, to: &Client) -> Result<Handle, Error> {
        let (me, them) = (self.client_info()?.client_id, to.client_info()?.client_id);
        to.allow_duplicate(me, 1)?;
        self.duplicate(h, them)
    }

    /// CLOSE, pending until done (with `wait`, until the teardown ended).
    pub fn close_pending(&self, h: Handle, mode: CloseMode, linger_seconds: u32, wait: bool) -> Pending {
        let input = req::<msg::CloseRequest>(|m| {
            m.handle = h;
            m.mode = mode as u32;
            m.linger_seconds = linger_seconds;
            m.flags = if wait {
                msg::CLOSE_FLAG_WAIT_FOR_TEARDOWN
            } else {
                0
            };
        });
        self.submit(Op::Close, input, Output::Reply(size_of::<msg::CloseReply>()))
    }

    /// Decodes a completed CLOSE.
    pub fn closed(c: &Completed) -> Closed {
        let r = msg::CloseReply::read_from_prefix(&c.output).map(|(m, _)| m).ok();
        match (c.status.is_success(), r) {
            (true, Some(r)) => Closed {
                status: c.status,
                last_reference: r.last_reference == 1,
                cancelled: r.cancelled,
                teardown_status: NtStatus(r.teardown_status),
                disconnect: msg::Disconnect::try_from(r.disconnect).unwrap_or(msg::Disconnect::None),
            },
            _ => Closed {
                status: c.status,
                last_reference: false,
                cancelled: 0,
                teardown_status: NtStatus::STATUS_PENDING,
                disconnect: msg::Disconnect::None,
            },
        }
    }

    /// CLOSE with a mode (`Linger` takes its seconds from `mode_linger`), waiting for the reply.
    pub fn close(&self, h: Handle, mode: CloseMode, wait: bool) -> Result<Closed, Error> {
        self.close_linger(h, mode, 0, wait)
    }

    /// CLOSE with an explicit linger timeout for `CloseMode::Linger`.
    pub fn close_linger(&self, h: Handle, mode: CloseMode, secs: u32, wait: bool) -> Result<Closed, Error> {
        let c = self
            .close_pending(h, mode, secs, wait)
            .wait_timeout(SYNC_TIMEOUT)
            .ok_or(Error {
                op: Op::Close,
                status: NtStatus::STATUS_TIMEOUT,
            })?;
        let closed = Self::closed(&c);
        if closed.status.is_success() {
            Ok(closed)
        } else {
            Err(Error {
                op: Op::Close,
                status: closed.status,
            })
        }
    }

    /// CANCEL: aborts what is pending through `h`; returns how many.
    pub fn cancel(&self, h: Handle) -> Result<u32, Error> {
        let input = req::<msg::HandleRequest>(|m| m.handle = h);
        Ok(self.call_reply::<msg::CancelReply>(Op::Cancel, input)?.cancelled)
    }

    /// STATISTICS of a socket, or global for [`Handle::NULL`].
    pub fn statistics(&self, h: Handle) -> Result<msg::StatisticsReply, Error> {
        let input = req::<msg::HandleRequest>(|m| m.handle = h);
        self.call_reply(Op::Statistics, input)
    }

    /// RESOLVE.
    pub fn resolve(&self, node: &str, addr_family: u16, port: u16) -> Result<Vec<SocketAddr>, Error> {
        self.resolve_within(node, addr_family, port, msg::TIMEOUT_DEFAULT)
    }

    /// RESOLVE with a deadline in milliseconds ([`msg::TIMEOUT_DEFAULT`]: none).
    pub fn resolve_within(
        &self,
        node: &str,
        addr_family: u16,
        port: u16,
        timeout_ms: u32,
    ) -> Result<Vec<SocketAddr>, Error> {
        let bad = Error {
            op: Op::Resolve,
            status: NtStatus::STATUS_INVALID_PARAMETER,
        };
        if node.len() >= 256 || node.contains('\0') {
            return Err(bad);
        }
        let input = req::<msg::ResolveRequest>(|m| {
            m.family = addr_family;
            m.port = port;
            m.timeout_ms = timeout_ms;
            m.node[..node.len()].copy_from_slice(node.as_bytes());
        });
        let r: msg::ResolveReply = self.call_reply(Op::Resolve, input)?;
        Ok(r.addrs
            .iter()
            .take(r.count as usize)
            .filter_map(SockAddr::to_socket_addr)
            .collect())
    }

    /// WAIT_PEER_CLOSE (pends until the peer's FIN or RST, or the connection fails).
    pub fn wait_peer_close(&self, h: Handle) -> Pending {
        let input = req::<msg::HandleRequest>(|m| m.handle = h);
        self.submit(
            Op::WaitPeerClose,
            input,
            Output::Reply(size_of::<msg::PeerCloseReply>()),
        )
    }

    /// Decodes a completed WAIT_PEER_CLOSE: how the connection ended, and the status it reported.
    pub fn peer_closed(c: &Completed) -> Result<(msg::PeerClose, NtStatus), Error> {
        let r: msg::PeerCloseReply = reply(Op::WaitPeerClose, c)?;
        let how = msg::PeerClose::try_from(r.event).map_err(|status| Error {
            op: Op::WaitPeerClose,
            status,
        })?;
        Ok((how, NtStatus(r.status)))
    }

    /// CLIENT_INFO.
    pub fn client_info(&self) -> Result<msg::ClientInfoReply, Error> {
        self.call_reply(Op::ClientInfo, req::<msg::ClientInfoRequest>(|_| {}))
    }
}

/// The name of a status for humans and JSON (`STATUS_CANCELLED`, or hex).
pub fn status_name(s: NtStatus) -> String {
    s.name().map_or_else(|| format!("0x{:08X}", s.0), str::to_string)
}
