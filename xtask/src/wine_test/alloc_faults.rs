//! The `alloc-faults` scenario: every pool allocation of a workload failed in turn, in the real
//! driver under Wine (docs/WINE.md, "alloc-faults"; docs/DRIVER.md, "Memory").
//!
//! The driver's test build (feature `alloc-faults`) fails its Nth pool allocation — `Box`,
//! `Arc`, vectors, and the IRPs, MDLs and work items it allocates — counting from `DriverEntry`;
//! N comes from the service key's `AllocFailAt`, so one build serves every N. The workload is
//! `tests/wine/alloc-faults/allocfaults.c`, one process that for each N sets the value, loads the
//! driver, runs sockets, sends, receives, closes of every mode, cancels and a client's exit
//! against two peers here, and unloads it. First N = 0: the clean run, whose wire is checked
//! exactly and whose allocation count (from the driver's log) bounds the sweep; then N = 1 up to
//! that count (and a few more: the count varies by a few with thread timing).
//!
//! Each run must: end with the driver unloaded (`wsksock: unloaded`, the service STOPPED); have
//! every request completed, none hung; have the failure, when it happened, reach whoever needed
//! the memory — `DriverEntry` (load refused), an open (`CreateFile` refused) or a request
//! (STATUS_INSUFFICIENT_RESOURCES); and leave the peers' data intact, every connection ended.
//! winedevice.exe must not end (the suite checks its log after every scenario): a bug check is a
//! crash there.

use super::env::{secs, tail, Wine, WIN_DIR};
use super::json::Json;
use super::peers::{Conn, End, Peer};
use super::scenarios::Ctx;
use std::path::Path;
use std::time::Duration;

const STATUS_SUCCESS: &str = "0x00000000";
const STATUS_CANCELLED: &str = "0xC0000120";
const STATUS_INSUFFICIENT_RESOURCES: &str = "0xC000009A";

/// What the scenario needs besides the prefix.
pub struct Files<'a> {
    /// The product build (put back afterwards).
    pub driver: &'a Path,
    /// The test build of the same front end (feature `alloc-faults`).
    pub faulty: &'a Path,
    /// `allocfaults.exe`.
    pub helper: &'a Path,
}

/// One N's report from the workload.
struct Run {
    n: u64,
    loaded: bool,
    open_refused: bool,
    requests: Vec<(String, String)>,
    hung: Vec<String>,
    unloaded: bool,
    ms: u64,
}

/// The driver's own account of a run (its log): allocations counted, failed.
#[derive(Clone, Copy, Debug)]
struct Count {
    made: u64,
    failed: u64,
}

/// Runs it: the test build in the service's place, the sweep, the product build back.
pub fn run(ctx: &Ctx, files: &Files) -> Result<String, String> {
    let w = ctx.wine;
    w.stop_service(super::DRIVER.0, secs(60))?;
    let dir = w.drive_dir();
    std::fs::copy(files.faulty, dir.join(super::DRIVER.1)).map_err(|e| format!("test build: {e}"))?;
    std::fs::copy(files.helper, dir.join("allocfaults.exe")).map_err(|e| format!("helper: {e}"))?;
    let result = sweep(w);
    // The product build back, running, as the rest of the suite expects.
    let restored = w
        .set_service_dword(super::DRIVER.0, "AllocFailAt", 0)
        .and_then(|()| {
            std::fs::copy(files.driver, dir.join(super::DRIVER.1))
                .map(|_| ())
                .map_err(|e| format!("product build: {e}"))
        })
        .and_then(|()| w.start_service(super::DRIVER.0, secs(60)).map(|_| ()));
    let out = result?;
    restored?;
    Ok(out)
}

/// Runs the workload for `from..=to`; its reports.
fn workload(
    w: &Wine,
    name: &str,
    from: u64,
    to: u64,
    greet: &Peer,
    quiet: &Peer,
) -> Result<Vec<Run>, String> {
    let exe = format!(r"{WIN_DIR}\allocfaults.exe");
    let args = [
        from.to_string(),
        to.to_string(),
        greet.port().to_string(),
        quiet.port().to_string(),
    ];
    let argv: Vec<&str> = std::iter::once(exe.as_str())
        .chain(args.iter().map(String::as_str))
        .collect();
    let out = w.run(name, &argv, secs(60 + 5 * (to - from + 1)))?;
    let runs: Vec<Run> = out.text.lines().filter_map(|l| parse_run(l.trim())).collect();
    if out.code.is_none() || !out.ok() || runs.len() as u64 != to - from + 1 {
        return Err(format!(
            "allocfaults {from}..={to} ended with {:?} after {} of {} runs:\n{}",
            out.code,
            runs.len(),
            to - from + 1,
            tail(&out.text, 6)
        ));
    }
    Ok(runs)
}

