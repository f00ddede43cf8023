//! `cargo xtask cross [--kmdf] [--no-install] [--wine]`: the driver for `x86_64-pc-windows-msvc`,
//! built on Linux.
//!
//! Two builds of `wsksock-driver` (docs/DRIVER.md):
//! - **WDM** (default): the WDM front end; entry point `DriverEntry`.
//! - **KMDF** (`--kmdf`): the product's KMDF front end (`driver/src/front/kmdf.rs`, the same
//!   source the WDK build compiles) with feature `kmdf-standin`: the stand-in replaces wdk-sys and
//!   WdfDriverEntry.lib (entry point `FxDriverEntry`, which binds through `WDFLDR.SYS`), the
//!   driver's pool allocator replaces wdk-alloc.
//!
//! Each:
//! 1. Installs what it needs if missing (root, Debian 12): `rustc-web cargo-web rust-web-src
//!    rust-web-clippy` (Debian's Rust 1.96 with library sources for `-Zbuild-std`); the linker is
//!    rustup's `rust-lld` (run as `lld-link`), else Debian's `lld-16`.
//! 2. Builds `wsksock-driver` with build-std into `target/cross`. The link arguments come from
//!    the crate's build script, so every cross build (both drivers, the samples, the WDF test
//!    double) shares one set of RUSTFLAGS and one build of core/alloc.
//! 3. Runs Debian's clippy for that target, with the workspace's lint configuration and
//!    `-D warnings`.
//! 4. Checks the PE: native subsystem, the entry point is the build's (`DriverEntry` /
//!    `FxDriverEntry`, found among the exports), imports only from ntoskrnl.exe, netio.sys and
//!    HAL.dll (the KMDF build also WDFLDR.SYS: `WdfVersionBind`, `WdfVersionUnbind`), and — when
//!    Wine is installed — every import of a Wine module exported by it.
//! 5. Packages `target/cross/package/` (WDM) or `target/cross/package-kmdf/` (KMDF):
//!    `wsksock.sys` and `wsksock.inf` (the `.inx` with its version stamped, as stampinf would).
//!
//! `--wine` (WDM): afterwards loads and unloads the driver under Wine, then runs a user-mode smoke
//! client (`wine_smoke.c`: open, SOCKET, BIND, CONNECT, SEND, RECEIVE, CLOSE, bad input) against
//! an echo peer on 127.0.0.1 (see `wine.rs`). The KMDF driver needs the WDF test double to load:
//! `cargo xtask wine-test --build kmdf` runs it.

#[path = "pe.rs"]
pub mod pe;
#[path = "wine.rs"]
pub mod wine;

use crate::util::{debian_cargo, root, run as run_cmd, target_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TARGET: &str = "x86_64-pc-windows-msvc";
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "rust-web-clippy"];
const WINE_DIR: &str = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";
/// What the KMDF driver may import from the framework loader, and nothing else from it.
pub const WDFLDR_IMPORTS: &[&str] = &["WdfVersionBind", "WdfVersionUnbind"];

/// Which driver a cross build makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Build {
    /// The WDM front end.
    Wdm,
    /// The KMDF front end over the stand-in.
    Kmdf,
}

impl Build {
    /// `wdm` / `kmdf`.
    pub fn name(self) -> &'static str {
        match self {
            Build::Wdm => "wdm",
            Build::Kmdf => "kmdf",
        }
    }

    fn cargo_features(self) -> &'static [&'static str] {
        match self {
            Build::Wdm => &[],
            Build::Kmdf => &["--features", "kmdf-standin"],
        }
    }

    fn entry(self) -> &'static str {
        match self {
            Build::Wdm => "DriverEntry",
            Build::Kmdf => "FxDriverEntry",
        }
    }

    fn allowed_imports(self) -> &'static [&'static str] {
        match self {
            Build::Wdm => &["ntoskrnl.exe", "netio.sys", "hal.dll"],
            Build::Kmdf => &["ntoskrnl.exe", "netio.sys", "hal.dll", "wdfldr.sys"],
        }
    }

    /// Where the build is packaged.
    pub fn package_dir(self) -> PathBuf {
        cross_dir().join(match self {
            Build::Wdm => "package",
            Build::Kmdf => "package-kmdf",
        })
    }
}

