//! `wsksock bench [--bytes N] [--cycles N] [--runs N] [--json]`: the end-to-end figures of
//! `docs/PERFORMANCE.md` (issue 7, items 4 and 6), each measured against a plain
//! `std::net::TcpStream` on loopback **in the same run**.
//!
//! - **bulk**: N bytes (default 1 GiB) over one connection to a loopback reader, through the
//!   driver (host mode: engine + emulator; device mode: the real driver) with `--in-flight` sends
//!   of `--chunk` bytes outstanding, and through a `TcpStream` doing `write_all` of the same
//!   chunks. Timed from the first send to the reader's end of stream; the reader counts every
//!   byte. `--runs` runs of each, alternating which goes first; the medians and their ratio.
//! - **cycles**: N connect / send `--payload` bytes / close cycles (default 10,000) for each,
//!   split into `--runs` rounds, alternating, median rate of the rounds. The reader reads the
//!   payload and closes first; the client waits for that end of stream, then closes (graceful,
//!   not waiting for the teardown). So the TIME_WAIT state stays on the reader's side: were it on
//!   the client's, thousands of client ports to the same destination in TIME_WAIT make Linux's
//!   port selection for the next connect scan them — connects slow down from ~20 µs to ~2 ms
//!   after a few hundred cycles, for the driver and `TcpStream` alike, and the figure would
//!   measure the kernel's port search.
//!
//! A progress bar on standard error shows long runs (off with `--json`, `--no-progress`, or when
//! standard error is not a terminal).

use crate::backend::Session;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsksock_abi::msg::CloseMode;
use wsksock_abi::NtStatus;
use wsksock_tools::api::{status_name, SYNC_TIMEOUT};
use wsksock_tools::Client;

/// The bulk ratio the issue asks for (engine + emulator vs `TcpStream`).
pub const BULK_TARGET: f64 = 0.9;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Bulk transfer size (suffixes K, M, G: KiB, MiB, GiB).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub bytes: u64,
    /// Bytes per send in the bulk transfer.
    #[arg(long, default_value = "256K", value_parser = parse_size)]
    pub chunk: u64,
    /// Sends outstanding at once in the bulk transfer.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Connect/send/close cycles for each of the two (0: skip).
    #[arg(long, default_value_t = 10_000)]
    pub cycles: u32,
    /// Bytes sent per cycle.
    #[arg(long, default_value = "1K", value_parser = parse_size)]
    pub payload: u64,
    /// Runs of the bulk transfer (and rounds the cycles are split into); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Skip the bulk transfer.
    #[arg(long)]
    pub no_bulk: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Parses `1G`, `256K`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    n.checked_mul(1 << shift)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("bad size {s:?} (1 byte to 2^64-1)"))
}

/// One side's figures over the runs.
#[derive(Serialize, Debug, Clone)]
pub struct Series {
    /// Each run's rate (MiB/s for bulk, cycles/s for cycles).
    pub runs: Vec<f64>,
    /// Their median.
    pub median: f64,
}

impl Series {
    fn new(runs: Vec<f64>) -> Self {
        Series {
            median: median(&runs),
            runs,
        }
    }
}

/// The bulk transfer's figures.
#[derive(Serialize, Debug)]
pub struct Bulk {
    /// Bytes per run.
    pub bytes: u64,
    /// Bytes per send.
    pub chunk: u64,
    /// Sends outstanding.
    pub in_flight: usize,
    /// Through the driver (host: engine + emulator), MiB/s.
    pub driver_mib_s: Series,
    /// Through `TcpStream`, MiB/s.
    pub plain_mib_s: Series,
    /// Median driver / median plain.
    pub ratio: f64,
    /// The target ratio.
    pub target: f64,
}

/// The cycles' figures.
#[derive(Serialize, Debug)]
#[allow(clippy::struct_field_names)] // `cycles` is the documented JSON key
pub struct Cycles {
    /// Cycles of each side.
    pub cycles: u32,
    /// Bytes sent per cycle.
    pub payload: u64,
    /// Through the driver, cycles/s per round.
    pub driver_per_s: Series,
    /// Through `TcpStream`, cycles/s per round.
    pub plain_per_s: Series,
    /// Median driver / median plain.
    pub ratio: f64,
}

