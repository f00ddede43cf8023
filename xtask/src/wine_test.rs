//! `cargo xtask wine-test [--build wdm|kmdf|both] [--no-install] [--no-build] [--no-clippy]
//! [--keep] [--only NAME,...] [--kmdf-driver PATH]`: the driver under Wine 8 against Wine's WSK, driven by the Windows
//! `wsksock` CLI and by two kernel consumers (C and Rust), with peers on 127.0.0.1 that observe
//! the wire — every scenario against the WDM build, then against the KMDF build (default both).
//!
//! 1. Installs what is missing (root, Debian 12: Wine, mingw-w64, Debian's Rust with sources).
//! 2. Builds the drivers (`cross::build_driver`), the WDF test double for the KMDF run
//!    (`tests/wdf-double`), the CLI for `x86_64-pc-windows-gnu`, the stub
//!    `bcryptprimitives.dll` Rust std needs under Wine 8, and the consumer samples.
//! 3. Makes its own prefix (`target/wine/prefix`, new for the first build, restarted for the
//!    next), loads `wsksock.sys` as a kernel service (load-order group `wsksock`, shared with the
//!    consumers so they run in the same winedevice.exe) and runs the scenarios of
//!    `wine_test/scenarios.rs`, each with timeouts. The KMDF run first installs the double as
//!    `C:\windows\system32\drivers\WDFLDR.SYS`, where Wine resolves the driver's import.
//! 4. Unloads, and fails if any scenario failed, winedevice.exe crashed, or the drivers' log
//!    has a `WDF VERIFIER:` line (the double's report of a framework misuse). Logs:
//!    `target/wine/logs/<build>/` (`boot.log` holds the drivers' DbgPrint output).
//!
//! `--kmdf-driver PATH` (with `--build kmdf --no-build`) runs another KMDF `wsksock.sys` than the
//! tree's: what `cargo xtask mutants` does with each defect it puts back.
//!
//! See `docs/WINE.md` for what each scenario shows and what Wine cannot show.

mod alloc_faults;
mod build;
mod crash;
mod env;
mod json;
mod peers;
mod scenarios;

use crate::cross::Build;
use env::{secs, Wine};
use scenarios::Ctx;
use std::path::Path;
use std::time::{Duration, Instant};

/// The services and their files in `C:\wsksock`.
const DRIVER: (&str, &str) = ("wsksock", "wsksock.sys");
const CONSUMER_C: (&str, &str) = ("wskcons_c", "wskcons_c.sys");
const CONSUMER_RS: (&str, &str) = ("wskcons_rs", "wskcons_rs.sys");
/// The load-order group of all three: one winedevice.exe.
const GROUP: &str = "wsksock";

