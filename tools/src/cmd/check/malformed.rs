//! `check malformed ADDR`: requests a user-mode caller can get wrong — unknown codes, kernel-only
//! codes, short, long, versioned, reserved, unknown enums, small outputs, empty data buffers,
//! addresses of the wrong family, garbage — each get the status `docs/ABI.md` documents, every
//! request completes, and the driver keeps serving (a socket connects to ADDR, sends and closes
//! afterwards: the peer must see `SENT` bytes and a FIN).

use super::Cases;
use crate::backend::Session;
use serde::Serialize;
use std::time::Duration;
use wsksock_abi::ioctl::{ctl_code, METHOD_BUFFERED, WSKSOCK_DEVICE_TYPE};
use wsksock_abi::msg::{
    AcceptRequest, AddressedRequest, CloseMode, CloseRequest, DataRequest, HandleRequest, Message,
    OptionRequest, SocketKind, SocketOption, SocketRequest, ABI_VERSION, DATA_FLAG_NODELAY,
};
use wsksock_abi::{Handle, NtStatus, Op, SockAddr};
use wsksock_tools::channel::Output;
use wsksock_tools::{pattern, Client};

/// Bytes the final socket sends to the peer.
pub const SENT: usize = 777;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Peer address (a peer that reads to the end).
    pub addr: String,
    /// Random requests sent after the listed ones.
    #[arg(long, default_value_t = 300)]
    pub garbage: u32,
}

/// What `check malformed` reports.
#[derive(Serialize, Debug)]
pub struct Outcome {
    /// Whether every case had its documented status and the driver served afterwards.
    pub ok: bool,
    /// Listed cases checked.
    pub cases: usize,
    /// The listed cases that differ.
    pub failed: Vec<super::Case>,
    /// Random requests sent, and how many of them did not end with an error status.
    pub garbage: u32,
    /// Random requests that succeeded or never completed (must be 0).
    pub garbage_not_refused: u32,
    /// The driver served a normal connect + send + close afterwards.
    pub serves_after: bool,
}

fn raw(c: &Client, code: u32, input: Vec<u8>, output: Output) -> NtStatus {
    super::waited(&c.channel().submit(code, input, output))
}

fn bytes<M: Message>(f: impl FnOnce(&mut M)) -> Vec<u8> {
    let mut m = M::new_zeroed_with_header();
    f(&mut m);
    m.as_bytes().to_vec()
}

/// xorshift64*: the garbage is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Random codes of ours with random bytes; returns how many did not end with an error.
// Random values are cut down to small lengths and indices on purpose.
#[allow(clippy::cast_possible_truncation)]
fn garbage(c: &Client, count: u32) -> u32 {
    let mut rng = Rng(0x5EED_0FC0_FFEE);
    let mut not_refused = 0;
    for _ in 0..count {
        let roll = rng.next();
        let op = Op::ALL[(roll % Op::ALL.len() as u64) as usize];
        let len = ((roll >> 8) % 200) as usize;
        let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 8 && roll & (1 << 40) != 0 {
            // Half of them get a plausible header, so the checks past it run too.
            let size = u32::try_from(len).unwrap_or(0).to_le_bytes();
            input[..4].copy_from_slice(&size);
            input[4..8].copy_from_slice(&[1, 0, 0, 0]);
        }
        let out_len = ((roll >> 20) % 300) as usize;
        let output = if roll & (1 << 41) != 0 {
            Output::Data(vec![0; out_len])
        } else {
            Output::Reply(out_len)
        };
        if !raw(c, op.code(), input, output).is_error() {
            not_refused += 1;
        }
    }
    not_refused
}

