//! `cargo xtask …`: the one place where CI, cross builds and the Wine suite are scripted.
//!
//! Subcommands:
//! - `ci` — what `.ci/run` runs: fmt check, clippy `-D warnings`, all tests, loom models, then the
//!   cross build and the suites that need extra toolchains.
//! - `cross` — the WDM driver for `x86_64-pc-windows-msvc` and its PE checks (see `cross.rs`).
//! - `loom` — the loom models alone.

mod cross;
mod util;

use std::process::ExitCode;
use util::{cargo, run, Cmd};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (sub, rest) = match args.split_first() {
        Some((s, r)) => (s.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match sub {
        "ci" => ci(rest),
        "lint" => lint(),
        "test" => test(),
        "loom" => loom(),
        "cross" => cross::run(rest),
        _ => {
            eprintln!("usage: cargo xtask <ci|lint|test|loom|cross> [args]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {sub}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Everything CI checks, in order of cost.
fn ci(rest: &[String]) -> Result<(), String> {
    let quick = rest.iter().any(|a| a == "--quick");
    lint()?;
    test()?;
    loom()?;
    if !quick {
        cross::run(&[])?;
    }
    Ok(())
}

/// `cargo fmt --check` and clippy with warnings denied.
fn lint() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

/// All tests of the workspace (unit, property, end to end, the header staleness check).
fn test() -> Result<(), String> {
    run(cargo().args(["test", "--workspace"]))
}

/// The loom models of the engine (`loom_*` tests), in their own target dir so the `--cfg loom`
/// build does not evict the normal one.
fn loom() -> Result<(), String> {
    let mut c: Cmd = cargo();
    c.args([
        "test",
        "--release",
        "-p",
        "wsksock-core",
        "--test",
        "loom",
        "--",
        "--test-threads=2",
    ])
    .env("RUSTFLAGS", "--cfg loom")
    .env(
        "LOOM_MAX_PREEMPTIONS",
        std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "3".into()),
    )
    .env("CARGO_TARGET_DIR", util::target_dir().join("loom"));
    run(&mut c)
}
