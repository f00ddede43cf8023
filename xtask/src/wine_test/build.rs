//! What the suite needs, installed if missing and built: Wine, mingw-w64, Debian's Rust with
//! library sources; the drivers (WDM and/or KMDF, through `cross::build_driver`), the WDF test
//! double for the KMDF run (`tests/wdf-double`, installed as `WDFLDR.SYS`), the `wsksock` CLI for
//! `x86_64-pc-windows-gnu` (build-std), the stub `bcryptprimitives.dll` Rust std needs under
//! Wine 8, and the kernel consumer samples (C with mingw, Rust with build-std like the driver).
//!
//! Every kernel-mode Rust crate (the drivers, the Rust consumer, the double) goes through
//! `cross::cargo_kernel`: one target dir (`target/cross`), one set of flags, so core and alloc
//! are built once; each crate's build script emits its own link arguments.

use crate::cross::{self, pe, Build};
use crate::util::{debian_cargo, root, run as run_cmd, target_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

const MINGW_GCC: &str = "/usr/bin/x86_64-w64-mingw32-gcc";
const MINGW_DDK: &str = "/usr/x86_64-w64-mingw32/include/ddk";
const GNU: &str = "x86_64-pc-windows-gnu";
const MSVC: &str = "x86_64-pc-windows-msvc";

/// The WDF test double's crate.
const WDF_DOUBLE: &str = "tests/wdf-double/Cargo.toml";

/// The built artifacts (Linux paths).
pub struct Artifacts {
    /// `wsksock.sys` of each build asked for.
    pub drivers: Vec<(Build, PathBuf)>,
    /// The test build of each (feature `alloc-faults`), for the `alloc-faults` scenario.
    pub faulty: Vec<(Build, PathBuf)>,
    /// `allocfaults.exe`, that scenario's workload.
    pub allocfaults: PathBuf,
    /// The WDF test double (`wdfldr.dll`, installed as `WDFLDR.SYS`), if the KMDF build is asked for.
    pub wdfldr: Option<PathBuf>,
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

/// Builds everything `builds` need; `clippy`: also the Windows clippy of the CLI, the Rust
/// consumer and the WDF test double (the drivers' clippy always runs).
pub fn all(install: bool, clippy: bool, builds: &[Build]) -> Result<Artifacts, String> {
    let out = dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    // Before anything long: a KMDF run without the double cannot load the driver.
    let double = builds
        .contains(&Build::Kmdf)
        .then(wdf_double_manifest)
        .transpose()?;
    let mut drivers = Vec::new();
    for &b in builds {
        drivers.push((b, cross::build_driver(b, install)?));
    }
    let mut faulty = Vec::new();
    for &b in builds {
        let sys = faulty_path(b);
        cross::build_alloc_faults(b, &sys)?;
        faulty.push((b, sys));
    }
    let allocfaults = out.join("allocfaults.exe");
    mingw(
        &allocfaults,
        &[
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            "abi/include",
            "tests/wine/alloc-faults/allocfaults.c",
            "-ladvapi32",
        ],
    )?;
    let linker = cross::ensure_linker(install)?;
    let wdfldr = double.map(|m| wdf_double(&linker, &m, clippy)).transpose()?;
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
    let consumer_rs = consumer_rust(&linker, clippy)?;
    let cli = cli(clippy)?;
    Ok(Artifacts {
        drivers,
        faulty,
        allocfaults,
        wdfldr,
        cli,
        bcrypt,
        consumer_c,
        consumer_rs,
    })
}

/// The artifacts of the last build (`--no-build`); each must exist.
pub fn previous(builds: &[Build]) -> Result<Artifacts, String> {
    let d = dir();
    let art = Artifacts {
        drivers: builds
            .iter()
            .map(|&b| (b, b.package_dir().join("wsksock.sys")))
            .collect(),
        faulty: builds.iter().map(|&b| (b, faulty_path(b))).collect(),
        allocfaults: d.join("allocfaults.exe"),
        wdfldr: builds.contains(&Build::Kmdf).then(|| d.join("WDFLDR.SYS")),
        cli: d.join("cli").join(GNU).join("release").join("wsksock.exe"),
        bcrypt: d.join("bcryptprimitives.dll"),
        consumer_c: d.join("wskcons_c.sys"),
        consumer_rs: d.join("wskcons_rs.sys"),
    };
    let missing = art
        .drivers
        .iter()
        .chain(&art.faulty)
        .map(|(_, p)| p)
        .chain([&art.allocfaults])
        .chain(&art.wdfldr)
        .chain([&art.cli, &art.bcrypt, &art.consumer_c, &art.consumer_rs])
        .find(|p| !p.exists())
        .cloned();
    match missing {
        Some(p) => Err(format!(
            "--no-build: {} is missing (build once without it)",
            p.display()
        )),
        None => Ok(art),
    }
}

/// Where the test build of `b` goes (`target/wine/wsksock-alloc-faults-<build>.sys`).
fn faulty_path(b: Build) -> PathBuf {
    dir().join(format!("wsksock-alloc-faults-{}.sys", b.name()))
}

/// The double's manifest, or why the KMDF run cannot happen.
fn wdf_double_manifest() -> Result<PathBuf, String> {
    let m = root().join(WDF_DOUBLE);
    if m.exists() {
        Ok(m)
    } else {
        Err(format!(
            "the KMDF run needs the WDF test double, and {} does not exist: Wine has no KMDF, the \
             driver cannot load without a WDFLDR.SYS (docs/WINE.md). Run `--build wdm` meanwhile.",
            m.display()
        ))
    }
}

/// The WDF test double, built (and linted, `-D warnings`) like every kernel-mode crate; checked
/// to export what the KMDF driver imports from `WDFLDR.SYS`; copied to `target/wine/WDFLDR.SYS`.
fn wdf_double(linker: &Path, manifest: &Path, clippy: bool) -> Result<PathBuf, String> {
    cross::cargo_kernel("build", linker, Some(manifest), &[])?;
    if clippy {
        cross::cargo_kernel("clippy", linker, Some(manifest), &["--", "-D", "warnings"])?;
    }
    let dll = cross::cross_dir().join(MSVC).join("release").join("wdfldr.dll");
    let bytes = std::fs::read(&dll).map_err(|e| format!("{}: {e}", dll.display()))?;
    let img = pe::parse(&bytes).map_err(|e| format!("{}: {e}", dll.display()))?;
    let missing: Vec<&str> = cross::WDFLDR_IMPORTS
        .iter()
        .copied()
        .filter(|f| !img.exports.iter().any(|e| e == f))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} does not export {} (the KMDF driver imports {:?} from WDFLDR.SYS)",
            dll.display(),
            missing.join(", "),
            cross::WDFLDR_IMPORTS
        ));
    }
    let sys = dir().join("WDFLDR.SYS");
    std::fs::copy(&dll, &sys).map_err(|e| format!("{} -> {}: {e}", dll.display(), sys.display()))?;
    Ok(sys)
}

/// The Rust consumer, built like the driver (same target dir, linker and flags, so core/alloc
/// built for the driver are reused; its link arguments come from its build script).
fn consumer_rust(linker: &Path, clippy: bool) -> Result<PathBuf, String> {
    let manifest = root().join("samples").join("consumer-rs").join("Cargo.toml");
    cross::cargo_kernel("build", linker, Some(&manifest), &[])?;
    if clippy {
        cross::cargo_kernel("clippy", linker, Some(&manifest), &["--", "-D", "warnings"])?;
    }
    let dll = cross::cross_dir()
        .join(MSVC)
        .join("release")
        .join("wskcons_rs.dll");
    let sys = dir().join("wskcons_rs.sys");
    std::fs::copy(&dll, &sys).map_err(|e| format!("{} -> {}: {e}", dll.display(), sys.display()))?;
    Ok(sys)
}
