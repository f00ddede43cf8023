//! The scenarios: the Windows CLI and the kernel consumers against the real driver under Wine,
//! with peers on 127.0.0.1 that observe the wire. Every step has a timeout: a hang is a failure.

use super::env::{secs, tail, Wine, WIN_DIR};
use super::json::Json;
use super::peers::{Conn, End, Peer};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const STATUS_INVALID_DEVICE_REQUEST: u64 = 0xC000_0010;

/// What the scenarios share.
pub struct Ctx<'a> {
    /// The prefix.
    pub wine: &'a Wine,
    /// What the `alloc-faults` scenario needs (the test build of this run's driver, its workload).
    pub alloc_faults: Option<super::alloc_faults::Files<'a>>,
    /// Crashes in Wine's netio.sys that a scenario showed harmless (the runs they hit ran again
    /// and passed): the suite passes over that many (`crash::first`).
    pub excused: std::cell::Cell<usize>,
}

type Outcome = Result<String, String>;

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn show(conns: &[Conn]) -> String {
    conns
        .iter()
        .map(|c| {
            format!(
                "{} bytes{} then {:?}",
                c.bytes,
                if c.intact { "" } else { " (CORRUPT)" },
                c.end
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The one connection a peer saw, with `bytes` intact bytes and a FIN.
fn one_fin(conns: &[Conn], bytes: u64) -> Result<(), String> {
    check(
        conns.len() == 1 && conns[0].bytes == bytes && conns[0].intact && conns[0].end == End::Fin,
        || {
            format!(
                "peer: expected {bytes} intact bytes then FIN, saw {}",
                show(conns)
            )
        },
    )
}

impl Ctx<'_> {
    /// Runs the CLI; its last output line must be a JSON object and its exit code 0.
    fn cli(&self, name: &str, args: &[&str], timeout: Duration) -> Result<Json, String> {
        let exe = format!(r"{WIN_DIR}\wsksock.exe");
        let mut all = vec![exe.as_str()];
        all.extend_from_slice(args);
        let r = self.wine.run(name, &all, timeout)?;
        if r.code.is_none() {
            return Err(format!(
                "wsksock {} hung (killed after {timeout:?})",
                args.join(" ")
            ));
        }
        let json = Json::last_object(&r.text);
        match (r.ok(), json) {
            (true, Some(j)) => Ok(j),
            _ => Err(format!(
                "wsksock {} exited with {:?}:\n{}",
                args.join(" "),
                r.code,
                tail(&r.text, 8)
            )),
        }
    }

    fn ok_cases(j: &Json, what: &str) -> Result<(), String> {
        check(j.get("ok").is_true(), || format!("{what}: {j}"))
    }
}

/// 8 MiB through the driver with a graceful close issued while the sends are still queued.
pub fn send_8mib(ctx: &Ctx) -> Outcome {
    let bytes = 8 * MIB;
    let peer = Peer::start(1, 0, secs(90))?;
    let j = ctx.cli(
        "send-8mib",
        &["send", &peer.addr(), "--bytes", &bytes.to_string(), "--json"],
        secs(90),
    )?;
    let conns = peer.finish();
    check(j.get("close_status").str() == "STATUS_SUCCESS", || {
        format!("close: {j}")
    })?;
    check(
        j.get("bytes_ok").num() == bytes && j.get("send_failures") == &Json::Arr(Vec::new()),
        || format!("sends: {j}"),
    )?;
    one_fin(&conns, bytes)?;
    Ok(format!(
        "8 MiB intact then FIN, teardown {} ms",
        j.get("teardown_ms").num()
    ))
}

/// RECEIVE until the peer's FIN.
pub fn receive(ctx: &Ctx) -> Outcome {
    let bytes = MIB;
    let peer = Peer::start(1, usize::try_from(bytes).unwrap_or(0), secs(60))?;
    let j = ctx.cli(
        "receive",
        &["check", "recv", &peer.addr(), "--bytes", &bytes.to_string()],
        secs(60),
    )?;
    let conns = peer.finish();
    check(
        j.get("received").num() == bytes
            && j.get("first_mismatch") == &Json::Null
            && j.get("end").str() == "FIN",
        || format!("receive: {j}"),
    )?;
    check(j.get("close_status").str() == "STATUS_SUCCESS", || {
        format!("close: {j}")
    })?;
    one_fin(&conns, 0)?;
    Ok(format!(
        "1 MiB intact in {} receives, then FIN; the peer saw FIN",
        j.get("receives").num()
    ))
}

/// A receive pending in one thread, CLOSE from another.
pub fn close_race(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(60))?;
    let j = ctx.cli("close-race", &["close-race", &peer.addr(), "--json"], secs(60))?;
    let conns = peer.finish();
    check(
        j.get("recv_status").str() == "STATUS_CANCELLED"
            && j.get("close_status").str() == "STATUS_SUCCESS"
            && j.get("after_close_status").str() == "STATUS_INVALID_HANDLE",
        || format!("close-race: {j}"),
    )?;
    one_fin(&conns, 0)?;
    Ok("receive STATUS_CANCELLED, close STATUS_SUCCESS, then STATUS_INVALID_HANDLE; peer saw FIN".into())
}

/// Closed, stale, forged handles; two clients isolated.
pub fn handles(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(60))?;
    let j = ctx.cli("handles", &["check", "handles", &peer.addr()], secs(60))?;
    let conns = peer.finish();
    Ctx::ok_cases(&j, "handles")?;
    one_fin(&conns, 1000)?;
    Ok(format!(
        "{} cases, client ids {}",
        j.get("cases").num(),
        j.get("client_ids")
    ))
}

/// 100 sockets at once.
pub fn many(ctx: &Ctx) -> Outcome {
    let n = 100;
    let peer = Peer::start(n, 0, secs(90))?;
    let j = ctx.cli(
        "many",
        &[
            "check",
            "many",
            &peer.addr(),
            "--count",
            &n.to_string(),
            "--bytes",
            "1000",
        ],
        secs(90),
    )?;
    let conns = peer.finish();
    let n64 = n as u64;
    check(
        j.get("connected").num() == n64 && j.get("sent").num() == n64 && j.get("closed").num() == n64,
        || format!("many: {j}"),
    )?;
    check(j.get("open_at_once").num() >= n64, || {
        format!("many: not all open at once: {j}")
    })?;
    let good = conns
        .iter()
        .filter(|c| c.bytes == 1000 && c.intact && c.end == End::Fin)
        .count();
    check(conns.len() == n && good == n, || {
        format!(
            "peer: {good} of {} connections had 1000 intact bytes then FIN",
            conns.len()
        )
    })?;
    Ok(format!("{n} sockets open at once, each 1000 bytes then FIN"))
}

/// Every close mode; Wine's WskDisconnect is a stub, so the driver must go on to WskCloseSocket.
pub fn close_modes(ctx: &Ctx) -> Outcome {
    let bytes = 4 * MIB;
    let mut out = Vec::new();
    for mode in ["graceful", "abortive", "linger:2"] {
        let peer = Peer::start(1, 0, secs(60))?;
        let j = ctx.cli(
            &format!("close-{}", mode.replace(':', "-")),
            &[
                "send",
                &peer.addr(),
                "--bytes",
                &bytes.to_string(),
                "--close",
                mode,
                "--json",
            ],
            secs(60),
        )?;
        let conns = peer.finish();
        check(j.get("close_status").str() == "STATUS_SUCCESS", || {
            format!("{mode}: {j}")
        })?;
        check(
            conns.len() == 1 && conns[0].intact && conns[0].end == End::Fin,
            || format!("{mode}: peer saw {} (Wine closes with FIN)", show(&conns)),
        )?;
        if mode != "abortive" {
            check(conns[0].bytes == bytes, || {
                format!("{mode}: peer saw {}", show(&conns))
            })?;
        }
        out.push(format!(
            "{mode}: {} of {bytes} bytes then FIN, teardown {} ({} ms)",
            conns[0].bytes,
            j.get("teardown_status").str(),
            j.get("teardown_ms").num()
        ));
    }
    Ok(out.join("; "))
}

/// Linger expiry: CLOSE with linger 1 s while the peer reads nothing for 3 s. The timer (a
/// KTIMER + DPC in the driver) must fire and turn the teardown abortive; under Wine that is a
/// stubbed WskDisconnect and then WskCloseSocket, so the peer sees part of the data and a FIN,
/// after about a second — not a hang, and not all 16 MiB.
pub fn linger_expiry(ctx: &Ctx) -> Outcome {
    let bytes = 16 * MIB;
    let peer = Peer::start_with(1, 0, secs(3), secs(60))?;
    let j = ctx.cli(
        "linger-expiry",
        &[
            "send",
            &peer.addr(),
            "--bytes",
            &bytes.to_string(),
            "--close",
            "linger:1",
            "--json",
        ],
        secs(60),
    )?;
    let conns = peer.finish();
    let ms = j.get("teardown_ms").num();
    check(j.get("close_status").str() == "STATUS_SUCCESS", || {
        format!("close: {j}")
    })?;
    check((900..2900).contains(&ms), || {
        format!("teardown after {ms} ms, not about 1 s: {j}")
    })?;
    // The CLOSE reply names a disconnect only if it succeeded: "abortive" on Windows, "none"
    // under Wine (its WskDisconnect is a stub); never "graceful", which would mean no expiry.
    check(matches!(j.get("disconnect").str(), "abortive" | "none"), || {
        format!("the linger did not expire: {j}")
    })?;
    check(
        conns.len() == 1 && conns[0].intact && conns[0].end == End::Fin && conns[0].bytes < bytes,
        || format!("peer: {}", show(&conns)),
    )?;
    Ok(format!(
        "teardown after {ms} ms (disconnect {}); the peer got {} of {bytes} bytes intact, then FIN",
        j.get("disconnect").str(),
        conns[0].bytes
    ))
}

/// Several client processes at once (their requests dispatched and completed on Wine's threads
/// in parallel): 4 senders of 2 MiB, 2 close races and 20 sockets at once, each checked.
pub fn parallel(ctx: &Ctx) -> Outcome {
    let exe = format!(r"{WIN_DIR}\wsksock.exe");
    let mut jobs = Vec::new();
    for i in 0..4 {
        let peer = Peer::start(1, 0, secs(90))?;
        let args = vec![
            "send".to_string(),
            peer.addr(),
            "--bytes".into(),
            (2 * MIB).to_string(),
            "--json".into(),
        ];
        jobs.push((format!("parallel-send-{i}"), peer, args, 2 * MIB));
    }
    for i in 0..2 {
        let peer = Peer::start(1, 0, secs(90))?;
        let args = vec!["close-race".to_string(), peer.addr(), "--json".into()];
        jobs.push((format!("parallel-race-{i}"), peer, args, 0));
    }
    let peer = Peer::start(20, 0, secs(90))?;
    let args = vec![
        "check".to_string(),
        "many".into(),
        peer.addr(),
        "--count".into(),
        "20".into(),
    ];
    jobs.push(("parallel-many".into(), peer, args, 1000));
    let running: Vec<_> = jobs
        .into_iter()
        .map(|(name, peer, args, bytes)| {
            let mut all = vec![exe.as_str()];
            all.extend(args.iter().map(String::as_str));
            ctx.wine.spawn(&name, &all).map(|bg| (name, peer, bg, bytes))
        })
        .collect::<Result<_, _>>()?;
    let mut problems = Vec::new();
    for (name, peer, bg, bytes) in running {
        let r = bg.wait(secs(90));
        let conns = peer.finish();
        let j = Json::last_object(&r.text).unwrap_or(Json::Null);
        let ok = r.ok()
            && !conns.is_empty()
            && conns
                .iter()
                .all(|c| c.bytes == bytes && c.intact && c.end == End::Fin)
            && match name.as_str() {
                n if n.starts_with("parallel-send") => j.get("bytes_ok").num() == bytes,
                n if n.starts_with("parallel-race") => j.get("recv_status").str() == "STATUS_CANCELLED",
                _ => j.get("closed").num() == 20 && conns.len() == 20,
            };
        if !ok {
            problems.push(format!("{name}: exit {:?}, {j}, peer {}", r.code, show(&conns)));
        }
    }
    check(problems.is_empty(), || problems.join("\n    "))?;
    Ok("7 clients at once: 4 × 2 MiB, 2 close races, 20 sockets — all intact, all FIN".into())
}

/// `wsksock bench` through the driver under Wine, against Wine's own Winsock in the same run
/// (docs/PERFORMANCE.md, item 5). Not in the default run (about a minute): `--only bench`.
pub fn bench(ctx: &Ctx) -> Outcome {
    let j = ctx.cli(
        "bench",
        &[
            "bench",
            "--bytes",
            "256M",
            "--cycles",
            "1000",
            "--runs",
            "3",
            "--no-progress",
            "--json",
        ],
        secs(900),
    )?;
    Ok(j.to_string())
}

/// Malformed IOCTLs from user mode; the driver keeps serving.
pub fn malformed(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(60))?;
    let j = ctx.cli("malformed", &["check", "malformed", &peer.addr()], secs(90))?;
    let conns = peer.finish();
    Ctx::ok_cases(&j, "malformed")?;
    one_fin(&conns, 777)?;
    Ok(format!(
        "{} listed cases and {} random requests refused; still serving",
        j.get("cases").num(),
        j.get("garbage").num()
    ))
}

