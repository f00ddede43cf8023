//! Engine microbenchmarks (targets: `docs/PERFORMANCE.md`), each against the baseline in the same run.
//!
//! The provider completes inline ([`common::provider`]), so what is timed is the engine: decode,
//! handle lookup, reference, operation tracking, provider call, completion, reply.
//!
//! | group | what one iteration is |
//! |---|---|
//! | `send_path/{engine,baseline}` | one SEND request, dispatch to completion |
//! | `two_threads/{engine,baseline}/{1,2}` | one SEND on each of 1 or 2 threads (distinct clients and sockets) |
//! | `two_threads/control/{1,2}` | the same harness around register-only work: the scaling the machine offers now |
//! | `lookup/{engine,baseline}/{hot,spread}/{1000,100000}` | one STATISTICS request on a socket among N open ones: `hot` cycles over 64 handles spread over the table, `spread` picks at random among all N |
//! | `close/{engine,baseline}/{100,1000,10000}` | CLOSE of a socket with N receives pending (setup not timed) |
//!
//! `cargo xtask bench` runs this and prints the medians with their ratios; `cargo bench -p
//! wsksock-core --bench engine` runs it alone. Kept short for a 2-core machine.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/
#![allow(clippy::many_single_char_names)] // e(ngine), c(lient), h(andle), n, r(eply), u(sage) fixtures

#[allow(dead_code)]
mod common;

use common::baseline::Baseline;
use common::provider::Instant;
use common::request::{close_input, data_input, handle_input, socket_input, BReq};
use common::{assert_no_failures, call, engine, open, open_baseline, Rng, C, E};
use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::Duration;
use wsksock_abi::NtStatus;

/// Payload bytes a SEND describes (never touched: the engine only moves the descriptor).
const SEND_LEN: usize = 4096;

fn send_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_path");
    let e = engine();
    let cl = e.open_client().expect("client");
    let h = open(&e, &cl, socket_input());
    let input = data_input(h);
    let (st, _) = call(&e, &cl, BReq::send(input, SEND_LEN));
    assert_eq!(st, NtStatus::STATUS_SUCCESS);
    g.bench_function("engine", |b| {
        b.iter(|| e.dispatch(&cl, BReq::send(black_box(input), SEND_LEN)));
    });
    let base = Baseline::new(Instant::new());
    let bh = open_baseline(base, socket_input());
    let binput = data_input(bh);
    g.bench_function("baseline", |b| {
        b.iter(|| base.dispatch(BReq::send(black_box(binput), SEND_LEN)));
    });
    g.finish();
    assert_no_failures("send_path");
}

/// Runs `per_thread` on `threads` threads started together; returns the span from the first start
/// to the last end.
fn on_threads(threads: usize, iters: u64, per_thread: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(std::time::Instant, std::time::Instant)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let t0 = std::time::Instant::now();
                    per_thread(i, iters);
                    (t0, std::time::Instant::now())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("bench thread")).collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("a thread");
    let end = spans.iter().map(|s| s.1).max().expect("a thread");
    end - start
}

/// About as long as a SEND on this machine, touching only registers.
fn local_work(mut x: u64) -> u64 {
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads");
    // Engine: one client and one socket per thread.
    let e = engine();
    let mine: Vec<(C, &'static [u8])> = (0..2)
        .map(|_| {
            let cl = e.open_client().expect("client");
            let h = open(&e, &cl, socket_input());
            (cl, data_input(h))
        })
        .collect();
    let engine_send = |i: usize, iters: u64| {
        let (cl, input) = &mine[i];
        for _ in 0..iters {
            e.dispatch(cl, BReq::send(black_box(input), SEND_LEN));
        }
    };
    // Baseline: one socket per thread in the one table.
    let base = Baseline::new(Instant::new());
    let binputs: Vec<&'static [u8]> = (0..2)
        .map(|_| data_input(open_baseline(base, socket_input())))
        .collect();
    let base_send = |i: usize, iters: u64| {
        for _ in 0..iters {
            base.dispatch(BReq::send(black_box(binputs[i]), SEND_LEN));
        }
    };
    // Control: the same harness around work that shares nothing, so the scaling it shows is what
    // the machine gives two threads right now (other load on a 2-core machine shows here first).
    let control = |_: usize, iters: u64| {
        for _ in 0..iters {
            black_box(local_work(black_box(0x9e37_79b9_7f4a_7c15)));
        }
    };
    for threads in [1, 2] {
        g.bench_with_input(BenchmarkId::new("control", threads), &threads, |b, &t| {
            b.iter_custom(|iters| on_threads(t, iters, &control));
        });
        g.bench_with_input(BenchmarkId::new("engine", threads), &threads, |b, &t| {
            b.iter_custom(|iters| on_threads(t, iters, &engine_send));
        });
        g.bench_with_input(BenchmarkId::new("baseline", threads), &threads, |b, &t| {
            b.iter_custom(|iters| on_threads(t, iters, &base_send));
        });
    }
    g.finish();
    assert_no_failures("two_threads");
}

/// Handle orders for the lookup benchmark: 64 handles spread evenly, or a long random sequence.
fn orders(n: usize) -> [(&'static str, Vec<usize>); 2] {
    let hot = (0..64).map(|i| i * (n / 64)).collect();
    let mut rng = Rng::new(0x5eed);
    let spread = (0..1 << 18).map(|_| rng.below(n)).collect();
    [("hot", hot), ("spread", spread)]
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    let sock_in = socket_input();
    for n in [1_000usize, 100_000] {
        let e = engine();
        let cl = e.open_client().expect("client");
        let inputs: Vec<&'static [u8]> = (0..n).map(|_| handle_input(open(&e, &cl, sock_in))).collect();
        let base = Baseline::new(Instant::new());
        let binputs: Vec<&'static [u8]> = (0..n)
            .map(|_| handle_input(open_baseline(base, sock_in)))
            .collect();
        let (st, _) = call(&e, &cl, BReq::statistics(inputs[n - 1]));
        assert_eq!(st, NtStatus::STATUS_SUCCESS);
        for (name, order) in orders(n) {
            let seq: Vec<&'static [u8]> = order.iter().map(|&i| inputs[i]).collect();
            let bseq: Vec<&'static [u8]> = order.iter().map(|&i| binputs[i]).collect();
            g.bench_with_input(BenchmarkId::new(format!("engine/{name}"), n), &n, |b, _| {
                let mut i = 0;
                b.iter(|| {
                    e.dispatch(&cl, BReq::statistics(seq[i % seq.len()]));
                    i += 1;
                });
            });
            g.bench_with_input(BenchmarkId::new(format!("baseline/{name}"), n), &n, |b, _| {
                let mut i = 0;
                b.iter(|| {
                    base.dispatch(BReq::statistics(bseq[i % bseq.len()]));
                    i += 1;
                });
            });
        }
        assert_eq!(base.len(), n);
    }
    g.finish();
    assert_no_failures("lookup");
}

/// Opens a socket and leaves `n` receives pending on it; returns its CLOSE input.
fn loaded_engine_socket(e: &E, cl: &C, n: usize) -> &'static [u8] {
    let h = open(e, cl, socket_input());
    let input = data_input(h);
    for _ in 0..n {
        e.dispatch(cl, BReq::receive(input, SEND_LEN));
    }
    assert_eq!(e.provider().pending(), n);
    close_input(h)
}

fn loaded_baseline_socket(b: Baseline, n: usize) -> &'static [u8] {
    let h = open_baseline(b, socket_input());
    let input = data_input(h);
    for _ in 0..n {
        b.dispatch(BReq::receive(input, SEND_LEN));
    }
    close_input(h)
}

