//! `cargo xtask …`: the one place where CI, cross builds and the Wine suite are scripted.
//!
//! Subcommands:
//! - `ci` — what `.ci/run` runs: fmt check, clippy `-D warnings`, all tests, loom models, a short
//!   stress run, then (unless `--quick`) a fuzz smoke, the cross builds (WDM and KMDF) and the Wine
//!   suite against both, which install what they need.
//! - `cross` — the driver for `x86_64-pc-windows-msvc` (WDM, or KMDF with `--kmdf`) and its PE
//!   checks (see `cross.rs`).
//! - `loom` — the loom models alone.
//! - `stress` — randomized stress with fault injection (`--ops N --seed S`, see `stress.rs`).
//! - `fuzz` — the cargo-fuzz targets for N seconds each (see `fuzz.rs`).
//! - `wine-test` — the real drivers (WDM, KMDF) under Wine against Wine's WSK (see `wine_test.rs`).
//! - `bench` — benchmarks whose figures go to `docs/PERFORMANCE.md` (see `bench.rs`).
//! - `standin-check --kmdf-headers DIR` — the wdk-sys stand-in against the real KMDF headers.
//! - `mutants` — the defects of the first KMDF front end put back, each caught by the Wine suite
//!   (see `mutants.rs`).

mod bench;
mod cross;
mod fuzz;
mod mutants;
mod stress;
mod util;
mod wine_test;

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
        "stress" => stress::run(rest),
        "fuzz" => fuzz::run(rest),
        "bench" => bench::run(rest),
        "wine-test" => wine_test::run(rest),
        "standin-check" => standin_check(rest),
        "mutants" => mutants::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|lint|test|loom|cross|stress|fuzz|bench|wine-test|standin-check|mutants> [args]"
            );
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
    // The end-to-end suites again over the emulator delivering completions and timer callbacks
    // concurrently and reordered on several threads, as Windows does on a multiprocessor.
    let mut e2e = cargo();
    e2e.args(["test", "-p", "wsksock-tests"]);
    for suite in ["e2e_close", "e2e_handles", "e2e_lifecycle", "e2e_sockets"] {
        e2e.args(["--test", suite]);
    }
    run(e2e.env("WSKSOCK_COMPLETIONS", "concurrent"))?;
    loom()?;
    // Short forms of the reliability runs (the long ones: docs/RELIABILITY.md); the stress
    // splits its operations between inline, deferred and concurrent completions.
    stress::run(&["--ops".into(), "50000".into()])?;
    if !quick {
        fuzz::run(&["--seconds".into(), "10".into()])?;
        // Both drivers for Windows, each built, linted and PE-checked as `cargo xtask cross
        // [--kmdf]` does (installs Debian's rustc-web), then under Wine: every scenario against the
        // WDM build, then the KMDF build over the WDF test double.
        wine_test::run(&[])?;
    }
    Ok(())
}

/// `cargo xtask standin-check --kmdf-headers DIR`: the wdk-sys stand-in against the real KMDF 1.33
/// headers (`src/publicinc/wdf/kmdf/1.33` of a checkout of microsoft/Windows-Driver-Frameworks),
/// which cannot be part of the repository: every size, offset, field type, function type, enum
/// value and table index, compiled as C assertions with mingw-w64's gcc
/// (`driver/wdk-sys-standin/tests/kmdf_headers.rs`).
fn standin_check(rest: &[String]) -> Result<(), String> {
    util::refuse_unknown_with(rest, &[], &["--kmdf-headers"])?;
    let dir = rest
        .iter()
        .position(|a| a == "--kmdf-headers")
        .and_then(|i| rest.get(i + 1))
        .ok_or("usage: cargo xtask standin-check --kmdf-headers DIR")?;
    if !std::path::Path::new(dir).join("wdf.h").exists() {
        return Err(format!(
            "{dir}: no wdf.h (want src/publicinc/wdf/kmdf/1.33 of Windows-Driver-Frameworks)"
        ));
    }
    run(cargo()
        .args([
            "test",
            "-p",
            "wsksock-wdk-sys-standin",
            "--test",
            "kmdf_headers",
            "--",
            "--nocapture",
        ])
        .env("KMDF_HEADERS", dir))
}

/// `cargo fmt --check`, clippy with warnings denied, and the engine's sync-shim rule.
fn lint() -> Result<(), String> {
    check_sync_shim()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

/// All tests of the workspace (unit, property, end to end, the header staleness check).
fn test() -> Result<(), String> {
    // The CLI suites spawn the binaries: build them first (tools/tests/binary.rs also makes
    // plain `cargo test --workspace` build them).
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    run(cargo().args(["test", "--workspace"]))
}

/// The loom models of the engine (`loom_*` tests), in their own target dir so the `--cfg loom`
/// build does not evict the normal one. Release for speed, but with debug assertions and
/// overflow checks on: an invariant the engine asserts only in debug builds is exactly what a
/// model should trip. Preemption bound 5 unless `LOOM_MAX_PREEMPTIONS` says otherwise (about
/// 20 s on two cores; see `docs/ENGINE.md`).
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
    .env(
        "RUSTFLAGS",
        "--cfg loom -C debug-assertions=on -C overflow-checks=on",
    )
    .env(
        "LOOM_MAX_PREEMPTIONS",
        std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "5".into()),
    )
    .env("CARGO_TARGET_DIR", util::target_dir().join("loom"));
    run(&mut c)
}

/// The engine takes atomics, `Arc` and locks only from `core/src/sync.rs`, so loom can model it
/// (clippy's `disallowed-types` cannot tell a re-export from a bypass, so this is a source check).
fn check_sync_shim() -> Result<(), String> {
    let dir = util::root().join("core/src");
    let mut bad = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| e.to_string())? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("sync.rs") {
                let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
                for (n, line) in text.lines().enumerate() {
                    if ["alloc::sync", "core::sync::atomic", "std::sync", "spin::"]
                        .iter()
                        .any(|f| line.contains(f))
                    {
                        bad.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("core must use crate::sync (loom):\n{}", bad.join("\n")))
    }
}