type Scenario = (&'static str, fn(&Ctx) -> Result<String, String>);

const SCENARIOS: &[Scenario] = &[
    ("send-8mib", scenarios::send_8mib),
    ("receive", scenarios::receive),
    ("close-race", scenarios::close_race),
    ("cancel", scenarios::cancel),
    ("handles", scenarios::handles),
    ("many", scenarios::many),
    ("close-modes", scenarios::close_modes),
    ("linger-expiry", scenarios::linger_expiry),
    ("recv-deadline", scenarios::recv_deadline),
    ("connect", scenarios::connect),
    ("listen", scenarios::listen),
    ("wait-close", scenarios::wait_close),
    ("stats", scenarios::stats),
    ("malformed", scenarios::malformed),
    ("access", scenarios::access),
    ("consent", scenarios::consent),
    ("parallel", scenarios::parallel),
    ("client-exit", scenarios::client_exit),
    ("consumer-c", |c| scenarios::consumer(c, CONSUMER_C.0)),
    ("consumer-rs", |c| scenarios::consumer(c, CONSUMER_RS.0)),
    // It unloads the driver under open sockets, then loads it again.
    ("unload-with-sockets", scenarios::unload_with_sockets),
    // Last: it loads and unloads the test build once per allocation, then the product build again.
    ("alloc-faults", |c| match &c.alloc_faults {
        Some(files) => alloc_faults::run(c, files),
        None => Err("no test build of the driver (feature alloc-faults) for this run".into()),
    }),
];

/// Run only when named with `--only`.
const ON_REQUEST: &[Scenario] = &[("bench", scenarios::bench)];

/// Flags without a value, and flags with one.
const FLAGS: &[&str] = &["--no-install", "--no-build", "--no-clippy", "--keep"];
const WITH_VALUE: &[&str] = &["--build", "--only", "--kmdf-driver"];

/// What the double prints, through DbgPrint, for a misuse of the framework.
const VERIFIER: &str = "WDF VERIFIER:";
/// What the double prints when it created the KMDF driver's control device.
const SECURED: &str = r"control device \Device\WskSock secured by D:P(A;;GA;;;SY)(A;;GA;;;BA)";

/// The command line, checked.
#[derive(Debug)]
struct Options {
    builds: Vec<Build>,
    only: Option<Vec<String>>,
    /// Another KMDF `wsksock.sys` than the tree's (a mutant of `cargo xtask mutants`).
    kmdf_driver: Option<std::path::PathBuf>,
    install: bool,
    make: Make,
    keep: bool,
}

/// What to do for the artifacts.
#[derive(Debug, PartialEq, Eq)]
enum Make {
    /// Build them; `clippy`: with the Windows clippy of the suite's own tools.
    Build { clippy: bool },
    /// Reuse the last build (`--no-build`).
    Reuse,
}

/// Parses the command line: unknown flags, builds and scenario names are refused.
fn options(args: &[String]) -> Result<Options, String> {
    crate::util::refuse_unknown_with(args, FLAGS, WITH_VALUE)?;
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let builds = match value("--build") {
        None | Some("both") => vec![Build::Wdm, Build::Kmdf],
        Some("wdm") => vec![Build::Wdm],
        Some("kmdf") => vec![Build::Kmdf],
        Some(other) => return Err(format!("--build {other:?}: wdm, kmdf or both")),
    };
    let only: Option<Vec<String>> = value("--only").map(|s| s.split(',').map(str::to_string).collect());
    let kmdf_driver = value("--kmdf-driver").map(std::path::PathBuf::from);
    if kmdf_driver.is_some() && (builds != [Build::Kmdf] || !flag("--no-build")) {
        return Err("--kmdf-driver PATH goes with --build kmdf --no-build (cargo xtask mutants)".into());
    }
    if let Some(names) = &only {
        if let Some(bad) = names
            .iter()
            .find(|n| !SCENARIOS.iter().chain(ON_REQUEST).any(|(s, _)| s == n))
        {
            let all: Vec<&str> = SCENARIOS.iter().chain(ON_REQUEST).map(|(s, _)| *s).collect();
            return Err(format!("no scenario {bad:?}; scenarios: {}", all.join(", ")));
        }
    }
    Ok(Options {
        builds,
        only,
        kmdf_driver,
        install: !flag("--no-install"),
        make: if flag("--no-build") {
            Make::Reuse
        } else {
            Make::Build {
                clippy: !flag("--no-clippy"),
            }
        },
        keep: flag("--keep"),
    })
}

/// Where a build's run keeps its logs (`boot.log`: the drivers' output).
pub fn logs_of(b: Build) -> std::path::PathBuf {
    Wine::new(&build::dir(), b.name()).logs().to_path_buf()
}

/// Runs it.
pub fn run(args: &[String]) -> Result<(), String> {
    let Options {
        builds,
        only,
        kmdf_driver,
        install,
        make,
        keep,
    } = options(args)?;
    // One run at a time per target dir: a second one would remove this one's prefix.
    std::fs::create_dir_all(build::dir()).map_err(|e| format!("{}: {e}", build::dir().display()))?;
    let lock_path = build::dir().join(".lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        eprintln!("wine-test: another run holds {}; waiting", lock_path.display());
        lock.lock().map_err(|e| format!("{}: {e}", lock_path.display()))?;
    }
    let t0 = Instant::now();
    build::ensure_installed(install)?;
    let t_install = t0.elapsed();
    let mut art = match make {
        Make::Build { clippy } => build::all(install, clippy, &builds)?,
        Make::Reuse => build::previous(&builds)?,
    };
    if let Some(p) = kmdf_driver {
        for (b, driver) in &mut art.drivers {
            if *b == Build::Kmdf {
                driver.clone_from(&p);
            }
        }
    }
    let t_build = t0.elapsed().saturating_sub(t_install);

    // The logs of earlier runs go: what is in `logs/` is this run's.
    let _ = std::fs::remove_dir_all(build::dir().join("logs"));
    let mut failures = Vec::new();
    let mut times = Vec::new();
    let mut wine = None;
    for (i, (b, driver)) in art.drivers.iter().enumerate() {
        let w = Wine::new(&build::dir(), b.name());
        let t = Instant::now();
        // The first build on a new prefix; the next one on the same prefix, restarted (each run
        // deletes its services at the end, and creates them anew first).
        let (result, boot) = run_build(&w, &art, *b, driver, i == 0, only.as_deref());
        let took = t.elapsed();
        eprintln!(
            "wine-test [{}]: {} — prefix {:.1}s, scenarios {:.1}s (logs in {})",
            b.name(),
            if result.is_ok() { "passed" } else { "FAILED" },
            boot.as_secs_f64(),
            took.saturating_sub(boot).as_secs_f64(),
            w.logs().display()
        );
        times.push(format!("{} {:.1}s", b.name(), took.as_secs_f64()));
        if let Err(e) = result {
            failures.push(format!("[{}] {e}", b.name()));
        }
        wine = Some(w);
    }
    if !keep {
        if let Some(w) = &wine {
            w.kill_server();
        }
    }
    let t_total = t0.elapsed();
    eprintln!(
        "wine-test: installs {:.1}s, builds {:.1}s, runs {} (prefix and scenarios), total {:.1}s",
        t_install.as_secs_f64(),
        t_build.as_secs_f64(),
        times.join(", "),
        t_total.as_secs_f64(),
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failures.join("; ")))
    }
}