fn close(c: &mut Criterion) {
    let mut g = c.benchmark_group("close");
    g.sample_size(10);
    let e = engine();
    let cl = e.open_client().expect("client");
    let base = Baseline::new(Instant::new());
    for n in [100usize, 1_000, 10_000] {
        g.bench_with_input(BenchmarkId::new("engine", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = loaded_engine_socket(&e, &cl, n);
                    let t0 = std::time::Instant::now();
                    e.dispatch(&cl, BReq::close(input));
                    total += t0.elapsed();
                    assert_eq!(e.provider().pending(), 0);
                }
                total
            });
        });
        g.bench_with_input(BenchmarkId::new("baseline", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = loaded_baseline_socket(base, n);
                    let t0 = std::time::Instant::now();
                    base.dispatch(BReq::close(input));
                    total += t0.elapsed();
                }
                total
            });
        });
    }
    g.finish();
    assert_eq!(e.stats().sockets_alive, 0, "every closed socket finished");
    assert_no_failures("close");
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args()
}

/// `WSKSOCK_BENCH_PROFILE=send|send-baseline|close|close-baseline [WSKSOCK_BENCH_ITERS=I]
/// [WSKSOCK_BENCH_N=N]`: runs I sends (or I closes of a socket with N receives pending) and
/// nothing else, for `valgrind --tool=callgrind` (instructions per request, repeatably).
fn profile(which: &str) {
    let iters: u64 = std::env::var("WSKSOCK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    match which {
        "send" => {
            let e = engine();
            let cl = e.open_client().expect("client");
            let input = data_input(open(&e, &cl, socket_input()));
            for _ in 0..iters {
                e.dispatch(&cl, BReq::send(black_box(input), SEND_LEN));
            }
        }
        "send-baseline" => {
            let base = Baseline::new(Instant::new());
            let input = data_input(open_baseline(base, socket_input()));
            for _ in 0..iters {
                base.dispatch(BReq::send(black_box(input), SEND_LEN));
            }
        }
        "close" | "close-baseline" => {
            // WSKSOCK_BENCH_ITERS sockets, each closed with WSKSOCK_BENCH_N receives pending.
            let n: usize = std::env::var("WSKSOCK_BENCH_N")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000);
            let e = engine();
            let cl = e.open_client().expect("client");
            let base = Baseline::new(Instant::new());
            for _ in 0..iters {
                if which == "close" {
                    let input = loaded_engine_socket(&e, &cl, n);
                    e.dispatch(&cl, BReq::close(black_box(input)));
                } else {
                    let input = loaded_baseline_socket(base, n);
                    base.dispatch(BReq::close(black_box(input)));
                }
            }
        }
        other => panic!(
            "WSKSOCK_BENCH_PROFILE: unknown scenario {other:?} (send, send-baseline, close, close-baseline)"
        ),
    }
    assert_no_failures(which);
}

fn main() {
    if let Ok(which) = std::env::var("WSKSOCK_BENCH_PROFILE") {
        return profile(&which);
    }
    let mut c = short();
    send_path(&mut c);
    two_threads(&mut c);
    lookup(&mut c);
    close(&mut c);
    c.final_summary();
}
