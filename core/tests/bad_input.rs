//! Bad input, one case per test: each gets its specific status and the engine keeps serving.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/

mod support;

use support::*;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{CloseMode, CloseRequest, DataRequest, Message, SocketKind, SocketRequest};
use wsksock_abi::{Handle, NtStatus, Op};

fn status_of(r: TReq) -> NtStatus {
    let (engine, provider) = engine();
    let client = engine.open_client().unwrap();
    let status = go(&engine, &client, r).status();
    // The engine keeps serving after refusing.
    let handle = go(&engine, &client, socket_req(AF_INET, SocketKind::Stream)).handle();
    assert_ne!(handle, Handle::NULL);
    provider.assert_clean();
    status
}

fn close_bytes() -> Vec<u8> {
    bytes(&CloseRequest::new_zeroed_with_header())
}

#[test]
fn short_request_is_buffer_too_small() {
    let mut b = close_bytes();
    b.truncate(12);
    assert_eq!(
        status_of(TReq::new(Op::Close, b)),
        NtStatus::STATUS_BUFFER_TOO_SMALL
    );
    assert_eq!(
        status_of(TReq::new(Op::Close, vec![])),
        NtStatus::STATUS_BUFFER_TOO_SMALL
    );
}

#[test]
fn oversized_request_is_invalid_parameter() {
    let mut b = close_bytes();
    b.extend_from_slice(&[0; 8]);
    assert_eq!(
        status_of(TReq::new(Op::Close, b)),
        NtStatus::STATUS_INVALID_PARAMETER
    );
}

#[test]
fn unknown_version_is_not_supported() {
    let mut b = close_bytes();
    b[4] = 9;
    assert_eq!(status_of(TReq::new(Op::Close, b)), NtStatus::STATUS_NOT_SUPPORTED);
}

#[test]
fn unknown_code_is_invalid_device_request() {
    assert_eq!(
        status_of(TReq::raw(0x0022_2003, close_bytes())),
        NtStatus::STATUS_INVALID_DEVICE_REQUEST
    );
    assert_eq!(
        status_of(TReq::raw(Op::Close.code() + 4 * 0x100, close_bytes())),
        NtStatus::STATUS_INVALID_DEVICE_REQUEST
    );
}

#[test]
fn stale_handle_is_invalid_handle() {
    let (e, p) = engine();
    let c = e.open_client().unwrap();
    let h = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
    go(&e, &c, close_req(h, CloseMode::Default, 0, false)).expect_ok();
    assert_eq!(
        go(&e, &c, send_req(h, b"x")).status(),
        NtStatus::STATUS_INVALID_HANDLE
    );
    let forged = Handle {
        index: h.index,
        generation: h.generation + 1,
    };
    assert_eq!(
        go(&e, &c, handle_req(Op::Statistics, forged)).status(),
        NtStatus::STATUS_INVALID_HANDLE
    );
    p.assert_clean();
}

#[test]
fn other_clients_handle_is_invalid_handle() {
    let (e, p) = engine();
    let owner = e.open_client().unwrap();
    let other = e.open_client().unwrap();
    let h = go(&e, &owner, socket_req(AF_INET, SocketKind::Stream)).handle();
    assert_eq!(
        go(&e, &other, recv_req(h, 1)).status(),
        NtStatus::STATUS_INVALID_HANDLE
    );
    assert_eq!(
        go(&e, &other, close_req(h, CloseMode::Abortive, 0, false)).status(),
        NtStatus::STATUS_INVALID_HANDLE
    );
    // ...and it did not close the owner's socket.
    go(&e, &owner, handle_req(Op::Statistics, h)).expect_ok();
    p.assert_clean();
}

#[test]
fn kernel_only_code_from_user_mode_is_access_denied() {
    let mut m = DataRequest::new_zeroed_with_header();
    m.buffer = 0xFFFF_8000_0000_1000;
    m.length = 16;
    let r = TReq::new(Op::SendKernel, bytes(&m)).user();
    assert_eq!(status_of(r), NtStatus::STATUS_ACCESS_DENIED);
}

#[test]
fn output_too_small_for_the_reply_is_buffer_too_small() {
    let r = socket_req(AF_INET, SocketKind::Stream).output(4);
    assert_eq!(status_of(r), NtStatus::STATUS_BUFFER_TOO_SMALL);
}