/// The control codes' access bits: a handle opened without FILE_READ_DATA / FILE_WRITE_DATA is
/// refused the codes that need them — by the I/O manager (wineserver under Wine) before the
/// driver sees them — and a write-only handle still sends (the peer gets its bytes, then FIN).
pub fn access(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(60))?;
    let j = ctx.cli("access", &["check", "access", &peer.addr()], secs(60))?;
    let conns = peer.finish();
    Ctx::ok_cases(&j, "access")?;
    one_fin(&conns, j.get("sent").num())?;
    Ok(format!(
        "{} cases: no data access, read-only and write-only handles refused (STATUS_ACCESS_DENIED) what their access lacks; the write-only handle sent {} bytes, then FIN",
        j.get("cases").num(),
        j.get("sent").num()
    ))
}

/// DUPLICATE into another client needs that client's consent (ALLOW_DUPLICATE, ABI version 4):
/// refused before it, once after it, never from a read-only open; the duplicate outlives the
/// original handle and its bytes reach the peer, then FIN.
pub fn consent(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(60))?;
    let j = ctx.cli("consent", &["check", "consent", &peer.addr()], secs(60))?;
    let conns = peer.finish();
    Ctx::ok_cases(&j, "consent")?;
    one_fin(&conns, j.get("sent").num())?;
    Ok(format!(
        "{} cases: DUPLICATE into another client refused (STATUS_ACCESS_DENIED) until it allowed one handle, then once; the duplicate sent {} bytes, then FIN",
        j.get("cases").num(),
        j.get("sent").num()
    ))
}

