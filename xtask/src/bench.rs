//! `cargo xtask bench [--no-e2e] [--quick] [--rt] [-- ARGS for wsksock bench]`: runs the
//! benchmarks of issue 7 and prints every figure with its target, as `docs/PERFORMANCE.md`
//! reports them.
//!
//! 1. `cargo bench -p wsksock-core --bench engine` (criterion; medians read back from its
//!    `estimates.json` files): the send path, two threads, handle lookup, close with N pending,
//!    each against the baseline in the same run.
//! 2. `cargo bench -p wsksock-core --bench memory`: bytes per idle socket and per pending op.
//! 3. `wsksock bench --json` (release): host-mode bulk transfer and connect/send/close cycles
//!    against a plain `TcpStream`, same run (skipped with `--no-e2e`; `--quick` runs 256 MiB and
//!    2,000 cycles instead of 1 GiB and 10,000).
//!
//! Results go to `target/wsksock-bench/` (criterion's data, `memory.json`, `e2e.json`,
//! `summary.md`). The load average is printed before and after: on a 2-core machine another
//! build running meanwhile halves what two threads can get, which the `two_threads/control`
//! figure shows. `--rt` runs the measurements (not the builds) under `chrt -f 10` (SCHED_FIFO,
//! needs root) so that other load does not take a core from them: about a minute on one core,
//! 10 s on both (two threads), 15 s for the bulk transfer (not the cycles, which need the
//! kernel's softirq threads). CI does not run this.

use crate::util::{cargo, target_dir};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row of the summary.
struct Row {
    figure: String,
    value: String,
    baseline: String,
    ratio: String,
    target: String,
    met: Option<bool>,
}

impl Row {
    fn new(
        figure: &str,
        value: String,
        baseline: String,
        ratio: String,
        target: &str,
        met: Option<bool>,
    ) -> Row {
        Row {
            figure: figure.into(),
            value,
            baseline,
            ratio,
            target: target.into(),
            met,
        }
    }
}

