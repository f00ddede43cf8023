//! Shared helpers of the emulator's integration tests: real host peers on loopback.
#![allow(dead_code, clippy::many_single_char_names)]

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{Family, SocketKind};
use wsksock_emu::testutil::{socket_of, with_timeout, Blocking};
use wsksock_emu::{CompletionMode, Config, HostProvider, HostSocket};

/// Every test's time limit.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The loopback address of a family, port 0.
pub fn loopback(f: Family) -> SocketAddr {
    match f {
        Family::V4 => (Ipv4Addr::LOCALHOST, 0).into(),
        Family::V6 => (Ipv6Addr::LOCALHOST, 0).into(),
    }
}

/// The wildcard address of a family, port 0.
pub fn any(f: Family) -> SocketAddr {
    match f {
        Family::V4 => (Ipv4Addr::UNSPECIFIED, 0).into(),
        Family::V6 => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// A std listener on loopback.
pub fn peer_listener(f: Family) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(loopback(f)).expect("peer listener");
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A provider socket connected to a real peer: (our socket, the peer's stream).
pub fn connected(p: &HostProvider, f: Family) -> (HostSocket, TcpStream) {
    let b = Blocking::new(p);
    let (l, addr) = peer_listener(f);
    let s = b.socket(f, SocketKind::Stream);
    assert_eq!(b.bind(&s, any(f)), NtStatus::STATUS_SUCCESS);
    assert_eq!(b.connect(&s, addr), NtStatus::STATUS_SUCCESS);
    let (peer, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (s, peer)
}

/// A listening provider socket on loopback: (socket, its address).
pub fn listening(p: &HostProvider, f: Family) -> (HostSocket, SocketAddr) {
    let b = Blocking::new(p);
    let s = b.socket(f, SocketKind::Listen);
    assert_eq!(b.bind(&s, loopback(f)), NtStatus::STATUS_SUCCESS);
    let out = b.get_address(&s, wsksock_core::AddrKind::Local);
    let wsksock_core::OpValue::Address(addr) = out.value else {
        panic!("no local address: {:?}", out.status)
    };
    (s, addr)
}

/// Accepts one connection on a provider listening socket from a new std client.
pub fn accepted(p: &HostProvider, f: Family) -> (HostSocket, TcpStream, HostSocket) {
    let b = Blocking::new(p);
    let (l, addr) = listening(p, f);
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let s = socket_of(b.accept(&l));
    (s, client, l)
}

/// The test pattern: byte i is i % 251.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

/// Reads until EOF; returns the bytes and the error that ended the read, if any.
pub fn read_to_end(peer: &mut TcpStream) -> (Vec<u8>, Option<std::io::Error>) {
    let mut v = Vec::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return (v, None),
            Ok(n) => v.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (v, Some(e)),
        }
    }
}

/// Runs `f` against a fresh provider in each completion mode (inline, then deferred), each
/// under the time limit.
pub fn each_mode(f: impl Fn(HostProvider) + Send + Sync + 'static) {
    let f = std::sync::Arc::new(f);
    for mode in [CompletionMode::Inline, CompletionMode::Deferred] {
        let f = std::sync::Arc::clone(&f);
        with_timeout(LIMIT, move || {
            let p = HostProvider::with_config(Config::default().completions(mode)).unwrap();
            f(p);
        });
    }
}
