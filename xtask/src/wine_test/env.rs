//! The suite's own Wine prefix, its wine commands (each with a log file and a timeout) and its
//! kernel services.
//!
//! - Wine's stdout is never a pipe (services.exe and winedevice.exe inherit it and keep it
//!   open): every command writes to `logs/<build>/<name>.log`.
//! - `wineserver -p` first, so services.exe and winedevice.exe (and the loaded drivers) live
//!   between commands; `wineserver -k` at the end.
//! - The drivers run in winedevice.exe, which services.exe starts with the environment and the
//!   output of the first wine command (`wineboot`): `logs/<build>/boot.log` collects their
//!   `DbgPrint` lines (`WINEDEBUG=warn+debugstr`) and Wine's `fixme`s for netio.sys.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Windows directory of the suite's files (`C:\wsksock`).
pub const WIN_DIR: &str = r"C:\wsksock";

/// A wine command that ended (or was killed at its timeout).
pub struct Ran {
    /// Exit code (`None`: killed at the timeout).
    pub code: Option<i32>,
    /// Its output (stdout and stderr), `\r` removed.
    pub text: String,
    /// How long it ran.
    pub took: Duration,
}

impl Ran {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// A wine command running in the background.
pub struct Background {
    child: Child,
    log: PathBuf,
    started: Instant,
    name: String,
}

impl Background {
    /// Waits up to `timeout` for it to end; kills it then.
    pub fn wait(mut self, timeout: Duration) -> Ran {
        let code = wait_or_kill(&mut self.child, timeout, &self.name);
        Ran {
            code,
            text: read_log(&self.log),
            took: self.started.elapsed(),
        }
    }

    /// Its output so far.
    pub fn text(&self) -> String {
        read_log(&self.log)
    }
}

/// The suite's Wine prefix.
pub struct Wine {
    prefix: PathBuf,
    logs: PathBuf,
}

fn read_log(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).replace('\r', "")
}

fn wait_or_kill(child: &mut Child, timeout: Duration, name: &str) -> Option<i32> {
    let end = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st.code().unwrap_or(-1)),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                eprintln!("  ! {name}: no exit within {timeout:?}, killed");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

impl Wine {
    /// The prefix `dir/prefix` with logs in `dir/logs/<logs>` (one directory per build).
    pub fn new(dir: &Path, logs: &str) -> Wine {
        Wine {
            prefix: dir.join("prefix"),
            logs: dir.join("logs").join(logs),
        }
    }

    /// Where the logs are.
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// `C:\wsksock` on the Linux side.
    pub fn drive_dir(&self) -> PathBuf {
        self.prefix.join("drive_c").join("wsksock")
    }

    /// `C:\windows\system32\drivers` on the Linux side, where Wine finds a driver's imports.
    pub fn system_drivers_dir(&self) -> PathBuf {
        self.prefix
            .join("drive_c")
            .join("windows")
            .join("system32")
            .join("drivers")
    }

    /// Ends any wineserver of the prefix.
    pub fn kill_server(&self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Wine with a persistent wineserver and a `wineboot` whose log (`boot.log`) collects the
    /// drivers' output: services.exe and winedevice.exe are started by it and inherit its output
    /// and `WINEDEBUG`. `fresh` (or no prefix yet): on a new prefix, the old one removed (~10 s);
    /// otherwise on the existing one, restarted (~1 s; its files and services stay).
    pub fn boot(&self, fresh: bool) -> Result<Duration, String> {
        let t = Instant::now();
        self.kill_server();
        let _ = std::fs::remove_dir_all(&self.logs);
        std::fs::create_dir_all(&self.logs).map_err(|e| format!("{}: {e}", self.logs.display()))?;
        if fresh || !self.prefix.join("system.reg").exists() {
            let _ = std::fs::remove_dir_all(&self.prefix);
            // 1. The prefix, created by wine itself (the directory must not exist before).
            let r = self.run_env("init", "wineboot", &["-i"], "-all", Duration::from_mins(3))?;
            if !r.ok() {
                return Err(format!("wineboot -i failed:\n{}", tail(&r.text, 20)));
            }
        }
        // 2. Let the previous wineserver (wineboot -i's, or the killed one) go, then start a
        //    persistent one.
        let _ = Command::new("wineserver")
            .arg("-w")
            .env("WINEPREFIX", &self.prefix)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let st = Command::new("wineserver")
            .arg("-p")
            .env("WINEPREFIX", &self.prefix)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run wineserver: {e}"))?;
        if !st.success() {
            return Err(format!("wineserver -p failed: {st}"));
        }
        // 3. The system processes, with the drivers' output in boot.log.
        let r = self.run_env(
            "boot",
            "wineboot",
            &[],
            "warn+debugstr,err-winediag,err-systray,err-ole,fixme-hid,fixme-actctx",
            Duration::from_mins(3),
        )?;
        if !r.ok() {
            return Err(format!("wineboot failed:\n{}", tail(&r.text, 20)));
        }
        std::fs::create_dir_all(self.drive_dir()).map_err(|e| e.to_string())?;
        Ok(t.elapsed())
    }

    fn command(&self, program: &str, args: &[&str], debug: &str, log: &Path) -> Result<Command, String> {
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut c = Command::new(program);
        c.args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", debug)
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        Ok(c)
    }

    fn run_env(
        &self,
        name: &str,
        program: &str,
        args: &[&str],
        debug: &str,
        timeout: Duration,
    ) -> Result<Ran, String> {
        let log = self.logs.join(format!("{name}.log"));
        let t = Instant::now();
        let mut child = self
            .command(program, args, debug, &log)?
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let code = wait_or_kill(&mut child, timeout, name);
        Ok(Ran {
            code,
            text: read_log(&log),
            took: t.elapsed(),
        })
    }

    /// `wine ARGS` with its output in `logs/NAME.log`, killed after `timeout`. A program that
    /// Wine could not even start (start.exe's "Application could not be started") is retried
    /// once: that is Wine's process creation failing, not the program.
    pub fn run(&self, name: &str, args: &[&str], timeout: Duration) -> Result<Ran, String> {
        let r = self.run_env(name, "wine", args, "-all", timeout)?;
        if r.ok() || !r.text.contains("Application could not be started") {
            return Ok(r);
        }
        eprintln!("  ! {name}: wine could not start the program; once more");
        std::thread::sleep(Duration::from_millis(500));
        self.run_env(name, "wine", args, "-all", timeout)
    }

    /// `wine ARGS` in the background.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Result<Background, String> {
        let log = self.logs.join(format!("{name}.log"));
        let child = self
            .command("wine", args, "-all", &log)?
            .spawn()
            .map_err(|e| format!("cannot run wine: {e}"))?;
        Ok(Background {
            child,
            log,
            started: Instant::now(),
            name: name.into(),
        })
    }