/// Builds and checks the driver.
pub fn run(args: &[String]) -> Result<(), String> {
    crate::util::refuse_unknown(args, &["--kmdf", "--no-install", "--wine"])?;
    let flag = |f: &str| args.iter().any(|a| a == f);
    let build = if flag("--kmdf") { Build::Kmdf } else { Build::Wdm };
    let install = !flag("--no-install");
    if flag("--wine") && build == Build::Kmdf {
        return Err(
            "--wine loads the WDM driver; the KMDF one runs in `cargo xtask wine-test --build kmdf`".into(),
        );
    }
    let sys = build_driver(build, install)?;
    if flag("--wine") {
        wine::load_unload(&sys, install)?;
        wine::smoke(&sys, install)?;
    }
    Ok(())
}

/// Installs the toolchain if needed, builds, lints, packages and checks one driver; returns the
/// packaged `wsksock.sys`.
pub fn build_driver(build: Build, install: bool) -> Result<PathBuf, String> {
    let t0 = Instant::now();
    ensure_toolchain(install)?;
    let linker = ensure_linker(install)?;
    let t1 = Instant::now();
    cargo_cross("build", &linker, build.cargo_features(), &[])?;
    let t2 = Instant::now();
    cargo_cross(
        "clippy",
        &linker,
        build.cargo_features(),
        &["--", "-D", "warnings"],
    )?;
    let t3 = Instant::now();
    let sys = package(build)?;
    check_pe(&sys, build)?;
    eprintln!(
        "xtask cross ({}): ok — {} (tools {:.1}s, build {:.1}s, clippy {:.1}s)",
        build.name(),
        sys.display(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64()
    );
    Ok(sys)
}

/// The test build of one driver: feature `alloc-faults` (its allocator fails the Nth pool
/// allocation, N from the service key: docs/DRIVER.md, "Memory"), built, linted and PE-checked
/// like the product build; copied to `to` (never packaged).
pub fn build_alloc_faults(build: Build, to: &Path) -> Result<(), String> {
    let linker = ensure_linker(false)?;
    let mut features: Vec<&str> = build.cargo_features().to_vec();
    match features.iter().position(|f| f.starts_with("kmdf")) {
        Some(i) => features[i] = "kmdf-standin,alloc-faults",
        None => features.extend(["--features", "alloc-faults"]),
    }
    cargo_cross("build", &linker, &features, &[])?;
    cargo_cross("clippy", &linker, &features, &["--", "-D", "warnings"])?;
    let dll = cross_dir()
        .join(TARGET)
        .join("release")
        .join("wsksock_driver.dll");
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    std::fs::copy(&dll, to).map_err(|e| format!("{} -> {}: {e}", dll.display(), to.display()))?;
    check_pe(to, build)
}

/// `target/cross`.
pub fn cross_dir() -> PathBuf {
    target_dir().join("cross")
}

fn have(path: &str) -> bool {
    Path::new(path).exists()
}

fn apt_install(pkgs: &[&str]) -> Result<(), String> {
    run_cmd(Command::new("apt-get").arg("update"))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

pub fn ensure_toolchain(install: bool) -> Result<(), String> {
    let ok = have("/usr/bin/cargo")
        && have("/usr/bin/rustc")
        && have("/usr/lib/rustlib/src/rust/library/core")
        && have("/usr/bin/cargo-clippy");
    if ok {
        return Ok(());
    }
    if !install {
        return Err(format!(
            "missing Debian Rust ({}); run without --no-install as root",
            DEBIAN_PACKAGES.join(" ")
        ));
    }
    apt_install(DEBIAN_PACKAGES)
}

/// rustup's `rust-lld` behind an `lld-link` symlink (lld picks its flavor from its name), else
/// Debian's `lld-link-16`.
pub fn ensure_linker(install: bool) -> Result<PathBuf, String> {
    let home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    if let Some(home) = home {
        if let Ok(entries) = std::fs::read_dir(home.join("toolchains")) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"))
                .filter(|p| p.exists())
                .collect();
            found.sort();
            if let Some(lld) = found.pop() {
                let bin = cross_dir().join("bin");
                std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
                let link = bin.join("lld-link");
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&lld, &link).map_err(|e| format!("{}: {e}", link.display()))?;
                return Ok(link);
            }
        }
    }
    let debian = PathBuf::from("/usr/bin/lld-link-16");
    if !debian.exists() {
        if !install {
            return Err("no linker: neither rustup's rust-lld nor lld-link-16".into());
        }
        apt_install(&["lld-16"])?;
    }
    Ok(debian)
}

