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
//! every request completed, none hung, and the driver's ledger even (it completed as many
//! requests as it was given: each exactly once); have the failure, when it happened, reach
//! whoever needed the memory — `DriverEntry` (load refused), an open (`CreateFile` refused) or a
//! request (STATUS_INSUFFICIENT_RESOURCES) — and nothing refused without it; and leave the peers'
//! data intact, every connection ended, what a send reported being what arrived ([`mod@judge`]).
//! winedevice.exe must not end (the suite checks its log after every scenario): a bug check is a
//! crash there.

mod again;
mod judge;

use super::env::{secs, tail, Wine, WIN_DIR};
use super::json::Json;
use super::peers::Peer;
use super::scenarios::Ctx;
pub(super) use judge::Run;
use judge::{check_clean, check_wire, judge, Count, Tally};
use std::path::Path;
use std::time::Duration;

/// What the scenario needs besides the prefix.
pub struct Files<'a> {
    /// The product build (put back afterwards).
    pub driver: &'a Path,
    /// The test build of the same front end (feature `alloc-faults`).
    pub faulty: &'a Path,
    /// `allocfaults.exe`.
    pub helper: &'a Path,
}

/// Runs it: the test build in the service's place, the sweep, the product build back.
pub fn run(ctx: &Ctx, files: &Files) -> Result<String, String> {
    let w = ctx.wine;
    w.stop_service(super::DRIVER.0, secs(60))?;
    let dir = w.drive_dir();
    std::fs::copy(files.faulty, dir.join(super::DRIVER.1)).map_err(|e| format!("test build: {e}"))?;
    std::fs::copy(files.helper, dir.join("allocfaults.exe")).map_err(|e| format!("helper: {e}"))?;
    let result = sweep(w).map(|(out, excused)| {
        ctx.excused.set(ctx.excused.get() + excused);
        out
    });
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
        // "... failed (Kind); requests G given, C completed"
        let (given, completed) = rest
            .split_once("; requests ")
            .and_then(|(_, r)| {
                let mut it = r.split_whitespace();
                let g = it.next()?.parse().ok()?;
                let _ = it.next();
                let c = it.next()?.parse().ok()?;
                Some((g, c))
            })
            .unwrap_or((u64::MAX, 0));
        Some((
            n.parse().ok()?,
            Count {
                made,
                failed,
                given,
                completed,
            },
        ))
    })
}

/// The sweep; its summary, and the crashes in Wine's netio.sys it showed harmless.
fn sweep(w: &Wine) -> Result<(String, usize), String> {
    let skip = summaries(&w.driver_log()).count();
    // The clean run: its wire exactly, and its allocation count.
    let greet = Peer::start(1, 100, secs(120))?;
    let quiet = Peer::start(4, 0, secs(120))?;
    let clean = workload(w, "alloc-faults-0", 0, 0, &greet, &quiet)?;
    let first = counts(&w.driver_log(), skip);
    let Some(clean_count) = first.get(&0).copied() else {
        return Err(format!(
            "the clean run's allocation count is not in the log: {first:?}"
        ));
    };
    check_clean(&clean[0], clean_count, &greet.finish(), &quiet.finish())?;
    let total = clean_count.made;
    // Every allocation failed in turn (and a few more: the count varies with thread timing).
    let to = total + 3;
    let deadline = secs(120 + 3 * to);
    let greet = Peer::start(usize::try_from(to).unwrap_or(0), 100, deadline)?;
    let quiet = Peer::start(4 * usize::try_from(to).unwrap_or(0), 0, deadline)?;
    let start = w.driver_log().len();
    let mut runs = workload(w, "alloc-faults-sweep", 1, to, &greet, &quiet)?;
    let (greet, quiet) = (greet.finish(), quiet.finish());
    let mut bad = Vec::new();
    // The wire of the sweep as it ran (before any run runs again, with its own peers).
    check_wire(&runs, &greet, &quiet, &mut bad);
    let log = w.driver_log();
    let log = log.get(start..).unwrap_or_default();
    let (hit, mut excused) = again::hits(log);
    let hit: Vec<u64> = hit.into_iter().filter(|n| (1..=to).contains(n)).collect();
    let not_started = again::not_started(&runs, log);
    let mut rerun: Vec<u64> = hit.iter().chain(&not_started).copied().collect();
    rerun.sort_unstable();
    rerun.dedup();
    let mut all_again = true;
    for &n in &rerun {
        match run_again(w, n, &mut bad)? {
            Some((r, crashes)) => {
                excused += crashes;
                if let Some(slot) = runs.iter_mut().find(|old| old.n == n) {
                    *slot = r;
                }
            }
            None => all_again = false,
        }
    }
    if !all_again {
        excused = 0;
    }
    // The last summary line of each N counts: a run that ran again is judged on its second run.
    let by_run = counts(&w.driver_log(), skip);
    let mut t = Tally::default();
    for r in &runs {
        let Some(count) = by_run.get(&r.n) else {
            bad.push(format!("N={}: no allocation count in the driver's log", r.n));
            continue;
        };
        judge(r, *count, &mut t, &mut bad);
    }
    if !bad.is_empty() {
        let n = bad.len();
        bad.truncate(8);
        return Err(format!("{n} finding(s): {}", bad.join("; ")));
    }
    let mut again = Vec::new();
    if !hit.is_empty() {
        again.push(format!(
            "; Wine's netio.sys race ended {excused} winedevice.exe (docs/WINE.md): N = {hit:?} ran again and passed"
        ));
    }
    if !not_started.is_empty() {
        again.push(format!(
            "; Wine did not start winedevice.exe for N = {not_started:?}: ran again and passed"
        ));
    }
    let again = again.concat();
    let out = format!(
        "{total} allocations in the workload; N = 1..={to}: {} runs, {} failures injected — DriverEntry refused {}, an open refused {}, a request refused {} times ({} requests in all, none hung; the driver given {} and completed each once), {} runs past the count; every run unloaded, {} connections intact; bugchecks 0; {:.1} s{again}",
        t.runs,
        t.injected,
        t.load_refused,
        t.open_refused,
        t.requests_refused,
        t.requests,
        t.driver_requests,
        t.not_reached,
        greet.len() + quiet.len(),
        Duration::from_millis(t.ms).as_secs_f64()
    );
    Ok((out, excused))
}

