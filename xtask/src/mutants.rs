//! `cargo xtask mutants [--only NAME,...]`: puts the defects of the first, never-compiled KMDF
//! front end back, one at a time, and checks that the Wine suite's KMDF run catches each.
//!
//! 1. The suite's KMDF run on the tree as it is, limited to the scenarios the mutants use: it must
//!    pass (and it builds everything the mutant runs reuse: the CLI, the consumers, the double).
//! 2. For each mutant: a copy of the tree (the files git tracks, as they are in the working tree)
//!    under `target/mutants/tree`, with one replacement in `driver/src/front/kmdf.rs` (refused if it
//!    no longer applies exactly once); the KMDF driver built from the copy in
//!    `target/mutants/cross` (its own target directory: the tree's artifacts stay untouched); the
//!    suite run against it (`wine-test --build kmdf --no-build --kmdf-driver …`). The run must fail,
//!    and the drivers' log must hold what the mutant is caught by.
//!
//! Not part of `cargo xtask ci` (about 5 minutes: a second core/alloc build, and one mutant holds
//! every request until the suite's timeouts). Results: docs/WINE.md, "Mutants".

use crate::cross::{self, Build};
use crate::util::{root, target_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One defect put back.
struct Mutant {
    name: &'static str,
    /// What it was in the first front end.
    what: &'static str,
    /// The fixed code, and the defect.
    from: &'static str,
    to: &'static str,
    /// The scenarios that show it.
    scenarios: &'static str,
    /// What the drivers' log must say.
    caught_by: &'static str,
}

const FILE: &str = "driver/src/front/kmdf.rs";

const MUTANTS: &[Mutant] = &[
    Mutant {
        name: "queue-zeroed",
        what: "defect 3: the default queue's configuration zeroed (NumberOfPresentedRequests 0)",
        from: "config.Settings.Parallel.NumberOfPresentedRequests = ULONG::MAX;",
        to: "config.Settings.Parallel.NumberOfPresentedRequests = 0;",
        scenarios: "receive",
        caught_by: "WDF VERIFIER: wsksock: WdfIoQueueCreate: a parallel queue with NumberOfPresentedRequests 0",
    },
    Mutant {
        name: "attributes-zeroed",
        what: "defect 4: object attributes zeroed (no execution level, no synchronization scope)",
        from: "        ExecutionLevel: _WDF_EXECUTION_LEVEL::WdfExecutionLevelInheritFromParent,\n        SynchronizationScope: _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent,\n",
        to: "",
        scenarios: "receive",
        caught_by: "WDF VERIFIER: wsksock: WdfDeviceInitSetRequestAttributes: ExecutionLevel out of range",
    },
    Mutant {
        name: "null-file-object",
        what: "defect 5: a NULL WDFFILEOBJECT handed to the framework",
        from: "    if file.is_null() {\n        return core::ptr::null_mut();\n    }\n",
        to: "",
        scenarios: "consumer-c",
        caught_by: "NULL handle (bug check 0x10D)",
    },
];

/// Runs it.
pub fn run(args: &[String]) -> Result<(), String> {
    crate::util::refuse_unknown_with(args, &[], &["--only"])?;
    let only: Option<Vec<&str>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').collect());
    let chosen: Vec<&Mutant> = MUTANTS
        .iter()
        .filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.name)))
        .collect();
    if let Some(bad) = only
        .iter()
        .flatten()
        .find(|n| !MUTANTS.iter().any(|m| m.name == **n))
    {
        let all: Vec<&str> = MUTANTS.iter().map(|m| m.name).collect();
        return Err(format!("no mutant {bad:?}; mutants: {}", all.join(", ")));
    }
    let mut scenarios: Vec<&str> = chosen.iter().map(|m| m.scenarios).collect();
    scenarios.dedup();
    eprintln!("mutants: the tree as it is must pass {}", scenarios.join(","));
    crate::wine_test::run(&[
        "--build".into(),
        "kmdf".into(),
        "--no-clippy".into(),
        "--only".into(),
        scenarios.join(","),
    ])?;
    let linker = cross::ensure_linker(false)?;
    let mut escaped = Vec::new();
    for m in chosen {
        eprintln!("mutants: {} — {}", m.name, m.what);
        let sys = build_mutant(m, &linker)?;
        let result = crate::wine_test::run(&[
            "--build".into(),
            "kmdf".into(),
            "--no-build".into(),
            "--kmdf-driver".into(),
            sys.display().to_string(),
            "--only".into(),
            m.scenarios.into(),
        ]);
        let log_path = crate::wine_test::logs_of(Build::Kmdf).join("boot.log");
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        match (result, log.contains(m.caught_by)) {
            (Err(e), true) => eprintln!("mutants: {} caught: {e}", m.name),
            (Err(e), false) => {
                escaped.push(format!("{}: failed, but not by {:?} ({e})", m.name, m.caught_by));
            }
            (Ok(()), _) => escaped.push(format!("{}: the suite passed", m.name)),
        }
    }
    if escaped.is_empty() {
        eprintln!("mutants: every defect put back fails the suite");
        Ok(())
    } else {
        Err(format!("escaped: {}", escaped.join("; ")))
    }
}

/// The KMDF driver of a copy of the tree with `m` applied; returns its `.sys`.
fn build_mutant(m: &Mutant, linker: &Path) -> Result<PathBuf, String> {
    let base = target_dir().join("mutants");
    let tree = base.join("tree");
    copy_tree(&tree)?;
    let file = tree.join(FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    if text.matches(m.from).count() != 1 {
        return Err(format!(
            "mutant {} no longer applies: {FILE} must hold its fixed code exactly once",
            m.name
        ));
    }
    std::fs::write(&file, text.replacen(m.from, m.to, 1)).map_err(|e| format!("{}: {e}", file.display()))?;
    let target = base.join("cross");
    cross::cargo_kernel_in(
        &target,
        "build",
        linker,
        Some(&tree.join("Cargo.toml")),
        &["-p", "wsksock-driver", "--features", "kmdf-standin"],
    )?;
    let dll = target
        .join("x86_64-pc-windows-msvc")
        .join("release")
        .join("wsksock_driver.dll");
    let sys = base.join(format!("{}.sys", m.name));
    std::fs::copy(&dll, &sys).map_err(|e| format!("{} -> {}: {e}", dll.display(), sys.display()))?;
    Ok(sys)
}

/// Copies the files git tracks, as they are in the working tree, to `to` (emptied first).
fn copy_tree(to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    let out = Command::new("git")
        .current_dir(root())
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed".into());
    }
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).map_err(|e| e.to_string())?);
        let (src, dst) = (root().join(rel), to.join(rel));
        if !src.exists() {
            continue; // deleted in the working tree
        }
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    Ok(())
}
