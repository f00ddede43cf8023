//! What the `alloc-faults` scenario asks of each run (docs/WINE.md, "alloc-faults"): its
//! reports — the workload's (`allocfaults.exe`, one JSON line per N) and the driver's (its log's
//! summary line at unload) — judged one run at a time, and the peers' wire judged over the sweep.
//!
//! Of every run: exactly one allocation failed, or none because the run made fewer than N; the
//! failure reached whoever needed the memory (load refused, open refused, or a request completed
//! with STATUS_INSUFFICIENT_RESOURCES), and nothing was refused without it; no request hung; the
//! driver completed exactly the requests it was given (its ledger) and unloaded. Of the wire:
//! every byte the peers got was the pattern, every connection ended (FIN or RST), and what a send
//! reported is what arrived — a refused send sent nothing, a successful one everything.

use super::super::peers::{Conn, End};

pub const STATUS_SUCCESS: &str = "0x00000000";
pub const STATUS_CANCELLED: &str = "0xC0000120";
pub const STATUS_INSUFFICIENT_RESOURCES: &str = "0xC000009A";

/// Bytes of each connection's send in the workload: c1 (to the greeting peer), c2 (abortive
/// close), c3 (lingering close).
const C1: u64 = 4000;
const C2: u64 = 2000;
const C3: u64 = 1000;

/// One N's report from the workload.
pub struct Run {
    pub n: u64,
    pub loaded: bool,
    pub open_refused: bool,
    pub requests: Vec<(String, String)>,
    pub hung: Vec<String>,
    pub unloaded: bool,
    pub ms: u64,
}

impl Run {
    /// The status of the request `name`, if it was issued.
    fn status(&self, name: &str) -> Option<&str> {
        self.requests
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, st)| st.as_str())
    }

    fn succeeded(&self, name: &str) -> bool {
        self.status(name) == Some(STATUS_SUCCESS)
    }
}

/// The driver's own account of a run (its log): allocations counted, failed; requests it was
/// given and completed (its ledger).
#[derive(Clone, Copy, Debug, Default)]
pub struct Count {
    pub made: u64,
    pub failed: u64,
    pub given: u64,
    pub completed: u64,
}

/// What the whole sweep saw.
#[derive(Default)]
pub struct Tally {
    pub runs: u64,
    pub injected: u64,
    pub load_refused: u64,
    pub open_refused: u64,
    pub requests_refused: u64,
    pub requests: u64,
    pub driver_requests: u64,
    pub not_reached: u64,
    pub ms: u64,
}