/// What `bench` reports.
#[derive(Serialize, Debug)]
pub struct Report {
    /// Runs (bulk) and rounds (cycles).
    pub runs: u32,
    /// The bulk transfer, unless skipped.
    pub bulk: Option<Bulk>,
    /// The cycles, unless skipped.
    pub cycles: Option<Cycles>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => f64::midpoint(s[n / 2 - 1], s[n / 2]),
    }
}

#[allow(clippy::cast_precision_loss)]
fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / f64::from(1u32 << 20)
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The bulk reader's thread: bytes read and when the end of stream came.
type BulkReader = JoinHandle<Result<(u64, Instant), String>>;

/// A loopback reader for one connection: counts bytes to end of stream, returns them and when.
fn bulk_reader() -> Result<(SocketAddr, BulkReader), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind the reader"))?;
    let addr = l.local_addr().map_err(io("reader address"))?;
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().map_err(io("accept"))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok((n, Instant::now())),
                Ok(k) => n += k as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reader: {e}")),
            }
        }
    });
    Ok((addr, t))
}

fn chunk_len(total: u64, sent: u64, chunk: u64) -> Result<usize, String> {
    usize::try_from(chunk.min(total - sent)).map_err(|_| "chunk too large".to_string())
}

/// The bulk transfer through the driver; returns the elapsed time.
fn bulk_driver(client: &Client, a: &Args, pb: &ProgressBar) -> Result<Duration, String> {
    let (addr, reader) = bulk_reader()?;
    let h = client
        .connect_to(addr)
        .map_err(|e| format!("connect: {}", status_name(e.status)))?;
    let chunk = usize::try_from(a.chunk).map_err(|_| "chunk too large")?;
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut in_flight = VecDeque::new();
    let wait = |p: wsksock_tools::Pending, len: usize| -> Result<Vec<u8>, String> {
        let c = p.wait_take(SYNC_TIMEOUT).ok_or("a send hung")?;
        if c.status != NtStatus::STATUS_SUCCESS || c.info != len {
            return Err(format!(
                "send: {} ({} of {len} bytes)",
                status_name(c.status),
                c.info
            ));
        }
        Ok(c.output)
    };
    let t0 = Instant::now();
    let mut sent = 0u64;
    while sent < a.bytes {
        if in_flight.len() >= a.in_flight.max(1) {
            let (p, len) = in_flight.pop_front().ok_or("nothing in flight")?;
            spare.push(wait(p, len)?);
            pb.inc(len as u64);
        }
        let len = chunk_len(a.bytes, sent, a.chunk)?;
        let mut buf = spare.pop().unwrap_or_else(|| vec![0x5a; chunk]);
        buf.resize(len, 0x5a);
        in_flight.push_back((client.send(h, buf), len));
        sent += len as u64;
    }
    while let Some((p, len)) = in_flight.pop_front() {
        wait(p, len)?;
        pb.inc(len as u64);
    }
    client
        .close(h, CloseMode::Graceful, false)
        .map_err(|e| format!("close: {}", status_name(e.status)))?;
    let (got, end) = reader.join().map_err(|_| "the reader panicked")??;
    if got != a.bytes {
        return Err(format!("the reader got {got} of {} bytes", a.bytes));
    }
    Ok(end - t0)
}

/// The same transfer through a `TcpStream`.
fn bulk_plain(a: &Args, pb: &ProgressBar) -> Result<Duration, String> {
    let (addr, reader) = bulk_reader()?;
    let mut s = TcpStream::connect(addr).map_err(io("connect"))?;
    let data = vec![0x5a; usize::try_from(a.chunk).map_err(|_| "chunk too large")?];
    let t0 = Instant::now();
    let mut sent = 0u64;
    while sent < a.bytes {
        let len = chunk_len(a.bytes, sent, a.chunk)?;
        s.write_all(&data[..len]).map_err(io("write"))?;
        sent += len as u64;
        pb.inc(len as u64);
    }
    drop(s);
    let (got, end) = reader.join().map_err(|_| "the reader panicked")??;
    if got != a.bytes {
        return Err(format!("the reader got {got} of {} bytes", a.bytes));
    }
    Ok(end - t0)
}

fn bar(a: &Args, len: u64, template: &str, msg: &str) -> ProgressBar {
    if a.json || a.no_progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.to_string());
    pb
}

