//! Memory of the engine (targets: `docs/PERFORMANCE.md`): bytes per idle socket object and per pending operation,
//! counted by a global allocator around the engine's own calls only (the provider's and the
//! request's allocations are excluded, see `common::alloc`).
//!
//! - idle socket: N SOCKET requests on one client; live bytes after them / N. Includes the socket
//!   object, its handle-table entry and registry entry (slab capacity amortized: at N = 16,384
//!   the slabs are exactly full, elsewhere partly spare), and the provider socket as the engine
//!   stores it (8 bytes, a pointer in WSK).
//! - pending operation: N RECEIVE requests left pending on one socket; live bytes / N. Includes
//!   the operation record (with the request by value; its size is printed, the driver's
//!   `IrpRequest` is of the same order), its completion sink and its cancel token. N = 256 is the
//!   default per-socket limit, and a full slab.
//!
//! Then everything is closed and the engine unloaded, and what is still allocated is reported
//! (slab capacities the engine keeps for reuse; must not grow with N beyond that).
//!
//! `cargo bench -p wsksock-core --bench memory`; with `WSKSOCK_BENCH_OUT=DIR` it also writes
//! `DIR/memory.json`. Targets: <= 256 B per idle socket, <= 128 B per pending operation.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/
#![allow(clippy::many_single_char_names)] // e(ngine), c(lient), h(andle), n, r(eply), u(sage) fixtures

#[allow(dead_code)]
mod common;

use common::alloc::{measure, Counting, Usage};
use common::request::{close_input, data_input, slot, socket_input, BReq};
use common::{engine, C, E};
use wsksock_abi::msg::HandleReply;
use wsksock_abi::{Handle, NtStatus};
use zerocopy::FromBytes;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Target bytes per idle socket.
const SOCKET_TARGET: f64 = 256.0;
/// Target bytes per pending operation.
const OP_TARGET: f64 = 128.0;

#[derive(Default)]
struct Total {
    live: i64,
    allocs: u64,
}

impl Total {
    fn add(&mut self, u: &Usage) {
        self.live += u.live();
        self.allocs += u.allocs;
    }
}

/// Dispatches `req` counting the engine's allocations; returns its status and reply.
fn counted(e: &E, c: &C, req: BReq, total: &mut Total) -> (Option<(NtStatus, Vec<u8>)>, Usage) {
    let s = slot();
    let req = req.with_reply(&s);
    let ((), u) = measure(|| e.dispatch(c, req));
    total.add(&u);
    let r = s.lock().take();
    (r, u)
}

fn open(e: &E, c: &C, total: &mut Total) -> (Handle, Usage) {
    let (r, u) = counted(e, c, BReq::socket(socket_input_cached()), total);
    let (st, reply) = r.expect("inline");
    assert_eq!(st, NtStatus::STATUS_SUCCESS);
    (HandleReply::read_from_prefix(&reply).expect("reply").0.handle, u)
}

fn socket_input_cached() -> &'static [u8] {
    static INPUT: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();
    INPUT.get_or_init(socket_input)
}

#[allow(clippy::cast_precision_loss)]
fn per(total: i64, n: usize) -> f64 {
    total as f64 / n as f64
}

struct Row {
    what: &'static str,
    n: usize,
    bytes_per: f64,
    allocs_per: f64,
    target: f64,
}

fn unload(e: &E) {
    let (tx, rx) = std::sync::mpsc::channel();
    e.unload(Box::new(move || {
        let _ = tx.send(());
    }));
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .expect("the engine reports idle");
}

