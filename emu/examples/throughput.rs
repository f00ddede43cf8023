//! Throughput of the host provider's send path against a plain `TcpStream`, on loopback.
//!
//! `cargo run --release -p wsksock-emu --example throughput -- [MiB] [chunk KiB] [in flight]`
//! Sends MiB (default 1024) to a reader thread, once through a `TcpStream` and once through the
//! provider with up to `in flight` sends outstanding, and prints both rates.
#![allow(clippy::many_single_char_names)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Instant;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, CompletionSink, Family, OpOutput, Provider, SocketKind};
use wsksock_emu::testutil::Blocking;
use wsksock_emu::{EmuBuffer, HostProvider};

fn reader(l: &TcpListener, total: usize) -> std::thread::JoinHandle<usize> {
    let (mut s, _) = l.accept().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 20];
        let mut n = 0;
        while n < total {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => panic!("{e}"),
            }
        }
        n
    })
}

struct Back(mpsc::Sender<OpOutput<HostProvider>>);

impl CompletionSink<HostProvider> for Back {
    fn complete(self: Box<Self>, out: OpOutput<HostProvider>) {
        let _ = self.0.send(out);
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let mib = args.first().copied().unwrap_or(1024);
    let chunk = args.get(1).copied().unwrap_or(256) << 10;
    let in_flight = args.get(2).copied().unwrap_or(4);
    let total = mib << 20;
    let data = vec![7u8; chunk];

    // Plain TcpStream.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let r = reader(&l, total);
    let t = Instant::now();
    let mut sent = 0;
    while sent < total {
        c.write_all(&data).unwrap();
        sent += chunk;
    }
    drop(c);
    assert_eq!(r.join().unwrap(), total);
    let plain = t.elapsed();

    // The provider, buffers recycled as the completions hand them back.
    let p = HostProvider::new().unwrap();
    let b = Blocking::new(&p);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = b.socket(Family::V4, SocketKind::Stream);
    assert_eq!(b.bind(&s, "0.0.0.0:0".parse().unwrap()), NtStatus::STATUS_SUCCESS);
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let connect_done = {
        let (done, w) = wsksock_emu::testutil::completion::<HostProvider>();
        p.connect(&s, addr, done);
        w
    };
    let r = reader(&l, total);
    assert_eq!(connect_done.status(), NtStatus::STATUS_SUCCESS);
    let t = Instant::now();
    let mut free: Vec<EmuBuffer> = (0..in_flight).map(|_| EmuBuffer::new(data.clone())).collect();
    let (mut issued, mut done) = (0, 0);
    while done < total {
        while issued < total {
            let Some(buf) = free.pop() else { break };
            p.send(&s, buf, 0, Completion::new(Box::new(Back(tx.clone()))));
            issued += chunk;
        }
        let out = rx.recv().unwrap();
        assert_eq!(out.status, NtStatus::STATUS_SUCCESS);
        done += out.bytes;
        free.push(out.buffer.unwrap());
    }
    assert_eq!(b.disconnect(&s, false), NtStatus::STATUS_SUCCESS);
    assert_eq!(r.join().unwrap(), total);
    let emu = t.elapsed();
    b.close(&s);
    p.shutdown_and_assert_clean();

    #[allow(clippy::cast_precision_loss)]
    let rate = |d: std::time::Duration| total as f64 / d.as_secs_f64() / f64::from(1u32 << 20);
    println!("plain TcpStream: {:8.0} MiB/s ({plain:?})", rate(plain));
    println!(
        "host provider:   {:8.0} MiB/s ({emu:?})  ratio {:.2}",
        rate(emu),
        plain.as_secs_f64() / emu.as_secs_f64()
    );
}
