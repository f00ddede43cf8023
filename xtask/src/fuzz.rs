//! `cargo xtask fuzz [--seconds N] [--target requests|sequence]`: the cargo-fuzz
//! targets of `fuzz/` (its own workspace) on the rustup nightly toolchain, N seconds each
//! (default 20), with the committed seeds (`fuzz/seeds/<target>`) and the local corpus
//! (`fuzz/corpus/<target>`, ignored by git). Installs cargo-fuzz with `cargo install` if missing.
//!
//! Targets (see `docs/RELIABILITY.md`): `requests` — decoding of every message type and dispatch
//! of arbitrary (mode, code, input, output) through the engine; `sequence` — sequences of requests
//! by two clients against the engine over the emulator, with the end-of-input checks of
//! `fuzz/src/lib.rs`. Built without a sanitizer (the engine is safe Rust; the checks are panics,
//! hangs and contract violations) and with debug assertions on. A crash leaves its input in
//! `fuzz/artifacts/<target>/`: `cargo +nightly fuzz fmt <target> <file>` shows it.

use crate::util::root;
use std::process::{Command, Stdio};

const TARGETS: [&str; 2] = ["requests", "sequence"];

/// Runs it.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 20;
    let mut targets: Vec<String> = TARGETS.iter().map(|t| (*t).to_string()).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                seconds = v.parse().map_err(|_| format!("--seconds {v}: expected a number"))?;
            }
            "--target" => {
                let v = it.next().ok_or("--target needs a value")?;
                if !TARGETS.contains(&v.as_str()) {
                    return Err(format!("--target {v}: expected one of {TARGETS:?}"));
                }
                targets = vec![v.clone()];
            }
            other => {
                return Err(format!(
                    "unknown argument {other}\nusage: cargo xtask fuzz [--seconds N] [--target requests|sequence]"
                ))
            }
        }
    }
    ensure_cargo_fuzz()?;
    let dir = root().join("fuzz");
    let mut summary = Vec::new();
    for t in &targets {
        let corpus = dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let mut c = nightly();
        c.current_dir(&dir)
            .args(["fuzz", "run", "--sanitizer", "none", "--debug-assertions", t])
            .arg(format!("corpus/{t}"))
            .arg(format!("seeds/{t}"))
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-timeout=30",
                "-max_len=2048",
                "-rss_limit_mb=4096",
                "-print_final_stats=1",
            ]);
        eprintln!("+ {c:?}");
        let out = c
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run cargo +nightly fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
                .map_or_else(|| "?".to_string(), |v| v.trim().to_string())
        };
        let cov = log
            .lines()
            .rev()
            .find_map(|l| l.split("cov: ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        let line = format!(
            "{t}: {} executions in {seconds} s ({} exec/s), coverage {cov} edges, {} new units",
            stat("number_of_executed_units"),
            stat("average_exec_per_sec"),
            stat("new_units_added")
        );
        if !out.status.success() {
            // The panic (with its message), then libFuzzer's report, without backtrace frames.
            let lines: Vec<&str> = log.lines().collect();
            let start = lines
                .iter()
                .position(|l| l.contains("panicked at") || l.contains("ERROR: libFuzzer"))
                .unwrap_or(lines.len().saturating_sub(40));
            let tail: Vec<&str> = lines[start..]
                .iter()
                .filter(|l| {
                    let t = l.trim_start();
                    !(t.starts_with("at ") || t.split(':').next().is_some_and(|n| n.parse::<u32>().is_ok()))
                })
                .take(40)
                .copied()
                .collect();
            return Err(format!(
                "{}\nfuzz target {t} failed ({}): the input is in fuzz/artifacts/{t}/ \
                 (cargo +nightly fuzz fmt {t} <file> shows it)\n{line}",
                tail.join("\n"),
                out.status
            ));
        }
        eprintln!("{line}");
        summary.push(line);
    }
    eprintln!("fuzz summary:\n  {}", summary.join("\n  "));
    Ok(())
}

/// `cargo +nightly` through rustup's proxy (not `$CARGO`, which is the stable toolchain's).
fn nightly() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly");
    c.env_remove("RUSTUP_TOOLCHAIN");
    c.env_remove("CARGO");
    c
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let have = nightly()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    eprintln!("+ cargo install cargo-fuzz");
    let st = Command::new("cargo")
        .args(["install", "cargo-fuzz"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cargo install cargo-fuzz failed: {st}"))
    }
}