fn idle_sockets(n: usize, rows: &mut Vec<Row>) -> Usage {
    let e = engine();
    let cl = e.open_client().expect("client");
    let mut total = Total::default();
    let mut last = Usage::default();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (h, u) = open(&e, &cl, &mut total);
        handles.push(h);
        last = u;
    }
    rows.push(Row {
        what: "idle socket",
        n,
        bytes_per: per(total.live, n),
        allocs_per: per(i64::try_from(total.allocs).unwrap_or(i64::MAX), n),
        target: SOCKET_TARGET,
    });
    let mut closing = Total::default();
    for h in handles {
        let (r, _) = counted(&e, &cl, BReq::close(close_input(h)), &mut closing);
        assert_eq!(r.expect("inline").0, NtStatus::STATUS_SUCCESS);
    }
    let ((), u) = measure(|| unload(&e));
    closing.add(&u);
    println!(
        "  {n:>7} sockets: {:>9} B live after open, {:>7} B left after close + unload (retained capacity)",
        total.live,
        total.live + closing.live
    );
    last
}

fn pending_ops(n: usize, rows: &mut Vec<Row>) -> Usage {
    let e = engine();
    let cl = e.open_client().expect("client");
    let mut setup = Total::default();
    let (h, _) = open(&e, &cl, &mut setup);
    let input = data_input(h);
    let mut total = Total::default();
    let mut last = Usage::default();
    for _ in 0..n {
        let (r, u) = counted(&e, &cl, BReq::receive(input, 4096), &mut total);
        assert!(r.is_none(), "the receive pends");
        last = u;
    }
    assert_eq!(e.provider().pending(), n);
    rows.push(Row {
        what: "pending op",
        n,
        bytes_per: per(total.live, n),
        allocs_per: per(i64::try_from(total.allocs).unwrap_or(i64::MAX), n),
        target: OP_TARGET,
    });
    let (r, _) = counted(&e, &cl, BReq::close(close_input(h)), &mut total);
    assert_eq!(r.expect("inline").0, NtStatus::STATUS_SUCCESS);
    assert_eq!(e.provider().pending(), 0);
    unload(&e);
    last
}

fn sizes(u: &Usage) -> String {
    let kept = usize::try_from(u.allocs).unwrap_or(usize::MAX).min(u.sizes.len());
    let v: Vec<String> = u.sizes[..kept].iter().map(ToString::to_string).collect();
    format!(
        "{} allocations [{}] B, {} B live",
        u.allocs,
        v.join(", "),
        u.live()
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and `cargo test --benches` probes: nothing to list.
        return;
    }
    let mut rows = Vec::new();
    println!("memory: engine allocations (counting allocator; provider and request excluded)");
    // Slabs grow by doubling: at a power of two they are exactly full (the steady-state cost of
    // one more object), elsewhere up to half of the last doubling is spare capacity.
    let mut one_socket = Usage::default();
    for n in [1_000, 16_384, 100_000] {
        one_socket = idle_sockets(n, &mut rows);
    }
    let mut one_op = Usage::default();
    // 256: the default per-socket limit (`Config::max_pending_per_socket`).
    for n in [256, 1_000, 10_000] {
        one_op = pending_ops(n, &mut rows);
    }
    println!("  one SOCKET (the last one): {}", sizes(&one_socket));
    println!("  one pending RECEIVE (the last one): {}", sizes(&one_op));
    println!(
        "  the request, held by value in each operation record: {} B (the driver's IrpRequest is of the same order)",
        size_of::<BReq>()
    );
    println!();
    println!("| what | N | bytes each | allocations each | target | met |");
    println!("|---|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {:.2} | <= {} | {} |",
            r.what,
            r.n,
            r.bytes_per,
            r.allocs_per,
            r.target,
            if r.bytes_per <= r.target { "yes" } else { "NO" }
        );
    }
    if let Some(dir) = std::env::var_os("WSKSOCK_BENCH_OUT") {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"what\":\"{}\",\"n\":{},\"bytes_each\":{:.1},\"allocs_each\":{:.2},\"target\":{}}}",
                    r.what, r.n, r.bytes_per, r.allocs_per, r.target
                )
            })
            .collect();
        let path = std::path::Path::new(&dir).join("memory.json");
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(&path, format!("[{}]\n", items.join(",")))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}