fn parse_run(line: &str) -> Option<Run> {
    if !line.starts_with('{') {
        return None;
    }
    let j = Json::parse(line).ok()?;
    let list = |key: &str| match j.get(key) {
        Json::Arr(v) => v.clone(),
        _ => Vec::new(),
    };
    let requests = list("requests")
        .iter()
        .filter_map(|p| match p {
            Json::Arr(pair) if pair.len() == 2 => {
                Some((pair[0].str().to_string(), pair[1].str().to_string()))
            }
            _ => None,
        })
        .collect();
    Some(Run {
        n: j.get("n").num(),
        loaded: j.get("load").str() == "ok",
        open_refused: j.get("open").str() == "refused",
        requests,
        hung: list("hung").iter().map(|h| h.str().to_string()).collect(),
        unloaded: j.get("unload").str() == "ok",
        ms: j.get("ms").num(),
    })
}

/// The driver's counts by run (the N it was loaded with), from its log's `alloc-faults:` summary
/// lines after the first `skip` lines; the last line of a run counts (the KMDF front end reports
/// a failed `DriverEntry`, then its unload).
fn counts(log: &str, skip: usize) -> std::collections::BTreeMap<u64, Count> {
    summaries(log).skip(skip).collect()
}

/// Every summary line of the log: the run's N and its counts.
fn summaries(log: &str) -> impl Iterator<Item = (u64, Count)> + '_ {
    log.lines().filter_map(|l| {
        let rest = l.split("wsksock: alloc-faults: run ").nth(1)?;
        let (n, rest) = rest.split_once(": ")?;
        let rest = rest
            .strip_prefix("unloaded: ")
            .or_else(|| rest.strip_prefix("DriverEntry failed: "))?;
        let mut it = rest.split_whitespace();
        let made = it.next()?.parse().ok()?;
        let _ = it.next();
        let failed = it.next()?.parse().ok()?;
        Some((n.parse().ok()?, Count { made, failed }))
    })
}

/// What the whole sweep saw.
#[derive(Default)]
struct Tally {
    runs: u64,
    injected: u64,
    load_refused: u64,
    open_refused: u64,
    requests_refused: u64,
    requests: u64,
    not_reached: u64,
    ms: u64,
}

fn sweep(w: &Wine) -> Result<String, String> {
    let skip = summaries(&w.driver_log()).count();
    // The clean run: its wire exactly, and its allocation count.
    let greet = Peer::start(1, 100, secs(120))?;
    let quiet = Peer::start(4, 0, secs(120))?;
    let clean = workload(w, "alloc-faults-0", 0, 0, &greet, &quiet)?;
    check_clean(&clean[0], &greet.finish(), &quiet.finish())?;
    let first = counts(&w.driver_log(), skip);
    let Some(total) = first.get(&0).filter(|c| c.failed == 0).map(|c| c.made) else {
        return Err(format!(
            "the clean run's allocation count is not in the log: {first:?}"
        ));
    };
    // Every allocation failed in turn (and a few more: the count varies with thread timing).
    let to = total + 3;
    let deadline = secs(120 + 3 * to);
    let greet = Peer::start(usize::try_from(to).unwrap_or(0), 100, deadline)?;
    let quiet = Peer::start(4 * usize::try_from(to).unwrap_or(0), 0, deadline)?;
    let runs = workload(w, "alloc-faults-sweep", 1, to, &greet, &quiet)?;
    let conns: Vec<Conn> = greet.finish().into_iter().chain(quiet.finish()).collect();
    let by_run = counts(&w.driver_log(), skip);
    let mut t = Tally::default();
    let mut bad = Vec::new();
    for r in &runs {
        let Some(count) = by_run.get(&r.n) else {
            bad.push(format!("N={}: no allocation count in the driver's log", r.n));
            continue;
        };
        judge(r, *count, &mut t, &mut bad);
    }
    for (i, conn) in conns.iter().enumerate() {
        if !conn.intact || !matches!(conn.end, End::Fin | End::Reset) {
            bad.push(format!(
                "connection {i} at the peers: {} bytes, intact {}, {:?}",
                conn.bytes, conn.intact, conn.end
            ));
        }
    }
    if !bad.is_empty() {
        let n = bad.len();
        bad.truncate(8);
        return Err(format!("{n} finding(s): {}", bad.join("; ")));
    }
    Ok(format!(
        "{total} allocations in the workload; N = 1..={to}: {} runs, {} failures injected — DriverEntry refused {}, an open refused {}, a request refused {} times ({} requests in all, none hung), {} runs past the count; every run unloaded, {} connections intact; bugchecks 0; {:.1} s",
        t.runs,
        t.injected,
        t.load_refused,
        t.open_refused,
        t.requests_refused,
        t.requests,
        t.not_reached,
        conns.len(),
        Duration::from_millis(t.ms).as_secs_f64()
    ))
}