/// Runs it.
pub fn run(args: &[String]) -> Result<(), String> {
    let (ours, e2e_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let no_e2e = ours.iter().any(|a| a == "--no-e2e");
    let quick = ours.iter().any(|a| a == "--quick");
    let rt = ours.iter().any(|a| a == "--rt");
    if let Some(bad) = ours
        .iter()
        .find(|a| !matches!(a.as_str(), "--no-e2e" | "--quick" | "--rt"))
    {
        return Err(format!(
            "unknown argument {bad:?} (--no-e2e, --quick, --rt, -- ARGS)"
        ));
    }
    let out = target_dir().join("wsksock-bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let load_before = load();
    eprintln!("load average before: {load_before} ({} cores)", cores());

    let crit = out.join("criterion");
    let _ = std::fs::remove_dir_all(&crit);
    if rt {
        // Built first, so that only the measurement runs under SCHED_FIFO.
        crate::util::run(cargo().args(["bench", "-p", "wsksock-core", "--bench", "engine", "--no-run"]))?;
    }
    crate::util::run(
        rt_prefix(rt, cargo())
            .args(["bench", "-p", "wsksock-core", "--bench", "engine"])
            .env("CRITERION_HOME", &crit),
    )?;
    crate::util::run(
        cargo()
            .args(["bench", "-p", "wsksock-core", "--bench", "memory"])
            .env("WSKSOCK_BENCH_OUT", &out),
    )?;
    let e2e = if no_e2e {
        Vec::new()
    } else {
        crate::util::run(cargo().args(["build", "--release", "-q", "-p", "wsksock"]))?;
        let size: &[&str] = if quick { &["--bytes", "256M"] } else { &[] };
        let cycles: &[&str] = if quick { &["--cycles", "2000"] } else { &[] };
        // The bulk transfer under SCHED_FIFO with `--rt`; the cycles never: they wait on the
        // kernel's softirq threads (ordinary priority), which FIFO threads would starve.
        let bulk = e2e(rt, &[&["--cycles", "0"], size], e2e_args)?;
        let cyc = e2e(false, &[&["--no-bulk"], cycles], e2e_args)?;
        std::fs::write(out.join("e2e.json"), format!("{bulk}\n{cyc}\n")).map_err(|e| e.to_string())?;
        vec![bulk, cyc]
    };
    let load_after = load();

    let medians = criterion_medians(&crit)?;
    let memory = std::fs::read_to_string(out.join("memory.json")).map_err(|e| format!("memory.json: {e}"))?;
    let mut rows = engine_rows(&medians)?;
    rows.extend(memory_rows(&memory));
    for j in &e2e {
        rows.extend(e2e_rows(j));
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| figure | engine | baseline / plain | ratio | target | met |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            r.figure, r.value, r.baseline, r.ratio, r.target, met
        );
    }
    let _ = writeln!(
        md,
        "\nload average before {load_before}, after {load_after}; {} cores",
        cores()
    );
    println!("\n{md}");
    std::fs::write(out.join("summary.md"), &md).map_err(|e| e.to_string())?;
    eprintln!("written to {}", out.display());
    Ok(())
}

/// One `wsksock bench --json` run (release build already made); its JSON.
fn e2e(rt: bool, ours: &[&[&str]], user: &[String]) -> Result<String, String> {
    let mut c = rt_prefix(rt, cargo());
    c.args(["run", "--release", "-q", "-p", "wsksock", "--", "bench", "--json"]);
    for a in ours {
        c.args(*a);
    }
    c.args(user);
    eprintln!("+ {c:?}");
    let o = c.output().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "wsksock bench failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// `cmd`, or `chrt -f 10` running it (SCHED_FIFO: other processes cannot take a core from the
/// measurement; the kernel still leaves them 5 % of each second).
fn rt_prefix(rt: bool, cmd: std::process::Command) -> std::process::Command {
    if !rt {
        return cmd;
    }
    let mut c = std::process::Command::new("chrt");
    c.args(["-f", "10"]).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get)
}

/// The number after `"key":` (the first one after `from`), in a JSON text we wrote or criterion did.
fn number_after(text: &str, from: usize, key: &str) -> Option<(f64, usize)> {
    let pat = format!("\"{key}\":");
    let at = text[from..].find(&pat)? + from + pat.len();
    let rest = text[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok().map(|v| (v, at))
}

/// The string after `"key":`.
fn string_after(text: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let at = text.find(&pat)? + pat.len();
    let end = text[at..].find('"')? + at;
    Some(text[at..end].to_string())
}

/// Nested path of keys, each searched after the previous one.
fn path(text: &str, keys: &[&str]) -> Option<f64> {
    let mut at = 0;
    let (last, init) = keys.split_last()?;
    for k in init {
        let pat = format!("\"{k}\":");
        at = text[at..].find(&pat)? + at + pat.len();
    }
    number_after(text, at, last).map(|(v, _)| v)
}

/// Median time (ns) of every benchmark under criterion's directory, by full id.
fn criterion_medians(dir: &Path) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("new/benchmark.json") {
                let b = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
                let est =
                    std::fs::read_to_string(p.with_file_name("estimates.json")).map_err(|e| e.to_string())?;
                let id = string_after(&b, "full_id").ok_or("benchmark.json without full_id")?;
                let m = path(&est, &["median", "point_estimate"]).ok_or("estimates.json without a median")?;
                out.insert(id, m);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no criterion results under {}", dir.display()));
    }
    Ok(out)
}

fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} µs", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

