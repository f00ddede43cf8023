//! Runs the built `wsksock` binary.
//!
//! `CARGO_BIN_EXE_*` exists only for a package's own binaries, so the binary is looked up next
//! to the test executable: tests live in `target/<profile>/deps/`, binaries in
//! `target/<profile>/` (`cargo test --workspace` builds every binary of the workspace first).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `wsksock` binary of this build.
#[track_caller]
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let name = format!("wsksock{}", std::env::consts::EXE_SUFFIX);
    let candidates: Vec<PathBuf> = exe.ancestors().skip(1).take(2).map(|d| d.join(&name)).collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the wsksock binary is not built (looked at {candidates:?}); run `cargo test --workspace` \
                 or `cargo build -p wsksock` first"
            )
        })
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as one JSON object.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        assert!(self.status.success(), "wsksock failed: {self:?}");
        let v: serde_json::Value = serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {self:?}"));
        assert!(v.is_object(), "stdout is not a JSON object: {self:?}");
        v
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}

/// Runs `wsksock ARGS...`, killing it and failing the test if it runs longer than `timeout`.
#[track_caller]
pub fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], timeout: Duration) -> Run {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsksock");
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for wsksock") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wsksock {args:?} did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
    }
}

/// A `wsksock` run in the background, with its standard input open until [`Spawned::finish`]
/// and its standard error readable line by line while it runs.
pub struct Spawned {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    err_lines: std::sync::mpsc::Receiver<String>,
    err_seen: Vec<String>,
    out_t: std::thread::JoinHandle<String>,
}

/// Starts `wsksock ARGS...` with piped standard input, output and error.
#[track_caller]
pub fn spawn<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Spawned {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsksock");
    let stdin = child.stdin.take();
    let mut out = child.stdout.take().expect("stdout pipe");
    let err = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let (tx, err_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Spawned {
        child,
        stdin,
        err_lines,
        err_seen: Vec::new(),
        out_t,
    }
}

impl Spawned {
    /// Writes to its standard input.
    #[track_caller]
    pub fn input(&mut self, data: &[u8]) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("standard input still open");
        stdin.write_all(data).expect("write to wsksock");
        stdin.flush().expect("flush");
    }

    /// Closes its standard input (the end of input).
    pub fn end_input(&mut self) {
        self.stdin = None;
    }

    /// The next line of standard error, waiting at most `timeout`.
    #[track_caller]
    pub fn stderr_line(&mut self, timeout: Duration) -> String {
        let line = self.err_lines.recv_timeout(timeout).unwrap_or_else(|_| {
            panic!(
                "no line on stderr within {timeout:?} (so far {:?})",
                self.err_seen
            )
        });
        self.err_seen.push(line.clone());
        line
    }

    /// Waits for it to exit within `timeout` (killing it and failing the test otherwise); its
    /// standard input stays open until then, unless [`Spawned::end_input`] closed it.
    #[track_caller]
    pub fn finish(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for wsksock") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "wsksock did not exit within {timeout:?} (stderr {:?})",
                    self.err_seen
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        self.stdin = None;
        let stdout = self.out_t.join().expect("stdout reader");
        let mut stderr: Vec<String> = std::mem::take(&mut self.err_seen);
        while let Ok(l) = self.err_lines.recv_timeout(Duration::from_millis(200)) {
            stderr.push(l);
        }
        Run {
            status,
            stdout,
            stderr: stderr.join("\n"),
        }
    }
}