    /// The drivers' output so far (DbgPrint lines and Wine's messages from winedevice.exe).
    pub fn driver_log(&self) -> String {
        read_log(&self.logs.join("boot.log"))
    }

    /// `sc create NAME type= kernel start= demand group= GROUP binPath= C:\wsksock\FILE`
    /// (after deleting any old service of that name). Services of one load-order group share
    /// one winedevice.exe — how one driver can reach another's device objects under Wine.
    pub fn create_service(&self, name: &str, file: &str, group: &str) -> Result<(), String> {
        let _ = self.run(
            &format!("sc-delete-old-{name}"),
            &["sc", "delete", name],
            secs(30),
        );
        let path = format!(r"{WIN_DIR}\{file}");
        let r = self.run(
            &format!("sc-create-{name}"),
            &[
                "sc", "create", name, "type=", "kernel", "start=", "demand", "group=", group, "binPath=",
                &path,
            ],
            secs(30),
        )?;
        if r.ok() {
            Ok(())
        } else {
            Err(format!("sc create {name} failed:\n{}", tail(&r.text, 10)))
        }
    }

    /// `sc start NAME`; Ok once it is RUNNING.
    pub fn start_service(&self, name: &str, timeout: Duration) -> Result<Duration, String> {
        let r = self.run(&format!("sc-start-{name}"), &["sc", "start", name], timeout)?;
        if r.text.contains("RUNNING") {
            Ok(r.took)
        } else {
            // sc.exe says nothing when a call fails (its traces are off): the exit code is all.
            let code = r.code.map_or("killed".into(), |c| format!("exit code {c}"));
            Err(format!(
                "sc start {name} did not report RUNNING ({code}):\n{}",
                tail(&r.text, 10)
            ))
        }
    }

    /// The service's state line (`RUNNING`, `STOPPED`, ...), or "" if unknown.
    pub fn service_state(&self, name: &str) -> String {
        self.run(&format!("sc-query-{name}"), &["sc", "query", name], secs(30))
            .ok()
            .and_then(|r| {
                r.text
                    .lines()
                    .find(|l| l.contains("STATE"))
                    .and_then(|l| l.split_whitespace().last().map(str::to_string))
            })
            .unwrap_or_default()
    }

    /// `sc stop NAME`, then waits until it is STOPPED; Ok with the time it took.
    pub fn stop_service(&self, name: &str, timeout: Duration) -> Result<Duration, String> {
        let t = Instant::now();
        let r = self.run(&format!("sc-stop-{name}"), &["sc", "stop", name], timeout)?;
        if r.code.is_none() {
            return Err(format!("sc stop {name} hung for {timeout:?}"));
        }
        while t.elapsed() < timeout {
            if self.service_state(name) == "STOPPED" {
                return Ok(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("{name} not STOPPED within {timeout:?}"))
    }

    /// Sets a REG_DWORD value of a service's key.
    pub fn set_service_dword(&self, service: &str, value: &str, data: u64) -> Result<(), String> {
        let key = format!(r"HKLM\System\CurrentControlSet\Services\{service}");
        let d = data.to_string();
        let r = self.run(
            &format!("reg-add-{service}-{value}"),
            &["reg", "add", &key, "/v", value, "/t", "REG_DWORD", "/d", &d, "/f"],
            secs(30),
        )?;
        if r.ok() {
            Ok(())
        } else {
            Err(format!("reg add {key} {value} failed:\n{}", tail(&r.text, 5)))
        }
    }

    /// The REG_DWORD values of a service's key.
    pub fn service_dwords(&self, service: &str) -> Result<Vec<(String, u64)>, String> {
        let key = format!(r"HKLM\System\CurrentControlSet\Services\{service}");
        let r = self.run(&format!("reg-query-{service}"), &["reg", "query", &key], secs(30))?;
        Ok(r.text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let (name, ty, val) = (it.next()?, it.next()?, it.next()?);
                (ty == "REG_DWORD")
                    .then(|| u64::from_str_radix(val.trim_start_matches("0x"), 16).ok())
                    .flatten()
                    .map(|v| (name.to_string(), v))
            })
            .collect())
    }
}

/// Seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
