//! Conformance with what Wine's `dlls/ntoskrnl.exe/tests/driver_netio.c` asserts real Windows
//! does (our own checks of the same facts, through the provider trait). Each check runs under both
//! profiles where Wine claims the same result.
//!
//! Adapted: a NULL IRP cannot be expressed (every call carries a `Completion`); its meaningful
//! equivalent is a call whose arguments cannot work — it fails with STATUS_INVALID_PARAMETER and
//! its completion has run before the call returns, nothing left pending. A NULL `WSK_CLIENT`
//! (STATUS_INVALID_HANDLE) maps to a call on a socket that is already closed. A datagram socket
//! created with WSK_FLAG_LISTEN_SOCKET cannot be expressed ([`SocketKind`] is one or the other).

#![allow(clippy::many_single_char_names)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{AddrKind, Family, OpValue, Provider, SocketKind};
use wsksock_emu::testutil::{completion, socket_of, with_timeout, Blocking};
use wsksock_emu::{EmuBuffer, HostProvider, Profile};

const PROFILES: [Profile; 2] = [Profile::Windows, Profile::Wine8];
const BUFFER: usize = 256;
const CLIENT_STRING: &[u8] = b"Client test string 1.\0";
const SERVER_STRING: &[u8] = b"Server test string 1.\0";

#[test]
fn get_address_info() {
    with_timeout(LIMIT, || {
        for profile in PROFILES {
            let p = HostProvider::with_profile(profile).unwrap();
            // The NULL-IRP analog: nothing to resolve, refused before anything pends.
            let (done, w) = completion::<HostProvider>();
            assert!(p.resolve("", None, 12345, done).is_none());
            assert_eq!(
                w.poll().map(|o| o.status),
                Some(NtStatus::STATUS_INVALID_PARAMETER)
            );

            // An unknown name: pending, then STATUS_NOT_FOUND, nothing returned.
            let (done, w) = completion::<HostProvider>();
            assert!(
                p.resolve("dead.beef", None, 12345, done).is_some(),
                "STATUS_PENDING"
            );
            let out = w.wait();
            assert_eq!(out.status, NtStatus::STATUS_NOT_FOUND);
            assert!(matches!(out.value, OpValue::None));

            // A literal: success; every result is AF_INET 127.0.0.1 port 12345.
            let (done, w) = completion::<HostProvider>();
            assert!(p.resolve("127.0.0.1", None, 12345, done).is_some());
            let out = w.wait();
            assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
            let OpValue::Addresses(addrs) = out.value else {
                panic!("no addresses")
            };
            assert!(!addrs.is_empty());
            for a in addrs {
                assert_eq!(a, SocketAddr::from((Ipv4Addr::LOCALHOST, 12345)));
            }
            p.shutdown_and_assert_clean();
        }
    });
}

#[test]
fn listen_socket_accept_send_receive_and_close() {
    with_timeout(LIMIT, || {
        for profile in PROFILES {
            let p = HostProvider::with_profile(profile).unwrap();
            let b = Blocking::new(&p);
            let l = b.socket(Family::V4, SocketKind::Listen);
            // Bind to a fixed loopback port, retrying while it is taken, as the Wine test does.
            let mut port = 47_000u16;
            let addr = loop {
                let a = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                match b.bind(&l, a) {
                    NtStatus::STATUS_SUCCESS => break a,
                    NtStatus::STATUS_ADDRESS_ALREADY_EXISTS | NtStatus::STATUS_ADDRESS_ALREADY_ASSOCIATED => {
                        port += 1;
                    }
                    st => panic!("bind: {st:?}"),
                }
            };
            let (done, acc) = completion::<HostProvider>();
            assert!(p.accept(&l, done).is_some(), "STATUS_PENDING");
            let peer = std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                c.write_all(CLIENT_STRING).unwrap();
                let mut got = vec![0; BUFFER];
                c.read_exact(&mut got).unwrap();
                (c, got)
            });
            let out = acc.wait_for(Duration::from_secs(2));
            assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
            let OpValue::Accepted {
                socket,
                local,
                remote,
            } = out.value
            else {
                panic!("no socket")
            };
            assert_eq!(local, addr, "local address: the listening address");
            assert!(remote.is_ipv4() && remote.ip().is_loopback() && remote.port() != 0);

            let (done, recv) = completion::<HostProvider>();
            p.receive(&socket, EmuBuffer::zeroed(BUFFER), 0, done);
            let mut data = SERVER_STRING.to_vec();
            data.resize(BUFFER, 0);
            let out = b.send(&socket, &data);
            assert_eq!((out.status, out.bytes), (NtStatus::STATUS_SUCCESS, BUFFER));
            let out = recv.wait_for(Duration::from_secs(2));
            assert_eq!(
                (out.status, out.bytes),
                (NtStatus::STATUS_SUCCESS, CLIENT_STRING.len())
            );
            assert_eq!(out.buffer.unwrap().filled(out.bytes), CLIENT_STRING);
            let (_client, got) = peer.join().unwrap();
            assert_eq!(&got[..SERVER_STRING.len()], SERVER_STRING);

            let (done, w) = completion::<HostProvider>();
            p.close(&socket, done);
            let out = w.wait();
            assert_eq!((out.status, out.bytes), (NtStatus::STATUS_SUCCESS, 0));

            // An accept aborted by closing the listening socket.
            let (done, acc) = completion::<HostProvider>();
            assert!(p.accept(&l, done).is_some());
            assert_eq!(b.close(&l), NtStatus::STATUS_SUCCESS);
            let out = acc.wait_for(Duration::from_secs(2));
            assert_eq!((out.status, out.bytes), (NtStatus::STATUS_CANCELLED, 0));
            p.shutdown_and_assert_clean();
        }
    });
}

