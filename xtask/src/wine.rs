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

/// Builds the smoke client (`wine_smoke.c`) with mingw, installing it if missing.
fn build_smoke_client(install: bool) -> Result<PathBuf, String> {
    let gcc = "/usr/bin/x86_64-w64-mingw32-gcc";
    if !Path::new(gcc).exists() {
        if !install {
            return Err("x86_64-w64-mingw32-gcc is not installed".into());
        }
        crate::util::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "gcc-mingw-w64-x86-64"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let src = crate::util::root().join("xtask").join("src").join("wine_smoke.c");
    let exe = target_dir().join("cross").join("wine_smoke.exe");
    crate::util::run(Command::new(gcc).args(["-O2", "-Wall", "-o"]).arg(&exe).arg(&src))?;
    Ok(exe)
}

/// A one-connection echo peer: echoes the first line, then reports how the connection ended.
fn echo_peer() -> Result<(u16, std::thread::JoinHandle<String>), String> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let handle = std::thread::spawn(move || {
        let _ = listener.set_nonblocking(true);
        let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
        let mut conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(_) => return "peer: no connection".to_string(),
            }
        };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            match conn.read(&mut byte) {
                Ok(1) => line.push(byte[0]),
                _ => break,
            }
        }
        let _ = conn.write_all(&line);
        let mut rest = Vec::new();
        let end = match conn.read_to_end(&mut rest) {
            Ok(_) => "FIN".to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "RST".to_string(),
            Err(e) => format!("error {e}"),
        };
        format!("peer: got {:?}, then {end}", String::from_utf8_lossy(&line))
    });
    Ok((port, handle))
}

/// Loads the driver, runs the smoke client against an echo peer, unloads it.
pub fn smoke(sys: &Path, install: bool) -> Result<(), String> {
    let exe = build_smoke_client(install)?;
    let dir = prefix().join("drive_c").join("wsksock");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::copy(&exe, dir.join("wine_smoke.exe")).map_err(|e| format!("copy client: {e}"))?;
    let (port, peer) = echo_peer()?;
    let port_s = port.to_string();
    let mut client_log = String::new();
    cycle(sys, install, &mut || {
        client_log = wine("client", &[r"C:\wsksock\wine_smoke.exe", &port_s])?;
        Ok(())
    })?;
    let peer = peer.join().unwrap_or_else(|_| "peer: panicked".into());
    let client: Vec<&str> = client_log
        .lines()
        .filter(|l| !l.contains(":fixme:") && !l.contains(":err:") && !l.contains(":warn:"))
        .collect();
    eprintln!("xtask wine smoke:\n  {}\n  {peer}", client.join("\n  "));
    if client_log.contains("failures 0") && peer.contains("hello-from-wsksock") {
        Ok(())
    } else {
        Err(format!("the Wine smoke test failed; see {}", logs().display()))
    }
}

/// Loads and unloads the driver once; fails unless both `DriverEntry` and `DriverUnload` ran.
pub fn load_unload(sys: &Path, install: bool) -> Result<(), String> {
    cycle(sys, install, &mut || Ok(()))
}

/// `sc create` + `start`, `during`, `sc stop` + `delete`; checks DriverEntry and DriverUnload ran.
fn cycle(sys: &Path, install: bool, during: &mut dyn FnMut() -> Result<(), String>) -> Result<(), String> {
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
        let during_result = during();
        let stop = wine("sc-stop", &["sc", "stop", "wsksock"])?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = wine("sc-delete", &["sc", "delete", "wsksock"]);
        during_result?;
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