/// A kernel consumer (service `svc`, already created in the driver's group) runs its scenario
/// in DriverEntry: connect, send (direct and kernel buffer), receive to FIN, close.
pub fn consumer(ctx: &Ctx, svc: &str) -> Outcome {
    let (send, greet) = (100_000u64, 5000usize);
    let peer = Peer::start(1, greet, secs(60))?;
    let w = ctx.wine;
    w.set_service_dword(svc, "PeerPort", u64::from(peer.port()))?;
    w.set_service_dword(svc, "SendBytes", send)?;
    w.set_service_dword(svc, "ExpectBytes", greet as u64)?;
    let started = w.start_service(svc, secs(60));
    let conns = peer.finish();
    started?;
    let vals = w.service_dwords(svc)?;
    let get = |k: &str| vals.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    // The C consumer also sends one request without a file object (a kernel caller that forgot
    // to set it, step 7), which both front ends must refuse with STATUS_INVALID_DEVICE_REQUEST,
    // and *_KERNEL requests naming a user-range and an unmapped buffer (step 12), which must each
    // get STATUS_INVALID_USER_BUFFER (BadKernelBuffer: the first other answer, 0 if none).
    let no_file_object = get("NoFileObject");
    let bad_kernel_buffer = get("BadKernelBuffer");
    check(get("Result") == Some(0), || {
        format!(
            "{svc}: Result {} at step {}{} (see boot.log)",
            get("Result").map_or_else(|| "none".to_string(), |v| format!("{v:#x}")),
            get("FailedStep").map_or_else(|| "none".to_string(), |v| v.to_string()),
            match (no_file_object, bad_kernel_buffer, get("FailedStep")) {
                (Some(st), _, Some(7)) => format!(
                    ": the request without a file object got {st:#x}, not STATUS_INVALID_DEVICE_REQUEST"
                ),
                (_, Some(st), Some(12)) => format!(
                    ": a *_KERNEL request with a user-range or unmapped buffer got {st:#x}, not STATUS_INVALID_USER_BUFFER"
                ),
                _ => String::new(),
            }
        )
    })?;
    check(
        get("Received") == Some(greet as u64) && get("Intact") == Some(1),
        || format!("{svc}: received {:?} intact {:?}", get("Received"), get("Intact")),
    )?;
    let refused = match no_file_object {
        None => "",
        Some(STATUS_INVALID_DEVICE_REQUEST) => {
            "; a request without a file object refused with STATUS_INVALID_DEVICE_REQUEST"
        }
        Some(st) => return Err(format!("{svc}: the request without a file object got {st:#x}")),
    };
    // And STATISTICS with its ABI version-2 control code (step 17): served to a kernel caller.
    let old = match get("OldCode") {
        None => "",
        Some(0) => "; STATISTICS with its version-2 control code served",
        Some(st) => return Err(format!("{svc}: a request with a version-2 code got {st:#x}")),
    };
    let refused_buffers = match bad_kernel_buffer {
        None => "",
        Some(0) => {
            "; *_KERNEL requests with a user-range or unmapped buffer refused with STATUS_INVALID_USER_BUFFER"
        }
        Some(st) => return Err(format!("{svc}: a *_KERNEL request with a bad buffer got {st:#x}")),
    };
    one_fin(&conns, send)?;
    w.stop_service(svc, secs(30))?;
    let opened = match get("Opened") {
        Some(1) => "IoGetDeviceObjectPointer",
        Some(2) => "ZwCreateFile + ObReferenceObjectByHandle (Wine)",
        _ => "?",
    };
    Ok(format!(
        "opened via {opened}; sent {send} (direct + kernel buffer), received {greet} intact to FIN; peer saw all then FIN{refused}{refused_buffers}{old}"
    ))
}