/// `/usr/bin/cargo <sub>` for a `no_std` kernel-mode crate for the Windows target with build-std,
/// Debian's toolchain first on PATH, in `target/cross` (one set of flags for every such build:
/// core/alloc are built once). `manifest`: another crate than the driver.
pub fn cargo_kernel(sub: &str, linker: &Path, manifest: Option<&Path>, args: &[&str]) -> Result<(), String> {
    cargo_kernel_in(&cross_dir(), sub, linker, manifest, args)
}

/// [`cargo_kernel`] with another target directory (a copy of the tree must not overwrite the
/// tree's own artifacts).
pub fn cargo_kernel_in(
    target: &Path,
    sub: &str,
    linker: &Path,
    manifest: Option<&Path>,
    args: &[&str],
) -> Result<(), String> {
    let mut c = debian_cargo(target);
    c.current_dir(root())
        .arg(sub)
        .args(["--release", "--target", TARGET]);
    if let Some(m) = manifest {
        c.arg("--manifest-path").arg(m);
    }
    c.args([
        "-Zbuild-std=core,alloc",
        "-Zbuild-std-features=compiler-builtins-mem",
    ])
    .arg("--config")
    .arg(format!("target.{TARGET}.linker=\"{}\"", linker.display()))
    .args(["--config", "profile.release.panic=\"abort\""])
    .args(args);
    run_cmd(&mut c)
}

/// `cargo <sub>` of the driver with the build's features.
fn cargo_cross(sub: &str, linker: &Path, features: &[&str], extra: &[&str]) -> Result<(), String> {
    let mut args = vec!["-p", "wsksock-driver"];
    args.extend_from_slice(features);
    args.extend_from_slice(extra);
    cargo_kernel(sub, linker, None, &args)
}

/// Copies the driver and the stamped INF into the build's package directory.
fn package(build: Build) -> Result<PathBuf, String> {
    let dll = cross_dir()
        .join(TARGET)
        .join("release")
        .join("wsksock_driver.dll");
    let pkg = build.package_dir();
    std::fs::create_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    let sys = pkg.join("wsksock.sys");
    std::fs::copy(&dll, &sys).map_err(|e| format!("{} -> {}: {e}", dll.display(), sys.display()))?;
    let inx = root().join("inf").join("wsksock.inx");
    let text = std::fs::read_to_string(&inx).map_err(|e| format!("{}: {e}", inx.display()))?;
    let inf = stamp_inf(&text, env!("CARGO_PKG_VERSION"));
    std::fs::write(pkg.join("wsksock.inf"), inf).map_err(|e| format!("wsksock.inf: {e}"))?;
    Ok(sys)
}

