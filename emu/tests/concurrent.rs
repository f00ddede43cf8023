//! Host provider in [`CompletionMode::Concurrent`]: completions and timer callbacks run on the
//! delivery threads, concurrently and reordered — the close's completion may overtake those of
//! the operations it cancelled.

mod common;

use common::*;
use std::sync::mpsc;
use std::time::Duration;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, CompletionSink, Family, OpOutput, Provider};
use wsksock_emu::testutil::{with_timeout, Blocking};
use wsksock_emu::{CompletionMode, Config, EmuBuffer, HostProvider};

fn concurrent() -> HostProvider {
    HostProvider::with_config(Config::default().completions(CompletionMode::Concurrent)).unwrap()
}

/// Reports which operation completed, with what, on which thread.
struct Report {
    tag: usize,
    tx: mpsc::Sender<(usize, NtStatus, String)>,
}

impl CompletionSink<HostProvider> for Report {
    fn complete(self: Box<Self>, out: OpOutput<HostProvider>) {
        let thread = std::thread::current().name().unwrap_or("").to_string();
        let _ = self.tx.send((self.tag, out.status, thread));
    }
}

#[test]
fn completions_and_timers_run_on_the_delivery_threads() {
    with_timeout(LIMIT, || {
        let p = concurrent();
        let (s, mut peer) = connected(&p, Family::V4);
        let (tx, rx) = mpsc::channel();
        let done = Completion::new(Box::new(Report {
            tag: 0,
            tx: tx.clone(),
        }));
        assert!(
            p.send(&s, EmuBuffer::from(&b"hello"[..]), 0, done).is_none(),
            "the send finished during the call"
        );
        let (_, status, thread) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(status, NtStatus::STATUS_SUCCESS);
        assert!(
            thread.starts_with("wsksock-emu-deliver-"),
            "completed on {thread:?}"
        );
        let mut got = [0; 5];
        std::io::Read::read_exact(&mut peer, &mut got).unwrap();
        assert_eq!(&got, b"hello");
        let (ttx, trx) = mpsc::channel();
        let t = p
            .new_timer(Box::new(move |_| {
                let _ = ttx.send(std::thread::current().name().unwrap_or("").to_string());
            }))
            .unwrap();
        p.arm_timer(&t, 1, 0);
        let thread = trx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            thread.starts_with("wsksock-emu-deliver-"),
            "timer ran on {thread:?}"
        );
        assert_eq!(Blocking::new(&p).close(&s), NtStatus::STATUS_SUCCESS);
        p.shutdown_and_assert_clean();
    });
}

#[test]
fn a_close_completion_may_overtake_the_completions_it_caused() {
    const RECEIVES: usize = 16;
    with_timeout(LIMIT, || {
        let p = concurrent();
        let mut overtaken = false;
        for _ in 0..50 {
            let (s, _peer) = connected(&p, Family::V4);
            let (tx, rx) = mpsc::channel();
            for tag in 1..=RECEIVES {
                let done = Completion::new(Box::new(Report { tag, tx: tx.clone() }));
                assert!(p.receive(&s, EmuBuffer::zeroed(8), 0, done).is_some());
            }
            let done = Completion::new(Box::new(Report { tag: 0, tx }));
            p.close(&s, done);
            let order: Vec<(usize, NtStatus, String)> = rx.iter().take(RECEIVES + 1).collect();
            assert!(order.iter().all(|o| o.2.starts_with("wsksock-emu-deliver-")));
            assert!(
                order.iter().all(|o| o.1
                    == if o.0 == 0 {
                        NtStatus::STATUS_SUCCESS
                    } else {
                        NtStatus::STATUS_CANCELLED
                    }),
                "{order:?}"
            );
            if order.iter().position(|o| o.0 == 0) != Some(RECEIVES) {
                overtaken = true;
                break;
            }
        }
        assert!(
            overtaken,
            "the close always completed last: completions are not reordered"
        );
        p.shutdown_and_assert_clean();
    });
}
