//! `cargo xtask cross [--no-install] [--wine]`: the WDM driver for `x86_64-pc-windows-msvc`.
//!
//! 1. Installs what it needs if missing (root, Debian 12): `rustc-web cargo-web rust-web-src
//!    rust-web-clippy` (Debian's Rust 1.96 with library sources for `-Zbuild-std`); the linker is
//!    rustup's `rust-lld` (run as `lld-link`), else Debian's `lld-16`.
//! 2. Builds `wsksock-driver` (its WDM front end) with build-std into `target/cross`, with
//!    constant RUSTFLAGS so core/alloc are built once.
//! 3. Runs Debian's clippy for that target with `-D warnings` — this type-checks everything the
//!    KMDF front end shares with the WDM one (bindings, provider, request, security).
//! 4. Checks the PE: native subsystem, an entry point, imports only from ntoskrnl.exe, netio.sys
//!    and HAL.dll, and — when Wine is installed — every import exported by Wine's modules.
//! 5. Packages `target/cross/package/{wsksock.sys, wsksock.inf}` (the `.inx` with its version
//!    stamped, as stampinf would).
//!
//! `--wine`: afterwards loads and unloads the driver under Wine, then runs a user-mode smoke client
//! (`wine_smoke.c`: open, SOCKET, BIND, CONNECT, SEND, RECEIVE, CLOSE, bad input) against an echo
//! peer on 127.0.0.1 (see `wine.rs`).

#[path = "pe.rs"]
mod pe;
#[path = "wine.rs"]
pub mod wine;

use crate::util::{debian_cargo, root, run as run_cmd, target_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TARGET: &str = "x86_64-pc-windows-msvc";
const ALLOWED_IMPORTS: &[&str] = &["ntoskrnl.exe", "netio.sys", "hal.dll"];
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "rust-web-clippy"];
const WINE_DIR: &str = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";

/// Builds and checks the driver.
pub fn run(args: &[String]) -> Result<(), String> {
    let install = !args.iter().any(|a| a == "--no-install");
    let t0 = Instant::now();
    ensure_toolchain(install)?;
    let linker = ensure_linker(install)?;
    let t1 = Instant::now();
    cargo_cross("build", &linker, &[])?;
    let t2 = Instant::now();
    cargo_cross("clippy", &linker, &["--", "-D", "warnings"])?;
    let t3 = Instant::now();
    let sys = package()?;
    check_pe(&sys)?;
    eprintln!(
        "xtask cross: ok — {} (tools {:.1}s, build {:.1}s, clippy {:.1}s)",
        sys.display(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64()
    );
    if args.iter().any(|a| a == "--wine") {
        wine::load_unload(&sys, install)?;
        wine::smoke(&sys, install)?;
    }
    Ok(())
}

fn cross_dir() -> PathBuf {
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

fn ensure_toolchain(install: bool) -> Result<(), String> {
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
fn ensure_linker(install: bool) -> Result<PathBuf, String> {
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

/// `/usr/bin/cargo <sub>` for the driver with build-std, Debian's toolchain first on PATH.
fn cargo_cross(sub: &str, linker: &Path, extra: &[&str]) -> Result<(), String> {
    let rustflags = [
        "/DRIVER",
        "/SUBSYSTEM:NATIVE",
        "/ENTRY:DriverEntry",
        "/NODEFAULTLIB",
    ]
    .iter()
    .map(|a| format!("\"-C\",\"link-arg={a}\""))
    .collect::<Vec<_>>()
    .join(",");
    let mut c = debian_cargo(&cross_dir());
    c.current_dir(root())
        .arg(sub)
        .args(["--release", "-p", "wsksock-driver", "--target", TARGET])
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--config")
        .arg(format!("target.{TARGET}.linker=\"{}\"", linker.display()))
        .arg("--config")
        .arg(format!("target.{TARGET}.rustflags=[{rustflags}]"))
        .args(["--config", "profile.release.panic=\"abort\""])
        .args(extra);
    run_cmd(&mut c)
}

/// Copies the driver and the stamped INF into `target/cross/package`.
fn package() -> Result<PathBuf, String> {
    let dll = cross_dir()
        .join(TARGET)
        .join("release")
        .join("wsksock_driver.dll");
    let pkg = cross_dir().join("package");
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
fn check_pe(sys: &Path) -> Result<(), String> {
    let bytes = std::fs::read(sys).map_err(|e| format!("{}: {e}", sys.display()))?;
    let img = pe::parse(&bytes).map_err(|e| format!("{}: {e}", sys.display()))?;
    let mut problems = Vec::new();
    if img.subsystem != pe::SUBSYSTEM_NATIVE {
        problems.push(format!(
            "subsystem {} is not IMAGE_SUBSYSTEM_NATIVE",
            img.subsystem
        ));
    }
    if img.entry_rva == 0 {
        problems.push("no entry point".to_string());
    }
    let mut count = 0;
    for (dll, names) in &img.imports {
        count += names.len();
        if !ALLOWED_IMPORTS.contains(&dll.to_ascii_lowercase().as_str()) {
            problems.push(format!("imports from {dll} ({})", names.join(", ")));
        }
        if let Some(names) = missing_in_wine(dll, names)? {
            problems.push(format!("Wine's {dll} lacks {}", names.join(", ")));
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "PE check of {} failed:\n  {}",
            sys.display(),
            problems.join("\n  ")
        ));
    }
    eprintln!(
        "xtask cross: PE ok — native subsystem, {count} imports from {:?}{}",
        img.imports.keys().collect::<Vec<_>>(),
        if Path::new(WINE_DIR).exists() {
            ", all exported by Wine"
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