/// Runs N once more, alone (a run Wine's netio race may have hit), its wire judged apart; up to
/// three times while that race hits it again. Its report and the netio crashes it met, or `None`
/// if it met another crash or could not get through (then nothing is excused: the suite sees
/// the crash).
fn run_again(w: &Wine, n: u64, bad: &mut Vec<String>) -> Result<Option<(Run, usize)>, String> {
    let mut crashes = 0;
    for attempt in 1..=3 {
        let start = w.driver_log().len();
        let greet = Peer::start(1, 100, secs(60))?;
        let quiet = Peer::start(4, 0, secs(60))?;
        let name = format!("alloc-faults-again-{n}-{attempt}");
        let mut r = workload(w, &name, n, n, &greet, &quiet)?;
        let (greet, quiet) = (greet.finish(), quiet.finish());
        let log = w.driver_log();
        let log = log.get(start..).unwrap_or_default();
        let (_, netio) = again::hits(log);
        let all = log.lines().filter(|l| super::crash::is_crash(l)).count();
        if all > netio {
            return Ok(None);
        }
        if netio == 0 {
            check_wire(&r, &greet, &quiet, bad);
            return Ok(r.pop().map(|r| (r, crashes)));
        }
        crashes += netio;
    }
    bad.push(format!("N={n}: Wine's netio.sys crashed in each of 3 runs"));
    Ok(None)
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
            (
                "c1.socket".to_string(),
                judge::STATUS_INSUFFICIENT_RESOURCES.to_string()
            )
        );
        assert!(parse_run("not json").is_none());
        let log = "x: wsksock: alloc-faults: allocation 0 fails (0: none)\n\
                   x: wsksock: alloc-faults: run 0: unloaded: 180 allocations, 0 failed (None); requests 40 given, 40 completed\n\
                   x: wsksock: alloc-faults: run 3: DriverEntry failed: 3 allocations, 1 failed (Some(Irp)); requests 0 given, 0 completed\n\
                   x: wsksock: alloc-faults: run 3: unloaded: 4 allocations, 1 failed (Some(Irp)); requests 0 given, 0 completed\n";
        let c = counts(log, 0);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[&0].made, c[&0].failed, c[&0].given, c[&0].completed),
            (180, 0, 40, 40)
        );
        assert_eq!((c[&3].made, c[&3].failed, c[&3].given), (4, 1, 0));
        assert_eq!(counts(log, 1).len(), 1);
        // A line without the ledger (an older build) cannot pass for an even one.
        let old = "x: wsksock: alloc-faults: run 2: unloaded: 9 allocations, 1 failed (None)\n";
        let c = counts(old, 0);
        assert_ne!(c[&2].given, c[&2].completed);
    }
}
