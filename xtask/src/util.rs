//! Small process helpers shared by the subcommands.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A command being built.
pub type Cmd = Command;

/// `cargo` from the toolchain running xtask.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Runs a command, echoing it, and fails on a non-zero exit.
pub fn run(c: &mut Command) -> Result<(), String> {
    eprintln!("+ {c:?}");
    let st = c.status().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{c:?} failed: {st}"))
    }
}

/// `/usr/bin/cargo` with Debian's toolchain first on PATH and nothing of rustup's in the way.
pub fn debian_cargo(target_dir: &Path) -> Command {
    let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("/usr/bin/cargo");
    c.env("PATH", path)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", target_dir);
    for var in [
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        c.env_remove(var);
    }
    c
}

/// Refuses arguments that are not among `known` (flags) — a typo must not build as if nothing had
/// been asked. `with_value`: flags followed by a value, which is skipped.
pub fn refuse_unknown_with(args: &[String], known: &[&str], with_value: &[&str]) -> Result<(), String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if with_value.contains(&a.as_str()) {
            if it.next().is_none() {
                return Err(format!("{a} needs a value"));
            }
        } else if !known.contains(&a.as_str()) {
            let all: Vec<&str> = known.iter().chain(with_value).copied().collect();
            return Err(if all.is_empty() {
                format!("unknown argument {a:?}: this subcommand takes none")
            } else {
                format!("unknown argument {a:?}; known: {}", all.join(" "))
            });
        }
    }
    Ok(())
}

/// [`refuse_unknown_with`] for flags without values.
pub fn refuse_unknown(args: &[String], known: &[&str]) -> Result<(), String> {
    refuse_unknown_with(args, known, &[])
}

#[cfg(test)]
mod tests {
    use super::{refuse_unknown, refuse_unknown_with};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn known_flags_and_values_pass() {
        assert!(refuse_unknown(&args(&[]), &[]).is_ok());
        assert!(refuse_unknown(&args(&["--quick"]), &["--quick"]).is_ok());
        assert!(refuse_unknown_with(&args(&["--only", "x,y", "--keep"]), &["--keep"], &["--only"]).is_ok());
    }

    #[test]
    fn unknown_flags_and_missing_values_are_refused() {
        let none = refuse_unknown(&args(&["--bogus"]), &[]).unwrap_err();
        assert!(none.contains("takes none"), "{none}");
        let typo = refuse_unknown(&args(&["--quik"]), &["--quick"]).unwrap_err();
        assert!(typo.contains("--quick"), "{typo}");
        assert!(refuse_unknown_with(&args(&["--only"]), &[], &["--only"]).is_err());
        assert!(refuse_unknown(&args(&["receive"]), &["--keep"]).is_err());
    }
}
