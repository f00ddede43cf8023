//! Races: several threads send, receive and cancel on the same sockets while another closes them,
//! against echoing peers, in both completion modes. Every operation must complete exactly once,
//! give its buffer back, and the checker must stay clean.

mod common;

use common::*;
use parking_lot::RwLock;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_abi::NtStatus;
use wsksock_core::{Buffer, Completion, CompletionSink, Family, OpOutput, Provider};
use wsksock_emu::fault::SplitMix64;
use wsksock_emu::{EmuBuffer, HostOp, HostProvider, HostSocket};

#[derive(Default)]
struct Counts {
    issued: AtomicUsize,
    completed: AtomicUsize,
    cancelled: AtomicUsize,
}

struct Count {
    counts: Arc<Counts>,
    len: usize,
}

impl CompletionSink<HostProvider> for Count {
    fn complete(self: Box<Self>, out: OpOutput<HostProvider>) {
        assert_eq!(
            out.buffer.map(|b| b.len()),
            Some(self.len),
            "buffer given back whole"
        );
        assert!(out.bytes <= self.len);
        if out.status == NtStatus::STATUS_CANCELLED {
            self.counts.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        self.counts.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The test's rundown: calls hold it shared, the close holds it exclusively, so no call is in
/// progress when close is called and none follows it (the engine's job in the product).
struct Guarded {
    s: HostSocket,
    closed: RwLock<bool>,
}

fn echo_peer(mut peer: std::net::TcpStream) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if peer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

fn worker(p: &HostProvider, g: &Guarded, counts: &Arc<Counts>, seed: u64, until: Instant) {
    let mut rng = SplitMix64::new(seed);
    let mut ops: Vec<HostOp> = Vec::new();
    while Instant::now() < until {
        let choice = rng.up_to(9);
        if choice >= 8 {
            // A cancel is a call on the operation's socket: like the others, never during or
            // after its close (the checker records one that is).
            let closed = g.closed.read();
            if *closed {
                return;
            }
            if let Some(op) = ops.get(usize::try_from(rng.up_to(ops.len() as u64)).unwrap_or(0)) {
                p.cancel(op);
            }
            drop(closed);
            continue;
        }
        let completed = counts.completed.load(Ordering::SeqCst);
        let outstanding = counts.issued.load(Ordering::SeqCst).saturating_sub(completed);
        if outstanding > 512 {
            // Bound the memory held by pending operations.
            std::thread::yield_now();
            continue;
        }
        let closed = g.closed.read();
        if *closed {
            return;
        }
        let len = usize::try_from(1 + rng.up_to(64 << 10)).unwrap();
        let sink = Box::new(Count {
            counts: Arc::clone(counts),
            len,
        });
        counts.issued.fetch_add(1, Ordering::Relaxed);
        let op = if choice < 4 {
            p.send(&g.s, EmuBuffer::zeroed(len), 0, Completion::new(sink))
        } else {
            p.receive(&g.s, EmuBuffer::zeroed(len), 0, Completion::new(sink))
        };
        drop(closed);
        if let Some(op) = op {
            ops.push(op);
            if ops.len() > 32 {
                ops.remove(0);
            }
        }
    }
}

fn race(p: &HostProvider, seed: u64) {
    let counts = Arc::new(Counts::default());
    let mut rng = SplitMix64::new(seed);
    let mut peers = Vec::new();
    let mut threads = Vec::new();
    for c in 0..4u64 {
        let family = if c % 2 == 0 { Family::V4 } else { Family::V6 };
        let (s, peer) = connected(p, family);
        peers.push(echo_peer(peer));
        let g = Arc::new(Guarded {
            s,
            closed: RwLock::new(false),
        });
        let until = Instant::now() + Duration::from_millis(150 + rng.up_to(150));
        for w in 0..2u64 {
            let (p, g, counts) = (p.clone(), Arc::clone(&g), Arc::clone(&counts));
            let seed = rng.next_u64() ^ w;
            threads.push(std::thread::spawn(move || worker(&p, &g, &counts, seed, until)));
        }
        let (p, g) = (p.clone(), Arc::clone(&g));
        let close_at = Duration::from_millis(50 + rng.up_to(250));
        let abortive_first = rng.up_to(1) == 1;
        threads.push(std::thread::spawn(move || {
            std::thread::sleep(close_at);
            let mut closed = g.closed.write();
            if abortive_first {
                let (done, w) = wsksock_emu::testutil::completion::<HostProvider>();
                p.disconnect(&g.s, true, done);
                w.wait();
            }
            let (done, w) = wsksock_emu::testutil::completion::<HostProvider>();
            p.close(&g.s, done);
            *closed = true;
            drop(closed);
            assert_eq!(w.status(), NtStatus::STATUS_SUCCESS);
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    for t in peers {
        t.join().unwrap();
    }
    // Every operation completed, exactly once (a second completion would overcount).
    let deadline = Instant::now() + Duration::from_secs(5);
    while counts.completed.load(Ordering::SeqCst) < counts.issued.load(Ordering::SeqCst)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        counts.completed.load(Ordering::SeqCst),
        counts.issued.load(Ordering::SeqCst)
    );
    let (issued, cancelled) = (
        counts.issued.load(Ordering::SeqCst),
        counts.cancelled.load(Ordering::SeqCst),
    );
    eprintln!("seed {seed}: {issued} operations, {cancelled} cancelled");
    assert!(issued > 0 && cancelled > 0, "the race exercised cancel and close");
}

#[test]
fn sends_receives_cancels_and_closes_race_cleanly() {
    for seed in [1u64, 2, 3] {
        each_mode(move |p| {
            race(&p, seed);
            p.shutdown_and_assert_clean();
        });
    }
}