/// Runs it.
#[allow(clippy::too_many_lines)]
pub fn run(session: &Session, args: &Args) -> Result<Outcome, String> {
    use NtStatus as S;
    let addr = super::super::parse_addr(&args.addr)?;
    let c = &session.client;
    let fam = SockAddr::family_of(addr.ip());
    let mut k = Cases::default();
    let close = bytes::<CloseRequest>(|_| {});
    let reply = || Output::Reply(64);

    // Codes.
    k.check(
        "another device type's code",
        raw(c, 0x0022_2003, close.clone(), reply()),
        S::STATUS_INVALID_DEVICE_REQUEST,
    );
    let unknown = ctl_code(WSKSOCK_DEVICE_TYPE, 0x8FF, METHOD_BUFFERED, 0);
    k.check(
        "unknown function of ours",
        raw(c, unknown, close.clone(), reply()),
        S::STATUS_INVALID_DEVICE_REQUEST,
    );
    let kernel = bytes::<DataRequest>(|m| {
        m.buffer = 0x1000;
        m.length = 16;
    });
    k.check(
        "SEND_KERNEL (METHOD_NEITHER) from user mode",
        raw(c, Op::SendKernel.code(), kernel.clone(), reply()),
        S::STATUS_ACCESS_DENIED,
    );
    k.check(
        "RECEIVE_KERNEL (METHOD_NEITHER) from user mode",
        raw(c, Op::ReceiveKernel.code(), kernel, reply()),
        S::STATUS_ACCESS_DENIED,
    );

    // Lengths, versions, reserved bits, enums.
    k.check(
        "empty input",
        raw(c, Op::Close.code(), Vec::new(), reply()),
        S::STATUS_BUFFER_TOO_SMALL,
    );
    k.check(
        "input shorter than the header",
        raw(c, Op::Close.code(), close[..4].to_vec(), reply()),
        S::STATUS_BUFFER_TOO_SMALL,
    );
    k.check(
        "input shorter than the request",
        raw(c, Op::Close.code(), close[..12].to_vec(), reply()),
        S::STATUS_BUFFER_TOO_SMALL,
    );
    let mut long = close.clone();
    long.extend_from_slice(&[0; 8]);
    k.check(
        "input longer than the request",
        raw(c, Op::Close.code(), long, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let mut version = close.clone();
    version[4] = 9;
    k.check(
        "unknown ABI version",
        raw(c, Op::Close.code(), version, reply()),
        S::STATUS_NOT_SUPPORTED,
    );
    let mut size = close.clone();
    size[0] = size[0].wrapping_add(4);
    k.check(
        "wrong size field",
        raw(c, Op::Close.code(), size, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let mut hdr_reserved = close.clone();
    hdr_reserved[6] = 1;
    k.check(
        "header reserved field set",
        raw(c, Op::Close.code(), hdr_reserved, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let reserved = bytes::<CloseRequest>(|m| m.reserved = 1);
    k.check(
        "request reserved field set",
        raw(c, Op::Close.code(), reserved, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let mode = bytes::<CloseRequest>(|m| m.mode = 77);
    k.check(
        "unknown close mode",
        raw(c, Op::Close.code(), mode, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let kind = bytes::<SocketRequest>(|m| {
        m.family = fam;
        m.kind = 9;
    });
    k.check(
        "unknown socket kind",
        raw(c, Op::Socket.code(), kind, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let family = bytes::<SocketRequest>(|m| {
        m.family = 1234;
        m.kind = SocketKind::Stream as u16;
    });
    k.check(
        "unknown address family",
        raw(c, Op::Socket.code(), family, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let stream = bytes::<SocketRequest>(|m| {
        m.family = fam;
        m.kind = SocketKind::Stream as u16;
    });
    k.check(
        "output too small for the reply",
        raw(c, Op::Socket.code(), stream.clone(), Output::Reply(4)),
        S::STATUS_BUFFER_TOO_SMALL,
    );
    k.check(
        "no output buffer for the reply",
        raw(c, Op::Socket.code(), stream, Output::Reply(0)),
        S::STATUS_BUFFER_TOO_SMALL,
    );
    k.check(
        "null handle",
        raw(c, Op::Cancel.code(), bytes::<HandleRequest>(|_| {}), reply()),
        S::STATUS_INVALID_HANDLE,
    );

    // Requests on real sockets.
    let sock = c.socket(fam, SocketKind::Stream).map_err(|e| e.to_string())?;
    let other_family = if addr.is_ipv4() { "[::1]:0" } else { "127.0.0.1:0" };
    let wrong = bytes::<AddressedRequest>(|m| {
        m.handle = sock;
        m.addr = SockAddr::from(other_family.parse::<std::net::SocketAddr>().expect("literal"));
    });
    k.check(
        "BIND to the other family's address",
        raw(c, Op::Bind.code(), wrong, Output::Reply(0)),
        S::STATUS_INVALID_ADDRESS,
    );
    let linger = bytes::<CloseRequest>(|m| {
        m.handle = sock;
        m.mode = CloseMode::Linger as u32;
    });
    k.check(
        "linger close without a timeout",
        raw(c, Op::Close.code(), linger, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
    let conn = c
        .connect_to(addr)
        .map_err(|e| format!("connect to {addr}: {}", e.status))?;
    let data = bytes::<DataRequest>(|m| m.handle = conn);
    k.check(
        "SEND with an empty data buffer",
        raw(c, Op::Send.code(), data.clone(), Output::Data(Vec::new())),
        S::STATUS_INVALID_BUFFER_SIZE,
    );
    k.check(
        "RECEIVE with an empty data buffer",
        raw(c, Op::Receive.code(), data, Output::Data(Vec::new())),
        S::STATUS_INVALID_BUFFER_SIZE,
    );
    let pointer = bytes::<DataRequest>(|m| {
        m.handle = conn;
        m.buffer = 0x1000;
        m.length = 4;
    });
    k.check(
        "SEND (direct) naming a kernel pointer",
        raw(c, Op::Send.code(), pointer, Output::Data(vec![1; 4])),
        S::STATUS_INVALID_PARAMETER,
    );
    let listen = c.socket(fam, SocketKind::Listen).map_err(|e| e.to_string())?;
    let on_listen = bytes::<DataRequest>(|m| m.handle = listen);
    k.check(
        "SEND on a listening socket",
        raw(c, Op::Send.code(), on_listen, Output::Data(vec![1; 4])),
        S::STATUS_NOT_SUPPORTED,
    );
    version_2_cases(c, &mut k, conn, listen);
    let _ = c.close(listen, CloseMode::Abortive, true);
    let _ = c.close(sock, CloseMode::Abortive, true);

    let not_refused = garbage(c, args.garbage);

    // Still serving: the socket connected above sends and closes gracefully.
    let sent = c
        .send(conn, pattern::bytes(0, SENT))
        .wait_timeout(Duration::from_secs(30))
        .is_some_and(|d| d.status == S::STATUS_SUCCESS && d.info == SENT);
    let closed = c
        .close(conn, CloseMode::Graceful, true)
        .is_ok_and(|cl| cl.teardown_status.is_success());
    let info = c.client_info().is_ok();
    let serves_after = sent && closed && info && c.statistics(Handle::NULL).is_ok();
    let (cases, failed) = k.finish();
    Ok(Outcome {
        ok: failed.is_empty() && not_refused == 0 && serves_after,
        cases,
        failed,
        garbage: args.garbage,
        garbage_not_refused: not_refused,
        serves_after,
    })
}

/// The fields, flags, options and request ABI version 2 added, given bad values (`docs/ABI.md`,
/// "Statuses for bad input"): refused by the driver before any WSK call, so the same statuses
/// under Wine.
fn version_2_cases(c: &Client, k: &mut Cases, conn: Handle, listen: Handle) {
    use NtStatus as S;
    let reply = || Output::Reply(64);
    let receive = |f: &dyn Fn(&mut DataRequest)| {
        bytes::<DataRequest>(|m| {
            m.handle = conn;
            f(m);
        })
    };
    let huge = receive(&|m| m.timeout_ms = 0x8000_0000);
    k.check(
        "RECEIVE with a timeout past the maximum",
        raw(c, Op::Receive.code(), huge, Output::Data(vec![0; 4])),
        S::STATUS_INVALID_PARAMETER,
    );
    let nodelay = receive(&|m| m.flags = DATA_FLAG_NODELAY);
    k.check(
        "RECEIVE with the send flag NODELAY",
        raw(c, Op::Receive.code(), nodelay, Output::Data(vec![0; 4])),
        S::STATUS_INVALID_PARAMETER,
    );
    let v1 = receive(&|m| {
        m.header.version = 1;
        m.timeout_ms = 100;
    });
    k.check(
        "version-1 RECEIVE with a timeout",
        raw(c, Op::Receive.code(), v1, Output::Data(vec![0; 4])),
        S::STATUS_INVALID_PARAMETER,
    );
    let wait = |h: Handle, version: u16| {
        bytes::<HandleRequest>(|m| {
            m.handle = h;
            m.header.version = version;
        })
    };
    k.check(
        "WAIT_PEER_CLOSE on a listening socket",
        raw(c, Op::WaitPeerClose.code(), wait(listen, ABI_VERSION), reply()),
        S::STATUS_NOT_SUPPORTED,
    );
    k.check(
        "WAIT_PEER_CLOSE in ABI version 1",
        raw(c, Op::WaitPeerClose.code(), wait(conn, 1), reply()),
        S::STATUS_NOT_SUPPORTED,
    );
    let option = |h: Handle, o: SocketOption, v: u32| {
        bytes::<OptionRequest>(|m| {
            m.handle = h;
            m.option = o as u32;
            m.value = v;
        })
    };
    k.check(
        "keepalive idle time 0",
        raw(
            c,
            Op::SetOption.code(),
            option(conn, SocketOption::KeepAliveIdle, 0),
            reply(),
        ),
        S::STATUS_INVALID_PARAMETER,
    );
    k.check(
        "SO_RCVTIMEO on a listening socket",
        raw(
            c,
            Op::SetOption.code(),
            option(listen, SocketOption::ReceiveTimeout, 10),
            reply(),
        ),
        S::STATUS_NOT_SUPPORTED,
    );
    let accept = bytes::<AcceptRequest>(|m| {
        m.handle = listen;
        m.reserved = 1;
    });
    k.check(
        "ACCEPT with its reserved field set",
        raw(c, Op::Accept.code(), accept, reply()),
        S::STATUS_INVALID_PARAMETER,
    );
}
