//! Which runs of the sweep run again, alone, because Wine — not the driver — cut them short.
//!
//! - **Wine's netio.sys race** (docs/WINE.md, "Other Wine behaviour": `WskCloseSocket` with a
//!   receive pending — c4 and c5 in every run — sometimes ends its winedevice.exe in Wine's own
//!   code). Every run of the sweep has its own winedevice.exe (the service stops between runs,
//!   and Wine starts a new process for the next load), so such a crash ends only the run whose
//!   process it was in: the one whose window of the log — from its `allocation N fails` line to
//!   the next run's — holds the crash line, or the one before it (a process may still be ending
//!   when the next starts). Both run again ([`hits`]).
//! - **A winedevice.exe Wine could not start** (seen once in about 4,000 loads: `failed to map
//!   the shared user data`): the load is refused before the driver ran — the log has no
//!   `allocation N fails` line for the run ([`not_started`]).
//!
//! The crash is excused, and the run judged on its second report, only if it then passes.

use super::super::crash;
use std::collections::BTreeSet;

/// The runs a crash in netio.sys may have hit in `log` (the sweep's part of the drivers' log),
/// and how many such crash lines there are. Crashes elsewhere are not counted: nothing excuses
/// them.
pub fn hits(log: &str) -> (BTreeSet<u64>, usize) {
    let mut current: Option<u64> = None;
    let mut runs = BTreeSet::new();
    let mut lines = 0;
    for line in log.lines() {
        if let Some(n) = line
            .split("wsksock: alloc-faults: allocation ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            current = Some(n);
        } else if crash::is_crash(line) && crash::netio(line).is_some() {
            lines += 1;
            if let Some(n) = current {
                runs.insert(n);
                runs.insert(n.saturating_sub(1));
            }
        }
    }
    (runs, lines)
}

/// The runs of `runs` whose load was refused with no trace of the driver in `log` (the sweep's
/// part of the drivers' log): Wine did not start their winedevice.exe.
pub fn not_started(runs: &[super::Run], log: &str) -> Vec<u64> {
    let started: BTreeSet<u64> = log
        .lines()
        .filter_map(|l| {
            l.split("wsksock: alloc-faults: allocation ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    runs.iter()
        .filter(|r| !r.loaded && !started.contains(&r.n))
        .map(|r| r.n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_is_put_on_the_run_it_appeared_in_and_the_one_before() {
        let netio = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/netio.sys";
        let Some(base) = std::fs::read(netio).ok().map(|b| {
            let opt = u32::from_le_bytes([b[0x3c], b[0x3d], b[0x3e], b[0x3f]]) as usize + 24;
            u64::from_le_bytes(b[opt + 24..opt + 32].try_into().unwrap())
        }) else {
            return; // no Wine here
        };
        let fault = |a: u64| {
            format!("wine: Unhandled page fault on write access to 0000000000000038 at address {a:016X} (thread 02f4), starting debugger...")
        };
        let log = format!(
            "x: wsksock: alloc-faults: allocation 56 fails (0: none)\n\
             x: wsksock: alloc-faults: allocation 57 fails (0: none)\n\
             {}\n\
             x: wsksock: alloc-faults: allocation 58 fails (0: none)\n\
             {}\n",
            fault(base + 0x436e),
            fault(0x1_4000_1000)
        );
        let (runs, lines) = hits(&log);
        assert_eq!(runs.into_iter().collect::<Vec<_>>(), [56, 57]);
        assert_eq!(lines, 1, "a crash outside netio.sys is never counted");
        assert_eq!(hits("no crash\n").1, 0);
    }

    #[test]
    fn a_refused_load_the_driver_never_saw_is_wines() {
        let run = |n: u64, loaded: bool| super::super::Run {
            n,
            loaded,
            open_refused: false,
            requests: Vec::new(),
            hung: Vec::new(),
            unloaded: loaded,
            ms: 1,
        };
        let log = "x: wsksock: alloc-faults: allocation 3 fails (0: none)\n\
                   err:virtual:virtual_alloc_first_teb wine: failed to map the shared user data: c0000018\n";
        // 3: refused by DriverEntry (it ran); 4: never started; 5: loaded.
        let runs = [run(3, false), run(4, false), run(5, true)];
        assert_eq!(not_started(&runs, log), [4]);
    }
}