fn engine_rows(m: &BTreeMap<String, f64>) -> Result<Vec<Row>, String> {
    let get = |id: &str| m.get(id).copied().ok_or_else(|| format!("no result for {id}"));
    let mut rows = Vec::new();
    let (e, b) = (get("send_path/engine")?, get("send_path/baseline")?);
    rows.push(Row::new(
        "one SEND, full path (median)",
        ns(e),
        ns(b),
        format!("{:.2}", e / b),
        "<= 200 ns",
        Some(e <= 200.0),
    ));
    let scaling = |who: &str| -> Result<f64, String> {
        Ok(2.0 * get(&format!("two_threads/{who}/1"))? / get(&format!("two_threads/{who}/2"))?)
    };
    let (se, sb, sc) = (scaling("engine")?, scaling("baseline")?, scaling("control")?);
    rows.push(Row::new(
        "two threads / one thread, throughput",
        format!("{se:.2}x"),
        format!("{sb:.2}x"),
        format!("control {sc:.2}x"),
        ">= 1.7x",
        Some(se >= 1.7),
    ));
    for order in ["hot", "spread"] {
        let r = |who: &str| -> Result<(f64, f64), String> {
            let small = get(&format!("lookup/{who}/{order}/1000"))?;
            let big = get(&format!("lookup/{who}/{order}/100000"))?;
            Ok((small, big))
        };
        let ((es, eb), (bs, bb)) = (r("engine")?, r("baseline")?);
        rows.push(Row::new(
            &format!("lookup ({order}): 100,000 vs 1,000 open sockets"),
            format!("{:.2} ({} / {})", eb / es, ns(eb), ns(es)),
            format!("{:.2} ({} / {})", bb / bs, ns(bb), ns(bs)),
            String::new(),
            if order == "hot" {
                "<= 1.3"
            } else {
                "(cache effects)"
            },
            (order == "hot").then_some(eb / es <= 1.3),
        ));
    }
    let c = |who: &str, n: u32| get(&format!("close/{who}/{n}"));
    for n in [100, 1_000, 10_000] {
        let (e, b) = (c("engine", n)?, c("baseline", n)?);
        rows.push(Row::new(
            &format!("close with {n} pending"),
            ns(e),
            ns(b),
            format!("{:.2}", e / b),
            if n == 1_000 { "<= 1 ms" } else { "" },
            (n == 1_000).then_some(e <= 1e6),
        ));
    }
    // Linear: ten times the operations take about ten times as long (marginal cost per op shown).
    let (t100, t1k, t10k) = (c("engine", 100)?, c("engine", 1_000)?, c("engine", 10_000)?);
    let (g1, g2) = (t1k / t100, t10k / t1k);
    rows.push(Row::new(
        "close: t(1,000)/t(100), t(10,000)/t(1,000); marginal per op",
        format!(
            "{g1:.1}, {g2:.1}; {} / {}",
            ns((t1k - t100) / 900.0),
            ns((t10k - t1k) / 9_000.0)
        ),
        String::new(),
        String::new(),
        "linear: each ~10 (<= 15)",
        Some(g1 <= 15.0 && g2 <= 15.0),
    ));
    Ok(rows)
}

fn memory_rows(json: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut at = 0;
    while let Some(i) = json[at..].find("{\"what\":\"") {
        let start = at + i;
        let end = json[start..].find('}').map_or(json.len(), |e| start + e + 1);
        let obj = &json[start..end];
        let what = string_after(obj, "what").unwrap_or_default();
        let n = number_after(obj, 0, "n").map_or(0.0, |v| v.0);
        let bytes = number_after(obj, 0, "bytes_each").map_or(0.0, |v| v.0);
        let target = number_after(obj, 0, "target").map_or(0.0, |v| v.0);
        rows.push(Row::new(
            &format!("memory: {what} (N = {n:.0})"),
            format!("{bytes:.0} B"),
            String::new(),
            String::new(),
            &format!("<= {target:.0} B"),
            Some(bytes <= target),
        ));
        at = end;
    }
    rows
}

fn e2e_rows(json: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let has = |k: &str| !json.contains(&format!("\"{k}\":null"));
    if let (true, Some(d), Some(p), Some(r)) = (
        has("bulk"),
        path(json, &["bulk", "driver_mib_s", "median"]),
        path(json, &["bulk", "plain_mib_s", "median"]),
        path(json, &["bulk", "ratio"]),
    ) {
        let bytes = path(json, &["bulk", "bytes"]).unwrap_or(0.0);
        rows.push(Row::new(
            &format!(
                "host bulk {:.0} MiB, MiB/s (engine + emulator vs TcpStream)",
                bytes / 1_048_576.0
            ),
            format!("{d:.0}"),
            format!("{p:.0}"),
            format!("{r:.2}"),
            ">= 0.9",
            Some(r >= 0.9),
        ));
    }
    if let (true, Some(d), Some(p), Some(r)) = (
        has("cycles"),
        path(json, &["cycles", "driver_per_s", "median"]),
        path(json, &["cycles", "plain_per_s", "median"]),
        path(json, &["cycles", "ratio"]),
    ) {
        let n = path(json, &["cycles", "cycles"]).unwrap_or(0.0);
        rows.push(Row::new(
            &format!("host {n:.0} connect/send/close cycles, per s"),
            format!("{d:.0}"),
            format!("{p:.0}"),
            format!("{r:.2}"),
            "(no target)",
            None,
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::{path, string_after};

    #[test]
    fn reads_numbers_by_key_path() {
        let j = r#"{"bulk":{"driver_mib_s":{"runs":[1.5,2],"median":2.5e3},"ratio":0.93},"cycles":null}"#;
        assert_eq!(path(j, &["bulk", "driver_mib_s", "median"]), Some(2500.0));
        assert_eq!(path(j, &["bulk", "ratio"]), Some(0.93));
        assert_eq!(path(j, &["cycles", "ratio"]), None);
        assert_eq!(
            string_after(r#"{"full_id":"a/b/1","x":1}"#, "full_id").as_deref(),
            Some("a/b/1")
        );
    }
}