#[test]
fn reserved_fields_must_be_zero() {
    let mut m = CloseRequest::new_zeroed_with_header();
    m.reserved = 1;
    assert_eq!(
        status_of(TReq::new(Op::Close, bytes(&m))),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    let mut b = close_bytes();
    b[6] = 1; // header.reserved
    assert_eq!(
        status_of(TReq::new(Op::Close, b)),
        NtStatus::STATUS_INVALID_PARAMETER
    );
}

#[test]
fn unknown_enum_values_are_invalid_parameter() {
    let mut m = CloseRequest::new_zeroed_with_header();
    m.mode = 77;
    assert_eq!(
        status_of(TReq::new(Op::Close, bytes(&m))),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    let mut s = SocketRequest::new_zeroed_with_header();
    s.family = AF_INET;
    s.kind = 9;
    assert_eq!(
        status_of(TReq::new(Op::Socket, bytes(&s))),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    s.kind = SocketKind::Stream as u16;
    s.family = 1234;
    assert_eq!(
        status_of(TReq::new(Op::Socket, bytes(&s))),
        NtStatus::STATUS_INVALID_PARAMETER
    );
}

#[test]
fn linger_close_needs_a_timeout_and_others_none() {
    let mut m = CloseRequest::new_zeroed_with_header();
    m.mode = CloseMode::Linger as u32;
    assert_eq!(
        status_of(TReq::new(Op::Close, bytes(&m))),
        NtStatus::STATUS_INVALID_PARAMETER
    );
    m.mode = CloseMode::Graceful as u32;
    m.linger_seconds = 3;
    assert_eq!(
        status_of(TReq::new(Op::Close, bytes(&m))),
        NtStatus::STATUS_INVALID_PARAMETER
    );
}

#[test]
fn wrong_socket_kind_is_not_supported() {
    let (e, p) = engine();
    let c = e.open_client().unwrap();
    let h = go(&e, &c, socket_req(AF_INET, SocketKind::Datagram)).handle();
    assert_eq!(
        go(&e, &c, send_req(h, b"x")).status(),
        NtStatus::STATUS_NOT_SUPPORTED
    );
    assert_eq!(
        go(&e, &c, addr_req(Op::Connect, h, "127.0.0.1:1")).status(),
        NtStatus::STATUS_NOT_SUPPORTED
    );
    p.assert_clean();
}

#[test]
fn empty_data_buffer_is_invalid_buffer_size() {
    let (e, p) = engine();
    let c = e.open_client().unwrap();
    let h = connected(&e, &p, &c);
    assert_eq!(
        go(&e, &c, send_req(h, b"")).status(),
        NtStatus::STATUS_INVALID_BUFFER_SIZE
    );
    assert_eq!(
        go(&e, &c, recv_req(h, 0)).status(),
        NtStatus::STATUS_INVALID_BUFFER_SIZE
    );
}

#[test]
fn direct_code_with_a_kernel_pointer_is_invalid_parameter() {
    let f = Fixture::connected();
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = f.handle;
    m.buffer = 0x1000;
    m.length = 4;
    let send = TReq::new(Op::Send, bytes(&m)).with_data(vec![1; 4]);
    assert_eq!(f.go(send).status(), NtStatus::STATUS_INVALID_PARAMETER);
}

#[test]
fn address_of_the_wrong_family_is_invalid_address() {
    let (e, p) = engine();
    let c = e.open_client().unwrap();
    let h = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
    assert_eq!(
        go(&e, &c, addr_req(Op::Bind, h, "[::1]:0")).status(),
        NtStatus::STATUS_INVALID_ADDRESS
    );
    p.assert_clean();
}

#[test]
fn duplicate_to_an_unknown_client_is_invalid_parameter() {
    let (e, _p) = engine();
    let c = e.open_client().unwrap();
    let h = go(&e, &c, socket_req(AF_INET, SocketKind::Stream)).handle();
    assert_eq!(
        go(&e, &c, dup_req(h, 0xDEAD_0000_0001)).status(),
        NtStatus::STATUS_INVALID_PARAMETER
    );
}

#[test]
fn every_request_completes_exactly_once_even_when_refused() {
    let (e, _p) = engine();
    let c = e.open_client().unwrap();
    for code in [
        0,
        1,
        Op::Close.code(),
        Op::Send.code(),
        Op::SendKernel.code(),
        u32::MAX,
    ] {
        for input in [vec![], vec![0xFF; 3], close_bytes(), vec![0; 600]] {
            for user in [false, true] {
                let mut r = TReq::raw(code, input.clone());
                if user {
                    r = r.user();
                }
                let slot = go(&e, &c, r);
                assert_eq!(slot.completions(), 1, "code {code:#x}");
                assert!(slot.status().is_error());
            }
        }
    }
}