/// The clean run: loaded, every request through, the peers' wire exactly.
fn check_clean(r: &Run, greet: &[Conn], quiet: &[Conn]) -> Result<(), String> {
    let cancelled = ["c4.recv1", "c4.recv2", "c5.recv"];
    let wrong: Vec<String> = r
        .requests
        .iter()
        .filter(|(name, st)| {
            let want = if cancelled.contains(&name.as_str()) {
                STATUS_CANCELLED
            } else {
                STATUS_SUCCESS
            };
            st != want
        })
        .map(|(name, st)| format!("{name} {st}"))
        .collect();
    if !r.loaded
        || r.open_refused
        || !r.hung.is_empty()
        || !r.unloaded
        || !wrong.is_empty()
        || r.requests.len() < 20
    {
        return Err(format!(
            "the clean run: loaded {}, open refused {}, hung {:?}, unloaded {}, unexpected {:?} ({} requests)",
            r.loaded, r.open_refused, r.hung, r.unloaded, wrong, r.requests.len()
        ));
    }
    // c1 4000 bytes; c2 2000 (abortive: RST on Windows, FIN under Wine, whose close never
    // resets), c3 1000; c4, c5 nothing — each intact, then FIN.
    let ok = |conns: &[Conn], want: &[u64]| {
        conns.len() == want.len()
            && conns.iter().zip(want).enumerate().all(|(i, (c, w))| {
                let abortive = i == 0 && want.len() == 4;
                c.bytes <= *w
                    && (c.bytes == *w || abortive)
                    && c.intact
                    && (c.end == End::Fin || (abortive && c.end == End::Reset))
            })
    };
    if !ok(greet, &[4000]) || !ok(quiet, &[2000, 1000, 0, 0]) {
        return Err(format!("the clean run's wire: greet {greet:?}, quiet {quiet:?}"));
    }
    Ok(())
}

/// One run with the Nth allocation failed.
fn judge(r: &Run, count: Count, t: &mut Tally, bad: &mut Vec<String>) {
    t.runs += 1;
    t.ms += r.ms;
    t.injected += count.failed;
    t.requests += r.requests.len() as u64;
    let refused = r
        .requests
        .iter()
        .filter(|(_, st)| st == STATUS_INSUFFICIENT_RESOURCES)
        .count() as u64;
    t.requests_refused += refused;
    t.load_refused += u64::from(!r.loaded);
    t.open_refused += u64::from(r.open_refused);
    let n = r.n;
    if count.failed > 1 {
        bad.push(format!("N={n}: {} allocations failed, not one", count.failed));
    }
    if count.failed == 0 {
        t.not_reached += 1;
        if count.made >= n {
            bad.push(format!("N={n}: {} allocations made, none failed", count.made));
        }
    } else if r.loaded && !r.open_refused && refused == 0 {
        bad.push(format!(
            "N={n}: allocation {n} failed and no request, open or load said so: {:?}",
            r.requests
        ));
    }
    if !r.hung.is_empty() {
        bad.push(format!("N={n}: requests never completed: {:?}", r.hung));
    }
    if r.loaded && !r.unloaded {
        bad.push(format!("N={n}: the driver did not unload"));
    }
    if let Some((name, st)) = r.requests.iter().find(|(name, _)| name.ends_with("-corrupt")) {
        bad.push(format!("N={n}: {name} {st}: the greeting arrived corrupt"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_line_and_the_drivers_counts_parse() {
        let r = parse_run(r#"{"n":7,"load":"ok","open":"ok","requests":[["c1.socket","0xC000009A"],["c1.bind","0xC0000008"]],"hung":[],"unload":"ok","ms":250}"#)
            .expect("parses");
        assert_eq!(
            (r.n, r.loaded, r.open_refused, r.unloaded, r.ms),
            (7, true, false, true, 250)
        );
        assert_eq!(
            r.requests[0],
            ("c1.socket".to_string(), STATUS_INSUFFICIENT_RESOURCES.to_string())
        );
        assert!(parse_run("not json").is_none());
        let log = "x: wsksock: alloc-faults: allocation 0 fails (0: none)\n\
                   x: wsksock: alloc-faults: run 0: unloaded: 180 allocations, 0 failed (None)\n\
                   x: wsksock: alloc-faults: run 3: DriverEntry failed: 3 allocations, 1 failed (Some(Irp))\n\
                   x: wsksock: alloc-faults: run 3: unloaded: 4 allocations, 1 failed (Some(Irp))\n";
        let c = counts(log, 0);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[&0].made, c[&0].failed, c[&3].made, c[&3].failed),
            (180, 0, 4, 1)
        );
        assert_eq!(counts(log, 1).len(), 1);
    }

    #[test]
    fn a_failure_nobody_was_told_of_is_a_finding() {
        let run = |requests: Vec<(String, String)>| Run {
            n: 5,
            loaded: true,
            open_refused: false,
            requests,
            hung: Vec::new(),
            unloaded: true,
            ms: 1,
        };
        let mut t = Tally::default();
        let mut bad = Vec::new();
        judge(
            &run(vec![("c1.send".into(), STATUS_SUCCESS.into())]),
            Count { made: 9, failed: 1 },
            &mut t,
            &mut bad,
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        bad.clear();
        judge(
            &run(vec![("c1.send".into(), STATUS_INSUFFICIENT_RESOURCES.into())]),
            Count { made: 9, failed: 1 },
            &mut t,
            &mut bad,
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!((t.runs, t.injected, t.requests_refused), (2, 2, 1));
    }
}
