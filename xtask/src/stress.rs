//! `cargo xtask stress [--ops N] [--seed S] [--mode inline|deferred|concurrent|both|all]
//! [--workers W] [--release]`: the randomized stress of `tests/tests/engine_stress.rs` (the
//! ignored `stress_from_env` test, which takes its arguments from `WSKSOCK_STRESS_*` variables).
//!
//! Several worker threads run random operations against the engine over the emulator with real
//! loopback peers and seeded fault injection, then unload; every invariant is checked along the
//! way and at the end (see `tests/tests/reliability/workload.rs` and `docs/RELIABILITY.md`). The
//! seed is printed first; `--seed S` reruns it. `--mode all` (the default) splits the operations
//! between inline, deferred and concurrent completions (seed, seed + 1, seed + 2); `both` is
//! inline and deferred. CI runs `stress --ops 50000` (a few seconds); the long mode is
//! `--ops 1000000 --release`.

use crate::util::{self, cargo};

/// Runs it.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut ops = "50000".to_string();
    let mut seed: Option<String> = None;
    let mut mode = "all".to_string();
    let mut workers = "4".to_string();
    let mut release = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--ops" => ops = number(&value("--ops")?)?,
            "--seed" => seed = Some(number(&value("--seed")?)?),
            "--workers" => workers = number(&value("--workers")?)?,
            "--mode" => {
                mode = value("--mode")?;
                if !matches!(
                    mode.as_str(),
                    "inline" | "deferred" | "concurrent" | "both" | "all"
                ) {
                    return Err(format!(
                        "--mode {mode}: expected inline, deferred, concurrent, both or all"
                    ));
                }
            }
            "--release" => release = true,
            other => {
                return Err(format!(
                    "unknown argument {other}\nusage: cargo xtask stress [--ops N] [--seed S] \
                     [--mode inline|deferred|concurrent|both|all] [--workers W] [--release]"
                ))
            }
        }
    }
    let mut c = cargo();
    c.args(["test", "-p", "wsksock-tests", "--test", "engine_stress"]);
    if release {
        c.arg("--release");
    }
    c.args(["--", "--ignored", "--exact", "stress_from_env", "--nocapture"])
        .env("WSKSOCK_STRESS_OPS", &ops)
        .env("WSKSOCK_STRESS_MODE", &mode)
        .env("WSKSOCK_STRESS_WORKERS", &workers);
    if let Some(s) = &seed {
        c.env("WSKSOCK_STRESS_SEED", s);
    }
    util::run(&mut c).map_err(|e| {
        format!("{e}\nthe seed is in the output above (\"stress: seed S ...\"); rerun with --seed S")
    })
}

fn number(s: &str) -> Result<String, String> {
    s.parse::<u64>()
        .map(|n| n.to_string())
        .map_err(|_| format!("{s}: expected a number"))
}
