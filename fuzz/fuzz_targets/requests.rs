//! Request decoding and dispatch of arbitrary requests.
//!
//! 1. The input's bytes go to `parse::decode` for every message type: it never panics, and
//!    what it accepts is exactly the bytes it was given, of the type's size and version.
//! 2. The input, read as (requestor mode, control code, output buffer, a socket to create first
//!    and name in the request, input buffer), is dispatched through the engine on a fresh
//!    client: it completes (now, or at the client's cleanup) with a named status; METHOD_NEITHER
//!    codes from user mode are refused with STATUS_ACCESS_DENIED, unknown codes with
//!    STATUS_INVALID_DEVICE_REQUEST; nothing is left.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::Duration;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::*;
use wsksock_abi::{parse, Handle, NtStatus, Op};
use wsksock_fuzz::{harness, resolves_locally, settle};
use wsksock_tools::channel::{Channel, Output};
use wsksock_tools::Client;
use zerocopy::IntoBytes;

fn check_decode<M: Message + PartialEq + core::fmt::Debug>(bytes: &[u8]) {
    match parse::decode::<M>(bytes) {
        Ok(m) => {
            // Any version the driver accepts (docs/ABI.md, "Versions"), the struct's size in it,
            // read into the current struct as a prefix (a version-1 struct that grew: the rest 0).
            let version = parse::header(bytes).map(|h| h.version).unwrap_or(0);
            assert!(
                (ABI_VERSION_MIN..=ABI_VERSION).contains(&version),
                "decode accepted version {version}"
            );
            assert_eq!(u32::try_from(bytes.len()).ok(), M::size_in(version));
            assert_eq!(
                m.as_bytes().get(..bytes.len()),
                Some(bytes),
                "decode accepted bytes it does not round-trip"
            );
        }
        Err(s) => assert!(
            matches!(
                s,
                NtStatus::STATUS_BUFFER_TOO_SMALL
                    | NtStatus::STATUS_NOT_SUPPORTED
                    | NtStatus::STATUS_INVALID_PARAMETER
            ),
            "decode refused with {s:?}"
        ),
    }
}

fn decode_all(bytes: &[u8]) {
    check_decode::<SocketRequest>(bytes);
    check_decode::<HandleRequest>(bytes);
    check_decode::<AddressedRequest>(bytes);
    check_decode::<ListenRequest>(bytes);
    check_decode::<DataRequest>(bytes);
    check_decode::<DatagramRequest>(bytes);
    check_decode::<ShutdownRequest>(bytes);
    check_decode::<OptionRequest>(bytes);
    check_decode::<GetAddressRequest>(bytes);
    check_decode::<DuplicateRequest>(bytes);
    check_decode::<CloseRequest>(bytes);
    check_decode::<ResolveRequest>(bytes);
    check_decode::<ClientInfoRequest>(bytes);
    check_decode::<HandleReply>(bytes);
    check_decode::<CloseReply>(bytes);
    check_decode::<StatisticsReply>(bytes);
    check_decode::<ResolveReply>(bytes);
    let _ = parse::c_str(bytes);
    if let Ok(r) = parse::decode::<AddressedRequest>(bytes) {
        let _ = r.addr.to_socket_addr();
    }
}

#[derive(Arbitrary, Debug)]
enum Code {
    Ours(u8),
    Raw(u32),
}

#[derive(Arbitrary, Debug)]
struct Raw {
    kernel: bool,
    code: Code,
    data_output: bool,
    output_len: u16,
    /// A socket to create first and name in the request (bytes 8..16, where every request that
    /// names a handle has it): 0 none, 1 stream, 2 bound datagram, 3 bound listening, 4 stream
    /// connected to the peer.
    socket: u8,
    input: Vec<u8>,
}

/// Creates the socket `kind` asks for; its handle, if it worked.
fn make_socket(c: &Client, kind: u8) -> Option<Handle> {
    let local: SocketAddr = "127.0.0.1:0".parse().ok()?;
    match kind % 5 {
        1 => c.socket(AF_INET, SocketKind::Stream).ok(),
        2 | 3 => {
            let k = if kind % 5 == 2 {
                SocketKind::Datagram
            } else {
                SocketKind::Listen
            };
            let h = c.socket(AF_INET, k).ok()?;
            c.bind(h, local).ok()?;
            Some(h)
        }
        4 => c.connect_to(harness().sink).ok(),
        _ => None,
    }
}

fuzz_target!(|bytes: &[u8]| {
    decode_all(bytes);
    let Ok(raw) = Raw::arbitrary_take_rest(Unstructured::new(bytes)) else {
        return;
    };
    decode_all(&raw.input);
    let code = match raw.code {
        Code::Ours(i) => Op::ALL[usize::from(i) % Op::ALL.len()].code(),
        Code::Raw(c) => c,
    };
    if Op::from_code(code) == Some(Op::Resolve) && !resolves_locally(&raw.input) {
        return;
    }
    let h = harness();
    let chan = if raw.kernel {
        h.device.open_kernel()
    } else {
        h.device.open()
    }
    .expect("open a client");
    let client = Client::new(chan);
    let mut input = raw.input;
    if let Some(handle) = make_socket(&client, raw.socket) {
        if input.len() >= 16 {
            input[8..16].copy_from_slice(handle.as_bytes());
        }
    }
    let len = usize::from(raw.output_len % 4096);
    let output = if raw.data_output {
        Output::Data(vec![0x5A; len])
    } else {
        Output::Reply(len)
    };
    let p = client.channel().submit(code, input, output);
    let early = p.wait_timeout(Duration::from_millis(20));
    if let Some(c) = &early {
        match Op::from_code(code) {
            None => assert_eq!(c.status, NtStatus::STATUS_INVALID_DEVICE_REQUEST),
            Some(op) if op.is_kernel_only() && !raw.kernel => {
                assert_eq!(c.status, NtStatus::STATUS_ACCESS_DENIED);
            }
            Some(_) => {}
        }
    }
    drop(client);
    settle(&[p]);
});