/// One build's run: Wine started (on a new prefix if `fresh`), the suite; once more on a new
/// prefix if Wine's netio.sys crashed. Returns the result and the time spent starting Wine.
fn run_build(
    w: &Wine,
    art: &build::Artifacts,
    b: Build,
    driver: &Path,
    fresh: bool,
    only: Option<&[String]>,
) -> (Result<(), String>, Duration) {
    let mut boot = Duration::ZERO;
    let mut start = |fresh: bool| {
        let r = w.boot(fresh);
        if let Ok(d) = &r {
            boot += *d;
            eprintln!(
                "wine-test [{}]: {} prefix {} ({:.1}s)",
                b.name(),
                if fresh { "new" } else { "restarted" },
                build::dir().join("prefix").display(),
                d.as_secs_f64()
            );
        }
        r.map(|_| ())
    };
    let mut result = start(fresh).and_then(|()| suite(w, art, b, driver, only));
    if result.is_err() {
        if let Some(crash) = crash::netio_in(&w.driver_log()) {
            // Wine 8's WskCloseSocket races with its own wait callback (see docs/WINE.md): a
            // crash there is Wine's, not the driver's. Once more on a fresh prefix; twice fails.
            eprintln!(
                "wine-test [{}]: Wine's netio.sys crashed ({crash}): a known Wine 8 race; running again",
                b.name()
            );
            keep_logs_of_crash(w.logs());
            result = start(true).and_then(|()| suite(w, art, b, driver, only));
        }
    }
    (result, boot)
}

/// Keeps the logs of a run that Wine's netio.sys crashed in `<logs>-netio-crash`, since the
/// run once more replaces them.
fn keep_logs_of_crash(logs: &Path) {
    let mut name = logs.file_name().unwrap_or_default().to_os_string();
    name.push("-netio-crash");
    let to = logs.with_file_name(name);
    let _ = std::fs::remove_dir_all(&to);
    match std::fs::rename(logs, &to) {
        Ok(()) => eprintln!("wine-test: the crashed run's logs are in {}", to.display()),
        Err(e) => eprintln!("wine-test: cannot keep the crashed run's logs: {e}"),
    }
}

/// The `WDF VERIFIER:` lines of the drivers' log after the first `seen` (then counted as seen),
/// each from the tag on.
fn new_verifier_lines(log: &str, seen: &mut usize) -> Vec<String> {
    let all: Vec<String> = log
        .lines()
        .filter_map(|l| l.find(VERIFIER).map(|i| l[i..].trim_end().to_string()))
        .collect();
    let new = all.get(*seen..).unwrap_or_default().to_vec();
    *seen = (*seen).max(all.len());
    new
}

/// Reports `WDF VERIFIER:` lines as a failure of `what`: all of them here, the first three in
/// the failure it returns.
fn verifier_failure(tag: &str, what: &str, lines: &[String]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    eprintln!(
        "  FAIL  {tag} {what}: the WDF test double reported a misuse of the framework:\n    {}",
        lines.join("\n    ")
    );
    let more = match lines.len() {
        n if n > 3 => format!(" | and {} more", n - 3),
        _ => String::new(),
    };
    Some(format!(
        "{what} ({}{more})",
        lines[..lines.len().min(3)].join(" | ")
    ))
}

