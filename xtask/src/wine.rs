//! Loads `wsksock.sys` under Wine 8 once: `sc create` / `start` / `stop` / `delete` in a prefix of
//! our own, and checks the driver's `DbgPrint` lines (`WINEDEBUG=warn+debugstr`) for
//! `DriverEntry` and `DriverUnload`. Reusable by the Wine suite.
//!
//! Wine's stdout is never piped (services.exe and winedevice.exe inherit it and keep it open):
//! every command writes to a log file under `target/cross/wine-logs`.

use crate::util::target_dir;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Wine prefix of the cross build.
pub fn prefix() -> PathBuf {
    target_dir().join("cross").join("wineprefix")
}

fn logs() -> PathBuf {
    target_dir().join("cross").join("wine-logs")
}

/// Runs one wine command with its output in `logs()/<name>.log`; returns the log text.
pub fn wine(name: &str, args: &[&str]) -> Result<String, String> {
    let dir = logs();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = dir.join(format!("{name}.log"));
    let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    eprintln!("+ wine {}", args.join(" "));
    let st = Command::new("wine")
        .args(args)
        .env("WINEPREFIX", prefix())
        .env("WINEDEBUG", "warn+debugstr")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .status()
        .map_err(|e| format!("cannot run wine: {e}"))?;
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).replace('\r', "");
    if !st.success() {
        eprintln!("  (wine {name} exited with {st})");
    }
    Ok(text)
}

fn wineserver(arg: &str) {
    let _ = Command::new("wineserver")
        .arg(arg)
        .env("WINEPREFIX", prefix())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Installs Wine if missing (root, Debian).
pub fn ensure_wine(install: bool) -> Result<(), String> {
    if Path::new("/usr/bin/wine").exists() {
        return Ok(());
    }
    if !install {
        return Err("wine is not installed".into());
    }
    crate::util::run(Command::new("apt-get").arg("update"))?;
    crate::util::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "wine",
                "wine64",
                "libwine",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Loads and unloads the driver once; fails unless both `DriverEntry` and `DriverUnload` ran.
pub fn load_unload(sys: &Path, install: bool) -> Result<(), String> {
    ensure_wine(install)?;
    let _ = std::fs::remove_dir_all(logs());
    let dir = prefix().join("drive_c").join("wsksock");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::copy(sys, dir.join("wsksock.sys")).map_err(|e| format!("copy driver: {e}"))?;
    wineserver("-p");
    let result = (|| {
        let _ = wine("sc-delete-old", &["sc", "delete", "wsksock"]);
        wine(
            "sc-create",
            &[
                "sc",
                "create",
                "wsksock",
                "type=",
                "kernel",
                "start=",
                "demand",
                "binPath=",
                r"C:\wsksock\wsksock.sys",
            ],
        )?;
        let start = wine("sc-start", &["sc", "start", "wsksock"])?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        let query = wine("sc-query", &["sc", "query", "wsksock"])?;
        let stop = wine("sc-stop", &["sc", "stop", "wsksock"])?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = wine("sc-delete", &["sc", "delete", "wsksock"]);
        Ok::<_, String>((start, query, stop))
    })();
    wineserver("-k");
    let (_start, query, _stop) = result?;
    // The driver runs in winedevice.exe, whose output goes to the log of the wine command that
    // started services.exe: read them all.
    let mut all = String::new();
    for entry in std::fs::read_dir(logs()).map_err(|e| e.to_string())?.flatten() {
        all.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.path()).unwrap_or_default(),
        ));
    }
    let loaded = all.contains("wsksock: loaded");
    let unloaded = all.contains("wsksock: unloaded");
    let running = query.contains("RUNNING");
    eprintln!(
        "xtask wine: DriverEntry {loaded}, RUNNING {running}, DriverUnload {unloaded} (logs in {})",
        logs().display()
    );
    if loaded && running && unloaded {
        Ok(())
    } else {
        Err(format!(
            "the driver did not load and unload cleanly under Wine; see {}",
            logs().display()
        ))
    }
}