#[test]
fn connect_socket_needs_bind() {
    with_timeout(LIMIT, || {
        for profile in PROFILES {
            let p = HostProvider::with_profile(profile).unwrap();
            let b = Blocking::new(&p);
            let (server, server_addr) = peer_listener(Family::V4);
            let s = b.socket(Family::V4, SocketKind::Stream);

            // Connect before bind: STATUS_INVALID_DEVICE_STATE, completed before the call returns.
            let (done, w) = completion::<HostProvider>();
            assert!(p.connect(&s, server_addr, done).is_none());
            let out = w.poll().expect("completed synchronously");
            assert_eq!(
                (out.status, out.bytes),
                (NtStatus::STATUS_INVALID_DEVICE_STATE, 0)
            );

            assert_eq!(
                b.bind(&s, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
                NtStatus::STATUS_SUCCESS
            );
            assert_eq!(b.connect(&s, server_addr), NtStatus::STATUS_SUCCESS);
            let (_peer, _) = server.accept().unwrap();
            let (done, w) = completion::<HostProvider>();
            p.close(&s, done);
            let out = w.wait();
            assert_eq!((out.status, out.bytes), (NtStatus::STATUS_SUCCESS, 0));
            p.shutdown_and_assert_clean();
        }
    });
}

#[test]
fn bad_arguments_fail_synchronously() {
    with_timeout(LIMIT, || {
        for profile in PROFILES {
            let p = HostProvider::with_profile(profile).unwrap();
            let b = Blocking::new(&p);
            let (s, _peer) = connected(&p, Family::V4);
            // A receive with no room for data.
            let (done, w) = completion::<HostProvider>();
            assert!(p.receive(&s, EmuBuffer::zeroed(0), 0, done).is_none());
            assert_eq!(
                w.poll().map(|o| o.status),
                Some(NtStatus::STATUS_INVALID_PARAMETER)
            );
            b.close(&s);
            // The NULL-client analog: a socket that no longer exists.
            assert_eq!(
                b.get_address(&s, AddrKind::Local).status,
                NtStatus::STATUS_INVALID_HANDLE
            );
            assert_eq!(
                p.checker().take_violations().len(),
                1,
                "and the checker saw the misuse"
            );
            // Binding an address of the other family.
            let l = b.socket(Family::V4, SocketKind::Listen);
            assert_eq!(
                b.bind(&l, loopback(Family::V6)),
                NtStatus::STATUS_INVALID_PARAMETER
            );
            b.close(&l);
            p.shutdown_and_assert_clean();
        }
    });
}

#[test]
fn an_accepted_socket_is_a_connection_socket() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let (l, addr) = listening(&p, Family::V6);
        let _client = TcpStream::connect(addr).unwrap();
        let s = socket_of(b.accept(&l));
        assert_eq!(s.kind(), SocketKind::Stream);
        assert_eq!(s.family(), Family::V6);
        b.close(&s);
        b.close(&l);
        p.shutdown_and_assert_clean();
    });
}