fn suite(
    wine: &Wine,
    art: &build::Artifacts,
    b: Build,
    driver: &Path,
    only: Option<&[String]>,
) -> Result<(), String> {
    let tag = format!("{:<6}", format!("[{}]", b.name()));
    let dir = wine.drive_dir();
    for (from, name) in [
        (driver, DRIVER.1),
        (art.cli.as_path(), "wsksock.exe"),
        (&art.bcrypt, "bcryptprimitives.dll"),
        (&art.consumer_c, CONSUMER_C.1),
        (&art.consumer_rs, CONSUMER_RS.1),
    ] {
        std::fs::copy(from, dir.join(name)).map_err(|e| format!("{} -> {name}: {e}", from.display()))?;
    }
    // The KMDF driver imports WdfVersionBind/WdfVersionUnbind from WDFLDR.SYS: the double goes
    // where Wine looks for a driver's imports. The WDM run has none there, so it cannot depend on it.
    let wdfldr = wine.system_drivers_dir().join("WDFLDR.SYS");
    match (b, &art.wdfldr) {
        (Build::Kmdf, Some(double)) => {
            std::fs::copy(double, &wdfldr)
                .map_err(|e| format!("{} -> {}: {e}", double.display(), wdfldr.display()))?;
        }
        (Build::Kmdf, None) => return Err("the KMDF run has no WDF test double".into()),
        (Build::Wdm, _) => {
            let _ = std::fs::remove_file(&wdfldr);
        }
    }
    for (svc, file) in [DRIVER, CONSUMER_C, CONSUMER_RS] {
        wine.create_service(svc, file, GROUP)?;
    }
    let mut failed: Vec<String> = Vec::new();
    let mut seen = 0;
    let loaded = wine.start_service(DRIVER.0, secs(60));
    let log = wine.driver_log();
    failed.extend(verifier_failure(
        &tag,
        "load",
        &new_verifier_lines(&log, &mut seen),
    ));
    let loaded = loaded.map_err(|e| format!("{e}\n{}", load_errors(&log)))?;
    if !log.contains("wsksock: loaded") {
        return Err(format!(
            "wsksock is RUNNING but DriverEntry printed nothing; see {}",
            wine.logs().join("boot.log").display()
        ));
    }
    // The framework (the double) reports the control device it created and the security it
    // applied: the driver's SDDL string, SYSTEM and Administrators only.
    if b == Build::Kmdf && !log.contains(SECURED) {
        failed.push(format!("{tag} load: the log does not say {SECURED:?}"));
    }
    eprintln!("wine-test {tag} driver loaded in {} ms", loaded.as_millis());

    let faulty = art
        .faulty
        .iter()
        .find(|(fb, _)| *fb == b)
        .map(|(_, p)| p.as_path());
    let ctx = Ctx {
        wine,
        alloc_faults: faulty.map(|faulty| alloc_faults::Files {
            driver,
            faulty,
            helper: &art.allocfaults,
        }),
        excused: std::cell::Cell::new(0),
    };
    let mut crashed = false;
    for (name, f) in SCENARIOS.iter().chain(ON_REQUEST) {
        let requested = only.is_some_and(|o| o.iter().any(|n| n == name));
        let default = SCENARIOS.iter().any(|(s, _)| s == name);
        if !requested && (only.is_some() || !default) {
            continue;
        }
        let t = Instant::now();
        let r = f(&ctx);
        let ms = t.elapsed().as_millis();
        let misuse = new_verifier_lines(&wine.driver_log(), &mut seen);
        match r {
            Ok(what) if misuse.is_empty() => eprintln!("  ok    {tag} {name} ({ms} ms): {what}"),
            Ok(_) => {}
            Err(why) => {
                eprintln!("  FAIL  {tag} {name} ({ms} ms): {why}");
                if misuse.is_empty() {
                    failed.push((*name).to_string());
                }
            }
        }
        failed.extend(verifier_failure(&tag, name, &misuse));
        if let Some(lines) = crash::first(&wine.driver_log(), ctx.excused.get()) {
            // The drivers' process is gone (services.exe may still say RUNNING): the rest would
            // only fail, each at its timeout.
            eprintln!("  FAIL  {tag} winedevice.exe ended during {name}; the remaining scenarios are not run:\n    {lines}");
            failed.push(format!("winedevice.exe ended during {name} (see boot.log)"));
            crashed = true;
            break;
        }
        // A failure may leave the driver stopped: every scenario starts with it running.
        let state = wine.service_state(DRIVER.0);
        if state != "RUNNING" {
            eprintln!("  (wsksock {state:?} after {name}, not RUNNING: starting it again)");
            wine.start_service(DRIVER.0, secs(60))?;
        }
    }

    // After a crash there is nothing left to unload (reported above).
    let stopped = (!crashed).then(|| wine.stop_service(DRIVER.0, secs(60)));
    let log = wine.driver_log();
    for (svc, _) in [DRIVER, CONSUMER_C, CONSUMER_RS] {
        let _ = wine.run(&format!("sc-delete-{svc}"), &["sc", "delete", svc], secs(30));
    }
    match stopped {
        None => {}
        Some(Ok(d)) if log.contains("wsksock: unloaded") => {
            eprintln!("wine-test {tag} driver unloaded in {} ms", d.as_millis());
        }
        Some(Ok(_)) => failed.push("final unload (no 'wsksock: unloaded')".into()),
        Some(Err(e)) => {
            eprintln!("  FAIL  {tag} final unload: {e}");
            failed.push("final unload".into());
        }
    }
    failed.extend(verifier_failure(
        &tag,
        "unload",
        &new_verifier_lines(&log, &mut seen),
    ));
    if let Some(lines) = crash::first(&log, ctx.excused.get()).filter(|_| !crashed) {
        eprintln!("  FAIL  {tag} winedevice.exe ended:\n    {lines}");
        failed.push("winedevice.exe ended (see boot.log)".into());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join(", "))
    }
}