/// The clean run: loaded, every request through, the driver's ledger even, the peers' wire
/// exactly.
pub fn check_clean(r: &Run, count: Count, greet: &[Conn], quiet: &[Conn]) -> Result<(), String> {
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
        || count.failed != 0
        || count.given != count.completed
    {
        return Err(format!(
            "the clean run: loaded {}, open refused {}, hung {:?}, unloaded {}, unexpected {:?} ({} requests); driver {count:?}",
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
    if !ok(greet, &[C1]) || !ok(quiet, &[C2, C3, 0, 0]) {
        return Err(format!("the clean run's wire: greet {greet:?}, quiet {quiet:?}"));
    }
    Ok(())
}

/// One run with the Nth allocation failed: its findings go to `bad`.
pub fn judge(r: &Run, count: Count, t: &mut Tally, bad: &mut Vec<String>) {
    t.runs += 1;
    t.ms += r.ms;
    t.injected += count.failed;
    t.requests += r.requests.len() as u64;
    t.driver_requests += count.given;
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
        if !r.loaded || r.open_refused || refused > 0 {
            bad.push(format!(
                "N={n}: refused with no allocation failed: load {}, open refused {}, {refused} requests",
                r.loaded, r.open_refused
            ));
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
    if count.given != count.completed {
        bad.push(format!(
            "N={n}: the driver was given {} requests and completed {}",
            count.given, count.completed
        ));
    }
    if let Some((name, st)) = r.requests.iter().find(|(name, _)| name.ends_with("-corrupt")) {
        bad.push(format!("N={n}: {name} {st}: the greeting arrived corrupt"));
    }
}

/// The peers' wire over the whole sweep (connections are not told apart by run, so by counts):
/// every connection intact and ended; at the greeting peer, each connection got all of c1's
/// send or none of it (a reset — the greeting left unread when its receive was refused — may cut
/// it short), as many whole as sends reported success; at the quiet peer, no connection got
/// more than c2's send, and at least as many got exactly c3's as its sends succeeded.
pub fn check_wire(runs: &[Run], greet: &[Conn], quiet: &[Conn], bad: &mut Vec<String>) {
    for (who, conns) in [("greeting", greet), ("quiet", quiet)] {
        for (i, c) in conns.iter().enumerate() {
            if !c.intact || !matches!(c.end, End::Fin | End::Reset) {
                bad.push(format!(
                    "{who} peer, connection {i}: {} bytes, intact {}, {:?}",
                    c.bytes, c.intact, c.end
                ));
            }
        }
    }
    let sent = |name: &str| runs.iter().filter(|r| r.succeeded(name)).count();
    let whole = greet.iter().filter(|c| c.bytes == C1).count();
    let cut = greet
        .iter()
        .filter(|c| c.bytes != C1 && c.bytes != 0 && c.end != End::Reset)
        .count();
    let resets = greet.iter().filter(|c| c.end == End::Reset).count();
    let c1 = sent("c1.send");
    if cut > 0 || whole > c1 || whole + resets < c1 {
        bad.push(format!(
            "greeting peer: {whole} connections got c1's {C1} bytes, {cut} part of them ({resets} reset), but {c1} sends succeeded"
        ));
    }
    let over = quiet.iter().filter(|c| c.bytes > C2).count();
    let c3_whole = quiet.iter().filter(|c| c.bytes == C3).count();
    let c3 = sent("c3.send");
    if over > 0 || c3_whole < c3 {
        bad.push(format!(
            "quiet peer: {over} connections got more than {C2} bytes; {c3_whole} got c3's {C3}, but {c3} sends succeeded"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(requests: &[(&str, &str)]) -> Run {
        Run {
            n: 5,
            loaded: true,
            open_refused: false,
            requests: requests
                .iter()
                .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
                .collect(),
            hung: Vec::new(),
            unloaded: true,
            ms: 1,
        }
    }

    fn count(failed: u64, given: u64, completed: u64) -> Count {
        Count {
            made: 9,
            failed,
            given,
            completed,
        }
    }

    fn conn(bytes: u64, end: End) -> Conn {
        Conn {
            bytes,
            intact: true,
            end,
        }
    }

    #[test]
    fn a_failure_nobody_was_told_of_is_a_finding() {
        let mut t = Tally::default();
        let mut bad = Vec::new();
        judge(
            &run(&[("c1.send", STATUS_SUCCESS)]),
            count(1, 3, 3),
            &mut t,
            &mut bad,
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        bad.clear();
        judge(
            &run(&[("c1.send", STATUS_INSUFFICIENT_RESOURCES)]),
            count(1, 3, 3),
            &mut t,
            &mut bad,
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            (t.runs, t.injected, t.requests_refused, t.driver_requests),
            (2, 2, 1, 6)
        );
    }

    #[test]
    fn a_refusal_without_a_failure_and_an_uneven_ledger_are_findings() {
        let mut t = Tally::default();
        let mut bad = Vec::new();
        // Nothing failed (the run made fewer than N), yet a request was refused.
        let mut c = count(0, 2, 2);
        c.made = 4;
        judge(
            &run(&[("c1.send", STATUS_INSUFFICIENT_RESOURCES)]),
            c,
            &mut t,
            &mut bad,
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        bad.clear();
        // A request completed twice (or one given and never completed).
        judge(
            &run(&[("c1.send", STATUS_INSUFFICIENT_RESOURCES)]),
            count(1, 3, 4),
            &mut t,
            &mut bad,
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
    }

    #[test]
    fn what_a_send_reported_is_what_the_peer_got() {
        let runs = [
            run(&[("c1.send", STATUS_SUCCESS), ("c3.send", STATUS_SUCCESS)]),
            run(&[("c1.send", STATUS_INSUFFICIENT_RESOURCES)]),
        ];
        let greet = [conn(C1, End::Fin), conn(0, End::Fin)];
        let quiet = [conn(C2, End::Fin), conn(C3, End::Fin), conn(0, End::Fin)];
        let mut bad = Vec::new();
        check_wire(&runs, &greet, &quiet, &mut bad);
        assert!(bad.is_empty(), "{bad:?}");
        // The refused send's bytes arrived after all; c3's did not.
        check_wire(
            &runs,
            &[conn(C1, End::Fin), conn(C1, End::Fin)],
            &quiet[..1],
            &mut bad,
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
        bad.clear();
        // Part of a send, ended by FIN: lost bytes.
        check_wire(
            &runs,
            &[conn(C1, End::Fin), conn(100, End::Fin)],
            &quiet,
            &mut bad,
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        bad.clear();
        let mut broken = conn(10, End::Fin);
        broken.intact = false;
        check_wire(&runs, &greet, &[broken, conn(C3, End::Fin)], &mut bad);
        assert_eq!(bad.len(), 1, "{bad:?}");
    }
}
