//! What the suite needs, installed if missing and built: Wine, mingw-w64, Debian's Rust with
//! library sources; the WDM driver (through `cargo xtask cross`), the `wsksock` CLI for
//! `x86_64-pc-windows-gnu` (build-std), the stub `bcryptprimitives.dll` Rust std needs under
//! Wine 8, and the kernel consumer samples (C with mingw, Rust with build-std like the driver).

use crate::util::{debian_cargo, root, run as run_cmd, target_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

const MINGW_GCC: &str = "/usr/bin/x86_64-w64-mingw32-gcc";
const MINGW_DDK: &str = "/usr/x86_64-w64-mingw32/include/ddk";
const GNU: &str = "x86_64-pc-windows-gnu";
const MSVC: &str = "x86_64-pc-windows-msvc";

/// The built artifacts (Linux paths).
pub struct Artifacts {
    /// `wsksock.sys` (WDM).
    pub driver: PathBuf,
    /// `wsksock.exe`.
    pub cli: PathBuf,
    /// `bcryptprimitives.dll`.
    pub bcrypt: PathBuf,
    /// The C consumer `wskcons_c.sys`.
    pub consumer_c: PathBuf,
    /// The Rust consumer `wskcons_rs.sys`.
    pub consumer_rs: PathBuf,
}

/// Where the suite builds and runs (`target/wine`).
pub fn dir() -> PathBuf {
    target_dir().join("wine")
}

/// Installs what is missing (root, Debian 12): one `apt-get update`, one install.
pub fn ensure_installed(install: bool) -> Result<(), String> {
    let wanted: &[(&str, &[&str])] = &[
        ("/usr/bin/wine", &["wine", "wine64", "libwine"]),
        (MINGW_GCC, &["gcc-mingw-w64-x86-64", "binutils-mingw-w64-x86-64"]),
        (MINGW_DDK, &["mingw-w64-x86-64-dev"]),
        ("/usr/bin/cargo", &["cargo-web"]),
        ("/usr/bin/rustc", &["rustc-web"]),
        ("/usr/lib/rustlib/src/rust/library/std", &["rust-web-src"]),
        ("/usr/bin/cargo-clippy", &["rust-web-clippy"]),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .flat_map(|(_, pkgs)| pkgs.iter().copied())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !install {
        return Err(format!(
            "missing packages: {} (run as root without --no-install)",
            missing.join(" ")
        ));
    }
    run_cmd(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The CLI for Windows: std with build-std, mingw gcc as the linker; clippy too (`-D warnings`)
/// so the Windows-only code stays as clean as the rest.
fn cli(clippy: bool) -> Result<PathBuf, String> {
    let target = dir().join("cli");
    for sub in if clippy {
        &["build", "clippy"][..]
    } else {
        &["build"][..]
    } {
        let mut c = debian_cargo(&target);
        c.current_dir(root())
            .args([
                sub,
                "--release",
                "-p",
                "wsksock",
                "--bin",
                "wsksock",
                "--target",
                GNU,
            ])
            .arg("-Zbuild-std=std,panic_abort")
            .arg("--config")
            .arg(format!("target.{GNU}.linker=\"{MINGW_GCC}\""))
            .args(["--config", "profile.release.panic=\"abort\""])
            .args(["--config", "profile.release.debug=0"]);
        if *sub == "clippy" {
            c.args(["--", "-D", "warnings"]);
        }
        run_cmd(&mut c)?;
    }
    Ok(target.join(GNU).join("release").join("wsksock.exe"))
}

fn mingw(out: &Path, args: &[&str]) -> Result<(), String> {
    run_cmd(
        Command::new(MINGW_GCC)
            .current_dir(root())
            .args(args)
            .arg("-o")
            .arg(out),
    )
}

/// Builds everything; `clippy`: also the Windows clippy of the CLI and the Rust consumer.
pub fn all(install: bool, clippy: bool) -> Result<Artifacts, String> {
    let out = dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let no_install = ["--no-install".to_string()];
    crate::cross::run(if install { &[] } else { &no_install })?;
    let driver = target_dir().join("cross").join("package").join("wsksock.sys");
    let bcrypt = out.join("bcryptprimitives.dll");
    mingw(
        &bcrypt,
        &[
            "-shared",
            "-O2",
            "tests/wine/bcryptprimitives/bcryptprimitives.c",
            "tests/wine/bcryptprimitives/bcryptprimitives.def",
            "-lbcrypt",
        ],
    )?;
    let consumer_c = out.join("wskcons_c.sys");
    mingw(
        &consumer_c,
        &[
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            MINGW_DDK,
            "-I",
            "abi/include",
            "-shared",
            "-nostdlib",
            "-Wl,--subsystem,native",
            "-Wl,--entry,DriverEntry",
            "samples/consumer-c/wskcons.c",
            "-lntoskrnl",
            "-lgcc",
        ],
    )?;
    let consumer_rs = consumer_rust(clippy)?;
    let cli = cli(clippy)?;
    Ok(Artifacts {
        driver,
        cli,
        bcrypt,
        consumer_c,
        consumer_rs,
    })
}

/// The Rust consumer, built exactly like the driver (same target dir, linker and flags, so
/// core/alloc built for the driver are reused).
fn consumer_rust(clippy: bool) -> Result<PathBuf, String> {
    let cross = target_dir().join("cross");
    let linker = [
        cross.join("bin").join("lld-link"),
        PathBuf::from("/usr/bin/lld-link-16"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .ok_or("no lld-link (run cargo xtask cross)")?;
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
    let manifest = root().join("samples").join("consumer-rs").join("Cargo.toml");
    for sub in if clippy {
        &["build", "clippy"][..]
    } else {
        &["build"][..]
    } {
        let mut c = debian_cargo(&cross);
        c.current_dir(root())
            .arg(sub)
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["--release", "--target", MSVC])
            .args([
                "-Zbuild-std=core,alloc",
                "-Zbuild-std-features=compiler-builtins-mem",
            ])
            .arg("--config")
            .arg(format!("target.{MSVC}.linker=\"{}\"", linker.display()))
            .arg("--config")
            .arg(format!("target.{MSVC}.rustflags=[{rustflags}]"))
            .args(["--config", "profile.release.panic=\"abort\""]);
        if *sub == "clippy" {
            c.args(["--", "-D", "warnings"]);
        }
        run_cmd(&mut c)?;
    }
    let dll = cross.join(MSVC).join("release").join("wskcons_rs.dll");
    let sys = dir().join("wskcons_rs.sys");
    std::fs::copy(&dll, &sys).map_err(|e| format!("{} -> {}: {e}", dll.display(), sys.display()))?;
    Ok(sys)
}