/// What stampinf does for us: `DriverVer` gets today's date and the crate version, `$ARCH$` is
/// `amd64`, `$KMDFVERSION$` is 1.33.
fn stamp_inf(inx: &str, version: &str) -> String {
    let (y, m, d) = today();
    let ver4 = format!("{version}.0");
    inx.lines()
        .map(|l| {
            if l.trim_start().starts_with("DriverVer") {
                format!("DriverVer   = {m:02}/{d:02}/{y},{ver4}")
            } else {
                l.replace("$ARCH$", "amd64").replace("$KMDFVERSION$", "1.33")
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n"
}

/// Today's civil date (UTC) from the system clock.
fn today() -> (i64, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The PE checks (see the module docs).
fn check_pe(sys: &Path, build: Build) -> Result<(), String> {
    let bytes = std::fs::read(sys).map_err(|e| format!("{}: {e}", sys.display()))?;
    let img = pe::parse(&bytes).map_err(|e| format!("{}: {e}", sys.display()))?;
    let mut problems = Vec::new();
    if img.subsystem != pe::SUBSYSTEM_NATIVE {
        problems.push(format!(
            "subsystem {} is not IMAGE_SUBSYSTEM_NATIVE",
            img.subsystem
        ));
    }
    match img.export_rvas.get(build.entry()) {
        _ if img.entry_rva == 0 => problems.push("no entry point".to_string()),
        Some(&rva) if rva == img.entry_rva => {}
        Some(&rva) => problems.push(format!(
            "entry point {:#x} is not {} ({rva:#x})",
            img.entry_rva,
            build.entry()
        )),
        None => problems.push(format!("{} is not exported", build.entry())),
    }
    let mut count = 0;
    for (dll, names) in &img.imports {
        count += names.len();
        let lower = dll.to_ascii_lowercase();
        if !build.allowed_imports().contains(&lower.as_str()) {
            problems.push(format!("imports from {dll} ({})", names.join(", ")));
        }
        if lower == "wdfldr.sys" {
            let extra: Vec<&String> = names
                .iter()
                .filter(|n| !WDFLDR_IMPORTS.contains(&n.as_str()))
                .collect();
            if !extra.is_empty() || dll != "WDFLDR.SYS" {
                problems.push(format!(
                    "{dll} imports {names:?}: only {WDFLDR_IMPORTS:?} from WDFLDR.SYS"
                ));
            }
        } else if let Some(names) = missing_in_wine(dll, names)? {
            problems.push(format!("Wine's {dll} lacks {}", names.join(", ")));
        }
    }
    if build == Build::Kmdf && !img.imports.contains_key("WDFLDR.SYS") {
        problems.push("the KMDF driver does not bind through WDFLDR.SYS".into());
    }
    if !problems.is_empty() {
        return Err(format!(
            "PE check of {} failed:\n  {}",
            sys.display(),
            problems.join("\n  ")
        ));
    }
    eprintln!(
        "xtask cross: PE ok — native subsystem, entry {}, {count} imports from {:?}{}",
        build.entry(),
        img.imports.keys().collect::<Vec<_>>(),
        if Path::new(WINE_DIR).exists() {
            ", every import from a Wine module exported by Wine"
        } else {
            ""
        }
    );
    Ok(())
}

/// Imports that Wine's module of that name does not export (`None` without Wine).
fn missing_in_wine(dll: &str, names: &[String]) -> Result<Option<Vec<String>>, String> {
    let path = Path::new(WINE_DIR).join(dll.to_ascii_lowercase());
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let exports = pe::parse(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .exports;
    let missing: Vec<String> = names.iter().filter(|n| !exports.contains(n)).cloned().collect();
    Ok(if missing.is_empty() { None } else { Some(missing) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inf_is_stamped() {
        let out = stamp_inf(
            "[Version]\nDriverVer = 01/01/2000,0.0.0.0\nX=$ARCH$ $KMDFVERSION$",
            "1.2.3",
        );
        assert!(out.contains(",1.2.3.0\r\n"), "{out}");
        assert!(out.contains("X=amd64 1.33"), "{out}");
        assert!(!out.contains("2000"), "{out}");
    }

    #[test]
    fn today_is_a_plausible_date() {
        let (y, m, d) = today();
        assert!(y >= 2024 && (1..=12).contains(&m) && (1..=31).contains(&d));
    }

    #[test]
    fn pe_parser_refuses_garbage() {
        assert!(pe::parse(b"").is_err());
        assert!(pe::parse(b"MZ").is_err());
        let mut b = vec![0u8; 0x100];
        b[0] = b'M';
        b[1] = b'Z';
        b[0x3c] = 0xF0; // PE header past the end
        assert!(pe::parse(&b).is_err());
    }
}