fn bulk(client: &Client, a: &Args) -> Result<Bulk, String> {
    let total = a.bytes * 2 * u64::from(a.runs);
    let pb = bar(
        a,
        total,
        "{msg:>14} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed}",
        "bulk",
    );
    let (mut driver, mut plain) = (Vec::new(), Vec::new());
    for run in 0..a.runs {
        // Alternate which goes first, so neither always runs on a warmer (or hotter) machine.
        for driver_turn in [run % 2 == 0, run % 2 == 1] {
            if driver_turn {
                pb.set_message(format!("bulk driver {}", run + 1));
                driver.push(mib_s(a.bytes, bulk_driver(client, a, &pb)?));
            } else {
                pb.set_message(format!("bulk plain {}", run + 1));
                plain.push(mib_s(a.bytes, bulk_plain(a, &pb)?));
            }
        }
    }
    pb.finish_and_clear();
    let (driver, plain) = (Series::new(driver), Series::new(plain));
    Ok(Bulk {
        bytes: a.bytes,
        chunk: a.chunk,
        in_flight: a.in_flight,
        ratio: driver.median / plain.median,
        driver_mib_s: driver,
        plain_mib_s: plain,
        target: BULK_TARGET,
    })
}

/// A loopback reader for many connections, one after the other: reads each one's payload, then
/// closes it; counts the connections that delivered their payload.
struct CycleReader {
    addr: SocketAddr,
    ended: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<(), String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl CycleReader {
    fn start(payload: u64) -> Result<CycleReader, String> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind the reader"))?;
        let addr = l.local_addr().map_err(io("reader address"))?;
        let ended = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (e, st) = (ended.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            let payload = payload.max(1);
            loop {
                let (mut s, _) = l.accept().map_err(io("accept"))?;
                if st.load(Ordering::Acquire) {
                    return Ok(());
                }
                // The payload, then close first (see the module docs).
                let mut got = 0u64;
                while got < payload {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => got += k as u64,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                drop(s);
                if got >= payload {
                    e.fetch_add(1, Ordering::Release);
                }
            }
        });
        Ok(CycleReader {
            addr,
            ended,
            thread: Some(thread),
            stop,
        })
    }