/// `CancelIoEx` and the CANCEL request on pending receives, then CLOSE: the cancel routine runs
/// in the real driver; under Wine the WSK receive cannot be cancelled, so the receives may stay
/// pending until the close — which must then end them all.
pub fn cancel(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(60))?;
    let j = ctx.cli("cancel", &["check", "cancel", &peer.addr()], secs(60))?;
    let conns = peer.finish();
    let ended = |v: &Json| matches!(v.str(), "pending" | "STATUS_CANCELLED");
    check(
        ended(j.get("after_cancel_io")) && ended(j.get("after_cancel_request")),
        || format!("cancel: {j}"),
    )?;
    check(j.get("cancel_request_count").num() >= 1, || {
        format!("cancel: {j}")
    })?;
    check(
        j.get("after_close") == &Json::Arr(vec![Json::Str("STATUS_CANCELLED".into()); 2])
            && j.get("close_status").str() == "STATUS_SUCCESS",
        || format!("after close: {j}"),
    )?;
    one_fin(&conns, 0)?;
    Ok(format!(
        "after CancelIoEx: {}, after CANCEL: {} (Wine cannot cancel a WSK receive); CLOSE ended both with STATUS_CANCELLED",
        j.get("after_cancel_io").str(),
        j.get("after_cancel_request").str()
    ))
}