/// Wine's errors about loading a driver (a missing import, a failed `ZwLoadDriver`), for a
/// service that did not start.
fn load_errors(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("err:")
                && (l.contains("module") || l.contains("ZwLoadDriver") || l.contains("ntoskrnl"))
        })
        .take(10)
        .collect();
    if lines.is_empty() {
        "(no error from Wine's loader in boot.log)".into()
    } else {
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::{new_verifier_lines, options, Build, Make};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn both_builds_by_default_and_each_on_request() {
        assert_eq!(options(&[]).unwrap().builds, [Build::Wdm, Build::Kmdf]);
        assert_eq!(
            options(&args(&["--build", "both"])).unwrap().builds,
            [Build::Wdm, Build::Kmdf]
        );
        assert_eq!(options(&args(&["--build", "wdm"])).unwrap().builds, [Build::Wdm]);
        let o = options(&args(&[
            "--build",
            "kmdf",
            "--no-clippy",
            "--only",
            "receive,many",
        ]))
        .unwrap();
        assert_eq!(o.builds, [Build::Kmdf]);
        assert!(o.make == Make::Build { clippy: false } && o.install && !o.keep);
        assert_eq!(options(&args(&["--no-build"])).unwrap().make, Make::Reuse);
        assert_eq!(o.only.unwrap(), ["receive", "many"]);
    }

    #[test]
    fn unknown_flags_builds_and_scenarios_are_refused() {
        for bad in [
            &["--bogus"][..],
            &["receive"],
            &["--build"],
            &["--build", "wdf"],
            &["--only"],
            &["--only", "receive,nope"],
            &["--no-clipy"],
        ] {
            assert!(options(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn verifier_lines_are_found_once_each() {
        let log = "0100:warn:debugstr:vDbgPrintExWithPrefix 00000000:00000001: wsksock: loaded (KMDF)\n\
                   0100:warn:debugstr:vDbgPrintExWithPrefix 00000000:00000001: WDF VERIFIER: WdfFoo: bad Size 8\n";
        let mut seen = 0;
        assert_eq!(
            new_verifier_lines(log, &mut seen),
            ["WDF VERIFIER: WdfFoo: bad Size 8"]
        );
        assert!(new_verifier_lines(log, &mut seen).is_empty());
        let more = format!("{log}x: WDF VERIFIER: second\n");
        assert_eq!(new_verifier_lines(&more, &mut seen), ["WDF VERIFIER: second"]);
        assert!(new_verifier_lines("wsksock: loaded\n", &mut 0).is_empty());
    }
}
