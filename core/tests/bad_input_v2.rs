//! Bad input in the fields, flags, options and request that ABI version 2 added: zero, huge,
//! out of range, reserved, the wrong socket kind, the wrong version — each gets the status
//! `docs/ABI.md` documents, and the engine keeps serving.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/

mod support;

use support::*;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::*;
use wsksock_abi::{Handle, NtStatus, Op};

/// A timeout past the maximum that is not TIMEOUT_INFINITE.
const HUGE: [u32; 3] = [TIMEOUT_MAX_MS + 1, 0xFFFF_FFFE, 0x8000_0000];

fn status(f: &Fixture, r: TReq) -> NtStatus {
    f.go(r).status()
}

fn data(op: Op, h: Handle, flags: u32, timeout_ms: u32) -> TReq {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    m.flags = flags;
    m.timeout_ms = timeout_ms;
    TReq::new(op, bytes(&m)).with_data(vec![0; 8])
}

fn datagram(op: Op, h: Handle, timeout_ms: u32, reserved: u32) -> TReq {
    let mut m = DatagramRequest::new_zeroed_with_header();
    m.handle = h;
    m.timeout_ms = timeout_ms;
    m.reserved = reserved;
    if op == Op::SendTo {
        m.addr = wsksock_abi::SockAddr::from("127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap());
    }
    TReq::new(op, bytes(&m)).with_data(vec![0; 64])
}

fn option(h: Handle, o: SocketOption, value: u32, value2: u32) -> TReq {
    let mut m = OptionRequest::new_zeroed_with_header();
    m.handle = h;
    m.option = o as u32;
    m.value = value;
    m.value2 = value2;
    TReq::new(Op::SetOption, bytes(&m))
}

fn resolve(timeout_ms: u32, reserved3: u32) -> TReq {
    let mut m = ResolveRequest::new_zeroed_with_header();
    m.node[..9].copy_from_slice(b"localhost");
    m.timeout_ms = timeout_ms;
    m.reserved3 = reserved3;
    TReq::new(Op::Resolve, bytes(&m))
}

fn accept(h: Handle, timeout_ms: u32, reserved: u32) -> TReq {
    let mut m = AcceptRequest::new_zeroed_with_header();
    m.handle = h;
    m.timeout_ms = timeout_ms;
    m.reserved = reserved;
    TReq::new(Op::Accept, bytes(&m))
}

fn connect(h: Handle, timeout_ms: u32) -> TReq {
    let mut m = AddressedRequest::new_zeroed_with_header();
    m.handle = h;
    m.addr = wsksock_abi::SockAddr::from("127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap());
    m.timeout_ms = timeout_ms;
    TReq::new(Op::Connect, bytes(&m))
}

/// The socket still serves after the refusals.
fn still_serves(f: &Fixture) {
    let s = f.go(send_req(f.handle, b"ok"));
    assert!(f.provider.complete_first(CallKind::Send));
    assert_eq!(s.status(), NtStatus::STATUS_SUCCESS);
    f.provider.assert_clean();
    f.unload_clean();
}

#[test]
fn huge_timeouts_are_invalid_parameter_on_every_request_that_has_one() {
    let f = Fixture::connected();
    let l = listening(&f.engine, &f.provider, &f.client);
    let d = f.go(socket_req(AF_INET, SocketKind::Datagram)).handle();
    for t in HUGE {
        let bad = NtStatus::STATUS_INVALID_PARAMETER;
        assert_eq!(status(&f, connect(f.handle, t)), bad, "CONNECT {t:#x}");
        assert_eq!(status(&f, accept(l, t, 0)), bad, "ACCEPT {t:#x}");
        assert_eq!(status(&f, data(Op::Send, f.handle, 0, t)), bad, "SEND {t:#x}");
        assert_eq!(
            status(&f, data(Op::Receive, f.handle, 0, t)),
            bad,
            "RECEIVE {t:#x}"
        );
        assert_eq!(status(&f, datagram(Op::SendTo, d, t, 0)), bad, "SEND_TO {t:#x}");
        assert_eq!(
            status(&f, datagram(Op::ReceiveFrom, d, t, 0)),
            bad,
            "RECEIVE_FROM {t:#x}"
        );
        assert_eq!(status(&f, resolve(t, 0)), bad, "RESOLVE {t:#x}");
    }
    assert_eq!(f.provider.timers(), 0, "nothing was started");
    still_serves(&f);
}

#[test]
fn the_largest_timeout_and_infinite_are_accepted() {
    let f = Fixture::connected();
    let a = f.go(data(Op::Receive, f.handle, 0, TIMEOUT_MAX_MS));
    let b = f.go(data(Op::Receive, f.handle, 0, TIMEOUT_INFINITE));
    assert!(!a.is_done() && !b.is_done());
    assert_eq!(f.provider.timer_delays(), vec![u64::from(TIMEOUT_MAX_MS)]);
    still_serves(&f);
}

#[test]
fn a_zero_timeout_means_the_socket_default_not_an_immediate_deadline() {
    let f = Fixture::connected();
    let r = f.go(data(Op::Receive, f.handle, 0, TIMEOUT_DEFAULT));
    assert!(!r.is_done());
    assert_eq!(f.provider.timers(), 0, "no SO_RCVTIMEO set: no deadline");
    still_serves(&f);
}

#[test]
fn a_timeout_on_bind_is_invalid_parameter() {
    let (engine, provider) = engine();
    let client = engine.open_client().unwrap();
    let handle = go(&engine, &client, socket_req(AF_INET, SocketKind::Stream)).handle();
    let mut req = AddressedRequest::new_zeroed_with_header();
    req.handle = handle;
    req.addr = wsksock_abi::SockAddr::from("0.0.0.0:0".parse::<std::net::SocketAddr>().unwrap());
    req.timeout_ms = 5;
    assert_eq!(
        go(&engine, &client, TReq::new(Op::Bind, bytes(&req))).status(),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    unload_clean(&engine, &provider);
    provider.assert_clean();
}

#[test]
fn new_reserved_fields_must_be_zero() {
    let f = Fixture::connected();
    let l = listening(&f.engine, &f.provider, &f.client);
    let d = f.go(socket_req(AF_INET, SocketKind::Datagram)).handle();
    let bad = NtStatus::STATUS_INVALID_PARAMETER;
    assert_eq!(status(&f, accept(l, 0, 1)), bad);
    assert_eq!(status(&f, datagram(Op::ReceiveFrom, d, 0, 1)), bad);
    assert_eq!(status(&f, resolve(0, 1)), bad);
    still_serves(&f);
}

#[test]
fn data_flags_are_per_direction() {
    let f = Fixture::connected();
    let bad = NtStatus::STATUS_INVALID_PARAMETER;
    assert_eq!(status(&f, data(Op::Receive, f.handle, DATA_FLAG_NODELAY, 0)), bad);
    assert_eq!(status(&f, data(Op::Send, f.handle, DATA_FLAG_WAITALL, 0)), bad);
    assert_eq!(status(&f, data(Op::Send, f.handle, 0x400, 0)), bad);
    assert!(f.provider.data_flags().is_empty(), "nothing reached the provider");
    still_serves(&f);
}

#[test]
fn socket_timeouts_refuse_huge_values_extra_values_and_listening_sockets() {
    let f = Fixture::connected();
    let l = listening(&f.engine, &f.provider, &f.client);
    for o in [SocketOption::ReceiveTimeout, SocketOption::SendTimeout] {
        for v in HUGE {
            assert_eq!(
                status(&f, option(f.handle, o, v, 0)),
                NtStatus::STATUS_INVALID_PARAMETER,
                "{o:?} {v:#x}"
            );
        }
        assert_eq!(
            status(&f, option(f.handle, o, TIMEOUT_INFINITE, 0)),
            NtStatus::STATUS_INVALID_PARAMETER,
            "{o:?}: 0 is 'none', not INFINITE"
        );
        assert_eq!(
            status(&f, option(f.handle, o, 10, 1)),
            NtStatus::STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            status(&f, option(l, o, 10, 0)),
            NtStatus::STATUS_NOT_SUPPORTED,
            "{o:?} on a listener"
        );
        assert_eq!(
            status(&f, option(f.handle, o, 0, 0)),
            NtStatus::STATUS_SUCCESS,
            "0: none"
        );
    }
    still_serves(&f);
}

#[test]
fn keepalive_tuning_refuses_zero_huge_and_non_stream_sockets() {
    let f = Fixture::connected();
    let l = listening(&f.engine, &f.provider, &f.client);
    let d = f.go(socket_req(AF_INET, SocketKind::Datagram)).handle();
    let cases = [
        (SocketOption::KeepAliveIdle, KEEPALIVE_MAX_SECONDS),
        (SocketOption::KeepAliveInterval, KEEPALIVE_MAX_SECONDS),
        (SocketOption::KeepAliveCount, KEEPALIVE_MAX_PROBES),
    ];
    for (o, max) in cases {
        for v in [0, max + 1, u32::MAX] {
            assert_eq!(
                status(&f, option(f.handle, o, v, 0)),
                NtStatus::STATUS_INVALID_PARAMETER,
                "{o:?} {v}"
            );
        }
        assert_eq!(
            status(&f, option(f.handle, o, 1, 1)),
            NtStatus::STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            status(&f, option(d, o, 1, 0)),
            NtStatus::STATUS_NOT_SUPPORTED,
            "{o:?} on UDP"
        );
        assert_eq!(
            status(&f, option(l, o, 1, 0)),
            NtStatus::STATUS_NOT_SUPPORTED,
            "{o:?} on a listener"
        );
    }
    assert!(
        !f.provider.calls_on(f.sock).contains(&CallKind::SetOption),
        "no refused value reached WskControlSocket"
    );
    // The extremes are passed on.
    let ok = f.go(option(
        f.handle,
        SocketOption::KeepAliveCount,
        KEEPALIVE_MAX_PROBES,
        0,
    ));
    assert_eq!(ok.status(), NtStatus::STATUS_SUCCESS);
    assert!(f.provider.calls_on(f.sock).contains(&CallKind::SetOption));
    still_serves(&f);
}

#[test]
fn wait_peer_close_refuses_other_kinds_short_output_and_version_1() {
    let f = Fixture::connected();
    let l = listening(&f.engine, &f.provider, &f.client);
    let d = f.go(socket_req(AF_INET, SocketKind::Datagram)).handle();
    assert_eq!(
        status(&f, handle_req(Op::WaitPeerClose, l)),
        NtStatus::STATUS_NOT_SUPPORTED
    );
    assert_eq!(
        status(&f, handle_req(Op::WaitPeerClose, d)),
        NtStatus::STATUS_NOT_SUPPORTED
    );
    assert_eq!(
        status(&f, handle_req(Op::WaitPeerClose, f.handle).output(15)),
        NtStatus::STATUS_BUFFER_TOO_SMALL
    );
    let mut v1 = HandleRequest::new_zeroed_with_header();
    v1.header.version = 1;
    v1.handle = f.handle;
    assert_eq!(
        status(&f, TReq::new(Op::WaitPeerClose, bytes(&v1))),
        NtStatus::STATUS_NOT_SUPPORTED,
        "a request version 1 does not have"
    );
    assert!(f.provider.pending_of(CallKind::WaitPeerClose).is_empty());
    still_serves(&f);
}

#[test]
fn version_1_requests_cannot_use_version_2_fields() {
    let f = Fixture::connected();
    let mut m = DataRequest::new_zeroed_with_header();
    m.header.version = 1;
    m.handle = f.handle;
    m.timeout_ms = 100;
    assert_eq!(
        status(&f, TReq::new(Op::Receive, bytes(&m)).with_data(vec![0; 4])),
        NtStatus::STATUS_INVALID_PARAMETER,
        "the reserved field of version 1"
    );
    let mut o = OptionRequest::new_zeroed_with_header();
    o.header.version = 1;
    o.handle = f.handle;
    o.option = SocketOption::KeepAliveIdle as u32;
    o.value = 5;
    assert_eq!(
        status(&f, TReq::new(Op::SetOption, bytes(&o))),
        NtStatus::STATUS_INVALID_PARAMETER,
        "an option version 1 does not have"
    );
    still_serves(&f);
}