/// A client process that exits with sockets open and receives pending: its handle's cleanup
/// closes them (peers see FIN), as on Windows.
pub fn client_exit(ctx: &Ctx) -> Outcome {
    let n = 2;
    let peer = Peer::start(n, 0, secs(30))?;
    let j = ctx.cli(
        "client-exit",
        &[
            "check",
            "hold",
            &peer.addr(),
            "--count",
            &n.to_string(),
            "--wait",
            "1",
        ],
        secs(60),
    )?;
    check(j.get("pending").num() == n as u64, || format!("hold: {j}"))?;
    let conns = peer.finish();
    check(
        conns.len() == n && conns.iter().all(|c| c.end == End::Fin),
        || format!("after the client exited: {}", show(&conns)),
    )?;
    Ok(format!(
        "{n} sockets with receives pending closed by the exit: peers saw FIN"
    ))
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// `sc stop` with sockets open (receives pending): the driver unloads, the peers see EOF, the
/// receives end, and the driver loads again and serves.
pub fn unload_with_sockets(ctx: &Ctx) -> Outcome {
    let w = ctx.wine;
    let n = 4;
    let unloads_before = count(&w.driver_log(), "wsksock: unloaded");
    let peer = Peer::start(n, 0, secs(90))?;
    let exe = format!(r"{WIN_DIR}\wsksock.exe");
    let addr = peer.addr();
    let hold = w.spawn(
        "hold",
        &[
            &exe,
            "check",
            "hold",
            &addr,
            "--count",
            &n.to_string(),
            "--wait",
            "40",
        ],
    )?;
    let ready = {
        let end = Instant::now() + secs(30);
        loop {
            if hold.text().contains("\"ready\"") {
                break true;
            }
            if Instant::now() >= end {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    if !ready || !peer.wait_accepted(n, secs(5)) {
        let r = hold.wait(secs(1));
        return Err(format!("hold never got ready:\n{}", tail(&r.text, 8)));
    }
    std::thread::sleep(Duration::from_millis(200));
    let stop = w.stop_service("wsksock", secs(60));
    let held = hold.wait(secs(50));
    let conns = peer.finish();
    let took = stop?;
    check(
        conns.len() == n && conns.iter().all(|c| c.end == End::Fin),
        || format!("peers after the unload: {}", show(&conns)),
    )?;
    let j = Json::last_object(&held.text).unwrap_or(Json::Null);
    check(
        held.ok() && j.get("ended").num() == n as u64 && j.get("pending").num() == 0,
        || {
            format!(
                "the pending receives: exit {:?}, {}",
                held.code,
                tail(&held.text, 5)
            )
        },
    )?;
    check(
        count(&w.driver_log(), "wsksock: unloaded") > unloads_before,
        || "no 'wsksock: unloaded' line: DriverUnload did not finish".into(),
    )?;
    // Loads again and serves.
    w.start_service("wsksock", secs(60))?;
    let again = Peer::start(1, 0, secs(60))?;
    let j2 = ctx.cli(
        "send-after-reload",
        &["send", &again.addr(), "--bytes", "65536", "--json"],
        secs(60),
    )?;
    let conns2 = again.finish();
    check(j2.get("close_status").str() == "STATUS_SUCCESS", || {
        format!("after reload: {j2}")
    })?;
    one_fin(&conns2, 65536)?;
    Ok(format!(
        "stopped in {} ms with {n} receives pending: peers saw FIN, receives ended {}; loaded again and served",
        took.as_millis(),
        j.get("statuses")
    ))
}

/// A RECEIVE deadline through the real driver: `wsksock recv --timeout 300` against a peer that
/// sends 1000 bytes, then stays quiet for 1.5 s before its FIN. The driver's deadline timer (a
/// KTIMER + DPC) fires after 300 ms and the engine calls `IoCancelIrp` on the WSK receive; Wine
/// ignores that (no cancel routine), so the receive ends with the peer's FIN — its result
/// returned, never lost — where Windows would end it with STATUS_IO_TIMEOUT at 300 ms. Either
/// way the socket counts the deadline that passed.
pub fn recv_deadline(ctx: &Ctx) -> Outcome {
    let peer = Peer::start_quiet(1, 1000, Duration::from_millis(1500), secs(60))?;
    let j = ctx.cli(
        "recv-deadline",
        &["recv", &peer.addr(), "--timeout", "300", "--json"],
        secs(60),
    )?;
    let conns = peer.finish();
    check(j.get("bytes").num() == 1000, || format!("recv: {j}"))?;
    check(j.get("deadlines_expired").num() == 1, || {
        format!("the deadline did not pass (timer not fired?): {j}")
    })?;
    let end = j.get("end").str();
    let elapsed = j.get("elapsed_ms").num();
    // "timeout" is what Windows does; under Wine the FIN ends it after the quiet 1.5 s.
    check(
        (end == "fin" && elapsed >= 1400) || (end == "timeout" && elapsed < 1400),
        || format!("recv ended {end} after {elapsed} ms: {j}"),
    )?;
    one_fin(&conns, 0)?;
    Ok(format!(
        "deadline passed at 300 ms (counted); the receive ended {end} after {elapsed} ms with 1000 bytes; peer saw FIN"
    ))
}

/// `wsksock connect ADDR < file`: standard input to the socket, then a graceful close at its end;
/// and `--close abortive` (a FIN too under Wine, whose close never resets).
pub fn connect(ctx: &Ctx) -> Outcome {
    let bytes = 300_000usize;
    let input = ctx.wine.drive_dir().join("connect-in.bin");
    // The peers check the pattern byte[i] = i % 251.
    #[allow(clippy::cast_possible_truncation)]
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    std::fs::write(&input, data).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut out = Vec::new();
    for mode in ["graceful", "abortive"] {
        let peer = Peer::start(1, 0, secs(60))?;
        let line = format!(
            r"{WIN_DIR}\wsksock.exe connect {} --close {mode} -v < {WIN_DIR}\connect-in.bin",
            peer.addr()
        );
        let r = ctx
            .wine
            .run(&format!("connect-{mode}"), &["cmd", "/c", &line], secs(60))?;
        let conns = peer.finish();
        check(r.ok(), || {
            format!(
                "connect --close {mode} exited {:?}:\n{}",
                r.code,
                tail(&r.text, 6)
            )
        })?;
        one_fin(&conns, bytes as u64)?;
        check(r.text.contains(&format!("sent {bytes} bytes")), || {
            format!("no summary line: {}", tail(&r.text, 6))
        })?;
        out.push(format!("{mode}: {bytes} bytes intact then FIN"));
    }
    Ok(out.join("; "))
}

/// `wsksock listen 127.0.0.1:PORT --once`: accepts the harness's connection, writes what it
/// sends to standard output, sees its FIN and closes gracefully.
pub fn listen(ctx: &Ctx) -> Outcome {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        l.local_addr().map_err(|e| e.to_string())?.port()
    };
    let addr = format!("127.0.0.1:{port}");
    let exe = format!(r"{WIN_DIR}\wsksock.exe");
    let bg = ctx
        .wine
        .spawn("listen", &[&exe, "listen", &addr, "--once", "-v"])?;
    let started = Instant::now();
    let mut s = loop {
        match std::net::TcpStream::connect(&addr) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < secs(30) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                let r = bg.wait(secs(5));
                return Err(format!(
                    "cannot connect to wsksock listen: {e}\n{}",
                    tail(&r.text, 6)
                ));
            }
        }
    };
    let msg = b"hello from the harness\n";
    let sent = std::io::Write::write_all(&mut s, msg).and_then(|()| s.shutdown(std::net::Shutdown::Write));
    let _ = s.set_read_timeout(Some(secs(30)));
    let mut rest = Vec::new();
    let end = std::io::Read::read_to_end(&mut s, &mut rest);
    let r = bg.wait(secs(30));
    check(sent.is_ok(), || format!("send to wsksock listen: {sent:?}"))?;
    check(r.ok(), || {
        format!("listen exited {:?}:\n{}", r.code, tail(&r.text, 6))
    })?;
    check(end.is_ok() && rest.is_empty(), || {
        format!("the harness saw {end:?}, not FIN")
    })?;
    check(r.text.contains("hello from the harness"), || {
        format!("not on stdout:\n{}", tail(&r.text, 6))
    })?;
    Ok("accepted, piped the harness's line to stdout, closed with FIN".into())
}

/// `wsksock wait-close`: Wine has no WSK event callbacks (its WskControlSocket is a stub), so
/// the driver answers STATUS_NOT_SUPPORTED and the CLI fails in one line; the socket is closed.
pub fn wait_close(ctx: &Ctx) -> Outcome {
    let peer = Peer::start(1, 0, secs(30))?;
    let exe = format!(r"{WIN_DIR}\wsksock.exe");
    let r = ctx.wine.run(
        "wait-close",
        &[&exe, "wait-close", &peer.addr(), "--json"],
        secs(30),
    )?;
    let conns = peer.finish();
    let errors: Vec<&str> = r.text.lines().filter(|l| l.starts_with("wsksock: ")).collect();
    check(
        r.code == Some(1) && errors.len() == 1 && errors[0].contains("STATUS_NOT_SUPPORTED"),
        || format!("wait-close exited {:?}:\n{}", r.code, tail(&r.text, 6)),
    )?;
    one_fin(&conns, 0)?;
    Ok("STATUS_NOT_SUPPORTED (no event callbacks in Wine), one-line error, exit 1; peer saw FIN".into())
}

/// `wsksock stats --json`: the driver's census, every field a number.
pub fn stats(ctx: &Ctx) -> Outcome {
    let j = ctx.cli("stats", &["stats", "--json"], secs(30))?;
    let keys = [
        "handles",
        "open_stream",
        "connected",
        "open_datagram",
        "open_listen",
        "teardowns",
        "sockets_alive",
        "sockets_created",
        "ops_pending",
        "bytes_sent",
        "bytes_received",
        "requests",
        "requests_failed",
        "deadlines_expired",
    ];
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !matches!(j.get(k), Json::Num(_)))
        .collect();
    check(missing.is_empty(), || format!("stats lacks {missing:?}: {j}"))?;
    check(j.get("open_datagram").num() == 0, || {
        format!("Wine has no datagram sockets: {j}")
    })?;
    Ok(format!(
        "{} sockets created, {} requests ({} failed), {} deadlines expired",
        j.get("sockets_created").num(),
        j.get("requests").num(),
        j.get("requests_failed").num(),
        j.get("deadlines_expired").num()
    ))
}
