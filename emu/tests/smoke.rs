//! Smoke test: one round trip against a real peer.
mod common;
use common::*;
use std::io::{Read, Write};
use wsksock_abi::NtStatus;
use wsksock_core::Family;
use wsksock_emu::testutil::{with_timeout, Blocking};
use wsksock_emu::HostProvider;

#[test]
fn roundtrip() {
    with_timeout(LIMIT, || {
        let p = HostProvider::new().unwrap();
        let b = Blocking::new(&p);
        let (s, mut peer) = connected(&p, Family::V4);
        let out = b.send(&s, b"hello");
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        assert_eq!(out.bytes, 5);
        let mut buf = [0; 5];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        peer.write_all(b"world").unwrap();
        assert_eq!(b.receive(&s, 100, 0).unwrap(), b"world");
        assert_eq!(b.disconnect(&s, false), NtStatus::STATUS_SUCCESS);
        let (rest, err) = read_to_end(&mut peer);
        assert!(rest.is_empty() && err.is_none());
        assert_eq!(b.close(&s), NtStatus::STATUS_SUCCESS);
        p.shutdown_and_assert_clean();
    });
}