    /// Waits until `n` connections ended.
    fn wait_for(&self, n: u64) -> Result<(), String> {
        let deadline = Instant::now() + SYNC_TIMEOUT;
        while self.ended.load(Ordering::Acquire) < n {
            if Instant::now() > deadline {
                return Err(format!(
                    "the reader saw {} of {n} connections end",
                    self.ended.load(Ordering::Acquire)
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }
}

impl Drop for CycleReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept with one last connection.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cycles_driver(
    client: &Client,
    r: &CycleReader,
    n: u32,
    payload: &[u8],
    pb: &ProgressBar,
) -> Result<Duration, String> {
    let base = r.ended.load(Ordering::Acquire);
    let t0 = Instant::now();
    for _ in 0..n {
        let h = client
            .connect_to(r.addr)
            .map_err(|e| format!("connect: {}", status_name(e.status)))?;
        let c = client
            .send(h, payload.to_vec())
            .wait_timeout(SYNC_TIMEOUT)
            .ok_or("a send hung")?;
        if c.status != NtStatus::STATUS_SUCCESS {
            return Err(format!("send: {}", status_name(c.status)));
        }
        let fin = client
            .receive(h, 1)
            .wait_timeout(SYNC_TIMEOUT)
            .ok_or("a receive hung")?;
        if fin.status != NtStatus::STATUS_SUCCESS || fin.info != 0 {
            return Err(format!(
                "expected the reader's FIN, got {} ({} bytes)",
                status_name(fin.status),
                fin.info
            ));
        }
        client
            .close(h, CloseMode::Graceful, false)
            .map_err(|e| format!("close: {}", status_name(e.status)))?;
        pb.inc(1);
    }
    r.wait_for(base + u64::from(n))?;
    Ok(t0.elapsed())
}

fn cycles_plain(r: &CycleReader, n: u32, payload: &[u8], pb: &ProgressBar) -> Result<Duration, String> {
    let base = r.ended.load(Ordering::Acquire);
    let t0 = Instant::now();
    for _ in 0..n {
        let mut s = TcpStream::connect(r.addr).map_err(io("connect"))?;
        s.write_all(payload).map_err(io("write"))?;
        let mut one = [0u8; 1];
        if s.read(&mut one).map_err(io("read"))? != 0 {
            return Err("expected the reader's FIN, got data".into());
        }
        drop(s);
        pb.inc(1);
    }
    r.wait_for(base + u64::from(n))?;
    Ok(t0.elapsed())
}

fn cycles(client: &Client, a: &Args) -> Result<Cycles, String> {
    let rounds = a.runs.max(1);
    let per_round = a.cycles.div_ceil(rounds).max(1);
    let pb = bar(
        a,
        u64::from(per_round) * u64::from(rounds) * 2,
        "{msg:>14} [{bar:30}] {pos}/{len} cycles {per_sec} {elapsed}",
        "cycles",
    );
    let payload = vec![0x5a; usize::try_from(a.payload).map_err(|_| "payload too large")?];
    let reader = CycleReader::start(a.payload)?;
    let rate = |d: Duration| f64::from(per_round) / d.as_secs_f64();
    let (mut driver, mut plain) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for driver_turn in [round % 2 == 0, round % 2 == 1] {
            if driver_turn {
                pb.set_message(format!("cycles driver {}", round + 1));
                driver.push(rate(cycles_driver(client, &reader, per_round, &payload, &pb)?));
            } else {
                pb.set_message(format!("cycles plain {}", round + 1));
                plain.push(rate(cycles_plain(&reader, per_round, &payload, &pb)?));
            }
        }
    }
    pb.finish_and_clear();
    let (driver, plain) = (Series::new(driver), Series::new(plain));
    Ok(Cycles {
        cycles: per_round * rounds,
        payload: a.payload,
        ratio: driver.median / plain.median,
        driver_per_s: driver,
        plain_per_s: plain,
    })
}

/// Runs the benchmarks on a client; exposed for tests.
pub fn bench(client: &Client, a: &Args) -> Result<Report, String> {
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let bulk = if a.no_bulk { None } else { Some(bulk(client, a)?) };
    let cycles = if a.cycles == 0 {
        None
    } else {
        Some(cycles(client, a)?)
    };
    Ok(Report {
        runs: a.runs,
        bulk,
        cycles,
    })
}

fn print_table(r: &Report) {
    println!("| figure | driver | plain TcpStream | ratio | target |");
    println!("|---|---:|---:|---:|---|");
    if let Some(b) = &r.bulk {
        println!(
            "| bulk {} MiB, {} KiB sends x{} (MiB/s, median of {}) | {:.0} | {:.0} | {:.2} | >= {} {} |",
            b.bytes >> 20,
            b.chunk >> 10,
            b.in_flight,
            r.runs,
            b.driver_mib_s.median,
            b.plain_mib_s.median,
            b.ratio,
            b.target,
            if b.ratio >= b.target { "met" } else { "MISSED" }
        );
    }
    if let Some(c) = &r.cycles {
        println!(
            "| {} connect/send {} B/close cycles (per s, median of {} rounds) | {:.0} | {:.0} | {:.2} | none |",
            c.cycles, c.payload, r.runs, c.driver_per_s.median, c.plain_per_s.median, c.ratio
        );
    }
}

/// `wsksock bench`.
pub fn run(session: &Session, a: &Args) -> Result<(), String> {
    let r = bench(&session.client, a)?;
    if a.json {
        println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
    } else {
        print_table(&r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{median, parse_size};

    #[test]
    #[cfg(not(windows))]
    fn a_short_host_run_reports_both_sides() {
        use super::{bench, Args};
        use crate::backend::{Kind, ProfileArg, Session};
        let session = Session::open(Kind::Host, ProfileArg::Windows).expect("host session");
        let a = Args {
            bytes: 3 << 20,
            chunk: 256 << 10,
            in_flight: 4,
            cycles: 20,
            payload: 100,
            runs: 2,
            no_bulk: false,
            no_progress: true,
            json: true,
        };
        let r = bench(&session.client, &a).expect("bench");
        let b = r.bulk.as_ref().expect("bulk");
        assert_eq!((b.driver_mib_s.runs.len(), b.plain_mib_s.runs.len()), (2, 2));
        assert!(b.driver_mib_s.median > 0.0 && b.plain_mib_s.median > 0.0 && b.ratio > 0.0);
        let c = r.cycles.as_ref().expect("cycles");
        assert_eq!(c.cycles, 20);
        assert!(c.driver_per_s.median > 0.0 && c.plain_per_s.median > 0.0);
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["bulk"]["bytes"], 3 << 20);
        session.close().expect("the engine unloads");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("256K"), Ok(256 << 10));
        assert_eq!(parse_size("3m"), Ok(3 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn median_of_odd_and_even_runs() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < f64::EPSILON);
    }
}
